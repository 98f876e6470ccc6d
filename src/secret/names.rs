//! Which names hold secrets: env vars, config keys, JSON fields, labels, headers and flags,
//! in every case style people write them (`WA_DB_PASSWORD`, `dbPassword`, `RootPassword`,
//! `db-pass`, `com.example.db.password`, `X-Api-Key`, `MYSQL_PWD`, `ldap_default_authtok`).
//!
//! A name is split into words (snake, kebab, dotted, camelCase, PascalCase and acronym runs:
//! `APIKey` → `api key`), and judged by its words rather than by substrings, so `passenger`,
//! `compass`, `bypass`, `keyboard` and `monkey` stay innocent while `DB_PASS` does not.
//! A name whose last word says it is *about* the secret rather than the secret itself
//! (`password_policy_enabled`, `token_type`, `password_file`, `auth_plugin`) holds no secret.

/// What kind of secret a name holds; the kind names the placeholder (`<redacted:KIND:N>`).
pub(crate) type Kind = &'static str;

/// Whether an env var or config key name looks secret (`WA_DB_PASSWORD`, `WA_SECRET`,
/// `MYSQL_ROOT_PASSWORD`, `api_key`, `dbPassword`, `DB_PASS`, `X-Api-Key`).
///
/// Broad on purpose, for deciding which values the run should treat as secrets: every name
/// it matched before names were split into words still matches (any name containing
/// PASSWORD, PASSWD, SECRET, TOKEN, CREDENTIAL, API(_)KEY, PRIVATE(_)KEY, CRYPTO_KEY or AUTH,
/// in any case), plus every name the word-based matcher (`secret_kind`) recognises.
pub fn is_secret_name(name: &str) -> bool {
    legacy(name) || secret_kind(name.as_bytes()).is_some()
}

/// The substring test names were judged by before (kept so `is_secret_name` only grows).
fn legacy(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "CREDENTIAL",
        "APIKEY",
        "API_KEY",
        "PRIVATEKEY",
        "PRIVATE_KEY",
        "CRYPTO_KEY",
        "AUTH",
    ]
    .iter()
    .any(|w| upper.contains(w))
}

/// Last words that make a name describe a secret rather than hold one.
const META: &[&str] = &[
    "type",
    "types",
    "kind",
    "enabled",
    "enable",
    "disabled",
    "disable",
    "required",
    "require",
    "policy",
    "policies",
    "length",
    "len",
    "min",
    "max",
    "minimum",
    "maximum",
    "count",
    "expiry",
    "expires",
    "expire",
    "expiration",
    "expired",
    "ttl",
    "lifetime",
    "age",
    "file",
    "files",
    "path",
    "paths",
    "dir",
    "directory",
    "url",
    "uri",
    "endpoint",
    "name",
    "names",
    "id",
    "ids",
    "method",
    "methods",
    "plugin",
    "plugins",
    "mode",
    "algorithm",
    "algorithms",
    "algo",
    "alg",
    "format",
    "missing",
    "set",
    "source",
    "strength",
    "complexity",
    "rotation",
    "changed",
    "updated",
    "created",
    "prompt",
    "stdin",
    "env",
    "field",
    "fields",
    "chars",
    "charset",
    "hint",
    "reset",
    "version",
    "label",
    "scheme",
    "provider",
    "timeout",
    "interval",
    "store",
    "command",
    "cmd",
    "helper",
    "retries",
    "attempts",
    "validator",
    "validation",
    "check",
    "checks",
    "fingerprint",
    "fingerprints",
    "location",
    "ref",
    "reference",
    "size",
    "bits",
    "usage",
    "used",
    "rule",
    "rules",
    "pattern",
    "regex",
    "error",
    "errors",
    "status",
    "present",
    "exists",
    "configured",
    "supported",
    "allowed",
    "forbidden",
    "level",
    "schema",
    "sent",
    "received",
    "ok",
    "valid",
    "invalid",
    "failed",
    "failures",
    "issuer",
    "audience",
    "scope",
    "scopes",
];

/// Words after the secret word that still name the secret (`PASSWORD_B64`, `db_pass_2`).
const WRAPPERS: &[&str] = &[
    "b64", "base64", "value", "val", "raw", "plain", "enc", "encoded", "str", "string", "hex",
];

/// Words before `key` that make it a lookup key, not a secret (`primary_key`, `cache_key`).
const INNOCENT_KEY: &[&str] = &[
    "primary",
    "foreign",
    "sort",
    "partition",
    "cache",
    "public",
    "pub",
    "host",
    "routing",
    "idempotency",
    "object",
    "dedupe",
    "dedup",
    "group",
    "unique",
    "row",
    "message",
    "msg",
    "lookup",
    "map",
    "hash",
    "range",
    "shard",
    "index",
    "label",
    "hot",
    "composite",
    "natural",
    "surrogate",
    "cluster",
    "clustering",
    "join",
    "order",
    "search",
    "query",
    "dict",
    "config",
    "registry",
    "metric",
    "event",
    "tag",
    "node",
    "item",
    "field",
    "column",
    "entity",
    "record",
    "context",
    "trace",
    "span",
    "hotkey",
    "sequence",
    "bucket",
    "s3",
    "redis",
    "matching",
    "sorting",
    "lock",
    "stream",
];

/// One-word compounds written without separators (`apikey`, `dbpassword`, `rootpass`).
const KEY_COMPOUNDS: &[&str] = &[
    "apikey",
    "privatekey",
    "secretkey",
    "accesskey",
    "encryptionkey",
    "signingkey",
    "masterkey",
    "cryptokey",
    "sessionkey",
    "authkey",
    "licensekey",
    "hmackey",
];

/// Prefixes that make `…pass` / `…pwd` one-word compounds secret (`rootpass`, `dbpwd`).
const PASS_PREFIXES: &[&str] = &[
    "db", "root", "admin", "user", "mysql", "pg", "postgres", "redis", "smtp", "ftp", "ldap",
    "bind", "master", "app", "api", "upload", "mail", "sql", "ssh", "sasl", "auth", "login", "web",
    "http", "wa", "key", "store", "trust",
];

/// Words after `auth` that make it a credential (`auth_header`, `auth_value`).
const AUTH_VALUES: &[&str] = &[
    "header", "value", "string", "data", "key", "pass", "creds", "info", "basic", "cookie",
];

/// Names that hold a phone number in WhatsApp payloads.
const PHONE_NAMES: &[&str] = &[
    "wa_id",
    "recipient_id",
    "from",
    "to",
    "debug_info",
    "phone_number",
    "display_phone_number",
    "phone",
    "msisdn",
];

/// The longest name judged whole; a longer one is judged by its last this many bytes.
const MAX_NAME: usize = 128;
/// The most words of a name judged (its last ones).
const MAX_WORDS: usize = 32;

/// A name's words, lower-cased, split without allocating: names are judged at every trigger
/// of every line, so this sits on redaction's hot path.
pub(crate) struct Words {
    lower: [u8; MAX_NAME],
    spans: [(u8, u8); MAX_WORDS],
    n: usize,
}

impl Words {
    /// Splits `name`: snake, kebab, dotted, camelCase, PascalCase, acronym runs (`XApiKey` →
    /// `x api key`, `APIKey` → `api key`); letters and digits part.
    pub(crate) fn of(name: &[u8]) -> Words {
        let name = &name[name.len().saturating_sub(MAX_NAME)..];
        let mut w = Words {
            lower: [0; MAX_NAME],
            spans: [(0, 0); MAX_WORDS],
            n: 0,
        };
        let mut start: Option<usize> = None;
        for (i, &c) in name.iter().enumerate() {
            w.lower[i] = c.to_ascii_lowercase();
            if !c.is_ascii_alphanumeric() {
                if let Some(s) = start.take() {
                    w.push(s, i);
                }
                continue;
            }
            if let Some(s) = start {
                let p = name[i - 1];
                let next_lower = name.get(i + 1).is_some_and(u8::is_ascii_lowercase);
                let boundary = (c.is_ascii_uppercase()
                    && (p.is_ascii_lowercase() || p.is_ascii_digit()))
                    // The last capital of an acronym run starts the next word: API|Key.
                    || (c.is_ascii_uppercase() && p.is_ascii_uppercase() && next_lower)
                    || (c.is_ascii_digit() != p.is_ascii_digit());
                if boundary {
                    w.push(s, i);
                    start = Some(i);
                }
            } else {
                start = Some(i);
            }
        }
        if let Some(s) = start {
            w.push(s, name.len());
        }
        w
    }

    fn push(&mut self, start: usize, end: usize) {
        if self.n == MAX_WORDS {
            self.spans.copy_within(1.., 0);
            self.n -= 1;
        }
        // Both fit in a u8: names are cut to MAX_NAME bytes.
        self.spans[self.n] = (start as u8, end as u8);
        self.n += 1;
    }

    /// The words, in order.
    pub(crate) fn list(&self) -> [&str; MAX_WORDS] {
        let mut out = [""; MAX_WORDS];
        for (i, (s, e)) in self.spans[..self.n].iter().enumerate() {
            // ASCII alphanumerics only: always UTF-8.
            out[i] = std::str::from_utf8(&self.lower[*s as usize..*e as usize]).unwrap_or("");
        }
        out
    }

    pub(crate) fn len(&self) -> usize {
        self.n
    }
}

/// The words of `name` joined by spaces (for tests and messages).
#[cfg(test)]
fn words(name: &[u8]) -> String {
    let w = Words::of(name);
    w.list()[..w.len()].join(" ")
}

/// The kind of secret the value of `name` is, or None when the name is innocent.
pub(crate) fn secret_kind(name: &[u8]) -> Option<Kind> {
    let split = Words::of(name);
    let list = split.list();
    kind_of(&list[..split.len()])
}

/// Whether `word` contains `part` (names' words are a few bytes: no searcher is worth
/// building).
fn has(word: &str, part: &str) -> bool {
    word.len() >= part.len()
        && word
            .as_bytes()
            .windows(part.len())
            .any(|w| w == part.as_bytes())
}

/// [`secret_kind`] of a name already split into words.
pub(crate) fn kind_of(all: &[&str]) -> Option<Kind> {
    if all.is_empty() {
        return None;
    }
    // The significant words: trailing digits and encodings say nothing about the kind.
    let mut end = all.len();
    while end > 1
        && (all[end - 1].bytes().all(|b| b.is_ascii_digit()) || WRAPPERS.contains(&all[end - 1]))
    {
        end -= 1;
    }
    let w = &all[..end];
    let last = w[end - 1];
    let prev = (end >= 2).then(|| w[end - 2]);
    // AWS_ACCESS_KEY_ID and session ids before the `id` meta word rules them out.
    if last == "id" && matches!(prev, Some("session" | "sess")) {
        return Some("session");
    }
    if last == "id" && prev == Some("key") && end >= 3 && w[end - 3] == "access" {
        return Some("key");
    }
    if META.contains(&last) {
        return None;
    }
    if matches!(last, "authorization") {
        return Some("token");
    }
    let mut kind: Option<Kind> = None;
    let mut note = |k: Kind| {
        // Password wins over the rest: it names the placeholder people recognise.
        if kind.is_none() || k == "password" {
            kind = Some(k);
        }
    };
    for (i, &word) in w.iter().enumerate() {
        let is_last = i + 1 == end;
        if has(word, "passw") || has(word, "passphrase") || has(word, "passcode") {
            note("password");
        } else if has(word, "secret") || has(word, "credential") || word == "creds" {
            note("secret");
        } else if word.ends_with("token")
            || word.ends_with("authtok")
            || word == "bearer"
            || (word == "jwt" && is_last)
        {
            note("token");
        } else if word.ends_with("sessionid")
            || word.ends_with("sessid")
            || (is_last && (word.ends_with("cookie") || word == "cookies"))
        {
            note("session");
        } else if KEY_COMPOUNDS.iter().any(|k| word.ends_with(k)) {
            note("key");
        } else if is_last && (word == "key" || word == "keys") {
            if let Some(p) = prev
                && !INNOCENT_KEY.contains(&p)
            {
                note("key");
            }
        } else if (word == "pass" || word == "pwd") && is_last && end >= 2 {
            // nginx's proxy_pass and friends name an upstream, not a password.
            let nginx = end == 2
                && matches!(
                    w[0],
                    "proxy" | "fastcgi" | "uwsgi" | "scgi" | "grpc" | "memcached"
                );
            if !nginx {
                note("password");
            }
        } else if is_last
            && (word.ends_with("pass") || word.ends_with("pwd"))
            && word != "oldpwd"
            && PASS_PREFIXES.iter().any(|p| {
                word.strip_prefix(p)
                    .is_some_and(|r| r == "pass" || r == "pwd")
            })
        {
            note("password");
        } else if word == "auth"
            && (is_last || w.get(i + 1).is_some_and(|n| AUTH_VALUES.contains(n)))
        {
            note("secret");
        } else if (word == "session" || word == "sess")
            && w.get(i + 1)
                .is_some_and(|n| matches!(*n, "key" | "token" | "cookie" | "secret"))
        {
            note("session");
        }
    }
    kind
}

/// Whether `name` alone (`--pass`, `-pwd`) is a password flag: on a command line the bare
/// abbreviation is one, though as a config key (`"pass": 30`) it is not.
pub(crate) fn is_password_flag(name: &[u8]) -> bool {
    [&b"pass"[..], b"pwd", b"passwd", b"password"]
        .iter()
        .any(|w| name.eq_ignore_ascii_case(w))
}

/// Whether `name` holds a phone number in WhatsApp payloads (`wa_id`, `recipient_id`).
pub(crate) fn is_phone_name(name: &[u8]) -> bool {
    PHONE_NAMES
        .iter()
        .any(|p| name.eq_ignore_ascii_case(p.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_every_case_style() {
        for (name, want) in [
            ("WA_DB_PASSWORD", "wa db password"),
            ("dbPassword", "db password"),
            ("RootPassword", "root password"),
            ("X-Api-Key", "x api key"),
            ("XApiKey", "x api key"),
            ("APIKey", "api key"),
            ("com.example.db.password", "com example db password"),
            ("db_pass2", "db pass 2"),
            ("ldap_default_authtok", "ldap default authtok"),
        ] {
            assert_eq!(words(name.as_bytes()), want, "{name}");
        }
    }

    #[test]
    fn secret_names_in_every_style() {
        for name in [
            "WA_DB_PASSWORD",
            "dbPassword",
            "rootPassword",
            "RootPassword",
            "waSecret",
            "DB_PASSWD",
            "apiToken",
            "clientSecret",
            "MYSQL_PWD",
            "DB_PASS",
            "db-pass",
            "upload-pass",
            "rootpass",
            "ENCRYPTION_KEY",
            "encryptionKey",
            "WA_BACKUP_PASSPHRASE",
            "X-Api-Key",
            "x_api_key",
            "com.example.db.password",
            "ldap_default_authtok",
            "krb5_authtok",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_ACCESS_KEY_ID",
            "JSESSIONID",
            "PHPSESSID",
            "session_id",
            "sessionId",
            "Cookie",
            "Set-Cookie",
            "Authorization",
            "Proxy-Authorization",
            "auth",
            "Auth_Header",
            "api_key",
            "APIKEY",
            "WA_WEB_JWT_CRYPTO_KEY",
            "DB_PASSWORD_B64",
            "password",
            "credentials",
            "csrftoken",
        ] {
            assert!(secret_kind(name.as_bytes()).is_some(), "{name}");
            assert!(is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn innocent_names_stay_innocent() {
        for name in [
            "passenger",
            "compass",
            "bypass",
            "keyboard",
            "monkey",
            "passed",
            "pass",
            "PWD",
            "OLDPWD",
            "proxy_pass",
            "fastcgi_pass",
            "primary_key",
            "cache_key",
            "public_key",
            "key",
            "token_type",
            "password_file",
            "password_policy_enabled",
            "password_set",
            "password_forbidden_chars",
            "auth_plugin",
            "user_auth_plugin",
            "default_authentication_plugin",
            "wa_secret_fingerprints",
            "author",
            "WA_DB_HOSTNAME",
            "WA_DB_USERNAME",
            "WA_APP_MULTICONNECT",
            "PATH",
            "max_tokens",
            "tokenizer",
            "secret_name",
            "client_id",
        ] {
            assert!(secret_kind(name.as_bytes()).is_none(), "{name}");
        }
        // The broad test keeps every name it matched before words were judged.
        for name in [
            "password_policy_enabled",
            "token_type",
            "auth_plugin",
            "author",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "passenger",
            "compass",
            "bypass",
            "keyboard",
            "monkey",
            "PWD",
            "WA_DB_HOSTNAME",
            "PATH",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn kinds() {
        assert_eq!(secret_kind(b"WA_DB_PASSWORD"), Some("password"));
        assert_eq!(secret_kind(b"WA_SECRET"), Some("secret"));
        assert_eq!(secret_kind(b"apiToken"), Some("token"));
        assert_eq!(secret_kind(b"X-Api-Key"), Some("key"));
        assert_eq!(secret_kind(b"JSESSIONID"), Some("session"));
        assert!(is_phone_name(b"wa_id") && !is_phone_name(b"wa_ids"));
        assert!(is_password_flag(b"pass") && !is_password_flag(b"passenger"));
    }
}
