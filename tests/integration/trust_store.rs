//! The system trust store, for real: a test CA installed the distribution's way
//! (`/usr/local/share/ca-certificates` + `update-ca-certificates`) is trusted by the client API
//! check and the webhook probe with no CA option given; removed again, the same server is a
//! named TLS failure. The machine's store is restored on every exit path (a guard's `Drop`,
//! which also runs when an assertion panics), and the tests that touch the store hold
//! `common::serial()` (every TLS run of the other modules reads the store). The server is the FAKE webapp (tests/integration/common/fake_webapp.rs): no real
//! WhatsApp client can run here.

use crate::common;
use crate::common::serial;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::fake_webapp::{Behaviour, FakeWebapp, TestPki};
use common::{assert_verdict, check_json, quiet_network, write};

const LOCAL_DIR: &str = "/usr/local/share/ca-certificates";
const CERTS_DIR: &str = "/etc/ssl/certs";
const BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Our file in the store's source folder (a fixed name, so a run killed with SIGKILL is
/// cleaned up by the next one).
const OUR_CA: &str = "/usr/local/share/ca-certificates/wa-preflight-test-ca.crt";

fn update_ca_certificates() {
    let out = Command::new("update-ca-certificates")
        .output()
        .expect("update-ca-certificates (Debian's ca-certificates): run ./scripts/testbed.sh");
    assert!(
        out.status.success(),
        "update-ca-certificates: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes `bytes` to `path` through a temp file and a rename (readers never see half).
fn replace(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("wa-preflight-restore");
    let mut f = std::fs::File::create(&tmp).unwrap();
    f.write_all(bytes).unwrap();
    f.sync_all().unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Our CA in the machine's store while it lives. Restores what it found: the bundle's bytes
/// and the `/etc/ssl/certs/*.pem` that were regular files (update-ca-certificates turns them
/// into symlinks to the same certificate).
struct InstalledCa {
    bundle_before: Vec<u8>,
    regular_pems: Vec<(PathBuf, Vec<u8>)>,
    installed: bool,
}

impl InstalledCa {
    fn install(ca_pem: &str) -> InstalledCa {
        // A previous run killed before its guard ran: take its CA out first.
        if Path::new(OUR_CA).exists() {
            std::fs::remove_file(OUR_CA).unwrap();
            update_ca_certificates();
        }
        let mut regular_pems = Vec::new();
        for e in std::fs::read_dir(LOCAL_DIR).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".crt") else {
                continue;
            };
            let pem = Path::new(CERTS_DIR).join(format!("{stem}.pem"));
            if std::fs::symlink_metadata(&pem).is_ok_and(|m| m.file_type().is_file()) {
                regular_pems.push((pem.clone(), std::fs::read(&pem).unwrap()));
            }
        }
        let guard = InstalledCa {
            bundle_before: std::fs::read(BUNDLE).unwrap(),
            regular_pems,
            installed: true,
        };
        std::fs::write(OUR_CA, ca_pem).unwrap();
        update_ca_certificates();
        let bundle = std::fs::read_to_string(BUNDLE).unwrap();
        assert!(
            bundle.contains(ca_pem.trim()),
            "the CA is not in {BUNDLE} after update-ca-certificates"
        );
        guard
    }

    /// Takes our CA out of the store and puts back what was there (idempotent).
    fn remove(&mut self) {
        if !self.installed {
            return;
        }
        self.installed = false;
        let _ = std::fs::remove_file(OUR_CA);
        let _ = Command::new("update-ca-certificates").output();
        if std::fs::read(BUNDLE).ok().as_deref() != Some(&self.bundle_before[..]) {
            replace(Path::new(BUNDLE), &self.bundle_before);
        }
        for (pem, bytes) in &self.regular_pems {
            if std::fs::symlink_metadata(pem).is_ok_and(|m| m.file_type().is_symlink()) {
                replace(pem, bytes);
            }
        }
    }
}

impl Drop for InstalledCa {
    fn drop(&mut self) {
        self.remove();
    }
}

/// The client API check and the webhook probe trust a CA installed into the system store,
/// with no CA option; taken out of the store, both name the TLS failure.
#[test]
fn a_ca_in_the_system_store_is_trusted_and_its_removal_is_a_named_tls_failure() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new();
    let fake = FakeWebapp::start(&pki, Behaviour::default());
    let port = fake.addr.port();
    fake.set(|b| b.webhook_url = Some(format!("https://localhost:{port}/hook")));
    let token = write(dir.path(), "token", "test-token-0123456789\n");
    let (net, _l) = quiet_network(dir.path());
    let url = format!("https://127.0.0.1:{port}");
    let args: Vec<String> = vec![
        "--docker-host".into(),
        "unix:///nonexistent/docker.sock".into(),
        "--rules".into(),
        net.display().to_string(),
        "--api-url".into(),
        url,
        "--api-timeout".into(),
        "3".into(),
        "--api-token-file".into(),
        token.display().to_string(),
        "--webhook-probe".into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    // Not in the store: not trusted (nothing compiled in trusts it either).
    let (_, r) = check_json(&args);
    assert_verdict(&r, "wa.api.reachable", "fail", "UnknownIssuer");

    let mut ca = InstalledCa::install(&pki.ca_pem);
    let (_, r) = check_json(&args);
    assert_verdict(
        &r,
        "wa.api.reachable",
        "pass",
        "verified against the system trust store",
    );
    assert_verdict(&r, "wa.health.gateway", "pass", "connected");
    assert_verdict(&r, "wa.webhook.latency", "pass", "HTTP 200");

    ca.remove();
    assert!(!Path::new(OUR_CA).exists());
    assert!(
        !std::fs::read_to_string(BUNDLE)
            .unwrap()
            .contains(pki.ca_pem.trim()),
        "the CA is still in {BUNDLE}"
    );
    let (_, r) = check_json(&args);
    assert_verdict(&r, "wa.api.reachable", "fail", "UnknownIssuer");
    assert_verdict(
        &r,
        "wa.api.reachable",
        "fail",
        "TLS: the certificate is not trusted by the system trust store",
    );
    // The webhook probe on its own (the API trusted through --api-ca-file, which the probe
    // does not use): its TLS failure is named too.
    let ca_file = write(dir.path(), "ca.pem", &pki.ca_pem);
    let ca_s = ca_file.display().to_string();
    let (_, r) = check_json(&[&args[..], &["--api-ca-file", &ca_s]].concat());
    assert_verdict(&r, "wa.api.reachable", "pass", "and the system trust store");
    assert_verdict(&r, "wa.webhook.latency", "fail", "UnknownIssuer");
    assert_verdict(
        &r,
        "wa.webhook.latency",
        "fail",
        "not trusted by the system trust store or webhook_ca_file",
    );
    drop(ca);
}

/// `SSL_CERT_FILE` (rustls-native-certs, like OpenSSL) replaces the platform store: the CA
/// in that file is trusted without touching `/etc`; pointing it at a file without the CA
/// takes the trust away again, whatever the store holds.
#[test]
fn ssl_cert_file_replaces_the_platform_store() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new();
    let fake = FakeWebapp::start(&pki, Behaviour::default());
    let ca = write(dir.path(), "ca.pem", &pki.ca_pem);
    let other = write(dir.path(), "other.pem", &TestPki::new().ca_pem);
    let token = write(dir.path(), "token", "test-token-0123456789\n");
    let (net, _l) = quiet_network(dir.path());
    let run = |cert_file: &Path| {
        let out = common::preflight()
            .env("SSL_CERT_FILE", cert_file)
            .env_remove("SSL_CERT_DIR")
            .args(["check", "--format", "json", "--docker-host"])
            .arg("unix:///nonexistent/docker.sock")
            .arg("--rules")
            .arg(&net)
            .arg("--api-url")
            .arg(format!("https://127.0.0.1:{}", fake.addr.port()))
            .arg("--api-token-file")
            .arg(&token)
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    assert_verdict(
        &run(&ca),
        "wa.api.reachable",
        "pass",
        "verified against the system trust store",
    );
    // (The other CA has the same generated name as ours, so rustls says BadSignature.)
    assert_verdict(
        &run(&other),
        "wa.api.reachable",
        "fail",
        "TLS: the certificate is not trusted",
    );
}
