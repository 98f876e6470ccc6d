//! Value types every layer shares: versions and version requirements ([`version`]), numbers
//! with units and their comparisons ([`quantity`]), points in time given by people
//! ([`time`]), URLs with a checked scheme ([`url`]). A leaf: it imports only [`bounds`](crate::bounds) (the ranges a parsed number
//! must fall in), so facts, rules, the config and the daemon can all use the same parsers.

pub mod quantity;
pub mod time;
pub mod url;
pub mod version;
