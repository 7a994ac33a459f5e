//! DNS-rebinding defence: a request must name this machine (a loopback host, or a public host
//! the owner configured, such as the tunnel's) in `Host`, and any `Origin` must be one of those
//! too. Otherwise a web page on another site could reach the local server through DNS tricks.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Hosts this server answers to beyond loopback (e.g. the tunnel's public host, which
/// changes while the server runs).
#[derive(Clone, Default)]
pub struct HostPolicy {
    /// The public address whose host is accepted.
    pub public: crate::engine::PublicAddress,
}

impl HostPolicy {
    fn host_allowed(&self, host: &str) -> bool {
        let name = strip_port(host).to_ascii_lowercase();
        matches!(name.as_str(), "localhost" | "127.0.0.1" | "[::1]" | "::1")
            || self.public.allows_host(&name)
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        let Ok(url) = url::Url::parse(origin) else {
            return false;
        };
        if !matches!(url.scheme(), "http" | "https" | "tauri") {
            return false;
        }
        url.host_str().is_some_and(|h| self.host_allowed(h))
    }
}

/// Removes a `:port` suffix, keeping IPv6 brackets.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map(|i| &host[..=i]).unwrap_or(host);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

fn forbidden(what: &str, value: &str) -> Response {
    let shown: String = value.chars().take(100).collect();
    (StatusCode::FORBIDDEN, Json(json!({"error": "forbidden",
        "message": format!("{what} '{shown}' is not allowed: this server only answers to localhost or its configured public URL")})))
        .into_response()
}

/// The middleware.
pub async fn check(State(policy): State<HostPolicy>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    match host {
        Some(h) if policy.host_allowed(h) => {}
        Some(h) => return forbidden("Host", h),
        None => return forbidden("Host", ""),
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !policy.origin_allowed(origin) {
            return forbidden("Origin", origin);
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_configured_hosts_only() {
        let p = HostPolicy {
            public: crate::engine::PublicAddress::fixed(None, vec!["abc.ngrok.app".into()]),
        };
        for ok in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:1",
            "[::1]:9",
            "abc.ngrok.app",
            "ABC.ngrok.app:443",
        ] {
            assert!(p.host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.com",
            "evil.com:8080",
            "127.0.0.1.evil.com",
            "localhost.evil.com",
            "",
        ] {
            assert!(!p.host_allowed(bad), "{bad}");
        }
        assert!(p.origin_allowed("http://localhost:3000"));
        assert!(p.origin_allowed("https://abc.ngrok.app"));
        assert!(!p.origin_allowed("https://evil.com"));
        assert!(!p.origin_allowed("null"));
        assert!(!p.origin_allowed("file:///etc/passwd"));
        // A tunnel's host is accepted while it is up, and only then.
        assert!(!p.host_allowed("xyz.ngrok-free.app"));
        p.public.set_tunnel_url(Some("https://XYZ.ngrok-free.app"));
        assert!(p.host_allowed("xyz.ngrok-free.app"));
        p.public.set_tunnel_url(None);
        assert!(!p.host_allowed("xyz.ngrok-free.app"));
    }
}
