//! `preflight completions SHELL`: a shell completion script from the clap command tree.

use clap::{Args, CommandFactory};

use wa_preflight::report::exit;

use super::output::emit_with;
use super::{Cli, Outcome};

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Shell completion scripts, for packaging and `source <(preflight completions bash)`.
pub fn run(args: CompletionsArgs) -> Outcome {
    let mut cmd = Cli::command();
    emit_with(|buf| {
        clap_complete::generate(args.shell, &mut cmd, "preflight", buf);
        Ok(())
    })?;
    Ok(exit::OK)
}
