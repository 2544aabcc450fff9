//! Per-rule usage across sessions: the small versioned ledger `tighten` keeps in the state dir.
//!
//! A rule is identified by a [`RuleKey`]: its file's base name, its whitespace-normalised text
//! and which occurrence of that text in the file it is, so the key survives rules being moved
//! or lines inserted above. [`SessionUsage`] counts hits while one session is read (attributed
//! by the engine, or by the rule's `(with message ...)` tag); [`Ledger::record`] merges it in,
//! once per session id, so replaying a session twice does not count it twice. Ledgers merge
//! with [`Ledger::merge`] (union of sessions).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::{FastMap, RuleRef};
use crate::event::{Action, Event};
use crate::sbpl::{Policy, Verdict};

/// Version of the ledger JSON (`safehouse_usage` field).
pub const USAGE_VERSION: u32 = 1;
/// Distinct targets kept per rule and operation; beyond this the rule is marked `truncated` and
/// is never proposed for narrowing (the evidence would be incomplete).
pub const MAX_TARGETS_PER_RULE: usize = 4096;
/// The prefix of the `(with message ...)` tag a usage capture gives each allow rule.
pub const TAG_PREFIX: &str = "safehouse-rule:";

/// A rule's stable identity: 16 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RuleKey(pub String);

impl RuleKey {
    /// The key of the `occurrence`-th (0-based) rule with this text in file `file`.
    pub fn new(file: &str, text: &str, occurrence: usize) -> RuleKey {
        let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
        let mut hash = Fnv::new();
        hash.write(base.as_bytes());
        hash.write(&[0]);
        for (i, word) in text.split_whitespace().enumerate() {
            if i > 0 {
                hash.write(b" ");
            }
            hash.write(word.as_bytes());
        }
        hash.write(&[0]);
        hash.write(occurrence.to_string().as_bytes());
        RuleKey(format!("{:016x}", hash.0))
    }

    /// Keys for a list of rules in source order (occurrences counted per file and text).
    pub fn for_rules<'a>(rules: impl IntoIterator<Item = &'a RuleRef>) -> Vec<RuleKey> {
        let mut seen: HashMap<(String, String), usize> = HashMap::new();
        rules
            .into_iter()
            .map(|r| {
                let norm = r.text.split_whitespace().collect::<Vec<_>>().join(" ");
                let n = seen.entry((r.file.clone(), norm)).or_insert(0);
                let key = RuleKey::new(&r.file, &r.text, *n);
                *n += 1;
                key
            })
            .collect()
    }

    /// The `(with message ...)` text of a usage capture for this rule.
    pub fn tag(&self) -> String {
        format!("{TAG_PREFIX}{}", self.0)
    }

    /// The key a report's tag names, if it is a usage-capture tag.
    pub fn from_tag(tag: &str) -> Option<RuleKey> {
        let hex = tag.trim().strip_prefix(TAG_PREFIX)?;
        (hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| RuleKey(hex.to_ascii_lowercase()))
    }
}

/// FNV-1a, 64 bit: stable across Rust versions and platforms (unlike `DefaultHasher`).
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// What one session did with each rule, counted while its events stream by.
#[derive(Debug, Clone, Default)]
pub struct SessionUsage {
    hits: FastMap<RuleKey, RuleHits>,
    /// Allowed accesses that no rule of the policy explains (decided by a default).
    pub unattributed: u64,
}

#[derive(Debug, Clone, Default)]
struct RuleHits {
    hits: u64,
    targets: BTreeMap<String, BTreeMap<String, u64>>,
    truncated: bool,
}

impl SessionUsage {
    /// Count `count` reports of `operation` on `target` (raw text) decided by the rule `key`.
    pub fn hit(&mut self, key: &RuleKey, operation: &str, target: &str, count: u64) {
        let entry = match self.hits.get_mut(key) {
            Some(e) => e,
            None => self.hits.entry(key.clone()).or_default(),
        };
        entry.hits += count;
        let targets = match entry.targets.get_mut(operation) {
            Some(t) => t,
            None => entry.targets.entry(operation.to_string()).or_default(),
        };
        if let Some(n) = targets.get_mut(target) {
            *n += count;
        } else if targets.len() < MAX_TARGETS_PER_RULE {
            targets.insert(target.to_string(), count);
        } else {
            entry.truncated = true;
        }
    }

    /// Hits recorded for a rule in this session.
    pub fn hits(&self, key: &RuleKey) -> u64 {
        self.hits.get(key).map_or(0, |h| h.hits)
    }
}

/// Ties each event to the rule of the policy that decided it: the rule named by the event's
/// usage-capture tag when there is one, else the engine's attribution (a definite decision only).
/// Decisions are cached per (operation, target), so a session costs one engine decision per
/// distinct access.
pub struct Attributor<'a> {
    policy: &'a Policy,
    keys: &'a [RuleKey],
    by_key: HashMap<&'a RuleKey, usize>,
    cache: FastMap<String, FastMap<String, Option<usize>>>,
}

impl<'a> Attributor<'a> {
    /// `keys[i]` is the key of `policy.rules()[i]`.
    pub fn new(policy: &'a Policy, keys: &'a [RuleKey]) -> Attributor<'a> {
        let by_key = keys.iter().enumerate().map(|(i, k)| (k, i)).collect();
        Attributor { policy, keys, by_key, cache: FastMap::default() }
    }

    /// The index of the rule that decided `event`, if one did.
    pub fn rule_of(&mut self, event: &Event) -> Option<usize> {
        if let Some(i) = event.tag.as_deref().and_then(RuleKey::from_tag).and_then(|k| self.by_key.get(&k).copied()) {
            return Some(i);
        }
        let per_op = match self.cache.get_mut(event.operation.as_str()) {
            Some(m) => m,
            None => self.cache.entry(event.operation.clone()).or_default(),
        };
        if let Some(r) = per_op.get(event.target.raw.as_str()) {
            return *r;
        }
        let d = self.policy.decide(&event.operation, &event.target);
        let r = if d.verdict == Verdict::Indeterminate { None } else { d.rule };
        per_op.insert(event.target.raw.clone(), r);
        r
    }

    /// Attribute `event` and count it in `usage`. Returns whether a rule decided it.
    pub fn count(&mut self, event: &Event, usage: &mut SessionUsage) -> bool {
        match self.rule_of(event) {
            Some(i) => {
                usage.hit(&self.keys[i], &event.operation, &event.target.raw, event.count.max(1));
                true
            }
            None => {
                if event.action == Action::Allow {
                    usage.unattributed += 1;
                }
                false
            }
        }
    }
}

/// One session the ledger has counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Identity (content-derived by the caller, e.g. a hash of the archive): counted once.
    pub id: String,
    /// A human name (the file it was read from).
    pub name: String,
    /// Events attributed to a rule of the policy.
    pub attributed: u64,
    /// Allowed events no rule explains.
    pub unattributed: u64,
}

/// Usage of one rule across the ledger's sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleUsage {
    pub rule: RuleRef,
    pub action: Action,
    /// Sessions counted while this rule was part of the policy.
    pub sessions: u64,
    /// Of those, sessions in which it decided at least one access.
    pub used_in: u64,
    /// Reports it decided.
    pub hits: u64,
    /// Operation → target (raw) → reports.
    pub targets: BTreeMap<String, BTreeMap<String, u64>>,
    /// Some targets were not kept (more than [`MAX_TARGETS_PER_RULE`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// The versioned ledger file. Field names are a public interface (README "tighten").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub safehouse_usage: u32,
    pub sessions: Vec<SessionRecord>,
    pub rules: BTreeMap<RuleKey, RuleUsage>,
}

impl Default for Ledger {
    fn default() -> Ledger {
        Ledger { safehouse_usage: USAGE_VERSION, sessions: Vec::new(), rules: BTreeMap::new() }
    }
}

/// A ledger that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("{line}:{column}: {message}")]
    Syntax { line: usize, column: usize, message: String },
    #[error("unsupported usage ledger version {0} (this safehouse reads version {USAGE_VERSION})")]
    Version(u32),
}

impl Ledger {
    /// Read a ledger from JSON text.
    pub fn from_json(text: &str) -> Result<Ledger, LedgerError> {
        let ledger: Ledger = serde_json::from_str(text).map_err(|e| LedgerError::Syntax {
            line: e.line(),
            column: e.column(),
            message: e.to_string().split(" at line ").next().unwrap_or_default().to_string(),
        })?;
        if ledger.safehouse_usage != USAGE_VERSION {
            return Err(LedgerError::Version(ledger.safehouse_usage));
        }
        Ok(ledger)
    }

    /// Pretty JSON, deterministic (maps are ordered), ending in a newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a ledger always serialises");
        s.push('\n');
        s
    }

    /// Has this session been counted already?
    pub fn has_session(&self, id: &str) -> bool {
        self.sessions.iter().any(|s| s.id == id)
    }

    /// Count a session run under a policy whose rules are `rules` (with their keys and actions).
    /// Returns `false` (and changes nothing) when the session was counted before.
    pub fn record(&mut self, session: SessionRecord, rules: &[(RuleKey, RuleRef, Action)], usage: &SessionUsage) -> bool {
        if self.has_session(&session.id) {
            return false;
        }
        let mut seen_in_session: BTreeSet<&RuleKey> = BTreeSet::new();
        for (key, rule, action) in rules {
            // A rule text repeated under one key (generated by a loop) counts once per session.
            if !seen_in_session.insert(key) {
                continue;
            }
            let entry = self.rules.entry(key.clone()).or_insert_with(|| RuleUsage {
                rule: rule.clone(),
                action: *action,
                sessions: 0,
                used_in: 0,
                hits: 0,
                targets: BTreeMap::new(),
                truncated: false,
            });
            // Keep the newest location of the rule.
            entry.rule = rule.clone();
            entry.sessions += 1;
            if let Some(h) = usage.hits.get(key) {
                if h.hits > 0 {
                    entry.used_in += 1;
                }
                entry.hits += h.hits;
                entry.truncated |= h.truncated;
                merge_targets(&mut entry.targets, &h.targets, &mut entry.truncated);
            }
        }
        self.sessions.push(session);
        true
    }

    /// Add another ledger's figures. Ledgers merge when their sessions are disjoint (returns
    /// `Ok(true)`) or when the other's are all counted here already (`Ok(false)`, nothing to do).
    /// Partly overlapping ledgers cannot be split by session and are refused.
    pub fn merge(&mut self, other: &Ledger) -> Result<bool, String> {
        let counted = other.sessions.iter().filter(|s| self.has_session(&s.id)).count();
        if counted == other.sessions.len() {
            return Ok(false);
        }
        if counted > 0 {
            return Err(format!(
                "the ledgers share {counted} of {} sessions: per-rule figures cannot be split by session",
                other.sessions.len()
            ));
        }
        self.sessions.extend(other.sessions.iter().cloned());
        for (key, u) in &other.rules {
            match self.rules.get_mut(key) {
                Some(mine) => {
                    mine.sessions += u.sessions;
                    mine.used_in += u.used_in;
                    mine.hits += u.hits;
                    mine.truncated |= u.truncated;
                    merge_targets(&mut mine.targets, &u.targets, &mut mine.truncated);
                }
                None => {
                    self.rules.insert(key.clone(), u.clone());
                }
            }
        }
        Ok(true)
    }
}

fn merge_targets(
    into: &mut BTreeMap<String, BTreeMap<String, u64>>,
    from: &BTreeMap<String, BTreeMap<String, u64>>,
    truncated: &mut bool,
) {
    for (op, targets) in from {
        let mine = into.entry(op.clone()).or_default();
        for (t, n) in targets {
            if let Some(m) = mine.get_mut(t) {
                *m += n;
            } else if mine.len() < MAX_TARGETS_PER_RULE {
                mine.insert(t.clone(), *n);
            } else {
                *truncated = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(file: &str, line: u32, text: &str) -> RuleRef {
        RuleRef { file: file.into(), line, text: text.into(), layer: None }
    }

    #[test]
    fn keys_are_stable_and_tags_round_trip() {
        let a = RuleKey::new("/home/u/overlay.sb", "(allow file-read*\n   (subpath \"/a\"))", 0);
        let b = RuleKey::new("overlay.sb", "(allow file-read* (subpath \"/a\"))", 0);
        assert_eq!(a, b);
        assert_ne!(a, RuleKey::new("overlay.sb", "(allow file-read* (subpath \"/a\"))", 1));
        assert_eq!(RuleKey::from_tag(&a.tag()), Some(a.clone()));
        assert_eq!(RuleKey::from_tag("other"), None);
        let keys = RuleKey::for_rules(&[rule("o.sb", 1, "(allow x)"), rule("o.sb", 2, "(allow  x)"), rule("p.sb", 1, "(allow x)")]);
        assert_eq!(keys[0], RuleKey::new("o.sb", "(allow x)", 0));
        assert_eq!(keys[1], RuleKey::new("o.sb", "(allow x)", 1));
        assert_eq!(keys[2], RuleKey::new("p.sb", "(allow x)", 0));
    }

    #[test]
    fn record_counts_each_session_once_and_merges() {
        let r1 = rule("o.sb", 3, "(allow file-read* (subpath \"/a\"))");
        let r2 = rule("o.sb", 4, "(allow file-read* (literal \"/b\"))");
        let keys = RuleKey::for_rules([&r1, &r2]);
        let rules = vec![(keys[0].clone(), r1, Action::Allow), (keys[1].clone(), r2, Action::Allow)];
        let mut usage = SessionUsage::default();
        usage.hit(&keys[0], "file-read-data", "/a/x", 2);
        usage.hit(&keys[0], "file-read-data", "/a/x", 1);
        let session = |id: &str| SessionRecord { id: id.into(), name: id.into(), attributed: 3, unattributed: 0 };
        let mut ledger = Ledger::default();
        assert!(ledger.record(session("s1"), &rules, &usage));
        assert!(!ledger.record(session("s1"), &rules, &usage));
        let mut other = Ledger::default();
        other.record(session("s2"), &rules, &SessionUsage::default());
        assert_eq!(ledger.merge(&other), Ok(true));
        assert_eq!(ledger.merge(&other), Ok(false));
        let a = &ledger.rules[&keys[0]];
        assert_eq!((a.sessions, a.used_in, a.hits), (2, 1, 3));
        assert_eq!(a.targets["file-read-data"]["/a/x"], 3);
        let b = &ledger.rules[&keys[1]];
        assert_eq!((b.sessions, b.used_in, b.hits), (2, 0, 0));
        let back = Ledger::from_json(&ledger.to_json()).unwrap();
        assert_eq!(back, ledger);
        assert!(matches!(Ledger::from_json("{\"safehouse_usage\": 9, \"sessions\": [], \"rules\": {}}"), Err(LedgerError::Version(9))));
        assert!(matches!(Ledger::from_json("{\n  \"safehouse_usage\": 1,\n  oops"), Err(LedgerError::Syntax { line: 3, .. })));
    }
}
