//! History of daemon runs: each run's summary and every rule's status *transitions*, in an
//! embedded SQLite database (`/var/lib/wa-preflight/history.db` by default).
//!
//! Only transitions are stored, not every result of every run: a fleet host running every
//! minute for a month writes 43 200 small run rows and a handful of transitions. The last
//! status of each rule is kept too, so a restarted daemon knows what changed while it was
//! down. Retention is bounded by age and by file size. A database that is corrupt, or locked
//! by someone else, is moved aside (`history.db.corrupt-<time>`) and recreated: history is
//! useful, but never worth stopping the checks for.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use sqlx::sqlite::{SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode};
use sqlx::{AssertSqlSafe, Connection, Row, SqliteConnection};
use time::OffsetDateTime;

use crate::report::Report;
use crate::rules::Status;
use crate::settings::Retention;

/// Version of the database layout (`PRAGMA user_version`). 2: `runs.info` (the `info` status
/// count); a layout-1 database is upgraded in place.
const LAYOUT_VERSION: i64 = 2;

/// Why the history could not be used.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// An SQLite statement or connection failed.
    #[error("history database {path}: {source}")]
    Sql {
        /// The database file, as given.
        path: String,
        /// What SQLite or sqlx reported.
        #[source]
        source: sqlx::Error,
    },
    /// `preflight history` or `diff` was asked to read a database that does not exist yet.
    #[error("history database {path} does not exist (the daemon writes it)")]
    Missing {
        /// The path that was looked at.
        path: String,
    },
    /// Anything else: the directory cannot be created, the file's identity cannot be read.
    #[error("history database {path}: {message}")]
    Other {
        /// The database file, as given.
        path: String,
        /// What went wrong, in words.
        message: String,
    },
    /// The file at the path is no longer the one this connection writes (deleted, or another
    /// file moved over it): writing on would go to an unlinked file and be lost.
    #[error("history database {path} was {how} while open; its runs since then are lost")]
    Replaced {
        /// The database file, as given.
        path: String,
        /// `deleted` or `replaced by another file`.
        how: &'static str,
    },
}

/// One run's summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    /// Row id, increasing with every run.
    pub id: i64,
    /// When the run started (RFC 3339 in JSON).
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// How long the run took, in milliseconds.
    pub duration_ms: i64,
    /// Rules that passed.
    pub pass: i64,
    /// Rules that warned.
    pub warn: i64,
    /// Rules that failed.
    pub fail: i64,
    /// Rules that could not be judged (`error`).
    pub error: i64,
    /// Rules skipped (a prerequisite failed, or the fact group was not gathered).
    pub skip: i64,
    /// Rules whose non-pass result a waiver covered.
    pub waived: i64,
    /// The fact groups gathered in this run (`host,docker,database`).
    pub groups: String,
    /// `info` results (0 for runs recorded before the status existed).
    pub info: i64,
}

/// A rule whose status changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    /// The run (a [`RunRecord::id`]) in which the change was seen.
    pub run_id: i64,
    /// When that run started (RFC 3339 in JSON).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The rule's ID (`host.kernel.version`).
    pub rule: String,
    /// Null the first time a rule is seen.
    pub old_status: Option<String>,
    /// The status now (`pass`, `warn`, `fail`, `error`, `skip`, `info`).
    pub new_status: String,
    /// The value the rule observed before (its result's `observed`), if it had one.
    pub old_observed: Option<String>,
    /// The value the rule observes now, if any.
    pub new_observed: Option<String>,
    /// The rule's message in the run that changed it.
    pub message: String,
}

/// One rule's change since the last all-pass run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiffEntry {
    /// The rule's ID.
    pub rule: String,
    /// Its status in the compared run; null when the rule was not seen then.
    pub then_status: Option<String>,
    /// Its status in the latest run.
    pub now_status: String,
    /// What it observed in the compared run, if anything.
    pub then_observed: Option<String>,
    /// What it observes in the latest run, if anything.
    pub now_observed: Option<String>,
    /// Its message in the latest run.
    pub now_message: String,
    /// Transitions of this rule since then.
    pub transitions: i64,
}

/// What changed since the last run in which nothing warned, failed or errored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    /// The run compared with: the last all-pass run, else the first recorded run (null when
    /// nothing is recorded).
    pub since_run: Option<RunRecord>,
    /// Whether `since_run` is an all-pass run.
    pub since_all_pass: bool,
    /// The rules whose status differs between the compared run and the latest, by rule ID.
    pub entries: Vec<DiffEntry>,
}

/// An open history database.
pub struct History {
    conn: SqliteConnection,
    path: PathBuf,
    retention: Retention,
    /// Device and inode of the file opened, checked before each write.
    identity: Option<(u64, u64)>,
}

/// The (device, inode) of the file at `path`, if there is one.
fn identity(path: &Path) -> std::io::Result<Option<(u64, u64)>> {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some((m.dev(), m.ino()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn sql(path: &Path) -> impl Fn(sqlx::Error) -> HistoryError + '_ {
    move |source| HistoryError::Sql {
        path: path.display().to_string(),
        source,
    }
}

fn ts(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn parse_ts(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl History {
    /// Opens (creating it if needed) for the daemon. A corrupt or locked database is moved
    /// aside and recreated; the returned note says so, for the log and the report.
    ///
    /// # Errors
    ///
    /// [`HistoryError::Other`] when the directory cannot be created, [`HistoryError::Sql`] when the
    /// database cannot be created even after moving a corrupt or locked one aside.
    pub async fn open(
        path: &Path,
        retention: Retention,
    ) -> Result<(History, Option<String>), HistoryError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| HistoryError::Other {
                path: path.display().to_string(),
                message: format!("cannot create {}: {e}", dir.display()),
            })?;
        }
        match History::try_open(path, retention).await {
            Ok(h) => Ok((h, None)),
            Err(why) => {
                let kind = if why.contains("locked") || why.contains("busy") {
                    "locked"
                } else {
                    "corrupt"
                };
                let aside = PathBuf::from(format!(
                    "{}.{kind}-{}",
                    path.display(),
                    OffsetDateTime::now_utc().unix_timestamp()
                ));
                std::fs::rename(path, &aside).map_err(|e| HistoryError::Other {
                    path: path.display().to_string(),
                    message: format!("{why}; and it cannot be moved aside: {e}"),
                })?;
                for ext in ["-wal", "-shm"] {
                    let side = PathBuf::from(format!("{}{ext}", path.display()));
                    let _ = std::fs::rename(&side, format!("{}{ext}", aside.display()));
                }
                let note = format!(
                    "history database {} was {kind} ({why}); moved aside to {} and recreated",
                    path.display(),
                    aside.display()
                );
                tracing::error!("{note}");
                let h = History::try_open(path, retention)
                    .await
                    .map_err(|message| HistoryError::Other {
                        path: path.display().to_string(),
                        message,
                    })?;
                Ok((h, Some(note)))
            }
        }
    }

    async fn try_open(path: &Path, retention: Retention) -> Result<History, String> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .auto_vacuum(SqliteAutoVacuum::Incremental)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(2))
            .foreign_keys(true);
        let mut conn = SqliteConnection::connect_with(&opts)
            .await
            .map_err(|e| e.to_string())?;
        let check: String = sqlx::query_scalar("PRAGMA quick_check")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        if check != "ok" {
            return Err(format!("integrity check: {check}"));
        }
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        if version > LAYOUT_VERSION {
            return Err(format!(
                "layout version {version} is newer than this build's {LAYOUT_VERSION}"
            ));
        }
        for stmt in [
            "CREATE TABLE IF NOT EXISTS runs (
                id INTEGER PRIMARY KEY,
                started_at TEXT NOT NULL,
                started_unix INTEGER NOT NULL,
                duration_ms INTEGER NOT NULL,
                pass INTEGER NOT NULL, warn INTEGER NOT NULL, fail INTEGER NOT NULL,
                error INTEGER NOT NULL, skip INTEGER NOT NULL, waived INTEGER NOT NULL,
                groups TEXT NOT NULL, info INTEGER NOT NULL DEFAULT 0)",
            "CREATE INDEX IF NOT EXISTS runs_started ON runs(started_unix)",
            "CREATE TABLE IF NOT EXISTS transitions (
                id INTEGER PRIMARY KEY,
                run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                at TEXT NOT NULL,
                at_unix INTEGER NOT NULL,
                rule TEXT NOT NULL,
                old_status TEXT,
                new_status TEXT NOT NULL,
                old_observed TEXT,
                new_observed TEXT,
                message TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS transitions_at ON transitions(at_unix)",
            "CREATE INDEX IF NOT EXISTS transitions_run ON transitions(run_id)",
            "CREATE TABLE IF NOT EXISTS last_status (
                rule TEXT PRIMARY KEY,
                status TEXT NOT NULL,
                observed TEXT,
                message TEXT NOT NULL)",
        ] {
            sqlx::query(stmt)
                .execute(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
        }
        if version == 1 {
            sqlx::query("ALTER TABLE runs ADD COLUMN info INTEGER NOT NULL DEFAULT 0")
                .execute(&mut conn)
                .await
                .map_err(|e| format!("upgrading layout 1: {e}"))?;
        }
        sqlx::query(AssertSqlSafe(format!(
            "PRAGMA user_version = {LAYOUT_VERSION}"
        )))
        .execute(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
        let identity = identity(path).map_err(|e| e.to_string())?;
        Ok(History {
            conn,
            path: path.to_path_buf(),
            retention,
            identity,
        })
    }

    /// Opens an existing database read-only, for `preflight history` and `diff`.
    ///
    /// # Errors
    ///
    /// [`HistoryError::Missing`] when there is no file at `path`; [`HistoryError::Sql`] when SQLite
    /// cannot open it.
    pub async fn open_read_only(path: &Path) -> Result<History, HistoryError> {
        if !path.exists() {
            return Err(HistoryError::Missing {
                path: path.display().to_string(),
            });
        }
        let opts = SqliteConnectOptions::from_str("sqlite://")
            .map_err(sql(path))?
            .filename(path)
            .read_only(true)
            .busy_timeout(Duration::from_secs(2));
        let conn = SqliteConnection::connect_with(&opts)
            .await
            .map_err(sql(path))?;
        Ok(History {
            conn,
            path: path.to_path_buf(),
            retention: Retention::default(),
            identity: None,
        })
    }

    /// The database file this history reads and writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks that the file at the path is still the one open (see
    /// [`HistoryError::Replaced`]).
    ///
    /// # Errors
    ///
    /// [`HistoryError::Replaced`] when the file was deleted or another file moved over it;
    /// [`HistoryError::Other`] when its metadata cannot be read.
    pub fn check_identity(&self) -> Result<(), HistoryError> {
        let now = identity(&self.path).map_err(|e| HistoryError::Other {
            path: self.path.display().to_string(),
            message: e.to_string(),
        })?;
        match now {
            _ if now == self.identity => Ok(()),
            None => Err(HistoryError::Replaced {
                path: self.path.display().to_string(),
                how: "deleted",
            }),
            Some(_) => Err(HistoryError::Replaced {
                path: self.path.display().to_string(),
                how: "replaced by another file",
            }),
        }
    }

    /// Closes the connection, so SQLite removes its `-wal` and `-shm` files before a new
    /// database is created at the same path.
    pub async fn close(self) {
        let _ = self.conn.close().await;
    }

    /// Records a run and returns the rules whose status changed since the last recorded run.
    ///
    /// # Errors
    ///
    /// [`HistoryError::Replaced`] (see [`History::check_identity`]), or [`HistoryError::Sql`] when
    /// writing fails; nothing of the run is written then.
    pub async fn record(
        &mut self,
        report: &Report,
        groups: &str,
    ) -> Result<(i64, Vec<Transition>), HistoryError> {
        self.check_identity()?;
        let path = self.path.clone();
        let err = sql(&path);
        let mut tx = self.conn.begin().await.map_err(&err)?;
        let s = &report.summary;
        let at = report.started_at;
        let run_id: i64 = sqlx::query_scalar(
            "INSERT INTO runs (started_at, started_unix, duration_ms, pass, warn, fail, error, skip, waived, groups, info)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(ts(at))
        .bind(at.unix_timestamp())
        .bind(i64::try_from(report.duration_ms).unwrap_or(i64::MAX))
        .bind(s.count(Status::Pass) as i64)
        .bind(s.count(Status::Warn) as i64)
        .bind(s.count(Status::Fail) as i64)
        .bind(s.count(Status::Error) as i64)
        .bind(s.count(Status::Skip) as i64)
        .bind(s.count(Status::Waived) as i64)
        .bind(groups)
        .bind(s.count(Status::Info) as i64)
        .fetch_one(&mut *tx)
        .await
        .map_err(&err)?;
        let previous: Vec<(String, String, Option<String>)> =
            sqlx::query_as("SELECT rule, status, observed FROM last_status")
                .fetch_all(&mut *tx)
                .await
                .map_err(&err)?;
        let mut out = Vec::new();
        for r in &report.results {
            let now = r.status.as_str();
            let before = previous.iter().find(|(rule, _, _)| *rule == r.id);
            if before.is_some_and(|(_, status, _)| status == now) {
                continue;
            }
            let t = Transition {
                run_id,
                at,
                rule: r.id.clone(),
                old_status: before.map(|b| b.1.clone()),
                new_status: now.to_string(),
                old_observed: before.and_then(|b| b.2.clone()),
                new_observed: r.observed.clone(),
                message: r.message.clone(),
            };
            sqlx::query(
                "INSERT INTO transitions (run_id, at, at_unix, rule, old_status, new_status, old_observed, new_observed, message)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(run_id)
            .bind(ts(at))
            .bind(at.unix_timestamp())
            .bind(&t.rule)
            .bind(&t.old_status)
            .bind(&t.new_status)
            .bind(&t.old_observed)
            .bind(&t.new_observed)
            .bind(&t.message)
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
            out.push(t);
        }
        // The latest status of every rule, so a restart knows what changed while it was down.
        for r in &report.results {
            sqlx::query(
                "INSERT INTO last_status (rule, status, observed, message) VALUES (?, ?, ?, ?)
                 ON CONFLICT(rule) DO UPDATE SET status = excluded.status,
                   observed = excluded.observed, message = excluded.message",
            )
            .bind(&r.id)
            .bind(r.status.as_str())
            .bind(&r.observed)
            .bind(&r.message)
            .execute(&mut *tx)
            .await
            .map_err(&err)?;
        }
        tx.commit().await.map_err(&err)?;
        self.enforce_retention(at).await?;
        Ok((run_id, out))
    }

    /// Drops runs (and their transitions) older than the age limit, then the oldest fifth
    /// while the file is over its size limit.
    async fn enforce_retention(&mut self, now: OffsetDateTime) -> Result<(), HistoryError> {
        let path = self.path.clone();
        let err = sql(&path);
        let cutoff = now.unix_timestamp() - self.retention.max_age.as_secs() as i64;
        sqlx::query("DELETE FROM runs WHERE started_unix < ?")
            .bind(cutoff)
            .execute(&mut self.conn)
            .await
            .map_err(&err)?;
        for _ in 0..10 {
            let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
                .fetch_one(&mut self.conn)
                .await
                .map_err(&err)?;
            let free: i64 = sqlx::query_scalar("PRAGMA freelist_count")
                .fetch_one(&mut self.conn)
                .await
                .map_err(&err)?;
            let size: i64 = sqlx::query_scalar("PRAGMA page_size")
                .fetch_one(&mut self.conn)
                .await
                .map_err(&err)?;
            if ((pages - free) * size) as u64 <= self.retention.max_bytes {
                break;
            }
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM runs")
                .fetch_one(&mut self.conn)
                .await
                .map_err(&err)?;
            if n <= 1 {
                break;
            }
            sqlx::query("DELETE FROM runs WHERE id IN (SELECT id FROM runs ORDER BY id LIMIT ?)")
                .bind((n / 5).max(1))
                .execute(&mut self.conn)
                .await
                .map_err(&err)?;
        }
        sqlx::query("PRAGMA incremental_vacuum")
            .execute(&mut self.conn)
            .await
            .map_err(&err)?;
        Ok(())
    }

    /// Transitions at or after `since`, oldest first, optionally of one rule.
    ///
    /// # Errors
    ///
    /// [`HistoryError::Sql`] when the query fails.
    pub async fn transitions(
        &mut self,
        since: Option<OffsetDateTime>,
        rule: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Transition>, HistoryError> {
        let path = self.path.clone();
        let rows = sqlx::query(
            "SELECT run_id, at, rule, old_status, new_status, old_observed, new_observed, message
             FROM transitions WHERE at_unix >= ? AND (? IS NULL OR rule = ?)
             ORDER BY id DESC LIMIT ?",
        )
        .bind(since.map_or(i64::MIN, OffsetDateTime::unix_timestamp))
        .bind(rule)
        .bind(rule)
        .bind(limit)
        .fetch_all(&mut self.conn)
        .await
        .map_err(sql(&path))?;
        let mut out: Vec<Transition> = rows
            .iter()
            .map(|r| Transition {
                run_id: r.get(0),
                at: parse_ts(r.get::<&str, _>(1)),
                rule: r.get(2),
                old_status: r.get(3),
                new_status: r.get(4),
                old_observed: r.get(5),
                new_observed: r.get(6),
                message: r.get(7),
            })
            .collect();
        out.reverse();
        Ok(out)
    }

    /// Runs at or after `since`, oldest first.
    ///
    /// # Errors
    ///
    /// [`HistoryError::Sql`] when the query fails.
    pub async fn runs(
        &mut self,
        since: Option<OffsetDateTime>,
        limit: i64,
    ) -> Result<Vec<RunRecord>, HistoryError> {
        let path = self.path.clone();
        let rows = sqlx::query(
            "SELECT id, started_at, duration_ms, pass, warn, fail, error, skip, waived, groups, info
             FROM runs WHERE started_unix >= ? ORDER BY id DESC LIMIT ?",
        )
        .bind(since.map_or(i64::MIN, OffsetDateTime::unix_timestamp))
        .bind(limit)
        .fetch_all(&mut self.conn)
        .await
        .map_err(sql(&path))?;
        let mut out: Vec<RunRecord> = rows.iter().map(run_record).collect();
        out.reverse();
        Ok(out)
    }

    /// What changed since the last run with no warning, failure or error.
    ///
    /// # Errors
    ///
    /// [`HistoryError::Sql`] when a query fails.
    pub async fn diff(&mut self) -> Result<Diff, HistoryError> {
        let path = self.path.clone();
        let err = sql(&path);
        let base = sqlx::query(
            "SELECT id, started_at, duration_ms, pass, warn, fail, error, skip, waived, groups, info
             FROM runs WHERE warn = 0 AND fail = 0 AND error = 0 ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&mut self.conn)
        .await
        .map_err(&err)?
        .map(|r| run_record(&r));
        let since_all_pass = base.is_some();
        let base = match base {
            Some(b) => Some(b),
            None => sqlx::query(
                "SELECT id, started_at, duration_ms, pass, warn, fail, error, skip, waived, groups, info
                 FROM runs ORDER BY id LIMIT 1",
            )
            .fetch_optional(&mut self.conn)
            .await
            .map_err(&err)?
            .map(|r| run_record(&r)),
        };
        let base_id = base.as_ref().map_or(0, |r| r.id);
        let now: Vec<(String, String, Option<String>, String)> =
            sqlx::query_as("SELECT rule, status, observed, message FROM last_status ORDER BY rule")
                .fetch_all(&mut self.conn)
                .await
                .map_err(&err)?;
        let mut entries = Vec::new();
        for (rule, status, observed, message) in now {
            // The rule's status at the base run: its last transition up to that run.
            let then: Option<(String, Option<String>)> = sqlx::query_as(
                "SELECT new_status, new_observed FROM transitions
                 WHERE rule = ? AND run_id <= ? ORDER BY id DESC LIMIT 1",
            )
            .bind(&rule)
            .bind(base_id)
            .fetch_optional(&mut self.conn)
            .await
            .map_err(&err)?;
            let count: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM transitions WHERE rule = ? AND run_id > ?",
            )
            .bind(&rule)
            .bind(base_id)
            .fetch_one(&mut self.conn)
            .await
            .map_err(&err)?;
            let then_status = then.as_ref().map(|t| t.0.clone());
            if count == 0 || then_status.as_deref() == Some(status.as_str()) {
                continue;
            }
            entries.push(DiffEntry {
                rule,
                then_status,
                now_status: status,
                then_observed: then.and_then(|t| t.1),
                now_observed: observed,
                now_message: message,
                transitions: count,
            });
        }
        Ok(Diff {
            since_run: base,
            since_all_pass,
            entries,
        })
    }
}

fn run_record(r: &sqlx::sqlite::SqliteRow) -> RunRecord {
    RunRecord {
        id: r.get(0),
        started_at: parse_ts(r.get::<&str, _>(1)),
        duration_ms: r.get(2),
        pass: r.get(3),
        warn: r.get(4),
        fail: r.get(5),
        error: r.get(6),
        skip: r.get(7),
        waived: r.get(8),
        groups: r.get(9),
        info: r.get(10),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::ToolInfo;
    use crate::report::{HostInfo, Summary};
    use crate::rules::Profile;
    use crate::rules::RuleResult;

    fn report(at: i64, statuses: &[(&str, Status, &str)]) -> Report {
        let results: Vec<RuleResult> = statuses
            .iter()
            .map(|(id, s, obs)| RuleResult {
                id: id.to_string(),
                title: id.to_string(),
                status: *s,
                observed: Some(obs.to_string()),
                expected: None,
                message: format!("{id} is {}", s.as_str()),
                remedy: None,
                doc: None,
                waiver: None,
            })
            .collect();
        Report {
            schema_version: 1,
            tool: ToolInfo::current(),
            host: HostInfo {
                hostname: None,
                kernel: None,
                os: None,
            },
            profile: Profile::Production,
            started_at: OffsetDateTime::from_unix_timestamp(at).unwrap(),
            duration_ms: 5,
            summary: Summary::of(&results),
            results,
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// A database deleted or replaced under an open connection is noticed before the write
    /// (which would go to an unlinked file), and a new one can be created at the path.
    #[test]
    fn a_deleted_or_replaced_database_is_noticed() {
        let rt = rt();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        rt.block_on(async {
            let now = OffsetDateTime::now_utc().unix_timestamp();
            let r = report(now, &[("a", Status::Pass, "1")]);
            let (mut h, _) = History::open(&path, Retention::default()).await.unwrap();
            h.record(&r, "base").await.unwrap();
            std::fs::remove_file(&path).unwrap();
            let e = h.record(&r, "base").await.unwrap_err();
            assert!(
                matches!(e, HistoryError::Replaced { how: "deleted", .. }),
                "{e}"
            );
            h.close().await;
            let (mut h, _) = History::open(&path, Retention::default()).await.unwrap();
            h.record(&r, "base").await.unwrap();
            assert!(path.exists());
            // Another file moved over it.
            let other = dir.path().join("other.db");
            std::fs::write(&other, b"").unwrap();
            std::fs::rename(&other, &path).unwrap();
            let e = h.record(&r, "base").await.unwrap_err();
            assert!(
                matches!(
                    e,
                    HistoryError::Replaced {
                        how: "replaced by another file",
                        ..
                    }
                ),
                "{e}"
            );
        });
    }

    #[test]
    fn transitions_survive_reopening_and_diff_finds_the_change() {
        let rt = rt();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        rt.block_on(async {
            let (mut h, note) = History::open(&path, Retention::default()).await.unwrap();
            assert!(note.is_none());
            let now = OffsetDateTime::now_utc().unix_timestamp();
            let (_, t) = h
                .record(
                    &report(
                        now - 30,
                        &[("a", Status::Pass, "1"), ("b", Status::Pass, "x")],
                    ),
                    "host",
                )
                .await
                .unwrap();
            assert_eq!(t.len(), 2, "first sight of each rule is a transition");
            let (_, t) = h
                .record(
                    &report(
                        now - 20,
                        &[("a", Status::Pass, "1"), ("b", Status::Pass, "x")],
                    ),
                    "host",
                )
                .await
                .unwrap();
            assert!(t.is_empty());
            drop(h);
            // A restarted daemon compares with what it saw before.
            let (mut h, _) = History::open(&path, Retention::default()).await.unwrap();
            let (_, t) = h
                .record(
                    &report(
                        now - 10,
                        &[("a", Status::Fail, "2"), ("b", Status::Pass, "y")],
                    ),
                    "host",
                )
                .await
                .unwrap();
            assert_eq!(t.len(), 1);
            assert_eq!(t[0].rule, "a");
            assert_eq!(t[0].old_status.as_deref(), Some("pass"));
            assert_eq!(t[0].old_observed.as_deref(), Some("1"));
            assert_eq!(t[0].new_observed.as_deref(), Some("2"));
            let d = h.diff().await.unwrap();
            assert_eq!(d.since_run.as_ref().map(|r| r.id), Some(2));
            assert_eq!(d.entries.len(), 1);
            assert_eq!(d.entries[0].now_status, "fail");
            assert_eq!(d.entries[0].then_status.as_deref(), Some("pass"));
            let since = OffsetDateTime::from_unix_timestamp(now - 15).unwrap();
            assert_eq!(
                h.transitions(Some(since), None, 100).await.unwrap().len(),
                1
            );
            assert_eq!(h.runs(None, 100).await.unwrap().len(), 3);
        });
    }

    #[test]
    fn old_runs_are_dropped() {
        let rt = rt();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        rt.block_on(async {
            let retention = Retention {
                max_age: Duration::from_secs(3600),
                ..Retention::default()
            };
            let (mut h, _) = History::open(&path, retention).await.unwrap();
            let now = OffsetDateTime::now_utc().unix_timestamp();
            h.record(&report(now - 7200, &[("a", Status::Pass, "1")]), "host")
                .await
                .unwrap();
            h.record(&report(now, &[("a", Status::Fail, "2")]), "host")
                .await
                .unwrap();
            let runs = h.runs(None, 100).await.unwrap();
            assert_eq!(runs.len(), 1);
            assert_eq!(h.transitions(None, None, 100).await.unwrap().len(), 1);
        });
    }

    #[test]
    fn a_corrupt_database_is_moved_aside() {
        let rt = rt();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        std::fs::write(
            &path,
            b"this is not a database, it is a text file\n".repeat(200),
        )
        .unwrap();
        rt.block_on(async {
            let (mut h, note) = History::open(&path, Retention::default()).await.unwrap();
            let note = note.expect("a note");
            assert!(
                note.contains("corrupt") && note.contains("moved aside"),
                "{note}"
            );
            h.record(&report(1_800_000_000, &[("a", Status::Pass, "1")]), "host")
                .await
                .unwrap();
        });
        let aside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("h.db.corrupt-"))
            .collect();
        assert_eq!(aside.len(), 1);
    }

    #[test]
    fn a_database_locked_by_another_writer_is_moved_aside() {
        let rt = rt();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        rt.block_on(async {
            let (h, _) = History::open(&path, Retention::default()).await.unwrap();
            drop(h);
            // Another process holds the write lock and does not let go.
            let opts = SqliteConnectOptions::new().filename(&path);
            let mut other = SqliteConnection::connect_with(&opts).await.unwrap();
            sqlx::query("BEGIN EXCLUSIVE")
                .execute(&mut other)
                .await
                .unwrap();
            let (mut h, note) = History::open(&path, Retention::default()).await.unwrap();
            let note = note.expect("a note");
            assert!(note.contains("locked"), "{note}");
            h.record(&report(1_800_000_000, &[("a", Status::Pass, "1")]), "host")
                .await
                .unwrap();
        });
        assert!(
            std::fs::read_dir(dir.path())
                .unwrap()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("h.db.locked-"))
        );
    }
}
