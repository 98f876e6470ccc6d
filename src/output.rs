//! Writing output files safely.
//!
//! A regular file (or a new one) is replaced atomically: a temp file in the same folder,
//! flushed, then renamed over the target, so a reader (node_exporter's textfile collector, a
//! support script) never sees half a file and a failed run never destroys the previous one.
//! A character device or FIFO (`-o /dev/stdout`, `/dev/null`, a pipe) is written in place:
//! renaming over it would replace the device node itself (as root, `/dev/null` would become a
//! regular file). Anything else that is not a regular file (a block device, a directory, a
//! socket) is refused.

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// How an output path is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Absent or a regular file: replaced atomically.
    File,
    /// A character device or FIFO: written in place.
    InPlace,
}

/// Whether an output path (`-o`, `--output`) means standard output: `-`.
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// How `path` would be written, or why it cannot be (a block device, directory or socket).
///
/// # Errors
///
/// `InvalidInput` for a block device, directory or socket; any error reading its metadata or
/// resolving a symbolic link.
pub fn target(path: &Path) -> std::io::Result<Target> {
    resolve(path).map(|(_, t)| t)
}

/// The path to write and how. A symbolic link to a regular file resolves to that file, so the
/// file is replaced and the link kept (and `/dev/stdout` redirected to a file never has its
/// link replaced); an absent path or dangling link is written as given.
fn resolve(path: &Path) -> std::io::Result<(PathBuf, Target)> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((path.to_path_buf(), Target::File));
        }
        Err(e) => return Err(e),
    };
    let ft = meta.file_type();
    if ft.is_file() {
        let real = if std::fs::symlink_metadata(path)?.file_type().is_symlink() {
            std::fs::canonicalize(path)?
        } else {
            path.to_path_buf()
        };
        Ok((real, Target::File))
    } else if ft.is_char_device() || ft.is_fifo() {
        Ok((path.to_path_buf(), Target::InPlace))
    } else {
        let kind = if ft.is_dir() {
            "a directory"
        } else if ft.is_block_device() {
            "a block device"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "a special file"
        };
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is {kind}: refusing to write over it", path.display()),
        ))
    }
}

/// Whether `path` holds a file that writing would replace (a device or FIFO is written
/// through, not replaced, so it does not count as existing for `--force`).
pub fn would_replace(path: &Path) -> bool {
    path.exists() && !matches!(target(path), Ok(Target::InPlace))
}

/// Where a temp file for `path` goes: beside it for a regular file (so the rename is atomic),
/// the system's temp folder for a device or FIFO (never a temp file in `/dev`).
///
/// # Errors
///
/// As [`target`].
pub fn temp_dir_for(path: &Path) -> std::io::Result<PathBuf> {
    Ok(match resolve(path)? {
        (_, Target::InPlace) => std::env::temp_dir(),
        (real, Target::File) => match real.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        },
    })
}

/// Opens a character device or FIFO for writing in place, without creating or truncating
/// anything. A FIFO with no reader fails at once (ENXIO) instead of blocking.
fn open_in_place(path: &Path) -> std::io::Result<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ENXIO) {
                std::io::Error::new(
                    e.kind(),
                    format!("{}: a FIFO with no reader", path.display()),
                )
            } else {
                e
            }
        })?;
    // Writes may then wait for the reader, as a shell redirection would.
    let flags = rustix::fs::fcntl_getfl(&f)?;
    rustix::fs::fcntl_setfl(&f, flags - rustix::fs::OFlags::NONBLOCK)?;
    Ok(f)
}

/// Writes `bytes` to `path`: atomically for a regular file (see the module docs), in place for
/// a character device or FIFO; `mode` applies to a new regular file.
///
/// # Errors
///
/// As [`target`]; opening a device or FIFO in place (ENXIO for a FIFO without a reader); creating,
/// writing, syncing or renaming the temp file. The old file is untouched then.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let (path, how) = resolve(path)?;
    if how == Target::InPlace {
        let mut f = open_in_place(&path)?;
        return f.write_all(bytes).and_then(|_| f.flush());
    }
    let dir = temp_dir_for(&path)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".wa-preflight-")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    tmp.persist(&path).map_err(|e| e.error)?;
    Ok(())
}

/// Puts a finished temp file at `path`: renamed over a regular file (refusing to replace one
/// unless `replace`), copied into a character device or FIFO.
///
/// # Errors
///
/// As [`target`]; copying into a device or FIFO; `AlreadyExists` when `path` exists and `replace`
/// is false; renaming the temp file.
pub fn persist(tmp: tempfile::NamedTempFile, path: &Path, replace: bool) -> std::io::Result<()> {
    let (path, how) = resolve(path)?;
    if how == Target::InPlace {
        let mut src = tmp.reopen()?;
        let mut f = open_in_place(&path)?;
        std::io::copy(&mut src, &mut f)?;
        return f.flush();
    }
    if replace {
        tmp.persist(&path).map_err(|e| e.error)?;
    } else {
        tmp.persist_noclobber(&path).map_err(|e| e.error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_atomically_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.prom");
        write_atomic(&p, b"one", 0o644).unwrap();
        write_atomic(&p, b"two", 0o644).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o644
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(write_atomic(Path::new("/nonexistent/dir/out"), b"x", 0o644).is_err());
    }

    /// A device node (made here, in a private folder: never the real /dev/null) is written
    /// through, never replaced by a regular file; a FIFO without a reader fails at once.
    #[test]
    fn devices_and_fifos_are_written_in_place() {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let dir = tempfile::tempdir().unwrap();
        let null = dir.path().join("null");
        let made = std::process::Command::new("mknod")
            .arg(&null)
            .args(["c", "1", "3"])
            .status()
            .unwrap();
        assert!(
            made.success(),
            "mknod needs root (the test bed runs as root)"
        );
        write_atomic(&null, b"report", 0o644).unwrap();
        let m = std::fs::symlink_metadata(&null).unwrap();
        assert!(m.file_type().is_char_device() && m.rdev() == rustix::fs::makedev(1, 3));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp left"
        );
        assert!(!would_replace(&null));
        let mut tmp = tempfile::NamedTempFile::new_in(dir.path()).unwrap();
        tmp.write_all(b"bundle").unwrap();
        persist(tmp, &null, false).unwrap();
        assert!(
            std::fs::symlink_metadata(&null)
                .unwrap()
                .file_type()
                .is_char_device()
        );

        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let e = write_atomic(&fifo, b"x", 0o644).unwrap_err();
        assert!(e.to_string().contains("no reader"), "{e}");
        let reader = std::thread::spawn({
            let fifo = fifo.clone();
            move || std::fs::read(fifo).unwrap()
        });
        // Wait until the reader has the FIFO open, then write through it.
        let started = std::time::Instant::now();
        loop {
            match write_atomic(&fifo, b"through the pipe", 0o644) {
                Ok(()) => break,
                Err(_) if started.elapsed() < std::time::Duration::from_secs(10) => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(reader.join().unwrap(), b"through the pipe");
        assert!(
            std::fs::symlink_metadata(&fifo)
                .unwrap()
                .file_type()
                .is_fifo()
        );

        // A link to a regular file (as /dev/stdout is when redirected to a file): the file is
        // replaced, the link stays.
        let real = dir.path().join("real.txt");
        std::fs::write(&real, b"old").unwrap();
        let link = dir.path().join("stdout");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomic(&link, b"new", 0o644).unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&real).unwrap(), b"new");

        let e = write_atomic(dir.path(), b"x", 0o644).unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
    }
}
