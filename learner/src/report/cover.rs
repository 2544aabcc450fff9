//! Filter containment: does every request one filter matches also match another?
//!
//! `tighten` calls a rule *shadowed* or *redundant* only when this module proves it, so the
//! answers are sound and deliberately incomplete: [`implies`] returns `true` only when every
//! request that `inner` matches is provably matched by `outer`, and `false` whenever it cannot
//! tell (a regex against a subpath, filters on different kinds of target, filters a log line
//! cannot decide unless they are written identically). A `false` never produces a finding.

use crate::sbpl::filter::{subpath_matches, Filter, Matcher, NetProto, Tri};

use super::tighten::Covers;

impl Covers for Filter {
    fn covered_by(&self, outer: &Filter) -> bool {
        implies(self, outer)
    }
}

/// Every request `inner` matches is matched by `outer` (proved, or `false`).
pub fn implies(inner: &Filter, outer: &Filter) -> bool {
    if inner == outer {
        return true;
    }
    // Decompose the inner side first: a union is inside when each part is, an intersection when
    // any part is.
    match inner {
        Filter::Const(Tri::False) => return true,
        Filter::Any(parts) => return parts.iter().all(|p| implies(p, outer)),
        Filter::All(parts) if parts.iter().any(|p| implies(p, outer)) => return true,
        _ => {}
    }
    match outer {
        Filter::Const(Tri::True) => return true,
        Filter::Any(parts) => return parts.iter().any(|p| implies(inner, p)),
        Filter::All(parts) => return parts.iter().all(|p| implies(inner, p)),
        _ => {}
    }
    match (inner, outer) {
        (Filter::Path(a), Filter::Path(b)) => matcher_implies(a, b, true),
        (Filter::Name { filter: fa, matcher: a }, Filter::Name { filter: fb, matcher: b }) => {
            fa == fb && matcher_implies(a, b, false)
        }
        (
            Filter::Network { scope: sa, proto: pa, host: ha, port: qa },
            Filter::Network { scope: sb, proto: pb, host: hb, port: qb },
        ) => {
            sa == sb
                && proto_implies(pa, pb)
                && (hb.as_deref().map_or(true, |h| h == "*") || ha == hb)
                && (qb.is_none() || qa == qb)
        }
        (Filter::UnixSocket { scope: sa, path: pa }, Filter::UnixSocket { scope: sb, path: pb }) => {
            sa == sb
                && match (pa, pb) {
                    (_, None) => true,
                    (Some(a), Some(b)) => implies(a, b),
                    (None, Some(_)) => false,
                }
        }
        (Filter::Not(a), Filter::Not(b)) => implies(b, a),
        (Filter::Number { filter: fa, values: va }, Filter::Number { filter: fb, values: vb }) => {
            fa == fb && va.iter().all(|v| vb.contains(v))
        }
        _ => false,
    }
}

/// `ip` covers every protocol; `tcp` covers `tcp4`/`tcp6`; otherwise only the same name.
fn proto_implies(a: &NetProto, b: &NetProto) -> bool {
    let (a, b) = (a.0.as_str(), b.0.as_str());
    a == b || b == "ip" || (a.len() == 4 && (b == "tcp" || b == "udp") && a.starts_with(b))
        || (b == "ip4" && a.ends_with('4'))
        || (b == "ip6" && a.ends_with('6'))
}

/// The string set of `a` is inside that of `b`. `paths` says whether subpath semantics apply.
fn matcher_implies(a: &Matcher, b: &Matcher, paths: bool) -> bool {
    match b {
        Matcher::Literal(l) => matches!(a, Matcher::Literal(x) if x == l),
        Matcher::Subpath(s) if paths => match a {
            Matcher::Literal(l) => subpath_matches(s, l),
            Matcher::Subpath(x) => subpath_matches(s, trim_slash(x)),
            // Every string with prefix `p` lies below `s` when `p` already continues `s` at a `/`.
            Matcher::Prefix(p) => {
                let s = trim_slash(s);
                s == "/" && p.starts_with('/') || p.starts_with(s) && p.as_bytes().get(s.len()) == Some(&b'/')
            }
            Matcher::Regex(r) => regex_prefix(r.as_str()).is_some_and(|p| {
                let s = trim_slash(s);
                s == "/" && p.starts_with('/') || p.starts_with(s) && p.as_bytes().get(s.len()) == Some(&b'/')
            }),
        },
        Matcher::Subpath(_) => false,
        Matcher::Prefix(p) => match a {
            Matcher::Literal(x) | Matcher::Prefix(x) => x.starts_with(p.as_str()),
            // Everything below a subpath starts with its text.
            Matcher::Subpath(x) => trim_slash(x).starts_with(p.as_str()),
            Matcher::Regex(r) => regex_prefix(r.as_str()).is_some_and(|q| q.starts_with(p.as_str())),
        },
        Matcher::Regex(r) => match a {
            Matcher::Literal(x) => r.is_match(x),
            // `^/literal/part` (no other metacharacter, unanchored at the end) is a prefix.
            Matcher::Prefix(_) | Matcher::Subpath(_) | Matcher::Regex(_) => {
                regex_prefix(r.as_str()).is_some_and(|q| matcher_implies(a, &Matcher::Prefix(q), paths))
            }
        },
    }
}

fn trim_slash(s: &str) -> &str {
    let t = s.trim_end_matches('/');
    if t.is_empty() {
        "/"
    } else {
        t
    }
}

/// When a regex is `^` followed by plain characters (escaped metacharacters allowed) and nothing
/// else, it matches exactly the strings with that prefix: return the prefix.
fn regex_prefix(source: &str) -> Option<String> {
    let rest = source.strip_prefix('^')?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '.' | '[' | ']' | '(' | ')' | '|' | '*' | '+' | '?' | '{' | '}' | '^' | '$' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sbpl::filter::Matcher;
    use crate::sbpl::pattern::Pattern;
    use crate::target::Scope;

    fn lit(s: &str) -> Filter {
        Filter::Path(Matcher::Literal(s.into()))
    }
    fn sub(s: &str) -> Filter {
        Filter::Path(Matcher::Subpath(s.into()))
    }
    fn pre(s: &str) -> Filter {
        Filter::Path(Matcher::Prefix(s.into()))
    }
    fn re(s: &str) -> Filter {
        Filter::Path(Matcher::Regex(Pattern::new(s).unwrap()))
    }

    #[test]
    fn paths() {
        assert!(implies(&lit("/a/b"), &sub("/a")));
        assert!(!implies(&lit("/ab"), &sub("/a")));
        assert!(implies(&sub("/a/b"), &sub("/a")));
        assert!(implies(&sub("/a/b"), &sub("/a/")));
        assert!(!implies(&sub("/a"), &sub("/a/b")));
        assert!(implies(&sub("/a/b"), &pre("/a/")));
        assert!(implies(&sub("/ab"), &pre("/a")));
        assert!(!implies(&pre("/a"), &sub("/a")));
        assert!(implies(&pre("/a/x"), &sub("/a")));
        assert!(implies(&lit("/a/x.txt"), &re("^/a/.*\\.txt$")));
        assert!(!implies(&sub("/a"), &re("^/a/.*\\.txt$")));
        assert!(implies(&sub("/a/b"), &re("^/a/")));
        assert!(implies(&re("^/a/b"), &sub("/a")));
        assert!(implies(&sub("/x"), &sub("/")));
        assert!(!implies(&lit("/a"), &lit("/b")));
    }

    #[test]
    fn combinators() {
        let any = Filter::Any(vec![lit("/a/1"), sub("/a/2")]);
        assert!(implies(&any, &sub("/a")));
        assert!(!implies(&Filter::Any(vec![lit("/a/1"), lit("/b")]), &sub("/a")));
        assert!(implies(&lit("/b"), &Filter::Any(vec![sub("/a"), lit("/b")])));
        let opaque = Filter::Opaque { filter: "vnode-type".into(), text: "(vnode-type DIRECTORY)".into() };
        // (require-all (subpath /a/b) (vnode-type ..)) is inside (subpath /a).
        assert!(implies(&Filter::All(vec![sub("/a/b"), opaque.clone()]), &sub("/a")));
        // (subpath /a) is not inside (require-all (subpath /) (vnode-type ..)).
        assert!(!implies(&sub("/a"), &Filter::All(vec![sub("/"), opaque.clone()])));
        assert!(implies(&opaque, &opaque.clone()));
    }

    #[test]
    fn names_and_network() {
        let g = |m: Matcher| Filter::Name { filter: "global-name".into(), matcher: m };
        assert!(implies(&g(Matcher::Literal("com.apple.x".into())), &g(Matcher::Prefix("com.apple.".into()))));
        // Names have no subpath semantics.
        let l = Filter::Name { filter: "local-name".into(), matcher: Matcher::Literal("com.apple.x".into()) };
        assert!(!implies(&l, &g(Matcher::Prefix("com.apple.".into()))));
        let net = |proto: &str, host: Option<&str>, port: Option<u16>| Filter::Network {
            scope: Scope::Remote,
            proto: NetProto(proto.into()),
            host: host.map(String::from),
            port,
        };
        assert!(implies(&net("tcp", Some("localhost"), Some(443)), &net("ip", None, None)));
        assert!(implies(&net("tcp4", None, Some(80)), &net("tcp", None, Some(80))));
        assert!(!implies(&net("ip", None, Some(80)), &net("tcp", None, Some(80))));
        assert!(!implies(&net("ip", None, None), &net("ip", None, Some(80))));
    }
}
