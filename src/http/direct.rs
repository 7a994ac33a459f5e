//! The seed document's direct-call flow beside standard MCP: a JSON-RPC request whose
//! `method` is a tool name runs that tool — with or without `initialize` — and answers with
//! the JSON-RPC result and an `Mcp-Session-Id`; the same result is also delivered as a
//! `data:` event on `GET /mcp` for that session, with `:keep-alive` comments while idle.
//!
//! A request without an id starts a session with an id the server issues. The seed's own
//! flow (its step 4) has ChatGPT name the session itself on its first POST: an id nobody
//! holds starts a session under that name, as the seed describes — for direct calls only
//! (standard MCP keeps MCP's rule: an unknown id is 404). Either way a session counts against
//! `--max-sessions` and belongs to the caller that created it (the owner, or one pass-through
//! token): another caller naming it gets 404, exactly as for an unknown MCP session, and a
//! session the client named is rate-limited as its caller (a new name per request buys no
//! fresh allowance). Each session's queue is bounded: a reader that stops reading loses
//! its stream (and may reconnect), never the server's memory. Every call answers within the
//! call deadline and under ChatGPT's 100,000 characters, like the GPT Action routes.

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

use super::actions::{fit, response_limit, run_bounded, Bounded};
use super::auth::Principal;
use super::guard::jsonrpc_error;
use super::{AppState, Caller};
use crate::mcp::{error_result, success_result};

/// Results kept for a session until its stream is opened.
const PENDING: usize = 64;
/// Events buffered on an open stream before the reader is considered gone.
const STREAM_BUFFER: usize = 64;
/// Lists are cut (with a `nextPageToken`) at this many characters, because the answer carries
/// the result twice (text and `structuredContent`) and must stay under ChatGPT's limit.
const LIST_BUDGET: usize = 40_000;

struct DirectSession {
    owner: Principal,
    /// The client chose the id (the seed's step 4) rather than the server.
    client_named: bool,
    pending: VecDeque<Value>,
    live: Option<mpsc::Sender<Value>>,
    last: Instant,
}

/// Sessions of the direct-call flow, each bound to the caller that created it.
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

    /// Whether `id` is a live direct session (whoever owns it).
    pub fn contains(&self, id: &str) -> bool {
        self.owner(id).is_some()
    }

    /// Whether `id` is a live direct session whose id the server issued (not one a client
    /// named): only those get a rate allowance of their own.
    pub(crate) fn server_issued(&self, id: &str) -> bool {
        let sessions = self.sessions.lock().expect("direct sessions");
        sessions.get(id).is_some_and(|s| !s.client_named)
    }

    /// Who created the live direct session `id`.
    pub(crate) fn owner(&self, id: &str) -> Option<Principal> {
        let mut sessions = self.sessions.lock().expect("direct sessions");
        self.sweep(&mut sessions);
        sessions.get(id).map(|s| s.owner)
    }

    /// Ends `owner`'s session `id`; false if there is no such session for this caller.
    pub(crate) fn remove(&self, id: &str, owner: Principal) -> bool {
        let mut sessions = self.sessions.lock().expect("direct sessions");
        if sessions.get(id).is_some_and(|s| s.owner == owner) {
            sessions.remove(id);
            true
        } else {
            false
        }
    }

    /// Starts a session for `owner` — under the client's `name`, or with an id the server
    /// issues — unless `room` (what is left of `--max-sessions` besides the direct sessions)
    /// is used up or the name is taken.
    fn create(
        &self,
        owner: Principal,
        room: usize,
        name: Option<&str>,
    ) -> Result<String, NotCreated> {
        let mut sessions = self.sessions.lock().expect("direct sessions");
        self.sweep(&mut sessions);
        if name.is_some_and(|n| sessions.contains_key(n)) {
            return Err(NotCreated::Taken);
        }
        if sessions.len() >= room {
            return Err(NotCreated::Full);
        }
        let id = name.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        sessions.insert(
            id.clone(),
            DirectSession {
                owner,
                client_named: name.is_some(),
                pending: VecDeque::new(),
                live: None,
                last: Instant::now(),
            },
        );
        Ok(id)
    }

    /// Marks `owner`'s session `id` active; false if it does not exist for this caller.
    fn touch(&self, id: &str, owner: Principal) -> bool {
        let mut sessions = self.sessions.lock().expect("direct sessions");
        self.sweep(&mut sessions);
        match sessions.get_mut(id) {
            Some(s) if s.owner == owner => {
                s.last = Instant::now();
                true
            }
            _ => false,
        }
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

    /// Puts results a closed stream never sent back in front of the session's queue (they are
    /// older than anything queued since), keeping the newest within the bound.
    fn requeue(&self, id: &str, unsent: Vec<Value>) {
        let mut sessions = self.sessions.lock().expect("direct sessions");
        let Some(s) = sessions.get_mut(id) else {
            return;
        };
        for m in unsent.into_iter().rev() {
            s.pending.push_front(m);
        }
        while s.pending.len() > PENDING {
            s.pending.pop_front();
        }
    }

    /// Opens `owner`'s session stream (replacing an older one), starting with kept results.
    fn open(&self, id: &str, owner: Principal) -> Option<mpsc::Receiver<Value>> {
        let mut sessions = self.sessions.lock().expect("direct sessions");
        self.sweep(&mut sessions);
        let s = sessions.get_mut(id).filter(|s| s.owner == owner)?;
        let (tx, rx) = mpsc::channel(STREAM_BUFFER.max(PENDING));
        for m in s.pending.drain(..) {
            let _ = tx.try_send(m);
        }
        s.live = Some(tx);
        s.last = Instant::now();
        Some(rx)
    }
}

/// Why a direct session could not be started.
enum NotCreated {
    /// `--max-sessions` is reached.
    Full,
    /// Another live session has that name (possibly another caller's).
    Taken,
}

fn valid_session_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// The JSON-RPC answer carrying `result` (a `CallToolResult`).
fn envelope(id: &Value, result: rmcp::model::CallToolResult) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// The answer for a finished call, cut to stay under ChatGPT's limit: the result travels
/// twice (text and `structuredContent`), so it is the whole envelope that is measured.
fn answer(
    id: &Value,
    method: &str,
    limit: usize,
    outcome: Result<crate::tools::ToolOutput, crate::tools::ToolError>,
) -> Value {
    match outcome {
        Ok(out) => {
            let size = |v: &Value| {
                serde_json::to_string(&envelope(id, success_result(v)))
                    .map(|s| s.len())
                    .unwrap_or(usize::MAX)
            };
            let value = fit(out.value, limit, size);
            envelope(id, success_result(&value))
        }
        Err(e) => {
            let message: String = format!("{method}: {e}").chars().take(10_000).collect();
            envelope(id, error_result(&message))
        }
    }
}

/// Runs a direct call. `session` is the request's `Mcp-Session-Id`, if any; `rmcp_session`
/// says whether that id belongs to a standard MCP session (whose owner the limits layer has
/// already checked).
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
    if engine.catalogue().get(method).is_none() {
        let e = crate::mcp::unknown_tool_error(engine, method);
        return jsonrpc_error(StatusCode::OK, id, -32601, e.message.to_string());
    }
    let principal = caller.map(Caller::principal).unwrap_or(Principal::Owner);
    // A standard MCP session keeps its id; a direct session must be this caller's; an id
    // nobody holds starts a session under that name (the seed's step 4); without an id, a
    // new session starts with one the server issues.
    let session_id = match session {
        Some(s) if rmcp_session => s.to_owned(),
        Some(s) if state.direct.touch(s, principal) => s.to_owned(),
        name => {
            let max = engine.config().max_sessions;
            let standard = state.sessions.sessions.read().await.len();
            match state
                .direct
                .create(principal, max.saturating_sub(standard), name)
            {
                Ok(id) => id,
                Err(NotCreated::Full) => return super::limits::too_many_sessions(max),
                Err(NotCreated::Taken) => {
                    return jsonrpc_error(
                        StatusCode::NOT_FOUND,
                        id,
                        -32001,
                        super::limits::SESSION_NOT_FOUND,
                    )
                }
            }
        }
    };
    engine.session_seen(
        &session_id,
        "direct call",
        "",
        if rmcp_session { "mcp" } else { "direct" },
    );
    let mut opts = engine.exec_options();
    let limit = response_limit(engine);
    opts.output_budget = LIST_BUDGET.min(limit / 2);
    let bounded = run_bounded(
        engine,
        method,
        caller.cloned(),
        &session_id,
        "direct call",
        params,
        opts,
    )
    .await;
    let response = match bounded {
        Bounded::Done(outcome) => answer(&id, method, limit, outcome),
        Bounded::StillRunning(task, after) => {
            // Not cancelled: the result goes to the session's stream when it arrives.
            if !rmcp_session {
                let direct = state.direct.clone();
                let (sid, rid, name) = (session_id.clone(), id.clone(), method.to_owned());
                tokio::spawn(async move {
                    if let Ok(outcome) = task.await {
                        direct.deliver(&sid, answer(&rid, &name, limit, outcome));
                    }
                });
            }
            let status = format!(
                "still processing: {method} is still running after {} s (Coda is slow or busy). It was not cancelled: {}a write already sent stays applied, so check before retrying.",
                after.as_secs(),
                if rmcp_session { "" } else { "its result will arrive on GET /mcp for this session; " }
            );
            envelope(
                &id,
                success_result(&json!({"completed": false, "status": status})),
            )
        }
    };
    if !rmcp_session {
        state.direct.deliver(&session_id, response.clone());
    }
    let mut resp = (StatusCode::OK, Json(response)).into_response();
    if let Ok(v) = HeaderValue::from_str(&session_id) {
        resp.headers_mut().insert("mcp-session-id", v);
    }
    resp
}

/// A session's results on their way to its stream. When the stream goes (the client left, or
/// fell behind), results not yet written go back to the session's queue for the next stream.
struct Results {
    rx: mpsc::Receiver<Value>,
    sessions: std::sync::Arc<DirectSessions>,
    id: String,
}

impl futures::Stream for Results {
    type Item = Value;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Value>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for Results {
    fn drop(&mut self) {
        self.rx.close();
        let mut unsent = Vec::new();
        while let Ok(m) = self.rx.try_recv() {
            unsent.push(m);
        }
        if !unsent.is_empty() {
            self.sessions.requeue(&self.id, unsent);
        }
    }
}

/// `GET /mcp` for a direct session: its results as `data:` events, `:keep-alive` while idle.
pub(crate) fn stream(
    state: &AppState,
    session: &str,
    owner: Principal,
    shutdown: CancellationToken,
) -> Response {
    let Some(rx) = state.direct.open(session, owner) else {
        return super::limits::session_not_found();
    };
    let keep_alive = state.engine.config().sse_keep_alive;
    // Written by hand rather than with axum's `Sse`, whose comments read ": keep-alive": the
    // seed document's clients expect exactly ":keep-alive".
    let ticks = tokio_stream::wrappers::IntervalStream::new(tokio::time::interval_at(
        tokio::time::Instant::now() + keep_alive,
        keep_alive,
    ))
    .map(|_| Bytes::from_static(b":keep-alive\n\n"));
    let results = Results {
        rx,
        sessions: state.direct.clone(),
        id: session.to_owned(),
    }
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
