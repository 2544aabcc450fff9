//! Where an access lands, in words a reviewer recognises: the access class (read, write, exec,
//! lookup, contact, other) and the *area* (`$WORKDIR/src`, `~/.cache/npm`, `$TMPDIR`, `/usr/lib`,
//! `com.apple`, `remote *:443`). `audit` groups its activity section by these two keys.

use serde::{Deserialize, Serialize};

use crate::learn::SessionContext;
use crate::target::{Scope, Target, TargetKind};

/// What kind of access an operation is, as a person would say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessClass {
    /// `file-read*` (data, metadata, xattrs), `file-test-existence`.
    Read,
    /// `file-write*` and the other file mutations (`file-link`, `file-mknod`, ...).
    Write,
    /// `process-exec*` and `file-map-executable`.
    Exec,
    /// Named services and settings: `mach-*`, `xpc-*`, `sysctl-*`, `user-preference-*`, `iokit-*`, `ipc-*`.
    Lookup,
    /// `network-*`: outbound connections, binds, inbound.
    Contact,
    /// Everything else: `process-fork`, `signal`, `file-ioctl`, `system-*`, ...
    Other,
}

impl AccessClass {
    /// Every class, in report order.
    pub const ALL: [AccessClass; 6] = [
        AccessClass::Read,
        AccessClass::Write,
        AccessClass::Exec,
        AccessClass::Lookup,
        AccessClass::Contact,
        AccessClass::Other,
    ];

    pub fn of(operation: &str) -> AccessClass {
        let op = operation;
        if op.starts_with("file-read") || op == "file-test-existence" {
            AccessClass::Read
        } else if op.starts_with("process-exec") || op == "file-map-executable" {
            AccessClass::Exec
        } else if op.starts_with("file-write")
            || matches!(op, "file-link" | "file-mknod" | "file-clone" | "file-chroot" | "file-revoke" | "file-lock")
            || op.starts_with("file-mount")
            || op == "file-unmount"
        {
            AccessClass::Write
        } else if op.starts_with("network") {
            AccessClass::Contact
        } else if op.starts_with("mach")
            || op.starts_with("xpc")
            || op.starts_with("sysctl")
            || op.starts_with("user-preference")
            || op.starts_with("managed-preference")
            || op.starts_with("iokit")
            || op.starts_with("ipc")
            || op.ends_with("notification-post")
        {
            AccessClass::Lookup
        } else {
            AccessClass::Other
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AccessClass::Read => "read",
            AccessClass::Write => "write",
            AccessClass::Exec => "exec",
            AccessClass::Lookup => "lookup",
            AccessClass::Contact => "contact",
            AccessClass::Other => "other",
        }
    }

    /// The verb used as a section heading ("read", "wrote", ...).
    pub fn heading(self) -> &'static str {
        match self {
            AccessClass::Read => "Read",
            AccessClass::Write => "Wrote",
            AccessClass::Exec => "Executed",
            AccessClass::Lookup => "Looked up",
            AccessClass::Contact => "Contacted",
            AccessClass::Other => "Other operations",
        }
    }
}

/// Names areas relative to the session's roots (home, workdir, temp roots).
#[derive(Debug, Clone, Default)]
pub struct Places {
    pub home: Option<String>,
    pub workdir: Option<String>,
    pub temp_roots: Vec<String>,
}

impl From<&SessionContext> for Places {
    fn from(ctx: &SessionContext) -> Places {
        Places { home: ctx.home.clone(), workdir: ctx.workdir.clone(), temp_roots: ctx.temp_roots.clone() }
    }
}

/// Top-level directories of the home whose children are separate areas (`~/.cache/npm` vs `~/.cache/pip`).
const HOME_CONTAINERS: [&str; 5] = [".cache", ".config", ".local", "Library", ".npm"];

impl Places {
    /// The area an access to `target` by `operation` belongs to.
    pub fn area(&self, operation: &str, target: &Target) -> String {
        match &target.kind {
            TargetKind::Path { path } | TargetKind::UnixSocket { path } | TargetKind::Ioctl { path, .. } => {
                self.path_area(path)
            }
            TargetKind::Name { name } => name_area(name),
            TargetKind::Network { scope, host, port } => {
                let side = match scope {
                    Scope::Remote => "remote",
                    Scope::Local => "local",
                };
                let port = port.map_or_else(|| "*".to_string(), |p| p.to_string());
                format!("{side} {host}:{port}")
            }
            TargetKind::Signal { who, .. } => format!("signal {who}"),
            TargetKind::Socket { .. } => "sockets".to_string(),
            TargetKind::None | TargetKind::Other => operation.to_string(),
        }
    }

    /// The area of a path: below the workdir, below home, a temp dir, or its first two components.
    pub fn path_area(&self, path: &str) -> String {
        if self.temp_roots.iter().any(|t| strip_dir(path, t).is_some()) {
            return "$TMPDIR".to_string();
        }
        if let Some(rest) = self.workdir.as_deref().and_then(|w| strip_dir(path, w)) {
            return join_area("$WORKDIR", first_components(rest, 1));
        }
        if let Some(rest) = self.home.as_deref().and_then(|h| strip_dir(path, h)) {
            let first = first_components(rest, 1);
            let depth = if HOME_CONTAINERS.contains(&first) { 2 } else { 1 };
            return join_area("~", first_components(rest, depth));
        }
        // Per-user temp and cache dirs: /private/var/folders/xx/yyyy/{T,C,0}/...
        if let Some(rest) = path.strip_prefix("/private/var/folders/").or_else(|| path.strip_prefix("/var/folders/")) {
            let mut parts = rest.split('/');
            let kind = parts.nth(2).unwrap_or("");
            return match kind {
                "T" => "$TMPDIR".to_string(),
                "C" => "$DARWIN_CACHE_DIR".to_string(),
                _ => "/private/var/folders".to_string(),
            };
        }
        let rest = path.trim_start_matches('/');
        let first = first_components(rest, 1);
        let depth = if matches!(first, "private" | "System" | "usr" | "Library" | "opt" | "Applications") { 2 } else { 1 };
        let area = first_components(rest, depth);
        format!("/{area}")
    }
}

/// `path` relative to `dir` when it is `dir` itself or below it (component boundary).
fn strip_dir<'a>(path: &'a str, dir: &str) -> Option<&'a str> {
    let dir = dir.trim_end_matches('/');
    if dir.is_empty() {
        return None;
    }
    let rest = path.strip_prefix(dir)?;
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix('/')
    }
}

/// The first `n` components of a relative path (fewer if it has fewer).
fn first_components(rest: &str, n: usize) -> &str {
    let mut end = 0;
    let mut seen = 0;
    for (i, c) in rest.char_indices() {
        if c == '/' {
            seen += 1;
            if seen == n {
                return &rest[..i];
            }
        }
        end = i + c.len_utf8();
    }
    &rest[..end]
}

fn join_area(root: &str, rest: &str) -> String {
    if rest.is_empty() {
        root.to_string()
    } else {
        format!("{root}/{rest}")
    }
}

/// Names group by their first two dot-separated parts (`com.apple`, `kern`), which is the vendor
/// for Mach/XPC services and the subsystem for sysctls.
fn name_area(name: &str) -> String {
    let mut parts = name.splitn(3, '.');
    match (parts.next(), parts.next()) {
        (Some(a), Some(b)) if parts.next().is_some() => format!("{a}.{b}"),
        (Some(a), Some(_)) => a.to_string(),
        _ => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn places() -> Places {
        Places { home: Some("/Users/alice".into()), workdir: Some("/Users/alice/src/project".into()), temp_roots: vec!["/private/tmp/t1".into()] }
    }

    #[test]
    fn classes() {
        assert_eq!(AccessClass::of("file-read-metadata"), AccessClass::Read);
        assert_eq!(AccessClass::of("file-write-create"), AccessClass::Write);
        assert_eq!(AccessClass::of("process-exec*"), AccessClass::Exec);
        assert_eq!(AccessClass::of("mach-lookup"), AccessClass::Lookup);
        assert_eq!(AccessClass::of("sysctl-read"), AccessClass::Lookup);
        assert_eq!(AccessClass::of("network-outbound"), AccessClass::Contact);
        assert_eq!(AccessClass::of("process-fork"), AccessClass::Other);
        assert_eq!(AccessClass::of("file-ioctl"), AccessClass::Other);
    }

    #[test]
    fn path_areas() {
        let p = places();
        assert_eq!(p.path_area("/Users/alice/src/project/src/main.rs"), "$WORKDIR/src");
        assert_eq!(p.path_area("/Users/alice/src/project"), "$WORKDIR");
        assert_eq!(p.path_area("/Users/alice/.cache/npm/_cacache/x"), "~/.cache/npm");
        assert_eq!(p.path_area("/Users/alice/.gitconfig"), "~/.gitconfig");
        assert_eq!(p.path_area("/Users/alice"), "~");
        assert_eq!(p.path_area("/private/tmp/t1/x"), "$TMPDIR");
        assert_eq!(p.path_area("/Users/alicex/a"), "/Users");
        assert_eq!(p.path_area("/Users/alice/Library/Caches/x/y"), "~/Library/Caches");
        assert_eq!(p.path_area("/private/var/folders/zz/abc123/T/tmp.1"), "$TMPDIR");
        assert_eq!(p.path_area("/usr/lib/libSystem.B.dylib"), "/usr/lib");
        assert_eq!(p.path_area("/private/etc/hosts"), "/private/etc");
        assert_eq!(p.path_area("/dev/null"), "/dev");
        assert_eq!(p.path_area("/"), "/");
    }

    #[test]
    fn other_areas() {
        let p = Places::default();
        assert_eq!(p.area("mach-lookup", &Target::parse("mach-lookup", "com.apple.logd")), "com.apple");
        assert_eq!(p.area("sysctl-read", &Target::parse("sysctl-read", "kern.ngroups")), "kern");
        assert_eq!(p.area("network-outbound", &Target::parse("network-outbound", "remote:*:443")), "remote *:443");
        assert_eq!(p.area("process-fork", &Target::parse("process-fork", "")), "process-fork");
    }
}
