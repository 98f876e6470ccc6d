//! JUnit XML, for CI systems that show test reports.

use quick_junit::{NonSuccessKind, Report as JReport, TestCase, TestCaseStatus, TestSuite};

use super::{RenderError, Report, Status};

/// One test case per rule: pass, info and warn → success (with the status in the message),
/// fail → failure, error → error, skip and waived → skipped.
pub fn render(report: &Report) -> Result<String, RenderError> {
    let mut suite = TestSuite::new(format!("wa-preflight ({})", report.profile));
    for r in &report.results {
        let mut status = match r.status {
            Status::Pass | Status::Info | Status::Warn => TestCaseStatus::success(),
            Status::Fail => TestCaseStatus::non_success(NonSuccessKind::Failure),
            Status::Error => TestCaseStatus::non_success(NonSuccessKind::Error),
            Status::Skip | Status::Waived => TestCaseStatus::skipped(),
        };
        if r.status != Status::Pass {
            status.set_message(format!("{}: {}", r.status.as_str(), r.message));
        }
        let mut case = TestCase::new(r.id.clone(), status);
        case.set_classname(r.id.split('.').next().unwrap_or("wa"));
        let mut detail = format!("{}\n{}", r.title, r.message);
        if let Some(remedy) = &r.remedy {
            detail.push_str(&format!("\nremedy: {remedy}"));
        }
        case.set_system_out(detail);
        suite.add_test_case(case);
    }
    let mut j = JReport::new("wa-preflight");
    j.add_test_suite(suite);
    Ok(j.to_string()?)
}
