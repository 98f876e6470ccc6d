//! The HTTPS proxy the client would use (`HTTPS_PROXY`, `NO_PROXY` of the environment it runs
//! in), and a `CONNECT host:port` through it, which is how port 443 is checked behind one.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use super::connect::{connect_first, micros};
use super::dns::Resolver;
use super::reach::Connect;

/// An HTTPS proxy as the client would use it.
#[derive(Debug, Clone)]
pub(super) struct Proxy {
    /// The proxy's host name or address (brackets of an IPv6 literal removed).
    host: String,
    /// Its port (the scheme's default, else 3128).
    port: u16,
    /// `Basic …` value, when the URL carries credentials.
    auth: Option<String>,
    /// `scheme://host:port`, without credentials: what the facts show.
    pub(super) shown: String,
    /// `NO_PROXY` entries, lowercase, leading dots removed (`*` matches every host).
    no_proxy: Vec<String>,
}

impl Proxy {
    /// From `HTTPS_PROXY`/`https_proxy` (and `NO_PROXY`) of `env`.
    pub(super) fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<Proxy>, String> {
        let Some(raw) = get("HTTPS_PROXY")
            .or_else(|| get("https_proxy"))
            .filter(|s| !s.trim().is_empty())
        else {
            return Ok(None);
        };
        let with_scheme = if raw.contains("://") {
            raw.clone()
        } else {
            format!("http://{raw}")
        };
        let url =
            url::Url::parse(&with_scheme).map_err(|e| format!("HTTPS_PROXY is not a URL: {e}"))?;
        let host = url
            .host_str()
            .ok_or("HTTPS_PROXY has no host")?
            .trim_matches(['[', ']'])
            .to_string();
        let port = url.port_or_known_default().unwrap_or(3128);
        let auth = (!url.username().is_empty()).then(|| {
            use base64::Engine;
            let user = percent(url.username());
            let pass = percent(url.password().unwrap_or(""));
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
            )
        });
        let no_proxy = get("NO_PROXY")
            .or_else(|| get("no_proxy"))
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        Ok(Some(Proxy {
            shown: format!("{}://{host}:{port}", url.scheme()),
            host,
            port,
            auth,
            no_proxy,
        }))
    }

    /// Whether a connection to `host` goes through the proxy (`NO_PROXY` does not name it or
    /// a domain it is in).
    pub(super) fn applies_to(&self, host: &str) -> bool {
        let h = host.to_ascii_lowercase();
        !self
            .no_proxy
            .iter()
            .any(|n| n == "*" || h == *n || h.ends_with(&format!(".{n}")))
    }
}

/// Decodes the percent escapes of a URL's user or password.
fn percent(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `CONNECT host:port` through the proxy; true once it answers 2xx.
pub(super) fn via_proxy(
    resolver: &Resolver,
    proxy: &Proxy,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Connect {
    let started = Instant::now();
    let mut out = Connect {
        host: host.to_string(),
        port,
        via: format!("proxy {}", proxy.shown),
        connected: false,
        address: None,
        connect_us: None,
        error: None,
    };
    let res = resolver.resolve(&proxy.host);
    if !res.resolved {
        out.error = Some(format!(
            "proxy {} does not resolve: {}",
            proxy.host,
            res.error.unwrap_or_default()
        ));
        return out;
    }
    let left = timeout.saturating_sub(started.elapsed());
    let (conn, _) = connect_first(&res.addresses, proxy.port, left);
    let mut stream = match conn {
        Ok((s, _)) => s,
        Err(e) => {
            out.error = Some(format!("proxy {}: {e}", proxy.shown));
            return out;
        }
    };
    let left = timeout
        .saturating_sub(started.elapsed())
        .max(Duration::from_millis(1));
    let _ = stream.set_read_timeout(Some(left));
    let _ = stream.set_write_timeout(Some(left));
    let mut req = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n");
    if let Some(a) = &proxy.auth {
        req.push_str(&format!("Proxy-Authorization: {a}\r\n"));
    }
    req.push_str("\r\n");
    if let Err(e) = stream.write_all(req.as_bytes()) {
        out.error = Some(format!("proxy {}: {e}", proxy.shown));
        return out;
    }
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => head.push(byte[0]),
            Err(e) => {
                out.error = Some(format!("proxy {} did not answer CONNECT: {e}", proxy.shown));
                return out;
            }
        }
    }
    let text = String::from_utf8_lossy(&head);
    let status_line = text.lines().next().unwrap_or("").trim().to_string();
    let code = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok());
    match code {
        Some(c) if (200..300).contains(&c) => {
            out.connected = true;
            out.connect_us = Some(micros(started.elapsed()));
        }
        Some(_) => out.error = Some(format!("proxy {} refused: {status_line}", proxy.shown)),
        None => {
            out.error = Some(format!(
                "proxy {} sent no HTTP answer to CONNECT ({} bytes)",
                proxy.shown,
                head.len()
            ))
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn proxy_from_env() {
        let env: HashMap<&str, &str> = [
            ("https_proxy", "http://user:p%40ss@proxy.corp:3128"),
            ("NO_PROXY", "localhost,.internal.example"),
        ]
        .into();
        let p = Proxy::from_env(|k| env.get(k).map(|s| s.to_string()))
            .unwrap()
            .unwrap();
        assert_eq!(p.shown, "http://proxy.corp:3128");
        assert_eq!(p.port, 3128);
        assert_eq!(p.auth.as_deref(), Some("Basic dXNlcjpwQHNz"));
        assert!(p.applies_to("g.whatsapp.net"));
        assert!(!p.applies_to("api.internal.example"));
        assert!(!p.applies_to("localhost"));
        let none = Proxy::from_env(|_| None).unwrap();
        assert!(none.is_none());
        let bare = Proxy::from_env(|k| (k == "HTTPS_PROXY").then(|| "10.0.0.1:8080".into()))
            .unwrap()
            .unwrap();
        assert_eq!(bare.shown, "http://10.0.0.1:8080");
    }
}
