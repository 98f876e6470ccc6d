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

use time::{Date, OffsetDateTime};

use super::engine::describe;
use super::seccomp_profile::{self, ProfileVerdict, Target};
use crate::facts::Fact;
use crate::secret::fingerprint;

/// The two WhatsApp container kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The core application (`docker.whatsapp.biz/coreapp`): messaging, the database, the media
    /// volume.
    Coreapp,
    /// The web application (`docker.whatsapp.biz/web`): the REST API, published on container port
    /// 443.
    Webapp,
}

/// Image repositories that identify each role.
#[derive(Debug, Clone)]
pub struct ImagePatterns {
    /// Repositories whose containers are coreapps: `docker.whatsapp.biz/coreapp`, and any
    /// the config's `docker.coreapp_images` adds (mirrored registries).
    pub coreapp: Vec<String>,
    /// Repositories whose containers are webapps: `docker.whatsapp.biz/web`, and any the
    /// config's `docker.webapp_images` adds.
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

/// Image repositories of database containers (`mysql:8.0`, `bitnami/postgresql`, …).
pub fn is_database_image(image: &str) -> bool {
    let repo = repository(image);
    let last = repo.rsplit('/').next().unwrap_or(repo);
    matches!(
        last,
        "mysql"
            | "mariadb"
            | "postgres"
            | "postgresql"
            | "percona"
            | "percona-server"
            | "mysql-server"
    )
}

/// The repository of an image reference, without tag or digest: `registry:5000/a/b:tag@sha256:…` →
/// `registry:5000/a/b`.
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PortFacts {
    /// The port inside the container (443 for the webapp's API).
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The host address it is bound to (`0.0.0.0`, `127.0.0.1`); null when Docker gives none.
    pub host_ip: Option<String>,
    /// The host port, as Docker reports it (a string, e.g. `9090`); null when Docker chose none
    /// yet.
    pub host_port: Option<String>,
}

/// A mount.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MountFacts {
    /// The path inside the container (`/usr/local/wamedia`).
    pub destination: String,
    /// The host path (a bind mount's, or the named volume's directory under Docker's data root);
    /// null when Docker gives none.
    pub source: Option<String>,
    /// Docker's mount type (`bind`, `volume`, `tmpfs`); null when not reported.
    pub kind: Option<String>,
}

/// One WhatsApp container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerFacts {
    /// The container's name, without Docker's leading `/`.
    pub name: String,
    /// The container ID, first 12 hex digits.
    pub id: String,
    /// Coreapp or webapp, from the image repository.
    pub role: Role,
    /// The image reference as the container was created with it
    /// (`docker.whatsapp.biz/web:v2.51.2`).
    pub image: String,
    /// The image tag (`v2.51.2`), the client version.
    pub version: Option<String>,
    /// `running`, `exited`, `restarting`, …
    pub state: String,
    /// Docker's `State.Running`.
    pub running: bool,
    /// Docker's `State.Restarting` (in a restart loop).
    pub restarting: bool,
    /// Exit code of the last run; null when Docker does not say.
    pub exit_code: Option<i64>,
    /// How many times Docker restarted it.
    pub restart_count: i64,
    /// Docker's `State.OOMKilled`: the kernel's OOM killer killed the container's process (its
    /// memory cgroup reached `--memory`, or the host ran out of memory); Docker 20.10 keeps it
    /// true after a restart. Absent when the engine does not report it, and in older documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_killed: Option<bool>,
    /// When it last started (RFC 3339 as Docker reports it); null when it never started.
    pub started_at: Option<String>,
    /// Health-check status (`healthy`, `unhealthy`, `starting`), null without a health check.
    pub health: Option<String>,
    /// Ports with a host binding.
    pub ports: Vec<PortFacts>,
    /// Container ports (tcp) that are published, for simple rules.
    pub published_ports: Vec<u16>,
    /// Its mounts, in Docker's order.
    pub mounts: Vec<MountFacts>,
    /// The `destination` of each mount, for simple rules (`contains "/usr/local/wamedia"`).
    pub mount_destinations: Vec<String>,
    /// The `EXPIRES_ON` label (YYYY-MM-DD): when this client version expires.
    pub expires_on: Option<String>,
    /// Days from the facts' collection time to `expires_on` (negative: expired).
    pub expires_in_days: Option<i64>,
    /// Capabilities dropped (`cap_drop`, e.g. `MKNOD` as the setup scripts' compose files drop it).
    pub cap_drop: Vec<String>,
    /// Names of all env vars set (values are not recorded).
    pub env_names: Vec<String>,
    /// Values of the non-secret settings in [`SHOWN_ENV`] that are set.
    pub env: BTreeMap<String, String>,
    /// Which of the required database settings are missing.
    pub db_env_missing: Vec<String>,
    /// Salted fingerprint of `WA_SECRET` (comparable within one facts document only).
    pub wa_secret: Option<String>,
    /// Its `WA_DB_*` differ from those of the coreapp the database is checked for: they must
    /// all use one database. Absent when they agree, and in older documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_env_mismatch: Option<DbEnvMismatch>,
    /// The container's own seccomp setting (`--security-opt seccomp=…`, or `--privileged`,
    /// which turns seccomp off) judged for statx with its own capabilities; absent when it uses
    /// the daemon's profile (judged by `docker.seccomp_profile`), and in older documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp_profile: Option<Fact<ProfileVerdict>>,
}

/// Database settings of one container that differ from another's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DbEnvMismatch {
    /// The container compared with: the coreapp the database checks use.
    pub with: String,
    /// Names of the `WA_DB_*` variables whose values differ (values are never shown; the
    /// password is compared by salted fingerprint).
    pub differs: Vec<String>,
}

/// What was found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaFacts {
    /// Each WhatsApp container found, running or not.
    pub containers: Vec<ContainerFacts>,
    /// How many coreapp containers were found.
    pub coreapp_count: usize,
    /// How many webapp containers were found.
    pub webapp_count: usize,
    /// Distinct client versions across the containers.
    pub versions: Vec<String>,
    /// Distinct `WA_SECRET` fingerprints.
    pub wa_secret_fingerprints: Vec<String>,
    /// Containers without `WA_SECRET`.
    pub wa_secret_missing: Vec<String>,
}

/// The containers to look from: name, PID (when running) and full environment, kept in memory
/// for the database settings, proxies and links (it holds the password) and never serialised.
#[derive(Debug, Clone, Default)]
pub struct Peers {
    /// The coreapp whose database settings are checked and whose namespace the network checks
    /// use: the first of `coreapps`.
    pub coreapp: Option<crate::facts::network::Peer>,
    /// The first of `webapps`.
    pub webapp: Option<crate::facts::network::Peer>,
    /// Every coreapp (HA, multiconnect), running ones first, then by name.
    pub coreapps: Vec<crate::facts::network::Peer>,
    /// Every webapp, running ones first, then by name.
    pub webapps: Vec<crate::facts::network::Peer>,
    /// Names that Docker's embedded DNS answers only inside user-defined networks, of every
    /// container on this engine (not only WhatsApp's).
    pub network_names: Vec<NetworkName>,
}

/// A name that resolves only inside a user-defined Docker network: a container's name, its
/// compose service (`com.docker.compose.service`, which compose makes an alias) or an alias
/// the container list reports. Taken from the list, not from inspecting every container, so
/// an alias given with `docker run --network-alias` is missing on engines before API 1.44.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkName {
    /// The name Docker's embedded DNS answers to.
    pub name: String,
    /// `container name`, `compose service` or `network alias`.
    pub kind: &'static str,
    /// The container that carries it.
    pub container: String,
    /// The user-defined network it resolves on.
    pub network: String,
    /// The container's address on that network, when it has one (running).
    pub address: Option<String>,
}

impl NetworkName {
    /// How a message names it: `the compose service of container wa-db-1 on network wa_default
    /// (172.18.0.2)`.
    pub fn describe(&self) -> String {
        let at = self
            .address
            .as_ref()
            .map(|a| format!(" ({a})"))
            .unwrap_or_else(|| " (not running)".to_string());
        match self.kind {
            "container name" => format!(
                "the name of container {} on Docker network {}{at}",
                self.container, self.network
            ),
            kind => format!(
                "the {kind} of container {} on Docker network {}{at}",
                self.container, self.network
            ),
        }
    }
}

/// Docker's names of one listed container on its user-defined networks (the default bridge,
/// `host` and `none` resolve no container names).
fn network_names(summary: &bollard::models::ContainerSummary) -> Vec<NetworkName> {
    let container = summary
        .names
        .as_ref()
        .and_then(|n| n.iter().find(|n| n.matches('/').count() == 1))
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_default();
    let service = summary
        .labels
        .as_ref()
        .and_then(|l| l.get("com.docker.compose.service").cloned());
    let mut out = Vec::new();
    let networks = summary
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.clone())
        .unwrap_or_default();
    for (network, endpoint) in networks {
        if matches!(network.as_str(), "bridge" | "host" | "none") {
            continue;
        }
        let address = endpoint.ip_address.clone().filter(|a| !a.is_empty());
        let mut add = |name: &str, kind: &'static str| {
            let name = name.to_ascii_lowercase();
            if !name.is_empty()
                && !out
                    .iter()
                    .any(|n: &NetworkName| n.name == name && n.network == network)
            {
                out.push(NetworkName {
                    name,
                    kind,
                    container: container.clone(),
                    network: network.clone(),
                    address: address.clone(),
                });
            }
        };
        add(&container, "container name");
        if let Some(s) = &service {
            add(s, "compose service");
        }
        for alias in endpoint
            .aliases
            .iter()
            .flatten()
            .chain(endpoint.dns_names.iter().flatten())
        {
            add(alias, "network alias");
        }
    }
    out
}

/// The database settings that must agree between containers, normalised (engine spelled one
/// way, the default port filled in, the password as a salted fingerprint).
fn db_identity(env: &HashMap<String, String>, salt: &[u8]) -> Vec<(&'static str, Option<String>)> {
    let get = |k: &str| {
        env.get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let engine = get("WA_DB_ENGINE").map(|e| match crate::facts::database::Engine::parse(&e) {
        Some(engine) => engine.name().to_string(),
        None => e.to_ascii_lowercase(),
    });
    let port = get("WA_DB_PORT").or_else(|| {
        get("WA_DB_ENGINE")
            .and_then(|e| crate::facts::database::Engine::parse(&e))
            .map(|e| e.default_port().to_string())
    });
    vec![
        ("WA_DB_ENGINE", engine),
        (
            "WA_DB_HOSTNAME",
            get("WA_DB_HOSTNAME").map(|h| h.to_ascii_lowercase()),
        ),
        ("WA_DB_PORT", port),
        ("WA_DB_USERNAME", get("WA_DB_USERNAME")),
        (
            "WA_DB_PASSWORD",
            env.get("WA_DB_PASSWORD").map(|p| fingerprint(salt, p)),
        ),
        ("WA_DB_NAME_PREFIX", get("WA_DB_NAME_PREFIX")),
    ]
}

/// Compares every container's database settings with the reference coreapp's (else the first
/// webapp's): name → mismatch.
fn db_env_mismatches(peers: &Peers, salt: &[u8]) -> HashMap<String, DbEnvMismatch> {
    let mut out = HashMap::new();
    let Some(reference) = peers.coreapp.as_ref().or(peers.webapp.as_ref()) else {
        return out;
    };
    let want = db_identity(&reference.env, salt);
    for peer in peers.coreapps.iter().chain(&peers.webapps) {
        if peer.name == reference.name {
            continue;
        }
        let differs: Vec<String> = db_identity(&peer.env, salt)
            .into_iter()
            .zip(&want)
            .filter(|((_, a), (_, b))| a != b)
            .map(|((k, _), _)| k.to_string())
            .collect();
        if !differs.is_empty() {
            out.insert(
                peer.name.clone(),
                DbEnvMismatch {
                    with: reference.name.clone(),
                    differs,
                },
            );
        }
    }
    out
}

/// Lists and inspects the WhatsApp containers; also returns the running coreapp and webapp
/// (preferred over stopped ones) for the checks that look from them.
///
/// # Errors
///
/// The Docker API's failure (listing or inspecting a container), described for the operator, or
/// that the system has no randomness for the fingerprint salt. A container removed between listing
/// and inspecting is skipped, not an error.
pub async fn gather(
    docker: &Docker,
    patterns: &ImagePatterns,
    collected_at: OffsetDateTime,
    seccomp_target: &Target,
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
        peers.network_names.extend(network_names(&summary));
        let (Some(id), Some(image)) = (summary.id, summary.image) else {
            continue;
        };
        let Some(role) = patterns.role(&image) else {
            continue;
        };
        match docker.inspect_container(&id, None).await {
            Ok(inspect) => {
                let mut facts = container_facts(&inspect, &image, role, &salt, collected_at);
                facts.seccomp_profile = own_seccomp(&inspect, &facts.name, seccomp_target);
                let pid = inspect
                    .state
                    .as_ref()
                    .and_then(|s| s.pid)
                    .filter(|p| *p > 0 && facts.running);
                let peer = crate::facts::network::Peer {
                    name: facts.name.clone(),
                    pid,
                    env: env_map(&inspect),
                };
                match role {
                    Role::Coreapp => peers.coreapps.push(peer),
                    Role::Webapp => peers.webapps.push(peer),
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
    for list in [&mut peers.coreapps, &mut peers.webapps] {
        list.sort_by(|a, b| (a.pid.is_none(), &a.name).cmp(&(b.pid.is_none(), &b.name)));
    }
    peers.coreapp = peers.coreapps.first().cloned();
    peers.webapp = peers.webapps.first().cloned();
    let mut mismatches = db_env_mismatches(&peers, &salt);
    for c in &mut containers {
        c.db_env_mismatch = mismatches.remove(&c.name);
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

/// The container's own seccomp profile judged for statx (`None`: it uses the daemon's).
///
/// Docker reads `HostConfig.SecurityOpt` entries `seccomp=VALUE` (or the older `seccomp:VALUE`):
/// `unconfined` turns the filter off, `builtin` is the daemon's built-in default, anything else
/// is the profile's JSON text (the CLI sends the file's content). `--privileged` containers
/// run unconfined. Capability-gated entries are judged with the container's `CapAdd`/`CapDrop`.
pub fn own_seccomp(
    c: &ContainerInspectResponse,
    name: &str,
    base: &Target,
) -> Option<Fact<ProfileVerdict>> {
    let host = c.host_config.as_ref()?;
    let label = format!("container {name}");
    if host.privileged == Some(true) {
        return Some(Fact::Available(seccomp_profile::unconfined(&format!(
            "{label} (--privileged)"
        ))));
    }
    let value = host.security_opt.as_ref()?.iter().find_map(|opt| {
        let (key, value) = opt.split_once('=').or_else(|| opt.split_once(':'))?;
        (key.trim() == "seccomp").then(|| value.to_string())
    })?;
    match value.trim() {
        "unconfined" => Some(Fact::Available(seccomp_profile::unconfined(&format!(
            "{label} (seccomp=unconfined)"
        )))),
        "builtin" | "" => None,
        text => {
            let target = base.clone().with_caps(
                host.cap_add.as_deref().unwrap_or_default(),
                host.cap_drop.as_deref().unwrap_or_default(),
            );
            Some(
                seccomp_profile::judge(&format!("{label} (its own profile)"), text, &target).into(),
            )
        }
    }
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
        oom_killed: state.oom_killed,
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
        db_env_mismatch: None,
        seccomp_profile: None,
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
    fn names_only_user_defined_networks_resolve() {
        use bollard::models::{ContainerSummaryNetworkSettings, EndpointSettings};
        let endpoint = |ip: &str, aliases: Option<Vec<&str>>| EndpointSettings {
            ip_address: Some(ip.to_string()),
            aliases: aliases.map(|a| a.into_iter().map(str::to_string).collect()),
            ..Default::default()
        };
        let summary = bollard::models::ContainerSummary {
            names: Some(vec!["/wa-db-1".into(), "/wa-web-1/db".into()]),
            labels: Some([("com.docker.compose.service".to_string(), "DB".to_string())].into()),
            network_settings: Some(ContainerSummaryNetworkSettings {
                networks: Some(
                    [
                        ("wa_default".to_string(), endpoint("172.18.0.2", None)),
                        ("bridge".to_string(), endpoint("172.17.0.2", None)),
                        (
                            "backend".to_string(),
                            endpoint("", Some(vec!["mysql", "wa-db-1"])),
                        ),
                    ]
                    .into(),
                ),
            }),
            ..Default::default()
        };
        let mut names: Vec<(String, &str, String, Option<String>)> = network_names(&summary)
            .into_iter()
            .map(|n| (n.name, n.kind, n.network, n.address))
            .collect();
        names.sort();
        let ip = Some("172.18.0.2".to_string());
        assert_eq!(
            names,
            vec![
                ("db".into(), "compose service", "backend".into(), None),
                (
                    "db".into(),
                    "compose service",
                    "wa_default".into(),
                    ip.clone()
                ),
                ("mysql".into(), "network alias", "backend".into(), None),
                ("wa-db-1".into(), "container name", "backend".into(), None),
                ("wa-db-1".into(), "container name", "wa_default".into(), ip),
            ]
        );
        let n = network_names(&summary).remove(0);
        assert!(
            n.describe()
                .contains("of container wa-db-1 on Docker network")
        );
    }

    #[test]
    fn database_settings_must_agree() {
        let salt = [1u8; 16];
        let peer =
            |name: &str, pid: Option<i64>, env: &[(&str, &str)]| crate::facts::network::Peer {
                name: name.into(),
                pid,
                env: env
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            };
        let base = [
            ("WA_DB_ENGINE", "MYSQL"),
            ("WA_DB_HOSTNAME", "db"),
            ("WA_DB_PORT", "3306"),
            ("WA_DB_USERNAME", "wa"),
            ("WA_DB_PASSWORD", "p1"),
        ];
        // Spelled differently, meaning the same: engine case, host case, the default port.
        let same = [
            ("WA_DB_ENGINE", "mysql"),
            ("WA_DB_HOSTNAME", "DB"),
            ("WA_DB_USERNAME", "wa"),
            ("WA_DB_PASSWORD", "p1"),
        ];
        let other = [
            ("WA_DB_ENGINE", "MYSQL"),
            ("WA_DB_HOSTNAME", "db"),
            ("WA_DB_PORT", "3306"),
            ("WA_DB_USERNAME", "wa"),
            ("WA_DB_PASSWORD", "p2"),
            ("WA_DB_NAME_PREFIX", "shard2"),
        ];
        let a = peer("core-a", Some(10), &base);
        let mut peers = Peers {
            coreapp: Some(a.clone()),
            coreapps: vec![
                a,
                peer("core-b", Some(11), &same),
                peer("core-c", None, &other),
            ],
            webapps: vec![peer("web", Some(12), &base)],
            ..Peers::default()
        };
        peers.webapp = peers.webapps.first().cloned();
        let m = db_env_mismatches(&peers, &salt);
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!(
            m["core-c"],
            DbEnvMismatch {
                with: "core-a".into(),
                differs: vec!["WA_DB_PASSWORD".into(), "WA_DB_NAME_PREFIX".into()],
            }
        );
        // Without a coreapp the webapps are compared with the first of them.
        let lone = Peers {
            webapp: Some(peer("web-1", Some(1), &base)),
            webapps: vec![
                peer("web-1", Some(1), &base),
                peer("web-2", Some(2), &other),
            ],
            ..Peers::default()
        };
        assert_eq!(db_env_mismatches(&lone, &salt)["web-2"].with, "web-1");
        assert!(db_env_mismatches(&Peers::default(), &salt).is_empty());
    }

    #[test]
    fn expiry_days() {
        let now = time::macros::datetime!(2026-11-25 12:00 UTC);
        assert_eq!(days_until("2026-11-30", now), Some(5));
        assert_eq!(days_until("2026-11-20", now), Some(-5));
        assert_eq!(days_until("soon", now), None);
    }
}
