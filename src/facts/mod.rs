//! Facts: what is true of the host, gathered without judging it.
//!
//! Every gatherer runs concurrently under its own deadline. A fact that cannot be read is
//! recorded as `{"unavailable": "why"}` in the document — never a panic, never a guess — and
//! the rules decide what that means. The document is a versioned contract
//! (`docs/facts.md`): other tools, fixtures and support bundles write and read it.

pub mod client;
pub mod clock;
pub mod cpu;
pub mod database;
pub mod docker;
pub mod glibc;
pub mod group;
pub mod kernel;
pub mod logs;
pub mod memory;
pub mod netns;
pub mod network;
pub mod probe;
pub mod saved;
pub mod seccomp;
pub mod storage;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

pub use group::{Group, Groups};
pub use saved::{FactsFileError, load_facts_file};

/// Version of the facts document; bump on any incompatible change.
pub const FACTS_SCHEMA_VERSION: u32 = 1;

/// Name and version of the tool that wrote a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ToolInfo {
    /// The crate name (`wa-preflight`).
    pub name: String,
    /// The package version that wrote the document (`0.2.0`).
    pub version: String,
}

impl ToolInfo {
    /// This build.
    pub fn current() -> ToolInfo {
        ToolInfo {
            name: env!("CARGO_PKG_NAME").to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// A fact that was read, or the reason it could not be.
#[derive(Debug, Clone, PartialEq)]
pub enum Fact<T> {
    /// The value as read.
    Available(T),
    /// Why it could not be read, in words an operator can act on (`{"unavailable": "why"}` in
    /// JSON).
    Unavailable(String),
}

impl<T> Fact<T> {
    /// The value, if it was read.
    pub fn as_ref(&self) -> Option<&T> {
        match self {
            Fact::Available(v) => Some(v),
            Fact::Unavailable(_) => None,
        }
    }
}

impl<T, E: std::fmt::Display> From<Result<T, E>> for Fact<T> {
    fn from(r: Result<T, E>) -> Self {
        match r {
            Ok(v) => Fact::Available(v),
            Err(e) => Fact::Unavailable(e.to_string()),
        }
    }
}

impl<T: Serialize> Serialize for Fact<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize, schemars::JsonSchema)]
        struct Unavailable<'a> {
            unavailable: &'a str,
        }
        match self {
            Fact::Available(v) => v.serialize(s),
            Fact::Unavailable(reason) => Unavailable {
                unavailable: reason,
            }
            .serialize(s),
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Fact<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        if let Some(reason) = unavailable_reason(&v) {
            return Ok(Fact::Unavailable(reason.to_string()));
        }
        T::deserialize(v)
            .map(Fact::Available)
            .map_err(serde::de::Error::custom)
    }
}

/// Whether `v` is the facts document's marker for a fact that could not be read
/// (`{"unavailable": "why"}`, an object with that one key): the reason, if so.
pub fn unavailable_reason(v: &serde_json::Value) -> Option<&str> {
    match v {
        serde_json::Value::Object(map) if map.len() == 1 => {
            map.get("unavailable").and_then(serde_json::Value::as_str)
        }
        _ => None,
    }
}

/// In the schema a fact is its value or `{"unavailable": "why"}`.
impl<T: schemars::JsonSchema> schemars::JsonSchema for Fact<T> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("Fact_{}", T::schema_name()).into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let value = generator.subschema_for::<T>();
        schemars::json_schema!({
            "anyOf": [
                value,
                {
                    "type": "object",
                    "properties": {"unavailable": {"type": "string"}},
                    "required": ["unavailable"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// The whole facts document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Facts {
    /// [`FACTS_SCHEMA_VERSION`] of the build that wrote it; this build reads 1.
    pub schema_version: u32,
    /// When gathering started, UTC (RFC 3339 in JSON).
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub collected_at: OffsetDateTime,
    /// The tool that wrote the document.
    pub tool: ToolInfo,
    /// Facts about the host itself.
    pub host: HostFacts,
    /// The Docker Engine; absent from documents written before it was gathered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<Fact<docker::DockerFacts>>,
    /// The database; absent from documents written before it was gathered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<Fact<database::DatabaseFacts>>,
    /// The running client through its API; absent from older documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<Fact<client::ClientFacts>>,
    /// Reach of WhatsApp's hosts and the webapp → coreapp links; absent from older documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Fact<network::NetworkFacts>>,
    /// Known-failure signatures in the logs; absent from older documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<Fact<logs::LogsFacts>>,
}

impl Facts {
    /// The WhatsApp containers the document names; none without Docker facts or when the
    /// containers could not be listed.
    pub fn wa_containers(&self) -> &[docker::containers::ContainerFacts] {
        match &self.docker {
            Some(Fact::Available(d)) => d.wa_containers(),
            _ => &[],
        }
    }
}

/// Facts about the host itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostFacts {
    /// The uname nodename.
    pub hostname: Fact<String>,
    /// The kernel release and machine (`uname -r`, `uname -m`); the client needs Linux ≥ 4.11 for
    /// statx(2).
    pub kernel: Fact<kernel::KernelFacts>,
    /// The distribution, from `/etc/os-release` (or `/usr/lib/os-release`).
    pub os: Fact<kernel::OsRelease>,
    /// Linux or WSL, with the evidence; the client does not support Docker for Windows or WSL.
    pub platform: Fact<kernel::PlatformFacts>,
    /// The host's glibc (≥ 2.28, the first to call statx(2) for stat(), per the client's docs).
    pub glibc: Fact<glibc::GlibcFacts>,
    /// The libseccomp that filters container syscalls (the docs support only 2.3.3, the first that
    /// knows statx).
    pub libseccomp: Fact<seccomp::LibseccompFacts>,
    /// CPUs online, in the affinity mask and under the cgroup quota (production: ≥ 4 cores).
    pub cpu: Fact<cpu::CpuFacts>,
    /// Total, available and installed memory in bytes (production: ≥ 16 GB).
    pub memory: Fact<memory::MemoryFacts>,
    /// The filesystems holding the client's data; unavailable when none of its paths exists.
    pub storage: Fact<Vec<storage::FilesystemFacts>>,
    /// Default paths that do not exist (no Docker data root yet, no media volume) and so were
    /// not judged; absent from older documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_missing: Option<Vec<storage::PathFacts>>,
    /// NTP state and peer offsets; absent from older documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<Fact<clock::ClockFacts>>,
}

/// What to gather and how long each gatherer may take.
#[derive(Debug, Clone)]
pub struct GatherOptions {
    /// Paths whose storage is judged, with their role. Docker's data root and the media volume
    /// are replaced by what the engine and the containers say unless the operator named them.
    pub paths: Vec<storage::Wanted>,
    /// Time budgets of the disk latency probe.
    pub probe: probe::ProbeBudget,
    /// Deadline of each gatherer.
    pub deadline: Duration,
    /// How to reach Docker and whether to run the statx probe.
    pub docker: docker::DockerOptions,
    /// Where the database settings come from and how to measure it.
    pub database: database::DbOptions,
    /// How to reach the client's API and probe its webhook.
    pub client: client::ClientOptions,
    /// What the network gatherer tries and from where.
    pub network: network::NetworkOptions,
    /// The log signatures to scan for (from the rules' `signatures:` section).
    pub logs: logs::LogOptions,
    /// Which groups of facts to gather ([`group`]); a group left out is `None` in the
    /// document (the daemon carries its previous value over). The base group is always read.
    pub groups: Groups,
}

impl GatherOptions {
    /// Docker's data root and the media volume (the operator's, or `None` for the defaults:
    /// what the engine and the containers report, else `/var/lib/docker` and
    /// `/usr/local/wamedia`), plus the operator's `extra` paths.
    pub fn with_paths(
        docker_root: Option<PathBuf>,
        media: Option<PathBuf>,
        extra: Vec<PathBuf>,
    ) -> Self {
        let wanted = |path: Option<PathBuf>, default: &str, role| storage::Wanted {
            named: path.is_some(),
            path: path.unwrap_or_else(|| PathBuf::from(default)),
            role,
        };
        let mut paths = vec![
            wanted(docker_root, "/var/lib/docker", storage::Role::Docker),
            wanted(media, docker::containers::MEDIA_PATH, storage::Role::Media),
        ];
        paths.extend(extra.into_iter().map(|path| storage::Wanted {
            path,
            role: storage::Role::Path,
            named: true,
        }));
        GatherOptions {
            paths,
            probe: probe::ProbeBudget::default(),
            deadline: Duration::from_secs(5),
            docker: docker::DockerOptions::default(),
            database: database::DbOptions::default(),
            client: client::ClientOptions::default(),
            network: network::NetworkOptions::default(),
            logs: logs::LogOptions::default(),
            groups: Groups::all(),
        }
    }
}

/// Told when gatherers start and finish, to show progress on a terminal.
pub trait Progress: Send + Sync {
    /// `gatherer` (`docker`, `database`, …) has started.
    fn started(&self, gatherer: &'static str);
    /// `gatherer` has finished, with a value or unavailable.
    fn finished(&self, gatherer: &'static str);
}

/// Progress that shows nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn started(&self, _: &'static str) {}
    fn finished(&self, _: &'static str) {}
}

/// Runs a blocking gatherer on the blocking pool under `deadline`.
///
/// A gatherer that overruns is abandoned (its thread may still be stuck in a syscall on a
/// dead NFS mount, say); the runtime is shut down in the background at exit so it cannot hold
/// the process.
async fn blocking<T, F>(
    name: &'static str,
    deadline: Duration,
    progress: &Arc<dyn Progress>,
    f: F,
) -> Fact<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, String> + Send + 'static,
{
    timed(name, deadline, progress, async move {
        match tokio::task::spawn_blocking(f).await {
            Ok(r) => r,
            Err(e) => Err(format!("gatherer {name} crashed: {e}")),
        }
    })
    .await
}

async fn timed<T, Fut>(
    name: &'static str,
    deadline: Duration,
    progress: &Arc<dyn Progress>,
    fut: Fut,
) -> Fact<T>
where
    Fut: Future<Output = Result<T, String>>,
{
    progress.started(name);
    let started = std::time::Instant::now();
    let out = match tokio::time::timeout(deadline, fut).await {
        Ok(r) => r.into(),
        Err(_) => Fact::Unavailable(format!(
            "gatherer {name} did not finish within {} ms",
            deadline.as_millis()
        )),
    };
    tracing::debug!(
        gatherer = name,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "gathered"
    );
    progress.finished(name);
    out
}

/// Gathers every fact concurrently.
///
/// Two phases: the host gatherers run beside the Docker connection; then storage is measured
/// (with the data root the engine reported) beside the Docker probe and container discovery.
pub async fn gather(opts: &GatherOptions, progress: Arc<dyn Progress>) -> Facts {
    let collected_at = OffsetDateTime::now_utc();
    let d = opts.deadline;
    let p = &progress;
    let (hostname, kernel, os, platform, glibc, libseccomp, cpu, memory, clock, connected) = tokio::join!(
        blocking("hostname", d, p, kernel::hostname),
        blocking("kernel", d, p, kernel::gather_kernel),
        blocking("os-release", d, p, kernel::gather_os_release),
        blocking("platform", d, p, kernel::gather_platform),
        blocking("glibc", d, p, glibc::gather),
        timed("libseccomp", d, p, seccomp::gather(d)),
        blocking("cpu", d, p, cpu::gather),
        blocking("memory", d, p, memory::gather),
        blocking("clock", d, p, clock::gather),
        timed("docker", d, p, docker::connect(&opts.docker)),
    );

    let mut paths = opts.paths.clone();
    if let Fact::Available(c) = &connected
        && let Some(root) = &c.engine.root_dir
    {
        for w in paths.iter_mut() {
            if w.role == storage::Role::Docker && !w.named {
                w.path = PathBuf::from(root);
            }
        }
    }
    let budget = probe::ProbeBudget {
        skip: opts.probe.skip || !opts.groups.contains(Group::DiskProbe),
        ..opts.probe.clone()
    };
    let docker_opts = docker::DockerOptions {
        statx_probe: opts.docker.statx_probe && opts.groups.contains(Group::StatxProbe),
        ..opts.docker.clone()
    };
    // Docker first: the database settings, the network vantage point and the API URL come
    // from the containers it finds. Then those four run side by side.
    let after_docker = async {
        let (engine_client, engine_local, engine_why) = match &connected {
            Fact::Available(c) => (
                Some(c.docker.clone()),
                c.endpoint.starts_with("unix://"),
                String::new(),
            ),
            Fact::Unavailable(why) => (None, false, why.clone()),
        };
        let (docker, peers) = match connected {
            Fact::Available(c) => {
                progress.started("docker probe and containers");
                let (facts, peers) = docker::describe(c, &docker_opts, collected_at).await;
                progress.finished("docker probe and containers");
                (Fact::Available(facts), peers)
            }
            Fact::Unavailable(why) => (Fact::Unavailable(why), Default::default()),
        };
        let containers = docker
            .as_ref()
            .map_or_else(Vec::new, |d| d.wa_containers().to_vec());
        let peers: docker::containers::Peers = peers;
        let groups = opts.groups;
        let db = async {
            if !groups.contains(Group::Database) {
                return None;
            }
            progress.started("database");
            let db: Fact<database::DatabaseFacts> =
                database::gather(&opts.database, &peers).await.into();
            progress.finished("database");
            Some(db)
        };
        let net_opts = opts.network.clone();
        let (coreapp, webapps) = (peers.coreapp.clone(), peers.webapps.clone());
        let link_timeout = opts.network.timeout;
        // Each step is bounded by the network timeout; the outer deadline is a backstop.
        let net_deadline = opts.network.timeout * 4 + Duration::from_secs(1);
        let network = async {
            if !groups.contains(Group::Network) {
                return None;
            }
            let reach = blocking("network reach", net_deadline, p, move || {
                network::reach(&net_opts, coreapp.as_ref())
            });
            let links = blocking("coreapp links", net_deadline, p, move || {
                Ok::<_, String>(network::links(&webapps, link_timeout))
            });
            let (reach, links) = tokio::join!(reach, links);
            Some(Fact::Available(network::NetworkFacts {
                whatsapp: reach,
                coreapp_links: links,
            }))
        };
        let client_deadline = opts.client.timeout * 6 + Duration::from_secs(1);
        let client = async {
            if !groups.contains(Group::Client) {
                return None;
            }
            Some(
                timed("client api", client_deadline, p, async {
                    Ok::<_, String>(
                        client::gather(
                            &opts.client,
                            &containers,
                            peers.coreapp.as_ref(),
                            collected_at,
                        )
                        .await,
                    )
                })
                .await,
            )
        };
        // Storage follows the containers: the media volume is where their
        // `/usr/local/wamedia` mounts really come from (a named volume under the data root, or
        // a bind mount's host path).
        let paths = storage_paths(paths, &containers);
        let storage = blocking("storage", d, p, move || storage::gather(&paths, &budget));
        let log_deadline = opts.logs.deadline * 2 + Duration::from_secs(1);
        let logs = async {
            // Log signatures are read every run: they are what changed since the last one.
            if opts.logs.patterns.is_empty() {
                return None;
            }
            Some(
                timed(
                    "logs",
                    log_deadline,
                    p,
                    logs::gather(
                        &opts.logs,
                        engine_client.as_ref(),
                        engine_local,
                        &engine_why,
                        &containers,
                        collected_at,
                    ),
                )
                .await,
            )
        };
        let (db, network, client, storage, logs) = tokio::join!(db, network, client, storage, logs);
        (docker, db, network, client, storage, logs)
    };
    let (docker, database, network, client, storage, logs) = after_docker.await;
    let (storage, storage_missing) = split_storage(storage);
    let mut clock = clock;
    let client = client.map(|c| match c {
        Fact::Available(out) => {
            if let (Fact::Available(c), Some(peer)) = (&mut clock, out.clock_peer) {
                c.add_peer(peer);
            }
            Fact::Available(out.facts)
        }
        Fact::Unavailable(why) => Fact::Unavailable(why),
    });
    Facts {
        schema_version: FACTS_SCHEMA_VERSION,
        collected_at,
        tool: ToolInfo::current(),
        host: HostFacts {
            hostname,
            kernel,
            os,
            platform,
            glibc,
            libseccomp,
            cpu,
            memory,
            storage,
            storage_missing,
            clock: Some(clock),
        },
        docker: Some(docker),
        database,
        client,
        network,
        logs,
    }
}

/// The wanted paths with the default media path replaced by the real sources of the WhatsApp
/// containers' media mounts (when any container has one).
fn storage_paths(
    mut paths: Vec<storage::Wanted>,
    containers: &[docker::containers::ContainerFacts],
) -> Vec<storage::Wanted> {
    let named_media = paths
        .iter()
        .any(|w| w.role == storage::Role::Media && w.named);
    let mut sources: Vec<PathBuf> = Vec::new();
    for c in containers {
        for m in &c.mounts {
            if m.destination == docker::containers::MEDIA_PATH
                && let Some(src) = &m.source
                && !sources.iter().any(|s| s.as_os_str() == src.as_str())
            {
                sources.push(PathBuf::from(src));
            }
        }
    }
    if named_media || sources.is_empty() {
        return paths;
    }
    paths.retain(|w| w.role != storage::Role::Media);
    paths.extend(sources.into_iter().map(|path| storage::Wanted {
        path,
        role: storage::Role::Media,
        named: false,
    }));
    paths
}

/// The storage fact (unavailable when no path of the client's data exists) and the list of
/// default paths that do not exist.
fn split_storage(
    storage: Fact<storage::Storage>,
) -> (
    Fact<Vec<storage::FilesystemFacts>>,
    Option<Vec<storage::PathFacts>>,
) {
    match storage {
        Fact::Available(s) if s.filesystems.is_empty() => {
            let list = s
                .missing
                .iter()
                .map(|m| format!("{} {}", m.role.describe(), m.path))
                .collect::<Vec<_>>()
                .join(" and ");
            (
                Fact::Unavailable(format!(
                    "no path of the client's data exists yet ({list} do not exist): give --path \
                     for the folder that will hold them"
                )),
                Some(s.missing),
            )
        }
        Fact::Available(s) => (Fact::Available(s.filesystems), Some(s.missing)),
        Fact::Unavailable(why) => (Fact::Unavailable(why), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn an_overrunning_gatherer_is_unavailable_not_a_hang() {
        let rt = rt();
        let progress: Arc<dyn Progress> = Arc::new(NoProgress);
        let started = std::time::Instant::now();
        let fact: Fact<u32> = rt.block_on(blocking(
            "slow",
            Duration::from_millis(50),
            &progress,
            || {
                std::thread::sleep(Duration::from_secs(2));
                Ok(1)
            },
        ));
        assert_eq!(
            fact,
            Fact::Unavailable("gatherer slow did not finish within 50 ms".into())
        );
        assert!(started.elapsed() < Duration::from_secs(1));
        rt.shutdown_background();
    }

    #[test]
    fn gatherer_errors_and_panics_become_reasons() {
        let rt = rt();
        let progress: Arc<dyn Progress> = Arc::new(NoProgress);
        let d = Duration::from_secs(5);
        let err: Fact<u32> =
            rt.block_on(blocking("err", d, &progress, || Err("no such file".into())));
        assert_eq!(err, Fact::Unavailable("no such file".into()));
        let panicked: Fact<u32> = rt.block_on(blocking("boom", d, &progress, || panic!("bug")));
        assert!(matches!(panicked, Fact::Unavailable(r) if r.starts_with("gatherer boom crashed")));
    }

    #[test]
    fn unavailable_round_trips_through_json() {
        let f: Fact<kernel::KernelFacts> = Fact::Unavailable("why".into());
        let s = serde_json::to_string(&f).unwrap();
        assert_eq!(s, r#"{"unavailable":"why"}"#);
        let back: Fact<kernel::KernelFacts> = serde_json::from_str(&s).unwrap();
        assert_eq!(back, f);
        let bad = serde_json::from_str::<Fact<kernel::KernelFacts>>(r#"{"release": 3}"#);
        assert!(bad.is_err());
    }
}
