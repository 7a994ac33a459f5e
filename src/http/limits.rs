//! Fair use and session ownership, in front of every authenticated route.
//!
//! - A token bucket per client so one runaway client cannot starve the others or burn the
//!   shared Coda quota. The client is the authenticated caller at its address — never a
//!   header the client picks: an `Mcp-Session-Id` gets its own bucket only when the server
//!   issued it to this caller. The bucket map is bounded.
//! - A cap on sessions (503 beyond it), counting standard MCP and direct-call sessions.
//! - Ownership: each standard MCP session is bound to the caller that created it (the
//!   owner, or one pass-through token); anyone else naming it gets the same 404 as for an
//!   unknown session, so its existence is not revealed. Direct-call sessions keep their owner
//!   themselves (`direct.rs`) and are checked here the same way.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::Principal;
use super::guard::jsonrpc_error;
use super::{AppState, Caller};

/// Most rate buckets kept at once; beyond it, idle (full) buckets go first, then the least
/// recently used.
const MAX_BUCKETS: usize = 10_000;

/// Owners kept beyond the live sessions before stale entries are swept.
const OWNER_SLACK: usize = 256;

/// A bucket: `tokens` left, refilled at `rate` per second up to `burst`.
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Per-client buckets and the owner of each standard MCP session.
#[derive(Clone, Default)]
pub struct ClientLimiter {
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
    owners: Arc<Mutex<HashMap<Arc<str>, Principal>>>,
}

impl ClientLimiter {
    /// Takes one token for `client`; `Err(seconds)` to wait when empty.
    fn take(&self, client: &str, rate: f64, burst: f64) -> Result<(), f64> {
        let mut buckets = self.buckets.lock().expect("buckets");
        let now = Instant::now();
        if !buckets.contains_key(client) && buckets.len() >= MAX_BUCKETS {
            evict(&mut buckets, now, rate, burst);
        }
        let b = buckets.entry(client.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err((1.0 - b.tokens) / rate)
        }
    }

    /// Number of buckets held (for tests of the bound).
    #[cfg(test)]
    fn buckets(&self) -> usize {
        self.buckets.lock().expect("buckets").len()
    }

    /// The owner recorded for a standard MCP session.
    fn owner(&self, session: &str) -> Option<Principal> {
        self.owners.lock().expect("owners").get(session).copied()
    }

    /// Binds a new standard MCP session to its creator; forgets sessions that ended once the
    /// map outgrows the live ones.
    async fn bind(&self, state: &AppState, session: &str, principal: Principal) {
        let len = {
            let mut owners = self.owners.lock().expect("owners");
            owners.insert(Arc::from(session), principal);
            owners.len()
        };
        let live = state.sessions.sessions.read().await;
        if len > live.len() + OWNER_SLACK {
            self.owners
                .lock()
                .expect("owners")
                .retain(|id, _| live.contains_key(id));
        }
    }
}

/// Makes room for one bucket: drops every bucket that has refilled completely (forgetting it
/// loses nothing), and if none has, the least recently used tenth.
fn evict(buckets: &mut HashMap<String, Bucket>, now: Instant, rate: f64, burst: f64) {
    buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
    if buckets.len() < MAX_BUCKETS {
        return;
    }
    let mut ages: Vec<Instant> = buckets.values().map(|b| b.at).collect();
    let cut = ages.len() / 10;
    ages.select_nth_unstable(cut);
    let oldest = ages[cut];
    buckets.retain(|_, b| b.at > oldest);
}

/// What a client is told about a session that does not exist for it.
pub(super) const SESSION_NOT_FOUND: &str = "Session not found (unknown or expired): start a new session by sending the request without an Mcp-Session-Id header";

/// The 404 for a session that does not exist for this caller — the same answer whether it
/// never existed, expired, or belongs to someone else.
pub(super) fn session_not_found() -> Response {
    jsonrpc_error(
        StatusCode::NOT_FOUND,
        serde_json::Value::Null,
        -32001,
        SESSION_NOT_FOUND,
    )
}

/// Rate-limits each client, refuses new sessions beyond the cap, and keeps each session to
/// the caller that created it.
pub async fn check(
    State((state, limiter)): State<(AppState, ClientLimiter)>,
    req: Request,
    next: Next,
) -> Response {
    let config = state.engine.config();
    let principal = req
        .extensions()
        .get::<Caller>()
        .map(Caller::principal)
        .unwrap_or(Principal::Owner);
    let is_mcp = req.uri().path() == "/mcp";
    let session = req
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .filter(|_| is_mcp)
        .map(str::to_owned);
    // Which session the header names, if the server issued it to this caller.
    let mut issued = None;
    if let Some(id) = &session {
        let owner = match state.direct.owner(id) {
            Some(owner) => Some(Some(owner)),
            None if state
                .sessions
                .sessions
                .read()
                .await
                .contains_key(&Arc::<str>::from(id.as_str())) =>
            {
                Some(limiter.owner(id))
            }
            // Unknown: rmcp and the direct flow answer 404 themselves.
            None => None,
        };
        match owner {
            // A session the client named itself (the seed's flow) is limited as its caller.
            Some(Some(owner))
                if owner == principal
                    && (state.direct.owner(id).is_none() || state.direct.server_issued(id)) =>
            {
                issued = Some(id.clone())
            }
            Some(Some(owner)) if owner == principal => {}
            Some(_) => return session_not_found(),
            None => {}
        }
    }
    if let Some((rate, burst)) = config.client_rate {
        let client = match &issued {
            Some(id) => format!("s:{id}"),
            None => {
                let ip = req
                    .extensions()
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0.ip().to_string())
                    .unwrap_or_default();
                format!("c:{}@{ip}", principal.label())
            }
        };
        if let Err(wait) = limiter.take(&client, rate, burst) {
            let message = format!("Too many requests from this client (limit {rate}/s); slow down");
            let mut resp = if is_mcp {
                jsonrpc_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    serde_json::Value::Null,
                    -32000,
                    message,
                )
            } else {
                super::actions::error(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
            };
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(wait.ceil().max(1.0) as u64),
            );
            return resp;
        }
    }
    let opens_session = req.method() == Method::POST && is_mcp && session.is_none();
    if opens_session && state.session_count().await >= config.max_sessions {
        return too_many_sessions(config.max_sessions);
    }
    let response = next.run(req).await;
    if opens_session && response.status().is_success() {
        let created = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok());
        // Direct-call sessions keep their owner themselves.
        if let Some(id) = created.filter(|id| state.direct.owner(id).is_none()) {
            limiter.bind(&state, id, principal).await;
        }
    }
    response
}

/// The 503 beyond `--max-sessions`.
pub(super) fn too_many_sessions(max: usize) -> Response {
    jsonrpc_error(
        StatusCode::SERVICE_UNAVAILABLE,
        serde_json::Value::Null,
        -32000,
        format!("The server already has {max} sessions, its maximum; close idle sessions or try again later"),
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_map_stays_bounded() {
        let limiter = ClientLimiter::default();
        for i in 0..(MAX_BUCKETS + 5_000) {
            // A slow refill keeps every bucket "in use", the worst case for eviction.
            let _ = limiter.take(&format!("c:{i}"), 0.001, 2.0);
        }
        assert!(
            limiter.buckets() <= MAX_BUCKETS,
            "{} buckets",
            limiter.buckets()
        );
        // A bucket in use keeps its state while there is room.
        let _ = limiter.take("busy", 1.0, 1.0);
        assert!(limiter.take("busy", 1.0, 1.0).is_err());
    }
}
