//! The database as the client reaches it, on the real dockerd with real database servers.
//!
//! The setup scripts' compose file names the database `db`: a name Docker's embedded DNS
//! answers only inside the containers' user-defined network. Here a compose-style network holds
//! a container answering to `db` (a network alias and compose's service label), and the test
//! process forwards every connection made to it, inside that container's network namespace, to
//! a real server of the test bed (scripts/testbed-db.sh: MariaDB 10.11 on 127.0.0.1:13306,
//! PostgreSQL 13 on 127.0.0.1:15413). The checker must resolve and reach it
//! from the coreapp's namespace, as the client does; from the host the name resolves nowhere.

use crate::common;
use crate::common::serial;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::fake_webapp::{TestPki, accept_forever, fake_client_in, listen_in};
use common::imitation::{Cleanup, Spec, TEST_LABEL, import_image, run};
use common::{DOCKER_SOCK, assert_verdict, check_json, docker, require_daemon, write};

const COREAPP_IMAGE: &str = "docker.whatsapp.biz/coreapp:v2.51.2";
const WEBAPP_IMAGE: &str = "docker.whatsapp.biz/web:v2.51.2";
const SIDECAR_IMAGE: &str = "wapf-dbc-sidecar:1";
/// MariaDB 10.11, user wa / wa-pass.
const MARIADB: u16 = 13306;
/// PostgreSQL 13, user wa / wa-pass.
const PG_13: u16 = 15413;
/// PostgreSQL 13 run as the setup scripts run it (max_connections 500), user wa / wa-pass.
const PG_13_SETUP: u16 = 15433;

fn require_server(port: u16) {
    assert!(
        TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(2)
        )
        .is_ok(),
        "no database on 127.0.0.1:{port}: run ./scripts/testbed.sh (as root) before the tests"
    );
}

/// The test containers, images and networks: none before, none after (even after a failed
/// assert). Containers go first: a network in use cannot be removed.
struct Bed {
    _cleanup: Cleanup,
}

impl Bed {
    fn new() -> Bed {
        let bed = Bed {
            _cleanup: Cleanup::new(),
        };
        remove_networks();
        import_image(COREAPP_IMAGE, Some("2099-01-01"));
        import_image(WEBAPP_IMAGE, Some("2099-01-01"));
        import_image(SIDECAR_IMAGE, None);
        bed
    }

    /// A user-defined bridge network, as compose makes one.
    fn network(&self, name: &str) {
        docker(
            DOCKER_SOCK,
            &[
                "network",
                "create",
                "--label",
                &format!("{TEST_LABEL}=1"),
                name,
            ],
        );
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        common::imitation::remove_all();
        remove_networks();
    }
}

fn remove_networks() {
    let filter = format!("label={TEST_LABEL}");
    let ids = docker(DOCKER_SOCK, &["network", "ls", "-q", "--filter", &filter]);
    for id in ids.split_whitespace() {
        let _ = std::process::Command::new("docker")
            .env("DOCKER_HOST", format!("unix://{DOCKER_SOCK}"))
            .args(["network", "rm", id])
            .output();
    }
}

fn pid_of(name: &str) -> i64 {
    docker(DOCKER_SOCK, &["inspect", "-f", "{{.State.Pid}}", name])
        .parse()
        .unwrap()
}

fn ip_on(name: &str, network: &str) -> String {
    let format = format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}");
    let ip = docker(DOCKER_SOCK, &["inspect", "-f", &format, name]);
    assert!(!ip.is_empty(), "{name} has no address on {network}");
    ip
}

/// The `db` of a compose file: a container on `network` answering to `db` (compose gives the
/// service name as an alias and a label), whose port `port` forwards, inside its namespace, to
/// the real server on the host's 127.0.0.1:`upstream`.
fn db_service(name: &str, network: &str, forwards: &[(u16, u16)]) {
    run(&Spec {
        name,
        image: SIDECAR_IMAGE,
        env: vec![],
        flags: vec![
            "--network".into(),
            network.into(),
            "--network-alias".into(),
            "db".into(),
            "--label".into(),
            "com.docker.compose.project=wapf".into(),
            "--label".into(),
            "com.docker.compose.service=db".into(),
        ],
        cmd: vec!["sleep", "600"],
    });
    let pid = pid_of(name);
    for &(port, upstream) in forwards {
        forward(listen_in(Some(pid), &format!("0.0.0.0:{port}")), upstream);
    }
}

/// Joins every connection accepted on `listener` to a new one to 127.0.0.1:`upstream` (made
/// in this process's namespace, the host's), both ways, until either side closes.
fn forward(listener: TcpListener, upstream: u16) {
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            let pipe = |mut from: TcpStream, mut to: TcpStream| {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    loop {
                        match from.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if to.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
            };
            let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                continue;
            };
            pipe(client, s2);
            pipe(server, c2);
        }
    });
}

/// A coreapp imitation with these database settings (and any extra `docker run` flags).
fn coreapp(name: &str, db: &[(&str, &str)], flags: Vec<String>) {
    let mut env = vec![("WA_SECRET", "s3cret-shared")];
    env.extend_from_slice(db);
    run(&Spec {
        name,
        image: COREAPP_IMAGE,
        env,
        flags,
        cmd: vec!["sleep", "600"],
    });
}

fn mysql_env<'a>(host: &'a str, port: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("WA_DB_ENGINE", "MYSQL"),
        ("WA_DB_HOSTNAME", host),
        ("WA_DB_PORT", port),
        ("WA_DB_USERNAME", "wa"),
        ("WA_DB_PASSWORD", "wa-pass"),
    ]
}

fn on(network: &str) -> Vec<String> {
    vec!["--network".into(), network.into()]
}

/// Network targets that keep the WhatsApp reach rules quick and out of the way.
fn quiet_rules(dir: &Path) -> PathBuf {
    write(
        dir,
        "net.yaml",
        "network:\n  timeout_ms: 1000\n  whatsapp:\n    - {host: 127.0.0.1, ports: [9]}\n",
    )
}

/// `check` against the real dockerd, no statx probe, quiet network targets.
fn check(rules: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "--docker-host",
        "unix:///var/run/docker.sock",
        "--no-statx-probe",
        "--rules",
        rules.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    check_json(&args).1
}

/// The premise of these tests: this host cannot resolve the compose name.
fn assert_host_cannot_resolve(name: &str) {
    assert!(
        (name, 3306).to_socket_addrs().is_err(),
        "this host resolves {name:?} itself; the test needs a name only the containers know"
    );
}

/// The setup scripts' layout: `WA_DB_HOSTNAME=db` on the compose network. Reached from the
/// coreapp; the same settings in a db.env on the host name the container-only name; with the
/// coreapp stopped, Docker's own names still tell it from a dead database.
#[test]
fn compose_db_is_reached_from_the_coreapps_namespace() {
    require_daemon(DOCKER_SOCK);
    require_server(MARIADB);
    let _s = serial();
    assert_host_cannot_resolve("db");
    let bed = Bed::new();
    let dir = tempfile::tempdir().unwrap();
    let rules = quiet_rules(dir.path());
    bed.network("wapf-dbc-net");
    db_service("wapf-dbc-db", "wapf-dbc-net", &[(3306, MARIADB)]);
    coreapp(
        "wapf-dbc-core",
        &mysql_env("db", "3306"),
        on("wapf-dbc-net"),
    );

    let r = check(&rules, &[]);
    assert_verdict(&r, "db.configured", "pass", "from container wapf-dbc-core");
    assert_verdict(&r, "db.reachable", "pass", "connected to mariadb 10.11.");
    assert_verdict(
        &r,
        "db.reachable",
        "pass",
        "from container wapf-dbc-core in",
    );
    assert_verdict(&r, "db.engine", "fail", "MariaDB (reports 10.11");
    assert_verdict(&r, "db.grants", "pass", "may create databases");
    // `db` is a container on one of this host's bridges: the database runs here.
    let db_ip = ip_on("wapf-dbc-db", "wapf-dbc-net");
    assert_verdict(&r, "db.placement", "warn", &format!("{db_ip} is on br-"));
    assert!(!r.to_string().contains("wa-pass"), "the password leaked");
    // Resolved by the network's name server, as the client resolves it.
    assert_verdict(
        &r,
        "db.reachable",
        "pass",
        &format!("at {db_ip} (dns 127.0.0.11) from container wapf-dbc-core in"),
    );

    // The same settings from a db.env on the host: not a dead database, a container-only
    // name, reached from where it resolves.
    let env = write(
        dir.path(),
        "db.env",
        "WA_DB_ENGINE=MYSQL\nWA_DB_HOSTNAME=db\nWA_DB_PORT=3306\nWA_DB_USERNAME=wa\nWA_DB_PASSWORD=wa-pass\n",
    );
    let env_s = env.to_str().unwrap();
    let r = check(&rules, &["--db-env", env_s]);
    assert_verdict(&r, "db.configured", "pass", "from db.env");
    assert_verdict(
        &r,
        "db.reachable",
        "pass",
        "db does not resolve on this host, only inside the containers' network: reached from container wapf-dbc-core",
    );
    assert_verdict(&r, "db.engine", "fail", "MariaDB (reports 10.11");

    // The coreapp stops. From the db.env: nothing left to look from, but Docker knows `db`.
    docker(DOCKER_SOCK, &["stop", "-t", "1", "wapf-dbc-core"]);
    let r = check(&rules, &["--db-env", env_s]);
    assert_verdict(
        &r,
        "db.reachable",
        "warn",
        "db resolves only inside Docker networks: it is the compose service of container wapf-dbc-db on Docker network wapf-dbc-net",
    );
    assert_verdict(
        &r,
        "db.version",
        "skip",
        "prerequisite db.reachable is warn",
    );
    // Where Docker says `db` lives is still this host.
    assert_verdict(&r, "db.placement", "warn", &format!("{db_ip} is on br-"));
    // From the stopped coreapp's own settings: the same, saying why the host looked.
    let r = check(&rules, &[]);
    assert_verdict(&r, "db.configured", "pass", "from container wapf-dbc-core");
    assert_verdict(
        &r,
        "db.reachable",
        "warn",
        "(coreapp wapf-dbc-core is not running: the settings are its own, looked up from the host)",
    );

    // A name no network knows: dead, and said so from everywhere that was asked.
    let nowhere = write(
        dir.path(),
        "nowhere.env",
        "WA_DB_ENGINE=MYSQL\nWA_DB_HOSTNAME=nowhere.invalid\nWA_DB_USERNAME=wa\nWA_DB_PASSWORD=wa-pass\n",
    );
    let r = check(&rules, &["--db-env", nowhere.to_str().unwrap()]);
    assert_verdict(
        &r,
        "db.reachable",
        "fail",
        "nowhere.invalid does not resolve on this host",
    );
}

/// Layouts beside the compose default: the coreapp on several networks (the database on the
/// second), a hosts-file entry, an IP literal (PostgreSQL), a name that resolves nowhere and a
/// port nothing listens on — each judged from inside the coreapp.
#[test]
fn other_layouts_are_judged_from_the_coreapp() {
    require_daemon(DOCKER_SOCK);
    require_server(MARIADB);
    require_server(PG_13);
    let _s = serial();
    assert_host_cannot_resolve("db");
    let bed = Bed::new();
    let dir = tempfile::tempdir().unwrap();
    let rules = quiet_rules(dir.path());
    bed.network("wapf-dbc-front");
    bed.network("wapf-dbc-back");
    db_service(
        "wapf-dbc-db",
        "wapf-dbc-back",
        &[(3306, MARIADB), (5432, PG_13)],
    );
    let db_ip = ip_on("wapf-dbc-db", "wapf-dbc-back");

    // Several networks: started on the front one, connected to the back one later.
    coreapp(
        "wapf-dbc-core",
        &mysql_env("db", "3306"),
        on("wapf-dbc-front"),
    );
    docker(
        DOCKER_SOCK,
        &["network", "connect", "wapf-dbc-back", "wapf-dbc-core"],
    );
    let r = check(&rules, &[]);
    assert_verdict(
        &r,
        "db.reachable",
        "pass",
        "from container wapf-dbc-core in",
    );
    docker(DOCKER_SOCK, &["rm", "-f", "wapf-dbc-core"]);

    // A hosts-file entry (`extra_hosts`): a name the network's DNS does not know.
    let mut flags = on("wapf-dbc-back");
    flags.extend(["--add-host".into(), format!("dbfile.internal:{db_ip}")]);
    coreapp(
        "wapf-dbc-core",
        &mysql_env("dbfile.internal", "3306"),
        flags,
    );
    let r = check(&rules, &[]);
    assert_verdict(
        &r,
        "db.reachable",
        "pass",
        "from container wapf-dbc-core in",
    );
    assert_verdict(
        &r,
        "db.reachable",
        "pass",
        &format!("at {db_ip} (hosts file) from container wapf-dbc-core"),
    );
    docker(DOCKER_SOCK, &["rm", "-f", "wapf-dbc-core"]);

    // An IP literal, PostgreSQL through the same namespace.
    coreapp(
        "wapf-dbc-core",
        &[
            ("WA_DB_ENGINE", "PGSQL"),
            ("WA_DB_HOSTNAME", &db_ip),
            ("WA_DB_PORT", "5432"),
            ("WA_DB_USERNAME", "wa"),
            ("WA_DB_PASSWORD", "wa-pass"),
        ],
        on("wapf-dbc-back"),
    );
    let r = check(&rules, &[]);
    assert_verdict(&r, "db.reachable", "pass", "connected to postgresql 13.");
    assert_verdict(&r, "db.version", "pass", "postgresql 13.");
    assert_verdict(
        &r,
        "db.reachable",
        "pass",
        &format!("at {db_ip} (literal) from container wapf-dbc-core"),
    );
    docker(DOCKER_SOCK, &["rm", "-f", "wapf-dbc-core"]);

    // A name that resolves nowhere, asked of the coreapp's own name server.
    coreapp(
        "wapf-dbc-core",
        &mysql_env("nowhere.invalid", "3306"),
        on("wapf-dbc-back"),
    );
    let r = check(&rules, &[]);
    assert_verdict(
        &r,
        "db.reachable",
        "fail",
        "nowhere.invalid does not resolve from container wapf-dbc-core (dns 127.0.0.11:",
    );
    docker(DOCKER_SOCK, &["rm", "-f", "wapf-dbc-core"]);

    // `db` resolves, but nothing listens on that port there.
    coreapp(
        "wapf-dbc-core",
        &mysql_env("db", "3399"),
        on("wapf-dbc-back"),
    );
    let r = check(&rules, &[]);
    assert_verdict(
        &r,
        "db.reachable",
        "fail",
        &format!(
            "db:3399: {db_ip} refused the connection: no server listens there (from container wapf-dbc-core)"
        ),
    );
}

/// HA / multiconnect: two coreapps whose database settings differ fail `wa.env.db`, and the
/// links are checked from every running webapp, not only the first.
#[test]
fn several_coreapps_must_agree_and_every_webapp_is_checked() {
    require_daemon(DOCKER_SOCK);
    require_server(MARIADB);
    let _s = serial();
    let bed = Bed::new();
    let dir = tempfile::tempdir().unwrap();
    let rules = quiet_rules(dir.path());
    bed.network("wapf-dbc-net");
    db_service("wapf-dbc-db", "wapf-dbc-net", &[(3306, MARIADB)]);
    coreapp(
        "wapf-dbc-core-a",
        &mysql_env("db", "3306"),
        on("wapf-dbc-net"),
    );
    let mut other = mysql_env("db-replica", "3306");
    other[4] = ("WA_DB_PASSWORD", "another-pass");
    coreapp("wapf-dbc-core-b", &other, on("wapf-dbc-net"));
    let core_a = pid_of("wapf-dbc-core-a");
    for port in [6250, 6251, 6252, 6253] {
        accept_forever(listen_in(Some(core_a), &format!("0.0.0.0:{port}")));
    }
    for (name, core) in [
        ("wapf-dbc-web-1", "wapf-dbc-core-a"),
        ("wapf-dbc-web-2", "wapf-dbc-core-gone"),
    ] {
        let mut env = vec![("WACORE_HOSTNAME", core), ("WA_SECRET", "s3cret-shared")];
        env.extend(mysql_env("db", "3306"));
        run(&Spec {
            name,
            image: WEBAPP_IMAGE,
            env,
            flags: on("wapf-dbc-net"),
            cmd: vec!["sleep", "600"],
        });
    }

    let r = check(&rules, &[]);
    // The database is checked for the first coreapp by name, from its namespace.
    assert_verdict(
        &r,
        "db.configured",
        "pass",
        "from container wapf-dbc-core-a",
    );
    assert_verdict(&r, "db.reachable", "pass", "from container wapf-dbc-core-a");
    assert_verdict(
        &r,
        "wa.env.db",
        "fail",
        "wapf-dbc-core-b has other WA_DB_HOSTNAME, WA_DB_PASSWORD than wapf-dbc-core-a: every coreapp and webapp must use the same database",
    );
    assert_verdict(
        &r,
        "wa.env.db",
        "fail",
        "wapf-dbc-web-1 has all WA_DB_* settings",
    );
    assert!(
        !r.to_string().contains("another-pass"),
        "the password leaked"
    );
    // Both webapps are looked from: one reaches its coreapp, the other's does not exist.
    assert_verdict(
        &r,
        "wa.coreapp.links",
        "fail",
        "accepts 6250-6253 from wapf-dbc-web-1",
    );
    assert_verdict(
        &r,
        "wa.coreapp.links",
        "fail",
        "wapf-dbc-core-gone does not resolve inside wapf-dbc-web-2",
    );

    // The second coreapp agrees once it has the same settings.
    docker(DOCKER_SOCK, &["rm", "-f", "wapf-dbc-core-b"]);
    coreapp(
        "wapf-dbc-core-b",
        &[
            ("WA_DB_ENGINE", "mysql"),
            ("WA_DB_HOSTNAME", "DB"),
            ("WA_DB_PORT", "3306"),
            ("WA_DB_USERNAME", "wa"),
            ("WA_DB_PASSWORD", "wa-pass"),
        ],
        on("wapf-dbc-net"),
    );
    let r = check(&rules, &[]);
    assert_verdict(
        &r,
        "wa.env.db",
        "pass",
        "wapf-dbc-core-b has all WA_DB_* settings",
    );
}

/// A healthy imitation deployment with a good database, judged with the development profile
/// on this machine: every rule passes, is `info` or is skipped — but the ones this sandbox
/// cannot satisfy (`net.*`: no internet; `host.clock.sync`: no NTP daemon). With those waived,
/// `check` exits 0. The coreapp and webapp share one media folder and one `WA_SECRET`, drop
/// `MKNOD`, reach the database (PostgreSQL 13, run with `-N 500` as
/// the setup scripts run it) as compose's `db` and each
/// other as `wacore`; the webapp's API is the FAKE in its namespace behind its published 443.
#[test]
fn healthy_deployment_passes_the_development_profile() {
    require_daemon(DOCKER_SOCK);
    require_server(PG_13_SETUP);
    let _s = serial();
    let bed = Bed::new();
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("wamedia");
    std::fs::create_dir(&media).unwrap();
    let pki = TestPki::new();
    bed.network("wapf-dbc-net");
    db_service("wapf-dbc-db", "wapf-dbc-net", &[(5432, PG_13_SETUP)]);
    let db = [
        ("WA_DB_ENGINE", "PGSQL"),
        ("WA_DB_HOSTNAME", "db"),
        ("WA_DB_PORT", "5432"),
        ("WA_DB_USERNAME", "wa"),
        ("WA_DB_PASSWORD", "wa-pass"),
    ];
    let shared = |alias: Option<&str>, extra: &[&str]| {
        let mut flags = on("wapf-dbc-net");
        if let Some(alias) = alias {
            flags.extend(["--network-alias".into(), alias.into()]);
        }
        flags.extend([
            "--cap-drop".into(),
            "MKNOD".into(),
            "-v".into(),
            format!("{}:/usr/local/wamedia", media.display()),
        ]);
        flags.extend(extra.iter().map(|s| s.to_string()));
        flags
    };
    coreapp("wapf-dbc-core", &db, shared(Some("wacore"), &[]));
    let mut web_env = vec![
        ("WA_SECRET", "s3cret-shared"),
        ("WACORE_HOSTNAME", "wacore"),
    ];
    web_env.extend_from_slice(&db);
    run(&Spec {
        name: "wapf-dbc-web",
        image: WEBAPP_IMAGE,
        env: web_env,
        flags: shared(None, &["-p", "127.0.0.1::443"]),
        cmd: vec!["sleep", "600"],
    });
    let core = pid_of("wapf-dbc-core");
    let web = pid_of("wapf-dbc-web");
    for port in [6250, 6251, 6252, 6253] {
        accept_forever(listen_in(Some(core), &format!("0.0.0.0:{port}")));
    }
    let client = fake_client_in(core, web, &pki, dir.path());
    let config = &client.config;
    let rules = quiet_rules(dir.path());
    let args = [
        "--docker-host",
        "unix:///var/run/docker.sock",
        "--profile",
        "development",
        "--rules",
        rules.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--webhook-probe",
    ];
    let (_, r) = check_json(&args);
    let sandboxed = |id: &str| id.starts_with("net.") || id == "host.clock.sync";
    let mut wrong = Vec::new();
    let mut judged = 0;
    for result in r["results"].as_array().unwrap() {
        let id = result["id"].as_str().unwrap();
        let status = result["status"].as_str().unwrap();
        if !sandboxed(id) && !["pass", "info", "skip"].contains(&status) {
            wrong.push(format!("{id}: {status}: {}", result["message"]));
        }
        if status == "pass" {
            judged += 1;
        }
    }
    assert!(wrong.is_empty(), "not healthy:\n{}", wrong.join("\n"));
    // The deployment was really judged, not skipped wholesale.
    for id in [
        "docker.seccomp.statx",
        "wa.containers.running",
        "wa.env.db",
        "wa.env.secret",
        "wa.media.mount",
        "wa.caps",
        "wa.webapp.port",
        "wa.coreapp.links",
        "wa.api.reachable",
        "wa.health.gateway",
        "db.reachable",
        "db.engine",
        "db.version",
        "db.max_connections",
        "wa.webhook.latency",
    ] {
        assert_verdict(&r, id, "pass", "");
    }
    assert!(judged >= 25, "only {judged} rules passed");

    // Waive what this sandbox cannot give: exit 0.
    let mut waived = std::fs::read_to_string(config).unwrap();
    waived.push_str("waivers:\n");
    for result in r["results"].as_array().unwrap() {
        let id = result["id"].as_str().unwrap();
        if sandboxed(id) {
            waived.push_str(&format!(
                "  - {{id: {id}, reason: \"test sandbox: no internet, no NTP daemon\", expires: 2099-12-31}}\n"
            ));
        }
    }
    let waived = write(dir.path(), "waived.yaml", &waived);
    let mut with_waivers = args.to_vec();
    let i = with_waivers
        .iter()
        .position(|a| *a == config.to_str().unwrap())
        .unwrap();
    with_waivers[i] = waived.to_str().unwrap();
    let (code, r) = check_json(&with_waivers);
    assert_eq!(code, 0, "{}", r["summary"]);
}
