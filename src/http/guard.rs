//! The guard in front of rmcp's `/mcp` service. It exists because clients are messier than the
//! spec: it answers malformed JSON and non-JSON-RPC bodies with proper JSON-RPC errors (rmcp
//! would answer 415 with plain text), caps body size, normalises `Accept` so clients that send
//! `*/*` or only one media type are still served, and turns a one-message SSE answer back into
//! plain JSON for clients that cannot read SSE.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use http_body_util::BodyExt;
use rmcp::model::{ClientJsonRpcMessage, ClientRequest};
use serde_json::{json, Value};

use super::body::MAX_BODY_BYTES;
use super::jsonrpc::{depth, jsonrpc_error, MAX_DEPTH};
use super::sessions::Lookup;
use super::AppState;

/// MCP methods a client may send; anything else with an `id` is "method not found".
const KNOWN_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/roots/list_changed",
    "server/discover",
    "subscriptions/listen",
    "tasks/get",
    "tasks/list",
    "tasks/cancel",
    "tasks/result",
];

/// Methods the 2026-07-28 revision removed: a request of that revision naming one is "method
/// not found" (HTTP 404), however its params look.
const REMOVED_IN_STATELESS: &[&str] = &[
    "initialize",
    "ping",
    "logging/setLevel",
    "resources/subscribe",
    "resources/unsubscribe",
    "tasks/list",
    "tasks/result",
];

/// The first revision without sessions or `initialize` (requests carry their version).
const STATELESS_REVISION: &str = "2026-07-28";

/// Whether a request speaks the stateless revision: its `_meta` names a version from it on,
/// or it carries no session and its `MCP-Protocol-Version` header does.
fn speaks_stateless(obj: &serde_json::Map<String, Value>, header_says: bool) -> bool {
    let meta = obj
        .get("params")
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get("io.modelcontextprotocol/protocolVersion"))
        .and_then(Value::as_str);
    header_says || meta.is_some_and(|v| v >= STATELESS_REVISION)
}

/// A JSON-RPC error to answer with, and the HTTP status to carry it.
pub struct RpcError {
    status: StatusCode,
    id: Value,
    code: i64,
    message: String,
}

impl IntoResponse for RpcError {
    fn into_response(self) -> Response {
        jsonrpc_error(self.status, self.id, self.code, self.message)
    }
}

fn rpc_error(status: StatusCode, id: Value, code: i64, message: impl Into<String>) -> RpcError {
    RpcError {
        status,
        id,
        code,
        message: message.into(),
    }
}

fn accepts(req: &Request, media: &str) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| {
            part.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case(media)
        })
}

/// Checks a POST body and says what is wrong with it, JSON-RPC style.
/// What a well-formed POST body is.
pub enum Message {
    /// A standard MCP message, for rmcp.
    Mcp,
    /// A request whose method is not an MCP method: ChatGPT's direct tool call.
    Direct(Value),
}

/// Classifies a POST body as the guard does: an MCP message, a direct tool call, or the
/// JSON-RPC error code it is rejected with. (Public for the fuzzers.)
pub fn classify_message(bytes: &[u8]) -> Result<Message, i64> {
    check_message(bytes, false).map_err(|e| e.code)
}

/// Checks a POST body; `stateless_header` when the request has no session and its
/// `MCP-Protocol-Version` header names the stateless revision or later.
fn check_message(bytes: &[u8], stateless_header: bool) -> Result<Message, RpcError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        rpc_error(
            StatusCode::BAD_REQUEST,
            Value::Null,
            -32700,
            format!("Parse error: the body is not valid JSON ({e})"),
        )
    })?;
    if value.is_array() {
        return Err(rpc_error(
            StatusCode::BAD_REQUEST,
            Value::Null,
            -32600,
            "Invalid Request: JSON-RPC batches are not supported; send one message per request",
        ));
    }
    if depth(&value) > MAX_DEPTH {
        return Err(rpc_error(
            StatusCode::BAD_REQUEST,
            Value::Null,
            -32600,
            format!("Invalid Request: JSON nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    let Some(obj) = value.as_object() else {
        return Err(rpc_error(
            StatusCode::BAD_REQUEST,
            Value::Null,
            -32600,
            "Invalid Request: expected a JSON-RPC object",
        ));
    };
    let id = obj.get("id").cloned().unwrap_or(Value::Null);
    if !matches!(id, Value::Null | Value::String(_) | Value::Number(_)) {
        return Err(rpc_error(
            StatusCode::BAD_REQUEST,
            Value::Null,
            -32600,
            "Invalid Request: id must be a string or a number",
        ));
    }
    if obj.get("jsonrpc") != Some(&json!("2.0")) {
        return Err(rpc_error(
            StatusCode::BAD_REQUEST,
            id,
            -32600,
            "Invalid Request: \"jsonrpc\" must be the string \"2.0\"",
        ));
    }
    let method = match obj.get("method") {
        Some(Value::String(m)) => Some(m.as_str()),
        Some(_) => {
            return Err(rpc_error(
                StatusCode::BAD_REQUEST,
                id,
                -32600,
                "Invalid Request: \"method\" must be a string",
            ))
        }
        None => None,
    };
    if method.is_none() && !obj.contains_key("result") && !obj.contains_key("error") {
        return Err(rpc_error(
            StatusCode::BAD_REQUEST,
            id,
            -32600,
            "Invalid Request: a request needs a \"method\"",
        ));
    }
    if let Some(method) = method {
        if let Some(params) = obj.get("params") {
            if !params.is_object() {
                return Err(rpc_error(
                    StatusCode::BAD_REQUEST,
                    id,
                    -32602,
                    format!("Invalid params for '{method}': params must be an object"),
                ));
            }
        }
    }
    if let Some(m) = method {
        // The stateless revision has no direct calls and none of the removed methods (an
        // `initialize` naming its own protocolVersion is an older client's, and served).
        let removed = REMOVED_IN_STATELESS.contains(&m)
            && !(m == "initialize"
                && obj
                    .get("params")
                    .is_some_and(|p| p.get("protocolVersion").is_some()));
        if obj.contains_key("id")
            && (removed || !KNOWN_METHODS.contains(&m))
            && speaks_stateless(obj, stateless_header)
        {
            return Err(rpc_error(
                StatusCode::NOT_FOUND,
                id,
                -32601,
                format!("Method not found: '{m}' is not a method of MCP {STATELESS_REVISION}"),
            ));
        }
        if obj.contains_key("id") && !KNOWN_METHODS.contains(&m) {
            return Ok(Message::Direct(value));
        }
    }
    if method.is_some_and(|m| fits_without_typed_check(m, obj)) {
        return Ok(Message::Mcp);
    }
    let method = method.map(str::to_owned);
    match serde_json::from_value::<ClientJsonRpcMessage>(value) {
        Err(e) => {
            let method = method.as_deref().unwrap_or("response");
            Err(rpc_error(
                StatusCode::BAD_REQUEST,
                id,
                -32602,
                format!("Invalid params for '{method}': {e}"),
            ))
        }
        // A known method whose params did not fit its type falls through to rmcp's
        // catch-all "custom request": name the real problem instead.
        Ok(ClientJsonRpcMessage::Request(req))
            if matches!(req.request, ClientRequest::CustomRequest(_)) =>
        {
            let method = method.as_deref().unwrap_or("");
            Err(rpc_error(
                StatusCode::BAD_REQUEST,
                id,
                -32602,
                format!(
                    "Invalid params for '{method}': the params do not match the method's schema"
                ),
            ))
        }
        Ok(_) => Ok(Message::Mcp),
    }
}

/// Whether a request of a hot method is certain to decode as rmcp's typed message, judged
/// from its shape alone. rmcp decodes every body again itself, so for the calls that make
/// up nearly all traffic (`tools/call`, `ping`) the guard's own typed decode — the costliest
/// part of its check — would only repeat work; anything less plain gets the full check,
/// which names the problem precisely.
fn fits_without_typed_check(method: &str, obj: &serde_json::Map<String, Value>) -> bool {
    if !obj.contains_key("id") {
        return false;
    }
    let params = obj.get("params").and_then(Value::as_object);
    let meta_ok = |p: &serde_json::Map<String, Value>| p.get("_meta").is_none_or(Value::is_object);
    match method {
        "ping" => obj.get("params").is_none() || params.is_some_and(meta_ok),
        "tools/call" => params.is_some_and(|p| {
            p.get("name").is_some_and(Value::is_string)
                && p.get("arguments").is_none_or(Value::is_object)
                && meta_ok(p)
                && p.keys()
                    .all(|k| matches!(k.as_str(), "name" | "arguments" | "_meta"))
        }),
        _ => false,
    }
}

/// The middleware itself.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let session = req
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // Direct-call sessions (see direct.rs) are the caller's own: a name another caller uses
    // is simply not found for this one.
    let principal = super::session_gate::principal_of(&req);
    let lookup = match session.as_deref() {
        Some(s) => match req.extensions().get::<Lookup>() {
            Some(known) => Some(*known),
            None => Some(state.sessions.lookup(s, principal).await),
        },
        None => None,
    };
    let direct = matches!(lookup, Some(Lookup::Direct { .. }));
    match *req.method() {
        Method::POST => guard_post(state, req, next).await,
        // A stream or an end for a session this caller does not have: the same JSON-RPC 404
        // whether it never existed, expired, or is someone else's.
        Method::GET | Method::DELETE
            if matches!(lookup, Some(Lookup::Unknown | Lookup::NotYours)) =>
        {
            super::jsonrpc::session_not_found()
        }
        Method::GET if direct => counted(
            &state,
            session.as_deref(),
            super::direct::stream(
                &state,
                session.as_deref().unwrap_or(""),
                principal,
                state.shutdown.clone(),
            ),
        ),
        Method::DELETE if direct => {
            if state
                .sessions
                .direct
                .remove(principal, session.as_deref().unwrap_or(""))
            {
                StatusCode::OK.into_response()
            } else {
                super::jsonrpc::session_not_found()
            }
        }
        Method::GET => {
            let mut req = req;
            if !accepts(&req, "text/event-stream") {
                req.headers_mut().insert(
                    header::ACCEPT,
                    HeaderValue::from_static("text/event-stream"),
                );
            }
            let response = in_json(next.run(req).await, Value::Null).await;
            counted(&state, session.as_deref(), response)
        }
        Method::DELETE => {
            // rmcp answers a successful DELETE with 202; clients (the Python SDK among them)
            // expect 200/204 for "session ended", as the TypeScript reference server sends.
            let mut response = in_json(next.run(req).await, Value::Null).await;
            if response.status() == StatusCode::ACCEPTED {
                *response.status_mut() = StatusCode::OK;
            }
            response
        }
        _ => next.run(req).await,
    }
}

/// Counts an open `GET /mcp` stream for the dashboard's Sessions view while its body lives.
fn counted(state: &AppState, session: Option<&str>, response: Response) -> Response {
    let is_stream = response.status() == StatusCode::OK
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("text/event-stream"));
    let Some(session) = session.filter(|_| is_stream) else {
        return response;
    };
    let open = OpenStream::new(state.engine.clone(), session);
    let (parts, body) = response.into_parts();
    let body = body.into_data_stream().map(move |chunk| {
        let _held = &open;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(body))
}

/// +1 on the session's open streams now, -1 when dropped (the client went away or the
/// stream ended).
struct OpenStream {
    engine: crate::Engine,
    session: String,
}

impl OpenStream {
    fn new(engine: crate::Engine, session: &str) -> Self {
        engine.events().stream_change(session, 1);
        OpenStream {
            engine,
            session: session.to_owned(),
        }
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.engine.events().stream_change(&self.session, -1);
    }
}

async fn guard_post(state: AppState, req: Request, next: Next) -> Response {
    let wants_sse = accepts(&req, "text/event-stream");
    let (mut parts, body) = req.into_parts();
    let bytes: Bytes = match http_body_util::Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return jsonrpc_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                Value::Null,
                -32600,
                format!(
                    "Request body exceeds the {} MiB limit",
                    MAX_BODY_BYTES / (1024 * 1024)
                ),
            );
        }
        Err(e) => {
            return jsonrpc_error(
                StatusCode::BAD_REQUEST,
                Value::Null,
                -32700,
                format!("Could not read the request body: {e}"),
            )
        }
    };
    let stateless_header = !parts.headers.contains_key("mcp-session-id")
        && parts
            .headers
            .get("mcp-protocol-version")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v >= STATELESS_REVISION);
    match check_message(&bytes, stateless_header) {
        Err(rejection) => return rejection.into_response(),
        Ok(Message::Direct(message)) => {
            let session = parts
                .headers
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let rmcp_session = match &session {
                Some(s) => state.sessions.is_mcp(s).await,
                None => false,
            };
            let caller = parts.extensions.get::<crate::caller::Caller>();
            return super::direct::call(&state, caller, &message, session.as_deref(), rmcp_session)
                .await;
        }
        Ok(Message::Mcp) => {}
    }
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.insert(
        header::ACCEPT,
        HeaderValue::from_static("application/json, text/event-stream"),
    );
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes.clone())))
        .await;
    if response.status().is_client_error() {
        let id = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|m| m.get("id").cloned())
            .unwrap_or(Value::Null);
        return in_json(response, id).await;
    }
    let is_sse = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !is_sse || response.status() != StatusCode::OK {
        return response;
    }
    if wants_sse {
        return in_one_write(response).await;
    }
    sse_to_json(response).await
}

/// rmcp refuses some requests in plain text (`Not Found: Session not found`, `Bad Request:
/// Session ID is required`): those become JSON-RPC errors with the same status, as every
/// other refusal is, with `id` the request's and a message that says what to do.
async fn in_json(response: Response, id: Value) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if !response.status().is_client_error() || is_json {
        return response;
    }
    let status = response.status();
    let said = http_body_util::Limited::new(response.into_body(), 4096)
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).trim().to_owned())
        .unwrap_or_default();
    match status {
        StatusCode::NOT_FOUND => {
            jsonrpc_error(status, id, -32001, super::jsonrpc::SESSION_NOT_FOUND)
        }
        StatusCode::BAD_REQUEST if said.contains("Session ID is required") => jsonrpc_error(
            status,
            id,
            -32600,
            "Bad Request: this request needs an Mcp-Session-Id header: send initialize first (without one); its answer's Mcp-Session-Id header names the session to send on every later request",
        ),
        _ => jsonrpc_error(
            status,
            id,
            -32600,
            if said.is_empty() {
                status.to_string()
            } else {
                said
            },
        ),
    }
}

/// How long an SSE answer's head is held back for the answer itself.
const ANSWER_HOLD: std::time::Duration = std::time::Duration::from_millis(20);

/// An SSE answer to a POST goes out in as few writes as it can: rmcp opens the stream with a
/// priming event and writes the answer once the tool is done, so the response head would go
/// out on its own, a few milliseconds before the answer (two writes, and two reads for the
/// client, where a JSON answer needs one). The head is held until the answer is there (at
/// most [`ANSWER_HOLD`], so a long call still gets its head and priming event at once), and
/// an answer whose stream has ended by then is sent whole, with a `Content-Length`: head,
/// priming event and answer in one write.
async fn in_one_write(response: Response) -> Response {
    use futures::FutureExt;
    let (mut parts, body) = response.into_parts();
    let mut stream = body.into_data_stream();
    let mut held: Vec<u8> = Vec::new();
    let deadline = tokio::time::Instant::now() + ANSWER_HOLD;
    let mut ended = false;
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(chunk))) => {
                held.extend_from_slice(&chunk);
                // A message event (the answer, or a notification before it): stop holding.
                if held.windows(7).any(|w| w == b"data: {") {
                    break;
                }
            }
            Ok(Some(Err(_))) | Ok(None) => {
                ended = true;
                break;
            }
            Err(_) => break,
        }
    }
    if !ended {
        // rmcp ends an answer's stream right after the answer: take that end if it is there.
        match stream.next().now_or_never() {
            Some(None) => ended = true,
            Some(Some(Ok(chunk))) => held.extend_from_slice(&chunk),
            Some(Some(Err(_))) | None => {}
        }
    }
    if ended {
        parts.headers.remove(header::TRANSFER_ENCODING);
        return Response::from_parts(parts, Body::from(held));
    }
    let rest = futures::stream::once(async move { Ok(Bytes::from(held)) }).chain(stream);
    Response::from_parts(parts, Body::from_stream(rest))
}

/// Reads an SSE response until the JSON-RPC response arrives and returns it as plain JSON.
/// The answer is recognised by its shape (an `id` with a `result` or an `error`) and passed
/// on as rmcp wrote it: no second parse into a value and no second serialisation.
async fn sse_to_json(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let mut stream = body.into_data_stream();
    let mut buffer: Vec<u8> = Vec::new();
    // How far the buffer has been searched for an event's end (large answers come in chunks).
    let mut searched: usize = 0;
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else { break };
        buffer.extend_from_slice(&chunk);
        while let Some(end) = find_event_end(&buffer, searched.saturating_sub(1)) {
            searched = 0;
            let event: Vec<u8> = buffer.drain(..end + 2).collect();
            let Some(data) = event_data(&event) else {
                continue;
            };
            if is_response(&data) {
                parts.headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                parts.headers.remove(header::CONTENT_LENGTH);
                parts.headers.remove(header::CACHE_CONTROL);
                return Response::from_parts(parts, Body::from(data));
            }
        }
        searched = buffer.len();
    }
    jsonrpc_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        Value::Null,
        -32603,
        "Internal error: the server closed the stream before answering",
    )
}

/// Where the first SSE event in `buffer` ends (the blank line that closes it), searching from
/// `from` on (what was searched before held no event end).
fn find_event_end(buffer: &[u8], from: usize) -> Option<usize> {
    buffer
        .get(from..)?
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| from + i)
}

/// An SSE event's data: its `data:` lines joined by newlines, or `None` for an event with no
/// data (rmcp's priming event, comments).
fn event_data(event: &[u8]) -> Option<Vec<u8>> {
    let mut data: Option<Vec<u8>> = None;
    for line in event.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(rest) = line.strip_prefix(b"data:") else {
            continue;
        };
        let rest = rest.strip_prefix(b" ").unwrap_or(rest);
        match &mut data {
            Some(d) => {
                d.push(b'\n');
                d.extend_from_slice(rest);
            }
            None => data = Some(rest.to_vec()),
        }
    }
    data.filter(|d| !d.is_empty())
}

/// Whether an SSE payload is a JSON-RPC response: an `id` with a `result` or an `error`
/// (notifications and server requests also travel on the stream). Parsed into a shape that
/// skips every value, so nothing is allocated.
fn is_response(data: &[u8]) -> bool {
    /// A member that is there, whatever its value (`"id": null` included).
    #[derive(Default)]
    struct Present(bool);
    impl<'de> serde::Deserialize<'de> for Present {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            serde::de::IgnoredAny::deserialize(d)?;
            Ok(Present(true))
        }
    }
    #[derive(serde::Deserialize)]
    struct Shape {
        #[serde(default)]
        id: Present,
        #[serde(default)]
        result: Present,
        #[serde(default)]
        error: Present,
    }
    serde_json::from_slice::<Shape>(data).is_ok_and(|s| s.id.0 && (s.result.0 || s.error.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> Option<i64> {
        let resp = match check_message(body.as_bytes(), false) {
            Err(e) => e.into_response(),
            Ok(Message::Direct(_)) => return Some(-1),
            Ok(Message::Mcp) => return None,
        };
        let bytes = futures::executor::block_on(resp.into_body().collect())
            .ok()?
            .to_bytes();
        serde_json::from_slice::<Value>(&bytes).ok()?["error"]["code"].as_i64()
    }

    #[test]
    fn classifies_bad_messages() {
        assert_eq!(code("{not json"), Some(-32700));
        assert_eq!(code("[]"), Some(-32600));
        assert_eq!(code("42"), Some(-32600));
        assert_eq!(code(r#"{"id":1,"method":"ping"}"#), Some(-32600));
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":1}"#), Some(-32600));
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"method":"no/such"}"#),
            Some(-1),
            "not an MCP method: handled as a direct tool call"
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[1]}"#),
            Some(-32602)
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}}"#),
            Some(-32602)
        );
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#), None);
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(
            code(&format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"x":{deep}}}}}"#
            )),
            Some(-32600)
        );
    }

    #[test]
    fn the_fast_path_accepts_only_what_the_full_check_accepts() {
        let bodies = [
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{"progressToken":1}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":3}}"#,
            r#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"x"}}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x","arguments":{"a":[1,{"b":null}]}}}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x","arguments":null}}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x","arguments":[1]}}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":5}}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x","task":{"ttl":5}}}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x","_meta":{"k":1}}}"#,
            r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"x"}}"#,
        ];
        let mut fast = 0;
        for body in bodies {
            let value: Value = serde_json::from_str(body).unwrap();
            let obj = value.as_object().unwrap();
            let method = obj["method"].as_str().unwrap();
            if fits_without_typed_check(method, obj) {
                fast += 1;
                let typed = serde_json::from_value::<ClientJsonRpcMessage>(value.clone());
                assert!(
                    matches!(&typed, Ok(ClientJsonRpcMessage::Request(r))
                        if !matches!(r.request, ClientRequest::CustomRequest(_))),
                    "{body} took the fast path but the typed decode says {typed:?}"
                );
            }
            // Either way the guard's verdict is the full check's verdict.
            assert_eq!(
                code(body),
                full_check_code(body),
                "{body}: fast path and full check disagree"
            );
        }
        assert_eq!(fast, 6, "the plain bodies take the fast path");
    }

    /// The verdict of the full check alone (no fast path), for comparison.
    fn full_check_code(body: &str) -> Option<i64> {
        let value: Value = serde_json::from_str(body).unwrap();
        match serde_json::from_value::<ClientJsonRpcMessage>(value) {
            Ok(ClientJsonRpcMessage::Request(r))
                if !matches!(r.request, ClientRequest::CustomRequest(_)) =>
            {
                None
            }
            Ok(ClientJsonRpcMessage::Notification(_)) => None,
            _ => Some(-32602),
        }
    }

    #[test]
    fn sse_answers_are_found_and_passed_on_as_written() {
        assert_eq!(find_event_end(b"data: 1\n\ndata: 2\n\n", 0), Some(7));
        assert_eq!(find_event_end(b"data: 1\n\ndata: 2\n\n", 8), Some(16));
        assert_eq!(find_event_end(b"data: 1\n", 0), None);
        assert_eq!(find_event_end(b"ab", 5), None);
        // rmcp's priming event carries an id and empty data: no payload.
        assert_eq!(event_data(b"id: 0\nretry: 3000\ndata:\n\n"), None);
        assert_eq!(event_data(b": keep-alive\n\n"), None);
        assert_eq!(
            event_data(b"id: 1\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\n").as_deref(),
            Some(&b"{\"a\":\n1}"[..])
        );
        let answer = br#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"{\"id\":1}"}]}}"#;
        assert!(is_response(answer));
        assert!(is_response(
            br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#
        ));
        assert!(!is_response(
            br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}"#
        ));
        assert!(!is_response(
            br#"{"jsonrpc":"2.0","id":3,"method":"sampling/createMessage","params":{}}"#
        ));
        assert!(!is_response(b"not json"));
        // The answer goes out byte for byte as rmcp wrote it.
        let event = [&b"id: 2\ndata: "[..], answer, b"\n\n"].concat();
        assert_eq!(event_data(&event).as_deref(), Some(&answer[..]));
    }
}
