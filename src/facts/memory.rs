//! Memory: what the kernel manages (`MemTotal`) and what is installed.
//!
//! The requirement is "16 GB of RAM", but a 16 GiB server never shows 16 GiB in `MemTotal`:
//! firmware and the kernel (crashkernel, page tables, …) keep a share before counting. The
//! memory-block view in sysfs counts the installed memory the kernel put online, which is what
//! the requirement means; rules fall back to `MemTotal` with a tolerance where it is absent.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Memory facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryFacts {
    /// `MemTotal` from /proc/meminfo.
    pub total_bytes: u64,
    /// `MemAvailable` from /proc/meminfo, null on kernels before 3.14.
    pub available_bytes: Option<u64>,
    /// Online memory blocks × block size (/sys/devices/system/memory), null when the kernel
    /// does not expose them.
    pub installed_bytes: Option<u64>,
}

/// Reads /proc/meminfo and the sysfs memory blocks.
///
/// # Errors
///
/// A message when `/proc/meminfo` cannot be read or has no readable `MemTotal`.
pub fn gather() -> Result<MemoryFacts, String> {
    let text = std::fs::read_to_string("/proc/meminfo")
        .map_err(|e| format!("cannot read /proc/meminfo: {e}"))?;
    let (total_bytes, available_bytes) = parse_meminfo(&text)?;
    Ok(MemoryFacts {
        total_bytes,
        available_bytes,
        installed_bytes: installed_memory(Path::new("/sys/devices/system/memory")),
    })
}

/// `MemTotal` and `MemAvailable` in bytes.
///
/// # Errors
///
/// A message when there is no `MemTotal` line with a number in kB (or bytes).
pub fn parse_meminfo(text: &str) -> Result<(u64, Option<u64>), String> {
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        let rest = line[name.len()..].trim_start_matches(':').trim();
        let mut it = rest.split_whitespace();
        let n: u64 = it.next()?.parse().ok()?;
        match it.next() {
            Some("kB") => n.checked_mul(1024),
            None => Some(n),
            Some(_) => None,
        }
    };
    let total = field("MemTotal").ok_or("no readable MemTotal line in /proc/meminfo")?;
    Ok((total, field("MemAvailable")))
}

/// Sums online memory blocks below `dir` (normally /sys/devices/system/memory).
pub fn installed_memory(dir: &Path) -> Option<u64> {
    let block = std::fs::read_to_string(dir.join("block_size_bytes")).ok()?;
    let block = u64::from_str_radix(block.trim().trim_start_matches("0x"), 16).ok()?;
    let mut online = 0u64;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with("memory") {
            continue;
        }
        let state = std::fs::read_to_string(entry.path().join("state")).unwrap_or_default();
        if state.trim() == "online" {
            online += 1;
        }
    }
    (online > 0).then(|| online * block)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_captured_on_debian12() {
        let p = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/files/meminfo.debian12-24g"
        );
        let text = std::fs::read_to_string(p).unwrap();
        let (total, avail) = parse_meminfo(&text).unwrap();
        assert_eq!(total, 24_684_092 * 1024);
        assert!(avail.is_some_and(|a| a <= total));
    }

    #[test]
    fn meminfo_edge_cases() {
        assert_eq!(
            parse_meminfo("MemTotal: 16181840 kB\n").unwrap(),
            (16181840 * 1024, None)
        );
        assert!(parse_meminfo("MemFree: 1 kB\n").is_err());
        assert!(parse_meminfo("MemTotal: lots kB\n").is_err());
        assert!(parse_meminfo("").is_err());
    }

    #[test]
    fn memory_blocks() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("block_size_bytes"), "8000000\n").unwrap();
        for (i, state) in ["online", "online", "offline"].iter().enumerate() {
            let b = dir.path().join(format!("memory{i}"));
            std::fs::create_dir(&b).unwrap();
            std::fs::write(b.join("state"), state).unwrap();
        }
        assert_eq!(installed_memory(dir.path()), Some(2 * 0x8000000));
        assert_eq!(installed_memory(Path::new("/nonexistent")), None);
    }
}
