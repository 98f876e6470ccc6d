//! `preflight redact`: re-redacting an existing bundle (`.tar.gz`, `.tar.zst`) or a single file
//! (compressed or not). Its input is unpacked (decompression capped at [`REDACT_INPUT_CAP`]),
//! read once to learn the secrets it reveals, redacted into a temp file of the same kind,
//! leak-scanned, and only then renamed into place.

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::archive::{Compression, Encoder, open_archive, tar_header};
use super::leak_scan::scan_archive;
use super::writer::{Limits, prepare};
use super::{BundleError, io_err};
use crate::compressed;
use crate::redact::{PersonalData, Redactor};

/// The most `preflight redact` decompresses from one input: a bundle is 200 MiB by default,
/// so anything near this is not one (or is a decompression bomb). The same cap as reading a
/// bundle's facts ([`MAX_BUNDLE_BYTES`](crate::facts::saved::MAX_BUNDLE_BYTES)).
pub const REDACT_INPUT_CAP: u64 = crate::facts::saved::MAX_BUNDLE_BYTES;

/// `preflight redact`'s input, opened without blocking and refused unless a regular file.
fn regular_input(path: &Path) -> std::io::Result<std::fs::File> {
    match crate::input::open_regular(path, "input") {
        Ok(Some(f)) => Ok(f),
        Ok(None) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{} is the null device, not a bundle or file",
                path.display()
            ),
        )),
        Err(e) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            e.to_string(),
        )),
    }
}

/// What `preflight redact` was given.
enum Input {
    /// A bundle (`.tar.gz`, `.tar.zst`).
    Archive(Compression),
    /// One file, compressed or not.
    File,
}

/// Whether `path` is a bundle (a compressed tar: `ustar` at byte 257 once decompressed) or
/// one file.
fn sniff_input(path: &Path) -> std::io::Result<Input> {
    let mut f = regular_input(path)?;
    let mut head = [0u8; 8];
    let n = f.read(&mut head)?;
    f.seek(SeekFrom::Start(0))?;
    let format = match compressed::sniff(&head[..n]) {
        Some(f) => f,
        None => return Ok(Input::File),
    };
    // A tar header says `ustar` at byte 257.
    let mut first = Vec::with_capacity(512);
    if let Ok(d) = compressed::decoder(format, f) {
        d.take(512).read_to_end(&mut first)?;
    }
    Ok(match format {
        compressed::Format::Gzip if first.get(257..262) == Some(b"ustar") => {
            Input::Archive(Compression::Gzip)
        }
        compressed::Format::Zstd if first.get(257..262) == Some(b"ustar") => {
            Input::Archive(Compression::Zstd)
        }
        _ => Input::File,
    })
}

/// One file unpacked from the input, decompressed.
struct Unpacked {
    path: String,
    mtime: u64,
    file: tempfile::NamedTempFile,
}

/// Copies `reader` into a new temp file, decompressing it when it is compressed; at most
/// `budget` bytes in all, which is lowered by what was used.
fn unpack(
    reader: &mut dyn Read,
    name: &str,
    budget: &mut u64,
) -> Result<(tempfile::NamedTempFile, String), BundleError> {
    let mut head = Vec::with_capacity(8);
    reader
        .take(8)
        .read_to_end(&mut head)
        .map_err(io_err(name))?;
    let mut whole = std::io::Cursor::new(head.clone()).chain(reader);
    let mut file = tempfile::NamedTempFile::new().map_err(io_err("temp file"))?;
    let too_big = |e: std::io::Error| BundleError::Io(format!("{name}: {e}; nothing written"));
    let (n, name) = match compressed::sniff(&head) {
        Some(format) => {
            let mut d = compressed::decoder(format, whole).map_err(too_big)?;
            let n =
                compressed::copy_capped(&mut d, file.as_file_mut(), *budget).map_err(too_big)?;
            (n, compressed::strip_suffix(name).to_string())
        }
        None => {
            let n = compressed::copy_capped(&mut whole, file.as_file_mut(), *budget)
                .map_err(too_big)?;
            (n, name.to_string())
        }
    };
    *budget -= n;
    file.as_file_mut()
        .seek(SeekFrom::Start(0))
        .map_err(io_err("temp file"))?;
    Ok((file, name))
}

/// Re-redacts an existing bundle (`.tar.gz`, `.tar.zst`) or a single file (compressed or not)
/// into `output`. Every file is read first to learn the secrets the bundle itself reveals
/// (secret-named env values in inspect files, passwords after flags, …); the output is then
/// leak-scanned for them, and not written if one is still there. Decompression is capped at
/// [`REDACT_INPUT_CAP`]. A compressed single file is written decompressed. Returns the values
/// replaced per redaction rule.
///
/// # Errors
///
/// [`BundleError::Exists`] when `output` exists and `force` is false; [`BundleError::Io`] when
/// the input is not a regular file, cannot be read, decompresses past [`REDACT_INPUT_CAP`], a
/// custom rule is invalid, or the output cannot be written; [`BundleError::Leak`] when a
/// secret the input reveals is still in the redacted output (nothing is written).
pub fn redact_existing(
    input: &Path,
    output: &Path,
    force: bool,
    personal: PersonalData,
    custom: &[crate::redact::CustomRule],
) -> Result<BTreeMap<String, u64>, BundleError> {
    if crate::output::would_replace(output) && !force {
        return Err(BundleError::Exists(output.display().to_string()));
    }
    let mut redactor =
        Redactor::new(personal, &[], custom).map_err(|e| BundleError::Io(e.to_string()))?;
    let limits = Limits::default();
    let dir = crate::output::temp_dir_for(output).map_err(io_err("output"))?;
    let tmp = tempfile::Builder::new()
        .prefix(".wa-preflight-redact-")
        .tempfile_in(&dir)
        .map_err(io_err("temp file"))?;
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io_err("mode"))?;
    }
    let mut budget = REDACT_INPUT_CAP;
    let kind = sniff_input(input).map_err(io_err("input"))?;
    let files: Vec<Unpacked> = match kind {
        Input::Archive(_) => {
            let mut archive = open_archive(input).map_err(io_err("reading the bundle"))?;
            let mut files = Vec::new();
            for entry in archive.entries().map_err(io_err("reading the bundle"))? {
                let mut entry = entry.map_err(io_err("reading the bundle"))?;
                if !entry.header().entry_type().is_file() {
                    continue;
                }
                let path = entry
                    .path()
                    .map_err(io_err("entry name"))?
                    .display()
                    .to_string();
                let mtime = entry.header().mtime().unwrap_or(0);
                let (file, path) = unpack(&mut entry, &path, &mut budget)?;
                files.push(Unpacked { path, mtime, file });
            }
            files
        }
        Input::File => {
            let mut f = regular_input(input).map_err(io_err("input"))?;
            let name = input.display().to_string();
            let (file, path) = unpack(&mut f, &name, &mut budget)?;
            vec![Unpacked {
                path,
                mtime: 0,
                file,
            }]
        }
    };
    for u in &files {
        redactor.begin_file(&u.path);
        let f = u.file.reopen().map_err(io_err("temp file"))?;
        redactor
            .learn(&mut BufReader::new(f), limits.max_line)
            .map_err(io_err("reading"))?;
        redactor.end_of_file();
    }
    let unlimited = Limits {
        max_file: u64::MAX,
        ..limits.clone()
    };
    match kind {
        Input::Archive(compression) => {
            let encoder = Encoder::new(tmp.reopen().map_err(io_err("temp file"))?, compression)
                .map_err(io_err("starting the compression"))?;
            let mut tar = tar::Builder::new(encoder);
            for u in &files {
                let (mut red, size, _) =
                    prepare(&u.path, u.file.path(), Some(&mut redactor), &unlimited)
                        .map_err(io_err("redacting"))?;
                tar.append_data(&mut tar_header(size, u.mtime), &u.path, red.as_file_mut())
                    .map_err(io_err("writing"))?;
            }
            tar.into_inner()
                .and_then(Encoder::finish)
                .map_err(io_err("finishing"))?;
        }
        Input::File => {
            let u = &files[0];
            let (mut red, _, _) = prepare(&u.path, u.file.path(), Some(&mut redactor), &unlimited)
                .map_err(io_err("redacting"))?;
            let mut w = tmp.reopen().map_err(io_err("temp file"))?;
            std::io::copy(red.as_file_mut(), &mut w).map_err(io_err("writing"))?;
            w.flush().map_err(io_err("writing"))?;
        }
    }
    let scanner = redactor
        .leak_scanner()
        .map_err(|e| BundleError::Io(e.to_string()))?;
    match kind {
        Input::Archive(_) => scan_archive(tmp.path(), &scanner)?,
        Input::File => {
            let mut f = std::fs::File::open(tmp.path()).map_err(io_err("leak scan"))?;
            if let Some(leak) = scanner.scan(&mut f).map_err(io_err("leak scan"))? {
                return Err(BundleError::Leak {
                    kind: format!("{}, {}", leak.kind, leak.form),
                    path: output.display().to_string(),
                });
            }
        }
    }
    crate::output::persist(tmp, output, true)
        .map_err(|e| BundleError::Io(format!("cannot write {}: {e}", output.display())))?;
    Ok(redactor.counts())
}
