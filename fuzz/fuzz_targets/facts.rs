//! A saved facts document (`--facts`): parsed, judged by the embedded rules and rendered in
//! every format, or refused with a located error; never a panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wa_preflight::check::build_report;
use wa_preflight::report::table::Layout;
use wa_preflight::report::{Format, render};
use wa_preflight::rules::eval::EvalContext;
use wa_preflight::rules::{Profile, RuleSet};

static RULES: OnceLock<RuleSet> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let facts = match wa_preflight::facts::saved::parse("f.json", text) {
        Ok(f) => f,
        Err(e) => {
            assert!(e.to_string().starts_with("f.json"), "unnamed: {e}");
            return;
        }
    };
    let rules = RULES.get_or_init(|| RuleSet::embedded().expect("embedded rules"));
    let now = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    for profile in [Profile::Production, Profile::Development] {
        let ctx = EvalContext {
            profile,
            waivers: &[],
            today: now.date(),
        };
        let report = build_report(&facts, rules, &ctx, now, 0).expect("a report");
        let narrow = Layout {
            width: 40,
            color: true,
            all: false,
        };
        for format in [
            Format::Table,
            Format::Json,
            Format::Junit,
            Format::Markdown,
            Format::Prometheus,
            Format::Summary,
        ] {
            let _ = render(&report, format, &Layout::plain());
            let _ = render(&report, format, &narrow);
        }
    }
});
