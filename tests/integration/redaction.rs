//! The redaction corpus (`fixtures/redaction`): made-up secrets of every kind, in env, ini,
//! YAML, JSON, logs and command lines, through `preflight redact` and through a real bundle of
//! an imitation container on the real dockerd. Not one planted value may remain, in any form
//! a bundle could write it (as it is, percent-encoded, JSON-escaped, base64); the manifest
//! counts each kind; the control file of innocent lines comes out byte for byte unchanged.

use crate::common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use common::imitation::{Cleanup, Spec, import_image, run};
use common::{DOCKER_SOCK, preflight, require_daemon};

/// The corpus files (all but the list of planted values and the control file).
const CORPUS: &[&str] = &[
    "db.env",
    "my.cnf",
    "sssd.conf",
    "pgpass",
    "netrc",
    "config.yaml",
    "settings.json",
    "app.log",
    "commands.txt",
];

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/redaction")
}

/// `(kind, value)` of every planted secret.
fn planted() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(corpus().join("planted.txt")).unwrap();
    let list: Vec<(String, String)> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once('\t').expect("kind<TAB>value");
            (k.to_string(), v.to_string())
        })
        .collect();
    assert!(list.len() > 60, "the corpus plants {} values", list.len());
    list
}

/// Every form a bundle file could hold `value` in: as it is, JSON-escaped, percent-encoded
/// (upper- and lower-case hex, `+` for a space), in base64 alone and as Basic credentials.
fn forms(value: &str) -> Vec<(&'static str, String)> {
    let mut out = vec![("as it is", value.to_string())];
    let json = serde_json::to_string(value).unwrap();
    out.push(("JSON-escaped", json[1..json.len() - 1].to_string()));
    let pct = |upper: bool, plus: bool| -> String {
        value
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                b' ' if plus => "+".to_string(),
                _ if upper => format!("%{b:02X}"),
                _ => format!("%{b:02x}"),
            })
            .collect()
    };
    out.push(("percent-encoded", pct(true, false)));
    out.push(("percent-encoded, lower-case hex", pct(false, false)));
    out.push(("form-encoded", pct(true, true)));
    let b64 = base64::engine::general_purpose::STANDARD;
    out.push(("base64", b64.encode(value)));
    for user in ["wa", "ops"] {
        out.push(("Basic credentials", b64.encode(format!("{user}:{value}"))));
    }
    out.sort();
    out.dedup_by(|a, b| a.1 == b.1);
    out
}

/// Fails naming each planted value (and form) found in any of `entries`.
fn assert_nothing_planted(entries: &BTreeMap<String, Vec<u8>>) {
    let mut leaks = Vec::new();
    for (kind, value) in planted() {
        for (form, text) in forms(&value) {
            for (path, bytes) in entries {
                if memchr::memmem::find(bytes, text.as_bytes()).is_some() {
                    leaks.push(format!("{kind} ({form}) {text:?} in {path}"));
                }
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "planted secrets survived:\n{}",
        leaks.join("\n")
    );
}

/// Entries of a bundle: path → bytes.
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

/// A `.tar.gz` of `files` (name in the archive, bytes), as a `--no-redact` bundle would be.
fn tar_gz(path: &Path, files: &[(String, Vec<u8>)]) {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    ));
    for (name, bytes) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o600);
        h.set_cksum();
        tar.append_data(&mut h, name, bytes.as_slice()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn entry<'a>(entries: &'a BTreeMap<String, Vec<u8>>, suffix: &str) -> &'a [u8] {
    entries
        .iter()
        .find(|(p, _)| p.ends_with(suffix))
        .map(|(_, b)| b.as_slice())
        .unwrap_or_else(|| panic!("{suffix} missing: {:?}", entries.keys()))
}

#[test]
fn the_corpus_passes_through_preflight_redact_with_nothing_planted_left() {
    let _cores = crate::common::shared();
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<(String, Vec<u8>)> = CORPUS
        .iter()
        .chain(["control.txt"].iter())
        .map(|f| {
            (
                format!("corpus/{f}"),
                std::fs::read(corpus().join(f)).unwrap(),
            )
        })
        .collect();
    // A compressed log inside the bundle is read decompressed, not passed through.
    files.push((
        "corpus/app.log.1.gz".to_string(),
        gzip(&std::fs::read(corpus().join("app.log")).unwrap()),
    ));
    let raw = dir.path().join("raw.tar.gz");
    tar_gz(&raw, &files);
    let red = dir.path().join("red.tar.gz");
    let o = preflight()
        .arg("redact")
        .arg(&raw)
        .arg("-o")
        .arg(&red)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let entries = extract(&red);
    assert_nothing_planted(&entries);
    assert!(
        entries.contains_key("corpus/app.log.1"),
        "{:?}",
        entries.keys()
    );
    // Every corpus file lost something; the innocent lines lost nothing.
    for f in CORPUS {
        let before = std::fs::read(corpus().join(f)).unwrap();
        assert_ne!(entry(&entries, f), before.as_slice(), "{f} unchanged");
        assert!(
            String::from_utf8_lossy(entry(&entries, f)).contains("<redacted:"),
            "{f}"
        );
    }
    assert_eq!(
        String::from_utf8_lossy(entry(&entries, "control.txt")),
        std::fs::read_to_string(corpus().join("control.txt")).unwrap()
    );
    // What stays readable around the secrets.
    let env = String::from_utf8_lossy(entry(&entries, "db.env")).into_owned();
    assert!(
        env.contains("WA_DB_HOSTNAME=db.internal\n") && env.contains("WA_DB_PASSWORD=<redacted:"),
        "{env}"
    );
    let log = String::from_utf8_lossy(entry(&entries, "corpus/app.log")).into_owned();
    assert!(
        log.contains("Authorization: Bearer <redacted:token:"),
        "{log}"
    );
    assert!(log.contains("[done] backup finished"), "{log}");
}

#[test]
fn one_file_is_redacted_with_what_it_reveals_itself() {
    let _cores = crate::common::shared();
    // commands.txt names Cmd-Curl-User-4 after `curl -u` and again on its last line.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("commands.redacted.txt");
    let o = preflight()
        .arg("redact")
        .arg(corpus().join("commands.txt"))
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
    assert!(!text.contains("Cmd-"), "{text}");
    assert!(text.contains("replay with <redacted:password:"), "{text}");
    // E-mail addresses are personal data like phone numbers, with the same kind of switch.
    let log = corpus().join("app.log");
    for (flag, kept) in [(None, false), (Some("--no-redact-emails"), true)] {
        let out = dir.path().join("app.redacted.log");
        let mut cmd = preflight();
        cmd.arg("redact")
            .arg(&log)
            .arg("-o")
            .arg(&out)
            .arg("--force");
        cmd.args(flag);
        let o = cmd.output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(text.contains("ops.lead@example.com"), kept, "{flag:?}");
        assert!(!text.contains("+44 20 7946 0958"), "{flag:?}");
    }
    // A compressed single file comes out decompressed and redacted.
    let gz = dir.path().join("db.env.gz");
    std::fs::write(&gz, gzip(&std::fs::read(corpus().join("db.env")).unwrap())).unwrap();
    let out = dir.path().join("db.env.redacted");
    let o = preflight()
        .arg("redact")
        .arg(&gz)
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
        text.starts_with("# WhatsApp") && !text.contains("Green kites"),
        "{text}"
    );
}

#[test]
fn preflight_redact_learns_from_the_bundle_and_refuses_a_leak_it_cannot_redact() {
    let _cores = crate::common::shared();
    let dir = tempfile::tempdir().unwrap();
    let secret = "Refuse-Me-Pass-9";
    let inspect = format!(
        "{{\n  \"Config\": {{\n    \"Env\": [\n      \"WA_DB_PASSWORD={secret}\",\n      \"WA_DB_PORT=3306\"\n    ]\n  }}\n}}\n"
    );
    let logs = format!("connecting as wa with {secret}\n");
    let mut files = vec![
        (
            "top/docker/c/inspect.json".to_string(),
            inspect.into_bytes(),
        ),
        ("top/docker/c/logs.txt".to_string(), logs.into_bytes()),
    ];
    // Learned from inspect.json, replaced in logs.txt, which names no secret itself.
    let raw = dir.path().join("raw.tar.gz");
    tar_gz(&raw, &files);
    let red = dir.path().join("red.tar.gz");
    let o = preflight()
        .arg("redact")
        .arg(&raw)
        .arg("-o")
        .arg(&red)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let entries = extract(&red);
    let log = String::from_utf8_lossy(&entries["top/docker/c/logs.txt"]).into_owned();
    assert_eq!(log, "connecting as wa with <redacted:password:1>\n");
    // The same secret across the 2 MiB boundary of what redaction reads at once: the leak
    // scan finds it and nothing is written.
    let mut big = vec![b'A'; (2 << 20) - 5];
    big.extend_from_slice(secret.as_bytes());
    big.push(b'\n');
    files.push(("top/docker/c/files/big.log".to_string(), big));
    tar_gz(&raw, &files);
    let refused = dir.path().join("refused.tar.gz");
    let o = preflight()
        .arg("redact")
        .arg(&raw)
        .arg("-o")
        .arg(&refused)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("leak scan") && stderr.contains("big.log"),
        "{stderr}"
    );
    assert!(!stderr.contains(secret), "{stderr}");
    assert!(!refused.exists());
    assert!(
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .all(|e| !e.file_name().to_string_lossy().starts_with(".wa-preflight")),
        "no temp file left behind"
    );
}

#[test]
fn compressed_includes_are_decompressed_capped_or_refused() {
    let _s = common::serial(); // the shared dockerd: its containers and probes
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("app.log.gz");
    std::fs::write(
        &good,
        gzip(b"boot\nWA_DB_PASSWORD=Gz Included Pass 1\nready\n"),
    )
    .unwrap();
    // Highly compressible: decompresses far past 40 x the 4 KiB file cap.
    let bomb = dir.path().join("bomb.log.gz");
    std::fs::write(&bomb, gzip(&vec![b'x'; 1 << 20])).unwrap();
    let xz = dir.path().join("old.log.xz");
    std::fs::write(&xz, b"\xfd7zXZ\x00 not really xz").unwrap();
    let out = dir.path().join("b.tar.gz");
    let o = preflight()
        .args([
            "bundle",
            "--no-statx-probe",
            "--max-file-size",
            "4KiB",
            "-o",
        ])
        .arg(&out)
        .arg("--include")
        .arg(&good)
        .arg("--include")
        .arg(&bomb)
        .arg("--include")
        .arg(&xz)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let entries = extract(&out);
    let name = format!(
        "include/{}",
        good.display()
            .to_string()
            .trim_start_matches('/')
            .replace('/', "_")
    );
    let name = name.trim_end_matches(".gz");
    let text = String::from_utf8_lossy(entry(&entries, name)).into_owned();
    assert_eq!(text, "boot\nWA_DB_PASSWORD=<redacted:password:1>\nready\n");
    let errors = String::from_utf8_lossy(entry(&entries, "include/errors.txt")).into_owned();
    assert!(
        errors.contains("bomb.log.gz decompresses to more than 163840 bytes"),
        "{errors}"
    );
    assert!(
        errors.contains("old.log.xz") && errors.contains("xz"),
        "{errors}"
    );
    assert!(
        !entries
            .keys()
            .any(|k| k.contains("bomb") || k.contains("old.log"))
    );
}

#[test]
fn the_corpus_passes_through_a_real_bundle_with_nothing_planted_left() {
    require_daemon(DOCKER_SOCK);
    let _s = common::serial(); // the shared dockerd: its containers and probes
    let _c = Cleanup::new();
    import_image("docker.whatsapp.biz/coreapp:v2.51.2", Some("2099-12-31"));
    let mount = format!("{}:/corpus:ro", corpus().display());
    // The container's env and labels hold corpus values; its log prints the corpus log and
    // command lines; its crash log folder holds the JSON settings.
    run(&Spec {
        name: "wapf-redaction-core",
        image: "docker.whatsapp.biz/coreapp:v2.51.2",
        env: vec![
            ("WA_DB_PASSWORD", "Green kites over harbour"),
            ("dbPassword", "Crimson tide at noon"),
            ("WA_API_TOKEN", "tok_Plum7Quartz3Vine"),
        ],
        flags: vec![
            "-v".into(),
            mount,
            "--label".into(),
            "com.example.db.password=Dotted-Label-Pass-5".into(),
        ],
        cmd: vec![
            "sh",
            "-c",
            "cat /corpus/app.log /corpus/commands.txt; mkdir -p /usr/local/waent/logs; \
             cp /corpus/settings.json /usr/local/waent/logs/settings-crash.log; \
             exec /bin/busybox sleep 3600",
        ],
    });
    std::thread::sleep(std::time::Duration::from_millis(800));
    let dir = tempfile::tempdir().unwrap();
    let yaml_gz = dir.path().join("config.yaml.gz");
    std::fs::write(
        &yaml_gz,
        gzip(&std::fs::read(corpus().join("config.yaml")).unwrap()),
    )
    .unwrap();
    let out = dir.path().join("bundle.tar.gz");
    let mut cmd = preflight();
    cmd.args(["bundle", "--no-statx-probe", "--since", "1h", "-o"])
        .arg(&out)
        .arg("--db-env")
        .arg(corpus().join("db.env"))
        .arg("--include")
        .arg(&yaml_gz);
    for f in [
        "db.env",
        "my.cnf",
        "sssd.conf",
        "pgpass",
        "netrc",
        "control.txt",
    ] {
        cmd.arg("--include").arg(corpus().join(f));
    }
    let o = cmd.output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let entries = extract(&out);
    for want in [
        "docker/wapf-redaction-core/inspect.json",
        "docker/wapf-redaction-core/logs.txt",
        "docker/wapf-redaction-core/files/settings-crash.log",
        "_config.yaml",
        "_pgpass",
        "_control.txt",
    ] {
        entry(&entries, want);
    }
    assert_nothing_planted(&entries);
    // Redaction keeps the bundle's own JSON documents valid.
    for (path, bytes) in entries.iter().filter(|(p, _)| p.ends_with(".json")) {
        serde_json::from_slice::<serde_json::Value>(bytes)
            .unwrap_or_else(|e| panic!("{path} is no longer JSON: {e}"));
    }
    assert_eq!(
        String::from_utf8_lossy(entry(&entries, "_control.txt")),
        std::fs::read_to_string(corpus().join("control.txt")).unwrap()
    );
    // The manifest counts each kind.
    let (_, bytes) = entries
        .iter()
        .find(|(p, _)| p.ends_with("/manifest.json"))
        .unwrap();
    let m: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    let counts = m["redactions"].as_object().unwrap();
    for rule in [
        "secret-assignment",
        "secret-json-field",
        "secret-flag",
        "sql-password",
        "command-password",
        "netrc-password",
        "pgpass",
        "cookie",
        "url-password",
        "authorization-header",
        "bearer-token",
        "jwt",
        "pem-private-key",
        "pgp-private-key",
        "private-key-body",
        "aws-access-key-id",
        "msisdn",
        "wa-id",
        "wa-id-field",
        "email",
        "known-password",
    ] {
        assert!(
            counts.get(rule).and_then(|v| v.as_u64()).unwrap_or(0) > 0,
            "no {rule} redaction counted: {counts:?}"
        );
    }
    for form in ["-percent", "-json", "-base64"] {
        assert!(
            counts
                .iter()
                .any(|(k, v)| k.starts_with("known-") && k.ends_with(form) && v.as_u64() > Some(0)),
            "no known secret counted in its {form} form: {counts:?}"
        );
    }
}
