//! The demo's docs, tables, columns and rows handlers, in Coda's shapes.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use serde_json::{json, Value};

use super::common::*;
use super::model::{Cell, ColumnType, Doc, Table, ValueFormat, Workspace};
use super::sample::PEOPLE;
use super::state::Grant;

/// Coda's 85 KB row limit.
const MAX_ROW_BYTES: usize = 85 * 1024;

pub(super) async fn whoami(
    State(s): State<Shared>,
    Extension(grant): Extension<Grant>,
) -> Response {
    let ws = s.workspace.lock().expect("workspace");
    Json(json!({"name": ws.owner.name, "loginId": ws.owner.email, "type": "user", "scoped": grant.is_limited(),
        "tokenName": "Demo token", "href": format!("{}/whoami", s.api_base),
        "pictureLink": "https://cdn.coda.io/avatars/default_avatar.png",
        "workspace": {"id": ws.id, "type": "workspace", "organizationId": "org-demo",
            "browserLink": format!("https://coda.io/docs?workspaceId={}", ws.id), "name": ws.name}})).into_response()
}

/// `listDocs`: a doc-scoped token sees its one doc only.
pub(super) async fn list_docs(
    State(s): State<Shared>,
    Extension(grant): Extension<Grant>,
    Query(raw): Query<Params>,
) -> Response {
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
            .filter(|d| grant.reaches(&d.id))
            .filter(|_| is_owner != Some(false))
            .map(|d| d.to_json(&s.api_base, &ws))
            .collect();
        Ok(page_of(items, &paging, &format!("{}/docs", s.api_base)))
    })())
}

pub(super) async fn get_doc(State(s): State<Shared>, Path(doc): Path<String>) -> Response {
    respond(with_doc(&s, &doc, |ws, d| Ok(d.to_json(&s.api_base, ws))))
}

pub(super) async fn list_tables(
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

pub(super) async fn get_table(
    State(s): State<Shared>,
    Path((doc, table)): Path<(String, String)>,
) -> Response {
    respond(with_doc(&s, &doc, |_, d| {
        Ok(find_table(d, &table)?.to_json(&s.api_base, d))
    }))
}

pub(super) async fn list_columns(
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
                .map(|c| t.column_json(&s.api_base, d, c))
                .collect();
            Ok(page_of(
                items,
                &paging,
                &format!("{}/docs/{doc}/tables/{table}/columns", s.api_base),
            ))
        })
    }))
}

pub(super) async fn get_column(
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
        Ok(t.column_json(&s.api_base, d, &t.columns[c]))
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

pub(super) async fn list_rows(
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
            // A syncToken from an earlier listing: only the rows changed since.
            let since =
                match p.get("syncToken") {
                    None => None,
                    Some(token) => Some(decode_sync_token(token, &t.id).ok_or_else(|| {
                        coda_error(StatusCode::BAD_REQUEST, "Invalid sync token.")
                    })?),
                };
            let mut rows: Vec<_> = t
                .rows
                .iter()
                .filter(|r| filter.as_ref().is_none_or(|(i, v)| r.cells[*i].matches(v)))
                .filter(|r| since.is_none_or(|v| r.changed > v))
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
                body["nextSyncToken"] = json!(encode_sync_token(t.version, &t.id));
            }
            Ok(body)
        })
    }))
}

/// `nextSyncToken`: the table's version when the listing was made (opaque to callers).
fn encode_sync_token(version: u64, table: &str) -> String {
    to_hex_json(&json!({"v": version, "t": table}))
}

/// The version a `syncToken` names, if it is one of this table's.
fn decode_sync_token(token: &str, table: &str) -> Option<u64> {
    let v = from_hex_json(token, 512)?;
    (v["t"] == table).then(|| v["v"].as_u64()).flatten()
}

pub(super) async fn get_row(
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

pub(super) async fn mutation_status(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    let mutations = s.mutations.lock().expect("mutations");
    match mutations.get(&id) {
        Some(m) if m.created.elapsed() >= s.config.status_lag => {
            let mut status = json!({"completed": m.completed});
            if let Some(w) = &m.warning {
                status["warning"] = json!(w);
            }
            Json(status).into_response()
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

/// Coda's warnings for values a number column could not parse (stored as text instead).
fn unparsed_numbers(t: &Table, cells: &[(usize, Cell)]) -> Vec<String> {
    cells
        .iter()
        .filter_map(|(idx, cell)| match (&t.columns[*idx], cell) {
            (col, Cell::Text(text)) if col.kind == ColumnType::Number => Some(format!(
                "Value '{text}' could not be parsed as a number for column '{}'; it was stored as text.",
                col.name
            )),
            _ => None,
        })
        .collect()
}

/// The mutation status's `warning`: the warnings in one sentence each, or none.
fn warning_of(warnings: Vec<String>) -> Option<String> {
    (!warnings.is_empty()).then(|| warnings.join(" "))
}

pub(super) async fn update_row(
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
        let warnings = unparsed_numbers(t, &cells);
        Ok((
            d.id.clone(),
            t.id.clone(),
            t.rows[i].id.clone(),
            cells,
            warnings,
        ))
    })();
    let (doc_id, table_id, row_id, cells, warnings) = match result {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let rid = row_id.clone();
    let request_id = enqueue_warning(&s, Some(doc.clone()), move |ws| {
        let t = ws
            .docs
            .iter_mut()
            .find(|d| d.id == doc_id)
            .and_then(|d| d.table_mut(&table_id))?;
        if let Some(i) = t.rows.iter().position(|r| r.id == rid) {
            for (idx, cell) in cells {
                t.rows[i].cells[idx] = cell;
            }
            t.touch(i, now_iso());
        }
        warning_of(warnings)
    });
    (
        StatusCode::ACCEPTED,
        Json(json!({"requestId": request_id, "id": row_id})),
    )
        .into_response()
}

pub(super) async fn upsert_rows(
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
        let mut warnings = Vec::new();
        for (n, cells) in parsed.into_iter().enumerate() {
            warnings.extend(
                unparsed_numbers(t, &cells)
                    .into_iter()
                    .map(|w| format!("rows[{n}]: {w}")),
            );
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
        Ok((
            d.id.clone(),
            t.id.clone(),
            planned,
            added,
            !keys.is_empty(),
            warnings,
        ))
    })();
    let (doc_id, table_id, planned, added, upsert, mut warnings) = match result {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let request_id = enqueue_warning(&s, Some(doc.clone()), move |ws| {
        let t = ws
            .docs
            .iter_mut()
            .find(|d| d.id == doc_id)
            .and_then(|d| d.table_mut(&table_id))?;
        let now = now_iso();
        for (n, (cells, key_values, new_id)) in planned.into_iter().enumerate() {
            match new_id {
                None => {
                    let matching: Vec<usize> = t
                        .rows
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| key_values.iter().all(|(i, c)| &r.cells[*i] == c))
                        .map(|(i, _)| i)
                        .collect();
                    if matching.len() > 1 {
                        warnings.push(format!(
                            "rows[{n}] matched {} existing rows on keyColumns; all of them were updated.",
                            matching.len()
                        ));
                    }
                    for i in matching {
                        for (idx, cell) in &cells {
                            t.rows[i].cells[*idx] = cell.clone();
                        }
                        t.touch(i, now.clone());
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
                        changed: 0,
                    });
                    t.touch(index, now.clone());
                }
            }
        }
        t.updated_at = now;
        warning_of(warnings)
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
