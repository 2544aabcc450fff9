//! Generalisation of the classes that act on names and ports rather than paths: Mach services,
//! sysctls, POSIX IPC names, IOKit classes, preference domains, IP endpoints.
//!
//! Names are granted one by one (exact `global-name`, `sysctl-name`, ...); a name with a volatile
//! tail (`...anonymous.48213`) becomes a `-prefix` filter on its stable head. Outbound IP grants are
//! per port (`(remote ip "*:443")`); bind grants per port, with ephemeral ports (≥ 49152) folded
//! into `:*` on the same host. Each review-tier name gets its own proposal.

use std::collections::BTreeMap;

use super::class::OpClass;
use super::grant::{is_loopback, Filter, Grant};
use super::tiers::Tier;
use super::volatile::template;
use super::{Candidate, Cx, Draft, Risk};
use crate::target::TargetKind;

/// First port of the IANA ephemeral range (what `bind(port 0)` hands out on macOS).
pub const EPHEMERAL_PORTS: u16 = 49152;

pub(crate) fn generalise(cx: &Cx, class: OpClass, cands: &[Candidate]) -> Vec<Draft> {
    match class {
        OpClass::Network | OpClass::Bind => endpoints(cx, class, cands),
        _ => names(cx, class, cands),
    }
}

fn endpoints(cx: &Cx, class: OpClass, cands: &[Candidate]) -> Vec<Draft> {
    // (host, port) -> observations
    let mut groups: BTreeMap<(String, Option<u16>), Vec<u32>> = BTreeMap::new();
    let mut ephemeral: BTreeMap<String, usize> = BTreeMap::new();
    for c in cands {
        let o = cx.obs(c.obs);
        let TargetKind::Network { host, port, .. } = &o.target.kind else { continue };
        let host = if is_loopback(host) { "localhost".to_string() } else { "*".to_string() };
        let mut port = *port;
        if class == OpClass::Bind && port.is_some_and(|p| p >= EPHEMERAL_PORTS) {
            *ephemeral.entry(host.clone()).or_default() += 1;
            port = None;
        }
        groups.entry((host, port)).or_default().push(c.obs);
    }
    let mut out = Vec::new();
    for ((host, port), covered) in groups {
        let mut ops: Vec<&str> = covered.iter().map(|&i| cx.obs(i).operation.as_str()).collect();
        ops.sort();
        ops.dedup();
        let filter = if class == OpClass::Network {
            Filter::RemoteIp { host: host.clone(), port }
        } else {
            Filter::LocalIp { host: host.clone(), port }
        };
        let grant = Grant::new(class.grant_operations(ops), vec![filter]);
        let endpoint = format!("{host}:{}", port.map_or("*".to_string(), |p| p.to_string()));
        let (reason, risk) = match class {
            OpClass::Network => {
                let risk = match port {
                    Some(443) | Some(80) => Risk::Low,
                    _ => Risk::Medium,
                };
                (
                    format!("outbound to port {}: logs name the port only, so any host on it is allowed", port.map_or("*".into(), |p| p.to_string())),
                    if host == "localhost" { Risk::Medium } else { risk },
                )
            }
            _ => {
                let mut reason = format!("listen on {endpoint}");
                if port.is_none() && ephemeral.contains_key(&host) {
                    reason.push_str(": ephemeral ports vary per run, so the port is `*`");
                }
                (reason, if host == "localhost" { Risk::Medium } else { Risk::High })
            }
        };
        out.push(Draft {
            class,
            purpose: "network".into(),
            grant,
            covered,
            reason,
            risk,
            tier: Tier::Normal,
            widening: None,
            alternatives: Vec::new(),
        });
    }
    out
}

fn names(cx: &Cx, class: OpClass, cands: &[Candidate]) -> Vec<Draft> {
    // filter -> (observations, tier)
    let mut by_filter: BTreeMap<Filter, (Vec<u32>, Tier)> = BTreeMap::new();
    for c in cands {
        let o = cx.obs(c.obs);
        let Some(name) = o.target.name_str() else { continue };
        let (stable, volatile) = stable_head(name);
        let filter = match class {
            OpClass::Mach => Filter::GlobalName { name: stable, prefix: volatile },
            OpClass::Ipc => Filter::IpcPosixName { name: stable, prefix: volatile },
            OpClass::Sysctl => Filter::SysctlName { name: name.to_string() },
            OpClass::Iokit => Filter::IokitClass { name: name.to_string() },
            OpClass::Preference => Filter::PreferenceDomain { name: name.to_string() },
            _ => continue,
        };
        let e = by_filter.entry(filter).or_insert((Vec::new(), Tier::Normal));
        e.0.push(c.obs);
        e.1 = e.1.max(c.tier);
    }
    let purpose = match class {
        OpClass::Mach => "mach services",
        OpClass::Sysctl => "system info",
        OpClass::Ipc => "ipc",
        OpClass::Iokit => "iokit",
        OpClass::Preference => "preferences",
        _ => "other",
    };
    let base_risk = match class {
        OpClass::Sysctl | OpClass::Ipc => Risk::Low,
        OpClass::Preference => Risk::Low,
        _ => Risk::Medium,
    };
    let mut normal: Vec<(Filter, Vec<u32>)> = Vec::new();
    let mut out = Vec::new();
    for (filter, (covered, tier)) in by_filter {
        if tier >= Tier::Review {
            let ops = ops_of(cx, &covered);
            let name = filter_name(&filter);
            let note = cx.tiers.of_name(class, &name).map(|m| m.note).unwrap_or_default();
            out.push(Draft {
                class,
                purpose: purpose.into(),
                grant: Grant::new(class.grant_operations(ops.iter().map(String::as_str)), vec![filter]),
                covered,
                reason: format!("{name}: review: {note}"),
                risk: Risk::High,
                tier,
                widening: None,
                alternatives: Vec::new(),
            });
        } else {
            normal.push((filter, covered));
        }
    }
    if !normal.is_empty() {
        let covered: Vec<u32> = normal.iter().flat_map(|(_, c)| c.iter().copied()).collect();
        let ops = ops_of(cx, &covered);
        let prefixes = normal.iter().filter(|(f, _)| is_prefix(f)).count();
        let mut reason = format!("{} {} name{} granted one by one", normal.len(), class.as_str(), if normal.len() == 1 { "" } else { "s" });
        if prefixes > 0 {
            reason.push_str(&format!("; {prefixes} by prefix (volatile tail)"));
        }
        let has_write = ops.iter().any(|o| o.contains("write"));
        out.push(Draft {
            class,
            purpose: purpose.into(),
            grant: Grant::new(class.grant_operations(ops.iter().map(String::as_str)), normal.into_iter().map(|(f, _)| f).collect()),
            covered,
            reason,
            risk: if has_write { Risk::Medium } else { base_risk },
            tier: Tier::Normal,
            widening: None,
            alternatives: Vec::new(),
        });
    }
    out
}

fn ops_of(cx: &Cx, covered: &[u32]) -> Vec<String> {
    let mut ops: Vec<String> = covered.iter().map(|&i| cx.obs(i).operation.clone()).collect();
    ops.sort();
    ops.dedup();
    ops
}

fn is_prefix(f: &Filter) -> bool {
    matches!(f, Filter::GlobalName { prefix: true, .. } | Filter::IpcPosixName { prefix: true, .. })
}

fn filter_name(f: &Filter) -> String {
    match f {
        Filter::GlobalName { name, .. }
        | Filter::IpcPosixName { name, .. }
        | Filter::SysctlName { name }
        | Filter::IokitClass { name }
        | Filter::PreferenceDomain { name } => name.clone(),
        other => other.to_sbpl(),
    }
}

/// The name up to its first volatile run, and whether one was found. The head must keep at
/// least two dot-separated parts (`com.apple.`), else the name stays exact.
fn stable_head(name: &str) -> (String, bool) {
    let mut head = String::new();
    for (i, part) in name.split('.').enumerate() {
        if template(part).is_some() {
            if i >= 2 {
                return (head, true);
            }
            break;
        }
        head.push_str(part);
        head.push('.');
    }
    (name.to_string(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volatile_name_tails_become_prefixes() {
        assert_eq!(stable_head("com.apple.xpc.anonymous.48213"), ("com.apple.xpc.anonymous.".into(), true));
        assert_eq!(stable_head("com.apple.cfprefsd.agent"), ("com.apple.cfprefsd.agent".into(), false));
        assert_eq!(stable_head("12345.x"), ("12345.x".into(), false));
    }
}
