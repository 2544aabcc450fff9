//! Linux live capture end to end: `safehouse learn -- <cmd>` runs real commands under the real
//! `strace` in a temporary HOME and workdir, our engine decides every access against the embedded
//! Linux base profile, and the proposals are checked; then every proposal is accepted through a
//! real pseudo-terminal and `--verify` re-runs the command under base + overlay, which must report
//! no new denial. Nothing is mocked. Without `strace` (CI installs it) each test says SKIPPED.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

use rexpect::reader::ReadUntil;
use rexpect::session::spawn_command;
use serde_json::Value;

/// A scratch machine: HOME with a config and a (fake) SSH key, a workdir, a private TMPDIR, and
/// XDG dirs so nothing of the real user is read or written by safehouse itself.
struct Scratch {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        for sub in ["home/.config/demo", "home/.ssh", "work", "tmp", "xdg-state", "xdg-config"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        std::fs::write(root.join("home/.config/demo/config.toml"), "name = \"demo\"\n").unwrap();
        std::fs::write(root.join("home/.ssh/id_ed25519"), "-----BEGIN OPENSSH PRIVATE KEY-----\nFAKE\n").unwrap();
        std::fs::write(root.join("work/notes.txt"), "b\na\nb\n").unwrap();
        Scratch { _dir: dir, root }
    }

    fn home(&self) -> String {
        self.root.join("home").display().to_string()
    }

    fn work(&self) -> PathBuf {
        self.root.join("work")
    }

    fn tmp(&self) -> String {
        self.root.join("tmp").display().to_string()
    }

    fn overlay(&self) -> PathBuf {
        self.root.join("overlay.sb")
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_safehouse"));
        cmd.current_dir(self.work())
            .env("HOME", self.home())
            .env("TMPDIR", self.tmp())
            .env("XDG_STATE_HOME", self.root.join("xdg-state"))
            .env("XDG_CONFIG_HOME", self.root.join("xdg-config"))
            .env("PATH", "/usr/bin:/bin")
            .env("NO_COLOR", "1")
            .env("TERM", "dumb")
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
            .env_remove("SAFEHOUSE_STRACE")
            .env_remove("SAFEHOUSE_SANDBOX_EXEC")
            .env_remove("SAFEHOUSE_LOG")
            .env_remove("SAFEHOUSE_POLICY_CMD");
        cmd
    }

    /// `safehouse learn --json -- <agent>`: the proposals of one live session.
    fn learn_json(&self, agent: &[&str]) -> Value {
        let output = self.command().args(["learn", "--json", "--"]).args(agent).output().unwrap();
        assert!(output.status.success(), "learn --json failed: {}", text(&output));
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&output)))
    }

    /// `safehouse learn --output OVERLAY --verify -- <agent>` in a pseudo-terminal: accept every
    /// proposal (typing the confirmation for sensitive ones), confirm the write, and return
    /// everything printed until safehouse exits, with its exit status.
    fn learn_accept_all_and_verify(&self, agent: &[&str]) -> (String, bool) {
        let mut cmd = self.command();
        cmd.arg("learn").arg("--output").arg(self.overlay()).arg("--verify").arg("--").args(agent);
        let mut p = spawn_command(cmd, Some(120_000)).expect("spawn safehouse in a pty");
        let mut seen = String::new();
        loop {
            let (before, matched) = p
                .exp_any(vec![
                    ReadUntil::String("[a]ccept [r]eject [w]iden [n]arrow [e]dit [s]kip [q]uit [?] > ".into()),
                    ReadUntil::String("type `grant` to confirm> ".into()),
                    ReadUntil::String("? [y/N] > ".into()),
                    ReadUntil::EOF,
                ])
                .unwrap_or_else(|e| panic!("{e}\n--- output so far ---\n{seen}"));
            seen.push_str(&before);
            seen.push_str(&matched);
            if matched.contains("[y/N]") {
                p.send_line("y").unwrap();
            } else if matched.contains("grant") {
                p.send_line("grant").unwrap();
            } else if matched.contains("[a]ccept") {
                p.send_line("a").unwrap();
            } else {
                break;
            }
        }
        let status = p.process.wait().unwrap();
        let ok = matches!(status, rexpect::process::wait::WaitStatus::Exited(_, 0));
        (seen, ok)
    }
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// The test's own tool (`git`, `python3`) must exist too; say so when it does not.
fn have(test: &str, program: &str) -> bool {
    let found = std::path::Path::new(program).is_file();
    if !found {
        eprintln!("SKIPPED {test}: {program} is not installed");
    }
    found
}

fn have_strace(test: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("strace").is_file()))
        .unwrap_or(false);
    if !found {
        eprintln!("SKIPPED {test}: strace is not installed (.ci/run installs it)");
    }
    found
}

/// Every proposal's rule text.
fn rules(learned: &Value) -> Vec<String> {
    learned["proposals"].as_array().unwrap().iter().map(|p| p["grant"]["sbpl"].as_str().unwrap().to_string()).collect()
}

fn proposal_for<'v>(learned: &'v Value, needle: &str) -> &'v Value {
    learned["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["grant"]["sbpl"].as_str().unwrap().contains(needle))
        .unwrap_or_else(|| panic!("no proposal mentions {needle}: {:#?}", rules(learned)))
}

/// Proposals are about the agent: no rule names the system runtime the Linux base profile covers.
fn assert_only_agent_rules(learned: &Value) {
    for rule in rules(learned) {
        for system in ["\"/usr/lib", "\"/lib", "\"/etc/ld.so", "\"/proc/self", "\"/dev/null", "\"/usr/share/locale"] {
            assert!(!rule.contains(system), "a proposal covers the system runtime: {rule}");
        }
    }
    assert!(learned["secrets"].as_array().unwrap().is_empty(), "{:#?}", learned["secrets"]);
}

/// The written overlay compiles after the Linux base profile.
fn assert_overlay_checks(scratch: &Scratch) {
    let overlay = std::fs::read_to_string(scratch.overlay()).expect("the overlay was written");
    assert!(overlay.contains("(allow "), "{overlay}");
    let base = scratch.root.join("base-linux.sb");
    std::fs::write(&base, safehouse_base_linux()).unwrap();
    let output = support::safehouse()
        .args(["check", "-D"])
        .arg(format!("HOME_DIR={}", scratch.home()))
        .arg("-D")
        .arg(format!("WORK_DIR={}", scratch.work().display()))
        .arg(&base)
        .arg(scratch.overlay())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
}

fn safehouse_base_linux() -> String {
    std::fs::read_to_string(support::repo_root().join("learner/profiles/base-linux.sb")).unwrap()
}

/// Accept everything, write, `--verify`: no new denial, and in the verification run's archive the
/// base profile plus the overlay deny nothing at all but the secrets.
fn assert_verified(scratch: &Scratch, agent: &[&str]) {
    let (seen, ok) = scratch.learn_accept_all_and_verify(agent);
    assert!(seen.contains("verify: no new denial"), "--verify reported denials:\n{seen}");
    assert!(ok, "learn --verify did not exit 0:\n{seen}");
    assert_overlay_checks(scratch);
    let sessions = scratch.root.join("xdg-state/safehouse/sessions");
    let verify_run: Vec<PathBuf> = std::fs::read_dir(&sessions)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("-verify.ndjson"))
        .collect();
    assert_eq!(verify_run.len(), 1, "{verify_run:?}");
    let archive = std::fs::read_to_string(&verify_run[0]).unwrap();
    let mut events = 0;
    for line in archive.lines().skip(1) {
        let event: Value = serde_json::from_str(line).unwrap();
        events += 1;
        if event["action"] == "deny" {
            let raw = event["target"]["raw"].as_str().unwrap();
            assert!(raw.contains("/.ssh/"), "the overlay does not allow {} {raw} on the second run", event["operation"]);
        }
    }
    assert!(events > 10, "the verification run captured {events} events");
}

#[test]
fn git_init_and_commit() {
    if !have_strace("git_init_and_commit") || !have("git_init_and_commit", "/usr/bin/git") {
        return;
    }
    let scratch = Scratch::new();
    let agent = ["/bin/sh", "-c", "git init -q . && git add notes.txt && git commit -q -m init && git log --oneline >/dev/null"];
    let learned = scratch.learn_json(&agent);
    assert_only_agent_rules(&learned);
    // The repository is written in one rule over the workdir's .git (or the workdir), not file by file.
    let git = proposal_for(&learned, "workdir-");
    assert!(rules(&learned).iter().any(|r| r.contains("file-write") && r.contains("workdir-subpath")), "{:#?}", rules(&learned));
    assert!(git["evidence"].is_object());
    // Nothing under HOME is written by git here; reads of git's config probes are at most metadata.
    for rule in rules(&learned) {
        if rule.contains("home-") {
            assert!(!rule.contains("file-write"), "git should not write the home directory: {rule}");
        }
    }
    assert_verified(&scratch, &agent);
    assert!(scratch.work().join(".git/HEAD").is_file());
}

#[test]
fn python_reads_config_and_writes_cache() {
    if !have_strace("python_reads_config_and_writes_cache") || !have("python_reads_config_and_writes_cache", "/usr/bin/python3") {
        return;
    }
    let scratch = Scratch::new();
    let script = r#"
import json, os
home = os.environ["HOME"]
config = open(home + "/.config/demo/config.toml").read()
os.makedirs(home + "/.cache/demo/objects", exist_ok=True)
for name in ("index.json", "objects/a.bin", "objects/b.bin"):
    with open(home + "/.cache/demo/" + name, "w") as f:
        f.write(json.dumps({"config": config}))
"#;
    let agent = ["/usr/bin/python3", "-S", "-c", script];
    let learned = scratch.learn_json(&agent);
    assert_only_agent_rules(&learned);
    // The config file is read exactly; the cache is written as one directory.
    let read = proposal_for(&learned, "/.config/demo/config.toml");
    assert!(read["grant"]["sbpl"].as_str().unwrap().contains("home-literal"), "{read:#}");
    assert!(
        rules(&learned).iter().any(|r| r.contains("file-write") && r.contains("(home-subpath \"/.cache/demo\")")),
        "the cache should be one subpath grant: {:#?}",
        rules(&learned)
    );
    // Nothing wider than needed: neither all of ~/.config nor all of HOME.
    for rule in rules(&learned) {
        assert!(!rule.contains("(home-subpath \"/.config\")") && !rule.contains("(home-subpath \"\")"), "{rule}");
    }
    assert_verified(&scratch, &agent);
}

#[test]
fn shell_pipeline_creates_and_deletes_temp_files() {
    if !have_strace("shell_pipeline_creates_and_deletes_temp_files") {
        return;
    }
    let scratch = Scratch::new();
    let agent = [
        "/bin/sh",
        "-c",
        "f=$(mktemp) && sort notes.txt | uniq -c > \"$f\" && d=$(mktemp -d) && cp \"$f\" \"$d/counts\" \
         && cat \"$d/counts\" > summary.txt && rm -r \"$d\" \"$f\"",
    ];
    let learned = scratch.learn_json(&agent);
    assert_only_agent_rules(&learned);
    let all = rules(&learned);
    // mktemp names differ on every run: the temp files are one grant over the temp directory,
    // not the names this run happened to draw.
    let tmp_rules: Vec<&String> = all.iter().filter(|r| r.contains(&scratch.tmp()) || r.contains("tmp")).collect();
    assert!(!tmp_rules.is_empty(), "{all:#?}");
    assert!(all.iter().all(|r| !r.contains("tmp.")), "a rule names one run's random temp name: {all:#?}");
    // The output file in the workdir.
    assert!(all.iter().any(|r| r.contains("/summary.txt") || r.contains("workdir-subpath")), "{all:#?}");
    assert_verified(&scratch, &agent);
}

#[test]
fn a_secret_read_is_reported_and_never_proposed() {
    if !have_strace("a_secret_read_is_reported_and_never_proposed") {
        return;
    }
    let scratch = Scratch::new();
    let agent = ["/bin/sh", "-c", "cat \"$HOME/.ssh/id_ed25519\" > /dev/null; cat notes.txt > /dev/null"];
    let learned = scratch.learn_json(&agent);
    let key = format!("{}/.ssh/id_ed25519", scratch.home());
    let secrets = learned["secrets"].as_array().unwrap();
    assert!(
        secrets.iter().any(|s| s["target"]["raw"] == key.as_str() && s["operation"] == "file-read-data"),
        "{secrets:#?}"
    );
    for rule in rules(&learned) {
        assert!(!rule.contains(".ssh"), "a secret was proposed: {rule}");
    }
    // The rest of the session is still learned: notes.txt, by name or through the workdir it
    // lies in (reading the project is generalised to the workdir).
    let all = rules(&learned);
    assert!(all.iter().any(|r| r.contains("notes.txt") || r.contains("(workdir-subpath \"\")")), "{all:#?}");
    assert_verified(&scratch, &agent);
    let overlay = std::fs::read_to_string(scratch.overlay()).unwrap();
    assert!(!overlay.contains(".ssh"), "{overlay}");
}

#[test]
fn clear_errors_for_missing_strace_and_unknown_commands() {
    let scratch = Scratch::new();
    let output = scratch
        .command()
        .env("SAFEHOUSE_STRACE", scratch.root.join("no-strace-here"))
        .args(["learn", "--json", "--", "/bin/true"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(text(&output).contains("apt-get install strace"), "{}", text(&output));
    assert!(output.stdout.is_empty());

    if !have_strace("clear_errors_for_unknown_commands") {
        return;
    }
    let output = scratch.command().args(["learn", "--json", "--", "safehouse-no-such-agent"]).output().unwrap();
    assert!(!output.status.success());
    assert!(text(&output).contains("command not found: `safehouse-no-such-agent`"), "{}", text(&output));
    assert!(!text(&output).contains("panicked"));
}

/// A recorded Linux session (`samples/sessions/linux/python-config-cache.archive`, captured by this
/// backend) replays anywhere, without strace: the archive says it ran on Linux, so the Linux base
/// profile is the starting point and the proposals are about the agent.
#[test]
fn a_recorded_linux_session_replays_with_the_linux_base() {
    let output = support::safehouse()
        .current_dir(support::repo_root())
        .env("NO_COLOR", "1")
        .env_remove("SAFEHOUSE_POLICY_CMD")
        .args(["learn", "--json", "--replay", "samples/sessions/linux/python-config-cache.archive"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let learned: Value = serde_json::from_slice(&output.stdout).unwrap();
    let all = rules(&learned);
    assert!(all.contains(&"(allow file-read* (home-literal \"/.config/demo/config.toml\"))".to_string()), "{all:#?}");
    assert!(all.iter().any(|r| r.contains("file-write") && r.contains("(home-subpath \"/.cache/demo\")")), "{all:#?}");
    assert_eq!(learned["secrets"][0]["target"]["raw"], "/tmp/safehouse-demo/home/.ssh/id_ed25519");
    for rule in &all {
        assert!(!rule.contains(".ssh") && !rule.contains("\"/usr") && !rule.contains("\"/etc"), "{rule}");
    }
    let printed = support::safehouse()
        .current_dir(support::repo_root())
        .args(["learn", "--print-profile", "--replay", "samples/sessions/linux/python-config-cache.archive"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&printed.stdout).contains("<embedded base-linux.sb>"), "{}", text(&printed));
}

/// A live capture's archive header carries the capture facts (`agent_started`, `stream_started`,
/// `ended`, `exits`) that `audit` reads its evidence gaps from: a clean run shows no stream or exit
/// gap, and an
/// agent that fails without a denial is named by the exit-without-denial gap.
#[test]
fn live_archives_record_capture_facts_for_the_audit() {
    if !have_strace("live_archives_record_capture_facts_for_the_audit") {
        return;
    }
    let scratch = Scratch::new();
    let archive_of = |agent: &str| -> (Value, PathBuf) {
        // Without cargo's LD_LIBRARY_PATH the shell's library lookups are all in the base profile:
        // a failing agent then has no denial of its own.
        let output =
            scratch.command().env_remove("LD_LIBRARY_PATH").args(["learn", "--json", "--", "sh", "-c", agent]).output().unwrap();
        assert!(output.status.success(), "{}", text(&output));
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let line = stderr.lines().find(|l| l.contains("session archive: ")).unwrap_or_else(|| panic!("{stderr}"));
        let path = PathBuf::from(line.split("session archive: ").nth(1).unwrap().trim());
        let first = std::fs::read_to_string(&path).unwrap().lines().next().unwrap().to_string();
        (serde_json::from_str(&first).unwrap(), path)
    };
    let audit_gaps = |archive: &PathBuf| -> Vec<Value> {
        let output = scratch.command().args(["audit", "--json"]).arg(archive).output().unwrap();
        assert!(output.status.success(), "{}", text(&output));
        let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&output)));
        // `folded-duplicates` is left out: the Linux backend folds repeated accesses itself (one
        // event with a count), and the audit must say so rather than blame the kernel.
        let gaps = report["gaps"].as_array().cloned().unwrap_or_default();
        for gap in gaps.iter().filter(|g| g["kind"] == "folded-duplicates") {
            let detail = gap["detail"].as_str().unwrap_or_default();
            assert!(detail.contains("folded by the Linux capture"), "{detail}");
        }
        gaps.into_iter().filter(|g| g["kind"] != "folded-duplicates").collect::<Vec<_>>()
    };

    let (header, archive) = archive_of("cat notes.txt > /dev/null");
    let context = &header["context"];
    let time = |field: &str| {
        let text = context[field].as_str().unwrap_or_else(|| panic!("no {field} in {header}"));
        chrono::DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{field}: {e}"))
    };
    assert!(time("stream_started") <= time("agent_started"), "{header}");
    assert!(time("agent_started") <= time("ended"), "{header}");
    let exits = context["exits"].as_array().unwrap_or_else(|| panic!("no exits in {header}"));
    assert_eq!(exits.len(), 1, "{header}");
    assert_eq!(exits[0]["process"], "sh");
    assert_eq!(exits[0]["status"], 0);
    assert!(exits[0]["pid"].as_u64().is_some(), "{header}");
    assert_eq!(audit_gaps(&archive), Vec::<Value>::new());

    // A failing agent: its exit is recorded. Its own denials (the shell stats the workdir) explain
    // it; with those taken away, the audit names the exit from what the header recorded.
    let (header, archive) = archive_of("cat notes.txt > /dev/null; exit 3");
    assert_eq!(header["context"]["exits"][0]["status"], 3, "{header}");
    assert_eq!(audit_gaps(&archive), Vec::<Value>::new());
    let agent_pid = header["context"]["exits"][0]["pid"].as_u64().unwrap();
    let kept: String = std::fs::read_to_string(&archive)
        .unwrap()
        .lines()
        .filter(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            !(v["action"] == "deny" && v["pid"].as_u64() == Some(agent_pid))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(kept.lines().count() >= 2, "the other events stay: {kept}");
    let without_agent_denials = scratch.root.join("without-agent-denials.ndjson");
    std::fs::write(&without_agent_denials, kept).unwrap();
    let gaps = audit_gaps(&without_agent_denials);
    let kinds: Vec<&str> = gaps.iter().map(|g| g["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["exit-without-denial"], "{gaps:?}");
    let sample = gaps[0]["samples"][0].as_str().unwrap();
    assert!(sample.starts_with("sh(") && sample.ends_with("exited with status 3"), "{sample}");
}
