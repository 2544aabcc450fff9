//! The audit report in words: plain text that fits a terminal, Markdown for pull requests and
//! tickets, and one self-contained HTML file (inline style, no scripts, no external resources)
//! someone can open and share. JSON is the report's serde form and is not produced here.
//!
//! Every renderer shows the same sections in the same order: summary, activity, denials,
//! sensitive locations, evidence gaps, processes. Text from the session (paths, process names,
//! rule text) is escaped for the target format and never interpreted.

use std::fmt::Write as _;

use super::audit::{AuditReport, DenialCause};

/// Width the text renderer keeps within.
const TEXT_WIDTH: usize = 100;

/// Section ids and titles shared by the Markdown and HTML renderers.
pub const SECTIONS: [(&str, &str); 6] = [
    ("summary", "Summary"),
    ("activity", "Activity"),
    ("denials", "Denials"),
    ("sensitive", "Sensitive locations"),
    ("gaps", "Evidence gaps"),
    ("processes", "Processes"),
];

fn span_text(r: &AuditReport) -> String {
    match (r.span.first, r.span.last) {
        (Some(f), Some(l)) => format!("{} .. {} ({:.3} s)", f.to_rfc3339(), l.to_rfc3339(), r.span.seconds),
        _ => "unknown (no timestamps)".to_string(),
    }
}

fn summary_lines(r: &AuditReport) -> Vec<String> {
    let names: Vec<String> =
        r.sessions.iter().map(|s| if s.learning { format!("{} (learning)", s.name) } else { s.name.clone() }).collect();
    let mut lines = vec![
        format!("sessions: {}", names.join(", ")),
        format!("time span: {}", span_text(r)),
        format!(
            "{} reports in {} records: {} allowed, {} denied; {} processes; {} distinct targets",
            r.counts.reports, r.counts.records, r.counts.allow, r.counts.deny, r.counts.processes, r.counts.targets
        ),
    ];
    if r.sessions.iter().any(|s| s.learning) {
        lines.push(
            "in a learning session, `allowed` reports are accesses the policy would have denied (learn lets \
             them through and reports them)"
                .to_string(),
        );
    }
    lines
}

/// Shorten `s` to `max` characters, keeping both ends (paths are read from both sides).
fn fit(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max || max < 5 {
        return s.to_string();
    }
    let keep = max - 1;
    let head: String = s.chars().take(keep / 2).collect();
    let tail: String = s.chars().skip(n - (keep - keep / 2)).collect();
    format!("{head}…{tail}")
}

/// Word-wrap prose to the text width; continuation lines get `indent` more spaces than the first.
fn wrap(out: &mut String, first: &str, indent: usize) {
    let lead: String = first.chars().take_while(|c| *c == ' ').collect();
    let cont = format!("{lead}{}", " ".repeat(indent));
    let mut line = lead.clone();
    for word in printable(first).split_whitespace() {
        let room = TEXT_WIDTH.saturating_sub(line.chars().count() + 1);
        if line.trim().is_empty() {
            line.push_str(word);
        } else if word.chars().count() <= room {
            line.push(' ');
            line.push_str(word);
        } else {
            out.push_str(&fit(&line, TEXT_WIDTH));
            out.push('\n');
            line = format!("{cont}{word}");
        }
    }
    out.push_str(&fit(&line, TEXT_WIDTH));
    out.push('\n');
}

/// Control characters would corrupt a terminal: show them escaped.
fn printable(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

struct Style {
    color: bool,
}

impl Style {
    fn heading(&self, s: &str) -> String {
        if self.color {
            format!("\x1b[1m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn deny(&self, s: &str) -> String {
        if self.color {
            format!("\x1b[31m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// Plain text within 100 columns. `color` adds ANSI bold headings and red denials (callers pass
/// `false` when `NO_COLOR` is set or stdout is not a terminal).
pub fn text(r: &AuditReport, color: bool) -> String {
    let st = Style { color };
    let mut out = String::new();
    let line = |out: &mut String, s: &str| {
        out.push_str(&fit(&printable(s), TEXT_WIDTH));
        out.push('\n');
    };
    out.push_str(&st.heading("Safehouse audit"));
    out.push('\n');
    for l in summary_lines(r) {
        wrap(&mut out, &format!("  {l}"), 2);
    }

    out.push('\n');
    out.push_str(&st.heading("Activity"));
    out.push('\n');
    if r.activity.is_empty() {
        line(&mut out, "  (none)");
    }
    for class in &r.activity {
        line(&mut out, &format!("  {} ({} allowed, {} denied)", class.class.heading(), class.allow, class.deny));
        for a in &class.areas {
            let sample = a.samples.first().map(|s| s.as_str()).unwrap_or("");
            let head = format!("    {:<28} {:>7} allow {:>6} deny {:>6} targets  ", fit(&a.area, 28), a.allow, a.deny, a.distinct_targets);
            let room = TEXT_WIDTH.saturating_sub(head.chars().count());
            out.push_str(&head);
            out.push_str(&fit(&printable(sample), room));
            out.push('\n');
        }
    }

    out.push('\n');
    out.push_str(&st.heading(&format!("Denials ({})", r.denials.len())));
    out.push('\n');
    if r.denials.is_empty() {
        line(&mut out, "  (none)");
    }
    for d in &r.denials {
        let head = format!("  {:>6}x {} ", d.count, d.operation);
        let room = TEXT_WIDTH.saturating_sub(head.chars().count());
        out.push_str(&st.deny(&format!("{head}{}", fit(&printable(&d.target.raw), room))));
        out.push('\n');
        wrap(&mut out, &format!("          cause: {}", d.cause.describe()), 7);
        if let DenialCause::DenyRule { rule } | DenialCause::LearningFloor { rule } = &d.cause {
            wrap(&mut out, &format!("          rule: {}", rule.text), 6);
        }
        wrap(&mut out, &format!("          by: {}", d.processes.join(", ")), 4);
    }

    out.push('\n');
    out.push_str(&st.heading(&format!("Sensitive locations ({})", r.sensitive.len())));
    out.push('\n');
    if r.sensitive.is_empty() {
        line(&mut out, "  (none)");
    }
    for s in &r.sensitive {
        line(&mut out, &format!("  {} {}x {} {} [{}: {}]", s.action, s.count, s.operation, s.target.raw, s.tier, s.reason));
    }

    out.push('\n');
    out.push_str(&st.heading(&format!("Evidence gaps ({})", r.gaps.len())));
    out.push('\n');
    if r.gaps.is_empty() {
        line(&mut out, "  (none)");
    }
    for g in &r.gaps {
        wrap(&mut out, &format!("  {} [{}]: {}", kebab(&g.kind), g.session, g.detail), 4);
        for s in &g.samples {
            line(&mut out, &format!("      {s}"));
        }
    }

    out.push('\n');
    out.push_str(&st.heading(&format!("Processes ({})", r.processes.len())));
    out.push('\n');
    for p in &r.processes {
        let pids: Vec<String> = p.pids.iter().take(8).map(|p| p.to_string()).collect();
        let more = if p.pids.len() > 8 { ", …" } else { "" };
        line(
            &mut out,
            &format!("  {:<24} {:>8} reports {:>6} denied  pids {}{}", fit(&p.process, 24), p.reports, p.denials, pids.join(", "), more),
        );
    }
    out
}

fn kebab<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// Escape a table cell: pipes, backticks and newlines would break the table.
fn md_cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '`' => out.push_str("\\`"),
            '*' | '_' | '<' | '>' | '[' | ']' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => out.push_str(&c.escape_default().to_string()),
            c => out.push(c),
        }
    }
    out
}

/// GitHub-flavoured Markdown: one `##` heading per section, tables for lists.
pub fn markdown(r: &AuditReport) -> String {
    let mut out = String::from("# Safehouse audit\n\n");
    let _ = writeln!(out, "## {}\n", SECTIONS[0].1);
    for l in summary_lines(r) {
        let _ = writeln!(out, "- {}", md_cell(&l));
    }

    let _ = writeln!(out, "\n## {}\n", SECTIONS[1].1);
    let _ = writeln!(out, "| class | area | allowed | denied | targets | examples |\n|---|---|---:|---:|---:|---|");
    for class in &r.activity {
        for a in &class.areas {
            let samples: Vec<String> = a.samples.iter().map(|s| md_cell(s)).collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                class.class.as_str(),
                md_cell(&a.area),
                a.allow,
                a.deny,
                a.distinct_targets,
                samples.join("<br>")
            );
        }
    }

    let _ = writeln!(out, "\n## {}\n", SECTIONS[2].1);
    let _ = writeln!(out, "| reports | operation | target | cause | processes |\n|---:|---|---|---|---|");
    for d in &r.denials {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            d.count,
            md_cell(&d.operation),
            md_cell(&d.target.raw),
            md_cell(&d.cause.describe()),
            md_cell(&d.processes.join(", "))
        );
    }

    let _ = writeln!(out, "\n## {}\n", SECTIONS[3].1);
    let _ = writeln!(out, "| action | operation | target | tier | why | reports |\n|---|---|---|---|---|---:|");
    for s in &r.sensitive {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            s.action,
            md_cell(&s.operation),
            md_cell(&s.target.raw),
            md_cell(&s.tier),
            md_cell(&s.reason),
            s.count
        );
    }

    let _ = writeln!(out, "\n## {}\n", SECTIONS[4].1);
    if r.gaps.is_empty() {
        let _ = writeln!(out, "None seen.");
    }
    for g in &r.gaps {
        let _ = writeln!(out, "- **{}** ({}): {}", kebab(&g.kind), md_cell(&g.session), md_cell(&g.detail));
        for s in &g.samples {
            let _ = writeln!(out, "  - {}", md_cell(s));
        }
    }

    let _ = writeln!(out, "\n## {}\n", SECTIONS[5].1);
    let _ = writeln!(out, "| process | pids | reports | denied |\n|---|---|---:|---:|");
    for p in &r.processes {
        let pids: Vec<String> = p.pids.iter().map(|p| p.to_string()).collect();
        let _ = writeln!(out, "| {} | {} | {} | {} |", md_cell(&p.process), pids.join(", "), p.reports, p.denials);
    }
    out
}

fn h(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // C0 controls are shown as their Control Pictures (U+2400 + c), others by number.
            c if c.is_control() && c != '\n' => {
                let code = if (c as u32) < 0x20 { 0x2400 + c as u32 } else { c as u32 };
                let _ = write!(out, "&#x{code:x};");
            }
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:14px/1.45 -apple-system,system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#222}\
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.8em}\
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}\
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}code{font:12px ui-monospace,monospace;word-break:break-all}\
tr.deny td{background:#fff3f3}.cause{color:#a00}.none{color:#777}";

/// One self-contained HTML document: inline CSS, no scripts, no external resources.
pub fn html(r: &AuditReport) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>Safehouse audit</title>\
         <style>{STYLE}</style></head><body>\n<h1>Safehouse audit</h1>\n"
    );
    let section = |out: &mut String, i: usize| {
        let (id, title) = SECTIONS[i];
        let _ = writeln!(out, "<section id=\"{id}\"><h2>{title}</h2>");
    };

    section(&mut out, 0);
    out.push_str("<ul>");
    for l in summary_lines(r) {
        let _ = write!(out, "<li>{}</li>", h(&l));
    }
    out.push_str("</ul></section>\n");

    section(&mut out, 1);
    if r.activity.is_empty() {
        out.push_str("<p class=\"none\">No activity.</p>");
    }
    for class in &r.activity {
        let _ = write!(
            out,
            "<h3 data-class=\"{}\">{} <small>({} allowed, {} denied)</small></h3>\
             <table><thead><tr><th>area</th><th>allowed</th><th>denied</th><th>targets</th><th>examples</th></tr></thead><tbody>",
            class.class.as_str(),
            class.class.heading(),
            class.allow,
            class.deny
        );
        for a in &class.areas {
            let samples: Vec<String> = a.samples.iter().map(|s| format!("<code>{}</code>", h(s))).collect();
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                h(&a.area),
                a.allow,
                a.deny,
                a.distinct_targets,
                samples.join("<br>")
            );
        }
        out.push_str("</tbody></table>\n");
    }
    out.push_str("</section>\n");

    section(&mut out, 2);
    if r.denials.is_empty() {
        out.push_str("<p class=\"none\">No denials.</p>");
    } else {
        out.push_str("<table><thead><tr><th>reports</th><th>operation</th><th>target</th><th>cause</th><th>processes</th></tr></thead><tbody>");
        for d in &r.denials {
            let rule = match &d.cause {
                DenialCause::DenyRule { rule } | DenialCause::LearningFloor { rule } => {
                    format!("<br><code>{}</code>", h(&rule.text))
                }
                _ => String::new(),
            };
            let _ = write!(
                out,
                "<tr class=\"deny\"><td class=\"n\">{}</td><td><code>{}</code></td><td><code>{}</code></td>\
                 <td class=\"cause\">{}{}</td><td>{}</td></tr>",
                d.count,
                h(&d.operation),
                h(&d.target.raw),
                h(&d.cause.describe()),
                rule,
                h(&d.processes.join(", "))
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</section>\n");

    section(&mut out, 3);
    if r.sensitive.is_empty() {
        out.push_str("<p class=\"none\">No sensitive location was touched.</p>");
    } else {
        out.push_str("<table><thead><tr><th>action</th><th>operation</th><th>target</th><th>tier</th><th>why</th><th>reports</th></tr></thead><tbody>");
        for s in &r.sensitive {
            let _ = write!(
                out,
                "<tr><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                s.action,
                h(&s.operation),
                h(&s.target.raw),
                h(&s.tier),
                h(&s.reason),
                s.count
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</section>\n");

    section(&mut out, 4);
    if r.gaps.is_empty() {
        out.push_str("<p class=\"none\">None seen.</p>");
    } else {
        out.push_str("<ul>");
        for g in &r.gaps {
            let _ = write!(out, "<li data-gap=\"{0}\"><b>{0}</b> ({1}): {2}", h(&kebab(&g.kind)), h(&g.session), h(&g.detail));
            if !g.samples.is_empty() {
                out.push_str("<ul>");
                for s in &g.samples {
                    let _ = write!(out, "<li><code>{}</code></li>", h(s));
                }
                out.push_str("</ul>");
            }
            out.push_str("</li>");
        }
        out.push_str("</ul>");
    }
    out.push_str("</section>\n");

    section(&mut out, 5);
    out.push_str("<table><thead><tr><th>process</th><th>pids</th><th>reports</th><th>denied</th></tr></thead><tbody>");
    for p in &r.processes {
        let pids: Vec<String> = p.pids.iter().map(|p| p.to_string()).collect();
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            h(&p.process),
            pids.join(", "),
            p.reports,
            p.denials
        );
    }
    out.push_str("</tbody></table></section>\n</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Action, Event};
    use crate::report::area::Places;
    use crate::report::audit::{Auditor, Judgement};
    use crate::target::Target;

    fn report() -> AuditReport {
        let mut a = Auditor::new(Places::default());
        let hostile = "/tmp/<script>alert(1)</script>|`x`\u{1b}[31m";
        a.observe(&Event::new("evil <b>", Some(1), Action::Deny, "file-read-data", Target::path(hostile)), Judgement::default());
        a.observe(&Event::new("p", Some(2), Action::Allow, "file-read-data", Target::path("/usr/lib/x")), Judgement::default());
        a.finish()
    }

    #[test]
    fn html_escapes_and_has_every_section() {
        let html = html(&report());
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<b>\""));
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains('\u{1b}'));
        for (id, _) in SECTIONS {
            assert!(html.contains(&format!("<section id=\"{id}\">")), "{id}");
        }
    }

    #[test]
    fn markdown_escapes_cells() {
        let md = markdown(&report());
        assert!(md.contains("\\|\\`x\\`"));
        for (_, title) in SECTIONS {
            assert!(md.contains(&format!("## {title}")), "{title}");
        }
    }

    #[test]
    fn text_fits_and_has_no_escape_codes_without_color() {
        let long = format!("/{}", "a/".repeat(200));
        let mut a = Auditor::new(Places::default());
        a.observe(&Event::new("p", Some(2), Action::Deny, "file-read-data", Target::path(long)), Judgement::default());
        let t = text(&a.finish(), false);
        assert!(t.lines().all(|l| l.chars().count() <= TEXT_WIDTH), "{t}");
        assert!(!t.contains('\u{1b}'));
        let t = text(&report(), false);
        assert!(!t.contains('\u{1b}'), "{t}");
    }
}
