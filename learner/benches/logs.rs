//! Benchmark: log ingestion throughput on generated logs of 1,000,000 Sandbox reports.
//!
//! Run with `cargo bench -p safehouse-learner --bench logs`. Writes an ndjson log (full records
//! as `log stream --style ndjson` prints them) and a compact-style log to temporary files, reads
//! each with `logs::open_events` on one thread, and prints MB/s, reports/s, the peak resident
//! memory, and `grep -c Sandbox` on the same file for scale. Targets (README "Log ingestion"):
//! ndjson >= 200 MB/s (aim 1 GB/s), compact >= 400 MB/s, flat memory.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use safehouse_learner::logs;

const REPORTS: usize = 1_000_000;

/// A deterministic mix of report messages (JSON-escaped when `json`), with the shapes real
/// sessions show: file paths, Mach names, sockets, duplicates and tags.
fn message(i: usize, x: u64, json: bool) -> String {
    let slash = if json { "\\/" } else { "/" };
    let (op, target) = match x % 8 {
        0..=2 => ("file-read-data", format!("{slash}Users{slash}alice{slash}src{slash}project{slash}src{slash}m{}{slash}f{}.js", x % 200, (x >> 8) % 500)),
        3 => ("file-read-metadata", format!("{slash}private{slash}var{slash}folders{slash}x1{slash}T{slash}tmp.{:x}", x % 4096)),
        4 => ("file-write-create", format!("{slash}Users{slash}alice{slash}src{slash}project{slash}dist{slash}out{}.js", x % 1000)),
        5 => ("mach-lookup", format!("com.apple.service{}", x % 40)),
        6 => ("network-outbound", format!("remote:*:{}", [443, 80, 22][(x % 3) as usize])),
        _ => ("process-exec*", format!("{slash}usr{slash}bin{slash}tool{}", x % 20)),
    };
    let dup = if i % 13 == 0 { format!("{} duplicate reports for ", 2 + x % 5) } else { String::new() };
    let verdict = if i % 50 == 0 { "deny(1)" } else { "allow" };
    let tag = if i % 3 == 0 { if json { "\\nsh-learn-7f3a91" } else { "" } } else { "" };
    format!("{dup}Sandbox: node({}) {verdict} {op} {target}{tag}", 4000 + x % 8)
}

fn generate(path: &Path, ndjson: bool) -> u64 {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    if ndjson {
        writeln!(out, "Filtering the log data using \"sender == \\\"Sandbox\\\"\"").unwrap();
    } else {
        writeln!(out, "Timestamp               Ty Process[PID:TID]").unwrap();
    }
    for i in 0..REPORTS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let (s, us) = (i / 10_000, (i % 10_000) * 100);
        let (hh, mm, ss) = (10 + s / 3600, (s / 60) % 60, s % 60);
        if ndjson {
            writeln!(
                out,
                concat!(
                    r#"{{"timezoneName":"","messageType":"{}","eventType":"logEvent","source":null,"formatString":"%s","userID":0,"#,
                    r#""activityIdentifier":0,"subsystem":"","category":"","threadID":{},"senderImageUUID":"17CFD554-F412-3152-AEB1-27E9E3CF96BE","#,
                    r#""backtrace":{{"frames":[{{"imageOffset":148280,"imageUUID":"17CFD554-F412-3152-AEB1-27E9E3CF96BE"}}]}},"bootUUID":"","#,
                    r#""processImagePath":"\/kernel","senderImagePath":"\/System\/Library\/Extensions\/Sandbox.kext\/Contents\/MacOS\/Sandbox","#,
                    r#""timestamp":"2026-09-13 {:02}:{:02}:{:02}.{:06}-0700","machTimestamp":{},"eventMessage":"{}","#,
                    r#""processImageUUID":"A1B2C3D4-0000-1111-2222-333344445555","traceID":{},"processID":0,"senderProgramCounter":148280,"parentActivityIdentifier":0}}"#
                ),
                if i % 50 == 0 { "Error" } else { "Default" },
                391356 + x % 1000,
                hh,
                mm,
                ss,
                us,
                17943921132726u64 + i as u64 * 1000,
                message(i, x, true),
                1000 + x % 7,
            )
            .unwrap();
        } else {
            writeln!(
                out,
                "2026-09-13 {:02}:{:02}:{:02}.{:03} {} kernel[0:{:x}] (Sandbox) {}",
                hh,
                mm,
                ss,
                us / 1000,
                if i % 50 == 0 { "E " } else { "Df" },
                0x35ba7 + x % 4096,
                message(i, x, false)
            )
            .unwrap();
        }
    }
    if ndjson {
        writeln!(out, "\n{{\"count\":{REPORTS},\"finished\":1}}").unwrap();
    }
    out.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

/// Peak resident set size of this process so far, in MiB (Linux `VmHWM`).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn grep_seconds(path: &Path) -> Option<(f64, String)> {
    let start = Instant::now();
    let out = Command::new("grep").arg("-c").arg("Sandbox").arg(path).output().ok()?;
    Some((start.elapsed().as_secs_f64(), String::from_utf8_lossy(&out.stdout).trim().to_string()))
}

fn run(name: &str, ndjson: bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(if ndjson { "log.ndjson" } else { "log.txt" });
    let bytes = generate(&path, ndjson);
    let mb = bytes as f64 / 1e6;
    // Warm the page cache so both readers measure parsing, not the disk.
    let _ = grep_seconds(&path);
    let rss_before = peak_rss_mib();
    let mut best = f64::MAX;
    let mut reports = 0;
    for _ in 0..3 {
        let start = Instant::now();
        let file = BufReader::with_capacity(256 * 1024, File::open(&path).unwrap());
        let mut stream = logs::open_events(file, name).unwrap();
        let mut n = 0u64;
        for event in stream.by_ref() {
            let event = event.unwrap();
            n += event.count.min(1);
        }
        best = best.min(start.elapsed().as_secs_f64());
        reports = stream.stats().reports;
        assert_eq!(n, REPORTS as u64);
    }
    let rss_after = peak_rss_mib();
    let ours = mb / best;
    println!("{name}: {mb:.0} MB, {reports} reports: {best:.3} s = {ours:.0} MB/s, {:.2} M reports/s", reports as f64 / best / 1e6);
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        println!("{name}: peak RSS {after:.1} MiB (before reading {before:.1} MiB)");
    }
    match grep_seconds(&path) {
        Some((secs, count)) => {
            let theirs = mb / secs;
            println!("{name}: grep -c Sandbox: {secs:.3} s = {theirs:.0} MB/s (count {count}); ours/grep = {:.2}", ours / theirs)
        }
        None => println!("{name}: grep not available"),
    }
}

fn main() {
    // `cargo bench -p safehouse-learner --bench logs -- compact` runs one style only.
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    for (name, ndjson) in [("ndjson", true), ("compact", false)] {
        if only.is_empty() || only.iter().any(|o| o == name) {
            run(name, ndjson);
        }
    }
}
