//! The seed document's direct-call flow beside standard MCP: a JSON-RPC request whose
//! `method` is a tool name runs that tool — with or without `initialize` — and answers with
//! the JSON-RPC result and an `Mcp-Session-Id`; the same result is also delivered as a
//! `data:` event on `GET /mcp` for that session, with `:keep-alive` comments while idle.
//!
//! A request without an id starts a session with an id the server issues. The seed's own
//! flow (its step 4) has ChatGPT name the session itself on its first POST: a name the caller
//! does not hold yet starts a session under that name — for direct calls only (standard MCP
//! keeps MCP's rule: an unknown id is 404). Sessions belong to the caller that created them
//! (the owner, or one pass-through token), and a name is looked up among that caller's own
//! sessions only: a stranger who uses the name `chatgpt-session-1` first gets a session of
//! their own, and the owner's `chatgpt-session-1` is still the owner's. Sessions are admitted
//! by [`super::sessions::Sessions`] (the caller's share of `--max-sessions`), and a session
//! the client named is rate-limited as its caller (a new name per request buys no fresh
//! allowance).
//!
//! Results wait for their stream as the bytes that were answered, within byte budgets: per
//! guest, for all guests, for the owner. Past a budget the oldest results go first, results
//! no stream collects expire after [`RESULT_TTL`], and a reader that lets its share fill up
//! loses its stream (and may reconnect) — never the server's memory. Every call answers
//! within the call deadline and under ChatGPT's 100,000 characters, like the GPT Action
//! routes.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
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
/// Results on their way to an open stream before the reader is considered gone.
const STREAM_BUFFER: usize = 16;
/// A result no stream collected within this long is dropped (it was answered to its POST).
const RESULT_TTL: Duration = Duration::from_secs(120);
/// Bytes of results held for one guest (pass-through caller), for all guests together, and
/// for the owner — kept or on their way to a stream.
const QUEUE_PER_GUEST: usize = 8 * 1024 * 1024;
const QUEUE_GUESTS: usize = 48 * 1024 * 1024;
const QUEUE_OWNER: usize = 32 * 1024 * 1024;
/// Lists are cut (with a `nextPageToken`) at this many characters, because the answer carries
/// the result twice (text and `structuredContent`) and must stay under ChatGPT's limit.
const LIST_BUDGET: usize = 40_000;

/// A result waiting for its session's stream: the JSON-RPC message, serialised once.
struct Queued {
    message: Bytes,
    at: Instant,
}

struct DirectSession {
    /// The client chose the id (the seed's step 4) rather than the server.
    client_named: bool,
    pending: VecDeque<Queued>,
    live: Option<mpsc::Sender<Bytes>>,
    last: Instant,
}

/// A session is its creator's: the same name from two callers is two sessions.
type Key = (Principal, String);

/// The sessions and the bytes their results hold.
#[derive(Default)]
struct Table {
    sessions: HashMap<Key, DirectSession>,
    /// Result bytes held (kept, or sent to a stream and not yet taken) per caller.
    held: HashMap<Principal, usize>,
    /// Of which guests hold together.
    guests_held: usize,
}

impl Table {
    fn cap(&self, principal: Principal) -> bool {
        let mine = self.held.get(&principal).copied().unwrap_or(0);
        match principal {
            Principal::Owner => mine <= QUEUE_OWNER,
            Principal::Token(_) | Principal::Grant(_) | Principal::Anonymous => {
                mine <= QUEUE_PER_GUEST && self.guests_held <= QUEUE_GUESTS
            }
        }
    }

    fn add(&mut self, principal: Principal, n: usize) {
        *self.held.entry(principal).or_default() += n;
        if principal != Principal::Owner {
            self.guests_held += n;
        }
    }

    fn release(&mut self, principal: Principal, n: usize) {
        if let Some(mine) = self.held.get_mut(&principal) {
            *mine = mine.saturating_sub(n);
            if *mine == 0 {
                self.held.remove(&principal);
            }
        }
        if principal != Principal::Owner {
            self.guests_held = self.guests_held.saturating_sub(n);
        }
    }

    /// Drops `key`'s oldest kept results while it keeps more than [`PENDING`] or its caller
    /// holds more than its share.
    fn trim(&mut self, key: &Key) {
        loop {
            let over = self
                .sessions
                .get(key)
                .is_some_and(|s| s.pending.len() > PENDING);
            if !over && self.cap(key.0) {
                return;
            }
            let Some(dropped) = self
                .sessions
                .get_mut(key)
                .and_then(|s| s.pending.pop_front())
            else {
                return;
            };
            self.release(key.0, dropped.message.len());
        }
    }

    /// Forgets idle sessions (unless a stream is open) and results nobody collected in time.
    fn sweep(&mut self, idle: Duration) {
        let mut freed: Vec<(Principal, usize)> = Vec::new();
        self.sessions.retain(|(principal, _), s| {
            while s
                .pending
                .front()
                .is_some_and(|q| q.at.elapsed() > RESULT_TTL)
            {
                let q = s.pending.pop_front().expect("front");
                freed.push((*principal, q.message.len()));
            }
            let keep = s.last.elapsed() < idle || s.live.as_ref().is_some_and(|l| !l.is_closed());
            if !keep {
                freed.extend(s.pending.iter().map(|q| (*principal, q.message.len())));
            }
            keep
        });
        for (principal, n) in freed {
            self.release(principal, n);
        }
    }
}

/// Sessions of the direct-call flow, each bound to the caller that created it.
pub struct DirectSessions {
    table: Mutex<Table>,
    idle: Duration,
}

impl DirectSessions {
    /// Sessions that expire after `idle` without activity.
    pub fn new(idle: Duration) -> Self {
        DirectSessions {
            table: Mutex::default(),
            idle,
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        let mut table = self.table.lock().expect("direct sessions");
        table.sweep(self.idle);
        table
    }

    /// Live direct sessions.
    pub fn count(&self) -> usize {
        self.table().sessions.len()
    }

    /// Live direct sessions of `principal`'s, and of every caller but the owner.
    pub(crate) fn counts(&self, principal: Principal) -> (usize, usize) {
        let table = self.table();
        let mine = table.sessions.keys().filter(|k| k.0 == principal).count();
        let guests = table
            .sessions
            .keys()
            .filter(|k| k.0 != Principal::Owner)
            .count();
        (mine, guests)
    }

    /// Bytes of results held for every caller (kept, or on their way to a stream).
    pub fn held_bytes(&self) -> usize {
        self.table().held.values().sum()
    }

    /// Whether `principal` has the live session `id`, and if so whether the server issued its
    /// id (only those get a rate allowance of their own).
    pub(crate) fn server_issued(&self, principal: Principal, id: &str) -> Option<bool> {
        self.table()
            .sessions
            .get(&(principal, id.to_owned()))
            .map(|s| !s.client_named)
    }

    /// Ends `principal`'s session `id`; false if it has no such session.
    pub(crate) fn remove(&self, principal: Principal, id: &str) -> bool {
        let mut table = self.table();
        let Some(s) = table.sessions.remove(&(principal, id.to_owned())) else {
            return false;
        };
        let bytes: usize = s.pending.iter().map(|q| q.message.len()).sum();
        table.release(principal, bytes);
        true
    }

    /// Starts a session for `principal`, under the client's `name` or with an id the server
    /// issues; `Err` if the caller has a session of that name already. Whether the caller may
    /// open one at all is [`super::sessions::Sessions::admit`]'s to say, first.
    pub(crate) fn create(&self, principal: Principal, name: Option<&str>) -> Result<String, ()> {
        let mut table = self.table();
        let id = name.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        let key = (principal, id.clone());
        if table.sessions.contains_key(&key) {
            return Err(());
        }
        table.sessions.insert(
            key,
            DirectSession {
                client_named: name.is_some(),
                pending: VecDeque::new(),
                live: None,
                last: Instant::now(),
            },
        );
        Ok(id)
    }

    /// Marks `principal`'s session `id` active; false if it has no such session.
    fn touch(&self, principal: Principal, id: &str) -> bool {
        match self.table().sessions.get_mut(&(principal, id.to_owned())) {
            Some(s) => {
                s.last = Instant::now();
                true
            }
            None => false,
        }
    }

    /// Delivers a result to the session's stream, or keeps it for when the stream opens —
    /// within the caller's share of result bytes: the oldest kept results go first, and a
    /// stream whose reader has let its share fill up is ended (it may reconnect).
    fn deliver(&self, principal: Principal, id: &str, message: Bytes) {
        let mut table = self.table();
        let key = (principal, id.to_owned());
        if !table.sessions.contains_key(&key) {
            return;
        }
        table.add(principal, message.len());
        table.trim(&key);
        let over = !table.cap(principal);
        let s = table.sessions.get_mut(&key).expect("checked above");
        let keep = match s.live.as_ref() {
            Some(live) if !over => match live.try_send(message) {
                Ok(()) => None,
                Err(mpsc::error::TrySendError::Full(m))
                | Err(mpsc::error::TrySendError::Closed(m)) => {
                    // The reader stopped reading (or left): drop its stream, keep the result.
                    s.live = None;
                    Some(m)
                }
            },
            Some(_) => {
                s.live = None;
                Some(message)
            }
            None => Some(message),
        };
        if let Some(message) = keep {
            s.pending.push_back(Queued {
                message,
                at: Instant::now(),
            });
        }
        table.trim(&key);
    }

    /// Puts results a closed stream never sent back in front of the session's queue (they are
    /// older than anything queued since), within the same bounds.
    fn requeue(&self, principal: Principal, id: &str, unsent: Vec<Bytes>) {
        let mut table = self.table();
        let key = (principal, id.to_owned());
        let Some(s) = table.sessions.get_mut(&key) else {
            let bytes = unsent.iter().map(Bytes::len).sum();
            table.release(principal, bytes);
            return;
        };
        for message in unsent.into_iter().rev() {
            s.pending.push_front(Queued {
                message,
                at: Instant::now(),
            });
        }
        table.trim(&key);
    }

    /// A stream took a result: its bytes are the server's no more.
    fn taken(&self, principal: Principal, bytes: usize) {
        self.table
            .lock()
            .expect("direct sessions")
            .release(principal, bytes);
    }

    /// Opens `principal`'s session stream (replacing an older one), starting with kept results.
    fn open(&self, principal: Principal, id: &str) -> Option<mpsc::Receiver<Bytes>> {
        let mut table = self.table();
        let s = table.sessions.get_mut(&(principal, id.to_owned()))?;
        let (tx, rx) = mpsc::channel(STREAM_BUFFER.max(PENDING));
        for q in s.pending.drain(..) {
            let _ = tx.try_send(q.message);
        }
        s.live = Some(tx);
        s.last = Instant::now();
        Some(rx)
    }
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
    let sessions = &state.sessions;
    let session_id = match session {
        Some(s) if rmcp_session => s.to_owned(),
        Some(s) if sessions.direct.touch(principal, s) => s.to_owned(),
        name => {
            if let Err(full) = sessions.admit(principal).await {
                return super::limits::too_many_sessions(full);
            }
            match sessions.direct.create(principal, name) {
                Ok(id) => id,
                // The caller's own session of that name appeared meanwhile: use it.
                Err(()) => name.unwrap_or_default().to_owned(),
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
        state,
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
                let direct = sessions.direct.clone();
                let (sid, rid, name) = (session_id.clone(), id.clone(), method.to_owned());
                tokio::spawn(async move {
                    if let Ok(outcome) = task.await {
                        let late = serialised(&answer(&rid, &name, limit, outcome));
                        direct.deliver(principal, &sid, late);
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
    let response = serialised(&response);
    if !rmcp_session {
        sessions
            .direct
            .deliver(principal, &session_id, response.clone());
    }
    let mut resp = (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        response,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&session_id) {
        resp.headers_mut().insert("mcp-session-id", v);
    }
    resp
}

/// A JSON-RPC message as the bytes that are both answered and kept for the stream.
fn serialised(message: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(message).expect("JSON values serialise"))
}

/// A session's results on their way to its stream. When the stream goes (the client left, or
/// fell behind), results not yet written go back to the session's queue for the next stream.
struct Results {
    rx: mpsc::Receiver<Bytes>,
    sessions: std::sync::Arc<DirectSessions>,
    principal: Principal,
    id: String,
}

impl futures::Stream for Results {
    type Item = Bytes;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Bytes>> {
        let next = self.rx.poll_recv(cx);
        if let std::task::Poll::Ready(Some(m)) = &next {
            self.sessions.taken(self.principal, m.len());
        }
        next
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
            self.sessions.requeue(self.principal, &self.id, unsent);
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
    let Some(rx) = state.sessions.direct.open(owner, session) else {
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
        sessions: state.sessions.direct.clone(),
        principal: owner,
        id: session.to_owned(),
    }
    .map(|m| {
        let mut event = Vec::with_capacity(m.len() + 8);
        event.extend_from_slice(b"data: ");
        event.extend_from_slice(&m);
        event.extend_from_slice(b"\n\n");
        Bytes::from(event)
    });
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
