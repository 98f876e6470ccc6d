//! `preflight bundle`: what an operator attaches to a support ticket.
//!
//! Collect (concurrently, each collector under a deadline, failures recorded) → read every
//! file once to learn the secrets it reveals → redact, cap and hash each file while streaming
//! it into a `.tar.gz` written to a temp file → leak-scan the finished archive for every
//! secret the run knows, in every form redaction replaces → rename into place (mode 0600). A
//! leak stops the bundle from being written at all.
//!
//! The pieces, one file each: `collect` (the collectors and their spool), `archive` (the
//! compressed tar, written and read), `manifest` (`manifest.json`), `writer` (redact, cap,
//! hash, write), `leak_scan` (the archive read back for known secrets) and `redact_existing`
//! (`preflight redact`). This file holds the entry point [`create`], what it takes and gives,
//! and the error every step returns.

pub mod collect;

mod archive;
mod leak_scan;
mod manifest;
mod redact_existing;
mod writer;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use archive::{Compression, open_archive};
pub use leak_scan::leak_scan;
pub use manifest::{MANIFEST_SCHEMA_VERSION, Manifest, ManifestFile, Truncation};
pub use redact_existing::{REDACT_INPUT_CAP, redact_existing};
pub use writer::{Limits, write};

use crate::redact::{PersonalData, Redactor};
use collect::CollectorOutcome;

/// Why a bundle was not written.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The output exists and `--force` was not given; holds the output's path.
    #[error("{0} exists; use --force to replace it")]
    Exists(String),
    /// The finished archive still holds a known secret; nothing was written.
    #[error("leak scan: a known secret ({kind}) is still in {path}; the bundle was not written")]
    Leak {
        /// The secret's kind and the form it was found in (`password, percent-encoded`).
        kind: String,
        /// The archive entry (or output file) holding it.
        path: String,
    },
    /// Anything else that stopped the bundle (I/O, a custom rule, the writer task), in words.
    #[error("{0}")]
    Io(String),
}

/// Maps an I/O error to [`BundleError::Io`], prefixed with what was being done.
fn io_err(what: &str) -> impl Fn(std::io::Error) -> BundleError + '_ {
    move |e| BundleError::Io(format!("{what}: {e}"))
}

/// Deadline of each collector (60 s); one that overruns is recorded as failed.
pub const COLLECTOR_DEADLINE: Duration = Duration::from_secs(60);

/// Everything [`create`] needs.
pub struct Request<'a> {
    /// Where the bundle is written (`--output`); its name's suffix chose `limits.compression`.
    pub output: PathBuf,
    /// Replace an existing `output` (`--force`).
    pub force: bool,
    /// Redact (on unless the operator said `--no-redact`).
    pub redact: bool,
    /// Personal data redacted besides secrets.
    pub personal: PersonalData,
    /// The time window of container logs (`--since`, `--until`).
    pub window: collect::Window,
    /// How container logs are read (`--container-logs`).
    pub container_logs: collect::LogRoute,
    /// Size caps and compression.
    pub limits: Limits,
    /// Extra host files to include (`--include`).
    pub include: Vec<PathBuf>,
    /// The operator's own redaction rules (config `redaction.rules`).
    pub custom: Vec<crate::redact::CustomRule>,
    /// Secrets the run knows besides the containers' (the database password), as (kind,
    /// value); exposed only to the redaction and the leak scan.
    pub secrets: Vec<(String, crate::secret::Secret)>,
    /// How to reach the Docker Engine (the containers' logs and inspect, `daemon.json`).
    pub docker: crate::facts::docker::DockerOptions,
    /// The run's facts: written as `facts.json`, and they name the containers to collect.
    pub facts: &'a crate::facts::Facts,
    /// The run's report: written as `report.json` and `report.md`.
    pub report: &'a crate::report::Report,
    /// Only list what would be collected.
    pub preview: bool,
    /// When the command started (UTC): the stamp of the top folder, as of the default file
    /// name ([`top_folder`]), so the two agree.
    pub started_at: time::OffsetDateTime,
}

/// The bundle's top folder, and the default file name's stem:
/// `wa-preflight-HOST-YYYYMMDDTHHMMSSZ` (UTC), with `-unredacted` when it is not redacted (it
/// says so in its own folder, whatever the file is called); every character of `host` but
/// ASCII letters, digits, `.`, `-` and `_` becomes `_`.
pub fn top_folder(host: &str, at: time::OffsetDateTime, redacted: bool) -> String {
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
        "wa-preflight-{host}-{stamp}{}",
        if redacted { "" } else { "-unredacted" }
    )
}

/// What a preview shows.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    /// Where the bundle would be written.
    pub output: String,
    /// The collectors that would run (`report`, `host`, `docker`, `container NAME`, …).
    pub collectors: Vec<String>,
    /// The containers whose logs and inspect would be collected.
    pub containers: Vec<String>,
    /// The `--include` files.
    pub included_files: Vec<String>,
    /// Whether the files would be redacted.
    pub redaction: bool,
    /// The redaction rules that would apply, by name.
    pub redaction_rules: Vec<String>,
    /// How many secret values the leak scan would look for.
    pub known_secrets: usize,
    /// The caps, in bytes: `max_file_bytes`, `max_total_bytes`.
    pub limits: BTreeMap<String, u64>,
}

/// The outcome of [`create`].
pub enum Created {
    /// The bundle was written; its manifest.
    Written(Manifest),
    /// `--preview`: nothing was collected or written.
    Previewed(Preview),
}

/// Collects, redacts and writes a bundle (or previews it): the collectors run side by side,
/// each under [`COLLECTOR_DEADLINE`], and [`write()`] runs on a blocking thread.
///
/// # Errors
///
/// [`BundleError::Exists`] when the output exists without `force` (checked before collecting,
/// except for a preview); [`BundleError::Io`] when a custom redaction rule is invalid, the
/// spool cannot be created or the writer fails; [`BundleError::Leak`] when the archive still
/// holds a known secret (nothing is written).
pub async fn create(req: Request<'_>) -> Result<Created, BundleError> {
    if crate::output::would_replace(&req.output) && !req.force && !req.preview {
        return Err(BundleError::Exists(req.output.display().to_string()));
    }
    let host = req
        .facts
        .host
        .hostname
        .as_ref()
        .cloned()
        .unwrap_or_else(|| "host".into());
    let top = top_folder(&host, req.started_at, req.redact);
    use collect::ContainerKind;
    let mut containers: Vec<(String, ContainerKind)> = req
        .facts
        .wa_containers()
        .iter()
        .map(|c| {
            let kind = match c.role {
                crate::facts::docker::containers::Role::Coreapp => ContainerKind::Coreapp,
                crate::facts::docker::containers::Role::Webapp => ContainerKind::Webapp,
            };
            (c.name.clone(), kind)
        })
        .collect();
    let (docker, endpoint) = match crate::facts::docker::connect(&req.docker).await {
        Ok(c) => (Some(c.docker), c.endpoint),
        Err(_) => (None, String::new()),
    };
    // A database container beside the client, if one runs.
    if let Some(d) = &docker
        && let Ok(list) = d
            .list_containers(Some(
                bollard::query_parameters::ListContainersOptionsBuilder::default().build(),
            ))
            .await
    {
        for c in list {
            let name = c
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| n.trim_start_matches('/').to_string());
            if let (Some(name), Some(image)) = (name, c.image.as_deref())
                && collect::is_database_image(image)
                && !containers.iter().any(|(n, _)| *n == name)
            {
                containers.push((name, ContainerKind::Database));
            }
        }
    }
    // Every secret value the containers hold: the leak scan must not find any of them.
    let mut secrets: Vec<(String, String)> = req
        .secrets
        .iter()
        .map(|(kind, v)| (kind.clone(), v.expose().to_string()))
        .collect();
    if let Some(d) = &docker {
        for (name, _) in &containers {
            if let Ok(inspect) = d.inspect_container(name, None).await {
                for kv in inspect.config.and_then(|c| c.env).unwrap_or_default() {
                    if let Some((k, v)) = kv.split_once('=')
                        && crate::secret::is_secret_name(k)
                        && v.len() >= 4
                        && !matches!(
                            v.to_ascii_lowercase().as_str(),
                            "true" | "false" | "yes" | "none" | "null" | "enabled" | "disabled"
                        )
                    {
                        let kind =
                            crate::secret::names::secret_kind(k.as_bytes()).unwrap_or("secret");
                        secrets.push((kind.to_string(), v.to_string()));
                    }
                }
            }
        }
    }
    let redactor = if req.redact {
        Some(
            Redactor::new(req.personal, &secrets, &req.custom)
                .map_err(|e| BundleError::Io(e.to_string()))?,
        )
    } else {
        None
    };
    if req.preview {
        let mut collectors = vec!["report".to_string(), "host".to_string()];
        if docker.is_some() {
            collectors.push("docker".to_string());
        }
        collectors.extend(containers.iter().map(|(n, _)| format!("container {n}")));
        collectors.push("database".to_string());
        let rules = redactor
            .as_ref()
            .map(Redactor::rule_names)
            .unwrap_or_default();
        return Ok(Created::Previewed(Preview {
            output: req.output.display().to_string(),
            collectors,
            containers: containers.iter().map(|(n, _)| n.clone()).collect(),
            included_files: req
                .include
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            redaction: req.redact,
            redaction_rules: rules,
            known_secrets: secrets.len(),
            limits: BTreeMap::from([
                ("max_file_bytes".to_string(), req.limits.max_file),
                ("max_total_bytes".to_string(), req.limits.max_total),
            ]),
        }));
    }

    let spool = collect::Spool::new().map_err(io_err("cannot create the spool folder"))?;
    let max = req.limits.max_file;
    let d = COLLECTOR_DEADLINE;
    let report_json =
        serde_json::to_vec_pretty(req.report).map_err(|e| BundleError::Io(e.to_string()))?;
    let report_md = crate::report::render(
        req.report,
        crate::report::Format::Markdown,
        &crate::report::table::Layout::plain(),
    )
    .map_err(|e| BundleError::Io(e.to_string()))?;
    let facts_json =
        serde_json::to_vec_pretty(req.facts).map_err(|e| BundleError::Io(e.to_string()))?;
    let db_json = serde_json::to_vec_pretty(&req.facts.database)
        .map_err(|e| BundleError::Io(e.to_string()))?;
    let spool_ref = &spool;
    let report = collect::run("report", d, async {
        let io = |e: std::io::Error| e.to_string();
        Ok(vec![
            spool_ref
                .bytes("report.json", "check", &report_json)
                .map_err(io)?,
            spool_ref
                .bytes("report.md", "check", report_md.as_bytes())
                .map_err(io)?,
            spool_ref
                .bytes("facts.json", "facts", &facts_json)
                .map_err(io)?,
            spool_ref
                .bytes("db/database.json", "database", &db_json)
                .map_err(io)?,
        ])
    });
    let since = req.window.since;
    let host_files = collect::run(
        "host",
        d,
        collect::host(spool_ref, max, Duration::from_secs(10), since),
    );
    let include = collect::run("include", d, async {
        let mut files = Vec::new();
        let mut errors = Vec::new();
        for p in &req.include {
            let name = format!(
                "include/{}",
                p.display()
                    .to_string()
                    .trim_start_matches('/')
                    .replace('/', "_")
            );
            match spool_ref.host_file(&name, "include", p, max) {
                Ok(f) => files.push(f),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(files)
        } else if files.is_empty() {
            Err(errors.join("; "))
        } else {
            files.push(
                spool_ref
                    .bytes(
                        "include/errors.txt",
                        "include",
                        errors.join("\n").as_bytes(),
                    )
                    .map_err(|e| e.to_string())?,
            );
            Ok(files)
        }
    });
    let engine = async {
        match &docker {
            Some(dk) => Some(
                collect::run(
                    "docker",
                    d,
                    collect::docker_engine(spool_ref, dk, &req.docker.daemon_json, max),
                )
                .await,
            ),
            None => None,
        }
    };
    let collector_names: Vec<String> = containers
        .iter()
        .map(|(n, _)| format!("container {n}"))
        .collect();
    let per_container = async {
        let mut all = Vec::new();
        if let Some(dk) = &docker {
            let futs = containers
                .iter()
                .zip(&collector_names)
                .map(|((name, kind), label)| {
                    collect::run(
                        label,
                        d,
                        collect::container(
                            spool_ref,
                            dk,
                            name,
                            *kind,
                            req.window,
                            max,
                            collect::LogAccess {
                                route: req.container_logs,
                                endpoint: &endpoint,
                            },
                        ),
                    )
                });
            all = futures_util::future::join_all(futs).await;
        }
        all
    };
    let (report, host_files, include, engine, per_container) =
        tokio::join!(report, host_files, include, engine, per_container);
    let mut spooled = Vec::new();
    let mut outcomes = Vec::new();
    for (files, outcome) in [report, host_files]
        .into_iter()
        .chain(engine)
        .chain(per_container)
    {
        spooled.extend(files);
        outcomes.push(outcome);
    }
    if !req.include.is_empty() {
        spooled.extend(include.0);
        outcomes.push(include.1);
    }
    if docker.is_none() && !containers.is_empty() {
        outcomes.push(CollectorOutcome {
            name: "docker".into(),
            status: "failed".into(),
            error: Some(
                "the Docker Engine cannot be reached; container logs were not collected".into(),
            ),
            files: 0,
            duration_ms: 0,
        });
    }
    let output = req.output.clone();
    let force = req.force;
    let limits = req.limits.clone();
    let manifest = tokio::task::spawn_blocking(move || {
        write(&output, force, &top, spooled, outcomes, redactor, &limits)
    })
    .await
    .map_err(|e| BundleError::Io(format!("the writer crashed: {e}")))??;
    drop(spool);
    Ok(Created::Written(manifest))
}
