//! The webapp → coreapp links: from every running webapp's namespace, does its
//! `WACORE_HOSTNAME` resolve and do the coreapp ports accept?

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::connect::{connect_first, micros};
use super::dns::{Resolution, Resolver};
use super::peer::Peer;
use crate::facts::netns;

/// One coreapp port seen from the webapp.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkPort {
    /// One of [`COREAPP_PORTS`].
    pub port: u16,
    /// It accepted a TCP connection.
    pub open: bool,
    /// Time to the open connection, microseconds.
    pub connect_us: Option<u64>,
    /// Why it did not accept.
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
    /// How that name resolved from the webapp.
    pub resolution: Option<Resolution>,
    /// Each coreapp port.
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

/// Coreapp ports the webapp uses: messaging, contacts, control, healthcheck.
pub const COREAPP_PORTS: [u16; 4] = [6250, 6251, 6252, 6253];

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
}
