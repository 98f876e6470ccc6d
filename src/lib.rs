//! wa-preflight: preflight checks and diagnostics for hosts running the WhatsApp Business API
//! On-Premises client.
//!
//! One pipeline: gather [`facts`] → evaluate [`rules`] → render a [`report`]. The binary
//! (`preflight`) only parses flags and wires these together.

pub mod bounds;
pub mod bundle;
pub mod check;
pub mod config;
pub mod daemon;
pub mod facts;
pub mod history;
pub mod input;
pub mod journald;
pub mod output;
pub mod redact;
pub mod report;
pub mod rights;
pub mod rules;
pub mod settings;
pub mod when;
