//! A WhatsApp db.env file (`--db-env`, `database.env_file`): variables or a located error that
//! never quotes the value of a secret-named key; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_preflight::facts::database::settings::{from_wa_env, parse_env_file};
use wa_preflight::secret::is_secret_name;

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
    // What a message may legitimately hold: the file name and line, the fixed wording, names
    // that start lines (variable names are quoted), digits of a port, spaces and punctuation.
    // A secret value leaks when one of its occurrences in the message covers a byte that none
    // of those explains. (Deleting the allowed words from the message instead would join its
    // neighbours into text it never held: "expected KEY=VALUE" less the name "e" holds
    // "ctd KEY=VAL".)
    let mut allowed = vec![false; err.len()];
    let mut allow = |word: &str| {
        if word.is_empty() {
            return;
        }
        for (at, _) in err.match_indices(word) {
            allowed[at..at + word.len()].iter_mut().for_each(|a| *a = true);
        }
    };
    allow("db.env");
    for word in TEMPLATES.split_whitespace() {
        allow(word);
    }
    for line in text.lines() {
        let l = line.trim();
        let l = l.strip_prefix("export ").map_or(l, str::trim_start);
        if let Some(name) = l.split(|c: char| c == '=' || c.is_whitespace()).next() {
            allow(name);
        }
    }
    for (i, b) in err.bytes().enumerate() {
        if b.is_ascii_digit() || b.is_ascii_whitespace() || b":'\"=().,".contains(&b) {
            allowed[i] = true;
        }
    }
    for s in &secrets {
        for (at, _) in err.match_indices(s.as_str()) {
            assert!(
                allowed[at..at + s.len()].iter().all(|a| *a),
                "{err:?} quotes the secret value {s:?}"
            );
        }
    }
});
