//! What OAuth keeps across restarts, in SQLite beside the audit history: registered clients,
//! the grants the owner approved, and their tokens — as SHA-256 hashes only, so the database
//! never holds a usable token. Access tokens live an hour; refresh tokens 30 days and are
//! single-use: each refresh returns a new one, and presenting a spent one (a stolen copy
//! racing its owner) revokes the whole grant.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;

use chrono::Utc;
use rusqlite::{params, Connection, OptionalExtension};

use crate::caller::{Grant, SCOPE_WRITE};
use crate::coda::Secret;

/// How long an access token is accepted.
pub const ACCESS_TTL_S: i64 = 3_600;
/// How long a refresh token may be used (once).
pub const REFRESH_TTL_S: i64 = 30 * 24 * 3_600;
/// Most registered clients kept; beyond it, the registrations that never got a grant of the
/// network holding the most of them go first.
pub const MAX_CLIENTS: usize = 1_000;
/// Most registrations without a grant one client network keeps (its oldest go first) …
pub const UNUSED_PER_NETWORK: usize = 20;
/// … and one IPv6 /48.
pub const UNUSED_PER_WIDE: usize = 100;
/// Access tokens of one grant kept valid at once (the newest and the one before it, for a
/// request in flight while the client refreshed).
const ACCESS_PER_GRANT: usize = 2;
/// Spent refresh tokens of one grant remembered (a stolen one replayed revokes the grant).
const SPENT_PER_GRANT: usize = 5;
/// A registration that got no grant within this long is forgotten.
pub const UNUSED_CLIENT_TTL_S: i64 = 24 * 3_600;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS clients (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS grants (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    client_name TEXT NOT NULL,
    client_kind TEXT NOT NULL,
    redirect_host TEXT NOT NULL,
    scope TEXT NOT NULL,
    resource TEXT NOT NULL,
    created INTEGER NOT NULL,
    last_used INTEGER,
    calls INTEGER NOT NULL DEFAULT 0,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS tokens (
    hash BLOB PRIMARY KEY,
    grant_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    expires INTEGER NOT NULL,
    spent INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS tokens_grant ON tokens(grant_id);
";

/// Changes to the schema since the first, applied in order once each (`PRAGMA user_version`
/// counts them).
const MIGRATIONS: &[&str] = &[
    // 1: which client network registered a client (its own, and its IPv6 /48).
    "ALTER TABLE clients ADD COLUMN network TEXT NOT NULL DEFAULT '';
     ALTER TABLE clients ADD COLUMN network_wide TEXT NOT NULL DEFAULT '';
     CREATE INDEX IF NOT EXISTS clients_network ON clients(network);",
];

/// Why the store could not do something.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("the OAuth database: {0}")]
    Db(#[from] rusqlite::Error),
    /// The database file could not be made ready.
    #[error("the OAuth database: {0}")]
    Io(#[from] std::io::Error),
    /// [`MAX_CLIENTS`] registrations exist, all of them in use.
    #[error("too many registered clients")]
    Full,
}

/// A client the server knows: registered (DCR) or from its metadata document (CIMD).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Client {
    /// Its `client_id` (issued, or the metadata document's URL).
    pub id: String,
    /// `registered` or `metadata document`.
    pub kind: String,
    /// The name it gave.
    pub name: String,
    /// The redirect URIs it may use, exactly.
    pub redirect_uris: Vec<String>,
    /// When it was registered (or its document first used), Unix seconds; 0 if not yet kept.
    pub created: i64,
    /// The client network that registered it (`192.0.2.7`, `2001:db8:1:2::/64`), if known.
    pub network: String,
}

/// One grant as the dashboard and `coda-mcp oauth list` show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GrantRow {
    /// The grant's id.
    pub id: String,
    /// The app's `client_id`.
    pub client_id: String,
    /// The app's name.
    pub client_name: String,
    /// `registered` or `metadata document`.
    pub client_kind: String,
    /// Where its authorization answers went (the host of its redirect URI).
    pub redirect_host: String,
    /// The scopes granted.
    pub scope: String,
    /// The resource its tokens are for.
    pub resource: String,
    /// When the owner approved it (RFC 3339).
    pub created: String,
    /// When a token of it was last used (RFC 3339).
    pub last_used: Option<String>,
    /// Tool calls made with its tokens.
    pub calls: u64,
}

/// A fresh pair of tokens.
#[derive(Debug)]
pub struct Tokens {
    /// The access token (shown once, to the client).
    pub access: Secret,
    /// The refresh token (shown once, to the client).
    pub refresh: Secret,
    /// Seconds the access token lives.
    pub expires_in: i64,
    /// The scopes granted.
    pub scope: String,
}

/// What an access token stands for.
#[derive(Debug, Clone)]
pub struct Access {
    /// The grant, as a caller.
    pub grant: Grant,
    /// The resource the token was issued for.
    pub resource: String,
}

/// Why a refresh failed.
#[derive(Debug, PartialEq, Eq)]
pub enum RefreshError {
    /// Unknown, expired, revoked, or another client's.
    Invalid,
    /// Already used once: the grant is revoked now.
    Reused,
}

/// The OAuth database.
pub struct OAuthStore {
    conn: Mutex<Connection>,
}

fn hash(token: &Secret) -> Vec<u8> {
    token.digest().to_vec()
}

fn rfc3339(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .unwrap_or_default()
        .to_rfc3339()
}

impl OAuthStore {
    /// Opens (or creates) the database at `path` (private to the person).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        crate::private::prepare_database(path)?;
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Self::init(conn)
    }

    /// A database in memory (no data directory): grants last as long as the process.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        conn.execute_batch(SCHEMA)?;
        let applied: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        for (i, step) in MIGRATIONS.iter().enumerate().skip(applied.max(0) as usize) {
            conn.execute_batch(&format!(
                "BEGIN; {step}; PRAGMA user_version = {}; COMMIT;",
                i + 1
            ))?;
        }
        let store = OAuthStore {
            conn: Mutex::new(conn),
        };
        store.prune()?;
        Ok(store)
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().expect("oauth database")
    }

    /// Forgets expired tokens, spent refresh tokens past their life, revoked grants' tokens
    /// and registrations that never got a grant.
    pub fn prune(&self) -> Result<(), StoreError> {
        let now = Utc::now().timestamp();
        let db = self.db();
        db.execute("DELETE FROM tokens WHERE expires < ?1", params![now])?;
        db.execute(
            "DELETE FROM tokens WHERE grant_id IN (SELECT id FROM grants WHERE revoked = 1)",
            [],
        )?;
        db.execute(
            "DELETE FROM clients WHERE created < ?1 AND id NOT IN (SELECT client_id FROM grants WHERE revoked = 0)",
            params![now - UNUSED_CLIENT_TTL_S],
        )?;
        Ok(())
    }

    /// Keeps a client: a new registration, or a metadata document's latest contents, as
    /// registered from `from` (its network is kept; a document already known keeps its
    /// first). Registrations without a grant are shared per network: beyond
    /// [`UNUSED_PER_NETWORK`] (an IPv6 /48: [`UNUSED_PER_WIDE`]) the network's own oldest go,
    /// and when [`MAX_CLIENTS`] are kept, the oldest of the network holding the most.
    pub fn save_client(&self, client: &Client, from: Option<IpAddr>) -> Result<(), StoreError> {
        let (own, wide) = match from {
            Some(ip) => {
                let (own, wide) = crate::netshare::networks(ip);
                (
                    own.to_string(),
                    wide.map(|w| w.to_string()).unwrap_or_default(),
                )
            }
            None => (String::new(), String::new()),
        };
        let mut db = self.db();
        let tx = db.transaction()?;
        let known: bool = tx
            .query_row(
                "SELECT 1 FROM clients WHERE id = ?1",
                params![client.id],
                |_| Ok(true),
            )
            .optional()?
            .unwrap_or(false);
        if known {
            tx.execute(
                "UPDATE clients SET kind = ?2, name = ?3, redirect_uris = ?4 WHERE id = ?1",
                params![
                    client.id,
                    client.kind,
                    client.name,
                    serde_json::to_string(&client.redirect_uris).expect("JSON")
                ],
            )?;
            tx.commit()?;
            return Ok(());
        }
        const UNUSED: &str = "id NOT IN (SELECT client_id FROM grants WHERE revoked = 0)";
        let drop_oldest = |column: &str, value: &str, keep: usize| -> Result<(), StoreError> {
            if value.is_empty() {
                return Ok(());
            }
            let sql = format!(
                "DELETE FROM clients WHERE id IN (SELECT id FROM clients WHERE {column} = ?1 AND {UNUSED} ORDER BY created DESC, rowid DESC LIMIT -1 OFFSET ?2)"
            );
            tx.execute(&sql, params![value, keep.saturating_sub(1) as i64])?;
            Ok(())
        };
        drop_oldest("network", &own, UNUSED_PER_NETWORK)?;
        drop_oldest("network_wide", &wide, UNUSED_PER_WIDE)?;
        let count: i64 = tx.query_row("SELECT COUNT(*) FROM clients", [], |r| r.get(0))?;
        if count as usize >= MAX_CLIENTS {
            // Make room from the network that holds the most unused registrations.
            let freed = tx.execute(
                &format!("DELETE FROM clients WHERE id = (SELECT id FROM clients WHERE {UNUSED} AND network = (SELECT network FROM clients WHERE {UNUSED} GROUP BY network ORDER BY COUNT(*) DESC, MIN(created) LIMIT 1) ORDER BY created, rowid LIMIT 1)"),
                [],
            )?;
            if freed == 0 {
                return Err(StoreError::Full);
            }
        }
        tx.execute(
            "INSERT INTO clients (id, kind, name, redirect_uris, created, network, network_wide) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                client.id,
                client.kind,
                client.name,
                serde_json::to_string(&client.redirect_uris).expect("JSON"),
                Utc::now().timestamp(),
                own,
                wide
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Clients kept (for tests of the bound).
    pub fn client_count(&self) -> Result<usize, StoreError> {
        let n: i64 = self
            .db()
            .query_row("SELECT COUNT(*) FROM clients", [], |r| r.get(0))?;
        Ok(n as usize)
    }

    /// Token rows kept (for tests of the bound).
    pub fn token_count(&self) -> Result<usize, StoreError> {
        let n: i64 = self
            .db()
            .query_row("SELECT COUNT(*) FROM tokens", [], |r| r.get(0))?;
        Ok(n as usize)
    }

    /// The client `id`, if known.
    pub fn client(&self, id: &str) -> Result<Option<Client>, StoreError> {
        let db = self.db();
        Ok(db
            .query_row(
                "SELECT id, kind, name, redirect_uris, created, network FROM clients WHERE id = ?1",
                params![id],
                |r| {
                    let uris: String = r.get(3)?;
                    Ok(Client {
                        id: r.get(0)?,
                        kind: r.get(1)?,
                        name: r.get(2)?,
                        redirect_uris: serde_json::from_str(&uris).unwrap_or_default(),
                        created: r.get(4)?,
                        network: r.get(5)?,
                    })
                },
            )
            .optional()?)
    }

    /// Whether the owner has approved `client_id` (a live grant).
    pub fn has_grant(&self, client_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .db()
            .query_row(
                "SELECT 1 FROM grants WHERE client_id = ?1 AND revoked = 0 LIMIT 1",
                params![client_id],
                |_| Ok(true),
            )
            .optional()?
            .unwrap_or(false))
    }

    /// Records a grant the owner approved and issues its first tokens.
    pub fn grant(
        &self,
        client: &Client,
        redirect_host: &str,
        scope: &str,
        resource: &str,
    ) -> Result<Tokens, StoreError> {
        let id = crate::secrets::random_token("grant_").expose().to_owned();
        self.db().execute(
            "INSERT INTO grants (id, client_id, client_name, client_kind, redirect_host, scope, resource, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![id, client.id, client.name, client.kind, redirect_host, scope, resource, Utc::now().timestamp()],
        )?;
        self.issue(&id, scope)
    }

    fn issue(&self, grant_id: &str, scope: &str) -> Result<Tokens, StoreError> {
        let now = Utc::now().timestamp();
        let access = crate::secrets::random_token("cmo_");
        let refresh = crate::secrets::random_token("cmr_");
        let db = self.db();
        db.execute(
            "INSERT INTO tokens (hash, grant_id, kind, expires) VALUES (?1, ?2, 'access', ?3)",
            params![hash(&access), grant_id, now + ACCESS_TTL_S],
        )?;
        db.execute(
            "INSERT INTO tokens (hash, grant_id, kind, expires) VALUES (?1, ?2, 'refresh', ?3)",
            params![hash(&refresh), grant_id, now + REFRESH_TTL_S],
        )?;
        // However often it refreshes, a grant keeps a bounded number of rows.
        db.execute(
            "DELETE FROM tokens WHERE rowid IN (SELECT rowid FROM tokens WHERE grant_id = ?1 AND kind = 'access' ORDER BY rowid DESC LIMIT -1 OFFSET ?2)",
            params![grant_id, ACCESS_PER_GRANT as i64],
        )?;
        db.execute(
            "DELETE FROM tokens WHERE rowid IN (SELECT rowid FROM tokens WHERE grant_id = ?1 AND kind = 'refresh' AND spent = 1 ORDER BY rowid DESC LIMIT -1 OFFSET ?2)",
            params![grant_id, SPENT_PER_GRANT as i64],
        )?;
        Ok(Tokens {
            access,
            refresh,
            expires_in: ACCESS_TTL_S,
            scope: scope.to_owned(),
        })
    }

    /// Trades a refresh token (of `client_id`'s) for a new pair; the old one is spent. A
    /// spent one presented again revokes the grant.
    pub fn refresh(
        &self,
        token: &Secret,
        client_id: &str,
    ) -> Result<Result<Tokens, RefreshError>, StoreError> {
        let now = Utc::now().timestamp();
        let found: Option<(String, i64, bool, String, String, bool)> = self
            .db()
            .query_row(
                "SELECT t.grant_id, t.expires, t.spent, g.client_id, g.scope, g.revoked FROM tokens t JOIN grants g ON g.id = t.grant_id WHERE t.hash = ?1 AND t.kind = 'refresh'",
                params![hash(token)],
                |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? != 0, r.get(3)?, r.get(4)?, r.get::<_, i64>(5)? != 0)),
            )
            .optional()?;
        let Some((grant_id, expires, spent, owner, scope, revoked)) = found else {
            return Ok(Err(RefreshError::Invalid));
        };
        if owner != client_id || revoked || expires < now {
            return Ok(Err(RefreshError::Invalid));
        }
        if spent {
            self.revoke_grant(&grant_id)?;
            return Ok(Err(RefreshError::Reused));
        }
        let marked = self.db().execute(
            "UPDATE tokens SET spent = 1 WHERE hash = ?1 AND spent = 0",
            params![hash(token)],
        )?;
        if marked == 0 {
            // Another request spent it a moment ago: that is reuse too.
            self.revoke_grant(&grant_id)?;
            return Ok(Err(RefreshError::Reused));
        }
        Ok(Ok(self.issue(&grant_id, &scope)?))
    }

    /// What a valid access token stands for.
    pub fn access(&self, token: &Secret) -> Result<Option<Access>, StoreError> {
        let now = Utc::now().timestamp();
        Ok(self
            .db()
            .query_row(
                "SELECT g.id, g.client_name, g.scope, g.resource FROM tokens t JOIN grants g ON g.id = t.grant_id WHERE t.hash = ?1 AND t.kind = 'access' AND t.expires >= ?2 AND g.revoked = 0",
                params![hash(token), now],
                |r| {
                    let scope: String = r.get(2)?;
                    Ok(Access {
                        grant: Grant {
                            id: r.get(0)?,
                            client_name: r.get(1)?,
                            write: scope.split(' ').any(|s| s == SCOPE_WRITE),
                        },
                        resource: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// Notes that the grant made a request.
    pub fn used(&self, grant_id: &str) -> Result<(), StoreError> {
        self.db().execute(
            "UPDATE grants SET calls = calls + 1, last_used = ?2 WHERE id = ?1",
            params![grant_id, Utc::now().timestamp()],
        )?;
        Ok(())
    }

    /// Revokes a token (RFC 7009): an access token alone; a refresh token with its whole
    /// grant. Unknown tokens are no error. Returns the grant whose tokens changed, if any.
    pub fn revoke_token(&self, token: &Secret) -> Result<Option<String>, StoreError> {
        let found: Option<(String, String)> = self
            .db()
            .query_row(
                "SELECT grant_id, kind FROM tokens WHERE hash = ?1",
                params![hash(token)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match found {
            None => Ok(None),
            Some((grant, kind)) if kind == "refresh" => {
                self.revoke_grant(&grant)?;
                Ok(Some(grant))
            }
            Some((grant, _)) => {
                self.db()
                    .execute("DELETE FROM tokens WHERE hash = ?1", params![hash(token)])?;
                Ok(Some(grant))
            }
        }
    }

    /// Revokes a grant and every token of it; false if there was no such live grant.
    pub fn revoke_grant(&self, grant_id: &str) -> Result<bool, StoreError> {
        let db = self.db();
        let changed = db.execute(
            "UPDATE grants SET revoked = 1 WHERE id = ?1 AND revoked = 0",
            params![grant_id],
        )?;
        db.execute("DELETE FROM tokens WHERE grant_id = ?1", params![grant_id])?;
        Ok(changed > 0)
    }

    /// Revokes every grant of `client_id` (or of every client, with `None`); returns the
    /// grants revoked.
    pub fn revoke_client(&self, client_id: Option<&str>) -> Result<Vec<String>, StoreError> {
        let ids: Vec<String> = {
            let db = self.db();
            let mut q = db.prepare(
                "SELECT id FROM grants WHERE revoked = 0 AND (?1 IS NULL OR client_id = ?1)",
            )?;
            let rows = q.query_map(params![client_id], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        for id in &ids {
            self.revoke_grant(id)?;
        }
        Ok(ids)
    }

    /// The live grants, newest first.
    pub fn grants(&self) -> Result<Vec<GrantRow>, StoreError> {
        let db = self.db();
        let mut q = db.prepare(
            "SELECT id, client_id, client_name, client_kind, redirect_host, scope, resource, created, last_used, calls FROM grants WHERE revoked = 0 ORDER BY created DESC, id",
        )?;
        let rows = q.query_map([], |r| {
            Ok(GrantRow {
                id: r.get(0)?,
                client_id: r.get(1)?,
                client_name: r.get(2)?,
                client_kind: r.get(3)?,
                redirect_host: r.get(4)?,
                scope: r.get(5)?,
                resource: r.get(6)?,
                created: rfc3339(r.get(7)?),
                last_used: r.get::<_, Option<i64>>(8)?.map(rfc3339),
                calls: r.get::<_, i64>(9)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        Client {
            id: "client-1".into(),
            kind: "registered".into(),
            name: "Test app".into(),
            redirect_uris: vec!["https://app.example/cb".into()],
            ..Client::default()
        }
    }

    #[test]
    fn tokens_are_kept_as_hashes_and_refresh_tokens_rotate() {
        let store = OAuthStore::in_memory().unwrap();
        store.save_client(&client(), None).unwrap();
        let first = store
            .grant(
                &client(),
                "app.example",
                "coda:read coda:write",
                "https://x/mcp",
            )
            .unwrap();
        let access = store.access(&first.access).unwrap().expect("valid");
        assert!(access.grant.write);
        assert_eq!(access.resource, "https://x/mcp");
        // Nothing stored is a usable token.
        let raw: Vec<Vec<u8>> = {
            let db = store.db();
            let mut q = db.prepare("SELECT hash FROM tokens").unwrap();
            let rows = q.query_map([], |r| r.get(0)).unwrap();
            rows.map(Result::unwrap).collect()
        };
        assert!(raw.iter().all(|h| h.len() == 32
            && !first
                .access
                .expose()
                .as_bytes()
                .windows(8)
                .any(|w| h.windows(8).any(|x| x == w))));
        // A refresh gives a new pair; the old refresh token is spent.
        let second = store.refresh(&first.refresh, "client-1").unwrap().unwrap();
        assert!(store.access(&second.access).unwrap().is_some());
        assert_eq!(
            store
                .refresh(&first.refresh, "another-client")
                .unwrap()
                .unwrap_err(),
            RefreshError::Invalid
        );
        // Reusing the spent one revokes the whole grant.
        assert_eq!(
            store
                .refresh(&first.refresh, "client-1")
                .unwrap()
                .unwrap_err(),
            RefreshError::Reused
        );
        assert!(store.access(&second.access).unwrap().is_none());
        assert!(store.refresh(&second.refresh, "client-1").unwrap().is_err());
        assert!(store.grants().unwrap().is_empty());
    }

    #[test]
    fn revoking_a_refresh_token_ends_its_grant_and_read_grants_cannot_write() {
        let store = OAuthStore::in_memory().unwrap();
        let tokens = store
            .grant(&client(), "app.example", "coda:read", "r")
            .unwrap();
        assert!(!store.access(&tokens.access).unwrap().unwrap().grant.write);
        assert!(store.revoke_token(&tokens.refresh).unwrap().is_some());
        assert!(store.access(&tokens.access).unwrap().is_none());
        assert!(store
            .revoke_token(&Secret::new("cmo_unknown"))
            .unwrap()
            .is_none());
    }

    #[test]
    fn unused_registrations_are_shared_per_network_and_the_flooder_makes_room() {
        let store = OAuthStore::in_memory().unwrap();
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let named = |id: &str| Client {
            id: id.into(),
            ..client()
        };
        // ChatGPT's registration, before the flood (no grant yet).
        store
            .save_client(&named("chatgpt"), ip("198.51.100.7"))
            .unwrap();
        // One network registers far more than its share: only its newest stay.
        for i in 0..50 {
            store
                .save_client(&named(&format!("one-{i}")), ip("192.0.2.1"))
                .unwrap();
        }
        assert!(store.client("one-0").unwrap().is_none());
        assert!(store.client("one-49").unwrap().is_some());
        assert_eq!(store.client_count().unwrap(), 1 + UNUSED_PER_NETWORK);
        // The /64s of one /48 share the /48's allowance.
        for i in 0..300u32 {
            store
                .save_client(
                    &named(&format!("v6-{i}")),
                    ip(&format!("2001:db8:3:{i:x}::1")),
                )
                .unwrap();
        }
        // Many networks fill the store: each new one pushes out the biggest holder's oldest.
        for n in 0..=255u8 {
            for i in 0..10 {
                store
                    .save_client(
                        &named(&format!("flood-{n}-{i}")),
                        ip(&format!("10.9.{n}.1")),
                    )
                    .unwrap();
            }
        }
        assert!(store.client_count().unwrap() <= MAX_CLIENTS);
        assert!(
            store.client("chatgpt").unwrap().is_some(),
            "a network's single registration is never what makes room"
        );
        // A client with a grant is never dropped.
        let granted = named("granted");
        store.save_client(&granted, ip("192.0.2.99")).unwrap();
        store
            .grant(&granted, "app.example", "coda:read", "r")
            .unwrap();
        for i in 0..40 {
            store
                .save_client(&named(&format!("more-{i}")), ip("192.0.2.99"))
                .unwrap();
        }
        assert!(store.client("granted").unwrap().is_some());
    }

    #[test]
    fn a_grant_keeps_a_bounded_number_of_token_rows_however_often_it_refreshes() {
        let store = OAuthStore::in_memory().unwrap();
        let mut tokens = store
            .grant(&client(), "app.example", "coda:read", "r")
            .unwrap();
        let first_refresh = tokens.refresh.clone();
        for _ in 0..200 {
            tokens = store.refresh(&tokens.refresh, "client-1").unwrap().unwrap();
        }
        assert!(
            store.token_count().unwrap() <= ACCESS_PER_GRANT + 1 + SPENT_PER_GRANT,
            "{} rows",
            store.token_count().unwrap()
        );
        assert!(store.access(&tokens.access).unwrap().is_some());
        // A long-spent token is no longer known: refused, and the grant lives on.
        assert_eq!(
            store
                .refresh(&first_refresh, "client-1")
                .unwrap()
                .unwrap_err(),
            RefreshError::Invalid
        );
        assert!(store.access(&tokens.access).unwrap().is_some());
    }

    #[test]
    fn an_old_database_is_migrated() {
        let dir = std::env::temp_dir().join(format!("coda-mcp-oauth-{}", uuid::Uuid::new_v4()));
        crate::private::create_dir(&dir).unwrap();
        let path = dir.join("oauth.sqlite3");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(SCHEMA).unwrap();
            conn.execute(
                "INSERT INTO clients (id, kind, name, redirect_uris, created) VALUES ('old', 'registered', 'Old', '[\"https://a.example/cb\"]', CAST(strftime('%s','now') AS INTEGER))",
                [],
            )
            .unwrap();
        }
        let store = OAuthStore::open(&path).unwrap();
        let old = store.client("old").unwrap().expect("kept");
        assert_eq!(old.network, "");
        drop(store);
        let again = OAuthStore::open(&path).expect("migrations apply once");
        assert!(again.client("old").unwrap().is_some());
        drop(again);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
