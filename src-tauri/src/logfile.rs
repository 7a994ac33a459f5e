//! The app's log file, for support: what the app logs on stderr also goes to a file in the OS's
//! log folder (`~/.local/share/io.github.codamcp.desktop/logs` on Linux, `~/Library/Logs/…` on
//! macOS, `%LOCALAPPDATA%\…\logs` on Windows; `CODA_MCP_LOG_DIR` elsewhere), one file a day,
//! the last [`KEEP_DAYS`] kept. Secrets never reach it: they print themselves as hints in every
//! log line (`coda::Secret`), and tool arguments are redacted before any event is made.

use std::path::PathBuf;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The app's identifier (tauri.conf.json), which names its folders.
pub const IDENTIFIER: &str = "io.github.codamcp.desktop";

/// Days of log files kept.
pub const KEEP_DAYS: usize = 7;

/// Where the log files are.
pub fn log_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CODA_MCP_LOG_DIR").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    if cfg!(target_os = "macos") {
        dirs::home_dir().map(|h| h.join("Library").join("Logs").join(IDENTIFIER))
    } else {
        dirs::data_local_dir().map(|d| d.join(IDENTIFIER).join("logs"))
    }
}

/// Logs to stderr and, when the folder can be made, to the day's file. Keep the returned guard
/// for the life of the process: it writes out what is still buffered when dropped.
pub fn init(to_file: bool) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    };
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let file = to_file
        .then(log_dir)
        .flatten()
        .and_then(|dir| {
            coda_mcp::private::create_dir(&dir).ok()?;
            tracing_appender::rolling::RollingFileAppender::builder()
                .rotation(tracing_appender::rolling::Rotation::DAILY)
                .filename_prefix("coda-mcp-desktop")
                .filename_suffix("log")
                .max_log_files(KEEP_DAYS)
                .build(&dir)
                .ok()
        })
        .map(tracing_appender::non_blocking);
    let (writer, guard) = match file {
        Some((writer, guard)) => (Some(writer), Some(guard)),
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(filter())
        .with(stderr)
        .with(writer.map(|w| {
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(w)
        }))
        .with(coda_mcp::mcp_log::layer())
        .init();
    guard
}
