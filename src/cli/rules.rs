//! `preflight rules`: the rules in force, as a table or JSON.

use anyhow::Context;
use clap::Args;

use wa_preflight::report::{self, exit};
use wa_preflight::rules::Profile;

use super::gather::load_rules;
use super::output::emit;
use super::{ListFormat, Outcome, RuleFiles};

#[derive(Debug, Args)]
pub struct RulesArgs {
    #[command(flatten)]
    pub rules: RuleFiles,
    /// Output format: a table for people or json.
    #[arg(long, value_enum, default_value_t = ListFormat::Table, help_heading = "Output")]
    pub format: ListFormat,
}

pub fn run(args: RulesArgs) -> Outcome {
    let set = load_rules(&args.rules)?;
    let text = match args.format {
        ListFormat::Json => {
            let list: Vec<serde_json::Value> = set
                .rules()
                .map(|r| {
                    serde_json::json!({
                        "id": r.id, "title": r.title, "fact": r.fact,
                        "profiles": r.profiles, "requires": r.requires, "doc": r.doc,
                    })
                })
                .collect();
            serde_json::to_string_pretty(&list).context("cannot serialise rules")? + "\n"
        }
        ListFormat::Table => {
            let rows: Vec<Vec<String>> = set
                .rules()
                .map(|r| {
                    let profiles = if r.profiles.contains(&Profile::Production)
                        && r.profiles.contains(&Profile::Development)
                    {
                        "all".to_string()
                    } else {
                        let p: Vec<String> = r.profiles.iter().map(ToString::to_string).collect();
                        p.join(", ")
                    };
                    vec![r.id.clone(), profiles, r.title.clone()]
                })
                .collect();
            report::table::columns(
                &["RULE", "PROFILES", "TITLE"],
                &rows,
                report::table::terminal_width(),
            )
        }
    };
    emit(None, &text)?;
    Ok(exit::OK)
}
