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
    cimd::Fetcher, known, parse_scope, redirect_uri_allowed, By, Client, Limited, OAuth, Pending,
    Refused, Status, Undecided, TOO_MANY_REFRESHES,
};

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
        .route("/", get(about))
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
        // This server's own page on how to connect (served at its root).
        "service_documentation": format!("{base}/"),
    }))
}

/// `GET /`: what this server is and how to connect an assistant to it (the authorization
/// server's `service_documentation`, and what a person sees who opens the URL in a browser).
async fn about(
    State((state, _)): Ctx,
    public: Option<axum::Extension<PublicHost>>,
    headers: HeaderMap,
) -> Response {
    let base = base_url(&state.engine, &headers, is_public(public.as_deref()));
    let mcp = escape(&format!("{base}/mcp"));
    let body = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Coda MCP Desktop</title><link rel="stylesheet" href="/oauth/consent.css"></head>
<body><main>
<h1>Coda MCP Desktop</h1>
<p>This is a Model Context Protocol server for a person's Coda workspace. Its MCP endpoint is</p>
<p class="host">{mcp}</p>
<h2>ChatGPT</h2>
<p>Settings → Security and login → Developer mode; then chatgpt.com/plugins → + → Add custom MCP server, Server URL <code>{mcp}</code>, Authentication OAuth. The owner of this server approves the connection on its consent page.</p>
<h2>Claude</h2>
<p>Customize → Connectors → Add custom connector, Remote MCP server URL <code>{mcp}</code>, then Connect and approve.</p>
<h2>Other clients</h2>
<p>Streamable HTTP at <code>{mcp}</code> with <code>Authorization: Bearer</code> and the owner's connection key, or OAuth 2.1 (discovery at <code>/.well-known/oauth-protected-resource</code>).</p>
</main></body></html>"#
    );
    let mut resp = Html(body).into_response();
    page_headers(&mut resp, None);
    resp
}

/// The client's address (what the connection told the router), loopback when unknown.
fn client_ip(addr: Option<&axum::Extension<ConnectInfo<SocketAddr>>>) -> IpAddr {
    addr.map(|c| c.0 .0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

/// The 429 of an OAuth endpoint whose per-network limit is spent.
fn too_many(what: &str, wait: std::time::Duration) -> Response {
    let mut resp = oauth_error(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
        format!(
            "too many {what} from this network; try again in {} s",
            wait.as_secs().max(1)
        ),
    );
    if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// The cookie that ties a consent request's answer to the browser its page was served to.
fn page_cookie_name(request: &str) -> String {
    format!("cmcp_consent_{request}")
}

/// The page secret the browser presents for `request`, if any.
fn page_secret<'h>(headers: &'h HeaderMap, request: &str) -> Option<&'h str> {
    let name = page_cookie_name(request);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
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
    let from = client_ip(addr.as_ref());
    if let Err(wait) = oauth.allow(Limited::Registration, from) {
        return too_many("registrations", wait);
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
        ..Client::default()
    };
    if let Err(e) = oauth.store().save_client(&client, Some(from)) {
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

/// The client named by `client_id`: a registered one, or a metadata document's. A document
/// is fetched only for a consent request (`fetch_for`: the network asking, whose requests
/// are rate-limited); elsewhere only a client kept here counts.
async fn find_client(
    oauth: &OAuth,
    client_id: &str,
    fetch_for: Option<IpAddr>,
) -> Result<Client, String> {
    if let (true, Some(from)) = (Fetcher::is_document_url(client_id), fetch_for) {
        let client = oauth
            .cimd
            .client(client_id)
            .await
            .map_err(|e| e.to_string())?;
        // Kept for the token endpoint and the dashboard's list of connected apps.
        let _ = oauth.store().save_client(&client, Some(from));
        return Ok(oauth
            .store()
            .client(client_id)
            .ok()
            .flatten()
            .map(|kept| Client {
                created: kept.created,
                network: kept.network,
                ..client.clone()
            })
            .unwrap_or(client));
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
    let from = client_ip(addr.as_ref());
    if oauth.allow(Limited::Request, from).is_err() {
        return error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many connection requests from this network: try again in a minute.",
        );
    }
    let base = base_url(&state.engine, &headers, is_public(public.as_deref()));
    let Some(client_id) = q.get("client_id") else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "The request names no client (client_id).",
        );
    };
    let client = match find_client(oauth, client_id, Some(from)).await {
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
    // The browser is sent back with an error only to an address that is no stranger's
    // choice: a known app's host, this machine, or an app the owner has approved before.
    // Anything else gets a page (no open redirect from the owner's domain).
    let redirect_host = url::Url::parse(&redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let verified = known::trusted_redirect_host(&redirect_host)
        || oauth.store().has_grant(&client.id).unwrap_or(false);
    let fail = |code: &str, description: &str| {
        if verified {
            redirect_error(
                &redirect_uri,
                client_state.as_deref(),
                &base,
                code,
                description,
            )
        } else {
            error_page(StatusCode::BAD_REQUEST, description)
        }
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
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let kept = oauth.add_pending(Pending::new(
        client,
        redirect_uri,
        client_state,
        challenge,
        scopes,
        expected,
        base.clone(),
        from,
        user_agent,
    ));
    let (pending, page) = match kept {
        Ok(kept) => kept,
        Err(Refused::NetworkFull) => {
            return error_page(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many connection requests from this network are waiting for the owner: answer or close them, or try again in a few minutes.",
            )
        }
        Err(Refused::Full) => {
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many connection requests are waiting for the owner: try again in a few minutes.",
            )
        }
    };
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
    let mut resp = consent_page(&pending, None, state.engine.config().demo);
    let secure = if base.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{}={}; Path=/oauth/authorize; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        page_cookie_name(&pending.id),
        page.expose(),
        crate::oauth::PENDING_TTL.as_secs()
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// How long ago, in words.
fn ago(seconds: i64) -> String {
    match seconds.max(0) {
        s if s < 90 => format!("{s} s ago"),
        s if s < 5_400 => format!("{} min ago", s / 60),
        s if s < 129_600 => format!("{} h ago", s / 3_600),
        s => format!("{} days ago", s / 86_400),
    }
}

/// Who the app is, in one sentence for the consent page and the dashboard: how it is known,
/// and since when.
pub(super) fn provenance(p: &Pending) -> String {
    if p.client.kind == "metadata document" {
        return format!(
            "It is identified by its metadata document at {}.",
            p.client.id
        );
    }
    let age = chrono::Utc::now().timestamp() - p.client.created;
    let from = if p.client.network.is_empty() {
        String::new()
    } else {
        format!(" from {}", p.client.network)
    };
    format!("It registered with this server {}{from}.", ago(age))
}

/// The page the owner sees: who asks, where the answer goes (in large type), what it may do,
/// the code the dashboard asks for, the connection key, Allow and Deny. While the dashboard
/// is open the request shows there too, and this page goes on by itself once it is answered
/// there (with this page's code).
fn consent_page(p: &Pending, problem: Option<&str>, demo: bool) -> Response {
    let writes = p.scopes.iter().any(|s| s == SCOPE_WRITE);
    let likeness = known::judge(
        &p.client.name,
        &p.client.kind,
        &p.client.id,
        &p.redirect_host(),
    );
    let warning = match likeness {
        known::Likeness::Impersonates(_) => format!(
            "<p class=\"problem\" role=\"alert\">{}</p>",
            escape(&likeness.say(&p.redirect_host()))
        ),
        _ => String::new(),
    };
    let write_box = if writes {
        "<label class=\"check\"><input type=\"checkbox\" name=\"write\" value=\"1\"> Also allow it to change Coda (create, update and delete docs, pages, tables and rows)</label>"
    } else {
        ""
    };
    let problem = problem
        .map(|m| format!("<p class=\"problem\" role=\"alert\">{}</p>", escape(m)))
        .unwrap_or_default();
    let workspace = if demo {
        "the built-in demo workspace"
    } else {
        "your Coda account"
    };
    let body = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Allow {name} to use your Coda?</title><link rel="stylesheet" href="/oauth/consent.css"></head>
<body><main>
<h1>Allow <strong>{name}</strong> to use your Coda workspace?</h1>
<p class="who">{provenance} If you allow it, its answers go to</p>
<p class="host">{host}</p>
{warning}
<p>It asks to <strong>{what}</strong> through this Coda MCP server, with {workspace}, until you revoke it (dashboard → Connected apps, or <code>coda-mcp oauth revoke</code>).</p>
{problem}
<form method="post" action="/oauth/authorize" id="consent" data-request="{id}">
<input type="hidden" name="request" value="{id}">
{write_box}
<label for="key">Connection key</label>
<input type="password" id="key" name="key" autocomplete="off" placeholder="cmk_… (the dashboard shows it under Setup)">
<div class="buttons"><button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" formnovalidate>Deny</button></div>
</form>
<p class="hint" id="elsewhere">Or answer in the Coda MCP Desktop dashboard: it asks for this code, which only this page shows —</p>
<p class="code" id="pairing-code" aria-label="approval code">{code}</p>
<p class="hint">If the dashboard shows a request whose code is not on a page in front of you, it is not yours: deny it.</p>
</main><script src="/oauth/consent.js"></script></body></html>"#,
        name = escape(&p.client.name),
        provenance = escape(&provenance(p)),
        host = escape(&p.redirect_host()),
        what = if writes {
            "read your Coda docs, and change them if you tick the box"
        } else {
            "read your Coda docs"
        },
        id = escape(&p.id),
        code = escape(&p.code),
    );
    let origin = url::Url::parse(&p.redirect_uri)
        .ok()
        .map(|u| u.origin().ascii_serialization());
    let mut resp = Html(body).into_response();
    page_headers(&mut resp, origin.as_deref());
    resp
}

/// `POST /oauth/authorize`: the consent form, from the browser its page was served to (its
/// cookie). Allow needs the connection key; a wrong key counts toward the network's lockout,
/// as on `/mcp`.
async fn consent(
    State((state, auth)): Ctx,
    addr: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let oauth = state.engine.oauth();
    let demo = state.engine.config().demo;
    let request_id = form.get("request").map(String::as_str).unwrap_or("");
    let Some(pending) = oauth.pending(request_id) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "This approval request is unknown or has expired (they last ten minutes): start connecting again from the app.",
        );
    };
    let Some(secret) = page_secret(&headers, request_id) else {
        return error_page(
            StatusCode::FORBIDDEN,
            "This answer did not come from the browser the approval page was shown in (its cookie is missing): start connecting again from the app, in one browser.",
        );
    };
    if let (Some(answer), Status::Decided(_)) =
        (&pending.decided, oauth.status(request_id, Some(secret)))
    {
        return see_other(answer);
    }
    let allow = form.get("decision").map(String::as_str) == Some("allow");
    if allow {
        let ip = client_ip(addr.as_ref());
        match auth.check_key(ip, form.get("key").map(String::as_str).unwrap_or("")) {
            KeyVerdict::Owner => {}
            KeyVerdict::Wrong => {
                let find = state.engine.config().key_source.where_to_find();
                let message = format!(
                    "That is not the connection key of this server: {}.",
                    find.replace('`', "")
                );
                return consent_page(&pending, Some(&message), demo);
            }
            KeyVerdict::LockedOut(wait) => {
                return consent_page(
                    &pending,
                    Some(&format!(
                        "Too many wrong keys from this network: try again in {} s.",
                        wait.as_secs().max(1)
                    )),
                    demo,
                )
            }
        }
    }
    let write = form.get("write").is_some_and(|v| v == "1");
    match oauth.decide(request_id, By::Page(secret), allow, write) {
        Ok(decided) => {
            state
                .engine
                .events()
                .publish(crate::events::EventKind::OAuthDecided {
                    request: request_id.to_owned(),
                    allowed: allow,
                });
            see_other(decided.decided.as_deref().unwrap_or("/"))
        }
        Err(Undecided::NotThisBrowser) => error_page(
            StatusCode::FORBIDDEN,
            "This answer did not come from the browser the approval page was shown in: start connecting again from the app, in one browser.",
        ),
        Err(_) => error_page(
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
/// where the consent page should go then — told only to the browser the page was served to
/// (its cookie): knowing a request's id is not enough to collect its code.
async fn status(
    State((state, _)): Ctx,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let id = q.get("request").map(String::as_str).unwrap_or("");
    let (code, body) = match state.engine.oauth().status(id, page_secret(&headers, id)) {
        Status::Unknown => (StatusCode::OK, json!({"state": "unknown"})),
        Status::NotThisBrowser => (
            StatusCode::FORBIDDEN,
            json!({"state": "not_this_browser", "message": "only the browser the approval page was shown in learns its answer"}),
        ),
        Status::Waiting => (StatusCode::OK, json!({"state": "pending"})),
        Status::Decided(answer) => (
            StatusCode::OK,
            json!({"state": "decided", "redirect": answer}),
        ),
    };
    let mut resp = (code, Json(body)).into_response();
    no_store(&mut resp);
    resp
}

/// `POST /oauth/token`: `authorization_code` (with PKCE) and `refresh_token` (rotating).
async fn token(
    State((state, _)): Ctx,
    addr: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let oauth = state.engine.oauth();
    if let Err(wait) = oauth.allow(Limited::Token, client_ip(addr.as_ref())) {
        return too_many("token requests", wait);
    }
    let get = |k: &str| form.get(k).map(String::as_str);
    let Some(client_id) = get("client_id") else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client_id is required (public clients authenticate with it and PKCE)",
        );
    };
    if find_client(oauth, client_id, None).await.is_err() {
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
        Err(e) if e.code == TOO_MANY_REFRESHES => {
            let mut resp = oauth_error(StatusCode::TOO_MANY_REQUESTS, e.code, e.description);
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
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

/// `POST /oauth/revoke` (RFC 7009): always 200, whether or not the token was known; only a
/// token that was ours changes anything (an event for the dashboard, cached verdicts
/// forgotten). Rate-limited per network.
async fn revoke(
    State((state, _)): Ctx,
    addr: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(wait) = state
        .engine
        .oauth()
        .allow(Limited::Revoke, client_ip(addr.as_ref()))
    {
        return too_many("revocations", wait);
    }
    let Some(token) = form.get("token") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token is required",
        );
    };
    match state.engine.oauth().revoke_token(token) {
        Ok(true) => {
            state
                .engine
                .events()
                .publish(crate::events::EventKind::OAuthGrantsChanged);
        }
        Ok(false) => {}
        Err(e) => {
            return oauth_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                e.to_string(),
            )
        }
    }
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
