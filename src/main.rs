//! `preflight`: parses the command line and runs the command (`cli`); everything that decides
//! anything lives in the library (`wa_preflight`).

use std::process::ExitCode;

use clap::Parser;

use wa_preflight::report::exit;

mod cli;

use cli::{Cli, Command, Failure, logging};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The daemon logs transitions at info level: one journal line each.
    let verbose = match cli.command {
        Command::Daemon(_) => cli.verbose.max(1),
        _ => cli.verbose,
    };
    logging::init(cli.quiet, verbose);
    let (quiet, verbose) = (cli.quiet, cli.verbose);
    let outcome = match cli.command {
        Command::Check(args) => cli::check::run(args, quiet, verbose),
        Command::Facts(args) => cli::facts::run(args, quiet),
        Command::Rules(args) => cli::rules::run(args),
        Command::Bundle(args) => cli::bundle::run(args, quiet),
        Command::Redact(args) => cli::redact::run(args),
        Command::Explain(args) => cli::explain::run(args),
        Command::Daemon(args) => cli::daemon::run(args),
        Command::History(args) => cli::history::run(args),
        Command::Diff(args) => cli::diff::run(args),
        Command::Completions(args) => cli::completions::run(args),
        Command::Man(args) => cli::man::run(args),
    };
    let code = match outcome {
        Ok(code) => code,
        Err(Failure::Usage(msg)) => {
            logging::print_error(&format!("preflight: {msg}"));
            exit::USAGE
        }
        Err(Failure::Internal(e)) => {
            logging::print_error(&format!("preflight: internal error: {e:#}"));
            exit::INTERNAL
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
