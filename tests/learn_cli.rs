//! `safehouse learn --replay` end to end, on the bundled sample sessions (our own recordings in
//! `log stream --style ndjson` form) with the embedded base profile.

mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const HOME: &str = "/Users/alice";
const WORKDIR: &str = "/Users/alice/src/webapp";
const SESSION_1: &str = "samples/sessions/demo-claude-webapp.ndjson";
const SESSION_2: &str = "samples/sessions/demo-claude-webapp-2.ndjson";

fn safehouse() -> Command {
    let mut cmd = support::safehouse();
    // The default overlay lives under the XDG config dir: keep the user's out of these tests.
    let config = Path::new(env!("CARGO_TARGET_TMPDIR")).join("learn-cli-no-config");
    cmd.current_dir(support::repo_root())
        .env("NO_COLOR", "1")
        .env("XDG_CONFIG_HOME", config)
        .stdin(Stdio::null());
    cmd
}

fn learn(extra: &[&str]) -> Output {
    let mut cmd = safehouse();
    cmd.args(["learn", "--home", HOME, "--workdir", WORKDIR]).args(extra);
    cmd.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

fn base_profile() -> PathBuf {
    support::repo_root().join("learner/profiles/base.sb")
}

const PARAMS: [&str; 4] = ["-D", "HOME_DIR=/Users/alice", "-D", "WORK_DIR=/Users/alice/src/webapp"];

/// (operation, target) of every event of a session, through `safehouse events`.
fn session_accesses(session: &str) -> BTreeSet<(String, String)> {
    let out = safehouse().args(["events", "--format", "ndjson", session]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|e| (e["operation"].as_str().unwrap().to_string(), e["target"]["raw"].as_str().unwrap().to_string()))
        .collect()
}

/// `explain --batch` every access under base + overlay: the set of those allowed.
fn allowed_under(overlay: &Path, accesses: &BTreeSet<(String, String)>) -> BTreeSet<(String, String)> {
    let mut child = safehouse()
        .arg("explain")
        .arg("--profile")
        .arg(base_profile())
        .arg("--profile")
        .arg(overlay)
        .args(PARAMS)
        .args(["--batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = String::new();
    for (op, target) in accesses {
        input.push_str(&format!("{op}\t{target}\n"));
    }
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), accesses.len());
    accesses
        .iter()
        .zip(&lines)
        .filter(|(_, v)| v["decision"] == "allow")
        .map(|(a, _)| a.clone())
        .collect()
}

#[test]
fn json_lists_proposals_secrets_and_platform_denials() {
    let v = json(&learn(&["--replay", SESSION_1, "--json"]));
    let proposals = v["proposals"].as_array().unwrap();
    assert!(proposals.len() >= 5, "{v:#}");
    for p in proposals {
        for field in ["id", "purpose", "class", "reason", "risk", "safe", "evidence", "alternatives"] {
            assert!(p.get(field).is_some(), "proposal without {field}: {p:#}");
        }
        let rule = p["grant"]["sbpl"].as_str().unwrap();
        assert!(rule.starts_with("(allow "), "{rule}");
        assert!(!rule.contains(".ssh"), "a secret location must never be proposed: {rule}");
    }
    let secrets: Vec<&str> = v["secrets"].as_array().unwrap().iter().map(|s| s["target"]["raw"].as_str().unwrap()).collect();
    assert_eq!(secrets, vec!["/Users/alice/.ssh/id_ed25519"]);
    assert_eq!(v["platform_denials"].as_array().unwrap().len(), 1);
    // Same input, same bytes.
    let again = learn(&["--replay", SESSION_1, "--json"]);
    assert_eq!(again.stdout, learn(&["--replay", SESSION_1, "--json"]).stdout);
}

#[test]
fn yes_writes_an_overlay_that_checks_and_allows_what_it_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let overlay = dir.path().join("claude.sb");
    let proposals = json(&learn(&["--replay", SESSION_1, "--json"]));
    let out = learn(&["--replay", SESSION_1, "--yes", "--output", overlay.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(diff.starts_with(&format!("--- {}", overlay.display())), "the diff is printed: {diff}");
    let text = std::fs::read_to_string(&overlay).unwrap();

    // Every safe proposal, and only those, is in the overlay.
    for p in proposals["proposals"].as_array().unwrap() {
        let rule = p["grant"]["sbpl"].as_str().unwrap();
        assert_eq!(text.contains(rule), p["safe"].as_bool().unwrap(), "{rule}");
    }

    // `check` accepts base + overlay.
    let check = safehouse().arg("check").arg(base_profile()).arg(&overlay).args(PARAMS).output().unwrap();
    assert!(check.status.success(), "{}", stderr(&check));

    // `explain`: the accepted proposals' evidence is allowed, the secret is not.
    let accesses = session_accesses(SESSION_1);
    let allowed = allowed_under(&overlay, &accesses);
    for p in proposals["proposals"].as_array().unwrap().iter().filter(|p| p["safe"] == true) {
        for sample in p["evidence"]["samples"].as_array().unwrap() {
            let sample = sample.as_str().unwrap();
            assert!(allowed.iter().any(|(_, t)| t == sample), "{sample} of {} is not allowed", p["id"]);
        }
    }
    assert!(!allowed.iter().any(|(_, t)| t.contains(".ssh")), "{allowed:?}");

    // Learning again with the overlay in place: everything safe is already allowed.
    let again = json(&learn(&["--replay", SESSION_1, "--json", "--output", overlay.to_str().unwrap()]));
    let safe_left: Vec<&Value> = again["proposals"].as_array().unwrap().iter().filter(|p| p["safe"] == true).collect();
    assert!(safe_left.is_empty(), "{safe_left:#?}");
    assert!(again["summary"]["already_allowed"].as_u64().unwrap() > 0);
}

#[test]
fn learning_more_appends_with_a_backup_and_a_generalised_overlay_covers_the_next_session() {
    let dir = tempfile::tempdir().unwrap();
    let overlay = dir.path().join("claude.sb");
    let o = overlay.to_str().unwrap();
    // The first half of session 1 (a raw log cut anywhere is still a log).
    let text = std::fs::read_to_string(support::repo_root().join(SESSION_1)).unwrap();
    let half: Vec<&str> = text.lines().take(16).collect();
    let first_half = dir.path().join("first-half.ndjson");
    std::fs::write(&first_half, half.join("\n") + "\n").unwrap();

    let first = learn(&["--replay", first_half.to_str().unwrap(), "--yes", "-o", o]);
    assert!(first.status.success(), "{}", stderr(&first));
    let first_text = std::fs::read_to_string(&overlay).unwrap();

    let second = learn(&["--replay", SESSION_1, "--yes", "-o", o]);
    assert!(second.status.success(), "{}", stderr(&second));
    let backup = dir.path().join("claude.sb.bak");
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), first_text);
    let second_text = std::fs::read_to_string(&overlay).unwrap();
    assert!(second_text.starts_with(&first_text), "old rules are kept, new ones appended");
    assert!(second_text.len() > first_text.len());
    let check = safehouse().arg("check").arg(base_profile()).arg(&overlay).args(PARAMS).output().unwrap();
    assert!(check.status.success(), "{}", stderr(&check));

    // Session 2 repeats the workload with new volatile names (session ids, temp dirs, cache keys):
    // the generalised overlay already allows everything safe it does.
    let third = learn(&["--replay", SESSION_2, "--yes", "-o", o]);
    assert!(third.status.success(), "{}", stderr(&third));
    assert!(stderr(&third).contains("no proposal accepted: nothing to write"), "{}", stderr(&third));
    assert_eq!(std::fs::read_to_string(&overlay).unwrap(), second_text);
}

#[test]
fn several_sessions_are_merged_with_per_proposal_session_counts() {
    let one = json(&learn(&["--replay", SESSION_1, "--json"]));
    let both = json(&learn(&["--replay", SESSION_1, SESSION_2, "--json"]));
    assert_eq!(both["sessions"].as_array().unwrap().len(), 2);
    let proposals = both["proposals"].as_array().unwrap();
    let in_both = proposals.iter().filter(|p| p["evidence"]["sessions"] == 2).count();
    assert!(in_both >= 3, "proposals seen in both sessions: {in_both}");
    // What only the second session did is proposed too (a generalised rule may cover it without
    // naming it, so compare the proposed evidence).
    let proposed = |v: &serde_json::Value| v["summary"]["proposed"].as_u64().unwrap();
    assert!(proposed(&both) > proposed(&one), "{} vs {}", proposed(&both), proposed(&one));
    assert!(both["summary"]["events"].as_u64().unwrap() > one["summary"]["events"].as_u64().unwrap());
}

#[test]
fn bad_input_files_are_refused_clearly_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let overlay = dir.path().join("never.sb");
    let o = overlay.to_str().unwrap();

    let missing = learn(&["--replay", "samples/sessions/no-such-file.ndjson", "--yes", "-o", o]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("cannot read samples/sessions/no-such-file.ndjson"), "{}", stderr(&missing));

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "just some notes\nnothing from the sandbox here\n").unwrap();
    let no_reports = learn(&["--replay", text.to_str().unwrap(), "--yes", "-o", o]);
    assert_eq!(no_reports.status.code(), Some(2));
    assert!(stderr(&no_reports).contains("no Sandbox reports found"), "{}", stderr(&no_reports));

    // A session archive with a broken event line: file:line:col, and the good file before it is not used either.
    let broken = dir.path().join("broken.ndjson");
    std::fs::write(&broken, "{\"safehouse_archive\":1,\"context\":{}}\n{\"process\":\"cat\",\"pid\":1,\n").unwrap();
    let bad = learn(&["--replay", SESSION_1, broken.to_str().unwrap(), "--yes", "-o", o]);
    assert_eq!(bad.status.code(), Some(2));
    let message = stderr(&bad);
    assert!(message.contains(&format!("{}:2:", broken.display())), "{message}");

    assert!(!overlay.exists(), "nothing may be written");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "only our two input files");
}

#[test]
fn print_profile_shows_the_embedded_base_and_the_reporting_variant() {
    let out = learn(&["--print-profile"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("safehouse embedded base profile"), "{text}");
    assert!(text.contains(";; -D HOME_DIR=/Users/alice"), "{text}");
    assert!(!text.contains("(with report)"));
    let out = learn(&["--print-profile", "--", "claude"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("(allow default (with report) (with message \"SESSION-NONCE\"))"), "{text}");
    assert!(text.contains("safehouse learning floor"), "{text}");
    assert!(text.contains("/Users/alice/.ssh/id_"), "{text}");
}

#[test]
fn the_review_needs_a_terminal_or_a_flag() {
    let dir = tempfile::tempdir().unwrap();
    let overlay = dir.path().join("o.sb");
    let out = learn(&["--replay", SESSION_1, "-o", overlay.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    assert!(!overlay.exists());
}

#[test]
fn explicit_profiles_and_a_policy_command_give_the_same_proposals_as_the_embedded_base() {
    let embedded = learn(&["--replay", SESSION_1, "--json"]);
    let base = base_profile();
    let mut with_profile = vec!["--replay", SESSION_1, "--json", "--profile", base.to_str().unwrap()];
    with_profile.extend(PARAMS);
    let from_file = learn(&with_profile);
    assert_eq!(json(&from_file)["proposals"], json(&embedded)["proposals"]);

    let command = format!("cat '{}'", base.display());
    let mut with_cmd = vec!["--replay", SESSION_1, "--json", "--policy-cmd", command.as_str()];
    with_cmd.extend(PARAMS);
    let from_cmd = learn(&with_cmd);
    assert_eq!(json(&from_cmd)["proposals"], json(&embedded)["proposals"]);

    let printed = learn(&["--print-profile", "--policy-cmd", command.as_str()]);
    assert!(String::from_utf8_lossy(&printed.stdout).contains(&format!(";; ===== <policy-cmd: {command}> =====")));

    let failing = learn(&["--replay", SESSION_1, "--json", "--policy-cmd", "echo generator broke >&2; exit 3"]);
    assert_eq!(failing.status.code(), Some(2));
    assert!(stderr(&failing).contains("generator broke"), "{}", stderr(&failing));

    // A profile that does not compile: its position, and exit 2.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.sb");
    std::fs::write(&bad, "(version 1)\n(deny default)\n(allow file-read* (subpath \"/x\")\n").unwrap();
    let out = learn(&["--replay", SESSION_1, "--json", "--profile", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(&format!("{}:3:", bad.display())), "{}", stderr(&out));
}

#[cfg(target_os = "linux")]
#[test]
fn live_capture_without_a_tracer_says_what_to_do_instead() {
    let dir = tempfile::tempdir().unwrap();
    let out = safehouse()
        .env("SAFEHOUSE_STRACE", dir.path().join("no-strace-here"))
        .env("SAFEHOUSE_SANDBOX_EXEC", dir.path().join("no-sandbox-exec-here"))
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .args(["learn", "--home", HOME, "--workdir", WORKDIR, "--yes", "-o"])
        .arg(dir.path().join("o.sb"))
        .args(["--", "true"])
        .output()
        .unwrap();
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{message}");
    assert!(message.contains("strace") && message.contains("--replay"), "{message}");
    assert!(!message.contains("panicked"), "{message}");
    assert!(!dir.path().join("o.sb").exists());
}

#[test]
fn safehouse_modules_that_cover_proposals_are_named() {
    let Some(shared) = support::shared_dir("safehouse_modules_that_cover_proposals_are_named") else { return };
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.sb");
    std::fs::write(&broken, "(allow file-read* (nonsense-filter \"x\"))\n").unwrap();
    let modules = shared.join("corpus/safehouse/profiles/55-integrations-optional");
    let out = learn(&[
        "--replay",
        SESSION_1,
        "--json",
        "--module",
        modules.to_str().unwrap(),
        "--module",
        broken.to_str().unwrap(),
    ]);
    let v = json(&out);
    let named = v["modules"].as_array().unwrap();
    assert!(!named.is_empty(), "{v:#}");
    for m in named {
        assert!(m["text"].as_str().unwrap().starts_with("enable `"), "{m}");
        assert!(m["covered"].as_u64().unwrap() <= m["of"].as_u64().unwrap());
    }
    assert!(stderr(&out).contains("module broken is not offered"), "{}", stderr(&out));
}

#[test]
fn tiers_files_extend_the_sensitivity_tiers_and_a_bad_line_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let grants = |learned: &Value| -> Vec<String> {
        learned["proposals"].as_array().unwrap().iter().map(|p| p["grant"]["sbpl"].as_str().unwrap().to_string()).collect()
    };
    let plain = json(&learn(&["--json", "--replay", SESSION_1]));
    assert!(grants(&plain).iter().any(|g| g.contains("\"/.npm\"")), "{:?}", grants(&plain));

    let tiers = dir.path().join("team.tiers");
    std::fs::write(&tiers, "# our npm cache holds tokens\nnever  ~/.npm/**  # npm cache with tokens\n").unwrap();
    let tiers_arg = tiers.to_str().unwrap();
    let learned = json(&learn(&["--json", "--tiers", tiers_arg, "--replay", SESSION_1]));
    assert!(!grants(&learned).iter().any(|g| g.contains("/.npm")), "{:?}", grants(&learned));
    let npm_secrets: Vec<&Value> = learned["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["tier"]["pattern"] == "~/.npm/**")
        .collect();
    assert!(!npm_secrets.is_empty(), "{}", learned["secrets"]);
    assert!(npm_secrets.iter().all(|s| s["tier"]["note"] == "npm cache with tokens"), "{npm_secrets:?}");

    let bad = dir.path().join("bad.tiers");
    std::fs::write(&bad, "review ~/.config/**\nbogus ~/.x\n").unwrap();
    let overlay = dir.path().join("overlay.sb");
    let out = learn(&["--yes", "--tiers", tiers_arg, "--tiers", bad.to_str().unwrap(), "--output", overlay.to_str().unwrap(), "--replay", SESSION_1]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("{}:2:1: expected", bad.display())), "{}", stderr(&out));
    assert!(!overlay.exists());
}

/// On a live run the learner lists real directories: a subpath proposal says how many existing
/// entries it would open that the agent never touched, and the literal alternative opens none.
#[cfg(target_os = "linux")]
#[test]
fn live_proposals_carry_the_widening_figure_from_the_file_system() {
    let strace = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join("strace").is_file())).unwrap_or(false);
    if !strace {
        eprintln!("SKIPPED live_proposals_carry_the_widening_figure_from_the_file_system: strace is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let (home, work) = (root.join("home"), root.join("work"));
    let cache = home.join(".cache/tool");
    std::fs::create_dir_all(cache.join("unread-dir")).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    for name in ["a", "b", "c", "unread", "unread-dir/inner"] {
        std::fs::write(cache.join(name), name).unwrap();
    }
    let script = format!("cat {0}/a {0}/b {0}/c > /dev/null", cache.display());
    let out = Command::new(env!("CARGO_BIN_EXE_safehouse"))
        .current_dir(&work)
        .env("HOME", &home)
        .env("PATH", "/usr/bin:/bin")
        .env("NO_COLOR", "1")
        .env("XDG_STATE_HOME", root.join("state"))
        .env("XDG_CONFIG_HOME", root.join("config"))
        .env_remove("SAFEHOUSE_POLICY_CMD")
        .stdin(Stdio::null())
        .args(["learn", "--json", "--", "sh", "-c", &script])
        .output()
        .unwrap();
    let learned = json(&out);
    let proposal = learned["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["grant"]["sbpl"] == "(allow file-read* (home-subpath \"/.cache/tool\"))")
        .unwrap_or_else(|| panic!("no subpath proposal: {learned}"));
    // `unread`, `unread-dir` and `unread-dir/inner`: what the subpath opens beyond the evidence.
    assert_eq!(proposal["widening"]["unobserved"], 3, "{proposal}");
    assert!(proposal["widening"].get("assumed").is_none(), "{proposal}");
    let literal = &proposal["alternatives"][0];
    assert!(literal["grant"]["sbpl"].as_str().unwrap().contains("(home-literal \"/.cache/tool/a\")"), "{literal}");
    assert_eq!(literal["widening"]["unobserved"], 0, "{literal}");
}
