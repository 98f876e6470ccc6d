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
use wa_preflight::redact::PersonalData;
use wa_preflight::report::{self, Format, exit};
use wa_preflight::rules::eval::EvalContext;
use wa_preflight::rules::{LocatedError, Profile, RuleSet};

mod daemon_cli;

/// Preflight checks and diagnostics for WhatsApp Business API On-Premises hosts.
#[derive(Debug, Parser)]
#[command(name = "preflight", version, about)]
pub(crate) struct Cli {
    /// Only log errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Log more (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
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
        /// Where to write the redacted copy.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Replace OUTPUT if it exists.
        #[arg(long)]
        force: bool,
        /// Leave phone numbers as they are.
        #[arg(long)]
        no_redact_phones: bool,
        /// Leave e-mail addresses as they are.
        #[arg(long)]
        no_redact_emails: bool,
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
    /// /v1/history (127.0.0.1:9464 by default); SIGHUP reloads config and rules.
    Daemon(daemon_cli::DaemonArgs),
    /// Show the daemon's recorded status transitions (or runs).
    History(daemon_cli::HistoryArgs),
    /// Show what changed since the last run in which every rule passed.
    Diff(daemon_cli::DiffArgs),
    /// Print a shell completion script.
    #[command(hide = true)]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page, or write one per command into a folder.
    #[command(hide = true)]
    Man {
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
    #[arg(long, value_name = "URL")]
    docker_host: Option<String>,
    /// daemon.json to read for a custom seccomp profile.
    #[arg(long, value_name = "FILE")]
    daemon_json: Option<PathBuf>,
    /// Do not run the statx probe container.
    #[arg(long)]
    no_statx_probe: bool,
    /// Seconds each Docker API step may take (default 5; 0.001 to 3600).
    #[arg(long, value_name = "SECONDS", value_parser = wa_preflight::bounds::timeout_flag)]
    docker_timeout: Option<f64>,
    /// The database as a URL: mysql://user@host:port or postgres://user@host:port (a
    /// password in the URL is used but never shown; prefer --db-password-file).
    #[arg(long, value_name = "URL")]
    db_url: Option<String>,
    /// Database host (with --db-engine and --db-user).
    #[arg(long, value_name = "HOST")]
    db_host: Option<String>,
    #[arg(long, value_name = "PORT")]
    db_port: Option<u16>,
    #[arg(long, value_name = "USER")]
    db_user: Option<String>,
    /// mysql or postgres (WA_DB_ENGINE's MYSQL/PGSQL work too).
    #[arg(long, value_name = "ENGINE")]
    db_engine: Option<String>,
    /// File holding the database password (else the WA_DB_PASSWORD variable).
    #[arg(long, value_name = "FILE")]
    db_password_file: Option<PathBuf>,
    /// A WhatsApp db.env file with WA_DB_* settings.
    #[arg(long, value_name = "FILE")]
    db_env: Option<PathBuf>,
    /// Round trips timed for the database latency (default 50; 1 to 10000).
    #[arg(long, value_name = "N", value_parser = wa_preflight::bounds::samples_flag)]
    db_samples: Option<usize>,
    /// Seconds connecting to the database and each measurement may take (default 5; 0.001 to
    /// 3600).
    #[arg(long, value_name = "SECONDS", value_parser = wa_preflight::bounds::timeout_flag)]
    db_timeout: Option<f64>,
    /// The client's API base URL (default: the webapp container's published port 443, as
    /// https://127.0.0.1:PORT).
    #[arg(long, value_name = "URL")]
    api_url: Option<String>,
    /// File holding an API token (else client.username/password_file in the config log in).
    #[arg(long, value_name = "FILE")]
    api_token_file: Option<PathBuf>,
    /// Accept the API's certificate without verifying it (the client's default certificate is
    /// self-signed).
    #[arg(long)]
    api_insecure: bool,
    /// Verify the API's certificate against this CA file (PEM).
    #[arg(long, value_name = "FILE")]
    api_ca_file: Option<PathBuf>,
    /// Seconds each API request may take (default 5; 0.001 to 3600).
    #[arg(long, value_name = "SECONDS", value_parser = wa_preflight::bounds::timeout_flag)]
    api_timeout: Option<f64>,
    /// Show the registered phone number from /v1/support in the facts and report.
    #[arg(long)]
    show_phone: bool,
    /// POST a marked test payload to the configured webhook and time it (off by default: it
    /// reaches a production endpoint).
    #[arg(long)]
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
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write the report to FILE (atomically) instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Treat warnings as failures (exit 3).
    #[arg(long)]
    strict: bool,
    /// Also write the Prometheus text to FILE (atomically, for node_exporter's textfile
    /// collector), from the same run.
    #[arg(long, value_name = "FILE")]
    prometheus_file: Option<PathBuf>,
    /// Evaluate a saved facts document instead of gathering from this host.
    #[arg(long, value_name = "FILE")]
    facts: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct BundleArgs {
    /// Where to write the bundle (.tar.gz).
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Replace OUTPUT if it exists.
    #[arg(long)]
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
    /// Largest file kept; larger logs keep their newest part.
    #[arg(long, default_value = "25MiB", value_name = "SIZE")]
    max_file_size: String,
    /// Largest bundle content.
    #[arg(long, default_value = "200MiB", value_name = "SIZE")]
    max_total_size: String,
    /// Compress with zstd (.tar.zst) instead of gzip.
    #[arg(long)]
    zstd: bool,
    /// Also include this host file. Repeatable.
    #[arg(long = "include", value_name = "FILE")]
    include: Vec<PathBuf>,
    /// List what would be collected and redacted, and write nothing.
    #[arg(long)]
    preview: bool,
    /// Use a saved facts document instead of gathering.
    #[arg(long, value_name = "FILE")]
    facts: Option<PathBuf>,
    #[arg(long, value_enum)]
    profile: Option<Profile>,
    #[command(flatten)]
    rules: RuleFiles,
    #[command(flatten)]
    gather: GatherArgs,
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
    /// Output format.
    #[arg(long, value_enum, default_value_t = FactsFormat::Json)]
    format: FactsFormat,
    /// Write to FILE (atomically) instead of standard output.
    #[arg(short, long, value_name = "FILE")]
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
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
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
            eprintln!("preflight: {msg}");
            exit::USAGE
        }
        Err(Failure::Internal(e)) => {
            eprintln!("preflight: internal error: {e:#}");
            exit::INTERNAL
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
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
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .init();
}

fn run(cli: Cli) -> Result<i32, Failure> {
    match cli.command {
        Command::Check(args) => check(args, cli.quiet),
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
        Command::Completions { shell } => daemon_cli::completions(shell),
        Command::Man { dir } => daemon_cli::man(dir),
    }
}

pub(crate) fn load_rules(files: &RuleFiles) -> Result<RuleSet, Failure> {
    let mut set = RuleSet::embedded()?;
    for path in &files.files {
        let text =
            wa_preflight::input::read_text(path, "rules file", wa_preflight::input::TEXT_LIMIT)
                .map_err(|e| Failure::Usage(e.to_string()))?;
        set.merge(RuleSet::from_yaml(&path.display().to_string(), &text)?)?;
    }
    Ok(set)
}

/// The rules, the config and what to gather, as every gathering command builds them.
pub(crate) fn setup(
    rules: &RuleFiles,
    gather: &GatherArgs,
) -> Result<(RuleSet, Config, GatherOptions), Failure> {
    let set = load_rules(rules)?;
    let config = Config::load(gather.config.as_deref(), &set)?;
    let opts = gather_options(&config, &set, gather);
    Ok((set, config, opts))
}

fn gather_options(config: &Config, set: &RuleSet, args: &GatherArgs) -> GatherOptions {
    let s = &config.storage;
    let mut extra = s.paths.clone();
    extra.extend(args.paths.iter().cloned());
    let mut opts = GatherOptions::with_paths(s.docker_root.clone(), s.media.clone(), extra);
    let d = &config.docker;
    let docker = &mut opts.docker;
    docker.host = args.docker_host.clone().or_else(|| d.host.clone());
    if let Some(p) = args.daemon_json.clone().or_else(|| d.daemon_json.clone()) {
        docker.daemon_json = p;
    }
    docker
        .images
        .coreapp
        .extend(d.coreapp_images.iter().cloned());
    docker.images.webapp.extend(d.webapp_images.iter().cloned());
    docker.statx_probe = !args.no_statx_probe && d.statx_probe.unwrap_or(true);
    if let Some(secs) = args
        .docker_timeout
        .or(d.timeout_seconds)
        .filter(|s| *s > 0.0)
    {
        docker.deadline = std::time::Duration::from_secs_f64(secs);
    }
    let db = &mut opts.database;
    db.flags = DbFlags {
        url: args.db_url.clone(),
        host: args.db_host.clone(),
        port: args.db_port,
        user: args.db_user.clone(),
        engine: args.db_engine.clone(),
        password_file: args.db_password_file.clone(),
        env_file: args.db_env.clone(),
    };
    db.config = config.database.clone();
    if let Some(n) = args
        .db_samples
        .or(config.database.as_ref().and_then(|c| c.samples))
    {
        db.samples = n.max(1);
    }
    if let Some(secs) = args.db_timeout.filter(|s| *s > 0.0) {
        db.deadline = std::time::Duration::from_secs_f64(secs);
    }
    let c = &mut opts.client;
    c.config = config.client.clone();
    c.url_flag = args.api_url.clone();
    c.token_file_flag = args.api_token_file.clone();
    c.insecure_flag = args.api_insecure;
    c.ca_file_flag = args.api_ca_file.clone();
    c.show_phone = args.show_phone;
    c.webhook_probe = args.webhook_probe;
    if let Some(secs) = args
        .api_timeout
        .or(config.client.timeout_seconds)
        .filter(|s| *s > 0.0)
    {
        c.timeout = std::time::Duration::from_secs_f64(secs);
    }
    if let Some(n) = set.network() {
        opts.network.targets = n.whatsapp.clone();
        opts.network.timeout = std::time::Duration::from_millis(n.timeout_ms.max(1));
    }
    opts
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

pub(crate) fn emit(output: Option<&Path>, text: &str) -> Result<(), Failure> {
    match output {
        Some(path) => write_atomic(path, text.as_bytes(), 0o644)
            .with_context(|| format!("cannot write {}", path.display()))
            .map_err(Failure::Internal),
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            // A closed pipe (`preflight check | head`) is the reader's choice, not our error.
            match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => other
                    .context("cannot write to standard output")
                    .map_err(Failure::Internal),
            }
        }
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
        Some(path) => facts::load_facts_file(path).map_err(|e| Failure::Usage(e.to_string()))?,
        None => gather_facts(opts, quiet)?,
    };
    let ctx = EvalContext {
        profile: profile.or(config.profile).unwrap_or(Profile::Production),
        waivers: &config.waivers,
        today: started_at.date(),
    };
    Ok((facts, ctx))
}

fn check(args: CheckArgs, quiet: bool) -> Result<i32, Failure> {
    let started_at = OffsetDateTime::now_utc();
    let clock = Instant::now();
    let (set, config, opts) = setup(&args.rules, &args.gather)?;
    let (facts, ctx) = facts_and_context(
        args.facts.as_deref(),
        &opts,
        &config,
        args.profile,
        started_at,
        quiet,
    )?;
    let duration_ms = clock.elapsed().as_millis() as u64;
    let report = build_report(&facts, &set, &ctx, started_at, duration_ms)
        .context("cannot evaluate the facts")?;
    let color = args.output.is_none()
        && std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let text = report::render(&report, args.format, color).context("cannot render the report")?;
    if let Some(path) = &args.prometheus_file {
        let prom = report::render(&report, Format::Prometheus, false)
            .context("cannot render the Prometheus text")?;
        emit(Some(path), &prom)?;
    }
    emit(args.output.as_deref(), &text)?;
    Ok(report.exit_code(args.strict))
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
    let size =
        |flag: &str, t: &str| parse_size(t).map_err(|e| Failure::Usage(format!("{flag}: {e}")));
    let limits = Limits {
        max_file: size("--max-file-size", &args.max_file_size)?,
        max_total: size("--max-total-size", &args.max_total_size)?,
        compression: if args.zstd {
            bundle::Compression::Zstd
        } else {
            bundle::Compression::Gzip
        },
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
    let request = Request {
        output: args.output.clone(),
        force: args.force,
        redact: !args.no_redact,
        personal: PersonalData {
            phones: !args.no_redact_phones && config.redaction.phones.unwrap_or(true),
            emails: !args.no_redact_emails && config.redaction.emails.unwrap_or(true),
        },
        window: wa_preflight::bundle::collect::Window {
            since: Some(since),
            until,
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
        Ok(Created::Previewed(p)) => {
            let text =
                serde_json::to_string_pretty(&p).context("cannot serialise the preview")? + "\n";
            emit(None, &text)?;
            Ok(exit::OK)
        }
        Ok(Created::Written(m)) => {
            let failed = m.collectors.iter().filter(|c| c.status != "ok").count();
            let redactions: u64 = m.redactions.values().sum();
            eprintln!(
                "preflight: wrote {} ({} files, {} redactions, {} collector(s) failed or timed out{})",
                args.output.display(),
                m.files.len(),
                redactions,
                failed,
                if m.omitted.is_empty() {
                    String::new()
                } else {
                    format!(", {} files left out by the size cap", m.omitted.len())
                }
            );
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
    let personal = PersonalData {
        phones: switches.0 && config.redaction.phones.unwrap_or(true),
        emails: switches.1 && config.redaction.emails.unwrap_or(true),
    };
    match redact_existing(input, output, force, personal, &config.redaction.rules) {
        Ok(counts) => {
            eprintln!(
                "preflight: wrote {} ({} redactions)",
                output.display(),
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
            let mut t = comfy_table::Table::new();
            t.load_style(comfy_table::presets::UTF8_FULL)
                .set_header(["Rule", "Title", "Profiles"]);
            for r in set.rules() {
                let profiles: Vec<String> = r.profiles.iter().map(ToString::to_string).collect();
                t.add_row([r.id.clone(), r.title.clone(), profiles.join(", ")]);
            }
            format!("{t}\n")
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
    out.push_str(&format!(
        "defined:   {origin}\n\noutcomes (first match wins):\n"
    ));
    for o in &rule.outcomes {
        let status = format!("{:?}", o.value.status).to_lowercase();
        let when = if o.value.when.is_some() {
            "when …"
        } else {
            "otherwise"
        };
        out.push_str(&format!(
            "  {status:<5} {when:<9} {}\n",
            o.value.message.source()
        ));
    }
    if let Some(r) = &rule.remedy {
        out.push_str(&format!("\nremedy: {r}\n"));
    }
    if let Some(d) = &rule.doc {
        out.push_str(&format!("source: {d}\n"));
    }
    emit(None, &out)?;
    Ok(exit::OK)
}
