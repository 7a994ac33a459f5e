//! The demo's configuration and the state its handlers share: the workspace, writes in
//! flight, exports, rate limiters, fault switches and counters.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::model;
use crate::coda::{Pacer, RateLimits, Secret};

/// The token the demo accepts when none is configured. It is not a secret: it only opens the
/// built-in sample workspace on loopback.
pub const DEMO_TOKEN: &str = "demo-token-not-a-secret";

/// A read-only token the demo accepts (Coda lets a person limit a token to reading): writes
/// get Coda's 403. Not a secret, like [`DEMO_TOKEN`].
pub const DEMO_READ_ONLY_TOKEN: &str = "demo-read-only-token-not-a-secret";

/// A doc-scoped token the demo accepts (Coda lets a person limit a token to one doc): only
/// the sample "Project Plan" doc (`AbCDeFGH01`); any other doc gets Coda's 403 and `GET /docs`
/// lists that doc alone. Not a secret, like [`DEMO_TOKEN`].
pub const DEMO_DOC_TOKEN: &str = "demo-doc-scoped-token-not-a-secret";

/// A token the demo accepts besides [`DemoConfig::token`], limited as Coda lets a person
/// limit theirs.
#[derive(Debug, Clone)]
pub struct RestrictedToken {
    /// The bearer token.
    pub token: Secret,
    /// Reads only: every other method gets 403.
    pub read_only: bool,
    /// The one doc it reaches, if scoped.
    pub doc: Option<String>,
}

/// How the demo behaves; tests tighten or loosen it.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// The bearer token the demo accepts with full access; anything else but
    /// `restricted_tokens` gets 401.
    pub token: Secret,
    /// Tokens with less access (by default [`DEMO_READ_ONLY_TOKEN`] and [`DEMO_DOC_TOKEN`]).
    pub restricted_tokens: Vec<RestrictedToken>,
    /// Per-token rate limits; `None` disables 429s.
    pub limits: Option<RateLimits>,
    /// Whether 429 answers carry `Retry-After` (Coda does not promise it).
    pub retry_after_header: bool,
    /// The largest page any list returns, whatever `limit` asks for.
    pub page_clamp: usize,
    /// The page size when no `limit` is given.
    pub default_page_size: usize,
    /// How long a write takes to become visible.
    pub write_delay: Duration,
    /// How long `/mutationStatus/{id}` answers 404 after a write (replication lag).
    pub status_lag: Duration,
    /// Whether `listPageContent` exists (older API versions lack it; page text then needs an export).
    pub page_content_endpoint: bool,
    /// `listRows` answers 504 when asked for more rows than this in one page (a "large doc").
    pub rows_504_above: Option<usize>,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            token: Secret::new(DEMO_TOKEN),
            restricted_tokens: vec![
                RestrictedToken {
                    token: Secret::new(DEMO_READ_ONLY_TOKEN),
                    read_only: true,
                    doc: None,
                },
                RestrictedToken {
                    token: Secret::new(DEMO_DOC_TOKEN),
                    read_only: false,
                    doc: Some(super::sample::PLAN_DOC.to_owned()),
                },
            ],
            limits: Some(RateLimits::CODA),
            retry_after_header: true,
            page_clamp: 50,
            default_page_size: 25,
            write_delay: Duration::from_millis(300),
            status_lag: Duration::from_millis(60),
            page_content_endpoint: true,
            rows_504_above: None,
        }
    }
}

/// A page export in progress.
pub(super) struct ExportJob {
    pub(super) created: tokio::time::Instant,
    pub(super) doc_id: String,
    pub(super) page_id: String,
    pub(super) format: String,
}

/// A pending or finished write.
pub(super) struct Mutation {
    pub(super) created: tokio::time::Instant,
    pub(super) completed: bool,
    /// The doc it changes (none for a new doc or a folder).
    pub(super) doc: Option<String>,
    /// What Coda's mutation status warns about once it is applied.
    pub(super) warning: Option<String>,
}

/// Shared state of a running demo server.
pub(crate) struct DemoState {
    pub(super) config: DemoConfig,
    pub(super) api_base: String,
    pub(super) origin: String,
    pub(super) exports: Mutex<HashMap<String, ExportJob>>,
    pub(super) fail_writes: std::sync::atomic::AtomicU32,
    /// Reads whose path contains the text fail with 503 before doing anything, this many times.
    pub(super) fail_reads: Mutex<(String, u32)>,
    /// The next request whose path contains the text gets a 429 with this `Retry-After`.
    pub(super) throttle_next: Mutex<Option<(String, Duration)>>,
    /// Authenticated requests received per rate class ([`crate::coda::RateClass::ALL`] order).
    pub(super) received_by_class: [AtomicU64; 5],
    pub(super) workspace: Mutex<model::Workspace>,
    pub(super) mutations: Mutex<HashMap<String, Mutation>>,
    pub(super) limiters: Mutex<HashMap<String, Arc<Pacer>>>,
    pub(super) writes_received: AtomicU64,
    pub(super) requests_received: AtomicU64,
    pub(super) throttled: AtomicU64,
}

impl DemoState {
    /// Whether a read of `path` is to fail now (see `DemoHandle::fail_next_reads`).
    pub(super) fn take_read_fault(&self, path: &str) -> bool {
        let mut fault = self.fail_reads.lock().expect("fail_reads");
        if fault.1 > 0 && path.contains(fault.0.as_str()) {
            fault.1 -= 1;
            return true;
        }
        false
    }

    /// The `Retry-After` to answer a request of `path` with, when it is the one to throttle
    /// (see `DemoHandle::throttle_next`).
    pub(super) fn take_throttle(&self, path: &str) -> Option<Duration> {
        let mut armed = self.throttle_next.lock().expect("throttle_next");
        match armed.as_ref() {
            Some((part, _)) if path.contains(part.as_str()) => armed.take().map(|(_, d)| d),
            _ => None,
        }
    }
}

/// What the token of a request may reach, put in the request's extensions by the gate so
/// handlers that answer differently per token (`GET /docs`, `/whoami`) can tell.
#[derive(Debug, Clone, Default)]
pub(super) struct Grant {
    /// Reads only.
    pub(super) read_only: bool,
    /// The one doc it reaches, if scoped.
    pub(super) doc: Option<String>,
}

impl Grant {
    /// Coda's 403 message when the grant does not cover `method` on `path` (below the API
    /// root); `None` when it does.
    pub(super) fn refusal(&self, is_get: bool, path: &str) -> Option<String> {
        if self.read_only && !is_get {
            return Some("This API token is read-only and cannot make changes.".into());
        }
        let scope = self.doc.as_deref()?;
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        match segments.iter().position(|s| *s == "docs") {
            Some(i) => match segments.get(i + 1) {
                Some(doc) if *doc != scope => Some(format!(
                    "This API token is restricted to another doc and cannot access doc '{doc}'."
                )),
                None if !is_get => {
                    Some("This API token is restricted to one doc and cannot create docs.".into())
                }
                _ => None,
            },
            None => None,
        }
    }

    /// Whether the grant reaches `doc`.
    pub(super) fn reaches(&self, doc: &str) -> bool {
        self.doc.as_deref().is_none_or(|d| d == doc)
    }

    /// Whether the token has any limit (`/whoami`'s `scoped`).
    pub(super) fn is_limited(&self) -> bool {
        self.read_only || self.doc.is_some()
    }
}
