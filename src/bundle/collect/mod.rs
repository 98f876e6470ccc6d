//! Collectors: each gathers raw material into a spool file in a private temp folder, under its
//! own deadline. A collector that fails or times out is recorded; the others go on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::{DownloadFromContainerOptionsBuilder, LogsOptionsBuilder};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

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

/// Creates (or truncates) a spool file readable by its owner only (0600): spool files hold
/// raw, unredacted material.
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

/// Where collectors put their spool files.
pub struct Spool {
    dir: tempfile::TempDir,
    counter: std::sync::atomic::AtomicUsize,
}

impl Spool {
    /// Makes a private (0700) temp folder for the spool files, removed when the spool is dropped.
    ///
    /// # Errors
    ///
    /// The temp folder cannot be created.
    pub fn new() -> std::io::Result<Spool> {
        // Raw material may hold secrets: the folder is private (0700) and removed on drop.
        let dir = tempfile::Builder::new()
            .prefix("wa-preflight-bundle-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()?;
        Ok(Spool {
            dir,
            counter: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    fn next_path(&self) -> PathBuf {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.dir.path().join(format!("{n:05}"))
    }

    /// Spools bytes held in memory.
    ///
    /// # Errors
    ///
    /// Creating or writing the spool file failed.
    pub fn bytes(&self, path: &str, producer: &str, bytes: &[u8]) -> std::io::Result<Spooled> {
        let file = self.next_path();
        std::io::Write::write_all(&mut private_file(&file)?, bytes)?;
        Ok(Spooled {
            path: path.to_string(),
            producer: producer.to_string(),
            file,
            cut_at_source: None,
            log_source: None,
        })
    }

    /// Copies a host file (streamed: logs can be large). Follows no symlink loop forever: the
    /// kernel's ELOOP is reported as the reason.
    ///
    /// # Errors
    ///
    /// A message naming `source` when it is not a regular file, cannot be opened or read (ELOOP for
    /// a symlink loop), or the spool file cannot be written.
    pub fn host_file(
        &self,
        path: &str,
        producer: &str,
        source: &Path,
        max: u64,
    ) -> Result<Spooled, String> {
        use std::io::Read;
        let Some(f) = crate::input::open_regular(source, "file").map_err(|e| e.to_string())? else {
            return self
                .bytes(path, producer, b"")
                .map_err(|e| format!("cannot spool {}: {e}", source.display()));
        };
        let meta = f
            .metadata()
            .map_err(|e| format!("{}: {e}", source.display()))?;
        let mut reader = std::io::BufReader::new(f);
        {
            use std::io::BufRead;
            let head = reader
                .fill_buf()
                .map_err(|e| format!("cannot read {}: {e}", source.display()))?;
            if let Some(format) = crate::compressed::sniff(head) {
                return self.decompressed(path, producer, source, reader, format, max);
            }
        }
        let file = self.next_path();
        let mut out = private_file(&file).map_err(|e| e.to_string())?;
        // Keep at most the newest `max` bytes worth reading: skip ahead on large files.
        if meta.len() > max {
            use std::io::Seek;
            reader
                .seek(std::io::SeekFrom::Start(meta.len() - max))
                .map_err(|e| format!("{}: {e}", source.display()))?;
        }
        std::io::copy(&mut reader.by_ref().take(max), &mut out)
            .map_err(|e| format!("cannot read {}: {e}", source.display()))?;
        Ok(Spooled {
            path: path.to_string(),
            producer: producer.to_string(),
            file,
            cut_at_source: (meta.len() > max)
                .then(|| format!("only the newest {max} of {} bytes were read", meta.len())),
            log_source: None,
        })
    }
}

impl Spool {
    /// A compressed host file (`--include /var/log/app.log.gz`), decompressed: redaction and
    /// the leak scan read text, not gzip. At most 40 × `max` bytes may come out of it (more
    /// is refused, as a decompression bomb would be); only the newest part is kept while
    /// reading, as for any large file. Formats other than gzip and zstd are refused.
    fn decompressed(
        &self,
        path: &str,
        producer: &str,
        source: &Path,
        reader: impl std::io::Read,
        format: crate::compressed::Format,
        max: u64,
    ) -> Result<Spooled, String> {
        use std::io::{Read, Write};
        let shown = source.display();
        let mut dec = crate::compressed::decoder(format, reader)
            .map_err(|e| format!("{shown}: {e}; not collected"))?;
        let file = self.next_path();
        let mut out = private_file(&file).map_err(|e| e.to_string())?;
        let cap = max.saturating_mul(40);
        let (mut total, mut in_file, mut dropped) = (0u64, 0u64, false);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match dec.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("cannot decompress {shown}: {e}; not collected")),
            };
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > cap {
                return Err(format!(
                    "{shown} decompresses to more than {cap} bytes; not collected"
                ));
            }
            out.write_all(&buf[..n]).map_err(|e| e.to_string())?;
            in_file += n as u64;
            if in_file > max.saturating_mul(2) {
                out.flush().map_err(|e| e.to_string())?;
                drop(out);
                keep_tail(&file, max).map_err(|e| e.to_string())?;
                out = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&file)
                    .map_err(|e| e.to_string())?;
                in_file = max;
                dropped = true;
            }
        }
        out.flush().map_err(|e| e.to_string())?;
        Ok(Spooled {
            path: crate::compressed::strip_suffix(path).to_string(),
            producer: producer.to_string(),
            file,
            cut_at_source: dropped
                .then(|| format!("decompressed to {total} bytes; only the newest part was kept")),
            log_source: None,
        })
    }
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

/// Host files and command outputs.
///
/// # Errors
///
/// Only when a spool file cannot be written; a host file or command that fails is spooled as a
/// `NAME.error` file saying why.
pub async fn host(
    spool: &Spool,
    max: u64,
    deadline: Duration,
    since: Option<i64>,
) -> Result<Vec<Spooled>, String> {
    let mut files = Vec::new();
    let producer = "host";
    for (name, source) in [
        ("host/os-release", "/etc/os-release"),
        ("host/cmdline", "/proc/cmdline"),
        ("host/meminfo", "/proc/meminfo"),
        ("host/mounts", "/proc/self/mountinfo"),
    ] {
        match spool.host_file(name, producer, Path::new(source), max) {
            Ok(f) => files.push(f),
            Err(e) => files.push(
                spool
                    .bytes(&format!("{name}.error"), producer, e.as_bytes())
                    .map_err(|e| e.to_string())?,
            ),
        }
    }
    let u = rustix::system::uname();
    let uname = format!(
        "{} {} {} {} {}\n",
        u.sysname().to_string_lossy(),
        u.nodename().to_string_lossy(),
        u.release().to_string_lossy(),
        u.version().to_string_lossy(),
        u.machine().to_string_lossy()
    );
    files.push(
        spool
            .bytes("host/uname", producer, uname.as_bytes())
            .map_err(|e| e.to_string())?,
    );
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let count = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    files.push(
        spool
            .bytes(
                "host/cpuinfo-summary",
                producer,
                format!("{count} x {model}\n").as_bytes(),
            )
            .map_err(|e| e.to_string())?,
    );
    let since_arg = since.map(|s| format!("@{s}"));
    let mut commands: Vec<(&str, &str, Vec<&str>)> = vec![
        ("host/df", "df", vec!["-h"]),
        (
            "host/block-devices",
            "lsblk",
            vec!["-o", "NAME,SIZE,ROTA,TYPE,MOUNTPOINT,MODEL"],
        ),
        ("host/dmesg-tail", "dmesg", vec!["-T"]),
        ("host/clock", "timedatectl", vec!["status"]),
    ];
    if let Some(s) = &since_arg {
        commands.push((
            "host/journal-docker",
            "journalctl",
            vec!["-u", "docker.service", "--no-pager", "--since", s],
        ));
    } else {
        commands.push((
            "host/journal-docker",
            "journalctl",
            vec!["-u", "docker.service", "--no-pager", "-n", "2000"],
        ));
    }
    for (name, program, args) in commands {
        let bytes = match command(program, &args, deadline).await {
            Ok(b) if name == "host/dmesg-tail" => tail_lines(&b, 300),
            Ok(b) => b,
            Err(e) => format!("[not collected: {e}]\n").into_bytes(),
        };
        files.push(
            spool
                .bytes(name, producer, &bytes)
                .map_err(|e| e.to_string())?,
        );
    }
    // The kernel's whole ring buffer, each line with its wall-clock time: what the log
    // signatures judge live, so a bundle judged elsewhere sees the same lines.
    let kmsg = tokio::task::spawn_blocking(|| crate::facts::logs::read_kmsg(16 << 20))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
    let bytes = kmsg.unwrap_or_else(|e| format!("[not collected: {e}]\n").into_bytes());
    files.push(
        spool
            .bytes("host/kmsg.log", producer, &bytes)
            .map_err(|e| e.to_string())?,
    );
    Ok(files)
}

/// Docker engine version, info and daemon.json.
///
/// # Errors
///
/// A message naming the Engine API request (`GET /version`, `GET /info`) that failed, or why
/// `daemon.json` or a spool file could not be written.
pub async fn docker_engine(
    spool: &Spool,
    docker: &Docker,
    daemon_json: &Path,
    max: u64,
) -> Result<Vec<Spooled>, String> {
    let producer = "docker";
    let version = docker
        .version()
        .await
        .map_err(|e| format!("GET /version: {e}"))?;
    let info = docker.info().await.map_err(|e| format!("GET /info: {e}"))?;
    let mut files = vec![
        spool
            .bytes(
                "docker/version.json",
                producer,
                &serde_json::to_vec_pretty(&version).unwrap_or_default(),
            )
            .map_err(|e| e.to_string())?,
        spool
            .bytes(
                "docker/info.json",
                producer,
                &serde_json::to_vec_pretty(&info).unwrap_or_default(),
            )
            .map_err(|e| e.to_string())?,
    ];
    if daemon_json.exists() {
        files.push(spool.host_file("docker/daemon.json", producer, daemon_json, max)?);
    }
    Ok(files)
}

/// What a collected container is, which decides the files fetched from inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    /// Crash logs under /usr/local/waent/logs.
    Coreapp,
    /// web.log and lighttpd's error.log.
    Webapp,
    /// A database container beside the client: inspect and logs only.
    Database,
}

pub use crate::facts::docker::containers::is_database_image;

/// Time window of container logs.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Start of the window, Unix seconds; None: from the start of the log.
    pub since: Option<i64>,
    /// End of the window, Unix seconds; None: up to now.
    pub until: Option<i64>,
}

/// How container logs may be read: the operator's choice and the engine's endpoint
/// (`unix:///var/run/docker.sock`, `tcp://…`).
#[derive(Debug, Clone, Copy)]
pub struct LogAccess<'a> {
    /// Whether to read the json-file log files or always go through the Engine API.
    pub route: LogRoute,
    /// The engine's endpoint; json-file files are read only when it is a local unix socket.
    pub endpoint: &'a str,
}

/// One container: inspect, logs in the window, and the files the client writes inside it.
///
/// # Errors
///
/// A message when inspecting the container fails or its spool files cannot be written; files that
/// cannot be fetched from inside it are recorded as such, not returned as errors.
pub async fn container(
    spool: &Spool,
    docker: &Docker,
    name: &str,
    kind: ContainerKind,
    window: Window,
    max: u64,
    access: LogAccess<'_>,
) -> Result<Vec<Spooled>, String> {
    let producer = format!("container {name}");
    let inspect = docker
        .inspect_container(name, None)
        .await
        .map_err(|e| format!("inspect {name}: {e}"))?;
    let mut files = vec![
        spool
            .bytes(
                &format!("docker/{name}/inspect.json"),
                &producer,
                &serde_json::to_vec_pretty(&inspect).unwrap_or_default(),
            )
            .map_err(|e| e.to_string())?,
    ];
    files.push(
        logs(
            spool, docker, name, &inspect, window, max, access, &producer,
        )
        .await?,
    );
    let wanted: Vec<(&str, &str)> = match kind {
        ContainerKind::Coreapp => vec![("/usr/local/waent/logs", "-crash.log")],
        ContainerKind::Webapp => vec![
            ("/var/log/whatsapp/web.log", ""),
            ("/var/log/lighttpd/error.log", ""),
        ],
        ContainerKind::Database => Vec::new(),
    };
    for (path, suffix) in wanted {
        match archive(spool, docker, name, path, suffix, max, &producer).await {
            Ok(mut f) => files.append(&mut f),
            Err(e) => files.push(
                spool
                    .bytes(
                        &format!(
                            "docker/{name}/{}.error",
                            path.trim_start_matches('/').replace('/', "_")
                        ),
                        &producer,
                        e.as_bytes(),
                    )
                    .map_err(|e| e.to_string())?,
            ),
        }
    }
    Ok(files)
}

/// A container's log for the window, as `docker/NAME/logs.txt`: from its json-file log files
/// when it can ([`json_file`](crate::facts::docker::json_file)), else through the Engine API; the same
/// bytes either way, and the manifest says which way and why.
#[allow(clippy::too_many_arguments)]
async fn logs(
    spool: &Spool,
    docker: &Docker,
    name: &str,
    inspect: &bollard::models::ContainerInspectResponse,
    window: Window,
    max: u64,
    access: LogAccess<'_>,
    producer: &str,
) -> Result<Spooled, String> {
    let path = format!("docker/{name}/logs.txt");
    let reason = match json_file_log(inspect, access) {
        Ok((log_file, max_file)) => {
            let out = spool.next_path();
            let scratch = out
                .parent()
                .map(Path::to_path_buf)
                .ok_or("the spool file has no folder")?;
            let read = {
                let out = out.clone();
                let log_file = log_file.clone();
                tokio::task::spawn_blocking(move || {
                    read_json_file(&log_file, max_file, window, max, &out, &scratch)
                })
                .await
            };
            match read {
                Ok(Ok(outcome)) => {
                    return Ok(Spooled {
                        path,
                        producer: producer.to_string(),
                        file: out,
                        cut_at_source: outcome.cut.then(|| {
                            format!(
                                "only the newest {} bytes of the window were read from the \
                                 json-file log",
                                outcome.written
                            )
                        }),
                        log_source: Some(LogSource {
                            via: "json-file".into(),
                            reason: "json-file log driver; its files are readable on this host"
                                .into(),
                            files: outcome.files,
                        }),
                    });
                }
                Ok(Err(e)) => {
                    let _ = std::fs::remove_file(&out);
                    tracing::warn!(container = name, error = %e, "reading the log file failed; using the Engine API");
                    format!("reading {} failed: {e}", log_file.display())
                }
                Err(e) => format!("the log file reader stopped: {e}"),
            }
        }
        Err(reason) => reason,
    };
    let source = LogSource {
        via: "engine-api".into(),
        reason,
        files: Vec::new(),
    };
    match api_logs(spool, docker, name, inspect, window, max).await {
        Ok((file, cut_at_source)) => Ok(Spooled {
            path,
            producer: producer.to_string(),
            file,
            cut_at_source,
            log_source: Some(source),
        }),
        // A driver that keeps nothing (`none`) or a log the engine cannot read: say so in
        // the bundle and keep the container's other files.
        Err(e) => {
            let mut f = spool
                .bytes(&format!("docker/{name}/logs.error"), producer, e.as_bytes())
                .map_err(|e| e.to_string())?;
            f.log_source = Some(source);
            Ok(f)
        }
    }
}

/// The container's json-file log and its `max-file` option, or why it is read through the
/// Engine API instead.
fn json_file_log(
    inspect: &bollard::models::ContainerInspectResponse,
    access: LogAccess<'_>,
) -> Result<(PathBuf, u32), String> {
    if access.route == LogRoute::Api {
        return Err("--container-logs api".into());
    }
    if !access.endpoint.starts_with("unix://") {
        return Err(format!(
            "the engine is reached at {}: its log files are not on this host",
            access.endpoint
        ));
    }
    crate::facts::docker::json_file::log_file_of(inspect)
}

/// Reads the window of a json-file log into `out`: at least twice `max` bytes of its newest
/// entries (the bundle then keeps `max` of them, after redaction), or all of it.
fn read_json_file(
    log_file: &Path,
    max_file: u32,
    window: Window,
    max: u64,
    out: &Path,
    scratch: &Path,
) -> Result<crate::facts::docker::json_file::Outcome, crate::facts::docker::json_file::ReadError> {
    use crate::facts::docker::json_file::{self, ReadError};
    let w = json_file::Window::from_secs(window.since, window.until);
    let log = json_file::open(log_file, max_file, w.since_ns, scratch)?;
    let io = |e: std::io::Error| ReadError::Io {
        path: out.display().to_string(),
        source: e,
    };
    let mut writer =
        std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(out).map_err(io)?);
    let outcome = log.read(&w, max.saturating_mul(2), &mut writer, scratch)?;
    std::io::Write::flush(&mut writer).map_err(io)?;
    Ok(outcome)
}

/// The log for the window through `GET /containers/{name}/logs`, spooled; and, when it was
/// cut while collecting, how.
async fn api_logs(
    spool: &Spool,
    docker: &Docker,
    name: &str,
    inspect: &bollard::models::ContainerInspectResponse,
    window: Window,
    max: u64,
) -> Result<(PathBuf, Option<String>), String> {
    // Logs, streamed to disk: a few GiB of logs must not need as much memory.
    let mut opts = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .timestamps(true);
    // dockerd streams json-file logs at a few MB/s: for a log far over the cap, ask only for
    // about as many of the newest lines as the cap can hold.
    let mut cut_at_source = None;
    if let Some(path) = inspect.log_path.as_deref()
        && let Some(lines) = tail_estimate(Path::new(path), max)
    {
        opts = opts.tail(&lines.to_string());
        let size = std::fs::metadata(path).map_or(0, |m| m.len());
        cut_at_source = Some(format!(
            "only the newest {lines} lines of a {size}-byte container log were asked for"
        ));
    }
    if let Some(s) = window.since {
        opts = opts.since(i32::try_from(s).unwrap_or(i32::MAX));
    }
    if let Some(u) = window.until {
        opts = opts.until(i32::try_from(u).unwrap_or(i32::MAX));
    }
    let log_path = spool.next_path();
    let mut out = tokio::fs::File::from_std(private_file(&log_path).map_err(|e| e.to_string())?);
    let mut stream = docker.logs(name, Some(opts.build()));
    let mut total: u64 = 0;
    let mut truncated_head = false;
    // The API sends one frame per log line: batch them, or millions of small writes (each a
    // trip to tokio's blocking pool) dominate the time.
    let mut batch: Vec<u8> = Vec::with_capacity(1 << 20);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("logs of {name}: {e}"))?;
        let bytes = chunk.into_bytes();
        batch.extend_from_slice(&bytes);
        total += bytes.len() as u64;
        if batch.len() < (1 << 20) {
            continue;
        }
        out.write_all(&batch).await.map_err(|e| e.to_string())?;
        batch.clear();
        // Keep the spool bounded: past 4× the cap, restart from the newest part seen.
        if total > max.saturating_mul(4) {
            out.flush().await.map_err(|e| e.to_string())?;
            drop(out);
            keep_tail(&log_path, max).map_err(|e| e.to_string())?;
            out = tokio::fs::OpenOptions::new()
                .append(true)
                .open(&log_path)
                .await
                .map_err(|e| e.to_string())?;
            total = max;
            truncated_head = true;
        }
    }
    out.write_all(&batch).await.map_err(|e| e.to_string())?;
    out.flush().await.map_err(|e| e.to_string())?;
    if truncated_head && cut_at_source.is_none() {
        cut_at_source = Some(format!(
            "the log was longer than {} bytes; its older part was dropped while collecting",
            max.saturating_mul(4)
        ));
    }
    Ok((log_path, cut_at_source))
}

/// For a container log file much larger than `cap`, how many of its newest lines fill about
/// twice the cap (the json-file format is larger than the text it holds, so this errs long;
/// the final cap trims exactly). None when the whole log is small enough to fetch.
pub fn tail_estimate(log_file: &Path, cap: u64) -> Option<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(log_file).ok()?;
    let len = f.metadata().ok()?.len();
    if len <= cap.saturating_mul(4) {
        return None;
    }
    let sample = 64 * 1024u64;
    f.seek(SeekFrom::Start(len - sample)).ok()?;
    let mut buf = Vec::with_capacity(sample as usize);
    f.take(sample).read_to_end(&mut buf).ok()?;
    let lines = buf.iter().filter(|b| **b == b'\n').count().max(1) as u64;
    let per_line = (sample / lines).max(1);
    Some((cap.saturating_mul(2) / per_line).max(1000))
}

/// The last `n` lines of `bytes`.
fn tail_lines(bytes: &[u8], n: usize) -> Vec<u8> {
    let lines: Vec<&[u8]> = bytes.split(|c| *c == b'\n').collect();
    lines[lines.len().saturating_sub(n + 1)..].join(&b'\n')
}

/// Keeps the last `max` bytes of a file.
fn keep_tail(path: &Path, max: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, Write};
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    if len <= max {
        return Ok(());
    }
    f.seek(std::io::SeekFrom::Start(len - max))?;
    let tmp = path.with_extension("tail");
    let mut out = private_file(&tmp)?;
    std::io::copy(&mut Read::by_ref(&mut f).take(max), &mut out)?;
    out.flush()?;
    std::fs::rename(tmp, path)
}

/// Files from inside a container through the archive API (no exec, no CLI). For a folder,
/// only entries ending in `suffix` are kept.
async fn archive(
    spool: &Spool,
    docker: &Docker,
    name: &str,
    path: &str,
    suffix: &str,
    max: u64,
    producer: &str,
) -> Result<Vec<Spooled>, String> {
    let opts = DownloadFromContainerOptionsBuilder::default()
        .path(path)
        .build();
    let tar_path = spool.next_path();
    let mut out = tokio::fs::File::from_std(private_file(&tar_path).map_err(|e| e.to_string())?);
    let mut stream = docker.download_from_container(name, Some(opts));
    let mut total: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let bytes = chunk.map_err(|e| format!("{path} in {name}: {e}"))?;
        total += bytes.len() as u64;
        if total > max.saturating_mul(8) {
            return Err(format!(
                "{path} in {name} is larger than {} bytes; not collected",
                max * 8
            ));
        }
        out.write_all(&bytes).await.map_err(|e| e.to_string())?;
    }
    out.flush().await.map_err(|e| e.to_string())?;
    drop(out);
    let mut archive = tar::Archive::new(std::fs::File::open(&tar_path).map_err(|e| e.to_string())?);
    let mut files = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for entry in archive
        .entries()
        .map_err(|e| format!("archive of {path}: {e}"))?
    {
        let mut entry = entry.map_err(|e| format!("archive of {path}: {e}"))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let inner = entry
            .path()
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .into_owned();
        if !suffix.is_empty() && !inner.ends_with(suffix) {
            continue;
        }
        let base = Path::new(&inner)
            .file_name()
            .map_or(inner.clone(), |n| n.to_string_lossy().into_owned());
        let n = seen.entry(base.clone()).or_insert(0);
        *n += 1;
        let file = spool.next_path();
        let mut w = private_file(&file).map_err(|e| e.to_string())?;
        std::io::copy(&mut entry, &mut w).map_err(|e| e.to_string())?;
        let shown = if *n > 1 { format!("{base}.{n}") } else { base };
        files.push(Spooled {
            path: format!("docker/{name}/files/{shown}"),
            producer: producer.to_string(),
            file,
            cut_at_source: None,
            log_source: None,
        });
    }
    let _ = std::fs::remove_file(&tar_path);
    Ok(files)
}

#[cfg(test)]
mod tests {
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
