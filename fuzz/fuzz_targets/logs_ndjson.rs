//! The ndjson reader (fast path and serde fallback) on records whose message is fuzzed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use safehouse_learner::logs;

fuzz_target!(|data: &[u8]| {
    // Raw bytes as lines, and the same bytes as the (unescaped) eventMessage of a kernel record.
    let mut input = data.to_vec();
    input.extend_from_slice(br#"
{"processImagePath":"\/kernel","timestamp":"2026-09-13 10:08:36.525077-0700","eventMessage":""#);
    input.extend_from_slice(data);
    input.extend_from_slice(br#"","processID":0}
{"count":1,"finished":1}"#);
    let mut stream = logs::open_events(&input[..], "fuzz").unwrap();
    for _ in stream.by_ref() {}
    if !input.starts_with(&[0x1f, 0x8b]) {
        // (gzip-framed input is another target's business: here it is simply not gzip.)
        assert!(stream.stats().lines >= 2);
    }
});
