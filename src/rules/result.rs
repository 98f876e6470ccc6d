//! What evaluation gives for each rule: its [`Status`] and the [`RuleResult`] the report lists
//! (part of the report's JSON shape, a contract versioned by the report's `schema_version`).

use serde::{Deserialize, Serialize};

use super::AppliedWaiver;

/// A rule's final status, ordered from least to most in need of attention (a rule judging a
/// list reports its worst item).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The requirement is met (exit code 0).
    Pass,
    /// A documented deviation that is known to work (libseccomp newer than 2.3.3, an
    /// unencrypted database connection): shown and counted, never changes the exit code and
    /// never needs action, also under `--strict`.
    Info,
    /// Moot: a prerequisite rule did not pass, the profile leaves the rule out, or the state makes
    /// it meaningless (exit code 0).
    Skip,
    /// A config waiver accepted a `warn`, `fail` or `error` until its expiry date (exit code 0).
    Waived,
    /// Works, but needs attention (exit code 4; 3 under `--strict`).
    Warn,
    /// The requirement is not met (exit code 3).
    Fail,
    /// The rule could not be judged: its fact was unavailable, or a value had the wrong type (exit
    /// code 3).
    Error,
}

impl Status {
    /// Every status, in report order.
    pub const ALL: [Status; 7] = [
        Status::Pass,
        Status::Info,
        Status::Warn,
        Status::Fail,
        Status::Skip,
        Status::Error,
        Status::Waived,
    ];

    /// The lowercase name used in JSON and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Info => "info",
            Status::Skip => "skip",
            Status::Waived => "waived",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Error => "error",
        }
    }
}

/// One rule's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleResult {
    /// The rule's stable dotted ID (`host.kernel`, `db.latency`).
    pub id: String,
    /// What the rule checks.
    pub title: String,
    /// The verdict.
    pub status: Status,
    /// What was seen, rendered for people (`3.10.0-1160.el7.x86_64`, `16.0 GB`); None when nothing
    /// was.
    pub observed: Option<String>,
    /// What is required, in words (`>= 4.11`); None when the rule does not say.
    pub expected: Option<String>,
    /// The verdict in one sentence.
    pub message: String,
    /// What to do when the rule does not pass; None when the rule gives no remedy.
    pub remedy: Option<String>,
    /// Where the requirement is documented (a URL, see the rule's `doc:`); None when the rule cites
    /// nothing.
    pub doc: Option<String>,
    /// Present only on `waived` results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver: Option<AppliedWaiver>,
}
