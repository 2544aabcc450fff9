//! The thin macOS boundary: `sandbox-exec` runs the agent under the reporting profile while
//! `/usr/bin/log stream` delivers the kernel's Sandbox reports; `log show` backfills afterwards.
//!
//! Order of a session (see `../shared/docs/unified-log-format.md` §4, §7):
//!
//! 1. write the reporting profile to a private temp file and let `sandbox-exec` check it
//!    (`sandbox-exec -f P /usr/bin/true`): a refusal is shown with its own message;
//! 2. start `log stream --style ndjson` in its own process group (a terminal Ctrl-C must not kill it);
//! 3. readiness: fire a sentinel denial (`sandbox-exec -p ... /bin/cat SENTINEL`) until the stream
//!    shows it, so start-up reports of the agent are not lost;
//! 4. run `sandbox-exec -f P -- agent...` with the terminal passed through; attribute every report
//!    (the session nonce in the tag, then the agent's process tree, then its process names);
//! 5. after the agent exits, keep reading for a grace period, stop the stream, then `log show` over
//!    the session window and add what the stream missed (multiset difference: no double counting).
//!
//! `SAFEHOUSE_SANDBOX_EXEC`, `SAFEHOUSE_LOG` replace the two binaries (the tests use stand-ins
//! that replay recorded output); `SAFEHOUSE_GRACE_MS` and `SAFEHOUSE_READY_TIMEOUT_MS` tune the waits.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use safehouse_learner::Event;

use super::{send_signal, status_of, with_default_interrupts, AgentStatus, Backend, Outcome, Request, Sink};

/// The predicate Codex and Chromium use: kernel Sandbox reports whichever way they are tagged.
pub const PREDICATE: &str =
    r#"((processID == 0) AND (senderImagePath CONTAINS "/Sandbox")) OR (subsystem == "com.apple.sandbox.reporting")"#;

const DEFAULT_SANDBOX_EXEC: &str = "/usr/bin/sandbox-exec";
const DEFAULT_LOG: &str = "/usr/bin/log";

/// The macOS backend: `sandbox-exec` + the unified log.
pub struct SandboxExec {
    sandbox_exec: PathBuf,
    log: PathBuf,
    grace: Duration,
    ready_timeout: Duration,
}

impl SandboxExec {
    /// The backend if both binaries exist (the real ones, or the stand-ins named by the environment).
    pub fn from_env() -> Option<SandboxExec> {
        let sandbox_exec = env_path("SAFEHOUSE_SANDBOX_EXEC", DEFAULT_SANDBOX_EXEC);
        let log = env_path("SAFEHOUSE_LOG", DEFAULT_LOG);
        if !sandbox_exec.is_file() || !log.is_file() {
            return None;
        }
        Some(SandboxExec {
            sandbox_exec,
            log,
            grace: env_millis("SAFEHOUSE_GRACE_MS", 1500),
            ready_timeout: env_millis("SAFEHOUSE_READY_TIMEOUT_MS", 5000),
        })
    }

    fn sandbox_args(&self, request: &Request, profile: &Path) -> Vec<String> {
        let mut args = Vec::new();
        for (name, value) in request.params {
            args.push("-D".to_string());
            args.push(format!("{name}={value}"));
        }
        args.push("-f".to_string());
        args.push(profile.display().to_string());
        args
    }

    /// `sandbox-exec` compiles the profile before running anything: ask it now, with its message.
    fn preflight(&self, request: &Request, profile: &Path) -> anyhow::Result<()> {
        let mut args = self.sandbox_args(request, profile);
        args.push("/usr/bin/true".to_string());
        let output = duct::cmd(&self.sandbox_exec, &args)
            .stdin_null()
            .stdout_null()
            .stderr_capture()
            .unchecked()
            .run()
            .with_context(|| format!("cannot run {}", self.sandbox_exec.display()))?;
        if !output.status.success() {
            let message = String::from_utf8_lossy(&output.stderr);
            anyhow::bail!(
                "sandbox-exec refused the reporting profile (exit {}):\n{}\n(run with --keep-profile to inspect the profile)",
                output.status.code().unwrap_or(-1),
                message.trim_end()
            );
        }
        Ok(())
    }

    fn start_stream(&self) -> anyhow::Result<LogStream> {
        let stderr = tempfile::NamedTempFile::new()?;
        let handle = duct::cmd(&self.log, ["stream", "--style", "ndjson", "--predicate", PREDICATE])
            .stdin_null()
            .stderr_path(stderr.path())
            .unchecked()
            .before_spawn(|command| {
                use std::os::unix::process::CommandExt;
                // Its own process group: a Ctrl-C typed at the terminal goes to the agent, not to the log.
                command.process_group(0);
                Ok(())
            })
            .reader()
            .with_context(|| format!("cannot start {} stream", self.log.display()))?;
        let handle = Arc::new(handle);
        let (sender, receiver) = mpsc::channel();
        let reader_handle = Arc::clone(&handle);
        let thread = std::thread::spawn(move || {
            let reader = BufReader::new(&*reader_handle);
            for event in decode_events(reader, "log stream") {
                if sender.send(Some(event)).is_err() {
                    return;
                }
            }
            let _ = sender.send(None);
        });
        Ok(LogStream { handle, receiver, stderr, thread: Some(thread), ended: false, stopped: false })
    }

    /// Fire sentinel denials until the stream shows one. Returns whether it did.
    fn wait_until_ready(&self, stream: &mut LogStream, tag: &str) -> anyhow::Result<bool> {
        let dir = tempfile::tempdir()?;
        let sentinel = dir.path().join(format!("safehouse-ready-{tag}"));
        std::fs::write(&sentinel, b"ready\n")?;
        // The kernel reports the canonical path (/private/var/... for /var/...): match on the name.
        let sentinel_name = sentinel.file_name().unwrap().to_string_lossy().into_owned();
        let profile = format!(
            "(version 1)(allow default)(deny file-read-data (literal {}))",
            safehouse_learner::sbpl::render::quote(&sentinel.display().to_string())
        );
        let deadline = Instant::now() + self.ready_timeout;
        while Instant::now() < deadline {
            let _ = duct::cmd(&self.sandbox_exec, ["-p".as_ref(), profile.as_ref(), "/bin/cat".as_ref(), sentinel.as_os_str()])
                .stdin_null()
                .stdout_null()
                .stderr_null()
                .unchecked()
                .run();
            let round = Instant::now() + Duration::from_millis(300).min(self.ready_timeout);
            loop {
                match stream.next_until(round) {
                    Next::Event(event) => {
                        if event.target.path_str().is_some_and(|p| p.ends_with(&sentinel_name)) {
                            return Ok(true);
                        }
                    }
                    Next::Timeout => break,
                    Next::Ended => {
                        anyhow::bail!("`log stream` exited before it was ready{}", stream.stderr_text())
                    }
                }
            }
        }
        Ok(false)
    }

    fn backfill(&self, start: chrono::DateTime<chrono::Local>) -> anyhow::Result<Vec<Event>> {
        // `log show --start` is read in local time (format doc §4).
        let start = (start - chrono::Duration::seconds(1)).format("%Y-%m-%d %H:%M:%S").to_string();
        let end = (chrono::Local::now() + chrono::Duration::seconds(1)).format("%Y-%m-%d %H:%M:%S").to_string();
        let output = duct::cmd(
            &self.log,
            ["show", "--style", "ndjson", "--predicate", PREDICATE, "--start", &start, "--end", &end],
        )
        .stdin_null()
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .with_context(|| format!("cannot run {} show", self.log.display()))?;
        if !output.status.success() {
            anyhow::bail!(
                "`log show` failed (exit {}): {}",
                output.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&output.stderr).trim_end()
            );
        }
        Ok(decode_events(&output.stdout[..], "log show").collect())
    }
}

impl Backend for SandboxExec {
    fn name(&self) -> &'static str {
        "macOS unified log"
    }

    fn capture(&self, request: &Request, sink: &mut dyn Sink) -> anyhow::Result<Outcome> {
        let Some(program) = request.command.first() else { anyhow::bail!("no agent command given after `--`") };
        let profile = tempfile::Builder::new().prefix("safehouse-reporting-").suffix(".sb").tempfile()?;
        std::fs::write(profile.path(), request.reporting_profile)?;
        self.preflight(request, profile.path())?;

        let mut stream = self.start_stream()?;
        sink.note("waiting for `log stream` to be ready...");
        let mut problems = Vec::new();
        if !self.wait_until_ready(&mut stream, request.session_tag)? {
            problems.push(format!(
                "`log stream` did not show the readiness probe within {} ms: reports from the agent's start may be missing",
                self.ready_timeout.as_millis()
            ));
        }

        let stream_started = super::now();
        let start = chrono::Local::now();
        let mut args = self.sandbox_args(request, profile.path());
        args.push("--".to_string());
        args.extend(request.command.iter().cloned());
        sink.note(&format!("running {program} under the reporting profile"));
        let agent = with_default_interrupts(duct::cmd(&self.sandbox_exec, &args))
            .dir(&request.workdir)
            .unchecked()
            .start()
            .with_context(|| format!("cannot run {}", self.sandbox_exec.display()))?;
        let agent_pid = agent.pids()[0];
        let mut attribution = Attribution::new(request.session_tag, agent_pid, program);
        let mut streamed = Multiset::default();
        let mut outcome_status = None;
        let mut forwarded = 0;
        let mut tree_poll = Instant::now();
        let mut stopped = false;

        // While the agent runs: deliver attributed events, watch Ctrl-C, follow the process tree.
        while outcome_status.is_none() {
            if let Some(output) = agent.try_wait()? {
                outcome_status = Some(status_of(&output.status));
                break;
            }
            if request.interrupts.stop_now() {
                let _ = agent.kill();
                stopped = true;
                outcome_status = Some(AgentStatus::Stopped);
                break;
            }
            if request.interrupts.count() > forwarded {
                forwarded = request.interrupts.count();
                // From a terminal the agent got the same Ctrl-C (it is in the foreground group); only
                // an interrupt sent to us alone (kill -INT) needs forwarding.
                if !std::io::stdin().is_terminal() {
                    send_signal(agent_pid, libc::SIGINT);
                }
                sink.note("interrupt: forwarded to the agent; press Ctrl-C again to stop at once");
            }
            if tree_poll.elapsed() >= Duration::from_millis(200) {
                attribution.follow_tree();
                tree_poll = Instant::now();
            }
            match stream.next_until(Instant::now() + Duration::from_millis(50)) {
                Next::Event(event) => {
                    streamed.add(&event);
                    attribution.offer(*event, false, sink)?;
                }
                Next::Timeout => {}
                Next::Ended => {}
            }
        }
        let ended = super::now();
        attribution.follow_tree();
        let status = outcome_status.unwrap_or(AgentStatus::Stopped);

        if !stopped {
            // Late reports: keep reading for the grace period.
            let grace_end = Instant::now() + self.grace;
            while Instant::now() < grace_end && !request.interrupts.stop_now() {
                match stream.next_until(grace_end) {
                    Next::Event(event) => {
                        streamed.add(&event);
                        attribution.offer(*event, false, sink)?;
                    }
                    Next::Timeout | Next::Ended => break,
                }
            }
        }
        if stream.ended {
            problems.push(format!(
                "`log stream` stopped during the session{}; the `log show` backfill tries to recover what it missed",
                stream.stderr_text()
            ));
        }
        for event in stream.stop() {
            streamed.add(&event);
            attribution.offer(event, false, sink)?;
        }

        if !stopped && !request.interrupts.stop_now() {
            sink.note("backfilling from `log show` over the session window...");
            match self.backfill(start) {
                Ok(events) => {
                    for event in streamed.missing_from(events) {
                        attribution.offer(event, true, sink)?;
                    }
                }
                Err(err) => problems.push(format!("{err:#}")),
            }
        }
        attribution.finish(sink)?;
        if attribution.recovered > 0 {
            sink.note(&format!("the backfill recovered {} report(s) the stream missed", attribution.recovered));
        }

        problems.extend(status.problem());
        let mut outcome = Outcome::new(status);
        outcome.problems = problems;
        outcome.attributed = attribution.attributed;
        outcome.excluded = attribution.excluded;
        // The stream was ready (or given up on) before the agent was started.
        outcome.facts.stream_started = Some(stream_started);
        outcome.facts.agent_started = Some(start.fixed_offset());
        outcome.facts.ended = Some(ended);
        outcome.facts.exits.extend(outcome.status.exit_of(program, Some(agent_pid)));
        if request.keep_profile {
            let (_, path) = profile.keep()?;
            outcome.kept_profile = Some(path);
        }
        Ok(outcome)
    }
}

/// The running `log stream` and the thread that decodes its lines.
struct LogStream {
    handle: Arc<duct::ReaderHandle>,
    receiver: Receiver<Option<Event>>,
    stderr: tempfile::NamedTempFile,
    thread: Option<std::thread::JoinHandle<()>>,
    ended: bool,
    stopped: bool,
}

/// What the stream gave within a deadline.
enum Next {
    Event(Box<Event>),
    Timeout,
    Ended,
}

impl LogStream {
    fn next_until(&mut self, deadline: Instant) -> Next {
        if self.ended {
            return Next::Ended;
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.receiver.recv_timeout(wait) {
            Ok(Some(event)) => Next::Event(Box::new(event)),
            Ok(None) | Err(RecvTimeoutError::Disconnected) => {
                self.ended = true;
                Next::Ended
            }
            Err(RecvTimeoutError::Timeout) => Next::Timeout,
        }
    }

    fn stderr_text(&self) -> String {
        let text = std::fs::read_to_string(self.stderr.path()).unwrap_or_default();
        let text = text.trim();
        let status = match self.handle.try_wait() {
            Ok(Some(output)) => match output.status.code() {
                Some(code) => format!(" (exit {code})"),
                None => " (killed)".to_string(),
            },
            _ => String::new(),
        };
        if text.is_empty() {
            status
        } else {
            format!("{status}: {text}")
        }
    }

    /// Stop the stream (its whole process group, also when the leader already died and left a
    /// helper behind) and return what was still in flight.
    fn stop(&mut self) -> Vec<Event> {
        self.stopped = true;
        if let Some(&pid) = self.handle.pids().first() {
            // SAFETY: plain syscall on the group we created for the stream; ESRCH when it is gone.
            unsafe { libc::killpg(pid as libc::pid_t, libc::SIGTERM) };
        }
        let mut rest = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            match self.next_until(deadline) {
                Next::Event(event) => rest.push(*event),
                Next::Ended => break,
                Next::Timeout => {
                    let _ = self.handle.kill();
                    break;
                }
            }
        }
        if let Some(thread) = self.thread.take() {
            if self.ended {
                let _ = thread.join();
            }
        }
        rest
    }
}

impl Drop for LogStream {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        if let Some(&pid) = self.handle.pids().first() {
            // SAFETY: as in `stop`.
            unsafe { libc::killpg(pid as libc::pid_t, libc::SIGKILL) };
        }
    }
}

/// Decides whether a report belongs to this session: tag, then process tree, then names.
///
/// Names are the weakest evidence (any process called `bash` matches `bash`), so only the agent's
/// own name counts, and only for reports no tag or pid explains.
struct Attribution {
    tag: String,
    tree: BTreeSet<u32>,
    names: BTreeSet<String>,
    /// Untagged reports from processes not (yet) known: decided when the session ends, because a
    /// short-lived child may be seen in the process table only after its reports arrive.
    pending: Vec<(Event, bool)>,
    attributed: u64,
    excluded: u64,
    /// Attributed reports that only the `log show` backfill had.
    recovered: u64,
}

impl Attribution {
    fn new(tag: &str, agent_pid: u32, program: &str) -> Attribution {
        let base = Path::new(program).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut names = BTreeSet::new();
        names.insert(base);
        Attribution {
            tag: tag.to_string(),
            tree: BTreeSet::from([agent_pid]),
            names,
            pending: Vec::new(),
            attributed: 0,
            excluded: 0,
            recovered: 0,
        }
    }

    /// `recovered`: the report comes from the backfill only.
    fn offer(&mut self, event: Event, recovered: bool, sink: &mut dyn Sink) -> anyhow::Result<()> {
        if event.target.path_str().is_some_and(|p| p.contains(&format!("safehouse-ready-{}", self.tag))) {
            return Ok(()); // our own readiness probe
        }
        let tagged = event.tag.as_deref().is_some_and(|t| t.contains(&self.tag));
        let in_tree = event.pid.is_some_and(|pid| self.tree.contains(&pid));
        if tagged || in_tree {
            if let Some(pid) = event.pid {
                self.tree.insert(pid);
            }
            self.attributed += 1;
            self.recovered += u64::from(recovered);
            sink.event(event)
        } else if event.tag.is_some() {
            // Tagged by someone else's rule (another sandboxed tool): never ours.
            self.excluded += 1;
            Ok(())
        } else {
            self.pending.push((event, recovered));
            Ok(())
        }
    }

    /// Add the current descendants of known pids from the process table.
    fn follow_tree(&mut self) {
        let Ok(output) = duct::cmd("ps", ["-A", "-o", "pid=,ppid="]).stderr_null().stdout_capture().unchecked().run() else {
            return;
        };
        let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let mut fields = line.split_whitespace().filter_map(|f| f.parse::<u32>().ok());
            if let (Some(pid), Some(ppid)) = (fields.next(), fields.next()) {
                children.entry(ppid).or_default().push(pid);
            }
        }
        let mut todo: Vec<u32> = self.tree.iter().copied().collect();
        while let Some(pid) = todo.pop() {
            for &child in children.get(&pid).into_iter().flatten() {
                if self.tree.insert(child) {
                    todo.push(child);
                }
            }
        }
    }

    fn finish(&mut self, sink: &mut dyn Sink) -> anyhow::Result<()> {
        for (event, recovered) in std::mem::take(&mut self.pending) {
            let in_tree = event.pid.is_some_and(|pid| self.tree.contains(&pid));
            if in_tree || self.names.contains(&event.process) || self.name_is_truncated_agent(&event.process) {
                self.attributed += 1;
                self.recovered += u64::from(recovered);
                sink.event(event)?;
            } else {
                self.excluded += 1;
            }
        }
        Ok(())
    }

    /// The kernel truncates process names (16 bytes, sometimes 32): `claude-code-age` for `claude-code-agent`.
    fn name_is_truncated_agent(&self, name: &str) -> bool {
        name.len() >= 15 && self.names.iter().any(|known| known.starts_with(name))
    }
}

/// Reports seen by the stream, counted by identity, so the backfill adds only what is missing.
///
/// Timestamps jitter between `log stream` and `log show` for the same entry, so the identity is
/// everything else a report says; identical reports are counted, not collapsed.
#[derive(Default)]
struct Multiset {
    seen: BTreeMap<String, u64>,
}

impl Multiset {
    fn key(event: &Event) -> String {
        format!(
            "{}\u{0}{:?}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{:?}\u{0}{}",
            event.process,
            event.pid,
            event.action,
            event.operation,
            event.target.raw,
            event.count,
            event.tag,
            event.platform_policy
        )
    }

    fn add(&mut self, event: &Event) {
        *self.seen.entry(Self::key(event)).or_default() += 1;
    }

    /// The events of `backfill` that the stream did not deliver (per identity: show's count minus stream's).
    fn missing_from(&mut self, backfill: Vec<Event>) -> Vec<Event> {
        let mut missing = Vec::new();
        for event in backfill {
            let key = Self::key(&event);
            match self.seen.get_mut(&key) {
                Some(n) if *n > 0 => *n -= 1,
                _ => missing.push(event),
            }
        }
        missing
    }
}

fn env_path(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(default))
}

fn env_millis(var: &str, default: u64) -> Duration {
    Duration::from_millis(std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default))
}

/// `log` output (any style) → events, skipping what is not a Sandbox report. A stream that fails
/// mid-way just ends (the caller reports the dead stream).
fn decode_events<'r>(reader: impl BufRead + 'r, name: &str) -> impl Iterator<Item = Event> + 'r {
    let events = safehouse_learner::logs::open_events(reader, name).ok();
    events.into_iter().flatten().map_while(Result::ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use safehouse_learner::{Action, Target};

    fn ev(pid: u32, op: &str, target: &str) -> Event {
        Event::new("cat", Some(pid), Action::Deny, op, Target::parse(op, target))
    }

    #[test]
    fn backfill_adds_only_what_the_stream_missed() {
        let mut streamed = Multiset::default();
        streamed.add(&ev(1, "file-read-data", "/a"));
        streamed.add(&ev(1, "file-read-data", "/a"));
        let backfill = vec![
            ev(1, "file-read-data", "/a"),
            ev(1, "file-read-data", "/a"),
            ev(1, "file-read-data", "/a"),
            ev(2, "file-read-data", "/a"),
        ];
        let missing = streamed.missing_from(backfill);
        assert_eq!(missing, vec![ev(1, "file-read-data", "/a"), ev(2, "file-read-data", "/a")]);
    }
}
