//! Fair use: a token bucket per client (its MCP session, else its address) so one runaway
//! client cannot starve the others or burn the shared Coda quota, and a cap on sessions.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::guard::jsonrpc_error;
use super::AppState;

/// A bucket: `tokens` left, refilled at `rate` per second up to `burst`.
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Per-client buckets.
#[derive(Clone, Default)]
pub struct ClientLimiter {
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
}

impl ClientLimiter {
    /// Takes one token for `client`; `Err(seconds)` to wait when empty.
    fn take(&self, client: &str, rate: f64, burst: f64) -> Result<(), f64> {
        let mut buckets = self.buckets.lock().expect("buckets");
        if buckets.len() > 20_000 {
            buckets.retain(|_, b| b.at.elapsed().as_secs() < 600);
        }
        let now = Instant::now();
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
}

/// Rate-limits each client and refuses new sessions beyond the cap.
pub async fn check(
    State((state, limiter)): State<(AppState, ClientLimiter)>,
    req: Request,
    next: Next,
) -> Response {
    let config = state.engine.config();
    let session = req
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some((rate, burst)) = config.client_rate {
        let client = session.clone().unwrap_or_else(|| {
            req.extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string())
                .unwrap_or_default()
        });
        if let Err(wait) = limiter.take(&client, rate, burst) {
            let message = format!("Too many requests from this client (limit {rate}/s); slow down");
            let mut resp = if req.uri().path() == "/mcp" {
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
    let opens_session =
        req.method() == Method::POST && req.uri().path() == "/mcp" && session.is_none();
    if opens_session && state.session_count().await >= config.max_sessions {
        return jsonrpc_error(StatusCode::SERVICE_UNAVAILABLE, serde_json::Value::Null, -32000,
            format!("The server already has {} sessions, its maximum; close idle sessions or try again later", config.max_sessions))
            .into_response();
    }
    next.run(req).await
}
