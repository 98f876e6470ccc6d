//! Rendered formats as reviewed snapshots (insta): a format change shows up as a diff.

use std::path::Path;

use wa_preflight::check::build_report;
use wa_preflight::facts::load_facts_file;
use wa_preflight::report::table::Layout;
use wa_preflight::report::{Format, Report, render};
use wa_preflight::rules::Waiver;
use wa_preflight::rules::eval::EvalContext;
use wa_preflight::rules::{Profile, RuleSet};

/// The CentOS 7 fixture with one waiver, at a fixed time: fail, pass, waived all appear.
fn report() -> Report {
    report_of("centos7")
}

fn report_of(case: &str) -> Report {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(case)
        .join("facts.json");
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
    render(&r, format, &Layout::plain()).unwrap()
}

fn table_of(case: &str, width: usize, all: bool) -> String {
    let mut r = report_of(case);
    r.tool.version = "0.0.0-test".into();
    let layout = Layout {
        width,
        color: false,
        all,
    };
    render(&r, Format::Table, &layout).unwrap()
}

/// Every row (`--all`), off a terminal (120 columns, with the observed column).
#[test]
fn table() {
    let _cores = crate::common::shared();
    insta::assert_snapshot!(table_of("centos7", 120, true));
}

/// The default view at 80 columns: skipped rules grouped by cause, no observed column.
#[test]
fn table_default_80() {
    let _cores = crate::common::shared();
    insta::assert_snapshot!(table_of("centos7", 80, false));
}

/// This project's machine kind with no client installed and no database given, at 80
/// columns: what a new user sees first. Measured: at most about 40 lines above "What to do",
/// every line within 80 columns (but a URL longer than the line itself), no rule ID or URL
/// broken, skipped rules one line per cause.
#[test]
fn new_user_on_this_machine_kind_reads_it_in_one_screen() {
    let _cores = crate::common::shared();
    let text = table_of("debian12-ci", 80, false);
    insta::assert_snapshot!(text);
    let above = text
        .lines()
        .position(|l| l == "What to do:")
        .expect("a What to do section");
    assert!(above <= 42, "{above} lines above What to do:\n{text}");
    for line in text.lines() {
        if unicode_width::UnicodeWidthStr::width(line) > 80 {
            let long_token = line.split_whitespace().any(|t| t.len() > 60);
            assert!(long_token, "a line wider than 80 columns: {line:?}");
        }
    }
    let r = report_of("debian12-ci");
    for rule in r
        .results
        .iter()
        .filter(|r| r.status != wa_preflight::rules::Status::Skip)
    {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().any(|t| t == rule.id)),
            "{} is not shown whole",
            rule.id
        );
    }
    // Skips collapse: no skip row repeats its prerequisite's message.
    let skipped = r
        .results
        .iter()
        .filter(|r| r.status == wa_preflight::rules::Status::Skip)
        .count();
    let skip_rows = text.lines().filter(|l| l.starts_with("SKIP")).count();
    assert!(
        skip_rows < skipped / 3,
        "{skip_rows} skip rows for {skipped} skips"
    );
    assert_eq!(text.matches("no database configured").count(), 1, "{text}");
    // Every line of a remedy and its link is whole.
    for r in r.needing_action() {
        if let Some(doc) = &r.doc {
            assert!(text.contains(&format!("see {doc}")), "{doc} broken");
        }
    }
}

/// The same, with every rule (`--all`): each its own row.
#[test]
fn table_all_rows_at_80() {
    let _cores = crate::common::shared();
    let text = table_of("debian12-ci", 80, true);
    let r = report_of("debian12-ci");
    for rule in &r.results {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().nth(1) == Some(rule.id.as_str())),
            "{} has no row",
            rule.id
        );
    }
}

#[test]
fn json() {
    let _cores = crate::common::shared();
    insta::assert_snapshot!(rendered(Format::Json));
}

#[test]
fn junit() {
    let _cores = crate::common::shared();
    insta::assert_snapshot!(rendered(Format::Junit));
}

#[test]
fn markdown() {
    let _cores = crate::common::shared();
    insta::assert_snapshot!(rendered(Format::Markdown));
}

#[test]
fn prometheus() {
    let _cores = crate::common::shared();
    insta::assert_snapshot!(rendered(Format::Prometheus));
}

#[test]
fn summary() {
    let _cores = crate::common::shared();
    insta::assert_snapshot!(rendered(Format::Summary));
}
