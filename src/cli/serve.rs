//! `coda-mcp serve` and `coda-mcp demo`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use coda_mcp::coda::{RateLimits, Secret, DEFAULT_BASE_URL};
use coda_mcp::defaults;
use coda_mcp::demo::{self, DemoConfig};
use coda_mcp::flags;
use coda_mcp::launch::{launch, LaunchOptions};
use coda_mcp::secrets::{SecretStore, Source};

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
    #[arg(long, default_value = "127.0.0.1", value_parser = flags::host)]
    host: IpAddr,
    /// Port to listen on (0 picks a free port).
    #[arg(long, default_value_t = defaults::PORT)]
    port: u16,
    /// Serve the built-in demo workspace instead of your Coda account (no token needed).
    #[arg(long)]
    demo: bool,
    /// Coda API root.
    #[arg(long, env = "CODA_API_BASE_URL", default_value = DEFAULT_BASE_URL, value_name = "URL", value_parser = flags::http_url)]
    coda_base_url: String,
    /// Offer only tools that read; refuse every write.
    #[arg(long)]
    read_only: bool,
    /// Which tools to offer, by toolset: core (the default: docs, pages, tables, rows, search
    /// and fetch), docs, pages, formulas, sharing, automations, admin, analytics, or all;
    /// comma-separated (`coda-mcp tools --stats` shows what each costs).
    #[arg(long, env = "CODA_MCP_TOOLSETS", default_value = "core", value_name = "SETS", value_parser = coda_mcp::toolsets::parse_flag)]
    toolsets: coda_mcp::tools::Toolsets,
    /// Do not offer MCP Apps views (tables, docs and pages shown inside ChatGPT, Claude and
    /// other hosts that support them): every client gets plain results.
    #[arg(long, env = "CODA_MCP_NO_VIEWS", value_parser = flags::switch)]
    no_views: bool,
    /// The public HTTPS URL this server is reached at (a tunnel or reverse proxy); its host
    /// is then accepted besides loopback.
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// Open a tunnel so ChatGPT can reach this server: `--tunnel` (or `--tunnel ngrok`) an
    /// ngrok HTTPS URL (authtoken from NGROK_AUTHTOKEN or `coda-mcp ngrok set`; requests
    /// through it always need the key or OAuth); `--tunnel openai` OpenAI's Secure MCP
    /// Tunnel, no public URL (API key from OPENAI_TUNNEL_API_KEY or `coda-mcp openai-tunnel
    /// set`, and --openai-tunnel-id).
    #[arg(long, value_name = "PROVIDER", num_args = 0..=1, default_missing_value = "ngrok")]
    tunnel: Option<coda_mcp::tunnel::TunnelKind>,
    /// The OpenAI tunnel's id (tunnel_…, from platform.openai.com/settings/organization/tunnels).
    #[arg(long, env = "OPENAI_TUNNEL_ID", value_name = "ID")]
    openai_tunnel_id: Option<String>,
    /// Your reserved ngrok domain (e.g. coda-me.ngrok.app; every ngrok account has one free
    /// static domain): one address across restarts, so ChatGPT and Claude connectors made
    /// with it keep working.
    #[arg(long, value_name = "DOMAIN", requires = "tunnel")]
    ngrok_domain: Option<String>,
    /// Serve without authentication — loopback only, for local tools that cannot send
    /// headers. Refused together with --public-url.
    #[arg(long)]
    no_auth: bool,
    /// Do not accept a caller's own Coda API token as the bearer (only the connection key).
    /// Always off with --demo (the demo's token is public).
    #[arg(long)]
    no_pass_through: bool,
    /// Seconds of inactivity after which an MCP session ends.
    #[arg(long, default_value_t = defaults::SESSION_IDLE_TIMEOUT_S, value_name = "SECONDS", value_parser = flags::at_least_one)]
    session_idle_timeout: u64,
    /// Most concurrent MCP sessions.
    #[arg(long, default_value_t = defaults::MAX_SESSIONS, value_name = "N", value_parser = flags::sessions)]
    max_sessions: usize,
    /// Where the audit history is kept (default: the OS data directory; demo runs keep a
    /// separate history under `demo/`).
    #[arg(long, env = "CODA_MCP_DATA_DIR", value_name = "DIR")]
    data_dir: Option<std::path::PathBuf>,
    /// Days of tool-call history to keep.
    #[arg(long, default_value_t = defaults::AUDIT_DAYS.into(), value_name = "DAYS", value_parser = flags::days)]
    audit_days: i64,
    /// Demo workspace without Coda's rate limits (for load tests and fuzzing).
    #[arg(long, hide = true)]
    demo_unlimited: bool,
    /// No client-side pacing (only against an upstream without rate limits: benchmarks).
    #[arg(long, hide = true)]
    no_pacing: bool,
    /// Requests per second allowed per client (session or address); 0 disables the limit.
    #[arg(long, default_value_t = defaults::CLIENT_RATE, value_name = "N", value_parser = flags::rate)]
    client_rate: f64,
    /// Pace Coda calls to these limits instead of Coda's published ones (per rate class,
    /// comma-separated class=count/seconds; classes: read, write, doc-content-write,
    /// list-docs, analytics). Lower them when the token is shared with other tools, e.g.
    /// --rate-limit write=5/6,read=50/6.
    #[arg(long, value_name = "CLASS=N/SECONDS,…", value_parser = RateLimits::parse_overrides)]
    rate_limit: Option<RateLimits>,
    /// Tests only: fetch OAuth client metadata documents of HOST from ADDR (which may be on
    /// loopback, which is otherwise refused).
    #[arg(long, hide = true, value_name = "HOST=ADDR")]
    oauth_test_resolve: Vec<String>,
    /// Tests only: trust this PEM root certificate for OAuth client metadata documents.
    #[arg(long, hide = true, value_name = "FILE")]
    oauth_test_ca: Option<std::path::PathBuf>,
}

/// Runs the server until SIGINT/SIGTERM.
pub async fn serve(args: ServeArgs, store: Arc<dyn SecretStore>) -> anyhow::Result<()> {
    let signals = Signals::listen()?;
    let mut cimd_trust = coda_mcp::oauth::cimd::Trust::default();
    for pin in &args.oauth_test_resolve {
        let (host, addr) = pin
            .split_once('=')
            .and_then(|(h, a)| Some((h.to_owned(), a.parse().ok()?)))
            .ok_or_else(|| {
                anyhow::anyhow!("--oauth-test-resolve wants HOST=IP:PORT, not {pin:?}")
            })?;
        cimd_trust.resolve.push((host, addr));
    }
    if let Some(ca) = &args.oauth_test_ca {
        cimd_trust
            .roots_pem
            .push(std::fs::read(ca).map_err(|e| anyhow::anyhow!("{}: {e}", ca.display()))?);
    }
    let options = LaunchOptions {
        host: args.host,
        port: args.port,
        demo: args.demo,
        demo_unlimited: args.demo_unlimited,
        coda_base_url: args.coda_base_url,
        read_only: args.read_only,
        toolsets: args.toolsets,
        views: !args.no_views,
        public_url: args.public_url,
        no_auth: args.no_auth,
        pass_through: !args.no_pass_through,
        session_idle_timeout: Duration::from_secs(args.session_idle_timeout),
        max_sessions: args.max_sessions,
        client_rate: Some(args.client_rate),
        data_root: args.data_dir.or_else(coda_mcp::runtime::data_root),
        audit_days: args.audit_days,
        no_pacing: args.no_pacing,
        rate_limits: args.rate_limit,
        tunnel: args.tunnel.is_some(),
        tunnel_kind: args.tunnel.unwrap_or_default(),
        openai_tunnel_id: args
            .openai_tunnel_id
            .or_else(|| std::env::var("CONTROL_PLANE_TUNNEL_ID").ok()),
        ngrok_domain: args.ngrok_domain,
        oauth_cimd_trust: cimd_trust,
        ..LaunchOptions::default()
    };
    let no_auth = options.no_auth;
    let reserved_domain = options.ngrok_domain.is_some();
    let launched = launch(options, store).await?;
    say!(
        "coda-mcp ready: MCP endpoint {} (health: http://{}/health)",
        launched.mcp_url(),
        launched.server.addr
    );
    say!("dashboard: {}", launched.dashboard_url.expose());
    if launched.key_source == Source::Ephemeral && !no_auth {
        // No keychain to keep a key in: the person needs this one to connect.
        say!(
            "connection key for this run (no OS keychain available): {}",
            launched.server.state.engine.connection_key().expose()
        );
    }
    if let Some(watch) = launched.controls.watch_tunnel().await {
        tokio::spawn(report_tunnel(watch, reserved_domain));
    }
    signals.wait().await;
    tracing::info!("shutting down: closing streams, giving in-flight calls up to 5 s");
    launched.shutdown().await;
    Ok(())
}

/// Tells the person, on stdout, each time the tunnel comes up (with the URL to give ChatGPT
/// and Claude) or fails for good; without a reserved domain, that the address will change.
async fn report_tunnel(
    mut state: tokio::sync::watch::Receiver<coda_mcp::tunnel::TunnelState>,
    reserved_domain: bool,
) {
    use coda_mcp::tunnel::TunnelState;
    loop {
        match &*state.borrow_and_update() {
            TunnelState::Up { url, .. } if !coda_mcp::tunnel::is_public_address(url) => {
                say!("tunnel: OpenAI's Secure MCP Tunnel is up ({url}) — in ChatGPT, chatgpt.com/plugins → + → Add custom MCP server → Tunnel, and pick this tunnel; keep this server running");
            }
            TunnelState::Up { url, .. } => {
                say!("tunnel: {url}/mcp — add it in ChatGPT (chatgpt.com/plugins → + → Add custom MCP server) or Claude (Customize → Connectors)");
                if !reserved_domain && url.starts_with("https://") {
                    say!("tunnel: this address changes on every start, and connectors made with it stop working then: reserve your free static domain in ngrok's dashboard and pass --ngrok-domain");
                }
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
    if let Some(token) = coda_mcp::secrets::env_secret("CODA_API_TOKEN") {
        config.token = Secret::new(token);
        // A token of one's own: the built-in read-only and doc-scoped ones (public
        // strings) are not accepted either.
        config.restricted_tokens.clear();
    }
    let builtin = config.token.expose() == demo::DEMO_TOKEN;
    let handle = demo::start(config, port).await.with_context(|| {
        format!("cannot start the demo workspace on 127.0.0.1:{port} (is another program using that port? pick another with --port, or 0 for a free one)")
    })?;
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
