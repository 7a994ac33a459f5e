//! ChatGPT's side door: `POST /actions/{tool}` takes a tool's arguments as the JSON body and
//! answers with its result as JSON (GPT Actions cannot speak MCP), `POST /actions/callTool`
//! reaches every tool by name, and the OpenAPI documents describe them.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{AppState, Caller, MAX_BODY_BYTES};
use crate::coda::CodaError;
use crate::openapi;
use crate::tools::{ToolError, CATALOGUE};

/// ChatGPT gives an action 45 s; answer well before.
const ACTION_DEADLINE: Duration = Duration::from_secs(40);
/// Writes stop waiting early enough to report "still processing" within the deadline.
const ACTION_WRITE_WAIT: Duration = Duration::from_secs(30);

/// `/openapi.json` and `/openapi/mcp.json`: public, no secrets.
pub fn public_routes() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(actions_schema))
        .route("/openapi/mcp.json", get(seed_schema))
}

/// The action routes (authenticated by the caller of this function).
pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/actions/{tool}", post(call))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn actions_schema(State(state): State<AppState>) -> Json<Value> {
    Json(openapi::actions(
        state.engine.catalogue(),
        &state.server_url(),
    ))
}

async fn seed_schema(State(state): State<AppState>) -> Json<Value> {
    Json(openapi::seed_mcp(&state.server_url()))
}

/// An error in the schema's `Error` shape.
pub fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"error": kind, "message": message.into()})),
    )
        .into_response()
}

fn tool_error_response(name: &str, e: ToolError) -> Response {
    let message = format!("{name}: {e}");
    match &e {
        ToolError::InvalidArguments(_) => {
            error(StatusCode::BAD_REQUEST, "invalid_arguments", message)
        }
        ToolError::Unsupported(_) => error(StatusCode::BAD_REQUEST, "unsupported", message),
        ToolError::Coda(c) => match c.status() {
            Some(404) => error(StatusCode::NOT_FOUND, "not_found", message),
            Some(400 | 422) => error(StatusCode::BAD_REQUEST, "coda_rejected", message),
            Some(429) => {
                let mut resp = error(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
                resp
            }
            _ if matches!(c, CodaError::Unreachable(m) if m.contains("timed out")) => {
                error(StatusCode::GATEWAY_TIMEOUT, "timeout", message)
            }
            _ => error(StatusCode::BAD_GATEWAY, "coda_error", message),
        },
    }
}

async fn call(State(state): State<AppState>, Path(route): Path<String>, req: Request) -> Response {
    let caller = req.extensions().get::<Caller>().cloned();
    let body = <Bytes as axum::extract::FromRequest<()>>::from_request(req, &()).await;
    let bytes = match body {
        Ok(b) => b,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("The body exceeds {} MiB", MAX_BODY_BYTES >> 20),
            );
        }
        Err(rejection) => return error(StatusCode::BAD_REQUEST, "bad_body", rejection.body_text()),
    };
    let body: Value = if bytes.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_json",
                    format!("The body is not valid JSON: {e}"),
                )
            }
        }
    };
    let (name, args) = if route == "callTool" {
        let Some(name) = body.get("name").and_then(Value::as_str) else {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_arguments",
                "callTool needs {\"name\": <tool>, \"arguments\": {...}}",
            );
        };
        let args = body.get("arguments").cloned().unwrap_or(json!({}));
        if let Some(extra) = body
            .as_object()
            .and_then(|o| o.keys().find(|k| *k != "name" && *k != "arguments"))
        {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_arguments",
                format!("callTool takes only name and arguments, not '{extra}'"),
            );
        }
        (name.to_owned(), args)
    } else {
        (route, body)
    };
    let engine = &state.engine;
    let Some((tool, schema)) = engine.catalogue().get(&name) else {
        let read_only = engine.config().read_only && CATALOGUE.iter().any(|t| t.name == name);
        let message = if read_only {
            format!("Tool '{name}' changes Coda and this server runs in read-only mode")
        } else {
            let hints = engine.catalogue().suggest(&name);
            format!(
                "Unknown tool '{}'{}",
                name.chars().take(80).collect::<String>(),
                if hints.is_empty() {
                    String::new()
                } else {
                    format!("; did you mean {}?", hints.join(", "))
                }
            )
        };
        return error(StatusCode::NOT_FOUND, "unknown_tool", message);
    };
    let mut opts = engine.exec_options();
    opts.wait_timeout = opts.wait_timeout.min(ACTION_WRITE_WAIT);
    engine.session_seen("action", "GPT Action", "", "action");
    let call = crate::engine::ToolCall {
        tool: (tool, schema),
        caller: caller.as_ref(),
        session: "action",
        client: "GPT Action",
    };
    match tokio::time::timeout(ACTION_DEADLINE, engine.run_tool(call, args, &opts)).await {
        Ok(Ok(out)) => Json(out.value).into_response(),
        Ok(Err(e)) => tool_error_response(&name, e),
        Err(_) => error(StatusCode::GATEWAY_TIMEOUT, "timeout", format!("{name} did not finish within {} s; a write may still complete — check before retrying", ACTION_DEADLINE.as_secs())),
    }
}
