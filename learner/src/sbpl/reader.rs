//! The reader: SBPL text to S-expressions that remember where they came from.
//!
//! Lexical syntax as TinyScheme inside libsandbox reads it (reference §2): `;` comments, a `#!`
//! line, `#| |#` block comments (tolerated, nestable), strings with `\n \t \r \" \\ \xHH \ooo`
//! escapes (any other escaped character stands for itself), `#"..."` raw strings, decimal and
//! `#x #o #b #d` numbers, `#t`/`#f`, `#\c` characters, symbols, `'` `` ` `` `,` `,@`, dotted lists.
//! The reader never panics: every malformed input is an error with a position.

use std::rc::Rc;

use super::error::{line_col, Span};

/// Nesting deeper than this is rejected (no real profile comes close; it bounds recursion).
pub const MAX_DEPTH: usize = 200;

/// One datum with its source span.
#[derive(Debug, Clone, PartialEq)]
pub struct Sexp {
    pub kind: SexpKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SexpKind {
    List(Vec<Sexp>),
    /// `(a b . c)`: the elements before the dot and the tail.
    Dotted(Vec<Sexp>, Box<Sexp>),
    Symbol(Rc<str>),
    Str(Rc<str>),
    Int(i64),
    Bool(bool),
    Char(char),
}

impl Sexp {
    pub fn as_symbol(&self) -> Option<&str> {
        match &self.kind {
            SexpKind::Symbol(s) => Some(s),
            _ => None,
        }
    }
}

/// A read error: where and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    pub span: Span,
    /// 1-based line and column (characters) of `span.start`.
    pub line: u32,
    pub col: u32,
    pub message: String,
}

/// Read every datum of `text` (file number `file`).
pub fn read_all(file: u32, text: &str) -> Result<Vec<Sexp>, ReadError> {
    let mut reader = Reader { text, bytes: text.as_bytes(), pos: 0, file };
    let mut out = Vec::new();
    loop {
        reader.skip_atmosphere()?;
        if reader.pos >= reader.bytes.len() {
            return Ok(out);
        }
        if reader.bytes[reader.pos] == b')' {
            return Err(reader.error_at(reader.pos, reader.pos + 1, "unexpected `)` with no list open"));
        }
        out.push(reader.datum(0)?);
    }
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    file: u32,
}

fn is_delimiter(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b'(' | b')' | b'"' | b';')
}

impl<'a> Reader<'a> {
    fn span(&self, start: usize, end: usize) -> Span {
        Span { file: self.file, start: start as u32, end: end as u32 }
    }

    fn error_at(&self, start: usize, end: usize, message: impl Into<String>) -> ReadError {
        let (line, col) = line_col(self.text, start);
        ReadError { span: self.span(start, end), line, col, message: message.into() }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Skip whitespace and comments of every kind.
    fn skip_atmosphere(&mut self) -> Result<(), ReadError> {
        while let Some(b) = self.peek() {
            if b.is_ascii_whitespace() {
                self.pos += 1;
            } else if b == b';' || (b == b'#' && self.bytes.get(self.pos + 1) == Some(&b'!')) {
                while let Some(b) = self.peek() {
                    if b == b'\n' {
                        break;
                    }
                    self.pos += 1;
                }
            } else if b == b'#' && self.bytes.get(self.pos + 1) == Some(&b'|') {
                let start = self.pos;
                self.pos += 2;
                let mut depth = 1;
                while depth > 0 {
                    match (self.peek(), self.bytes.get(self.pos + 1)) {
                        (None, _) => return Err(self.error_at(start, start + 2, "expected `|#` to close this block comment")),
                        (Some(b'|'), Some(b'#')) => {
                            depth -= 1;
                            self.pos += 2;
                        }
                        (Some(b'#'), Some(b'|')) => {
                            depth += 1;
                            self.pos += 2;
                        }
                        _ => self.pos += 1,
                    }
                }
            } else {
                break;
            }
        }
        Ok(())
    }

    fn datum(&mut self, depth: usize) -> Result<Sexp, ReadError> {
        let start = self.pos;
        if depth > MAX_DEPTH {
            return Err(self.error_at(start, start + 1, format!("expected at most {MAX_DEPTH} levels of nested lists")));
        }
        let Some(b) = self.peek() else {
            return Err(self.error_at(start, start, "expected a datum, found end of file"));
        };
        match b {
            b'(' => self.list(depth),
            b')' => Err(self.error_at(start, start + 1, "unexpected `)`")),
            b'"' => {
                self.pos += 1;
                let s = self.string_body(start)?;
                Ok(Sexp { kind: SexpKind::Str(s.into()), span: self.span(start, self.pos) })
            }
            b'\'' | b'`' | b',' => {
                self.pos += 1;
                let name = match b {
                    b'\'' => "quote",
                    b'`' => "quasiquote",
                    _ if self.peek() == Some(b'@') => {
                        self.pos += 1;
                        "unquote-splicing"
                    }
                    _ => "unquote",
                };
                self.skip_atmosphere()?;
                if matches!(self.peek(), None | Some(b')')) {
                    return Err(self.error_at(start, self.pos, format!("expected a datum after `{}`", &self.text[start..start + 1])));
                }
                let inner = self.datum(depth + 1)?;
                let span = self.span(start, self.pos);
                let head = Sexp { kind: SexpKind::Symbol(name.into()), span: self.span(start, start + 1) };
                Ok(Sexp { kind: SexpKind::List(vec![head, inner]), span })
            }
            b'#' => self.sharp(start),
            _ => self.atom(start),
        }
    }

    fn list(&mut self, depth: usize) -> Result<Sexp, ReadError> {
        let start = self.pos;
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_atmosphere()?;
            match self.peek() {
                None => return Err(self.error_at(start, start + 1, "expected `)` to close this list before end of file")),
                Some(b')') => {
                    self.pos += 1;
                    return Ok(Sexp { kind: SexpKind::List(items), span: self.span(start, self.pos) });
                }
                Some(b'.') if self.bytes.get(self.pos + 1).map_or(true, |&b| is_delimiter(b)) => {
                    let dot = self.pos;
                    if items.is_empty() {
                        return Err(self.error_at(dot, dot + 1, "expected a datum before `.` in a dotted list"));
                    }
                    self.pos += 1;
                    self.skip_atmosphere()?;
                    if matches!(self.peek(), None | Some(b')')) {
                        return Err(self.error_at(dot, dot + 1, "expected a datum after `.` in a dotted list"));
                    }
                    let tail = self.datum(depth + 1)?;
                    self.skip_atmosphere()?;
                    if self.peek() != Some(b')') {
                        return Err(self.error_at(self.pos, self.pos + 1, "expected `)` after the tail of a dotted list"));
                    }
                    self.pos += 1;
                    return Ok(Sexp { kind: SexpKind::Dotted(items, Box::new(tail)), span: self.span(start, self.pos) });
                }
                Some(_) => items.push(self.datum(depth + 1)?),
            }
        }
    }

    /// After the opening quote: read up to the closing quote, decoding escapes.
    fn string_body(&mut self, start: usize) -> Result<String, ReadError> {
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Err(self.error_at(start, start + 1, "expected `\"` to close this string before end of file"));
            };
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let esc_at = self.pos - 1;
                    let Some(e) = self.peek() else {
                        return Err(self.error_at(start, start + 1, "expected `\"` to close this string before end of file"));
                    };
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'x' | b'X' => {
                            let hex = self.bytes.get(self.pos..self.pos + 2);
                            let value = hex
                                .and_then(|h| std::str::from_utf8(h).ok())
                                .and_then(|h| u8::from_str_radix(h, 16).ok());
                            match value {
                                Some(v) => {
                                    out.push(v);
                                    self.pos += 2;
                                }
                                None => return Err(self.error_at(esc_at, self.pos, "expected two hex digits after `\\x`")),
                            }
                        }
                        b'0'..=b'7' => {
                            let mut v: u32 = (e - b'0') as u32;
                            for _ in 0..2 {
                                match self.peek() {
                                    Some(d @ b'0'..=b'7') => {
                                        v = v * 8 + (d - b'0') as u32;
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push((v & 0xff) as u8);
                        }
                        // Any other escaped character stands for itself (`"\."` is `"."`).
                        other => {
                            // Keep a whole UTF-8 sequence when the escaped character is not ASCII.
                            let len = utf8_len(other);
                            out.push(other);
                            let rest = self.bytes.get(self.pos..(self.pos + len - 1).min(self.bytes.len())).unwrap_or(&[]);
                            out.extend_from_slice(rest);
                            self.pos += rest.len();
                        }
                    }
                }
                other => out.push(other),
            }
        }
        Ok(match String::from_utf8(out) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    fn sharp(&mut self, start: usize) -> Result<Sexp, ReadError> {
        let next = self.bytes.get(start + 1).copied();
        match next {
            Some(b'"') => {
                // Raw string: verbatim up to the next quote, no escapes.
                self.pos = start + 2;
                let body_start = self.pos;
                match memchr::memchr(b'"', &self.bytes[body_start..]) {
                    Some(i) => {
                        let s = &self.text[body_start..body_start + i];
                        self.pos = body_start + i + 1;
                        Ok(Sexp { kind: SexpKind::Str(s.into()), span: self.span(start, self.pos) })
                    }
                    None => Err(self.error_at(start, start + 2, "expected `\"` to close this raw string before end of file")),
                }
            }
            Some(b'\\') => {
                // Character: `#\a`, `#\space`, `#\newline`, `#\(`.
                self.pos = start + 2;
                let first_len = self.bytes.get(self.pos).map_or(0, |&b| utf8_len(b));
                if first_len == 0 {
                    return Err(self.error_at(start, self.pos, "expected a character after `#\\`"));
                }
                let mut end = (self.pos + first_len).min(self.bytes.len());
                while end < self.bytes.len() && !is_delimiter(self.bytes[end]) {
                    end += 1;
                }
                let name = self.text.get(self.pos..end).unwrap_or("");
                let c = match name {
                    "space" => ' ',
                    "newline" | "linefeed" => '\n',
                    "tab" => '\t',
                    "return" => '\r',
                    "nul" | "null" => '\0',
                    _ if name.chars().count() == 1 => name.chars().next().unwrap_or(' '),
                    _ => return Err(self.error_at(start, end, format!("expected a character name, found `#\\{name}`"))),
                };
                self.pos = end;
                Ok(Sexp { kind: SexpKind::Char(c), span: self.span(start, end) })
            }
            _ => {
                let mut end = start + 1;
                while end < self.bytes.len() && !is_delimiter(self.bytes[end]) {
                    end += 1;
                }
                let token = self.text.get(start..end).unwrap_or("#");
                self.pos = end;
                let span = self.span(start, end);
                const CPP: &[&str] = &["#include", "#if", "#ifdef", "#ifndef", "#else", "#elif", "#endif", "#define", "#undef", "#import", "#pragma", "#error"];
                if CPP.contains(&token) {
                    return Err(self.error_at(
                        start,
                        end,
                        format!("C preprocessor directive `{token}`: this file must be run through the C preprocessor (cpp) before it is an SBPL profile"),
                    ));
                }
                let kind = match token {
                    "#t" | "#true" => SexpKind::Bool(true),
                    "#f" | "#false" => SexpKind::Bool(false),
                    _ => {
                        let radix = match token.as_bytes().get(1) {
                            Some(b'x' | b'X') => 16,
                            Some(b'o' | b'O') => 8,
                            Some(b'b' | b'B') => 2,
                            Some(b'd' | b'D') => 10,
                            _ => return Err(self.error_at(start, end, format!("expected `#t`, `#f`, `#\"...\"`, `#\\c` or a `#x`/`#o`/`#b`/`#d` number, found `{token}`"))),
                        };
                        match parse_int(&token[2..], radix) {
                            Some(n) => SexpKind::Int(n),
                            None => return Err(self.error_at(start, end, format!("expected a number in base {radix}, found `{token}`"))),
                        }
                    }
                };
                Ok(Sexp { kind, span })
            }
        }
    }

    fn atom(&mut self, start: usize) -> Result<Sexp, ReadError> {
        let mut end = start;
        while end < self.bytes.len() && !is_delimiter(self.bytes[end]) {
            end += 1;
        }
        // `end > start` because the first byte is not a delimiter (handled by the caller).
        let end = end.max(start + 1).min(self.bytes.len());
        let token = self.text.get(start..end).unwrap_or("");
        self.pos = end;
        let span = self.span(start, end);
        let looks_numeric = token.bytes().next().is_some_and(|b| b.is_ascii_digit())
            || (token.len() > 1 && matches!(token.as_bytes()[0], b'-' | b'+') && token.as_bytes()[1].is_ascii_digit());
        if looks_numeric {
            return match parse_int(token, 10) {
                Some(n) => Ok(Sexp { kind: SexpKind::Int(n), span }),
                None => Err(self.error_at(start, end, format!("expected an integer, found `{token}`"))),
            };
        }
        Ok(Sexp { kind: SexpKind::Symbol(token.into()), span })
    }
}

fn parse_int(text: &str, radix: u32) -> Option<i64> {
    let (neg, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    let v = i64::from_str_radix(digits, radix).ok()?;
    Some(if neg { -v } else { v })
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Vec<Sexp> {
        read_all(0, text).unwrap()
    }

    fn string_of(text: &str) -> String {
        match &read(text)[0].kind {
            SexpKind::Str(s) => s.to_string(),
            other => panic!("not a string: {other:?}"),
        }
    }

    #[test]
    fn comments_shebang_and_block_comments() {
        let text = "#!/usr/bin/sandbox-exec\n; c\n#| a #| nested |# b |#\n(version 1) ;; tail\n";
        let forms = read(text);
        assert_eq!(forms.len(), 1);
        assert_eq!(line_col(text, forms[0].span.start as usize), (4, 1));
    }

    #[test]
    fn string_escapes() {
        assert_eq!(string_of(r#""a\"b\\c\n\t\r""#), "a\"b\\c\n\t\r");
        assert_eq!(string_of(r#""\x41\101\.""#), "AA.");
        assert_eq!(string_of(r#""caf\xc3\xa9""#), "caf\u{e9}");
        assert_eq!(string_of("\"caf\u{e9}\""), "caf\u{e9}");
        assert_eq!(string_of(r##"#"^/a\.b$""##), r"^/a\.b$");
    }

    #[test]
    fn numbers_booleans_chars_quotes() {
        let forms = read("#o0004 #x1F -3 #t #f #\\/ #\\space 'a `(b ,c ,@d)");
        let kinds: Vec<&SexpKind> = forms.iter().map(|f| &f.kind).collect();
        assert_eq!(kinds[0], &SexpKind::Int(4));
        assert_eq!(kinds[1], &SexpKind::Int(31));
        assert_eq!(kinds[2], &SexpKind::Int(-3));
        assert_eq!(kinds[3], &SexpKind::Bool(true));
        assert_eq!(kinds[4], &SexpKind::Bool(false));
        assert_eq!(kinds[5], &SexpKind::Char('/'));
        assert_eq!(kinds[6], &SexpKind::Char(' '));
        match kinds[7] {
            SexpKind::List(items) => assert_eq!(items[0].as_symbol(), Some("quote")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn dotted_lists_and_symbols() {
        let forms = read("(define (f . rest) rest) file-read* string=? %finalize -");
        assert!(matches!(&forms[0].kind, SexpKind::List(items) if matches!(items[1].kind, SexpKind::Dotted(..))));
        assert_eq!(forms[1].as_symbol(), Some("file-read*"));
        assert_eq!(forms[3].as_symbol(), Some("%finalize"));
        assert_eq!(forms[4].as_symbol(), Some("-"));
    }

    #[test]
    fn errors_have_positions() {
        let e = read_all(0, "(allow\n  (subpath \"/a\")").unwrap_err();
        assert_eq!((e.line, e.col), (1, 1));
        assert!(e.message.contains("expected `)`"));
        let e = read_all(0, "(a))").unwrap_err();
        assert_eq!((e.line, e.col), (1, 4));
        let e = read_all(0, "\n  \"abc").unwrap_err();
        assert_eq!((e.line, e.col), (2, 3));
        let e = read_all(0, "\"\\xZZ\"").unwrap_err();
        assert!(e.message.contains("hex"));
        let e = read_all(0, "#q").unwrap_err();
        assert!(e.message.contains("expected `#t`"));
        let deep = "(".repeat(10_000);
        assert!(read_all(0, &deep).is_err());
    }
}
