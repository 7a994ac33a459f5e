//! Fair use, in front of every authenticated route: a token bucket per client so one runaway
//! client cannot starve the others or burn the shared Coda quota. The client is the
//! authenticated caller at its address — never a header the client picks: an
//! `Mcp-Session-Id` gets its own bucket only when the server issued it to this caller. The
//! bucket map is bounded. (Whose sessions are whose, and the session cap, are
//! `session_gate`'s.)

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::jsonrpc::jsonrpc_error;
use super::session_gate::principal_of;
use super::sessions::Lookup;
use super::AppState;

/// Most rate buckets kept at once; beyond it, idle (full) buckets go first, then the least
/// recently used.
const MAX_BUCKETS: usize = 10_000;

/// A bucket: `tokens` left, refilled at `rate` per second up to `burst`.
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Per-client rate buckets.
#[derive(Clone, Default)]
pub struct ClientLimiter {
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
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

/// Rate-limits each client: an `Mcp-Session-Id` the server issued to this caller is a client
/// of its own (the session layer in front looked it up); anything else is the caller at its
/// network.
pub async fn check(
    State((state, limiter)): State<(AppState, ClientLimiter)>,
    req: Request,
    next: Next,
) -> Response {
    let Some((rate, burst)) = state.engine.config().client_rate else {
        return next.run(req).await;
    };
    let is_mcp = req.uri().path() == "/mcp";
    // A name the client chose (the direct-call flow's step 4) is limited as its caller.
    let issued = match req.extensions().get::<Lookup>() {
        Some(
            Lookup::Mcp
            | Lookup::Direct {
                server_issued: true,
            },
        ) => req
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .filter(|_| is_mcp),
        _ => None,
    };
    let client = match issued {
        Some(id) => format!("s:{id}"),
        None => {
            let principal = principal_of(&req);
            let network = req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| super::conn::client_network(c.0.ip()).to_string())
                .unwrap_or_default();
            format!("c:{}@{network}", principal.label())
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
            super::answer::error(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
        };
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(wait.ceil().max(1.0) as u64),
        );
        return resp;
    }
    next.run(req).await
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
