//! The HTTPS proxy the client would use (`HTTPS_PROXY`, `NO_PROXY` of the environment it runs
//! in), and a `CONNECT host:port` through it, which is how port 443 is checked behind one.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use percent_encoding::percent_decode_str;

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
        // The user and password of a URL are percent-encoded (RFC 3986 userinfo): only `%XX`
        // is an escape (`+`, `&`, `=` are themselves), and what it decodes to is sent as bytes
        // (RFC 7617 leaves the charset open; curl does the same). A `%` that starts no escape
        // is kept as written, as curl and reqwest keep it.
        let auth = (!url.username().is_empty()).then(|| {
            use base64::Engine;
            let mut pair: Vec<u8> = percent_decode_str(url.username()).collect();
            pair.push(b':');
            pair.extend(percent_decode_str(url.password().unwrap_or("")));
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
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
    use base64::Engine;
    use std::collections::HashMap;
    use std::net::TcpListener;

    /// The `user:password` bytes of the `Basic` credential built for `HTTPS_PROXY=url`.
    fn credentials(url: &str) -> Vec<u8> {
        let p = Proxy::from_env(|k| (k == "HTTPS_PROXY").then(|| url.to_string()))
            .unwrap()
            .unwrap();
        let value = p.auth.expect("credentials");
        let b64 = value.strip_prefix("Basic ").expect("a Basic credential");
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
    }

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

    #[test]
    fn proxy_credentials_are_percent_decoded_and_nothing_else() {
        // A URL's user and password are percent-encoded (RFC 3986 userinfo), not form-encoded:
        // `+`, `&` and `=` are themselves, only `%XX` is an escape.
        let cases: &[(&str, &[u8])] = &[
            ("http://u:p+ss@proxy:3128", b"u:p+ss"),
            ("http://u+1:pw@proxy:3128", b"u+1:pw"),
            ("http://u:p&ss=x@proxy:3128", b"u:p&ss=x"),
            ("http://u&a=b:pw@proxy:3128", b"u&a=b:pw"),
            ("http://u:p%2Bss@proxy:3128", b"u:p+ss"),
            ("http://u:p%26ss%3Dx@proxy:3128", b"u:p&ss=x"),
            ("http://u%40corp:p%40ss@proxy:3128", b"u@corp:p@ss"),
            ("http://u:p%20ss@proxy:3128", b"u:p ss"),
            (
                "http://u:p\u{e4}ssw\u{f6}rd@proxy:3128",
                "u:p\u{e4}ssw\u{f6}rd".as_bytes(),
            ),
            ("http://u:p%C3%A4ss@proxy:3128", "u:p\u{e4}ss".as_bytes()),
            // Not UTF-8: sent as the bytes it encodes, as curl does.
            ("http://u:%FFx@proxy:3128", b"u:\xffx"),
            // Not an escape: kept as written, as curl and reqwest do.
            ("http://u:p%zz%2@proxy:3128", b"u:p%zz%2"),
            ("http://u:@proxy:3128", b"u:"),
            ("http://u@proxy:3128", b"u:"),
        ];
        for (url, want) in cases {
            assert_eq!(
                String::from_utf8_lossy(&credentials(url)),
                String::from_utf8_lossy(want),
                "{url}"
            );
            assert_eq!(credentials(url), *want, "{url}");
        }
    }

    #[test]
    fn connect_carries_the_decoded_credentials() {
        // FAKE CONNECT proxy (no proxy server runs here): records the request head and answers
        // 200, so the Proxy-Authorization header the check really sends can be read back.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let _ = s.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
            let _ = tx.send(head);
        });
        let url = format!("http://us%40er+1:p+ss%26%3D%20%C3%A4&x=y@127.0.0.1:{port}");
        let proxy = Proxy::from_env(|k| (k == "HTTPS_PROXY").then(|| url.clone()))
            .unwrap()
            .unwrap();
        let t = Duration::from_secs(5);
        let c = via_proxy(
            &Resolver::new(&crate::facts::netns::Vantage::Host, t),
            &proxy,
            "g.whatsapp.net",
            443,
            t,
        );
        assert!(c.connected, "{c:?}");
        assert_eq!(c.via, format!("proxy http://127.0.0.1:{port}"));
        let head = String::from_utf8(rx.recv_timeout(Duration::from_secs(10)).unwrap()).unwrap();
        assert!(
            head.starts_with("CONNECT g.whatsapp.net:443 HTTP/1.1\r\n"),
            "{head}"
        );
        let value = head
            .lines()
            .find_map(|l| l.strip_prefix("Proxy-Authorization: Basic "))
            .unwrap_or_else(|| panic!("no Proxy-Authorization in {head:?}"));
        let sent = base64::engine::general_purpose::STANDARD
            .decode(value)
            .unwrap();
        assert_eq!(
            String::from_utf8(sent).unwrap(),
            "us@er+1:p+ss&= \u{e4}&x=y"
        );
    }
}
