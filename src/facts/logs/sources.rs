//! Reading the sources on this host: the kernel's ring buffer (`/dev/kmsg`), each container's
//! output (its json-file log read from its files when the engine is local, else through the
//! API), files inside it and its OOM-kill state; each cut to its newest bytes.

use time::OffsetDateTime;

use super::LogSource;
use super::scanner::rfc3339;
use crate::facts::docker::containers::{ContainerFacts, Role};

/// The newest `max` bytes of `bytes`, from a line start; a note when older bytes were cut.
pub(super) fn newest(mut bytes: Vec<u8>, max: usize) -> (Vec<u8>, Option<String>) {
    if bytes.len() <= max {
        return (bytes, None);
    }
    let cut = bytes.len() - max;
    let start = memchr::memchr(b'\n', &bytes[cut..]).map_or(cut, |i| cut + i + 1);
    let total = bytes.len();
    bytes.drain(..start);
    (
        bytes,
        Some(format!(
            "only the newest {max} of {total} bytes were scanned"
        )),
    )
}

/// Reads the kernel's log from `/dev/kmsg` without blocking: every record still in the ring
/// buffer after the last `dmesg --clear`, each as `RFC3339 message` (its monotonic time placed
/// on the wall clock).
///
/// # Errors
///
/// `/dev/kmsg` cannot be opened (no permission: reading it needs `CAP_SYSLOG` or root, or
/// `kernel.dmesg_restrict=0`) or a read fails other than at the end of the buffer.
pub fn read_kmsg(max: usize) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")
        .map_err(|e| format!("cannot open /dev/kmsg: {e}"))?;
    // Start after the last `dmesg --clear`, as dmesg itself does (SEEK_DATA on /dev/kmsg is
    // "the first record after the clear point", Documentation/ABI/testing/dev-kmsg).
    let _ = rustix::fs::seek(&f, rustix::fs::SeekFrom::Data(0));
    let now = OffsetDateTime::now_utc();
    let mono = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let mono_us = i128::from(mono.tv_sec) * 1_000_000 + i128::from(mono.tv_nsec) / 1_000;
    let mut out = Vec::new();
    let mut record = vec![0u8; 8192];
    loop {
        match f.read(&mut record) {
            Ok(0) => break,
            Ok(n) => {
                let rec = &record[..n];
                let Some(semi) = memchr::memchr(b';', rec) else {
                    continue;
                };
                let fields: Vec<&[u8]> = rec[..semi].split(|b| *b == b',').collect();
                let usec = fields
                    .get(2)
                    .and_then(|f| std::str::from_utf8(f).ok())
                    .and_then(|f| f.parse::<i128>().ok())
                    .unwrap_or(mono_us);
                let at = now - time::Duration::microseconds((mono_us - usec).max(0) as i64);
                let msg = rec[semi + 1..]
                    .split(|b| *b == b'\n')
                    .next()
                    .unwrap_or_default();
                out.extend_from_slice(rfc3339(at).as_bytes());
                out.push(b' ');
                out.extend_from_slice(msg);
                out.push(b'\n');
            }
            // EAGAIN: the end of the buffer. EPIPE: a record was overwritten while reading;
            // the next read continues with the oldest one left.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(e) => return Err(format!("cannot read /dev/kmsg: {e}")),
        }
    }
    Ok(newest(out, max).0)
}

pub(super) fn container_kind(source: LogSource) -> &'static str {
    match source {
        LogSource::Webapp | LogSource::WebLog | LogSource::LighttpdError => "webapp",
        LogSource::Database => "database",
        _ => "coreapp",
    }
}

/// The containers a source is read from.
pub(super) async fn source_containers(
    docker: &bollard::Docker,
    source: LogSource,
    containers: &[ContainerFacts],
) -> Vec<String> {
    let of = |role: Role| -> Vec<String> {
        containers
            .iter()
            .filter(|c| c.role == role)
            .map(|c| c.name.clone())
            .collect()
    };
    match source {
        LogSource::Coreapp | LogSource::CoreappCrash => of(Role::Coreapp),
        LogSource::Webapp | LogSource::WebLog | LogSource::LighttpdError => of(Role::Webapp),
        LogSource::DockerState => containers.iter().map(|c| c.name.clone()).collect(),
        LogSource::Database => {
            let list = docker
                .list_containers(None::<bollard::query_parameters::ListContainersOptions>)
                .await
                .unwrap_or_default();
            list.into_iter()
                .filter(|c| {
                    c.image
                        .as_deref()
                        .is_some_and(crate::facts::docker::containers::is_database_image)
                })
                .filter_map(|c| {
                    c.names
                        .and_then(|n| n.first().map(|n| n.trim_start_matches('/').to_string()))
                })
                .collect()
        }
        LogSource::Kernel => Vec::new(),
    }
}

/// The newest `max` bytes since `since` of a container's json-file log, read from its files
/// (rotated ones too) as `docker logs --timestamps` prints them; `None` when it is not a
/// readable json-file log.
pub(super) async fn json_file_newest(
    docker: &bollard::Docker,
    name: &str,
    since: OffsetDateTime,
    max: usize,
) -> Option<Vec<u8>> {
    use crate::facts::docker::json_file;
    let inspect = docker.inspect_container(name, None).await.ok()?;
    let (path, max_file) = json_file::log_file_of(&inspect).ok()?;
    let since = since.unix_timestamp();
    tokio::task::spawn_blocking(move || {
        let scratch = tempfile::tempdir().ok()?;
        let window = json_file::Window::from_secs(Some(since), None);
        let log = json_file::open(&path, max_file, window.since_ns, scratch.path()).ok()?;
        let mut out = Vec::new();
        log.read(&window, max as u64, &mut out, scratch.path())
            .ok()?;
        Some(out)
    })
    .await
    .ok()?
}

/// One container's part of a source: its output since `since`, a file inside it, or its
/// state line. `None` when there is nothing of that kind (no crash logs). `local`: the engine
/// is on this host, so its log files are too.
pub(super) async fn read_container_source(
    docker: &bollard::Docker,
    local: bool,
    name: &str,
    source: LogSource,
    since: OffsetDateTime,
    max: usize,
) -> Result<Option<(Vec<u8>, Option<String>)>, String> {
    use futures_util::StreamExt;
    match source {
        LogSource::Coreapp | LogSource::Webapp | LogSource::Database => {
            // A local json-file log is read from its files at disk speed (the bytes the API
            // would send); the API, which streams a few MB/s, only for anything else.
            if local && let Some(bytes) = json_file_newest(docker, name, since, max).await {
                return Ok(Some(newest(bytes, max)));
            }
            // Only about as many of the newest lines as `max` holds.
            let tail = (max / 64).max(1000).to_string();
            let opts = bollard::query_parameters::LogsOptionsBuilder::default()
                .stdout(true)
                .stderr(true)
                .timestamps(true)
                .tail(&tail)
                .since(i32::try_from(since.unix_timestamp()).unwrap_or(0))
                .build();
            let mut stream = docker.logs(name, Some(opts));
            let mut bytes = Vec::new();
            let mut note = None;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| format!("logs: {e}"))?;
                bytes.extend_from_slice(&chunk.into_bytes());
                if bytes.len() > max * 2 {
                    let (kept, n) = newest(std::mem::take(&mut bytes), max);
                    bytes = kept;
                    note = n;
                }
            }
            let (bytes, n) = newest(bytes, max);
            Ok(Some((bytes, n.or(note))))
        }
        LogSource::CoreappCrash | LogSource::WebLog | LogSource::LighttpdError => {
            let (path, suffix) = match source {
                LogSource::CoreappCrash => ("/usr/local/waent/logs", "-crash.log"),
                LogSource::WebLog => ("/var/log/whatsapp/web.log", ""),
                _ => ("/var/log/lighttpd/error.log", ""),
            };
            let opts = bollard::query_parameters::DownloadFromContainerOptionsBuilder::default()
                .path(path)
                .build();
            let mut stream = docker.download_from_container(name, Some(opts));
            let mut tar_bytes = Vec::new();
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(b) => tar_bytes.extend_from_slice(&b),
                    // Not there: nothing of this kind in this container.
                    Err(e)
                        if e.to_string().contains("404") || e.to_string().contains("No such") =>
                    {
                        return Ok(None);
                    }
                    Err(e) => return Err(format!("{path}: {e}")),
                }
                if tar_bytes.len() > max * 8 {
                    return Err(format!("{path} is larger than {} bytes", max * 8));
                }
            }
            let mut out = Vec::new();
            let mut archive = tar::Archive::new(tar_bytes.as_slice());
            let entries = archive.entries().map_err(|e| format!("{path}: {e}"))?;
            for entry in entries {
                let mut entry = entry.map_err(|e| format!("{path}: {e}"))?;
                let inner = entry
                    .path()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if !entry.header().entry_type().is_file() || !inner.ends_with(suffix) {
                    continue;
                }
                std::io::Read::read_to_end(&mut entry, &mut out)
                    .map_err(|e| format!("{path}: {e}"))?;
                if !out.ends_with(b"\n") {
                    out.push(b'\n');
                }
            }
            let (bytes, note) = newest(out, max);
            Ok(Some((bytes, note)))
        }
        LogSource::DockerState => {
            let inspect = docker
                .inspect_container(name, None)
                .await
                .map_err(|e| format!("inspect: {e}"))?;
            let state = inspect.state.unwrap_or_default();
            if state.oom_killed != Some(true) {
                return Ok(Some((Vec::new(), None)));
            }
            let at = state
                .finished_at
                .filter(|t| !t.starts_with("0001-"))
                .unwrap_or_else(|| rfc3339(OffsetDateTime::now_utc()));
            Ok(Some((state_line(&at, name).into_bytes(), None)))
        }
        LogSource::Kernel => Ok(None),
    }
}

/// The line a container's OOM-kill state becomes, live and from a bundle's `inspect.json`.
pub(super) fn state_line(at: &str, name: &str) -> String {
    format!(
        "{at} container {name} was killed by the kernel's OOM killer (docker inspect: State.OOMKilled true)\n"
    )
}

/// The newest `max` bytes of a file read whole, from a line start.
pub fn keep_newest(bytes: Vec<u8>, max: usize) -> Vec<u8> {
    newest(bytes, max).0
}
