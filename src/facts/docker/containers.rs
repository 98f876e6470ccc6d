//! The WhatsApp containers: found by image repository, described from `inspect`.
//!
//! Environment *values* never enter the facts, except a short allow-list of settings that are
//! not secret and that rules judge (`WA_APP_MULTICONNECT`, `WA_DB_ENGINE`, …). Secrets are
//! represented by a fingerprint: a SHA-256 of the value under a random salt made for this run,
//! so two containers' `WA_SECRET` can be compared without the value — or a guessable hash of
//! it — ever being written down.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bollard::Docker;
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::ListContainersOptionsBuilder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Date, OffsetDateTime};

use super::engine::describe;

/// The two WhatsApp container kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Coreapp,
    Webapp,
}

/// Image repositories that identify each role.
#[derive(Debug, Clone)]
pub struct ImagePatterns {
    pub coreapp: Vec<String>,
    pub webapp: Vec<String>,
}

impl Default for ImagePatterns {
    fn default() -> Self {
        ImagePatterns {
            coreapp: vec!["docker.whatsapp.biz/coreapp".to_string()],
            webapp: vec!["docker.whatsapp.biz/web".to_string()],
        }
    }
}

impl ImagePatterns {
    /// The role of an image reference (`docker.whatsapp.biz/web:v2.51.2`), if any. A pattern
    /// matches the repository exactly, or as a path suffix for mirrored registries
    /// (`registry.example.com/mirror/docker.whatsapp.biz/web`).
    pub fn role(&self, image: &str) -> Option<Role> {
        let repo = repository(image);
        let hit = |patterns: &[String]| {
            patterns
                .iter()
                .any(|p| repo == p || repo.ends_with(&format!("/{p}")))
        };
        if hit(&self.coreapp) {
            Some(Role::Coreapp)
        } else if hit(&self.webapp) {
            Some(Role::Webapp)
        } else {
            None
        }
    }
}

/// `registry:5000/a/b:tag@sha256:…` → `registry:5000/a/b`.
pub fn repository(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    match no_digest.rfind(':') {
        Some(i) if !no_digest[i..].contains('/') => &no_digest[..i],
        _ => no_digest,
    }
}

/// `…:v2.51.2` → `v2.51.2`.
pub fn tag(image: &str) -> Option<&str> {
    let no_digest = image.split('@').next().unwrap_or(image);
    let i = no_digest.rfind(':')?;
    (!no_digest[i..].contains('/')).then(|| &no_digest[i + 1..])
}

/// Env vars whose values are safe to show and that rules read.
pub const SHOWN_ENV: &[&str] = &[
    "WA_APP_MULTICONNECT",
    "WA_DB_ENGINE",
    "WA_DB_HOSTNAME",
    "WA_DB_PORT",
    "WA_DB_USERNAME",
    "WA_DB_NAME_PREFIX",
    "WACORE_HOSTNAME",
];

/// The database settings every coreapp and webapp needs.
pub const DB_ENV: &[&str] = &[
    "WA_DB_ENGINE",
    "WA_DB_HOSTNAME",
    "WA_DB_PORT",
    "WA_DB_USERNAME",
    "WA_DB_PASSWORD",
];

/// The documented mount point of the media volume.
pub const MEDIA_PATH: &str = "/usr/local/wamedia";

/// A published port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortFacts {
    pub container_port: u16,
    pub protocol: String,
    pub host_ip: Option<String>,
    pub host_port: Option<String>,
}

/// A mount.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountFacts {
    pub destination: String,
    pub source: Option<String>,
    pub kind: Option<String>,
}

/// One WhatsApp container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerFacts {
    pub name: String,
    pub id: String,
    pub role: Role,
    pub image: String,
    /// The image tag (`v2.51.2`), the client version.
    pub version: Option<String>,
    /// `running`, `exited`, `restarting`, …
    pub state: String,
    pub running: bool,
    pub restarting: bool,
    pub exit_code: Option<i64>,
    pub restart_count: i64,
    pub started_at: Option<String>,
    /// Health-check status (`healthy`, `unhealthy`, `starting`), null without a health check.
    pub health: Option<String>,
    /// Ports with a host binding.
    pub ports: Vec<PortFacts>,
    /// Container ports (tcp) that are published, for simple rules.
    pub published_ports: Vec<u16>,
    pub mounts: Vec<MountFacts>,
    pub mount_destinations: Vec<String>,
    /// The `EXPIRES_ON` label (YYYY-MM-DD): when this client version expires.
    pub expires_on: Option<String>,
    /// Days from the facts' collection time to `expires_on` (negative: expired).
    pub expires_in_days: Option<i64>,
    pub cap_drop: Vec<String>,
    /// Names of all env vars set (values are not recorded).
    pub env_names: Vec<String>,
    /// Values of the non-secret settings in [`SHOWN_ENV`] that are set.
    pub env: BTreeMap<String, String>,
    /// Which of the required database settings are missing.
    pub db_env_missing: Vec<String>,
    /// Salted fingerprint of `WA_SECRET` (comparable within one facts document only).
    pub wa_secret: Option<String>,
}

/// What was found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaFacts {
    pub containers: Vec<ContainerFacts>,
    pub coreapp_count: usize,
    pub webapp_count: usize,
    /// Distinct client versions across the containers.
    pub versions: Vec<String>,
    /// Distinct `WA_SECRET` fingerprints.
    pub wa_secret_fingerprints: Vec<String>,
    /// Containers without `WA_SECRET`.
    pub wa_secret_missing: Vec<String>,
}

/// A salted fingerprint; the salt lives only in this process.
pub fn fingerprint(salt: &[u8], value: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(value.as_bytes());
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The coreapp and webapp to look from: name, PID (when running) and full environment, kept in
/// memory for the database settings, proxies and links (it holds the password) and never
/// serialised.
#[derive(Debug, Clone, Default)]
pub struct Peers {
    pub coreapp: Option<crate::facts::network::Peer>,
    pub webapp: Option<crate::facts::network::Peer>,
}

/// Lists and inspects the WhatsApp containers; also returns the running coreapp and webapp
/// (preferred over stopped ones) for the checks that look from them.
pub async fn gather(
    docker: &Docker,
    patterns: &ImagePatterns,
    collected_at: OffsetDateTime,
) -> Result<(WaFacts, Peers), String> {
    let mut salt = [0u8; 16];
    rustix::rand::getrandom(&mut salt, rustix::rand::GetRandomFlags::empty())
        .map_err(|e| format!("no randomness for secret fingerprints: {e}"))?;
    let list = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::default().all(true).build(),
        ))
        .await
        .map_err(|e| describe("GET /containers/json", &e))?;
    let mut containers = Vec::new();
    let mut peers = Peers::default();
    for summary in list {
        let (Some(id), Some(image)) = (summary.id, summary.image) else {
            continue;
        };
        let Some(role) = patterns.role(&image) else {
            continue;
        };
        match docker.inspect_container(&id, None).await {
            Ok(inspect) => {
                let facts = container_facts(&inspect, &image, role, &salt, collected_at);
                let slot = match role {
                    Role::Coreapp => &mut peers.coreapp,
                    Role::Webapp => &mut peers.webapp,
                };
                if slot.is_none() || facts.running {
                    let pid = inspect
                        .state
                        .as_ref()
                        .and_then(|s| s.pid)
                        .filter(|p| *p > 0 && facts.running);
                    *slot = Some(crate::facts::network::Peer {
                        name: facts.name.clone(),
                        pid,
                        env: env_map(&inspect),
                    });
                }
                containers.push(facts);
            }
            // Removed between listing and inspecting: it is gone, not an error.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {
                tracing::debug!("container {id} vanished during discovery");
            }
            Err(e) => return Err(describe(&format!("GET /containers/{id}/json"), &e)),
        }
    }
    containers.sort_by(|a, b| (a.role as u8, &a.name).cmp(&(b.role as u8, &b.name)));
    Ok((summarise(containers), peers))
}

fn env_map(c: &ContainerInspectResponse) -> HashMap<String, String> {
    c.config
        .as_ref()
        .and_then(|c| c.env.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv, String::new()),
        })
        .collect()
}

/// The cross-container summary.
pub fn summarise(containers: Vec<ContainerFacts>) -> WaFacts {
    let versions: BTreeSet<String> = containers
        .iter()
        .filter_map(|c| c.version.clone())
        .collect();
    let prints: BTreeSet<String> = containers
        .iter()
        .filter_map(|c| c.wa_secret.clone())
        .collect();
    WaFacts {
        coreapp_count: containers
            .iter()
            .filter(|c| c.role == Role::Coreapp)
            .count(),
        webapp_count: containers.iter().filter(|c| c.role == Role::Webapp).count(),
        versions: versions.into_iter().collect(),
        wa_secret_fingerprints: prints.into_iter().collect(),
        wa_secret_missing: containers
            .iter()
            .filter(|c| c.wa_secret.is_none())
            .map(|c| c.name.clone())
            .collect(),
        containers,
    }
}

fn days_until(expires_on: &str, now: OffsetDateTime) -> Option<i64> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let date = Date::parse(expires_on.trim(), &fmt).ok()?;
    Some((date - now.date()).whole_days())
}

/// Builds one container's facts from its inspect answer.
pub fn container_facts(
    c: &ContainerInspectResponse,
    listed_image: &str,
    role: Role,
    salt: &[u8],
    collected_at: OffsetDateTime,
) -> ContainerFacts {
    let config = c.config.clone().unwrap_or_default();
    let state = c.state.clone().unwrap_or_default();
    let host = c.host_config.clone().unwrap_or_default();
    let image = config
        .image
        .clone()
        .unwrap_or_else(|| listed_image.to_string());
    let env = env_map(c);
    let mut env_names: Vec<String> = env.keys().cloned().collect();
    env_names.sort();
    let mut ports: Vec<PortFacts> = Vec::new();
    let port_map = c
        .network_settings
        .as_ref()
        .and_then(|n| n.ports.clone())
        .filter(|m| !m.is_empty())
        .or(host.port_bindings.clone())
        .unwrap_or_default();
    for (key, bindings) in port_map {
        let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
        let Ok(container_port) = port.parse::<u16>() else {
            continue;
        };
        for b in bindings.unwrap_or_default() {
            ports.push(PortFacts {
                container_port,
                protocol: proto.to_string(),
                host_ip: b.host_ip.filter(|s| !s.is_empty()),
                host_port: b.host_port.filter(|s| !s.is_empty()),
            });
        }
    }
    ports.sort_by(|a, b| (a.container_port, &a.host_ip).cmp(&(b.container_port, &b.host_ip)));
    let mut published_ports: Vec<u16> = ports
        .iter()
        .filter(|p| p.protocol == "tcp" && p.host_port.is_some())
        .map(|p| p.container_port)
        .collect();
    published_ports.dedup();
    let mounts: Vec<MountFacts> = c
        .mounts
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| {
            Some(MountFacts {
                destination: m.destination?,
                source: m.source.filter(|s| !s.is_empty()),
                kind: m
                    .typ
                    .and_then(|t| serde_json::to_value(t).ok())
                    .and_then(|v| v.as_str().map(str::to_string)),
            })
        })
        .collect();
    let expires_on = config
        .labels
        .as_ref()
        .and_then(|l| l.get("EXPIRES_ON").cloned())
        .filter(|s| !s.trim().is_empty());
    ContainerFacts {
        name: c
            .name
            .clone()
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        id: c.id.clone().unwrap_or_default().chars().take(12).collect(),
        role,
        version: tag(&image).map(str::to_string),
        image,
        state: state
            .status
            .and_then(|s| serde_json::to_value(s).ok())
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "unknown".to_string()),
        running: state.running.unwrap_or(false),
        restarting: state.restarting.unwrap_or(false),
        exit_code: state.exit_code,
        restart_count: c.restart_count.unwrap_or(0),
        started_at: state.started_at.filter(|s| !s.starts_with("0001-")),
        health: state
            .health
            .and_then(|h| h.status)
            .and_then(|s| serde_json::to_value(s).ok())
            .and_then(|v| v.as_str().map(str::to_string))
            .filter(|s| !s.is_empty() && s != "none"),
        ports,
        published_ports,
        mount_destinations: mounts.iter().map(|m| m.destination.clone()).collect(),
        mounts,
        expires_in_days: expires_on
            .as_deref()
            .and_then(|d| days_until(d, collected_at)),
        expires_on,
        cap_drop: host.cap_drop.unwrap_or_default(),
        env: SHOWN_ENV
            .iter()
            .filter_map(|k| env.get(*k).map(|v| (k.to_string(), v.clone())))
            .collect(),
        db_env_missing: DB_ENV
            .iter()
            .filter(|k| env.get(**k).is_none_or(|v| v.is_empty()))
            .map(|k| k.to_string())
            .collect(),
        wa_secret: env
            .get("WA_SECRET")
            .filter(|v| !v.is_empty())
            .map(|v| fingerprint(salt, v)),
        env_names,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        assert_eq!(
            repository("docker.whatsapp.biz/web:v2.51.2"),
            "docker.whatsapp.biz/web"
        );
        assert_eq!(
            repository("registry:5000/wa/coreapp"),
            "registry:5000/wa/coreapp"
        );
        assert_eq!(
            repository("registry:5000/wa/coreapp:v2@sha256:ab"),
            "registry:5000/wa/coreapp"
        );
        assert_eq!(tag("docker.whatsapp.biz/coreapp:v2.51.2"), Some("v2.51.2"));
        assert_eq!(tag("registry:5000/wa/coreapp"), None);
        let p = ImagePatterns::default();
        assert_eq!(
            p.role("docker.whatsapp.biz/coreapp:v2.51.2"),
            Some(Role::Coreapp)
        );
        assert_eq!(
            p.role("docker.whatsapp.biz/web:v2.51.2"),
            Some(Role::Webapp)
        );
        assert_eq!(
            p.role("mirror.example.com/docker.whatsapp.biz/web:v2"),
            Some(Role::Webapp)
        );
        assert_eq!(p.role("docker.whatsapp.biz/website:v2"), None);
        assert_eq!(p.role("mysql:8.0"), None);
    }

    #[test]
    fn fingerprints_compare_without_revealing() {
        let salt = [7u8; 16];
        let a = fingerprint(&salt, "s3cret");
        assert_eq!(a, fingerprint(&salt, "s3cret"));
        assert_ne!(a, fingerprint(&salt, "s3cret2"));
        assert_ne!(
            a,
            fingerprint(&[8u8; 16], "s3cret"),
            "another run cannot match it"
        );
        assert_eq!(a.len(), 16);
    }

    #[test]
    fn expiry_days() {
        let now = time::macros::datetime!(2026-11-25 12:00 UTC);
        assert_eq!(days_until("2026-11-30", now), Some(5));
        assert_eq!(days_until("2026-11-20", now), Some(-5));
        assert_eq!(days_until("soon", now), None);
    }
}
