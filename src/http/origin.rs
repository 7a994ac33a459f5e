//! DNS-rebinding defence: a request must name this machine (a loopback host, or a public host
//! the owner configured, such as the tunnel's) in `Host`, and any `Origin` must be one of those
//! too. Otherwise a web page on another site could reach the local server through DNS tricks.
//!
//! It also decides which face a request came through by its `Host`, not only by its listener:
//! a reverse proxy or tunnel that forwards the public host to the loopback listener must not
//! make the request local. A request naming the public host is marked [`PublicHost`] (so it
//! always authenticates) and never reaches the dashboard or its API; so is one that carries any
//! header a proxy adds (`Forwarded`, `X-Forwarded-*`, `X-Real-IP`, `Via`), in case the proxy
//! rewrote `Host` to loopback.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::answer::error;

/// Hosts this server answers to beyond loopback (e.g. the tunnel's public host, which
/// changes while the server runs).
#[derive(Clone, Default)]
pub struct HostPolicy {
    /// The public address whose host is accepted.
    pub public: crate::public::PublicAddress,
}

/// Marks a request whose `Host` is the configured public host (`--public-url`, the tunnel):
/// it came through the public face whatever listener it reached, so it is always
/// authenticated and never served the dashboard or its API.
#[derive(Clone, Copy, Debug)]
pub struct PublicHost;

impl HostPolicy {
    fn host_allowed(&self, host: &str) -> bool {
        is_loopback_name(host) || self.is_public_host(host)
    }

    /// Whether `host` (with or without a port) is the public host rather than a loopback name.
    fn is_public_host(&self, host: &str) -> bool {
        let name = strip_port(host).to_ascii_lowercase();
        !is_loopback_name(&name) && self.public.allows_host(&name)
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

fn is_loopback_name(host: &str) -> bool {
    let name = strip_port(host).to_ascii_lowercase();
    matches!(name.as_str(), "localhost" | "127.0.0.1" | "[::1]" | "::1")
}

/// Whether `path` is the dashboard or its API, which only the loopback face serves.
fn is_admin_path(path: &str) -> bool {
    ["/ui", "/api", "/bridge"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

/// Whether a header is one a proxy adds: its presence means the request came from elsewhere,
/// whatever `Host` says.
fn is_proxy_header(name: &str) -> bool {
    matches!(name, "forwarded" | "x-real-ip" | "via") || name.starts_with("x-forwarded-")
}

/// Whether `origin` is the very origin of a request naming `host`: the same scheme-less
/// authority (a page on another local port is another origin).
pub(super) fn same_origin(origin: &str, host: &str) -> bool {
    url::Url::parse(origin).is_ok_and(|o| {
        matches!(o.scheme(), "http" | "https")
            && o.host_str().is_some_and(|h| {
                let authority = match o.port() {
                    Some(port) => format!("{h}:{port}"),
                    None => h.to_owned(),
                };
                authority.eq_ignore_ascii_case(host)
            })
    })
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
    error(StatusCode::FORBIDDEN, "forbidden", format!("{what} '{shown}' is not allowed: this server only answers to localhost or its configured public URL (reaching it through your own proxy or tunnel? start it with --public-url https://that-host)"))
}

/// The middleware.
pub async fn check(State(policy): State<HostPolicy>, mut req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    let public = match host {
        Some(h) if policy.host_allowed(h) => policy.is_public_host(h),
        Some(h) => return forbidden("Host", h),
        None => return forbidden("Host", ""),
    };
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !policy.origin_allowed(origin) {
            return forbidden("Origin", origin);
        }
    }
    let forwarded = req
        .headers()
        .keys()
        .any(|name| is_proxy_header(name.as_str()));
    if public || forwarded {
        if is_admin_path(req.uri().path()) {
            // As on the tunnel's own face: the dashboard does not exist here.
            return error(
                StatusCode::NOT_FOUND,
                "not_found",
                "The dashboard is only served on this machine's loopback address",
            );
        }
        req.extensions_mut().insert(PublicHost);
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_configured_hosts_only() {
        let p = HostPolicy {
            public: crate::public::PublicAddress::fixed(None, vec!["abc.ngrok.app".into()]),
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
        assert!(p.is_public_host("abc.ngrok.app:443") && !p.is_public_host("localhost:8080"));
        assert!(is_admin_path("/ui") && is_admin_path("/ui/app.js") && is_admin_path("/api/state"));
        assert!(!is_admin_path("/uix") && !is_admin_path("/mcp") && !is_admin_path("/apis"));
        assert!(is_admin_path("/bridge/proof"));
        for proxy in [
            "forwarded",
            "x-forwarded-proto",
            "x-forwarded-for",
            "x-real-ip",
            "via",
        ] {
            assert!(is_proxy_header(proxy), "{proxy}");
        }
        assert!(!is_proxy_header("x-forward") && !is_proxy_header("accept"));
        assert!(same_origin("http://127.0.0.1:8080", "127.0.0.1:8080"));
        assert!(same_origin("http://localhost:8080", "LOCALHOST:8080"));
        assert!(!same_origin("http://127.0.0.1:3000", "127.0.0.1:8080"));
        assert!(!same_origin("null", "127.0.0.1:8080"));
    }
}
