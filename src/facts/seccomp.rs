//! libseccomp: the host library's version and the one runc was built with.
//!
//! We never link libseccomp (the binary would then need `libseccomp.so.2` just to start).
//! Two sources exist and they can differ: the shared library on the host, and the libseccomp
//! inside runc, which is the one that actually filters container syscalls (`runc --version`
//! prints `libseccomp: 2.5.4`). The effective `version` is runc's when runc is found.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Fact;
use super::glibc::library_dirs;

/// The host's shared libseccomp.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeccompLibrary {
    pub version: String,
    pub path: String,
}

/// What `runc --version` reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuncInfo {
    pub path: String,
    pub runc_version: Option<String>,
    /// The libseccomp runc was built with; null when runc does not say (built without it).
    pub libseccomp: Option<String>,
}

/// libseccomp facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LibseccompFacts {
    /// The version that matters: runc's when known, else the library's.
    pub version: String,
    /// `runc` or `library`: where `version` came from.
    pub source: String,
    pub library: Fact<SeccompLibrary>,
    pub runc: Fact<RuncInfo>,
}

/// Gathers both sources; unavailable only when neither gives a version.
pub async fn gather(deadline: Duration) -> Result<LibseccompFacts, String> {
    let library: Fact<SeccompLibrary> = find_library(&library_dirs()).into();
    let runc: Fact<RuncInfo> = ask_runc(deadline).await.into();
    combine(library, runc)
}

/// Picks the effective version from the two sources.
pub fn combine(
    library: Fact<SeccompLibrary>,
    runc: Fact<RuncInfo>,
) -> Result<LibseccompFacts, String> {
    let (version, source) = match (&runc, &library) {
        (
            Fact::Available(RuncInfo {
                libseccomp: Some(v),
                ..
            }),
            _,
        ) => (v.clone(), "runc"),
        (_, Fact::Available(lib)) => (lib.version.clone(), "library"),
        (Fact::Available(r), Fact::Unavailable(l)) => {
            return Err(format!("{} reports no libseccomp and {l}", r.path));
        }
        (Fact::Unavailable(r), Fact::Unavailable(l)) => return Err(format!("{l}; {r}")),
    };
    Ok(LibseccompFacts {
        version,
        source: source.to_string(),
        library,
        runc,
    })
}

/// Finds `libseccomp.so.2.X.Y` (the real file behind the soname link) in `dirs`.
pub fn find_library(dirs: &[PathBuf]) -> Result<SeccompLibrary, String> {
    for dir in dirs {
        let soname = dir.join("libseccomp.so.2");
        let Ok(real) = std::fs::canonicalize(&soname) else {
            continue;
        };
        let name = real
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if let Some(v) = name.strip_prefix("libseccomp.so.")
            && v.split('.').count() >= 3
        {
            return Ok(SeccompLibrary {
                version: v.to_string(),
                path: real.display().to_string(),
            });
        }
        return Err(format!(
            "{} resolves to {}, whose name carries no full version",
            soname.display(),
            real.display()
        ));
    }
    Err("no libseccomp.so.2 in the library folders".into())
}

fn find_runc() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for d in [
        "/usr/sbin",
        "/usr/bin",
        "/usr/local/sbin",
        "/usr/local/bin",
        "/sbin",
        "/bin",
    ] {
        dirs.push(PathBuf::from(d));
    }
    ["runc", "docker-runc"]
        .iter()
        .flat_map(|name| dirs.iter().map(move |d| d.join(name)))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

async fn ask_runc(deadline: Duration) -> Result<RuncInfo, String> {
    let path = find_runc().ok_or("runc not found in PATH or the usual sbin/bin folders")?;
    let mut cmd = tokio::process::Command::new(&path);
    cmd.arg("--version").kill_on_drop(true);
    let out = tokio::time::timeout(deadline, cmd.output())
        .await
        .map_err(|_| format!("{} --version did not answer in time", path.display()))?
        .map_err(|e| format!("cannot run {}: {e}", path.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} --version exited with {}",
            path.display(),
            out.status
        ));
    }
    Ok(parse_runc_version(
        &path.display().to_string(),
        &String::from_utf8_lossy(&out.stdout),
    ))
}

/// Parses `runc --version` output.
pub fn parse_runc_version(path: &str, text: &str) -> RuncInfo {
    let mut info = RuncInfo {
        path: path.to_string(),
        runc_version: None,
        libseccomp: None,
    };
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("runc version ") {
            info.runc_version = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("libseccomp:") {
            info.libseccomp = Some(v.trim().to_string());
        }
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_runc_output() {
        let text = "runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\ngo: go1.19.8\nlibseccomp: 2.5.4\n";
        let info = parse_runc_version("/usr/sbin/runc", text);
        assert_eq!(info.runc_version.as_deref(), Some("1.1.5+ds1"));
        assert_eq!(info.libseccomp.as_deref(), Some("2.5.4"));
        let old = parse_runc_version(
            "/usr/bin/docker-runc",
            "runc version 1.0.0-rc2\ncommit: x\nspec: 1.0.0-rc2-dev\n",
        );
        assert_eq!(old.libseccomp, None);
    }

    #[test]
    fn runc_wins_over_library() {
        let lib = Fact::Available(SeccompLibrary {
            version: "2.3.1".into(),
            path: "/usr/lib64/libseccomp.so.2.3.1".into(),
        });
        let runc = Fact::Available(parse_runc_version(
            "/usr/bin/runc",
            "runc version 1.1.12\nlibseccomp: 2.5.2\n",
        ));
        let f = combine(lib.clone(), runc).unwrap();
        assert_eq!((f.version.as_str(), f.source.as_str()), ("2.5.2", "runc"));
        let f = combine(lib, Fact::Unavailable("runc not found".into())).unwrap();
        assert_eq!(
            (f.version.as_str(), f.source.as_str()),
            ("2.3.1", "library")
        );
        let e = combine(
            Fact::Unavailable("no lib".into()),
            Fact::Unavailable("no runc".into()),
        );
        assert_eq!(e.unwrap_err(), "no lib; no runc");
    }

    #[test]
    fn finds_versioned_library() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("libseccomp.so.2.3.3"), b"").unwrap();
        std::os::unix::fs::symlink("libseccomp.so.2.3.3", dir.path().join("libseccomp.so.2"))
            .unwrap();
        let lib = find_library(&[PathBuf::from("/nonexistent"), dir.path().to_path_buf()]).unwrap();
        assert_eq!(lib.version, "2.3.3");
        assert!(find_library(&[PathBuf::from("/nonexistent")]).is_err());
    }
}
