//! Filters: the conditions of a rule, and their three-valued evaluation against a [`Target`].
//!
//! A denial log line only tells the operation and its argument. Filters that depend on anything
//! else (the vnode type, the process's extensions, code signature, entitlements, file mode, ...)
//! evaluate to [`Tri::Unknown`], and `require-all`/`require-any`/`require-not` combine with Kleene
//! logic, so a decision that hinges on them is reported as indeterminate instead of guessed.

use crate::target::{Scope, Target, TargetKind};

use super::pattern::Pattern;

/// Kleene three-valued truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tri {
    False,
    Unknown,
    True,
}

impl std::ops::Not for Tri {
    type Output = Tri;

    fn not(self) -> Tri {
        match self {
            Tri::False => Tri::True,
            Tri::True => Tri::False,
            Tri::Unknown => Tri::Unknown,
        }
    }
}

impl Tri {
    fn from_bool(b: bool) -> Tri {
        if b {
            Tri::True
        } else {
            Tri::False
        }
    }
}

/// How a string filter compares its argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Matcher {
    /// Equal (`literal`, `path`, `global-name`, ...).
    Literal(String),
    /// Equal, or below at a `/` boundary (`subpath`).
    Subpath(String),
    /// Starts with (`prefix`, `*-prefix`).
    Prefix(String),
    /// Regex search (`regex`, `*-regex`).
    Regex(Pattern),
}

impl Matcher {
    pub fn matches(&self, s: &str) -> bool {
        match self {
            Matcher::Literal(l) => s == l,
            Matcher::Subpath(p) => subpath_matches(p, s),
            Matcher::Prefix(p) => s.starts_with(p.as_str()),
            Matcher::Regex(r) => r.is_match(s),
        }
    }

    /// The SBPL argument text (unquoted).
    pub fn argument(&self) -> &str {
        match self {
            Matcher::Literal(s) | Matcher::Subpath(s) | Matcher::Prefix(s) => s,
            Matcher::Regex(r) => r.as_str(),
        }
    }
}

/// `(subpath p)` matches `s`: equal, or `s` continues `p` at a `/`. A trailing slash in `p`
/// (Apple writes some) matches what lies below it and the directory itself.
pub fn subpath_matches(p: &str, s: &str) -> bool {
    if p == "/" {
        return s.starts_with('/');
    }
    let p_trim = p.trim_end_matches('/');
    if p_trim.len() != p.len() {
        return s == p_trim || s.starts_with(p);
    }
    s.starts_with(p) && (s.len() == p.len() || s.as_bytes()[p.len()] == b'/')
}

/// Which address family/protocol a network filter names (`ip`, `tcp4`, `udp6`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetProto(pub String);

/// A filter tree. Several filters in one rule are an [`Filter::Any`].
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `require-any` (and a rule's filter list): true if any is.
    Any(Vec<Filter>),
    /// `require-all`: true if all are.
    All(Vec<Filter>),
    /// `require-not`.
    Not(Box<Filter>),
    /// A path filter: `literal`/`path`, `subpath`, `prefix`/`path-prefix`, `regex`/`path-regex`.
    Path(Matcher),
    /// A string filter on a name (`global-name`, `sysctl-name-prefix`, `preference-domain`, ...).
    /// `filter` is the base filter name (`global-name`).
    Name { filter: String, matcher: Matcher },
    /// `(local|remote PROTO "HOST:PORT")`. `host`/`port` `None` = `*`.
    Network { scope: Scope, proto: NetProto, host: Option<String>, port: Option<u16> },
    /// `(local|remote unix-socket [PATH-FILTER])`.
    UnixSocket { scope: Scope, path: Option<Box<Filter>> },
    /// `(target self|others|children|pgrp|same-sandbox|initproc)`.
    Target(String),
    /// A filter with integer values that a target can carry (`socket-domain`, `signal-number`, ...).
    Number { filter: String, values: Vec<i64> },
    /// A filter the target cannot decide (`vnode-type`, `extension`, `signing-identifier`, ...):
    /// always unknown. `text` is its SBPL form.
    Opaque { filter: String, text: String },
    /// A constant (an unresolved import's unknown filters are `Const(Unknown)`).
    Const(Tri),
}

/// The request being decided: an operation (as queried) and its target.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub operation: &'a str,
    pub target: &'a Target,
}

impl<'a> Query<'a> {
    /// The socket side a path or address of this request is: connect is remote, bind is local.
    fn socket_scope(&self) -> Scope {
        if self.operation == "network-outbound" {
            Scope::Remote
        } else {
            Scope::Local
        }
    }
}

impl Filter {
    /// Evaluate against a request.
    pub fn eval(&self, q: &Query<'_>) -> Tri {
        match self {
            Filter::Any(fs) => {
                let mut acc = Tri::False;
                for f in fs {
                    match f.eval(q) {
                        Tri::True => return Tri::True,
                        Tri::Unknown => acc = Tri::Unknown,
                        Tri::False => {}
                    }
                }
                acc
            }
            Filter::All(fs) => {
                let mut acc = Tri::True;
                for f in fs {
                    match f.eval(q) {
                        Tri::False => return Tri::False,
                        Tri::Unknown => acc = Tri::Unknown,
                        Tri::True => {}
                    }
                }
                acc
            }
            Filter::Not(f) => !f.eval(q),
            Filter::Path(m) => match &q.target.kind {
                TargetKind::Path { path } | TargetKind::UnixSocket { path } | TargetKind::Ioctl { path, .. } => {
                    Tri::from_bool(m.matches(path))
                }
                TargetKind::Other => Tri::Unknown,
                _ => Tri::False,
            },
            Filter::Name { filter, matcher } => eval_name(filter, matcher, q),
            Filter::Network { scope, proto, host, port } => eval_network(*scope, proto, host.as_deref(), *port, q),
            Filter::UnixSocket { scope, path } => match &q.target.kind {
                TargetKind::UnixSocket { .. } => {
                    if *scope != q.socket_scope() {
                        return Tri::False;
                    }
                    match path {
                        None => Tri::True,
                        Some(f) => f.eval(q),
                    }
                }
                TargetKind::Other | TargetKind::None => Tri::Unknown,
                _ => Tri::False,
            },
            Filter::Target(which) => eval_target(which, q),
            Filter::Number { filter, values } => eval_number(filter, values, q),
            Filter::Opaque { .. } => Tri::Unknown,
            Filter::Const(t) => *t,
        }
    }

    /// `Any` of the given filters, flattened to the filter itself when there is one.
    pub fn any(mut filters: Vec<Filter>) -> Filter {
        if filters.len() == 1 {
            filters.pop().unwrap_or(Filter::Const(Tri::False))
        } else {
            Filter::Any(filters)
        }
    }
}

/// Which name filters a target of this operation is compared with directly. Others that could
/// apply to the name (a `local-name` for a lookup that may have been global) are unknown when
/// the name matches and false when it does not.
fn name_filter_decides(filter: &str, operation: &str) -> Option<bool> {
    let op = operation;
    let decides = match filter {
        "global-name" => op.starts_with("mach-lookup") || op == "mach-register" || op.starts_with("mach-issue-extension"),
        "local-name" | "xpc-service-name" => return if op.starts_with("mach") { Some(false) } else { None },
        "sysctl-name" => op.starts_with("sysctl"),
        "ipc-posix-name" => op.starts_with("ipc-posix"),
        "preference-domain" => op.contains("preference"),
        "right-name" => op.starts_with("authorization-right"),
        "notification-name" => op.ends_with("notification-post"),
        "nvram-variable" => op.starts_with("nvram"),
        "iokit-registry-entry-class" => op.starts_with("iokit-open"),
        "iokit-property" => op.ends_with("-properties"),
        "kext-bundle-id" => op.starts_with("system-kext"),
        "info-type" => op == "system-info",
        "appleevent-destination" => op == "appleevent-send",
        _ => return None,
    };
    Some(decides)
}

fn eval_name(filter: &str, matcher: &Matcher, q: &Query<'_>) -> Tri {
    let name = match &q.target.kind {
        TargetKind::Name { name } => name.as_str(),
        TargetKind::Other => return Tri::Unknown,
        TargetKind::None => return Tri::False,
        _ => return Tri::False,
    };
    match name_filter_decides(filter, q.operation) {
        Some(true) => Tri::from_bool(matcher.matches(name)),
        // Same namespace kind but the log cannot tell which: only a match is possible.
        Some(false) => {
            if matcher.matches(name) {
                Tri::Unknown
            } else {
                Tri::False
            }
        }
        None => Tri::Unknown,
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host == "::1" || host.starts_with("127.")
}

fn eval_network(scope: Scope, proto: &NetProto, host: Option<&str>, port: Option<u16>, q: &Query<'_>) -> Tri {
    let (t_scope, t_host, t_port) = match &q.target.kind {
        TargetKind::Network { scope, host, port } => (*scope, host.as_str(), *port),
        TargetKind::Other => return Tri::Unknown,
        // A bare network operation (no address logged): it may or may not be an IP socket.
        TargetKind::None => return Tri::Unknown,
        _ => return Tri::False,
    };
    if t_scope != scope {
        return Tri::False;
    }
    let mut result = Tri::True;
    match (port, t_port) {
        (None, _) => {}
        (Some(_), None) => result = Tri::Unknown,
        (Some(p), Some(tp)) => {
            if p != tp {
                return Tri::False;
            }
        }
    }
    match host {
        None | Some("*") => {}
        Some(h) => {
            let want_loopback = h == "localhost";
            if t_host == "*" {
                result = Tri::Unknown;
            } else if want_loopback {
                if !is_loopback(t_host) {
                    return Tri::False;
                }
            } else if h != t_host {
                return Tri::False;
            }
        }
    }
    // The target does not say TCP or UDP; the address family shows in a literal host.
    let p = proto.0.as_str();
    let family_ok = if p.ends_with('4') {
        !t_host.contains(':')
    } else if p.ends_with('6') {
        t_host == "*" || t_host.contains(':') || t_host == "localhost"
    } else {
        true
    };
    if !family_ok {
        return Tri::False;
    }
    if p.starts_with("tcp") || p.starts_with("udp") {
        result = Tri::Unknown;
    }
    result
}

fn eval_target(which: &str, q: &Query<'_>) -> Tri {
    let TargetKind::Signal { who, .. } = &q.target.kind else {
        return Tri::Unknown;
    };
    match (who.as_str(), which) {
        (w, f) if w == f => Tri::True,
        // A host process outside the sandbox: not us, not in our sandbox.
        ("unsandboxed-host-process", "self" | "same-sandbox" | "children") => Tri::False,
        ("unsandboxed-host-process", "others") => Tri::True,
        ("self", "same-sandbox" | "pgrp") => Tri::True,
        ("self", "others" | "children" | "initproc") => Tri::False,
        ("initproc", "self" | "children") => Tri::False,
        ("initproc", "others") => Tri::True,
        ("others", "self") => Tri::False,
        _ => Tri::Unknown,
    }
}

fn eval_number(filter: &str, values: &[i64], q: &Query<'_>) -> Tri {
    let actual = match (&q.target.kind, filter) {
        (TargetKind::Socket { domain, .. }, "socket-domain") => *domain,
        (TargetKind::Socket { socket_type, .. }, "socket-type") => *socket_type,
        (TargetKind::Socket { protocol, .. }, "socket-protocol") => *protocol,
        (TargetKind::Signal { signum, .. }, "signal-number") => signum.map(i64::from),
        _ => None,
    };
    match actual {
        Some(v) => Tri::from_bool(values.contains(&v)),
        None => Tri::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q<'a>(operation: &'a str, target: &'a Target) -> Query<'a> {
        Query { operation, target }
    }

    #[test]
    fn subpath_is_component_bounded() {
        assert!(subpath_matches("/tmp/a", "/tmp/a"));
        assert!(subpath_matches("/tmp/a", "/tmp/a/b"));
        assert!(!subpath_matches("/tmp/a", "/tmp/ab"));
        assert!(subpath_matches("/", "/anything"));
        assert!(subpath_matches("/private/var/db/mds/", "/private/var/db/mds/x"));
        assert!(subpath_matches("/private/var/db/mds/", "/private/var/db/mds"));
    }

    #[test]
    fn kleene_combinators() {
        let t = Target::path("/a/b");
        let yes = Filter::Path(Matcher::Subpath("/a".into()));
        let no = Filter::Path(Matcher::Literal("/x".into()));
        let unknown = Filter::Opaque { filter: "vnode-type".into(), text: "(vnode-type DIRECTORY)".into() };
        let query = q("file-read-data", &t);
        assert_eq!(Filter::All(vec![yes.clone(), unknown.clone()]).eval(&query), Tri::Unknown);
        assert_eq!(Filter::All(vec![no.clone(), unknown.clone()]).eval(&query), Tri::False);
        assert_eq!(Filter::Any(vec![yes.clone(), unknown.clone()]).eval(&query), Tri::True);
        assert_eq!(Filter::Any(vec![no.clone(), unknown.clone()]).eval(&query), Tri::Unknown);
        assert_eq!(Filter::Not(Box::new(unknown)).eval(&query), Tri::Unknown);
        assert_eq!(Filter::Not(Box::new(no)).eval(&query), Tri::True);
    }

    #[test]
    fn network_addresses() {
        let any443 = Filter::Network { scope: Scope::Remote, proto: NetProto("ip".into()), host: None, port: Some(443) };
        let local443 = Filter::Network { scope: Scope::Remote, proto: NetProto("ip".into()), host: Some("localhost".into()), port: Some(443) };
        let log = Target::parse("network-outbound", "remote:*:443");
        assert_eq!(any443.eval(&q("network-outbound", &log)), Tri::True);
        assert_eq!(local443.eval(&q("network-outbound", &log)), Tri::Unknown);
        let lo = Target::parse("network-outbound", "remote-ip:127.0.0.1:443");
        assert_eq!(local443.eval(&q("network-outbound", &lo)), Tri::True);
        let ext = Target::parse("network-outbound", "remote-ip:1.2.3.4:443");
        assert_eq!(local443.eval(&q("network-outbound", &ext)), Tri::False);
        let p80 = Target::parse("network-outbound", "remote:*:80");
        assert_eq!(local443.eval(&q("network-outbound", &p80)), Tri::False);
        let bind = Target::parse("network-bind", "local-ip:127.0.0.1:19754");
        assert_eq!(any443.eval(&q("network-bind", &bind)), Tri::False);
        let tcp = Filter::Network { scope: Scope::Local, proto: NetProto("tcp".into()), host: None, port: None };
        assert_eq!(tcp.eval(&q("network-bind", &bind)), Tri::Unknown);
    }

    #[test]
    fn unix_sockets_by_side() {
        let sock = Target::parse("network-outbound", "/private/var/run/docker.sock");
        let remote = Filter::UnixSocket { scope: Scope::Remote, path: Some(Box::new(Filter::Path(Matcher::Literal("/private/var/run/docker.sock".into())))) };
        let local = Filter::UnixSocket { scope: Scope::Local, path: None };
        assert_eq!(remote.eval(&q("network-outbound", &sock)), Tri::True);
        assert_eq!(local.eval(&q("network-outbound", &sock)), Tri::False);
        assert_eq!(local.eval(&q("network-bind", &sock)), Tri::True);
        assert_eq!(Filter::Path(Matcher::Subpath("/private/var/run".into())).eval(&q("network-outbound", &sock)), Tri::True);
    }

    #[test]
    fn targets_and_names() {
        let host = Target::parse("signal", "target-process=unsandboxed-host-process");
        assert_eq!(Filter::Target("same-sandbox".into()).eval(&q("signal", &host)), Tri::False);
        assert_eq!(Filter::Target("others".into()).eval(&q("signal", &host)), Tri::True);
        let svc = Target::parse("mach-lookup", "com.apple.x");
        let g = |m: Matcher| Filter::Name { filter: "global-name".into(), matcher: m };
        assert_eq!(g(Matcher::Literal("com.apple.x".into())).eval(&q("mach-lookup", &svc)), Tri::True);
        assert_eq!(g(Matcher::Prefix("com.apple.".into())).eval(&q("mach-lookup", &svc)), Tri::True);
        assert_eq!(g(Matcher::Literal("com.apple.y".into())).eval(&q("mach-lookup", &svc)), Tri::False);
        let local = Filter::Name { filter: "local-name".into(), matcher: Matcher::Literal("com.apple.x".into()) };
        assert_eq!(local.eval(&q("mach-lookup", &svc)), Tri::Unknown);
    }
}
