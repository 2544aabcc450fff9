//! Rendering SBPL text: string literals with every special character escaped, regex quoting,
//! filters and whole rules. Whatever is rendered here reads back (with [`super::compile`]) to
//! the same strings and the same decisions.

use crate::event::Action;

use super::filter::{Filter, Matcher};
use crate::target::Scope;

/// An SBPL string literal for `s`: `"` and `\` escaped, `\n` `\t` `\r` as such, every other
/// control or invisible character as `\xNN` bytes (the reader decodes them back exactly).
/// Printable non-ASCII text is kept as UTF-8.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_hex(c) => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Control characters, and invisible or line-breaking Unicode that would make a profile
/// misleading to read (zero-width, bidi controls, line/paragraph separators, BOM).
fn needs_hex(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}')
}

/// Escape every regex metacharacter of `s` with a backslash, as libsandbox's `regex-quote`
/// (`^ . [ ] $ ( ) | * + ? { } \`).
pub fn regex_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if matches!(c, '^' | '.' | '[' | ']' | '$' | '(' | ')' | '|' | '*' | '+' | '?' | '{' | '}' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn matcher(kind_exact: &str, kind_prefix: &str, kind_regex: &str, kind_subpath: &str, m: &Matcher) -> String {
    match m {
        Matcher::Literal(s) => format!("({kind_exact} {})", quote(s)),
        Matcher::Prefix(s) => format!("({kind_prefix} {})", quote(s)),
        Matcher::Subpath(s) => format!("({kind_subpath} {})", quote(s)),
        Matcher::Regex(r) => format!("({kind_regex} {})", quote(r.as_str())),
    }
}

/// A filter as SBPL text.
pub fn filter(f: &Filter) -> String {
    match f {
        Filter::Any(fs) => format!("(require-any {})", fs.iter().map(filter).collect::<Vec<_>>().join(" ")),
        Filter::All(fs) => format!("(require-all {})", fs.iter().map(filter).collect::<Vec<_>>().join(" ")),
        Filter::Not(f) => format!("(require-not {})", filter(f)),
        Filter::Path(m) => matcher("literal", "prefix", "regex", "subpath", m),
        Filter::Name { filter: name, matcher: m } => {
            let p = format!("{name}-prefix");
            let r = format!("{name}-regex");
            matcher(name, &p, &r, name, m)
        }
        Filter::Network { scope, proto, host, port } => {
            let addr = format!(
                "{}:{}",
                host.as_deref().unwrap_or("*"),
                port.map_or_else(|| "*".to_string(), |p| p.to_string())
            );
            format!("({} {} {})", scope_name(*scope), proto.0, quote(&addr))
        }
        Filter::UnixSocket { scope, path } => match path {
            Some(p) => format!("({} unix-socket {})", scope_name(*scope), filter(p)),
            None => format!("({} unix-socket)", scope_name(*scope)),
        },
        Filter::Target(t) => format!("(target {t})"),
        Filter::Number { filter: name, values } => {
            format!("({name} {})", values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" "))
        }
        Filter::Opaque { text, .. } => text.clone(),
        // Only made for what an unresolved import would have provided; rendered as a filter that
        // parses and is just as undecidable from a log line.
        Filter::Const(_) => "(extension \"safehouse.unresolved-import\")".to_string(),
    }
}

fn scope_name(s: Scope) -> &'static str {
    match s {
        Scope::Local => "local",
        Scope::Remote => "remote",
    }
}

/// `(literal "PATH")`.
pub fn literal(path: &str) -> String {
    format!("(literal {})", quote(path))
}

/// `(subpath "PATH")`.
pub fn subpath(path: &str) -> String {
    format!("(subpath {})", quote(path))
}

/// `(prefix "PATH")`.
pub fn prefix(path: &str) -> String {
    format!("(prefix {})", quote(path))
}

/// `(regex "RE")`.
pub fn regex(re: &str) -> String {
    format!("(regex {})", quote(re))
}

/// A rule: `(allow op1 op2\n    FILTER\n    FILTER)`; filters are already-rendered SBPL
/// (use the helpers above); operations are written as given (they are symbols, not strings).
pub fn rule(action: Action, operations: &[&str], filters: &[String]) -> String {
    let mut out = format!("({}", action.as_str());
    for op in operations {
        out.push(' ');
        out.push_str(op);
    }
    if filters.len() <= 1 {
        for f in filters {
            out.push(' ');
            out.push_str(f);
        }
    } else {
        for f in filters {
            out.push_str("\n    ");
            out.push_str(f);
        }
    }
    out.push(')');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes_everything_special() {
        assert_eq!(quote("/a b"), "\"/a b\"");
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(quote("l1\nl2\tx\r"), "\"l1\\nl2\\tx\\r\"");
        assert_eq!(quote("\u{1}\u{7f}"), "\"\\x01\\x7f\"");
        assert_eq!(quote("caf\u{e9}"), "\"caf\u{e9}\"");
        assert_eq!(quote("a\u{200b}b"), "\"a\\xe2\\x80\\x8bb\"");
        assert_eq!(quote("\u{85}"), "\"\\xc2\\x85\"");
    }

    #[test]
    fn regex_quote_escapes_metacharacters() {
        assert_eq!(regex_quote("/a.b[1]+(x)"), "/a\\.b\\[1\\]\\+\\(x\\)");
    }

    #[test]
    fn rule_layout() {
        assert_eq!(rule(Action::Allow, &["file-read*"], &[subpath("/a")]), "(allow file-read* (subpath \"/a\"))");
        assert_eq!(
            rule(Action::Deny, &["file-read*", "file-write*"], &[literal("/a"), prefix("/b")]),
            "(deny file-read* file-write*\n    (literal \"/a\")\n    (prefix \"/b\"))"
        );
    }
}
