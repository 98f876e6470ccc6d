//! `preflight explain ID`: one rule in full, with its outcomes, remedy and source.

use clap::Args;

use wa_preflight::report::{self, exit};

use super::gather::load_rules;
use super::output::emit;
use super::{Failure, Outcome, RuleFiles};

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Rule ID, e.g. host.kernel.
    pub id: String,
    #[command(flatten)]
    pub rules: RuleFiles,
}

pub fn run(args: ExplainArgs) -> Outcome {
    let id = args.id.as_str();
    let set = load_rules(&args.rules)?;
    let Some((rule, origin)) = set.get(id) else {
        let close: Vec<&str> = set
            .rules()
            .map(|r| r.id.as_str())
            .filter(|r| r.starts_with(id.split('.').next().unwrap_or(id)))
            .collect();
        let hint = if close.is_empty() {
            "see `preflight rules`".to_string()
        } else {
            format!("did you mean one of: {}?", close.join(", "))
        };
        return Err(Failure::Usage(format!("unknown rule {id:?}; {hint}")));
    };
    let mut out = format!("{} — {}\n\n", rule.id, rule.title);
    out.push_str(&format!(
        "fact:      {}{}\n",
        rule.fact,
        if rule.each { " (each item)" } else { "" }
    ));
    if let Some(e) = &rule.expected {
        out.push_str(&format!("expected:  {e}\n"));
    }
    let profiles: Vec<String> = rule.profiles.iter().map(ToString::to_string).collect();
    out.push_str(&format!("profiles:  {}\n", profiles.join(", ")));
    if !rule.requires.is_empty() {
        out.push_str(&format!("requires:  {}\n", rule.requires.join(", ")));
    }
    out.push_str(&format!("defined:   {origin}\n"));
    let width = report::table::terminal_width().max(report::table::MIN_WIDTH);
    let said = |head: &str, text: &str| -> String {
        let lines = report::table::wrap(text, width.saturating_sub(head.len()).max(20));
        let pad = " ".repeat(head.len());
        let mut s = String::new();
        for (i, line) in lines.iter().enumerate() {
            s.push_str(if i == 0 { head } else { &pad });
            s.push_str(line);
            s.push('\n');
        }
        s
    };
    if let Some(filter) = &rule.filter {
        out.push_str(&said(
            "items:     ",
            &format!("those where {}", filter.describe()),
        ));
    }
    out.push_str("\noutcomes (first match wins):\n");
    for o in &rule.outcomes {
        let status = format!("{:?}", o.value.status).to_lowercase();
        let when = match &o.value.when {
            Some(cond) => format!("when {}", cond.describe()),
            None => "otherwise".to_string(),
        };
        out.push_str(&said(&format!("  {status:<5} "), &when));
        out.push_str(&said("        says ", o.value.message.source()));
    }
    if let Some(r) = &rule.remedy {
        out.push('\n');
        out.push_str(&said("remedy: ", r));
    }
    if let Some(d) = &rule.doc {
        out.push_str(&format!("source: {d}\n"));
    }
    emit(None, &out)?;
    Ok(exit::OK)
}
