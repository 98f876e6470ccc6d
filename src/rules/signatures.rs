//! The `signatures:` section of a rules file: known failures as they show in the logs.
//!
//! Each signature becomes two things: a [`Pattern`] the log gatherer scans for (it counts
//! matches; it never judges), and a rule `log.<id>` that judges the count like any other rule —
//! so signatures are waived, explained, exported as metrics and alerted on by their rule ID.
//!
//! ```yaml
//! signatures:
//!   - id: db_login_refused                 # lowercase words; the rule is log.db_login_refused
//!     title: Database login refused
//!     sources: [coreapp, webapp]           # see facts::logs::LogSource
//!     regex: "Access denied for user '(?P<user>[^']*)'"
//!     window: 24h                          # s, min, h or d; default 24h
//!     status: fail                         # warn or fail (default), from `at_least` matches
//!     at_least: 1                          # default 1
//!     lasting: 6min                        # optional: only when first..last spans this long
//!     message: "{{count}} refused logins for {{captures.user}}, last at {{last}}"
//!     remedy: …
//!     doc: https://…                       # where the error text is documented
//!     requires: [wa.containers.present]    # optional, as for rules
//! ```

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::{Profile, Rule, Verdict, all_profiles};
use crate::facts::logs::{LogSource, Pattern};

/// One signature as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// Lowercase words joined by `_`; the rule is `log.<id>`.
    pub id: String,
    /// The rule's title.
    pub title: String,
    /// Where to look ([`LogSource`]); at least one.
    pub sources: Vec<LogSource>,
    /// The regular expression a line must match (Rust `regex` syntax; named groups become
    /// `captures.NAME`).
    pub regex: String,
    /// How far back a match counts (`24h`, `30min`, `7d`).
    #[serde(default = "default_window")]
    pub window: String,
    /// The status at `at_least` matches: `warn` or `fail` (default).
    #[serde(default = "default_status")]
    pub status: Verdict,
    /// How many matches in the window give `status` (default 1).
    #[serde(default = "one")]
    pub at_least: u64,
    /// Only when the matches span at least this long (a state that lasted).
    pub lasting: Option<String>,
    /// Template over the signature's facts: `count`, `window_s`, `first`, `last`, `span_s`,
    /// `example`, `example_source`, `captures.NAME`, `read`.
    pub message: String,
    /// The rule's remedy.
    pub remedy: String,
    /// Where the error text is documented (the database's or kernel's message list, a public
    /// report).
    pub doc: String,
    /// The profiles the rule applies under (default both).
    #[serde(default = "all_profiles")]
    pub profiles: Vec<Profile>,
    /// Rules that must pass first, as for any rule (`[wa.containers.present]` for signatures
    /// that read only the containers).
    #[serde(default)]
    pub requires: Vec<String>,
}

fn default_window() -> String {
    "24h".into()
}

fn default_status() -> Verdict {
    Verdict::Fail
}

fn one() -> u64 {
    1
}

/// Parses `30s`, `15min`, `24h`, `7d` (a whole number and a unit).
///
/// # Errors
///
/// A message quoting `text` when it has no unit, does not start with a whole number, has a unit
/// other than `s`, `min` (or `m`), `h`, `d`, or is outside 1 s to 366 d.
pub fn parse_window(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("window {text:?} has no unit (s, min, h or d)"))?;
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("window {text:?} does not start with a whole number"))?;
    let secs = match unit.trim() {
        "s" => 1,
        "min" | "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => {
            return Err(format!(
                "window {text:?}: unknown unit {other:?} (s, min, h or d)"
            ));
        }
    };
    let total = n
        .checked_mul(secs)
        .filter(|s| *s > 0 && *s <= 366 * 86_400)
        .ok_or_else(|| format!("window {text:?} must be between 1 s and 366 d"))?;
    Ok(Duration::from_secs(total))
}

/// A duration in words for messages: `24 h`, `6 min`, `90 s`.
fn spoken(d: Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(86_400) && s >= 2 * 86_400 {
        format!("{} d", s / 86_400)
    } else if s.is_multiple_of(3600) {
        format!("{} h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}

impl Signature {
    /// The rule ID it is judged under.
    pub fn rule_id(&self) -> String {
        format!("log.{}", self.id)
    }

    /// What the log gatherer scans for.
    ///
    /// # Errors
    ///
    /// The window does not parse (see [`parse_window`]).
    pub fn pattern(&self) -> Result<Pattern, String> {
        Ok(Pattern {
            id: self.id.clone(),
            sources: self.sources.clone(),
            regex: self.regex.clone(),
            window: parse_window(&self.window)?,
        })
    }

    /// The rule `log.<id>`: skip when its sources could not be read (or the document has no
    /// log scan), the signature's status from `at_least` matches (lasting so long), else pass.
    ///
    /// # Errors
    ///
    /// The ID is not lowercase words joined by `_`, no source is named, `status` is not `warn` or
    /// `fail`, `at_least` is 0, or the window or `lasting` does not parse; the message names the
    /// signature.
    pub fn rule(&self) -> Result<Rule, String> {
        let ok_id = !self.id.is_empty()
            && self
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok_id {
            return Err(format!(
                "signature id {:?} must be lowercase words joined by _ (e.g. db_login_refused)",
                self.id
            ));
        }
        if self.sources.is_empty() {
            return Err(format!("signature {:?} names no sources", self.id));
        }
        if !matches!(self.status, Verdict::Warn | Verdict::Fail) {
            return Err(format!(
                "signature {:?}: status must be warn or fail",
                self.id
            ));
        }
        if self.at_least == 0 {
            return Err(format!(
                "signature {:?}: at_least must be 1 or more",
                self.id
            ));
        }
        let window =
            parse_window(&self.window).map_err(|e| format!("signature {:?}: {e}", self.id))?;
        let fact = format!("logs.signatures.{}", self.id);
        let sources: Vec<&str> = self.sources.iter().map(|s| s.as_str()).collect();
        let mut when = vec![json!({"path": "count", "number": format!(">= {}", self.at_least)})];
        let mut expected = if self.at_least == 1 {
            format!("no match in the last {}", spoken(window))
        } else {
            format!(
                "fewer than {} matches in the last {}",
                self.at_least,
                spoken(window)
            )
        };
        if let Some(lasting) = &self.lasting {
            let d = parse_window(lasting).map_err(|e| format!("signature {:?}: {e}", self.id))?;
            when.push(json!({"path": "span_s", "number": format!(">= {}s", d.as_secs())}));
            expected = format!("{expected} lasting {}", spoken(d));
        }
        let pass = if self.at_least == 1 {
            format!("no match in the last {} ({{{{read}}}})", spoken(window))
        } else {
            format!(
                "{{{{count}}}} matches in the last {}, fewer than {} ({{{{read}}}})",
                spoken(window),
                self.at_least
            )
        };
        let status = match self.status {
            Verdict::Warn => "warn",
            _ => "fail",
        };
        let rule = json!({
            "id": self.rule_id(),
            "title": self.title,
            "fact": fact,
            "observed": "{{count}}",
            "expected": expected,
            "outcomes": [
                {"status": "skip", "when": {"present": false},
                 "message": "this facts document has no log scan (it predates log signatures)"},
                {"status": "skip", "when": {"available": false},
                 "message": format!("cannot read its logs ({}): {{{{${fact}|reason}}}}", sources.join(", "))},
                {"status": status, "when": {"all": when}, "message": self.message},
                {"status": "pass", "message": pass},
            ],
            "remedy": self.remedy,
            "doc": self.doc,
            "profiles": self.profiles.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "requires": self.requires,
        });
        let text = serde_json::to_string(&rule).map_err(|e| e.to_string())?;
        serde_saphyr::from_str::<Rule>(&text).map_err(|e| {
            format!(
                "signature {:?}: {}",
                self.id,
                crate::located::yaml_message(&e)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default set's kernel signatures count real disks, not loop, RAM or network block
    /// devices (a loop device's error says nothing of the drive under the client's data).
    #[test]
    fn block_io_errors_count_disks_only() {
        use crate::facts::logs::{Dating, LogSource, Scanner, SourceText};
        let set = crate::rules::RuleSet::embedded().unwrap();
        let scanner = Scanner::new(set.patterns()).unwrap();
        let count = |line: &str| {
            let f = scanner.scan(
                &[SourceText {
                    source: LogSource::Kernel,
                    name: "k".into(),
                    text: format!("2026-12-01T11:00:00Z {line}\n").into_bytes(),
                    dating: Dating::Leading,
                }],
                &[],
                time::macros::datetime!(2026-12-01 12:00:00 UTC),
                "test",
            );
            match &f.signatures["block_io_error"] {
                crate::facts::Fact::Available(s) => s.count,
                other => panic!("{other:?}"),
            }
        };
        for disk in ["sda", "vdb", "nvme0n1", "xvda", "dm-0", "md127", "mmcblk0"] {
            assert_eq!(
                count(&format!("I/O error, dev {disk}, sector 8 op 0x0:(READ)")),
                1,
                "{disk}"
            );
        }
        assert_eq!(
            count("Buffer I/O error on dev sdb1, logical block 0, async page read"),
            1
        );
        for other in ["loop7", "ram0", "zram0", "nbd0", "sr0"] {
            assert_eq!(
                count(&format!("I/O error, dev {other}, sector 8 op 0x0:(READ)")),
                0,
                "{other}"
            );
        }
    }

    #[test]
    fn a_count_below_the_threshold_is_said_as_a_count() {
        let s: Signature = serde_saphyr::from_str(
            "id: many\ntitle: t\nsources: [kernel]\nregex: x+y\nat_least: 100\nmessage: m\nremedy: r\ndoc: d\n",
        )
        .unwrap();
        let rule = s.rule().unwrap();
        let facts =
            serde_json::json!({"logs": {"signatures": {"many": {"count": 136, "read": ["k"]}}}});
        let pass = &rule.outcomes[3].value.message;
        assert_eq!(
            pass.render(&facts, "logs.signatures.many"),
            "136 matches in the last 24 h, fewer than 100 (k)"
        );
    }

    #[test]
    fn windows_are_whole_units_in_range() {
        assert_eq!(parse_window("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_window("6min"), Ok(Duration::from_secs(360)));
        assert_eq!(parse_window("7d"), Ok(Duration::from_secs(604_800)));
        for bad in ["", "h", "24", "0h", "1.5h", "999999999999999d", "5y"] {
            assert!(parse_window(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_signature_becomes_its_rule_and_pattern() {
        let s: Signature = serde_saphyr::from_str(
            "id: db_login_refused\ntitle: t\nsources: [coreapp]\nregex: 'Access denied'\nmessage: '{{count}} refused'\nremedy: r\ndoc: https://x\nlasting: 6min\n",
        )
        .unwrap();
        let rule = s.rule().unwrap();
        assert_eq!(rule.id, "log.db_login_refused");
        assert_eq!(rule.fact, "logs.signatures.db_login_refused");
        assert_eq!(rule.outcomes.len(), 4);
        assert_eq!(
            rule.outcomes[2].value.when.as_ref().unwrap().describe(),
            "all of (count >= 1; span >= 360 s)"
        );
        assert_eq!(s.pattern().unwrap().window, Duration::from_secs(86_400));
        let bad: Signature = serde_saphyr::from_str(
            "id: Bad-Id\ntitle: t\nsources: [coreapp]\nregex: x\nmessage: m\nremedy: r\ndoc: d\n",
        )
        .unwrap();
        assert!(bad.rule().is_err());
    }
}
