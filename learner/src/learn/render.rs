//! The overlay profile: chosen proposals as SBPL, grouped by purpose, each rule commented with
//! its evidence. Deterministic bytes for the same input.

use std::fmt::Write as _;

use super::{Proposal, Risk};

/// An SBPL string literal with every special character escaped (the engine's renderer).
pub use crate::sbpl::render::quote;

/// The definitions an overlay relies on: `HOME_DIR`, `WORK_DIR` and Safehouse's `home-*` /
/// `workdir-*` helpers, exactly as Safehouse's `00-base.sb` defines them, for compiling an
/// overlay on its own (tests, `--check`). `(version 1)` and `(deny default)` are included.
pub fn helper_prelude(ctx: &super::SessionContext) -> String {
    let home = ctx.home.as_deref().map(quote).unwrap_or_else(|| "#f".into());
    let work = ctx.workdir.as_deref().map(quote).unwrap_or_else(|| "#f".into());
    format!(
        "(version 1)\n\
         (define HOME_DIR {home})\n\
         (define (home-subpath rel) (subpath (string-append HOME_DIR rel)))\n\
         (define (home-literal rel) (literal (string-append HOME_DIR rel)))\n\
         (define (home-prefix rel) (prefix (string-append HOME_DIR rel)))\n\
         (define WORK_DIR {work})\n\
         (define (workdir-path rel) (string-append (if (string=? WORK_DIR \"/\") \"\" WORK_DIR) rel))\n\
         (define (workdir-subpath rel) (subpath (workdir-path rel)))\n\
         (define (workdir-literal rel) (literal (workdir-path rel)))\n\
         (define (workdir-prefix rel) (prefix (workdir-path rel)))\n\
         (deny default)\n"
    )
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
