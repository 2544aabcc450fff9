//! The reporting profile: the current policy made to report instead of deny, for live learning.
//!
//! Under `sandbox-exec` the agent runs with the current policy in which
//!
//! - every top-level `(deny default)` becomes `(allow default (with report) (with message "<tag>"))`:
//!   what the policy would have denied is allowed and reported, everything it allows stays silent
//!   (`../shared/docs/unified-log-format.md` §5.2). The message carries the session's nonce, so its
//!   reports can be told from other processes' (§2.2). The modifiers follow the operation as in the
//!   public profiles that use this tracer (lockin: `(allow default (with report) (with message ...))`);
//! - every other top-level `deny` rule stays in force and gets the same `(with message "<tag>")`
//!   (unless it has a message already), so its denials are attributed too;
//! - a hard floor is appended last: SSH private keys, keychains, cloud and CLI credentials, browser
//!   and password-manager data stay denied while learning. Learning must never hand secrets to the
//!   agent. It names the specific file operations as well as the wildcards, because a specific
//!   operation's rule beats a wildcard's regardless of order.
//!
//! The edit is made on the parsed form: the engine's reader gives each form's exact byte span,
//! and only those spans are rewritten, so comments, layout and everything else stay as written.

use crate::sbpl::reader::{read_all, Sexp, SexpKind};
use crate::sbpl::render::quote;
use crate::sbpl::SourceFile;

/// What the floor protects: home-relative locations need the session's home.
#[derive(Debug, Clone, Default)]
pub struct Floor {
    pub home: Option<String>,
}

/// Home-relative locations that stay denied while learning: (matcher, relative path, why).
const HOME_FLOOR: &[(&str, &str, &str)] = &[
    ("prefix", "/.ssh/id_", "SSH private keys"),
    ("subpath", "/.gnupg", "GnuPG keys"),
    ("subpath", "/Library/Keychains", "login keychain"),
    ("subpath", "/.aws", "AWS credentials"),
    ("subpath", "/.config/gcloud", "Google Cloud credentials"),
    ("subpath", "/.azure", "Azure credentials"),
    ("literal", "/.kube/config", "Kubernetes credentials"),
    ("literal", "/.docker/config.json", "Docker registry credentials"),
    ("literal", "/.config/gh/hosts.yml", "GitHub CLI token"),
    ("literal", "/.netrc", "login tokens"),
    ("literal", "/.git-credentials", "git credentials"),
    ("subpath", "/.password-store", "pass password store"),
    ("subpath", "/Library/Application Support/Google/Chrome", "browser profile"),
    ("subpath", "/Library/Application Support/BraveSoftware", "browser profile"),
    ("subpath", "/Library/Application Support/Microsoft Edge", "browser profile"),
    ("subpath", "/Library/Application Support/Firefox", "browser profile"),
    ("subpath", "/Library/Application Support/Arc", "browser profile"),
    ("subpath", "/Library/Safari", "browser data"),
    ("subpath", "/Library/Cookies", "browser cookies"),
    ("subpath", "/Library/Application Support/1Password", "password manager"),
    ("subpath", "/Library/Group Containers/2BUA8C4S2C.com.1password", "password manager"),
    ("subpath", "/Library/Application Support/Bitwarden", "password manager"),
];

/// System-wide locations that stay denied while learning.
const SYSTEM_FLOOR: &[(&str, &str, &str)] = &[
    ("subpath", "/Library/Keychains", "system keychain"),
    ("literal", "/private/etc/master.passwd", "password hashes"),
];

/// The file operations the floor denies: wildcards and the specific operations under them.
const FLOOR_OPERATIONS: &str =
    "file-read* file-read-data file-read-xattr file-write* file-write-data file-write-create file-write-unlink";

/// Why a reporting profile cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportingError(pub String);

impl std::fmt::Display for ReportingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReportingError {}

/// The reporting variant of `sources` (concatenated in order, one text for `sandbox-exec -f`).
pub fn reporting_profile(sources: &[SourceFile], tag: &str, floor: &Floor) -> Result<String, ReportingError> {
    transform(sources, tag, floor, Mode::Report)
}

/// The enforcing variant for `learn --verify`: `(deny default)` stays a denial but carries the
/// session tag (`(deny default (with message "<tag>"))`), so its denials can be attributed.
pub fn enforcing_profile(sources: &[SourceFile], tag: &str, floor: &Floor) -> Result<String, ReportingError> {
    transform(sources, tag, floor, Mode::Enforce)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Report,
    Enforce,
}

fn transform(sources: &[SourceFile], tag: &str, floor: &Floor, mode: Mode) -> Result<String, ReportingError> {
    let mut out = String::new();
    let mut found_default = false;
    for (index, source) in sources.iter().enumerate() {
        let forms = read_all(index as u32, &source.text).map_err(|e| {
            ReportingError(format!("{}:{}:{}: {}", source.name, e.line, e.col, e.message))
        })?;
        let mut edits: Vec<(usize, usize, String)> = Vec::new();
        for form in &forms {
            let Some(items) = list_items(form) else { continue };
            if items.first().and_then(Sexp::as_symbol) != Some("deny") {
                continue;
            }
            let (operations, modifiers): (Vec<&Sexp>, Vec<&Sexp>) = items[1..].iter().partition(|s| !is_modifier(s));
            let start = form.span.start as usize;
            let end = form.span.end as usize;
            if operations.len() == 1 && operations[0].as_symbol() == Some("default") {
                found_default = true;
                let rule = match mode {
                    Mode::Report => format!("(allow default (with report) (with message {}))", quote(tag)),
                    Mode::Enforce => format!("(deny default (with message {}))", quote(tag)),
                };
                edits.push((start, end, rule));
            } else if !modifiers.iter().any(|m| is_modifier_named(m, "message")) {
                // `(deny op filters...)` → `(deny op filters... (with message "<tag>"))`.
                edits.push((end - 1, end - 1, format!(" (with message {})", quote(tag))));
            }
        }
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!(";; ===== {} =====\n", source.name.replace('\n', " ")));
        let mut text = source.text.clone();
        for (start, end, replacement) in edits.into_iter().rev() {
            text.replace_range(start..end, &replacement);
        }
        out.push_str(&text);
    }
    if !found_default {
        return Err(ReportingError(
            "the current profile has no top-level (deny default): there is nothing to learn from (safehouse learns from what a deny-first profile would deny)"
                .to_string(),
        ));
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&floor_rules(floor, tag));
    Ok(out)
}

/// The usage variant for `tighten --capture`: the policy enforced exactly as written, with every
/// top-level allow rule reporting what it allows (`(with report)`) and naming itself with
/// `(with message "<tag>")`, the tag given by `tag_of(file, line, col)` for the rule at that
/// position (1-based line, column in characters: the engine's `RuleOrigin`). Each allowed access
/// is then logged with the rule that allowed it. Rules that carry a message already keep it (the
/// engine attributes them instead); `(allow default)` and rules `tag_of` does not name are left
/// as they are.
pub fn usage_profile(sources: &[SourceFile], tag_of: &dyn Fn(&str, u32, u32) -> Option<String>) -> Result<String, ReportingError> {
    let mut out = String::new();
    for (index, source) in sources.iter().enumerate() {
        let forms = read_all(index as u32, &source.text).map_err(|e| {
            ReportingError(format!("{}:{}:{}: {}", source.name, e.line, e.col, e.message))
        })?;
        let mut edits: Vec<(usize, String)> = Vec::new();
        for form in &forms {
            let Some(items) = list_items(form) else { continue };
            if items.first().and_then(Sexp::as_symbol) != Some("allow") {
                continue;
            }
            let (operations, modifiers): (Vec<&Sexp>, Vec<&Sexp>) = items[1..].iter().partition(|s| !is_modifier(s));
            if operations.iter().any(|o| o.as_symbol() == Some("default")) {
                continue;
            }
            if modifiers.iter().any(|m| is_modifier_named(m, "message")) {
                continue;
            }
            let start = form.span.start as usize;
            let before = &source.text[..start];
            let line = before.bytes().filter(|&b| b == b'\n').count() as u32 + 1;
            let col = before[before.rfind('\n').map_or(0, |i| i + 1)..].chars().count() as u32 + 1;
            let Some(tag) = tag_of(&source.name, line, col) else { continue };
            let report = if modifiers.iter().any(|m| is_modifier_named(m, "report")) { "" } else { " (with report)" };
            edits.push((form.span.end as usize - 1, format!("{report} (with message {})", quote(&tag))));
        }
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!(";; ===== {} =====\n", source.name.replace('\n', " ")));
        let mut text = source.text.clone();
        for (at, insertion) in edits.into_iter().rev() {
            text.insert_str(at, &insertion);
        }
        out.push_str(&text);
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// The appended hard floor (last, so it wins over every earlier allow of the same operation).
pub fn floor_rules(floor: &Floor, tag: &str) -> String {
    let mut out = String::from(
        "\n;; ===== safehouse learning floor: stays denied while learning =====\n",
    );
    let mut rule = |matcher: &str, path: &str, why: &str| {
        out.push_str(&format!(
            "(deny {FLOOR_OPERATIONS} ({matcher} {}) (with message {})) ; {why}\n",
            quote(path),
            quote(tag)
        ));
    };
    if let Some(home) = floor.home.as_deref().map(|h| h.trim_end_matches('/')).filter(|h| !h.is_empty()) {
        for (matcher, rel, why) in HOME_FLOOR {
            rule(matcher, &format!("{home}{rel}"), why);
        }
    }
    for (matcher, path, why) in SYSTEM_FLOOR {
        rule(matcher, path, why);
    }
    out
}

fn list_items(form: &Sexp) -> Option<&[Sexp]> {
    match &form.kind {
        SexpKind::List(items) => Some(items),
        _ => None,
    }
}

/// `(with ...)` and the bare `(with-...)`-free modifier lists of an action.
fn is_modifier(s: &Sexp) -> bool {
    list_items(s).and_then(|items| items.first()).and_then(Sexp::as_symbol) == Some("with")
}

fn is_modifier_named(s: &Sexp, name: &str) -> bool {
    list_items(s).and_then(|items| items.get(1)).and_then(Sexp::as_symbol) == Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sbpl::{compile, Params, Verdict};
    use crate::Target;

    fn src(name: &str, text: &str) -> SourceFile {
        SourceFile { name: name.to_string(), text: text.to_string() }
    }

    const BASE: &str = "(version 1)\n; keep this comment\n(deny default)\n(allow file-read* (subpath \"/usr\"))\n(deny file-read-data (literal \"/usr/secret\"))\n(allow file-read-data (subpath \"/Users/a\"))\n";

    #[test]
    fn usage_profile_tags_each_allow_rule_and_keeps_the_rest() {
        let text = "(version 1)\n(deny default)\n(allow file-read* (subpath \"/usr\"))\n  (allow mach-lookup (global-name \"x\") (with message \"mine\"))\n(allow default)\n(deny file-read* (literal \"/usr/s\"))\n";
        let tag_of = |file: &str, line: u32, col: u32| -> Option<String> {
            assert_eq!(file, "p.sb");
            Some(format!("rule-{line}-{col}"))
        };
        let out = usage_profile(&[src("p.sb", text)], &tag_of).unwrap();
        assert!(out.contains("(allow file-read* (subpath \"/usr\") (with report) (with message \"rule-3-1\"))"), "{out}");
        assert!(out.contains("(allow mach-lookup (global-name \"x\") (with message \"mine\"))"), "{out}");
        assert!(out.contains("(allow default)\n(deny file-read* (literal \"/usr/s\"))"), "{out}");
        assert!(out.contains("(deny default)"));
        // The result compiles and decides as the original.
        let original = compile(&[src("p.sb", text)], &Params::new()).unwrap();
        let tagged = compile(&[src("u.sb", &out)], &Params::new()).unwrap();
        for path in ["/usr/lib/x", "/usr/s", "/etc/x"] {
            let t = Target::path(path);
            assert_eq!(original.decide("file-read-data", &t).verdict, tagged.decide("file-read-data", &t).verdict, "{path}");
        }
    }

    #[test]
    fn deny_default_reports_and_explicit_denies_stay() {
        let text = reporting_profile(&[src("base.sb", BASE)], "tag-1", &Floor { home: Some("/Users/a".into()) }).unwrap();
        assert!(text.contains("(allow default (with report) (with message \"tag-1\"))"), "{text}");
        assert!(text.contains("; keep this comment"));
        assert!(text.contains("(deny file-read-data (literal \"/usr/secret\") (with message \"tag-1\"))"), "{text}");
        let policy = compile(&[src("reporting.sb", &text)], &Params::default()).unwrap();
        let decide = |op: &str, path: &str| policy.decide(op, &Target::parse(op, path)).verdict;
        // Would-be denials are allowed (and reported); explicit denies still deny.
        assert_eq!(decide("mach-lookup", "com.apple.x"), Verdict::Allow);
        assert_eq!(decide("file-read-data", "/usr/secret"), Verdict::Deny);
        // The floor wins over an earlier, more specific-operation allow of the home.
        assert_eq!(decide("file-read-data", "/Users/a/.ssh/id_ed25519"), Verdict::Deny);
        assert_eq!(decide("file-read-data", "/Users/a/Library/Keychains/login.keychain-db"), Verdict::Deny);
        assert_eq!(decide("file-read-data", "/Users/a/.ssh/config"), Verdict::Allow);
    }

    #[test]
    fn tags_are_escaped_and_a_profile_without_deny_default_is_refused() {
        let text = reporting_profile(&[src("b.sb", "(version 1)\n(deny default)\n")], "a\"b\\c\nd", &Floor::default()).unwrap();
        compile(&[src("r.sb", &text)], &Params::default()).unwrap();
        let err = reporting_profile(&[src("b.sb", "(version 1)\n(allow default)\n")], "t", &Floor::default()).unwrap_err();
        assert!(err.0.contains("no top-level (deny default)"));
        let enforcing = enforcing_profile(&[src("b.sb", "(version 1)\n(deny default)\n")], "t", &Floor::default()).unwrap();
        assert!(enforcing.contains("(deny default (with message \"t\"))"), "{enforcing}");
        let policy = compile(&[src("e.sb", &enforcing)], &Params::default()).unwrap();
        assert_eq!(policy.decide("mach-lookup", &Target::parse("mach-lookup", "x")).verdict, Verdict::Deny);
    }
}
