//! Property tests for log ingestion: archives read back what was written, the report grammar
//! reads back what it printed, and no input makes a reader panic or lose count of its lines.

use std::io::BufRead;

use chrono::{DateTime, FixedOffset, TimeZone};
use proptest::prelude::*;
use safehouse_learner::logs::{self, message, ArchiveHeader, ArchiveWriter, SessionContext};
use safehouse_learner::{Action, Event, Target};

const OPERATIONS: &[&str] = &[
    "file-read-data",
    "file-write-create",
    "file-ioctl",
    "process-exec*",
    "network-outbound",
    "network-bind",
    "mach-lookup",
    "sysctl-read",
    "signal",
    "system-socket",
    "process-fork",
    "iokit-open-user-client",
];

const ARGUMENTS: &[&str] = &[
    "/private/etc/hosts",
    "/Users/a b/(x)/\"q\"\\",
    "remote:*:443",
    "local:*:*",
    "/private/var/run/mDNSResponder",
    "path:/dev/tty ioctl-command:(_IO \"t\" 22)",
    "others [Google Chrome Helper (Renderer)(812)] signum:15",
    "domain:32 type:2 protocol:2",
    "com.apple.system.notification_center",
    "",
];

fn time() -> impl Strategy<Value = Option<DateTime<FixedOffset>>> {
    proptest::option::of((0i64..4_000_000_000, 0u32..1_000_000_000, -14 * 60i32..=14 * 60).prop_map(|(secs, nanos, minutes)| {
        let offset = FixedOffset::east_opt(minutes * 60).unwrap();
        offset.timestamp_opt(secs, nanos).unwrap()
    }))
}

prop_compose! {
    fn event()(
        time in time(),
        process in "\\PC{0,20}",
        pid in proptest::option::of(any::<u32>()),
        deny in any::<bool>(),
        op in 0..OPERATIONS.len(),
        argument in prop_oneof![(0..ARGUMENTS.len()).prop_map(|i| ARGUMENTS[i].to_string()), any::<String>()],
        count in 1u64..=u64::MAX,
        tag in proptest::option::of(any::<String>()),
        platform_policy in any::<bool>(),
        file in proptest::option::of("[a-z./-]{1,12}"),
        line in proptest::option::of(any::<u64>()),
    ) -> Event {
        let operation = OPERATIONS[op];
        Event {
            time,
            process,
            pid,
            action: if deny { Action::Deny } else { Action::Allow },
            operation: operation.to_string(),
            target: Target::parse(operation, &argument),
            count,
            tag,
            platform_policy,
            file,
            line,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn archive_reads_back_what_was_written(events in proptest::collection::vec(event(), 0..20), home in proptest::option::of("\\PC{0,10}")) {
        let header = ArchiveHeader::new(None, SessionContext { home, ..Default::default() });
        let mut writer = ArchiveWriter::new(Vec::new(), &header).unwrap();
        for e in &events {
            writer.write_event(e).unwrap();
        }
        let bytes = writer.into_inner();
        let mut stream = logs::open_events(&bytes[..], "session.archive").unwrap();
        let back: Vec<Event> = stream.by_ref().map(|e| e.unwrap()).collect();
        prop_assert_eq!(&back, &events);
        prop_assert_eq!(stream.archive_header(), Some(&header));
        prop_assert_eq!(stream.stats().reports, events.len() as u64);
    }

    #[test]
    fn grammar_reads_back_what_the_kernel_prints(
        name in "([A-Za-z0-9._()-][A-Za-z0-9 ._()-]{0,23})?",
        pid in any::<u32>(),
        deny in any::<bool>(),
        op in 0..OPERATIONS.len(),
        arg in 0..ARGUMENTS.len(),
        dups in 0u64..100,
        tag in proptest::option::of("[A-Za-z0-9_=]{1,30}"),
    ) {
        let verdict = if deny { "deny(1)" } else { "allow" };
        let prefix = match dups { 0 => String::new(), 1 => "1 duplicate report for ".into(), n => format!("{n} duplicate reports for ") };
        let argument = ARGUMENTS[arg];
        let sep = if argument.is_empty() { "" } else { " " };
        let mut text = format!("{prefix}Sandbox: {name}({pid}) {verdict} {}{sep}{argument}", OPERATIONS[op]);
        if let Some(tag) = &tag {
            text.push('\n');
            text.push_str(tag);
        }
        let r = message::parse(&text, message::Anchoring::Required).unwrap();
        prop_assert_eq!(r.process, name.as_str());
        prop_assert_eq!(r.pid, Some(pid));
        prop_assert_eq!(r.action, if deny { Action::Deny } else { Action::Allow });
        prop_assert_eq!(r.operation, OPERATIONS[op]);
        prop_assert_eq!(r.argument, argument.trim_end());
        prop_assert_eq!(r.duplicates, dups);
        prop_assert_eq!(r.tag, tag.as_deref());
    }

    #[test]
    fn readers_never_panic_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        drain(&bytes);
    }

    #[test]
    fn readers_never_panic_on_log_shaped_lines(lines in proptest::collection::vec(log_line(), 0..40)) {
        let text = lines.join("\n");
        drain(text.as_bytes());
    }
}

/// Read everything; every physical line must be counted.
fn drain(bytes: &[u8]) {
    let mut stream = logs::open_events(bytes, "fuzz").unwrap();
    for item in stream.by_ref() {
        let _ = item;
    }
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return; // decompressed line counts differ
    }
    let lines = bytes.split(|b| *b == b'\n').count() as u64 - u64::from(bytes.ends_with(b"\n") || bytes.is_empty());
    assert_eq!(stream.stats().lines, lines);
    let _ = std::io::Cursor::new(bytes).lines();
}

/// Lines mixing real prefixes, anchors and fragments with random text.
fn log_line() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("2026-09-13 10:08:36.525077-0700 ".to_string()),
        Just("2026-10-08 17:43:10.173 Df kernel[0:ad30] (Sandbox) ".to_string()),
        Just("2023-05-26 13:42:44.136082+0200  localhost kernel[0]: ".to_string()),
        Just("0x85533    Error       0x0                  0      0    kernel: ".to_string()),
        Just("Sandbox: ".to_string()),
        Just("System Policy: ".to_string()),
        Just("SandboxViolation: ".to_string()),
        Just("sandboxd[12] ([3]): ".to_string()),
        Just("3 duplicate reports for ".to_string()),
        Just("cat(12) ".to_string()),
        Just("deny(1) ".to_string()),
        Just("allow ".to_string()),
        Just("file-read-data /x".to_string()),
        Just("{\"eventMessage\":\"".to_string()),
        Just("{\"safehouse_archive\":1}".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("  \"eventMessage\" : \"".to_string()),
        Just("\\n".to_string()),
        Just("\\u12".to_string()),
        Just("[".to_string()),
        Just("Timestamp ".to_string()),
        "\\PC{0,12}",
    ];
    proptest::collection::vec(pieces, 0..6).prop_map(|p| p.concat())
}
