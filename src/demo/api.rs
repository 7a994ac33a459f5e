//! HTTP routes of the demo workspace, in Coda's shapes.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::model::{Cell, ColumnType, Doc, Table, ValueFormat, Workspace};
use super::sample::PEOPLE;
use super::{admin, DemoState, Mutation};
use crate::coda::{Pacer, RateClass};

pub(super) type Shared = Arc<DemoState>;
pub(super) type Params = BTreeMap<String, String>;

/// Coda's 2 MB request limit.
const MAX_REQUEST_BYTES: usize = 2 * 1024 * 1024;
/// Coda's 85 KB row limit.
const MAX_ROW_BYTES: usize = 85 * 1024;

pub(super) fn router(state: Shared) -> Router {
    let api = Router::new()
        .route("/whoami", get(whoami))
        .route("/docs", get(list_docs).post(admin::create_doc))
        .route(
            "/docs/{doc}",
            get(get_doc)
                .delete(admin::delete_doc)
                .patch(admin::update_doc),
        )
        .route("/docs/{doc}/tables", get(list_tables))
        .route("/docs/{doc}/tables/{table}", get(get_table))
        .route("/docs/{doc}/tables/{table}/columns", get(list_columns))
        .route(
            "/docs/{doc}/tables/{table}/columns/{column}",
            get(get_column),
        )
        .route(
            "/docs/{doc}/tables/{table}/rows",
            get(list_rows).post(upsert_rows).delete(admin::delete_rows),
        )
        .route(
            "/docs/{doc}/tables/{table}/rows/{row}",
            get(get_row).put(update_row).delete(admin::delete_row),
        )
        .route("/mutationStatus/{id}", get(mutation_status))
        .merge(super::pages::routes())
        .merge(super::admin::routes())
        .fallback(|| async {
            coda_error(StatusCode::NOT_FOUND, "This endpoint does not exist.").into_response()
        })
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state.clone());
    Router::new()
        .nest("/apis/v1", api)
        .route("/blobs/{id}", get(super::pages::download))
        .with_state(state)
}

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

fn rate_class(method: &Method, path: &str) -> RateClass {
    let content_write = path.contains("/pages")
        && (path.ends_with("/content")
            || path.ends_with("/export")
            || (method == Method::POST && path.ends_with("/pages"))
            || method == Method::PUT);
    match *method {
        Method::GET if path.contains("/analytics") => RateClass::Analytics,
        Method::GET if path.ends_with("/docs") => RateClass::ListDocs,
        Method::GET => RateClass::Read,
        _ if content_write => RateClass::DocContentWrite,
        _ => RateClass::Write,
    }
}

/// Authentication, rate limiting, the 2 MB request limit and the write counter.
async fn gate(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let Some(token) = token else {
        return coda_error(StatusCode::UNAUTHORIZED, "Missing or invalid API token.")
            .into_response();
    };
    if token != state.config.token.expose() {
        return coda_error(
            StatusCode::UNAUTHORIZED,
            "The API token is invalid or has been revoked.",
        )
        .into_response();
    }
    state.requests_received.fetch_add(1, Ordering::SeqCst);
    if req.method() == Method::GET && state.take_read_fault(req.uri().path()) {
        // A read that fails before doing anything: safe for a client to retry.
        return coda_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is temporarily unavailable.",
        )
        .into_response();
    }
    if let Some(limits) = state.config.limits {
        let class = rate_class(req.method(), req.uri().path());
        let pacer = state
            .limiters
            .lock()
            .expect("limiters")
            .entry(token)
            .or_insert_with(|| Arc::new(Pacer::new(limits)))
            .clone();
        if let Err(wait) = pacer.try_acquire(class).await {
            state.throttled.fetch_add(1, Ordering::SeqCst);
            let mut resp = coda_error(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests. Please slow down and retry later.",
            )
            .into_response();
            if state.config.retry_after_header {
                let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
                resp.headers_mut()
                    .insert("retry-after", HeaderValue::from(secs));
            }
            return resp;
        }
    }
    if req.method() != Method::GET {
        let too_big = req
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .is_some_and(|n| n > MAX_REQUEST_BYTES);
        if too_big {
            return coda_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request is larger than the 2 MB limit.",
            )
            .into_response();
        }
        state.writes_received.fetch_add(1, Ordering::SeqCst);
        let fail = state
            .fail_writes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if fail {
            // Apply the write, then lose the answer: the worst case for a client.
            let _ = next.run(req).await;
            return coda_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "An unexpected error occurred.",
            )
            .into_response();
        }
    }
    next.run(req).await
}

// ---------------------------------------------------------------- pagination

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

fn encode_token(params: &Params, offset: usize) -> String {
    let raw = json!({"o": offset, "p": params}).to_string();
    raw.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_token(token: &str) -> Option<(Params, usize)> {
    if !token.len().is_multiple_of(2) || token.len() > 8192 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect();
    let v: Value = serde_json::from_slice(&bytes?).ok()?;
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

// ---------------------------------------------------------------- read handlers

async fn whoami(State(s): State<Shared>) -> Response {
    let ws = s.workspace.lock().expect("workspace");
    Json(json!({"name": ws.owner.name, "loginId": ws.owner.email, "type": "user", "scoped": false,
        "tokenName": "Demo token", "href": format!("{}/whoami", s.api_base),
        "pictureLink": "https://cdn.coda.io/avatars/default_avatar.png",
        "workspace": {"id": ws.id, "type": "workspace", "organizationId": "org-demo",
            "browserLink": format!("https://coda.io/docs?workspaceId={}", ws.id), "name": ws.name}})).into_response()
}

async fn list_docs(State(s): State<Shared>, Query(raw): Query<Params>) -> Response {
    respond((|| {
        let paging = paging(&s, raw)?;
        let query = paging.params.get("query").map(|q| q.to_lowercase());
        let is_owner = bool_param(&paging.params, "isOwner")?;
        let folder = paging.params.get("folderId");
        let ws = s.workspace.lock().expect("workspace");
        let items = ws
            .docs
            .iter()
            .filter(|d| {
                query
                    .as_ref()
                    .is_none_or(|q| d.name.to_lowercase().contains(q))
            })
            .filter(|d| folder.is_none_or(|f| &d.folder_id == f))
            .filter(|_| is_owner != Some(false))
            .map(|d| d.to_json(&s.api_base, &ws))
            .collect();
        Ok(page_of(items, &paging, &format!("{}/docs", s.api_base)))
    })())
}

async fn get_doc(State(s): State<Shared>, Path(doc): Path<String>) -> Response {
    respond(with_doc(&s, &doc, |ws, d| Ok(d.to_json(&s.api_base, ws))))
}

async fn list_tables(
    State(s): State<Shared>,
    Path(doc): Path<String>,
    Query(raw): Query<Params>,
) -> Response {
    respond(paging(&s, raw).and_then(|paging| {
        with_doc(&s, &doc, |_, d| {
            let items = d
                .tables
                .iter()
                .map(|t| t.reference(&s.api_base, d))
                .collect();
            Ok(page_of(
                items,
                &paging,
                &format!("{}/docs/{doc}/tables", s.api_base),
            ))
        })
    }))
}

async fn get_table(
    State(s): State<Shared>,
    Path((doc, table)): Path<(String, String)>,
) -> Response {
    respond(with_doc(&s, &doc, |_, d| {
        Ok(find_table(d, &table)?.to_json(&s.api_base, d))
    }))
}

async fn list_columns(
    State(s): State<Shared>,
    Path((doc, table)): Path<(String, String)>,
    Query(raw): Query<Params>,
) -> Response {
    respond(paging(&s, raw).and_then(|paging| {
        with_doc(&s, &doc, |_, d| {
            let t = find_table(d, &table)?;
            let items = t
                .columns
                .iter()
                .map(|c| t.column_json(&s.api_base, &d.id, c))
                .collect();
            Ok(page_of(
                items,
                &paging,
                &format!("{}/docs/{doc}/tables/{table}/columns", s.api_base),
            ))
        })
    }))
}

async fn get_column(
    State(s): State<Shared>,
    Path((doc, table, column)): Path<(String, String, String)>,
) -> Response {
    respond(with_doc(&s, &doc, |_, d| {
        let t = find_table(d, &table)?;
        let c = t.column_index(&column).ok_or_else(|| {
            coda_error(
                StatusCode::NOT_FOUND,
                &format!("Column '{column}' could not be found."),
            )
        })?;
        Ok(t.column_json(&s.api_base, &d.id, &t.columns[c]))
    }))
}

/// Parses Coda's row `query`: `<column id or "quoted name">:<JSON value>`.
fn parse_row_query(t: &Table, query: &str) -> Result<(usize, Value), ApiError> {
    let bad = || {
        validation_error(
            "query",
            "query must look like <column>:<value>, e.g. \"Status\":\"Done\"",
        )
    };
    let (column, rest) = if let Some(stripped) = query.strip_prefix('"') {
        let end = stripped.find("\":").ok_or_else(bad)?;
        (&stripped[..end], &stripped[end + 2..])
    } else {
        query.split_once(':').ok_or_else(bad)?
    };
    let idx = t.column_index(column).ok_or_else(|| {
        validation_error("query", &format!("Unknown column '{column}' in query."))
    })?;
    let value = serde_json::from_str(rest).unwrap_or_else(|_| Value::String(rest.to_owned()));
    Ok((idx, value))
}

fn format_params(params: &Params) -> Result<(ValueFormat, bool), ApiError> {
    let format =
        ValueFormat::parse(params.get("valueFormat").map(String::as_str)).ok_or_else(|| {
            validation_error(
                "valueFormat",
                "valueFormat must be one of simple, simpleWithArrays, rich",
            )
        })?;
    Ok((
        format,
        bool_param(params, "useColumnNames")?.unwrap_or(false),
    ))
}

async fn list_rows(
    State(s): State<Shared>,
    Path((doc, table)): Path<(String, String)>,
    Query(raw): Query<Params>,
) -> Response {
    respond(paging(&s, raw).and_then(|paging| {
        with_doc(&s, &doc, |_, d| {
            let t = find_table(d, &table)?;
            if s.config
                .rows_504_above
                .is_some_and(|max| paging.limit > max)
            {
                return Err(coda_error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "The request timed out. Try a smaller limit.",
                ));
            }
            let p = &paging.params;
            let (format, use_names) = format_params(p)?;
            let visible_only = bool_param(p, "visibleOnly")?;
            let filter = p.get("query").map(|q| parse_row_query(t, q)).transpose()?;
            let mut rows: Vec<_> = t
                .rows
                .iter()
                .filter(|r| filter.as_ref().is_none_or(|(i, v)| r.cells[*i].matches(v)))
                .collect();
            match p.get("sortBy").map(String::as_str) {
                None => {}
                Some("natural") if visible_only == Some(false) => {
                    return Err(validation_error(
                        "sortBy",
                        "sortBy=natural cannot be used with visibleOnly=false",
                    ));
                }
                Some("natural") => rows.sort_by_key(|r| r.index),
                Some("createdAt") => rows.sort_by(|a, b| a.created_at.cmp(&b.created_at)),
                Some("updatedAt") => rows.sort_by(|a, b| a.updated_at.cmp(&b.updated_at)),
                Some(_) => {
                    return Err(validation_error(
                        "sortBy",
                        "sortBy must be one of createdAt, natural, updatedAt",
                    ))
                }
            }
            let items = rows
                .into_iter()
                .map(|r| t.row_json(&s.api_base, &d.id, r, format, use_names, false))
                .collect();
            let mut body = page_of(
                items,
                &paging,
                &format!("{}/docs/{doc}/tables/{table}/rows", s.api_base),
            );
            if body.get("nextPageToken").is_none() {
                body["nextSyncToken"] = json!(encode_token(&Params::new(), t.rows.len()));
            }
            Ok(body)
        })
    }))
}

async fn get_row(
    State(s): State<Shared>,
    Path((doc, table, row)): Path<(String, String, String)>,
    Query(params): Query<Params>,
) -> Response {
    respond(with_doc(&s, &doc, |_, d| {
        let t = find_table(d, &table)?;
        let (format, use_names) = format_params(&params)?;
        let i = t.row_index(&row).ok_or_else(|| {
            coda_error(
                StatusCode::NOT_FOUND,
                &format!("Row '{row}' could not be found."),
            )
        })?;
        Ok(t.row_json(&s.api_base, &d.id, &t.rows[i], format, use_names, true))
    }))
}

async fn mutation_status(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    let mutations = s.mutations.lock().expect("mutations");
    match mutations.get(&id) {
        Some(m) if m.created.elapsed() >= s.config.status_lag => {
            Json(json!({"completed": m.completed})).into_response()
        }
        _ => coda_error(
            StatusCode::NOT_FOUND,
            &format!("Mutation '{id}' could not be found."),
        )
        .into_response(),
    }
}

// ---------------------------------------------------------------- writes

/// Converts a written value to a cell of the column's type, as Coda's parsing would.
fn parse_cell(
    ws: &Workspace,
    doc: &Doc,
    kind: ColumnType,
    lookup: Option<&str>,
    value: &Value,
) -> Cell {
    let text = match value {
        Value::Null => return Cell::Empty,
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match kind {
        ColumnType::Button => Cell::Empty,
        ColumnType::Text | ColumnType::Select => Cell::Text(text),
        ColumnType::Date => Cell::Date(text),
        ColumnType::Number => value
            .as_f64()
            .or_else(|| text.trim().parse().ok())
            .map(Cell::Number)
            .unwrap_or(Cell::Text(text)),
        ColumnType::Checkbox => match value {
            Value::Bool(b) => Cell::Bool(*b),
            _ => Cell::Bool(matches!(text.to_lowercase().as_str(), "true" | "yes" | "1")),
        },
        ColumnType::Person => {
            let known = PEOPLE.iter().chain(std::iter::once(&ws.owner)).find(|p| {
                p.email.eq_ignore_ascii_case(&text) || p.name.eq_ignore_ascii_case(&text)
            });
            match known {
                Some(p) => Cell::Person {
                    name: p.name.into(),
                    email: p.email.into(),
                },
                None => Cell::Text(text),
            }
        }
        ColumnType::Lookup => {
            let target = lookup.and_then(|l| doc.table(l));
            match target.and_then(|t| t.row_index(&text).map(|i| (t, i))) {
                Some((t, i)) => Cell::Ref {
                    table_id: t.id.clone(),
                    table_name: t.name.clone(),
                    row_id: t.rows[i].id.clone(),
                    name: text,
                },
                None => Cell::Text(text),
            }
        }
    }
}

/// Validates `{cells: [{column, value}]}` against the table; returns `(column index, cell)` pairs.
pub(super) fn parse_cells(
    ws: &Workspace,
    doc: &Doc,
    t: &Table,
    row: &Value,
    path: &str,
) -> Result<Vec<(usize, Cell)>, ApiError> {
    if serde_json::to_vec(row).map(|b| b.len()).unwrap_or(0) > MAX_ROW_BYTES {
        return Err(validation_error(
            path,
            "Row is larger than the 85 KB limit.",
        ));
    }
    let cells = row.get("cells").and_then(Value::as_array).ok_or_else(|| {
        validation_error(
            &format!("{path}.cells"),
            "Expected an array of {column, value} cells.",
        )
    })?;
    cells
        .iter()
        .enumerate()
        .map(|(i, cell)| {
            let column = cell.get("column").and_then(Value::as_str).ok_or_else(|| {
                validation_error(
                    &format!("{path}.cells[{i}].column"),
                    "Expected a column id or name.",
                )
            })?;
            let value = cell.get("value").ok_or_else(|| {
                validation_error(&format!("{path}.cells[{i}].value"), "Expected a value.")
            })?;
            let idx = t.column_index(column).ok_or_else(|| {
                validation_error(
                    &format!("{path}.cells[{i}].column"),
                    &format!("Could not find a column named '{column}'."),
                )
            })?;
            let col = &t.columns[idx];
            if col.kind == ColumnType::Button {
                return Err(validation_error(
                    &format!("{path}.cells[{i}].column"),
                    &format!("Column '{}' is a button column and cannot be written; push the button instead.", col.name),
                ));
            }
            Ok((
                idx,
                parse_cell(ws, doc, col.kind, col.lookup_table.as_deref(), value),
            ))
        })
        .collect()
}

pub(super) fn new_id(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{}", &id[..10])
}

/// Registers a mutation and applies `change` after the configured delay, like Coda's queue.
pub(super) fn enqueue(s: &Shared, change: impl FnOnce(&mut Workspace) + Send + 'static) -> String {
    let request_id = format!("mutate:{}", uuid::Uuid::new_v4());
    s.mutations.lock().expect("mutations").insert(
        request_id.clone(),
        Mutation {
            created: tokio::time::Instant::now(),
            completed: false,
        },
    );
    let state = s.clone();
    let id = request_id.clone();
    tokio::spawn(async move {
        tokio::time::sleep(state.config.write_delay).await;
        change(&mut state.workspace.lock().expect("workspace"));
        if let Some(m) = state.mutations.lock().expect("mutations").get_mut(&id) {
            m.completed = true;
        }
    });
    request_id
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

async fn update_row(
    State(s): State<Shared>,
    Path((doc, table, row)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    let result = (|| -> Result<_, ApiError> {
        let body = json_body(&body)?;
        let ws = s.workspace.lock().expect("workspace");
        let d = ws.docs.iter().find(|d| d.id == doc).ok_or_else(|| {
            coda_error(
                StatusCode::NOT_FOUND,
                &format!("Doc '{doc}' could not be found."),
            )
        })?;
        let t = find_table(d, &table)?;
        let i = t.row_index(&row).ok_or_else(|| {
            coda_error(
                StatusCode::NOT_FOUND,
                &format!("Row '{row}' could not be found."),
            )
        })?;
        let row_value = body
            .get("row")
            .ok_or_else(|| validation_error("row", "Expected a row object {cells: [...]}."))?;
        let cells = parse_cells(&ws, d, t, row_value, "row")?;
        Ok((d.id.clone(), t.id.clone(), t.rows[i].id.clone(), cells))
    })();
    let (doc_id, table_id, row_id, cells) = match result {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let rid = row_id.clone();
    let request_id = enqueue(&s, move |ws| {
        let Some(t) = ws
            .docs
            .iter_mut()
            .find(|d| d.id == doc_id)
            .and_then(|d| d.table_mut(&table_id))
        else {
            return;
        };
        if let Some(r) = t.rows.iter_mut().find(|r| r.id == rid) {
            for (idx, cell) in cells {
                r.cells[idx] = cell;
            }
            r.updated_at = now_iso();
        }
    });
    (
        StatusCode::ACCEPTED,
        Json(json!({"requestId": request_id, "id": row_id})),
    )
        .into_response()
}

async fn upsert_rows(
    State(s): State<Shared>,
    Path((doc, table)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let result = (|| -> Result<_, ApiError> {
        let body = json_body(&body)?;
        let ws = s.workspace.lock().expect("workspace");
        let d = ws.docs.iter().find(|d| d.id == doc).ok_or_else(|| {
            coda_error(
                StatusCode::NOT_FOUND,
                &format!("Doc '{doc}' could not be found."),
            )
        })?;
        let t = find_table(d, &table)?;
        let rows = body
            .get("rows")
            .and_then(Value::as_array)
            .ok_or_else(|| validation_error("rows", "Expected an array of rows."))?;
        if rows.is_empty() {
            return Err(validation_error("rows", "At least one row is required."));
        }
        let keys: Vec<usize> = match body.get("keyColumns") {
            None | Some(Value::Null) => vec![],
            Some(Value::Array(keys)) => keys
                .iter()
                .enumerate()
                .map(|(i, k)| {
                    k.as_str().and_then(|k| t.column_index(k)).ok_or_else(|| {
                        validation_error(
                            &format!("keyColumns[{i}]"),
                            &format!("Could not find key column {k}."),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(validation_error(
                    "keyColumns",
                    "Expected an array of column ids or names.",
                ))
            }
        };
        let parsed = rows
            .iter()
            .enumerate()
            .map(|(i, r)| parse_cells(&ws, d, t, r, &format!("rows[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        // Decide now which rows are new, so the ids we answer with are the ids that land.
        let mut planned = Vec::new();
        let mut added = Vec::new();
        for cells in parsed {
            let key_values: Vec<(usize, Cell)> = keys
                .iter()
                .filter_map(|k| cells.iter().find(|(i, _)| i == k).cloned())
                .collect();
            let matches_existing = !keys.is_empty()
                && key_values.len() == keys.len()
                && t.rows
                    .iter()
                    .any(|r| key_values.iter().all(|(i, c)| &r.cells[*i] == c));
            let new_id = (!matches_existing).then(|| new_id("i-"));
            if let Some(id) = &new_id {
                added.push(id.clone());
            }
            planned.push((cells, key_values, new_id));
        }
        Ok((d.id.clone(), t.id.clone(), planned, added, !keys.is_empty()))
    })();
    let (doc_id, table_id, planned, added, upsert) = match result {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let request_id = enqueue(&s, move |ws| {
        let Some(t) = ws
            .docs
            .iter_mut()
            .find(|d| d.id == doc_id)
            .and_then(|d| d.table_mut(&table_id))
        else {
            return;
        };
        let now = now_iso();
        for (cells, key_values, new_id) in planned {
            match new_id {
                None => {
                    for r in t
                        .rows
                        .iter_mut()
                        .filter(|r| key_values.iter().all(|(i, c)| &r.cells[*i] == c))
                    {
                        for (idx, cell) in &cells {
                            r.cells[*idx] = cell.clone();
                        }
                        r.updated_at = now.clone();
                    }
                }
                Some(id) => {
                    let mut row_cells = vec![Cell::Empty; t.columns.len()];
                    for (idx, cell) in cells {
                        row_cells[idx] = cell;
                    }
                    let index = t.rows.len();
                    t.rows.push(super::model::Row {
                        id,
                        cells: row_cells,
                        created_at: now.clone(),
                        updated_at: now.clone(),
                        index,
                    });
                }
            }
        }
        t.updated_at = now;
    });
    // Coda names the added rows only for a plain insert ("Only applicable when keyColumns is
    // not set or empty"); an upsert's answer is just the requestId.
    let body = if upsert {
        json!({"requestId": request_id})
    } else {
        json!({"requestId": request_id, "addedRowIds": added})
    };
    (StatusCode::ACCEPTED, Json(body)).into_response()
}
