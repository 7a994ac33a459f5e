//! The dashboard, on the loopback listener only (never the tunnel): the `ui/` files at `/ui/`
//! and their JSON/SSE API at `/api/…`, all behind the dashboard token. `coda-mcp serve`
//! prints `http://127.0.0.1:PORT/ui/?token=…`; opening it sets an HttpOnly cookie and drops
//! the token from the address bar (as Jupyter does).
//!
//! Cookies ignore ports, so a page served by any other program on 127.0.0.1 would send the
//! dashboard cookie too. Every state-changing `/api` request must therefore come from this
//! server's own origin (the `Origin` header, when present, names this host and port) and be
//! a request no plain HTML form or "simple" cross-origin `fetch` can make: a JSON body and the
//! `X-Coda-MCP-Dashboard: 1` header, which a foreign page could only add after a CORS
//! preflight this server never grants.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};

use super::answer::error;
use super::AppState;
use crate::events::EventKind;

const COOKIE: &str = "coda_mcp_dashboard";

/// The header the dashboard's own page sends with every state-changing request.
pub const DASHBOARD_HEADER: &str = "x-coda-mcp-dashboard";

/// What the dashboard's pages may load and run: only their own files and API (the Tauri
/// window's IPC besides), no inline script, no framing by another page.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self' ipc: http://ipc.localhost; frame-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// What a view previewed in the dashboard may do: run its own inline script and style, nothing
/// else — no request anywhere (it talks to the dashboard only through postMessage), framed only
/// by the dashboard (in a sandbox without the dashboard's origin).
pub const VIEW_CSP: &str =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; \
connect-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

/// How often the Status view's numbers are published while a dashboard listens.
const STATUS_EVERY: Duration = Duration::from_secs(2);

/// The `ui/` files, built into the binary so the dashboard needs nothing at run time.
const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../ui/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../ui/app.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../ui/style.css"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_str!("../../icons/icon.svg"),
    ),
];

/// The dashboard's routes (local face only), with the face's Setup actions (`setup`) behind
/// the same token.
pub fn routes<L>(state: AppState, read_body: L, setup: Option<Router>) -> Router
where
    L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
    L::Service:
        tower::Service<Request, Error = std::convert::Infallible> + Clone + Send + Sync + 'static,
    <L::Service as tower::Service<Request>>::Response: IntoResponse + 'static,
    <L::Service as tower::Service<Request>>::Future: Send + 'static,
{
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(file))
        .route("/ui/{name}", get(file))
        .route("/ui/views/{name}", get(view_page))
        .route("/api/preview", post(api_preview))
        .route("/api/state", get(api_state))
        .route("/api/events", get(api_events))
        .route("/api/calls", get(api_calls))
        .route("/api/metrics", get(api_metrics))
        .route("/api/calls.csv", get(api_calls_csv))
        .route("/api/key/reveal", post(api_reveal_key))
        .route("/api/oauth", get(api_oauth))
        .route("/api/oauth/pending/{id}", post(api_oauth_decide))
        .route("/api/oauth/grants/{id}/revoke", post(api_oauth_revoke))
        .with_state(state.clone())
        .merge(setup.unwrap_or_default())
        // The body is read only once the dashboard token has been checked.
        .layer(read_body)
        .layer(middleware::from_fn_with_state(state, check))
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(&format!("{COOKIE}=")))
        .map(str::to_owned)
        .next()
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The dashboard token check: `?token=` (then a cookie), the cookie, or a bearer.
async fn check(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let expected = state.engine.config().dashboard_token.expose().to_owned();
    let query_token = req.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
    });
    if let Some(t) = query_token {
        if same(&t, &expected) && req.uri().path().starts_with("/ui") {
            let mut resp = Redirect::to("/ui/").into_response();
            let cookie = format!("{COOKIE}={expected}; HttpOnly; SameSite=Strict; Path=/");
            resp.headers_mut()
                .insert(header::SET_COOKIE, cookie.parse().expect("valid cookie"));
            return resp;
        }
    }
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let presented = cookie_token(req.headers()).or(bearer);
    if presented.as_deref().is_some_and(|t| same(t, &expected)) {
        if let Err(why) = same_origin_write(&req) {
            return error(StatusCode::FORBIDDEN, "forbidden", why);
        }
        // The dashboard is the owner's (its body is read within the owner's share).
        let mut req = req;
        req.extensions_mut().insert(crate::caller::Caller::Owner);
        return next.run(req).await;
    }
    if req.uri().path().starts_with("/api") {
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Open the dashboard with the link `coda-mcp serve` printed (…/ui/?token=…)",
        );
    }
    (StatusCode::UNAUTHORIZED, [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!doctype html><title>Coda MCP</title><body style=\"font-family:system-ui;margin:3rem\"><h1>Coda MCP dashboard</h1>\
<p>This page needs the link that <code>coda-mcp serve</code> printed when it started: <code>http://127.0.0.1:PORT/ui/?token=…</code>.</p>").into_response()
}

/// Refuses a state-changing `/api` request that could come from another page (see the
/// module's doc): `Origin`, when sent, must be this server's own (same host and port); the
/// body must be declared JSON; and the dashboard's header must be there.
fn same_origin_write(req: &Request) -> Result<(), &'static str> {
    use axum::http::Method;
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || !req.uri().path().starts_with("/api")
    {
        return Ok(());
    }
    let headers = req.headers();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let own = !host.is_empty()
            && origin
                .to_str()
                .is_ok_and(|o| o.eq_ignore_ascii_case(&format!("http://{host}")));
        if !own {
            return Err("this action is only accepted from the dashboard's own page (another origin sent it)");
        }
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    let marked = headers
        .get(DASHBOARD_HEADER)
        .is_some_and(|v| v.as_bytes() == b"1");
    if !json || !marked {
        return Err("this action needs a JSON body (Content-Type: application/json) and the X-Coda-MCP-Dashboard: 1 header, as the dashboard sends");
    }
    Ok(())
}

async fn file(req: Request) -> Response {
    let name = req
        .uri()
        .path()
        .trim_start_matches("/ui")
        .trim_start_matches('/');
    let name = if name.is_empty() { "index.html" } else { name };
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, mime, body)) => (
            [
                (header::CONTENT_TYPE, *mime),
                (header::CACHE_CONTROL, "no-cache"),
                (header::CONTENT_SECURITY_POLICY, CSP),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::REFERRER_POLICY, "no-referrer"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// A view (MCP Apps) for the dashboard's preview: the same page a host gets.
async fn view_page(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    match crate::apps::VIEWS.iter().find(|v| v.name == name) {
        Some(view) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
                (header::CONTENT_SECURITY_POLICY, VIEW_CSP),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::REFERRER_POLICY, "no-referrer"),
            ],
            view.html(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewCall {
    tool: String,
    #[serde(default)]
    arguments: serde_json::Map<String, Value>,
}

/// Runs a reading tool for a view previewed in the dashboard (its first result, and the reads
/// the view makes); answers as a `tools/call` result. Nothing that changes Coda runs from here.
async fn api_preview(State(state): State<AppState>, body: Bytes) -> Response {
    let call: PreviewCall = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("the preview takes {{\"tool\", \"arguments\"}}: {e}"),
            )
        }
    };
    let engine = &state.engine;
    let catalogue = engine.catalogue();
    let Some((tool, schema)) = catalogue.get(&call.tool) else {
        return error(
            StatusCode::NOT_FOUND,
            "unknown_tool",
            format!("'{}' is not a tool this server offers", call.tool),
        );
    };
    if !tool.is_read_only() {
        return error(
            StatusCode::FORBIDDEN,
            "preview_reads_only",
            format!(
                "the dashboard's preview only reads: '{}' changes Coda, which only your assistant does",
                call.tool
            ),
        );
    }
    let owner = crate::caller::Caller::Owner;
    let run = crate::engine::ToolCall {
        tool: (tool, schema),
        caller: Some(&owner),
        session: "dashboard-preview",
        client: "dashboard preview",
    };
    let answer = match engine
        .run_tool(run, Value::Object(call.arguments), &engine.exec_options())
        .await
    {
        Ok(out) => json!({"content": [{"type": "text", "text": out.value.to_string()}],
            "structuredContent": out.value, "isError": false}),
        Err(e) => {
            json!({"content": [{"type": "text", "text": format!("{}: {e}", call.tool)}], "isError": true})
        }
    };
    Json(answer).into_response()
}

/// What the Status view shows: the same object on first paint (`/api/state`) and in every
/// `status` event, so the page renders both the same way.
async fn status(state: &AppState) -> Value {
    let engine = &state.engine;
    let config = engine.config();
    let (coda, _) = engine.health().snapshot();
    let (per_minute, error_rate) = engine.events().rates();
    let mut headroom = serde_json::Map::new();
    // The history is the sampler's (http::start); this only reads.
    let now = engine.headroom_now().await;
    for ((name, class), (_, h)) in crate::engine::HEADROOM_CLASSES.into_iter().zip(now) {
        let (_, window) = config.rate_limits.get(class);
        headroom.insert(
            name.into(),
            json!({"free": h.free, "limit": h.limit, "window_s": window.as_secs()}),
        );
    }
    let uptime = engine.uptime();
    let started = chrono::Utc::now()
        - chrono::Duration::from_std(uptime).unwrap_or_else(|_| chrono::Duration::zero());
    json!({
        "version": env!("CARGO_PKG_VERSION"), "uptime_s": uptime.as_secs(), "started_at": started,
        "mcp_url": format!("{}/mcp", state.local_url), "public_url": engine.public().url(),
        "coda": {"reachable": coda.reachable, "authenticated": coda.authenticated, "account": coda.account,
            "checked_at": coda.checked_at, "error": coda.error,
            "token_hint": engine.coda().token_hint()},
        "calls_per_minute": per_minute, "error_rate": error_rate, "headroom": headroom,
        "read_only": config.read_only, "sessions": state.session_count().await,
    })
}

/// Publishes the Status view's numbers on the bus every [`STATUS_EVERY`] while a dashboard
/// listens (one ticker per server, started by the first dashboard), so the page never polls:
/// rates, headroom, sessions, uptime and the Coda check (refreshed when its cache is due, so
/// still at most one Coda call per TTL).
fn ensure_status_ticker(state: &AppState) {
    if !state.engine.events().claim_ticker() {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(STATUS_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = state.shutdown.cancelled() => break,
                _ = every.tick() => {}
            }
            let engine = &state.engine;
            if engine.events().watchers() == 0 {
                continue;
            }
            if engine.health().snapshot().1 {
                engine.health().refresh(&engine.coda()).await;
            }
            let status = status(&state).await;
            engine.events().publish(EventKind::Status { status });
        }
    });
}

/// The Status view's charts: the last hour's calls, errors and latency per minute (from the
/// audit history, so a restart keeps them) and the owner's headroom per minute.
async fn api_metrics(State(state): State<AppState>) -> Response {
    let engine = state.engine.clone();
    let now = chrono::Utc::now();
    let from = crate::metrics::minute_of(now)
        - chrono::TimeDelta::minutes(crate::metrics::MINUTES as i64 - 1);
    let samples = tokio::task::spawn_blocking(move || match engine.audit() {
        Some(audit) => audit.samples_since(from).map_err(|e| e.to_string()),
        None => Ok(Vec::new()),
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    match samples {
        Ok(samples) => Json(json!({
            "minutes": crate::metrics::per_minute(&samples, now),
            // The current minute's calls themselves: the page goes on adding live calls to it.
            "current": samples.iter().filter(|c| crate::metrics::minute_of(c.at) == crate::metrics::minute_of(now)).collect::<Vec<_>>(),
            "headroom": state.engine.headroom_history().iter().map(|m| {
                let mut classes = serde_json::Map::new();
                for (name, h) in &m.classes {
                    classes.insert((*name).into(), json!(h));
                }
                json!({"t": m.t, "classes": classes})
            }).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "audit_unavailable",
            format!("the call history could not be read: {e}"),
        ),
    }
}

/// A snapshot for the first paint: status, sessions, recent calls and the setup facts.
async fn api_state(State(state): State<AppState>) -> Json<Value> {
    let engine = &state.engine;
    let config = engine.config();
    let recent = engine
        .audit()
        .and_then(|a| a.search("", 200).ok())
        .unwrap_or_default();
    let server_url = state.local_url.to_string();
    let url_changed = engine.events().url_changed().and_then(|e| match &e.kind {
        EventKind::PublicUrlChanged { previous, url } => {
            Some(json!({"id": e.id, "at": e.at, "previous": previous, "url": url}))
        }
        _ => None,
    });
    Json(json!({
        "lastEventId": engine.events().last_id(),
        "status": status(&state).await,
        "sessions": engine.events().sessions(chrono::Duration::hours(1)),
        "calls": recent,
        "setup": {
            "mcp_url": format!("{server_url}/mcp"),
            "schema_url": format!("{}/openapi.json", state.server_url()),
            "direct_call_schema_url": format!("{}/openapi/mcp.json", state.server_url()),
            "public_url": engine.public().url(),
            "tunnel": engine.public().tunnel_state(),
            "url_changed": url_changed,
            "key_hint": engine.connection_key().hint(),
            "auth_required": !config.no_auth,
            "can_tunnel": state.can_tunnel,
            "has_settings": state.has_settings,
            "demo": config.demo,
            // The tools whose results a view shows, for the Tool calls view's preview.
            "views": if config.views { crate::apps::VIEWS.iter().flat_map(|v| v.tools.iter().map(move |t| (t.to_string(), json!(v.name)))).collect::<serde_json::Map<_, _>>() } else { Default::default() },
            "pass_through": config.pass_through,
            "audit_retention_days": config.audit_retention_days,
        },
    }))
}

#[derive(Deserialize)]
struct EventsQuery {
    since: Option<u64>,
}

/// One piece of the live stream.
enum Frame {
    Data(Bytes),
    /// The listener fell behind the bus (or the bus closed): end the response, so the browser
    /// reconnects with `Last-Event-ID` and the replay fills the gap.
    End,
}

/// The live stream: every bus event as `id:`/`data:`, replaying from `Last-Event-ID`. A
/// listener that falls behind loses its stream (never events): it reconnects and resumes.
async fn api_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Response {
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .or(q.since);
    ensure_status_ticker(&state);
    let bus = state.engine.events();
    let watching = bus.watch();
    let sub = bus.subscribe_from(Some(last.unwrap_or_else(|| bus.last_id())));
    let frame = |e: &crate::events::Event| {
        Bytes::from(format!(
            "id: {}\ndata: {}\n\n",
            e.id,
            serde_json::to_string(e).unwrap_or_default()
        ))
    };
    // Reconnect within a second after a drop; tell a listener that fell out of the replay
    // to reload its snapshot.
    let mut head = vec![Bytes::from_static(b"retry: 1000\n\n")];
    if sub.missed {
        head.push(Bytes::from_static(b"data: {\"type\":\"resync\"}\n\n"));
    }
    head.extend(sub.backlog.iter().map(|e| frame(e)));
    let live = tokio_stream::wrappers::BroadcastStream::new(sub.rx)
        .map(move |e| match e {
            Ok(e) => Frame::Data(frame(&e)),
            Err(_lagged) => Frame::End,
        })
        .chain(futures::stream::once(async { Frame::End }));
    let ticks =
        tokio_stream::wrappers::IntervalStream::new(tokio::time::interval(Duration::from_secs(15)))
            .map(|_| Frame::Data(Bytes::from_static(b":keep-alive\n\n")));
    let shutdown = state.shutdown.clone();
    let body = futures::stream::iter(head)
        .chain(
            futures::stream::select(live, ticks)
                .take_while(|f| std::future::ready(matches!(f, Frame::Data(_))))
                .filter_map(|f| {
                    std::future::ready(match f {
                        Frame::Data(b) => Some(b),
                        Frame::End => None,
                    })
                }),
        )
        .take_until(async move { shutdown.cancelled().await })
        .map(move |b| {
            let _ = &watching;
            Ok::<Bytes, Infallible>(b)
        });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .expect("valid response")
}

#[derive(Deserialize)]
struct CallsQuery {
    q: Option<String>,
    limit: Option<usize>,
}

async fn api_calls(State(state): State<AppState>, Query(q): Query<CallsQuery>) -> Response {
    let Some(audit) = state.engine.audit() else {
        return Json(json!({"items": [], "note": "the audit history is unavailable"}))
            .into_response();
    };
    match audit.search(
        q.q.as_deref().unwrap_or(""),
        q.limit.unwrap_or(200).min(5_000),
    ) {
        Ok(items) => Json(json!({"items": items})).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "audit", e.to_string()),
    }
}

async fn api_calls_csv(State(state): State<AppState>) -> Response {
    match state.engine.audit().map(|a| a.csv()) {
        Some(Ok(csv)) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"coda-mcp-tool-calls.csv\"",
                ),
            ],
            csv,
        )
            .into_response(),
        Some(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        None => (StatusCode::NOT_FOUND, "the audit history is unavailable").into_response(),
    }
}

/// The full connection key, on an explicit request from the dashboard (never in the state).
async fn api_reveal_key(State(state): State<AppState>) -> Json<Value> {
    Json(json!({"key": state.engine.connection_key().expose()}))
}

/// `GET /api/oauth`: the apps connected through OAuth, and the requests waiting for the owner.
async fn api_oauth(State(state): State<AppState>) -> Response {
    let oauth = state.engine.oauth();
    let grants = match oauth.store().grants() {
        Ok(g) => g,
        Err(e) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                e.to_string(),
            )
        }
    };
    let pending: Vec<Value> = oauth
        .waiting()
        .iter()
        .map(|p| {
            let host = p.redirect_host();
            let likeness =
                crate::oauth::known::judge(&p.client.name, &p.client.kind, &p.client.id, &host);
            json!({"request": p.id, "client": p.client.name, "client_kind": p.client.kind,
                "redirect_host": host, "scopes": p.scopes, "came": p.came.to_rfc3339(),
                "network": p.network(), "user_agent": p.user_agent,
                "provenance": super::oauth::provenance(p),
                "likeness": likeness, "likeness_text": likeness.say(&host)})
        })
        .collect();
    Json(json!({"grants": grants, "pending": pending})).into_response()
}

/// `POST /api/oauth/pending/{id}` `{"allow": bool, "write": bool, "code": "ABC-DEF"}`: the
/// owner answers a connection request from the dashboard. Allowing needs the code the
/// request's consent page shows, so only a request whose page is in front of the owner can
/// be allowed (its page then goes on by itself); denying needs none.
async fn api_oauth_decide(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let allow = body["allow"].as_bool().unwrap_or(false);
    let write = body["write"].as_bool().unwrap_or(false);
    let code = body["code"].as_str();
    match state
        .engine
        .oauth()
        .decide(&id, crate::oauth::By::Dashboard(code), allow, write)
    {
        Ok(_) => {
            state
                .engine
                .events()
                .publish(crate::events::EventKind::OAuthDecided {
                    request: id,
                    allowed: allow,
                });
            Json(json!({"decided": true, "allowed": allow})).into_response()
        }
        Err(crate::oauth::Undecided::NoCode) => error(
            StatusCode::BAD_REQUEST,
            "code_required",
            "Type the code the app's approval page shows in your browser. No page with a code in front of you? Then this request is not yours: deny it.",
        ),
        Err(crate::oauth::Undecided::WrongCode(other)) => error(
            StatusCode::FORBIDDEN,
            "wrong_code",
            match other {
                Some(name) => format!("That code belongs to another request (from {name}): the request you are answering is not the page in front of you. Nothing was allowed; deny this one."),
                None => "That is not this request's code: nothing was allowed. Check the code on the approval page in your browser; if no page shows it, this request is not yours.".to_owned(),
            },
        ),
        Err(_) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            "That request was already answered or has expired",
        ),
    }
}

/// `POST /api/oauth/grants/{id}/revoke`: the app's tokens stop working at once.
async fn api_oauth_revoke(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    match state.engine.oauth().revoke_grant(&id) {
        Ok(revoked) => {
            state
                .engine
                .events()
                .publish(crate::events::EventKind::OAuthGrantsChanged);
            Json(json!({"revoked": revoked})).into_response()
        }
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            e.to_string(),
        ),
    }
}
