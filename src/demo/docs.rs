//! Doc lifecycle (create, update, delete: Coda's 202s, applied after a delay) and publishing.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::common::{
    accepted, body_of, doc_mut, enqueue, mutate_now, new_id, not_found, now_iso, ok,
    validation_error, with_doc, ApiError, Shared,
};
use super::model::{Doc, DocExtras};

/// This resource's routes (the router adds them under `/apis/v1`).
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/categories", get(list_categories))
        .route(
            "/docs/{doc}/publish",
            axum::routing::put(publish).delete(unpublish),
        )
}

pub(super) async fn create_doc(State(s): State<Shared>, body: Bytes) -> Response {
    let planned = (|| -> Result<_, ApiError> {
        let body = body_of(&body)?;
        let ws = s.workspace.lock().expect("workspace");
        let folder_id = match body["folderId"].as_str() {
            Some(f) => ws
                .folders
                .iter()
                .find(|x| x.id == f)
                .ok_or_else(|| not_found("Folder", f))?
                .id
                .clone(),
            None => ws.folders[0].id.clone(),
        };
        let folder_name = ws
            .folders
            .iter()
            .find(|f| f.id == folder_id)
            .map(|f| f.name.clone())
            .unwrap_or_default();
        let now = now_iso();
        let id = new_id("");
        let mut doc = match body["sourceDoc"].as_str() {
            Some(src) => {
                let mut copy = ws.doc(src).ok_or_else(|| not_found("Doc", src))?.clone();
                copy.extras = DocExtras::default();
                copy
            }
            None => Doc {
                id: String::new(),
                name: String::new(),
                icon: "doc".into(),
                folder_id: String::new(),
                folder_name: String::new(),
                pages: vec![],
                tables: vec![],
                created_at: now.clone(),
                updated_at: now.clone(),
                extras: DocExtras::default(),
            },
        };
        doc.id = id;
        doc.name = body["title"].as_str().unwrap_or("Untitled").to_owned();
        doc.folder_id = folder_id;
        doc.folder_name = folder_name;
        doc.created_at = now.clone();
        doc.updated_at = now.clone();
        if let Some(initial) = body.get("initialPage").filter(|v| v.is_object()) {
            let lines = match initial["pageContent"]["canvasContent"].as_object() {
                Some(c) => super::pages::content_lines(
                    c.get("format")
                        .and_then(Value::as_str)
                        .unwrap_or("markdown"),
                    c.get("content").and_then(Value::as_str).unwrap_or(""),
                ),
                None => vec![],
            };
            doc.pages.insert(
                0,
                super::model::Page {
                    id: new_id("canvas-"),
                    name: initial["name"].as_str().unwrap_or("Untitled").into(),
                    subtitle: initial["subtitle"].as_str().unwrap_or("").into(),
                    icon: initial["iconName"].as_str().unwrap_or("page").into(),
                    hidden: false,
                    parent: None,
                    lines,
                    created_at: now.clone(),
                    updated_at: now,
                },
            );
        } else if doc.pages.is_empty() {
            doc.pages.push(super::model::Page {
                id: new_id("canvas-"),
                name: "Untitled".into(),
                subtitle: String::new(),
                icon: "page".into(),
                hidden: false,
                parent: None,
                lines: vec![],
                created_at: now.clone(),
                updated_at: now,
            });
        }
        let json = doc.to_json(&s.api_base, &ws);
        Ok((doc, json))
    })();
    let (doc, mut json) = match planned {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let request_id = enqueue(&s, None, move |ws| ws.docs.push(doc));
    json["requestId"] = json!(request_id);
    (StatusCode::CREATED, Json(json)).into_response()
}

pub(super) async fn delete_doc(State(s): State<Shared>, Path(doc): Path<String>) -> Response {
    if let Err(e) = with_doc(&s, &doc, |_, _| Ok(())) {
        return e.into_response();
    }
    enqueue(&s, Some(doc.clone()), move |ws| {
        ws.docs.retain(|d| d.id != doc)
    });
    accepted(json!({}))
}

pub(super) async fn update_doc(
    State(s): State<Shared>,
    Path(doc): Path<String>,
    body: Bytes,
) -> Response {
    mutate_now(&s, |ws| {
        let body = body_of(&body)?;
        if let Some(t) = body.get("title") {
            if t.as_str().is_none_or(str::is_empty) {
                return Err(validation_error(
                    "title",
                    "title must be a non-empty string",
                ));
            }
        }
        let d = doc_mut(ws, &doc)?;
        if let Some(t) = body["title"].as_str() {
            d.name = t.into();
        }
        if let Some(i) = body["iconName"].as_str() {
            d.icon = i.into();
        }
        d.updated_at = now_iso();
        Ok(json!({}))
    })
}

const CATEGORIES: [&str; 6] = [
    "Project Management",
    "Human Resources",
    "Engineering",
    "Marketing",
    "Sales",
    "Education",
];

async fn list_categories() -> Response {
    ok(json!({"items": CATEGORIES.iter().map(|c| json!({"name": c})).collect::<Vec<_>>()}))
}

async fn publish(State(s): State<Shared>, Path(doc): Path<String>, body: Bytes) -> Response {
    let planned = (|| -> Result<Value, ApiError> {
        let body = body_of(&body)?;
        if let Some(m) = body.get("mode") {
            if !m
                .as_str()
                .is_some_and(|m| ["view", "play", "edit"].contains(&m))
            {
                return Err(validation_error("mode", "mode must be view, play or edit"));
            }
        }
        for (i, c) in body["categoryNames"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if !c.as_str().is_some_and(|c| CATEGORIES.contains(&c)) {
                return Err(validation_error(
                    &format!("categoryNames[{i}]"),
                    &format!("Unknown category {c}."),
                ));
            }
        }
        with_doc(&s, &doc, |_, d| {
            Ok(
                json!({"slug": body["slug"].as_str().map(str::to_owned).unwrap_or_else(|| super::model::slug(&d.name).to_lowercase()),
            "discoverable": body["discoverable"].as_bool().unwrap_or(false), "earnCredit": body["earnCredit"].as_bool().unwrap_or(false),
            "mode": body["mode"].as_str().unwrap_or("view"),
            "categories": body["categoryNames"].as_array().cloned().unwrap_or_default().iter().map(|c| json!({"name": c})).collect::<Vec<_>>()}),
            )
        })
    })();
    let settings = match planned {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let request_id = enqueue(&s, Some(doc.clone()), move |ws| {
        if let Some(d) = ws.doc_mut(&doc) {
            d.extras.published = Some(settings);
        }
    });
    accepted(json!({"requestId": request_id}))
}

async fn unpublish(State(s): State<Shared>, Path(doc): Path<String>) -> Response {
    mutate_now(&s, |ws| {
        doc_mut(ws, &doc)?.extras.published = None;
        Ok(json!({}))
    })
}
