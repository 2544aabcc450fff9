//! The Sandbox report grammar: one `eventMessage` text into a [`Report`].
//!
//! ```text
//! msg  := [N " duplicate report" ["s"] " for "] "Sandbox: " [sp] body ["\n" tag]
//!       | "System Policy: " body                      (newer platform-policy form)
//!       | "Sandbox: " N " duplicate reports for " comm " " verdict ...     (macOS 10.14 wording)
//!       | "SandboxViolation: " body                   (sandboxd, 10.12 era)
//!       | "sandboxd[" n "] ([" n "]): " body          (sandboxd, ASL era)
//! sp   := "System Policy: "
//! body := comm ["(" pid ")"] [" System Policy:"] " " verdict " " operation [" " argument]
//! verdict := "deny" ["(" n ")"] | "allow" ["(" n ")"]
//! ```
//!
//! The anchor may be preceded by anything (a log-style prefix, `kernel: `, an elision). The
//! process name may hold spaces and parentheses, so the pid is the *last* `(digits)` before the
//! verdict, and the first verdict that follows such a pid wins (an argument may itself contain
//! ` deny(1) `). The argument is free text to the end of the head line. A tag normally follows
//! the report after a newline; a tag *before* the report is accepted too.

use std::sync::LazyLock;

use memchr::memmem::Finder;

use crate::event::Action;

/// Searchers built once: building a memmem searcher costs more than running it on a log line.
pub(crate) struct Needles {
    pub sandbox: Finder<'static>,
    pub system_policy: Finder<'static>,
    pub sandboxd: Finder<'static>,
    pub sandbox_colon: Finder<'static>,
    pub system_policy_colon: Finder<'static>,
    pub violation_colon: Finder<'static>,
    pub sandbox_sender: Finder<'static>,
    pub sandbox_subsystem: Finder<'static>,
}

pub(crate) static NEEDLES: LazyLock<Needles> = LazyLock::new(|| Needles {
    sandbox: Finder::new(b"Sandbox"),
    system_policy: Finder::new(b"System Policy"),
    sandboxd: Finder::new(b"sandboxd"),
    sandbox_colon: Finder::new(b"Sandbox: "),
    system_policy_colon: Finder::new(b"System Policy: "),
    violation_colon: Finder::new(b"SandboxViolation: "),
    sandbox_sender: Finder::new(b"(Sandbox)"),
    sandbox_subsystem: Finder::new(b"com.apple.sandbox.reporting"),
});

/// One Sandbox report, borrowed from the message text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report<'a> {
    /// The offender's short name exactly as printed (may be empty, may hold spaces).
    pub process: &'a str,
    pub pid: Option<u32>,
    pub action: Action,
    /// The `n` of `deny(n)` / `allow(n)`, kept uninterpreted.
    pub code: Option<i64>,
    pub operation: &'a str,
    /// The argument with leading blanks and trailing whitespace removed ("" when absent).
    pub argument: &'a str,
    /// `N` of `N duplicate report(s) for`: identical reports folded into this one.
    pub duplicates: u64,
    /// Denied (or reported) by the platform policy (`System Policy:`).
    pub platform_policy: bool,
    /// The `(with message "...")` text, if any.
    pub tag: Option<&'a str>,
    /// The sandboxd multi-line `SandboxViolation:` form (its detail lines are not a tag).
    pub violation_report: bool,
}

/// How strict [`parse`] is about where a report starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchoring {
    /// A report needs an anchor (`Sandbox: `, `System Policy: `, `SandboxViolation: `, sandboxd).
    Required,
    /// Also accept a bare `comm(pid) deny(1) op ...` or `deny(1) op ...` at the start (published
    /// fragments). Only for input known to be report messages, one per line.
    Optional,
}

/// Cheap pre-filter: could `text` hold a report at all?
pub fn may_contain_report(text: &[u8]) -> bool {
    let n = &*NEEDLES;
    n.sandbox.find(text).is_some() || n.system_policy.find(text).is_some() || n.sandboxd.find(text).is_some()
}

/// Parse a whole message (head line plus optional tag after the first `\n`).
pub fn parse(message: &str, anchoring: Anchoring) -> Option<Report<'_>> {
    let (head, tail) = match memchr::memchr(b'\n', message.as_bytes()) {
        Some(i) => (&message[..i], Some(&message[i + 1..])),
        None => (message, None),
    };
    if let Some(mut report) = parse_head(head, anchoring) {
        report.tag = tail.map(clean_tag).filter(|t| !t.is_empty() && !report.violation_report);
        return Some(report);
    }
    // Tag first, report second (seen only in third-party tests, accepted anyway).
    let tail = tail?;
    let second = match memchr::memchr(b'\n', tail.as_bytes()) {
        Some(i) => &tail[..i],
        None => tail,
    };
    let mut report = parse_head(second, anchoring)?;
    let tag = clean_tag(head);
    report.tag = (!tag.is_empty()).then_some(tag);
    Some(report)
}

fn clean_tag(t: &str) -> &str {
    t.trim_matches(|c: char| c == '\n' || c == '\r' || c == ' ' || c == '\t')
}

/// Parse one line holding (somewhere) a report, without a tag.
pub fn parse_head(s: &str, anchoring: Anchoring) -> Option<Report<'_>> {
    let bytes = s.as_bytes();
    let mut platform = false;
    let mut duplicates = 0;
    let mut violation_report = false;
    let mut unanchored = false;
    let n = &*NEEDLES;
    let body = if let Some(i) = n.sandbox_colon.find(bytes) {
        duplicates = duplicate_prefix(&s[..i]).unwrap_or(0);
        let mut rest = s[i + "Sandbox: ".len()..].trim_start();
        if let Some(r) = rest.strip_prefix("System Policy:") {
            platform = true;
            rest = r.trim_start();
        }
        if let Some((n, r)) = leading_duplicates(rest) {
            duplicates = n;
            rest = r;
        }
        rest
    } else if let Some(i) = n.system_policy_colon.find(bytes) {
        platform = true;
        duplicates = duplicate_prefix(&s[..i]).unwrap_or(0);
        s[i + "System Policy: ".len()..].trim_start()
    } else if let Some(i) = n.violation_colon.find(bytes) {
        violation_report = true;
        s[i + "SandboxViolation: ".len()..].trim_start()
    } else if let Some(i) = sandboxd_one_liner(s) {
        &s[i..]
    } else if anchoring == Anchoring::Optional {
        unanchored = true;
        let rest = s.trim_start();
        match leading_duplicates(rest) {
            Some((n, r)) => {
                duplicates = n;
                r
            }
            None => rest,
        }
    } else {
        return None;
    };
    let body = parse_body(body, unanchored)?;
    Some(Report {
        process: body.process,
        pid: body.pid,
        action: body.action,
        code: body.code,
        operation: body.operation,
        argument: body.argument,
        duplicates,
        platform_policy: platform || body.platform_policy,
        tag: None,
        violation_report,
    })
}

struct Body<'a> {
    process: &'a str,
    pid: Option<u32>,
    platform_policy: bool,
    action: Action,
    code: Option<i64>,
    operation: &'a str,
    argument: &'a str,
}

fn parse_body(body: &str, unanchored: bool) -> Option<Body<'_>> {
    let bytes = body.as_bytes();
    let mut first_without_pid: Option<Body<'_>> = None;
    for v in memchr::memchr2_iter(b'd', b'a', bytes) {
        if v > 0 && !bytes[v - 1].is_ascii_whitespace() {
            continue;
        }
        let Some((action, code, operation, argument)) = verdict_at(&body[v..]) else { continue };
        let mut prefix = body[..v].trim_end();
        let mut platform_policy = false;
        if let Some(p) = prefix.strip_suffix("System Policy:") {
            platform_policy = true;
            prefix = p.trim_end();
        }
        let found = Body { process: prefix, pid: None, platform_policy, action, code, operation, argument };
        if let Some((name, pid)) = split_pid(prefix) {
            return Some(Body { process: name, pid: Some(pid), ..found });
        }
        if first_without_pid.is_none() {
            first_without_pid = Some(found);
        }
    }
    let found = first_without_pid?;
    // Without an anchor only a verdict at the very start is trusted (`deny(1) op ...`).
    if unanchored && !found.process.is_empty() {
        return None;
    }
    Some(found)
}

/// `deny(1) op arg` at the start of `t`: action, code, operation, argument.
fn verdict_at(t: &str) -> Option<(Action, Option<i64>, &str, &str)> {
    let (action, rest) = if let Some(r) = t.strip_prefix("deny") {
        (Action::Deny, r)
    } else if let Some(r) = t.strip_prefix("allow") {
        (Action::Allow, r)
    } else {
        return None;
    };
    let (code, rest) = if let Some(r) = rest.strip_prefix('(') {
        let close = r.find(')')?;
        let n = &r[..close];
        if n.is_empty() || n.len() > 18 || !n.bytes().enumerate().all(|(i, b)| b.is_ascii_digit() || (i == 0 && b == b'-')) {
            return None;
        }
        (n.parse().ok(), &r[close + 1..])
    } else {
        (None, rest)
    };
    let rest = rest.strip_prefix([' ', '\t'])?.trim_start_matches([' ', '\t']);
    let op_len = rest
        .bytes()
        .position(|b| !(b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'*' | b'_')))
        .unwrap_or(rest.len());
    let operation = &rest[..op_len];
    if !operation.as_bytes().first().is_some_and(u8::is_ascii_lowercase) {
        return None;
    }
    let after = &rest[op_len..];
    if !(after.is_empty() || after.starts_with([' ', '\t'])) {
        return None;
    }
    let argument = after.trim_start_matches([' ', '\t']).trim_end();
    Some((action, code, operation, argument))
}

/// `name(1234)` → (`name`, 1234), the pid being the last parenthesised number.
fn split_pid(prefix: &str) -> Option<(&str, u32)> {
    let inner = prefix.strip_suffix(')')?;
    let open = inner.rfind('(')?;
    let digits = &inner[open + 1..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((&inner[..open], digits.parse().ok()?))
}

/// `... N duplicate report(s) for ` at the end of `before`.
fn duplicate_prefix(before: &str) -> Option<u64> {
    let t = before.trim_end().strip_suffix("for")?.trim_end();
    let t = t.strip_suffix("reports").or_else(|| t.strip_suffix("report"))?.trim_end();
    let t = t.strip_suffix("duplicate")?.trim_end();
    let start = t.bytes().rposition(|b| !b.is_ascii_digit()).map_or(0, |i| i + 1);
    t[start..].parse().ok()
}

/// `N duplicate report(s) for rest` at the start of `t`.
fn leading_duplicates(t: &str) -> Option<(u64, &str)> {
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let n = t[..digits].parse().ok()?;
    let rest = t[digits..].trim_start().strip_prefix("duplicate")?.trim_start();
    let rest = rest.strip_prefix("reports").or_else(|| rest.strip_prefix("report"))?.trim_start();
    let rest = rest.strip_prefix("for")?;
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    Some((n, rest.trim_start()))
}

/// ASL-era sandboxd line body: `sandboxd[129] ([31211]): comm(pid) deny op arg`; the offset of `comm`.
fn sandboxd_one_liner(s: &str) -> Option<usize> {
    let at = s.find("sandboxd[")?;
    let close = s[at..].find("]): ")? + at;
    Some(close + "]): ".len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Report<'_> {
        parse(s, Anchoring::Required).unwrap_or_else(|| panic!("no report in {s:?}"))
    }

    #[test]
    fn plain_deny_and_allow() {
        let r = p("Sandbox: cat(15505) deny(1) file-read-data /private/etc/hosts");
        assert_eq!((r.process, r.pid, r.action, r.code), ("cat", Some(15505), Action::Deny, Some(1)));
        assert_eq!((r.operation, r.argument, r.duplicates, r.platform_policy), ("file-read-data", "/private/etc/hosts", 0, false));
        let r = p("Sandbox: obs(94613) allow file-read-data  /private/etc/hosts");
        assert_eq!((r.action, r.code, r.argument), (Action::Allow, None, "/private/etc/hosts"));
        let r = p("Sandbox: foo(9) deny(2) process-fork");
        assert_eq!((r.operation, r.argument, r.code), ("process-fork", "", Some(2)));
    }

    #[test]
    fn names_with_spaces_and_parentheses() {
        let r = p("Sandbox: Google Chrome Helper (Renderer)(812) deny(1) mach-lookup x");
        assert_eq!((r.process, r.pid), ("Google Chrome Helper (Renderer)", Some(812)));
        let r = p("Sandbox: odd (name)(8) allow sysctl-read kern.hostname");
        assert_eq!((r.process, r.pid), ("odd (name)", Some(8)));
        let r = p("Sandbox: sh(5) deny(1) file-write-data /tmp/a) deny(1) b");
        assert_eq!((r.process, r.argument), ("sh", "/tmp/a) deny(1) b"));
        let r = p("Sandbox: dasd(83)          deny(1) network-bind local:*:59999");
        assert_eq!((r.process, r.pid, r.argument), ("dasd", Some(83), "local:*:59999"));
    }

    #[test]
    fn duplicates_both_wordings() {
        assert_eq!(p("1 duplicate report for Sandbox: curl(3473) deny(1) mach-lookup x").duplicates, 1);
        assert_eq!(p("E kernel[0:1] (Sandbox) 16 duplicate reports for Sandbox: c(1) deny(1) a b").duplicates, 16);
        let r = p("Sandbox: 4 duplicate reports for mds deny(1) file-read-metadata /Users/x");
        assert_eq!((r.process, r.pid, r.duplicates), ("mds", None, 4));
    }

    #[test]
    fn platform_policy_both_placements() {
        let r = p("Sandbox: mds(99) System Policy: deny(1) file-read-data /Users/a");
        assert_eq!((r.process, r.platform_policy), ("mds", true));
        let r = p("System Policy: diskutil(15622) allow file-read-data /dev/rdisk0");
        assert_eq!((r.process, r.action, r.platform_policy), ("diskutil", Action::Allow, true));
        let r = p("Sandbox: System Policy: bash(41161) deny(1) file-read-data /Users/x");
        assert_eq!((r.process, r.pid, r.platform_policy), ("bash", Some(41161), true));
        let r = p("kernel[0] <Notice>: Sandbox: htop(51550) System Policy: allow(0) mach-priv-task-port");
        assert_eq!((r.code, r.operation, r.platform_policy), (Some(0), "mach-priv-task-port", true));
    }

    #[test]
    fn tags_after_and_before() {
        let r = p("Sandbox: cat(1) deny(1) file-read-data /etc/hosts\nCMD64_abc_END__k_SBX");
        assert_eq!((r.argument, r.tag), ("/etc/hosts", Some("CMD64_abc_END__k_SBX")));
        let r = p("TAG_SBX\nSandbox: bash(1) deny(1) file-read-data /secret");
        assert_eq!((r.argument, r.tag), ("/secret", Some("TAG_SBX")));
    }

    #[test]
    fn older_producers() {
        let r = p("sandboxd[129] ([31211]): com.apple.Addres(31211) deny network-outbound /private/var/run/mDNSResponder");
        assert_eq!((r.process, r.pid, r.code), ("com.apple.Addres", Some(31211), None));
        let r = p("SandboxViolation: Demo(5545) deny nvram-get BSD Name\nViolation:       deny nvram-get BSD Name");
        assert_eq!((r.process, r.argument, r.tag), ("Demo", "BSD Name", None));
    }

    #[test]
    fn fragments_need_optional_anchoring() {
        assert!(parse("zsh(66592) deny(1) signal initproc signum:15", Anchoring::Required).is_none());
        let r = parse("zsh(66592) deny(1) signal initproc signum:15", Anchoring::Optional).unwrap();
        assert_eq!((r.process, r.pid, r.argument), ("zsh", Some(66592), "initproc signum:15"));
        let r = parse("deny(1) forbidden-exec-sugid", Anchoring::Optional).unwrap();
        assert_eq!((r.process, r.operation), ("", "forbidden-exec-sugid"));
        assert!(parse("we deny access to it", Anchoring::Optional).is_none());
        assert!(parse("Sandbox: nothing here", Anchoring::Required).is_none());
        assert!(parse("Sandbox: x(1) deny(1) File-read /x", Anchoring::Required).is_none());
    }
}
