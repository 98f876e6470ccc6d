//! libseccomp: the host library's version and the one runc was built with.
//!
//! We never link libseccomp (the binary would then need `libseccomp.so.2` just to start).
//! Two sources exist and they can differ: the shared library on the host, and the libseccomp
//! inside runc, which is the one that actually filters container syscalls (`runc --version`
//! prints `libseccomp: 2.5.4`). The effective `version` is runc's when runc reports it. A runc
//! that does not say (older releases, static builds that carry their own copy) filters with
//! the host's library only when it is dynamically linked against it; otherwise the filtering
//! version is unknown and `version` is null, with `note` saying why.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Fact;
use super::glibc::library_dirs;

/// The host's shared libseccomp.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SeccompLibrary {
    /// The library's version, from its file name (`2.5.4` of `libseccomp.so.2.5.4`).
    pub version: String,
    /// The real file behind the `libseccomp.so.2` soname link.
    pub path: String,
}

/// What `runc --version` reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuncInfo {
    /// The runc binary found in `PATH` or the usual sbin/bin folders (`/usr/bin/runc`).
    pub path: String,
    /// runc's own version (`1.1.12`); null when its output has none.
    pub runc_version: Option<String>,
    /// The libseccomp runc was built with; null when runc does not say (built without it).
    pub libseccomp: Option<String>,
    /// How the runc binary is linked: `static` (it carries its own libseccomp, if any),
    /// `dynamic, links libseccomp.so.2`, `dynamic, no libseccomp`; null when unreadable and
    /// in older documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linkage: Option<String>,
}

/// libseccomp facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LibseccompFacts {
    /// The version that filters containers: runc's when it reports it, else the host
    /// library's when runc links it (or no runc was found); null when neither is known.
    pub version: Option<String>,
    /// `runc`, `library` or `unknown`: where `version` came from.
    pub source: String,
    /// Why the version is unknown, or what it was inferred from; absent in older documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The host's shared library; unavailable when no `libseccomp.so.2` was found.
    pub library: Fact<SeccompLibrary>,
    /// The container runtime; unavailable when no runc was found or it did not answer.
    pub runc: Fact<RuncInfo>,
}

/// Gathers both sources; unavailable only when neither gives a version.
///
/// # Errors
///
/// A reason when neither source could be read (see [`combine`]).
pub async fn gather(deadline: Duration) -> Result<LibseccompFacts, String> {
    let library: Fact<SeccompLibrary> = find_library(&library_dirs()).into();
    let runc: Fact<RuncInfo> = ask_runc(deadline).await.into();
    combine(library, runc)
}

/// Picks the version that filters containers from the two sources.
///
/// # Errors
/// A reason when neither source could be read.
pub fn combine(
    library: Fact<SeccompLibrary>,
    runc: Fact<RuncInfo>,
) -> Result<LibseccompFacts, String> {
    let lib_version = library.as_ref().map(|l| l.version.clone());
    let (version, source, note) = match (&runc, &library) {
        (
            Fact::Available(RuncInfo {
                libseccomp: Some(v),
                ..
            }),
            _,
        ) => (Some(v.clone()), "runc", None),
        (Fact::Available(r), _) => match r.linkage.as_deref() {
            Some(l) if l.contains("links libseccomp") && lib_version.is_some() => (
                lib_version,
                "library",
                Some(format!(
                    "{} does not report its libseccomp but is dynamically linked against the host's",
                    r.path
                )),
            ),
            Some("static") => (
                None,
                "unknown",
                Some(format!(
                    "{} is a static binary that carries its own libseccomp and does not report its version; the host's library{} does not filter containers",
                    r.path,
                    lib_version
                        .as_deref()
                        .map(|v| format!(" ({v})"))
                        .unwrap_or_default()
                )),
            ),
            Some(other) => (
                None,
                "unknown",
                Some(format!(
                    "{} does not report a libseccomp and is linked {other}",
                    r.path
                )),
            ),
            None => (
                None,
                "unknown",
                Some(format!(
                    "{} does not report its libseccomp and its linkage could not be read",
                    r.path
                )),
            ),
        },
        (Fact::Unavailable(why), Fact::Available(lib)) => (
            Some(lib.version.clone()),
            "library",
            Some(format!("the host's library; {why}")),
        ),
        (Fact::Unavailable(r), Fact::Unavailable(l)) => return Err(format!("{l}; {r}")),
    };
    Ok(LibseccompFacts {
        version,
        source: source.to_string(),
        note,
        library,
        runc,
    })
}

/// How an ELF executable is linked, from its program headers and dynamic strings: `static`
/// (no interpreter), `dynamic, links libseccomp.so.2`, or `dynamic, no libseccomp`.
///
/// # Errors
/// A reason when the bytes are not a 64- or 32-bit little-endian ELF file.
pub fn elf_linkage(bytes: &[u8]) -> Result<&'static str, String> {
    if bytes.len() < 0x40 || &bytes[..4] != b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    if bytes[5] != 1 {
        return Err("not a little-endian ELF file".into());
    }
    let u16_at = |o: usize| {
        bytes
            .get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u32_at = |o: usize| {
        bytes
            .get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let u64_at = |o: usize| {
        bytes.get(o..o + 8).map(|b| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            u64::from_le_bytes(a) as usize
        })
    };
    let (phoff, phentsize, phnum) = match bytes[4] {
        2 => (u64_at(0x20), u16_at(0x36), u16_at(0x38)),
        1 => (u32_at(0x1c), u16_at(0x2a), u16_at(0x2c)),
        _ => return Err("unknown ELF class".into()),
    };
    let (Some(phoff), Some(phentsize), Some(phnum)) = (phoff, phentsize, phnum) else {
        return Err("truncated ELF header".into());
    };
    const PT_INTERP: usize = 3;
    let mut interp = false;
    for i in 0..phnum.min(256) {
        let p_type = u32_at(phoff + i * phentsize).ok_or("truncated program headers")?;
        interp |= p_type == PT_INTERP;
    }
    if !interp {
        return Ok("static");
    }
    Ok(
        if memchr::memmem::find(bytes, b"libseccomp.so.2").is_some() {
            "dynamic, links libseccomp.so.2"
        } else {
            "dynamic, no libseccomp"
        },
    )
}

/// Finds `libseccomp.so.2.X.Y` (the real file behind the soname link) in `dirs`.
///
/// # Errors
///
/// A message when no folder holds `libseccomp.so.2`, or the first that does links it to a
/// file whose name carries no full version.
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
    let mut info = parse_runc_version(
        &path.display().to_string(),
        &String::from_utf8_lossy(&out.stdout),
    );
    if info.libseccomp.is_none() {
        // Which libseccomp filters then depends on how runc is linked (runc is 10-15 MB).
        let read = tokio::fs::read(&path).await;
        info.linkage = read
            .ok()
            .and_then(|b| elf_linkage(&b).ok())
            .map(str::to_string);
    }
    Ok(info)
}

/// Parses `runc --version` output.
pub fn parse_runc_version(path: &str, text: &str) -> RuncInfo {
    let mut info = RuncInfo {
        path: path.to_string(),
        runc_version: None,
        libseccomp: None,
        linkage: None,
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
        assert_eq!(
            (f.version.as_deref(), f.source.as_str()),
            (Some("2.5.2"), "runc")
        );
        let f = combine(lib.clone(), Fact::Unavailable("runc not found".into())).unwrap();
        assert_eq!(
            (f.version.as_deref(), f.source.as_str()),
            (Some("2.3.1"), "library")
        );
        // A static runc that does not say: the host's 2.3.1 is not what filters containers.
        let mut silent = parse_runc_version("/usr/bin/docker-runc", "runc version 1.0.0-rc2\n");
        silent.linkage = Some("static".into());
        let f = combine(lib.clone(), Fact::Available(silent.clone())).unwrap();
        assert_eq!((f.version, f.source.as_str()), (None, "unknown"));
        let note = f.note.unwrap();
        assert!(
            note.contains("static binary") && note.contains("(2.3.1)"),
            "{note}"
        );
        // Dynamically linked against the host's library: that one filters.
        silent.linkage = Some("dynamic, links libseccomp.so.2".into());
        let f = combine(lib.clone(), Fact::Available(silent.clone())).unwrap();
        assert_eq!(
            (f.version.as_deref(), f.source.as_str()),
            (Some("2.3.1"), "library")
        );
        // Linkage unreadable: unknown, never the library's version by default.
        silent.linkage = None;
        let f = combine(lib, Fact::Available(silent)).unwrap();
        assert_eq!((f.version, f.source.as_str()), (None, "unknown"));
        let e = combine(
            Fact::Unavailable("no lib".into()),
            Fact::Unavailable("no runc".into()),
        );
        assert_eq!(e.unwrap_err(), "no lib; no runc");
    }

    #[test]
    fn elf_linkage_of_real_binaries() {
        // This test binary is dynamically linked (glibc) and does not link libseccomp.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(elf_linkage(&me).unwrap().starts_with("dynamic"));
        assert!(elf_linkage(b"#!/bin/sh\necho hi\n").is_err());
        // runc from Debian's docker.io (installed by the test bed) links the host's libseccomp;
        // busybox-static (likewise) has no interpreter.
        let runc = std::fs::read("/usr/sbin/runc").expect("scripts/testbed.sh installs runc");
        assert_eq!(
            elf_linkage(&runc).unwrap(),
            "dynamic, links libseccomp.so.2"
        );
        let bb = std::fs::read("/bin/busybox").expect("scripts/testbed.sh installs busybox-static");
        assert_eq!(elf_linkage(&bb).unwrap(), "static");
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
