//! The combined matcher: every pattern in one regex for the pass over the bytes, a set to tell
//! which patterns a candidate line matches, the time each line starts with, and the tally per
//! signature and window.

use std::collections::BTreeMap;
use std::time::Duration;

use regex::bytes::{Regex, RegexSet};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Dating, LogsFacts, Pattern, SignatureFacts, SourceFacts, SourceText};
use crate::facts::Fact;
use crate::redact::{PersonalData, Redactor};

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
pub(super) fn unnamed(pattern: &str) -> String {
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
pub(super) struct Tally {
    count: u64,
    first: Option<OffsetDateTime>,
    last: Option<OffsetDateTime>,
    example: Option<(String, Vec<u8>)>,
    captures: BTreeMap<String, Vec<u8>>,
}

pub(super) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

pub(super) fn shorten(text: &str, max: usize) -> String {
    let line = text.trim_end();
    if line.chars().count() <= max {
        return line.to_string();
    }
    let mut out: String = line.chars().take(max - 1).collect();
    out.push('…');
    out
}

pub(super) fn line_starts_rfc3339(line: &[u8]) -> bool {
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

pub(super) fn leading_time(head: &str) -> Option<OffsetDateTime> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::logs::LogSource;
    use crate::facts::logs::sources::newest;

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
