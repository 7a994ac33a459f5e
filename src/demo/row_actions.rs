//! Deleting rows (one, or many by id) and pushing a row's button.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::json;

use super::common::{
    accepted, body_of, coda_error, enqueue, find_table, not_found, now_iso, validation_error,
    with_doc, ApiError, Shared,
};
use super::model::ColumnType;

/// This resource's routes (the router adds them under `/apis/v1`).
pub(super) fn routes() -> Router<Shared> {
    Router::new().route(
        "/docs/{doc}/tables/{table}/rows/{row}/buttons/{column}",
        post(push_button),
    )
}

pub(super) async fn delete_rows(
    State(s): State<Shared>,
    Path((doc, table)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let planned = (|| -> Result<_, ApiError> {
        let body = body_of(&body)?;
        let ids: Vec<String> = body["rowIds"]
            .as_array()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                validation_error("rowIds", "rowIds must be a non-empty array of row IDs")
            })?
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    validation_error(&format!("rowIds[{i}]"), "Expected a row ID string.")
                })
            })
            .collect::<Result<_, _>>()?;
        let table_id = with_doc(&s, &doc, |_, d| Ok(find_table(d, &table)?.id.clone()))?;
        Ok((table_id, ids))
    })();
    let (table_id, ids) = match planned {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let answer_ids = ids.clone();
    let request_id = enqueue(&s, Some(doc.clone()), move |ws| {
        if let Some(t) = ws.doc_mut(&doc).and_then(|d| d.table_mut(&table_id)) {
            t.rows.retain(|r| !ids.contains(&r.id));
            for (i, r) in t.rows.iter_mut().enumerate() {
                r.index = i;
            }
        }
    });
    accepted(json!({"requestId": request_id, "rowIds": answer_ids}))
}

pub(super) async fn delete_row(
    State(s): State<Shared>,
    Path((doc, table, row)): Path<(String, String, String)>,
) -> Response {
    let found = with_doc(&s, &doc, |_, d| {
        let t = find_table(d, &table)?;
        let i = t.row_index(&row).ok_or_else(|| not_found("Row", &row))?;
        Ok((t.id.clone(), t.rows[i].id.clone()))
    });
    let (table_id, row_id) = match found {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let id = row_id.clone();
    let request_id = enqueue(&s, Some(doc.clone()), move |ws| {
        if let Some(t) = ws.doc_mut(&doc).and_then(|d| d.table_mut(&table_id)) {
            t.rows.retain(|r| r.id != row_id);
            for (i, r) in t.rows.iter_mut().enumerate() {
                r.index = i;
            }
        }
    });
    accepted(json!({"requestId": request_id, "id": id}))
}

async fn push_button(
    State(s): State<Shared>,
    Path((doc, table, row, column)): Path<(String, String, String, String)>,
) -> Response {
    let found = with_doc(&s, &doc, |_, d| {
        let t = find_table(d, &table)?;
        let r = t.row_index(&row).ok_or_else(|| not_found("Row", &row))?;
        let c = t
            .column_index(&column)
            .ok_or_else(|| not_found("Column", &column))?;
        if t.columns[c].kind != ColumnType::Button {
            return Err(coda_error(
                StatusCode::BAD_REQUEST,
                &format!("Column '{}' is not a button column.", t.columns[c].name),
            ));
        }
        Ok((t.id.clone(), t.rows[r].id.clone(), t.columns[c].id.clone()))
    });
    let (table_id, row_id, column_id) = match found {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let (rid, cid) = (row_id.clone(), column_id.clone());
    let request_id = enqueue(&s, Some(doc.clone()), move |ws| {
        if let Some(d) = ws.doc_mut(&doc) {
            d.extras
                .webhook_runs
                .push((format!("button:{cid}"), json!({"rowId": rid})));
            if let Some(t) = d.table_mut(&table_id) {
                if let Some(i) = t.rows.iter().position(|r| r.id == rid) {
                    t.touch(i, now_iso());
                }
            }
        }
    });
    accepted(json!({"requestId": request_id, "rowId": row_id, "columnId": column_id}))
}
