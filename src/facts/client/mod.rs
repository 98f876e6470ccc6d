//! The running client, through its own API: `/v1/health`, `/v1/support`, the webhook setting.
//!
//! The webapp's base URL comes from `--api-url`, the config, or the webapp container's
//! published port 443. The client ships a self-signed certificate: it is accepted only when
//! the operator says so (`--api-insecure` / `insecure_tls: true`) or verified, and the facts
//! say which.
//!
//! Verification (the API and the webhook probe alike) trusts the host's system trust store,
//! as curl and the distribution's tools on the host do — an internal CA installed the
//! distribution's way (`update-ca-certificates`, `update-ca-trust`) or a TLS-inspecting
//! proxy's CA is trusted — plus the configured CA file. The store is read when each run
//! builds its HTTP client (rustls-native-certs through reqwest): the distribution's bundle
//! (`/etc/ssl/certs/ca-certificates.crt`, `/etc/pki/tls/certs/ca-bundle.crt`, … as
//! openssl-probe finds them), or only `SSL_CERT_FILE` / `SSL_CERT_DIR` when either is set.
//! No roots are compiled in. The token (from a file, or a login with the admin user) lives in
//! memory only. Every request is bounded; a slow or garbled answer becomes a reason.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::Fact;
use super::clock::ClockPeer;
use super::docker::containers::{ContainerFacts, Role};
use super::netns::{self, Vantage};
use super::network::{self, Peer};
use crate::secret::Secret;

/// What the operator told us about the API.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// Base URL of the webapp (`https://10.0.0.5:9090`).
    #[serde(default, deserialize_with = "crate::value::url::http_url")]
    pub url: Option<String>,
    /// Accept the client's self-signed certificate without verification.
    #[serde(default)]
    pub insecure_tls: bool,
    /// Verify the webapp's certificate against this CA (PEM).
    pub ca_file: Option<PathBuf>,
    /// A file holding an API token.
    pub token_file: Option<PathBuf>,
    /// Admin user to log in with (`POST /v1/users/login`) when no token file is given.
    pub username: Option<String>,
    /// File holding that user's password.
    pub password_file: Option<PathBuf>,
    /// CA (PEM) the webhook's certificate is verified against by `--webhook-probe`, besides
    /// the system trust store (an internal CA the coreapp also trusts).
    pub webhook_ca_file: Option<PathBuf>,
    /// Coreapp nodes expected `connected` (multiconnect shards; default 1).
    #[serde(default, deserialize_with = "crate::bounds::de::expected_connected")]
    pub expected_connected: Option<u64>,
    /// Seconds each API request may take (default 5).
    #[serde(default, deserialize_with = "crate::bounds::de::timeout")]
    pub timeout_seconds: Option<f64>,
}

/// Options for the client gatherer.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub config: ClientConfig,
    /// Where `url` came from, when set by a flag.
    pub url_flag: Option<String>,
    pub token_file_flag: Option<PathBuf>,
    pub insecure_flag: bool,
    pub ca_file_flag: Option<PathBuf>,
    pub show_phone: bool,
    pub webhook_probe: bool,
    pub timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            config: ClientConfig::default(),
            url_flag: None,
            token_file_flag: None,
            insecure_flag: false,
            ca_file_flag: None,
            show_phone: false,
            webhook_probe: false,
            timeout: Duration::from_secs(5),
        }
    }
}

/// How the API was reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiFacts {
    /// Null when no URL was given or found: nothing to judge (before installation).
    pub url: Option<String>,
    /// `--api-url`, `config client.url`, `webapp container NAME publishes 443 on …`.
    pub source: Option<String>,
    /// `verified against the system trust store`, `verified against CA file P and the system
    /// trust store`, `not verified (insecure_tls…)`, `plain http (no TLS)`.
    pub tls: Option<String>,
    /// `token file P`, `login as USER`, `none`.
    pub auth: Option<String>,
    /// How to point preflight at the API, for the skip message.
    pub how_to_configure: String,
    /// The API refused us (401) and no token or admin login was given: nothing to judge yet.
    pub auth_missing: bool,
    /// The first authenticated request's outcome.
    pub reach: Fact<ApiReach>,
}

/// A successful API round trip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiReach {
    pub status: u16,
    pub elapsed_us: u64,
    /// `meta.version` of the answer (`v2.51.2`).
    pub version: Option<String>,
}

/// One node of `/v1/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthNode {
    /// `host:container` in HA/multiconnect; null for a single instance.
    pub name: Option<String>,
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
    pub nodes: Vec<HealthNode>,
    /// `connected: 1, disconnected: 2`, for messages.
    pub summary: String,
    /// Nodes that carry traffic (single instance, or role `coreapp`) that are connected or
    /// connecting.
    pub ok_count: u64,
    pub expected_ok: u64,
    /// `expected_ok - ok_count`, never negative.
    pub missing_ok: u64,
    pub unregistered: Vec<String>,
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

/// `/v1/support`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SupportFacts {
    pub db_engine: Option<String>,
    /// `UP`, `DN`, `SC`, `UP receiving offline`, `UNK`.
    pub socket_conn: Option<String>,
    pub free_space_data_bytes: Option<u64>,
    pub free_space_logs_bytes: Option<u64>,
    pub free_space_media_incoming_bytes: Option<u64>,
    pub free_space_media_outgoing_bytes: Option<u64>,
    /// The smallest of the free_space values, and which one it is.
    pub min_free_space_bytes: Option<u64>,
    pub min_free_space_of: Option<String>,
    pub multi_connect: Option<String>,
    pub os_name: Option<String>,
    pub os_version: Option<String>,
    /// The registered phone number: only with `--show-phone`.
    pub debug_info: Option<String>,
    pub debug_info_hidden: bool,
}

/// The webhook's outcome of `--webhook-probe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookProbe {
    /// `container NAME` or `host`.
    pub from: String,
    pub status: u16,
    pub connect_us: Option<u64>,
    pub total_us: u64,
}

/// The configured webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookFacts {
    pub configured: bool,
    /// Scheme, host, port and path; credentials and query never shown.
    pub url: Option<String>,
    pub scheme: Option<String>,
    /// Null unless `--webhook-probe`.
    pub probe: Option<Fact<WebhookProbe>>,
}

/// Everything learnt from the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientFacts {
    pub api: ApiFacts,
    pub health: Fact<HealthFacts>,
    pub support: Fact<SupportFacts>,
    pub webhook: Fact<WebhookFacts>,
}

const HOW_TO: &str = "no client API: no webapp publishes 443 and no --api-url given";

/// The base URL and where it came from.
fn base_url(opts: &ClientOptions, containers: &[ContainerFacts]) -> Option<(String, String)> {
    if let Some(u) = &opts.url_flag {
        return Some((u.trim_end_matches('/').to_string(), "--api-url".into()));
    }
    if let Some(u) = &opts.config.url {
        return Some((
            u.trim_end_matches('/').to_string(),
            "config client.url".into(),
        ));
    }
    let webapp = containers
        .iter()
        .filter(|c| c.role == Role::Webapp)
        .max_by_key(|c| c.running)?;
    let port = webapp
        .ports
        .iter()
        .find(|p| p.container_port == 443 && p.protocol == "tcp" && p.host_port.is_some())?;
    let host_port = port.host_port.clone()?;
    let host = match port.host_ip.as_deref() {
        None | Some("") | Some("0.0.0.0") => "127.0.0.1".to_string(),
        Some("::") => "[::1]".to_string(),
        Some(ip) if ip.contains(':') => format!("[{ip}]"),
        Some(ip) => ip.to_string(),
    };
    Some((
        format!("https://{host}:{host_port}"),
        format!(
            "webapp container {} publishes 443 on {host}:{host_port}",
            webapp.name
        ),
    ))
}

/// The API's answer to one request.
struct Answer {
    status: u16,
    body: Value,
    date: Option<OffsetDateTime>,
    sent: OffsetDateTime,
    elapsed: Duration,
}

/// A WhatsApp API error in a body: `1011 Service not ready`.
fn api_error(body: &Value) -> Option<(i64, String)> {
    let e = body.get("errors")?.as_array()?.first()?;
    let code = e.get("code").and_then(Value::as_i64).unwrap_or(0);
    let title = e
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or("error")
        .to_string();
    Some((code, title))
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<Secret>,
}

impl Api {
    async fn get(&self, path: &str) -> Result<Answer, String> {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t.expose());
        }
        send(req, &format!("GET {path}")).await
    }
}

async fn send(req: reqwest::RequestBuilder, what: &str) -> Result<Answer, String> {
    let sent = OffsetDateTime::now_utc();
    let started = Instant::now();
    let resp = req.send().await.map_err(|e| describe_error(what, &e))?;
    let status = resp.status().as_u16();
    let date = resp
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| {
            OffsetDateTime::parse(s, &time::format_description::well_known::Rfc2822).ok()
        });
    let bytes = resp.bytes().await.map_err(|e| describe_error(what, &e))?;
    let elapsed = started.elapsed();
    let body: Value = serde_json::from_slice(&bytes).map_err(|e| {
        let shown: String = String::from_utf8_lossy(&bytes[..bytes.len().min(60)])
            .chars()
            .map(|c| if c.is_control() { '.' } else { c })
            .collect();
        format!("{what}: HTTP {status} with a body that is not JSON ({e}): {shown:?}")
    })?;
    Ok(Answer {
        status,
        body,
        date,
        sent,
        elapsed,
    })
}

/// reqwest's error chain, in one line, naming the usual causes.
fn describe_error(what: &str, e: &reqwest::Error) -> String {
    let mut chain = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        src = s.source();
    }
    let hint = if e.is_timeout() {
        " (timed out)"
    } else if (chain.contains("certificate") || chain.contains("UnknownIssuer"))
        && what.contains("webhook")
    {
        " (TLS: the webhook's certificate is not trusted by the system trust store or webhook_ca_file: install its CA into the store (update-ca-certificates, update-ca-trust) or give webhook_ca_file)"
    } else if chain.contains("certificate") || chain.contains("UnknownIssuer") {
        " (TLS: the certificate is not trusted by the system trust store or the CA file: install its CA into the store (update-ca-certificates, update-ca-trust) or give ca_file, or accept the client's self-signed certificate with --api-insecure / insecure_tls: true)"
    } else if e.is_connect() {
        " (cannot connect)"
    } else {
        ""
    };
    format!("{what}: {chain}{hint}")
}

/// Judges the body of an error answer in words.
fn refused(what: &str, a: &Answer) -> String {
    match (a.status, api_error(&a.body)) {
        (401, e) => format!(
            "{what}: HTTP 401: the token or credentials were refused{}",
            e.map(|(c, t)| format!(" ({c} {t})")).unwrap_or_default()
        ),
        (s, Some((c, t))) => format!("{what}: HTTP {s}: error {c} {t}"),
        (s, None) => format!("{what}: HTTP {s}"),
    }
}

fn build_http(opts: &ClientOptions, url: &str) -> Result<(reqwest::Client, String), String> {
    let insecure = opts.insecure_flag || opts.config.insecure_tls;
    let ca = opts
        .ca_file_flag
        .clone()
        .or_else(|| opts.config.ca_file.clone());
    let mut b = reqwest::Client::builder()
        .timeout(opts.timeout)
        .connect_timeout(opts.timeout)
        .no_proxy()
        .user_agent(concat!("wa-preflight/", env!("CARGO_PKG_VERSION")));
    let tls = if url.starts_with("http://") {
        "plain http (no TLS)".to_string()
    } else if insecure {
        b = b.danger_accept_invalid_certs(true);
        "not verified (insecure_tls: the certificate is accepted as is)".to_string()
    } else if let Some(path) = ca {
        let pem = crate::input::read_bytes(&path, "CA file", crate::input::TEXT_LIMIT)
            .map_err(|e| e.to_string())?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| format!("CA file {} is not a PEM certificate: {e}", path.display()))?;
        b = b.add_root_certificate(cert);
        format!(
            "verified against CA file {} and the system trust store",
            path.display()
        )
    } else {
        "verified against the system trust store".to_string()
    };
    let http = b
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
    Ok((http, tls))
}

/// Logs in with the admin user: `POST /v1/users/login` with HTTP basic auth.
async fn login(
    http: &reqwest::Client,
    base: &str,
    user: &str,
    pass: &Secret,
) -> Result<Secret, String> {
    let req = http
        .post(format!("{base}/v1/users/login"))
        .basic_auth(user, Some(pass.expose()))
        .json(&serde_json::json!({}));
    let a = send(req, "POST /v1/users/login").await?;
    if a.status != 200 {
        return Err(refused("POST /v1/users/login", &a));
    }
    a.body
        .pointer("/users/0/token")
        .and_then(Value::as_str)
        .map(Secret::new)
        .ok_or_else(|| "POST /v1/users/login: the answer holds no users[0].token".to_string())
}

/// The client's API is a group of its own (`client`), read at least every minute (its health
/// changes fastest) and carried over between, with the webapp's clock offset the API gave.
pub const GROUP: super::group::Declared = super::group::Declared {
    name: "client",
    default_interval: |base| base.min(60),
    carry_over: |new, prev| {
        new.client = prev.client.clone();
        // The webapp's clock is compared through the API.
        if let (Some(Fact::Available(c)), Some(Fact::Available(p))) =
            (&mut new.host.clock, &prev.host.clock)
        {
            for peer in p.peers.clone() {
                c.add_peer(peer);
            }
        }
    },
};

/// What the client gatherer gives back besides its facts.
pub struct ClientOutcome {
    pub facts: ClientFacts,
    /// The webapp's clock compared with ours, from a `Date` header.
    pub clock_peer: Option<ClockPeer>,
}

fn not_asked(why: &str) -> Fact<HealthFacts> {
    Fact::Unavailable(why.to_string())
}

/// Asks the API. `containers` are the WhatsApp containers found (for the URL and readiness),
/// `coreapp` the running coreapp (vantage point of the webhook probe).
pub async fn gather(
    opts: &ClientOptions,
    containers: &[ContainerFacts],
    coreapp: Option<&Peer>,
    now: OffsetDateTime,
) -> ClientOutcome {
    let Some((url, source)) = base_url(opts, containers) else {
        let why = "no client API configured or found";
        return ClientOutcome {
            facts: ClientFacts {
                api: ApiFacts {
                    url: None,
                    source: None,
                    tls: None,
                    auth: None,
                    how_to_configure: HOW_TO.to_string(),
                    auth_missing: false,
                    reach: Fact::Unavailable(why.into()),
                },
                health: not_asked(why),
                support: Fact::Unavailable(why.into()),
                webhook: Fact::Unavailable(why.into()),
            },
            clock_peer: None,
        };
    };
    let mut api = ApiFacts {
        url: Some(url.clone()),
        source: Some(source),
        tls: None,
        auth: None,
        how_to_configure: HOW_TO.to_string(),
        auth_missing: false,
        reach: Fact::Unavailable("not asked".into()),
    };
    let fail = |api: ApiFacts, why: String| ClientOutcome {
        facts: ClientFacts {
            api: ApiFacts {
                reach: Fact::Unavailable(why.clone()),
                ..api
            },
            health: not_asked("the API could not be reached"),
            support: Fact::Unavailable("the API could not be reached".into()),
            webhook: Fact::Unavailable("the API could not be reached".into()),
        },
        clock_peer: None,
    };
    let (http, tls) = match build_http(opts, &url) {
        Ok(v) => v,
        Err(e) => return fail(api, e),
    };
    api.tls = Some(tls);
    let token_file = opts
        .token_file_flag
        .clone()
        .or_else(|| opts.config.token_file.clone());
    let token = if let Some(path) = token_file {
        api.auth = Some(format!("token file {}", path.display()));
        match Secret::from_token_file(&path, "token file") {
            Ok(t) => Some(t),
            Err(e) => return fail(api, e),
        }
    } else if let (Some(user), Some(pw)) = (&opts.config.username, &opts.config.password_file) {
        api.auth = Some(format!("login as {user}"));
        let pass = match Secret::from_token_file(pw, "password file") {
            Ok(p) => p,
            Err(e) => return fail(api, e),
        };
        match login(&http, &url, user, &pass).await {
            Ok(t) => Some(t),
            Err(e) => return fail(api, e),
        }
    } else {
        api.auth = Some("none (no token file or admin credentials given)".into());
        None
    };
    let client = Api {
        http,
        base: url.clone(),
        token,
    };
    let (health, support, settings) = tokio::join!(
        client.get("/v1/health"),
        client.get("/v1/support"),
        client.get("/v1/settings/application"),
    );
    let health = match health {
        Ok(a) => a,
        Err(e) => return fail(api, e),
    };
    // 1011 means the API answered: the client is starting, which health judges.
    let not_ready = api_error(&health.body).is_some_and(|(c, _)| c == 1011);
    if !(200..300).contains(&health.status) && !not_ready {
        let why = refused("GET /v1/health", &health);
        api.auth_missing = health.status == 401 && client.token.is_none();
        return fail(api, why);
    }
    api.reach = Fact::Available(ApiReach {
        status: health.status,
        elapsed_us: u64::try_from(health.elapsed.as_micros()).unwrap_or(u64::MAX),
        version: health
            .body
            .pointer("/meta/version")
            .and_then(Value::as_str)
            .map(str::to_string),
    });
    let clock_peer = health.date.map(|date| {
        let midpoint = health.sent + health.elapsed / 2;
        ClockPeer {
            name: format!("webapp API {url}"),
            offset_ms: i64::try_from((date - midpoint).whole_milliseconds()).unwrap_or(i64::MAX),
            resolution_ms: 1000,
        }
    });
    let uptime = coreapp_uptime(containers, now);
    let expected = opts.config.expected_connected.unwrap_or(1);
    let health_facts = parse_health(&health.body, expected, uptime).into();
    let support_facts = match support {
        Ok(a) if (200..300).contains(&a.status) => parse_support(&a.body, opts.show_phone).into(),
        Ok(a) => Fact::Unavailable(refused("GET /v1/support", &a)),
        Err(e) => Fact::Unavailable(e),
    };
    let webhook = match settings {
        Ok(a) if (200..300).contains(&a.status) => {
            let mut w = parse_webhook(&a.body);
            if opts.webhook_probe
                && let Some(raw) = webhook_raw_url(&a.body)
            {
                w.probe = Some(
                    probe_webhook(
                        &raw,
                        coreapp,
                        opts.config.webhook_ca_file.clone(),
                        opts.timeout,
                    )
                    .await,
                );
            }
            Fact::Available(w)
        }
        Ok(a) => Fact::Unavailable(refused("GET /v1/settings/application", &a)),
        Err(e) => Fact::Unavailable(e),
    };
    ClientOutcome {
        facts: ClientFacts {
            api,
            health: health_facts,
            support: support_facts,
            webhook,
        },
        clock_peer,
    }
}

/// Seconds since the running coreapp started.
fn coreapp_uptime(containers: &[ContainerFacts], now: OffsetDateTime) -> Option<i64> {
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

/// Normalises both `/v1/health` shapes (and an error 1011 answer).
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

fn str_field(v: &Value, key: &str) -> Result<String, String> {
    match v.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!("`{key}` is not a string: {other}")),
        None => Err(format!("`{key}` is missing")),
    }
}

/// A size the API gives as bytes (number) or text (`"12.5 GB"`).
fn size(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)),
        Value::String(s) => crate::value::quantity::parse_size(s.trim()).ok(),
        _ => None,
    }
}

/// Reads `/v1/support` (the fields may sit under `support`).
pub fn parse_support(body: &Value, show_phone: bool) -> Result<SupportFacts, String> {
    let s = body.get("support").unwrap_or(body);
    if !s.is_object() {
        return Err("the answer is not a JSON object".into());
    }
    let text = |k: &str| match s.get(k) {
        Some(Value::String(v)) => Some(v.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    };
    let spaces = [
        ("free_space_data", size(s.get("free_space_data"))),
        ("free_space_logs", size(s.get("free_space_logs"))),
        (
            "free_space_media_incoming",
            size(s.get("free_space_media_incoming")),
        ),
        (
            "free_space_media_outgoing",
            size(s.get("free_space_media_outgoing")),
        ),
    ];
    let min = spaces.iter().filter_map(|(n, v)| v.map(|v| (v, *n))).min();
    let debug = text("debug_info");
    Ok(SupportFacts {
        db_engine: text("db_engine"),
        socket_conn: text("socket_conn"),
        free_space_data_bytes: spaces[0].1,
        free_space_logs_bytes: spaces[1].1,
        free_space_media_incoming_bytes: spaces[2].1,
        free_space_media_outgoing_bytes: spaces[3].1,
        min_free_space_bytes: min.map(|m| m.0),
        min_free_space_of: min.map(|m| m.1.to_string()),
        multi_connect: text("multi_connect"),
        os_name: text("os_name"),
        os_version: text("os_version"),
        debug_info_hidden: debug.is_some() && !show_phone,
        debug_info: debug.filter(|_| show_phone),
    })
}

fn webhook_raw_url(body: &Value) -> Option<String> {
    let app = body.pointer("/settings/application").unwrap_or(body);
    app.pointer("/webhooks/url")
        .or_else(|| app.get("webhook_url"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The webhook URL without credentials or query (which often hold tokens).
fn shown_url(raw: &str) -> (Option<String>, Option<String>) {
    match url::Url::parse(raw) {
        Ok(u) => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            let query = if u.query().is_some() { "?…" } else { "" };
            (
                Some(format!(
                    "{}://{}{port}{}{query}",
                    u.scheme(),
                    u.host_str().unwrap_or(""),
                    u.path()
                )),
                Some(u.scheme().to_string()),
            )
        }
        Err(_) => (Some("(not a valid URL)".into()), None),
    }
}

/// Reads the webhook setting of `/v1/settings/application`.
pub fn parse_webhook(body: &Value) -> WebhookFacts {
    match webhook_raw_url(body) {
        Some(raw) => {
            let (url, scheme) = shown_url(&raw);
            WebhookFacts {
                configured: true,
                url,
                scheme,
                probe: None,
            }
        }
        None => WebhookFacts {
            configured: false,
            url: None,
            scheme: None,
            probe: None,
        },
    }
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
async fn probe_webhook(
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

    #[test]
    fn support_sizes_and_phone() {
        let s = parse_support(
            &json!({"support": {"db_engine": "MYSQL", "socket_conn": "UP", "debug_info": "+1 555 0100",
                "free_space_data": 52_000_000_000u64, "free_space_logs": "3 GB",
                "free_space_media_incoming": 9e10, "multi_connect": 0}}),
            false,
        )
        .unwrap();
        assert_eq!(s.min_free_space_bytes, Some(3_000_000_000));
        assert_eq!(s.min_free_space_of.as_deref(), Some("free_space_logs"));
        assert_eq!(s.debug_info, None);
        assert!(s.debug_info_hidden);
        assert_eq!(s.multi_connect.as_deref(), Some("0"));
        let shown = parse_support(&json!({"debug_info": "+1 555 0100"}), true).unwrap();
        assert_eq!(shown.debug_info.as_deref(), Some("+1 555 0100"));
    }

    #[test]
    fn webhook_url_is_shown_without_secrets() {
        let w = parse_webhook(
            &json!({"settings": {"application": {"webhooks": {"url": "https://u:p@hooks.example.com:8443/wa?token=abc"}}}}),
        );
        assert_eq!(
            w.url.as_deref(),
            Some("https://hooks.example.com:8443/wa?…")
        );
        assert_eq!(w.scheme.as_deref(), Some("https"));
        assert!(
            !parse_webhook(&json!({"settings": {"application": {"webhooks": {"url": ""}}}}))
                .configured
        );
    }
}
