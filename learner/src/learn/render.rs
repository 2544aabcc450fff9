//! The overlay profile: chosen proposals as SBPL, grouped by purpose, each rule commented with
//! its evidence. Deterministic bytes for the same input.

use std::fmt::Write as _;

use super::{Proposal, Risk};

/// An SBPL string literal with every special character escaped.
///
/// Until the engine's `sbpl::render::quote` lands this is the learner's own: `\"`, `\\`,
/// `\n`, `\r`, `\t`, and other control characters as octal `\ooo` (Scheme string escapes).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\{:03o}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Render the chosen proposals as an overlay for Safehouse's `--append-profile`.
///
/// Groups follow the order of `chosen` (which [`super::learn`] sorts by purpose); each rule is
/// preceded by comments naming its id, class, reason, evidence and, when set, its risk note.
/// The text uses Safehouse's `home-*` / `workdir-*` helpers, so it is appended to a profile that
/// defines them (Safehouse's `00-base.sb`).
pub fn render_overlay(chosen: &[Proposal]) -> String {
    let mut out = String::new();
    out.push_str(";; safehouse learn overlay: rules learned from observed sessions.\n");
    out.push_str(";; Append after the Safehouse profile (uses its home-*/workdir-* helpers).\n");
    let mut current: Option<&str> = None;
    for p in chosen {
        if current != Some(p.purpose.as_str()) {
            let _ = write!(out, "\n;; ---- {} ----\n", comment_text(&p.purpose));
            current = Some(p.purpose.as_str());
        }
        let e = &p.evidence;
        let _ = writeln!(out, ";; {} [{}] {}", p.id, p.class, comment_text(&p.reason));
        let mut ev = format!(
            ";;   evidence: {} event{}, {} target{}, {} session{}",
            e.count,
            plural(e.count),
            e.distinct_targets,
            plural(e.distinct_targets as u64),
            e.sessions,
            plural(e.sessions as u64)
        );
        if !e.processes.is_empty() {
            let _ = write!(ev, "; processes: {}", e.processes.join(", "));
        }
        out.push_str(&comment_text(&ev));
        out.push('\n');
        if p.risk != Risk::Low || !p.safe {
            let _ = writeln!(out, ";;   risk: {}{}", p.risk.as_str(), if p.safe { "" } else { " (review)" });
        }
        out.push_str(&p.grant.sbpl);
        out.push('\n');
    }
    out
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Comments are line-based: a newline or CR in evidence text must not end the comment.
fn comment_text(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}
