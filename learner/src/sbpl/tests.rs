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

// ---------------------------------------------------------------------------------------------
// Constructs of the Scheme subset.

#[test]
fn define_lambda_let_and_variadics() {
    let p = policy(&format!(
        r#"{D}
        (define HOME "/Users/a")
        (define (home-subpath rel) (subpath (string-append HOME rel)))
        (define (many . rels) (apply require-any (map home-subpath rels)))
        (define twice (lambda (f x) (f (f x))))
        (define (slash s) (string-append s "/x"))
        (let ((p (twice slash "/t")))
          (allow file-read* (literal p)))
        (let* ((a "/l") (b (string-append a "/m")))
          (allow file-write* (subpath b)))
        (allow file-read-metadata (many "/.a" "/.b"))
        "#
    ));
    assert_eq!(decide(&p, "file-read-data", "/t/x/x"), Verdict::Allow);
    assert_eq!(decide(&p, "file-write-data", "/l/m/n"), Verdict::Allow);
    assert_eq!(decide(&p, "file-read-metadata", "/Users/a/.b/c"), Verdict::Allow);
    assert_eq!(decide(&p, "file-read-metadata", "/Users/a/.c"), Verdict::Deny);
}

#[test]
fn named_let_loops_and_conditionals() {
    let text = format!(
        r#"{D}
        (let loop ((i 0))
          (when (< i (string->number (param "N")))
            (allow file-read* (subpath (param (string-append "P_" (number->string i)))))
            (loop (+ i 1))))
        (if (string=? (param "MODE") "strict") (deny file-read* (literal "/a/secret")) (allow file-write* (subpath "/a")))
        (unless (param "UNSET") (allow mach-lookup (global-name "x")))
        (cond ((param "UNSET") (allow sysctl-read))
              ((string-prefix? "ab" "abc") (allow sysctl-read (sysctl-name-prefix "kern.")))
              (else (error "unreachable")))
        (case (string->symbol "b") ((a) (error "no")) ((b c) (allow process-fork)) (else (error "no")))
        (if (and (defined? 'file-read*) (not (defined? 'no-such-thing)) (or #f "x")) (allow signal))
        "#
    );
    let p = policy_with(&text, &[("N", "2"), ("P_0", "/a"), ("P_1", "/b"), ("MODE", "strict")]);
    assert_eq!(decide(&p, "file-read-data", "/b/c"), Verdict::Allow);
    assert_eq!(decide(&p, "file-read-data", "/a/secret"), Verdict::Deny);
    assert_eq!(decide(&p, "file-write-data", "/a/x"), Verdict::Deny);
    assert_eq!(decide(&p, "mach-lookup", "x"), Verdict::Allow);
    assert_eq!(decide(&p, "sysctl-read", "kern.ngroups"), Verdict::Allow);
    assert_eq!(decide(&p, "sysctl-read", "hw.ncpu"), Verdict::Deny);
    assert_eq!(decide(&p, "process-fork", "-"), Verdict::Allow);
    assert_eq!(decide(&p, "signal", "others [x(1)] signum:15"), Verdict::Allow);
    let used: Vec<(&str, bool)> = p.params_used().iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert!(used.contains(&("N", true)) && used.contains(&("UNSET", false)), "{used:?}");
}

#[test]
fn macros_define_once_quasiquote_and_finalize_hooks() {
    // The WebKit util.sb idioms: a `define-once` macro and rules deferred to `%finalize`.
    let p = policy(&format!(
        r#"{D}
        (macro (define-once form)
          (let* ((ps (cdr form)) (signature (car ps)) (body (cdr ps)) (name (car signature)))
            (if (not (defined? name)) `(define ,signature ,@{{body}}))))
        (define-once (f x) (literal x))
        (define-once (f x) (subpath x))
        (define-once (%at-finalize func)
          (let* ((orig %finalize) (run (lambda () (func) (orig)))) (set! %finalize run)))
        (%at-finalize (lambda () (deny file-read* (literal "/late"))))
        (allow file-read* (f "/late") (f "/x"))
        "#
    )
    .replace("{body}", "body"));
    assert_eq!(decide(&p, "file-read-data", "/x"), Verdict::Allow);
    assert_eq!(decide(&p, "file-read-data", "/x/y"), Verdict::Deny, "define-once kept the first f (literal)");
    assert_eq!(decide(&p, "file-read-data", "/late"), Verdict::Deny, "the finalize hook's rule comes last");
}

#[test]
fn param_can_be_rebound_with_set() {
    // authd.sb: `(let ((orig-param param)) (set! param (lambda (key) ...)))`.
    let p = policy_with(
        &format!(
            r#"{D}
            (let ((orig-param param))
              (set! param (lambda (key) (string-append (orig-param key) "/sub"))))
            (allow file-read* (subpath (param "T")))"#
        ),
        &[("T", "/tmp")],
    );
    assert_eq!(decide(&p, "file-read-data", "/tmp/sub/x"), Verdict::Allow);
    assert_eq!(decide(&p, "file-read-data", "/tmp/x"), Verdict::Deny);
}

#[test]
fn strings_and_helpers() {
    let p = policy(&format!(
        r#"{D}
        (allow file-read* (regex (string-append "^" (regex-quote "/a.b[1]") "(/|$)")))
        (allow file-read-metadata (path-ancestors "/u/v/w"))
        (allow file-write* (literal (substring "xx/yy" 2 5)))
        (allow file-ioctl (require-all (literal "/dev/tty") (ioctl-command (_IO "t" 22))))
        (debug deny)
        "#
    ));
    assert_eq!(decide(&p, "file-read-data", "/a.b[1]/c"), Verdict::Allow);
    assert_eq!(decide(&p, "file-read-data", "/aXb[1]/c"), Verdict::Deny);
    assert_eq!(decide(&p, "file-read-data", "/a.b1"), Verdict::Deny);
    assert_eq!(decide(&p, "file-read-metadata", "/u/v"), Verdict::Allow);
    assert_eq!(decide(&p, "file-read-metadata", "/"), Verdict::Allow);
    assert_eq!(decide(&p, "file-read-metadata", "/u/v/w"), Verdict::Deny);
    assert_eq!(decide(&p, "file-write-data", "/yy"), Verdict::Allow);
    assert_eq!(decide(&p, "file-ioctl", "/dev/tty"), Verdict::Indeterminate);
}

// ---------------------------------------------------------------------------------------------
// Rules, filters, modifiers.

#[test]
fn filters_in_any_order_with_modifiers() {
    let p = policy(
        r#"(version 1)(deny default (with no-log))
        (allow (with report) file-read* (literal "/r") (with message "tag"))
        (deny file-write* (with send-signal SIGKILL) (subpath "/w"))
        (allow process-exec (with no-sandbox) (literal "/bin/sh"))"#,
    );
    let d = p.decide("file-read-data", &Target::path("/r"));
    let r = p.rule(d.rule.unwrap());
    assert!(r.modifiers.report);
    assert_eq!(r.modifiers.message.as_deref(), Some("tag"));
    let d = p.decide("file-write-data", &Target::path("/w/x"));
    assert_eq!(p.rule(d.rule.unwrap()).modifiers.send_signal.as_deref(), Some("SIGKILL"));
    let d = p.decide("process-exec", &Target::path("/bin/sh"));
    assert!(p.rule(d.rule.unwrap()).modifiers.no_sandbox);
    assert_eq!(p.rule(d.rule.unwrap()).operations, ["process-exec*"]);
    let Some(Fallthrough::Default { rule: Some(id) }) = p.decide("file-read-data", &Target::path("/x")).fallthrough else { panic!() };
    assert!(p.rule(id).modifiers.no_report);
    let e = compile_err("(version 1)(deny file-read* (with report))");
    assert!(e.message.contains("report modifier does not apply to deny"), "{e}");
    let e = compile_err("(version 1)(allow file-read* (with bogus))");
    assert!(e.message.contains("unknown modifier"), "{e}");
}

#[test]
fn path_filter_kinds() {
    let p = policy(&format!(
        r#"{D}
        (allow file-read* (literal "/l") (subpath "/s") (prefix "/p/ab") (regex #"^/r/[0-9]+$") (path "/l2") (path-prefix "/pp") (path-regex "\\.txt$") (subpath "/trail/"))
        "#
    ));
    for (path, want) in [
        ("/l", Verdict::Allow),
        ("/l/x", Verdict::Deny),
        ("/s", Verdict::Allow),
        ("/s/x/y", Verdict::Allow),
        ("/sx", Verdict::Deny),
        ("/p/abc", Verdict::Allow),
        ("/p/a", Verdict::Deny),
        ("/r/42", Verdict::Allow),
        ("/r/42x", Verdict::Deny),
        ("/l2", Verdict::Allow),
        ("/ppq", Verdict::Allow),
        ("/any/notes.txt", Verdict::Allow),
        ("/trail/x", Verdict::Allow),
        ("/trail", Verdict::Allow),
    ] {
        assert_eq!(decide(&p, "file-read-data", path), want, "{path}");
    }
}

#[test]
fn unknown_filters_make_decisions_indeterminate() {
    let p = policy(&format!(
        r#"{D}
        (allow file-read* (subpath "/a"))
        (deny file-read* (require-all (subpath "/a/b") (vnode-type DIRECTORY)))
        (allow file-read* (require-all (literal "/c") (extension "com.apple.app-sandbox.read")))
        (allow file-read* (require-any (literal "/d") (signing-identifier "x")))
        (deny file-read* (require-not (vnode-type REGULAR-FILE)) (literal "/never"))
        "#
    ));
    let d = p.decide("file-read-data", &Target::path("/a/b/c"));
    assert_eq!(d.verdict, Verdict::Indeterminate);
    assert_eq!(p.rule(d.rule.unwrap()).origin.line, 3, "the definite match is still named");
    // Newest first: the `require-not` of an unknown and the `signing-identifier` alternative
    // are unknown for every path; then line 3's vnode-type.
    assert_eq!(d.uncertain, [Uncertainty::Rule { rule: 5 }, Uncertainty::Rule { rule: 4 }, Uncertainty::Rule { rule: 2 }], "{d:?}");
    assert_eq!(decide(&p, "file-read-data", "/a/x"), Verdict::Indeterminate, "require-not of unknown is unknown");
    assert_eq!(decide(&p, "file-read-data", "/c"), Verdict::Indeterminate);
    assert_eq!(decide(&p, "file-read-data", "/d"), Verdict::Indeterminate, "the newer require-not may deny");
    // An unknown rule whose action agrees with the outcome does not make it uncertain.
    let p = policy(&format!(r#"{D}(allow file-read* (subpath "/a")) (allow file-read* (require-all (subpath "/a") (vnode-type DIRECTORY)))"#));
    assert_eq!(decide(&p, "file-read-data", "/a/x"), Verdict::Allow);
}

#[test]
fn network_forms() {
    let p = policy(&format!(
        r#"{D}
        (allow network-outbound (remote ip "*:443") (remote tcp "localhost:8080") (literal "/private/var/run/mDNSResponder"))
        (allow network-outbound (remote unix-socket (path-literal "/private/var/run/docker.sock")))
        (allow network-bind network-inbound (local ip "localhost:*"))
        (allow network* (remote unix-socket (subpath "/private/tmp/socks")))
        (allow network-outbound (remote ip "localhost:5432"))
        "#
    ));
    assert_eq!(decide(&p, "network-outbound", "remote:*:443"), Verdict::Allow);
    assert_eq!(decide(&p, "network-outbound", "remote-ip:1.2.3.4:443"), Verdict::Allow);
    assert_eq!(decide(&p, "network-outbound", "remote-ip:1.2.3.4:80"), Verdict::Deny);
    // The log hides the host: a localhost-only rule may or may not match.
    assert_eq!(decide(&p, "network-outbound", "remote:*:5432"), Verdict::Indeterminate);
    assert_eq!(decide(&p, "network-outbound", "remote-ip:127.0.0.1:5432"), Verdict::Allow);
    assert_eq!(decide(&p, "network-outbound", "remote-ip:10.0.0.1:5432"), Verdict::Deny);
    // tcp vs udp is not in the request.
    assert_eq!(decide(&p, "network-outbound", "remote-ip:127.0.0.1:8080"), Verdict::Indeterminate);
    assert_eq!(decide(&p, "network-outbound", "/private/var/run/mDNSResponder"), Verdict::Allow);
    assert_eq!(decide(&p, "network-outbound", "/private/var/run/docker.sock"), Verdict::Allow);
    assert_eq!(decide(&p, "network-outbound", "/private/tmp/socks/a"), Verdict::Allow);
    assert_eq!(decide(&p, "network-bind", "/private/tmp/socks/a"), Verdict::Deny, "remote unix-socket is the connect side");
    assert_eq!(decide(&p, "network-bind", "local-ip:127.0.0.1:19754"), Verdict::Allow);
    assert_eq!(decide(&p, "network-bind", "local-ip:0.0.0.0:19754"), Verdict::Deny);
    let e = compile_err("(version 1)(allow network-outbound (remote ip \"1.2.3.4:443\"))");
    assert!(e.message.contains("host must be `*` or `localhost`"), "{e}");
}

#[test]
fn targets_signals_sockets_and_names() {
    let p = policy(&format!(
        r#"{D}
        (allow signal (target same-sandbox))
        (allow system-socket (require-all (socket-domain AF_SYSTEM) (socket-protocol 2)))
        (allow mach-lookup (global-name-regex #"^com\.apple\.(fonts|logd)$") (xpc-service-name "com.x"))
        (allow ipc-posix-sem-create (ipc-posix-name-prefix "/mp-"))
        (allow user-preference-read (preference-domain "com.apple.Terminal"))
        "#
    ));
    assert_eq!(decide(&p, "signal", "target-process=unsandboxed-host-process"), Verdict::Deny);
    assert_eq!(decide(&p, "signal", "self signum:15"), Verdict::Allow);
    assert_eq!(decide(&p, "signal", "others [x(5)] signum:15"), Verdict::Indeterminate);
    assert_eq!(decide(&p, "system-socket", "domain:32 type:2 protocol:2"), Verdict::Allow);
    assert_eq!(decide(&p, "system-socket", "domain:2 type:2 protocol:2"), Verdict::Deny);
    assert_eq!(decide(&p, "mach-lookup", "com.apple.fonts"), Verdict::Allow);
    assert_eq!(decide(&p, "mach-lookup", "com.apple.fontsX"), Verdict::Deny);
    assert_eq!(decide(&p, "mach-lookup", "com.x"), Verdict::Indeterminate, "xpc-service-name vs a global lookup");
    assert_eq!(decide(&p, "ipc-posix-sem-create", "/mp-1234"), Verdict::Allow);
    assert_eq!(decide(&p, "user-preference-read", "com.apple.Terminal"), Verdict::Allow);
    assert_eq!(decide(&p, "user-preference-read", "com.apple.Safari"), Verdict::Deny);
}

#[test]
fn operation_tree_terminals_aliases_and_implicit_rules() {
    let p = policy(&format!(r#"{D}(allow file-write* (subpath "/w")) (allow mach-lookup (global-name "a")) (allow sysctl-write (sysctl-name "k"))"#));
    // Built-in terminal allows are not governed by (deny default).
    assert_eq!(decide(&p, "file-map-executable", "/x"), Verdict::Allow);
    assert_eq!(decide(&p, "job-creation", "-"), Verdict::Deny);
    let d = p.decide("dynamic-code-generation", &Target::none());
    assert_eq!(d.fallthrough, Some(Fallthrough::BuiltIn { operation: "dynamic-code-generation".into() }));
    // Implicit: signal self, mach-bootstrap, com.apple.sandbox writes, launchd sockets.
    assert_eq!(decide(&p, "signal", "self signum:1"), Verdict::Allow);
    assert_eq!(decide(&p, "mach-bootstrap", "-"), Verdict::Allow);
    assert_eq!(decide(&p, "file-write-data", "/w/com.apple.sandbox/x"), Verdict::Deny);
    assert_eq!(decide(&p, "file-write-data", "/w/x"), Verdict::Allow);
    // `sysctl-write` is the library's alias of `sysctl*`.
    assert_eq!(decide(&p, "sysctl-read", "k"), Verdict::Allow);
    // Unknown operation names fall back by name.
    assert_eq!(decide(&p, "file-write-something-new", "/w/a"), Verdict::Allow);
    let p = policy_with(&format!(r#"{D}(allow file-write* (subpath "/w"))"#), &[("NO_IMPLICIT_RULES", "1")]);
    assert_eq!(decide(&p, "file-write-data", "/w/com.apple.sandbox/x"), Verdict::Allow);
    assert_eq!(decide(&p, "signal", "self signum:1"), Verdict::Deny);
    assert!(p.rules().iter().all(|r| !r.implicit));
}

#[test]
fn with_filter_and_with_modifier_wrap_rules() {
    let p = policy(&format!(
        r#"{D}
        (with-filter (subpath "/base")
          (allow file-read* (literal "/base/a") (literal "/elsewhere"))
          (allow file-write*))
        (with-modifier (with report) (allow file-read-metadata (literal "/m")))
        "#
    ));
    assert_eq!(decide(&p, "file-read-data", "/base/a"), Verdict::Allow);
    assert_eq!(decide(&p, "file-read-data", "/elsewhere"), Verdict::Deny);
    assert_eq!(decide(&p, "file-write-data", "/base/z"), Verdict::Allow);
    assert_eq!(decide(&p, "file-write-data", "/z"), Verdict::Deny);
    let d = p.decide("file-read-metadata", &Target::path("/m"));
    assert!(p.rule(d.rule.unwrap()).modifiers.report);
}

#[test]
fn unresolved_imports_warn_and_make_affected_decisions_indeterminate() {
    let p = policy(
        r#"(version 1)
        (deny default)
        (import "system.sb")
        (system-network)
        (allow file-read* (subpath "/a"))
        (allow file-read-data (subpath "/d"))
        (deny file-write*)"#,
    );
    assert_eq!(p.warnings().len(), 2, "{:?}", p.warnings());
    assert!(p.warnings()[0].to_string().starts_with("t.sb:3:9: warning: imported profile \"system.sb\""), "{}", p.warnings()[0]);
    assert_eq!(p.unknown_effects().len(), 2);
    // The import may hold a rule for the leaf operation, which would beat any `file-read*` rule.
    let d = p.decide("file-read-data", &Target::path("/a/x"));
    assert_eq!(d.verdict, Verdict::Indeterminate);
    assert_eq!(p.rule(d.rule.unwrap()).origin.line, 5);
    assert_eq!(d.uncertain, [Uncertainty::Import { effect: 1 }, Uncertainty::Import { effect: 0 }]);
    // A later rule on the leaf operation itself decides definitely.
    assert_eq!(decide(&p, "file-read-data", "/d/x"), Verdict::Allow);
    assert_eq!(decide(&p, "file-read-data", "/b"), Verdict::Indeterminate);
    // Without imports nothing is uncertain.
    let p = policy(&format!(r#"{D}(allow file-read* (subpath "/a"))"#));
    assert!(p.decide("file-read-data", &Target::path("/a/x")).uncertain.is_empty());
}

#[test]
fn multiple_files_read_as_one_policy() {
    let files = [
        SourceFile::new("base.sb", "(version 1)\n(deny default)\n(define ROOT \"/r\")\n"),
        SourceFile::new("extra.sb", ";; Source: extra\n(allow file-read* (subpath ROOT))\n"),
    ];
    let p = compile(&files, &Params::new()).unwrap();
    let d = p.decide("file-read-data", &Target::path("/r/x"));
    let r = p.rule(d.rule.unwrap());
    assert_eq!((r.origin.file.as_str(), r.origin.line, r.origin.layer.as_deref()), ("extra.sb", 2, Some("extra")));
    let e = compile(&[SourceFile::new("a.sb", "(version 1)"), SourceFile::new("b.sb", "\n (allow file-read* (subpath X))")], &Params::new()).unwrap_err();
    assert!(e.to_string().starts_with("b.sb:2:29: unbound variable: X"), "{e}");
}

#[test]
fn hostile_input_is_bounded() {
    let e = compile_err("(version 1)(define (f x) (f x)) (f 1)");
    assert!(e.message.contains("nested"), "{e}");
    let e = compile_err("(version 1)(define (f x) (if (< x 26) (begin (f (+ x 1)) (f (+ x 1))) x)) (f 0)");
    assert!(e.message.contains("steps"), "{e}");
    let e = compile_err("(version 1)(car '())");
    assert!(e.message.contains("expected a pair"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Properties.

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn path_strategy() -> impl Strategy<Value = String> {
        // Components with quotes, backslashes, newlines, control characters, regex
        // metacharacters and non-ASCII (including invisible) characters.
        let component = proptest::collection::vec(
            prop_oneof![
                proptest::char::range('a', 'z'),
                Just('"'),
                Just('\\'),
                Just('\n'),
                Just('\t'),
                Just('\r'),
                Just('\u{1}'),
                Just('\u{7f}'),
                Just(' '),
                Just('.'),
                Just('['),
                Just(']'),
                Just('('),
                Just('*'),
                Just('$'),
                Just('^'),
                Just('|'),
                Just(';'),
                Just('#'),
                Just('\u{e9}'),
                Just('\u{200b}'),
                Just('\u{1f600}'),
                Just('\u{85}'),
                any::<char>(),
            ],
            1..8,
        )
        .prop_map(|cs| cs.into_iter().filter(|c| *c != '/' && *c != '\0').collect::<String>())
        .prop_filter("non-empty", |s| !s.is_empty());
        proptest::collection::vec(component, 1..5).prop_map(|cs| format!("/{}", cs.join("/")))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Any rule rendered with `render` reads back to the same strings and decisions.
        #[test]
        fn rendered_rules_parse_back_to_the_same_decision(path in path_strategy(), other in path_strategy()) {
            let rules = [
                render::rule(Action::Allow, &["file-read*"], &[render::literal(&path)]),
                render::rule(Action::Allow, &["file-read*"], &[render::subpath(&path)]),
                render::rule(Action::Allow, &["file-read*"], &[render::prefix(&path)]),
                render::rule(Action::Allow, &["file-read*"], &[render::regex(&format!("^{}$", render::regex_quote(&path)))]),
                render::rule(Action::Allow, &["file-read*"], &[render::literal(&other), render::literal(&path)]),
            ];
            for rule in &rules {
                let text = format!("(version 1)\n(deny default)\n{rule}\n");
                let p = compile(&[SourceFile::new("r.sb", text.clone())], &Params::new())
                    .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
                let d = p.decide("file-read-data", &Target::path(path.clone()));
                prop_assert_eq!(d.verdict, Verdict::Allow, "{}", text);
                let r = p.rule(d.rule.unwrap());
                prop_assert_eq!(&r.origin.text, rule);
                // The matched filter renders back to exactly the rendered input.
                let shown = p.matching_filter(d.rule.unwrap(), "file-read-data", &Target::path(path.clone())).unwrap();
                prop_assert!(rule.contains(&shown), "{} not in {}", shown, rule);
                if !other.starts_with(&path) && !path.starts_with(&other) {
                    let d = p.decide("file-read-data", &Target::path(format!("{other}\u{1}")));
                    prop_assert_eq!(d.verdict, Verdict::Deny, "{}", text);
                }
            }
            // quote() is read back to exactly the same string.
            let forms = reader::read_all(0, &render::quote(&path)).map_err(|e| TestCaseError::fail(e.message))?;
            prop_assert_eq!(&forms[0].kind, &reader::SexpKind::Str(path.as_str().into()));
        }

        /// The reader and the whole compiler never panic, whatever the input.
        #[test]
        fn compile_never_panics(text in "(?s).{0,400}") {
            let _ = compile(&[SourceFile::new("f.sb", text)], &Params::new());
        }

        /// ... including inputs made of SBPL-looking tokens.
        #[test]
        fn compile_never_panics_on_sbpl_tokens(tokens in proptest::collection::vec(prop_oneof![
            Just("("), Just(")"), Just("(version 1)"), Just("(deny default)"), Just("allow"), Just("deny"),
            Just("file-read*"), Just("(subpath \"/a\")"), Just("(literal"), Just("\"x\""), Just("#\"re\""),
            Just("(regex #\"^/a[\")"), Just("'"), Just("`"), Just(","), Just(",@"), Just("."), Just("#t"), Just("#f"),
            Just("(define"), Just("(lambda"), Just("(let"), Just("loop"), Just("(macro"), Just("(with"), Just("report"),
            Just("(param \"X\")"), Just("(require-all"), Just("(require-not"), Just("(import \"s.sb\")"), Just(";c\n"),
            Just("#|"), Just("|#"), Just("\\"), Just("#\\a"), Just("#x1F"), Just("-1"), Just("(remote ip \"*:1\")"),
            Just("(target self)"), Just("(vnode-type"), Just("(if"), Just("(cond"), Just("(case"), Just("x"),
        ], 0..60)) {
            let text = tokens.join(" ");
            let _ = compile(&[SourceFile::new("f.sb", text)], &Params::new());
        }
    }
}

#[test]
fn target_filters_on_process_operations() {
    let p = policy(&format!(
        r#"{D}
        (allow process-info* (target same-sandbox))
        (allow mach-priv-task-port (target same-sandbox))
        (deny process-info* (target others) (with no-report))"#
    ));
    assert_eq!(decide(&p, "mach-priv-task-port", "target-process=unsandboxed-host-process"), Verdict::Deny);
    assert_eq!(decide(&p, "mach-priv-task-port", "target-process=self"), Verdict::Allow);
    assert_eq!(decide(&p, "process-info-pidinfo", "target-process=unsandboxed-host-process"), Verdict::Deny);
    assert_eq!(decide(&p, "process-info-pidinfo", "target-process=self"), Verdict::Allow);
    // No target given: whether it is our own sandbox is unknown.
    assert_eq!(decide(&p, "mach-priv-task-port", "-"), Verdict::Indeterminate);
}
