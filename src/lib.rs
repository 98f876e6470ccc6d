//! wa-preflight: preflight checks and diagnostics for hosts running the WhatsApp Business API
//! On-Premises client.
//!
//! One pipeline: gather [`facts`] → evaluate [`rules`] → render a [`report`], and around it the
//! [`bundle`] for support and the [`daemon`] that runs the pipeline on a schedule. The binary
//! (`preflight`, `src/main.rs` and `src/cli/`) only parses flags, hands them to [`settings`]
//! and runs the command.
//!
//! # Layers
//!
//! Every module sits in a layer and imports only from the layers below it (and, among the
//! leaves, only the leaves its row names), so the arrows of the pipeline point one way: facts
//! never see a rule, rules never see a report, and nothing below the daemon knows there is one.
//! The table is checked: a unit test (`layers`) reads it from this file and fails when a module
//! under `src/<module>/` names a module (`crate::…`, `wa_preflight::…`, `super::…` out of its
//! own tree) that its row does not allow, when a module is missing from the table, or when
//! the table itself has a cycle. "leaves" means every module of layer 0.
//!
//! | Layer | Module | Holds | May import |
//! |---|---|---|---|
//! | 0 | `bounds` | ranges of numbers from operator input, checked where they are parsed | — |
//! | 0 | `located` | `file:line:col` errors for rules, config and facts files | — |
//! | 0 | `input` | reading operator input files without blocking, under size limits | — |
//! | 0 | `output` | writing output files atomically | — |
//! | 0 | `compressed` | gzip/zstd input recognised and decompressed under a cap | — |
//! | 0 | `journald` | log lines in the journal's stream conventions | — |
//! | 0 | `rights` | whether the process may read what the checks need | — |
//! | 0 | `value` | versions, quantities with units, points in time, URLs | `bounds` |
//! | 0 | `secret` | the never-printed `Secret`, secret names, fingerprints, scrubbing | `input` |
//! | 0 | `redact` | redaction of secrets and personal data in bytes | `secret` |
//! | 1 | `facts` | gatherers and the facts document; never judges | leaves |
//! | 2 | `rules` | the rule language, evaluation, results (`Status`, `RuleResult`, `Waiver`) | `facts`, leaves |
//! | 3 | `report` | the report's JSON shape, exit codes, renderers | `rules`, `facts`, leaves |
//! | 4 | `config` | the operator's config file | `rules`, `facts`, leaves |
//! | 4 | `check` | facts document → report | `report`, `rules`, `facts`, leaves |
//! | 4 | `bundle` | the support bundle | `report`, `rules`, `facts`, leaves |
//! | 5 | `settings` | flags, environment and config merged into the options the library takes (also the daemon's, on every reload) | `bundle`, `config`, `report`, `rules`, `facts`, leaves |
//! | 6 | `daemon` | the scheduler, HTTP, metrics, history and transition webhook | `settings`, `check`, `config`, `report`, `rules`, `facts`, leaves |
//!
//! Where things go: a type more than one layer shares lives in the lowest layer that uses it
//! (the result types are the rules'; `ToolInfo` and the `unavailable` marker are the facts
//! document's; versions and sizes are values). A fact gathered on its own schedule declares
//! its group beside its gatherer ([`facts::group`]).

#![warn(missing_docs, clippy::missing_errors_doc)]

pub mod bounds;
pub mod bundle;
pub mod check;
pub mod compressed;
pub mod config;
pub mod daemon;
pub mod facts;
pub mod input;
pub mod journald;
#[cfg(test)]
mod layers;
pub mod located;
pub mod output;
pub mod redact;
pub mod report;
pub mod rights;
pub mod rules;
pub mod secret;
pub mod settings;
pub mod value;
