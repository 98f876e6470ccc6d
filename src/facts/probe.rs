//! A short disk latency probe, because the kernel's `rotational` flag lies on many virtual
//! machines (this project's CI disk, a virtio SSD, says `rotational=1`).
//!
//! Two measurements, each bounded by a sample count and a time budget:
//! - *synchronous writes*: 4 KiB `pwrite` + `fdatasync` in an anonymous temp file
//!   (`O_TMPFILE`: nothing is left behind even if the process is killed) on the filesystem
//!   being judged. A spinning disk must wait for the platter on every flush (several ms);
//!   flash does not.
//! - *random reads*: 4 KiB `O_DIRECT` reads at random offsets across the whole block device
//!   (read-only). Reading a file we just wrote would be served from the drive's own cache; reads
//!   spread over the device force real seeks on a disk with heads. This needs read access to
//!   the device node (root); without it the fact is unavailable and says so.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use serde::{Deserialize, Serialize};

const BLOCK: usize = 4096;
/// Size of the temp file the write samples land in.
const WRITE_AREA: usize = 1 << 20;

/// How much the probe may do per filesystem.
#[derive(Debug, Clone)]
pub struct ProbeBudget {
    /// Most write samples per filesystem (default 12).
    pub write_samples: usize,
    /// Time budget of the write samples per filesystem (default 150 ms); sampling stops when it is
    /// spent.
    pub write_time: Duration,
    /// Most read samples per device (default 24).
    pub read_samples: usize,
    /// Time budget of the read samples per device (default 100 ms).
    pub read_time: Duration,
    /// Do not measure at all (the daemon measures less often than it reads the rest).
    pub skip: bool,
}

impl Default for ProbeBudget {
    fn default() -> Self {
        ProbeBudget {
            write_samples: 12,
            write_time: Duration::from_millis(150),
            read_samples: 24,
            read_time: Duration::from_millis(100),
            skip: false,
        }
    }
}

/// Latency of 4 KiB writes each followed by fdatasync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncWriteProbe {
    /// Writes timed (at least 1).
    pub samples: u32,
    /// Median write + fdatasync, in microseconds.
    pub p50_us: f64,
    /// Slowest write + fdatasync, in microseconds.
    pub max_us: f64,
    /// Whether O_DIRECT was used (false on filesystems that refuse it, e.g. tmpfs).
    pub direct: bool,
    /// The folder the temp file was created in.
    pub dir: String,
}

/// Latency of 4 KiB O_DIRECT reads at random offsets of the block device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RandomReadProbe {
    /// Reads timed (at least 1).
    pub samples: u32,
    /// Median read, in microseconds.
    pub p50_us: f64,
    /// Slowest read, in microseconds.
    pub max_us: f64,
    /// The device node read (`/dev/vda`).
    pub device: String,
}

/// A buffer aligned for O_DIRECT, without unsafe code: over-allocate, then slice at the first
/// aligned address.
struct Aligned {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl Aligned {
    fn new(len: usize, fill: u8) -> Aligned {
        let buf = vec![fill; len + BLOCK];
        let start = buf.as_ptr().align_offset(BLOCK);
        Aligned { buf, start, len }
    }
    fn get(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }
    fn get_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }
}

/// A small xorshift generator: offsets only need to be spread, not secure.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        Rng((nanos ^ u64::from(std::process::id())) | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn open_temp(dir: &Path) -> Result<(File, bool), String> {
    let base = OFlags::RDWR | OFlags::CLOEXEC;
    let mode = Mode::from_raw_mode(0o600);
    let shown = dir.display();
    for direct in [true, false] {
        let flags = if direct { base | OFlags::DIRECT } else { base };
        match rustix::fs::open(dir, flags | OFlags::TMPFILE, mode) {
            Ok(fd) => return Ok((File::from(fd), direct)),
            Err(Errno::INVAL) if direct => continue,
            // No O_TMPFILE support (old kernel or filesystem): a named file, unlinked at once.
            Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::NOENT) => {
                let path = dir.join(format!(".wa-preflight-probe-{}", std::process::id()));
                match rustix::fs::open(&path, flags | OFlags::CREATE | OFlags::EXCL, mode) {
                    Ok(fd) => {
                        let _ = std::fs::remove_file(&path);
                        return Ok((File::from(fd), direct));
                    }
                    Err(Errno::INVAL) if direct => continue,
                    Err(e) => return Err(format!("cannot create a temp file in {shown}: {e}")),
                }
            }
            Err(e) => return Err(format!("cannot create a temp file in {shown}: {e}")),
        }
    }
    Err(format!("cannot create a temp file in {shown}"))
}

fn summarise(mut samples: Vec<f64>) -> (u32, f64, f64) {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    let p50 = if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2.0
    };
    (n as u32, p50, samples[n - 1])
}

/// The disk latency probe is a group of its own (`disk_probe`), run at most hourly (it writes
/// and reads the disks it judges); between runs each filesystem keeps its last measurement.
pub const GROUP: super::group::Declared = super::group::Declared {
    name: "disk_probe",
    default_interval: |base| base.max(3600),
    carry_over: |new, prev| {
        if let (super::Fact::Available(fs), super::Fact::Available(pfs)) =
            (&mut new.host.storage, &prev.host.storage)
        {
            for f in fs.iter_mut() {
                if let Some(p) = pfs.iter().find(|p| p.mount_point == f.mount_point) {
                    f.latency = p.latency.clone();
                }
            }
        }
    },
};

/// Measures synchronous 4 KiB writes in `dir`.
///
/// # Errors
///
/// A message naming `dir` when the temp file cannot be created (`O_TMPFILE`) or a write or
/// fdatasync fails.
pub fn sync_writes(dir: &Path, budget: &ProbeBudget) -> Result<SyncWriteProbe, String> {
    let (file, direct) = open_temp(dir)?;
    let io_err = |e: std::io::Error| format!("write probe in {}: {e}", dir.display());
    // Allocate the area first so the samples overwrite existing blocks: what is measured is
    // the device flush, not the filesystem allocating space.
    let area = Aligned::new(WRITE_AREA, 0x5a);
    file.write_all_at(area.get(), 0).map_err(io_err)?;
    file.sync_data().map_err(io_err)?;
    let block = Aligned::new(BLOCK, 0xa5);
    let mut rng = Rng::seeded();
    let mut samples = Vec::with_capacity(budget.write_samples);
    let started = Instant::now();
    while samples.len() < budget.write_samples.max(1) {
        let offset = rng.below((WRITE_AREA / BLOCK) as u64) * BLOCK as u64;
        let t = Instant::now();
        file.write_all_at(block.get(), offset).map_err(io_err)?;
        file.sync_data().map_err(io_err)?;
        samples.push(t.elapsed().as_secs_f64() * 1e6);
        if started.elapsed() >= budget.write_time {
            break;
        }
    }
    let (samples, p50_us, max_us) = summarise(samples);
    Ok(SyncWriteProbe {
        samples,
        p50_us,
        max_us,
        direct,
        dir: dir.display().to_string(),
    })
}

/// Measures random 4 KiB O_DIRECT reads across `device` of `size_bytes`.
///
/// # Errors
///
/// A message naming the device when it cannot be opened for reading (with a hint when not running
/// as root) or a read fails.
pub fn random_reads(
    device: &Path,
    size_bytes: u64,
    budget: &ProbeBudget,
) -> Result<RandomReadProbe, String> {
    let shown = device.display();
    let fd = rustix::fs::open(device, OFlags::RDONLY | OFlags::DIRECT | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| match e {
            Errno::ACCESS | Errno::PERM if !rustix::process::geteuid().is_root() => {
                format!("cannot open {shown} for reading: {e} (random reads of the device need root)")
            }
            Errno::ACCESS | Errno::PERM => format!(
                "cannot open {shown} for reading: {e}, even as root (a device cgroup or security policy forbids it)"
            ),
            _ => format!("cannot open {shown} for reading: {e}"),
        })?;
    let file = File::from(fd);
    let blocks = size_bytes / BLOCK as u64;
    if blocks < 2 {
        return Err(format!(
            "{shown} is too small to probe ({size_bytes} bytes)"
        ));
    }
    let mut buf = Aligned::new(BLOCK, 0);
    let mut rng = Rng::seeded();
    let mut samples = Vec::with_capacity(budget.read_samples);
    let started = Instant::now();
    while samples.len() < budget.read_samples.max(1) {
        let offset = rng.below(blocks) * BLOCK as u64;
        let t = Instant::now();
        file.read_exact_at(buf.get_mut(), offset)
            .map_err(|e| format!("read of {shown} at {offset}: {e}"))?;
        samples.push(t.elapsed().as_secs_f64() * 1e6);
        if started.elapsed() >= budget.read_time {
            break;
        }
    }
    let (samples, p50_us, max_us) = summarise(samples);
    Ok(RandomReadProbe {
        samples,
        p50_us,
        max_us,
        device: shown.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(summarise(vec![3.0, 1.0, 2.0]), (3, 2.0, 3.0));
        assert_eq!(summarise(vec![4.0, 1.0, 2.0, 3.0]), (4, 2.5, 4.0));
    }

    #[test]
    fn aligned_buffers() {
        let mut a = Aligned::new(BLOCK, 7);
        assert_eq!(a.get().as_ptr() as usize % BLOCK, 0);
        assert_eq!(a.get_mut().len(), BLOCK);
    }

    #[test]
    fn writes_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let budget = ProbeBudget {
            write_samples: 3,
            ..ProbeBudget::default()
        };
        let probe = sync_writes(dir.path(), &budget).unwrap();
        assert!(probe.samples >= 1 && probe.samples <= 3);
        assert!(probe.p50_us > 0.0 && probe.max_us >= probe.p50_us);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn unwritable_folder_is_explained() {
        let e = sync_writes(Path::new("/nonexistent/dir"), &ProbeBudget::default()).unwrap_err();
        assert!(e.contains("/nonexistent/dir"), "{e}");
    }

    #[test]
    fn reading_a_file_as_device_works_and_missing_device_is_explained() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("disk.img");
        std::fs::write(&f, vec![0u8; 64 * BLOCK]).unwrap();
        let budget = ProbeBudget {
            read_samples: 5,
            ..ProbeBudget::default()
        };
        let p = random_reads(&f, 64 * BLOCK as u64, &budget).unwrap();
        assert!(p.samples >= 1);
        let e = random_reads(Path::new("/dev/nonexistent"), 1 << 30, &budget).unwrap_err();
        assert!(e.contains("/dev/nonexistent"), "{e}");
    }
}
