//! The session with the database: connecting (TLS, through a relay), classifying a failed
//! connection without the password, and the small queries the facts are read with.

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlSslMode};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{ConnectOptions, Row};

use super::{DbTarget, Engine};
use crate::facts::Fact;
use crate::secret::scrub;

pub(super) enum Conn {
    My(MySqlConnection),
    Pg(PgConnection),
}

/// A classified connection failure.
pub(super) struct ConnectError {
    pub(super) outcome: &'static str,
    pub(super) message: String,
}

/// The same fact, with the password removed from an unavailability reason.
pub(super) fn scrubbed<T>(t: &DbTarget, f: Fact<T>) -> Fact<T> {
    match f {
        Fact::Unavailable(why) => Fact::Unavailable(scrub(&why, t.password.as_ref())),
        ok => ok,
    }
}

pub(super) fn classify(e: &sqlx::Error, t: &DbTarget) -> ConnectError {
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
pub(super) fn tls_file(path: &std::path::Path, what: &str) -> Result<Vec<u8>, sqlx::Error> {
    crate::input::read_bytes(path, what, crate::input::TEXT_LIMIT)
        .map_err(|e| sqlx::Error::Configuration(e.into()))
}

/// Opens a session with `t`, at `via` (a relay's loopback port) instead of its host and port
/// when given.
pub(super) async fn connect(t: &DbTarget, via: Option<u16>) -> Result<Conn, sqlx::Error> {
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
pub(super) async fn row_texts(
    conn: &mut Conn,
    sql: &'static str,
) -> Result<Vec<Option<String>>, sqlx::Error> {
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

pub(super) async fn all_rows_first_col(
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

pub(super) async fn ping(conn: &mut Conn) -> Result<(), sqlx::Error> {
    match conn {
        Conn::My(c) => sqlx::query("SELECT 1").execute(c).await.map(|_| ()),
        Conn::Pg(c) => sqlx::query("SELECT 1").execute(c).await.map(|_| ()),
    }
}
