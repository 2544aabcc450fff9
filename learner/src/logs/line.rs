//! Bounded line splitting over any [`BufRead`]: the one place input bytes become lines.
//!
//! `BufRead::read_until` grows its buffer to the longest line it meets, so one runaway line (a
//! binary file, a log without newlines) would cost unbounded memory. [`LineReader`] copies at most
//! `max_len` bytes of a line and discards the rest, so memory stays flat on never-ending pipes.

use std::io::{self, BufRead};

/// What [`LineReader::next_line`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// A complete line without its `\n` (and without a trailing `\r`).
    Text(&'a [u8]),
    /// A line longer than the bound; its bytes were discarded.
    TooLong,
}

/// Splits a byte stream into lines of at most `max_len` bytes, counting them from 1.
///
/// A line lying wholly in the input's buffer is handed out in place (no copy); it is consumed
/// on the next call. Only lines straddling a buffer refill are copied.
pub struct LineReader<R> {
    input: R,
    buf: Vec<u8>,
    max_len: usize,
    number: u64,
    unconsumed: usize,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(input: R, max_len: usize) -> LineReader<R> {
        LineReader { input, buf: Vec::new(), max_len, number: 0, unconsumed: 0 }
    }

    /// 1-based number of the line last returned (0 before the first).
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The next line, or `None` at the end of input.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        if self.unconsumed > 0 {
            self.input.consume(self.unconsumed);
            self.unconsumed = 0;
        }
        // Fast path: the whole line is already buffered.
        let chunk = fill(&mut self.input)?;
        if chunk.is_empty() {
            return Ok(None);
        }
        if let Some(i) = memchr::memchr(b'\n', chunk) {
            self.number += 1;
            if i > self.max_len {
                self.input.consume(i + 1);
                return Ok(Some(Line::TooLong));
            }
            self.unconsumed = i + 1;
            // `fill` returned the same buffer; ask again to hand it out (no I/O happens).
            let chunk = self.input.fill_buf()?;
            return Ok(Some(Line::Text(trim_cr(&chunk[..i]))));
        }
        self.buf.clear();
        let mut too_long = false;
        loop {
            let chunk = fill(&mut self.input)?;
            if chunk.is_empty() {
                break;
            }
            let (take, done) = match memchr::memchr(b'\n', chunk) {
                Some(i) => (i, true),
                None => (chunk.len(), false),
            };
            if !too_long {
                if self.buf.len() + take > self.max_len {
                    too_long = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(&chunk[..take]);
                }
            }
            self.input.consume(if done { take + 1 } else { take });
            if done {
                break;
            }
        }
        self.number += 1;
        Ok(Some(if too_long { Line::TooLong } else { Line::Text(trim_cr(&self.buf)) }))
    }
}

fn fill<R: BufRead>(input: &mut R) -> io::Result<&[u8]> {
    loop {
        match input.fill_buf() {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    input.fill_buf()
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &[u8], max: usize) -> Vec<Option<Vec<u8>>> {
        let mut r = LineReader::new(io::BufReader::with_capacity(4, input), max);
        let mut out = Vec::new();
        while let Some(line) = r.next_line().unwrap() {
            out.push(match line {
                Line::Text(t) => Some(t.to_vec()),
                Line::TooLong => None,
            });
        }
        assert_eq!(r.number(), out.len() as u64);
        out
    }

    #[test]
    fn splits_and_bounds_lines() {
        let got = collect(b"ab\r\n0123456789abc\n\nlast", 8);
        assert_eq!(got, vec![Some(b"ab".to_vec()), None, Some(vec![]), Some(b"last".to_vec())]);
        assert_eq!(collect(b"", 8), Vec::<Option<Vec<u8>>>::new());
        assert_eq!(collect(b"x\n", 8), vec![Some(b"x".to_vec())]);
        // Lines within one buffer are handed out in place; a long one among them is still bounded.
        let mut r = LineReader::new(&b"a\n0123456789\nb"[..], 4);
        assert_eq!(r.next_line().unwrap(), Some(Line::Text(b"a")));
        assert_eq!(r.next_line().unwrap(), Some(Line::TooLong));
        assert_eq!(r.next_line().unwrap(), Some(Line::Text(b"b")));
        assert_eq!(r.next_line().unwrap(), None);
    }
}
