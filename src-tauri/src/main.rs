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

/// On Linux, GTK sets up OpenGL at start although the tray draws nothing and the dashboard is
/// a plain page: that alone loads the GL driver (with Mesa, all of LLVM) into the process.
/// Without it the app holds ~50 MB less with its window closed and ~90 MB less with it open,
/// and reaches the tray sooner (BENCHMARKS.md). A person's own `GDK_GL` setting wins.
fn prefer_software_drawing() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("GDK_GL").is_none() {
        // Called before GTK or any other thread starts, so nothing reads the environment
        // while it changes.
        std::env::set_var("GDK_GL", "disable");
    }
}

fn main() -> std::process::ExitCode {
    coda_mcp::coda::tls::ready();
    let mut argv: Vec<String> = std::env::args().collect();
    let stdio = argv.get(1).map(String::as_str) == Some("stdio");
    // The tray app keeps a log file for support; `stdio` logs on stderr only (its client,
    // Claude Desktop, keeps that).
    let _log = coda_mcp_desktop::logfile::init(!stdio);
    if stdio {
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
    prefer_software_drawing();
    coda_mcp_desktop::run(coda_mcp_desktop::DesktopArgs::parse());
    std::process::ExitCode::SUCCESS
}
