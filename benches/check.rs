//! Wall time of `preflight check` (disk probe and, where dockerd runs, the statx container
//! probe included), and of the Docker part alone.
//!
//! Runs the release binary as a user would (process start, gathering, evaluation, rendering)
//! and prints min / median / p90 over the runs. Figures, not assertions: the target (median
//! under 100 ms on a 2-core machine) is judged by reading them.
//!
//! `cargo bench --bench check` (set `PREFLIGHT_BENCH_RUNS` to change the number of runs).

use std::process::Command;
use std::time::{Duration, Instant};

fn run(args: &[&str]) -> Duration {
    let t = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_preflight"))
        .args(args)
        .env("WA_PREFLIGHT_CONFIG", "/dev/null")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run preflight");
    let elapsed = t.elapsed();
    // 0, 3 and 4 are verdicts; anything else means the bench measured a broken run.
    assert!(
        matches!(status.code(), Some(0 | 3 | 4)),
        "preflight {args:?} exited {status}"
    );
    elapsed
}

fn report(name: &str, args: &[&str], runs: usize) {
    run(args); // warm the page cache and the binary
    let times: Vec<Duration> = (0..runs).map(|_| run(args)).collect();
    print_stats(name, times);
}

/// Prints min, median and p90 of `times`.
fn print_stats(name: &str, mut times: Vec<Duration>) {
    times.sort();
    let runs = times.len();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{name:<44} runs {runs:>3}  min {:>7.2} ms  median {:>7.2} ms  p90 {:>7.2} ms",
        ms(times[0]),
        ms(times[runs / 2]),
        ms(times[(runs * 9 / 10).min(runs - 1)])
    );
}

/// The Docker part alone, in process: connect + /version + /info, then profile, containers
/// and (optionally) the statx probe. Skipped, and said so, when no daemon answers.
fn docker_part(runs: usize) {
    use wa_preflight::facts::docker::{self, DockerOptions};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for probe in [false, true] {
        let opts = DockerOptions {
            statx_probe: probe,
            ..DockerOptions::default()
        };
        let mut times = Vec::with_capacity(runs);
        for i in 0..=runs {
            let t = Instant::now();
            let connected = match rt.block_on(docker::connect(&opts)) {
                Ok(c) => c,
                Err(e) => {
                    println!("docker part: not measured, no daemon ({e})");
                    return;
                }
            };
            let (facts, _) = rt.block_on(docker::describe(
                connected,
                &opts,
                time::OffsetDateTime::now_utc(),
            ));
            if probe {
                assert!(
                    matches!(
                        facts.statx_probe,
                        Some(wa_preflight::facts::Fact::Available(_))
                    ),
                    "the probe did not run: {:?}",
                    facts.statx_probe
                );
            }
            if i > 0 {
                times.push(t.elapsed()); // the first run warms up
            }
        }
        print_stats(
            if probe {
                "docker part, with statx probe"
            } else {
                "docker part, without probe"
            },
            times,
        );
    }
}

/// The database part alone, in process, against the test bed's PostgreSQL 13 on loopback:
/// connect time and the whole part (connect, identify, 50 round trips, settings, grants).
fn database_part(runs: usize) {
    use wa_preflight::facts::Fact;
    use wa_preflight::facts::database::{self, DbFlags, DbOptions};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let opts = DbOptions {
        flags: DbFlags {
            url: Some("postgres://wa:wa-pass@127.0.0.1:15413".to_string()),
            ..DbFlags::default()
        },
        ..DbOptions::default()
    };
    let mut whole = Vec::with_capacity(runs);
    let mut connect = Vec::with_capacity(runs);
    for i in 0..=runs {
        let t = Instant::now();
        let facts = match rt.block_on(database::gather(&opts, &Default::default())) {
            Ok(f) => f,
            Err(e) => {
                println!("database part: not measured ({e})");
                return;
            }
        };
        if !matches!(facts.server, Some(Fact::Available(_))) {
            println!(
                "database part: not measured, no server on 127.0.0.1:15413 (scripts/testbed.sh)"
            );
            return;
        }
        if i > 0 {
            whole.push(t.elapsed());
            connect.push(Duration::from_secs_f64(
                facts.connect_us.unwrap_or(0.0) / 1e6,
            ));
        }
    }
    for (name, times) in [
        ("database connect (TCP + auth), PostgreSQL 13", connect),
        ("database part, 50 samples, PostgreSQL 13", whole),
    ] {
        print_stats(name, times);
    }
}

fn main() {
    let runs: usize = std::env::var("PREFLIGHT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
        .max(1);
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/centos7/facts.json");
    report(
        "check (all rules, disk + statx probes)",
        &["check", "--format", "json"],
        runs,
    );
    report(
        "check --facts (evaluate + render only)",
        &["check", "--format", "json", "--facts", fixture],
        runs,
    );
    report("facts (gather only)", &["facts"], runs);
    report(
        "check --no-statx-probe",
        &["check", "--format", "json", "--no-statx-probe"],
        runs,
    );
    docker_part(runs.min(15));
    database_part(runs);
}
