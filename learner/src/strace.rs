//! The Linux tracer: `strace -f` output mapped to the Seatbelt operations macOS would check.
//!
//! On Linux there is no Seatbelt to report for us, so the live capture traces the agent with
//! `strace` and this module turns each traced system call into the [`Event`]s a macOS kernel would
//! have checked for it: `openat(..., O_RDONLY)` is `file-read-data` on the path, `newfstatat` is
//! `file-read-metadata`, `execve` is `process-exec`, `connect` to a UNIX socket is
//! `network-outbound` on its path, and so on (the table is [`Tracer::feed`]'s `map_call`). The
//! capture then asks the policy engine about each event; this module only observes.
//!
//! Exactness is the point, so the tracer is started with options that make the text unambiguous
//! ([`strace_options`]): `-f` (children), `-ttt` (epoch timestamps), `-yy` (every fd argument and
//! result decorated with the path it refers to, including `AT_FDCWD</cwd>`), `-x` (non-ASCII bytes
//! as `\xHH`), a string limit above `PATH_MAX` (paths are never truncated; a truncated string is
//! reported, never used), `-o FILE` (which makes strace prefix every line with the pid), and
//! `-e signal=none`. [`decode_string`] reverses strace's escaping exactly (`\"`, `\\`, `\n`...,
//! octal and hex escapes).
//!
//! What the tracer keeps per task, and why:
//! - the working directory, shared between tasks created with `CLONE_FS` and copied otherwise, so a
//!   relative path in a call without a decorated directory fd (`chdir("sub")`, `execve("./x")`)
//!   resolves exactly; every `AT_FDCWD</path>` decoration re-synchronises it;
//! - the thread group, so threads report their process id;
//! - the process name, which is the basename of the last program the process executed (what Linux
//!   puts in `comm`, without its 15-byte truncation), inherited across `fork`;
//! - the calls a task left `<unfinished ...>`, joined with their `<... resumed>` half;
//! - which paths were seen to exist or not, to tell `file-write-create` (a file that did not exist)
//!   from `file-write-data` in an `O_CREAT` open.
//!
//! Failed calls are kept: an `ENOENT` probe is a real access that Seatbelt checks (and reports).

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};

use crate::event::{Action, Event};
use crate::target::{Scope, Target, TargetKind};

/// The system calls the capture traces: everything that names a file (`%file`), creates or replaces
/// processes (`%process`), changes directory by fd, and the socket calls that name an address.
pub const TRACED_CALLS: &str = "%file,%process,fchdir,connect,bind,listen,sendto,sendmsg,\
fchmod,fchown,fgetxattr,fsetxattr,flistxattr,fremovexattr";

/// The embedded base profile of the Linux live capture: the Linux sibling of `base.sb` (the
/// system runtime every process needs, nothing of the user's), with the same `home-*`/`workdir-*`
/// helpers and `HOME_DIR`/`WORK_DIR` parameters.
pub const LINUX_BASE_PROFILE: &str = include_str!("../profiles/base-linux.sb");

/// strace's string limit: above `PATH_MAX` (4096) so a path is never truncated.
pub const STRING_LIMIT: u32 = 65536;

/// The strace options (before `-o FILE -- command`) whose output [`Tracer`] reads exactly.
pub fn strace_options() -> Vec<String> {
    [
        "-f",
        "-q",
        "-ttt",
        "-yy",
        "-x",
        "--seccomp-bpf",
        "-s",
        &STRING_LIMIT.to_string(),
        "-e",
        "signal=none",
        "-e",
        &format!("trace={TRACED_CALLS}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Something in the trace that could not be used, with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub line: u64,
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// One traced task (a process or a thread).
#[derive(Debug, Clone)]
struct Task {
    /// The thread group (process id) this task belongs to.
    tgid: u32,
    /// Index into [`Tracer::cwds`]: tasks created with `CLONE_FS` share one.
    fs: usize,
}

/// A `clone`/`fork`/`vfork` whose result has not been printed yet: a child that shows up meanwhile
/// was created by it.
#[derive(Debug, Clone)]
struct PendingFork {
    parent: u32,
    flags: CloneFlags,
}

#[derive(Debug, Clone, Copy, Default)]
struct CloneFlags {
    thread: bool,
    share_fs: bool,
}

/// The state machine that reads `strace -f` output line by line and produces [`Event`]s.
///
/// Every event's `action` is [`Action::Allow`]: deciding what the policy would deny is the caller's
/// job (the engine evaluates each event).
#[derive(Debug)]
pub struct Tracer {
    /// The working directory of the traced command when it started.
    initial_cwd: String,
    tasks: HashMap<u32, Task>,
    cwds: Vec<String>,
    /// Process name by thread group id.
    names: HashMap<u32, String>,
    /// The first half of `<unfinished ...>` calls by task id, with its line's timestamp.
    unfinished: HashMap<u32, (String, Option<DateTime<FixedOffset>>)>,
    forks: Vec<PendingFork>,
    /// Whether a path was seen to exist (`true`) or to be missing (`false`).
    exists: HashMap<String, bool>,
    /// Directories this trace created: a name inside one that was never seen did not exist.
    fresh_dirs: std::collections::HashSet<String>,
    /// The pid of lines without a pid prefix (strace writing to a terminal with one process).
    default_pid: Option<u32>,
    source: Option<String>,
    line: u64,
    warnings: Vec<Warning>,
}

impl Tracer {
    /// A tracer for a command started in `initial_cwd` (an absolute path).
    pub fn new(initial_cwd: impl Into<String>) -> Tracer {
        Tracer {
            initial_cwd: initial_cwd.into(),
            tasks: HashMap::new(),
            cwds: Vec::new(),
            names: HashMap::new(),
            unfinished: HashMap::new(),
            forks: Vec::new(),
            exists: HashMap::new(),
            fresh_dirs: Default::default(),
            default_pid: None,
            source: None,
            line: 0,
            warnings: Vec::new(),
        }
    }

    /// Name the trace (events then carry `file` = this name and `line` = the trace line).
    pub fn with_source(mut self, name: impl Into<String>) -> Tracer {
        self.source = Some(name.into());
        self
    }

    /// The tasks that have not exited yet, in ascending order (to stop them all at once).
    pub fn live_tasks(&self) -> Vec<u32> {
        let mut tids: Vec<u32> = self.tasks.keys().copied().collect();
        tids.sort_unstable();
        tids
    }

    /// What could not be used so far (malformed lines, truncated strings, unresolvable paths).
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Read every line of a whole trace. Calls still unfinished at the end are dropped (their
    /// process was killed mid-call, so the access result is unknown) and reported as warnings.
    pub fn parse_all(mut self, text: &str) -> (Vec<Event>, Vec<Warning>) {
        let mut events = Vec::new();
        for line in text.lines() {
            events.extend(self.feed(line));
        }
        self.finish();
        (events, self.warnings)
    }

    /// Note the calls left unfinished at the end of the trace.
    pub fn finish(&mut self) {
        let mut left: Vec<(u32, String)> =
            self.unfinished.drain().map(|(tid, (text, _))| (tid, text)).collect();
        left.sort();
        for (tid, text) in left {
            let name = text.split('(').next().unwrap_or("").to_string();
            self.warnings.push(Warning {
                line: self.line,
                message: format!("task {tid}: `{name}` never completed; its access is not counted"),
            });
        }
    }

    /// Read one line of `strace` output and return the accesses it completes.
    pub fn feed(&mut self, line: &str) -> Vec<Event> {
        self.line += 1;
        let line = line.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            return Vec::new();
        }
        let Some((tid, time, body)) = self.split_prefix(line) else {
            self.warn(format!("not a strace line: {}", shorten(line)));
            return Vec::new();
        };
        self.ensure_task(tid);

        if body.starts_with("+++ exited") || body.starts_with("+++ killed") {
            // The task is gone (its pid may be reused by a later, unrelated task).
            self.tasks.remove(&tid);
            return Vec::new();
        }
        if body.starts_with("+++ ") || body.starts_with("--- ") {
            // Other notices (`superseded by execve`) and signals: nothing was accessed.
            return Vec::new();
        }
        if let Some(rest) = body.strip_prefix("<... ") {
            // `<... openat resumed>, O_RDONLY) = 3</x>`: join with the first half.
            let Some(close) = rest.find(" resumed>") else {
                self.warn(format!("malformed resumed call: {}", shorten(body)));
                return Vec::new();
            };
            let tail = &rest[close + " resumed>".len()..];
            let Some((head, started)) = self.unfinished.remove(&tid) else {
                self.warn(format!("task {tid}: resumed call without its beginning"));
                return Vec::new();
            };
            let joined = format!("{head}{tail}");
            return self.complete(tid, started.or(time), &joined);
        }
        if let Some(head) = body.strip_suffix(" <unfinished ...>") {
            self.note_unfinished_fork(tid, head);
            self.unfinished.insert(tid, (head.to_string(), time));
            return Vec::new();
        }
        if body.ends_with("<detached ...>") || body.ends_with("<unavailable>") {
            return Vec::new();
        }
        self.complete(tid, time, body)
    }

    fn warn(&mut self, message: String) {
        self.warnings.push(Warning { line: self.line, message });
    }

    /// `PID  1796417900.218800 rest` or `[pid  PID] rest` or a bare `rest`.
    fn split_prefix<'l>(&mut self, line: &'l str) -> Option<(u32, Option<DateTime<FixedOffset>>, &'l str)> {
        let mut rest = line;
        let pid = if let Some(r) = rest.strip_prefix("[pid ") {
            let end = r.find(']')?;
            let pid = r[..end].trim().parse().ok()?;
            rest = &r[end + 1..];
            Some(pid)
        } else {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let after = &rest[digits..];
            // A pid is digits followed by spaces; a bare timestamp has a dot right after its digits.
            if digits > 0 && after.starts_with(' ') {
                let pid = rest[..digits].parse().ok()?;
                rest = after;
                Some(pid)
            } else {
                None
            }
        };
        rest = rest.trim_start_matches(' ');
        let mut time = None;
        let stamp_len = rest.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
        if stamp_len > 0 && rest[..stamp_len].contains('.') && rest[stamp_len..].starts_with(' ') {
            time = parse_epoch(&rest[..stamp_len]);
            rest = rest[stamp_len..].trim_start_matches(' ');
        }
        let pid = match pid {
            Some(p) => p,
            None => *self.default_pid.get_or_insert(0),
        };
        Some((pid, time, rest))
    }

    /// Make sure `tid` is known: a new task was created by the pending fork that precedes it, or
    /// (without one) it is the traced command itself.
    fn ensure_task(&mut self, tid: u32) {
        if self.tasks.contains_key(&tid) {
            return;
        }
        if let Some(fork) = self.forks.pop() {
            self.spawn(fork.parent, tid, fork.flags);
        } else {
            let fs = self.cwds.len();
            self.cwds.push(self.initial_cwd.clone());
            self.tasks.insert(tid, Task { tgid: tid, fs });
        }
    }

    /// Record a child created by `parent` (if not already recorded when it first appeared).
    fn spawn(&mut self, parent: u32, child: u32, flags: CloneFlags) {
        if self.tasks.contains_key(&child) {
            return;
        }
        let parent_task = self.tasks.get(&parent).cloned().unwrap_or(Task { tgid: parent, fs: 0 });
        if self.cwds.is_empty() {
            self.cwds.push(self.initial_cwd.clone());
        }
        let fs = if flags.share_fs {
            parent_task.fs
        } else {
            self.cwds.push(self.cwds[parent_task.fs].clone());
            self.cwds.len() - 1
        };
        let tgid = if flags.thread { parent_task.tgid } else { child };
        if !flags.thread {
            if let Some(name) = self.names.get(&parent_task.tgid).cloned() {
                self.names.insert(child, name);
            }
        }
        self.tasks.insert(child, Task { tgid, fs });
    }

    fn note_unfinished_fork(&mut self, tid: u32, head: &str) {
        let name = head.split('(').next().unwrap_or("");
        if matches!(name, "clone" | "clone3" | "fork" | "vfork") {
            self.forks.push(PendingFork { parent: tid, flags: clone_flags(name, head) });
        }
    }

    fn cwd_of(&self, tid: u32) -> &str {
        let fs = self.tasks.get(&tid).map(|t| t.fs).unwrap_or(0);
        self.cwds.get(fs).map(String::as_str).unwrap_or(&self.initial_cwd)
    }

    fn set_cwd(&mut self, tid: u32, path: String) {
        if let Some(task) = self.tasks.get(&tid) {
            let fs = task.fs;
            self.cwds[fs] = path;
        }
    }

    fn process_of(&self, tid: u32) -> (String, u32) {
        let tgid = self.tasks.get(&tid).map(|t| t.tgid).unwrap_or(tid);
        let name = self.names.get(&tgid).cloned().unwrap_or_default();
        (name, tgid)
    }

    /// A complete call `name(args) = result`.
    fn complete(&mut self, tid: u32, time: Option<DateTime<FixedOffset>>, text: &str) -> Vec<Event> {
        let call = match Call::parse(text) {
            Ok(call) => call,
            Err(message) => {
                self.warn(format!("{message}: {}", shorten(text)));
                return Vec::new();
            }
        };
        // Any decorated AT_FDCWD tells us the task's working directory exactly.
        for arg in &call.args {
            if let Some(cwd) = arg.strip_prefix("AT_FDCWD<").and_then(|_| fd_path(arg)) {
                if cwd.starts_with('/') {
                    self.set_cwd(tid, cwd);
                }
            }
        }
        // Taken before the call: `execve` is checked in the name of the program that calls it.
        let (mut process, pid) = self.process_of(tid);
        let mut accesses = Vec::new();
        if let Err(message) = self.map_call(tid, &call, &mut accesses) {
            self.warn(format!("{}: {message}", call.name));
        }
        if process.is_empty() {
            // The traced command's own first exec: it has no earlier name.
            process = self.process_of(tid).0;
        }
        accesses
            .into_iter()
            .map(|(operation, target)| {
                let mut event = Event::new(process.clone(), Some(pid), Action::Allow, operation, target);
                event.time = time;
                event.file = self.source.clone();
                event.line = self.source.as_ref().map(|_| self.line);
                event
            })
            .collect()
    }

    /// Resolve `path` (as the call spelled it) against a directory fd argument or the task's cwd.
    fn resolve(&self, tid: u32, dirfd: Option<&str>, path: &str) -> Result<String, String> {
        if path.starts_with('/') {
            return Ok(normalize(path));
        }
        let base = match dirfd {
            None => self.cwd_of(tid).to_string(),
            Some("AT_FDCWD") => self.cwd_of(tid).to_string(),
            Some(fd) => match fd_path(fd) {
                Some(p) if p.starts_with('/') => p,
                _ => return Err(format!("directory fd `{}` has no path", shorten(fd))),
            },
        };
        Ok(normalize(&format!("{base}/{path}")))
    }

    /// The path a `(dirfd, "path")` pair names, or the fd's own path for an empty path with
    /// `AT_EMPTY_PATH`.
    fn at_path(&self, tid: u32, call: &Call, dirfd: usize, path: usize) -> Result<Option<String>, String> {
        let text = string_arg(call, path)?;
        if text.is_empty() {
            // `AT_EMPTY_PATH`: the call acts on the already open fd, no lookup happens (and
            // without it an empty path fails before any lookup).
            return Ok(None);
        }
        self.resolve(tid, Some(call.arg(dirfd)), &text).map(Some)
    }

    fn plain_path(&self, tid: u32, call: &Call, index: usize) -> Result<String, String> {
        let text = string_arg(call, index)?;
        self.resolve(tid, None, &text)
    }

    fn note_exists(&mut self, path: &str, exists: bool) {
        self.exists.insert(path.to_string(), exists);
    }

    /// The Seatbelt operations macOS would check for this call, in the order it would check them.
    fn map_call(&mut self, tid: u32, call: &Call, out: &mut Vec<(String, Target)>) -> Result<(), String> {
        let ok = call.ret.succeeded();
        let missing = call.ret.errno == Some("ENOENT") || call.ret.errno == Some("ENOTDIR");
        match call.name {
            // --- processes -------------------------------------------------------------------
            "clone" | "clone3" | "fork" | "vfork" => {
                if let Some(child) = call.ret.value.filter(|v| *v > 0) {
                    self.forks.retain(|f| f.parent != tid);
                    let flags = clone_flags(call.name, call.text);
                    self.spawn(tid, child as u32, flags);
                }
            }
            "execve" | "execveat" => {
                let path = if call.name == "execve" {
                    self.plain_path(tid, call, 0)?
                } else {
                    match self.at_path(tid, call, 0, 1)? {
                        Some(p) => p,
                        None => fd_path(call.arg(0)).ok_or("fd without a path")?,
                    }
                };
                if missing {
                    // The kernel looked the program up and did not find it: an existence probe.
                    out.push(("file-read-metadata".into(), Target::path(&path)));
                } else {
                    out.push(("process-exec".into(), Target::path(&path)));
                }
                let (name, tgid) = self.process_of(tid);
                if ok || name.is_empty() {
                    self.names.insert(tgid, basename(&path).to_string());
                }
            }
            "chdir" => {
                let path = self.plain_path(tid, call, 0)?;
                if ok {
                    self.set_cwd(tid, path);
                }
            }
            "getcwd" if ok => {
                let cwd = string_arg(call, 0)?;
                if cwd.starts_with('/') {
                    self.set_cwd(tid, cwd);
                }
            }
            "fchdir" if ok => {
                if let Some(path) = fd_path(call.arg(0)).filter(|p| p.starts_with('/')) {
                    self.set_cwd(tid, path);
                }
            }

            // --- opening ---------------------------------------------------------------------
            "open" | "creat" | "openat" | "openat2" | "open_by_handle_at" => {
                if call.name == "open_by_handle_at" {
                    return Ok(());
                }
                let (path, flags) = match call.name {
                    "open" => (self.plain_path(tid, call, 0)?, call.arg(1).to_string()),
                    "creat" => (self.plain_path(tid, call, 0)?, "O_WRONLY|O_CREAT|O_TRUNC".to_string()),
                    "openat" => {
                        let Some(p) = self.at_path(tid, call, 0, 1)? else { return Ok(()) };
                        (p, call.arg(2).to_string())
                    }
                    _ => {
                        let Some(p) = self.at_path(tid, call, 0, 1)? else { return Ok(()) };
                        let how = call.arg(2);
                        let flags = how
                            .strip_prefix("{flags=")
                            .map(|r| r.split([',', '}']).next().unwrap_or("").to_string())
                            .unwrap_or_default();
                        (p, flags)
                    }
                };
                self.map_open(call, path, &flags, out);
            }

            // --- metadata --------------------------------------------------------------------
            "stat" | "lstat" | "stat64" | "lstat64" | "access" | "readlink" | "statfs" | "statfs64"
            | "oldstat" | "oldlstat" => {
                let path = self.plain_path(tid, call, 0)?;
                self.note_lookup(&path, ok, missing);
                out.push(("file-read-metadata".into(), Target::path(path)));
            }
            "newfstatat" | "fstatat64" | "statx" | "faccessat" | "faccessat2" | "readlinkat"
            => {
                let Some(path) = self.at_path(tid, call, 0, 1)? else { return Ok(()) };
                self.note_lookup(&path, ok, missing);
                out.push(("file-read-metadata".into(), Target::path(path)));
            }
            "getxattr" | "lgetxattr" | "listxattr" | "llistxattr" => {
                let path = self.plain_path(tid, call, 0)?;
                out.push(("file-read-xattr".into(), Target::path(path)));
            }
            "fgetxattr" | "flistxattr" => {
                if let Some(path) = fd_path(call.arg(0)).filter(|p| p.starts_with('/')) {
                    out.push(("file-read-xattr".into(), Target::path(path)));
                }
            }
            "setxattr" | "lsetxattr" | "removexattr" | "lremovexattr" => {
                let path = self.plain_path(tid, call, 0)?;
                out.push(("file-write-xattr".into(), Target::path(path)));
            }
            "fsetxattr" | "fremovexattr" => {
                if let Some(path) = fd_path(call.arg(0)).filter(|p| p.starts_with('/')) {
                    out.push(("file-write-xattr".into(), Target::path(path)));
                }
            }

            // --- changing attributes ---------------------------------------------------------
            "chmod" => out.push(("file-write-mode".into(), Target::path(self.plain_path(tid, call, 0)?))),
            "fchmodat" | "fchmodat2" => {
                if let Some(p) = self.at_path(tid, call, 0, 1)? {
                    out.push(("file-write-mode".into(), Target::path(p)));
                }
            }
            "fchmod" => {
                if let Some(path) = fd_path(call.arg(0)).filter(|p| p.starts_with('/')) {
                    out.push(("file-write-mode".into(), Target::path(path)));
                }
            }
            "chown" | "lchown" | "chown32" | "lchown32" => {
                out.push(("file-write-owner".into(), Target::path(self.plain_path(tid, call, 0)?)))
            }
            "fchownat" => {
                if let Some(p) = self.at_path(tid, call, 0, 1)? {
                    out.push(("file-write-owner".into(), Target::path(p)));
                }
            }
            "fchown" | "fchown32" => {
                if let Some(path) = fd_path(call.arg(0)).filter(|p| p.starts_with('/')) {
                    out.push(("file-write-owner".into(), Target::path(path)));
                }
            }
            "utime" | "utimes" => {
                out.push(("file-write-times".into(), Target::path(self.plain_path(tid, call, 0)?)))
            }
            "utimensat" | "futimesat" => {
                // `utimensat(fd, NULL, ...)` sets the times of the fd itself.
                let target = if call.arg(1) == "NULL" {
                    fd_path(call.arg(0)).filter(|p| p.starts_with('/'))
                } else {
                    self.at_path(tid, call, 0, 1)?
                };
                if let Some(p) = target {
                    out.push(("file-write-times".into(), Target::path(p)));
                }
            }
            "truncate" | "truncate64" => {
                out.push(("file-write-data".into(), Target::path(self.plain_path(tid, call, 0)?)))
            }

            // --- creating and removing names -------------------------------------------------
            "mkdir" | "mknod" => {
                let path = self.plain_path(tid, call, 0)?;
                self.created(&path, ok);
                if ok && call.name == "mkdir" {
                    self.fresh_dirs.insert(path.clone());
                }
                out.push(("file-write-create".into(), Target::path(path)));
            }
            "mkdirat" | "mknodat" => {
                if let Some(path) = self.at_path(tid, call, 0, 1)? {
                    self.created(&path, ok);
                    if ok && call.name == "mkdirat" {
                        self.fresh_dirs.insert(path.clone());
                    }
                    out.push(("file-write-create".into(), Target::path(path)));
                }
            }
            "symlink" | "link" => {
                let path = self.plain_path(tid, call, 1)?;
                self.created(&path, ok);
                out.push(("file-write-create".into(), Target::path(path)));
            }
            "symlinkat" => {
                if let Some(path) = self.at_path(tid, call, 1, 2)? {
                    self.created(&path, ok);
                    out.push(("file-write-create".into(), Target::path(path)));
                }
            }
            "linkat" => {
                if let Some(path) = self.at_path(tid, call, 2, 3)? {
                    self.created(&path, ok);
                    out.push(("file-write-create".into(), Target::path(path)));
                }
            }
            "unlink" | "rmdir" => {
                let path = self.plain_path(tid, call, 0)?;
                self.removed(&path, ok);
                out.push(("file-write-unlink".into(), Target::path(path)));
            }
            "unlinkat" => {
                if let Some(path) = self.at_path(tid, call, 0, 1)? {
                    self.removed(&path, ok);
                    out.push(("file-write-unlink".into(), Target::path(path)));
                }
            }
            "rename" | "renameat" | "renameat2" => {
                let (from, to) = if call.name == "rename" {
                    (Some(self.plain_path(tid, call, 0)?), Some(self.plain_path(tid, call, 1)?))
                } else {
                    (self.at_path(tid, call, 0, 1)?, self.at_path(tid, call, 2, 3)?)
                };
                let (Some(from), Some(to)) = (from, to) else { return Ok(()) };
                self.removed(&from, ok);
                self.created(&to, ok);
                out.push(("file-write-unlink".into(), Target::path(from)));
                out.push(("file-write-create".into(), Target::path(to)));
            }

            // --- sockets ---------------------------------------------------------------------
            "connect" => {
                if let Some(target) = self.socket_target(tid, call.arg(1), Scope::Remote) {
                    out.push(("network-outbound".into(), target));
                }
            }
            "sendto" => {
                if let Some(target) = self.socket_target(tid, call.arg(4), Scope::Remote) {
                    out.push(("network-outbound".into(), target));
                }
            }
            "sendmsg" => {
                let msg = call.arg(1);
                if let Some(at) = msg.find("msg_name={") {
                    let name = &msg[at + "msg_name=".len()..];
                    if let Some(target) = self.socket_target(tid, name, Scope::Remote) {
                        out.push(("network-outbound".into(), target));
                    }
                }
            }
            "bind" => {
                if let Some(target) = self.socket_target(tid, call.arg(1), Scope::Local) {
                    out.push(("network-bind".into(), target));
                }
            }
            "listen" => {
                // `listen(3<TCP:[127.0.0.1:8080]>, 128)`: Seatbelt checks `network-inbound` on the
                // local address; a UNIX socket was already checked when it was bound.
                if let Some(target) = listening_target(call.arg(0)) {
                    out.push(("network-inbound".into(), target));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn note_lookup(&mut self, path: &str, ok: bool, missing: bool) {
        if ok {
            self.note_exists(path, true);
        } else if missing {
            self.note_exists(path, false);
        }
    }

    fn created(&mut self, path: &str, ok: bool) {
        if ok {
            self.note_exists(path, true);
        }
    }

    fn removed(&mut self, path: &str, ok: bool) {
        if ok {
            self.note_exists(path, false);
        }
    }

    /// `open` flags to operations: read access is `file-read-data`; write access (or `O_TRUNC`)
    /// on an existing file is `file-write-data`; `O_CREAT` on a file that does not exist is
    /// `file-write-create`. An `O_CREAT` open without `O_EXCL` asks for "create or overwrite": when
    /// the file did not exist (or the trace cannot tell), both `file-write-create` and
    /// `file-write-data` are reported, because the next run of the same command finds the file
    /// and needs the second; a learned profile must work on that run too. With `O_EXCL` only a
    /// creation can succeed. `O_PATH` only looks the file up.
    fn map_open(&mut self, call: &Call, requested: String, flags: &str, out: &mut Vec<(String, Target)>) {
        let ok = call.ret.succeeded();
        let missing = call.ret.errno == Some("ENOENT") || call.ret.errno == Some("ENOTDIR");
        let has = |f: &str| flags.split('|').any(|x| x.trim() == f);
        // The kernel checks the path it reached: the result fd's path, unless it is one of the
        // per-process magic links (`/proc/self`, `/dev/fd`), where the spelling is the stable name.
        let resolved = call
            .ret
            .fd_path()
            .filter(|p| p.starts_with('/') && p != &requested && !is_magic(&requested));
        let path = resolved.clone().unwrap_or_else(|| requested.clone());
        if resolved.is_some() {
            // The name as spelled was looked up (it is, or goes through, a symlink).
            out.push(("file-read-metadata".into(), Target::path(&requested)));
        }
        if has("O_PATH") {
            self.note_lookup(&path, ok, missing);
            out.push(("file-read-metadata".into(), Target::path(path)));
            return;
        }
        // strace always names the access mode: O_RDONLY, O_WRONLY or O_RDWR.
        let read = !has("O_WRONLY");
        let write = has("O_WRONLY") || has("O_RDWR") || has("O_TRUNC");
        if has("O_CREAT") {
            let parent = &path[..path.rfind('/').unwrap_or(0)];
            let existed = if has("O_EXCL") {
                // Success means it was created; EEXIST means it was there.
                Some(call.ret.errno == Some("EEXIST"))
            } else {
                self.exists
                    .get(&path)
                    .copied()
                    .or_else(|| self.fresh_dirs.contains(parent).then_some(false))
                    // Opening a device (`2>/dev/null`) never creates it.
                    .or_else(|| path.starts_with("/dev/").then_some(true))
            };
            if existed != Some(true) {
                out.push(("file-write-create".into(), Target::path(&path)));
            }
            if existed == Some(true) && read {
                out.push(("file-read-data".into(), Target::path(&path)));
            }
            if existed == Some(true) || !has("O_EXCL") {
                out.push(("file-write-data".into(), Target::path(&path)));
            }
            if ok {
                self.note_exists(&path, true);
            }
            return;
        }
        self.note_lookup(&path, ok, missing);
        if read {
            out.push(("file-read-data".into(), Target::path(&path)));
        }
        if write {
            out.push(("file-write-data".into(), Target::path(&path)));
        }
    }

    /// A socket address argument as a target: a UNIX socket path (relative ones resolved against
    /// the cwd) or `HOST:PORT`, where HOST is `localhost` for loopback and `*` otherwise (the only
    /// hosts SBPL can name). Abstract UNIX names, netlink and unspecified addresses have no
    /// Seatbelt counterpart and are skipped.
    fn socket_target(&self, tid: u32, addr: &str, scope: Scope) -> Option<Target> {
        match parse_sockaddr(addr)? {
            SockAddr::Unix(path) => {
                let path = self.resolve(tid, None, &path).ok()?;
                Some(Target { raw: path.clone(), kind: TargetKind::UnixSocket { path } })
            }
            SockAddr::Inet { host, port } => Some(network_target(scope, &host, port)),
        }
    }
}

fn network_target(scope: Scope, ip: &str, port: u16) -> Target {
    let host = if is_loopback(ip) { "localhost" } else { "*" };
    let port_text = if port == 0 { "*".to_string() } else { port.to_string() };
    let side = match scope {
        Scope::Local => "local",
        Scope::Remote => "remote",
    };
    Target {
        raw: format!("{side}:{host}:{port_text}"),
        kind: TargetKind::Network { scope, host: host.to_string(), port: (port != 0).then_some(port) },
    }
}

fn is_loopback(ip: &str) -> bool {
    let v4 = ip.strip_prefix("::ffff:").unwrap_or(ip);
    v4.starts_with("127.") || ip == "::1" || ip == "localhost"
}

fn is_magic(path: &str) -> bool {
    ["/proc/self", "/proc/thread-self", "/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr"]
        .iter()
        .any(|m| path == *m || path.strip_prefix(m).is_some_and(|r| r.starts_with('/')))
}

/// `listen(3<TCP:[127.0.0.1:8080]>, ...)` or `TCPv6:[[::1]:8080]` → `local:localhost:8080`.
fn listening_target(fd: &str) -> Option<Target> {
    let open = fd.find('<')?;
    let inner = decode_decoration(&fd[open + 1..fd.len().checked_sub(1)?])?;
    let rest = inner.strip_prefix("TCP:[").or_else(|| inner.strip_prefix("TCPv6:["))?;
    let rest = rest.strip_suffix(']')?;
    // Only the local address (`a:p` or `a:p->b:q`).
    let local = rest.split("->").next()?;
    let colon = local.rfind(':')?;
    let host = local[..colon].trim_start_matches('[').trim_end_matches(']');
    let port: u16 = local[colon + 1..].parse().ok()?;
    Some(network_target(Scope::Local, host, port))
}

/// A decoded socket address.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SockAddr {
    Unix(String),
    Inet { host: String, port: u16 },
}

fn parse_sockaddr(text: &str) -> Option<SockAddr> {
    let family_at = text.find("sa_family=")?;
    let family = text[family_at + "sa_family=".len()..].split([',', '}']).next()?.trim();
    match family {
        "AF_UNIX" | "AF_LOCAL" => {
            let at = text.find("sun_path=")?;
            let value = &text[at + "sun_path=".len()..];
            if value.starts_with('@') {
                return None; // abstract namespace
            }
            let (bytes, truncated, _) = decode_string(value)?;
            if truncated || bytes.is_empty() {
                return None;
            }
            Some(SockAddr::Unix(String::from_utf8_lossy(&bytes).into_owned()))
        }
        "AF_INET" | "AF_INET6" => {
            let port_at = text.find("_port=htons(")?;
            let port_text = &text[port_at + "_port=htons(".len()..];
            let port: u16 = port_text[..port_text.find(')')?].parse().ok()?;
            let host = if let Some(at) = text.find("inet_addr(") {
                let (bytes, _, _) = decode_string(&text[at + "inet_addr(".len()..])?;
                String::from_utf8_lossy(&bytes).into_owned()
            } else if let Some(at) = text.find("inet_pton(") {
                let args = &text[at + "inet_pton(".len()..];
                let quote = args.find('"')?;
                let (bytes, _, _) = decode_string(&args[quote..])?;
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                "*".to_string()
            };
            Some(SockAddr::Inet { host, port })
        }
        _ => None,
    }
}

fn clone_flags(name: &str, text: &str) -> CloneFlags {
    match name {
        "fork" | "vfork" => CloneFlags::default(),
        _ => {
            let flags = text
                .find("flags=")
                .map(|at| {
                    let rest = &text[at + "flags=".len()..];
                    rest.split([',', '}', ')']).next().unwrap_or("")
                })
                .unwrap_or("");
            let has = |f: &str| flags.split('|').any(|x| x == f);
            CloneFlags { thread: has("CLONE_THREAD"), share_fs: has("CLONE_FS") }
        }
    }
}

/// One complete traced call: its name, top-level argument texts and result.
#[derive(Debug)]
struct Call<'t> {
    name: &'t str,
    args: Vec<&'t str>,
    ret: Return<'t>,
    text: &'t str,
}

impl<'t> Call<'t> {
    fn parse(text: &'t str) -> Result<Call<'t>, String> {
        let open = text.find('(').ok_or("no argument list")?;
        let name = &text[..open];
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err("not a system call".into());
        }
        let (args, close) = split_args(text, open + 1)?;
        let after = text[close + 1..].trim_start();
        let ret_text = after.strip_prefix('=').ok_or("no result")?.trim_start();
        Ok(Call { name, args, ret: Return::parse(ret_text), text })
    }

    fn arg(&self, index: usize) -> &'t str {
        self.args.get(index).copied().unwrap_or("")
    }
}

/// `= 3</path>`, `= 0`, `= -1 ENOENT (No such file or directory)`, `= ?`.
#[derive(Debug)]
struct Return<'t> {
    value: Option<i64>,
    decoration: Option<&'t str>,
    errno: Option<&'t str>,
}

impl<'t> Return<'t> {
    fn parse(text: &'t str) -> Return<'t> {
        let end = text.find([' ', '<']).unwrap_or(text.len());
        let number = &text[..end];
        let value = if let Some(hex) = number.strip_prefix("0x") {
            i64::from_str_radix(hex, 16).ok()
        } else {
            number.parse().ok()
        };
        let rest = &text[end..];
        // The whole result text: `fd_path` finds the decoration in it.
        let decoration = rest.strip_prefix('<').map(|_| text);
        let errno = if value.is_some_and(|v| v < 0) {
            rest.split_whitespace().next().filter(|e| e.starts_with('E'))
        } else {
            None
        };
        Return { value, decoration, errno }
    }

    fn succeeded(&self) -> bool {
        self.value.is_some_and(|v| v >= 0)
    }

    fn fd_path(&self) -> Option<String> {
        self.decoration.and_then(fd_path)
    }
}

/// Split `a, "b, c", {d, e}, f<g>) = ...` into top-level arguments, starting after the `(`.
/// Returns the arguments and the index of the closing `)`.
fn split_args(text: &str, start: usize) -> Result<(Vec<&str>, usize), String> {
    let bytes = text.as_bytes();
    let mut args = Vec::new();
    let mut depth = 0usize;
    let mut arg_start = start;
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => i = skip_string(bytes, i)?,
            b'<' if i > start && (bytes[i - 1].is_ascii_alphanumeric()) => i = skip_decoration(bytes, i)?,
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                if depth == 0 {
                    if bytes[i] != b')' {
                        return Err("unbalanced brackets".into());
                    }
                    let last = text[arg_start..i].trim();
                    if !last.is_empty() || !args.is_empty() {
                        args.push(last);
                    }
                    return Ok((args, i));
                }
                depth -= 1;
            }
            b',' if depth == 0 => {
                args.push(text[arg_start..i].trim());
                arg_start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    Err("unterminated argument list".into())
}

/// Index of the closing quote of the string starting at `i`.
fn skip_string(bytes: &[u8], i: usize) -> Result<usize, String> {
    let mut j = i + 1;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            b'"' => return Ok(j),
            _ => j += 1,
        }
    }
    Err("unterminated string".into())
}

/// Index of the `>` closing the fd decoration starting at `i` (`<`), which may hold escapes,
/// quoted socket paths and a nested device decoration (`0</dev/null<char 1:3>>`; a `<` or `>` in
/// a path is always escaped, so an unescaped one is structure).
fn skip_decoration(bytes: &[u8], i: usize) -> Result<usize, String> {
    let mut j = i + 1;
    let mut depth = 0usize;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            b'"' => j = skip_string(bytes, j)? + 1,
            b'<' => {
                depth += 1;
                j += 1;
            }
            b'>' if depth > 0 => {
                depth -= 1;
                j += 1;
            }
            b'>' => return Ok(j),
            _ => j += 1,
        }
    }
    Err("unterminated fd decoration".into())
}

/// The path an fd argument or result is decorated with: `3</a/b>`, `AT_FDCWD</cwd>`. `None` for
/// an undecorated fd or a non-path decoration is returned as its text (`pipe:[12]`, `TCP:[...]`).
pub fn fd_path(text: &str) -> Option<String> {
    let open = text.find('<')?;
    let close = skip_decoration(text.as_bytes(), open).ok()?;
    let mut body = &text[open + 1..close];
    if body.ends_with('>') {
        // `/dev/null<char 1:3>`: the device numbers `-yy` adds after a device's path.
        if let Some(inner) = body.rfind('<') {
            body = &body[..inner];
        }
    }
    let mut path = decode_decoration(body)?;
    if let Some(stripped) = path.strip_suffix(" (deleted)") {
        path = stripped.to_string();
    }
    Some(path)
}

fn decode_decoration(body: &str) -> Option<String> {
    let (bytes, _) = unescape(body.as_bytes())?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// Decode the strace string literal at the start of `text` (`"..."`, optionally followed by
/// `...` when strace truncated it). Returns the bytes, whether it was truncated, and the length
/// of the literal in `text`.
pub fn decode_string(text: &str) -> Option<(Vec<u8>, bool, usize)> {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let close = skip_string(bytes, 0).ok()?;
    let (decoded, _) = unescape(&bytes[1..close])?;
    let truncated = text[close + 1..].starts_with("...");
    let len = close + 1 + if truncated { 3 } else { 0 };
    Some((decoded, truncated, len))
}

/// Reverse strace's escaping: `\\ \" \n \t \r \v \f \a \b`, octal `\NNN` and hex `\xHH`.
fn unescape(s: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] != b'\\' {
            out.push(s[i]);
            i += 1;
            continue;
        }
        let c = *s.get(i + 1)?;
        i += 2;
        match c {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'v' => out.push(0x0b),
            b'f' => out.push(0x0c),
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b'x' => {
                let hex = s.get(i..i + 2)?;
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            b'0'..=b'7' => {
                let mut value = u32::from(c - b'0');
                let mut digits = 1;
                while digits < 3 && i < s.len() && (b'0'..=b'7').contains(&s[i]) {
                    value = value * 8 + u32::from(s[i] - b'0');
                    i += 1;
                    digits += 1;
                }
                out.push(u8::try_from(value).ok()?);
            }
            other => out.push(other),
        }
    }
    Some((out, i))
}

/// A path argument, decoded; an error if it is not a string or strace truncated it.
fn string_arg(call: &Call, index: usize) -> Result<String, String> {
    let text = call.arg(index);
    if text == "NULL" {
        return Ok(String::new());
    }
    let (bytes, truncated, _) = decode_string(text).ok_or_else(|| format!("argument {} is not a string", index + 1))?;
    if truncated {
        return Err(format!("argument {} was truncated by strace (raise -s)", index + 1));
    }
    String::from_utf8(bytes).map_err(|e| {
        format!("argument {} is not UTF-8: {}", index + 1, String::from_utf8_lossy(e.as_bytes()))
    })
}

/// Lexically normalise an absolute path: collapse `//`, drop `.`, apply `..`, no trailing slash.
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        "/".to_string()
    } else {
        let mut out = String::with_capacity(path.len());
        for p in parts {
            out.push('/');
            out.push_str(p);
        }
        out
    }
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn parse_epoch(text: &str) -> Option<DateTime<FixedOffset>> {
    let (secs, frac) = text.split_once('.').unwrap_or((text, "0"));
    let secs: i64 = secs.parse().ok()?;
    let mut nanos_text = frac.to_string();
    nanos_text.truncate(9);
    while nanos_text.len() < 9 {
        nanos_text.push('0');
    }
    let nanos: u32 = nanos_text.parse().ok()?;
    let utc = Utc.timestamp_opt(secs, nanos).single()?;
    Some(utc.fixed_offset())
}

fn shorten(text: &str) -> String {
    if text.chars().count() > 120 {
        let cut: String = text.chars().take(117).collect();
        format!("{cut}...")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> String {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/strace/").to_string() + name;
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    const WORK: &str = "/tmp/safehouse-strace/work";
    const HOME: &str = "/tmp/safehouse-strace/home";

    fn parse(text: &str) -> (Vec<Event>, Vec<Warning>) {
        Tracer::new(WORK).with_source("sample.trace").parse_all(text)
    }

    /// The events naming `path`, as `(process, operation)`.
    fn ops_on<'e>(events: &'e [Event], path: &str) -> Vec<(&'e str, &'e str)> {
        events
            .iter()
            .filter(|e| e.target.path_str() == Some(path))
            .map(|e| (e.process.as_str(), e.operation.as_str()))
            .collect()
    }

    fn has(events: &[Event], operation: &str, path: &str) -> bool {
        events.iter().any(|e| e.operation == operation && e.target.path_str() == Some(path))
    }

    #[test]
    fn decodes_every_strace_escape() {
        let (bytes, truncated, len) = decode_string(r#""a\"b\\c\n\t\x41\101\0\3777" rest"#).unwrap();
        assert_eq!(bytes, b"a\"b\\c\n\tAA\0\xff7");
        assert!(!truncated);
        assert_eq!(len, r#""a\"b\\c\n\t\x41\101\0\3777""#.len());
        let (bytes, truncated, _) = decode_string(r#""\x2f\x74\x6d\x70"..., 4096"#).unwrap();
        assert_eq!(bytes, b"/tmp");
        assert!(truncated);
        assert_eq!(decode_string("0x7ffe"), None);
    }

    #[test]
    fn fd_decorations() {
        assert_eq!(fd_path(r#"3</tmp/d ir\"\74\76/f>"#).as_deref(), Some("/tmp/d ir\"<>/f"));
        assert_eq!(fd_path("0</dev/null<char 1:3>>").as_deref(), Some("/dev/null"));
        assert_eq!(fd_path("AT_FDCWD</home/a b>").as_deref(), Some("/home/a b"));
        assert_eq!(fd_path(r"3<\x2f\x74\xc3\xa9>").as_deref(), Some("/té"));
        assert_eq!(fd_path("3</x (deleted)>").as_deref(), Some("/x"));
        assert_eq!(fd_path("AT_FDCWD"), None);
        assert_eq!(fd_path("4<TCP:[127.0.0.1:80]>").as_deref(), Some("TCP:[127.0.0.1:80]"));
    }

    #[test]
    fn splits_arguments_with_strings_brackets_and_decorations() {
        let call = Call::parse(
            r#"openat(AT_FDCWD</a,b>, "x), \"y", O_RDONLY|O_CLOEXEC) = 3</a,b/x), "y>"#,
        )
        .unwrap();
        assert_eq!(call.name, "openat");
        assert_eq!(call.args, vec!["AT_FDCWD</a,b>", r#""x), \"y""#, "O_RDONLY|O_CLOEXEC"]);
        assert_eq!(call.ret.value, Some(3));
        let call = Call::parse(
            "wait4(-1, [{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0, NULL) = 7482",
        )
        .unwrap();
        assert_eq!(call.args.len(), 4);
        let call = Call::parse(r#"stat("/nope", 0x7ffe) = -1 ENOENT (No such file or directory)"#).unwrap();
        assert_eq!(call.ret.errno, Some("ENOENT"));
        assert!(!call.ret.succeeded());
        assert!(Call::parse(r#"open("/x", O_RDONLY"#).is_err());
    }

    #[test]
    fn joins_unfinished_and_resumed_calls_per_task() {
        let text = "\
100 1.000000 execve(\"/bin/sh\", [\"sh\"], 0x1 /* 1 vars */) = 0
100 1.100000 vfork( <unfinished ...>
101 1.200000 execve(\"/usr/bin/cat\", [\"cat\", \"f\"], 0x2 /* 1 vars */ <unfinished ...>
100 1.300000 <... vfork resumed>) = 101
101 1.400000 <... execve resumed>) = 0
100 1.500000 openat(AT_FDCWD</w>, \"rel\", O_RDONLY <unfinished ...>
101 1.600000 openat(AT_FDCWD</w>, \"f\", O_RDONLY) = 3</w/f>
100 1.700000 <... openat resumed>) = -1 ENOENT (No such file or directory)
";
        let (events, warnings) = Tracer::new("/w").parse_all(text);
        assert!(warnings.is_empty(), "{warnings:?}");
        let summary: Vec<(String, u32, &str, &str)> = events
            .iter()
            .map(|e| (e.process.clone(), e.pid.unwrap(), e.operation.as_str(), e.target.raw.as_str()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("sh".to_string(), 100, "process-exec", "/bin/sh"),
                // The child exec'd by the shell: checked in the name of the program calling execve.
                ("sh".to_string(), 101, "process-exec", "/usr/bin/cat"),
                ("cat".to_string(), 101, "file-read-data", "/w/f"),
                ("sh".to_string(), 100, "file-read-data", "/w/rel"),
            ]
        );
        // The resumed call keeps the time it started.
        assert_eq!(events[3].time.unwrap().timestamp_subsec_micros(), 500_000);
    }

    #[test]
    fn truncated_paths_are_reported_not_used() {
        let (events, warnings) =
            Tracer::new("/w").parse_all("7 1.0 openat(AT_FDCWD</w>, \"/very/lo\"..., O_RDONLY) = 3</very/long>\n");
        assert!(events.is_empty());
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].message.contains("truncated"), "{}", warnings[0]);
    }

    #[test]
    fn shell_pipeline_sample() {
        let (events, warnings) = parse(&sample("shell.trace"));
        assert!(warnings.is_empty(), "{warnings:#?}");
        let odd = format!("{WORK}/sub dir/a \"q\" <t>.txt");
        // `printf > name` in a directory reached with `cd "sub dir"`: a new file.
        assert_eq!(ops_on(&events, &odd), vec![("sh", "file-write-create"), ("sh", "file-write-data"), ("mv", "file-write-unlink")]);
        // mkdir -p ../made/deep from sub dir, then mv into it.
        assert!(has(&events, "file-write-create", &format!("{WORK}/made/deep")));
        assert!(has(&events, "file-write-create", &format!("{WORK}/made/deep/moved.txt")));
        // rm -r made removes the file, then the directories.
        assert!(has(&events, "file-write-unlink", &format!("{WORK}/made/deep/moved.txt")));
        assert!(has(&events, "file-write-unlink", &format!("{WORK}/made")));
        // A failed read is still an access.
        assert_eq!(ops_on(&events, &format!("{WORK}/missing.txt")), vec![("cat", "file-read-data")]);
        // The symlink: created by ln, looked up by cat, which reads its target.
        let link = ops_on(&events, &format!("{WORK}/link.txt"));
        assert!(link.contains(&("ln", "file-write-create")), "{link:?}");
        assert!(link.contains(&("cat", "file-read-metadata")), "{link:?}");
        assert!(ops_on(&events, &format!("{WORK}/listing.txt")).contains(&("cat", "file-read-data")));
        // mktemp's file: created, written by the shell, removed by rm.
        let temp: Vec<&Event> = events
            .iter()
            .filter(|e| e.target.path_str().is_some_and(|p| p.starts_with(&format!("{WORK}/t."))))
            .collect();
        let temp_ops: Vec<&str> = temp.iter().map(|e| e.operation.as_str()).collect();
        assert!(temp_ops.contains(&"file-write-create") && temp_ops.contains(&"file-write-unlink"), "{temp_ops:?}");
        // Programs are exec'd by the shell, and each process is named after its program.
        assert!(events.iter().any(|e| e.process == "sh" && e.operation == "process-exec" && e.target.raw == "/usr/bin/mkdir"));
        for e in events.iter().filter(|e| e.operation == "file-write-create" && e.target.raw.ends_with("/made/deep")) {
            assert_eq!(e.process, "mkdir");
        }
        // Nothing is relative, nothing has `.` or `..` left in it.
        for e in &events {
            let p = e.target.path_str().unwrap();
            assert!(p.starts_with('/') && !p.contains("/./") && !p.contains("/../"), "{p}");
            assert_eq!(e.file.as_deref(), Some("sample.trace"));
            assert!(e.time.is_some() && e.line.is_some());
        }
    }

    #[test]
    fn python_sample_files_threads_and_sockets() {
        let (events, warnings) = parse(&sample("python.trace"));
        assert!(warnings.is_empty(), "{warnings:#?}");
        assert!(events.iter().all(|e| e.process == "python3"));
        let pid = events[0].pid;
        // Threads report their process id.
        assert!(events.iter().all(|e| e.pid == pid));

        assert_eq!(ops_on(&events, &format!("{HOME}/.config/demo/config.toml")), vec![("python3", "file-read-data")]);
        assert!(has(&events, "file-write-create", &format!("{HOME}/.cache")));
        assert!(has(&events, "file-write-create", &format!("{HOME}/.cache/demo")));
        // Created by an O_CREAT|O_TRUNC open: the next run overwrites it, so both are reported.
        assert_eq!(
            ops_on(&events, &format!("{HOME}/.cache/demo/state.json")),
            vec![("python3", "file-write-create"), ("python3", "file-write-data")]
        );
        // The secret probe is kept although it failed.
        assert!(has(&events, "file-read-data", &format!("{HOME}/.ssh/id_ed25519")));

        // A thread's chdir("sub dir") changes the directory of the whole process (CLONE_FS).
        assert!(has(&events, "file-write-create", &format!("{WORK}/sub dir/from-thread.txt")));
        assert!(has(&events, "file-write-create", &format!("{WORK}/sub dir/after-thread.txt")));
        // fchdir(/usr) then stat("share").
        assert!(has(&events, "file-read-metadata", "/usr/share"));

        let net: Vec<(&str, &str, &TargetKind)> = events
            .iter()
            .filter(|e| e.operation.starts_with("network"))
            .map(|e| (e.operation.as_str(), e.target.raw.as_str(), &e.target.kind))
            .collect();
        let sock = format!("{WORK}/demo.sock");
        assert_eq!(net[0], ("network-bind", sock.as_str(), &TargetKind::UnixSocket { path: sock.clone() }));
        assert_eq!(net[1], ("network-outbound", sock.as_str(), &TargetKind::UnixSocket { path: sock.clone() }));
        assert_eq!(net[2].0, "network-bind");
        assert_eq!(net[2].1, "local:localhost:*");
        assert_eq!(net[3].0, "network-inbound");
        assert!(net[3].1.starts_with("local:localhost:"));
        assert_eq!(net[4].0, "network-outbound");
        assert_eq!(net[4].1.strip_prefix("remote:"), net[3].1.strip_prefix("local:"));
        assert_eq!(net[5], (
            "network-outbound",
            "remote:*:53",
            &TargetKind::Network { scope: Scope::Remote, host: "*".into(), port: Some(53) }
        ));
        assert_eq!(net.len(), 6);
        // Every network target reads back the same through the one target parser.
        for e in events.iter().filter(|e| e.operation.starts_with("network")) {
            assert_eq!(Target::parse(&e.operation, &e.target.raw).kind, e.target.kind);
        }
    }

    #[test]
    fn open_flags_map_to_operations() {
        let run = |line: &str| -> Vec<String> {
            let (events, warnings) = Tracer::new("/w").parse_all(line);
            assert!(warnings.is_empty(), "{warnings:?}");
            events.into_iter().map(|e| format!("{} {}", e.operation, e.target.raw)).collect()
        };
        assert_eq!(run("1 1.0 openat(AT_FDCWD</w>, \"a\", O_RDWR) = 3</w/a>"), ["file-read-data /w/a", "file-write-data /w/a"]);
        assert_eq!(run("1 1.0 openat(AT_FDCWD</w>, \"a\", O_WRONLY|O_APPEND) = 3</w/a>"), ["file-write-data /w/a"]);
        assert_eq!(run("1 1.0 openat(AT_FDCWD</w>, \"a\", O_WRONLY|O_CREAT|O_EXCL, 0600) = 3</w/a>"), ["file-write-create /w/a"]);
        assert_eq!(
            run("1 1.0 openat(AT_FDCWD</w>, \"a\", O_WRONLY|O_CREAT|O_EXCL, 0600) = -1 EEXIST (File exists)"),
            ["file-write-data /w/a"]
        );
        assert_eq!(run("1 1.0 openat(AT_FDCWD</w>, \"d\", O_PATH|O_DIRECTORY) = 3</w/d>"), ["file-read-metadata /w/d"]);
        // Seen to exist before: O_CREAT is a write to an existing file.
        assert_eq!(
            run("1 1.0 newfstatat(AT_FDCWD</w>, \"a\", {st_mode=S_IFREG|0644, st_size=1, ...}, 0) = 0\n\
                 1 1.1 openat(AT_FDCWD</w>, \"a\", O_WRONLY|O_CREAT|O_TRUNC, 0666) = 3</w/a>"),
            ["file-read-metadata /w/a", "file-write-data /w/a"]
        );
        // Seen missing before: a creation, and an overwrite on the next run.
        assert_eq!(
            run("1 1.0 access(\"a\", F_OK) = -1 ENOENT (No such file or directory)\n\
                 1 1.1 openat(AT_FDCWD</w>, \"a\", O_WRONLY|O_CREAT|O_TRUNC, 0666) = 3</w/a>"),
            ["file-read-metadata /w/a", "file-write-create /w/a", "file-write-data /w/a"]
        );
        // Through a symlink: the name looked up, then the file reached.
        assert_eq!(
            run("1 1.0 openat(AT_FDCWD</w>, \"/etc/localtime\", O_RDONLY|O_CLOEXEC) = 3</usr/share/zoneinfo/Etc/UTC>"),
            ["file-read-metadata /etc/localtime", "file-read-data /usr/share/zoneinfo/Etc/UTC"]
        );
        // /proc/self keeps its stable spelling.
        assert_eq!(run("1 1.0 openat(AT_FDCWD</w>, \"/proc/self/status\", O_RDONLY) = 3</proc/1/status>"), ["file-read-data /proc/self/status"]);
        // An fd-relative path and an fd-only stat (no lookup, no event).
        assert_eq!(
            run("1 1.0 openat(3</w/d>, \"../x/./y\", O_RDONLY) = 4</w/x/y>\n1 1.1 newfstatat(4</w/x/y>, \"\", {st_mode=S_IFREG|0644, ...}, AT_EMPTY_PATH) = 0"),
            ["file-read-data /w/x/y"]
        );
        assert_eq!(
            run("1 1.0 renameat2(AT_FDCWD</w>, \"a\", 5</t>, \"b\", RENAME_NOREPLACE) = 0"),
            ["file-write-unlink /w/a", "file-write-create /t/b"]
        );
        assert_eq!(run("1 1.0 execve(\"./nope\", [\"./nope\"], 0x1 /* 0 vars */) = -1 ENOENT (No such file or directory)"), ["file-read-metadata /w/nope"]);
    }

    #[test]
    fn forked_children_inherit_the_directory_and_name_but_not_later_changes() {
        let text = "\
10 1.0 execve(\"/usr/bin/make\", [\"make\"], 0x1 /* 0 vars */) = 0
10 1.1 chdir(\"sub\") = 0
10 1.2 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f) = 11
10 1.3 chdir(\"/elsewhere\") = 0
11 1.4 stat(\"file\", 0x7ffe) = -1 ENOENT (No such file or directory)
10 1.5 stat(\"file\", 0x7ffe) = -1 ENOENT (No such file or directory)
";
        let (events, _) = Tracer::new("/w").parse_all(text);
        let got: Vec<(String, u32, String)> =
            events.iter().map(|e| (e.process.clone(), e.pid.unwrap(), e.target.raw.clone())).collect();
        assert_eq!(
            got,
            vec![
                ("make".into(), 10, "/usr/bin/make".into()),
                ("make".into(), 11, "/w/sub/file".into()),
                ("make".into(), 10, "/elsewhere/file".into()),
            ]
        );
    }

    /// The Linux base profile compiles with our engine, allows the runtime the sample programs
    /// need to start, and nothing of the user's: what is left over is what the agent did.
    #[test]
    fn linux_base_profile_leaves_only_the_agents_own_accesses() {
        use crate::sbpl::{compile, Params, SourceFile, Verdict};
        let mut params = Params::new();
        params.insert("HOME_DIR", HOME);
        params.insert("WORK_DIR", WORK);
        let policy = compile(&[SourceFile::new("base-linux.sb", LINUX_BASE_PROFILE)], &params).unwrap();
        assert!(policy.warnings().is_empty(), "{:?}", policy.warnings());
        let mut denied = std::collections::BTreeSet::new();
        for name in ["shell.trace", "python.trace"] {
            let (events, _) = parse(&sample(name));
            for e in &events {
                if policy.decide(&e.operation, &e.target).verdict != Verdict::Allow {
                    denied.insert(e.target.raw.clone());
                }
            }
        }
        for raw in &denied {
            assert!(
                raw.starts_with(WORK)
                    || raw.starts_with(HOME)
                    || raw.starts_with("remote:")
                    || raw.starts_with("local:")
                    // The sample's own `os.open("/usr")` + fchdir: listing /usr is not runtime.
                    || raw == "/usr",
                "the base profile should allow the runtime, but denies {raw}: {denied:#?}"
            );
        }
        for agent in [
            format!("{HOME}/.config/demo/config.toml"),
            format!("{HOME}/.cache/demo/state.json"),
            format!("{HOME}/.ssh/id_ed25519"),
            format!("{WORK}/listing.txt"),
            "remote:*:53".to_string(),
        ] {
            assert!(denied.contains(&agent), "{agent} should be the agent's to ask for: {denied:#?}");
        }
    }
}
