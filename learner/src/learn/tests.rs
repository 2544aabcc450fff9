//! Behaviour of the learner as a whole (per-module unit tests live beside each module).

use super::*;
use crate::event::{Action, Event};

pub(crate) fn ctx() -> SessionContext {
    SessionContext {
        home: Some("/Users/a".into()),
        workdir: Some("/Users/a/src/p".into()),
        temp_roots: vec!["/private/var/folders/zz/zyxvpxvq6csfxvn_n0000000000000/T".into()],
        command: vec!["claude".into()],
        ..SessionContext::default()
    }
}

pub(crate) fn ev(op: &str, target: &str) -> Event {
    Event::new("node", Some(100), Action::Deny, op, Target::parse(op, target))
}

fn learn_events(events: &[Event]) -> Learned {
    learn(&DenyAll, &ctx(), &[Session { name: "s1".into(), events: events.to_vec() }])
}

fn sbpl(l: &Learned) -> Vec<String> {
    l.proposals.iter().map(|p| p.grant.sbpl.clone()).collect()
}

#[test]
fn cache_files_become_one_home_subpath() {
    let mut events = Vec::new();
    for i in 0..300 {
        events.push(ev("file-read-data", &format!("/Users/a/.npm/_cacache/content-v2/sha512/{:02x}/{:02x}/f{i}", i % 16, i % 7)));
    }
    let l = learn_events(&events);
    assert_eq!(sbpl(&l), vec!["(allow file-read* (home-subpath \"/.npm\"))"]);
    let p = &l.proposals[0];
    assert_eq!(p.purpose, "node toolchain");
    assert_eq!(p.evidence.distinct_targets, 300);
    assert!(p.safe, "{p:?}");
    assert!(p.reason.starts_with("subpath: 300 targets under the node toolchain store (~/.npm)"), "{}", p.reason);
    assert_eq!(p.alternatives[0].scope, "narrower");
}

#[test]
fn hundreds_of_files_in_home_etc_and_library_never_yield_a_root_grant() {
    let mut events = Vec::new();
    for i in 0..400 {
        events.push(ev("file-read-data", &format!("/Users/a/file{i}.txt")));
        events.push(ev("file-read-data", &format!("/private/etc/conf{i}")));
        events.push(ev("file-read-data", &format!("/Users/a/Library/Pref{i}.plist")));
        events.push(ev("file-write-data", &format!("/Users/a/Library/Application Support/App{i}/state.json")));
    }
    let l = learn_events(&events);
    for p in &l.proposals {
        for f in &p.grant.filters {
            if let Filter::Path { matching, anchor, path } = f {
                assert_eq!(*matching, PathMatch::Literal, "{}", p.grant.sbpl);
                let _ = (anchor, path);
            } else {
                panic!("unexpected filter {f:?}");
            }
        }
        for a in &p.alternatives {
            for f in &a.grant.filters {
                if let Some(abs) = f.absolute_path(&ctx()) {
                    assert!(
                        !["/Users/a", "/private/etc", "/Users/a/Library", "/Users/a/Library/Application Support"]
                            .contains(&abs.as_str()),
                        "alternative on a shared root: {}",
                        a.grant.sbpl
                    );
                }
            }
        }
    }
    // /etc files are review-tier: never marked safe.
    assert!(l.proposals.iter().filter(|p| p.grant.sbpl.contains("/private/etc/")).all(|p| !p.safe));
    let covered: u64 = l.proposals.iter().map(|p| p.evidence.count).sum();
    assert_eq!(covered, 1600);
}

#[test]
fn secrets_are_reported_never_proposed() {
    let events = vec![
        ev("file-read-data", "/Users/a/.ssh/id_ed25519"),
        ev("file-read-data", "/Users/a/.aws/credentials"),
        ev("file-read-data", "/Users/a/.config/gh/hosts.yml"),
        ev("file-read-data", "/Users/a/.config/gh/config.yml"),
        ev("file-read-data", "/Users/a/src/p/.env"),
        ev("file-read-data", "/Users/a/.zsh_history"),
    ];
    let l = learn_events(&events);
    let secrets: Vec<&str> = l.secrets.iter().map(|f| f.target.raw.as_str()).collect();
    assert_eq!(
        secrets,
        vec![
            "/Users/a/.aws/credentials",
            "/Users/a/.config/gh/hosts.yml",
            "/Users/a/.ssh/id_ed25519",
            "/Users/a/.zsh_history",
            "/Users/a/src/p/.env",
        ]
    );
    assert_eq!(sbpl(&l), vec!["(allow file-read* (home-literal \"/.config/gh/config.yml\"))"]);
    // A wider rule over ~/.config/gh would contain the token file: not offered.
    assert!(l.proposals[0].alternatives.is_empty(), "{:?}", l.proposals[0].alternatives);
    let overlay = render_overlay(&l.proposals);
    assert!(!overlay.contains("hosts.yml") && !overlay.contains(".ssh") && !overlay.contains(".aws"));
}

#[test]
fn already_allowed_denied_by_rule_platform_and_indeterminate_are_kept_apart() {
    struct P;
    impl Decide for P {
        fn verdict(&self, op: &str, t: &Target) -> PolicyVerdict {
            let p = t.path_str().unwrap_or("");
            if p.starts_with("/usr/") {
                PolicyVerdict::Allow
            } else if p.starts_with("/Users/a/.docker") {
                PolicyVerdict::Deny {
                    rule: Some(RuleRef { file: "50-integrations-core/container.sb".into(), line: 7, text: "(deny file-read* (home-subpath \"/.docker\"))".into(), layer: None }),
                }
            } else if op == "mach-lookup" {
                PolicyVerdict::Indeterminate { why: "extension filter".into() }
            } else {
                PolicyVerdict::Deny { rule: None }
            }
        }
    }
    let mut platform = ev("file-read-data", "/System/Library/x");
    platform.platform_policy = true;
    let events = vec![
        ev("file-read-data", "/usr/lib/libz.dylib"),
        ev("file-read-data", "/Users/a/.docker/contexts/meta.json"),
        ev("mach-lookup", "com.apple.x"),
        platform,
        ev("file-read-data", "/opt/tool/share/data.bin"),
    ];
    let l = learn(&P, &ctx(), &[Session { name: "s".into(), events }]);
    assert_eq!(l.summary.already_allowed, 1);
    assert_eq!(l.denied_by_rule.len(), 1);
    assert_eq!(
        l.denied_by_rule[0].reason,
        "denied by rule `(deny file-read* (home-subpath \"/.docker\"))` (50-integrations-core/container.sb:7)"
    );
    assert_eq!(l.indeterminate.len(), 1);
    assert_eq!(l.platform_denials.len(), 1);
    assert_eq!(sbpl(&l), vec!["(allow file-read* (literal \"/opt/tool/share/data.bin\"))"]);
}

#[test]
fn classes_never_widen() {
    let events = vec![
        ev("file-read-metadata", "/opt/x/a"),
        ev("file-read-data", "/opt/x/b"),
        ev("file-write-create", "/opt/x/c"),
        ev("process-exec*", "/opt/x/bin/tool"),
    ];
    let l = learn_events(&events);
    let mut got = sbpl(&l);
    got.sort();
    assert_eq!(
        got,
        vec![
            "(allow file-read* (literal \"/opt/x/b\"))",
            "(allow file-read-metadata (literal \"/opt/x/a\"))",
            "(allow file-write-create (literal \"/opt/x/c\"))",
            "(allow process-exec* (literal \"/opt/x/bin/tool\"))",
        ]
    );
}

#[test]
fn volatile_names_become_tight_regexes_or_stable_parents() {
    let events = vec![
        ev("file-read-data", "/Users/a/.nvm/versions/node/v22.3.0/lib/node_modules/npm/index.js"),
        ev("file-write-data", "/Users/a/.claude.json.tmp.48213.1733300000000"),
        ev("file-write-data", "/Users/a/.claude.json.tmp.48990.1733300000555"),
        ev("file-read-data", "/opt/build/9f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b/out.log"),
        ev("file-read-data", "/opt/build/9f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b/err.log"),
    ];
    let l = learn_events(&events);
    let got = sbpl(&l);
    assert!(got.contains(&"(allow file-read* (home-subpath \"/.nvm\"))".to_string()), "{got:#?}");
    assert!(
        got.contains(&"(allow file-write* (regex \"^/Users/a/\\\\.claude\\\\.json\\\\.tmp\\\\.[0-9]+\\\\.[0-9]+$\"))".to_string()),
        "{got:#?}"
    );
    assert!(got.contains(&"(allow file-read* (regex \"^/opt/build/[0-9A-Fa-f-]+(/.*)?$\"))".to_string()), "{got:#?}");
}

#[test]
fn non_file_classes() {
    let events = vec![
        ev("network-outbound", "remote:*:443"),
        ev("network-outbound", "remote:*:443"),
        ev("network-outbound", "/private/var/run/mDNSResponder"),
        ev("network-bind", "local:127.0.0.1:3000"),
        ev("network-bind", "local:127.0.0.1:51234"),
        ev("mach-lookup", "com.apple.trustd.agent"),
        ev("mach-lookup", "com.apple.xpc.anonymous.48213"),
        ev("mach-lookup", "com.apple.SecurityServer"),
        ev("sysctl-read", "kern.osproductversion"),
        ev("signal", "others [x(1)] signum:9"),
    ];
    let l = learn_events(&events);
    let got = sbpl(&l);
    for want in [
        "(allow network-outbound (remote ip \"*:443\"))",
        "(allow network-outbound (remote unix-socket (path-literal \"/private/var/run/mDNSResponder\")))",
        "(allow network-bind (local ip \"localhost:3000\"))",
        "(allow network-bind (local ip \"localhost:*\"))",
        "(allow mach-lookup (global-name \"com.apple.SecurityServer\"))",
        "(allow mach-lookup\n    (global-name \"com.apple.trustd.agent\")\n    (global-name-prefix \"com.apple.xpc.anonymous.\"))",
        "(allow sysctl-read (sysctl-name \"kern.osproductversion\"))",
    ] {
        assert!(got.contains(&want.to_string()), "missing {want}\n{got:#?}");
    }
    assert_eq!(l.unhandled.len(), 1);
    let sec = l.proposals.iter().find(|p| p.grant.sbpl.contains("SecurityServer")).unwrap();
    assert!(!sec.safe);
    assert_eq!(sec.tier, Tier::Review);
}

#[test]
fn multi_session_counts_and_determinism() {
    let s1 = Session { name: "one".into(), events: vec![ev("file-read-data", "/Users/a/.cache/uv/a"), ev("sysctl-read", "kern.x")] };
    let s2 = Session { name: "two".into(), events: vec![ev("file-read-data", "/Users/a/.cache/uv/b")] };
    let l = learn(&DenyAll, &ctx(), &[s1.clone(), s2.clone()]);
    let uv = l.proposals.iter().find(|p| p.purpose == "python toolchain").unwrap();
    assert_eq!(uv.evidence.sessions, 2);
    assert_eq!(uv.evidence.session_names, vec!["one", "two"]);
    let sys = l.proposals.iter().find(|p| p.class == OpClass::Sysctl).unwrap();
    assert_eq!(sys.evidence.sessions, 1);
    let again = learn(&DenyAll, &ctx(), &[s1, s2]);
    assert_eq!(serde_json::to_string(&l).unwrap(), serde_json::to_string(&again).unwrap());
    assert_eq!(render_overlay(&l.proposals), render_overlay(&again.proposals));
    // Ids are stable and distinct.
    let mut ids: Vec<&str> = l.proposals.iter().map(|p| p.id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), l.proposals.len());
}

#[test]
fn review_tier_writes_are_separate_and_never_safe() {
    let events = vec![
        ev("file-write-data", "/Users/a/.zshrc"),
        ev("file-write-data", "/Users/a/.cargo/bin/cargo-foo"),
        ev("file-write-data", "/Users/a/src/p/.git/hooks/pre-commit"),
        ev("file-read-data", "/Users/a/notes.txt"),
    ];
    let l = learn_events(&events);
    for p in &l.proposals {
        if p.class == OpClass::Write {
            assert!(!p.safe && p.risk == Risk::High && p.tier == Tier::Review, "{p:?}");
            assert_eq!(p.grant.filters.len(), 1);
            assert!(p.reason.contains("review"), "{}", p.reason);
        }
    }
    assert_eq!(l.proposals.iter().filter(|p| p.class == OpClass::Write).count(), 3);
}

#[test]
fn workdir_and_home_helpers_and_escaping() {
    let events = vec![
        ev("file-write-data", "/Users/a/src/p/target/debug/build/x/out"),
        ev("file-write-data", "/Users/a/src/p/target/debug/y"),
        ev("file-read-data", "/Users/a/src/p/src/main.rs"),
        ev("file-read-data", "/Users/a/we\"ird\\name"),
    ];
    let l = learn_events(&events);
    let got = sbpl(&l);
    assert!(got.contains(&"(allow file-write* (workdir-subpath \"/target\"))".to_string()), "{got:#?}");
    // Reading the project is the agent's job: the workdir itself is covered for reads.
    assert!(got.contains(&"(allow file-read* (workdir-subpath \"\"))".to_string()), "{got:#?}");
    assert!(got.contains(&"(allow file-read* (home-literal \"/we\\\"ird\\\\name\"))".to_string()), "{got:#?}");
}

#[test]
fn a_cover_never_contains_an_explicitly_denied_or_secret_location() {
    struct P;
    impl Decide for P {
        fn verdict(&self, _: &str, t: &Target) -> PolicyVerdict {
            if t.path_str() == Some("/Users/a/.cache/tool/token") {
                PolicyVerdict::Deny { rule: Some(RuleRef { file: "x.sb".into(), line: 1, text: "(deny ...)".into(), layer: None }) }
            } else {
                PolicyVerdict::Deny { rule: None }
            }
        }
    }
    let mut events = vec![ev("file-read-data", "/Users/a/.cache/tool/token")];
    for i in 0..50 {
        events.push(ev("file-read-data", &format!("/Users/a/.cache/tool/blob{i}")));
    }
    let l = learn(&P, &ctx(), &[Session { name: "s".into(), events }]);
    assert!(l.proposals.iter().all(|p| !p.grant.sbpl.contains("subpath")), "{:#?}", sbpl(&l));
}

#[test]
fn oracle_counts_unobserved_entries_and_blocks_sensitive_ones() {
    struct Fs;
    impl FsOracle for Fs {
        fn list_dir(&self, dir: &str) -> Option<Vec<DirEntry>> {
            let e = |n: &str, d: bool| DirEntry { name: n.into(), is_dir: d };
            Some(match dir {
                "/opt/tool/data" => vec![e("a", false), e("b", false), e("c", false), e("d", false)],
                "/opt/tool/keys" => vec![e("k1", false), e("k2", false), e(".env", false)],
                "/Users/a/.npm" => vec![e("_cacache", true), e("_logs", true)],
                "/Users/a/.npm/_cacache" => vec![e("x", false)],
                "/Users/a/.npm/_logs" => vec![e("1.log", false), e("2.log", false)],
                _ => return None,
            })
        }
    }
    let events = vec![
        ev("file-read-data", "/opt/tool/data/a"),
        ev("file-read-data", "/opt/tool/data/b"),
        ev("file-read-data", "/opt/tool/data/c"),
        ev("file-read-data", "/opt/tool/keys/k1"),
        ev("file-read-data", "/opt/tool/keys/k2"),
        ev("file-read-data", "/Users/a/.npm/_cacache/x"),
    ];
    let options = LearnOptions { oracle: Some(&Fs), ..LearnOptions::default() };
    let l = learn_with(&DenyAll, &ctx(), &[Session { name: "s".into(), events }], &options);
    let got = sbpl(&l);
    // /opt/data: 3 seen, 1 unobserved → cover (1 + 1 < 3).
    assert!(got.contains(&"(allow file-read* (subpath \"/opt/tool/data\"))".to_string()), "{got:#?}");
    let data = l.proposals.iter().find(|p| p.grant.sbpl.contains("/opt/tool/data")).unwrap();
    assert_eq!(data.widening.as_ref().unwrap().unobserved, Some(1));
    // /opt/keys holds a never-tier .env: literals only, no wider alternative.
    assert!(got.iter().any(|g| g.contains("(literal \"/opt/tool/keys/k1\")")), "{got:#?}");
    let npm = l.proposals.iter().find(|p| p.grant.sbpl.contains("/.npm")).unwrap();
    assert_eq!(npm.grant.sbpl, "(allow file-read* (home-subpath \"/.npm\"))");
    assert_eq!(npm.widening.as_ref().unwrap().unobserved, Some(3));
}

#[test]
fn overlay_groups_by_purpose_with_evidence_comments() {
    let events = vec![
        ev("file-read-data", "/Users/a/.npm/a/b"),
        ev("file-read-data", "/Users/a/.npm/a/c"),
        ev("network-outbound", "remote:*:443"),
    ];
    let l = learn_events(&events);
    let overlay = render_overlay(&l.proposals);
    let expected_start = ";; safehouse learn overlay: rules learned from observed sessions.\n";
    assert!(overlay.starts_with(expected_start));
    let node = overlay.find(";; ---- node toolchain ----").unwrap();
    let net = overlay.find(";; ---- network ----").unwrap();
    assert!(node < net);
    assert!(overlay.contains(";;   evidence: 2 events, 2 targets, 1 session; processes: node\n(allow file-read* (home-subpath \"/.npm\"))\n"), "{overlay}");
}

/// The overlay compiles with the engine on top of the helpers and allows every proposed event,
/// and nothing reported as a secret.
#[test]
fn overlay_compiles_and_allows_the_session() {
    use crate::sbpl::{compile, Params, SourceFile, Verdict};
    let mut events = vec![
        ev("file-read-data", "/Users/a/.npm/_cacache/index-v5/aa/bb/cc"),
        ev("file-write-create", "/Users/a/.npm/_logs/2026-01-01T00_00_00_000Z-debug-0.log"),
        ev("file-read-metadata", "/Users/a"),
        ev("file-read-metadata", "/Users/a/src"),
        ev("file-read-data", "/Users/a/.gitconfig"),
        ev("file-read-data", "/Users/a/src/p/node_modules/.package-lock.json"),
        ev("file-write-data", "/Users/a/.claude.json.tmp.48213.1733300000000"),
        ev("file-read-data", "/opt/build/9f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b/out.log"),
        ev("file-read-data", "/Users/a/odd \"name\"\\with\nnewline"),
        ev("file-ioctl", "path:/dev/ttys003 ioctl-command:(_IO \"t\" 22)"),
        ev("process-exec*", "/Users/a/.nvm/versions/node/v22.3.0/bin/node"),
        ev("network-outbound", "remote:*:443"),
        ev("network-outbound", "/private/var/run/mDNSResponder"),
        ev("network-bind", "local:127.0.0.1:3000"),
        ev("mach-lookup", "com.apple.trustd.agent"),
        ev("mach-lookup", "com.apple.xpc.anonymous.48213"),
        ev("sysctl-read", "kern.osproductversion"),
        ev("ipc-posix-shm-read-data", "apple.shm.notification_center"),
        ev("user-preference-read", "com.apple.Terminal"),
        ev("file-read-data", "/Users/a/.ssh/id_rsa"),
    ];
    for i in 0..40 {
        events.push(ev("file-read-data", &format!("/Users/a/.cache/uv/wheels/pkg{i}/x.py")));
    }
    let base = helper_prelude(&ctx());
    let policy = compile(&[SourceFile::new("base.sb", base.clone())], &Params::new()).unwrap();
    let l = learn(&policy, &ctx(), &[Session { name: "s".into(), events: events.clone() }]);
    let overlay = render_overlay(&l.proposals);
    let both = compile(&[SourceFile::new("base.sb", base), SourceFile::new("overlay.sb", overlay.clone())], &Params::new())
        .unwrap_or_else(|e| panic!("{e}\n{overlay}"));
    for e in &events {
        let d = both.decide(&e.operation, &e.target);
        if e.target.raw.contains(".ssh/") {
            assert_eq!(d.verdict, Verdict::Deny, "secret allowed: {}", e.target.raw);
        } else {
            assert_eq!(d.verdict, Verdict::Allow, "{} {} not allowed by\n{overlay}", e.operation, e.target.raw);
        }
    }
    // And the learner's own matcher agrees with the engine on every event.
    for e in &events {
        let ours = l.proposals.iter().any(|p| GrantMatcher::new(&p.grant, &ctx()).allows(&e.operation, &e.target));
        let engine = both.decide(&e.operation, &e.target).verdict == Verdict::Allow;
        assert_eq!(ours, engine, "{} {}", e.operation, e.target.raw);
    }
    // Learning again on base + overlay proposes nothing.
    let again = learn(&both, &ctx(), &[Session { name: "s".into(), events }]);
    assert!(again.proposals.is_empty(), "{:#?}", again.proposals.iter().map(|p| &p.grant.sbpl).collect::<Vec<_>>());
}

#[test]
fn secrets_are_recognised_without_a_known_home() {
    let events = vec![
        ev("file-read-data", "/Users/bob/.ssh/id_ed25519"),
        ev("file-read-data", "/home/bob/.aws/credentials"),
        ev("file-read-data", "/Users/bob/.npm/_cacache/x"),
    ];
    let l = learn(&DenyAll, &SessionContext::default(), &[Session { name: "s".into(), events }]);
    assert_eq!(l.secrets.len(), 2);
    assert!(l.proposals.iter().all(|p| !p.grant.sbpl.contains(".ssh") && !p.grant.sbpl.contains(".aws")));
    // HOME itself is still a shared root: nothing wider than the literal.
    assert!(l.proposals.iter().all(|p| !p.grant.sbpl.contains("subpath \"/Users/bob\"")), "{:#?}", sbpl(&l));
}

#[test]
fn traversal_metadata_is_granted_only_where_observed() {
    let events = vec![
        ev("file-read-metadata", "/Users/a/src"),
        ev("file-read-data", "/opt/tool/share/data.bin"),
    ];
    let l = learn_events(&events);
    let got = sbpl(&l);
    assert_eq!(
        got,
        vec!["(allow file-read-metadata (home-literal \"/src\"))", "(allow file-read* (literal \"/opt/tool/share/data.bin\"))"],
        "no ancestor of /opt/tool/share/data.bin is added unasked"
    );
}

mod properties {
    use super::*;
    use crate::sbpl::{compile, Params, SourceFile, Verdict};
    use proptest::prelude::*;

    fn component() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z]{1,8}",
            "[A-Za-z0-9._-]{1,12}",
            Just("tmp.Xk2j9Lq0".to_string()),
            Just("v1.2.3".to_string()),
            Just("9f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b".to_string()),
            Just("we\"ird\\na me".to_string()),
            Just("new\nline".to_string()),
            Just("uni\u{e9}\u{200b}x".to_string()),
            Just("[1](x)+*?^$|{}".to_string()),
        ]
    }

    fn path() -> impl Strategy<Value = String> {
        let root = prop_oneof![
            Just("/Users/a".to_string()),
            Just("/Users/a/src/p".to_string()),
            Just("/Users/a/.npm".to_string()),
            Just("/opt/x".to_string()),
            Just("/private/etc".to_string()),
            Just("/Users/a/Library".to_string()),
        ];
        (root, prop::collection::vec(component(), 1..4)).prop_map(|(r, c)| format!("{r}/{}", c.join("/")))
    }

    fn event() -> impl Strategy<Value = Event> {
        let op = prop_oneof![
            Just("file-read-data"),
            Just("file-read-metadata"),
            Just("file-write-create"),
            Just("file-write-data"),
            Just("process-exec*"),
        ];
        (op, path()).prop_map(|(op, p)| ev(op, &p))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

        /// Whatever the paths: the overlay compiles, allows every event that is not a secret,
        /// allows no secret, and the same input gives the same bytes.
        #[test]
        fn overlay_always_compiles_and_allows_exactly_the_non_secret_events(events in prop::collection::vec(event(), 1..40)) {
            let base = helper_prelude(&ctx());
            let policy = compile(&[SourceFile::new("base.sb", base.clone())], &Params::new()).unwrap();
            let l = learn(&policy, &ctx(), &[Session { name: "s".into(), events: events.clone() }]);
            let overlay = render_overlay(&l.proposals);
            let both = compile(&[SourceFile::new("base.sb", base), SourceFile::new("overlay.sb", overlay.clone())], &Params::new())
                .map_err(|e| TestCaseError::fail(format!("{e}\n{overlay}")))?;
            let secrets: std::collections::BTreeSet<&str> = l.secrets.iter().map(|f| f.target.raw.as_str()).collect();
            for e in &events {
                let allowed = both.decide(&e.operation, &e.target).verdict == Verdict::Allow;
                prop_assert_eq!(allowed, !secrets.contains(e.target.raw.as_str()), "{} {}\n{}", e.operation, e.target.raw, overlay);
            }
            let again = learn(&policy, &ctx(), &[Session { name: "s".into(), events }]);
            prop_assert_eq!(render_overlay(&again.proposals), overlay);
        }
    }
}
