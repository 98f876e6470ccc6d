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
fn client_starting_after_restart() {
    check_case("client-starting");
}

#[test]
fn client_stuck_in_ha() {
    check_case("client-stuck-ha");
}

/// `wa.health.gateway` for health documents beyond the fixtures: (health facts, verdict).
#[test]
fn gateway_verdicts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/ubuntu1804");
    let base: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("facts.json")).unwrap()).unwrap();
    let node = |name: Option<&str>, status: &str, role: Option<&str>| serde_json::json!({"name": name, "gateway_status": status, "role": role});
    let health = |mode: &str,
                  nodes: Vec<serde_json::Value>,
                  ok: u64,
                  expected: u64,
                  unregistered: &[&str],
                  uninitialized: &[&str],
                  not_ready: bool,
                  uptime: Option<i64>| {
        serde_json::json!({
            "mode": mode, "nodes": nodes, "summary": "s", "ok_count": ok, "expected_ok": expected,
            "missing_ok": expected.saturating_sub(ok), "unregistered": unregistered,
            "uninitialized": uninitialized, "not_ready": not_ready, "api_error": null,
            "starting": not_ready || !uninitialized.is_empty(), "coreapp_uptime_s": uptime
        })
    };
    let cases = [
        (
            "connecting counts as up",
            health(
                "single",
                vec![node(None, "connecting", None)],
                1,
                1,
                &[],
                &[],
                false,
                Some(60),
            ),
            Status::Pass,
        ),
        (
            "single disconnected",
            health(
                "single",
                vec![node(None, "disconnected", None)],
                0,
                1,
                &[],
                &[],
                false,
                Some(60),
            ),
            Status::Fail,
        ),
        (
            "unregistered",
            health(
                "single",
                vec![node(None, "unregistered", None)],
                0,
                1,
                &["coreapp"],
                &[],
                false,
                Some(60),
            ),
            Status::Fail,
        ),
        (
            "uninitialized 5 min after start",
            health(
                "single",
                vec![node(None, "uninitialized", None)],
                0,
                1,
                &[],
                &["coreapp"],
                false,
                Some(300),
            ),
            Status::Warn,
        ),
        (
            "uninitialized 11 min after start",
            health(
                "single",
                vec![node(None, "uninitialized", None)],
                0,
                1,
                &[],
                &["coreapp"],
                false,
                Some(660),
            ),
            Status::Fail,
        ),
        (
            "uninitialized, start unknown (remote coreapp)",
            health(
                "single",
                vec![node(None, "uninitialized", None)],
                0,
                1,
                &[],
                &["coreapp"],
                false,
                None,
            ),
            Status::Warn,
        ),
        (
            "1011 at 9 min",
            health("single", vec![], 0, 1, &[], &[], true, Some(540)),
            Status::Warn,
        ),
        (
            "1011 at 30 min",
            health("single", vec![], 0, 1, &[], &[], true, Some(1800)),
            Status::Fail,
        ),
        (
            "HA: masters disconnected, the one shard up",
            health(
                "ha",
                vec![
                    node(
                        Some("a:primary_master"),
                        "disconnected",
                        Some("primary_master"),
                    ),
                    node(Some("b:coreapp"), "connected", Some("coreapp")),
                    node(Some("c:coreapp"), "disconnected", Some("coreapp")),
                ],
                1,
                1,
                &[],
                &[],
                false,
                Some(6000),
            ),
            Status::Pass,
        ),
        (
            "HA: 1 of 2 shards up",
            health(
                "ha",
                vec![
                    node(Some("b:coreapp"), "connected", Some("coreapp")),
                    node(Some("c:coreapp"), "disconnected", Some("coreapp")),
                ],
                1,
                2,
                &[],
                &[],
                false,
                Some(6000),
            ),
            Status::Fail,
        ),
    ];
    let set = RuleSet::embedded().unwrap();
    let ctx = EvalContext {
        profile: Profile::Production,
        waivers: &[],
        today: time::macros::date!(2026 - 11 - 25),
    };
    for (name, h, want) in cases {
        let mut doc = base.clone();
        doc["client"]["health"] = h;
        let facts: wa_preflight::facts::Facts = serde_json::from_value(doc).unwrap();
        let report = build_report(&facts, &set, &ctx, time::OffsetDateTime::UNIX_EPOCH, 0).unwrap();
        let r = report
            .results
            .iter()
            .find(|r| r.id == "wa.health.gateway")
            .unwrap();
        assert_eq!(r.status, want, "{name}: {:?}", r.message);
    }
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
        "client-starting",
        "client-stuck-ha",
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
