//! `preflight bundle` and `preflight redact` against the real dockerd of the test bed, with
//! imitation WhatsApp containers whose env, labels, logs and files hold planted secrets.

use crate::common;
use crate::common::serial;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use common::imitation::{Cleanup, Spec, import_image, run};
use common::{DOCKER_SOCK, docker, preflight, require_daemon};

const DB_PASSWORD: &str = "Planted-DB-Pass-71";
const WA_SECRET: &str = "Planted-WA-Secret-72";
const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwbGFudGVkIn0.c2lnbmF0dXJlLXBsYW50ZWQtNzM";
const BEARER: &str = "plantedBearerToken74";
const DSN_PASS: &str = "dsnPass75";
const LABEL_TOKEN: &str = "planted-label-token-76";
const PEM_BODY: &str = "MIIEplantedPEMbody77";
const MSISDN: &str = "+14155550178";
const WA_ID: &str = "14155550179";
const MYSQL_ROOT: &str = "Planted-Mysql-Root-80";

/// Entries of a `.tar.gz`: path → bytes.
fn extract(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut tar = wa_preflight::bundle::open_archive(path).unwrap();
    let mut out = BTreeMap::new();
    for e in tar.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().display().to_string();
        let mut bytes = Vec::new();
        e.read_to_end(&mut bytes).unwrap();
        out.insert(p, bytes);
    }
    out
}

fn manifest(entries: &BTreeMap<String, Vec<u8>>) -> serde_json::Value {
    let (_, bytes) = entries
        .iter()
        .find(|(p, _)| p.ends_with("/manifest.json"))
        .expect("manifest.json");
    serde_json::from_slice(bytes).unwrap()
}

fn bundle(out: &Path, extra: &[&str]) -> std::process::Output {
    preflight()
        .args(["bundle", "--no-statx-probe", "--since", "1h", "-o"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn db_env(dir: &Path) -> PathBuf {
    let p = dir.join("db.env");
    std::fs::write(
        &p,
        format!("WA_DB_ENGINE=MYSQL\nWA_DB_HOSTNAME=127.0.0.1\nWA_DB_PORT=1\nWA_DB_USERNAME=wa\nWA_DB_PASSWORD={DB_PASSWORD}\n"),
    )
    .unwrap();
    p
}

#[test]
fn planted_secrets_never_reach_the_bundle() {
    require_daemon(DOCKER_SOCK);
    let _g = serial();
    let _c = Cleanup::new();
    import_image("docker.whatsapp.biz/coreapp:v2.51.2", Some("2099-12-31"));
    import_image("docker.whatsapp.biz/web:v2.51.2", Some("2099-12-31"));
    let script = format!(
        "mkdir -p /usr/local/waent/logs; \
         printf -- '-----BEGIN RSA PRIVATE KEY-----\\n{PEM_BODY}\\n-----END RSA PRIVATE KEY-----\\n' > /usr/local/waent/logs/main-crash.log; \
         echo 'crash with {DB_PASSWORD} and {JWT}' >> /usr/local/waent/logs/main-crash.log; \
         echo 'not a crash log {WA_SECRET}' > /usr/local/waent/logs/other.log; \
         echo 'Authorization: Bearer {BEARER} to {MSISDN} from {WA_ID}@s.whatsapp.net'; \
         echo 'dsn mysql://wa:{DSN_PASS}@db:3306/waent secret {WA_SECRET}'; \
         exec /bin/busybox sleep 3600"
    );
    let env = vec![
        ("WA_DB_ENGINE", "MYSQL"),
        ("WA_DB_PASSWORD", DB_PASSWORD),
        ("WA_SECRET", WA_SECRET),
    ];
    let label = format!("api_token={LABEL_TOKEN}");
    run(&Spec {
        name: "wapf-bundle-core",
        image: "docker.whatsapp.biz/coreapp:v2.51.2",
        env: env.clone(),
        flags: vec!["--label".into(), label],
        cmd: vec!["sh", "-c", &script],
    });
    let web_script = format!(
        "mkdir -p /var/log/whatsapp; echo 'web login token {JWT}' > /var/log/whatsapp/web.log; exec /bin/busybox sleep 3600"
    );
    run(&Spec {
        name: "wapf-bundle-web",
        image: "docker.whatsapp.biz/web:v2.51.2",
        env,
        flags: vec![],
        cmd: vec!["sh", "-c", &web_script],
    });
    // A database container beside the client.
    import_image("mysql:8.0", None);
    let db_script = format!("echo 'root password is {MYSQL_ROOT}'; exec /bin/busybox sleep 3600");
    run(&Spec {
        name: "wapf-bundle-mysql",
        image: "mysql:8.0",
        env: vec![("MYSQL_ROOT_PASSWORD", MYSQL_ROOT)],
        flags: vec![],
        cmd: vec!["sh", "-c", &db_script],
    });
    std::thread::sleep(std::time::Duration::from_millis(800));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bundle.tar.gz");
    let env_file = db_env(dir.path());
    let o = bundle(&out, &["--db-env", env_file.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let entries = extract(&out);
    let top = entries
        .keys()
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    assert!(top.starts_with("wa-preflight-"), "{top}");
    for want in [
        "report.json",
        "report.md",
        "facts.json",
        "manifest.json",
        "host/os-release",
        "host/uname",
        "docker/version.json",
        "docker/info.json",
        "docker/wapf-bundle-core/inspect.json",
        "docker/wapf-bundle-core/logs.txt",
        "docker/wapf-bundle-core/files/main-crash.log",
        "docker/wapf-bundle-web/files/web.log",
        "db/database.json",
        "docker/wapf-bundle-mysql/inspect.json",
        "docker/wapf-bundle-mysql/logs.txt",
    ] {
        assert!(
            entries.contains_key(&format!("{top}/{want}")),
            "{want} missing: {:?}",
            entries.keys()
        );
    }
    assert!(
        !entries.keys().any(|k| k.ends_with("other.log")),
        "only *-crash.log files are collected from the coreapp's log folder"
    );
    for (path, bytes) in &entries {
        let text = String::from_utf8_lossy(bytes);
        for secret in [
            DB_PASSWORD,
            WA_SECRET,
            JWT,
            BEARER,
            DSN_PASS,
            LABEL_TOKEN,
            PEM_BODY,
            MSISDN,
            WA_ID,
            MYSQL_ROOT,
        ] {
            assert!(!text.contains(secret), "{secret} leaked into {path}");
        }
    }
    let m = manifest(&entries);
    let counts = &m["redactions"];
    for rule in [
        "known-password",
        "known-secret",
        "jwt",
        "authorization-header",
        "url-password",
        "pem-private-key",
        "msisdn",
        "wa-id",
        "secret-json-field",
    ] {
        assert!(
            counts[rule].as_u64().unwrap_or(0) > 0,
            "no {rule} redaction counted: {counts}"
        );
    }
    // The same secret is the same placeholder everywhere.
    let inspect =
        String::from_utf8_lossy(&entries[&format!("{top}/docker/wapf-bundle-core/inspect.json")])
            .into_owned();
    let crash = String::from_utf8_lossy(
        &entries[&format!("{top}/docker/wapf-bundle-core/files/main-crash.log")],
    )
    .into_owned();
    let token = inspect
        .split("WA_DB_PASSWORD=")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    assert!(token.starts_with("<redacted:"), "{token}");
    assert!(crash.contains(&token), "{crash}");
    // Every file in the manifest has a size and a sha256 that match.
    for f in m["files"].as_array().unwrap() {
        let bytes = &entries[&format!("{top}/{}", f["path"].as_str().unwrap())];
        assert_eq!(f["size"].as_u64().unwrap() as usize, bytes.len());
        use sha2::Digest;
        let hex: String = sha2::Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(f["sha256"], hex.as_str());
    }

    // Not overwritten without --force; replaced with it.
    let again = bundle(&out, &[]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert_eq!(bundle(&out, &["--force"]).status.code(), Some(0));

    // Preview: says what would be collected, writes nothing.
    let preview_out = dir.path().join("never.tar.gz");
    let p = bundle(&preview_out, &["--preview", "--format", "json"]);
    assert_eq!(p.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&p.stdout).unwrap();
    assert!(v["containers"].to_string().contains("wapf-bundle-core"));
    assert!(v["redaction_rules"].to_string().contains("jwt"));
    assert!(!preview_out.exists());
}

#[test]
fn a_container_that_vanished_is_recorded_and_the_bundle_still_written() {
    require_daemon(DOCKER_SOCK);
    let _g = serial();
    let _c = Cleanup::new();
    import_image("docker.whatsapp.biz/coreapp:v2.51.2", None);
    run(&Spec {
        name: "wapf-vanishing",
        image: "docker.whatsapp.biz/coreapp:v2.51.2",
        env: vec![],
        flags: vec![],
        cmd: vec!["sleep", "3600"],
    });
    let dir = tempfile::tempdir().unwrap();
    let facts = dir.path().join("facts.json");
    assert!(
        preflight()
            .args(["facts", "--no-statx-probe", "-o"])
            .arg(&facts)
            .output()
            .unwrap()
            .status
            .success()
    );
    docker(DOCKER_SOCK, &["rm", "-f", "wapf-vanishing"]);
    let out = dir.path().join("b.tar.gz");
    let o = bundle(&out, &["--facts", facts.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let m = manifest(&extract(&out));
    let c = m["collectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "container wapf-vanishing")
        .expect("the container's collector is listed");
    assert_eq!(c["status"], "failed", "{c}");
    assert!(
        c["error"].as_str().unwrap().contains("wapf-vanishing"),
        "{c}"
    );
}

#[test]
fn huge_and_binary_logs_and_unreadable_files() {
    require_daemon(DOCKER_SOCK);
    let _g = serial();
    let _c = Cleanup::new();
    import_image("docker.whatsapp.biz/coreapp:v2.51.2", None);
    import_image("docker.whatsapp.biz/web:v2.51.2", None);
    // 100 MiB of log lines; the newest one is marked.
    run(&Spec {
        name: "wapf-huge",
        image: "docker.whatsapp.biz/coreapp:v2.51.2",
        env: vec![],
        flags: vec![],
        cmd: vec![
            "sh",
            "-c",
            "yes 'ordinary log line number forty two' | head -c 104857600; echo NEWEST-LINE-MARKER; exec sleep 3600",
        ],
    });
    run(&Spec {
        name: "wapf-binary",
        image: "docker.whatsapp.biz/web:v2.51.2",
        env: vec![],
        flags: vec![],
        cmd: vec!["sh", "-c", "head -c 2000000 /dev/urandom; exec sleep 3600"],
    });
    // Wait until the big log is complete.
    for _ in 0..240 {
        let logs = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "DOCKER_HOST=unix://{DOCKER_SOCK} docker logs --tail 1 wapf-huge 2>&1"
            ))
            .output()
            .unwrap();
        if String::from_utf8_lossy(&logs.stdout).contains("NEWEST-LINE-MARKER") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let dir = tempfile::tempdir().unwrap();
    let looped = dir.path().join("loop");
    std::os::unix::fs::symlink(&looped, &looped).unwrap();
    let out = dir.path().join("b.tar.gz");
    let o = bundle(
        &out,
        &[
            "--max-file-size",
            "10MiB",
            "--include",
            "/proc/self/mem",
            "--include",
            looped.to_str().unwrap(),
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let entries = extract(&out);
    let m = manifest(&entries);
    let huge = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "docker/wapf-huge/logs.txt")
        .unwrap_or_else(|| panic!("the huge log is not in the bundle: {m}"));
    // The source itself was cut (only its newest lines asked for), and the manifest says so.
    assert!(
        huge["cut_at_source"]
            .as_str()
            .unwrap_or("")
            .contains("newest"),
        "{huge}"
    );
    assert!(huge["size"].as_u64().unwrap() <= 10 << 20, "{huge}");
    assert!(
        huge["truncated"]["original_size"].as_u64().unwrap() > 10 << 20,
        "{huge}"
    );
    let (_, log) = entries
        .iter()
        .find(|(p, _)| p.ends_with("docker/wapf-huge/logs.txt"))
        .unwrap();
    assert!(
        String::from_utf8_lossy(log).contains("NEWEST-LINE-MARKER"),
        "the newest part was kept"
    );
    assert!(
        entries
            .keys()
            .any(|k| k.ends_with("docker/wapf-binary/logs.txt"))
    );
    let include = m["collectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "include")
        .unwrap();
    let why = include["error"].to_string()
        + &String::from_utf8_lossy(
            entries
                .iter()
                .find(|(p, _)| p.ends_with("include/errors.txt"))
                .map(|(_, b)| b.as_slice())
                .unwrap_or(b""),
        );
    assert!(why.contains("/proc/self/mem"), "{include}");
    assert!(why.contains("loop"), "{include}");
}

#[test]
fn zstd_bundles_open_and_pass_the_same_checks() {
    require_daemon(DOCKER_SOCK);
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b.tar.zst");
    let env_file = db_env(dir.path());
    let o = bundle(&out, &["--zstd", "--db-env", env_file.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut magic = [0u8; 4];
    std::fs::File::open(&out)
        .unwrap()
        .read_exact(&mut magic)
        .unwrap();
    assert_eq!(magic, [0x28, 0xb5, 0x2f, 0xfd], "zstd frame magic");
    let entries = extract(&out);
    assert!(manifest(&entries)["files"].as_array().unwrap().len() > 5);
    for bytes in entries.values() {
        assert!(!String::from_utf8_lossy(bytes).contains(DB_PASSWORD));
    }
}

#[test]
fn the_leak_scan_stops_a_bundle_that_still_holds_a_known_secret() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let env_file = db_env(dir.path());
    // A line longer than redaction reads at once (a 1 MiB block, completed by up to one
    // 1 MiB line piece) with the password across that 2 MiB boundary: redaction cannot see
    // it whole, so only the scan of the finished archive can catch it.
    let evil = dir.path().join("evil.log");
    let mut content = vec![b'A'; (2 << 20) - 5];
    content.extend_from_slice(DB_PASSWORD.as_bytes());
    content.push(b'\n');
    std::fs::write(&evil, &content).unwrap();
    let out = dir.path().join("b.tar.gz");
    let o = bundle(
        &out,
        &[
            "--db-env",
            env_file.to_str().unwrap(),
            "--include",
            evil.to_str().unwrap(),
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("leak scan") && stderr.contains("evil.log"),
        "{stderr}"
    );
    assert!(!stderr.contains(DB_PASSWORD));
    assert!(!out.exists(), "no bundle may be written");
    assert_eq!(
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(".wa-preflight"))
            .count(),
        0,
        "no temp file left behind"
    );
}

#[test]
fn redact_rewrites_a_file_and_a_bundle() {
    let _cores = crate::common::shared();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("support.log");
    std::fs::write(
        &input,
        format!("WA_DB_PASSWORD={DB_PASSWORD}\ncall {MSISDN}\nplain line\n"),
    )
    .unwrap();
    let out = dir.path().join("support.redacted.log");
    let o = preflight()
        .arg("redact")
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        !text.contains(DB_PASSWORD) && !text.contains(MSISDN),
        "{text}"
    );
    assert!(text.contains("plain line"));
    // A bundle made with --no-redact, re-redacted.
    let raw = dir.path().join("raw.tar.gz");
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        std::fs::File::create(&raw).unwrap(),
        flate2::Compression::fast(),
    ));
    let body = format!("Authorization: Bearer {BEARER}\n");
    let mut h = tar::Header::new_gnu();
    h.set_size(body.len() as u64);
    h.set_mode(0o600);
    h.set_cksum();
    tar.append_data(&mut h, "top/docker/c/logs.txt", body.as_bytes())
        .unwrap();
    tar.into_inner().unwrap().finish().unwrap();
    let red = dir.path().join("red.tar.gz");
    assert_eq!(
        preflight()
            .arg("redact")
            .arg(&raw)
            .arg("-o")
            .arg(&red)
            .output()
            .unwrap()
            .status
            .code(),
        Some(0)
    );
    let entries = extract(&red);
    let log = String::from_utf8_lossy(&entries["top/docker/c/logs.txt"]).into_owned();
    assert!(
        !log.contains(BEARER) && log.contains("<redacted:token:1>"),
        "{log}"
    );
    // No overwrite without --force.
    assert_eq!(
        preflight()
            .arg("redact")
            .arg(&raw)
            .arg("-o")
            .arg(&red)
            .output()
            .unwrap()
            .status
            .code(),
        Some(2)
    );
}
