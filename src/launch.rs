//! Starting and stopping the whole server the same way from every face (`coda-mcp serve`, the
//! desktop app): secrets from the environment or the keychain, the demo workspace when asked,
//! the engine, the HTTP listener, the `server.json` announcement and, optionally, the tunnel.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::coda::{RateLimits, Secret, DEFAULT_BASE_URL};
use crate::control::{ControlOptions, Controls, ProviderFactory};
use crate::demo::{DemoConfig, DemoHandle};
use crate::http::RunningServer;
use crate::runtime::{Announcement, RuntimeInfo};
use crate::secrets::{self, SecretStore, Source};
use crate::tunnel::TunnelProvider;
use crate::{Engine, EngineConfig};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The options contradict each other or are malformed.
    #[error("{0}")]
    Invalid(String),
    /// The demo workspace could not start.
    #[error("starting the demo workspace: {0}")]
    Demo(std::io::Error),
    /// The engine refused its configuration.
    #[error("configuring the engine: {0}")]
    Engine(#[from] crate::coda::CodaError),
    /// The port is taken or not allowed.
    #[error("cannot listen on {0}: {1}{hint}", hint = listen_hint(.1))]
    Listen(String, std::io::Error),
}

/// What to do about a port that cannot be listened on.
fn listen_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => " — another program holds that port (perhaps another coda-mcp or the desktop app: `coda-mcp doctor` says which servers run); pick another with --port N, or --port 0 for any free one",
        std::io::ErrorKind::PermissionDenied => " — ports below 1024 need privileges: pick one above 1024 with --port N",
        _ => "",
    }
}

/// Everything a face decides about a server run.
#[derive(Clone)]
pub struct LaunchOptions {
    /// Address to listen on.
    pub host: IpAddr,
    /// Port (0 picks a free one).
    pub port: u16,
    /// Serve the demo workspace.
    pub demo: bool,
    /// Demo workspace without Coda's rate limits (load tests).
    pub demo_unlimited: bool,
    /// Coda API root.
    pub coda_base_url: String,
    /// Only tools that read.
    pub read_only: bool,
    /// The toolsets offered.
    pub toolsets: crate::tools::Toolsets,
    /// MCP Apps views for the clients that show them.
    pub views: bool,
    /// A fixed public URL (reverse proxy).
    pub public_url: Option<String>,
    /// No authentication on loopback.
    pub no_auth: bool,
    /// Accept callers' own Coda tokens (never while serving the demo workspace, whose token is
    /// public).
    pub pass_through: bool,
    /// … through the public face too (the desktop app's setting; on for `coda-mcp serve`,
    /// whose direct-call flow brings the caller's token through the public URL).
    pub pass_through_public: bool,
    /// Idle timeout of MCP sessions.
    pub session_idle_timeout: Duration,
    /// Most concurrent sessions.
    pub max_sessions: usize,
    /// Requests per second per client (`None`: unlimited).
    pub client_rate: Option<f64>,
    /// The data directory (audit history, server.json); `None`: nothing kept on disk.
    pub data_root: Option<PathBuf>,
    /// Days of history kept.
    pub audit_days: i64,
    /// No client-side pacing (benchmarks against an unlimited upstream).
    pub no_pacing: bool,
    /// Client-side pacing limits (`--rate-limit`); `None`: Coda's published limits.
    pub rate_limits: Option<RateLimits>,
    /// Open the ngrok tunnel at start.
    pub tunnel: bool,
    /// The reserved ngrok domain.
    pub ngrok_domain: Option<String>,
    /// Which tunnel `tunnel` opens.
    pub tunnel_kind: crate::tunnel::TunnelKind,
    /// The OpenAI tunnel's id.
    pub openai_tunnel_id: Option<String>,
    /// The desktop app's settings file.
    pub settings_path: Option<PathBuf>,
    /// Claude Desktop's config (default: the OS's usual place; `CODA_MCP_CLAUDE_CONFIG`).
    pub claude_config: Option<PathBuf>,
    /// The program Claude Desktop runs for `stdio`.
    pub stdio_program: Option<PathBuf>,
    /// The dashboard token (a face that restarts the server keeps its window's token).
    pub dashboard_token: Option<Secret>,
    /// What restarts the server (the desktop app's).
    pub restart: Option<Arc<dyn Fn() + Send + Sync>>,
    /// What the OAuth metadata-document fetcher may trust beyond the public internet (tests).
    pub oauth_cimd_trust: crate::oauth::cimd::Trust,
}

impl Default for LaunchOptions {
    fn default() -> Self {
        LaunchOptions {
            host: IpAddr::from([127, 0, 0, 1]),
            port: crate::defaults::PORT,
            demo: false,
            demo_unlimited: false,
            coda_base_url: DEFAULT_BASE_URL.to_owned(),
            read_only: false,
            toolsets: crate::tools::Toolsets::default_for_clients(),
            views: true,
            public_url: None,
            no_auth: false,
            pass_through: true,
            pass_through_public: true,
            session_idle_timeout: crate::defaults::SESSION_IDLE_TIMEOUT,
            max_sessions: crate::defaults::MAX_SESSIONS,
            client_rate: Some(crate::defaults::CLIENT_RATE),
            data_root: crate::runtime::data_root(),
            audit_days: i64::from(crate::defaults::AUDIT_DAYS),
            no_pacing: false,
            rate_limits: None,
            tunnel: false,
            ngrok_domain: None,
            tunnel_kind: Default::default(),
            openai_tunnel_id: None,
            settings_path: None,
            claude_config: std::env::var_os("CODA_MCP_CLAUDE_CONFIG").map(PathBuf::from),
            stdio_program: None,
            dashboard_token: None,
            restart: None,
            oauth_cimd_trust: Default::default(),
        }
    }
}

/// A running server and what belongs to it.
pub struct Launched {
    /// The HTTP server.
    pub server: RunningServer,
    /// What the person can change while it runs (tunnel, keys, Claude, settings).
    pub controls: Arc<Controls>,
    /// Where the connection key came from (`Ephemeral`: print it, nothing keeps it).
    pub key_source: Source,
    /// The dashboard URL with its token, for the person (never logged).
    pub dashboard_url: Secret,
    /// Whether a Coda token was found (or the demo is served).
    pub has_coda_token: bool,
    demo: Option<DemoHandle>,
    announcement: Option<Announcement>,
}

impl Launched {
    /// The MCP endpoint.
    pub fn mcp_url(&self) -> String {
        self.server.mcp_url()
    }

    /// Stops the tunnel, closes streams, gives in-flight calls their grace period.
    pub async fn shutdown(self) {
        drop(self.announcement);
        // The tunnel first: nothing new arrives from outside while the server drains.
        self.controls.shutdown().await;
        self.server.shutdown().await;
        if let Some(d) = self.demo {
            d.shutdown();
        }
    }
}

fn public_host(url: &str) -> Result<String, LaunchError> {
    let parsed = url::Url::parse(url)
        .map_err(|_| LaunchError::Invalid(format!("--public-url {url:?} is not a URL")))?;
    if parsed.scheme() != "https" {
        return Err(LaunchError::Invalid(
            "--public-url must be an https:// URL (ChatGPT only connects over HTTPS)".into(),
        ));
    }
    Ok(parsed
        .host_str()
        .ok_or_else(|| LaunchError::Invalid("--public-url has no host".into()))?
        .to_ascii_lowercase())
}

/// Where the engine's Coda calls go, resolved before anything is served: the demo workspace
/// started in this process, or Coda with the token from the environment or the keychain (or
/// none: tools then say how to set one). `launch` and `coda-mcp stdio`'s in-process mode both
/// start from it.
pub struct Upstream {
    /// Coda's API root (the demo's loopback URL when it is served).
    pub base_url: String,
    /// The token sent to it.
    pub token: Option<Secret>,
    /// Where the token came from: `None` for the demo or when there is none.
    pub token_source: Option<Source>,
    /// The demo workspace, when it is served (stop it with [`DemoHandle::shutdown`]).
    pub demo: Option<DemoHandle>,
}

impl Upstream {
    /// The demo workspace (`demo` says how it behaves), or Coda at `base_url` with the token
    /// from `CODA_API_TOKEN` or the keychain.
    pub async fn resolve(
        demo: Option<DemoConfig>,
        base_url: &str,
        store: Arc<dyn SecretStore>,
    ) -> Result<Upstream, LaunchError> {
        if let Some(config) = demo {
            let handle = crate::demo::start(config, 0)
                .await
                .map_err(LaunchError::Demo)?;
            return Ok(Upstream {
                base_url: handle.base_url.clone(),
                token: Some(handle.token().clone()),
                token_source: None,
                demo: Some(handle),
            });
        }
        let env = crate::secrets::env_secret("CODA_API_TOKEN");
        let found = tokio::task::spawn_blocking(move || secrets::coda_token(store.as_ref(), env))
            .await
            .map_err(|e| LaunchError::Invalid(e.to_string()))?;
        let (token, token_source) = match found {
            Some((token, source)) => (Some(token), Some(source)),
            None => (None, None),
        };
        Ok(Upstream {
            base_url: base_url.to_owned(),
            token,
            token_source,
            demo: None,
        })
    }

    /// Points `config` at this upstream.
    pub fn configure(&self, config: &mut EngineConfig) {
        config.coda_base_url = self.base_url.clone();
        config.coda_token = self.token.clone();
    }
}

/// The real tunnel provider: ngrok.
pub fn ngrok_provider() -> ProviderFactory {
    Arc::new(|authtoken, domain| {
        Arc::new(crate::tunnel::ngrok::NgrokProvider::new(authtoken, domain))
            as Arc<dyn TunnelProvider>
    })
}

/// The other real tunnel provider: OpenAI's Secure MCP Tunnel (API key, tunnel id;
/// `CODA_MCP_OPENAI_TUNNEL_BASE` points it at another control plane, e.g. a stand-in).
pub fn openai_provider() -> ProviderFactory {
    Arc::new(|key, tunnel_id| {
        let base = std::env::var("CODA_MCP_OPENAI_TUNNEL_BASE")
            .unwrap_or_else(|_| crate::tunnel::openai::DEFAULT_BASE.to_owned());
        match crate::tunnel::openai::OpenAiTunnelProvider::with_base(
            key.clone(),
            tunnel_id.clone(),
            &base,
        ) {
            Ok(p) => Arc::new(p) as Arc<dyn TunnelProvider>,
            Err(e) => {
                tracing::error!(error = %e, "CODA_MCP_OPENAI_TUNNEL_BASE is not a URL; using OpenAI's");
                Arc::new(crate::tunnel::openai::OpenAiTunnelProvider::new(
                    key, tunnel_id,
                ))
            }
        }
    })
}

/// Starts a server with `options`, reading secrets from `store`.
pub async fn launch(
    options: LaunchOptions,
    store: Arc<dyn SecretStore>,
) -> Result<Launched, LaunchError> {
    if options.no_auth && (options.public_url.is_some() || options.tunnel) {
        return Err(LaunchError::Invalid("--no-auth cannot be combined with --public-url or --tunnel: a public server always needs authentication".into()));
    }
    if options.no_auth && !options.host.is_loopback() {
        return Err(LaunchError::Invalid(
            "--no-auth is only allowed on a loopback address (127.0.0.1 or ::1)".into(),
        ));
    }
    let public_hosts = options
        .public_url
        .as_deref()
        .map(public_host)
        .transpose()?
        .into_iter()
        .collect();
    let key_env = std::env::var("CODA_MCP_KEY").ok();
    // A weak CODA_MCP_KEY is refused; an odd-looking one is warned about where a person sees it.
    if let Some(v) = key_env.as_deref().filter(|v| !v.trim().is_empty()) {
        let warning = secrets::check_env_key(v).map_err(|e| LaunchError::Invalid(e.to_string()))?;
        if let Some(w) = warning {
            eprintln!("warning: {w}");
        }
    }
    let keychain = store.clone();
    let (key, key_source) =
        tokio::task::spawn_blocking(move || secrets::connection_key(keychain.as_ref(), key_env))
            .await
            .map_err(|e| LaunchError::Invalid(e.to_string()))?;

    let mut config = EngineConfig {
        coda_base_url: options.coda_base_url.clone(),
        read_only: options.read_only,
        toolsets: options.toolsets.clone(),
        views: options.views,
        session_idle_timeout: options.session_idle_timeout.max(Duration::from_secs(1)),
        public_hosts,
        public_url: options.public_url.clone(),
        connection_key: key,
        key_source,
        demo: options.demo,
        no_auth: options.no_auth,
        // The demo's token is printed in the README: accepting it would let anyone in.
        pass_through: options.pass_through && !options.demo,
        pass_through_public: options.pass_through_public,
        max_sessions: options.max_sessions.max(1),
        client_rate: options
            .client_rate
            .filter(|r| *r > 0.0)
            .map(|r| (r, crate::defaults::client_burst(r))),
        data_dir: options
            .data_root
            .clone()
            .map(|d| if options.demo { d.join("demo") } else { d }),
        audit_retention_days: options.audit_days.max(1),
        oauth_cimd_trust: options.oauth_cimd_trust.clone(),
        ..EngineConfig::default()
    };
    // The data directory (history, server.json, the public URL) is the person's only.
    if let Some(root) = &options.data_root {
        if let Err(e) = crate::private::create_dir(root) {
            tracing::warn!(dir = %root.display(), error = %e, "cannot create the data directory");
        }
    }
    if let Some(token) = &options.dashboard_token {
        config.dashboard_token = token.clone();
    }
    if let Some(limits) = options.rate_limits {
        config.rate_limits = limits;
    }
    if options.no_pacing {
        config.rate_limits = RateLimits::CODA.scaled(100_000);
    }
    let demo_config = options.demo.then(|| {
        if options.demo_unlimited {
            config.rate_limits = RateLimits::CODA.scaled(1000);
            DemoConfig {
                limits: None,
                ..DemoConfig::default()
            }
        } else {
            DemoConfig::default()
        }
    });
    let upstream = Upstream::resolve(demo_config, &options.coda_base_url, store.clone()).await?;
    upstream.configure(&mut config);
    match (&upstream.demo, &upstream.token, upstream.token_source) {
        (Some(_), _, _) => {
            tracing::info!("serving the built-in demo workspace (no Coda account needed)")
        }
        (None, Some(token), Some(source)) => {
            tracing::info!(token = %token, source = source.label(), "using the Coda API token")
        }
        _ => tracing::warn!("no Coda token: run `coda-mcp token set`, set CODA_API_TOKEN, or use the demo workspace; tools will report the missing token"),
    }
    let demo = upstream.demo;
    if options.no_auth {
        // Straight to stderr too, whatever RUST_LOG says: this must never go unnoticed.
        const NO_AUTH: &str = "AUTHENTICATION IS OFF (--no-auth): any program on this machine can use your Coda workspace through this server";
        eprintln!("WARNING: {NO_AUTH}");
        tracing::warn!("{NO_AUTH}");
    }
    let has_coda_token = config.coda_token.is_some();
    let dashboard_token = config.dashboard_token.clone();
    let engine = Engine::new(config)?;
    let listener = tokio::net::TcpListener::bind((options.host, options.port))
        .await
        .map_err(|e| LaunchError::Listen(format!("{}:{}", options.host, options.port), e))?;
    let controls = ControlOptions {
        store,
        tunnel_provider: Some(ngrok_provider()),
        ngrok_domain: options.ngrok_domain.clone(),
        openai_provider: Some(openai_provider()),
        tunnel_kind: options.tunnel_kind,
        openai_tunnel_id: options.openai_tunnel_id.clone(),
        settings_path: options.settings_path.clone(),
        claude_config: options.claude_config.clone(),
        client_places: None,
        stdio_program: options.stdio_program.clone(),
        tunnel_backoff: Default::default(),
        restart: options.restart.clone(),
    };
    let (server, controls) = crate::control::start(engine, listener, controls)
        .await
        .map_err(|e| LaunchError::Listen("the listener".into(), e))?;
    if !options.host.is_loopback() {
        tracing::warn!(host = %options.host, "listening beyond loopback: only requests naming localhost or the public URL are answered");
    }
    let loopback = if server.addr.ip().is_unspecified() {
        format!("127.0.0.1:{}", server.addr.port())
    } else {
        server.addr.to_string()
    };
    let announcement = options.data_root.as_deref().and_then(|root| {
        let info = RuntimeInfo {
            mcp_url: format!("http://{loopback}/mcp"),
            pid: std::process::id(),
            demo: options.demo,
            no_auth: options.no_auth,
            started_ms: crate::runtime::now_ms(),
        };
        crate::runtime::announce(root, &info)
            .map_err(|e| tracing::warn!(error = %e, "could not announce this server in the data directory; `coda-mcp stdio` will not find it"))
            .ok()
    });
    if options.tunnel {
        let _ = controls.start_tunnel(&server.state.engine).await;
    }
    Ok(Launched {
        dashboard_url: Secret::new(format!(
            "http://{loopback}/ui/?token={}",
            dashboard_token.expose()
        )),
        server,
        controls,
        key_source,
        has_coda_token,
        demo,
        announcement,
    })
}
