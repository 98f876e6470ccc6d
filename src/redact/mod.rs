//! Redaction: secrets out of everything a support bundle holds.
//!
//! Works on bytes, line by line (logs are not always UTF-8), with:
//! - patterns: values of secret-looking keys (`WA_DB_PASSWORD=…`, `"token": "…"`), passwords
//!   in URLs, Authorization/Bearer values, JWTs, PEM private keys, and (by default) phone
//!   numbers in WhatsApp form (`+` MSISDNs, WA IDs);
//! - literals: every secret value the run knows (the database password, each container's
//!   secret-named env values), matched anywhere, with Aho-Corasick;
//! - the operator's own literals and patterns from the config.
//!
//! The same secret always becomes the same placeholder (`<redacted:password:1>`), so support
//! can still see that two places hold the same value; the mapping stays in memory.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufRead, Write};

use aho_corasick::AhoCorasick;
use regex::bytes::{Captures, Regex};
use serde::Deserialize;

/// An operator-defined rule from the config (`redaction:`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomRule {
    pub name: String,
    /// A literal string to hide wherever it appears.
    pub literal: Option<String>,
    /// A regex; its first capture group (or the whole match) is hidden.
    pub regex: Option<String>,
}

/// Key names whose values are secrets.
const SECRET_KEY: &str = r"(?:[A-Za-z0-9_.-]*(?:PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|API_?KEY|PRIVATE_?KEY|CRYPTO_KEY|AUTH)[A-Za-z0-9_.-]*|password|passwd|secret|token|credential|api_?key|private_?key|auth[A-Za-z_]*|[A-Za-z0-9_.-]*_(?:password|secret|token|key))";

/// Whether an env var or config key name looks secret (`WA_DB_PASSWORD`, `WA_SECRET`,
/// `MYSQL_ROOT_PASSWORD`, `api_key`): the same definition the redaction patterns use.
pub fn is_secret_name(name: &str) -> bool {
    static RE: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
        // A constant pattern; a failure is a bug the tests catch.
        Regex::new(&format!("^(?-u)(?:{SECRET_KEY})$")).expect("secret-name pattern")
    });
    RE.is_match(name.to_ascii_uppercase().as_bytes())
}

struct PatternRule {
    name: &'static str,
    kind: &'static str,
    re: Regex,
    /// The capture group holding the secret (0: the whole match).
    group: usize,
    /// Words (case-insensitive) without which the pattern cannot match: a line holding none
    /// of them skips the regex. Most log lines hold none of any rule's.
    triggers: &'static [&'static str],
}

const KEY_TRIGGERS: &[&str] = &["pass", "secret", "token", "credential", "key", "auth"];

fn builtin_patterns(phones: bool) -> Vec<PatternRule> {
    type Spec = (
        &'static str,
        &'static str,
        &'static str,
        usize,
        &'static [&'static str],
    );
    let mut rules: Vec<Spec> = vec![
        // A PEM private key on one line (JSON strings with \n escapes).
        (
            "pem-private-key",
            "key",
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----",
            0,
            &["private key-----"],
        ),
        (
            "jwt",
            "jwt",
            r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}",
            0,
            &["eyj"],
        ),
        (
            "authorization-header",
            "token",
            r"(?i)\b(?:authorization|proxy-authorization)\s*[:=]\s*(?:bearer|basic|token)?\s*([A-Za-z0-9._~+/=-]{6,})",
            1,
            &["authorization"],
        ),
        (
            "bearer-token",
            "token",
            r"(?i)\bbearer\s+([A-Za-z0-9._~+/=-]{8,})",
            1,
            &["bearer"],
        ),
        (
            "url-password",
            "password",
            r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/\s@]+:([^@\s/]+)@",
            1,
            &["://"],
        ),
        // "key": "value" (JSON, docker inspect).
        (
            "secret-json-field",
            "secret",
            r#""(?:SECRET_KEY)"\s*:\s*"((?:[^"\\]|\\.)*)""#,
            1,
            KEY_TRIGGERS,
        ),
        // KEY=value and key: value (env files, inspect's Env array, config files, logs).
        (
            "secret-assignment",
            "secret",
            r#"\b(?:SECRET_KEY)\s*[=:]\s*("[^"]*"|'[^']*'|[^\s,;&"'}\]]+)"#,
            1,
            KEY_TRIGGERS,
        ),
    ];
    if phones {
        rules.push((
            "wa-id",
            "phone",
            r"\b(\d{10,15})(?:@s\.whatsapp\.net|@c\.us)\b",
            1,
            &["@s.whatsapp.net", "@c.us"],
        ));
        rules.push((
            "wa-id-field",
            "phone",
            r#""(?:wa_id|recipient_id|from|to|debug_info|phone_number)"\s*:\s*"\+?(\d{8,15})""#,
            1,
            &[
                "\"wa_id\"",
                "\"recipient_id\"",
                "\"from\"",
                "\"to\"",
                "\"debug_info\"",
                "\"phone_number\"",
            ],
        ));
        rules.push((
            "msisdn",
            "phone",
            r"(?:^|[^\w+])(\+[1-9]\d{7,14})\b",
            1,
            &["+"],
        ));
    }
    rules
        .into_iter()
        .map(|(name, kind, re, group, triggers)| PatternRule {
            name,
            kind,
            // ASCII classes and word boundaries (`(?-u)`): logs are bytes, and Unicode `\b`
            // would keep the regex engine off its fast DFA path. Built-in patterns are
            // constants; a failure here is a bug the tests catch.
            re: Regex::new(&format!("(?-u){}", re.replace("SECRET_KEY", SECRET_KEY)))
                .expect("built-in redaction pattern"),
            group,
            triggers,
        })
        .collect()
}

/// Why a redactor could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    #[error("redaction rule {name:?}: {why}")]
    Rule { name: String, why: String },
}

/// The redaction engine for one run.
pub struct Redactor {
    patterns: Vec<PatternRule>,
    /// All patterns' trigger words; match `i` belongs to pattern `trigger_owner[i]`.
    triggers: AhoCorasick,
    trigger_owner: Vec<usize>,
    custom: Vec<(String, Regex, usize)>,
    literals: Vec<(String, String)>,
    literal_matcher: Option<AhoCorasick>,
    tokens: HashMap<(String, Vec<u8>), usize>,
    next_token: HashMap<String, usize>,
    counts: BTreeMap<String, u64>,
    in_pem: bool,
}

impl Redactor {
    /// A redactor with the built-in patterns, `known` secrets (kind, value) and the
    /// operator's `custom` rules.
    pub fn new(
        phones: bool,
        known: &[(String, String)],
        custom: &[CustomRule],
    ) -> Result<Redactor, RedactError> {
        let mut literals: Vec<(String, String)> = known
            .iter()
            .filter(|(_, v)| v.len() >= 4)
            .cloned()
            .collect();
        let mut custom_patterns = Vec::new();
        for rule in custom {
            match (&rule.literal, &rule.regex) {
                (Some(l), None) if !l.is_empty() => literals.push((rule.name.clone(), l.clone())),
                (None, Some(r)) => {
                    let re = Regex::new(r).map_err(|e| RedactError::Rule {
                        name: rule.name.clone(),
                        why: e.to_string(),
                    })?;
                    let group = usize::from(re.captures_len() > 1);
                    custom_patterns.push((rule.name.clone(), re, group));
                }
                _ => {
                    return Err(RedactError::Rule {
                        name: rule.name.clone(),
                        why: "give exactly one of `literal` (not empty) or `regex`".into(),
                    });
                }
            }
        }
        // Longest first, so a secret that contains another is hidden whole.
        literals.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
        literals.dedup_by(|a, b| a.1 == b.1);
        let literal_matcher = if literals.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                    .build(literals.iter().map(|(_, v)| v.as_bytes()))
                    .map_err(|e| RedactError::Rule {
                        name: "known secrets".into(),
                        why: e.to_string(),
                    })?,
            )
        };
        let patterns = builtin_patterns(phones);
        let mut words = Vec::new();
        let mut trigger_owner = Vec::new();
        for (i, p) in patterns.iter().enumerate() {
            for w in p.triggers {
                words.push(*w);
                trigger_owner.push(i);
            }
        }
        let triggers = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(&words)
            .map_err(|e| RedactError::Rule {
                name: "triggers".into(),
                why: e.to_string(),
            })?;
        Ok(Redactor {
            triggers,
            trigger_owner,
            patterns,
            custom: custom_patterns,
            literals,
            literal_matcher,
            tokens: HashMap::new(),
            next_token: HashMap::new(),
            counts: BTreeMap::new(),
            in_pem: false,
        })
    }

    /// The names of the rules in force, as the manifest counts them.
    pub fn rule_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.patterns.iter().map(|p| p.name.to_string()).collect();
        names.extend(self.custom.iter().map(|(n, _, _)| n.clone()));
        if !self.literals.is_empty() {
            names.push(format!("known literals ({})", self.literals.len()));
        }
        names
    }

    /// The secrets the leak scan must not find.
    pub fn known_secrets(&self) -> impl Iterator<Item = &str> {
        self.literals.iter().map(|(_, v)| v.as_str())
    }

    fn token(&mut self, kind: &str, secret: &[u8], rule: &str) -> Vec<u8> {
        *self.counts.entry(rule.to_string()).or_insert(0) += 1;
        let key = (kind.to_string(), secret.to_vec());
        let n = match self.tokens.get(&key) {
            Some(n) => *n,
            None => {
                let next = self.next_token.entry(kind.to_string()).or_insert(0);
                *next += 1;
                self.tokens.insert(key, *next);
                *next
            }
        };
        format!("<redacted:{kind}:{n}>").into_bytes()
    }

    /// Redacts one line (without its newline).
    pub fn line(&mut self, input: &[u8]) -> Vec<u8> {
        // A multi-line PEM private key: everything from BEGIN to END becomes one token.
        let pem = contains(input, b"PRIVATE KEY-----");
        let begin = pem && contains(input, b"-----BEGIN ");
        let end = pem && contains(input, b"-----END ");
        if self.in_pem {
            if end {
                self.in_pem = false;
            }
            return Vec::new();
        }
        if begin && !end {
            self.in_pem = true;
            return self.token("key", b"pem", "pem-private-key");
        }
        let mut out = input.to_vec();
        if let Some(ac) = self.literal_matcher.clone() {
            let mut replaced = Vec::with_capacity(out.len());
            let mut last = 0;
            for m in ac.find_iter(&out) {
                replaced.extend_from_slice(&out[last..m.start()]);
                let (kind, value) = self.literals[m.pattern().as_usize()].clone();
                let tok = self.token(&kind, value.as_bytes(), &format!("known-{kind}"));
                replaced.extend_from_slice(&tok);
                last = m.end();
            }
            if last > 0 {
                replaced.extend_from_slice(&out[last..]);
                out = replaced;
            }
        }
        let mut wanted = vec![false; self.patterns.len()];
        for m in self.triggers.find_overlapping_iter(&out) {
            wanted[self.trigger_owner[m.pattern().as_usize()]] = true;
        }
        // Taken out and put back rather than cloned: a cloned Regex starts with a cold cache,
        // which made every line rebuild its automata (4 MB/s instead of hundreds).
        let patterns = std::mem::take(&mut self.patterns);
        for (p, want) in patterns.iter().zip(wanted) {
            if want {
                out = self.replace(&p.re, p.group, p.kind, p.name, &out);
            }
        }
        self.patterns = patterns;
        let custom = std::mem::take(&mut self.custom);
        for (name, re, group) in &custom {
            out = self.replace(re, *group, name, name, &out);
        }
        self.custom = custom;
        out
    }

    fn replace(
        &mut self,
        re: &Regex,
        group: usize,
        kind: &str,
        rule: &str,
        input: &[u8],
    ) -> Vec<u8> {
        if !re.is_match(input) {
            return input.to_vec();
        }
        let mut out = Vec::with_capacity(input.len());
        let mut last = 0;
        let caps: Vec<Captures<'_>> = re.captures_iter(input).collect();
        for c in caps {
            let Some(m) = c.get(group) else { continue };
            let whole = c.get(0).map_or(m.start(), |w| w.start());
            // An already redacted value, or a match inside a placeholder
            // (`<redacted:password:1>` reads like `password: 1>`), is left as it is.
            if m.as_bytes().starts_with(b"<redacted:")
                || m.as_bytes().starts_with(b"\"<redacted:")
                || input[..whole].ends_with(b"<redacted:")
                || m.start() < last
            {
                continue;
            }
            out.extend_from_slice(&input[last..m.start()]);
            let tok = self.token(kind, m.as_bytes(), rule);
            out.extend_from_slice(&tok);
            last = m.end();
        }
        out.extend_from_slice(&input[last..]);
        out
    }

    /// Whether `bytes` holds anything any rule could act on.
    fn has_candidates(&self, bytes: &[u8]) -> bool {
        self.in_pem
            || self.triggers.is_match(bytes)
            || self
                .literal_matcher
                .as_ref()
                .is_some_and(|ac| ac.is_match(bytes))
            || self.custom.iter().any(|(_, re, _)| re.is_match(bytes))
            || contains(bytes, b"PRIVATE KEY-----")
    }

    /// Copies `input` to `output` redacted. Works in blocks of about 1 MiB ending at a line
    /// end: a block with no candidate anywhere is copied as it is (the common case, at memory
    /// speed); otherwise its lines are judged one by one. Lines longer than `max_line` are
    /// processed in pieces of that size. Returns the bytes written.
    pub fn stream(
        &mut self,
        input: &mut dyn BufRead,
        output: &mut dyn Write,
        max_line: usize,
    ) -> io::Result<u64> {
        const BLOCK: usize = 1 << 20;
        let mut written = 0u64;
        let mut block = Vec::with_capacity(BLOCK + 64 * 1024);
        loop {
            block.clear();
            fill_block(input, &mut block, BLOCK)?;
            if block.last().is_some_and(|b| *b != b'\n') {
                // Complete the last line, so no line is judged in two halves.
                let mut rest = Vec::new();
                read_line_capped(input, &mut rest, max_line)?;
                block.extend_from_slice(&rest);
            }
            if block.is_empty() {
                break;
            }
            if !self.has_candidates(&block) {
                output.write_all(&block)?;
                written += block.len() as u64;
                continue;
            }
            for piece in block.split_inclusive(|b| *b == b'\n') {
                for chunk in piece.chunks(max_line.max(1)) {
                    let (body, newline) = match chunk.last() {
                        Some(b'\n') => (&chunk[..chunk.len() - 1], true),
                        _ => (chunk, false),
                    };
                    if self.has_candidates(body) {
                        let red = self.line(body);
                        output.write_all(&red)?;
                        written += red.len() as u64;
                    } else {
                        output.write_all(body)?;
                        written += body.len() as u64;
                    }
                    if newline {
                        output.write_all(b"\n")?;
                        written += 1;
                    }
                }
            }
        }
        Ok(written)
    }

    /// How many values each rule replaced so far.
    pub fn counts(&self) -> &BTreeMap<String, u64> {
        &self.counts
    }

    /// Forgets the state of a multi-line block (between files).
    pub fn end_of_file(&mut self) {
        self.in_pem = false;
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

/// Reads up to `max` bytes (fewer only at the end of the input).
fn fill_block(r: &mut dyn BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<()> {
    while buf.len() < max {
        let available = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            break;
        }
        let take = available.len().min(max - buf.len());
        buf.extend_from_slice(&available[..take]);
        r.consume(take);
    }
    Ok(())
}

/// Reads up to and including a newline, or `max` bytes. Returns whether anything was read.
fn read_line_capped(r: &mut dyn BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<bool> {
    let mut any = false;
    loop {
        let available = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(any);
        }
        any = true;
        let room = max.saturating_sub(buf.len()).max(1);
        let (take, done) = match available.iter().take(room).position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (
                available.len().min(room),
                buf.len() + available.len().min(room) >= max,
            ),
        };
        buf.extend_from_slice(&available[..take]);
        r.consume(take);
        if done {
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(text: &str) -> (String, BTreeMap<String, u64>) {
        let mut r =
            Redactor::new(true, &[("password".into(), "S3cr3t-DB-pass".into())], &[]).unwrap();
        let mut out = Vec::new();
        r.stream(&mut text.as_bytes(), &mut out, 1 << 20).unwrap();
        (String::from_utf8(out).unwrap(), r.counts().clone())
    }

    #[test]
    fn hides_every_kind_of_secret() {
        let input = "\
WA_DB_PASSWORD=S3cr3t-DB-pass
connecting with S3cr3t-DB-pass again
\"Env\": [\"WA_SECRET=abcdef123456\", \"WA_DB_HOSTNAME=db\"],
{\"password\": \"hunter22\", \"user\": \"wa\"}
dsn mysql://wa:dsn-pass-99@db:3306/waent
Authorization: Bearer abcdef0123456789
token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U
msg from 14155550123@s.whatsapp.net to +14155550199 ok
{\"wa_id\": \"14155550123\", \"debug_info\": \"+447700900123\"}
-----BEGIN RSA PRIVATE KEY-----
MIIEpAIBAAKCAQEA
-----END RSA PRIVATE KEY-----
WA_DB_HOSTNAME=db port 3306 user wa
";
        let (out, counts) = redact(input);
        for secret in [
            "S3cr3t-DB-pass",
            "abcdef123456",
            "hunter22",
            "dsn-pass-99",
            "abcdef0123456789",
            "eyJhbGciOiJIUzI1NiJ9",
            "14155550123",
            "14155550199",
            "447700900123",
            "MIIEpAIBAAKCAQEA",
        ] {
            assert!(!out.contains(secret), "{secret} survived:\n{out}");
        }
        assert!(out.contains("WA_DB_HOSTNAME=db"), "{out}");
        assert!(out.contains("WA_DB_HOSTNAME=db port 3306 user wa"));
        assert!(counts.values().sum::<u64>() >= 10, "{counts:?}");
    }

    #[test]
    fn the_same_secret_gets_the_same_placeholder() {
        let (out, _) = redact("a S3cr3t-DB-pass b\nc S3cr3t-DB-pass d\nWA_SECRET=other1234\n");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "a <redacted:password:1> b");
        assert_eq!(lines[1], "c <redacted:password:1> d");
        assert_eq!(lines[2], "WA_SECRET=<redacted:secret:1>");
    }

    #[test]
    fn bytes_that_are_not_utf8_and_long_lines_pass_through() {
        let mut r = Redactor::new(false, &[], &[]).unwrap();
        let mut input: Vec<u8> = vec![0xff, 0xfe, b'\n'];
        input.extend(std::iter::repeat_n(b'x', 5000));
        input.extend(b"\nlast");
        let mut out = Vec::new();
        let n = r.stream(&mut input.as_slice(), &mut out, 1024).unwrap();
        assert_eq!(out, input);
        assert_eq!(n as usize, input.len());
    }

    #[test]
    fn secret_names() {
        for name in [
            "WA_DB_PASSWORD",
            "WA_SECRET",
            "MYSQL_ROOT_PASSWORD",
            "api_key",
            "APIKEY",
            "WA_WEB_JWT_CRYPTO_KEY",
            "Auth_Header",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "WA_DB_HOSTNAME",
            "WA_DB_USERNAME",
            "WA_APP_MULTICONNECT",
            "PATH",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn custom_rules() {
        let custom = vec![
            CustomRule {
                name: "hostname".into(),
                literal: Some("prod-db-7.corp".into()),
                regex: None,
            },
            CustomRule {
                name: "ticket".into(),
                literal: None,
                regex: Some(r"TICKET-(\d+)".into()),
            },
        ];
        let mut r = Redactor::new(false, &[], &custom).unwrap();
        let out = r.line(b"prod-db-7.corp down, see TICKET-4411");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<redacted:hostname:1> down, see TICKET-<redacted:ticket:1>"
        );
        let bad = vec![CustomRule {
            name: "x".into(),
            literal: None,
            regex: Some("(".into()),
        }];
        assert!(Redactor::new(false, &[], &bad).is_err());
    }
}
