//! The check report: its JSON shape (a contract, versioned by `schema_version`), the exit
//! code it maps to, and renderers for people and machines.

mod junit;
mod markdown;
pub mod prometheus;
pub mod table;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::facts::ToolInfo;
use crate::rules::{Profile, RuleResult, Status};

/// Version of the report JSON shape; bump on any incompatible change.
///
/// 2: the status `info` (a documented deviation known to work) and `summary.info`.
pub const REPORT_SCHEMA_VERSION: u32 = 2;

/// Counts per status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Rules that met their requirement.
    pub pass: usize,
    /// `info` results; absent (0) in reports of schema 1.
    #[serde(default)]
    pub info: usize,
    /// Rules that work but need attention (exit code 4, 3 with `--strict`).
    pub warn: usize,
    /// Rules whose requirement is not met (exit code 3).
    pub fail: usize,
    /// Rules that were moot: a prerequisite did not pass, the profile leaves them out, or the state
    /// makes them meaningless.
    pub skip: usize,
    /// Rules that could not be judged: the fact was unavailable or of the wrong type (exit code 3).
    pub error: usize,
    /// Non-pass results a config waiver accepted until its expiry date.
    pub waived: usize,
}

impl Summary {
    /// Counts the results.
    pub fn of(results: &[RuleResult]) -> Summary {
        let mut s = Summary::default();
        for r in results {
            *s.slot(r.status) += 1;
        }
        s
    }

    fn slot(&mut self, status: Status) -> &mut usize {
        match status {
            Status::Pass => &mut self.pass,
            Status::Info => &mut self.info,
            Status::Warn => &mut self.warn,
            Status::Fail => &mut self.fail,
            Status::Skip => &mut self.skip,
            Status::Error => &mut self.error,
            Status::Waived => &mut self.waived,
        }
    }

    /// The count for one status.
    pub fn count(&self, status: Status) -> usize {
        match status {
            Status::Pass => self.pass,
            Status::Info => self.info,
            Status::Warn => self.warn,
            Status::Fail => self.fail,
            Status::Skip => self.skip,
            Status::Error => self.error,
            Status::Waived => self.waived,
        }
    }

    /// The syslog priority of the report's one journal line (`check --format summary` under
    /// the systemd timer), so `journalctl -p` selects findings: error (3) when a rule failed or
    /// could not be judged, warning (4) when one warns, else info (6); sd-daemon(3)'s levels
    /// as [`crate::journald::priority`] gives them. Waived and skipped rules do not count.
    pub fn journal_priority(&self) -> u8 {
        let level = if self.fail > 0 || self.error > 0 {
            tracing::Level::ERROR
        } else if self.warn > 0 {
            tracing::Level::WARN
        } else {
            tracing::Level::INFO
        };
        crate::journald::priority(level)
    }
}

/// Which host the report is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    /// The uname nodename; None when it could not be read.
    pub hostname: Option<String>,
    /// The kernel release (`uname -r`); None when it could not be read.
    pub kernel: Option<String>,
    /// The os-release `PRETTY_NAME`, else its `ID`; None when neither could be read.
    pub os: Option<String>,
}

/// The whole check report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The shape's version, [`REPORT_SCHEMA_VERSION`] when written by this build.
    pub schema_version: u32,
    /// The tool that judged (`wa-preflight` and its version).
    pub tool: ToolInfo,
    /// The host the facts are about.
    pub host: HostInfo,
    /// Which profile's rules applied.
    pub profile: Profile,
    /// When the run started, UTC (RFC 3339 in JSON).
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// Milliseconds gathering and judging took (0 when judging saved facts).
    pub duration_ms: u64,
    /// How many results have each status; they add up to `results.len()`.
    pub summary: Summary,
    /// One result per rule, in rule order.
    pub results: Vec<RuleResult>,
}

/// One line counting `results` by status, in report order, statuses that occur only, with the
/// IDs of the rules that need action: `40 pass, 2 info, 3 warn (a, b, c), 1 fail (d)`.
/// `no rules` when there are none.
pub fn summary_line<'a>(results: impl IntoIterator<Item = &'a RuleResult>) -> String {
    let results: Vec<&RuleResult> = results.into_iter().collect();
    let mut parts = Vec::new();
    for status in Status::ALL {
        let ids: Vec<&str> = results
            .iter()
            .filter(|r| r.status == status)
            .map(|r| r.id.as_str())
            .collect();
        if ids.is_empty() {
            continue;
        }
        let mut part = format!("{} {}", ids.len(), status.as_str());
        if matches!(status, Status::Warn | Status::Fail | Status::Error) {
            part.push_str(&format!(" ({})", ids.join(", ")));
        }
        parts.push(part);
    }
    if parts.is_empty() {
        "no rules".to_string()
    } else {
        parts.join(", ")
    }
}

/// Process exit codes; a contract for scripts and timers.
pub mod exit {
    /// Every rule passed (or was `info`, skipped or waived).
    pub const OK: i32 = 0;
    /// Internal error of the tool.
    pub const INTERNAL: i32 = 1;
    /// Bad usage, rules or config.
    pub const USAGE: i32 = 2;
    /// At least one rule failed or could not be evaluated.
    pub const FAIL: i32 = 3;
    /// Warnings but no failure.
    pub const WARN: i32 = 4;
}

impl Report {
    /// Results an operator must act on (warn, fail, error), in rule order.
    pub fn needing_action(&self) -> impl Iterator<Item = &RuleResult> {
        self.results
            .iter()
            .filter(|r| matches!(r.status, Status::Fail | Status::Error | Status::Warn))
    }

    /// The report in one line, for logs and `check --format summary`: see [`summary_line`].
    pub fn summary_line(&self) -> String {
        summary_line(&self.results)
    }

    /// The exit code for this report; `strict` treats warnings as failures.
    pub fn exit_code(&self, strict: bool) -> i32 {
        let s = &self.summary;
        if s.fail > 0 || s.error > 0 || (strict && s.warn > 0) {
            exit::FAIL
        } else if s.warn > 0 {
            exit::WARN
        } else {
            exit::OK
        }
    }
}

/// Output formats of `preflight check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// For a terminal ([`table::render`]): one row per rule, skipped rules grouped by cause.
    Table,
    /// The [`Report`] itself (docs/report.md, docs/report.schema.json).
    Json,
    /// JUnit XML, one `<testcase>` per rule, for CI.
    Junit,
    /// Markdown, for tickets and chat.
    Markdown,
    /// Prometheus text exposition: a gauge per rule and status.
    Prometheus,
    /// One line: the count of each status and the IDs of the rules that need action (for the
    /// journal of a timer's run, beside `--report-file`).
    Summary,
}

impl Format {
    /// Every format, in the order the command line lists them.
    pub const ALL: [Format; 6] = [
        Format::Table,
        Format::Json,
        Format::Junit,
        Format::Markdown,
        Format::Prometheus,
        Format::Summary,
    ];

    /// The name `--format` takes: `table`, `json`, `junit`, `markdown`, `prometheus`,
    /// `summary`.
    pub const fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Junit => "junit",
            Format::Markdown => "markdown",
            Format::Prometheus => "prometheus",
            Format::Summary => "summary",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A format name that is none of [`Format::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format {0:?}: give table, json, junit, markdown, prometheus or summary")]
pub struct UnknownFormat(pub String);

impl std::str::FromStr for Format {
    type Err = UnknownFormat;

    /// The exact [`Format::name`].
    fn from_str(s: &str) -> Result<Format, UnknownFormat> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| UnknownFormat(s.to_string()))
    }
}

/// Renders a report; `layout` only affects `table` (every other format keeps every rule).
///
/// # Errors
///
/// [`RenderError`] when a serialiser fails (JSON, JUnit XML, Prometheus text); the table, Markdown
/// and summary cannot fail.
pub fn render(
    report: &Report,
    format: Format,
    layout: &table::Layout,
) -> Result<String, RenderError> {
    Ok(match format {
        Format::Table => table::render(report, layout),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(report)?;
            s.push('\n');
            s
        }
        Format::Junit => junit::render(report, false)?,
        Format::Markdown => markdown::render(report),
        Format::Prometheus => prometheus::render(report)?,
        Format::Summary => format!("{}\n", report.summary_line()),
    })
}

/// JUnit XML as `--strict` judges: a warning is a `<failure>` (it fails the run).
///
/// # Errors
///
/// [`RenderError::Junit`] when the XML serialiser fails.
pub fn render_junit(report: &Report, strict: bool) -> Result<String, RenderError> {
    junit::render(report, strict)
}

/// A renderer failed (only serialisers can).
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The JSON serialiser failed.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The JUnit XML serialiser failed.
    #[error("JUnit XML: {0}")]
    Junit(#[from] quick_junit::SerializeError),
    /// Writing text (Prometheus exposition) failed.
    #[error("text: {0}")]
    Text(#[from] std::fmt::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_priority_is_the_worst_finding() {
        let of = |pass, info, warn, fail, skip, error, waived| {
            Summary {
                pass,
                info,
                warn,
                fail,
                skip,
                error,
                waived,
            }
            .journal_priority()
        };
        assert_eq!(of(0, 0, 0, 0, 0, 0, 0), 6, "nothing to judge is no finding");
        assert_eq!(
            of(9, 2, 0, 0, 3, 0, 4),
            6,
            "info, skipped and waived are info"
        );
        assert_eq!(of(9, 0, 1, 0, 0, 0, 0), 4);
        assert_eq!(of(9, 0, 1, 1, 0, 0, 0), 3, "a failure outranks a warning");
        assert_eq!(of(0, 0, 0, 0, 0, 1, 0), 3, "a rule not judged is an error");
    }
}
