//! Kernel, distribution, hostname and platform (WSL detection).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::value::version::Version;

/// What `uname` says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KernelFacts {
    /// `uname -r`, e.g. `3.10.0-1160.el7.x86_64`.
    pub release: String,
    /// The numeric part of the release (`3.10.0`), or null if it has none.
    pub version: Option<String>,
    /// `uname -m`.
    pub machine: String,
}

/// The interesting fields of os-release(5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OsRelease {
    /// `ID`: the distribution, lowercase (`rhel`, `ubuntu`).
    pub id: Option<String>,
    /// `ID_LIKE`: the distributions it derives from (`rhel fedora`).
    pub id_like: Option<String>,
    /// `VERSION_ID` (`7.9`, `22.04`).
    pub version_id: Option<String>,
    /// `PRETTY_NAME`, for people (`Red Hat Enterprise Linux Server 7.9 (Maipo)`).
    pub pretty_name: Option<String>,
}

/// Where the tool runs: Linux proper, or something that only looks like it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlatformFacts {
    /// `linux`, or what Rust calls another OS.
    pub os: String,
    /// Whether this is Windows Subsystem for Linux.
    pub wsl: bool,
    /// What showed WSL (kernel name, interop entry, environment), empty when none did.
    pub wsl_evidence: Vec<String>,
}

/// The host name, from uname.
///
/// # Errors
///
/// Never: uname(2) cannot fail; the `Result` is the shape every gatherer has.
pub fn hostname() -> Result<String, String> {
    let name = rustix::system::uname();
    Ok(name.nodename().to_string_lossy().into_owned())
}

/// Kernel facts from uname.
///
/// # Errors
///
/// Never: uname(2) cannot fail; the `Result` is the shape every gatherer has.
pub fn gather_kernel() -> Result<KernelFacts, String> {
    let u = rustix::system::uname();
    Ok(kernel_facts(
        &u.release().to_string_lossy(),
        &u.machine().to_string_lossy(),
    ))
}

/// Builds kernel facts from uname's strings.
pub fn kernel_facts(release: &str, machine: &str) -> KernelFacts {
    KernelFacts {
        release: release.to_string(),
        version: Version::parse_lenient(release).map(|v| v.numeric()),
        machine: machine.to_string(),
    }
}

/// os-release from the standard places.
///
/// # Errors
///
/// A message when neither file exists, or one exists but cannot be read.
pub fn gather_os_release() -> Result<OsRelease, String> {
    for path in ["/etc/os-release", "/usr/lib/os-release"] {
        match std::fs::read_to_string(path) {
            Ok(text) => return Ok(parse_os_release(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("cannot read {path}: {e}")),
        }
    }
    Err("no /etc/os-release or /usr/lib/os-release".into())
}

/// Parses os-release(5): `KEY=value` lines, values optionally quoted with shell escapes.
pub fn parse_os_release(text: &str) -> OsRelease {
    let mut map = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        map.insert(k.trim().to_string(), unquote(v.trim()));
    }
    OsRelease {
        id: map.remove("ID"),
        id_like: map.remove("ID_LIKE"),
        version_id: map.remove("VERSION_ID"),
        pretty_name: map.remove("PRETTY_NAME"),
    }
}

fn unquote(v: &str) -> String {
    let inner = match (v.chars().next(), v.chars().last()) {
        (Some(q @ ('"' | '\'')), Some(e)) if q == e && v.len() >= 2 => &v[1..v.len() - 1],
        _ => v,
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Platform facts for the running host.
///
/// # Errors
///
/// Never; the `Result` is the shape every gatherer has.
pub fn gather_platform() -> Result<PlatformFacts, String> {
    let release = rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned();
    let env: Vec<(String, String)> = ["WSL_DISTRO_NAME", "WSL_INTEROP"]
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect();
    Ok(platform_facts(
        std::env::consts::OS,
        &release,
        Path::new("/proc/sys/fs/binfmt_misc/WSLInterop").exists(),
        &env,
    ))
}

/// Decides WSL from the kernel release, the interop binfmt entry and the environment.
pub fn platform_facts(
    os: &str,
    kernel_release: &str,
    interop_entry: bool,
    env: &[(String, String)],
) -> PlatformFacts {
    let mut evidence = Vec::new();
    let lower = kernel_release.to_ascii_lowercase();
    if lower.contains("microsoft") || lower.contains("wsl") {
        evidence.push(format!("kernel release {kernel_release:?}"));
    }
    if interop_entry {
        evidence.push("/proc/sys/fs/binfmt_misc/WSLInterop exists".to_string());
    }
    for (k, _) in env {
        evidence.push(format!("environment variable {k} is set"));
    }
    PlatformFacts {
        os: os.to_string(),
        wsl: !evidence.is_empty(),
        wsl_evidence: evidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let p = format!("{}/fixtures/files/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn os_release_files() {
        let d = parse_os_release(&fixture("os-release.debian12"));
        assert_eq!(d.id.as_deref(), Some("debian"));
        assert_eq!(d.version_id.as_deref(), Some("12"));
        assert_eq!(
            d.pretty_name.as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        let c = parse_os_release(&fixture("os-release.centos7"));
        assert_eq!(c.id.as_deref(), Some("centos"));
        assert_eq!(c.id_like.as_deref(), Some("rhel fedora"));
        assert_eq!(c.version_id.as_deref(), Some("7"));
        let u = parse_os_release(&fixture("os-release.ubuntu1804"));
        assert_eq!(u.version_id.as_deref(), Some("18.04"));
        assert_eq!(u.pretty_name.as_deref(), Some("Ubuntu 18.04.6 LTS"));
        let odd = parse_os_release("# c\nID='it\\'s'\nbroken line\nVERSION_ID=\n");
        assert_eq!(odd.id.as_deref(), Some("it's"));
        assert_eq!(odd.version_id.as_deref(), Some(""));
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(
            kernel_facts("3.10.0-1160.el7.x86_64", "x86_64")
                .version
                .as_deref(),
            Some("3.10.0")
        );
        assert_eq!(
            kernel_facts("5.15.90.1-microsoft-standard-WSL2", "x86_64")
                .version
                .as_deref(),
            Some("5.15.90.1")
        );
        assert_eq!(kernel_facts("weird", "x86_64").version, None);
    }

    #[test]
    fn wsl_detection() {
        let wsl = platform_facts("linux", "5.15.90.1-microsoft-standard-WSL2", true, &[]);
        assert!(wsl.wsl);
        assert_eq!(wsl.wsl_evidence.len(), 2);
        let wsl1 = platform_facts("linux", "4.4.0-19041-Microsoft", false, &[]);
        assert!(wsl1.wsl);
        let env = [("WSL_DISTRO_NAME".to_string(), "Ubuntu".to_string())];
        assert!(platform_facts("linux", "6.1.0", false, &env).wsl);
        let plain = platform_facts("linux", "6.1.0-13-amd64", false, &[]);
        assert!(!plain.wsl && plain.wsl_evidence.is_empty());
    }
}
