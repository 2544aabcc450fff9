//! `safehouse audit SESSION...`: the session report: what was read, written, executed, looked up
//! and contacted (grouped by area), every denial with its cause, sensitive locations touched,
//! evidence gaps, counts and time span; as text, JSON, Markdown or one self-contained HTML file.
//!
//! Sessions are read as a stream (archives or raw `log` output, any style) and folded into the
//! library's [`Auditor`] one event at a time; nothing holds the events. With `--profile`, each
//! denial's cause comes from our engine: the explicit deny rule that decided it, a missing rule,
//! or (in a learning session, whose archive names its tag) the learning floor.
//!
//! Exit status: 0 when the report was produced, 2 for unreadable inputs or profiles.

use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{Local, Offset};
use safehouse_learner::learn::{SessionContext, Tiers};
use safehouse_learner::logs::{self, Options};
use safehouse_learner::report::area::Places;
use safehouse_learner::report::audit::{Auditor, SessionFacts};
use safehouse_learner::report::judge::Judge;
use safehouse_learner::report::render;
use safehouse_learner::sbpl::{compile, Params, Policy};

use super::check::{parse_define, read_sources};

/// `safehouse audit SESSION... [--profile P] [--format text|json|markdown|html]`
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  safehouse audit samples/audit/learn-session.archive --profile samples/audit/profile.sb\n  safehouse audit session.archive --format html -o audit.html")]
pub struct Args {
    /// Sessions: archives or `log show`/`log stream` output in any style (gzip'd or not); `-` is stdin.
    #[arg(required = true, value_name = "SESSION")]
    pub sessions: Vec<PathBuf>,
    /// The policy the sessions ran under, in order (repeatable): explains each denial.
    #[arg(long = "profile", value_name = "FILE")]
    pub profiles: Vec<PathBuf>,
    /// Define a parameter for `(param "NAME")`, as `sandbox-exec -D NAME=VALUE`. Repeatable.
    #[arg(short = 'D', value_name = "NAME=VALUE", value_parser = parse_define)]
    pub define: Vec<(String, String)>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Same as `--format json`.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The session's home and workdir (default: from the archive header).
    #[arg(long, value_name = "DIR")]
    pub home: Option<String>,
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// Extra sensitivity tiers (the learner's tiers format), added to the built-in ones.
    #[arg(long, value_name = "FILE")]
    pub tiers: Vec<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Plain text that fits a terminal.
    Text,
    /// The report's JSON (README "audit").
    Json,
    /// GitHub-flavoured Markdown.
    Markdown,
    /// One self-contained HTML file.
    Html,
}

/// Open a session file (or stdin for `-`).
pub(crate) fn open_input(path: &PathBuf) -> anyhow::Result<Box<dyn BufRead>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(BufReader::with_capacity(64 * 1024, io::stdin())));
    }
    let file = File::open(path).with_context(|| format!("cannot read session {}", path.display()))?;
    Ok(Box::new(BufReader::with_capacity(256 * 1024, file)))
}

/// Reader options: timestamps printed without a zone are local time.
pub(crate) fn read_options() -> Options {
    Options { default_offset: Local::now().offset().fix(), ..Options::default() }
}

/// Compile `--profile` files (none → `None`). The error names the file, line and column.
pub(crate) fn load_policy(paths: &[PathBuf], define: &[(String, String)]) -> anyhow::Result<Option<Policy>> {
    if paths.is_empty() {
        return Ok(None);
    }
    let sources = read_sources(paths)?;
    let params: Params = define.iter().cloned().collect();
    let policy = compile(&sources, &params).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Some(policy))
}

/// ANSI colour on stdout: a terminal and no `NO_COLOR`.
pub(crate) fn use_color() -> bool {
    io::stdout().is_terminal() && std::env::var_os("NO_COLOR").map_or(true, |v| v.is_empty())
}

/// The learning floor of a session captured by `learn` (its archive names the session tag),
/// compiled on its own: a denial it decides was the floor keeping a secret denied while learning.
fn floor_policy(ctx: &SessionContext, learning: bool) -> Option<Policy> {
    if !learning {
        return None;
    }
    let floor = safehouse_learner::reporting::Floor { home: ctx.home.clone() };
    let text = format!("(version 1)\n{}", safehouse_learner::reporting::floor_rules(&floor, "floor"));
    compile(&[safehouse_learner::sbpl::SourceFile::new("<learning floor>", text)], &Params::new()).ok()
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let format = if args.json { Format::Json } else { args.format };
    let policy = match load_policy(&args.profiles, &args.define) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let mut tiers = Tiers::builtin();
    for path in &args.tiers {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read tiers {}", path.display()))?;
        if let Err(e) = tiers.extend_from_text(&path.display().to_string(), &text) {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    }

    let options = read_options();
    let mut auditor = Auditor::new(Places::default());
    let mut last_ctx = SessionContext { home: args.home.clone(), workdir: args.workdir.clone(), ..Default::default() };
    for path in &args.sessions {
        let name = path.display().to_string();
        let input = match open_input(path) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("error: {e:#}");
                return Ok(ExitCode::from(2));
            }
        };
        let mut stream = match logs::open_events_with(input, &name, options) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(2));
            }
        };
        // The first event tells whether this is an archive, whose header carries the context.
        let first = stream.next();
        let header = stream.archive_header().cloned();
        let mut ctx = SessionContext::default();
        let mut facts = SessionFacts::default();
        let mut learning = false;
        if let Some(h) = &header {
            ctx.home = h.context.home.clone();
            ctx.workdir = h.context.workdir.clone();
            ctx.command = h.context.command.clone();
            learning = h.context.tag.is_some();
            let extra = serde_json::Value::Object(h.context.extra.clone().into_iter().collect());
            facts = serde_json::from_value(extra).unwrap_or_default();
            facts.learning = learning;
            facts.traced = h.context.platform.as_deref() == Some("linux");
        }
        if args.home.is_some() {
            ctx.home = args.home.clone();
        }
        if args.workdir.is_some() {
            ctx.workdir = args.workdir.clone();
        }
        // A raw log says nothing about its roots: it keeps those of the session before it.
        let known = ctx.home.is_some() || ctx.workdir.is_some();
        let ctx = if known { ctx } else { last_ctx.clone() };
        last_ctx = ctx.clone();
        let mut judge = Judge::new(policy.as_ref(), floor_policy(&ctx, learning), tiers.bind(&ctx));
        auditor.begin_session(name.clone(), facts, Some(Places::from(&ctx)));
        for item in first.into_iter().chain(stream.by_ref()) {
            match item {
                Ok(event) => {
                    let judgement = judge.judge(&event);
                    auditor.observe(&event, judgement);
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(2));
                }
            }
        }
        eprintln!("{name}: {}", stream.stats());
    }
    let report = auditor.finish();
    let text = match format {
        Format::Text => render::text(&report, args.output.is_none() && use_color()),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&report)?;
            s.push('\n');
            s
        }
        Format::Markdown => render::markdown(&report),
        Format::Html => render::html(&report),
    };
    match &args.output {
        Some(path) => std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            let mut out = io::stdout().lock();
            if let Err(e) = out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
                if e.kind() != io::ErrorKind::BrokenPipe {
                    return Err(e.into());
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
