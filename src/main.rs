//! `coda-mcp`: the headless face of Coda MCP Desktop.

use std::net::IpAddr;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use coda_mcp::coda::{Secret, DEFAULT_BASE_URL};
use coda_mcp::demo::{self, DemoConfig};
use coda_mcp::{http, Engine, EngineConfig};
use tracing_subscriber::EnvFilter;

/// Coda MCP Desktop, headless: serve your Coda workspace to ChatGPT, Claude and any MCP client.
#[derive(Parser)]
#[command(name = "coda-mcp", version, about, long_about = None)]
struct Cli {
    /// Log format on stderr (level via RUST_LOG, default info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Pretty,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the MCP server (Streamable HTTP at /mcp, health at /health).
    Serve(ServeArgs),
    /// List the MCP tools: name, read or write, and the Coda operations each calls.
    Tools {
        /// Print the full MCP tool definitions as JSON (schemas, annotations).
        #[arg(long)]
        json: bool,
        /// Only the tools offered in read-only mode.
        #[arg(long)]
        read_only: bool,
    },
    /// Run only the built-in demo workspace (a Coda-compatible API on loopback).
    Demo {
        /// Port for the demo API (0 picks a free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
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
    /// Seconds of inactivity after which an MCP session ends.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    session_idle_timeout: u64,
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Pretty => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = EngineConfig {
        coda_base_url: args.coda_base_url,
        read_only: args.read_only,
        session_idle_timeout: std::time::Duration::from_secs(args.session_idle_timeout.max(1)),
        ..EngineConfig::default()
    };
    let mut demo_handle = None;
    if args.demo {
        let handle = demo::start(DemoConfig::default(), 0)
            .await
            .context("starting the demo workspace")?;
        config.coda_base_url = handle.base_url.clone();
        config.coda_token = Some(handle.token().clone());
        tracing::info!("serving the built-in demo workspace (no Coda account needed)");
        demo_handle = Some(handle);
    } else {
        config.coda_token = std::env::var("CODA_API_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .map(|t| Secret::new(t.trim()));
        match &config.coda_token {
            Some(t) => tracing::info!(token = %t, "using the Coda token from CODA_API_TOKEN"),
            None => tracing::warn!("no Coda token: set CODA_API_TOKEN, or run with --demo; tools will report the missing token"),
        }
    }
    let engine = Engine::new(config).context("configuring the engine")?;
    let listener = tokio::net::TcpListener::bind((args.host, args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
    let server = http::start(engine, listener).await?;
    if !args.host.is_loopback() {
        tracing::warn!(host = %args.host, "listening beyond loopback: anyone who can reach this address can use the server");
    }
    println!(
        "coda-mcp ready: MCP endpoint {} (health: http://{}/health)",
        server.mcp_url(),
        server.addr
    );
    shutdown_signal().await;
    tracing::info!("shutting down: closing streams, giving in-flight calls up to 5 s");
    server.shutdown().await;
    if let Some(d) = demo_handle {
        d.shutdown();
    }
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Tools { json, read_only } => {
            let catalogue = coda_mcp::tools::Catalogue::new(read_only);
            let out = if json {
                let tools: Vec<serde_json::Value> =
                    catalogue.iter().map(|t| t.to_mcp_json()).collect();
                serde_json::to_string_pretty(&tools)? + "\n"
            } else {
                catalogue
                    .iter()
                    .map(|t| {
                        let kind = if t.is_read_only() { "read " } else { "write" };
                        format!("{:<40} {kind}  {}\n", t.name, t.operations.join(", "))
                    })
                    .collect()
            };
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes());
            Ok(())
        }
        Command::Demo { port } => {
            let handle = demo::start(DemoConfig::default(), port)
                .await
                .context("starting the demo workspace")?;
            println!(
                "demo Coda API ready: {} (token: {})",
                handle.base_url,
                handle.token().expose()
            );
            shutdown_signal().await;
            handle.shutdown();
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("coda-mcp: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coda-mcp: {e:#}");
            ExitCode::FAILURE
        }
    }
}
