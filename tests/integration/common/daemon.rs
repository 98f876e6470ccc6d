//! `preflight daemon` for the integration tests: started on a free port with its standard
//! error in a file (where it says the address it serves on), asked over plain HTTP/1.1, and
//! killed and reaped on drop, even after a failed assert.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running daemon.
pub struct Daemon {
    pub child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Its standard error.
    pub log: PathBuf,
    /// How long [`Daemon::wait_for`] waits.
    pub patience: Duration,
}

/// Where a daemon started in `dir` logs; create it before [`Daemon::spawn`] to know its
/// identity (for `JOURNAL_STREAM`): spawning truncates it, the same file.
pub fn log_path(dir: &Path) -> PathBuf {
    dir.join("daemon.log")
}

impl Daemon {
    /// Runs `cmd` (the binary, or a wrapper such as `prlimit … --` followed by it) with
    /// `daemon --listen 127.0.0.1:0 --history DIR/history.db ARGS…`, no operator config, no
    /// `DOCKER_HOST`, info logs; waits up to `start_within` for "serving on http://".
    pub fn spawn(mut cmd: Command, dir: &Path, args: &[&str], start_within: Duration) -> Daemon {
        let log = log_path(dir);
        let err = std::fs::File::create(&log).unwrap();
        let child = cmd
            .env_remove("DOCKER_HOST")
            .env("WA_PREFLIGHT_CONFIG", "/dev/null")
            .env("RUST_LOG", "info")
            .args(["daemon", "--listen", "127.0.0.1:0", "--history"])
            .arg(dir.join("history.db"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap();
        // Owned before waiting, so a failed start still kills and reaps it.
        let mut d = Daemon {
            child,
            addr: String::new(),
            log,
            patience: Duration::from_secs(60),
        };
        let started = Instant::now();
        loop {
            let text = d.log();
            if let Some(i) = text.find("serving on http://") {
                let rest = &text[i + "serving on http://".len()..];
                d.addr = rest.split_whitespace().next().unwrap().to_string();
                return d;
            }
            assert!(
                started.elapsed() < start_within,
                "daemon did not start: {text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The binary itself, for [`Daemon::spawn`].
    pub fn binary() -> Command {
        Command::new(env!("CARGO_BIN_EXE_preflight"))
    }

    /// What it wrote on standard error so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET `path`: (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        let (code, _, body) = self.get_typed(path);
        (code, body)
    }

    /// GET `path`: (status, content type, body).
    pub fn get_typed(&self, path: &str) -> (u16, String, String) {
        exchange(
            &self.addr,
            &format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
        )
    }

    /// GET `path` with a bearer token: (status, body).
    pub fn get_auth(&self, path: &str, token: &str) -> (u16, String) {
        http(
            &self.addr,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
            ),
        )
    }

    /// Waits up to [`Daemon::patience`] until `f` holds for a response of `path`.
    pub fn wait_for(&self, path: &str, what: &str, f: impl Fn(u16, &str) -> bool) -> String {
        self.wait_within(path, what, self.patience, f)
    }

    /// Waits up to `deadline` until `f` holds for a response of `path`.
    pub fn wait_within(
        &self,
        path: &str,
        what: &str,
        deadline: Duration,
        f: impl Fn(u16, &str) -> bool,
    ) -> String {
        let started = Instant::now();
        loop {
            let (code, body) = self.get(path);
            if f(code, &body) {
                return body;
            }
            assert!(
                started.elapsed() < deadline,
                "waited {deadline:?} for {what} on {path}; last {code}: {body}\nlog: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Sends a signal (`HUP`, `TERM`).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }

    /// SIGTERM, and the daemon is gone, successfully, within `deadline`.
    pub fn stop_within(mut self, deadline: Duration) {
        self.signal("TERM");
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "daemon exited {status}: {}", self.log());
                return;
            }
            assert!(
                started.elapsed() < deadline,
                "the daemon ignored SIGTERM for {deadline:?}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 exchange over a fresh connection: (status, body); (0, "") when the server
/// cannot be reached or does not answer within 10 s.
pub fn http(addr: &str, request: &str) -> (u16, String) {
    let (code, _, body) = exchange(addr, request);
    (code, body)
}

/// One exchange: (status, content type, body).
fn exchange(addr: &str, request: &str) -> (u16, String, String) {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return (0, String::new(), String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    if s.write_all(request.as_bytes()).is_err() {
        return (0, String::new(), String::new());
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let ctype = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    (code, ctype, body.to_string())
}

/// The value of a Prometheus series (`name{labels}`) in an exposition.
pub fn gauge(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
