//! Bare report messages and the grammar itself, on any bytes (plain and gzip-framed).
#![no_main]

use libfuzzer_sys::fuzz_target;
use safehouse_learner::logs::{self, message};

fuzz_target!(|data: &[u8]| {
    let mut stream = logs::open_events(data, "fuzz").unwrap();
    for _ in stream.by_ref() {}
    if let Ok(text) = std::str::from_utf8(data) {
        for anchoring in [message::Anchoring::Required, message::Anchoring::Optional] {
            if let Some(report) = message::parse(text, anchoring) {
                assert!(!report.operation.is_empty());
            }
        }
    }
});
