//! Sensitivity tiers: which locations are never proposed, which need review, and the small text
//! format users extend them with.
//!
//! ```text
//! # comment
//! never            ~/.ssh/id_*          # SSH private key
//! review:write     ~/.cargo/bin/**      # on PATH: a write persists outside the sandbox
//! review           mach:com.apple.SecurityServer
//! ```
//!
//! Each line is `TIER[:CLASS,...]  PATTERN  [# note]`; the pattern language is [`super::glob`].
//! When several lines match, the highest tier wins. A class list limits a line to those operation
//! classes (a read of `~/.cargo/bin/cargo` is normal, a write there is not).

use regex::RegexSet;
use serde::{Deserialize, Serialize};

use super::class::OpClass;
use super::glob::{self, BoundGlob, Space};
use super::SessionContext;

/// How sensitive a location is. Ordered: a wider grant may never reach a higher tier than the
/// evidence it generalises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    Normal,
    /// Shown only with a warning and never marked safe: writes persist outside the sandbox,
    /// or the location is shared by everything on the machine.
    Review,
    /// Credentials, keys, browser and password-manager data, shell history: reported, never proposed.
    Never,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Normal => "normal",
            Tier::Review => "review",
            Tier::Never => "never",
        }
    }
}

/// One line of a tiers file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierRule {
    pub tier: Tier,
    /// Empty = every class.
    pub classes: Vec<OpClass>,
    pub pattern: String,
    pub note: String,
    /// `file:line` of the line.
    pub source: String,
}

/// A bad line in a tiers file: `file:line:col: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{col}: {message}")]
pub struct TierError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// The built-in tiers (see README "Learner" for the rationale of each group).
pub const BUILTIN: &str = include_str!("tiers.txt");

/// A set of tier rules, built in plus user lines.
#[derive(Debug, Clone)]
pub struct Tiers {
    pub rules: Vec<TierRule>,
}

impl Default for Tiers {
    fn default() -> Self {
        Tiers::builtin()
    }
}

impl Tiers {
    /// The built-in tiers.
    pub fn builtin() -> Tiers {
        Tiers { rules: parse("<builtin tiers>", BUILTIN).expect("built-in tiers parse") }
    }

    /// No rules at all (for tests and for users who bring their own complete file).
    pub fn empty() -> Tiers {
        Tiers { rules: Vec::new() }
    }

    /// Add the lines of a user tiers file.
    pub fn extend_from_text(&mut self, file: &str, text: &str) -> Result<(), TierError> {
        self.rules.extend(parse(file, text)?);
        Ok(())
    }

    /// Bind every rule to the session's roots. Rules naming a root the session lacks are dropped
    /// (they cannot match anything there).
    pub fn bind(&self, ctx: &SessionContext) -> BoundTiers {
        let mut rules = Vec::new();
        for rule in &self.rules {
            if let Ok(glob) = glob::bind(&rule.pattern, ctx) {
                rules.push((rule.clone(), glob));
            }
        }
        let mut extra_write = Vec::new();
        for dir in &ctx.path_dirs {
            let rule = TierRule {
                tier: Tier::Review,
                classes: vec![OpClass::Write],
                pattern: format!("{dir}/**"),
                note: "on PATH: a write here runs outside the sandbox later".into(),
                source: "<session PATH>".into(),
            };
            if let Ok(glob) = glob::bind(&rule.pattern, ctx) {
                extra_write.push((rule, glob));
            }
        }
        rules.extend(extra_write);
        let path_set = RegexSet::new(
            rules.iter().map(|(_, g)| if g.space == Space::Path { g.regex_source.as_str() } else { "$^" }),
        )
        .expect("bound globs are valid regexes");
        let name_set = RegexSet::new(
            rules.iter().map(|(_, g)| if g.space == Space::Mach { g.regex_source.as_str() } else { "$^" }),
        )
        .expect("bound globs are valid regexes");
        BoundTiers { rules, path_set, name_set }
    }
}

/// Parse a tiers file.
pub fn parse(file: &str, text: &str) -> Result<Vec<TierRule>, TierError> {
    let mut out = Vec::new();
    for (i, raw_line) in text.lines().enumerate() {
        let line_no = i + 1;
        let indent = raw_line.len() - raw_line.trim_start().len();
        let line = raw_line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |col: usize, message: String| TierError { file: file.to_string(), line: line_no, col, message };
        let (body, note) = match line.find(" #") {
            Some(at) => (line[..at].trim_end(), line[at + 2..].trim()),
            None => (line, ""),
        };
        let head_end = body.find(char::is_whitespace).unwrap_or(body.len());
        let head = &body[..head_end];
        let pattern = body[head_end..].trim();
        let (tier_name, classes_text) = match head.split_once(':') {
            Some((t, c)) => (t, Some(c)),
            None => (head, None),
        };
        let tier = match tier_name {
            "never" => Tier::Never,
            "review" => Tier::Review,
            "normal" => Tier::Normal,
            _ => return Err(err(indent + 1, format!("expected `never`, `review` or `normal`, found `{tier_name}`"))),
        };
        let mut classes = Vec::new();
        if let Some(ct) = classes_text {
            let mut col = indent + tier_name.len() + 2;
            for name in ct.split(',') {
                match OpClass::from_name(name) {
                    Some(c) => classes.push(c),
                    None => {
                        return Err(err(col, format!("expected an operation class (read, write, metadata, exec, ...), found `{name}`")))
                    }
                }
                col += name.len() + 1;
            }
        }
        if pattern.is_empty() {
            return Err(err(indent + head.len() + 1, "expected a pattern after the tier".into()));
        }
        let pattern_col = indent + raw_line.trim_start()[head_end..].find(|c: char| !c.is_whitespace()).map_or(0, |p| p + head_end) + 1;
        if let Err(e) = glob::check_shape(pattern) {
            return Err(err(pattern_col, e.to_string()));
        }
        out.push(TierRule {
            tier,
            classes,
            pattern: pattern.to_string(),
            note: note.to_string(),
            source: format!("{file}:{line_no}"),
        });
    }
    Ok(out)
}

/// Tier rules bound to one session's roots.
#[derive(Debug, Clone)]
pub struct BoundTiers {
    rules: Vec<(TierRule, BoundGlob)>,
    path_set: RegexSet,
    name_set: RegexSet,
}

/// The tier of a location and the rule that set it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierMatch {
    pub tier: Tier,
    pub pattern: String,
    pub note: String,
}

fn applies(rule: &TierRule, class: OpClass) -> bool {
    rule.classes.is_empty() || rule.classes.contains(&class)
}

impl BoundTiers {
    /// The highest tier any rule gives `path` for `class` (`None` = normal).
    pub fn of_path(&self, class: OpClass, path: &str) -> Option<TierMatch> {
        self.best(class, self.path_set.matches(path).iter())
    }

    /// The highest tier any rule gives a Mach name.
    pub fn of_name(&self, class: OpClass, name: &str) -> Option<TierMatch> {
        self.best(class, self.name_set.matches(name).iter())
    }

    fn best(&self, class: OpClass, hits: impl Iterator<Item = usize>) -> Option<TierMatch> {
        let mut best: Option<&TierRule> = None;
        for i in hits {
            let rule = &self.rules[i].0;
            if !applies(rule, class) {
                continue;
            }
            if best.map_or(true, |b| rule.tier > b.tier) {
                best = Some(rule);
            }
        }
        best.filter(|r| r.tier > Tier::Normal).map(|r| TierMatch {
            tier: r.tier,
            pattern: r.pattern.clone(),
            note: r.note.clone(),
        })
    }

    /// The highest tier a grant covering all of `dir` could reach, judged from the patterns
    /// (fixed prefixes at or below `dir`, or patterns matching `dir` itself).
    pub fn within(&self, class: OpClass, dir: &str) -> Option<TierMatch> {
        // One pass of the set for "the pattern matches `dir` itself"; fixed prefixes are cheap.
        let hits = self.path_set.matches(dir);
        let mut best: Option<&TierRule> = None;
        for (i, (rule, glob)) in self.rules.iter().enumerate() {
            if rule.tier == Tier::Normal || !applies(rule, class) || glob.space != Space::Path {
                continue;
            }
            let reaches = hits.matched(i) || glob.fixed.as_deref().is_some_and(|f| glob::is_within(f, dir));
            if reaches && best.map_or(true, |b| rule.tier > b.tier) {
                best = Some(rule);
            }
        }
        best.map(|r| TierMatch { tier: r.tier, pattern: r.pattern.clone(), note: r.note.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> SessionContext {
        SessionContext {
            home: Some("/Users/a".into()),
            workdir: Some("/Users/a/src/p".into()),
            path_dirs: vec!["/Users/a/.local/bin".into()],
            ..SessionContext::default()
        }
    }

    #[test]
    fn builtin_tiers() {
        let t = Tiers::builtin().bind(&ctx());
        let tier = |class, p: &str| t.of_path(class, p).map(|m| m.tier).unwrap_or(Tier::Normal);
        assert_eq!(tier(OpClass::Read, "/Users/a/.ssh/id_ed25519"), Tier::Never);
        assert_eq!(tier(OpClass::Read, "/Users/a/.ssh/known_hosts"), Tier::Review);
        assert_eq!(tier(OpClass::Read, "/Users/a/.aws/credentials"), Tier::Never);
        assert_eq!(tier(OpClass::Read, "/Users/a/.config/gh/hosts.yml"), Tier::Never);
        assert_eq!(tier(OpClass::Read, "/Users/a/.zsh_history"), Tier::Never);
        assert_eq!(tier(OpClass::Read, "/Users/a/Library/Keychains/login.keychain-db"), Tier::Never);
        assert_eq!(tier(OpClass::Read, "/Users/a/src/p/.env"), Tier::Never);
        assert_eq!(tier(OpClass::Write, "/Users/a/.zshrc"), Tier::Review);
        assert_eq!(tier(OpClass::Write, "/Users/a/src/p/.git/hooks/pre-commit"), Tier::Review);
        assert_eq!(tier(OpClass::Read, "/private/etc/hosts"), Tier::Review);
        assert_eq!(tier(OpClass::Write, "/Users/a/.cargo/bin/cargo"), Tier::Review);
        assert_eq!(tier(OpClass::Read, "/Users/a/.cargo/bin/cargo"), Tier::Normal);
        assert_eq!(tier(OpClass::Write, "/Users/a/.local/bin/tool"), Tier::Review);
        assert_eq!(tier(OpClass::Read, "/Users/a/.npm/_cacache/x"), Tier::Normal);
        assert_eq!(t.of_name(OpClass::Mach, "com.apple.SecurityServer").map(|m| m.tier), Some(Tier::Review));
    }

    #[test]
    fn within_finds_sensitive_descendants() {
        let t = Tiers::builtin().bind(&ctx());
        assert_eq!(t.within(OpClass::Read, "/Users/a").map(|m| m.tier), Some(Tier::Never));
        assert_eq!(t.within(OpClass::Read, "/Users/a/.cargo").map(|m| m.tier), Some(Tier::Never));
        assert_eq!(t.within(OpClass::Read, "/Users/a/.cargo/registry"), None);
        assert_eq!(t.within(OpClass::Write, "/Users/a/src/p").map(|m| m.tier), Some(Tier::Review));
        assert_eq!(t.within(OpClass::Read, "/Users/a/.npm"), None);
    }

    #[test]
    fn user_lines_extend_and_errors_have_positions() {
        let mut tiers = Tiers::empty();
        tiers.extend_from_text("mine.tiers", "# mine\nnever ~/work/secret/** # client data\n").unwrap();
        let b = tiers.bind(&ctx());
        let m = b.of_path(OpClass::Read, "/Users/a/work/secret/a.txt").unwrap();
        assert_eq!(m.tier, Tier::Never);
        assert_eq!(m.note, "client data");
        let e = parse("t", "\nforbid ~/x\n").unwrap_err();
        assert_eq!(e.to_string(), "t:2:1: expected `never`, `review` or `normal`, found `forbid`");
        let e = parse("t", "review:wrte ~/x\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert_eq!(e.col, 8);
        let e = parse("t", "never  relative/path\n").unwrap_err();
        assert_eq!(e.col, 8);
        assert!(parse("t", "never\n").is_err());
    }
}
