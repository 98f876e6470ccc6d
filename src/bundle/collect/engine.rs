//! The Docker Engine collector: `GET /version`, `GET /info` and `daemon.json`.

use std::path::Path;

use bollard::Docker;

use super::{Spool, Spooled};

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
