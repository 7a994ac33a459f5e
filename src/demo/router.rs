//! The demo's routes in one table (every resource's handlers, Coda's paths) behind its gate:
//! authentication, Coda's rate limits per token, the 2 MB request limit, fault switches.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::common::{coda_error, doc_is_behind, Shared};
use super::state::Grant;
use super::{
    analytics, api, automations, docs, domains, formulas, pages, row_actions, sharing, workspaces,
};
use crate::coda::{Pacer, RateClass};

/// Coda's 2 MB request limit.
const MAX_REQUEST_BYTES: usize = 2 * 1024 * 1024;

pub(super) fn router(state: Shared) -> Router {
    let api = Router::new()
        .route("/whoami", get(api::whoami))
        .route("/docs", get(api::list_docs).post(docs::create_doc))
        .route(
            "/docs/{doc}",
            get(api::get_doc)
                .delete(docs::delete_doc)
                .patch(docs::update_doc),
        )
        .route("/docs/{doc}/tables", get(api::list_tables))
        .route("/docs/{doc}/tables/{table}", get(api::get_table))
        .route("/docs/{doc}/tables/{table}/columns", get(api::list_columns))
        .route(
            "/docs/{doc}/tables/{table}/columns/{column}",
            get(api::get_column),
        )
        .route(
            "/docs/{doc}/tables/{table}/rows",
            get(api::list_rows)
                .post(api::upsert_rows)
                .delete(row_actions::delete_rows),
        )
        .route(
            "/docs/{doc}/tables/{table}/rows/{row}",
            get(api::get_row)
                .put(api::update_row)
                .delete(row_actions::delete_row),
        )
        .route("/mutationStatus/{id}", get(api::mutation_status))
        .merge(pages::routes())
        .merge(docs::routes())
        .merge(sharing::routes())
        .merge(row_actions::routes())
        .merge(formulas::routes())
        .merge(domains::routes())
        .merge(automations::routes())
        .merge(analytics::routes())
        .merge(workspaces::routes())
        .fallback(|| async {
            coda_error(StatusCode::NOT_FOUND, "This endpoint does not exist.").into_response()
        })
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state.clone());
    Router::new()
        .nest("/apis/v1", api)
        .route("/blobs/{id}", get(pages::download))
        .with_state(state)
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

/// Authentication (with the token's limits: read-only, one doc), rate limiting, the 2 MB
/// request limit, a stale doc's 400 and the write counter.
async fn gate(State(state): State<Shared>, mut req: Request, next: Next) -> Response {
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
    let grant = if token == state.config.token.expose() {
        Grant::default()
    } else if let Some(r) = state
        .config
        .restricted_tokens
        .iter()
        .find(|r| r.token.expose() == token)
    {
        Grant {
            read_only: r.read_only,
            doc: r.doc.clone(),
        }
    } else {
        return coda_error(
            StatusCode::UNAUTHORIZED,
            "The API token is invalid or has been revoked.",
        )
        .into_response();
    };
    state.requests_received.fetch_add(1, Ordering::SeqCst);
    if let Some(why) = grant.refusal(req.method() == Method::GET, req.uri().path()) {
        return coda_error(StatusCode::FORBIDDEN, &why).into_response();
    }
    req.extensions_mut().insert(grant);
    let class = rate_class(req.method(), req.uri().path());
    if let Some(i) = RateClass::ALL.iter().position(|c| *c == class) {
        state.received_by_class[i].fetch_add(1, Ordering::SeqCst);
    }
    if let Some(wait) = state.take_throttle(req.uri().path()) {
        state.throttled.fetch_add(1, Ordering::SeqCst);
        return too_many_requests(Some(wait));
    }
    if req.method() == Method::GET && state.take_read_fault(req.uri().path()) {
        // A read that fails before doing anything: safe for a client to retry.
        return coda_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is temporarily unavailable.",
        )
        .into_response();
    }
    if let Some(limits) = state.config.limits {
        let pacer = state
            .limiters
            .lock()
            .expect("limiters")
            .entry(token)
            .or_insert_with(|| Arc::new(Pacer::new(limits)))
            .clone();
        if let Err(wait) = pacer.try_acquire(class).await {
            state.throttled.fetch_add(1, Ordering::SeqCst);
            return too_many_requests(state.config.retry_after_header.then_some(wait));
        }
    }
    if req.method() == Method::GET && wants_latest(&req) {
        if let Some(doc) = doc_of(req.uri().path()).filter(|d| doc_is_behind(&state, d)) {
            return coda_error(
                StatusCode::BAD_REQUEST,
                &format!("The latest version of doc '{doc}' is not yet available to the API. Try again shortly, or leave out the X-Coda-Doc-Version header."),
            )
            .into_response();
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

/// Coda's 429, with `Retry-After` in whole seconds (at least 1) when given.
fn too_many_requests(retry_after: Option<std::time::Duration>) -> Response {
    let mut resp = coda_error(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many requests. Please slow down and retry later.",
    )
    .into_response();
    if let Some(wait) = retry_after {
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        resp.headers_mut()
            .insert("retry-after", HeaderValue::from(secs));
    }
    resp
}

/// Whether a read asks for the doc's latest version (`X-Coda-Doc-Version: latest`).
fn wants_latest(req: &Request) -> bool {
    req.headers()
        .get("x-coda-doc-version")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("latest"))
}

/// The doc a path below the API root is in (`/docs/{doc}/…`).
fn doc_of(path: &str) -> Option<&str> {
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    segments.find(|s| *s == "docs")?;
    segments.next()
}
