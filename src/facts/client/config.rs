//! What the operator says about the API (the config's `client:` section and the flags), and
//! the base URL that follows from it or from the webapp container's published port 443.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::facts::docker::containers::{ContainerFacts, Role};

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
    /// The config file's `client:` section.
    pub config: ClientConfig,
    /// `--api-url`: the webapp's base URL, before the config's.
    pub url_flag: Option<String>,
    /// `--api-token-file`: a file holding an API token, before the config's.
    pub token_file_flag: Option<PathBuf>,
    /// `--api-insecure`: accept the client's certificate unverified.
    pub insecure_flag: bool,
    /// `--api-ca-file`: a CA (PEM) to verify the webapp against, before the config's.
    pub ca_file_flag: Option<PathBuf>,
    /// `--show-phone`: keep the registered phone number (`debug_info`) in the facts.
    pub show_phone: bool,
    /// `--webhook-probe`: POST a marked test payload to the configured webhook.
    pub webhook_probe: bool,
    /// Bound of each API request (connect, and again the whole request); 5 s by default.
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

/// The base URL (without a trailing `/`) and where it came from: `--api-url`, else the
/// config's `client.url`, else the webapp container that publishes 443 (the running one
/// first), at its published address (`127.0.0.1` for a wildcard).
pub(super) fn base_url(
    opts: &ClientOptions,
    containers: &[ContainerFacts],
) -> Option<(String, String)> {
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
