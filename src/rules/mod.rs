//! Rules: data that judges facts.
//!
//! Rules are YAML (`rules/onprem.yaml` is embedded as the default set). Each rule reads one fact
//! and walks an ordered list of outcomes; the first whose `when` holds gives the status and
//! message. Evaluation (`eval`) is a pure function of the facts document, so every rule can be
//! tested from a fixture without any service.

pub mod condition;
pub mod eval;
pub mod paths;
mod result;
pub mod signatures;
pub mod template;
mod waiver;

use std::collections::HashSet;
use std::fmt;

use serde::Deserialize;
use serde_saphyr::Spanned;
use sha2::Digest;

use crate::located::LocatedError;
use crate::value::quantity::{Dimension, field_unit};
use condition::{Condition, Matcher, join_path};
pub use result::{RuleResult, Status};
use template::Template;
pub use waiver::{AppliedWaiver, Waiver};

/// The default rule set, compiled into the binary.
pub const EMBEDDED_RULES: &str = include_str!("../../rules/onprem.yaml");
/// The name the embedded set is reported under in errors.
pub const EMBEDDED_NAME: &str = "<embedded>/rules/onprem.yaml";

/// Which kind of installation the checks are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// A production host: sizing and database placement rules apply.
    Production,
    /// A developer or test host: sizing and placement rules are skipped.
    Development,
}

impl Profile {
    /// Every profile, in the order the command line lists them.
    pub const ALL: [Profile; 2] = [Profile::Production, Profile::Development];

    /// The name in flags, the config and reports: `production`, `development`.
    pub const fn name(self) -> &'static str {
        match self {
            Profile::Production => "production",
            Profile::Development => "development",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A profile name that is none of [`Profile::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown profile {0:?}: give production or development")]
pub struct UnknownProfile(pub String);

impl std::str::FromStr for Profile {
    type Err = UnknownProfile;

    /// The exact [`Profile::name`] (as `--profile` and the config's `profile:` take it).
    fn from_str(s: &str) -> Result<Profile, UnknownProfile> {
        Profile::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| UnknownProfile(s.to_string()))
    }
}

/// The statuses a rule's outcome can give. `skip` is for a state that makes the rule moot
/// (a container without an expiry label); `error` and `waived` come from evaluation only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The requirement is met.
    Pass,
    /// A documented deviation known to work: visible, never changes the exit code.
    Info,
    /// Works, but needs attention (exit code 4).
    Warn,
    /// The requirement is not met (exit code 3).
    Fail,
    /// Moot in this state; counts as no action needed.
    Skip,
}

impl From<Verdict> for Status {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Pass => Status::Pass,
            Verdict::Info => Status::Info,
            Verdict::Warn => Status::Warn,
            Verdict::Fail => Status::Fail,
            Verdict::Skip => Status::Skip,
        }
    }
}

/// One entry of a rule's ordered outcome list.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// The status this outcome gives when it is the first whose `when` holds.
    pub status: Verdict,
    /// Absent: always matches (the usual last entry).
    pub when: Option<Condition>,
    /// The result's message; `{…}` placeholders are filled from the fact.
    pub message: Template,
}

/// A rule as written in YAML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Stable dotted ID that users cite, waive and alert on.
    pub id: String,
    /// What the rule checks, in a few words, for the report's `title`.
    pub title: String,
    /// Dotted path of the fact the rule reads (`host.kernel`).
    pub fact: String,
    /// The fact is a list: judge each item, report the worst.
    #[serde(default)]
    pub each: bool,
    /// With `each`: judge only the items for which this condition holds.
    #[serde(rename = "where")]
    pub filter: Option<Condition>,
    /// What was seen, for the report's `observed` column.
    pub observed: Option<Template>,
    /// What is required, in words, for the report's `expected` column.
    pub expected: Option<String>,
    /// Ordered outcomes: the first whose `when` holds gives the status and message; located for
    /// errors.
    pub outcomes: Vec<Spanned<Outcome>>,
    /// What to do when the rule does not pass; None when there is nothing more to say than the
    /// message.
    pub remedy: Option<String>,
    /// Where the requirement is documented.
    pub doc: Option<String>,
    /// The profiles the rule applies under (default both); under another it is `skip`.
    #[serde(default = "all_profiles")]
    pub profiles: Vec<Profile>,
    /// Rules that must pass for this one to be meaningful; if one did not, this rule is
    /// `skip` with that reason. They must be defined earlier in the set.
    #[serde(default)]
    pub requires: Vec<String>,
}

fn all_profiles() -> Vec<Profile> {
    vec![Profile::Production, Profile::Development]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    rules: Vec<Spanned<Rule>>,
    /// What the network gatherer tries; a later file's section replaces an earlier one's.
    network: Option<crate::facts::network::NetworkSection>,
    /// Known failures in the logs; each becomes a rule `log.<id>`.
    #[serde(default)]
    signatures: Vec<Spanned<signatures::Signature>>,
}

/// Where a rule came from, for located errors and `preflight explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The rules file's name as given (`<embedded>/rules/onprem.yaml` for the built-in set).
    pub source_name: String,
    /// Line of the rule in that file, from 1.
    pub line: u64,
    /// Column of the rule in that file, from 1.
    pub column: u64,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.source_name, self.line, self.column)
    }
}

/// An ordered, validated set of rules.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<(Rule, Origin)>,
    network: Option<crate::facts::network::NetworkSection>,
    /// What the log gatherer scans for, one per `log.*` rule.
    patterns: Vec<crate::facts::logs::Pattern>,
    /// SHA-256 of each rules file's text, in the order they were loaded.
    sources: Vec<[u8; 32]>,
}

impl RuleSet {
    /// The default rules compiled into the binary.
    ///
    /// # Errors
    ///
    /// Never for the shipped rules (a unit test loads them); a [`LocatedError`] in
    /// `<embedded>/rules/onprem.yaml` only if the embedded file were broken.
    pub fn embedded() -> Result<RuleSet, LocatedError> {
        RuleSet::from_facts_yaml(EMBEDDED_NAME, EMBEDDED_RULES)
    }

    /// Parses and validates one rules file that judges the facts document: besides
    /// [`RuleSet::from_yaml`]'s checks, every path a rule reads must name something in the
    /// facts schema (see [`paths`]); the error is located at the rule or its outcome.
    ///
    /// # Errors
    ///
    /// As [`RuleSet::from_yaml`], and a path a rule reads that is not in the facts schema, located
    /// at the rule or its outcome.
    pub fn from_facts_yaml(source_name: &str, text: &str) -> Result<RuleSet, LocatedError> {
        let set = RuleSet::from_yaml(source_name, text)?;
        for (rule, origin) in &set.rules {
            check_paths(rule).map_err(|(at, message)| match at {
                Some(loc) => LocatedError::at(source_name, loc, message),
                None => LocatedError {
                    source_name: origin.source_name.clone(),
                    line: origin.line,
                    column: origin.column,
                    message,
                },
            })?;
        }
        Ok(set)
    }

    /// Parses and validates one rules file, for any document shape (the evaluator's own
    /// tests judge small made-up documents); rules for the facts document load with
    /// [`RuleSet::from_facts_yaml`].
    ///
    /// # Errors
    ///
    /// A [`LocatedError`] at `source_name:line:col`: malformed YAML or an unknown key, a rule ID
    /// defined twice in the file, an invalid rule (a bad condition, regex, template or unit), a
    /// signature whose window or regex does not parse, or a `requires` that names an unknown or
    /// later rule.
    pub fn from_yaml(source_name: &str, text: &str) -> Result<RuleSet, LocatedError> {
        let file: RuleFile =
            serde_saphyr::from_str(text).map_err(|e| LocatedError::from_yaml(source_name, &e))?;
        let mut set = RuleSet {
            network: file.network,
            sources: vec![sha2::Sha256::digest(text.as_bytes()).into()],
            ..RuleSet::default()
        };
        let mut seen = HashSet::new();
        for spanned in file.rules {
            let loc = spanned.referenced;
            let origin = Origin {
                source_name: source_name.to_string(),
                line: loc.line(),
                column: loc.column(),
            };
            let rule = spanned.value;
            if !seen.insert(rule.id.clone()) {
                return Err(LocatedError::at(
                    source_name,
                    &loc,
                    format!("rule {:?} is defined twice in this file", rule.id),
                ));
            }
            check_rule(&rule).map_err(|m| LocatedError::at(source_name, &loc, m))?;
            set.rules.push((rule, origin));
        }
        for spanned in file.signatures {
            let loc = spanned.referenced;
            let sig = spanned.value;
            let at = |m: String| LocatedError::at(source_name, &loc, m);
            let rule = sig.rule().map_err(at)?;
            let pattern = sig.pattern().map_err(at)?;
            crate::facts::logs::Scanner::new(std::slice::from_ref(&pattern))
                .map_err(|e| at(e.to_string()))?;
            if !seen.insert(rule.id.clone()) {
                return Err(at(format!(
                    "rule {:?} is defined twice in this file",
                    rule.id
                )));
            }
            check_rule(&rule).map_err(at)?;
            let origin = Origin {
                source_name: source_name.to_string(),
                line: loc.line(),
                column: loc.column(),
            };
            set.rules.push((rule, origin));
            set.patterns.push(pattern);
        }
        set.check_requires()?;
        Ok(set)
    }

    /// Adds the rules of `other`; a rule with an existing ID replaces it in place.
    ///
    /// # Errors
    ///
    /// A [`LocatedError`] at the requiring rule when, after merging, a `requires` names a rule that
    /// is unknown or comes later.
    pub fn merge(&mut self, other: RuleSet) -> Result<(), LocatedError> {
        if other.network.is_some() {
            self.network = other.network;
        }
        for pattern in other.patterns {
            match self.patterns.iter_mut().find(|p| p.id == pattern.id) {
                Some(slot) => *slot = pattern,
                None => self.patterns.push(pattern),
            }
        }
        self.sources.extend(other.sources);
        for (rule, origin) in other.rules {
            match self.rules.iter_mut().find(|(r, _)| r.id == rule.id) {
                Some(slot) => *slot = (rule, origin),
                None => self.rules.push((rule, origin)),
            }
        }
        self.check_requires()
    }

    fn check_requires(&self) -> Result<(), LocatedError> {
        let mut earlier: HashSet<&str> = HashSet::new();
        let all: HashSet<&str> = self.rules.iter().map(|(r, _)| r.id.as_str()).collect();
        for (rule, origin) in &self.rules {
            for req in &rule.requires {
                if !earlier.contains(req.as_str()) {
                    let why = if all.contains(req.as_str()) {
                        "is defined after it; prerequisites must come first"
                    } else {
                        "is not a known rule"
                    };
                    return Err(LocatedError {
                        source_name: origin.source_name.clone(),
                        line: origin.line,
                        column: origin.column,
                        message: format!("rule {:?} requires {req:?}, which {why}", rule.id),
                    });
                }
            }
            earlier.insert(&rule.id);
        }
        Ok(())
    }

    /// The rules in evaluation order.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().map(|(r, _)| r)
    }

    /// A rule and where it was defined.
    pub fn get(&self, id: &str) -> Option<(&Rule, &Origin)> {
        self.rules
            .iter()
            .find(|(r, _)| r.id == id)
            .map(|(r, o)| (r, o))
    }

    /// Whether a rule with this ID exists.
    pub fn contains(&self, id: &str) -> bool {
        self.get(id).is_some()
    }

    /// The log signatures' patterns, for the log gatherer.
    pub fn patterns(&self) -> &[crate::facts::logs::Pattern] {
        &self.patterns
    }

    /// Which rules are in force, for `wa_preflight_build_info{rules_version}`: the first 12 hex
    /// digits of the SHA-256 over the SHA-256 of each rules file's text in load order (the
    /// embedded file, then each `--rules` file). Equal on hosts running the same rules; any
    /// edit changes it.
    pub fn version(&self) -> String {
        let mut h = sha2::Sha256::new();
        for s in &self.sources {
            h.update(s);
        }
        h.finalize()
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The `network:` section: WhatsApp hosts to try and the step timeout.
    pub fn network(&self) -> Option<&crate::facts::network::NetworkSection> {
        self.network.as_ref()
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether the set has no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// Every path the rule reads (its `fact`, the `path` of each condition in `where` and the
/// outcomes, each template placeholder) must name something in the facts schema. The error
/// carries the outcome's location when the path is in one.
fn check_paths(rule: &Rule) -> Result<(), (Option<&serde_saphyr::Location>, String)> {
    let schema = paths::FactPaths::facts();
    let root = schema.root();
    let id = &rule.id;
    let fact = schema
        .walk(&root, &rule.fact, "")
        .map_err(|e| (None, format!("rule {id:?}: fact {}: {e}", rule.fact)))?;
    let (base, shown) = if rule.each {
        let items = schema.items(&fact);
        if items.is_empty() {
            return Err((
                None,
                format!(
                    "rule {id:?}: fact {} is not a list, but the rule says `each`",
                    rule.fact
                ),
            ));
        }
        (items, format!("{}[]", rule.fact))
    } else {
        (fact, rule.fact.clone())
    };
    let check_condition = |c: &Condition| {
        let mut problem = None;
        c.visit_tests(&mut |path, _| {
            if problem.is_none()
                && let Err(e) = schema.walk(&base, path, &shown)
            {
                problem = Some(format!("rule {id:?}: condition path {path:?}: {e}"));
            }
        });
        problem.map_or(Ok(()), Err)
    };
    let check_template = |t: &Template| {
        for (path, absolute) in paths::placeholders(t.source()) {
            let walked = if absolute {
                schema.walk(&root, path, "")
            } else {
                schema.walk(&base, path, &shown)
            };
            if let Err(e) = walked {
                let shown_path = if absolute {
                    format!("${path}")
                } else {
                    path.to_string()
                };
                return Err(format!(
                    "rule {id:?}: placeholder {{{{{shown_path}}}}}: {e}"
                ));
            }
        }
        Ok(())
    };
    if let Some(f) = &rule.filter {
        check_condition(f).map_err(|m| (None, m))?;
    }
    if let Some(t) = &rule.observed {
        check_template(t).map_err(|m| (None, m))?;
    }
    for o in &rule.outcomes {
        let at = Some(&o.referenced);
        if let Some(w) = &o.value.when {
            check_condition(w).map_err(|m| (at, m))?;
        }
        check_template(&o.value.message).map_err(|m| (at, m))?;
    }
    Ok(())
}

/// Load-time checks that serde cannot express.
fn check_rule(rule: &Rule) -> Result<(), String> {
    let id_ok = rule.id.split('.').count() >= 2
        && rule.id.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        });
    if !id_ok {
        return Err(format!(
            "rule id {:?} must be dotted lowercase words (e.g. host.kernel)",
            rule.id
        ));
    }
    if rule.fact.trim().is_empty() {
        return Err(format!("rule {:?} has an empty `fact`", rule.id));
    }
    if rule.filter.is_some() && !rule.each {
        return Err(format!("rule {:?} has `where` without `each`", rule.id));
    }
    if rule.outcomes.is_empty() {
        return Err(format!("rule {:?} has no outcomes", rule.id));
    }
    let mut problem = None;
    for outcome in &rule.outcomes {
        if let Some(when) = &outcome.value.when {
            when.visit_tests(&mut |path, matcher| {
                if let Matcher::Number(cmp) = matcher {
                    let full = join_path(&rule.fact, path);
                    let (dim, _) = field_unit(&full);
                    let ok = dim == cmp.dimension
                        || (cmp.dimension == Dimension::Plain && dim == Dimension::Plain);
                    if !ok && problem.is_none() {
                        problem = Some(format!(
                            "rule {:?}: {full} is {dim} but the condition {:?} is {}",
                            rule.id,
                            cmp.to_string(),
                            cmp.dimension
                        ));
                    }
                }
            });
        }
    }
    problem.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_rules_load() {
        let set = RuleSet::embedded().unwrap_or_else(|e| panic!("{e}"));
        for id in [
            "host.kernel",
            "host.glibc",
            "host.libseccomp",
            "host.platform",
            "host.cpu",
            "host.memory",
            "host.disk.size",
            "host.disk.ssd",
        ] {
            assert!(set.contains(id), "{id} missing");
        }
    }

    #[test]
    fn located_errors() {
        let bad = "rules:\n  - id: host.x\n    title: t\n    fact: host.cpu\n    outcomes:\n      - status: fail\n        when: {path: logical, number: '< 4GB'}\n        message: m\n";
        let err = RuleSet::from_yaml("r.yaml", bad).unwrap_err();
        assert_eq!((err.source_name.as_str(), err.line), ("r.yaml", 2), "{err}");
        assert!(err.message.contains("is a plain number"), "{err}");

        let bad = "rules:\n  - id: host.x\n    title: t\n    fact: host.cpu\n    outcomes:\n      - status: maybe\n        message: m\n";
        let err = RuleSet::from_yaml("r.yaml", bad).unwrap_err();
        assert_eq!(err.line, 6, "{err}");

        let bad = "rules:\n  - id: Host\n    title: t\n    fact: host.cpu\n    outcomes:\n      - status: pass\n        message: m\n";
        assert!(
            RuleSet::from_yaml("r.yaml", bad)
                .unwrap_err()
                .message
                .contains("dotted")
        );

        let bad = "rules:\n  - id: host.x\n    title: t\n    fact: host.cpu\n    requires: [host.y]\n    outcomes:\n      - status: pass\n        message: m\n";
        assert!(
            RuleSet::from_yaml("r.yaml", bad)
                .unwrap_err()
                .message
                .contains("not a known rule")
        );
    }

    #[test]
    fn paths_outside_the_facts_schema_are_located_errors() {
        let rule = |fact: &str, each: bool, extra: &str, when: &str, message: &str| {
            format!(
                "rules:\n  - id: site.x\n    title: t\n    fact: {fact}\n    each: {each}\n{extra}    outcomes:\n      - status: pass\n        when: {when}\n        message: \"{message}\"\n"
            )
        };
        let load = |text: String| RuleSet::from_facts_yaml("r.yaml", &text);
        // Good: a nested field, a list item's field, a map key, an absolute placeholder.
        load(rule(
            "host.kernel",
            false,
            "",
            "{path: release, present: true}",
            "{{release}}",
        ))
        .unwrap();
        load(rule(
            "docker.wa.containers",
            true,
            "    where: {path: name, present: true}\n",
            "{path: env.WA_DB_ENGINE, present: true}",
            "{{name}} on {{$host.kernel.release|raw}}",
        ))
        .unwrap();
        load(rule(
            "host.storage",
            true,
            "",
            "{path: device.disks.0.rotational, equals: true}",
            "x",
        ))
        .unwrap();
        // The fact.
        let e = load(rule(
            "host.kernal",
            false,
            "",
            "{path: release, present: true}",
            "x",
        ))
        .unwrap_err();
        assert_eq!((e.line, e.column), (2, 5), "{e}");
        assert!(e.message.contains("host has no field \"kernal\""), "{e}");
        assert!(e.message.contains("kernel"), "{e}");
        // A condition path, located at its outcome.
        let e = load(rule(
            "host.kernel",
            false,
            "",
            "{path: releese, present: true}",
            "x",
        ))
        .unwrap_err();
        assert_eq!(e.line, 7, "{e}");
        assert!(e.message.contains("releese"), "{e}");
        // Inside `any`/`not`, in `where`, in the message and with `$`.
        for (extra, when, message, needle) in [
            (
                "",
                "{any: [{path: name, present: true}, {not: {path: nope, present: true}}]}",
                "x",
                "nope",
            ),
            (
                "    where: {path: nmae, present: true}\n",
                "{path: name, present: true}",
                "x",
                "nmae",
            ),
            ("", "{path: name, present: true}", "{{imgae}}", "imgae"),
            (
                "",
                "{path: name, present: true}",
                "{{$host.kernel.relase}}",
                "relase",
            ),
        ] {
            let e = load(rule("docker.wa.containers", true, extra, when, message)).unwrap_err();
            assert!(e.message.contains(needle), "{needle}: {e}");
        }
        // `each` on something that is not a list.
        let e = load(rule(
            "host.kernel",
            true,
            "",
            "{path: release, present: true}",
            "x",
        ))
        .unwrap_err();
        assert!(e.message.contains("not a list"), "{e}");
        // from_yaml stays shape-agnostic (the evaluator's tests use made-up documents).
        RuleSet::from_yaml(
            "r.yaml",
            &rule("made.up", false, "", "{path: x, present: true}", "x"),
        )
        .unwrap();
    }

    #[test]
    fn merge_overrides_by_id() {
        let mut set = RuleSet::embedded().unwrap();
        let n = set.len();
        let extra = "rules:\n  - id: host.cpu\n    title: overridden\n    fact: host.cpu\n    outcomes:\n      - status: pass\n        message: m\n  - id: site.extra\n    title: t\n    fact: host.cpu\n    outcomes:\n      - status: pass\n        message: m\n";
        set.merge(RuleSet::from_yaml("site.yaml", extra).unwrap())
            .unwrap();
        assert_eq!(set.len(), n + 1);
        let (rule, origin) = set.get("host.cpu").unwrap();
        assert_eq!(rule.title, "overridden");
        assert_eq!(origin.source_name, "site.yaml");
    }
}
