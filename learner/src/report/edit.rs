//! Applying `tighten` changes to the text of a profile the user owns: remove a rule, or replace
//! it by narrower ones, located by where the engine says the rule is written.
//!
//! Edits are made on the original text (comments, spacing and everything else kept), from the
//! end of the file backwards so earlier positions stay valid. A rule is found at its recorded
//! line and column and must read exactly as recorded; otherwise the file changed since it was
//! compiled and the edit is refused rather than guessed.

use std::fmt;

/// One change to one rule in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleEdit {
    /// 1-based line and column (in characters) where the rule's text starts.
    pub line: u32,
    pub col: u32,
    /// The rule's text as compiled.
    pub text: String,
    /// `None` removes the rule; otherwise its replacement rules, one per line.
    pub replacement: Option<Vec<String>>,
}

/// The file does not read as expected where a rule should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditError {
    pub line: u32,
    pub col: u32,
    pub expected: String,
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = self.expected.lines().next().unwrap_or("");
        write!(f, "{}:{}: expected the rule `{}` here; the file changed since it was read", self.line, self.col, first)
    }
}

impl std::error::Error for EditError {}

/// Byte offset of a 1-based (line, column-in-chars) position.
fn offset_of(text: &str, line: u32, col: u32) -> Option<usize> {
    let mut start = 0;
    for _ in 1..line {
        start += text[start..].find('\n')? + 1;
    }
    let line_text = &text[start..text[start..].find('\n').map_or(text.len(), |e| start + e)];
    let mut chars = line_text.char_indices();
    let within = if col <= 1 {
        0
    } else {
        chars.nth(col as usize - 1).map_or(line_text.len(), |(i, _)| i)
    };
    Some(start + within)
}

/// Apply `edits` to `text`. All edits are checked before any is made.
pub fn apply(text: &str, edits: &[RuleEdit]) -> Result<String, EditError> {
    let mut located: Vec<(usize, &RuleEdit)> = Vec::with_capacity(edits.len());
    for e in edits {
        let err = || EditError { line: e.line, col: e.col, expected: e.text.clone() };
        let at = offset_of(text, e.line, e.col).ok_or_else(err)?;
        if !text[at..].starts_with(&e.text) {
            return Err(err());
        }
        located.push((at, e));
    }
    located.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    let mut out = text.to_string();
    for (at, e) in located {
        let end = at + e.text.len();
        let line_start = out[..at].rfind('\n').map_or(0, |i| i + 1);
        let line_end = out[end..].find('\n').map_or(out.len(), |i| end + i);
        let before = &out[line_start..at];
        let after = &out[end..line_end];
        match &e.replacement {
            Some(rules) => {
                let indent: String = before.chars().take_while(|c| c.is_whitespace()).collect();
                let joined = rules.join(&format!("\n{indent}"));
                out.replace_range(at..end, &joined);
            }
            None if before.trim().is_empty() && after.trim().is_empty() => {
                // The rule was alone on its line(s): remove the lines, newline included.
                let cut_end = if line_end < out.len() { line_end + 1 } else { line_end };
                out.replace_range(line_start..cut_end, "");
            }
            None => {
                let cut_end = end + after.len() - after.trim_start().len();
                out.replace_range(at..cut_end, "");
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = ";; overlay\n(allow file-read* (subpath \"/a\"))\n  (allow mach-lookup\n     (global-name \"x\")) ; why\n(deny file-write* (literal \"/é\")) (allow network*)\n";

    fn edit(line: u32, col: u32, text: &str, replacement: Option<Vec<&str>>) -> RuleEdit {
        RuleEdit { line, col, text: text.into(), replacement: replacement.map(|r| r.into_iter().map(String::from).collect()) }
    }

    #[test]
    fn removes_whole_lines_and_keeps_the_rest() {
        let out = apply(TEXT, &[edit(2, 1, "(allow file-read* (subpath \"/a\"))", None)]).unwrap();
        assert_eq!(out, ";; overlay\n  (allow mach-lookup\n     (global-name \"x\")) ; why\n(deny file-write* (literal \"/é\")) (allow network*)\n");
        // A multi-line rule followed by a comment: the comment stays.
        let out = apply(TEXT, &[edit(3, 3, "(allow mach-lookup\n     (global-name \"x\"))", None)]).unwrap();
        assert!(out.contains("\n  ; why\n"), "{out}");
        // Second rule on a line after a non-ASCII path (column in characters).
        let out = apply(TEXT, &[edit(5, 35, "(allow network*)", None)]).unwrap();
        assert!(out.ends_with("(deny file-write* (literal \"/é\")) \n"), "{out}");
    }

    #[test]
    fn replaces_with_indentation() {
        let out = apply(
            TEXT,
            &[edit(3, 3, "(allow mach-lookup\n     (global-name \"x\"))", Some(vec!["(allow mach-lookup (global-name \"y\"))", "(allow mach-lookup (global-name \"z\"))"]))],
        )
        .unwrap();
        assert!(out.contains("  (allow mach-lookup (global-name \"y\"))\n  (allow mach-lookup (global-name \"z\")) ; why\n"), "{out}");
    }

    #[test]
    fn refuses_when_the_file_changed() {
        let err = apply(TEXT, &[edit(2, 1, "(allow file-read* (subpath \"/b\"))", None)]).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.to_string().contains("changed since it was read"));
        assert!(apply(TEXT, &[edit(99, 1, "(x)", None)]).is_err());
    }

    #[test]
    fn several_edits_apply_together() {
        let out = apply(
            TEXT,
            &[
                edit(2, 1, "(allow file-read* (subpath \"/a\"))", Some(vec!["(allow file-read* (subpath \"/a/b\"))"])),
                edit(5, 1, "(deny file-write* (literal \"/é\"))", None),
            ],
        )
        .unwrap();
        assert_eq!(out, ";; overlay\n(allow file-read* (subpath \"/a/b\"))\n  (allow mach-lookup\n     (global-name \"x\")) ; why\n(allow network*)\n");
    }
}
