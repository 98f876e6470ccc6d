//! `/v1/support`: the client's own view of its database, its volumes' free space and its
//! connection, with the registered phone number hidden unless asked for.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `/v1/support`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SupportFacts {
    /// `MYSQL` or `PGSQL`, as the client reports its database.
    pub db_engine: Option<String>,
    /// `UP`, `DN`, `SC`, `UP receiving offline`, `UNK`.
    pub socket_conn: Option<String>,
    /// Free space of the client's data volume, bytes.
    pub free_space_data_bytes: Option<u64>,
    /// Free space of its logs volume, bytes.
    pub free_space_logs_bytes: Option<u64>,
    /// Free space for incoming media, bytes.
    pub free_space_media_incoming_bytes: Option<u64>,
    /// Free space for outgoing media, bytes.
    pub free_space_media_outgoing_bytes: Option<u64>,
    /// The smallest of the free_space values, and which one it is.
    pub min_free_space_bytes: Option<u64>,
    /// Which free_space value is the smallest (`free_space_logs`).
    pub min_free_space_of: Option<String>,
    /// The multiconnect setting as the API gives it (`0`, `1`, …), as text.
    pub multi_connect: Option<String>,
    /// The operating system the client reports.
    pub os_name: Option<String>,
    /// Its version.
    pub os_version: Option<String>,
    /// The registered phone number: only with `--show-phone`.
    pub debug_info: Option<String>,
    /// The API gave the phone number and it was left out (no `--show-phone`).
    pub debug_info_hidden: bool,
}

/// A size the API gives as bytes (number) or text (`"12.5 GB"`).
fn size(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)),
        Value::String(s) => crate::value::quantity::parse_size(s.trim()).ok(),
        _ => None,
    }
}

/// Reads `/v1/support` (the fields may sit under `support`). Sizes are numbers of bytes or
/// text with a unit (`"3 GB"`); the phone number (`debug_info`) is kept only with
/// `show_phone`.
///
/// # Errors
///
/// The answer (or its `support`) is not a JSON object.
pub fn parse_support(body: &Value, show_phone: bool) -> Result<SupportFacts, String> {
    let s = body.get("support").unwrap_or(body);
    if !s.is_object() {
        return Err("the answer is not a JSON object".into());
    }
    let text = |k: &str| match s.get(k) {
        Some(Value::String(v)) => Some(v.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    };
    let spaces = [
        ("free_space_data", size(s.get("free_space_data"))),
        ("free_space_logs", size(s.get("free_space_logs"))),
        (
            "free_space_media_incoming",
            size(s.get("free_space_media_incoming")),
        ),
        (
            "free_space_media_outgoing",
            size(s.get("free_space_media_outgoing")),
        ),
    ];
    let min = spaces.iter().filter_map(|(n, v)| v.map(|v| (v, *n))).min();
    let debug = text("debug_info");
    Ok(SupportFacts {
        db_engine: text("db_engine"),
        socket_conn: text("socket_conn"),
        free_space_data_bytes: spaces[0].1,
        free_space_logs_bytes: spaces[1].1,
        free_space_media_incoming_bytes: spaces[2].1,
        free_space_media_outgoing_bytes: spaces[3].1,
        min_free_space_bytes: min.map(|m| m.0),
        min_free_space_of: min.map(|m| m.1.to_string()),
        multi_connect: text("multi_connect"),
        os_name: text("os_name"),
        os_version: text("os_version"),
        debug_info_hidden: debug.is_some() && !show_phone,
        debug_info: debug.filter(|_| show_phone),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn support_sizes_and_phone() {
        let s = parse_support(
            &json!({"support": {"db_engine": "MYSQL", "socket_conn": "UP", "debug_info": "+1 555 0100",
                "free_space_data": 52_000_000_000u64, "free_space_logs": "3 GB",
                "free_space_media_incoming": 9e10, "multi_connect": 0}}),
            false,
        )
        .unwrap();
        assert_eq!(s.min_free_space_bytes, Some(3_000_000_000));
        assert_eq!(s.min_free_space_of.as_deref(), Some("free_space_logs"));
        assert_eq!(s.debug_info, None);
        assert!(s.debug_info_hidden);
        assert_eq!(s.multi_connect.as_deref(), Some("0"));
        let shown = parse_support(&json!({"debug_info": "+1 555 0100"}), true).unwrap();
        assert_eq!(shown.debug_info.as_deref(), Some("+1 555 0100"));
    }
}
