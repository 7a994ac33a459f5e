//! The audit history: every tool call in an embedded SQLite database in the app's data
//! directory — who, what (arguments with secrets removed), when, the outcome and whether it
//! changed Coda — kept for 30 days (configurable), searchable and exportable as CSV, so a
//! person can see what an assistant changed after a restart.

use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection};
use serde_json::Value;

use crate::events::ToolCallRecord;

/// Why the audit store failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// SQLite refused.
    #[error("audit database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The data directory could not be made.
    #[error("audit database directory: {0}")]
    Io(#[from] std::io::Error),
}

/// The store. Writes are small and rare enough for one connection behind a mutex.
pub struct AuditStore {
    conn: Mutex<Connection>,
    retention: Duration,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS calls (
    id TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    session TEXT NOT NULL,
    client TEXT NOT NULL,
    tool TEXT NOT NULL,
    args TEXT NOT NULL,
    ok INTEGER NOT NULL,
    error TEXT,
    duration_ms REAL NOT NULL,
    coda_requests INTEGER NOT NULL,
    retries INTEGER NOT NULL,
    changed INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_at ON calls(at);
";

impl AuditStore {
    /// Opens (or creates) the database at `path`, dropping calls older than `retention`.
    pub fn open(path: &Path, retention: Duration) -> Result<Self, AuditError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        Self::init(conn, retention)
    }

    /// A database in memory (no data directory).
    pub fn in_memory(retention: Duration) -> Result<Self, AuditError> {
        Self::init(Connection::open_in_memory()?, retention)
    }

    fn init(conn: Connection, retention: Duration) -> Result<Self, AuditError> {
        conn.execute_batch(SCHEMA)?;
        let store = AuditStore {
            conn: Mutex::new(conn),
            retention,
        };
        store.prune()?;
        Ok(store)
    }

    /// Removes calls older than the retention period; returns how many.
    pub fn prune(&self) -> Result<usize, AuditError> {
        let cutoff = (Utc::now() - self.retention).to_rfc3339();
        Ok(self
            .conn
            .lock()
            .expect("audit")
            .execute("DELETE FROM calls WHERE at < ?1", params![cutoff])?)
    }

    /// Records one call.
    pub fn record(&self, c: &ToolCallRecord) -> Result<(), AuditError> {
        self.conn.lock().expect("audit").execute(
            "INSERT OR REPLACE INTO calls VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![c.id, c.at.to_rfc3339(), c.session, c.client, c.tool, c.args.to_string(), c.ok, c.error,
                c.duration_ms, c.coda_requests, c.retries, c.changed],
        )?;
        Ok(())
    }

    /// The newest calls matching `query` (tool, client, session, arguments or error contain it).
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<ToolCallRecord>, AuditError> {
        let conn = self.conn.lock().expect("audit");
        let pattern = format!(
            "%{}%",
            query
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let mut stmt = conn.prepare(
            "SELECT id, at, session, client, tool, args, ok, error, duration_ms, coda_requests, retries, changed FROM calls
             WHERE ?1 = '%%' OR tool LIKE ?1 ESCAPE '\\' OR client LIKE ?1 ESCAPE '\\' OR session LIKE ?1 ESCAPE '\\'
                OR args LIKE ?1 ESCAPE '\\' OR IFNULL(error, '') LIKE ?1 ESCAPE '\\'
             ORDER BY at DESC LIMIT ?2")?;
        let rows = stmt.query_map(params![pattern, limit as i64], |r| {
            let at: String = r.get(1)?;
            let args: String = r.get(5)?;
            Ok(ToolCallRecord {
                id: r.get(0)?,
                at: DateTime::parse_from_rfc3339(&at)
                    .map(|d| d.with_timezone(&Utc))
                    .unwrap_or_else(|_| Utc::now()),
                session: r.get(2)?,
                client: r.get(3)?,
                tool: r.get(4)?,
                args: serde_json::from_str(&args).unwrap_or(Value::Null),
                ok: r.get(6)?,
                error: r.get(7)?,
                duration_ms: r.get(8)?,
                coda_requests: r.get(9)?,
                retries: r.get(10)?,
                changed: r.get(11)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// All kept calls as CSV, newest first.
    pub fn csv(&self) -> Result<String, AuditError> {
        let field = |s: &str| {
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_owned()
            }
        };
        let mut out = String::from(
            "at,session,client,tool,arguments,ok,changed,error,duration_ms,coda_requests,retries\n",
        );
        for c in self.search("", 1_000_000)? {
            out.push_str(
                &[
                    c.at.to_rfc3339(),
                    field(&c.session),
                    field(&c.client),
                    field(&c.tool),
                    field(&c.args.to_string()),
                    c.ok.to_string(),
                    c.changed.to_string(),
                    field(c.error.as_deref().unwrap_or("")),
                    format!("{:.1}", c.duration_ms),
                    c.coda_requests.to_string(),
                    c.retries.to_string(),
                ]
                .join(","),
            );
            out.push('\n');
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(id: &str, tool: &str, at: DateTime<Utc>, args: Value) -> ToolCallRecord {
        ToolCallRecord {
            id: id.into(),
            at,
            session: "s1".into(),
            client: "claude 1.0".into(),
            tool: tool.into(),
            args: crate::events::redact(&args),
            ok: true,
            error: None,
            duration_ms: 3.5,
            coda_requests: 1,
            retries: 0,
            changed: false,
        }
    }

    #[test]
    fn keeps_searches_exports_and_prunes() {
        let dir = std::env::temp_dir().join(format!("coda-mcp-audit-{}", uuid::Uuid::new_v4()));
        let path = dir.join("audit.sqlite3");
        {
            let store = AuditStore::open(&path, Duration::days(30)).unwrap();
            store
                .record(&call(
                    "a",
                    "coda_list_rows",
                    Utc::now(),
                    json!({"docId": "AbC", "query": "\"Status\":\"Done\""}),
                ))
                .unwrap();
            store
                .record(&call(
                    "b",
                    "coda_update_row",
                    Utc::now(),
                    json!({"docId": "AbC", "token": "pat_secret"}),
                ))
                .unwrap();
            store
                .record(&call(
                    "old",
                    "coda_whoami",
                    Utc::now() - Duration::days(40),
                    json!({}),
                ))
                .unwrap();
        }
        let store = AuditStore::open(&path, Duration::days(30)).unwrap();
        let all = store.search("", 100).unwrap();
        assert_eq!(
            all.len(),
            2,
            "the 40-day-old call was pruned on open; the others survived the reopen"
        );
        assert_eq!(store.search("update", 10).unwrap()[0].id, "b");
        assert_eq!(store.search("Status", 10).unwrap()[0].id, "a");
        assert!(
            store.search("100%_", 10).unwrap().is_empty(),
            "LIKE wildcards are escaped"
        );
        let csv = store.csv().unwrap();
        assert!(csv.starts_with("at,session,client,tool"));
        assert_eq!(csv.lines().count(), 3);
        assert!(
            !csv.contains("pat_secret"),
            "secrets never reach the history"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
