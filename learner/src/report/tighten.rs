//! `tighten` findings: rules that can go or shrink, each with its evidence.
//!
//! Two kinds of analysis meet here:
//!
//! - **Static** ([`static_findings`]), from the policy alone, using SBPL precedence (reference
//!   §6-§7): within one operation's list the last matching filtered rule wins, so a rule whose
//!   filter is covered by a *later* rule on the same operation can never decide: **shadowed** when
//!   a covering later rule has the other action (its intent is overridden), **redundant** when it
//!   has the same action. A rule covered by an *earlier* rule of the same action, with no rule of
//!   the other action on that operation in between, is **redundant** too: removing it changes no
//!   decision. Only same-operation lists are compared (a rule on `file-read-data` beats any rule on
//!   `file-read*`), and coverage must be proved ([`Covers`]), so every finding is sound.
//! - **Usage**, from the [`Ledger`] of attributed hits across sessions: allow rules never used in
//!   at least `min_sessions` sessions (**unused**), broad rules of which only a small part was used
//!   (**narrowable**, the replacement computed by the caller with the learner's generalisation), and
//!   optional modules of a generated Safehouse policy (`;; Source: 55-integrations-optional/...`)
//!   none of whose rules was ever used (**unused-module**: drop its `--enable=`).
//!
//! Rules in files the user does not own are analysed but only reported in summary (`not_owned`);
//! proposals edit owned files only.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::usage::{Ledger, RuleKey};
use super::RuleRef;
use crate::event::Action;

/// Version of the tighten JSON (`safehouse_tighten` field).
pub const TIGHTEN_VERSION: u32 = 1;
/// The module directory of Safehouse's opt-in integrations.
pub const OPTIONAL_MODULES: &str = "55-integrations-optional/";
/// Example targets a finding lists.
const SAMPLES: usize = 5;

/// Provable containment between filters: `inner.covered_by(outer)` is true only when every
/// request `inner` matches is also matched by `outer`.
pub trait Covers {
    fn covered_by(&self, outer: &Self) -> bool;
}

/// What the static analysis needs to know about one rule of the policy (in source order).
#[derive(Debug, Clone)]
pub struct RuleView<'a, F> {
    pub action: Action,
    /// Operations after alias resolution.
    pub operations: &'a [String],
    /// `None` for an unfiltered rule.
    pub filter: Option<&'a F>,
    pub rule: RuleRef,
    pub key: RuleKey,
    /// The rule is in a file the user owns (an overlay, their own profile).
    pub owned: bool,
}

/// Kinds of finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// A later rule with the other action covers it: it never decides, and its intent is overridden.
    Shadowed,
    /// Other rules with the same action cover it: removing it changes no decision.
    Redundant,
    /// An allow rule that decided nothing in `min_sessions` or more sessions.
    Unused,
    /// A broad allow rule of which only a small part was used.
    Narrowable,
    /// An optional Safehouse module none of whose rules was used.
    UnusedModule,
}

/// What a finding proposes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Change {
    /// Delete the rule.
    Remove,
    /// Replace the rule by these rules (SBPL text, every string escaped).
    Replace { rules: Vec<String> },
    /// Stop passing `--enable=<module>` to Safehouse.
    DropModule { module: String, flag: String },
}

/// Usage evidence behind a finding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Sessions counted while the rule (or module) was in the policy.
    pub sessions: u64,
    /// Sessions in which it decided something.
    pub used_in: u64,
    /// Reports it decided.
    pub hits: u64,
    pub distinct_targets: u64,
    /// Up to five used targets (`operation target`), most reports first.
    pub samples: Vec<String>,
}

/// One finding. Field names are a public interface (README "tighten").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// The rule concerned (`None` for a module).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleRef>,
    /// The rule that covers it (shadowed / redundant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<RuleRef>,
    /// The module (`55-integrations-optional/docker.sb`) for `unused-module`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// The rule is in a file the user owns, so the change can be applied.
    pub editable: bool,
    pub change: Change,
    pub evidence: Evidence,
    pub reason: String,
}

/// The result of a static analysis for one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticFinding {
    pub index: usize,
    pub kind: FindingKind,
    /// Index of the covering rule.
    pub by: usize,
}

enum OpVerdict {
    /// Never decides on this operation; covered by the rule at this index, with the other action or not.
    Dead { by: usize, overridden: bool },
    /// Decides, but always as an earlier rule (or the fallback) would.
    Repeats { by: usize },
    Live,
}

/// Shadowed and redundant rules of a policy, in source order.
pub fn static_findings<F: Covers>(rules: &[RuleView<'_, F>]) -> Vec<StaticFinding> {
    // Each operation's rules, in source order.
    let mut lists: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, r) in rules.iter().enumerate() {
        for op in r.operations {
            lists.entry(op.as_str()).or_default().push(i);
        }
    }
    let mut out = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        if r.operations.is_empty() {
            continue;
        }
        let verdicts: Vec<OpVerdict> = r
            .operations
            .iter()
            .map(|op| op_verdict(rules, &lists[op.as_str()], i))
            .collect();
        if verdicts.iter().all(|v| matches!(v, OpVerdict::Dead { .. })) {
            let overridden = verdicts.iter().find_map(|v| match v {
                OpVerdict::Dead { by, overridden: true } => Some(*by),
                _ => None,
            });
            let (kind, by) = match overridden {
                Some(by) => (FindingKind::Shadowed, by),
                None => match verdicts[0] {
                    OpVerdict::Dead { by, .. } => (FindingKind::Redundant, by),
                    _ => unreachable!("all verdicts are Dead"),
                },
            };
            out.push(StaticFinding { index: i, kind, by });
        } else if verdicts.iter().all(|v| !matches!(v, OpVerdict::Live)) {
            let by = verdicts
                .iter()
                .find_map(|v| match v {
                    OpVerdict::Repeats { by } => Some(*by),
                    _ => None,
                })
                .expect("not all Dead, none Live: one Repeats");
            out.push(StaticFinding { index: i, kind: FindingKind::Redundant, by });
        }
    }
    out
}

fn op_verdict<F: Covers>(rules: &[RuleView<'_, F>], list: &[usize], i: usize) -> OpVerdict {
    let r = &rules[i];
    let pos = list.iter().position(|&j| j == i).expect("the rule is in its operation's list");
    let Some(filter) = r.filter else {
        // Unfiltered rules set the fallback; the last one written wins.
        return match list[pos + 1..].iter().rev().find(|&&j| rules[j].filter.is_none()) {
            Some(&j) => OpVerdict::Dead { by: j, overridden: rules[j].action != r.action },
            None => OpVerdict::Live,
        };
    };
    // A later filtered rule that covers it is scanned first and always matches first.
    let mut dead_same = None;
    for &j in &list[pos + 1..] {
        let Some(later) = rules[j].filter else { continue };
        if filter.covered_by(later) {
            if rules[j].action != r.action {
                return OpVerdict::Dead { by: j, overridden: true };
            }
            dead_same.get_or_insert(j);
        }
    }
    if let Some(by) = dead_same {
        return OpVerdict::Dead { by, overridden: false };
    }
    // Without it, the scan continues to earlier rules: if the first one that can match is a
    // covering rule of the same action, the decision is unchanged.
    for &j in list[..pos].iter().rev() {
        let earlier = &rules[j];
        match earlier.filter {
            Some(f) if earlier.action == r.action && filter.covered_by(f) => return OpVerdict::Repeats { by: j },
            Some(_) if earlier.action != r.action => return OpVerdict::Live,
            _ => {}
        }
    }
    // Nothing earlier can decide differently: the fallback decides. If it is an unfiltered rule of
    // the same action on this operation, the rule repeats it.
    match list.iter().rev().find(|&&j| rules[j].filter.is_none()) {
        Some(&j) if rules[j].action == r.action => OpVerdict::Repeats { by: j },
        _ => OpVerdict::Live,
    }
}

/// Everything the findings are computed from.
pub struct Inputs<'a, F> {
    pub rules: &'a [RuleView<'a, F>],
    pub ledger: &'a Ledger,
    /// A rule (or module) is unused after this many sessions without a hit.
    pub min_sessions: u64,
}

/// The tighten report. Field names are a public interface (README "tighten").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TightenReport {
    pub safehouse_tighten: u32,
    /// Sessions in the ledger.
    pub sessions: u64,
    pub min_sessions: u64,
    /// Findings in owned files (and unused modules), in source order.
    pub findings: Vec<Finding>,
    /// Findings in files the user does not own, by kind (reported, never edited).
    pub not_owned: BTreeMap<FindingKind, u64>,
}

/// Usage evidence of a rule from the ledger.
pub fn evidence(ledger: &Ledger, key: &RuleKey) -> Evidence {
    let Some(u) = ledger.rules.get(key) else { return Evidence::default() };
    let mut all: Vec<(u64, String)> = u
        .targets
        .iter()
        .flat_map(|(op, ts)| ts.iter().map(move |(t, n)| (*n, format!("{op} {t}"))))
        .collect();
    let distinct = all.len() as u64;
    all.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    Evidence {
        sessions: u.sessions,
        used_in: u.used_in,
        hits: u.hits,
        distinct_targets: distinct,
        samples: all.into_iter().take(SAMPLES).map(|(_, s)| s).collect(),
    }
}

/// Static and usage findings, except narrowing (which needs the learner: see [`narrowable`]).
///
/// Each rule gets at most one finding: shadowed or redundant first (the policy says so whatever
/// the sessions did), then unused.
pub fn findings<F: Covers>(inputs: &Inputs<'_, F>) -> TightenReport {
    let rules = inputs.rules;
    let mut findings = Vec::new();
    let mut not_owned: BTreeMap<FindingKind, u64> = BTreeMap::new();
    let mut flagged = vec![false; rules.len()];
    for s in static_findings(rules) {
        flagged[s.index] = true;
        let r = &rules[s.index];
        if !r.owned {
            *not_owned.entry(s.kind).or_default() += 1;
            continue;
        }
        let by = &rules[s.by];
        let reason = match s.kind {
            FindingKind::Shadowed => format!(
                "never decides: the later {} rule at {}:{} matches everything it matches (last match wins)",
                by.action, by.rule.file, by.rule.line
            ),
            _ if s.by > s.index => format!(
                "never decides: the later {} rule at {}:{} matches everything it matches",
                by.action, by.rule.file, by.rule.line
            ),
            _ => format!(
                "removing it changes no decision: the {} rule at {}:{} already covers it",
                by.action, by.rule.file, by.rule.line
            ),
        };
        findings.push((
            s.index,
            Finding {
                kind: s.kind,
                rule: Some(r.rule.clone()),
                by: Some(by.rule.clone()),
                module: None,
                editable: true,
                change: Change::Remove,
                evidence: evidence(inputs.ledger, &r.key),
                reason,
            },
        ));
    }

    for (i, r) in rules.iter().enumerate() {
        if flagged[i] || r.action != Action::Allow {
            continue;
        }
        let ev = evidence(inputs.ledger, &r.key);
        if ev.sessions >= inputs.min_sessions.max(1) && ev.used_in == 0 {
            if !r.owned {
                *not_owned.entry(FindingKind::Unused).or_default() += 1;
                continue;
            }
            let reason = format!("decided nothing in {} sessions", ev.sessions);
            findings.push((
                i,
                Finding {
                    kind: FindingKind::Unused,
                    rule: Some(r.rule.clone()),
                    by: None,
                    module: None,
                    editable: true,
                    change: Change::Remove,
                    evidence: ev,
                    reason,
                },
            ));
        }
    }

    // Optional modules: every allow rule of the layer unused.
    let mut modules: BTreeMap<&str, (usize, Evidence, bool)> = BTreeMap::new();
    for (i, r) in rules.iter().enumerate() {
        let Some(layer) = r.rule.layer.as_deref() else { continue };
        if !layer.starts_with(OPTIONAL_MODULES) || r.action != Action::Allow {
            continue;
        }
        let ev = evidence(inputs.ledger, &r.key);
        let entry = modules.entry(layer).or_insert((i, Evidence::default(), true));
        entry.1.sessions = entry.1.sessions.max(ev.sessions);
        entry.1.hits += ev.hits;
        entry.2 &= ev.used_in == 0;
    }
    for (layer, (first, ev, unused)) in modules {
        if !unused || ev.sessions < inputs.min_sessions.max(1) {
            continue;
        }
        let name = layer.trim_start_matches(OPTIONAL_MODULES).trim_end_matches(".sb").to_string();
        findings.push((
            first,
            Finding {
                kind: FindingKind::UnusedModule,
                rule: None,
                by: None,
                module: Some(layer.to_string()),
                editable: false,
                change: Change::DropModule { flag: format!("--enable={name}"), module: name },
                reason: format!("none of the module's rules decided anything in {} sessions", ev.sessions),
                evidence: ev,
            },
        ));
    }
    findings.sort_by_key(|(i, f)| (*i, f.kind));
    TightenReport {
        safehouse_tighten: TIGHTEN_VERSION,
        sessions: inputs.ledger.sessions.len() as u64,
        min_sessions: inputs.min_sessions,
        findings: findings.into_iter().map(|(_, f)| f).collect(),
        not_owned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy filter for the precedence logic: a set of paths below a directory.
    #[derive(Debug, PartialEq)]
    struct Sub(&'static str);

    impl Covers for Sub {
        fn covered_by(&self, outer: &Sub) -> bool {
            self.0 == outer.0 || self.0.starts_with(&format!("{}/", outer.0))
        }
    }

    fn ops(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn view<'a>(line: u32, action: Action, operations: &'a [String], filter: Option<&'a Sub>) -> RuleView<'a, Sub> {
        let text = format!("rule {line}");
        RuleView {
            action,
            operations,
            filter,
            key: RuleKey::new("o.sb", &text, 0),
            rule: RuleRef { file: "o.sb".into(), line, text, layer: None },
            owned: true,
        }
    }

    fn kinds(rules: &[RuleView<'_, Sub>]) -> Vec<(usize, FindingKind, usize)> {
        static_findings(rules).into_iter().map(|s| (s.index, s.kind, s.by)).collect()
    }

    #[test]
    fn later_rules_shadow_or_make_redundant() {
        let read = ops(&["file-read*"]);
        let (a, ab) = (Sub("/a"), Sub("/a/b"));
        // allow /a/b, then deny /a: the allow never decides and is overridden.
        let rules = [view(1, Action::Allow, &read, Some(&ab)), view(2, Action::Deny, &read, Some(&a))];
        assert_eq!(kinds(&rules), vec![(0, FindingKind::Shadowed, 1)]);
        // allow /a/b, then allow /a: redundant.
        let rules = [view(1, Action::Allow, &read, Some(&ab)), view(2, Action::Allow, &read, Some(&a))];
        assert_eq!(kinds(&rules), vec![(0, FindingKind::Redundant, 1)]);
        // deny /a, then allow /a/b: the usual carve-out, nothing to say.
        let rules = [view(1, Action::Deny, &read, Some(&a)), view(2, Action::Allow, &read, Some(&ab))];
        assert_eq!(kinds(&rules), vec![]);
    }

    #[test]
    fn earlier_covering_rule_makes_redundant_unless_interrupted() {
        let read = ops(&["file-read*"]);
        let (a, ab, abc) = (Sub("/a"), Sub("/a/b"), Sub("/a/b/c"));
        let rules = [view(1, Action::Allow, &read, Some(&a)), view(2, Action::Allow, &read, Some(&ab))];
        assert_eq!(kinds(&rules), vec![(1, FindingKind::Redundant, 0)]);
        // A deny in between changes what the later allow means: it re-opens /a/b. (The first
        // allow is then overridden by the deny, and a deny below the re-opened allow is dead.)
        let rules = [
            view(1, Action::Allow, &read, Some(&a)),
            view(2, Action::Deny, &read, Some(&a)),
            view(3, Action::Allow, &read, Some(&ab)),
        ];
        assert_eq!(kinds(&rules), vec![(0, FindingKind::Shadowed, 1)]);
        let rules = [
            view(1, Action::Deny, &read, Some(&abc)),
            view(2, Action::Allow, &read, Some(&ab)),
        ];
        assert_eq!(kinds(&rules), vec![(0, FindingKind::Shadowed, 1)]);
    }

    #[test]
    fn operations_are_separate_lists() {
        let data = ops(&["file-read-data"]);
        let read = ops(&["file-read*"]);
        let both = ops(&["file-read*", "file-write*"]);
        let (a, ab) = (Sub("/a"), Sub("/a/b"));
        // A deny on file-read* does not shadow an allow on file-read-data (more specific op wins).
        let rules = [view(1, Action::Allow, &data, Some(&ab)), view(2, Action::Deny, &read, Some(&a))];
        assert_eq!(kinds(&rules), vec![]);
        // A two-operation rule is dead only if dead on both.
        let rules = [view(1, Action::Allow, &both, Some(&ab)), view(2, Action::Deny, &read, Some(&a))];
        assert_eq!(kinds(&rules), vec![]);
    }

    #[test]
    fn unfiltered_rules() {
        let read = ops(&["file-read*"]);
        let ab = Sub("/a/b");
        // Two unfiltered rules: only the last counts.
        let rules = [view(1, Action::Allow, &read, None), view(2, Action::Deny, &read, None)];
        assert_eq!(kinds(&rules), vec![(0, FindingKind::Shadowed, 1)]);
        // A filtered allow under an unfiltered allow (the fallback) repeats it, wherever it is written.
        let rules = [view(1, Action::Allow, &read, Some(&ab)), view(2, Action::Allow, &read, None)];
        assert_eq!(kinds(&rules), vec![(0, FindingKind::Redundant, 1)]);
        // An unfiltered allow written last does not override an earlier filtered deny (§6 rule 2).
        let rules = [view(1, Action::Deny, &read, Some(&ab)), view(2, Action::Allow, &read, None)];
        assert_eq!(kinds(&rules), vec![]);
    }

    #[test]
    fn usage_findings_and_modules() {
        use crate::report::usage::{SessionRecord, SessionUsage};
        let read = ops(&["file-read*"]);
        let (a, b, c) = (Sub("/a"), Sub("/b"), Sub("/c"));
        let mut rules = vec![
            view(1, Action::Allow, &read, Some(&a)),
            view(2, Action::Allow, &read, Some(&b)),
            view(3, Action::Allow, &read, Some(&c)),
        ];
        rules[2].rule.layer = Some("55-integrations-optional/docker.sb".into());
        rules[2].owned = false;
        let table: Vec<_> = rules.iter().map(|r| (r.key.clone(), r.rule.clone(), r.action)).collect();
        let mut ledger = Ledger::default();
        for s in ["s1", "s2"] {
            let mut usage = SessionUsage::default();
            usage.hit(&rules[0].key, "file-read-data", "/a/x", 1);
            ledger.record(SessionRecord { id: s.into(), name: s.into(), attributed: 1, unattributed: 0 }, &table, &usage);
        }
        let report = findings(&Inputs { rules: &rules, ledger: &ledger, min_sessions: 2 });
        let got: Vec<_> = report.findings.iter().map(|f| (f.kind, f.rule.as_ref().map(|r| r.line), f.module.clone())).collect();
        assert_eq!(
            got,
            vec![
                (FindingKind::Unused, Some(2), None),
                (FindingKind::UnusedModule, None, Some("55-integrations-optional/docker.sb".into())),
            ]
        );
        assert_eq!(report.not_owned.get(&FindingKind::Unused), Some(&1));
        assert_eq!(
            report.findings[1].change,
            Change::DropModule { module: "docker".into(), flag: "--enable=docker".into() }
        );
        // Not enough sessions yet: nothing is called unused.
        let report = findings(&Inputs { rules: &rules, ledger: &ledger, min_sessions: 3 });
        assert!(report.findings.is_empty());
    }
}
