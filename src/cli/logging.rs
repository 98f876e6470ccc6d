//! Logs and errors on standard error: `-q`/`-v` (or `RUST_LOG`) pick the level; under systemd
//! each line carries its journal priority.

use std::io::IsTerminal;

/// Installs the `tracing` subscriber: `quiet` only errors, else warn, info, debug, trace for
/// `verbose` 0, 1, 2, 3+; `RUST_LOG` overrides both.
pub fn init(quiet: bool, verbose: u8) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if wa_preflight::journald::is_journal_stream(std::io::stderr()) {
        // Under systemd: the journal stamps entries itself; `<N>` gives each its priority.
        builder
            .with_ansi(false)
            .event_format(wa_preflight::journald::JournalFormat)
            .init();
    } else {
        builder
            .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
            .init();
    }
}

/// An error on standard error; in the journal with priority 3 (error).
pub fn print_error(line: &str) {
    if wa_preflight::journald::is_journal_stream(std::io::stderr()) {
        eprint!("{}", wa_preflight::journald::prefix_lines(3, line));
    } else {
        eprintln!("{line}");
    }
}
