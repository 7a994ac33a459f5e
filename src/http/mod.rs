//! The HTTP faces of the engine: `/mcp` (rmcp's Streamable HTTP service behind our guard,
//! plus the ChatGPT direct-call flow), the GPT Action routes, the OpenAPI documents and
//! `/health`. Two routers share one set of sessions: `local` for the loopback listener and
//! `public` for the tunnel (always authenticated, no admin routes).

mod actions;
mod admin;
mod answer;
mod auth;
mod body;
mod conn;
mod dashboard;
mod direct;
mod direct_sessions;
mod drain;
mod guard;
mod jsonrpc;
mod limits;
mod memory;
mod oauth;
mod origin;
mod resource;
mod session_gate;
mod sessions;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{middleware, Json, Router};
use rmcp::transport::streamable_http_server::session::local::{LocalSessionManager, SessionConfig};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::mcp::CodaMcp;

pub use admin::Admin;
pub use answer::{error, ApiError};
pub use body::MAX_BODY_BYTES;
pub use body::{BODY_TIMEOUT, DRAIN_BYTES};
pub use conn::{ConnLimits, Face, HEADER_TIMEOUT};
pub use guard::{classify_message, Message};
pub use origin::HostPolicy;
pub use state::AppState;

/// How long a finished request's answer can still be resumed by a client whose stream broke.
const COMPLETED_REQUEST_RESUMABLE: Duration = Duration::from_secs(10);

/// How long in-flight calls get to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The two faces of the server over one engine and one set of sessions.
pub struct Routers {
    /// For the loopback listener.
    pub local: Face,
    /// For the public tunnel.
    pub public: Face,
    /// Shared state (sessions, engine).
    pub state: AppState,
}

/// Builds both routers. Cancelling `cancel` ends every MCP session and closes its SSE
/// streams. `local_url` is where the loopback listener is reached.
pub fn routers(
    engine: Engine,
    cancel: CancellationToken,
    local_url: &str,
    admin: Admin,
) -> Routers {
    let mut session_config = SessionConfig::default();
    session_config.keep_alive = Some(engine.config().session_idle_timeout);
    // rmcp keeps every finished request's stream cache (and a channel with it) this long so
    // that a client whose stream broke can resume it; its default of 60 s holds a minute of
    // calls per busy session. Ten seconds covers a reconnect and keeps memory flat.
    session_config.completed_cache_ttl = COMPLETED_REQUEST_RESUMABLE;
    let mut manager = LocalSessionManager::default();
    manager.session_config = session_config;
    let sessions = Arc::new(manager);
    let config = StreamableHttpServerConfig::default()
        .with_sse_keep_alive(Some(engine.config().sse_keep_alive))
        .with_cancellation_token(cancel.clone())
        .with_max_request_body_bytes(MAX_BODY_BYTES)
        .disable_allowed_hosts();
    let factory_engine = engine.clone();
    let service = StreamableHttpService::new(
        move || Ok(CodaMcp::new(factory_engine.clone())),
        sessions.clone(),
        config,
    );
    let direct = Arc::new(direct_sessions::DirectSessions::new(
        engine.config().session_idle_timeout,
    ));
    let state = AppState {
        engine: engine.clone(),
        sessions: Arc::new(sessions::Sessions::new(
            sessions,
            direct,
            engine.config().max_sessions,
        )),
        shutdown: cancel,
        drain: Arc::default(),
        local_url: local_url.into(),
        can_tunnel: admin.can_tunnel,
        has_settings: admin.has_settings,
        bodies: body::BodyBudget::default(),
        running: Arc::default(),
    };
    let limiter = limits::ClientLimiter::default();
    let policy = HostPolicy {
        public: engine.public().clone(),
    };
    // Outermost first, every request is: counted for graceful shutdown → its body set
    // aside → Host/Origin checked → the caller authenticated → the session it names looked
    // up (someone else's: 404) → held to its rate → a request opening a session held to its
    // share → only then its body read (within the budget) → handled.
    let read_body = || {
        middleware::from_fn_with_state(
            body::Reader::new(state.bodies.clone(), MAX_BODY_BYTES),
            body::read,
        )
    };
    // OAuth's forms and registrations are small: a stranger's large body is refused unread.
    let read_oauth_body = || {
        middleware::from_fn_with_state(
            body::Reader::new(state.bodies.clone(), body::OAUTH_BODY_BYTES),
            body::read,
        )
    };
    let (local_auth, public_auth) = auth::Auth::faces(engine.clone());
    let face = |public: bool| {
        let authenticated = |router: Router| {
            router
                .layer(read_body())
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    session_gate::admit,
                ))
                .layer(middleware::from_fn_with_state(
                    (state.clone(), limiter.clone()),
                    limits::check,
                ))
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    session_gate::own,
                ))
                .layer(middleware::from_fn_with_state(
                    if public {
                        public_auth.clone()
                    } else {
                        local_auth.clone()
                    },
                    auth::check,
                ))
        };
        let mcp = Router::new()
            .route_service("/mcp", service.clone())
            .layer(middleware::from_fn_with_state(state.clone(), guard::guard));
        Router::new()
            .route("/health", get(health))
            .merge(actions::public_routes())
            .with_state(state.clone())
            // OAuth: the only unauthenticated routes besides /health and the schemas.
            .merge(oauth::routes(state.clone(), local_auth.clone()).layer(read_oauth_body()))
            .merge(authenticated(mcp))
            .merge(authenticated(actions::routes(state.clone())))
            // The dashboard and the stdio bridge's challenge exist on the loopback listener
            // only, never through the tunnel.
            .merge(if public {
                Router::new()
            } else {
                dashboard::routes(state.clone(), read_body(), admin.routes.clone())
                    .merge(
                        Router::new()
                            .route("/bridge/proof", get(bridge_proof))
                            .with_state(state.clone()),
                    )
                    .merge(admin.bridge.clone().unwrap_or_default())
            })
            .layer(middleware::from_fn_with_state(
                policy.clone(),
                origin::check,
            ))
            // Outside every check: none of them needs the body, and none reads it.
            .layer(middleware::from_fn(body::hold))
            .layer(middleware::from_fn_with_state(
                state.drain.clone(),
                drain::track,
            ))
    };
    let public = Face::new(face(true), ConnLimits::PUBLIC);
    Routers {
        local: Face::new(face(false), ConnLimits::LOCAL),
        public,
        state,
    }
}

/// `GET /health`: cheap, public, no secrets. The Coda check is cached and refreshed in the
/// background at most once per TTL.
async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let (coda, refresh_due) = state.engine.health().snapshot();
    if refresh_due {
        let engine = state.engine.clone();
        tokio::spawn(async move {
            engine.health().refresh(&engine.coda()).await;
        });
    }
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "coda": coda,
        "sessions": state.session_count().await,
        "uptime_s": state.engine.uptime().as_secs(),
        "read_only": state.engine.config().read_only,
        "tools": state.engine.catalogue().iter().count(),
    }))
}

/// `GET /bridge/proof?nonce=…`: `coda-mcp stdio` asks this before it sends the connection
/// key, so that only a server that holds the key gets it (see [`crate::secrets::bridge_proof`]):
/// the proof names the address the request arrived at, so a relay on another address gets
/// a proof the bridge refuses.
async fn bridge_proof(
    State(state): State<AppState>,
    local: Option<axum::Extension<conn::LocalAddr>>,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    let nonce = query.get("nonce").map(String::as_str).unwrap_or("");
    if !(32..=128).contains(&nonce.len()) || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return answer::error(
            axum::http::StatusCode::BAD_REQUEST,
            "bad_nonce",
            "nonce must be 32 to 128 hexadecimal characters",
        );
    }
    let Some(axum::Extension(conn::LocalAddr(at))) = local else {
        return answer::error(
            axum::http::StatusCode::NOT_FOUND,
            "not_here",
            "the bridge's proof is given on the loopback listener only",
        );
    };
    Json(json!({
        "proof": crate::secrets::bridge_proof(&state.engine.connection_key(), nonce, at)
    }))
    .into_response()
}

/// A server bound and running in the background.
pub struct RunningServer {
    /// The bound address.
    pub addr: SocketAddr,
    /// Shared state (session count, engine).
    pub state: AppState,
    public: Face,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// The MCP endpoint URL.
    pub fn mcp_url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// The public face (the tunnel hands it its connections).
    pub fn public_face(&self) -> Face {
        self.public.clone()
    }

    /// Stops gracefully: new requests are refused, those in flight get up to
    /// [`SHUTDOWN_GRACE`] to finish and be answered, then sessions and SSE streams close.
    /// Returns false if the grace period ran out.
    pub async fn shutdown(self) -> bool {
        // New requests get 503 from here on; those in flight finish and are answered first.
        let drained = self.state.drain.drain(SHUTDOWN_GRACE).await;
        if !drained {
            tracing::warn!(
                requests = self.state.drain.inflight(),
                "requests still running after the grace period; stopping anyway"
            );
        }
        // Then sessions and streams close, and the listener stops.
        self.cancel.cancel();
        let stopped = tokio::time::timeout(Duration::from_secs(2), self.task)
            .await
            .is_ok();
        drained && stopped
    }
}

/// Binds `listener` and serves the engine on it until [`RunningServer::shutdown`], with no
/// Setup actions (tests, benchmarks).
pub async fn start(engine: Engine, listener: TcpListener) -> std::io::Result<RunningServer> {
    start_with(engine, listener, Default::default()).await
}

/// [`start`] with the Setup actions a face offers (`control::start` provides them).
pub async fn start_with(
    engine: Engine,
    listener: TcpListener,
    admin: Admin,
) -> std::io::Result<RunningServer> {
    let addr = listener.local_addr()?;
    let cancel = CancellationToken::new();
    let Routers {
        local,
        public,
        state,
    } = routers(
        engine.clone(),
        cancel.clone(),
        &format!("http://{addr}"),
        admin,
    );
    // Warm the health cache so the first /health already knows about Coda.
    let warm = engine.clone();
    tokio::spawn(async move {
        if warm.health().snapshot().1 {
            warm.health().refresh(&warm.coda()).await;
        }
    });
    memory::spawn(cancel.clone());
    // The headroom chart's history: sampled all the time, not only while a dashboard looks.
    let sampled = engine.clone();
    let sampling = cancel.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(crate::engine::HEADROOM_SAMPLE_EVERY);
        loop {
            tokio::select! {
                _ = sampling.cancelled() => break,
                _ = every.tick() => { sampled.sample_headroom().await; }
            }
        }
    });
    // OAuth's stored state stays bounded while running, not only when it is opened.
    let pruned = engine.clone();
    let pruning = cancel.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(crate::oauth::PRUNE_EVERY);
        every.tick().await;
        loop {
            tokio::select! {
                _ = pruning.cancelled() => break,
                _ = every.tick() => {
                    let engine = pruned.clone();
                    let done = tokio::task::spawn_blocking(move || engine.oauth().prune()).await;
                    if let Ok(Err(e)) = done {
                        tracing::warn!(error = %e, "pruning the OAuth store failed");
                    }
                }
            }
        }
    });
    let stop = cancel.clone();
    let task = tokio::spawn(local.serve(listener, stop));
    Ok(RunningServer {
        addr,
        state,
        public,
        cancel,
        task,
    })
}
