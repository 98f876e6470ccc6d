//! Range-checked numbers from operator input: flags, the config, rules files, env files and
//! query strings. A number that parses but is out of range (`1e300` or `.inf` seconds, a
//! sample count of 2^64−1) would otherwise panic later (`Duration::from_secs_f64`, an
//! allocation, `Instant + Duration`), so every one is checked where it is parsed: a flag or
//! file gets a located error (exit 2), a query a 400, a SIGHUP reload is rejected.
//!
//! Each range is a [`Range`] constant; the limits are generous (nothing a working setup needs
//! is refused) and small enough that no arithmetic on them can overflow.

use std::fmt::Display;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// An inclusive range of accepted values, with what the number is, for messages.
#[derive(Debug, Clone, Copy)]
pub struct Range<T> {
    /// The smallest accepted value.
    pub min: T,
    /// The largest accepted value.
    pub max: T,
    /// What the number counts, as in "a timeout in seconds".
    pub what: &'static str,
}

/// Any timeout in seconds (Docker, database, API, webhook): 1 ms to an hour.
pub const TIMEOUT_SECONDS: Range<f64> = Range {
    min: 0.001,
    max: 3600.0,
    what: "a timeout in seconds",
};
/// Database latency round trips.
pub const SAMPLES: Range<u64> = Range {
    min: 1,
    max: 10_000,
    what: "a number of samples",
};
/// The daemon's run intervals: a second to a year.
pub const INTERVAL_SECONDS: Range<u64> = Range {
    min: 1,
    max: 31_536_000,
    what: "an interval in seconds",
};
/// How long a daemon run may take: 5 s to a day.
pub const RUN_DEADLINE_SECONDS: Range<u64> = Range {
    min: 5,
    max: 86_400,
    what: "a run deadline in seconds",
};
/// History retention: a day to a hundred years.
pub const RETENTION_DAYS: Range<u64> = Range {
    min: 1,
    max: 36_500,
    what: "a retention in days",
};
/// Transitions waiting for the webhook.
pub const WEBHOOK_QUEUE: Range<u64> = Range {
    min: 1,
    max: 1_000_000,
    what: "a queue length",
};
/// Tries per transition (with doubling backoff).
pub const WEBHOOK_ATTEMPTS: Range<u64> = Range {
    min: 1,
    max: 30,
    what: "a number of attempts",
};
/// Coreapp nodes expected connected.
pub const EXPECTED_CONNECTED: Range<u64> = Range {
    min: 1,
    max: 10_000,
    what: "a number of coreapp nodes",
};
/// The network section's step timeout in a rules file.
pub const NETWORK_TIMEOUT_MS: Range<u64> = Range {
    min: 1,
    max: 3_600_000,
    what: "a timeout in milliseconds",
};
/// Entries listed by `preflight history` and `/v1/history`.
pub const HISTORY_LIMIT: Range<u64> = Range {
    min: 1,
    max: 100_000,
    what: "a number of entries",
};
/// Sizes (bundle caps, history size): up to 1 PiB.
pub const SIZE_BYTES: Range<u64> = Range {
    min: 0,
    max: 1 << 50,
    what: "a size",
};
/// Ages back from now (`--since 3h`): up to 100 years, in seconds.
pub const AGE_SECONDS: Range<i64> = Range {
    min: 0,
    max: 3_155_760_000,
    what: "an age",
};

impl<T: PartialOrd + Display + Copy> Range<T> {
    /// `v` if it is in the range, else a message naming the range.
    ///
    /// # Errors
    ///
    /// The message `… is out of range: give <what> from <min> to <max>` when `v` is outside (NaN
    /// always is).
    pub fn check(&self, v: T) -> Result<T, String> {
        // NaN is neither below min nor above max: compare so that it fails.
        if v >= self.min && v <= self.max {
            Ok(v)
        } else {
            Err(format!(
                "{v} is out of range: give {} from {} to {}",
                self.what, self.min, self.max
            ))
        }
    }
}

impl Range<f64> {
    /// A checked number of seconds as a duration.
    ///
    /// # Errors
    ///
    /// As [`Range::check`].
    pub fn duration(&self, secs: f64) -> Result<Duration, String> {
        self.check(secs).map(Duration::from_secs_f64)
    }
}

/// Parses a flag's number and checks it (the command line's value parsers below: plain
/// `fn(&str) -> Result<T, String>`, so the command line exits 2 naming the flag).
fn flag<T>(text: &str, range: Range<T>) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + Display + Copy,
{
    let v: T = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number: give {}", range.what))?;
    range.check(v)
}

/// `--docker-timeout`, `--db-timeout`, `--api-timeout`.
///
/// # Errors
///
/// `… is not a number` or out of [`TIMEOUT_SECONDS`], in words (clap adds the flag's name).
pub fn timeout_flag(text: &str) -> Result<f64, String> {
    flag(text, TIMEOUT_SECONDS)
}

/// `--db-samples`.
///
/// # Errors
///
/// Not a number, or out of [`SAMPLES`].
pub fn samples_flag(text: &str) -> Result<usize, String> {
    flag(text, SAMPLES).map(|n| n as usize)
}

/// `--interval`.
///
/// # Errors
///
/// Not a number, or out of [`INTERVAL_SECONDS`].
pub fn interval_flag(text: &str) -> Result<u64, String> {
    flag(text, INTERVAL_SECONDS)
}

/// `--limit` of `preflight history`.
///
/// # Errors
///
/// Not a number, or out of [`HISTORY_LIMIT`].
pub fn limit_flag(text: &str) -> Result<i64, String> {
    flag(text, HISTORY_LIMIT).map(|n| n as i64)
}

/// serde `deserialize_with` helpers for optional config numbers: the error carries the
/// value's `file:line:col` through serde-saphyr.
pub mod de {
    use super::*;

    fn opt<'de, D, T>(d: D, range: Range<T>) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de> + PartialOrd + Display + Copy,
    {
        match Option::<T>::deserialize(d)? {
            Some(v) => range.check(v).map(Some).map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }

    /// A timeout in seconds, in [`TIMEOUT_SECONDS`].
    ///
    /// # Errors
    ///
    /// A value that is not a number, or outside the range.
    pub fn timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        opt(d, TIMEOUT_SECONDS)
    }
    /// Database latency samples, in [`SAMPLES`].
    ///
    /// # Errors
    ///
    /// A value that is not a number, or outside the range.
    pub fn samples<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
        Ok(opt(d, SAMPLES)?.map(|n| n as usize))
    }
    /// The daemon's default interval in seconds, in [`INTERVAL_SECONDS`].
    ///
    /// # Errors
    ///
    /// A value that is not a number, or outside the range.
    pub fn interval<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        opt(d, INTERVAL_SECONDS)
    }
    /// A map of intervals (`daemon.intervals`), each checked.
    ///
    /// # Errors
    ///
    /// A value that is not a map of numbers, or a number outside [`INTERVAL_SECONDS`].
    pub fn intervals<'de, D, K>(d: D) -> Result<std::collections::BTreeMap<K, u64>, D::Error>
    where
        D: Deserializer<'de>,
        K: Deserialize<'de> + Ord,
    {
        #[derive(Deserialize)]
        struct Checked(#[serde(deserialize_with = "interval_one")] u64);
        fn interval_one<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
            INTERVAL_SECONDS
                .check(u64::deserialize(d)?)
                .map_err(serde::de::Error::custom)
        }
        let m = std::collections::BTreeMap::<K, Checked>::deserialize(d)?;
        Ok(m.into_iter().map(|(k, v)| (k, v.0)).collect())
    }
    /// A daemon run's deadline in seconds, in [`RUN_DEADLINE_SECONDS`].
    ///
    /// # Errors
    ///
    /// A value that is not a number, or outside the range.
    pub fn run_deadline<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        opt(d, RUN_DEADLINE_SECONDS)
    }
    /// The history's retention in days, in [`RETENTION_DAYS`].
    ///
    /// # Errors
    ///
    /// A value that is not a number, or outside the range.
    pub fn retention_days<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        opt(d, RETENTION_DAYS)
    }
    /// The transition webhook's queue length, in [`WEBHOOK_QUEUE`].
    ///
    /// # Errors
    ///
    /// A value that is not a number, or outside the range.
    pub fn webhook_queue<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
        Ok(opt(d, WEBHOOK_QUEUE)?.map(|n| n as usize))
    }
    /// The transition webhook's tries per transition, in [`WEBHOOK_ATTEMPTS`].
    ///
    /// # Errors
    ///
    /// A value that is not a number, or outside the range.
    pub fn webhook_attempts<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        Ok(opt(d, WEBHOOK_ATTEMPTS)?.map(|n| n as u32))
    }
    /// The HA coreapp nodes expected connected, in [`EXPECTED_CONNECTED`].
    ///
    /// # Errors
    ///
    /// A value that is not a number, or outside the range.
    pub fn expected_connected<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        opt(d, EXPECTED_CONNECTED)
    }
    /// A rules file's network step timeout in milliseconds (required), in [`NETWORK_TIMEOUT_MS`].
    ///
    /// # Errors
    ///
    /// A value that is not a number, or outside the range.
    pub fn network_timeout_ms<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        NETWORK_TIMEOUT_MS
            .check(u64::deserialize(d)?)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_out_of_range_are_refused() {
        for bad in ["1e300", ".inf", "inf", "NaN", "1e19", "0", "-1", "3600.5"] {
            let e = timeout_flag(bad).unwrap_err();
            assert!(e.contains("timeout in seconds"), "{bad}: {e}");
        }
        assert_eq!(timeout_flag("2.5"), Ok(2.5));
        assert!(samples_flag("18446744073709551615").is_err());
        assert!(samples_flag("0").is_err());
        assert_eq!(samples_flag("50"), Ok(50));
        assert!(interval_flag("18446744073709551615").is_err());
        assert!(limit_flag("-5").is_err());
        assert_eq!(
            TIMEOUT_SECONDS.duration(0.25).unwrap(),
            Duration::from_millis(250)
        );
    }
}
