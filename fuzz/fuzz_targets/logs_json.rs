//! The `--style json` (pretty array) reader with fuzzed field lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use safehouse_learner::logs;

fuzz_target!(|data: &[u8]| {
    let mut input = b"[{\n  \"timestamp\" : \"2026-05-07 19:48:34.701580-0500\",\n  \"eventMessage\" : \"".to_vec();
    input.extend_from_slice(data);
    input.extend_from_slice(b"\",\n  \"processImagePath\" : \"\\/kernel\"\n},{\n");
    input.extend_from_slice(data);
    input.extend_from_slice(b"\n}]\n");
    let mut stream = logs::open_events(&input[..], "fuzz").unwrap();
    for _ in stream.by_ref() {}
});
