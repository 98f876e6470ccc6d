//! Where the database is: the host name looked up the way the client would (from the
//! coreapp's namespace, or this host, or Docker's own names) and whether the addresses are
//! this machine's.

use std::net::{IpAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::{DbTarget, PlacementFacts};
use crate::facts::docker::containers::Peers;
use crate::facts::netns::{self, Vantage};
use crate::facts::network::{self, Resolution};

/// Whether `addrs`, as seen from `vantage`, are this machine's: loopback (inside a container:
/// the container itself), an address we or the container can bind, or an address on one of
/// this host's bridges (a container here: `local_evidence` names the bridge).
pub fn placement(addrs: &[IpAddr], vantage: &Vantage) -> PlacementFacts {
    let bindable_here = |ip: &IpAddr| UdpSocket::bind((*ip, 0)).is_ok();
    let owned: Vec<IpAddr> = addrs.to_vec();
    let bindable_there: Vec<bool> = match vantage {
        Vantage::Host => vec![false; addrs.len()],
        Vantage::Container { .. } => netns::spawn_in(vantage, move || {
            owned
                .iter()
                .map(|ip| UdpSocket::bind((*ip, 0)).is_ok())
                .collect::<Vec<bool>>()
        })
        .recv_timeout(Duration::from_secs(2))
        .ok()
        .and_then(Result::ok)
        .unwrap_or_else(|| vec![false; addrs.len()]),
    };
    let routes = std::fs::read_to_string("/proc/self/net/route").unwrap_or_default();
    let mut local = false;
    let mut evidence = None;
    for (i, ip) in addrs.iter().enumerate() {
        if ip.is_loopback() || bindable_here(ip) || bindable_there.get(i) == Some(&true) {
            local = true;
        } else if let Some(bridge) = on_local_bridge(&routes, ip, |dev| {
            std::path::Path::new("/sys/class/net")
                .join(dev)
                .join("bridge")
                .exists()
        }) {
            local = true;
            evidence.get_or_insert(format!(
                "{ip} is on {bridge}, a bridge of this host: a container here"
            ));
        }
    }
    let mut shown: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
    shown.dedup();
    PlacementFacts {
        addresses: shown,
        local,
        local_evidence: evidence,
    }
}

/// The bridge interface of this host that `ip` is directly attached to, from the IPv4 routing
/// table (`/proc/net/route`): the most specific route to it has no gateway and leaves through
/// an interface `is_bridge` says is a bridge (Docker's `docker0`, `br-…`).
pub(super) fn on_local_bridge(
    routes: &str,
    ip: &IpAddr,
    is_bridge: impl Fn(&str) -> bool,
) -> Option<String> {
    let IpAddr::V4(v4) = ip else {
        return None;
    };
    // The table prints each address's network-order bytes as a native-endian number.
    let target = u32::from_ne_bytes(v4.octets());
    let mut best: Option<(u32, &str, u32)> = None;
    for line in routes.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (Some(dev), Some(dest), Some(gw), Some(mask)) =
            (cols.first(), cols.get(1), cols.get(2), cols.get(7))
        else {
            continue;
        };
        let (Ok(dest), Ok(gw), Ok(mask)) = (
            u32::from_str_radix(dest, 16),
            u32::from_str_radix(gw, 16),
            u32::from_str_radix(mask, 16),
        ) else {
            continue;
        };
        if target & mask != dest {
            continue;
        }
        let bits = mask.count_ones();
        if best.is_none_or(|(b, _, _)| bits > b) {
            best = Some((bits, dev, gw));
        }
    }
    match best {
        Some((bits, dev, 0)) if bits > 0 && is_bridge(dev) => Some(dev.to_string()),
        _ => None,
    }
}

/// Where the database name was looked up, and what came of it.
pub(super) struct Located {
    pub(super) vantage: Vantage,
    pub(super) note: Option<String>,
    pub(super) resolution: Resolution,
    pub(super) container_only: Option<String>,
    /// Containers that were asked and could not resolve it either.
    pub(super) also_tried: Vec<String>,
    /// Addresses Docker gives the name on its networks, when only Docker knows it.
    pub(super) docker_addresses: Vec<IpAddr>,
}

pub(super) fn join_notes(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    }
}

/// Resolves the database host the way the client would (blocking; bounded by `timeout` per
/// lookup, the lookups in containers side by side):
/// - settings from the running coreapp: inside its namespace, with its hosts file and name
///   servers, and that is the answer;
/// - otherwise (other sources, or the coreapp is not running or cannot be entered): on this
///   host; when the host cannot resolve the name, inside each running WhatsApp container, and
///   the first that can is where the database is reached from (the name is a container-only
///   one, e.g. a compose service); when none can, Docker's own names tell a container-only
///   name from one that resolves nowhere.
pub(super) fn locate(t: &DbTarget, peers: &Peers, timeout: Duration) -> Located {
    let mut note = None;
    if let Some(core) = &peers.coreapp
        && t.source == format!("container {}", core.name)
    {
        let (vantage, why_not) = network::coreapp_vantage(Some(core));
        if let Vantage::Container { .. } = vantage {
            return Located {
                resolution: resolve_in(&vantage, &t.host, timeout),
                vantage,
                note: None,
                container_only: None,
                also_tried: Vec::new(),
                docker_addresses: Vec::new(),
            };
        }
        note = why_not.map(|w| format!("{w}: the settings are its own, looked up from the host"));
    }
    let on_host = network::resolve_from(&Vantage::Host, &t.host, timeout);
    if on_host.resolved {
        return Located {
            vantage: Vantage::Host,
            note,
            resolution: on_host,
            container_only: None,
            also_tried: Vec::new(),
            docker_addresses: Vec::new(),
        };
    }
    // Ask every running WhatsApp container, side by side.
    let asked: Vec<_> = peers
        .coreapps
        .iter()
        .chain(&peers.webapps)
        .filter_map(|p| p.vantage())
        .map(|v| {
            let host = t.host.clone();
            let v2 = v.clone();
            let rx = netns::spawn_in(&v, move || network::resolve_from(&v2, &host, timeout));
            (v, rx)
        })
        .collect();
    let deadline = Instant::now() + timeout + Duration::from_millis(500);
    let mut also_tried = Vec::new();
    let mut found = None;
    for (v, rx) in asked {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Ok(res)) if res.resolved && found.is_none() => found = Some((v, res)),
            Ok(Ok(_)) | Ok(Err(_)) | Err(_) if found.is_none() => also_tried.push(v.describe()),
            _ => {}
        }
    }
    if let Some((vantage, res)) = found {
        let inside = format!(
            "from {}: {} ({})",
            vantage.describe(),
            res.addresses.join(", "),
            res.source.clone().unwrap_or_default()
        );
        return Located {
            note: join_notes(
                note,
                Some(format!(
                    "{} does not resolve on this host, only inside the containers' network: reached from {}",
                    t.host,
                    vantage.describe()
                )),
            ),
            vantage,
            resolution: res,
            container_only: Some(inside),
            also_tried,
            docker_addresses: Vec::new(),
        };
    }
    let lower = t.host.trim_end_matches('.').to_ascii_lowercase();
    let known: Vec<_> = peers
        .network_names
        .iter()
        .filter(|n| n.name == lower)
        .collect();
    let mut docker_addresses: Vec<IpAddr> = Vec::new();
    for ip in known
        .iter()
        .filter_map(|n| n.address.as_ref()?.parse().ok())
    {
        if !docker_addresses.contains(&ip) {
            docker_addresses.push(ip);
        }
    }
    Located {
        vantage: Vantage::Host,
        note,
        resolution: on_host,
        container_only: (!known.is_empty()).then(|| {
            known
                .iter()
                .map(|n| n.describe())
                .collect::<Vec<_>>()
                .join("; ")
        }),
        also_tried,
        docker_addresses,
    }
}

/// Resolves `host` from inside `vantage`, on a thread there, within about `timeout`.
pub(super) fn resolve_in(vantage: &Vantage, host: &str, timeout: Duration) -> Resolution {
    let (h, v) = (host.to_string(), vantage.clone());
    let started = Instant::now();
    let failed = |error: String| Resolution {
        host: host.to_string(),
        resolved: false,
        addresses: Vec::new(),
        source: None,
        elapsed_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        error: Some(error),
    };
    match netns::spawn_in(vantage, move || network::resolve_from(&v, &h, timeout))
        .recv_timeout(timeout + Duration::from_millis(500))
    {
        Ok(Ok(res)) => res,
        Ok(Err(e)) => failed(e),
        Err(_) => failed(format!("no answer within {} ms", timeout.as_millis())),
    }
}

/// The reason a name that did not resolve gives, saying from where it was tried.
pub(super) fn unresolved_reason(t: &DbTarget, l: &Located) -> String {
    let why = l.resolution.error.clone().unwrap_or_default();
    let source = l
        .resolution
        .source
        .as_ref()
        .map(|s| format!("{s}: "))
        .unwrap_or_default();
    let mut out = match &l.vantage {
        Vantage::Container { .. } => format!(
            "{} does not resolve from {} ({source}{why})",
            t.host,
            l.vantage.describe()
        ),
        Vantage::Host => format!("{} does not resolve on this host ({why})", t.host),
    };
    if !l.also_tried.is_empty() {
        out.push_str(&format!(", nor from {}", l.also_tried.join(", ")));
    }
    if let Some(n) = &l.note {
        out.push_str(&format!(" ({n})"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::database::{Engine, settings};

    #[test]
    fn loopback_is_local() {
        let p = placement(&["127.0.0.1".parse().unwrap()], &Vantage::Host);
        assert!(p.local && p.local_evidence.is_none());
        // TEST-NET-3: nobody's address, and no route of ours leads to a bridge there.
        let p = placement(&["203.0.113.9".parse().unwrap()], &Vantage::Host);
        assert!(!p.local, "{p:?}");
    }

    fn target(host: &str, source: &str) -> DbTarget {
        DbTarget {
            engine: Engine::Mysql,
            host: host.into(),
            port: 3306,
            user: "wa".into(),
            password: None,
            database: None,
            tls: settings::TlsFiles::default(),
            source: source.into(),
        }
    }

    #[test]
    fn where_the_name_is_looked_up() {
        let t = Duration::from_secs(2);
        // Nothing runs: an address is looked up on this host.
        let l = locate(&target("127.0.0.1", "--db-host"), &Peers::default(), t);
        assert_eq!(l.vantage, Vantage::Host);
        assert_eq!(l.resolution.source.as_deref(), Some("literal"));
        assert!(l.note.is_none() && l.container_only.is_none());
        // The settings of a stopped coreapp: the host looks, and says why.
        let stopped = network::Peer {
            name: "wa-core".into(),
            pid: None,
            env: Default::default(),
        };
        let peers = Peers {
            coreapp: Some(stopped.clone()),
            coreapps: vec![stopped],
            network_names: vec![crate::facts::docker::containers::NetworkName {
                name: "wapf-unit-db.invalid".into(),
                kind: "compose service",
                container: "wa-db-1".into(),
                network: "wa_default".into(),
                address: Some("172.18.0.2".into()),
            }],
            ..Peers::default()
        };
        let l = locate(
            &target("wapf-unit-db.invalid", "container wa-core"),
            &peers,
            t,
        );
        assert_eq!(l.vantage, Vantage::Host);
        assert!(!l.resolution.resolved);
        assert!(
            l.note
                .as_deref()
                .is_some_and(|n| n.starts_with("coreapp wa-core is not running")),
            "{:?}",
            l.note
        );
        // Only Docker knows that name: a container-only name, with Docker's address.
        assert_eq!(
            l.container_only.as_deref(),
            Some(
                "the compose service of container wa-db-1 on Docker network wa_default (172.18.0.2)"
            )
        );
        assert_eq!(l.docker_addresses, vec![IpAddr::from([172, 18, 0, 2])]);
        let reason = unresolved_reason(&target("wapf-unit-db.invalid", "x"), &l);
        assert!(
            reason.starts_with("wapf-unit-db.invalid does not resolve on this host ("),
            "{reason}"
        );
        // A name nobody knows is not container-only.
        let l = locate(&target("wapf-other.invalid", "--db-host"), &peers, t);
        assert!(l.container_only.is_none() && !l.resolution.resolved);
    }

    #[test]
    fn bridges_of_this_host() {
        let n = |ip: [u8; 4]| format!("{:08X}", u32::from_ne_bytes(ip));
        let routes = format!(
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
             eth0\t{}\t{}\t0003\t0\t0\t0\t{}\t0\t0\t0\n\
             br-9d086a4c\t{}\t{}\t0001\t0\t0\t0\t{}\t0\t0\t0\n\
             eth0\t{}\t{}\t0001\t0\t0\t0\t{}\t0\t0\t0\n",
            n([0, 0, 0, 0]),
            n([10, 0, 0, 1]),
            n([0, 0, 0, 0]),
            n([172, 18, 0, 0]),
            n([0, 0, 0, 0]),
            n([255, 255, 0, 0]),
            n([10, 0, 0, 0]),
            n([0, 0, 0, 0]),
            n([255, 255, 255, 0]),
        );
        let bridge = |d: &str| d.starts_with("br-");
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            on_local_bridge(&routes, &ip("172.18.0.3"), bridge).as_deref(),
            Some("br-9d086a4c")
        );
        // Directly attached, but not a bridge: another machine on the LAN.
        assert_eq!(on_local_bridge(&routes, &ip("10.0.0.7"), bridge), None);
        // Through the default gateway.
        assert_eq!(on_local_bridge(&routes, &ip("192.0.2.1"), bridge), None);
        assert_eq!(on_local_bridge(&routes, &ip("::1"), bridge), None);
    }
}
