//! `preflight bundle`: what an operator attaches to a support ticket.
//!
//! Collect (concurrently, each collector under a deadline, failures recorded) → read every
//! file once to learn the secrets it reveals → redact, cap and hash each file while streaming
//! it into a `.tar.gz` written to a temp file → leak-scan the finished archive for every
//! secret the run knows, in every form redaction replaces → rename into place (mode 0600). A
//! leak stops the bundle from being written at all.

pub mod collect;

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use flate2::write::GzEncoder;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::compressed;
use crate::redact::{LeakScanner, PersonalData, Redactor};
use collect::{CollectorOutcome, Spooled};

/// How the archive is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// `.tar.gz`
    Gzip,
    /// `.tar.zst`
    Zstd,
}

/// The compressing writer, finished explicitly so errors are not lost in a drop.
enum Encoder {
    Gzip(GzEncoder<std::fs::File>),
    Zstd(zstd::stream::write::Encoder<'static, std::fs::File>),
}

impl Write for Encoder {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
        }
    }
}

impl Encoder {
    fn new(file: std::fs::File, c: Compression) -> std::io::Result<Encoder> {
        Ok(match c {
            Compression::Gzip => Encoder::Gzip(GzEncoder::new(file, flate2::Compression::new(6))),
            Compression::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(file, 3)?),
        })
    }
    fn finish(self) -> std::io::Result<std::fs::File> {
        match self {
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
        }
    }
}

/// Opens a bundle for reading, whichever compression it has (by its magic bytes).
pub fn open_archive(path: &Path) -> std::io::Result<tar::Archive<Box<dyn Read>>> {
    let mut f = std::fs::File::open(path)?;
    let mut magic = [0u8; 4];
    let n = f.read(&mut magic)?;
    f.seek(SeekFrom::Start(0))?;
    let reader: Box<dyn Read> = if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        Box::new(flate2::read::GzDecoder::new(f))
    } else if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        Box::new(zstd::stream::read::Decoder::new(f)?)
    } else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a .tar.gz or .tar.zst bundle",
        ));
    };
    Ok(tar::Archive::new(reader))
}

/// Limits and switches of one bundle.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest file kept (its newest part when larger).
    pub max_file: u64,
    /// Largest bundle content; files past it are left out and listed.
    pub max_total: u64,
    /// Longest line redaction looks at in one piece.
    pub max_line: usize,
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

/// One file in the manifest.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestFile {
    pub path: String,
    pub producer: String,
    pub size: u64,
    pub sha256: String,
    /// Set when only the newest part was kept.
    pub truncated: Option<Truncation>,
    /// Set when the source itself was only partly read (a huge log's newest lines).
    pub cut_at_source: Option<String>,
    /// For a container log: read from its json-file log files or through the Engine API,
    /// and why (manifest schema 2).
    pub log_source: Option<collect::LogSource>,
    /// Values replaced in this file, per redaction rule.
    pub redactions: BTreeMap<String, u64>,
}

/// Where a file was cut.
#[derive(Debug, Clone, Serialize)]
pub struct Truncation {
    pub original_size: u64,
    pub kept: String,
}

/// The shape of `manifest.json`: 2 added each file's `log_source`.
pub const MANIFEST_SCHEMA_VERSION: u32 = 2;

/// `manifest.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub schema_version: u32,
    pub tool: crate::facts::ToolInfo,
    pub created_at: String,
    pub redacted: bool,
    pub limits: BTreeMap<String, u64>,
    pub files: Vec<ManifestFile>,
    /// Files left out because the total cap was reached.
    pub omitted: Vec<String>,
    pub collectors: Vec<CollectorOutcome>,
    /// Replaced values per rule, over the whole bundle.
    pub redactions: BTreeMap<String, u64>,
}

/// Why a bundle was not written.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{0} exists; use --force to replace it")]
    Exists(String),
    #[error("leak scan: a known secret ({kind}) is still in {path}; the bundle was not written")]
    Leak { kind: String, path: String },
    #[error("{0}")]
    Io(String),
}

fn io_err(what: &str) -> impl Fn(std::io::Error) -> BundleError + '_ {
    move |e| BundleError::Io(format!("{what}: {e}"))
}

/// Redacts `src` into a new spool file, then keeps at most `max` bytes of it (the newest part,
/// from a line start). Returns the file to add, its size, and the truncation if any.
fn prepare(
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

fn tar_header(size: u64, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(mtime);
    header.set_cksum();
    header
}

/// Writes the bundle. `top` is the folder name inside the archive.
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

/// Reads a finished bundle and fails at the first entry holding any of `secrets` (kind,
/// value; shorter than 4 bytes are ignored), as they are or encoded.
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
fn scan_archive(archive: &Path, scanner: &LeakScanner) -> Result<(), BundleError> {
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

/// Deadline of each collector.
pub const COLLECTOR_DEADLINE: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;

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

/// Everything `create` needs.
pub struct Request<'a> {
    pub output: PathBuf,
    pub force: bool,
    /// Redact (on unless the operator said `--no-redact`).
    pub redact: bool,
    /// Personal data redacted besides secrets.
    pub personal: PersonalData,
    pub window: collect::Window,
    /// How container logs are read (`--container-logs`).
    pub container_logs: collect::LogRoute,
    pub limits: Limits,
    /// Extra host files to include (`--include`).
    pub include: Vec<PathBuf>,
    pub custom: Vec<crate::redact::CustomRule>,
    /// Secrets the run knows besides the containers' (the database password).
    pub secrets: Vec<(String, String)>,
    pub docker: crate::facts::docker::DockerOptions,
    pub facts: &'a crate::facts::Facts,
    pub report: &'a crate::report::Report,
    /// Only list what would be collected.
    pub preview: bool,
}

/// What a preview shows.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub output: String,
    pub collectors: Vec<String>,
    pub containers: Vec<String>,
    pub included_files: Vec<String>,
    pub redaction: bool,
    pub redaction_rules: Vec<String>,
    pub known_secrets: usize,
    pub limits: BTreeMap<String, u64>,
}

/// The outcome of `create`.
pub enum Created {
    Written(Manifest),
    Previewed(Preview),
}

/// Collects, redacts and writes a bundle (or previews it).
pub async fn create(req: Request<'_>) -> Result<Created, BundleError> {
    if crate::output::would_replace(&req.output) && !req.force && !req.preview {
        return Err(BundleError::Exists(req.output.display().to_string()));
    }
    let host = req
        .facts
        .host
        .hostname
        .as_ref()
        .cloned()
        .unwrap_or_else(|| "host".into());
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_default();
    // An unredacted bundle says so in its own top folder, whatever the file is called.
    let top = format!(
        "wa-preflight-{host}-{stamp}{}",
        if req.redact { "" } else { "-unredacted" }
    );
    use collect::ContainerKind;
    let mut containers: Vec<(String, ContainerKind)> = match &req.facts.docker {
        Some(crate::facts::Fact::Available(d)) => match &d.wa {
            crate::facts::Fact::Available(wa) => wa
                .containers
                .iter()
                .map(|c| {
                    let kind = match c.role {
                        crate::facts::docker::containers::Role::Coreapp => ContainerKind::Coreapp,
                        crate::facts::docker::containers::Role::Webapp => ContainerKind::Webapp,
                    };
                    (c.name.clone(), kind)
                })
                .collect(),
            crate::facts::Fact::Unavailable(_) => Vec::new(),
        },
        _ => Vec::new(),
    };
    let (docker, endpoint) = match crate::facts::docker::connect(&req.docker).await {
        Ok(c) => (Some(c.docker), c.endpoint),
        Err(_) => (None, String::new()),
    };
    // A database container beside the client, if one runs.
    if let Some(d) = &docker
        && let Ok(list) = d
            .list_containers(Some(
                bollard::query_parameters::ListContainersOptionsBuilder::default().build(),
            ))
            .await
    {
        for c in list {
            let name = c
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| n.trim_start_matches('/').to_string());
            if let (Some(name), Some(image)) = (name, c.image.as_deref())
                && collect::is_database_image(image)
                && !containers.iter().any(|(n, _)| *n == name)
            {
                containers.push((name, ContainerKind::Database));
            }
        }
    }
    // Every secret value the containers hold: the leak scan must not find any of them.
    let mut secrets = req.secrets.clone();
    if let Some(d) = &docker {
        for (name, _) in &containers {
            if let Ok(inspect) = d.inspect_container(name, None).await {
                for kv in inspect.config.and_then(|c| c.env).unwrap_or_default() {
                    if let Some((k, v)) = kv.split_once('=')
                        && crate::secret::is_secret_name(k)
                        && v.len() >= 4
                        && !matches!(
                            v.to_ascii_lowercase().as_str(),
                            "true" | "false" | "yes" | "none" | "null" | "enabled" | "disabled"
                        )
                    {
                        let kind =
                            crate::secret::names::secret_kind(k.as_bytes()).unwrap_or("secret");
                        secrets.push((kind.to_string(), v.to_string()));
                    }
                }
            }
        }
    }
    let redactor = if req.redact {
        Some(
            Redactor::new(req.personal, &secrets, &req.custom)
                .map_err(|e| BundleError::Io(e.to_string()))?,
        )
    } else {
        None
    };
    if req.preview {
        let mut collectors = vec!["report".to_string(), "host".to_string()];
        if docker.is_some() {
            collectors.push("docker".to_string());
        }
        collectors.extend(containers.iter().map(|(n, _)| format!("container {n}")));
        collectors.push("database".to_string());
        let rules = redactor
            .as_ref()
            .map(Redactor::rule_names)
            .unwrap_or_default();
        return Ok(Created::Previewed(Preview {
            output: req.output.display().to_string(),
            collectors,
            containers: containers.iter().map(|(n, _)| n.clone()).collect(),
            included_files: req
                .include
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            redaction: req.redact,
            redaction_rules: rules,
            known_secrets: secrets.len(),
            limits: BTreeMap::from([
                ("max_file_bytes".to_string(), req.limits.max_file),
                ("max_total_bytes".to_string(), req.limits.max_total),
            ]),
        }));
    }

    let spool = collect::Spool::new().map_err(io_err("cannot create the spool folder"))?;
    let max = req.limits.max_file;
    let d = COLLECTOR_DEADLINE;
    let report_json =
        serde_json::to_vec_pretty(req.report).map_err(|e| BundleError::Io(e.to_string()))?;
    let report_md = crate::report::render(
        req.report,
        crate::report::Format::Markdown,
        &crate::report::table::Layout::plain(),
    )
    .map_err(|e| BundleError::Io(e.to_string()))?;
    let facts_json =
        serde_json::to_vec_pretty(req.facts).map_err(|e| BundleError::Io(e.to_string()))?;
    let db_json = serde_json::to_vec_pretty(&req.facts.database)
        .map_err(|e| BundleError::Io(e.to_string()))?;
    let spool_ref = &spool;
    let report = collect::run("report", d, async {
        let io = |e: std::io::Error| e.to_string();
        Ok(vec![
            spool_ref
                .bytes("report.json", "check", &report_json)
                .map_err(io)?,
            spool_ref
                .bytes("report.md", "check", report_md.as_bytes())
                .map_err(io)?,
            spool_ref
                .bytes("facts.json", "facts", &facts_json)
                .map_err(io)?,
            spool_ref
                .bytes("db/database.json", "database", &db_json)
                .map_err(io)?,
        ])
    });
    let since = req.window.since;
    let host_files = collect::run(
        "host",
        d,
        collect::host(spool_ref, max, Duration::from_secs(10), since),
    );
    let include = collect::run("include", d, async {
        let mut files = Vec::new();
        let mut errors = Vec::new();
        for p in &req.include {
            let name = format!(
                "include/{}",
                p.display()
                    .to_string()
                    .trim_start_matches('/')
                    .replace('/', "_")
            );
            match spool_ref.host_file(&name, "include", p, max) {
                Ok(f) => files.push(f),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(files)
        } else if files.is_empty() {
            Err(errors.join("; "))
        } else {
            files.push(
                spool_ref
                    .bytes(
                        "include/errors.txt",
                        "include",
                        errors.join("\n").as_bytes(),
                    )
                    .map_err(|e| e.to_string())?,
            );
            Ok(files)
        }
    });
    let engine = async {
        match &docker {
            Some(dk) => Some(
                collect::run(
                    "docker",
                    d,
                    collect::docker_engine(spool_ref, dk, &req.docker.daemon_json, max),
                )
                .await,
            ),
            None => None,
        }
    };
    let collector_names: Vec<String> = containers
        .iter()
        .map(|(n, _)| format!("container {n}"))
        .collect();
    let per_container = async {
        let mut all = Vec::new();
        if let Some(dk) = &docker {
            let futs = containers
                .iter()
                .zip(&collector_names)
                .map(|((name, kind), label)| {
                    collect::run(
                        label,
                        d,
                        collect::container(
                            spool_ref,
                            dk,
                            name,
                            *kind,
                            req.window,
                            max,
                            collect::LogAccess {
                                route: req.container_logs,
                                endpoint: &endpoint,
                            },
                        ),
                    )
                });
            all = futures_util::future::join_all(futs).await;
        }
        all
    };
    let (report, host_files, include, engine, per_container) =
        tokio::join!(report, host_files, include, engine, per_container);
    let mut spooled = Vec::new();
    let mut outcomes = Vec::new();
    for (files, outcome) in [report, host_files]
        .into_iter()
        .chain(engine)
        .chain(per_container)
    {
        spooled.extend(files);
        outcomes.push(outcome);
    }
    if !req.include.is_empty() {
        spooled.extend(include.0);
        outcomes.push(include.1);
    }
    if docker.is_none() && !containers.is_empty() {
        outcomes.push(CollectorOutcome {
            name: "docker".into(),
            status: "failed".into(),
            error: Some(
                "the Docker Engine cannot be reached; container logs were not collected".into(),
            ),
            files: 0,
            duration_ms: 0,
        });
    }
    let output = req.output.clone();
    let force = req.force;
    let limits = req.limits.clone();
    let manifest = tokio::task::spawn_blocking(move || {
        write(&output, force, &top, spooled, outcomes, redactor, &limits)
    })
    .await
    .map_err(|e| BundleError::Io(format!("the writer crashed: {e}")))??;
    drop(spool);
    Ok(Created::Written(manifest))
}

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
/// [`REDACT_INPUT_CAP`]. A compressed single file is written decompressed.
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
