//! JSON-RPC over HTTP: the error answers every layer in front of the MCP handler gives (with
//! an HTTP status), and the limits a message is held to before anything parses it further.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// Deepest JSON nesting accepted (serde_json stops at 128 anyway; we answer clearly first).
pub const MAX_DEPTH: usize = 64;

/// A JSON-RPC error response with an HTTP status.
pub fn jsonrpc_error(
    status: StatusCode,
    id: Value,
    code: i64,
    message: impl Into<String>,
) -> Response {
    let body =
        json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message.into()}});
    (status, Json(body)).into_response()
}

/// How deeply `v` nests.
pub fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// What a client is told about a session that does not exist for it.
pub const SESSION_NOT_FOUND: &str = "Session not found (unknown or expired): start a new session by sending the request without an Mcp-Session-Id header";

/// The 404 for a session that does not exist for this caller — the same answer whether it
/// never existed, expired, or belongs to someone else.
pub fn session_not_found() -> Response {
    jsonrpc_error(
        StatusCode::NOT_FOUND,
        Value::Null,
        -32001,
        SESSION_NOT_FOUND,
    )
}

/// The 503 when a caller may not open another session.
pub fn too_many_sessions(why: impl std::fmt::Display) -> Response {
    let message = why.to_string();
    let mut resp = jsonrpc_error(
        StatusCode::SERVICE_UNAVAILABLE,
        Value::Null,
        -32000,
        message,
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
    resp
}
