//! The leak scan: the finished archive is read back and refused at the first entry that still
//! holds a known secret, as it is or in any form redaction replaces (percent-encoded,
//! JSON-escaped, inside base64).

use std::path::Path;

use super::archive::open_archive;
use super::{BundleError, io_err};
use crate::redact::LeakScanner;

/// Reads a finished bundle and fails at the first entry holding any of `secrets` (kind,
/// value; shorter than 4 bytes are ignored), as they are or encoded.
///
/// # Errors
///
/// [`BundleError::Leak`] naming the secret's kind and form and the entry's path;
/// [`BundleError::Io`] when the archive cannot be read.
pub fn leak_scan(archive: &Path, secrets: &[(String, String)]) -> Result<(), BundleError> {
    let secrets: Vec<(String, Vec<u8>)> = secrets
        .iter()
        .filter(|(_, v)| v.len() >= 4)
        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
        .collect();
    let scanner = LeakScanner::new(&secrets).map_err(|e| BundleError::Io(e.to_string()))?;
    scan_archive(archive, &scanner)
}

/// Fails at the first entry of `archive` in which `scanner` finds a secret.
pub(super) fn scan_archive(archive: &Path, scanner: &LeakScanner) -> Result<(), BundleError> {
    let mut tar = open_archive(archive).map_err(io_err("leak scan"))?;
    for entry in tar.entries().map_err(io_err("leak scan"))? {
        let mut entry = entry.map_err(io_err("leak scan"))?;
        let path = entry
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if let Some(leak) = scanner.scan(&mut entry).map_err(io_err("leak scan"))? {
            return Err(BundleError::Leak {
                kind: format!("{}, {}", leak.kind, leak.form),
                path,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::collect;
    use crate::bundle::{Limits, write};

    fn spool_one(text: &[u8]) -> (collect::Spool, Vec<collect::Spooled>) {
        let spool = collect::Spool::new().unwrap();
        let item = spool.bytes("docker/c/logs.txt", "test", text).unwrap();
        (spool, vec![item])
    }

    #[test]
    fn the_leak_scan_refuses_to_write() {
        // Without redaction the secret stays; the scan (given it) must catch it.
        let (_spool, items) = spool_one(b"password is s3cr3t-value\n");
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("b.tar.gz");
        write(&out, false, "top", items, vec![], None, &Limits::default()).unwrap();
        let err = leak_scan(&out, &[("password".into(), "s3cr3t-value".into())]).unwrap_err();
        assert!(
            matches!(err, BundleError::Leak { ref path, .. } if path.ends_with("logs.txt")),
            "{err}"
        );
    }
}
