//! `coda-mcp`: the headless face of Coda MCP Desktop. Thin: it parses flags, resolves secrets
//! and starts the engine.

mod accounts;
mod connect;
mod manifest;

mod oauth;
mod serve;

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use coda_mcp::secrets::{KeyringStore, NoStore, SecretStore};
use tracing_subscriber::EnvFilter;

/// Coda MCP Desktop, headless: serve your Coda workspace to ChatGPT, Claude and any MCP client.
///
/// Secrets live in the OS keychain; CODA_API_TOKEN and CODA_MCP_KEY override it, and
/// CODA_MCP_KEYCHAIN=off keeps the keychain out entirely (containers, CI).
#[derive(Parser)]
#[command(name = "coda-mcp", version, about)]
struct Cli {
    /// Log format on stderr (level via RUST_LOG, default info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Flavor {
    Actions,
    Mcp,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Pretty,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the MCP server (Streamable HTTP at /mcp, health at /health).
    Serve(Box<serve::ServeArgs>),
    /// Show or rotate the connection key clients must send (Authorization: Bearer cmk_…).
    Key {
        #[command(subcommand)]
        action: accounts::KeyAction,
    },
    /// Set, check or clear the Coda API token kept in the OS keychain.
    Token {
        #[command(subcommand)]
        action: accounts::TokenAction,
    },
    /// Set, check or clear the ngrok authtoken the tunnel (`serve --tunnel`) uses.
    Ngrok {
        #[command(subcommand)]
        action: accounts::TunnelSecretAction,
    },
    /// Set, check or clear the runtime API key of OpenAI's Secure MCP Tunnel
    /// (`serve --tunnel openai`).
    OpenaiTunnel {
        #[command(subcommand)]
        action: accounts::TunnelSecretAction,
    },
    /// List the MCP tools: name, read or write, and the Coda operations each calls.
    Tools {
        /// Print the full MCP tool definitions as JSON (schemas, annotations).
        #[arg(long)]
        json: bool,
        /// Only the tools offered in read-only mode.
        #[arg(long)]
        read_only: bool,
        /// Only these toolsets (default: all of them).
        #[arg(long, default_value = "all", value_name = "SETS")]
        toolsets: coda_mcp::tools::Toolsets,
        /// The size of `tools/list` per toolset (what a client pays on every conversation).
        #[arg(long, conflicts_with = "json")]
        stats: bool,
    },
    /// Print what packages say about this server: the Claude Desktop extension's manifest.json
    /// (`mcpb`) or the MCP Registry's server.json (`registry`), generated from the tools.
    Manifest(manifest::ManifestArgs),
    /// Print the OpenAPI schema for ChatGPT: GPT Action routes (default) or the ChatGPT direct-call flow's POST/GET /mcp.
    Openapi {
        /// Which schema: `actions` (GPT Actions) or `mcp` (the direct-call flow's POST/GET /mcp).
        #[arg(long, value_enum, default_value_t = Flavor::Actions)]
        flavor: Flavor,
        /// The public HTTPS URL ChatGPT reaches the server at (tunnel or proxy).
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
        /// The local port, used in `servers` when there is no public URL.
        #[arg(long, default_value_t = coda_mcp::defaults::PORT)]
        port: u16,
        /// The schema of a server run with `serve --read-only`: only tools that read.
        #[arg(long)]
        read_only: bool,
    },
    /// Check the whole setup — keychain, Coda token, port, running servers, client entries,
    /// tunnel, OAuth grants, the data directory's modes — and say what to fix (exit 1 if
    /// anything is broken).
    Doctor {
        /// The findings as JSON.
        #[arg(long)]
        json: bool,
        /// The port `serve` would use.
        #[arg(long, env = "CODA_MCP_PORT", default_value_t = coda_mcp::defaults::PORT)]
        port: u16,
        /// The Coda API root (`/whoami` is asked there).
        #[arg(long, env = "CODA_API_BASE_URL", default_value = coda_mcp::coda::DEFAULT_BASE_URL, value_name = "URL", value_parser = coda_mcp::flags::http_url)]
        coda_base_url: String,
        /// The data directory (default: the app's, or CODA_MCP_DATA_DIR).
        #[arg(long, env = "CODA_MCP_DATA_DIR", value_name = "DIR")]
        data_dir: Option<std::path::PathBuf>,
    },
    /// MCP over stdin/stdout (for Claude Desktop): bridges to the running app, or serves in
    /// this process when it is not running.
    Stdio(coda_mcp::stdio::StdioArgs),
    /// List or revoke the apps connected through OAuth (ChatGPT's and Claude's connectors).
    Oauth {
        #[command(subcommand)]
        action: oauth::OauthAction,
    },
    /// Connect an MCP client (Claude Desktop, Claude Code, Cursor, VS Code, Windsurf, Codex,
    /// Gemini CLI): writes an entry that runs `coda-mcp stdio` into the client's own config.
    Connect(connect::ConnectArgs),
    /// Run only the built-in demo workspace (a Coda-compatible API on loopback).
    Demo {
        /// Port for the demo API (0 picks a free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// No rate limits (for benchmarks).
        #[arg(long, hide = true)]
        unlimited: bool,
    },
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // rmcp's own INFO records repeat each client's whole initialize request: noise here.
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,rmcp=warn"));
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    // MCP sessions that ask (`logging/setLevel`) get this crate's records too.
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(coda_mcp::mcp_log::layer());
    match format {
        LogFormat::Pretty => registry.with(stderr).init(),
        LogFormat::Json => registry.with(stderr.json()).init(),
    }
}

/// The secret store: the OS keychain, unless CODA_MCP_KEYCHAIN=off.
fn secret_store() -> Arc<dyn SecretStore> {
    match std::env::var("CODA_MCP_KEYCHAIN").as_deref() {
        Ok("off") | Ok("0") | Ok("false") => Arc::new(NoStore),
        _ => Arc::new(KeyringStore::default()),
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not worth a panic.
fn print_out(text: &str) {
    let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
}

fn list_tools(
    json: bool,
    read_only: bool,
    toolsets: coda_mcp::tools::Toolsets,
    stats: bool,
) -> anyhow::Result<()> {
    use coda_mcp::tools::Catalogue;
    if stats {
        print_out(&tool_stats(read_only));
        return Ok(());
    }
    let catalogue = Catalogue::select(read_only, &toolsets);
    let out = if json {
        let tools: Vec<serde_json::Value> = catalogue.iter().map(|t| t.to_mcp_json()).collect();
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
    print_out(&out);
    Ok(())
}

/// `tools --stats`: each toolset's tools and the size of its `tools/list`, the default and all.
fn tool_stats(read_only: bool) -> String {
    use coda_mcp::tools::{Catalogue, Toolsets};
    use coda_mcp::toolsets;
    let mut out = format!(
        "{:<12} {:>5} {:>9} {:>8}  {}\n",
        "TOOLSET", "TOOLS", "BYTES", "~TOKENS", "HOLDS"
    );
    let row = |name: &str, sets: &Toolsets, about: &str| {
        let c = Catalogue::select(read_only, sets);
        let bytes = c.list_size();
        format!(
            "{name:<12} {:>5} {bytes:>9} {:>8}  {about}\n",
            c.iter().count(),
            bytes / 4
        )
    };
    for set in toolsets::ALL {
        let sets: Toolsets = set.name().parse().expect("a toolset name");
        out.push_str(&row(set.name(), &sets, set.about()));
    }
    out.push_str(&row("all", &Toolsets::all(), "every tool"));
    out.push_str("(a tools/list of several toolsets is about the sum of theirs; --toolsets core is the default of serve and stdio)\n");
    out
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let store = secret_store();
    match cli.command {
        Command::Serve(args) => serve::serve(*args, store).await,
        Command::Key { action } => accounts::key(action, store).await,
        Command::Token { action } => accounts::token(action, store).await,
        Command::Ngrok { action } => accounts::tunnel_secret(&accounts::NGROK, action, store).await,
        Command::OpenaiTunnel { action } => {
            accounts::tunnel_secret(&accounts::OPENAI_TUNNEL, action, store).await
        }
        Command::Stdio(args) => coda_mcp::stdio::run(args, store).await,
        Command::Oauth { action } => oauth::run(action),
        Command::Doctor {
            json,
            port,
            coda_base_url,
            data_dir,
        } => {
            let options = coda_mcp::doctor::DoctorOptions {
                store,
                data_dir: data_dir.or_else(coda_mcp::runtime::data_root),
                coda_base_url,
                port: Some(port),
                places: coda_mcp::clients::Places::of_this_machine(),
            };
            let findings = coda_mcp::doctor::examine(&options).await;
            print_out(&doctor_report(&findings, json));
            let broken = findings
                .iter()
                .filter(|f| f.verdict == coda_mcp::doctor::Verdict::Problem)
                .count();
            if broken > 0 {
                anyhow::bail!(
                    "{broken} problem{} found",
                    if broken == 1 { "" } else { "s" }
                );
            }
            Ok(())
        }
        Command::Connect(args) => connect::run(args, store),
        Command::Manifest(args) => manifest::run(args),
        Command::Tools {
            json,
            read_only,
            toolsets,
            stats,
        } => list_tools(json, read_only, toolsets, stats),
        Command::Demo { port, unlimited } => serve::demo_only(port, unlimited).await,
        Command::Openapi {
            flavor,
            public_url,
            port,
            read_only,
        } => print_openapi(flavor, public_url, port, read_only),
    }
}

/// The doctor's findings for a person (a mark, what was checked and found, what to do) or
/// as JSON.
fn doctor_report(findings: &[coda_mcp::doctor::Finding], json: bool) -> String {
    use coda_mcp::doctor::Verdict;
    if json {
        return format!(
            "{}\n",
            serde_json::to_string_pretty(findings).expect("findings are JSON")
        );
    }
    let mut out = String::new();
    for f in findings {
        let mark = match f.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Note => "note",
            Verdict::Problem => "FIX ",
        };
        out.push_str(&format!("{mark} {}: {}\n", f.check, f.detail));
        if let Some(fix) = &f.fix {
            out.push_str(&format!("     → {fix}\n"));
        }
    }
    out
}

/// `coda-mcp openapi`: the schema a server with these flags serves. ChatGPT only calls HTTPS
/// servers, so a public URL that is not `https://` is refused rather than printed into a
/// schema that cannot work.
fn print_openapi(
    flavor: Flavor,
    public_url: Option<String>,
    port: u16,
    read_only: bool,
) -> anyhow::Result<()> {
    let server = match public_url {
        Some(u) => {
            let parsed = url::Url::parse(&u)
                .map_err(|_| anyhow::anyhow!("--public-url {u:?} is not a URL"))?;
            if parsed.scheme() != "https" || parsed.host_str().is_none() {
                anyhow::bail!(
                    "--public-url must be an https:// URL with a host (ChatGPT only connects over HTTPS), not {u:?}"
                );
            }
            u.trim_end_matches('/').to_owned()
        }
        None => {
            // The schema is still printed (for local tries), but ChatGPT cannot reach it.
            eprintln!("warning: no --public-url: this schema points at http://127.0.0.1:{port}, which ChatGPT cannot reach; give the public HTTPS URL (the tunnel's, shown by `coda-mcp serve --tunnel`) with --public-url https://…");
            format!("http://127.0.0.1:{port}")
        }
    };
    let doc = match flavor {
        Flavor::Actions => {
            coda_mcp::openapi::actions(&coda_mcp::tools::Catalogue::new(read_only), &server)
        }
        Flavor::Mcp => coda_mcp::openapi::direct_call_schema(&server),
    };
    print_out(&(serde_json::to_string_pretty(&doc)? + "\n"));
    Ok(())
}

fn main() -> ExitCode {
    coda_mcp::coda::tls::ready();
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
