//! The Linux live capture: run the agent under `strace -f` and decide every access it makes with
//! our own engine.
//!
//! Linux has no Seatbelt to report would-be denials, so the capture observes *every* file, exec and
//! socket access (`safehouse_learner::strace` maps each system call to the Seatbelt operation
//! macOS would check) and asks the current policy about each one ([`Request::classify`]): what it
//! would deny is a finding (`action: deny`), the rest is recorded as allowed. The learner, review,
//! overlay, `tighten` and `audit` then run on these events exactly as on macOS reports.
//!
//! Order of a session:
//!
//! 1. find `strace` (`SAFEHOUSE_STRACE` or `PATH`; missing: say how to install it) and the agent
//!    (not found: say so, before anything runs), and check that ptrace works here with a trial
//!    `strace true` (containers often forbid it: say what to change);
//! 2. start `strace <options> -o TRACE -- agent...` in the workdir with the terminal passed
//!    through (strace blocks fatal signals when writing to a file, so a Ctrl-C typed at the
//!    terminal reaches the agent only);
//! 3. follow TRACE as it grows, feed each complete line to the tracer, decide the events, fold
//!    identical ones over short windows (like the kernel's `N duplicate reports`) and deliver them;
//! 4. when strace exits (with the agent's status), read the rest of TRACE.
//!
//! Ctrl-C: the first is forwarded to the agent when it did not come from the terminal; the second
//! kills every traced task still alive and strace, keeping what was captured.

use std::io::{IsTerminal, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use indexmap::IndexMap;
use safehouse_learner::strace::{strace_options, Tracer};
use safehouse_learner::Event;

use super::{send_signal, status_of, with_default_interrupts, AgentStatus, Backend, Outcome, Request, Sink};

/// Identical events within one window are delivered once, with their count.
const FOLD_WINDOW: Duration = Duration::from_millis(250);
/// How long to sleep when the trace has no new line yet.
const POLL: Duration = Duration::from_millis(15);

/// The Linux backend: `strace` plus the engine's decisions.
pub struct Strace {
    /// `SAFEHOUSE_STRACE`, else `strace` found on `PATH` (`None`: not installed).
    program: Option<PathBuf>,
}

impl Strace {
    pub fn from_env() -> Strace {
        let program = match std::env::var_os("SAFEHOUSE_STRACE").filter(|v| !v.is_empty()) {
            Some(path) => Some(PathBuf::from(path)).filter(|p| p.is_file()),
            None => find_in_path("strace"),
        };
        Strace { program }
    }

    fn program(&self) -> anyhow::Result<&Path> {
        self.program.as_deref().ok_or_else(|| {
            anyhow::anyhow!(
                "`strace` is not installed, and Linux live capture traces the agent with it.\n\
                 Install it (Debian/Ubuntu: `sudo apt-get install strace`; Fedora: `sudo dnf install strace`), \
                 or review a recorded session with `safehouse learn --replay FILE...`"
            )
        })
    }

    /// A trial run: ptrace may be forbidden (containers without `SYS_PTRACE`, Yama scope 3).
    fn preflight(&self, strace: &Path) -> anyhow::Result<()> {
        let truth = find_in_path("true").unwrap_or_else(|| PathBuf::from("/bin/true"));
        let output = duct::cmd(strace, ["-f", "-qq", "-o", "/dev/null", "--"].iter().map(|s| s.as_ref()).chain([truth.as_os_str()]))
            .stdin_null()
            .stdout_null()
            .stderr_capture()
            .unchecked()
            .run()
            .with_context(|| format!("cannot run {}", strace.display()))?;
        if output.status.success() {
            return Ok(());
        }
        let message = String::from_utf8_lossy(&output.stderr).trim_end().to_string();
        if message.contains("ptrace") || message.contains("PTRACE") || message.contains("Operation not permitted") {
            anyhow::bail!(
                "this system does not let strace trace processes (ptrace is not permitted):\n{message}\n\
                 In a container, run it with `--cap-add=SYS_PTRACE` (and a seccomp profile that allows ptrace); \
                 on a host, check `/proc/sys/kernel/yama/ptrace_scope` (3 forbids ptrace until reboot)"
            );
        }
        anyhow::bail!("a trial `strace true` failed (exit {}):\n{message}", output.status.code().unwrap_or(-1))
    }
}

impl Backend for Strace {
    fn name(&self) -> &'static str {
        "strace"
    }

    fn capture(&self, request: &Request, sink: &mut dyn Sink) -> anyhow::Result<Outcome> {
        let Some(program) = request.command.first() else { anyhow::bail!("no agent command given after `--`") };
        let strace = self.program()?;
        let workdir = std::fs::canonicalize(&request.workdir)
            .with_context(|| format!("the workdir {} is not a directory", request.workdir.display()))?;
        if resolve_command(program, &workdir).is_none() {
            anyhow::bail!("command not found: `{program}` (not a file in the workdir and not on PATH)");
        }
        self.preflight(strace)?;

        let scratch = tempfile::Builder::new().prefix("safehouse-strace-").tempdir()?;
        let trace_path = scratch.path().join("trace");
        std::fs::File::create(&trace_path)?;
        let mut args = strace_options();
        args.push("-o".into());
        args.push(trace_path.display().to_string());
        args.push("--".into());
        args.extend(request.command.iter().cloned());

        sink.note(&format!("running {program} under strace"));
        // strace follows the agent from its exec: the trace (our stream) starts with it.
        let started = super::now();
        let child = with_default_interrupts(duct::cmd(strace, &args))
            .dir(&workdir)
            .unchecked()
            .start()
            .with_context(|| format!("cannot run {}", strace.display()))?;

        let mut follower = Follower::new(&trace_path, Tracer::new(workdir.display().to_string()))?;
        let mut folder = Folder::default();
        let mut forwarded = 0;
        let mut stopped = false;
        let mut agent_pid: Option<u32> = None;
        let status = loop {
            let exited = child.try_wait()?.map(|output| status_of(&output.status));
            let got = follower.read_available(|event| folder.add(decide(request, event)))?;
            if agent_pid.is_none() {
                agent_pid = follower.first_pid;
            }
            if folder.due() {
                folder.flush(sink)?;
            }
            if let Some(status) = exited {
                // strace has exited: the trace is complete once we read what is left.
                follower.read_available(|event| folder.add(decide(request, event)))?;
                break status;
            }
            if request.interrupts.stop_now() {
                // Every traced task still alive (the agent and what it started), then the tracer.
                // The trace is read first so that children started a moment ago are known; killing
                // strace first would detach the tasks and leave them running.
                follower.read_available(|event| folder.add(decide(request, event)))?;
                for tid in follower.tracer.live_tasks() {
                    send_signal(tid, libc::SIGKILL);
                }
                let _ = child.kill();
                stopped = true;
                break AgentStatus::Stopped;
            }
            let from_terminal = std::io::stdin().is_terminal();
            // An interrupt that arrives before the agent's first traced call waits for its pid.
            if request.interrupts.count() > forwarded && (from_terminal || agent_pid.is_some()) {
                forwarded = request.interrupts.count();
                // From a terminal the agent got the same Ctrl-C (it is in the foreground group);
                // an interrupt sent to us alone (kill -INT) is forwarded.
                if let (false, Some(pid)) = (from_terminal, agent_pid) {
                    send_signal(pid, libc::SIGINT);
                }
                sink.note("interrupt: forwarded to the agent; press Ctrl-C again to stop at once");
            }
            if !got {
                std::thread::sleep(POLL);
            }
        };
        if stopped {
            // What strace wrote before it was killed is still evidence.
            follower.read_available(|event| folder.add(decide(request, event)))?;
        }
        let ended = super::now();
        let (tracer, delivered_lines) = follower.finish();
        folder.flush(sink)?;

        let mut problems = Vec::new();
        let warnings = tracer.warnings();
        if !warnings.is_empty() {
            for warning in warnings.iter().take(5) {
                sink.note(&format!("strace trace: {warning}"));
            }
            problems.push(format!(
                "{} strace line(s) could not be used (first: {})",
                warnings.len(),
                warnings[0]
            ));
        }
        if delivered_lines == 0 && !stopped {
            problems.push("strace wrote no trace: nothing was captured".to_string());
        }
        problems.extend(status.problem());
        let mut outcome = Outcome::new(status);
        outcome.problems = problems;
        outcome.attributed = folder.delivered;
        outcome.facts.agent_started = Some(started);
        outcome.facts.stream_started = Some(started);
        outcome.facts.ended = Some(ended);
        outcome.facts.exits.extend(outcome.status.exit_of(program, agent_pid));
        Ok(outcome)
    }
}

/// Set the event's action from the current policy.
fn decide(request: &Request, mut event: Event) -> Event {
    event.action = (request.classify)(&event.operation, &event.target);
    event
}

/// Reads the trace file as strace writes it, line by line, into the tracer.
struct Follower {
    file: std::fs::File,
    pending: Vec<u8>,
    tracer: Tracer,
    lines: u64,
    /// The pid of the first traced line: the agent itself.
    first_pid: Option<u32>,
}

impl Follower {
    fn new(path: &Path, tracer: Tracer) -> anyhow::Result<Follower> {
        let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Follower { file, pending: Vec::new(), tracer, lines: 0, first_pid: None })
    }

    /// Feed every complete line written so far; returns whether anything new was read.
    fn read_available(&mut self, mut deliver: impl FnMut(Event)) -> anyhow::Result<bool> {
        let mut chunk = Vec::new();
        let position = self.file.stream_position()?;
        self.file.read_to_end(&mut chunk)?;
        if chunk.is_empty() {
            self.file.seek(SeekFrom::Start(position))?;
            return Ok(false);
        }
        self.pending.extend_from_slice(&chunk);
        let Some(last_newline) = memchr_last(&self.pending) else { return Ok(true) };
        let complete: Vec<u8> = self.pending.drain(..=last_newline).collect();
        for line in complete.split(|b| *b == b'\n') {
            if line.is_empty() {
                continue;
            }
            // strace writes decoded text as ASCII (non-ASCII bytes are escaped with -x).
            let line = String::from_utf8_lossy(line);
            if self.first_pid.is_none() {
                self.first_pid = line.split_whitespace().next().and_then(|p| p.parse().ok());
            }
            self.lines += 1;
            for event in self.tracer.feed(&line) {
                deliver(event);
            }
        }
        Ok(true)
    }

    fn finish(mut self) -> (Tracer, u64) {
        if !self.pending.is_empty() {
            let line = String::from_utf8_lossy(&self.pending).into_owned();
            self.tracer.feed(&line);
            self.lines += 1;
        }
        self.tracer.finish();
        (self.tracer, self.lines)
    }
}

fn memchr_last(bytes: &[u8]) -> Option<usize> {
    bytes.iter().rposition(|b| *b == b'\n')
}

/// Folds identical events (same process, pid, decision, operation and target) over a short
/// window into one event with a count, so a build that reads a header 10,000 times is not 10,000
/// archive lines, while every access is still counted.
#[derive(Default)]
struct Folder {
    window: IndexMap<(u32, String, bool, String, String), Event>,
    opened: Option<Instant>,
    delivered: u64,
}

impl Folder {
    fn add(&mut self, event: Event) {
        let key = (
            event.pid.unwrap_or(0),
            event.process.clone(),
            event.action == safehouse_learner::Action::Deny,
            event.operation.clone(),
            event.target.raw.clone(),
        );
        self.opened.get_or_insert_with(Instant::now);
        match self.window.get_mut(&key) {
            Some(first) => first.count += event.count,
            None => {
                self.window.insert(key, event);
            }
        }
    }

    fn due(&self) -> bool {
        self.opened.is_some_and(|t| t.elapsed() >= FOLD_WINDOW) || self.window.len() >= 4096
    }

    fn flush(&mut self, sink: &mut dyn Sink) -> anyhow::Result<()> {
        self.opened = None;
        for (_, event) in self.window.drain(..) {
            self.delivered += 1;
            sink.event(event)?;
        }
        Ok(())
    }
}

/// Where `program` would be run from: a path (relative to the workdir) or a `PATH` entry.
fn resolve_command(program: &str, workdir: &Path) -> Option<PathBuf> {
    if program.contains('/') {
        let path = workdir.join(program);
        return is_executable(&path).then_some(path);
    }
    find_in_path(program)
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Interrupts;
    use safehouse_learner::{Action, Target};

    #[derive(Default)]
    struct Collect {
        events: Vec<Event>,
        notes: Vec<String>,
    }

    impl Sink for Collect {
        fn event(&mut self, event: Event) -> anyhow::Result<()> {
            self.events.push(event);
            Ok(())
        }
        fn note(&mut self, message: &str) {
            self.notes.push(message.to_string());
        }
    }

    fn run(command: &[&str], workdir: &Path, classify: &(dyn Fn(&str, &Target) -> Action + Sync)) -> (anyhow::Result<Outcome>, Collect) {
        let command: Vec<String> = command.iter().map(|s| s.to_string()).collect();
        let request = Request {
            command: &command,
            workdir: workdir.to_path_buf(),
            reporting_profile: "",
            params: &[],
            session_tag: "test",
            keep_profile: false,
            classify,
            interrupts: Interrupts::default(),
        };
        let mut sink = Collect::default();
        let outcome = Strace::from_env().capture(&request, &mut sink);
        (outcome, sink)
    }

    /// A real command under the real strace: events arrive decided, folded and attributed.
    #[test]
    fn captures_a_real_shell_session_and_decides_each_access() {
        if find_in_path("strace").is_none() {
            eprintln!("SKIPPED captures_a_real_shell_session: strace is not installed (.ci/run installs it)");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let work = std::fs::canonicalize(dir.path()).unwrap();
        let secret = work.join("secret");
        std::fs::write(&secret, "s").unwrap();
        let secret_text = secret.display().to_string();
        let deny_secret = move |_: &str, target: &Target| {
            if target.path_str() == Some(secret_text.as_str()) { Action::Deny } else { Action::Allow }
        };
        let (outcome, sink) = run(
            &["/bin/sh", "-c", "for i in 1 2 3; do cat secret; done >/dev/null; echo x > made.txt; rm made.txt; exit 3"],
            &work,
            &deny_secret,
        );
        let outcome = outcome.unwrap();
        assert_eq!(outcome.status, AgentStatus::Exited(3));
        assert!(outcome.problems.iter().any(|p| p.contains("status 3")), "{:?}", outcome.problems);
        let reads: Vec<&Event> = sink
            .events
            .iter()
            .filter(|e| e.operation == "file-read-data" && e.target.path_str() == Some(secret.to_str().unwrap()))
            .collect();
        // Three `cat` processes, each denied once.
        assert_eq!(reads.len(), 3, "{reads:#?}");
        assert!(reads.iter().all(|e| e.action == Action::Deny && e.process == "cat" && e.count == 1));
        let made = work.join("made.txt").display().to_string();
        let made_ops: Vec<(&str, Action)> = sink
            .events
            .iter()
            .filter(|e| e.target.raw == made)
            .map(|e| (e.operation.as_str(), e.action))
            .collect();
        // The shell's `>` (existence unknown: both write operations), rm's stat, then the unlink.
        assert_eq!(
            made_ops,
            vec![
                ("file-write-create", Action::Allow),
                ("file-write-data", Action::Allow),
                ("file-read-metadata", Action::Allow),
                ("file-write-unlink", Action::Allow)
            ]
        );
        assert_eq!(outcome.attributed, sink.events.len() as u64);
    }

    /// Run `script` under capture while another thread plays the user: once the agent has
    /// created `ready`, it presses Ctrl-C `presses` times (through the same counter the signal
    /// handler increments).
    fn run_interrupted(script: &str, presses: usize) -> (Outcome, Collect) {
        let dir = tempfile::tempdir().unwrap();
        let work = std::fs::canonicalize(dir.path()).unwrap();
        let interrupts = Interrupts::default();
        let user = {
            let interrupts = interrupts.clone();
            let ready = work.join("ready");
            std::thread::spawn(move || {
                while !ready.exists() {
                    std::thread::sleep(Duration::from_millis(10));
                }
                for _ in 0..presses {
                    interrupts.count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        let command: Vec<String> = ["/bin/sh", "-c", script].iter().map(|s| s.to_string()).collect();
        let allow = |_: &str, _: &Target| Action::Allow;
        let request = Request {
            command: &command,
            workdir: work.clone(),
            reporting_profile: "",
            params: &[],
            session_tag: "test",
            keep_profile: false,
            classify: &allow,
            interrupts,
        };
        let mut sink = Collect::default();
        let outcome = Strace::from_env().capture(&request, &mut sink).unwrap();
        user.join().unwrap();
        (outcome, sink)
    }

    #[test]
    fn first_interrupt_is_forwarded_to_the_agent() {
        if find_in_path("strace").is_none() {
            eprintln!("SKIPPED first_interrupt_is_forwarded_to_the_agent: strace is not installed");
            return;
        }
        // The agent exits 7 on SIGINT: only the forwarded interrupt can end it.
        let (outcome, sink) = run_interrupted("trap 'exit 7' INT; touch ready; while :; do sleep 0.05; done", 1);
        assert_eq!(outcome.status, AgentStatus::Exited(7), "{:?} {:?}", outcome.problems, sink.notes);
        assert!(sink.notes.iter().any(|n| n.contains("forwarded to the agent")), "{:?}", sink.notes);
        assert!(sink.events.iter().any(|e| e.target.raw.ends_with("/ready")));
    }

    #[test]
    fn second_interrupt_stops_every_traced_process_and_keeps_the_events() {
        if find_in_path("strace").is_none() {
            eprintln!("SKIPPED second_interrupt_stops_every_traced_process: strace is not installed");
            return;
        }
        // The agent ignores SIGINT and waits for a long-running child.
        let (outcome, sink) = run_interrupted("trap '' INT; touch ready; sleep 600 & wait", 2);
        assert_eq!(outcome.status, AgentStatus::Stopped);
        assert!(outcome.problems.iter().any(|p| p.contains("stopped at once")), "{:?}", outcome.problems);
        // What happened before the stop is kept.
        assert!(sink.events.iter().any(|e| e.target.raw.ends_with("/ready")));
        // The child (`sleep`) was killed too, not left running detached.
        let sleeper = sink
            .events
            .iter()
            .find(|e| e.operation == "process-exec" && e.target.raw.ends_with("/sleep"))
            .and_then(|e| e.pid)
            .expect("the sleep child was traced");
        let gone = (0..500).any(|_| {
            let state = std::fs::read_to_string(format!("/proc/{sleeper}/stat")).unwrap_or_default();
            // Gone, or a zombie waiting for its (also killed) parent to be reaped.
            let dead = state.is_empty() || state.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z'));
            if !dead {
                std::thread::sleep(Duration::from_millis(10));
            }
            dead
        });
        assert!(gone, "sleep (pid {sleeper}) is still running");
    }

    #[test]
    fn clear_errors_before_anything_runs() {
        let dir = tempfile::tempdir().unwrap();
        let allow = |_: &str, _: &Target| Action::Allow;
        if find_in_path("strace").is_some() {
            let (outcome, sink) = run(&["safehouse-no-such-agent", "--flag"], dir.path(), &allow);
            let message = format!("{:#}", outcome.unwrap_err());
            assert!(message.contains("command not found: `safehouse-no-such-agent`"), "{message}");
            assert!(sink.events.is_empty());
        }
        let missing = Strace { program: None };
        let command = vec!["true".to_string()];
        let request = Request {
            command: &command,
            workdir: dir.path().to_path_buf(),
            reporting_profile: "",
            params: &[],
            session_tag: "test",
            keep_profile: false,
            classify: &allow,
            interrupts: Interrupts::default(),
        };
        let message = format!("{:#}", missing.capture(&request, &mut Collect::default()).unwrap_err());
        assert!(message.contains("apt-get install strace"), "{message}");
    }

    #[test]
    fn commands_resolve_from_the_workdir_or_path() {
        let dir = tempfile::tempdir().unwrap();
        assert!(resolve_command("sh", dir.path()).is_some());
        assert!(resolve_command("safehouse-no-such-command", dir.path()).is_none());
        assert!(resolve_command("./script", dir.path()).is_none());
        let script = dir.path().join("script");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        assert!(resolve_command("./script", dir.path()).is_none(), "not executable yet");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(resolve_command("./script", dir.path()), Some(dir.path().join("./script")));
    }
}
