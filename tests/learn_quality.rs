//! The learner's quality harness: for every workload under `samples/sessions/` (and, when set,
//! under `$SAFEHOUSE_QUALITY_SESSIONS`), learn from the first session and measure on the second
//! one of the same workload:
//!
//! - coverage: the share of session-2 events the embedded base profile denies that base + the
//!   learned overlay allows (events counted with their duplicates; never-tier accesses excluded:
//!   they must stay denied);
//! - rules: proposals and filters in the overlay;
//! - sensitive opened: never-tier probe locations (credentials, keys, browser data, history) and
//!   every secret either session touched that base + overlay allows but base alone does not.
//!   Must be 0.
//!
//! Run `scripts/quality` (or this test with `--nocapture`) to see the table.

mod support;

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use safehouse_learner::learn::{self, Filter, LearnOptions, Learner, PathMatch, SessionContext};
use safehouse_learner::logs;
use safehouse_learner::sbpl::{compile, Params, Policy, SourceFile, Verdict};
use safehouse_learner::{Event, Target};

struct Archive {
    ctx: SessionContext,
    events: Vec<Event>,
}

fn read_archive(path: &Path) -> Archive {
    let file = BufReader::new(File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
    let mut reader = logs::open_events(file, &path.display().to_string()).unwrap();
    let mut events = Vec::new();
    for e in reader.by_ref() {
        events.push(e.unwrap_or_else(|e| panic!("{e}")));
    }
    let header = reader.archive_header().expect("a session archive").clone();
    // The header's context is the learner's own type: recorded temp roots read straight in.
    let ctx = SessionContext { path_dirs: Vec::new(), ..header.context };
    Archive { ctx, events }
}

fn base_source() -> String {
    std::fs::read_to_string(support::repo_root().join("learner/profiles/base.sb")).unwrap()
}

fn params(ctx: &SessionContext) -> Params {
    let mut p = Params::new();
    p.insert("HOME_DIR", ctx.home.clone().unwrap());
    p.insert("WORK_DIR", ctx.workdir.clone().unwrap());
    p
}

fn compile_with(ctx: &SessionContext, overlay: Option<&str>) -> Policy {
    let mut files = vec![SourceFile::new("base.sb", base_source())];
    if let Some(o) = overlay {
        files.push(SourceFile::new("overlay.sb", o.to_string()));
    }
    compile(&files, &params(ctx)).unwrap_or_else(|e| panic!("{e}\n{}", overlay.unwrap_or("")))
}

/// Concrete never-tier locations to probe (under HOME unless absolute).
const PROBES: &[&str] = &[
    ".ssh/id_rsa",
    ".ssh/id_ed25519",
    ".aws/credentials",
    ".config/gcloud/application_default_credentials.json",
    ".kube/config",
    ".docker/config.json",
    ".config/gh/hosts.yml",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".cargo/credentials.toml",
    ".git-credentials",
    ".gnupg/private-keys-v1.d/k.key",
    ".zsh_history",
    ".bash_history",
    "Library/Keychains/login.keychain-db",
    "Library/Application Support/Google/Chrome/Default/Cookies",
    "Library/Application Support/1Password/Data/1password.sqlite",
    "Library/Cookies/Cookies.binarycookies",
    ".password-store/x.gpg",
    "/private/etc/master.passwd",
    "/private/etc/sudoers",
];

#[derive(Default)]
struct Row {
    workload: String,
    needed: u64,
    covered: u64,
    covered_safe: u64,
    proposals: usize,
    safe: usize,
    filters: usize,
    sensitive_opened: usize,
    secrets_reported: usize,
    root_covers: Vec<String>,
}

fn workloads() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let mut roots = vec![support::repo_root().join("samples/sessions")];
    if let Ok(extra) = std::env::var("SAFEHOUSE_QUALITY_SESSIONS") {
        roots.push(PathBuf::from(extra));
    }
    for root in roots {
        let Ok(entries) = std::fs::read_dir(&root) else { continue };
        for e in entries.flatten() {
            if e.path().is_dir() && archives(&e.path()).len() >= 2 {
                dirs.push(e.path());
            }
        }
    }
    dirs.sort();
    dirs
}

fn archives(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "archive" || x == "gz" || x == "ndjson"))
        .collect();
    v.sort();
    v
}

fn measure(dir: &Path) -> Row {
    let files = archives(dir);
    let one = read_archive(&files[0]);
    let two = read_archive(&files[1]);
    let ctx = one.ctx.clone();
    let base = compile_with(&ctx, None);

    let mut learner = Learner::new();
    learner.begin_session("session-1");
    for e in &one.events {
        learner.observe(e);
    }
    let learned = learner.learn(&base, &ctx, &LearnOptions::default());
    let overlay = learn::render_overlay(&learned.proposals);
    if std::env::var_os("SAFEHOUSE_QUALITY_DUMP").is_some() {
        println!("==== {} ====\n{overlay}", dir.display());
    }
    let with_all = compile_with(&ctx, Some(&overlay));
    let with_safe = compile_with(&ctx, Some(&learned.safe_overlay()));

    // Which session-2 targets are never-tier: learn on session 2 alone to classify them.
    let mut l2 = Learner::new();
    for e in &two.events {
        l2.observe(e);
    }
    let learned2 = l2.learn(&base, &two.ctx, &LearnOptions::default());
    let secret_targets: std::collections::BTreeSet<(String, String)> = learned2
        .secrets
        .iter()
        .chain(learned.secrets.iter())
        .map(|f| (f.operation.clone(), f.target.raw.clone()))
        .collect();

    let mut row = Row {
        workload: dir.file_name().unwrap().to_string_lossy().into_owned(),
        proposals: learned.proposals.len(),
        safe: learned.proposals.iter().filter(|p| p.safe).count(),
        filters: learned.proposals.iter().map(|p| p.grant.filters.len()).sum(),
        secrets_reported: secret_targets.len(),
        ..Row::default()
    };
    let allows = |p: &Policy, e: &Event| p.decide(&e.operation, &e.target).verdict == Verdict::Allow;
    for e in &two.events {
        if allows(&base, e) || secret_targets.contains(&(e.operation.clone(), e.target.raw.clone())) {
            continue;
        }
        row.needed += e.count;
        if allows(&with_all, e) {
            row.covered += e.count;
        }
        if allows(&with_safe, e) {
            row.covered_safe += e.count;
        }
    }
    let home = ctx.home.clone().unwrap();
    let mut probes: Vec<String> =
        PROBES.iter().map(|p| if p.starts_with('/') { p.to_string() } else { format!("{home}/{p}") }).collect();
    probes.extend(secret_targets.iter().filter(|(_, t)| t.starts_with('/')).map(|(_, t)| t.clone()));
    probes.sort();
    probes.dedup();
    for p in &probes {
        for op in ["file-read-data", "file-write-data"] {
            let t = Target::path(p.clone());
            let before = base.decide(op, &t).verdict == Verdict::Allow;
            let after = with_all.decide(op, &t).verdict == Verdict::Allow;
            if after && !before {
                row.sensitive_opened += 1;
                eprintln!("{}: {op} {p} opened by the overlay", row.workload);
            }
        }
    }
    // No wider rule on a shared root, whatever the evidence.
    let roots = [
        "/".to_string(),
        home.clone(),
        format!("{home}/Documents"),
        format!("{home}/Desktop"),
        format!("{home}/Downloads"),
        format!("{home}/Library"),
        format!("{home}/Library/Preferences"),
        format!("{home}/Library/Application Support"),
        format!("{home}/.config"),
        format!("{home}/.ssh"),
        "/private/etc".into(),
        "/private".into(),
    ];
    for p in &learned.proposals {
        for f in &p.grant.filters {
            let wide = match f {
                Filter::Path { matching: PathMatch::Subpath | PathMatch::Prefix, .. } => f.absolute_path(&ctx),
                Filter::Regex { regex } => Some(regex.clone()),
                _ => None,
            };
            if let Some(w) = wide {
                if roots.iter().any(|r| &w == r || w.starts_with(&format!("^{}(/", regex_escape(r)))) {
                    row.root_covers.push(p.grant.sbpl.clone());
                }
            }
        }
    }
    row
}

fn regex_escape(s: &str) -> String {
    safehouse_learner::learn::volatile::regex_escape(s)
}

#[test]
fn learned_overlays_generalise_to_the_next_session_and_open_nothing_sensitive() {
    let dirs = workloads();
    assert!(dirs.len() >= 5, "expected the sample workloads under samples/sessions");
    let rows: Vec<Row> = dirs.iter().map(|d| measure(d)).collect();
    println!();
    println!(
        "{:<14} {:>8} {:>8} {:>9} {:>9} {:>6} {:>6} {:>8} {:>8} {:>9}",
        "workload", "needed", "covered", "coverage", "safe-only", "rules", "safe", "filters", "secrets", "sensitive"
    );
    for r in &rows {
        println!(
            "{:<14} {:>8} {:>8} {:>8.1}% {:>8.1}% {:>6} {:>6} {:>8} {:>8} {:>9}",
            r.workload,
            r.needed,
            r.covered,
            100.0 * r.covered as f64 / r.needed.max(1) as f64,
            100.0 * r.covered_safe as f64 / r.needed.max(1) as f64,
            r.proposals,
            r.safe,
            r.filters,
            r.secrets_reported,
            r.sensitive_opened
        );
    }
    for r in &rows {
        assert_eq!(r.sensitive_opened, 0, "{}: the overlay opens sensitive locations", r.workload);
        assert!(r.root_covers.is_empty(), "{}: wide rules on shared roots: {:#?}", r.workload, r.root_covers);
        let coverage = r.covered as f64 / r.needed.max(1) as f64;
        let (min_coverage, max_rules) = thresholds(&r.workload);
        assert!(coverage >= min_coverage, "{}: coverage {:.3} fell below {min_coverage}", r.workload, coverage);
        assert!(r.proposals <= max_rules, "{}: {} proposals, more than {max_rules}", r.workload, r.proposals);
    }
}

/// Per-workload floors (set a little under the measured figures in README "Learner", so a
/// regression fails) and rule-count ceilings. Held-out workloads get the generic floor.
fn thresholds(workload: &str) -> (f64, usize) {
    match workload {
        "node-npm" => (0.95, 40),
        "python-uv" => (0.95, 40),
        "rust-cargo" => (0.95, 40),
        "git" => (0.90, 40),
        // The adversarial scan touches new random files in shared roots every run: they must
        // stay literals, so coverage there is low by design; what matters is the 0 above.
        "adversarial" => (0.0, 400),
        _ => (0.80, 200),
    }
}
