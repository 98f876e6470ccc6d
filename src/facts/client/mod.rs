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
//!
//! The pieces, one file each: `config` (what the operator says, and the base URL), `http`
//! (requests, errors, the login), the three answers read into facts — `health`, `support`,
//! `webhook` — and `webhook_probe` (`--webhook-probe`). This file holds [`gather`], the facts
//! of the API itself and the group declaration.

mod config;
mod health;
mod http;
mod support;
mod webhook;
mod webhook_probe;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

pub use config::{ClientConfig, ClientOptions};
pub use health::{HealthFacts, HealthNode, parse_health};
pub use support::{SupportFacts, parse_support};
pub use webhook::{WebhookFacts, parse_webhook};
pub use webhook_probe::WebhookProbe;

use super::Fact;
use super::clock::ClockPeer;
use super::docker::containers::ContainerFacts;
use super::network::Peer;
use crate::secret::Secret;
use config::base_url;
use health::coreapp_uptime;
use http::{Api, api_error, build_http, login, refused};
use webhook::webhook_raw_url;
use webhook_probe::probe_webhook;

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
    /// The HTTP status of `GET /v1/health` (2xx, or the 1011 "not ready" answer's).
    pub status: u16,
    /// Its round trip, microseconds.
    pub elapsed_us: u64,
    /// `meta.version` of the answer (`v2.51.2`).
    pub version: Option<String>,
}

/// Everything learnt from the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientFacts {
    /// How the API was reached.
    pub api: ApiFacts,
    /// `/v1/health`.
    pub health: Fact<HealthFacts>,
    /// `/v1/support`.
    pub support: Fact<SupportFacts>,
    /// The webhook setting (and the probe's outcome, with `--webhook-probe`).
    pub webhook: Fact<WebhookFacts>,
}

/// How to point preflight at the API, for the skip message when none is found.
const HOW_TO: &str = "no client API: no webapp publishes 443 and no --api-url given";

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
    /// The facts of the API.
    pub facts: ClientFacts,
    /// The webapp's clock compared with ours, from a `Date` header.
    pub clock_peer: Option<ClockPeer>,
}

/// `/v1/health` was not asked, and why.
fn not_asked(why: &str) -> Fact<HealthFacts> {
    Fact::Unavailable(why.to_string())
}

/// Asks the API. `containers` are the WhatsApp containers found (for the URL and readiness),
/// `coreapp` the running coreapp (vantage point of the webhook probe). Never fails: what
/// cannot be learnt is an unavailable fact with the reason, and every request is bounded by
/// `opts.timeout`.
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
