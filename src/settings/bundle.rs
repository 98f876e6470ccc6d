//! `preflight bundle`'s settings: the flags checked and turned into a [`BundlePlan`] before
//! anything is gathered (the log window, the size caps, the compression and where the bundle
//! goes), then, once the facts and the report exist, the [`Request`] the bundle takes, with
//! the config's redaction settings and the secrets this run knows.
//!
//! Precedence and decisions, each tested below:
//! - compression: the output's extension (`.tar.zst`, `.tzst`, `.tar.zstd` → zstd; `.tar.gz`,
//!   `.tgz` → gzip, case-insensitive) > `--zstd` > gzip; `--zstd` with an output named as gzip
//!   is a usage error;
//! - the file: `-o FILE`, `-o -` (standard output), else [`default_bundle_name`] in the working
//!   directory;
//! - the checks run in the order the operator reads them: `--since`, `--until`, `--zstd`
//!   against `-o`, `--max-file-size`, `--max-total-size`, all before the config is read;
//! - personal data: see [`super::personal_data`]; custom redaction rules: the config's;
//! - secrets the leak scan looks for besides the containers': the database password when the
//!   flags, the environment or the config give one (see [`known_secrets`]).

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use super::{SettingsError, personal_data};
use crate::bundle::collect::{LogRoute, Window};
use crate::bundle::{Compression, Limits, Request};
use crate::config::Config;
use crate::facts::{Facts, GatherOptions};
use crate::report::Report;
use crate::secret::Secret;
use crate::value::quantity::parse_size;
use crate::value::time::parse_when;

/// `--since` when not given: container logs of the last three hours.
pub const DEFAULT_SINCE: &str = "3h";
/// `--max-file-size` when not given.
pub const DEFAULT_MAX_FILE_SIZE: &str = "25MiB";
/// `--max-total-size` when not given.
pub const DEFAULT_MAX_TOTAL_SIZE: &str = "200MiB";

/// What the operator gave `preflight bundle`, as text where the command line takes text.
#[derive(Debug, Clone)]
pub struct BundleFlags {
    /// `-o`: a file, `-` for standard output; `None` for [`default_bundle_name`].
    pub output: Option<PathBuf>,
    /// `--force`: replace an existing output.
    pub force: bool,
    /// `--no-redact`.
    pub no_redact: bool,
    /// `--no-redact-phones`.
    pub no_redact_phones: bool,
    /// `--no-redact-emails`.
    pub no_redact_emails: bool,
    /// `--since`: an age back from now (`3h`), an RFC 3339 time or a Unix time.
    pub since: String,
    /// `--until`: the same forms; `None` for now.
    pub until: Option<String>,
    /// `--container-logs`.
    pub container_logs: LogRoute,
    /// `--max-file-size`: a size (`25MiB`).
    pub max_file_size: String,
    /// `--max-total-size`: a size (`200MiB`).
    pub max_total_size: String,
    /// `--zstd`.
    pub zstd: bool,
    /// `--include`, repeatable.
    pub include: Vec<PathBuf>,
    /// `--preview`.
    pub preview: bool,
}

impl Default for BundleFlags {
    /// What a bare `preflight bundle` means.
    fn default() -> Self {
        BundleFlags {
            output: None,
            force: false,
            no_redact: false,
            no_redact_phones: false,
            no_redact_emails: false,
            since: DEFAULT_SINCE.to_string(),
            until: None,
            container_logs: LogRoute::Auto,
            max_file_size: DEFAULT_MAX_FILE_SIZE.to_string(),
            max_total_size: DEFAULT_MAX_TOTAL_SIZE.to_string(),
            zstd: false,
            include: Vec::new(),
            preview: false,
        }
    }
}

/// Where the bundle goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleOutput {
    /// `-o -`: standard output (the bundle is written to a private folder first, then copied).
    Stdout,
    /// `-o FILE`.
    File(PathBuf),
    /// No `-o`: [`default_bundle_name`] in the working directory.
    DefaultName,
}

/// The flags checked: everything [`bundle_request`] needs from them, decided before the
/// facts are gathered.
#[derive(Debug, Clone)]
pub struct BundlePlan {
    /// Where the bundle goes.
    pub output: BundleOutput,
    /// When the run started: the window's "now" and the default name's time stamp.
    pub started_at: OffsetDateTime,
    /// Redact secrets and personal data (off only with `--no-redact`).
    pub redact: bool,
    /// Replace an existing output.
    pub force: bool,
    /// Only list what would be collected.
    pub preview: bool,
    /// The container logs' window, Unix seconds.
    pub window: Window,
    /// How container logs are read.
    pub container_logs: LogRoute,
    /// Size caps (bytes) and the compression.
    pub limits: Limits,
    /// Extra host files.
    pub include: Vec<PathBuf>,
    /// `--no-redact-phones`, `--no-redact-emails`: merged with the config in [`bundle_request`].
    no_redact_phones: bool,
    no_redact_emails: bool,
}

impl BundlePlan {
    /// Whether the bundle goes to standard output.
    pub fn to_stdout(&self) -> bool {
        self.output == BundleOutput::Stdout
    }

    /// [`default_bundle_name`] for the host the facts name (`host` when they name none).
    pub fn file_name(&self, facts: &Facts) -> String {
        default_bundle_name(
            host_name(facts),
            self.started_at,
            self.redact,
            self.limits.compression == Compression::Zstd,
        )
    }

    /// The output as the operator names it: `-`, the `-o` file, or [`Self::file_name`].
    pub fn shown(&self, facts: &Facts) -> PathBuf {
        match &self.output {
            BundleOutput::Stdout => PathBuf::from("-"),
            BundleOutput::File(p) => p.clone(),
            BundleOutput::DefaultName => PathBuf::from(self.file_name(facts)),
        }
    }
}

/// The host name the facts give, or `host`.
fn host_name(facts: &Facts) -> &str {
    facts.host.hostname.as_ref().map_or("host", String::as_str)
}

/// The compression a bundle's file name asks for, if its extension says (case-insensitive):
/// `.tar.zst`, `.tzst`, `.tar.zstd` are zstd; `.tar.gz`, `.tgz` gzip.
pub fn compression_of(path: &Path) -> Option<Compression> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".tar.zst") || name.ends_with(".tzst") || name.ends_with(".tar.zstd") {
        Some(Compression::Zstd)
    } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        Some(Compression::Gzip)
    } else {
        None
    }
}

/// The bundle's compression: the named output's extension, else `--zstd`, else gzip.
///
/// # Errors
/// [`SettingsError::Invalid`] when `--zstd` is given with an output named as gzip.
pub fn bundle_compression(output: Option<&Path>, zstd: bool) -> Result<Compression, SettingsError> {
    let named = output.filter(|p| !crate::output::is_stdout(p));
    match (named.and_then(compression_of), zstd) {
        (Some(Compression::Gzip), true) => Err(SettingsError::Invalid(format!(
            "--zstd contradicts the output name {} (.tar.gz is gzip); name it .tar.zst or drop --zstd",
            named.map(|p| p.display().to_string()).unwrap_or_default()
        ))),
        (Some(c), _) => Ok(c),
        (None, true) => Ok(Compression::Zstd),
        (None, false) => Ok(Compression::Gzip),
    }
}

/// The default bundle name: the bundle's top folder ([`crate::bundle::top_folder`]:
/// `wa-preflight-HOST-YYYYMMDDTHHMMSSZ[-unredacted]`) with `.tar.gz` or `.tar.zst`.
pub fn default_bundle_name(host: &str, at: OffsetDateTime, redacted: bool, zstd: bool) -> String {
    format!(
        "{}.tar.{}",
        crate::bundle::top_folder(host, at, redacted),
        if zstd { "zst" } else { "gz" }
    )
}

/// Checks the flags and decides what they leave open: the window (relative to `now`), the
/// caps, the compression and the output.
///
/// # Errors
/// [`SettingsError::Invalid`] naming the flag, first of: `--since` or `--until` that is not a
/// time, `--zstd` against a gzip output name ([`bundle_compression`]), `--max-file-size` or
/// `--max-total-size` that is not a size.
pub fn bundle_plan(flags: &BundleFlags, now: OffsetDateTime) -> Result<BundlePlan, SettingsError> {
    let when = |flag: &str, t: &str| {
        parse_when(t, now)
            .map(OffsetDateTime::unix_timestamp)
            .map_err(|e| SettingsError::Invalid(format!("{flag}: {e}")))
    };
    let since = when("--since", &flags.since)?;
    let until = flags
        .until
        .as_deref()
        .map(|t| when("--until", t))
        .transpose()?;
    let compression = bundle_compression(flags.output.as_deref(), flags.zstd)?;
    let size = |flag: &str, t: &str| {
        parse_size(t).map_err(|e| SettingsError::Invalid(format!("{flag}: {e}")))
    };
    let limits = Limits {
        max_file: size("--max-file-size", &flags.max_file_size)?,
        max_total: size("--max-total-size", &flags.max_total_size)?,
        compression,
        ..Limits::default()
    };
    let output = match &flags.output {
        Some(p) if crate::output::is_stdout(p) => BundleOutput::Stdout,
        Some(p) => BundleOutput::File(p.clone()),
        None => BundleOutput::DefaultName,
    };
    Ok(BundlePlan {
        output,
        started_at: now,
        redact: !flags.no_redact,
        force: flags.force,
        preview: flags.preview,
        window: Window {
            since: Some(since),
            until,
        },
        container_logs: flags.container_logs,
        limits,
        include: flags.include.clone(),
        no_redact_phones: flags.no_redact_phones,
        no_redact_emails: flags.no_redact_emails,
    })
}

/// The secrets this run knows besides the containers' (which the bundle reads itself), as
/// (kind, value) for the redaction and the leak scan: the database password, when the flags,
/// the environment (`WA_DB_PASSWORD`) or the config name a database and give a password.
/// Settings that do not resolve give none here (the database fact reports them).
pub fn known_secrets(opts: &GatherOptions) -> Vec<(String, Secret)> {
    let db = &opts.database;
    match crate::facts::database::settings::resolve(&db.flags, db.config.as_ref(), None) {
        Ok(Some(target)) => target
            .password
            .map(|p| vec![("password".to_string(), p)])
            .unwrap_or_default(),
        Ok(None) | Err(_) => Vec::new(),
    }
}

/// What [`crate::bundle::create`] takes: the plan, written to `output` (the `-o` file, or a
/// private file when the bundle goes to standard output), with the config's redaction
/// settings, the Docker endpoint and the secrets of `opts` ([`known_secrets`]).
pub fn bundle_request<'a>(
    plan: &BundlePlan,
    output: PathBuf,
    config: &Config,
    opts: &GatherOptions,
    facts: &'a Facts,
    report: &'a Report,
) -> Request<'a> {
    Request {
        output,
        force: plan.force,
        redact: plan.redact,
        personal: personal_data(plan.no_redact_phones, plan.no_redact_emails, config),
        window: plan.window,
        container_logs: plan.container_logs,
        limits: plan.limits.clone(),
        include: plan.include.clone(),
        custom: config.redaction.rules.clone(),
        secrets: known_secrets(opts),
        docker: opts.docker.clone(),
        facts,
        report,
        preview: plan.preview,
        started_at: plan.started_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::database::DbFlags;
    use crate::redact::PersonalData;
    use crate::settings::{Environment, GatherFlags, gather_options};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-01 09:30:05 UTC);

    fn plan(flags: BundleFlags) -> Result<BundlePlan, String> {
        bundle_plan(&flags, NOW).map_err(|e| e.to_string())
    }

    fn out(o: &str) -> BundleFlags {
        BundleFlags {
            output: Some(o.into()),
            ..BundleFlags::default()
        }
    }

    fn zstd(o: Option<&str>) -> BundleFlags {
        BundleFlags {
            output: o.map(PathBuf::from),
            zstd: true,
            ..BundleFlags::default()
        }
    }

    fn facts(hostname: Option<&str>) -> Facts {
        let mut f = crate::facts::saved::parse(
            "centos7",
            include_str!("../../fixtures/centos7/facts.json"),
        )
        .expect("the fixture loads");
        f.host.hostname = match hostname {
            Some(h) => crate::facts::Fact::Available(h.to_string()),
            None => crate::facts::Fact::Unavailable("test".to_string()),
        };
        f
    }

    #[test]
    fn the_extension_wins_over_zstd_and_contradicting_it_is_refused() {
        let c = |f: BundleFlags| plan(f).map(|p| p.limits.compression);
        assert_eq!(c(BundleFlags::default()), Ok(Compression::Gzip));
        assert_eq!(c(zstd(None)), Ok(Compression::Zstd));
        assert_eq!(
            c(out("b.tar.zst")),
            Ok(Compression::Zstd),
            "no --zstd needed"
        );
        assert_eq!(c(out("B.TZST")), Ok(Compression::Zstd));
        assert_eq!(c(out("b.tar.zstd")), Ok(Compression::Zstd));
        assert_eq!(c(zstd(Some("b.tar.zst"))), Ok(Compression::Zstd));
        assert_eq!(c(out("b.tgz")), Ok(Compression::Gzip));
        assert_eq!(c(out("plain.bin")), Ok(Compression::Gzip));
        assert_eq!(c(zstd(Some("plain.bin"))), Ok(Compression::Zstd));
        assert_eq!(
            c(zstd(Some("-"))),
            Ok(Compression::Zstd),
            "stdout has no name"
        );
        for gz in ["b.tar.gz", "dir/X.TGZ"] {
            assert_eq!(
                c(zstd(Some(gz))),
                Err(format!(
                    "--zstd contradicts the output name {gz} (.tar.gz is gzip); name it .tar.zst or drop --zstd"
                ))
            );
        }
    }

    #[test]
    fn the_output_is_the_file_stdout_or_the_default_name() {
        let f = facts(Some("wa host/1"));
        let p = plan(out("-")).unwrap();
        assert!(p.to_stdout());
        assert_eq!(p.shown(&f), PathBuf::from("-"));
        let p = plan(out("x/b.tar.gz")).unwrap();
        assert!(!p.to_stdout());
        assert_eq!(p.shown(&f), PathBuf::from("x/b.tar.gz"));
        let p = plan(BundleFlags::default()).unwrap();
        assert_eq!(p.output, BundleOutput::DefaultName);
        assert_eq!(
            p.shown(&f),
            PathBuf::from("wa-preflight-wa_host_1-20261201T093005Z.tar.gz")
        );
        let p = plan(BundleFlags {
            no_redact: true,
            ..zstd(None)
        })
        .unwrap();
        assert_eq!(
            p.file_name(&facts(None)),
            "wa-preflight-host-20261201T093005Z-unredacted.tar.zst"
        );
        // Standard output still has a file name: the private file it is written to first.
        let p = plan(zstd(Some("-"))).unwrap();
        assert_eq!(
            p.file_name(&f),
            "wa-preflight-wa_host_1-20261201T093005Z.tar.zst"
        );
    }

    #[test]
    fn the_default_name_keeps_only_safe_characters() {
        assert_eq!(
            default_bundle_name("wa-01.example_x", NOW, true, false),
            "wa-preflight-wa-01.example_x-20261201T093005Z.tar.gz"
        );
        assert_eq!(
            default_bundle_name("../é h", NOW, false, true),
            "wa-preflight-..___h-20261201T093005Z-unredacted.tar.zst"
        );
    }

    #[test]
    fn the_window_and_caps_are_parsed_with_defaults() {
        let p = plan(BundleFlags::default()).unwrap();
        let now = NOW.unix_timestamp();
        assert_eq!(
            (p.window.since, p.window.until),
            (Some(now - 3 * 3600), None)
        );
        assert_eq!(
            (p.limits.max_file, p.limits.max_total),
            (25 << 20, 200 << 20)
        );
        assert_eq!(p.limits.max_line, Limits::default().max_line);
        let p = plan(BundleFlags {
            since: "2026-11-30T00:00:00Z".into(),
            until: Some("90m".into()),
            max_file_size: "1MB".into(),
            max_total_size: "2KiB".into(),
            ..BundleFlags::default()
        })
        .unwrap();
        assert_eq!(p.window.since, Some(1_795_996_800));
        assert_eq!(p.window.until, Some(now - 90 * 60));
        assert_eq!((p.limits.max_file, p.limits.max_total), (1_000_000, 2048));
    }

    #[test]
    fn bad_flags_are_named_in_the_order_the_command_line_reads_them() {
        let bad = BundleFlags {
            since: "bogus".into(),
            until: Some("bogus".into()),
            max_file_size: "12Q".into(),
            max_total_size: "lots".into(),
            ..zstd(Some("b.tar.gz"))
        };
        let e = plan(bad.clone()).unwrap_err();
        assert!(e.starts_with("--since: \"bogus\""), "{e}");
        let bad = BundleFlags {
            since: "1h".into(),
            ..bad
        };
        let e = plan(bad.clone()).unwrap_err();
        assert!(e.starts_with("--until: \"bogus\""), "{e}");
        let bad = BundleFlags { until: None, ..bad };
        let e = plan(bad.clone()).unwrap_err();
        assert!(e.starts_with("--zstd contradicts"), "{e}");
        let bad = BundleFlags { zstd: false, ..bad };
        let e = plan(bad.clone()).unwrap_err();
        assert!(e.starts_with("--max-file-size: \"12Q\""), "{e}");
        let bad = BundleFlags {
            max_file_size: "1MiB".into(),
            ..bad
        };
        let e = plan(bad).unwrap_err();
        assert!(e.starts_with("--max-total-size: \"lots\""), "{e}");
    }

    fn options(flags: &GatherFlags, env: &Environment, config: &Config) -> GatherOptions {
        let rules = crate::rules::RuleSet::embedded().expect("the embedded rules load");
        gather_options(flags, env, config, &rules)
    }

    fn exposed(secrets: &[(String, Secret)]) -> Vec<(&str, &str)> {
        secrets
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose()))
            .collect()
    }

    #[test]
    fn the_database_password_is_a_known_secret_when_the_run_knows_it() {
        let none = Environment::from_vars(Vec::<(String, String)>::new());
        let pw = Environment::from_vars([("WA_DB_PASSWORD", "env-secret")]);
        let host = GatherFlags {
            database: DbFlags {
                host: Some("db".into()),
                user: Some("wa".into()),
                engine: Some("mysql".into()),
                ..DbFlags::default()
            },
            ..GatherFlags::default()
        };
        let cfg = Config::default();
        // No database named: nothing, whatever the environment holds.
        let s = known_secrets(&options(&GatherFlags::default(), &pw, &cfg));
        assert!(s.is_empty());
        // Named, the password from the environment.
        let s = known_secrets(&options(&host, &pw, &cfg));
        assert_eq!(exposed(&s), [("password", "env-secret")]);
        // Named without a password: nothing to look for.
        assert!(known_secrets(&options(&host, &none, &cfg)).is_empty());
        // The URL's own password wins, as for the connection.
        let url = GatherFlags {
            database: DbFlags {
                url: Some("mysql://wa:in-url@db".into()),
                ..DbFlags::default()
            },
            ..GatherFlags::default()
        };
        let s = known_secrets(&options(&url, &pw, &cfg));
        assert_eq!(exposed(&s), [("password", "in-url")]);
        // Settings that do not resolve are the database fact's to report, not the bundle's.
        let broken = GatherFlags {
            database: DbFlags {
                url: Some("redis://db".into()),
                ..DbFlags::default()
            },
            ..GatherFlags::default()
        };
        assert!(known_secrets(&options(&broken, &pw, &cfg)).is_empty());
        // The config's database with the environment's password.
        let rules = crate::rules::RuleSet::embedded().unwrap();
        let cfg = Config::parse(
            "config.yaml",
            "database:\n  engine: postgres\n  host: db\n  user: wa\n",
            &rules,
        )
        .unwrap();
        let s = known_secrets(&options(&GatherFlags::default(), &pw, &cfg));
        assert_eq!(exposed(&s), [("password", "env-secret")]);
    }

    #[test]
    fn the_request_carries_the_plan_the_config_and_the_secrets() {
        let rules = crate::rules::RuleSet::embedded().unwrap();
        let cfg = Config::parse(
            "config.yaml",
            "redaction:\n  emails: false\n  rules:\n    - name: ticket\n      regex: 'T-[0-9]+'\n",
            &rules,
        )
        .unwrap();
        let pw = Environment::from_vars([("WA_DB_PASSWORD", "env-secret")]);
        let gather = GatherFlags {
            docker_host: Some("unix:///flag.sock".into()),
            database: DbFlags {
                url: Some("mysql://wa@db".into()),
                ..DbFlags::default()
            },
            ..GatherFlags::default()
        };
        let opts = options(&gather, &pw, &cfg);
        let f = facts(Some("h"));
        // An empty report: the request only carries it.
        let report = Report {
            schema_version: crate::report::REPORT_SCHEMA_VERSION,
            tool: crate::facts::ToolInfo::current(),
            host: crate::report::HostInfo {
                hostname: Some("h".into()),
                kernel: None,
                os: None,
            },
            profile: crate::rules::Profile::Production,
            started_at: NOW,
            duration_ms: 0,
            summary: crate::report::Summary::of(&[]),
            results: Vec::new(),
        };
        let p = plan(BundleFlags {
            force: true,
            preview: true,
            no_redact_phones: true,
            container_logs: LogRoute::Api,
            include: vec!["/etc/hosts".into()],
            ..out("b.tar.zst")
        })
        .unwrap();
        let r = bundle_request(&p, "/tmp/b.tar.zst".into(), &cfg, &opts, &f, &report);
        assert_eq!(r.output, PathBuf::from("/tmp/b.tar.zst"));
        assert!(r.force && r.preview && r.redact);
        assert_eq!(
            r.personal,
            PersonalData {
                phones: false,
                emails: false
            },
            "the flag for phones, the config for e-mails"
        );
        assert_eq!(r.container_logs, LogRoute::Api);
        assert_eq!(r.limits.compression, Compression::Zstd);
        assert_eq!(r.include, [PathBuf::from("/etc/hosts")]);
        assert_eq!(r.custom.len(), 1);
        assert_eq!(exposed(&r.secrets), [("password", "env-secret")]);
        assert_eq!(r.docker.host.as_deref(), Some("unix:///flag.sock"));
        assert_eq!(r.window.since, Some(NOW.unix_timestamp() - 3 * 3600));
        assert!(std::ptr::eq(r.facts, &f) && std::ptr::eq(r.report, &report));
        // The top folder is stamped with the time the default file name is.
        assert_eq!(r.started_at, p.started_at);
        assert_eq!(
            format!(
                "{}.tar.zst",
                crate::bundle::top_folder("h", r.started_at, r.redact)
            ),
            p.file_name(&f)
        );
    }
}
