//! The ChatGPT direct-call flow beside standard MCP: a JSON-RPC request whose
//! `method` is a tool name runs that tool — with or without `initialize` — and answers with
//! the JSON-RPC result and an `Mcp-Session-Id`; the same result is also delivered as a
//! `data:` event on `GET /mcp` for that session, with `:keep-alive` comments while idle.
//!
//! A request without an id starts a session with an id the server issues. The flow's own
//! step 4 has ChatGPT name the session itself on its first POST: a name the caller
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
//! no stream collects expire after two minutes, and a reader that lets its share fill up
//! loses its stream (and may reconnect) — never the server's memory. Every call answers
//! within the call deadline and under ChatGPT's 100,000 characters, like the GPT Action
//! routes.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::direct_sessions::Results;
use super::jsonrpc::jsonrpc_error;
use super::AppState;
use crate::bounded::{fit, response_limit, run_bounded, Bounded, BoundedCall};
use crate::caller::{Caller, Principal};
use crate::events::SessionKind;
use crate::mcp::{error_result, success_result};

/// Lists are cut (with a `nextPageToken`) at this many characters, because the answer carries
/// the result twice (text and `structuredContent`) and must stay under ChatGPT's limit.
const LIST_BUDGET: usize = 40_000;

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
    // nobody holds starts a session under that name (the flow's step 4); without an id, a
    // new session starts with one the server issues.
    let sessions = &state.sessions;
    let session_id = match session {
        Some(s) if rmcp_session => s.to_owned(),
        Some(s) if sessions.direct.touch(principal, s) => s.to_owned(),
        name => {
            if let Err(full) = sessions.admit(principal).await {
                return super::jsonrpc::too_many_sessions(full);
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
        if rmcp_session {
            SessionKind::Mcp
        } else {
            SessionKind::Direct
        },
    );
    let mut opts = engine.exec_options();
    let limit = response_limit(engine);
    opts.output_budget = LIST_BUDGET.min(limit / 2);
    let call = BoundedCall {
        name: method,
        caller: caller.cloned(),
        session: &session_id,
        client: "direct call",
    };
    let bounded = run_bounded(engine, &state.running, call, params, opts).await;
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

/// `GET /mcp` for a direct session: its results as `data:` events, `:keep-alive` while idle.
pub(crate) fn stream(
    state: &AppState,
    session: &str,
    owner: Principal,
    shutdown: CancellationToken,
) -> Response {
    let Some(rx) = state.sessions.direct.open(owner, session) else {
        return super::jsonrpc::session_not_found();
    };
    let keep_alive = state.engine.config().sse_keep_alive;
    // Written by hand rather than with axum's `Sse`, whose comments read ": keep-alive": the
    // direct-call flow's clients expect exactly ":keep-alive".
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
