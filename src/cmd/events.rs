//! `safehouse events`: read Sandbox reports from raw `log` output (any style, gzip'd or not) or
//! session archives and print normalized events: NDJSON (the [`Event`] serde shape, one per
//! line) by default when stdout is not a terminal, an aligned table on a terminal, or a session
//! archive (`--format archive`). A summary of what was read goes to stderr.

use std::fs::File;
use std::io::{self, BufReader, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, FixedOffset, Local, Offset};
use safehouse_learner::logs::{self, ArchiveHeader, ArchiveWriter, Options, SessionContext, Stats};
use safehouse_learner::{Action, Event};

#[derive(clap::Args)]
pub struct Args {
    /// Inputs: `log` output in any style (ndjson, json, compact, default, syslog, bare report
    /// lines; gzip'd or not) or session archives. `-` or nothing reads stdin.
    pub files: Vec<PathBuf>,
    /// Output format [default: table on a terminal, ndjson otherwise].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Only events at or after this time (`2026-09-13 10:08:37`, RFC 3339; no zone = local time).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only events whose `(with message ...)` tag equals TAG.
    #[arg(long)]
    pub tag: Option<String>,
    /// Only denials or only reported allows.
    #[arg(long, value_enum)]
    pub only: Option<OnlyAction>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One event JSON object per line.
    Ndjson,
    /// Aligned columns for people.
    Table,
    /// A session archive (header line, then the events).
    Archive,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnlyAction {
    Deny,
    Allow,
}

struct Filter {
    since: Option<DateTime<FixedOffset>>,
    tag: Option<String>,
    only: Option<Action>,
}

impl Filter {
    fn keeps(&self, e: &Event) -> bool {
        if let Some(since) = self.since {
            if !e.time.is_some_and(|t| t >= since) {
                return false;
            }
        }
        if let Some(tag) = &self.tag {
            if e.tag.as_deref() != Some(tag.as_str()) {
                return false;
            }
        }
        self.only.map_or(true, |a| a == e.action)
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let local = Local::now().offset().fix();
    let since = match &args.since {
        None => None,
        Some(text) => Some(
            logs::time::parse_leading(text.trim().as_bytes(), local)
                .filter(|(_, n)| *n == text.trim().len())
                .map(|(t, _)| t)
                .with_context(|| format!("--since {text:?}: expected a time like `2026-09-13 10:08:37` or RFC 3339"))?,
        ),
    };
    let filter = Filter {
        since,
        tag: args.tag.clone(),
        only: args.only.map(|o| match o {
            OnlyAction::Deny => Action::Deny,
            OnlyAction::Allow => Action::Allow,
        }),
    };
    let stdout = io::stdout();
    let terminal = stdout.is_terminal();
    let format = args.format.unwrap_or(if terminal { Format::Table } else { Format::Ndjson });
    let color = terminal && std::env::var_os("NO_COLOR").map_or(true, |v| v.is_empty());
    let mut sink = Sink::new(io::BufWriter::new(stdout.lock()), format, color, terminal)?;

    let inputs: Vec<PathBuf> = if args.files.is_empty() { vec![PathBuf::from("-")] } else { args.files.clone() };
    let options = Options { default_offset: local, ..Options::default() };
    let mut total = Stats::default();
    let mut printed = 0u64;
    let mut filtered = 0u64;
    let mut failed = false;
    for path in &inputs {
        let name = path.display().to_string();
        let reader: Box<dyn io::BufRead> = if name == "-" {
            Box::new(BufReader::with_capacity(64 * 1024, io::stdin()))
        } else {
            match File::open(path) {
                Ok(f) => Box::new(BufReader::with_capacity(256 * 1024, f)),
                Err(e) => {
                    eprintln!("error: {name}: {e}");
                    failed = true;
                    continue;
                }
            }
        };
        let mut stream = match logs::open_events_with(reader, &name, options) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
                continue;
            }
        };
        for item in stream.by_ref() {
            match item {
                Ok(event) if filter.keeps(&event) => {
                    printed += 1;
                    if !sink.write(&event)? {
                        return Ok(ExitCode::SUCCESS); // the reader of our output went away
                    }
                }
                Ok(_) => filtered += 1,
                Err(e) => {
                    eprintln!("error: {e}");
                    failed = true;
                    break;
                }
            }
        }
        let stats = stream.stats();
        if inputs.len() > 1 {
            eprintln!("{name}: {}", describe(stats));
        }
        total.merge(stats);
    }
    if !sink.finish()? {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("{}{}", if inputs.len() > 1 { "total: " } else { "" }, describe(&total));
    if filtered > 0 {
        eprintln!("{printed} events printed, {filtered} filtered out");
    }
    Ok(if failed { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

fn describe(stats: &Stats) -> String {
    let mut text = stats.to_string();
    if !stats.styles.is_empty() {
        let styles: Vec<&str> = stats.styles.iter().map(|s| s.as_str()).collect();
        text.push_str(&format!(" [{}]", styles.join(", ")));
    }
    if !stats.unknown_shape_lines.is_empty() {
        let lines: Vec<String> = stats.unknown_shape_lines.iter().map(u64::to_string).collect();
        text.push_str(&format!("; unknown shapes at lines {}", lines.join(", ")));
    }
    text
}

/// Where events go, in the chosen format. `write`/`finish` return `false` when stdout closed.
struct Sink<W: Write> {
    out: Option<W>,
    archive: Option<ArchiveWriter<W>>,
    format: Format,
    color: bool,
    /// Table rows are flushed per event on a terminal (live `log stream | safehouse events`).
    live: bool,
}

impl<W: Write> Sink<W> {
    fn new(out: W, format: Format, color: bool, live: bool) -> anyhow::Result<Sink<W>> {
        if format == Format::Archive {
            let header = ArchiveHeader::new(Some(Local::now().fixed_offset()), SessionContext::default());
            let archive = ArchiveWriter::new(out, &header).context("writing the archive header")?;
            return Ok(Sink { out: None, archive: Some(archive), format, color, live });
        }
        Ok(Sink { out: Some(out), archive: None, format, color, live })
    }

    fn write(&mut self, event: &Event) -> anyhow::Result<bool> {
        let result = match (self.format, &mut self.out, &mut self.archive) {
            (Format::Archive, _, Some(archive)) => archive.write_event(event),
            (Format::Ndjson, Some(out), _) => {
                serde_json::to_writer(&mut *out, event).map_err(io::Error::from).and_then(|_| out.write_all(b"\n"))
            }
            (_, Some(out), _) => {
                let row = table_row(event, self.color);
                out.write_all(row.as_bytes()).and_then(|_| if self.live { out.flush() } else { Ok(()) })
            }
            _ => Ok(()),
        };
        ok_unless_closed(result)
    }

    fn finish(&mut self) -> anyhow::Result<bool> {
        let result = match (&mut self.out, &mut self.archive) {
            (Some(out), _) => out.flush(),
            _ => Ok(()),
        };
        ok_unless_closed(result)
    }
}

fn ok_unless_closed(result: io::Result<()>) -> anyhow::Result<bool> {
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(anyhow::Error::new(e).context("writing events")),
    }
}

/// `10:08:36.525 deny  cat(15505)  file-read-data  /private/etc/hosts  x3  [tag]`
fn table_row(e: &Event, color: bool) -> String {
    let time = e.time.map_or_else(|| "-".to_string(), |t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string());
    let who = match e.pid {
        Some(pid) => format!("{}({pid})", e.process),
        None => e.process.clone(),
    };
    let action = match (e.action, color) {
        (Action::Deny, true) => "\x1b[31mdeny \x1b[0m".to_string(),
        (Action::Allow, true) => "\x1b[32mallow\x1b[0m".to_string(),
        (a, false) => format!("{:<5}", a.as_str()),
    };
    let mut row = format!("{time:<23} {action} {who:<24} {:<22} {}", e.operation, printable(&e.target.raw));
    if e.count > 1 {
        row.push_str(&format!("  x{}", e.count));
    }
    if e.platform_policy {
        row.push_str("  [system policy]");
    }
    if let Some(tag) = &e.tag {
        row.push_str(&format!("  tag={}", printable(tag)));
    }
    row.push('\n');
    row
}

/// Control characters in log text must not drive the terminal.
fn printable(s: &str) -> String {
    s.chars().flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] }).collect()
}
