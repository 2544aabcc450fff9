//! Fuzz the SBPL reader and the whole compiler: no input may panic, hang or overflow the stack.
//! Any bytes are tried as profile text (invalid UTF-8 decoded lossily, as `safehouse check`
//! reads files), then a few decisions are asked of what compiles.
#![no_main]

use libfuzzer_sys::fuzz_target;
use safehouse_learner::sbpl::{compile, reader, Params, SourceFile};
use safehouse_learner::Target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = reader::read_all(0, &text);
    let mut params = Params::new();
    params.insert("HOME", "/Users/fuzz");
    if let Ok(policy) = compile(&[SourceFile::new("fuzz.sb", text.into_owned())], &params) {
        for (op, target) in [
            ("file-read-data", "/Users/fuzz/x"),
            ("network-outbound", "remote:*:443"),
            ("mach-lookup", "com.apple.x"),
            ("signal", "target-process=self"),
        ] {
            let _ = policy.decide(op, &Target::parse(op, target));
        }
    }
});
