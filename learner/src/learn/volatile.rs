//! Volatile name components: per-run temp names, pids, UUIDs, long hex hashes and version
//! segments, recognised so that a grant still holds in the next session.
//!
//! [`template`] turns one path component (or one name) into a [`Template`]: the text with each
//! volatile run replaced by a placeholder (`<n>`, `<hex>`, `<uuid>`, `<ver>`, `<rand>`) and a
//! matching regex fragment whose literal parts are escaped. A component without volatile runs
//! is returned as `None` and stays a literal.

/// A component with its volatile runs abstracted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Template {
    /// Human-readable key, e.g. `tmp.<rand>` or `v<ver>`; also the trie key.
    pub key: String,
    /// SBPL-dialect regex fragment (no anchors, no `{m,n}`, no classes like `\d`).
    pub regex: String,
}

const PH_NUM: &str = "[0-9]+";
const PH_HEX: &str = "[0-9a-fA-F]+";
const PH_UUID: &str = "[0-9A-Fa-f-]+";
const PH_VER: &str = "[0-9]+(\\.[0-9]+)+";
const PH_RAND: &str = "[A-Za-z0-9_]+";

/// Escape a literal for the SBPL regex dialect (POSIX-ERE-like metacharacters).
pub fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if matches!(c, '\\' | '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Abstract the volatile runs of `component`, or `None` when it has none.
pub fn template(component: &str) -> Option<Template> {
    let b = component.as_bytes();
    if b.is_empty() {
        return None;
    }
    // Whole-component shapes first.
    if is_uuid(component) {
        return Some(Template { key: "<uuid>".into(), regex: PH_UUID.into() });
    }
    let mut key = String::new();
    let mut re = String::new();
    let mut lit = String::new();
    let mut changed = false;
    let flush = |lit: &mut String, key: &mut String, re: &mut String| {
        if !lit.is_empty() {
            key.push_str(lit);
            re.push_str(&regex_escape(lit));
            lit.clear();
        }
    };
    let mut i = 0;
    while i < b.len() {
        // Alphanumeric run [A-Za-z0-9]+ (with '.' inside digit groups for versions).
        if b[i].is_ascii_alphanumeric() {
            let start = i;
            while i < b.len() && b[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let run = &component[start..i];
            // A version: digits(.digits)+ with at least two dots, or v-prefixed with one dot.
            if let Some(end) = version_end(b, start) {
                let text = &component[start..end];
                let dots = text.bytes().filter(|&c| c == b'.').count();
                let prefix_v = b[start] == b'v' || b[start] == b'V';
                if dots >= 2 || (prefix_v && dots >= 1) {
                    lit.push_str(if prefix_v { &text[..1] } else { "" });
                    flush(&mut lit, &mut key, &mut re);
                    key.push_str("<ver>");
                    re.push_str(PH_VER);
                    changed = true;
                    i = end;
                    continue;
                }
            }
            match classify_run(run) {
                RunKind::Literal => lit.push_str(run),
                kind => {
                    // Keep a short alphabetic stem such as `tmp` in `tmpa8x2k1qz` literal.
                    let (stem, rest) = split_stem(run, kind);
                    lit.push_str(stem);
                    flush(&mut lit, &mut key, &mut re);
                    let all_digits = rest.bytes().all(|c| c.is_ascii_digit());
                    let (k, r) = match classify_run(rest) {
                        _ if all_digits => ("<n>", PH_NUM),
                        RunKind::Number => ("<n>", PH_NUM),
                        RunKind::Hex => ("<hex>", PH_HEX),
                        _ => ("<rand>", PH_RAND),
                    };
                    key.push_str(k);
                    re.push_str(r);
                    changed = true;
                }
            }
        } else {
            lit.push(b[i] as char);
            // Multi-byte characters: copy whole.
            if !b[i].is_ascii() {
                lit.pop();
                let ch = component[i..].chars().next().unwrap();
                lit.push(ch);
                i += ch.len_utf8();
                continue;
            }
            i += 1;
        }
    }
    flush(&mut lit, &mut key, &mut re);
    if changed {
        Some(Template { key, regex: re })
    } else {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunKind {
    Literal,
    Number,
    Hex,
    Random,
}

fn classify_run(run: &str) -> RunKind {
    let n = run.len();
    let digits = run.bytes().filter(u8::is_ascii_digit).count();
    let letters = n - digits;
    if digits == n {
        // pids, timestamps, counters; short numbers (`3`, `12`, `2024`?) stay literal.
        return if n >= 4 { RunKind::Number } else { RunKind::Literal };
    }
    let is_hex = run.bytes().all(|c| c.is_ascii_hexdigit());
    if is_hex && n >= 12 && digits >= 2 {
        return RunKind::Hex;
    }
    // A random token: long, mixes digits and letters, several of each.
    if n >= 8 && digits >= 2 && letters >= 2 && digit_letter_switches(run) >= 3 {
        return RunKind::Random;
    }
    // Alphabetic stem + long digit tail (`tmp987654`, `npm48213`); terminals (`ttys003`).
    let tail = run.bytes().rev().take_while(u8::is_ascii_digit).count();
    let stem = &run[..n - tail];
    if tail >= 1 && letters >= 1 && stem.bytes().all(|c| c.is_ascii_alphabetic()) {
        if tail >= 5 || (matches!(stem, "tty" | "ttys" | "pts") && tail >= 1) {
            return RunKind::Number;
        }
    }
    RunKind::Literal
}

fn digit_letter_switches(run: &str) -> usize {
    let b = run.as_bytes();
    b.windows(2).filter(|w| w[0].is_ascii_digit() != w[1].is_ascii_digit()).count()
}

/// Keep a leading all-letters stem (up to 4 letters, e.g. `tmp`, `npm`) of a volatile run literal.
fn split_stem(run: &str, kind: RunKind) -> (&str, &str) {
    let letters = run.bytes().take_while(u8::is_ascii_alphabetic).count();
    match kind {
        RunKind::Number if letters > 0 => (&run[..letters], &run[letters..]),
        // Python's `tempfile` names: `tmp` + 8 random characters.
        RunKind::Random if run.starts_with("tmp") && run.len() >= 9 => (&run[..3], &run[3..]),
        _ => ("", run),
    }
}

/// End of a `v?digits(.digits)+` run starting at `start`, if any.
fn version_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start;
    if i < b.len() && (b[i] == b'v' || b[i] == b'V') {
        i += 1;
    }
    let digits_from = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == digits_from {
        return None;
    }
    let mut dots = 0;
    while i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        dots += 1;
    }
    // Must not continue with letters (`1.2.3abc` is not a clean version; accept, the tail is literal).
    if dots == 0 {
        None
    } else {
        Some(i)
    }
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 36 {
        return false;
    }
    b.iter().enumerate().all(|(i, &c)| match i {
        8 | 13 | 18 | 23 => c == b'-',
        _ => c.is_ascii_hexdigit(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> String {
        template(s).map(|t| t.key).unwrap_or_else(|| s.to_string())
    }

    #[test]
    fn stable_names_stay_literal() {
        for s in [
            "node_modules", ".npm", "python3.12", "lib", "Library", "com.apple.Terminal.plist", "target", "debug",
            "index.js", "README.md", "x86_64-apple-darwin", "stable-aarch64-apple-darwin", "v8", "ttys", "utf8",
            "Application Support", "package-lock.json", "libssl.3.dylib",
        ] {
            assert_eq!(template(s), None, "{s}");
        }
    }

    #[test]
    fn volatile_runs_become_placeholders() {
        assert_eq!(key("v22.3.0"), "v<ver>");
        assert_eq!(key("22.3.0"), "<ver>");
        assert_eq!(key("serde-1.0.200"), "serde-<ver>");
        assert_eq!(key("9f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"), "<uuid>");
        assert_eq!(key("tmp.X8kq2Lz9Ab"), "tmp.<rand>");
        assert_eq!(key("tmpa8x2k1qz"), "tmp<rand>");
        assert_eq!(key("npm-48213-7f3a9c2e"), "npm-<n>-<rand>");
        assert_eq!(key("12345"), "<n>");
        assert_eq!(key("ttys003"), "ttys<n>");
        assert_eq!(key("3f9a0c1e7b2d4a6f8e0c"), "<hex>");
        assert_eq!(key("index.crates.io-6f17d22bba15001f"), "index.crates.io-<hex>");
        assert_eq!(key("8c2b1tr97x5g7jz0wldp0w4r0000gn"), "<rand>");
        assert_eq!(key(".claude.json.tmp.48213.1733300000000"), ".claude.json.tmp.<n>.<n>");
    }

    #[test]
    fn regex_fragments_are_escaped_and_match() {
        let t = template("serde-1.0.200").unwrap();
        assert_eq!(t.regex, "serde-[0-9]+(\\.[0-9]+)+");
        let re = regex::Regex::new(&format!("^{}$", t.regex)).unwrap();
        assert!(re.is_match("serde-1.0.219"));
        assert!(!re.is_match("serdeX1.0.219"));
        let t = template("tmp.X8kq2Lz9Ab").unwrap();
        let re = regex::Regex::new(&format!("^{}$", t.regex)).unwrap();
        assert!(re.is_match("tmp.Q1w2E3r4T5"));
        assert!(!re.is_match("tmpXQ1w2E3r4T5"));
        assert_eq!(regex_escape("a.b[1]+(c)"), "a\\.b\\[1\\]\\+\\(c\\)");
    }
}
