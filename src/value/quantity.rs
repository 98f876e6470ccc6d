//! Numbers with units in rule conditions (`>= 250GB`, `< 16GiB`, `<= 5ms`).
//!
//! Facts store plain numbers in a base unit named by the field's suffix (`size_bytes`,
//! `p50_us`), so a rule never has to know the scale of a fact: the condition says `250GB`,
//! the field says bytes, and the two are checked to be the same kind of quantity when the
//! rules are loaded, not when a host happens to hit the rule.

use std::fmt;

/// What a number measures. Conditions and fact fields must agree on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    /// A plain count or ratio.
    Plain,
    /// Bytes (base unit: byte).
    Bytes,
    /// Time (base unit: microsecond).
    Duration,
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dimension::Plain => "a plain number",
            Dimension::Bytes => "a size in bytes",
            Dimension::Duration => "a duration",
        })
    }
}

/// The dimension and the factor to base units of a fact field, from its name's suffix.
pub fn field_unit(field: &str) -> (Dimension, f64) {
    let last = field.rsplit('.').next().unwrap_or(field);
    if last.ends_with("_bytes") {
        (Dimension::Bytes, 1.0)
    } else if last.ends_with("_us") {
        (Dimension::Duration, 1.0)
    } else if last.ends_with("_ms") {
        (Dimension::Duration, 1_000.0)
    } else if last.ends_with("_seconds") || last.ends_with("_s") {
        (Dimension::Duration, 1_000_000.0)
    } else {
        (Dimension::Plain, 1.0)
    }
}

fn unit_factor(unit: &str) -> Option<(Dimension, f64)> {
    const K: f64 = 1024.0;
    Some(match unit {
        "" => (Dimension::Plain, 1.0),
        "B" => (Dimension::Bytes, 1.0),
        "kB" | "KB" => (Dimension::Bytes, 1e3),
        "MB" => (Dimension::Bytes, 1e6),
        "GB" => (Dimension::Bytes, 1e9),
        "TB" => (Dimension::Bytes, 1e12),
        "KiB" => (Dimension::Bytes, K),
        "MiB" => (Dimension::Bytes, K * K),
        "GiB" => (Dimension::Bytes, K * K * K),
        "TiB" => (Dimension::Bytes, K * K * K * K),
        "ns" => (Dimension::Duration, 1e-3),
        "us" | "µs" => (Dimension::Duration, 1.0),
        "ms" => (Dimension::Duration, 1e3),
        "s" => (Dimension::Duration, 1e6),
        "min" => (Dimension::Duration, 60e6),
        _ => return None,
    })
}

/// A comparison operator, shared by number and version conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `=` or `==`
    Eq,
    /// `!=`
    Ne,
}

impl CmpOp {
    /// Splits a leading operator (`>=`, `<=`, `!=`, `==`, `>`, `<`, `=`) off `text`, returning
    /// it and the trimmed rest; `None` when `text` does not start with one.
    pub fn split(text: &str) -> Option<(CmpOp, &str)> {
        const OPS: [(&str, CmpOp); 7] = [
            (">=", CmpOp::Ge),
            ("<=", CmpOp::Le),
            ("!=", CmpOp::Ne),
            ("==", CmpOp::Eq),
            (">", CmpOp::Gt),
            ("<", CmpOp::Lt),
            ("=", CmpOp::Eq),
        ];
        let text = text.trim_start();
        OPS.iter()
            .find_map(|(sym, op)| text.strip_prefix(sym).map(|rest| (*op, rest.trim())))
    }

    /// Whether an ordering satisfies the operator (`observed` compared to the threshold).
    pub fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CmpOp::Lt => ord == Less,
            CmpOp::Le => ord != Greater,
            CmpOp::Gt => ord == Greater,
            CmpOp::Ge => ord != Less,
            CmpOp::Eq => ord == Equal,
            CmpOp::Ne => ord != Equal,
        }
    }
}

/// A numeric comparison such as `>= 250GB`, held in base units.
#[derive(Debug, Clone, PartialEq)]
pub struct NumberCmp {
    /// How the observed value must compare to `value`.
    pub op: CmpOp,
    /// The threshold in base units.
    pub value: f64,
    /// What the threshold measures; a rule's field must have the same dimension (checked when rules
    /// load, from the field name's suffix).
    pub dimension: Dimension,
    text: String,
}

/// Why a numeric comparison could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid number comparison {text:?}: {why}")]
pub struct NumberCmpError {
    text: String,
    why: String,
}

impl NumberCmp {
    /// Parses `OP NUMBER[UNIT]`; the operator is required so a rule always reads as a sentence.
    ///
    /// # Errors
    ///
    /// [`NumberCmpError`] quoting `text` when it does not start with an operator, has no number
    /// after it, or has a unit other than B, kB/KB, MB, GB, TB (powers of 10), KiB, MiB, GiB, TiB
    /// (powers of 2), ns, us, ms, s, min.
    pub fn parse(text: &str) -> Result<NumberCmp, NumberCmpError> {
        let err = |why: &str| NumberCmpError {
            text: text.to_string(),
            why: why.to_string(),
        };
        let t = text.trim();
        let (op, rest) =
            CmpOp::split(t).ok_or_else(|| err("must start with one of < <= > >= = !="))?;
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
            .unwrap_or(rest.len());
        let (num, unit) = rest.split_at(split);
        let num: f64 = num
            .replace('_', "")
            .parse()
            .map_err(|_| err("no number after the operator"))?;
        let (dimension, factor) = unit_factor(unit.trim())
            .ok_or_else(|| err("unknown unit (B, KB…TB, KiB…TiB, ns, us, ms, s, min)"))?;
        Ok(NumberCmp {
            op,
            value: num * factor,
            dimension,
            text: t.to_string(),
        })
    }

    /// Compares a value already scaled to base units.
    pub fn matches(&self, observed: f64) -> bool {
        // NaN compares as nothing: no condition holds on it.
        observed
            .partial_cmp(&self.value)
            .is_some_and(|ord| self.op.holds(ord))
    }
}

impl fmt::Display for NumberCmp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Parses a size such as `25MiB`, `200MB` or `1048576` into bytes.
///
/// # Errors
///
/// A message quoting `text` when it is not a number with a size unit (B, KB, MB, GB powers of 10;
/// KiB, MiB, GiB powers of 2), or is more than 1 PiB.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 25MiB)"))?;
    match unit_factor(unit.trim()) {
        Some((Dimension::Bytes | Dimension::Plain, f)) => {
            let bytes = n * f;
            let r = crate::bounds::SIZE_BYTES;
            if !(bytes.is_finite() && bytes <= r.max as f64) {
                return Err(format!(
                    "{text:?} is out of range: give a size of at most {} bytes (1 PiB)",
                    r.max
                ));
            }
            Ok(bytes as u64)
        }
        _ => Err(format!(
            "{text:?} is not a size (units B, KB, MB, GB, KiB, MiB, GiB)"
        )),
    }
}

/// serde `deserialize_with` for an optional size with a unit (`64MiB`) in the config: checked
/// with [`parse_size`] and kept as written; the error carries the value's `file:line:col`.
///
/// # Errors
///
/// A value that is not a string, or not a size [`parse_size`] accepts.
pub fn de_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match <Option<String> as serde::Deserialize>::deserialize(d)? {
        Some(s) => parse_size(&s)
            .map(|_| Some(s))
            .map_err(serde::de::Error::custom),
        None => Ok(None),
    }
}

/// Renders bytes for people in the unit the requirements are documented in (decimal GB, as
/// drive and memory vendors count), cut (not rounded) to one decimal, so a shown value never
/// reaches a threshold the real value misses: 249.96e9 bytes is "249.9 GB", not "250.0 GB".
pub fn format_bytes(bytes: f64) -> String {
    // Integer division cuts exactly (float scaling would turn 16.4 into 16.39…).
    let b = bytes.max(0.0) as u64;
    let cut = |unit: u64, decimals: u32| {
        let scaled = b / (unit / 10u64.pow(decimals));
        let p = 10u64.pow(decimals);
        format!(
            "{}.{:0width$}",
            scaled / p,
            scaled % p,
            width = decimals as usize
        )
    };
    if b >= 1_000_000_000_000 {
        format!("{} TB", cut(1_000_000_000_000, 2))
    } else if b >= 1_000_000_000 {
        format!("{} GB", cut(1_000_000_000, 1))
    } else {
        format!("{} MB", cut(1_000_000, 1))
    }
}

/// Renders microseconds as ms with µs precision, or µs when small.
pub fn format_duration_us(us: f64) -> String {
    if us >= 1_000_000.0 {
        format!("{:.2} s", us / 1e6)
    } else if us >= 100_000.0 {
        format!("{:.0} ms", us / 1e3)
    } else if us >= 1_000.0 {
        format!("{:.3} ms", us / 1e3)
    } else {
        format!("{us:.0} µs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        let c = NumberCmp::parse(">= 250GB").unwrap();
        assert_eq!(
            (c.op, c.value, c.dimension),
            (CmpOp::Ge, 250e9, Dimension::Bytes)
        );
        let c = NumberCmp::parse("<16GiB").unwrap();
        assert_eq!(c.value, 16.0 * 1024.0 * 1024.0 * 1024.0);
        let c = NumberCmp::parse("<= 5ms").unwrap();
        assert_eq!((c.value, c.dimension), (5000.0, Dimension::Duration));
        let c = NumberCmp::parse("< 4").unwrap();
        assert_eq!(
            (c.op, c.value, c.dimension),
            (CmpOp::Lt, 4.0, Dimension::Plain)
        );
        let c = NumberCmp::parse("> 0.5 s").unwrap();
        assert_eq!(c.value, 500_000.0);
        let c = NumberCmp::parse("> 1_000").unwrap();
        assert_eq!(c.value, 1000.0);
        assert_eq!(NumberCmp::parse("!= 250 µs").unwrap().value, 250.0);
    }

    #[test]
    fn rejects_bad() {
        for bad in ["250GB", ">= GB", ">= 12 parsecs", "", ">=", "< 1.2.3"] {
            assert!(NumberCmp::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn compares() {
        let c = NumberCmp::parse(">= 16GB").unwrap();
        // 16 GiB of RAM less 500 MiB kernel reservation is still ≥ 16 GB.
        assert!(c.matches(16.0 * 1024f64.powi(3) - 500.0 * 1024f64.powi(2)));
        assert!(!c.matches(15.9e9));
        assert!(NumberCmp::parse("< 4").unwrap().matches(2.0));
        assert!(NumberCmp::parse("= 4").unwrap().matches(4.0));
        assert!(NumberCmp::parse("!= 4").unwrap().matches(3.0));
        assert!(NumberCmp::parse("<= 4").unwrap().matches(4.0));
        assert!(NumberCmp::parse("> 4").unwrap().matches(4.5));
    }

    #[test]
    fn field_units_follow_suffix() {
        assert_eq!(
            field_unit("host.memory.total_bytes"),
            (Dimension::Bytes, 1.0)
        );
        assert_eq!(field_unit("latency.p95_us"), (Dimension::Duration, 1.0));
        assert_eq!(field_unit("connect_ms"), (Dimension::Duration, 1000.0));
        assert_eq!(field_unit("uptime_seconds"), (Dimension::Duration, 1e6));
        assert_eq!(field_unit("cpu.logical"), (Dimension::Plain, 1.0));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("25MiB"), Ok(25 << 20));
        assert_eq!(parse_size("200MB"), Ok(200_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5ms").is_err());
        assert!(
            parse_size("99999999999999999999TiB")
                .unwrap_err()
                .contains("out of range")
        );
        assert_eq!(parse_size("1024TiB"), Ok(1 << 50));
    }

    #[test]
    fn formats() {
        assert_eq!(format_bytes(270e9), "270.0 GB");
        // Cut, never rounded up to a threshold the value misses.
        assert_eq!(format_bytes(249_960_000_000.0), "249.9 GB");
        assert_eq!(format_bytes(16.4e9), "16.4 GB");
        assert_eq!(format_bytes(1_920_383_410_176.0), "1.92 TB");
        assert_eq!(format_bytes(5e6), "5.0 MB");
        assert_eq!(format_duration_us(350.4), "350 µs");
        assert_eq!(format_duration_us(1234.0), "1.234 ms");
        assert_eq!(format_duration_us(2_500_000.0), "2.50 s");
        assert_eq!(format_duration_us(443_000.0), "443 ms");
    }
}
