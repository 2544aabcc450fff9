//! End-to-end tests of `safehouse events`: formats, filters, the stderr summary, archives made
//! by `--format archive` reading back, and exit codes on bad input.

mod support;

use std::process::Output;

fn events(args: &[&str], stdin: Option<&[u8]>) -> Output {
    use std::io::Write;
    let mut cmd = support::safehouse();
    cmd.arg("events").args(args).env("NO_COLOR", "1");
    cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

const LOG: &str = "\
Timestamp               Ty Process[PID:TID]
2026-09-14 15:51:48.212 E  kernel[0:78a1c2] (Sandbox) Sandbox: bash(65518) deny(1) file-write-create /private/tmp/demo/x.txt
sh-learn-1
2026-09-14 15:51:49.000 Df kernel[0:78a1c2] (Sandbox) 2 duplicate reports for Sandbox: cat(7) allow file-read-data /etc/hosts
2026-09-14 15:51:50.000 Df logger[812:1] Sandbox: cat(7) allow file-read-data /Users/me/.ssh/id_rsa
2026-09-14 15:51:51.000 E  kernel[0:1] (Sandbox) Sandbox: curl(9) deny(1) network-outbound remote:*:443
sh-learn-1
";

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(out.stdout.clone()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn ndjson_output_and_summary() {
    let out = events(&["-"], Some(LOG.as_bytes()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["process"], "bash");
    assert_eq!(lines[0]["pid"], 65518);
    assert_eq!(lines[0]["action"], "deny");
    assert_eq!(lines[0]["operation"], "file-write-create");
    assert_eq!(lines[0]["target"]["raw"], "/private/tmp/demo/x.txt");
    assert_eq!(lines[0]["target"]["kind"], "path");
    assert_eq!(lines[0]["tag"], "sh-learn-1");
    assert_eq!(lines[0]["file"], "-");
    assert_eq!(lines[0]["line"], 2);
    assert_eq!(lines[1]["count"], 3);
    assert_eq!(lines[2]["target"]["port"], 443);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr.trim_end(),
        "7 lines read, 3 reports extracted (2 duplicates folded), 2 skipped: framing 1, untrusted-sender 1 [compact]"
    );
}

#[test]
fn filters() {
    let out = events(&["--only", "deny", "--tag", "sh-learn-1", "--since", "2026-09-14T15:51:50+00:00"], Some(LOG.as_bytes()));
    assert!(out.status.success());
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["process"], "curl");
    assert!(String::from_utf8(out.stderr).unwrap().contains("1 events printed, 2 filtered out"));
    let out = events(&["--since", "yesterday"], Some(b""));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("--since"));
}

#[test]
fn table_format() {
    let out = events(&["--format", "table"], Some(LOG.as_bytes()));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let first = stdout.lines().next().unwrap();
    assert!(first.starts_with("2026-09-14 15:51:48.212 deny  bash(65518)"), "{first}");
    assert!(first.ends_with("/private/tmp/demo/x.txt  tag=sh-learn-1"), "{first}");
    assert!(stdout.contains("x3"), "{stdout}");
    assert!(!stdout.contains('\x1b'), "NO_COLOR is respected");
}

#[test]
fn archive_output_reads_back_identically() {
    let out = events(&["--format", "archive"], Some(LOG.as_bytes()));
    assert!(out.status.success());
    let archive = out.stdout.clone();
    assert!(archive.starts_with(br#"{"safehouse_archive":1,"created":""#));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session.archive");
    std::fs::write(&path, &archive).unwrap();
    let again = events(&[path.to_str().unwrap()], None);
    assert!(again.status.success());
    let direct = events(&[], Some(LOG.as_bytes()));
    assert_eq!(json_lines(&again), json_lines(&direct));
    assert!(String::from_utf8(again.stderr).unwrap().contains("[archive]"));
}

#[test]
fn bad_inputs_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.log");
    let out = events(&[missing.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("missing.log"));

    let broken = dir.path().join("broken.archive");
    std::fs::write(&broken, "{\"safehouse_archive\":1}\n{\"process\":\"x\",\"pid\":1}\n").unwrap();
    let out = events(&[broken.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("broken.archive:2:"), "{stderr}");
    assert!(stderr.contains("expected an event object"), "{stderr}");
}

#[test]
fn several_files_get_a_summary_each_and_a_total() {
    let Some(shared) = support::shared_dir("several_files_get_a_summary_each_and_a_total") else { return };
    let logs = shared.join("corpus/logs");
    let a = logs.join("syslog-style.txt");
    let b = logs.join("ndjson-style.ndjson");
    let out = events(&[a.to_str().unwrap(), b.to_str().unwrap()], None);
    assert!(out.status.success());
    assert_eq!(json_lines(&out).len(), 11 + 46);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("syslog-style.txt: 25 lines read, 11 reports extracted"), "{stderr}");
    assert!(stderr.contains("total: 81 lines read, 57 reports extracted (31 duplicates folded)"), "{stderr}");
}
