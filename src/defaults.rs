//! The defaults every face starts from, in one place: the CLI's flags, `launch::LaunchOptions`,
//! `EngineConfig` and the desktop app's `Settings` all read them here, so a default changes
//! everywhere at once.

use std::time::Duration;

/// The loopback port the server listens on.
pub const PORT: u16 = 8080;

/// Seconds of inactivity after which an MCP session ends.
pub const SESSION_IDLE_TIMEOUT_S: u64 = 300;

/// [`SESSION_IDLE_TIMEOUT_S`] as a duration.
pub const SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(SESSION_IDLE_TIMEOUT_S);

/// Most concurrent MCP sessions (standard and direct-call together).
pub const MAX_SESSIONS: usize = 1_000;

/// Days of tool-call history kept.
pub const AUDIT_DAYS: u32 = 30;

/// Requests per second allowed per client (session or address).
pub const CLIENT_RATE: f64 = 20.0;

/// The burst a client may send at `rate` requests per second before it is paced: three
/// seconds' worth, at least ten.
pub fn client_burst(rate: f64) -> f64 {
    (rate * 3.0).max(10.0)
}
