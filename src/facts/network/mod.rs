//! Network reach: WhatsApp's hosts from where the coreapp runs, and the webapp → coreapp links.
//!
//! Every step is bounded (name resolution and each connect get `timeout`, 3 s by default) and
//! every target runs on its own thread, so a black-holed address costs one timeout, not one per
//! target. Checks run inside the coreapp's network namespace when a coreapp runs
//! ([`Vantage`]), with the container's own hosts file and name servers; from the host otherwise.
//! Port 443 goes through `HTTPS_PROXY` when the client would use one (the coreapp's environment,
//! or the host's): a direct-connect check behind a proxy reports a false failure (WADebug #5).

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use serde::{Deserialize, Serialize};

use super::Fact;
use super::netns::{self, Vantage};

/// One WhatsApp endpoint to try, as listed in the rules YAML (`network.whatsapp`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub host: String,
    pub ports: Vec<u16>,
}

/// The rules file's `network:` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    /// Hosts the client must reach.
    pub whatsapp: Vec<Target>,
    /// Bound of each step (resolve, connect), milliseconds.
    #[serde(
        default = "default_timeout_ms",
        deserialize_with = "crate::bounds::de::network_timeout_ms"
    )]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    3000
}

/// What to check and from where.
#[derive(Debug, Clone)]
pub struct NetworkOptions {
    pub targets: Vec<Target>,
    pub timeout: Duration,
}

impl Default for NetworkOptions {
    fn default() -> Self {
        NetworkOptions {
            targets: Vec::new(),
            timeout: Duration::from_millis(default_timeout_ms()),
        }
    }
}

/// A name looked up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    pub host: String,
    pub resolved: bool,
    pub addresses: Vec<String>,
    /// `literal`, `hosts file`, `dns 127.0.0.11`, `system resolver`.
    pub source: Option<String>,
    pub elapsed_us: u64,
    pub error: Option<String>,
}

/// One connection attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Connect {
    pub host: String,
    pub port: u16,
    /// `direct`, or `proxy http://proxy:3128` (credentials never shown).
    pub via: String,
    pub connected: bool,
    pub address: Option<String>,
    /// Time to an open connection (through a proxy: to its `200` answer to CONNECT).
    pub connect_us: Option<u64>,
    pub error: Option<String>,
}

/// Reach of WhatsApp's hosts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReachFacts {
    /// `container NAME` or `host`.
    pub from: String,
    /// Why the host was used although a coreapp runs (cannot enter its namespace), if so.
    pub from_note: Option<String>,
    /// The HTTPS proxy port 443 goes through, without credentials.
    pub proxy: Option<String>,
    pub dns: Vec<Resolution>,
    pub checks: Vec<Connect>,
    /// Names that did not resolve although a direct connection needs them.
    pub dns_failed: Vec<String>,
}

/// One coreapp port seen from the webapp.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkPort {
    pub port: u16,
    pub open: bool,
    pub connect_us: Option<u64>,
    pub error: Option<String>,
}

/// The webapp's links to the coreapp (`WACORE_HOSTNAME`, ports 6250–6253).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkFacts {
    /// The running webapp looked from; null when none runs (nothing to judge).
    pub webapp: Option<String>,
    /// Its `WACORE_HOSTNAME`.
    pub hostname: Option<String>,
    pub resolution: Option<Resolution>,
    pub ports: Vec<LinkPort>,
    /// Ports that did not accept a connection.
    pub closed: Vec<u16>,
    /// Why the check from this webapp could not run (its namespace cannot be entered, it did
    /// not finish in time). Absent when it ran, and in older documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl LinkFacts {
    /// "No running webapp": the one entry when there is nothing to look from.
    fn no_webapp() -> LinkFacts {
        LinkFacts {
            webapp: None,
            hostname: None,
            resolution: None,
            ports: Vec::new(),
            closed: Vec::new(),
            error: None,
        }
    }
}

/// The network facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkFacts {
    pub whatsapp: Fact<ReachFacts>,
    /// One entry per running webapp; a single entry with `webapp: null` when none runs.
    #[serde(deserialize_with = "links_one_or_many")]
    pub coreapp_links: Fact<Vec<LinkFacts>>,
}

/// Reads `coreapp_links` as a list, or as the single object documents held before every
/// webapp was checked (a list of one).
fn links_one_or_many<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Fact<Vec<LinkFacts>>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    if let Some(reason) = super::unavailable_reason(&v) {
        return Ok(Fact::Unavailable(reason.to_string()));
    }
    let list = match v {
        serde_json::Value::Array(items) => items,
        one => vec![one],
    };
    list.into_iter()
        .map(|item| serde_json::from_value(item).map_err(serde::de::Error::custom))
        .collect::<Result<Vec<LinkFacts>, _>>()
        .map(Fact::Available)
}

/// Coreapp ports the webapp uses: messaging, contacts, control, healthcheck.
pub const COREAPP_PORTS: [u16; 4] = [6250, 6251, 6252, 6253];

/// A running container to look from, with the environment its proxies come from.
#[derive(Debug, Clone)]
pub struct Peer {
    pub name: String,
    pub pid: Option<i64>,
    pub env: std::collections::HashMap<String, String>,
}

impl Peer {
    /// Its network namespace, when it runs.
    pub fn vantage(&self) -> Option<Vantage> {
        self.pid.map(|pid| Vantage::Container {
            name: self.name.clone(),
            pid,
        })
    }
}

/// The environment proxy settings come from: the container's when looking from inside it (the
/// client uses its own), else this process's.
pub fn env_at(vantage: &Vantage, peer: Option<&Peer>) -> std::collections::HashMap<String, String> {
    match (vantage, peer) {
        (Vantage::Container { .. }, Some(p)) => p.env.clone(),
        _ => std::env::vars().collect(),
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A resolver that sees names as the vantage point does.
#[derive(Clone)]
struct Resolver {
    vantage: Vantage,
    hosts: Vec<(String, IpAddr)>,
    conf: netns::ResolvConf,
    timeout: Duration,
}

impl Resolver {
    fn new(vantage: &Vantage, timeout: Duration) -> Resolver {
        let read = |p: &str| std::fs::read_to_string(vantage.file(p)).unwrap_or_default();
        Resolver {
            vantage: vantage.clone(),
            hosts: netns::parse_hosts(&read("/etc/hosts")),
            conf: netns::parse_resolv_conf(&read("/etc/resolv.conf")),
            timeout,
        }
    }

    /// Resolves on the calling thread, which must already be in the vantage's namespace.
    fn resolve(&self, host: &str) -> Resolution {
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

/// Resolves `host` as `vantage` would; call it on a thread already inside its namespace.
pub fn resolve_from(vantage: &Vantage, host: &str, timeout: Duration) -> Resolution {
    Resolver::new(vantage, timeout).resolve(host)
}

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

/// Connects to the first address that accepts, within `timeout` overall.
pub fn connect_first(
    addrs: &[String],
    port: u16,
    timeout: Duration,
) -> (Result<(TcpStream, String), String>, Duration) {
    let started = Instant::now();
    let mut last = "no addresses".to_string();
    for a in addrs {
        let Ok(ip) = a.parse::<IpAddr>() else {
            continue;
        };
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&SocketAddr::new(ip, port), left) {
            Ok(s) => return (Ok((s, a.clone())), started.elapsed()),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last = format!(
                    "no answer within {} ms (filtered or black-holed)",
                    timeout.as_millis()
                );
            }
            Err(e) => last = e.to_string(),
        }
    }
    (Err(last), started.elapsed())
}

/// An HTTPS proxy as the client would use it.
#[derive(Debug, Clone)]
struct Proxy {
    host: String,
    port: u16,
    /// `Basic …` value, when the URL carries credentials.
    auth: Option<String>,
    shown: String,
    no_proxy: Vec<String>,
}

impl Proxy {
    /// From `HTTPS_PROXY`/`https_proxy` (and `NO_PROXY`) of `env`.
    fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<Proxy>, String> {
        let Some(raw) = get("HTTPS_PROXY")
            .or_else(|| get("https_proxy"))
            .filter(|s| !s.trim().is_empty())
        else {
            return Ok(None);
        };
        let with_scheme = if raw.contains("://") {
            raw.clone()
        } else {
            format!("http://{raw}")
        };
        let url =
            url::Url::parse(&with_scheme).map_err(|e| format!("HTTPS_PROXY is not a URL: {e}"))?;
        let host = url
            .host_str()
            .ok_or("HTTPS_PROXY has no host")?
            .trim_matches(['[', ']'])
            .to_string();
        let port = url.port_or_known_default().unwrap_or(3128);
        let auth = (!url.username().is_empty()).then(|| {
            use base64::Engine;
            let user = percent(url.username());
            let pass = percent(url.password().unwrap_or(""));
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
            )
        });
        let no_proxy = get("NO_PROXY")
            .or_else(|| get("no_proxy"))
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        Ok(Some(Proxy {
            shown: format!("{}://{host}:{port}", url.scheme()),
            host,
            port,
            auth,
            no_proxy,
        }))
    }

    fn applies_to(&self, host: &str) -> bool {
        let h = host.to_ascii_lowercase();
        !self
            .no_proxy
            .iter()
            .any(|n| n == "*" || h == *n || h.ends_with(&format!(".{n}")))
    }
}

fn percent(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `CONNECT host:port` through the proxy; true once it answers 2xx.
fn via_proxy(
    resolver: &Resolver,
    proxy: &Proxy,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Connect {
    let started = Instant::now();
    let mut out = Connect {
        host: host.to_string(),
        port,
        via: format!("proxy {}", proxy.shown),
        connected: false,
        address: None,
        connect_us: None,
        error: None,
    };
    let res = resolver.resolve(&proxy.host);
    if !res.resolved {
        out.error = Some(format!(
            "proxy {} does not resolve: {}",
            proxy.host,
            res.error.unwrap_or_default()
        ));
        return out;
    }
    let left = timeout.saturating_sub(started.elapsed());
    let (conn, _) = connect_first(&res.addresses, proxy.port, left);
    let mut stream = match conn {
        Ok((s, _)) => s,
        Err(e) => {
            out.error = Some(format!("proxy {}: {e}", proxy.shown));
            return out;
        }
    };
    let left = timeout
        .saturating_sub(started.elapsed())
        .max(Duration::from_millis(1));
    let _ = stream.set_read_timeout(Some(left));
    let _ = stream.set_write_timeout(Some(left));
    let mut req = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n");
    if let Some(a) = &proxy.auth {
        req.push_str(&format!("Proxy-Authorization: {a}\r\n"));
    }
    req.push_str("\r\n");
    if let Err(e) = stream.write_all(req.as_bytes()) {
        out.error = Some(format!("proxy {}: {e}", proxy.shown));
        return out;
    }
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => head.push(byte[0]),
            Err(e) => {
                out.error = Some(format!("proxy {} did not answer CONNECT: {e}", proxy.shown));
                return out;
            }
        }
    }
    let text = String::from_utf8_lossy(&head);
    let status_line = text.lines().next().unwrap_or("").trim().to_string();
    let code = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok());
    match code {
        Some(c) if (200..300).contains(&c) => {
            out.connected = true;
            out.connect_us = Some(micros(started.elapsed()));
        }
        Some(_) => out.error = Some(format!("proxy {} refused: {status_line}", proxy.shown)),
        None => {
            out.error = Some(format!(
                "proxy {} sent no HTTP answer to CONNECT ({} bytes)",
                proxy.shown,
                head.len()
            ))
        }
    }
    out
}

/// Where the WhatsApp reach and database checks look from: the running coreapp's namespace
/// when it can be entered, else the host (with the reason).
pub fn coreapp_vantage(coreapp: Option<&Peer>) -> (Vantage, Option<String>) {
    let Some(peer) = coreapp else {
        return (Vantage::Host, None);
    };
    let Some(v) = peer.vantage() else {
        return (
            Vantage::Host,
            Some(format!("coreapp {} is not running", peer.name)),
        );
    };
    // Probe the namespace once so a permission problem is reported, not hidden.
    match netns::spawn_in(&v, || ()).recv() {
        Ok(Ok(())) => (v, None),
        Ok(Err(e)) => (Vantage::Host, Some(e)),
        Err(_) => (Vantage::Host, Some("namespace probe thread died".into())),
    }
}

/// Reach and the coreapp links are a group of their own (`network`), read every base interval
/// and carried over between.
pub const GROUP: super::group::Declared = super::group::Declared {
    name: "network",
    default_interval: |base| base,
    carry_over: |new, prev| new.network = prev.network.clone(),
};

/// Checks every target concurrently; returns within about `3 × timeout` whatever happens.
pub fn reach(opts: &NetworkOptions, coreapp: Option<&Peer>) -> Result<ReachFacts, String> {
    let (vantage, from_note) = coreapp_vantage(coreapp);
    let env = env_at(&vantage, coreapp);
    let proxy = Proxy::from_env(|k| env.get(k).cloned())?;
    let resolver = Resolver::new(&vantage, opts.timeout);
    let t = opts.timeout;
    let mut pending = Vec::new();
    for target in &opts.targets {
        let resolver = resolver.clone();
        let target_here = target.clone();
        let target = target.clone();
        let proxy = proxy.clone();
        let rx = netns::spawn_in(&vantage, move || {
            let res = resolver.resolve(&target.host);
            let mut handles = Vec::new();
            for &port in &target.ports {
                let res = res.clone();
                let resolver = resolver.clone();
                let proxy = proxy.clone();
                let host = target.host.clone();
                // Threads inherit this thread's network namespace.
                handles.push(std::thread::spawn(move || match &proxy {
                    Some(p) if port == 443 && p.applies_to(&host) => {
                        via_proxy(&resolver, p, &host, port, t)
                    }
                    _ => direct(&res, &host, port, t),
                }));
            }
            let checks: Vec<Connect> = handles
                .into_iter()
                .zip(&target.ports)
                .map(|(h, &port)| {
                    h.join().unwrap_or_else(|_| Connect {
                        host: target.host.clone(),
                        port,
                        via: "direct".into(),
                        connected: false,
                        address: None,
                        connect_us: None,
                        error: Some("connect thread crashed".into()),
                    })
                })
                .collect();
            (res, checks)
        });
        pending.push((target_here, rx));
    }
    let deadline = Instant::now() + t * 3 + Duration::from_millis(500);
    let mut dns = Vec::new();
    let mut checks = Vec::new();
    let mut dns_failed = Vec::new();
    for (target, rx) in pending {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Ok((res, cs))) => {
                let needs_dns = cs.iter().any(|c| c.via == "direct");
                if !res.resolved && needs_dns {
                    dns_failed.push(target.host.clone());
                }
                dns.push(res);
                checks.extend(cs);
            }
            Ok(Err(e)) => return Err(e),
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                dns_failed.push(target.host.clone());
                for &port in &target.ports {
                    checks.push(Connect {
                        host: target.host.clone(),
                        port,
                        via: "direct".into(),
                        connected: false,
                        address: None,
                        connect_us: None,
                        error: Some("the check did not finish in time".into()),
                    });
                }
            }
        }
    }
    Ok(ReachFacts {
        from: vantage.describe(),
        from_note,
        proxy: proxy.map(|p| p.shown),
        dns,
        checks,
        dns_failed,
    })
}

fn direct(res: &Resolution, host: &str, port: u16, timeout: Duration) -> Connect {
    let mut out = Connect {
        host: host.to_string(),
        port,
        via: "direct".into(),
        connected: false,
        address: None,
        connect_us: None,
        error: None,
    };
    if !res.resolved {
        out.error = Some(format!(
            "{host} does not resolve: {}",
            res.error.clone().unwrap_or_default()
        ));
        return out;
    }
    match connect_first(&res.addresses, port, timeout) {
        (Ok((_, addr)), took) => {
            out.connected = true;
            out.address = Some(addr);
            out.connect_us = Some(micros(took));
        }
        (Err(e), _) => out.error = Some(e),
    }
    out
}

/// From every running webapp's namespace: does its `WACORE_HOSTNAME` resolve, do 6250–6253
/// accept? The webapps are checked side by side, all within about `2 × timeout`; one that
/// cannot be checked says why in its own entry. With no running webapp the list holds one
/// entry whose `webapp` is null (nothing to judge).
pub fn links(webapps: &[Peer], timeout: Duration) -> Vec<LinkFacts> {
    let running: Vec<&Peer> = webapps.iter().filter(|w| w.pid.is_some()).collect();
    if running.is_empty() {
        return vec![LinkFacts::no_webapp()];
    }
    let deadline = Instant::now() + timeout * 2 + Duration::from_millis(500);
    let pending: Vec<_> = running
        .into_iter()
        .map(|w| (w, start_link_check(w, timeout)))
        .collect();
    pending
        .into_iter()
        .map(|(w, rx)| {
            let failed = |error: String| LinkFacts {
                webapp: Some(w.name.clone()),
                hostname: w.env.get("WACORE_HOSTNAME").cloned(),
                error: Some(error),
                ..LinkFacts::no_webapp()
            };
            let Some(rx) = rx else {
                return LinkFacts {
                    webapp: Some(w.name.clone()),
                    closed: COREAPP_PORTS.to_vec(),
                    ..LinkFacts::no_webapp()
                };
            };
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Ok((res, ports))) => LinkFacts {
                    webapp: Some(w.name.clone()),
                    hostname: Some(res.host.clone()),
                    closed: ports
                        .iter()
                        .filter(|p: &&LinkPort| !p.open)
                        .map(|p| p.port)
                        .collect(),
                    resolution: Some(res),
                    ports,
                    error: None,
                },
                Ok(Err(e)) => failed(e),
                Err(_) => failed(format!(
                    "the link check did not finish within {} ms",
                    (timeout * 2).as_millis()
                )),
            }
        })
        .collect()
}

/// What one webapp's link check sends back: its name resolution and the four ports.
type LinkResult = Result<(Resolution, Vec<LinkPort>), String>;

/// Starts the check from one running webapp; `None` when it has no `WACORE_HOSTNAME`.
fn start_link_check(
    webapp: &Peer,
    timeout: Duration,
) -> Option<std::sync::mpsc::Receiver<LinkResult>> {
    let host = webapp
        .env
        .get("WACORE_HOSTNAME")
        .cloned()
        .filter(|h| !h.is_empty())?;
    let vantage = webapp.vantage()?;
    let resolver = Resolver::new(&vantage, timeout);
    Some(netns::spawn_in(&vantage, move || {
        let res = resolver.resolve(&host);
        let handles: Vec<_> = COREAPP_PORTS
            .iter()
            .map(|&port| {
                let addrs = res.addresses.clone();
                std::thread::spawn(move || {
                    let (r, took) = connect_first(&addrs, port, timeout);
                    match r {
                        Ok(_) => LinkPort {
                            port,
                            open: true,
                            connect_us: Some(micros(took)),
                            error: None,
                        },
                        Err(e) => LinkPort {
                            port,
                            open: false,
                            connect_us: None,
                            error: Some(e),
                        },
                    }
                })
            })
            .collect();
        let ports: Vec<LinkPort> = handles
            .into_iter()
            .zip(COREAPP_PORTS)
            .map(|(h, port)| {
                h.join().unwrap_or(LinkPort {
                    port,
                    open: false,
                    connect_us: None,
                    error: Some("connect thread crashed".into()),
                })
            })
            .collect();
        (res, ports)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn proxy_from_env() {
        let env: HashMap<&str, &str> = [
            ("https_proxy", "http://user:p%40ss@proxy.corp:3128"),
            ("NO_PROXY", "localhost,.internal.example"),
        ]
        .into();
        let p = Proxy::from_env(|k| env.get(k).map(|s| s.to_string()))
            .unwrap()
            .unwrap();
        assert_eq!(p.shown, "http://proxy.corp:3128");
        assert_eq!(p.port, 3128);
        assert_eq!(p.auth.as_deref(), Some("Basic dXNlcjpwQHNz"));
        assert!(p.applies_to("g.whatsapp.net"));
        assert!(!p.applies_to("api.internal.example"));
        assert!(!p.applies_to("localhost"));
        let none = Proxy::from_env(|_| None).unwrap();
        assert!(none.is_none());
        let bare = Proxy::from_env(|k| (k == "HTTPS_PROXY").then(|| "10.0.0.1:8080".into()))
            .unwrap()
            .unwrap();
        assert_eq!(bare.shown, "http://10.0.0.1:8080");
    }

    #[test]
    fn links_load_as_a_list_or_as_the_old_single_object() {
        let one = r#"{"whatsapp": {"unavailable": "x"}, "coreapp_links": {"webapp": "web", "hostname": "wacore", "resolution": null, "ports": [], "closed": [6250]}}"#;
        let f: NetworkFacts = serde_json::from_str(one).unwrap();
        let Fact::Available(links) = &f.coreapp_links else {
            panic!("{f:?}")
        };
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].webapp.as_deref(), Some("web"));
        assert_eq!(links[0].error, None);
        // Written back as a list, which loads again.
        let text = serde_json::to_string(&f).unwrap();
        assert!(
            text.contains(r#""coreapp_links":[{"webapp":"web""#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<NetworkFacts>(&text).unwrap(), f);
        let gone =
            r#"{"whatsapp": {"unavailable": "x"}, "coreapp_links": {"unavailable": "overran"}}"#;
        let f: NetworkFacts = serde_json::from_str(gone).unwrap();
        assert_eq!(f.coreapp_links, Fact::Unavailable("overran".into()));
        let typo = r#"{"whatsapp": {"unavailable": "x"}, "coreapp_links": [{"webap": "web"}]}"#;
        assert!(serde_json::from_str::<NetworkFacts>(typo).is_err());
    }

    #[test]
    fn no_running_webapp_is_one_entry_without_a_name() {
        let stopped = Peer {
            name: "web".into(),
            pid: None,
            env: [("WACORE_HOSTNAME".to_string(), "wacore".to_string())].into(),
        };
        let found = links(&[stopped], Duration::from_millis(200));
        assert_eq!(found, vec![LinkFacts::no_webapp()]);
        assert_eq!(links(&[], Duration::from_millis(200)).len(), 1);
    }

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
