//! A saved facts document, as `preflight check --facts` and `bundle --facts` read it: whatever
//! `preflight facts --format json|yaml` wrote, from a file or standard input (`-`), or a
//! support bundle (`.tar.gz`, `.tar.zst`) holding it as `<top folder>/facts.json`.

use std::io::{self, Read};
use std::path::Path;

use super::{FACTS_SCHEMA_VERSION, Facts};
use crate::compressed;

/// The largest facts document read (a real one is tens of KiB).
pub const MAX_FACTS_BYTES: u64 = crate::input::FACTS_LIMIT;

/// The most a bundle is decompressed while looking for its facts: a bundle holds 200 MiB by
/// default, so anything past this is not one (or is a decompression bomb).
pub const MAX_BUNDLE_BYTES: u64 = 1 << 30;

/// Why a saved facts document could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FactsFileError {
    /// Reading or decompressing failed, the document is larger than [`MAX_FACTS_BYTES`] (a
    /// bundle decompresses past [`MAX_BUNDLE_BYTES`]), or it is not UTF-8.
    #[error("cannot read facts file {path}: {source}")]
    Read {
        /// The file as given (`<stdin>` for `-`).
        path: String,
        /// What failed.
        source: io::Error,
    },
    /// Not a file that can be read without blocking (a FIFO, a device), or unreadable.
    #[error("{0}")]
    Input(#[from] crate::input::InputError),
    /// A JSON document that does not fit the schema; `field` is the dotted path of the value.
    #[error("{path}:{line}:{column}: {field}: {message}")]
    Invalid {
        /// The file as given (`bundle.tar.gz:top/facts.json` inside a bundle).
        path: String,
        /// Line of the offending value, from 1.
        line: usize,
        /// Column of the offending value, from 1.
        column: usize,
        /// Dotted path of the value (`host.kernel.release`).
        field: String,
        /// What is wrong with it (serde's words: unknown field, invalid type).
        message: String,
    },
    /// A YAML document that does not parse or fit the schema.
    #[error("{0}")]
    Yaml(crate::located::LocatedError),
    #[error(
        "{path}: facts schema_version {found} is not supported (this build reads {FACTS_SCHEMA_VERSION})"
    )]
    /// A `schema_version` this build does not read.
    Version {
        /// The file as given.
        path: String,
        /// The version the document declares.
        found: u64,
    },
    /// A bundle without `<top folder>/facts.json`.
    #[error("{path}: the bundle holds no facts.json in its top folder ({found})")]
    NoFacts {
        /// The bundle as given.
        path: String,
        /// What its top folder holds instead, for the message.
        found: String,
    },
}

/// Reads a facts document (JSON or YAML, by its first character), standard input for `-`, or
/// the `facts.json` of a support bundle (by its gzip or zstd magic bytes), and checks it
/// against the schema. Errors name the file (`bundle.tar.gz:top/facts.json` inside a bundle)
/// with the line, column and field.
///
/// # Errors
///
/// [`FactsFileError::Input`] for a file that is not regular or cannot be opened;
/// [`FactsFileError::Read`] when reading or decompressing fails or a size bound is passed;
/// [`FactsFileError::NoFacts`] for a bundle without `facts.json`; and the errors of [`parse`].
pub fn load_facts_file(path: &Path) -> Result<Facts, FactsFileError> {
    let stdin = path.as_os_str() == "-";
    let shown = if stdin {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    };
    let read_err = |source| FactsFileError::Read {
        path: shown.clone(),
        source,
    };
    let mut input: Box<dyn Read> = if stdin {
        Box::new(io::stdin().lock())
    } else {
        // Without blocking, regular files only: a FIFO or a device is refused at once.
        match crate::input::open_regular(path, "facts file")? {
            Some(f) => Box::new(f),
            None => Box::new(io::empty()),
        }
    };
    let mut head = Vec::with_capacity(8);
    (&mut input)
        .take(8)
        .read_to_end(&mut head)
        .map_err(read_err)?;
    let whole = io::Cursor::new(head.clone()).chain(input);
    match compressed::sniff(&head) {
        None => {
            let text = read_capped(whole, MAX_FACTS_BYTES).map_err(read_err)?;
            parse(&shown, &text)
        }
        Some(format) => {
            let decoder = compressed::decoder(format, whole).map_err(read_err)?;
            from_compressed(&shown, Capped::new(decoder, MAX_BUNDLE_BYTES))
        }
    }
}

/// The files of a support bundle that the log scan reads (see [`super::logs::bundle_wants`]),
/// each its newest `max` bytes, by their path under the top folder; `None` when `path` is not
/// a bundle. Decompression is bounded as for the facts.
///
/// # Errors
///
/// [`FactsFileError::Input`] or [`FactsFileError::Read`] when the file cannot be opened, read or
/// decompressed, or a tar entry is malformed.
pub fn bundle_log_files(
    path: &Path,
    max: usize,
) -> Result<Option<super::logs::BundleFiles>, FactsFileError> {
    let shown = path.display().to_string();
    let read_err = |source| FactsFileError::Read {
        path: shown.clone(),
        source,
    };
    let Some(mut archive) = open_bundle(path)? else {
        return Ok(None);
    };
    let mut files = super::logs::BundleFiles::new();
    for entry in archive.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path().map_err(read_err)?.display().to_string();
        let Some((_, inner)) = name.split_once('/') else {
            continue;
        };
        if !super::logs::bundle_wants(inner) {
            continue;
        }
        // The newest bytes of however long a file: read on, dropping the oldest part.
        let mut bytes = Vec::new();
        let mut chunk = vec![0u8; 1 << 16];
        loop {
            let n = entry.read(&mut chunk).map_err(read_err)?;
            if n == 0 {
                break;
            }
            bytes.extend_from_slice(&chunk[..n]);
            if bytes.len() > max.saturating_mul(2) {
                bytes.drain(..bytes.len() - max);
            }
        }
        files.insert(inner.to_string(), super::logs::keep_newest(bytes, max));
    }
    Ok(Some(files))
}

/// A saved facts document ready to judge: [`load_facts_file`], then, for a support bundle,
/// its logs scanned again ([`rescan_bundle_logs`]).
///
/// # Errors
///
/// As [`load_facts_file`] and [`bundle_log_files`].
pub fn load_to_judge(path: &Path, logs: &super::logs::LogOptions) -> Result<Facts, FactsFileError> {
    let mut facts = load_facts_file(path)?;
    rescan_bundle_logs(path, logs, &mut facts)?;
    Ok(facts)
}

/// A support bundle judged elsewhere: its logs are scanned again with the signatures in force
/// now (`logs.patterns`, windows ending when it was collected), so a newer rules file finds
/// what an old bundle holds; the WhatsApp containers' roles come from the bundle's own facts.
/// Nothing changes (`false`) when there are no signatures, or `path` is a plain facts
/// document (which keeps whatever log scan it carries), or a bundle holding none of the logs
/// (a facts document packed alone); otherwise `facts.logs` is replaced (`true`).
///
/// # Errors
///
/// As [`bundle_log_files`].
pub fn rescan_bundle_logs(
    path: &Path,
    logs: &super::logs::LogOptions,
    facts: &mut Facts,
) -> Result<bool, FactsFileError> {
    if logs.patterns.is_empty() {
        return Ok(false);
    }
    let Some(files) = bundle_log_files(path, logs.max_bytes)?.filter(|f| !f.is_empty()) else {
        return Ok(false);
    };
    let containers = facts.wa_containers().to_vec();
    let shown = format!("bundle {}", path.display());
    facts.logs = Some(
        super::logs::from_bundle(
            &files,
            &logs.patterns,
            &containers,
            facts.collected_at,
            &shown,
        )
        .into(),
    );
    Ok(true)
}

/// Whether `path` is a support bundle (a gzip or zstd compressed tar archive), from its first
/// bytes only.
///
/// # Errors
///
/// [`FactsFileError::Input`] or [`FactsFileError::Read`] when its first bytes cannot be read.
pub fn is_bundle(path: &Path) -> Result<bool, FactsFileError> {
    Ok(open_bundle(path)?.is_some())
}

/// A support bundle's tar stream, decompressed with the bound of [`MAX_BUNDLE_BYTES`] and
/// read as far as its first header; `None` when `path` is standard input or not a bundle.
fn open_bundle(path: &Path) -> Result<Option<tar::Archive<impl Read>>, FactsFileError> {
    let read_err = |source| FactsFileError::Read {
        path: path.display().to_string(),
        source,
    };
    if path.as_os_str() == "-" {
        return Ok(None);
    }
    let Some(mut input) = crate::input::open_regular(path, "bundle")? else {
        return Ok(None);
    };
    let mut head = Vec::with_capacity(8);
    (&mut input)
        .take(8)
        .read_to_end(&mut head)
        .map_err(read_err)?;
    let Some(format) = compressed::sniff(&head) else {
        return Ok(None);
    };
    let whole = io::Cursor::new(head).chain(input);
    let decoder = compressed::decoder(format, whole).map_err(read_err)?;
    let mut r = Capped::new(decoder, MAX_BUNDLE_BYTES);
    let mut first = Vec::with_capacity(512);
    (&mut r)
        .take(512)
        .read_to_end(&mut first)
        .map_err(read_err)?;
    if first.get(257..262) != Some(b"ustar") {
        return Ok(None);
    }
    Ok(Some(tar::Archive::new(io::Cursor::new(first).chain(r))))
}

/// A compressed input: a bundle (a tar archive), or a compressed facts document.
fn from_compressed(shown: &str, mut r: Capped<impl Read>) -> Result<Facts, FactsFileError> {
    let read_err = |source| FactsFileError::Read {
        path: shown.to_string(),
        source,
    };
    // A tar header says `ustar` at byte 257.
    let mut first = Vec::with_capacity(512);
    (&mut r)
        .take(512)
        .read_to_end(&mut first)
        .map_err(read_err)?;
    let whole = io::Cursor::new(first.clone()).chain(r);
    if first.get(257..262) != Some(b"ustar") {
        let text = read_capped(whole, MAX_FACTS_BYTES).map_err(read_err)?;
        return parse(shown, &text);
    }
    let mut archive = tar::Archive::new(whole);
    let mut tops: Vec<String> = Vec::new();
    for entry in archive.entries().map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        let name = entry.path().map_err(read_err)?.display().to_string();
        let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
        if let Some(top) = parts.first()
            && !tops.iter().any(|t| t == top)
        {
            tops.push((*top).to_string());
        }
        if parts.len() == 2 && parts[1] == "facts.json" {
            let inner = format!("{shown}:{name}");
            let text =
                read_capped(entry, MAX_FACTS_BYTES).map_err(|source| FactsFileError::Read {
                    path: inner.clone(),
                    source,
                })?;
            return parse(&inner, &text);
        }
    }
    let found = match tops.as_slice() {
        [] => "the archive is empty".to_string(),
        [one] => format!("its top folder is {one}/"),
        many => format!("its top folders are {}/", many.join("/, ")),
    };
    Err(FactsFileError::NoFacts {
        path: shown.to_string(),
        found,
    })
}

/// Reads at most `cap` bytes as UTF-8 text; more is an error, not a silent cut.
fn read_capped(r: impl Read, cap: u64) -> io::Result<String> {
    let mut bytes = Vec::new();
    r.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {cap} bytes, which no facts document is"),
        ));
    }
    String::from_utf8(bytes)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("not UTF-8 text: {e}")))
}

/// A reader that fails once more than `left` bytes came through (bounded decompression).
struct Capped<R> {
    inner: R,
    left: u64,
    cap: u64,
}

impl<R> Capped<R> {
    fn new(inner: R, cap: u64) -> Self {
        Capped {
            inner,
            left: cap,
            cap,
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // One byte more than allowed means the input is larger than the cap.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("decompresses to more than {} bytes", self.cap),
                )),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Parses a facts document: JSON when it starts with `{`, else YAML.
///
/// # Errors
///
/// [`FactsFileError::Invalid`] (JSON) or [`FactsFileError::Yaml`] (YAML) with the line, column and
/// field of a value that does not fit the schema; [`FactsFileError::Version`] for another
/// `schema_version`.
pub fn parse(shown: &str, text: &str) -> Result<Facts, FactsFileError> {
    if text.trim_start().starts_with('{') {
        parse_json(shown, text)
    } else {
        parse_yaml(shown, text)
    }
}

fn parse_json(shown: &str, text: &str) -> Result<Facts, FactsFileError> {
    // Check the version first, so a newer document gets a clear message instead of a field error.
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text)
        && let Some(found) = v.get("schema_version").and_then(serde_json::Value::as_u64)
        && found != u64::from(FACTS_SCHEMA_VERSION)
    {
        return Err(FactsFileError::Version {
            path: shown.to_string(),
            found,
        });
    }
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = match e.path().to_string() {
            p if p == "." => "(top level)".to_string(),
            p => p,
        };
        let inner = e.into_inner();
        let text = inner.to_string();
        let message = text
            .find(" at line ")
            .map_or(text.clone(), |i| text[..i].to_string());
        FactsFileError::Invalid {
            path: shown.to_string(),
            line: inner.line(),
            column: inner.column(),
            field,
            message,
        }
    })
}

fn parse_yaml(shown: &str, text: &str) -> Result<Facts, FactsFileError> {
    #[derive(serde::Deserialize)]
    struct Head {
        schema_version: Option<u64>,
    }
    let located = |e: serde_saphyr::Error| {
        FactsFileError::Yaml(crate::located::LocatedError::from_yaml(shown, &e))
    };
    let head: Head = serde_saphyr::from_str(text).map_err(located)?;
    if let Some(found) = head.schema_version
        && found != u64::from(FACTS_SCHEMA_VERSION)
    {
        return Err(FactsFileError::Version {
            path: shown.to_string(),
            found,
        });
    }
    serde_saphyr::from_str(text).map_err(located)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decompression_is_bounded() {
        let mut out = Vec::new();
        let mut r = Capped::new(&[7u8; 100][..], 100);
        assert_eq!(r.read_to_end(&mut out).unwrap(), 100);
        let mut r = Capped::new(&[7u8; 101][..], 100);
        let err = r.read_to_end(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("more than 100 bytes"), "{err}");
        assert!(read_capped(&[b'{'; 11][..], 10).is_err());
    }

    /// A gzip-compressed tar of `entries` (path, bytes) at `path`.
    fn tar_gz(path: &Path, entries: &[(&str, &[u8])]) {
        let file = std::fs::File::create(path).unwrap();
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (name, bytes) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o600);
            h.set_cksum();
            tar.append_data(&mut h, name, *bytes).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
    }

    #[test]
    fn only_a_bundle_with_logs_is_scanned_again_with_its_own_containers() {
        use super::super::logs::{LogOptions, LogSource, Pattern};
        let text = include_str!("../../fixtures/centos7/facts.json");
        let doc = parse("centos7", text).unwrap();
        let opts = LogOptions {
            patterns: vec![Pattern {
                id: "db_login_refused".into(),
                sources: vec![LogSource::Coreapp, LogSource::Database],
                regex: "Access denied for user".into(),
                window: std::time::Duration::from_secs(86_400),
            }],
            ..LogOptions::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let logs = b"2026-12-01T00:00:00.000000000Z Access denied for user 'wa'\n";
        let bundle = dir.path().join("b.tar.gz");
        tar_gz(
            &bundle,
            &[
                (
                    "wa-preflight-h-20261201T000000Z/facts.json",
                    text.as_bytes(),
                ),
                (
                    "wa-preflight-h-20261201T000000Z/docker/wa_coreapp_1/logs.txt",
                    logs,
                ),
                // Not a WhatsApp container of the bundle's facts, nor a database image: unread.
                (
                    "wa-preflight-h-20261201T000000Z/docker/other/logs.txt",
                    logs,
                ),
            ],
        );
        let mut facts = load_facts_file(&bundle).unwrap();
        assert!(rescan_bundle_logs(&bundle, &opts, &mut facts).unwrap());
        let scanned = match facts.logs.as_ref() {
            Some(crate::facts::Fact::Available(l)) => l,
            other => panic!("the logs are scanned: {other:?}"),
        };
        assert_eq!(scanned.from, format!("bundle {}", bundle.display()));
        let names: Vec<&str> = scanned.sources.iter().map(|s| s.name.as_str()).collect();
        assert!(names.contains(&"container wa_coreapp_1"), "{names:?}");
        assert!(!names.iter().any(|n| n.contains("other")), "{names:?}");
        assert_eq!(load_to_judge(&bundle, &opts).unwrap(), facts);

        // No signatures: the bundle's facts as they are.
        let mut same = doc.clone();
        let none = LogOptions::default();
        assert!(!rescan_bundle_logs(&bundle, &none, &mut same).unwrap());
        assert_eq!(same, doc);
        // A plain document keeps its own scan.
        let plain = dir.path().join("facts.json");
        std::fs::write(&plain, text).unwrap();
        let mut same = doc.clone();
        assert!(!rescan_bundle_logs(&plain, &opts, &mut same).unwrap());
        assert_eq!(same, doc);
        assert_eq!(load_to_judge(&plain, &opts).unwrap(), doc);
        // A bundle holding only its facts: nothing to scan.
        let bare = dir.path().join("bare.tar.gz");
        tar_gz(
            &bare,
            &[(
                "wa-preflight-h-20261201T000000Z/facts.json",
                text.as_bytes(),
            )],
        );
        let mut same = load_facts_file(&bare).unwrap();
        assert!(!rescan_bundle_logs(&bare, &opts, &mut same).unwrap());
        assert_eq!(same, doc);
        // A broken archive is the operator's input: an error naming it.
        let broken = dir.path().join("broken.tar.gz");
        let whole = std::fs::read(&bundle).unwrap();
        std::fs::write(&broken, &whole[..whole.len() / 2]).unwrap();
        let e = load_to_judge(&broken, &opts).unwrap_err().to_string();
        assert!(e.contains("broken.tar.gz"), "{e}");
    }

    #[test]
    fn a_gzipped_document_that_is_no_bundle_is_read_too() {
        use std::io::Write;
        let text = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/centos7/facts.json"
        ))
        .unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&text).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("facts.json.gz");
        std::fs::write(&p, gz.finish().unwrap()).unwrap();
        assert_eq!(
            load_facts_file(&p).unwrap(),
            parse("x", std::str::from_utf8(&text).unwrap()).unwrap()
        );
    }
}
