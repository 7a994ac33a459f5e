//! Custom domains of a published doc, and the domain-provider lookup.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;

/// This resource's routes (the router adds them under `/apis/v1`).
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/docs/{doc}/domains", get(list_domains).post(add_domain))
        .route(
            "/docs/{doc}/domains/{domain}",
            axum::routing::delete(delete_domain).patch(update_domain),
        )
        .route("/domains/provider/{domain}", get(domain_provider))
}

async fn list_domains(State(s): State<Shared>, Path(doc): Path<String>) -> Response {
    respond(with_doc(&s, &doc, |_, d| {
        Ok(
            json!({"customDocDomains": d.extras.domains, "href": format!("{}/docs/{doc}/domains", s.api_base)}),
        )
    }))
}

async fn add_domain(State(s): State<Shared>, Path(doc): Path<String>, body: Bytes) -> Response {
    let planned = (|| -> Result<String, ApiError> {
        // The doc first (a 404), as Coda resolves the path before it reads the body.
        with_doc(&s, &doc, |_, _| Ok(()))?;
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
    enqueue(&s, Some(doc.clone()), move |ws| {
        if let Some(d) = ws.doc_mut(&doc) {
            d.extras.domains.push(json!({"customDocDomain": domain, "setupStatus": "pending", "domainStatus": "notConnected", "hasCertificate": false, "hasDnsDocId": false}));
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
        // Declared for this operation: 404, not 400.
        return coda_error(
            axum::http::StatusCode::NOT_FOUND,
            &format!("'{domain}' is not a domain name."),
        )
        .into_response();
    }
    ok(json!({"provider": "Other"}))
}
use super::common::{
    accepted, body_of, coda_error, doc_mut, enqueue, mutate_now, not_found, now_iso, ok, respond,
    validation_error, with_doc, ApiError, Shared,
};
