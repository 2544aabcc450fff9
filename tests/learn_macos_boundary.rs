//! The macOS live-capture boundary (`src/capture/macos.rs`), run for real on Linux with the
//! stand-ins in `tests/fixtures/macos/` in place of `sandbox-exec` and `/usr/bin/log`.
//!
//! The agent's reports are REAL recorded `log stream --style ndjson` records from
//! `corpus/logs/ndjson-style.ndjson` (read at run time), with the recorded session tag and the
//! recorded shell pid replaced by this session's nonce and the agent's pid, mixed with the other
//! processes' reports that were captured alongside (which must be kept out).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const RECORDED_TAG: &str = "CMD64_Y2F0IC9ldGMvaG9zdHMgfCBoZWFkIC0x_END__k3j9x0q2m_SBX";

struct Fake {
    _dir: tempfile::TempDir,
    root: PathBuf,
    kernel: PathBuf,
    home: PathBuf,
    workdir: PathBuf,
    state: PathBuf,
}

impl Fake {
    fn new() -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("kernel");
        let home = dir.path().join("home");
        let workdir = dir.path().join("work");
        let state = dir.path().join("state");
        for d in [&root, &home, &workdir, &state] {
            std::fs::create_dir_all(d).unwrap();
        }
        Fake { kernel: root.clone(), root, home, workdir, state, _dir: dir }
    }

    fn fixture(name: &str) -> PathBuf {
        support::repo_root().join("tests/fixtures/macos").join(name)
    }

    fn command(&self, extra_env: &[(&str, &str)], args: &[&str]) -> Command {
        let mut cmd = support::safehouse();
        cmd.env("SAFEHOUSE_SANDBOX_EXEC", Self::fixture("sandbox-exec"))
            .env("SAFEHOUSE_LOG", Self::fixture("log"))
            .env("FAKE_MACOS_DIR", &self.kernel)
            .env("SAFEHOUSE_GRACE_MS", "300")
            .env("SAFEHOUSE_READY_TIMEOUT_MS", "60000")
            .env("XDG_STATE_HOME", &self.state)
            .env("XDG_CONFIG_HOME", self.root.join("config"))
            .env("HOME", &self.home)
            .env_remove("NO_COLOR")
            .current_dir(&self.workdir)
            .stdin(Stdio::null());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        cmd.arg("learn")
            .arg("--home")
            .arg(&self.home)
            .arg("--workdir")
            .arg(&self.workdir)
            .args(args);
        cmd
    }

    /// The stand-ins' invocations in order (`agent` for a learning run, `agent-verify` for `--verify`).
    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.kernel.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.split(' ').next().unwrap().replace("agent-learn", "agent"))
            .collect()
    }

    /// Real recorded records: the recorded tag becomes `@TAG@`, the recorded `bash(15536)` becomes
    /// the agent (`@PID@`). Returns (records for the stream, records only `log show` has).
    fn replay_from_corpus(&self, shared: &Path) {
        let text = std::fs::read_to_string(shared.join("corpus/logs/ndjson-style.ndjson")).unwrap();
        let records: Vec<&str> = text.lines().filter(|l| l.starts_with('{') && l.contains("eventMessage")).collect();
        // The first fixture (32 records): its first 31 records go to the stream, the last one
        // (`imagent`, noise) and one tagged record only to `log show` (a late report).
        let mut stream = String::new();
        let mut late = String::new();
        for (i, record) in records.iter().take(32).enumerate() {
            let line = record.replace(RECORDED_TAG, "@TAG@").replace("bash(15536)", "bash(@PID@)");
            if i == 24 {
                // `cat(15571) ... /private/etc/hosts\n<tag>`: the stream misses it, `log show` has it.
                assert!(line.contains("cat(15571)"), "{line}");
                late.push_str(&line.replace("file-read-data \\/private\\/etc\\/hosts", "file-read-data \\/private\\/etc\\/late-report"));
                late.push('\n');
            } else {
                stream.push_str(&line);
                stream.push('\n');
            }
        }
        std::fs::write(self.kernel.join("replay.ndjson"), stream).unwrap();
        std::fs::write(self.kernel.join("replay-late.ndjson"), late).unwrap();
    }
}

fn archive_path(stderr: &str) -> PathBuf {
    let line = stderr.lines().find(|l| l.contains("session archive: ")).unwrap_or_else(|| panic!("no archive path in:\n{stderr}"));
    PathBuf::from(line.split("session archive: ").nth(1).unwrap().trim())
}

/// The events of an archive (the header line is skipped).
fn archive_events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("operation").is_some())
        .collect()
}

fn summary(events: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = events
        .iter()
        .map(|e| format!("{} {} {}", e["process"].as_str().unwrap(), e["operation"].as_str().unwrap(), e["target"]["raw"].as_str().unwrap()))
        .collect();
    out.sort();
    out
}

fn text(output: &Output) -> (String, String) {
    (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn ordering_readiness_attribution_and_backfill_on_recorded_reports() {
    let Some(shared) = support::shared_dir("ordering_readiness_attribution_and_backfill_on_recorded_reports") else { return };
    let fake = Fake::new();
    fake.replay_from_corpus(&shared);
    // The agent also starts a child that lives a while; its (untagged) report is attributed through
    // the process tree. A slow-starting stream forces the readiness probe to be repeated.
    let emit = format!(
        "sleep 2 & child=$!; printf '%s\\n' \"{{\\\"processID\\\":0,\\\"eventMessage\\\":\\\"Sandbox: sleep($child) deny(1) file-read-data \\\\/opt\\\\/child-read\\\"}}\" >> {}; wait",
        fake.kernel.join("kernel.ndjson").display()
    );
    let output = fake
        .command(&[("FAKE_LOG_WARMUP_MS", "1500")], &["--json", "--", "sh", "-c", &emit])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "stderr:\n{stderr}");
    serde_json::from_str::<Value>(&stdout).unwrap_or_else(|e| panic!("--json output is not JSON ({e}):\n{stdout}"));

    // Order: the profile is checked, the stream starts, the probe fires until the stream shows it
    // (a probe may also run while the stream process is still starting), then the agent, then the
    // backfill.
    let calls = fake.calls();
    let first = |name: &str| calls.iter().position(|c| c == name).unwrap_or_else(|| panic!("{name} never called: {calls:?}"));
    assert!(first("preflight") < first("stream"), "{calls:?}");
    assert!(first("stream") < first("agent"), "{calls:?}");
    assert!(calls[first("stream")..first("agent")].iter().any(|c| c == "sentinel"), "{calls:?}");
    assert!(first("agent") < first("show"), "{calls:?}");
    assert_eq!(calls.iter().filter(|c| *c == "agent").count(), 1, "{calls:?}");
    assert!(calls.iter().filter(|c| *c == "sentinel").count() >= 2, "a slow stream needs the probe repeated: {calls:?}");
    // The reporting profile the agent ran under carries the session nonce.
    let seen = std::fs::read_to_string(fake.kernel.join("profile-seen.sb")).unwrap();
    assert!(seen.contains("(allow default (with report) (with message \"safehouse-"), "{seen}");

    let events = archive_events(&archive_path(&stderr));
    let got = summary(&events);
    assert_eq!(
        got,
        vec![
            "bash file-read-data /private/etc/hosts",
            "cat file-read-data /private/etc/hosts",
            "cat file-read-data /private/etc/hosts",
            "cat file-read-data /private/etc/late-report",
            "sleep file-read-data /opt/child-read",
        ],
        "stderr:\n{stderr}"
    );
    // Kept out: the other processes recorded alongside (searchpartyuseragent, imagent, gputoolsserviced,
    // and the untagged cat/touch/curl of other runs).
    assert!(stderr.contains("kept out"), "{stderr}");
    assert!(stderr.contains("the backfill recovered 1 report(s)"), "{stderr}");
}

#[test]
fn a_dying_stream_is_reported_and_the_backfill_recovers() {
    let Some(shared) = support::shared_dir("a_dying_stream_is_reported_and_the_backfill_recovers") else { return };
    let fake = Fake::new();
    fake.replay_from_corpus(&shared);
    // The stream delivers the readiness probe and 3 more records, then dies.
    let output = fake
        .command(&[("FAKE_LOG_DIE_AFTER", "4")], &["--json", "--", "sh", "-c", "sleep 0.5"])
        .output()
        .unwrap();
    let (_, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("`log stream` stopped during the session"), "{stderr}");
    assert!(stderr.contains("lost connection to logd (simulated)"), "{stderr}");
    let got = summary(&archive_events(&archive_path(&stderr)));
    assert_eq!(
        got,
        vec![
            "bash file-read-data /private/etc/hosts",
            "cat file-read-data /private/etc/hosts",
            "cat file-read-data /private/etc/hosts",
            "cat file-read-data /private/etc/late-report",
        ]
    );
}

#[test]
fn a_refused_profile_shows_sandbox_exec_message_and_writes_nothing() {
    let fake = Fake::new();
    let output = fake
        .command(&[("FAKE_SANDBOX_REFUSE", "profile.sb:3:1: unbound variable: HOME_DIR")], &["--yes", "--", "true"])
        .output()
        .unwrap();
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("sandbox-exec refused the reporting profile"), "{stderr}");
    assert!(stderr.contains("unbound variable: HOME_DIR"), "{stderr}");
    assert!(!fake.calls().contains(&"agent".to_string()));
    assert!(!fake.root.join("config").exists(), "nothing may be written");
}

#[test]
fn an_agent_failing_is_said_and_what_was_captured_is_kept() {
    let Some(shared) = support::shared_dir("an_agent_failing_is_said_and_what_was_captured_is_kept") else { return };
    let fake = Fake::new();
    fake.replay_from_corpus(&shared);
    let output = fake.command(&[], &["--json", "--keep-profile", "--", "sh", "-c", "exit 3"]).output().unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("the agent exited with status 3"), "{stderr}");
    // --keep-profile: the reporting profile stays, and it is the one sandbox-exec was given.
    let kept = stderr.lines().find_map(|l| l.split("reporting profile kept at ").nth(1)).unwrap_or_else(|| panic!("{stderr}"));
    let kept_text = std::fs::read_to_string(kept.trim()).unwrap();
    assert_eq!(kept_text, std::fs::read_to_string(fake.kernel.join("profile-seen.sb")).unwrap());
    assert!(kept_text.contains("safehouse learning floor"));
    std::fs::remove_file(kept.trim()).unwrap();
    assert!(!stdout.is_empty());
    assert_eq!(archive_events(&archive_path(&stderr)).len(), 4, "{stderr}");
}

/// Generous upper bound for anything these tests wait on (CI runs every test binary at once on
/// two loaded cores); the waits themselves end as soon as the condition is observed.
const PATIENCE: Duration = Duration::from_secs(120);

/// Waits until the agent script has created `ready` (it does so after installing its INT trap:
/// an interrupt forwarded earlier would kill the shell instead of running the trap).
fn wait_for_agent_ready(fake: &Fake, ready: &Path) {
    let deadline = Instant::now() + PATIENCE;
    while !ready.exists() {
        assert!(Instant::now() < deadline, "the agent never became ready; calls: {:?}", fake.calls());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The child's stderr, read line by line as it comes, so a test can wait for a note.
struct StderrLines {
    lines: std::sync::mpsc::Receiver<String>,
    seen: String,
}

impl StderrLines {
    fn take(child: &mut std::process::Child) -> StderrLines {
        use std::io::BufRead;
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        StderrLines { lines, seen: String::new() }
    }

    /// Blocks until a line containing `needle` arrives.
    fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push_str(&line);
                    self.seen.push('\n');
                    if line.contains(needle) {
                        return;
                    }
                }
                Err(e) => panic!("no `{needle}` on stderr ({e}); so far:\n{}", self.seen),
            }
        }
    }

    /// Everything the child wrote to stderr (call after it exited).
    fn rest(mut self) -> String {
        while let Ok(line) = self.lines.recv() {
            self.seen.push_str(&line);
            self.seen.push('\n');
        }
        self.seen
    }
}

fn interrupt(child: &std::process::Child) {
    let status = Command::new("kill").arg("-INT").arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
}

#[test]
fn first_interrupt_is_forwarded_and_the_session_is_still_reviewed() {
    let Some(shared) = support::shared_dir("first_interrupt_is_forwarded_and_the_session_is_still_reviewed") else { return };
    let fake = Fake::new();
    fake.replay_from_corpus(&shared);
    let marker = fake.kernel.join("agent-got-int");
    let ready = fake.kernel.join("agent-ready");
    let script = format!("trap 'touch {}; exit 130' INT; touch {}; while :; do sleep 0.1; done", marker.display(), ready.display());
    let child = fake
        .command(&[], &["--json", "--", "sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_agent_ready(&fake, &ready);
    interrupt(&child);
    let output = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&output);
    assert!(marker.exists(), "the agent did not get the interrupt; stderr:\n{stderr}");
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("the agent exited with status 130"), "{stderr}");
    serde_json::from_str::<Value>(&stdout).unwrap();
    assert!(fake.calls().contains(&"show".to_string()), "the backfill still runs");
    assert_eq!(archive_events(&archive_path(&stderr)).len(), 4, "{stderr}");
}

#[test]
fn second_interrupt_stops_at_once_and_keeps_the_archive() {
    let Some(shared) = support::shared_dir("second_interrupt_stops_at_once_and_keeps_the_archive") else { return };
    let fake = Fake::new();
    fake.replay_from_corpus(&shared);
    let ready = fake.kernel.join("agent-ready");
    let script = format!("trap '' INT; touch {}; while :; do sleep 0.1; done", ready.display());
    let mut child = fake
        .command(&[], &["--json", "--", "sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr_lines = StderrLines::take(&mut child);
    wait_for_agent_ready(&fake, &ready);
    interrupt(&child);
    // Two signals sent before the process runs its handler would merge into one: the second is
    // sent only once the first was counted (and forwarded).
    stderr_lines.wait_for("interrupt: forwarded to the agent");
    interrupt(&child);
    let output = child.wait_with_output().unwrap();
    let stderr = stderr_lines.rest();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stdout.is_empty(), "no review after a stop: {stdout}");
    assert!(!fake.calls().contains(&"show".to_string()), "no backfill after a stop");
    assert!(stderr.contains("safehouse learn --replay"), "{stderr}");
    let archive = archive_path(&stderr);
    assert!(archive.exists());
    // Whatever reached the stream before the stop is in the archive.
    assert!(archive_events(&archive).len() <= 4);
}

#[test]
fn verify_reruns_under_the_enforcing_profile_and_reports_new_denials() {
    let Some(shared) = support::shared_dir("verify_reruns_under_the_enforcing_profile_and_reports_new_denials") else { return };
    let fake = Fake::new();
    fake.replay_from_corpus(&shared);
    std::fs::write(
        fake.kernel.join("verify-only.ndjson"),
        "{\"processID\":0,\"processImagePath\":\"\\/kernel\",\"eventMessage\":\"Sandbox: bash(@PID@) deny(1) file-read-data \\/opt\\/new-in-verify\\n@TAG@\"}\n",
    )
    .unwrap();
    // Something safe to accept, so there is an overlay to verify: the agent's npm cache.
    let mut replay = std::fs::read_to_string(fake.kernel.join("replay.ndjson")).unwrap();
    for key in ["index-v5/3f/9a/1c2d", "content-v2/sha512/ab/cd/ef01"] {
        replay.push_str(&format!(
            "{{\"processID\":0,\"processImagePath\":\"/kernel\",\"eventMessage\":\"Sandbox: node(@PID@) allow file-read-data {}/.npm/_cacache/{key}\\n@TAG@\"}}\n",
            fake.home.display()
        ));
    }
    std::fs::write(fake.kernel.join("replay.ndjson"), replay).unwrap();
    let overlay = fake.root.join("overlay.sb");
    let output = fake
        .command(&[], &["--yes", "--verify", "--output", overlay.to_str().unwrap(), "--", "sh", "-c", "sleep 0.3"])
        .output()
        .unwrap();
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let calls = fake.calls();
    let first = |name: &str| calls.iter().position(|c| c == name).unwrap_or_else(|| panic!("{name}: {calls:?}"));
    assert!(first("agent") < first("agent-verify"), "{calls:?}");
    // The enforcing run's profile keeps (deny default), tagged.
    let seen = std::fs::read_to_string(fake.kernel.join("profile-seen.sb")).unwrap();
    assert!(seen.contains("(deny default (with message \"safehouse-"), "{seen}");
    assert!(!seen.contains("(with report)"), "{seen}");
    assert!(stderr.contains("verify: 1 new denial(s)"), "{stderr}");
    assert!(stderr.contains("file-read-data /opt/new-in-verify (bash)"), "{stderr}");
    // What was seen while learning and not accepted by --yes is listed apart, not as new.
    assert!(stderr.contains("seen while learning but not granted"), "{stderr}");
    assert!(std::fs::read_to_string(&overlay).unwrap().contains("/.npm"), "{stderr}");
}
