//! Every integration test of wa-preflight, in one test binary (ripgrep's layout): the library
//! and `preflight` are linked into one executable instead of one per file, so a change to the
//! library relinks once. Each module holds what one file of `tests/` held; `common` is the
//! shared harness (the daemon under test, the fake webapp and fake Docker, the imitation
//! deployments on the test bed's dockerd).
//!
//! All modules run in one process, so the tests of different modules run side by side (they
//! ran one file after another when each file was its own binary). What they share outside the
//! process takes turns through [`common::serial`]; nothing here sets the process's environment
//! or working directory (children get theirs through `Command`).
//!
//! Run one module with `cargo test --test integration MODULE::`, e.g. `fixtures::`.

mod common;

mod bundle;
mod bundle_logs;
mod cli;
mod client_real;
mod daemon;
mod database;
mod db_compose;
mod docker_fake;
mod docker_real;
mod fixtures;
mod formats;
mod hostile;
mod log_signatures;
mod operations;
mod operator_cli;
mod redaction;
mod report_view;
mod trust_store;
