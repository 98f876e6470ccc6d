//! Logging under systemd: the journal's stream conventions for standard error.
//!
//! systemd connects a service's standard output and error to the journal and says so in
//! `JOURNAL_STREAM=DEVICE:INODE` (systemd.exec(5)). Lines there need no timestamp of their
//! own (the journal stamps each entry; a second one only doubles it) and may begin with a
//! syslog priority prefix `<N>` (sd-daemon(3): `<3>` error, `<4>` warning, `<6>` info,
//! `<7>` debug), which the journal strips and records as the entry's `PRIORITY=`, so
//! `journalctl -p warning` works. A child that inherited `JOURNAL_STREAM` but writes somewhere
//! else (a terminal, a pipe, a file) must not use this format: as systemd.exec(5) asks, the
//! variable counts only when its device and inode are those of the stream itself.
//!
//! The stream protocol is used rather than the journal's native socket (tracing-journald):
//! it needs no socket of its own in the unit's sandbox, keeps `journalctl -o cat` output the
//! same as a terminal's, and a service whose output is redirected elsewhere keeps working.

use std::fmt;
use std::os::fd::AsFd;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Whether `fd` is the journal stream `JOURNAL_STREAM` names (`DEVICE:INODE`, decimal).
/// False when the variable is unset or malformed, or names another file.
pub fn is_journal_stream(fd: impl AsFd) -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = value.to_str().and_then(parse_stream) else {
        return false;
    };
    rustix::fs::fstat(fd).is_ok_and(|st| st.st_dev == dev && st.st_ino == ino)
}

fn parse_stream(v: &str) -> Option<(u64, u64)> {
    let (dev, ino) = v.trim().split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
}

/// The syslog priority of a tracing level (sd-daemon(3)'s `SD_ERR` … `SD_DEBUG`).
pub fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// Prefixes every line of `text` with `<priority>`: the journal splits a stream at newlines,
/// so each line is its own entry and needs its own prefix.
pub fn prefix_lines(priority: u8, text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for line in text.trim_end_matches('\n').split('\n') {
        out.push_str(&format!("<{priority}>{line}\n"));
    }
    out
}

/// A tracing event format for the journal stream: `<N>target: message fields`, no
/// timestamp, no level word (the prefix carries it), no colour.
#[derive(Debug, Clone, Copy, Default)]
pub struct JournalFormat;

impl<S, N> FormatEvent<S, N> for JournalFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = String::new();
        ctx.field_format()
            .format_fields(Writer::new(&mut fields), event)?;
        let text = format!("{}: {fields}", meta.target());
        writer.write_str(&prefix_lines(priority(*meta.level()), &text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_and_inode() {
        assert_eq!(parse_stream("8:12345"), Some((8, 12345)));
        assert_eq!(parse_stream("8:12345\n"), Some((8, 12345)));
        assert_eq!(parse_stream("8"), None);
        assert_eq!(parse_stream("x:1"), None);
        assert_eq!(parse_stream(""), None);
    }

    #[test]
    fn every_line_gets_the_prefix() {
        assert_eq!(prefix_lines(4, "a\nb\n"), "<4>a\n<4>b\n");
        assert_eq!(prefix_lines(6, "one"), "<6>one\n");
        assert_eq!(prefix_lines(3, ""), "<3>\n");
    }

    #[test]
    fn levels_map_to_syslog_priorities() {
        assert_eq!(priority(Level::ERROR), 3);
        assert_eq!(priority(Level::WARN), 4);
        assert_eq!(priority(Level::INFO), 6);
        assert_eq!(priority(Level::DEBUG), 7);
        assert_eq!(priority(Level::TRACE), 7);
    }
}
