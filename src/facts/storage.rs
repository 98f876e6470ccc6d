//! Storage behind the paths that hold the client's data: Docker's data root, the real source of
//! each WhatsApp container's media mount, and the paths the operator names (`--path`, config).
//!
//! Paths are grouped by filesystem, so each filesystem is measured once. For each: its mount,
//! size and free space, the block device and the physical disks behind it (partitions, LVM/dm
//! and md are followed through sysfs `slaves/` down to real disks), the capacity of the drive
//! it sits on, the disks' rotational flag, and a measured latency (see [`super::probe`]).
//!
//! A path the operator named that does not exist yet is judged by the filesystem it would be
//! created on, and the document says so. A default path that does not exist (no Docker yet, no
//! media volume) is not judged at all: it is listed as missing, so a small root filesystem
//! that holds none of the client's data never stands in for it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Fact;
use super::probe::{ProbeBudget, RandomReadProbe, SyncWriteProbe, random_reads, sync_writes};

/// Why a path is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The root filesystem (judged by documents written before 0.2; no longer by default).
    Root,
    /// Docker's data root.
    Docker,
    /// The WhatsApp media volume.
    Media,
    /// Named by the operator with `--path` or in the config.
    Path,
}

impl Role {
    /// What a path of this role holds, in words (`Docker's data root`).
    pub fn describe(self) -> &'static str {
        match self {
            Role::Root => "the root filesystem",
            Role::Docker => "Docker's data root",
            Role::Media => "the media volume",
            Role::Path => "a path you named",
        }
    }
}

/// A path whose storage is wanted, before it is looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// The path as given (a default or the operator's).
    pub path: PathBuf,
    /// Why it is judged.
    pub role: Role,
    /// Named by the operator (`--path`, the config): judged by its nearest existing parent
    /// when it does not exist yet. A default path that does not exist is only listed.
    pub named: bool,
}

/// One judged path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PathFacts {
    /// The path as given.
    pub path: String,
    /// Why it is judged.
    pub role: Role,
    /// Whether the path exists; false for a named path judged by its nearest existing parent, and
    /// for a missing default path.
    pub exists: bool,
    /// The existing folder the path was judged by (itself, or its nearest existing parent);
    /// empty for a missing default path, which is not judged.
    pub resolved: String,
}

/// A physical disk at the bottom of a device stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiskFacts {
    /// Kernel name of the disk (`sda`, `nvme0n1`, `vdb`).
    pub name: String,
    /// Its capacity in bytes (sysfs `size` × 512).
    pub size_bytes: u64,
    /// The kernel's `queue/rotational` flag; null when unreadable. Unreliable on VMs.
    pub rotational: Option<bool>,
    /// The disk's model string from sysfs (`device/model`); null when the driver does not expose
    /// one (virtio, md).
    pub model: Option<String>,
}

/// The block device a filesystem sits on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockFacts {
    /// Kernel name (`vda`, `dm-0`, `md0`, `nvme0n1p2`).
    pub name: String,
    /// `major:minor`.
    pub devno: String,
    /// Size of this block device in bytes (sysfs `size` × 512).
    pub size_bytes: u64,
    /// Capacity of the drive the filesystem is on, as its owner counts it: the larger of this
    /// device (an LVM volume spanning disks, an md array) and the smallest physical disk below
    /// it (the drive a partition is cut from; a mirror is as large as its smallest member). A filesystem always shows less than its drive
    /// (partition table, metadata, reserved blocks). Absent from documents before 0.2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drive_bytes: Option<u64>,
    /// The physical disks below it.
    pub disks: Vec<DiskFacts>,
    /// Whether any of those disks says it is rotational (null when none says either way).
    pub rotational: Option<bool>,
}

/// Measured latency of the filesystem and its device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencyFacts {
    /// Synchronous 4 KiB writes (`pwrite` + `fdatasync`) on this filesystem; the production
    /// requirement is an SSD ("I/O slows under load" on an HDD).
    pub sync_write: Fact<SyncWriteProbe>,
    /// Random 4 KiB `O_DIRECT` reads of the whole block device; unavailable without read access to
    /// the device node.
    pub random_read: Fact<RandomReadProbe>,
}

/// One filesystem and the judged paths on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilesystemFacts {
    /// The judged paths that lie on this filesystem.
    pub paths: Vec<PathFacts>,
    /// What the filesystem holds, in words (`Docker's data root /var/lib/docker`), for
    /// messages. Absent from documents before 0.2.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holds: Vec<String>,
    /// Where the filesystem is mounted, from `/proc/self/mountinfo` (`?` when no mount matched).
    pub mount_point: String,
    /// Its type (`ext4`, `xfs`, `overlay`; `?` when no mount matched).
    pub fs_type: String,
    /// The mount source (`/dev/mapper/vg-root`; `?` when no mount matched).
    pub source: String,
    /// Filesystem size.
    pub size_bytes: u64,
    /// Space available to unprivileged users.
    pub free_bytes: u64,
    /// The block device and the physical disks below it; unavailable for filesystems without one
    /// (tmpfs, overlay on another filesystem, network filesystems) or when sysfs cannot be read.
    pub device: Fact<BlockFacts>,
    /// Measured write and read latency.
    pub latency: LatencyFacts,
}

/// A line of /proc/self/mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// The device number (`major`, `minor`) of the mounted filesystem.
    pub devno: (u32, u32),
    /// The mount point, with octal escapes (`\040`) decoded.
    pub mount_point: String,
    /// The filesystem type.
    pub fs_type: String,
    /// The mount source, with octal escapes decoded.
    pub source: String,
}

/// Parses /proc/self/mountinfo (proc(5)); octal escapes (`\040`) in paths are decoded.
pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            let (maj, min) = l.get(2)?.split_once(':')?;
            Some(MountEntry {
                devno: (maj.parse().ok()?, min.parse().ok()?),
                mount_point: unescape(l.get(4)?),
                fs_type: r.first()?.to_string(),
                source: unescape(r.get(1)?),
            })
        })
        .collect()
}

fn unescape(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 4])
                .ok()
                .and_then(|o| u8::from_str_radix(o, 8).ok())
        {
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount that holds `path`: the longest mount point that is a prefix of it, preferring
/// entries with the same device number (later entries shadow earlier ones).
pub fn mount_for<'a>(
    mounts: &'a [MountEntry],
    path: &Path,
    devno: (u32, u32),
) -> Option<&'a MountEntry> {
    let candidates = mounts.iter().filter(|m| path.starts_with(&m.mount_point));
    let best = |it: &mut dyn Iterator<Item = &'a MountEntry>| {
        it.fold(None::<&MountEntry>, |acc, m| match acc {
            Some(a) if a.mount_point.len() > m.mount_point.len() => Some(a),
            _ => Some(m),
        })
    };
    best(&mut candidates.clone().filter(|m| m.devno == devno))
        .or_else(|| best(&mut candidates.clone()))
}

fn read_trim(p: &Path) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Resolves a block device to its physical disks through a sysfs tree rooted at `sys`.
///
/// # Errors
///
/// A message naming the sysfs path when `dev/block/MAJ:MIN` does not resolve, when a disk's size
/// cannot be read, or when the device stack is deeper than 16 levels.
pub fn block_facts(sys: &Path, devno: (u32, u32)) -> Result<BlockFacts, String> {
    let link = sys.join(format!("dev/block/{}:{}", devno.0, devno.1));
    let dir = std::fs::canonicalize(&link).map_err(|e| format!("{}: {e}", link.display()))?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let size_bytes = read_trim(&dir.join("size"))
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(0, |sectors| sectors * 512);
    let mut disks = Vec::new();
    collect_disks(sys, &dir, &mut disks, 0)?;
    let flags: Vec<bool> = disks.iter().filter_map(|d| d.rotational).collect();
    let rotational = (!flags.is_empty()).then(|| flags.iter().any(|r| *r));
    let smallest_disk = disks.iter().map(|d| d.size_bytes).min().unwrap_or(0);
    Ok(BlockFacts {
        name,
        devno: format!("{}:{}", devno.0, devno.1),
        drive_bytes: Some(size_bytes.max(smallest_disk)).filter(|b| *b > 0),
        size_bytes,
        disks,
        rotational,
    })
}

fn collect_disks(
    sys: &Path,
    dir: &Path,
    out: &mut Vec<DiskFacts>,
    depth: usize,
) -> Result<(), String> {
    if depth > 16 {
        return Err(format!(
            "device stack below {} is deeper than 16 levels",
            dir.display()
        ));
    }
    // A partition's parent folder is its disk.
    let disk_dir = if dir.join("partition").exists() {
        dir.parent().unwrap_or(dir).to_path_buf()
    } else {
        dir.to_path_buf()
    };
    let mut slaves: Vec<String> = std::fs::read_dir(disk_dir.join("slaves"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    slaves.sort();
    if slaves.is_empty() {
        let name = disk_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if out.iter().any(|d| d.name == name) {
            return Ok(());
        }
        out.push(DiskFacts {
            size_bytes: read_trim(&disk_dir.join("size"))
                .and_then(|s| s.parse::<u64>().ok())
                .map_or(0, |s| s * 512),
            rotational: read_trim(&disk_dir.join("queue/rotational")).and_then(|r| {
                match r.as_str() {
                    "1" => Some(true),
                    "0" => Some(false),
                    _ => None,
                }
            }),
            model: read_trim(&disk_dir.join("device/model")).filter(|m| !m.is_empty()),
            name,
        });
        return Ok(());
    }
    for slave in slaves {
        let link = sys.join("class/block").join(&slave);
        let next = std::fs::canonicalize(&link).map_err(|e| format!("{}: {e}", link.display()))?;
        collect_disks(sys, &next, out, depth + 1)?;
    }
    Ok(())
}

/// The nearest existing folder at or above `path`.
fn existing_ancestor(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .find(|p| p.is_dir())
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()))
}

fn devno_of(dev: u64) -> (u32, u32) {
    (rustix::fs::major(dev), rustix::fs::minor(dev))
}

/// The device node for a sysfs block device, checked to be that device.
fn device_node(sys: &Path, devno: (u32, u32)) -> Result<PathBuf, String> {
    let uevent = sys.join(format!("dev/block/{}:{}/uevent", devno.0, devno.1));
    let text =
        std::fs::read_to_string(&uevent).map_err(|e| format!("{}: {e}", uevent.display()))?;
    let name = text
        .lines()
        .find_map(|l| l.strip_prefix("DEVNAME="))
        .ok_or_else(|| format!("{} names no DEVNAME", uevent.display()))?;
    let node = Path::new("/dev").join(name);
    let st = rustix::fs::stat(&node).map_err(|e| format!("{}: {e}", node.display()))?;
    if devno_of(st.st_rdev) != devno {
        return Err(format!(
            "{} is not device {}:{}",
            node.display(),
            devno.0,
            devno.1
        ));
    }
    Ok(node)
}

/// The filesystems that hold the wanted paths, and the default paths that do not exist.
#[derive(Debug, Clone, PartialEq)]
pub struct Storage {
    /// The filesystems holding at least one judged path, each measured once.
    pub filesystems: Vec<FilesystemFacts>,
    /// Default paths (Docker's data root, the media volume) that do not exist and so are not
    /// judged; the facts' `host.storage_missing`.
    pub missing: Vec<PathFacts>,
}

/// Gathers storage facts for `paths` on the running host.
///
/// # Errors
/// A reason when mountinfo cannot be read or an existing path cannot be examined.
pub fn gather(paths: &[Wanted], budget: &ProbeBudget) -> Result<Storage, String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    let mounts = parse_mountinfo(&mountinfo);
    let sys = Path::new("/sys");
    // Group paths by the filesystem that holds them (its device number), in the order given.
    struct Group {
        dev: u64,
        dir: PathBuf,
        paths: Vec<PathFacts>,
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut missing: Vec<PathFacts> = Vec::new();
    for Wanted { path, role, named } in paths {
        let exists = path.exists();
        if !exists && !named {
            if !missing.iter().any(|m| m.path == path.display().to_string()) {
                missing.push(PathFacts {
                    path: path.display().to_string(),
                    role: *role,
                    exists: false,
                    resolved: String::new(),
                });
            }
            continue;
        }
        let Some(resolved) = existing_ancestor(path) else {
            return Err(format!("{} has no existing parent folder", path.display()));
        };
        let st = rustix::fs::stat(&resolved)
            .map_err(|e| format!("cannot stat {}: {e}", resolved.display()))?;
        let facts = PathFacts {
            path: path.display().to_string(),
            role: *role,
            exists,
            resolved: resolved.display().to_string(),
        };
        match groups.iter_mut().find(|g| g.dev == st.st_dev) {
            Some(g) if g.paths.iter().any(|p| p.path == facts.path) => {}
            Some(g) => g.paths.push(facts),
            None => groups.push(Group {
                dev: st.st_dev,
                dir: resolved,
                paths: vec![facts],
            }),
        }
    }

    let mut out = Vec::new();
    for Group {
        dev,
        dir,
        paths: path_facts,
    } in groups
    {
        let devno = devno_of(dev);
        let vfs = rustix::fs::statvfs(&dir)
            .map_err(|e| format!("cannot statvfs {}: {e}", dir.display()))?;
        let mount = mount_for(&mounts, &dir, devno);
        let (mount_point, fs_type, source) = mount.map_or_else(
            || ("?".to_string(), "?".to_string(), "?".to_string()),
            |m| (m.mount_point.clone(), m.fs_type.clone(), m.source.clone()),
        );
        // Filesystems such as btrfs report an anonymous device number; fall back to the device
        // node named as the mount's source.
        let block_devno = if sys
            .join(format!("dev/block/{}:{}", devno.0, devno.1))
            .exists()
        {
            Ok(devno)
        } else if source.starts_with("/dev/") {
            rustix::fs::stat(source.as_str())
                .map(|st| devno_of(st.st_rdev))
                .map_err(|e| format!("cannot stat {source}: {e}"))
        } else {
            Err(format!(
                "no block device behind {fs_type} filesystem {source:?} at {mount_point}"
            ))
        };
        let device: Fact<BlockFacts> = block_devno.clone().and_then(|d| block_facts(sys, d)).into();
        const SKIPPED: &str = "not measured in this run";
        let random_read: Fact<RandomReadProbe> = match (&block_devno, &device) {
            _ if budget.skip => Fact::Unavailable(SKIPPED.into()),
            (Ok(d), Fact::Available(b)) => device_node(sys, *d)
                .and_then(|node| random_reads(&node, b.size_bytes, budget))
                .into(),
            (_, Fact::Unavailable(why)) => Fact::Unavailable(why.clone()),
            (Err(why), _) => Fact::Unavailable(why.clone()),
        };
        let holds = path_facts
            .iter()
            .map(|p| {
                if p.exists {
                    format!("{} {}", p.role.describe(), p.path)
                } else {
                    format!("{} {} (not created yet)", p.role.describe(), p.path)
                }
            })
            .collect();
        out.push(FilesystemFacts {
            holds,
            paths: path_facts,
            mount_point,
            fs_type,
            source,
            size_bytes: vfs.f_blocks * vfs.f_frsize,
            free_bytes: vfs.f_bavail * vfs.f_frsize,
            device,
            latency: LatencyFacts {
                sync_write: if budget.skip {
                    Fact::Unavailable(SKIPPED.into())
                } else {
                    sync_writes(&dir, budget).into()
                },
                random_read,
            },
        });
    }
    Ok(Storage {
        filesystems: out,
        missing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sysfs(case: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/sysfs")
            .join(case)
    }

    #[test]
    fn mountinfo_lines() {
        let text = "22 27 0:21 / /proc rw,relatime - proc proc rw\n\
                    27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n\
                    40 27 8:17 / /mnt/my\\040disk rw - xfs /dev/sdb1 rw\n\
                    41 27 0:45 /@home /home rw - btrfs /dev/nvme0n1p3 rw\n\
                    broken line\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 4);
        assert_eq!(m[2].mount_point, "/mnt/my disk");
        assert_eq!(m[1].devno, (254, 0));
        let found = mount_for(&m, Path::new("/mnt/my disk/x"), (8, 17)).unwrap();
        assert_eq!(found.source, "/dev/sdb1");
        let root = mount_for(&m, Path::new("/var/lib/docker"), (254, 0)).unwrap();
        assert_eq!(root.mount_point, "/");
        // Device number not among the mounts (btrfs): longest prefix wins.
        let home = mount_for(&m, Path::new("/home/u"), (0, 99)).unwrap();
        assert_eq!(home.fs_type, "btrfs");
    }

    #[test]
    fn virtio_disk_captured_here() {
        let b = block_facts(&sysfs("virtio"), (254, 0)).unwrap();
        assert_eq!(b.name, "vda");
        assert_eq!(b.size_bytes, 256 * 1024 * 1024 * 1024);
        assert_eq!(b.disks.len(), 1);
        assert_eq!(
            b.rotational,
            Some(true),
            "this VM's virtio disk claims to rotate"
        );
    }

    #[test]
    fn nvme_partition_resolves_to_its_disk() {
        let b = block_facts(&sysfs("nvme-partition"), (259, 2)).unwrap();
        assert_eq!(b.name, "nvme0n1p2");
        assert_eq!(b.size_bytes, 500 * 1000 * 1000 * 1000 / 512 * 512);
        assert_eq!(b.disks.len(), 1);
        assert_eq!(b.disks[0].name, "nvme0n1");
        assert_eq!(b.disks[0].model.as_deref(), Some("Samsung SSD 980 PRO 1TB"));
        // The drive is the 1 TB disk, not the 500 GB partition the filesystem sits on.
        assert_eq!(b.drive_bytes, Some(1_953_525_168 * 512));
        assert_eq!(b.rotational, Some(false));
    }

    #[test]
    fn lvm_on_md_raid_resolves_to_both_disks() {
        let b = block_facts(&sysfs("lvm-on-md"), (253, 0)).unwrap();
        assert_eq!(b.name, "dm-0");
        let names: Vec<&str> = b.disks.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["sda", "sdb"]);
        // A 268 GB volume on a mirror of a 480 GB and a 2 TB disk: the mirror holds 480 GB.
        assert_eq!(b.drive_bytes, Some(937_703_088 * 512));
        // One spinning disk in the mirror is enough to call the stack rotational.
        assert_eq!(b.rotational, Some(true));
    }

    #[test]
    fn missing_device_is_explained() {
        let e = block_facts(&sysfs("virtio"), (8, 0)).unwrap_err();
        assert!(e.contains("dev/block/8:0"), "{e}");
    }

    #[test]
    fn gathers_this_host() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("not/yet/there");
        let gone = dir.path().join("no/default/here");
        let paths = vec![
            Wanted {
                path: dir.path().to_path_buf(),
                role: Role::Path,
                named: true,
            },
            Wanted {
                path: missing.clone(),
                role: Role::Media,
                named: true,
            },
            Wanted {
                path: gone.clone(),
                role: Role::Docker,
                named: false,
            },
        ];
        let budget = ProbeBudget {
            write_samples: 2,
            read_samples: 2,
            ..ProbeBudget::default()
        };
        let storage = gather(&paths, &budget).unwrap();
        // A default path that does not exist is listed, not judged by its parent.
        assert_eq!(storage.missing.len(), 1);
        assert_eq!(storage.missing[0].path, gone.display().to_string());
        assert_eq!(storage.missing[0].role, Role::Docker);
        let fs = storage.filesystems;
        assert_eq!(fs.len(), 1, "both named paths are on one filesystem");
        assert!(
            fs[0].holds[1].ends_with("(not created yet)"),
            "{:?}",
            fs[0].holds
        );
        assert_eq!(fs[0].paths.len(), 2);
        assert!(!fs[0].paths[1].exists);
        assert_eq!(
            fs[0].paths[1].resolved,
            std::fs::canonicalize(dir.path())
                .unwrap()
                .display()
                .to_string()
        );
        assert!(fs[0].size_bytes > 0 && fs[0].free_bytes <= fs[0].size_bytes);
        assert!(matches!(fs[0].latency.sync_write, Fact::Available(_)));
    }
}
