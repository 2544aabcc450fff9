//! The `audit` session report: one streaming pass over events, aggregated by what a reviewer asks.
//!
//! [`Auditor::observe`] folds each [`Event`] into bounded aggregates keyed by class, area and target
//! (never a copy of the event stream), so a session of millions of reports costs memory in
//! proportion to its *distinct* targets. The caller supplies what needs a policy or the learner
//! (why a denial happened, how sensitive a target is) as a [`Judgement`] per event, which keeps this
//! module independent of where the answers come from. [`Auditor::finish`] produces the
//! [`AuditReport`], whose JSON is a public interface (README "audit").

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use super::area::{AccessClass, Places};
use super::{FastMap, RuleRef};
use crate::event::{Action, Event};
use crate::target::Target;

/// Version of the audit JSON (`safehouse_audit` field).
pub const AUDIT_VERSION: u32 = 1;
/// How many example targets an area lists.
const AREA_SAMPLES: usize = 5;
/// How many examples a gap lists.
const GAP_SAMPLES: usize = 5;
/// A report whose timestamp is this much older than one already seen arrived late.
const LATE_AFTER_MS: i64 = 2_000;

/// Why a denial happened.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DenialCause {
    /// No rule allows it: the operation fell through to the default deny.
    MissingRule,
    /// An explicit deny rule decided it.
    DenyRule { rule: RuleRef },
    /// The platform policy (`System Policy:`) denied it; no rule of ours can change that.
    PlatformPolicy,
    /// The hard floor `learn` keeps denied while learning (secrets).
    LearningFloor { rule: RuleRef },
    /// The policy given now allows it (a grant was added after the session).
    AllowedNow {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rule: Option<RuleRef>,
    },
    /// The policy cannot decide from a log line (filters on process attributes, unknown imports).
    Indeterminate,
    /// No policy was given, so the cause is not known.
    Unknown,
}

impl DenialCause {
    /// A one-line explanation for text output.
    pub fn describe(&self) -> String {
        match self {
            DenialCause::MissingRule => "missing rule (fell through to the default deny)".to_string(),
            DenialCause::DenyRule { rule } => format!("explicit deny rule at {}:{}", rule.file, rule.line),
            DenialCause::PlatformPolicy => "platform policy (no rule can change it)".to_string(),
            DenialCause::LearningFloor { rule } => {
                format!("learning floor (kept denied while learning) at {}:{}", rule.file, rule.line)
            }
            DenialCause::AllowedNow { rule: Some(rule) } => {
                format!("allowed by the current policy at {}:{}", rule.file, rule.line)
            }
            DenialCause::AllowedNow { rule: None } => "allowed by the current policy's default".to_string(),
            DenialCause::Indeterminate => "indeterminate (the policy cannot decide from the report)".to_string(),
            DenialCause::Unknown => "unknown (no profile given)".to_string(),
        }
    }
}

/// How sensitive a location is (the learner's tiers).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Sensitivity {
    /// The tier name (`never-propose`, `review-required`).
    pub tier: String,
    /// Why (`SSH private key`).
    pub reason: String,
}

/// What the caller knows about one event beyond the event itself.
#[derive(Debug, Clone, Default)]
pub struct Judgement {
    /// For denials: why. `None` is read as [`DenialCause::Unknown`].
    pub cause: Option<DenialCause>,
    /// Set when the target is a sensitive location.
    pub sensitive: Option<Sensitivity>,
}

/// A process's exit as recorded by the capture, for the "exited non-zero, no denial" gap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessExit {
    pub process: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    pub status: i32,
}

/// What the capture recorded about a session besides its events (from an archive header).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionFacts {
    /// When the agent was started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_started: Option<DateTime<FixedOffset>>,
    /// When the log stream was ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_started: Option<DateTime<FixedOffset>>,
    /// When the agent exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<DateTime<FixedOffset>>,
    /// Exits of the agent and its children, where known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exits: Vec<ProcessExit>,
    /// A `learn` capture (its archive names the session tag): the policy ran with its default
    /// deny turned into a reporting allow, so its allowed reports are accesses the policy denies.
    #[serde(skip)]
    pub learning: bool,
    /// A Linux capture: strace sees every call, and the capture itself folds identical accesses
    /// into one record with a count (the kernel folds nothing there).
    #[serde(skip)]
    pub traced: bool,
}

/// The audit of one or more sessions. Field names are a public interface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditReport {
    pub safehouse_audit: u32,
    pub sessions: Vec<SessionSummary>,
    pub span: Span,
    pub counts: Counts,
    /// One entry per access class that occurred, in the order read, write, exec, lookup, contact, other.
    pub activity: Vec<ClassActivity>,
    pub denials: Vec<Denial>,
    pub sensitive: Vec<SensitiveAccess>,
    pub gaps: Vec<Gap>,
    pub processes: Vec<ProcessActivity>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionSummary {
    pub name: String,
    /// A `learn` capture: its `allow` reports are accesses the policy would have denied.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub learning: bool,
    /// Event records read (a folded record counts once).
    pub records: u64,
    /// Reports they stand for (sum of `count`).
    pub reports: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<DateTime<FixedOffset>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<DateTime<FixedOffset>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<DateTime<FixedOffset>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<DateTime<FixedOffset>>,
    /// `last - first` in seconds (0 without timestamps).
    pub seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub records: u64,
    pub reports: u64,
    /// Reports of allowed accesses.
    pub allow: u64,
    /// Reports of denied accesses.
    pub deny: u64,
    /// Distinct process names.
    pub processes: u64,
    /// Distinct (operation, target) pairs.
    pub targets: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassActivity {
    pub class: AccessClass,
    pub allow: u64,
    pub deny: u64,
    /// Areas, most reports first.
    pub areas: Vec<AreaActivity>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AreaActivity {
    pub area: String,
    pub allow: u64,
    pub deny: u64,
    pub distinct_targets: u64,
    /// Up to five targets (raw text), most reports first.
    pub samples: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Denial {
    pub operation: String,
    pub target: Target,
    pub cause: DenialCause,
    /// Reports (sum of `count`).
    pub count: u64,
    pub processes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<DateTime<FixedOffset>>,
    /// Where the first report of it was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SensitiveAccess {
    pub operation: String,
    pub target: Target,
    pub action: Action,
    pub tier: String,
    pub reason: String,
    pub count: u64,
    pub processes: Vec<String>,
}

/// Kinds of evidence gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GapKind {
    /// The kernel folded identical reports (`N duplicate reports`): counts are known, details not.
    FoldedDuplicates,
    /// Reports older than one already seen (backfilled or delayed).
    LateReports,
    /// The log stream became ready after the agent started: its first reports may be missing.
    StreamStartedAfterAgent,
    /// A process exited non-zero and no denial of it was seen (a cause outside Seatbelt, or lost reports).
    ExitWithoutDenial,
    /// Reports without a timestamp (bare messages): ordering and the span are unknown for them.
    Untimed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    pub kind: GapKind,
    /// Session the gap was seen in.
    pub session: String,
    /// How many records (or processes) it concerns.
    pub count: u64,
    pub detail: String,
    pub samples: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessActivity {
    pub process: String,
    pub pids: Vec<u32>,
    pub records: u64,
    pub reports: u64,
    pub denials: u64,
}

/// One distinct (operation, target) seen: where it belongs and how often it was allowed/denied.
struct TargetStats {
    class: AccessClass,
    /// Index into `Auditor::areas`.
    area: usize,
    raw: String,
    allow: u64,
    deny: u64,
}

struct DenialStats {
    operation: String,
    target: Target,
    cause: DenialCause,
    count: u64,
    processes: BTreeSet<String>,
    first_seen: Option<DateTime<FixedOffset>>,
    file: Option<String>,
    line: Option<u64>,
}

struct SensitiveStats {
    tier: String,
    reason: String,
    count: u64,
    processes: BTreeSet<String>,
}

#[derive(Default)]
struct ProcessStats {
    pids: BTreeSet<u32>,
    records: u64,
    reports: u64,
    denials: u64,
}

/// Per-session state that only matters while the session is read.
struct SessionState {
    summary: SessionSummary,
    facts: SessionFacts,
    latest: Option<DateTime<FixedOffset>>,
    folded_records: u64,
    folded_reports: u64,
    folded_samples: Vec<String>,
    late: u64,
    late_samples: Vec<String>,
    untimed: u64,
    denied_pids: BTreeSet<u32>,
    denied_processes: BTreeSet<String>,
}

/// The streaming aggregator behind `safehouse audit`.
pub struct Auditor {
    places: Places,
    sessions: Vec<SessionSummary>,
    current: Option<SessionState>,
    gaps: Vec<Gap>,
    counts: Counts,
    first: Option<DateTime<FixedOffset>>,
    last: Option<DateTime<FixedOffset>>,
    /// Distinct accesses, found without allocating through `slots` (operation → target → index).
    targets: Vec<TargetStats>,
    slots: FastMap<String, FastMap<String, usize>>,
    /// Area names, interned.
    areas: Vec<String>,
    area_ids: FastMap<String, usize>,
    denials: HashMap<(String, String, DenialCause), DenialStats>,
    sensitive: HashMap<(String, String, Action), (Target, SensitiveStats)>,
    processes: BTreeMap<String, ProcessStats>,
}

impl Auditor {
    pub fn new(places: Places) -> Auditor {
        Auditor {
            places,
            sessions: Vec::new(),
            current: None,
            gaps: Vec::new(),
            counts: Counts { records: 0, reports: 0, allow: 0, deny: 0, processes: 0, targets: 0 },
            first: None,
            last: None,
            targets: Vec::new(),
            slots: FastMap::default(),
            areas: Vec::new(),
            area_ids: FastMap::default(),
            denials: HashMap::new(),
            sensitive: HashMap::new(),
            processes: BTreeMap::new(),
        }
    }

    /// Start a session; events observed until the next call belong to it. `places` (when given)
    /// names areas from now on: each session may have its own home and workdir.
    pub fn begin_session(&mut self, name: impl Into<String>, facts: SessionFacts, places: Option<Places>) {
        self.end_session();
        if let Some(places) = places {
            self.places = places;
        }
        self.current = Some(SessionState {
            summary: SessionSummary { name: name.into(), learning: facts.learning, records: 0, reports: 0, first: None, last: None },
            facts,
            latest: None,
            folded_records: 0,
            folded_reports: 0,
            folded_samples: Vec::new(),
            late: 0,
            late_samples: Vec::new(),
            untimed: 0,
            denied_pids: BTreeSet::new(),
            denied_processes: BTreeSet::new(),
        });
    }

    /// Fold one event in. Events before any [`Auditor::begin_session`] form a session named `-`.
    pub fn observe(&mut self, event: &Event, judgement: Judgement) {
        if self.current.is_none() {
            self.begin_session("-", SessionFacts::default(), None);
        }
        let session = self.current.as_mut().expect("a session was just begun");
        let reports = event.count.max(1);

        // Counts, span and per-session evidence.
        self.counts.records += 1;
        self.counts.reports += reports;
        match event.action {
            Action::Allow => self.counts.allow += reports,
            Action::Deny => self.counts.deny += reports,
        }
        session.summary.records += 1;
        session.summary.reports += reports;
        if reports > 1 {
            session.folded_records += 1;
            session.folded_reports += reports - 1;
            push_sample(&mut session.folded_samples, || describe(event));
        }
        match event.time {
            Some(time) => {
                if let Some(latest) = session.latest {
                    if (latest - time).num_milliseconds() > LATE_AFTER_MS {
                        session.late += 1;
                        push_sample(&mut session.late_samples, || format!("{} {}", time.to_rfc3339(), describe(event)));
                    }
                }
                session.latest = Some(session.latest.map_or(time, |l| l.max(time)));
                session.summary.first = Some(session.summary.first.map_or(time, |f| f.min(time)));
                session.summary.last = Some(session.summary.last.map_or(time, |l| l.max(time)));
                self.first = Some(self.first.map_or(time, |f| f.min(time)));
                self.last = Some(self.last.map_or(time, |l| l.max(time)));
            }
            None => session.untimed += 1,
        }

        // Activity, by distinct access (its class and area are worked out once).
        let slot = match self.slots.get(event.operation.as_str()).and_then(|m| m.get(event.target.raw.as_str())) {
            Some(&i) => i,
            None => {
                let area = self.places.area(&event.operation, &event.target);
                let area = match self.area_ids.get(&area) {
                    Some(&id) => id,
                    None => {
                        self.areas.push(area.clone());
                        self.area_ids.insert(area, self.areas.len() - 1);
                        self.areas.len() - 1
                    }
                };
                self.targets.push(TargetStats {
                    class: AccessClass::of(&event.operation),
                    area,
                    raw: event.target.raw.clone(),
                    allow: 0,
                    deny: 0,
                });
                let i = self.targets.len() - 1;
                self.slots.entry(event.operation.clone()).or_default().insert(event.target.raw.clone(), i);
                i
            }
        };
        match event.action {
            Action::Allow => self.targets[slot].allow += reports,
            Action::Deny => self.targets[slot].deny += reports,
        }

        // Processes.
        let process = match self.processes.get_mut(&event.process) {
            Some(p) => p,
            None => self.processes.entry(event.process.clone()).or_default(),
        };
        process.records += 1;
        process.reports += reports;
        if let Some(pid) = event.pid {
            process.pids.insert(pid);
        }

        // Denials with their cause.
        if event.action == Action::Deny {
            process.denials += reports;
            if let Some(pid) = event.pid {
                session.denied_pids.insert(pid);
            }
            if !session.denied_processes.contains(&event.process) {
                session.denied_processes.insert(event.process.clone());
            }
            let cause = if event.platform_policy {
                DenialCause::PlatformPolicy
            } else {
                judgement.cause.unwrap_or(DenialCause::Unknown)
            };
            let key = (event.operation.clone(), event.target.raw.clone(), cause);
            let entry = self.denials.entry(key).or_insert_with_key(|(operation, _, cause)| DenialStats {
                operation: operation.clone(),
                target: event.target.clone(),
                cause: cause.clone(),
                count: 0,
                processes: BTreeSet::new(),
                first_seen: None,
                file: event.file.clone(),
                line: event.line,
            });
            entry.count += reports;
            if !entry.processes.contains(&event.process) {
                entry.processes.insert(event.process.clone());
            }
            if let Some(time) = event.time {
                entry.first_seen = Some(entry.first_seen.map_or(time, |f| f.min(time)));
            }
        }

        // Sensitive locations, allowed or denied.
        if let Some(sensitivity) = judgement.sensitive {
            let key = (event.operation.clone(), event.target.raw.clone(), event.action);
            let (_, entry) = self.sensitive.entry(key).or_insert_with(|| {
                (
                    event.target.clone(),
                    SensitiveStats {
                        tier: sensitivity.tier,
                        reason: sensitivity.reason,
                        count: 0,
                        processes: BTreeSet::new(),
                    },
                )
            });
            entry.count += reports;
            entry.processes.insert(event.process.clone());
        }
    }

    fn end_session(&mut self) {
        let Some(s) = self.current.take() else { return };
        let name = s.summary.name.clone();
        if s.folded_records > 0 {
            self.gaps.push(Gap {
                kind: GapKind::FoldedDuplicates,
                session: name.clone(),
                count: s.folded_reports,
                detail: format!(
                    "{} reports were folded by {} into {} records: their times and order are not known",
                    s.folded_reports,
                    if s.facts.traced { "the Linux capture" } else { "the kernel" },
                    s.folded_records
                ),
                samples: s.folded_samples,
            });
        }
        if s.late > 0 {
            self.gaps.push(Gap {
                kind: GapKind::LateReports,
                session: name.clone(),
                count: s.late,
                detail: format!(
                    "{} reports arrived more than {} s after later ones (delayed or backfilled): \
                     reports may also be missing",
                    s.late,
                    LATE_AFTER_MS / 1000
                ),
                samples: s.late_samples,
            });
        }
        if let (Some(agent), Some(stream)) = (s.facts.agent_started, s.facts.stream_started) {
            if stream > agent {
                let ms = (stream - agent).num_milliseconds();
                self.gaps.push(Gap {
                    kind: GapKind::StreamStartedAfterAgent,
                    session: name.clone(),
                    count: 1,
                    detail: format!(
                        "the log stream was ready {}.{:03} s after the agent started: its first reports may be missing",
                        ms / 1000,
                        ms % 1000
                    ),
                    samples: Vec::new(),
                });
            }
        }
        let silent: Vec<&ProcessExit> = s
            .facts
            .exits
            .iter()
            .filter(|e| e.status != 0)
            .filter(|e| match e.pid {
                Some(pid) => !s.denied_pids.contains(&pid),
                None => !s.denied_processes.contains(&e.process),
            })
            .collect();
        if !silent.is_empty() {
            self.gaps.push(Gap {
                kind: GapKind::ExitWithoutDenial,
                session: name.clone(),
                count: silent.len() as u64,
                detail: "processes exited non-zero and no denial of theirs was seen: the cause is outside \
                         Seatbelt (TCC, setuid, nested sandbox, a failing child) or its reports were lost"
                    .to_string(),
                samples: silent
                    .iter()
                    .map(|e| match e.pid {
                        Some(pid) => format!("{}({}) exited with status {}", e.process, pid, e.status),
                        None => format!("{} exited with status {}", e.process, e.status),
                    })
                    .collect(),
            });
        }
        if s.untimed > 0 {
            self.gaps.push(Gap {
                kind: GapKind::Untimed,
                session: name,
                count: s.untimed,
                detail: format!("{} records carry no timestamp (bare report messages)", s.untimed),
                samples: Vec::new(),
            });
        }
        self.sessions.push(s.summary);
    }

    /// Close the last session and produce the report (deterministic order throughout).
    pub fn finish(mut self) -> AuditReport {
        self.end_session();
        // Fold distinct accesses into areas (targets counted by text across operations).
        // (class, area) → (allowed, denied, reports per target text).
        type AreaSums<'t> = (u64, u64, HashMap<&'t str, u64>);
        let mut by_area: BTreeMap<(AccessClass, &str), AreaSums<'_>> = BTreeMap::new();
        for t in &self.targets {
            let entry = by_area.entry((t.class, self.areas[t.area].as_str())).or_default();
            entry.0 += t.allow;
            entry.1 += t.deny;
            *entry.2.entry(t.raw.as_str()).or_default() += t.allow + t.deny;
        }
        let mut activity: Vec<ClassActivity> = Vec::new();
        for ((class, area), (allow, deny, targets)) in by_area {
            if activity.last().map(|c| c.class) != Some(class) {
                activity.push(ClassActivity { class, allow: 0, deny: 0, areas: Vec::new() });
            }
            let entry = activity.last_mut().expect("pushed above");
            entry.allow += allow;
            entry.deny += deny;
            let mut targets: Vec<(&str, u64)> = targets.into_iter().collect();
            let distinct_targets = targets.len() as u64;
            targets.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
            entry.areas.push(AreaActivity {
                area: area.to_string(),
                allow,
                deny,
                distinct_targets,
                samples: targets.into_iter().take(AREA_SAMPLES).map(|(t, _)| t.to_string()).collect(),
            });
        }
        for class in &mut activity {
            class.areas.sort_by(|a, b| (b.allow + b.deny).cmp(&(a.allow + a.deny)).then_with(|| a.area.cmp(&b.area)));
        }

        let mut denials: Vec<Denial> = self
            .denials
            .into_values()
            .map(|d| Denial {
                operation: d.operation,
                target: d.target,
                cause: d.cause,
                count: d.count,
                processes: d.processes.into_iter().collect(),
                first_seen: d.first_seen,
                file: d.file,
                line: d.line,
            })
            .collect();
        // Causes that need action first (explicit rules, missing rules), then by volume.
        denials.sort_by(|a, b| {
            cause_rank(&a.cause)
                .cmp(&cause_rank(&b.cause))
                .then_with(|| b.count.cmp(&a.count))
                .then_with(|| a.operation.cmp(&b.operation))
                .then_with(|| a.target.raw.cmp(&b.target.raw))
                .then_with(|| a.cause.cmp(&b.cause))
        });

        let mut sensitive: Vec<SensitiveAccess> = self
            .sensitive
            .into_iter()
            .map(|((operation, _, action), (target, s))| SensitiveAccess {
                operation,
                target,
                action,
                tier: s.tier,
                reason: s.reason,
                count: s.count,
                processes: s.processes.into_iter().collect(),
            })
            .collect();
        sensitive.sort_by(|a, b| {
            a.tier
                .cmp(&b.tier)
                .then_with(|| a.target.raw.cmp(&b.target.raw))
                .then_with(|| a.operation.cmp(&b.operation))
                .then_with(|| a.action.cmp(&b.action))
        });

        self.counts.processes = self.processes.len() as u64;
        self.counts.targets = self.targets.len() as u64;
        let seconds = match (self.first, self.last) {
            (Some(f), Some(l)) => (l - f).num_milliseconds() as f64 / 1000.0,
            _ => 0.0,
        };
        AuditReport {
            safehouse_audit: AUDIT_VERSION,
            sessions: self.sessions,
            span: Span { first: self.first, last: self.last, seconds },
            counts: self.counts,
            activity,
            denials,
            sensitive,
            gaps: self.gaps,
            processes: self
                .processes
                .into_iter()
                .map(|(process, p)| ProcessActivity {
                    process,
                    pids: p.pids.into_iter().collect(),
                    records: p.records,
                    reports: p.reports,
                    denials: p.denials,
                })
                .collect(),
        }
    }
}

fn cause_rank(cause: &DenialCause) -> u8 {
    match cause {
        DenialCause::DenyRule { .. } => 0,
        DenialCause::LearningFloor { .. } => 1,
        DenialCause::MissingRule => 2,
        DenialCause::Indeterminate => 3,
        DenialCause::AllowedNow { .. } => 4,
        DenialCause::PlatformPolicy => 5,
        DenialCause::Unknown => 6,
    }
}

fn describe(event: &Event) -> String {
    let pid = event.pid.map(|p| format!("({p})")).unwrap_or_default();
    format!("{}{} {} {} {}", event.process, pid, event.action, event.operation, event.target.raw)
}

fn push_sample(samples: &mut Vec<String>, make: impl FnOnce() -> String) {
    if samples.len() < GAP_SAMPLES {
        samples.push(make());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(action: Action, op: &str, target: &str, process: &str, pid: u32, secs: Option<i64>) -> Event {
        let mut e = Event::new(process, Some(pid), action, op, Target::parse(op, target));
        e.time = secs.map(|s| {
            DateTime::parse_from_rfc3339("2026-01-01T10:00:00+01:00").unwrap() + chrono::Duration::seconds(s)
        });
        e
    }

    fn rule(line: u32) -> RuleRef {
        RuleRef { file: "p.sb".into(), line, text: "(deny file-read* (subpath \"/x\"))".into(), layer: None }
    }

    #[test]
    fn aggregates_every_section() {
        let places = Places { home: Some("/Users/a".into()), workdir: Some("/Users/a/w".into()), temp_roots: vec![] };
        let mut audit = Auditor::new(places);
        audit.begin_session(
            "s1",
            SessionFacts {
                agent_started: DateTime::parse_from_rfc3339("2026-01-01T09:59:59+01:00").ok(),
                stream_started: DateTime::parse_from_rfc3339("2026-01-01T10:00:00+01:00").ok(),
                ended: None,
                exits: vec![
                    ProcessExit { process: "node".into(), pid: Some(10), status: 0 },
                    ProcessExit { process: "git".into(), pid: Some(11), status: 128 },
                    ProcessExit { process: "cat".into(), pid: Some(12), status: 1 },
                ],
                learning: false,
                traced: false,
            },
            None,
        );
        let j = Judgement::default;
        audit.observe(&ev(Action::Allow, "file-read-data", "/Users/a/w/src/a.rs", "node", 10, Some(0)), j());
        let mut folded = ev(Action::Allow, "file-read-data", "/Users/a/w/src/a.rs", "node", 10, Some(1));
        folded.count = 4;
        audit.observe(&folded, j());
        audit.observe(&ev(Action::Allow, "file-write-create", "/Users/a/w/out", "node", 10, Some(2)), j());
        audit.observe(
            &ev(Action::Deny, "file-read-data", "/Users/a/.ssh/id_ed25519", "cat", 12, Some(10)),
            Judgement {
                cause: Some(DenialCause::DenyRule { rule: rule(7) }),
                sensitive: Some(Sensitivity { tier: "never-propose".into(), reason: "SSH private key".into() }),
            },
        );
        // Late: 5 s older than the latest seen.
        audit.observe(
            &ev(Action::Deny, "mach-lookup", "com.apple.logd", "node", 10, Some(5)),
            Judgement { cause: Some(DenialCause::MissingRule), sensitive: None },
        );
        let mut platform = ev(Action::Deny, "file-read-data", "/Library/x", "node", 10, Some(11));
        platform.platform_policy = true;
        audit.observe(&platform, Judgement { cause: Some(DenialCause::MissingRule), sensitive: None });
        let report = audit.finish();

        assert_eq!(report.counts, Counts { records: 6, reports: 9, allow: 6, deny: 3, processes: 2, targets: 5 });
        assert_eq!(report.span.seconds, 11.0);
        let classes: Vec<_> = report.activity.iter().map(|c| (c.class, c.allow, c.deny)).collect();
        assert_eq!(
            classes,
            vec![(AccessClass::Read, 5, 2), (AccessClass::Write, 1, 0), (AccessClass::Lookup, 0, 1)]
        );
        let read_areas: Vec<_> = report.activity[0].areas.iter().map(|a| a.area.as_str()).collect();
        assert_eq!(read_areas, vec!["$WORKDIR/src", "/Library/x", "~/.ssh"]);
        let causes: Vec<_> = report.denials.iter().map(|d| (d.target.raw.as_str(), d.cause.clone())).collect();
        assert_eq!(
            causes,
            vec![
                ("/Users/a/.ssh/id_ed25519", DenialCause::DenyRule { rule: rule(7) }),
                ("com.apple.logd", DenialCause::MissingRule),
                ("/Library/x", DenialCause::PlatformPolicy),
            ]
        );
        assert_eq!(report.sensitive.len(), 1);
        assert_eq!(report.sensitive[0].action, Action::Deny);
        let gaps: Vec<_> = report.gaps.iter().map(|g| (g.kind, g.count)).collect();
        assert_eq!(
            gaps,
            vec![
                (GapKind::FoldedDuplicates, 3),
                (GapKind::LateReports, 1),
                (GapKind::StreamStartedAfterAgent, 1),
                (GapKind::ExitWithoutDenial, 1),
            ]
        );
        assert_eq!(report.gaps[3].samples, vec!["git(11) exited with status 128"]);
        assert_eq!(report.processes.iter().map(|p| p.denials).collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn same_input_same_bytes() {
        let run = || {
            let mut audit = Auditor::new(Places::default());
            for i in 0..200 {
                let op = if i % 3 == 0 { "file-write-data" } else { "file-read-data" };
                let action = if i % 7 == 0 { Action::Deny } else { Action::Allow };
                audit.observe(&ev(action, op, &format!("/tmp/f{}", i % 13), "p", 1, None), Judgement::default());
            }
            serde_json::to_string(&audit.finish()).unwrap()
        };
        assert_eq!(run(), run());
    }
}
