//! Unified diffs of profile text (old → new), as shown before an overlay is written.
//!
//! Line-based (`similar`), three lines of context, `---`/`+++` headers naming the file. Colour is
//! the caller's choice (a terminal without `NO_COLOR`): removed lines red, added green, hunk
//! headers cyan. The text without colour is stable byte for byte.

use similar::{ChangeTag, TextDiff};

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const CYAN: &str = "\x1b[36m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// A unified diff from `old` to `new`, both named `name`. Empty when equal.
pub fn unified(name: &str, old: &str, new: &str, color: bool) -> String {
    if old == new {
        return String::new();
    }
    let diff = TextDiff::from_lines(old, new);
    let mut out = String::new();
    let header = |out: &mut String, text: String| {
        if color {
            out.push_str(BOLD);
            out.push_str(&text);
            out.push_str(RESET);
        } else {
            out.push_str(&text);
        }
        out.push('\n');
    };
    header(&mut out, format!("--- {name}"));
    header(&mut out, format!("+++ {name}"));
    for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
        let head = hunk.header().to_string();
        if color {
            out.push_str(CYAN);
            out.push_str(&head);
            out.push_str(RESET);
        } else {
            out.push_str(&head);
        }
        out.push('\n');
        for change in hunk.iter_changes() {
            let (sign, paint) = match change.tag() {
                ChangeTag::Delete => ('-', RED),
                ChangeTag::Insert => ('+', GREEN),
                ChangeTag::Equal => (' ', ""),
            };
            let line = change.value();
            let line = line.strip_suffix('\n').unwrap_or(line);
            if color && !paint.is_empty() {
                out.push_str(paint);
                out.push(sign);
                out.push_str(line);
                out.push_str(RESET);
            } else {
                out.push(sign);
                out.push_str(line);
            }
            out.push('\n');
            if change.missing_newline() {
                out.push_str("\\ No newline at end of file\n");
            }
        }
    }
    out
}

/// Lines added and removed between `old` and `new`.
pub fn stats(old: &str, new: &str) -> (usize, usize) {
    let diff = TextDiff::from_lines(old, new);
    let mut added = 0;
    let mut removed = 0;
    for change in diff.iter_all_changes() {
        match change.tag() {
            ChangeTag::Insert => added += 1,
            ChangeTag::Delete => removed += 1,
            ChangeTag::Equal => {}
        }
    }
    (added, removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_diff_of_an_appended_rule() {
        let old = "(version 1)\n(allow file-read-data (literal \"/a\"))\n";
        let new = "(version 1)\n(allow file-read-data (literal \"/a\"))\n(allow mach-lookup (global-name \"x\"))\n";
        let text = unified("overlay.sb", old, new, false);
        assert_eq!(
            text,
            "--- overlay.sb\n+++ overlay.sb\n@@ -1,2 +1,3 @@\n (version 1)\n (allow file-read-data (literal \"/a\"))\n+(allow mach-lookup (global-name \"x\"))\n"
        );
        assert_eq!(stats(old, new), (1, 0));
    }

    #[test]
    fn new_file_and_colour() {
        let text = unified("o.sb", "", "(version 1)\n", true);
        assert!(text.contains("\x1b[32m+(version 1)\x1b[0m"), "{text:?}");
        assert_eq!(unified("o.sb", "same\n", "same\n", true), "");
    }
}
