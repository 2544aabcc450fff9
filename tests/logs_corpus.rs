//! Corpus conformance for log ingestion: every Sandbox report in every file of
//! `../shared/corpus/logs` is extracted with the expected process, pid, action, operation,
//! target, count, tag and platform flag, and every other line is accounted for by reason.
//! Expectations were written line by line from `docs/unified-log-format.md`; line numbers are
//! 1-based physical lines of the corpus files.

mod support;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use safehouse_learner::logs::{self, SkipReason, Stats};
use safehouse_learner::target::{Scope, TargetKind};
use safehouse_learner::{Action, Event};

/// One expected report. `pid` 0 means "no pid printed".
#[derive(Debug, Clone)]
struct Exp {
    line: u64,
    process: &'static str,
    pid: u32,
    action: Action,
    operation: &'static str,
    target: &'static str,
    count: u64,
    tag: Option<&'static str>,
    platform: bool,
}

fn d(line: u64, process: &'static str, pid: u32, operation: &'static str, target: &'static str) -> Exp {
    Exp { line, process, pid, action: Action::Deny, operation, target, count: 1, tag: None, platform: false }
}

fn a(line: u64, process: &'static str, pid: u32, operation: &'static str, target: &'static str) -> Exp {
    Exp { action: Action::Allow, ..d(line, process, pid, operation, target) }
}

impl Exp {
    fn x(mut self, count: u64) -> Exp {
        self.count = count;
        self
    }
    fn tag(mut self, tag: &'static str) -> Exp {
        self.tag = Some(tag);
        self
    }
    fn sp(mut self) -> Exp {
        self.platform = true;
        self
    }
}

fn read(path: &Path) -> (Vec<Event>, Stats) {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut stream = logs::open_events(BufReader::new(File::open(path).unwrap()), &name).unwrap();
    let events: Vec<Event> = stream.by_ref().map(|e| e.unwrap()).collect();
    (events, stream.stats().clone())
}

/// Read `file` and compare every event with `expected`, then the line accounting.
fn check(test: &str, file: &str, expected: &[Exp], lines: u64, skipped: &[(SkipReason, u64)]) -> Option<Vec<Event>> {
    let shared = support::shared_dir(test)?;
    let path = shared.join("corpus/logs").join(file);
    let (events, stats) = read(&path);
    for (i, (got, want)) in events.iter().zip(expected).enumerate() {
        let ctx = format!("{file} event #{i} (line {:?}): {got:?}", got.line);
        assert_eq!(got.line, Some(want.line), "{ctx}");
        assert_eq!(got.file.as_deref(), Some(file), "{ctx}");
        assert_eq!(got.process, want.process, "{ctx}");
        assert_eq!(got.pid, (want.pid != 0).then_some(want.pid), "{ctx}");
        assert_eq!(got.action, want.action, "{ctx}");
        assert_eq!(got.operation, want.operation, "{ctx}");
        assert_eq!(got.target.raw, want.target, "{ctx}");
        assert_eq!(got.count, want.count, "{ctx}");
        assert_eq!(got.tag.as_deref(), want.tag, "{ctx}");
        assert_eq!(got.platform_policy, want.platform, "{ctx}");
    }
    assert_eq!(events.len(), expected.len(), "{file}: number of reports extracted");
    assert_eq!(stats.reports, expected.len() as u64, "{file}");
    assert_eq!(stats.duplicates_folded, expected.iter().map(|e| e.count - 1).sum::<u64>(), "{file}");
    assert_eq!(stats.lines, lines, "{file}: lines read");
    let want: BTreeMap<SkipReason, u64> = skipped.iter().copied().collect();
    assert_eq!(stats.skipped, want, "{file}: lines skipped by reason");
    Some(events)
}

fn time(e: &Event) -> String {
    e.time.map(|t| t.to_rfc3339()).unwrap_or_default()
}

#[test]
fn ndjson_style() {
    const HOSTS_TAG: &str = "CMD64_Y2F0IC9ldGMvaG9zdHMgfCBoZWFkIC0x_END__k3j9x0q2m_SBX";
    const PERSIST: &str = "com.apple.contactsd.persistence";
    const ABOOK: &str = "com.apple.AddressBook.ContactsAccountsService";
    const SPUA: &str = "searchpartyuseragent";
    let expected = [
        d(7, SPUA, 1156, "mach-lookup", PERSIST),
        d(8, SPUA, 1156, "mach-lookup", PERSIST).x(2),
        d(9, "imagent", 544, "mach-lookup", PERSIST),
        d(10, "imagent", 544, "mach-lookup", PERSIST).x(4),
        d(11, "imagent", 544, "mach-lookup", ABOOK),
        d(12, "imagent", 544, "mach-lookup", PERSIST),
        d(13, "imagent", 544, "mach-lookup", PERSIST).x(8),
        d(14, "cat", 15505, "file-read-data", "/private/etc/hosts"),
        d(15, "touch", 15511, "file-write-create", "/private/tmp/buckle_capture_probe"),
        d(16, "curl", 15522, "network-outbound", "/private/var/run/syslog"),
        d(17, "curl", 15522, "network-outbound", "remote:*:80"),
        d(18, "cat", 15528, "file-read-data", "/private/etc/hosts").tag(HOSTS_TAG),
        d(19, "cat", 15531, "file-read-data", "/private/etc/hosts").tag(HOSTS_TAG),
        d(20, "bash", 15536, "file-read-data", "/private/etc/hosts"),
        d(21, SPUA, 1156, "mach-lookup", PERSIST),
        d(22, SPUA, 1156, "mach-lookup", PERSIST).x(4),
        d(23, SPUA, 1156, "mach-lookup", ABOOK),
        d(24, SPUA, 1156, "mach-lookup", PERSIST),
        d(25, SPUA, 1156, "mach-lookup", PERSIST).x(8),
        d(26, "gputoolsserviced", 15546, "file-read-data", "/usr/libexec"),
        d(27, "gputoolsserviced", 15546, "file-read-data", "/usr/libexec").x(2),
        d(
            28,
            "gputoolsserviced",
            15546,
            "file-write-create",
            "/private/var/folders/x1/_178pfv95q16b4k6pc24sz5r0000gn/C/com.apple.gputoolsserviced/com.apple.gputoolsserviced",
        ),
        d(29, "imagent", 544, "mach-lookup", PERSIST),
        d(30, "imagent", 544, "mach-lookup", PERSIST).x(2),
        d(31, "cat", 15571, "file-read-data", "/private/etc/hosts").tag(HOSTS_TAG),
        d(32, SPUA, 1156, "mach-lookup", PERSIST),
        d(33, SPUA, 1156, "mach-lookup", PERSIST).x(2),
        d(34, "imagent", 544, "mach-lookup", PERSIST),
        d(35, "imagent", 544, "mach-lookup", PERSIST).x(2),
        d(36, SPUA, 1156, "mach-lookup", PERSIST),
        d(37, SPUA, 1156, "mach-lookup", PERSIST).x(2),
        d(38, "imagent", 544, "mach-lookup", PERSIST),
        d(43, "zsh", 83736, "file-write-data", "/dev/dtracehelper"),
        d(44, "zsh", 83736, "mach-lookup", "com.apple.system.notification_center"),
        d(45, "zsh", 83736, "mach-lookup", "com.apple.logd"),
        d(46, "zsh", 83736, "mach-lookup", "com.apple.diagnosticd"),
        d(47, "cat", 83737, "file-write-data", "/dev/dtracehelper"),
        d(48, "base64", 83738, "file-write-data", "/dev/dtracehelper"),
        d(49, "touch", 83742, "file-write-data", "/dev/dtracehelper"),
        d(50, "date", 83743, "file-write-data", "/dev/dtracehelper"),
        d(51, "date", 83743, "mach-lookup", "com.apple.system.notification_center"),
        d(52, "sh", 83996, "file-write-data", "/dev/dtracehelper"),
        d(53, "bash", 83996, "file-write-data", "/dev/dtracehelper"),
        d(54, "bash", 83996, "sysctl-read", "kern.ngroups"),
        d(55, "touch", 83997, "file-write-data", "/dev/dtracehelper"),
        d(56, "touch", 83997, "file-write-create", "/Users/Shared/buckle_cursor_probe"),
    ];
    let skipped = [(SkipReason::Comment, 7), (SkipReason::Framing, 2), (SkipReason::Blank, 1)];
    let Some(events) = check("ndjson_style", "ndjson-style.ndjson", &expected, 56, &skipped) else { return };
    assert_eq!(time(&events[0]), "2026-09-13T10:08:36.525077-07:00");
    assert_eq!(time(&events[45]), "2026-09-13T17:02:00.815639-07:00");
    assert_eq!(events[9].target.kind, TargetKind::UnixSocket { path: "/private/var/run/syslog".into() });
    assert_eq!(events[10].target.kind, TargetKind::Network { scope: Scope::Remote, host: "*".into(), port: Some(80) });
    assert_eq!(events[7].target.kind, TargetKind::Path { path: "/private/etc/hosts".into() });
    assert_eq!(events[43].target.kind, TargetKind::Name { name: "kern.ngroups".into() });
}

#[test]
fn compact_style() {
    const LIBINFO: &str = "com.apple.system.opendirectoryd.libinfo";
    const DIAG: &str = "com.apple.diagnosticd";
    const SHM: &str = "apple.shm.notification_center";
    const NETWORKD: &str = "/Library/Preferences/com.apple.networkd.plist";
    let expected = [
        d(7, "curl", 3473, "file-read-data", "/dev/dtracehelper"),
        d(8, "curl", 3473, "mach-lookup", "com.apple.system.notification_center"),
        d(9, "curl", 3473, "mach-lookup", LIBINFO),
        d(10, "curl", 3473, "mach-lookup", LIBINFO).x(2),
        d(11, "curl", 3473, "mach-lookup", "com.apple.logd"),
        d(12, "curl", 3473, "mach-lookup", LIBINFO),
        d(13, "curl", 3473, "file-read-metadata", "/Users/me"),
        d(14, "curl", 3473, "mach-lookup", DIAG),
        d(15, "curl", 3473, "mach-lookup", DIAG).x(5),
        d(16, "curl", 3473, "mach-lookup", LIBINFO),
        d(17, "curl", 3473, "mach-lookup", DIAG),
        d(18, "curl", 3473, "mach-lookup", DIAG).x(4),
        d(19, "curl", 3473, "mach-lookup", LIBINFO),
        d(20, "curl", 3473, "file-read-data", "/Library/Preferences/.GlobalPreferences.plist"),
        d(21, "curl", 3473, "mach-lookup", DIAG),
        d(22, "curl", 3473, "mach-lookup", DIAG).x(2),
        d(23, "curl", 3473, "mach-lookup", "com.apple.SystemConfiguration.configd"),
        d(24, "curl", 3473, "mach-lookup", LIBINFO),
        d(25, "curl", 3473, "mach-lookup", DIAG),
        d(26, "curl", 3473, "file-read-data", NETWORKD),
        d(27, "curl", 3473, "mach-lookup", DIAG),
        d(28, "curl", 3473, "file-read-data", NETWORKD),
        d(29, "curl", 3473, "mach-lookup", DIAG),
        d(30, "curl", 3473, "mach-lookup", DIAG).x(3),
        d(31, "curl", 3473, "network-outbound", "/private/var/run/mDNSResponder"),
        d(32, "curl", 3473, "mach-lookup", DIAG),
        d(34, "findmybeaconingd", 507, "mach-lookup", "com.apple.timed.xpc"),
        d(35, "curl", 3575, "file-write-data", "/dev/dtracehelper"),
        d(36, "curl", 3575, "ipc-posix-shm-read-data", SHM),
        d(37, "curl", 3575, "ipc-posix-shm-read-data", SHM).x(6),
        d(38, "curl", 3575, "file-read-data", "/dev/autofs_nowait"),
        d(39, "curl", 3575, "file-read-data", "/Users/me/.CFUserTextEncoding"),
        d(40, "curl", 3575, "ipc-posix-shm-read-data", SHM),
        d(41, "curl", 3575, "file-read-data", "/dev/autofs_nowait"),
        d(42, "curl", 3575, "file-read-data", "/Users/me/.CFUserTextEncoding"),
        d(43, "curl", 3575, "ipc-posix-shm-read-data", SHM),
        d(44, "curl", 3575, "ipc-posix-shm-read-data", SHM).x(17),
        d(45, "curl", 3575, "file-read-data", "/Users/me/Library/Preferences/ByHost/.GlobalPreferences.[snip].plist"),
        d(46, "curl", 3575, "ipc-posix-shm-read-data", SHM),
        d(47, "curl", 3575, "ipc-posix-shm-read-data", SHM).x(3),
        d(48, "curl", 3575, "file-read-data", "/Users/me/Library/Preferences/.GlobalPreferences.plist"),
        d(49, "curl", 3575, "ipc-posix-shm-read-data", SHM),
        d(50, "curl", 3575, "file-read-data", "/Users/me/Library/Preferences/.GlobalPreferences_m.plist"),
        d(51, "curl", 3575, "ipc-posix-shm-read-data", SHM),
        d(52, "curl", 3575, "ipc-posix-shm-read-data", SHM).x(7),
        d(53, "curl", 3575, "system-socket", "domain:32 type:2 protocol:2"),
        d(54, "curl", 3575, "ipc-posix-shm-read-data", SHM),
        d(55, "curl", 3575, "system-socket", "domain:32 type:2 protocol:2"),
        d(56, "curl", 3575, "ipc-posix-shm-read-data", SHM),
        d(57, "curl", 3575, "network-outbound", "remote:*:80"),
        a(63, "sing-box", 15588, "file-read-data", "/dev/dtracehelper"),
        d(64, "mapssyncd", 14783, "file-read-data", "/Users/x"),
        d(65, "mds", 53, "mach-lookup", "com.apple.x").x(2),
        a(66, "diskutil", 15622, "file-read-data", "/dev/rdisk0").sp(),
    ];
    let skipped = [(SkipReason::Comment, 17), (SkipReason::Framing, 1), (SkipReason::NotSandbox, 2)];
    let Some(events) = check("compact_style", "compact-style.txt", &expected, 74, &skipped) else { return };
    // Compact prints no zone: the reader's default offset (UTC unless the caller says otherwise).
    assert_eq!(time(&events[0]), "2000-01-01T00:00:00+00:00");
    assert_eq!(time(&events[50]), "2026-10-08T17:43:10.173+00:00");
    assert_eq!(events[26].time, None, "elided prefixes carry no time");
    assert_eq!(
        events[45].target.kind,
        TargetKind::Socket { domain: Some(32), socket_type: Some(2), protocol: Some(2) }
    );
}

#[test]
fn default_style() {
    let expected = [
        d(9, "git", 30931, "file-read-data", "/dev/autofs_nowait"),
        d(10, "git", 30931, "file-read-data", "/private/var/root/.CFUserTextEncoding"),
        d(11, "git", 30931, "file-read-data", "/dev/autofs_nowait"),
        d(12, "git", 30931, "file-read-data", "/private/var/root/.CFUserTextEncoding"),
        d(13, "git", 30931, "file-read-metadata", "/Users/seq-test"),
        d(18, "mdworker", 15726, "mach-lookup", "com.apple.security.syspolicy"),
        d(21, "mobileassetd", 45396, "file-write-create", "/private/var/run/bootSessionMA.txt"),
    ];
    let skipped = [(SkipReason::Comment, 25), (SkipReason::Framing, 7), (SkipReason::NotSandbox, 5)];
    let Some(events) = check("default_style", "default-style.txt", &expected, 44, &skipped) else { return };
    assert_eq!(time(&events[0]), "2026-05-15T11:08:24.741500+05:30");
    assert_eq!(time(&events[5]), "2019-09-25T20:38:53.784594-07:00");
}

#[test]
fn syslog_style() {
    let expected = [
        d(8, "sandbox-exec", 41398, "process-exec*", "/usr/bin/touch"),
        d(9, "sandbox-exec", 41398, "file-read-metadata", "/usr/bin/touch"),
        d(10, "sandbox-exec", 41398, "file-read-metadata", "/var"),
        d(11, "sandbox-exec", 41398, "file-read-metadata", "/var").x(6),
        d(13, "touch", 41575, "file-read-metadata", "/usr/bin/touch"),
        d(14, "touch", 41575, "file-read-data", "/usr/bin/touch"),
        d(15, "touch", 41575, "file-read-data", "/usr/bin"),
        d(16, "touch", 41575, "file-read-metadata", "/usr/lib/dyld"),
        d(17, "touch", 41575, "sysctl-read", "kern.bootargs"),
        d(18, "touch", 41575, "file-read-data", "/"),
        d(22, "logd_helper", 15377, "file-read-data", "..."),
    ];
    let skipped = [(SkipReason::Comment, 13), (SkipReason::Framing, 1)];
    let Some(events) = check("syslog_style", "syslog-style.txt", &expected, 25, &skipped) else { return };
    assert_eq!(time(&events[3]), "2023-05-26T13:42:52.701382+02:00");
    assert_eq!(events[0].target.kind, TargetKind::Path { path: "/usr/bin/touch".into() });
    assert_eq!(events[10].target.kind, TargetKind::Other, "an elided path is kept raw, not guessed");
}

#[test]
fn json_style_has_no_sandbox_record() {
    // The one record is a real non-Sandbox entry: read whole, counted once as not-sandbox.
    let skipped = [(SkipReason::Comment, 5), (SkipReason::NotSandbox, 1)];
    check("json_style_has_no_sandbox_record", "json-style.json", &[], 37, &skipped);
}

#[test]
fn allow_with_report_lines() {
    const NOTA: &str = "/Users/xt/LXT/code/trae/1107-model-eval/Nota4/Build/Nota4.app";
    const NOTA_BIN: &str = "/Users/xt/LXT/code/trae/1107-model-eval/Nota4/Build/Nota4.app/Contents/MacOS/Nota4";
    let expected = [
        a(7, "sing-box", 15588, "file-read-data", "/dev/dtracehelper"),
        a(8, "diskutil", 15622, "file-read-data", "/dev/rdisk0").sp(),
        a(11, "ContextStoreAgent", 28911, "file-read-data", NOTA),
        a(12, "ContextStoreAgent", 28911, "file-read-data", NOTA_BIN).x(2),
        a(13, "ContextStoreAgent", 28911, "file-read-xattr", NOTA_BIN),
        a(16, "htop", 51550, "mach-priv-task-port", "").sp(),
        a(21, "obs", 94613, "file-read-data", "/private/etc/hosts"),
        a(22, "obs", 94613, "file-write-create", "/private/tmp/obs-probe.txt"),
    ];
    let Some(events) = check("allow_with_report_lines", "allow-with-report-lines.txt", &expected, 22, &[(SkipReason::Comment, 14)])
    else {
        return;
    };
    assert_eq!(events[5].target.kind, TargetKind::None);
}

#[test]
fn kernel_deny_lines() {
    let ppp = "/Users/Trey/Desktop/PlayerPath/PlayerPath";
    let expected = [
        d(6, "curl", 75886, "file-read-data", "/Users/eduardokolomajr/.CFUserTextEncoding"),
        d(7, "curl", 75886, "user-preference-read", "kCFPreferencesAnyApplication"),
        d(8, "curl", 75886, "file-read-data", "/Library/Preferences/com.apple.networkd.plist"),
        d(9, "curl", 75886, "network-outbound", "/private/var/run/mDNSResponder"),
        d(12, "nc", 86248, "network-outbound", "/private/var/run/syslog"),
        d(14, "", 0, "file-write-create", "/private/tmp/ac1334-known-bad.txt"),
        d(18, "cat", 96728, "file-read-data", "/private/var/folders/\u{2026}/ib-denial-probe-E8o8ss/forbidden/read.txt"),
        d(19, "cat", 96730, "file-read-data", "\u{2026}/forbidden/read.txt"),
        d(20, "bash", 96731, "file-write-create", "\u{2026}/forbidden/write.txt"),
        d(23, "cat", 7866, "file-read-data", "/private/tmp/.../.ssh/id_rsa"),
        d(26, "Pawmodoro", 86294, "hid-control", ""),
        d(30, "Ext4FS", 0, "file-ioctl", "path:/dev/rdiskN ioctl-command:(_IO \"d\" 22)"),
        d(31, "Ext4FS", 0, "file-ioctl", "path:/dev/rdiskN ioctl-command:(_IO \"d\" 24)"),
        d(33, "", 0, "file-ioctl", "path:/dev/tty ioctl-command:(_IO \"t\" 22)"),
        d(36, "Craig-O-Clean", 7163, "signal", "others [Safari(5085)] signum:15"),
        d(38, "zsh", 66592, "signal", "initproc signum:15"),
        d(40, "", 0, "signal", "children ... signum:2"),
        d(44, "searchpartyd", 159, "network-bind", "local:*:55330"),
        d(45, "mediaplaybackd", 346, "network-bind", "local:*:55331"),
        d(46, "dasd", 83, "network-bind", "local:*:59999"),
        d(48, "minimodell", 0, "network-bind", "local:*:0"),
        d(49, "bristlenose-sidecar", 0, "network-bind", "local:*:9131"),
        d(52, "Zomato", 677, "file-test-existence", "/bin/bash"),
        d(53, "Zomato", 677, "file-test-existence", "/private/etc/apt"),
        d(56, "com.apple.MapKit", 363, "file-read-metadata", "/b"),
        d(57, "com.apple.MapKit", 363, "file-read-data", "/b"),
        d(60, "pmset(<pid>)", 0, "iokit-open-user-client", "AppleSMCClient"),
        d(64, "bash", 31, "iokit-open", "IOUserClient").sp(),
        d(66, "remote-layer-probe", 37, "iokit-open-user-client", "IOSurfaceRootUserClient").sp(),
        d(68, "MetalTest", 648, "iokit-open-user-client", "AppleParavirtDeviceUserClient").sp(),
        d(71, "capture_test(pid)", 0, "iokit-open-service", "IOUSBHostInterface").sp(),
        d(72, "configd", 342, "iokit-open-service", "IOUSBHostInterface").sp(),
        // Wrapped by the publisher after `System Policy:`; the path on the next line is not joined.
        d(76, "com.apple.CoreSimulator.CoreSimu", 9381, "file-write-create", "").sp(),
        d(80, "", 0, "iokit-open-user-client", "AGXDeviceUserClient"),
        d(81, "", 0, "system-info", "vfs.disk-space"),
        d(82, "", 0, "iokit-open-user-client", "AppleNVMeEANUC"),
        d(83, "", 0, "iokit-open-service", "IOPMrootDomain"),
        d(84, "", 0, "network-bind", "local:*:0"),
        d(85, "", 0, "forbidden-exec-sugid", ""),
        d(90, "rsync.samba", 0, "file-write-create", ""),
        d(91, "dart", 0, "file-write-create", ""),
        d(94, "defaults", 81784, "file-read-data", ppp),
        d(96, "bash", 41161, "file-read-data", "/Users/.../plant-vitals/...").sp(),
        d(98, "macslim", 0, "file-read-data", "/Users/edwinhao/Library/Logs"),
    ];
    let skipped = [(SkipReason::Comment, 51), (SkipReason::NotSandbox, 2), (SkipReason::Continuation, 1)];
    let Some(events) = check("kernel_deny_lines", "kernel-deny-lines.txt", &expected, 98, &skipped) else { return };
    assert_eq!(
        events[14].target.kind,
        TargetKind::Signal { who: "others".into(), process: Some("Safari".into()), pid: Some(5085), signum: Some(15) }
    );
    assert_eq!(
        events[11].target.kind,
        TargetKind::Ioctl { path: "/dev/rdiskN".into(), command: "(_IO \"d\" 22)".into() }
    );
    assert_eq!(events[17].target.kind, TargetKind::Network { scope: Scope::Local, host: "*".into(), port: Some(55330) });
    assert_eq!(events[6].target.kind, TargetKind::Path { path: "/private/var/folders/\u{2026}/ib-denial-probe-E8o8ss/forbidden/read.txt".into() });
    assert_eq!(events[7].target.kind, TargetKind::Other, "an elided path is not a path");
}

#[test]
fn third_party_test_fixtures() {
    const SRT: &str = "SRTATTEMPT_corr_abcdefgh_END__123_SBX";
    let expected = [
        d(8, "bash", 1, "file-read-data", "/secret").tag(SRT),
        d(9, "curl", 2, "network-outbound", "example.com:443").tag(SRT),
        d(10, "bash", 1, "file-write-data", "/blocked").tag("CMD64_${encoded}_END__123_SBX"),
        d(13, "imagent", 544, "mach-lookup", "com.apple.contactsd.persistence").x(8),
        d(14, "nesessionmanager", 678, "system-fsctl", "(_IO \"h\" 47)"),
        d(15, "Google Chrome Helper (Renderer)", 812, "mach-lookup", "x"),
        d(16, "foo", 9, "process-fork", ""),
        d(17, "eslogger", 14156, "system-privilege", "1016").sp(),
        a(18, "foo", 9, "file-read-data", "/x"),
        d(22, "cat", 22304, "file-read-data", "/private/tmp/a b/.env"),
        d(23, "Python", 25511, "file-read-data", "/x").sp(),
        d(24, "cat", 22304, "file-read-data", "/x").x(42),
        d(25, "Codex (Service)", 123, "mach-lookup", "com.apple.pasteboard.1"),
        d(26, "sh", 9, "file-ioctl", "path:/dev/dtracehelper ioctl-command:(_IO x)"),
        d(27, "nc", 9, "network-bind", "local:*:18777"),
        a(30, "bash", 1, "file-read-data", "/etc/hosts").tag("lockin-run-OTHER-RUN-ID"),
        a(31, "bash", 2901, "file-read-data", "/bin/bash").x(2),
        a(32, "bash", 2901, "file-read-data", "/bin/bash").x(38),
        a(33, "bash", 3052, "file-ioctl", "path:/dev/dtracehelper ioctl-command:(_IO \\\"h\\\" 4)"),
        a(37, "cat", 325, "file-read-data", "/repo/a b.txt"),
        a(38, "cat", 325, "file-read-data", "/repo/c").x(2),
        a(39, "cat", 325, "file-read-metadata", "/repo/d"),
        a(42, "icdd", 2124, "file-read-data", "/Library/Image Capture/Devices").x(2),
        a(43, "sing-box", 7, "mach-lookup", "com.apple.x").x(13),
        d(44, "mds", 99, "file-read-data", "/Users/a").sp(),
        d(45, "Google Chrome He", 123, "mach-lookup", "com.apple.y"),
        a(46, "sing-box", 7, "process-fork", ""),
        a(47, "sing-box", 7, "process-exec*", "/usr/sbin/networksetup"),
        a(48, "odd (name)", 8, "sysctl-read", "kern.hostname"),
        d(56, "kernelmanagerd", 545, "file-write-create", "/private/var/db/loadedkextmt.plist.sb-5a00fc77-LNttZF"),
        d(61, "bash", 65518, "file-write-create", "/private/tmp/demo/src/api/tagprobe.txt")
            .tag("CMD64_c2ggLWMgJ2VjaG8gaGkgPiBzcmMvYXBpL3RhZ3Byb2JlLnR4dCc=_END__qlvxb5sax_SBX"),
        d(63, "imagent", 538, "file-write-data", "/tmp/x").x(4).tag("CMD64_c2g=_END__qlvxb5sax_SBX"),
        d(67, "bash", 1, "file-ioctl", "path:/dev/dtracehelper ioctl-command:(_IO \"h\" 4)"),
        d(70, "java", 77, "mach-lookup", "com.apple.FontServer").x(4),
        d(71, "python3.12", 9, "network-outbound", "1.1.1.1:443"),
        d(72, "Gradle Worker", 10, "signal", ""),
        d(73, "kill", 9, "signal", ""),
        d(74, "curl", 1, "network-outbound", "140.82.121.4:443"),
        d(75, "open", 1, "lsopen", ""),
        d(76, "ps", 1, "forbidden-exec-sugid", ""),
        d(77, "nc", 49511, "network-outbound", "remote:*:9").tag("ahma-op-7"),
        d(80, "nc", 4002, "network-outbound", "remote:*:443").x(2).tag("{nonce}"),
        d(83, "pw-probe-runner", 42, "syscall-unix", "545"),
        d(84, "pw-probe-runner", 7, "file-write-create", "/private/tmp/pw fixture/created"),
        d(87, "fish", 123, "file-read-data", "/Users/eric/.rustup/credentials.toml"),
        d(90, "curl", 13590, "network-outbound", "remote:*:443").tag("porta:abc"),
        d(94, "llama-server", 4242, "network-bind", "local:*:8080"),
        d(97, "com.example (helper)", 99, "signal", ""),
        d(98, "sh", 5, "file-write-data", "/tmp/a) deny(1) b"),
        a(101, "bash", 12345, "file-read-data", "/usr/lib/libSystem.B.dylib"),
        a(102, "curl", 12345, "network-outbound", "*:443"),
        a(103, "node", 12345, "network-bind", "*:8080"),
        a(104, "curl", 12345, "network-outbound", "93.184.216.34:443"),
    ];
    let skipped = [(SkipReason::Comment, 44), (SkipReason::Framing, 2), (SkipReason::NotSandbox, 2)];
    let Some(events) = check("third_party_test_fixtures", "third-party-test-fixtures.txt", &expected, 104, &skipped) else {
        return;
    };
    assert_eq!(time(&events[45]), "2026-09-21T13:40:48+00:00");
}

#[test]
fn reconstructed_templates_are_flagged_not_extracted() {
    // Grammar templates with `<placeholders>`: not reports, but every one that names an anchor is
    // counted as an unknown shape (visible to the user), never silently dropped.
    let skipped = [(SkipReason::Comment, 24), (SkipReason::UnknownShape, 9), (SkipReason::NotSandbox, 1)];
    check("reconstructed_templates_are_flagged_not_extracted", "reconstructed-format-templates.txt", &[], 34, &skipped);
}

#[test]
fn every_corpus_log_file_is_covered() {
    let Some(shared) = support::shared_dir("every_corpus_log_file_is_covered") else { return };
    let mut names: Vec<String> = std::fs::read_dir(shared.join("corpus/logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "README.md")
        .collect();
    names.sort();
    let covered = [
        "allow-with-report-lines.txt",
        "compact-style.txt",
        "default-style.txt",
        "json-style.json",
        "kernel-deny-lines.txt",
        "ndjson-style.ndjson",
        "reconstructed-format-templates.txt",
        "syslog-style.txt",
        "third-party-test-fixtures.txt",
    ];
    assert_eq!(names, covered, "a corpus file without expectations");
}

#[test]
fn concatenated_and_gzipped_corpus_reads_the_same() {
    let Some(shared) = support::shared_dir("concatenated_and_gzipped_corpus_reads_the_same") else { return };
    let dir = shared.join("corpus/logs");
    let files = ["ndjson-style.ndjson", "compact-style.txt", "syslog-style.txt", "default-style.txt"];
    let mut all = Vec::new();
    let mut separate = 0;
    for f in files {
        let bytes = std::fs::read(dir.join(f)).unwrap();
        separate += read(&dir.join(f)).0.len();
        all.extend_from_slice(&bytes);
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &all).unwrap();
    let gz = gz.finish().unwrap();
    for input in [all.clone(), gz] {
        let mut stream = logs::open_events(&input[..], "cat").unwrap();
        let results: Vec<_> = stream.by_ref().collect();
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(results.len(), separate);
        let styles: Vec<&str> = stream.stats().styles.iter().map(|s| s.as_str()).collect();
        assert_eq!(styles, ["ndjson", "compact", "bare", "syslog", "default"]);
    }
}
