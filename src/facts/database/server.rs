//! What the server says about itself: identity (product and version), round-trip latency,
//! the settings the client depends on and the grants of its user.

use std::time::Instant;

use super::connection::{Conn, all_rows_first_col, ping, row_texts};
use super::{GrantFacts, LatencyFacts, ServerFacts, ServerSettings};

pub(super) async fn identify(conn: &mut Conn) -> Result<ServerFacts, String> {
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

pub(super) fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub(super) async fn latency(conn: &mut Conn, samples: usize) -> Result<LatencyFacts, String> {
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

pub(super) async fn server_settings(conn: &mut Conn) -> Result<ServerSettings, String> {
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

pub(super) async fn grants(conn: &mut Conn) -> Result<GrantFacts, String> {
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
}
