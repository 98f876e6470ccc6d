//! Known-failure signatures in the logs: how often each one matched, in its time window.
//!
//! The patterns come from the rules' `signatures:` section (the rules hand them over as
//! [`Pattern`]s; this module knows nothing of verdicts). Sources are read bounded — the newest
//! [`LogOptions::max_bytes`] of each, under the gatherer's deadline — live from the host
//! ([`gather`]) or from a support bundle's files ([`from_bundle`]), and scanned with one
//! combined matcher: a single regex of every pattern finds the candidate lines in a pass over
//! the bytes, and only those lines are asked which signatures they are and what they capture.
//!
//! What a signature saw is counted per window; one example line and the captures of the newest
//! match are kept, redacted with the bundle's redactor, because facts documents are shared.

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Fact;
use super::docker::containers::ContainerFacts;

mod bundle;
mod scanner;
mod sources;

pub use bundle::{BundleFiles, bundle_wants, from_bundle};
pub use scanner::{PatternError, Scanner, line_time};
use sources::{container_kind, read_container_source, source_containers};
pub use sources::{keep_newest, read_kmsg};

/// Where a signature looks.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LogSource {
    /// The coreapp containers' output (`docker logs`).
    Coreapp,
    /// The webapp containers' output.
    Webapp,
    /// The coreapp's `/usr/local/waent/logs/*-crash.log`.
    CoreappCrash,
    /// The webapp's `/var/log/whatsapp/web.log`.
    WebLog,
    /// The webapp's `/var/log/lighttpd/error.log`.
    LighttpdError,
    /// The output of a database container beside the client (mysql, mariadb, postgres images).
    Database,
    /// The kernel's log (`/dev/kmsg`; a bundle's `host/dmesg-tail`).
    Kernel,
    /// The WhatsApp containers' own state in Docker (`State.OOMKilled`), one line each.
    DockerState,
}

impl LogSource {
    /// Every source, in the order they are read.
    pub const ALL: [LogSource; 8] = [
        LogSource::Coreapp,
        LogSource::Webapp,
        LogSource::CoreappCrash,
        LogSource::WebLog,
        LogSource::LighttpdError,
        LogSource::Database,
        LogSource::Kernel,
        LogSource::DockerState,
    ];

    /// The name used in YAML and facts.
    pub fn as_str(self) -> &'static str {
        match self {
            LogSource::Coreapp => "coreapp",
            LogSource::Webapp => "webapp",
            LogSource::CoreappCrash => "coreapp_crash",
            LogSource::WebLog => "web_log",
            LogSource::LighttpdError => "lighttpd_error",
            LogSource::Database => "database",
            LogSource::Kernel => "kernel",
            LogSource::DockerState => "docker_state",
        }
    }
}

/// One signature as the gatherer needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    /// Stable ID (`db_login_refused`); the facts key.
    pub id: String,
    /// Where to look; a source no pattern names is not read.
    pub sources: Vec<LogSource>,
    /// A regex (Rust `regex` syntax, named captures allowed) matched against each line.
    pub regex: String,
    /// How far back a match counts, from the end of the scan.
    pub window: Duration,
}

/// What the log gatherer reads and how much.
#[derive(Debug, Clone, PartialEq)]
pub struct LogOptions {
    /// The signatures to scan for (from the rules' `signatures:` section).
    pub patterns: Vec<Pattern>,
    /// The newest bytes read of each source.
    pub max_bytes: usize,
    /// Deadline of each source.
    pub deadline: Duration,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            patterns: Vec::new(),
            max_bytes: 16 << 20,
            deadline: Duration::from_secs(10),
        }
    }
}

/// How the lines of a source carry their time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dating {
    /// `docker logs --timestamps`: an RFC 3339 time, a space, the line.
    Docker,
    /// Whatever the line starts with: RFC 3339, `YYYY-MM-DD HH:MM:SS`, or `dmesg -T`'s
    /// `[Tue Dec  1 04:23:39 2026]`; a line without one counts as inside every window.
    Leading,
}

/// The text of one source, read and bounded.
#[derive(Debug, Clone)]
pub struct SourceText {
    /// Which kind of source.
    pub source: LogSource,
    /// Which one (`container wa_coreapp_1`, `/dev/kmsg`).
    pub name: String,
    /// Its newest bytes, at most [`LogOptions::max_bytes`].
    pub text: Vec<u8>,
    /// How its lines carry their time.
    pub dating: Dating,
}

/// A source read or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceFacts {
    /// Which kind of source.
    pub source: LogSource,
    /// Which one (`container wa_coreapp_1`, `/dev/kmsg`, `bundle docker/wa_coreapp_1/logs.txt`).
    pub name: String,
    /// Bytes scanned; absent when the source could not be read.
    pub bytes: Option<u64>,
    /// Why it could not be read (or why only part of it was).
    pub note: Option<String>,
    /// Whether it could be read (at all; `note` says when only part was).
    pub readable: bool,
}

/// What one signature saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignatureFacts {
    /// Matching lines inside the window.
    pub count: u64,
    /// The window, in seconds back from `logs.until`.
    pub window_s: u64,
    /// Time of the oldest and the newest dated match in the window (RFC 3339).
    pub first: Option<String>,
    /// See `first`: time of the newest dated match (RFC 3339); null when no dated line matched.
    pub last: Option<String>,
    /// Seconds from the first to the last dated match (how long a condition lasted).
    pub span_s: Option<u64>,
    /// The newest matching line, redacted, at most 300 characters.
    pub example: Option<String>,
    /// The source that line came from.
    pub example_source: Option<String>,
    /// The newest match's named captures, redacted.
    pub captures: BTreeMap<String, String>,
    /// The sources that were read for this signature.
    pub read: Vec<String>,
}

/// The log scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogsFacts {
    /// End of every window (the scan's time; a bundle's collection time offline), RFC 3339.
    pub until: String,
    /// Where the lines came from: the host, or `bundle FILE`.
    pub from: String,
    /// Every source the signatures asked for, read or not.
    pub sources: Vec<SourceFacts>,
    /// Per signature ID.
    pub signatures: BTreeMap<String, Fact<SignatureFacts>>,
}

/// Which sources any pattern reads.
fn wanted(opts: &LogOptions) -> Vec<LogSource> {
    LogSource::ALL
        .into_iter()
        .filter(|s| opts.patterns.iter().any(|p| p.sources.contains(s)))
        .collect()
}

/// The longest window of any pattern reading `source`.
fn longest_window(opts: &LogOptions, source: LogSource) -> Duration {
    opts.patterns
        .iter()
        .filter(|p| p.sources.contains(&source))
        .map(|p| p.window)
        .max()
        .unwrap_or(Duration::from_secs(86_400))
}

/// Reads every source the patterns want from this host and scans them.
///
/// `docker` is the engine (absent when it cannot be reached: the container sources are then
/// unreadable with `docker_why`), `engine_local` whether it is on this host (a unix socket:
/// its json-file logs are read from their files); `containers` are the WhatsApp containers.
///
/// # Errors
///
/// A pattern does not compile (the rules loaded it, so only for patterns given otherwise); an
/// unreadable source is not an error but a [`SourceFacts`] with its `note`.
pub async fn gather(
    opts: &LogOptions,
    docker: Option<&bollard::Docker>,
    engine_local: bool,
    docker_why: &str,
    containers: &[ContainerFacts],
    until: OffsetDateTime,
) -> Result<LogsFacts, String> {
    let scanner = Scanner::new(&opts.patterns).map_err(|e| e.to_string())?;
    let mut texts = Vec::new();
    let mut unreadable = Vec::new();
    let mut reads: Vec<(LogSource, String, OffsetDateTime)> = Vec::new();
    let mut fail = |source: LogSource, name: String, why: String| {
        unreadable.push(SourceFacts {
            source,
            name,
            bytes: None,
            note: Some(why),
            readable: false,
        })
    };
    for source in wanted(opts) {
        let since = until - longest_window(opts, source);
        match source {
            LogSource::Kernel => {
                let max = opts.max_bytes;
                let got = tokio::time::timeout(
                    opts.deadline,
                    tokio::task::spawn_blocking(move || read_kmsg(max)),
                )
                .await;
                match got {
                    Ok(Ok(Ok(text))) => texts.push(SourceText {
                        source,
                        name: "/dev/kmsg".into(),
                        text,
                        dating: Dating::Leading,
                    }),
                    Ok(Ok(Err(why))) => fail(source, "/dev/kmsg".into(), why),
                    _ => fail(
                        source,
                        "/dev/kmsg".into(),
                        "not read within the deadline".into(),
                    ),
                }
            }
            _ => {
                let Some(docker) = docker else {
                    fail(source, source.as_str().into(), docker_why.to_string());
                    continue;
                };
                let names = source_containers(docker, source, containers).await;
                if names.is_empty() {
                    fail(
                        source,
                        source.as_str().into(),
                        format!("no {} container on this host", container_kind(source)),
                    );
                }
                reads.extend(names.into_iter().map(|name| (source, name, since)));
            }
        }
    }
    // Every container's part side by side, each under the deadline: the slowest bounds the
    // whole, not the sum.
    if let Some(docker) = docker {
        let results = futures_util::future::join_all(reads.iter().map(|(source, name, since)| {
            tokio::time::timeout(
                opts.deadline,
                read_container_source(docker, engine_local, name, *source, *since, opts.max_bytes),
            )
        }))
        .await;
        for ((source, name, _), read) in reads.into_iter().zip(results) {
            let shown = format!("container {name}");
            match read {
                Ok(Ok(Some((text, note)))) => {
                    if let Some(note) = note {
                        tracing::debug!("{shown}: {note}");
                    }
                    let dating = match source {
                        LogSource::Coreapp | LogSource::Webapp | LogSource::Database => {
                            Dating::Docker
                        }
                        _ => Dating::Leading,
                    };
                    texts.push(SourceText {
                        source,
                        name: shown,
                        text,
                        dating,
                    });
                }
                Ok(Ok(None)) => {}
                Ok(Err(why)) => fail(source, shown, why),
                Err(_) => fail(
                    source,
                    shown,
                    format!("not read within {} s", opts.deadline.as_secs()),
                ),
            }
        }
    }
    // In the order of the sources, whichever finished first.
    texts.sort_by_key(|t| t.source);
    unreadable.sort_by_key(|u| u.source);
    Ok(scanner.scan(&texts, &unreadable, until, "host"))
}
