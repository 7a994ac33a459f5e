//! What OAuth keeps across restarts, in SQLite beside the audit history: registered clients,
//! the grants the owner approved, and their tokens — as SHA-256 hashes only, so the database
//! never holds a usable token. Access tokens live an hour; refresh tokens 30 days and are
//! single-use: each refresh returns a new one, and presenting a spent one (a stolen copy
//! racing its owner) revokes the whole grant.

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
/// Most registered clients kept; beyond it, registrations that never got a grant go first.
pub const MAX_CLIENTS: usize = 1_000;
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// Its `client_id` (issued, or the metadata document's URL).
    pub id: String,
    /// `registered` or `metadata document`.
    pub kind: String,
    /// The name it gave.
    pub name: String,
    /// The redirect URIs it may use, exactly.
    pub redirect_uris: Vec<String>,
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

    /// Keeps a client: a new registration, or a metadata document's latest contents.
    pub fn save_client(&self, client: &Client) -> Result<(), StoreError> {
        let db = self.db();
        let known: bool = db
            .query_row(
                "SELECT 1 FROM clients WHERE id = ?1",
                params![client.id],
                |_| Ok(true),
            )
            .optional()?
            .unwrap_or(false);
        if !known {
            let count: i64 = db.query_row("SELECT COUNT(*) FROM clients", [], |r| r.get(0))?;
            if count as usize >= MAX_CLIENTS {
                // Make room: the oldest registration that never got a grant.
                let freed = db.execute(
                    "DELETE FROM clients WHERE id = (SELECT id FROM clients WHERE id NOT IN (SELECT client_id FROM grants WHERE revoked = 0) ORDER BY created LIMIT 1)",
                    [],
                )?;
                if freed == 0 {
                    return Err(StoreError::Full);
                }
            }
        }
        db.execute(
            "INSERT OR REPLACE INTO clients (id, kind, name, redirect_uris, created) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                client.id,
                client.kind,
                client.name,
                serde_json::to_string(&client.redirect_uris).expect("JSON"),
                Utc::now().timestamp()
            ],
        )?;
        Ok(())
    }

    /// The client `id`, if known.
    pub fn client(&self, id: &str) -> Result<Option<Client>, StoreError> {
        let db = self.db();
        Ok(db
            .query_row(
                "SELECT id, kind, name, redirect_uris FROM clients WHERE id = ?1",
                params![id],
                |r| {
                    let uris: String = r.get(3)?;
                    Ok(Client {
                        id: r.get(0)?,
                        kind: r.get(1)?,
                        name: r.get(2)?,
                        redirect_uris: serde_json::from_str(&uris).unwrap_or_default(),
                    })
                },
            )
            .optional()?)
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
        }
    }

    #[test]
    fn tokens_are_kept_as_hashes_and_refresh_tokens_rotate() {
        let store = OAuthStore::in_memory().unwrap();
        store.save_client(&client()).unwrap();
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
    fn registrations_are_capped_and_unused_ones_make_room() {
        let store = OAuthStore::in_memory().unwrap();
        for i in 0..MAX_CLIENTS {
            let mut c = client();
            c.id = format!("c{i}");
            store.save_client(&c).unwrap();
        }
        let mut newest = client();
        newest.id = "newest".into();
        store.save_client(&newest).unwrap();
        assert!(store.client("newest").unwrap().is_some());
        assert!(
            store.client("c0").unwrap().is_none(),
            "the oldest unused one went"
        );
    }
}
