//! Answers `audit` needs about each event beyond the event itself: why a denial happened (the
//! engine's decision under the policy the session ran under, and the learning floor of a `learn`
//! session) and how sensitive the target is (the learner's tiers). Answers are cached per
//! (operation, target, denied), so a session costs one decision per distinct access.

use super::audit::{DenialCause, Judgement, Sensitivity};
use super::{FastMap, RuleRef};
use crate::event::{Action, Event};
use crate::learn::tiers::BoundTiers;
use crate::learn::OpClass;
use crate::sbpl::{Policy, Verdict};
use crate::target::{Target, TargetKind};

/// The rule reference reports print for a rule of a policy.
pub fn rule_ref(policy: &Policy, id: usize) -> RuleRef {
    RuleRef::from(&policy.rule(id).origin)
}

/// Judges events for the [`super::audit::Auditor`].
pub struct Judge<'a> {
    policy: Option<&'a Policy>,
    floor: Option<Policy>,
    tiers: BoundTiers,
    /// operation → target → judgement when allowed / when denied.
    cache: FastMap<String, FastMap<String, [Option<Judgement>; 2]>>,
}

impl<'a> Judge<'a> {
    /// `policy`: the policy the session ran under (`None`: causes unknown). `floor`: the learning
    /// floor compiled as a policy, for sessions captured by `learn`.
    pub fn new(policy: Option<&'a Policy>, floor: Option<Policy>, tiers: BoundTiers) -> Judge<'a> {
        Judge { policy, floor, tiers, cache: FastMap::default() }
    }

    pub fn judge(&mut self, event: &Event) -> Judgement {
        let denied = event.action == Action::Deny;
        let cached = self.cache.get(event.operation.as_str()).and_then(|m| m.get(event.target.raw.as_str()));
        if let Some(j) = cached.and_then(|pair| pair[usize::from(denied)].as_ref()) {
            return j.clone();
        }
        let class = OpClass::of(&event.operation, &event.target);
        let tier = match &event.target.kind {
            TargetKind::Path { path } | TargetKind::UnixSocket { path } | TargetKind::Ioctl { path, .. } => {
                self.tiers.of_path(class, path)
            }
            TargetKind::Name { name } => self.tiers.of_name(class, name),
            _ => None,
        };
        let sensitive = tier.map(|t| Sensitivity { tier: t.tier.as_str().to_string(), reason: t.note });
        let cause = denied.then(|| self.cause(&event.operation, &event.target));
        let judgement = Judgement { cause, sensitive };
        let per_op = match self.cache.get_mut(event.operation.as_str()) {
            Some(m) => m,
            None => self.cache.entry(event.operation.clone()).or_default(),
        };
        let pair = match per_op.get_mut(event.target.raw.as_str()) {
            Some(p) => p,
            None => per_op.entry(event.target.raw.clone()).or_default(),
        };
        pair[usize::from(denied)] = Some(judgement.clone());
        judgement
    }

    /// Why `operation` on `target` was denied.
    pub fn cause(&self, operation: &str, target: &Target) -> DenialCause {
        let floor = self.floor.as_ref().and_then(|floor| {
            let d = floor.decide(operation, target);
            match (d.verdict, d.rule) {
                (Verdict::Deny, Some(id)) => Some(DenialCause::LearningFloor { rule: rule_ref(floor, id) }),
                _ => None,
            }
        });
        let Some(policy) = self.policy else {
            return floor.unwrap_or(DenialCause::Unknown);
        };
        let d = policy.decide(operation, target);
        match (d.verdict, d.rule) {
            (Verdict::Deny, Some(id)) => DenialCause::DenyRule { rule: rule_ref(policy, id) },
            (Verdict::Deny, None) => floor.unwrap_or(DenialCause::MissingRule),
            (Verdict::Allow, rule) => {
                floor.unwrap_or_else(|| DenialCause::AllowedNow { rule: rule.map(|id| rule_ref(policy, id)) })
            }
            (Verdict::Indeterminate, _) => floor.unwrap_or(DenialCause::Indeterminate),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learn::{SessionContext, Tiers};
    use crate::sbpl::{compile, Params, SourceFile};

    fn policy(text: &str) -> Policy {
        compile(&[SourceFile::new("p.sb", text)], &Params::new()).unwrap()
    }

    #[test]
    fn causes() {
        let p = policy("(version 1)\n(deny default)\n(allow file-read* (subpath \"/a\"))\n(deny file-read* (literal \"/a/s\"))\n");
        let floor = policy("(version 1)\n(deny file-read* (prefix \"/h/.ssh/id_\"))\n");
        let tiers = Tiers::builtin().bind(&SessionContext::default());
        let judge = Judge::new(Some(&p), Some(floor), tiers);
        let t = |s: &str| Target::path(s);
        assert!(matches!(judge.cause("file-read-data", &t("/a/s")), DenialCause::DenyRule { rule } if rule.line == 4));
        assert_eq!(judge.cause("file-read-data", &t("/b")), DenialCause::MissingRule);
        assert!(matches!(judge.cause("file-read-data", &t("/h/.ssh/id_rsa")), DenialCause::LearningFloor { rule } if rule.line == 2));
        assert!(matches!(judge.cause("file-read-data", &t("/a/x")), DenialCause::AllowedNow { rule: Some(r) } if r.line == 3));
        let none = Judge::new(None, None, Tiers::builtin().bind(&SessionContext::default()));
        assert_eq!(none.cause("file-read-data", &t("/b")), DenialCause::Unknown);
    }

    #[test]
    fn sensitivity_from_the_learner_tiers() {
        let ctx = SessionContext { home: Some("/Users/a".into()), ..Default::default() };
        let mut judge = Judge::new(None, None, Tiers::builtin().bind(&ctx));
        let e = Event::new("cat", Some(1), Action::Allow, "file-read-data", Target::path("/Users/a/.ssh/id_ed25519"));
        let j = judge.judge(&e);
        assert_eq!(j.sensitive.map(|s| s.tier), Some("never".to_string()));
        assert!(j.cause.is_none());
        let e = Event::new("cat", Some(1), Action::Allow, "file-read-data", Target::path("/Users/a/src/x.rs"));
        assert!(judge.judge(&e).sensitive.is_none());
    }
}
