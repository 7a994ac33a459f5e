//! Client ID Metadata Documents: a `client_id` that is an `https` URL names a JSON document
//! the client publishes (its name, its redirect URIs). Fetching it is a request that anyone
//! can make this server send, so it is fenced in: `https` only; the host is resolved first and
//! refused when any of its addresses is not a public one (loopback, private, link-local,
//! shared, multicast, …); the connection is pinned to the checked address (no second lookup
//! a DNS server could answer differently); redirects are refused; at most 5 KiB within 5 s;
//! documents are cached for ten minutes (bounded).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Client;

/// Largest metadata document read.
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024;
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
    trust: Trust,
    cache: Arc<Mutex<lru::LruCache<String, (Client, Instant)>>>,
}

impl Default for Fetcher {
    fn default() -> Self {
        Fetcher::new(Trust::default())
    }
}

/// Whether `ip` is an address on the public internet (not this machine, a private network,
/// a link, a shared or reserved range, multicast, or a documentation range).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
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
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8
                || first == 0x0064 && v6.segments()[1] == 0xff9b)
        }
    }
}

impl Fetcher {
    /// A fetcher that also trusts `trust` (tests).
    pub fn new(trust: Trust) -> Self {
        Fetcher {
            trust,
            cache: Arc::new(Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(256).expect("non-zero"),
            ))),
        }
    }

    /// Whether `client_id` names a metadata document (rather than a registered client).
    pub fn is_document_url(client_id: &str) -> bool {
        client_id.starts_with("https://")
    }

    /// The client described by the document at `client_id`.
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
        let port = url.port_or_known_default().unwrap_or(443);
        // Resolve once, check every address, and connect only to a checked one.
        let address = match self.trust.resolve.iter().find(|(h, _)| *h == host) {
            Some((_, addr)) => *addr,
            None => {
                let addrs: Vec<SocketAddr> = match url.host() {
                    Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(ip.into(), port)],
                    Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(ip.into(), port)],
                    _ => tokio::time::timeout(
                        FETCH_TIMEOUT,
                        tokio::net::lookup_host((host.as_str(), port)),
                    )
                    .await
                    .map_err(|_| CimdError::Fetch("DNS lookup timed out".into()))?
                    .map_err(|e| CimdError::Fetch(format!("DNS lookup failed: {e}")))?
                    .collect(),
                };
                if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
                    return Err(CimdError::NotPublic(bad.ip().to_string()));
                }
                *addrs
                    .first()
                    .ok_or_else(|| CimdError::Fetch("the host has no address".into()))?
            }
        };
        crate::coda::tls::ready();
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(FETCH_TIMEOUT)
            .https_only(true)
            .no_proxy()
            .resolve(&host, address);
        for pem in &self.trust.roots_pem {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|e| CimdError::Fetch(format!("test root certificate: {e}")))?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder
            .build()
            .map_err(|e| CimdError::Fetch(e.to_string()))?;
        let mut response = http
            .get(url.clone())
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| CimdError::Fetch(e.without_url().to_string()))?;
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_fetched_from() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "192.0.2.10",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"] {
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
