//! The host's glibc version.
//!
//! The binary users get is statically linked against musl, so our own process has no glibc to
//! ask (`gnu_get_libc_version` would not exist, and on a glibc build it would describe *our*
//! libc, not the host's). Instead we read the host's `libc.so.6`: every glibc since the 1990s
//! embeds the banner it prints when executed — "GNU C Library (…) stable release version
//! 2.36." — so reading the file gives the version without running anything.

use std::path::{Path, PathBuf};

use regex::bytes::Regex;
use serde::{Deserialize, Serialize};

/// The host's glibc.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GlibcFacts {
    /// `2.36`.
    pub version: String,
    /// The library read.
    pub path: String,
    /// The banner line it carries.
    pub banner: String,
}

/// Directories where distributions put shared libraries (`libc.so.6`, `libseccomp.so.2`),
/// most specific first.
pub fn library_dirs() -> Vec<PathBuf> {
    let triplet = match std::env::consts::ARCH {
        "x86_64" => "x86_64-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        "arm" => "arm-linux-gnueabihf",
        "powerpc64" => "powerpc64le-linux-gnu",
        "s390x" => "s390x-linux-gnu",
        other => other,
    };
    [
        format!("/lib/{triplet}"),
        format!("/usr/lib/{triplet}"),
        "/lib64".to_string(),
        "/usr/lib64".to_string(),
        "/lib".to_string(),
        "/usr/lib".to_string(),
    ]
    .into_iter()
    .map(PathBuf::from)
    .collect()
}

/// Finds and reads the host's glibc.
///
/// # Errors
///
/// A message when no `libc.so.6` is in the library folders (saying so when the host uses musl
/// instead), or as [`read_glibc`].
pub fn gather() -> Result<GlibcFacts, String> {
    let dirs = library_dirs();
    let Some(path) = dirs
        .iter()
        .map(|d| d.join("libc.so.6"))
        .find(|p| p.exists())
    else {
        return Err(no_glibc_reason(&dirs));
    };
    read_glibc(&path)
}

fn no_glibc_reason(dirs: &[PathBuf]) -> String {
    let musl = dirs
        .iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("ld-musl-") || n.starts_with("libc.musl-"))
        });
    match musl {
        Some(p) => format!("no glibc on this host: it uses musl libc ({})", p.display()),
        None => "no libc.so.6 found in /lib, /lib64, /usr/lib or their multiarch folders".into(),
    }
}

/// Reads the version banner from a `libc.so.6`.
///
/// # Errors
///
/// A message naming `path` when it cannot be read or holds no GNU C Library version banner.
pub fn read_glibc(path: &Path) -> Result<GlibcFacts, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let (version, banner) = version_from_bytes(&bytes)
        .ok_or_else(|| format!("{} carries no GNU C Library version banner", path.display()))?;
    Ok(GlibcFacts {
        version,
        path: path.display().to_string(),
        banner,
    })
}

/// Finds "GNU C Library … version X.Y" in a library image.
pub fn version_from_bytes(bytes: &[u8]) -> Option<(String, String)> {
    // The pattern is a literal; it cannot fail to compile.
    let re = Regex::new(r"GNU C Library[^\n\x00]*? version (\d+\.\d+(?:\.\d+)?)").ok()?;
    let caps = re.captures(bytes)?;
    let version = String::from_utf8_lossy(caps.get(1)?.as_bytes()).into_owned();
    let banner = String::from_utf8_lossy(caps.get(0)?.as_bytes()).into_owned();
    Some((version, banner))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banners_of_known_releases() {
        let cases = [
            (&b"\x00\x01GNU C Library (Debian GLIBC 2.36-9+deb12u14) stable release version 2.36.\n"[..], "2.36"),
            (&b"junk\x00GNU C Library (GNU libc) stable release version 2.17, by Roland McGrath et al.\x00"[..], "2.17"),
            (&b"GNU C Library (Ubuntu GLIBC 2.27-3ubuntu1.6) stable release version 2.27.\n"[..], "2.27"),
            (&b"GNU C Library (GNU libc) release release version 2.28.\n"[..], "2.28"),
            (&b"GNU C Library (GNU libc) development release version 2.39.9000.\n"[..], "2.39.9000"),
        ];
        for (bytes, want) in cases {
            assert_eq!(
                version_from_bytes(bytes).map(|v| v.0).as_deref(),
                Some(want)
            );
        }
        assert!(version_from_bytes(b"musl libc (x86_64)\x00Version 1.2.4").is_none());
        // The banner must not run across a NUL into unrelated strings.
        assert!(version_from_bytes(b"GNU C Library\x00 version 2.36").is_none());
    }

    #[test]
    fn missing_file_is_explained() {
        let e = read_glibc(Path::new("/nonexistent/libc.so.6")).unwrap_err();
        assert!(e.contains("/nonexistent/libc.so.6"), "{e}");
    }
}
