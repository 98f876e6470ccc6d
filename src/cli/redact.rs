//! `preflight redact`: re-redact an existing bundle or a single file.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use wa_preflight::bundle::{BundleError, redact_existing};
use wa_preflight::config::Config;
use wa_preflight::report::exit;
use wa_preflight::settings;

use super::output::{copy_file_to_stdout, is_stdout};
use super::{ConfigFile, Failure, Outcome, config_help};

#[derive(Debug, Args)]
#[command(mut_arg("config", |a| a.help(config_help::REDACTION)))]
pub struct RedactArgs {
    /// The bundle or file to redact.
    pub input: PathBuf,
    /// Where to write the redacted copy (`-` for standard output).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Replace OUTPUT if it exists.
    #[arg(long, help_heading = "Output")]
    pub force: bool,
    /// Leave phone numbers as they are.
    #[arg(long)]
    pub no_redact_phones: bool,
    /// Leave e-mail addresses as they are.
    #[arg(long)]
    pub no_redact_emails: bool,
    #[command(flatten)]
    pub config_file: ConfigFile,
}

/// Runs `redact`; the flags or the config's `redaction:` can leave phones or e-mails as they
/// are.
pub fn run(args: RedactArgs) -> Outcome {
    let (input, output) = (args.input.as_path(), args.output.as_path());
    let config = Config::load_without_rules(args.config_file.config.as_deref())?;
    let personal = settings::personal_data(args.no_redact_phones, args.no_redact_emails, &config);
    // For standard output the copy is written to a private folder first, then copied.
    let spool = if is_stdout(output) {
        Some(tempfile::tempdir().context("cannot create a temporary folder")?)
    } else {
        None
    };
    let written_to = match &spool {
        Some(dir) => dir.path().join(
            input
                .file_name()
                .map_or_else(|| "redacted".into(), |n| n.to_os_string()),
        ),
        None => output.to_path_buf(),
    };
    match redact_existing(
        input,
        &written_to,
        args.force,
        personal,
        &config.redaction.rules,
    ) {
        Ok(counts) => {
            if spool.is_some() {
                copy_file_to_stdout(&written_to)?;
            }
            eprintln!(
                "preflight: wrote {} ({} redactions)",
                if spool.is_some() {
                    "standard output".to_string()
                } else {
                    output.display().to_string()
                },
                counts.values().sum::<u64>()
            );
            Ok(exit::OK)
        }
        Err(e @ BundleError::Exists(_)) => Err(Failure::Usage(e.to_string())),
        Err(e) => Err(Failure::Internal(anyhow::anyhow!(e))),
    }
}
