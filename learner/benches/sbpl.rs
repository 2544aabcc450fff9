//! Engine benchmark (not a test): compile `corpus/safehouse/generated/default.sb` and decide a
//! mix of file operations against it. Prints the figures quoted in README ("SBPL engine").
//!
//! Run: `SAFEHOUSE_SHARED=/path/to/shared cargo bench -p safehouse-learner --bench sbpl`
//! (without the variable, `../shared` beside the checkout or one of its parents is used).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use safehouse_learner::sbpl::{compile, Params, SourceFile, Verdict};
use safehouse_learner::Target;

fn shared() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("SAFEHOUSE_SHARED") {
        return Some(PathBuf::from(dir));
    }
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        let candidate = dir.join("shared");
        if candidate.join("corpus").is_dir() {
            return Some(candidate);
        }
        if !dir.pop() {
            return None;
        }
    }
}

fn main() {
    let Some(shared) = shared() else {
        eprintln!("SKIPPED sbpl bench: no ../shared/corpus (set SAFEHOUSE_SHARED)");
        return;
    };
    let path = shared.join("corpus/safehouse/generated/default.sb");
    let text = std::fs::read_to_string(&path).expect("read default.sb");
    let lines = text.lines().count();
    let files = [SourceFile::new("default.sb", text)];
    let params = Params::new();

    // Compile: best and median of many runs, after a warm-up.
    for _ in 0..20 {
        black_box(compile(&files, &params).expect("compile"));
    }
    let mut times: Vec<Duration> = (0..200)
        .map(|_| {
            let t = Instant::now();
            black_box(compile(&files, &params).expect("compile"));
            t.elapsed()
        })
        .collect();
    times.sort();
    let policy = compile(&files, &params).expect("compile");
    println!(
        "compile default.sb ({lines} lines, {} rules): median {:.3} ms, best {:.3} ms",
        policy.rules().len(),
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3
    );

    // Decide: a mix of file operations on allowed, denied and deep paths.
    let ops = ["file-read-data", "file-read-metadata", "file-write-create", "file-write-data", "file-read-xattr", "process-exec"];
    let roots = [
        "/usr/lib/libSystem.B.dylib",
        "/System/Library/Frameworks/Foundation.framework/Versions/C/Foundation",
        "/Users/alice/src/project/src/main.rs",
        "/Users/alice/src/project/target/debug/deps/libfoo-1234.rlib",
        "/Users/alice/.ssh/id_ed25519",
        "/Users/alice/Library/Application Support/Google/Chrome/Default/Cookies",
        "/private/tmp/build/out.o",
        "/private/var/folders/zz/zyxvpxvq6csfxvn_n0000000000000/T/tmp.XYZ/file",
        "/private/etc/hosts",
        "/dev/null",
        "/opt/homebrew/bin/git",
        "/Users/alice/.config/gh/hosts.yml",
        "/Users/alice/.cargo/registry/src/index.crates.io-6f17d22bba15001f/serde-1.0.0/src/lib.rs",
        "/Library/Preferences/com.apple.x.plist",
        "/Users/alice/Documents/taxes-2025.pdf",
        "/private/var/run/com.apple.launchd.AbC123/Listeners",
    ];
    let requests: Vec<(&str, Target)> = ops
        .iter()
        .flat_map(|op| roots.iter().map(move |p| (*op, Target::parse(op, p))))
        .collect();
    let mut counts = [0usize; 3];
    for (op, t) in &requests {
        match policy.decide(op, t).verdict {
            Verdict::Allow => counts[0] += 1,
            Verdict::Deny => counts[1] += 1,
            Verdict::Indeterminate => counts[2] += 1,
        }
    }
    let rounds = 20_000;
    let start = Instant::now();
    for _ in 0..rounds {
        for (op, t) in &requests {
            black_box(policy.decide(black_box(op), black_box(t)));
        }
    }
    let elapsed = start.elapsed();
    let n = rounds * requests.len();
    println!(
        "decide: {n} decisions ({} distinct: {} allow, {} deny, {} indeterminate) in {:.3} s = {:.2} M decisions/s, {:.0} ns each",
        requests.len(),
        counts[0],
        counts[1],
        counts[2],
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64() / 1e6,
        elapsed.as_nanos() as f64 / n as f64
    );
}
