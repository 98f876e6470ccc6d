//! The database the client uses: reachability (classified), engine identity, real latency,
//! settings, grants and placement, over a real connection (sqlx, rustls).
//!
//! The password is used to connect and to say which forbidden characters it contains; it never
//! enters the facts, a log line or an error message (driver errors are scrubbed of it).

pub mod settings;

use std::net::{IpAddr, UdpSocket};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlSslMode};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{ConnectOptions, Connection, Row};

use super::Fact;
pub use settings::{DatabaseConfig, DbFlags, DbTarget, Engine};

/// Characters the client does not accept in the database password.
pub const FORBIDDEN_PASSWORD_CHARS: &[char] = &['?', '{', '}', '&', '~', '!', '(', ')', '^', '='];

/// How to measure.
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub flags: DbFlags,
    pub config: Option<DatabaseConfig>,
    /// Sequential round trips timed after warm-up.
    pub samples: usize,
    /// Deadline of connecting and of each measurement step.
    pub deadline: Duration,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            flags: DbFlags::default(),
            config: None,
            samples: 50,
            deadline: Duration::from_secs(5),
        }
    }
}

/// What the server is, by its own account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFacts {
    /// `mysql`, `mariadb` or `postgresql`.
    pub product: String,
    /// As reported by the server (`8.0.36`, `10.11.19-MariaDB-0+deb12u1`, `13.23`).
    pub version: String,
    /// What decided the product (MariaDB can report any version string).
    pub evidence: String,
    /// The connection is encrypted.
    pub tls: bool,
}

/// Round-trip times of a trivial query on one connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyFacts {
    pub samples: u32,
    pub min_us: f64,
    pub p50_us: f64,
    pub p95_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

/// Server settings that matter to the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub max_connections: Option<u64>,
    /// MySQL: `default_authentication_plugin` (absent on MariaDB and MySQL 8.4).
    pub default_authentication_plugin: Option<String>,
    /// MySQL: the connected user's authentication plugin, when readable.
    pub user_auth_plugin: Option<String>,
    pub sql_mode: Option<String>,
    /// MySQL `character_set_server`, PostgreSQL `server_encoding`.
    pub character_set: Option<String>,
}

/// What the user may do, read from the server's privilege views.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantFacts {
    /// Of SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, DROP: those held on every
    /// database (the client creates its own).
    pub held: Vec<String>,
    pub missing: Vec<String>,
    /// May create databases.
    pub create_database: bool,
    /// Where this was read (`SHOW GRANTS`, `pg_roles`).
    pub source: String,
}

/// Whether the database runs on this machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementFacts {
    pub addresses: Vec<String>,
    /// One of the addresses belongs to this machine.
    pub local: bool,
}

/// Everything about the database. Fields after `source` are null when none is configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseFacts {
    /// Which source gave the settings (`--db-url`, `db.env /etc/wa/db.env`, `config database:`,
    /// `container wa_coreapp_1`); null when none did.
    pub source: Option<String>,
    /// How to give one, when none was found.
    pub how_to_configure: Option<String>,
    /// The configured engine: `mysql` or `postgresql`.
    pub engine: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub password_set: bool,
    /// Which forbidden characters the password contains (never the password).
    pub password_forbidden_chars: Vec<String>,
    /// `ok`, `dns`, `refused`, `timeout`, `auth`, `unknown_database`, `tls`, `auth_plugin`,
    /// `other`.
    pub connect_outcome: Option<String>,
    /// TCP + TLS + authentication, in microseconds.
    pub connect_us: Option<f64>,
    pub server: Option<Fact<ServerFacts>>,
    pub latency: Option<Fact<LatencyFacts>>,
    pub settings: Option<Fact<ServerSettings>>,
    pub grants: Option<Fact<GrantFacts>>,
    pub placement: Option<Fact<PlacementFacts>>,
}

impl DatabaseFacts {
    fn unconfigured() -> DatabaseFacts {
        DatabaseFacts {
            source: None,
            how_to_configure: Some(settings::HOW_TO_CONFIGURE.to_string()),
            engine: None,
            host: None,
            port: None,
            user: None,
            password_set: false,
            password_forbidden_chars: Vec::new(),
            connect_outcome: None,
            connect_us: None,
            server: None,
            latency: None,
            settings: None,
            grants: None,
            placement: None,
        }
    }
}

enum Conn {
    My(MySqlConnection),
    Pg(PgConnection),
}

/// A classified connection failure.
struct ConnectError {
    outcome: &'static str,
    message: String,
}

/// The same fact, with the password removed from an unavailability reason.
fn scrubbed<T>(t: &DbTarget, f: Fact<T>) -> Fact<T> {
    match f {
        Fact::Unavailable(why) => Fact::Unavailable(scrub(&why, t)),
        ok => ok,
    }
}

/// Removes the password from any text that may have come from the driver.
fn scrub(text: &str, t: &DbTarget) -> String {
    match t
        .password
        .as_ref()
        .map(|p| p.expose())
        .filter(|p| p.len() >= 3)
    {
        Some(p) => text.replace(p, "<redacted>"),
        None => text.to_string(),
    }
}

fn classify(e: &sqlx::Error, t: &DbTarget) -> ConnectError {
    let at = format!("{}:{}", t.host, t.port);
    let (outcome, message) = match e {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => (
            "refused",
            format!("{at} refused the connection: no server listens there"),
        ),
        sqlx::Error::Io(io) => ("other", format!("{at}: {io}")),
        sqlx::Error::Tls(tls) => ("tls", format!("TLS with {at} failed: {tls}")),
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.to_string()).unwrap_or_default();
            let msg = db.message().to_string();
            let lower = msg.to_ascii_lowercase();
            if matches!(code.as_str(), "28000" | "28P01") || lower.contains("access denied") {
                (
                    "auth",
                    format!("authentication failed for user {} at {at}: {msg}", t.user),
                )
            } else if code == "3D000" || lower.contains("unknown database") {
                ("unknown_database", format!("{at}: {msg}"))
            } else {
                ("other", format!("{at}: {msg} (code {code})"))
            }
        }
        sqlx::Error::Protocol(p) if p.to_ascii_lowercase().contains("plugin") => (
            "auth_plugin",
            format!("{at} asks for an authentication plugin this tool cannot use: {p}"),
        ),
        other => ("other", format!("{at}: {other}")),
    };
    ConnectError {
        outcome,
        message: scrub(&message, t),
    }
}

async fn connect(t: &DbTarget) -> Result<Conn, sqlx::Error> {
    let password = t.password.as_ref().map(|p| p.expose()).unwrap_or("");
    match t.engine {
        Engine::Mysql => {
            let mut o = MySqlConnectOptions::new()
                .host(&t.host)
                .port(t.port)
                .username(&t.user)
                .password(password);
            if let Some(db) = &t.database {
                o = o.database(db);
            }
            if let Some(ca) = &t.tls.ca {
                o = o.ssl_mode(MySqlSslMode::VerifyCa).ssl_ca(ca);
            }
            if let (Some(cert), Some(key)) = (&t.tls.cert, &t.tls.key) {
                o = o.ssl_client_cert(cert).ssl_client_key(key);
            }
            o.connect().await.map(Conn::My)
        }
        Engine::Postgres => {
            let mut o = PgConnectOptions::new()
                .host(&t.host)
                .port(t.port)
                .username(&t.user)
                .password(password)
                .database(t.database.as_deref().unwrap_or("postgres"));
            if let Some(ca) = &t.tls.ca {
                o = o.ssl_mode(PgSslMode::VerifyCa).ssl_root_cert(ca);
            }
            if let (Some(cert), Some(key)) = (&t.tls.cert, &t.tls.key) {
                o = o.ssl_client_cert(cert).ssl_client_key(key);
            }
            o.connect().await.map(Conn::Pg)
        }
    }
}

/// One row of text columns (NULL → None), for the small identity and settings queries.
async fn row_texts(conn: &mut Conn, sql: &'static str) -> Result<Vec<Option<String>>, sqlx::Error> {
    fn texts<R: Row>(row: &R) -> Vec<Option<String>>
    where
        for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        usize: sqlx::ColumnIndex<R>,
    {
        (0..row.len())
            .map(|i| row.try_get::<Option<String>, _>(i).ok().flatten())
            .collect()
    }
    Ok(match conn {
        Conn::My(c) => sqlx::query(sql).fetch_optional(c).await?.map(|r| texts(&r)),
        Conn::Pg(c) => sqlx::query(sql).fetch_optional(c).await?.map(|r| texts(&r)),
    }
    .unwrap_or_default())
}

async fn all_rows_first_col(
    conn: &mut Conn,
    sql: &'static str,
) -> Result<Vec<String>, sqlx::Error> {
    Ok(match conn {
        Conn::My(c) => sqlx::query(sql)
            .fetch_all(c)
            .await?
            .iter()
            .filter_map(|r| r.try_get::<String, _>(0).ok())
            .collect(),
        Conn::Pg(c) => sqlx::query(sql)
            .fetch_all(c)
            .await?
            .iter()
            .filter_map(|r| r.try_get::<String, _>(0).ok())
            .collect(),
    })
}

async fn identify(conn: &mut Conn) -> Result<ServerFacts, String> {
    let e = |e: sqlx::Error| format!("cannot read the server's version: {e}");
    match conn {
        Conn::My(_) => {
            let v = row_texts(
                conn,
                "SELECT CAST(VERSION() AS CHAR), CAST(@@version_comment AS CHAR)",
            )
            .await
            .map_err(e)?;
            let version = v.first().cloned().flatten().unwrap_or_default();
            let comment = v.get(1).cloned().flatten().unwrap_or_default();
            // MariaDB can be told to report any version (--version=8.0.36); its Aria storage
            // engine variables cannot be hidden.
            let aria = row_texts(conn, "SHOW VARIABLES LIKE 'aria_block_size'")
                .await
                .map(|r| !r.is_empty())
                .unwrap_or(false);
            let (product, evidence) = if aria {
                (
                    "mariadb",
                    "the server has MariaDB's Aria variables (aria_block_size)".to_string(),
                )
            } else if version.to_ascii_lowercase().contains("mariadb")
                || comment.to_ascii_lowercase().contains("mariadb")
            {
                (
                    "mariadb",
                    format!("version {version:?} / comment {comment:?} name MariaDB"),
                )
            } else {
                (
                    "mysql",
                    format!("no MariaDB variables; version comment {comment:?}"),
                )
            };
            let tls = row_texts(conn, "SHOW SESSION STATUS LIKE 'Ssl_cipher'")
                .await
                .ok()
                .and_then(|r| r.get(1).cloned().flatten())
                .is_some_and(|c| !c.is_empty());
            Ok(ServerFacts {
                product: product.to_string(),
                version,
                evidence,
                tls,
            })
        }
        Conn::Pg(_) => {
            let v = row_texts(conn, "SHOW server_version").await.map_err(e)?;
            let tls = row_texts(
                conn,
                "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            )
            .await
            .ok()
            .and_then(|r| r.first().cloned().flatten())
            .is_some_and(|s| s == "true");
            Ok(ServerFacts {
                product: "postgresql".to_string(),
                version: v.first().cloned().flatten().unwrap_or_default(),
                evidence: "PostgreSQL wire protocol".to_string(),
                tls,
            })
        }
    }
}

async fn ping(conn: &mut Conn) -> Result<(), sqlx::Error> {
    match conn {
        Conn::My(c) => sqlx::query("SELECT 1").execute(c).await.map(|_| ()),
        Conn::Pg(c) => sqlx::query("SELECT 1").execute(c).await.map(|_| ()),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn latency(conn: &mut Conn, samples: usize) -> Result<LatencyFacts, String> {
    let e = |e: sqlx::Error| format!("latency query failed: {e}");
    for _ in 0..3 {
        ping(conn).await.map_err(e)?; // warm-up: statement preparation, caches
    }
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples.max(1) {
        let t = Instant::now();
        ping(conn).await.map_err(e)?;
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    Ok(LatencyFacts {
        samples: times.len() as u32,
        min_us: times[0],
        p50_us: percentile(&times, 50.0),
        p95_us: percentile(&times, 95.0),
        p99_us: percentile(&times, 99.0),
        max_us: times[times.len() - 1],
    })
}

async fn server_settings(conn: &mut Conn) -> Result<ServerSettings, String> {
    let e = |e: sqlx::Error| format!("cannot read server settings: {e}");
    match conn {
        Conn::My(_) => {
            let v = row_texts(
                conn,
                "SELECT CAST(@@max_connections AS CHAR), CAST(@@sql_mode AS CHAR), CAST(@@character_set_server AS CHAR)",
            )
            .await
            .map_err(e)?;
            let plugin = row_texts(conn, "SELECT CAST(@@default_authentication_plugin AS CHAR)")
                .await
                .ok()
                .and_then(|r| r.first().cloned().flatten());
            let user_plugin = row_texts(
                conn,
                "SELECT CAST(plugin AS CHAR) FROM mysql.user WHERE CONCAT(user, '@', host) = CURRENT_USER()",
            )
            .await
            .ok()
            .and_then(|r| r.first().cloned().flatten());
            Ok(ServerSettings {
                max_connections: v.first().cloned().flatten().and_then(|s| s.parse().ok()),
                default_authentication_plugin: plugin,
                user_auth_plugin: user_plugin,
                sql_mode: v.get(1).cloned().flatten(),
                character_set: v.get(2).cloned().flatten(),
            })
        }
        Conn::Pg(_) => {
            let max = row_texts(conn, "SHOW max_connections").await.map_err(e)?;
            let enc = row_texts(conn, "SHOW server_encoding").await.map_err(e)?;
            Ok(ServerSettings {
                max_connections: max.first().cloned().flatten().and_then(|s| s.parse().ok()),
                default_authentication_plugin: None,
                user_auth_plugin: None,
                sql_mode: None,
                character_set: enc.first().cloned().flatten(),
            })
        }
    }
}

/// The privileges the client needs on its own databases.
pub const NEEDED_PRIVILEGES: &[&str] = &[
    "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "INDEX", "DROP",
];

/// Global privileges from MySQL `SHOW GRANTS` lines (`GRANT … ON *.* TO …`).
pub fn global_privileges(grant_lines: &[String]) -> Vec<String> {
    let mut held = Vec::new();
    for line in grant_lines {
        let Some(rest) = line.strip_prefix("GRANT ") else {
            continue;
        };
        let Some((privs, on)) = rest.split_once(" ON ") else {
            continue;
        };
        if !on.trim_start().starts_with("*.*") {
            continue;
        }
        for p in privs.split(',') {
            let p = p.trim().to_ascii_uppercase();
            if p == "ALL" || p == "ALL PRIVILEGES" {
                held.extend(NEEDED_PRIVILEGES.iter().map(|s| s.to_string()));
            } else {
                held.push(p);
            }
        }
    }
    held.sort();
    held.dedup();
    held
}

async fn grants(conn: &mut Conn) -> Result<GrantFacts, String> {
    match conn {
        Conn::My(_) => {
            let lines = all_rows_first_col(conn, "SHOW GRANTS")
                .await
                .map_err(|e| format!("cannot read SHOW GRANTS: {e}"))?;
            let global = global_privileges(&lines);
            let held: Vec<String> = NEEDED_PRIVILEGES
                .iter()
                .filter(|p| global.iter().any(|g| g == *p))
                .map(|s| s.to_string())
                .collect();
            let missing = NEEDED_PRIVILEGES
                .iter()
                .filter(|p| !held.iter().any(|h| h == *p))
                .map(|s| s.to_string())
                .collect();
            Ok(GrantFacts {
                create_database: global.iter().any(|g| g == "CREATE"),
                held,
                missing,
                source: "SHOW GRANTS (global privileges)".to_string(),
            })
        }
        Conn::Pg(_) => {
            let r = row_texts(
                conn,
                "SELECT rolsuper::text, rolcreatedb::text FROM pg_roles WHERE rolname = current_user",
            )
            .await
            .map_err(|e| format!("cannot read pg_roles: {e}"))?;
            let is = |i: usize| r.get(i).cloned().flatten().is_some_and(|s| s == "true");
            let (superuser, createdb) = (is(0), is(1));
            // The client creates its databases and so owns them: CREATEDB gives it everything
            // it needs inside them.
            let all = superuser || createdb;
            Ok(GrantFacts {
                held: if all {
                    NEEDED_PRIVILEGES.iter().map(|s| s.to_string()).collect()
                } else {
                    Vec::new()
                },
                missing: if all {
                    Vec::new()
                } else {
                    vec!["CREATEDB".to_string()]
                },
                create_database: all,
                source: if superuser {
                    "pg_roles (superuser)"
                } else {
                    "pg_roles (rolcreatedb)"
                }
                .to_string(),
            })
        }
    }
}

/// Resolves `host` and says whether an address is this machine's (binding to an address
/// succeeds only where it is local).
pub async fn placement(host: &str, port: u16) -> Result<PlacementFacts, String> {
    let addrs: Vec<IpAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .map(|a| a.ip())
        .collect();
    let local = addrs
        .iter()
        .any(|ip| ip.is_loopback() || UdpSocket::bind((*ip, 0)).is_ok());
    let mut shown: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
    shown.dedup();
    Ok(PlacementFacts {
        addresses: shown,
        local,
    })
}

async fn within<T>(
    d: Duration,
    what: &str,
    f: impl std::future::Future<Output = Result<T, String>>,
) -> Fact<T> {
    match tokio::time::timeout(d, f).await {
        Ok(r) => r.into(),
        Err(_) => Fact::Unavailable(format!("{what} did not finish within {} ms", d.as_millis())),
    }
}

/// Gathers the database facts; `container` is the coreapp's name and environment, for the
/// last settings source.
pub async fn gather(
    opts: &DbOptions,
    container: Option<(&str, &std::collections::HashMap<String, String>)>,
) -> Result<DatabaseFacts, String> {
    let Some(t) = settings::resolve(&opts.flags, opts.config.as_ref(), container)? else {
        return Ok(DatabaseFacts::unconfigured());
    };
    let password = t.password.as_ref().map(|p| p.expose()).unwrap_or("");
    let mut forbidden: Vec<String> = FORBIDDEN_PASSWORD_CHARS
        .iter()
        .filter(|c| password.contains(**c))
        .map(|c| c.to_string())
        .collect();
    forbidden.dedup();
    let mut facts = DatabaseFacts {
        source: Some(t.source.clone()),
        how_to_configure: None,
        engine: Some(t.engine.name().to_string()),
        host: Some(t.host.clone()),
        port: Some(t.port),
        user: Some(t.user.clone()),
        password_set: t.password.is_some(),
        password_forbidden_chars: forbidden,
        connect_outcome: None,
        connect_us: None,
        server: None,
        latency: None,
        settings: None,
        grants: None,
        placement: Some(
            within(
                opts.deadline,
                "resolving the database host",
                placement(&t.host, t.port),
            )
            .await,
        ),
    };
    if let Some(Fact::Unavailable(why)) = &facts.placement {
        // The name does not resolve: connecting would fail the same way, said more vaguely.
        facts.connect_outcome = Some("dns".to_string());
        facts.server = Some(Fact::Unavailable(why.clone()));
        return Ok(facts);
    }
    let started = Instant::now();
    let conn = tokio::time::timeout(opts.deadline, connect(&t)).await;
    let mut conn = match conn {
        Err(_) => {
            facts.connect_outcome = Some("timeout".to_string());
            facts.server = Some(Fact::Unavailable(format!(
                "{}:{} accepted no session within {} ms",
                t.host,
                t.port,
                opts.deadline.as_millis()
            )));
            return Ok(facts);
        }
        Ok(Err(e)) => {
            let c = classify(&e, &t);
            facts.connect_outcome = Some(c.outcome.to_string());
            facts.server = Some(Fact::Unavailable(c.message));
            return Ok(facts);
        }
        Ok(Ok(conn)) => conn,
    };
    facts.connect_us = Some(started.elapsed().as_secs_f64() * 1e6);
    facts.connect_outcome = Some("ok".to_string());
    let d = opts.deadline;
    facts.server = Some(scrubbed(
        &t,
        within(d, "identifying the server", identify(&mut conn)).await,
    ));
    let samples_deadline = d * 4;
    facts.latency = Some(scrubbed(
        &t,
        within(
            samples_deadline,
            "the latency measurement",
            latency(&mut conn, opts.samples),
        )
        .await,
    ));
    facts.settings = Some(scrubbed(
        &t,
        within(d, "reading server settings", server_settings(&mut conn)).await,
    ));
    facts.grants = Some(scrubbed(
        &t,
        within(d, "reading grants", grants(&mut conn)).await,
    ));
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        match conn {
            Conn::My(c) => c.close().await,
            Conn::Pg(c) => c.close().await,
        }
    })
    .await;
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_global_grants() {
        let all =
            vec!["GRANT ALL PRIVILEGES ON *.* TO `wa`@`%` IDENTIFIED BY PASSWORD '*X'".to_string()];
        assert_eq!(global_privileges(&all).len(), NEEDED_PRIVILEGES.len());
        let limited = vec![
            "GRANT SELECT, INSERT, UPDATE, DELETE ON *.* TO `walimited`@`%`".to_string(),
            "GRANT ALL PRIVILEGES ON `other`.* TO `walimited`@`%`".to_string(),
        ];
        assert_eq!(
            global_privileges(&limited),
            ["DELETE", "INSERT", "SELECT", "UPDATE"]
        );
        assert!(global_privileges(&["GRANT USAGE ON *.* TO `x`@`%`".to_string()]) == ["USAGE"]);
    }

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(
            (
                percentile(&v, 50.0),
                percentile(&v, 95.0),
                percentile(&v, 99.0)
            ),
            (50.0, 95.0, 99.0)
        );
        assert_eq!(percentile(&[7.0], 95.0), 7.0);
    }

    #[tokio::test]
    async fn loopback_is_local() {
        let p = placement("127.0.0.1", 3306).await.unwrap();
        assert!(p.local);
        assert!(placement("no-such-host.invalid", 3306).await.is_err());
    }
}
