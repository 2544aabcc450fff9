//! The compiled policy: per-operation rule lists with their fallbacks (reference §7), indexed
//! for fast decisions, and the decision itself with the rule that made it.
//!
//! Precedence, as libsandbox builds it: each operation has a list of filtered rules (the newest
//! matching one wins) and a fallback: a fixed decision (built-in, or the last unfiltered rule
//! written for it) or its parent operation. A check walks the operation's list, then its
//! fallback, up the chain to `default`. So a rule on `file-read-data` beats any rule on
//! `file-read*` whatever their order, and an unfiltered rule never beats a filtered one.
//!
//! Unknown filters (see [`super::filter`]) and unresolved imports make some rules "maybe":
//! a decision is [`Verdict::Indeterminate`] when a maybe-rule met before the deciding one could
//! have decided the other way.

use indexmap::IndexMap;
use serde::Serialize;

use crate::event::Action;
use crate::target::{Target, TargetKind};

use super::filter::{Filter, Matcher, Query, Tri};
use super::ops::{Fallback, OpId, Operations};
use super::Modifiers;

/// Index of a rule in [`Policy::rules`].
pub type RuleId = usize;

/// Where a rule came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleOrigin {
    /// Source file name (as given), or `<implicit>` for the rules libsandbox adds itself.
    pub file: String,
    /// 1-based line of the rule's `(allow`/`(deny` (0 for implicit rules).
    pub line: u32,
    pub col: u32,
    /// The rule's source text (for implicit rules, its rendering).
    pub text: String,
    /// The nearest preceding `;; Source: <module>` marker in that file (generated Safehouse
    /// policies carry one per module), if any.
    pub layer: Option<String>,
}

/// One evaluated `(allow ...)` or `(deny ...)`.
#[derive(Debug, Clone)]
pub struct Rule {
    pub action: Action,
    /// Canonical operation names (aliases resolved), in the order written.
    pub operations: Vec<String>,
    /// `None` for an unfiltered rule (it replaces its operations' fallbacks).
    pub filter: Option<Filter>,
    pub modifiers: Modifiers,
    pub origin: RuleOrigin,
    /// Added by the library's finalizer, not written in the profile.
    pub implicit: bool,
}

/// Something in the profile whose effect is unknown here (an `(import ...)` of an OS profile).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnknownEffect {
    pub what: String,
    pub file: String,
    pub line: u32,
    pub col: u32,
}

/// A compile-time warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub file: String,
    pub line: u32,
    pub col: u32,
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}: warning: {}", self.file, self.line, self.col, self.message)
    }
}

/// The answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allow,
    Deny,
    /// It depends on something the request does not say (an unknown filter, an unresolved import).
    Indeterminate,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
            Verdict::Indeterminate => "indeterminate",
        }
    }
}

impl From<Action> for Verdict {
    fn from(a: Action) -> Verdict {
        match a {
            Action::Allow => Verdict::Allow,
            Action::Deny => Verdict::Deny,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What decided when no rule of the operation chain matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Fallthrough {
    /// The `default` operation: `rule` is the `(deny default)`/`(allow default)` that set it, if any.
    Default { rule: Option<RuleId> },
    /// A built-in terminal decision of this operation (reference §4.2), e.g. `process-info*`.
    BuiltIn { operation: String },
}

/// Something that might have decided differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Uncertainty {
    /// A rule whose filter is unknown for this request.
    Rule { rule: RuleId },
    /// An unresolved import (index into [`Policy::unknown_effects`]).
    Import { effect: usize },
}

/// A decision with its attribution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    /// The deciding rule: a matching filtered rule or an operation's unfiltered rule. `None` when
    /// the decision came from `default` or a built-in (see `fallthrough`), or is indeterminate
    /// with no definite rule.
    pub rule: Option<RuleId>,
    /// The operation whose rules (or fallback) decided, e.g. `file-read*` for a `file-read-data`
    /// request decided by a `file-read*` rule.
    pub operation: String,
    /// Set when no rule decided.
    pub fallthrough: Option<Fallthrough>,
    /// Rules and imports met before the decision that could have changed it.
    pub uncertain: Vec<Uncertainty>,
}

/// Entry of an operation's list: a filtered rule or an unresolved import at that position.
#[derive(Debug, Clone, Copy)]
enum Entry {
    Rule(RuleId),
    Effect(usize),
}

/// The fallback of an operation after the profile: built-in, or set by an unfiltered rule.
#[derive(Debug, Clone, Copy)]
enum FallbackState {
    BuiltIn(Fallback),
    Rule(RuleId, Action),
}

use super::ops::FastMap;

/// Per path string: the newest list position of a `literal` and of a `subpath` on it.
#[derive(Debug, Clone, Copy)]
struct PathHits {
    literal: i32,
    subpath: i32,
}

/// An operation's rules, with an index over the simple path filters.
struct OpList {
    entries: Vec<Entry>,
    fallback: FallbackState,
    /// An unresolved import came after the fallback was last set: it may have changed it.
    fallback_effect: Option<usize>,
    paths: FastMap<Box<str>, PathHits>,
    prefixes: Vec<(Box<str>, i32)>,
    /// Leaves that need full evaluation, newest position first.
    complex: Vec<(i32, Filter)>,
}

impl OpList {
    fn new(fallback: Fallback) -> OpList {
        OpList {
            entries: Vec::new(),
            fallback: FallbackState::BuiltIn(fallback),
            fallback_effect: None,
            paths: FastMap::default(),
            prefixes: Vec::new(),
            complex: Vec::new(),
        }
    }

    fn build_index(&mut self, rules: &[Rule]) {
        for (pos, entry) in self.entries.iter().enumerate() {
            let pos = pos as i32;
            match entry {
                Entry::Effect(_) => self.complex.push((pos, Filter::Const(Tri::Unknown))),
                Entry::Rule(id) => {
                    let Some(filter) = &rules[*id].filter else { continue };
                    let leaves: Vec<&Filter> = match filter {
                        Filter::Any(fs) => fs.iter().collect(),
                        f => vec![f],
                    };
                    for leaf in leaves {
                        match leaf {
                            Filter::Path(Matcher::Literal(p)) => {
                                let e = self.paths.entry(p.as_str().into()).or_insert(PathHits { literal: -1, subpath: -1 });
                                e.literal = e.literal.max(pos);
                            }
                            Filter::Path(Matcher::Subpath(p)) => {
                                let key = if p == "/" { "/" } else { p.trim_end_matches('/') };
                                if key.is_empty() {
                                    self.complex.push((pos, leaf.clone()));
                                    continue;
                                }
                                let e = self.paths.entry(key.into()).or_insert(PathHits { literal: -1, subpath: -1 });
                                e.subpath = e.subpath.max(pos);
                            }
                            Filter::Path(Matcher::Prefix(p)) => self.prefixes.push((p.as_str().into(), pos)),
                            other => self.complex.push((pos, other.clone())),
                        }
                    }
                }
            }
        }
        self.complex.sort_by_key(|c| std::cmp::Reverse(c.0));
        self.prefixes.sort_by_key(|p| std::cmp::Reverse(p.1));
    }

    /// Scan this list for `q`: the newest definitely matching position, and the positions newer
    /// than it whose match is unknown.
    fn scan(&self, q: &Query<'_>, rules: &[Rule], unknown: &mut Vec<i32>) -> i32 {
        if self.entries.is_empty() {
            return -1;
        }
        let path = match &q.target.kind {
            TargetKind::Path { path } | TargetKind::UnixSocket { path } | TargetKind::Ioctl { path, .. } => Some(path.as_str()),
            TargetKind::Other => return self.scan_slow(q, rules, unknown),
            _ => None,
        };
        let mut best = -1i32;
        if let Some(path) = path {
            if let Some(h) = self.paths.get(path) {
                best = best.max(h.literal).max(h.subpath);
            }
            // Every ancestor at a `/` boundary, and `/` itself.
            let bytes = path.as_bytes();
            for i in (0..bytes.len()).rev() {
                if bytes[i] == b'/' {
                    let key = if i == 0 { "/" } else { &path[..i] };
                    if let Some(h) = self.paths.get(key) {
                        best = best.max(h.subpath);
                    }
                }
            }
            for (p, pos) in &self.prefixes {
                if *pos <= best {
                    break;
                }
                if path.starts_with(&**p) {
                    best = *pos;
                    break;
                }
            }
        }
        for (pos, f) in &self.complex {
            if *pos <= best {
                break;
            }
            match f.eval(q) {
                Tri::True => {
                    best = *pos;
                    break;
                }
                Tri::Unknown => unknown.push(*pos),
                Tri::False => {}
            }
        }
        unknown.retain(|p| *p > best);
        unknown.dedup();
        best
    }

    /// The plain algorithm, for targets the index cannot serve.
    fn scan_slow(&self, q: &Query<'_>, rules: &[Rule], unknown: &mut Vec<i32>) -> i32 {
        for (pos, entry) in self.entries.iter().enumerate().rev() {
            let t = match entry {
                Entry::Effect(_) => Tri::Unknown,
                Entry::Rule(id) => rules[*id].filter.as_ref().map_or(Tri::True, |f| f.eval(q)),
            };
            match t {
                Tri::True => return pos as i32,
                Tri::Unknown => unknown.push(pos as i32),
                Tri::False => {}
            }
        }
        -1
    }
}

/// A compiled policy.
pub struct Policy {
    pub(crate) rules: Vec<Rule>,
    pub(crate) warnings: Vec<Warning>,
    pub(crate) unknown_effects: Vec<UnknownEffect>,
    pub(crate) params_used: IndexMap<String, bool>,
    ops: Operations,
    lists: Vec<OpList>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy").field("rules", &self.rules.len()).field("warnings", &self.warnings).finish()
    }
}

/// A rule as handed to [`Policy::build`]: the rule and its operation ids.
pub(crate) struct Built {
    pub rule: Rule,
    pub ops: Vec<OpId>,
}

impl Policy {
    /// Index rules (in order) and unknown effects (with the number of rules before each).
    pub(crate) fn build(
        ops: Operations,
        built: Vec<Built>,
        effects: Vec<(usize, UnknownEffect)>,
        warnings: Vec<Warning>,
        params_used: IndexMap<String, bool>,
    ) -> Policy {
        let mut lists: Vec<OpList> = (0..ops.len()).map(|id| OpList::new(ops.builtin_fallback(id))).collect();
        let mut effect_iter = effects.iter().enumerate().peekable();
        let mut rules = Vec::with_capacity(built.len());
        let apply_effect = |lists: &mut Vec<OpList>, idx: usize| {
            for list in lists.iter_mut() {
                list.entries.push(Entry::Effect(idx));
                list.fallback_effect = Some(idx);
            }
        };
        for (id, b) in built.into_iter().enumerate() {
            while let Some((idx, _)) = effect_iter.next_if(|(_, (position, _))| *position <= id) {
                apply_effect(&mut lists, idx);
            }
            for &op in &b.ops {
                let list = &mut lists[op];
                if b.rule.filter.is_some() {
                    list.entries.push(Entry::Rule(id));
                } else {
                    list.fallback = FallbackState::Rule(id, b.rule.action);
                    list.fallback_effect = None;
                }
            }
            rules.push(b.rule);
        }
        for (idx, _) in effect_iter {
            apply_effect(&mut lists, idx);
        }
        for list in &mut lists {
            list.build_index(&rules);
        }
        let unknown_effects = effects.into_iter().map(|(_, e)| e).collect();
        Policy { rules, warnings, unknown_effects, params_used, ops, lists }
    }

    /// Every evaluated rule, in source order (implicit rules last). [`RuleId`] indexes this.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn rule(&self, id: RuleId) -> &Rule {
        &self.rules[id]
    }

    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Unresolved imports (their effects make some decisions indeterminate).
    pub fn unknown_effects(&self) -> &[UnknownEffect] {
        &self.unknown_effects
    }

    /// Parameters the profile asked for with `(param ...)`, and whether each was given.
    pub fn params_used(&self) -> &IndexMap<String, bool> {
        &self.params_used
    }

    /// The distinct operations the profile's rules name (sorted).
    pub fn operations(&self) -> Vec<&str> {
        let mut v: Vec<&str> =
            self.rules.iter().filter(|r| !r.implicit).flat_map(|r| r.operations.iter().map(|s| s.as_str())).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Is `name` an operation this engine knows (or an alias of one)?
    pub fn is_known_operation(&self, name: &str) -> bool {
        self.ops.resolve(name).is_some()
    }

    /// The chain of operations a check of `operation` consults, ending where a fixed decision is.
    pub fn operation_chain(&self, operation: &str) -> Vec<String> {
        let (_, start) = self.ops.lookup_or_parent(operation);
        let mut out: Vec<String> = Vec::new();
        if self.ops.resolve(operation).is_none() {
            out.push(operation.to_string());
        }
        out.extend(self.ops.chain(start).map(|o| self.ops.name(o).to_string()));
        out
    }

    /// Decide `operation` on `target` (the leaf operation a log line names, and its argument).
    pub fn decide(&self, operation: &str, target: &Target) -> Decision {
        let q = Query { operation, target };
        let (_, start) = self.ops.lookup_or_parent(operation);
        // Possible outcomes seen so far from maybe-rules: (allow possible, deny possible).
        let mut maybe_allow = false;
        let mut maybe_deny = false;
        let mut uncertain: Vec<Uncertainty> = Vec::new();
        let mut unknown_positions: Vec<i32> = Vec::new();
        let note = |e: &Entry, uncertain: &mut Vec<Uncertainty>, ma: &mut bool, md: &mut bool| match e {
            Entry::Rule(id) => {
                match self.rules[*id].action {
                    Action::Allow => *ma = true,
                    Action::Deny => *md = true,
                }
                uncertain.push(Uncertainty::Rule { rule: *id });
            }
            Entry::Effect(idx) => {
                *ma = true;
                *md = true;
                if !uncertain.contains(&Uncertainty::Import { effect: *idx }) {
                    uncertain.push(Uncertainty::Import { effect: *idx });
                }
            }
        };
        let finish = |action: Action, rule: Option<RuleId>, op: OpId, fallthrough: Option<Fallthrough>, uncertain: Vec<Uncertainty>, ma: bool, md: bool| {
            let conflicting = match action {
                Action::Allow => md,
                Action::Deny => ma,
            };
            Decision {
                verdict: if conflicting { Verdict::Indeterminate } else { action.into() },
                rule,
                operation: self.ops.name(op).to_string(),
                fallthrough,
                uncertain,
            }
        };
        for op in self.ops.chain(start) {
            let list = &self.lists[op];
            unknown_positions.clear();
            let best = list.scan(&q, &self.rules, &mut unknown_positions);
            unknown_positions.sort_unstable_by(|a, b| b.cmp(a));
            for &pos in &unknown_positions {
                note(&list.entries[pos as usize], &mut uncertain, &mut maybe_allow, &mut maybe_deny);
            }
            if best >= 0 {
                match list.entries[best as usize] {
                    Entry::Rule(id) => {
                        let action = self.rules[id].action;
                        return finish(action, Some(id), op, None, uncertain, maybe_allow, maybe_deny);
                    }
                    Entry::Effect(_) => unreachable!("unresolved imports never match definitely"),
                }
            }
            if let Some(idx) = list.fallback_effect {
                note(&Entry::Effect(idx), &mut uncertain, &mut maybe_allow, &mut maybe_deny);
            }
            match list.fallback {
                FallbackState::Rule(id, action) => {
                    if op == self.ops.default_op() {
                        return finish(action, None, op, Some(Fallthrough::Default { rule: Some(id) }), uncertain, maybe_allow, maybe_deny);
                    }
                    return finish(action, Some(id), op, None, uncertain, maybe_allow, maybe_deny);
                }
                FallbackState::BuiltIn(Fallback::Fixed(action)) => {
                    let ft = if op == self.ops.default_op() {
                        Fallthrough::Default { rule: None }
                    } else {
                        Fallthrough::BuiltIn { operation: self.ops.name(op).to_string() }
                    };
                    return finish(action, None, op, Some(ft), uncertain, maybe_allow, maybe_deny);
                }
                FallbackState::BuiltIn(Fallback::Parent(_)) => {}
            }
        }
        // The chain always ends in a fixed fallback; reaching here means a malformed table.
        finish(Action::Deny, None, self.ops.default_op(), Some(Fallthrough::Default { rule: None }), uncertain, maybe_allow, maybe_deny)
    }

    /// The rendered filter (one of the rule's alternatives) that matched `target`, for
    /// attribution; `None` for unfiltered rules or when nothing matches definitely.
    pub fn matching_filter(&self, rule: RuleId, operation: &str, target: &Target) -> Option<String> {
        let q = Query { operation, target };
        let filter = self.rules.get(rule)?.filter.as_ref()?;
        let leaves: Vec<&Filter> = match filter {
            Filter::Any(fs) => fs.iter().collect(),
            f => vec![f],
        };
        leaves.into_iter().find(|f| f.eval(&q) == Tri::True).map(super::render::filter)
    }
}
