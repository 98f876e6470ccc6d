//! `preflight`: the command line. Parses flags and wires the library's pipeline together;
//! everything that decides anything lives in the library.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use time::OffsetDateTime;

use wa_preflight::check::build_report;
use wa_preflight::config::{Config, ConfigError};
use wa_preflight::facts::database::DbFlags;
use wa_preflight::facts::{self, Facts, GatherOptions, NoProgress, Progress};
use wa_preflight::output::write_atomic;
use wa_preflight::report::{self, Format, exit};
use wa_preflight::rules::eval::EvalContext;
use wa_preflight::rules::{LocatedError, Profile, RuleSet};
use wa_preflight::settings;

mod daemon_cli;
mod manual;

/// Preflight checks and diagnostics for WhatsApp Business API On-Premises hosts.
#[derive(Debug, Parser)]
#[command(name = "preflight", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// Only log errors.
    #[arg(
        short,
        long,
        global = true,
        conflicts_with = "verbose",
        help_heading = "Logging"
    )]
    quiet: bool,
    /// Log more (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = "Logging")]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Gather facts, evaluate the rules and report. Exit 0 pass, 4 warnings, 3 failures or
    /// errors, 2 bad usage/rules/config, 1 internal error.
    Check(CheckArgs),
    /// Print the facts document without judging it.
    Facts(FactsArgs),
    /// List the rules.
    Rules(RulesArgs),
    /// Write a support bundle (.tar.gz): report, facts, host files, Docker and container logs,
    /// all redacted, with a manifest. Exit 0 written, 1 not written (e.g. a leak found), 143/130
    /// stopped by SIGTERM/SIGINT (nothing written, scratch space removed).
    Bundle(BundleArgs),
    /// Re-redact an existing bundle (.tar.gz) or a single file.
    Redact {
        /// The bundle or file to redact.
        input: PathBuf,
        /// Where to write the redacted copy (`-` for standard output).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Replace OUTPUT if it exists.
        #[arg(long, help_heading = "Output")]
        force: bool,
        /// Leave phone numbers as they are.
        #[arg(long)]
        no_redact_phones: bool,
        /// Leave e-mail addresses as they are.
        #[arg(long)]
        no_redact_emails: bool,
        /// Config file (its `redaction:` section applies).
        #[arg(long, value_name = "FILE", env = "WA_PREFLIGHT_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Show one rule with its remedy and source.
    Explain {
        /// Rule ID, e.g. host.kernel.
        id: String,
        #[command(flatten)]
        rules: RuleFiles,
    },
    /// Run the checks on a schedule and serve /healthz, /readyz, /metrics, /v1/report and
    /// /v1/history (127.0.0.1:9612 by default); SIGHUP reloads config and rules.
    Daemon(daemon_cli::DaemonArgs),
    /// Show the daemon's recorded status transitions (or runs).
    History(daemon_cli::HistoryArgs),
    /// Show what changed since the last run in which every rule passed.
    Diff(daemon_cli::DiffArgs),
    /// Print a shell completion script (e.g. `preflight completions bash >
    /// /etc/bash_completion.d/preflight`).
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page, or write one per command into a folder.
    Man {
        /// Write preflight.1, preflight-check.1, … into DIR instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Default, Args)]
pub(crate) struct RuleFiles {
    /// Extra rules file; rules with an existing ID replace it. Repeatable.
    #[arg(long = "rules", value_name = "FILE")]
    files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct GatherArgs {
    /// Config file (waivers, profile, storage paths).
    #[arg(long, value_name = "FILE", env = "WA_PREFLIGHT_CONFIG")]
    config: Option<PathBuf>,
    /// Also judge the storage of this path. Repeatable.
    #[arg(long = "path", value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Docker Engine endpoint (unix:///path or tcp://host:port); default DOCKER_HOST or
    /// /var/run/docker.sock.
    #[arg(long, value_name = "URL", help_heading = "Docker")]
    docker_host: Option<String>,
    /// daemon.json to read for a custom seccomp profile.
    #[arg(long, value_name = "FILE", help_heading = "Docker")]
    daemon_json: Option<PathBuf>,
    /// Do not run the statx probe container.
    #[arg(long, help_heading = "Docker")]
    no_statx_probe: bool,
    /// Seconds each Docker API step may take (default 5; 0.001 to 3600).
    #[arg(long, value_name = "SECONDS", value_parser = wa_preflight::bounds::timeout_flag, help_heading = "Docker")]
    docker_timeout: Option<f64>,
    /// The database as a URL: mysql://user@host:port or postgres://user@host:port (a
    /// password in the URL is used but never shown; prefer --db-password-file).
    #[arg(long, value_name = "URL", help_heading = "Database")]
    db_url: Option<String>,
    /// Database host (with --db-engine and --db-user).
    #[arg(long, value_name = "HOST", help_heading = "Database")]
    db_host: Option<String>,
    /// Database port (default 3306 for MySQL, 5432 for PostgreSQL).
    #[arg(long, value_name = "PORT", help_heading = "Database")]
    db_port: Option<u16>,
    /// Database user (with --db-host).
    #[arg(long, value_name = "USER", help_heading = "Database")]
    db_user: Option<String>,
    /// mysql or postgres (WA_DB_ENGINE's MYSQL/PGSQL work too).
    #[arg(long, value_name = "ENGINE", help_heading = "Database")]
    db_engine: Option<String>,
    /// File holding the database password (else the WA_DB_PASSWORD variable).
    #[arg(long, value_name = "FILE", help_heading = "Database")]
    db_password_file: Option<PathBuf>,
    /// A WhatsApp db.env file with WA_DB_* settings.
    #[arg(long, value_name = "FILE", help_heading = "Database")]
    db_env: Option<PathBuf>,
    /// Round trips timed for the database latency (default 50; 1 to 10000).
    #[arg(long, value_name = "N", value_parser = wa_preflight::bounds::samples_flag, help_heading = "Database")]
    db_samples: Option<usize>,
    /// Seconds connecting to the database and each measurement may take (default 5; 0.001 to
    /// 3600).
    #[arg(long, value_name = "SECONDS", value_parser = wa_preflight::bounds::timeout_flag, help_heading = "Database")]
    db_timeout: Option<f64>,
    /// The client's API base URL (default: the webapp container's published port 443, as
    /// https://127.0.0.1:PORT).
    #[arg(long, value_name = "URL", help_heading = "Client API")]
    api_url: Option<String>,
    /// File holding an API token (else client.username/password_file in the config log in).
    #[arg(long, value_name = "FILE", help_heading = "Client API")]
    api_token_file: Option<PathBuf>,
    /// Accept the API's certificate without verifying it (the client's default certificate is
    /// self-signed).
    #[arg(long, help_heading = "Client API")]
    api_insecure: bool,
    /// Verify the API's certificate against this CA file (PEM).
    #[arg(long, value_name = "FILE", help_heading = "Client API")]
    api_ca_file: Option<PathBuf>,
    /// Seconds each API request may take (default 5; 0.001 to 3600).
    #[arg(long, value_name = "SECONDS", value_parser = wa_preflight::bounds::timeout_flag, help_heading = "Client API")]
    api_timeout: Option<f64>,
    /// Show the registered phone number from /v1/support in the facts and report.
    #[arg(long, help_heading = "Client API")]
    show_phone: bool,
    /// POST a marked test payload to the configured webhook and time it (off by default: it
    /// reaches a production endpoint).
    #[arg(long, help_heading = "Client API")]
    webhook_probe: bool,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// Which rules apply: production (default) or development (no sizing/placement rules).
    #[arg(long, value_enum)]
    profile: Option<Profile>,
    #[command(flatten)]
    rules: RuleFiles,
    #[command(flatten)]
    gather: GatherArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table, help_heading = "Output")]
    format: Format,
    /// Write the report to FILE (atomically) instead of standard output (`-`).
    #[arg(short, long, value_name = "FILE", help_heading = "Output")]
    output: Option<PathBuf>,
    /// Show every rule in the table, skipped ones too (also with -v); by default skipped
    /// rules are grouped by cause. Other formats always hold every rule.
    #[arg(long)]
    all: bool,
    /// Treat warnings as failures (exit 3).
    #[arg(long, help_heading = "Output")]
    strict: bool,
    /// Also write the Prometheus text to FILE (atomically, for node_exporter's textfile
    /// collector), from the same run.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    prometheus_file: Option<PathBuf>,
    /// Also write the JSON report to FILE (atomically), from the same run; the timer writes
    /// /var/lib/wa-preflight/last-report.json and logs only `--format summary`.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    report_file: Option<PathBuf>,
    /// Evaluate a saved facts document instead of gathering from this host: JSON or YAML as
    /// `preflight facts` writes it, `-` for standard input, or a support bundle (.tar.gz,
    /// .tar.zst) as it is (its logs scanned again with the signatures in force).
    #[arg(long, value_name = "FILE")]
    facts: Option<PathBuf>,
    /// Judge a support bundle (.tar.gz, .tar.zst) instead of this host: its facts, and its
    /// logs scanned with the log signatures in force now. The same as --facts BUNDLE.
    #[arg(long, value_name = "BUNDLE", conflicts_with = "facts")]
    bundle: Option<PathBuf>,
}

/// `preflight bundle --container-logs`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ContainerLogs {
    Auto,
    Api,
}

#[derive(Debug, Args)]
struct BundleArgs {
    /// Where to write the bundle: .tar.gz (gzip) or .tar.zst (zstd), `-` for standard output
    /// (default: wa-preflight-HOST-UTCTIME.tar.gz in the working directory).
    #[arg(short, long, value_name = "FILE", help_heading = "Output")]
    output: Option<PathBuf>,
    /// Replace OUTPUT if it exists.
    #[arg(long, help_heading = "Output")]
    force: bool,
    /// Write secrets as they are. Only for a bundle that never leaves the host.
    #[arg(long)]
    no_redact: bool,
    /// Leave phone numbers as they are (they are redacted by default).
    #[arg(long)]
    no_redact_phones: bool,
    /// Leave e-mail addresses as they are (they are redacted by default).
    #[arg(long)]
    no_redact_emails: bool,
    /// Container logs since: an age back from now (3h, 90m, 2d), an RFC 3339 time or a Unix
    /// time.
    #[arg(long, default_value = "3h", value_name = "WHEN")]
    since: String,
    /// Container logs until: the same forms as --since (default: now).
    #[arg(long, value_name = "WHEN")]
    until: Option<String>,
    /// How container logs are read: `auto` reads json-file logs from their files when the
    /// engine is on this host and they are readable (else the Engine API); `api` always asks
    /// the Engine API (slower; the same bytes).
    #[arg(long, value_enum, default_value_t = ContainerLogs::Auto)]
    container_logs: ContainerLogs,
    /// Largest file kept; larger logs keep their newest part.
    #[arg(long, default_value = "25MiB", value_name = "SIZE")]
    max_file_size: String,
    /// Largest bundle content.
    #[arg(long, default_value = "200MiB", value_name = "SIZE")]
    max_total_size: String,
    /// Compress with zstd (.tar.zst) instead of gzip; an OUTPUT named .tar.gz contradicts it.
    #[arg(long, help_heading = "Output")]
    zstd: bool,
    /// Also include this host file. Repeatable.
    #[arg(long = "include", value_name = "FILE")]
    include: Vec<PathBuf>,
    /// List what would be collected and redacted, and write nothing.
    #[arg(long)]
    preview: bool,
    /// How --preview prints: text for people, json for scripts.
    #[arg(long, value_enum, default_value_t = PreviewFormat::Text, help_heading = "Output")]
    format: PreviewFormat,
    /// Use a saved facts document instead of gathering (JSON, YAML, `-` for standard input,
    /// or a support bundle).
    #[arg(long, value_name = "FILE")]
    facts: Option<PathBuf>,
    /// Which rules apply to the report inside: production (default) or development.
    #[arg(long, value_enum)]
    profile: Option<Profile>,
    #[command(flatten)]
    rules: RuleFiles,
    #[command(flatten)]
    gather: GatherArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PreviewFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FactsFormat {
    Json,
    Yaml,
}

#[derive(Debug, Args)]
struct FactsArgs {
    #[command(flatten)]
    gather: GatherArgs,
    /// Output format: json or yaml (`check --facts` reads both).
    #[arg(long, value_enum, default_value_t = FactsFormat::Json, help_heading = "Output")]
    format: FactsFormat,
    /// Write to FILE (atomically) instead of standard output (`-`).
    #[arg(short, long, value_name = "FILE", help_heading = "Output")]
    output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
struct RulesArgs {
    #[command(flatten)]
    rules: RuleFiles,
    /// Output format: a table for people or json.
    #[arg(long, value_enum, default_value_t = ListFormat::Table, help_heading = "Output")]
    format: ListFormat,
}

/// How a command failed, which decides the exit code.
pub(crate) enum Failure {
    /// Bad usage, rules, config or input file: exit 2.
    Usage(String),
    /// Our own fault or the environment's: exit 1.
    Internal(anyhow::Error),
}

impl From<LocatedError> for Failure {
    fn from(e: LocatedError) -> Self {
        Failure::Usage(e.to_string())
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure::Usage(e.to_string())
    }
}

impl From<settings::SettingsError> for Failure {
    fn from(e: settings::SettingsError) -> Self {
        Failure::Usage(e.to_string())
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Internal(e)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The daemon logs transitions at info level: one journal line each.
    let verbose = match cli.command {
        Command::Daemon(_) => cli.verbose.max(1),
        _ => cli.verbose,
    };
    init_logging(cli.quiet, verbose);
    let code = match run(cli) {
        Ok(code) => code,
        Err(Failure::Usage(msg)) => {
            print_error(&format!("preflight: {msg}"));
            exit::USAGE
        }
        Err(Failure::Internal(e)) => {
            print_error(&format!("preflight: internal error: {e:#}"));
            exit::INTERNAL
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// An error on standard error; in the journal with priority 3 (error).
fn print_error(line: &str) {
    if wa_preflight::journald::is_journal_stream(std::io::stderr()) {
        eprint!("{}", wa_preflight::journald::prefix_lines(3, line));
    } else {
        eprintln!("{line}");
    }
}

fn init_logging(quiet: bool, verbose: u8) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if wa_preflight::journald::is_journal_stream(std::io::stderr()) {
        // Under systemd: the journal stamps entries itself; `<N>` gives each its priority.
        builder
            .with_ansi(false)
            .event_format(wa_preflight::journald::JournalFormat)
            .init();
    } else {
        builder
            .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
            .init();
    }
}

fn run(cli: Cli) -> Result<i32, Failure> {
    match cli.command {
        Command::Check(args) => check(args, cli.quiet, cli.verbose),
        Command::Facts(args) => print_facts(args, cli.quiet),
        Command::Rules(args) => list_rules(args),
        Command::Bundle(args) => bundle(args, cli.quiet),
        Command::Redact {
            input,
            output,
            force,
            no_redact_phones,
            no_redact_emails,
            config,
        } => redact(
            &input,
            &output,
            force,
            (!no_redact_phones, !no_redact_emails),
            config.as_deref(),
        ),
        Command::Explain { id, rules } => explain(&id, &rules),
        Command::Daemon(args) => daemon_cli::run_daemon(args),
        Command::History(args) => daemon_cli::run_history(args),
        Command::Diff(args) => daemon_cli::run_diff(args),
        Command::Completions { shell } => manual::completions(shell),
        Command::Man { dir } => manual::man(dir),
    }
}

pub(crate) fn load_rules(files: &RuleFiles) -> Result<RuleSet, Failure> {
    Ok(settings::load_rules(&files.files)?)
}

/// The rules, the config and what to gather, as every gathering command builds them.
pub(crate) fn setup(
    rules: &RuleFiles,
    gather: &GatherArgs,
) -> Result<(RuleSet, Config, GatherOptions), Failure> {
    Ok(settings::load(
        &sources(rules, gather),
        &gather.flags(),
        &settings::Environment::process(),
    )?)
}

/// The files a gathering command reads.
pub(crate) fn sources(rules: &RuleFiles, gather: &GatherArgs) -> settings::Sources {
    settings::Sources {
        rules: rules.files.clone(),
        config: gather.config.clone(),
    }
}

impl GatherArgs {
    /// The flags as the library's settings take them.
    pub(crate) fn flags(&self) -> settings::GatherFlags {
        settings::GatherFlags {
            paths: self.paths.clone(),
            docker_host: self.docker_host.clone(),
            daemon_json: self.daemon_json.clone(),
            no_statx_probe: self.no_statx_probe,
            docker_timeout: self.docker_timeout,
            database: DbFlags {
                url: self.db_url.clone(),
                host: self.db_host.clone(),
                port: self.db_port,
                user: self.db_user.clone(),
                engine: self.db_engine.clone(),
                password_file: self.db_password_file.clone(),
                env_file: self.db_env.clone(),
                env_password: None,
            },
            db_samples: self.db_samples,
            db_timeout: self.db_timeout,
            api_url: self.api_url.clone(),
            api_token_file: self.api_token_file.clone(),
            api_insecure: self.api_insecure,
            api_ca_file: self.api_ca_file.clone(),
            api_timeout: self.api_timeout,
            show_phone: self.show_phone,
            webhook_probe: self.webhook_probe,
        }
    }
}

/// Shows which gatherers are still running, on a terminal only.
struct Spinner {
    bar: indicatif::ProgressBar,
    running: Mutex<Vec<&'static str>>,
}

impl Progress for Spinner {
    fn started(&self, gatherer: &'static str) {
        if let Ok(mut r) = self.running.lock() {
            r.push(gatherer);
            self.bar.set_message(format!("gathering: {}", r.join(", ")));
        }
    }
    fn finished(&self, gatherer: &'static str) {
        if let Ok(mut r) = self.running.lock() {
            r.retain(|g| *g != gatherer);
            self.bar.set_message(format!("gathering: {}", r.join(", ")));
        }
    }
}

/// The single-threaded async runtime every command uses (blocking gatherers get the blocking
/// pool); shut it down with `shutdown_background` so an abandoned gatherer cannot hold exit.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?)
}

fn gather_facts(opts: &GatherOptions, quiet: bool) -> Result<Facts, Failure> {
    let rt = runtime()?;
    let spinner = (!quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(80));
        Arc::new(Spinner {
            bar,
            running: Mutex::new(Vec::new()),
        })
    });
    let progress: Arc<dyn Progress> = match &spinner {
        Some(s) => s.clone(),
        None => Arc::new(NoProgress),
    };
    let facts = rt.block_on(facts::gather(opts, progress));
    if let Some(s) = spinner {
        s.bar.finish_and_clear();
    }
    // A gatherer abandoned at its deadline may still sit in a syscall: do not wait for it.
    rt.shutdown_background();
    Ok(facts)
}

/// Whether an `-o` value means standard output.
pub(crate) fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Writes `text` to `output` (atomically), or to standard output when there is none or it is
/// `-`.
pub(crate) fn emit(output: Option<&Path>, text: &str) -> Result<(), Failure> {
    match output.filter(|p| !is_stdout(p)) {
        Some(path) => write_atomic(path, text.as_bytes(), 0o644)
            .with_context(|| format!("cannot write {}", path.display()))
            .map_err(Failure::Internal),
        None => write_stdout(text.as_bytes()),
    }
}

/// Writes to standard output. A closed pipe (`preflight check | head`) is the reader's
/// choice, not our error: the rest is dropped and the command ends normally.
pub(crate) fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other
            .context("cannot write to standard output")
            .map_err(Failure::Internal),
    }
}

/// Runs `write` against an in-memory buffer and sends the result to standard output, so
/// writers that take an `io::Write` (man pages, completions) end quietly on a closed pipe too.
pub(crate) fn emit_with(
    write: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>,
) -> Result<(), Failure> {
    let mut buf = Vec::new();
    write(&mut buf).context("cannot render the output")?;
    write_stdout(&buf)
}

/// Says once, before gathering, when this run lacks the rights the checks need (not root,
/// no access to the Docker socket), instead of leaving it to a scatter of permission errors.
fn warn_about_rights(opts: &GatherOptions, quiet: bool) {
    let endpoint = wa_preflight::facts::docker::engine::endpoint(opts.docker.host.as_deref());
    if !quiet
        && let Some(notice) = wa_preflight::rights::Rights::of_this_process(&endpoint).notice()
    {
        eprintln!("preflight: notice: {notice}");
    }
}

/// The facts (a saved document, or gathered now) and how to judge them.
fn facts_and_context<'a>(
    saved: Option<&Path>,
    opts: &GatherOptions,
    config: &'a Config,
    profile: Option<Profile>,
    started_at: OffsetDateTime,
    quiet: bool,
) -> Result<(Facts, EvalContext<'a>), Failure> {
    let facts = match saved {
        Some(path) => {
            let mut facts =
                facts::load_facts_file(path).map_err(|e| Failure::Usage(e.to_string()))?;
            scan_bundle_logs(path, opts, &mut facts)?;
            facts
        }
        None => {
            warn_about_rights(opts, quiet);
            gather_facts(opts, quiet)?
        }
    };
    let ctx = settings::eval_context(profile, config, started_at.date());
    Ok((facts, ctx))
}

/// A support bundle judged elsewhere: its logs are scanned again with the signatures in force
/// now (windows ending when it was collected), so a newer rules file finds what an old bundle
/// holds. A plain facts document keeps whatever log scan it carries.
fn scan_bundle_logs(path: &Path, opts: &GatherOptions, facts: &mut Facts) -> Result<(), Failure> {
    if opts.logs.patterns.is_empty() {
        return Ok(());
    }
    let files = facts::saved::bundle_log_files(path, opts.logs.max_bytes)
        .map_err(|e| Failure::Usage(e.to_string()))?;
    // Not a bundle, or one without any of the logs (a facts document packed alone).
    let Some(files) = files.filter(|f| !f.is_empty()) else {
        return Ok(());
    };
    let containers = match &facts.docker {
        Some(facts::Fact::Available(d)) => {
            d.wa.as_ref()
                .map(|w| w.containers.clone())
                .unwrap_or_default()
        }
        _ => Vec::new(),
    };
    let shown = format!("bundle {}", path.display());
    facts.logs = Some(
        facts::logs::from_bundle(
            &files,
            &opts.logs.patterns,
            &containers,
            facts.collected_at,
            &shown,
        )
        .into(),
    );
    Ok(())
}

fn check(args: CheckArgs, quiet: bool, verbose: u8) -> Result<i32, Failure> {
    let started_at = OffsetDateTime::now_utc();
    let clock = Instant::now();
    let (set, config, opts) = setup(&args.rules, &args.gather)?;
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
        &settings::Environment::process(),
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
        let s = &report.summary;
        let priority = if s.fail > 0 || s.error > 0 {
            3
        } else if s.warn > 0 {
            4
        } else {
            6
        };
        text = wa_preflight::journald::prefix_lines(priority, &text);
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

/// What `bundle` writes to: the file named by `-o`, or the default name in the working
/// directory, with its compression.
struct BundleTarget {
    /// The path shown to the operator (`-` for standard output).
    shown: PathBuf,
    to_stdout: bool,
    compression: wa_preflight::bundle::Compression,
}

/// The compression a bundle name asks for, if its extension says.
fn compression_of(path: &Path) -> Option<wa_preflight::bundle::Compression> {
    use wa_preflight::bundle::Compression;
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".tar.zst") || name.ends_with(".tzst") || name.ends_with(".tar.zstd") {
        Some(Compression::Zstd)
    } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        Some(Compression::Gzip)
    } else {
        None
    }
}

/// The default bundle name: `wa-preflight-HOST-YYYYMMDDTHHMMSSZ[-unredacted].tar.gz|.tar.zst`.
fn default_bundle_name(host: &str, at: OffsetDateTime, redacted: bool, zstd: bool) -> String {
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let stamp = at
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_default();
    format!(
        "wa-preflight-{host}-{stamp}{}.tar.{}",
        if redacted { "" } else { "-unredacted" },
        if zstd { "zst" } else { "gz" }
    )
}

fn bundle_target(
    args: &BundleArgs,
    host: &str,
    at: OffsetDateTime,
) -> Result<BundleTarget, Failure> {
    use wa_preflight::bundle::Compression;
    let named = args.output.as_deref().filter(|p| !is_stdout(p));
    let compression = match (named.and_then(compression_of), args.zstd) {
        (Some(Compression::Gzip), true) => {
            return Err(Failure::Usage(format!(
                "--zstd contradicts the output name {} (.tar.gz is gzip); name it .tar.zst or drop --zstd",
                named
                    .map(Path::display)
                    .map(|d| d.to_string())
                    .unwrap_or_default()
            )));
        }
        (Some(c), _) => c,
        (None, true) => Compression::Zstd,
        (None, false) => Compression::Gzip,
    };
    let zstd = compression == Compression::Zstd;
    Ok(match &args.output {
        Some(p) if is_stdout(p) => BundleTarget {
            shown: p.clone(),
            to_stdout: true,
            compression,
        },
        Some(p) => BundleTarget {
            shown: p.clone(),
            to_stdout: false,
            compression,
        },
        None => BundleTarget {
            shown: PathBuf::from(default_bundle_name(host, at, !args.no_redact, zstd)),
            to_stdout: false,
            compression,
        },
    })
}

/// The hex SHA-256 and size of a file.
fn sha256_and_size(path: &Path) -> std::io::Result<(String, u64)> {
    use sha2::Digest;
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    let hex = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((hex, size))
}

/// A size for people: `12.3 MiB`.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

/// The preview for people.
fn preview_text(p: &wa_preflight::bundle::Preview) -> String {
    let mut out = format!("Would write {}\n\nCollectors:\n", p.output);
    for c in &p.collectors {
        out.push_str(&format!("  - {c}\n"));
    }
    if !p.included_files.is_empty() {
        out.push_str("\nHost files included:\n");
        for f in &p.included_files {
            out.push_str(&format!("  - {f}\n"));
        }
    }
    if p.redaction {
        out.push_str(&format!(
            "\nRedaction: on, {} rules ({}), {} known secret value(s) from this host\n",
            p.redaction_rules.len(),
            p.redaction_rules.join(", "),
            p.known_secrets
        ));
    } else {
        out.push_str("\nRedaction: OFF (--no-redact): secrets are written as they are\n");
    }
    let limit = |k: &str| p.limits.get(k).copied().map_or("?".into(), human_size);
    out.push_str(&format!(
        "Limits: {} per file, {} in all\n",
        limit("max_file_bytes"),
        limit("max_total_bytes")
    ));
    out
}

fn bundle(args: BundleArgs, quiet: bool) -> Result<i32, Failure> {
    use wa_preflight::bundle::{self, BundleError, Created, Limits, Request};
    use wa_preflight::rules::quantity::parse_size;
    let started_at = OffsetDateTime::now_utc();
    let when = |flag: &str, t: &str| {
        wa_preflight::when::parse_when(t, started_at)
            .map(OffsetDateTime::unix_timestamp)
            .map_err(|e| Failure::Usage(format!("{flag}: {e}")))
    };
    let since = when("--since", &args.since)?;
    let until = args
        .until
        .as_deref()
        .map(|t| when("--until", t))
        .transpose()?;
    // A contradicting --zstd is a usage error before anything is gathered.
    bundle_target(&args, "host", started_at)?;
    let size =
        |flag: &str, t: &str| parse_size(t).map_err(|e| Failure::Usage(format!("{flag}: {e}")));
    let mut limits = Limits {
        max_file: size("--max-file-size", &args.max_file_size)?,
        max_total: size("--max-total-size", &args.max_total_size)?,
        ..Limits::default()
    };
    let (set, config, opts) = setup(&args.rules, &args.gather)?;
    let (facts, ctx) = facts_and_context(
        args.facts.as_deref(),
        &opts,
        &config,
        args.profile,
        started_at,
        quiet,
    )?;
    let host = facts
        .host
        .hostname
        .as_ref()
        .cloned()
        .unwrap_or_else(|| "host".into());
    let target = bundle_target(&args, &host, started_at)?;
    limits.compression = target.compression;
    let report =
        build_report(&facts, &set, &ctx, started_at, 0).context("cannot evaluate the facts")?;
    // The database password, when the run knows it, is a literal the leak scan looks for.
    let mut secrets = Vec::new();
    if let Ok(Some(t)) = wa_preflight::facts::database::settings::resolve(
        &opts.database.flags,
        opts.database.config.as_ref(),
        None,
    ) && let Some(p) = t.password
    {
        secrets.push(("password".to_string(), p.expose().to_string()));
    }
    // For standard output the bundle is written to a private folder first, then copied.
    let spool = if target.to_stdout && !args.preview {
        Some(tempfile::tempdir().context("cannot create a temporary folder")?)
    } else {
        None
    };
    let written_to = match &spool {
        Some(dir) => dir.path().join(default_bundle_name(
            &host,
            started_at,
            !args.no_redact,
            target.compression == bundle::Compression::Zstd,
        )),
        None => target.shown.clone(),
    };
    let request = Request {
        output: written_to.clone(),
        force: args.force,
        redact: !args.no_redact,
        personal: settings::personal_data(args.no_redact_phones, args.no_redact_emails, &config),
        window: wa_preflight::bundle::collect::Window {
            since: Some(since),
            until,
        },
        container_logs: match args.container_logs {
            ContainerLogs::Auto => wa_preflight::bundle::collect::LogRoute::Auto,
            ContainerLogs::Api => wa_preflight::bundle::collect::LogRoute::Api,
        },
        limits,
        include: args.include.clone(),
        custom: config.redaction.rules.clone(),
        secrets,
        docker: opts.docker.clone(),
        facts: &facts,
        report: &report,
        preview: args.preview,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // SIGTERM or SIGINT mid-run: the bundle is dropped, which removes its scratch folder (raw,
    // unredacted material), and the writer gets a moment to remove its temp file.
    let created = rt.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let (mut term, mut int) = match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(t), Ok(i)) => (t, i),
            (Err(e), _) | (_, Err(e)) => {
                return Err(anyhow::anyhow!("cannot handle signals: {e}"));
            }
        };
        Ok(tokio::select! {
            r = bundle::create(request) => Ok(r),
            _ = term.recv() => Err(libc::SIGTERM),
            _ = int.recv() => Err(libc::SIGINT),
        })
    })?;
    let created = match created {
        Ok(c) => c,
        Err(signo) => {
            rt.shutdown_timeout(std::time::Duration::from_secs(3));
            eprintln!(
                "preflight: stopped by signal {signo}: no bundle written, scratch space removed"
            );
            return Ok(128 + signo);
        }
    };
    rt.shutdown_background();
    match created {
        Ok(Created::Previewed(mut p)) => {
            p.output = target.shown.display().to_string();
            let text = match args.format {
                PreviewFormat::Json => {
                    serde_json::to_string_pretty(&p).context("cannot serialise the preview")? + "\n"
                }
                PreviewFormat::Text => preview_text(&p),
            };
            emit(None, &text)?;
            Ok(exit::OK)
        }
        Ok(Created::Written(m)) => {
            let (sha256, size) = sha256_and_size(&written_to)
                .with_context(|| format!("cannot read back {}", written_to.display()))?;
            if target.to_stdout {
                let bytes = std::fs::read(&written_to)
                    .with_context(|| format!("cannot read back {}", written_to.display()))?;
                write_stdout(&bytes)?;
            }
            let failed: Vec<String> = m
                .collectors
                .iter()
                .filter(|c| c.status != "ok")
                .map(|c| match c.status.as_str() {
                    "timeout" => format!("{} (timed out)", c.name),
                    _ => c.name.clone(),
                })
                .collect();
            let redactions: u64 = m.redactions.values().sum();
            let shown = if target.to_stdout {
                "standard output".to_string()
            } else {
                target.shown.display().to_string()
            };
            eprintln!(
                "preflight: wrote {shown}\n  size:   {} ({size} bytes)\n  sha256: {sha256}\n  {} files, {}{}",
                human_size(size),
                m.files.len(),
                if args.no_redact {
                    "NOT redacted (--no-redact): keep it on this host".to_string()
                } else {
                    format!("{redactions} redactions")
                },
                if m.omitted.is_empty() {
                    String::new()
                } else {
                    format!(", {} files left out by the size cap", m.omitted.len())
                }
            );
            if failed.is_empty() {
                eprintln!("preflight: every collector finished");
            } else {
                eprintln!(
                    "preflight: {} collector(s) failed or timed out: {} (see manifest.json)",
                    failed.len(),
                    failed.join(", ")
                );
            }
            Ok(exit::OK)
        }
        Err(e @ BundleError::Exists(_)) => Err(Failure::Usage(e.to_string())),
        Err(e) => Err(Failure::Internal(anyhow::anyhow!(e))),
    }
}

/// `preflight redact`; `switches` are the flags' (phones, e-mails), the config can turn
/// either off too.
fn redact(
    input: &Path,
    output: &Path,
    force: bool,
    switches: (bool, bool),
    config: Option<&Path>,
) -> Result<i32, Failure> {
    use wa_preflight::bundle::{BundleError, redact_existing};
    let config = Config::load(config, &RuleSet::embedded()?)?;
    let personal = settings::personal_data(!switches.0, !switches.1, &config);
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
    match redact_existing(input, &written_to, force, personal, &config.redaction.rules) {
        Ok(counts) => {
            if spool.is_some() {
                let bytes = std::fs::read(&written_to)
                    .with_context(|| format!("cannot read back {}", written_to.display()))?;
                write_stdout(&bytes)?;
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

fn print_facts(args: FactsArgs, quiet: bool) -> Result<i32, Failure> {
    let (_, _, opts) = setup(&RuleFiles::default(), &args.gather)?;
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

fn list_rules(args: RulesArgs) -> Result<i32, Failure> {
    let set = load_rules(&args.rules)?;
    let text = match args.format {
        ListFormat::Json => {
            let list: Vec<serde_json::Value> = set
                .rules()
                .map(|r| {
                    serde_json::json!({
                        "id": r.id, "title": r.title, "fact": r.fact,
                        "profiles": r.profiles, "requires": r.requires, "doc": r.doc,
                    })
                })
                .collect();
            serde_json::to_string_pretty(&list).context("cannot serialise rules")? + "\n"
        }
        ListFormat::Table => {
            let rows: Vec<Vec<String>> = set
                .rules()
                .map(|r| {
                    let profiles = if r.profiles.contains(&Profile::Production)
                        && r.profiles.contains(&Profile::Development)
                    {
                        "all".to_string()
                    } else {
                        let p: Vec<String> = r.profiles.iter().map(ToString::to_string).collect();
                        p.join(", ")
                    };
                    vec![r.id.clone(), profiles, r.title.clone()]
                })
                .collect();
            report::table::columns(
                &["RULE", "PROFILES", "TITLE"],
                &rows,
                report::table::terminal_width(),
            )
        }
    };
    emit(None, &text)?;
    Ok(exit::OK)
}

fn explain(id: &str, files: &RuleFiles) -> Result<i32, Failure> {
    let set = load_rules(files)?;
    let Some((rule, origin)) = set.get(id) else {
        let close: Vec<&str> = set
            .rules()
            .map(|r| r.id.as_str())
            .filter(|r| r.starts_with(id.split('.').next().unwrap_or(id)))
            .collect();
        let hint = if close.is_empty() {
            "see `preflight rules`".to_string()
        } else {
            format!("did you mean one of: {}?", close.join(", "))
        };
        return Err(Failure::Usage(format!("unknown rule {id:?}; {hint}")));
    };
    let mut out = format!("{} — {}\n\n", rule.id, rule.title);
    out.push_str(&format!(
        "fact:      {}{}\n",
        rule.fact,
        if rule.each { " (each item)" } else { "" }
    ));
    if let Some(e) = &rule.expected {
        out.push_str(&format!("expected:  {e}\n"));
    }
    let profiles: Vec<String> = rule.profiles.iter().map(ToString::to_string).collect();
    out.push_str(&format!("profiles:  {}\n", profiles.join(", ")));
    if !rule.requires.is_empty() {
        out.push_str(&format!("requires:  {}\n", rule.requires.join(", ")));
    }
    out.push_str(&format!("defined:   {origin}\n"));
    let width = report::table::terminal_width().max(report::table::MIN_WIDTH);
    let said = |head: &str, text: &str| -> String {
        let lines = report::table::wrap(text, width.saturating_sub(head.len()).max(20));
        let pad = " ".repeat(head.len());
        let mut s = String::new();
        for (i, line) in lines.iter().enumerate() {
            s.push_str(if i == 0 { head } else { &pad });
            s.push_str(line);
            s.push('\n');
        }
        s
    };
    if let Some(filter) = &rule.filter {
        out.push_str(&said(
            "items:     ",
            &format!("those where {}", filter.describe()),
        ));
    }
    out.push_str("\noutcomes (first match wins):\n");
    for o in &rule.outcomes {
        let status = format!("{:?}", o.value.status).to_lowercase();
        let when = match &o.value.when {
            Some(cond) => format!("when {}", cond.describe()),
            None => "otherwise".to_string(),
        };
        out.push_str(&said(&format!("  {status:<5} "), &when));
        out.push_str(&said("        says ", o.value.message.source()));
    }
    if let Some(r) = &rule.remedy {
        out.push('\n');
        out.push_str(&said("remedy: ", r));
    }
    if let Some(d) = &rule.doc {
        out.push_str(&format!("source: {d}\n"));
    }
    emit(None, &out)?;
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every flag and argument of every command, with its command's path, that has no help.
    fn undocumented(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        if cmd.get_about().is_none() && path != "preflight" {
            out.push(format!("{path} (the command itself)"));
        }
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if matches!(id, "help" | "version") || arg.is_hide_set() {
                continue;
            }
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                out.push(format!("{path} {id}"));
            }
        }
        for sub in cmd.get_subcommands() {
            undocumented(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_flag_has_help_text() {
        let mut cmd = Cli::command();
        cmd.build();
        let mut missing = Vec::new();
        undocumented(&cmd, "preflight", &mut missing);
        assert!(missing.is_empty(), "without help text: {missing:#?}");
    }

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }
}
