//! Collectors: each gathers raw material into a spool file in a private temp folder, under its
//! own deadline. A collector that fails or times out is recorded; the others go on.

use std::path::PathBuf;
use std::time::{Duration, Instant};

mod container;
mod engine;
mod host;
mod logs;
mod spool;

pub use container::{ContainerKind, LogAccess, Window, container, is_database_image};
pub use engine::docker_engine;
pub use host::host;
pub use logs::tail_estimate;
pub use spool::Spool;

/// One file meant for the bundle, spooled raw (not yet redacted).
#[derive(Debug, Clone)]
pub struct Spooled {
    /// Path inside the bundle's top folder (`docker/wa_coreapp_1/logs.txt`).
    pub path: String,
    /// The collector that made it.
    pub producer: String,
    /// The spool file holding the raw bytes (private, removed with the [`Spool`]).
    pub file: PathBuf,
    /// Set when the source was already cut while collecting (only its newest part fetched).
    pub cut_at_source: Option<String>,
    /// For a container log: where it was read from, and why.
    pub log_source: Option<LogSource>,
}

/// Where a container log was read from (recorded in the manifest).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogSource {
    /// `json-file`: the log files read from disk; `engine-api`: streamed by dockerd.
    pub via: String,
    /// Why this way (the log driver, the file that could not be read, the operator's choice).
    pub reason: String,
    /// The files read, oldest first (empty through the API).
    pub files: Vec<String>,
}

/// How `preflight bundle` reads container logs (`--container-logs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogRoute {
    /// From the json-file log files when the engine is local and they are readable, else
    /// through the Engine API.
    #[default]
    Auto,
    /// Always through the Engine API.
    Api,
}

/// What a collector ended with.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CollectorOutcome {
    /// The collector (`host`, `docker`, `container wa_coreapp_1`).
    pub name: String,
    /// `ok`, `failed` or `timeout`.
    pub status: String,
    /// Why it failed or timed out; None when it succeeded.
    pub error: Option<String>,
    /// How many files it spooled.
    pub files: usize,
    /// How long it ran, in milliseconds.
    pub duration_ms: u64,
}

/// Runs `fut` as collector `name` under `deadline`, recording its outcome.
pub async fn run<F>(name: &str, deadline: Duration, fut: F) -> (Vec<Spooled>, CollectorOutcome)
where
    F: std::future::Future<Output = Result<Vec<Spooled>, String>>,
{
    let started = Instant::now();
    let (files, status, error) = match tokio::time::timeout(deadline, fut).await {
        Ok(Ok(files)) => (files, "ok", None),
        Ok(Err(e)) => (Vec::new(), "failed", Some(e)),
        Err(_) => (
            Vec::new(),
            "timeout",
            Some(format!("did not finish within {} s", deadline.as_secs())),
        ),
    };
    let outcome = CollectorOutcome {
        name: name.to_string(),
        status: status.to_string(),
        error,
        files: files.len(),
        duration_ms: started.elapsed().as_millis() as u64,
    };
    (files, outcome)
}

/// Output of a command, or why there is none.
///
/// # Errors
///
/// A message when `program` does not finish within `deadline` (it is killed) or cannot be started;
/// a non-zero exit is not an error: its status and stderr follow the output.
pub async fn command(program: &str, args: &[&str], deadline: Duration) -> Result<Vec<u8>, String> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .kill_on_drop(true)
        .stdin(std::process::Stdio::null());
    let out = tokio::time::timeout(deadline, cmd.output())
        .await
        .map_err(|_| format!("{program} did not finish in time"))?
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let mut bytes = out.stdout;
    if !out.status.success() {
        bytes.extend_from_slice(format!("\n[{program} exited with {}]\n", out.status).as_bytes());
        bytes.extend_from_slice(&out.stderr);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::logs::{json_file_log, tail_lines};
    use super::*;

    #[test]
    fn database_images() {
        for db in [
            "mysql:8.0",
            "mariadb:10.11",
            "postgres:13.8",
            "bitnami/postgresql:13",
            "percona:5.7",
            "registry.local:5000/mysql",
        ] {
            assert!(is_database_image(db), "{db}");
        }
        for other in [
            "docker.whatsapp.biz/coreapp:v2",
            "nginx:1.25",
            "mysql-exporter:1",
        ] {
            assert!(!is_database_image(other), "{other}");
        }
    }

    #[test]
    fn which_logs_are_read_from_their_files() {
        use bollard::models::{ContainerInspectResponse, HostConfig, HostConfigLogConfig};
        let inspect = |driver: &str, path: &str, opts: &[(&str, &str)]| ContainerInspectResponse {
            log_path: Some(path.to_string()),
            host_config: Some(HostConfig {
                log_config: Some(HostConfigLogConfig {
                    typ: Some(driver.to_string()),
                    config: Some(
                        opts.iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect(),
                    ),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let local = LogAccess {
            route: LogRoute::Auto,
            endpoint: "unix:///var/run/docker.sock",
        };
        let json = inspect("json-file", "/d/c-json.log", &[("max-file", "5")]);
        assert_eq!(
            json_file_log(&json, local),
            Ok((PathBuf::from("/d/c-json.log"), 5))
        );
        let unrotated = inspect("json-file", "/d/c-json.log", &[]);
        assert_eq!(json_file_log(&unrotated, local).map(|(_, n)| n), Ok(1));
        let why = |i: &ContainerInspectResponse, a: LogAccess<'_>| json_file_log(i, a).unwrap_err();
        assert!(why(&inspect("local", "", &[]), local).contains("\"local\""));
        assert!(why(&inspect("json-file", "", &[]), local).contains("no log file"));
        let remote = LogAccess {
            endpoint: "tcp://10.0.0.5:2376",
            ..local
        };
        assert!(why(&json, remote).contains("tcp://10.0.0.5:2376"));
        let api = LogAccess {
            route: LogRoute::Api,
            ..local
        };
        assert!(why(&json, api).contains("--container-logs api"));
    }

    #[test]
    fn tails() {
        assert_eq!(tail_lines(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(tail_lines(b"a\nb", 5), b"a\nb");
    }
}
