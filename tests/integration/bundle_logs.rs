//! Container logs in a bundle, read from the json-file log files, against the same logs
//! streamed by the real dockerd's Engine API (`--container-logs api`): byte for byte, for a
//! plain log, windows, rotated and compressed rotated files, a log being written, a line
//! longer than the cap; and the Engine API for other log drivers, as the manifest records.

use crate::common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::imitation::{Spec, import_image, run};
use common::{DOCKER_SOCK, preflight, require_daemon};

const IMAGE: &str = "docker.whatsapp.biz/coreapp:v2.51.2";

/// Removes the named containers now and when dropped (only these: other tests share the
/// daemon).
struct Containers(Vec<String>);

impl Containers {
    fn new(names: &[&str]) -> Containers {
        let c = Containers(names.iter().map(|n| n.to_string()).collect());
        c.remove();
        c
    }

    fn remove(&self) {
        for n in &self.0 {
            let _ = std::process::Command::new("docker")
                .env("DOCKER_HOST", format!("unix://{DOCKER_SOCK}"))
                .args(["rm", "-f", "-v", n])
                .output();
        }
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        self.remove();
    }
}

/// A busybox script that writes `n` rounds of varied lines, `pause_us` apart, to stdout and
/// stderr: UTF-8, HTML-escaped characters, quotes, tabs, control characters, CR LF, invalid
/// UTF-8, an encoded surrogate, empty lines; `pad` more bytes per round.
fn varied(n: u32, pause_us: u32, pad: usize) -> String {
    format!(
        "i=0; pad=$(head -c {pad} /dev/zero | tr '\\0' p); \
         while [ $i -lt {n} ]; do \
           printf 'INFO [%d] coreapp: unicode é ✓ <tag> & \"quotes\" \\\\ back\\ttab %s\\n' $i \"$pad\"; \
           printf 'WARN [%d] to stderr\\n' $i >&2; \
           printf '\\001\\033[31mcolour\\033[0m ctrl\\r\\n'; \
           printf '\\377\\376 invalid utf8 %d \\355\\240\\200 surrogate\\n' $i; \
           [ $((i % 25)) = 0 ] && printf '\\n'; \
           i=$((i+1)); usleep {pause_us}; \
         done; echo DONE-WRITING; exec sleep 3600"
    )
}

fn start(name: &str, log_opts: &[&str], script: &str) {
    run(&Spec {
        name,
        image: IMAGE,
        env: vec![],
        flags: log_opts.iter().map(|s| s.to_string()).collect(),
        cmd: vec!["sh", "-c", script],
    });
}

/// Waits until `name`'s log says DONE-WRITING.
fn wait_done(name: &str) {
    for _ in 0..200 {
        let out = std::process::Command::new("docker")
            .env("DOCKER_HOST", format!("unix://{DOCKER_SOCK}"))
            .args(["logs", "--tail", "3", name])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).contains("DONE-WRITING") {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{name} did not finish writing its log");
}

/// Entries of a bundle, keyed by their path below the top folder.
fn entries(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut tar = wa_preflight::bundle::open_archive(path).unwrap();
    let mut out = BTreeMap::new();
    for e in tar.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().display().to_string();
        let inner = p
            .split_once('/')
            .map_or(p.clone(), |(_, rest)| rest.to_string());
        let mut bytes = Vec::new();
        e.read_to_end(&mut bytes).unwrap();
        out.insert(inner, bytes);
    }
    out
}

/// One bundle: its files and the manifest's file entries by path.
struct Bundle {
    files: BTreeMap<String, Vec<u8>>,
    manifest: BTreeMap<String, serde_json::Value>,
}

impl Bundle {
    fn log(&self, name: &str) -> &[u8] {
        self.files
            .get(&format!("docker/{name}/logs.txt"))
            .unwrap_or_else(|| panic!("no logs.txt for {name}: {:?}", self.files.keys()))
    }

    fn source(&self, name: &str) -> &serde_json::Value {
        let f = self
            .manifest
            .get(&format!("docker/{name}/logs.txt"))
            .unwrap_or_else(|| panic!("no logs.txt for {name}: {:?}", self.manifest.keys()));
        &f["log_source"]
    }
}

fn bundle(dir: &Path, label: &str, args: &[&str]) -> Bundle {
    let out = dir.join(format!("{label}.tar.gz"));
    let o = preflight()
        .args(["bundle", "--no-statx-probe", "--force", "-o"])
        .arg(&out)
        .args(args)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let files = entries(&out);
    let m: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(m["schema_version"], 2);
    let manifest = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap().to_string(), f.clone()))
        .collect();
    Bundle { files, manifest }
}

/// Asserts `a == b`, showing where they part.
fn same(what: &str, a: &[u8], b: &[u8]) {
    if a == b {
        return;
    }
    let at = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let show = |s: &[u8]| {
        String::from_utf8_lossy(&s[at.saturating_sub(80)..(at + 80).min(s.len())]).into_owned()
    };
    panic!(
        "{what}: the file path's {} bytes and the API path's {} bytes differ at byte {at}:\nfile: {:?}\napi:  {:?}",
        a.len(),
        b.len(),
        show(a),
        show(b)
    );
}

fn via<'a>(b: &'a Bundle, name: &str) -> &'a str {
    b.source(name)["via"].as_str().unwrap_or("")
}

fn files_read(b: &Bundle, name: &str) -> Vec<String> {
    b.source(name)["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect()
}

/// The entries of `whole` (API output of a log without partial entries) that the API sends
/// for the window, by its documented rules: an entry older than `since` is skipped, the first
/// one newer than `until` ends the log. The reference where dockerd 20.10's own windowing is
/// wrong (it drops every rotated file once the oldest compressed one ends before `since`).
fn window_of(whole: &[u8], since: i64, until: i64) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in whole.split_inclusive(|b| *b == b'\n') {
        let stamp = std::str::from_utf8(&entry[..30]).unwrap();
        let t = time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
            .unwrap()
            .unix_timestamp_nanos();
        if t < i128::from(since) * 1_000_000_000 {
            continue;
        }
        if t > i128::from(until) * 1_000_000_000 {
            break;
        }
        out.extend_from_slice(entry);
    }
    out
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn log_files_give_the_bytes_the_engine_api_gives() {
    require_daemon(DOCKER_SOCK);
    let _s = common::serial(); // the shared dockerd: its containers and probes
    import_image(IMAGE, None);
    let names = [
        "wapf-logs-plain",
        "wapf-logs-rotated",
        "wapf-logs-gz",
        "wapf-logs-live",
        "wapf-logs-local",
        "wapf-logs-none",
        "wapf-logs-tty",
    ];
    let _c = Containers::new(&names);
    let t0 = now();
    // About 4.5 s of entries (160 rounds, 25 ms apart and the time to write them).
    start("wapf-logs-plain", &[], &varied(160, 25_000, 0));
    // Rounds of ~700 bytes in 8 KB files: a window 1 s into the log starts in a rotated file.
    let rotate = ["--log-opt", "max-size=8k", "--log-opt", "max-file=100"];
    start("wapf-logs-rotated", &rotate, &varied(160, 25_000, 400));
    let gz = [&rotate[..], &["--log-opt", "compress=true"]].concat();
    start("wapf-logs-gz", &gz, &varied(160, 25_000, 400));
    // Writes for about a minute, rotating and compressing, while the bundles read it.
    let live = [
        "--log-opt",
        "max-size=16k",
        "--log-opt",
        "max-file=200",
        "--log-opt",
        "compress=true",
    ];
    start("wapf-logs-live", &live, &varied(12_000, 5_000, 0));
    // A terminal: one raw stream (no stdout/stderr multiplexing), CR LF line ends.
    start("wapf-logs-tty", &["-t"], &varied(40, 1000, 0));
    start(
        "wapf-logs-local",
        &["--log-driver", "local"],
        &varied(20, 1000, 0),
    );
    start(
        "wapf-logs-none",
        &["--log-driver", "none"],
        &varied(20, 1000, 0),
    );
    for n in [
        "wapf-logs-plain",
        "wapf-logs-rotated",
        "wapf-logs-gz",
        "wapf-logs-local",
        "wapf-logs-tty",
    ] {
        wait_done(n);
    }
    let dir = tempfile::tempdir().unwrap();

    // The whole log; the live log read between two API reads.
    let whole = ["--since", "1h", "--no-redact"];
    let api_before = bundle(
        dir.path(),
        "api-before",
        &[&whole[..], &["--container-logs", "api"]].concat(),
    );
    let file = bundle(dir.path(), "file", &whole);
    let api_after = bundle(
        dir.path(),
        "api-after",
        &[&whole[..], &["--container-logs", "api"]].concat(),
    );
    for n in [
        "wapf-logs-plain",
        "wapf-logs-rotated",
        "wapf-logs-gz",
        "wapf-logs-tty",
    ] {
        assert_eq!(via(&file, n), "json-file", "{n}: {}", file.source(n));
        assert_eq!(via(&api_before, n), "engine-api");
        assert!(file.log(n).len() > 4_000, "{n} has a log");
        same(n, file.log(n), api_before.log(n));
    }
    assert!(files_read(&file, "wapf-logs-rotated").len() > 5);
    assert!(
        files_read(&file, "wapf-logs-gz")
            .iter()
            .filter(|f| f.ends_with(".gz"))
            .count()
            > 5
    );
    // The live log: what the file path read lies between the two API reads.
    let (before, during, after) = (
        api_before.log("wapf-logs-live"),
        file.log("wapf-logs-live"),
        api_after.log("wapf-logs-live"),
    );
    assert_eq!(via(&file, "wapf-logs-live"), "json-file");
    assert!(
        before.len() < during.len() && during.len() < after.len(),
        "the log grew"
    );
    same("live, earlier API read", &during[..before.len()], before);
    same("live, later API read", during, &after[..during.len()]);
    assert!(during.ends_with(b"\n"), "whole entries only");

    // Other drivers: through the API, the manifest says why.
    for b in [&file, &api_before] {
        assert_eq!(via(b, "wapf-logs-local"), "engine-api");
    }
    let reason = file.source("wapf-logs-local")["reason"].as_str().unwrap();
    assert!(reason.contains("local"), "{reason}");
    same(
        "local driver",
        file.log("wapf-logs-local"),
        api_before.log("wapf-logs-local"),
    );
    assert!(String::from_utf8_lossy(file.log("wapf-logs-local")).contains("DONE-WRITING"));
    // `none` keeps no log: the engine's answer is in logs.error, the inspect is still there.
    let none = &file.manifest["docker/wapf-logs-none/logs.error"];
    assert!(
        none["log_source"]["reason"]
            .as_str()
            .unwrap()
            .contains("none"),
        "{none}"
    );
    assert!(
        file.files
            .contains_key("docker/wapf-logs-none/inspect.json")
    );

    // A window in the middle; it starts in a rotated file (plain and compressed).
    let (since, until) = ((t0 + 3).to_string(), (t0 + 4).to_string());
    let window = ["--since", &since, "--until", &until, "--no-redact"];
    let api = bundle(
        dir.path(),
        "api-window",
        &[&window[..], &["--container-logs", "api"]].concat(),
    );
    let file = bundle(dir.path(), "file-window", &window);
    for n in ["wapf-logs-plain", "wapf-logs-rotated", "wapf-logs-gz"] {
        assert_eq!(via(&file, n), "json-file");
        assert!(!file.log(n).is_empty(), "{n}: the window holds entries");
        let whole = api_before.log(n);
        same(n, file.log(n), &window_of(whole, t0 + 3, t0 + 4));
        if n != "wapf-logs-gz" {
            same(n, file.log(n), api.log(n));
        }
        assert!(
            file.log(n).len() < whole.len() / 2,
            "{n}: a part of the log"
        );
    }
    // dockerd 20.10 skips every rotated file once the oldest compressed one ends before
    // `since` (later releases do not): its API sends the window's newest part, or all of it.
    assert!(file.log("wapf-logs-gz").ends_with(api.log("wapf-logs-gz")));
    let rotated = files_read(&file, "wapf-logs-rotated");
    assert!(
        rotated[0].ends_with(|c: char| c.is_ascii_digit()),
        "{rotated:?}"
    );
    assert!(files_read(&file, "wapf-logs-gz")[0].ends_with(".gz"));
}

#[test]
fn a_line_longer_than_the_cap() {
    require_daemon(DOCKER_SOCK);
    let _s = common::serial(); // the shared dockerd: its containers and probes
    import_image(IMAGE, None);
    let names = ["wapf-logs-long", "wapf-logs-long-rotated"];
    let _c = Containers::new(&names);
    // 300 KiB in one line (dockerd stores it as 16 KiB partial entries), short lines, and a
    // last line of 300 KiB: the cap cuts inside it.
    let script = "echo first; head -c 307200 /dev/zero | tr '\\0' L; echo; echo after-1; \
                  head -c 307200 /dev/zero | tr '\\0' M; echo DONE-WRITING; exec sleep 3600";
    start("wapf-logs-long", &[], script);
    start(
        "wapf-logs-long-rotated",
        &[
            "--log-opt",
            "max-size=50k",
            "--log-opt",
            "max-file=50",
            "--log-opt",
            "compress=true",
        ],
        script,
    );
    for n in names {
        wait_done(n);
    }
    let dir = tempfile::tempdir().unwrap();
    for cap in ["64KiB", "1MiB"] {
        let args = ["--since", "1h", "--no-redact", "--max-file-size", cap];
        let api = bundle(
            dir.path(),
            &format!("api-{cap}"),
            &[&args[..], &["--container-logs", "api"]].concat(),
        );
        let file = bundle(dir.path(), &format!("file-{cap}"), &args);
        for n in names {
            assert_eq!(via(&file, n), "json-file");
            same(&format!("{n} capped at {cap}"), file.log(n), api.log(n));
        }
        let log = file.log("wapf-logs-long");
        if cap == "64KiB" {
            assert_eq!(log.len(), 64 << 10, "cut inside the last line");
            assert!(log.ends_with(b"MMMDONE-WRITING\n"));
        } else {
            // Each 16 KiB piece carries its own time, as the API sends it.
            let text = String::from_utf8_lossy(log);
            assert!(
                text.matches("Z LLLL").count() >= 19,
                "pieces of the long line"
            );
            assert!(text.contains(" first\n"));
        }
    }
}
