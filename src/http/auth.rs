//! Who may use the server. Every `/mcp` request carries `Authorization: Bearer <key>`: the
//! connection key (the owner), or — when pass-through is on — a Coda API token that Coda
//! accepts (that caller's own workspace). Failed attempts are rate-limited per client address
//! so the server is no oracle for guessing tokens — but the connection key is always accepted,
//! so a stranger's failed guesses never lock the owner out. `--no-auth` lifts the requirement
//! on the loopback listener only, and only for requests that do not name the public host:
//! the public face (the tunnel, or a reverse proxy forwarding the public host to loopback)
//! always authenticates.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::answer::error;
use crate::coda::{CodaError, CodaRequest, Secret};
use crate::engine::Engine;
use crate::netshare::{Limit, WindowCounts};

use crate::caller::Caller;

/// Failed attempts allowed per client network (an IPv4 address, an IPv6 /64; five times as
/// many for an IPv6 /48) per minute before it is locked out.
const FAILURES: Limit = Limit::per(10, Duration::from_secs(60));
/// Client networks whose failures are remembered (the least recently failing go first).
const FAILURE_TABLE: usize = 10_000;
/// How long a Coda verdict on a pass-through token is trusted, and how many are kept.
const VALID_TTL: Duration = Duration::from_secs(600);
const INVALID_TTL: Duration = Duration::from_secs(60);
const VERDICTS: usize = 10_000;
/// New tokens checked with Coda's `/whoami` per minute, from everyone together: however many
/// addresses a guesser has, the server asks Coda about at most this many tokens.
const WHOAMI_PER_MINUTE: f64 = 60.0;

/// What authentication remembers across requests, shared by both faces: failures per client
/// network, Coda's verdicts on tokens, and the budget of `/whoami` checks.
struct Memory {
    failures: WindowCounts,
    verdicts: Mutex<lru::LruCache<[u8; 32], (bool, Instant)>>,
    /// Checks left in the budget and when it was last refilled.
    whoami: Mutex<(f64, Instant)>,
}

/// The authentication layer's state for one face (the memory is shared by both).
#[derive(Clone)]
pub struct Auth {
    engine: Engine,
    /// False on the public face whatever `--no-auth` says.
    allow_no_auth: bool,
    memory: Arc<Memory>,
}

fn bounded<K: std::hash::Hash + Eq, V>(n: usize) -> Mutex<lru::LruCache<K, V>> {
    Mutex::new(lru::LruCache::new(
        std::num::NonZeroUsize::new(n).expect("non-zero"),
    ))
}

impl Auth {
    /// The layers for the loopback listener and the tunnel, sharing one memory.
    pub fn faces(engine: Engine) -> (Auth, Auth) {
        let memory = Arc::new(Memory {
            failures: WindowCounts::new(FAILURES, FAILURE_TABLE),
            verdicts: bounded(VERDICTS),
            whoami: Mutex::new((WHOAMI_PER_MINUTE, Instant::now())),
        });
        let face = |public: bool| Auth {
            engine: engine.clone(),
            allow_no_auth: !public,
            memory: memory.clone(),
        };
        (face(false), face(true))
    }

    fn locked_out(&self, ip: IpAddr) -> Option<Duration> {
        self.memory.failures.check(ip).err()
    }

    fn record_failure(&self, ip: IpAddr) {
        self.memory.failures.record(ip);
    }

    /// Checks a connection key typed on the OAuth consent page: the key is always accepted (so
    /// nobody can lock the owner out), a wrong one counts toward the lockout like a bad
    /// bearer on `/mcp`.
    pub(super) fn check_key(&self, ip: IpAddr, presented: &str) -> KeyVerdict {
        if !presented.is_empty() && self.engine.connection_key().matches(presented) {
            return KeyVerdict::Owner;
        }
        if let Some(wait) = self.locked_out(ip) {
            return KeyVerdict::LockedOut(wait);
        }
        self.record_failure(ip);
        KeyVerdict::Wrong
    }

    /// Takes one check from the `/whoami` budget; `Err(wait)` when it is spent.
    fn whoami_budget(&self) -> Result<(), Duration> {
        let mut budget = self.memory.whoami.lock().expect("whoami budget");
        let now = Instant::now();
        let refill = now.duration_since(budget.1).as_secs_f64() * WHOAMI_PER_MINUTE / 60.0;
        *budget = ((budget.0 + refill).min(WHOAMI_PER_MINUTE), now);
        if budget.0 >= 1.0 {
            budget.0 -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - budget.0) * 60.0 / WHOAMI_PER_MINUTE,
            ))
        }
    }

    /// Asks Coda (once per TTL, within the budget) whether `token` is a valid Coda token.
    async fn coda_accepts(&self, token: &Secret) -> Result<Verdict, CodaError> {
        let digest = token.digest();
        let cached = self
            .memory
            .verdicts
            .lock()
            .expect("verdicts")
            .get(&digest)
            .copied();
        if let Some((valid, at)) = cached {
            if at.elapsed() < if valid { VALID_TTL } else { INVALID_TTL } {
                return Ok(Verdict::Known(valid));
            }
        }
        if let Err(wait) = self.whoami_budget() {
            return Ok(Verdict::Unchecked(wait));
        }
        // A client of its own for the check: only a token Coda accepts gets a kept client
        // (and pacer), so a flood of made-up tokens never displaces real callers'.
        let client = self.engine.coda().with_token(token.clone());
        let valid = match client.send(&CodaRequest::get("/whoami")).await {
            Ok(_) => true,
            Err(e) if matches!(e.status(), Some(401 | 403)) => false,
            Err(e) => return Err(e),
        };
        self.memory
            .verdicts
            .lock()
            .expect("verdicts")
            .put(digest, (valid, Instant::now()));
        Ok(Verdict::Known(valid))
    }
}

/// What is known of a pass-through token.
enum Verdict {
    /// Coda said (now or within the TTL).
    Known(bool),
    /// Not checked: the `/whoami` budget is spent for this long.
    Unchecked(Duration),
}

/// The 401: a JSON body saying what is missing, and a `WWW-Authenticate` that tells an OAuth
/// client where to start (RFC 9728: the protected resource's metadata).
fn unauthorized(resource_metadata: &str, message: &str) -> Response {
    let mut resp = error(StatusCode::UNAUTHORIZED, "unauthorized", message);
    let challenge = format!(
        "Bearer realm=\"coda-mcp\", resource_metadata=\"{resource_metadata}\", scope=\"{} {}\"",
        crate::caller::SCOPE_READ,
        crate::caller::SCOPE_WRITE
    );
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// What the consent page's connection key turned out to be.
pub(super) enum KeyVerdict {
    /// The owner's key.
    Owner,
    /// Not the key (counted toward the address's lockout).
    Wrong,
    /// The address is locked out for this long; the key was not compared.
    LockedOut(Duration),
}

fn client_ip(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

/// The 429 a locked-out address gets: no credential from it is checked until the window passes.
fn locked_out_response(wait: Duration) -> Response {
    let mut resp = error(StatusCode::TOO_MANY_REQUESTS, "too_many_failed_attempts", "Too many failed authentication attempts from this address; wait and try again with a valid key");
    resp.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(wait.as_secs().max(1)),
    );
    resp
}

/// Whether the request's body is declared as JSON (`application/json`, or `application/…+json`).
/// Browsers send other types (`text/plain`, forms, none) from any page without asking the
/// server first; JSON needs a CORS preflight, which this server never grants.
fn declares_json(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| {
            v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
        })
}

/// The refusal of a POST whose body is not declared as JSON.
fn not_json(mcp: bool) -> Response {
    let message = "Content-Type must be application/json";
    if mcp {
        super::jsonrpc::jsonrpc_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            serde_json::Value::Null,
            -32600,
            format!("Invalid Request: {message}"),
        )
    } else {
        super::answer::error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }
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
    // Local pages cannot drive the server: a body must be declared JSON (so a browser asks
    // first, and is refused), decided before anything else.
    if req.method() == axum::http::Method::POST && !declares_json(&req) {
        return not_json(req.uri().path() == "/mcp");
    }
    // A request this process made as a known caller (an outbound tunnel's command).
    if let Some(super::conn::Trusted(caller)) = req.extensions().get().cloned() {
        req.extensions_mut().insert(caller);
        return next.run(req).await;
    }
    if auth.allow_no_auth && config.no_auth && !public_host {
        // Without a key, a page in the person's browser is the one caller to keep out: an
        // `Origin`, when sent, must be this server's own.
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !origin
                .to_str()
                .is_ok_and(|o| super::origin::same_origin(o, host))
            {
                return error(StatusCode::FORBIDDEN, "forbidden", "Without authentication (--no-auth) only requests from this server's own origin (or with no Origin, as local tools send) are accepted");
            }
        }
        req.extensions_mut().insert(Caller::Owner);
        return next.run(req).await;
    }
    let ip = client_ip(&req);
    // Where an OAuth client starts (in every 401), and the resource its tokens must be for.
    let base = super::resource::base_url(
        &auth.engine,
        req.headers(),
        public_host || !auth.allow_no_auth,
    );
    let metadata = super::resource::resource_metadata_url(&base);
    let unauthorized = |message: &str| unauthorized(&metadata, message);
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
        let find = auth.engine.config().key_source.where_to_find();
        // Sent, but not as a bearer: say so (never echoing what was sent).
        let sent = req.headers().contains_key(header::AUTHORIZATION);
        let what = if sent {
            "The Authorization header must be 'Bearer <connection key>' (it has no 'Bearer ')"
        } else {
            "Missing credentials: send 'Authorization: Bearer <connection key>'"
        };
        return unauthorized(&format!(
            "{what} ({find}), or connect through OAuth (this answer's WWW-Authenticate says where)"
        ));
    };
    if auth.engine.connection_key().matches(&bearer) {
        req.extensions_mut().insert(Caller::Owner);
        return next.run(req).await;
    }
    // An app the owner approved: its access token, for this very resource. A token known to
    // be valid a moment ago goes on at once (someone else's guesses never lock it out); any
    // other bearer, of whatever shape, meets the lockout before the database is asked.
    let oauth_token = bearer
        .starts_with("cmo_")
        .then(|| Secret::new(bearer.clone()));
    let recent = oauth_token
        .as_ref()
        .and_then(|t| auth.engine.oauth().recently_valid(t));
    if recent.is_none() {
        if let Some(wait) = auth.locked_out(ip) {
            return locked_out_response(wait);
        }
    }
    if let Some(token) = oauth_token {
        return match recent.or_else(|| auth.engine.oauth().access(&token)) {
            Some(access)
                if super::resource::same_resource(&access.resource, &format!("{base}/mcp")) =>
            {
                req.extensions_mut().insert(Caller::Grant(access.grant));
                next.run(req).await
            }
            Some(_) => {
                auth.record_failure(ip);
                unauthorized("Invalid token: it was issued for another resource (the server's other face or an earlier public URL); connect the app again")
            }
            None => {
                auth.record_failure(ip);
                unauthorized("Invalid token: unknown, expired or revoked; the app should refresh it or connect again")
            }
        };
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
        Ok(Verdict::Known(true)) => {
            req.extensions_mut().insert(Caller::CodaToken(token));
            next.run(req).await
        }
        Ok(Verdict::Unchecked(wait)) => {
            let mut resp = error(StatusCode::SERVICE_UNAVAILABLE, "cannot_verify", "Too many new tokens to check with Coda right now; try again shortly (the connection key is always accepted)");
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(wait.as_secs().max(1)),
            );
            resp
        }
        Ok(Verdict::Known(false)) => {
            auth.record_failure(ip);
            unauthorized("Invalid credentials: neither this server's connection key nor a Coda API token that Coda accepts")
        }
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "cannot_verify",
            format!("Could not check the token with Coda right now: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        let engine = Engine::new(crate::EngineConfig::default()).expect("engine");
        Auth::faces(engine).0
    }

    #[tokio::test]
    async fn an_ipv6_64_is_one_client_for_the_lockout() {
        let auth = auth();
        for i in 0..FAILURES.per_network {
            auth.record_failure(format!("2001:db8:7:7::{i:x}").parse().unwrap());
        }
        assert!(auth
            .locked_out("2001:db8:7:7:ffff::1".parse().unwrap())
            .is_some());
        assert!(auth
            .locked_out("2001:db8:7:8::1".parse().unwrap())
            .is_none());
        assert!(auth.locked_out("192.0.2.1".parse().unwrap()).is_none());
    }

    #[tokio::test]
    async fn the_whoami_budget_is_shared_and_spent() {
        let (local, public) = Auth::faces(Engine::new(crate::EngineConfig::default()).unwrap());
        for _ in 0..(WHOAMI_PER_MINUTE as usize) {
            local.whoami_budget().expect("within the budget");
        }
        let wait = public.whoami_budget().expect_err("spent, on both faces");
        assert!(wait <= Duration::from_secs(2), "{wait:?}");
    }

    #[tokio::test]
    async fn the_failure_table_stays_bounded() {
        let auth = auth();
        for i in 0..(FAILURE_TABLE + 500) as u32 {
            auth.record_failure(std::net::Ipv4Addr::from(i).into());
        }
        assert_eq!(auth.memory.failures.remembered(), FAILURE_TABLE);
    }

    #[test]
    fn secret_comparison() {
        let key = crate::coda::Secret::new("cmk_abc");
        assert!(key.matches("cmk_abc"));
        assert!(!key.matches("cmk_abd"));
        assert!(!key.matches("cmk_ab"));
    }
}
