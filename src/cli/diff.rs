//! `preflight diff`: what changed since the last run in which every rule passed.

use std::path::PathBuf;

use clap::Args;

use wa_preflight::report::exit;
use wa_preflight::settings;

use super::history::{open, table, when};
use super::output::emit;
use super::{ConfigFile, Failure, ListFormat, Outcome, config_help};

#[derive(Debug, Args)]
#[command(mut_arg("config", |a| a.help(config_help::HISTORY)))]
pub struct DiffArgs {
    /// History database (default /var/lib/wa-preflight/history.db).
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
    /// Output format: a table for people or json.
    #[arg(long, value_enum, default_value_t = ListFormat::Table, help_heading = "Output")]
    pub format: ListFormat,
    #[command(flatten)]
    pub config_file: ConfigFile,
}

pub fn run(args: DiffArgs) -> Outcome {
    let path =
        settings::history_database(args.history.as_deref(), args.config_file.config.as_deref())?;
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
