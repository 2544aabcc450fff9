//! The session archive reader on fuzzed event lines after a valid header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use safehouse_learner::logs;

fuzz_target!(|data: &[u8]| {
    let mut input = b"{\"safehouse_archive\":1,\"context\":{}}\n".to_vec();
    input.extend_from_slice(data);
    let mut stream = logs::open_events(&input[..], "fuzz").unwrap();
    for item in stream.by_ref() {
        if let Err(e) = item {
            // Archive errors name the file and a position.
            assert!(e.to_string().starts_with("fuzz"));
        }
    }
});
