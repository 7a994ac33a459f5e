//! The app's one piece of state: the server it runs in-process (through the engine's
//! `launch`), its settings and secrets, and a status every view (tray, window) watches.
//! Nothing here knows about menus or windows.

use std::path::PathBuf;
use std::sync::Arc;

use coda_mcp::clients::ClientId;
use coda_mcp::coda::Secret;
use coda_mcp::control::ControlOptions;
use coda_mcp::events::EventKind;
use coda_mcp::launch::{launch, LaunchOptions, Launched};
use coda_mcp::secrets::{KeyringStore, NoStore, SecretStore};
use coda_mcp::settings::Settings;
use coda_mcp::tunnel::{TunnelKind, TunnelState};
use serde::Serialize;
use tokio::sync::{mpsc, watch, Mutex};

/// The OS keychain, unless `CODA_MCP_KEYCHAIN=off` (then nothing is kept).
pub fn secret_store() -> Arc<dyn SecretStore> {
    match std::env::var("CODA_MCP_KEYCHAIN").as_deref() {
        Ok("off") | Ok("0") | Ok("false") => Arc::new(NoStore),
        _ => Arc::new(KeyringStore::default()),
    }
}

/// What the tray and the window show.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// Whether the server runs.
    pub running: bool,
    /// Its MCP endpoint while it runs.
    pub mcp_url: Option<String>,
    /// The tunnel.
    pub tunnel: TunnelState,
    /// Why the server is not running, when it failed to start.
    pub error: Option<String>,
    /// Whether it serves the demo workspace.
    pub demo: bool,
    /// Whether a Coda token is configured (or the demo is served).
    pub has_coda_token: bool,
    /// Whether the app starts at login (saved in the settings from the tray or the
    /// dashboard; the tray applies it to the OS and checks its box).
    pub launch_at_login: bool,
    /// Something the person should act on: the public URL changed, so ChatGPT's schema must be
    /// copied again. Cleared when the schema is copied from the tray.
    pub notice: Option<String>,
    /// Where updating the app stands (off until an update URL is set).
    pub update: crate::updates::UpdateState,
    /// Which tunnel the tunnel item opens (saved in the settings from the tray or Setup).
    pub tunnel_kind: coda_mcp::tunnel::TunnelKind,
}

impl Default for Status {
    fn default() -> Self {
        Status {
            running: false,
            mcp_url: None,
            tunnel: TunnelState::Off,
            error: None,
            demo: false,
            has_coda_token: false,
            launch_at_login: false,
            notice: None,
            update: crate::updates::UpdateState::Off,
            tunnel_kind: coda_mcp::tunnel::TunnelKind::default(),
        }
    }
}

/// What the person calls each tunnel.
pub fn tunnel_name(kind: TunnelKind) -> &'static str {
    match kind {
        TunnelKind::Ngrok => "ngrok",
        TunnelKind::Openai => "OpenAI's Secure MCP Tunnel",
    }
}

/// The notice for a changed public URL (tray line and message).
pub fn url_changed_notice(url: &str) -> String {
    format!("Public URL changed to {url}: create your ChatGPT and Claude connectors again with {url}/mcp (GPT Actions: copy the OpenAPI schema again)")
}

/// The tray's notice while an app waits for the owner's approval (OAuth).
pub fn oauth_request_notice(client: &str, redirect_host: &str) -> String {
    format!("{client} asks to connect (answers go to {redirect_host}): allow it on its approval page in your browser, or in the dashboard with the code that page shows")
}

/// Whether a notice is an app waiting for approval (not a changed URL).
pub fn is_oauth_notice(notice: &str) -> bool {
    notice.contains("asks to connect")
}

/// How the app was started (command line), on top of the saved settings.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Serve the demo workspace whatever the settings say.
    pub demo: bool,
    /// Listen on this port whatever the settings say.
    pub port: Option<u16>,
    /// The Coda API root (tests point it at a loopback stand-in; default: Coda's).
    pub coda_base_url: Option<String>,
}

/// Whether the app starts its server at launch: when the settings say so, when asked for the
/// demo or the window, and on the first run whatever they say (the Setup view is served by it).
pub fn starts_server(settings: &Settings, demo: bool, open_dashboard: bool) -> bool {
    settings.start_server_on_launch || demo || open_dashboard || !settings.first_run_done
}

/// The window to show at start: none (the app lives in the tray), the dashboard when asked,
/// or its Setup view on the first run. `Some(view)`: open, on `view` when given.
pub fn window_at_start(open_dashboard: bool, first_run: bool) -> Option<Option<&'static str>> {
    match (open_dashboard, first_run) {
        (_, true) => Some(Some("setup")),
        (true, false) => Some(None),
        (false, false) => None,
    }
}

/// The running app's core.
pub struct AppCore {
    store: Arc<dyn SecretStore>,
    settings_path: Option<PathBuf>,
    overrides: Overrides,
    /// One dashboard token for the app's lifetime, so the window survives server restarts.
    dashboard_token: Secret,
    server: Mutex<Option<(Launched, tokio::task::JoinHandle<()>)>>,
    status: watch::Sender<Status>,
    restarts: mpsc::UnboundedSender<()>,
    /// Claude Desktop's config (`CODA_MCP_CLAUDE_CONFIG`, else the OS's usual place), also
    /// when the server is stopped.
    claude_config: Option<PathBuf>,
}

impl AppCore {
    /// A core with the OS keychain (or none, with `CODA_MCP_KEYCHAIN=off`) and the settings
    /// file in the OS config directory. The receiver yields each restart the dashboard asks for.
    pub fn new(overrides: Overrides) -> (Arc<AppCore>, mpsc::UnboundedReceiver<()>) {
        Self::with_store(secret_store(), Settings::default_path(), overrides)
    }

    /// A core over the given store and settings file (tests).
    pub fn with_store(
        store: Arc<dyn SecretStore>,
        settings_path: Option<PathBuf>,
        overrides: Overrides,
    ) -> (Arc<AppCore>, mpsc::UnboundedReceiver<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut core = AppCore {
            store,
            settings_path,
            overrides,
            dashboard_token: coda_mcp::EngineConfig::default().dashboard_token,
            server: Mutex::new(None),
            status: watch::channel(Status::default()).0,
            restarts: tx,
            claude_config: LaunchOptions::default().claude_config,
        };
        let saved = core.settings();
        core.status = watch::channel(Status {
            launch_at_login: saved.launch_at_login,
            tunnel_kind: saved.tunnel_provider,
            ..Status::default()
        })
        .0;
        (Arc::new(core), rx)
    }

    /// The saved settings (defaults when there are none or they cannot be read).
    pub fn settings(&self) -> Settings {
        self.settings_path
            .as_deref()
            .map(|p| {
                Settings::load(p).unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "settings unreadable; using the defaults");
                    Settings::default()
                })
            })
            .unwrap_or_default()
    }

    /// Saves the settings (the status follows launch at login).
    pub fn save_settings(&self, settings: &Settings) -> Result<(), String> {
        match &self.settings_path {
            Some(p) => settings.save(p).map_err(|e| e.to_string())?,
            None => return Err("no settings directory".into()),
        }
        let saved = EventKind::Settings {
            settings: settings.clone(),
        };
        self.status.send_if_modified(|s| follow(s, &saved));
        Ok(())
    }

    /// Forgets the "copy the schema again" notice (the person copied it).
    pub fn clear_notice(&self) {
        self.status.send_if_modified(|s| s.notice.take().is_some());
    }

    /// The current status.
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// Status changes, for the tray.
    pub fn watch(&self) -> watch::Receiver<Status> {
        self.status.subscribe()
    }

    /// Starts the server with the saved settings (no-op when it runs).
    pub async fn start(self: &Arc<Self>) -> Result<(), String> {
        let mut slot = self.server.lock().await;
        if slot.is_some() {
            return Ok(());
        }
        let settings = self.settings();
        let restarts = self.restarts.clone();
        let defaults = LaunchOptions::default();
        let options = LaunchOptions {
            port: self.overrides.port.unwrap_or(settings.port),
            demo: self.overrides.demo || settings.demo,
            coda_base_url: self
                .overrides
                .coda_base_url
                .clone()
                .unwrap_or_else(|| defaults.coda_base_url.clone()),
            read_only: settings.read_only,
            toolsets: settings.toolsets.clone(),
            views: settings.views,
            pass_through_public: settings.pass_through_on_tunnel,
            audit_days: i64::from(settings.audit_retention_days),
            claude_config: self.claude_config.clone(),
            session_idle_timeout: std::time::Duration::from_secs(settings.session_idle_timeout_s),
            tunnel: settings.tunnel_on_launch,
            tunnel_kind: settings.tunnel_provider,
            openai_tunnel_id: settings.openai_tunnel_id.clone(),
            ngrok_domain: settings.ngrok_domain.clone(),
            settings_path: self.settings_path.clone(),
            stdio_program: coda_mcp::clients::this_program(),
            dashboard_token: Some(self.dashboard_token.clone()),
            restart: Some(Arc::new(move || {
                let _ = restarts.send(());
            })),
            ..defaults
        };
        let demo = options.demo;
        match launch(options, self.store.clone()).await {
            Ok(launched) => {
                // Listen first, then read the state: a change between the two is in both, and
                // none is lost (a tunnel that fails at once must not leave the tray stale).
                let engine = launched.server.state.engine.clone();
                let (_, events) = engine.events().subscribe(None);
                let previous = self.status();
                let status = Status {
                    running: true,
                    mcp_url: Some(launched.mcp_url()),
                    tunnel: engine.public().tunnel_state(),
                    error: None,
                    demo,
                    has_coda_token: launched.has_coda_token,
                    launch_at_login: settings.launch_at_login,
                    notice: previous.notice,
                    update: previous.update,
                    tunnel_kind: settings.tunnel_provider,
                };
                tracing::info!(url = %launched.mcp_url(), "server started");
                let follower = tokio::spawn(follow_events(engine, events, self.status.clone()));
                self.status.send_replace(status);
                *slot = Some((launched, follower));
                Ok(())
            }
            Err(e) => {
                let message = e.to_string();
                tracing::error!(error = %message, "the server could not start");
                let previous = self.status();
                self.status.send_replace(Status {
                    error: Some(message.clone()),
                    launch_at_login: previous.launch_at_login,
                    notice: previous.notice,
                    update: previous.update,
                    tunnel_kind: previous.tunnel_kind,
                    ..Status::default()
                });
                Err(message)
            }
        }
    }

    /// Stops the server (and its tunnel).
    pub async fn stop(&self) {
        if let Some((launched, follower)) = self.server.lock().await.take() {
            follower.abort();
            launched.shutdown().await;
            tracing::info!("server stopped");
        }
        let previous = self.status();
        self.status.send_replace(Status {
            launch_at_login: previous.launch_at_login,
            notice: previous.notice,
            update: previous.update,
            tunnel_kind: previous.tunnel_kind,
            ..Status::default()
        });
    }

    /// Records where updating stands (the tray and the window follow).
    pub fn set_update(&self, update: crate::updates::UpdateState) {
        self.status.send_if_modified(|s| {
            let changed = s.update != update;
            s.update = update;
            changed
        });
    }

    /// Stops and starts again with the saved settings.
    pub async fn restart(self: &Arc<Self>) -> Result<(), String> {
        self.stop().await;
        self.start().await
    }

    /// Opens the tunnel, or closes it when it is open.
    pub async fn toggle_tunnel(&self) -> Result<(), String> {
        let slot = self.server.lock().await;
        let Some((launched, _)) = slot.as_ref() else {
            return Err("start the server first".into());
        };
        let state = &launched.server.state;
        if matches!(state.engine.public().tunnel_state(), TunnelState::Off) {
            launched
                .controls
                .start_tunnel(&state.engine)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        } else {
            launched.controls.stop_tunnel().await;
            Ok(())
        }
    }

    /// Chooses the tunnel the tunnel item opens (saved in the settings); an open tunnel is
    /// reopened through the chosen one at once. Says what happened, for the person.
    pub async fn choose_tunnel(&self, kind: TunnelKind) -> Result<String, String> {
        let mut settings = self.settings();
        settings.tunnel_provider = kind;
        self.save_settings(&settings)?;
        let name = tunnel_name(kind);
        let missing_id = kind == TunnelKind::Openai && settings.openai_tunnel_id.is_none();
        let slot = self.server.lock().await;
        let reopen = match slot.as_ref() {
            Some((launched, _)) => {
                launched
                    .controls
                    .set_tunnel_choice(kind, None)
                    .map_err(|e| e.to_string())?;
                let engine = &launched.server.state.engine;
                if matches!(engine.public().tunnel_state(), TunnelState::Off) || missing_id {
                    false
                } else {
                    // The running tunnel is replaced by one through the chosen provider.
                    launched
                        .controls
                        .start_tunnel(engine)
                        .await
                        .map_err(|e| e.to_string())?;
                    true
                }
            }
            None => false,
        };
        Ok(if missing_id {
            format!("{name} chosen: give its tunnel id and API key in Settings → Which tunnel, then start the tunnel")
        } else if reopen {
            format!("The tunnel now goes through {name}")
        } else {
            format!("{name} chosen: it opens when you start the tunnel")
        })
    }

    /// The dashboard address with its token (never shown or logged).
    pub async fn dashboard_url(&self) -> Option<Secret> {
        self.server
            .lock()
            .await
            .as_ref()
            .map(|(l, _)| l.dashboard_url.clone())
    }

    /// The GPT Actions schema with this server's URL, for the clipboard, and whether that URL
    /// is public (ChatGPT cannot reach a loopback one).
    pub async fn actions_schema(&self) -> Option<(String, bool)> {
        let slot = self.server.lock().await;
        let (launched, _) = slot.as_ref()?;
        let state = &launched.server.state;
        let doc = coda_mcp::openapi::actions(&state.engine.catalogue(), &state.server_url());
        let public = state.engine.public().is_public();
        serde_json::to_string_pretty(&doc).ok().map(|s| (s, public))
    }

    /// The connection key, for the clipboard.
    pub async fn connection_key(&self) -> Option<Secret> {
        let slot = self.server.lock().await;
        slot.as_ref()
            .map(|(l, _)| l.server.state.engine.connection_key())
    }

    /// Writes the Claude Desktop entry (pointing at this app's `stdio`).
    pub async fn connect_claude(&self) -> Result<String, String> {
        self.connect_client(ClientId::Claude).await
    }

    /// Writes `client`'s entry (pointing at this app's `stdio`), and says what to do next.
    pub async fn connect_client(&self, client: ClientId) -> Result<String, String> {
        let slot = self.server.lock().await;
        let demo = self.status().demo;
        let outcome = match slot.as_ref() {
            Some((l, _)) => l.controls.connect_client(client, demo),
            None => {
                // The same config file and program a running server's controls would use.
                let controls = coda_mcp::control::Controls::new(ControlOptions {
                    claude_config: self.claude_config.clone(),
                    stdio_program: coda_mcp::clients::this_program(),
                    // Its keychain: whether an entry's bridge can read the key there.
                    store: self.store.clone(),
                    ..ControlOptions::default()
                });
                controls.connect_client(client, demo || self.overrides.demo || self.settings().demo)
            }
        }
        .map_err(|e| e.to_string())?;
        Ok(if outcome.unchanged {
            format!(
                "{} was already connected ({})",
                client.name(),
                outcome.path.display()
            )
        } else {
            format!(
                "Connected {} ({}). {}",
                client.name(),
                outcome.path.display(),
                client.reload_hint()
            )
        })
    }

    /// Whether the person still has to choose between their Coda token and the demo.
    pub fn needs_first_run(&self) -> bool {
        let s = self.settings();
        let status = self.status();
        !s.first_run_done && !status.has_coda_token && !status.demo
    }
}

/// What an engine event changes in the status (true: something did).
pub fn follow(status: &mut Status, event: &EventKind) -> bool {
    match event {
        EventKind::Tunnel { state } if status.tunnel != *state => {
            status.tunnel = state.clone();
            true
        }
        EventKind::PublicUrlChanged { url, .. } => {
            status.notice = Some(url_changed_notice(url));
            true
        }
        EventKind::Settings { settings }
            if (status.launch_at_login, status.tunnel_kind)
                != (settings.launch_at_login, settings.tunnel_provider) =>
        {
            status.launch_at_login = settings.launch_at_login;
            status.tunnel_kind = settings.tunnel_provider;
            true
        }
        // An app waits on the consent page: the tray says so (and tells, as for any notice).
        EventKind::OAuthRequest {
            client,
            redirect_host,
            ..
        } => {
            status.notice = Some(oauth_request_notice(client, redirect_host));
            true
        }
        EventKind::OAuthDecided { .. } if status.notice.as_deref().is_some_and(is_oauth_notice) => {
            status.notice = None;
            true
        }
        _ => false,
    }
}

/// Keeps the status in step with the engine's events: the tunnel, a changed public URL,
/// settings saved from the dashboard (launch at login), and apps waiting for approval.
async fn follow_events(
    engine: coda_mcp::Engine,
    mut rx: tokio::sync::broadcast::Receiver<Arc<coda_mcp::events::Event>>,
    status: watch::Sender<Status>,
) {
    loop {
        match rx.recv().await {
            Ok(event) => {
                status.send_if_modified(|s| follow(s, &event.kind));
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                let current = engine.public().tunnel_state();
                status.send_modify(|s| s.tunnel = current);
            }
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coda_mcp::secrets::MemoryStore;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "coda-desktop-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn core_in(dir: &std::path::Path, demo: bool) -> Arc<AppCore> {
        AppCore::with_store(
            Arc::new(MemoryStore::default()),
            Some(dir.join("settings.json")),
            Overrides {
                demo,
                port: Some(0),
                // Never Coda itself: nothing listens on port 9.
                coda_base_url: Some("http://127.0.0.1:9/apis/v1".into()),
            },
        )
        .0
    }

    /// These tests never reach ngrok (without an authtoken the tunnel fails before any
    /// connection), and keep their data (audit history, server.json) out of the person's.
    fn offline() {
        std::env::remove_var("NGROK_AUTHTOKEN");
        std::env::set_var(
            "CODA_MCP_DATA_DIR",
            std::env::temp_dir().join(format!("coda-desktop-tests-{}", std::process::id())),
        );
    }

    async fn wait_status(core: &AppCore, what: &str, pred: impl Fn(&Status) -> bool) -> Status {
        let mut watch = core.watch();
        tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                let s = watch.borrow_and_update().clone();
                if pred(&s) {
                    return s;
                }
                watch.changed().await.unwrap();
            }
        })
        .await
        .unwrap_or_else(|_| panic!("never {what}; status {:?}", core.status()))
    }

    /// The tunnel's error once it has failed.
    async fn tunnel_failure(core: &AppCore) -> String {
        let failed = wait_status(core, "the tunnel's failure", |s| {
            matches!(s.tunnel, TunnelState::Failed { .. })
        })
        .await;
        match failed.tunnel {
            TunnelState::Failed { error } => error,
            _ => unreachable!(),
        }
    }

    /// The running server's dashboard origin and token, for calling its Setup API.
    async fn dashboard_api(core: &AppCore) -> (String, String) {
        let dashboard = core.dashboard_url().await.unwrap();
        let url = url::Url::parse(dashboard.expose()).unwrap();
        let token = url
            .query_pairs()
            .find(|(k, _)| k == "token")
            .unwrap()
            .1
            .into_owned();
        (url.origin().ascii_serialization(), token)
    }

    #[tokio::test]
    async fn starts_serves_and_stops_the_demo() {
        offline();
        let dir = temp_dir("core");
        let core = core_in(&dir, true);
        core.start().await.unwrap();
        let status = core.status();
        assert!(status.running && status.demo && status.has_coda_token);
        let url = status.mcp_url.clone().unwrap();
        let health = url.replace("/mcp", "/health");
        let body: serde_json::Value = reqwest_get(&health).await;
        assert_eq!(body["status"], "ok");
        let (schema, public) = core.actions_schema().await.unwrap();
        assert!(schema.contains(&url.replace("/mcp", "")));
        assert!(!public, "no tunnel: the schema names the loopback address");
        assert!(core
            .connection_key()
            .await
            .unwrap()
            .expose()
            .starts_with("cmk_"));
        assert!(core
            .dashboard_url()
            .await
            .unwrap()
            .expose()
            .contains("/ui/?token=dash_"));
        // Without an authtoken the tunnel fails clearly; the server keeps serving.
        core.toggle_tunnel().await.unwrap();
        let error = tunnel_failure(&core).await;
        assert!(error.contains("no ngrok authtoken"), "{error}");
        assert_eq!(reqwest_get(&health).await["status"], "ok");
        core.stop().await;
        assert!(!core.status().running);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// The tunnel opened at launch fails before the app has looked at it (no authtoken):
    /// the status must still end up "failed", not stay at the state read before.
    #[tokio::test]
    async fn a_tunnel_that_fails_at_launch_does_not_leave_the_status_stale() {
        offline();
        let dir = temp_dir("tunnel-at-launch");
        Settings {
            tunnel_on_launch: true,
            first_run_done: true,
            ..Settings::default()
        }
        .save(&dir.join("settings.json"))
        .unwrap();
        let core = core_in(&dir, true);
        core.start().await.unwrap();
        let status = wait_status(&core, "the tunnel's failure", |s| {
            matches!(s.tunnel, TunnelState::Failed { .. })
        })
        .await;
        assert!(status.running);
        core.stop().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn connect_claude_with_the_server_stopped_uses_the_configured_file() {
        offline();
        let dir = temp_dir("claude");
        let config = dir.join("Claude").join("claude_desktop_config.json");
        std::env::set_var("CODA_MCP_CLAUDE_CONFIG", &config);
        let core = core_in(&dir, false);
        std::env::remove_var("CODA_MCP_CLAUDE_CONFIG");
        assert!(!core.status().running);
        let message = core.connect_claude().await.unwrap();
        assert!(message.contains(&config.display().to_string()), "{message}");
        let written: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
        assert_eq!(written["mcpServers"]["coda"]["args"][0], "stdio");
        let _ = std::fs::remove_dir_all(dir);
    }

    /// The tray's "Tunnel provider" choice is saved, opens that provider's tunnel, survives a
    /// restart; a choice made in the dashboard's Setup view reaches the tray too.
    #[tokio::test]
    async fn the_tunnel_provider_chosen_in_the_tray_is_kept_and_opened() {
        offline();
        std::env::remove_var("OPENAI_TUNNEL_API_KEY");
        std::env::remove_var("CONTROL_PLANE_API_KEY");
        let dir = temp_dir("tunnel-choice");
        let core = core_in(&dir, true);
        assert_eq!(core.status().tunnel_kind, TunnelKind::Ngrok);
        let told = core.choose_tunnel(TunnelKind::Openai).await.unwrap();
        assert!(told.contains("tunnel id and API key"), "{told}");
        assert_eq!(core.status().tunnel_kind, TunnelKind::Openai);
        assert_eq!(core.settings().tunnel_provider, TunnelKind::Openai);
        // A new core (the app restarted) reads it, and its server opens that tunnel.
        let core = core_in(&dir, true);
        assert_eq!(core.status().tunnel_kind, TunnelKind::Openai);
        core.start().await.unwrap();
        core.toggle_tunnel().await.unwrap();
        let error = tunnel_failure(&core).await;
        assert!(error.contains("no OpenAI tunnel API key"), "{error}");
        // Chosen again while a tunnel is open (failed counts as open): reopened through ngrok.
        let told = core.choose_tunnel(TunnelKind::Ngrok).await.unwrap();
        assert!(told.contains("now goes through ngrok"), "{told}");
        wait_status(&core, "the ngrok tunnel's failure", |s| {
            matches!(&s.tunnel, TunnelState::Failed { error } if error.contains("no ngrok authtoken"))
        })
        .await;
        // The Setup view's choice (over HTTP) reaches the status the tray shows.
        let (origin, token) = dashboard_api(&core).await;
        let resp = reqwest::Client::new()
            .post(format!("{origin}/api/setup/tunnel-choice"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("x-coda-mcp-dashboard", "1")
            .body(r#"{"provider":"openai","tunnel_id":"tunnel_abc123"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        wait_status(&core, "the dashboard's choice", |s| {
            s.tunnel_kind == TunnelKind::Openai
        })
        .await;
        assert_eq!(
            core.settings().openai_tunnel_id.as_deref(),
            Some("tunnel_abc123")
        );
        core.stop().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Saving "launch at login" in the dashboard (its Setup view, over HTTP) reaches the
    /// status at once, which the tray follows (checkbox and OS entry).
    #[tokio::test]
    async fn launch_at_login_saved_in_the_dashboard_reaches_the_status() {
        offline();
        let dir = temp_dir("at-login");
        let core = core_in(&dir, true);
        core.start().await.unwrap();
        assert!(!core.status().launch_at_login);
        let (origin, token) = dashboard_api(&core).await;
        let settings = Settings {
            launch_at_login: true,
            ..core.settings()
        };
        let resp = reqwest::Client::new()
            .put(format!("{origin}/api/setup/settings"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("x-coda-mcp-dashboard", "1")
            .body(serde_json::to_string(&settings).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        wait_status(&core, "launch at login", |s| s.launch_at_login).await;
        assert!(core.settings().launch_at_login);
        core.stop().await;
        assert!(
            core.status().launch_at_login,
            "kept while the server is stopped"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn the_first_run_serves_setup_even_when_the_server_would_not_start() {
        let quiet = Settings {
            start_server_on_launch: false,
            ..Settings::default()
        };
        assert!(
            starts_server(&quiet, false, false),
            "first run: setup needs the server"
        );
        let done = Settings {
            first_run_done: true,
            ..quiet.clone()
        };
        assert!(
            !starts_server(&done, false, false),
            "later: the settings decide"
        );
        assert!(starts_server(&done, true, false) && starts_server(&done, false, true));
        assert_eq!(window_at_start(false, true), Some(Some("setup")));
        assert_eq!(window_at_start(true, true), Some(Some("setup")));
        assert_eq!(window_at_start(true, false), Some(None));
        assert_eq!(
            window_at_start(false, false),
            None,
            "otherwise the tray only"
        );
        // No token, no demo: first run; with the demo chosen it is not.
        offline();
        let dir = temp_dir("first-run");
        let core = core_in(&dir, false);
        core.start().await.unwrap();
        assert!(!core.status().has_coda_token);
        assert!(core.needs_first_run());
        core.stop().await;
        let demo = core_in(&dir, true);
        demo.start().await.unwrap();
        assert!(!demo.needs_first_run());
        demo.stop().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn events_move_the_status() {
        let mut s = Status::default();
        assert!(follow(
            &mut s,
            &EventKind::PublicUrlChanged {
                previous: "https://a.ngrok.app".into(),
                url: "https://b.ngrok.app".into(),
            }
        ));
        assert!(s.notice.as_deref().unwrap().contains("https://b.ngrok.app"));
        let up = TunnelState::Up {
            url: "https://b.ngrok.app".into(),
            latency_ms: Some(30),
        };
        assert!(follow(&mut s, &EventKind::Tunnel { state: up.clone() }));
        assert!(
            !follow(&mut s, &EventKind::Tunnel { state: up }),
            "no change"
        );
        let on = Settings {
            launch_at_login: true,
            ..Settings::default()
        };
        assert!(follow(&mut s, &EventKind::Settings { settings: on }));
        assert!(s.launch_at_login);
        // A connection request shows in the tray until it is answered.
        assert!(follow(
            &mut s,
            &EventKind::OAuthRequest {
                request: "req_1".into(),
                client: "ChatGPT".into(),
                client_kind: "registered".into(),
                redirect_host: "chatgpt.com".into(),
                scopes: vec!["coda:read".into()],
            }
        ));
        let notice = s.notice.clone().unwrap();
        assert!(notice.contains("ChatGPT asks to connect") && notice.contains("chatgpt.com"));
        assert!(follow(
            &mut s,
            &EventKind::OAuthDecided {
                request: "req_1".into(),
                allowed: true,
            }
        ));
        assert!(s.notice.is_none());
    }

    async fn reqwest_get(url: &str) -> serde_json::Value {
        reqwest::get(url).await.unwrap().json().await.unwrap()
    }
}
