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

use regex::bytes::{Regex, RegexSet};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Fact;
use super::docker::containers::{ContainerFacts, Role};
use crate::redact::{PersonalData, Redactor};

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

/// Why the patterns cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("signature {id}: {why}")]
pub struct PatternError {
    /// The signature's ID.
    pub id: String,
    /// What is wrong (`invalid regex: …`, `the regex matches an empty line`).
    pub why: String,
}

/// The patterns compiled: one combined regex for the pass over the bytes, a set to tell which
/// patterns a candidate line matches, and each pattern for its captures.
#[derive(Debug, Clone)]
pub struct Scanner {
    patterns: Vec<Pattern>,
    combined: Option<Regex>,
    set: RegexSet,
    each: Vec<Regex>,
}

/// `(?P<name>` and `(?<name>` → `(?:`: a combined regex cannot hold the same name twice.
fn unnamed(pattern: &str) -> String {
    static NAMED: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\(\?P?<[A-Za-z_][A-Za-z0-9_]*>")
            .unwrap_or_else(|e| unreachable!("a fixed pattern: {e}"))
    });
    NAMED.replace_all(pattern, "(?:").into_owned()
}

impl Scanner {
    /// Compiles the patterns.
    ///
    /// # Errors
    /// A pattern that is not a valid regex, or one that matches an empty line (it would match
    /// every line).
    pub fn new(patterns: &[Pattern]) -> Result<Scanner, PatternError> {
        let mut each = Vec::with_capacity(patterns.len());
        for p in patterns {
            let re = Regex::new(&p.regex).map_err(|e| PatternError {
                id: p.id.clone(),
                why: format!("invalid regex: {e}"),
            })?;
            if re.is_match(b"") {
                return Err(PatternError {
                    id: p.id.clone(),
                    why: "the regex matches an empty line".into(),
                });
            }
            each.push(re);
        }
        let set = RegexSet::new(patterns.iter().map(|p| &p.regex)).map_err(|e| PatternError {
            id: "(set)".into(),
            why: e.to_string(),
        })?;
        let combined = if patterns.is_empty() {
            None
        } else {
            let joined: Vec<String> = patterns
                .iter()
                .map(|p| format!("(?:{})", unnamed(&p.regex)))
                .collect();
            Some(
                Regex::new(&format!("(?m){}", joined.join("|"))).map_err(|e| PatternError {
                    id: "(combined)".into(),
                    why: e.to_string(),
                })?,
            )
        };
        Ok(Scanner {
            patterns: patterns.to_vec(),
            combined,
            set,
            each,
        })
    }

    /// The patterns, in order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Counts every signature over `sources`, with windows ending at `until`. `unreadable`
    /// lists the sources that could not be read, with why: a signature none of whose sources
    /// was read is unavailable with those reasons.
    pub fn scan(
        &self,
        sources: &[SourceText],
        unreadable: &[SourceFacts],
        until: OffsetDateTime,
        from: &str,
    ) -> LogsFacts {
        let mut tallies: Vec<Tally> = self.patterns.iter().map(|_| Tally::default()).collect();
        for src in sources {
            self.scan_one(src, until, &mut tallies);
        }
        let mut redactor = Redactor::new(PersonalData::default(), &[], &[]).ok();
        let mut signatures = BTreeMap::new();
        for (p, tally) in self.patterns.iter().zip(tallies) {
            let read: Vec<String> = sources
                .iter()
                .filter(|s| p.sources.contains(&s.source))
                .map(|s| s.name.clone())
                .collect();
            let fact = if read.is_empty() {
                let why: Vec<String> = unreadable
                    .iter()
                    .filter(|u| p.sources.contains(&u.source))
                    .map(|u| {
                        format!(
                            "{}: {}",
                            u.name,
                            u.note.clone().unwrap_or_else(|| "not read".into())
                        )
                    })
                    .collect();
                let names: Vec<&str> = p.sources.iter().map(|s| s.as_str()).collect();
                Fact::Unavailable(if why.is_empty() {
                    format!("none of its sources ({}) is here", names.join(", "))
                } else {
                    why.join("; ")
                })
            } else {
                let mut clean = |b: &[u8]| -> String {
                    let text = match redactor.as_mut() {
                        Some(r) => r.line(b),
                        None => b"[not shown: the redactor could not start]".to_vec(),
                    };
                    shorten(&String::from_utf8_lossy(&text), 300)
                };
                let example = tally.example.as_ref().map(|(_, line)| clean(line));
                let captures = tally
                    .captures
                    .iter()
                    .map(|(k, v)| (k.clone(), clean(v)))
                    .collect();
                Fact::Available(SignatureFacts {
                    count: tally.count,
                    window_s: p.window.as_secs(),
                    first: tally.first.map(rfc3339),
                    last: tally.last.map(rfc3339),
                    span_s: tally
                        .first
                        .zip(tally.last)
                        .map(|(a, b)| u64::try_from((b - a).whole_seconds()).unwrap_or(0)),
                    example,
                    example_source: tally.example.map(|(name, _)| name),
                    captures,
                    read,
                })
            };
            signatures.insert(p.id.clone(), fact);
        }
        let mut listed: Vec<SourceFacts> = sources
            .iter()
            .map(|s| SourceFacts {
                source: s.source,
                name: s.name.clone(),
                bytes: Some(s.text.len() as u64),
                note: None,
                readable: true,
            })
            .collect();
        listed.extend(unreadable.iter().cloned());
        LogsFacts {
            until: rfc3339(until),
            from: from.to_string(),
            sources: listed,
            signatures,
        }
    }

    fn scan_one(&self, src: &SourceText, until: OffsetDateTime, tallies: &mut [Tally]) {
        let Some(combined) = &self.combined else {
            return;
        };
        let text = &src.text;
        let mut done_until = 0usize;
        for m in combined.find_iter(text) {
            if m.start() < done_until {
                continue;
            }
            let start = memchr::memrchr(b'\n', &text[..m.start()]).map_or(0, |i| i + 1);
            let end =
                memchr::memchr(b'\n', &text[m.start()..]).map_or(text.len(), |i| m.start() + i);
            done_until = end + 1;
            let line = &text[start..end];
            let when = line_time(line, src.dating);
            for i in self.set.matches(line).iter() {
                let p = &self.patterns[i];
                if !p.sources.contains(&src.source) {
                    continue;
                }
                if let Some(t) = when
                    && (t < until - p.window || t > until + Duration::from_secs(300))
                {
                    continue;
                }
                let tally = &mut tallies[i];
                tally.count += 1;
                if let Some(t) = when {
                    tally.first = Some(tally.first.map_or(t, |f| f.min(t)));
                    tally.last = Some(tally.last.map_or(t, |l| l.max(t)));
                }
                // The time is in first/last: the example is the message itself.
                let body = match when {
                    Some(_) if src.dating == Dating::Docker || line_starts_rfc3339(line) => line
                        .iter()
                        .position(|b| *b == b' ')
                        .map_or(line, |i| &line[i + 1..]),
                    _ => line,
                };
                tally.example = Some((src.name.clone(), body.to_vec()));
                tally.captures.clear();
                if let Some(caps) = self.each[i].captures(line) {
                    for name in self.each[i].capture_names().flatten() {
                        if let Some(v) = caps.name(name) {
                            tally
                                .captures
                                .insert(name.to_string(), v.as_bytes().to_vec());
                        }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Default)]
struct Tally {
    count: u64,
    first: Option<OffsetDateTime>,
    last: Option<OffsetDateTime>,
    example: Option<(String, Vec<u8>)>,
    captures: BTreeMap<String, Vec<u8>>,
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn shorten(text: &str, max: usize) -> String {
    let line = text.trim_end();
    if line.chars().count() <= max {
        return line.to_string();
    }
    let mut out: String = line.chars().take(max - 1).collect();
    out.push('…');
    out
}

fn line_starts_rfc3339(line: &[u8]) -> bool {
    let first = line.split(|b| *b == b' ').next().unwrap_or_default();
    std::str::from_utf8(first)
        .ok()
        .is_some_and(|t| OffsetDateTime::parse(t, &Rfc3339).is_ok())
}

/// The time a line starts with, if it has one this module reads.
pub fn line_time(line: &[u8], dating: Dating) -> Option<OffsetDateTime> {
    let head = std::str::from_utf8(&line[..line.len().min(40)])
        .or_else(|e| std::str::from_utf8(&line[..e.valid_up_to()]))
        .ok()?;
    match dating {
        Dating::Docker => {
            let first = head.split(' ').next()?;
            OffsetDateTime::parse(first, &Rfc3339).ok()
        }
        Dating::Leading => leading_time(head),
    }
}

fn leading_time(head: &str) -> Option<OffsetDateTime> {
    use time::macros::format_description;
    let first = head.split(' ').next().unwrap_or_default();
    if let Ok(t) = OffsetDateTime::parse(first, &Rfc3339) {
        return Some(t);
    }
    // `2026-12-01 04:23:39` (lighttpd, MySQL, PostgreSQL's default prefix), UTC assumed.
    if head.len() >= 19 {
        let fmt = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
        if let Ok(t) = time::PrimitiveDateTime::parse(&head[..19], fmt) {
            return Some(t.assume_utc());
        }
    }
    // `dmesg -T`: `[Tue Dec  1 04:23:39 2026] …`, local time (UTC on servers, assumed).
    let inner = head.strip_prefix('[')?.split(']').next()?;
    let words: Vec<&str> = inner.split_whitespace().collect();
    if let [_, month, day, clock, year] = words[..] {
        let text = format!("{year} {month} {day:0>2} {clock}");
        let fmt = format_description!("[year] [month repr:short] [day] [hour]:[minute]:[second]");
        return time::PrimitiveDateTime::parse(&text, fmt)
            .ok()
            .map(time::PrimitiveDateTime::assume_utc);
    }
    None
}

/// The newest `max` bytes of `bytes`, from a line start; a note when older bytes were cut.
fn newest(mut bytes: Vec<u8>, max: usize) -> (Vec<u8>, Option<String>) {
    if bytes.len() <= max {
        return (bytes, None);
    }
    let cut = bytes.len() - max;
    let start = memchr::memchr(b'\n', &bytes[cut..]).map_or(cut, |i| cut + i + 1);
    let total = bytes.len();
    bytes.drain(..start);
    (
        bytes,
        Some(format!(
            "only the newest {max} of {total} bytes were scanned"
        )),
    )
}

/// Reads the kernel's log from `/dev/kmsg` without blocking: every record still in the ring
/// buffer after the last `dmesg --clear`, each as `RFC3339 message` (its monotonic time placed
/// on the wall clock).
///
/// # Errors
///
/// `/dev/kmsg` cannot be opened (no permission: reading it needs `CAP_SYSLOG` or root, or
/// `kernel.dmesg_restrict=0`) or a read fails other than at the end of the buffer.
pub fn read_kmsg(max: usize) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")
        .map_err(|e| format!("cannot open /dev/kmsg: {e}"))?;
    // Start after the last `dmesg --clear`, as dmesg itself does (SEEK_DATA on /dev/kmsg is
    // "the first record after the clear point", Documentation/ABI/testing/dev-kmsg).
    let _ = rustix::fs::seek(&f, rustix::fs::SeekFrom::Data(0));
    let now = OffsetDateTime::now_utc();
    let mono = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let mono_us = i128::from(mono.tv_sec) * 1_000_000 + i128::from(mono.tv_nsec) / 1_000;
    let mut out = Vec::new();
    let mut record = vec![0u8; 8192];
    loop {
        match f.read(&mut record) {
            Ok(0) => break,
            Ok(n) => {
                let rec = &record[..n];
                let Some(semi) = memchr::memchr(b';', rec) else {
                    continue;
                };
                let fields: Vec<&[u8]> = rec[..semi].split(|b| *b == b',').collect();
                let usec = fields
                    .get(2)
                    .and_then(|f| std::str::from_utf8(f).ok())
                    .and_then(|f| f.parse::<i128>().ok())
                    .unwrap_or(mono_us);
                let at = now - time::Duration::microseconds((mono_us - usec).max(0) as i64);
                let msg = rec[semi + 1..]
                    .split(|b| *b == b'\n')
                    .next()
                    .unwrap_or_default();
                out.extend_from_slice(rfc3339(at).as_bytes());
                out.push(b' ');
                out.extend_from_slice(msg);
                out.push(b'\n');
            }
            // EAGAIN: the end of the buffer. EPIPE: a record was overwritten while reading;
            // the next read continues with the oldest one left.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(e) => return Err(format!("cannot read /dev/kmsg: {e}")),
        }
    }
    Ok(newest(out, max).0)
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

fn container_kind(source: LogSource) -> &'static str {
    match source {
        LogSource::Webapp | LogSource::WebLog | LogSource::LighttpdError => "webapp",
        LogSource::Database => "database",
        _ => "coreapp",
    }
}

/// The containers a source is read from.
async fn source_containers(
    docker: &bollard::Docker,
    source: LogSource,
    containers: &[ContainerFacts],
) -> Vec<String> {
    let of = |role: Role| -> Vec<String> {
        containers
            .iter()
            .filter(|c| c.role == role)
            .map(|c| c.name.clone())
            .collect()
    };
    match source {
        LogSource::Coreapp | LogSource::CoreappCrash => of(Role::Coreapp),
        LogSource::Webapp | LogSource::WebLog | LogSource::LighttpdError => of(Role::Webapp),
        LogSource::DockerState => containers.iter().map(|c| c.name.clone()).collect(),
        LogSource::Database => {
            let list = docker
                .list_containers(None::<bollard::query_parameters::ListContainersOptions>)
                .await
                .unwrap_or_default();
            list.into_iter()
                .filter(|c| {
                    c.image
                        .as_deref()
                        .is_some_and(super::docker::containers::is_database_image)
                })
                .filter_map(|c| {
                    c.names
                        .and_then(|n| n.first().map(|n| n.trim_start_matches('/').to_string()))
                })
                .collect()
        }
        LogSource::Kernel => Vec::new(),
    }
}

/// The newest `max` bytes since `since` of a container's json-file log, read from its files
/// (rotated ones too) as `docker logs --timestamps` prints them; `None` when it is not a
/// readable json-file log.
async fn json_file_newest(
    docker: &bollard::Docker,
    name: &str,
    since: OffsetDateTime,
    max: usize,
) -> Option<Vec<u8>> {
    use crate::facts::docker::json_file;
    let inspect = docker.inspect_container(name, None).await.ok()?;
    let (path, max_file) = json_file::log_file_of(&inspect).ok()?;
    let since = since.unix_timestamp();
    tokio::task::spawn_blocking(move || {
        let scratch = tempfile::tempdir().ok()?;
        let window = json_file::Window::from_secs(Some(since), None);
        let log = json_file::open(&path, max_file, window.since_ns, scratch.path()).ok()?;
        let mut out = Vec::new();
        log.read(&window, max as u64, &mut out, scratch.path())
            .ok()?;
        Some(out)
    })
    .await
    .ok()?
}

/// One container's part of a source: its output since `since`, a file inside it, or its
/// state line. `None` when there is nothing of that kind (no crash logs). `local`: the engine
/// is on this host, so its log files are too.
async fn read_container_source(
    docker: &bollard::Docker,
    local: bool,
    name: &str,
    source: LogSource,
    since: OffsetDateTime,
    max: usize,
) -> Result<Option<(Vec<u8>, Option<String>)>, String> {
    use futures_util::StreamExt;
    match source {
        LogSource::Coreapp | LogSource::Webapp | LogSource::Database => {
            // A local json-file log is read from its files at disk speed (the bytes the API
            // would send); the API, which streams a few MB/s, only for anything else.
            if local && let Some(bytes) = json_file_newest(docker, name, since, max).await {
                return Ok(Some(newest(bytes, max)));
            }
            // Only about as many of the newest lines as `max` holds.
            let tail = (max / 64).max(1000).to_string();
            let opts = bollard::query_parameters::LogsOptionsBuilder::default()
                .stdout(true)
                .stderr(true)
                .timestamps(true)
                .tail(&tail)
                .since(i32::try_from(since.unix_timestamp()).unwrap_or(0))
                .build();
            let mut stream = docker.logs(name, Some(opts));
            let mut bytes = Vec::new();
            let mut note = None;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| format!("logs: {e}"))?;
                bytes.extend_from_slice(&chunk.into_bytes());
                if bytes.len() > max * 2 {
                    let (kept, n) = newest(std::mem::take(&mut bytes), max);
                    bytes = kept;
                    note = n;
                }
            }
            let (bytes, n) = newest(bytes, max);
            Ok(Some((bytes, n.or(note))))
        }
        LogSource::CoreappCrash | LogSource::WebLog | LogSource::LighttpdError => {
            let (path, suffix) = match source {
                LogSource::CoreappCrash => ("/usr/local/waent/logs", "-crash.log"),
                LogSource::WebLog => ("/var/log/whatsapp/web.log", ""),
                _ => ("/var/log/lighttpd/error.log", ""),
            };
            let opts = bollard::query_parameters::DownloadFromContainerOptionsBuilder::default()
                .path(path)
                .build();
            let mut stream = docker.download_from_container(name, Some(opts));
            let mut tar_bytes = Vec::new();
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(b) => tar_bytes.extend_from_slice(&b),
                    // Not there: nothing of this kind in this container.
                    Err(e)
                        if e.to_string().contains("404") || e.to_string().contains("No such") =>
                    {
                        return Ok(None);
                    }
                    Err(e) => return Err(format!("{path}: {e}")),
                }
                if tar_bytes.len() > max * 8 {
                    return Err(format!("{path} is larger than {} bytes", max * 8));
                }
            }
            let mut out = Vec::new();
            let mut archive = tar::Archive::new(tar_bytes.as_slice());
            let entries = archive.entries().map_err(|e| format!("{path}: {e}"))?;
            for entry in entries {
                let mut entry = entry.map_err(|e| format!("{path}: {e}"))?;
                let inner = entry
                    .path()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if !entry.header().entry_type().is_file() || !inner.ends_with(suffix) {
                    continue;
                }
                std::io::Read::read_to_end(&mut entry, &mut out)
                    .map_err(|e| format!("{path}: {e}"))?;
                if !out.ends_with(b"\n") {
                    out.push(b'\n');
                }
            }
            let (bytes, note) = newest(out, max);
            Ok(Some((bytes, note)))
        }
        LogSource::DockerState => {
            let inspect = docker
                .inspect_container(name, None)
                .await
                .map_err(|e| format!("inspect: {e}"))?;
            let state = inspect.state.unwrap_or_default();
            if state.oom_killed != Some(true) {
                return Ok(Some((Vec::new(), None)));
            }
            let at = state
                .finished_at
                .filter(|t| !t.starts_with("0001-"))
                .unwrap_or_else(|| rfc3339(OffsetDateTime::now_utc()));
            Ok(Some((state_line(&at, name).into_bytes(), None)))
        }
        LogSource::Kernel => Ok(None),
    }
}

/// The line a container's OOM-kill state becomes, live and from a bundle's `inspect.json`.
fn state_line(at: &str, name: &str) -> String {
    format!(
        "{at} container {name} was killed by the kernel's OOM killer (docker inspect: State.OOMKilled true)\n"
    )
}

/// The files of a support bundle the log scan reads, by their path under the bundle's top
/// folder (`docker/NAME/logs.txt`), each its newest bytes.
pub type BundleFiles = BTreeMap<String, Vec<u8>>;

/// Whether a path under a bundle's top folder is one the log scan reads.
pub fn bundle_wants(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["host", "kmsg.log" | "dmesg-tail"] => true,
        ["docker", _, "logs.txt" | "inspect.json"] => true,
        ["docker", _, "files", name] => {
            name.ends_with("-crash.log") || *name == "web.log" || *name == "error.log"
        }
        _ => false,
    }
}

/// Scans a support bundle's copies of the sources with `patterns`, windows ending at the
/// bundle's collection time (`until`): so an old bundle is judged with the current signatures.
///
/// Layout read: `docker/NAME/logs.txt` (with `inspect.json` telling a database image; the
/// WhatsApp roles come from the bundle's facts, `containers`), `docker/NAME/files/*-crash.log`,
/// `web.log`, `error.log`, and `host/kmsg.log` (older bundles: `host/dmesg-tail`) for the kernel.
///
/// # Errors
///
/// As [`gather`]: only a pattern that does not compile.
pub fn from_bundle(
    files: &BundleFiles,
    patterns: &[Pattern],
    containers: &[ContainerFacts],
    until: OffsetDateTime,
    shown_as: &str,
) -> Result<LogsFacts, String> {
    let scanner = Scanner::new(patterns).map_err(|e| e.to_string())?;
    let mut texts = Vec::new();
    let mut names: Vec<&str> = files
        .keys()
        .filter_map(|k| k.strip_prefix("docker/")?.split('/').next())
        .collect();
    names.dedup();
    for name in names {
        let file = |rest: &str| files.get(&format!("docker/{name}/{rest}"));
        let inspect: Option<serde_json::Value> =
            file("inspect.json").and_then(|b| serde_json::from_slice(b).ok());
        let image = inspect
            .as_ref()
            .and_then(|i| i["Config"]["Image"].as_str())
            .unwrap_or_default()
            .to_string();
        let role = containers.iter().find(|c| c.name == name).map(|c| c.role);
        let (logs_source, wanted): (Option<LogSource>, Vec<(&str, LogSource)>) = match role {
            Some(Role::Coreapp) => (
                Some(LogSource::Coreapp),
                vec![("-crash.log", LogSource::CoreappCrash)],
            ),
            Some(Role::Webapp) => (
                Some(LogSource::Webapp),
                vec![
                    ("web.log", LogSource::WebLog),
                    ("error.log", LogSource::LighttpdError),
                ],
            ),
            None if super::docker::containers::is_database_image(&image) => {
                (Some(LogSource::Database), Vec::new())
            }
            None => (None, Vec::new()),
        };
        let shown = format!("container {name}");
        if let Some(source) = logs_source
            && let Some(text) = file("logs.txt")
        {
            texts.push(SourceText {
                source,
                name: shown.clone(),
                text: text.clone(),
                dating: Dating::Docker,
            });
        }
        if role.is_some() {
            let killed = inspect
                .as_ref()
                .filter(|i| i["State"]["OOMKilled"].as_bool() == Some(true));
            let text = killed.map_or_else(Vec::new, |i| {
                let at = i["State"]["FinishedAt"].as_str().unwrap_or_default();
                state_line(at, name).into_bytes()
            });
            if inspect.is_some() {
                texts.push(SourceText {
                    source: LogSource::DockerState,
                    name: shown.clone(),
                    text,
                    dating: Dating::Leading,
                });
            }
        }
        let prefix = format!("docker/{name}/files/");
        for (path, bytes) in files.range(prefix.clone()..) {
            let Some(fname) = path.strip_prefix(&prefix) else {
                break;
            };
            for (suffix, source) in &wanted {
                if fname.ends_with(suffix) {
                    texts.push(SourceText {
                        source: *source,
                        name: format!("{shown} {fname}"),
                        text: bytes.clone(),
                        dating: Dating::Leading,
                    });
                }
            }
        }
    }
    // The whole ring buffer when the bundle has it; older bundles hold only dmesg's tail.
    let kernel = ["host/kmsg.log", "host/dmesg-tail"]
        .into_iter()
        .find_map(|name| {
            files
                .get(name)
                .filter(|t| !t.starts_with(b"[not collected"))
                .map(|t| (name, t))
        });
    if let Some((name, text)) = kernel {
        texts.push(SourceText {
            source: LogSource::Kernel,
            name: name.into(),
            text: text.clone(),
            dating: Dating::Leading,
        });
    }
    let mut unreadable = Vec::new();
    for source in LogSource::ALL {
        if patterns.iter().any(|p| p.sources.contains(&source))
            && !texts.iter().any(|t| t.source == source)
        {
            unreadable.push(SourceFacts {
                source,
                name: source.as_str().into(),
                bytes: None,
                note: Some(format!("not in {shown_as}")),
                readable: false,
            });
        }
    }
    Ok(scanner.scan(&texts, &unreadable, until, shown_as))
}

/// The newest `max` bytes of a file read whole, from a line start.
pub fn keep_newest(bytes: Vec<u8>, max: usize) -> Vec<u8> {
    newest(bytes, max).0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(id: &str, sources: &[LogSource], regex: &str) -> Pattern {
        Pattern {
            id: id.into(),
            sources: sources.to_vec(),
            regex: regex.into(),
            window: Duration::from_secs(3600),
        }
    }

    fn until() -> OffsetDateTime {
        time::macros::datetime!(2026-12-01 12:00:00 UTC)
    }

    #[test]
    fn one_pass_counts_each_signature_in_its_window_and_source() {
        let scanner = Scanner::new(&[
            pattern(
                "denied",
                &[LogSource::Coreapp],
                r"Access denied for user '(?P<user>[^']*)'",
            ),
            pattern(
                "enospc",
                &[LogSource::Coreapp, LogSource::Kernel],
                r"No space left on device",
            ),
            pattern("same_name", &[LogSource::Coreapp], r"(?P<user>x)yz-unused"),
        ])
        .unwrap();
        let log = b"2026-12-01T11:30:00.000000000Z ERROR 1045 (28000): Access denied for user 'wa'@'10.0.0.2' (using password: YES)\n\
2026-12-01T09:00:00.000000000Z ERROR 1045 (28000): Access denied for user 'old'@'x' (using password: YES)\n\
2026-12-01T11:40:00.000000000Z write failed: No space left on device\n\
2026-12-01T11:50:00.000000000Z ERROR 1045 (28000): Access denied for user 'wa2'@'x' (using password: YES) and No space left on device\n";
        let kernel = b"2026-12-01T11:55:00Z EXT4-fs error: No space left on device\n";
        let sources = [
            SourceText {
                source: LogSource::Coreapp,
                name: "container c".into(),
                text: log.to_vec(),
                dating: Dating::Docker,
            },
            SourceText {
                source: LogSource::Webapp,
                name: "container w".into(),
                text: log.to_vec(),
                dating: Dating::Docker,
            },
            SourceText {
                source: LogSource::Kernel,
                name: "/dev/kmsg".into(),
                text: kernel.to_vec(),
                dating: Dating::Leading,
            },
        ];
        let f = scanner.scan(&sources, &[], until(), "host");
        let Fact::Available(d) = &f.signatures["denied"] else {
            panic!()
        };
        // The 09:00 line is outside the hour; the webapp is not a source of this signature.
        assert_eq!(d.count, 2);
        assert_eq!(d.first.as_deref(), Some("2026-12-01T11:30:00Z"));
        assert_eq!(d.last.as_deref(), Some("2026-12-01T11:50:00Z"));
        assert_eq!(d.span_s, Some(1200));
        assert_eq!(d.captures["user"], "wa2");
        // The example is the message; its time is in `last`.
        assert!(
            d.example.as_deref().unwrap().starts_with("ERROR 1045"),
            "{d:?}"
        );
        let Fact::Available(e) = &f.signatures["enospc"] else {
            panic!()
        };
        assert_eq!(e.count, 3);
        assert_eq!(e.read, vec!["container c", "/dev/kmsg"]);
    }

    #[test]
    fn unreadable_sources_make_a_signature_unavailable() {
        let scanner =
            Scanner::new(&[pattern("k", &[LogSource::Kernel], "Killed process")]).unwrap();
        let gone = SourceFacts {
            source: LogSource::Kernel,
            name: "/dev/kmsg".into(),
            bytes: None,
            note: Some("cannot open /dev/kmsg: Permission denied".into()),
            readable: false,
        };
        let f = scanner.scan(&[], &[gone], until(), "host");
        assert!(
            matches!(&f.signatures["k"], Fact::Unavailable(r) if r.contains("Permission denied"))
        );
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(Scanner::new(&[pattern("x", &[LogSource::Kernel], "(unclosed")]).is_err());
        assert!(Scanner::new(&[pattern("x", &[LogSource::Kernel], "a*")]).is_err());
    }

    #[test]
    fn times_are_read_in_each_format() {
        let t = |s: &str| line_time(s.as_bytes(), Dating::Leading).map(rfc3339);
        assert_eq!(
            t("2026-12-01 04:23:39: (server.c.1234) x").as_deref(),
            Some("2026-12-01T04:23:39Z")
        );
        assert_eq!(
            t("[Tue Dec  1 04:23:39 2026] Out of memory").as_deref(),
            Some("2026-12-01T04:23:39Z")
        );
        assert_eq!(
            t("2026-12-01T04:23:39.5Z msg").as_deref(),
            Some("2026-12-01T04:23:39.5Z")
        );
        assert_eq!(t("no time here"), None);
    }

    #[test]
    fn secrets_in_examples_are_redacted() {
        let scanner =
            Scanner::new(&[pattern("dsn", &[LogSource::Coreapp], "connect failed")]).unwrap();
        let text =
            b"2026-12-01T11:59:00Z connect failed password=Sup3rS3cretValue host=db\n".to_vec();
        let f = scanner.scan(
            &[SourceText {
                source: LogSource::Coreapp,
                name: "c".into(),
                text,
                dating: Dating::Docker,
            }],
            &[],
            until(),
            "host",
        );
        let Fact::Available(d) = &f.signatures["dsn"] else {
            panic!()
        };
        assert!(
            !d.example.as_deref().unwrap().contains("Sup3rS3cretValue"),
            "{d:?}"
        );
    }

    #[test]
    fn the_newest_bytes_start_at_a_line() {
        let (b, note) = newest(b"aaaa\nbbbb\ncccc\n".to_vec(), 7);
        assert_eq!(b, b"cccc\n");
        assert!(note.is_some());
    }
}
