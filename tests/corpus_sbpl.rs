//! Corpus conformance: every complete policy and stand-alone profile in `../shared/corpus`
//! passes `safehouse check` (fragments after their base, with the parameters the corpus README
//! lists), the `.needs-cpp` file is rejected clearly, every Safehouse module reads without a
//! syntax error, and the decisions the corpus README suggests hold.

mod support;

use std::path::{Path, PathBuf};

use safehouse_learner::sbpl::{compile, reader, Params, SourceFile, Verdict};
use safehouse_learner::Target;

fn check(files: &[PathBuf], params: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = support::safehouse();
    cmd.arg("check");
    for (k, v) in params {
        cmd.arg("-D").arg(format!("{k}={v}"));
    }
    cmd.args(files);
    cmd.output().expect("run safehouse check")
}

fn assert_checks(files: &[PathBuf], params: &[(&str, &str)]) {
    let out = check(files, params);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.starts_with("ok: "),
        "check {files:?} failed:\n{}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
}

const HOME: &str = "/Users/alice";
const TMP: &str = "/private/var/folders/zz/xyz/T";
const CACHE: &str = "/private/var/folders/zz/xyz/C";

fn chromium_params() -> Vec<(&'static str, &'static str)> {
    vec![
        ("OS_VERSION", "1500"),
        ("BUNDLE_ID", "org.chromium.Chromium"),
        ("HELPER_BUNDLE_ID", "org.chromium.Chromium.helper"),
        ("BUNDLE_PATH", "/Applications/Chromium.app"),
        ("COMPONENT_PATH", "/Applications/Chromium.app/Contents/Frameworks"),
        ("EXECUTABLE_PATH", "/Applications/Chromium.app/Contents/MacOS/Chromium"),
        ("BROWSER_PID", "4242"),
        ("USER_HOMEDIR_AS_LITERAL", HOME),
        ("LOG_FILE_PATH", "/private/tmp/chromium.log"),
        ("DARWIN_USER_CACHE_DIR", CACHE),
        ("DARWIN_USER_DIR", "/private/var/folders/zz/xyz/0"),
        ("DARWIN_USER_TEMP_DIR", TMP),
        ("ENABLE_LOGGING", "TRUE"),
        ("FILTER_SYSCALLS", "TRUE"),
        ("NETWORK_SERVICE_STORAGE_PATHS_COUNT", "2"),
        ("NETWORK_SERVICE_STORAGE_PATH_0", "/Users/alice/Library/Application Support/Chromium/Default"),
        ("NETWORK_SERVICE_STORAGE_PATH_1", "/Users/alice/Library/Application Support/Chromium/Profile 1"),
    ]
}

/// A base that Nix (and helper libraries) are appended to: written to a temp file.
fn base_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write base");
    p
}

#[test]
fn every_standalone_sbpl_profile_passes_check() {
    let Some(shared) = support::shared_dir("every_standalone_sbpl_profile_passes_check") else { return };
    let dir = shared.join("corpus/sbpl");
    let f = |name: &str| dir.join(name);
    let tmp = tempfile::tempdir().expect("tempdir");
    let version_deny = base_file(tmp.path(), "nix-prelude.sb", "(version 1)\n(deny default)\n");
    let version_only = base_file(tmp.path(), "version.sb", "(version 1)\n");
    let chromium = chromium_params();
    let gemini = [
        ("TARGET_DIR", "/Users/alice/src/project"),
        ("TMP_DIR", TMP),
        ("CACHE_DIR", CACHE),
        ("HOME_DIR", HOME),
        ("INCLUDE_DIR_0", "/Users/alice/src/lib0"),
        ("INCLUDE_DIR_1", "/Users/alice/src/lib1"),
        ("INCLUDE_DIR_2", "/Users/alice/src/lib2"),
        ("INCLUDE_DIR_3", "/Users/alice/src/lib3"),
        ("INCLUDE_DIR_4", "/Users/alice/src/lib4"),
    ];
    let cases: Vec<(Vec<PathBuf>, Vec<(&str, &str)>)> = vec![
        (vec![f("apple-Heimdal-com.apple.GSSCred.sb")], vec![("TMPDIR", TMP), ("DARWIN_CACHE_DIR", CACHE)]),
        (vec![f("apple-Heimdal-kcm.sb")], vec![]),
        (vec![f("apple-Heimdal-kdc.sb")], vec![]),
        (vec![f("apple-Security-com.apple.CodeSigningHelper.sb")], vec![]),
        (
            vec![f("apple-Security-com.apple.TrustedPeersHelper.sb")],
            vec![("_HOME", HOME), ("_DARWIN_USER_CACHE", CACHE), ("_DARWIN_USER_TEMP", TMP)],
        ),
        (vec![f("apple-Security-com.apple.authd.sb")], vec![("TMP_DIR", TMP)]),
        (vec![f("apple-Security-com.apple.secd.sb")], vec![("_HOME", HOME)]),
        (vec![f("apple-Security-com.apple.securityd.sb")], vec![("LEGACY_TOKENS_ENABLED", "YES")]),
        (
            vec![f("apple-Security-com.apple.securityuploadd.sb")],
            vec![("HOME", HOME), ("_TMPDIR", TMP), ("_DARWIN_CACHE_DIR", CACHE)],
        ),
        (vec![f("apple-Security-com.apple.trustd.sb")], vec![("_TMPDIR", TMP), ("_DARWIN_CACHE_DIR", CACHE)]),
        (vec![f("apple-appsandbox-generic-10.14.6-simbple.sb")], vec![]),
        (vec![f("chromium-common.sb")], chromium.clone()),
        (vec![f("chromium-common.sb"), f("chromium-renderer.sb")], chromium.clone()),
        (vec![f("chromium-common.sb"), f("chromium-network.sb")], chromium.clone()),
        (vec![f("codex-seatbelt_base_policy.sbpl")], vec![]),
        (
            vec![f("codex-seatbelt_base_policy.sbpl"), f("codex-seatbelt_network_policy.sbpl"), f("codex-seatbelt_platform_defaults.sbpl")],
            vec![("DARWIN_USER_CACHE_DIR", CACHE)],
        ),
        (vec![f("gemini-cli-sandbox-macos-permissive-open.sb")], gemini.to_vec()),
        (vec![f("gemini-cli-sandbox-macos-restrictive-proxied.sb")], gemini.to_vec()),
        (vec![f("gemini-cli-sandbox-macos-strict-proxied.sb")], gemini.to_vec()),
        (
            vec![version_deny.clone(), f("nix-sandbox-defaults.sb")],
            vec![("_GLOBAL_TMP_DIR", "/private/tmp/nix-build-1"), ("_NIX_BUILD_TOP", "/private/tmp/nix-build-1/top"), ("_ALLOW_LOCAL_NETWORKING", "1")],
        ),
        (vec![version_deny.clone(), f("nix-sandbox-network.sb")], vec![]),
        (vec![version_only.clone(), f("nix-sandbox-minimal.sb")], vec![]),
        (vec![f("s7ephen-safari.sb")], vec![]),
        (vec![version_only.clone(), f("webkit-Shared-Sandbox-util.sb")], vec![]),
        (vec![f("youtube-unthrottle-seatbelt_policy.sb")], vec![("TMPDIR", TMP)]),
        (vec![f("generated/bazel-darwin-sandbox-generated.sb")], vec![]),
        (vec![f("generated/sandbox-runtime-generated.sb")], vec![]),
    ];
    // Every profile file of the corpus is covered by some case.
    for entry in std::fs::read_dir(&dir).expect("corpus/sbpl") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
        if name.ends_with(".sb") || name.ends_with(".sbpl") {
            assert!(cases.iter().any(|(files, _)| files.contains(&path)), "{name} is not covered");
        }
    }
    for (files, params) in &cases {
        assert_checks(files, params);
    }
}

#[test]
fn needs_cpp_file_is_rejected_clearly() {
    let Some(shared) = support::shared_dir("needs_cpp_file_is_rejected_clearly") else { return };
    let file = shared.join("corpus/sbpl/webkit-Shared-Sandbox-macOS-common.sb.needs-cpp");
    let out = check(&[file], &[("HOME_DIR", HOME)]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("C preprocessor"), "{stderr}");
    assert!(stderr.contains(":25:1: "), "{stderr}");
}

#[test]
fn missing_parameter_is_a_positioned_error() {
    let Some(shared) = support::shared_dir("missing_parameter_is_a_positioned_error") else { return };
    let out = check(&[shared.join("corpus/sbpl/apple-Security-com.apple.authd.sb")], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("apple-Security-com.apple.authd.sb:29:8: invalid data type of path filter; expected pattern, got boolean"), "{stderr}");
}

#[test]
fn every_generated_safehouse_policy_passes_check() {
    let Some(shared) = support::shared_dir("every_generated_safehouse_policy_passes_check") else { return };
    let mut n = 0;
    for dir in ["corpus/safehouse/generated", "corpus/oracle/profiles"] {
        for entry in std::fs::read_dir(shared.join(dir)).expect("generated dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "sb") {
                assert_checks(&[path], &[]);
                n += 1;
            }
        }
    }
    assert!(n >= 16, "only {n} generated policies found");
}

fn sb_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sb_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "sb") {
            out.push(path);
        }
    }
}

#[test]
fn every_safehouse_module_reads_without_syntax_error() {
    let Some(shared) = support::shared_dir("every_safehouse_module_reads_without_syntax_error") else { return };
    let mut files = Vec::new();
    sb_files(&shared.join("corpus/safehouse/profiles"), &mut files);
    files.sort();
    assert!(files.len() > 30, "only {} modules found", files.len());
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read module");
        if let Err(e) = reader::read_all(0, &text) {
            panic!("{}:{}:{}: {}", f.display(), e.line, e.col, e.message);
        }
    }
    // Assembled in order with the base's placeholders filled, the modules also evaluate.
    let mut sources = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read module");
        let text = text
            .replace("__SAFEHOUSE_REPLACE_ME_WITH_ABSOLUTE_HOME_DIR__", HOME)
            .replace("__SAFEHOUSE_REPLACE_ME_WITH_WORK_DIR_DEFINE__", "(define WORK_DIR \"/Users/alice/src/project\")");
        sources.push(SourceFile::new(f.display().to_string(), text));
    }
    let policy = compile(&sources, &Params::new()).unwrap_or_else(|e| panic!("{e}"));
    assert!(policy.rules().len() > 100);
}

fn decide(files: &[SourceFile], params: &[(&str, &str)], op: &str, target: &str) -> Verdict {
    let params: Params = params.iter().map(|(k, v)| (*k, *v)).collect();
    let policy = compile(files, &params).unwrap_or_else(|e| panic!("{e}"));
    policy.decide(op, &Target::parse(op, target)).verdict
}

fn source(path: &Path) -> SourceFile {
    SourceFile::new(path.display().to_string(), std::fs::read_to_string(path).expect("read profile"))
}

/// The decisions the corpus README suggests.
#[test]
fn corpus_readme_suggested_decisions() {
    let Some(shared) = support::shared_dir("corpus_readme_suggested_decisions") else { return };
    let dir = shared.join("corpus/sbpl");
    let trustd = [source(&dir.join("apple-Security-com.apple.trustd.sb"))];
    let tp = [("_TMPDIR", TMP), ("_DARWIN_CACHE_DIR", CACHE)];
    // The corpus README expects `deny` here, but trustd.sb line 20 is an unfiltered
    // `(allow process-info-pidinfo)`, and a call into the unresolved system.sb import comes
    // later (line 101): allowed by line 20 unless system.sb's rules say otherwise.
    let params: Params = tp.iter().map(|(k, v)| (*k, *v)).collect();
    let policy = compile(&trustd, &params).unwrap_or_else(|e| panic!("{e}"));
    let d = policy.decide("process-info-pidinfo", &Target::parse("process-info-pidinfo", "-"));
    assert_eq!(d.verdict, Verdict::Indeterminate);
    assert_eq!(policy.rule(d.rule.expect("line 20 decides")).origin.line, 20);
    assert!(!d.uncertain.is_empty());
    assert_eq!(policy.warnings().iter().filter(|w| w.message.contains("system.sb")).count(), 1);

    let chromium = chromium_params();
    let renderer = [source(&dir.join("chromium-common.sb")), source(&dir.join("chromium-renderer.sb"))];
    assert_eq!(decide(&renderer, &chromium, "iokit-get-properties", "Removable"), Verdict::Allow);
    assert_eq!(decide(&renderer, &chromium, "iokit-get-properties", "SomethingElse"), Verdict::Deny);

    let nix = [
        SourceFile::new("prelude.sb", "(version 1)\n(deny default)\n"),
        source(&dir.join("nix-sandbox-defaults.sb")),
    ];
    let np = [("_GLOBAL_TMP_DIR", "/private/tmp/nix-build-1"), ("_NIX_BUILD_TOP", "/private/tmp/nix-build-1/top")];
    assert_eq!(decide(&nix, &np, "file-write-setugid", "/private/tmp/nix-build-1/x"), Verdict::Deny);
    assert_eq!(decide(&nix, &np, "file-write-data", "/private/tmp/nix-build-1/x"), Verdict::Allow);

    let bazel = [source(&dir.join("generated/bazel-darwin-sandbox-generated.sb"))];
    assert_eq!(decide(&bazel, &[], "file-write-create", "/private/tmp/x"), Verdict::Allow);
    assert_eq!(decide(&bazel, &[], "file-write-create", "/Users/alice/x"), Verdict::Deny);
    assert_eq!(decide(&bazel, &[], "file-read-data", "/Users/alice/.ssh/id_rsa"), Verdict::Deny);
    assert_eq!(decide(&bazel, &[], "network-outbound", "remote-ip:1.2.3.4:443"), Verdict::Deny);
}

/// Every rule of every corpus policy, rendered with `sbpl::render`, reads back to the same rule
/// (same operations, same filter tree) — so whatever the project renders from a real profile parses.
#[test]
fn every_corpus_rule_renders_and_reads_back() {
    use safehouse_learner::sbpl::render;
    let Some(shared) = support::shared_dir("every_corpus_rule_renders_and_reads_back") else { return };
    let mut profiles = Vec::new();
    for dir in ["corpus/safehouse/generated", "corpus/oracle/profiles"] {
        sb_files(&shared.join(dir), &mut profiles);
    }
    profiles.push(shared.join("corpus/sbpl/apple-appsandbox-generic-10.14.6-simbple.sb"));
    profiles.push(shared.join("corpus/sbpl/generated/sandbox-runtime-generated.sb"));
    profiles.push(shared.join("corpus/sbpl/codex-seatbelt_base_policy.sbpl"));
    let mut checked = 0;
    for path in &profiles {
        let policy = compile(&[source(path)], &Params::new()).unwrap_or_else(|e| panic!("{e}"));
        let mut text = String::from("(version 1)\n");
        let mut originals = Vec::new();
        for rule in policy.rules().iter().filter(|r| !r.implicit) {
            let ops: Vec<&str> = rule.operations.iter().map(|s| s.as_str()).collect();
            let filters: Vec<String> = rule.filter.iter().map(render::filter).collect();
            text.push_str(&render::rule(rule.action, &ops, &filters));
            text.push('\n');
            originals.push(rule);
        }
        let again = compile(&[SourceFile::new("rendered.sb", text.clone())], &Params::new())
            .unwrap_or_else(|e| panic!("{}: rendered rules do not compile: {e}", path.display()));
        let rendered: Vec<_> = again.rules().iter().filter(|r| !r.implicit).collect();
        assert_eq!(rendered.len(), originals.len(), "{}", path.display());
        for (a, b) in originals.iter().zip(&rendered) {
            assert_eq!(a.action, b.action);
            assert_eq!(a.operations, b.operations, "{}", b.origin.text);
            assert_eq!(a.filter, b.filter, "{} line {}:\n{}", path.display(), a.origin.line, b.origin.text);
            checked += 1;
        }
    }
    assert!(checked > 1000, "only {checked} rules checked");
}
