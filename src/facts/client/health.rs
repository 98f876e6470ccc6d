//! `/v1/health`: the nodes' gateway status normalised so that rules need no arithmetic (how
//! many carry traffic, how many are missing, whether the client is still starting).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::http::api_error;
use crate::facts::docker::containers::{ContainerFacts, Role};

/// One node of `/v1/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthNode {
    /// `host:container` in HA/multiconnect; null for a single instance.
    pub name: Option<String>,
    /// `connected`, `connecting`, `disconnected`, `unregistered`, `uninitialized`, … as the
    /// API says it.
    pub gateway_status: String,
    /// `primary_master`, `secondary_master`, `coreapp`; null for a single instance.
    pub role: Option<String>,
}

/// `/v1/health`, normalised so that rules need no arithmetic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthFacts {
    /// `single` or `ha`.
    pub mode: String,
    /// Every node the answer lists (one for a single instance).
    pub nodes: Vec<HealthNode>,
    /// `connected: 1, disconnected: 2`, for messages.
    pub summary: String,
    /// Nodes that carry traffic (single instance, or role `coreapp`) that are connected or
    /// connecting.
    pub ok_count: u64,
    /// Nodes expected connected: 1 for a single instance, else `expected_connected` (config).
    pub expected_ok: u64,
    /// `expected_ok - ok_count`, never negative.
    pub missing_ok: u64,
    /// Nodes whose gateway status is `unregistered` (`coreapp` for a single instance).
    pub unregistered: Vec<String>,
    /// Nodes whose gateway status is `uninitialized`.
    pub uninitialized: Vec<String>,
    /// The API answered error 1011 "Service not ready".
    pub not_ready: bool,
    /// An error the API returned instead of a health document (`1011 Service not ready`).
    pub api_error: Option<String>,
    /// The client is starting: `not_ready` or a node `uninitialized`.
    pub starting: bool,
    /// Seconds since the running coreapp container started (null: no coreapp on this host).
    pub coreapp_uptime_s: Option<i64>,
}

/// Seconds since the running coreapp started (never negative); `None` when no coreapp runs or
/// its start time cannot be read.
pub(super) fn coreapp_uptime(containers: &[ContainerFacts], now: OffsetDateTime) -> Option<i64> {
    let c = containers
        .iter()
        .find(|c| c.role == Role::Coreapp && c.running)?;
    let started = OffsetDateTime::parse(
        c.started_at.as_deref()?,
        &time::format_description::well_known::Rfc3339,
    )
    .ok()?;
    Some((now - started).whole_seconds().max(0))
}

/// Normalises both `/v1/health` shapes (and an error 1011 answer): a single instance's
/// `{"health": {"gateway_status": …}}` and HA/multiconnect's `{"health": {NODE: {…}}}`.
/// `expected_ok` is the number of traffic-carrying nodes expected connected (HA only; a single
/// instance expects 1), `coreapp_uptime_s` is passed through.
///
/// # Errors
///
/// The answer has no `health` object and no API error, `health` is not an object, or a node's
/// `gateway_status` is missing or not a string; the message names the field.
pub fn parse_health(
    body: &Value,
    expected_ok: u64,
    coreapp_uptime_s: Option<i64>,
) -> Result<HealthFacts, String> {
    let err = api_error(body);
    let not_ready = err.as_ref().is_some_and(|(c, _)| *c == 1011);
    let mut nodes = Vec::new();
    let mut mode = "single";
    match body.get("health") {
        Some(h) if h.get("gateway_status").is_some() => nodes.push(HealthNode {
            name: None,
            gateway_status: str_field(h, "gateway_status")?,
            role: h.get("role").and_then(Value::as_str).map(str::to_string),
        }),
        Some(Value::Object(map)) => {
            mode = "ha";
            for (name, node) in map {
                nodes.push(HealthNode {
                    name: Some(name.clone()),
                    gateway_status: str_field(node, "gateway_status")
                        .map_err(|e| format!("health.{name}: {e}"))?,
                    role: node.get("role").and_then(Value::as_str).map(str::to_string),
                });
            }
        }
        Some(other) => return Err(format!("`health` is not an object: {other}")),
        None if err.is_some() => {}
        None => return Err("the answer has no `health` object".into()),
    }
    let label = |n: &HealthNode| n.name.clone().unwrap_or_else(|| "coreapp".into());
    // In HA, masters stay disconnected by design; only coreapp-role nodes carry traffic.
    let carries = |n: &HealthNode| mode == "single" || n.role.as_deref() == Some("coreapp");
    let ok_count = nodes
        .iter()
        .filter(|n| carries(n) && matches!(n.gateway_status.as_str(), "connected" | "connecting"))
        .count() as u64;
    let with = |s: &str| -> Vec<String> {
        nodes
            .iter()
            .filter(|n| n.gateway_status == s)
            .map(label)
            .collect()
    };
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for n in &nodes {
        *counts.entry(n.gateway_status.as_str()).or_default() += 1;
    }
    let mut summary = counts
        .iter()
        .map(|(s, n)| format!("{s}: {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    if let Some((c, t)) = &err {
        summary = if summary.is_empty() {
            format!("error {c} {t}")
        } else {
            format!("{summary}; error {c} {t}")
        };
    }
    let expected_ok = if nodes.is_empty() {
        expected_ok
    } else if mode == "single" {
        1
    } else {
        expected_ok
    };
    let uninitialized = with("uninitialized");
    Ok(HealthFacts {
        mode: mode.to_string(),
        summary,
        ok_count,
        expected_ok,
        missing_ok: expected_ok.saturating_sub(ok_count),
        unregistered: with("unregistered"),
        starting: not_ready || !uninitialized.is_empty(),
        uninitialized,
        not_ready,
        api_error: err.map(|(c, t)| format!("{c} {t}")),
        coreapp_uptime_s,
        nodes,
    })
}

/// The string at `key` of `v`, or why not (missing, not a string).
fn str_field(v: &Value, key: &str) -> Result<String, String> {
    match v.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!("`{key}` is not a string: {other}")),
        None => Err(format!("`{key}` is missing")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn single_health_shapes() {
        let h = parse_health(
            &json!({"health": {"gateway_status": "connected"}, "meta": {"api_status": "stable", "version": "v2.51.2"}}),
            1,
            Some(60),
        )
        .unwrap();
        assert_eq!(
            (h.mode.as_str(), h.ok_count, h.missing_ok),
            ("single", 1, 0)
        );
        let u = parse_health(
            &json!({"health": {"gateway_status": "unregistered"}}),
            1,
            None,
        )
        .unwrap();
        assert_eq!(u.unregistered, vec!["coreapp"]);
        assert_eq!(u.missing_ok, 1);
        let e = parse_health(
            &json!({"errors": [{"code": 1011, "title": "Service not ready", "details": "Coreapp not ready"}]}),
            1,
            Some(30),
        )
        .unwrap();
        assert!(e.not_ready && e.starting);
        assert_eq!(e.summary, "error 1011 Service not ready");
        assert!(parse_health(&json!({"meta": {}}), 1, None).is_err());
        assert!(parse_health(&json!({"health": {"gateway_status": 3}}), 1, None).is_err());
    }

    #[test]
    fn ha_health_counts_coreapp_nodes_only() {
        let body = json!({"health": {
            "wa-1:primary_master": {"gateway_status": "disconnected", "role": "primary_master"},
            "wa-2:secondary_master": {"gateway_status": "disconnected", "role": "secondary_master"},
            "wa-3:coreapp": {"gateway_status": "connected", "role": "coreapp"},
            "wa-4:coreapp": {"gateway_status": "disconnected", "role": "coreapp"}
        }});
        let one = parse_health(&body, 1, None).unwrap();
        assert_eq!(
            (one.mode.as_str(), one.ok_count, one.missing_ok),
            ("ha", 1, 0)
        );
        let two = parse_health(&body, 2, None).unwrap();
        assert_eq!(two.missing_ok, 1);
        assert_eq!(two.summary, "connected: 1, disconnected: 3");
    }
}
