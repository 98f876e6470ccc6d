//! From a facts document to a report: the part of `preflight check` after gathering.

use time::OffsetDateTime;

use crate::facts::{Fact, Facts, ToolInfo};
use crate::report::{HostInfo, REPORT_SCHEMA_VERSION, Report, Summary};
use crate::rules::RuleSet;
use crate::rules::eval::{EvalContext, evaluate};

/// Evaluates `set` on `facts` and assembles the report.
///
/// # Errors
///
/// Only when the facts cannot be turned into JSON for the rules (a serialiser bug: every facts type
/// serialises).
pub fn build_report(
    facts: &Facts,
    set: &RuleSet,
    ctx: &EvalContext<'_>,
    started_at: OffsetDateTime,
    duration_ms: u64,
) -> Result<Report, serde_json::Error> {
    let doc = serde_json::to_value(facts)?;
    let results = evaluate(set, &doc, ctx);
    Ok(Report {
        schema_version: REPORT_SCHEMA_VERSION,
        tool: ToolInfo::current(),
        host: host_info(facts),
        profile: ctx.profile,
        started_at,
        duration_ms,
        summary: Summary::of(&results),
        results,
    })
}

fn host_info(facts: &Facts) -> HostInfo {
    let h = &facts.host;
    HostInfo {
        hostname: h.hostname.as_ref().cloned(),
        kernel: h.kernel.as_ref().map(|k| k.release.clone()),
        os: match &h.os {
            Fact::Available(os) => os.pretty_name.clone().or_else(|| os.id.clone()),
            Fact::Unavailable(_) => None,
        },
    }
}
