//! `/metrics`: the report's rule gauges, facts worth graphing, and the daemon's own state.
//! All gauges: a value now, never an ever-growing total, so a restart changes nothing.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::Shared;
use crate::facts::{Fact, Facts};
use crate::report::Report;
use crate::report::prometheus::{header, label};

/// Writes one gauge family; `samples` are (labels, value).
fn family(out: &mut String, name: &str, help: &str, samples: &[(String, f64)]) {
    if samples.is_empty() {
        return;
    }
    let _ = header(out, name, help);
    for (labels, v) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {v}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    }
}

fn us(v: f64) -> f64 {
    v / 1e6
}

/// Unix time of 00:00 UTC on an `EXPIRES_ON` date (`YYYY-MM-DD`); `None` when it is not one.
/// Prometheus wants base units: a timestamp, so alerts compute the time left with `- time()`.
fn expiry_timestamp(expires_on: &str) -> Option<i64> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(expires_on.trim(), &fmt).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp())
}

/// Gauges of one run: the build and rules that judged it, the report's gauges, then facts
/// worth graphing. `rules_version` is [`crate::rules::RuleSet::version`].
pub fn run_gauges(report: &Report, facts: &Facts, run_id: u64, rules_version: &str) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "wa_preflight_build_info",
        "Always 1: the version of wa-preflight and of the rules in force, as labels.",
        &[(
            format!(
                "version=\"{}\",rules_version=\"{}\"",
                label(env!("CARGO_PKG_VERSION")),
                label(rules_version)
            ),
            1.0,
        )],
    );
    out.push_str(&crate::report::prometheus::render(report).unwrap_or_default());
    family(
        &mut out,
        "wa_preflight_run_id",
        "Sequence number of the published run (changes only when a run completes).",
        &[(String::new(), run_id as f64)],
    );
    if let Fact::Available(m) = &facts.host.memory {
        family(
            &mut out,
            "wa_preflight_memory_total_bytes",
            "MemTotal.",
            &[(String::new(), m.total_bytes as f64)],
        );
    }
    if let Fact::Available(fs) = &facts.host.storage {
        let mp = |f: &crate::facts::storage::FilesystemFacts| {
            format!("mount_point=\"{}\"", label(&f.mount_point))
        };
        family(
            &mut out,
            "wa_preflight_filesystem_free_bytes",
            "Free bytes of each judged filesystem.",
            &fs.iter()
                .map(|f| (mp(f), f.free_bytes as f64))
                .collect::<Vec<_>>(),
        );
        family(
            &mut out,
            "wa_preflight_filesystem_size_bytes",
            "Size of each judged filesystem.",
            &fs.iter()
                .map(|f| (mp(f), f.size_bytes as f64))
                .collect::<Vec<_>>(),
        );
        family(
            &mut out,
            "wa_preflight_disk_sync_write_p50_seconds",
            "Median latency of flushed 4 KiB writes.",
            &fs.iter()
                .filter_map(|f| f.latency.sync_write.as_ref().map(|w| (mp(f), us(w.p50_us))))
                .collect::<Vec<_>>(),
        );
    }
    if let Some(Fact::Available(c)) = &facts.host.clock {
        family(
            &mut out,
            "wa_preflight_clock_synchronised",
            "1 when the kernel clock is NTP-synchronised.",
            &[(String::new(), f64::from(u8::from(c.synchronised)))],
        );
        if let Some(off) = c.max_peer_offset_ms {
            family(
                &mut out,
                "wa_preflight_clock_peer_offset_seconds",
                "Largest absolute offset to a compared clock.",
                &[(String::new(), off as f64 / 1000.0)],
            );
        }
    }
    if let Some(Fact::Available(db)) = &facts.database {
        if let Some(Fact::Available(l)) = &db.latency {
            // Percentiles of one measurement: gauges of their own (a `quantile` label is
            // reserved for summaries, whose _sum and _count are counters we do not have).
            for (p, v) in [("p50", l.p50_us), ("p95", l.p95_us), ("p99", l.p99_us)] {
                family(
                    &mut out,
                    &format!("wa_preflight_db_latency_{p}_seconds"),
                    &format!(
                        "{}th percentile of the database round trips of the last measurement.",
                        &p[1..]
                    ),
                    &[(String::new(), us(v))],
                );
            }
        }
        if let Some(c) = db.connect_us {
            family(
                &mut out,
                "wa_preflight_db_connect_seconds",
                "Time to open a database session.",
                &[(String::new(), us(c))],
            );
        }
    }
    if let Some(Fact::Available(d)) = &facts.docker
        && let Fact::Available(wa) = &d.wa
    {
        let c = |c: &crate::facts::docker::containers::ContainerFacts| {
            format!(
                "name=\"{}\",role=\"{}\"",
                label(&c.name),
                if c.role == crate::facts::docker::containers::Role::Coreapp {
                    "coreapp"
                } else {
                    "webapp"
                }
            )
        };
        family(
            &mut out,
            "wa_preflight_container_running",
            "1 when the WhatsApp container runs.",
            &wa.containers
                .iter()
                .map(|x| (c(x), f64::from(u8::from(x.running))))
                .collect::<Vec<_>>(),
        );
        family(
            &mut out,
            "wa_preflight_container_restarts",
            "Docker's restart count of the container (a gauge: it resets when the container is recreated).",
            &wa.containers
                .iter()
                .map(|x| (c(x), x.restart_count as f64))
                .collect::<Vec<_>>(),
        );
        family(
            &mut out,
            "wa_preflight_client_expiry_timestamp_seconds",
            "When the client version expires: the start (00:00 UTC) of its EXPIRES_ON date, in Unix time.",
            &wa.containers
                .iter()
                .filter_map(|x| {
                    x.expires_on
                        .as_deref()
                        .and_then(expiry_timestamp)
                        .map(|t| (c(x), t as f64))
                })
                .collect::<Vec<_>>(),
        );
    }
    if let Some(Fact::Available(cl)) = &facts.client
        && let Fact::Available(r) = &cl.api.reach
    {
        family(
            &mut out,
            "wa_preflight_api_latency_seconds",
            "Time of the client's GET /v1/health.",
            &[(String::new(), us(r.elapsed_us as f64))],
        );
    }
    if let Some(Fact::Available(n)) = &facts.network
        && let Fact::Available(w) = &n.whatsapp
    {
        family(
            &mut out,
            "wa_preflight_net_connect_seconds",
            "TCP connect time to each WhatsApp endpoint (absent when it failed).",
            &w.checks
                .iter()
                .filter_map(|x| {
                    x.connect_us.map(|c| {
                        (
                            format!("host=\"{}\",port=\"{}\"", label(&x.host), x.port),
                            us(c as f64),
                        )
                    })
                })
                .collect::<Vec<_>>(),
        );
    }
    out
}

/// The daemon's own state, rendered per request.
pub fn daemon_gauges(shared: &Shared) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "wa_preflight_ready",
        "1 once the first run has finished.",
        &[(
            String::new(),
            f64::from(u8::from(shared.latest().is_some())),
        )],
    );
    family(
        &mut out,
        "wa_preflight_last_run_ok",
        "0 when the last run was abandoned at its deadline (previous results still served).",
        &[(
            String::new(),
            f64::from(u8::from(shared.last_run_ok.load(Ordering::Relaxed))),
        )],
    );
    family(
        &mut out,
        "wa_preflight_config_reload_ok",
        "0 when the last SIGHUP reload was rejected (the previous configuration is in use).",
        &[(
            String::new(),
            f64::from(u8::from(shared.reload_ok.load(Ordering::Relaxed))),
        )],
    );
    family(
        &mut out,
        "wa_preflight_history_ok",
        "0 when the last run could not be recorded in the history database.",
        &[(
            String::new(),
            f64::from(u8::from(shared.history_ok.load(Ordering::Relaxed))),
        )],
    );
    if let Ok(g) = shared.group_last_run.lock() {
        family(
            &mut out,
            "wa_preflight_group_last_run_timestamp_seconds",
            "When each fact group was last gathered (Unix time).",
            &g.iter()
                .map(|(k, t)| {
                    (
                        format!("group=\"{}\"", k.as_str()),
                        t.unix_timestamp() as f64,
                    )
                })
                .collect::<Vec<_>>(),
        );
    }
    if let Some(n) = &shared.notifier {
        family(
            &mut out,
            "wa_preflight_webhook_queue_length",
            "Transitions waiting to be POSTed.",
            &[(String::new(), n.queued() as f64)],
        );
        family(
            &mut out,
            "wa_preflight_webhook_ok",
            "0 when the last transition could not be delivered (every attempt failed, or the queue was full).",
            &[(String::new(), f64::from(u8::from(n.ok())))],
        );
    }
    out
}
