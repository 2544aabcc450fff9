//! End-to-end tests of `safehouse tighten` on our sample policy and usage sessions
//! (`samples/tighten/`): the exact findings, the ledger, the edit of the owned overlay.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

fn sample(name: &str) -> PathBuf {
    support::repo_root().join("samples/tighten").join(name)
}

/// Run `safehouse tighten` with the sample base profile and `overlay`, in UTC.
fn tighten(overlay: &Path, ledger: &Path, extra: &[&str]) -> Output {
    support::safehouse()
        .env("TZ", "UTC")
        .env("NO_COLOR", "1")
        .arg("tighten")
        .arg("--profile")
        .arg(sample("base.sb"))
        .arg("--overlay")
        .arg(overlay)
        .arg("--ledger")
        .arg(ledger)
        .args(extra)
        .output()
        .expect("run safehouse")
}

fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("tighten --json prints JSON")
}

/// The sample overlay copied into a temp dir (tests edit it), with its name as the engine sees it.
fn overlay_copy(dir: &Path) -> PathBuf {
    let path = dir.join("overlay.sb");
    std::fs::copy(sample("overlay.sb"), &path).unwrap();
    path
}

fn sessions() -> Vec<String> {
    vec![sample("usage-1.log").display().to_string(), sample("usage-2.log").display().to_string()]
}

#[test]
fn finds_one_of_each_kind_with_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let overlay = overlay_copy(dir.path());
    let ledger = dir.path().join("usage.json");
    let s = sessions();
    let out = tighten(&overlay, &ledger, &["--min-sessions", "2", "--json", &s[0], &s[1]]);
    let report = json_of(&out);
    let o = overlay.display().to_string();
    let base = sample("base.sb").display().to_string();

    assert_eq!(report["safehouse_tighten"], 1);
    assert_eq!(report["sessions"], 2);
    let findings = report["findings"].as_array().unwrap();
    let summary: Vec<(String, Value, Value)> = findings
        .iter()
        .map(|f| (f["kind"].as_str().unwrap().to_string(), f["rule"]["line"].clone(), f["module"].clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("unused-module".into(), Value::Null, json!("55-integrations-optional/docker.sb")),
            ("narrowable".into(), json!(3), Value::Null),
            ("redundant".into(), json!(4), Value::Null),
            ("unused".into(), json!(5), Value::Null),
            ("shadowed".into(), json!(6), Value::Null),
        ]
    );

    // The optional module nobody used: drop its --enable.
    assert_eq!(findings[0]["change"], json!({"action": "drop-module", "module": "docker", "flag": "--enable=docker"}));
    assert_eq!(findings[0]["editable"], false);

    // The broad Library subpath: only ToolX's files and one plist were used: narrowed like learn.
    let narrow = &findings[1];
    assert_eq!(narrow["rule"]["file"], o);
    assert_eq!(narrow["rule"]["text"], "(allow file-read* (subpath \"/Users/alice/Library\"))");
    assert_eq!(narrow["change"]["action"], "replace");
    // The rules the learner proposes, in its order (by purpose): compared as a set here.
    let mut rules: Vec<&str> = narrow["change"]["rules"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    rules.sort();
    assert_eq!(
        json!(rules),
        json!([
            "(allow file-read*\n    (literal \"/Users/alice/Library/Application Support/ToolX/cache/a1\")\n    (literal \"/Users/alice/Library/Application Support/ToolX/cache/b2\"))",
            "(allow file-read*\n    (literal \"/Users/alice/Library/Application Support/ToolX/settings.json\")\n    (literal \"/Users/alice/Library/Application Support/ToolX/state.json\"))",
            "(allow file-read* (literal \"/Users/alice/Library/Preferences/com.toolx.plist\"))"
        ])
    );
    assert_eq!(narrow["evidence"]["distinct_targets"], 5);
    assert_eq!(narrow["evidence"]["used_in"], 2);
    assert_eq!(narrow["evidence"]["hits"], 8);

    // The literal the workdir grant already covers.
    let redundant = &findings[2];
    assert_eq!(redundant["rule"]["text"], "(allow file-read* (literal \"/Users/alice/src/project/package.json\"))");
    assert_eq!(redundant["by"]["file"], base);
    assert_eq!(redundant["by"]["line"], 32);
    assert_eq!(redundant["by"]["layer"], "selected workdir");
    assert_eq!(redundant["change"], json!({"action": "remove"}));

    // The Mach service never looked up.
    let unused = &findings[3];
    assert_eq!(unused["rule"]["text"], "(allow mach-lookup (global-name \"com.example.helper\"))");
    assert_eq!(unused["evidence"]["sessions"], 2);
    assert_eq!(unused["evidence"]["hits"], 0);

    // The write grant the later deny overrides.
    let shadowed = &findings[4];
    assert_eq!(shadowed["rule"]["text"], "(allow file-write* (literal \"/Users/alice/src/project/.env\"))");
    assert_eq!(shadowed["by"]["line"], 8);
    assert_eq!(shadowed["by"]["text"], "(deny file-read* file-write* (literal \"/Users/alice/src/project/.env\"))");

    // Unused rules in the base profile are counted, not listed or edited.
    assert_eq!(report["not_owned"], json!({"unused": 5}));
}

#[test]
fn ledger_counts_each_session_once_and_accumulates() {
    let dir = tempfile::tempdir().unwrap();
    let overlay = overlay_copy(dir.path());
    let ledger = dir.path().join("usage.json");
    let s = sessions();
    // One session is not enough evidence that something is unused.
    let first = json_of(&tighten(&overlay, &ledger, &["--min-sessions", "2", "--json", &s[0]]));
    let kinds: Vec<&str> = first["findings"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert!(!kinds.contains(&"unused") && !kinds.contains(&"unused-module"), "{kinds:?}");
    // Replaying the same session again does not count it twice.
    let again = tighten(&overlay, &ledger, &["--min-sessions", "2", "--json", &s[0]]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already counted"));
    assert_eq!(json_of(&again)["sessions"], 1);
    // The second session, read on its own, completes the evidence from the ledger.
    let second = json_of(&tighten(&overlay, &ledger, &["--min-sessions", "2", "--json", &s[1]]));
    assert_eq!(second["sessions"], 2);
    let kinds: Vec<&str> = second["findings"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["unused-module", "narrowable", "redundant", "unused", "shadowed"]);
    // The ledger is versioned JSON naming its sessions.
    let ledger_json: Value = serde_json::from_str(&std::fs::read_to_string(&ledger).unwrap()).unwrap();
    assert_eq!(ledger_json["safehouse_usage"], 1);
    assert_eq!(ledger_json["sessions"].as_array().unwrap().len(), 2);
    // --no-record leaves the ledger alone.
    let before = std::fs::read_to_string(&ledger).unwrap();
    let extra = dir.path().join("extra.log");
    std::fs::write(&extra, std::fs::read_to_string(sample("usage-1.log")).unwrap().replace("2026-11-30", "2026-12-05")).unwrap();
    let e = extra.display().to_string();
    json_of(&tighten(&overlay, &ledger, &["--min-sessions", "2", "--json", "--no-record", &e]));
    assert_eq!(std::fs::read_to_string(&ledger).unwrap(), before);
}

#[test]
fn yes_edits_only_the_overlay_and_the_result_still_allows_the_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let overlay = overlay_copy(dir.path());
    let ledger = dir.path().join("usage.json");
    let s = sessions();
    let out = tighten(&overlay, &ledger, &["--min-sessions", "2", "--yes", &s[0], &s[1]]);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("wrote "), "{stdout}");
    let text = std::fs::read_to_string(&overlay).unwrap();
    let narrowed = [
        "(allow file-read*\n    (literal \"/Users/alice/Library/Application Support/ToolX/cache/a1\")\n    (literal \"/Users/alice/Library/Application Support/ToolX/cache/b2\"))\n",
        "(allow file-read*\n    (literal \"/Users/alice/Library/Application Support/ToolX/settings.json\")\n    (literal \"/Users/alice/Library/Application Support/ToolX/state.json\"))\n",
        "(allow file-read* (literal \"/Users/alice/Library/Preferences/com.toolx.plist\"))\n",
    ];
    let head = ";; safehouse sample: an overlay the user owns (appended after base.sb), holding grants added by\n;; hand and by earlier `learn` runs. `tighten` finds one of each kind of problem here.\n";
    let tail = "(allow network-outbound (remote ip \"*:443\"))\n(deny file-read* file-write* (literal \"/Users/alice/src/project/.env\"))\n";
    // The narrowed rules take the broad rule's place; the removed rules are gone; the rest is kept.
    assert!(text.starts_with(head) && text.ends_with(tail), "{text}");
    let middle = &text[head.len()..text.len() - tail.len()];
    assert_eq!(middle.len(), narrowed.iter().map(|r| r.len()).sum::<usize>(), "{text}");
    for rule in narrowed {
        assert!(middle.contains(rule), "{rule} missing from:\n{text}");
    }
    // The previous version is kept; the base profile is untouched.
    assert_eq!(std::fs::read_to_string(dir.path().join("overlay.sb.bak")).unwrap(), std::fs::read_to_string(sample("overlay.sb")).unwrap());

    // The tightened policy compiles and still allows every access of both sessions.
    let check = support::safehouse().arg("check").arg(sample("base.sb")).arg(&overlay).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    let mut batch = String::new();
    for session in ["usage-1.log", "usage-2.log"] {
        for line in std::fs::read_to_string(sample(session)).unwrap().lines().skip(1) {
            let report = line.split(" allow ").nth(1).unwrap();
            let (op, target) = report.split_once(' ').unwrap();
            batch.push_str(&format!("{op}\t{target}\n"));
        }
    }
    let batch_file = dir.path().join("batch.tsv");
    std::fs::write(&batch_file, batch).unwrap();
    let explain = support::safehouse()
        .arg("explain")
        .arg("--profile")
        .arg(sample("base.sb"))
        .arg("--profile")
        .arg(&overlay)
        .arg("--batch")
        .arg(&batch_file)
        .output()
        .unwrap();
    assert!(explain.status.success());
    let decisions: Vec<Value> = String::from_utf8_lossy(&explain.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(decisions.len(), 33);
    for d in &decisions {
        assert_eq!(d["decision"], "allow", "{d}");
    }

    // Nothing is left to tighten in the overlay once the findings are applied (the module stays a
    // suggestion: it is not in a file we own).
    let after = json_of(&tighten(&overlay, &ledger, &["--min-sessions", "2", "--json"]));
    let kinds: Vec<&str> = after["findings"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["unused-module"]);
}

#[test]
fn without_yes_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let overlay = overlay_copy(dir.path());
    let ledger = dir.path().join("usage.json");
    let s = sessions();
    let out = tighten(&overlay, &ledger, &["--min-sessions", "2", &s[0], &s[1]]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("-(allow mach-lookup (global-name \"com.example.helper\"))"), "{stdout}");
    assert!(stdout.contains("not written"), "{stdout}");
    assert_eq!(std::fs::read_to_string(&overlay).unwrap(), std::fs::read_to_string(sample("overlay.sb")).unwrap());
    assert!(!dir.path().join("overlay.sb.bak").exists());
}

#[test]
fn bad_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let overlay = overlay_copy(dir.path());
    let ledger = dir.path().join("usage.json");
    // A missing session.
    let out = tighten(&overlay, &ledger, &["/nonexistent/session.log"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/session.log"));
    // A profile that does not compile: file:line:col.
    let broken = dir.path().join("broken.sb");
    std::fs::write(&broken, "(version 1)\n(allow file-read* (subpath \"/x\")\n").unwrap();
    let out = tighten(&broken, &ledger, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.sb:2:"), "{err}");
    // A ledger that is not one.
    std::fs::write(&ledger, "{\n  \"safehouse_usage\": 1,\n  oops\n").unwrap();
    let out = tighten(&overlay, &ledger, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage.json:3:"), "{}", String::from_utf8_lossy(&out.stderr));
    // Nothing was written anywhere.
    assert_eq!(std::fs::read_to_string(&overlay).unwrap(), std::fs::read_to_string(sample("overlay.sb")).unwrap());
}

#[test]
fn generated_safehouse_policy_reports_unused_optional_modules() {
    let Some(shared) = support::shared_dir("generated_safehouse_policy_reports_unused_optional_modules") else { return };
    let policy = shared.join("corpus/safehouse/generated/enable-docker.sb");
    let dir = tempfile::tempdir().unwrap();
    let out = support::safehouse()
        .env("TZ", "UTC")
        .args(["tighten", "--json", "--min-sessions", "1", "--ledger"])
        .arg(dir.path().join("usage.json"))
        .arg("--profile")
        .arg(&policy)
        .arg(sample("usage-1.log"))
        .output()
        .unwrap();
    let report = json_of(&out);
    let modules: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "unused-module")
        .map(|f| f["change"]["flag"].as_str().unwrap())
        .collect();
    assert_eq!(modules, vec!["--enable=docker"]);
    // Nothing is owned: every other finding is only counted.
    assert!(report["findings"].as_array().unwrap().iter().all(|f| f["kind"] == "unused-module"));
}

/// `tighten --capture` on Linux: the command is traced, every access decided by our engine and
/// attributed to its rule, the session archived under the state dir and counted.
#[test]
fn capture_counts_a_traced_run() {
    if !Command::new("strace").arg("-V").output().is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED capture_counts_a_traced_run: strace is not installed (apt-get install strace)");
        return;
    }
    // A directory name the learner does not read as volatile (no random or numeric part), so the
    // narrowed grant is a plain path under it.
    let letters: String = std::process::id().to_string().chars().map(|d| (b'a' + d as u8 - b'0') as char).collect();
    let root = std::env::temp_dir().join(format!("safehouse-tighten-capture-{letters}"));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let root = std::fs::canonicalize(&root).unwrap();
    struct Cleanup(PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = Cleanup(root.clone());
    std::fs::create_dir_all(root.join("data/used")).unwrap();
    std::fs::create_dir_all(root.join("data/other")).unwrap();
    std::fs::create_dir_all(root.join("home")).unwrap();
    std::fs::write(root.join("data/used/a.txt"), "hello\n").unwrap();
    std::fs::write(root.join("data/other/b.txt"), "other\n").unwrap();
    let base = root.join("base.sb");
    std::fs::write(&base, "(version 1)\n(deny default)\n(allow file-read* (subpath \"/usr\") (subpath \"/lib\") (subpath \"/etc\"))\n(allow process-exec (subpath \"/usr/bin\") (subpath \"/bin\"))\n").unwrap();
    let overlay = root.join("overlay.sb");
    let data = root.join("data").display().to_string();
    std::fs::write(&overlay, format!("(allow file-read* (subpath \"{data}\"))\n(allow mach-lookup (global-name \"com.example.never\"))\n")).unwrap();
    let out = support::safehouse()
        .env("XDG_STATE_HOME", root.join("state"))
        .env("HOME", root.join("home"))
        .args(["tighten", "--capture", "--json", "--min-sessions", "1"])
        .arg("--ledger")
        .arg(root.join("usage.json"))
        .arg("--profile")
        .arg(&base)
        .arg("--overlay")
        .arg(&overlay)
        .arg("--workdir")
        .arg(root.join("home"))
        .arg("--")
        .arg("cat")
        .arg(root.join("data/used/a.txt"))
        .output()
        .unwrap();
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    // The agent's own output comes first (its terminal is passed through), then the report.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("hello\n"), "{stdout}");
    let report: Value = serde_json::from_str(&stdout["hello\n".len()..]).unwrap();
    let kinds: Vec<(&str, Value)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["kind"].as_str().unwrap(), f["rule"]["line"].clone()))
        .collect();
    assert_eq!(kinds, vec![("narrowable", json!(1)), ("unused", json!(2))], "{report}");
    // The narrowed grant covers the file that was read and not its sibling directory.
    let rules = report["findings"][0]["change"]["rules"].as_array().unwrap();
    let text: Vec<&str> = rules.iter().map(|r| r.as_str().unwrap()).collect();
    assert!(text.iter().any(|r| r.contains("data/used")), "{text:?}");
    assert!(!text.iter().any(|r| r.contains("data/other") || r.contains(&format!("(subpath \"{data}\")"))), "{text:?}");
    // The traced session was archived under the state dir.
    let sessions: Vec<_> = std::fs::read_dir(root.join("state/safehouse/sessions")).unwrap().collect();
    assert_eq!(sessions.len(), 1);
}
