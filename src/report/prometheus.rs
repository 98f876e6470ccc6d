//! Prometheus text exposition: one gauge per rule and status (1 for the current status, 0 for
//! the others), so alerts can say `wa_preflight_rule_status{status="fail"} == 1` and graphs
//! show transitions.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{RenderError, Report, Status};

type Labels = Vec<(String, String)>;

/// Renders the report's gauges.
pub fn render(report: &Report) -> Result<String, RenderError> {
    let mut registry = Registry::with_prefix("wa_preflight");
    let rule_status = Family::<Labels, Gauge>::default();
    registry.register(
        "rule_status",
        "Current status of each rule: 1 for the status it has, 0 for the others",
        rule_status.clone(),
    );
    let summary = Family::<Labels, Gauge>::default();
    registry.register("rules", "Number of rules per status", summary.clone());
    let last_run = Gauge::<i64>::default();
    registry.register(
        "last_run_timestamp_seconds",
        "When the check started (Unix time)",
        last_run.clone(),
    );
    let duration = Gauge::<i64>::default();
    registry.register(
        "last_run_duration_milliseconds",
        "How long the check took",
        duration.clone(),
    );

    for r in &report.results {
        for status in Status::ALL {
            let labels = vec![
                ("rule".to_string(), r.id.clone()),
                ("status".to_string(), status.as_str().to_string()),
            ];
            rule_status
                .get_or_create(&labels)
                .set(i64::from(r.status == status));
        }
    }
    for status in Status::ALL {
        let labels = vec![("status".to_string(), status.as_str().to_string())];
        summary
            .get_or_create(&labels)
            .set(report.summary.count(status) as i64);
    }
    last_run.set(report.started_at.unix_timestamp());
    duration.set(i64::try_from(report.duration_ms).unwrap_or(i64::MAX));

    let mut out = String::new();
    encode(&mut out, &registry)?;
    Ok(out)
}
