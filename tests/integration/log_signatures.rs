//! Known-failure signatures, judged from logs that hold the real messages.
//!
//! Every message here is produced by the real program that writes it in production, on this
//! machine: the MariaDB and PostgreSQL servers of the test bed refusing a password, a login
//! plugin, connections beyond max_connections and a killed query; the mysql and psql clients
//! failing to resolve or reach a server; dd on a full tmpfs; curl failing to resolve a host
//! and to verify openssl's self-signed certificate; the kernel's OOM killer killing a
//! container under a 16 MiB limit on the real dockerd (and Docker recording `OOMKilled`).
//! Two cannot be produced here and are named as such: the statx denial is the line from the
//! public report the signature cites (busybox does not call statx), and the block-device I/O
//! error is written into the kernel's log with the kernel's own format (no device-mapper or
//! failing disk here). The imitation coreapp, webapp and database containers print those
//! messages, so the checker reads them where it reads the client's: `docker logs`, crash logs
//! and web.log inside the containers, and the kernel's log.

use crate::common;
use crate::common::serial;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::imitation::{Cleanup, Spec, import_image, run};
use common::{
    ClearKernelLog, DOCKER_SOCK, assert_verdict, check_json, docker, require_daemon, verdict,
};

const COREAPP: &str = "docker.whatsapp.biz/coreapp:v2.51.2";
const WEBAPP: &str = "docker.whatsapp.biz/web:v2.51.2";
const DATABASE: &str = "mysql:8.0";
const MARIADB: u16 = 13306;
const MARIADB_57: u16 = 13308;
const PG_13: u16 = 15413;
const ROOT_SOCKET_57: &str = "/run/wa-preflight-test/mysql/mysql57.sock";
const ROOT_SOCKET: &str = "/run/wa-preflight-test/mysql/mariadb.sock";

/// What a command printed on standard error (its last non-empty lines).
fn stderr_of(program: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !text.trim().is_empty(),
        "{program} {args:?} printed nothing"
    );
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn mysql(port: u16, user: &str, password: &str, sql: &str) -> Command {
    let mut c = Command::new("mysql");
    c.args([
        "--protocol=TCP",
        "-h127.0.0.1",
        &format!("-P{port}"),
        &format!("-u{user}"),
        &format!("-p{password}"),
        "-e",
        sql,
    ]);
    c
}

fn root_sql(socket: &str, sql: &str) -> String {
    let out = Command::new("mariadb")
        .args([&format!("--socket={socket}"), "-uroot", "-N", "-e", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The real messages, produced by the real programs.
struct Messages {
    login_mysql: String,
    login_pg: String,
    plugin: String,
    too_many: String,
    unknown_host: String,
    refused: String,
    pg_unknown_host: String,
    pg_refused: String,
    lost: String,
    disk_full: String,
    no_host: String,
    tls: String,
}

fn produce() -> Messages {
    let login_mysql = stderr_of(
        "mysql",
        &[
            "--protocol=TCP",
            "-h127.0.0.1",
            &format!("-P{MARIADB}"),
            "-uwa",
            "-pwrong",
            "-e",
            "select 1",
        ],
        &[],
    );
    let pg_port = PG_13.to_string();
    let login_pg = stderr_of(
        "psql",
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &pg_port,
            "-U",
            "wa",
            "-d",
            "postgres",
            "-c",
            "select 1",
        ],
        &[("PGPASSWORD", "wrong")],
    );
    // A user whose login plugin the client cannot load (MariaDB's ed25519, no plugin dir).
    let installed = root_sql(
        ROOT_SOCKET,
        "select count(*) from information_schema.plugins where plugin_name = 'ed25519'",
    );
    if installed == "0" {
        root_sql(ROOT_SOCKET, "INSTALL SONAME 'auth_ed25519'");
    }
    root_sql(
        ROOT_SOCKET,
        "CREATE USER IF NOT EXISTS 'waed'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('ed-pass')",
    );
    let plugin = stderr_of(
        "mysql",
        &[
            "--protocol=TCP",
            "-h127.0.0.1",
            &format!("-P{MARIADB}"),
            "-uwaed",
            "-ped-pass",
            "--plugin-dir=/nonexistent",
            "-e",
            "select 1",
        ],
        &[],
    );
    let too_many = too_many_connections();
    let unknown_host = stderr_of(
        "mysql",
        &["-hnowhere.invalid", "-uwa", "-pwa-pass", "-e", "select 1"],
        &[],
    );
    let refused = stderr_of(
        "mysql",
        &[
            "--protocol=TCP",
            "-h127.0.0.1",
            "-P1",
            "-uwa",
            "-pwa-pass",
            "-e",
            "select 1",
        ],
        &[],
    );
    let pg_unknown_host = stderr_of(
        "psql",
        &["-h", "nowhere.invalid", "-U", "wa", "-c", "select 1"],
        &[("PGPASSWORD", "x")],
    );
    let pg_refused = stderr_of(
        "psql",
        &["-h", "127.0.0.1", "-p", "1", "-U", "wa", "-c", "select 1"],
        &[("PGPASSWORD", "x")],
    );
    let lost = lost_connection();
    let disk_full = full_disk();
    let no_host = stderr_of("curl", &["-sS", "http://wacore.invalid:6250/"], &[]);
    let tls = self_signed_tls();
    Messages {
        login_mysql,
        login_pg,
        plugin,
        too_many,
        unknown_host,
        refused,
        pg_unknown_host,
        pg_refused,
        lost,
        disk_full,
        no_host,
        tls,
    }
}

/// MariaDB with max_connections at its minimum (10) and more sessions than that from a
/// user without SUPER: error 1040.
fn too_many_connections() -> String {
    root_sql(ROOT_SOCKET_57, "SET GLOBAL max_connections = 10");
    let holders: Vec<_> = (0..14)
        .map(|_| {
            mysql(MARIADB_57, "walimited", "limited-pass", "select sleep(3)")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut errors = String::new();
    for h in holders {
        let out = h.wait_with_output().unwrap();
        errors.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    root_sql(ROOT_SOCKET_57, "SET GLOBAL max_connections = 151");
    let line = errors
        .lines()
        .find(|l| l.contains("1040"))
        .unwrap_or_else(|| panic!("no session was refused: {errors}"));
    line.to_string()
}

/// A query killed from another session: the client loses its connection (error 2013).
fn lost_connection() -> String {
    let child = mysql(MARIADB_57, "walimited", "limited-pass", "select sleep(30)")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut id = String::new();
    for _ in 0..50 {
        id = root_sql(
            ROOT_SOCKET_57,
            "select id from information_schema.processlist where user = 'walimited' and info like 'select sleep(30)%' limit 1",
        );
        if !id.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!id.is_empty(), "the sleeping session never showed up");
    root_sql(ROOT_SOCKET_57, &format!("KILL {id}"));
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    text.lines()
        .find(|l| l.contains("2013"))
        .unwrap_or_else(|| panic!("no lost connection: {text}"))
        .to_string()
}

/// dd on a 64 KiB tmpfs: ENOSPC.
fn full_disk() -> String {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().to_str().unwrap().to_string();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs", &mount])
        .status()
        .unwrap()
        .success();
    assert!(ok, "cannot mount a tmpfs (the tests run as root)");
    let out = Command::new("dd")
        .args([
            "if=/dev/zero",
            &format!("of={mount}/fill"),
            "bs=1k",
            "count=200",
        ])
        .output()
        .unwrap();
    let _ = Command::new("umount").arg(&mount).status();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    text.lines()
        .find(|l| l.contains("No space left on device"))
        .unwrap_or_else(|| panic!("dd did not fill the disk: {text}"))
        .to_string()
}

/// curl against openssl s_server with a self-signed certificate.
fn self_signed_tls() -> String {
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = (dir.path().join("k.pem"), dir.path().join("c.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-days",
            "1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "openssl req");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new("openssl")
        .args(["s_server", "-accept", &format!("127.0.0.1:{port}"), "-www"])
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        let text = stderr_of("curl", &["-sS", &format!("https://127.0.0.1:{port}/")], &[]);
        if let Some(l) = text.lines().find(|l| l.contains("SSL certificate problem")) {
            line = l.to_string();
            break;
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(!line.is_empty(), "curl never reached openssl s_server");
    line
}

/// Writes one line into the kernel's log, as the block layer prints a failed request
/// (`blk_print_req_error` in block/blk-core.c), for a disk name no host here has. Named: no
/// device here can really fail.
fn kernel_io_error() {
    let mut kmsg = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/kmsg")
        .expect("/dev/kmsg is writable by root");
    kmsg.write_all(b"<3>I/O error, dev vdwapf, sector 2048 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 2\n")
        .unwrap();
}

/// A container started with `script` run by busybox sh.
fn start(name: &str, image: &str, env: Vec<(&str, &str)>, flags: Vec<String>, script: &str) {
    run(&Spec {
        name,
        image,
        env,
        flags,
        cmd: vec!["sh", "-c", script],
    });
}

fn utc(offset: time::Duration) -> String {
    let t = time::OffsetDateTime::now_utc() + offset;
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    t.format(f).unwrap()
}

fn wait_for_exit(name: &str) {
    for _ in 0..100 {
        let state = docker(DOCKER_SOCK, &["inspect", "-f", "{{.State.Running}}", name]);
        if state.trim() == "false" {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{name} did not exit");
}

fn check(extra: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let net = dir.path().join("net.yaml");
    std::fs::write(
        &net,
        "network:\n  timeout_ms: 500\n  whatsapp:\n    - {host: 127.0.0.1, ports: [9]}\n",
    )
    .unwrap();
    let mut args = vec![
        "--docker-host",
        "unix:///var/run/docker.sock",
        "--no-statx-probe",
        "--rules",
        net.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    check_json(&args).1
}

/// (rule, status, a piece of its message) for the deployment below.
fn expected(m: &Messages) -> Vec<(&'static str, &'static str, String)> {
    vec![
        (
            "log.db_login_refused",
            "fail",
            "refused database logins".into(),
        ),
        (
            "log.db_login_refused",
            "fail",
            "password authentication failed for user".into(),
        ),
        ("log.db_auth_plugin", "fail", "client_ed25519".into()),
        ("log.db_conn_limit", "fail", "Too many connections".into()),
        (
            "log.db_unreachable",
            "fail",
            "could not reach its database".into(),
        ),
        (
            "log.db_connection_lost",
            "warn",
            "Lost connection to server during query".into(),
        ),
        ("log.disk_full", "fail", "No space left on device".into()),
        ("log.statx_denied", "fail", "Operation not permitted".into()),
        (
            "log.service_not_ready",
            "fail",
            "longer than the documented 6 minutes".into(),
        ),
        (
            "log.wacore_unreachable",
            "fail",
            "Could not resolve host: wacore.invalid".into(),
        ),
        (
            "log.tls_certificate",
            "fail",
            m.tls.split(": ").last().unwrap_or_default().to_string(),
        ),
        ("log.oom_kill", "warn", "(dd)".into()),
        (
            "log.wa_oom_killed",
            "fail",
            "wapf-log-oom was killed by the kernel's OOM killer".into(),
        ),
        ("log.block_io_error", "fail", "I/O error, dev vdwapf".into()),
    ]
}

/// Every default signature, live: the containers' output, their files and the kernel's log.
#[test]
fn every_signature_sees_the_real_message_live() {
    require_daemon(DOCKER_SOCK);
    let _s = serial();
    let _cleanup = Cleanup::new();
    let _kernel = ClearKernelLog;
    let m = produce();
    import_image(COREAPP, Some("2099-01-01"));
    import_image(WEBAPP, Some("2099-01-01"));
    import_image(DATABASE, None);
    let coreapp_lines = [
        &m.login_mysql,
        &m.login_pg,
        &m.plugin,
        &m.unknown_host,
        &m.refused,
        &m.pg_unknown_host,
        &m.pg_refused,
        &m.lost,
        &m.disk_full,
    ]
    .iter()
    .map(|s| s.as_str())
    .collect::<Vec<_>>()
    .join("\n");
    // The line of docker-library/official-images#16829, as a crash log holds it.
    let crash = "ls: cannot access '/usr/local/wamedia': Operation not permitted";
    start(
        "wapf-log-core",
        COREAPP,
        vec![
            ("LINES", &coreapp_lines),
            ("CRASH", crash),
            ("WA_SECRET", "s"),
        ],
        vec![],
        "printf '%s\\n' \"$LINES\"; mkdir -p /usr/local/waent/logs; printf '%s\\n' \"$CRASH\" > /usr/local/waent/logs/1-crash.log; sleep 600",
    );
    // The webapp: curl's failures on its output, 1011 "Service not ready" in web.log for
    // seven minutes (times as the log writes them).
    let web_lines = format!("{}\n{}", m.no_host, m.tls);
    let weblog = format!(
        "{} [error] GET /v1/health: 1011 Service not ready\n{} [error] GET /v1/health: 1011 Service not ready\n",
        utc(time::Duration::minutes(-9)),
        utc(time::Duration::minutes(-2))
    );
    start(
        "wapf-log-web",
        WEBAPP,
        vec![
            ("LINES", &web_lines),
            ("WEBLOG", &weblog),
            ("WA_SECRET", "s"),
        ],
        vec![],
        "printf '%s\\n' \"$LINES\"; mkdir -p /var/log/whatsapp; printf '%s' \"$WEBLOG\" > /var/log/whatsapp/web.log; sleep 600",
    );
    // The database beside them, refusing connections.
    start(
        "wapf-log-db",
        DATABASE,
        vec![("LINES", &m.too_many)],
        vec![],
        "printf '%s\\n' \"$LINES\"; sleep 600",
    );
    // A second coreapp, OOM-killed for real under a 16 MiB limit.
    start(
        "wapf-log-oom",
        COREAPP,
        vec![("WA_SECRET", "s")],
        vec![
            "--memory".into(),
            "16m".into(),
            "--memory-swap".into(),
            "16m".into(),
        ],
        "dd if=/dev/zero of=/dev/null bs=64M count=1",
    );
    wait_for_exit("wapf-log-oom");
    assert_eq!(
        crate::common::imitation::oom_killed_when_recorded("wapf-log-oom"),
        "true"
    );
    kernel_io_error();

    let r = check(&[]);
    for (id, status, needle) in expected(&m) {
        assert_verdict(&r, id, status, &needle);
    }
    // The example is redacted like the bundle: no password from a command line leaks.
    assert!(!r.to_string().contains("ed-pass"));

    // Offline: a bundle of this host, judged elsewhere with the current signatures, gives the
    // same findings.
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("host.tar.gz");
    let out = common::preflight()
        .args([
            "bundle",
            "--docker-host",
            "unix:///var/run/docker.sock",
            "--no-statx-probe",
            "-o",
        ])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, offline) = check_json(&["--bundle", bundle.to_str().unwrap()]);
    for (id, status, needle) in expected(&m) {
        let (got, message) = verdict(&offline, id);
        assert_eq!(got, status, "{id} from the bundle: {message}");
        assert!(
            message.contains(needle.as_str()),
            "{id} from the bundle: {message}"
        );
    }
    let logs = &offline["results"];
    assert!(
        logs.to_string().contains("bundle"),
        "the findings say they come from the bundle"
    );
}

/// A healthy deployment's logs: the container signatures pass, each naming what it read.
#[test]
fn clean_logs_pass() {
    require_daemon(DOCKER_SOCK);
    let _s = serial();
    let _cleanup = Cleanup::new();
    import_image(COREAPP, Some("2099-01-01"));
    import_image(WEBAPP, Some("2099-01-01"));
    start(
        "wapf-log-core",
        COREAPP,
        vec![("WA_SECRET", "s")],
        vec![],
        "echo started; sleep 600",
    );
    start(
        "wapf-log-web",
        WEBAPP,
        vec![("WA_SECRET", "s")],
        vec![],
        "echo started; sleep 600",
    );
    let r = check(&[]);
    for id in [
        "log.db_login_refused",
        "log.db_unreachable",
        "log.statx_denied",
        "log.service_not_ready",
        "log.wacore_unreachable",
        "log.tls_certificate",
        "log.wa_oom_killed",
    ] {
        assert_verdict(&r, id, "pass", "container wapf-log-");
    }
}
