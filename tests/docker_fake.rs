//! Engine answers no real daemon here can give, from a FAKE Docker API server
//! (tests/common/fake_docker.rs): old and excluded versions, Docker Desktop, WSL, garbage,
//! slowness and a socket that hangs up.

mod common;

use std::time::Duration;

use common::fake_docker::{FakeDocker, Mode};
use common::{assert_verdict, check_json, preflight, verdict};

fn check_against(fake: &FakeDocker, extra: &[&str]) -> serde_json::Value {
    let url = fake.url();
    let mut args = vec![
        "--docker-host",
        url.as_str(),
        "--no-statx-probe",
        "--profile",
        "development",
    ];
    args.extend_from_slice(extra);
    check_json(&args).1
}

#[test]
fn versions_against_the_requirement() {
    for (version, status, needle) in [
        ("17.12.1-ce", "fail", "predates 18.04"),
        ("18.03.1-ce", "fail", "predates 18.04"),
        (
            "19.03.7",
            "fail",
            "excluded by WhatsApp; the vendor has not published why",
        ),
        ("18.04.0-ce", "pass", "Docker 18.04.0-ce"),
        ("18.09.1", "pass", "Docker 18.09.1"),
        ("19.03.8", "pass", "Docker 19.03.8"),
    ] {
        let fake = FakeDocker::start(Mode::engine(version));
        let v = check_against(&fake, &[]);
        assert_eq!(verdict(&v, "docker.reachable").0, "pass", "{version}");
        let (got, message) = verdict(&v, "docker.version");
        assert_eq!(got, status, "{version}: {message}");
        assert!(message.contains(needle), "{version}: {message}");
        let (got, message) = verdict(&v, "docker.seccomp.statx");
        assert_eq!(
            (got.as_str(), message.as_str()),
            (
                "skip",
                "the container probe was disabled (--no-statx-probe)"
            )
        );
    }
}

#[test]
fn docker_desktop_and_wsl_engines_fail_the_platform_rule() {
    let desktop = FakeDocker::start(Mode::engine_with(
        "24.0.7",
        "Docker Desktop",
        "6.4.16-linuxkit",
    ));
    assert_verdict(
        &check_against(&desktop, &[]),
        "docker.platform",
        "fail",
        "Docker Desktop",
    );
    let wsl = FakeDocker::start(Mode::engine_with(
        "24.0.7",
        "Ubuntu 22.04.3 LTS",
        "5.15.90.1-microsoft-standard-WSL2",
    ));
    assert_verdict(&check_against(&wsl, &[]), "docker.platform", "fail", "WSL");
}

fn assert_unreachable(v: &serde_json::Value, needle: &str) {
    let (status, message) = verdict(v, "docker.reachable");
    assert_eq!(status, "fail", "{message}");
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    for id in [
        "docker.version",
        "docker.seccomp.statx",
        "wa.containers.present",
        "wa.env.db",
    ] {
        let (status, message) = verdict(v, id);
        assert_eq!(status, "skip", "{id}: {message}");
        assert!(message.starts_with("prerequisite "), "{id}: {message}");
    }
}

#[test]
fn garbage_from_the_socket_is_not_docker() {
    let fake = FakeDocker::start(Mode::Garbage);
    assert_unreachable(&check_against(&fake, &[]), "GET /version");
}

#[test]
fn a_socket_that_hangs_up_is_unreachable() {
    let fake = FakeDocker::start(Mode::Close);
    assert_unreachable(&check_against(&fake, &[]), "GET /version");
}

#[test]
fn a_silent_daemon_cannot_hang_the_run() {
    let fake = FakeDocker::start(Mode::Slow(Duration::from_secs(120)));
    // The run must end on its own, well before the fake would answer.
    let out = preflight()
        .args([
            "check",
            "--format",
            "json",
            "--no-statx-probe",
            "--docker-timeout",
            "1",
        ])
        .args(["--docker-host", &fake.url()])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_unreachable(&v, "did not answer");
}

#[test]
fn a_missing_socket_says_docker_is_not_running() {
    let v = check_json(&[
        "--docker-host",
        "unix:///nonexistent/docker.sock",
        "--no-statx-probe",
    ])
    .1;
    assert_unreachable(&v, "no Docker socket at /nonexistent/docker.sock");
}

#[test]
fn custom_profile_named_in_daemon_json() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDocker::start(Mode::engine("20.10.24"));
    let daemon_json = dir.path().join("daemon.json");
    let deny = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/seccomp/deny-statx.json"
    );
    std::fs::write(&daemon_json, format!(r#"{{"seccomp-profile": "{deny}"}}"#)).unwrap();
    let dj = daemon_json.display().to_string();
    let (status, message) = verdict(
        &check_against(&fake, &["--daemon-json", &dj]),
        "docker.seccomp.profile",
    );
    assert_eq!(status, "fail");
    assert!(
        message.contains("deny-statx.json blocks statx"),
        "{message}"
    );

    // A profile that cannot be read is an error with the reason, never a pass.
    std::fs::write(
        &daemon_json,
        r#"{"seccomp-profile": "/nonexistent/profile.json"}"#,
    )
    .unwrap();
    let v = check_against(&fake, &["--daemon-json", &dj]);
    assert_verdict(
        &v,
        "docker.seccomp.profile",
        "error",
        "cannot read seccomp profile /nonexistent/profile.json",
    );

    // A daemon.json that is not JSON: located error in the facts, the profile rule still decides.
    std::fs::write(&daemon_json, "{ \"seccomp-profile\": ").unwrap();
    let v = check_against(&fake, &["--daemon-json", &dj]);
    let (status, _) = verdict(&v, "docker.seccomp.profile");
    assert_eq!(
        status, "pass",
        "no readable custom profile: the daemon's own report stands"
    );
}
