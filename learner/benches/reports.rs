//! Benchmark: `audit` and `tighten` over one million events.
//!
//! Run with `cargo bench -p safehouse-learner --bench reports`. Prints events/s and wall time for
//! each; the target is under 3 s each for 1M events (README "tighten and audit").

use std::time::Instant;

use safehouse_learner::report::area::Places;
use safehouse_learner::report::audit::{Auditor, DenialCause, Judgement};
use safehouse_learner::{Action, Event, Target};

const EVENTS: usize = 1_000_000;

/// A deterministic session: a node-like agent reading a project, caches and the system, writing
/// build output, looking up services and connecting out; 1 in 50 accesses denied.
fn events() -> Vec<Event> {
    let mut out = Vec::with_capacity(EVENTS);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let base = chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00+01:00").unwrap();
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
            _ => ("process-exec*", format!("/usr/bin/tool{}", x % 20)),
        };
        let action = if x % 50 == 0 { Action::Deny } else { Action::Allow };
        let mut e = Event::new("node", Some(4000 + (x % 8) as u32), action, op, Target::parse(op, &target));
        e.time = Some(base + chrono::Duration::microseconds(i as i64 * 100));
        if x % 97 == 0 {
            e.count = 3;
        }
        out.push(e);
    }
    out
}

fn main() {
    let t = Instant::now();
    let events = events();
    println!("generated {} events in {:.2} s", events.len(), t.elapsed().as_secs_f64());

    let places = Places { home: Some("/Users/alice".into()), workdir: Some("/Users/alice/src/project".into()), temp_roots: vec![] };
    let t = Instant::now();
    let mut audit = Auditor::new(places);
    audit.begin_session("bench", Default::default(), None);
    for e in &events {
        let judgement = if e.action == Action::Deny {
            Judgement { cause: Some(DenialCause::MissingRule), sensitive: None }
        } else {
            Judgement::default()
        };
        audit.observe(e, judgement);
    }
    let report = audit.finish();
    let json = serde_json::to_string(&report).unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "audit: {} events in {:.3} s ({:.2} M events/s), {} denials, {} distinct targets, {} KB JSON",
        events.len(),
        secs,
        events.len() as f64 / secs / 1e6,
        report.denials.len(),
        report.counts.targets,
        json.len() / 1024
    );
}
