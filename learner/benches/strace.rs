//! Throughput of the strace reader: lines and events per second on real traces.
//!
//! `cargo bench -p safehouse-learner --bench strace [-- TRACE...]`: without arguments it reads the
//! bundled samples (`samples/strace/*.trace`), repeated to about 200k lines. Prints the figures and
//! the number of lines the tracer could not use (should be 0).

use std::time::Instant;

use safehouse_learner::strace::Tracer;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let inputs: Vec<(String, String)> = if args.is_empty() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/strace");
        let mut files: Vec<_> = std::fs::read_dir(dir).expect("samples/strace").flatten().map(|e| e.path()).collect();
        files.sort();
        files
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "trace"))
            .map(|p| (p.display().to_string(), std::fs::read_to_string(&p).unwrap()))
            .collect()
    } else {
        args.iter().map(|p| (p.clone(), std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{p}: {e}")))).collect()
    };
    for (name, text) in &inputs {
        let lines = text.lines().count().max(1);
        let repeat = (200_000 / lines).max(1);
        let start = Instant::now();
        let mut events = 0usize;
        let mut warnings = 0usize;
        for _ in 0..repeat {
            let (e, w) = Tracer::new("/tmp/safehouse-strace/work").parse_all(text);
            events += e.len();
            warnings += w.len();
        }
        let secs = start.elapsed().as_secs_f64();
        let total = (lines * repeat) as f64;
        println!(
            "{name}: {lines} lines x{repeat}: {:.0} lines/s, {:.0} events/s, {:.1} MB/s, {} unusable lines per pass",
            total / secs,
            events as f64 / secs,
            (text.len() * repeat) as f64 / secs / 1e6,
            warnings / repeat
        );
    }
}
