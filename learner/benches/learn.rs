//! Benchmark: the learner over 10k, 100k and 1M events (2k, 20k and 200k distinct targets).
//!
//! Run with `cargo bench -p safehouse-learner --bench learn`. Each size runs in its own child
//! process so its peak resident memory (`VmHWM` from `/proc/self/status`) is its own. Events are
//! generated and fed one at a time, as a log stream would be; the policy is the embedded macOS base
//! profile (`learner/profiles/base.sb`), compiled by the engine. The target is 1M events over 200k
//! distinct paths in under 2 s and under 500 MB (README "Learner").

use std::time::Instant;

use safehouse_learner::learn::{LearnOptions, Learner, SessionContext};
use safehouse_learner::sbpl::{compile, Params, SourceFile};
use safehouse_learner::{Action, Event, Target};

const HOME: &str = "/Users/alice";
const WORK: &str = "/Users/alice/src/project";

/// A deterministic xorshift stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Event `i` of a session with `distinct` distinct targets: an agent building a node project.
fn event(rng: &mut Rng, distinct: u64, base: chrono::DateTime<chrono::FixedOffset>, i: u64) -> Event {
    // Draw one of `distinct` targets; its family and name are a function of it alone.
    let k = (rng.next() >> 16) % distinct;
    let x = k.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 7;
    let (op, target) = match x % 20 {
        0..=5 => ("file-read-data", format!("{WORK}/src/m{}/f{}.ts", k % 400, k)),
        6..=8 => ("file-read-data", format!("{HOME}/.npm/_cacache/content-v2/sha512/{:02x}/{:02x}/{:040x}", k % 256, (k / 256) % 256, k.wrapping_mul(0x9e37_79b9_7f4a_7c15))),
        9 => ("file-write-data", format!("{WORK}/node_modules/pkg{}/lib/f{}.js", k % 900, k)),
        10 => ("file-read-metadata", format!("{HOME}/Library/Preferences/com.vendor{}.app.plist", k)),
        11 => ("file-read-data", format!("{HOME}/.config/tool{}/settings{}.json", k % 300, k)),
        12 => ("file-write-create", format!("/private/var/folders/7x/k2m9q1vn5d3c8b1w0000gn/T/tmp{:08x}/out{}", k.wrapping_mul(2654435761) & 0xffff_ffff, k % 7)),
        13 => ("file-read-data", format!("/usr/lib/lib{}.dylib", k)),
        14 => ("file-read-data", format!("{HOME}/.nvm/versions/node/v22.3.0/lib/node_modules/npm/lib/f{}.js", k)),
        15 => ("process-exec*", format!("{WORK}/node_modules/.bin/tool{}", k)),
        16 => ("file-read-data", format!("{HOME}/src/other/doc{}.md", k)),
        17 => match k % 3 {
            0 => ("mach-lookup", format!("com.apple.service{}", k % 60)),
            1 => ("network-outbound", format!("remote:*:{}", [443, 80, 22, 5432][(k % 4) as usize])),
            _ => ("sysctl-read", format!("kern.name{}", k % 30)),
        },
        _ => ("file-read-data", format!("{WORK}/test/t{}/case{}.ts", k % 100, k)),
    };
    let mut e = Event::new("node", Some(4000 + (x % 8) as u32), Action::Allow, op, Target::parse(op, &target));
    e.time = Some(base + chrono::Duration::microseconds(i as i64 * 100));
    e
}

/// CPU time this thread has used, in seconds (`/proc/thread-self/schedstat`, nanoseconds): on a
/// shared machine wall time also counts other processes' turns.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()))
        .map_or(0.0, |ns| ns as f64 / 1e9)
}

fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn run(events: u64, distinct: u64) {
    let base_text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/base.sb")).unwrap();
    let mut params = Params::new();
    params.insert("HOME_DIR", HOME);
    params.insert("WORK_DIR", WORK);
    let policy = compile(&[SourceFile::new("base.sb", base_text)], &params).unwrap();
    let ctx = SessionContext {
        home: Some(HOME.into()),
        workdir: Some(WORK.into()),
        temp_roots: vec!["/private/var/folders/7x/k2m9q1vn5d3c8b1w0000gn/T".into()],
        command: vec!["claude".into()],
        ..SessionContext::default()
    };
    let start_rss = peak_rss_kb();
    let base = chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00+01:00").unwrap();
    // What generating the events alone costs (the log reader's work, not the learner's).
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let t = Instant::now();
    let c = cpu_seconds();
    let mut bytes = 0usize;
    for i in 0..events {
        bytes += event(&mut rng, distinct, base, i).target.raw.len();
    }
    let generation = t.elapsed().as_secs_f64();
    let generation_cpu = cpu_seconds() - c;
    std::hint::black_box(bytes);
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let t = Instant::now();
    let c = cpu_seconds();
    let mut learner = Learner::new();
    learner.begin_session("bench");
    for i in 0..events {
        let e = event(&mut rng, distinct, base, i);
        learner.observe(&e);
    }
    let observed = t.elapsed().as_secs_f64() - generation;
    let observed_cpu = cpu_seconds() - c - generation_cpu;
    let learned = if std::env::var_os("BENCH_DENY_ALL").is_some() {
        learner.learn(&safehouse_learner::learn::DenyAll, &ctx, &LearnOptions::default())
    } else {
        learner.learn(&policy, &ctx, &LearnOptions::default())
    };
    let total = t.elapsed().as_secs_f64() - generation;
    let total_cpu = cpu_seconds() - c - generation_cpu;
    let peak = peak_rss_kb();
    println!(
        "{:>9} events {:>7} distinct  (generating them: {:>6.3} s)  observe {:>6.3} s (cpu {:>6.3} s)  learn {:>6.3} s (cpu {:>6.3} s)  total {:>6.3} s (cpu {:>6.3} s)  {:>9.0} events/s  peak RSS {:>6.1} MB (start {:>5.1} MB)  {} proposals",
        events,
        learner.distinct(),
        generation,
        observed,
        observed_cpu,
        total - observed,
        total_cpu - observed_cpu,
        total,
        total_cpu,
        events as f64 / total,
        peak as f64 / 1024.0,
        start_rss as f64 / 1024.0,
        learned.proposals.len()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--size") {
        let events: u64 = args[i + 1].parse().unwrap();
        run(events, events / 5);
        return;
    }
    // Each size in a fresh process: its own peak memory.
    for events in [10_000u64, 100_000, 1_000_000] {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--size", &events.to_string()])
            .status()
            .expect("run the benchmark child");
        assert!(status.success());
    }
}
