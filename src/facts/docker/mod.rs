//! Docker Engine facts, through the Engine API (bollard), never the `docker` CLI.
//!
//! Gathered in two steps so the rest of the facts can use what the engine says: first connect
//! and read `/version` + `/info` (Docker's data root feeds the storage facts), then — while
//! storage is measured — judge the seccomp profile, run the statx probe and describe the
//! WhatsApp containers, each under its own deadline.

pub mod containers;
pub mod engine;
pub mod json_file;
pub mod seccomp_profile;
pub mod statx;

use std::path::PathBuf;
use std::time::Duration;

use bollard::Docker;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Fact;
use containers::{ImagePatterns, WaFacts};
use engine::EngineFacts;
use seccomp_profile::{ProfileVerdict, Target};
use statx::StatxProbe;

/// What the operator chose about Docker.
#[derive(Debug, Clone)]
pub struct DockerOptions {
    /// `--docker-host`, or null for `DOCKER_HOST` / the default socket.
    pub host: Option<String>,
    /// The daemon.json to read (`--daemon-json`, config `docker.daemon_json`; default
    /// `/etc/docker/daemon.json`).
    pub daemon_json: PathBuf,
    /// Image repositories that make a container a coreapp or a webapp.
    pub images: ImagePatterns,
    /// Run the statx container probe.
    pub statx_probe: bool,
    /// Deadline of each API step (connect, version, info, container discovery).
    pub deadline: Duration,
}

impl Default for DockerOptions {
    fn default() -> Self {
        DockerOptions {
            host: None,
            daemon_json: PathBuf::from("/etc/docker/daemon.json"),
            images: ImagePatterns::default(),
            statx_probe: true,
            deadline: Duration::from_secs(5),
        }
    }
}

/// The parts of daemon.json rules care about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DaemonJson {
    /// The file read (or looked for).
    pub path: String,
    /// Whether it exists; a missing daemon.json is normal (no custom settings).
    pub exists: bool,
    /// `seccomp-profile`, when set.
    pub seccomp_profile: Option<String>,
}

/// Everything known about the Docker Engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DockerFacts {
    /// Where the engine was reached (`unix:///var/run/docker.sock`).
    pub endpoint: String,
    /// Version, platform, storage, cgroup and security settings from `/version` and `/info`.
    pub engine: EngineFacts,
    /// `/etc/docker/daemon.json` (or `--daemon-json`); unavailable with `file:line:column` when it
    /// is not JSON.
    pub daemon_json: Fact<DaemonJson>,
    /// The custom seccomp profile's verdict on statx; null when the daemon uses Docker's
    /// built-in default profile.
    pub seccomp_profile: Option<Fact<ProfileVerdict>>,
    /// The executed probe; null when disabled (`--no-statx-probe`).
    pub statx_probe: Option<Fact<StatxProbe>>,
    /// The WhatsApp containers; unavailable when listing or inspecting them failed.
    pub wa: Fact<WaFacts>,
}

impl DockerFacts {
    /// The WhatsApp containers found; none when they could not be listed.
    pub fn wa_containers(&self) -> &[containers::ContainerFacts] {
        self.wa.as_ref().map_or(&[], |w| w.containers.as_slice())
    }
}

/// A connected engine and its self-description: the first step.
pub struct Connected {
    /// The API client, for the later steps.
    pub docker: Docker,
    /// Where the engine answered (`unix:///var/run/docker.sock`, `tcp://host:2375`).
    pub endpoint: String,
    /// What `/version` and `/info` said.
    pub engine: EngineFacts,
}

/// Connects and reads `/version` and `/info`.
///
/// # Errors
///
/// Why the engine cannot be used, in words an operator can act on: no socket, permission denied
/// (naming the group to join), a stale socket, no answer within `opts.deadline`, or an answer that
/// is not the Docker API.
pub async fn connect(opts: &DockerOptions) -> Result<Connected, String> {
    let endpoint = engine::endpoint(opts.host.as_deref());
    let docker = engine::connect(&endpoint, opts.deadline).await?;
    let engine = tokio::time::timeout(opts.deadline, engine::gather(&docker))
        .await
        .map_err(|_| {
            format!(
                "{endpoint} did not answer /version and /info within {} ms",
                opts.deadline.as_millis()
            )
        })??;
    Ok(Connected {
        docker,
        endpoint,
        engine,
    })
}

/// Reads daemon.json (absent is normal: no custom settings).
///
/// # Errors
///
/// A message when the file exists but cannot be read, or is not JSON (with `file:line:column`).
pub fn read_daemon_json(path: &std::path::Path) -> Result<DaemonJson, String> {
    let shown = path.display().to_string();
    let text = match crate::input::read_text(path, "daemon.json", crate::input::TEXT_LIMIT) {
        Ok(t) => t,
        Err(e) if e.is_not_found() => {
            return Ok(DaemonJson {
                path: shown,
                exists: false,
                seccomp_profile: None,
            });
        }
        Err(e) => return Err(e.to_string()),
    };
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{shown}:{}:{}: not valid JSON: {e}", e.line(), e.column()))?;
    Ok(DaemonJson {
        path: shown,
        exists: true,
        seccomp_profile: v
            .get("seccomp-profile")
            .and_then(|p| p.as_str())
            .map(str::to_string),
    })
}

/// Which custom profile applies, and whether only after a restart: the running daemon's own
/// report (`docker info`) says what applies now; a `seccomp-profile` in daemon.json that the
/// running daemon does not report yet applies once dockerd restarts.
fn custom_profile(engine: &EngineFacts, daemon_json: &Fact<DaemonJson>) -> Option<(String, bool)> {
    let builtin = |p: &str| matches!(p, "" | "default" | "builtin");
    if let Some(p) = engine.seccomp_profile.as_deref().filter(|p| !builtin(p)) {
        return Some((p.to_string(), false));
    }
    let configured = daemon_json
        .as_ref()
        .and_then(|d| d.seccomp_profile.clone())
        .filter(|p| !builtin(p))?;
    // A daemon with seccomp off reports no profile at all: what daemon.json says is what it
    // was started with, as far as anyone can tell.
    Some((configured, engine.seccomp))
}

/// The container Docker's profiles are judged for: Docker's default capabilities on the
/// engine's architecture and kernel.
pub fn default_target(engine: &EngineFacts) -> Target {
    let mut t = Target::default_container(engine.kernel.clone());
    if let Some(arch) = engine.arch.as_deref() {
        t.arch = seccomp_profile::docker_arch(arch).to_string();
    }
    t
}

fn judge_profile(path: &str, pending_restart: bool, target: &Target) -> Fact<ProfileVerdict> {
    let verdict = if path == "unconfined" {
        Fact::Available(seccomp_profile::unconfined(path))
    } else {
        match crate::input::read_text(
            std::path::Path::new(path),
            "seccomp profile",
            crate::input::TEXT_LIMIT,
        ) {
            Ok(text) => seccomp_profile::judge(path, &text, target).into(),
            Err(e) => Fact::Unavailable(e.to_string()),
        }
    };
    match verdict {
        Fact::Available(mut v) => {
            v.pending_restart = pending_restart;
            Fact::Available(v)
        }
        other => other,
    }
}

/// The second step: profile, probe and containers, concurrently. Also returns the running
/// coreapp and webapp (in memory only) for the database, network and client checks.
pub async fn describe(
    connected: Connected,
    opts: &DockerOptions,
    collected_at: OffsetDateTime,
) -> (DockerFacts, containers::Peers) {
    let Connected {
        docker,
        endpoint,
        engine,
    } = connected;
    let daemon_json: Fact<DaemonJson> = read_daemon_json(&opts.daemon_json).into();
    let target = default_target(&engine);
    let seccomp_profile = custom_profile(&engine, &daemon_json)
        .map(|(path, pending)| judge_profile(&path, pending, &target));
    let probe = async {
        if !opts.statx_probe {
            return None;
        }
        let run = tokio::time::timeout(statx::PROBE_DEADLINE, statx::run(&docker, None)).await;
        Some(match run {
            Ok(r) => r.into(),
            Err(_) => Fact::Unavailable(format!(
                "the statx probe did not finish within {} s",
                statx::PROBE_DEADLINE.as_secs()
            )),
        })
    };
    let wa = async {
        match tokio::time::timeout(
            opts.deadline,
            containers::gather(&docker, &opts.images, collected_at, &target),
        )
        .await
        {
            Ok(Ok((wa, peers))) => (Fact::Available(wa), peers),
            Ok(Err(e)) => (Fact::Unavailable(e), containers::Peers::default()),
            Err(_) => (
                Fact::Unavailable(format!(
                    "container discovery did not finish within {} ms",
                    opts.deadline.as_millis()
                )),
                containers::Peers::default(),
            ),
        }
    };
    let (statx_probe, (wa, peers)) = tokio::join!(probe, wa);
    let facts = DockerFacts {
        endpoint,
        engine,
        daemon_json,
        seccomp_profile,
        statx_probe,
        wa,
    };
    (facts, peers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_json_cases() {
        let dir = tempfile::tempdir().unwrap();
        let missing = read_daemon_json(&dir.path().join("daemon.json")).unwrap();
        assert!(!missing.exists && missing.seccomp_profile.is_none());
        let p = dir.path().join("d.json");
        std::fs::write(
            &p,
            r#"{"seccomp-profile": "/etc/docker/deny.json", "live-restore": true}"#,
        )
        .unwrap();
        assert_eq!(
            read_daemon_json(&p).unwrap().seccomp_profile.as_deref(),
            Some("/etc/docker/deny.json")
        );
        std::fs::write(&p, "{\n  \"seccomp-profile\": \n").unwrap();
        let e = read_daemon_json(&p).unwrap_err();
        assert!(e.contains("d.json:3:"), "{e}");
    }
}
