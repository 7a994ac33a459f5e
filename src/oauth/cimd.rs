//! Client ID Metadata Documents: a `client_id` that is an `https` URL names a JSON document
//! the client publishes (its name, its redirect URIs). Fetching it is a request that anyone
//! can make this server send, so it is fenced in: it is fetched only when a consent request
//! needs it (rate-limited per network by the caller); `https` only; one HTTP client for every
//! fetch, whose resolver refuses a host when any of its addresses is not a public one
//! (loopback, private, link-local, shared, multicast, an IPv6 form of a private IPv4, …) —
//! the connection goes to the addresses that resolver checked, so there is no second lookup a
//! DNS server could answer differently; at most [`DNS_AT_ONCE`] lookups and [`FETCHES_AT_ONCE`]
//! fetches at once; redirects are refused; at most 5 KiB within 5 s; documents are cached for
//! ten minutes (bounded).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::Client;

/// Largest metadata document read.
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024;
/// DNS lookups running at once (they take threads of the blocking pool).
pub const DNS_AT_ONCE: usize = 4;
/// Documents fetched at once.
pub const FETCHES_AT_ONCE: usize = 8;
/// How long a fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a fetched document is used before it is fetched again.
const CACHE_TTL: Duration = Duration::from_secs(600);

/// Why a metadata document could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CimdError {
    /// Not an `https` URL with a host and a path.
    #[error("client_id {0:?} is not an https URL of a client metadata document")]
    NotAUrl(String),
    /// The host is, or resolves to, an address that is not public.
    #[error("the client metadata document's host resolves to a non-public address ({0}); it is not fetched")]
    NotPublic(String),
    /// Fetching failed (unreachable, an error status, a redirect, too slow).
    #[error("the client metadata document could not be fetched: {0}")]
    Fetch(String),
    /// Over [`MAX_DOCUMENT_BYTES`].
    #[error("the client metadata document is larger than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge,
    /// Not a usable document (JSON, `client_id`, `redirect_uris`, auth method).
    #[error("the client metadata document is not valid: {0}")]
    Invalid(String),
}

/// Addresses the fetcher may use although they are not public, and extra root certificates:
/// what a test needs to serve a document on loopback. Empty in normal use.
#[derive(Clone, Default, Debug)]
pub struct Trust {
    /// Host names pinned to an address of the test's own.
    pub resolve: Vec<(String, SocketAddr)>,
    /// PEM root certificates the test's HTTPS server uses.
    pub roots_pem: Vec<Vec<u8>>,
}

/// Fetches and caches client metadata documents.
#[derive(Clone)]
pub struct Fetcher {
    /// The one client every fetch uses (`None` if it could not be built: fetches then fail).
    http: Option<reqwest::Client>,
    fetches: Arc<Semaphore>,
    cache: Arc<Mutex<lru::LruCache<String, (Client, Instant)>>>,
}

impl Default for Fetcher {
    fn default() -> Self {
        Fetcher::new(Trust::default())
    }
}

/// The resolver of the fetcher's client: public addresses only (or the test's own pins),
/// a bounded number of lookups at once, each within the fetch timeout.
struct PublicOnly {
    pins: Vec<(String, SocketAddr)>,
    lookups: Arc<Semaphore>,
}

/// The resolver's refusal (found again in the error chain of the request that met it).
#[derive(Debug)]
struct NotPublicAddress(IpAddr);

impl std::fmt::Display for NotPublicAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is not a public address", self.0)
    }
}

impl std::error::Error for NotPublicAddress {}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        if let Some((_, addr)) = self.pins.iter().find(|(h, _)| *h == host) {
            let addr = *addr;
            return Box::pin(
                async move { Ok(Box::new(std::iter::once(addr)) as reqwest::dns::Addrs) },
            );
        }
        let lookups = self.lookups.clone();
        Box::pin(async move {
            let _permit = lookups.acquire().await?;
            let found: Vec<SocketAddr> =
                tokio::time::timeout(FETCH_TIMEOUT, tokio::net::lookup_host((host.as_str(), 0)))
                    .await
                    .map_err(|_| "DNS lookup timed out")??
                    .collect();
            if let Some(bad) = found.iter().find(|a| !is_public(a.ip())) {
                return Err(Box::new(NotPublicAddress(bad.ip())) as _);
            }
            if found.is_empty() {
                return Err("the host has no address".into());
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether `ip` is an address on the public internet (not this machine, a private network,
/// a link, a shared or reserved range, multicast, a documentation range — nor an IPv6 form
/// that embeds, maps or translates an IPv4 address that is not public).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn is_public_v6(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    // IPv4-mapped (::ffff:a.b.c.d): the IPv4 address it maps.
    if let Some(v4) = v6.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    // 6to4 (2002:AABB:CCDD::/48): the IPv4 address it tunnels to.
    if s[0] == 0x2002 {
        return is_public_v4(embedded(s[1], s[2]));
    }
    !(v6.is_loopback()
        || v6.is_unspecified()
        || v6.is_multicast()
        // IPv4-compatible (::a.b.c.d, deprecated) and IPv4-translated (::ffff:0:a.b.c.d).
        || s[..6] == [0; 6]
        || s[..6] == [0, 0, 0, 0, 0xffff, 0]
        // NAT64: 64:ff9b::/96 and the local-use 64:ff9b:1::/48 (both in 64:ff9b::/32).
        || (s[0] == 0x0064 && s[1] == 0xff9b)
        // Discard-only 100::/64.
        || s[..4] == [0x0100, 0, 0, 0]
        // IETF protocol assignments 2001::/23 (Teredo, benchmarking, ORCHID, …).
        || (s[0] == 0x2001 && s[1] < 0x0200)
        // Documentation 2001:db8::/32 and 3fff::/20.
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || (s[0] & 0xfff0) == 0x3ff0
        // Unique local fc00::/7, link-local fe80::/10, site-local fec0::/10 (deprecated).
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0)
}

impl Fetcher {
    /// A fetcher that also trusts `trust` (tests).
    pub fn new(trust: Trust) -> Self {
        Fetcher {
            http: build_client(&trust)
                .map_err(|e| tracing::warn!(error = %e, "no client for metadata documents"))
                .ok(),
            fetches: Arc::new(Semaphore::new(FETCHES_AT_ONCE)),
            cache: Arc::new(Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(256).expect("non-zero"),
            ))),
        }
    }

    /// Whether `client_id` names a metadata document (rather than a registered client).
    pub fn is_document_url(client_id: &str) -> bool {
        client_id.starts_with("https://")
    }

    /// The client described by the document at `client_id` (cached, else fetched).
    pub async fn client(&self, client_id: &str) -> Result<Client, CimdError> {
        if let Some((client, at)) = self.cache.lock().expect("cimd cache").get(client_id) {
            if at.elapsed() < CACHE_TTL {
                return Ok(client.clone());
            }
        }
        let client = self.fetch(client_id).await?;
        self.cache
            .lock()
            .expect("cimd cache")
            .put(client_id.to_owned(), (client.clone(), Instant::now()));
        Ok(client)
    }

    async fn fetch(&self, client_id: &str) -> Result<Client, CimdError> {
        let not_a_url = || CimdError::NotAUrl(client_id.chars().take(200).collect());
        let url = url::Url::parse(client_id).map_err(|_| not_a_url())?;
        let host = url.host_str().ok_or_else(not_a_url)?.to_owned();
        if url.scheme() != "https" || url.path() == "/" || url.fragment().is_some() {
            return Err(not_a_url());
        }
        // An address in the URL is never resolved, so it is checked here.
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal.filter(|ip| !is_public(*ip)) {
            return Err(CimdError::NotPublic(ip.to_string()));
        }
        let http = self
            .http
            .as_ref()
            .ok_or_else(|| CimdError::Fetch("no HTTP client".into()))?;
        let _slot = tokio::time::timeout(FETCH_TIMEOUT, self.fetches.acquire())
            .await
            .map_err(|_| CimdError::Fetch("too many documents being fetched; try again".into()))?
            .map_err(|e| CimdError::Fetch(e.to_string()))?;
        let mut response = http
            .get(url.clone())
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| match not_public(&e) {
                Some(ip) => CimdError::NotPublic(ip.to_string()),
                None => CimdError::Fetch(e.without_url().to_string()),
            })?;
        if !response.status().is_success() {
            return Err(CimdError::Fetch(format!(
                "HTTP {} (redirects are not followed)",
                response.status()
            )));
        }
        if response
            .content_length()
            .is_some_and(|n| n as usize > MAX_DOCUMENT_BYTES)
        {
            return Err(CimdError::TooLarge);
        }
        let mut body = Vec::new();
        let read = async {
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| CimdError::Fetch(e.without_url().to_string()))?
            {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_DOCUMENT_BYTES {
                    return Err(CimdError::TooLarge);
                }
            }
            Ok(())
        };
        tokio::time::timeout(FETCH_TIMEOUT, read)
            .await
            .map_err(|_| CimdError::Fetch("too slow".into()))??;
        parse_document(client_id, &host, &body)
    }
}

/// The one client for metadata documents: https only, no redirects, no proxy, the
/// public-only resolver, the fetch timeout.
fn build_client(trust: &Trust) -> Result<reqwest::Client, CimdError> {
    crate::coda::tls::ready();
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(FETCH_TIMEOUT)
        .https_only(true)
        .no_proxy()
        .pool_max_idle_per_host(1)
        .dns_resolver(Arc::new(PublicOnly {
            pins: trust.resolve.clone(),
            lookups: Arc::new(Semaphore::new(DNS_AT_ONCE)),
        }));
    for pem in &trust.roots_pem {
        let cert = reqwest::Certificate::from_pem(pem)
            .map_err(|e| CimdError::Fetch(format!("test root certificate: {e}")))?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build().map_err(|e| CimdError::Fetch(e.to_string()))
}

/// The address the resolver refused, if that is why `e` happened.
fn not_public(e: &reqwest::Error) -> Option<IpAddr> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(refused) = err.downcast_ref::<NotPublicAddress>() {
            return Some(refused.0);
        }
        source = err.source();
    }
    None
}

/// The client a metadata document describes, checked.
fn parse_document(client_id: &str, host: &str, body: &[u8]) -> Result<Client, CimdError> {
    let doc: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| CimdError::Invalid(format!("not JSON ({e})")))?;
    if doc["client_id"].as_str() != Some(client_id) {
        return Err(CimdError::Invalid(
            "its client_id is not the URL it was fetched from".into(),
        ));
    }
    let redirect_uris: Vec<String> = doc["redirect_uris"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|u| u.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if redirect_uris.is_empty() {
        return Err(CimdError::Invalid(
            "redirect_uris is missing or empty".into(),
        ));
    }
    if let Some(bad) = redirect_uris
        .iter()
        .find(|u| !super::redirect_uri_allowed(u))
    {
        return Err(CimdError::Invalid(format!(
            "redirect URI {bad:?} is neither https nor http on loopback"
        )));
    }
    match doc["token_endpoint_auth_method"].as_str() {
        None | Some("none") => {}
        Some(other) => {
            return Err(CimdError::Invalid(format!(
                "token_endpoint_auth_method {other:?} is not supported (only \"none\")"
            )))
        }
    }
    let name = doc["client_name"]
        .as_str()
        .map(|n| n.chars().take(100).collect())
        .unwrap_or_else(|| host.to_owned());
    Ok(Client {
        id: client_id.to_owned(),
        kind: "metadata document".into(),
        name,
        redirect_uris,
        ..Client::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_fetched_from() {
        for private in [
            // IPv4: loopback, private, link-local, shared, unspecified, multicast, documentation.
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "192.0.2.10",
            "198.18.0.1",
            "240.0.0.1",
            // IPv6 of its own: loopback, unspecified, unique local, link-local, site-local,
            // multicast, documentation, discard, IETF assignments (Teredo).
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "fec0::1",
            "feff::1",
            "ff02::1",
            "2001:db8::1",
            "3fff::1",
            "100::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            // Every IPv6 form of a private IPv4: mapped (both spellings), compatible,
            // translated, NAT64 (well-known and local-use), 6to4.
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:7f00:1",
            "::127.0.0.1",
            "::10.0.0.1",
            "::8.8.8.8",
            "::ffff:0:10.0.0.1",
            "::ffff:0:127.0.0.1",
            "64:ff9b::10.0.0.1",
            "64:ff9b::8.8.8.8",
            "64:ff9b:1::10.0.0.1",
            "64:ff9b:1:2:3:4:a00:1",
            "2002:a00:1::1",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "2002:808:808::1",
            "2a00:1450:4001::1",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn private_hosts_and_plain_urls_are_refused_before_any_request() {
        let f = Fetcher::default();
        for (id, want) in [
            ("https://127.0.0.1/client.json", "non-public"),
            ("https://[::1]/client.json", "non-public"),
            ("https://localhost/client.json", "non-public"),
            ("http://example.com/client.json", "not an https URL"),
            ("https://example.com/", "not an https URL"),
            ("not a url", "not an https URL"),
        ] {
            let err = f.client(id).await.unwrap_err().to_string();
            assert!(err.contains(want), "{id}: {err}");
        }
    }

    #[test]
    fn documents_are_checked() {
        let id = "https://app.example/oauth/client.json";
        let ok = format!(
            r#"{{"client_id":"{id}","client_name":"App","redirect_uris":["https://app.example/cb"]}}"#
        );
        assert_eq!(
            parse_document(id, "app.example", ok.as_bytes())
                .unwrap()
                .name,
            "App"
        );
        for bad in [
            r#"{"client_id":"https://other.example/c.json","redirect_uris":["https://a/cb"]}"#
                .to_owned(),
            format!(r#"{{"client_id":"{id}","redirect_uris":[]}}"#),
            format!(r#"{{"client_id":"{id}","redirect_uris":["http://evil.example/cb"]}}"#),
            format!(
                r#"{{"client_id":"{id}","redirect_uris":["https://a/cb"],"token_endpoint_auth_method":"client_secret_basic"}}"#
            ),
            "not json".to_owned(),
        ] {
            assert!(
                parse_document(id, "app.example", bad.as_bytes()).is_err(),
                "{bad}"
            );
        }
    }
}
