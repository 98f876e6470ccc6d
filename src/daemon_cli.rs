//! The binary's `daemon`, `history` and `diff` commands: flag parsing and
//! wiring only (the daemon itself is `wa_preflight::daemon`).

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use time::OffsetDateTime;

use wa_preflight::config::Config;
use wa_preflight::daemon;
use wa_preflight::history::{self, History};
use wa_preflight::report::exit;
use wa_preflight::rules::Profile;
use wa_preflight::settings;

use crate::{Failure, GatherArgs, RuleFiles, emit, runtime};

#[derive(Debug, Clone, Args)]
pub struct DaemonArgs {
    /// Address to serve HTTP on (default 127.0.0.1:9612, or daemon.listen).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Seconds between runs for groups without their own interval (default 300; 1 to 31536000).
    #[arg(long, value_name = "SECONDS", value_parser = wa_preflight::bounds::interval_flag)]
    interval: Option<u64>,
    /// History database (default /var/lib/wa-preflight/history.db, or daemon.history.path).
    #[arg(long, value_name = "FILE")]
    history: Option<PathBuf>,
    /// Which rules apply: production (default) or development.
    #[arg(long, value_enum)]
    profile: Option<Profile>,
    #[command(flatten)]
    rules: RuleFiles,
    #[command(flatten)]
    gather: GatherArgs,
}

impl DaemonArgs {
    /// The flags as the library's settings take them (kept for every SIGHUP reload).
    fn flags(&self) -> settings::DaemonFlags {
        settings::DaemonFlags {
            listen: self.listen.clone(),
            interval: self.interval,
            history: self.history.clone(),
            profile: self.profile,
            sources: crate::sources(&self.rules, &self.gather),
            gather: self.gather.flags(),
            env: settings::Environment::process(),
        }
    }
}

pub fn run_daemon(args: DaemonArgs) -> Result<i32, Failure> {
    // Load before starting anything, so a bad config exits 2 with the reason.
    let flags = args.flags();
    let setup = settings::daemon_setup(&flags)?;
    let rt = runtime()?;
    let r = rt.block_on(daemon::serve(setup, flags));
    // Gatherers abandoned at their deadline may sit in syscalls: do not wait for them.
    rt.shutdown_background();
    match r {
        Ok(()) => Ok(exit::OK),
        Err(e) => Err(Failure::Usage(e)),
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// History database (default /var/lib/wa-preflight/history.db).
    #[arg(long, value_name = "FILE")]
    history: Option<PathBuf>,
    /// Only since: an age (90s, 30m, 24h, 7d), an RFC 3339 time or a Unix time.
    #[arg(long, value_name = "WHEN")]
    since: Option<String>,
    /// Only this rule.
    #[arg(long, value_name = "ID")]
    rule: Option<String>,
    /// List runs instead of transitions.
    #[arg(long)]
    runs: bool,
    /// At most this many entries (the newest).
    #[arg(long, default_value_t = 1000, value_parser = wa_preflight::bounds::limit_flag)]
    limit: i64,
    /// Output format: a table for people or json.
    #[arg(long, value_enum, default_value_t = ListFormat::Table, help_heading = "Output")]
    format: ListFormat,
    /// Config file (its `daemon.history.path` is the default history database).
    #[arg(long, value_name = "FILE", env = "WA_PREFLIGHT_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// History database (default /var/lib/wa-preflight/history.db).
    #[arg(long, value_name = "FILE")]
    history: Option<PathBuf>,
    /// Output format: a table for people or json.
    #[arg(long, value_enum, default_value_t = ListFormat::Table, help_heading = "Output")]
    format: ListFormat,
    /// Config file (its `daemon.history.path` is the default history database).
    #[arg(long, value_name = "FILE", env = "WA_PREFLIGHT_CONFIG")]
    config: Option<PathBuf>,
}

fn history_path(
    flag: Option<PathBuf>,
    config: Option<&std::path::Path>,
) -> Result<PathBuf, Failure> {
    if let Some(p) = flag {
        return Ok(p);
    }
    let config = Config::load(config, &wa_preflight::rules::RuleSet::embedded()?)?;
    Ok(settings::history_path(None, &config))
}

fn open(path: &std::path::Path) -> Result<(tokio::runtime::Runtime, History), Failure> {
    let rt = runtime()?;
    let h = rt
        .block_on(History::open_read_only(path))
        .map_err(|e| match e {
            history::HistoryError::Missing { .. } => Failure::Usage(e.to_string()),
            other => Failure::Internal(anyhow::anyhow!(other)),
        })?;
    Ok((rt, h))
}

fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = wa_preflight::report::table::styled(header);
    for r in rows {
        t.add_row(r);
    }
    format!("{t}\n")
}

fn when(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub fn run_history(args: HistoryArgs) -> Result<i32, Failure> {
    let since = args
        .since
        .as_deref()
        .map(|s| wa_preflight::when::parse_when(s, OffsetDateTime::now_utc()))
        .transpose()
        .map_err(|e| Failure::Usage(format!("--since: {e}")))?;
    let path = history_path(args.history, args.config.as_deref())?;
    let (rt, mut h) = open(&path)?;
    let internal = |e: history::HistoryError| Failure::Internal(anyhow::anyhow!(e));
    let text = if args.runs {
        let runs = rt.block_on(h.runs(since, args.limit)).map_err(internal)?;
        match args.format {
            ListFormat::Json => {
                serde_json::to_string_pretty(&serde_json::json!({"runs": runs}))
                    .map_err(|e| Failure::Internal(e.into()))?
                    + "\n"
            }
            ListFormat::Table => table(
                &[
                    "run", "started", "ms", "pass", "info", "warn", "fail", "error", "groups",
                ],
                runs.iter()
                    .map(|r| {
                        vec![
                            r.id.to_string(),
                            when(r.started_at),
                            r.duration_ms.to_string(),
                            r.pass.to_string(),
                            r.info.to_string(),
                            r.warn.to_string(),
                            r.fail.to_string(),
                            r.error.to_string(),
                            r.groups.clone(),
                        ]
                    })
                    .collect(),
            ),
        }
    } else {
        let ts = rt
            .block_on(h.transitions(since, args.rule.as_deref(), args.limit))
            .map_err(internal)?;
        match args.format {
            ListFormat::Json => {
                serde_json::to_string_pretty(&serde_json::json!({"transitions": ts}))
                    .map_err(|e| Failure::Internal(e.into()))?
                    + "\n"
            }
            ListFormat::Table => table(
                &["when", "rule", "change", "observed", "message"],
                ts.iter()
                    .map(|t| {
                        vec![
                            when(t.at),
                            t.rule.clone(),
                            format!(
                                "{} → {}",
                                t.old_status.as_deref().unwrap_or("new"),
                                t.new_status
                            ),
                            format!(
                                "{} → {}",
                                t.old_observed.as_deref().unwrap_or("-"),
                                t.new_observed.as_deref().unwrap_or("-")
                            ),
                            t.message.clone(),
                        ]
                    })
                    .collect(),
            ),
        }
    };
    emit(None, &text)?;
    Ok(exit::OK)
}

pub fn run_diff(args: DiffArgs) -> Result<i32, Failure> {
    let path = history_path(args.history, args.config.as_deref())?;
    let (rt, mut h) = open(&path)?;
    let d = rt
        .block_on(h.diff())
        .map_err(|e| Failure::Internal(anyhow::anyhow!(e)))?;
    let text = match args.format {
        ListFormat::Json => {
            serde_json::to_string_pretty(&d).map_err(|e| Failure::Internal(e.into()))? + "\n"
        }
        ListFormat::Table => {
            let mut text = match (&d.since_run, d.since_all_pass) {
                (Some(r), true) => format!(
                    "Changes since run {} ({}), the last run with no warning, failure or error:\n",
                    r.id,
                    when(r.started_at)
                ),
                (Some(r), false) => format!(
                    "No run ever passed completely; changes since the first recorded run {} ({}):\n",
                    r.id,
                    when(r.started_at)
                ),
                (None, _) => "No run recorded yet.\n".to_string(),
            };
            if d.entries.is_empty() {
                text.push_str("nothing changed\n");
            } else {
                text.push_str(&table(
                    &["rule", "then", "now", "observed then → now", "message"],
                    d.entries
                        .iter()
                        .map(|e| {
                            vec![
                                e.rule.clone(),
                                e.then_status.clone().unwrap_or_else(|| "new".into()),
                                e.now_status.clone(),
                                format!(
                                    "{} → {}",
                                    e.then_observed.as_deref().unwrap_or("-"),
                                    e.now_observed.as_deref().unwrap_or("-")
                                ),
                                e.now_message.clone(),
                            ]
                        })
                        .collect(),
                ));
            }
            text
        }
    };
    emit(None, &text)?;
    Ok(exit::OK)
}
