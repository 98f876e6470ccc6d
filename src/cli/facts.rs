//! `preflight facts`: the facts document, unjudged.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};

use wa_preflight::report::exit;

use super::gather::{gather_facts, load, warn_about_rights};
use super::output::emit;
use super::{GatherArgs, Outcome, RuleFiles};

/// `preflight facts --format`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FactsFormat {
    Json,
    Yaml,
}

#[derive(Debug, Args)]
pub struct FactsArgs {
    #[command(flatten)]
    pub gather: GatherArgs,
    /// Output format: json or yaml (`check --facts` reads both).
    #[arg(long, value_enum, default_value_t = FactsFormat::Json, help_heading = "Output")]
    pub format: FactsFormat,
    /// Write to FILE (atomically) instead of standard output (`-`).
    #[arg(short, long, value_name = "FILE", help_heading = "Output")]
    pub output: Option<PathBuf>,
}

pub fn run(args: FactsArgs, quiet: bool) -> Outcome {
    let (_, _, opts) = load(&RuleFiles::default(), &args.gather)?;
    warn_about_rights(&opts, quiet);
    let facts = gather_facts(&opts, quiet)?;
    let text = match args.format {
        FactsFormat::Json => {
            serde_json::to_string_pretty(&facts).context("cannot serialise facts")? + "\n"
        }
        FactsFormat::Yaml => serde_saphyr::to_string(&facts).context("cannot serialise facts")?,
    };
    emit(args.output.as_deref(), &text)?;
    Ok(exit::OK)
}
