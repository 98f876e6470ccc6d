//! Nothing hangs, nothing crashes, nothing leaks through a side door (issue 18): a wedged
//! Docker socket (full listen queue, never accepts), a FIFO as every input file, device nodes
//! as output targets, out-of-range numbers everywhere they are parsed, a db.env line that
//! would quote a password, a bundle killed mid-run, 1,100 idle connections under a
//! 1024-descriptor limit and a history database deleted under the daemon.
//!
//! Each case runs the real binary and asserts the outcome within a generous deadline that
//! proves "does not hang", not a performance target.

use crate::common;
use crate::common::{quiet, serial};

use std::io::Read;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::daemon::{Daemon, gauge, http};
use common::{fixture, preflight};

/// The binary under test, as a plain process (for signals and deadlines).
fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_preflight"));
    c.env("WA_PREFLIGHT_CONFIG", "/dev/null")
        .env_remove("RUST_LOG")
        .env_remove("DOCKER_HOST");
    c
}

/// Runs `cmd` and waits at most `deadline` for it; fails the test (killing it) if it hangs.
fn finish_within(mut cmd: Command, deadline: Duration, what: &str) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let started = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(deadline) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!(
                "{what} did not finish within {deadline:?} (ran {:?})",
                started.elapsed()
            );
        }
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

/// A unix socket whose listen queue is full and that never accepts: a wedged dockerd.
struct Wedged {
    path: PathBuf,
    _listener: std::os::unix::net::UnixListener,
    _held: Vec<tokio::net::UnixStream>,
    _rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl Wedged {
    fn start() -> Wedged {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        // SAFETY: listen(2) on a socket we own, lowering its backlog to the minimum.
        assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut held = Vec::new();
        rt.block_on(async {
            loop {
                match tokio::net::UnixStream::connect(&path).await {
                    Ok(s) => held.push(s),
                    Err(e) => {
                        assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}");
                        break;
                    }
                }
                assert!(held.len() < 1000, "the listen queue never filled");
            }
        });
        Wedged {
            path,
            _listener: listener,
            _held: held,
            _rt: rt,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("unix://{}", self.path.display())
    }
}

/// The daemon without the statx probe, run by `prefix` (a wrapper such as `prlimit … --`)
/// when given, started within 30 s.
fn start(dir: &Path, prefix: &[&str], args: &[&str]) -> Daemon {
    let cmd = match prefix.split_first() {
        Some((program, rest)) => {
            let mut c = Command::new(program);
            c.args(rest).arg(env!("CARGO_BIN_EXE_preflight"));
            c
        }
        None => Daemon::binary(),
    };
    let mut all = vec!["--no-statx-probe"];
    all.extend_from_slice(args);
    Daemon::spawn(cmd, dir, &all, Duration::from_secs(30))
}

/// The files of a .tar.gz bundle: (path, content).
fn bundle_files(path: &Path) -> Vec<(String, String)> {
    let f = std::fs::File::open(path).unwrap();
    let mut a = tar::Archive::new(flate2::read::GzDecoder::new(f));
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let p = e.path().unwrap().display().to_string();
            let mut s = String::new();
            let _ = e.read_to_string(&mut s);
            (p, s)
        })
        .collect()
}

/// A wedged dockerd (full listen queue, never accepts) costs `check`, `bundle` and the daemon
/// at most their Docker deadline: they finish, /healthz answers and SIGTERM stops the daemon.
#[test]
fn a_wedged_docker_socket_hangs_nothing() {
    let _s = serial();
    let wedged = Wedged::start();
    let url = wedged.url();
    let dir = tempfile::tempdir().unwrap();

    let mut check = bin();
    check.args([
        "check",
        "--format",
        "json",
        "--no-statx-probe",
        "--docker-timeout",
        "2",
        "--docker-host",
        &url,
    ]);
    let out = finish_within(check, Duration::from_secs(90), "check");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no report ({e}): {}", text(&out)));
    let docker = common::result(&report, "docker.reachable");
    assert!(
        docker["message"]
            .as_str()
            .unwrap()
            .contains("listen queue is full"),
        "{docker}"
    );

    let out_file = dir.path().join("b.tar.gz");
    let mut bundle = bin();
    bundle
        .args(["bundle", "--docker-timeout", "2", "--docker-host", &url])
        .arg("--facts")
        .arg(fixture("debian12-ci"))
        .arg("-o")
        .arg(&out_file);
    let out = finish_within(bundle, Duration::from_secs(120), "bundle");
    assert!(out.status.success(), "{}", text(&out));
    assert!(out_file.exists());

    let d = start(
        dir.path(),
        &[],
        &[
            "--interval",
            "3600",
            "--docker-timeout",
            "2",
            "--docker-host",
            &url,
        ],
    );
    // The first run finishes (readiness) and /healthz answers with its verdict.
    d.wait_within("/readyz", "an answer", Duration::from_secs(90), |c, _| {
        c == 200
    });
    d.wait_within("/healthz", "an answer", Duration::from_secs(10), |c, _| {
        c == 200 || c == 503
    });
    d.wait_within(
        "/v1/report",
        "an answer",
        Duration::from_secs(10),
        |c, b| c == 200 && b.contains("listen queue is full"),
    );
    d.stop_within(Duration::from_secs(5));
}

/// A FIFO given as any input file is refused at once with a clear message, never read.
#[test]
fn a_fifo_as_any_input_file_is_refused() {
    let _cores = crate::common::shared();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let f = fifo.to_str().unwrap();
    let quick = [
        "--no-statx-probe",
        "--docker-host",
        "unix:///nonexistent/docker.sock",
    ];
    // Files read while gathering: the fact says why it is unavailable.
    let config = dir.path().join("env-file.yaml");
    std::fs::write(&config, format!("database:\n  env_file: {f}\n")).unwrap();
    let gathered: Vec<(&str, Vec<&str>)> = vec![
        ("--db-env", vec!["--db-env", f]),
        (
            "--db-password-file",
            vec![
                "--db-host",
                "127.0.0.1",
                "--db-engine",
                "mysql",
                "--db-user",
                "u",
                "--db-password-file",
                f,
            ],
        ),
        ("--daemon-json", vec!["--daemon-json", f]),
        (
            "--api-token-file",
            vec!["--api-url", "http://127.0.0.1:9", "--api-token-file", f],
        ),
        (
            "--api-ca-file",
            vec!["--api-url", "https://127.0.0.1:9", "--api-ca-file", f],
        ),
        (
            "database.env_file",
            vec!["--config", config.to_str().unwrap()],
        ),
    ];
    for (what, args) in gathered {
        let mut c = bin();
        c.args(["facts"]);
        if what == "--daemon-json" {
            // daemon.json is read once the engine answered: the test bed's real dockerd.
            common::require_daemon(common::DOCKER_SOCK);
            c.args(["--no-statx-probe", "--docker-host"])
                .arg(format!("unix://{}", common::DOCKER_SOCK));
        } else {
            c.args(quick);
        }
        c.args(&args);
        let out = finish_within(c, Duration::from_secs(60), what);
        let t = text(&out);
        assert!(
            t.contains("is a FIFO (named pipe), not a regular file"),
            "{what}: {t}"
        );
    }
    // Files read before anything runs: exit 2 naming the file.
    for (what, args) in [
        ("--config", vec!["check", "--config", f]),
        ("--rules", vec!["rules", "--rules", f]),
        ("--facts", vec!["check", "--facts", f]),
    ] {
        let mut c = bin();
        c.args(&args);
        let out = finish_within(c, Duration::from_secs(30), what);
        assert_eq!(out.status.code(), Some(2), "{what}: {}", text(&out));
        let t = text(&out);
        assert!(t.contains(f) && t.contains("is a FIFO"), "{what}: {t}");
    }
    // --include: the bundle is written, the FIFO is listed as not collected.
    let out_file = dir.path().join("b.tar.gz");
    let mut c = bin();
    c.args(["bundle", "--include", f])
        .args(quick)
        .arg("--facts")
        .arg(fixture("debian12-ci"))
        .arg("-o")
        .arg(&out_file);
    let out = finish_within(c, Duration::from_secs(120), "--include");
    assert!(out.status.success(), "{}", text(&out));
    let files = bundle_files(&out_file);
    let (_, manifest) = files
        .iter()
        .find(|(p, _)| p.ends_with("manifest.json"))
        .unwrap();
    let manifest: serde_json::Value = serde_json::from_str(manifest).unwrap();
    let include = manifest["collectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "include")
        .unwrap();
    assert_eq!(include["status"], "failed", "{include}");
    assert!(
        include["error"].as_str().unwrap().contains("is a FIFO"),
        "{include}"
    );
}

/// Device nodes (made here by mknod, never the real /dev/null) and FIFOs as output targets
/// are written through, never replaced by a regular file.
#[test]
fn device_node_outputs_are_written_in_place() {
    let _cores = crate::common::shared();
    let dir = tempfile::tempdir().unwrap();
    let null = dir.path().join("null");
    assert!(
        Command::new("mknod")
            .arg(&null)
            .args(["c", "1", "3"])
            .status()
            .unwrap()
            .success(),
        "mknod needs root (the test bed runs as root)"
    );
    let facts = fixture("debian12-ci");
    let is_device = || {
        std::fs::symlink_metadata(&null)
            .unwrap()
            .file_type()
            .is_char_device()
    };
    for args in [
        vec!["check", "-o"],
        vec!["check", "--format", "json", "--prometheus-file"],
    ] {
        let out = preflight()
            .args(&args)
            .arg(&null)
            .arg("--facts")
            .arg(&facts)
            .output()
            .unwrap();
        assert!(
            matches!(out.status.code(), Some(0 | 3 | 4)),
            "{args:?}: {}",
            text(&out)
        );
        assert!(is_device(), "{args:?} replaced the device node");
    }
    let out = preflight()
        .args([
            "bundle",
            "--no-statx-probe",
            "--docker-host",
            "unix:///nonexistent/docker.sock",
            "-o",
        ])
        .arg(&null)
        .arg("--facts")
        .arg(&facts)
        .output()
        .unwrap();
    assert!(out.status.success(), "bundle: {}", text(&out));
    assert!(is_device(), "bundle replaced the device node");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("null")]);
    // A directory is refused with a message, exit 1, nothing written.
    let out = preflight()
        .args(["check", "-o"])
        .arg(dir.path())
        .arg("--facts")
        .arg(&facts)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("is a directory"), "{}", text(&out));
}

/// Every out-of-range number of the issue, and more of the kind: exit 2 with the flag or
/// `file:line:col`, never a panic (101) or an abort (134).
#[test]
fn out_of_range_numbers_are_located_errors() {
    let _cores = crate::common::shared();
    let dir = tempfile::tempdir().unwrap();
    let facts = fixture("debian12-ci");
    let facts = facts.to_str().unwrap();
    let mut cases: Vec<(Vec<String>, &str)> = Vec::new();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    for (flag, value) in [
        ("--docker-timeout", "1e300"),
        ("--docker-timeout", ".inf"),
        ("--docker-timeout", "inf"),
        ("--db-timeout", "1e19"),
        ("--api-timeout", "NaN"),
        ("--db-samples", "18446744073709551615"),
    ] {
        cases.push((s(&["check", flag, value]), flag));
        cases.push((s(&["bundle", "-o", "/nonexistent/x", flag, value]), flag));
        cases.push((s(&["daemon", flag, value]), flag));
    }
    cases.push((
        s(&[
            "bundle",
            "-o",
            "/nonexistent/x",
            "--since",
            "999999999999d",
            "--facts",
            facts,
        ]),
        "--since",
    ));
    cases.push((
        s(&[
            "bundle",
            "-o",
            "/nonexistent/x",
            "--until",
            "99999999999999999999s",
            "--facts",
            facts,
        ]),
        "--until",
    ));
    cases.push((
        s(&[
            "bundle",
            "-o",
            "/nonexistent/x",
            "--max-file-size",
            "99999999999999999999TiB",
            "--facts",
            facts,
        ]),
        "--max-file-size",
    ));
    cases.push((
        s(&[
            "history",
            "--history",
            "/nonexistent/h.db",
            "--since",
            "999999999999d",
        ]),
        "--since",
    ));
    cases.push((
        s(&[
            "history",
            "--history",
            "/nonexistent/h.db",
            "--limit",
            "18446744073709551615",
        ]),
        "--limit",
    ));
    cases.push((
        s(&["daemon", "--interval", "18446744073709551615"]),
        "--interval",
    ));
    // The config file: every command that reads it.
    for (name, text, line) in [
        ("t1.yaml", "docker:\n  timeout_seconds: 1e300\n", 2),
        ("t2.yaml", "client:\n  timeout_seconds: .inf\n", 2),
        (
            "t3.yaml",
            "database:\n  host: h\n  samples: 18446744073709551615\n",
            3,
        ),
        (
            "t4.yaml",
            "daemon:\n  intervals:\n    base: 18446744073709551615\n",
            3,
        ),
        (
            "t5.yaml",
            "daemon:\n  history:\n    retention_days: 999999999999\n",
            3,
        ),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let at: &'static str = Box::leak(format!("{}:{line}:", p.display()).into_boxed_str());
        let p = p.to_str().unwrap().to_string();
        cases.push((s(&["check", "--facts", facts, "--config", &p]), at));
        cases.push((
            s(&[
                "bundle",
                "-o",
                "/nonexistent/x",
                "--facts",
                facts,
                "--config",
                &p,
            ]),
            at,
        ));
        cases.push((s(&["daemon", "--config", &p]), at));
    }
    // A rules file.
    let rules = dir.path().join("r.yaml");
    std::fs::write(
        &rules,
        "network:\n  whatsapp: []\n  timeout_ms: 18446744073709551615\nrules: []\n",
    )
    .unwrap();
    let at: &'static str = Box::leak(format!("{}:3:", rules.display()).into_boxed_str());
    cases.push((s(&["rules", "--rules", rules.to_str().unwrap()]), at));
    for (args, needle) in cases {
        let out = preflight()
            .args(&args)
            .timeout(Duration::from_secs(30))
            .output()
            .unwrap();
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {t}");
        assert!(t.contains(needle), "{args:?} does not name {needle}: {t}");
        assert!(!t.contains("panicked"), "{args:?}: {t}");
    }
    // db.env: the port's line, in the facts.
    let env = dir.path().join("db.env");
    std::fs::write(
        &env,
        "WA_DB_ENGINE=MYSQL\nWA_DB_HOSTNAME=127.0.0.1\nWA_DB_USERNAME=u\nWA_DB_PORT=99999999999999999999\n",
    )
    .unwrap();
    let out = preflight()
        .args([
            "facts",
            "--no-statx-probe",
            "--docker-host",
            "unix:///nonexistent/docker.sock",
            "--db-env",
        ])
        .arg(&env)
        .output()
        .unwrap();
    let t = text(&out);
    assert!(
        t.contains(&format!(
            "{}:4: WA_DB_PORT: 99999999999999999999 is out of range",
            env.display()
        )),
        "{t}"
    );
}

/// The daemon: an out-of-range query is a 400 (the connection is not dropped), a reload with
/// an out-of-range number is rejected and the old config kept; `Bearer` in any case works.
#[test]
fn the_daemon_refuses_out_of_range_queries_and_reloads() {
    let _s = quiet();
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "t0k3n\n").unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!("daemon:\n  token_file: {}\n", token.display()),
    )
    .unwrap();
    let d = start(
        dir.path(),
        &[],
        &[
            "--interval",
            "3600",
            "--docker-host",
            "unix:///nonexistent/docker.sock",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    let get = |path: &str, auth: &str| {
        http(
            &d.addr,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n"
            ),
        )
    };
    // RFC 7235: the scheme is case-insensitive.
    for auth in ["Bearer t0k3n", "bearer t0k3n", "BEARER  t0k3n"] {
        assert_eq!(get("/metrics", auth).0, 200, "{auth}");
    }
    assert_eq!(get("/metrics", "Basic t0k3n").0, 401);
    for q in [
        "since=999999999999d",
        "since=99999999999999999999",
        "since=9223372036854775807d",
        "limit=18446744073709551615",
        "limit=0",
    ] {
        let (code, body) = get(&format!("/v1/history?{q}"), "Bearer t0k3n");
        assert_eq!(code, 400, "{q}: {body}");
        assert!(body.contains("error"), "{q}: {body}");
    }
    // SIGHUP with an out-of-range number: rejected, the old config (and token) kept.
    std::fs::write(
        &config,
        format!(
            "daemon:\n  token_file: {}\ndocker:\n  timeout_seconds: .inf\n",
            token.display()
        ),
    )
    .unwrap();
    d.signal("HUP");
    let started = Instant::now();
    loop {
        let (c, m) = get("/metrics", "Bearer t0k3n");
        if c == 200 && gauge(&m, "wa_preflight_config_reload_ok") == Some(0.0) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{c}: {m}\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(d.log().contains("reload rejected"), "{}", d.log());
    assert!(!d.log().contains("panicked"), "{}", d.log());
    d.stop_within(Duration::from_secs(5));
}

/// A db.env line without `=` never puts the password anywhere: not the report, the facts,
/// the daemon's unauthenticated /healthz or its log.
#[test]
fn a_db_env_error_never_quotes_the_password() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("db.env");
    let secret = "Zq9-s3cr=et-pw";
    std::fs::write(
        &env,
        format!("WA_DB_ENGINE=MYSQL\nWA_DB_HOSTNAME=127.0.0.1\nWA_DB_USERNAME=u\nWA_DB_PASSWORD {secret}\n"),
    )
    .unwrap();
    let out = preflight()
        .args([
            "check",
            "--format",
            "json",
            "--no-statx-probe",
            "--docker-host",
            "unix:///nonexistent/docker.sock",
            "--db-env",
        ])
        .arg(&env)
        .output()
        .unwrap();
    let t = text(&out);
    assert!(
        t.contains(&format!("{}:4: expected KEY=VALUE", env.display())),
        "{t}"
    );
    assert!(!t.contains("s3cr"), "{t}");
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!("database:\n  env_file: {}\n", env.display()),
    )
    .unwrap();
    let d = start(
        dir.path(),
        &[],
        &[
            "--interval",
            "3600",
            "--docker-host",
            "unix:///nonexistent/docker.sock",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    d.wait_within("/readyz", "an answer", Duration::from_secs(60), |c, _| {
        c == 200
    });
    let (_, health) = d.get("/healthz");
    let (_, report) = d.get("/v1/report");
    assert!(report.contains("expected KEY=VALUE"), "{report}");
    for shown in [&health, &report, &d.get("/metrics").1, &d.log()] {
        assert!(!shown.contains("s3cr"), "{shown}");
    }
    d.stop_within(Duration::from_secs(5));
}

/// The bundle's scratch folder is 0700 with 0600 files while it runs, and is gone after
/// SIGTERM or SIGINT mid-run (as is the bundle's temp file). A slow host command keeps the
/// bundle running: a FAKE `timedatectl` that sleeps (no real command here is slow on demand).
#[test]
fn a_killed_bundle_leaves_no_scratch_space() {
    let _s = quiet();
    for sig in ["TERM", "INT"] {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("tmp");
        let fake_bin = dir.path().join("bin");
        let out_dir = dir.path().join("out");
        for d in [&tmp, &fake_bin, &out_dir] {
            std::fs::create_dir(d).unwrap();
        }
        let fake = fake_bin.join("timedatectl");
        std::fs::write(&fake, "#!/bin/sh\nexec sleep 60\n").unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("{}:{}", fake_bin.display(), std::env::var("PATH").unwrap());
        let mut child = bin()
            .env("TMPDIR", &tmp)
            .env("PATH", path)
            .args([
                "bundle",
                "--no-statx-probe",
                "--docker-host",
                "unix:///nonexistent/docker.sock",
                "--facts",
            ])
            .arg(fixture("debian12-ci"))
            .arg("-o")
            .arg(out_dir.join("b.tar.gz"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait for the scratch folder and its first files.
        let started = Instant::now();
        let scratch = loop {
            let found = std::fs::read_dir(&tmp)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| {
                    p.file_name()
                        .unwrap()
                        .to_string_lossy()
                        .starts_with("wa-preflight-bundle-")
                        && std::fs::read_dir(p)
                            .map(|d| d.count() >= 2)
                            .unwrap_or(false)
                });
            if let Some(p) = found {
                break p;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no scratch folder"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&scratch), 0o700, "scratch folder");
        for f in std::fs::read_dir(&scratch).unwrap() {
            let f = f.unwrap().path();
            assert_eq!(mode(&f), 0o600, "{}", f.display());
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the bundle ended too soon"
        );
        assert!(
            Command::new("kill")
                .args([&format!("-{sig}"), &child.id().to_string()])
                .status()
                .unwrap()
                .success()
        );
        let started = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "SIG{sig} did not stop the bundle"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let want = if sig == "TERM" { 143 } else { 130 };
        assert_eq!(status.code(), Some(want), "SIG{sig}: {err}");
        assert!(!scratch.exists(), "SIG{sig} left {}", scratch.display());
        assert_eq!(
            std::fs::read_dir(&tmp).unwrap().count(),
            0,
            "SIG{sig}: tmp not empty"
        );
        assert_eq!(
            std::fs::read_dir(&out_dir).unwrap().count(),
            0,
            "SIG{sig}: output left"
        );
    }
}

/// 1,100 idle connections against a daemon limited to 1024 descriptors: /healthz still
/// answers (idle connections are closed by the header timeout; the cap keeps descriptors for
/// the daemon's own work), and the packaged unit raises the limit.
#[test]
fn idle_connections_cannot_starve_the_daemon() {
    let _s = quiet();
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/systemd/wa-preflightd.service"),
    )
    .unwrap();
    let limit: u64 = unit
        .lines()
        .find_map(|l| l.strip_prefix("LimitNOFILE="))
        .expect("LimitNOFILE in the unit")
        .parse()
        .unwrap();
    assert!(limit > 1024, "LimitNOFILE={limit}");

    let dir = tempfile::tempdir().unwrap();
    let d = start(
        dir.path(),
        &["prlimit", "--nofile=1024:1024", "--"],
        &[
            "--interval",
            "3600",
            "--docker-host",
            "unix:///nonexistent/docker.sock",
        ],
    );
    d.wait_within("/readyz", "an answer", Duration::from_secs(60), |c, _| {
        c == 200
    });
    let mut idle = Vec::new();
    for i in 0..1100 {
        match TcpStream::connect(&d.addr) {
            Ok(s) => idle.push(s),
            Err(e) => panic!("connection {i}: {e}"),
        }
    }
    let started = Instant::now();
    let (code, body) = loop {
        let (code, body) = d.get("/healthz");
        if code != 0 {
            break (code, body);
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "/healthz unanswered behind 1,100 idle connections: {}",
            d.log()
        );
    };
    assert!(code == 200 || code == 503, "{code}: {body}");
    // The idle ones were closed by the server, not by us.
    let mut buf = [0u8; 1];
    idle[0]
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    assert_eq!(
        idle[0].read(&mut buf).unwrap_or(0),
        0,
        "idle connection still open"
    );
    drop(idle);
    d.stop_within(Duration::from_secs(5));
}

/// The history database deleted (or replaced) under the running daemon is noticed on the
/// next write and recreated; history_ok says whether the run was recorded.
#[test]
fn a_deleted_history_database_is_recreated() {
    let _s = quiet();
    let dir = tempfile::tempdir().unwrap();
    let d = start(
        dir.path(),
        &[],
        &[
            "--interval",
            "1",
            "--docker-host",
            "unix:///nonexistent/docker.sock",
        ],
    );
    let db = dir.path().join("history.db");
    let runs = || -> i64 {
        let out = preflight()
            .args(["history", "--runs", "--format", "json", "--history"])
            .arg(&db)
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .ok()
            .and_then(|v| v["runs"].as_array().map(|a| a.len() as i64))
            .unwrap_or(-1)
    };
    let wait_runs = |n: i64| {
        let started = Instant::now();
        while runs() < n {
            assert!(started.elapsed() < Duration::from_secs(60), "{}", d.log());
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait_runs(2);
    for f in ["history.db", "history.db-wal", "history.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join(f));
    }
    wait_runs(2);
    assert!(d.log().contains("was deleted while open"), "{}", d.log());
    let (_, m) = d.get("/metrics");
    assert_eq!(gauge(&m, "wa_preflight_history_ok"), Some(1.0), "{m}");
    // Replaced by another file: the same.
    let other = dir.path().join("other.db");
    std::fs::write(&other, b"").unwrap();
    std::fs::rename(&other, &db).unwrap();
    wait_runs(1);
    let started = Instant::now();
    while !d.log().contains("was replaced by another file while open") {
        assert!(started.elapsed() < Duration::from_secs(30), "{}", d.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    d.stop_within(Duration::from_secs(5));
}
