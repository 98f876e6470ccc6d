//! `preflight history`: the daemon's recorded transitions (or runs), read-only; and the
//! helpers `diff` shares (which database, opening it, table cells).

use std::path::PathBuf;

use clap::Args;
use time::OffsetDateTime;

use wa_preflight::daemon::history::{self, History};
use wa_preflight::report::exit;
use wa_preflight::settings;

use super::gather::runtime;
use super::output::emit;
use super::{ConfigFile, Failure, ListFormat, Outcome, config_help};

#[derive(Debug, Args)]
#[command(mut_arg("config", |a| a.help(config_help::HISTORY)))]
pub struct HistoryArgs {
    /// History database (default /var/lib/wa-preflight/history.db).
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
    /// Only since: an age (90s, 30m, 24h, 7d), an RFC 3339 time or a Unix time.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only this rule.
    #[arg(long, value_name = "ID")]
    pub rule: Option<String>,
    /// List runs instead of transitions.
    #[arg(long)]
    pub runs: bool,
    /// At most this many entries (the newest).
    #[arg(long, default_value_t = 1000, value_parser = wa_preflight::bounds::limit_flag)]
    pub limit: i64,
    /// Output format: a table for people or json.
    #[arg(long, value_enum, default_value_t = ListFormat::Table, help_heading = "Output")]
    pub format: ListFormat,
    #[command(flatten)]
    pub config_file: ConfigFile,
}

pub fn open(path: &std::path::Path) -> Result<(tokio::runtime::Runtime, History), Failure> {
    let rt = runtime()?;
    let h = rt
        .block_on(History::open_read_only(path))
        .map_err(|e| match e {
            history::HistoryError::Missing { .. } => Failure::Usage(e.to_string()),
            other => Failure::Internal(anyhow::anyhow!(other)),
        })?;
    Ok((rt, h))
}

pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = wa_preflight::report::table::styled(header);
    for r in rows {
        t.add_row(r);
    }
    format!("{t}\n")
}

pub fn when(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub fn run(args: HistoryArgs) -> Outcome {
    let since = args
        .since
        .as_deref()
        .map(|s| wa_preflight::value::time::parse_when(s, OffsetDateTime::now_utc()))
        .transpose()
        .map_err(|e| Failure::Usage(format!("--since: {e}")))?;
    let path =
        settings::history_database(args.history.as_deref(), args.config_file.config.as_deref())?;
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
