//! What every HTTP handler shares: the engine, the sessions and their owners, the body
//! budget, the calls running for ChatGPT, the run-time controls and the shutdown signal.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::engine::Engine;

/// State shared by the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    /// The engine behind every face.
    pub engine: Engine,
    /// Every session (standard MCP and direct-call) and whose it is.
    pub(super) sessions: Arc<super::sessions::Sessions>,
    pub(super) shutdown: CancellationToken,
    /// Requests in flight, finished before shutdown closes anything.
    pub(super) drain: Arc<super::drain::Drain>,
    /// The URL this server is reached at on loopback, e.g. `http://127.0.0.1:8080`.
    pub(super) local_url: Arc<str>,
    /// Whether this face can run a tunnel (the dashboard offers it).
    pub(super) can_tunnel: bool,
    /// Whether this face keeps the desktop app's settings (the dashboard offers them).
    pub(super) has_settings: bool,
    /// Bytes held in request bodies, shared by both faces.
    pub(super) bodies: super::body::BodyBudget,
    /// Calls running through the ChatGPT faces (past their deadline too).
    pub(super) running: Arc<crate::bounded::RunningCalls>,
}

impl AppState {
    /// Number of live sessions: standard MCP plus the ChatGPT direct-call sessions.
    pub async fn session_count(&self) -> usize {
        self.sessions.count().await
    }

    /// Bytes of direct-call results the server holds for streams to collect.
    pub fn direct_result_bytes(&self) -> usize {
        self.sessions.direct.held_bytes()
    }

    /// Calls running through the ChatGPT faces (GPT Actions, direct calls), past their
    /// deadline too.
    pub fn running_calls(&self) -> usize {
        self.running.count()
    }

    /// The base URL clients should use: the public URL when there is one.
    pub fn server_url(&self) -> String {
        self.engine
            .public()
            .url()
            .unwrap_or_else(|| self.local_url.to_string())
    }
}
