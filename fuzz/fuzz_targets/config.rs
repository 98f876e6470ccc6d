//! The operator's config file: any text is a config or a located error, never a panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wa_preflight::config::Config;
use wa_preflight::rules::RuleSet;

static RULES: OnceLock<RuleSet> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let rules = RULES.get_or_init(|| RuleSet::embedded().expect("embedded rules"));
    if let Err(e) = Config::parse("c.yaml", text, rules) {
        assert!(e.to_string().starts_with("c.yaml:"), "unlocated: {e}");
    }
});
