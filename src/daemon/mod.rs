//! `preflight daemon`: the same pipeline (facts → rules → report) on a schedule, served over
//! HTTP for Prometheus and people, with transitions kept in a history database.
//!
//! One scheduler loop owns the runs, so runs never overlap; HTTP handlers only read the latest
//! published run, so no request (or burst of them) ever causes a run. Each fact group has its
//! own interval: a run gathers the groups that are due and carries the others over from the
//! previous run. Every gatherer has its own deadline and the run as a whole has one more, so a
//! stuck gatherer costs at most its deadline and never blocks publishing.
//!
//! systemd: `Type=notify` READY after the first run, WATCHDOG pings, SIGHUP reloads config and
//! rules (an invalid new config is rejected and the old one kept), SIGTERM stops within 5 s.

pub mod history;
pub mod http;
pub mod metrics;
pub mod notify;
pub mod server;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::signal::unix::{SignalKind, signal};

use crate::facts::{self, Facts, Group, Groups, NoProgress};
use crate::report::Report;
use crate::rules::eval::EvalContext;

use crate::secret::Secret;
use crate::settings::DaemonFlags;
use crate::settings::{DaemonSettings, Setup};
use history::{History, Transition};

/// A completed run, as served.
pub struct Published {
    /// Sequence number of the run since the daemon started, from 1.
    pub run_id: u64,
    /// The run's report.
    pub report: Report,
    /// The report as served on `/v1/report` (pretty JSON), serialised once.
    pub report_json: String,
    /// Rule gauges and fact gauges of this run, rendered once.
    pub metrics: String,
    /// The facts the report was judged from: the groups gathered in this run, the others carried
    /// over from earlier runs.
    pub facts: Facts,
    /// The groups gathered in this run (always with [`Group::Base`]).
    pub groups: Vec<Group>,
}

/// State shared between the scheduler and the HTTP handlers.
pub struct Shared {
    /// The latest completed run; None until the first run finishes.
    pub latest: RwLock<Option<Arc<Published>>>,
    /// The bearer token the HTTP handlers require; replaced on SIGHUP.
    pub token: RwLock<Option<Secret>>,
    /// The open history database; None until the first run opens it, or after opening failed.
    pub history: tokio::sync::Mutex<Option<History>>,
    /// The last note about the history database (moved aside as corrupt or locked, or recreated
    /// after being replaced); written for the log, not served.
    pub history_note: Mutex<Option<String>>,
    /// Runs published since the daemon started.
    pub runs: AtomicU64,
    /// The last history write succeeded.
    pub history_ok: AtomicBool,
    /// The last run finished within its deadline and was judged (`wa_preflight_last_run_ok`).
    pub last_run_ok: AtomicBool,
    /// The last SIGHUP reload succeeded, or there was none (`wa_preflight_config_reload_ok`).
    pub reload_ok: AtomicBool,
    /// When each fact group was last gathered (`wa_preflight_group_last_run_timestamp_seconds`).
    pub group_last_run: Mutex<BTreeMap<Group, OffsetDateTime>>,
    /// The transition webhook's sender, when one is configured.
    pub notifier: Option<notify::Notifier>,
}

impl Shared {
    /// The latest completed run, if any; a cheap clone of the [`Arc`].
    pub fn latest(&self) -> Option<Arc<Published>> {
        self.latest.read().ok().and_then(|l| l.clone())
    }
}

/// When each group is due.
struct Scheduler {
    intervals: BTreeMap<Group, Duration>,
    last: BTreeMap<Group, Instant>,
}

impl Scheduler {
    fn until_next(&self, now: Instant) -> Duration {
        Group::ALL
            .iter()
            .map(|g| match self.last.get(g) {
                None => Duration::ZERO,
                Some(at) => (*at + self.intervals[g]).saturating_duration_since(now),
            })
            .min()
            .unwrap_or(Duration::from_secs(60))
    }

    /// The due groups (never empty when called after `until_next` elapsed); marks them run.
    fn take_due(&mut self, now: Instant) -> Vec<Group> {
        let mut due: Vec<Group> = Group::ALL
            .iter()
            .copied()
            .filter(|g| {
                self.last.get(g).is_none_or(|at| {
                    now.duration_since(*at) + Duration::from_millis(50) >= self.intervals[g]
                })
            })
            .collect();
        // The others depend on container discovery: base facts come along every time.
        if !due.is_empty() && !due.contains(&Group::Base) {
            due.insert(0, Group::Base);
        }
        for g in &due {
            self.last.insert(*g, now);
        }
        due
    }
}

/// One run: gather the due groups under the run deadline, merge, judge.
async fn run_once(
    setup: &Setup,
    due: &[Group],
    prev: Option<&Facts>,
) -> Result<(Facts, Report), String> {
    let mut opts = setup.gather.clone();
    opts.groups = Groups::of(due);
    let started_at = OffsetDateTime::now_utc();
    let clock = Instant::now();
    let deadline = setup.settings.run_deadline;
    let gathered = tokio::time::timeout(deadline, facts::gather(&opts, Arc::new(NoProgress)))
        .await
        .map_err(|_| format!("the run did not finish within {} s", deadline.as_secs()))?;
    let facts = facts::group::carry_over(gathered, prev, Groups::of(due));
    let ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
    let report = judge(setup, &facts, started_at, ms)?;
    Ok((facts, report))
}

/// Evaluates `facts` with the setup's rules, profile and waivers: after a run, and after
/// SIGHUP on the facts already gathered.
fn judge(
    setup: &Setup,
    facts: &Facts,
    started_at: OffsetDateTime,
    duration_ms: u64,
) -> Result<Report, String> {
    let ctx = EvalContext {
        profile: setup.profile,
        waivers: &setup.config.waivers,
        today: started_at.date(),
    };
    crate::check::build_report(facts, &setup.set, &ctx, started_at, duration_ms)
        .map_err(|e| format!("cannot evaluate: {e}"))
}

fn publish(
    shared: &Shared,
    facts: Facts,
    report: Report,
    groups: Vec<Group>,
    rules_version: &str,
) -> u64 {
    let run_id = shared.runs.fetch_add(1, Ordering::SeqCst) + 1;
    let report_json = serde_json::to_string_pretty(&report).unwrap_or_else(|e| {
        tracing::error!("cannot serialise the report: {e}");
        "{}".to_string()
    });
    let metrics = metrics::run_gauges(&report, &facts, run_id, rules_version);
    let p = Arc::new(Published {
        run_id,
        report,
        report_json,
        metrics,
        facts,
        groups,
    });
    if let Ok(mut l) = shared.latest.write() {
        *l = Some(p);
    }
    run_id
}

/// One log line per status change of a rule seen before. Changes into `warn`, `fail` or
/// `error` are logged as warnings (journal priority 4, so `journalctl -p warning` shows
/// them), the others as information.
fn log_transition(t: &Transition) {
    let line = format!(
        "{} {} -> {} ({} -> {}): {}",
        t.rule,
        t.old_status.as_deref().unwrap_or("none"),
        t.new_status,
        t.old_observed.as_deref().unwrap_or("-"),
        t.new_observed.as_deref().unwrap_or("-"),
        t.message
    );
    if matches!(t.new_status.as_str(), "warn" | "fail" | "error") {
        tracing::warn!(target: "wa_preflight::transition", "{line}");
    } else {
        tracing::info!(target: "wa_preflight::transition", "{line}");
    }
}

/// Logs one run's transitions: rules the history has never seen (every rule on the first run,
/// new rules after an upgrade) as one summary line, the others one line each.
fn log_transitions(report: &Report, transitions: &[Transition]) {
    let first_seen: std::collections::HashSet<&str> = transitions
        .iter()
        .filter(|t| t.old_status.is_none())
        .map(|t| t.rule.as_str())
        .collect();
    if !first_seen.is_empty() {
        let results: Vec<&crate::rules::RuleResult> = report
            .results
            .iter()
            .filter(|r| first_seen.contains(r.id.as_str()))
            .collect();
        let what = if results.len() == report.results.len() {
            "first run".to_string()
        } else {
            format!("{} rule(s) seen for the first time", results.len())
        };
        let line = format!(
            "{what}: {}",
            crate::report::summary_line(results.iter().copied())
        );
        if results.iter().any(|r| {
            matches!(
                r.status,
                crate::rules::Status::Warn
                    | crate::rules::Status::Fail
                    | crate::rules::Status::Error
            )
        }) {
            tracing::warn!(target: "wa_preflight::transition", "{line}");
        } else {
            tracing::info!(target: "wa_preflight::transition", "{line}");
        }
    }
    for t in transitions.iter().filter(|t| t.old_status.is_some()) {
        log_transition(t);
    }
}

async fn record_history(
    shared: &Shared,
    settings: &DaemonSettings,
    report: &Report,
    groups: &[Group],
) {
    let names: Vec<&str> = groups.iter().map(|g| g.as_str()).collect();
    let mut guard = shared.history.lock().await;
    // Twice at most: a database deleted or replaced under us is closed, recreated and written
    // in the same run.
    for _ in 0..2 {
        if guard.is_none() {
            match History::open(&settings.history_path, settings.retention).await {
                Ok((h, note)) => {
                    if let (Some(n), Ok(mut slot)) = (note, shared.history_note.lock()) {
                        *slot = Some(n);
                    }
                    *guard = Some(h);
                }
                Err(e) => {
                    shared.history_ok.store(false, Ordering::Relaxed);
                    tracing::error!("history unavailable, this run is not recorded: {e}");
                    return;
                }
            }
        }
        let Some(h) = guard.as_mut() else { return };
        match h.record(report, &names.join(",")).await {
            Ok((_, transitions)) => {
                shared.history_ok.store(true, Ordering::Relaxed);
                log_transitions(report, &transitions);
                for t in &transitions {
                    if let Some(n) = &shared.notifier {
                        n.send(t);
                    }
                }
                return;
            }
            Err(e @ history::HistoryError::Replaced { .. }) => {
                tracing::error!("{e}; recreating it");
                if let Ok(mut slot) = shared.history_note.lock() {
                    *slot = Some(format!("{e}; recreated"));
                }
                if let Some(old) = guard.take() {
                    old.close().await;
                }
            }
            Err(e) => {
                shared.history_ok.store(false, Ordering::Relaxed);
                tracing::error!("cannot record the run in the history (reopening next run): {e}");
                // Reopen next time: a corrupt or locked file is then moved aside.
                *guard = None;
                return;
            }
        }
    }
    shared.history_ok.store(false, Ordering::Relaxed);
}

fn sd_notify(states: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!("sd_notify: {e}");
    }
}

/// Runs the daemon until SIGTERM or SIGINT with `setup`; on SIGHUP it is built again from
/// `flags` and the files they name ([`crate::settings::daemon_setup`]).
///
/// # Errors
///
/// Binding the listen address, or setting up the signal handlers, failed; the message says which. A
/// failed run, history write or reload is logged and served, never returned.
pub async fn serve(mut setup: Setup, flags: DaemonFlags) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(setup.settings.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", setup.settings.listen))?;
    let listen = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listen address: {e}"))?;
    let notifier = setup.settings.webhook.clone().map(notify::Notifier::start);
    let shared = Arc::new(Shared {
        latest: RwLock::new(None),
        token: RwLock::new(setup.settings.token.clone()),
        history: tokio::sync::Mutex::new(None),
        history_note: Mutex::new(None),
        runs: AtomicU64::new(0),
        history_ok: AtomicBool::new(true),
        last_run_ok: AtomicBool::new(false),
        reload_ok: AtomicBool::new(true),
        group_last_run: Mutex::new(BTreeMap::new()),
        notifier,
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let app = http::router(shared.clone());
    let cap = server::connection_cap();
    let server = tokio::spawn(server::run(listener, app, cap, stop_rx));
    tracing::info!("serving on http://{listen} (at most {cap} connections)");
    // WATCHDOG pings while the runtime is alive; systemd restarts a wedged daemon.
    if let Some(every) = sd_notify::watchdog_enabled() {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every / 2);
            loop {
                tick.tick().await;
                sd_notify(&[sd_notify::NotifyState::Watchdog]);
            }
        });
    }
    let sig = |k: SignalKind| signal(k).map_err(|e| format!("cannot handle signals: {e}"));
    let mut term = sig(SignalKind::terminate())?;
    let mut int = sig(SignalKind::interrupt())?;
    let mut hup = sig(SignalKind::hangup())?;
    let mut sched = Scheduler {
        intervals: setup.settings.intervals.clone(),
        last: BTreeMap::new(),
    };
    'main: loop {
        let wait = sched.until_next(Instant::now());
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = hup.recv() => {
                reload(&flags, &mut setup, &mut sched, &shared);
                continue 'main;
            }
            _ = term.recv() => break 'main,
            _ = int.recv() => break 'main,
        }
        let due = sched.take_due(Instant::now());
        if due.is_empty() {
            continue;
        }
        // The previous run's facts: what the groups not due now carry over.
        let latest = shared.latest();
        let prev = latest.as_deref().map(|l| &l.facts);
        let outcome = tokio::select! {
            r = run_once(&setup, &due, prev) => r,
            _ = term.recv() => break 'main,
            _ = int.recv() => break 'main,
        };
        match outcome {
            Ok((facts, report)) => {
                shared.last_run_ok.store(true, Ordering::Relaxed);
                if let Ok(mut g) = shared.group_last_run.lock() {
                    for d in &due {
                        g.insert(*d, report.started_at);
                    }
                }
                record_history(&shared, &setup.settings, &report, &due).await;
                let summary = report.summary_line();
                let first = latest.is_none();
                let run_id = publish(&shared, facts, report, due.clone(), &setup.set.version());
                tracing::debug!(run_id, groups = ?due, "run published: {summary}");
                let status = format!("run {run_id}: {summary}");
                if !first {
                    sd_notify(&[sd_notify::NotifyState::Status(&status)]);
                } else {
                    sd_notify(&[
                        sd_notify::NotifyState::Ready,
                        sd_notify::NotifyState::Status(&status),
                    ]);
                }
            }
            Err(e) => {
                shared.last_run_ok.store(false, Ordering::Relaxed);
                tracing::error!("run abandoned, keeping the previous results: {e}");
            }
        }
    }
    tracing::info!("stopping");
    sd_notify(&[sd_notify::NotifyState::Stopping]);
    let _ = stop_tx.send(true);
    // Open connections get a moment to finish; the process must be gone within 5 s.
    let _ = tokio::time::timeout(Duration::from_secs(3), server).await;
    Ok(())
}

/// SIGHUP: load config and rules again; keep the old ones if the new ones are invalid.
fn reload(flags: &DaemonFlags, setup: &mut Setup, sched: &mut Scheduler, shared: &Shared) {
    sd_notify(&[sd_notify::NotifyState::Reloading]);
    match crate::settings::daemon_setup(flags) {
        Ok(new) => {
            if new.settings.listen != setup.settings.listen {
                tracing::warn!(
                    "listen address change to {} needs a restart; still on {}",
                    new.settings.listen,
                    setup.settings.listen
                );
            }
            if let Ok(mut t) = shared.token.write() {
                *t = new.settings.token.clone();
            }
            sched.intervals = new.settings.intervals.clone();
            *setup = new;
            shared.reload_ok.store(true, Ordering::Relaxed);
            tracing::info!("configuration and rules reloaded");
            // Judge the facts we have with the new rules now, rather than at the next run.
            if let Some(latest) = shared.latest() {
                match judge(setup, &latest.facts, OffsetDateTime::now_utc(), 0) {
                    Ok(report) => {
                        publish(
                            shared,
                            latest.facts.clone(),
                            report,
                            latest.groups.clone(),
                            &setup.set.version(),
                        );
                    }
                    Err(e) => tracing::error!("{e}"),
                }
            }
        }
        Err(e) => {
            shared.reload_ok.store(false, Ordering::Relaxed);
            tracing::error!("reload rejected, keeping the previous configuration: {e}");
        }
    }
    sd_notify(&[sd_notify::NotifyState::Ready]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_fall_due_on_their_own_intervals() {
        let mut intervals = BTreeMap::new();
        for g in Group::ALL {
            intervals.insert(g, Duration::from_secs(60));
        }
        intervals.insert(Group::StatxProbe, Duration::from_secs(3600));
        let mut s = Scheduler {
            intervals,
            last: BTreeMap::new(),
        };
        let t0 = Instant::now();
        assert_eq!(s.until_next(t0), Duration::ZERO);
        assert_eq!(
            s.take_due(t0).len(),
            Group::ALL.len(),
            "everything at first"
        );
        assert_eq!(s.until_next(t0), Duration::from_secs(60));
        let due = s.take_due(t0 + Duration::from_secs(60));
        assert!(!due.contains(&Group::StatxProbe));
        assert!(due.contains(&Group::Base) && due.contains(&Group::Database));
        let due = s.take_due(t0 + Duration::from_secs(3600));
        assert!(due.contains(&Group::StatxProbe));
    }
}
