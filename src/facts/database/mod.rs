//! The database the client uses: reachability (classified), engine identity, real latency,
//! settings, grants and placement, over a real connection (sqlx, rustls).
//!
//! The password is used to connect and to say which forbidden characters it contains; it never
//! enters the facts, a log line or an error message (driver errors are scrubbed of it).

mod connection;
mod placement;
pub mod relay;
mod server;
pub mod settings;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sqlx::Connection;

use super::Fact;
use super::docker::containers::Peers;
use super::netns::Vantage;
use super::network::Resolution;
use connection::{Conn, classify, connect, scrubbed};
pub use placement::placement;
use placement::{locate, unresolved_reason};
pub use server::{NEEDED_PRIVILEGES, global_privileges};
use server::{grants, identify, latency, server_settings};
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
