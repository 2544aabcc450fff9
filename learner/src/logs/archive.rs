//! The session archive: normalized events as versioned NDJSON, written live and read back by
//! `learn --replay`, `tighten`, `audit` and `events` (through the same [`super::Reader`] that
//! reads raw `log` output, so callers never care which one they were given).
//!
//! ```text
//! {"safehouse_archive":1,"created":"2026-09-13T10:08:36-07:00","context":{"home":"/Users/a","workdir":"/Users/a/src/p","command":["claude"],"platform":"macos"}}
//! {"time":"2026-09-13T10:08:36.525077-07:00","process":"cat","pid":15505,"action":"deny","operation":"file-read-data","target":{"raw":"/private/etc/hosts","kind":"path","path":"/private/etc/hosts"},"count":1,"file":"log.ndjson","line":7}
//! ```
//!
//! The first line is the header ([`ArchiveHeader`]); every other non-blank line is one
//! [`Event`] in its serde shape. A reader meeting a newer `safehouse_archive` version refuses it;
//! unknown header and context fields are kept (forward compatible).

use std::io::{self, Write};

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

pub use crate::context::SessionContext;
use crate::event::Event;

/// The archive format version this code writes and the newest it reads.
pub const ARCHIVE_VERSION: u32 = 1;

/// The first line of an archive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchiveHeader {
    /// Format version ([`ARCHIVE_VERSION`]).
    pub safehouse_archive: u32,
    /// When the session was captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<FixedOffset>>,
    #[serde(default)]
    pub context: SessionContext,
}

impl ArchiveHeader {
    pub fn new(created: Option<DateTime<FixedOffset>>, context: SessionContext) -> ArchiveHeader {
        ArchiveHeader { safehouse_archive: ARCHIVE_VERSION, created, context }
    }
}

/// Writes an archive one event at a time, flushing after each so a live capture that is killed
/// loses nothing it already reported.
pub struct ArchiveWriter<W: Write> {
    out: W,
}

impl<W: Write> ArchiveWriter<W> {
    /// Write the header line and return the writer.
    pub fn new(mut out: W, header: &ArchiveHeader) -> io::Result<ArchiveWriter<W>> {
        serde_json::to_writer(&mut out, header)?;
        out.write_all(b"\n")?;
        out.flush()?;
        Ok(ArchiveWriter { out })
    }

    /// Append one event (one line) and flush.
    pub fn write_event(&mut self, event: &Event) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, event)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Does this line open an archive? (Checked on every `{` line, so cheap.)
pub(crate) fn is_header_line(trimmed: &[u8]) -> bool {
    trimmed.starts_with(br#"{"safehouse_archive":"#)
}

/// Why an archive line could not be read: the message and the 1-based column.
pub(crate) struct LineError {
    pub col: usize,
    pub message: String,
}

pub(crate) fn parse_header(line: &str) -> Result<ArchiveHeader, LineError> {
    let header: ArchiveHeader = serde_json::from_str(line).map_err(|e| serde_error("an archive header object", &e))?;
    if header.safehouse_archive == 0 || header.safehouse_archive > ARCHIVE_VERSION {
        return Err(LineError {
            col: 1,
            message: format!(
                "expected archive version 1..={ARCHIVE_VERSION}, found {} (written by a newer safehouse?)",
                header.safehouse_archive
            ),
        });
    }
    Ok(header)
}

pub(crate) fn parse_event(line: &str) -> Result<Event, LineError> {
    let event: Event = serde_json::from_str(line).map_err(|e| serde_error("an event object", &e))?;
    if event.count == 0 {
        return Err(LineError { col: 1, message: "expected `count` >= 1".to_string() });
    }
    Ok(event)
}

fn serde_error(what: &str, e: &serde_json::Error) -> LineError {
    LineError { col: e.column().max(1), message: format!("expected {what}: {e}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Action;
    use crate::target::Target;

    #[test]
    fn header_round_trips_with_unknown_fields() {
        let line = r#"{"safehouse_archive":1,"created":"2026-09-13T10:08:36-07:00","context":{"home":"/Users/a","future":{"x":1}}}"#;
        let header = parse_header(line).ok().unwrap();
        assert_eq!(header.context.home.as_deref(), Some("/Users/a"));
        assert_eq!(serde_json::to_string(&header).unwrap(), line);
        let err = parse_header(r#"{"safehouse_archive":2}"#).err().unwrap();
        assert!(err.message.contains("version"), "{}", err.message);
    }

    #[test]
    fn writer_writes_header_then_events() {
        let header = ArchiveHeader::new(None, SessionContext { platform: Some("macos".into()), ..Default::default() });
        let mut w = ArchiveWriter::new(Vec::new(), &header).unwrap();
        let event = Event::new("cat", Some(1), Action::Deny, "file-read-data", Target::path("/etc/hosts"));
        w.write_event(&event).unwrap();
        let text = String::from_utf8(w.into_inner()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], r#"{"safehouse_archive":1,"context":{"platform":"macos"}}"#);
        assert_eq!(parse_event(lines[1]).ok().unwrap(), event);
        let err = parse_event(r#"{"process":"x"}"#).err().unwrap();
        assert!(err.message.starts_with("expected an event object: missing field"), "{}", err.message);
    }
}
