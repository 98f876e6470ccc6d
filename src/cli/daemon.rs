//! `preflight daemon`: flags only; the daemon is `wa_preflight::daemon`, and it builds its
//! setup (again on SIGHUP) with `wa_preflight::settings::daemon_setup` from these flags.

use std::path::PathBuf;

use clap::Args;

use wa_preflight::report::exit;
use wa_preflight::rules::Profile;
use wa_preflight::settings::{self, DaemonFlags, Environment};

use super::gather::runtime;
use super::{Failure, GatherArgs, Outcome, RuleFiles, values};

#[derive(Debug, Clone, Args)]
pub struct DaemonArgs {
    /// Address to serve HTTP on (default 127.0.0.1:9612, or daemon.listen).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Seconds between runs for groups without their own interval (default 300; 1 to 31536000).
    #[arg(long, value_name = "SECONDS", value_parser = wa_preflight::bounds::interval_flag)]
    pub interval: Option<u64>,
    /// History database (default /var/lib/wa-preflight/history.db, or daemon.history.path).
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
    /// Which rules apply: production (default) or development.
    #[arg(long, value_parser = values::profile())]
    pub profile: Option<Profile>,
    #[command(flatten)]
    pub rules: RuleFiles,
    #[command(flatten)]
    pub gather: GatherArgs,
}

impl DaemonArgs {
    /// The flags as the library's settings take them (kept for every SIGHUP reload).
    pub fn flags(&self) -> DaemonFlags {
        DaemonFlags {
            listen: self.listen.clone(),
            interval: self.interval,
            history: self.history.clone(),
            profile: self.profile,
            sources: self.gather.sources(&self.rules),
            gather: self.gather.flags(),
            env: Environment::process(),
        }
    }
}

pub fn run(args: DaemonArgs) -> Outcome {
    // Load before starting anything, so a bad config exits 2 with the reason.
    let flags = args.flags();
    let setup = settings::daemon_setup(&flags)?;
    let rt = runtime()?;
    let r = rt.block_on(wa_preflight::daemon::serve(setup, flags));
    // Gatherers abandoned at their deadline may sit in syscalls: do not wait for them.
    rt.shutdown_background();
    match r {
        Ok(()) => Ok(exit::OK),
        Err(e) => Err(Failure::Usage(e)),
    }
}
