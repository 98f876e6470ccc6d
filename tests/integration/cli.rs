//! The `preflight` binary: exit codes, formats, bad input. Offline cases use fixture facts;
//! the live cases gather from this machine for real.

use crate::common;

use std::path::PathBuf;

use common::{fixture, preflight};
use predicates::prelude::*;

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn exit_codes_follow_the_worst_status() {
    let _cores = crate::common::shared();
    let laptop = fixture("laptop-debian10");
    preflight()
        .args(["check", "--facts"])
        .arg(&laptop)
        .assert()
        .code(3);
    preflight()
        .args(["check", "--profile", "development", "--facts"])
        .arg(&laptop)
        .assert()
        .code(0);
    let ci = fixture("debian12-ci");
    // Development on this machine kind: no internet, so the network rules fail.
    preflight()
        .args(["check", "--profile", "development", "--facts"])
        .arg(&ci)
        .assert()
        .code(3);
    // With those waived (and the unsynchronised clock), only warnings remain.
    let dir = tempfile::tempdir().unwrap();
    let offline = write(
        &dir,
        "offline.yaml",
        "waivers:\n  - {id: net.dns, reason: CI has no internet, expires: 2999-12-31}\n  - {id: net.whatsapp.443, reason: CI has no internet, expires: 2999-12-31}\n",
    );
    preflight()
        .args(["check", "--profile", "development", "--facts"])
        .arg(&ci)
        .arg("--config")
        .arg(&offline)
        .assert()
        .code(4);
    preflight()
        .args(["check", "--strict", "--profile", "development", "--facts"])
        .arg(&ci)
        .arg("--config")
        .arg(&offline)
        .assert()
        .code(3);
}

#[test]
fn json_report_has_the_documented_shape() {
    let _cores = crate::common::shared();
    let out = preflight()
        .args(["check", "--format", "json", "--facts"])
        .arg(fixture("centos7"))
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["schema_version"], 2, "2: the info status");
    assert_eq!(v["tool"]["name"], "wa-preflight");
    assert_eq!(v["profile"], "production");
    for key in ["host", "started_at", "duration_ms", "summary", "results"] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    for key in ["pass", "info", "warn", "fail", "skip", "error", "waived"] {
        assert!(v["summary"][key].is_u64(), "summary.{key}");
    }
    let first = &v["results"][0];
    for key in [
        "id", "title", "status", "observed", "expected", "message", "remedy", "doc",
    ] {
        assert!(first.get(key).is_some(), "result misses {key}");
    }
    // kernel, glibc, libseccomp, ssd; Docker 19.03.7, statx, a stopped coreapp, expiry;
    // MySQL 5.6 and a password with forbidden characters.
    assert_eq!(v["summary"]["fail"], 10);
}

#[test]
fn every_format_renders() {
    let _cores = crate::common::shared();
    let facts = fixture("rhel8");
    for (format, needle) in [
        ("table", "host.disk.ssd"),
        ("json", "\"host.disk.ssd\""),
        ("junit", "<testcase name=\"host.disk.ssd\""),
        ("markdown", "| FAIL | `host.disk.ssd` |"),
        (
            "prometheus",
            "wa_preflight_rule_status{rule=\"host.disk.ssd\",status=\"fail\"} 1",
        ),
    ] {
        preflight()
            .args(["check", "--format", format, "--facts"])
            .arg(&facts)
            .assert()
            .code(3)
            .stdout(predicate::str::contains(needle));
    }
}

#[test]
fn output_file_is_written_atomically() {
    let _cores = crate::common::shared();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("wa.prom");
    preflight()
        .args(["check", "--format", "prometheus", "--facts"])
        .arg(fixture("ubuntu1804"))
        .arg("-o")
        .arg(&out)
        .assert()
        .code(3)
        .stdout("");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("wa_preflight_rule_status{rule=\"host.glibc\",status=\"fail\"} 1"));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temp file left"
    );
    // An unwritable destination is an internal error, not a verdict.
    preflight()
        .args(["check", "--facts"])
        .arg(fixture("ubuntu1804"))
        .args(["-o", "/nonexistent/dir/out.txt"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "cannot write /nonexistent/dir/out.txt",
        ));
}

#[test]
fn bad_rules_file_is_located_and_exits_2() {
    let _cores = crate::common::shared();
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        &dir,
        "bad.yaml",
        "rules:\n  - id: site.x\n    title: t\n    fact: host.cpu\n    outcomes:\n      - status: fail\n        when: {path: logical, number: '< four'}\n        message: m\n",
    );
    preflight()
        .args(["check", "--facts"])
        .arg(fixture("centos7"))
        .arg("--rules")
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("{}:7:", bad.display())))
        .stderr(predicate::str::contains("< four"));
    let broken = write(&dir, "broken.yaml", "rules: [\n");
    preflight()
        .args(["rules", "--rules"])
        .arg(&broken)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("{}:1:", broken.display())));
    preflight()
        .args(["check", "--rules", "/nonexistent/rules.yaml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot read rules file /nonexistent/rules.yaml",
        ));
}

#[test]
fn rules_file_overrides_by_id() {
    let _cores = crate::common::shared();
    let dir = tempfile::tempdir().unwrap();
    // A site that accepts 2 cores: its own host.cpu replaces the embedded one.
    let site = write(
        &dir,
        "site.yaml",
        "rules:\n  - id: host.cpu\n    title: CPU cores (site policy)\n    fact: host.cpu\n    outcomes:\n      - status: fail\n        when: {path: effective, number: '< 2'}\n        message: too few\n      - status: pass\n        message: 'site accepts {{effective}}'\n",
    );
    preflight()
        .args(["check", "--format", "json", "--facts"])
        .arg(fixture("laptop-debian10"))
        .arg("--rules")
        .arg(&site)
        .assert()
        .code(3)
        .stdout(predicate::str::contains("site accepts 2"));
}

#[test]
fn config_waivers_and_errors() {
    let _cores = crate::common::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        &dir,
        "config.yaml",
        "waivers:\n  - id: host.libseccomp\n    reason: vendor confirmed 2.5 works\n    expires: 2999-12-31\n  - id: wa.containers.present\n    reason: client not installed yet\n    expires: 2999-12-31\n  - {id: host.clock.sync, reason: CI VM without NTP, expires: 2999-12-31}\n  - {id: net.dns, reason: CI has no internet, expires: 2999-12-31}\n  - {id: net.whatsapp.443, reason: CI has no internet, expires: 2999-12-31}\n  - {id: net.whatsapp.5222, reason: CI has no internet, expires: 2999-12-31}\n",
    );
    // Development on the CI fixture warned on no containers and the clock, and failed the
    // network rules (no internet): all waived, the run passes. libseccomp 2.5 is `info` now,
    // which needs no waiver (one given is not applied).
    preflight()
        .args([
            "check",
            "--profile",
            "development",
            "--format",
            "json",
            "--facts",
        ])
        .arg(fixture("debian12-ci"))
        .arg("--config")
        .arg(&config)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("\"status\": \"waived\""))
        .stdout(predicate::str::contains("client not installed yet"))
        .stdout(predicate::str::contains("\"status\": \"info\""))
        .stdout(predicate::str::contains("vendor confirmed 2.5 works").not());
    let expired = write(
        &dir,
        "expired.yaml",
        "waivers:\n  - id: host.libseccomp\n    reason: old\n    expires: 2001-01-01\n  - {id: net.dns, reason: CI has no internet, expires: 2999-12-31}\n  - {id: net.whatsapp.443, reason: CI has no internet, expires: 2999-12-31}\n",
    );
    preflight()
        .args(["check", "--profile", "development", "--facts"])
        .arg(fixture("debian12-ci"))
        .arg("--config")
        .arg(&expired)
        .assert()
        .code(4);
    let bad = write(
        &dir,
        "bad.yaml",
        "waivers:\n  - id: host.nope\n    reason: r\n    expires: 2999-01-01\n",
    );
    preflight()
        .args(["check", "--facts"])
        .arg(fixture("debian12-ci"))
        .arg("--config")
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("{}:2:", bad.display())))
        .stderr(predicate::str::contains("unknown rule \"host.nope\""));
    preflight()
        .args(["check", "--config", "/nonexistent/config.yaml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot read config /nonexistent/config.yaml",
        ));
}

#[test]
fn bad_facts_files_are_located() {
    let _cores = crate::common::shared();
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("centos7")).unwrap();
    let wrong = write(
        &dir,
        "wrong.json",
        &text.replace("\"logical\": 8", "\"logical\": \"eight\""),
    );
    preflight()
        .args(["check", "--facts"])
        .arg(&wrong)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("host.cpu"))
        .stderr(predicate::str::contains("eight"));
    let newer = write(
        &dir,
        "newer.json",
        &text.replace("\"schema_version\": 1", "\"schema_version\": 9"),
    );
    preflight()
        .args(["check", "--facts"])
        .arg(&newer)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "schema_version 9 is not supported",
        ));
    let garbage = write(&dir, "garbage.json", "\u{0}\u{1}not json");
    preflight()
        .args(["check", "--facts"])
        .arg(&garbage)
        .assert()
        .code(2);
}

#[test]
fn usage_errors_exit_2() {
    let _cores = crate::common::shared();
    preflight()
        .args(["check", "--format", "xml"])
        .assert()
        .code(2);
    preflight()
        .args(["check", "--profile", "staging"])
        .assert()
        .code(2);
    preflight().arg("frobnicate").assert().code(2);
    preflight()
        .args(["explain", "host.kernal"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean"));
}

#[test]
fn rules_and_explain() {
    let _cores = crate::common::shared();
    preflight()
        .arg("rules")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("host.disk.ssd"));
    let out = preflight()
        .args(["rules", "--format", "json"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out).unwrap();
    let embedded = wa_preflight::rules::RuleSet::embedded().unwrap().len();
    assert_eq!(list.len(), embedded);
    assert!(embedded >= 25);
    preflight()
        .args(["explain", "host.libseccomp"])
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("only 2.3.3 is documented")
                .or(predicate::str::contains("Only 2.3.3 is documented")),
        )
        .stdout(predicate::str::contains("source: https://"));
}

/// Gathers from this machine for real: the done-when of the foundation issue.
#[test]
fn live_check_on_this_machine() {
    let _s = common::quiet(); // the shared dockerd, and the disk probe measures flushed writes
    let cpus = std::thread::available_parallelism().unwrap().get();
    let out = preflight()
        .args(["check", "--format", "json"])
        .assert()
        .code(if cpus < 4 { 3 } else { 4 })
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let status = |id: &str| {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .map(|r| r["status"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("{id} missing"))
    };
    assert_eq!(status("host.cpu"), if cpus >= 4 { "pass" } else { "fail" });
    for id in [
        "host.platform",
        "host.kernel",
        "host.glibc",
        "host.memory",
        "host.disk.size",
    ] {
        assert_eq!(status(id), "pass", "{id}: {v}");
    }
    // The virtio disk here claims to rotate; the measurement must carry the verdict.
    assert_eq!(status("host.disk.ssd"), "pass", "{v}");

    let out = preflight()
        .args(["check", "--profile", "development", "--format", "json"])
        .assert()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    for r in v["results"].as_array().unwrap() {
        if ["host.cpu", "host.memory", "host.disk.size", "host.disk.ssd"]
            .contains(&r["id"].as_str().unwrap())
        {
            assert_eq!(r["status"], "skip");
            assert_eq!(r["message"], "not in profile development");
        }
    }
}

#[test]
fn live_facts_round_trip_through_check() {
    let _s = common::serial(); // the shared dockerd: its containers and probes
    let dir = tempfile::tempdir().unwrap();
    let facts = dir.path().join("facts.json");
    preflight()
        .args(["facts", "-o"])
        .arg(&facts)
        .arg("--path")
        .arg(dir.path())
        .assert()
        .code(0);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&facts).unwrap()).unwrap();
    let paths = v["host"]["storage"].to_string();
    assert!(
        paths.contains(&dir.path().display().to_string()),
        "--path was judged"
    );
    preflight()
        .args(["check", "--facts"])
        .arg(&facts)
        .assert()
        .code(predicate::in_iter([0, 3, 4]));
    preflight()
        .args(["facts", "--format", "yaml"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("schema_version: 1"));
}

/// The config shipped in the packages: as installed (all commented) it changes nothing, and
/// every example line, uncommented, is valid.
#[test]
fn shipped_config_is_valid_commented_and_uncommented() {
    let _cores = crate::common::shared();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/config.yaml");
    let text = std::fs::read_to_string(&shipped).unwrap();
    let as_is = preflight()
        .args(["check", "--format", "json", "--facts"])
        .arg(fixture("ubuntu1804"))
        .arg("--config")
        .arg(&shipped)
        .output()
        .unwrap();
    let without = preflight()
        .args(["check", "--format", "json", "--facts"])
        .arg(fixture("ubuntu1804"))
        .output()
        .unwrap();
    assert_eq!(
        as_is.status.code(),
        without.status.code(),
        "{}",
        String::from_utf8_lossy(&as_is.stderr)
    );
    let summary = |o: &std::process::Output| {
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["summary"].clone()
    };
    assert_eq!(summary(&as_is), summary(&without));
    let uncommented: String = text
        .lines()
        .filter(|l| !l.starts_with("##"))
        .map(|l| {
            l.strip_prefix("# ")
                .or_else(|| l.strip_prefix('#'))
                .unwrap_or(l)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "config.yaml", &uncommented);
    let out = preflight()
        .args(["check", "--format", "json", "--facts"])
        .arg(fixture("ubuntu1804"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    // Exit 3 or 4 is a verdict (the example waives host.cpu, names files that do not exist
    // here); 2 would be a config error.
    assert_ne!(
        out.status.code(),
        Some(2),
        "{}\n{uncommented}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"waived\""));
}
