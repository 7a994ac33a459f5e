//! What every handler of the demo uses: Coda's error body, paging with Coda's tokens, the
//! doc and table lookups, the write queue (mutations applied after a delay) and JSON bodies.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::model::{Doc, Table, Workspace};
use super::state::{DemoState, Mutation};

pub(super) type Shared = Arc<DemoState>;
pub(super) type Params = BTreeMap<String, String>;

/// An error the demo answers with, rendered as Coda's error body
/// `{statusCode, statusMessage, message, codaDetail?}`.
pub(super) struct ApiError {
    status: StatusCode,
    message: String,
    validation: Option<(String, String)>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"statusCode": self.status.as_u16(),
            "statusMessage": self.status.canonical_reason().unwrap_or(""), "message": self.message});
        if let Some((path, message)) = self.validation {
            body["codaDetail"] = json!({"validationErrors": [{"path": path, "message": message}]});
        }
        (self.status, Json(body)).into_response()
    }
}

pub(super) fn coda_error(status: StatusCode, message: &str) -> ApiError {
    ApiError {
        status,
        message: message.to_owned(),
        validation: None,
    }
}

pub(super) fn validation_error(path: &str, message: &str) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        message: message.to_owned(),
        validation: Some((path.to_owned(), message.to_owned())),
    }
}

pub(super) struct Paging {
    pub params: Params,
    pub offset: usize,
    pub limit: usize,
}

/// With `pageToken`, Coda ignores every other query parameter: the token carries them.
pub(super) fn paging(state: &DemoState, raw: Params) -> Result<Paging, ApiError> {
    let (params, offset) = match raw.get("pageToken") {
        Some(token) => decode_token(token)
            .ok_or_else(|| coda_error(StatusCode::BAD_REQUEST, "Invalid page token."))?,
        None => (raw, 0),
    };
    let limit = match params.get("limit") {
        None => state.config.default_page_size,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if n >= 1 => n as usize,
            _ => {
                return Err(validation_error(
                    "limit",
                    "limit must be an integer of at least 1",
                ))
            }
        },
    };
    Ok(Paging {
        limit: limit.min(state.config.page_clamp),
        params,
        offset,
    })
}

pub(super) fn encode_token(params: &Params, offset: usize) -> String {
    to_hex_json(&json!({"o": offset, "p": params}))
}

/// An opaque token: JSON, hex-encoded (Coda's tokens are opaque too).
pub(super) fn to_hex_json(value: &Value) -> String {
    value
        .to_string()
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The JSON inside a [`to_hex_json`] token of at most `max` characters.
pub(super) fn from_hex_json(token: &str, max: usize) -> Option<Value> {
    if !token.len().is_multiple_of(2) || token.len() > max {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect();
    serde_json::from_slice(&bytes?).ok()
}

fn decode_token(token: &str) -> Option<(Params, usize)> {
    let v = from_hex_json(token, 8192)?;
    let params = serde_json::from_value(v["p"].clone()).ok()?;
    Some((params, v["o"].as_u64()? as usize))
}

pub(super) fn page_of(items: Vec<Value>, paging: &Paging, href: &str) -> Value {
    let total = items.len();
    let end = (paging.offset + paging.limit).min(total);
    let page: Vec<Value> = items
        .into_iter()
        .skip(paging.offset)
        .take(paging.limit)
        .collect();
    let mut body = json!({"items": page, "href": href});
    if end < total {
        let token = encode_token(&paging.params, end);
        body["nextPageLink"] = json!(format!("{href}?pageToken={token}"));
        body["nextPageToken"] = json!(token);
    }
    body
}

pub(super) fn bool_param(params: &Params, key: &str) -> Result<Option<bool>, ApiError> {
    match params.get(key).map(String::as_str) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(validation_error(
            key,
            &format!("{key} must be true or false"),
        )),
    }
}

// ---------------------------------------------------------------- lookups

pub(super) fn with_doc<T>(
    state: &DemoState,
    doc_id: &str,
    f: impl FnOnce(&Workspace, &Doc) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let ws = state.workspace.lock().expect("workspace");
    let doc = ws.docs.iter().find(|d| d.id == doc_id).ok_or_else(|| {
        coda_error(
            StatusCode::NOT_FOUND,
            &format!("Doc '{doc_id}' could not be found."),
        )
    })?;
    f(&ws, doc)
}

pub(super) fn find_table<'a>(doc: &'a Doc, table: &str) -> Result<&'a Table, ApiError> {
    doc.table(table).ok_or_else(|| {
        coda_error(
            StatusCode::NOT_FOUND,
            &format!("Table '{table}' could not be found."),
        )
    })
}

pub(super) fn respond(result: Result<Value, ApiError>) -> Response {
    match result {
        Ok(v) => Json(v).into_response(),
        Err(r) => r.into_response(),
    }
}

pub(super) fn new_id(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{}", &id[..10])
}

/// Registers a mutation of `doc` (none for a new doc or a folder) and applies `change`
/// after the configured delay, like Coda's queue.
pub(super) fn enqueue(
    s: &Shared,
    doc: Option<String>,
    change: impl FnOnce(&mut Workspace) + Send + 'static,
) -> String {
    enqueue_warning(s, doc, move |ws| {
        change(ws);
        None
    })
}

/// [`enqueue`] for a change that may come with a warning, which the mutation status then
/// carries (`{completed: true, warning}`), as Coda's does.
pub(super) fn enqueue_warning(
    s: &Shared,
    doc: Option<String>,
    change: impl FnOnce(&mut Workspace) -> Option<String> + Send + 'static,
) -> String {
    let request_id = format!("mutate:{}", uuid::Uuid::new_v4());
    s.mutations.lock().expect("mutations").insert(
        request_id.clone(),
        Mutation {
            created: tokio::time::Instant::now(),
            completed: false,
            doc,
            warning: None,
        },
    );
    let state = s.clone();
    let id = request_id.clone();
    tokio::spawn(async move {
        tokio::time::sleep(state.config.write_delay).await;
        let warning = change(&mut state.workspace.lock().expect("workspace"));
        if let Some(m) = state.mutations.lock().expect("mutations").get_mut(&id) {
            m.completed = true;
            m.warning = warning;
        }
    });
    request_id
}

/// Whether a write to `doc` is accepted but not yet applied: Coda's copy of the doc is then
/// behind, and a read asking for the latest version (`X-Coda-Doc-Version: latest`) gets 400.
pub(super) fn doc_is_behind(s: &DemoState, doc: &str) -> bool {
    s.mutations
        .lock()
        .expect("mutations")
        .values()
        .any(|m| !m.completed && m.doc.as_deref() == Some(doc))
}

pub(super) fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(super) fn json_body(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        coda_error(
            StatusCode::BAD_REQUEST,
            &format!("Request body is not valid JSON: {e}"),
        )
    })
}

/// Coda's 404 for a `what` named `id`.
pub(super) fn not_found(what: &str, id: &str) -> ApiError {
    coda_error(
        StatusCode::NOT_FOUND,
        &format!("{what} '{id}' could not be found."),
    )
}

/// Coda's 202 for a queued write.
pub(super) fn accepted(body: Value) -> Response {
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

/// A 200 with `body`.
pub(super) fn ok(body: Value) -> Response {
    Json(body).into_response()
}

/// The doc to change, or its 404.
pub(super) fn doc_mut<'a>(ws: &'a mut Workspace, doc: &str) -> Result<&'a mut Doc, ApiError> {
    ws.doc_mut(doc).ok_or_else(|| not_found("Doc", doc))
}

/// Runs `f` on the locked workspace and answers 200 with its value, or its error.
pub(super) fn mutate_now(
    s: &Shared,
    f: impl FnOnce(&mut Workspace) -> Result<Value, ApiError>,
) -> Response {
    let mut ws = s.workspace.lock().expect("workspace");
    match f(&mut ws) {
        Ok(v) => ok(v),
        Err(e) => e.into_response(),
    }
}

/// A JSON body; an empty one is `{}`.
pub(super) fn body_of(body: &Bytes) -> Result<Value, ApiError> {
    if body.is_empty() {
        Ok(json!({}))
    } else {
        json_body(body)
    }
}
