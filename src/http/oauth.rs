//! The OAuth endpoints, on both faces (what ChatGPT's and Claude's connectors use):
//! discovery (RFC 9728 protected-resource metadata, RFC 8414 authorization-server metadata),
//! registration (RFC 7591), the consent page the owner approves with the connection key (or
//! from the dashboard), the token endpoint and revocation (RFC 7009). The protocol's state is
//! `crate::oauth`'s; this module speaks HTTP for it.
//!
//! Every URL it advertises is the one the request came through: the public URL through the
//! tunnel (or a request naming the public host), `http://<Host>` on loopback — so the issuer
//! a client checks is always the one it asked.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde_json::{json, Value};

use super::auth::{Auth, KeyVerdict};
use super::origin::PublicHost;
use super::resource::{base_url, same_resource};
use super::AppState;
use crate::caller::{SCOPE_READ, SCOPE_WRITE};
use crate::oauth::{
    cimd::Fetcher, parse_scope, redirect_uri_allowed, Client, Limited, OAuth, Pending,
};

/// Largest body an OAuth endpoint reads (registrations and forms are a few hundred bytes).
pub(super) const MAX_BODY_BYTES: usize = 64 * 1024;

/// The consent page's stylesheet and script (no external assets; built into the binary).
const CONSENT_CSS: &str = include_str!("oauth/consent.css");
const CONSENT_JS: &str = include_str!("oauth/consent.js");

/// The routes (the caller adds the body reader: none of them is behind the bearer check).
pub fn routes(state: AppState, auth: Auth) -> Router {
    Router::new()
        .route(
            "/.well-known/oauth-protected-resource",
            get(resource_metadata),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(resource_metadata),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(server_metadata),
        )
        .route("/.well-known/openid-configuration", get(server_metadata))
        .route("/oauth/register", post(register))
        .route("/oauth/authorize", get(authorize).post(consent))
        .route("/oauth/authorize/status", get(status))
        .route("/oauth/token", post(token))
        .route("/oauth/revoke", post(revoke))
        .route("/oauth/consent.css", get(|| asset("text/css", CONSENT_CSS)))
        .route(
            "/oauth/consent.js",
            get(|| asset("text/javascript", CONSENT_JS)),
        )
        .with_state((state, auth))
}

type Ctx = State<(AppState, Auth)>;

async fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn is_public(req_public: Option<&PublicHost>) -> bool {
    req_public.is_some()
}

async fn resource_metadata(
    State((state, _)): Ctx,
    public: Option<axum::Extension<PublicHost>>,
    headers: HeaderMap,
) -> Json<Value> {
    let base = base_url(&state.engine, &headers, is_public(public.as_deref()));
    Json(json!({
        "resource": format!("{base}/mcp"),
        "authorization_servers": [base],
        "scopes_supported": [SCOPE_READ, SCOPE_WRITE],
        "bearer_methods_supported": ["header"],
        "resource_name": "Coda MCP Desktop",
    }))
}

async fn server_metadata(
    State((state, _)): Ctx,
    public: Option<axum::Extension<PublicHost>>,
    headers: HeaderMap,
) -> Json<Value> {
    let base = base_url(&state.engine, &headers, is_public(public.as_deref()));
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/oauth/authorize"),
        "token_endpoint": format!("{base}/oauth/token"),
        "registration_endpoint": format!("{base}/oauth/register"),
        "revocation_endpoint": format!("{base}/oauth/revoke"),
        "scopes_supported": [SCOPE_READ, SCOPE_WRITE],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "client_id_metadata_document_supported": true,
        "authorization_response_iss_parameter_supported": true,
        "service_documentation": "https://github.com/coda-mcp-desktop#connect-chatgpt",
    }))
}

/// The client's address (what the connection told the router), loopback when unknown.
fn client_ip(addr: Option<&axum::Extension<ConnectInfo<SocketAddr>>>) -> IpAddr {
    addr.map(|c| c.0 .0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

/// An OAuth error answer (RFC 6749 §5.2, RFC 7591 §3.2.2).
fn oauth_error(status: StatusCode, code: &str, description: impl Into<String>) -> Response {
    let mut resp = (
        status,
        Json(json!({"error": code, "error_description": description.into()})),
    )
        .into_response();
    no_store(&mut resp);
    resp
}

fn no_store(resp: &mut Response) {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// `POST /oauth/register` (RFC 7591): public clients only (`none`), https or loopback redirect
/// URIs, rate-limited per client network, bounded in number.
async fn register(
    State((state, _)): Ctx,
    addr: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    body: axum::body::Bytes,
) -> Response {
    let oauth = state.engine.oauth();
    if !oauth.allow(
        Limited::Registration,
        super::conn::client_network(client_ip(addr.as_ref())),
    ) {
        let mut resp = oauth_error(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "too many registrations from this address; try again in a minute",
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        return resp;
    }
    let Ok(meta) = serde_json::from_slice::<Value>(&body) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            "the body must be a JSON object of client metadata",
        );
    };
    let redirect_uris: Vec<String> = meta["redirect_uris"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|u| u.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if redirect_uris.is_empty() || redirect_uris.len() > 10 {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_redirect_uri",
            "redirect_uris must list one to ten redirect URIs",
        );
    }
    if let Some(bad) = redirect_uris
        .iter()
        .find(|u| u.len() > 2_000 || !redirect_uri_allowed(u))
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_redirect_uri",
            format!(
                "redirect URI {:?} is not allowed: use https, or http on a loopback address, without a fragment",
                bad.chars().take(200).collect::<String>()
            ),
        );
    }
    match meta["token_endpoint_auth_method"].as_str() {
        None | Some("none") => {}
        Some(other) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_client_metadata",
                format!("token_endpoint_auth_method {other:?} is not supported: this server registers public clients (\"none\", with PKCE)"),
            )
        }
    }
    if let Some(grants) = meta["grant_types"].as_array() {
        if grants.iter().any(|g| {
            !matches!(
                g.as_str(),
                Some("authorization_code") | Some("refresh_token")
            )
        }) {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_client_metadata",
                "grant_types may only be authorization_code and refresh_token",
            );
        }
    }
    let name: String = meta["client_name"]
        .as_str()
        .unwrap_or("An unnamed app")
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    let client = Client {
        id: crate::secrets::random_token("mcpc_").expose().to_owned(),
        kind: "registered".into(),
        name,
        redirect_uris,
    };
    if let Err(e) = oauth.store().save_client(&client) {
        return oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            format!("the client could not be registered: {e}"),
        );
    }
    let mut resp = (
        StatusCode::CREATED,
        Json(json!({
            "client_id": client.id,
            "client_id_issued_at": chrono::Utc::now().timestamp(),
            "client_name": client.name,
            "redirect_uris": client.redirect_uris,
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        })),
    )
        .into_response();
    no_store(&mut resp);
    resp
}

/// A page that says a request cannot go on (used before the redirect URI is trusted, so the
/// browser is never sent anywhere a stranger chose).
fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Cannot connect</title>\
         <link rel=\"stylesheet\" href=\"/oauth/consent.css\"></head><body><main><h1>This connection cannot be made</h1>\
         <p>{}</p></main></body></html>",
        escape(message)
    );
    let mut resp = (status, Html(body)).into_response();
    page_headers(&mut resp, None);
    resp
}

/// The consent page's protections: no framing, no external anything, forms only to here and
/// to the client's redirect origin (where the answer goes).
fn page_headers(resp: &mut Response, redirect_origin: Option<&str>) {
    let form_action = match redirect_origin {
        Some(o) => format!("'self' {o}"),
        None => "'self'".into(),
    };
    let csp = format!("default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'");
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        // Not `no-referrer`: with it the browser sends `Origin: null` on the form post.
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    no_store(resp);
}

/// HTML-escapes text.
fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".into(),
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '"' => "&quot;".into(),
            '\'' => "&#39;".into(),
            c => c.to_string(),
        })
        .collect()
}

/// Sends the browser back to the client with an error (once the redirect URI is trusted).
fn redirect_error(
    redirect_uri: &str,
    state: Option<&str>,
    issuer: &str,
    code: &str,
    description: &str,
) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return error_page(StatusCode::BAD_REQUEST, description);
    };
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("error", code);
        q.append_pair("error_description", description);
        if let Some(s) = state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", issuer);
    }
    let mut resp = Redirect::to(url.as_str()).into_response();
    no_store(&mut resp);
    resp
}

/// The client named by `client_id`: a registered one, or a metadata document's.
async fn find_client(oauth: &OAuth, client_id: &str) -> Result<Client, String> {
    if Fetcher::is_document_url(client_id) {
        let client = oauth
            .cimd
            .client(client_id)
            .await
            .map_err(|e| e.to_string())?;
        // Kept for the dashboard's list of connected apps.
        let _ = oauth.store().save_client(&client);
        return Ok(client);
    }
    match oauth.store().client(client_id) {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(format!(
            "the app's client_id {:?} is not registered here (it may have been registered with another server, or forgotten after a day unused): connect it again",
            client_id.chars().take(80).collect::<String>()
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// `GET /oauth/authorize`: checks the request, then shows the owner the consent page.
async fn authorize(
    State((state, _)): Ctx,
    public: Option<axum::Extension<PublicHost>>,
    addr: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let oauth = state.engine.oauth();
    if !oauth.allow(
        Limited::Request,
        super::conn::client_network(client_ip(addr.as_ref())),
    ) {
        return error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many connection requests from this address: try again in a minute.",
        );
    }
    let base = base_url(&state.engine, &headers, is_public(public.as_deref()));
    let Some(client_id) = q.get("client_id") else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "The request names no client (client_id).",
        );
    };
    let client = match find_client(oauth, client_id).await {
        Ok(c) => c,
        Err(why) => return error_page(StatusCode::BAD_REQUEST, &why),
    };
    let redirect_uri = match q.get("redirect_uri") {
        Some(r) if client.redirect_uris.iter().any(|u| u == r) => r.clone(),
        Some(_) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "The redirect_uri is not one this app registered (it must match exactly), so the answer cannot be sent back.",
            )
        }
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "The request names no redirect_uri, and the app registered several.",
            )
        }
    };
    let client_state = q.get("state").cloned();
    let fail = |code: &str, description: &str| {
        redirect_error(
            &redirect_uri,
            client_state.as_deref(),
            &base,
            code,
            description,
        )
    };
    if q.get("response_type").map(String::as_str) != Some("code") {
        return fail(
            "unsupported_response_type",
            "only response_type=code is supported",
        );
    }
    let challenge = match (q.get("code_challenge"), q.get("code_challenge_method")) {
        (Some(c), Some(m)) if m == "S256" && (43..=128).contains(&c.len()) => c.clone(),
        _ => {
            return fail(
                "invalid_request",
                "PKCE is required: send code_challenge with code_challenge_method=S256",
            )
        }
    };
    let expected = format!("{base}/mcp");
    match q.get("resource") {
        Some(r) if same_resource(r, &expected) => {}
        Some(_) => {
            return fail(
                "invalid_target",
                &format!("resource must be this server's MCP endpoint, {expected}"),
            )
        }
        None => {
            return fail(
                "invalid_target",
                &format!("resource (RFC 8707) is required: this server's MCP endpoint, {expected}"),
            )
        }
    }
    let scopes = match parse_scope(q.get("scope").map(String::as_str)) {
        Ok(s) => s,
        Err(why) => return fail("invalid_scope", &why),
    };
    let pending = oauth.add_pending(OAuth::request(
        client,
        redirect_uri,
        client_state,
        challenge,
        scopes,
        expected,
        base,
    ));
    state
        .engine
        .events()
        .publish(crate::events::EventKind::OAuthRequest {
            request: pending.id.clone(),
            client: pending.client.name.clone(),
            client_kind: pending.client.kind.clone(),
            redirect_host: pending.redirect_host(),
            scopes: pending.scopes.clone(),
        });
    consent_page(&pending, None)
}

/// The page the owner sees: who asks, where the answer goes (in large type), what it may do,
/// the connection key, Allow and Deny. While the dashboard is open the request shows there
/// too, and this page goes on by itself once it is answered there.
fn consent_page(p: &Pending, problem: Option<&str>) -> Response {
    let writes = p.scopes.iter().any(|s| s == SCOPE_WRITE);
    let kind = if p.client.kind == "metadata document" {
        format!(
            "identified by its metadata document at <code>{}</code>",
            escape(&p.client.id)
        )
    } else {
        "registered with this server just now or earlier".to_owned()
    };
    let write_box = if writes {
        "<label class=\"check\"><input type=\"checkbox\" name=\"write\" value=\"1\" checked> Allow it to change Coda too (create, update and delete docs, pages, tables and rows)</label>"
    } else {
        ""
    };
    let problem = problem
        .map(|m| format!("<p class=\"problem\" role=\"alert\">{}</p>", escape(m)))
        .unwrap_or_default();
    let body = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Allow {name} to use your Coda?</title><link rel="stylesheet" href="/oauth/consent.css"></head>
<body><main>
<h1>Allow <strong>{name}</strong> to use your Coda workspace?</h1>
<p class="who">The app is {kind}. If you allow it, its answers go to</p>
<p class="host">{host}</p>
<p>It asks to <strong>{what}</strong> through this Coda MCP server, with your Coda account, until you revoke it (dashboard → Connected apps, or <code>coda-mcp oauth revoke</code>).</p>
{problem}
<form method="post" action="/oauth/authorize" id="consent" data-request="{id}">
<input type="hidden" name="request" value="{id}">
{write_box}
<label for="key">Connection key</label>
<input type="password" id="key" name="key" autocomplete="off" placeholder="cmk_… (coda-mcp key show, or the dashboard)">
<div class="buttons"><button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" formnovalidate>Deny</button></div>
</form>
<p class="hint" id="elsewhere">You can also answer in the Coda MCP Desktop dashboard while it is open; this page then continues by itself.</p>
</main><script src="/oauth/consent.js"></script></body></html>"#,
        name = escape(&p.client.name),
        kind = kind,
        host = escape(&p.redirect_host()),
        what = if writes {
            "read and change your Coda docs"
        } else {
            "read your Coda docs"
        },
        id = escape(&p.id),
    );
    let origin = url::Url::parse(&p.redirect_uri)
        .ok()
        .map(|u| u.origin().ascii_serialization());
    let mut resp = Html(body).into_response();
    page_headers(&mut resp, origin.as_deref());
    resp
}

/// `POST /oauth/authorize`: the consent form. Allow needs the connection key; a wrong key
/// counts toward the address's lockout, as on `/mcp`.
async fn consent(
    State((state, auth)): Ctx,
    addr: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let oauth = state.engine.oauth();
    let request_id = form.get("request").map(String::as_str).unwrap_or("");
    let Some(pending) = oauth.pending(request_id) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "This approval request is unknown or has expired (they last ten minutes): start connecting again from the app.",
        );
    };
    if let Some(answer) = &pending.decided {
        return see_other(answer);
    }
    let allow = form.get("decision").map(String::as_str) == Some("allow");
    if allow {
        let ip = client_ip(addr.as_ref());
        match auth.check_key(ip, form.get("key").map(String::as_str).unwrap_or("")) {
            KeyVerdict::Owner => {}
            KeyVerdict::Wrong => {
                return consent_page(
                    &pending,
                    Some("That is not the connection key of this server. `coda-mcp key show` prints it; the dashboard shows it under Setup."),
                )
            }
            KeyVerdict::LockedOut(wait) => {
                return consent_page(
                    &pending,
                    Some(&format!(
                        "Too many wrong keys from this address: try again in {} s.",
                        wait.as_secs().max(1)
                    )),
                )
            }
        }
    }
    let write = form.get("write").is_some_and(|v| v == "1");
    match oauth.decide(request_id, allow, write) {
        Some(answer) => {
            state
                .engine
                .events()
                .publish(crate::events::EventKind::OAuthDecided {
                    request: request_id.to_owned(),
                    allowed: allow,
                });
            see_other(&answer)
        }
        None => error_page(
            StatusCode::BAD_REQUEST,
            "This approval request was already answered or has expired.",
        ),
    }
}

fn see_other(location: &str) -> Response {
    let mut resp = Redirect::to(location).into_response();
    no_store(&mut resp);
    resp
}

/// `GET /oauth/authorize/status?request=…`: whether the owner answered in the dashboard, and
/// where the consent page should go then.
async fn status(State((state, _)): Ctx, Query(q): Query<HashMap<String, String>>) -> Response {
    let id = q.get("request").map(String::as_str).unwrap_or("");
    let body = match state.engine.oauth().pending(id) {
        None => json!({"state": "unknown"}),
        Some(p) => match p.decided {
            Some(answer) => json!({"state": "decided", "redirect": answer}),
            None => json!({"state": "pending"}),
        },
    };
    let mut resp = Json(body).into_response();
    no_store(&mut resp);
    resp
}

/// `POST /oauth/token`: `authorization_code` (with PKCE) and `refresh_token` (rotating).
async fn token(State((state, _)): Ctx, Form(form): Form<HashMap<String, String>>) -> Response {
    let oauth = state.engine.oauth();
    let get = |k: &str| form.get(k).map(String::as_str);
    let Some(client_id) = get("client_id") else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client_id is required (public clients authenticate with it and PKCE)",
        );
    };
    if find_client(oauth, client_id).await.is_err() {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client_id: register again",
        );
    }
    let outcome = match get("grant_type") {
        Some("authorization_code") => {
            let Some(code) = get("code") else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "code is required",
                );
            };
            oauth.exchange_code(
                code,
                client_id,
                get("redirect_uri"),
                get("code_verifier"),
                get("resource"),
            )
        }
        Some("refresh_token") => {
            let Some(refresh) = get("refresh_token") else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "refresh_token is required",
                );
            };
            oauth.exchange_refresh(refresh, client_id)
        }
        Some(other) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!(
                    "grant_type {other:?} is not supported (authorization_code, refresh_token)"
                ),
            )
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required",
            )
        }
    };
    match outcome {
        Ok(tokens) => {
            state
                .engine
                .events()
                .publish(crate::events::EventKind::OAuthGrantsChanged);
            let mut resp = Json(json!({
                "access_token": tokens.access.expose(),
                "token_type": "Bearer",
                "expires_in": tokens.expires_in,
                "refresh_token": tokens.refresh.expose(),
                "scope": tokens.scope,
            }))
            .into_response();
            no_store(&mut resp);
            resp
        }
        Err(e) => {
            if e.description.contains("already used") {
                state
                    .engine
                    .events()
                    .publish(crate::events::EventKind::OAuthGrantsChanged);
            }
            oauth_error(StatusCode::BAD_REQUEST, e.code, e.description)
        }
    }
}

/// `POST /oauth/revoke` (RFC 7009): always 200, whether or not the token was known.
async fn revoke(State((state, _)): Ctx, Form(form): Form<HashMap<String, String>>) -> Response {
    let Some(token) = form.get("token") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token is required",
        );
    };
    if let Err(e) = state.engine.oauth().revoke_token(token) {
        return oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            e.to_string(),
        );
    }
    state
        .engine
        .events()
        .publish(crate::events::EventKind::OAuthGrantsChanged);
    let mut resp = StatusCode::OK.into_response();
    no_store(&mut resp);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_are_one_resource() {
        assert!(same_resource(
            "http://localhost:8080/mcp",
            "http://127.0.0.1:8080/mcp/"
        ));
        assert!(same_resource(
            "https://a.ngrok.app/mcp",
            "https://A.ngrok.app:443/mcp"
        ));
        assert!(!same_resource(
            "http://127.0.0.1:8081/mcp",
            "http://127.0.0.1:8080/mcp"
        ));
        assert!(!same_resource(
            "https://evil.example/mcp",
            "https://a.ngrok.app/mcp"
        ));
        assert!(!same_resource(
            "https://a.ngrok.app/other",
            "https://a.ngrok.app/mcp"
        ));
        assert!(!same_resource(
            "http://127.0.0.1:8080/mcp",
            "https://127.0.0.1:8080/mcp"
        ));
    }

    #[test]
    fn text_on_the_consent_page_is_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
