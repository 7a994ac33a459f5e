//! Sharing: permissions, principals and the ACL settings of a doc.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::common::{
    body_of, doc_mut, mutate_now, new_id, not_found, page_of, paging, respond, validation_error,
    with_doc, Params, Shared,
};
use super::model::DocExtras;
use super::sample::PEOPLE;

/// This resource's routes (the router adds them under `/apis/v1`).
pub(super) fn routes() -> Router<Shared> {
    Router::new()
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
}

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
            // Coda's `UserSummary`: a user is `type: "user"`, known by `loginId` (the email).
            .map(|p| json!({"type": "user", "loginId": p.email, "name": p.name}))
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
