//! A FAKE Docker Engine API server on a unix socket, for what no real engine here can show:
//! other versions (17.12.1-ce, 18.03, 19.03.7, 18.04.0-ce, 18.09.1), Docker Desktop and older
//! desktop builds, Podman's Docker-compatible API, a WSL
//! kernel, garbage answers, slow answers and a socket that closes on connect. It answers
//! just enough of `/_ping`, `/version`, `/info` and `/containers/json` for the gatherer.

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::Duration;

/// How the fake behaves.
#[derive(Clone)]
pub enum Mode {
    /// A well-formed engine with these `/version` and `/info` bodies.
    Engine { version: String, info: String },
    /// HTTP 200 with a body that is not JSON.
    Garbage,
    /// Waits this long before answering anything.
    Slow(Duration),
    /// Accepts and closes at once.
    Close,
}

impl Mode {
    /// An engine reporting `version` on a Linux host with default seccomp.
    pub fn engine(version: &str) -> Mode {
        Mode::engine_with(version, "Ubuntu 18.04.6 LTS", "4.15.0-213-generic")
    }

    pub fn engine_with(version: &str, operating_system: &str, kernel: &str) -> Mode {
        Mode::Engine {
            version: serde_json::json!({
                "Version": version, "ApiVersion": "1.40", "Os": "linux", "Arch": "amd64",
                "KernelVersion": kernel
            })
            .to_string(),
            info: serde_json::json!({
                "OperatingSystem": operating_system, "OSType": "linux", "KernelVersion": kernel,
                "Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"]],
                "DockerRootDir": "/var/lib/docker", "CgroupDriver": "cgroupfs",
                "CgroupVersion": "1", "SecurityOptions": ["name=seccomp,profile=default"],
                "LiveRestoreEnabled": false
            })
            .to_string(),
        }
    }
}

/// A running fake; the socket is removed when it is dropped.
pub struct FakeDocker {
    pub socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl FakeDocker {
    pub fn start(mode: Mode) -> FakeDocker {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("fake-docker.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mode = mode.clone();
                std::thread::spawn(move || serve(&mut conn, &mode));
            }
        });
        FakeDocker { socket, _dir: dir }
    }

    /// `unix://…` for `--docker-host`.
    pub fn url(&self) -> String {
        format!("unix://{}", self.socket.display())
    }
}

fn serve(conn: &mut std::os::unix::net::UnixStream, mode: &Mode) {
    if let Mode::Close = mode {
        return;
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    // bollard may prefix a version (/v1.41/info); strip it and the query.
    let path = path.split('?').next().unwrap_or("/");
    let path = match path.strip_prefix("/v1.") {
        Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => path,
    };
    let (status, body) = match mode {
        Mode::Slow(d) => {
            std::thread::sleep(*d);
            ("200 OK", "{}".to_string())
        }
        Mode::Garbage => (
            "200 OK",
            "<html>this is not the Docker API</html>".to_string(),
        ),
        Mode::Engine { version, info } => match path {
            "/_ping" => ("200 OK", "OK".to_string()),
            "/version" => ("200 OK", version.clone()),
            "/info" => ("200 OK", info.clone()),
            "/containers/json" => ("200 OK", "[]".to_string()),
            _ => (
                "404 Not Found",
                r#"{"message":"not in the fake"}"#.to_string(),
            ),
        },
        Mode::Close => return,
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.write_all(response.as_bytes());
}
