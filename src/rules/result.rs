//! What evaluation gives for each rule: its [`Status`] and the [`RuleResult`] the report lists
//! (part of the report's JSON shape, a contract versioned by the report's `schema_version`).

use serde::{Deserialize, Serialize};

use super::AppliedWaiver;

/// A rule's final status, ordered from least to most in need of attention (a rule judging a
/// list reports its worst item).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    /// A documented deviation that is known to work (libseccomp newer than 2.3.3, an
    /// unencrypted database connection): shown and counted, never changes the exit code and
    /// never needs action, also under `--strict`.
    Info,
    Skip,
    Waived,
    Warn,
    Fail,
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
    pub id: String,
    pub title: String,
    pub status: Status,
    pub observed: Option<String>,
    pub expected: Option<String>,
    pub message: String,
    pub remedy: Option<String>,
    pub doc: Option<String>,
    /// Present only on `waived` results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver: Option<AppliedWaiver>,
}
