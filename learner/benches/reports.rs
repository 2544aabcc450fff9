//! Benchmark: `audit` and `tighten` over one million events, end to end from a log file.
//!
//! Run with `cargo bench -p safehouse-learner --bench reports`. Writes a 1M-report
//! `log show --style compact` file to the temp dir, then times each pipeline as the CLI runs it:
//! read (the log reader), attribute / judge (the engine), aggregate, and produce the result
//! (audit JSON; tighten ledger + findings). The target is under 3 s each (README "tighten and
//! audit").

use std::io::{BufReader, BufWriter, Write};
use std::time::Instant;

use safehouse_learner::learn::{SessionContext, Tiers};
use safehouse_learner::logs;
use safehouse_learner::report::area::Places;
use safehouse_learner::report::audit::Auditor;
use safehouse_learner::report::judge::Judge;
use safehouse_learner::report::tighten::{self, Inputs, RuleView};
use safehouse_learner::report::usage::{Attributor, Ledger, RuleKey, SessionRecord, SessionUsage};
use safehouse_learner::report::RuleRef;
use safehouse_learner::sbpl::{compile, Params, SourceFile};

const EVENTS: usize = 1_000_000;

/// CPU time (user + system) of this process so far, in seconds: the figure that does not depend
/// on how busy the machine is.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of /proc/self/stat (utime, stime), counted after the `)`: 11 and 12.
    (ticks(11) + ticks(12)) / 100.0
}

/// A deterministic session: an agent reading a project, caches and the system, writing build
/// output, looking up services and connecting out; 1 in 50 accesses denied, some folded.
fn write_log(path: &std::path::Path) -> u64 {
    let mut out = BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "Timestamp               Ty Process[PID:TID]").unwrap();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 0..EVENTS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let (op, target) = match x % 10 {
            0..=3 => ("file-read-data", format!("/Users/alice/src/project/src/m{}/f{}.js", x % 200, (x >> 8) % 500)),
            4 => ("file-read-metadata", format!("/Users/alice/.npm/_cacache/index-v5/{:02x}/{:04x}", x % 256, (x >> 8) % 400)),
            5 => ("file-write-data", format!("/Users/alice/src/project/dist/out{}.js", x % 1000)),
            6 => ("file-read-data", format!("/usr/lib/lib{}.dylib", x % 300)),
            7 => ("mach-lookup", format!("com.apple.service{}", x % 40)),
            8 => ("network-outbound", format!("remote:*:{}", [443, 80, 22][(x % 3) as usize])),
            _ => ("file-read-data", format!("/Users/alice/Library/Application Support/ToolX/c{}", x % 100)),
        };
        let verdict = if x % 50 == 0 { "deny(1)" } else { "allow" };
        let ms = i as u64 / 10;
        let (h, m, s, milli) = (10 + ms / 3_600_000, (ms / 60_000) % 60, (ms / 1000) % 60, ms % 1000);
        let dup = if x % 97 == 0 { "2 duplicate reports for " } else { "" };
        writeln!(
            out,
            "2026-12-01 {h:02}:{m:02}:{s:02}.{milli:03} Df kernel[0:1a2b] (Sandbox) {dup}Sandbox: node({}) {verdict} {op} {target}",
            4000 + x % 8
        )
        .unwrap();
    }
    out.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

fn main() {
    let path = std::env::temp_dir().join(format!("safehouse-reports-bench-{}.log", std::process::id()));
    let t = Instant::now();
    let bytes = write_log(&path);
    println!("wrote {} reports ({} MB) in {:.2} s", EVENTS, bytes / 1_000_000, t.elapsed().as_secs_f64());

    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/tighten/");
    let sources: Vec<SourceFile> = ["base.sb", "overlay.sb"]
        .iter()
        .map(|n| SourceFile::new(*n, std::fs::read_to_string(format!("{root}{n}")).unwrap()))
        .collect();
    let policy = compile(&sources, &Params::new()).unwrap();
    let ctx = SessionContext { home: Some("/Users/alice".into()), workdir: Some("/Users/alice/src/project".into()), ..Default::default() };

    // The reading alone, for reference.
    let t = Instant::now();
    let c = cpu_seconds();
    let input = BufReader::with_capacity(256 * 1024, std::fs::File::open(&path).unwrap());
    let read = logs::open_events(input, "bench.log").unwrap().count();
    let secs = t.elapsed().as_secs_f64();
    println!("read:    {read} events in {secs:.3} s wall, {:.2} s CPU ({:.0} MB/s)", cpu_seconds() - c, bytes as f64 / secs / 1e6);

    // audit: read, judge (engine causes + learner tiers), aggregate, JSON.
    let t = Instant::now();
    let c = cpu_seconds();
    let input = BufReader::with_capacity(256 * 1024, std::fs::File::open(&path).unwrap());
    let mut stream = logs::open_events(input, "bench.log").unwrap();
    let mut judge = Judge::new(Some(&policy), None, Tiers::builtin().bind(&ctx));
    let mut audit = Auditor::new(Places::from(&ctx));
    audit.begin_session("bench.log", Default::default(), None);
    let mut n = 0u64;
    for event in stream.by_ref() {
        let event = event.unwrap();
        let judgement = judge.judge(&event);
        audit.observe(&event, judgement);
        n += 1;
    }
    let report = audit.finish();
    let json = serde_json::to_string(&report).unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "audit:   {n} events in {secs:.3} s wall, {:.2} s CPU ({:.2} M events/s, {:.0} MB/s): {} denials, {} distinct targets, {} KB JSON",
        cpu_seconds() - c,
        n as f64 / secs / 1e6,
        bytes as f64 / secs / 1e6,
        report.denials.len(),
        report.counts.targets,
        json.len() / 1024
    );

    // tighten: read, attribute to rules (engine), count, ledger JSON round trip, findings.
    let t = Instant::now();
    let c = cpu_seconds();
    let refs: Vec<RuleRef> = policy
        .rules()
        .iter()
        .map(|r| RuleRef::from(&r.origin))
        .collect();
    let keys = RuleKey::for_rules(&refs);
    let input = BufReader::with_capacity(256 * 1024, std::fs::File::open(&path).unwrap());
    let mut stream = logs::open_events(input, "bench.log").unwrap();
    let mut attributor = Attributor::new(&policy, &keys);
    let mut usage = SessionUsage::default();
    let mut attributed = 0u64;
    let mut n = 0u64;
    for event in stream.by_ref() {
        let event = event.unwrap();
        attributed += u64::from(attributor.count(&event, &mut usage));
        n += 1;
    }
    let table: Vec<_> = policy.rules().iter().enumerate().map(|(i, r)| (keys[i].clone(), refs[i].clone(), r.action)).collect();
    let mut ledger = Ledger::default();
    ledger.record(SessionRecord { id: "bench".into(), name: "bench.log".into(), attributed, unattributed: usage.unattributed }, &table, &usage);
    let ledger = Ledger::from_json(&ledger.to_json()).unwrap();
    let views: Vec<RuleView<'_, _>> = policy
        .rules()
        .iter()
        .enumerate()
        .map(|(i, r)| RuleView {
            action: r.action,
            operations: &r.operations,
            filter: r.filter.as_ref(),
            rule: refs[i].clone(),
            key: keys[i].clone(),
            owned: r.origin.file == "overlay.sb",
        })
        .collect();
    let findings = tighten::findings(&Inputs { rules: &views, ledger: &ledger, min_sessions: 1 });
    let secs = t.elapsed().as_secs_f64();
    println!(
        "tighten: {n} events in {secs:.3} s wall, {:.2} s CPU ({:.2} M events/s, {:.0} MB/s): {attributed} attributed, {} findings",
        cpu_seconds() - c,
        n as f64 / secs / 1e6,
        bytes as f64 / secs / 1e6,
        findings.findings.len()
    );
    let _ = std::fs::remove_file(&path);
}
