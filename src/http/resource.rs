//! This server as an OAuth protected resource: its base URL as a request reached it (the
//! public URL through the public face, the `Host` on loopback), where its metadata is, and
//! whether a token's resource names this server's `/mcp`.

use axum::http::{header, HeaderMap};

/// This server's base URL as the request reached it: the public URL through the public face,
/// `http://<Host>` on loopback.
pub(super) fn base_url(engine: &crate::Engine, headers: &HeaderMap, public: bool) -> String {
    if public {
        if let Some(url) = engine.public().url() {
            return url.trim_end_matches('/').to_owned();
        }
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// Where a client learns where to authenticate (RFC 9728).
pub(super) fn resource_metadata_url(base: &str) -> String {
    format!("{base}/.well-known/oauth-protected-resource/mcp")
}

/// Whether two resource URLs name the same `/mcp` of this server: the same scheme, port and
/// path, and the same host — loopback names counting as one.
pub(super) fn same_resource(a: &str, b: &str) -> bool {
    let (Ok(a), Ok(b)) = (url::Url::parse(a), url::Url::parse(b)) else {
        return false;
    };
    let loopback = |u: &url::Url| match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    a.scheme() == b.scheme()
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path().trim_end_matches('/') == b.path().trim_end_matches('/')
        && (a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
            || (loopback(&a) && loopback(&b)))
}
