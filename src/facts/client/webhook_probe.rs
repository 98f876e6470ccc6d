//! `--webhook-probe`: a clearly marked test payload POSTed to the configured webhook from where
//! the coreapp would send it (its network namespace, its name servers, its `HTTPS_PROXY`), or
//! from the host when no coreapp runs.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::http::describe_error;
use crate::facts::Fact;
use crate::facts::netns::{self, Vantage};
use crate::facts::network::{self, Peer};

/// The webhook's outcome of `--webhook-probe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookProbe {
    /// `container NAME` or `host`.
    pub from: String,
    /// The webhook's HTTP status.
    pub status: u16,
    /// Time to an open TCP connection, microseconds.
    pub connect_us: Option<u64>,
    /// Time of the whole POST to its answer, microseconds.
    pub total_us: u64,
}

/// The clearly marked test payload of `--webhook-probe`.
fn test_payload() -> Value {
    serde_json::json!({
        "wa_preflight_test": true,
        "note": "Connectivity test sent by wa-preflight --webhook-probe. Not a WhatsApp event: ignore it.",
        "sent_at": OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
    })
}

/// POSTs the test payload from the coreapp's network namespace (or the host), on a thread of
/// its own there, bounded by `timeout` for connecting and again for the answer.
/// Bound overall: about `4 × timeout`; whatever goes wrong (no name, no connection, TLS,
/// no answer) becomes the unavailable reason, prefixed with where it was sent from.
pub(super) async fn probe_webhook(
    raw: &str,
    coreapp: Option<&Peer>,
    ca_file: Option<PathBuf>,
    timeout: Duration,
) -> Fact<WebhookProbe> {
    let vantage = coreapp.and_then(Peer::vantage).unwrap_or(Vantage::Host);
    let env: HashMap<String, String> = network::env_at(&vantage, coreapp);
    let raw = raw.to_string();
    let from = vantage.describe();
    let v2 = vantage.clone();
    let rx = netns::spawn_in(&vantage, move || -> Result<WebhookProbe, String> {
        let url =
            url::Url::parse(&raw).map_err(|e| format!("the webhook URL is not valid: {e}"))?;
        let host = url
            .host_str()
            .ok_or("the webhook URL has no host")?
            .to_string();
        let port = url.port_or_known_default().unwrap_or(443);
        let res = network::resolve_from(&v2, &host, timeout);
        if !res.resolved {
            return Err(format!(
                "{host} does not resolve from {}: {}",
                v2.describe(),
                res.error.unwrap_or_default()
            ));
        }
        let (conn, took) = network::connect_first(&res.addresses, port, timeout);
        let (_, answered) = conn.map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        let connect_us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let mut b = reqwest::Client::builder()
            .timeout(timeout * 2)
            .connect_timeout(timeout)
            .user_agent(concat!(
                "wa-preflight/",
                env!("CARGO_PKG_VERSION"),
                " webhook-probe"
            ));
        if let Some(path) = &ca_file {
            let pem = crate::input::read_bytes(path, "webhook_ca_file", crate::input::TEXT_LIMIT)
                .map_err(|e| e.to_string())?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                format!(
                    "webhook_ca_file {} is not a PEM certificate: {e}",
                    path.display()
                )
            })?;
            b = b.add_root_certificate(cert);
        }
        let proxy = env
            .get("HTTPS_PROXY")
            .or_else(|| env.get("https_proxy"))
            .filter(|_| url.scheme() == "https");
        match proxy {
            Some(p) => {
                let mut px = reqwest::Proxy::https(p).map_err(|e| format!("HTTPS_PROXY: {e}"))?;
                let np = env.get("NO_PROXY").or_else(|| env.get("no_proxy"));
                px = px.no_proxy(np.and_then(|n| reqwest::NoProxy::from_string(n)));
                b = b.proxy(px);
            }
            None => {
                // Every address the vantage resolved, the one that just answered first: a
                // name with an address this namespace cannot use (`::1` where IPv6 is off)
                // must not decide the delivery. (`resolve` keeps only its last address.)
                b = b.no_proxy();
                let addrs: Vec<std::net::SocketAddr> = std::iter::once(&answered)
                    .chain(res.addresses.iter().filter(|a| **a != answered))
                    .filter_map(|a| a.parse().ok())
                    .map(|a| std::net::SocketAddr::new(a, port))
                    .collect();
                b = b.resolve_to_addrs(&host, &addrs);
            }
        }
        let client = b.build().map_err(|e| format!("cannot set up HTTP: {e}"))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime: {e}"))?;
        rt.block_on(async {
            let started = Instant::now();
            let resp = client
                .post(url.clone())
                .header("X-WA-Preflight-Test", "1")
                .json(&test_payload())
                .send()
                .await
                .map_err(|e| describe_error("POST webhook", &e))?;
            let status = resp.status().as_u16();
            let _ = resp.bytes().await;
            Ok(WebhookProbe {
                from: String::new(),
                status,
                connect_us: Some(connect_us),
                total_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            })
        })
    });
    let wait = timeout * 4 + Duration::from_millis(500);
    let got = tokio::task::spawn_blocking(move || rx.recv_timeout(wait)).await;
    match got {
        Ok(Ok(Ok(Ok(mut p)))) => {
            p.from = from;
            Fact::Available(p)
        }
        Ok(Ok(Ok(Err(e)))) | Ok(Ok(Err(e))) => Fact::Unavailable(format!("from {from}: {e}")),
        _ => Fact::Unavailable(format!(
            "from {from}: the webhook did not answer within {} ms",
            wait.as_millis()
        )),
    }
}
