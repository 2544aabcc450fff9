//! `safehouse learn`: capture a session (or replay recorded ones), propose grants, review them
//! against a diff, and write the overlay.
//!
//! The pipeline: the current profile (`--profile` files, `--policy-cmd` output, or the embedded
//! base) plus the existing overlay → events (live capture through [`crate::capture`], or
//! `--replay` files through the log readers) → the learner's proposals → `--json` output, or a
//! review (`--yes`: the safe proposals; otherwise interactive) → the new overlay text → a diff →
//! an atomic write ([`crate::overlay`]) → optionally `--verify`.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use safehouse_learner::learn::{self as learner, Learned, Proposal, Tier};
use safehouse_learner::sbpl::{self, Policy, SourceFile, Verdict};
use safehouse_learner::{logs, Action, Event, SessionContext, Target};

use crate::capture::{self, AgentStatus};
use crate::overlay::{self, OverlayFile};
use crate::review;

/// The embedded deny-first base profile (macOS), used when no profile is given.
pub const EMBEDDED_BASE: &str = include_str!("../../learner/profiles/base.sb");
pub const EMBEDDED_BASE_NAME: &str = "<embedded base.sb>";
/// Its Linux sibling (`safehouse_learner::strace::LINUX_BASE_PROFILE`), for sessions captured with the Linux backend.
pub const EMBEDDED_BASE_LINUX_NAME: &str = "<embedded base-linux.sb>";

/// `safehouse learn [OPTIONS] -- <agent> [args]` or `safehouse learn --replay FILE...`
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  safehouse learn -- claude\n  safehouse learn --replay samples/sessions/node-npm-1.ndjson --json")]
pub struct Args {
    /// Review recorded sessions instead of running an agent: session archives or `log show`/`log
    /// stream` output in any style (several files are merged).
    #[arg(long, num_args = 1.., value_name = "FILE", conflicts_with = "command")]
    pub replay: Vec<PathBuf>,

    /// The current profile, in order (repeatable). Default: `--policy-cmd`, else the embedded base profile.
    #[arg(long = "profile", value_name = "FILE")]
    pub profiles: Vec<PathBuf>,

    /// A profile parameter `NAME=VALUE` (like `sandbox-exec -D`).
    #[arg(short = 'D', value_name = "NAME=VALUE")]
    pub params: Vec<String>,

    /// A command that prints the current policy (e.g. the Safehouse generator).
    #[arg(long, value_name = "COMMAND", env = "SAFEHOUSE_POLICY_CMD")]
    pub policy_cmd: Option<String>,

    /// An optional profile module (e.g. Safehouse's `55-integrations-optional/docker.sb`) to
    /// compare against: proposals it would cover say so. Repeatable; a directory means its `*.sb`.
    #[arg(long = "module", value_name = "FILE|DIR")]
    pub modules: Vec<PathBuf>,

    /// Print the current profile that would be used (and the reporting variant for live capture) and exit.
    #[arg(long)]
    pub print_profile: bool,

    /// Keep the reporting profile file after a live capture and print its path.
    #[arg(long)]
    pub keep_profile: bool,

    /// Do not ask: accept only the proposals marked safe and write the overlay.
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Print the proposals as JSON and exit (nothing is written).
    #[arg(long)]
    pub json: bool,

    /// The overlay file to write (default: <XDG config>/safehouse/overlays/<agent>.sb).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// After writing, run the command again under the enforcing policy plus the overlay and report new denials.
    #[arg(long)]
    pub verify: bool,

    /// The session's home directory (default: $HOME, or the archive's recorded home).
    #[arg(long, value_name = "DIR")]
    pub home: Option<String>,

    /// The session's working directory (default: the current directory, or the archive's recorded workdir).
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<String>,

    /// Extra sensitivity tiers (repeatable; `TIER[:CLASS,...] PATTERN [# note]` lines), added to
    /// the built-in ones: `never` locations are not proposed, `review` ones need confirmation.
    #[arg(long, value_name = "FILE")]
    pub tiers: Vec<PathBuf>,

    /// The agent to run and its arguments.
    #[arg(last = true, value_name = "AGENT")]
    pub command: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.replay.is_empty() && args.command.is_empty() && !args.print_profile {
        anyhow::bail!("nothing to learn from: give `-- <agent> [args]` to run an agent, or `--replay FILE...`");
    }
    if args.verify && args.command.is_empty() {
        anyhow::bail!("--verify re-runs the agent: give its command after `--`");
    }
    let mut params = parse_params(&args.params)?;
    let live = args.replay.is_empty() && !args.command.is_empty();
    // Read before anything runs: a bad tiers line stops here, with its `file:line:col`.
    let mut tiers = learner::Tiers::builtin();
    for path in &args.tiers {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read tiers {}", path.display()))?;
        if let Err(e) = tiers.extend_from_text(&path.display().to_string(), &text) {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    }

    // Recorded sessions are read completely first: a bad file stops everything before any write.
    let replayed = if args.replay.is_empty() { None } else { Some(read_replay(&args.replay)?) };
    let context = session_context(&args, replayed.as_ref())?;
    let agent = agent_name(&context);

    let base = current_profile(&args, &context, &mut params)?;
    if args.print_profile {
        return print_profile(&base, &params, &args, &context);
    }
    let overlay_path = match &args.output {
        Some(path) => path.clone(),
        None => overlay::default_overlay_path(&agent)?,
    };
    let overlay_file = OverlayFile::read(&overlay_path)?;
    let policy_sources = with_overlay(&base, &overlay_file);
    let policy = compile(&policy_sources, &params).context("the current profile does not compile")?;

    let observed = match replayed {
        Some(replayed) => replayed.observed,
        None => match capture_live(&args, &policy_sources, &params, &context, &agent, RunMode::Learn)? {
            Live::Captured(session) => {
                let mut observed = Observed::default();
                observed.begin_session(session.name.clone());
                session.events.iter().for_each(|e| observed.observe(e));
                observed
            }
            Live::Stopped(code) => return Ok(code),
        },
    };

    let learner_context = learner_context(&context, &observed, live);
    let modules = read_modules(&args.modules)?;
    let sbpl_params: sbpl::Params = params.iter().cloned().collect();
    let (compiled_modules, broken) = learner::compile_modules(&policy_sources, &sbpl_params, &modules);
    for (name, err) in &broken {
        eprintln!("safehouse: module {name} is not offered: {err}");
    }
    let learned = learn(&policy, &learner_context, &observed.learner, live, &compiled_modules, tiers);
    if args.json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &learned)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }

    let color = use_color();
    print_summary(&learned, observed.learner.session_count(), color);
    if learned.proposals.is_empty() {
        eprintln!("nothing to propose: the current profile already allows everything these sessions did.");
        return Ok(ExitCode::SUCCESS);
    }

    let items = review_items(&learned);
    let interactive = !args.yes;
    if interactive && !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        anyhow::bail!("the review needs a terminal: use --yes (accept the safe proposals) or --json (print them)");
    }
    let decisions = if args.yes {
        print_proposals(&items, color);
        items
            .iter()
            .map(|item| if item.safe { review::Decision::Accepted(item.proposed) } else { review::Decision::Skipped })
            .collect()
    } else {
        let denied = denied_accesses(&policy, &observed.learner);
        let checker = Checker { sources: &policy_sources, params: &params, learned: &learned, context: &learner_context, denied: &denied };
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let mut output = std::io::stdout().lock();
        let mut terminal = review::Terminal { input: &mut input, output: &mut output, color };
        let outcome = terminal.review(&items, &checker)?;
        if outcome.aborted {
            eprintln!("review aborted: nothing was written");
            return Ok(ExitCode::from(1));
        }
        if outcome.quit {
            let left = outcome.decisions.iter().filter(|d| **d == review::Decision::Skipped).count();
            eprintln!("review stopped: {left} proposal(s) left undecided");
        }
        outcome.decisions
    };

    let chosen = chosen_proposals(&learned, &items, &decisions);
    if chosen.is_empty() {
        eprintln!("no proposal accepted: nothing to write");
        return Ok(ExitCode::SUCCESS);
    }
    let new_text = new_overlay_text(&overlay_file, &chosen);
    let name = overlay_path.display().to_string();

    // The overlay must compile after the base profile before it is written.
    let mut enforcing = base.clone();
    enforcing.push(SourceFile::new(name.clone(), new_text.clone()));
    compile(&enforcing, &params).context("the new overlay does not compile; nothing was written")?;

    let diff = safehouse_learner::diff::unified(&name, overlay_file.text(), &new_text, color);
    if interactive {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let mut output = std::io::stdout().lock();
        let mut terminal = review::Terminal { input: &mut input, output: &mut output, color };
        if !terminal.confirm_write(&diff, &name)? {
            eprintln!("not written");
            return Ok(ExitCode::from(1));
        }
    } else {
        print!("{diff}");
    }
    match overlay_file.write(&new_text) {
        Ok(backup) => {
            eprintln!("wrote {name}: {} rule(s) accepted", chosen.len());
            if let Some(backup) = backup {
                eprintln!("previous version kept as {}", backup.display());
            }
            eprintln!("use it with: safehouse --append-profile={name}");
        }
        Err(err) => {
            eprintln!("safehouse learn: {err}");
            return Ok(ExitCode::from(1));
        }
    }

    if args.verify {
        // Denials that are meant to stay (secrets, explicit deny rules, platform policy) are not findings.
        let mut expected: BTreeSet<String> = BTreeSet::new();
        for finding in learned.secrets.iter().chain(&learned.platform_denials) {
            expected.insert(finding.target.raw.clone());
        }
        for denial in &learned.denied_by_rule {
            expected.extend(denial.evidence.samples.iter().cloned());
        }
        let seen: BTreeSet<(String, String)> =
            observed.learner.accesses().map(|(operation, target)| (operation.to_string(), target.raw.clone())).collect();
        return verify(&args, &enforcing, &params, &context, &agent, &expected, &seen);
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------------
// The current profile
// ---------------------------------------------------------------------------------------------

fn parse_params(raw: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    raw.iter()
        .map(|p| match p.split_once('=') {
            Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
            _ => anyhow::bail!("-D {p:?}: expected NAME=VALUE"),
        })
        .collect()
}

fn set_param(params: &mut Vec<(String, String)>, name: &str, value: &str) {
    if !params.iter().any(|(n, _)| n == name) {
        params.push((name.to_string(), value.to_string()));
    }
}

/// The profile sources in order: `--profile` files, else `--policy-cmd` output, else the embedded base
/// (which gets HOME_DIR and WORK_DIR from the session unless `-D` set them).
fn current_profile(args: &Args, context: &SessionContext, params: &mut Vec<(String, String)>) -> anyhow::Result<Vec<SourceFile>> {
    if !args.profiles.is_empty() {
        return args
            .profiles
            .iter()
            .map(|path| {
                let text = std::fs::read_to_string(path).with_context(|| format!("cannot read profile {}", path.display()))?;
                Ok(SourceFile { name: path.display().to_string(), text })
            })
            .collect();
    }
    if let Some(command) = args.policy_cmd.as_deref().filter(|c| !c.trim().is_empty()) {
        let output = duct::cmd("sh", ["-c", command])
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()
            .with_context(|| format!("cannot run the policy command {command:?}"))?;
        if !output.status.success() {
            anyhow::bail!(
                "the policy command {command:?} failed (exit {}): {}",
                output.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&output.stderr).trim_end()
            );
        }
        let text = String::from_utf8(output.stdout).map_err(|_| anyhow::anyhow!("the policy command printed non-UTF-8 text"))?;
        return Ok(vec![SourceFile { name: format!("<policy-cmd: {command}>"), text }]);
    }
    if let Some(home) = &context.home {
        set_param(params, "HOME_DIR", home);
    }
    if let Some(workdir) = &context.workdir {
        set_param(params, "WORK_DIR", workdir);
    }
    let (name, text) = if context.platform.as_deref() == Some("linux") {
        (EMBEDDED_BASE_LINUX_NAME, safehouse_learner::strace::LINUX_BASE_PROFILE)
    } else {
        (EMBEDDED_BASE_NAME, EMBEDDED_BASE)
    };
    Ok(vec![SourceFile::new(name, text)])
}

/// The base sources plus the existing overlay (so what it already grants is not proposed again).
fn with_overlay(base: &[SourceFile], overlay: &OverlayFile) -> Vec<SourceFile> {
    let mut sources = base.to_vec();
    if let Some(text) = &overlay.original {
        sources.push(SourceFile { name: overlay.path.display().to_string(), text: text.clone() });
    }
    sources
}

fn print_profile(base: &[SourceFile], params: &[(String, String)], args: &Args, context: &SessionContext) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    for (name, value) in params {
        writeln!(out, ";; -D {name}={value}")?;
    }
    for source in base {
        writeln!(out, ";; ===== {} =====", source.name)?;
        out.write_all(source.text.as_bytes())?;
        if !source.text.ends_with('\n') {
            writeln!(out)?;
        }
    }
    if !args.command.is_empty() {
        let tag = "SESSION-NONCE";
        let reporting = reporting_profile(base, tag, context)?;
        writeln!(out, ";; ===== reporting variant used for live capture (session tag {tag}) =====")?;
        out.write_all(reporting.as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn reporting_profile(base: &[SourceFile], tag: &str, context: &SessionContext) -> anyhow::Result<String> {
    let floor = safehouse_learner::reporting::Floor { home: context.home.clone() };
    safehouse_learner::reporting::reporting_profile(base, tag, &floor).map_err(|e| anyhow::anyhow!("{e}"))
}

// ---------------------------------------------------------------------------------------------
// Sessions: replayed or captured
// ---------------------------------------------------------------------------------------------

fn agent_name(context: &SessionContext) -> String {
    context
        .command
        .first()
        .and_then(|p| Path::new(p).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "replay".to_string())
}

/// One live-captured session: its archive's name and its events.
pub struct Session {
    pub name: String,
    pub events: Vec<Event>,
}

/// Recorded sessions, streamed into the learner as they are read (events are not kept: a
/// million-event replay would otherwise hold every event twice).
struct Replayed {
    /// What each archive header recorded (default for raw logs), in `--replay` order.
    contexts: Vec<SessionContext>,
    observed: Observed,
}

/// Events folded into the learner, and the per-user temp roots seen among their paths.
#[derive(Default)]
struct Observed {
    learner: learner::Learner,
    temp_roots: Vec<String>,
}

impl Observed {
    fn begin_session(&mut self, name: String) {
        self.learner.begin_session(name);
    }

    fn observe(&mut self, event: &Event) {
        if let Some(root) = event.target.path_str().and_then(temp_root) {
            if !self.temp_roots.iter().any(|r| r == root) {
                self.temp_roots.push(root.to_string());
            }
        }
        self.learner.observe(event);
    }
}

/// Read every `--replay` file completely before anything else happens: a bad file is an error
/// (with `file:line:col` for archives) and nothing is written.
fn read_replay(paths: &[PathBuf]) -> anyhow::Result<Replayed> {
    let progress = std::io::stderr().is_terminal();
    let mut replayed = Replayed { contexts: Vec::new(), observed: Observed::default() };
    for path in paths {
        let name = path.display().to_string();
        let file = std::fs::File::open(path).with_context(|| format!("cannot read {name}"))?;
        let mut reader = logs::open_events(std::io::BufReader::with_capacity(256 * 1024, file), &name)?;
        replayed.observed.begin_session(name.clone());
        let mut events = 0usize;
        for item in &mut reader {
            replayed.observed.observe(&item?);
            events += 1;
            if progress && events % 100_000 == 0 {
                eprint!("\rsafehouse: reading {name}: {events} events");
            }
        }
        if progress && events >= 100_000 {
            eprintln!();
        }
        if events == 0 {
            anyhow::bail!("{name}: no Sandbox reports found ({})", reader.stats());
        }
        replayed.contexts.push(reader.archive_header().map(|h| h.context.clone()).unwrap_or_default());
    }
    Ok(replayed)
}

/// The session's home and workdir: flags first, then what the archives recorded, then this
/// process's environment (live capture only: a replayed raw log says nothing about them).
fn session_context(args: &Args, replayed: Option<&Replayed>) -> anyhow::Result<SessionContext> {
    let recorded = |field: fn(&SessionContext) -> Option<String>| replayed.and_then(|r| r.contexts.iter().find_map(field));
    let mut context = SessionContext::default();
    context.home = args.home.clone().or_else(|| recorded(|c| c.home.clone()));
    context.workdir = args.workdir.clone().or_else(|| recorded(|c| c.workdir.clone()));
    context.command = if args.command.is_empty() {
        replayed.and_then(|r| r.contexts.iter().map(|c| &c.command).find(|c| !c.is_empty()).cloned()).unwrap_or_default()
    } else {
        args.command.clone()
    };
    context.platform = recorded(|c| c.platform.clone());
    if replayed.is_none() {
        if context.home.is_none() {
            context.home = std::env::var("HOME").ok().filter(|h| !h.is_empty());
        }
        if context.workdir.is_none() {
            context.workdir = Some(std::env::current_dir()?.display().to_string());
        }
        // The macOS backend (real, or stand-ins named by the environment) captures macOS sessions.
        let macos = capture::macos::SandboxExec::from_env().is_some();
        context.platform = Some(if macos { "macos".to_string() } else { std::env::consts::OS.to_string() });
    }
    for dir in [&mut context.home, &mut context.workdir].into_iter().flatten() {
        while dir.len() > 1 && dir.ends_with('/') {
            dir.pop();
        }
    }
    Ok(context)
}

/// A live run either captured a session or ended the command (with this exit code).
enum Live {
    Captured(Box<Session>),
    Stopped(ExitCode),
}

/// Events flow into the session and, line by line, into the archive.
struct ArchiveSink {
    events: Vec<Event>,
    archive: logs::ArchiveWriter<std::fs::File>,
    quiet: bool,
}

impl capture::Sink for ArchiveSink {
    fn event(&mut self, event: Event) -> anyhow::Result<()> {
        self.archive.write_event(&event)?;
        self.events.push(event);
        Ok(())
    }
    fn note(&mut self, message: &str) {
        if !self.quiet {
            eprintln!("safehouse: {message}");
        }
    }
}

/// Which profile the agent runs under.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RunMode {
    /// The reporting variant: would-be denials are allowed and reported (learning).
    Learn,
    /// The enforcing variant: denials are real (`--verify`).
    Verify,
}

fn capture_live(
    args: &Args,
    sources: &[SourceFile],
    params: &[(String, String)],
    context: &SessionContext,
    agent: &str,
    mode: RunMode,
) -> anyhow::Result<Live> {
    let backend = match capture::platform_backend() {
        Ok(backend) => backend,
        Err(message) => {
            eprintln!("safehouse learn: {message}");
            return Ok(Live::Stopped(ExitCode::from(2)));
        }
    };
    eprintln!("safehouse: capturing with {}", backend.name());
    let tag = session_tag();
    let floor = safehouse_learner::reporting::Floor { home: context.home.clone() };
    let profile = match mode {
        RunMode::Learn => safehouse_learner::reporting::reporting_profile(sources, &tag, &floor),
        RunMode::Verify => safehouse_learner::reporting::enforcing_profile(sources, &tag, &floor),
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let policy = compile(sources, params).context("the current profile does not compile")?;
    let classify = |operation: &str, target: &Target| -> Action {
        if policy_allows(&policy, operation, target) {
            Action::Allow
        } else {
            Action::Deny
        }
    };
    let state = overlay::state_dir()?.join("sessions");
    std::fs::create_dir_all(&state).with_context(|| format!("cannot create {}", state.display()))?;
    let suffix = if mode == RunMode::Verify { "-verify" } else { "" };
    let archive_path = state.join(format!(
        "{}-{}{suffix}.ndjson",
        chrono::Local::now().format("%Y%m%dT%H%M%S"),
        overlay::file_safe(agent)
    ));
    let recorded = SessionContext { tag: Some(tag.clone()), ..context.clone() };
    let header = logs::ArchiveHeader::new(Some(chrono::Local::now().fixed_offset()), recorded);
    let file = std::fs::File::create(&archive_path).with_context(|| format!("cannot create {}", archive_path.display()))?;
    let archive = logs::ArchiveWriter::new(file, &header)?;
    eprintln!("safehouse: session archive: {}", archive_path.display());
    let mut sink = ArchiveSink { events: Vec::new(), archive, quiet: false };
    let interrupts = capture::Interrupts::install()?;
    let request = capture::Request {
        command: &args.command,
        workdir: PathBuf::from(context.workdir.clone().unwrap_or_else(|| ".".into())),
        reporting_profile: &profile,
        params,
        session_tag: &tag,
        keep_profile: args.keep_profile,
        classify: &classify,
        interrupts: interrupts.clone(),
    };
    let outcome = backend.capture(&request, &mut sink);
    interrupts.capture_done();
    let outcome = outcome?;
    if let Err(e) = capture::complete_archive_header(&archive_path, &header, &outcome.facts) {
        eprintln!("safehouse: warning: the archive header lacks the capture facts: {e:#}");
    }
    for problem in &outcome.problems {
        eprintln!("safehouse: warning: {problem}");
    }
    if let Some(path) = &outcome.kept_profile {
        eprintln!("safehouse: reporting profile kept at {}", path.display());
    }
    eprintln!(
        "safehouse: {} report(s) attributed to the session, {} from other processes kept out; archive: {}",
        outcome.attributed,
        outcome.excluded,
        archive_path.display()
    );
    if outcome.status == AgentStatus::Stopped || interrupts.stop_now() {
        eprintln!("safehouse: stopped; review later with: safehouse learn --replay {}", archive_path.display());
        return Ok(Live::Stopped(ExitCode::from(130)));
    }
    Ok(Live::Captured(Box::new(Session { name: archive_path.display().to_string(), events: sink.events })))
}

/// `--verify`: the same command under the enforcing profile plus the new overlay; every denial is new.
fn verify(
    args: &Args,
    enforcing: &[SourceFile],
    params: &[(String, String)],
    context: &SessionContext,
    agent: &str,
    expected: &BTreeSet<String>,
    seen_while_learning: &BTreeSet<(String, String)>,
) -> anyhow::Result<ExitCode> {
    eprintln!("safehouse: verifying: running the agent again under the profile plus the new overlay");
    let session = match capture_live(args, enforcing, params, context, agent, RunMode::Verify)? {
        Live::Captured(session) => session,
        Live::Stopped(code) => return Ok(code),
    };
    // New: never seen while learning. Not granted: seen, but rejected or skipped in the review.
    let mut new = BTreeSet::new();
    let mut not_granted = BTreeSet::new();
    for event in &session.events {
        if event.action != Action::Deny || event.platform_policy || expected.contains(&event.target.raw) {
            continue;
        }
        let line = format!("{} {} ({})", event.operation, event.target.raw, event.process);
        if seen_while_learning.contains(&(event.operation.clone(), event.target.raw.clone())) {
            not_granted.insert(line);
        } else {
            new.insert(line);
        }
    }
    if !not_granted.is_empty() {
        eprintln!("verify: {} denial(s) of accesses seen while learning but not granted:", not_granted.len());
        for denial in &not_granted {
            eprintln!("  {denial}");
        }
    }
    if new.is_empty() {
        eprintln!("verify: no new denial");
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("verify: {} new denial(s) under the new overlay:", new.len());
    for denial in &new {
        eprintln!("  {denial}");
    }
    eprintln!("learn again from that run: safehouse learn --replay {}", session.name);
    Ok(ExitCode::from(1))
}

/// A per-session nonce: unguessable enough that another process cannot forge our tag by accident.
fn session_tag() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    hasher.write_u32(std::process::id());
    format!("safehouse-{:016x}", hasher.finish())
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

fn use_color() -> bool {
    std::env::var_os("NO_COLOR").map_or(true, |v| v.is_empty()) && std::io::stdout().is_terminal()
}

fn print_summary(learned: &Learned, sessions: usize, color: bool) {
    let bold = |s: &str| if color { format!("\x1b[1m{s}\x1b[0m") } else { s.to_string() };
    eprintln!("{}", bold(&format!("{sessions} session(s): {} proposal(s)", learned.proposals.len())));
    for line in learned_notes(learned) {
        eprintln!("  {line}");
    }
}

/// `--yes`: every proposal on one line (stderr), accepted (safe) or left for an interactive review.
fn print_proposals(items: &[review::Item], color: bool) {
    let paint = |code: &str, text: &str| if color { format!("{code}{text}\x1b[0m") } else { text.to_string() };
    let mut group = "";
    for item in items {
        if item.purpose != group {
            group = &item.purpose;
            eprintln!("{}", paint("\x1b[1m", &format!("== {group}")));
        }
        let rule = item.choices[item.proposed].rule.split_whitespace().collect::<Vec<_>>().join(" ");
        let (mark, code) = if item.safe { ("accept", "\x1b[32m") } else { ("review", "\x1b[33m") };
        eprintln!("  {} {:<6} {rule}", paint(code, mark), format!("{:?}", item.risk).to_lowercase());
    }
    let left = items.iter().filter(|i| !i.safe).count();
    if left > 0 {
        eprintln!("{left} proposal(s) need a review: run without --yes to decide them");
    }
}

/// The overlay after this review: the old text, then the accepted rules as the learner renders them.
fn new_overlay_text(old: &OverlayFile, chosen: &[Proposal]) -> String {
    let mut text = old.text().to_string();
    if !text.is_empty() {
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push('\n');
    }
    text.push_str(&learner::render_overlay(chosen));
    text
}

// ---------------------------------------------------------------------------------------------
// Engine and learner
// ---------------------------------------------------------------------------------------------

fn compile(sources: &[SourceFile], params: &[(String, String)]) -> anyhow::Result<Policy> {
    let params: sbpl::Params = params.iter().cloned().collect();
    sbpl::compile(sources, &params).map_err(|e| anyhow::anyhow!("{e}"))
}

/// What the policy does with an access at run time. Indeterminate decisions (a filter that depends
/// on run-time state) usually allow, so they are not reported as denials.
fn policy_allows(policy: &Policy, operation: &str, target: &Target) -> bool {
    policy.decide(operation, target).verdict != Verdict::Deny
}

/// The session context completed with what the learner also needs: temp roots seen in the events
/// and (live only) this machine's PATH.
fn learner_context(context: &SessionContext, observed: &Observed, live: bool) -> SessionContext {
    // Per-user temp roots seen in the events (`/private/var/folders/xx/yyyy/T`).
    let mut temp_roots = observed.temp_roots.clone();
    if context.platform.as_deref() == Some("linux") {
        // Linux's per-user temp directory, when the user has one ($TMPDIR); /tmp itself is shared.
        if let Some(tmp) = std::env::var_os("TMPDIR").and_then(|t| std::fs::canonicalize(t).ok()) {
            let tmp = tmp.display().to_string();
            if tmp != "/tmp" && !temp_roots.contains(&tmp) {
                temp_roots.push(tmp);
            }
        }
    }
    temp_roots.sort();
    // This machine's PATH says something only about a session that ran here.
    let path_dirs = if live {
        std::env::var("PATH").unwrap_or_default().split(':').filter(|d| d.starts_with('/')).map(String::from).collect()
    } else {
        Vec::new()
    };
    SessionContext { temp_roots, path_dirs, ..context.clone() }
}

/// `/private/var/folders/q7/x1y2.../T` of a path under it.
fn temp_root(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/private/var/folders/")?;
    let mut end = "/private/var/folders/".len();
    for (i, part) in rest.split('/').enumerate() {
        end += part.len() + 1;
        if i == 2 {
            return (part == "T").then(|| &path[..end - 1]);
        }
    }
    None
}

/// Lists real directories, so the learner can say what a wider rule would newly open.
struct LocalFs {
    /// At most this many entries per listing: one past the learner's walk budget, so a huge
    /// directory ends the walk (the figure is then marked truncated) without being read whole.
    max_entries: usize,
}

impl learner::FsOracle for LocalFs {
    fn list_dir(&self, dir: &str) -> Option<Vec<learner::DirEntry>> {
        let entries = std::fs::read_dir(dir).ok()?;
        let mut out: Vec<learner::DirEntry> = entries
            .filter_map(Result::ok)
            .take(self.max_entries)
            .map(|e| learner::DirEntry {
                name: e.file_name().to_string_lossy().into_owned(),
                is_dir: e.file_type().map(|t| t.is_dir()).unwrap_or(false),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Some(out)
    }
}

/// `--module` files, directories expanded to their `*.sb` in name order.
fn read_modules(paths: &[PathBuf]) -> anyhow::Result<Vec<SourceFile>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "sb"))
                .collect();
            entries.sort();
            files.extend(entries);
        } else {
            files.push(path.clone());
        }
    }
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read module {}", path.display()))?;
            Ok(SourceFile::new(path.display().to_string(), text))
        })
        .collect()
}

fn learn(
    policy: &Policy,
    context: &SessionContext,
    learner: &learner::Learner,
    live: bool,
    modules: &[learner::CompiledModule],
    tiers: learner::Tiers,
) -> Learned {
    let mut options = learner::LearnOptions {
        tiers,
        modules: modules.iter().map(|m| m.as_module_policy()).collect(),
        ..learner::LearnOptions::default()
    };
    let oracle = LocalFs { max_entries: options.oracle_budget + 1 };
    // Listing directories is only meaningful on the machine the session ran on.
    if live || context.home.as_deref().is_some_and(|h| Path::new(h).is_dir()) {
        options.oracle = Some(&oracle);
    }
    learner.learn(policy, context, &options)
}

fn learned_notes(learned: &Learned) -> Vec<String> {
    let s = &learned.summary;
    let mut notes = vec![format!(
        "{} events ({} distinct accesses): {} already allowed, {} covered by proposals, {} secret, {} platform policy",
        s.events, s.distinct, s.already_allowed, s.proposed, s.secrets, s.platform
    )];
    for finding in &learned.secrets {
        notes.push(format!("secret, never proposed: {} {} ({})", finding.operation, finding.target.raw, finding.reason));
    }
    for denial in &learned.denied_by_rule {
        notes.push(format!("kept denied: {}", denial.reason));
    }
    if !learned.platform_denials.is_empty() {
        notes.push(format!("{} platform-policy denial(s): no profile rule can change them", learned.platform_denials.len()));
    }
    if !learned.indeterminate.is_empty() {
        notes.push(format!("{} access(es) the profile decides only at run time (see --json: indeterminate)", learned.indeterminate.len()));
    }
    if !learned.unhandled.is_empty() {
        notes.push(format!("{} access(es) of kinds not generalised (see --json: unhandled)", learned.unhandled.len()));
    }
    for module in learned.modules.iter().take(3) {
        notes.push(module.text.clone());
    }
    notes
}

// ---------------------------------------------------------------------------------------------
// Review
// ---------------------------------------------------------------------------------------------

/// The review's view of each proposal: its grant choices narrow → wide, the learner's pick among them.
fn review_items(learned: &Learned) -> Vec<review::Item> {
    learned
        .proposals
        .iter()
        .map(|p| {
            let choice = |grant: &learner::Grant, note: String, widening: Option<&learner::Widening>| review::Choice {
                rule: grant.sbpl.clone(),
                note,
                sensitive: widening.is_some_and(|w| w.most_sensitive_tier.is_some_and(|t| t != Tier::Normal)),
            };
            let mut choices: Vec<review::Choice> = p
                .alternatives
                .iter()
                .filter(|a| a.scope == "narrower")
                .map(|a| choice(&a.grant, a.reason.clone(), Some(&a.widening)))
                .collect();
            let proposed = choices.len();
            choices.push(choice(&p.grant, String::new(), p.widening.as_ref()));
            choices.extend(
                p.alternatives
                    .iter()
                    .filter(|a| a.scope != "narrower")
                    .map(|a| choice(&a.grant, a.reason.clone(), Some(&a.widening))),
            );
            let e = &p.evidence;
            let mut evidence = vec![format!(
                "{} event(s), {} target(s), {} session(s); processes: {}",
                e.count,
                e.distinct_targets,
                e.sessions,
                e.processes.join(", ")
            )];
            evidence.extend(e.samples.iter().take(3).map(|s| format!("e.g. {s}")));
            if let Some(module) = &p.module {
                evidence.push(module.text.clone());
            }
            review::Item {
                id: p.id.clone(),
                purpose: p.purpose.clone(),
                class: p.class.as_str().to_string(),
                choices,
                proposed,
                reason: p.reason.clone(),
                evidence,
                risk: match p.risk {
                    learner::Risk::Low => review::Risk::Low,
                    learner::Risk::Medium => review::Risk::Medium,
                    learner::Risk::High => review::Risk::High,
                },
                safe: p.safe,
                sensitive: p.tier != Tier::Normal,
            }
        })
        .collect()
}

/// The proposals to write, each with the grant the user chose (or typed).
fn chosen_proposals(learned: &Learned, items: &[review::Item], decisions: &[review::Decision]) -> Vec<Proposal> {
    let mut chosen = Vec::new();
    for ((proposal, item), decision) in learned.proposals.iter().zip(items).zip(decisions) {
        let mut p = proposal.clone();
        match decision {
            review::Decision::Accepted(n) if *n == item.proposed => {}
            review::Decision::Accepted(n) => {
                let rule = &item.choices[*n].rule;
                if let Some(alt) = proposal.alternatives.iter().find(|a| &a.grant.sbpl == rule) {
                    p.grant = alt.grant.clone();
                    p.reason = format!("chosen in review: {}", alt.reason);
                }
            }
            review::Decision::Edited(rule) => {
                p.grant.sbpl = rule.clone();
                p.grant.filters.clear();
                p.reason = "typed in review".to_string();
            }
            review::Decision::Rejected | review::Decision::Skipped => continue,
        }
        chosen.push(p);
    }
    chosen
}

/// Checks a typed rule: it must compile after the current profile and allow every access the
/// proposal was made for.
struct Checker<'a> {
    sources: &'a [SourceFile],
    params: &'a [(String, String)],
    learned: &'a Learned,
    context: &'a SessionContext,
    /// Distinct (operation, target) the current policy does not allow.
    denied: &'a [(String, Target)],
}

impl review::EditChecker for Checker<'_> {
    fn check(&self, item: usize, rule: &str) -> Result<(), String> {
        let proposal = &self.learned.proposals[item];
        let mut sources = self.sources.to_vec();
        sources.push(SourceFile::new("typed rule", rule));
        let policy = compile(&sources, self.params).map_err(|e| format!("{e:#}"))?;
        let matcher = learner::GrantMatcher::new(&proposal.grant, self.context);
        let missed: Vec<String> = self
            .denied
            .iter()
            .filter(|(op, target)| matcher.allows(op, target))
            .filter(|(op, target)| !policy_allows(&policy, op, target))
            .map(|(op, target)| format!("{op} {}", target.raw))
            .collect();
        if missed.is_empty() {
            return Ok(());
        }
        let mut why = format!("the rule does not cover {} of the observed accesses:", missed.len());
        for m in missed.iter().take(5) {
            why.push_str(&format!("\n  {m}"));
        }
        if missed.len() > 5 {
            why.push_str(&format!("\n  ... and {} more", missed.len() - 5));
        }
        Err(why)
    }
}

/// Distinct accesses the policy does not allow (what typed rules must cover).
fn denied_accesses(policy: &Policy, learner: &learner::Learner) -> Vec<(String, Target)> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for (operation, target) in learner.accesses() {
        if seen.insert((operation, target.raw.as_str())) && !policy_allows(policy, operation, target) {
            out.push((operation.to_string(), target.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_roots_are_the_per_user_t_directories() {
        assert_eq!(
            temp_root("/private/var/folders/q7/x1y2z3_0000gn/T/claude-1/x"),
            Some("/private/var/folders/q7/x1y2z3_0000gn/T")
        );
        assert_eq!(temp_root("/private/var/folders/q7/x1y2z3_0000gn/C/com.apple.x"), None);
        assert_eq!(temp_root("/private/var/folders/q7"), None);
        assert_eq!(temp_root("/Users/a/T/x"), None);
    }

    #[test]
    fn params_need_a_name() {
        assert_eq!(parse_params(&["A=b=c".into()]).unwrap(), vec![("A".to_string(), "b=c".to_string())]);
        assert!(parse_params(&["=x".into()]).is_err());
        assert!(parse_params(&["novalue".into()]).is_err());
        let mut params = vec![("HOME_DIR".to_string(), "/h".to_string())];
        set_param(&mut params, "HOME_DIR", "/other");
        set_param(&mut params, "WORK_DIR", "/w");
        assert_eq!(params, vec![("HOME_DIR".into(), "/h".into()), ("WORK_DIR".into(), "/w".into())]);
    }

    #[test]
    fn new_rules_are_appended_after_the_old_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.sb");
        std::fs::write(&path, "(allow mach-lookup (global-name \"a\"))").unwrap();
        let old = OverlayFile::read(&path).unwrap();
        let text = new_overlay_text(&old, &[]);
        assert!(text.starts_with("(allow mach-lookup (global-name \"a\"))\n\n;; safehouse learn overlay"), "{text}");
        let fresh = OverlayFile::read(&dir.path().join("new.sb")).unwrap();
        assert!(new_overlay_text(&fresh, &[]).starts_with(";; safehouse learn overlay"));
    }
}
