//! `preflight daemon` as a process: HTTP endpoints, transitions recorded when the world changes
//! (a real PostgreSQL stopped and started, a container on the real dockerd stopped), SIGHUP
//! with a broken config, SIGTERM during a run, request bursts, malformed requests, tokens and a
//! corrupt history database.

use crate::common;
use crate::common::serial;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::daemon::{Daemon, gauge, http};
use common::imitation::{Cleanup, Spec, import_image, run};
use common::{DOCKER_SOCK, docker, require_daemon};

/// One run an hour (so only the first one happens during a test), no Docker, no probe.
const ONE_RUN_NO_DOCKER: [&str; 5] = [
    "--interval",
    "3600",
    "--no-statx-probe",
    "--docker-host",
    "unix:///nonexistent/docker.sock",
];

/// The daemon with `args`, started within 20 s.
fn start(dir: &Path, args: &[&str]) -> Daemon {
    Daemon::spawn(Daemon::binary(), dir, args, Duration::from_secs(20))
}

fn status_is(metrics: &str, rule: &str, status: &str) -> bool {
    gauge(
        metrics,
        &format!("wa_preflight_rule_status{{rule=\"{rule}\",status=\"{status}\"}}"),
    ) == Some(1.0)
}

/// A PostgreSQL server of this test's own (trust auth on 127.0.0.1), to stop and start.
struct Postgres {
    dir: PathBuf,
    port: u16,
}

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

impl Postgres {
    fn init(parent: &Path) -> Postgres {
        assert!(
            Path::new(PG_BIN).join("postgres").exists(),
            "PostgreSQL 15 missing: run ./scripts/testbed.sh (as root) before the tests"
        );
        let dir = parent.join("pg");
        std::fs::create_dir_all(&dir).unwrap();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        Command::new("chown")
            .args(["-R", "pgtest"])
            .arg(parent)
            .status()
            .unwrap();
        let pg = Postgres { dir, port };
        pg.su(&format!(
            "{PG_BIN}/initdb -D {} -U postgres --auth=trust",
            pg.dir.display()
        ));
        pg.start();
        pg
    }

    fn su(&self, cmd: &str) {
        let out = Command::new("su")
            .args(["pgtest", "-c", cmd])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn start(&self) {
        self.su(&format!(
            "{PG_BIN}/pg_ctl -D {d} -o '-p {p} -k {d} -h 127.0.0.1' -l {d}/log -w start",
            d = self.dir.display(),
            p = self.port
        ));
    }

    fn stop(&self) {
        self.su(&format!(
            "{PG_BIN}/pg_ctl -D {} -m fast -w stop",
            self.dir.display()
        ));
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new("su")
            .args([
                "pgtest",
                "-c",
                &format!(
                    "{PG_BIN}/pg_ctl -D {} -m immediate -w stop",
                    self.dir.display()
                ),
            ])
            .output();
    }
}

/// The world changes under a running daemon: the transitions are recorded, the gauges follow,
/// and `preflight history` / `diff` show them.
#[test]
fn transitions_follow_a_database_and_a_container() {
    require_daemon(DOCKER_SOCK);
    let _s = serial();
    let _cleanup = Cleanup::new();
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::init(dir.path());
    import_image("docker.whatsapp.biz/coreapp:v2.51.2", Some("2099-01-01"));
    import_image("docker.whatsapp.biz/web:v2.51.2", Some("2099-01-01"));
    for (name, image) in [
        ("wapf-daemon-core", "docker.whatsapp.biz/coreapp:v2.51.2"),
        ("wapf-daemon-web", "docker.whatsapp.biz/web:v2.51.2"),
    ] {
        run(&Spec {
            name,
            image,
            env: vec![],
            flags: vec![],
            cmd: vec!["sleep", "600"],
        });
    }
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port);
    let d = start(
        dir.path(),
        &[
            "--interval",
            "1",
            "--no-statx-probe",
            "--db-url",
            &url,
            "--db-timeout",
            "2",
        ],
    );
    let m = d.wait_for("/metrics", "db.reachable pass", |_, b| {
        status_is(b, "db.reachable", "pass") && status_is(b, "wa.containers.running", "pass")
    });
    assert!(
        gauge(&m, "wa_preflight_db_latency_p95_seconds").is_some(),
        "{m}"
    );
    assert_eq!(
        gauge(
            &m,
            "wa_preflight_container_running{name=\"wapf-daemon-core\",role=\"coreapp\"}"
        ),
        Some(1.0)
    );

    pg.stop();
    d.wait_for("/metrics", "db.reachable fail", |_, b| {
        status_is(b, "db.reachable", "fail")
    });
    let (code, body) = d.get("/healthz");
    assert_eq!(code, 503);
    assert!(body.contains("db.reachable"), "{body}");
    pg.start();
    d.wait_for("/metrics", "db.reachable pass again", |_, b| {
        status_is(b, "db.reachable", "pass")
    });

    docker(DOCKER_SOCK, &["stop", "-t", "1", "wapf-daemon-core"]);
    let m = d.wait_for("/metrics", "the container stopped", |_, b| {
        status_is(b, "wa.containers.running", "fail")
    });
    assert_eq!(
        gauge(
            &m,
            "wa_preflight_container_running{name=\"wapf-daemon-core\",role=\"coreapp\"}"
        ),
        Some(0.0)
    );

    let (code, body) = d.get("/v1/history?rule=db.reachable");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let changes: Vec<(String, String)> = v["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["old_status"].as_str().unwrap_or("none").to_string(),
                t["new_status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            ("none".into(), "pass".into()),
            ("pass".into(), "fail".into()),
            ("fail".into(), "pass".into())
        ]
    );
    let (_, body) = d.get("/v1/history?rule=wa.containers.running&since=1h");
    assert!(
        body.contains("\"old_status\":\"pass\",\"rule\":\"wa.containers.running\"")
            || body.contains("\"new_status\":\"fail\""),
        "{body}"
    );
    // One journal line per transition.
    let log = d.log();
    assert!(log.contains("db.reachable pass -> fail"), "{log}");
    assert!(log.contains("db.reachable fail -> pass"), "{log}");

    // The CLI reads the same database while the daemon runs.
    let out = common::preflight()
        .args([
            "history",
            "--format",
            "json",
            "--rule",
            "db.reachable",
            "--history",
        ])
        .arg(dir.path().join("history.db"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["transitions"].as_array().unwrap().len(), 3);
    let out = common::preflight()
        .args(["diff", "--format", "json", "--history"])
        .arg(dir.path().join("history.db"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rules: Vec<&str> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"wa.containers.running"), "{v}");
    assert!(
        !rules.contains(&"db.reachable"),
        "back to its first status: {v}"
    );
}

/// SIGHUP with a broken config keeps the old one; a good one is applied at once. SIGTERM in
/// the middle of a run stops the daemon within 5 s.
#[test]
fn reload_and_stop() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "profile: development\n").unwrap();
    // A black-hole "database": connects hang, so a run is in progress when SIGTERM comes.
    let (hole, hole_port) = common::fake_webapp::black_hole_here();
    let d = start(
        dir.path(),
        &[
            "--interval",
            "2",
            "--no-statx-probe",
            "--docker-host",
            "unix:///nonexistent/docker.sock",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    d.wait_for("/readyz", "ready", |c, _| c == 200);
    let (_, m) = d.get("/metrics");
    assert!(
        status_is(&m, "host.cpu", "skip"),
        "development profile: {m}"
    );
    std::fs::write(&config, "profile: production\nwaivers: [\n").unwrap();
    d.signal("HUP");
    d.wait_for("/metrics", "reload rejected", |_, b| {
        gauge(b, "wa_preflight_config_reload_ok") == Some(0.0)
    });
    assert!(
        d.log()
            .contains("reload rejected, keeping the previous configuration")
    );
    let (_, m) = d.get("/metrics");
    assert!(
        status_is(&m, "host.cpu", "skip"),
        "the old config is still in force"
    );
    std::fs::write(
        &config,
        "profile: production\nwaivers:\n  - {id: host.cpu, reason: test VM, expires: 2999-12-31}\n",
    )
    .unwrap();
    d.signal("HUP");
    d.wait_for("/metrics", "reload applied", |_, b| {
        gauge(b, "wa_preflight_config_reload_ok") == Some(1.0) && status_is(b, "host.cpu", "waived")
    });
    drop(d);

    // A run stuck on the black hole (--db-timeout 60): SIGTERM still ends it quickly.
    let url = format!("postgres://wa@127.0.0.1:{hole_port}/x");
    let mut d = start(
        dir.path(),
        &[
            &ONE_RUN_NO_DOCKER[..],
            &["--db-url", &url, "--db-timeout", "60"],
        ]
        .concat(),
    );
    std::thread::sleep(Duration::from_millis(1500));
    let (code, _) = d.get("/readyz");
    assert_eq!(code, 503, "the first run is still waiting on the database");
    let started = Instant::now();
    d.signal("TERM");
    let status = loop {
        if let Some(s) = d.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still running 5 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    drop(hole);
}

/// Requests never start runs: a burst of 1000 concurrent ones is answered from the latest
/// run. Bad requests get 4xx; a token guards all but /healthz.
#[test]
fn bursts_bad_requests_and_tokens() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!("daemon:\n  token_file: {}\n", token.display()),
    )
    .unwrap();
    let mut d = start(
        dir.path(),
        &[
            &ONE_RUN_NO_DOCKER[..],
            &["--config", config.to_str().unwrap()],
        ]
        .concat(),
    );
    // /healthz needs no token; the rest do.
    assert!(
        matches!(d.get("/healthz").0, 200 | 503),
        "no token needed for /healthz"
    );
    let started = Instant::now();
    loop {
        let (c, _) = d.get_auth("/readyz", "s3cret-token");
        if c == 200 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(d.get("/metrics").0, 401);
    assert_eq!(d.get_auth("/metrics", "wrong").0, 401);
    let (c, m) = d.get_auth("/metrics", "s3cret-token");
    assert_eq!(c, 200);
    let run_id = gauge(&m, "wa_preflight_run_id").unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let addr = d.addr.clone();
    let codes: Vec<u16> = rt.block_on(async move {
        let mut tasks = Vec::new();
        for i in 0..1000 {
            let addr = addr.clone();
            tasks.push(tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let path = ["/metrics", "/v1/report", "/healthz", "/readyz"][i % 4];
                let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
                let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer s3cret-token\r\nConnection: close\r\n\r\n");
                s.write_all(req.as_bytes()).await.unwrap();
                let mut buf = Vec::new();
                s.read_to_end(&mut buf).await.unwrap();
                String::from_utf8_lossy(&buf)
                    .split_whitespace()
                    .nth(1)
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0)
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    assert!(
        codes.iter().all(|c| *c == 200 || *c == 503),
        "{:?}",
        codes
            .iter()
            .filter(|c| **c != 200 && **c != 503)
            .collect::<Vec<_>>()
    );
    let (_, m) = d.get_auth("/metrics", "s3cret-token");
    assert_eq!(
        gauge(&m, "wa_preflight_run_id"),
        Some(run_id),
        "a request burst started a run"
    );

    // Bad requests.
    assert_eq!(
        d.get_auth("/v1/history?since=yesterday", "s3cret-token").0,
        400
    );
    assert_eq!(d.get_auth("/v1/history?limit=0", "s3cret-token").0, 400);
    assert_eq!(d.get_auth("/v1/history?bogus=1", "s3cret-token").0, 400);
    assert_eq!(d.get_auth("/nope", "s3cret-token").0, 404);
    let (c, _) = http(
        &d.addr,
        "POST /metrics HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer s3cret-token\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(c, 405);
    let (c, _) = http(&d.addr, "\x16\x03\x01\x02\x00garbage not http\r\n\r\n");
    assert!(c == 400 || c == 0, "garbage got {c}");
    let (c, _) = http(
        &d.addr,
        "GET /metrics HTTP/1.1\r\nHost: t\r\nX: \x01\x02\r\nContent-Length: nope\r\n\r\n",
    );
    assert!((400..500).contains(&c) || c == 0, "malformed got {c}");
    // A half-sent request that just stops does not hold up anything else.
    let mut half = TcpStream::connect(&d.addr).unwrap();
    half.write_all(b"GET /metr").unwrap();
    assert_eq!(d.get_auth("/readyz", "s3cret-token").0, 200);
    drop(half);
    assert!(
        d.child.try_wait().unwrap().is_none(),
        "the daemon exited after the bad requests: {}",
        d.log()
    );
    let (c, _) = d.get("/healthz");
    assert!(c == 200 || c == 503);
}

/// A corrupt history database is moved aside and recreated; the daemon carries on.
#[test]
fn corrupt_history_is_moved_aside() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("history.db"),
        b"garbage, not SQLite\n".repeat(500),
    )
    .unwrap();
    let d = start(dir.path(), &ONE_RUN_NO_DOCKER);
    d.wait_for("/readyz", "ready", |c, _| c == 200);
    let (c, body) = d.get("/v1/history");
    assert_eq!(c, 200, "{body}");
    assert!(body.contains("host.kernel"), "{body}");
    assert!(d.log().contains("moved aside"), "{}", d.log());
    let aside = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("history.db.corrupt-")
        })
        .count();
    assert_eq!(aside, 1);
}

/// Transitions are POSTed to the configured webhook; a failed delivery is retried.
#[test]
fn transitions_are_posted_with_retries() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let receiver = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = receiver.local_addr().unwrap().port();
    let bodies = std::sync::Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = bodies.clone();
    std::thread::spawn(move || {
        for (n, stream) in receiver.incoming().enumerate() {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read the head, then the body by Content-Length.
            let (head_end, len) = loop {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break (None, 0),
                    Ok(k) => buf.extend_from_slice(&chunk[..k]),
                }
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(i) = text.find("\r\n\r\n") {
                    let len = text[..i]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    break (Some(i + 4), len);
                }
            };
            let Some(start) = head_end else { continue };
            while buf.len() < start + len {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => buf.extend_from_slice(&chunk[..k]),
                }
            }
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buf[start..]).into_owned());
            // The very first delivery fails: it must be tried again.
            let status = if n == 0 {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let _ = s.write_all(
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
        }
    });
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "daemon:\n  webhook: {{url: 'http://127.0.0.1:{port}/hook', max_attempts: 3, timeout_seconds: 2}}\n"
        ),
    )
    .unwrap();
    let d = start(
        dir.path(),
        &[
            &ONE_RUN_NO_DOCKER[..],
            &["--config", config.to_str().unwrap()],
        ]
        .concat(),
    );
    d.wait_for("/readyz", "ready", |c, _| c == 200);
    let (_, report) = d.get("/v1/report");
    let rules = serde_json::from_str::<serde_json::Value>(&report).unwrap()["results"]
        .as_array()
        .unwrap()
        .len();
    // Every rule is new on the first run: one transition each, plus the retried one.
    d.wait_for("/metrics", "all transitions delivered", |_, m| {
        gauge(m, "wa_preflight_webhook_queue_length") == Some(0.0)
            && bodies.lock().unwrap().len() > rules
    });
    let got = bodies.lock().unwrap().clone();
    assert_eq!(
        got.len(),
        rules + 1,
        "one delivery per transition plus one retry"
    );
    assert_eq!(got[0], got[1], "the failed delivery was sent again");
    let first: serde_json::Value = serde_json::from_str(&got[0]).unwrap();
    assert_eq!(first["source"], "wa-preflight");
    assert!(first["transition"]["rule"].is_string(), "{first}");
    assert_eq!(first["transition"]["old_status"], serde_json::Value::Null);
    let (_, m) = d.get("/metrics");
    assert_eq!(gauge(&m, "wa_preflight_webhook_ok"), Some(1.0));
}
