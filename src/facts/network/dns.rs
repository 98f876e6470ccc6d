//! Name resolution as the vantage point sees it: IP literals, its own hosts file, then its own
//! name servers over UDP (a container's `resolv.conf`, search domains included) or, from the
//! host, the system resolver on a thread that may be abandoned. Every lookup is bounded.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use serde::{Deserialize, Serialize};

use super::connect::micros;
use crate::facts::netns::{self, Vantage};

/// A name looked up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    /// The name asked for.
    pub host: String,
    /// At least one address was found.
    pub resolved: bool,
    /// The addresses found, in the order given, without duplicates.
    pub addresses: Vec<String>,
    /// `literal`, `hosts file`, `dns 127.0.0.11`, `system resolver`.
    pub source: Option<String>,
    /// Time the lookup took, microseconds.
    pub elapsed_us: u64,
    /// Why it did not resolve (`no such name (NXDOMAIN from …)`, `no answer within N ms`).
    pub error: Option<String>,
}

/// A resolver that sees names as the vantage point does.
#[derive(Clone)]
pub(super) struct Resolver {
    vantage: Vantage,
    hosts: Vec<(String, IpAddr)>,
    conf: netns::ResolvConf,
    timeout: Duration,
}

impl Resolver {
    /// Reads the vantage's `/etc/hosts` and `/etc/resolv.conf` (through its root when it is a
    /// container); each lookup is then bounded by `timeout`.
    pub(super) fn new(vantage: &Vantage, timeout: Duration) -> Resolver {
        let read = |p: &str| std::fs::read_to_string(vantage.file(p)).unwrap_or_default();
        Resolver {
            vantage: vantage.clone(),
            hosts: netns::parse_hosts(&read("/etc/hosts")),
            conf: netns::parse_resolv_conf(&read("/etc/resolv.conf")),
            timeout,
        }
    }

    /// Resolves on the calling thread, which must already be in the vantage's namespace.
    pub(super) fn resolve(&self, host: &str) -> Resolution {
        let started = Instant::now();
        let (source, result) = self.lookup(host);
        let elapsed_us = micros(started.elapsed());
        match result {
            Ok(addrs) if !addrs.is_empty() => Resolution {
                host: host.to_string(),
                resolved: true,
                addresses: addrs.iter().map(IpAddr::to_string).collect(),
                source: Some(source),
                elapsed_us,
                error: None,
            },
            Ok(_) => Resolution {
                host: host.to_string(),
                resolved: false,
                addresses: Vec::new(),
                source: Some(source),
                elapsed_us,
                error: Some("no addresses".to_string()),
            },
            Err(e) => Resolution {
                host: host.to_string(),
                resolved: false,
                addresses: Vec::new(),
                source: Some(source),
                elapsed_us,
                error: Some(e),
            },
        }
    }

    /// A literal, else the hosts file, else the host's resolver or the container's name
    /// servers; with the source that answered.
    fn lookup(&self, host: &str) -> (String, Result<Vec<IpAddr>, String>) {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return ("literal".into(), Ok(vec![ip]));
        }
        let lower = host.trim_end_matches('.').to_ascii_lowercase();
        let from_hosts: Vec<IpAddr> = self
            .hosts
            .iter()
            .filter(|(n, _)| *n == lower)
            .map(|(_, ip)| *ip)
            .collect();
        if !from_hosts.is_empty() {
            return ("hosts file".into(), Ok(from_hosts));
        }
        match self.vantage {
            Vantage::Host => ("system resolver".into(), self.system(host)),
            Vantage::Container { .. } => self.dns(&lower),
        }
    }

    /// getaddrinfo, bounded: it cannot be cancelled, so it runs on a thread we may abandon.
    fn system(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        let (tx, rx) = std::sync::mpsc::channel();
        let h = host.to_string();
        std::thread::spawn(move || {
            let r = (h.as_str(), 0)
                .to_socket_addrs()
                .map(|it| it.map(|a| a.ip()).collect::<Vec<_>>());
            let _ = tx.send(r);
        });
        match rx.recv_timeout(self.timeout) {
            Ok(Ok(v)) => Ok(dedup(v)),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} ms", self.timeout.as_millis())),
        }
    }

    /// Asks the container's name servers directly, as its own resolver would.
    fn dns(&self, host: &str) -> (String, Result<Vec<IpAddr>, String>) {
        let deadline = Instant::now() + self.timeout;
        let mut candidates = Vec::new();
        if host.contains('.') {
            candidates.push(host.to_string());
        }
        candidates.extend(self.conf.search.iter().map(|d| format!("{host}.{d}")));
        if !host.contains('.') {
            candidates.push(host.to_string());
        }
        let mut last = (
            String::from("dns"),
            Err("no name server answered".to_string()),
        );
        for server in &self.conf.nameservers {
            let source = format!("dns {server}");
            for name in &candidates {
                let mut found = Vec::new();
                let mut err = None;
                for rtype in [RecordType::A, RecordType::AAAA] {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return (
                            source,
                            Err(format!("no answer within {} ms", self.timeout.as_millis())),
                        );
                    }
                    match dns_query(*server, name, rtype, left) {
                        Ok(v) => found.extend(v),
                        Err(e) => err = Some(e),
                    }
                    if !found.is_empty() {
                        break;
                    }
                }
                if !found.is_empty() {
                    return (source, Ok(dedup(found)));
                }
                last = (
                    source.clone(),
                    Err(err.unwrap_or_else(|| "no addresses".into())),
                );
                // A server that does not answer at all will not answer the next name either.
                if matches!(&last.1, Err(e) if e.starts_with("no answer")) {
                    break;
                }
            }
        }
        last
    }
}

/// Resolves `host` as `vantage` would (a literal, its hosts file, then its name servers or the
/// host's resolver), bounded by `timeout`; call it on a thread already inside its namespace.
/// Never fails: a name that does not resolve says why in [`Resolution::error`].
pub fn resolve_from(vantage: &Vantage, host: &str, timeout: Duration) -> Resolution {
    Resolver::new(vantage, timeout).resolve(host)
}

/// `v` without repeated addresses, first occurrence kept.
fn dedup(v: Vec<IpAddr>) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    for ip in v {
        if !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

/// One DNS question over UDP.
fn dns_query(
    server: IpAddr,
    name: &str,
    rtype: RecordType,
    timeout: Duration,
) -> Result<Vec<IpAddr>, String> {
    let fqdn = Name::from_ascii(format!("{name}."))
        .map_err(|e| format!("{name:?} is not a valid name: {e}"))?;
    let mut msg = Message::query();
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(fqdn, rtype));
    let id = msg.metadata.id;
    let packet = msg
        .to_vec()
        .map_err(|e| format!("cannot encode query: {e}"))?;
    let bind: SocketAddr = match server {
        IpAddr::V4(_) => "0.0.0.0:0".parse().map_err(|e| format!("{e}"))?,
        IpAddr::V6(_) => "[::]:0".parse().map_err(|e| format!("{e}"))?,
    };
    let sock = UdpSocket::bind(bind).map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    sock.connect((server, 53))
        .map_err(|e| format!("name server {server}: {e}"))?;
    sock.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
        .map_err(|e| e.to_string())?;
    sock.send(&packet)
        .map_err(|e| format!("name server {server}: {e}"))?;
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    loop {
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!(
                    "no answer from name server {server} within {} ms",
                    timeout.as_millis()
                ));
            }
            Err(e) => return Err(format!("name server {server}: {e}")),
        };
        let Ok(reply) = Message::from_vec(&buf[..n]) else {
            // Garbage on the socket: keep listening for the real answer until the deadline.
            if Instant::now() >= deadline {
                return Err(format!("name server {server} sent no valid answer"));
            }
            continue;
        };
        if reply.metadata.id != id {
            continue;
        }
        return match reply.metadata.response_code {
            ResponseCode::NoError => Ok(reply
                .answers
                .iter()
                .filter_map(|r| match &r.data {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                    _ => None,
                })
                .collect()),
            ResponseCode::NXDomain => Err(format!("no such name (NXDOMAIN from {server})")),
            code => Err(format!("name server {server} answered {code}")),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_and_hosts_file_resolution() {
        let r = Resolver {
            vantage: Vantage::Container {
                name: "x".into(),
                pid: 1,
            },
            hosts: netns::parse_hosts("172.17.0.2 coreapp\n"),
            conf: netns::parse_resolv_conf(""),
            timeout: Duration::from_millis(200),
        };
        let lit = r.resolve("127.0.0.1");
        assert!(lit.resolved && lit.source.as_deref() == Some("literal"));
        let h = r.resolve("COREAPP");
        assert_eq!(h.addresses, vec!["172.17.0.2"]);
        assert_eq!(h.source.as_deref(), Some("hosts file"));
    }
}
