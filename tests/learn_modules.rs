//! Module reuse: given Safehouse's optional modules (`profiles/55-integrations-optional/*.sb` in
//! the corpus), the learner says which module covers a cluster of what a session needed,
//! measured with the engine (base + module against base alone).

mod support;

use safehouse_learner::learn::{compile_modules, LearnOptions, Learner, SessionContext};
use safehouse_learner::sbpl::{compile, Params, SourceFile};
use safehouse_learner::{Action, Event, Target};

const HOME: &str = "/Users/alice";
const WORK: &str = "/Users/alice/src/app";

fn ev(op: &str, target: &str) -> Event {
    Event::new("docker", Some(7), Action::Allow, op, Target::parse(op, target))
}

#[test]
fn an_existing_module_is_offered_for_the_cluster_it_covers() {
    let Some(shared) = support::shared_dir("an_existing_module_is_offered_for_the_cluster_it_covers") else { return };
    let profiles = shared.join("corpus/safehouse/profiles");
    // Safehouse's 00-base.sb with its two placeholders filled in, as its renderer does.
    let base_text = std::fs::read_to_string(profiles.join("00-base.sb"))
        .unwrap()
        .replace("__SAFEHOUSE_REPLACE_ME_WITH_ABSOLUTE_HOME_DIR__", HOME)
        .replace("__SAFEHOUSE_REPLACE_ME_WITH_WORK_DIR_DEFINE__", &format!("(define WORK_DIR \"{WORK}\")"));
    let base = vec![SourceFile::new("00-base.sb", base_text)];
    let params = Params::new();
    let policy = compile(&base, &params).unwrap();

    let mut modules = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(profiles.join("55-integrations-optional")).unwrap().flatten().map(|e| e.path()).collect();
    names.sort();
    for path in names {
        let text = std::fs::read_to_string(&path).unwrap();
        modules.push(SourceFile::new(format!("55-integrations-optional/{}", path.file_name().unwrap().to_string_lossy()), text));
    }
    let (compiled, _failed) = compile_modules(&base, &params, &modules);
    assert!(compiled.iter().any(|m| m.name == "docker"), "docker.sb compiles on top of the base");

    let mut learner = Learner::new();
    learner.begin_session("docker-session");
    for e in [
        ev("network-outbound", &format!("{HOME}/.docker/run/docker.sock")),
        ev("file-read-data", &format!("{HOME}/.docker/run/docker.sock")),
        ev("file-read-data", &format!("{HOME}/.docker/contexts/meta/3f2a/meta.json")),
        ev("file-read-data", &format!("{HOME}/.docker/buildx/current")),
        ev("file-write-data", &format!("{HOME}/.docker/buildx/activity/desktop-linux")),
        ev("file-read-data", &format!("{HOME}/.docker/config.json")),
        ev("sysctl-read", "kern.osproductversion"),
    ] {
        learner.observe(&e);
    }
    let ctx = SessionContext { home: Some(HOME.into()), workdir: Some(WORK.into()), ..SessionContext::default() };
    let options = LearnOptions { modules: compiled.iter().map(|m| m.as_module_policy()).collect(), ..LearnOptions::default() };
    let learned = learner.learn(&policy, &ctx, &options);

    // The registry credentials file is a secret whatever the module says.
    assert!(learned.secrets.iter().any(|s| s.target.raw.ends_with("/.docker/config.json")));
    // Every ~/.docker proposal names the docker module; the sysctl one names none.
    let docker: Vec<_> = learned.proposals.iter().filter(|p| p.grant.sbpl.contains(".docker")).collect();
    assert!(!docker.is_empty());
    for p in &docker {
        let m = p.module.as_ref().unwrap_or_else(|| panic!("no module for {}", p.grant.sbpl));
        assert_eq!(m.module, "docker", "{}", p.grant.sbpl);
        assert_eq!(m.covered, m.of);
        assert!(m.text.starts_with("enable `docker`: covers "), "{}", m.text);
    }
    let sysctl = learned.proposals.iter().find(|p| p.grant.sbpl.contains("sysctl")).unwrap();
    assert!(sysctl.module.is_none(), "{:?}", sysctl.module);
    let top = &learned.modules[0];
    assert_eq!(top.module, "docker");
    assert_eq!(top.covered, 5, "{}", top.text);
    assert_eq!(top.of, 6);
}
