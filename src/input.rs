//! Reading the operator's input files (`--config`, `--rules`, `--facts`, `--db-env`,
//! `--db-password-file`, `--daemon-json`, `--api-token-file`, `--api-ca-file`, `--include`,
//! the config's `database.env_file`, token and CA files, seccomp profiles): one helper, so
//! none of them can hang or exhaust memory.
//!
//! A FIFO, a terminal or `/proc/kmsg` blocks a plain `open` or `read` for good, and a huge or
//! endless file (`/dev/zero`) fills memory. Every input file is therefore opened with
//! `O_NONBLOCK` (a FIFO's open returns at once), refused unless it is a regular file (the one
//! exception is the null device, which reads as empty and is the usual "no config"), read
//! without blocking (a regular file that would block, like `/proc/kmsg`, fails with
//! `EAGAIN` instead), under a size limit and a deadline checked between reads.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

/// Largest config, rules file, daemon.json, db.env or seccomp profile read (1 MiB; the
/// largest real ones are tens of KiB).
pub const TEXT_LIMIT: u64 = 1 << 20;
/// Largest secret file (token, password): 64 KiB.
pub const SECRET_LIMIT: u64 = 64 << 10;
/// Largest saved facts document: 64 MiB.
pub const FACTS_LIMIT: u64 = 64 << 20;
/// Longest a file may take to read: 10 s (a file on a wedged network filesystem).
pub const READ_DEADLINE: Duration = Duration::from_secs(10);

/// Why an input file could not be read. The message names the file and what it is for.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Opening, inspecting or reading failed (not found, permission denied, `EAGAIN` from a
    /// file that would block).
    #[error("cannot read {what} {path}: {source}")]
    Io {
        /// What the file is for (`config`, `--db-env`, `password file`).
        what: String,
        /// The path as given.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A directory, FIFO, socket or device other than the null device.
    #[error("{what} {path} is {kind}, not a regular file; give a regular file")]
    NotRegular {
        /// What the file is for.
        what: String,
        /// The path as given.
        path: String,
        /// What it is instead, in words (`a FIFO (named pipe)`).
        kind: &'static str,
    },
    /// Longer than the caller's limit.
    #[error("{what} {path} is larger than {limit} bytes")]
    TooLarge {
        /// What the file is for.
        what: String,
        /// The path as given.
        path: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// Reading took longer than [`READ_DEADLINE`].
    #[error("{what} {path} did not finish reading within {} s", READ_DEADLINE.as_secs())]
    Slow {
        /// What the file is for.
        what: String,
        /// The path as given.
        path: String,
    },
    /// [`read_text`] read bytes that are not UTF-8.
    #[error("{what} {path} is not UTF-8 text")]
    NotText {
        /// What the file is for.
        what: String,
        /// The path as given.
        path: String,
    },
}

impl InputError {
    /// The file was not there (callers for which a missing file is normal check this).
    pub fn is_not_found(&self) -> bool {
        matches!(self, InputError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// What a non-regular file is, for the message.
fn kind_of(ft: std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else {
        "a special file"
    }
}

/// The null device (character device 1:3), wherever it is named: it reads as empty at once.
fn is_null_device(meta: &std::fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == rustix::fs::makedev(1, 3)
}

/// Opens `path` for reading without blocking and checks it is a regular file (or the null
/// device, returned as `None`: nothing to read). `what` names the file in errors
/// (`"--db-env"`, `"config"`).
///
/// # Errors
///
/// [`InputError::Io`] when it cannot be opened or inspected; [`InputError::NotRegular`] for
/// anything but a regular file or the null device.
pub fn open_regular(path: &Path, what: &str) -> Result<Option<std::fs::File>, InputError> {
    let shown = || path.display().to_string();
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|source| InputError::Io {
            what: what.to_string(),
            path: shown(),
            source,
        })?;
    let meta = f.metadata().map_err(|source| InputError::Io {
        what: what.to_string(),
        path: shown(),
        source,
    })?;
    if is_null_device(&meta) {
        return Ok(None);
    }
    if !meta.is_file() {
        return Err(InputError::NotRegular {
            what: what.to_string(),
            path: shown(),
            kind: kind_of(meta.file_type()),
        });
    }
    Ok(Some(f))
}

/// Reads a whole input file of at most `limit` bytes (see the module docs for what is
/// refused).
///
/// # Errors
///
/// As [`open_regular`]; [`InputError::Io`] when a read fails (a file that would block fails with
/// `EAGAIN`), [`InputError::TooLarge`] past `limit` bytes, [`InputError::Slow`] past
/// [`READ_DEADLINE`].
pub fn read_bytes(path: &Path, what: &str, limit: u64) -> Result<Vec<u8>, InputError> {
    let shown = || path.display().to_string();
    let Some(f) = open_regular(path, what)? else {
        return Ok(Vec::new());
    };
    let started = Instant::now();
    let mut out = Vec::new();
    let mut take = f.take(limit.saturating_add(1));
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match take.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(InputError::Io {
                    what: what.to_string(),
                    path: shown(),
                    source,
                });
            }
        };
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        if out.len() as u64 > limit {
            return Err(InputError::TooLarge {
                what: what.to_string(),
                path: shown(),
                limit,
            });
        }
        if started.elapsed() > READ_DEADLINE {
            return Err(InputError::Slow {
                what: what.to_string(),
                path: shown(),
            });
        }
    }
    Ok(out)
}

/// Reads a whole input file as UTF-8 text of at most `limit` bytes.
///
/// # Errors
///
/// As [`read_bytes`], and [`InputError::NotText`] when the bytes are not UTF-8.
pub fn read_text(path: &Path, what: &str, limit: u64) -> Result<String, InputError> {
    String::from_utf8(read_bytes(path, what, limit)?).map_err(|_| InputError::NotText {
        what: what.to_string(),
        path: path.display().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_would_block_or_is_too_large() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let e = read_text(&fifo, "--db-env", TEXT_LIMIT).unwrap_err();
        assert!(
            e.to_string().contains("--db-env ")
                && e.to_string()
                    .contains("is a FIFO (named pipe), not a regular file"),
            "{e}"
        );
        let e = read_text(dir.path(), "config", TEXT_LIMIT).unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; 100]).unwrap();
        assert!(matches!(
            read_text(&big, "x", 99),
            Err(InputError::TooLarge { limit: 99, .. })
        ));
        assert_eq!(read_text(&big, "x", 100).unwrap().len(), 100);
        std::fs::write(&big, [0xff, 0xfe]).unwrap();
        assert!(matches!(
            read_text(&big, "x", 100),
            Err(InputError::NotText { .. })
        ));
        let missing = read_text(&dir.path().join("none"), "x", 1).unwrap_err();
        assert!(missing.is_not_found());
        // The null device is the usual "nothing here".
        assert_eq!(read_text(Path::new("/dev/null"), "config", 1).unwrap(), "");
        // An endless device is refused rather than read until memory runs out.
        assert!(matches!(
            read_text(Path::new("/dev/zero"), "x", 1),
            Err(InputError::NotRegular { .. })
        ));
    }
}
