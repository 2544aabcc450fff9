//! The operation tree: every operation name libsandbox knows, its fallback (a parent operation
//! or a built-in terminal decision), and the operation aliases the SBPL library defines.
//!
//! Data from `../shared/docs/sbpl-reference.md` §4.1 (Sonoma 14.4.1 names, 10.15 parents and
//! terminals, name-inferred parents for newer operations) and §3.5 (aliases). Operations that are
//! not in the table (a newer macOS, a typo in a query) get the parent their name implies: the
//! longest `X*` operation that prefixes it, else `default`.

use crate::event::Action;

/// A `HashMap` with rustc's Fx hash: keys are operation names and paths from the profile and
/// requests, where SipHash's flooding resistance buys nothing and costs most of a lookup.
pub(crate) type FastMap<K, V> = rustc_hash::FxHashMap<K, V>;

/// Index of an operation in [`Operations`].
pub type OpId = usize;

/// What happens when none of an operation's own filtered rules decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// A fixed decision (`default`, built-in terminal operations, or an unfiltered rule).
    Fixed(Action),
    /// Continue with the parent operation's rules.
    Parent(OpId),
}

#[derive(Clone, Copy)]
enum Base {
    T(Action),
    P(&'static str),
}
use Action::{Allow, Deny};
use Base::{P, T};

/// (name, built-in fallback) in libsandbox order, then names older profiles still use.
const TABLE: &[(&str, Base)] = &[
    ("default", T(Deny)),
    ("appleevent-send", P("default")),
    ("authorization-right-obtain", P("default")),
    ("boot-arg-set", P("default")),
    ("device*", P("default")),
    ("device-camera", P("device*")),
    ("device-microphone", P("device*")),
    ("darwin-notification-post", T(Allow)),
    ("distributed-notification-post", P("default")),
    ("dynamic-code-generation", T(Allow)),
    ("file*", P("default")),
    ("file-chroot", P("file*")),
    ("file-clone", T(Allow)),
    ("file-ioctl", P("file*")),
    ("file-issue-extension", P("file*")),
    ("file-link", T(Allow)),
    ("file-lock", P("file*")),
    ("file-map-executable", T(Allow)),
    ("file-mknod", P("file*")),
    ("file-mount", P("file*")),
    ("file-mount-update", P("file-mount")),
    ("file-read*", P("file*")),
    ("file-read-data", P("file-read*")),
    ("file-read-metadata", P("file-read*")),
    ("file-read-xattr", P("file-read*")),
    ("file-revoke", P("file*")),
    ("file-search", P("file*")),
    ("file-test-existence", T(Allow)),
    ("file-unmount", P("file*")),
    ("file-write*", P("file*")),
    ("file-write-acl", P("file-write*")),
    ("file-write-create", P("file-write*")),
    ("file-write-data", P("file-write*")),
    ("file-write-finderinfo", P("file-write*")),
    ("file-write-flags", P("file-write*")),
    ("file-write-mode", P("file-write*")),
    ("file-write-owner", P("file-write*")),
    ("file-write-setugid", T(Deny)),
    ("file-write-times", P("file-write*")),
    ("file-write-unlink", P("file-write*")),
    ("file-write-xattr", P("file-write*")),
    ("fs-quota*", P("default")),
    ("fs-quota-get", P("fs-quota*")),
    ("fs-quota-on", P("fs-quota*")),
    ("fs-quota-off", P("fs-quota*")),
    ("fs-quota-set*", P("fs-quota*")),
    ("fs-quota-set-limits", P("fs-quota-set*")),
    ("fs-quota-set-usage", P("fs-quota-set*")),
    ("fs-quota-stat", P("fs-quota*")),
    ("fs-quota-sync", P("fs-quota*")),
    ("fs-rename", P("default")),
    ("fs-snapshot*", P("default")),
    ("fs-snapshot-create", P("fs-snapshot*")),
    ("fs-snapshot-delete", P("fs-snapshot*")),
    ("fs-snapshot-mount", P("fs-snapshot*")),
    ("fs-snapshot-revert", P("fs-snapshot*")),
    ("generic-issue-extension", P("default")),
    ("qtn-user", P("default")),
    ("hid-control", P("default")),
    ("iokit*", P("default")),
    ("iokit-get-properties", T(Allow)),
    ("iokit-issue-extension", P("iokit*")),
    ("iokit-open*", P("iokit*")),
    ("iokit-open-user-client", P("iokit-open*")),
    ("iokit-open-service", P("iokit-open*")),
    ("iokit-set-properties", P("iokit*")),
    ("ipc*", P("default")),
    ("ipc-posix*", P("ipc*")),
    ("ipc-posix-issue-extension", P("ipc-posix*")),
    ("ipc-posix-sem*", P("ipc-posix*")),
    ("ipc-posix-sem-create", P("ipc-posix-sem*")),
    ("ipc-posix-sem-open", P("ipc-posix-sem*")),
    ("ipc-posix-sem-post", P("ipc-posix-sem*")),
    ("ipc-posix-sem-unlink", P("ipc-posix-sem*")),
    ("ipc-posix-sem-wait", P("ipc-posix-sem*")),
    ("ipc-posix-shm*", P("ipc-posix*")),
    ("ipc-posix-shm-read-data", P("ipc-posix-shm*")),
    ("ipc-posix-shm-write*", P("ipc-posix-shm*")),
    ("ipc-posix-shm-write-create", P("ipc-posix-shm-write*")),
    ("ipc-posix-shm-write-data", P("ipc-posix-shm-write*")),
    ("ipc-posix-shm-write-unlink", P("ipc-posix-shm-write*")),
    ("ipc-sysv*", P("ipc*")),
    ("ipc-sysv-msg", P("ipc-sysv*")),
    ("ipc-sysv-sem", P("ipc-sysv*")),
    ("ipc-sysv-shm", P("ipc-sysv*")),
    ("job-creation", T(Deny)),
    ("lsopen", P("default")),
    ("mach*", P("default")),
    ("mach-bootstrap", P("mach*")),
    ("mach-cross-domain-lookup", T(Allow)),
    ("mach-derive-port", P("mach*")),
    ("mach-host*", P("mach*")),
    ("mach-host-exception-port-set", P("mach-host*")),
    ("mach-host-special-port-set", P("mach-host*")),
    ("mach-issue-extension", P("mach*")),
    ("mach-kernel-endpoint", P("mach*")),
    ("mach-lookup", P("mach*")),
    ("mach-priv*", P("mach*")),
    ("mach-priv-host-port", P("mach-priv*")),
    ("mach-priv-task-port", P("mach-priv*")),
    ("mach-register", P("mach*")),
    ("mach-task*", P("mach*")),
    ("mach-task-inspect", P("mach-task*")),
    ("mach-task-name", P("mach*")),
    ("mach-task-read", P("mach-task*")),
    ("mach-task-special-port*", P("mach-task*")),
    ("mach-task-special-port-get", P("mach-task-special-port*")),
    ("mach-task-special-port-set", P("mach-task-special-port*")),
    ("necp-client-open", P("default")),
    ("network*", P("default")),
    ("network-inbound", P("network*")),
    ("network-bind", P("network-inbound")),
    ("network-outbound", P("network*")),
    ("nvram*", T(Allow)),
    ("nvram-delete", P("nvram*")),
    ("nvram-get", P("nvram*")),
    ("nvram-set", P("nvram*")),
    ("opendirectory-user-modify", P("default")),
    ("process*", P("default")),
    ("process-codesigning", P("process*")),
    ("process-exec*", P("process*")),
    ("process-exec-interpreter", P("process-exec*")),
    ("process-fork", P("process*")),
    ("process-info*", T(Allow)),
    ("process-info-codesignature", T(Allow)),
    ("process-info-dirtycontrol", P("process-info*")),
    ("process-info-ledger", P("process-info*")),
    ("process-info-listpids", P("process-info*")),
    ("process-info-rusage", P("process-info*")),
    ("process-info-pidinfo", P("process-info*")),
    ("process-info-pidfdinfo", P("process-info*")),
    ("process-info-pidfileportinfo", P("process-info*")),
    ("process-info-setcontrol", P("process-info*")),
    ("process-legacy-codesigning*", P("process*")),
    ("process-legacy-codesigning-blob-get", P("process-legacy-codesigning*")),
    ("process-legacy-codesigning-cdhash-get", P("process-legacy-codesigning*")),
    ("process-legacy-codesigning-entitlements-blob-get", P("process-legacy-codesigning*")),
    ("process-legacy-codesigning-entitlements-der-blob-get", P("process-legacy-codesigning*")),
    ("process-legacy-codesigning-identity-get", P("process-legacy-codesigning*")),
    ("process-legacy-codesigning-status*", P("process-legacy-codesigning*")),
    ("process-legacy-codesigning-status-get", P("process-legacy-codesigning-status*")),
    ("process-legacy-codesigning-status-set", P("process-legacy-codesigning-status*")),
    ("process-legacy-codesigning-teamid-get", P("process-legacy-codesigning*")),
    ("process-legacy-codesigning-text-offset-get", P("process-legacy-codesigning*")),
    ("pseudo-tty", P("default")),
    ("signal", P("default")),
    ("socket-ioctl", T(Allow)),
    ("socket-option*", P("default")),
    ("socket-option-get", P("socket-option*")),
    ("socket-option-set", P("socket-option*")),
    ("syscall*", P("default")),
    ("syscall-unix", T(Allow)),
    ("syscall-mach", P("syscall*")),
    ("syscall-mig", P("syscall*")),
    ("sysctl*", P("default")),
    ("sysctl-read", P("sysctl*")),
    ("sysctl-write", P("sysctl*")),
    ("system*", P("default")),
    ("system-acct", P("system*")),
    ("system-audit", P("system*")),
    ("system-automount", P("system*")),
    ("system-debug", P("system*")),
    ("system-fcntl", P("system*")),
    ("system-fsctl", P("system*")),
    ("system-info", P("system*")),
    ("system-kas-info", P("system*")),
    ("system-kext*", P("system*")),
    ("system-kext-load", P("system-kext*")),
    ("system-kext-unload", P("system-kext*")),
    ("system-kext-query", P("system-kext*")),
    ("system-mac*", P("system*")),
    ("system-mac-label", P("system*")),
    ("system-mac-syscall", P("system-mac*")),
    ("system-memorystatus-control", P("system*")),
    ("system-necp-client-action", P("system*")),
    ("system-nfssvc", P("system*")),
    ("system-package-check", P("system*")),
    ("system-privilege", T(Allow)),
    ("system-reboot", P("system*")),
    ("system-sched", P("system*")),
    ("system-set-time", P("system*")),
    ("system-socket", P("system*")),
    ("system-suspend-resume", P("system*")),
    ("system-swap", P("system*")),
    ("user-preference*", P("default")),
    ("user-preference-read", P("user-preference*")),
    ("managed-preference-read", P("user-preference-read")),
    ("user-preference-write", P("user-preference*")),
    ("storage-class-map", T(Deny)),
    ("process-exec-update-label", P("process-exec*")),
    ("default-message-filter", P("default")),
    ("iokit-async-external-method", P("iokit*")),
    ("iokit-external-method", P("iokit*")),
    ("iokit-external-trap", P("iokit*")),
    ("mach-message-send", P("mach*")),
    ("xpc-message-send", P("default")),
    // Older or extra names seen in profiles (§4.1 notes); parents inferred from the name.
    ("load-unsigned-code", P("default")),
    ("process-codesigning-status*", P("process-codesigning")),
    ("process-codesigning-status-set", P("process-codesigning-status*")),
    ("process-codesigning-status-get", P("process-codesigning-status*")),
    ("mach-per-user-lookup", P("mach*")),
    ("ipc-posix-shm-read-metadata", P("ipc-posix-shm*")),
    ("system-chud", P("system*")),
    ("system-lcid", P("system*")),
    ("system-write-bootstrap", P("system*")),
    ("qtn-download", P("default")),
    ("qtn-sandbox", P("default")),
];

/// Library aliases: a symbol in a profile that stands for another operation (§3.5).
const ALIASES: &[(&str, &str)] = &[
    ("process-exec", "process-exec*"),
    ("file-unlink", "file-write-unlink"),
    ("ipc-posix-shm", "ipc-posix-shm*"),
    ("ipc-posix-sem", "ipc-posix-sem*"),
    ("ipc-posix-shm-read*", "ipc-posix-shm-read-data"),
    ("file-fsctl", "system-fsctl"),
    // The 10.10/10.15 libraries rebind `sysctl-write` to `sysctl*` (reference §3.5, unverified at
    // runtime): a `sysctl-write` rule then also answers `sysctl-read` checks of matching names.
    ("sysctl-write", "sysctl*"),
    ("system-misc", "system*"),
    ("time-set", "system-set-time"),
    ("file-write-mount", "file-mount"),
    ("file-write-unmount", "file-unmount"),
    ("file-write-umount", "file-unmount"),
    ("file-issue-extension*", "file-issue-extension"),
    ("file-issue-extension-read", "file-issue-extension"),
    ("file-issue-extension-write", "file-issue-extension"),
    // Not an operation on current systems; profiles (Safehouse, Chromium, Codex) still use it.
    ("iokit-open", "iokit-open*"),
];

/// The operation table: names, fallbacks and alias resolution.
#[derive(Debug, Clone)]
pub struct Operations {
    names: Vec<String>,
    builtin: Vec<Fallback>,
    /// Canonical names to ids.
    index: FastMap<String, OpId>,
    /// Names as written in profiles and queries (canonical names and aliases) to ids.
    resolved: FastMap<String, OpId>,
}

impl Default for Operations {
    fn default() -> Self {
        Operations::new()
    }
}

impl Operations {
    /// The built-in table.
    pub fn new() -> Operations {
        let names: Vec<String> = TABLE.iter().map(|(n, _)| n.to_string()).collect();
        let index = names.iter().enumerate().map(|(i, n)| (n.clone(), i)).collect();
        let mut ops = Operations { names, builtin: Vec::with_capacity(TABLE.len()), index, resolved: Default::default() };
        ops.resolved = ops.index.clone();
        for (alias, canonical) in ALIASES {
            if let Some(id) = ops.id(canonical) {
                // An alias that is also an operation name (`sysctl-write`) means the alias.
                ops.resolved.insert(alias.to_string(), id);
            }
        }
        for (name, base) in TABLE {
            let fb = match base {
                T(a) => Fallback::Fixed(*a),
                P(parent) => match ops.id(parent) {
                    Some(p) => Fallback::Parent(p),
                    None => Fallback::Parent(ops.inferred_parent(name)),
                },
            };
            ops.builtin.push(fb);
        }
        ops
    }

    /// The id of a canonical operation name (aliases are not resolved here).
    pub fn id(&self, name: &str) -> Option<OpId> {
        self.index.get(name).copied()
    }

    /// Resolve a name written in a profile: an operation or an alias of one.
    pub fn resolve(&self, name: &str) -> Option<OpId> {
        self.resolved.get(name).copied()
    }

    /// The id for a query's operation, adding an unknown name with its inferred parent.
    pub fn intern(&mut self, name: &str) -> OpId {
        if let Some(id) = self.resolve(name) {
            return id;
        }
        let parent = self.inferred_parent(name);
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), self.names.len() - 1);
        self.resolved.insert(name.to_string(), self.names.len() - 1);
        self.builtin.push(Fallback::Parent(parent));
        self.names.len() - 1
    }

    /// Like [`Operations::intern`] without adding: the id, or the parent an unknown name implies.
    pub fn lookup_or_parent(&self, name: &str) -> (Option<OpId>, OpId) {
        match self.resolve(name) {
            Some(id) => (Some(id), id),
            None => (None, self.inferred_parent(name)),
        }
    }

    /// `default`.
    pub fn default_op(&self) -> OpId {
        0
    }

    pub fn name(&self, id: OpId) -> &str {
        &self.names[id]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The built-in fallback of an operation (before any unfiltered rule replaces it).
    pub fn builtin_fallback(&self, id: OpId) -> Fallback {
        self.builtin[id]
    }

    /// The longest `X*` operation whose `X` prefixes `name` (not `name` itself), else `default`.
    fn inferred_parent(&self, name: &str) -> OpId {
        let stem = name.strip_suffix('*').unwrap_or(name);
        let mut best: Option<(usize, OpId)> = None;
        for (id, n) in self.names.iter().enumerate() {
            if let Some(prefix) = n.strip_suffix('*') {
                if n != name && stem.starts_with(prefix) && stem.len() > prefix.len() {
                    let better = best.map_or(true, |(len, _)| prefix.len() > len);
                    if better {
                        best = Some((prefix.len(), id));
                    }
                }
            }
        }
        best.map_or(0, |(_, id)| id)
    }

    /// The chain an operation consults: itself, then parents, ending in a fixed decision.
    pub fn chain(&self, id: OpId) -> impl Iterator<Item = OpId> + '_ {
        let mut next = Some(id);
        let mut guard = 0;
        std::iter::from_fn(move || {
            let cur = next?;
            guard += 1;
            next = match self.builtin[cur] {
                Fallback::Parent(p) if guard < 64 => Some(p),
                _ => None,
            };
            Some(cur)
        })
    }

    /// Whether an operation is one of the file-read family (exempt from the implicit
    /// `com.apple.sandbox` deny).
    pub fn is_file_read(&self, id: OpId) -> bool {
        self.names[id].starts_with("file-read")
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|s| s.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_parents_and_terminals() {
        let ops = Operations::new();
        let data = ops.id("file-read-data").unwrap();
        let chain: Vec<&str> = ops.chain(data).map(|o| ops.name(o)).collect();
        assert_eq!(chain, ["file-read-data", "file-read*", "file*", "default"]);
        let pi = ops.id("process-info-pidinfo").unwrap();
        let chain: Vec<&str> = ops.chain(pi).map(|o| ops.name(o)).collect();
        assert_eq!(chain, ["process-info-pidinfo", "process-info*"]);
        assert_eq!(ops.builtin_fallback(ops.id("process-info*").unwrap()), Fallback::Fixed(Action::Allow));
        assert_eq!(ops.builtin_fallback(ops.id("job-creation").unwrap()), Fallback::Fixed(Action::Deny));
    }

    #[test]
    fn aliases_and_unknown_names() {
        let mut ops = Operations::new();
        assert_eq!(ops.resolve("process-exec"), ops.id("process-exec*"));
        assert_eq!(ops.resolve("iokit-open"), ops.id("iokit-open*"));
        assert_eq!(ops.resolve("no-such-op"), None);
        let id = ops.intern("file-read-something-new");
        let chain: Vec<&str> = ops.chain(id).map(|o| ops.name(o)).collect();
        assert_eq!(chain, ["file-read-something-new", "file-read*", "file*", "default"]);
        assert_eq!(ops.intern("process-codesigning"), ops.id("process-codesigning").unwrap());
    }
}
