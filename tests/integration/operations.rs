//! Operating conventions, checked with the ecosystem's own tools: `promtool check metrics` on
//! the daemon's `/metrics` and on `check --format prometheus`, the Grafana dashboard against
//! the names the daemon really exports, the journal stream format (`JOURNAL_STREAM`), the
//! first run's one summary line, the landing page, and the timer's report file and journal line
//! run from the shipped unit's own `ExecStart`.

use crate::common;
use crate::common::serial;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::daemon::{Daemon, gauge};
use common::imitation::{Spec, import_image, run};
use common::{DOCKER_SOCK, require_daemon};

/// One run an hour (only the first happens in a test), no Docker, no statx probe.
const ONE_RUN_NO_DOCKER: [&str; 5] = [
    "--interval",
    "3600",
    "--no-statx-probe",
    "--docker-host",
    "unix:///nonexistent/docker.sock",
];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// `DEVICE:INODE` of a file, as systemd puts a stream's into `JOURNAL_STREAM`.
fn stream_id(path: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).unwrap();
    format!("{}:{}", m.dev(), m.ino())
}

/// Starts the daemon within 20 s; `journal` sets `JOURNAL_STREAM` to the log file's identity,
/// as systemd does for a service whose output goes to the journal.
fn start(dir: &Path, args: &[&str], journal: bool) -> Daemon {
    let log = common::daemon::log_path(dir);
    std::fs::File::create(&log).unwrap();
    let mut cmd = Daemon::binary();
    cmd.env_remove("JOURNAL_STREAM");
    if journal {
        cmd.env("JOURNAL_STREAM", stream_id(&log));
    }
    let mut d = Daemon::spawn(cmd, dir, args, Duration::from_secs(20));
    d.patience = Duration::from_secs(90);
    d
}

/// `promtool check metrics` on `text`: (exit code, everything it printed). Fails the test
/// (never skips it) when promtool is missing.
fn promtool_check_metrics(text: &str) -> (i32, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package): run ./scripts/testbed.sh first");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), said)
}

/// Metric family names in a text exposition (`# TYPE name …`).
fn families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Every PromQL expression of the dashboard: panel targets and template variable queries.
fn dashboard_queries(dash: &serde_json::Value) -> Vec<String> {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("expr" | "definition", serde_json::Value::String(s)) => {
                            out.push(s.clone())
                        }
                        ("query", serde_json::Value::String(s)) if s.contains('(') => {
                            out.push(s.clone())
                        }
                        _ => walk(x, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(dash, &mut out);
    out
}

/// The `wa_preflight_*` metric names an expression uses.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(i) = rest.find("wa_preflight_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

/// Removes this file's containers and images (only those: other test binaries may be using
/// the shared daemon), now and on drop.
struct OwnContainers {
    names: Vec<&'static str>,
    images: Vec<&'static str>,
}

impl OwnContainers {
    fn remove(&self) {
        for n in &self.names {
            let _ = Command::new("docker")
                .env("DOCKER_HOST", format!("unix://{DOCKER_SOCK}"))
                .args(["rm", "-f", "-v", n])
                .output();
        }
        for i in &self.images {
            let _ = Command::new("docker")
                .env("DOCKER_HOST", format!("unix://{DOCKER_SOCK}"))
                .args(["rmi", "-f", i])
                .output();
        }
    }
}

impl Drop for OwnContainers {
    fn drop(&mut self) {
        self.remove();
    }
}

const CORE_IMAGE: &str = "docker.whatsapp.biz/coreapp:v2.51.9";
const WEB_IMAGE: &str = "docker.whatsapp.biz/web:v2.51.9";

/// The daemon's `/metrics` with every family a fleet graphs (containers with an expiry, a real
/// PostgreSQL's latency, filesystems and their flush latency) passes `promtool check metrics`
/// with no finding; every metric the shipped dashboard queries is one it exports; `/` lists
/// the endpoints; the first run is one log line.
#[test]
fn daemon_metrics_lint_clean_and_feed_the_dashboard() {
    require_daemon(DOCKER_SOCK);
    let _s = serial();
    let own = OwnContainers {
        names: vec!["wapf-ops-core", "wapf-ops-web"],
        images: vec![CORE_IMAGE, WEB_IMAGE],
    };
    own.remove();
    import_image(CORE_IMAGE, Some("2099-01-01"));
    import_image(WEB_IMAGE, Some("2099-01-01"));
    for (name, image) in [("wapf-ops-core", CORE_IMAGE), ("wapf-ops-web", WEB_IMAGE)] {
        run(&Spec {
            name,
            image,
            env: vec![],
            flags: vec![],
            cmd: vec!["sleep", "600"],
        });
    }
    let dir = tempfile::tempdir().unwrap();
    // The test bed's PostgreSQL 15 (trust for postgres on 127.0.0.1).
    let d = start(
        dir.path(),
        &[
            "--interval",
            "3600",
            "--no-statx-probe",
            "--db-url",
            "postgres://postgres@127.0.0.1:15415/postgres",
        ],
        false,
    );
    let m = d.wait_for("/metrics", "the first run", |c, b| {
        c == 200 && b.contains("wa_preflight_run_id")
    });
    let names = families(&m);
    for want in [
        "wa_preflight_build_info",
        "wa_preflight_rule_status",
        "wa_preflight_container_restarts",
        "wa_preflight_client_expiry_timestamp_seconds",
        "wa_preflight_db_latency_p95_seconds",
        "wa_preflight_filesystem_free_bytes",
        "wa_preflight_disk_sync_write_p50_seconds",
        "wa_preflight_ready",
    ] {
        assert!(names.contains(want), "{want} missing from /metrics:\n{m}");
    }
    // Base units: the expiry is the Unix time of 2099-01-01 00:00 UTC.
    assert_eq!(
        gauge(
            &m,
            "wa_preflight_client_expiry_timestamp_seconds{name=\"wapf-ops-core\",role=\"coreapp\"}"
        ),
        Some(4_070_908_800.0),
        "{m}"
    );
    let build = m
        .lines()
        .find(|l| l.starts_with("wa_preflight_build_info{"))
        .unwrap();
    assert!(
        build.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION")))
            && build.contains("rules_version=\"")
            && build.ends_with(" 1"),
        "{build}"
    );
    let (code, said) = promtool_check_metrics(&m);
    assert_eq!((code, said.as_str()), (0, ""), "promtool on /metrics:\n{m}");

    // The dashboard loads and queries only what the daemon exports.
    let text = std::fs::read_to_string(repo("packaging/grafana/wa-preflight.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    assert!(dash["panels"].as_array().is_some_and(|p| p.len() >= 10));
    let queries = dashboard_queries(&dash);
    assert!(queries.len() >= 12, "{queries:?}");
    let mut used = BTreeSet::new();
    for q in &queries {
        let n = metric_names(q);
        assert!(
            !n.is_empty(),
            "a query that reads no wa-preflight metric: {q}"
        );
        used.extend(n);
    }
    let unknown: Vec<&String> = used.iter().filter(|n| !names.contains(*n)).collect();
    assert!(
        unknown.is_empty(),
        "the dashboard queries metrics the daemon does not export: {unknown:?}"
    );
    for want in [
        "wa_preflight_rule_status",
        "wa_preflight_db_latency_p95_seconds",
        "wa_preflight_filesystem_free_bytes",
        "wa_preflight_disk_sync_write_p50_seconds",
        "wa_preflight_client_expiry_timestamp_seconds",
        "wa_preflight_last_run_timestamp_seconds",
    ] {
        assert!(used.contains(want), "the dashboard does not show {want}");
    }

    // `/`: a landing page linking the endpoints (node_exporter's convention), not a 404.
    let (code, ctype, body) = d.get_typed("/");
    assert_eq!(code, 200, "{body}");
    assert!(ctype.starts_with("text/html"), "{ctype}");
    for link in [
        "/metrics",
        "/healthz",
        "/readyz",
        "/v1/report",
        "/v1/history",
    ] {
        assert!(body.contains(&format!("href=\"{link}\"")), "{body}");
    }

    // The first run: one summary line, not one "none -> pass" line per rule.
    let log = d.log();
    assert_eq!(log.matches("first run: ").count(), 1, "{log}");
    assert!(!log.contains("none ->"), "{log}");
    drop(d);
    drop(own);
}

/// `check --format prometheus` passes `promtool check metrics` with no finding, for every
/// fixture host (every status, waivers, info, skips).
#[test]
fn check_prometheus_lint_clean() {
    let _cores = crate::common::shared();
    let mut checked = 0;
    for entry in std::fs::read_dir(repo("fixtures")).unwrap().flatten() {
        let facts = entry.path().join("facts.json");
        if !facts.exists() {
            continue;
        }
        let out = common::preflight()
            .args(["check", "--format", "prometheus", "--facts"])
            .arg(&facts)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("wa_preflight_rule_status{"),
            "{}: {}",
            facts.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let (code, said) = promtool_check_metrics(&text);
        assert_eq!(
            (code, said.as_str()),
            (0, ""),
            "promtool on {}:\n{text}",
            facts.display()
        );
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} fixtures");
}

/// Under systemd (`JOURNAL_STREAM` naming standard error): `<N>` priority prefixes and no
/// timestamps of our own; the first run's summary is a warning when rules fail. Anywhere
/// else (the variable inherited but naming another file): today's format.
#[test]
fn journal_stream_gets_priorities_and_no_timestamps() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path(), &ONE_RUN_NO_DOCKER, true);
    d.wait_for("/readyz", "ready", |c, _| c == 200);
    let started = Instant::now();
    while !d.log().contains("first run: ") {
        assert!(started.elapsed() < Duration::from_secs(30), "{}", d.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = d.log();
    drop(d);
    let stamp = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d").unwrap();
    let prefix = regex::Regex::new(r"^<[0-7]>").unwrap();
    for line in log.lines() {
        assert!(prefix.is_match(line), "no priority prefix: {line:?}\n{log}");
        assert!(!stamp.is_match(line), "a timestamp of our own: {line:?}");
        assert!(!line.contains('\x1b'), "colour codes: {line:?}");
    }
    assert!(
        log.contains("<6>wa_preflight::daemon: serving on http://"),
        "{log}"
    );
    // No Docker here, so rules fail: the summary is a warning (journalctl -p warning).
    assert!(
        log.lines().any(
            |l| l.starts_with("<4>wa_preflight::transition: first run: ") && l.contains(" fail (")
        ),
        "{log}"
    );

    // JOURNAL_STREAM inherited, but standard error is another file: the terminal format.
    let other = dir.path().join("other");
    std::fs::write(&other, "").unwrap();
    let err = dir.path().join("plain.log");
    let out = Command::new(env!("CARGO_BIN_EXE_preflight"))
        .env("WA_PREFLIGHT_CONFIG", "/dev/null")
        .env("JOURNAL_STREAM", stream_id(&other))
        .args(["check", "--config", "/nonexistent/config.yaml"])
        .stderr(std::fs::File::create(&err).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let plain = std::fs::read_to_string(&err).unwrap();
    assert!(plain.starts_with("preflight: "), "{plain}");

    // The same error into the journal: priority 3.
    let err = dir.path().join("journal.log");
    std::fs::write(&err, "").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_preflight"))
        .env("WA_PREFLIGHT_CONFIG", "/dev/null")
        .env("JOURNAL_STREAM", stream_id(&err))
        .args(["check", "--config", "/nonexistent/config.yaml"])
        .stderr(std::fs::OpenOptions::new().append(true).open(&err).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let journal = std::fs::read_to_string(&err).unwrap();
    assert!(journal.starts_with("<3>preflight: "), "{journal}");
    assert!(journal.contains("/nonexistent/config.yaml"), "{journal}");
}

/// The timer's unit, run as shipped (its `ExecStart`, with paths moved into a temp folder and
/// a saved facts document): the JSON report lands in the report file, the Prometheus text in
/// its file, and the journal gets exactly one line, with priority 3 because a rule fails.
#[test]
fn timer_unit_writes_the_report_file_and_one_journal_line() {
    let _cores = crate::common::shared();
    let unit = std::fs::read_to_string(repo("packaging/systemd/wa-preflight.service")).unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    assert!(
        unit.lines().any(|l| l == "StateDirectory=wa-preflight"),
        "/var/lib/wa-preflight must exist for the report file"
    );
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("last-report.json");
    let prom = dir.path().join("wa_preflight.prom");
    let args: Vec<String> = exec
        .split_whitespace()
        .skip(1)
        .map(|a| match a {
            "/var/lib/wa-preflight/last-report.json" => report.display().to_string(),
            "/var/lib/node_exporter/textfile_collector/wa_preflight.prom" => {
                prom.display().to_string()
            }
            other => other.to_string(),
        })
        .collect();
    assert_eq!(exec.split_whitespace().next(), Some("/usr/bin/preflight"));
    assert!(
        args.iter().any(|a| a == &report.display().to_string()),
        "{exec}"
    );
    let journal = dir.path().join("journal");
    std::fs::write(&journal, "").unwrap();
    let sink = || {
        std::fs::OpenOptions::new()
            .append(true)
            .open(&journal)
            .unwrap()
    };
    let status = Command::new(env!("CARGO_BIN_EXE_preflight"))
        .env("WA_PREFLIGHT_CONFIG", "/dev/null")
        .env("JOURNAL_STREAM", stream_id(&journal))
        .args(&args)
        .arg("--facts")
        .arg(common::fixture("centos7"))
        .stdout(sink())
        .stderr(sink())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(3), "centos7 fails rules");
    let said = std::fs::read_to_string(&journal).unwrap();
    assert_eq!(said.lines().count(), 1, "one journal line: {said}");
    assert!(
        said.starts_with("<3>") && said.contains(" pass, ") && said.contains(" fail ("),
        "{said}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(v["schema_version"], 2);
    assert!(v["results"].as_array().is_some_and(|r| r.len() > 40));
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(text.contains("wa_preflight_rule_status{"), "{text}");
    // Atomic writes: nothing but the two files in the folder.
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["journal", "last-report.json", "wa_preflight.prom"]);
}

/// The default listen port is 9612 (free in Prometheus' list of exporter ports), not the
/// OpenTelemetry exporter's 9464; the units and the example scrape config agree.
#[test]
fn default_port_is_9612_everywhere() {
    let _cores = crate::common::shared();
    assert_eq!(wa_preflight::settings::DEFAULT_LISTEN, "127.0.0.1:9612");
    let help = common::preflight()
        .args(["daemon", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("127.0.0.1:9612"));
    for f in [
        "packaging/systemd/wa-preflightd.service",
        "packaging/prometheus/prometheus.yml",
        "packaging/config.yaml",
        "README.md",
    ] {
        let text = std::fs::read_to_string(repo(f)).unwrap();
        assert!(text.contains(":9612"), "{f} does not name port 9612");
        assert!(!text.contains(":9464"), "{f} still names port 9464");
    }
}
