//! Waivers: the operator's accepted exceptions (the config's `waivers:`), and the record of
//! one applied to a result.

use serde::{Deserialize, Serialize};
use time::Date;

use super::Status;

/// An accepted exception for one rule, until a date.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Waiver {
    /// The rule ID waived.
    pub id: String,
    /// Why; shown in every report.
    pub reason: String,
    /// Last day the waiver holds (`YYYY-MM-DD`).
    #[serde(deserialize_with = "date")]
    pub expires: Date,
}

fn date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
    let s = String::deserialize(d)?;
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s.trim(), &fmt).map_err(|e| {
        serde::de::Error::custom(format!("expires {s:?} is not a YYYY-MM-DD date: {e}"))
    })
}

/// A waiver that changed a rule's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedWaiver {
    /// The reason the config's waiver gives.
    pub reason: String,
    /// `YYYY-MM-DD`, last day the waiver holds.
    pub expires: String,
    /// The status the rule had before the waiver.
    pub status: Status,
}
