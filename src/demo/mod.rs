//! The demo workspace: an in-process, Coda-compatible API on a loopback port, so the whole
//! product runs and is tested without a Coda account. It follows Coda's documented behaviour,
//! awkward parts included: clamped pages, 202 writes that land a moment later, mutation status
//! that 404s right after a write, Coda's error bodies and 429s when a rate limit is exceeded.

mod analytics;
mod api;
mod automations;
mod common;
mod docs;
mod domains;
mod formulas;
mod model;
mod pages;
mod router;
mod row_actions;
mod sample;
mod sharing;
mod state;
mod workspaces;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::coda::Secret;

pub use sample::{PEOPLE, PLAN_DOC, TASK_ROWS};
use state::DemoState;
pub use state::{DemoConfig, RestrictedToken, DEMO_DOC_TOKEN, DEMO_READ_ONLY_TOKEN, DEMO_TOKEN};

/// A running demo server. Dropping the handle does not stop it; call [`DemoHandle::shutdown`].
#[derive(Clone)]
pub struct DemoHandle {
    /// The API root, e.g. `http://127.0.0.1:PORT/apis/v1`: use it as the Coda base URL.
    pub base_url: String,
    /// The address it listens on.
    pub addr: SocketAddr,
    state: Arc<DemoState>,
    cancel: CancellationToken,
}

impl DemoHandle {
    /// Number of write requests (POST/PUT/PATCH/DELETE) the demo accepted for processing.
    /// Tests use it to prove that a write was never sent twice.
    pub fn writes_received(&self) -> u64 {
        self.state.writes_received.load(Ordering::SeqCst)
    }

    /// Number of authenticated requests the demo received.
    pub fn requests_received(&self) -> u64 {
        self.state.requests_received.load(Ordering::SeqCst)
    }

    /// Number of requests the demo answered with 429.
    pub fn throttled(&self) -> u64 {
        self.state.throttled.load(Ordering::SeqCst)
    }

    /// Makes the next `n` writes fail with a 500 *after* being applied, the worst case for a
    /// client: it must not resend them.
    pub fn fail_next_writes(&self, n: u32) {
        self.state.fail_writes.store(n, Ordering::SeqCst);
    }

    /// Makes the next `n` reads (GET) whose path contains `path_part` fail with 503 without
    /// doing anything, as a briefly overloaded Coda does: a client may retry them.
    pub fn fail_next_reads(&self, path_part: &str, n: u32) {
        *self.state.fail_reads.lock().expect("fail_reads") = (path_part.to_owned(), n);
    }

    /// Makes the next request whose path contains `path_part` answer 429 with
    /// `Retry-After: retry_after` (whole seconds), as Coda does when a rate class is full.
    pub fn throttle_next(&self, path_part: &str, retry_after: std::time::Duration) {
        *self.state.throttle_next.lock().expect("throttle_next") =
            Some((path_part.to_owned(), retry_after));
    }

    /// Number of authenticated requests of `class` the demo received (tests count what
    /// arrives during a pause).
    pub fn received(&self, class: crate::coda::RateClass) -> u64 {
        let i = crate::coda::RateClass::ALL
            .iter()
            .position(|c| *c == class)
            .expect("a rate class");
        self.state.received_by_class[i].load(Ordering::SeqCst)
    }

    /// Names of the automation rules run by webhook, per doc, in order (for tests).
    pub fn webhook_runs(&self, doc_id: &str) -> Vec<String> {
        let ws = self.state.workspace.lock().expect("workspace");
        ws.doc(doc_id)
            .map(|d| {
                d.extras
                    .webhook_runs
                    .iter()
                    .map(|(r, _)| r.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The token the demo accepts.
    pub fn token(&self) -> &Secret {
        &self.state.config.token
    }

    /// Stops the server.
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }
}

/// Starts the demo API on `127.0.0.1:port` (0 picks a free port).
pub async fn start(config: DemoConfig, port: u16) -> std::io::Result<DemoHandle> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let base_url = format!("http://{addr}/apis/v1");
    let state = Arc::new(DemoState {
        config,
        api_base: base_url.clone(),
        origin: format!("http://{addr}"),
        exports: Mutex::new(HashMap::new()),
        fail_writes: std::sync::atomic::AtomicU32::new(0),
        fail_reads: Mutex::new((String::new(), 0)),
        throttle_next: Mutex::new(None),
        received_by_class: Default::default(),
        workspace: Mutex::new(sample::workspace()),
        mutations: Mutex::new(HashMap::new()),
        limiters: Mutex::new(HashMap::new()),
        writes_received: AtomicU64::new(0),
        requests_received: AtomicU64::new(0),
        throttled: AtomicU64::new(0),
    });
    let cancel = CancellationToken::new();
    let app = router::router(state.clone());
    let stop = cancel.clone();
    tokio::spawn(async move {
        // As Coda's own servers do (and ours): answers go out without waiting for the
        // client's delayed ACK.
        use axum::serve::ListenerExt;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "demo workspace server failed");
        }
    });
    tracing::debug!(%base_url, "demo workspace listening");
    Ok(DemoHandle {
        base_url,
        addr,
        state,
        cancel,
    })
}
