//! Bounded line splitting over any [`BufRead`]: the one place input bytes become lines.
//!
//! `BufRead::read_until` grows its buffer to the longest line it meets, so one runaway line (a
//! binary file, a log without newlines) would cost unbounded memory. [`LineReader`] copies at most
//! `max_len` bytes of a line and discards the rest, so memory stays flat on never-ending pipes.

use std::io::{self, BufRead};

/// What [`LineReader::next_line`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// A complete line, now in the caller's buffer without its `\n` (and without a trailing `\r`).
    Text,
    /// A line longer than the bound; its bytes were discarded (the buffer is empty).
    TooLong,
}

/// Splits a byte stream into lines of at most `max_len` bytes, counting them from 1.
pub struct LineReader<R> {
    input: R,
    max_len: usize,
    number: u64,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(input: R, max_len: usize) -> LineReader<R> {
        LineReader { input, max_len, number: 0 }
    }

    /// 1-based number of the line last returned (0 before the first).
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Read the next line into `buf` (cleared first); `None` at the end of input.
    pub fn next_line(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<Line>> {
        buf.clear();
        let mut too_long = false;
        let mut saw_any = false;
        loop {
            let chunk = match self.input.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                if !saw_any {
                    return Ok(None);
                }
                break;
            }
            saw_any = true;
            let (take, done) = match memchr::memchr(b'\n', chunk) {
                Some(i) => (i, true),
                None => (chunk.len(), false),
            };
            if !too_long {
                if buf.len() + take > self.max_len {
                    too_long = true;
                    buf.clear();
                } else {
                    buf.extend_from_slice(&chunk[..take]);
                }
            }
            let consumed = if done { take + 1 } else { take };
            self.input.consume(consumed);
            if done {
                break;
            }
        }
        self.number += 1;
        if too_long {
            return Ok(Some(Line::TooLong));
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        Ok(Some(Line::Text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &[u8], max: usize) -> Vec<Option<Vec<u8>>> {
        let mut r = LineReader::new(io::BufReader::with_capacity(4, input), max);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(line) = r.next_line(&mut buf).unwrap() {
            out.push(match line {
                Line::Text => Some(buf.clone()),
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
    }
}
