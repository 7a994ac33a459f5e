//! ChatGPT's side door: `POST /actions/{tool}` takes a tool's arguments as the JSON body and
//! answers with its result as JSON (GPT Actions cannot speak MCP), `POST /actions/callTool`
//! reaches every tool by name, and the OpenAPI documents describe them.
//!
//! ChatGPT gives a call 45 s and reads at most 100,000 characters, so every call here (and in
//! the ChatGPT direct-call flow, which shares these helpers) works to a deadline it is told
//! about — write waits end, bulk writes stop sending, and what was sent is reported with its
//! `requestId`s — and its answer is cut cleanly to fit, with a note saying how to get the rest.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::answer::error;
use super::body::MAX_BODY_BYTES;
use super::jsonrpc::{depth, MAX_DEPTH};
use super::AppState;
use crate::bounded::{fit, json_len, response_limit, run_bounded, Bounded, BoundedCall};
use crate::caller::Caller;
use crate::coda::CodaError;
use crate::events::SessionKind;
use crate::openapi;
use crate::tools::ToolError;

/// `/openapi.json` and `/openapi/mcp.json`: public, no secrets.
pub fn public_routes() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(actions_schema))
        .route("/openapi/mcp.json", get(direct_call_schema))
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
        &state.engine.catalogue(),
        &state.server_url(),
    ))
}

async fn direct_call_schema(State(state): State<AppState>) -> Json<Value> {
    Json(openapi::direct_call_schema(&state.server_url()))
}

fn tool_error_response(name: &str, e: ToolError) -> Response {
    let message = format!("{name}: {e}");
    match &e {
        ToolError::InvalidArguments(_) => {
            error(StatusCode::BAD_REQUEST, "invalid_arguments", message)
        }
        ToolError::Unsupported(_) => error(StatusCode::BAD_REQUEST, "unsupported", message),
        // Actions carry no cancellation; should one ever come, nothing was sent.
        ToolError::Cancelled => error(StatusCode::CONFLICT, "cancelled", message),
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
    if depth(&body) > MAX_DEPTH {
        return error(
            StatusCode::BAD_REQUEST,
            "too_deep",
            format!("The body is nested deeper than {MAX_DEPTH} levels"),
        );
    }
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
    if engine.catalogue().get(&name).is_none() {
        let message = if let Some(why) = engine.not_offered(&name) {
            why
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
    }
    // An app approved for reading only: refused in HTTP's own terms (RFC 6750 §3.1).
    let writes = engine
        .catalogue()
        .get(&name)
        .is_some_and(|(tool, _)| !tool.is_read_only());
    if writes && caller.as_ref().is_some_and(|c| !c.may_write()) {
        let mut resp = error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("'{name}' changes Coda, and this app was approved for reading only (scope coda:read without coda:write)"),
        );
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(
                "Bearer error=\"insufficient_scope\", scope=\"coda:read coda:write\"",
            ),
        );
        return resp;
    }
    let mut opts = engine.exec_options();
    let limit = response_limit(engine);
    // Lists are cut between items (with a nextPageToken) with room to spare.
    opts.output_budget = limit.saturating_sub(1_000).max(1_000);
    engine.session_seen("action", "GPT Action", "", SessionKind::Action);
    let call = BoundedCall {
        name: &name,
        caller,
        session: "action",
        client: "GPT Action",
    };
    match run_bounded(engine, &state.running, call, args, opts).await {
        Bounded::Done(Ok(out)) => Json(fit(out.value, limit, json_len)).into_response(),
        Bounded::Done(Err(e)) => tool_error_response(&name, e),
        Bounded::StillRunning(_, after) => error(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            format!("still processing: {name} is still running after {} s (Coda is slow or busy). It was not cancelled: a write already sent stays applied and its outcome shows in the dashboard's tool calls; check (e.g. with coda_get_mutation_status or by reading the data) before retrying", after.as_secs()),
        ),
    }
}
