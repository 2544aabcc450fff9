//! A grant: the one source-level representation of a proposed rule — operations plus filters —
//! which renders to SBPL and can be matched against events without the engine.
//!
//! Paths under HOME or the workdir are kept relative to that anchor and render as Safehouse's
//! helpers (`home-subpath`, `home-literal`, `home-prefix`, `workdir-*`, defined in its
//! `00-base.sb`). Regexes are absolute: Safehouse has no regex helper, and splicing `HOME_DIR` into
//! a regex unquoted would let a `.` in the user name match any character.

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::render::quote;
use super::SessionContext;
use crate::target::{Target, TargetKind};

/// Which root a path is written relative to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Anchor {
    Absolute,
    Home,
    Workdir,
}

/// How a path filter matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PathMatch {
    Literal,
    Subpath,
    Prefix,
}

/// One filter of a grant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "filter", rename_all = "kebab-case")]
pub enum Filter {
    /// `literal` / `subpath` / `prefix`, possibly through a Safehouse helper. `path` is relative
    /// to the anchor (`""` or starting with `/`), or absolute for [`Anchor::Absolute`].
    Path { anchor: Anchor, matching: PathMatch, path: String },
    /// `(regex "^...$")` on absolute paths.
    Regex { regex: String },
    /// `(remote unix-socket (path-literal P))` / `(path-regex R)`.
    UnixSocket { path: Option<String>, regex: Option<String> },
    /// `(remote ip "HOST:PORT")`.
    RemoteIp { host: String, port: Option<u16> },
    /// `(local ip "HOST:PORT")`.
    LocalIp { host: String, port: Option<u16> },
    /// `(global-name N)`, or `(global-name-prefix N)` when `prefix`.
    GlobalName { name: String, prefix: bool },
    /// `(sysctl-name N)`.
    SysctlName { name: String },
    /// `(ipc-posix-name N)`, or `(ipc-posix-name-prefix N)` when `prefix`.
    IpcPosixName { name: String, prefix: bool },
    /// `(iokit-user-client-class N)`.
    IokitClass { name: String },
    /// `(preference-domain N)`.
    PreferenceDomain { name: String },
}

/// A rule to add: `(allow OPERATIONS FILTER...)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Grant {
    pub operations: Vec<String>,
    pub filters: Vec<Filter>,
    /// The rule exactly as the overlay will contain it.
    pub sbpl: String,
}

/// Filters per rule are capped so compiled patterns stay far below Seatbelt's 64 KiB limit.
pub const MAX_FILTERS_PER_RULE: usize = 64;

impl Grant {
    pub fn new(operations: Vec<String>, filters: Vec<Filter>) -> Grant {
        let sbpl = render_rules(&operations, &filters);
        Grant { operations, filters, sbpl }
    }
}

fn render_rules(operations: &[String], filters: &[Filter]) -> String {
    let mut out = String::new();
    for (i, chunk) in filters.chunks(MAX_FILTERS_PER_RULE).enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str("(allow ");
        out.push_str(&operations.join(" "));
        if chunk.len() == 1 {
            out.push(' ');
            out.push_str(&chunk[0].to_sbpl());
        } else {
            for f in chunk {
                out.push_str("\n    ");
                out.push_str(&f.to_sbpl());
            }
        }
        out.push(')');
    }
    out
}

impl Filter {
    /// The filter as SBPL source, every string escaped.
    pub fn to_sbpl(&self) -> String {
        match self {
            Filter::Path { anchor, matching, path } => {
                let kind = match matching {
                    PathMatch::Literal => "literal",
                    PathMatch::Subpath => "subpath",
                    PathMatch::Prefix => "prefix",
                };
                match anchor {
                    Anchor::Absolute => format!("({kind} {})", quote(path)),
                    Anchor::Home => format!("(home-{kind} {})", quote(path)),
                    Anchor::Workdir => format!("(workdir-{kind} {})", quote(path)),
                }
            }
            Filter::Regex { regex } => format!("(regex {})", quote(regex)),
            Filter::UnixSocket { path: Some(p), .. } => format!("(remote unix-socket (path-literal {}))", quote(p)),
            Filter::UnixSocket { regex: Some(r), .. } => format!("(remote unix-socket (path-regex {}))", quote(r)),
            Filter::UnixSocket { .. } => "(remote unix-socket)".into(),
            Filter::RemoteIp { host, port } => format!("(remote ip {})", quote(&endpoint(host, *port))),
            Filter::LocalIp { host, port } => format!("(local ip {})", quote(&endpoint(host, *port))),
            Filter::GlobalName { name, prefix: false } => format!("(global-name {})", quote(name)),
            Filter::GlobalName { name, prefix: true } => format!("(global-name-prefix {})", quote(name)),
            Filter::SysctlName { name } => format!("(sysctl-name {})", quote(name)),
            Filter::IpcPosixName { name, prefix: false } => format!("(ipc-posix-name {})", quote(name)),
            Filter::IpcPosixName { name, prefix: true } => format!("(ipc-posix-name-prefix {})", quote(name)),
            Filter::IokitClass { name } => format!("(iokit-user-client-class {})", quote(name)),
            Filter::PreferenceDomain { name } => format!("(preference-domain {})", quote(name)),
        }
    }

    /// The absolute path a path filter names, resolved against the session's roots.
    pub fn absolute_path(&self, ctx: &SessionContext) -> Option<String> {
        match self {
            Filter::Path { anchor, path, .. } => Some(match anchor {
                Anchor::Absolute => path.clone(),
                Anchor::Home => join(ctx.home.as_deref()?, path),
                Anchor::Workdir => join(ctx.workdir.as_deref()?, path),
            }),
            _ => None,
        }
    }
}

fn join(root: &str, rel: &str) -> String {
    let root = if root.len() > 1 { root.trim_end_matches('/') } else { "" };
    if rel.is_empty() && root.is_empty() {
        "/".into()
    } else {
        format!("{root}{rel}")
    }
}

fn endpoint(host: &str, port: Option<u16>) -> String {
    match port {
        Some(p) => format!("{host}:{p}"),
        None => format!("{host}:*"),
    }
}

/// Write `path` relative to the innermost of workdir / HOME that contains it.
pub fn anchor_path(path: &str, ctx: &SessionContext) -> (Anchor, String) {
    let within = |root: &str| -> Option<String> {
        let root = if root.len() > 1 { root.trim_end_matches('/') } else { root };
        if root == "/" {
            return None;
        }
        if path == root {
            Some(String::new())
        } else if path.starts_with(root) && path.as_bytes().get(root.len()) == Some(&b'/') {
            Some(path[root.len()..].to_string())
        } else {
            None
        }
    };
    if let Some(rel) = ctx.workdir.as_deref().and_then(within) {
        return (Anchor::Workdir, rel);
    }
    if let Some(rel) = ctx.home.as_deref().and_then(within) {
        return (Anchor::Home, rel);
    }
    (Anchor::Absolute, path.to_string())
}

/// A grant compiled for matching events without the engine (the quality harness, evidence
/// attribution, multi-session measurement).
#[derive(Debug, Clone)]
pub struct GrantMatcher {
    operations: Vec<String>,
    filters: Vec<CompiledFilter>,
}

#[derive(Debug, Clone)]
enum CompiledFilter {
    Literal(String),
    Subpath(String),
    Prefix(String),
    Regex(Regex),
    UnixLiteral(String),
    UnixRegex(Regex),
    Remote(String, Option<u16>),
    Local(String, Option<u16>),
    Name(String),
    NamePrefix(String),
    Never,
}

impl GrantMatcher {
    pub fn new(grant: &Grant, ctx: &SessionContext) -> GrantMatcher {
        let filters = grant
            .filters
            .iter()
            .map(|f| match f {
                Filter::Path { matching, .. } => {
                    let Some(p) = f.absolute_path(ctx) else { return CompiledFilter::Never };
                    match matching {
                        PathMatch::Literal => CompiledFilter::Literal(p),
                        PathMatch::Subpath => CompiledFilter::Subpath(p),
                        PathMatch::Prefix => CompiledFilter::Prefix(p),
                    }
                }
                Filter::Regex { regex } => Regex::new(regex).map(CompiledFilter::Regex).unwrap_or(CompiledFilter::Never),
                Filter::UnixSocket { path: Some(p), .. } => CompiledFilter::UnixLiteral(p.clone()),
                Filter::UnixSocket { regex: Some(r), .. } => {
                    Regex::new(r).map(CompiledFilter::UnixRegex).unwrap_or(CompiledFilter::Never)
                }
                Filter::UnixSocket { .. } => CompiledFilter::Never,
                Filter::RemoteIp { host, port } => CompiledFilter::Remote(host.clone(), *port),
                Filter::LocalIp { host, port } => CompiledFilter::Local(host.clone(), *port),
                Filter::GlobalName { name, prefix }
                | Filter::IpcPosixName { name, prefix } => {
                    if *prefix {
                        CompiledFilter::NamePrefix(name.clone())
                    } else {
                        CompiledFilter::Name(name.clone())
                    }
                }
                Filter::SysctlName { name } | Filter::IokitClass { name } | Filter::PreferenceDomain { name } => {
                    CompiledFilter::Name(name.clone())
                }
            })
            .collect();
        GrantMatcher { operations: grant.operations.clone(), filters }
    }

    /// Whether the grant allows `operation` on `target`.
    pub fn allows(&self, operation: &str, target: &Target) -> bool {
        if !self.operations.iter().any(|o| operation_covers(o, operation)) {
            return false;
        }
        self.filters.iter().any(|f| filter_matches(f, target))
    }
}

/// Whether a rule's operation name covers a reported operation (`file-read*` covers `file-read-data`).
pub fn operation_covers(rule_op: &str, op: &str) -> bool {
    if rule_op == op {
        return true;
    }
    if let Some(stem) = rule_op.strip_suffix('*') {
        return op.starts_with(stem);
    }
    // Reports print `process-exec*`; a rule may say `process-exec`.
    rule_op == "process-exec" && op == "process-exec*"
}

fn filter_matches(f: &CompiledFilter, target: &Target) -> bool {
    let path = match &target.kind {
        TargetKind::Path { path } | TargetKind::Ioctl { path, .. } => Some(path.as_str()),
        _ => None,
    };
    match f {
        CompiledFilter::Literal(p) => path == Some(p.as_str()),
        CompiledFilter::Subpath(p) => path.is_some_and(|x| super::glob::is_within(x, p)),
        CompiledFilter::Prefix(p) => path.is_some_and(|x| x.starts_with(p.as_str())),
        CompiledFilter::Regex(r) => path.is_some_and(|x| r.is_match(x)),
        CompiledFilter::UnixLiteral(p) => matches!(&target.kind, TargetKind::UnixSocket { path } if path == p),
        CompiledFilter::UnixRegex(r) => matches!(&target.kind, TargetKind::UnixSocket { path } if r.is_match(path)),
        CompiledFilter::Remote(host, port) | CompiledFilter::Local(host, port) => {
            let want_scope = matches!(f, CompiledFilter::Remote(..));
            match &target.kind {
                TargetKind::Network { scope, host: h, port: p } => {
                    (*scope == crate::target::Scope::Remote) == want_scope
                        && (host == "*" || host == h || (host == "localhost" && is_loopback(h)))
                        && (port.is_none() || port == p)
                }
                _ => false,
            }
        }
        CompiledFilter::Name(n) => target.name_str() == Some(n.as_str()),
        CompiledFilter::NamePrefix(n) => target.name_str().is_some_and(|x| x.starts_with(n.as_str())),
        CompiledFilter::Never => false,
    }
}

pub(crate) fn is_loopback(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "::1") || host.starts_with("127.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> SessionContext {
        SessionContext {
            home: Some("/Users/a".into()),
            workdir: Some("/Users/a/src/p".into()),
            ..SessionContext::default()
        }
    }

    #[test]
    fn anchors_prefer_the_innermost_root() {
        assert_eq!(anchor_path("/Users/a/src/p/x", &ctx()), (Anchor::Workdir, "/x".into()));
        assert_eq!(anchor_path("/Users/a/.npm", &ctx()), (Anchor::Home, "/.npm".into()));
        assert_eq!(anchor_path("/Users/a", &ctx()), (Anchor::Home, "".into()));
        assert_eq!(anchor_path("/Users/ab", &ctx()), (Anchor::Absolute, "/Users/ab".into()));
    }

    #[test]
    fn renders_helpers_and_escapes() {
        let g = Grant::new(
            vec!["file-read*".into()],
            vec![Filter::Path { anchor: Anchor::Home, matching: PathMatch::Subpath, path: "/.npm".into() }],
        );
        assert_eq!(g.sbpl, "(allow file-read* (home-subpath \"/.npm\"))");
        let g = Grant::new(
            vec!["file-read*".into(), "file-write*".into()],
            vec![
                Filter::Path { anchor: Anchor::Absolute, matching: PathMatch::Literal, path: "/a \"q\"\\b\n".into() },
                Filter::Regex { regex: "^/x/[0-9]+\\.log$".into() },
            ],
        );
        assert_eq!(
            g.sbpl,
            "(allow file-read* file-write*\n    (literal \"/a \\\"q\\\"\\\\b\\n\")\n    (regex \"^/x/[0-9]+\\\\.log$\"))"
        );
        let g = Grant::new(vec!["network-outbound".into()], vec![Filter::RemoteIp { host: "*".into(), port: Some(443) }]);
        assert_eq!(g.sbpl, "(allow network-outbound (remote ip \"*:443\"))");
    }

    #[test]
    fn many_filters_split_into_several_rules() {
        let filters: Vec<Filter> = (0..130)
            .map(|i| Filter::Path { anchor: Anchor::Absolute, matching: PathMatch::Literal, path: format!("/f{i}") })
            .collect();
        let g = Grant::new(vec!["file-read*".into()], filters);
        assert_eq!(g.sbpl.matches("(allow ").count(), 3);
    }

    #[test]
    fn matcher_follows_sbpl_semantics() {
        let g = Grant::new(
            vec!["file-read*".into()],
            vec![
                Filter::Path { anchor: Anchor::Home, matching: PathMatch::Subpath, path: "/.npm".into() },
                Filter::Regex { regex: "^/private/tmp/x[0-9]+$".into() },
            ],
        );
        let m = GrantMatcher::new(&g, &ctx());
        let t = |p: &str| Target::path(p);
        assert!(m.allows("file-read-data", &t("/Users/a/.npm/x")));
        assert!(m.allows("file-read-metadata", &t("/Users/a/.npm")));
        assert!(!m.allows("file-read-data", &t("/Users/a/.npmrc")));
        assert!(!m.allows("file-write-data", &t("/Users/a/.npm/x")));
        assert!(m.allows("file-read-data", &t("/private/tmp/x12")));
        assert!(!m.allows("file-read-data", &t("/private/tmp/x12/y")));
        let g = Grant::new(vec!["network-outbound".into()], vec![Filter::RemoteIp { host: "*".into(), port: Some(443) }]);
        let m = GrantMatcher::new(&g, &ctx());
        assert!(m.allows("network-outbound", &Target::parse("network-outbound", "remote:*:443")));
        assert!(!m.allows("network-outbound", &Target::parse("network-outbound", "remote:*:80")));
    }
}
