//! What an operation acts on: the one typed representation of a Seatbelt target.
//!
//! A Sandbox report names an operation and a free-text argument whose shape depends on the
//! operation (`../shared/docs/unified-log-format.md` §2.3): a canonical path for file operations,
//! `remote:*:443` for TCP connects, a socket path for AF_UNIX connects, a Mach service name, a
//! sysctl name, `path:/dev/tty ioctl-command:(_IO "t" 22)` for ioctls, `others [Safari(5085)]
//! signum:15` for signals, and so on. [`Target::parse`] turns that text into a [`TargetKind`] while
//! keeping the raw text, so nothing is lost when a shape is not recognised. The same parser reads
//! the query forms `explain` accepts (`remote-ip:HOST:PORT`, `local-ip:HOST:PORT`, `-`,
//! `target-process=...`), which are the conventions of the oracle cases in `../shared/corpus/oracle`.
//!
//! Everything that decides, learns from or reports on a target (the SBPL engine, the log readers,
//! the Linux tracer, the learner) uses this type; there is no second copy.

use serde::{Deserialize, Serialize};

/// A target as text (`raw`) plus what it was understood to be (`kind`).
///
/// Serialised flat: `{"raw": "remote:*:443", "kind": "network", "scope": "remote", "host": "*", "port": 443}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Target {
    /// The argument exactly as it appeared (log line, tracer, or command line).
    pub raw: String,
    #[serde(flatten)]
    pub kind: TargetKind,
}

/// Which side of a socket an address names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The socket's own address (`bind`, `listen`, inbound): the SBPL `(local ...)` filter.
    Local,
    /// The peer address (`connect`, outbound): the SBPL `(remote ...)` filter.
    Remote,
}

/// The understood shape of a target. Which variant a text becomes depends on the operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TargetKind {
    /// No argument (`process-fork`, `forbidden-sandbox-reinit`, a bare `network-outbound`), or `-`.
    None,
    /// An absolute, kernel-canonical path: file operations and `process-exec*`.
    Path { path: String },
    /// A UNIX-domain socket path used by a `network-*` operation (connect = outbound, bind = bind).
    UnixSocket { path: String },
    /// An IP endpoint. Logs never show the host (`remote:*:443`), so `host` is usually `*`.
    Network {
        scope: Scope,
        host: String,
        /// `None` when the port is `*`.
        port: Option<u16>,
    },
    /// A name in some namespace chosen by the operation: a Mach service (`mach-lookup`), a sysctl
    /// (`sysctl-read`), a POSIX IPC name, an IOKit class, a preference domain, an NVRAM variable...
    Name { name: String },
    /// `file-ioctl`: the device path and the command as printed (`(_IO "t" 22)`).
    Ioctl { path: String, command: String },
    /// `signal`: who is signalled (`others`, `initproc`, `children`, `self`, or the oracle's
    /// `unsandboxed-host-process`), the named process and pid if shown, and the signal number.
    Signal {
        who: String,
        process: Option<String>,
        pid: Option<u32>,
        signum: Option<i32>,
    },
    /// `system-socket`: `domain:<d> type:<t> protocol:<p>`.
    Socket {
        domain: Option<i64>,
        socket_type: Option<i64>,
        protocol: Option<i64>,
    },
    /// A shape this parser does not know; `raw` holds the text.
    Other,
}

/// The family an operation belongs to, which decides how its argument is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperationFamily {
    /// `file-*` operations other than `file-ioctl`.
    File,
    /// `file-ioctl`.
    Ioctl,
    /// `process-exec*`.
    Exec,
    /// `network-outbound`, `network-bind`, `network-inbound`, `network*`.
    Network,
    /// `signal`.
    Signal,
    /// `system-socket`.
    Socket,
    /// Operations whose argument is a name (Mach, sysctl, IPC, IOKit, preferences, ...).
    Named,
    /// Anything else (`process-fork`, `process-info-*`, ...): argument kept as [`TargetKind::Other`].
    Other,
}

impl OperationFamily {
    /// Classify an operation name as printed in a report or written in a profile.
    pub fn of(operation: &str) -> OperationFamily {
        let op = operation;
        if op == "file-ioctl" {
            OperationFamily::Ioctl
        } else if op.starts_with("file") {
            OperationFamily::File
        } else if op.starts_with("process-exec") {
            OperationFamily::Exec
        } else if op.starts_with("network") {
            OperationFamily::Network
        } else if op == "signal" {
            OperationFamily::Signal
        } else if op == "system-socket" {
            OperationFamily::Socket
        } else if op.starts_with("mach-lookup")
            || op.starts_with("mach-register")
            || op.starts_with("sysctl")
            || op.starts_with("ipc-posix")
            || op.starts_with("iokit")
            || op.starts_with("user-preference")
            || op.starts_with("nvram")
            || op.starts_with("system-info")
            || op.ends_with("notification-post")
            || op.starts_with("xpc")
        {
            OperationFamily::Named
        } else {
            OperationFamily::Other
        }
    }
}

impl Target {
    /// A target with no argument.
    pub fn none() -> Target {
        Target { raw: String::new(), kind: TargetKind::None }
    }

    /// A path target (file operations, `process-exec`).
    pub fn path(path: impl Into<String>) -> Target {
        let path = path.into();
        Target { raw: path.clone(), kind: TargetKind::Path { path } }
    }

    /// Read `text` as the argument of `operation`, in report form or the query forms of `explain`.
    ///
    /// Never fails: a shape that is not understood becomes [`TargetKind::Other`] with `raw` kept.
    pub fn parse(operation: &str, text: &str) -> Target {
        let raw = text.to_string();
        let t = text.trim_end_matches(['\n', '\r']);
        let kind = if t.is_empty() || t == "-" {
            TargetKind::None
        } else if let Some(who) = t.strip_prefix("target-process=") {
            // The query form for any operation on another process (`signal`, `process-info-*`,
            // `mach-priv-task-port`, ...): who the target process is, as `(target ...)` sees it.
            TargetKind::Signal { who: who.to_string(), process: None, pid: None, signum: None }
        } else {
            match OperationFamily::of(operation) {
                OperationFamily::File | OperationFamily::Exec => {
                    if t.starts_with('/') {
                        TargetKind::Path { path: t.to_string() }
                    } else {
                        TargetKind::Other
                    }
                }
                OperationFamily::Ioctl => parse_ioctl(t),
                OperationFamily::Network => parse_network(operation, t),
                OperationFamily::Signal => parse_signal(t),
                OperationFamily::Socket => parse_socket(t),
                OperationFamily::Named => TargetKind::Name { name: t.to_string() },
                OperationFamily::Other => {
                    if t.starts_with('/') {
                        TargetKind::Path { path: t.to_string() }
                    } else {
                        TargetKind::Other
                    }
                }
            }
        };
        Target { raw, kind }
    }

    /// The path this target carries, if any: a file path, a UNIX socket path or an ioctl's device.
    pub fn path_str(&self) -> Option<&str> {
        match &self.kind {
            TargetKind::Path { path } | TargetKind::UnixSocket { path } | TargetKind::Ioctl { path, .. } => {
                Some(path)
            }
            _ => None,
        }
    }

    /// The name this target carries, if it is a [`TargetKind::Name`].
    pub fn name_str(&self) -> Option<&str> {
        match &self.kind {
            TargetKind::Name { name } => Some(name),
            _ => None,
        }
    }
}

fn parse_ioctl(t: &str) -> TargetKind {
    // `path:/dev/ttys003 ioctl-command:(_IO "t" 22)`; a bare path is accepted too.
    if let Some(rest) = t.strip_prefix("path:") {
        if let Some(i) = rest.find(" ioctl-command:") {
            return TargetKind::Ioctl {
                path: rest[..i].to_string(),
                command: rest[i + " ioctl-command:".len()..].to_string(),
            };
        }
        return TargetKind::Ioctl { path: rest.to_string(), command: String::new() };
    }
    if t.starts_with('/') {
        return TargetKind::Ioctl { path: t.to_string(), command: String::new() };
    }
    TargetKind::Other
}

fn parse_network(operation: &str, t: &str) -> TargetKind {
    if t.starts_with('/') {
        return TargetKind::UnixSocket { path: t.to_string() };
    }
    let default_scope = if operation == "network-outbound" { Scope::Remote } else { Scope::Local };
    let (scope, rest) = if let Some(r) = t.strip_prefix("remote-ip:").or_else(|| t.strip_prefix("remote:")) {
        (Scope::Remote, r)
    } else if let Some(r) = t.strip_prefix("local-ip:").or_else(|| t.strip_prefix("local:")) {
        (Scope::Local, r)
    } else {
        (default_scope, t)
    };
    // HOST:PORT where HOST may be an IPv6 address with colons (`[::1]:80` or `::1:80`).
    let Some(colon) = rest.rfind(':') else { return TargetKind::Other };
    let host = rest[..colon].trim_start_matches('[').trim_end_matches(']');
    let port_text = &rest[colon + 1..];
    let port = if port_text == "*" {
        None
    } else {
        match port_text.parse::<u16>() {
            Ok(p) => Some(p),
            Err(_) => return TargetKind::Other,
        }
    };
    if host.is_empty() {
        return TargetKind::Other;
    }
    TargetKind::Network { scope, host: host.to_string(), port }
}

fn parse_signal(t: &str) -> TargetKind {
    // `others [Safari(5085)] signum:15`, `initproc signum:1`, `target-process=unsandboxed-host-process`.
    if let Some(who) = t.strip_prefix("target-process=") {
        return TargetKind::Signal { who: who.to_string(), process: None, pid: None, signum: None };
    }
    let mut rest = t;
    let who_end = rest.find([' ', '[']).unwrap_or(rest.len());
    let who = rest[..who_end].to_string();
    rest = rest[who_end..].trim_start();
    let mut process = None;
    let mut pid = None;
    if let Some(inner) = rest.strip_prefix('[') {
        if let Some(close) = inner.rfind(']') {
            let named = &inner[..close];
            if let Some(open) = named.rfind('(') {
                if named.ends_with(')') {
                    pid = named[open + 1..named.len() - 1].parse().ok();
                    process = Some(named[..open].to_string());
                }
            }
            if process.is_none() {
                process = Some(named.to_string());
            }
            rest = inner[close + 1..].trim_start();
        }
    }
    let signum = rest.strip_prefix("signum:").and_then(|n| n.trim().parse().ok());
    if who.is_empty() || who.contains(':') {
        return TargetKind::Other;
    }
    TargetKind::Signal { who, process, pid, signum }
}

fn parse_socket(t: &str) -> TargetKind {
    let mut domain = None;
    let mut socket_type = None;
    let mut protocol = None;
    for part in t.split_whitespace() {
        let Some((key, value)) = part.split_once(':') else { return TargetKind::Other };
        let value = value.parse::<i64>().ok();
        match key {
            "domain" => domain = value,
            "type" => socket_type = value,
            "protocol" => protocol = value,
            _ => return TargetKind::Other,
        }
    }
    TargetKind::Socket { domain, socket_type, protocol }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_paths_keep_spaces() {
        let t = Target::parse("file-read-data", "/Users/a/Library/Group Containers/x y");
        assert_eq!(t.kind, TargetKind::Path { path: "/Users/a/Library/Group Containers/x y".into() });
    }

    #[test]
    fn network_forms() {
        assert_eq!(
            Target::parse("network-outbound", "remote:*:443").kind,
            TargetKind::Network { scope: Scope::Remote, host: "*".into(), port: Some(443) }
        );
        assert_eq!(
            Target::parse("network-bind", "local-ip:127.0.0.1:19754").kind,
            TargetKind::Network { scope: Scope::Local, host: "127.0.0.1".into(), port: Some(19754) }
        );
        assert_eq!(
            Target::parse("network-outbound", "/private/var/run/mDNSResponder").kind,
            TargetKind::UnixSocket { path: "/private/var/run/mDNSResponder".into() }
        );
        assert_eq!(
            Target::parse("network-bind", "local:*:*").kind,
            TargetKind::Network { scope: Scope::Local, host: "*".into(), port: None }
        );
    }

    #[test]
    fn ioctl_and_signal_and_socket() {
        assert_eq!(
            Target::parse("file-ioctl", "path:/dev/tty ioctl-command:(_IO \"t\" 22)").kind,
            TargetKind::Ioctl { path: "/dev/tty".into(), command: "(_IO \"t\" 22)".into() }
        );
        assert_eq!(
            Target::parse("signal", "others [Google Chrome Helper (Renderer)(812)] signum:15").kind,
            TargetKind::Signal {
                who: "others".into(),
                process: Some("Google Chrome Helper (Renderer)".into()),
                pid: Some(812),
                signum: Some(15)
            }
        );
        assert_eq!(
            Target::parse("system-socket", "domain:32 type:2 protocol:2").kind,
            TargetKind::Socket { domain: Some(32), socket_type: Some(2), protocol: Some(2) }
        );
    }

    #[test]
    fn target_process_query_form_for_any_process_operation() {
        for op in ["signal", "process-info-pidinfo", "mach-priv-task-port"] {
            assert!(matches!(
                Target::parse(op, "target-process=unsandboxed-host-process").kind,
                TargetKind::Signal { ref who, .. } if who == "unsandboxed-host-process"
            ));
        }
    }

    #[test]
    fn names_and_none() {
        assert_eq!(Target::parse("mach-lookup", "com.apple.x").name_str(), Some("com.apple.x"));
        assert_eq!(Target::parse("process-fork", "-").kind, TargetKind::None);
        assert_eq!(Target::parse("sysctl-read", "kern.ngroups").name_str(), Some("kern.ngroups"));
    }

    #[test]
    fn serialises_flat_with_raw() {
        let t = Target::parse("network-outbound", "remote:*:443");
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["raw"], "remote:*:443");
        assert_eq!(v["kind"], "network");
        assert_eq!(v["port"], 443);
        let back: Target = serde_json::from_value(v).unwrap();
        assert_eq!(back, t);
    }
}
