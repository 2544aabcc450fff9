//! End-to-end tests of `safehouse audit` on our sample sessions (`samples/audit/`): every section
//! of the JSON report asserted, the text and Markdown renderings, and the HTML file opened in
//! headless Chromium.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{json, Value};

fn sample(name: &str) -> PathBuf {
    support::repo_root().join("samples/audit").join(name)
}

fn audit(extra: &[&str]) -> Output {
    support::safehouse()
        .env("TZ", "UTC")
        .env("NO_COLOR", "1")
        .arg("audit")
        .arg(sample("learn-session.archive"))
        .arg(sample("enforced-session.log"))
        .arg("--profile")
        .arg(sample("profile.sb"))
        .args(extra)
        .output()
        .expect("run safehouse")
}

fn names(v: &Value, key: &str) -> Vec<String> {
    v.as_array().unwrap().iter().map(|x| x[key].as_str().unwrap_or_default().to_string()).collect()
}

#[test]
fn json_report_has_every_section() {
    let out = audit(&["--format", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let learn = sample("learn-session.archive").display().to_string();
    let enforced = sample("enforced-session.log").display().to_string();
    assert_eq!(r["safehouse_audit"], 1);

    // Sessions, counts and time span.
    assert_eq!(
        r["sessions"],
        json!([
            {"name": learn, "learning": true, "records": 11, "reports": 14, "first": "2026-12-02T09:00:01+01:00", "last": "2026-12-02T09:00:05+01:00"},
            {"name": enforced, "records": 4, "reports": 8, "first": "2026-12-03T14:10:00.120+01:00", "last": "2026-12-03T14:10:02.500+01:00"}
        ])
    );
    assert_eq!(r["counts"], json!({"records": 15, "reports": 22, "allow": 10, "deny": 12, "processes": 5, "targets": 13}));
    assert_eq!(r["span"], json!({"first": "2026-12-02T09:00:01+01:00", "last": "2026-12-03T14:10:02.500+01:00", "seconds": 105001.5}));

    // What was read, written, executed, looked up and contacted, by area.
    let activity: Vec<(String, u64, u64, Vec<String>)> = r["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (c["class"].as_str().unwrap().to_string(), c["allow"].as_u64().unwrap(), c["deny"].as_u64().unwrap(), names(&c["areas"], "area"))
        })
        .collect();
    let areas = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        activity,
        vec![
            ("read".into(), 5, 5, areas(&["$WORKDIR/.env", "~/.npm/_cacache", "/Library/Application Support", "~/.gitconfig", "~/.ssh", "~/.zshrc"])),
            ("write".into(), 1, 1, areas(&["~/.npm/_logs", "~/Desktop"])),
            ("exec".into(), 1, 0, areas(&["/usr/local"])),
            ("lookup".into(), 2, 6, areas(&["com.apple", "kern"])),
            ("contact".into(), 1, 0, areas(&["/private/var"])),
        ]
    );
    let lookups = &r["activity"][3]["areas"][0];
    assert_eq!(lookups, &json!({"area": "com.apple", "allow": 1, "deny": 6, "distinct_targets": 2, "samples": ["com.apple.geod", "com.apple.SecurityServer"]}));

    // Every denial with its cause.
    let denials: Vec<(String, String, u64, Value)> = r["denials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (d["operation"].as_str().unwrap().into(), d["target"]["raw"].as_str().unwrap().into(), d["count"].as_u64().unwrap(), d["cause"].clone())
        })
        .collect();
    let profile = sample("profile.sb").display().to_string();
    // The secret was kept denied by `learn`'s floor (the archive names its learning tag).
    let floor_cause = r["denials"][1]["cause"].clone();
    assert_eq!(floor_cause["kind"], "learning-floor");
    assert_eq!(floor_cause["rule"]["file"], "<learning floor>");
    assert!(floor_cause["rule"]["text"].as_str().unwrap().contains("(prefix \"/Users/alice/.ssh/id_\")"), "{floor_cause}");
    assert_eq!(
        denials,
        vec![
            (
                "file-read-data".into(),
                "/Users/alice/src/project/.env".into(),
                3,
                json!({"kind": "deny-rule", "rule": {"file": profile, "line": 18, "text": "(deny file-read* file-write* (literal \"/Users/alice/src/project/.env\"))"}})
            ),
            ("file-read-data".into(), "/Users/alice/.ssh/id_ed25519".into(), 1, floor_cause.clone()),
            ("mach-lookup".into(), "com.apple.geod".into(), 6, json!({"kind": "missing-rule"})),
            ("file-write-create".into(), "/Users/alice/Desktop/report.pdf".into(), 1, json!({"kind": "missing-rule"})),
            ("file-read-data".into(), "/Library/Application Support/com.apple.TCC/TCC.db".into(), 1, json!({"kind": "platform-policy"})),
        ]
    );
    // Each denial says who, when, and where its first report was read (raw logs carry the place;
    // archive events carry whatever provenance they were recorded with, here none).
    assert_eq!(r["denials"][0]["processes"], json!(["git", "node"]));
    assert_eq!(r["denials"][0]["first_seen"], "2026-12-02T09:00:03+01:00");
    assert_eq!(r["denials"][0].get("file"), None);
    assert_eq!(r["denials"][2]["file"], enforced);
    assert_eq!(r["denials"][2]["line"], 2);

    // Sensitive locations touched, allowed or denied (the learner's tiers).
    let sensitive: Vec<(String, String, String)> = r["sensitive"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["action"].as_str().unwrap().into(), s["target"]["raw"].as_str().unwrap().into(), s["tier"].as_str().unwrap().into()))
        .collect();
    let t = |a: &str, p: &str, tier: &str| (a.to_string(), p.to_string(), tier.to_string());
    assert_eq!(
        sensitive,
        vec![
            t("deny", "/Users/alice/.ssh/id_ed25519", "never"),
            t("deny", "/Users/alice/src/project/.env", "never"),
            t("allow", "/Users/alice/.gitconfig", "review"),
            t("allow", "/Users/alice/.zshrc", "review"),
            t("allow", "com.apple.SecurityServer", "review"),
        ]
    );

    // Evidence gaps.
    let gaps: Vec<(String, String, u64)> = r["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["kind"].as_str().unwrap().into(), g["session"].as_str().unwrap().into(), g["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        gaps,
        vec![
            ("folded-duplicates".into(), learn.clone(), 3),
            ("late-reports".into(), learn.clone(), 1),
            ("stream-started-after-agent".into(), learn.clone(), 1),
            ("exit-without-denial".into(), learn.clone(), 1),
            ("folded-duplicates".into(), enforced.clone(), 4),
        ]
    );
    assert_eq!(r["gaps"][1]["samples"], json!(["2026-12-02T09:00:01.500+01:00 claude(5100) allow sysctl-read kern.hostname"]));
    assert_eq!(r["gaps"][3]["samples"], json!(["npm(5120) exited with status 1"]));

    // Processes.
    assert_eq!(
        r["processes"],
        json!([
            {"process": "cat", "pids": [5130], "records": 1, "reports": 1, "denials": 1},
            {"process": "claude", "pids": [5100], "records": 6, "reports": 6, "denials": 0},
            {"process": "git", "pids": [6210], "records": 1, "reports": 1, "denials": 1},
            {"process": "node", "pids": [5110, 6200], "records": 5, "reports": 10, "denials": 10},
            {"process": "npm", "pids": [5120], "records": 2, "reports": 4, "denials": 0}
        ])
    );

    // Same input, same bytes.
    assert_eq!(audit(&["--json"]).stdout, out.stdout);
}

#[test]
fn without_a_profile_causes_are_unknown_but_platform_policy_is_known() {
    let out = support::safehouse().env("TZ", "UTC").arg("audit").arg("--json").arg(sample("enforced-session.log")).output().unwrap();
    assert!(out.status.success());
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = r["denials"].as_array().unwrap().iter().map(|d| d["cause"]["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["unknown", "unknown", "unknown"]);
}

#[test]
fn text_fits_a_terminal_and_markdown_has_every_section() {
    let out = audit(&[]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains('\u{1b}'), "NO_COLOR and not a terminal: no escape codes");
    for line in text.lines() {
        assert!(line.chars().count() <= 100, "too wide: {line}");
    }
    for heading in ["Activity", "Denials (5)", "Sensitive locations (5)", "Evidence gaps (5)", "Processes (5)"] {
        assert!(text.contains(heading), "{heading} missing:\n{text}");
    }
    assert!(text.contains("cause: learning floor"), "{text}");
    assert!(text.contains("learn-session.archive (learning)"), "{text}");

    let md = String::from_utf8(audit(&["--format", "markdown"]).stdout).unwrap();
    for heading in ["## Summary", "## Activity", "## Denials", "## Sensitive locations", "## Evidence gaps", "## Processes"] {
        assert!(md.contains(heading), "{heading} missing");
    }
    assert!(md.contains("| 6 | mach-lookup | com.apple.geod | missing rule (fell through to the default deny) | node |"), "{md}");
}

/// The HTML report is one file Chromium renders with every section.
#[test]
fn html_renders_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("audit.html");
    let out = audit(&["--format", "html", "-o", html.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&html).unwrap();
    // Self-contained: no scripts, no external resources.
    assert!(!text.contains("<script") && !text.contains("src=") && !text.contains("href="));

    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()));
    let Some(chromium) = chromium else {
        eprintln!("SKIPPED html_renders_in_headless_chromium: no chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)");
        return;
    };
    let dom = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        .arg(format!("--user-data-dir={}", dir.path().join("profile").display()))
        .arg("--dump-dom")
        .arg(&html)
        .output()
        .expect("run chromium");
    assert!(dom.status.success(), "chromium failed: {}", String::from_utf8_lossy(&dom.stderr));
    let dom = String::from_utf8_lossy(&dom.stdout);
    for (id, title) in [
        ("summary", "Summary"),
        ("activity", "Activity"),
        ("denials", "Denials"),
        ("sensitive", "Sensitive locations"),
        ("gaps", "Evidence gaps"),
        ("processes", "Processes"),
    ] {
        assert!(dom.contains(&format!("<section id=\"{id}\"><h2>{title}</h2>")), "section {id} not rendered");
    }
    assert_eq!(dom.matches("<tr class=\"deny\">").count(), 5, "one row per denial");
    assert_eq!(dom.matches("<li data-gap=").count(), 5, "one item per gap");
    assert_eq!(dom.matches("<h3 data-class=").count(), 5, "one table per access class");
    assert!(dom.contains("learning floor"));
    assert!(dom.contains("<code>/Users/alice/.ssh/id_ed25519</code>"));
}

#[test]
fn bad_inputs_exit_2_with_the_place() {
    let out = support::safehouse().args(["audit", "/nonexistent/session.log"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/session.log"));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.archive");
    let archive = std::fs::read_to_string(sample("learn-session.archive")).unwrap();
    let mut lines: Vec<&str> = archive.lines().collect();
    lines[3] = "{\"process\": 7}";
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let out = support::safehouse().arg("audit").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.archive:4:"), "{err}");

    let profile = dir.path().join("p.sb");
    std::fs::write(&profile, "(version 1)\n(allow file-read* (subpath \"/x\")\n").unwrap();
    let out = support::safehouse().arg("audit").arg(sample("enforced-session.log")).arg("--profile").arg(&profile).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("p.sb:2:"));
}
