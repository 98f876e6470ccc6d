//! Evaluation: facts document + rules + profile + waivers → results. Pure: no I/O, no clock
//! (today's date is passed in), so fixtures pin every verdict.

use std::collections::HashMap;

use serde_json::Value;
use time::Date;

use super::condition::{Condition, Matcher, Resolved, Truth, resolve};
use super::{Profile, Rule, RuleSet};

use crate::rules::{AppliedWaiver, RuleResult, Status, Waiver};

/// What evaluation needs besides the facts.
#[derive(Debug, Clone)]
pub struct EvalContext<'a> {
    /// The profile rules are judged under; rules not for it are `skip`.
    pub profile: Profile,
    /// The config's waivers; one for a rule that did not pass, not yet expired, makes it `waived`.
    pub waivers: &'a [Waiver],
    /// The date waivers are judged against.
    pub today: Date,
}

/// Evaluates every rule in order.
pub fn evaluate(set: &RuleSet, facts: &Value, ctx: &EvalContext<'_>) -> Vec<RuleResult> {
    let mut done: HashMap<String, (Status, String)> = HashMap::new();
    let mut results = Vec::with_capacity(set.len());
    for rule in set.rules() {
        let result = evaluate_rule(rule, facts, ctx, &done);
        // A waived prerequisite still failed: dependants must not pretend otherwise.
        let effective = result.waiver.as_ref().map_or(result.status, |w| w.status);
        done.insert(rule.id.clone(), (effective, result.message.clone()));
        results.push(result);
    }
    results
}

fn evaluate_rule(
    rule: &Rule,
    facts: &Value,
    ctx: &EvalContext<'_>,
    done: &HashMap<String, (Status, String)>,
) -> RuleResult {
    let mut result = RuleResult {
        id: rule.id.clone(),
        title: rule.title.clone(),
        status: Status::Error,
        observed: None,
        expected: rule.expected.clone(),
        message: String::new(),
        remedy: rule.remedy.clone(),
        doc: rule.doc.clone(),
        waiver: None,
    };
    if !rule.profiles.contains(&ctx.profile) {
        result.status = Status::Skip;
        result.message = format!("not in profile {}", ctx.profile);
        return result;
    }
    for req in &rule.requires {
        // A prerequisite holds only when it passed (`info` is a pass with a remark): a warning
        // such as "no containers found" leaves nothing for its dependants to judge.
        if let Some((status, message)) = done.get(req)
            && !matches!(status, Status::Pass | Status::Info)
        {
            result.status = Status::Skip;
            // A prerequisite skipped for its own prerequisite: cite the root cause once.
            result.message = if *status == Status::Skip && message.starts_with("prerequisite ") {
                message.clone()
            } else {
                format!("prerequisite {req} is {}: {message}", status.as_str())
            };
            return result;
        }
    }

    let items: Vec<String> = match resolve(facts, &rule.fact) {
        // Outcomes may still handle an unavailable fact explicitly (`available: false`);
        // `judge` never lets an unconditional outcome match one.
        Resolved::Unavailable { path, reason } => {
            let (status, message) = judge(rule, facts, &rule.fact, Some((&path, &reason)));
            result.status = status;
            result.message = message;
            result.observed = rule
                .observed
                .as_ref()
                .and_then(|t| t.render_observed(facts, &rule.fact));
            return apply_waiver(result, ctx);
        }
        Resolved::Missing => {
            // A rule may say what a document without its fact means, with an outcome whose
            // condition is exactly `present: false` (a document written before the fact was
            // gathered); otherwise it is an error: nothing unknown passes or fails.
            let absent = rule.outcomes.iter().find(|o| {
                matches!(
                    &o.value.when,
                    Some(Condition::Test { path, matcher: Matcher::Present(false) }) if path.is_empty()
                )
            });
            match absent {
                Some(o) => {
                    result.status = o.value.status.into();
                    result.message = o.value.message.render(facts, &rule.fact);
                }
                None => result.message = format!("fact {} is not in the facts document", rule.fact),
            }
            return apply_waiver(result, ctx);
        }
        Resolved::Value(Value::Array(list)) if rule.each => {
            let mut items = Vec::with_capacity(list.len());
            for i in 0..list.len() {
                let base = format!("{}.{i}", rule.fact);
                let keep = match &rule.filter {
                    None => true,
                    Some(cond) => match cond.eval(facts, &base) {
                        Ok(Truth::True) => true,
                        Ok(Truth::False) => false,
                        Ok(Truth::Unknown(reason)) => {
                            result.message = format!("cannot select items: {reason}");
                            return apply_waiver(result, ctx);
                        }
                        Err(e) => {
                            result.message = format!("rule error in `where`: {e}");
                            return apply_waiver(result, ctx);
                        }
                    },
                };
                if keep {
                    items.push(base);
                }
            }
            if items.is_empty() {
                result.message = format!("{} holds nothing this rule judges", rule.fact);
                return apply_waiver(result, ctx);
            }
            items
        }
        Resolved::Value(_) if rule.each => {
            result.message = format!("{} is not a list, but the rule says `each`", rule.fact);
            return apply_waiver(result, ctx);
        }
        Resolved::Value(_) => vec![rule.fact.clone()],
    };

    let mut worst = Status::Pass;
    let mut messages = Vec::new();
    let mut observed = Vec::new();
    for base in &items {
        let (status, message) = judge(rule, facts, base, None);
        worst = worst.max(status);
        messages.push(message);
        if let Some(o) = rule
            .observed
            .as_ref()
            .and_then(|t| t.render_observed(facts, base))
        {
            observed.push(o);
        }
    }
    result.status = worst;
    result.message = messages.join("; ");
    result.observed = (!observed.is_empty()).then(|| observed.join("; "));
    apply_waiver(result, ctx)
}

/// Walks the outcomes for one item: first match wins; an undecidable condition is an error.
/// When the rule's fact itself is unavailable (`unavailable` = its path and reason), only an
/// outcome whose condition holds can match, so a missing fact never reaches a default pass.
fn judge(
    rule: &Rule,
    facts: &Value,
    base: &str,
    unavailable: Option<(&str, &str)>,
) -> (Status, String) {
    for outcome in &rule.outcomes {
        let outcome = &outcome.value;
        let truth = match (&outcome.when, unavailable) {
            (None, None) => Truth::True,
            (None, Some(_)) => continue,
            (Some(cond), _) => match cond.eval(facts, base) {
                Ok(t) => t,
                Err(e) => return (Status::Error, format!("rule error: {e}")),
            },
        };
        match truth {
            Truth::True => {
                return (outcome.status.into(), outcome.message.render(facts, base));
            }
            Truth::False => continue,
            Truth::Unknown(reason) => return (Status::Error, format!("cannot decide: {reason}")),
        }
    }
    match unavailable {
        Some((path, reason)) => (Status::Error, format!("{path} unavailable: {reason}")),
        None => (
            Status::Error,
            format!(
                "no outcome matched; rule {} needs a last outcome without `when`",
                rule.id
            ),
        ),
    }
}

fn apply_waiver(mut result: RuleResult, ctx: &EvalContext<'_>) -> RuleResult {
    if !matches!(result.status, Status::Fail | Status::Warn | Status::Error) {
        return result;
    }
    let Some(waiver) = ctx.waivers.iter().find(|w| w.id == result.id) else {
        return result;
    };
    if waiver.expires < ctx.today {
        result.message = format!("{} (waiver expired on {})", result.message, waiver.expires);
        return result;
    }
    result.waiver = Some(AppliedWaiver {
        reason: waiver.reason.clone(),
        expires: waiver.expires.to_string(),
        status: result.status,
    });
    result.message = format!(
        "waived until {} ({}): {}",
        waiver.expires, waiver.reason, result.message
    );
    result.status = Status::Waived;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::date;

    const RULES: &str = r#"
rules:
  - id: t.base
    title: base
    fact: host.a
    outcomes:
      - {status: fail, when: {path: n, number: "< 4"}, message: "n is {{n}}"}
      - {status: pass, message: ok}
  - id: t.dep
    title: dependent
    fact: host.b
    requires: [t.base]
    outcomes:
      - {status: pass, message: ok}
  - id: t.prod
    title: production only
    fact: host.a
    profiles: [production]
    outcomes:
      - {status: warn, message: "always warns"}
  - id: t.each
    title: each
    fact: host.list
    each: true
    observed: "{{name}}"
    outcomes:
      - {status: fail, when: {path: big, equals: false}, message: "{{name}} small"}
      - {status: pass, message: "{{name}} ok"}
  - id: t.where
    title: where
    fact: host.list
    each: true
    where: {path: big, equals: true}
    outcomes:
      - {status: pass, message: "{{name}} ok"}
  - id: t.skipped
    title: rule-chosen skip
    fact: host.a
    outcomes:
      - {status: skip, when: {path: label, present: false}, message: "no label"}
      - {status: pass, message: ok}
  - id: t.unavail
    title: unavailable
    fact: host.gone.version
    outcomes:
      - {status: pass, message: never}
  - id: t.handled
    title: handles its unavailable fact
    fact: host.gone
    outcomes:
      - {status: fail, when: {available: false}, message: "gone: {{$host.gone|reason}}"}
      - {status: pass, message: here}
  - id: t.nomatch
    title: no match
    fact: host.a
    outcomes:
      - {status: fail, when: {path: n, number: "> 100"}, message: never}
"#;

    fn run(facts: Value, profile: Profile, waivers: &[Waiver]) -> HashMap<String, RuleResult> {
        let set = RuleSet::from_yaml("t.yaml", RULES).unwrap();
        let ctx = EvalContext {
            profile,
            waivers,
            today: date!(2026 - 11 - 25),
        };
        evaluate(&set, &facts, &ctx)
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect()
    }

    fn facts(n: i64) -> Value {
        json!({"host": {
            "a": {"n": n}, "b": {},
            "list": [{"name": "x", "big": true}, {"name": "y", "big": false}],
            "gone": {"unavailable": "permission denied"}
        }})
    }

    #[test]
    fn statuses() {
        let r = run(facts(2), Profile::Production, &[]);
        assert_eq!(r["t.base"].status, Status::Fail);
        assert_eq!(r["t.base"].message, "n is 2");
        assert_eq!(r["t.dep"].status, Status::Skip);
        assert_eq!(r["t.dep"].message, "prerequisite t.base is fail: n is 2");
        assert_eq!(r["t.prod"].status, Status::Warn);
        assert_eq!(r["t.each"].status, Status::Fail);
        assert_eq!(r["t.each"].message, "x ok; y small");
        assert_eq!(r["t.each"].observed.as_deref(), Some("x; y"));
        assert_eq!(r["t.where"].status, Status::Pass);
        assert_eq!(r["t.where"].message, "x ok");
        assert_eq!(r["t.skipped"].status, Status::Skip);
        assert_eq!(r["t.skipped"].message, "no label");
        assert_eq!(r["t.unavail"].status, Status::Error);
        assert_eq!(
            r["t.unavail"].message,
            "host.gone unavailable: permission denied"
        );
        assert_eq!(r["t.nomatch"].status, Status::Error);
        assert_eq!(r["t.handled"].status, Status::Fail);
        assert_eq!(r["t.handled"].message, "gone: permission denied");

        let r = run(facts(8), Profile::Development, &[]);
        assert_eq!(r["t.base"].status, Status::Pass);
        assert_eq!(r["t.dep"].status, Status::Pass);
        assert_eq!(r["t.prod"].status, Status::Skip);
        assert_eq!(r["t.prod"].message, "not in profile development");
    }

    #[test]
    fn waivers_hold_until_expiry() {
        let waivers = [
            Waiver {
                id: "t.base".into(),
                reason: "new disks ordered".into(),
                expires: date!(2026 - 11 - 25),
            },
            Waiver {
                id: "t.prod".into(),
                reason: "old".into(),
                expires: date!(2026 - 11 - 24),
            },
        ];
        let r = run(facts(2), Profile::Production, &waivers);
        assert_eq!(r["t.base"].status, Status::Waived);
        assert_eq!(r["t.base"].waiver.as_ref().unwrap().status, Status::Fail);
        // The dependant still sees the real failure behind the waiver.
        assert_eq!(r["t.dep"].status, Status::Skip);
        assert_eq!(r["t.prod"].status, Status::Warn);
        assert!(
            r["t.prod"]
                .message
                .ends_with("(waiver expired on 2026-11-24)")
        );
        // A waiver never turns a pass into anything else.
        let r = run(facts(8), Profile::Production, &waivers);
        assert_eq!(r["t.base"].status, Status::Pass);
    }
}
