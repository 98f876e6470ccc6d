//! Settings: the operator's flags, preflight's own environment and the config file merged into
//! the options the rest of the library takes ([`GatherOptions`], the [`EvalContext`] inputs,
//! [`PersonalData`], the daemon's [`Setup`]). Every precedence decision lives here, so it is
//! tested here; the binary only turns its command line into the plain structs below
//! ([`GatherFlags`], [`DaemonFlags`]) and the daemon's SIGHUP reload calls [`daemon_setup`].
//!
//! The order, first found wins: **flag > environment > config file > default**, for the
//! settings that have each level. Which do, and the documented exceptions:
//! - the config file's path: `--config` > `WA_PREFLIGHT_CONFIG` >
//!   [`crate::config::DEFAULT_CONFIG_PATH`] (resolved by the command line, which shows the
//!   variable in its help; [`Sources::config`] holds the result);
//! - the Docker endpoint: `--docker-host` > config `docker.host` > `DOCKER_HOST` > the default
//!   socket (an installed config names the engine the client runs on; `DOCKER_HOST` is a
//!   shell's, and the man page documents this order);
//! - the database: `--db-url`, then `--db-host…`, then `--db-env`, then the config's
//!   `database:` (its `env_file`, then its fields), then the running coreapp's `WA_DB_*`
//!   variables; `WA_DB_PASSWORD` (environment) is the password for flag- or config-given
//!   settings that name no password file. The options built here carry all of them;
//!   [`crate::facts::database::settings::resolve`] picks once the containers are known;
//! - the client API likewise: flags and config here, the webapp container's port when
//!   gathering;
//! - report colours: none unless on a terminal, none when `NO_COLOR` is set and not empty;
//! - storage paths: the config's and the flags' are both judged (the flags' after);
//! - on/off switches a flag can only turn off (`--no-statx-probe`, `--no-redact-phones`…):
//!   off when either the flag or the config says off;
//! - the history database (`history`, `diff`): `--history` > config `daemon.history.path` >
//!   the default, the config not read at all when the flag is given ([`history_database`]);
//! - the support bundle: [`bundle_plan`] and [`bundle_request`] (file `settings/bundle.rs`).

mod bundle;

pub use bundle::{
    BundleFlags, BundleOutput, BundlePlan, DEFAULT_MAX_FILE_SIZE, DEFAULT_MAX_TOTAL_SIZE,
    DEFAULT_SINCE, bundle_compression, bundle_plan, bundle_request, compression_of,
    default_bundle_name, known_secrets,
};

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use time::Date;

use crate::config::{Config, ConfigError, TransitionWebhook};
use crate::facts::database::DbFlags;
use crate::facts::{GatherOptions, Group};
use crate::input::InputError;
use crate::located::LocatedError;
use crate::redact::PersonalData;
use crate::rules::eval::EvalContext;
use crate::rules::{Profile, RuleSet};
use crate::secret::Secret;
use crate::value::quantity::parse_size;

/// `DOCKER_HOST`: the Docker endpoint when neither `--docker-host` nor `docker.host` names one.
pub const DOCKER_HOST: &str = "DOCKER_HOST";
/// `WA_DB_PASSWORD`: the database password when no password file is named.
pub const WA_DB_PASSWORD: &str = "WA_DB_PASSWORD";
/// `NO_COLOR` (no-color.org): set and not empty, the report has no colours.
pub const NO_COLOR: &str = "NO_COLOR";

/// Seconds between daemon runs when neither `--interval` nor `daemon.interval_seconds` says.
pub const DEFAULT_INTERVAL_SECONDS: u64 = 300;
/// Seconds a daemon run may take when `daemon.run_deadline_seconds` does not say.
pub const DEFAULT_RUN_DEADLINE_SECONDS: u64 = 120;
/// Days of history kept when `daemon.history.retention_days` does not say.
pub const DEFAULT_RETENTION_DAYS: u64 = 30;
/// The history file's size cap when `daemon.history.max_size` names none: 64 MiB.
pub const DEFAULT_HISTORY_MAX_BYTES: u64 = 64 << 20;

/// The environment variables settings read: the process's own, or a fixed set (tests).
/// `Debug` shows the names only: `WA_DB_PASSWORD` is a secret.
#[derive(Clone, Default)]
pub struct Environment {
    /// `None`: the process environment, read at each lookup.
    fixed: Option<BTreeMap<String, String>>,
}

impl Environment {
    /// The process environment.
    pub fn process() -> Environment {
        Environment { fixed: None }
    }

    /// Exactly these variables (and no others), e.g. `[("DOCKER_HOST", "tcp://h:2375")]`.
    pub fn from_vars<K: Into<String>, V: Into<String>>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Environment {
        Environment {
            fixed: Some(
                vars.into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
        }
    }

    /// A variable's value; `None` when it is unset or not UTF-8.
    pub fn var(&self, name: &str) -> Option<String> {
        match &self.fixed {
            Some(vars) => vars.get(name).cloned(),
            None => std::env::var(name).ok(),
        }
    }
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.fixed {
            None => f.write_str("Environment(process)"),
            Some(vars) => f.debug_set().entries(vars.keys()).finish(),
        }
    }
}

/// What the operator gave on the command line for gathering (`check`, `facts`, `bundle`,
/// `daemon`); `None`/`false`/empty means "not given". Numbers are already range-checked by the
/// command line ([`crate::bounds`]).
#[derive(Debug, Clone, Default)]
pub struct GatherFlags {
    /// `--path`, repeatable: more paths whose storage is judged.
    pub paths: Vec<PathBuf>,
    /// `--docker-host`: `unix:///path` or `tcp://host:port`.
    pub docker_host: Option<String>,
    /// `--daemon-json`.
    pub daemon_json: Option<PathBuf>,
    /// `--no-statx-probe`.
    pub no_statx_probe: bool,
    /// `--docker-timeout`, seconds.
    pub docker_timeout: Option<f64>,
    /// `--db-url`, `--db-host`, `--db-port`, `--db-user`, `--db-engine`, `--db-password-file`,
    /// `--db-env` (its `env_password` is ignored: it comes from the environment).
    pub database: DbFlags,
    /// `--db-samples`: round trips timed.
    pub db_samples: Option<usize>,
    /// `--db-timeout`, seconds.
    pub db_timeout: Option<f64>,
    /// `--api-url`.
    pub api_url: Option<String>,
    /// `--api-token-file`.
    pub api_token_file: Option<PathBuf>,
    /// `--api-insecure`.
    pub api_insecure: bool,
    /// `--api-ca-file`.
    pub api_ca_file: Option<PathBuf>,
    /// `--api-timeout`, seconds.
    pub api_timeout: Option<f64>,
    /// `--show-phone`.
    pub show_phone: bool,
    /// `--webhook-probe`.
    pub webhook_probe: bool,
}

/// The files a command reads its rules and config from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// `--rules`, repeatable: extra rules files merged over the embedded set, in order.
    pub rules: Vec<PathBuf>,
    /// `--config` (or `WA_PREFLIGHT_CONFIG`); `None` reads
    /// [`crate::config::DEFAULT_CONFIG_PATH`] when it exists.
    pub config: Option<PathBuf>,
}

/// What `preflight daemon` was started with: everything a SIGHUP reload needs to build the
/// [`Setup`] again from the files on disk.
#[derive(Debug, Clone, Default)]
pub struct DaemonFlags {
    /// `--listen`: `ADDR:PORT`.
    pub listen: Option<String>,
    /// `--interval`, seconds: every group's interval.
    pub interval: Option<u64>,
    /// `--history`: the history database.
    pub history: Option<PathBuf>,
    /// `--profile`.
    pub profile: Option<Profile>,
    /// `--rules` and `--config`.
    pub sources: Sources,
    /// The gathering flags.
    pub gather: GatherFlags,
    /// The environment to read on every (re)load.
    pub env: Environment,
}

/// Why the settings could not be built: always the operator's input (exit 2). The message
/// names the file (`file:line:col`), the flag or the config key.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A rules file is invalid, or the embedded rules are.
    #[error("{0}")]
    Rules(#[from] LocatedError),
    /// A rules file cannot be read.
    #[error("{0}")]
    RulesFile(#[from] InputError),
    /// The config cannot be read or is invalid.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// A value is unusable (`listen address "x": …`, `daemon.history.max_size: …`).
    #[error("{0}")]
    Invalid(String),
}

/// The embedded rules with each of `files` merged over them in order (a rule with an existing
/// ID replaces it).
///
/// # Errors
/// A file that cannot be read, or rules that do not load (`file:line:col`).
pub fn load_rules(files: &[PathBuf]) -> Result<RuleSet, SettingsError> {
    let mut set = RuleSet::embedded()?;
    for path in files {
        let text = crate::input::read_text(path, "rules file", crate::input::TEXT_LIMIT)?;
        set.merge(RuleSet::from_facts_yaml(
            &path.display().to_string(),
            &text,
        )?)?;
    }
    Ok(set)
}

/// The rules, the config and what to gather, as every gathering command builds them.
///
/// # Errors
/// See [`load_rules`] and [`Config::load`].
pub fn load(
    sources: &Sources,
    flags: &GatherFlags,
    env: &Environment,
) -> Result<(RuleSet, Config, GatherOptions), SettingsError> {
    let set = load_rules(&sources.rules)?;
    let config = Config::load(sources.config.as_deref(), &set)?;
    let opts = gather_options(flags, env, &config, &set);
    Ok((set, config, opts))
}

/// A positive number of seconds as a duration; `None` for none (or a non-positive one).
fn seconds(secs: Option<f64>) -> Option<Duration> {
    secs.filter(|s| *s > 0.0).map(Duration::from_secs_f64)
}

/// What to gather and how: the flags over the config over the defaults of [`GatherOptions`];
/// the network targets and log signatures come from the rules.
pub fn gather_options(
    flags: &GatherFlags,
    env: &Environment,
    config: &Config,
    rules: &RuleSet,
) -> GatherOptions {
    let s = &config.storage;
    let mut extra = s.paths.clone();
    extra.extend(flags.paths.iter().cloned());
    let mut opts = GatherOptions::with_paths(s.docker_root.clone(), s.media.clone(), extra);
    let d = &config.docker;
    let docker = &mut opts.docker;
    docker.host = flags
        .docker_host
        .clone()
        .or_else(|| d.host.clone())
        .or_else(|| env.var(DOCKER_HOST).filter(|h| !h.is_empty()));
    if let Some(p) = flags.daemon_json.clone().or_else(|| d.daemon_json.clone()) {
        docker.daemon_json = p;
    }
    docker
        .images
        .coreapp
        .extend(d.coreapp_images.iter().cloned());
    docker.images.webapp.extend(d.webapp_images.iter().cloned());
    docker.statx_probe = !flags.no_statx_probe && d.statx_probe.unwrap_or(true);
    if let Some(t) = seconds(flags.docker_timeout.or(d.timeout_seconds)) {
        docker.deadline = t;
    }
    let db = &mut opts.database;
    db.flags = DbFlags {
        env_password: env.var(WA_DB_PASSWORD).map(Secret::new),
        ..flags.database.clone()
    };
    db.config = config.database.clone();
    if let Some(n) = flags
        .db_samples
        .or(config.database.as_ref().and_then(|c| c.samples))
    {
        db.samples = n.max(1);
    }
    if let Some(t) = seconds(flags.db_timeout) {
        db.deadline = t;
    }
    let c = &mut opts.client;
    c.config = config.client.clone();
    c.url_flag = flags.api_url.clone();
    c.token_file_flag = flags.api_token_file.clone();
    c.insecure_flag = flags.api_insecure;
    c.ca_file_flag = flags.api_ca_file.clone();
    c.show_phone = flags.show_phone;
    c.webhook_probe = flags.webhook_probe;
    if let Some(t) = seconds(flags.api_timeout.or(config.client.timeout_seconds)) {
        c.timeout = t;
    }
    if let Some(n) = rules.network() {
        opts.network.targets = n.whatsapp.clone();
        opts.network.timeout = Duration::from_millis(n.timeout_ms.max(1));
    }
    opts.logs.patterns = rules.patterns().to_vec();
    opts.logs.deadline = opts.deadline;
    opts
}

/// Which rules apply: `--profile` > config `profile` > production.
pub fn profile(flag: Option<Profile>, config: &Config) -> Profile {
    flag.or(config.profile).unwrap_or(Profile::Production)
}

/// How to judge facts on `today`: the profile ([`profile`]) and the config's waivers.
pub fn eval_context(flag: Option<Profile>, config: &Config, today: Date) -> EvalContext<'_> {
    EvalContext {
        profile: profile(flag, config),
        waivers: &config.waivers,
        today,
    }
}

/// Which personal data a bundle or `redact` hides: each kind unless `--no-redact-phones` /
/// `--no-redact-emails` or the config's `redaction.phones` / `redaction.emails: false` says not.
pub fn personal_data(
    no_redact_phones: bool,
    no_redact_emails: bool,
    config: &Config,
) -> PersonalData {
    PersonalData {
        phones: !no_redact_phones && config.redaction.phones.unwrap_or(true),
        emails: !no_redact_emails && config.redaction.emails.unwrap_or(true),
    }
}

/// Whether the report is coloured: only on a terminal (`to_terminal`: the report goes to
/// standard output and that is a terminal), and not when `NO_COLOR` is set and not empty.
pub fn report_colour(to_terminal: bool, env: &Environment) -> bool {
    to_terminal && env.var(NO_COLOR).is_none_or(|v| v.is_empty())
}

/// The history database: `--history` > config `daemon.history.path` >
/// [`DEFAULT_HISTORY_PATH`].
pub fn history_path(flag: Option<&Path>, config: &Config) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| config.daemon.history.path.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_HISTORY_PATH))
}

/// The history database `preflight history` and `diff` read, as [`history_path`] decides;
/// the config (`config_file`, else [`crate::config::DEFAULT_CONFIG_PATH`] when it exists) is
/// read only when `--history` (`flag`) is not given, so a missing or broken config does not
/// stop a command that names its database.
///
/// # Errors
/// Without `flag`: the config cannot be read or is
/// invalid (`file:line:col`).
pub fn history_database(
    flag: Option<&Path>,
    config_file: Option<&Path>,
) -> Result<PathBuf, SettingsError> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    let config = Config::load_without_rules(config_file)?;
    Ok(history_path(None, &config))
}

/// How the daemon runs: the flags over the config's `daemon:` section over the defaults.
/// `--interval` sets every group's interval; without it a group takes `daemon.intervals`,
/// else its default from `daemon.interval_seconds` (or [`DEFAULT_INTERVAL_SECONDS`]).
///
/// # Errors
/// An unparsable listen address, `daemon.history.max_size`, or an unreadable or empty
/// `daemon.token_file`.
pub fn daemon_settings(
    flags: &DaemonFlags,
    config: &Config,
) -> Result<DaemonSettings, SettingsError> {
    let d = &config.daemon;
    let listen_text = flags
        .listen
        .clone()
        .or_else(|| d.listen.clone())
        .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let listen = listen_text
        .parse()
        .map_err(|e| SettingsError::Invalid(format!("listen address {listen_text:?}: {e}")))?;
    let base = flags
        .interval
        .or(d.interval_seconds)
        .unwrap_or(DEFAULT_INTERVAL_SECONDS)
        .max(1);
    let mut intervals = BTreeMap::new();
    for g in Group::ALL {
        let secs = match (flags.interval, d.intervals.get(&g)) {
            // An explicit --interval applies to every group (tests, benchmarks).
            (Some(i), _) => i.max(1),
            (None, Some(s)) => (*s).max(1),
            (None, None) => g.default_interval(base),
        };
        intervals.insert(g, Duration::from_secs(secs));
    }
    let h = &d.history;
    let retention = Retention {
        max_age: Duration::from_secs(
            h.retention_days.unwrap_or(DEFAULT_RETENTION_DAYS).max(1) * 86_400,
        ),
        max_bytes: match &h.max_size {
            Some(s) => parse_size(s)
                .map_err(|e| SettingsError::Invalid(format!("daemon.history.max_size: {e}")))?,
            None => Retention::default().max_bytes,
        },
    };
    let token = match &d.token_file {
        Some(p) => {
            Some(Secret::from_token_file(p, "daemon.token_file").map_err(SettingsError::Invalid)?)
        }
        None => None,
    };
    Ok(DaemonSettings {
        listen,
        intervals,
        run_deadline: Duration::from_secs(
            d.run_deadline_seconds
                .unwrap_or(DEFAULT_RUN_DEADLINE_SECONDS)
                .max(5),
        ),
        history_path: history_path(flags.history.as_deref(), config),
        retention,
        token,
        webhook: d.webhook.clone(),
    })
}

/// Everything the daemon runs with, built from the files on disk: at start and on every
/// SIGHUP (the daemon calls this itself).
///
/// # Errors
/// See [`load`] and [`daemon_settings`].
pub fn daemon_setup(flags: &DaemonFlags) -> Result<Setup, SettingsError> {
    let (set, config, gather) = load(&flags.sources, &flags.gather, &flags.env)?;
    let settings = daemon_settings(flags, &config)?;
    Ok(Setup {
        profile: profile(flags.profile, &config),
        set,
        config,
        gather,
        settings,
    })
}

// The daemon's settings: what `daemon_settings` and `daemon_setup` make and the daemon runs
// with (it imports them from here; settings never import the daemon).

/// The default listen address: loopback only; Prometheus scrapes through a local agent or
/// an explicit `--listen`. Port 9612 is marked free in Prometheus' list of exporter default
/// ports (wiki "Default port allocations"); until 0.2.0 it was 9464, the OpenTelemetry
/// Prometheus exporter's default, which collided on hosts that run one.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9612";

/// How the daemon runs, from flags and the config's `daemon:` section.
#[derive(Debug, Clone)]
pub struct DaemonSettings {
    /// Address the HTTP server binds (default [`DEFAULT_LISTEN`]).
    pub listen: SocketAddr,
    /// How often each fact group is gathered; every group has an entry.
    pub intervals: BTreeMap<Group, Duration>,
    /// How long one run may take before it is abandoned and counted as failed.
    pub run_deadline: Duration,
    /// The SQLite history file (default [`DEFAULT_HISTORY_PATH`]).
    pub history_path: PathBuf,
    /// How much history to keep.
    pub retention: Retention,
    /// Bearer token every endpoint but `/healthz` requires; None: no authentication.
    pub token: Option<Secret>,
    /// Where rule status transitions are POSTed; None: they are only logged and stored.
    pub webhook: Option<TransitionWebhook>,
}

/// Everything one configuration produces; rebuilt on SIGHUP ([`daemon_setup`]).
pub struct Setup {
    /// The rules to evaluate.
    pub set: RuleSet,
    /// The operator's config (waivers, storage paths, Docker, database, client, daemon).
    pub config: Config,
    /// How facts are gathered; the scheduler sets `groups` per run.
    pub gather: GatherOptions,
    /// The profile rules are judged under (`production` or `development`).
    pub profile: Profile,
    /// How the daemon itself runs.
    pub settings: DaemonSettings,
}

/// Where the daemon keeps its history unless told otherwise.
pub const DEFAULT_HISTORY_PATH: &str = "/var/lib/wa-preflight/history.db";

/// How much history to keep.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Rows older than this are deleted after each run (default 30 days).
    pub max_age: Duration,
    /// The file is vacuumed down to about this size by deleting the oldest rows (bytes, default 64
    /// MiB).
    pub max_bytes: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_age: Duration::from_secs(DEFAULT_RETENTION_DAYS * 86_400),
            max_bytes: DEFAULT_HISTORY_MAX_BYTES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::database::settings::{DbTarget, resolve};
    use std::collections::HashMap;

    fn rules() -> RuleSet {
        RuleSet::embedded().expect("the embedded rules load")
    }

    fn config(yaml: &str) -> Config {
        Config::parse("config.yaml", yaml, &rules()).expect("the test config is valid")
    }

    fn none() -> Environment {
        Environment::from_vars(Vec::<(String, String)>::new())
    }

    fn env(vars: &[(&str, &str)]) -> Environment {
        Environment::from_vars(vars.iter().copied())
    }

    fn gather(flags: &GatherFlags, env: &Environment, config: &Config) -> GatherOptions {
        gather_options(flags, env, config, &rules())
    }

    /// A file in `dir` holding `text`.
    fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write a test file");
        p
    }

    /// The database target the gathered options resolve to, with `container`'s variables.
    fn target(opts: &GatherOptions, container: Option<&HashMap<String, String>>) -> DbTarget {
        resolve(
            &opts.database.flags,
            opts.database.config.as_ref(),
            container.map(|v| ("wa_coreapp_1", v)),
        )
        .expect("the settings resolve")
        .expect("a database is named")
    }

    fn password(t: &DbTarget) -> Option<&str> {
        t.password.as_ref().map(Secret::expose)
    }

    #[test]
    fn the_environment_is_the_given_one_and_debug_shows_no_values() {
        let e = env(&[("WA_DB_PASSWORD", "hunter2"), ("DOCKER_HOST", "tcp://h:1")]);
        assert_eq!(e.var("WA_DB_PASSWORD").as_deref(), Some("hunter2"));
        assert_eq!(e.var("HOME"), None, "only the given variables");
        let shown = format!("{e:?}");
        assert!(
            shown.contains("WA_DB_PASSWORD") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn docker_host_flag_then_config_then_environment_then_default() {
        let flag = GatherFlags {
            docker_host: Some("unix:///flag.sock".into()),
            ..GatherFlags::default()
        };
        let cfg = config("docker:\n  host: unix:///config.sock\n");
        let dh = env(&[("DOCKER_HOST", "unix:///env.sock")]);
        let host = |f: &GatherFlags, e: &Environment, c: &Config| gather(f, e, c).docker.host;
        assert_eq!(host(&flag, &dh, &cfg).as_deref(), Some("unix:///flag.sock"));
        let no_flag = GatherFlags::default();
        assert_eq!(
            host(&no_flag, &dh, &cfg).as_deref(),
            Some("unix:///config.sock")
        );
        let empty = Config::default();
        assert_eq!(
            host(&no_flag, &dh, &empty).as_deref(),
            Some("unix:///env.sock")
        );
        // An empty DOCKER_HOST is unset; the engine's default socket applies.
        assert_eq!(host(&no_flag, &env(&[("DOCKER_HOST", "")]), &empty), None);
        assert_eq!(host(&no_flag, &none(), &empty), None);
        assert_eq!(
            crate::facts::docker::engine::endpoint(None),
            crate::facts::docker::engine::endpoint(host(&no_flag, &none(), &empty).as_deref())
        );
    }

    #[test]
    fn docker_files_switches_timeouts_and_images() {
        let cfg = config(
            "docker:\n  daemon_json: /config/daemon.json\n  timeout_seconds: 7\n  statx_probe: true\n  coreapp_images: [mirror/coreapp]\n",
        );
        let flags = GatherFlags {
            daemon_json: Some("/flag/daemon.json".into()),
            docker_timeout: Some(2.5),
            no_statx_probe: true,
            ..GatherFlags::default()
        };
        let o = gather(&flags, &none(), &cfg).docker;
        assert_eq!(o.daemon_json, PathBuf::from("/flag/daemon.json"));
        assert_eq!(o.deadline, Duration::from_millis(2500));
        assert!(!o.statx_probe, "--no-statx-probe turns the probe off");
        assert!(o.images.coreapp.iter().any(|i| i == "mirror/coreapp"));
        let o = gather(&GatherFlags::default(), &none(), &cfg).docker;
        assert_eq!(o.daemon_json, PathBuf::from("/config/daemon.json"));
        assert_eq!(o.deadline, Duration::from_secs(7));
        assert!(o.statx_probe);
        let off = config("docker:\n  statx_probe: false\n");
        assert!(
            !gather(&GatherFlags::default(), &none(), &off)
                .docker
                .statx_probe
        );
        let o = gather(&GatherFlags::default(), &none(), &Config::default()).docker;
        let d = crate::facts::docker::DockerOptions::default();
        assert_eq!(
            (o.daemon_json, o.deadline, o.statx_probe),
            (d.daemon_json, d.deadline, true)
        );
        assert_eq!(
            o.images.coreapp, d.images.coreapp,
            "no extra images by default"
        );
    }

    #[test]
    fn storage_paths_of_config_and_flags_are_both_judged() {
        let cfg = config("storage:\n  media: /srv/media\n  paths: [/config/path]\n");
        let flags = GatherFlags {
            paths: vec!["/flag/path".into()],
            ..GatherFlags::default()
        };
        let paths: Vec<(PathBuf, bool)> = gather(&flags, &none(), &cfg)
            .paths
            .into_iter()
            .map(|w| (w.path, w.named))
            .collect();
        assert_eq!(
            paths,
            [
                (PathBuf::from("/var/lib/docker"), false),
                (PathBuf::from("/srv/media"), true),
                (PathBuf::from("/config/path"), true),
                (PathBuf::from("/flag/path"), true),
            ]
        );
    }

    #[test]
    fn database_sources_in_order_flag_url_host_env_file_config_container() {
        let dir = tempfile::tempdir().unwrap();
        let db_env = file(
            &dir,
            "db.env",
            "WA_DB_ENGINE=PGSQL\nWA_DB_HOSTNAME=envfile\nWA_DB_USERNAME=u\nWA_DB_PASSWORD=fromfile\n",
        );
        let config_env = file(
            &dir,
            "config-db.env",
            "WA_DB_ENGINE=MYSQL\nWA_DB_HOSTNAME=configenvfile\nWA_DB_USERNAME=u\n",
        );
        let cfg_fields = config(
            "database:\n  engine: mysql\n  host: configured\n  user: wa\n  database: waent\n",
        );
        let cfg_env_file = config(&format!(
            "database:\n  env_file: {}\n  engine: mysql\n  host: configured\n  user: wa\n",
            config_env.display()
        ));
        let container: HashMap<String, String> = [
            ("WA_DB_ENGINE", "MYSQL"),
            ("WA_DB_HOSTNAME", "container"),
            ("WA_DB_USERNAME", "wa"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let url = DbFlags {
            url: Some("mysql://wa@byurl:3307".into()),
            ..DbFlags::default()
        };
        let host = DbFlags {
            host: Some("byhost".into()),
            engine: Some("postgres".into()),
            user: Some("wa".into()),
            ..DbFlags::default()
        };
        let env_file = DbFlags {
            env_file: Some(db_env.clone()),
            ..DbFlags::default()
        };
        let with = |db: DbFlags| GatherFlags {
            database: db,
            ..GatherFlags::default()
        };
        let all = DbFlags {
            host: host.host.clone(),
            engine: host.engine.clone(),
            user: host.user.clone(),
            env_file: Some(db_env.clone()),
            ..url.clone()
        };
        let t = target(
            &gather(&with(all), &none(), &cfg_env_file),
            Some(&container),
        );
        assert_eq!((t.host.as_str(), t.source.as_str()), ("byurl", "--db-url"));
        let both = DbFlags {
            env_file: Some(db_env.clone()),
            ..host.clone()
        };
        let t = target(
            &gather(&with(both), &none(), &cfg_env_file),
            Some(&container),
        );
        assert_eq!((t.host.as_str(), t.port), ("byhost", 5432));
        let t = target(
            &gather(&with(env_file), &none(), &cfg_env_file),
            Some(&container),
        );
        assert_eq!(
            (t.host.as_str(), password(&t)),
            ("envfile", Some("fromfile"))
        );
        // The config: its env_file before its fields, both before the container.
        let t = target(
            &gather(&GatherFlags::default(), &none(), &cfg_env_file),
            Some(&container),
        );
        assert_eq!(t.host, "configenvfile");
        let t = target(
            &gather(&GatherFlags::default(), &none(), &cfg_fields),
            Some(&container),
        );
        assert_eq!(
            (t.host.as_str(), t.source.as_str(), t.database.as_deref()),
            ("configured", "config database:", Some("waent"))
        );
        let opts = gather(&GatherFlags::default(), &none(), &Config::default());
        let t = target(&opts, Some(&container));
        assert_eq!(t.source, "container wa_coreapp_1");
        assert_eq!(
            resolve(&opts.database.flags, opts.database.config.as_ref(), None).unwrap(),
            None,
            "nothing anywhere: not configured"
        );
    }

    #[test]
    fn database_password_file_then_wa_db_password_then_none() {
        let dir = tempfile::tempdir().unwrap();
        let flag_pw = file(&dir, "flag.pw", "from-flag-file\n");
        let config_pw = file(&dir, "config.pw", "from-config-file\n");
        let pw = env(&[("WA_DB_PASSWORD", "from-env")]);
        let host = |password_file: Option<PathBuf>| GatherFlags {
            database: DbFlags {
                host: Some("db".into()),
                engine: Some("mysql".into()),
                user: Some("wa".into()),
                password_file,
                ..DbFlags::default()
            },
            ..GatherFlags::default()
        };
        let t = target(
            &gather(&host(Some(flag_pw.clone())), &pw, &Config::default()),
            None,
        );
        assert_eq!(password(&t), Some("from-flag-file"));
        let t = target(&gather(&host(None), &pw, &Config::default()), None);
        assert_eq!(password(&t), Some("from-env"));
        let t = target(&gather(&host(None), &none(), &Config::default()), None);
        assert_eq!(password(&t), None);
        // --db-url: its own password, else the file, else the environment.
        let url = |u: &str, password_file: Option<PathBuf>| GatherFlags {
            database: DbFlags {
                url: Some(u.into()),
                password_file,
                ..DbFlags::default()
            },
            ..GatherFlags::default()
        };
        let t = target(
            &gather(
                &url("mysql://wa:inurl@db", Some(flag_pw.clone())),
                &pw,
                &Config::default(),
            ),
            None,
        );
        assert_eq!(password(&t), Some("inurl"));
        let t = target(
            &gather(
                &url("mysql://wa@db", Some(flag_pw)),
                &pw,
                &Config::default(),
            ),
            None,
        );
        assert_eq!(password(&t), Some("from-flag-file"));
        let t = target(
            &gather(&url("mysql://wa@db", None), &pw, &Config::default()),
            None,
        );
        assert_eq!(password(&t), Some("from-env"));
        // The config's fields: its password file, else the environment.
        let with_file = config(&format!(
            "database:\n  engine: mysql\n  host: db\n  user: wa\n  password_file: {}\n",
            config_pw.display()
        ));
        let t = target(&gather(&GatherFlags::default(), &pw, &with_file), None);
        assert_eq!(password(&t), Some("from-config-file"));
        let fields = config("database:\n  engine: mysql\n  host: db\n  user: wa\n");
        let t = target(&gather(&GatherFlags::default(), &pw, &fields), None);
        assert_eq!(password(&t), Some("from-env"));
        // A flag-given env_password is not the operator's to set: the environment decides.
        let mut sneaky = host(None);
        sneaky.database.env_password = Some(Secret::new("from-flags"));
        let t = target(&gather(&sneaky, &none(), &Config::default()), None);
        assert_eq!(password(&t), None);
    }

    #[test]
    fn database_samples_and_timeout() {
        let cfg = config("database:\n  samples: 20\n");
        let flags = GatherFlags {
            db_samples: Some(7),
            db_timeout: Some(1.5),
            ..GatherFlags::default()
        };
        let o = gather(&flags, &none(), &cfg).database;
        assert_eq!((o.samples, o.deadline), (7, Duration::from_millis(1500)));
        let o = gather(&GatherFlags::default(), &none(), &cfg).database;
        assert_eq!((o.samples, o.deadline), (20, Duration::from_secs(5)));
        let o = gather(&GatherFlags::default(), &none(), &Config::default()).database;
        assert_eq!((o.samples, o.deadline), (50, Duration::from_secs(5)));
    }

    #[test]
    fn client_flags_and_config_are_both_carried_timeout_flag_first() {
        let cfg = config(
            "client:\n  url: https://config:443\n  timeout_seconds: 9\n  insecure_tls: true\n",
        );
        let flags = GatherFlags {
            api_url: Some("https://flag:9090".into()),
            api_token_file: Some("/flag/token".into()),
            api_ca_file: Some("/flag/ca.pem".into()),
            api_timeout: Some(3.0),
            api_insecure: true,
            show_phone: true,
            webhook_probe: true,
            ..GatherFlags::default()
        };
        let c = gather(&flags, &none(), &cfg).client;
        assert_eq!(c.url_flag.as_deref(), Some("https://flag:9090"));
        assert_eq!(c.config.url.as_deref(), Some("https://config:443"));
        assert_eq!(c.token_file_flag, Some(PathBuf::from("/flag/token")));
        assert_eq!(c.ca_file_flag, Some(PathBuf::from("/flag/ca.pem")));
        assert!(c.insecure_flag && c.show_phone && c.webhook_probe);
        assert_eq!(c.timeout, Duration::from_secs(3));
        let c = gather(&GatherFlags::default(), &none(), &cfg).client;
        assert_eq!((c.url_flag, c.timeout), (None, Duration::from_secs(9)));
        assert!(!c.insecure_flag && !c.show_phone && !c.webhook_probe);
        assert!(c.config.insecure_tls);
        let c = gather(&GatherFlags::default(), &none(), &Config::default()).client;
        assert_eq!(c.timeout, Duration::from_secs(5));
    }

    #[test]
    fn network_targets_and_log_signatures_come_from_the_rules() {
        let o = gather(&GatherFlags::default(), &none(), &Config::default());
        let set = rules();
        assert_eq!(o.logs.patterns.len(), set.patterns().len());
        assert!(
            !o.logs.patterns.is_empty(),
            "the embedded rules have signatures"
        );
        assert_eq!(o.logs.deadline, o.deadline);
        let n = set
            .network()
            .expect("the embedded rules have a network section");
        assert_eq!(o.network.targets.len(), n.whatsapp.len());
        assert_eq!(
            o.network.timeout,
            Duration::from_millis(n.timeout_ms.max(1))
        );
    }

    #[test]
    fn profile_flag_then_config_then_production() {
        let dev = config("profile: development\n");
        assert_eq!(
            profile(Some(Profile::Production), &dev),
            Profile::Production
        );
        assert_eq!(profile(None, &dev), Profile::Development);
        assert_eq!(profile(None, &Config::default()), Profile::Production);
        let waived =
            config("waivers:\n  - id: host.kernel\n    reason: test\n    expires: 2030-01-01\n");
        let today = time::macros::date!(2029 - 06 - 01);
        let ctx = eval_context(Some(Profile::Development), &waived, today);
        assert_eq!(
            (ctx.profile, ctx.waivers.len(), ctx.today),
            (Profile::Development, 1, today)
        );
    }

    #[test]
    fn personal_data_is_hidden_unless_a_flag_or_the_config_says_not() {
        let keep_phones = config("redaction:\n  phones: false\n");
        let both = PersonalData {
            phones: true,
            emails: true,
        };
        assert_eq!(personal_data(false, false, &Config::default()), both);
        assert_eq!(
            personal_data(true, false, &Config::default()),
            PersonalData {
                phones: false,
                emails: true
            }
        );
        assert_eq!(
            personal_data(false, true, &Config::default()),
            PersonalData {
                phones: true,
                emails: false
            }
        );
        assert_eq!(
            personal_data(false, false, &keep_phones),
            PersonalData {
                phones: false,
                emails: true
            }
        );
        // `true` in the config cannot override the flag.
        let explicit = config("redaction:\n  phones: true\n  emails: true\n");
        assert_eq!(
            personal_data(true, true, &explicit),
            PersonalData {
                phones: false,
                emails: false
            }
        );
    }

    #[test]
    fn report_colour_only_on_a_terminal_without_no_color() {
        assert!(report_colour(true, &none()));
        assert!(!report_colour(false, &none()));
        assert!(!report_colour(true, &env(&[("NO_COLOR", "1")])));
        assert!(
            report_colour(true, &env(&[("NO_COLOR", "")])),
            "empty NO_COLOR is unset"
        );
    }

    #[test]
    fn the_history_database_reads_the_config_only_without_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let broken = file(&dir, "broken.yaml", "waviers: []\n");
        let missing = dir.path().join("missing.yaml");
        let named = file(
            &dir,
            "config.yaml",
            "daemon:\n  history:\n    path: /config/h.db\n",
        );
        let flag = Path::new("/flag/h.db");
        for config in [&broken, &missing, &named] {
            assert_eq!(
                history_database(Some(flag), Some(config)).unwrap(),
                PathBuf::from("/flag/h.db"),
                "the flag wins without reading {}",
                config.display()
            );
        }
        assert_eq!(
            history_database(None, Some(&named)).unwrap(),
            PathBuf::from("/config/h.db")
        );
        let empty = file(&dir, "empty.yaml", "");
        assert_eq!(
            history_database(None, Some(&empty)).unwrap(),
            PathBuf::from(DEFAULT_HISTORY_PATH)
        );
        let e = history_database(None, Some(&broken))
            .unwrap_err()
            .to_string();
        assert!(e.contains("broken.yaml:1:1"), "located: {e}");
        // A waiver of the operator's own rule (given to check and the daemon with --rules)
        // does not stop the commands that judge no rule; checking does.
        let custom = file(
            &dir,
            "custom.yaml",
            "waivers:\n  - id: acme.backup\n    reason: r\n    expires: 2099-01-31\ndaemon:\n  history:\n    path: /custom/h.db\n",
        );
        assert_eq!(
            history_database(None, Some(&custom)).unwrap(),
            PathBuf::from("/custom/h.db")
        );
        assert!(Config::load(Some(&custom), &rules()).is_err());
        let e = history_database(None, Some(&missing))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("cannot read config") && e.contains("missing.yaml"),
            "{e}"
        );
    }

    #[test]
    fn history_path_flag_then_config_then_default() {
        let cfg = config("daemon:\n  history:\n    path: /config/h.db\n");
        assert_eq!(
            history_path(Some(Path::new("/flag/h.db")), &cfg),
            PathBuf::from("/flag/h.db")
        );
        assert_eq!(history_path(None, &cfg), PathBuf::from("/config/h.db"));
        assert_eq!(
            history_path(None, &Config::default()),
            PathBuf::from(DEFAULT_HISTORY_PATH)
        );
    }

    fn daemon_flags() -> DaemonFlags {
        DaemonFlags {
            env: none(),
            ..DaemonFlags::default()
        }
    }

    #[test]
    fn daemon_listen_flag_then_config_then_default() {
        let cfg = config("daemon:\n  listen: 127.0.0.1:9100\n");
        let flags = DaemonFlags {
            listen: Some("127.0.0.1:9200".into()),
            ..daemon_flags()
        };
        assert_eq!(daemon_settings(&flags, &cfg).unwrap().listen.port(), 9200);
        assert_eq!(
            daemon_settings(&daemon_flags(), &cfg)
                .unwrap()
                .listen
                .port(),
            9100
        );
        let d = daemon_settings(&daemon_flags(), &Config::default()).unwrap();
        assert_eq!(d.listen.to_string(), DEFAULT_LISTEN);
        let bad = DaemonFlags {
            listen: Some("localhost".into()),
            ..daemon_flags()
        };
        let e = daemon_settings(&bad, &cfg).unwrap_err().to_string();
        assert!(e.starts_with("listen address \"localhost\": "), "{e}");
    }

    #[test]
    fn daemon_intervals_flag_for_all_then_per_group_then_base_defaults() {
        let cfg = config("daemon:\n  interval_seconds: 600\n  intervals:\n    database: 30\n");
        let secs = |f: &DaemonFlags, c: &Config, g: Group| {
            daemon_settings(f, c).unwrap().intervals[&g].as_secs()
        };
        let every = DaemonFlags {
            interval: Some(5),
            ..daemon_flags()
        };
        for g in Group::ALL {
            assert_eq!(secs(&every, &cfg, g), 5, "--interval applies to {g:?}");
        }
        let f = daemon_flags();
        assert_eq!(secs(&f, &cfg, Group::Database), 30, "daemon.intervals");
        assert_eq!(
            secs(&f, &cfg, Group::Network),
            600,
            "daemon.interval_seconds"
        );
        assert_eq!(
            secs(&f, &cfg, Group::Base),
            60,
            "cheap facts at most every minute"
        );
        assert_eq!(
            secs(&f, &cfg, Group::StatxProbe),
            3600,
            "probes at least every hour"
        );
        let d = Config::default();
        assert_eq!(secs(&f, &d, Group::Network), DEFAULT_INTERVAL_SECONDS);
        assert_eq!(secs(&f, &d, Group::Client), 60);
        assert_eq!(secs(&f, &d, Group::DiskProbe), 3600);
        let long = DaemonFlags {
            interval: Some(7200),
            ..daemon_flags()
        };
        let base_only = config("daemon:\n  interval_seconds: 7200\n");
        assert_eq!(secs(&f, &base_only, Group::StatxProbe), 7200);
        assert_eq!(secs(&f, &base_only, Group::Base), 60);
        assert_eq!(secs(&long, &d, Group::Base), 7200);
    }

    #[test]
    fn daemon_deadline_retention_history_and_token() {
        let dir = tempfile::tempdir().unwrap();
        let token = file(&dir, "token", "  s3cret-token\n");
        let cfg = config(&format!(
            "daemon:\n  run_deadline_seconds: 60\n  token_file: {}\n  history:\n    path: /config/h.db\n    retention_days: 2\n    max_size: 1MiB\n",
            token.display()
        ));
        let flags = DaemonFlags {
            history: Some("/flag/h.db".into()),
            ..daemon_flags()
        };
        let s = daemon_settings(&flags, &cfg).unwrap();
        assert_eq!(s.run_deadline, Duration::from_secs(60));
        assert_eq!(s.history_path, PathBuf::from("/flag/h.db"));
        assert_eq!(s.retention.max_age, Duration::from_secs(2 * 86_400));
        assert_eq!(s.retention.max_bytes, 1024 * 1024);
        assert_eq!(s.token.as_ref().map(Secret::expose), Some("s3cret-token"));
        let s = daemon_settings(&daemon_flags(), &cfg).unwrap();
        assert_eq!(s.history_path, PathBuf::from("/config/h.db"));
        let s = daemon_settings(&daemon_flags(), &Config::default()).unwrap();
        assert_eq!(
            s.run_deadline,
            Duration::from_secs(DEFAULT_RUN_DEADLINE_SECONDS)
        );
        assert_eq!(s.retention.max_age, Retention::default().max_age);
        assert_eq!(s.retention.max_bytes, Retention::default().max_bytes);
        assert!(s.token.is_none() && s.webhook.is_none());
        let hooked =
            config("daemon:\n  webhook:\n    url: https://hooks.example/wa\n    max_attempts: 3\n");
        let s = daemon_settings(&daemon_flags(), &hooked).unwrap();
        let w = s.webhook.expect("daemon.webhook is carried");
        assert_eq!(
            (w.url.as_str(), w.max_attempts),
            ("https://hooks.example/wa", Some(3))
        );
        let empty = file(&dir, "empty", "\n");
        let bad = config(&format!("daemon:\n  token_file: {}\n", empty.display()));
        let e = daemon_settings(&daemon_flags(), &bad)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("daemon.token_file") && e.contains("is empty"),
            "{e}"
        );
    }

    #[test]
    fn daemon_setup_reads_the_named_files_again_each_time() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = file(
            &dir,
            "config.yaml",
            "profile: development\ndaemon:\n  listen: 127.0.0.1:9300\n",
        );
        let extra = file(
            &dir,
            "site.yaml",
            "rules:\n  - id: site.kernel\n    title: Site kernel\n    fact: host.kernel.release\n    outcomes:\n      - status: pass\n        message: ok\n",
        );
        let flags = DaemonFlags {
            sources: Sources {
                rules: vec![extra.clone()],
                config: Some(cfg.clone()),
            },
            gather: GatherFlags {
                docker_host: Some("unix:///flag.sock".into()),
                ..GatherFlags::default()
            },
            ..daemon_flags()
        };
        let s = daemon_setup(&flags).expect("the files are valid");
        assert_eq!(s.profile, Profile::Development);
        assert!(s.set.contains("site.kernel"));
        assert_eq!(s.settings.listen.port(), 9300);
        assert_eq!(s.gather.docker.host.as_deref(), Some("unix:///flag.sock"));
        // What a SIGHUP sees: the file changed on disk, into something invalid.
        std::fs::write(&cfg, "profile: development\nwaviers: []\n").unwrap();
        let e = daemon_setup(&flags)
            .err()
            .expect("an unknown key is refused")
            .to_string();
        assert!(e.contains("config.yaml:2:"), "located: {e}");
        std::fs::write(&cfg, "profile: production\n").unwrap();
        assert_eq!(daemon_setup(&flags).unwrap().profile, Profile::Production);
        // A missing rules file names itself.
        std::fs::remove_file(&extra).unwrap();
        let e = daemon_setup(&flags)
            .err()
            .expect("a missing rules file")
            .to_string();
        assert!(e.contains("site.yaml"), "{e}");
    }
}
