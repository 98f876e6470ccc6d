//! Where checks look from: a running container ([`Peer`]) and its network namespace, or the
//! host, and the environment the proxy settings come from there.

use crate::facts::netns::{self, Vantage};

/// A running container to look from, with the environment its proxies come from.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The container's name.
    pub name: String,
    /// Its main process on the host, when it runs: the namespace to enter.
    pub pid: Option<i64>,
    /// Its environment (`Config.Env`), where `HTTPS_PROXY` and `WACORE_HOSTNAME` come from.
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
