//! The learner: observed accesses → the smallest set of safe, general grants, and the overlay.
//!
//! Flow: a [`Learner`] folds events (any number of sessions) into distinct observations
//! (operation + target) with their evidence; [`Learner::learn`] then
//!
//! 1. asks the current policy ([`Decide`]) about each observation: already allowed → dropped;
//!    denied by an explicit rule → [`Learned::denied_by_rule`]; undecidable →
//!    [`Learned::indeterminate`]; platform-policy denials → [`Learned::platform_denials`];
//! 2. sorts the rest by operation class ([`OpClass`]) and sensitivity tier ([`Tiers`]): never-tier
//!    locations → [`Learned::secrets`], never proposed;
//! 3. generalises path classes over a trie with an explicit cost model ([`paths`]) and name / port
//!    classes by value ([`named`]);
//! 4. attaches evidence, reasons, risk, alternatives (narrow → wide, with widening figures from an
//!    optional [`FsOracle`]) and module matches, and sorts everything deterministically.
//!
//! [`render_overlay`] turns chosen proposals into the overlay profile text.

pub mod class;
pub mod glob;
pub mod grant;
mod named;
pub mod paths;
pub mod places;
pub mod render;
pub mod tiers;
pub mod volatile;

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::target::Target;

pub use class::OpClass;
pub use grant::{Anchor, Filter, Grant, GrantMatcher, PathMatch};
pub use render::{helper_prelude, render_overlay};
pub use tiers::{Tier, TierMatch, TierRule, Tiers};

pub use crate::context::SessionContext;

/// A named, complete session (for the [`learn`] convenience function).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub name: String,
    pub events: Vec<Event>,
}

/// The rule that decided an access, as the engine attributes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RuleRef {
    pub file: String,
    pub line: u32,
    /// The rule's source text.
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
}

impl From<&crate::sbpl::RuleOrigin> for RuleRef {
    fn from(origin: &crate::sbpl::RuleOrigin) -> RuleRef {
        RuleRef { file: origin.file.clone(), line: origin.line, text: origin.text.clone(), layer: origin.layer.clone() }
    }
}

/// What the current policy says about an access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyVerdict {
    Allow,
    /// `rule` is `None` when nothing matched and the default (or a built-in) decided.
    Deny { rule: Option<RuleRef> },
    /// The evaluator could not decide (a filter that depends on run-time state).
    Indeterminate { why: String },
}

/// The current policy, as the learner needs it. The SBPL engine's `Policy` implements it; tests
/// may use anything.
pub trait Decide {
    fn verdict(&self, operation: &str, target: &Target) -> PolicyVerdict;
}

impl Decide for crate::sbpl::Policy {
    fn verdict(&self, operation: &str, target: &Target) -> PolicyVerdict {
        use crate::sbpl::{Uncertainty, Verdict};
        let d = self.decide(operation, target);
        match d.verdict {
            Verdict::Allow => PolicyVerdict::Allow,
            Verdict::Deny => PolicyVerdict::Deny {
                rule: d.rule.map(|id| RuleRef::from(&self.rule(id).origin)),
            },
            Verdict::Indeterminate => {
                let why = match d.uncertain.first() {
                    Some(Uncertainty::Rule { rule }) => {
                        let o = &self.rule(*rule).origin;
                        format!("rule at {}:{} has a filter unknown here", o.file, o.line)
                    }
                    Some(Uncertainty::Import { effect }) => match self.unknown_effects().get(*effect) {
                        Some(e) => format!("{} at {}:{} is not resolved", e.what, e.file, e.line),
                        None => "an unresolved import".into(),
                    },
                    None => "undecidable".into(),
                };
                PolicyVerdict::Indeterminate { why }
            }
        }
    }
}

/// A policy that allows nothing (every access falls to `(deny default)`).
pub struct DenyAll;

impl Decide for DenyAll {
    fn verdict(&self, _: &str, _: &Target) -> PolicyVerdict {
        PolicyVerdict::Deny { rule: None }
    }
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub is_dir: bool,
}

/// Read-only view of the file system for widening figures. The CLI implements it with real
/// directory listings; the library stays I/O-free.
pub trait FsOracle {
    /// The entries of `dir`, or `None` when it cannot be listed.
    fn list_dir(&self, dir: &str) -> Option<Vec<DirEntry>>;
}

/// A policy with one optional module enabled (base + module), to measure what the module covers.
pub struct ModulePolicy<'a> {
    pub name: String,
    pub policy: &'a dyn Decide,
}

/// An optional Safehouse module compiled on top of the base policy.
pub struct CompiledModule {
    /// The module's file stem (`docker` for `docker.sb`): what `--enable=` takes.
    pub name: String,
    pub policy: crate::sbpl::Policy,
}

impl CompiledModule {
    pub fn as_module_policy(&self) -> ModulePolicy<'_> {
        ModulePolicy { name: self.name.clone(), policy: &self.policy }
    }
}

/// Compile each module after `base` (base + module), to say which modules cover what a session
/// needed. Modules that do not compile are returned with their error (a module that needs another
/// one, for instance); they are simply not offered.
pub fn compile_modules(
    base: &[crate::sbpl::SourceFile],
    params: &crate::sbpl::Params,
    modules: &[crate::sbpl::SourceFile],
) -> (Vec<CompiledModule>, Vec<(String, crate::sbpl::SbplError)>) {
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for m in modules {
        let name = module_name(&m.name);
        let mut files = base.to_vec();
        files.push(m.clone());
        match crate::sbpl::compile(&files, params) {
            Ok(policy) => ok.push(CompiledModule { name, policy }),
            Err(e) => failed.push((name, e)),
        }
    }
    (ok, failed)
}

/// `55-integrations-optional/docker.sb` → `docker`.
fn module_name(file: &str) -> String {
    let base = file.rsplit('/').next().unwrap_or(file);
    base.strip_suffix(".sb").unwrap_or(base).to_string()
}

/// Knobs for [`Learner::learn`].
pub struct LearnOptions<'a> {
    pub tiers: Tiers,
    pub oracle: Option<&'a dyn FsOracle>,
    pub modules: Vec<ModulePolicy<'a>>,
    /// Sample targets kept per proposal/finding.
    pub max_samples: usize,
    /// Entries the oracle walk visits per candidate rule before giving up (the figure is then a
    /// lower bound).
    pub oracle_budget: usize,
}

impl Default for LearnOptions<'_> {
    fn default() -> Self {
        LearnOptions { tiers: Tiers::builtin(), oracle: None, modules: Vec::new(), max_samples: 5, oracle_budget: 20_000 }
    }
}

/// How much a proposal needs a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Risk {
    Low,
    Medium,
    High,
}

impl Risk {
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
        }
    }
}

/// What supports a proposal or finding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Events (folded duplicates counted).
    pub count: u64,
    pub distinct_targets: u64,
    /// Process names, sorted.
    pub processes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<DateTime<FixedOffset>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<DateTime<FixedOffset>>,
    /// A few targets (raw), sorted.
    pub samples: Vec<String>,
    /// In how many sessions it was seen ...
    pub sessions: u32,
    /// ... and which.
    pub session_names: Vec<String>,
}

/// How much a wider rule opens beyond what was observed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Widening {
    /// Existing, unobserved entries it would newly open (from the oracle), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unobserved: Option<u64>,
    /// The walk stopped at the oracle budget: `unobserved` is a lower bound.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// The most sensitive unobserved entry (tier above normal) it would open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub most_sensitive: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub most_sensitive_tier: Option<Tier>,
    /// Unobserved entries assumed by the cost model when there is no oracle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assumed: Option<f64>,
}

/// A wider or narrower choice than the proposal's own grant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alternative {
    /// `narrower` or `wider`.
    pub scope: String,
    pub grant: Grant,
    pub reason: String,
    pub widening: Widening,
}

/// "enable `docker`: covers 38 of 41 events".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleMatch {
    pub module: String,
    pub covered: u64,
    pub of: u64,
    pub text: String,
}

/// A proposed rule with everything needed to judge it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    /// Stable across runs for the same grant: `CLASS-HASH`.
    pub id: String,
    pub purpose: String,
    pub class: OpClass,
    pub grant: Grant,
    pub evidence: Evidence,
    /// One line: which choice and why.
    pub reason: String,
    pub risk: Risk,
    /// Can be accepted without review.
    pub safe: bool,
    /// The highest tier among the evidence (normal unless review).
    pub tier: Tier,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub widening: Option<Widening>,
    /// Narrow → wide.
    pub alternatives: Vec<Alternative>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<ModuleMatch>,
}

/// An observation reported but not proposed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub operation: String,
    pub target: Target,
    pub class: OpClass,
    pub evidence: Evidence,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<TierMatch>,
}

/// Accesses an explicit deny rule refuses: never proposed silently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleDenial {
    pub rule: RuleRef,
    /// `denied by rule X (file:line)`.
    pub reason: String,
    pub operations: Vec<String>,
    pub evidence: Evidence,
}

/// Totals, in events (folded duplicates counted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub events: u64,
    pub distinct: u64,
    pub already_allowed: u64,
    pub proposed: u64,
    pub denied_by_rule: u64,
    pub platform: u64,
    pub indeterminate: u64,
    pub secrets: u64,
    pub unhandled: u64,
}

/// Everything the learner concluded. Serialised as `learn --json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Learned {
    pub sessions: Vec<String>,
    pub summary: Summary,
    pub proposals: Vec<Proposal>,
    pub denied_by_rule: Vec<RuleDenial>,
    pub platform_denials: Vec<Finding>,
    pub indeterminate: Vec<Finding>,
    pub secrets: Vec<Finding>,
    /// Accesses of classes the learner does not generalise (signals, sockets, unknown ops).
    pub unhandled: Vec<Finding>,
    /// Modules that cover proposed events, best first.
    pub modules: Vec<ModuleMatch>,
}

impl Learned {
    /// The overlay for every proposal marked safe.
    pub fn safe_overlay(&self) -> String {
        let safe: Vec<Proposal> = self.proposals.iter().filter(|p| p.safe).cloned().collect();
        render_overlay(&safe)
    }
}

/// One distinct (operation, target) with its folded evidence.
#[derive(Debug, Clone)]
pub(crate) struct Observation {
    pub operation: String,
    pub target: Target,
    pub count: u64,
    /// Up to [`MAX_PROCESSES`] process indices, inline (no allocation, no extra cache miss).
    pub processes: [u32; MAX_PROCESSES],
    pub nprocesses: u8,
    /// Interned operation: compared before the strings when looking an event up.
    pub op_id: u32,
    /// The newest session this was seen in (checked inline before touching `sessions`).
    pub last_session: u32,
    pub first: Option<DateTime<FixedOffset>>,
    pub last: Option<DateTime<FixedOffset>>,
    pub sessions: Vec<u32>,
    pub platform: bool,
    /// Next observation with the same key hash ([`NO_NEXT`] ends the chain).
    pub next: u32,
}

/// Processes remembered per observation (the rest are counted in `count` only).
const MAX_PROCESSES: usize = 8;

/// Incremental accumulator: `observe` events of one or more sessions, then `learn`.
#[derive(Debug, Default)]
pub struct Learner {
    sessions: Vec<String>,
    /// Hash of (operation, target, platform) → first observation with that hash; observations
    /// with the same hash are chained through [`Observation::next`]. The keys live only in the
    /// observations: one copy, and one cache miss fewer per event than a map of strings.
    index: std::collections::HashMap<u64, u32, std::hash::BuildHasherDefault<IdentityHasher>>,
    obs: Vec<Observation>,
    processes: IndexMap<String, ()>,
    operations: IndexMap<String, ()>,
    /// The last operation seen and its index.
    last_op: Option<(String, u32)>,
    /// The last process seen and its index: consecutive events usually share it.
    last_process: Option<(String, u32)>,
}

/// For keys that already are hashes.
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct IdentityHasher(u64);

impl std::hash::Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | b as u64;
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
}

const NO_NEXT: u32 = u32::MAX;

/// A fast non-cryptographic hasher for the observation index (keys come from one local log,
/// so flooding is not a concern; SipHash dominated the cost of `observe`).
pub(crate) type FastHash = std::hash::BuildHasherDefault<FxHasher>;

/// rustc's Fx hash (see [`FastHash`]).
pub(crate) use rustc_hash::FxHasher;

impl Learner {
    pub fn new() -> Learner {
        Learner::default()
    }

    /// Start a new session; later events belong to it. A learner with no session started puts
    /// events in an implicit session named `session`.
    pub fn begin_session(&mut self, name: impl Into<String>) {
        self.sessions.push(name.into());
    }

    /// Fold one event in.
    pub fn observe(&mut self, event: &Event) {
        if self.sessions.is_empty() {
            self.sessions.push("session".into());
        }
        let session = (self.sessions.len() - 1) as u32;
        let hash = {
            use std::hash::Hasher;
            let mut h = FxHasher::default();
            h.write(event.operation.as_bytes());
            h.write_u8(event.platform_policy as u8);
            h.write(event.target.raw.as_bytes());
            h.finish()
        };
        let process = match &self.last_process {
            Some((name, i)) if *name == event.process => *i,
            _ => {
                let i = match self.processes.get_index_of(event.process.as_str()) {
                    Some(i) => i as u32,
                    None => self.processes.insert_full(event.process.clone(), ()).0 as u32,
                };
                self.last_process = Some((event.process.clone(), i));
                i
            }
        };
        let op_id = match &self.last_op {
            Some((name, i)) if *name == event.operation => *i,
            _ => {
                let i = match self.operations.get_index_of(event.operation.as_str()) {
                    Some(i) => i as u32,
                    None => self.operations.insert_full(event.operation.clone(), ()).0 as u32,
                };
                self.last_op = Some((event.operation.clone(), i));
                i
            }
        };
        let mut found = None;
        let head = self.index.get(&hash).copied();
        let mut at = head.unwrap_or(NO_NEXT);
        while at != NO_NEXT {
            let o = &self.obs[at as usize];
            if o.op_id == op_id && o.platform == event.platform_policy && o.target.raw == event.target.raw {
                found = Some(at as usize);
                break;
            }
            at = o.next;
        }
        let i = match found {
            Some(i) => i,
            None => {
                let i = self.obs.len() as u32;
                self.obs.push(Observation {
                    operation: event.operation.clone(),
                    target: event.target.clone(),
                    count: 0,
                    processes: [0; MAX_PROCESSES],
                    nprocesses: 0,
                    op_id,
                    last_session: session,
                    first: None,
                    last: None,
                    sessions: vec![session],
                    platform: event.platform_policy,
                    next: head.unwrap_or(NO_NEXT),
                });
                self.index.insert(hash, i);
                i as usize
            }
        };
        let o = &mut self.obs[i];
        o.count += event.count.max(1);
        let n = o.nprocesses as usize;
        if n < MAX_PROCESSES && !o.processes[..n].contains(&process) {
            o.processes[n] = process;
            o.nprocesses += 1;
        }
        if let Some(t) = event.time {
            if o.first.map_or(true, |f| t < f) {
                o.first = Some(t);
            }
            if o.last.map_or(true, |l| t > l) {
                o.last = Some(t);
            }
        }
        if o.last_session != session {
            o.last_session = session;
            if !o.sessions.contains(&session) {
                o.sessions.push(session);
            }
        }
    }

    /// Distinct observations so far.
    pub fn distinct(&self) -> usize {
        self.obs.len()
    }

    /// Every distinct access folded in so far (operation and target), first seen first.
    pub fn accesses(&self) -> impl Iterator<Item = (&str, &Target)> + '_ {
        self.obs.iter().map(|o| (o.operation.as_str(), &o.target))
    }

    /// The sessions begun so far.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Decide, classify, generalise and explain.
    pub fn learn(&self, policy: &dyn Decide, ctx: &SessionContext, options: &LearnOptions) -> Learned {
        let cx = Cx::new(self, ctx, options);
        cx.run(policy)
    }
}

/// Learn from complete sessions with default options.
pub fn learn(policy: &dyn Decide, ctx: &SessionContext, sessions: &[Session]) -> Learned {
    learn_with(policy, ctx, sessions, &LearnOptions::default())
}

/// Learn from complete sessions.
pub fn learn_with(policy: &dyn Decide, ctx: &SessionContext, sessions: &[Session], options: &LearnOptions) -> Learned {
    let mut learner = Learner::new();
    for s in sessions {
        learner.begin_session(s.name.clone());
        for e in &s.events {
            learner.observe(e);
        }
    }
    learner.learn(policy, ctx, options)
}

/// Everything one `learn` call shares.
pub(crate) struct Cx<'a> {
    pub learner: &'a Learner,
    pub ctx: &'a SessionContext,
    pub options: &'a LearnOptions<'a>,
    pub tiers: tiers::BoundTiers,
    pub places: places::Places,
}

/// A candidate observation for a proposal: index and tier.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    pub obs: u32,
    pub tier: Tier,
}

/// What the generalisers return before evidence and ids are attached.
pub(crate) struct Draft {
    pub class: OpClass,
    pub purpose: String,
    pub grant: Grant,
    pub covered: Vec<u32>,
    pub reason: String,
    pub risk: Risk,
    pub tier: Tier,
    pub widening: Option<Widening>,
    pub alternatives: Vec<Alternative>,
}

impl<'a> Cx<'a> {
    fn new(learner: &'a Learner, ctx: &'a SessionContext, options: &'a LearnOptions<'a>) -> Cx<'a> {
        Cx { learner, ctx, options, tiers: options.tiers.bind(ctx), places: places::Places::bind(ctx) }
    }

    pub fn obs(&self, i: u32) -> &Observation {
        &self.learner.obs[i as usize]
    }

    fn run(&self, policy: &dyn Decide) -> Learned {
        let mut out = Learned { sessions: self.learner.sessions.clone(), ..Learned::default() };
        let mut by_rule: BTreeMap<RuleRef, Vec<u32>> = BTreeMap::new();
        let mut by_class: BTreeMap<OpClass, Vec<Candidate>> = BTreeMap::new();
        // Never-tier paths per class: a wider rule must not contain them.
        let mut poison: BTreeMap<OpClass, Vec<String>> = BTreeMap::new();
        for (i, o) in self.learner.obs.iter().enumerate() {
            let i = i as u32;
            out.summary.events += o.count;
            out.summary.distinct += 1;
            let class = OpClass::of(&o.operation, &o.target);
            if o.platform {
                out.summary.platform += o.count;
                out.platform_denials.push(self.finding(
                    i,
                    class,
                    "denied by the platform policy: no profile rule can change it".into(),
                    None,
                ));
                continue;
            }
            match policy.verdict(&o.operation, &o.target) {
                PolicyVerdict::Allow => {
                    out.summary.already_allowed += o.count;
                    continue;
                }
                PolicyVerdict::Indeterminate { why } => {
                    out.summary.indeterminate += o.count;
                    out.indeterminate.push(self.finding(
                        i,
                        class,
                        format!("the policy cannot be evaluated here ({why}); such rules usually allow at run time: check with a replay"),
                        None,
                    ));
                    continue;
                }
                PolicyVerdict::Deny { rule: Some(rule) } => {
                    out.summary.denied_by_rule += o.count;
                    if let Some(p) = o.target.path_str() {
                        poison.entry(class).or_default().push(p.to_string());
                    }
                    by_rule.entry(rule).or_default().push(i);
                    continue;
                }
                PolicyVerdict::Deny { rule: None } => {}
            }
            let tier = match (class.is_path(), o.target.path_str(), o.target.name_str()) {
                (true, Some(p), _) => self.tiers.of_path(class, p),
                (false, _, Some(n)) => self.tiers.of_name(class, n),
                _ => None,
            };
            if let Some(m) = tier.as_ref().filter(|m| m.tier == Tier::Never) {
                out.summary.secrets += o.count;
                if let Some(p) = o.target.path_str() {
                    for c in [OpClass::Metadata, OpClass::Read, OpClass::Write, OpClass::Exec, OpClass::Ioctl, OpClass::UnixSocket] {
                        poison.entry(c).or_default().push(p.to_string());
                    }
                }
                let reason = format!(
                    "sensitive ({}{}): reported, never proposed",
                    if m.note.is_empty() { "never-propose tier" } else { &m.note },
                    format_args!(", `{}`", m.pattern)
                );
                out.secrets.push(self.finding(i, class, reason, Some(m.clone())));
                continue;
            }
            if class == OpClass::Other {
                out.summary.unhandled += o.count;
                out.unhandled.push(self.finding(
                    i,
                    class,
                    "no generalisation for this operation: write a rule by hand if it is needed".into(),
                    None,
                ));
                continue;
            }
            let tier = tier.map_or(Tier::Normal, |m| m.tier);
            by_class.entry(class).or_default().push(Candidate { obs: i, tier });
        }

        let mut drafts = Vec::new();
        for (class, cands) in &by_class {
            if class.is_path() {
                let empty = Vec::new();
                drafts.extend(paths::generalise(self, *class, cands, poison.get(class).unwrap_or(&empty)));
            } else {
                drafts.extend(named::generalise(self, *class, cands));
            }
        }
        let mut proposed_obs: Vec<u32> = drafts.iter().flat_map(|d| d.covered.iter().copied()).collect();
        proposed_obs.sort_unstable();
        proposed_obs.dedup();
        out.modules = self.module_totals(&proposed_obs);
        for d in drafts {
            let evidence = self.evidence(&d.covered);
            out.summary.proposed += evidence.count;
            let id = format!("{}-{:08x}", d.class.as_str(), fnv32(&d.grant.sbpl));
            let safe = d.risk == Risk::Low && d.tier == Tier::Normal;
            let module = self.module_match(&d.covered);
            out.proposals.push(Proposal {
                id,
                purpose: d.purpose,
                class: d.class,
                grant: d.grant,
                evidence,
                reason: d.reason,
                risk: d.risk,
                safe,
                tier: d.tier,
                widening: d.widening,
                alternatives: d.alternatives,
                module,
            });
        }
        out.proposals.sort_by(|a, b| {
            (purpose_rank(&a.purpose), &a.purpose, a.class, &a.grant.sbpl).cmp(&(
                purpose_rank(&b.purpose),
                &b.purpose,
                b.class,
                &b.grant.sbpl,
            ))
        });

        for (rule, obs) in by_rule {
            let mut ops: Vec<String> = obs.iter().map(|&i| self.obs(i).operation.clone()).collect();
            ops.sort();
            ops.dedup();
            let reason = format!("denied by rule `{}` ({}:{})", one_line(&rule.text), rule.file, rule.line);
            out.denied_by_rule.push(RuleDenial { evidence: self.evidence(&obs), rule, reason, operations: ops });
        }
        let key = |f: &Finding| (f.target.raw.clone(), f.operation.clone());
        out.platform_denials.sort_by_key(key);
        out.indeterminate.sort_by_key(key);
        out.secrets.sort_by_key(key);
        out.unhandled.sort_by_key(key);
        out
    }

    fn finding(&self, i: u32, class: OpClass, reason: String, tier: Option<TierMatch>) -> Finding {
        let o = self.obs(i);
        Finding { operation: o.operation.clone(), target: o.target.clone(), class, evidence: self.evidence(&[i]), reason, tier }
    }

    /// Fold the evidence of observations.
    pub fn evidence(&self, obs: &[u32]) -> Evidence {
        let mut e = Evidence::default();
        let mut processes = std::collections::BTreeSet::new();
        let mut sessions = std::collections::BTreeSet::new();
        // Observations are distinct (operation, target); targets repeat across operations.
        let mut targets: std::collections::HashSet<&str, FastHash> = Default::default();
        let mut samples: Vec<&str> = Vec::with_capacity(self.options.max_samples + 1);
        for &i in obs {
            let o = self.obs(i);
            e.count += o.count;
            for &p in &o.processes[..o.nprocesses as usize] {
                processes.insert(p);
            }
            for &s in &o.sessions {
                sessions.insert(s);
            }
            if let Some(t) = o.first {
                if e.first_seen.map_or(true, |f| t < f) {
                    e.first_seen = Some(t);
                }
            }
            if let Some(t) = o.last {
                if e.last_seen.map_or(true, |l| t > l) {
                    e.last_seen = Some(t);
                }
            }
            let raw = o.target.raw.as_str();
            if targets.insert(raw) {
                // Keep the smallest few, sorted: deterministic whatever the input order.
                let max = self.options.max_samples;
                if samples.len() < max || samples.last().is_some_and(|l| raw < *l) {
                    let at = samples.partition_point(|s| *s < raw);
                    samples.insert(at, raw);
                    samples.truncate(max);
                }
            }
        }
        e.distinct_targets = targets.len() as u64;
        e.samples = samples.into_iter().map(str::to_string).collect();
        let mut names: Vec<String> =
            processes.into_iter().map(|p| self.learner.processes.get_index(p as usize).unwrap().0.clone()).collect();
        names.sort();
        names.dedup();
        e.processes = names;
        e.sessions = sessions.len() as u32;
        e.session_names = sessions.into_iter().map(|s| self.learner.sessions[s as usize].clone()).collect();
        e
    }

    fn module_match(&self, covered: &[u32]) -> Option<ModuleMatch> {
        let total: u64 = covered.iter().map(|&i| self.obs(i).count).sum();
        let mut best: Option<ModuleMatch> = None;
        for m in &self.options.modules {
            let hit: u64 = covered
                .iter()
                .filter(|&&i| matches!(m.policy.verdict(&self.obs(i).operation, &self.obs(i).target), PolicyVerdict::Allow))
                .map(|&i| self.obs(i).count)
                .sum();
            // Offer a module only when it covers most of the cluster.
            if hit * 5 >= total * 4 && hit > 0 && best.as_ref().map_or(true, |b| hit > b.covered) {
                best = Some(ModuleMatch {
                    module: m.name.clone(),
                    covered: hit,
                    of: total,
                    text: format!("enable `{}`: covers {} of {} events", m.name, hit, total),
                });
            }
        }
        best
    }

    /// Per module: how many of all proposed events base + module allows.
    fn module_totals(&self, proposed: &[u32]) -> Vec<ModuleMatch> {
        let of: u64 = proposed.iter().map(|&i| self.obs(i).count).sum();
        let mut out = Vec::new();
        for m in &self.options.modules {
            let covered: u64 = proposed
                .iter()
                .filter(|&&i| matches!(m.policy.verdict(&self.obs(i).operation, &self.obs(i).target), PolicyVerdict::Allow))
                .map(|&i| self.obs(i).count)
                .sum();
            if covered > 0 {
                out.push(ModuleMatch {
                    module: m.name.clone(),
                    covered,
                    of,
                    text: format!("enable `{}`: covers {covered} of {of} proposed events", m.name),
                });
            }
        }
        out.sort_by(|a, b| b.covered.cmp(&a.covered).then_with(|| a.module.cmp(&b.module)));
        out
    }
}

/// Order of purpose groups in proposals and the overlay.
fn purpose_rank(purpose: &str) -> usize {
    const ORDER: &[&str] = &[
        "agent state",
        "node toolchain",
        "python toolchain",
        "rust toolchain",
        "go toolchain",
        "homebrew packages",
        "caches",
        "git",
        "workdir",
        "temp",
        "home files",
        "preferences",
        "system files",
        "devices",
        "network",
        "mach services",
        "system info",
        "ipc",
        "iokit",
    ];
    ORDER.iter().position(|p| *p == purpose).unwrap_or(ORDER.len())
}

fn one_line(s: &str) -> String {
    let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 120 {
        let cut: String = s.chars().take(117).collect();
        format!("{cut}...")
    } else {
        s
    }
}

/// FNV-1a, 32 bits: stable ids across runs and platforms.
pub(crate) fn fnv32(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// `1,214`.
pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests;
