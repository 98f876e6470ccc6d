//! `preflight bundle`: a redacted support bundle (.tar.gz or .tar.zst) with the report, the
//! facts, host files and logs, or a preview of what it would hold.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use time::OffsetDateTime;

use wa_preflight::bundle::collect::LogRoute;
use wa_preflight::check::build_report;
use wa_preflight::report::exit;
use wa_preflight::rules::Profile;
use wa_preflight::settings;

use super::gather::{facts_and_context, load};
use super::output::{copy_file_to_stdout, emit};
use super::{Failure, GatherArgs, Outcome, RuleFiles, values};

/// `preflight bundle --container-logs`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ContainerLogs {
    Auto,
    Api,
}

#[derive(Debug, Args)]
pub struct BundleArgs {
    /// Where to write the bundle: .tar.gz (gzip) or .tar.zst (zstd), `-` for standard output
    /// (default: wa-preflight-HOST-UTCTIME.tar.gz in the working directory).
    #[arg(short, long, value_name = "FILE", help_heading = "Output")]
    pub output: Option<PathBuf>,
    /// Replace OUTPUT if it exists.
    #[arg(long, help_heading = "Output")]
    pub force: bool,
    /// Write secrets as they are. Only for a bundle that never leaves the host.
    #[arg(long)]
    pub no_redact: bool,
    /// Leave phone numbers as they are (they are redacted by default).
    #[arg(long)]
    pub no_redact_phones: bool,
    /// Leave e-mail addresses as they are (they are redacted by default).
    #[arg(long)]
    pub no_redact_emails: bool,
    /// Container logs since: an age back from now (3h, 90m, 2d), an RFC 3339 time or a Unix
    /// time.
    #[arg(long, default_value = settings::DEFAULT_SINCE, value_name = "WHEN")]
    pub since: String,
    /// Container logs until: the same forms as --since (default: now).
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// How container logs are read: `auto` reads json-file logs from their files when the
    /// engine is on this host and they are readable (else the Engine API); `api` always asks
    /// the Engine API (slower; the same bytes).
    #[arg(long, value_enum, default_value_t = ContainerLogs::Auto)]
    pub container_logs: ContainerLogs,
    /// Largest file kept; larger logs keep their newest part.
    #[arg(long, default_value = settings::DEFAULT_MAX_FILE_SIZE, value_name = "SIZE")]
    pub max_file_size: String,
    /// Largest bundle content.
    #[arg(long, default_value = settings::DEFAULT_MAX_TOTAL_SIZE, value_name = "SIZE")]
    pub max_total_size: String,
    /// Compress with zstd (.tar.zst) instead of gzip; an OUTPUT named .tar.gz contradicts it.
    #[arg(long, help_heading = "Output")]
    pub zstd: bool,
    /// Also include this host file. Repeatable.
    #[arg(long = "include", value_name = "FILE")]
    pub include: Vec<PathBuf>,
    /// List what would be collected and redacted, and write nothing.
    #[arg(long)]
    pub preview: bool,
    /// How --preview prints: text for people, json for scripts.
    #[arg(long, value_enum, default_value_t = PreviewFormat::Text, help_heading = "Output")]
    pub format: PreviewFormat,
    /// Use a saved facts document instead of gathering (JSON, YAML, `-` for standard input,
    /// or a support bundle).
    #[arg(long, value_name = "FILE")]
    pub facts: Option<PathBuf>,
    /// Which rules apply to the report inside: production (default) or development.
    #[arg(long, value_parser = values::profile())]
    pub profile: Option<Profile>,
    #[command(flatten)]
    pub rules: RuleFiles,
    #[command(flatten)]
    pub gather: GatherArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PreviewFormat {
    Text,
    Json,
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

impl BundleArgs {
    /// The flags as the library's settings take them.
    fn flags(&self) -> settings::BundleFlags {
        settings::BundleFlags {
            output: self.output.clone(),
            force: self.force,
            no_redact: self.no_redact,
            no_redact_phones: self.no_redact_phones,
            no_redact_emails: self.no_redact_emails,
            since: self.since.clone(),
            until: self.until.clone(),
            container_logs: match self.container_logs {
                ContainerLogs::Auto => LogRoute::Auto,
                ContainerLogs::Api => LogRoute::Api,
            },
            max_file_size: self.max_file_size.clone(),
            max_total_size: self.max_total_size.clone(),
            zstd: self.zstd,
            include: self.include.clone(),
            preview: self.preview,
        }
    }
}

/// Runs `bundle`; `quiet` hides the spinner and the rights notice.
pub fn run(args: BundleArgs, quiet: bool) -> Outcome {
    use wa_preflight::bundle::{self, BundleError, Created};
    let started_at = OffsetDateTime::now_utc();
    // Bad flags are usage errors before anything is read or gathered.
    let plan = settings::bundle_plan(&args.flags(), started_at)?;
    let (set, config, opts) = load(&args.rules, &args.gather)?;
    let (facts, ctx) = facts_and_context(
        args.facts.as_deref(),
        &opts,
        &config,
        args.profile,
        started_at,
        quiet,
    )?;
    let shown = plan.shown(&facts);
    let report =
        build_report(&facts, &set, &ctx, started_at, 0).context("cannot evaluate the facts")?;
    // For standard output the bundle is written to a private folder first, then copied.
    let spool = if plan.to_stdout() && !plan.preview {
        Some(tempfile::tempdir().context("cannot create a temporary folder")?)
    } else {
        None
    };
    let written_to = match &spool {
        Some(dir) => dir.path().join(plan.file_name(&facts)),
        None => shown.clone(),
    };
    let request =
        settings::bundle_request(&plan, written_to.clone(), &config, &opts, &facts, &report);
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
            p.output = shown.display().to_string();
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
            if plan.to_stdout() {
                copy_file_to_stdout(&written_to)?;
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
            let shown = if plan.to_stdout() {
                "standard output".to_string()
            } else {
                shown.display().to_string()
            };
            eprintln!(
                "preflight: wrote {shown}\n  size:   {} ({size} bytes)\n  sha256: {sha256}\n  {} files, {}{}",
                human_size(size),
                m.files.len(),
                if !plan.redact {
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
