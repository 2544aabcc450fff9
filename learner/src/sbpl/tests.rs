//! Engine tests: constructs, precedence (reference §6.2), errors, attribution.

use super::*;
use crate::target::Target;

fn policy(text: &str) -> Policy {
    compile(&[SourceFile::new("t.sb", text)], &Params::new()).unwrap_or_else(|e| panic!("{e}"))
}

fn policy_with(text: &str, params: &[(&str, &str)]) -> Policy {
    let params: Params = params.iter().map(|(k, v)| (*k, *v)).collect();
    compile(&[SourceFile::new("t.sb", text)], &params).unwrap_or_else(|e| panic!("{e}"))
}

fn decide(p: &Policy, op: &str, target: &str) -> Verdict {
    p.decide(op, &Target::parse(op, target)).verdict
}

fn compile_err(text: &str) -> SbplError {
    compile(&[SourceFile::new("t.sb", text)], &Params::new()).unwrap_err()
}

const D: &str = "(version 1)(deny default)\n";

/// Reference §6.2, every row.
#[test]
fn precedence_worked_examples() {
    use Verdict::{Allow, Deny};
    let rows: &[(&str, &str, &str, Verdict)] = &[
        (r#"(allow file-read* (subpath "/u")) (deny file-read* (literal "/u/s"))"#, "file-read-data", "/u/s", Deny),
        (r#"(deny file-read* (literal "/u/s")) (allow file-read* (subpath "/u"))"#, "file-read-data", "/u/s", Allow),
        (r#"(allow file-read-data (subpath "/")) (deny file-read* (literal "/u/s"))"#, "file-read-data", "/u/s", Allow),
        (r#"(allow file-read-data (subpath "/")) (deny file-read* (literal "/u/s"))"#, "file-read-metadata", "/u/s", Deny),
        (r#"(deny file-read* (subpath "/u")) (allow file-read*)"#, "file-read-data", "/u/x", Deny),
        (r#"(allow file-read*) (deny file-read* (subpath "/u"))"#, "file-read-data", "/u/x", Deny),
        (r#"(allow file-read-metadata) (deny file-read* (subpath "/u"))"#, "file-read-metadata", "/u/x", Allow),
        ("", "process-info-pidinfo", "-", Allow),
        (r#"(allow mach-lookup (global-name "a"))"#, "mach-lookup", "b", Deny),
        (r#"(allow mach-lookup (global-name "a"))"#, "mach-lookup", "a", Allow),
    ];
    for (rules, op, target, want) in rows {
        let p = policy(&format!("{D}{rules}"));
        assert_eq!(decide(&p, op, target), *want, "{rules} / {op} {target}");
    }
    // Bazel shape: (allow default) then an unfiltered deny and filtered re-allows.
    let p = policy(r#"(version 1)(allow default)(deny file-write*)(allow file-write* (subpath "/w"))"#);
    assert_eq!(decide(&p, "file-write-create", "/w/a"), Allow);
    assert_eq!(decide(&p, "file-write-create", "/x/a"), Deny);
    assert_eq!(decide(&p, "file-read-data", "/x/a"), Allow);
}

#[test]
fn attribution_names_file_line_text_and_layer() {
    let text = "(version 1)\n;; Source: 00-base.sb\n(deny default)\n;; Source: 10-x.sb\n(allow file-read*\n    (subpath \"/usr\"))\n";
    let p = policy(text);
    let d = p.decide("file-read-data", &Target::path("/usr/lib/x"));
    let r = p.rule(d.rule.unwrap());
    assert_eq!((r.origin.file.as_str(), r.origin.line, r.origin.col), ("t.sb", 5, 1));
    assert_eq!(r.origin.text, "(allow file-read*\n    (subpath \"/usr\"))");
    assert_eq!(r.origin.layer.as_deref(), Some("10-x.sb"));
    assert_eq!(d.operation, "file-read*");
    let d = p.decide("file-read-data", &Target::path("/etc/x"));
    assert_eq!(d.rule, None);
    let Some(Fallthrough::Default { rule: Some(id) }) = d.fallthrough else { panic!("{d:?}") };
    assert_eq!(p.rule(id).origin.layer.as_deref(), Some("00-base.sb"));
}

#[test]
fn errors_point_at_the_form() {
    let e = compile_err("(version 1)\n(allow file-read* (subpath \"/a\")\n");
    assert_eq!((e.line, e.col), (2, 1));
    assert!(e.to_string().starts_with("t.sb:2:1: expected `)`"), "{e}");
    assert!(e.to_string().ends_with("\n  (allow file-read* (subpath \"/a\")\n  ^"), "{e}");
    let e = compile_err("(version 1)\n(allow file-reed* (subpath \"/a\"))");
    assert_eq!((e.line, e.col), (2, 8));
    assert!(e.message.contains("unbound variable: file-reed*"), "{e}");
    let e = compile_err("(version 1)\n(allow file-read* (subpath (param \"X\")))");
    assert!(e.message.contains("expected pattern, got boolean"), "{e}");
    assert_eq!((e.line, e.col), (2, 19));
    let e = compile_err("(allow file-read*)");
    assert!(e.message.contains("no version"), "{e}");
    let e = compile_err("(version 1)(allow (subpath \"/a\"))");
    assert!(e.message.contains("at least one operation"), "{e}");
    let e = compile_err("(version 1)(allow file-read* (regex #\"(?i)^/a\"))");
    assert!(e.message.contains("not supported"), "{e}");
    let e = compile_err("(version 1)\n#include \"x.sb\"\n");
    assert!(e.message.contains("C preprocessor"), "{e}");
}
