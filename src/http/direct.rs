//! The seed document's direct-call flow beside standard MCP: a JSON-RPC request whose
//! `method` is a tool name runs that tool — with or without `initialize` — and answers with
//! the JSON-RPC result and an `Mcp-Session-Id`; the same result is also delivered as a
//! `data:` event on `GET /mcp` for that session, with `:keep-alive` comments while idle.
//! Each session's queue is bounded: a reader that stops reading loses its stream (and may
//! reconnect), never the server's memory.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::guard::jsonrpc_error;
use super::{AppState, Caller};
use crate::mcp::{error_result, success_result};

/// Results kept for a session until its stream is opened.
const PENDING: usize = 64;
/// Events buffered on an open stream before the reader is considered gone.
const STREAM_BUFFER: usize = 64;

struct DirectSession {
    pending: VecDeque<Value>,
    live: Option<mpsc::Sender<Value>>,
    last: Instant,
}

/// Sessions of the direct-call flow.
pub struct DirectSessions {
    sessions: Mutex<HashMap<String, DirectSession>>,
    idle: Duration,
}

impl DirectSessions {
    /// Sessions that expire after `idle` without activity.
    pub fn new(idle: Duration) -> Self {
        DirectSessions {
            sessions: Mutex::new(HashMap::new()),
            idle,
        }
    }

    fn sweep(&self, sessions: &mut HashMap<String, DirectSession>) {
        let idle = self.idle;
        sessions.retain(|_, s| {
            s.last.elapsed() < idle || s.live.as_ref().is_some_and(|l| !l.is_closed())
        });
    }

    /// Live direct sessions.
    pub fn count(&self) -> usize {
        let mut sessions = self.sessions.lock().expect("direct sessions");
        self.sweep(&mut sessions);
        sessions.len()
    }

    /// Whether `id` is a direct session.
    pub fn contains(&self, id: &str) -> bool {
        let mut sessions = self.sessions.lock().expect("direct sessions");
        self.sweep(&mut sessions);
        sessions.contains_key(id)
    }

    /// Ends a session; true if it existed.
    pub fn remove(&self, id: &str) -> bool {
        self.sessions
            .lock()
            .expect("direct sessions")
            .remove(id)
            .is_some()
    }

    /// The session for `id` (created if new) and its id.
    fn touch(&self, id: Option<&str>) -> String {
        let mut sessions = self.sessions.lock().expect("direct sessions");
        self.sweep(&mut sessions);
        let id = id
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        sessions
            .entry(id.clone())
            .or_insert_with(|| DirectSession {
                pending: VecDeque::new(),
                live: None,
                last: Instant::now(),
            })
            .last = Instant::now();
        id
    }

    /// Delivers a result to the session's stream, or keeps it for when the stream opens.
    fn deliver(&self, id: &str, message: Value) {
        let mut sessions = self.sessions.lock().expect("direct sessions");
        let Some(s) = sessions.get_mut(id) else {
            return;
        };
        if let Some(live) = &s.live {
            match live.try_send(message) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(m))
                | Err(mpsc::error::TrySendError::Closed(m)) => {
                    // The reader stopped reading (or left): drop its stream, keep the result.
                    s.live = None;
                    s.pending.push_back(m);
                }
            }
        } else {
            s.pending.push_back(message);
        }
        while s.pending.len() > PENDING {
            s.pending.pop_front();
        }
    }

    /// Opens the session's stream (replacing an older one), starting with kept results.
    fn open(&self, id: &str) -> Option<mpsc::Receiver<Value>> {
        let mut sessions = self.sessions.lock().expect("direct sessions");
        let s = sessions.get_mut(id)?;
        let (tx, rx) = mpsc::channel(STREAM_BUFFER.max(PENDING));
        for m in s.pending.drain(..) {
            let _ = tx.try_send(m);
        }
        s.live = Some(tx);
        s.last = Instant::now();
        Some(rx)
    }
}

fn valid_session_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// Runs a direct call. `session` is the request's `Mcp-Session-Id`, if any; `rmcp_session`
/// says whether that id belongs to a standard MCP session.
pub async fn call(
    state: &AppState,
    caller: Option<&Caller>,
    message: &Value,
    session: Option<&str>,
    rmcp_session: bool,
) -> Response {
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    let method = message["method"].as_str().unwrap_or_default();
    let params = match message.get("params") {
        None | Some(Value::Null) => json!({}),
        Some(p) if p.is_object() => p.clone(),
        Some(_) => {
            return jsonrpc_error(
                StatusCode::BAD_REQUEST,
                id,
                -32602,
                format!(
                    "Invalid params for '{method}': params must be an object of tool arguments"
                ),
            )
        }
    };
    if let Some(s) = session.filter(|s| !valid_session_id(s)) {
        return jsonrpc_error(
            StatusCode::BAD_REQUEST,
            id,
            -32600,
            format!(
                "Invalid Mcp-Session-Id {:?}",
                s.chars().take(40).collect::<String>()
            ),
        );
    }
    let engine = &state.engine;
    let Some((tool, schema)) = engine.catalogue().get(method) else {
        let e = crate::mcp::unknown_tool_error(engine, method);
        return jsonrpc_error(StatusCode::OK, id, -32601, e.message.to_string());
    };
    // A standard MCP session keeps its id; otherwise this is (or becomes) a direct session.
    let session_id = if rmcp_session {
        session.map(str::to_owned).unwrap_or_default()
    } else {
        state.direct.touch(session)
    };
    engine.session_seen(
        &session_id,
        "direct call",
        "",
        if rmcp_session { "mcp" } else { "direct" },
    );
    let call = crate::engine::ToolCall {
        tool: (tool, schema),
        caller,
        session: &session_id,
        client: "direct call",
    };
    let result = match engine.run_tool(call, params, &engine.exec_options()).await {
        Ok(out) => success_result(&out.value),
        Err(e) => error_result(&format!("{method}: {e}")),
    };
    let response = json!({"jsonrpc": "2.0", "id": id, "result": result});
    if !rmcp_session {
        state.direct.deliver(&session_id, response.clone());
    }
    let mut resp = (StatusCode::OK, Json(response)).into_response();
    if let Ok(v) = HeaderValue::from_str(&session_id) {
        resp.headers_mut().insert("mcp-session-id", v);
    }
    resp
}

/// `GET /mcp` for a direct session: its results as `data:` events, `:keep-alive` while idle.
pub fn stream(state: &AppState, session: &str, shutdown: CancellationToken) -> Response {
    let Some(rx) = state.direct.open(session) else {
        return jsonrpc_error(
            StatusCode::NOT_FOUND,
            Value::Null,
            -32001,
            "Session not found; start a new one",
        );
    };
    let keep_alive = state.engine.config().sse_keep_alive;
    // Written by hand rather than with axum's `Sse`, whose comments read ": keep-alive": the
    // seed document's clients expect exactly ":keep-alive".
    let ticks = tokio_stream::wrappers::IntervalStream::new(tokio::time::interval_at(
        tokio::time::Instant::now() + keep_alive,
        keep_alive,
    ))
    .map(|_| Bytes::from_static(b":keep-alive\n\n"));
    let results = tokio_stream::wrappers::ReceiverStream::new(rx)
        .map(|m| Bytes::from(format!("data: {m}\n\n")));
    // The stream ends when the reader is dropped for falling behind, or at shutdown.
    let results = results.chain(futures::stream::once(async { Bytes::new() }));
    let body = futures::stream::once(async { Bytes::from_static(b":keep-alive\n\n") })
        .chain(
            futures::stream::select(results.map(Some), ticks.map(Some))
                .take_while(|b| std::future::ready(!matches!(b, Some(b) if b.is_empty())))
                .filter_map(std::future::ready),
        )
        .take_until(async move { shutdown.cancelled().await })
        .map(Ok::<Bytes, Infallible>);
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .header("x-accel-buffering", "no")
        .body(Body::from_stream(body))
        .expect("valid response")
}
