//! The container collector: inspect, logs and the files fetched from inside a coreapp,
//! webapp or database container through the archive API.

use std::collections::HashMap;
use std::path::Path;

use bollard::Docker;
use bollard::query_parameters::DownloadFromContainerOptionsBuilder;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::logs::logs;
use super::spool::private_file;
use super::{LogRoute, Spool, Spooled};

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

/// Files from inside a container through the archive API (no exec, no CLI). For a folder,
/// only entries ending in `suffix` are kept.
pub(super) async fn archive(
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
