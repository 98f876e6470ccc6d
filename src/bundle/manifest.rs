//! `manifest.json`, the bundle's table of contents: every file with its producer, size,
//! SHA-256 and redaction counts, what was cut or left out, and how each collector fared.

use std::collections::BTreeMap;

use serde::Serialize;

use super::collect::{self, CollectorOutcome};

/// One file in the manifest.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestFile {
    /// Its path inside the archive, below the top folder (`docker/coreapp/logs.txt`).
    pub path: String,
    /// The collector that produced it (`host`, `docker`, `container coreapp`, …).
    pub producer: String,
    /// Bytes in the archive (after redaction and the cap).
    pub size: u64,
    /// SHA-256 of those bytes, lowercase hex.
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
    /// Bytes before the cut (after redaction).
    pub original_size: u64,
    /// What was kept, in words: `the newest N bytes, from byte M`.
    pub kept: String,
}

/// The shape of `manifest.json`: 2 added each file's `log_source`.
pub const MANIFEST_SCHEMA_VERSION: u32 = 2;

/// `manifest.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    /// [`MANIFEST_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The wa-preflight that wrote the bundle.
    pub tool: crate::facts::ToolInfo,
    /// When the bundle was written, RFC 3339 in UTC.
    pub created_at: String,
    /// Whether the files were redacted (false only with `--no-redact`).
    pub redacted: bool,
    /// The caps applied, in bytes: `max_file_bytes`, `max_total_bytes`.
    pub limits: BTreeMap<String, u64>,
    /// The files in the archive, in the order written.
    pub files: Vec<ManifestFile>,
    /// Files left out because the total cap was reached.
    pub omitted: Vec<String>,
    /// Every collector's outcome, failed ones included.
    pub collectors: Vec<CollectorOutcome>,
    /// Replaced values per rule, over the whole bundle.
    pub redactions: BTreeMap<String, u64>,
}
