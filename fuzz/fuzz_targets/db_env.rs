//! A WhatsApp db.env file (`--db-env`, `database.env_file`): variables or a located error that
//! never quotes the value of a secret-named key; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_preflight::facts::database::settings::{from_wa_env, parse_env_file};
use wa_preflight::redact::is_secret_name;

/// The values written after a secret-named key on any line (`WA_DB_PASSWORD s3cret`,
/// `WA_DB_PASSWORD=s3cret`): no error may contain one.
fn secret_values(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r').trim();
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let end = line
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(line.len());
        let (key, rest) = line.split_at(end);
        if is_secret_name(key) {
            let value = rest
                .trim_start_matches(|c: char| c == '=' || c.is_whitespace())
                .trim();
            if value.len() >= 4 {
                out.push(value.to_string());
            }
        }
    }
    out
}

/// The fixed wording of the parser's messages.
const TEMPLATES: &str = "db.env: expected KEY=VALUE (the name is followed by a space, not '=') \
the text before '=' is not a variable name; the value of has no closing \" ' text after the \
closing quote of WA_DB_PORT: is out of range: give a port from 1 to 65535 is not a port number \
(1 to 65535) WA_DB_ENGINE is not set must be MYSQL or PGSQL WA_DB_HOSTNAME WA_DB_USERNAME";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let secrets = secret_values(text);
    let err = match parse_env_file("db.env", text) {
        Ok(vars) => match from_wa_env(&vars, "db.env") {
            Ok(_) => return,
            Err(e) => e,
        },
        Err(e) => {
            assert!(e.starts_with("db.env:"), "unlocated: {e}");
            e
        }
    };
    // What a message may legitimately hold: the file name, the fixed wording and names that
    // start lines (variable names are quoted). A secret value is looked for in the rest.
    let mut rest = err.clone();
    let mut names: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("export ").map_or(l, str::trim_start);
            l.split(|c: char| c == '=' || c.is_whitespace()).next()
        })
        .filter(|n| !n.is_empty())
        .collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for n in names {
        rest = rest.replace(n, "");
    }
    for s in &secrets {
        if TEMPLATES.contains(s.as_str()) {
            continue;
        }
        assert!(!rest.contains(s.as_str()), "{err:?} quotes a secret value");
    }
});
