//! Unified-log ingestion: every style `log stream` / `log show` prints, streamed into
//! [`crate::Event`]s, and the versioned session archive. See `../shared/docs/unified-log-format.md`.
//!
//! - [`message`]: the Sandbox report grammar (one `eventMessage` → [`message::Report`]).
//! - [`reader`]: the streaming [`Reader`] (style detection, framing, continuation lines, trust,
//!   [`Stats`] by skip reason), which also reads session archives.
//! - [`archive`]: the archive header and [`ArchiveWriter`].
//! - [`open_events`]: the one entry point for callers: gzip or not, archive or raw log.

pub mod archive;
pub mod json;
pub mod line;
pub mod message;
pub mod reader;
pub mod time;

use std::io::{self, BufRead, BufReader};

pub use archive::{ArchiveHeader, ArchiveWriter, SessionContext, ARCHIVE_VERSION};
pub use reader::{Options, Reader, SkipReason, Stats, Style};

/// A hard error while reading events (raw-log oddities are counted in [`Stats`] instead).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: io::Error,
    },
    /// A session archive line that is not a header or an event.
    #[error("{file}:{line}:{col}: {message}")]
    Archive { file: String, line: u64, col: usize, message: String },
}

/// Events from any input: a session archive or raw `log` output of any style, gzip'd or not.
pub type EventStream<'a> = Reader<Box<dyn BufRead + 'a>>;

/// Open `input` (named `name` in events and errors) as a stream of events.
pub fn open_events<'a>(input: impl BufRead + 'a, name: &str) -> Result<EventStream<'a>, ReadError> {
    open_events_with(input, name, Options::default())
}

/// [`open_events`] with explicit [`Options`].
pub fn open_events_with<'a>(mut input: impl BufRead + 'a, name: &str, options: Options) -> Result<EventStream<'a>, ReadError> {
    let gzip = loop {
        match input.fill_buf() {
            Ok(head) => break head.starts_with(&[0x1f, 0x8b]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadError::Io { file: name.to_string(), source: e }),
        }
    };
    let boxed: Box<dyn BufRead + 'a> = if gzip {
        Box::new(BufReader::with_capacity(64 * 1024, flate2::bufread::MultiGzDecoder::new(input)))
    } else {
        Box::new(input)
    };
    Ok(Reader::with_options(boxed, name, options))
}
