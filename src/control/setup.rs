//! The dashboard's Setup actions (`/api/setup/…`, loopback only, behind the dashboard token):
//! change the Coda token, rotate the connection key, set up and switch the tunnel, connect
//! Claude Desktop, read and save the desktop app's settings. Each answers JSON: the new
//! state, or `{"error", "message"}` with a status that says what went wrong.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use super::controls::{ControlError, Controls};
use crate::clients::{ClientId, ConnectError, ConnectOutcome};
use crate::http::{error, Admin};
use crate::Engine;

/// What the Setup handlers act on.
#[derive(Clone)]
struct SetupState {
    controls: Arc<Controls>,
    engine: Engine,
}

/// The Setup routes over `controls`, and what the dashboard says about them, for the HTTP
/// layer to mount behind the dashboard token.
pub fn admin(controls: Arc<Controls>, engine: Engine) -> Admin {
    Admin {
        can_tunnel: controls.can_tunnel(),
        has_settings: controls.has_settings(),
        routes: Some(routes().with_state(SetupState {
            controls: controls.clone(),
            engine: engine.clone(),
        })),
        bridge: Some(
            Router::new()
                .route("/bridge/key-changed", post(key_changed))
                .with_state(SetupState { controls, engine }),
        ),
    }
}

/// `POST /bridge/key-changed` (loopback only), sent by `coda-mcp key rotate` with the key it
/// replaced as its bearer: the server takes the keychain's new key at once, so the old key
/// stops working and the bridge (which reads the keychain) is let in. Without the current
/// key nothing happens: 401.
async fn key_changed(State(state): State<SetupState>, headers: axum::http::HeaderMap) -> Response {
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if presented.is_empty() || !state.engine.connection_key().matches(presented) {
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the connection key this server requires now (the one before the rotation) as 'Authorization: Bearer <key>'",
        );
    }
    match state.controls.reload_key(&state.engine).await {
        Ok(changed) => Json(json!({"changed": changed})).into_response(),
        Err(e) => refused(e),
    }
}

fn routes() -> Router<SetupState> {
    Router::new()
        .route("/api/setup/coda-token", post(coda_token))
        .route("/api/setup/key/rotate", post(rotate_key))
        .route("/api/setup/ngrok", post(ngrok))
        .route("/api/setup/tunnel", post(tunnel))
        .route(
            "/api/setup/tunnel-choice",
            get(tunnel_choice).post(choose_tunnel),
        )
        .route("/api/setup/claude", post(claude))
        .route("/api/setup/clients", get(clients))
        .route("/api/setup/doctor", get(doctor))
        .route(
            "/api/setup/clients/{client}",
            post(connect_client).delete(disconnect_client),
        )
        .route("/api/setup/settings", get(settings).put(save_settings))
        .route("/api/setup/toolsets", get(toolsets).put(set_toolsets))
        .route("/api/setup/restart", post(restart))
}

fn refused(e: ControlError) -> Response {
    let (status, code) = match &e {
        ControlError::TokenRejected(_) => (StatusCode::BAD_REQUEST, "token_rejected"),
        ControlError::Invalid(_) | ControlError::Settings(_) => {
            (StatusCode::BAD_REQUEST, "invalid")
        }
        ControlError::FromEnvironment(_) => (StatusCode::CONFLICT, "set_in_environment"),
        ControlError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "keychain"),
        ControlError::NoKeychain(_) => (StatusCode::CONFLICT, "no_keychain"),
        ControlError::NoTunnel | ControlError::NoSettings => {
            (StatusCode::NOT_IMPLEMENTED, "unavailable")
        }
        ControlError::Connect(ConnectError::Invalid { .. })
        | ControlError::Connect(ConnectError::UnexpectedShape { .. }) => {
            (StatusCode::CONFLICT, "client_config_invalid")
        }
        ControlError::Connect(ConnectError::NoConfigDir { .. })
        | ControlError::Connect(ConnectError::Unsupported(_)) => {
            (StatusCode::NOT_IMPLEMENTED, "unavailable")
        }
        ControlError::Connect(_) => (StatusCode::INTERNAL_SERVER_ERROR, "client_config"),
    };
    error(status, code, e.to_string())
}

/// Parses a JSON body, answering a clear 400 instead of axum's plain-text rejection.
#[allow(clippy::result_large_err)]
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, Response> {
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    serde_json::from_slice(body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the request body is not what this action takes: {e}"),
        )
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    token: String,
}

async fn coda_token(State(state): State<SetupState>, body: Bytes) -> Response {
    let body: TokenBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match state
        .controls
        .change_coda_token(&state.engine, &body.token)
        .await
    {
        Ok(account) => Json(json!({"account": account})).into_response(),
        Err(e) => refused(e),
    }
}

async fn rotate_key(State(state): State<SetupState>) -> Response {
    match state.controls.rotate_key(&state.engine).await {
        Ok((hint, kept)) => Json(json!({"key_hint": hint, "kept_in_keychain": kept,
            "message": if kept {
                "New key in use and kept in the keychain: give your clients the new key"
            } else {
                "New key in use for this run only (no keychain to keep it): give your clients the new key"
            }}))
        .into_response(),
        Err(e) => refused(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NgrokBody {
    authtoken: Option<String>,
    domain: Option<String>,
}

async fn ngrok(State(state): State<SetupState>, body: Bytes) -> Response {
    let body: NgrokBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match state
        .controls
        .set_ngrok(body.authtoken.as_deref(), body.domain.as_deref())
        .await
    {
        Ok(()) => Json(json!({"saved": true})).into_response(),
        Err(e) => refused(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TunnelChoiceBody {
    provider: crate::tunnel::TunnelKind,
    #[serde(default)]
    tunnel_id: Option<String>,
    #[serde(default)]
    api_key: Option<String>,
}

async fn tunnel_choice_json(state: &SetupState) -> serde_json::Value {
    let (provider, tunnel_id) = state.controls.tunnel_choice();
    json!({
        "provider": provider,
        "tunnel_id": tunnel_id,
        "has_api_key": state.controls.has_openai_tunnel_key().await,
    })
}

async fn tunnel_choice(State(state): State<SetupState>) -> Response {
    Json(tunnel_choice_json(&state).await).into_response()
}

/// Chooses ngrok or OpenAI's Secure MCP Tunnel (with its id, and its key for the keychain).
async fn choose_tunnel(State(state): State<SetupState>, body: Bytes) -> Response {
    let body: TunnelChoiceBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let Some(key) = body.api_key.as_deref().filter(|k| !k.trim().is_empty()) {
        if let Err(e) = state.controls.set_openai_tunnel_key(key).await {
            return refused(e);
        }
    }
    match state
        .controls
        .set_tunnel_choice(body.provider, body.tunnel_id.as_deref())
    {
        Ok(()) => {
            // The tray names and checks the chosen provider.
            if let Ok(settings) = state.controls.settings() {
                state
                    .engine
                    .events()
                    .publish(crate::events::EventKind::Settings { settings });
            }
            Json(tunnel_choice_json(&state).await).into_response()
        }
        Err(e) => refused(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TunnelBody {
    on: bool,
}

async fn tunnel(State(state): State<SetupState>, body: Bytes) -> Response {
    let body: TunnelBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if body.on {
        match state.controls.start_tunnel(&state.engine).await {
            Ok(s) => Json(json!({"tunnel": s})).into_response(),
            Err(e) => refused(e),
        }
    } else {
        state.controls.stop_tunnel().await;
        Json(json!({"tunnel": state.engine.public().tunnel_state()})).into_response()
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConnectBody {
    #[serde(default)]
    demo: bool,
    /// Write this server's key into the entry, in clear (no keychain here to read it from).
    #[serde(default)]
    key_in_config: bool,
}

/// What a connect or disconnect did, in words for the dashboard.
fn connected(client: ClientId, out: &ConnectOutcome, removed: bool) -> Response {
    let name = client.name();
    let message = match (removed, out.unchanged) {
        (false, true) => format!("{name} was already connected"),
        (false, false) => format!("Added to {}. {}", out.path.display(), client.reload_hint()),
        (true, true) => format!("{name} was not connected"),
        (true, false) => format!("Removed from {}", out.path.display()),
    };
    Json(
        json!({"client": client, "path": out.path, "backup": out.backup, "replaced": out.replaced,
        "unchanged": out.unchanged, "message": message}),
    )
    .into_response()
}

async fn claude(State(state): State<SetupState>, body: Bytes) -> Response {
    connect(state, ClientId::Claude, body)
}

fn connect(state: SetupState, client: ClientId, body: Bytes) -> Response {
    let body: ConnectBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    // A demo server without a keychain: the entry serves a demo of its own (no key needed),
    // since it could not get this server's key.
    let demo = body.demo || (state.engine.config().demo && !state.controls.has_keychain());
    let done = if body.key_in_config {
        state
            .controls
            .connect_client_with_key(client, &state.engine.connection_key())
    } else {
        state.controls.connect_client(client, demo)
    };
    match done {
        Ok(out) => connected(client, &out, false),
        Err(e) => refused(e),
    }
}

/// The client named in the path, or a 404 naming the ones there are.
#[allow(clippy::result_large_err)]
fn client_named(name: &str) -> Result<ClientId, Response> {
    crate::clients::ALL
        .into_iter()
        .find(|c| c.arg() == name)
        .ok_or_else(|| {
            let known: Vec<&str> = crate::clients::ALL.iter().map(|c| c.arg()).collect();
            error(
                StatusCode::NOT_FOUND,
                "unknown_client",
                format!(
                    "no client is called {name:?}; these are: {}",
                    known.join(", ")
                ),
            )
        })
}

/// `GET /api/setup/doctor`: the findings of `coda-mcp doctor` (*Check setup*), and whether any
/// is a problem.
async fn doctor(State(state): State<SetupState>) -> Response {
    let findings = state.controls.examine(&state.engine).await;
    let problems = findings
        .iter()
        .filter(|f| f.verdict == crate::doctor::Verdict::Problem)
        .count();
    Json(json!({"findings": findings, "problems": problems})).into_response()
}

/// `GET /api/setup/clients`: each client, installed or not, connected or not, its config
/// file, the entry it would get (the snippet to copy) and its install link where it has one.
async fn clients(State(state): State<SetupState>) -> Response {
    let demo = state.engine.config().demo;
    let rows: Vec<serde_json::Value> = state
        .controls
        .clients()
        .into_iter()
        .map(|status| {
            let entry = state.controls.client_entry(status.client, demo).ok();
            json!({
                "client": status.client,
                "name": status.client.name(),
                "installed": status.installed,
                "connected": status.connected,
                "path": status.path,
                "problem": status.problem,
                "snippet": entry.as_ref().map(|e| status.client.snippet(e)),
                "install_link": entry.as_ref().and_then(|e| status.client.install_link(e)),
            })
        })
        .collect();
    Json(json!({"clients": rows})).into_response()
}

async fn connect_client(
    State(state): State<SetupState>,
    axum::extract::Path(name): axum::extract::Path<String>,
    body: Bytes,
) -> Response {
    match client_named(&name) {
        Ok(client) => connect(state, client, body),
        Err(r) => r,
    }
}

async fn disconnect_client(
    State(state): State<SetupState>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    let client = match client_named(&name) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match state.controls.disconnect_client(client) {
        Ok(out) => connected(client, &out, true),
        Err(e) => refused(e),
    }
}

async fn settings(State(state): State<SetupState>) -> Response {
    match state.controls.settings() {
        Ok(s) => Json(s).into_response(),
        Err(e) => refused(e),
    }
}

async fn save_settings(State(state): State<SetupState>, body: Bytes) -> Response {
    let settings: crate::settings::Settings = match parse(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match state.controls.save_settings(&settings) {
        Ok(()) => {
            state.engine.set_toolsets(settings.toolsets.clone());
            // Every face follows (the desktop app applies launch at login at once).
            state
                .engine
                .events()
                .publish(crate::events::EventKind::Settings {
                    settings: settings.clone(),
                });
            Json(json!({"saved": true, "settings": settings,
                "message": "Saved; the toolsets are offered at once; port, read-only, timeout and history retention take effect when the server restarts"}))
            .into_response()
        }
        Err(e) => refused(e),
    }
}

/// The toolsets: each one's tools and what listing them costs a client, and which are offered.
fn toolsets_view(engine: &Engine) -> serde_json::Value {
    let offered = engine.toolsets();
    let read_only = engine.config().read_only;
    let sets: Vec<_> = crate::toolsets::ALL
        .into_iter()
        .map(|set| {
            let only: crate::toolsets::Toolsets = set.name().parse().expect("a toolset's own name");
            let tools = crate::tools::Catalogue::select(read_only, &only);
            json!({"name": set.name(), "about": set.about(), "offered": offered.contains(set),
                "tools": tools.iter().count(), "listBytes": tools.list_size()})
        })
        .collect();
    let catalogue = engine.catalogue();
    json!({"toolsets": offered.to_string(), "sets": sets, "tools": catalogue.iter().count(),
        "listBytes": catalogue.list_size(), "budget": crate::toolsets::CORE_LIST_BUDGET})
}

async fn toolsets(State(state): State<SetupState>) -> Response {
    Json(toolsets_view(&state.engine)).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolsetsBody {
    /// `core,sharing` or `all`.
    toolsets: String,
}

async fn set_toolsets(State(state): State<SetupState>, body: Bytes) -> Response {
    let body: ToolsetsBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let chosen = match body.toolsets.parse::<crate::toolsets::Toolsets>() {
        Ok(t) => t,
        Err(why) => return error(StatusCode::BAD_REQUEST, "invalid_toolsets", why),
    };
    match state.controls.set_toolsets(&state.engine, chosen) {
        Ok(changed) => {
            let mut view = toolsets_view(&state.engine);
            view["changed"] = json!(changed);
            Json(view).into_response()
        }
        Err(e) => refused(e),
    }
}

async fn restart(State(state): State<SetupState>) -> Response {
    if state.controls.request_restart() {
        (
            StatusCode::ACCEPTED,
            Json(json!({"message": "restarting with the saved settings"})),
        )
            .into_response()
    } else {
        error(
            StatusCode::NOT_IMPLEMENTED,
            "unavailable",
            "this server cannot restart itself; stop it and start it again with the flags you want",
        )
    }
}
