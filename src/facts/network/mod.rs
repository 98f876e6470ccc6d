//! Network reach: WhatsApp's hosts from where the coreapp runs, and the webapp → coreapp links.
//!
//! Every step is bounded (name resolution and each connect get `timeout`, 3 s by default) and
//! every target runs on its own thread, so a black-holed address costs one timeout, not one per
//! target. Checks run inside the coreapp's network namespace when a coreapp runs
//! ([`Vantage`](crate::facts::netns::Vantage)), with the container's own hosts file and name
//! servers; from the host otherwise. Port 443 goes through `HTTPS_PROXY` when the client would
//! use one (the coreapp's environment, or the host's): a direct-connect check behind a proxy
//! reports a false failure (WADebug #5).
//!
//! The pieces, one file each: `peer` (where checks look from), `dns` (name resolution as the
//! vantage sees it), `connect` (bounded TCP connects), `proxy` (`HTTPS_PROXY` and `CONNECT`),
//! `reach` (WhatsApp's hosts) and `links` (webapp → coreapp). This file holds the rules'
//! `network:` section, the options, the facts document's `network` section and the group.

mod connect;
mod dns;
mod links;
mod peer;
mod proxy;
mod reach;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use connect::connect_first;
pub use dns::{Resolution, resolve_from};
pub use links::{COREAPP_PORTS, LinkFacts, LinkPort, links};
pub use peer::{Peer, coreapp_vantage, env_at};
pub use reach::{Connect, ReachFacts, reach};

use super::Fact;

/// One WhatsApp endpoint to try, as listed in the rules YAML (`network.whatsapp`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Host name (or address) to resolve and connect to.
    pub host: String,
    /// TCP ports to try; 443 goes through the proxy when one applies.
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

/// 3 s: the default bound of each step.
fn default_timeout_ms() -> u64 {
    3000
}

/// What to check and from where.
#[derive(Debug, Clone)]
pub struct NetworkOptions {
    /// WhatsApp's endpoints (the rules' `network.whatsapp`).
    pub targets: Vec<Target>,
    /// Bound of each step (resolve, connect); 3 s by default.
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

/// The network facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkFacts {
    /// Reach of WhatsApp's hosts.
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

/// Reach and the coreapp links are a group of their own (`network`), read every base interval
/// and carried over between.
pub const GROUP: super::group::Declared = super::group::Declared {
    name: "network",
    default_interval: |base| base,
    carry_over: |new, prev| new.network = prev.network.clone(),
};

#[cfg(test)]
mod tests {
    use super::*;

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
}
