//! The terminal report: one row per rule that needs reading, skipped rules collapsed to one
//! line per cause, fitted to the terminal's width.
//!
//! Layout, for a person reading it in ten seconds:
//! - columns `STATUS  RULE  MESSAGE`, plus `OBSERVED` (one line, shortened with `…`) when the
//!   terminal is wide enough for it (≥ [`OBSERVED_MIN_WIDTH`] columns); the full observed value
//!   is in the JSON report and `preflight explain`;
//! - messages and remedies wrap at the width, between words: a rule ID, URL or path is never
//!   broken (a token longer than the column overflows it instead);
//! - by default, skipped rules are grouped by their root cause ("10 db.* rules skipped: no
//!   database configured…"); [`Layout::all`] shows every row.

use comfy_table::{ContentArrangement, Table, presets};
use unicode_width::UnicodeWidthStr;

use super::Report;
use crate::rules::{RuleResult, Status};

/// Width used when the output is not a terminal and `COLUMNS` is not set (pipes, files, CI
/// logs): wide enough for the observed column, narrow enough for a log viewer.
pub const OFF_TERMINAL_WIDTH: usize = 120;
/// The narrowest width honoured; below it the layout would be nothing but wrapping.
pub const MIN_WIDTH: usize = 40;
/// From this width on, the table has an `OBSERVED` column.
pub const OBSERVED_MIN_WIDTH: usize = 110;

/// How the terminal report is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Total columns available.
    pub width: usize,
    /// ANSI colours for the status.
    pub color: bool,
    /// Every rule its own row, skipped ones too (`--all`, `-v`).
    pub all: bool,
}

impl Layout {
    /// Every row, no colour, [`OFF_TERMINAL_WIDTH`] columns: for files that are not a
    /// terminal's (a bundle's copy of the report).
    pub fn plain() -> Layout {
        Layout {
            width: OFF_TERMINAL_WIDTH,
            color: false,
            all: true,
        }
    }

    /// The layout for standard output: `COLUMNS` when set (as `ls` and clap honour it), else
    /// the terminal's width, else [`OFF_TERMINAL_WIDTH`]; never narrower than [`MIN_WIDTH`].
    pub fn for_stdout(color: bool, all: bool) -> Layout {
        Layout {
            width: terminal_width().max(MIN_WIDTH),
            color,
            all,
        }
    }
}

/// Columns of standard output: `COLUMNS`, the terminal's size, or [`OFF_TERMINAL_WIDTH`].
pub fn terminal_width() -> usize {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|n| (1..=10_000).contains(n))
    {
        return n;
    }
    match rustix::termios::tcgetwinsize(std::io::stdout()) {
        Ok(size) if size.ws_col > 0 => usize::from(size.ws_col),
        _ => OFF_TERMINAL_WIDTH,
    }
}

fn color_code(status: Status) -> &'static str {
    match status {
        Status::Pass => "32",
        Status::Info => "36",
        Status::Warn | Status::Waived => "33",
        Status::Fail | Status::Error => "31",
        Status::Skip => "90",
    }
}

/// A table in the house style for listings (`history`, `diff`): UTF-8 borders, wrapped to
/// the width [`terminal_width`] gives.
pub fn styled(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec())
        .set_width(u16::try_from(terminal_width().max(MIN_WIDTH)).unwrap_or(u16::MAX));
    table
}

/// Plain columns for listings (`preflight rules`): every column but the last as wide as its
/// widest cell, the last wrapped to what is left of `width`, two spaces apart.
pub fn columns(header: &[&str], rows: &[Vec<String>], width: usize) -> String {
    let n = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(n) {
            widths[i] = widths[i].max(cell.width());
        }
    }
    let left: usize = widths[..n.saturating_sub(1)].iter().map(|w| w + 2).sum();
    let last = width.max(MIN_WIDTH).saturating_sub(left).max(20);
    let indent = " ".repeat(left);
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate().take(n.saturating_sub(1)) {
            line.push_str(&pad(cell, widths[i]));
            line.push_str("  ");
        }
        let wrapped = wrap(row.get(n - 1).map_or("", String::as_str), last);
        out.push_str(format!("{line}{}", wrapped[0]).trim_end());
        out.push('\n');
        for more in &wrapped[1..] {
            out.push_str(&indent);
            out.push_str(more);
            out.push('\n');
        }
    }
    out
}

/// Wraps `text` to `width` columns between words, never inside one, and never between a
/// number and its unit (`500.0 GB`, `12 ms`).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    static NUMBER_UNIT: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(\d) (TB|GB|MB|kB|KiB|MiB|GiB|TiB|ms|µs|s|%)\b")
            .unwrap_or_else(|e| unreachable!("a fixed pattern: {e}"))
    });
    let joined = NUMBER_UNIT.replace_all(text, "$1\u{a0}$2");
    let options = textwrap::Options::new(width.max(1))
        .break_words(false)
        .word_separator(textwrap::WordSeparator::AsciiSpace)
        .word_splitter(textwrap::WordSplitter::NoHyphenation);
    let lines: Vec<String> = textwrap::wrap(&joined, options)
        .into_iter()
        .map(|l| l.replace('\u{a0}', " "))
        .collect();
    if lines.is_empty() {
        vec![String::new()]
    } else {
        lines
    }
}

/// `text` on one line of at most `width` columns, ending in `…` when shortened.
pub fn shorten(text: &str, width: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.width() <= width {
        return one_line;
    }
    let mut out = String::new();
    let mut used = 0;
    for c in one_line.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// One row of the report.
struct Row {
    status: Status,
    rule: String,
    observed: String,
    message: String,
}

/// The skipped results grouped by cause: `(rule IDs, cause)` in report order. A skip that
/// cites a prerequisite (`prerequisite X is S: …`, as evaluation words it) belongs to X's
/// group; any other skip starts its own group, which its dependants join.
fn skip_groups(report: &Report) -> Vec<(Vec<&RuleResult>, String)> {
    let mut groups: Vec<(String, Vec<&RuleResult>, String)> = Vec::new();
    let status_of = |id: &str| report.results.iter().find(|r| r.id == id).map(|r| r.status);
    for r in report.results.iter().filter(|r| r.status == Status::Skip) {
        let (root, cause) = match prerequisite_of(&r.message) {
            // The root is shown in its own row (it warned or failed): name it, do not repeat it.
            Some(root) if status_of(root).is_some_and(|s| s != Status::Skip) => (
                root.to_string(),
                format!(
                    "prerequisite {root} is {}",
                    status_of(root).map_or("", Status::as_str)
                ),
            ),
            Some(root) => (root.to_string(), String::new()),
            None => (r.id.clone(), r.message.clone()),
        };
        match groups.iter_mut().find(|g| g.0 == root) {
            Some(g) => {
                g.1.push(r);
                if g.2.is_empty() {
                    g.2 = cause;
                }
            }
            None => groups.push((root, vec![r], cause)),
        }
    }
    // Groups with the same cause are one (rules skipped for the same reason on their own).
    let mut merged: Vec<(Vec<&RuleResult>, String)> = Vec::new();
    for (_, members, cause) in groups {
        let cause = if cause.is_empty() {
            members[0].message.clone()
        } else {
            cause
        };
        match merged.iter_mut().find(|(_, c)| *c == cause) {
            Some((m, _)) => m.extend(members),
            None => merged.push((members, cause)),
        }
    }
    merged
}

/// The rule a skip message cites: `prerequisite X is S: …` → X.
fn prerequisite_of(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("prerequisite ")?;
    let (id, rest) = rest.split_once(' ')?;
    rest.starts_with("is ").then_some(id)
}

/// How a group of skipped rules is named in the rule column: its one ID, `db.* (10)` or
/// `wa.*, log.* (19)` by their families, `12 rules` when they come from more than two.
fn group_label(members: &[&RuleResult]) -> String {
    if let [one] = members {
        return one.id.clone();
    }
    let mut families: Vec<&str> = Vec::new();
    for m in members {
        let family = m.id.split('.').next().unwrap_or_default();
        if !families.contains(&family) {
            families.push(family);
        }
    }
    if families.len() <= 2 {
        let f: Vec<String> = families.iter().map(|f| format!("{f}.*")).collect();
        format!("{} ({})", f.join(", "), members.len())
    } else {
        format!("{} rules", members.len())
    }
}

fn rows(report: &Report, all: bool) -> Vec<Row> {
    let row = |r: &RuleResult| Row {
        status: r.status,
        rule: r.id.clone(),
        observed: r.observed.clone().unwrap_or_default(),
        message: r.message.clone(),
    };
    let mut rows: Vec<Row> = report
        .results
        .iter()
        .filter(|r| all || r.status != Status::Skip)
        .map(row)
        .collect();
    if !all {
        for (members, cause) in skip_groups(report) {
            // Rules of one family read as `db.* (10)`; a mixed group names its rules.
            let label = group_label(&members);
            let message = if members.len() > 1 && label.ends_with(" rules") {
                let ids: Vec<&str> = members.iter().map(|m| m.id.as_str()).collect();
                format!("{cause} ({})", ids.join(", "))
            } else {
                cause
            };
            rows.push(Row {
                status: Status::Skip,
                rule: label,
                observed: if members.len() == 1 {
                    members[0].observed.clone().unwrap_or_default()
                } else {
                    String::new()
                },
                message,
            });
        }
    }
    rows
}

/// Renders the report: the table, a summary line, then what to do for every rule that needs
/// action, wrapped to the layout's width.
pub fn render(report: &Report, layout: &Layout) -> String {
    let width = layout.width.max(MIN_WIDTH);
    let rows = rows(report, layout.all);
    let status_w = rows
        .iter()
        .map(|r| r.status.as_str().len())
        .max()
        .unwrap_or(4)
        .max("STATUS".len());
    let rule_w = rows
        .iter()
        .map(|r| r.rule.width())
        .max()
        .unwrap_or(4)
        .max("RULE".len());
    let gap = 2;
    let left = status_w + gap + rule_w + gap;
    let rest = width.saturating_sub(left).max(20);
    let observed_w = if width >= OBSERVED_MIN_WIDTH {
        let longest = rows.iter().map(|r| r.observed.width()).max().unwrap_or(0);
        longest.clamp("OBSERVED".len(), rest * 2 / 5)
    } else {
        0
    };
    let message_w = if observed_w > 0 {
        rest.saturating_sub(observed_w + gap).max(20)
    } else {
        rest
    };
    let indent = " ".repeat(left + if observed_w > 0 { observed_w + gap } else { 0 });

    let mut out = String::new();
    let mut head = format!("{:<status_w$}  {:<rule_w$}  ", "STATUS", "RULE");
    if observed_w > 0 {
        head.push_str(&format!("{:<observed_w$}  ", "OBSERVED"));
    }
    head.push_str("MESSAGE");
    out.push_str(head.trim_end());
    out.push('\n');
    for row in &rows {
        let label = row.status.as_str().to_uppercase();
        let status = if layout.color {
            format!(
                "\x1b[{}m{label}\x1b[0m{}",
                color_code(row.status),
                " ".repeat(status_w - label.len())
            )
        } else {
            format!("{label:<status_w$}")
        };
        let mut first = format!("{status}  {}", pad(&row.rule, rule_w));
        first.push_str("  ");
        if observed_w > 0 {
            first.push_str(&pad(&shorten(&row.observed, observed_w), observed_w));
            first.push_str("  ");
        }
        let lines = wrap(&row.message, message_w);
        out.push_str(format!("{first}{}", lines[0]).trim_end());
        out.push('\n');
        for line in &lines[1..] {
            out.push_str(&indent);
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push('\n');
    for line in wrap(&summary_line(report, layout.all), width) {
        out.push_str(&line);
        out.push('\n');
    }
    let todo: Vec<_> = report.needing_action().collect();
    if !todo.is_empty() {
        out.push_str("\nWhat to do:\n");
        for r in todo {
            let head = format!("{} ({}): {}", r.id, r.status.as_str(), r.title);
            for (i, line) in wrap(&head, width.saturating_sub(2)).iter().enumerate() {
                out.push_str(if i == 0 { "- " } else { "  " });
                out.push_str(line);
                out.push('\n');
            }
            if let Some(remedy) = &r.remedy {
                for line in wrap(remedy, width.saturating_sub(2)) {
                    out.push_str(&format!("  {line}\n"));
                }
            }
            if let Some(doc) = &r.doc {
                out.push_str(&format!("  see {doc}\n"));
            }
        }
    }
    out
}

/// `13 pass, 1 info, 2 warn, 2 fail, 30 skip (--all lists them) — production, 760 ms`:
/// pass, warn and fail always, the other statuses when any rule has them.
fn summary_line(report: &Report, all: bool) -> String {
    let s = &report.summary;
    let mut parts = vec![format!("{} pass", s.pass)];
    if s.info > 0 {
        parts.push(format!("{} info", s.info));
    }
    parts.push(format!("{} warn", s.warn));
    parts.push(format!("{} fail", s.fail));
    if s.error > 0 {
        parts.push(format!("{} error", s.error));
    }
    if s.skip > 0 {
        parts.push(if all {
            format!("{} skip", s.skip)
        } else {
            format!("{} skip (--all lists them)", s.skip)
        });
    }
    if s.waived > 0 {
        parts.push(format!("{} waived", s.waived));
    }
    format!(
        "{} — {}, {} ms",
        parts.join(", "),
        report.profile,
        report.duration_ms
    )
}

/// `text` padded with spaces to `width` display columns.
fn pad(text: &str, width: usize) -> String {
    let w = text.width();
    format!("{text}{}", " ".repeat(width.saturating_sub(w)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_never_breaks_a_token() {
        let url = "https://developers.facebook.com/docs/whatsapp/on-premises/get-started";
        let lines = wrap(&format!("see {url} for docker.seccomp.statx now"), 30);
        assert!(lines.iter().any(|l| l.contains(url)), "{lines:?}");
        let flags = wrap(
            "the probe was disabled (--no-statx-probe) by --db-password-file",
            24,
        );
        assert!(
            flags.iter().any(|l| l.contains("(--no-statx-probe)")),
            "{flags:?}"
        );
        assert!(
            flags.iter().any(|l| l.contains("--db-password-file")),
            "{flags:?}"
        );
        assert!(lines.iter().any(|l| l.contains("docker.seccomp.statx")));
        assert!(wrap("", 10) == vec![String::new()]);
        let sizes = wrap(
            "/ (ext4 on /dev/mapper/centos-root) holds 500.0 GB, 300.0 GB free",
            46,
        );
        assert!(sizes.iter().any(|l| l.contains("500.0 GB")), "{sizes:?}");
        assert!(!sizes.iter().any(|l| l.contains('\u{a0}')));
    }

    #[test]
    fn shortening_keeps_one_line_within_the_width() {
        assert_eq!(shorten("short", 10), "short");
        let s = shorten("a long observed value\nwith a newline", 12);
        assert_eq!(s, "a long obse…");
        assert_eq!(s.width(), 12);
        assert_eq!(shorten("149 µs median", 8), "149 µs …");
    }

    #[test]
    fn prerequisite_is_read_from_evaluations_wording() {
        assert_eq!(
            prerequisite_of("prerequisite db.configured is skip: no database"),
            Some("db.configured")
        );
        assert_eq!(prerequisite_of("the container probe was disabled"), None);
        assert_eq!(prerequisite_of("prerequisite-free"), None);
    }
}
