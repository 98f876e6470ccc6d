//! Reach of WhatsApp's hosts: every target of the rules' `network.whatsapp` resolved and
//! connected to from the coreapp's namespace, port 443 through the proxy the client would use.

use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::NetworkOptions;
use super::connect::{connect_first, micros};
use super::dns::{Resolution, Resolver};
use super::peer::{Peer, coreapp_vantage, env_at};
use super::proxy::{Proxy, via_proxy};
use crate::facts::netns;

/// One connection attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Connect {
    /// The host connected to.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// `direct`, or `proxy http://proxy:3128` (credentials never shown).
    pub via: String,
    /// The connection was open (through a proxy: the proxy answered 2xx).
    pub connected: bool,
    /// The address that accepted (direct connections only).
    pub address: Option<String>,
    /// Time to an open connection (through a proxy: to its `200` answer to CONNECT).
    pub connect_us: Option<u64>,
    /// Why it did not connect.
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
    /// Each target's name resolution, in the rules' order.
    pub dns: Vec<Resolution>,
    /// Each target port's connection attempt.
    pub checks: Vec<Connect>,
    /// Names that did not resolve although a direct connection needs them.
    pub dns_failed: Vec<String>,
}

/// Checks every target concurrently from where the coreapp runs ([`coreapp_vantage`]), port
/// 443 through its `HTTPS_PROXY` unless `NO_PROXY` names the host; returns within about
/// `3 × timeout` whatever happens (a target that overruns is reported as not finished).
///
/// # Errors
///
/// `HTTPS_PROXY` is set but is not a URL or names no host, or the coreapp's namespace cannot
/// be entered for a target's check (the reason in words).
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

/// A direct connection to `host:port` at the addresses `res` found.
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
