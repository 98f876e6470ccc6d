//! Every fixture host's facts against the embedded rules: every verdict pinned, in each profile
//! the fixture is judged in, as a reviewed insta snapshot beside the fixture
//! (`fixtures/<host>/verdicts-<profile>.snap`); why a verdict is what it is stands in
//! `fixtures/<host>/README.md`. A new rule adds one line to each snapshot, accepted with
//! `cargo insta review`; a changed verdict of an old rule fails until reviewed. No services
//! needed: evaluation is a pure function of the facts.

use std::path::{Path, PathBuf};

use wa_preflight::check::build_report;
use wa_preflight::facts::load_facts_file;
use wa_preflight::rules::Status;
use wa_preflight::rules::eval::EvalContext;
use wa_preflight::rules::{Profile, RuleSet};

/// Every fixture host and the profiles its verdicts are pinned in.
const CASES: [(&str, &[Profile]); 9] = [
    ("debian12-ci", &[Profile::Production, Profile::Development]),
    ("centos7", &[Profile::Production]),
    ("ubuntu1804", &[Profile::Production]),
    ("rhel8", &[Profile::Production]),
    ("wsl2", &[Profile::Production]),
    (
        "laptop-debian10",
        &[Profile::Production, Profile::Development],
    ),
    ("alpine-musl", &[Profile::Production]),
    ("client-starting", &[Profile::Production]),
    ("client-stuck-ha", &[Profile::Production]),
];

/// The embedded rules' report on `facts`, judged on a fixed day.
fn report(facts: &wa_preflight::facts::Facts, profile: Profile) -> wa_preflight::report::Report {
    let set = RuleSet::embedded().unwrap();
    let ctx = EvalContext {
        profile,
        waivers: &[],
        today: time::macros::date!(2026 - 11 - 25),
    };
    build_report(facts, &set, &ctx, time::OffsetDateTime::UNIX_EPOCH, 0).unwrap()
}

fn fixture_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(case)
}

fn profile_name(profile: Profile) -> &'static str {
    match profile {
        Profile::Production => "production",
        Profile::Development => "development",
    }
}

/// Every rule's verdict on `case` in `profile`, one line per rule in the rule set's order:
/// `id: status  # message` (a line break in a message shown as ⏎), so a review sees why, and
/// the `id: status` part reads like the expected.yaml it replaced.
fn verdicts(case: &str, profile: Profile) -> String {
    let facts = load_facts_file(&fixture_dir(case).join("facts.json"))
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    let mut text = String::new();
    for r in report(&facts, profile).results {
        let message = r.message.replace('\n', " ⏎ ");
        text.push_str(&format!("{}: {}  # {message}\n", r.id, r.status.as_str()));
    }
    text
}

/// Asserts `case`'s verdicts in each of its profiles against its reviewed snapshots.
fn check_case(case: &str) {
    let (_, profiles) = CASES
        .iter()
        .find(|(c, _)| *c == case)
        .unwrap_or_else(|| panic!("{case} is not in CASES"));
    assert!(!profiles.is_empty(), "{case}: judged in no profile");
    for &profile in *profiles {
        let name = profile_name(profile);
        insta::with_settings!({
            snapshot_path => fixture_dir(case),
            prepend_module_to_snapshot => false,
            omit_expression => true,
            description => format!(
                "Every verdict of fixtures/{case}/facts.json in profile {name}, judged on \
                 2026-11-25; why each is what it is: fixtures/{case}/README.md"
            ),
        }, {
            insta::assert_snapshot!(format!("verdicts-{name}"), verdicts(case, profile));
        });
    }
}

#[test]
fn debian12_ci_machine() {
    let _cores = crate::common::shared();
    check_case("debian12-ci");
}

#[test]
fn centos7() {
    let _cores = crate::common::shared();
    check_case("centos7");
}

#[test]
fn ubuntu1804() {
    let _cores = crate::common::shared();
    check_case("ubuntu1804");
}

#[test]
fn rhel8() {
    let _cores = crate::common::shared();
    check_case("rhel8");
}

#[test]
fn wsl2() {
    let _cores = crate::common::shared();
    check_case("wsl2");
}

#[test]
fn laptop_both_profiles() {
    let _cores = crate::common::shared();
    check_case("laptop-debian10");
}

#[test]
fn musl_host_errors_instead_of_passing() {
    let _cores = crate::common::shared();
    check_case("alpine-musl");
}

#[test]
fn client_starting_after_restart() {
    let _cores = crate::common::shared();
    check_case("client-starting");
}

#[test]
fn client_stuck_in_ha() {
    let _cores = crate::common::shared();
    check_case("client-stuck-ha");
}

/// `wa.health.gateway` for health documents beyond the fixtures: (health facts, verdict).
#[test]
fn gateway_verdicts() {
    let _cores = crate::common::shared();
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

/// Every fixture folder with facts is judged, and its folder holds exactly the snapshots of
/// the profiles it is judged in (a stale one would be reviewed by no test).
#[test]
fn every_fixture_folder_is_tested() {
    let _cores = crate::common::shared();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().join("facts.json").exists() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let profiles = CASES
                .iter()
                .find(|(c, _)| *c == name)
                .map(|(_, p)| *p)
                .unwrap_or_else(|| panic!("fixture {name} has no test"));
            let mut want: Vec<String> = profiles
                .iter()
                .map(|p| format!("verdicts-{}.snap", profile_name(*p)))
                .collect();
            want.sort();
            let mut have: Vec<String> = std::fs::read_dir(entry.path())
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|f| f.ends_with(".snap"))
                .collect();
            have.sort();
            assert_eq!(have, want, "snapshots in fixtures/{name}");
        }
    }
}

/// Judges a fixture's facts changed by `edit` and returns one rule's status and message.
fn judged(
    case: &str,
    profile: Profile,
    rule: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> (Status, String) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(case);
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("facts.json")).unwrap()).unwrap();
    edit(&mut v);
    let facts: wa_preflight::facts::Facts = serde_json::from_value(v).unwrap();
    let r = report(&facts, profile)
        .results
        .into_iter()
        .find(|r| r.id == rule)
        .unwrap();
    (r.status, r.message)
}

fn set(v: &mut serde_json::Value, pointer: &str, value: serde_json::Value) {
    *v.pointer_mut(pointer)
        .unwrap_or_else(|| panic!("no {pointer} in the fixture")) = value;
}

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// Memory is judged in the documented unit (GB) as the server is sold or configured, and the
/// message never contradicts the verdict.
#[test]
fn memory_as_the_owner_describes_it() {
    let _cores = crate::common::shared();
    use serde_json::json;
    let cases: &[(&str, Option<u64>, u64, Status)] = &[
        // (what, installed, MemTotal, verdict)
        (
            "16 GiB server",
            Some(16 * GIB),
            16_570_204_160,
            Status::Pass,
        ),
        // The report: a VM given 16000 MiB, MemTotal 16.4 GB, failed as "less than 16 GB".
        (
            "VM given 16000 MiB",
            Some(16_000 * MIB),
            16_400_000_000,
            Status::Pass,
        ),
        (
            "VM given 16 GB (decimal)",
            Some(16_000_000_000),
            15_600_000_000,
            Status::Pass,
        ),
        (
            "16 GB with a memory block offline",
            Some(15_800_000_000),
            15_300_000_000,
            Status::Pass,
        ),
        (
            "no memory blocks, 16 GiB MemTotal",
            None,
            16_570_204_160,
            Status::Pass,
        ),
        (
            "no memory blocks, 16 GB less crash kernel",
            None,
            15_200_000_000,
            Status::Pass,
        ),
        ("12 GB server", Some(12 * GIB), 12_400_000_000, Status::Fail),
        (
            "no memory blocks, 12 GB",
            None,
            12_400_000_000,
            Status::Fail,
        ),
        (
            "15 GB server",
            Some(15_000_000_000),
            14_500_000_000,
            Status::Fail,
        ),
        (
            "no memory blocks, 14 GB",
            None,
            14_000_000_000,
            Status::Fail,
        ),
    ];
    for (what, installed, total, want) in cases {
        let (status, message) = judged("ubuntu1804", Profile::Production, "host.memory", |v| {
            set(v, "/host/memory/installed_bytes", json!(installed));
            set(v, "/host/memory/total_bytes", json!(total));
        });
        assert_eq!(status, *want, "{what}: {message}");
        assert!(!message.contains("GiB"), "{what}: one unit: {message}");
        assert_eq!(
            message.contains("less than"),
            *want == Status::Fail,
            "{what}: message contradicts the verdict: {message}"
        );
    }
}

/// Storage: the drive the client's data is on, as its owner counts it.
#[test]
fn storage_judges_the_drive_holding_the_data() {
    let _cores = crate::common::shared();
    use serde_json::json;
    let fs = |mount: &str, fs_size: u64, device: serde_json::Value, write_us: f64| {
        json!({
            "paths": [{"path": "/var/lib/docker", "role": "docker", "exists": true, "resolved": "/var/lib/docker"}],
            "holds": ["Docker's data root /var/lib/docker"],
            "mount_point": mount, "fs_type": "ext4", "source": "/dev/sda2",
            "size_bytes": fs_size, "free_bytes": fs_size / 2, "device": device,
            "latency": {"sync_write": {"samples": 12, "p50_us": write_us, "max_us": write_us * 2.0, "direct": true, "dir": mount},
                        "random_read": {"unavailable": "not measured in this run"}}
        })
    };
    let dev = |part: u64, disk: u64, rotational: bool| {
        json!({"name": "sda2", "devno": "8:2", "size_bytes": part,
               "drive_bytes": part.max(disk),
               "disks": [{"name": "sda", "size_bytes": disk, "rotational": rotational, "model": "X"}],
               "rotational": rotational})
    };
    let size_cases: Vec<(&str, serde_json::Value, Status)> = vec![
        // The report: every real 250 GB SSD failed, its filesystem showing ~246 GB.
        (
            "250 GB SSD, ext4 shows 246 GB",
            fs(
                "/",
                246_000_000_000,
                dev(249_000_000_000, 250_059_350_016, false),
                80.0,
            ),
            Status::Pass,
        ),
        (
            "240 GB SSD",
            fs(
                "/",
                236_000_000_000,
                dev(239_000_000_000, 240_057_409_536, false),
                80.0,
            ),
            Status::Fail,
        ),
        (
            "small LV on a 500 GB drive",
            fs(
                "/",
                50_000_000_000,
                dev(53_000_000_000, 500_107_862_016, false),
                80.0,
            ),
            Status::Pass,
        ),
        (
            "LVM spanning two 128 GB SSDs",
            fs(
                "/",
                252_000_000_000,
                json!({"name": "dm-0", "devno": "253:0", "size_bytes": 256_000_000_000u64, "drive_bytes": 256_000_000_000u64,
            "disks": [{"name": "sda", "size_bytes": 128_000_000_000u64, "rotational": false, "model": null}, {"name": "sdb", "size_bytes": 128_000_000_000u64, "rotational": false, "model": null}], "rotational": false}),
                80.0,
            ),
            Status::Pass,
        ),
        (
            "NFS without a drive, 300 GB",
            fs(
                "/data",
                300_000_000_000,
                json!({"unavailable": "no block device behind nfs4"}),
                900.0,
            ),
            Status::Pass,
        ),
        (
            "NFS without a drive, 200 GB",
            fs(
                "/data",
                200_000_000_000,
                json!({"unavailable": "no block device behind nfs4"}),
                900.0,
            ),
            Status::Fail,
        ),
    ];
    for (what, filesystem, want) in size_cases {
        let (status, message) = judged("ubuntu1804", Profile::Production, "host.disk.size", |v| {
            set(v, "/host/storage", json!([filesystem]));
        });
        assert_eq!(status, want, "{what}: {message}");
        assert_eq!(
            message.contains("less than"),
            want == Status::Fail,
            "{what}: {message}"
        );
    }
    // A small root filesystem holding none of the client's data is not judged at all: only
    // the data root's filesystem is in the document, and it passes.
    let (status, message) = judged("ubuntu1804", Profile::Production, "host.disk.size", |v| {
        set(
            v,
            "/host/storage",
            json!([fs(
                "/var/lib/docker",
                480_000_000_000,
                dev(480_000_000_000, 480_103_981_056, false),
                80.0
            )]),
        );
        v["host"]["storage_missing"] = json!([{"path": "/usr/local/wamedia", "role": "media", "exists": false, "resolved": ""}]);
    });
    assert_eq!(status, Status::Pass, "{message}");
    // Nothing of the client's data exists yet: not a pass.
    let (status, message) = judged("ubuntu1804", Profile::Production, "host.disk.size", |v| {
        set(
            v,
            "/host/storage",
            json!({"unavailable": "no path of the client's data exists yet (Docker's data root /var/lib/docker and the media volume /usr/local/wamedia do not exist): give --path for the folder that will hold them"}),
        );
    });
    assert_eq!(status, Status::Warn, "{message}");
    assert!(message.contains("/var/lib/docker"), "{message}");

    // HDD: a disk flagged rotational whose flushed writes take milliseconds fails.
    let ssd_cases: Vec<(&str, serde_json::Value, Status)> = vec![
        (
            "HDD, 8 ms flushes",
            fs(
                "/",
                900_000_000_000,
                dev(1_000_000_000_000, 1_000_204_886_016, true),
                8_000.0,
            ),
            Status::Fail,
        ),
        (
            "HDD, 6.5 ms flushes",
            fs(
                "/",
                900_000_000_000,
                dev(1_000_000_000_000, 1_000_204_886_016, true),
                6_500.0,
            ),
            Status::Fail,
        ),
        (
            "VM disk flagged rotational, 0.2 ms",
            fs(
                "/",
                900_000_000_000,
                dev(1_000_000_000_000, 1_000_204_886_016, true),
                200.0,
            ),
            Status::Pass,
        ),
        (
            "slow SSD, 5 ms flushes",
            fs(
                "/",
                900_000_000_000,
                dev(1_000_000_000_000, 1_000_204_886_016, false),
                5_000.0,
            ),
            Status::Warn,
        ),
    ];
    for (what, filesystem, want) in ssd_cases {
        let (status, message) = judged("ubuntu1804", Profile::Production, "host.disk.ssd", |v| {
            set(v, "/host/storage", json!([filesystem]));
        });
        assert_eq!(status, want, "{what}: {message}");
    }
}

/// libseccomp newer than 2.3.3 is `info`; an unknown filtering version is never a pass.
#[test]
fn libseccomp_versions() {
    let _cores = crate::common::shared();
    use serde_json::json;
    for (version, want) in [
        (json!("2.3.3"), Status::Pass),
        (json!("2.5.4"), Status::Info),
        (json!("2.4.1"), Status::Info),
        (json!("2.3.1"), Status::Fail),
        (json!(null), Status::Skip),
    ] {
        let (status, message) = judged("ubuntu1804", Profile::Production, "host.libseccomp", |v| {
            set(v, "/host/libseccomp/version", version.clone());
            v["host"]["libseccomp"]["note"] = json!(
                "/usr/bin/docker-runc is a static binary that carries its own libseccomp and does not report its version; the host's library (2.3.1) does not filter containers"
            );
        });
        assert_eq!(status, want, "{version}: {message}");
        if version.is_null() {
            assert!(
                message.contains("docker.seccomp.statx") && message.contains("static"),
                "{message}"
            );
        }
    }
}

/// Which engine answered: Podman and desktop engines fail, naming what was found.
#[test]
fn engine_identity() {
    let _cores = crate::common::shared();
    use serde_json::json;
    let (status, message) = judged("ubuntu1804", Profile::Production, "docker.platform", |v| {
        let e = &mut v["docker"]["engine"];
        e["version"] = json!("4.9.3");
        e["version_numeric"] = json!("4.9.3");
        e["product"] = json!("Podman");
        e["product_evidence"] = json!("/version component Podman Engine 4.9.3");
    });
    assert_eq!(status, Status::Fail, "{message}");
    assert!(message.contains("Podman 4.9.3"), "{message}");
    let (status, message) = judged("ubuntu1804", Profile::Production, "docker.version", |v| {
        let e = &mut v["docker"]["engine"];
        e["version"] = json!("4.9.3");
        e["product"] = json!("Podman");
    });
    assert_eq!(
        status,
        Status::Skip,
        "not 'Docker 4.9.3 predates 18.04': {message}"
    );
    assert!(!message.contains("predates"), "{message}");
    for (os, kernel, evidence) in [
        (
            "Docker for Mac",
            "4.9.93-linuxkit-aufs",
            "operating system Docker for Mac",
        ),
        (
            "Alpine Linux v3.8",
            "4.9.125-linuxkit",
            "linuxkit kernel 4.9.125-linuxkit",
        ),
    ] {
        let (status, message) = judged("ubuntu1804", Profile::Production, "docker.platform", |v| {
            let e = &mut v["docker"]["engine"];
            e["operating_system"] = json!(os);
            e["kernel"] = json!(kernel);
            e["docker_desktop"] = json!(true);
            e["product"] = json!("Docker Desktop");
            e["product_evidence"] = json!(evidence);
        });
        assert_eq!(status, Status::Fail, "{os}: {message}");
        assert!(message.contains(evidence), "{message}");
    }
}

/// The seccomp profile Docker really applies: a daemon.json profile the running daemon does
/// not use yet, and a container's own profile.
#[test]
fn seccomp_profile_as_docker_applies_it() {
    let _cores = crate::common::shared();
    use serde_json::json;
    let verdict = |allowed: bool, pending: bool| {
        json!({"path": "/etc/docker/seccomp.json", "statx_allowed": allowed,
               "action": if allowed {"SCMP_ACT_ALLOW"} else {"SCMP_ACT_ERRNO"},
               "errno": if allowed {json!(null)} else {json!(1)},
               "decided_by": "syscalls entry 3", "pending_restart": pending})
    };
    for (allowed, pending, want) in [
        (false, true, Status::Warn),
        (true, true, Status::Warn),
        (false, false, Status::Fail),
        (true, false, Status::Pass),
    ] {
        let (status, message) = judged(
            "ubuntu1804",
            Profile::Production,
            "docker.seccomp.profile",
            |v| {
                v["docker"]["seccomp_profile"] = verdict(allowed, pending);
            },
        );
        assert_eq!(
            status, want,
            "allowed {allowed}, pending {pending}: {message}"
        );
        if pending {
            assert!(
                message.contains("takes effect when dockerd restarts"),
                "{message}"
            );
        }
    }
    // A coreapp with its own profile that blocks statx fails although the daemon's allows it.
    let (status, message) = judged(
        "ubuntu1804",
        Profile::Production,
        "wa.seccomp.profile",
        |v| {
            v["docker"]["wa"]["containers"][0]["seccomp_profile"] = json!({
            "path": "container wa-coreapp (its own profile)", "statx_allowed": false,
            "action": "SCMP_ACT_ERRNO", "errno": 1, "decided_by": "defaultAction (no entry for statx applies)"});
        },
    );
    assert_eq!(status, Status::Fail, "{message}");
    let (status, message) = judged(
        "ubuntu1804",
        Profile::Production,
        "wa.seccomp.profile",
        |v| {
            v["docker"]["wa"]["containers"][0]["seccomp_profile"] =
                json!({"unavailable": "container wa-coreapp (its own profile): not valid JSON"});
        },
    );
    assert_eq!(status, Status::Fail, "{message}");
    let (status, _) = judged(
        "ubuntu1804",
        Profile::Production,
        "wa.seccomp.profile",
        |_| {},
    );
    assert_eq!(status, Status::Pass, "no own profile: the daemon's applies");
}

/// `info` is shown and counted, never changes the exit code, also under --strict.
#[test]
fn info_never_changes_the_exit_code() {
    let _cores = crate::common::shared();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/laptop-debian10");
    let facts = load_facts_file(&dir.join("facts.json")).unwrap();
    let report = report(&facts, Profile::Development);
    assert!(report.summary.info >= 1, "{:?}", report.summary);
    assert_eq!(
        (
            report.summary.warn,
            report.summary.fail,
            report.summary.error
        ),
        (0, 0, 0)
    );
    assert_eq!(report.exit_code(false), 0);
    assert_eq!(report.exit_code(true), 0);
    assert_eq!(report.needing_action().count(), 0);
}

/// `wa.containers.oom` on centos7 (a coreapp exited 137 beside a running webapp): Docker's
/// `OOMKilled` true fails naming the container and its state, false passes, and a value Docker
/// did not give (older documents, every fixture; an explicit null) skips, never passes — also
/// when the other container says false. Each container is judged; the worst is reported.
#[test]
fn oom_killed_fails_naming_the_container() {
    let _cores = crate::common::shared();
    use serde_json::json;
    let oom = |coreapp: serde_json::Value, webapp: serde_json::Value| {
        judged("centos7", Profile::Production, "wa.containers.oom", |v| {
            let list = &mut v["docker"]["wa"]["containers"];
            for (i, value) in [coreapp, webapp].into_iter().enumerate() {
                if value != json!("absent") {
                    list[i]["oom_killed"] = value;
                }
            }
        })
    };
    let (status, message) = oom(json!(true), json!(false));
    assert_eq!(status, Status::Fail, "{message}");
    assert_eq!(
        message,
        "wa_coreapp_1 was killed by the kernel's OOM killer (State.OOMKilled true, now exited): \
         its memory limit or the host's memory ran out; wa_webapp_1: not killed for memory"
    );
    let (status, message) = oom(json!(false), json!(false));
    assert_eq!(status, Status::Pass, "{message}");
    assert!(
        message.contains("wa_coreapp_1: not killed for memory"),
        "{message}"
    );
    for (coreapp, webapp) in [
        (json!("absent"), json!("absent")),
        (json!(null), json!(null)),
        (json!("absent"), json!(false)),
        (json!(false), json!(null)),
    ] {
        let (status, message) = oom(coreapp.clone(), webapp.clone());
        assert_eq!(status, Status::Skip, "{coreapp}, {webapp}: {message}");
        assert!(message.contains("OOMKilled unknown"), "{message}");
    }
    // Unknown for one container does not hide another's failure.
    let (status, _) = oom(json!(true), json!("absent"));
    assert_eq!(status, Status::Fail);
    // Killed once and running again (Docker keeps OOMKilled through restarts): a warning,
    // not a failure for ever; the coreapp here is exited, the webapp runs.
    let (status, message) = oom(json!(false), json!(true));
    assert_eq!(status, Status::Warn, "{message}");
    assert!(
        message.contains(
            "wa_webapp_1 runs again, but the kernel's OOM killer killed it since the container \
             was created (State.OOMKilled stays true until it is recreated)"
        ),
        "{message}"
    );
    // Down because of it, next to one that runs again: the failure is the verdict.
    let (status, _) = oom(json!(true), json!(true));
    assert_eq!(status, Status::Fail);
}
