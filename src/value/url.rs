//! URLs the operator gives in the config (`docker.host`, `client.url`, `daemon.webhook.url`):
//! their scheme is checked where they are parsed, so a typo is a located error, not a failed
//! connection later. serde `deserialize_with` helpers.

use serde::Deserialize;

/// Whether `text` starts with one of `schemes` (a bare `/path` counts as `unix`).
///
/// # Errors
///
/// `"TEXT" must start with one of unix://, tcp://, …` when it does not (schemes compare
/// case-insensitively).
pub fn check_scheme(text: &str, schemes: &[&str]) -> Result<(), String> {
    let scheme = if text.starts_with('/') {
        Some("unix")
    } else {
        text.split_once("://").map(|(s, _)| s)
    };
    if scheme.is_some_and(|s| schemes.contains(&s.to_ascii_lowercase().as_str())) {
        return Ok(());
    }
    Err(format!(
        "{text:?} must start with one of {}",
        schemes
            .iter()
            .map(|s| format!("{s}://"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// serde `deserialize_with` body for an optional URL that must start with one of `schemes`.
///
/// # Errors
///
/// A value that is not a string, or does not start with one of `schemes`.
pub fn optional_url<'de, D: serde::Deserializer<'de>>(
    d: D,
    schemes: &[&str],
) -> Result<Option<String>, D::Error> {
    let v: Option<String> = Option::deserialize(d)?;
    if let Some(text) = &v {
        check_scheme(text, schemes).map_err(serde::de::Error::custom)?;
    }
    Ok(v)
}

/// `docker.host`: `unix:///path` (or `/path`), `tcp://`, `http://` or `https://`.
///
/// # Errors
///
/// A value that is not a string, or has another scheme.
pub fn docker_host<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    optional_url(d, &["unix", "tcp", "http", "https"])
}

/// `client.url`: the webapp's API, `https://` (or `http://` behind a proxy).
///
/// # Errors
///
/// A value that is not a string, or is not `http://` or `https://`.
pub fn http_url<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    optional_url(d, &["https", "http"])
}

/// A required `http://` or `https://` URL (`daemon.webhook.url`).
///
/// # Errors
///
/// A missing value or one that is not a string, or is not `http://` or `https://`.
pub fn http_url_required<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = String::deserialize(d)?;
    check_scheme(&v, &["https", "http"]).map_err(serde::de::Error::custom)?;
    Ok(v)
}
