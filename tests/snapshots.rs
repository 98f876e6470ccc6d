//! Rendered formats as reviewed snapshots (insta): a format change shows up as a diff.

use std::path::Path;

use wa_preflight::check::build_report;
use wa_preflight::config::Waiver;
use wa_preflight::facts::load_facts_file;
use wa_preflight::report::{Format, Report, render};
use wa_preflight::rules::eval::EvalContext;
use wa_preflight::rules::{Profile, RuleSet};

/// The CentOS 7 fixture with one waiver, at a fixed time: fail, pass, waived all appear.
fn report() -> Report {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/centos7/facts.json");
    let facts = load_facts_file(&path).unwrap();
    let waivers = [Waiver {
        id: "host.disk.ssd".into(),
        reason: "SSDs ordered, ticket OPS-1234".into(),
        expires: time::macros::date!(2026 - 12 - 31),
    }];
    let ctx = EvalContext {
        profile: Profile::Production,
        waivers: &waivers,
        today: time::macros::date!(2026 - 11 - 25),
    };
    let started = time::macros::datetime!(2026-11-25 12:00:00 UTC);
    build_report(&facts, &RuleSet::embedded().unwrap(), &ctx, started, 42).unwrap()
}

fn rendered(format: Format) -> String {
    // The tool version would change every release; pin it for the snapshot.
    let mut r = report();
    r.tool.version = "0.0.0-test".into();
    render(&r, format, false).unwrap()
}

#[test]
fn table() {
    insta::assert_snapshot!(rendered(Format::Table));
}

#[test]
fn json() {
    insta::assert_snapshot!(rendered(Format::Json));
}

#[test]
fn junit() {
    insta::assert_snapshot!(rendered(Format::Junit));
}

#[test]
fn markdown() {
    insta::assert_snapshot!(rendered(Format::Markdown));
}

#[test]
fn prometheus() {
    insta::assert_snapshot!(rendered(Format::Prometheus));
}

#[test]
fn summary() {
    insta::assert_snapshot!(rendered(Format::Summary));
}
