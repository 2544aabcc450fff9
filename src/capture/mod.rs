//! Live capture: run an agent and turn what it does into [`Event`]s, one backend per platform.
//!
//! This module owns the small interface both backends implement ([`Backend`]) and the pieces they
//! share: the request ([`Request`]), where events go ([`Sink`]), how the run ended ([`Outcome`]), and
//! Ctrl-C bookkeeping ([`Interrupts`]). `learn` builds a `Request`, picks [`platform_backend`], and
//! never needs to know whether events came from the macOS unified log or from `strace`.
//!
//! - macOS ([`macos`]): `sandbox-exec` with the reporting profile, `/usr/bin/log stream` for the
//!   Sandbox reports, `log show` backfill. Its binaries can be replaced by stand-ins
//!   (`SAFEHOUSE_SANDBOX_EXEC`, `SAFEHOUSE_LOG`), which is how it is tested on Linux.
//! - Linux ([`linux`]): `strace -f`, with every observed access decided by our own engine.

#[cfg(target_os = "linux")]
pub mod linux;
pub mod macos;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::Context;
use safehouse_learner::logs::ArchiveHeader;
use safehouse_learner::report::audit::{ProcessExit, SessionFacts};
use safehouse_learner::{Action, Event, Target};

/// Everything a backend needs to run one agent session.
pub struct Request<'a> {
    /// The agent and its arguments (`learn -- <agent> [args]`).
    pub command: &'a [String],
    /// Where the agent runs (the session's workdir).
    pub workdir: PathBuf,
    /// The reporting profile (SBPL text) the agent runs under on macOS. Linux ignores it.
    pub reporting_profile: &'a str,
    /// `-D NAME=VALUE` parameters for the profile, in order.
    pub params: &'a [(String, String)],
    /// The per-session nonce carried by the reporting rules' `(with message ...)`.
    pub session_tag: &'a str,
    /// Keep the reporting profile file after the run and say where it is.
    pub keep_profile: bool,
    /// What the current (enforcing) policy decides for an access. Linux sets `Event.action` from it,
    /// since `strace` sees every access, not only the ones the policy would deny.
    pub classify: &'a (dyn Fn(&str, &Target) -> Action + Sync),
    /// Ctrl-C state shared with the caller.
    pub interrupts: Interrupts,
}

/// Where a backend delivers what it observes, as it observes it (the caller archives incrementally).
pub trait Sink {
    /// One event attributed to the session.
    fn event(&mut self, event: Event) -> anyhow::Result<()>;
    /// A human-readable progress or diagnostic line (printed on stderr by `learn`).
    fn note(&mut self, message: &str);
}

/// How the agent's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentStatus {
    /// Exited with this code (0 = success).
    Exited(i32),
    /// Killed by this signal.
    Signalled(i32),
    /// We stopped it at once (second Ctrl-C).
    Stopped,
}

impl AgentStatus {
    /// What to tell the user about this ending, if it was not a clean exit.
    pub fn problem(&self) -> Option<String> {
        match self {
            AgentStatus::Exited(0) => None,
            AgentStatus::Exited(code) => Some(format!("the agent exited with status {code}")),
            AgentStatus::Signalled(signal) => Some(format!("the agent was killed by signal {signal}")),
            AgentStatus::Stopped => Some("stopped at once by a second interrupt".to_string()),
        }
    }
}

/// The result of a capture. Problems do not discard what was captured: the caller still reviews it.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: AgentStatus,
    /// Things the user must hear about (the log stream died, reports may be missing, ...).
    pub problems: Vec<String>,
    /// Events attributed to the session / seen and kept out as belonging to other processes.
    pub attributed: u64,
    pub excluded: u64,
    /// The reporting profile file, when `keep_profile` was asked.
    pub kept_profile: Option<PathBuf>,
    /// When the agent and the report stream started, when the agent ended and how it exited:
    /// written into the archive header, where `audit` reads its evidence gaps from.
    pub facts: SessionFacts,
}

impl Outcome {
    pub fn new(status: AgentStatus) -> Outcome {
        Outcome { status, problems: Vec::new(), attributed: 0, excluded: 0, kept_profile: None, facts: SessionFacts::default() }
    }
}

impl AgentStatus {
    /// The agent's exit for [`SessionFacts::exits`] (a signal counts as `128 + signal`, as a
    /// shell reports it); `None` when we stopped it ourselves.
    pub fn exit_of(&self, program: &str, pid: Option<u32>) -> Option<ProcessExit> {
        let status = match *self {
            AgentStatus::Exited(code) => code,
            AgentStatus::Signalled(signal) => 128 + signal,
            AgentStatus::Stopped => return None,
        };
        let process = program.rsplit('/').next().unwrap_or(program).to_string();
        Some(ProcessExit { process, pid, status })
    }
}

/// How a child we spawned ended, as the capture backends report it.
pub(crate) fn status_of(status: &std::process::ExitStatus) -> AgentStatus {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => AgentStatus::Exited(code),
        (None, Some(signal)) => AgentStatus::Signalled(signal),
        (None, None) => AgentStatus::Exited(-1),
    }
}

/// Send `signal` to a process the capture started (the agent, or one of its traced children).
pub(crate) fn send_signal(pid: u32, signal: libc::c_int) {
    // SAFETY: plain kill(2) on a pid we started; a stale pid only yields ESRCH.
    unsafe { libc::kill(pid as libc::pid_t, signal) };
}

/// Start `expression` with SIGINT and SIGQUIT at their default dispositions in the child.
///
/// A process started with a signal ignored (a background job of a non-interactive shell, `nohup`)
/// passes the ignored disposition on through exec, and a shell started that way cannot even trap
/// it: the agent would never see the Ctrl-C we forward. The agent's process gets the defaults.
pub(crate) fn with_default_interrupts(expression: duct::Expression) -> duct::Expression {
    expression.before_spawn(|command| {
        use std::os::unix::process::CommandExt;
        // SAFETY: signal(2) is async-signal-safe, as pre_exec requires.
        unsafe {
            command.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                libc::signal(libc::SIGQUIT, libc::SIG_DFL);
                Ok(())
            });
        }
        Ok(())
    })
}

/// The local time now, as archives record it.
pub fn now() -> chrono::DateTime<chrono::FixedOffset> {
    chrono::Local::now().fixed_offset()
}

/// Complete the header of an archive written live: its first line is replaced by `header` with the
/// capture `facts` added to its context (they are only known once the capture is over). The file
/// is replaced atomically, so a failure leaves the archive as it was.
pub fn complete_archive_header(path: &Path, header: &ArchiveHeader, facts: &SessionFacts) -> anyhow::Result<()> {
    let mut header = header.clone();
    if let serde_json::Value::Object(fields) = serde_json::to_value(facts)? {
        header.context.extra.extend(fields);
    }
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let events = match text.iter().position(|&b| b == b'\n') {
        Some(end) => &text[end + 1..],
        None => &[][..],
    };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new().prefix(".safehouse-archive-").tempfile_in(dir)?;
    serde_json::to_writer(&mut temp, &header)?;
    temp.write_all(b"\n")?;
    temp.write_all(events)?;
    temp.persist(path).map_err(|e| anyhow::anyhow!("cannot write {}: {}", path.display(), e.error))?;
    Ok(())
}

/// A live capture backend.
pub trait Backend {
    /// A short name for messages (`macOS unified log`, `strace`).
    fn name(&self) -> &'static str;
    /// Run `request.command`, deliver its events to `sink`, and say how it ended.
    ///
    /// An `Err` means nothing useful could be captured (the sandbox refused the profile, the
    /// tracer is missing); the message must say what to do about it.
    fn capture(&self, request: &Request, sink: &mut dyn Sink) -> anyhow::Result<Outcome>;
}

/// The backend for this machine, or an explanation of what is available instead.
pub fn platform_backend() -> Result<Box<dyn Backend>, String> {
    if let Some(backend) = macos::SandboxExec::from_env() {
        return Ok(Box::new(backend));
    }
    // On Linux the strace backend is always chosen: a missing strace is explained when it starts.
    #[cfg(target_os = "linux")]
    return Ok(Box::new(linux::Strace::from_env()));
    #[allow(unreachable_code)]
    Err(unavailable_message())
}

fn unavailable_message() -> String {
    let mut msg = String::from(
        "live capture needs macOS `sandbox-exec` and `/usr/bin/log`, which this machine does not have.\n\
         What you can do here:\n\
         \x20 - review a recorded session: `safehouse learn --replay FILE...` (a session archive or the\n\
         \x20   output of `log show`/`log stream` in any style, e.g. `samples/sessions/...`)",
    );
    if cfg!(target_os = "linux") {
        msg.push_str(
            "\n  - Linux live capture traces the agent with `strace` (install it with `apt-get install strace`)",
        );
    }
    msg
}

/// Ctrl-C accounting shared between the signal handler, the backend and `learn`.
///
/// The first Ctrl-C is forwarded to the agent (when it did not get it from the terminal itself) and
/// the session is still reviewed; a second one stops the agent at once, keeping the archive.
#[derive(Clone, Default)]
pub struct Interrupts {
    count: Arc<AtomicUsize>,
    /// While false (before and after the capture) an interrupt ends the program as usual.
    capturing: Arc<std::sync::atomic::AtomicBool>,
}

impl Interrupts {
    /// Route SIGINT and SIGTERM of this process into the counter instead of dying, until
    /// [`Interrupts::capture_done`]. The handlers are installed once per process; each call
    /// starts a fresh count (`learn --verify` captures twice).
    pub fn install() -> anyhow::Result<Interrupts> {
        static INSTALLED: std::sync::OnceLock<Interrupts> = std::sync::OnceLock::new();
        let interrupts = match INSTALLED.get() {
            Some(interrupts) => interrupts.clone(),
            None => {
                let interrupts = Interrupts::default();
                for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                    let count = Arc::clone(&interrupts.count);
                    let capturing = Arc::clone(&interrupts.capturing);
                    // SAFETY: the handler only touches atomics and calls `_exit`, both async-signal-safe.
                    unsafe {
                        signal_hook::low_level::register(signal, move || {
                            if capturing.load(Ordering::SeqCst) {
                                count.fetch_add(1, Ordering::SeqCst);
                            } else {
                                signal_hook::low_level::exit(130);
                            }
                        })?;
                    }
                }
                INSTALLED.get_or_init(|| interrupts).clone()
            }
        };
        interrupts.count.store(0, Ordering::SeqCst);
        interrupts.capturing.store(true, Ordering::SeqCst);
        Ok(interrupts)
    }

    /// The capture is over: from now on an interrupt ends the program (e.g. during the review;
    /// nothing has been written then, and the archive is complete).
    pub fn capture_done(&self) {
        self.capturing.store(false, Ordering::SeqCst);
    }

    /// How many interrupts arrived so far.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// The user asked to stop at once (second Ctrl-C).
    pub fn stop_now(&self) -> bool {
        self.count() >= 2
    }
}
