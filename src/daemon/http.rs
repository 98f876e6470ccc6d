//! The daemon's HTTP endpoints. Every handler reads the latest published run: none of them
//! gathers or evaluates anything, so request bursts cost microseconds and never start runs.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use time::OffsetDateTime;

use super::Shared;
use crate::rules::Status;
use crate::value::time::parse_when;

/// The daemon's routes (`/`, `/healthz`, `/readyz`, `/metrics`, `/v1/report`, `/v1/history`),
/// every one but `/healthz` behind the bearer token when one is set.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(landing))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/report", get(report))
        .route("/v1/history", get(history))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), auth))
        .with_state(shared)
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

fn json_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Compares without an early exit, so the token cannot be guessed byte by byte from timing.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token of an `Authorization: Bearer <token>` value. The scheme is matched
/// case-insensitively and may be followed by more than one space (RFC 7235 §2.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// A bearer token, when configured, guards everything but /healthz (load balancers and
/// systemd-style probes must be able to ask it without a secret).
async fn auth(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    if req.uri().path() == "/healthz" {
        return next.run(req).await;
    }
    let want = shared.token.read().ok().and_then(|t| t.clone());
    if let Some(want) = want {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token);
        if !given.is_some_and(|g| same(g.as_bytes(), want.expose().as_bytes())) {
            let mut r = json_error(StatusCode::UNAUTHORIZED, "a bearer token is required");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"wa-preflight\""),
            );
            return r;
        }
    }
    next.run(req).await
}

/// What `/` lists, in order: (path, what it answers).
pub const ENDPOINTS: [(&str, &str); 5] = [
    (
        "/metrics",
        "Prometheus metrics of the latest run and of the daemon",
    ),
    (
        "/healthz",
        "200 when no rule fails or errors, else 503 listing them",
    ),
    ("/readyz", "200 once the first run finished"),
    (
        "/v1/report",
        "the latest JSON report (the check --format json shape)",
    ),
    (
        "/v1/history",
        "status transitions, oldest first (?since=24h&amp;rule=ID&amp;limit=N)",
    ),
];

/// `/`: a small HTML page linking the endpoints, as node_exporter and other exporters answer,
/// so a person who opens the address in a browser finds `/metrics`.
async fn landing() -> Response {
    let mut items = String::new();
    for (path, what) in ENDPOINTS {
        items.push_str(&format!(
            "<li><a href=\"{path}\">{path}</a> — {what}</li>\n"
        ));
    }
    let body = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>wa-preflight</title></head>\n\
         <body><h1>wa-preflight {}</h1>\n<p>Diagnostics daemon for WhatsApp Business API \
         On-Premises hosts.</p>\n<ul>\n{items}</ul>\n</body></html>\n",
        env!("CARGO_PKG_VERSION")
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// 200 when no rule fails or errors, 503 otherwise; the body says which.
async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    let Some(latest) = shared.latest() else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "no run finished yet\n".into(),
        );
    };
    let failing: Vec<String> = latest
        .report
        .results
        .iter()
        .filter(|r| matches!(r.status, Status::Fail | Status::Error))
        .map(|r| format!("{} {}: {}", r.status.as_str(), r.id, r.message))
        .collect();
    if failing.is_empty() {
        text(
            StatusCode::OK,
            format!("ok: no rule fails (run {})\n", latest.run_id),
        )
    } else {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{} rule(s) failing (run {}):\n{}\n",
                failing.len(),
                latest.run_id,
                failing.join("\n")
            ),
        )
    }
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    match shared.latest() {
        Some(l) => text(StatusCode::OK, format!("ready (run {})\n", l.run_id)),
        None => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the first run has not finished\n".into(),
        ),
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let mut body = match shared.latest() {
        Some(l) => l.metrics.clone(),
        None => String::new(),
    };
    body.push_str(&super::metrics::daemon_gauges(&shared));
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn report(State(shared): State<Arc<Shared>>) -> Response {
    match shared.latest() {
        Some(l) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            l.report_json.clone(),
        )
            .into_response(),
        None => json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the first run has not finished",
        ),
    }
}

/// `/v1/history?since=24h&rule=ID&limit=N`: transitions, oldest first.
async fn history(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(k) = q
        .keys()
        .find(|k| !matches!(k.as_str(), "since" | "rule" | "limit"))
    {
        return json_error(
            StatusCode::BAD_REQUEST,
            &format!("unknown parameter {k:?} (since, rule, limit)"),
        );
    }
    let since = match q
        .get("since")
        .map(|s| parse_when(s, OffsetDateTime::now_utc()))
    {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => return json_error(StatusCode::BAD_REQUEST, &e),
    };
    let limit = match q.get("limit").map(|l| l.parse::<i64>()) {
        None => 1000,
        Some(Ok(n)) if (1..=100_000).contains(&n) => n,
        Some(_) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "limit must be a number from 1 to 100000",
            );
        }
    };
    let mut guard = shared.history.lock().await;
    let Some(h) = guard.as_mut() else {
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the history database is not open (see the daemon's log)",
        );
    };
    match h
        .transitions(since, q.get("rule").map(String::as_str), limit)
        .await
    {
        Ok(t) => {
            let body = serde_json::json!({ "transitions": t });
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!("history query failed: {e}");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())
        }
    }
}

async fn not_found() -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        "no such endpoint (/, /healthz, /readyz, /metrics, /v1/report, /v1/history)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for v in [
            "Bearer t0k",
            "bearer t0k",
            "BEARER t0k",
            "bEaReR   t0k ",
            " Bearer t0k",
        ] {
            assert_eq!(bearer_token(v), Some("t0k"), "{v}");
        }
        for v in ["Basic t0k", "Bearer", "Bearer ", "Bearert0k", "Token t0k"] {
            assert_eq!(bearer_token(v), None, "{v}");
        }
    }
}
