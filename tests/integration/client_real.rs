//! The running-client rules against a FAKE webapp API (tests/integration/common/fake_webapp.rs: no real
//! client can run here), in-process and inside an imitation deployment on the real dockerd,
//! plus network reach from inside a container's namespace: listeners, a fake CONNECT proxy,
//! closed ports, a black hole and a name that does not resolve.

use crate::common;
use crate::common::serial;

use std::time::{Duration, Instant};

use common::fake_webapp::{
    Behaviour, FakeWebapp, Health, TestPki, accept_forever, black_hole_in, fake_client_in,
    fake_proxy, listen_in,
};
use common::imitation::{Cleanup, Spec, import_image, run};
use common::{
    DOCKER_SOCK, assert_verdict, check_json, docker, quiet_network, require_daemon, verdict, write,
};

/// In-process fake: TLS choices, tokens and logins, every health shape, slow and garbage
/// answers, support, the webhook and its probe.
#[test]
fn fake_api_in_process() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new();
    let fake = FakeWebapp::start(&pki, Behaviour::default());
    let url = format!("https://127.0.0.1:{}", fake.addr.port());
    let ca = write(dir.path(), "ca.pem", &pki.ca_pem);
    let token = write(dir.path(), "token", "test-token-0123456789\n");
    let bad_token = write(dir.path(), "bad-token", "nope");
    let (net, _l) = quiet_network(dir.path());
    let base: Vec<String> = vec![
        "--docker-host".into(),
        "unix:///nonexistent/docker.sock".into(),
        "--rules".into(),
        net.display().to_string(),
        "--api-url".into(),
        url.clone(),
        "--api-timeout".into(),
        "2".into(),
    ];
    let check = |extra: &[&str]| {
        let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
        args.extend_from_slice(extra);
        check_json(&args).1
    };
    let ca_s = ca.display().to_string();
    let token_s = token.display().to_string();
    let verified = [
        "--api-ca-file",
        ca_s.as_str(),
        "--api-token-file",
        token_s.as_str(),
    ];

    // Healthy, verified against the CA.
    let r = check(&verified);
    assert_verdict(&r, "wa.api.reachable", "pass", "verified against CA file");
    assert_verdict(&r, "wa.health.gateway", "pass", "connected: 1");
    assert_verdict(&r, "wa.support.free_space", "pass", "free everywhere");
    assert_verdict(&r, "wa.support.socket", "pass", "socket up");
    assert_verdict(&r, "wa.webhook.configured", "warn", "no webhook URL");
    assert_verdict(&r, "wa.webhook.https", "skip", "prerequisite");
    // The phone number (debug_info) stays out of the facts unless asked for.
    let facts = |extra: &[&str]| {
        let out = common::preflight()
            .args([
                "facts",
                "--docker-host",
                "unix:///nonexistent/docker.sock",
                "--api-url",
                &url,
            ])
            .args(verified)
            .args(extra)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let hidden = facts(&[]);
    assert!(hidden.contains("\"debug_info_hidden\": true"), "{hidden}");
    assert!(!hidden.contains("555 0100"));
    assert!(facts(&["--show-phone"]).contains("\"debug_info\": \"+1 555 0100\""));

    // The self-signed certificate is refused unless the operator accepts it.
    let r = check(&["--api-token-file", &token_s]);
    assert_verdict(&r, "wa.api.reachable", "fail", "certificate is not trusted");
    let r = check(&["--api-insecure", "--api-token-file", &token_s]);
    assert_verdict(&r, "wa.api.reachable", "pass", "not verified");

    // Tokens: a bad one fails, none at all is a skip that says what to give.
    let bad = bad_token.display().to_string();
    let r = check(&["--api-insecure", "--api-token-file", &bad]);
    assert_verdict(&r, "wa.api.reachable", "fail", "HTTP 401");
    let r = check(&["--api-insecure"]);
    assert_verdict(&r, "wa.api.reachable", "skip", "wants a token");

    // Admin login from the config.
    let pw = write(dir.path(), "pw", "S3cret-admin\n");
    let login = write(
        dir.path(),
        "login.yaml",
        &format!(
            "client:\n  username: admin\n  password_file: {}\n  ca_file: {}\n",
            pw.display(),
            ca.display()
        ),
    );
    let login_s = login.display().to_string();
    let r = check(&["--config", &login_s]);
    assert_verdict(&r, "wa.api.reachable", "pass", "login as admin");
    let wrong = write(dir.path(), "wrong-pw", "guess\n");
    let wrong_login = write(
        dir.path(),
        "wrong.yaml",
        &format!(
            "client:\n  username: admin\n  password_file: {}\n  insecure_tls: true\n",
            wrong.display()
        ),
    );
    let r = check(&["--config", &wrong_login.display().to_string()]);
    assert_verdict(&r, "wa.api.reachable", "fail", "users/login: HTTP 401");

    // Health shapes. No coreapp container on this host: since when it starts is unknown.
    fake.set(|b| b.health = Health::NotReady);
    let r = check(&verified);
    assert_verdict(&r, "wa.api.reachable", "pass", "answered");
    assert_verdict(&r, "wa.health.gateway", "warn", "1011 Service not ready");
    assert_verdict(&r, "wa.support.socket", "warn", "cannot read /v1/support");
    fake.set(|b| b.health = Health::Single("unregistered"));
    assert_verdict(
        &check(&verified),
        "wa.health.gateway",
        "fail",
        "not registered",
    );
    fake.set(|b| b.health = Health::Single("disconnected"));
    assert_verdict(&check(&verified), "wa.health.gateway", "fail", "0 of 1");
    fake.set(|b| b.health = Health::Single("connecting"));
    assert_verdict(
        &check(&verified),
        "wa.health.gateway",
        "pass",
        "connecting: 1",
    );
    fake.set(|b| {
        b.health = Health::Ha(vec![
            ("wa-1:primary_master", "disconnected", "primary_master"),
            ("wa-2:coreapp", "connected", "coreapp"),
            ("wa-3:coreapp", "disconnected", "coreapp"),
        ])
    });
    assert_verdict(
        &check(&verified),
        "wa.health.gateway",
        "pass",
        "connected: 1",
    );
    let shards = write(
        dir.path(),
        "shards.yaml",
        &format!(
            "client:\n  expected_connected: 2\n  ca_file: {}\n",
            ca.display()
        ),
    );
    let r = check(&[
        "--config",
        &shards.display().to_string(),
        "--api-token-file",
        &token_s,
    ]);
    assert_verdict(
        &r,
        "wa.health.gateway",
        "fail",
        "1 of 2 expected coreapp nodes",
    );

    // Support values.
    fake.set(|b| {
        b.health = Health::Single("connected");
        b.socket_conn = "DN";
        b.free_space_logs = 1_000_000_000;
    });
    let r = check(&verified);
    assert_verdict(&r, "wa.support.socket", "fail", "down");
    assert_verdict(
        &r,
        "wa.support.free_space",
        "fail",
        "free_space_logs has only 1.0 GB",
    );
    fake.set(|b| {
        b.socket_conn = "UP receiving offline";
        b.free_space_logs = 5_000_000_000;
    });
    let r = check(&verified);
    assert_verdict(&r, "wa.support.socket", "warn", "offline");
    assert_verdict(&r, "wa.support.free_space", "warn", "running low");

    // The webhook: http fails, https is probed only when asked, with the marked payload.
    fake.set(|b| {
        b.socket_conn = "UP";
        b.free_space_logs = 80_000_000_000;
        b.webhook_url = Some(format!(
            "http://127.0.0.1:{}/hook?secret=abc",
            fake.addr.port()
        ));
    });
    let r = check(&verified);
    assert_verdict(&r, "wa.webhook.configured", "pass", "/hook?…");
    assert!(
        !r.to_string().contains("secret=abc"),
        "the webhook query is not shown"
    );
    assert_verdict(&r, "wa.webhook.https", "fail", "not https");
    fake.set(|b| b.webhook_url = Some(format!("https://localhost:{}/hook", fake.addr.port())));
    let r = check(&verified);
    assert_verdict(&r, "wa.webhook.https", "pass", "https");
    assert_verdict(&r, "wa.webhook.latency", "skip", "not probed");
    assert!(
        fake.seen.lock().unwrap().hook_bodies.is_empty(),
        "no probe unless asked"
    );
    let hook_cfg = write(
        dir.path(),
        "hook.yaml",
        &format!("client:\n  webhook_ca_file: {}\n", ca.display()),
    );
    let hook_s = hook_cfg.display().to_string();
    let probe = [&verified[..], &["--webhook-probe", "--config", &hook_s]].concat();
    let r = check(&probe);
    assert_verdict(&r, "wa.webhook.latency", "pass", "HTTP 200");
    let bodies = fake.seen.lock().unwrap().hook_bodies.clone();
    assert_eq!(bodies.len(), 1);
    assert!(
        bodies[0].contains("\"wa_preflight_test\":true"),
        "{}",
        bodies[0]
    );
    fake.set(|b| b.hook_delay = Duration::from_millis(3300));
    assert_verdict(&check(&probe), "wa.webhook.latency", "warn", "slow");
    fake.set(|b| {
        b.hook_delay = Duration::ZERO;
        b.hook_status = 500;
    });
    assert_verdict(&check(&probe), "wa.webhook.latency", "fail", "HTTP 500");
    // Without the CA the webhook's certificate is refused, as the client would refuse it.
    let r = check(&[&verified[..], &["--webhook-probe"]].concat());
    assert_verdict(&r, "wa.webhook.latency", "fail", "test delivery failed");

    // A slow API is abandoned at its timeout; garbage is named, not trusted.
    fake.set(|b| b.delay = Duration::from_secs(30));
    let started = Instant::now();
    let r = check(&verified);
    assert_verdict(&r, "wa.api.reachable", "fail", "timed out");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the run waited for a slow API"
    );
    fake.set(|b| {
        b.delay = Duration::ZERO;
        b.garbage = true;
    });
    let r = check(&verified);
    let (status, msg) = verdict(&r, "wa.api.reachable");
    assert_eq!(status, "fail", "{msg}");
    // Nothing listening at all.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut args: Vec<String> = base.clone();
    let i = args.iter().position(|a| a == &url).unwrap();
    args[i] = format!("https://127.0.0.1:{port}");
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = check_json(&[&refs[..], &verified[..]].concat()).1;
    assert_verdict(&r, "wa.api.reachable", "fail", "cannot connect");
}

fn pid_of(name: &str) -> i64 {
    docker(DOCKER_SOCK, &["inspect", "-f", "{{.State.Pid}}", name])
        .trim()
        .parse()
        .unwrap()
}

/// The imitation deployment on the real dockerd: the fake API inside the webapp container's
/// namespace behind its published port, the coreapp's ports and "WhatsApp" hosts inside the
/// coreapp's namespace, reached through its hosts file, its proxy and a black hole.
#[test]
fn imitation_deployment_on_real_dockerd() {
    require_daemon(DOCKER_SOCK);
    let _s = serial();
    let _cleanup = Cleanup::new();
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new();
    import_image("docker.whatsapp.biz/coreapp:v2.51.2", Some("2099-01-01"));
    import_image("docker.whatsapp.biz/web:v2.51.2", Some("2099-01-01"));
    run(&Spec {
        name: "wapf-cl-core",
        image: "docker.whatsapp.biz/coreapp:v2.51.2",
        env: vec![
            ("HTTPS_PROXY", "http://127.0.0.1:3128"),
            ("NO_PROXY", "localhost"),
            ("WA_SECRET", "s"),
        ],
        flags: vec![
            "--add-host".into(),
            "blackhole.test:127.0.0.2".into(),
            "--add-host".into(),
            "closed.test:127.0.0.3".into(),
        ],
        cmd: vec!["sleep", "600"],
    });
    run(&Spec {
        name: "wapf-cl-web",
        image: "docker.whatsapp.biz/web:v2.51.2",
        env: vec![("WACORE_HOSTNAME", "wacore"), ("WA_SECRET", "s")],
        flags: vec![
            "--link".into(),
            "wapf-cl-core:wacore".into(),
            "-p".into(),
            "127.0.0.1::443".into(),
        ],
        cmd: vec!["sleep", "600"],
    });
    let core = pid_of("wapf-cl-core");
    let web = pid_of("wapf-cl-web");
    // The coreapp's side: its four ports, a "WhatsApp" 5222, a proxy, a black hole, a webhook.
    for port in [6250, 6251, 6252, 6253] {
        accept_forever(listen_in(Some(core), &format!("0.0.0.0:{port}")));
    }
    accept_forever(listen_in(Some(core), "127.0.0.1:5222"));
    let proxied = fake_proxy(
        listen_in(Some(core), "127.0.0.1:3128"),
        vec!["wa-ok.test".to_string()],
    );
    let _hole = black_hole_in(core, "127.0.0.2", 5222);
    // The webhook in the coreapp's namespace; the fake API on 443 inside the webapp's.
    let client = fake_client_in(core, web, &pki, dir.path());
    let (hook, api, config) = (&client.hook, &client.api, &client.config);
    let rules = write(
        dir.path(),
        "net.yaml",
        "network:\n  timeout_ms: 1500\n  whatsapp:\n    - {host: localhost, ports: [5222]}\n    - {host: wa-ok.test, ports: [443]}\n    - {host: wa-blocked.test, ports: [443]}\n    - {host: blackhole.test, ports: [5222]}\n    - {host: closed.test, ports: [5222]}\n",
    );
    let args = [
        "--docker-host",
        "unix:///var/run/docker.sock",
        "--no-statx-probe",
        "--rules",
        rules.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--webhook-probe",
    ];
    let started = Instant::now();
    let (_, r) = check_json(&args);
    let took = started.elapsed();
    // Found through the webapp's published port, verified against the test CA.
    assert_verdict(&r, "wa.api.reachable", "pass", "verified against CA file");
    let (_, obs) = (
        r.clone(),
        common::result(&r, "wa.api.reachable")["observed"].clone(),
    );
    assert!(
        obs.to_string()
            .contains("webapp container wapf-cl-web publishes 443"),
        "{obs}"
    );
    assert_verdict(&r, "wa.health.gateway", "pass", "connected: 1");
    assert_verdict(&r, "wa.support.free_space", "pass", "free everywhere");
    assert_verdict(&r, "wa.support.socket", "pass", "socket up");
    assert_verdict(
        &r,
        "wa.webhook.configured",
        "pass",
        "https://localhost:8443/hook",
    );
    assert_verdict(&r, "wa.webhook.https", "pass", "https");
    assert_verdict(
        &r,
        "wa.webhook.latency",
        "pass",
        "from container wapf-cl-core",
    );
    // The webapp's Date header was compared with our clock (same host: well within 2 s); this
    // machine runs no NTP daemon, so the kernel clock itself may be unsynchronised: a warning.
    let clock = common::result(&r, "host.clock.sync");
    let observed = clock["observed"].as_str().unwrap_or("");
    assert!(
        !observed.ends_with("largest peer offset none"),
        "{observed}"
    );
    let (status, _) = verdict(&r, "host.clock.sync");
    assert_ne!(status, "fail", "{clock}");
    assert_eq!(hook.seen.lock().unwrap().hook_bodies.len(), 1);
    // The webapp resolves wacore through the compose-style link and reaches 6250-6253.
    assert_verdict(
        &r,
        "wa.coreapp.links",
        "pass",
        "accepts 6250-6253 from wapf-cl-web",
    );
    // Network reach, from inside the coreapp: every name resolves there (the proxied ones
    // need not), so each host and port is judged.
    assert_verdict(
        &r,
        "net.dns",
        "pass",
        "every name resolves from container wapf-cl-core",
    );
    assert_verdict(
        &r,
        "net.whatsapp.443",
        "fail",
        "wa-blocked.test:443 from container wapf-cl-core via proxy http://127.0.0.1:3128: proxy http://127.0.0.1:3128 refused: HTTP/1.1 403",
    );
    assert_verdict(
        &r,
        "net.whatsapp.443",
        "fail",
        "wa-ok.test:443 from container wapf-cl-core via proxy http://127.0.0.1:3128 in",
    );
    assert_verdict(
        &r,
        "net.whatsapp.5222",
        "warn",
        "localhost:5222 from container wapf-cl-core in",
    );
    assert_verdict(
        &r,
        "net.whatsapp.5222",
        "warn",
        "blackhole.test:5222 from container wapf-cl-core: no answer within 1500 ms",
    );
    assert_verdict(
        &r,
        "net.whatsapp.5222",
        "warn",
        "closed.test:5222 from container wapf-cl-core: Connection refused",
    );
    let mut seen = proxied.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        vec!["wa-blocked.test:443", "wa-ok.test:443"],
        "443 went through the proxy"
    );
    // A name that resolves nowhere is net.dns's failure, said once: the reach rules wait on it.
    let dead = write(
        dir.path(),
        "dead.yaml",
        "network:\n  timeout_ms: 1500\n  whatsapp:\n    - {host: localhost, ports: [5222]}\n    - {host: nowhere.invalid, ports: [443, 5222]}\n",
    );
    let mut dead_args = args.to_vec();
    dead_args[4] = dead.to_str().unwrap();
    let (_, d) = check_json(&dead_args);
    assert_verdict(
        &d,
        "net.dns",
        "fail",
        "nowhere.invalid do not resolve from container wapf-cl-core",
    );
    for id in ["net.whatsapp.443", "net.whatsapp.5222"] {
        assert_verdict(&d, id, "skip", "prerequisite net.dns is fail");
        let (_, message) = verdict(&d, id);
        assert!(!message.contains("does not resolve:"), "{message}");
    }
    // Every step is bounded: a black hole and a dead name cost one timeout each, in parallel.
    assert!(took < Duration::from_secs(30), "the run took {took:?}");

    // Readiness: just restarted, the API says 1011 and the coreapp started seconds ago.
    api.set(|b| b.health = Health::NotReady);
    let (_, r) = check_json(&args);
    assert_verdict(&r, "wa.health.gateway", "warn", "coreapp up");

    // The coreapp stops: the webapp cannot reach it, reach is checked from the host.
    api.set(|b| b.health = Health::Single("connected"));
    docker(DOCKER_SOCK, &["stop", "-t", "1", "wapf-cl-core"]);
    let (_, r) = check_json(&args);
    let (status, msg) = verdict(&r, "wa.coreapp.links");
    assert_eq!(status, "fail", "{msg}");
    assert!(
        msg.contains("does not accept ports 6250, 6251, 6252, 6253")
            || msg.contains("does not resolve"),
        "{msg}"
    );
    assert_verdict(&r, "net.dns", "fail", "from host");
}
