//! What the loopback face offers beyond MCP and the dashboard's own views: the Setup actions
//! (routes under `/api/setup/`, mounted behind the dashboard token) and what the dashboard
//! says about them. The control layer above provides it (`control::admin`); this layer only
//! mounts it, so HTTP never depends on what the actions do.

use axum::Router;

/// The Setup actions of a face, and whether it can run a tunnel or keep settings.
#[derive(Clone, Default)]
pub struct Admin {
    /// Routes under `/api/setup/` (their state applied); none for a server without controls.
    pub routes: Option<Router>,
    /// Routes under `/bridge/` for this person's other processes (`coda-mcp key rotate`),
    /// each checking the connection key itself; loopback only, never through the tunnel.
    pub bridge: Option<Router>,
    /// Whether this face can run a tunnel.
    pub can_tunnel: bool,
    /// Whether this face keeps the desktop app's settings.
    pub has_settings: bool,
}
