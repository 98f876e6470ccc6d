//! The spool: a private temp folder where each collector writes its raw, unredacted material
//! before the writer redacts it into the bundle.

use std::path::{Path, PathBuf};

use super::Spooled;
use super::logs::keep_tail;

/// Creates (or truncates) a spool file readable by its owner only (0600): spool files hold
/// raw, unredacted material.
pub(super) fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

/// Where collectors put their spool files.
pub struct Spool {
    dir: tempfile::TempDir,
    counter: std::sync::atomic::AtomicUsize,
}

impl Spool {
    /// Makes a private (0700) temp folder for the spool files, removed when the spool is dropped.
    ///
    /// # Errors
    ///
    /// The temp folder cannot be created.
    pub fn new() -> std::io::Result<Spool> {
        // Raw material may hold secrets: the folder is private (0700) and removed on drop.
        let dir = tempfile::Builder::new()
            .prefix("wa-preflight-bundle-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()?;
        Ok(Spool {
            dir,
            counter: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    pub(super) fn next_path(&self) -> PathBuf {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.dir.path().join(format!("{n:05}"))
    }

    /// Spools bytes held in memory.
    ///
    /// # Errors
    ///
    /// Creating or writing the spool file failed.
    pub fn bytes(&self, path: &str, producer: &str, bytes: &[u8]) -> std::io::Result<Spooled> {
        let file = self.next_path();
        std::io::Write::write_all(&mut private_file(&file)?, bytes)?;
        Ok(Spooled {
            path: path.to_string(),
            producer: producer.to_string(),
            file,
            cut_at_source: None,
            log_source: None,
        })
    }

    /// Copies a host file (streamed: logs can be large). Follows no symlink loop forever: the
    /// kernel's ELOOP is reported as the reason.
    ///
    /// # Errors
    ///
    /// A message naming `source` when it is not a regular file, cannot be opened or read (ELOOP for
    /// a symlink loop), or the spool file cannot be written.
    pub fn host_file(
        &self,
        path: &str,
        producer: &str,
        source: &Path,
        max: u64,
    ) -> Result<Spooled, String> {
        use std::io::Read;
        let Some(f) = crate::input::open_regular(source, "file").map_err(|e| e.to_string())? else {
            return self
                .bytes(path, producer, b"")
                .map_err(|e| format!("cannot spool {}: {e}", source.display()));
        };
        let meta = f
            .metadata()
            .map_err(|e| format!("{}: {e}", source.display()))?;
        let mut reader = std::io::BufReader::new(f);
        {
            use std::io::BufRead;
            let head = reader
                .fill_buf()
                .map_err(|e| format!("cannot read {}: {e}", source.display()))?;
            if let Some(format) = crate::compressed::sniff(head) {
                return self.decompressed(path, producer, source, reader, format, max);
            }
        }
        let file = self.next_path();
        let mut out = private_file(&file).map_err(|e| e.to_string())?;
        // Keep at most the newest `max` bytes worth reading: skip ahead on large files.
        if meta.len() > max {
            use std::io::Seek;
            reader
                .seek(std::io::SeekFrom::Start(meta.len() - max))
                .map_err(|e| format!("{}: {e}", source.display()))?;
        }
        std::io::copy(&mut reader.by_ref().take(max), &mut out)
            .map_err(|e| format!("cannot read {}: {e}", source.display()))?;
        Ok(Spooled {
            path: path.to_string(),
            producer: producer.to_string(),
            file,
            cut_at_source: (meta.len() > max)
                .then(|| format!("only the newest {max} of {} bytes were read", meta.len())),
            log_source: None,
        })
    }
}

impl Spool {
    /// A compressed host file (`--include /var/log/app.log.gz`), decompressed: redaction and
    /// the leak scan read text, not gzip. At most 40 × `max` bytes may come out of it (more
    /// is refused, as a decompression bomb would be); only the newest part is kept while
    /// reading, as for any large file. Formats other than gzip and zstd are refused.
    fn decompressed(
        &self,
        path: &str,
        producer: &str,
        source: &Path,
        reader: impl std::io::Read,
        format: crate::compressed::Format,
        max: u64,
    ) -> Result<Spooled, String> {
        use std::io::{Read, Write};
        let shown = source.display();
        let mut dec = crate::compressed::decoder(format, reader)
            .map_err(|e| format!("{shown}: {e}; not collected"))?;
        let file = self.next_path();
        let mut out = private_file(&file).map_err(|e| e.to_string())?;
        let cap = max.saturating_mul(40);
        let (mut total, mut in_file, mut dropped) = (0u64, 0u64, false);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match dec.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("cannot decompress {shown}: {e}; not collected")),
            };
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > cap {
                return Err(format!(
                    "{shown} decompresses to more than {cap} bytes; not collected"
                ));
            }
            out.write_all(&buf[..n]).map_err(|e| e.to_string())?;
            in_file += n as u64;
            if in_file > max.saturating_mul(2) {
                out.flush().map_err(|e| e.to_string())?;
                drop(out);
                keep_tail(&file, max).map_err(|e| e.to_string())?;
                out = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&file)
                    .map_err(|e| e.to_string())?;
                in_file = max;
                dropped = true;
            }
        }
        out.flush().map_err(|e| e.to_string())?;
        Ok(Spooled {
            path: crate::compressed::strip_suffix(path).to_string(),
            producer: producer.to_string(),
            file,
            cut_at_source: dropped
                .then(|| format!("decompressed to {total} bytes; only the newest part was kept")),
            log_source: None,
        })
    }
}
