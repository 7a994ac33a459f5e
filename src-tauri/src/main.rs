//! The desktop app's entry point. `coda-mcp-desktop stdio …` is Claude Desktop's entry (the
//! same as `coda-mcp stdio`); anything else starts the tray app.

// No console window on Windows.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use clap::Parser;

/// `coda-mcp-desktop stdio` takes the same flags as `coda-mcp stdio`.
#[derive(Parser)]
#[command(name = "coda-mcp-desktop stdio")]
struct StdioCli {
    #[command(flatten)]
    args: coda_mcp::stdio::StdioArgs,
}

fn main() -> std::process::ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let mut argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("stdio") {
        argv.remove(1);
        let cli = StdioCli::parse_from(argv);
        let store = coda_mcp_desktop::core::secret_store();
        let runtime = tokio::runtime::Runtime::new().expect("async runtime");
        return match runtime.block_on(coda_mcp::stdio::run(cli.args, store)) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("coda-mcp-desktop stdio: {e:#}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    coda_mcp_desktop::run(coda_mcp_desktop::DesktopArgs::parse());
    std::process::ExitCode::SUCCESS
}
