//! The text-style readers (compact, default, syslog) with fuzzed messages and continuation lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use safehouse_learner::logs;

const PREFIXES: [&[u8]; 3] = [
    b"2026-10-08 17:43:10.173 Df kernel[0:ad30] (Sandbox) ",
    b"2026-05-15 11:08:24.741500+0530 0x85533    Error       0x0                  0      0    kernel: (Sandbox) ",
    b"2023-05-26 13:42:44.136082+0200  localhost kernel[0]: (Sandbox) ",
];

fuzz_target!(|data: &[u8]| {
    for prefix in PREFIXES {
        let mut input = Vec::new();
        for line in data.split(|b| *b == b'\n') {
            input.extend_from_slice(prefix);
            input.extend_from_slice(line);
            input.push(b'\n');
            input.extend_from_slice(line); // the same text as a continuation line
            input.push(b'\n');
        }
        let mut stream = logs::open_events(&input[..], "fuzz").unwrap();
        for _ in stream.by_ref() {}
    }
});
