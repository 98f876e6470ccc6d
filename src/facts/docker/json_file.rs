//! Container logs read from Docker's `json-file` log files instead of streamed through the
//! Engine API: the API sends a large log at a few MB/s, the kernel reads the file at GB/s.
//!
//! The output is, byte for byte, what `GET /containers/{id}/logs?stdout=1&stderr=1&timestamps=1`
//! sends for the same `since`/`until` (dockerd 20.10 `daemon/logs.go` and
//! `daemon/logger/loggerutils/logfile.go`):
//! - each entry is `<time> <log>`, the time in Go's `RFC3339NanoFixed` form
//!   (`2026-12-01T04:10:42.120000000Z`, nine fraction digits) and `log` as decoded from the
//!   JSON, with its newline if it had one. A line longer than 16 KiB is written by dockerd as
//!   several entries (partial messages), only the last ending in `\n`; the API sends each with
//!   its own time, and so does this reader;
//! - entries of a stream other than `stdout` and `stderr` are not sent;
//! - `since` skips every entry older than it; `until` stops at the first entry (of those not
//!   skipped) newer than it;
//! - rotated files (`<log>.1` … `<log>.<max-file − 1>`, or their `.gz` forms when `compress`
//!   is on) come first, oldest first; a compressed file whose recorded last time is before
//!   `since` is not read. (One known difference: dockerd 20.10 then skips the newer rotated
//!   files as well, losing entries of the window; later releases, and this reader, do not.
//!   See `decompress`.)
//!
//! The window is found by binary search on the entries' times, so it assumes they grow along
//! the file. dockerd stamps an entry when its copier reads the line and writes it under a lock,
//! so stdout and stderr entries can be out of order by the time between the two; the search
//! therefore starts [`SLACK_NS`] early and the exact rules above are applied from there.
//!
//! Memory is bounded: the reader holds one block of the file and its output at a time
//! ([`BLOCK`], plus one entry when an entry is longer). For the size cap it reads the window
//! backwards, block by block, newest first, until it has `want` bytes of output, writing the
//! blocks' output to a scratch file that is then copied out in order.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// How far before `since` (and before `until`) the search starts, in nanoseconds.
pub const SLACK_NS: i128 = 2_000_000_000;
/// Bytes of log file read at a time.
pub const BLOCK: usize = 4 << 20;
/// The longest entry accepted (dockerd splits lines at 16 KiB; escaped, with its fields, an
/// entry stays far below this). A longer one is not a dockerd json-file log.
pub const MAX_ENTRY: usize = 8 << 20;
/// The most one compressed rotated file may decompress to.
pub const MAX_DECOMPRESSED: u64 = 16 << 30;

/// Why a log could not be read from its files (the caller then uses the Engine API).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A log, rotated or scratch file could not be opened, read, decompressed or written.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's (or decompressor's) error.
        #[source]
        source: io::Error,
    },
    /// A line that is not a dockerd json-file entry (not JSON, no RFC 3339 UTC time, longer
    /// than [`MAX_ENTRY`]).
    #[error("{path}: byte {offset}: {why}")]
    Entry {
        /// The file.
        path: String,
        /// Where the entry starts, in bytes from the start of the file.
        offset: u64,
        /// What is wrong with it.
        why: String,
    },
    /// dockerd rotated the files five times in a row while they were being opened.
    #[error("the log rotated while its files were being opened")]
    Rotating,
}

/// One decoded json-file entry.
#[derive(Debug, serde::Deserialize)]
struct RawEntry<'a> {
    #[serde(borrow)]
    log: Cow<'a, str>,
    #[serde(borrow)]
    stream: Cow<'a, str>,
    #[serde(borrow)]
    time: Cow<'a, str>,
}

/// An entry as the API sends it.
#[derive(Debug)]
pub struct Entry<'a> {
    /// Nanoseconds since the Unix epoch.
    pub time_ns: i128,
    /// `false` for a stream the API does not send (neither stdout nor stderr).
    pub sent: bool,
    /// `YYYY-MM-DDTHH:MM:SS` of the time.
    date: &'a str,
    /// The fraction digits as written (Go trims trailing zeros).
    fraction: &'a str,
    log: Cow<'a, str>,
}

/// Parses one line of a json-file log (without its `\n`).
///
/// # Errors
///
/// A message when the line is not JSON with `log`, `stream` and `time`, or its time is not RFC 3339
/// UTC as dockerd writes it.
pub fn parse(line: &[u8]) -> Result<Entry<'_>, String> {
    let raw: RawEntry<'_> = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    let time = match raw.time {
        Cow::Borrowed(t) => t,
        // An escaped time string is not what dockerd writes.
        Cow::Owned(t) => return Err(format!("unexpected time {t:?}")),
    };
    let (time_ns, date, fraction) =
        parse_time(time).ok_or_else(|| format!("time {time:?} is not RFC 3339 UTC"))?;
    Ok(Entry {
        time_ns,
        sent: raw.stream == "stdout" || raw.stream == "stderr",
        date,
        fraction,
        log: raw.log,
    })
}

impl Entry<'_> {
    /// Bytes the API sends for this entry (0 when it sends none).
    pub fn output_len(&self) -> usize {
        if self.sent { 31 + self.log.len() } else { 0 }
    }

    /// Appends what the API sends for this entry.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        if !self.sent {
            return;
        }
        out.extend_from_slice(self.date.as_bytes());
        out.push(b'.');
        out.extend_from_slice(self.fraction.as_bytes());
        out.extend(std::iter::repeat_n(b'0', 9 - self.fraction.len()));
        out.extend_from_slice(b"Z ");
        out.extend_from_slice(self.log.as_bytes());
    }
}

/// `2026-12-01T04:10:42.12Z` → (ns since the epoch, `2026-12-01T04:10:42`, `12`). Only the UTC
/// form dockerd writes (`time.RFC3339Nano` of a UTC time) is accepted.
pub fn parse_time(s: &str) -> Option<(i128, &str, &str)> {
    let b = s.as_bytes();
    if b.len() < 20 || *b.last()? != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let fraction = match b[19] {
        b'Z' if b.len() == 20 => "",
        b'.' => {
            let f = &s[20..s.len() - 1];
            if f.is_empty() || f.len() > 9 || !f.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            f
        }
        _ => return None,
    };
    let mut nanos: i64 = 0;
    for (i, c) in fraction.bytes().enumerate() {
        nanos += i64::from(c - b'0') * 10i64.pow(8 - i as u32);
    }
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec;
    Some((
        i128::from(secs) * 1_000_000_000 + i128::from(nanos),
        &s[..19],
        fraction,
    ))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The time window, in nanoseconds since the epoch, as the API applies it.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Entries before this are left out; None: from the first entry.
    pub since_ns: Option<i128>,
    /// Entries after this are left out; None: to the last entry.
    pub until_ns: Option<i128>,
}

impl Window {
    /// From the bundle's `--since`/`--until` (Unix seconds, as the API takes them).
    pub fn from_secs(since: Option<i64>, until: Option<i64>) -> Window {
        Window {
            since_ns: since.map(|s| i128::from(s) * 1_000_000_000),
            until_ns: until.map(|u| i128::from(u) * 1_000_000_000),
        }
    }

    fn skips(&self, t: i128) -> bool {
        self.since_ns.is_some_and(|s| t < s)
    }

    fn stops(&self, t: i128) -> bool {
        self.until_ns.is_some_and(|u| t > u)
    }
}

/// One file of the log, readable at any offset.
struct Segment {
    /// The file's name, for the manifest and messages.
    name: String,
    file: File,
    /// Bytes of whole entries (the current file is cut after its last `\n` when opened).
    len: u64,
}

impl Segment {
    fn io(&self, e: io::Error) -> ReadError {
        ReadError::Io {
            path: self.name.clone(),
            source: e,
        }
    }

    /// The first line start at or after `at` (or `len`).
    fn line_start_from(&self, at: u64) -> Result<u64, ReadError> {
        if at == 0 {
            return Ok(0);
        }
        let mut pos = at - 1;
        let mut buf = vec![0u8; 64 * 1024];
        while pos < self.len {
            let n = ((self.len - pos) as usize).min(buf.len());
            self.file
                .read_exact_at(&mut buf[..n], pos)
                .map_err(|e| self.io(e))?;
            if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
                return Ok(pos + i as u64 + 1);
            }
            pos += n as u64;
        }
        Ok(self.len)
    }

    /// The line starting at `at` (without its `\n`) and the offset after it.
    fn line_at(&self, at: u64) -> Result<(Vec<u8>, u64), ReadError> {
        let mut line = Vec::new();
        let mut pos = at;
        let mut buf = vec![0u8; 16 * 1024];
        while pos < self.len {
            let n = ((self.len - pos) as usize).min(buf.len());
            self.file
                .read_exact_at(&mut buf[..n], pos)
                .map_err(|e| self.io(e))?;
            if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
                line.extend_from_slice(&buf[..i]);
                return Ok((line, pos + i as u64 + 1));
            }
            line.extend_from_slice(&buf[..n]);
            if line.len() > MAX_ENTRY {
                return Err(self.bad(at, format!("an entry longer than {MAX_ENTRY} bytes")));
            }
            pos += n as u64;
        }
        Ok((line, self.len))
    }

    fn bad(&self, offset: u64, why: String) -> ReadError {
        ReadError::Entry {
            path: self.name.clone(),
            offset,
            why,
        }
    }

    fn time_at(&self, at: u64) -> Result<(i128, u64), ReadError> {
        let (line, next) = self.line_at(at)?;
        let e = parse(&line).map_err(|why| self.bad(at, why))?;
        Ok((e.time_ns, next))
    }

    /// The start of the line that ends at `end` (a line start, or `len`), not before `lo`.
    fn line_start_before(&self, end: u64, lo: u64) -> Result<u64, ReadError> {
        if end <= lo + 1 {
            return Ok(lo);
        }
        // Skip the line's own `\n`, then look back for the one before it.
        let mut to = end - 1;
        let mut buf = vec![0u8; 64 * 1024];
        while to > lo {
            let from = to.saturating_sub(buf.len() as u64).max(lo);
            let n = (to - from) as usize;
            self.file
                .read_exact_at(&mut buf[..n], from)
                .map_err(|e| self.io(e))?;
            if let Some(i) = memchr::memrchr(b'\n', &buf[..n]) {
                return Ok(from + i as u64 + 1);
            }
            if end - from > MAX_ENTRY as u64 {
                return Err(self.bad(from, format!("an entry longer than {MAX_ENTRY} bytes")));
            }
            to = from;
        }
        Ok(lo)
    }

    /// The time of the last entry.
    fn last_time(&self) -> Result<Option<i128>, ReadError> {
        if self.len == 0 {
            return Ok(None);
        }
        let start = self.line_start_before(self.len, 0)?;
        Ok(Some(self.time_at(start)?.0))
    }

    /// The first line start in `[lo, hi)` whose entry is at `t` or later (or `hi`), assuming
    /// times grow along the file. `lo` and `hi` are line starts (or `len`).
    fn search(&self, mut lo: u64, mut hi: u64, t: i128) -> Result<u64, ReadError> {
        while hi - lo > 64 * 1024 {
            let mid = lo + (hi - lo) / 2;
            let p = self.line_start_from(mid)?;
            if p >= hi {
                break;
            }
            let (tp, next) = self.time_at(p)?;
            if tp >= t {
                hi = p;
            } else {
                lo = next;
            }
        }
        let mut at = lo;
        while at < hi {
            let (tp, next) = self.time_at(at)?;
            if tp >= t {
                return Ok(at);
            }
            at = next;
        }
        Ok(hi)
    }
}

/// A container's json-file log and its `max-file` option, from `docker inspect`; why not,
/// when it uses another driver or reports no file. (Whether the file is on this host is the
/// caller's to know: the engine must be reached over a local socket.)
///
/// # Errors
///
/// Why the files cannot be used: the container logs with another driver (named), or Docker reports
/// no `LogPath`.
pub fn log_file_of(
    inspect: &bollard::models::ContainerInspectResponse,
) -> Result<(PathBuf, u32), String> {
    let config = inspect
        .host_config
        .as_ref()
        .and_then(|h| h.log_config.as_ref());
    let driver = config.and_then(|c| c.typ.as_deref()).unwrap_or("");
    if driver != "json-file" {
        return Err(format!(
            "log driver {driver:?}: only json-file logs are read from their files"
        ));
    }
    let path = inspect
        .log_path
        .as_deref()
        .filter(|p| !p.is_empty())
        .ok_or("the engine reports no log file")?;
    // dockerd reads `max-file` − 1 rotated files; unset means 1 (no rotation).
    let max_file = config
        .and_then(|c| c.config.as_ref())
        .and_then(|c| c.get("max-file"))
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(1);
    Ok((PathBuf::from(path), max_file))
}

/// A place in the log: segment index and byte offset.
type Pos = (usize, u64);

/// What [`JsonLog::read`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Bytes written.
    pub written: u64,
    /// The files read, oldest first.
    pub files: Vec<String>,
    /// Set when older entries of the window were left unread for the size cap.
    pub cut: bool,
}

/// A json-file log: the current file and its rotated files, opened together.
pub struct JsonLog {
    segments: Vec<Segment>,
    /// Compressed rotated files, decompressed to scratch files (removed on drop).
    _scratch: Vec<tempfile::NamedTempFile>,
}

/// Opens the log at `path` (a container's `LogPath`) with the rotated files dockerd reads for
/// `max_file` (the `max-file` log option, 1 when unset), oldest first, decompressing the
/// `.gz` ones whose last entry is not before `since_ns` − [`SLACK_NS`] into `scratch`.
///
/// # Errors
///
/// [`ReadError::Io`] when a file cannot be opened or a rotated `.gz` cannot be decompressed into
/// `scratch`; [`ReadError::Rotating`] when dockerd keeps rotating.
pub fn open(
    path: &Path,
    max_file: u32,
    since_ns: Option<i128>,
    scratch: &Path,
) -> Result<JsonLog, ReadError> {
    for _ in 0..5 {
        match open_once(path, max_file, since_ns, scratch)? {
            Some(log) => return Ok(log),
            None => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
    Err(ReadError::Rotating)
}

/// One attempt: `None` when a file was renamed under it (a rotation).
fn open_once(
    path: &Path,
    max_file: u32,
    since_ns: Option<i128>,
    scratch: &Path,
) -> Result<Option<JsonLog>, ReadError> {
    use std::os::unix::fs::MetadataExt;
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |e: io::Error| ReadError::Io {
            path: p.clone(),
            source: e,
        }
    };
    // Newest first: a rotation that happens meanwhile shows as an inode seen twice or a
    // path that no longer names the file opened.
    let current = File::open(path).map_err(io(path))?;
    let mut opened: Vec<(PathBuf, File, bool)> = vec![(path.to_path_buf(), current, false)];
    for i in 1..max_file.max(1) {
        let plain = PathBuf::from(format!("{}.{i}", path.display()));
        match File::open(&plain) {
            Ok(f) => {
                opened.push((plain, f, false));
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&plain)(e)),
        }
        let gz = PathBuf::from(format!("{}.{i}.gz", path.display()));
        match File::open(&gz) {
            Ok(f) => opened.push((gz, f, true)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&gz)(e)),
        }
    }
    let mut inodes = std::collections::HashSet::new();
    for (p, f, _) in &opened {
        let m = f.metadata().map_err(io(p))?;
        let now = match std::fs::metadata(p) {
            Ok(now) => now,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(p)(e)),
        };
        if !inodes.insert((m.dev(), m.ino())) || (now.dev(), now.ino()) != (m.dev(), m.ino()) {
            return Ok(None);
        }
    }
    let mut segments = Vec::new();
    let mut scratch_files = Vec::new();
    for (p, f, compressed) in opened.into_iter().rev() {
        let name = p.display().to_string();
        let seg = if compressed {
            match decompress(&p, f, since_ns, scratch)? {
                Some(t) => {
                    let file = t.reopen().map_err(io(t.path()))?;
                    let len = file.metadata().map_err(io(t.path()))?.len();
                    scratch_files.push(t);
                    Segment { name, file, len }
                }
                // Wholly before the window.
                None => continue,
            }
        } else {
            let len = f.metadata().map_err(io(&p))?.len();
            let mut seg = Segment { name, file: f, len };
            // dockerd writes an entry in one write(2); a reader may still see one half done.
            seg.len = whole_lines(&seg)?;
            seg
        };
        if seg.len > 0 {
            segments.push(seg);
        }
    }
    Ok(Some(JsonLog {
        segments,
        _scratch: scratch_files,
    }))
}

/// The length of `seg` up to its last `\n`.
fn whole_lines(seg: &Segment) -> Result<u64, ReadError> {
    let mut end = seg.len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let from = end.saturating_sub(buf.len() as u64);
        let n = (end - from) as usize;
        seg.file
            .read_exact_at(&mut buf[..n], from)
            .map_err(|e| seg.io(e))?;
        if let Some(i) = memchr::memrchr(b'\n', &buf[..n]) {
            return Ok(from + i as u64 + 1);
        }
        end = from;
    }
    Ok(0)
}

/// The `lastTime` dockerd records in the gzip header's extra field of a rotated file.
#[derive(serde::Deserialize)]
struct RotateMetadata {
    #[serde(rename = "lastTime")]
    last_time: String,
}

/// Decompresses a rotated `.gz` file into a scratch file, or `None` when its recorded last
/// entry is before `since_ns` − [`SLACK_NS`] (Go's zero time means unknown). dockerd skips
/// such a file too; 20.10 also skips every rotated file newer than it (a `break` for a
/// `continue`, fixed in later releases), so its API loses the part of a window that lies in
/// rotated files once the oldest compressed one ends before `since`: this reader does not.
fn decompress(
    path: &Path,
    file: File,
    since_ns: Option<i128>,
    scratch: &Path,
) -> Result<Option<tempfile::NamedTempFile>, ReadError> {
    let err = |e: io::Error| ReadError::Io {
        path: path.display().to_string(),
        source: e,
    };
    let mut dec = flate2::read::GzDecoder::new(io::BufReader::new(file));
    let mut first = [0u8; 1];
    let n = dec.read(&mut first).map_err(err)?;
    if let (Some(since), Some(extra)) = (since_ns, dec.header().and_then(|h| h.extra()))
        && let Ok(meta) = serde_json::from_slice::<RotateMetadata>(extra)
        && !meta.last_time.starts_with("0001-01-01T00:00:00")
        && let Some((last, _, _)) = parse_time(&meta.last_time)
        && last < since - SLACK_NS
    {
        return Ok(None);
    }
    let mut out = tempfile::Builder::new()
        .prefix("json-log-")
        .tempfile_in(scratch)
        .map_err(err)?;
    {
        let mut w = BufWriter::new(out.as_file_mut());
        w.write_all(&first[..n]).map_err(err)?;
        crate::compressed::copy_capped(&mut dec, &mut w, MAX_DECOMPRESSED).map_err(err)?;
        w.flush().map_err(err)?;
    }
    Ok(Some(out))
}

impl JsonLog {
    /// The files that hold entries, oldest first.
    pub fn files(&self) -> Vec<String> {
        self.segments.iter().map(|s| s.name.clone()).collect()
    }

    /// The first place whose entry is at `t` or later, assuming times grow along the log.
    fn search(&self, from: Pos, t: i128) -> Result<Pos, ReadError> {
        for i in from.0..self.segments.len() {
            let seg = &self.segments[i];
            let lo = if i == from.0 { from.1 } else { 0 };
            if seg.last_time()?.is_some_and(|last| last < t) {
                continue;
            }
            let at = seg.search(lo, seg.len, t)?;
            if at < seg.len {
                return Ok((i, at));
            }
        }
        Ok(self.end())
    }

    fn end(&self) -> Pos {
        (self.segments.len(), 0)
    }

    /// Where the API stops for `window.until`: the first entry from `from` on that is not
    /// skipped for `since` and is newer than `until`.
    fn stop(&self, from: Pos, window: &Window) -> Result<Pos, ReadError> {
        let Some(until) = window.until_ns else {
            return Ok(self.end());
        };
        let (mut i, mut at) = self.search(from, until - SLACK_NS)?.max(from);
        while i < self.segments.len() {
            let seg = &self.segments[i];
            while at < seg.len {
                let (line, next) = seg.line_at(at)?;
                let e = parse(&line).map_err(|why| seg.bad(at, why))?;
                if !window.skips(e.time_ns) && window.stops(e.time_ns) {
                    return Ok((i, at));
                }
                at = next;
            }
            i += 1;
            at = 0;
        }
        Ok(self.end())
    }

    /// Writes to `out` what the API sends for `window`, keeping only the newest entries once
    /// at least `want` bytes are written (then [`Outcome::cut`] is set). `scratch` holds the
    /// blocks meanwhile (they are produced newest first).
    ///
    /// # Errors
    ///
    /// [`ReadError::Io`] when a file cannot be read or `out`/`scratch` cannot be written;
    /// [`ReadError::Entry`] for a line that is not a json-file entry.
    pub fn read(
        &self,
        window: &Window,
        want: u64,
        out: &mut dyn Write,
        scratch: &Path,
    ) -> Result<Outcome, ReadError> {
        let start = match window.since_ns {
            Some(since) => self.search((0, 0), since - SLACK_NS)?,
            None => (0, 0),
        };
        let stop = self.stop(start, window)?;
        let scratch_err = |e: io::Error| ReadError::Io {
            path: scratch.display().to_string(),
            source: e,
        };
        let mut blocks = tempfile::tempfile_in(scratch).map_err(scratch_err)?;
        // (offset in `blocks`, length) of each block's output, newest first.
        let mut pieces: Vec<(u64, u64)> = Vec::new();
        let mut written: u64 = 0;
        let mut cut = false;
        let mut buf: Vec<u8> = Vec::new();
        let mut output: Vec<u8> = Vec::with_capacity(BLOCK);
        let mut files = Vec::new();
        'segments: for i in (start.0..self.segments.len().min(stop.0 + 1)).rev() {
            let seg = &self.segments[i];
            let lo = if i == start.0 { start.1 } else { 0 };
            let mut hi = if i == stop.0 { stop.1 } else { seg.len };
            if hi <= lo {
                continue;
            }
            files.push(seg.name.clone());
            while hi > lo {
                if written >= want {
                    cut = true;
                    break 'segments;
                }
                // A block of whole lines ending at `hi`; one entry when it is longer.
                let mut from = if hi - lo <= BLOCK as u64 {
                    lo
                } else {
                    seg.line_start_from(hi - BLOCK as u64)?
                };
                if from >= hi {
                    from = seg.line_start_before(hi, lo)?;
                }
                buf.resize((hi - from) as usize, 0);
                seg.file
                    .read_exact_at(&mut buf, from)
                    .map_err(|e| seg.io(e))?;
                output.clear();
                let mut at = 0usize;
                while at < buf.len() {
                    let end = memchr::memchr(b'\n', &buf[at..]).map_or(buf.len(), |i| at + i);
                    let e = parse(&buf[at..end]).map_err(|why| seg.bad(from + at as u64, why))?;
                    if !window.skips(e.time_ns) {
                        e.write_to(&mut output);
                    }
                    at = end + 1;
                }
                let off = blocks.stream_position().map_err(scratch_err)?;
                blocks.write_all(&output).map_err(scratch_err)?;
                pieces.push((off, output.len() as u64));
                written += output.len() as u64;
                hi = from;
                if buf.capacity() > 2 * BLOCK {
                    buf = Vec::new();
                }
                if output.capacity() > 2 * BLOCK {
                    output = Vec::with_capacity(BLOCK);
                }
            }
        }
        files.reverse();
        for (off, len) in pieces.into_iter().rev() {
            blocks.seek(SeekFrom::Start(off)).map_err(scratch_err)?;
            io::copy(&mut (&mut blocks).take(len), out).map_err(scratch_err)?;
        }
        Ok(Outcome {
            written,
            files,
            cut,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line as dockerd's json-file driver writes it.
    fn line(log: &str, stream: &str, time: &str) -> String {
        format!(
            "{}\n",
            serde_json::json!({"log": log, "stream": stream, "time": time})
        )
    }

    fn read_all(log: &JsonLog, window: Window, want: u64) -> (Vec<u8>, Outcome) {
        let dir = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        let o = log.read(&window, want, &mut out, dir.path()).unwrap();
        (out, o)
    }

    #[test]
    fn times_as_go_formats_them() {
        let e = parse(
            br#"{"log":"a\u003cb\u0026\n","stream":"stderr","time":"2026-12-01T04:10:42.12Z"}"#,
        )
        .unwrap();
        let mut out = Vec::new();
        e.write_to(&mut out);
        assert_eq!(out, b"2026-12-01T04:10:42.120000000Z a<b&\n");
        assert_eq!(e.output_len(), out.len());
        let (ns, _, _) = parse_time("2026-12-01T04:10:42Z").unwrap();
        assert_eq!(ns, 1_796_098_242 * 1_000_000_000);
        let e = parse(br#"{"log":"x","stream":"stdout","attrs":{"a":"b"},"time":"1970-01-01T00:00:00.000000001Z"}"#).unwrap();
        assert_eq!(e.time_ns, 1);
        let mut out = Vec::new();
        e.write_to(&mut out);
        assert_eq!(out, b"1970-01-01T00:00:00.000000001Z x");
        for bad in [
            "2026-12-01T04:10:42.1234567891Z",
            "2026-12-01T04:10:42+02:00",
            "2026-13-01T04:10:42Z",
            "2026-12-01 04:10:42Z",
            "2026-12-01T04:10:42.Z",
        ] {
            assert!(parse_time(bad).is_none(), "{bad}");
        }
        // Another stream is not sent.
        let e = parse(br#"{"log":"x","stream":"other","time":"2026-12-01T04:10:42Z"}"#).unwrap();
        assert_eq!(e.output_len(), 0);
        assert!(parse(b"{\"log\":1}").is_err());
    }

    /// `n` entries one second apart from `t0`, two per second on stderr out of order by 1 ms.
    fn write_log(path: &Path, t0: i64, n: i64) -> Vec<(i64, Vec<u8>)> {
        let mut f = File::create(path).unwrap();
        let mut expect = Vec::new();
        for i in 0..n {
            let t = time::OffsetDateTime::from_unix_timestamp(t0 + i).unwrap()
                + time::Duration::milliseconds(500);
            let ts = t
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap();
            let log = format!("entry {i} {}\n", "x".repeat((i % 50) as usize));
            f.write_all(line(&log, "stdout", &ts).as_bytes()).unwrap();
            let mut out = Vec::new();
            parse(line(&log, "stdout", &ts).trim_end().as_bytes())
                .unwrap()
                .write_to(&mut out);
            expect.push((t0 + i, out));
        }
        expect
    }

    #[test]
    fn windows_caps_and_rotated_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let p1 = dir.path().join("c-json.log.1");
        let t0 = 1_700_000_000;
        let old = write_log(&p1, t0, 20_000);
        let new = write_log(&p, t0 + 20_000, 20_000);
        let all: Vec<(i64, Vec<u8>)> = old.into_iter().chain(new).collect();
        let expect = |since: i64, until: i64| -> Vec<u8> {
            all.iter()
                .filter(|(t, _)| *t >= since && *t < until)
                .flat_map(|(_, b)| b.clone())
                .collect()
        };
        let log = open(&p, 2, None, dir.path()).unwrap();
        assert_eq!(log.files().len(), 2);
        // Everything.
        let (out, o) = read_all(&log, Window::from_secs(None, None), u64::MAX);
        assert_eq!(out, expect(0, i64::MAX));
        assert!(!o.cut);
        // A window across the rotation.
        let w = Window::from_secs(Some(t0 + 15_000), Some(t0 + 25_000));
        let (out, o) = read_all(&log, w, u64::MAX);
        assert_eq!(out, expect(t0 + 15_000, t0 + 25_000));
        assert_eq!(o.files.len(), 2);
        // Within the old file only: the current one is not read.
        let w = Window::from_secs(Some(t0 + 10), Some(t0 + 12));
        let (out, o) = read_all(&log, w, u64::MAX);
        assert_eq!(out, expect(t0 + 10, t0 + 12));
        assert_eq!(o.files, vec![p1.display().to_string()]);
        // A cap: the newest entries, at least `want` bytes of them, a suffix of the window.
        let w = Window::from_secs(Some(t0), None);
        let (out, o) = read_all(&log, w, 100_000);
        let full = expect(t0, i64::MAX);
        assert!(o.cut && out.len() >= 100_000 && out.len() < 100_000 + BLOCK * 2);
        assert!(full.ends_with(&out));
        assert!(out.starts_with(b"20"), "starts at an entry");
        // An empty window.
        let w = Window::from_secs(Some(t0 + 50_000), None);
        assert!(read_all(&log, w, u64::MAX).0.is_empty());
        // Without max-file, dockerd reads only the current file.
        let log = open(&p, 1, None, dir.path()).unwrap();
        assert_eq!(log.files(), vec![p.display().to_string()]);
    }

    #[test]
    fn compressed_rotated_files_and_a_half_written_entry() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let t0 = 1_700_000_000;
        let old = write_log(&dir.path().join("plain.2"), t0, 1000);
        let mid = write_log(&dir.path().join("plain.1"), t0 + 1000, 1000);
        let new = write_log(&p, t0 + 2000, 10);
        for (i, last) in [(2, t0 + 999), (1, t0 + 1999)] {
            let mut gz = flate2::GzBuilder::new()
                .extra(format!(r#"{{"lastTime":"{}"}}"#, rfc3339(last)).into_bytes())
                .write(
                    File::create(dir.path().join(format!("c-json.log.{i}.gz"))).unwrap(),
                    flate2::Compression::fast(),
                );
            gz.write_all(&std::fs::read(dir.path().join(format!("plain.{i}"))).unwrap())
                .unwrap();
            gz.finish().unwrap();
        }
        // Half an entry at the end, as a reader may see while dockerd writes.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"{\"log\":\"half")
            .unwrap();
        let all: Vec<u8> = [old, mid.clone(), new.clone()]
            .into_iter()
            .flatten()
            .flat_map(|(_, b)| b)
            .collect();
        let log = open(&p, 3, None, dir.path()).unwrap();
        let (out, _) = read_all(&log, Window::from_secs(None, None), u64::MAX);
        assert_eq!(out, all);
        // The oldest file ends before the window: it is not even decompressed.
        let log = open(
            &p,
            3,
            Some(i128::from(t0 + 1500) * 1_000_000_000),
            dir.path(),
        )
        .unwrap();
        assert_eq!(log.files().len(), 2);
        let (out, _) = read_all(&log, Window::from_secs(Some(t0 + 1500), None), u64::MAX);
        let want: Vec<u8> = mid
            .into_iter()
            .chain(new)
            .filter(|(t, _)| *t >= t0 + 1500)
            .flat_map(|(_, b)| b)
            .collect();
        assert_eq!(out, want);
    }

    fn rfc3339(t: i64) -> String {
        (time::OffsetDateTime::from_unix_timestamp(t).unwrap() + time::Duration::milliseconds(500))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    }

    #[test]
    fn until_stops_at_the_first_newer_entry_and_since_skips_each_older_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        // Out of order around the edges, as stdout and stderr entries can be.
        let body = [
            ("a\n", "stdout", "2026-12-01T00:00:09.9Z"),
            ("b\n", "stderr", "2026-12-01T00:00:10.2Z"),
            ("c\n", "stdout", "2026-12-01T00:00:09.95Z"),
            ("d\n", "stdout", "2026-12-01T00:00:10.5Z"),
            ("e\n", "stdout", "2026-12-01T00:00:20.5Z"),
            ("f\n", "stdout", "2026-12-01T00:00:20.1Z"),
        ]
        .iter()
        .map(|(l, s, t)| line(l, s, t))
        .collect::<String>();
        std::fs::write(&p, body).unwrap();
        let since = parse_time("2026-12-01T00:00:10Z").unwrap().0 / 1_000_000_000;
        let log = open(&p, 1, None, dir.path()).unwrap();
        let w = Window::from_secs(Some(since as i64), Some(since as i64 + 10));
        let (out, _) = read_all(&log, w, u64::MAX);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2026-12-01T00:00:10.200000000Z b\n2026-12-01T00:00:10.500000000Z d\n"
        );
    }
}
