//! The app's one piece of state: the server it runs in-process (through the engine's
//! `launch`), its settings and secrets, and a status every view (tray, window) watches.
//! Nothing here knows about menus or windows.

use std::path::PathBuf;
use std::sync::Arc;

use coda_mcp::coda::Secret;
use coda_mcp::events::EventKind;
use coda_mcp::launch::{launch, LaunchOptions, Launched};
use coda_mcp::secrets::{KeyringStore, NoStore, SecretStore};
use coda_mcp::settings::Settings;
use coda_mcp::tunnel::TunnelState;
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
        }
    }
}

/// How the app was started (command line), on top of the saved settings.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Serve the demo workspace whatever the settings say.
    pub demo: bool,
    /// Listen on this port whatever the settings say.
    pub port: Option<u16>,
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
        let core = AppCore {
            store,
            settings_path,
            overrides,
            dashboard_token: coda_mcp::EngineConfig::default().dashboard_token,
            server: Mutex::new(None),
            status: watch::channel(Status::default()).0,
            restarts: tx,
        };
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

    /// Saves the settings.
    pub fn save_settings(&self, settings: &Settings) -> Result<(), String> {
        match &self.settings_path {
            Some(p) => settings.save(p).map_err(|e| e.to_string()),
            None => Err("no settings directory".into()),
        }
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
        let options = LaunchOptions {
            port: self.overrides.port.unwrap_or(settings.port),
            demo: self.overrides.demo || settings.demo,
            read_only: settings.read_only,
            session_idle_timeout: std::time::Duration::from_secs(settings.session_idle_timeout_s),
            tunnel: settings.tunnel_on_launch,
            ngrok_domain: settings.ngrok_domain.clone(),
            settings_path: self.settings_path.clone(),
            stdio_program: std::env::current_exe().ok(),
            dashboard_token: Some(self.dashboard_token.clone()),
            restart: Some(Arc::new(move || {
                let _ = restarts.send(());
            })),
            ..LaunchOptions::default()
        };
        let demo = options.demo;
        match launch(options, self.store.clone()).await {
            Ok(launched) => {
                let status = Status {
                    running: true,
                    mcp_url: Some(launched.mcp_url()),
                    tunnel: launched.server.state.engine.public().tunnel_state(),
                    error: None,
                    demo,
                    has_coda_token: launched.has_coda_token,
                };
                tracing::info!(url = %launched.mcp_url(), "server started");
                let follower = tokio::spawn(follow_tunnel(
                    launched.server.state.engine.clone(),
                    self.status.clone(),
                ));
                self.status.send_replace(status);
                *slot = Some((launched, follower));
                Ok(())
            }
            Err(e) => {
                let message = e.to_string();
                tracing::error!(error = %message, "the server could not start");
                self.status.send_replace(Status {
                    error: Some(message.clone()),
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
        self.status.send_replace(Status::default());
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
            state
                .controls
                .start_tunnel(&state.engine)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        } else {
            state.controls.stop_tunnel().await;
            Ok(())
        }
    }

    /// The dashboard address with its token (never shown or logged).
    pub async fn dashboard_url(&self) -> Option<Secret> {
        self.server
            .lock()
            .await
            .as_ref()
            .map(|(l, _)| l.dashboard_url.clone())
    }

    /// The GPT Actions schema with this server's URL, for the clipboard.
    pub async fn actions_schema(&self) -> Option<String> {
        let slot = self.server.lock().await;
        let (launched, _) = slot.as_ref()?;
        let state = &launched.server.state;
        let doc = coda_mcp::openapi::actions(state.engine.catalogue(), &state.server_url());
        serde_json::to_string_pretty(&doc).ok()
    }

    /// The connection key, for the clipboard.
    pub async fn connection_key(&self) -> Option<Secret> {
        let slot = self.server.lock().await;
        slot.as_ref()
            .map(|(l, _)| l.server.state.engine.connection_key())
    }

    /// Writes the Claude Desktop entry (pointing at this app's `stdio`).
    pub async fn connect_claude(&self) -> Result<String, String> {
        let slot = self.server.lock().await;
        let demo = self.status().demo;
        let outcome = match slot.as_ref() {
            Some((l, _)) => l.server.state.controls.connect_claude(demo),
            None => {
                let controls = coda_mcp::control::Controls::new(Default::default());
                controls.connect_claude(demo)
            }
        }
        .map_err(|e| e.to_string())?;
        Ok(if outcome.unchanged {
            format!(
                "Claude Desktop was already connected ({})",
                outcome.path.display()
            )
        } else {
            format!(
                "Connected: restart Claude Desktop to load {}",
                outcome.path.display()
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

/// Keeps the status's tunnel field in step with the engine's tunnel events.
async fn follow_tunnel(engine: coda_mcp::Engine, status: watch::Sender<Status>) {
    let (_, mut rx) = engine.events().subscribe(None);
    loop {
        match rx.recv().await {
            Ok(event) => {
                if let EventKind::Tunnel { state } = &event.kind {
                    status.send_modify(|s| s.tunnel = state.clone());
                }
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

    fn core(dir: &std::path::Path) -> Arc<AppCore> {
        AppCore::with_store(
            Arc::new(MemoryStore::default()),
            Some(dir.join("settings.json")),
            Overrides {
                demo: true,
                port: Some(0),
            },
        )
        .0
    }

    #[tokio::test]
    async fn starts_serves_and_stops_the_demo() {
        let dir = std::env::temp_dir().join(format!("coda-desktop-core-{}", std::process::id()));
        std::env::set_var("CODA_MCP_DATA_DIR", &dir);
        let core = core(&dir);
        core.start().await.unwrap();
        let status = core.status();
        assert!(status.running && status.demo && status.has_coda_token);
        let url = status.mcp_url.clone().unwrap();
        let health = url.replace("/mcp", "/health");
        let body: serde_json::Value = reqwest_get(&health).await;
        assert_eq!(body["status"], "ok");
        let schema = core.actions_schema().await.unwrap();
        assert!(schema.contains(&url.replace("/mcp", "")));
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
        let mut watch = core.watch();
        let failed = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                if let TunnelState::Failed { error } = &watch.borrow_and_update().tunnel {
                    return error.clone();
                }
                watch.changed().await.unwrap();
            }
        })
        .await
        .unwrap();
        assert!(failed.contains("no ngrok authtoken"), "{failed}");
        assert_eq!(reqwest_get(&health).await["status"], "ok");
        core.stop().await;
        assert!(!core.status().running);
        let _ = std::fs::remove_dir_all(dir);
    }

    async fn reqwest_get(url: &str) -> serde_json::Value {
        reqwest::get(url).await.unwrap().json().await.unwrap()
    }
}
