//! Lenient version numbers and version requirements.
//!
//! Real-world version strings are not semver: `18.04.0-ce`, `20.10.24+dfsg1`,
//! `3.10.0-1160.el7.x86_64`, `8.0.36-0ubuntu0.22.04.1`, `10.11.19-MariaDB-0+deb12u1`,
//! `5.15.90.1-microsoft-standard-WSL2`, `PostgreSQL 15.18 (Debian …)`. The `semver` crate
//! would treat `-ce` as a pre-release (so `18.04.0-ce < 18.04.0`, which would fail Docker
//! 18.04 against `>= 18.04`), rejects leading zeros and cannot say "5.7.x or 8.0.x". So a
//! version here is the first run of dot-separated numbers in the string; everything after it is
//! a vendor suffix that never takes part in comparisons.

use std::cmp::Ordering;
use std::fmt;

use super::quantity::CmpOp;

/// A version reduced to its numeric components, with the original text kept for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Numeric components in order (`18.04.0-ce` → `[18, 4, 0]`).
    pub parts: Vec<u64>,
    /// The string the version was read from.
    pub raw: String,
}

impl Version {
    /// Reads the first dotted number run in `s`. Returns `None` when `s` holds no digit.
    pub fn parse_lenient(s: &str) -> Option<Version> {
        let bytes = s.as_bytes();
        let start = bytes.iter().position(u8::is_ascii_digit)?;
        let mut parts = Vec::new();
        let mut i = start;
        loop {
            let begin = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            // A component too large for u64 is not a version anyone ships; stop there.
            let part: u64 = s[begin..i].parse().ok()?;
            parts.push(part);
            if i + 1 < bytes.len() && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit() {
                i += 1;
            } else {
                break;
            }
        }
        Some(Version {
            parts,
            raw: s.trim().to_string(),
        })
    }

    /// Numeric comparison, missing components count as zero (`18.04` == `18.04.0`).
    pub fn cmp_parts(&self, other: &[u64]) -> Ordering {
        let n = self.parts.len().max(other.len());
        for i in 0..n {
            let a = self.parts.get(i).copied().unwrap_or(0);
            let b = other.get(i).copied().unwrap_or(0);
            match a.cmp(&b) {
                Ordering::Equal => continue,
                ord => return ord,
            }
        }
        Ordering::Equal
    }

    /// The numeric part as `a.b.c`.
    pub fn numeric(&self) -> String {
        let parts: Vec<String> = self.parts.iter().map(u64::to_string).collect();
        parts.join(".")
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// One comparison such as `>= 18.04` or `!= 5.7.x`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Clause {
    op: CmpOp,
    parts: Vec<u64>,
    /// `5.7.x`: the pattern names a series; `=`/`!=` then compare only the given prefix.
    wildcard: bool,
}

impl Clause {
    fn matches(&self, v: &Version) -> bool {
        if self.wildcard && matches!(self.op, CmpOp::Eq | CmpOp::Ne) {
            let prefix = self
                .parts
                .iter()
                .enumerate()
                .all(|(i, p)| v.parts.get(i).copied().unwrap_or(0) == *p);
            return (self.op == CmpOp::Eq) == prefix;
        }
        self.op.holds(v.cmp_parts(&self.parts))
    }
}

/// A version requirement: alternatives separated by `||`, each a comma-separated list of
/// clauses that must all hold. Examples: `>= 18.04, != 19.03.7`; `5.7.x || 8.0.x`; `< 2.3.3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionReq {
    alternatives: Vec<Vec<Clause>>,
    text: String,
}

/// Why a requirement string could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid version requirement {text:?}: {why}")]
pub struct VersionReqError {
    text: String,
    why: String,
}

impl VersionReq {
    /// Parses a requirement; see the type's documentation for the grammar.
    ///
    /// # Errors
    ///
    /// [`VersionReqError`] quoting `text` when a clause is empty or has no version, a component
    /// is not a number, or a wildcard (`x`, `*`) is not the last of several components.
    pub fn parse(text: &str) -> Result<VersionReq, VersionReqError> {
        let err = |why: String| VersionReqError {
            text: text.to_string(),
            why,
        };
        let mut alternatives = Vec::new();
        for alt in text.split("||") {
            let mut clauses = Vec::new();
            for clause in alt.split(',') {
                let clause = clause.trim();
                if clause.is_empty() {
                    return Err(err("empty clause".into()));
                }
                clauses.push(parse_clause(clause).map_err(err)?);
            }
            alternatives.push(clauses);
        }
        Ok(VersionReq {
            alternatives,
            text: text.trim().to_string(),
        })
    }

    /// Whether `v` satisfies any alternative.
    pub fn matches(&self, v: &Version) -> bool {
        self.alternatives
            .iter()
            .any(|clauses| clauses.iter().all(|c| c.matches(v)))
    }
}

impl fmt::Display for VersionReq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn parse_clause(clause: &str) -> Result<Clause, String> {
    // A bare version means equality.
    let (op, rest) = CmpOp::split(clause).unwrap_or((CmpOp::Eq, clause.trim()));
    let rest = rest.strip_prefix(['v', 'V']).unwrap_or(rest);
    if rest.is_empty() {
        return Err(format!("clause {clause:?} has no version"));
    }
    let mut parts = Vec::new();
    let mut wildcard = false;
    let pieces: Vec<&str> = rest.split('.').collect();
    for (i, piece) in pieces.iter().enumerate() {
        if matches!(*piece, "x" | "X" | "*") {
            if i + 1 != pieces.len() || i == 0 {
                return Err(format!(
                    "wildcard in {clause:?} must be the last of several components"
                ));
            }
            wildcard = true;
        } else {
            let n = piece
                .parse::<u64>()
                .map_err(|_| format!("{piece:?} in {clause:?} is not a number"))?;
            parts.push(n);
        }
    }
    Ok(Clause {
        op,
        parts,
        wildcard,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse_lenient(s).unwrap_or_else(|| panic!("no version in {s}"))
    }

    fn req(s: &str) -> VersionReq {
        VersionReq::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parses_real_world_strings() {
        let cases: &[(&str, &[u64])] = &[
            ("18.04.0-ce", &[18, 4, 0]),
            ("19.03.7", &[19, 3, 7]),
            ("3.10.0-1160.el7.x86_64", &[3, 10, 0]),
            ("8.0.36-0ubuntu0.22.04.1", &[8, 0, 36]),
            ("10.11.19-MariaDB-0+deb12u1", &[10, 11, 19]),
            ("2.5.4", &[2, 5, 4]),
            ("20.10.24+dfsg1", &[20, 10, 24]),
            ("24.0.7", &[24, 0, 7]),
            ("v2.51.2", &[2, 51, 2]),
            ("5.15.90.1-microsoft-standard-WSL2", &[5, 15, 90, 1]),
            ("PostgreSQL 15.18 (Debian 15.18-0+deb12u1)", &[15, 18]),
            ("6.18.44-fc-v657", &[6, 18, 44]),
            ("2.36", &[2, 36]),
            ("4.11", &[4, 11]),
            ("13", &[13]),
            ("1.2.", &[1, 2]),
        ];
        for (s, parts) in cases {
            assert_eq!(v(s).parts, *parts, "{s}");
        }
        assert!(Version::parse_lenient("unknown").is_none());
        assert!(Version::parse_lenient("").is_none());
        assert!(Version::parse_lenient("99999999999999999999999.1").is_none());
    }

    #[test]
    fn missing_components_are_zero() {
        assert_eq!(v("18.04").cmp_parts(&[18, 4, 0]), Ordering::Equal);
        assert_eq!(v("18.04.0-ce").cmp_parts(&[18, 4]), Ordering::Equal);
        assert_eq!(v("4.10.99").cmp_parts(&[4, 11]), Ordering::Less);
    }

    #[test]
    fn docker_requirement() {
        let r = req(">= 18.04, != 19.03.7");
        assert!(
            r.matches(&v("18.04.0-ce")),
            "18.04.0-ce is 18.04, not a pre-release"
        );
        assert!(r.matches(&v("18.09.1")));
        assert!(r.matches(&v("20.10.24+dfsg1")));
        assert!(r.matches(&v("19.03.8")));
        assert!(r.matches(&v("19.03.6")));
        assert!(!r.matches(&v("19.03.7")));
        assert!(!r.matches(&v("19.03.7-ce")));
        assert!(!r.matches(&v("18.03.1-ce")));
        assert!(!r.matches(&v("17.12.1-ce")));
    }

    #[test]
    fn series_and_alternatives() {
        let r = req("5.7.x || 8.0.x");
        assert!(r.matches(&v("5.7.44")));
        assert!(r.matches(&v("8.0.36-0ubuntu0.22.04.1")));
        assert!(!r.matches(&v("8.1.0")));
        assert!(!r.matches(&v("5.6.51")));
        assert!(!r.matches(&v("10.11.19-MariaDB")));
        let pg = req(">= 11, < 14");
        assert!(pg.matches(&v("13.23")));
        assert!(pg.matches(&v("11.22")));
        assert!(!pg.matches(&v("15.18 (Debian)")));
        assert!(!pg.matches(&v("10.23")));
        assert!(req("!= 5.7.x").matches(&v("8.0.1")));
        assert!(!req("!= 5.7.x").matches(&v("5.7.1")));
    }

    #[test]
    fn kernel_glibc_libseccomp() {
        assert!(req("< 4.11").matches(&v("3.10.0-1160.el7.x86_64")));
        assert!(!req("< 4.11").matches(&v("4.11.0")));
        assert!(req(">= 2.28").matches(&v("2.36")));
        assert!(!req(">= 2.28").matches(&v("2.27")));
        assert!(req("= 2.3.3").matches(&v("2.3.3")));
        assert!(req("2.3.3").matches(&v("2.3.3")));
        assert!(req("> 2.3.3").matches(&v("2.5.4")));
        assert!(req("< 2.3.3").matches(&v("2.3.1")));
        assert!(req("<= 2.3.3").matches(&v("2.3.3")));
        assert!(req("== v2.3.3").matches(&v("2.3.3")));
    }

    #[test]
    fn rejects_bad_requirements() {
        for bad in [
            ">= ",
            ">= 18.04,",
            "foo",
            ">= x",
            ">= 1.x.2",
            "1..2",
            ">= 18.04 || ",
        ] {
            assert!(
                VersionReq::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }
}
