//! The one condition vocabulary every rule uses.
//!
//! A condition tests a value found at a dotted `path` below the rule's fact with exactly one
//! matcher (`version`, `number`, `equals`, `one_of`, `regex`, `present`, `available`), or
//! combines conditions with `all`, `any` and `not`.
//!
//! Facts can be unavailable, so evaluation is three-valued: a test on an unavailable fact is
//! *unknown*. `any` is true as soon as one branch is true and `all` false as soon as one is
//! false (Kleene logic), so a rule can still decide when the missing fact would not change the
//! answer; otherwise the unknown reaches the rule, which then reports `error` — never `pass`.

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

use crate::facts::unavailable_reason;

use crate::value::quantity::{NumberCmp, field_unit};
use crate::value::version::{Version, VersionReq};

/// Where a path lookup in the facts document ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved<'a> {
    /// A value (possibly JSON `null`).
    Value(&'a Value),
    /// The path leads nowhere: the document has no such field.
    Missing,
    /// A fact on the way is recorded as unavailable; `path` names it.
    Unavailable {
        /// The dotted path of the unavailable fact.
        path: String,
        /// Why it could not be read, as the facts document records it.
        reason: String,
    },
}

/// Joins a rule's fact path and a condition's relative path.
pub fn join_path(base: &str, rel: &str) -> String {
    match (base.is_empty(), rel.is_empty()) {
        (_, true) => base.to_string(),
        (true, false) => rel.to_string(),
        _ => format!("{base}.{rel}"),
    }
}

/// Looks up a dotted path (`host.kernel.version`, `disks.0.name`) below `root`.
pub fn resolve<'a>(root: &'a Value, path: &str) -> Resolved<'a> {
    let mut cur = root;
    let mut walked = String::new();
    for seg in path.split('.').filter(|s| !s.is_empty()) {
        if let Some(reason) = unavailable_reason(cur) {
            return Resolved::Unavailable {
                path: walked,
                reason: reason.to_string(),
            };
        }
        let next = match cur {
            Value::Object(map) => map.get(seg),
            Value::Array(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        match next {
            Some(v) => cur = v,
            None => return Resolved::Missing,
        }
        walked = join_path(&walked, seg);
    }
    match unavailable_reason(cur) {
        Some(reason) => Resolved::Unavailable {
            path: walked,
            reason: reason.to_string(),
        },
        None => Resolved::Value(cur),
    }
}

/// Three-valued truth.
#[derive(Debug, Clone, PartialEq)]
pub enum Truth {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// Could not be decided; the reason names the unavailable fact.
    Unknown(String),
}

impl Truth {
    fn from_bool(b: bool) -> Truth {
        if b { Truth::True } else { Truth::False }
    }
}

/// A rule bug found while evaluating (e.g. comparing a number with a string).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {why}")]
pub struct EvalError {
    /// The full dotted path of the value the condition tested (`host.kernel.version`).
    pub path: String,
    /// What was wrong, in words (`expected a number, found string`).
    pub why: String,
}

/// One matcher of the vocabulary.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// `version: ">= 4.11"`: the value (a string or number) holds a version that satisfies the
    /// requirement.
    Version(VersionReq),
    /// `number: ">= 250GB"`: the value, a number in the unit of its field's name suffix, compares
    /// so.
    Number(NumberCmp),
    /// `equals: V`: the value is this JSON value.
    Equals(Value),
    /// `one_of: [V, …]`: the value is one of these.
    OneOf(Vec<Value>),
    /// `regex: "…"`: the value, a string, matches (anywhere, unless anchored).
    Regex(Regex),
    /// `present: true|false`: the field exists and is not null (an unavailable fact counts as
    /// present).
    Present(bool),
    /// `available: true|false`: the fact could be read (a missing field counts as not available).
    Available(bool),
    /// A list holds this value.
    Contains(Value),
    /// A list's length compares so.
    Count(NumberCmp),
}

/// A parsed condition.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawCondition")]
pub enum Condition {
    /// `all: [...]`: every condition holds (false as soon as one is false).
    All(Vec<Condition>),
    /// `any: [...]`: one condition holds (true as soon as one is true).
    Any(Vec<Condition>),
    /// `not: {...}`: the condition does not hold; unknown stays unknown.
    Not(Box<Condition>),
    /// One matcher applied to the value at `path`, relative to the rule's fact.
    Test {
        /// Dotted path below the rule's fact (empty: the fact itself).
        path: String,
        /// How the value is tested.
        matcher: Matcher,
    },
}

/// The YAML form: a mapping with either one combinator or an optional `path` and one matcher.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    #[serde(default)]
    path: String,
    all: Option<Vec<Condition>>,
    any: Option<Vec<Condition>>,
    not: Option<Box<Condition>>,
    version: Option<String>,
    number: Option<String>,
    equals: Option<Value>,
    one_of: Option<Vec<Value>>,
    regex: Option<String>,
    present: Option<bool>,
    available: Option<bool>,
    contains: Option<Value>,
    count: Option<String>,
}

impl TryFrom<RawCondition> for Condition {
    type Error = String;

    fn try_from(raw: RawCondition) -> Result<Self, Self::Error> {
        let mut found: Vec<(&str, Condition)> = Vec::new();
        let path = raw.path.clone();
        let test = |matcher| Condition::Test {
            path: path.clone(),
            matcher,
        };
        if let Some(c) = raw.all {
            found.push(("all", Condition::All(c)));
        }
        if let Some(c) = raw.any {
            found.push(("any", Condition::Any(c)));
        }
        if let Some(c) = raw.not {
            found.push(("not", Condition::Not(c)));
        }
        if let Some(s) = raw.version {
            let req = VersionReq::parse(&s).map_err(|e| e.to_string())?;
            found.push(("version", test(Matcher::Version(req))));
        }
        if let Some(s) = raw.number {
            let cmp = NumberCmp::parse(&s).map_err(|e| e.to_string())?;
            found.push(("number", test(Matcher::Number(cmp))));
        }
        if let Some(v) = raw.equals {
            found.push(("equals", test(Matcher::Equals(v))));
        }
        if let Some(v) = raw.one_of {
            found.push(("one_of", test(Matcher::OneOf(v))));
        }
        if let Some(s) = raw.regex {
            let re = Regex::new(&s).map_err(|e| format!("invalid regex {s:?}: {e}"))?;
            found.push(("regex", test(Matcher::Regex(re))));
        }
        if let Some(b) = raw.present {
            found.push(("present", test(Matcher::Present(b))));
        }
        if let Some(b) = raw.available {
            found.push(("available", test(Matcher::Available(b))));
        }
        if let Some(v) = raw.contains {
            found.push(("contains", test(Matcher::Contains(v))));
        }
        if let Some(s) = raw.count {
            let cmp = NumberCmp::parse(&s).map_err(|e| e.to_string())?;
            if cmp.dimension != crate::value::quantity::Dimension::Plain {
                return Err(format!("count {s:?} takes a plain number"));
            }
            found.push(("count", test(Matcher::Count(cmp))));
        }
        let combinator = matches!(found.first(), Some((k, _)) if ["all", "any", "not"].contains(k));
        match found.len() {
            0 => Err("a condition needs one of: all, any, not, version, number, equals, one_of, regex, present, available, contains, count".into()),
            1 if combinator && !raw.path.is_empty() => {
                Err("`path` goes on the conditions inside all/any/not, not on the combinator".into())
            }
            1 => Ok(found.remove(0).1),
            _ => {
                let keys: Vec<&str> = found.iter().map(|(k, _)| *k).collect();
                Err(format!(
                    "a condition takes exactly one of these, found {}: wrap several in `all:`",
                    keys.join(", ")
                ))
            }
        }
    }
}

impl Condition {
    /// The condition in words, with its thresholds, for `preflight explain`:
    /// `p95_us > 20ms`, `version matches >=2.3.3, <2.3.4`, `all of (…; …)`.
    pub fn describe(&self) -> String {
        // `latency.p95_us` reads `latency.p95`: the threshold carries the unit.
        let subject = |path: &str| {
            if path.is_empty() {
                return "the fact".to_string();
            }
            ["_us", "_ms", "_bytes", "_s"]
                .iter()
                .find_map(|unit| path.strip_suffix(unit))
                .unwrap_or(path)
                .to_string()
        };
        match self {
            Condition::All(items) => format!("all of ({})", describe_each(items)),
            Condition::Any(items) => format!("any of ({})", describe_each(items)),
            Condition::Not(c) => format!("not ({})", c.describe()),
            Condition::Test { path, matcher } => {
                let p = subject(path);
                match matcher {
                    Matcher::Version(req) => format!("{p} version matches {req}"),
                    Matcher::Number(cmp) => format!("{p} {}", spaced(&cmp.to_string())),
                    Matcher::Equals(v) => format!("{p} is {v}"),
                    Matcher::OneOf(vs) => {
                        let vs: Vec<String> = vs.iter().map(Value::to_string).collect();
                        format!("{p} is one of {}", vs.join(", "))
                    }
                    Matcher::Regex(re) => format!("{p} matches /{}/", re.as_str()),
                    Matcher::Present(true) => format!("{p} is present"),
                    Matcher::Present(false) => format!("{p} is absent"),
                    Matcher::Available(true) => format!("{p} could be read"),
                    Matcher::Available(false) => format!("{p} could not be read"),
                    Matcher::Contains(v) => format!("{p} contains {v}"),
                    Matcher::Count(cmp) => format!("the number of {p} {cmp}"),
                }
            }
        }
    }

    /// Evaluates against the facts document; `base` is the rule's fact path for this item.
    ///
    /// # Errors
    ///
    /// [`EvalError`] for a rule bug: the path names no field of the facts document, or the value
    /// has the wrong type for the matcher (a string for `number`, a number for `regex`).
    pub fn eval(&self, root: &Value, base: &str) -> Result<Truth, EvalError> {
        match self {
            Condition::All(items) => {
                let mut unknown = None;
                for c in items {
                    match c.eval(root, base)? {
                        Truth::False => return Ok(Truth::False),
                        Truth::Unknown(r) => unknown = unknown.or(Some(r)),
                        Truth::True => {}
                    }
                }
                Ok(unknown.map_or(Truth::True, Truth::Unknown))
            }
            Condition::Any(items) => {
                let mut unknown = None;
                for c in items {
                    match c.eval(root, base)? {
                        Truth::True => return Ok(Truth::True),
                        Truth::Unknown(r) => unknown = unknown.or(Some(r)),
                        Truth::False => {}
                    }
                }
                Ok(unknown.map_or(Truth::False, Truth::Unknown))
            }
            Condition::Not(c) => Ok(match c.eval(root, base)? {
                Truth::True => Truth::False,
                Truth::False => Truth::True,
                u @ Truth::Unknown(_) => u,
            }),
            Condition::Test { path, matcher } => {
                let full = join_path(base, path);
                test(matcher, resolve(root, &full), &full)
            }
        }
    }

    /// Calls `f` with the path and matcher of every test, for load-time checks.
    pub fn visit_tests<'a>(&'a self, f: &mut dyn FnMut(&'a str, &'a Matcher)) {
        match self {
            Condition::All(items) | Condition::Any(items) => {
                items.iter().for_each(|c| c.visit_tests(f))
            }
            Condition::Not(c) => c.visit_tests(f),
            Condition::Test { path, matcher } => f(path, matcher),
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn same_type(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn test(matcher: &Matcher, found: Resolved<'_>, full: &str) -> Result<Truth, EvalError> {
    let err = |why: String| EvalError {
        path: full.to_string(),
        why,
    };
    let value = match (matcher, found) {
        (Matcher::Available(want), Resolved::Unavailable { .. }) => {
            return Ok(Truth::from_bool(!*want));
        }
        (Matcher::Available(want), Resolved::Missing) => return Ok(Truth::from_bool(!*want)),
        (Matcher::Available(want), Resolved::Value(_)) => return Ok(Truth::from_bool(*want)),
        // An unavailable fact is there (as its reason): `present` tells a missing field from
        // one that could not be read; `available` tells the two apart the other way.
        (Matcher::Present(want), Resolved::Unavailable { .. }) => {
            return Ok(Truth::from_bool(*want));
        }
        (_, Resolved::Unavailable { path, reason }) => {
            return Ok(Truth::Unknown(format!("{path} unavailable: {reason}")));
        }
        (Matcher::Present(want), Resolved::Missing) => return Ok(Truth::from_bool(!*want)),
        (Matcher::Present(want), Resolved::Value(v)) => {
            return Ok(Truth::from_bool(v.is_null() != *want));
        }
        (_, Resolved::Missing) => return Err(err("no such fact in the facts document".into())),
        (_, Resolved::Value(v)) => v,
    };
    let truth = match matcher {
        Matcher::Version(req) => {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                other => {
                    return Err(err(format!(
                        "expected a version string, found {}",
                        type_name(other)
                    )));
                }
            };
            let v = Version::parse_lenient(&text)
                .ok_or_else(|| err(format!("no version number in {text:?}")))?;
            req.matches(&v)
        }
        Matcher::Number(cmp) => {
            let n = value
                .as_f64()
                .ok_or_else(|| err(format!("expected a number, found {}", type_name(value))))?;
            let (_, factor) = field_unit(full);
            cmp.matches(n * factor)
        }
        // null means "not known": it equals nothing, and is no rule error.
        Matcher::Equals(_) | Matcher::OneOf(_) if value.is_null() => false,
        Matcher::Equals(want) => {
            if !same_type(want, value) {
                return Err(err(format!(
                    "compared {} with {}",
                    type_name(value),
                    type_name(want)
                )));
            }
            want == value
        }
        Matcher::OneOf(options) => {
            if let Some(o) = options.iter().find(|o| !same_type(o, value)) {
                return Err(err(format!(
                    "compared {} with {}",
                    type_name(value),
                    type_name(o)
                )));
            }
            options.contains(value)
        }
        Matcher::Regex(re) => {
            let s = value
                .as_str()
                .ok_or_else(|| err(format!("regex needs a string, found {}", type_name(value))))?;
            re.is_match(s)
        }
        Matcher::Contains(want) => {
            let items = value
                .as_array()
                .ok_or_else(|| err(format!("contains needs a list, found {}", type_name(value))))?;
            items.contains(want)
        }
        Matcher::Count(cmp) => {
            let items = value
                .as_array()
                .ok_or_else(|| err(format!("count needs a list, found {}", type_name(value))))?;
            cmp.matches(items.len() as f64)
        }
        Matcher::Present(_) | Matcher::Available(_) => unreachable!("handled above"),
    };
    Ok(Truth::from_bool(truth))
}

/// `> 20ms` → `> 20 ms`, `>= 250GB` → `>= 250 GB`: a number and its unit apart, as SI writes.
fn spaced(threshold: &str) -> String {
    let t = threshold.trim();
    match t.rfind(|c: char| c.is_ascii_digit() || c == '.') {
        Some(i) if i + 1 < t.len() => {
            let (number, unit) = t.split_at(i + 1);
            format!("{number} {}", unit.trim_start())
        }
        _ => t.to_string(),
    }
}

fn describe_each(items: &[Condition]) -> String {
    items
        .iter()
        .map(Condition::describe)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_read_as_words_with_their_thresholds() {
        assert_eq!(
            cond("{path: p95_us, number: '> 20ms'}").describe(),
            "p95 > 20 ms"
        );
        assert_eq!(
            cond("{path: device.drive_bytes, number: '< 250GB'}").describe(),
            "device.drive < 250 GB"
        );
        assert_eq!(
            cond("{path: logical, number: '< 4'}").describe(),
            "logical < 4"
        );
        assert_eq!(
            cond("{all: [{path: device, available: true}, {path: version, version: '<2.3.3'}]}")
                .describe(),
            "all of (device could be read; version version matches <2.3.3)"
        );
        assert_eq!(
            cond("{path: dns_failed, count: '> 0'}").describe(),
            "the number of dns_failed > 0"
        );
        assert_eq!(
            cond("{not: {path: state, one_of: [running]}}").describe(),
            "not (state is one of \"running\")"
        );
    }
    use serde_json::json;

    fn cond(yaml: &str) -> Condition {
        serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{e}"))
    }

    fn facts() -> Value {
        json!({
            "host": {
                "kernel": {"release": "3.10.0-1160.el7.x86_64", "wsl": false},
                "memory": {"total_bytes": 8_000_000_000u64},
                "glibc": {"unavailable": "no glibc: musl host"},
                "cpu": {"logical": 2, "quota": null},
                "disks": [{"name": "vda"}, {"name": "vdb"}]
            }
        })
    }

    fn eval(yaml: &str) -> Result<Truth, EvalError> {
        cond(yaml).eval(&facts(), "host")
    }

    #[test]
    fn matchers() {
        assert_eq!(
            eval("{path: kernel.release, version: '< 4.11'}"),
            Ok(Truth::True)
        );
        assert_eq!(
            eval("{path: kernel.release, regex: 'el7'}"),
            Ok(Truth::True)
        );
        assert_eq!(eval("{path: kernel.wsl, equals: false}"), Ok(Truth::True));
        assert_eq!(
            eval("{path: memory.total_bytes, number: '< 16GB'}"),
            Ok(Truth::True)
        );
        assert_eq!(
            eval("{path: memory.total_bytes, number: '>= 8GB'}"),
            Ok(Truth::True)
        );
        assert_eq!(eval("{path: cpu.logical, one_of: [1, 2]}"), Ok(Truth::True));
        assert_eq!(eval("{path: cpu.quota, present: false}"), Ok(Truth::True));
        assert_eq!(eval("{path: cpu.logical, present: true}"), Ok(Truth::True));
        assert_eq!(eval("{path: cpu.nothing, present: true}"), Ok(Truth::False));
        assert_eq!(eval("{path: disks.1.name, equals: vdb}"), Ok(Truth::True));
        assert_eq!(eval("{path: glibc, available: false}"), Ok(Truth::True));
        assert_eq!(eval("{path: kernel, available: true}"), Ok(Truth::True));
        assert_eq!(eval("{path: disks, count: '= 2'}"), Ok(Truth::True));
        assert_eq!(eval("{path: disks, count: '> 2'}"), Ok(Truth::False));
        assert!(eval("{path: kernel.wsl, contains: 1}").is_err());
        let caps = json!({"c": {"cap_drop": ["MKNOD", "NET_RAW"]}});
        let c = |y: &str| cond(y).eval(&caps, "c");
        assert_eq!(c("{path: cap_drop, contains: MKNOD}"), Ok(Truth::True));
        assert_eq!(c("{path: cap_drop, contains: SYS_ADMIN}"), Ok(Truth::False));
    }

    #[test]
    fn unavailable_is_unknown_and_kleene_logic_applies() {
        let unknown = eval("{path: glibc.version, version: '>= 2.28'}").unwrap();
        assert_eq!(
            unknown,
            Truth::Unknown("host.glibc unavailable: no glibc: musl host".into())
        );
        // any: one true branch decides; all: one false branch decides.
        let any =
            "{any: [{path: glibc.version, version: '< 2.28'}, {path: cpu.logical, number: '< 4'}]}";
        assert_eq!(eval(any), Ok(Truth::True));
        let all =
            "{all: [{path: glibc.version, version: '< 2.28'}, {path: cpu.logical, number: '> 4'}]}";
        assert_eq!(eval(all), Ok(Truth::False));
        let all_unknown =
            "{all: [{path: glibc.version, version: '< 2.28'}, {path: cpu.logical, number: '< 4'}]}";
        assert!(matches!(eval(all_unknown), Ok(Truth::Unknown(_))));
        assert!(matches!(
            eval("{not: {path: glibc.version, version: '< 2'}}"),
            Ok(Truth::Unknown(_))
        ));
        assert_eq!(
            eval("{not: {path: cpu.logical, number: '< 4'}}"),
            Ok(Truth::False)
        );
    }

    #[test]
    fn type_mismatches_are_rule_errors() {
        assert!(eval("{path: cpu.logical, equals: '2'}").is_err());
        assert!(eval("{path: kernel.release, number: '< 4'}").is_err());
        assert!(eval("{path: kernel.wsl, regex: 'x'}").is_err());
        assert!(eval("{path: nowhere, equals: 1}").is_err());
        assert!(eval("{path: kernel.wsl, version: '< 4'}").is_err());
    }

    #[test]
    fn malformed_conditions_are_rejected() {
        for bad in [
            "{path: a}",
            "{path: a, equals: 1, regex: b}",
            "{path: a, version: '>= x'}",
            "{path: a, number: '16GB'}",
            "{path: a, regex: '('}",
            "{path: a, all: [{path: b, equals: 1}]}",
            "{path: a, bogus: 1}",
            "{path: a, count: '> 1GB'}",
        ] {
            assert!(serde_saphyr::from_str::<Condition>(bad).is_err(), "{bad}");
        }
    }
}
