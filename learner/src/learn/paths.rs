//! Path generalisation: observed paths of one operation class in a trie, and an explicit cost
//! model that chooses, per directory, between covering it with one wider rule and keeping the
//! narrower rules below it.
//!
//! ## The cost model
//!
//! Every rule costs [`RULE`]. A wider rule (subpath, or a regex over volatile names) at directory
//! `N` also costs, for each *unobserved* location it would open,
//! `class weight × place weight` (× 10 in a review-tier region):
//!
//! - class weight: metadata 0.1, read 1, write/exec/socket 2 ([`OpClass::open_weight`]);
//! - place weight: stores (caches, package stores, build outputs, agent state) 0.01, temp roots
//!   and per-run (volatile) directories 0.05, anything else 1.
//!
//! Unobserved locations are counted by the [`super::FsOracle`] when there is one; otherwise the
//! model assumes `2 + L/2` for `L` distinct observed targets (a directory is taken to hold some
//! more than was seen). Leaving a store or per-run directory uncovered costs [`MISS`]: the next
//! session will touch names this one did not. Then
//!
//! `best(N) = min(cover(N), Σ best(child) + [RULE if N itself was accessed] + miss(N))`
//!
//! with `cover(N)` only allowed when `N` is a directory, not a shared root (HOME, `/etc`,
//! `~/Library`, ... see `places.txt`), contains no never-tier or explicitly denied location, and
//! reaches no higher tier than its evidence. So hundreds of files in HOME or `/etc` stay literals,
//! while `~/.npm/_cacache/...` becomes `(home-subpath "/.npm")`.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use regex::Regex;

use super::class::OpClass;
use super::glob::is_within;
use super::grant::{anchor_path, Anchor, Filter, Grant, PathMatch};
use super::tiers::Tier;
use super::volatile::{regex_escape, template};
use super::{thousands, Alternative, Candidate, Cx, Draft, Risk, Widening};

/// The cost of one rule.
pub const RULE: f64 = 1.0;
/// The cost of leaving a churning directory (store, per-run names) uncovered.
pub const MISS: f64 = 2.0;
/// Place weight of an unobserved location inside a store.
pub const STORE_WEIGHT: f64 = 0.01;
/// Place weight of an unobserved location in a temp root or per-run directory.
pub const SCRATCH_WEIGHT: f64 = 0.05;
/// Multiplier for unobserved locations in a review-tier region.
pub const REVIEW_FACTOR: f64 = 10.0;

/// Alternatives listing more filters than this are not offered.
pub const MAX_ALTERNATIVE_FILTERS: usize = 256;

/// Unobserved locations assumed under a directory with `distinct` observed targets, without an oracle.
pub fn assumed_unobserved(distinct: u64) -> f64 {
    2.0 + distinct as f64 / 2.0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Ordinary,
    Store,
    Scratch,
}

#[derive(Debug)]
struct Node {
    /// Literal name, or the template key for a volatile component.
    key: String,
    /// Regex fragment for a volatile component.
    volatile: Option<String>,
    parent: u32,
    /// Sorted by key once the trie is built.
    children: Vec<u32>,
    /// Next node with the same (parent, key) hash in [`Trie::child_index`].
    next_same_hash: u32,
    /// Candidates (indices into `cands`) whose path ends here.
    leaves: Vec<u32>,
    poisoned: bool,
    // Filled bottom-up.
    distinct: u64,
    tier: Tier,
    // Filled top-down.
    path: String,
    volatile_on_path: bool,
    place: Place,
    store_purpose: Option<String>,
    stable: u32,
}

enum Choice {
    Cover,
    Split,
}

struct Trie<'c, 'a> {
    cx: &'c Cx<'a>,
    class: OpClass,
    nodes: Vec<Node>,
    best: Vec<f64>,
    choice: Vec<Choice>,
    widening: BTreeMap<u32, Widening>,
    observed: Option<HashSet<String>>,
    /// hash(parent, key) → newest child with that hash (chained through `next_same_hash`).
    child_index: std::collections::HashMap<u64, u32, std::hash::BuildHasherDefault<super::IdentityHasher>>,
    /// Cached [`super::tiers::BoundTiers::within`] per node (`None` = not computed yet).
    within: Vec<Option<Option<super::tiers::TierMatch>>>,
}

fn child_hash(parent: u32, key: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = super::FxHasher::default();
    h.write_u64(parent as u64);
    h.write(key.as_bytes());
    h.finish()
}

/// Generalise the candidates of one path class into drafts.
pub(crate) fn generalise(cx: &Cx, class: OpClass, cands: &[Candidate], poison: &[String]) -> Vec<Draft> {
    let mut trie = Trie::build(cx, class, cands, poison);
    trie.annotate(cands);
    trie.decide();
    trie.drafts(cands)
}

impl<'c, 'a> Trie<'c, 'a> {
    fn build(cx: &'c Cx<'a>, class: OpClass, cands: &[Candidate], poison: &[String]) -> Trie<'c, 'a> {
        let root = Node {
            key: String::new(),
            volatile: None,
            parent: 0,
            children: Vec::new(),
            next_same_hash: u32::MAX,
            leaves: Vec::new(),
            poisoned: false,
            distinct: 0,
            tier: Tier::Normal,
            path: "/".into(),
            volatile_on_path: false,
            place: Place::Ordinary,
            store_purpose: None,
            stable: 0,
        };
        let mut trie = Trie {
            cx,
            class,
            nodes: vec![root],
            best: Vec::new(),
            choice: Vec::new(),
            widening: BTreeMap::new(),
            observed: None,
            child_index: Default::default(),
            within: Vec::new(),
        };
        let roots: Vec<String> = cx
            .ctx
            .home
            .iter()
            .chain(cx.ctx.workdir.iter())
            .chain(cx.ctx.temp_roots.iter())
            .map(|r| super::places::normalise_dir(r))
            .collect();
        for (ci, c) in cands.iter().enumerate() {
            let path = cx.obs(c.obs).target.path_str().expect("path class");
            let node = trie.insert(path, &roots);
            trie.nodes[node as usize].leaves.push(ci as u32);
        }
        for p in poison {
            let node = trie.insert(p, &roots);
            trie.nodes[node as usize].poisoned = true;
        }
        trie.child_index = Default::default();
        for i in 0..trie.nodes.len() {
            let mut children = std::mem::take(&mut trie.nodes[i].children);
            children.sort_by(|a, b| trie.nodes[*a as usize].key.cmp(&trie.nodes[*b as usize].key));
            trie.nodes[i].children = children;
        }
        trie.within = vec![None; trie.nodes.len()];
        trie
    }

    fn insert(&mut self, path: &str, roots: &[String]) -> u32 {
        // Components inside a session root (HOME, workdir, temp) are never volatile: they are
        // the same in the next session by definition.
        let literal_upto = roots.iter().filter(|r| is_within(path, r)).map(|r| r.len()).max().unwrap_or(0);
        let mut node = 0u32;
        let mut offset = 0usize;
        for comp in path.split('/') {
            let start = offset;
            offset += comp.len() + 1;
            if comp.is_empty() {
                continue;
            }
            let t = if start + comp.len() <= literal_upto { None } else { template(comp) };
            let (key, volatile) = match t {
                Some(t) => (t.key, Some(t.regex)),
                None => (comp.to_string(), None),
            };
            let hash = child_hash(node, &key);
            let head = self.child_index.get(&hash).copied();
            let mut at = head.unwrap_or(u32::MAX);
            while at != u32::MAX {
                let n = &self.nodes[at as usize];
                if n.parent == node && n.key == key {
                    break;
                }
                at = n.next_same_hash;
            }
            let next = if at != u32::MAX {
                at
            } else {
                let n = self.nodes.len() as u32;
                self.nodes.push(Node {
                        key,
                        volatile,
                        parent: node,
                        children: Vec::new(),
                        next_same_hash: head.unwrap_or(u32::MAX),
                        leaves: Vec::new(),
                        poisoned: false,
                        distinct: 0,
                        tier: Tier::Normal,
                        path: String::new(),
                        volatile_on_path: false,
                        place: Place::Ordinary,
                        store_purpose: None,
                        stable: 0,
                });
                self.child_index.insert(hash, n);
                self.nodes[node as usize].children.push(n);
                n
            };
            node = next;
        }
        node
    }

    /// Paths, places and (bottom-up) counts, tiers and poison.
    fn annotate(&mut self, cands: &[Candidate]) {
        // Nodes are created parents-first, so index order is a valid top-down order.
        for i in 1..self.nodes.len() {
            let parent = self.nodes[i].parent as usize;
            let (ppath, pvol, pplace, ppurpose, pstable) = {
                let p = &self.nodes[parent];
                (p.path.clone(), p.volatile_on_path, p.place, p.store_purpose.clone(), p.stable)
            };
            let path = if ppath == "/" { format!("/{}", self.nodes[i].key) } else { format!("{ppath}/{}", self.nodes[i].key) };
            let volatile_here = self.nodes[i].volatile.is_some();
            let n = &mut self.nodes[i];
            n.volatile_on_path = pvol || volatile_here;
            n.stable = if n.volatile_on_path { pstable } else { i as u32 };
            n.place = pplace;
            n.store_purpose = ppurpose;
            if volatile_here && n.place == Place::Ordinary {
                n.place = Place::Scratch;
            }
            if !n.volatile_on_path {
                if let Some(purpose) = self.cx.places.store_at(&path) {
                    n.place = if purpose == "temp" { Place::Scratch } else { Place::Store };
                    n.store_purpose = Some(purpose.to_string());
                }
            }
            n.path = path;
        }
        for i in (0..self.nodes.len()).rev() {
            let (distinct, tier, poisoned) = {
                let n = &self.nodes[i];
                let mut distinct = 0u64;
                let mut tier = n.leaves.iter().map(|&ci| cands[ci as usize].tier).max().unwrap_or(Tier::Normal);
                distinct += n.leaves.len() as u64;
                let mut poisoned = n.poisoned;
                for &c in n.children.iter() {
                    let c = &self.nodes[c as usize];
                    distinct += c.distinct;
                    tier = tier.max(c.tier);
                    poisoned |= c.poisoned;
                }
                (distinct, tier, poisoned)
            };
            let n = &mut self.nodes[i];
            n.distinct = distinct;
            n.tier = n.tier.max(tier);
            n.poisoned = poisoned;
        }
    }

    fn leaf_tier(&self, cands: &[Candidate], node: u32) -> Tier {
        self.nodes[node as usize].leaves.iter().map(|&ci| cands[ci as usize].tier).max().unwrap_or(Tier::Normal)
    }

    /// Is a wider rule at `node` allowed at all? `Err` says why not.
    fn coverable(&mut self, node: u32) -> Result<(), String> {
        let n = &self.nodes[node as usize];
        if node == 0 {
            return Err("the file-system root".into());
        }
        if n.children.is_empty() {
            return Err("not a directory".into());
        }
        if self.class == OpClass::UnixSocket {
            return Err("sockets are granted one by one".into());
        }
        if self.cx.places.is_shared(&n.path) {
            return Err(format!("{} is a shared root", self.display(&n.path)));
        }
        if n.poisoned {
            return Err("it contains a sensitive or explicitly denied location that was accessed".into());
        }
        let evidence_tier = n.tier;
        if evidence_tier >= Tier::Review {
            return Err("review-tier locations are granted one by one".into());
        }
        if let Some(m) = self.within_of(node) {
            if m.tier > evidence_tier {
                return Err(format!("it would reach {} ({}-tier `{}`)", m.note, m.tier.as_str(), m.pattern));
            }
        }
        if self.cx.options.oracle.is_some() {
            let w = self.widen(node);
            if let (Some(t), Some(p)) = (w.most_sensitive_tier, &w.most_sensitive) {
                if t > evidence_tier {
                    return Err(format!("it would open {} ({}-tier)", self.display(p), t.as_str()));
                }
            }
        }
        Ok(())
    }

    /// The highest tier a cover at `node` could reach by pattern (cached).
    fn within_of(&mut self, node: u32) -> Option<super::tiers::TierMatch> {
        if let Some(w) = &self.within[node as usize] {
            return w.clone();
        }
        let stable = self.nodes[node as usize].stable;
        let w = self.cx.tiers.within(self.class, &self.nodes[stable as usize].path);
        self.within[node as usize] = Some(w.clone());
        w
    }

    fn place_weight(&self, node: u32) -> f64 {
        match self.nodes[node as usize].place {
            Place::Store => STORE_WEIGHT,
            Place::Scratch => SCRATCH_WEIGHT,
            Place::Ordinary => 1.0,
        }
    }

    /// Unobserved locations a cover at `node` opens: counted by the oracle, else assumed.
    fn unobserved(&mut self, node: u32) -> (f64, Widening) {
        if self.cx.options.oracle.is_some() {
            let w = self.widen(node);
            (w.unobserved.unwrap_or(0) as f64, w)
        } else {
            let a = assumed_unobserved(self.nodes[node as usize].distinct);
            (a, Widening { assumed: Some(a), ..Widening::default() })
        }
    }

    fn cover_cost(&mut self, node: u32) -> (f64, Widening) {
        let (u, w) = self.unobserved(node);
        let mut weight = self.class.open_weight() * self.place_weight(node);
        let n = &self.nodes[node as usize];
        if n.tier >= Tier::Review || self.within_of(node).is_some_and(|m| m.tier >= Tier::Review) {
            weight *= REVIEW_FACTOR;
        }
        (RULE + weight * u, w)
    }

    fn miss_cost(&self, node: u32) -> f64 {
        let n = &self.nodes[node as usize];
        if node != 0 && n.place != Place::Ordinary && !n.children.is_empty() {
            MISS
        } else {
            0.0
        }
    }

    fn decide(&mut self) {
        let len = self.nodes.len();
        self.best = vec![0.0; len];
        self.choice = (0..len).map(|_| Choice::Split).collect();
        for i in (0..len).rev() {
            let node = i as u32;
            let n = &self.nodes[i];
            let mut split: f64 = n.children.iter().map(|&c| self.best[c as usize]).sum();
            if !n.leaves.is_empty() {
                split += RULE;
            }
            split += self.miss_cost(node);
            let mut best = split;
            let mut choice = Choice::Split;
            if !self.nodes[i].children.is_empty() && self.coverable(node).is_ok() {
                let (cost, _) = self.cover_cost(node);
                if cost < split {
                    best = cost;
                    choice = Choice::Cover;
                }
            }
            self.best[i] = best;
            self.choice[i] = choice;
        }
    }

    /// The chosen rules, as drafts.
    fn drafts(&mut self, cands: &[Candidate]) -> Vec<Draft> {
        let mut covers = Vec::new();
        let mut literal_groups: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        let mut stack = vec![0u32];
        while let Some(node) = stack.pop() {
            let n = &self.nodes[node as usize];
            if matches!(self.choice[node as usize], Choice::Cover) {
                covers.push(node);
                continue;
            }
            if !n.leaves.is_empty() {
                literal_groups.entry(if node == 0 { 0 } else { n.parent }).or_default().push(node);
            }
            for &c in n.children.iter().rev() {
                stack.push(c);
            }
        }
        let mut out = Vec::new();
        for node in covers {
            out.push(self.cover_draft(node, cands));
        }
        for (parent, leaves) in literal_groups {
            out.extend(self.literal_drafts(parent, &leaves, cands));
        }
        out
    }

    fn subtree_leaves(&self, node: u32, out: &mut Vec<u32>) {
        let mut stack = vec![node];
        while let Some(n) = stack.pop() {
            let n = &self.nodes[n as usize];
            out.extend(n.leaves.iter().copied());
            stack.extend(n.children.iter().copied());
        }
    }

    fn subtree_leaf_nodes(&self, node: u32, out: &mut Vec<u32>) {
        let mut stack = vec![node];
        while let Some(n) = stack.pop() {
            let nn = &self.nodes[n as usize];
            if !nn.leaves.is_empty() {
                out.push(n);
            }
            stack.extend(nn.children.iter().copied());
        }
        out.sort();
    }

    fn operations(&self, covered: &[u32], cands: &[Candidate]) -> Vec<String> {
        let seen: BTreeSet<&str> = covered.iter().map(|&ci| self.cx.obs(cands[ci as usize].obs).operation.as_str()).collect();
        self.class.grant_operations(seen)
    }

    /// The anchored regex of the path to `node`.
    fn regex_of(&self, node: u32) -> String {
        let mut comps = Vec::new();
        let mut n = node;
        while n != 0 {
            comps.push(n);
            n = self.nodes[n as usize].parent;
        }
        let mut re = String::from("^");
        for &c in comps.iter().rev() {
            let c = &self.nodes[c as usize];
            re.push('/');
            match &c.volatile {
                Some(frag) => re.push_str(frag),
                None => re.push_str(&regex_escape(&c.key)),
            }
        }
        re
    }

    fn cover_filter(&self, node: u32) -> Filter {
        let n = &self.nodes[node as usize];
        if n.volatile_on_path {
            Filter::Regex { regex: format!("{}(/.*)?$", self.regex_of(node)) }
        } else {
            let (anchor, path) = anchor_path(&n.path, self.cx.ctx);
            Filter::Path { anchor, matching: PathMatch::Subpath, path }
        }
    }

    fn leaf_filter(&self, node: u32) -> Filter {
        let n = &self.nodes[node as usize];
        if n.volatile_on_path {
            let re = format!("{}$", self.regex_of(node));
            if self.class == OpClass::UnixSocket {
                Filter::UnixSocket { path: None, regex: Some(re) }
            } else {
                Filter::Regex { regex: re }
            }
        } else if self.class == OpClass::UnixSocket {
            Filter::UnixSocket { path: Some(n.path.clone()), regex: None }
        } else {
            let (anchor, path) = anchor_path(&n.path, self.cx.ctx);
            Filter::Path { anchor, matching: PathMatch::Literal, path }
        }
    }

    fn purpose(&self, node: u32) -> String {
        let n = &self.nodes[node as usize];
        if let Some(p) = n.store_purpose.as_ref().filter(|p| *p != "workdir") {
            return p.clone();
        }
        if self.class == OpClass::UnixSocket {
            return "network".into();
        }
        let stable = &self.nodes[n.stable as usize].path;
        self.cx.places.purpose_of(if n.volatile_on_path { stable } else { &n.path })
    }

    fn display(&self, path: &str) -> String {
        display_path(path, self.cx.ctx)
    }

    fn risk(&self, node: u32, cover: bool, tier: Tier) -> Risk {
        if tier >= Tier::Review {
            return Risk::High;
        }
        let n = &self.nodes[node as usize];
        let place = n.place;
        match self.class {
            OpClass::Metadata => Risk::Low,
            OpClass::Ioctl if n.path.starts_with("/dev/tty") => Risk::Low,
            OpClass::Read | OpClass::Write | OpClass::Exec if place != Place::Ordinary => Risk::Low,
            OpClass::Write | OpClass::Exec if cover => Risk::High,
            _ => Risk::Medium,
        }
    }

    fn cover_draft(&mut self, node: u32, cands: &[Candidate]) -> Draft {
        let mut covered = Vec::new();
        self.subtree_leaves(node, &mut covered);
        covered.sort();
        let ops = self.operations(&covered, cands);
        let grant = Grant::new(ops.clone(), vec![self.cover_filter(node)]);
        let (cost, widening) = self.cover_cost(node);
        let n = &self.nodes[node as usize];
        let tier = n.tier;
        let kind = if n.volatile_on_path { "regex" } else { "subpath" };
        let what = match n.place {
            Place::Store => format!("the {} store", n.store_purpose.as_deref().unwrap_or("cache")),
            Place::Scratch if n.volatile_on_path => "per-run directories".to_string(),
            Place::Scratch => "a temp root".to_string(),
            Place::Ordinary => "a directory".to_string(),
        };
        let literal_cost = self.literal_cost(node);
        let reason = format!(
            "{kind}: {} target{} under {what} ({}); one rule (cost {:.2}) instead of {} narrower (cost {:.2})",
            thousands(n.distinct),
            if n.distinct == 1 { "" } else { "s" },
            self.display(&n.path),
            cost,
            self.leaf_count(node),
            literal_cost,
        );
        let risk = self.risk(node, true, tier);
        let mut alternatives = Vec::new();
        let mut leaf_nodes = Vec::new();
        self.subtree_leaf_nodes(node, &mut leaf_nodes);
        if leaf_nodes.len() <= MAX_ALTERNATIVE_FILTERS {
            let filters: Vec<Filter> = leaf_nodes.iter().map(|&l| self.leaf_filter(l)).collect();
            alternatives.push(Alternative {
                scope: "narrower".into(),
                grant: Grant::new(ops.clone(), filters),
                reason: format!("{} rule{}: only what was seen; the next session's new names will be denied", leaf_nodes.len(), if leaf_nodes.len() == 1 { "" } else { "s" }),
                widening: Widening { unobserved: Some(0), ..Widening::default() },
            });
        } else {
            // Too many to list: one level down instead (each child directory covered).
            let n = &self.nodes[node as usize];
            let mut filters: Vec<Filter> = Vec::new();
            if !n.leaves.is_empty() {
                filters.push(self.leaf_filter(node));
            }
            for &c in n.children.iter() {
                filters.push(if self.nodes[c as usize].children.is_empty() { self.leaf_filter(c) } else { self.cover_filter(c) });
            }
            if filters.len() <= MAX_ALTERNATIVE_FILTERS {
                alternatives.push(Alternative {
                    scope: "narrower".into(),
                    reason: format!("{} rules one level down: each observed entry of {} on its own", filters.len(), self.display(&n.path)),
                    grant: Grant::new(ops.clone(), filters),
                    widening: Widening::default(),
                });
            }
        }
        if let Some(alt) = self.wider_alternative(node, &ops) {
            alternatives.push(alt);
        }
        Draft {
            class: self.class,
            purpose: self.purpose(node),
            grant,
            covered: covered.iter().map(|&ci| cands[ci as usize].obs).collect(),
            reason,
            risk,
            tier,
            widening: Some(widening),
            alternatives,
        }
    }

    fn leaf_count(&self, node: u32) -> usize {
        let mut v = Vec::new();
        self.subtree_leaf_nodes(node, &mut v);
        v.len()
    }

    /// Cost of keeping everything below `node` as narrower rules (what `decide` compared against).
    fn literal_cost(&self, node: u32) -> f64 {
        let n = &self.nodes[node as usize];
        let mut c: f64 = n.children.iter().map(|&c| self.best[c as usize]).sum();
        if !n.leaves.is_empty() {
            c += RULE;
        }
        c + self.miss_cost(node)
    }

    /// The nearest ancestor of `node` (exclusive) a wider rule could cover, as an alternative.
    fn wider_alternative(&mut self, node: u32, ops: &[String]) -> Option<Alternative> {
        let mut a = self.nodes[node as usize].parent;
        loop {
            if a == 0 {
                return None;
            }
            match self.coverable(a) {
                Ok(()) => break,
                Err(why) => {
                    // Past a shared root nothing wider is offered.
                    if why.contains("shared root") || why.contains("would reach") || why.contains("would open") {
                        return None;
                    }
                }
            }
            a = self.nodes[a as usize].parent;
        }
        Some(self.cover_alternative(a, ops))
    }

    fn literal_drafts(&mut self, parent: u32, leaves: &[u32], cands: &[Candidate]) -> Vec<Draft> {
        // Review-tier leaves get their own proposal so they can be declined alone.
        let mut normal = Vec::new();
        let mut review = Vec::new();
        for &l in leaves {
            if self.leaf_tier(cands, l) >= Tier::Review {
                review.push(vec![l]);
            } else {
                normal.push(l);
            }
        }
        let mut groups = review;
        if !normal.is_empty() {
            // Within one directory, split by purpose so the overlay groups stay meaningful.
            let mut by_purpose: BTreeMap<String, Vec<u32>> = BTreeMap::new();
            for l in normal {
                by_purpose.entry(self.purpose(l)).or_default().push(l);
            }
            groups.extend(by_purpose.into_values());
        }
        groups.into_iter().map(|g| self.literal_draft(parent, &g, cands)).collect()
    }

    fn literal_draft(&mut self, parent: u32, leaf_nodes: &[u32], cands: &[Candidate]) -> Draft {
        let mut covered: Vec<u32> = leaf_nodes.iter().flat_map(|&l| self.nodes[l as usize].leaves.iter().copied()).collect();
        covered.sort();
        let ops = self.operations(&covered, cands);
        let filters: Vec<Filter> = leaf_nodes.iter().map(|&l| self.leaf_filter(l)).collect();
        let grant = Grant::new(ops.clone(), filters);
        let tier = leaf_nodes.iter().map(|&l| self.leaf_tier(cands, l)).max().unwrap_or(Tier::Normal);
        let volatile = leaf_nodes.iter().any(|&l| self.nodes[l as usize].volatile_on_path);
        let first = leaf_nodes[0];
        let kind = if volatile { "tight regex" } else { "literal" };
        let count = leaf_nodes.len();
        let why_not_wider = match self.coverable(parent) {
            Err(why) => format!("no wider rule: {why}"),
            Ok(()) => {
                let (cost, _) = self.cover_cost(parent);
                format!(
                    "cheaper than covering {} (cost {:.2})",
                    self.display(&self.nodes[parent as usize].path),
                    cost
                )
            }
        };
        let what = if count == 1 {
            self.display(&self.nodes[first as usize].path)
        } else {
            format!("{count} locations in {}", self.display(&self.nodes[parent as usize].path))
        };
        let reason = if tier >= Tier::Review {
            let m = self
                .cx
                .tiers
                .of_path(self.class, self.cx.obs(cands[covered[0] as usize].obs).target.path_str().unwrap_or(""));
            format!(
                "{kind}: {what}; review: {}",
                m.map(|m| if m.note.is_empty() { m.pattern } else { m.note }).unwrap_or_else(|| "review tier".into())
            )
        } else {
            format!("{kind}: {what}; {why_not_wider}")
        };
        let risk = leaf_nodes.iter().map(|&l| self.risk(l, false, tier)).max().unwrap_or(Risk::Medium);
        let alternatives = self.wider_from_leaves(parent, &ops).into_iter().collect();
        Draft {
            class: self.class,
            purpose: self.purpose(first),
            grant,
            covered: covered.iter().map(|&ci| cands[ci as usize].obs).collect(),
            reason,
            risk,
            tier,
            widening: None,
            alternatives,
        }
    }

    fn wider_from_leaves(&mut self, parent: u32, ops: &[String]) -> Option<Alternative> {
        if parent == 0 {
            return None;
        }
        match self.coverable(parent) {
            Ok(()) => Some(self.cover_alternative(parent, ops)),
            Err(_) => None,
        }
    }

    /// The "wider" alternative that covers `node` (already known to be coverable), with what it
    /// would open and its cost in the reason.
    fn cover_alternative(&mut self, node: u32, ops: &[String]) -> Alternative {
        let (cost, widening) = self.cover_cost(node);
        let n = &self.nodes[node as usize];
        let opened = match widening.unobserved {
            Some(u) => format!("opens {} unobserved existing entr{}", thousands(u), if u == 1 { "y" } else { "ies" }),
            None => format!("opens an estimated {:.0} unobserved entries", widening.assumed.unwrap_or(0.0)),
        };
        let sensitive = match (&widening.most_sensitive, widening.most_sensitive_tier) {
            (Some(p), Some(t)) => format!("; most sensitive: {} ({})", self.display(p), t.as_str()),
            _ => String::new(),
        };
        Alternative {
            scope: "wider".into(),
            grant: Grant::new(ops.to_vec(), vec![self.cover_filter(node)]),
            reason: format!(
                "{} {}: {opened}{sensitive} (cost {:.2})",
                if n.volatile_on_path { "regex" } else { "subpath" },
                self.display(&n.path),
                cost
            ),
            widening,
        }
    }

    /// Existing entries a cover at `node` would open that were not observed (oracle walk).
    fn widen(&mut self, node: u32) -> Widening {
        if let Some(w) = self.widening.get(&node) {
            return w.clone();
        }
        let oracle = self.cx.options.oracle.expect("oracle present");
        if self.observed.is_none() {
            let mut set = HashSet::new();
            for n in &self.nodes {
                if !n.volatile_on_path {
                    set.insert(n.path.clone());
                }
            }
            self.observed = Some(set);
        }
        let observed = self.observed.as_ref().unwrap();
        // Components from the stable ancestor down to `node`.
        let stable = self.nodes[node as usize].stable;
        let mut comps: Vec<Option<Regex>> = Vec::new();
        let mut n = node;
        while n != stable && n != 0 {
            let nn = &self.nodes[n as usize];
            comps.push(Some(match &nn.volatile {
                Some(frag) => Regex::new(&format!("^{frag}$")).expect("template regex"),
                None => Regex::new(&format!("^{}$", regex::escape(&nn.key))).expect("escaped"),
            }));
            n = nn.parent;
        }
        comps.reverse();
        let start = self.nodes[stable as usize].path.clone();
        let mut budget = self.cx.options.oracle_budget;
        let mut w = Widening { unobserved: Some(0), ..Widening::default() };
        let mut frontier = vec![(start, 0usize)];
        let mut rx_matched: Vec<(String, bool)> = Vec::new();
        // Descend through the volatile components.
        while let Some((dir, depth)) = frontier.pop() {
            if depth == comps.len() {
                rx_matched.push((dir, true));
                continue;
            }
            let Some(entries) = oracle.list_dir(&dir) else { continue };
            for e in entries {
                if comps[depth].as_ref().is_some_and(|r| r.is_match(&e.name)) {
                    let p = join(&dir, &e.name);
                    if depth + 1 == comps.len() {
                        rx_matched.push((p, e.is_dir));
                    } else if e.is_dir {
                        frontier.push((p, depth + 1));
                    }
                }
            }
        }
        rx_matched.sort();
        let mut stack: Vec<(String, bool)> = rx_matched;
        while let Some((path, is_dir)) = stack.pop() {
            if budget == 0 {
                w.truncated = true;
                break;
            }
            budget -= 1;
            if !observed.contains(&path) {
                *w.unobserved.as_mut().unwrap() += 1;
                if let Some(m) = self.cx.tiers.of_path(self.class, &path) {
                    if w.most_sensitive_tier.map_or(true, |t| m.tier > t) {
                        w.most_sensitive_tier = Some(m.tier);
                        w.most_sensitive = Some(path.clone());
                    }
                }
            }
            if is_dir {
                if let Some(entries) = oracle.list_dir(&path) {
                    let mut entries = entries;
                    entries.sort_by(|a, b| b.name.cmp(&a.name));
                    for e in entries {
                        stack.push((join(&path, &e.name), e.is_dir));
                    }
                }
            }
        }
        // The cover's own root was observed as a directory on the way; do not count it.
        self.widening.insert(node, w.clone());
        w
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// `~/x` for HOME paths, `$WORKDIR/x` for workdir paths, else the path.
pub fn display_path(path: &str, ctx: &super::SessionContext) -> String {
    match anchor_path(path, ctx) {
        (Anchor::Workdir, rel) => format!("$WORKDIR{rel}"),
        (Anchor::Home, rel) => format!("~{rel}"),
        (Anchor::Absolute, p) => p,
    }
}
