//! What a person sees: the terminal report's default view (skips grouped by cause), `--all`
//! and `-v`, fitting the width, observed values that are never placeholders, one failure
//! reported once, and `explain`/`rules` in words and within the width.

use crate::common;

use common::{fixture, preflight};

/// `preflight ARGS` at `columns` columns: standard output.
fn at_width(columns: usize, args: &[&str]) -> String {
    let out = preflight()
        .env("COLUMNS", columns.to_string())
        .args(args)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

fn ids_in_rows(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let status = words.next()?;
            ["PASS", "INFO", "WARN", "FAIL", "ERROR", "SKIP", "WAIVED"]
                .contains(&status)
                .then(|| words.next().map(str::to_string))?
        })
        .collect()
}

#[test]
fn skipped_rules_collapse_by_cause_and_all_shows_every_row() {
    let _cores = crate::common::shared();
    let ci = fixture("debian12-ci");
    let ci = ci.to_str().unwrap();
    let default = at_width(80, &["check", "--facts", ci]);
    let rows = ids_in_rows(&default);
    // The database rules wait on one cause: one line, which says what to give.
    let db: Vec<&str> = default.lines().filter(|l| l.contains("db.")).collect();
    assert_eq!(db.len(), 1, "{default}");
    assert!(db[0].starts_with("SKIP    db.* (10)"), "{}", db[0]);
    assert!(db[0].contains("no database configured: give --db-url"));
    // A skip whose prerequisite warned names it, without repeating its message.
    assert!(
        default.contains("prerequisite wa.containers.present is warn\n"),
        "{default}"
    );
    assert_eq!(
        default
            .matches("no coreapp or webapp container found")
            .count(),
        1,
        "{default}"
    );
    assert!(!rows.contains(&"db.version".to_string()));
    assert!(default.contains(" skip (--all lists them)"), "{default}");

    // --all and -v: every rule its own row, skipped ones too.
    for flag in ["--all", "-v"] {
        let all = at_width(80, &["check", flag, "--facts", ci]);
        let rows = ids_in_rows(&all);
        let json = at_width(80, &["check", "--format", "json", "--facts", ci]);
        let report: serde_json::Value = serde_json::from_str(&json).unwrap();
        for r in report["results"].as_array().unwrap() {
            let id = r["id"].as_str().unwrap().to_string();
            assert!(rows.contains(&id), "{flag}: {id} has no row");
        }
        assert!(!all.contains("--all lists them"), "{flag}");
    }
    // Machine formats keep every rule in the default view.
    for format in ["json", "junit", "markdown", "prometheus"] {
        let text = at_width(80, &["check", "--format", format, "--facts", ci]);
        assert!(text.contains("db.version"), "{format} lost db.version");
    }
}

#[test]
fn the_report_fits_the_width_without_breaking_tokens() {
    let _cores = crate::common::shared();
    let centos = fixture("centos7");
    let centos = centos.to_str().unwrap();
    for width in [60, 80, 100] {
        let text = at_width(width, &["check", "--all", "--facts", centos]);
        for line in text.lines() {
            let w = line.chars().count();
            if w > width {
                // Only a token longer than the message column may overflow (a URL, a
                // timestamp); the status and rule columns take 32 of the width.
                assert!(
                    line.split_whitespace()
                        .any(|t| t.chars().count() > width - 32),
                    "{width}: {line:?}"
                );
            }
        }
        // IDs and links whole.
        for id in [
            "docker.seccomp.statx",
            "wa.containers.running",
            "db.password.charset",
        ] {
            assert!(
                text.lines().any(|l| l.split_whitespace().any(|t| t == id)),
                "{width}: {id} broken"
            );
        }
        assert!(text.contains(
            "see https://developers.facebook.com/docs/whatsapp/on-premises/get-started\n"
        ));
        // The remedies wrap too.
        let todo = &text[text.find("What to do:").unwrap()..];
        assert!(
            todo.lines()
                .filter(|l| !l.trim_start().starts_with("see "))
                .all(|l| l.chars().count() <= width),
            "{width}: {todo}"
        );
    }
    // Wide: an observed column, long values shortened with an ellipsis (JSON keeps them whole).
    let wide = at_width(160, &["check", "--all", "--facts", centos]);
    assert!(wide.lines().next().unwrap().contains("OBSERVED"), "{wide}");
    assert!(wide.contains('…'), "{wide}");
    let narrow = at_width(80, &["check", "--facts", centos]);
    assert!(!narrow.lines().next().unwrap().contains("OBSERVED"));
}

/// Observed values from a real run with no Docker and no client: nothing or a fact, never a
/// line of placeholders, and an unavailable fact's reason once.
#[test]
fn observed_values_are_never_placeholders() {
    let _cores = crate::common::shared();
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let rules = dir.path().join("net.yaml");
    std::fs::write(
        &rules,
        format!(
            "network:\n  timeout_ms: 1000\n  whatsapp:\n    - {{host: 127.0.0.1, ports: [{}]}}\n",
            listener.local_addr().unwrap().port()
        ),
    )
    .unwrap();
    let (_, report) = common::check_json(&[
        "--docker-host",
        "unix:///nonexistent/docker.sock",
        "--no-statx-probe",
        "--rules",
        rules.to_str().unwrap(),
    ]);
    for r in report["results"].as_array().unwrap() {
        let Some(observed) = r["observed"].as_str() else {
            continue;
        };
        for placeholder in ["—", "none (none)", "none → none", "exit code —"] {
            assert!(!observed.contains(placeholder), "{}: {observed:?}", r["id"]);
        }
    }
    let (_, message) = common::verdict(&report, "docker.reachable");
    let observed = common::result(&report, "docker.reachable")["observed"]
        .as_str()
        .unwrap()
        .to_string();
    let reason = "no Docker socket at /nonexistent/docker.sock";
    assert_eq!(observed.matches(reason).count(), 1, "{observed}");
    assert!(message.contains(reason));
}

/// A name that does not resolve fails net.dns once; the reach rules wait on it.
#[test]
fn a_dns_failure_is_reported_once() {
    let _cores = crate::common::shared();
    let ci = fixture("debian12-ci");
    let (_, report) = common::check_json(&["--facts", ci.to_str().unwrap()]);
    common::assert_verdict(&report, "net.dns", "fail", "do not resolve");
    for id in ["net.whatsapp.443", "net.whatsapp.5222"] {
        common::assert_verdict(&report, id, "skip", "prerequisite net.dns is fail");
    }
    let text = at_width(80, &["check", "--facts", ci.to_str().unwrap()]);
    assert_eq!(text.matches("does not resolve").count(), 0, "{text}");
    assert!(text.contains("SKIP    net.* (2)"), "{text}");
}

#[test]
fn explain_gives_thresholds_in_words() {
    let _cores = crate::common::shared();
    let text = at_width(80, &["explain", "db.latency"]);
    assert!(text.contains("fail  when p95 > 20 ms"), "{text}");
    assert!(text.contains("warn  when p95 > 5 ms"), "{text}");
    assert!(text.contains("requires:  db.reachable"));
    assert!(text.contains("profiles:  production, development"));
    assert!(text.contains("source: https://"));
    let text = at_width(80, &["explain", "host.disk.size"]);
    assert!(text.contains("< 250 GB"), "{text}");
    let text = at_width(80, &["explain", "net.whatsapp.443"]);
    assert!(
        text.contains("items:     those where port is 443"),
        "{text}"
    );
    assert!(
        text.lines()
            .all(|l| l.chars().count() <= 80 || l.contains("https://"))
    );
}

#[test]
fn rules_fit_the_width() {
    let _cores = crate::common::shared();
    for width in [60, 80, 120] {
        let text = at_width(width, &["rules"]);
        let mut count = 0;
        for line in text.lines() {
            assert!(line.chars().count() <= width, "{width}: {line:?}");
            if line.starts_with(|c: char| c.is_ascii_lowercase()) {
                count += 1;
            }
        }
        assert!(count >= 47, "{width}: {count} rules listed");
        assert!(text.contains("docker.seccomp.statx"));
    }
}
