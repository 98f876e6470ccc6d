//! The database the client uses: reachability (classified), engine identity, real latency,
//! settings, grants and placement, over a real connection (sqlx, rustls).
//!
//! The password is used to connect and to say which forbidden characters it contains; it never
//! enters the facts, a log line or an error message (driver errors are scrubbed of it).

pub mod relay;
pub mod settings;

use std::net::{IpAddr, UdpSocket};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlSslMode};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{ConnectOptions, Connection, Row};

use super::Fact;
use super::docker::containers::Peers;
use super::netns::{self, Vantage};
use super::network::{self, Resolution};
use crate::secret::scrub;
pub use settings::{DatabaseConfig, DbFlags, DbTarget, Engine};

/// Characters the client does not accept in the database password.
pub const FORBIDDEN_PASSWORD_CHARS: &[char] = &['?', '{', '}', '&', '~', '!', '(', ')', '^', '='];

/// How to measure.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// The operator's `--db-*` flags (the first source that names a database wins).
    pub flags: DbFlags,
    /// The config's `database:` section, if any.
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencyFacts {
    /// Round trips timed (`--db-samples`, default 50), after 3 warm-up queries.
    pub samples: u32,
    /// Fastest round trip, in microseconds.
    pub min_us: f64,
    /// Median round trip, in microseconds.
    pub p50_us: f64,
    /// 95th percentile round trip, in microseconds.
    pub p95_us: f64,
    /// 99th percentile round trip, in microseconds.
    pub p99_us: f64,
    /// Slowest round trip, in microseconds.
    pub max_us: f64,
}

/// Server settings that matter to the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// The server's `max_connections`; null when it could not be read.
    pub max_connections: Option<u64>,
    /// MySQL: `default_authentication_plugin` (absent on MariaDB and MySQL 8.4).
    pub default_authentication_plugin: Option<String>,
    /// MySQL: the connected user's authentication plugin, when readable.
    pub user_auth_plugin: Option<String>,
    /// MySQL `sql_mode`; null on PostgreSQL.
    pub sql_mode: Option<String>,
    /// MySQL `character_set_server`, PostgreSQL `server_encoding`.
    pub character_set: Option<String>,
}

/// What the user may do, read from the server's privilege views.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantFacts {
    /// Of SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, DROP: those held on every
    /// database (the client creates its own).
    pub held: Vec<String>,
    /// Those of the required privileges the user lacks (the client's docs: SELECT, INSERT, UPDATE,
    /// DELETE, CREATE, ALTER, INDEX, DROP).
    pub missing: Vec<String>,
    /// May create databases.
    pub create_database: bool,
    /// Where this was read (`SHOW GRANTS`, `pg_roles`).
    pub source: String,
}

/// Whether the database runs on this machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlacementFacts {
    /// The server's addresses as resolved from `from` (for a container-only name: the addresses
    /// Docker gives it). The client's docs want the database on a separate physical server in
    /// production.
    pub addresses: Vec<String>,
    /// One of the addresses belongs to this machine.
    pub local: bool,
    /// Why an address counts as this machine's when that is not plain (a container on one of
    /// this host's bridges). Absent otherwise, and in older documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_evidence: Option<String>,
}

/// Everything about the database. Fields after `source` are null when none is configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatabaseFacts {
    /// Which source gave the settings (`--db-url`, `db.env /etc/wa/db.env`, `config database:`,
    /// `container wa_coreapp_1`); null when none did.
    pub source: Option<String>,
    /// How to give one, when none was found.
    pub how_to_configure: Option<String>,
    /// The configured engine: `mysql` or `postgresql`.
    pub engine: Option<String>,
    /// Host name or IP address as configured; null when no database is configured.
    pub host: Option<String>,
    /// TCP port as configured (or the engine's default); null when none is configured.
    pub port: Option<u16>,
    /// The user to log in as; null when none is configured.
    pub user: Option<String>,
    /// A password was given (it never enters the document).
    pub password_set: bool,
    /// Which forbidden characters the password contains (never the password).
    pub password_forbidden_chars: Vec<String>,
    /// `ok`, `dns`, `refused`, `timeout`, `auth`, `unknown_database`, `tls`, `auth_plugin`,
    /// `other`.
    pub connect_outcome: Option<String>,
    /// TCP + TLS + authentication, in microseconds.
    pub connect_us: Option<f64>,
    /// The server's product and version; unavailable with the classified, password-free reason when
    /// connecting failed; null when no database is configured.
    pub server: Option<Fact<ServerFacts>>,
    /// `SELECT 1` round-trip times on one connection (the docs ask for "only a few milliseconds of
    /// latency"); null when none is configured.
    pub latency: Option<Fact<LatencyFacts>>,
    /// Server settings the client depends on; null when none is configured.
    pub settings: Option<Fact<ServerSettings>>,
    /// The user's privileges; null when none is configured.
    pub grants: Option<Fact<GrantFacts>>,
    /// Whether the server runs on this machine; null when none is configured.
    pub placement: Option<Fact<PlacementFacts>>,
    /// Where the name was resolved and the connection made: `container NAME` (inside its
    /// network namespace, with its hosts file and name servers, as the client does) or
    /// `host`. Absent when nothing was tried, and in older documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Why `from` is not simply the coreapp the settings came from: it is not running, its
    /// namespace cannot be entered, or the host cannot resolve the name and a container could.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_note: Option<String>,
    /// The host name looked up from `from`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
    /// When this host cannot resolve the name but the containers can: where it resolves
    /// (`from container X: 172.18.0.2 (dns 127.0.0.11)`, or Docker's name for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_only: Option<String>,
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
            from: None,
            from_note: None,
            resolution: None,
            container_only: None,
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
        Fact::Unavailable(why) => Fact::Unavailable(scrub(&why, t.password.as_ref())),
        ok => ok,
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
        message: scrub(&message, t.password.as_ref()),
    }
}

/// A TLS file named by the settings, read like every operator input file (never a FIFO).
fn tls_file(path: &std::path::Path, what: &str) -> Result<Vec<u8>, sqlx::Error> {
    crate::input::read_bytes(path, what, crate::input::TEXT_LIMIT)
        .map_err(|e| sqlx::Error::Configuration(e.into()))
}

/// Opens a session with `t`, at `via` (a relay's loopback port) instead of its host and port
/// when given.
async fn connect(t: &DbTarget, via: Option<u16>) -> Result<Conn, sqlx::Error> {
    let password = t.password.as_ref().map(|p| p.expose()).unwrap_or("");
    let (host, port) = match via {
        Some(port) => ("127.0.0.1", port),
        None => (t.host.as_str(), t.port),
    };
    match t.engine {
        Engine::Mysql => {
            let mut o = MySqlConnectOptions::new()
                .host(host)
                .port(port)
                .username(&t.user)
                .password(password);
            if let Some(db) = &t.database {
                o = o.database(db);
            }
            if let Some(ca) = &t.tls.ca {
                o = o
                    .ssl_mode(MySqlSslMode::VerifyCa)
                    .ssl_ca_from_pem(tls_file(ca, "WA_DB_SSL_CA")?);
            }
            if let (Some(cert), Some(key)) = (&t.tls.cert, &t.tls.key) {
                o = o
                    .ssl_client_cert_from_pem(tls_file(cert, "WA_DB_SSL_CERT")?)
                    .ssl_client_key_from_pem(tls_file(key, "WA_DB_SSL_KEY")?);
            }
            o.connect().await.map(Conn::My)
        }
        Engine::Postgres => {
            let mut o = PgConnectOptions::new()
                .host(host)
                .port(port)
                .username(&t.user)
                .password(password)
                .database(t.database.as_deref().unwrap_or("postgres"));
            if let Some(ca) = &t.tls.ca {
                o = o
                    .ssl_mode(PgSslMode::VerifyCa)
                    .ssl_root_cert_from_pem(tls_file(ca, "WA_DB_SSL_CA")?);
            }
            if let (Some(cert), Some(key)) = (&t.tls.cert, &t.tls.key) {
                o = o
                    .ssl_client_cert_from_pem(tls_file(cert, "WA_DB_SSL_CERT")?)
                    .ssl_client_key_from_pem(tls_file(key, "WA_DB_SSL_KEY")?);
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

/// Whether `addrs`, as seen from `vantage`, are this machine's: loopback (inside a container:
/// the container itself), an address we or the container can bind, or an address on one of
/// this host's bridges (a container here: `local_evidence` names the bridge).
pub fn placement(addrs: &[IpAddr], vantage: &Vantage) -> PlacementFacts {
    let bindable_here = |ip: &IpAddr| UdpSocket::bind((*ip, 0)).is_ok();
    let owned: Vec<IpAddr> = addrs.to_vec();
    let bindable_there: Vec<bool> = match vantage {
        Vantage::Host => vec![false; addrs.len()],
        Vantage::Container { .. } => netns::spawn_in(vantage, move || {
            owned
                .iter()
                .map(|ip| UdpSocket::bind((*ip, 0)).is_ok())
                .collect::<Vec<bool>>()
        })
        .recv_timeout(Duration::from_secs(2))
        .ok()
        .and_then(Result::ok)
        .unwrap_or_else(|| vec![false; addrs.len()]),
    };
    let routes = std::fs::read_to_string("/proc/self/net/route").unwrap_or_default();
    let mut local = false;
    let mut evidence = None;
    for (i, ip) in addrs.iter().enumerate() {
        if ip.is_loopback() || bindable_here(ip) || bindable_there.get(i) == Some(&true) {
            local = true;
        } else if let Some(bridge) = on_local_bridge(&routes, ip, |dev| {
            std::path::Path::new("/sys/class/net")
                .join(dev)
                .join("bridge")
                .exists()
        }) {
            local = true;
            evidence.get_or_insert(format!(
                "{ip} is on {bridge}, a bridge of this host: a container here"
            ));
        }
    }
    let mut shown: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
    shown.dedup();
    PlacementFacts {
        addresses: shown,
        local,
        local_evidence: evidence,
    }
}

/// The bridge interface of this host that `ip` is directly attached to, from the IPv4 routing
/// table (`/proc/net/route`): the most specific route to it has no gateway and leaves through
/// an interface `is_bridge` says is a bridge (Docker's `docker0`, `br-…`).
fn on_local_bridge(routes: &str, ip: &IpAddr, is_bridge: impl Fn(&str) -> bool) -> Option<String> {
    let IpAddr::V4(v4) = ip else {
        return None;
    };
    // The table prints each address's network-order bytes as a native-endian number.
    let target = u32::from_ne_bytes(v4.octets());
    let mut best: Option<(u32, &str, u32)> = None;
    for line in routes.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (Some(dev), Some(dest), Some(gw), Some(mask)) =
            (cols.first(), cols.get(1), cols.get(2), cols.get(7))
        else {
            continue;
        };
        let (Ok(dest), Ok(gw), Ok(mask)) = (
            u32::from_str_radix(dest, 16),
            u32::from_str_radix(gw, 16),
            u32::from_str_radix(mask, 16),
        ) else {
            continue;
        };
        if target & mask != dest {
            continue;
        }
        let bits = mask.count_ones();
        if best.is_none_or(|(b, _, _)| bits > b) {
            best = Some((bits, dev, gw));
        }
    }
    match best {
        Some((bits, dev, 0)) if bits > 0 && is_bridge(dev) => Some(dev.to_string()),
        _ => None,
    }
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

/// Where the database name was looked up, and what came of it.
struct Located {
    vantage: Vantage,
    note: Option<String>,
    resolution: Resolution,
    container_only: Option<String>,
    /// Containers that were asked and could not resolve it either.
    also_tried: Vec<String>,
    /// Addresses Docker gives the name on its networks, when only Docker knows it.
    docker_addresses: Vec<IpAddr>,
}

fn join_notes(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    }
}

/// Resolves the database host the way the client would (blocking; bounded by `timeout` per
/// lookup, the lookups in containers side by side):
/// - settings from the running coreapp: inside its namespace, with its hosts file and name
///   servers, and that is the answer;
/// - otherwise (other sources, or the coreapp is not running or cannot be entered): on this
///   host; when the host cannot resolve the name, inside each running WhatsApp container, and
///   the first that can is where the database is reached from (the name is a container-only
///   one, e.g. a compose service); when none can, Docker's own names tell a container-only
///   name from one that resolves nowhere.
fn locate(t: &DbTarget, peers: &Peers, timeout: Duration) -> Located {
    let mut note = None;
    if let Some(core) = &peers.coreapp
        && t.source == format!("container {}", core.name)
    {
        let (vantage, why_not) = network::coreapp_vantage(Some(core));
        if let Vantage::Container { .. } = vantage {
            return Located {
                resolution: resolve_in(&vantage, &t.host, timeout),
                vantage,
                note: None,
                container_only: None,
                also_tried: Vec::new(),
                docker_addresses: Vec::new(),
            };
        }
        note = why_not.map(|w| format!("{w}: the settings are its own, looked up from the host"));
    }
    let on_host = network::resolve_from(&Vantage::Host, &t.host, timeout);
    if on_host.resolved {
        return Located {
            vantage: Vantage::Host,
            note,
            resolution: on_host,
            container_only: None,
            also_tried: Vec::new(),
            docker_addresses: Vec::new(),
        };
    }
    // Ask every running WhatsApp container, side by side.
    let asked: Vec<_> = peers
        .coreapps
        .iter()
        .chain(&peers.webapps)
        .filter_map(|p| p.vantage())
        .map(|v| {
            let host = t.host.clone();
            let v2 = v.clone();
            let rx = netns::spawn_in(&v, move || network::resolve_from(&v2, &host, timeout));
            (v, rx)
        })
        .collect();
    let deadline = Instant::now() + timeout + Duration::from_millis(500);
    let mut also_tried = Vec::new();
    let mut found = None;
    for (v, rx) in asked {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Ok(res)) if res.resolved && found.is_none() => found = Some((v, res)),
            Ok(Ok(_)) | Ok(Err(_)) | Err(_) if found.is_none() => also_tried.push(v.describe()),
            _ => {}
        }
    }
    if let Some((vantage, res)) = found {
        let inside = format!(
            "from {}: {} ({})",
            vantage.describe(),
            res.addresses.join(", "),
            res.source.clone().unwrap_or_default()
        );
        return Located {
            note: join_notes(
                note,
                Some(format!(
                    "{} does not resolve on this host, only inside the containers' network: reached from {}",
                    t.host,
                    vantage.describe()
                )),
            ),
            vantage,
            resolution: res,
            container_only: Some(inside),
            also_tried,
            docker_addresses: Vec::new(),
        };
    }
    let lower = t.host.trim_end_matches('.').to_ascii_lowercase();
    let known: Vec<_> = peers
        .network_names
        .iter()
        .filter(|n| n.name == lower)
        .collect();
    let mut docker_addresses: Vec<IpAddr> = Vec::new();
    for ip in known
        .iter()
        .filter_map(|n| n.address.as_ref()?.parse().ok())
    {
        if !docker_addresses.contains(&ip) {
            docker_addresses.push(ip);
        }
    }
    Located {
        vantage: Vantage::Host,
        note,
        resolution: on_host,
        container_only: (!known.is_empty()).then(|| {
            known
                .iter()
                .map(|n| n.describe())
                .collect::<Vec<_>>()
                .join("; ")
        }),
        also_tried,
        docker_addresses,
    }
}

/// Resolves `host` from inside `vantage`, on a thread there, within about `timeout`.
fn resolve_in(vantage: &Vantage, host: &str, timeout: Duration) -> Resolution {
    let (h, v) = (host.to_string(), vantage.clone());
    let started = Instant::now();
    let failed = |error: String| Resolution {
        host: host.to_string(),
        resolved: false,
        addresses: Vec::new(),
        source: None,
        elapsed_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        error: Some(error),
    };
    match netns::spawn_in(vantage, move || network::resolve_from(&v, &h, timeout))
        .recv_timeout(timeout + Duration::from_millis(500))
    {
        Ok(Ok(res)) => res,
        Ok(Err(e)) => failed(e),
        Err(_) => failed(format!("no answer within {} ms", timeout.as_millis())),
    }
}

/// The reason a name that did not resolve gives, saying from where it was tried.
fn unresolved_reason(t: &DbTarget, l: &Located) -> String {
    let why = l.resolution.error.clone().unwrap_or_default();
    let source = l
        .resolution
        .source
        .as_ref()
        .map(|s| format!("{s}: "))
        .unwrap_or_default();
    let mut out = match &l.vantage {
        Vantage::Container { .. } => format!(
            "{} does not resolve from {} ({source}{why})",
            t.host,
            l.vantage.describe()
        ),
        Vantage::Host => format!("{} does not resolve on this host ({why})", t.host),
    };
    if !l.also_tried.is_empty() {
        out.push_str(&format!(", nor from {}", l.also_tried.join(", ")));
    }
    if let Some(n) = &l.note {
        out.push_str(&format!(" ({n})"));
    }
    out
}

/// The database is a group of its own (`database`), read every base interval (a connection
/// and a few queries) and carried over between.
pub const GROUP: super::group::Declared = super::group::Declared {
    name: "database",
    default_interval: |base| base,
    carry_over: |new, prev| new.database = prev.database.clone(),
};

/// Gathers the database facts. The settings come from the operator or, last, the running
/// coreapp (`peers.coreapp`); the other containers are where the name may also be looked up.
///
/// # Errors
///
/// The settings cannot be used: a malformed db.env (with `file:line`), an unreadable password file,
/// a flag or URL that names no usable database (see [`settings::resolve`]), or the name lookup's
/// task crashed. A database that cannot be reached is not an error: it is the `connect_outcome`.
pub async fn gather(opts: &DbOptions, peers: &Peers) -> Result<DatabaseFacts, String> {
    let container = peers.coreapp.as_ref().map(|c| (c.name.as_str(), &c.env));
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
        placement: None,
        from: None,
        from_note: None,
        resolution: None,
        container_only: None,
    };
    let d = opts.deadline;
    let located = {
        let (target, peers) = (t.clone(), peers.clone());
        // Each lookup is bounded by `d`; this is the backstop of the whole step.
        match tokio::time::timeout(
            d * 2 + Duration::from_secs(1),
            tokio::task::spawn_blocking(move || locate(&target, &peers, d)),
        )
        .await
        {
            Ok(Ok(l)) => l,
            Ok(Err(e)) => return Err(format!("looking up the database host crashed: {e}")),
            Err(_) => {
                facts.connect_outcome = Some("dns".to_string());
                facts.server = Some(Fact::Unavailable(format!(
                    "{} could not be looked up within {} ms",
                    t.host,
                    (d * 2).as_millis()
                )));
                return Ok(facts);
            }
        }
    };
    let from = located.vantage.describe();
    facts.from = Some(from.clone());
    facts.from_note = located.note.clone();
    facts.container_only = located.container_only.clone();
    facts.resolution = Some(located.resolution.clone());
    if !located.resolution.resolved {
        let reason = unresolved_reason(&t, &located);
        // Where Docker says the name lives, placement can still be judged from here.
        facts.placement = Some(if located.docker_addresses.is_empty() {
            Fact::Unavailable(reason.clone())
        } else {
            let addrs = located.docker_addresses.clone();
            within(d, "judging the database's placement", async {
                tokio::task::spawn_blocking(move || placement(&addrs, &Vantage::Host))
                    .await
                    .map_err(|e| format!("the placement check crashed: {e}"))
            })
            .await
        });
        match &located.container_only {
            Some(known) => {
                facts.connect_outcome = Some("container_only".to_string());
                facts.server = Some(Fact::Unavailable(format!(
                    "{} resolves only inside Docker networks: it is {known}. This host cannot \
                     resolve it and no running WhatsApp container could look it up{}; start \
                     the coreapp and check again (the check then runs from its network), or \
                     give the database's address with --db-host",
                    t.host,
                    located
                        .note
                        .as_ref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default()
                )));
            }
            None => {
                // Connecting would fail the same way, said more vaguely.
                facts.connect_outcome = Some("dns".to_string());
                facts.server = Some(Fact::Unavailable(reason));
            }
        }
        return Ok(facts);
    }
    let addrs: Vec<IpAddr> = located
        .resolution
        .addresses
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect();
    let vantage = located.vantage.clone();
    facts.placement = Some(
        within(d, "judging the database's placement", async {
            let v = vantage.clone();
            tokio::task::spawn_blocking(move || placement(&addrs, &v))
                .await
                .map_err(|e| format!("the placement check crashed: {e}"))
        })
        .await,
    );
    // From a container, a session is opened over a TCP connection made in its namespace.
    let in_container = matches!(located.vantage, Vantage::Container { .. });
    let at_from = |m: String| {
        if in_container {
            format!("{m} (from {from})")
        } else {
            m
        }
    };
    let started = Instant::now();
    let mut _relay = None;
    if in_container {
        let (v, addrs, port) = (
            located.vantage.clone(),
            located.resolution.addresses.clone(),
            t.port,
        );
        let tcp = tokio::task::spawn_blocking(move || relay::connect_from(&v, &addrs, port, d))
            .await
            .map_err(|e| format!("the connection thread crashed: {e}"))?;
        let stream = match tcp {
            Ok((stream, _)) => stream,
            Err(f) => {
                facts.connect_outcome = Some(f.outcome.to_string());
                facts.server = Some(Fact::Unavailable(at_from(format!(
                    "{}:{}: {}",
                    t.host, t.port, f.message
                ))));
                return Ok(facts);
            }
        };
        let r = relay::Relay::start(stream)
            .await
            .map_err(|e| format!("cannot open the loopback relay to the database: {e}"))?;
        _relay = Some(r);
    }
    let via = _relay.as_ref().map(|r| r.port);
    let conn = tokio::time::timeout(d, connect(&t, via)).await;
    let mut conn = match conn {
        Err(_) => {
            facts.connect_outcome = Some("timeout".to_string());
            facts.server = Some(Fact::Unavailable(at_from(format!(
                "{}:{} accepted no session within {} ms",
                t.host,
                t.port,
                d.as_millis()
            ))));
            return Ok(facts);
        }
        Ok(Err(e)) => {
            let c = classify(&e, &t);
            facts.connect_outcome = Some(c.outcome.to_string());
            facts.server = Some(Fact::Unavailable(at_from(c.message)));
            return Ok(facts);
        }
        Ok(Ok(conn)) => conn,
    };
    facts.connect_us = Some(started.elapsed().as_secs_f64() * 1e6);
    facts.connect_outcome = Some("ok".to_string());
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

    #[test]
    fn loopback_is_local() {
        let p = placement(&["127.0.0.1".parse().unwrap()], &Vantage::Host);
        assert!(p.local && p.local_evidence.is_none());
        // TEST-NET-3: nobody's address, and no route of ours leads to a bridge there.
        let p = placement(&["203.0.113.9".parse().unwrap()], &Vantage::Host);
        assert!(!p.local, "{p:?}");
    }

    fn target(host: &str, source: &str) -> DbTarget {
        DbTarget {
            engine: Engine::Mysql,
            host: host.into(),
            port: 3306,
            user: "wa".into(),
            password: None,
            database: None,
            tls: settings::TlsFiles::default(),
            source: source.into(),
        }
    }

    #[test]
    fn where_the_name_is_looked_up() {
        let t = Duration::from_secs(2);
        // Nothing runs: an address is looked up on this host.
        let l = locate(&target("127.0.0.1", "--db-host"), &Peers::default(), t);
        assert_eq!(l.vantage, Vantage::Host);
        assert_eq!(l.resolution.source.as_deref(), Some("literal"));
        assert!(l.note.is_none() && l.container_only.is_none());
        // The settings of a stopped coreapp: the host looks, and says why.
        let stopped = network::Peer {
            name: "wa-core".into(),
            pid: None,
            env: Default::default(),
        };
        let peers = Peers {
            coreapp: Some(stopped.clone()),
            coreapps: vec![stopped],
            network_names: vec![crate::facts::docker::containers::NetworkName {
                name: "wapf-unit-db.invalid".into(),
                kind: "compose service",
                container: "wa-db-1".into(),
                network: "wa_default".into(),
                address: Some("172.18.0.2".into()),
            }],
            ..Peers::default()
        };
        let l = locate(
            &target("wapf-unit-db.invalid", "container wa-core"),
            &peers,
            t,
        );
        assert_eq!(l.vantage, Vantage::Host);
        assert!(!l.resolution.resolved);
        assert!(
            l.note
                .as_deref()
                .is_some_and(|n| n.starts_with("coreapp wa-core is not running")),
            "{:?}",
            l.note
        );
        // Only Docker knows that name: a container-only name, with Docker's address.
        assert_eq!(
            l.container_only.as_deref(),
            Some(
                "the compose service of container wa-db-1 on Docker network wa_default (172.18.0.2)"
            )
        );
        assert_eq!(l.docker_addresses, vec![IpAddr::from([172, 18, 0, 2])]);
        let reason = unresolved_reason(&target("wapf-unit-db.invalid", "x"), &l);
        assert!(
            reason.starts_with("wapf-unit-db.invalid does not resolve on this host ("),
            "{reason}"
        );
        // A name nobody knows is not container-only.
        let l = locate(&target("wapf-other.invalid", "--db-host"), &peers, t);
        assert!(l.container_only.is_none() && !l.resolution.resolved);
    }

    #[test]
    fn bridges_of_this_host() {
        let n = |ip: [u8; 4]| format!("{:08X}", u32::from_ne_bytes(ip));
        let routes = format!(
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
             eth0\t{}\t{}\t0003\t0\t0\t0\t{}\t0\t0\t0\n\
             br-9d086a4c\t{}\t{}\t0001\t0\t0\t0\t{}\t0\t0\t0\n\
             eth0\t{}\t{}\t0001\t0\t0\t0\t{}\t0\t0\t0\n",
            n([0, 0, 0, 0]),
            n([10, 0, 0, 1]),
            n([0, 0, 0, 0]),
            n([172, 18, 0, 0]),
            n([0, 0, 0, 0]),
            n([255, 255, 0, 0]),
            n([10, 0, 0, 0]),
            n([0, 0, 0, 0]),
            n([255, 255, 255, 0]),
        );
        let bridge = |d: &str| d.starts_with("br-");
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            on_local_bridge(&routes, &ip("172.18.0.3"), bridge).as_deref(),
            Some("br-9d086a4c")
        );
        // Directly attached, but not a bridge: another machine on the LAN.
        assert_eq!(on_local_bridge(&routes, &ip("10.0.0.7"), bridge), None);
        // Through the default gateway.
        assert_eq!(on_local_bridge(&routes, &ip("192.0.2.1"), bridge), None);
        assert_eq!(on_local_bridge(&routes, &ip("::1"), bridge), None);
    }
}
