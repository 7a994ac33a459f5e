//! Workspace members and roles, go links, and folders.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use super::common::{
    accepted, body_of, bool_param, coda_error, enqueue, mutate_now, new_id, not_found, now_iso, ok,
    page_of, paging, respond, validation_error, ApiError, Params, Shared,
};
use super::model::{Folder, Workspace};

/// This resource's routes (the router adds them under `/apis/v1`).
pub(super) fn routes() -> Router<Shared> {
    Router::new()
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

fn check_workspace(ws: &Workspace, id: &str) -> Result<(), ApiError> {
    if ws.id == id {
        Ok(())
    } else {
        Err(not_found("Workspace", id))
    }
}

/// `listWorkspaceMembers` declares no `limit`: as Coda, pages have the default size
/// whatever a caller asks.
async fn list_members(
    State(s): State<Shared>,
    Path(wid): Path<String>,
    Query(mut raw): Query<Params>,
) -> Response {
    raw.remove("limit");
    respond(paging(&s, raw).and_then(|p| {
        let ws = s.workspace.lock().expect("workspace");
        check_workspace(&ws, &wid)?;
        let roles: Option<Vec<&str>> = p.params.get("includedRoles").map(|r| r.split(',').collect());
        let items = ws.members.iter().filter(|m| roles.as_ref().is_none_or(|r| r.contains(&m.role.as_str())))
            .map(|m| json!({"email": m.email, "name": m.name, "role": m.role, "registeredAt": "2025-06-01T08:00:00.000Z",
                "lastActiveAt": "2026-02-27", "pictureUrl": "https://cdn.coda.io/avatars/default_avatar.png"})).collect();
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
    enqueue(&s, None, move |ws| ws.folders.retain(|f| f.id != id));
    accepted(json!({}))
}
