//! `preflight check`: gather (or load) the facts, judge them, report; the exit code says how
//! it went.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use time::OffsetDateTime;

use wa_preflight::check::build_report;
use wa_preflight::facts;
use wa_preflight::report::{self, Format};
use wa_preflight::rules::Profile;
use wa_preflight::settings::{self, Environment};

use super::gather::{facts_and_context, load};
use super::output::{emit, is_stdout};
use super::{Failure, GatherArgs, Outcome, RuleFiles, values};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Which rules apply: production (default) or development (no sizing/placement rules).
    #[arg(long, value_parser = values::profile())]
    pub profile: Option<Profile>,
    #[command(flatten)]
    pub rules: RuleFiles,
    #[command(flatten)]
    pub gather: GatherArgs,
    /// Output format.
    #[arg(long, value_parser = values::format(), default_value_t = Format::Table, help_heading = "Output")]
    pub format: Format,
    /// Write the report to FILE (atomically) instead of standard output (`-`).
    #[arg(short, long, value_name = "FILE", help_heading = "Output")]
    pub output: Option<PathBuf>,
    /// Show every rule in the table, skipped ones too (also with -v); by default skipped
    /// rules are grouped by cause. Other formats always hold every rule.
    #[arg(long)]
    pub all: bool,
    /// Treat warnings as failures (exit 3).
    #[arg(long, help_heading = "Output")]
    pub strict: bool,
    /// Also write the Prometheus text to FILE (atomically, for node_exporter's textfile
    /// collector), from the same run.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub prometheus_file: Option<PathBuf>,
    /// Also write the JSON report to FILE (atomically), from the same run; the timer writes
    /// /var/lib/wa-preflight/last-report.json and logs only `--format summary`.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub report_file: Option<PathBuf>,
    /// Evaluate a saved facts document instead of gathering from this host: JSON or YAML as
    /// `preflight facts` writes it, `-` for standard input, or a support bundle (.tar.gz,
    /// .tar.zst) as it is (its logs scanned again with the signatures in force).
    #[arg(long, value_name = "FILE")]
    pub facts: Option<PathBuf>,
    /// Judge a support bundle (.tar.gz, .tar.zst) instead of this host: its facts, and its
    /// logs scanned with the log signatures in force now. The same as --facts BUNDLE.
    #[arg(long, value_name = "BUNDLE", conflicts_with = "facts")]
    pub bundle: Option<PathBuf>,
}

/// Runs `check`; `verbose` (any `-v`) shows every rule in the table, like `--all`.
pub fn run(args: CheckArgs, quiet: bool, verbose: u8) -> Outcome {
    let started_at = OffsetDateTime::now_utc();
    let clock = Instant::now();
    let (set, config, opts) = load(&args.rules, &args.gather)?;
    if let Some(b) = &args.bundle
        && !facts::saved::is_bundle(b).map_err(|e| Failure::Usage(e.to_string()))?
    {
        return Err(Failure::Usage(format!(
            "--bundle {}: not a support bundle (a gzip- or zstd-compressed tar archive); use --facts for a facts document",
            b.display()
        )));
    }
    let (facts, ctx) = facts_and_context(
        args.facts.as_deref().or(args.bundle.as_deref()),
        &opts,
        &config,
        args.profile,
        started_at,
        quiet,
    )?;
    let duration_ms = clock.elapsed().as_millis() as u64;
    let report = build_report(&facts, &set, &ctx, started_at, duration_ms)
        .context("cannot evaluate the facts")?;
    let color = settings::report_colour(
        args.output.as_deref().is_none_or(is_stdout) && std::io::stdout().is_terminal(),
        &Environment::process(),
    );
    let layout = report::table::Layout::for_stdout(color, args.all || verbose > 0);
    let mut text = match args.format {
        Format::Junit => report::render_junit(&report, args.strict),
        f => report::render(&report, f, &layout),
    }
    .context("cannot render the report")?;
    if args.format == Format::Summary
        && args.output.as_deref().is_none_or(is_stdout)
        && wa_preflight::journald::is_journal_stream(std::io::stdout())
    {
        // The timer's one journal line: findings get a priority `journalctl -p` can select.
        text = wa_preflight::journald::prefix_lines(report.summary.journal_priority(), &text);
    }
    if let Some(path) = &args.report_file {
        let json = report::render(&report, Format::Json, &layout)
            .context("cannot render the JSON report")?;
        emit(Some(path), &json)?;
    }
    if let Some(path) = &args.prometheus_file {
        let prom = report::render(&report, Format::Prometheus, &layout)
            .context("cannot render the Prometheus text")?;
        emit(Some(path), &prom)?;
    }
    emit(args.output.as_deref(), &text)?;
    Ok(report.exit_code(args.strict))
}
