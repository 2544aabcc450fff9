//! `safehouse check` and `safehouse explain` end to end: output, JSON schema, batch mode, exit codes.

mod support;

use std::io::Write;
use std::process::{Output, Stdio};

fn run(args: &[&str]) -> Output {
    support::safehouse().args(args).current_dir(support::repo_root()).output().expect("run safehouse")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).expect("write profile");
    p.display().to_string()
}

const MINIMAL: &str = "samples/profiles/minimal.sb";

#[test]
fn check_prints_a_summary_and_exits_zero() {
    let o = run(&["check", MINIMAL]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("ok: 1 file(s), "), "{out}");
    assert!(out.contains(" rules (+"), "{out}");
    assert!(out.contains("params used: none"), "{out}");
    let o = run(&["check", "--json", MINIMAL]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["ok"], true);
    assert!(v["rules"].as_u64().unwrap() >= 10);
    assert!(v["operations"].as_array().unwrap().iter().any(|o| o == "file-read*"));
}

#[test]
fn check_reports_errors_with_position_and_caret() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(&dir, "bad.sb", "(version 1)\n(deny default)\n(allow file-read* (subpath HOME))\n");
    let o = run(&["check", &bad]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains(&format!("{bad}:3:28: unbound variable: HOME")), "{err}");
    assert!(err.contains("\n  (allow file-read* (subpath HOME))\n                             ^"), "{err}");
    // With the parameter it is fine; params are reported.
    let good = write(&dir, "good.sb", "(version 1)\n(deny default)\n(allow file-read* (subpath (param \"HOME\")))\n");
    let o = run(&["check", "-D", "HOME=/Users/a", &good]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("params used: HOME"), "{}", stdout(&o));
    // Usage errors: a missing file, a bad -D.
    assert_eq!(run(&["check", "/nonexistent/x.sb"]).status.code(), Some(2));
    assert_eq!(run(&["check", "-D", "NOEQUALS", &good]).status.code(), Some(2));
}

#[test]
fn check_reads_files_in_order_as_one_policy() {
    let dir = tempfile::tempdir().unwrap();
    let base = write(&dir, "base.sb", "(version 1)\n(deny default)\n(define ROOT \"/r\")\n");
    let extra = write(&dir, "extra.sb", "(allow file-read* (subpath ROOT))\n");
    let o = run(&["check", &base, &extra]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("ok: 2 file(s)"));
    // The other order fails: ROOT is not defined yet.
    assert_eq!(run(&["check", &extra, &base]).status.code(), Some(1));
}

#[test]
fn explain_text_names_the_rule_and_layer() {
    let o = run(&["explain", "--profile", MINIMAL, "file-read-data", "/Users/alice/src/project/.env"]);
    assert_eq!(o.status.code(), Some(0), "explain exits 0 whatever the decision");
    let out = stdout(&o);
    assert!(out.starts_with("deny file-read-data /Users/alice/src/project/.env\n"), "{out}");
    assert!(out.contains("samples/profiles/minimal.sb:42:1 [layer minimal.sb]"), "{out}");
    assert!(out.contains("matched (literal \"/Users/alice/src/project/.env\")"), "{out}");
    let o = run(&["explain", "--profile", MINIMAL, "file-read-data", "/tmp/x"]);
    let out = stdout(&o);
    assert!(out.contains("the default applies"), "{out}");
    assert!(out.contains("/tmp is a symlink to /private/tmp"), "{out}");
    let o = run(&["explain", "--profile", MINIMAL, "file-raed-data", "/usr/bin/env"]);
    let out = stdout(&o);
    assert!(out.contains("`file-raed-data` is not an operation this engine knows"), "{out}");
    assert!(out.contains("file-raed-data -> file* -> default"), "{out}");
}

#[test]
fn explain_json_schema() {
    let o = run(&["explain", "--json", "--profile", MINIMAL, "file-read-data", "/Users/alice/src/project/README.md"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["operation"], "file-read-data");
    assert_eq!(v["target"]["raw"], "/Users/alice/src/project/README.md");
    assert_eq!(v["target"]["kind"], "path");
    assert_eq!(v["rule"]["file"], MINIMAL);
    assert_eq!(v["rule"]["line"], 35);
    assert_eq!(v["rule"]["layer"], "minimal.sb");
    assert_eq!(v["rule"]["text"], "(allow file-read* file-write* (subpath WORK_DIR))");
    assert_eq!(v["rule"]["filter"], "(subpath \"/Users/alice/src/project\")");
    assert_eq!(v["decided_by"], "file-read*");
    assert_eq!(v["default"], serde_json::Value::Null);
    // A default decision: rule is null, `default` says which.
    let o = run(&["explain", "--json", "--profile", MINIMAL, "mach-lookup", "com.apple.other"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["decision"], "deny");
    assert_eq!(v["rule"], serde_json::Value::Null);
    assert_eq!(v["default"]["kind"], "default");
    assert_eq!(v["default"]["rule"]["text"], "(deny default)");
    // Indeterminate: the log hides the host of a TCP connection.
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "net.sb", "(version 1)(deny default)(allow network-outbound (remote ip \"localhost:5432\"))");
    let o = run(&["explain", "--json", "--profile", &p, "network-outbound", "remote:*:5432"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["decision"], "indeterminate");
    assert_eq!(v["uncertain"][0]["kind"], "rule");
    assert_eq!(v["uncertain"][0]["line"], 1);
}

#[test]
fn explain_with_params_and_several_profiles() {
    let dir = tempfile::tempdir().unwrap();
    let base = write(&dir, "base.sb", "(version 1)\n(deny default)\n");
    let extra = write(&dir, "extra.sb", ";; Source: extra-layer\n(allow file-write* (subpath (param \"W\")))\n");
    let o = run(&["explain", "--json", "-p", &base, "--profile", &extra, "-D", "W=/w", "file-write-create", "/w/new"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["decision"], "allow", "{}", stderr(&o));
    assert_eq!(v["rule"]["file"], extra.as_str());
    assert_eq!(v["rule"]["layer"], "extra-layer");
    // A profile that does not compile is an input error.
    let o = run(&["explain", "-p", &extra, "-D", "W=/w", "file-read-data", "/x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no version specified"), "{}", stderr(&o));
}

#[test]
fn explain_batch_answers_one_json_line_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let batch = write(
        &dir,
        "batch.tsv",
        "file-read-data\t/Users/alice/src/project/a b.txt\nmach-lookup\tcom.apple.system.opendirectoryd.libinfo\n\nprocess-fork\t-\nnetwork-outbound\tremote:*:80\n",
    );
    let o = run(&["explain", "--profile", MINIMAL, "--batch", &batch]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    let got: Vec<(&str, &str)> = lines.iter().map(|v| (v["operation"].as_str().unwrap(), v["decision"].as_str().unwrap())).collect();
    assert_eq!(got, [("file-read-data", "allow"), ("mach-lookup", "allow"), ("process-fork", "allow"), ("network-outbound", "deny")]);
    assert_eq!(lines[0]["target"]["raw"], "/Users/alice/src/project/a b.txt");
    // From stdin, with a malformed line: reported, the rest answered, exit 2.
    let mut child = support::safehouse()
        .args(["explain", "--profile", MINIMAL, "--batch", "-"])
        .current_dir(support::repo_root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"bad line without tab\nfile-read-data\t/usr/bin/env\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let out = stdout(&o);
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["line"], 1);
    assert!(lines[0]["error"].is_string());
    assert_eq!(lines[1]["decision"], "allow");
    assert!(stderr(&o).contains("-:1: expected OPERATION<TAB>TARGET"), "{}", stderr(&o));
}
