//! Where the database connection settings come from, first found wins:
//! 1. `--db-url`, or `--db-host/--db-port/--db-user/--db-engine` with the password from
//!    `--db-password-file` or `WA_DB_PASSWORD` (never a plain flag value);
//! 2. `--db-env FILE`, a WhatsApp `db.env`;
//! 3. the config file's `database:` section;
//! 4. the `WA_DB_*` variables of the running coreapp container.
//!
//! The password lives in [`Secret`], whose `Debug` and `Display` never show it.

use std::collections::HashMap;

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::secret::Secret;

/// serde `deserialize_with` for `database.engine`: one of the engines the client supports,
/// checked when the config loads (the error is located at the value).
///
/// # Errors
///
/// The engine named is not MySQL or PostgreSQL; the message lists the accepted names.
pub fn engine_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v: Option<String> = Option::deserialize(d)?;
    if let Some(name) = &v
        && Engine::parse(name).is_none()
    {
        return Err(serde::de::Error::custom(format!(
            "engine {name:?} is not one of mysql, postgres (MYSQL, PGSQL, postgresql work too)"
        )));
    }
    Ok(v)
}

/// The two engines the client supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// MySQL (or MariaDB, which speaks its protocol): `WA_DB_ENGINE=MYSQL`, MySQL 5.7.xx or 8.0.xx
    /// per the client's docs.
    Mysql,
    /// PostgreSQL: `WA_DB_ENGINE=PGSQL`, PostgreSQL 11.x, 12.x or 13.x per the client's docs.
    Postgres,
}

impl Engine {
    /// `WA_DB_ENGINE` values (`MYSQL`, `PGSQL`, case-insensitive) and URL schemes.
    pub fn parse(s: &str) -> Option<Engine> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mysql" => Some(Engine::Mysql),
            "pgsql" | "postgres" | "postgresql" => Some(Engine::Postgres),
            _ => None,
        }
    }
    /// The engine as the facts document names it: `mysql` or `postgresql`.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Mysql => "mysql",
            Engine::Postgres => "postgresql",
        }
    }
    /// The engine's standard TCP port (3306 for MySQL, 5432 for PostgreSQL), used when no port is
    /// given.
    pub fn default_port(self) -> u16 {
        match self {
            Engine::Mysql => 3306,
            Engine::Postgres => 5432,
        }
    }
}

/// Client TLS files (`WA_DB_SSL_CA/CERT/KEY`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA certificate file to verify the server with (`WA_DB_SSL_CA`).
    pub ca: Option<PathBuf>,
    /// Client certificate file (`WA_DB_SSL_CERT`).
    pub cert: Option<PathBuf>,
    /// The client certificate's private key file (`WA_DB_SSL_KEY`).
    pub key: Option<PathBuf>,
}

/// A database to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbTarget {
    /// Which engine's protocol to speak.
    pub engine: Engine,
    /// Host name or IP address of the server, as configured (`WA_DB_HOSTNAME`); resolved later,
    /// where the connection is made from.
    pub host: String,
    /// TCP port (`WA_DB_PORT`, else the engine's default).
    pub port: u16,
    /// The user to log in as (`WA_DB_USERNAME`).
    pub user: String,
    /// The password (`WA_DB_PASSWORD`, a password file, or the URL's); never printed. None: connect
    /// without one.
    pub password: Option<Secret>,
    /// The database to connect to (a URL's path, the config's `database`); None: the engine's
    /// default for the user.
    pub database: Option<String>,
    /// Client TLS files; all None: the engine's default TLS negotiation without client
    /// certificates.
    pub tls: TlsFiles,
    /// Which source gave these settings, for the report.
    pub source: String,
}

/// The config file's `database:` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `mysql` or `postgres` (`MYSQL`, `PGSQL` too); anything else is a config error.
    #[serde(default, deserialize_with = "engine_name")]
    pub engine: Option<String>,
    /// Host name or IP address of the server.
    pub host: Option<String>,
    /// TCP port (default: the engine's, 3306 or 5432).
    pub port: Option<u16>,
    /// The user to log in as.
    pub user: Option<String>,
    /// A file holding the password (never the password itself in the config).
    pub password_file: Option<PathBuf>,
    /// The database to connect to (default: the engine's default for the user).
    pub database: Option<String>,
    /// A db.env to read instead of the fields above.
    pub env_file: Option<PathBuf>,
    /// Round trips for the latency measurement.
    #[serde(default, deserialize_with = "crate::bounds::de::samples")]
    pub samples: Option<usize>,
}

/// The operator's flags.
#[derive(Debug, Clone, Default)]
pub struct DbFlags {
    /// `--db-url` (`mysql://user:pass@host:3306/db`, `postgres://…`); wins over every other
    /// setting.
    pub url: Option<String>,
    /// `--db-host`: with `--db-engine` and `--db-user`, names the database without a URL.
    pub host: Option<String>,
    /// `--db-port` (default: the engine's).
    pub port: Option<u16>,
    /// `--db-user`.
    pub user: Option<String>,
    /// `--db-engine`: `mysql` or `postgres` (`MYSQL`, `PGSQL`, `postgresql` work too).
    pub engine: Option<String>,
    /// `--db-password-file`: a file whose first line is the password (else `WA_DB_PASSWORD` from
    /// the environment).
    pub password_file: Option<PathBuf>,
    /// `--db-env`: a WhatsApp `db.env` to read the settings from.
    pub env_file: Option<PathBuf>,
    /// `WA_DB_PASSWORD` of preflight's own environment (`settings::gather_options` reads it):
    /// the password for flag- and config-given settings that name no password file.
    pub env_password: Option<Secret>,
}

/// Reads a password file: its first line, without the newline.
fn read_password(path: &Path) -> Result<Secret, String> {
    let text = crate::input::read_text(path, "password file", crate::input::SECRET_LIMIT)
        .map_err(|e| e.to_string())?;
    Ok(Secret::new(
        text.lines().next().unwrap_or("").trim_end_matches('\r'),
    ))
}

/// Parses a db.env file (`KEY=VALUE` lines; `#` comments, quotes, CRLF and `export` prefixes
/// allowed). Errors name the file and line but never repeat the line: it may hold the password.
///
/// # Errors
///
/// `NAME:LINE: …` for a line that is not `KEY=VALUE`, a quote without its closing quote, text after
/// a closing quote, or a `WA_DB_PORT` that is not a port from 1 to 65535.
pub fn parse_env_file(name: &str, text: &str) -> Result<HashMap<String, String>, String> {
    let mut vars = HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim_end_matches('\r').trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        // The text before `=` may be a name followed by the value (`WA_DB_PASSWORD s3cret`,
        // `WA_DB_PASSWORD s3=cret`): errors quote a name only when it is one, never the rest.
        let is_name =
            |k: &str| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("{name}:{n}: expected KEY=VALUE"));
        };
        let key = key.trim();
        if !is_name(key) {
            return Err(match key.split_whitespace().next().filter(|k| is_name(k)) {
                Some(first) => format!(
                    "{name}:{n}: expected KEY=VALUE (the name {first} is followed by a space, not '=')"
                ),
                None => format!("{name}:{n}: the text before '=' is not a variable name"),
            });
        }
        let value = value.trim();
        let value = match value.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let inner = &value[1..];
                let end = inner
                    .rfind(q)
                    .ok_or_else(|| format!("{name}:{n}: the value of {key} has no closing {q}"))?;
                if !inner[end + 1..].trim().is_empty() {
                    return Err(format!("{name}:{n}: text after the closing quote of {key}"));
                }
                inner[..end].to_string()
            }
            _ => value.to_string(),
        };
        if key == "WA_DB_PORT" && !value.trim().is_empty() {
            port_number(&value).map_err(|e| format!("{name}:{n}: WA_DB_PORT: {e}"))?;
        }
        vars.insert(key.to_string(), value);
    }
    Ok(vars)
}

/// A TCP port, 1 to 65535. Only digits are ever quoted back: a value that runs on into
/// another variable (`WA_DB_PORT=3306 WA_DB_PASSWORD=…` on one line) must not be echoed.
fn port_number(text: &str) -> Result<u16, String> {
    let t = text.trim();
    let digits = !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    match t.parse::<u64>() {
        Ok(p @ 1..=65535) => Ok(p as u16),
        Ok(p) => Err(format!("{p} is out of range: give a port from 1 to 65535")),
        Err(_) if digits => Err(format!("{t} is out of range: give a port from 1 to 65535")),
        Err(_) => Err("not a port number (1 to 65535)".to_string()),
    }
}

/// A value shown in an error only when it is a short word (an engine name), never free text.
fn shown_word(value: &str) -> String {
    if value.len() <= 16 && value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        format!("={value}")
    } else {
        String::new()
    }
}

/// Builds a target from `WA_DB_*` variables.
///
/// # Errors
///
/// `SOURCE: … is not set` when `WA_DB_ENGINE`, `WA_DB_HOSTNAME` or `WA_DB_USERNAME` is missing; an
/// engine other than MySQL or PostgreSQL; a `WA_DB_PORT` that is not a port. Values are never
/// quoted, except a short engine name.
pub fn from_wa_env(vars: &HashMap<String, String>, source: &str) -> Result<DbTarget, String> {
    let get = |k: &str| {
        vars.get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let engine_raw =
        get("WA_DB_ENGINE").ok_or_else(|| format!("{source}: WA_DB_ENGINE is not set"))?;
    let engine = Engine::parse(&engine_raw).ok_or_else(|| {
        format!(
            "{source}: WA_DB_ENGINE{} must be MYSQL or PGSQL",
            shown_word(&engine_raw)
        )
    })?;
    let host =
        get("WA_DB_HOSTNAME").ok_or_else(|| format!("{source}: WA_DB_HOSTNAME is not set"))?;
    let port = match get("WA_DB_PORT") {
        Some(p) => port_number(&p).map_err(|e| format!("{source}: WA_DB_PORT: {e}"))?,
        None => engine.default_port(),
    };
    let user =
        get("WA_DB_USERNAME").ok_or_else(|| format!("{source}: WA_DB_USERNAME is not set"))?;
    Ok(DbTarget {
        engine,
        host,
        port,
        user,
        // The password is taken as written: spaces and forbidden characters are judged later.
        password: vars.get("WA_DB_PASSWORD").map(Secret::new),
        database: None,
        tls: TlsFiles {
            ca: get("WA_DB_SSL_CA").map(PathBuf::from),
            cert: get("WA_DB_SSL_CERT").map(PathBuf::from),
            key: get("WA_DB_SSL_KEY").map(PathBuf::from),
        },
        source: source.to_string(),
    })
}

fn from_url(url: &str) -> Result<DbTarget, String> {
    // Never echo the URL: it may carry the password.
    let u = url::Url::parse(url).map_err(|e| format!("--db-url is not a URL ({e})"))?;
    let engine = Engine::parse(u.scheme())
        .ok_or_else(|| format!("--db-url scheme {:?} must be mysql or postgres", u.scheme()))?;
    let host = u.host_str().ok_or("--db-url names no host")?.to_string();
    let decode =
        |s: &str| percent_decode(s).ok_or_else(|| "--db-url has an invalid %-escape".to_string());
    // The path is the database name, escaped like the userinfo (`wa%2Dprod` is `wa-prod`).
    let database = decode(u.path().trim_start_matches('/'))?;
    Ok(DbTarget {
        engine,
        host,
        port: u.port().unwrap_or(engine.default_port()),
        user: decode(u.username())?,
        password: u.password().map(decode).transpose()?.map(Secret::new),
        database: (!database.is_empty()).then_some(database),
        tls: TlsFiles::default(),
        source: "--db-url".to_string(),
    })
}

/// Decodes the percent escapes of a URL's user or password (RFC 3986 userinfo: only `%XX` is
/// an escape, `+` is a plus). `None` when a `%` is not followed by two hex digits, or when the
/// result is not UTF-8: the crate's decoder passes a broken escape through as written, which
/// would connect with a password the operator did not mean.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let escapes_valid = b
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == b'%')
        .all(|(i, _)| {
            b.get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
        });
    if !escapes_valid {
        return None;
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|v| v.into_owned())
}

/// The password for flag- and config-given settings: a file, else `WA_DB_PASSWORD`.
fn password_from(
    file: Option<&Path>,
    env_password: Option<&Secret>,
) -> Result<Option<Secret>, String> {
    match file {
        Some(f) => read_password(f).map(Some),
        None => Ok(env_password.cloned()),
    }
}

fn from_fields(
    engine: Option<&str>,
    host: Option<&str>,
    port: Option<u16>,
    user: Option<&str>,
    password: (Option<&Path>, Option<&Secret>),
    source: &str,
) -> Result<DbTarget, String> {
    let engine =
        engine.ok_or_else(|| format!("{source}: the engine (mysql or postgres) is missing"))?;
    let engine = Engine::parse(engine)
        .ok_or_else(|| format!("{source}: engine {engine:?} must be mysql or postgres"))?;
    Ok(DbTarget {
        engine,
        host: host
            .ok_or_else(|| format!("{source}: the host is missing"))?
            .to_string(),
        port: port.unwrap_or(engine.default_port()),
        user: user
            .ok_or_else(|| format!("{source}: the user is missing"))?
            .to_string(),
        password: password_from(password.0, password.1)?,
        database: None,
        tls: TlsFiles::default(),
        source: source.to_string(),
    })
}

fn from_env_file(path: &Path) -> Result<DbTarget, String> {
    let shown = path.display().to_string();
    let text = crate::input::read_text(path, "db.env", crate::input::TEXT_LIMIT)
        .map_err(|e| e.to_string())?;
    from_wa_env(&parse_env_file(&shown, &text)?, &format!("db.env {shown}"))
}

/// Picks the settings; `Ok(None)` when no source names a database.
///
/// # Errors
///
/// The first source found is unusable: `--db-url` that is not a `mysql://` or `postgres://` URL, a
/// missing engine, host or user, an unreadable password file or db.env, or an error of
/// [`parse_env_file`] / [`from_wa_env`]; the message names the source.
pub fn resolve(
    flags: &DbFlags,
    config: Option<&DatabaseConfig>,
    container: Option<(&str, &HashMap<String, String>)>,
) -> Result<Option<DbTarget>, String> {
    if let Some(url) = &flags.url {
        let mut t = from_url(url)?;
        if t.password.is_none() {
            t.password =
                password_from(flags.password_file.as_deref(), flags.env_password.as_ref())?;
        }
        return Ok(Some(t));
    }
    if flags.host.is_some() {
        return from_fields(
            flags.engine.as_deref(),
            flags.host.as_deref(),
            flags.port,
            flags.user.as_deref(),
            (flags.password_file.as_deref(), flags.env_password.as_ref()),
            "--db-host",
        )
        .map(Some);
    }
    if let Some(path) = &flags.env_file {
        return from_env_file(path).map(Some);
    }
    if let Some(c) = config {
        if let Some(path) = &c.env_file {
            return from_env_file(path).map(Some);
        }
        if c.host.is_some() {
            let mut t = from_fields(
                c.engine.as_deref(),
                c.host.as_deref(),
                c.port,
                c.user.as_deref(),
                (c.password_file.as_deref(), flags.env_password.as_ref()),
                "config database:",
            )?;
            t.database = c.database.clone();
            return Ok(Some(t));
        }
    }
    if let Some((name, vars)) = container
        && vars.contains_key("WA_DB_ENGINE")
    {
        return from_wa_env(vars, &format!("container {name}")).map(Some);
    }
    Ok(None)
}

/// How to give a database, for the "not configured" message.
/// Short, because it is the one line every skipped `db.*` rule is grouped under; the rule's
/// remedy and `preflight explain db.configured` give every way.
pub const HOW_TO_CONFIGURE: &str = "no database configured: give --db-url or --db-env FILE";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_env_files() {
        let text = "# WhatsApp db.env\r\nWA_DB_ENGINE=MYSQL\r\nexport WA_DB_HOSTNAME=db\r\nWA_DB_PORT=\"3306\"\r\nWA_DB_USERNAME='root'\r\nWA_DB_PASSWORD=te=st pass\r\n\r\nWA_DB_CONNECTION_IDLE_TIMEOUT=180000\r\n";
        let vars = parse_env_file("db.env", text).unwrap();
        let t = from_wa_env(&vars, "db.env").unwrap();
        assert_eq!(
            (t.engine, t.host.as_str(), t.port, t.user.as_str()),
            (Engine::Mysql, "db", 3306, "root")
        );
        assert_eq!(t.password.as_ref().map(Secret::expose), Some("te=st pass"));
        assert_eq!(format!("{:?}", t.password), "Some(<redacted>)");
        let pg = from_wa_env(
            &parse_env_file(
                "e",
                "WA_DB_ENGINE=pgsql\nWA_DB_HOSTNAME=h\nWA_DB_USERNAME=u\n",
            )
            .unwrap(),
            "e",
        )
        .unwrap();
        assert_eq!((pg.engine, pg.port), (Engine::Postgres, 5432));
    }

    #[test]
    fn malformed_db_env_is_located_and_never_echoed() {
        let e = parse_env_file(
            "db.env",
            "WA_DB_ENGINE=MYSQL\nWA_DB_PASSWORD s3cret-value\n",
        )
        .unwrap_err();
        assert_eq!(e, "db.env:2: expected KEY=VALUE");
        let e = parse_env_file("db.env", "A=1\n\nWA_DB_PASSWORD=\"s3cret-value\n").unwrap_err();
        assert!(e.starts_with("db.env:3:") && !e.contains("s3cret"), "{e}");
        let e = parse_env_file("db.env", "BAD KEY=1\n").unwrap_err();
        assert!(e.starts_with("db.env:1:"), "{e}");
        // A missing '=' with a value that holds one: the value never shows.
        for line in [
            "WA_DB_PASSWORD s3cr=et-value",
            "WA_DB_PASSWORD\ts3cret-value=",
            "  WA_DB_PASSWORD   s3cret value == x",
            "s3cret-value WA_DB_PASSWORD=x",
            "export WA_DB_PASSWORD s3cret=value",
        ] {
            let e = parse_env_file("db.env", &format!("A=1\n{line}\n")).unwrap_err();
            assert!(
                e.starts_with("db.env:2:") && !e.contains("s3cr"),
                "{line}: {e}"
            );
        }
        // Numbers are range-checked with their line.
        for port in [
            "0",
            "65536",
            "99999999999999999999",
            "-1",
            "http",
            "3306 WA_DB_PASSWORD=x",
        ] {
            let e = parse_env_file("db.env", &format!("A=1\nWA_DB_PORT={port}\n")).unwrap_err();
            assert!(
                e.starts_with("db.env:2: WA_DB_PORT:") && !e.contains("PASSWORD"),
                "{port}: {e}"
            );
        }
        let vars = parse_env_file("db.env", "WA_DB_ENGINE=ORACLE\n").unwrap();
        assert!(
            from_wa_env(&vars, "db.env")
                .unwrap_err()
                .contains("must be MYSQL or PGSQL")
        );
        // A container's variables are checked the same way.
        let vars: HashMap<String, String> = [
            ("WA_DB_ENGINE", "MYSQL"),
            ("WA_DB_HOSTNAME", "h"),
            ("WA_DB_USERNAME", "u"),
            ("WA_DB_PORT", "http"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert!(
            from_wa_env(&vars, "db.env")
                .unwrap_err()
                .contains("WA_DB_PORT: not a port number")
        );
    }

    #[test]
    fn urls_and_precedence() {
        let flags = DbFlags {
            url: Some("postgres://wa:p%40ss%21@db.example:6432/waent".into()),
            env_file: Some("/nonexistent".into()),
            ..DbFlags::default()
        };
        let t = resolve(&flags, None, None).unwrap().unwrap();
        assert_eq!(
            (t.engine, t.host.as_str(), t.port),
            (Engine::Postgres, "db.example", 6432)
        );
        assert_eq!(t.password.unwrap().expose(), "p@ss!");
        assert_eq!(t.database.as_deref(), Some("waent"));
        let e = resolve(
            &DbFlags {
                url: Some("oracle://x/y".into()),
                ..DbFlags::default()
            },
            None,
            None,
        )
        .unwrap_err();
        assert!(e.contains("must be mysql or postgres"));
        let e = resolve(
            &DbFlags {
                url: Some("mysql://u:hunter2@".into()),
                ..DbFlags::default()
            },
            None,
            None,
        )
        .unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        // Nothing anywhere: not configured.
        assert_eq!(resolve(&DbFlags::default(), None, None).unwrap(), None);
        // The container's variables come last.
        let vars: HashMap<String, String> = [
            ("WA_DB_ENGINE", "MYSQL"),
            ("WA_DB_HOSTNAME", "10.0.0.5"),
            ("WA_DB_USERNAME", "wa"),
            ("WA_DB_PASSWORD", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let t = resolve(&DbFlags::default(), None, Some(("wa_coreapp_1", &vars)))
            .unwrap()
            .unwrap();
        assert_eq!(t.source, "container wa_coreapp_1");
    }

    #[test]
    fn db_url_user_and_password_are_percent_decoded_and_nothing_else() {
        let target = |userinfo: &str| from_url(&format!("mysql://{userinfo}@db:3306/waent"));
        let cases = [
            ("u:p+ss", "u", "p+ss"),
            ("u+1:pw", "u+1", "pw"),
            ("u:p&ss=x", "u", "p&ss=x"),
            ("u&a=b:pw", "u&a=b", "pw"),
            ("u:p%2Bss", "u", "p+ss"),
            ("u:p%26ss%3Dx", "u", "p&ss=x"),
            ("u%40corp:p%40ss", "u@corp", "p@ss"),
            ("u:p%20ss", "u", "p ss"),
            ("u:p\u{e4}ssw\u{f6}rd", "u", "p\u{e4}ssw\u{f6}rd"),
            ("u:p%C3%A4ss", "u", "p\u{e4}ss"),
            ("u:%25zz", "u", "%zz"),
        ];
        for (userinfo, user, password) in cases {
            let t = target(userinfo).unwrap_or_else(|e| panic!("{userinfo}: {e}"));
            assert_eq!(t.user, user, "{userinfo}");
            assert_eq!(t.password.unwrap().expose(), password, "{userinfo}");
        }
        // A `%` that starts no escape, or escapes that are not UTF-8, is refused by name
        // (never echoing the URL), for the user as for the password.
        for userinfo in [
            "u:p%zz", "u:p%2", "u:p%", "u:p%+f", "u:%FF", "u%zz:pw", "u%C3:pw",
        ] {
            let e = target(userinfo).unwrap_err();
            assert_eq!(e, "--db-url has an invalid %-escape", "{userinfo}");
        }
    }

    #[test]
    fn db_url_database_name_is_percent_decoded_like_the_userinfo() {
        let name = |path: &str| from_url(&format!("postgres://u:pw@db/{path}")).map(|t| t.database);
        assert_eq!(name("waent").unwrap().as_deref(), Some("waent"));
        assert_eq!(name("wa%2Dprod").unwrap().as_deref(), Some("wa-prod"));
        assert_eq!(name("wa%20db").unwrap().as_deref(), Some("wa db"));
        assert_eq!(name("wa+db").unwrap().as_deref(), Some("wa+db"));
        assert_eq!(name("").unwrap(), None);
        assert_eq!(
            name("wa%zz").unwrap_err(),
            "--db-url has an invalid %-escape"
        );
    }
}
