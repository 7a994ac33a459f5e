//! Where the server is reached from outside, and what the tunnel that provides it is doing.
//! Plain data below the engine: the tunnel supervisor publishes [`TunnelState`], one place
//! (`control::follow_tunnel`) copies it into the engine's [`PublicAddress`] and onto the bus,
//! and the HTTP layer reads the address per request (Host check, OpenAPI `servers`).

use std::sync::Arc;

use serde::Serialize;

/// What a change of the public URL breaks and what to do, in the words the log, the tray and
/// the dashboard use: connectors are made with a URL (and ChatGPT shows a server's widgets
/// from an origin derived from it), so a new URL means making them again.
pub fn url_changed_advice(previous: &str, url: &str) -> String {
    format!(
        "the public URL changed from {previous} to {url}: ChatGPT plugins and Claude connectors made with the old URL stop working (and ChatGPT shows this server's views from a new origin) — create them again with {url}/mcp (GPT Actions: copy the schema again); a reserved ngrok domain keeps one address"
    )
}

/// What the tunnel is doing, as the tray and the dashboard show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TunnelState {
    /// Not running.
    Off,
    /// Opening (attempt 1 is the first).
    Connecting { attempt: u32 },
    /// Serving at `url`.
    Up {
        url: String,
        /// Round trip to the provider, when it reports one.
        latency_ms: Option<u64>,
    },
    /// Down; the next attempt starts in `retry_in_ms`.
    Retrying {
        error: String,
        attempt: u32,
        retry_in_ms: u64,
    },
    /// Down for a reason retrying cannot fix (no authtoken, refused credentials).
    Failed { error: String },
}

impl TunnelState {
    /// The public URL while up.
    pub fn url(&self) -> Option<&str> {
        match self {
            TunnelState::Up { url, .. } => Some(url),
            _ => None,
        }
    }
}

/// Where the server is reached from outside: `--public-url`, or the tunnel's URL while it
/// is up. It changes at run time (a tunnel reconnects with a new URL), so the Host check
/// and the OpenAPI `servers` read it per request.
#[derive(Clone, Default)]
pub struct PublicAddress {
    inner: Arc<std::sync::RwLock<PublicInner>>,
}

#[derive(Default)]
struct PublicInner {
    fixed_url: Option<String>,
    fixed_hosts: Vec<String>,
    tunnel_url: Option<String>,
    tunnel_host: Option<String>,
    tunnel_state: Option<TunnelState>,
}

impl PublicAddress {
    /// A fixed address (`--public-url` and the hosts it allows).
    pub fn fixed(url: Option<String>, hosts: Vec<String>) -> Self {
        let address = PublicAddress::default();
        {
            let mut inner = address.inner.write().expect("public address");
            inner.fixed_url = url.map(|u| u.trim_end_matches('/').to_owned());
            inner.fixed_hosts = hosts.iter().map(|h| h.to_ascii_lowercase()).collect();
        }
        address
    }

    /// The public URL: the tunnel's while it is up, else the fixed one.
    pub fn url(&self) -> Option<String> {
        let inner = self.inner.read().expect("public address");
        inner.tunnel_url.clone().or_else(|| inner.fixed_url.clone())
    }

    /// Whether `host` (lower-case, no port) is one of the public hosts.
    pub fn allows_host(&self, host: &str) -> bool {
        let inner = self.inner.read().expect("public address");
        inner.fixed_hosts.iter().any(|h| h == host) || inner.tunnel_host.as_deref() == Some(host)
    }

    /// Sets (or, with `None`, clears) the tunnel's URL.
    pub fn set_tunnel_url(&self, url: Option<&str>) {
        let mut inner = self.inner.write().expect("public address");
        inner.tunnel_host = url
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
        inner.tunnel_url = url.map(|u| u.trim_end_matches('/').to_owned());
    }

    /// The tunnel's latest state (`Off` when there is none), for the dashboard.
    pub fn tunnel_state(&self) -> TunnelState {
        let inner = self.inner.read().expect("public address");
        inner.tunnel_state.clone().unwrap_or(TunnelState::Off)
    }

    /// Records the tunnel's state (the supervisor does).
    pub fn set_tunnel_state(&self, state: TunnelState) {
        self.inner.write().expect("public address").tunnel_state = Some(state);
    }

    /// Whether any public address (fixed or tunnel) is configured right now.
    pub fn is_public(&self) -> bool {
        self.url().is_some()
    }
}
