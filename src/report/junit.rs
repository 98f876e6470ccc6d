//! JUnit XML, for CI systems that show test reports.

use quick_junit::{
    NonSuccessKind, Property, Report as JReport, TestCase, TestCaseStatus, TestSuite,
};

use super::{RenderError, Report};
use crate::rules::Status;

/// One test case per rule: pass and info → success, warn → success (a `<failure>` with
/// `strict`, as `--strict` makes it fail the run), fail → failure, error → error, skip and
/// waived → skipped. Every case carries a `status` property with the rule's status and a
/// `<system-out>` starting with it (`WARN: …`), so a warning is visible to a CI reader even
/// where it does not fail. The suite carries `timestamp` (the run's start), `time` (its
/// duration, seconds) and `hostname`, as the JUnit XSD has them.
pub fn render(report: &Report, strict: bool) -> Result<String, RenderError> {
    let mut suite = TestSuite::new(format!("wa-preflight ({})", report.profile));
    let started = chrono::DateTime::from_timestamp(
        report.started_at.unix_timestamp(),
        report.started_at.nanosecond(),
    )
    .unwrap_or_default()
    .fixed_offset();
    let took = std::time::Duration::from_millis(report.duration_ms);
    suite.set_timestamp(started).set_time(took);
    suite.extra.insert(
        "hostname".into(),
        report.host.hostname.as_deref().unwrap_or("unknown").into(),
    );
    for r in &report.results {
        let mut status = match r.status {
            Status::Pass | Status::Info => TestCaseStatus::success(),
            Status::Warn if !strict => TestCaseStatus::success(),
            Status::Warn | Status::Fail => TestCaseStatus::non_success(NonSuccessKind::Failure),
            Status::Error => TestCaseStatus::non_success(NonSuccessKind::Error),
            Status::Skip | Status::Waived => TestCaseStatus::skipped(),
        };
        if r.status != Status::Pass {
            status.set_message(format!("{}: {}", r.status.as_str(), r.message));
            if matches!(status, TestCaseStatus::NonSuccess { .. }) {
                status.set_type(r.status.as_str());
            }
        }
        let mut case = TestCase::new(r.id.clone(), status);
        case.set_classname(r.id.split('.').next().unwrap_or("wa"));
        case.add_property(Property::new("status", r.status.as_str()));
        if let Some(observed) = &r.observed {
            case.add_property(Property::new("observed", observed.as_str()));
        }
        let mut detail = format!(
            "{}: {}\n{}",
            r.status.as_str().to_uppercase(),
            r.message,
            r.title
        );
        if let Some(remedy) = r.remedy.as_ref().filter(|_| r.status != Status::Pass) {
            detail.push_str(&format!("\nremedy: {remedy}"));
        }
        case.set_system_out(detail);
        suite.add_test_case(case);
    }
    let mut j = JReport::new("wa-preflight");
    j.set_timestamp(started).set_time(took);
    j.add_test_suite(suite);
    Ok(j.to_string()?)
}
