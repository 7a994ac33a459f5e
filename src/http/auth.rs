//! Who may use the server. Every `/mcp` request carries `Authorization: Bearer <key>`: the
//! connection key (the owner), or — when pass-through is on — a Coda API token that Coda
//! accepts (that caller's own workspace). Failed attempts are rate-limited per client address
//! so the server is no oracle for guessing tokens — but the connection key is always accepted,
//! so a stranger's failed guesses never lock the owner out. `--no-auth` lifts the requirement
//! on the loopback listener only, and only for requests that do not name the public host:
//! the public face (the tunnel, or a reverse proxy forwarding the public host to loopback)
//! always authenticates.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::coda::{CodaError, CodaRequest, Secret};
use crate::engine::Engine;

/// Who is calling, attached to each authenticated request for the tools to use.
#[derive(Clone, Debug)]
pub enum Caller {
    /// The owner (connection key, or `--no-auth` on loopback): the server's own Coda token.
    Owner,
    /// A caller who brought their own Coda token (pass-through).
    CodaToken(Secret),
}

impl Caller {
    /// Who this caller is for session ownership and fair use: the owner, or one pass-through
    /// caller (by the SHA-256 of their token; the token itself is not kept for this).
    pub(crate) fn principal(&self) -> Principal {
        match self {
            Caller::Owner => Principal::Owner,
            Caller::CodaToken(token) => {
                Principal::Token(Sha256::digest(token.expose().as_bytes()).into())
            }
        }
    }
}

/// The identity a session is bound to and a rate bucket is keyed by. Sessions created by one
/// principal are invisible to every other (404), so a pass-through caller can never read or
/// end the owner's sessions, or another person's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Principal {
    /// The connection key (or `--no-auth` on loopback).
    Owner,
    /// A pass-through caller, by the SHA-256 of their Coda token.
    Token([u8; 32]),
}

impl Principal {
    /// A short, non-secret label for bucket keys (a prefix of the token's hash, never the token).
    pub(crate) fn label(&self) -> String {
        match self {
            Principal::Owner => "owner".into(),
            Principal::Token(d) => d[..12].iter().map(|b| format!("{b:02x}")).collect(),
        }
    }
}

/// Failed attempts allowed per client address per window before it is locked out.
const MAX_FAILURES: usize = 10;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// How long a Coda verdict on a pass-through token is trusted.
const VALID_TTL: Duration = Duration::from_secs(600);
const INVALID_TTL: Duration = Duration::from_secs(60);

/// Coda's verdict on a pass-through token (by its SHA-256) and when it was given.
type Verdicts = HashMap<[u8; 32], (bool, Instant)>;

/// The authentication layer's state; one per listener face.
#[derive(Clone)]
pub struct Auth {
    engine: Engine,
    /// False on the public face whatever `--no-auth` says.
    allow_no_auth: bool,
    failures: Arc<Mutex<HashMap<IpAddr, VecDeque<Instant>>>>,
    verdicts: Arc<Mutex<Verdicts>>,
}

impl Auth {
    /// The layer for the loopback listener (`public == false`) or the tunnel (`true`).
    pub fn new(engine: Engine, public: bool) -> Self {
        Auth {
            engine,
            allow_no_auth: !public,
            failures: Default::default(),
            verdicts: Default::default(),
        }
    }

    fn locked_out(&self, ip: IpAddr) -> Option<Duration> {
        let mut failures = self.failures.lock().expect("failures");
        let list = failures.get_mut(&ip)?;
        let now = Instant::now();
        while list
            .front()
            .is_some_and(|t| now.duration_since(*t) > FAILURE_WINDOW)
        {
            list.pop_front();
        }
        (list.len() >= MAX_FAILURES).then(|| {
            FAILURE_WINDOW.saturating_sub(now.duration_since(*list.front().expect("full")))
        })
    }

    fn record_failure(&self, ip: IpAddr) {
        let mut failures = self.failures.lock().expect("failures");
        if failures.len() > 10_000 {
            failures.retain(|_, l| l.back().is_some_and(|t| t.elapsed() < FAILURE_WINDOW));
        }
        failures.entry(ip).or_default().push_back(Instant::now());
    }

    /// Asks Coda (once per TTL) whether `token` is a valid Coda token.
    async fn coda_accepts(&self, token: &Secret) -> Result<bool, CodaError> {
        let digest: [u8; 32] = Sha256::digest(token.expose().as_bytes()).into();
        if let Some((valid, at)) = self
            .verdicts
            .lock()
            .expect("verdicts")
            .get(&digest)
            .copied()
        {
            if at.elapsed() < if valid { VALID_TTL } else { INVALID_TTL } {
                return Ok(valid);
            }
        }
        let client = self.engine.coda_for_token(token);
        let valid = match client.send(&CodaRequest::get("/whoami")).await {
            Ok(_) => true,
            Err(e) if matches!(e.status(), Some(401 | 403)) => false,
            Err(e) => return Err(e),
        };
        let mut verdicts = self.verdicts.lock().expect("verdicts");
        if verdicts.len() > 10_000 {
            verdicts.clear();
        }
        verdicts.insert(digest, (valid, Instant::now()));
        Ok(valid)
    }
}

/// Compares secrets without an early exit, so timing reveals nothing but the length.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn unauthorized(message: &str) -> Response {
    let mut resp = (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "unauthorized", "message": message})),
    )
        .into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"coda-mcp\""),
    );
    resp
}

fn client_ip(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

/// The 429 a locked-out address gets: no credential from it is checked until the window passes.
fn locked_out_response(wait: Duration) -> Response {
    let mut resp = (StatusCode::TOO_MANY_REQUESTS, Json(json!({"error": "too_many_failed_attempts",
        "message": "Too many failed authentication attempts from this address; wait and try again with a valid key"}))).into_response();
    resp.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(wait.as_secs().max(1)),
    );
    resp
}

/// The middleware. Order matters: the connection key is compared first (constant time) and
/// always accepted, so failed guesses from an address never lock out the owner's key; only
/// then does a lockout stop the address, before any pass-through token is sent to Coda's
/// `/whoami` (the oracle the lockout protects).
pub async fn check(State(auth): State<Auth>, mut req: Request, next: Next) -> Response {
    let config = auth.engine.config();
    // A request naming the public host came through the public face (tunnel or reverse
    // proxy), even when it reached the loopback listener: it always authenticates.
    let public_host = req
        .extensions()
        .get::<super::origin::PublicHost>()
        .is_some();
    if auth.allow_no_auth && config.no_auth && !public_host {
        req.extensions_mut().insert(Caller::Owner);
        return next.run(req).await;
    }
    let ip = client_ip(&req);
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    let Some(bearer) = bearer else {
        return unauthorized("Missing credentials: send 'Authorization: Bearer <connection key>' (see `coda-mcp key show`)");
    };
    if same_secret(&bearer, auth.engine.connection_key().expose()) {
        req.extensions_mut().insert(Caller::Owner);
        return next.run(req).await;
    }
    if let Some(wait) = auth.locked_out(ip) {
        return locked_out_response(wait);
    }
    let public = !auth.allow_no_auth || public_host;
    if public && config.pass_through && !config.pass_through_public {
        auth.record_failure(ip);
        return unauthorized("Invalid credentials: this server accepts only its connection key through its public URL (Coda tokens are accepted on this machine only; the desktop app's Settings can allow them through the tunnel)");
    }
    if !config.pass_through || bearer.starts_with("cmk_") {
        auth.record_failure(ip);
        return unauthorized(
            "Invalid credentials: the bearer token is not this server's connection key",
        );
    }
    let token = Secret::new(bearer);
    match auth.coda_accepts(&token).await {
        Ok(true) => {
            req.extensions_mut().insert(Caller::CodaToken(token));
            next.run(req).await
        }
        Ok(false) => {
            auth.record_failure(ip);
            unauthorized("Invalid credentials: neither this server's connection key nor a Coda API token that Coda accepts")
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "cannot_verify",
            "message": format!("Could not check the token with Coda right now: {e}")})),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_comparison() {
        assert!(same_secret("cmk_abc", "cmk_abc"));
        assert!(!same_secret("cmk_abc", "cmk_abd"));
        assert!(!same_secret("cmk_abc", "cmk_ab"));
    }
}
