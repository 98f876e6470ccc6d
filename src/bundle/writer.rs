//! Writing a bundle: learn every file's secrets first, then redact, cap (the newest part of a
//! file, from a line start) and hash each one while streaming it into the compressed tar in a
//! temp file beside the output, add `manifest.json`, leak-scan the finished archive, and only
//! then rename it into place (mode 0600).

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::archive::{Compression, Encoder, tar_header};
use super::collect::{CollectorOutcome, Spooled};
use super::leak_scan::scan_archive;
use super::manifest::{MANIFEST_SCHEMA_VERSION, Manifest, ManifestFile, Truncation};
use super::{BundleError, io_err};
use crate::redact::Redactor;

/// Limits and switches of one bundle. Sizes are bytes; the defaults are 25 MiB a file,
/// 200 MiB a bundle, 1 MiB a line, gzip.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest file kept (its newest part when larger).
    pub max_file: u64,
    /// Largest bundle content; files past it are left out and listed.
    pub max_total: u64,
    /// Longest line redaction looks at in one piece.
    pub max_line: usize,
    /// How the archive is compressed (`.tar.gz` unless the output is named `.tar.zst`).
    pub compression: Compression,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file: 25 << 20,
            max_total: 200 << 20,
            max_line: 1 << 20,
            compression: Compression::Gzip,
        }
    }
}

/// Redacts `src` into a new spool file, then keeps at most `max` bytes of it (the newest part,
/// from a line start). Returns the file to add, its size, and the truncation if any.
pub(super) fn prepare(
    name: &str,
    src: &Path,
    redactor: Option<&mut Redactor>,
    limits: &Limits,
) -> std::io::Result<(tempfile::NamedTempFile, u64, Option<Truncation>)> {
    let mut out = tempfile::NamedTempFile::new()?;
    {
        let mut input = BufReader::new(std::fs::File::open(src)?);
        let mut w = std::io::BufWriter::new(out.as_file_mut());
        match redactor {
            Some(r) => {
                r.begin_file(name);
                r.stream(&mut input, &mut w, limits.max_line)?;
                r.end_of_file();
            }
            None => {
                std::io::copy(&mut input, &mut w)?;
            }
        }
        w.flush()?;
    }
    let len = out.as_file().metadata()?.len();
    if len <= limits.max_file {
        out.as_file_mut().seek(SeekFrom::Start(0))?;
        return Ok((out, len, None));
    }
    // Keep the newest part, starting after the first newline inside it.
    let mut f = out.reopen()?;
    f.seek(SeekFrom::Start(len - limits.max_file))?;
    let mut head = Vec::new();
    (&mut f).take(64 * 1024).read_to_end(&mut head)?;
    let skip = head.iter().position(|b| *b == b'\n').map_or(0, |i| i + 1) as u64;
    // When the newest line alone is longer than the cap, its newest part is kept rather
    // than nothing.
    let start = match len - limits.max_file + skip {
        start if start >= len => len - limits.max_file,
        start => start,
    };
    f.seek(SeekFrom::Start(start))?;
    let mut cut = tempfile::NamedTempFile::new()?;
    std::io::copy(&mut f, cut.as_file_mut())?;
    cut.as_file_mut().seek(SeekFrom::Start(0))?;
    let kept = len - start;
    Ok((
        cut,
        kept,
        Some(Truncation {
            original_size: len,
            kept: format!("the newest {kept} bytes, from byte {start}"),
        }),
    ))
}

/// SHA-256 of the whole of `f`, lowercase hex; `f` is rewound before and after.
fn sha256_file(f: &mut std::fs::File) -> std::io::Result<String> {
    f.seek(SeekFrom::Start(0))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    f.seek(SeekFrom::Start(0))?;
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes the bundle to `output` from the collectors' spooled files: redacted with
/// `redactor` (none: `--no-redact`), capped and hashed per [`Limits`], with `manifest.json`
/// last. `top` is the folder name inside the archive; `collectors` are listed in the manifest,
/// with a `write …` entry added for each file that could not be read.
///
/// # Errors
///
/// [`BundleError::Exists`] when `output` exists and `force` is false; [`BundleError::Leak`]
/// when the finished archive still holds a secret the redactor knows (nothing is written);
/// [`BundleError::Io`] when the temp file, the archive or the rename fails.
pub fn write(
    output: &Path,
    force: bool,
    top: &str,
    spooled: Vec<Spooled>,
    collectors: Vec<CollectorOutcome>,
    mut redactor: Option<Redactor>,
    limits: &Limits,
) -> Result<Manifest, BundleError> {
    if crate::output::would_replace(output) && !force {
        return Err(BundleError::Exists(output.display().to_string()));
    }
    let dir = crate::output::temp_dir_for(output).map_err(io_err("output"))?;
    let tmp = tempfile::Builder::new()
        .prefix(".wa-preflight-bundle-")
        .tempfile_in(&dir)
        .map_err(io_err("cannot create the bundle's temp file"))?;
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io_err("cannot set the bundle's mode"))?;
    }
    let now = time::OffsetDateTime::now_utc();
    let mtime = now.unix_timestamp().max(0) as u64;
    let encoder = Encoder::new(
        tmp.reopen().map_err(io_err("temp file"))?,
        limits.compression,
    )
    .map_err(io_err("starting the compression"))?;
    let mut tar = tar::Builder::new(encoder);
    let mut files = Vec::new();
    let mut omitted = Vec::new();
    let mut total: u64 = 0;
    let mut collectors = collectors;
    // First pass: what a file reveals (a secret-named value, a password after a flag, a URL's
    // password) is replaced in every file, those before it included. A file that cannot be
    // read whole now is left out rather than redacted with secrets unlearned.
    let spooled = match redactor.as_mut() {
        Some(r) => {
            let mut readable = Vec::with_capacity(spooled.len());
            for item in spooled {
                r.begin_file(&item.path);
                let learned = std::fs::File::open(&item.file)
                    .and_then(|f| r.learn(&mut BufReader::new(f), limits.max_line));
                r.end_of_file();
                match learned {
                    Ok(()) => readable.push(item),
                    Err(e) => collectors.push(CollectorOutcome {
                        name: format!("write {}", item.path),
                        status: "failed".into(),
                        error: Some(e.to_string()),
                        files: 0,
                        duration_ms: 0,
                    }),
                }
            }
            readable
        }
        None => spooled,
    };
    for item in spooled {
        let before = redactor.as_ref().map(Redactor::counts).unwrap_or_default();
        let prepared = prepare(&item.path, &item.file, redactor.as_mut(), limits);
        let (mut file, size, truncated) = match prepared {
            Ok((f, size, t)) => (f, size, t),
            Err(e) => {
                collectors.push(CollectorOutcome {
                    name: format!("write {}", item.path),
                    status: "failed".into(),
                    error: Some(e.to_string()),
                    files: 0,
                    duration_ms: 0,
                });
                continue;
            }
        };
        if total + size > limits.max_total {
            omitted.push(format!(
                "{} ({size} bytes): the bundle reached its {} byte cap",
                item.path, limits.max_total
            ));
            continue;
        }
        total += size;
        let sha256 = sha256_file(file.as_file_mut()).map_err(io_err("hashing"))?;
        let path = format!("{top}/{}", item.path);
        tar.append_data(&mut tar_header(size, mtime), &path, file.as_file_mut())
            .map_err(io_err("writing the bundle"))?;
        let after = redactor.as_ref().map(Redactor::counts).unwrap_or_default();
        let redactions = after
            .iter()
            .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
            .filter(|(_, v)| *v > 0)
            .collect();
        files.push(ManifestFile {
            path: item.path,
            producer: item.producer,
            size,
            sha256,
            truncated,
            cut_at_source: item.cut_at_source,
            log_source: item.log_source,
            redactions,
        });
    }
    let manifest = Manifest {
        schema_version: MANIFEST_SCHEMA_VERSION,
        tool: crate::facts::ToolInfo::current(),
        created_at: now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        redacted: redactor.is_some(),
        limits: BTreeMap::from([
            ("max_file_bytes".to_string(), limits.max_file),
            ("max_total_bytes".to_string(), limits.max_total),
        ]),
        files,
        omitted,
        collectors,
        redactions: redactor.as_ref().map(Redactor::counts).unwrap_or_default(),
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| BundleError::Io(e.to_string()))?;
    tar.append_data(
        &mut tar_header(json.len() as u64, mtime),
        format!("{top}/manifest.json"),
        json.as_slice(),
    )
    .map_err(io_err("writing the manifest"))?;
    let encoder = tar.into_inner().map_err(io_err("finishing the archive"))?;
    let mut file = encoder
        .finish()
        .map_err(io_err("finishing the compression"))?;
    file.flush().map_err(io_err("flushing the bundle"))?;
    file.sync_all().map_err(io_err("syncing the bundle"))?;
    if let Some(r) = &redactor {
        let scanner = r
            .leak_scanner()
            .map_err(|e| BundleError::Io(e.to_string()))?;
        scan_archive(tmp.path(), &scanner)?;
    }
    crate::output::persist(tmp, output, force)
        .map_err(|e| BundleError::Io(format!("cannot write {}: {e}", output.display())))?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::collect;
    use crate::redact::PersonalData;

    fn spool_one(text: &[u8]) -> (collect::Spool, Vec<Spooled>) {
        let spool = collect::Spool::new().unwrap();
        let item = spool.bytes("docker/c/logs.txt", "test", text).unwrap();
        (spool, vec![item])
    }

    #[test]
    fn caps_keep_the_newest_lines_and_the_manifest_says_so() {
        let mut text = Vec::new();
        for i in 0..10_000 {
            text.extend_from_slice(format!("line {i:05} WA_DB_PASSWORD=hunter2222\n").as_bytes());
        }
        let (_spool, items) = spool_one(&text);
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("b.tar.gz");
        let limits = Limits {
            max_file: 4096,
            ..Limits::default()
        };
        let r = Redactor::new(
            PersonalData::default(),
            &[("password".into(), "hunter2222".into())],
            &[],
        )
        .unwrap();
        let m = write(&out, false, "top", items, vec![], Some(r), &limits).unwrap();
        let f = &m.files[0];
        assert!(f.size <= 4096 && f.truncated.is_some());
        assert!(f.redactions.values().sum::<u64>() > 0);
        // The newest line survived, the oldest did not, and no secret is left.
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(
            std::fs::File::open(&out).unwrap(),
        ));
        let mut content = String::new();
        for e in tar.entries().unwrap() {
            let mut e = e.unwrap();
            if e.path().unwrap().ends_with("logs.txt") {
                e.read_to_string(&mut content).unwrap();
            }
        }
        assert!(content.contains("line 09999") && !content.contains("line 00000"));
        assert!(content.starts_with("line "), "cut at a line start");
        assert!(!content.contains("hunter2222"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // Never overwritten without force.
        let (_s2, items) = spool_one(b"x\n");
        assert!(matches!(
            write(&out, false, "top", items, vec![], None, &limits),
            Err(BundleError::Exists(_))
        ));
    }

    #[test]
    fn a_last_line_longer_than_the_cap_keeps_its_newest_part() {
        let mut text = b"short line\n".to_vec();
        text.extend(std::iter::repeat_n(b'L', 10_000));
        text.extend_from_slice(b"END\n");
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("log");
        std::fs::write(&src, &text).unwrap();
        let limits = Limits {
            max_file: 4096,
            ..Limits::default()
        };
        let (mut f, size, cut) = prepare("log", &src, None, &limits).unwrap();
        let mut kept = Vec::new();
        f.as_file_mut().read_to_end(&mut kept).unwrap();
        assert_eq!(size, 4096);
        assert_eq!(kept, text[text.len() - 4096..]);
        assert!(cut.is_some());
    }
}
