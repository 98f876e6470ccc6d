//! The command line: the top-level [`Cli`] and its [`Command`]s, the argument groups several
//! commands share ([`RuleFiles`], [`ConfigFile`], [`GatherArgs`], [`ListFormat`]), and one
//! module per command holding its flags and its `run`. Flags become the library's plain
//! settings structs here; every decision they feed is made in `wa_preflight::settings` and
//! the rest of the library.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use wa_preflight::config::ConfigError;
use wa_preflight::facts::database::DbFlags;
use wa_preflight::located::LocatedError;
use wa_preflight::settings::{self, GatherFlags, SettingsError};

pub mod bundle;
pub mod check;
pub mod completions;
pub mod daemon;
pub mod diff;
pub mod explain;
pub mod facts;
pub mod gather;
pub mod history;
pub mod logging;
pub mod man;
pub mod output;
pub mod redact;
pub mod rules;
pub mod values;

/// Preflight checks and diagnostics for WhatsApp Business API On-Premises hosts.
#[derive(Debug, Parser)]
#[command(name = "preflight", version, about, propagate_version = true)]
pub struct Cli {
    /// Only log errors.
    #[arg(
        short,
        long,
        global = true,
        conflicts_with = "verbose",
        help_heading = "Logging"
    )]
    pub quiet: bool,
    /// Log more (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = "Logging")]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Gather facts, evaluate the rules and report. Exit 0 pass, 4 warnings, 3 failures or
    /// errors, 2 bad usage/rules/config, 1 internal error.
    Check(check::CheckArgs),
    /// Print the facts document without judging it.
    Facts(facts::FactsArgs),
    /// List the rules.
    Rules(rules::RulesArgs),
    /// Write a support bundle (.tar.gz): report, facts, host files, Docker and container logs,
    /// all redacted, with a manifest. Exit 0 written, 1 not written (e.g. a leak found), 143/130
    /// stopped by SIGTERM/SIGINT (nothing written, scratch space removed).
    Bundle(bundle::BundleArgs),
    /// Re-redact an existing bundle (.tar.gz) or a single file.
    Redact(redact::RedactArgs),
    /// Show one rule with its remedy and source.
    Explain(explain::ExplainArgs),
    /// Run the checks on a schedule and serve /healthz, /readyz, /metrics, /v1/report and
    /// /v1/history (127.0.0.1:9612 by default); SIGHUP reloads config and rules.
    Daemon(daemon::DaemonArgs),
    /// Show the daemon's recorded status transitions (or runs).
    History(history::HistoryArgs),
    /// Show what changed since the last run in which every rule passed.
    Diff(diff::DiffArgs),
    /// Print a shell completion script (e.g. `preflight completions bash >
    /// /etc/bash_completion.d/preflight`).
    Completions(completions::CompletionsArgs),
    /// Print the man page, or write one per command into a folder.
    Man(man::ManArgs),
}

/// `--rules FILE`, repeatable (check, bundle, rules, explain, daemon).
#[derive(Debug, Clone, Default, Args)]
pub struct RuleFiles {
    /// Extra rules file; rules with an existing ID replace it. Repeatable.
    #[arg(long = "rules", value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// `--config FILE` (or `WA_PREFLIGHT_CONFIG`), the one declaration every command that reads
/// the config flattens. The help says what the gathering commands use it for; a command that
/// reads only one section says which with `mut_arg("config", …)` (see [`config_help`]).
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigFile {
    /// Config file (waivers, profile, storage paths).
    #[arg(long, value_name = "FILE", env = "WA_PREFLIGHT_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Per-command help of `--config` for commands that read one section of it.
pub mod config_help {
    /// `redact`.
    pub const REDACTION: &str = "Config file (its `redaction:` section applies)";
    /// `history`, `diff`.
    pub const HISTORY: &str =
        "Config file (its `daemon.history.path` is the default history database)";
}

/// What to gather and from where (check, facts, bundle, daemon).
#[derive(Debug, Clone, Args)]
pub struct GatherArgs {
    #[command(flatten)]
    pub config_file: ConfigFile,
    /// Also judge the storage of this path. Repeatable.
    #[arg(long = "path", value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Docker Engine endpoint (unix:///path or tcp://host:port); default DOCKER_HOST or
    /// /var/run/docker.sock.
    #[arg(long, value_name = "URL", help_heading = "Docker")]
    pub docker_host: Option<String>,
    /// daemon.json to read for a custom seccomp profile.
    #[arg(long, value_name = "FILE", help_heading = "Docker")]
    pub daemon_json: Option<PathBuf>,
    /// Do not run the statx probe container.
    #[arg(long, help_heading = "Docker")]
    pub no_statx_probe: bool,
    /// Seconds each Docker API step may take (default 5; 0.001 to 3600).
    #[arg(long, value_name = "SECONDS", value_parser = wa_preflight::bounds::timeout_flag, help_heading = "Docker")]
    pub docker_timeout: Option<f64>,
    /// The database as a URL: mysql://user@host:port or postgres://user@host:port (a
    /// password in the URL is used but never shown; prefer --db-password-file).
    #[arg(long, value_name = "URL", help_heading = "Database")]
    pub db_url: Option<String>,
    /// Database host (with --db-engine and --db-user).
    #[arg(long, value_name = "HOST", help_heading = "Database")]
    pub db_host: Option<String>,
    /// Database port (default 3306 for MySQL, 5432 for PostgreSQL).
    #[arg(long, value_name = "PORT", help_heading = "Database")]
    pub db_port: Option<u16>,
    /// Database user (with --db-host).
    #[arg(long, value_name = "USER", help_heading = "Database")]
    pub db_user: Option<String>,
    /// mysql or postgres (WA_DB_ENGINE's MYSQL/PGSQL work too).
    #[arg(long, value_name = "ENGINE", help_heading = "Database")]
    pub db_engine: Option<String>,
    /// File holding the database password (else the WA_DB_PASSWORD variable).
    #[arg(long, value_name = "FILE", help_heading = "Database")]
    pub db_password_file: Option<PathBuf>,
    /// A WhatsApp db.env file with WA_DB_* settings.
    #[arg(long, value_name = "FILE", help_heading = "Database")]
    pub db_env: Option<PathBuf>,
    /// Round trips timed for the database latency (default 50; 1 to 10000).
    #[arg(long, value_name = "N", value_parser = wa_preflight::bounds::samples_flag, help_heading = "Database")]
    pub db_samples: Option<usize>,
    /// Seconds connecting to the database and each measurement may take (default 5; 0.001 to
    /// 3600).
    #[arg(long, value_name = "SECONDS", value_parser = wa_preflight::bounds::timeout_flag, help_heading = "Database")]
    pub db_timeout: Option<f64>,
    /// The client's API base URL (default: the webapp container's published port 443, as
    /// https://127.0.0.1:PORT).
    #[arg(long, value_name = "URL", help_heading = "Client API")]
    pub api_url: Option<String>,
    /// File holding an API token (else client.username/password_file in the config log in).
    #[arg(long, value_name = "FILE", help_heading = "Client API")]
    pub api_token_file: Option<PathBuf>,
    /// Accept the API's certificate without verifying it (the client's default certificate is
    /// self-signed).
    #[arg(long, help_heading = "Client API")]
    pub api_insecure: bool,
    /// Verify the API's certificate against this CA file (PEM).
    #[arg(long, value_name = "FILE", help_heading = "Client API")]
    pub api_ca_file: Option<PathBuf>,
    /// Seconds each API request may take (default 5; 0.001 to 3600).
    #[arg(long, value_name = "SECONDS", value_parser = wa_preflight::bounds::timeout_flag, help_heading = "Client API")]
    pub api_timeout: Option<f64>,
    /// Show the registered phone number from /v1/support in the facts and report.
    #[arg(long, help_heading = "Client API")]
    pub show_phone: bool,
    /// POST a marked test payload to the configured webhook and time it (off by default: it
    /// reaches a production endpoint).
    #[arg(long, help_heading = "Client API")]
    pub webhook_probe: bool,
}

impl GatherArgs {
    /// The flags as the library's settings take them.
    pub fn flags(&self) -> GatherFlags {
        GatherFlags {
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
                // The environment's, through settings.
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

    /// The rules and config files a gathering command reads.
    pub fn sources(&self, rules: &RuleFiles) -> settings::Sources {
        settings::Sources {
            rules: rules.files.clone(),
            config: self.config_file.config.clone(),
        }
    }
}

/// `--format` of the listing commands (rules, history, diff).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

/// How a command failed, which decides the exit code.
#[derive(Debug)]
pub enum Failure {
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

impl From<SettingsError> for Failure {
    fn from(e: SettingsError) -> Self {
        Failure::Usage(e.to_string())
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Internal(e)
    }
}

/// A command's result: its exit code, or how it failed.
pub type Outcome = Result<i32, Failure>;

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

    /// `--config` is one declaration: the same flag, variable and value name wherever it is.
    #[test]
    fn config_is_declared_once_with_per_command_help() {
        let mut cmd = Cli::command();
        cmd.build();
        let mut seen = Vec::new();
        for sub in cmd.get_subcommands() {
            if let Some(a) = sub.get_arguments().find(|a| a.get_long() == Some("config")) {
                assert_eq!(a.get_id().as_str(), "config", "{}", sub.get_name());
                assert_eq!(a.get_value_names(), Some(&["FILE".into()][..]));
                assert_eq!(
                    a.get_env().and_then(|e| e.to_str()),
                    Some("WA_PREFLIGHT_CONFIG")
                );
                let help = a.get_help().map(ToString::to_string).unwrap_or_default();
                seen.push((sub.get_name().to_string(), help));
            }
        }
        let help = |name: &str| {
            seen.iter()
                .find(|(n, _)| n == name)
                .map(|(_, h)| h.clone())
                .unwrap_or_else(|| panic!("{name} has no --config"))
        };
        for gathering in ["check", "facts", "bundle", "daemon"] {
            assert_eq!(
                help(gathering),
                "Config file (waivers, profile, storage paths)"
            );
        }
        assert_eq!(help("redact"), config_help::REDACTION);
        assert_eq!(help("history"), config_help::HISTORY);
        assert_eq!(help("diff"), config_help::HISTORY);
    }

    /// clap belongs to the binary: no file of the library (everything under `src/` but
    /// `main.rs` and `cli/`) names it.
    #[test]
    fn the_library_does_not_use_clap() {
        fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).expect("src/ is readable") {
                let path = entry.expect("a directory entry").path();
                if path.ends_with("src/cli") || path.ends_with("src/main.rs") {
                    continue;
                }
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).expect("a source file");
                    if text.contains("clap::") || text.contains("use clap") {
                        out.push(path.display().to_string());
                    }
                }
            }
        }
        let mut users = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut users,
        );
        assert!(users.is_empty(), "library files using clap: {users:?}");
    }
}
