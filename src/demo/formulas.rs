//! Named formulas and controls of a doc, with their current values.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::common::{not_found, page_of, paging, respond, with_doc, Params, Shared};
use super::model::Doc;

/// This resource's routes (the router adds them under `/apis/v1`).
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/docs/{doc}/formulas", get(list_formulas))
        .route("/docs/{doc}/formulas/{id}", get(get_formula))
        .route("/docs/{doc}/controls", get(list_controls))
        .route("/docs/{doc}/controls/{id}", get(get_control))
}

fn formula_value(d: &Doc, name: &str, stored: &Value) -> Value {
    if name == "OpenTasks" {
        let open = d
            .table("Tasks")
            .map(|t| {
                let done = t.column_index("Done").unwrap_or(0);
                t.rows
                    .iter()
                    .filter(|r| r.cells[done] != super::model::Cell::Bool(true))
                    .count()
            })
            .unwrap_or(0);
        return json!(open);
    }
    stored.clone()
}

async fn list_formulas(
    State(s): State<Shared>,
    Path(doc): Path<String>,
    Query(raw): Query<Params>,
) -> Response {
    list_named(&s, &doc, raw, "formula", |d| {
        d.extras
            .formulas
            .iter()
            .map(|(id, name, _)| (id.clone(), name.clone()))
            .collect()
    })
}

/// `listFormulas` and `listControls`: the doc's named objects of `kind` (id and name each),
/// sorted by name when asked, one page at a time.
fn list_named(
    s: &Shared,
    doc: &str,
    raw: Params,
    kind: &str,
    named: impl FnOnce(&Doc) -> Vec<(String, String)>,
) -> Response {
    let plural = format!("{}/docs/{doc}/{kind}s", s.api_base);
    respond(paging(s, raw).and_then(|p| {
        with_doc(s, doc, |_, d| {
            let mut items: Vec<Value> = named(d)
                .into_iter()
                .map(|(id, name)| {
                    json!({"id": id, "type": kind, "name": name, "href": format!("{plural}/{id}")})
                })
                .collect();
            if p.params.get("sortBy").map(String::as_str) == Some("name") {
                items.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
            }
            Ok(page_of(items, &p, &plural))
        })
    }))
}

async fn get_formula(State(s): State<Shared>, Path((doc, id)): Path<(String, String)>) -> Response {
    respond(with_doc(&s, &doc, |_, d| {
        let (fid, name, value) = d
            .extras
            .formulas
            .iter()
            .find(|(i, n, _)| *i == id || *n == id)
            .ok_or_else(|| not_found("Formula", &id))?;
        Ok(
            json!({"id": fid, "type": "formula", "name": name, "href": format!("{}/docs/{doc}/formulas/{fid}", s.api_base),
            "value": formula_value(d, name, value)}),
        )
    }))
}

async fn list_controls(
    State(s): State<Shared>,
    Path(doc): Path<String>,
    Query(raw): Query<Params>,
) -> Response {
    list_named(&s, &doc, raw, "control", |d| {
        d.extras
            .controls
            .iter()
            .map(|(id, name, _, _)| (id.clone(), name.clone()))
            .collect()
    })
}

async fn get_control(State(s): State<Shared>, Path((doc, id)): Path<(String, String)>) -> Response {
    respond(with_doc(&s, &doc, |_, d| {
        let (cid, name, kind, value) = d
            .extras
            .controls
            .iter()
            .find(|(i, n, _, _)| *i == id || *n == id)
            .ok_or_else(|| not_found("Control", &id))?;
        Ok(
            json!({"id": cid, "type": "control", "name": name, "href": format!("{}/docs/{doc}/controls/{cid}", s.api_base),
            "controlType": kind, "value": value}),
        )
    }))
}
