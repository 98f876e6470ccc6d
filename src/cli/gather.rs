//! What the gathering commands share: loading rules and config through the library's
//! settings, the async runtime, gathering with a spinner on a terminal, and the facts to judge
//! (gathered now, or a saved document or bundle).

use std::io::IsTerminal;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use time::OffsetDateTime;

use wa_preflight::config::Config;
use wa_preflight::facts::{self, Facts, GatherOptions, NoProgress, Progress};
use wa_preflight::rules::eval::EvalContext;
use wa_preflight::rules::{Profile, RuleSet};
use wa_preflight::settings::{self, Environment};

use super::{Failure, GatherArgs, RuleFiles};

/// The embedded rules with the `--rules` files merged over them.
pub fn load_rules(files: &RuleFiles) -> Result<RuleSet, Failure> {
    Ok(settings::load_rules(&files.files)?)
}

/// The rules, the config and what to gather, as every gathering command builds them.
pub fn load(
    rules: &RuleFiles,
    gather: &GatherArgs,
) -> Result<(RuleSet, Config, GatherOptions), Failure> {
    Ok(settings::load(
        &gather.sources(rules),
        &gather.flags(),
        &Environment::process(),
    )?)
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
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?)
}

/// Gathers the facts of this host, with a spinner on a terminal unless `quiet`.
pub fn gather_facts(opts: &GatherOptions, quiet: bool) -> Result<Facts, Failure> {
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

/// Says once, before gathering, when this run lacks the rights the checks need (not root,
/// no access to the Docker socket), instead of leaving it to a scatter of permission errors.
pub fn warn_about_rights(opts: &GatherOptions, quiet: bool) {
    let endpoint = wa_preflight::facts::docker::engine::endpoint(opts.docker.host.as_deref());
    if !quiet
        && let Some(notice) = wa_preflight::rights::Rights::of_this_process(&endpoint).notice()
    {
        eprintln!("preflight: notice: {notice}");
    }
}

/// The facts (a saved document, or gathered now) and how to judge them.
pub fn facts_and_context<'a>(
    saved: Option<&Path>,
    opts: &GatherOptions,
    config: &'a Config,
    profile: Option<Profile>,
    started_at: OffsetDateTime,
    quiet: bool,
) -> Result<(Facts, EvalContext<'a>), Failure> {
    let facts = match saved {
        Some(path) => facts::saved::load_to_judge(path, &opts.logs)
            .map_err(|e| Failure::Usage(e.to_string()))?,
        None => {
            warn_about_rights(opts, quiet);
            gather_facts(opts, quiet)?
        }
    };
    let ctx = settings::eval_context(profile, config, started_at.date());
    Ok((facts, ctx))
}
