//! Whose sessions these are, in front of every authenticated route: `own` looks the named
//! session up once (`sessions::lookup`) and answers a session that is not the caller's with
//! the same 404 as an unknown one, so its existence is not revealed; `admit` holds a request
//! that opens a session to the caller's share (`sessions::admit`, 503 beyond it) and binds
//! the new MCP session to its creator. The rate limiter sits between the two (`limits`).

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use super::jsonrpc::{session_not_found, too_many_sessions};
use super::sessions::Lookup;
use super::AppState;
use crate::caller::{Caller, Principal};

/// Who is calling (the owner when no caller was attached): whom sessions and rate buckets
/// belong to.
pub(super) fn principal_of(req: &Request) -> Principal {
    req.extensions()
        .get::<Caller>()
        .map(Caller::principal)
        .unwrap_or(Principal::Owner)
}

/// The `Mcp-Session-Id` a request to `/mcp` names.
fn named_session(req: &Request) -> Option<String> {
    if req.uri().path() != "/mcp" {
        return None;
    }
    req.headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Looks the named session up for this caller (the answer rides along as a request
/// extension for the layers behind); a session that is someone else's is not found.
pub async fn own(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if let Some(id) = named_session(&req) {
        let lookup = state.sessions.lookup(&id, principal_of(&req)).await;
        if lookup == Lookup::NotYours {
            return session_not_found();
        }
        // Unknown: rmcp and the direct-call flow answer 404 themselves (a direct call may
        // start a session under that name).
        req.extensions_mut().insert(lookup);
    }
    next.run(req).await
}

/// A request that opens a session is held to the caller's share; the MCP session it opens
/// belongs to its caller from then on (direct-call sessions keep their owner themselves).
pub async fn admit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let opens_session =
        req.method() == Method::POST && req.uri().path() == "/mcp" && named_session(&req).is_none();
    if !opens_session {
        return next.run(req).await;
    }
    let principal = principal_of(&req);
    if let Err(full) = state.sessions.admit(principal).await {
        return too_many_sessions(full);
    }
    let response = next.run(req).await;
    if response.status().is_success() {
        let created = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok());
        if let Some(id) = created {
            if state.sessions.is_mcp(id).await {
                state.sessions.bind(id, principal);
            }
        }
    }
    response
}
