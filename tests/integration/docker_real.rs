//! Against the real dockerd of the test bed (scripts/testbed.sh): engine facts, the statx
//! probe executed for real under the default profile and under one that denies statx, cleanup,
//! imitation WhatsApp deployments judged rule by rule, and containers the kernel's OOM killer
//! really killed.
//!
//! Tests that create containers on the shared daemon, or run the probe, hold `common::serial()`: the
//! container rules see every container on the daemon, and the leftover cleanup test removes
//! young probe containers on purpose.

use crate::common;
use crate::common::serial;

use std::time::Duration;

use common::imitation::{Cleanup, Spec, TEST_LABEL, import_image, run};
use common::{
    ClearKernelLog, DENY_SOCK, DOCKER_SOCK, assert_verdict, check_json, docker, preflight,
    require_daemon, result, verdict,
};
use wa_preflight::facts::docker::statx;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn client(sock: &str) -> bollard::Docker {
    bollard::Docker::connect_with_unix(sock, 60, bollard::API_DEFAULT_VERSION).unwrap()
}

fn assert_no_probe_leftovers(sock: &str) {
    let filter = format!("label={}", statx::PROBE_LABEL);
    assert_eq!(
        docker(sock, &["ps", "-aq", "--filter", &filter]),
        "",
        "probe container left on {sock}"
    );
    assert_eq!(
        docker(sock, &["images", "-q", "--filter", &filter]),
        "",
        "probe image left on {sock}"
    );
}

#[test]
fn engine_facts_match_the_daemon_and_the_probe_cleans_up() {
    require_daemon(DOCKER_SOCK);
    let _g = serial();
    let out = preflight().arg("facts").output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &v["docker"];
    let e = &d["engine"];
    assert_eq!(
        e["version"],
        docker(DOCKER_SOCK, &["version", "--format", "{{.Server.Version}}"])
    );
    assert_eq!(
        e["api_version"],
        docker(
            DOCKER_SOCK,
            &["version", "--format", "{{.Server.APIVersion}}"]
        )
    );
    let root = docker(DOCKER_SOCK, &["info", "--format", "{{.DockerRootDir}}"]);
    assert_eq!(e["root_dir"], root.as_str());
    assert_eq!(
        e["storage_driver"],
        docker(DOCKER_SOCK, &["info", "--format", "{{.Driver}}"])
    );
    assert_eq!(e["seccomp"], true);
    assert_eq!(e["seccomp_profile"], "default");
    assert_eq!(
        d["seccomp_profile"],
        serde_json::Value::Null,
        "no custom profile here"
    );
    assert_eq!(d["statx_probe"]["allowed"], true, "{d}");
    assert_eq!(d["statx_probe"]["exit_code"], 0);
    // The engine's data root is the path whose storage is judged for Docker.
    let judged: Vec<&serde_json::Value> = v["host"]["storage"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|fs| fs["paths"].as_array().unwrap())
        .filter(|p| p["role"] == "docker")
        .collect();
    assert_eq!(judged.len(), 1);
    assert_eq!(judged[0]["path"], root.as_str());
    assert_no_probe_leftovers(DOCKER_SOCK);
}

#[test]
fn the_probe_fails_under_a_profile_that_denies_statx() {
    require_daemon(DOCKER_SOCK);
    let _g = serial();
    let rt = runtime();
    let docker = client(DOCKER_SOCK);
    let profile = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/seccomp/deny-statx.json"
    ))
    .unwrap();
    // The same code path as the check, with the profile given per container.
    let denied = rt
        .block_on(statx::run(&docker, Some(format!("seccomp={profile}"))))
        .unwrap();
    assert!(!denied.allowed);
    // runc reports EPERM for SCMP_ACT_ERRNO here; ENOSYS was seen on other builds.
    assert!(matches!(denied.errno, Some(1) | Some(38)), "{denied:?}");
    let allowed = rt.block_on(statx::run(&docker, None)).unwrap();
    assert!(allowed.allowed, "{allowed:?}");
    assert_eq!(allowed.errno, None);
    assert_no_probe_leftovers(DOCKER_SOCK);
}

#[test]
fn a_daemon_whose_profile_denies_statx_fails_both_seccomp_rules() {
    let _cores = crate::common::shared();
    require_daemon(DENY_SOCK);
    let (code, v) = check_json(&["--docker-host", &format!("unix://{DENY_SOCK}")]);
    assert_eq!(code, 3);
    assert_eq!(verdict(&v, "docker.reachable").0, "pass");
    assert_eq!(verdict(&v, "docker.seccomp.enabled").0, "pass");
    assert_verdict(&v, "docker.seccomp.profile", "fail", "blocks statx");
    assert_verdict(&v, "docker.seccomp.profile", "fail", "errno 1");
    assert_verdict(&v, "docker.seccomp.statx", "fail", "errno 1 (EPERM)");
    assert_no_probe_leftovers(DENY_SOCK);
}

#[test]
fn leftovers_of_an_interrupted_probe_are_removed_but_young_ones_kept() {
    require_daemon(DOCKER_SOCK);
    let _g = serial();
    // What a run killed between import and removal leaves behind.
    let reference = format!("{}:leftover-test", statx::PROBE_REPO);
    import_image(&reference, None);
    let label = format!("{}=statx", statx::PROBE_LABEL);
    docker(
        DOCKER_SOCK,
        &[
            "create",
            "--label",
            &label,
            "--name",
            "wa-preflight-statx-leftover",
            &reference,
            "/probe",
        ],
    );
    let rt = runtime();
    let d = client(DOCKER_SOCK);
    // Young: it may belong to a run in progress.
    assert_eq!(
        rt.block_on(statx::remove_leftovers(&d, Duration::from_secs(3600)))
            .unwrap(),
        0
    );
    let filter = format!("label={}", statx::PROBE_LABEL);
    assert_ne!(docker(DOCKER_SOCK, &["ps", "-aq", "--filter", &filter]), "");
    // Old enough: removed.
    let removed = rt
        .block_on(statx::remove_leftovers(&d, Duration::ZERO))
        .unwrap();
    assert!(removed >= 1, "removed {removed}");
    assert_eq!(docker(DOCKER_SOCK, &["ps", "-aq", "--filter", &filter]), "");
    // The imported image carries the test label, not the probe label: remove it by name.
    let _ = std::process::Command::new("docker")
        .env("DOCKER_HOST", format!("unix://{DOCKER_SOCK}"))
        .args(["rmi", "-f", &reference])
        .output();
}

#[test]
fn permission_denied_names_the_group_to_join() {
    let _cores = crate::common::shared();
    require_daemon(DOCKER_SOCK);
    let bin = assert_cmd::cargo::cargo_bin("preflight");
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(["check", "--format", "json", "--no-statx-probe"])
        .env("WA_PREFLIGHT_CONFIG", "/dev/null")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_verdict(
        &v,
        "docker.reachable",
        "fail",
        "permission denied on /var/run/docker.sock",
    );
    assert_verdict(&v, "docker.reachable", "fail", "'docker'");
    let (status, message) = verdict(&v, "docker.version");
    assert_eq!(status, "skip");
    assert!(
        message.starts_with("prerequisite docker.reachable is fail"),
        "{message}"
    );
}

/// The container-level `wa.*` rules: the running-client rules (API, health, support, webhook,
/// links) need a client answering inside the containers, which tests/integration/client_real.rs provides.
fn wa_statuses(v: &serde_json::Value) -> Vec<(String, String)> {
    const CLIENT: [&str; 5] = [
        "wa.api.",
        "wa.health.",
        "wa.support.",
        "wa.webhook.",
        "wa.coreapp.",
    ];
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            let id = r["id"].as_str().unwrap();
            id.starts_with("wa.") && !CLIENT.iter().any(|c| id.starts_with(c))
        })
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn remove_test_containers() {
    let ids = docker(
        DOCKER_SOCK,
        &["ps", "-aq", "--filter", &format!("label={TEST_LABEL}")],
    );
    for id in ids.split_whitespace() {
        docker(DOCKER_SOCK, &["rm", "-f", "-v", id]);
    }
}

fn db_env<'a>() -> Vec<(&'a str, &'a str)> {
    vec![
        ("WA_DB_ENGINE", "MYSQL"),
        ("WA_DB_HOSTNAME", "db"),
        ("WA_DB_PORT", "3306"),
        ("WA_DB_USERNAME", "root"),
        ("WA_DB_PASSWORD", "testpass"),
    ]
}

#[test]
fn imitation_deployments_are_judged_rule_by_rule() {
    require_daemon(DOCKER_SOCK);
    let _g = serial();
    let _cleanup = Cleanup::new();
    let media = tempfile::tempdir().unwrap();
    let media_mount = format!("{}:/usr/local/wamedia", media.path().display());
    let soon = (time::OffsetDateTime::now_utc() + time::Duration::days(3))
        .date()
        .to_string();
    import_image("docker.whatsapp.biz/coreapp:v2.51.2", Some("2099-12-31"));
    import_image("docker.whatsapp.biz/web:v2.51.2", Some("2099-12-31"));
    import_image("docker.whatsapp.biz/coreapp:v2.53.1", Some(&soon));
    import_image("docker.whatsapp.biz/web:v2.49.1", Some("2020-01-01"));
    import_image("docker.whatsapp.biz/coreapp:v2.55.0", None);
    import_image("docker.whatsapp.biz/web:v2.55.0", None);
    let check = || check_json(&["--no-statx-probe"]).1;

    // 1. A healthy deployment, as the setup scripts' compose file makes it.
    let mut env = db_env();
    env.extend([("WA_SECRET", "same-secret"), ("WA_APP_MULTICONNECT", "0")]);
    let good_flags = |extra: &[&str]| {
        let mut f: Vec<String> = vec![
            "-v".into(),
            media_mount.clone(),
            "--cap-drop".into(),
            "MKNOD".into(),
        ];
        f.extend(extra.iter().map(|s| s.to_string()));
        f
    };
    run(&Spec {
        name: "wapf-coreapp",
        image: "docker.whatsapp.biz/coreapp:v2.51.2",
        env: env.clone(),
        flags: good_flags(&[]),
        cmd: vec!["sleep", "3600"],
    });
    run(&Spec {
        name: "wapf-webapp",
        image: "docker.whatsapp.biz/web:v2.51.2",
        env: env.clone(),
        flags: good_flags(&["-p", "127.0.0.1::443"]),
        cmd: vec!["sleep", "3600"],
    });
    let v = check();
    for (id, status) in wa_statuses(&v) {
        assert_eq!(status, "pass", "{id}: {}", result(&v, &id));
    }
    // Port 443 is published but nothing serves it inside the busybox webapp: the API check
    // finds the URL through Docker and says the handshake failed.
    let (status, message) = verdict(&v, "wa.api.reachable");
    assert_eq!(status, "fail", "{message}");
    assert!(
        message.contains("publishes 443") || message.contains("https://127.0.0.1:"),
        "{message}"
    );
    let containers = &v["results"];
    assert!(
        !containers.to_string().contains("same-secret"),
        "a secret leaked into the report"
    );

    // 2. A broken one: crash loop, mixed versions, expired and soon-expiring images, no 443,
    //    no media volume, different WA_SECRET, missing password, bad multiconnect, no cap_drop.
    remove_test_containers();
    let mut core_env = db_env();
    core_env.push(("WA_SECRET", "secret-one"));
    run(&Spec {
        name: "wapf-coreapp",
        image: "docker.whatsapp.biz/coreapp:v2.53.1",
        env: core_env,
        flags: good_flags(&["--restart", "always"]),
        cmd: vec!["sh", "-c", "exit 3"],
    });
    let mut web_env: Vec<(&str, &str)> = db_env()
        .into_iter()
        .filter(|(k, _)| *k != "WA_DB_PASSWORD")
        .collect();
    web_env.extend([("WA_SECRET", "secret-two"), ("WA_APP_MULTICONNECT", "true")]);
    run(&Spec {
        name: "wapf-webapp",
        image: "docker.whatsapp.biz/web:v2.49.1",
        env: web_env,
        flags: vec![],
        cmd: vec!["sleep", "3600"],
    });
    // Let the crash loop build up restarts.
    for _ in 0..40 {
        let n: u32 = docker(
            DOCKER_SOCK,
            &["inspect", "--format", "{{.RestartCount}}", "wapf-coreapp"],
        )
        .parse()
        .unwrap_or(0);
        if n >= 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    // A crash-looping container is "running" for the moment its process lives; a check that
    // lands in that moment sees a warning (restarted N times). The loop's usual state, which
    // the next check sees, is restarting or exited: a failure.
    let mut v = check();
    for _ in 0..5 {
        if verdict(&v, "wa.containers.running").0 == "fail" {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
        v = check();
    }
    let expect = [
        ("wa.containers.present", "pass", "1 coreapp and 1 webapp"),
        ("wa.containers.running", "fail", "wapf-coreapp"),
        ("wa.version.match", "fail", "v2.49.1, v2.53.1"),
        ("wa.version.expiry", "fail", "expired on 2020-01-01"),
        (
            "wa.webapp.port",
            "fail",
            "does not publish container port 443",
        ),
        ("wa.env.db", "fail", "wapf-webapp lacks WA_DB_PASSWORD"),
        ("wa.env.secret", "fail", "differs"),
        ("wa.env.multiconnect", "fail", "WA_APP_MULTICONNECT=true"),
        (
            "wa.media.mount",
            "fail",
            "wapf-webapp has no volume at /usr/local/wamedia",
        ),
        ("wa.caps", "warn", "wapf-webapp keeps CAP_MKNOD"),
    ];
    for (id, status, needle) in expect {
        let (got, message) = verdict(&v, id);
        assert_eq!(got, status, "{id}: {message}");
        assert!(
            message.contains(needle),
            "{id}: {message:?} lacks {needle:?}"
        );
    }
    let (_, expiry) = verdict(&v, "wa.version.expiry");
    assert!(
        expiry.contains(&format!("expires on {soon}, in 3 days")),
        "{expiry}"
    );
    let report = v.to_string();
    for secret in ["secret-one", "secret-two", "testpass"] {
        assert!(!report.contains(secret), "{secret} leaked into the report");
    }

    // 3. Images without an expiry label: nothing to judge, said as skip.
    remove_test_containers();
    for (name, image) in [
        ("wapf-coreapp", "docker.whatsapp.biz/coreapp:v2.55.0"),
        ("wapf-webapp", "docker.whatsapp.biz/web:v2.55.0"),
    ] {
        run(&Spec {
            name,
            image,
            env: env.clone(),
            flags: good_flags(&["-p", "127.0.0.1::443"]),
            cmd: vec!["sleep", "3600"],
        });
    }
    assert_verdict(&check(), "wa.version.expiry", "skip", "no EXPIRES_ON label");

    // 4. Only a webapp: a half deployment fails, and its dependants skip.
    remove_test_containers();
    run(&Spec {
        name: "wapf-webapp",
        image: "docker.whatsapp.biz/web:v2.51.2",
        env,
        flags: good_flags(&["-p", "127.0.0.1::443"]),
        cmd: vec!["sleep", "3600"],
    });
    let v = check();
    assert_eq!(verdict(&v, "wa.containers.present").0, "fail");
    let (status, message) = verdict(&v, "wa.env.db");
    assert_eq!(status, "skip");
    assert!(
        message.starts_with("prerequisite wa.containers.present is fail"),
        "{message}"
    );
}

/// Waits until Docker says `name` is (`running`) or is not running.
fn wait_running(name: &str, running: bool) {
    for _ in 0..100 {
        let state = docker(DOCKER_SOCK, &["inspect", "-f", "{{.State.Running}}", name]);
        if state == running.to_string() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{name} never became running={running}");
}

/// Docker's `State.OOMKilled` reaches the facts and `wa.containers.oom` as the kernel decided
/// it: a coreapp under a 16 MiB limit (no swap) that asks for a 64 MiB buffer is really killed
/// by the OOM killer; a webapp under the same limit that exited by itself was not; a coreapp
/// killed once and started again is reported as Docker reports it (20.10 keeps it true).
#[test]
fn oom_killed_by_the_kernel_on_the_real_dockerd() {
    require_daemon(DOCKER_SOCK);
    let _g = serial();
    let _cleanup = Cleanup::new();
    // The kills are in the kernel's log too: log.oom_kill of later runs must not see them.
    let _kernel = ClearKernelLog;
    let coreapp = "docker.whatsapp.biz/coreapp:v2.51.2";
    let webapp = "docker.whatsapp.biz/web:v2.51.2";
    import_image(coreapp, Some("2099-12-31"));
    import_image(webapp, Some("2099-12-31"));
    let limit: Vec<String> = ["--memory", "16m", "--memory-swap", "16m"]
        .map(String::from)
        .to_vec();
    let grow = vec!["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"];
    run(&Spec {
        name: "wapf-oom",
        image: coreapp,
        env: vec![],
        flags: limit.clone(),
        cmd: grow,
    });
    run(&Spec {
        name: "wapf-exited",
        image: webapp,
        env: vec![],
        flags: limit.clone(),
        cmd: vec!["true"],
    });
    // Killed on its first run; started again, it finds its marker and stays up.
    let marker = tempfile::tempdir().unwrap();
    let mut flags = limit;
    flags.extend(["-v".into(), format!("{}:/m", marker.path().display())]);
    run(&Spec {
        name: "wapf-oom-again",
        image: coreapp,
        env: vec![],
        flags,
        cmd: vec![
            "sh",
            "-c",
            "if [ -e /m/x ]; then exec /bin/busybox sleep 600; fi; /bin/busybox touch /m/x; \
             exec /bin/busybox dd if=/dev/zero of=/dev/null bs=64M count=1",
        ],
    });
    for name in ["wapf-oom", "wapf-exited", "wapf-oom-again"] {
        wait_running(name, false);
    }
    let inspect = |name: &str, field: &str| {
        docker(
            DOCKER_SOCK,
            &["inspect", "-f", &format!("{{{{.State.{field}}}}}"), name],
        )
    };
    // The set-up did what it says: the kernel killed the two coreapps (137 = SIGKILL).
    for name in ["wapf-oom", "wapf-oom-again"] {
        assert_eq!(
            crate::common::imitation::oom_killed_when_recorded(name),
            "true",
            "{name}"
        );
        assert_eq!(inspect(name, "ExitCode"), "137", "{name}");
    }
    assert_eq!(inspect("wapf-exited", "OOMKilled"), "false");
    docker(DOCKER_SOCK, &["start", "wapf-oom-again"]);
    wait_running("wapf-oom-again", true);
    let again = inspect("wapf-oom-again", "OOMKilled") == "true";

    let out = preflight()
        .args(["facts", "--no-statx-probe"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let facts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let oom_killed = |name: &str| {
        facts["docker"]["wa"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} not in the facts"))["oom_killed"]
            .clone()
    };
    assert_eq!(oom_killed("wapf-oom"), true);
    assert_eq!(oom_killed("wapf-exited"), false);
    assert_eq!(oom_killed("wapf-oom-again"), again);

    // Judged from that same document (it loads with the field), each container by name.
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("facts.json");
    std::fs::write(&saved, &out.stdout).unwrap();
    let (_, v) = check_json(&["--facts", saved.to_str().unwrap()]);
    let (status, message) = verdict(&v, "wa.containers.oom");
    assert_eq!(status, "fail", "{message}");
    for needle in [
        "wapf-oom was killed by the kernel's OOM killer (State.OOMKilled true, now exited)",
        "wapf-exited: not killed for memory",
    ] {
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
    let again_says = if again {
        "wapf-oom-again runs again, but the kernel's OOM killer killed it since the container \
         was created"
    } else {
        "wapf-oom-again: not killed for memory"
    };
    assert!(
        message.contains(again_says),
        "{message:?} lacks {again_says:?}"
    );
}

/// Our reading of a profile agrees with what Docker and runc really do: each profile's verdict
/// from `seccomp_profile::judge` is compared with statx executed in a container started under
/// that profile, for entries gated on Docker's arch names, capabilities and kernel versions and
/// for each kind of action.
#[test]
fn profile_judgement_matches_docker_for_real() {
    use wa_preflight::facts::docker::seccomp_profile::{Target, judge};
    require_daemon(DOCKER_SOCK);
    let _g = serial();
    let rt = runtime();
    let client = client(DOCKER_SOCK);
    let kernel = docker(DOCKER_SOCK, &["info", "--format", "{{.KernelVersion}}"]);
    let target = Target::default_container(Some(kernel));
    let deny = |gate: &str| {
        format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["statx"],"action":"SCMP_ACT_ERRNO","errnoRet":1{gate}}}]}}"#
        )
    };
    let act = |action: &str| {
        format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["statx"],"action":"{action}"}}]}}"#
        )
    };
    let cases = [
        ("plain deny", deny("")),
        // Docker compares `arches` with its own name for the host: amd64.
        (
            "deny except on amd64",
            deny(r#","excludes":{"arches":["amd64"]}"#),
        ),
        (
            "deny on amd64 only",
            deny(r#","includes":{"arches":["amd64"]}"#),
        ),
        (
            "deny on arm64 only",
            deny(r#","includes":{"arches":["arm64"]}"#),
        ),
        (
            "deny under libseccomp's arch name",
            deny(r#","includes":{"arches":["SCMP_ARCH_X86_64"]}"#),
        ),
        (
            "deny with CAP_SYS_ADMIN only",
            deny(r#","includes":{"caps":["CAP_SYS_ADMIN"]}"#),
        ),
        (
            "deny unless CAP_CHOWN",
            deny(r#","excludes":{"caps":["CAP_CHOWN"]}"#),
        ),
        (
            "deny from kernel 4.0",
            deny(r#","includes":{"minKernel":"4.0"}"#),
        ),
        (
            "deny from kernel 99.0",
            deny(r#","includes":{"minKernel":"99.0"}"#),
        ),
        (
            "deny until kernel 4.0",
            deny(r#","excludes":{"minKernel":"4.0"}"#),
        ),
        ("trace without a tracer", act("SCMP_ACT_TRACE")),
        ("log", act("SCMP_ACT_LOG")),
    ];
    for (what, profile) in cases {
        let ours = judge("case", &profile, &target).unwrap();
        let real = rt
            .block_on(statx::run(&client, Some(format!("seccomp={profile}"))))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            ours.statx_allowed, real.allowed,
            "{what}: we say {ours:?}, Docker did {real:?}"
        );
        if !real.allowed {
            assert!(ours.errno.is_some(), "{what}: {ours:?}");
        }
    }
    assert_no_probe_leftovers(DOCKER_SOCK);
}

/// `preflight facts` of this host, without the statx probe.
fn facts_now() -> serde_json::Value {
    let out = preflight()
        .args(["facts", "--no-statx-probe"])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A coreapp started with its own seccomp profile is judged by it, and storage follows the
/// media volume to where it really is; a daemon.json profile the running daemon does not use
/// yet is a warning about the next restart.
#[test]
fn what_the_client_really_uses() {
    require_daemon(DOCKER_SOCK);
    let _g = serial();
    let _cleanup = Cleanup::new();
    import_image("docker.whatsapp.biz/coreapp:v2.51.2", Some("2099-12-31"));
    import_image("docker.whatsapp.biz/web:v2.51.2", Some("2099-12-31"));
    let media = tempfile::tempdir().unwrap();
    let deny = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/seccomp/deny-statx.json"
    );
    let mut env = db_env();
    env.extend([("WA_SECRET", "same-secret"), ("WA_APP_MULTICONNECT", "0")]);
    let flags = |extra: &[&str]| {
        let mut f: Vec<String> = vec![
            "-v".into(),
            format!("{}:/usr/local/wamedia", media.path().display()),
            "--cap-drop".into(),
            "MKNOD".into(),
        ];
        f.extend(extra.iter().map(|s| s.to_string()));
        f
    };
    run(&Spec {
        name: "wapf-coreapp",
        image: "docker.whatsapp.biz/coreapp:v2.51.2",
        env: env.clone(),
        flags: flags(&["--security-opt", &format!("seccomp={deny}")]),
        cmd: vec!["sleep", "3600"],
    });
    run(&Spec {
        name: "wapf-webapp",
        image: "docker.whatsapp.biz/web:v2.51.2",
        env: env.clone(),
        flags: flags(&[
            "-p",
            "127.0.0.1::443",
            "--security-opt",
            "seccomp=unconfined",
        ]),
        cmd: vec!["sleep", "3600"],
    });
    let facts = facts_now();
    let (_, v) = check_json(&["--no-statx-probe"]);
    // The daemon's built-in profile allows statx; the coreapp's own does not.
    assert_verdict(&v, "docker.seccomp.profile", "pass", "built-in default");
    assert_verdict(
        &v,
        "wa.seccomp.profile",
        "fail",
        "wapf-coreapp's own seccomp profile blocks statx",
    );
    let (_, message) = verdict(&v, "wa.seccomp.profile");
    assert!(
        message.contains("wapf-webapp's own seccomp profile allows statx (unconfined)"),
        "{message}"
    );
    // The media volume is judged where the bind mount really comes from.
    let media_paths: Vec<String> = facts["host"]["storage"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|fs| fs["paths"].as_array().unwrap().clone())
        .filter(|p| p["role"] == "media")
        .map(|p| p["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        media_paths,
        [media.path().display().to_string()],
        "{}",
        facts["host"]["storage"]
    );
    assert!(
        facts["host"]["storage"]
            .as_array()
            .unwrap()
            .iter()
            .all(|fs| fs["paths"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["role"] != "root")),
        "the root filesystem is not judged for itself"
    );

    // The same containers without a media mount, and with a named volume instead.
    remove_test_containers();
    run(&Spec {
        name: "wapf-coreapp",
        image: "docker.whatsapp.biz/coreapp:v2.51.2",
        env: env.clone(),
        flags: vec!["-v".into(), "wapf-media:/usr/local/wamedia".into()],
        cmd: vec!["sleep", "3600"],
    });
    let facts = facts_now();
    let root = docker(DOCKER_SOCK, &["info", "--format", "{{.DockerRootDir}}"]);
    let volume = docker(
        DOCKER_SOCK,
        &[
            "volume",
            "inspect",
            "--format",
            "{{.Mountpoint}}",
            "wapf-media",
        ],
    );
    assert!(volume.starts_with(&root), "{volume}");
    let paths = facts["host"]["storage"].to_string();
    assert!(paths.contains(&format!("\"path\":\"{volume}\"")), "{paths}");
    remove_test_containers();
    docker(DOCKER_SOCK, &["volume", "rm", "wapf-media"]);

    // No containers: the default media path does not exist here and is listed, not judged by
    // the root filesystem.
    let facts = facts_now();
    assert!(!std::path::Path::new("/usr/local/wamedia").exists());
    assert_eq!(
        facts["host"]["storage_missing"],
        serde_json::json!([{"path": "/usr/local/wamedia", "role": "media", "exists": false, "resolved": ""}])
    );

    // daemon.json names the deny profile, but the running daemon reports its built-in one.
    let dir = tempfile::tempdir().unwrap();
    let dj = dir.path().join("daemon.json");
    std::fs::write(&dj, format!(r#"{{"seccomp-profile": "{deny}"}}"#)).unwrap();
    let (_, v) = check_json(&[
        "--no-statx-probe",
        "--daemon-json",
        &dj.display().to_string(),
    ]);
    assert_verdict(
        &v,
        "docker.seccomp.profile",
        "warn",
        "takes effect when dockerd restarts and will then block statx",
    );
}
