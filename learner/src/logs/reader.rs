//! The streaming reader for raw `log` output in any style: lines in, [`Event`]s out, every line
//! accounted for in [`Stats`].
//!
//! Each line is classified by its own shape, so concatenated files of different styles read
//! correctly and the style is "detected" by the first lines without a separate pass:
//!
//! - `{"...}`: an ndjson record (fast path: only `eventMessage`, `timestamp`, `processImagePath`,
//!   `processID` are looked at; anything unusual falls back to `serde_json`);
//! - `{` alone, then `  "key" : value` lines up to `}`: a `--style json` record;
//! - `YYYY-MM-DD HH:MM:SS...`: a text entry; its columns tell compact, default or syslog style.
//!   Following lines without a timestamp are its continuation: the first one is the
//!   `(with message "...")` tag;
//! - framing (`Filtering the log data using ...`, `Timestamp ...` headers, `** Processed ...`,
//!   `{"count":N,"finished":1}`, `[`/`]`), blank lines and `#` comments;
//! - anything else is a bare report message (`Sandbox: cat(1) deny(1) ...`, published fragments).
//!
//! A report is only trusted from the kernel or sandboxd: a line any other process logged that
//! merely *looks* like a report (an agent can call `logger`) is counted as `untrusted-sender`,
//! never turned into an event, because the learner would otherwise grant what it names.
//!
//! Memory is bounded per line ([`Options::max_line_len`]); a text entry is held back until the
//! next line shows whether a tag follows (one event of latency on a live text-style stream; use
//! ndjson for live capture).

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, BufRead};

use chrono::{DateTime, FixedOffset};
use memchr::memmem;
use serde::Serialize;

use super::archive::{self, ArchiveHeader};
use super::json::{self, JsonString};
use super::line::{Line, LineReader};
use super::message::{self, Anchoring, Report, NEEDLES};
use super::time;
use super::ReadError;
use crate::event::Event;
use crate::target::Target;

/// The output styles of `/usr/bin/log`, plus bare messages and our own archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Style {
    Ndjson,
    Json,
    Compact,
    Default,
    Syslog,
    /// Lines that are report messages without a `log` prefix (or with an unknown one).
    Bare,
    /// A safehouse session archive.
    Archive,
}

impl Style {
    pub fn as_str(self) -> &'static str {
        match self {
            Style::Ndjson => "ndjson",
            Style::Json => "json",
            Style::Compact => "compact",
            Style::Default => "default",
            Style::Syslog => "syslog",
            Style::Bare => "bare",
            Style::Archive => "archive",
        }
    }
}

/// Why a line produced no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    Blank,
    /// `#` lines (never printed by `log`; our corpus and hand-annotated captures use them).
    Comment,
    /// Headers, trailers and array brackets `log` prints around the entries.
    Framing,
    /// A log entry (or line) that holds no Sandbox report.
    NotSandbox,
    /// Extra lines of a multi-line text entry beyond its tag.
    Continuation,
    /// A report-shaped message logged by a process other than the kernel or sandboxd.
    UntrustedSender,
    /// Mentions a Sandbox report but does not follow the known grammar.
    UnknownShape,
    TooLong,
    InvalidUtf8,
    TruncatedJson,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Blank => "blank",
            SkipReason::Comment => "comment",
            SkipReason::Framing => "framing",
            SkipReason::NotSandbox => "not-sandbox",
            SkipReason::Continuation => "continuation",
            SkipReason::UntrustedSender => "untrusted-sender",
            SkipReason::UnknownShape => "unknown-shape",
            SkipReason::TooLong => "too-long",
            SkipReason::InvalidUtf8 => "invalid-utf8",
            SkipReason::TruncatedJson => "truncated-json",
        }
    }
}

/// How many lines were read and what became of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Physical lines read.
    pub lines: u64,
    /// Events produced (one per report line; a folded report counts once).
    pub reports: u64,
    /// The sum of `N` over `N duplicate report(s) for` lines.
    pub duplicates_folded: u64,
    /// Lines that produced no event, by reason.
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Styles met, in order of first appearance.
    pub styles: Vec<Style>,
    /// The first few line numbers skipped as `unknown-shape` (to show the user where to look).
    pub unknown_shape_lines: Vec<u64>,
}

impl Stats {
    /// Lines skipped for any reason.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// Count of lines skipped for `reason`.
    pub fn skipped(&self, reason: SkipReason) -> u64 {
        self.skipped.get(&reason).copied().unwrap_or(0)
    }

    /// Add another input's counts to these.
    pub fn merge(&mut self, other: &Stats) {
        self.lines += other.lines;
        self.reports += other.reports;
        self.duplicates_folded = self.duplicates_folded.saturating_add(other.duplicates_folded);
        for (reason, n) in &other.skipped {
            *self.skipped.entry(*reason).or_default() += n;
        }
        for style in &other.styles {
            if !self.styles.contains(style) {
                self.styles.push(*style);
            }
        }
    }

    pub(crate) fn saw(&mut self, style: Style) {
        if !self.styles.contains(&style) {
            self.styles.push(style);
        }
    }

    fn skip(&mut self, reason: SkipReason, line: u64) {
        *self.skipped.entry(reason).or_default() += 1;
        if reason == SkipReason::UnknownShape && self.unknown_shape_lines.len() < 10 {
            self.unknown_shape_lines.push(line);
        }
    }
}

impl std::fmt::Display for Stats {
    /// `56 lines read, 46 reports extracted (12 duplicates folded), 10 skipped: comment 5, framing 2`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} lines read, {} reports extracted ({} duplicates folded), {} skipped",
            self.lines,
            self.reports,
            self.duplicates_folded,
            self.skipped_total()
        )?;
        for (i, (reason, n)) in self.skipped.iter().enumerate() {
            write!(f, "{}{} {}", if i == 0 { ": " } else { ", " }, reason.as_str(), n)?;
        }
        Ok(())
    }
}

/// Reader settings.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Longer lines are skipped as `too-long` (their bytes are never buffered).
    pub max_line_len: usize,
    /// The zone for timestamps printed without one (compact style prints local time).
    pub default_offset: FixedOffset,
}

impl Default for Options {
    fn default() -> Options {
        Options { max_line_len: 64 * 1024, default_offset: FixedOffset::east_opt(0).expect("zero offset") }
    }
}

/// A text entry held until the next line shows whether a tag continues it.
struct PendingText {
    event: Option<Event>,
    tag_open: bool,
}

/// A `--style json` record being collected, field line by field line.
#[derive(Default)]
struct JsonRecord {
    message: Option<(String, u64)>,
    timestamp: Option<String>,
    image: Option<String>,
    process_id: Option<i64>,
    broken: bool,
}

/// Streams [`Event`]s out of raw `log` output of any style. Iterate it; read [`Reader::stats`] after.
pub struct Reader<R> {
    lines: Option<LineReader<R>>,
    source: String,
    options: Options,
    stats: Stats,
    text: Option<PendingText>,
    json: Option<JsonRecord>,
    dangling_anchor: Option<String>,
    ready: VecDeque<Result<Event, ReadError>>,
    archive: Option<ArchiveHeader>,
    in_archive: bool,
    scratch: Vec<u8>,
    finished: bool,
    keys: Keys,
}

struct Keys {
    message: memmem::Finder<'static>,
    timestamp: memmem::Finder<'static>,
    image: memmem::Finder<'static>,
    process_id: memmem::Finder<'static>,
}

impl Keys {
    fn new() -> Keys {
        Keys {
            message: memmem::Finder::new(br#""eventMessage":""#),
            timestamp: memmem::Finder::new(br#""timestamp":""#),
            image: memmem::Finder::new(br#""processImagePath":""#),
            process_id: memmem::Finder::new(br#""processID":"#),
        }
    }
}

impl<R: BufRead> Reader<R> {
    /// Read `input`, naming it `source` in events (`file`) and errors.
    pub fn new(input: R, source: impl Into<String>) -> Reader<R> {
        Reader::with_options(input, source, Options::default())
    }

    pub fn with_options(input: R, source: impl Into<String>, options: Options) -> Reader<R> {
        Reader::from_lines(LineReader::new(input, options.max_line_len), source.into(), options)
    }

    pub(crate) fn from_lines(lines: LineReader<R>, source: String, options: Options) -> Reader<R> {
        Reader {
            lines: Some(lines),
            source,
            options,
            stats: Stats::default(),
            text: None,
            json: None,
            dangling_anchor: None,
            ready: VecDeque::new(),
            archive: None,
            in_archive: false,
            scratch: Vec::new(),
            finished: false,
            keys: Keys::new(),
        }
    }

    /// Counts so far (complete once the iterator returned `None`).
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The header of the session archive being read, if the input is (or turned into) one.
    pub fn archive_header(&self) -> Option<&ArchiveHeader> {
        self.archive.as_ref()
    }

    fn step(&mut self) -> io::Result<bool> {
        // The line borrows the line reader, so take it out of `self` while the handlers run.
        let mut lines = self.lines.take().expect("line reader present");
        let number = lines.number() + 1;
        let result = match lines.next_line() {
            Err(e) => Err(e),
            Ok(None) => Ok(false),
            Ok(Some(line)) => {
                self.stats.lines += 1;
                match line {
                    Line::TooLong => {
                        self.flush_text();
                        self.stats.skip(SkipReason::TooLong, number);
                    }
                    Line::Text(bytes) => self.handle(bytes, number),
                }
                Ok(true)
            }
        };
        self.lines = Some(lines);
        result
    }

    fn handle(&mut self, line: &[u8], number: u64) {
        let line = if number == 1 { line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line) } else { line };
        if self.json.is_some() && self.handle_json_style(line, number) {
            return;
        }
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            self.flush_text();
            self.stats.skip(SkipReason::Blank, number);
            return;
        }
        if line[0] == b'#' {
            self.flush_text();
            self.stats.skip(SkipReason::Comment, number);
            return;
        }
        if self.in_archive && (trimmed[0] != b'{' || memmem::find(trimmed, b"\"eventMessage\"").is_some()) {
            // An archive followed by raw `log` output (`cat session.archive more.log`).
            self.in_archive = false;
        }
        if self.in_archive || archive::is_header_line(trimmed) {
            self.flush_text();
            self.handle_archive_line(trimmed, number);
            return;
        }
        match trimmed[0] {
            b'{' => {
                self.flush_text();
                if trimmed == b"{" {
                    self.stats.saw(Style::Json);
                    self.json = Some(JsonRecord::default());
                } else {
                    self.handle_ndjson(trimmed, number);
                }
                return;
            }
            b'[' | b']' | b',' if is_array_framing(trimmed) => {
                self.flush_text();
                if trimmed.ends_with(b"{") {
                    self.stats.saw(Style::Json);
                    self.json = Some(JsonRecord::default());
                }
                self.stats.skip(SkipReason::Framing, number);
                return;
            }
            _ => {}
        }
        if time::looks_like_timestamp(line) {
            self.flush_text();
            self.handle_text_entry(line, number);
            return;
        }
        if is_framing_text(trimmed) {
            self.flush_text();
            self.stats.skip(SkipReason::Framing, number);
            return;
        }
        if self.text.is_some() {
            self.handle_continuation(trimmed, number);
            return;
        }
        self.handle_bare(trimmed, number);
    }

    /// A line of a session archive: a header (again, for concatenated archives) or an event.
    fn handle_archive_line(&mut self, trimmed: &[u8], number: u64) {
        self.stats.saw(Style::Archive);
        let text = match std::str::from_utf8(trimmed) {
            Ok(t) => t,
            Err(e) => {
                let message = "expected UTF-8 text".to_string();
                return self.archive_error(number, e.valid_up_to() + 1, message);
            }
        };
        if archive::is_header_line(trimmed) {
            match archive::parse_header(text) {
                Ok(header) => {
                    self.archive = Some(header);
                    self.in_archive = true;
                    self.stats.skip(SkipReason::Framing, number);
                }
                Err(e) => self.archive_error(number, e.col, e.message),
            }
            return;
        }
        match archive::parse_event(text) {
            // Provenance stays as written (the raw log the event was first read from), so an
            // archive reads back exactly what was written.
            Ok(event) => self.emit(event),
            Err(e) => self.archive_error(number, e.col, e.message),
        }
    }

    fn archive_error(&mut self, line: u64, col: usize, message: String) {
        self.ready.push_back(Err(ReadError::Archive { file: self.source.clone(), line, col, message }));
    }

    /// Inside a `--style json` record. Returns `false` if the line is not part of it.
    fn handle_json_style(&mut self, line: &[u8], number: u64) -> bool {
        let trimmed = line.trim_ascii();
        if line.first() == Some(&b'}') {
            let record = self.json.take().unwrap_or_default();
            self.finish_json_record(record, number);
            if trimmed.ends_with(b"{") {
                self.json = Some(JsonRecord::default());
            }
            if trimmed.ends_with(b"]") {
                self.stats.skip(SkipReason::Framing, number);
            }
            return true;
        }
        if line.first() == Some(&b'{') || line.first() == Some(&b'[') || time::looks_like_timestamp(line) {
            // A new record or another style before this record closed: it was cut short.
            let record = self.json.take().unwrap_or_default();
            if record.message.is_some() {
                self.finish_json_record(record, number);
            } else {
                self.stats.skip(SkipReason::TruncatedJson, number);
            }
            return false;
        }
        let record = self.json.as_mut().expect("in a json record");
        if let Some((key, value)) = json::pretty_field(line) {
            let wanted = matches!(key, b"eventMessage" | b"timestamp" | b"processImagePath" | b"processID");
            if !wanted {
                return true;
            }
            if key == b"processID" {
                let digits: &[u8] = value.split(|b| *b == b',').next().unwrap_or_default();
                record.process_id = std::str::from_utf8(digits.trim_ascii()).ok().and_then(|s| s.parse().ok());
                return true;
            }
            let string = value.strip_prefix(b"\"").and_then(|v| match json::scan_string(v) {
                JsonString::Complete { raw_end, .. } => {
                    let mut out = Vec::new();
                    json::unescape(&v[..raw_end], &mut out).then_some(out)
                }
                JsonString::Unterminated => None,
            });
            let Some(bytes) = string else {
                record.broken = true;
                return true;
            };
            let Ok(text) = String::from_utf8(bytes) else {
                record.broken = true;
                return true;
            };
            match key {
                b"eventMessage" => record.message = Some((text, number)),
                b"timestamp" => record.timestamp = Some(text),
                _ => record.image = Some(text),
            }
        }
        true
    }

    fn finish_json_record(&mut self, record: JsonRecord, number: u64) {
        let Some((message, line)) = record.message else {
            let reason = if record.broken { SkipReason::TruncatedJson } else { SkipReason::NotSandbox };
            self.stats.skip(reason, number);
            return;
        };
        let time = record.timestamp.and_then(|t| time::parse_leading(t.as_bytes(), self.options.default_offset)).map(|(t, _)| t);
        let trusted = sender_trusted(record.image.as_deref(), record.process_id);
        self.record_message(&message, time, trusted, line);
    }

    fn handle_ndjson(&mut self, line: &[u8], number: u64) {
        self.stats.saw(Style::Ndjson);
        match json::find_string_field(line, &self.keys.message) {
            Some(Ok(raw)) => {
                if !message::may_contain_report(raw) {
                    self.stats.skip(SkipReason::NotSandbox, number);
                    return;
                }
                let mut scratch = std::mem::take(&mut self.scratch);
                if !json::unescape(raw, &mut scratch) {
                    self.stats.skip(SkipReason::UnknownShape, number);
                } else if let Ok(text) = std::str::from_utf8(&scratch) {
                    let time = match json::find_string_field(line, &self.keys.timestamp) {
                        Some(Ok(t)) => time::parse_leading(t, self.options.default_offset).map(|(t, _)| t),
                        _ => None,
                    };
                    let image = match json::find_string_field(line, &self.keys.image) {
                        Some(Ok(raw)) => {
                            let mut out = Vec::new();
                            json::unescape(raw, &mut out);
                            Some(String::from_utf8_lossy(&out).into_owned())
                        }
                        _ => None,
                    };
                    let process_id = json::find_int_field(line, &self.keys.process_id);
                    let trusted = sender_trusted(image.as_deref(), process_id);
                    self.record_message(text, time, trusted, number);
                } else {
                    self.stats.skip(SkipReason::InvalidUtf8, number);
                }
                self.scratch = scratch;
            }
            Some(Err(())) => self.stats.skip(SkipReason::TruncatedJson, number),
            None if line.starts_with(br#"{"count":"#) => self.stats.skip(SkipReason::Framing, number),
            None if memmem::find(line, b"\"eventMessage\"").is_some() => self.handle_json_fallback(line, number),
            None if line.ends_with(b"}") => self.stats.skip(SkipReason::NotSandbox, number),
            None => self.stats.skip(SkipReason::TruncatedJson, number),
        }
    }

    /// A JSON record not laid out like `log`'s (spaces, other key order): parse it properly.
    fn handle_json_fallback(&mut self, line: &[u8], number: u64) {
        let value: serde_json::Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) if e.is_eof() => return self.stats.skip(SkipReason::TruncatedJson, number),
            Err(e) if e.is_data() && std::str::from_utf8(line).is_err() => {
                return self.stats.skip(SkipReason::InvalidUtf8, number)
            }
            Err(_) => return self.stats.skip(SkipReason::UnknownShape, number),
        };
        let Some(message) = value.get("eventMessage").and_then(|m| m.as_str()) else {
            return self.stats.skip(SkipReason::NotSandbox, number);
        };
        let time = value
            .get("timestamp")
            .and_then(|t| t.as_str())
            .and_then(|t| time::parse_leading(t.as_bytes(), self.options.default_offset))
            .map(|(t, _)| t);
        let image = value.get("processImagePath").and_then(|v| v.as_str());
        let process_id = value.get("processID").and_then(|v| v.as_i64());
        let trusted = sender_trusted(image, process_id);
        self.record_message(message, time, trusted, number);
    }

    /// An entry's message from a structured record (ndjson/json): a report or a skip.
    fn record_message(&mut self, message: &str, time: Option<DateTime<FixedOffset>>, trusted: bool, number: u64) {
        match message::parse(message, Anchoring::Required) {
            Some(_) if !trusted => self.stats.skip(SkipReason::UntrustedSender, number),
            Some(report) => {
                let event = self.event(&report, time, number);
                self.emit(event);
            }
            None => self.stats.skip(unparsed_reason(message.as_bytes()), number),
        }
    }

    fn handle_text_entry(&mut self, line: &[u8], number: u64) {
        let (time, after) = match time::parse_leading(line, self.options.default_offset) {
            Some((t, n)) => (Some(t), n),
            None => (None, line.iter().position(|b| *b == b' ').unwrap_or(line.len())),
        };
        let rest = &line[after..];
        let columns = text_columns(rest);
        self.stats.saw(columns.style);
        // From here on, lines without a timestamp continue this entry.
        self.text = Some(PendingText { event: None, tag_open: false });
        if !message::may_contain_report(rest) {
            self.stats.skip(SkipReason::NotSandbox, number);
            return;
        }
        let Ok(text) = std::str::from_utf8(rest) else {
            self.stats.skip(SkipReason::InvalidUtf8, number);
            return;
        };
        let Some(report) = message::parse_head(text, Anchoring::Required) else {
            // The entry names the Sandbox sender or subsystem: a report we could not read.
            let sandbox_sender = NEEDLES.sandbox_sender.find(rest).is_some() || NEEDLES.sandbox_subsystem.find(rest).is_some();
            let reason = if sandbox_sender { SkipReason::UnknownShape } else { unparsed_reason(rest) };
            self.stats.skip(reason, number);
            return;
        };
        if !columns.sender_trusted {
            self.stats.skip(SkipReason::UntrustedSender, number);
            return;
        }
        let event = self.event(&report, time, number);
        self.text = Some(PendingText { event: Some(event), tag_open: !report.violation_report });
    }

    fn handle_continuation(&mut self, trimmed: &[u8], number: u64) {
        // A line that is itself a report (an elided `[...] Sandbox: ...` copy) stands alone.
        if message::may_contain_report(trimmed) {
            if let Ok(text) = std::str::from_utf8(trimmed) {
                if message::parse_head(text, Anchoring::Required).is_some() {
                    self.flush_text();
                    self.handle_bare(trimmed, number);
                    return;
                }
            }
        }
        // An elision a publisher left (`...`, `[...]`, `…`) is not a tag.
        if is_elision(trimmed) {
            self.stats.skip(SkipReason::NotSandbox, number);
            return;
        }
        let pending = self.text.as_mut().expect("in a text entry");
        match (&mut pending.event, pending.tag_open) {
            (Some(event), true) => match std::str::from_utf8(trimmed) {
                Ok(tag) => {
                    event.tag = Some(tag.to_string());
                    pending.tag_open = false;
                }
                Err(_) => self.stats.skip(SkipReason::InvalidUtf8, number),
            },
            _ => self.stats.skip(SkipReason::Continuation, number),
        }
    }

    fn handle_bare(&mut self, trimmed: &[u8], number: u64) {
        let Ok(text) = std::str::from_utf8(trimmed) else {
            self.dangling_anchor = None;
            self.stats.skip(SkipReason::InvalidUtf8, number);
            return;
        };
        self.stats.saw(Style::Bare);
        // A report wrapped after its anchor (`... System Policy:` / next line `comm(pid) deny ...`).
        let joined;
        let mut text = text;
        if let Some(anchor) = self.dangling_anchor.take() {
            joined = format!("{anchor} {text}");
            text = &joined;
        }
        // Publishers write the tag separator as a literal `\n`.
        let unescaped;
        if text.contains("\\n") {
            unescaped = text.replacen("\\n", "\n", 1);
            text = &unescaped;
        }
        match message::parse(text, Anchoring::Optional) {
            Some(report) => {
                let event = self.event(&report, None, number);
                self.emit(event);
            }
            None => {
                let t = text.trim_end_matches(['`', ' ']);
                if t.ends_with("System Policy:") || t.ends_with("Sandbox:") {
                    self.dangling_anchor = Some(t.to_string());
                    self.stats.skip(SkipReason::Continuation, number);
                } else {
                    self.stats.skip(unparsed_reason(text.as_bytes()), number);
                }
            }
        }
    }

    fn event(&self, report: &Report<'_>, time: Option<DateTime<FixedOffset>>, number: u64) -> Event {
        Event {
            time,
            process: report.process.to_string(),
            pid: report.pid,
            action: report.action,
            operation: report.operation.to_string(),
            target: Target::parse(report.operation, report.argument),
            count: report.duplicates.saturating_add(1),
            tag: report.tag.map(str::to_string),
            platform_policy: report.platform_policy,
            file: Some(self.source.clone()),
            line: Some(number),
        }
    }

    fn emit(&mut self, event: Event) {
        self.stats.reports += 1;
        self.stats.duplicates_folded = self.stats.duplicates_folded.saturating_add(event.count - 1);
        self.ready.push_back(Ok(event));
    }

    fn flush_text(&mut self) {
        if let Some(PendingText { event: Some(event), .. }) = self.text.take() {
            self.emit(event);
        }
    }

    fn finish(&mut self) {
        self.flush_text();
        if let Some(record) = self.json.take() {
            let number = self.lines.as_ref().map_or(0, |l| l.number());
            if record.message.is_some() {
                self.finish_json_record(record, number);
            } else {
                self.stats.skip(SkipReason::TruncatedJson, number);
            }
        }
        if self.dangling_anchor.take().is_some() {
            let number = self.lines.as_ref().map_or(0, |l| l.number());
            self.stats.skip(SkipReason::UnknownShape, number);
        }
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<Event, ReadError>;

    /// Events in input order. An `Err` is an I/O error (the stream ends) or a malformed archive
    /// line (reading may go on; callers usually stop). Raw-log problems are never errors: they
    /// are counted in [`Reader::stats`].
    fn next(&mut self) -> Option<Result<Event, ReadError>> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Some(item);
            }
            if self.finished {
                return None;
            }
            match self.step() {
                Ok(true) => {}
                Ok(false) => {
                    self.finished = true;
                    self.finish();
                }
                Err(e) => {
                    self.finished = true;
                    return Some(Err(ReadError::Io { file: self.source.clone(), source: e }));
                }
            }
        }
    }
}

/// What the columns before a text entry's message say.
struct TextColumns {
    style: Style,
    /// The logging process is the kernel or sandboxd (or the columns name no process).
    sender_trusted: bool,
}

/// Read the columns after the timestamp: `0x.. Type 0x.. pid ttl process: ...` (default),
/// `Ty process[pid:tid] ...` (compact) or ` host process[pid]: ...` (syslog).
fn text_columns(rest: &[u8]) -> TextColumns {
    let r = rest.trim_ascii_start();
    let (style, process) = if r.starts_with(b"0x") {
        // thread, type, activity, pid[, ttl], then `process: ` (older `log` had no TTL column):
        // the process is the first column ending in `:`.
        let process = r.split(u8::is_ascii_whitespace).find(|t| t.ends_with(b":")).map(|t| &t[..t.len() - 1]);
        (Style::Default, process)
    } else {
        let first_end = r.iter().position(u8::is_ascii_whitespace).unwrap_or(r.len());
        let r2 = r[first_end..].trim_ascii_start();
        match (memchr::memchr(b'[', r2), memchr::memchr(b']', r2)) {
            (Some(open), Some(close)) if open < close => {
                let style = if r2.get(close + 1) == Some(&b':') { Style::Syslog } else { Style::Compact };
                (style, Some(&r2[..open]))
            }
            _ => (Style::Bare, None),
        }
    };
    let sender_trusted = match process {
        None => true,
        Some(p) => p == b"kernel" || p == b"sandboxd",
    };
    TextColumns { style, sender_trusted }
}

/// The kernel (`/kernel`, pid 0) or sandboxd logged it. Missing fields are given the benefit of the doubt.
fn sender_trusted(image: Option<&str>, process_id: Option<i64>) -> bool {
    match image {
        Some(path) => path == "/kernel" || path == "kernel" || path.ends_with("/sandboxd"),
        None => process_id.map_or(true, |pid| pid == 0),
    }
}

/// A message that failed the grammar: did it try to be a report?
fn unparsed_reason(text: &[u8]) -> SkipReason {
    let n = &*NEEDLES;
    if n.sandbox_colon.find(text).is_some() || n.system_policy_colon.find(text).is_some() || n.violation_colon.find(text).is_some()
    {
        SkipReason::UnknownShape
    } else {
        SkipReason::NotSandbox
    }
}

fn is_elision(t: &[u8]) -> bool {
    t == b"..." || t == b"[...]" || t == "\u{2026}".as_bytes() || t == b"[snip]"
}

fn is_array_framing(t: &[u8]) -> bool {
    let inner: Vec<u8> = t.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    matches!(&inner[..], b"[" | b"]" | b"[{" | b"," | b"]," | b"[]")
}

fn is_framing_text(t: &[u8]) -> bool {
    t.starts_with(b"Filtering the log data")
        || t.starts_with(b"Skipping debug messages")
        || t.starts_with(b"Skipping info and debug messages")
        || (t.starts_with(b"Timestamp") && (memmem::find(t, b"Thread").is_some() || memmem::find(t, b"Ty").is_some() || memmem::find(t, b"(process)").is_some()))
        || t.starts_with(b"** Processed")
        || t.starts_with(b"---")
        || t == b"--" // `grep -A/-B` group separator
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Action;

    fn read_with(input: &str, options: Options) -> (Vec<Event>, Stats) {
        let mut reader = Reader::with_options(input.as_bytes(), "t", options);
        let events = reader.by_ref().map(|e| e.unwrap()).collect();
        (events, reader.stats().clone())
    }

    fn read(input: &str) -> (Vec<Event>, Stats) {
        read_with(input, Options::default())
    }

    fn skipped(stats: &Stats) -> Vec<(&'static str, u64)> {
        stats.skipped.iter().map(|(r, n)| (r.as_str(), *n)).collect()
    }

    #[test]
    fn only_the_kernel_and_sandboxd_are_trusted() {
        let forged = concat!(
            r#"{"processImagePath":"\/usr\/bin\/logger","processID":812,"eventMessage":"Sandbox: cat(1) deny(1) file-read-data \/Users\/a\/.ssh\/id_rsa"}"#,
            "\n",
            "2026-10-08 17:43:10.173 Df logger[812:1] Sandbox: cat(1) allow file-read-data /Users/a/.ssh/id_rsa\n",
            "2026-05-15 11:08:24.741500+0530 0x1 Default 0x0 812 0 logger: Sandbox: cat(1) deny(1) file-read-data /x\n",
            "2023-05-26 13:42:44.136082+0200  localhost logger[812]: Sandbox: cat(1) deny(1) file-read-data /x\n",
            r#"{"processImagePath":"\/usr\/libexec\/sandboxd","processID":90,"eventMessage":"Sandbox: Paw(1) deny(1) hid-control"}"#,
            "\n",
        );
        let (events, stats) = read(forged);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].operation, "hid-control");
        assert_eq!(skipped(&stats), [("untrusted-sender", 4)]);
        assert_eq!(stats.styles, [Style::Ndjson, Style::Compact, Style::Default, Style::Syslog]);
    }

    #[test]
    fn json_style_records_with_tags_and_other_spacing() {
        let input = "[{\n  \"timestamp\" : \"2026-05-07 19:48:34.701580-0500\",\n  \"backtrace\" : {\n    \"frames\" : [\n    ]\n  },\n  \"eventMessage\" : \"Sandbox: cat(15528) deny(1) file-read-data \\/etc\\/hosts\\nTAG_1\",\n  \"processImagePath\" : \"\\/kernel\"\n},{\n  \"eventMessage\": \"Sandbox: ls(2) allow file-read-metadata \\/\",\n  \"processID\": 0\n}]\n";
        let (events, stats) = read(input);
        assert_eq!(events.len(), 2, "{stats:?}");
        assert_eq!(events[0].tag.as_deref(), Some("TAG_1"));
        assert_eq!(events[0].line, Some(7));
        assert_eq!(events[0].time.unwrap().to_rfc3339(), "2026-05-07T19:48:34.701580-05:00");
        assert_eq!((events[1].action, events[1].target.raw.as_str()), (Action::Allow, "/"));
        assert_eq!(skipped(&stats), [("framing", 2)], "`[{{` and `}}]`");
    }

    #[test]
    fn broken_input_is_counted_by_reason() {
        let long = format!("Sandbox: cat(1) deny(1) file-read-data /{}\n", "a".repeat(100));
        let input = format!(
            "{long}{}\n{}\n{}\n",
            r#"{"timezoneName":"","messageType":"Err"#,
            r#"{"eventMessage":"Sandbox: cat(1) deny(1) file-read-data \/x"#,
            "Sandbox: cat(1) deny(1) \u{1}file-read-data /x",
        );
        let mut bytes = input.into_bytes();
        bytes.extend_from_slice(b"Sandbox: c\xff(1) deny(1) file-read-data /x\n");
        let options = Options { max_line_len: 64, ..Options::default() };
        let mut reader = Reader::with_options(&bytes[..], "t", options);
        assert_eq!(reader.by_ref().count(), 0);
        let stats = reader.stats();
        assert_eq!(stats.lines, 5);
        assert_eq!(
            skipped(stats),
            [("unknown-shape", 1), ("too-long", 1), ("invalid-utf8", 1), ("truncated-json", 2)]
        );
        assert_eq!(stats.unknown_shape_lines, [4]);
    }

    #[test]
    fn continuation_lines_tag_text_entries_once() {
        let input = "\u{feff}2026-05-15 11:08:24.741500+0530 0x85533    Error       0x0                  0      0    kernel: (Sandbox) Sandbox: git(1) deny(1) file-read-data /x\nsh-learn-1\nmore text\n2026-05-15 11:08:25.000000+0530 0x1 Error 0x0 0 0 kernel: (Sandbox) SandboxViolation: Demo(5) deny nvram-get BSD Name\nViolation:       deny nvram-get BSD Name\nProcess:         Demo [5]\n";
        let (events, stats) = read(input);
        assert_eq!(events.len(), 2);
        assert_eq!((events[0].tag.as_deref(), events[0].line), (Some("sh-learn-1"), Some(1)));
        assert_eq!((events[1].process.as_str(), events[1].tag.as_deref()), ("Demo", None));
        assert_eq!(events[1].target.raw, "BSD Name");
        assert_eq!(skipped(&stats), [("continuation", 3)]);
    }

    #[test]
    fn default_style_with_and_without_the_ttl_column() {
        let input = "\
2026-05-15 11:08:24.741500+0530 0x85533    Error       0x0                  0      0    kernel: (Sandbox) Sandbox: git(1) deny(1) file-read-data /a
--
2017-03-29 10:00:00.000000+0800 0x1a2      Error       0x0                  0    kernel: (Sandbox) Sandbox: git(2) deny(1) file-read-data /b
2017-03-29 10:00:00.000000+0800 0x1a2      Default     0x0                  77   Some App: Sandbox: git(3) deny(1) file-read-data /c
";
        let (events, stats) = read(input);
        let pids: Vec<Option<u32>> = events.iter().map(|e| e.pid).collect();
        assert_eq!(pids, [Some(1), Some(2)]);
        assert_eq!(events[0].tag, None, "a grep separator is not a tag");
        assert_eq!(skipped(&stats), [("framing", 1), ("untrusted-sender", 1)]);
    }

    #[test]
    fn compact_time_takes_the_default_offset() {
        let options = Options { default_offset: FixedOffset::east_opt(2 * 3600).unwrap(), ..Options::default() };
        let line = "2026-10-08 17:43:10.173 Df kernel[0:ad30] (Sandbox) Sandbox: sing-box(15588) allow file-read-data /dev/dtracehelper\n";
        let (events, _) = read_with(line, options);
        assert_eq!(events[0].time.unwrap().to_rfc3339(), "2026-10-08T17:43:10.173+02:00");
    }

    #[test]
    fn archives_concatenate_and_refuse_newer_versions() {
        let e = r#"{"process":"cat","pid":1,"action":"deny","operation":"file-read-data","target":{"raw":"/x","kind":"path","path":"/x"},"count":2}"#;
        let input = format!("{{\"safehouse_archive\":1}}\n{e}\n\n{{\"safehouse_archive\":1,\"context\":{{\"home\":\"/h\"}}}}\n{e}\n");
        let (events, stats) = read(&input);
        assert_eq!(events.len(), 2);
        assert_eq!(stats.duplicates_folded, 2);
        assert_eq!(stats.styles, [Style::Archive]);
        // An archive followed by raw log lines: both read.
        let raw = "Sandbox: cat(1) deny(1) file-read-data /y\n";
        let (events, _) = read(&format!("{{\"safehouse_archive\":1}}\n# note\n{e}\n{raw}"));
        assert_eq!(events.iter().map(|e| e.target.raw.as_str()).collect::<Vec<_>>(), ["/x", "/y"]);
        let mut reader = Reader::new(&b"{\"safehouse_archive\":9}\n"[..], "s.archive");
        let err = reader.next().unwrap().unwrap_err().to_string();
        assert_eq!(err, "s.archive:1:1: expected archive version 1..=1, found 9 (written by a newer safehouse?)");
    }
}
