//! A rules file (`--rules`): parsed and validated, or a located error, never a panic; a
//! valid one merges over the embedded rules and lists.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wa_preflight::rules::RuleSet;

static EMBEDDED: OnceLock<RuleSet> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match RuleSet::from_yaml("r.yaml", text) {
        Ok(set) => {
            let mut base = EMBEDDED
                .get_or_init(|| RuleSet::embedded().expect("embedded rules"))
                .clone();
            let _ = base.merge(set);
            let _ = base.rules().count();
        }
        Err(e) => assert!(e.to_string().starts_with("r.yaml:"), "unlocated: {e}"),
    }
});
