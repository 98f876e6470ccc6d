//! Engine answers no real daemon here can give, from a FAKE Docker API server
//! (tests/integration/common/fake_docker.rs): old and excluded versions, Docker Desktop, WSL, garbage,
//! slowness and a socket that hangs up.

use crate::common;

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
    let _cores = crate::common::shared();
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
    let _cores = crate::common::shared();
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

/// Podman's Docker-compatible API answers `/version` with Podman's own version and a `Podman
/// Engine` component (shape as `podman system service` 4.9 answers it), and older desktop
/// builds name themselves differently: each is recognised and named, and Podman's version is
/// not judged as a Docker version.
#[test]
fn other_engines_are_named_not_misjudged() {
    let _cores = crate::common::shared();
    let podman = FakeDocker::start(Mode::Engine {
        version: serde_json::json!({
            "Platform": {"Name": "linux/amd64/fedora-39"},
            "Components": [
                {"Name": "Podman Engine", "Version": "4.9.3", "Details": {"APIVersion": "4.9.3"}},
                {"Name": "Conmon", "Version": "conmon version 2.1.8", "Details": {}}
            ],
            "Version": "4.9.3", "ApiVersion": "1.41", "MinAPIVersion": "1.24", "Os": "linux",
            "Arch": "amd64", "KernelVersion": "6.5.6-300.fc39.x86_64"
        })
        .to_string(),
        info: serde_json::json!({
            "OperatingSystem": "fedora", "OSType": "linux", "KernelVersion": "6.5.6-300.fc39.x86_64",
            "Driver": "overlay", "DockerRootDir": "/var/lib/containers/storage",
            "SecurityOptions": ["name=seccomp,profile=default", "name=rootless"]
        })
        .to_string(),
    });
    let v = check_against(&podman, &[]);
    assert_verdict(&v, "docker.platform", "fail", "Podman 4.9.3");
    let (status, message) = verdict(&v, "docker.version");
    assert_eq!(status, "skip", "{message}");
    assert!(!message.contains("predates"), "{message}");

    for (os, kernel, needle) in [
        ("Docker for Mac", "4.9.93-linuxkit-aufs", "Docker for Mac"),
        (
            "Docker for Windows",
            "4.9.125-linuxkit",
            "Docker for Windows",
        ),
        ("Alpine Linux v3.8", "4.14.131-linuxkit", "linuxkit kernel"),
    ] {
        let fake = FakeDocker::start(Mode::engine_with("18.09.2", os, kernel));
        assert_verdict(
            &check_against(&fake, &[]),
            "docker.platform",
            "fail",
            needle,
        );
    }
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
    let _cores = crate::common::shared();
    let fake = FakeDocker::start(Mode::Garbage);
    assert_unreachable(&check_against(&fake, &[]), "GET /version");
}

#[test]
fn a_socket_that_hangs_up_is_unreachable() {
    let _cores = crate::common::shared();
    let fake = FakeDocker::start(Mode::Close);
    assert_unreachable(&check_against(&fake, &[]), "GET /version");
}

#[test]
fn a_silent_daemon_cannot_hang_the_run() {
    let _cores = crate::common::shared();
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
    let _cores = crate::common::shared();
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
    let _cores = crate::common::shared();
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDocker::start(Mode::engine("20.10.24"));
    let daemon_json = dir.path().join("daemon.json");
    let deny = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/seccomp/deny-statx.json"
    );
    std::fs::write(&daemon_json, format!(r#"{{"seccomp-profile": "{deny}"}}"#)).unwrap();
    let dj = daemon_json.display().to_string();
    // The running daemon reports its built-in default: daemon.json's profile is not in force
    // yet. Not a failure of the daemon that runs; a warning that a restart brings the block.
    let (status, message) = verdict(
        &check_against(&fake, &["--daemon-json", &dj]),
        "docker.seccomp.profile",
    );
    assert_eq!(status, "warn", "{message}");
    assert!(
        message.contains(
            "deny-statx.json takes effect when dockerd restarts and will then block statx"
        ),
        "{message}"
    );
    // The daemon reports that same profile as the one it runs with: it blocks statx now.
    let running = FakeDocker::start(Mode::Engine {
        version: serde_json::json!({"Version": "20.10.24", "ApiVersion": "1.41", "Os": "linux",
            "Arch": "amd64", "KernelVersion": "6.1.0-18-amd64"})
        .to_string(),
        info: serde_json::json!({"OperatingSystem": "Debian GNU/Linux 12 (bookworm)",
            "OSType": "linux", "KernelVersion": "6.1.0-18-amd64", "Driver": "overlay2",
            "DockerRootDir": "/var/lib/docker",
            "SecurityOptions": [format!("name=seccomp,profile={deny}")]})
        .to_string(),
    });
    let (status, message) = verdict(
        &check_against(&running, &["--daemon-json", &dj]),
        "docker.seccomp.profile",
    );
    assert_eq!(status, "fail", "{message}");
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
