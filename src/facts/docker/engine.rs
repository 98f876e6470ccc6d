//! Connecting to the Docker Engine and what it says about itself (`/version`, `/info`).

use std::path::Path;
use std::time::Duration;

use bollard::models::{SystemInfo, SystemVersion};
use bollard::{API_DEFAULT_VERSION, Docker};
use serde::{Deserialize, Serialize};

use crate::value::version::Version;

/// The engine's own account of itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EngineFacts {
    /// As reported (`20.10.24+dfsg1`, `18.04.0-ce`).
    pub version: String,
    /// Its numeric part (`20.10.24`), null if it has none.
    pub version_numeric: Option<String>,
    /// The API version the engine speaks (`1.43`); null when not reported.
    pub api_version: Option<String>,
    /// `linux` for a Linux engine.
    pub os: Option<String>,
    /// The engine's architecture (`x86_64`, `aarch64`).
    pub arch: Option<String>,
    /// The kernel the daemon runs on (`5.15.90.1-microsoft-standard-WSL2` under WSL).
    pub kernel: Option<String>,
    /// `OperatingSystem` (`Docker Desktop`, `Debian GNU/Linux 12 (bookworm)`).
    pub operating_system: Option<String>,
    /// The storage driver (`overlay2`, `devicemapper`).
    pub storage_driver: Option<String>,
    /// The filesystem under the storage driver (`extfs`, `xfs`), from its driver status.
    pub backing_fs: Option<String>,
    /// `systemd` or `cgroupfs`.
    pub cgroup_driver: Option<String>,
    /// `1` or `2`.
    pub cgroup_version: Option<String>,
    /// Docker's data root (`/var/lib/docker`); feeds the storage facts' Docker path.
    pub root_dir: Option<String>,
    /// `SecurityOptions` as reported (`name=seccomp,profile=default`, `name=rootless`).
    pub security_options: Vec<String>,
    /// seccomp is enabled in the daemon.
    pub seccomp: bool,
    /// Its profile: `default`, `builtin`, `unconfined` or a file path.
    pub seccomp_profile: Option<String>,
    /// The daemon runs rootless (`name=rootless` among its security options).
    pub rootless: bool,
    /// Containers keep running while the daemon restarts; null when not reported.
    pub live_restore: Option<bool>,
    /// The engine is a desktop product that runs Linux in a VM on another OS (Docker Desktop,
    /// Docker for Mac/Windows, Boot2Docker, Rancher Desktop, OrbStack): see [`product`].
    pub docker_desktop: bool,
    /// Which engine answered, by its own account: `Docker Engine`, `Docker Desktop`, `Podman`,
    /// … (see [`identify`]); absent from older documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// What the product was recognised by (`/version Components: Podman Engine 4.9.3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_evidence: Option<String>,
    /// `/version` `Platform.Name` (`Docker Engine - Community`, `Docker Desktop 4.25.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_name: Option<String>,
}

/// The engine products that answer the Docker API, recognised by what they say of themselves.
pub mod product {
    /// Docker Engine (moby) on Linux: what the client needs.
    pub const DOCKER_ENGINE: &str = "Docker Engine";
    /// Docker Desktop and its predecessors, and other desktop VMs.
    pub const DOCKER_DESKTOP: &str = "Docker Desktop";
    /// Podman's Docker-compatible API.
    pub const PODMAN: &str = "Podman";
}

/// Recognises the product from `/version` (platform name, component names) and `/info`
/// (operating system, kernel). Returns the product and the evidence.
///
/// Podman answers `/version` with its own version and a `Podman Engine` component; Docker
/// Desktop names itself in `Platform.Name` and `OperatingSystem`, older builds say `Docker for
/// Mac`/`Docker for Windows`, Boot2Docker and the desktop VMs run a `linuxkit` kernel.
pub fn identify(
    platform_name: Option<&str>,
    components: &[String],
    operating_system: Option<&str>,
    kernel: Option<&str>,
) -> (&'static str, String) {
    let has = |s: Option<&str>, needles: &[&str]| {
        s.and_then(|s| {
            let low = s.to_ascii_lowercase();
            needles
                .iter()
                .any(|n| low.contains(n))
                .then(|| s.to_string())
        })
    };
    if let Some(c) = components
        .iter()
        .find(|c| c.to_ascii_lowercase().contains("podman"))
    {
        return (product::PODMAN, format!("/version component {c}"));
    }
    if let Some(p) = has(platform_name, &["podman"]) {
        return (product::PODMAN, format!("/version platform {p}"));
    }
    const DESKTOPS: &[&str] = &[
        "docker desktop",
        "docker for mac",
        "docker for windows",
        "boot2docker",
        "rancher desktop",
        "orbstack",
        "colima",
    ];
    if let Some(p) = has(platform_name, DESKTOPS) {
        return (product::DOCKER_DESKTOP, format!("/version platform {p}"));
    }
    if let Some(o) = has(operating_system, DESKTOPS) {
        return (product::DOCKER_DESKTOP, format!("operating system {o}"));
    }
    if let Some(k) = has(kernel, &["linuxkit"]) {
        return (product::DOCKER_DESKTOP, format!("linuxkit kernel {k}"));
    }
    let evidence = platform_name.map_or_else(
        || "no other product named itself".to_string(),
        |p| format!("/version platform {p}"),
    );
    (product::DOCKER_ENGINE, evidence)
}

/// Which engine to talk to: `--docker-host`, the config, `DOCKER_HOST`, or the default socket.
pub fn endpoint(explicit: Option<&str>) -> String {
    explicit
        .map(str::to_string)
        .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string())
}

/// The group that owns a socket, for the "permission denied" advice.
fn socket_group(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let gid = std::fs::metadata(path).ok()?.gid();
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let _ = f.next();
        (f.next()? == gid.to_string()).then(|| name.to_string())
    })
}

/// Connects to the unix socket `path` once, within `deadline`. The socket is non-blocking: a
/// listener whose queue is full (a wedged dockerd that stopped accepting) answers `EAGAIN`,
/// which is retried until the deadline instead of blocking the thread for good.
async fn probe_unix(path: &Path, deadline: Duration) -> std::io::Result<()> {
    let started = std::time::Instant::now();
    loop {
        match tokio::time::timeout(
            deadline.saturating_sub(started.elapsed()),
            tokio::net::UnixStream::connect(path),
        )
        .await
        {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if started.elapsed() >= deadline {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "it accepted no connection within {} ms (its listen queue is full: \
                             dockerd is not accepting connections)",
                            deadline.as_millis()
                        ),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no connection within {} ms", deadline.as_millis()),
                ));
            }
        }
    }
}

/// Opens a client for `endpoint`, checking a unix socket first (within `timeout`) so that a
/// missing socket, a permission problem or a wedged daemon is named instead of surfacing as a
/// generic connection error.
///
/// # Errors
///
/// Why it cannot connect, in words: an endpoint that is neither `unix://` nor `tcp://`, a missing
/// socket, permission denied (naming the group to join), a refused connection (a stale socket), or
/// no answer within `timeout`.
pub async fn connect(endpoint: &str, timeout: Duration) -> Result<Docker, String> {
    let secs = timeout.as_secs().max(1);
    if let Some(path) = endpoint
        .strip_prefix("unix://")
        .or_else(|| endpoint.starts_with('/').then_some(endpoint))
    {
        let p = Path::new(path);
        if !p.exists() {
            return Err(format!(
                "no Docker socket at {path}: Docker is not installed or dockerd is not running"
            ));
        }
        if let Err(e) = probe_unix(p, timeout).await {
            return Err(match e.kind() {
                std::io::ErrorKind::PermissionDenied => format!(
                    "permission denied on {path}: run as root or as a member of the group {}",
                    socket_group(p)
                        .map_or("that owns the socket".to_string(), |g| format!("'{g}'"))
                ),
                std::io::ErrorKind::ConnectionRefused => {
                    format!("{path} refuses connections: dockerd is not running (stale socket)")
                }
                _ => format!("cannot connect to {path}: {e}"),
            });
        }
        return Docker::connect_with_unix(path, secs, API_DEFAULT_VERSION)
            .map_err(|e| format!("cannot use {path}: {e}"));
    }
    if endpoint.starts_with("tcp://") || endpoint.starts_with("http://") {
        return Docker::connect_with_http(endpoint, secs, API_DEFAULT_VERSION)
            .map_err(|e| format!("cannot use {endpoint}: {e}"));
    }
    Err(format!(
        "unsupported Docker endpoint {endpoint:?} (use unix:///path or tcp://host:port)"
    ))
}

/// Turns a bollard error into an operator's sentence.
pub fn describe(what: &str, e: &bollard::errors::Error) -> String {
    use bollard::errors::Error as E;
    match e {
        E::RequestTimeoutError => format!("{what}: the daemon did not answer in time"),
        E::JsonDataError { .. } | E::JsonSerdeError { .. } => {
            format!("{what}: the answer is not the Docker API's ({e})")
        }
        E::DockerResponseServerError {
            status_code,
            message,
        } => format!("{what}: the daemon answered {status_code}: {message}"),
        _ => format!("{what}: {e}"),
    }
}

/// Asks `/version` and `/info` and builds the engine facts.
///
/// # Errors
///
/// The request failed or timed out, described by [`describe`]; or the answer has no version (not a
/// Docker Engine).
pub async fn gather(docker: &Docker) -> Result<EngineFacts, String> {
    let version = docker
        .version()
        .await
        .map_err(|e| describe("GET /version", &e))?;
    let info = docker.info().await.map_err(|e| describe("GET /info", &e))?;
    engine_facts(&version, &info)
}

fn enum_text<T: Serialize>(v: &Option<T>) -> Option<String> {
    v.as_ref()
        .and_then(|v| serde_json::to_value(v).ok())
        .and_then(|v| v.as_str().map(str::to_string))
        .filter(|s| !s.is_empty())
}

/// Builds engine facts from the two answers.
///
/// # Errors
///
/// `/version` answered without a `Version`: not a Docker Engine.
pub fn engine_facts(version: &SystemVersion, info: &SystemInfo) -> Result<EngineFacts, String> {
    let raw = version
        .version
        .clone()
        .filter(|v| !v.is_empty())
        .ok_or("GET /version answered without a Version: this is not a Docker Engine")?;
    let security_options = info.security_options.clone().unwrap_or_default();
    let mut seccomp = false;
    let mut seccomp_profile = None;
    let mut rootless = false;
    for opt in &security_options {
        let fields: Vec<(&str, &str)> =
            opt.split(',').filter_map(|kv| kv.split_once('=')).collect();
        match fields.iter().find(|(k, _)| *k == "name").map(|(_, v)| *v) {
            Some("seccomp") => {
                seccomp = true;
                seccomp_profile = fields
                    .iter()
                    .find(|(k, _)| *k == "profile")
                    .map(|(_, v)| v.to_string());
            }
            Some("rootless") => rootless = true,
            _ => {}
        }
    }
    let backing_fs = info.driver_status.as_ref().and_then(|rows| {
        rows.iter()
            .find(|r| r.first().is_some_and(|k| k == "Backing Filesystem"))
            .and_then(|r| r.get(1).cloned())
    });
    let operating_system = info.operating_system.clone();
    let kernel = info
        .kernel_version
        .clone()
        .or_else(|| version.kernel_version.clone());
    let platform_name = version
        .platform
        .as_ref()
        .map(|p| p.name.clone())
        .filter(|n| !n.is_empty());
    let components: Vec<String> = version
        .components
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|c| format!("{} {}", c.name, c.version))
        .collect();
    let (product, evidence) = identify(
        platform_name.as_deref(),
        &components,
        operating_system.as_deref(),
        kernel.as_deref(),
    );
    Ok(EngineFacts {
        version_numeric: Version::parse_lenient(&raw).map(|v| v.numeric()),
        version: raw,
        api_version: version.api_version.clone(),
        os: version.os.clone().or_else(|| info.os_type.clone()),
        arch: version.arch.clone().or_else(|| info.architecture.clone()),
        kernel,
        docker_desktop: product == product::DOCKER_DESKTOP,
        product: Some(product.to_string()),
        product_evidence: Some(evidence),
        platform_name,
        operating_system,
        storage_driver: info.driver.clone(),
        backing_fs,
        cgroup_driver: enum_text(&info.cgroup_driver),
        cgroup_version: enum_text(&info.cgroup_version),
        root_dir: info.docker_root_dir.clone(),
        security_options,
        seccomp,
        seccomp_profile,
        rootless,
        live_restore: info.live_restore_enabled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_options_and_desktop() {
        let version = SystemVersion {
            version: Some("24.0.7".into()),
            os: Some("linux".into()),
            ..Default::default()
        };
        let info = SystemInfo {
            security_options: Some(vec![
                "name=seccomp,profile=/etc/docker/seccomp.json".into(),
                "name=rootless".into(),
                "name=cgroupns".into(),
            ]),
            operating_system: Some("Docker Desktop".into()),
            driver: Some("overlay2".into()),
            driver_status: Some(vec![vec!["Backing Filesystem".into(), "extfs".into()]]),
            ..Default::default()
        };
        let f = engine_facts(&version, &info).unwrap();
        assert!(f.seccomp && f.rootless && f.docker_desktop);
        assert_eq!(
            f.seccomp_profile.as_deref(),
            Some("/etc/docker/seccomp.json")
        );
        assert_eq!(f.backing_fs.as_deref(), Some("extfs"));
        assert_eq!(f.version_numeric.as_deref(), Some("24.0.7"));
        let none = engine_facts(&SystemVersion::default(), &SystemInfo::default());
        assert!(none.unwrap_err().contains("not a Docker Engine"));
    }

    #[test]
    fn engine_products() {
        use product::*;
        let id = |p: Option<&str>, c: &[&str], o: Option<&str>, k: Option<&str>| {
            let c: Vec<String> = c.iter().map(|s| s.to_string()).collect();
            identify(p, &c, o, k).0
        };
        // Podman's compatible API: its own version, a Podman component.
        assert_eq!(
            id(
                Some("linux/amd64/fedora-39"),
                &["Podman Engine 4.9.3", "Conmon 2.1.8"],
                Some("fedora"),
                Some("6.5.6-300.fc39.x86_64")
            ),
            PODMAN
        );
        assert_eq!(id(Some("Podman Engine"), &[], None, None), PODMAN);
        // Docker Desktop by platform, by OS, older names, and by its VM kernel alone.
        assert_eq!(
            id(
                Some("Docker Desktop 4.25.0 (126437)"),
                &["Engine 24.0.6"],
                Some("Docker Desktop"),
                Some("6.4.16-linuxkit")
            ),
            DOCKER_DESKTOP
        );
        assert_eq!(
            id(
                None,
                &[],
                Some("Docker for Mac"),
                Some("4.9.93-linuxkit-aufs")
            ),
            DOCKER_DESKTOP
        );
        assert_eq!(
            id(None, &[], Some("Docker for Windows"), None),
            DOCKER_DESKTOP
        );
        assert_eq!(
            id(None, &[], Some("Boot2Docker 18.09.0 (TCL 8.2.1)"), None),
            DOCKER_DESKTOP
        );
        assert_eq!(
            id(
                None,
                &[],
                Some("Alpine Linux v3.8"),
                Some("4.9.125-linuxkit")
            ),
            DOCKER_DESKTOP
        );
        assert_eq!(
            id(None, &[], Some("Rancher Desktop WSL Distribution"), None),
            DOCKER_DESKTOP
        );
        // The real thing.
        assert_eq!(
            id(
                Some("Docker Engine - Community"),
                &["Engine 24.0.7", "containerd 1.6.24"],
                Some("Ubuntu 22.04.3 LTS"),
                Some("5.15.0-91-generic")
            ),
            DOCKER_ENGINE
        );
        assert_eq!(
            id(
                None,
                &[],
                Some("Debian GNU/Linux 12 (bookworm)"),
                Some("6.1.0-18-amd64")
            ),
            DOCKER_ENGINE
        );
    }

    #[tokio::test]
    async fn connection_problems_are_named() {
        let e = connect("unix:///nonexistent/docker.sock", Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(
            e.contains("no Docker socket at /nonexistent/docker.sock"),
            "{e}"
        );
        let e = connect("ssh://host", Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(e.contains("unsupported Docker endpoint"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join("stale.sock");
        drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
        let e = connect(
            &format!("unix://{}", stale.display()),
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
        assert!(e.contains("refuses connections"), "{e}");
        assert_eq!(endpoint(Some("unix:///x.sock")), "unix:///x.sock");
    }

    /// A wedged dockerd: its listen queue is full and it never accepts. The connect is bounded
    /// by the deadline instead of blocking the thread for good.
    #[tokio::test]
    async fn a_full_listen_queue_is_bounded_by_the_deadline() {
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wedged.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        // SAFETY: listen(2) on a socket we own, lowering its backlog.
        assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
        let mut held = Vec::new();
        loop {
            match tokio::net::UnixStream::connect(&path).await {
                Ok(s) => held.push(s),
                Err(e) => {
                    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}");
                    break;
                }
            }
            assert!(held.len() < 1000, "the queue never filled");
        }
        let started = std::time::Instant::now();
        let e = connect(
            &format!("unix://{}", path.display()),
            Duration::from_millis(700),
        )
        .await
        .unwrap_err();
        let took = started.elapsed();
        assert!(e.contains("listen queue is full"), "{e}");
        assert!(
            took >= Duration::from_millis(700) && took < Duration::from_secs(5),
            "{took:?}"
        );
    }
}
