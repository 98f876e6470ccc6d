//! What an operator types and reads (issue 12): files in and out (`--facts` in every format,
//! `-`, bundles; `-o -`; bundle names, hashes and previews), help and man pages, the formats CI
//! tools read, and mistakes caught when rules and config load.

use crate::common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::{DOCKER_SOCK, fixture, preflight, require_daemon};
use predicates::prelude::*;

fn write(dir: &Path, name: &str, text: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `check --format json` of `facts`, with the run's own fields (time, duration) removed.
fn judged(facts: &Path, stdin: Option<&[u8]>) -> (i32, serde_json::Value) {
    let mut cmd = preflight();
    cmd.args(["check", "--format", "json", "--facts"])
        .arg(facts);
    if let Some(bytes) = stdin {
        cmd.write_stdin(bytes.to_vec());
    }
    let out = cmd.output().unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{}: no JSON report ({e}); stderr: {}",
            facts.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    v["started_at"] = serde_json::Value::Null;
    v["duration_ms"] = serde_json::Value::Null;
    (out.status.code().unwrap_or(-1), v)
}

/// A `.tar.gz` or `.tar.zst` holding `entries` (path → bytes).
fn tarball(path: &Path, zstd: bool, entries: &[(&str, &[u8])]) {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, bytes) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, *bytes).unwrap();
    }
    let raw = tar.into_inner().unwrap();
    let packed = if zstd {
        zstd::encode_all(raw.as_slice(), 3).unwrap()
    } else {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw).unwrap();
        gz.finish().unwrap()
    };
    std::fs::write(path, packed).unwrap();
}

// ---- Files in, files out ----------------------------------------------------------------

#[test]
fn check_reads_facts_as_json_yaml_stdin_and_inside_bundles() {
    let _cores = crate::common::shared();
    let dir = tempfile::tempdir().unwrap();
    let json_path = fixture("centos7");
    let json = std::fs::read(&json_path).unwrap();
    let facts = wa_preflight::facts::load_facts_file(&json_path).unwrap();
    let yaml = serde_saphyr::to_string(&facts).unwrap();
    let (code, want) = judged(&json_path, None);
    assert_eq!(code, 3);

    let yaml_path = write(dir.path(), "facts.yaml", yaml.as_bytes());
    assert_eq!(judged(&yaml_path, None), (code, want.clone()), "YAML");
    assert_eq!(
        judged(Path::new("-"), Some(&json)),
        (code, want.clone()),
        "JSON on stdin"
    );
    assert_eq!(
        judged(Path::new("-"), Some(yaml.as_bytes())),
        (code, want.clone()),
        "YAML on stdin"
    );
    for (name, zstd) in [("b.tar.gz", false), ("b.tar.zst", true)] {
        let b = dir.path().join(name);
        tarball(
            &b,
            zstd,
            &[
                ("wa-preflight-h-20261201T000000Z/manifest.json", b"{}"),
                ("wa-preflight-h-20261201T000000Z/facts.json", &json),
            ],
        );
        assert_eq!(judged(&b, None), (code, want.clone()), "{name}");
        // A bundle on standard input too.
        let bytes = std::fs::read(&b).unwrap();
        assert_eq!(
            judged(Path::new("-"), Some(&bytes)),
            (code, want.clone()),
            "{name} on stdin"
        );
    }

    // A bundle without facts: located, exit 2, saying what it holds.
    let empty = dir.path().join("nofacts.tar.gz");
    tarball(&empty, false, &[("top/report.json", b"{}")]);
    preflight()
        .args(["check", "--facts"])
        .arg(&empty)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nofacts.tar.gz"))
        .stderr(predicate::str::contains("no facts.json in its top folder"))
        .stderr(predicate::str::contains("top/"));
    // A broken facts.json inside a bundle: the error names the member, line and field.
    let bad = dir.path().join("bad.tar.gz");
    let broken = String::from_utf8(json.clone())
        .unwrap()
        .replace("\"logical\": 8", "\"logical\": \"eight\"");
    tarball(&bad, false, &[("top/facts.json", broken.as_bytes())]);
    preflight()
        .args(["check", "--facts"])
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.tar.gz:top/facts.json:"))
        .stderr(predicate::str::contains("host.cpu"));
    // A YAML document with a wrong value: located by line.
    let bad_yaml = write(
        dir.path(),
        "bad.yaml",
        yaml.replacen("schema_version: 1", "schema_version: [1]", 1)
            .as_bytes(),
    );
    preflight()
        .args(["check", "--facts"])
        .arg(&bad_yaml)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.yaml:1:"));
}

#[test]
fn dash_o_dash_writes_to_standard_output() {
    let _cores = crate::common::shared();
    let dir = tempfile::tempdir().unwrap();
    let facts = fixture("centos7");
    let out = preflight()
        .args(["check", "--format", "json", "-o", "-", "--facts"])
        .arg(&facts)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema_version"], 2);
    assert!(!dir.path().join("-").exists(), "no file named -");

    // redact: the redacted copy on standard output.
    let log = write(
        dir.path(),
        "app.log",
        b"login ok password=Hunter2-secret for admin@example.com\n",
    );
    let out = preflight()
        .args(["redact", "-o", "-"])
        .arg(&log)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("login ok"), "{text}");
    assert!(!text.contains("Hunter2-secret"), "{text}");
    assert!(!dir.path().join("-").exists(), "no file named -");

    // The facts command (gathers from this host; Docker probes off to stay quick).
    let out = preflight()
        .args([
            "facts",
            "--no-statx-probe",
            "--docker-host",
            "unix:///nonexistent.sock",
            "--format",
            "yaml",
            "-o",
            "-",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("schema_version: 1"));
    assert!(!dir.path().join("-").exists(), "no file named -");
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bundle_names_itself_hashes_and_previews() {
    require_daemon(DOCKER_SOCK);
    let _s = common::serial(); // the shared dockerd: its containers and probes
    let dir = tempfile::tempdir().unwrap();
    let facts = fixture("centos7");
    let bundle = |args: &[&str]| {
        preflight()
            .args(["bundle", "--no-statx-probe", "--since", "1m", "--facts"])
            .arg(&facts)
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    // No -o: the default name in the working directory; path, size and sha256 printed.
    let out = bundle(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let name = &names[0];
    let shape = regex::Regex::new(r"^wa-preflight-wa-host-\d{8}T\d{6}Z\.tar\.gz$").unwrap();
    assert!(shape.is_match(name), "{name}");
    let bytes = std::fs::read(dir.path().join(name)).unwrap();
    let err = stderr(&out);
    assert!(err.contains(&format!("wrote {name}")), "{err}");
    assert!(err.contains(&format!("({} bytes)", bytes.len())), "{err}");
    use sha2::Digest;
    let hex: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(err.contains(&format!("sha256: {hex}")), "{err}");
    // The fixture's containers do not run here: the closing line names the failed collectors.
    assert!(
        err.contains("collector(s) failed or timed out: container wa_coreapp_1"),
        "{err}"
    );
    std::fs::remove_file(dir.path().join(name)).unwrap();

    // Unredacted: says so in its name (and its top folder).
    let out = bundle(&["--no-redact"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let name = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .to_string_lossy()
        .into_owned();
    assert!(name.ends_with("-unredacted.tar.gz"), "{name}");
    assert!(stderr(&out).contains("NOT redacted"), "{}", stderr(&out));
    let mut tar = wa_preflight::bundle::open_archive(&dir.path().join(&name)).unwrap();
    let first = tar.entries().unwrap().next().unwrap().unwrap();
    let top = first.path().unwrap().display().to_string();
    assert!(top.contains("-unredacted/"), "{top}");
    std::fs::remove_file(dir.path().join(&name)).unwrap();

    // The compression follows the extension; a contradicting --zstd is a usage error.
    let out = bundle(&["-o", "b.tar.zst"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let head = std::fs::read(dir.path().join("b.tar.zst")).unwrap();
    assert_eq!(head[..4], [0x28, 0xb5, 0x2f, 0xfd], "zstd magic");
    // ... and check reads that bundle directly.
    preflight()
        .args(["check", "--facts", "b.tar.zst"])
        .current_dir(dir.path())
        .assert()
        .code(3);
    let out = bundle(&["--zstd", "-o", "c.tar.gz"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--zstd"), "{}", stderr(&out));
    assert!(!dir.path().join("c.tar.gz").exists());

    // -o -: the archive on standard output, the summary on standard error.
    let out = bundle(&["-o", "-"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout[..2], [0x1f, 0x8b], "gzip on stdout");
    assert!(stderr(&out).contains("wrote standard output"));
    assert!(!dir.path().join("-").exists());

    // Preview: needs no -o, readable by default, JSON on request; writes nothing.
    let before = std::fs::read_dir(dir.path()).unwrap().count();
    let out = bundle(&["--preview"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("Would write wa-preflight-wa-host-"),
        "{text}"
    );
    assert!(text.contains("container wa_coreapp_1"), "{text}");
    assert!(text.contains("Redaction: on"), "{text}");
    let out = bundle(&["--preview", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["collectors"].as_array().unwrap().len() >= 3);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), before);
}

// ---- Help, man, completions -------------------------------------------------------------

/// Runs `preflight ARGS` with its standard output closed before it writes anything (the
/// reader went away, as `| head -1` does): returns the exit code and standard error.
fn with_closed_stdout(args: &[&str]) -> (Option<i32>, String) {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("preflight"))
        .args(args)
        .env("WA_PREFLIGHT_CONFIG", "/dev/null")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let _cores = crate::common::shared();
    let facts = fixture("centos7");
    let facts = facts.to_str().unwrap();
    for (args, code) in [
        (&["man"][..], 0),
        (&["completions", "bash"][..], 0),
        (&["rules"][..], 0),
        (&["rules", "--format", "json"][..], 0),
        (&["explain", "host.kernel"][..], 0),
        (&["--help"][..], 0),
        (&["check", "--help"][..], 0),
        // check keeps the verdict's exit code (3: failures in this fixture), never 1.
        (&["check", "--facts", facts][..], 3),
        (&["check", "--format", "json", "--facts", facts][..], 3),
        (
            &[
                "facts",
                "--no-statx-probe",
                "--docker-host",
                "unix:///nonexistent.sock",
            ][..],
            0,
        ),
    ] {
        let (got, err) = with_closed_stdout(args);
        assert_eq!(got, Some(code), "{args:?}: {err}");
        assert!(
            !err.contains("Broken pipe")
                && !err.contains("internal error")
                && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn help_groups_flags_under_headings() {
    let _cores = crate::common::shared();
    let out = preflight().args(["check", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    let at = |heading: &str| {
        help.find(&format!("\n{heading}:\n"))
            .unwrap_or_else(|| panic!("no {heading}: heading in\n{help}"))
    };
    let flag = |f: &str| help.find(f).unwrap_or_else(|| panic!("no {f} in\n{help}"));
    let heading_re = regex::Regex::new(r"\n[A-Z][A-Za-z ]+:\n").unwrap();
    for (heading, flags) in [
        ("Docker", &["--docker-host", "--no-statx-probe"][..]),
        ("Database", &["--db-url", "--db-port", "--db-env"][..]),
        ("Client API", &["--api-url", "--api-insecure"][..]),
        ("Output", &["--format", "--output", "--strict"][..]),
        ("Logging", &["--quiet", "--verbose"][..]),
    ] {
        let start = at(heading);
        let end = heading_re
            .find_at(&help, start + 1)
            .map_or(help.len(), |m| m.start());
        for f in flags {
            let i = flag(f);
            assert!(i > start && i < end, "{f} is not under {heading}:\n{help}");
        }
    }
    // The global flags are in one place, under Logging, on the top-level help too.
    let top = preflight().arg("--help").output().unwrap();
    let top = String::from_utf8_lossy(&top.stdout);
    assert!(top.contains("\nLogging:\n  -q, --quiet"), "{top}");
    assert!(top.contains("  completions "), "{top}");
    assert!(top.contains("  man "), "{top}");
}

#[test]
fn man_pages_have_the_operator_sections() {
    let _cores = crate::common::shared();
    let out = preflight().arg("man").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let page = String::from_utf8_lossy(&out.stdout);
    for s in [
        ".SH \"EXIT STATUS\"",
        ".SH \"FILES\"",
        ".SH \"ENVIRONMENT\"",
        ".SH \"EXAMPLES\"",
        "/etc/wa\\-preflight/config.yaml",
        "WA_PREFLIGHT_CONFIG",
    ] {
        assert!(page.contains(s), "{s} missing from preflight.1");
    }
    let dir = tempfile::tempdir().unwrap();
    preflight()
        .args(["man", "--dir"])
        .arg(dir.path())
        .assert()
        .code(0);
    for name in [
        "preflight.1",
        "preflight-check.1",
        "preflight-bundle.1",
        "preflight-man.1",
    ] {
        let page = std::fs::read_to_string(dir.path().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(page.contains(".SH \"EXIT STATUS\""), "{name}");
        assert!(page.contains(".SH \"EXAMPLES\""), "{name}");
    }
    let check = std::fs::read_to_string(dir.path().join("preflight-check.1")).unwrap();
    assert!(check.contains("\\fB4\\fR"), "check documents exit 4");
    preflight()
        .args(["completions", "bash"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("preflight"));
}

// ---- Formats that tools read ------------------------------------------------------------

#[test]
fn junit_shows_warnings_and_carries_the_suite_attributes() {
    let _cores = crate::common::shared();
    let facts = fixture("centos7");
    let (_, report) = judged(&facts, None);
    let warned = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["status"] == "warn")
        .expect("the fixture has a warning")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let junit = |strict: bool| {
        let mut cmd = preflight();
        cmd.args(["check", "--format", "junit", "--facts"])
            .arg(&facts);
        if strict {
            cmd.arg("--strict");
        }
        String::from_utf8(cmd.output().unwrap().stdout).unwrap()
    };
    let case = |xml: &str| {
        let start = xml
            .find(&format!("<testcase name=\"{warned}\""))
            .unwrap_or_else(|| panic!("no case {warned}"));
        let end = start + xml[start..].find("</testcase>").unwrap();
        xml[start..end].to_string()
    };
    let xml = junit(false);
    let suite = regex::Regex::new(r"<testsuite [^>]*>")
        .unwrap()
        .find(&xml)
        .unwrap()
        .as_str()
        .to_string();
    assert!(suite.contains("hostname=\"wa-host\""), "{suite}");
    assert!(
        regex::Regex::new(r#"timestamp="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"#)
            .unwrap()
            .is_match(&suite),
        "{suite}"
    );
    assert!(
        regex::Regex::new(r#" time="[0-9.]+""#)
            .unwrap()
            .is_match(&suite),
        "{suite}"
    );
    let warn = case(&xml);
    assert!(
        warn.contains("<property name=\"status\" value=\"warn\"/>"),
        "{warn}"
    );
    assert!(warn.contains("<system-out>WARN: "), "{warn}");
    assert!(
        !warn.contains("<failure"),
        "a warning fails only under --strict: {warn}"
    );
    let strict = case(&junit(true));
    assert!(strict.contains("<failure message=\"warn: "), "{strict}");
    // Every case says its status, also a pass.
    assert_eq!(
        xml.matches("<testcase ").count(),
        xml.matches("<property name=\"status\"").count()
    );
}

fn report_schema() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

fn assert_valid(schema: &jsonschema::Validator, report: &serde_json::Value, what: &str) {
    let errors: Vec<String> = schema
        .iter_errors(report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}");
}

#[test]
fn json_reports_match_the_published_schema() {
    let _cores = crate::common::shared();
    let schema = report_schema();
    let dir = tempfile::tempdir().unwrap();
    // A waiver, so `waived` results with their waiver object are in the output too.
    let config = write(
        dir.path(),
        "waive.yaml",
        b"waivers:\n  - {id: host.kernel, reason: test, expires: 2999-12-31}\n",
    );
    let mut statuses = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")).unwrap()
    {
        let facts = entry.unwrap().path().join("facts.json");
        if !facts.exists() {
            continue;
        }
        for profile in ["production", "development"] {
            let out = preflight()
                .args([
                    "check",
                    "--format",
                    "json",
                    "--profile",
                    profile,
                    "--config",
                ])
                .arg(&config)
                .arg("--facts")
                .arg(&facts)
                .output()
                .unwrap();
            let report: serde_json::Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("{}: {e}", facts.display()));
            assert_valid(&schema, &report, &facts.display().to_string());
            for r in report["results"].as_array().unwrap() {
                statuses.insert(r["status"].as_str().unwrap().to_string());
            }
        }
    }
    for s in ["pass", "info", "warn", "fail", "skip", "waived"] {
        assert!(statuses.contains(s), "no fixture gives {s}: {statuses:?}");
    }
    // A live run on this machine.
    let out = preflight()
        .args(["check", "--format", "json", "--no-statx-probe"])
        .output()
        .unwrap();
    let live: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_valid(&schema, &live, "live check");
    // The schema is not vacuous: a status outside the vocabulary or a missing field is refused.
    let mut bad = live.clone();
    bad["results"][0]["status"] = "maybe".into();
    assert!(!schema.is_valid(&bad));
    let mut bad = live.clone();
    bad["summary"].as_object_mut().unwrap().remove("info");
    assert!(!schema.is_valid(&bad));
    let mut bad = live;
    bad["results"][0]["extra"] = 1.into();
    assert!(!schema.is_valid(&bad));
}

// ---- Mistakes caught at load time -------------------------------------------------------

#[test]
fn rules_reading_unknown_facts_fail_to_load() {
    let _cores = crate::common::shared();
    let dir = tempfile::tempdir().unwrap();
    let facts = fixture("centos7");
    let rule = |fact: &str, when: &str, message: &str| {
        format!(
            "rules:\n  - id: site.x\n    title: t\n    fact: {fact}\n    outcomes:\n      - status: fail\n        when: {when}\n        message: \"{message}\"\n      - status: pass\n        message: ok\n"
        )
    };
    for (name, text, at, needle) in [
        (
            "fact.yaml",
            rule("host.cpus", "{path: logical, number: '< 4'}", "x"),
            "fact.yaml:2:5:",
            "host has no field \"cpus\"",
        ),
        (
            "path.yaml",
            rule("host.cpu", "{path: logicl, number: '< 4'}", "x"),
            "path.yaml:6:9:",
            "logicl",
        ),
        (
            "template.yaml",
            rule(
                "host.cpu",
                "{path: logical, number: '< 4'}",
                "{{logical}} of {{$host.memory.total}}",
            ),
            "template.yaml:6:9:",
            "host.memory has no field \"total\"",
        ),
    ] {
        let path = write(dir.path(), name, text.as_bytes());
        for cmd in [
            &["check", "--facts", facts.to_str().unwrap()][..],
            &["rules"][..],
        ] {
            preflight()
                .args(cmd)
                .arg("--rules")
                .arg(&path)
                .assert()
                .code(2)
                .stderr(predicate::str::contains(at))
                .stderr(predicate::str::contains(needle));
        }
    }
    // A map key (a container's env) and a list index are valid paths.
    let ok = write(
        dir.path(),
        "ok.yaml",
        rule(
            "docker.wa.containers.0",
            "{path: env.WA_DB_ENGINE, equals: MYSQL}",
            "{{name}}",
        )
        .as_bytes(),
    );
    preflight()
        .args(["rules", "--rules"])
        .arg(&ok)
        .assert()
        .code(0);
}

#[test]
fn config_values_outside_their_set_are_located() {
    let _cores = crate::common::shared();
    let dir = tempfile::tempdir().unwrap();
    let facts = fixture("centos7");
    for (text, at, needle) in [
        (
            "database:\n  host: db\n  engine: oracle\n",
            ":3:11:",
            "engine \"oracle\" is not one of mysql, postgres",
        ),
        ("profile: staging\n", ":1:10:", "staging"),
        ("docker:\n  host: ftp://x\n", ":2:9:", "unix://"),
        ("client:\n  url: 10.0.0.1:443\n", ":2:8:", "https://"),
        (
            "daemon:\n  webhook:\n    url: smtp://x\n",
            ":3:10:",
            "https://",
        ),
        ("daemon:\n  intervals:\n    bse: 60\n", ":3:5:", "bse"),
    ] {
        let config = write(dir.path(), "c.yaml", text.as_bytes());
        preflight()
            .args(["check", "--facts"])
            .arg(&facts)
            .arg("--config")
            .arg(&config)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(format!("c.yaml{at}")))
            .stderr(predicate::str::contains(needle));
    }
    // The accepted spellings still load.
    for text in [
        "database:\n  engine: PGSQL\n",
        "database:\n  engine: mysql\n",
        "docker:\n  host: /var/run/docker.sock\n",
        "client:\n  url: https://127.0.0.1:9090\n",
    ] {
        let config = write(dir.path(), "c.yaml", text.as_bytes());
        preflight()
            .args(["check", "--facts"])
            .arg(&facts)
            .arg("--config")
            .arg(&config)
            .assert()
            .code(3);
    }
}

/// `preflight ARGS` as user nobody, with `groups` as its only supplementary groups.
fn as_nobody(groups: Option<&str>, args: &[&str]) -> std::process::Output {
    assert!(
        rustix::process::geteuid().is_root(),
        "the test bed runs the tests as root (needed to drop to nobody)"
    );
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid=nobody", "--regid=nogroup"]);
    match groups {
        Some(g) => cmd.arg(format!("--groups={g}")),
        None => cmd.arg("--clear-groups"),
    };
    cmd.arg(assert_cmd::cargo::cargo_bin("preflight"))
        .args(args)
        .env("WA_PREFLIGHT_CONFIG", "/dev/null")
        .env_remove("RUST_LOG")
        .env_remove("DOCKER_HOST")
        .current_dir("/")
        .output()
        .unwrap()
}

#[test]
fn a_run_without_rights_says_so_once_at_the_top() {
    let _cores = crate::common::shared();
    require_daemon(DOCKER_SOCK);
    use std::os::unix::fs::MetadataExt;
    let gid = std::fs::metadata(DOCKER_SOCK).unwrap().gid().to_string();
    let args = ["check", "--no-statx-probe", "--format", "json"];
    let out = as_nobody(None, &args);
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("notice:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        err.starts_with("preflight: notice: running as nobody"),
        "{err}"
    );
    assert!(lines[0].contains("not root"), "{err}");
    assert!(lines[0].contains("usermod -aG"), "{err}");
    // The report is still written, and the Docker rules carry the reason.
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (status, message) = common::verdict(&report, "docker.reachable");
    assert_eq!(status, "fail", "{message}");
    assert!(message.contains("permission denied"), "{message}");
    // facts says so too.
    let out = as_nobody(None, &["facts", "--no-statx-probe"]);
    assert!(stderr(&out).contains("notice: running as nobody"));
    // In the socket's group: no notice. Judging saved facts needs no rights: no notice.
    let out = as_nobody(Some(&gid), &args);
    assert!(!stderr(&out).contains("notice:"), "{}", stderr(&out));
    let fixture = fixture("centos7");
    let out = as_nobody(None, &["check", "--facts", fixture.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(!stderr(&out).contains("notice:"), "{}", stderr(&out));
    // As root: no notice.
    let out = preflight().args(args).output().unwrap();
    assert!(!stderr(&out).contains("notice:"), "{}", stderr(&out));
}

/// `check --bundle` takes a bundle, compressed either way, and refuses anything else (a facts
/// document, a gzip of one, a FIFO) with exit 2, reading no more than its first bytes.
#[test]
fn check_bundle_takes_only_bundles() {
    let _cores = crate::common::shared();
    let dir = tempfile::tempdir().unwrap();
    let json_path = fixture("centos7");
    let json = std::fs::read(&json_path).unwrap();
    let (code, want) = judged(&json_path, None);
    for (name, zstd) in [("b.tar.gz", false), ("b.tar.zst", true)] {
        let b = dir.path().join(name);
        tarball(
            &b,
            zstd,
            &[("wa-preflight-h-20261201T000000Z/facts.json", &json)],
        );
        let out = preflight()
            .args(["check", "--format", "json", "--bundle"])
            .arg(&b)
            .output()
            .unwrap();
        let mut got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        got["started_at"] = serde_json::Value::Null;
        got["duration_ms"] = serde_json::Value::Null;
        assert_eq!(
            (out.status.code().unwrap_or(-1), got),
            (code, want.clone()),
            "{name}"
        );
    }
    let gz = dir.path().join("facts.json.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &json).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let fifo = dir.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for not_bundle in [json_path.as_path(), gz.as_path(), fifo.as_path()] {
        let out = preflight()
            .args(["check", "--bundle"])
            .arg(not_bundle)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}: {err}",
            not_bundle.display()
        );
        assert!(
            err.contains("not a support bundle") || err.contains("not a regular file"),
            "{}: {err}",
            not_bundle.display()
        );
    }
}
