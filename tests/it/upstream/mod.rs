//! A scriptable stand-in between the server and the demo workspace, for tests that need to
//! see or shape what reaches "Coda": it counts `/whoami` calls (pass-through checks), accepts
//! extra tokens as other people's (each forwarded with the demo's own token, so two callers
//! can each bring a token Coda accepts), and can hold requests to simulate a slow Coda.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;

/// The proxy's shared state.
pub struct Upstream {
    /// The API root to give the engine (`coda_base_url`).
    pub base_url: String,
    whoami: AtomicUsize,
    /// Tokens accepted besides the demo's own.
    extra_tokens: Mutex<HashSet<String>>,
    /// Milliseconds every request to a path containing `slow_path` is held.
    delay_ms: AtomicU64,
    slow_path: Mutex<String>,
    /// The demo's origin and token, once attached.
    target: Mutex<Option<(String, String)>>,
    /// Every request as it arrived: method and raw (still encoded) path.
    seen: Mutex<Vec<(String, String)>>,
}

#[derive(Clone)]
struct Shared {
    up: Arc<Upstream>,
    http: reqwest::Client,
}

impl Upstream {
    /// `/whoami` requests seen so far, whatever the token.
    pub fn whoami_calls(&self) -> usize {
        self.whoami.load(Ordering::SeqCst)
    }

    /// Every request received so far: method and the path exactly as sent (still encoded).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.seen.lock().unwrap().clone()
    }

    /// Accepts `token` as another person's valid Coda token.
    pub fn accept(&self, token: &str) {
        self.extra_tokens.lock().unwrap().insert(token.to_owned());
    }

    /// Points the proxy at the demo whose API root and token `config` holds, and the config
    /// at the proxy (use inside `Harness::start_with`'s tweak).
    pub fn attach(&self, config: &mut coda_mcp::EngineConfig) {
        let origin = config.coda_base_url.trim_end_matches("/apis/v1").to_owned();
        let token = config
            .coda_token
            .as_ref()
            .map(|t| t.expose().to_owned())
            .unwrap_or_default();
        *self.target.lock().unwrap() = Some((origin, token));
        config.coda_base_url = self.base_url.clone();
    }

    /// Holds every request whose path contains `path` for `delay`.
    pub fn slow_down(&self, path: &str, delay: Duration) {
        *self.slow_path.lock().unwrap() = path.to_owned();
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }
}

/// Starts the proxy on a loopback port; [`Upstream::attach`] points it at a demo.
pub async fn start() -> Arc<Upstream> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let up = Arc::new(Upstream {
        base_url: format!("http://{addr}/apis/v1"),
        whoami: AtomicUsize::new(0),
        extra_tokens: Mutex::new(HashSet::new()),
        delay_ms: AtomicU64::new(0),
        slow_path: Mutex::new(String::new()),
        target: Mutex::new(None),
        seen: Mutex::new(Vec::new()),
    });
    let shared = Shared {
        up: up.clone(),
        http: reqwest::Client::new(),
    };
    let app = Router::new().fallback(forward).with_state(shared);
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    up
}

async fn forward(State(s): State<Shared>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    s.up.seen
        .lock()
        .unwrap()
        .push((req.method().to_string(), path.clone()));
    if path.ends_with("/whoami") {
        s.up.whoami.fetch_add(1, Ordering::SeqCst);
    }
    let delay = s.up.delay_ms.load(Ordering::SeqCst);
    let slow = s.up.slow_path.lock().unwrap().clone();
    if delay > 0 && !slow.is_empty() && path.contains(&slow) {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let Some((origin, demo_token)) = s.up.target.lock().unwrap().clone() else {
        return (StatusCode::BAD_GATEWAY, "not attached").into_response();
    };
    let mut token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_owned();
    if s.up.extra_tokens.lock().unwrap().contains(&token) {
        token = demo_token;
    }
    let method = req.method().clone();
    let content_type = req.headers().get("content-type").cloned();
    let body = axum::body::to_bytes(req.into_body(), 8 << 20)
        .await
        .unwrap_or_default();
    let mut out = s
        .http
        .request(method, format!("{origin}{path}{query}"))
        .bearer_auth(token)
        .body(body);
    if let Some(ct) = content_type {
        out = out.header("content-type", ct);
    }
    match out.send().await {
        Ok(resp) => {
            let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
            let mut headers = axum::http::HeaderMap::new();
            for (k, v) in resp.headers() {
                if k != "content-length" && k != "transfer-encoding" {
                    headers.insert(k.clone(), v.clone());
                }
            }
            let bytes: Bytes = resp.bytes().await.unwrap_or_default();
            (status, headers, bytes).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}
