//! Source positions and the one error type of the engine, [`SbplError`], which prints as
//! `file:line:col: what was expected` followed by the offending line and a caret.

use std::fmt;

/// Where a form sits in the sources handed to [`crate::sbpl::compile`]: file index and byte
/// range. Lines and columns are computed from it only when needed (errors, rule origins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub file: u32,
    pub start: u32,
    pub end: u32,
}

/// A profile that cannot be read or evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbplError {
    /// The source file's name as given in [`crate::sbpl::SourceFile::name`].
    pub file: String,
    /// 1-based line; 0 when the error concerns the policy as a whole.
    pub line: u32,
    /// 1-based column in characters.
    pub col: u32,
    /// What was wrong, phrased as what was expected.
    pub message: String,
    /// The text of the offending line (empty when `line` is 0).
    pub source_line: String,
}

impl SbplError {
    /// An error at `span` within `text` (the text of file `file`).
    pub(crate) fn at(file: &str, text: &str, span: Span, message: impl Into<String>) -> SbplError {
        let (line, col) = line_col(text, span.start as usize);
        let source_line = text.lines().nth(line as usize - 1).unwrap_or("").to_string();
        SbplError { file: file.to_string(), line, col, message: message.into(), source_line }
    }

    /// An error about the whole policy, not a position in it.
    pub(crate) fn whole(file: &str, message: impl Into<String>) -> SbplError {
        SbplError { file: file.to_string(), line: 0, col: 0, message: message.into(), source_line: String::new() }
    }
}

impl fmt::Display for SbplError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}: {}", self.file, self.message);
        }
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.col, self.message)?;
        // Show the line with control characters made visible so the caret lines up.
        let shown: String = self.source_line.chars().map(|c| if c == '\t' { ' ' } else if c.is_control() { '?' } else { c }).collect();
        let caret_pad = (self.col as usize).saturating_sub(1).min(shown.chars().count());
        write!(f, "\n  {}\n  {}^", shown, " ".repeat(caret_pad))
    }
}

impl std::error::Error for SbplError {}

/// Start offsets of every line of a text, for fast offset -> (line, column).
#[derive(Debug, Clone)]
pub(crate) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        LineIndex { starts }
    }

    /// 1-based line and column (in characters) of byte `offset` of `text`.
    pub(crate) fn line_col(&self, text: &str, offset: usize) -> (u32, u32) {
        let offset = offset.min(text.len());
        let offset = (0..=offset).rev().find(|&o| text.is_char_boundary(o)).unwrap_or(0);
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let col = text.get(start..offset).map_or(offset - start, |s| s.chars().count()) + 1;
        (line as u32, col as u32)
    }
}

/// Line and column (1-based, columns in characters) of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (u32, u32) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line as u32, col as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_position_line_and_caret() {
        let text = "(version 1)\n(allow file-read* (subpath 42))\n";
        let span = Span { file: 0, start: 39, end: 41 };
        let err = SbplError::at("p.sb", text, span, "expected a string");
        assert_eq!(
            err.to_string(),
            "p.sb:2:28: expected a string\n  (allow file-read* (subpath 42))\n                             ^"
        );
    }

    #[test]
    fn line_col_counts_characters() {
        let text = "ab\n\u{e9}x";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 3), (2, 1));
        assert_eq!(line_col(text, 5), (2, 2));
        let index = LineIndex::new(text);
        for offset in [0, 1, 2, 3, 5, 6] {
            assert_eq!(index.line_col(text, offset), line_col(text, offset));
        }
    }
}
