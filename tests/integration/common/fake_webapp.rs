//! FAKE WhatsApp webapp API, for tests only: no real client can run here (its images come
//! from a registry this machine cannot reach). It speaks HTTPS with a certificate from a test
//! CA and answers the documented shapes: single and HA `/v1/health`, error 1011, `/v1/support`,
//! `/v1/users/login`, `/v1/settings/application`, 401 on a bad token; it can also answer slowly
//! or with garbage, and serve as a webhook (`POST /hook`). Its listening socket can be made
//! inside a container's network namespace, so on the real dockerd it is reached through the
//! imitation webapp container's published port like the real one.
//!
//! Also here: a fake CONNECT proxy (answers 200 for allowed hosts, 403 otherwise) and
//! black-hole listeners (a full accept queue drops SYNs).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::rustls;
use wa_preflight::facts::netns::Vantage;

/// A test CA and a server certificate for `localhost` and 127.0.0.1 signed by it.
pub struct TestPki {
    pub ca_pem: String,
    pub acceptor: tokio_rustls::TlsAcceptor,
}

impl TestPki {
    pub fn new() -> TestPki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        TestPki {
            ca_pem: ca.pem(),
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        }
    }
}

/// What `/v1/health` says.
#[derive(Clone, Debug)]
pub enum Health {
    Single(&'static str),
    /// (node name, gateway_status, role)
    Ha(Vec<(&'static str, &'static str, &'static str)>),
    /// 503 with error 1011 "Service not ready" (on every endpoint).
    NotReady,
}

/// How the fake behaves; change it while it runs.
#[derive(Clone, Debug)]
pub struct Behaviour {
    pub health: Health,
    pub token: String,
    pub admin: (String, String),
    pub webhook_url: Option<String>,
    /// Wait this long before answering API requests.
    pub delay: Duration,
    /// Answer API requests with bytes that are not HTTP.
    pub garbage: bool,
    pub socket_conn: &'static str,
    pub free_space_logs: u64,
    /// `POST /hook`: status and delay.
    pub hook_status: u16,
    pub hook_delay: Duration,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            health: Health::Single("connected"),
            token: "test-token-0123456789".into(),
            admin: ("admin".into(), "S3cret-admin".into()),
            webhook_url: None,
            delay: Duration::ZERO,
            garbage: false,
            socket_conn: "UP",
            free_space_logs: 80_000_000_000,
            hook_status: 200,
            hook_delay: Duration::ZERO,
        }
    }
}

/// What the fake saw.
#[derive(Default, Debug)]
pub struct Seen {
    pub requests: Vec<String>,
    pub hook_bodies: Vec<String>,
}

/// A running fake.
pub struct FakeWebapp {
    pub addr: SocketAddr,
    pub behaviour: Arc<Mutex<Behaviour>>,
    pub seen: Arc<Mutex<Seen>>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Drop for FakeWebapp {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl FakeWebapp {
    /// Serves on 127.0.0.1 of this process.
    pub fn start(pki: &TestPki, behaviour: Behaviour) -> FakeWebapp {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        FakeWebapp::serve(l, pki, behaviour)
    }

    /// Serves on a listener made elsewhere (inside a container's namespace).
    pub fn serve(listener: TcpListener, pki: &TestPki, behaviour: Behaviour) -> FakeWebapp {
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let behaviour = Arc::new(Mutex::new(behaviour));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (b, s, acceptor) = (behaviour.clone(), seen.clone(), pki.acceptor.clone());
        rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (b, s, acceptor) = (b.clone(), s.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let Ok(Ok(tls)) =
                        tokio::time::timeout(Duration::from_secs(5), acceptor.accept(stream)).await
                    else {
                        return;
                    };
                    handle(tls, b, s).await;
                });
            }
        });
        FakeWebapp {
            addr,
            behaviour,
            seen,
            rt: Some(rt),
        }
    }

    pub fn set(&self, f: impl FnOnce(&mut Behaviour)) {
        f(&mut self.behaviour.lock().unwrap());
    }
}

async fn read_request<S: AsyncRead + Unpin>(
    s: &mut S,
) -> Option<(String, String, Vec<(String, String)>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).await.ok()? == 0 || buf.len() > 65536 {
            return None;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let mut lines = head.lines();
    let mut first = lines.next()?.split_whitespace();
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.ok()?;
    Some((method, path, headers, body))
}

fn http_date() -> String {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::now_utc().format(&fmt).unwrap()
}

async fn respond<S: AsyncWrite + Unpin>(s: &mut S, status: u16, body: &serde_json::Value) {
    let text = body.to_string();
    let reason = match status {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nDate: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        http_date(),
        text.len()
    );
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.write_all(text.as_bytes()).await;
    let _ = s.shutdown().await;
}

fn error(code: i64, title: &str) -> serde_json::Value {
    serde_json::json!({"errors": [{"code": code, "title": title, "details": title}], "meta": {"api_status": "stable", "version": "v2.51.2"}})
}

async fn handle<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    b: Arc<Mutex<Behaviour>>,
    seen: Arc<Mutex<Seen>>,
) {
    let Some((method, path, headers, body)) = read_request(&mut s).await else {
        return;
    };
    let be = b.lock().unwrap().clone();
    seen.lock()
        .unwrap()
        .requests
        .push(format!("{method} {path}"));
    if method == "POST" && path == "/hook" {
        seen.lock()
            .unwrap()
            .hook_bodies
            .push(String::from_utf8_lossy(&body).into_owned());
        tokio::time::sleep(be.hook_delay).await;
        respond(&mut s, be.hook_status, &serde_json::json!({})).await;
        return;
    }
    tokio::time::sleep(be.delay).await;
    if be.garbage {
        let _ = s
            .write_all(b"\x00\xffSSH-2.0-not-http\r\n\x07garbage")
            .await;
        let _ = s.shutdown().await;
        return;
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if method == "POST" && path == "/v1/users/login" {
        use base64::Engine;
        let want = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", be.admin.0, be.admin.1))
        );
        if header("authorization").as_deref() == Some(want.as_str()) {
            let body = serde_json::json!({"users": [{"token": be.token, "expires_after": "2026-12-02 00:00:00+00:00"}], "meta": {"api_status": "stable", "version": "v2.51.2"}});
            respond(&mut s, 200, &body).await;
        } else {
            respond(&mut s, 401, &error(1005, "Access denied")).await;
        }
        return;
    }
    if header("authorization") != Some(format!("Bearer {}", be.token)) {
        respond(&mut s, 401, &error(1005, "Access denied")).await;
        return;
    }
    if matches!(be.health, Health::NotReady) {
        respond(&mut s, 503, &error(1011, "Service not ready")).await;
        return;
    }
    let meta = serde_json::json!({"api_status": "stable", "version": "v2.51.2"});
    match (method.as_str(), path.as_str()) {
        ("GET", "/v1/health") => {
            let health = match &be.health {
                Health::Single(status) => serde_json::json!({"gateway_status": status}),
                Health::Ha(nodes) => {
                    let mut m = serde_json::Map::new();
                    for (name, status, role) in nodes {
                        m.insert(
                            name.to_string(),
                            serde_json::json!({"gateway_status": status, "role": role}),
                        );
                    }
                    serde_json::Value::Object(m)
                }
                Health::NotReady => unreachable!(),
            };
            respond(
                &mut s,
                200,
                &serde_json::json!({"health": health, "meta": meta}),
            )
            .await;
        }
        ("GET", "/v1/support") => {
            let body = serde_json::json!({"support": {
                "db_engine": "MYSQL", "debug_info": "+1 555 0100", "socket_conn": be.socket_conn,
                "free_space_data": 90_000_000_000u64, "free_space_logs": be.free_space_logs,
                "free_space_media_incoming": 90_000_000_000u64,
                "free_space_media_outgoing": 90_000_000_000u64,
                "multi_connect": 0, "os_name": "Linux", "os_version": "6.1.0"
            }, "meta": meta});
            respond(&mut s, 200, &body).await;
        }
        ("GET", "/v1/settings/application") => {
            let url = be.webhook_url.clone().unwrap_or_default();
            let body = serde_json::json!({"settings": {"application": {"webhooks": {"url": url}, "callback_persist": true}}, "meta": meta});
            respond(&mut s, 200, &body).await;
        }
        _ => respond(&mut s, 404, &error(1006, "Resource not found")).await,
    }
}

/// Makes a listener inside `pid`'s network namespace (or this process's when `pid` is None).
pub fn listen_in(pid: Option<i64>, addr: &str) -> TcpListener {
    let addr = addr.to_string();
    let vantage = match pid {
        Some(pid) => Vantage::Container {
            name: "test".into(),
            pid,
        },
        None => Vantage::Host,
    };
    wa_preflight::facts::netns::spawn_in(&vantage, move || TcpListener::bind(&addr))
        .recv()
        .unwrap()
        .unwrap()
        .unwrap()
}

/// A black hole inside `pid`'s namespace: a listener with backlog 0 whose queue is filled, so
/// further SYNs are dropped and connects hang until their timeout. Keep the value alive.
pub struct BlackHole {
    pub port: u16,
    _fd: std::os::fd::OwnedFd,
    _fillers: Vec<TcpStream>,
}

pub fn black_hole_in(pid: i64, ip: &str, port: u16) -> BlackHole {
    black_hole(Some(pid), ip, port)
}

/// A black hole in this process's namespace; returns it and its port.
pub fn black_hole_here() -> (BlackHole, u16) {
    // Port 0: the kernel picks a free one (a port probed and released first could be taken as
    // the source port of someone's outgoing connection before we bind it again).
    let hole = black_hole(None, "127.0.0.1", 0);
    let port = hole.port;
    (hole, port)
}

fn black_hole(pid: Option<i64>, ip: &str, port: u16) -> BlackHole {
    use std::os::fd::FromRawFd;
    let ip: std::net::Ipv4Addr = ip.parse().unwrap();
    let vantage = match pid {
        Some(pid) => Vantage::Container {
            name: "test".into(),
            pid,
        },
        None => Vantage::Host,
    };
    wa_preflight::facts::netns::spawn_in(&vantage, move || {
        // SAFETY: plain socket calls on a fresh descriptor we own.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
        assert!(fd >= 0);
        let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        let sa = libc::sockaddr_in {
            sin_family: libc::AF_INET as u16,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(ip).to_be(),
            },
            sin_zero: [0; 8],
        };
        let r = unsafe {
            libc::bind(
                fd,
                &sa as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_in>() as u32,
            )
        };
        assert_eq!(r, 0, "bind {ip}:{port}");
        assert_eq!(unsafe { libc::listen(fd, 0) }, 0);
        // The port actually bound (the kernel's choice when asked for 0).
        let mut bound: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let r =
            unsafe { libc::getsockname(fd, &mut bound as *mut _ as *mut libc::sockaddr, &mut len) };
        assert_eq!(r, 0);
        let port = u16::from_be(bound.sin_port);
        let target = SocketAddr::from((ip, port));
        let fillers: Vec<TcpStream> = (0..3)
            .filter_map(|_| TcpStream::connect_timeout(&target, Duration::from_millis(300)).ok())
            .collect();
        BlackHole {
            port,
            _fd: owned,
            _fillers: fillers,
        }
    })
    .recv()
    .unwrap()
    .unwrap()
}

/// Listeners that accept and hold connections (the coreapp's 6250-6253, a "WhatsApp" port).
pub fn accept_forever(listener: TcpListener) {
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
}

/// FAKE CONNECT proxy: answers 200 for `allowed` hosts and 403 for others; records targets.
pub fn fake_proxy(listener: TcpListener, allowed: Vec<String>) -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match s.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            let text = String::from_utf8_lossy(&head).to_string();
            let target = text.split_whitespace().nth(1).unwrap_or("").to_string();
            s2.lock().unwrap().push(target.clone());
            let host = target.rsplit_once(':').map(|(h, _)| h).unwrap_or("");
            let answer = if allowed.iter().any(|a| a == host) {
                "HTTP/1.1 200 Connection established\r\n\r\n"
            } else {
                "HTTP/1.1 403 Forbidden\r\n\r\n"
            };
            let _ = s.write_all(answer.as_bytes());
        }
    });
    seen
}

/// The FAKE client of an imitation deployment, serving until dropped.
pub struct FakeClient {
    /// The webhook, on 127.0.0.1:8443 inside the coreapp's namespace.
    pub hook: FakeWebapp,
    /// The API, on 443 inside the webapp's namespace, its webhook set to `hook`.
    pub api: FakeWebapp,
    /// A config file with a token and the test CA for the API and the webhook probe.
    pub config: std::path::PathBuf,
}

/// Starts the fake client inside the containers whose init processes are `core` and `web`,
/// and writes its config into `dir`.
pub fn fake_client_in(core: i64, web: i64, pki: &TestPki, dir: &std::path::Path) -> FakeClient {
    let hook = FakeWebapp::serve(
        listen_in(Some(core), "127.0.0.1:8443"),
        pki,
        Behaviour::default(),
    );
    let api = FakeWebapp::serve(
        listen_in(Some(web), "0.0.0.0:443"),
        pki,
        Behaviour {
            webhook_url: Some("https://localhost:8443/hook".into()),
            ..Behaviour::default()
        },
    );
    let ca = super::write(dir, "ca.pem", &pki.ca_pem);
    let token = super::write(dir, "token", "test-token-0123456789");
    let config = super::write(
        dir,
        "config.yaml",
        &format!(
            "client:\n  token_file: {}\n  ca_file: {}\n  webhook_ca_file: {}\n",
            token.display(),
            ca.display(),
            ca.display()
        ),
    );
    FakeClient { hook, api, config }
}
