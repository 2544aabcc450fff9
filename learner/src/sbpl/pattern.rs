//! SBPL regular expressions: the POSIX-ERE-like subset libsandbox compiles into its matching
//! automaton (reference §5.3), translated to the `regex` crate and compiled once.
//!
//! Supported: `^` (at the start of the pattern or of an alternative), `$`, `.`, bracket
//! expressions with ranges, negation and `[:class:]` names, `*` `+` `?`, `{m,n}` intervals, `|`,
//! groups, and `\`-escaped characters (which stand for themselves). Matching is a byte-wise
//! search, unanchored unless the pattern anchors itself, as in the kernel. Not supported, as in
//! libsandbox: inline flags such as `(?i)`, back-references; `^` in the middle of an expression
//! is the same error `sandbox-exec` reports.

use std::sync::OnceLock;

use regex::bytes::Regex;

/// An SBPL regex: its source text, checked and translated when the profile is compiled, and
/// built into a matcher on first use (most of a profile's regexes never meet a request, and
/// building is the costliest part of compiling a profile).
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    translated: String,
    /// For patterns anchored at `^` with no top-level alternation: the literal text every match
    /// starts with. Checked before running the automaton (most requests fail it).
    required_prefix: Option<Vec<u8>>,
    regex: OnceLock<Option<Regex>>,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Pattern {
    /// Compile an SBPL regex. The error says what was expected, with a character offset.
    pub fn new(source: &str) -> Result<Pattern, String> {
        let translated = translate(source)?;
        let required_prefix = required_prefix(source);
        Ok(Pattern { source: source.to_string(), translated, required_prefix, regex: OnceLock::new() })
    }

    fn build(translated: &str) -> Option<Regex> {
        // The translation only emits syntax the `regex` crate accepts; the generous size limit
        // covers any pattern libsandbox itself accepts (its limit is 64 KiB per pattern).
        regex::bytes::RegexBuilder::new(translated).size_limit(1 << 26).dfa_size_limit(1 << 24).build().ok()
    }

    /// The SBPL source text.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Does the pattern match somewhere in `text`?
    pub fn is_match(&self, text: &str) -> bool {
        if let Some(p) = &self.required_prefix {
            if !text.as_bytes().starts_with(p) {
                return false;
            }
        }
        self.regex.get_or_init(|| Self::build(&self.translated)).as_ref().is_some_and(|r| r.is_match(text.as_bytes()))
    }
}

fn push_byte_literal(out: &mut String, b: u8) {
    if b.is_ascii_alphanumeric() || b == b'/' || b == b'_' || b == b' ' {
        out.push(b as char);
    } else {
        out.push_str(&format!("\\x{b:02X}"));
    }
}

/// The literal bytes every match of an `^`-anchored pattern starts with, if there is no
/// alternation at the top level (which could start a match elsewhere).
fn required_prefix(source: &str) -> Option<Vec<u8>> {
    let bytes = source.as_bytes();
    let rest = bytes.strip_prefix(b"^")?;
    // Any `|` outside groups and brackets means another alternative may match without the prefix.
    let (mut depth, mut i, mut in_bracket) = (0i32, 0usize, false);
    while i < rest.len() {
        match rest[i] {
            b'\\' => i += 1,
            b'[' if !in_bracket => in_bracket = true,
            b']' if in_bracket => in_bracket = false,
            b'(' if !in_bracket => depth += 1,
            b')' if !in_bracket => depth -= 1,
            b'|' if !in_bracket && depth == 0 => return None,
            _ => {}
        }
        i += 1;
    }
    let mut prefix = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        let (c, len) = match rest[i] {
            b'\\' if i + 1 < rest.len() => (rest[i + 1], 2),
            b'.' | b'[' | b'(' | b')' | b'|' | b'*' | b'+' | b'?' | b'{' | b'$' | b'^' | b'\\' => break,
            c => (c, 1),
        };
        // A character made optional or repeatable by what follows is not required as is.
        if matches!(rest.get(i + len), Some(b'*' | b'?' | b'{' | b'+')) {
            break;
        }
        prefix.push(c);
        i += len;
    }
    (!prefix.is_empty()).then_some(prefix)
}

/// Translate SBPL regex syntax to `regex` crate syntax (bytes, no Unicode classes).
pub(crate) fn translate(source: &str) -> Result<String, String> {
    let bytes = source.as_bytes();
    let mut out = String::with_capacity(source.len() * 2 + 8);
    out.push_str("(?s-u)");
    let mut i = 0;
    // Whether the previous item can take a repetition operator.
    let mut can_repeat = false;
    // Whether we are at the start of the pattern, a group or an alternative (where `^` is legal).
    let mut at_start = true;
    let mut depth = 0usize;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'^' => {
                if !at_start {
                    return Err(format!("regex `{source}`: unexpected ^ operator in middle of expression (at character {})", i + 1));
                }
                out.push('^');
                can_repeat = false;
                i += 1;
                continue;
            }
            b'$' => {
                out.push('$');
                can_repeat = false;
            }
            b'.' => {
                out.push('.');
                can_repeat = true;
            }
            b'(' => {
                if bytes.get(i + 1) == Some(&b'?') {
                    return Err(format!("regex `{source}`: inline flags and `(?` groups are not supported by Seatbelt (at character {})", i + 1));
                }
                depth += 1;
                out.push('(');
                can_repeat = false;
                at_start = true;
                i += 1;
                continue;
            }
            b')' => {
                if depth == 0 {
                    return Err(format!("regex `{source}`: unmatched `)` (at character {})", i + 1));
                }
                depth -= 1;
                out.push(')');
                can_repeat = true;
            }
            b'|' => {
                out.push('|');
                can_repeat = false;
                at_start = true;
                i += 1;
                continue;
            }
            b'*' | b'+' | b'?' => {
                if !can_repeat {
                    return Err(format!("regex `{source}`: expected something to repeat before `{}` (at character {})", b as char, i + 1));
                }
                // A run of operators (`a**`, `a+?`) is legal ERE; it repeats the same item, so it
                // collapses to one operator: the same one if all agree, else `*`.
                let mut j = i;
                while matches!(bytes.get(j), Some(b'*' | b'+' | b'?')) {
                    j += 1;
                }
                let run = &bytes[i..j];
                let op = if run.iter().all(|&c| c == b) { b } else { b'*' };
                out.push(op as char);
                can_repeat = false;
                at_start = false;
                i = j;
                continue;
            }
            b'{' => {
                // An interval if well formed, else a literal brace.
                let rest = &source[i + 1..];
                let close = rest.find('}');
                let body = close.map(|c| &rest[..c]);
                let valid = body.is_some_and(|body| {
                    let mut parts = body.splitn(2, ',');
                    let lo = parts.next().unwrap_or("");
                    let hi = parts.next();
                    !lo.is_empty()
                        && lo.bytes().all(|c| c.is_ascii_digit())
                        && lo.len() <= 3
                        && hi.map_or(true, |h| h.bytes().all(|c| c.is_ascii_digit()) && h.len() <= 3)
                });
                if valid && can_repeat {
                    let body = body.unwrap_or("");
                    out.push('{');
                    out.push_str(body);
                    out.push('}');
                    i += body.len() + 2;
                    can_repeat = false;
                    at_start = false;
                    continue;
                }
                push_byte_literal(&mut out, b'{');
                can_repeat = true;
            }
            b'[' => {
                let (class, next) = bracket(source, i)?;
                out.push_str(&class);
                i = next;
                can_repeat = true;
                at_start = false;
                continue;
            }
            b'\\' => {
                let Some(&next) = bytes.get(i + 1) else {
                    return Err(format!("regex `{source}`: expected a character after the final `\\`"));
                };
                push_byte_literal(&mut out, next);
                can_repeat = true;
                i += 2;
                at_start = false;
                continue;
            }
            other => {
                push_byte_literal(&mut out, other);
                can_repeat = true;
            }
        }
        at_start = false;
        i += 1;
    }
    if depth != 0 {
        return Err(format!("regex `{source}`: expected `)` to close a group"));
    }
    Ok(out)
}

/// Translate the bracket expression starting at `start` (`[`); returns it and the next index.
fn bracket(source: &str, start: usize) -> Result<(String, usize), String> {
    let bytes = source.as_bytes();
    let mut i = start + 1;
    let mut out = String::from("[");
    if bytes.get(i) == Some(&b'^') {
        out.push('^');
        i += 1;
    }
    let mut first = true;
    loop {
        let Some(&b) = bytes.get(i) else {
            return Err(format!("regex `{source}`: expected `]` to close the bracket expression at character {}", start + 1));
        };
        if b == b']' && !first {
            i += 1;
            break;
        }
        first = false;
        if b == b'[' && bytes.get(i + 1) == Some(&b':') {
            if let Some(end) = source[i + 2..].find(":]") {
                let name = &source[i + 2..i + 2 + end];
                let known = ["alpha", "digit", "alnum", "upper", "lower", "space", "punct", "xdigit", "print", "graph", "cntrl", "blank"];
                if !known.contains(&name) {
                    return Err(format!("regex `{source}`: unknown character class `[:{name}:]`"));
                }
                out.push_str(&format!("[:{name}:]"));
                i += end + 4;
                continue;
            }
        }
        // Inside brackets a backslash escapes the next character (how profiles use it:
        // `[^/\.]`); every member is emitted as a byte so nothing is special to `regex`.
        let (member, len) = if b == b'\\' && i + 1 < bytes.len() { (bytes[i + 1], 2) } else { (b, 1) };
        if bytes.get(i + len) == Some(&b'-') && bytes.get(i + len + 1).is_some_and(|&c| c != b']') {
            let hi_at = i + len + 1;
            let (hi, hi_len) = if bytes[hi_at] == b'\\' && hi_at + 1 < bytes.len() { (bytes[hi_at + 1], 2) } else { (bytes[hi_at], 1) };
            if hi < member {
                return Err(format!("regex `{source}`: invalid range `{}-{}` in a bracket expression", member as char, hi as char));
            }
            out.push_str(&format!("\\x{member:02X}-\\x{hi:02X}"));
            i = hi_at + hi_len;
            continue;
        }
        out.push_str(&format!("\\x{member:02X}"));
        i += len;
    }
    out.push(']');
    Ok((out, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(re: &str, text: &str) -> bool {
        Pattern::new(re).unwrap().is_match(text)
    }

    #[test]
    fn anchors_classes_and_alternation() {
        assert!(m(r"^/private/tmp/com\.apple\.launchd\.[^/]+/Listeners$", "/private/tmp/com.apple.launchd.AbC/Listeners"));
        assert!(!m(r"^/private/tmp/com\.apple\.launchd\.[^/]+/Listeners$", "/private/tmp/com.apple.launchd.A/b/Listeners"));
        assert!(m(r"/com\.apple\.sandbox($|/)", "/x/com.apple.sandbox"));
        assert!(m(r"/com\.apple\.sandbox($|/)", "/x/com.apple.sandbox/y"));
        assert!(!m(r"/com\.apple\.sandbox($|/)", "/x/com.apple.sandboxy"));
        assert!(m("^/dev/fd/(0|1|2)$", "/dev/fd/1"));
        assert!(m("^/a/[[:digit:]]+$", "/a/123"));
        assert!(m("^/a/[A-Za-z0-9]+\\.x$", "/a/Ab9.x"));
        assert!(m("x{2,3}", "axxb"));
        assert!(!m("^x{2,3}$", "x"));
    }

    #[test]
    fn search_is_unanchored_and_bytewise() {
        assert!(m("CoreServicesInternal", "/System/Library/CoreServicesInternal/x"));
        assert!(m("^/a.$", "/a\u{e9}") == false);
        assert!(m("^/a..$", "/a\u{e9}"));
        assert!(m("^/caf\u{e9}$", "/caf\u{e9}"));
    }

    #[test]
    fn metacharacters_in_brackets_are_literal() {
        assert!(m("^/a[.]b$", "/a.b"));
        assert!(!m("^/a[.]b$", "/axb"));
        assert!(m("^/a[]x]$", "/a]"));
        assert!(m("^/a[^/\\.]$", "/ab"));
        assert!(!m("^/a[^/\\.]$", "/a."));
    }

    #[test]
    fn required_prefixes() {
        let p = |re: &str| required_prefix(re).map(|v| String::from_utf8(v).unwrap());
        assert_eq!(p(r"^/private/var/run/com\.apple\.launchd\.[^/]+/Listeners$").as_deref(), Some("/private/var/run/com.apple.launchd."));
        assert_eq!(p("^/a/bc*d").as_deref(), Some("/a/b"));
        assert_eq!(p("^/a/b+").as_deref(), Some("/a/"));
        assert_eq!(p("^/a|^/b"), None);
        assert_eq!(p("^/a(x|y)").as_deref(), Some("/a"));
        assert_eq!(p("/a"), None);
        assert_eq!(p("^[ab]"), None);
        assert!(m("^/a/b+$", "/a/bbb"));
        assert!(!m("^/a(x|y)", "/b"));
    }

    #[test]
    fn every_translation_builds() {
        for re in [r"^/a\.b(/|$)", "[^/]+", "x{2,3}", "^(a|b|)$", "[[:alpha:]_-]", "a**", r"\\", "[]]", "[a-]"] {
            let p = Pattern::new(re).unwrap();
            assert!(Pattern::build(&p.translated).is_some(), "{re} -> {}", p.translated);
        }
    }

    #[test]
    fn rejected_like_sandbox_exec() {
        assert!(Pattern::new("(?i)^/a").unwrap_err().contains("not supported"));
        assert!(Pattern::new("/a^b").unwrap_err().contains("unexpected ^ operator in middle of expression"));
        assert!(Pattern::new("*a").is_err());
        assert!(Pattern::new("(a").is_err());
        assert!(Pattern::new("[a").is_err());
        assert!(Pattern::new("a\\").is_err());
        assert!(m("^a**b$", "aab"));
        assert!(m("^a+?b$", "aab"));
    }
}
