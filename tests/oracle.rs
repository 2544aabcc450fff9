//! `explain` agrees with every real Seatbelt decision in `../shared/corpus/oracle/cases.tsv`.
//! Cases are grouped by profile and run through `explain --batch`, compiling each policy once.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Stdio;

struct Case {
    id: String,
    operation: String,
    target: String,
    expected: String,
}

#[test]
fn explain_agrees_with_every_oracle_case() {
    let Some(shared) = support::shared_dir("explain_agrees_with_every_oracle_case") else { return };
    let oracle = shared.join("corpus/oracle");
    let text = std::fs::read_to_string(oracle.join("cases.tsv")).expect("cases.tsv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no column {name}"));
    let (c_id, c_profile, c_op, c_target, c_expected) = (col("id"), col("profile"), col("operation"), col("target"), col("expected"));
    let mut by_profile: BTreeMap<String, Vec<Case>> = BTreeMap::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        by_profile.entry(f[c_profile].to_string()).or_default().push(Case {
            id: f[c_id].to_string(),
            operation: f[c_op].to_string(),
            target: f[c_target].to_string(),
            expected: f[c_expected].to_string(),
        });
    }
    let mut total = 0;
    let mut disagreements = Vec::new();
    for (profile, cases) in &by_profile {
        let mut child = support::safehouse()
            .arg("explain")
            .arg("--profile")
            .arg(oracle.join("profiles").join(profile))
            .args(["--batch", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run safehouse explain");
        {
            let mut stdin = child.stdin.take().expect("stdin");
            for c in cases {
                writeln!(stdin, "{}\t{}", c.operation, c.target).expect("write batch");
            }
        }
        let out = child.wait_with_output().expect("explain output");
        assert!(out.status.success(), "{profile}: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).expect("utf-8");
        let answers: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
        assert_eq!(answers.len(), cases.len(), "{profile}: one answer per case");
        for (c, a) in cases.iter().zip(&answers) {
            total += 1;
            assert_eq!(a["operation"], c.operation.as_str());
            assert_eq!(a["target"]["raw"], c.target.as_str());
            if a["decision"] != c.expected.as_str() {
                disagreements.push(format!(
                    "{} {profile} {} {}: expected {}, explain said {} (rule {})",
                    c.id, c.operation, c.target, c.expected, a["decision"], a["rule"]
                ));
            }
        }
    }
    println!("oracle: {}/{} cases agree", total - disagreements.len(), total);
    assert!(total >= 70, "only {total} cases read");
    assert!(disagreements.is_empty(), "{} disagreement(s):\n{}", disagreements.len(), disagreements.join("\n"));
}
