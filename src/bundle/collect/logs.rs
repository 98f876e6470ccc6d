//! A container's output: its json-file log read from its files when the engine is local,
//! else through the Engine API, cut to the newest bytes either way.

use std::path::{Path, PathBuf};

use bollard::Docker;
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::spool::private_file;
use super::{LogAccess, LogRoute, LogSource, Spool, Spooled, Window};

/// A container's log for the window, as `docker/NAME/logs.txt`: from its json-file log files
/// when it can ([`json_file`](crate::facts::docker::json_file)), else through the Engine API; the same
/// bytes either way, and the manifest says which way and why.
#[allow(clippy::too_many_arguments)]
pub(super) async fn logs(
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
pub(super) fn json_file_log(
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
pub(super) fn read_json_file(
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
pub(super) async fn api_logs(
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
pub(super) fn tail_lines(bytes: &[u8], n: usize) -> Vec<u8> {
    let lines: Vec<&[u8]> = bytes.split(|c| *c == b'\n').collect();
    lines[lines.len().saturating_sub(n + 1)..].join(&b'\n')
}

/// Keeps the last `max` bytes of a file.
pub(super) fn keep_tail(path: &Path, max: u64) -> std::io::Result<()> {
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
