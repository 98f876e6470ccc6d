//! The operator's config file (`/etc/wa-preflight/config.yaml` by default).
//!
//! Unknown keys are errors: a misspelt `waviers:` must not silently waive nothing.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::located::LocatedError;
use crate::rules::{Profile, RuleSet, Waiver};

/// Where the config is read from when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/wa-preflight/config.yaml";

/// Paths whose storage is judged.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Docker's data root (default `/var/lib/docker`).
    pub docker_root: Option<PathBuf>,
    /// The WhatsApp media volume (default `/usr/local/wamedia`).
    pub media: Option<PathBuf>,
    /// More paths to judge, like `--path`.
    #[serde(default)]
    pub paths: Vec<PathBuf>,
}

/// How to reach and read Docker.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerConfig {
    /// Engine endpoint (`unix:///var/run/docker.sock`, `tcp://host:2375`).
    #[serde(default, deserialize_with = "crate::value::url::docker_host")]
    pub host: Option<String>,
    /// daemon.json to read (default `/etc/docker/daemon.json`).
    pub daemon_json: Option<PathBuf>,
    /// More image repositories that are coreapps (mirrored registries), added to
    /// `docker.whatsapp.biz/coreapp`.
    #[serde(default)]
    pub coreapp_images: Vec<String>,
    /// More image repositories that are webapps (mirrored registries), added to
    /// `docker.whatsapp.biz/web`.
    #[serde(default)]
    pub webapp_images: Vec<String>,
    /// Seconds each API step may take.
    #[serde(default, deserialize_with = "crate::bounds::de::timeout")]
    pub timeout_seconds: Option<f64>,
    /// Run the statx container probe (default true).
    pub statx_probe: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    profile: Option<Profile>,
    #[serde(default)]
    waivers: Vec<Spanned<Waiver>>,
    #[serde(default)]
    storage: StorageConfig,
    #[serde(default)]
    docker: DockerConfig,
    database: Option<crate::facts::database::DatabaseConfig>,
    #[serde(default)]
    client: crate::facts::client::ClientConfig,
    #[serde(default)]
    redaction: RedactionConfig,
    #[serde(default)]
    daemon: DaemonConfig,
}

/// Where the daemon keeps its history.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryConfig {
    /// The SQLite file (default `/var/lib/wa-preflight/history.db`).
    pub path: Option<PathBuf>,
    /// Days of runs and transitions to keep (default 30; 1 to 36 500).
    #[serde(default, deserialize_with = "crate::bounds::de::retention_days")]
    pub retention_days: Option<u64>,
    /// Largest size of the database (`64MiB`).
    #[serde(default, deserialize_with = "crate::value::quantity::de_size")]
    pub max_size: Option<String>,
}

/// Where transitions are POSTed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransitionWebhook {
    /// Where each transition is POSTed as JSON (`http://` or `https://`).
    #[serde(deserialize_with = "crate::value::url::http_url_required")]
    pub url: String,
    /// Seconds each POST may take (default 5).
    #[serde(default, deserialize_with = "crate::bounds::de::timeout")]
    pub timeout_seconds: Option<f64>,
    /// Transitions waiting to be sent; more are dropped (and counted).
    #[serde(default, deserialize_with = "crate::bounds::de::webhook_queue")]
    pub max_queue: Option<usize>,
    /// Tries per transition, with doubling backoff from 1 s.
    #[serde(default, deserialize_with = "crate::bounds::de::webhook_attempts")]
    pub max_attempts: Option<u32>,
}

/// `preflight daemon` settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// Address to serve on (default 127.0.0.1:9612).
    pub listen: Option<String>,
    /// Seconds between runs of groups without their own interval (default 300).
    #[serde(default, deserialize_with = "crate::bounds::de::interval")]
    pub interval_seconds: Option<u64>,
    /// Per-group intervals in seconds (`base: 60`, `statx_probe: 3600`, …).
    #[serde(default, deserialize_with = "crate::bounds::de::intervals")]
    pub intervals: std::collections::BTreeMap<crate::facts::Group, u64>,
    /// Seconds a run may take before it is abandoned (default 120).
    #[serde(default, deserialize_with = "crate::bounds::de::run_deadline")]
    pub run_deadline_seconds: Option<u64>,
    /// Where and how much history the daemon keeps.
    #[serde(default)]
    pub history: HistoryConfig,
    /// File holding a bearer token required on every endpoint but /healthz.
    pub token_file: Option<PathBuf>,
    /// Where to POST rule status transitions; none when absent.
    pub webhook: Option<TransitionWebhook>,
}

/// The support bundle's redaction settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionConfig {
    /// Redact phone numbers (default true).
    pub phones: Option<bool>,
    /// Redact e-mail addresses (default true).
    pub emails: Option<bool>,
    /// The operator's own literals and patterns.
    #[serde(default)]
    pub rules: Vec<crate::redact::CustomRule>,
}

/// The loaded config.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Default profile when `--profile` is not given.
    pub profile: Option<Profile>,
    /// Accepted non-pass results, each with a reason and an expiry date; every one names a known
    /// rule.
    pub waivers: Vec<Waiver>,
    /// Which paths' storage is judged.
    pub storage: StorageConfig,
    /// How to reach and read Docker.
    pub docker: DockerConfig,
    /// The client's database, when it is not taken from the running coreapp (the `database:`
    /// section).
    pub database: Option<crate::facts::database::DatabaseConfig>,
    /// How to reach the client's API.
    pub client: crate::facts::client::ClientConfig,
    /// The support bundle's redaction settings.
    pub redaction: RedactionConfig,
    /// `preflight daemon` settings.
    pub daemon: DaemonConfig,
}

/// Why the config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (named, missing, too large, not UTF-8).
    #[error("{0}")]
    Read(crate::input::InputError),
    /// The YAML is malformed, has an unknown key or an out-of-range value, or a waiver names an
    /// unknown rule; located at `file:line:col`.
    #[error("{0}")]
    Invalid(#[from] LocatedError),
}

impl Config {
    /// Loads the config. A missing file is an error only when the operator named it.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Read`] when a file the operator named (or an existing default file) cannot be
    /// read; [`ConfigError::Invalid`] as [`Config::parse`].
    pub fn load(path: Option<&Path>, rules: &RuleSet) -> Result<Config, ConfigError> {
        Config::load_with(path, Some(rules))
    }

    /// Loads the config for a command that judges no rule (`history`, `diff`, `redact`): as
    /// [`Config::load`], but a waiver's rule is not looked up, so a config whose waivers name
    /// rules of the operator's own rule files (given to `check` or the daemon with `--rules`)
    /// still serves these commands.
    ///
    /// # Errors
    ///
    /// As [`Config::load`], except for unknown rules.
    pub fn load_without_rules(path: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_with(path, None)
    }

    fn load_with(path: Option<&Path>, rules: Option<&RuleSet>) -> Result<Config, ConfigError> {
        let (path, explicit) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_CONFIG_PATH), false),
        };
        let text = match crate::input::read_text(&path, "config", crate::input::TEXT_LIMIT) {
            Ok(t) => t,
            Err(e) if e.is_not_found() && !explicit => {
                tracing::debug!("no config at {}", path.display());
                return Ok(Config::default());
            }
            Err(e) => return Err(ConfigError::Read(e)),
        };
        Config::parse_with(&path.display().to_string(), &text, rules)
    }

    /// Parses config text; waivers must name known rules.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`], located at `source_name:line:col`: malformed YAML, an unknown key,
    /// an out-of-range number, or a waiver that names a rule not in `rules`.
    pub fn parse(source_name: &str, text: &str, rules: &RuleSet) -> Result<Config, ConfigError> {
        Config::parse_with(source_name, text, Some(rules))
    }

    /// Parses config text; with `rules`, every waiver must name one of them.
    fn parse_with(
        source_name: &str,
        text: &str,
        rules: Option<&RuleSet>,
    ) -> Result<Config, ConfigError> {
        // An empty file (or one with only comments) is a valid, empty config.
        let raw: RawConfig = if text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            RawConfig::default()
        } else {
            serde_saphyr::from_str(text).map_err(|e| LocatedError::from_yaml(source_name, &e))?
        };
        let mut waivers = Vec::new();
        for w in raw.waivers {
            if rules.is_some_and(|r| !r.contains(&w.value.id)) {
                return Err(LocatedError::at(
                    source_name,
                    &w.referenced,
                    format!(
                        "waiver names unknown rule {:?} (see `preflight rules`)",
                        w.value.id
                    ),
                )
                .into());
            }
            waivers.push(w.value);
        }
        Ok(Config {
            profile: raw.profile,
            waivers,
            storage: raw.storage,
            docker: raw.docker,
            database: raw.database,
            client: raw.client,
            redaction: raw.redaction,
            daemon: raw.daemon,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> RuleSet {
        RuleSet::embedded().unwrap()
    }

    #[test]
    fn parses_waivers() {
        let text = "profile: development\nwaivers:\n  - id: host.cpu\n    reason: test box\n    expires: 2027-01-31\n";
        let c = Config::parse("c.yaml", text, &rules()).unwrap();
        assert_eq!(c.profile, Some(Profile::Development));
        assert_eq!(c.waivers[0].expires, time::macros::date!(2027 - 01 - 31));
        assert!(
            Config::parse("c.yaml", "# nothing yet\n", &rules())
                .unwrap()
                .waivers
                .is_empty()
        );
    }

    #[test]
    fn waivers_are_checked_only_against_a_rule_set() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(
            &path,
            "waivers:\n  - id: acme.backup\n    reason: r\n    expires: 2099-01-31\n  - id: host.cpu\n    reason: r\n    expires: 2099-01-31\n",
        )
        .unwrap();
        let e = Config::load(Some(&path), &rules()).unwrap_err().to_string();
        assert!(
            e.contains("c.yaml:2:") && e.contains("\"acme.backup\""),
            "{e}"
        );
        let c = Config::load_without_rules(Some(&path)).unwrap();
        let ids: Vec<&str> = c.waivers.iter().map(|w| w.id.as_str()).collect();
        assert_eq!(ids, ["acme.backup", "host.cpu"]);
        // Everything else is still checked.
        std::fs::write(&path, "waviers: []\n").unwrap();
        assert!(Config::load_without_rules(Some(&path)).is_err());
    }

    #[test]
    fn located_config_errors() {
        let e = Config::parse(
            "c.yaml",
            "waivers:\n  - id: host.nope\n    reason: r\n    expires: 2027-01-31\n",
            &rules(),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("c.yaml:2:"), "{e}");
        let e = Config::parse(
            "c.yaml",
            "waivers:\n  - id: host.cpu\n    reason: r\n    expires: soon\n",
            &rules(),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("c.yaml:4:"), "{e}");
        let e = Config::parse("c.yaml", "waviers: []\n", &rules()).unwrap_err();
        assert!(e.to_string().starts_with("c.yaml:1:"), "{e}");
        let e = Config::load(Some(Path::new("/nonexistent/c.yaml")), &rules()).unwrap_err();
        assert!(matches!(e, ConfigError::Read(_)));
    }

    /// Numbers that parse but are out of range are located errors, never a panic later.
    #[test]
    fn out_of_range_numbers_are_located() {
        for (text, line) in [
            ("docker:\n  timeout_seconds: 1e300\n", 2),
            ("docker:\n  timeout_seconds: .inf\n", 2),
            ("docker:\n  timeout_seconds: .nan\n", 2),
            ("client:\n  timeout_seconds: 1e19\n", 2),
            ("client:\n  expected_connected: 0\n", 2),
            ("database:\n  host: h\n  samples: 18446744073709551615\n", 3),
            ("daemon:\n  interval_seconds: 18446744073709551615\n", 2),
            ("daemon:\n  intervals:\n    base: 0\n", 3),
            ("daemon:\n  run_deadline_seconds: 99999999999\n", 2),
            (
                "daemon:\n  history:\n    retention_days: 999999999999999\n",
                3,
            ),
            (
                "daemon:\n  history:\n    max_size: 99999999999999999999TiB\n",
                3,
            ),
            (
                "daemon:\n  webhook:\n    url: http://x\n    max_queue: 18446744073709551615\n",
                4,
            ),
            (
                "daemon:\n  webhook:\n    url: http://x\n    max_attempts: 4000000000\n",
                4,
            ),
            (
                "daemon:\n  webhook:\n    url: http://x\n    timeout_seconds: -1\n",
                4,
            ),
        ] {
            let e = Config::parse("c.yaml", text, &rules())
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(&format!("c.yaml:{line}:")) && e.contains("out of range"),
                "{text}: {e}"
            );
        }
        let ok = "docker:\n  timeout_seconds: 2.5\ndaemon:\n  intervals:\n    base: 60\n";
        assert!(Config::parse("c.yaml", ok, &rules()).is_ok());
    }
}
