//! Operation classes: which kind of authority an observed access needs, and the SBPL operations
//! a grant for it names.
//!
//! Classes never widen: a `stat` (metadata) is not a read, a read is not a write, and a connect to
//! a UNIX socket is not an IP connect. Every proposal carries exactly one class.

use serde::{Deserialize, Serialize};

use crate::target::{Scope, Target, TargetKind};

/// The authority an access needs. Ordered by how the overlay lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OpClass {
    /// `file-read-metadata`: stat, lstat, getattrlist, path traversal.
    Metadata,
    /// `file-read-data`, `file-read-xattr`, `file-read*`: reading contents.
    Read,
    /// `file-write-*`: creating, changing or removing.
    Write,
    /// `process-exec*`: running a program.
    Exec,
    /// `file-ioctl` on a device.
    Ioctl,
    /// `network-outbound` to a UNIX-domain socket path.
    UnixSocket,
    /// `network-outbound` to an IP endpoint.
    Network,
    /// `network-bind` / `network-inbound`: listening on a local address.
    Bind,
    /// `mach-lookup` by global name.
    Mach,
    /// `sysctl-read`.
    Sysctl,
    /// `ipc-posix-*`: POSIX shared memory and semaphores, by name.
    Ipc,
    /// `iokit-open*`: opening an IOKit user client.
    Iokit,
    /// `user-preference-read` / `-write` by preference domain.
    Preference,
    /// Anything the learner does not generalise (signals, sockets, unknown operations).
    Other,
}

impl OpClass {
    /// Classify an operation (as printed in a report) and its target.
    pub fn of(operation: &str, target: &Target) -> OpClass {
        let op = operation;
        match op {
            "file-read-metadata" => return OpClass::Metadata,
            "file-ioctl" => return OpClass::Ioctl,
            _ => {}
        }
        if op.starts_with("file-read") || op == "file-map-executable" {
            return if target.path_str().is_some() { OpClass::Read } else { OpClass::Other };
        }
        if op.starts_with("file-write") {
            return if target.path_str().is_some() { OpClass::Write } else { OpClass::Other };
        }
        if op.starts_with("process-exec") {
            return if target.path_str().is_some() { OpClass::Exec } else { OpClass::Other };
        }
        if op.starts_with("network") {
            return match &target.kind {
                TargetKind::UnixSocket { .. } if op == "network-outbound" => OpClass::UnixSocket,
                TargetKind::Network { scope: Scope::Remote, .. } if op == "network-outbound" => OpClass::Network,
                TargetKind::Network { scope: Scope::Local, .. } if op == "network-bind" || op == "network-inbound" => {
                    OpClass::Bind
                }
                _ => OpClass::Other,
            };
        }
        let named = target.name_str().is_some();
        if op == "mach-lookup" && named {
            OpClass::Mach
        } else if op == "sysctl-read" && named {
            OpClass::Sysctl
        } else if op.starts_with("ipc-posix") && named {
            OpClass::Ipc
        } else if op.starts_with("iokit-open") && named {
            OpClass::Iokit
        } else if (op == "user-preference-read" || op == "user-preference-write") && named {
            OpClass::Preference
        } else {
            OpClass::Other
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OpClass::Metadata => "metadata",
            OpClass::Read => "read",
            OpClass::Write => "write",
            OpClass::Exec => "exec",
            OpClass::Ioctl => "ioctl",
            OpClass::UnixSocket => "unix-socket",
            OpClass::Network => "network",
            OpClass::Bind => "bind",
            OpClass::Mach => "mach",
            OpClass::Sysctl => "sysctl",
            OpClass::Ipc => "ipc",
            OpClass::Iokit => "iokit",
            OpClass::Preference => "preference",
            OpClass::Other => "other",
        }
    }

    /// Parse a class name as written in a tiers file.
    pub fn from_name(name: &str) -> Option<OpClass> {
        Some(match name {
            "metadata" => OpClass::Metadata,
            "read" => OpClass::Read,
            "write" => OpClass::Write,
            "exec" => OpClass::Exec,
            "ioctl" => OpClass::Ioctl,
            "unix-socket" => OpClass::UnixSocket,
            "network" => OpClass::Network,
            "bind" => OpClass::Bind,
            "mach" => OpClass::Mach,
            "sysctl" => OpClass::Sysctl,
            "ipc" => OpClass::Ipc,
            "iokit" => OpClass::Iokit,
            "preference" => OpClass::Preference,
            "other" => OpClass::Other,
            _ => return None,
        })
    }

    /// Whether the class acts on file-system paths (and so is generalised with the path trie).
    pub fn is_path(self) -> bool {
        matches!(self, OpClass::Metadata | OpClass::Read | OpClass::Write | OpClass::Exec | OpClass::Ioctl | OpClass::UnixSocket)
    }

    /// How much opening one unobserved location costs for this class, relative to a read.
    /// A stat reveals little, a write persists; see the cost model in README "Learner".
    pub fn open_weight(self) -> f64 {
        match self {
            OpClass::Metadata => 0.1,
            OpClass::Read => 1.0,
            OpClass::Ioctl => 1.0,
            OpClass::UnixSocket => 2.0,
            OpClass::Write | OpClass::Exec => 2.0,
            _ => 1.0,
        }
    }

    /// The SBPL operations a grant of this class names, given the leaf operations observed.
    ///
    /// Writes stay as narrow as the evidence: only `file-write-create` / `file-write-unlink` when
    /// that is all that was seen, else `file-write*`. Reads become `file-read*` (data, xattr and
    /// metadata of the same object) plus `file-map-executable` if it was seen.
    pub fn grant_operations<'a>(self, seen: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let seen: std::collections::BTreeSet<&str> = seen.into_iter().collect();
        let ops: Vec<&str> = match self {
            OpClass::Metadata => vec!["file-read-metadata"],
            OpClass::Read => {
                let mut v = vec!["file-read*"];
                if seen.contains("file-map-executable") {
                    v.push("file-map-executable");
                }
                v
            }
            OpClass::Write => {
                let narrow = ["file-write-create", "file-write-unlink"];
                if !seen.is_empty() && seen.iter().all(|op| narrow.contains(op)) {
                    seen.iter().copied().collect()
                } else {
                    vec!["file-write*"]
                }
            }
            OpClass::Exec => vec!["process-exec*"],
            OpClass::Ioctl => vec!["file-ioctl"],
            OpClass::UnixSocket | OpClass::Network => vec!["network-outbound"],
            OpClass::Bind => {
                if seen.contains("network-inbound") {
                    vec!["network-bind", "network-inbound"]
                } else {
                    vec!["network-bind"]
                }
            }
            OpClass::Mach => vec!["mach-lookup"],
            OpClass::Sysctl => vec!["sysctl-read"],
            OpClass::Ipc | OpClass::Iokit | OpClass::Preference | OpClass::Other => seen.iter().copied().collect(),
        };
        ops.into_iter().map(str::to_string).collect()
    }
}

impl std::fmt::Display for OpClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(op: &str, target: &str) -> OpClass {
        OpClass::of(op, &Target::parse(op, target))
    }

    #[test]
    fn classes_are_kept_apart() {
        assert_eq!(class("file-read-metadata", "/a"), OpClass::Metadata);
        assert_eq!(class("file-read-data", "/a"), OpClass::Read);
        assert_eq!(class("file-read-xattr", "/a"), OpClass::Read);
        assert_eq!(class("file-write-create", "/a"), OpClass::Write);
        assert_eq!(class("process-exec*", "/bin/ls"), OpClass::Exec);
        assert_eq!(class("file-ioctl", "path:/dev/ttys001 ioctl-command:(_IO \"t\" 1)"), OpClass::Ioctl);
        assert_eq!(class("network-outbound", "/private/var/run/mDNSResponder"), OpClass::UnixSocket);
        assert_eq!(class("network-outbound", "remote:*:443"), OpClass::Network);
        assert_eq!(class("network-bind", "local:*:8080"), OpClass::Bind);
        assert_eq!(class("mach-lookup", "com.apple.x"), OpClass::Mach);
        assert_eq!(class("sysctl-read", "kern.osversion"), OpClass::Sysctl);
        assert_eq!(class("ipc-posix-shm-read-data", "apple.shm.notification_center"), OpClass::Ipc);
        assert_eq!(class("signal", "others [x(1)] signum:9"), OpClass::Other);
    }

    #[test]
    fn writes_stay_narrow_when_only_create_or_unlink_seen() {
        assert_eq!(OpClass::Write.grant_operations(["file-write-create"]), vec!["file-write-create"]);
        assert_eq!(
            OpClass::Write.grant_operations(["file-write-unlink", "file-write-create"]),
            vec!["file-write-create", "file-write-unlink"]
        );
        assert_eq!(OpClass::Write.grant_operations(["file-write-create", "file-write-data"]), vec!["file-write*"]);
        assert_eq!(OpClass::Metadata.grant_operations(["file-read-metadata"]), vec!["file-read-metadata"]);
        assert_eq!(OpClass::Read.grant_operations(["file-read-data"]), vec!["file-read*"]);
    }
}
