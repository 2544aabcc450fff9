//! Shared helpers for the end-to-end tests: locating `../shared` and running the built binary.
#![allow(dead_code)]

use std::path::PathBuf;

/// The read-only third-party material (`../shared`), from `SAFEHOUSE_SHARED` or beside the checkout.
///
/// Returns `None` (and says so on stderr, naming the test) when it is absent, so a missing corpus is
/// visible in the output. When `SAFEHOUSE_SHARED` is set but wrong, that is a setup error: panic.
pub fn shared_dir(test: &str) -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("SAFEHOUSE_SHARED") {
        let dir = PathBuf::from(dir);
        assert!(dir.join("corpus").is_dir(), "SAFEHOUSE_SHARED={} has no corpus/", dir.display());
        return Some(dir);
    }
    let beside = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared");
    if beside.join("corpus").is_dir() {
        return Some(beside);
    }
    eprintln!("SKIPPED {test}: ../shared/corpus is absent (set SAFEHOUSE_SHARED to run corpus conformance)");
    None
}

/// The `safehouse` binary built for this test run.
pub fn safehouse() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_safehouse"))
}

/// The repository root (for `samples/`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
