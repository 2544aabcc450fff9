//! Location patterns shared by the sensitivity tiers and the place table: a small glob language
//! bound to a session's HOME and workdir.
//!
//! - `~` at the start is HOME, `$WORKDIR` at the start is the workdir; other patterns are absolute.
//! - `*` matches within one component, `?` one character, `**` any number of whole components.
//! - `mach:NAME` patterns match Mach global names (`*` matches anything there).
//!
//! Each bound pattern also knows its *fixed part*: the longest run of whole literal components
//! before the first wildcard. A grant covering a directory at or above the fixed part may open a
//! location the pattern names; that is how "a subpath that would contain `~/.ssh/id_*`" is found
//! without a file system.

use regex::Regex;

use super::SessionContext;

/// What a pattern names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    Path,
    Mach,
}

/// A pattern bound to concrete roots.
#[derive(Debug, Clone)]
pub struct BoundGlob {
    pub space: Space,
    /// The anchored regex source (also usable in a `RegexSet`).
    pub regex_source: String,
    pub regex: Regex,
    /// Absolute literal directory/file prefix before the first wildcard; `None` when the pattern
    /// starts with `**` (it may match anywhere).
    pub fixed: Option<String>,
}

/// Why a pattern could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlobError {
    /// The pattern needs a root the session does not have (`~` without HOME).
    MissingRoot(&'static str),
    /// Not absolute, not `~`, not `$WORKDIR`, not `**`, not `mach:`.
    NotAnchored,
}

impl std::fmt::Display for GlobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GlobError::MissingRoot(root) => write!(f, "the session has no {root}"),
            GlobError::NotAnchored => {
                f.write_str("expected a pattern starting with `/`, `~`, `$WORKDIR`, `**` or `mach:`")
            }
        }
    }
}

/// Check a pattern's shape without binding it (for file validation).
pub fn check_shape(pattern: &str) -> Result<(), GlobError> {
    if pattern.starts_with("mach:")
        || pattern.starts_with('/')
        || pattern == "~"
        || pattern.starts_with("~/")
        || pattern == "$WORKDIR"
        || pattern.starts_with("$WORKDIR/")
        || pattern.starts_with("**")
    {
        Ok(())
    } else {
        Err(GlobError::NotAnchored)
    }
}

/// What `~` means when the session's HOME is unknown.
pub const ANY_HOME: &str = "(/Users/[^/]+|/home/[^/]+|/private/var/root|/var/root)";

/// Bind `pattern` to the session's roots.
pub fn bind(pattern: &str, ctx: &SessionContext) -> Result<BoundGlob, GlobError> {
    check_shape(pattern)?;
    if let Some(name) = pattern.strip_prefix("mach:") {
        let mut re = String::from("^");
        for c in name.chars() {
            match c {
                '*' => re.push_str(".*"),
                '?' => re.push('.'),
                c => re.push_str(&regex::escape(&c.to_string())),
            }
        }
        re.push('$');
        let regex = Regex::new(&re).expect("escaped glob is a valid regex");
        return Ok(BoundGlob { space: Space::Mach, regex_source: re, regex, fixed: None });
    }
    // The root as a regex, and as a literal when it is known.
    let (root, root_re, rest): (Option<String>, Option<String>, &str) = if pattern == "~" || pattern.starts_with("~/") {
        match ctx.home.as_deref() {
            Some(home) => (Some(trim_slash(home).to_string()), None, &pattern[1..]),
            // HOME unknown (a raw log without context): any home directory, so that credentials
            // are still recognised wherever they are.
            None => (None, Some(ANY_HOME.to_string()), &pattern[1..]),
        }
    } else if let Some(rest) = pattern.strip_prefix("$WORKDIR") {
        let wd = ctx.workdir.as_deref().ok_or(GlobError::MissingRoot("workdir"))?;
        (Some(trim_slash(wd).to_string()), None, rest)
    } else {
        (None, None, pattern)
    };
    let mut re = String::from("^");
    let mut fixed = root.clone();
    if let Some(r) = &root {
        re.push_str(&regex::escape(r));
    }
    if let Some(r) = &root_re {
        re.push_str(r);
    }
    let root = root.or(root_re);
    // Walk components of `rest` (which starts with '/', or is empty, or starts with "**").
    let mut wild_seen = false;
    let comps: Vec<&str> = if rest.is_empty() { Vec::new() } else { rest.split('/').collect() };
    let mut i = 0;
    // A leading "" component is the root slash.
    let starts_with_slash = rest.starts_with('/');
    if starts_with_slash {
        i = 1;
    }
    if root.is_none() && starts_with_slash {
        fixed = Some(String::new());
    }
    let mut first = true;
    while i < comps.len() {
        let comp = comps[i];
        let last = i + 1 == comps.len();
        if comp == "**" {
            wild_seen = true;
            if last {
                // `/**` at the end: the directory itself and everything below.
                if first && !starts_with_slash && root.is_none() {
                    re.push_str(".*");
                } else {
                    re.push_str("(/.*)?");
                }
            } else if first && !starts_with_slash && root.is_none() {
                // Leading `**/`: any absolute prefix.
                re.push_str("(.*)?");
            } else {
                re.push_str("(/[^/]+)*");
            }
        } else {
            re.push('/');
            let has_wild = comp.contains(['*', '?']);
            for c in comp.chars() {
                match c {
                    '*' => re.push_str("[^/]*"),
                    '?' => re.push_str("[^/]"),
                    c => re.push_str(&regex::escape(&c.to_string())),
                }
            }
            if has_wild {
                wild_seen = true;
            }
            if !wild_seen {
                if let Some(f) = fixed.as_mut() {
                    f.push('/');
                    f.push_str(comp);
                }
            }
        }
        first = false;
        i += 1;
    }
    re.push('$');
    let fixed = fixed.map(|f| if f.is_empty() { "/".to_string() } else { f });
    let regex = Regex::new(&re).expect("escaped glob is a valid regex");
    Ok(BoundGlob { space: Space::Path, regex_source: re, regex, fixed })
}

fn trim_slash(s: &str) -> &str {
    if s.len() > 1 {
        s.trim_end_matches('/')
    } else {
        s
    }
}

impl BoundGlob {
    /// Whether a grant covering everything at and below `dir` could reach a location this pattern
    /// names (judged from the pattern text alone; the file-system oracle refines it).
    pub fn may_lie_within(&self, dir: &str) -> bool {
        if self.space != Space::Path {
            return false;
        }
        if self.regex.is_match(dir) {
            return true;
        }
        match &self.fixed {
            None => false,
            Some(fixed) => is_within(fixed, dir),
        }
    }
}

/// `path` is `dir` or lies below it (component boundary).
pub fn is_within(path: &str, dir: &str) -> bool {
    if dir == "/" {
        return path.starts_with('/');
    }
    path == dir || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
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
    fn home_and_wildcards() {
        let g = bind("~/.ssh/id_*", &ctx()).unwrap();
        assert!(g.regex.is_match("/Users/a/.ssh/id_ed25519"));
        assert!(!g.regex.is_match("/Users/a/.ssh/known_hosts"));
        assert!(!g.regex.is_match("/Users/a/.ssh/x/id_rsa"));
        assert_eq!(g.fixed.as_deref(), Some("/Users/a/.ssh"));
        assert!(g.may_lie_within("/Users/a/.ssh"));
        assert!(g.may_lie_within("/Users/a"));
        assert!(!g.may_lie_within("/Users/a/.cache"));
    }

    #[test]
    fn double_star_forms() {
        let g = bind("~/.gnupg/**", &ctx()).unwrap();
        assert!(g.regex.is_match("/Users/a/.gnupg"));
        assert!(g.regex.is_match("/Users/a/.gnupg/private-keys-v1.d/x.key"));
        assert!(!g.regex.is_match("/Users/a/.gnupgx"));
        let g = bind("**/.git/hooks/**", &ctx()).unwrap();
        assert!(g.regex.is_match("/Users/a/src/p/.git/hooks/pre-commit"));
        assert!(g.regex.is_match("/x/.git/hooks"));
        assert!(!g.regex.is_match("/x/.git/hooksy"));
        assert_eq!(g.fixed, None);
        let g = bind("**/.env", &ctx()).unwrap();
        assert!(g.regex.is_match("/Users/a/src/p/.env"));
        assert!(!g.regex.is_match("/Users/a/src/p/.envrc"));
        let g = bind("/etc/**", &ctx()).unwrap();
        assert!(g.regex.is_match("/etc/hosts"));
        assert_eq!(g.fixed.as_deref(), Some("/etc"));
        let g = bind("~/.nvm/versions/*/*/bin/**", &ctx()).unwrap();
        assert!(g.regex.is_match("/Users/a/.nvm/versions/node/v22.3.0/bin/npm"));
    }

    #[test]
    fn specials_are_escaped_and_roots_required() {
        let g = bind("~/Library/Application Support/Google/Chrome/**", &ctx()).unwrap();
        assert!(g.regex.is_match("/Users/a/Library/Application Support/Google/Chrome/Default/Cookies"));
        let g = bind("$WORKDIR/.git/config", &ctx()).unwrap();
        assert!(g.regex.is_match("/Users/a/src/p/.git/config"));
        assert!(!g.regex.is_match("/Users/a/src/p/.git/configx"));
        let any = bind("~/.ssh/id_*", &SessionContext::default()).unwrap();
        assert!(any.regex.is_match("/Users/bob/.ssh/id_ed25519"));
        assert!(any.regex.is_match("/home/bob/.ssh/id_rsa"));
        assert!(!any.regex.is_match("/Users/bob/x/.ssh/id_rsa"));
        assert_eq!(any.fixed, None);
        assert_eq!(bind("$WORKDIR/x", &SessionContext::default()).unwrap_err(), GlobError::MissingRoot("workdir"));
        assert_eq!(bind("relative", &ctx()).unwrap_err(), GlobError::NotAnchored);
        let g = bind("mach:com.apple.security*", &ctx()).unwrap();
        assert!(g.regex.is_match("com.apple.securityd"));
        assert!(!g.may_lie_within("/"));
    }

    #[test]
    fn within() {
        assert!(is_within("/a/b", "/a"));
        assert!(!is_within("/ab", "/a"));
        assert!(is_within("/a", "/a"));
        assert!(is_within("/a", "/"));
    }
}
