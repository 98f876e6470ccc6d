//! The HTTP plumbing of the client gatherer: one bounded reqwest client per run, requests
//! read whole as JSON, errors put in one line with the usual cause named, and the admin login.

use std::time::{Duration, Instant};

use serde_json::Value;
use time::OffsetDateTime;

use super::ClientOptions;
use crate::secret::Secret;

/// The API's answer to one request.
pub(super) struct Answer {
    /// The HTTP status.
    pub(super) status: u16,
    /// The body, parsed as JSON.
    pub(super) body: Value,
    /// The `Date` header, for the webapp's clock.
    pub(super) date: Option<OffsetDateTime>,
    /// When the request was sent, our clock.
    pub(super) sent: OffsetDateTime,
    /// Time to the whole answer.
    pub(super) elapsed: Duration,
}

/// A WhatsApp API error in a body: `1011 Service not ready`.
pub(super) fn api_error(body: &Value) -> Option<(i64, String)> {
    let e = body.get("errors")?.as_array()?.first()?;
    let code = e.get("code").and_then(Value::as_i64).unwrap_or(0);
    let title = e
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or("error")
        .to_string();
    Some((code, title))
}

/// The API as one run talks to it: a client built by [`build_http`], the base URL, and the
/// token (bearer), if any.
pub(super) struct Api {
    pub(super) http: reqwest::Client,
    pub(super) base: String,
    pub(super) token: Option<Secret>,
}

impl Api {
    /// `GET base+path`, with the token when there is one.
    pub(super) async fn get(&self, path: &str) -> Result<Answer, String> {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t.expose());
        }
        send(req, &format!("GET {path}")).await
    }
}

/// Sends `req` (named `what` in errors) and reads the whole answer as JSON.
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
pub(super) fn describe_error(what: &str, e: &reqwest::Error) -> String {
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
pub(super) fn refused(what: &str, a: &Answer) -> String {
    match (a.status, api_error(&a.body)) {
        (401, e) => format!(
            "{what}: HTTP 401: the token or credentials were refused{}",
            e.map(|(c, t)| format!(" ({c} {t})")).unwrap_or_default()
        ),
        (s, Some((c, t))) => format!("{what}: HTTP {s}: error {c} {t}"),
        (s, None) => format!("{what}: HTTP {s}"),
    }
}

/// The HTTP client for the API (no proxy, `timeout` per request) and how its TLS is checked,
/// in words for the facts: plain http, not verified (`--api-insecure`), verified against the
/// CA file and the system trust store, or the store alone.
pub(super) fn build_http(
    opts: &ClientOptions,
    url: &str,
) -> Result<(reqwest::Client, String), String> {
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
pub(super) async fn login(
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
