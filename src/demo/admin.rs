//! The demo's routes beyond pages, tables and rows: doc lifecycle, sharing, publishing,
//! formulas, controls, custom domains, links, automations, analytics, workspaces, go links
//! and folders — each in Coda's shapes, with Coda's status codes.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::common::{
    bool_param, coda_error, enqueue, find_table, json_body, new_id, now_iso, page_of, paging,
    respond, validation_error, with_doc, ApiError, Params, Shared,
};
use super::model::{doc_link, ColumnType, Doc, DocExtras, Folder, Workspace};
use super::sample::PEOPLE;
use crate::tools::links;

/// Routes that live only here (shared paths are attached in `router::router`).
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/categories", get(list_categories))
        .route("/docs/{doc}/acl/metadata", get(sharing_metadata))
        .route(
            "/docs/{doc}/acl/permissions",
            get(list_permissions).post(add_permission),
        )
        .route(
            "/docs/{doc}/acl/permissions/{id}",
            axum::routing::delete(delete_permission),
        )
        .route("/docs/{doc}/acl/principals/search", get(search_principals))
        .route(
            "/docs/{doc}/acl/settings",
            get(acl_settings).patch(update_acl_settings),
        )
        .route(
            "/docs/{doc}/publish",
            axum::routing::put(publish).delete(unpublish),
        )
        .route(
            "/docs/{doc}/tables/{table}/rows/{row}/buttons/{column}",
            post(push_button),
        )
        .route("/docs/{doc}/formulas", get(list_formulas))
        .route("/docs/{doc}/formulas/{id}", get(get_formula))
        .route("/docs/{doc}/controls", get(list_controls))
        .route("/docs/{doc}/controls/{id}", get(get_control))
        .route("/docs/{doc}/domains", get(list_domains).post(add_domain))
        .route(
            "/docs/{doc}/domains/{domain}",
            axum::routing::delete(delete_domain).patch(update_domain),
        )
        .route("/domains/provider/{domain}", get(domain_provider))
        .route("/resolveBrowserLink", get(resolve_browser_link))
        .route(
            "/docs/{doc}/hooks/automation/{rule}",
            post(trigger_automation),
        )
        .route("/analytics/docs", get(doc_analytics))
        .route("/analytics/docs/summary", get(doc_analytics_summary))
        .route("/analytics/docs/{doc}/pages", get(page_analytics))
        .route("/analytics/packs", get(pack_analytics))
        .route("/analytics/packs/summary", get(pack_analytics_summary))
        .route(
            "/analytics/packs/{pack}/formulas",
            get(pack_formula_analytics),
        )
        .route("/analytics/updated", get(analytics_updated))
        .route("/workspaces/{ws}/users", get(list_members))
        .route("/workspaces/{ws}/users/role", post(change_role))
        .route("/workspaces/{ws}/roles", get(role_activity))
        .route("/organizations/{org}/goLinks", post(add_go_link))
        .route("/folders", get(list_folders).post(create_folder))
        .route(
            "/folders/{id}",
            get(get_folder).patch(update_folder).delete(delete_folder),
        )
}

fn not_found(what: &str, id: &str) -> ApiError {
    coda_error(
        StatusCode::NOT_FOUND,
        &format!("{what} '{id}' could not be found."),
    )
}

fn accepted(body: Value) -> Response {
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

fn ok(body: Value) -> Response {
    Json(body).into_response()
}

fn doc_mut<'a>(ws: &'a mut Workspace, doc: &str) -> Result<&'a mut Doc, ApiError> {
    ws.doc_mut(doc).ok_or_else(|| not_found("Doc", doc))
}

/// Runs `f` on the locked workspace and answers 200 with its value, or its error.
fn mutate_now(s: &Shared, f: impl FnOnce(&mut Workspace) -> Result<Value, ApiError>) -> Response {
    let mut ws = s.workspace.lock().expect("workspace");
    match f(&mut ws) {
        Ok(v) => ok(v),
        Err(e) => e.into_response(),
    }
}

fn body_of(body: &Bytes) -> Result<Value, ApiError> {
    if body.is_empty() {
        Ok(json!({}))
    } else {
        json_body(body)
    }
}

// ------------------------------------------------------------------ docs

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
    let request_id = enqueue(&s, move |ws| ws.docs.push(doc));
    json["requestId"] = json!(request_id);
    (StatusCode::CREATED, Json(json)).into_response()
}

pub(super) async fn delete_doc(State(s): State<Shared>, Path(doc): Path<String>) -> Response {
    if let Err(e) = with_doc(&s, &doc, |_, _| Ok(())) {
        return e.into_response();
    }
    enqueue(&s, move |ws| ws.docs.retain(|d| d.id != doc));
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

// ------------------------------------------------------------------ sharing

async fn sharing_metadata(State(s): State<Shared>, Path(doc): Path<String>) -> Response {
    respond(with_doc(&s, &doc, |_, d| {
        Ok(json!({"canShare": true, "canShareWithWorkspace": true,
        "canShareWithOrg": false, "canCopy": d.extras.acl.1}))
    }))
}

async fn list_permissions(
    State(s): State<Shared>,
    Path(doc): Path<String>,
    Query(raw): Query<Params>,
) -> Response {
    respond(paging(&s, raw).and_then(|p| {
        with_doc(&s, &doc, |_, d| {
            Ok(page_of(
                d.extras.permissions.clone(),
                &p,
                &format!("{}/docs/{doc}/acl/permissions", s.api_base),
            ))
        })
    }))
}

async fn add_permission(State(s): State<Shared>, Path(doc): Path<String>, body: Bytes) -> Response {
    mutate_now(&s, |ws| {
        let body = body_of(&body)?;
        let access = body["access"]
            .as_str()
            .filter(|a| ["readonly", "write", "comment"].contains(a))
            .ok_or_else(|| {
                validation_error("access", "access must be one of readonly, write, comment")
            })?
            .to_owned();
        let principal = body
            .get("principal")
            .filter(|p| p.is_object())
            .ok_or_else(|| validation_error("principal", "principal is required"))?
            .clone();
        let needed = match principal["type"].as_str() {
            Some("email") => Some("email"),
            Some("domain") => Some("domain"),
            Some("group") => Some("groupId"),
            Some("workspace") => Some("workspaceId"),
            Some("anyone") => None,
            _ => {
                return Err(validation_error(
                    "principal.type",
                    "type must be email, group, domain, workspace or anyone",
                ))
            }
        };
        if let Some(field) = needed {
            if principal[field].as_str().is_none_or(str::is_empty) {
                return Err(validation_error(
                    &format!("principal.{field}"),
                    &format!("{field} is required for this principal type"),
                ));
            }
        }
        let d = doc_mut(ws, &doc)?;
        match d
            .extras
            .permissions
            .iter_mut()
            .find(|p| p["principal"] == principal)
        {
            Some(existing) => existing["access"] = json!(access),
            None => d
                .extras
                .permissions
                .push(json!({"id": new_id("perm-"), "principal": principal, "access": access})),
        }
        Ok(json!({}))
    })
}

async fn delete_permission(
    State(s): State<Shared>,
    Path((doc, id)): Path<(String, String)>,
) -> Response {
    mutate_now(&s, |ws| {
        let d = doc_mut(ws, &doc)?;
        let before = d.extras.permissions.len();
        d.extras.permissions.retain(|p| p["id"] != json!(id));
        if d.extras.permissions.len() == before {
            return Err(not_found("Permission", &id));
        }
        Ok(json!({}))
    })
}

async fn search_principals(
    State(s): State<Shared>,
    Path(doc): Path<String>,
    Query(q): Query<Params>,
) -> Response {
    let needle = q.get("query").map(|s| s.to_lowercase()).unwrap_or_default();
    respond(with_doc(&s, &doc, |_, _| {
        let users: Vec<Value> = PEOPLE
            .iter()
            .filter(|p| p.name.to_lowercase().contains(&needle) || p.email.contains(&needle))
            .map(|p| json!({"type": "email", "email": p.email, "name": p.name}))
            .collect();
        let groups: Vec<Value> = [("grp-Eng", "Engineering"), ("grp-Prod", "Product")]
            .iter()
            .filter(|(_, n)| n.to_lowercase().contains(&needle))
            .map(|(id, n)| json!({"type": "group", "groupId": id, "groupName": n}))
            .collect();
        Ok(json!({"users": users, "groups": groups}))
    }))
}

fn acl_json(e: &DocExtras) -> Value {
    json!({"allowEditorsToChangePermissions": e.acl.0, "allowCopying": e.acl.1, "allowViewersToRequestEditing": e.acl.2})
}

async fn acl_settings(State(s): State<Shared>, Path(doc): Path<String>) -> Response {
    respond(with_doc(&s, &doc, |_, d| Ok(acl_json(&d.extras))))
}

async fn update_acl_settings(
    State(s): State<Shared>,
    Path(doc): Path<String>,
    body: Bytes,
) -> Response {
    mutate_now(&s, |ws| {
        let body = body_of(&body)?;
        for key in [
            "allowEditorsToChangePermissions",
            "allowCopying",
            "allowViewersToRequestEditing",
        ] {
            if body.get(key).is_some_and(|v| !v.is_boolean()) {
                return Err(validation_error(key, &format!("{key} must be a boolean")));
            }
        }
        let d = doc_mut(ws, &doc)?;
        let acl = &mut d.extras.acl;
        if let Some(v) = body["allowEditorsToChangePermissions"].as_bool() {
            acl.0 = v;
        }
        if let Some(v) = body["allowCopying"].as_bool() {
            acl.1 = v;
        }
        if let Some(v) = body["allowViewersToRequestEditing"].as_bool() {
            acl.2 = v;
        }
        Ok(acl_json(&d.extras))
    })
}

// ------------------------------------------------------------------ publishing

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
    let request_id = enqueue(&s, move |ws| {
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

// ------------------------------------------------------------------ rows: delete, buttons

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
    let request_id = enqueue(&s, move |ws| {
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
    let request_id = enqueue(&s, move |ws| {
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
    let request_id = enqueue(&s, move |ws| {
        if let Some(d) = ws.doc_mut(&doc) {
            d.extras
                .webhook_runs
                .push((format!("button:{cid}"), json!({"rowId": rid})));
            if let Some(r) = d
                .table_mut(&table_id)
                .and_then(|t| t.rows.iter_mut().find(|r| r.id == rid))
            {
                r.updated_at = now_iso();
            }
        }
    });
    accepted(json!({"requestId": request_id, "rowId": row_id, "columnId": column_id}))
}

// ------------------------------------------------------------------ formulas and controls

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
    respond(paging(&s, raw).and_then(|p| {
        with_doc(&s, &doc, |_, d| {
            let mut items: Vec<Value> = d
                .extras
                .formulas
                .iter()
                .map(|(id, name, _)| {
                    json!({"id": id, "type": "formula", "name": name,
            "href": format!("{}/docs/{doc}/formulas/{id}", s.api_base)})
                })
                .collect();
            if p.params.get("sortBy").map(String::as_str) == Some("name") {
                items.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
            }
            Ok(page_of(
                items,
                &p,
                &format!("{}/docs/{doc}/formulas", s.api_base),
            ))
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
    respond(paging(&s, raw).and_then(|p| {
        with_doc(&s, &doc, |_, d| {
            let mut items: Vec<Value> = d
                .extras
                .controls
                .iter()
                .map(|(id, name, _, _)| {
                    json!({"id": id, "type": "control", "name": name,
            "href": format!("{}/docs/{doc}/controls/{id}", s.api_base)})
                })
                .collect();
            if p.params.get("sortBy").map(String::as_str) == Some("name") {
                items.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
            }
            Ok(page_of(
                items,
                &p,
                &format!("{}/docs/{doc}/controls", s.api_base),
            ))
        })
    }))
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

// ------------------------------------------------------------------ custom domains

async fn list_domains(State(s): State<Shared>, Path(doc): Path<String>) -> Response {
    respond(with_doc(&s, &doc, |_, d| {
        Ok(
            json!({"customDocDomains": d.extras.domains, "href": format!("{}/docs/{doc}/domains", s.api_base)}),
        )
    }))
}

async fn add_domain(State(s): State<Shared>, Path(doc): Path<String>, body: Bytes) -> Response {
    let planned = (|| -> Result<String, ApiError> {
        let body = body_of(&body)?;
        let domain = body["customDocDomain"]
            .as_str()
            .filter(|d| d.contains('.') && !d.contains('/'))
            .ok_or_else(|| {
                validation_error(
                    "customDocDomain",
                    "customDocDomain must be a domain name like docs.example.com",
                )
            })?
            .to_lowercase();
        with_doc(&s, &doc, |_, d| {
            if d.extras.published.is_none() {
                return Err(coda_error(
                    StatusCode::FORBIDDEN,
                    "Custom domains need a published doc.",
                ));
            }
            Ok(())
        })?;
        Ok(domain)
    })();
    let domain = match planned {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    enqueue(&s, move |ws| {
        if let Some(d) = ws.doc_mut(&doc) {
            d.extras.domains.push(json!({"customDocDomain": domain, "setupStatus": "pending", "hasCertificate": false, "hasDnsDocId": false}));
        }
    });
    accepted(json!({}))
}

async fn delete_domain(
    State(s): State<Shared>,
    Path((doc, domain)): Path<(String, String)>,
) -> Response {
    mutate_now(&s, |ws| {
        let d = doc_mut(ws, &doc)?;
        let before = d.extras.domains.len();
        d.extras
            .domains
            .retain(|x| x["customDocDomain"] != json!(domain));
        if before == d.extras.domains.len() {
            return Err(not_found("Custom domain", &domain));
        }
        Ok(json!({}))
    })
}

async fn update_domain(
    State(s): State<Shared>,
    Path((doc, domain)): Path<(String, String)>,
) -> Response {
    mutate_now(&s, |ws| {
        let d = doc_mut(ws, &doc)?;
        let entry = d
            .extras
            .domains
            .iter_mut()
            .find(|x| x["customDocDomain"] == json!(domain))
            .ok_or_else(|| not_found("Custom domain", &domain))?;
        entry["lastVerifiedTimestamp"] = json!(now_iso());
        Ok(json!({}))
    })
}

async fn domain_provider(Path(domain): Path<String>) -> Response {
    if !domain.contains('.') {
        return validation_error("customDocDomain", "Not a domain name.").into_response();
    }
    ok(json!({"provider": "Other"}))
}

// ------------------------------------------------------------------ links and automations

/// What a browser URL names: the IDs its shape gives, plus the slug of a page named only by
/// name. Besides `coda.io/d/…` links, a published doc's custom domain is recognised.
fn browser_link(s: &Shared, url: &str) -> Option<(links::CodaLink, Option<String>)> {
    let parsed = url::Url::parse(url.trim()).ok()?;
    let host = parsed.host_str()?.to_ascii_lowercase();
    let segments: Vec<&str> = parsed
        .path_segments()
        .map(|p| p.filter(|x| !x.is_empty()).collect())
        .unwrap_or_default();
    if host == "coda.io" && segments.first() == Some(&"d") {
        let link = links::parse(url)?;
        let slug = segments
            .get(2)
            .filter(|seg| link.page_id.is_none() && !seg.contains("_su"))
            .map(|seg| seg.to_string());
        return Some((link, slug));
    }
    let ws = s.workspace.lock().expect("workspace");
    let doc = ws.docs.iter().find(|d| {
        d.extras
            .domains
            .iter()
            .any(|x| x["customDocDomain"].as_str() == Some(host.as_str()))
    })?;
    let link = links::CodaLink {
        doc_id: doc.id.clone(),
        ..Default::default()
    };
    Some((link, segments.first().map(|seg| seg.to_string())))
}

async fn resolve_browser_link(State(s): State<Shared>, Query(q): Query<Params>) -> Response {
    let Some(url) = q.get("url") else {
        return validation_error("url", "url is required").into_response();
    };
    let graceful = bool_param(&q, "degradeGracefully")
        .ok()
        .flatten()
        .unwrap_or(false);
    let Some((link, page_slug)) = browser_link(&s, url) else {
        return validation_error("url", "This is not a Coda browser link.").into_response();
    };
    respond(with_doc(&s, &link.doc_id, |_, d| {
        let api = &s.api_base;
        let doc_res = json!({"type": "doc", "id": d.id, "name": d.name, "href": format!("{api}/docs/{}", d.id)});
        let missing = |what: &str, id: &str| -> Result<(), ApiError> {
            if graceful {
                Ok(())
            } else {
                Err(not_found(what, id))
            }
        };
        let mut resource = doc_res;
        // A page named by its slug alone (`…/d/Doc_dAbc/Page-Name`, or a published doc's
        // custom domain `https://docs.example.com/Page-Name`): found by name, as Coda does.
        let by_slug = page_slug.as_deref().and_then(|wanted| {
            d.pages
                .iter()
                .find(|p| super::model::slug(&p.name).eq_ignore_ascii_case(wanted))
        });
        if let (None, Some(p)) = (&link.page_id, by_slug) {
            resource = json!({"type": "page", "id": p.id, "name": p.name, "href": format!("{api}/docs/{}/pages/{}", d.id, p.id)});
        } else if let (None, Some(wanted)) = (&link.page_id, &page_slug) {
            missing("Page", wanted)?;
        }
        if let Some(pid) = &link.page_id {
            match d.page(pid) {
                Some(p) => {
                    resource = json!({"type": "page", "id": p.id, "name": p.name, "href": format!("{api}/docs/{}/pages/{}", d.id, p.id)})
                }
                None => {
                    missing("Page", pid)?;
                }
            }
        }
        if let Some(tid) = &link.table_id {
            match d.table(tid) {
                Some(t) => {
                    resource = json!({"type": "table", "id": t.id, "name": t.name, "href": format!("{api}/docs/{}/tables/{}", d.id, t.id)});
                    if let Some(rid) = &link.row_id {
                        match t.row_index(rid) {
                            Some(i) => {
                                resource = json!({"type": "row", "id": t.rows[i].id, "name": t.row_name(&t.rows[i]),
                                "href": format!("{api}/docs/{}/tables/{}/rows/{}", d.id, t.id, t.rows[i].id)})
                            }
                            None => {
                                missing("Row", rid)?;
                            }
                        }
                    }
                }
                None => {
                    missing("Table", tid)?;
                }
            }
        }
        Ok(
            json!({"type": "apiLink", "href": format!("{api}/resolveBrowserLink?url={}", url::form_urlencoded::byte_serialize(url.as_bytes()).collect::<String>()),
            "browserLink": url, "resource": resource}),
        )
    }))
}

async fn trigger_automation(
    State(s): State<Shared>,
    Path((doc, rule)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let payload = match body_of(&body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = with_doc(&s, &doc, |_, d| {
        if d.extras.webhook_rules.contains(&rule) {
            Ok(())
        } else {
            Err(not_found("Automation rule", &rule))
        }
    }) {
        return e.into_response();
    }
    let request_id = enqueue(&s, move |ws| {
        if let Some(d) = ws.doc_mut(&doc) {
            d.extras.webhook_runs.push((rule, payload));
        }
    });
    accepted(json!({"requestId": request_id}))
}

// ------------------------------------------------------------------ analytics

const DAYS: [&str; 7] = [
    "2026-02-21",
    "2026-02-22",
    "2026-02-23",
    "2026-02-24",
    "2026-02-25",
    "2026-02-26",
    "2026-02-27",
];

fn in_range(q: &Params, date: &str) -> bool {
    q.get("sinceDate").is_none_or(|s| date >= s.as_str())
        && q.get("untilDate").is_none_or(|u| date <= u.as_str())
}

fn doc_metrics(d: &Doc, q: &Params) -> Vec<Value> {
    let cumulative = q.get("scale").map(String::as_str) == Some("cumulative");
    let mut total = 0u64;
    DAYS.iter().enumerate().filter(|(_, day)| in_range(q, day)).map(|(i, day)| {
        let views = d.extras.views / 7 + (i as u64 * 3) % 11;
        total += views;
        let v = if cumulative { total } else { views };
        json!({"date": day, "views": v, "copies": (i % 3) as u64, "likes": (i % 2) as u64,
            "sessionsDesktop": v * 2 / 3, "sessionsMobile": v / 4, "sessionsOther": v / 12, "totalSessions": v,
            "aiCredits": 0, "aiCreditsChat": 0, "aiCreditsBlock": 0, "aiCreditsColumn": 0, "aiCreditsAssistant": 0, "aiCreditsReviewer": 0})
    }).collect()
}

fn sum(metrics: &[Value], key: &str) -> u64 {
    metrics.iter().filter_map(|m| m[key].as_u64()).sum()
}

async fn doc_analytics(State(s): State<Shared>, Query(raw): Query<Params>) -> Response {
    respond(paging(&s, raw).and_then(|p| {
        let ws = s.workspace.lock().expect("workspace");
        let q = &p.params;
        let ids: Option<Vec<&str>> = q.get("docIds").map(|v| v.split(',').collect());
        let needle = q.get("query").map(|v| v.to_lowercase());
        let published = bool_param(q, "isPublished")?;
        let mut items: Vec<Value> = ws.docs.iter()
            .filter(|d| ids.as_ref().is_none_or(|ids| ids.contains(&d.id.as_str())))
            .filter(|d| needle.as_ref().is_none_or(|n| d.name.to_lowercase().contains(n)))
            .filter(|d| published.is_none_or(|p| p == d.extras.published.is_some()))
            .filter(|_| q.get("workspaceId").is_none_or(|w| *w == ws.id))
            .map(|d| json!({"doc": {"id": d.id, "type": "doc", "href": format!("{}/docs/{}", s.api_base, d.id),
                "browserLink": doc_link(&d.id), "title": d.name, "createdAt": d.created_at,
                "publishedAt": d.extras.published.as_ref().map(|_| "2026-01-10T09:00:00.000Z")},
                "metrics": doc_metrics(d, q)})).collect();
        if let Some(order) = q.get("orderBy") {
            let key = |v: &Value| match order.as_str() {
                "title" => json!(v["doc"]["title"]),
                "docId" => json!(v["doc"]["id"]),
                "createdAt" => json!(v["doc"]["createdAt"]),
                other => json!(sum(v["metrics"].as_array().map(Vec::as_slice).unwrap_or(&[]), other)),
            };
            items.sort_by(|a, b| {
                let (ka, kb) = (key(a), key(b));
                match (ka.as_f64(), kb.as_f64()) {
                    (Some(x), Some(y)) => x.total_cmp(&y),
                    _ => ka.to_string().cmp(&kb.to_string()),
                }
            });
            if q.get("direction").map(String::as_str) == Some("descending") {
                items.reverse();
            }
        }
        Ok(page_of(items, &p, &format!("{}/analytics/docs", s.api_base)))
    }))
}

async fn doc_analytics_summary(State(s): State<Shared>, Query(q): Query<Params>) -> Response {
    let ws = s.workspace.lock().expect("workspace");
    let metrics: Vec<Value> = ws.docs.iter().flat_map(|d| doc_metrics(d, &q)).collect();
    ok(
        json!({"totalSessions": sum(&metrics, "totalSessions"), "totalViews": sum(&metrics, "views"),
        "totalCopies": sum(&metrics, "copies"), "totalLikes": sum(&metrics, "likes"), "totalAiCredits": 0}),
    )
}

async fn page_analytics(
    State(s): State<Shared>,
    Path(doc): Path<String>,
    Query(raw): Query<Params>,
) -> Response {
    respond(paging(&s, raw).and_then(|p| with_doc(&s, &doc, |_, d| {
        let items = d.pages.iter().enumerate().map(|(n, page)| json!({"page": page.reference(&s.api_base, &d.id),
            "metrics": DAYS.iter().enumerate().filter(|(_, day)| in_range(&p.params, day)).map(|(i, day)| {
                let views = (d.extras.views / 10 + (i * 5 + n * 3) as u64 % 9) / (n as u64 + 1);
                json!({"date": day, "views": views, "sessions": views * 3 / 4, "users": views / 2,
                    "averageSecondsViewed": 40 + n * 5, "medianSecondsViewed": 30 + n * 4, "tabs": views / 5})
            }).collect::<Vec<_>>()})).collect();
        Ok(page_of(items, &p, &format!("{}/analytics/docs/{doc}/pages", s.api_base)))
    })))
}

const PACK_ID: u64 = 1001;

fn pack_metrics(q: &Params) -> Vec<Value> {
    DAYS.iter().enumerate().filter(|(_, d)| in_range(q, d)).map(|(i, day)| json!({"date": day,
        "docInstalls": 3 + i as u64, "workspaceInstalls": 1, "numFormulaInvocations": 40 + 7 * i as u64,
        "numActionInvocations": 5 + i as u64, "numSyncInvocations": 2, "numMetadataInvocations": 1,
        "docsActivelyUsing": 3, "workspacesActivelyUsing": 1, "revenueUsd": "0"})).collect()
}

async fn pack_analytics(State(s): State<Shared>, Query(raw): Query<Params>) -> Response {
    respond(paging(&s, raw).map(|p| {
        let wanted = p.params.get("packIds").is_none_or(|ids| ids.split(',').any(|i| i.trim() == PACK_ID.to_string()));
        let items = if wanted { vec![json!({"pack": {"id": PACK_ID, "name": "Demo Pack", "createdAt": "2025-10-01T09:00:00.000Z"},
            "metrics": pack_metrics(&p.params)})] } else { vec![] };
        page_of(items, &p, &format!("{}/analytics/packs", s.api_base))
    }))
}

async fn pack_analytics_summary(Query(q): Query<Params>) -> Response {
    let m = pack_metrics(&q);
    ok(
        json!({"totalDocInstalls": sum(&m, "docInstalls"), "totalWorkspaceInstalls": sum(&m, "workspaceInstalls"),
        "totalInvocations": sum(&m, "numFormulaInvocations") + sum(&m, "numActionInvocations") + sum(&m, "numSyncInvocations")}),
    )
}

async fn pack_formula_analytics(
    State(s): State<Shared>,
    Path(pack): Path<String>,
    Query(raw): Query<Params>,
) -> Response {
    respond(paging(&s, raw).and_then(|p| {
        let id: u64 = pack.parse().map_err(|_| validation_error("packId", "packId must be an integer"))?;
        if id != PACK_ID {
            return Err(not_found("Pack", &pack));
        }
        let names: Option<Vec<&str>> = p.params.get("packFormulaNames").map(|n| n.split(',').collect());
        let items = [("Greeting", "formula"), ("SendMessage", "action"), ("Contacts", "sync")].iter()
            .filter(|(n, _)| names.as_ref().is_none_or(|ns| ns.contains(n)))
            .map(|(n, t)| json!({"formula": {"name": n, "type": t}, "metrics": DAYS.iter().filter(|d| in_range(&p.params, d))
                .enumerate().map(|(i, day)| json!({"date": day, "formulaInvocations": 10 + i, "errors": i % 2,
                    "medianLatencyMs": 120 + i * 3, "medianResponseSizeBytes": 512})).collect::<Vec<_>>()})).collect();
        Ok(page_of(items, &p, &format!("{}/analytics/packs/{pack}/formulas", s.api_base)))
    }))
}

async fn analytics_updated() -> Response {
    ok(
        json!({"docAnalyticsLastUpdated": DAYS[6], "packAnalyticsLastUpdated": DAYS[6], "packAdminAnalyticsLastUpdated": DAYS[6]}),
    )
}

// ------------------------------------------------------------------ workspaces and go links

fn check_workspace(ws: &Workspace, id: &str) -> Result<(), ApiError> {
    if ws.id == id {
        Ok(())
    } else {
        Err(not_found("Workspace", id))
    }
}

async fn list_members(
    State(s): State<Shared>,
    Path(wid): Path<String>,
    Query(raw): Query<Params>,
) -> Response {
    respond(paging(&s, raw).and_then(|p| {
        let ws = s.workspace.lock().expect("workspace");
        check_workspace(&ws, &wid)?;
        let roles: Option<Vec<&str>> = p.params.get("includedRoles").map(|r| r.split(',').collect());
        let items = ws.members.iter().filter(|m| roles.as_ref().is_none_or(|r| r.contains(&m.role.as_str())))
            .map(|m| json!({"email": m.email, "name": m.name, "role": m.role, "registeredAt": "2025-06-01T08:00:00.000Z",
                "lastActiveAt": "2026-02-27T10:00:00.000Z", "pictureUrl": "https://cdn.coda.io/avatars/default_avatar.png"})).collect();
        Ok(page_of(items, &p, &format!("{}/workspaces/{wid}/users", s.api_base)))
    }))
}

async fn change_role(State(s): State<Shared>, Path(wid): Path<String>, body: Bytes) -> Response {
    mutate_now(&s, |ws| {
        check_workspace(ws, &wid)?;
        let body = body_of(&body)?;
        let role = body["newRole"]
            .as_str()
            .filter(|r| ["Admin", "DocMaker", "Editor"].contains(r))
            .ok_or_else(|| {
                validation_error("newRole", "newRole must be Admin, DocMaker or Editor")
            })?
            .to_owned();
        let email = body["email"]
            .as_str()
            .ok_or_else(|| validation_error("email", "email is required"))?;
        let member = ws
            .members
            .iter_mut()
            .find(|m| m.email.eq_ignore_ascii_case(email))
            .ok_or_else(|| not_found("Member", email))?;
        member.role = role;
        Ok(json!({"roleChangedAt": now_iso()}))
    })
}

async fn role_activity(State(s): State<Shared>, Path(wid): Path<String>) -> Response {
    let ws = s.workspace.lock().expect("workspace");
    if let Err(e) = check_workspace(&ws, &wid) {
        return e.into_response();
    }
    let count = |r: &str| ws.members.iter().filter(|m| m.role == r).count();
    ok(
        json!({"items": [{"month": "2026-02", "activeAdminCount": count("Admin"), "activeDocMakerCount": count("DocMaker"),
        "activeEditorCount": count("Editor"), "inactiveAdminCount": 0, "inactiveDocMakerCount": 0, "inactiveEditorCount": 0}]}),
    )
}

async fn add_go_link(State(s): State<Shared>, Path(org): Path<String>, body: Bytes) -> Response {
    mutate_now(&s, |ws| {
        if ws.organization_id != org {
            return Err(coda_error(
                StatusCode::FORBIDDEN,
                &format!("You are not an admin of organization '{org}'."),
            ));
        }
        let body = body_of(&body)?;
        let name = body["name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| validation_error("name", "name is required"))?;
        let dest = body["destinationUrl"]
            .as_str()
            .filter(|u| u.starts_with("http"))
            .ok_or_else(|| {
                validation_error("destinationUrl", "destinationUrl must be an http(s) URL")
            })?;
        if ws.go_links.iter().any(|l| l["name"] == json!(name)) {
            return Err(validation_error(
                "name",
                &format!("A go link named '{name}' already exists."),
            ));
        }
        ws.go_links.push(json!({"name": name, "destinationUrl": dest, "description": body["description"], "urlPattern": body["urlPattern"]}));
        Ok(json!({}))
    })
}

// ------------------------------------------------------------------ folders

async fn list_folders(State(s): State<Shared>, Query(raw): Query<Params>) -> Response {
    respond(paging(&s, raw).and_then(|p| {
        let ws = s.workspace.lock().expect("workspace");
        let starred = bool_param(&p.params, "isStarred")?;
        let items = ws
            .folders
            .iter()
            .filter(|_| p.params.get("workspaceId").is_none_or(|w| *w == ws.id))
            .filter(|f| starred.is_none_or(|st| st == f.starred))
            .map(|f| ws.folder_json(&s.api_base, f))
            .collect();
        Ok(page_of(items, &p, &format!("{}/folders", s.api_base)))
    }))
}

async fn create_folder(State(s): State<Shared>, body: Bytes) -> Response {
    mutate_now(&s, |ws| {
        let body = body_of(&body)?;
        let name = body["name"]
            .as_str()
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| validation_error("name", "name is required"))?;
        let wid = body["workspaceId"]
            .as_str()
            .ok_or_else(|| validation_error("workspaceId", "workspaceId is required"))?;
        check_workspace(ws, wid)?;
        let folder = Folder {
            id: new_id("fl-"),
            name: name.into(),
            description: body["description"].as_str().unwrap_or("").into(),
            starred: false,
        };
        let json = ws.folder_json(&s.api_base, &folder);
        ws.folders.push(folder);
        Ok(json)
    })
}

async fn get_folder(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    let ws = s.workspace.lock().expect("workspace");
    match ws.folders.iter().find(|f| f.id == id) {
        Some(f) => ok(ws.folder_json(&s.api_base, f)),
        None => not_found("Folder", &id).into_response(),
    }
}

async fn update_folder(State(s): State<Shared>, Path(id): Path<String>, body: Bytes) -> Response {
    mutate_now(&s, |ws| {
        let body = body_of(&body)?;
        if body
            .get("name")
            .is_some_and(|n| n.as_str().is_none_or(|n| n.trim().is_empty()))
        {
            return Err(validation_error("name", "name must be a non-empty string"));
        }
        let f = ws
            .folders
            .iter_mut()
            .find(|f| f.id == id)
            .ok_or_else(|| not_found("Folder", &id))?;
        if let Some(n) = body["name"].as_str() {
            f.name = n.into();
        }
        if let Some(d) = body["description"].as_str() {
            f.description = d.into();
        }
        let f = f.clone();
        for d in ws.docs.iter_mut().filter(|d| d.folder_id == id) {
            d.folder_name = f.name.clone();
        }
        Ok(ws.folder_json(&s.api_base, &f))
    })
}

async fn delete_folder(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    {
        let ws = s.workspace.lock().expect("workspace");
        if !ws.folders.iter().any(|f| f.id == id) {
            return not_found("Folder", &id).into_response();
        }
        if ws.docs.iter().any(|d| d.folder_id == id) {
            return coda_error(
                StatusCode::BAD_REQUEST,
                "The folder still holds docs; move or delete them first.",
            )
            .into_response();
        }
    }
    enqueue(&s, move |ws| ws.folders.retain(|f| f.id != id));
    accepted(json!({}))
}
