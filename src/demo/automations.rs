//! `resolveBrowserLink` (what a browser URL points at) and webhook-triggered automations.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use crate::tools::links;

/// This resource's routes (the router adds them under `/apis/v1`).
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/resolveBrowserLink", get(resolve_browser_link))
        .route(
            "/docs/{doc}/hooks/automation/{rule}",
            post(trigger_automation),
        )
}

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
    let request_id = enqueue(&s, Some(doc.clone()), move |ws| {
        if let Some(d) = ws.doc_mut(&doc) {
            d.extras.webhook_runs.push((rule, payload));
        }
    });
    accepted(json!({"requestId": request_id}))
}
use super::common::{
    accepted, body_of, bool_param, enqueue, not_found, respond, validation_error, with_doc,
    ApiError, Params, Shared,
};
