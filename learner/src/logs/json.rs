//! Pulling a few fields out of `log`'s JSON records without building a JSON tree.
//!
//! `log --style ndjson` writes one flat-keyed object per line with no spaces (`"key":value`);
//! `--style json` pretty-prints the same keys one per line (`  "key" : value,`). Only four fields
//! matter: `eventMessage`, `timestamp`, `processImagePath` and `processID`. A key is found with
//! memmem; a literal `"key":"` cannot occur inside a JSON string, where every `"` is escaped.
//! Only the strings we use are unescaped. Records that do not follow Apple's layout fall back to
//! `serde_json` (see `reader.rs`).

use memchr::memmem;

/// A JSON string literal's content starting right after its opening quote.
#[derive(Debug, PartialEq, Eq)]
pub enum JsonString {
    /// The raw (still escaped) bytes and the offset just past the closing quote.
    Complete { raw_end: usize, end: usize },
    /// The line ended inside the string.
    Unterminated,
}

/// Find the end of the string whose content starts at `text[0]`.
pub fn scan_string(text: &[u8]) -> JsonString {
    let mut i = 0;
    while let Some(k) = memchr::memchr2(b'"', b'\\', &text[i..]) {
        let at = i + k;
        if text[at] == b'"' {
            return JsonString::Complete { raw_end: at, end: at + 1 };
        }
        i = at + 2;
        if i > text.len() {
            break;
        }
    }
    JsonString::Unterminated
}

/// Decode the escapes of a JSON string's raw content into `out` (cleared first).
/// Returns `false` on a malformed escape. Unpaired surrogates become U+FFFD.
pub fn unescape(raw: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    let mut i = 0;
    while let Some(k) = memchr::memchr(b'\\', &raw[i..]) {
        out.extend_from_slice(&raw[i..i + k]);
        let at = i + k;
        let Some(&esc) = raw.get(at + 1) else { return false };
        i = at + 2;
        match esc {
            b'"' | b'\\' | b'/' => out.push(esc),
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'u' => {
                let Some(unit) = hex4(raw.get(i..i + 4)) else { return false };
                i += 4;
                let c = if (0xD800..0xDC00).contains(&unit) {
                    let low = (raw.get(i) == Some(&b'\\') && raw.get(i + 1) == Some(&b'u'))
                        .then(|| hex4(raw.get(i + 2..i + 6)))
                        .flatten()
                        .filter(|l| (0xDC00..0xE000).contains(l));
                    match low {
                        Some(low) => {
                            i += 6;
                            char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
                        }
                        None => None,
                    }
                } else {
                    char::from_u32(unit)
                };
                let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
                let mut tmp = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
            }
            _ => return false,
        }
    }
    out.extend_from_slice(&raw[i..]);
    true
}

fn hex4(t: Option<&[u8]>) -> Option<u32> {
    let t = t?;
    let s = std::str::from_utf8(t).ok()?;
    u32::from_str_radix(s, 16).ok()
}

/// The raw content of the string value of `key` in a compact (`"key":"value"`) record.
pub fn find_string_field<'a>(line: &'a [u8], key_pattern: &memmem::Finder<'_>) -> Option<Result<&'a [u8], ()>> {
    let at = key_pattern.find(line)? + key_pattern.needle().len();
    Some(match scan_string(&line[at..]) {
        JsonString::Complete { raw_end, .. } => Ok(&line[at..at + raw_end]),
        JsonString::Unterminated => Err(()),
    })
}

/// The integer value of `key` in a compact record (`"processID":0`).
pub fn find_int_field(line: &[u8], key_pattern: &memmem::Finder<'_>) -> Option<i64> {
    let at = key_pattern.find(line)? + key_pattern.needle().len();
    let rest = &line[at..];
    let len = rest.iter().take_while(|b| b.is_ascii_digit() || **b == b'-').count();
    std::str::from_utf8(&rest[..len]).ok()?.parse().ok()
}

/// A pretty-printed field line `  "key" : value[,]`: the key and the value text.
pub fn pretty_field(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let t = line.strip_prefix(b"  \"")?;
    let close = memchr::memchr(b'"', t)?;
    let key = &t[..close];
    // `log` writes `"key" : value`; jq and friends write `"key": value`.
    let rest = t[close + 1..].trim_ascii_start().strip_prefix(b":")?.trim_ascii_start();
    Some((key, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_and_unescapes() {
        let raw = br#"a \"b\" \\\/c\nd\u00e9\ud83d\ude00" , "#;
        let JsonString::Complete { raw_end, end } = scan_string(raw) else { panic!() };
        assert_eq!(end, raw_end + 1);
        let mut out = Vec::new();
        assert!(unescape(&raw[..raw_end], &mut out));
        assert_eq!(String::from_utf8(out.clone()).unwrap(), "a \"b\" \\/c\nd\u{e9}\u{1F600}");
        assert_eq!(scan_string(br#"abc\"#), JsonString::Unterminated);
        assert_eq!(scan_string(br#"abc\""#), JsonString::Unterminated);
        assert!(!unescape(br"\q", &mut out));
        assert!(!unescape(br"\u12", &mut out));
    }

    #[test]
    fn finds_fields() {
        let line = br#"{"processImagePath":"\/kernel","processID":0,"eventMessage":"x\"y"}"#;
        let msg = memmem::Finder::new(br#""eventMessage":""#);
        assert_eq!(find_string_field(line, &msg), Some(Ok(&br#"x\"y"#[..])));
        assert_eq!(find_int_field(line, &memmem::Finder::new(br#""processID":"#)), Some(0));
        assert_eq!(pretty_field(br#"  "eventMessage" : "hi","#), Some((&b"eventMessage"[..], &br#""hi","#[..])));
        assert_eq!(pretty_field(br#"  "eventMessage": "hi""#), Some((&b"eventMessage"[..], &br#""hi""#[..])));
        assert_eq!(pretty_field(br#"    "imageOffset" : 1"#), None);
    }
}
