//! Prometheus text exposition: one gauge per rule and status (1 for the current status, 0 for
//! the others), so alerts can say `wa_preflight_rule_status{status="fail"} == 1` and graphs
//! show transitions.
//!
//! Written by hand rather than through prometheus-client: its label families iterate a hash
//! map, so the output order changed from run to run, which breaks diffs of the textfile and
//! snapshot tests. The format is small and fixed (text exposition 0.0.4).

use std::fmt::Write;

use super::{RenderError, Report};
use crate::rules::Status;

/// Escapes a label value: backslash, double quote and newline.
pub fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Writes a gauge family's HELP and TYPE lines.
///
/// # Errors
///
/// Only what writing to `out` returns ([`std::fmt::Error`]); writing to a `String` does not fail.
pub fn header(out: &mut String, name: &str, help: &str) -> std::fmt::Result {
    writeln!(out, "# HELP {name} {help}")?;
    writeln!(out, "# TYPE {name} gauge")
}

/// Renders the report's gauges, in rule order.
///
/// # Errors
///
/// [`RenderError::Text`] if writing the text fails (it does not, into a `String`).
pub fn render(report: &Report) -> Result<String, RenderError> {
    let mut out = String::new();
    header(
        &mut out,
        "wa_preflight_rule_status",
        "Current status of each rule: 1 for the status it has, 0 for the others.",
    )?;
    for r in &report.results {
        for status in Status::ALL {
            writeln!(
                out,
                "wa_preflight_rule_status{{rule=\"{}\",status=\"{}\"}} {}",
                label(&r.id),
                status.as_str(),
                u8::from(r.status == status)
            )?;
        }
    }
    header(
        &mut out,
        "wa_preflight_rules",
        "Number of rules per status.",
    )?;
    for status in Status::ALL {
        writeln!(
            out,
            "wa_preflight_rules{{status=\"{}\"}} {}",
            status.as_str(),
            report.summary.count(status)
        )?;
    }
    header(
        &mut out,
        "wa_preflight_last_run_timestamp_seconds",
        "When the check started (Unix time).",
    )?;
    writeln!(
        out,
        "wa_preflight_last_run_timestamp_seconds {}",
        report.started_at.unix_timestamp()
    )?;
    header(
        &mut out,
        "wa_preflight_last_run_duration_seconds",
        "How long the check took.",
    )?;
    writeln!(
        out,
        "wa_preflight_last_run_duration_seconds {}",
        report.duration_ms as f64 / 1000.0
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::label;

    #[test]
    fn escapes_label_values() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
