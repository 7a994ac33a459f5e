//! What a person can change while the server runs — Coda token, connection key, tunnel,
//! Claude Desktop, settings — in one place, so the dashboard's Setup view, the tray menu and
//! the CLI do the same thing the same way.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::clients::{ClientId, ClientStatus, ConnectError, ConnectOutcome, Places};
use crate::coda::{CodaRequest, Secret};
use crate::events::{EventKind, LogLevel};
use crate::secrets::{SecretName, SecretStore, StoreError};
use crate::settings::{Settings, SettingsError};
use crate::tunnel::{Backoff, Endpoint, Observer, Tunnel, TunnelProvider, TunnelState, UrlMemory};
use crate::Engine;

/// Builds the tunnel provider from the stored authtoken and the configured domain.
pub type ProviderFactory =
    Arc<dyn Fn(Option<Secret>, Option<String>) -> Arc<dyn TunnelProvider> + Send + Sync>;

/// Why a change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Coda did not accept the token (or could not be asked).
    #[error("Coda did not accept the token: {0}")]
    TokenRejected(String),
    /// The submitted value is empty or malformed.
    #[error("{0}")]
    Invalid(String),
    /// An environment variable overrides the keychain, so changing the keychain changes nothing.
    #[error(
        "{0} is set in the environment and overrides the keychain; change that variable instead"
    )]
    FromEnvironment(&'static str),
    /// The keychain failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// This face cannot run a tunnel.
    #[error("no tunnel provider is configured")]
    NoTunnel,
    /// No keychain here, so a client's entry could not get the key (the message says what
    /// works: the demo, or the key written into the entry when the person asks).
    #[error("{0}")]
    NoKeychain(String),
    /// A client's config could not be updated.
    #[error(transparent)]
    Connect(#[from] crate::clients::ConnectError),
    /// Settings are not kept by this face (the CLI takes flags instead).
    #[error("settings are kept by the desktop app; the CLI takes flags instead")]
    NoSettings,
    /// Settings could not be read or written.
    #[error(transparent)]
    Settings(#[from] SettingsError),
}

/// How the controls are set up by the face that starts the server.
#[derive(Clone)]
pub struct ControlOptions {
    /// Where secrets are kept.
    pub store: Arc<dyn SecretStore>,
    /// Opens tunnels (none: the tunnel cannot be switched on).
    pub tunnel_provider: Option<ProviderFactory>,
    /// The reserved ngrok domain to ask for.
    pub ngrok_domain: Option<String>,
    /// Opens OpenAI's Secure MCP Tunnel from its API key and tunnel id.
    pub openai_provider: Option<ProviderFactory>,
    /// Which tunnel opens.
    pub tunnel_kind: crate::tunnel::TunnelKind,
    /// The OpenAI tunnel's id.
    pub openai_tunnel_id: Option<String>,
    /// The desktop app's settings file (none in the CLI).
    pub settings_path: Option<PathBuf>,
    /// Claude Desktop's config file (none: the OS's usual place).
    pub claude_config: Option<PathBuf>,
    /// Where the other clients' configs are looked for (none: this machine's usual places).
    pub client_places: Option<Places>,
    /// The program Claude Desktop runs for `stdio` (none: this executable).
    pub stdio_program: Option<PathBuf>,
    /// Backoff between tunnel attempts.
    pub tunnel_backoff: Backoff,
    /// Asks the face to restart the server with its saved settings (the desktop app does;
    /// the CLI cannot, as its settings are its flags).
    pub restart: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl Default for ControlOptions {
    fn default() -> Self {
        ControlOptions {
            store: Arc::new(crate::secrets::NoStore),
            tunnel_provider: None,
            ngrok_domain: None,
            openai_provider: None,
            tunnel_kind: Default::default(),
            openai_tunnel_id: None,
            settings_path: None,
            claude_config: None,
            client_places: None,
            stdio_program: None,
            tunnel_backoff: Backoff::default(),
            restart: None,
        }
    }
}

/// The controls of one running server.
pub struct Controls {
    options: ControlOptions,
    ngrok_domain: std::sync::Mutex<Option<String>>,
    /// Which tunnel opens, and the OpenAI tunnel's id (changed from Setup).
    tunnel_choice: std::sync::Mutex<(crate::tunnel::TunnelKind, Option<String>)>,
    tunnel: tokio::sync::Mutex<Option<Tunnel>>,
    /// The last public URL, across tunnel restarts (and, in the data directory, app restarts).
    url_memory: std::sync::OnceLock<UrlMemory>,
    /// The public face the tunnel serves; set by the server once built, cleared at shutdown.
    public_face: std::sync::Mutex<Option<Arc<dyn Endpoint>>>,
}

impl Controls {
    /// Controls with `options`.
    pub fn new(options: ControlOptions) -> Self {
        Controls {
            ngrok_domain: std::sync::Mutex::new(options.ngrok_domain.clone()),
            tunnel_choice: std::sync::Mutex::new((
                options.tunnel_kind,
                options.openai_tunnel_id.clone(),
            )),
            options,
            tunnel: Default::default(),
            url_memory: Default::default(),
            public_face: Default::default(),
        }
    }

    /// Hands over the face the tunnel serves (the HTTP layer does, once it is built).
    pub fn set_public_face(&self, face: Option<Arc<dyn Endpoint>>) {
        *self.public_face.lock().expect("public face") = face;
    }

    /// Where the Claude entry points: this face's own program unless told otherwise.
    pub fn stdio_program(&self) -> Option<PathBuf> {
        self.options
            .stdio_program
            .clone()
            .or_else(crate::clients::this_program)
    }

    /// Checks `token` with Coda's `/whoami`, keeps it in the keychain and uses it from now on.
    /// Returns the account it belongs to.
    pub async fn change_coda_token(
        &self,
        engine: &Engine,
        token: &str,
    ) -> Result<Value, ControlError> {
        let token = token.trim();
        if token.is_empty() || token.len() > 512 || token.chars().any(char::is_whitespace) {
            return Err(ControlError::Invalid(
                "paste the API token from coda.io/account (Account settings → API settings)".into(),
            ));
        }
        let token = Secret::new(token);
        let me = engine
            .coda()
            .with_token(token.clone())
            .send(&CodaRequest::get("/whoami"))
            .await
            .map_err(|e| ControlError::TokenRejected(e.to_string()))?
            .body;
        let store = self.options.store.clone();
        let stored = token.clone();
        tokio::task::spawn_blocking(move || store.set(SecretName::CodaToken, &stored))
            .await
            .map_err(|e| ControlError::Invalid(e.to_string()))??;
        engine.set_coda_token(Some(token.clone()));
        engine.health().refresh(&engine.coda()).await;
        Ok(
            json!({"name": me["name"], "loginId": me["loginId"], "token_hint": token.hint(),
            "overridden_by_environment": crate::secrets::env_secret("CODA_API_TOKEN").is_some()}),
        )
    }

    /// Makes a new connection key, keeps it in the keychain and requires it from now on.
    /// Without a keychain the new key holds for this run only (the answer says so).
    pub async fn rotate_key(&self, engine: &Engine) -> Result<(String, bool), ControlError> {
        if std::env::var("CODA_MCP_KEY").is_ok_and(|v| !v.trim().is_empty()) {
            return Err(ControlError::FromEnvironment("CODA_MCP_KEY"));
        }
        let store = self.options.store.clone();
        let rotated = tokio::task::spawn_blocking(move || {
            crate::secrets::rotate_connection_key(store.as_ref())
        })
        .await
        .map_err(|e| ControlError::Invalid(e.to_string()))?;
        let (key, kept) = match rotated {
            Ok(key) => (key, true),
            Err(StoreError::Unavailable(_)) => (crate::secrets::generate_connection_key(), false),
            Err(e) => return Err(e.into()),
        };
        engine.set_connection_key(key.clone());
        Ok((key.hint(), kept))
    }

    /// Takes the key kept in the keychain as the one clients must send, when `coda-mcp key
    /// rotate` changed it from outside. Answers whether it changed. The caller has proved it
    /// holds the current key; nothing but the keychain's own key is ever taken.
    pub async fn reload_key(&self, engine: &Engine) -> Result<bool, ControlError> {
        if std::env::var("CODA_MCP_KEY").is_ok_and(|v| !v.trim().is_empty()) {
            return Err(ControlError::FromEnvironment("CODA_MCP_KEY"));
        }
        let store = self.options.store.clone();
        let kept = tokio::task::spawn_blocking(move || store.get(SecretName::ConnectionKey))
            .await
            .map_err(|e| ControlError::Invalid(e.to_string()))??;
        let Some(key) = kept else {
            return Err(ControlError::Invalid(
                "the keychain holds no connection key".into(),
            ));
        };
        if engine.connection_key() == key {
            return Ok(false);
        }
        engine.set_connection_key(key);
        let message = "the connection key was changed by `coda-mcp key rotate`: clients must send the new one".to_owned();
        tracing::info!("{message}");
        engine.events().publish(EventKind::Log {
            level: LogLevel::Info,
            message,
            session: None,
            tool: None,
        });
        Ok(true)
    }

    /// Keeps an ngrok authtoken (and the reserved domain) for the tunnel.
    pub async fn set_ngrok(
        &self,
        authtoken: Option<&str>,
        domain: Option<&str>,
    ) -> Result<(), ControlError> {
        if let Some(token) = authtoken.map(str::trim).filter(|t| !t.is_empty()) {
            if token.chars().any(char::is_whitespace) || token.len() > 512 {
                return Err(ControlError::Invalid(
                    "that does not look like an ngrok authtoken".into(),
                ));
            }
            let store = self.options.store.clone();
            let token = Secret::new(token);
            match tokio::task::spawn_blocking(move || store.set(SecretName::NgrokAuthtoken, &token))
                .await
                .map_err(|e| ControlError::Invalid(e.to_string()))?
            {
                Ok(()) => {}
                // Without a keychain the authtoken can only come from the environment.
                Err(StoreError::Unavailable(why)) => {
                    return Err(ControlError::Invalid(format!(
                        "the authtoken cannot be kept: no OS keychain is available ({why}); set NGROK_AUTHTOKEN in the environment of the server instead and restart it"
                    )))
                }
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(domain) = domain {
            let domain = domain
                .trim()
                .trim_start_matches("https://")
                .trim_end_matches('/');
            let domain = (!domain.is_empty()).then(|| domain.to_owned());
            let probe = Settings {
                ngrok_domain: domain.clone(),
                ..Settings::default()
            };
            probe.check()?;
            if let Some(path) = &self.options.settings_path {
                let mut settings = Settings::load(path)?;
                settings.ngrok_domain = domain.clone();
                settings.save(path)?;
            }
            *self.ngrok_domain.lock().expect("domain") = domain;
        }
        Ok(())
    }

    /// Chooses which tunnel opens next (and the OpenAI tunnel's id), kept in the settings.
    pub fn set_tunnel_choice(
        &self,
        kind: crate::tunnel::TunnelKind,
        openai_tunnel_id: Option<&str>,
    ) -> Result<(), ControlError> {
        let id = openai_tunnel_id
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        if let Some(id) = &id {
            if id.len() > 128
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(ControlError::Invalid(
                    "that does not look like a tunnel id (tunnel_…)".into(),
                ));
            }
        }
        if let Some(path) = &self.options.settings_path {
            let mut settings = Settings::load(path)?;
            settings.tunnel_provider = kind;
            if id.is_some() {
                settings.openai_tunnel_id = id.clone();
            }
            settings.save(path)?;
        }
        let mut choice = self.tunnel_choice.lock().expect("tunnel choice");
        choice.0 = kind;
        if id.is_some() {
            choice.1 = id;
        }
        Ok(())
    }

    /// Keeps the OpenAI tunnel's runtime API key in the keychain.
    pub async fn set_openai_tunnel_key(&self, key: &str) -> Result<(), ControlError> {
        let key = key.trim();
        if key.is_empty() || key.chars().any(char::is_whitespace) || key.len() > 512 {
            return Err(ControlError::Invalid(
                "that does not look like an OpenAI API key".into(),
            ));
        }
        let store = self.options.store.clone();
        let key = Secret::new(key);
        match tokio::task::spawn_blocking(move || store.set(SecretName::OpenAiTunnelKey, &key))
            .await
            .map_err(|e| ControlError::Invalid(e.to_string()))?
        {
            Ok(()) => Ok(()),
            Err(StoreError::Unavailable(why)) => Err(ControlError::Invalid(format!(
                "the API key cannot be kept: no OS keychain is available ({why}); set OPENAI_TUNNEL_API_KEY in the environment of the server instead and restart it"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the OpenAI tunnel has an API key (from the environment or the keychain).
    pub async fn has_openai_tunnel_key(&self) -> bool {
        let store = self.options.store.clone();
        tokio::task::spawn_blocking(move || {
            SecretName::OpenAiTunnelKey.lookup(store.as_ref()).is_some()
        })
        .await
        .unwrap_or(false)
    }

    /// Which tunnel opens, and the OpenAI tunnel's id.
    pub fn tunnel_choice(&self) -> (crate::tunnel::TunnelKind, Option<String>) {
        self.tunnel_choice.lock().expect("tunnel choice").clone()
    }

    /// Opens the tunnel (a running one is replaced, so new credentials take effect).
    pub async fn start_tunnel(&self, engine: &Engine) -> Result<TunnelState, ControlError> {
        if engine.config().no_auth {
            return Err(ControlError::Invalid("the tunnel cannot be opened while authentication is off (--no-auth): restart without --no-auth first".into()));
        }
        let (kind, tunnel_id) = self.tunnel_choice.lock().expect("tunnel choice").clone();
        let (factory, secret, detail) = match kind {
            crate::tunnel::TunnelKind::Ngrok => (
                self.options.tunnel_provider.clone(),
                SecretName::NgrokAuthtoken,
                self.ngrok_domain.lock().expect("domain").clone(),
            ),
            crate::tunnel::TunnelKind::Openai => (
                self.options.openai_provider.clone(),
                SecretName::OpenAiTunnelKey,
                tunnel_id,
            ),
        };
        let factory = factory.ok_or(ControlError::NoTunnel)?;
        let face = self
            .public_face
            .lock()
            .expect("public face")
            .clone()
            .ok_or(ControlError::NoTunnel)?;
        let mut slot = self.tunnel.lock().await;
        if let Some(old) = slot.take() {
            old.stop().await;
        }
        let store = self.options.store.clone();
        let credential = tokio::task::spawn_blocking(move || {
            secret.lookup(store.as_ref()).map(|(value, _)| value)
        })
        .await
        .map_err(|e| ControlError::Invalid(e.to_string()))?;
        let provider = factory(credential, detail);
        let memory = self
            .url_memory
            .get_or_init(|| UrlMemory::in_dir(engine.config().data_dir.as_deref()))
            .clone();
        let tunnel = Tunnel::start(
            provider,
            face,
            self.options.tunnel_backoff,
            follow_tunnel(engine.clone(), memory),
        );
        let state = tunnel.state();
        *slot = Some(tunnel);
        Ok(state)
    }

    /// Closes the tunnel, if open.
    pub async fn stop_tunnel(&self) {
        if let Some(t) = self.tunnel.lock().await.take() {
            t.stop().await;
        }
    }

    /// The tunnel's state changes (none while no tunnel was started).
    pub async fn watch_tunnel(&self) -> Option<tokio::sync::watch::Receiver<TunnelState>> {
        self.tunnel.lock().await.as_ref().map(Tunnel::watch)
    }

    /// Whether this face can run a tunnel at all.
    pub fn can_tunnel(&self) -> bool {
        self.options.tunnel_provider.is_some()
    }

    fn places(&self) -> Places {
        self.options
            .client_places
            .clone()
            .unwrap_or_else(Places::of_this_machine)
    }

    /// Where `client`'s config is: Claude Desktop's may be set for this face (tests, a
    /// portable setup); the others are at their usual places.
    fn client_config(&self, client: ClientId) -> Result<PathBuf, ControlError> {
        if let (ClientId::Claude, Some(path)) = (client, &self.options.claude_config) {
            return Ok(path.clone());
        }
        client
            .config_path(&self.places())
            .ok_or(ControlError::Connect(ConnectError::NoConfigDir {
                client: client.name(),
            }))
    }

    /// Every client, whether it is installed and connected.
    pub fn clients(&self) -> Vec<ClientStatus> {
        let places = self.places();
        crate::clients::ALL
            .iter()
            .map(|&client| {
                let mut status = client.status(&places);
                if let (ClientId::Claude, Some(path)) = (client, &self.options.claude_config) {
                    status.path = Some(path.clone());
                    status.installed = true;
                    match client.entry_in(path) {
                        Ok(entry) => status.connected = entry.is_some(),
                        Err(e) => status.problem = Some(e.to_string()),
                    }
                }
                status
            })
            .collect()
    }

    /// The entry `client` gets: this face's program, `stdio` (`--demo` for the demo).
    pub fn client_entry(
        &self,
        client: ClientId,
        demo: bool,
    ) -> Result<serde_json::Value, ControlError> {
        let program = self.stdio_program().ok_or_else(|| {
            ControlError::Invalid("cannot tell where this program is installed".into())
        })?;
        Ok(client.stdio_entry(&program, demo))
    }

    /// `coda-mcp doctor`'s checks, for the dashboard's *Check setup* (the port is this
    /// server's own, so it is not checked).
    pub async fn examine(&self, engine: &Engine) -> Vec<crate::doctor::Finding> {
        let config = engine.config();
        let options = crate::doctor::DoctorOptions {
            store: self.options.store.clone(),
            data_dir: crate::runtime::data_root(),
            coda_base_url: if config.demo {
                crate::coda::DEFAULT_BASE_URL.to_owned()
            } else {
                config.coda_base_url.clone()
            },
            port: None,
            places: Places::of_this_machine(),
        };
        crate::doctor::examine(&options).await
    }

    /// Whether an OS keychain answers here (a client's bridge reads the key from it).
    pub fn has_keychain(&self) -> bool {
        self.options.store.get(SecretName::ConnectionKey).is_ok()
    }

    /// Adds the Coda entry to `client`'s config.
    pub fn connect_client(
        &self,
        client: ClientId,
        demo: bool,
    ) -> Result<ConnectOutcome, ControlError> {
        let path = self.client_config(client)?;
        // Without a keychain the entry's bridge has no key: say what works instead.
        if !demo && !self.has_keychain() {
            return Err(ControlError::NoKeychain(client.keyless_refusal(&path)));
        }
        Ok(client.connect(&path, self.client_entry(client, demo)?, false)?)
    }

    /// Adds the Coda entry to `client`'s config with the connection key in its environment,
    /// in clear (the person asked: there is no keychain for the bridge to read it from).
    pub fn connect_client_with_key(
        &self,
        client: ClientId,
        key: &Secret,
    ) -> Result<ConnectOutcome, ControlError> {
        let path = self.client_config(client)?;
        let entry = client.with_key(self.client_entry(client, false)?, key.expose());
        Ok(client.connect(&path, entry, false)?)
    }

    /// Takes the Coda entry out of `client`'s config.
    pub fn disconnect_client(&self, client: ClientId) -> Result<ConnectOutcome, ControlError> {
        let path = self.client_config(client)?;
        Ok(client.disconnect(&path, false)?)
    }

    /// Adds the Coda entry to Claude Desktop's config.
    pub fn connect_claude(&self, demo: bool) -> Result<ConnectOutcome, ControlError> {
        self.connect_client(ClientId::Claude, demo)
    }

    /// The desktop app's settings.
    pub fn settings(&self) -> Result<Settings, ControlError> {
        let path = self
            .options
            .settings_path
            .as_ref()
            .ok_or(ControlError::NoSettings)?;
        Ok(Settings::load(path)?)
    }

    /// Saves the desktop app's settings (most take effect at the next server start).
    pub fn save_settings(&self, settings: &Settings) -> Result<(), ControlError> {
        let path = self
            .options
            .settings_path
            .as_ref()
            .ok_or(ControlError::NoSettings)?;
        settings.save(path)?;
        *self.ngrok_domain.lock().expect("domain") = settings.ngrok_domain.clone();
        *self.tunnel_choice.lock().expect("tunnel choice") =
            (settings.tunnel_provider, settings.openai_tunnel_id.clone());
        Ok(())
    }

    /// Offers other toolsets at once (sessions are told with `tools/list_changed`) and, where
    /// the face keeps settings, remembers them for the next start. Returns whether the offer
    /// changed.
    pub fn set_toolsets(
        &self,
        engine: &Engine,
        toolsets: crate::toolsets::Toolsets,
    ) -> Result<bool, ControlError> {
        if let Some(path) = &self.options.settings_path {
            let mut settings = Settings::load(path)?;
            if settings.toolsets != toolsets {
                settings.toolsets = toolsets.clone();
                settings.save(path)?;
            }
        }
        Ok(engine.set_toolsets(toolsets))
    }

    /// Asks the face to restart the server (false: this face cannot).
    pub fn request_restart(&self) -> bool {
        match &self.options.restart {
            Some(restart) => {
                restart();
                true
            }
            None => false,
        }
    }

    /// Whether the desktop app's settings are available here.
    pub fn has_settings(&self) -> bool {
        self.options.settings_path.is_some()
    }

    /// Closes the tunnel and lets go of the public face (at shutdown).
    pub async fn shutdown(&self) {
        self.stop_tunnel().await;
        self.set_public_face(None);
    }
}

/// Starts a tunnel to `app` whose states `engine` follows ([`follow_tunnel`]), remembering the
/// public URL in the engine's data directory.
pub fn supervise_tunnel(
    provider: Arc<dyn TunnelProvider>,
    app: Arc<dyn Endpoint>,
    engine: &Engine,
    backoff: Backoff,
) -> Tunnel {
    let memory = UrlMemory::in_dir(engine.config().data_dir.as_deref());
    Tunnel::start(
        provider,
        app,
        backoff,
        follow_tunnel(engine.clone(), memory),
    )
}

/// The one place a tunnel's states become the engine's public address (Host check, OpenAPI
/// `servers`; the tunnel's URL only while it is up) and bus events: each state, a log line
/// when it is more than a new latency, and `PublicUrlChanged` when a tunnel comes up on
/// another URL than the one `memory` last saw (the dashboard and tray then ask the person to
/// copy the schema into ChatGPT again).
pub fn follow_tunnel(engine: Engine, memory: UrlMemory) -> Observer {
    let last = std::sync::Mutex::new(None::<TunnelState>);
    Arc::new(move |next: &TunnelState| {
        let mut last = last.lock().expect("last tunnel state");
        // Only the measured round trip changed: no log line, no URL check.
        let new_latency = matches!(
            (last.as_ref(), next),
            (Some(TunnelState::Up { url: was, .. }), TunnelState::Up { url, .. }) if was == url
        );
        let public = engine.public();
        // An outbound tunnel's name is no address to give clients.
        public.set_tunnel_url(next.url().filter(|u| crate::tunnel::is_public_address(u)));
        public.set_tunnel_state(next.clone());
        let events = engine.events();
        let log = |level: LogLevel, message: String| {
            // In the process's own log too: a headless server has no dashboard to show it.
            match level {
                LogLevel::Info => tracing::info!(target: "coda_mcp::tunnel", "{message}"),
                LogLevel::Warn => tracing::warn!(target: "coda_mcp::tunnel", "{message}"),
                LogLevel::Error => tracing::error!(target: "coda_mcp::tunnel", "{message}"),
            }
            events.publish(EventKind::Log {
                level,
                message,
                session: None,
                tool: None,
            });
        };
        let address = next.url().filter(|u| crate::tunnel::is_public_address(u));
        if let (false, Some(url)) = (new_latency, address) {
            if let Some(previous) = memory.remember(url) {
                events.publish(EventKind::PublicUrlChanged {
                    previous: previous.clone(),
                    url: url.to_owned(),
                });
                log(
                    LogLevel::Warn,
                    crate::public::url_changed_advice(&previous, url),
                );
            }
        }
        events.publish(EventKind::Tunnel {
            state: next.clone(),
        });
        if !new_latency {
            let (level, message) = match next {
                TunnelState::Off => (LogLevel::Info, "tunnel off".to_owned()),
                TunnelState::Connecting { attempt } => (
                    LogLevel::Info,
                    format!("tunnel connecting (attempt {attempt})"),
                ),
                TunnelState::Up { url, .. } => (LogLevel::Info, format!("tunnel up at {url}")),
                TunnelState::Retrying {
                    error, retry_in_ms, ..
                } => (
                    LogLevel::Warn,
                    format!(
                        "tunnel down: {error}; retrying in {:.1} s",
                        *retry_in_ms as f64 / 1000.0
                    ),
                ),
                TunnelState::Failed { error } => {
                    (LogLevel::Error, format!("tunnel failed: {error}"))
                }
            };
            log(level, message);
        }
        *last = Some(next.clone());
    })
}
