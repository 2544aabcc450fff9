//! What the learner knows about places: shared roots that are never covered by a wide rule,
//! stores (caches, package stores, build outputs, agent state) that are covered by a subpath, and
//! the purpose a path serves ("node toolchain", "git", "agent state", ...).
//!
//! The table is data (`places.txt`), in the pattern language of [`super::glob`].

use regex::RegexSet;

use super::glob::{self, is_within};
use super::SessionContext;

/// The built-in place table.
pub const BUILTIN: &str = include_str!("places.txt");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Shared,
    Store,
    Purpose,
}

/// The place table bound to one session's roots.
#[derive(Debug, Clone)]
pub struct Places {
    shared: RegexSet,
    stores: RegexSet,
    store_purposes: Vec<String>,
    purposes: RegexSet,
    purpose_names: Vec<String>,
    /// HOME, workdir and temp roots plus all their ancestors: never covered.
    anchors: Vec<String>,
    temp_roots: Vec<String>,
    home: Option<String>,
    workdir: Option<String>,
}

impl Places {
    /// Bind the built-in table to `ctx`.
    pub fn bind(ctx: &SessionContext) -> Places {
        let mut shared = Vec::new();
        let mut stores = Vec::new();
        let mut store_purposes = Vec::new();
        let mut purposes = Vec::new();
        let mut purpose_names = Vec::new();
        for line in BUILTIN.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (body, note) = match line.find(" #") {
                Some(at) => (line[..at].trim(), line[at + 2..].trim()),
                None => (line, ""),
            };
            let (kind, pattern) = body.split_once(char::is_whitespace).expect("places.txt: KIND PATTERN");
            let kind = match kind {
                "shared" => Kind::Shared,
                "store" => Kind::Store,
                "purpose" => Kind::Purpose,
                other => panic!("places.txt: unknown kind {other}"),
            };
            let Ok(g) = glob::bind(pattern.trim(), ctx) else { continue };
            match kind {
                Kind::Shared => shared.push(g.regex_source),
                Kind::Store => {
                    stores.push(g.regex_source);
                    store_purposes.push(note.to_string());
                }
                Kind::Purpose => {
                    purposes.push(g.regex_source);
                    purpose_names.push(note.to_string());
                }
            }
        }
        let mut anchors = Vec::new();
        let mut temp_roots = Vec::new();
        // HOME itself and every ancestor of a root; the workdir and temp roots themselves are
        // the agent's to use and may be covered (as stores).
        if let Some(home) = &ctx.home {
            anchors.push(normalise_dir(home));
        }
        for root in ctx.home.iter().chain(ctx.workdir.iter()).chain(ctx.temp_roots.iter()) {
            let root = normalise_dir(root);
            let mut p = root.as_str();
            loop {
                match p.rfind('/') {
                    Some(0) if p.len() > 1 => p = "/",
                    Some(i) if i > 0 => p = &p[..i],
                    _ => break,
                }
                anchors.push(p.to_string());
                if p == "/" {
                    break;
                }
            }
        }
        for t in &ctx.temp_roots {
            temp_roots.push(normalise_dir(t));
        }
        anchors.sort();
        anchors.dedup();
        Places {
            shared: RegexSet::new(shared).expect("valid"),
            stores: RegexSet::new(stores).expect("valid"),
            store_purposes,
            purposes: RegexSet::new(purposes).expect("valid"),
            purpose_names,
            anchors,
            temp_roots,
            home: ctx.home.as_deref().map(normalise_dir),
            workdir: ctx.workdir.as_deref().map(normalise_dir),
        }
    }

    /// A shared root: no subpath/prefix/regex may cover it, whatever the evidence.
    pub fn is_shared(&self, dir: &str) -> bool {
        self.shared.is_match(dir) || self.anchors.iter().any(|a| a == dir)
    }

    /// The purpose of the store rooted exactly at `dir`, if `dir` is a store root.
    pub fn store_at(&self, dir: &str) -> Option<&str> {
        if self.temp_roots.iter().any(|t| t == dir) {
            return Some("temp");
        }
        if self.workdir.as_deref() == Some(dir) {
            return Some("workdir");
        }
        self.stores.matches(dir).iter().next().map(|i| self.store_purposes[i].as_str())
    }

    /// The purpose group of a location.
    pub fn purpose_of(&self, path: &str) -> String {
        // The innermost store above or at `path` wins.
        let mut p = path;
        loop {
            if let Some(purpose) = self.store_at(p).filter(|&s| s != "workdir") {
                return purpose.to_string();
            }
            match p.rfind('/') {
                Some(0) | None => break,
                Some(i) => p = &p[..i],
            }
        }
        if let Some(i) = self.purposes.matches(path).iter().next() {
            return self.purpose_names[i].clone();
        }
        if self.temp_roots.iter().any(|t| is_within(path, t)) {
            return "temp".into();
        }
        if let Some(wd) = &self.workdir {
            if is_within(path, wd) {
                return "workdir".into();
            }
        }
        if let Some(home) = &self.home {
            if is_within(path, home) {
                return "home files".into();
            }
        }
        "system files".into()
    }
}

/// Strip a trailing slash (kernel paths have none, except `/`).
pub fn normalise_dir(p: &str) -> String {
    if p.len() > 1 {
        p.trim_end_matches('/').to_string()
    } else {
        p.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn places() -> Places {
        Places::bind(&SessionContext {
            home: Some("/Users/a".into()),
            workdir: Some("/Users/a/src/p".into()),
            temp_roots: vec!["/private/var/folders/zz/abc/T/".into()],
            ..SessionContext::default()
        })
    }

    #[test]
    fn shared_roots() {
        let p = places();
        for d in ["/", "/etc", "/private/etc", "/Users/a", "/Users/a/Library", "/Users/a/Library/Application Support",
                  "/Users/a/Library/Application Support/Foo", "/Users/a/.config", "/Users/a/src", "/usr/lib",
                  "/Users", "/private/var/folders/zz"] {
            assert!(p.is_shared(d), "{d}");
        }
        for d in ["/Users/a/.npm", "/Users/a/.config/gh", "/Users/a/src/p/node_modules", "/private/var/folders/zz/abc/T",
                  "/Users/a/Library/Application Support/Foo/Cache"] {
            assert!(!p.is_shared(d), "{d}");
        }
    }

    #[test]
    fn stores_and_purposes() {
        let p = places();
        assert_eq!(p.store_at("/Users/a/.npm"), Some("node toolchain"));
        assert_eq!(p.store_at("/Users/a/src/p/node_modules"), Some("node toolchain"));
        assert_eq!(p.store_at("/Users/a/.cache/uv"), Some("python toolchain"));
        assert_eq!(p.store_at("/Users/a/.claude"), Some("agent state"));
        assert_eq!(p.store_at("/Users/a/.config/gh"), None);
        assert_eq!(p.purpose_of("/Users/a/.npm/_cacache/index-v5/aa/bb"), "node toolchain");
        assert_eq!(p.purpose_of("/Users/a/.gitconfig"), "git");
        assert_eq!(p.purpose_of("/Users/a/src/p/.git/HEAD"), "git");
        assert_eq!(p.purpose_of("/private/var/folders/zz/abc/T/x"), "temp");
        assert_eq!(p.purpose_of("/Users/a/notes.txt"), "home files");
        assert_eq!(p.purpose_of("/Users/a/src/p/src/main.rs"), "workdir");
        assert_eq!(p.purpose_of("/usr/share/zoneinfo/UTC"), "system files");
        assert_eq!(p.purpose_of("/Users/a/.claude.json"), "agent state");
    }
}
