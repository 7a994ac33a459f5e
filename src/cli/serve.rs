//! `coda-mcp serve` and `coda-mcp demo`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use coda_mcp::coda::{Secret, DEFAULT_BASE_URL};
use coda_mcp::demo::{self, DemoConfig};
use coda_mcp::secrets::{self, SecretStore, Source};
use coda_mcp::{http, Engine, EngineConfig};

/// Prints a line for the person; a closed stdout (the reader went away) is not an error.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Flags of `coda-mcp serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on. Keep the default unless you know why.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on (0 picks a free port).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Serve the built-in demo workspace instead of your Coda account (no token needed).
    #[arg(long)]
    demo: bool,
    /// Coda API root.
    #[arg(long, default_value = DEFAULT_BASE_URL, value_name = "URL")]
    coda_base_url: String,
    /// Offer only tools that read; refuse every write.
    #[arg(long)]
    read_only: bool,
    /// The public HTTPS URL this server is reached at (a tunnel or reverse proxy); its host
    /// is then accepted besides loopback.
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// Open an ngrok HTTPS tunnel so ChatGPT can reach this server (authtoken from
    /// NGROK_AUTHTOKEN or `coda-mcp ngrok set`). Requests through it always need the key.
    #[arg(long)]
    tunnel: bool,
    /// Your reserved ngrok domain (e.g. coda-me.ngrok.app): a fixed URL keeps ChatGPT's
    /// schema valid across restarts.
    #[arg(long, value_name = "DOMAIN", requires = "tunnel")]
    ngrok_domain: Option<String>,
    /// Serve without authentication — loopback only, for local tools that cannot send
    /// headers. Refused together with --public-url.
    #[arg(long)]
    no_auth: bool,
    /// Do not accept a caller's own Coda API token as the bearer (only the connection key).
    #[arg(long)]
    no_pass_through: bool,
    /// Seconds of inactivity after which an MCP session ends.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    session_idle_timeout: u64,
    /// Most concurrent MCP sessions.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    max_sessions: usize,
    /// Where the audit history is kept (default: the OS data directory; demo runs keep a
    /// separate history under `demo/`).
    #[arg(long, env = "CODA_MCP_DATA_DIR", value_name = "DIR")]
    data_dir: Option<std::path::PathBuf>,
    /// Days of tool-call history to keep.
    #[arg(long, default_value_t = 30, value_name = "DAYS")]
    audit_days: i64,
    /// Demo workspace without Coda's rate limits (for load tests and fuzzing).
    #[arg(long, hide = true)]
    demo_unlimited: bool,
    /// No client-side pacing (only against an upstream without rate limits: benchmarks).
    #[arg(long, hide = true)]
    no_pacing: bool,
    /// Requests per second allowed per client (session or address); 0 disables the limit.
    #[arg(long, default_value_t = 20.0, value_name = "N")]
    client_rate: f64,
}

fn public_host(url: &str) -> anyhow::Result<String> {
    let parsed =
        url::Url::parse(url).with_context(|| format!("--public-url {url:?} is not a URL"))?;
    if parsed.scheme() != "https" {
        bail!("--public-url must be an https:// URL (ChatGPT only connects over HTTPS)");
    }
    Ok(parsed
        .host_str()
        .context("--public-url has no host")?
        .to_ascii_lowercase())
}

/// Runs the server until SIGINT/SIGTERM.
pub async fn serve(args: ServeArgs, store: Arc<dyn SecretStore>) -> anyhow::Result<()> {
    let signals = Signals::listen()?;
    if args.no_auth && (args.public_url.is_some() || args.tunnel) {
        bail!("--no-auth cannot be combined with --public-url or --tunnel: a public server always needs authentication");
    }
    if args.no_auth && !args.host.is_loopback() {
        bail!("--no-auth is only allowed on a loopback address (127.0.0.1 or ::1)");
    }
    let public_hosts = args
        .public_url
        .as_deref()
        .map(public_host)
        .transpose()?
        .into_iter()
        .collect();
    let data_root = args.data_dir.clone().or_else(coda_mcp::runtime::data_root);
    let key_env = std::env::var("CODA_MCP_KEY").ok();
    let token_env = std::env::var("CODA_API_TOKEN").ok();
    let keychain = store.clone();
    let want_ngrok = args.tunnel;
    let (key, key_source, stored_token, ngrok_token) = tokio::task::spawn_blocking(move || {
        let (key, source) = secrets::connection_key(keychain.as_ref(), key_env);
        (
            key,
            source,
            secrets::coda_token(keychain.as_ref(), token_env),
            want_ngrok
                .then(|| crate::accounts::ngrok_authtoken(keychain.as_ref()))
                .flatten(),
        )
    })
    .await?;

    let mut config = EngineConfig {
        coda_base_url: args.coda_base_url,
        read_only: args.read_only,
        session_idle_timeout: Duration::from_secs(args.session_idle_timeout.max(1)),
        public_hosts,
        public_url: args.public_url.clone(),
        connection_key: key.clone(),
        no_auth: args.no_auth,
        pass_through: !args.no_pass_through,
        max_sessions: args.max_sessions.max(1),
        client_rate: (args.client_rate > 0.0)
            .then_some((args.client_rate, (args.client_rate * 3.0).max(10.0))),
        data_dir: data_root
            .clone()
            .map(|d| if args.demo { d.join("demo") } else { d }),
        audit_retention_days: args.audit_days.max(1),
        ..EngineConfig::default()
    };
    let dashboard_token = config.dashboard_token.clone();
    if args.no_pacing {
        config.rate_limits = coda_mcp::coda::RateLimits::CODA.scaled(100_000);
    }
    let mut demo_handle = None;
    if args.demo {
        let demo_config = if args.demo_unlimited {
            config.rate_limits = coda_mcp::coda::RateLimits::CODA.scaled(1000);
            DemoConfig {
                limits: None,
                ..DemoConfig::default()
            }
        } else {
            DemoConfig::default()
        };
        let handle = demo::start(demo_config, 0)
            .await
            .context("starting the demo workspace")?;
        config.coda_base_url = handle.base_url.clone();
        config.coda_token = Some(handle.token().clone());
        tracing::info!("serving the built-in demo workspace (no Coda account needed)");
        demo_handle = Some(handle);
    } else {
        match stored_token {
            Some((token, source)) => {
                tracing::info!(token = %token, source = source.label(), "using the Coda API token");
                config.coda_token = Some(token);
            }
            None => tracing::warn!("no Coda token: run `coda-mcp token set`, set CODA_API_TOKEN, or use --demo; tools will report the missing token"),
        }
    }
    if args.no_auth {
        tracing::warn!("AUTHENTICATION IS OFF (--no-auth): any program on this machine can use your Coda workspace through this server");
    }
    let engine = Engine::new(config).context("configuring the engine")?;
    let listener = tokio::net::TcpListener::bind((args.host, args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
    let server = http::start(engine, listener).await?;
    if !args.host.is_loopback() {
        tracing::warn!(host = %args.host, "listening beyond loopback: only requests naming localhost or --public-url are answered");
    }
    say!(
        "coda-mcp ready: MCP endpoint {} (health: http://{}/health)",
        server.mcp_url(),
        server.addr
    );
    say!(
        "dashboard: http://{}/ui/?token={}",
        server.addr,
        dashboard_token.expose()
    );
    if key_source == Source::Ephemeral && !args.no_auth {
        // No keychain to keep a key in: the person needs this one to connect.
        say!(
            "connection key for this run (no OS keychain available): {}",
            key.expose()
        );
    }
    // Tell `coda-mcp stdio` (Claude Desktop's entry) where to bridge to.
    let announcement = data_root.as_deref().and_then(|root| {
        let info = coda_mcp::runtime::RuntimeInfo {
            mcp_url: if server.addr.ip().is_unspecified() {
                format!("http://127.0.0.1:{}/mcp", server.addr.port())
            } else {
                server.mcp_url()
            },
            pid: std::process::id(),
            demo: args.demo,
            no_auth: args.no_auth,
        };
        coda_mcp::runtime::announce(root, &info)
            .map_err(|e| tracing::warn!(error = %e, "could not write server.json; `coda-mcp stdio` will not find this server"))
            .ok()
    });
    let tunnel = args.tunnel.then(|| {
        let provider = coda_mcp::tunnel::ngrok::NgrokProvider::new(
            ngrok_token.map(|(t, _)| t),
            args.ngrok_domain.clone(),
        );
        let tunnel = coda_mcp::tunnel::Tunnel::start(
            Arc::new(provider),
            server.public_router(),
            server.state.engine.clone(),
            coda_mcp::tunnel::Backoff::default(),
        );
        tokio::spawn(report_tunnel(tunnel.watch()));
        tunnel
    });
    signals.wait().await;
    if let Some(t) = tunnel {
        t.stop().await;
    }
    drop(announcement);
    tracing::info!("shutting down: closing streams, giving in-flight calls up to 5 s");
    server.shutdown().await;
    if let Some(d) = demo_handle {
        d.shutdown();
    }
    Ok(())
}

/// Tells the person, on stdout, each time the tunnel comes up (with the URL to give ChatGPT)
/// or fails for good.
async fn report_tunnel(mut state: tokio::sync::watch::Receiver<coda_mcp::tunnel::TunnelState>) {
    use coda_mcp::tunnel::TunnelState;
    loop {
        match &*state.borrow_and_update() {
            TunnelState::Up { url, .. } => {
                say!("tunnel: {url} (ChatGPT schema: {url}/openapi.json)")
            }
            TunnelState::Failed { error } => say!("tunnel failed: {error}"),
            _ => {}
        }
        if state.changed().await.is_err() {
            return;
        }
    }
}

/// `coda-mcp demo`: only the Coda-compatible demo API.
pub async fn demo_only(port: u16, unlimited: bool) -> anyhow::Result<()> {
    let signals = Signals::listen()?;
    let mut config = DemoConfig::default();
    if unlimited {
        config.limits = None;
    }
    if let Some(token) = std::env::var("CODA_API_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        config.token = Secret::new(token.trim());
    }
    let builtin = config.token.expose() == demo::DEMO_TOKEN;
    let handle = demo::start(config, port)
        .await
        .context("starting the demo workspace")?;
    if builtin {
        say!(
            "demo Coda API ready: {} (token: {})",
            handle.base_url,
            demo::DEMO_TOKEN
        );
    } else {
        say!(
            "demo Coda API ready: {} (token: the CODA_API_TOKEN you set)",
            handle.base_url
        );
    }
    signals.wait().await;
    handle.shutdown();
    Ok(())
}

/// SIGINT/SIGTERM, listened for from the start so a signal that arrives while the server is
/// still starting is not lost (or fatal).
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn listen() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
