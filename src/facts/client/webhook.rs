//! The webhook setting of `/v1/settings/application`, shown without the credentials or query
//! that often hold tokens.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::webhook_probe::WebhookProbe;
use crate::facts::Fact;

/// The configured webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookFacts {
    /// A non-empty webhook URL is set.
    pub configured: bool,
    /// Scheme, host, port and path; credentials and query never shown.
    pub url: Option<String>,
    /// `https` or `http`; null when the URL does not parse.
    pub scheme: Option<String>,
    /// Null unless `--webhook-probe`.
    pub probe: Option<Fact<WebhookProbe>>,
}

/// The webhook URL of `/v1/settings/application` as set (`webhooks.url`, or the older
/// `webhook_url`), trimmed; `None` when unset or empty.
pub(super) fn webhook_raw_url(body: &Value) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
