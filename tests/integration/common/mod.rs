//! Helpers shared by the integration tests.

pub mod daemon;
pub mod fake_docker;
pub mod fake_webapp;
pub mod imitation;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use assert_cmd::Command;

/// The real dockerd the test bed starts (scripts/testbed.sh).
pub const DOCKER_SOCK: &str = "/var/run/docker.sock";
/// The second real dockerd, whose default seccomp profile denies statx.
pub const DENY_SOCK: &str = "/run/wa-preflight-test/docker-deny.sock";

/// What the tests share outside this process, held by one test at a time ([`serial`]):
/// - the test bed's dockerd: the container rules see every container on it, tests remove
///   what carries the test label, and the leftover test removes young statx probes on purpose,
///   so every test that creates containers, runs the probe or bundles live containers holds it;
/// - the machine's trust store, which `trust_store` changes (every TLS run reads it).
///
/// Every module runs in this one process (one test binary), so this is one lock for all of
/// them; a test that panicked while holding it does not poison it for the others.
static SERIAL: Mutex<()> = Mutex::new(());

/// The two cores, shared by every test ([`shared`], [`serial`]) and held alone by a test that
/// measures time ([`quiet`]: the database latency through a delaying proxy, the live check's
/// disk probe, the daemons of `hostile`). With one test binary, a measured test would otherwise run beside any other
/// module's tests (each running `preflight` processes), where 18 binaries ran one at a time.
static CPU: RwLock<()> = RwLock::new(());

/// What a test that touches nothing outside the process holds: a share of the cores, so a
/// measuring test ([`quiet`]) waits for it and it waits for a measuring test.
pub fn shared() -> RwLockReadGuard<'static, ()> {
    CPU.read().unwrap_or_else(|e| e.into_inner())
}

/// Held while a test uses what [`SERIAL`] guards (and a share of the cores).
pub struct Serial {
    _cores: RwLockReadGuard<'static, ()>,
    _outside: MutexGuard<'static, ()>,
}

/// Takes [`SERIAL`] and a share of the cores until the returned guard is dropped.
pub fn serial() -> Serial {
    // SERIAL first, then the cores, in every guard: no two tests wait for each other.
    let outside = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    Serial {
        _cores: shared(),
        _outside: outside,
    }
}

/// Held while a test measures time: [`SERIAL`] and the cores alone.
pub struct Quiet {
    _cores: RwLockWriteGuard<'static, ()>,
    _outside: MutexGuard<'static, ()>,
}

/// Takes [`SERIAL`] and every core until the returned guard is dropped: no other test runs.
pub fn quiet() -> Quiet {
    let outside = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    Quiet {
        _cores: CPU.write().unwrap_or_else(|e| e.into_inner()),
        _outside: outside,
    }
}

/// `preflight` with no operator config of this machine leaking in.
pub fn preflight() -> Command {
    let mut cmd = Command::cargo_bin("preflight").unwrap();
    cmd.env("WA_PREFLIGHT_CONFIG", "/dev/null")
        .env_remove("RUST_LOG")
        .env_remove("DOCKER_HOST");
    cmd
}

pub fn fixture(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(case)
        .join("facts.json")
}

/// Fails the test (never skips it) when the test bed's daemon is not there.
pub fn require_daemon(sock: &str) {
    let ok = std::process::Command::new("curl")
        .args(["-fsS", "--unix-socket", sock, "http://localhost/_ping"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "no Docker daemon answers on {sock}: run ./scripts/testbed.sh (as root) before the tests"
    );
}

/// `preflight check --format json ARGS…`, parsed; the exit code is returned beside it.
pub fn check_json(args: &[&str]) -> (i32, serde_json::Value) {
    let out = preflight()
        .args(["check", "--format", "json"])
        .args(args)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

/// The result of one rule in a JSON report.
pub fn result<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("{id} missing from the report"))
}

/// `(status, message)` of one rule.
pub fn verdict(report: &serde_json::Value, id: &str) -> (String, String) {
    let r = result(report, id);
    (
        r["status"].as_str().unwrap().to_string(),
        r["message"].as_str().unwrap().to_string(),
    )
}

/// Asserts one rule's status and that its message contains `needle`.
pub fn assert_verdict(report: &serde_json::Value, id: &str, status: &str, needle: &str) {
    let (got, message) = verdict(report, id);
    assert_eq!(got, status, "{id}: {message}");
    assert!(
        message.contains(needle),
        "{id}: {message:?} lacks {needle:?}"
    );
}

/// Runs the docker CLI against `sock` (test set-up only; the product uses the API).
pub fn docker(sock: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("docker")
        .env("DOCKER_HOST", format!("unix://{sock}"))
        .args(args)
        .output()
        .expect("docker CLI");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Network rules aimed at one local listener (kept open while the returned listener lives),
/// so runs that are not about the network stay quick and out of its way.
pub fn quiet_network(dir: &Path) -> (PathBuf, std::net::TcpListener) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let rules = write(
        dir,
        "net.yaml",
        &format!(
            "network:\n  timeout_ms: 1000\n  whatsapp:\n    - {{host: 127.0.0.1, ports: [{port}]}}\n"
        ),
    );
    (rules, l)
}

/// Clears the kernel's ring buffer when dropped (`dmesg --clear`), even after a failed assert:
/// what a test puts there (a real OOM kill, a written I/O error line) would otherwise be a
/// `log.*` finding of every later run on this machine for its whole window, such as the healthy
/// deployments that must pass (a test bed host's ring buffer holds nothing else of value).
/// Held by the tests that make the kernel log something, under [`serial`].
pub struct ClearKernelLog;

impl Drop for ClearKernelLog {
    fn drop(&mut self) {
        let _ = std::process::Command::new("dmesg").arg("--clear").status();
    }
}
