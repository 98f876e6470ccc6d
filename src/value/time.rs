//! Points in time given on the command line or in a query: `--since 3h`, `--until 1764000000`,
//! `/v1/history?since=2026-11-25T00:00:00Z`. One parser, so the bundle, `preflight history`
//! and the daemon accept the same forms.

use time::OffsetDateTime;

/// An RFC 3339 time, a Unix time in seconds, or an age back from `now` (`90s`, `30m`, `90min`,
/// `24h`, `7d`).
///
/// # Errors
///
/// A message quoting `text` when it is none of the three forms, a Unix time out of range, or an age
/// with an unknown unit or too large (see [`crate::bounds::AGE_SECONDS`]).
pub fn parse_when(text: &str, now: OffsetDateTime) -> Result<OffsetDateTime, String> {
    let t = text.trim();
    if let Ok(at) = OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339) {
        return Ok(at);
    }
    if let Ok(unix) = t.parse::<i64>() {
        return OffsetDateTime::from_unix_timestamp(unix)
            .map_err(|e| format!("{text:?} is not a usable Unix time: {e}"));
    }
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: i64 = num.parse().map_err(|_| {
        if !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) {
            format!("{text:?}: {num} is out of range: give an age of at most 100 years")
        } else {
            format!("{text:?} is neither an age (90m, 3h, 2d), an RFC 3339 time nor a Unix time")
        }
    })?;
    let factor = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (use s, m, h or d)"
            ));
        }
    };
    let secs = n
        .checked_mul(factor)
        .ok_or_else(|| format!("{text:?}: out of range: give an age of at most 100 years"))
        .and_then(|s| {
            crate::bounds::AGE_SECONDS
                .check(s)
                .map_err(|e| format!("{text:?}: {e}"))
        })?;
    now.checked_sub(time::Duration::seconds(secs))
        .ok_or_else(|| format!("{text:?} reaches back before the year -9999"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_times_and_unix_times() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let at = |s: &str| parse_when(s, now).map(OffsetDateTime::unix_timestamp);
        assert_eq!(at("2h"), Ok(1_800_000_000 - 7200));
        assert_eq!(at("90m"), Ok(1_800_000_000 - 5400));
        assert_eq!(at("90min"), Ok(1_800_000_000 - 5400));
        assert_eq!(at("7d"), Ok(1_800_000_000 - 604_800));
        assert_eq!(at("1764000000"), Ok(1_764_000_000));
        assert_eq!(at("2026-11-25T00:00:00Z"), Ok(1_795_564_800));
        assert!(at("yesterday").is_err());
        assert!(at("5y").is_err());
        assert!(at("").is_err());
        // Out of range: an error, never a panic.
        for huge in [
            "999999999999d",
            "9223372036854775807d",
            "99999999999999999999s",
            "40000y",
        ] {
            assert!(at(huge).is_err(), "{huge}");
        }
        assert!(at("999999999999d").unwrap_err().contains("out of range"));
        assert!(at("99999999999999999999").is_err());
        assert!(at("-99999999999999").is_err());
    }
}
