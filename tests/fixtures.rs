//! Every fixture host's facts against the embedded rules: each verdict pinned, in each profile
//! the fixture lists. No services needed: evaluation is a pure function of the facts.

use std::collections::BTreeMap;
use std::path::Path;

use wa_preflight::check::build_report;
use wa_preflight::facts::load_facts_file;
use wa_preflight::report::Status;
use wa_preflight::rules::eval::EvalContext;
use wa_preflight::rules::{Profile, RuleSet};

fn statuses(case: &str, profile: Profile) -> BTreeMap<String, Status> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(case);
    let facts = load_facts_file(&dir.join("facts.json")).unwrap_or_else(|e| panic!("{case}: {e}"));
    let set = RuleSet::embedded().unwrap();
    let ctx = EvalContext {
        profile,
        waivers: &[],
        today: time::macros::date!(2026 - 11 - 25),
    };
    let report = build_report(&facts, &set, &ctx, time::OffsetDateTime::UNIX_EPOCH, 0).unwrap();
    report
        .results
        .into_iter()
        .map(|r| (r.id, r.status))
        .collect()
}

fn expected(case: &str) -> BTreeMap<String, BTreeMap<String, Status>> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(case)
        .join("expected.yaml");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn check_case(case: &str) {
    let want = expected(case);
    assert!(!want.is_empty(), "{case}: expected.yaml lists no profile");
    for (profile, verdicts) in want {
        let p = match profile.as_str() {
            "production" => Profile::Production,
            "development" => Profile::Development,
            other => panic!("{case}: unknown profile {other}"),
        };
        // Every rule the embedded set has must be pinned, and nothing else.
        assert_eq!(statuses(case, p), verdicts, "{case} in profile {profile}");
    }
}

#[test]
fn debian12_ci_machine() {
    check_case("debian12-ci");
}

#[test]
fn centos7() {
    check_case("centos7");
}

#[test]
fn ubuntu1804() {
    check_case("ubuntu1804");
}

#[test]
fn rhel8() {
    check_case("rhel8");
}

#[test]
fn wsl2() {
    check_case("wsl2");
}

#[test]
fn laptop_both_profiles() {
    check_case("laptop-debian10");
}

#[test]
fn musl_host_errors_instead_of_passing() {
    check_case("alpine-musl");
}

#[test]
fn every_fixture_folder_is_tested() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let tested = [
        "debian12-ci",
        "centos7",
        "ubuntu1804",
        "rhel8",
        "wsl2",
        "laptop-debian10",
        "alpine-musl",
    ];
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().join("facts.json").exists() {
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                tested.contains(&name.as_str()),
                "fixture {name} has no test"
            );
        }
    }
}
