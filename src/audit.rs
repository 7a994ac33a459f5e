//! The audit history: every tool call in an embedded SQLite database in the app's data
//! directory — who, what (arguments with secrets removed), when, the outcome and whether it
//! changed Coda — kept for 30 days (configurable), searchable and exportable as CSV, so a
//! person can see what an assistant changed after a restart.
//!
//! The store keeps its own promises rather than trusting its callers: arguments are redacted
//! again on the way in (secrets never reach the file), old calls are pruned at open and then
//! every hour on the writer thread (a long-running app keeps only its retention period), and
//! the CSV export neutralises cells a spreadsheet would run as a formula.

use std::path::Path;
use std::sync::{Arc, Mutex};

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

/// How often the writer thread drops calls older than the retention period.
pub const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// A message for the writer thread.
enum Write {
    Record(Box<ToolCallRecord>),
    Flush(std::sync::mpsc::SyncSender<()>),
}

/// The store. Tool calls are written by a background thread in batched transactions, so
/// recording never waits for the disk on a request's path; reads flush first.
pub struct AuditStore {
    conn: Arc<Mutex<Connection>>,
    writer: std::sync::mpsc::SyncSender<Write>,
    dropped: std::sync::atomic::AtomicU64,
    retention: Duration,
}

/// Most calls the charts read for an hour (the newest; beyond this the oldest minutes look
/// quieter than they were).
pub const SAMPLES: usize = 200_000;

/// Records waiting for the writer before new ones are dropped (and counted).
const QUEUE: usize = 10_000;

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
    changed INTEGER NOT NULL,
    rate_limited INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS calls_at ON calls(at);
";

impl AuditStore {
    /// Opens (or creates) the database at `path`, dropping calls older than `retention` now
    /// and every [`PRUNE_EVERY`].
    pub fn open(path: &Path, retention: Duration) -> Result<Self, AuditError> {
        Self::open_pruning_every(path, retention, PRUNE_EVERY)
    }

    /// [`AuditStore::open`] with another pruning period (tests).
    pub fn open_pruning_every(
        path: &Path,
        retention: Duration,
        every: std::time::Duration,
    ) -> Result<Self, AuditError> {
        // The history holds tool arguments (row contents): the database is the person's only.
        crate::private::prepare_database(path)?;
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // With WAL, NORMAL keeps the database consistent and skips an fsync per commit.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Self::init(conn, retention, every)
    }

    /// A database in memory (no data directory).
    pub fn in_memory(retention: Duration) -> Result<Self, AuditError> {
        Self::init(Connection::open_in_memory()?, retention, PRUNE_EVERY)
    }

    fn init(
        conn: Connection,
        retention: Duration,
        every: std::time::Duration,
    ) -> Result<Self, AuditError> {
        conn.execute_batch(SCHEMA)?;
        // Histories from before the 429 count get the column (0 for their calls).
        let has_rate_limited = conn
            .prepare("SELECT 1 FROM pragma_table_info('calls') WHERE name = 'rate_limited'")?
            .exists([])?;
        if !has_rate_limited {
            conn.execute_batch(
                "ALTER TABLE calls ADD COLUMN rate_limited INTEGER NOT NULL DEFAULT 0",
            )?;
        }
        let conn = Arc::new(Mutex::new(conn));
        let (writer, queue) = std::sync::mpsc::sync_channel::<Write>(QUEUE);
        let db = conn.clone();
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || write_loop(&db, &queue, retention, every))?;
        let store = AuditStore {
            conn,
            writer,
            dropped: std::sync::atomic::AtomicU64::new(0),
            retention,
        };
        store.prune()?;
        Ok(store)
    }

    /// Removes calls older than the retention period; returns how many.
    pub fn prune(&self) -> Result<usize, AuditError> {
        Ok(prune(&self.conn.lock().expect("audit"), self.retention)?)
    }

    /// Queues one call for the writer; never blocks. Returns false if the queue was full
    /// (the call is then counted in [`AuditStore::dropped`] instead). Its arguments are
    /// redacted here too, whatever the caller did.
    pub fn record(&self, c: &ToolCallRecord) -> bool {
        let mut kept = c.clone();
        kept.args = crate::events::redact(&kept.args);
        let ok = self.writer.try_send(Write::Record(Box::new(kept))).is_ok();
        if !ok {
            self.dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        ok
    }

    /// Calls that could not be kept because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits until everything queued so far is written.
    pub fn flush(&self) {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        if self.writer.send(Write::Flush(tx)).is_ok() {
            let _ = rx.recv_timeout(std::time::Duration::from_secs(5));
        }
    }

    /// The newest calls matching `query` (tool, client, session, arguments or error contain it).
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<ToolCallRecord>, AuditError> {
        self.flush();
        let conn = self.conn.lock().expect("audit");
        let pattern = format!(
            "%{}%",
            query
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let mut stmt = conn.prepare(
            "SELECT id, at, session, client, tool, args, ok, error, duration_ms, coda_requests, retries, changed, rate_limited FROM calls
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
                rate_limited: r.get(12)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// When each call since `from` started, whether it succeeded and how long it took (at
    /// most [`SAMPLES`] of the newest): what the Status view's charts are drawn from.
    pub fn samples_since(
        &self,
        from: DateTime<Utc>,
    ) -> Result<Vec<crate::metrics::CallSample>, AuditError> {
        self.flush();
        let conn = self.conn.lock().expect("audit");
        let mut stmt = conn.prepare(
            "SELECT id, at, ok, duration_ms FROM calls WHERE at >= ?1 ORDER BY at DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![from.to_rfc3339(), SAMPLES as i64], |r| {
            let at: String = r.get(1)?;
            Ok((
                r.get::<_, String>(0)?,
                at,
                r.get::<_, bool>(2)?,
                r.get::<_, f64>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, at, ok, ms) = row?;
            if let Ok(at) = DateTime::parse_from_rfc3339(&at) {
                let at = at.with_timezone(&Utc);
                out.push(crate::metrics::CallSample { id, at, ok, ms });
            }
        }
        Ok(out)
    }

    /// All kept calls as CSV, newest first. A text cell a spreadsheet would read as a
    /// formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading
    /// `'`, so opening the export never runs what an assistant wrote into an argument.
    pub fn csv(&self) -> Result<String, AuditError> {
        let field = |s: &str| {
            let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                format!("'{s}")
            } else {
                s.to_owned()
            };
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s
            }
        };
        let mut out = String::from(
            "at,session,client,tool,arguments,ok,changed,error,duration_ms,coda_requests,retries,rate_limited\n",
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
                    c.rate_limited.to_string(),
                ]
                .join(","),
            );
            out.push('\n');
        }
        Ok(out)
    }
}

fn prune(conn: &Connection, retention: Duration) -> rusqlite::Result<usize> {
    let cutoff = (Utc::now() - retention).to_rfc3339();
    conn.execute("DELETE FROM calls WHERE at < ?1", params![cutoff])
}

/// How long the writer waits for more calls to share a transaction with.
const GROUP_WINDOW: std::time::Duration = std::time::Duration::from_millis(25);

/// Most calls written in one transaction.
const MAX_BATCH: usize = 1_000;

/// The writer thread: takes what is queued, writes it in one transaction, repeats; and every
/// `every` drops what is older than `retention`.
fn write_loop(
    db: &Mutex<Connection>,
    queue: &std::sync::mpsc::Receiver<Write>,
    retention: Duration,
    every: std::time::Duration,
) {
    use std::sync::mpsc::RecvTimeoutError;
    let mut next_prune = std::time::Instant::now() + every;
    loop {
        let now = std::time::Instant::now();
        if now >= next_prune {
            if let Err(e) = prune(&db.lock().expect("audit"), retention) {
                tracing::warn!(error = %e, "could not prune the audit history");
            }
            next_prune = now + every;
        }
        let first = match queue.recv_timeout(next_prune.saturating_duration_since(now)) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        // Group commit: a transaction (and its write to the WAL) per call would cost more
        // than the call itself under load, so calls arriving within GROUP_WINDOW share one.
        // A flush (a read of the history) ends the wait at once.
        let window_ends = std::time::Instant::now() + GROUP_WINDOW;
        let mut flushing = matches!(first, Write::Flush(_));
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            let next = if flushing {
                queue.try_recv().ok()
            } else {
                queue
                    .recv_timeout(window_ends.saturating_duration_since(std::time::Instant::now()))
                    .ok()
            };
            let Some(m) = next else { break };
            flushing |= matches!(m, Write::Flush(_));
            batch.push(m);
        }
        let mut flushes = Vec::new();
        {
            let mut conn = db.lock().expect("audit");
            let result = conn.transaction().and_then(|tx| {
                {
                    let mut insert = tx.prepare_cached(
                        "INSERT OR REPLACE INTO calls (id, at, session, client, tool, args, ok, error, duration_ms, coda_requests, retries, changed, rate_limited)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)")?;
                    for m in &batch {
                        if let Write::Record(c) = m {
                            insert.execute(params![c.id, c.at.to_rfc3339(), c.session, c.client, c.tool, c.args.to_string(),
                                c.ok, c.error, c.duration_ms, c.coda_requests, c.retries, c.changed, c.rate_limited])?;
                        }
                    }
                }
                tx.commit()
            });
            if let Err(e) = result {
                tracing::warn!(error = %e, "could not write tool calls to the audit history");
            }
        }
        for m in batch {
            if let Write::Flush(done) = m {
                flushes.push(done);
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
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
            // Raw: the store itself must redact.
            args,
            ok: true,
            error: None,
            duration_ms: 3.5,
            coda_requests: 1,
            retries: 0,
            rate_limited: 0,
            changed: false,
        }
    }

    #[test]
    fn an_older_history_gains_the_429_column_and_keeps_its_calls() {
        let dir = std::env::temp_dir().join(format!("coda-mcp-audit-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.sqlite3");
        {
            // The table as the first release wrote it.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                &SCHEMA.replace(",\n    rate_limited INTEGER NOT NULL DEFAULT 0", ""),
            )
            .unwrap();
            conn.execute(
                "INSERT INTO calls VALUES ('old', ?1, 's', 'c', 'coda_list_docs', '{}', 1, NULL, 1.0, 1, 0, 0)",
                params![Utc::now().to_rfc3339()],
            )
            .unwrap();
        }
        let store = AuditStore::open(&path, Duration::days(30)).unwrap();
        let mut limited = call("new", "coda_list_rows", Utc::now(), json!({}));
        limited.rate_limited = 3;
        store.record(&limited);
        let found = store.search("", 10).unwrap();
        assert_eq!(found.len(), 2);
        let by_id = |id: &str| found.iter().find(|c| c.id == id).unwrap().rate_limited;
        assert_eq!((by_id("old"), by_id("new")), (0, 3));
        assert!(store
            .csv()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .ends_with(",rate_limited"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn keeps_searches_exports_and_prunes() {
        let dir = std::env::temp_dir().join(format!("coda-mcp-audit-{}", uuid::Uuid::new_v4()));
        let path = dir.join("audit.sqlite3");
        {
            let store = AuditStore::open(&path, Duration::days(30)).unwrap();
            for (id, tool, at, args) in [
                (
                    "a",
                    "coda_list_rows",
                    Utc::now(),
                    json!({"docId": "AbC", "query": "\"Status\":\"Done\""}),
                ),
                (
                    "b",
                    "coda_update_row",
                    Utc::now(),
                    json!({"docId": "AbC", "token": "pat_secret"}),
                ),
                (
                    "old",
                    "coda_whoami",
                    Utc::now() - Duration::days(40),
                    json!({}),
                ),
            ] {
                assert!(store.record(&call(id, tool, at, args)));
            }
            store.flush();
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

    #[test]
    fn the_store_redacts_what_it_is_given_even_in_the_file() {
        let dir = std::env::temp_dir().join(format!("coda-mcp-audit-{}", uuid::Uuid::new_v4()));
        let path = dir.join("audit.sqlite3");
        let store = AuditStore::open(&path, Duration::days(30)).unwrap();
        // A caller that forgot to redact: the raw arguments, secrets and all.
        store.record(&call(
            "raw",
            "coda_update_row",
            Utc::now(),
            json!({"docId": "AbC", "apiToken": "pat_raw_secret_1", "nested": {"authorization": "Bearer cmk_raw_2"},
                "value": "cmk_raw_key_3", "note": "y".repeat(5000)}),
        ));
        store.flush();
        let kept = &store.search("", 10).unwrap()[0];
        assert_eq!(kept.args["apiToken"], "[redacted]");
        assert_eq!(kept.args["value"], "[redacted]");
        assert!(
            kept.args["note"].as_str().unwrap().len() < 300,
            "long values cut"
        );
        drop(store);
        let mut bytes = std::fs::read(&path).unwrap();
        if let Ok(wal) = std::fs::read(path.with_extension("sqlite3-wal")) {
            bytes.extend(wal);
        }
        let raw = String::from_utf8_lossy(&bytes);
        for secret in ["pat_raw_secret_1", "cmk_raw_2", "cmk_raw_key_3"] {
            assert!(!raw.contains(secret), "{secret} reached the database file");
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn old_calls_are_pruned_while_the_store_stays_open() {
        let dir = std::env::temp_dir().join(format!("coda-mcp-audit-{}", uuid::Uuid::new_v4()));
        let store = AuditStore::open_pruning_every(
            &dir.join("audit.sqlite3"),
            Duration::days(30),
            std::time::Duration::from_millis(50),
        )
        .unwrap();
        // Written after the prune at open: only the periodic prune can remove it.
        store.record(&call(
            "old",
            "coda_whoami",
            Utc::now() - Duration::days(31),
            json!({}),
        ));
        store.record(&call("new", "coda_whoami", Utc::now(), json!({})));
        store.flush();
        let mut ids = Vec::new();
        for _ in 0..100 {
            ids = store
                .search("", 10)
                .unwrap()
                .into_iter()
                .map(|c| c.id)
                .collect::<Vec<_>>();
            if ids == ["new"] {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(ids, ["new"], "the writer pruned the 31-day-old call");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn csv_cells_that_a_spreadsheet_would_run_are_neutralised() {
        let store = AuditStore::in_memory(Duration::days(30)).unwrap();
        let mut c = call("f", "coda_upsert_rows", Utc::now(), json!({}));
        c.session = "=HYPERLINK(\"http://evil.test\",\"x\")".into();
        c.client = "+cmd|' /C calc'!A0".into();
        c.tool = "@SUM(1+1)".into();
        c.error = Some("-2+3".into());
        store.record(&c);
        let mut t = call("t", "coda_whoami", Utc::now(), json!({}));
        t.session = "\tsession".into();
        t.client = "\r=1+1".into();
        store.record(&t);
        let csv = store.csv().unwrap();
        let cells: Vec<String> = csv
            .lines()
            .skip(1)
            .flat_map(|l| {
                l.split(',')
                    .map(|c| c.trim_matches('"').to_owned())
                    .collect::<Vec<_>>()
            })
            .collect();
        for cell in &cells {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{cell:?} would run as a formula in: {csv}"
            );
        }
        assert!(csv.contains("\"'=HYPERLINK(\"\"http://evil.test\"\""));
        assert!(csv.contains("'+cmd|' /C calc'!A0"));
        assert!(csv.contains(",'@SUM(1+1),"));
        assert!(csv.contains(",'-2+3,"));
        assert!(csv.contains("'\tsession"));
        assert!(
            csv.contains("\"'\r=1+1\""),
            "a CR cell is quoted and neutralised"
        );
    }
}
