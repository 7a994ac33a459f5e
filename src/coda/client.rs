//! The HTTP side of the Coda client: authentication, pacing, retries and response decoding.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use reqwest::Method;
use serde_json::Value;

use super::{CodaError, CodaPath, Pacer, RateClass, RateLimits, Refused, Secret};

/// Coda's public API root.
pub const DEFAULT_BASE_URL: &str = "https://coda.io/apis/v1";

/// The longest a request waits on one 429. Coda's `Retry-After` is honoured in full up to
/// this; a longer one ends the call with [`CodaError::RateLimited`] rather than retrying early
/// or blocking the caller for minutes.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Hosts an export's download link (and every redirect after it) may point at: Coda's own
/// (`coda.io`, `codahosted.io` and their subdomains). The configured API's host is trusted too.
const DOWNLOAD_HOSTS: [&str; 2] = ["coda.io", "codahosted.io"];

/// The header that asks Coda to answer from the doc's latest version or not at all.
const DOC_VERSION_HEADER: &str = "X-Coda-Doc-Version";

/// Redirects a download may follow.
const MAX_DOWNLOAD_REDIRECTS: usize = 5;

/// How hard the client tries before giving up.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after a 429 (the request was not executed, so writes may retry too).
    pub max_429_retries: u32,
    /// Retries of reads after a 5xx or a transport failure.
    pub max_read_retries: u32,
    /// First backoff delay; doubles each attempt, with jitter.
    pub base_backoff: Duration,
    /// Upper bound on a backoff the client picks itself (a `Retry-After` from Coda is
    /// honoured up to [`MAX_RETRY_AFTER`] instead).
    pub max_backoff: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_429_retries: 5,
            max_read_retries: 2,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
        }
    }
}

/// One request to Coda, described as data so that tools can be a table.
#[derive(Debug, Clone)]
pub struct CodaRequest {
    /// HTTP method.
    pub method: Method,
    /// Path below the API root, as segments (each encoded when the URL is built).
    pub path: CodaPath,
    /// Query parameters.
    pub query: Vec<(String, String)>,
    /// JSON body, for writes.
    pub body: Option<Value>,
    /// Which rate limit the request counts against.
    pub class: RateClass,
    /// The caller answers a 504 by asking for a smaller page, so the client must not retry it.
    pub halve_on_504: bool,
    /// Sends `X-Coda-Doc-Version: latest`: Coda answers 400 rather than from a copy of the
    /// doc that lags its latest edits (then [`CodaError::DocNotLatest`]).
    pub require_latest: bool,
}

impl CodaRequest {
    /// A GET in the `read` class.
    pub fn get(path: impl Into<CodaPath>) -> Self {
        CodaRequest {
            method: Method::GET,
            path: path.into(),
            query: Vec::new(),
            body: None,
            class: RateClass::Read,
            halve_on_504: false,
            require_latest: false,
        }
    }

    /// Adds a query parameter.
    pub fn query(mut self, key: &str, value: impl Into<String>) -> Self {
        self.query.push((key.to_owned(), value.into()));
        self
    }

    fn is_write(&self) -> bool {
        self.method != Method::GET && self.method != Method::HEAD
    }

    /// What this request is, should Coda refuse it with 403.
    fn refused(&self) -> Refused {
        match self.path.segments() {
            _ if self.is_write() => Refused::Write,
            [docs, doc, ..] if docs == "docs" => Refused::Doc(doc.clone()),
            _ => Refused::Read,
        }
    }
}

/// A successful Coda answer.
#[derive(Debug, Clone)]
pub struct CodaResponse {
    /// HTTP status (200, 201 or 202).
    pub status: u16,
    /// Decoded JSON body (`Null` for an empty body).
    pub body: Value,
    /// Number of retries it took.
    pub retries: u32,
    /// How many of them followed a 429 (Coda's rate limit).
    pub rate_limited: u32,
}

/// The shared Coda client. Cheap to clone; every clone shares one pacer, so all sessions
/// together stay inside Coda's limits.
#[derive(Debug, Clone)]
pub struct CodaClient {
    http: reqwest::Client,
    /// For export downloads: no credentials, redirects only to trusted hosts.
    download_http: reqwest::Client,
    base_url: Arc<str>,
    /// The API root, parsed once; request URLs are built on it segment by segment.
    root: Arc<url::Url>,
    token: Option<Secret>,
    pacer: Arc<Pacer>,
    retry: Arc<RetryPolicy>,
}

impl CodaClient {
    /// A client for `base_url` using `token`, pacing to `limits`.
    pub fn new(
        base_url: &str,
        token: Option<Secret>,
        limits: RateLimits,
        retry: RetryPolicy,
    ) -> Result<Self, CodaError> {
        super::tls::ready();
        let http = reqwest::Client::builder()
            .user_agent(concat!("coda-mcp/", env!("CARGO_PKG_VERSION")))
            .timeout(retry.timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| CodaError::Unreachable(e.to_string()))?;
        let root = url::Url::parse(base_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| {
                CodaError::Unreachable(format!(
                    "the Coda API root {base_url:?} is not an http(s) URL"
                ))
            })?;
        let api = api_origin(&root);
        let download_http = reqwest::Client::builder()
            .user_agent(concat!("coda-mcp/", env!("CARGO_PKG_VERSION")))
            .timeout(retry.timeout)
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= MAX_DOWNLOAD_REDIRECTS {
                    attempt.error("too many redirects")
                } else if trusted_download(attempt.url(), api.as_ref()) {
                    attempt.follow()
                } else {
                    // Hand the redirect back unfollowed: `download` refuses it by its host.
                    attempt.stop()
                }
            }))
            .build()
            .map_err(|e| CodaError::Unreachable(e.to_string()))?;
        Ok(CodaClient {
            http,
            download_http,
            base_url: base_url.trim_end_matches('/').into(),
            root: Arc::new(root),
            token,
            pacer: Arc::new(Pacer::with_safety_margin(limits)),
            retry: Arc::new(retry),
        })
    }

    /// A client for the same API using another token, with a pacer of its own (Coda's
    /// limits are per user).
    pub fn with_token(&self, token: Secret) -> CodaClient {
        let limits = self.pacer.limits();
        CodaClient {
            http: self.http.clone(),
            download_http: self.download_http.clone(),
            base_url: self.base_url.clone(),
            root: self.root.clone(),
            token: Some(token),
            pacer: Arc::new(Pacer::with_safety_margin(limits)),
            retry: self.retry.clone(),
        }
    }

    /// The same API without a token (tools then say a token is needed).
    pub fn without_token(&self) -> CodaClient {
        CodaClient {
            token: None,
            ..self.clone()
        }
    }

    /// A short, safe hint of the token in use (`…a1b2`).
    pub fn token_hint(&self) -> Option<String> {
        self.token.as_ref().map(|t| t.hint())
    }

    /// The API root this client talks to.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The shared pacer (for headroom reporting).
    pub fn pacer(&self) -> &Pacer {
        &self.pacer
    }

    /// Whether a token is configured.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Sends `req`, pacing first and retrying by the rules: 429 always (honouring
    /// `Retry-After`, for which the pacer pauses the request's whole rate class), 5xx and
    /// transport errors only for reads — a write is never sent twice unless Coda said it was
    /// not taken.
    pub async fn send(&self, req: &CodaRequest) -> Result<CodaResponse, CodaError> {
        let token = self.token.as_ref().ok_or(CodaError::NoToken)?;
        let url = req.path.under(&self.root);
        let mut retries = 0u32;
        let mut rate_limited = 0u32;
        let mut failures = 0u32;
        loop {
            // Another session's 429 may have paused this class for longer than a call may
            // wait: say so now rather than send into the limit.
            let paused = self.pacer.paused_for(req.class);
            if paused > MAX_RETRY_AFTER {
                return Err(CodaError::RateLimited {
                    retries: rate_limited,
                    retry_after: Some(paused),
                });
            }
            self.pacer.acquire(req.class).await;
            let mut builder = self
                .http
                .request(req.method.clone(), url.clone())
                .bearer_auth(token.expose())
                .query(&req.query);
            if let Some(body) = &req.body {
                builder = builder.json(body);
            }
            if req.require_latest {
                builder = builder.header(DOC_VERSION_HEADER, "latest");
            }
            let outcome = builder.send().await;
            let response = match outcome {
                Ok(r) => r,
                Err(e) => {
                    // A write may have reached Coda before the connection failed: never resend.
                    if req.is_write() && !e.is_connect() {
                        return Err(CodaError::WriteUncertain(describe_transport_error(&e)));
                    }
                    if req.is_write() || failures >= self.retry.max_read_retries {
                        return Err(CodaError::Unreachable(describe_transport_error(&e)));
                    }
                    failures += 1;
                    retries += 1;
                    tokio::time::sleep(self.backoff(failures)).await;
                    continue;
                }
            };
            let status = response.status().as_u16();
            if status == 429 {
                let asked = retry_after(response.headers(), chrono::Utc::now());
                // The whole class is over Coda's limit, not just this request: every session
                // holds back for as long as Coda asked (or our own backoff).
                let wait = asked.unwrap_or_else(|| self.backoff(rate_limited + 1));
                self.pacer.pause(req.class, wait);
                if rate_limited >= self.retry.max_429_retries || wait > MAX_RETRY_AFTER {
                    return Err(CodaError::RateLimited {
                        retries: rate_limited,
                        retry_after: asked,
                    });
                }
                rate_limited += 1;
                retries += 1;
                // Coda's own figure is honoured in full (never retried earlier than asked):
                // the pacer's pause holds this request back too.
                tracing::debug!(path = %req.path, ?wait, "coda rate-limited; the class is paused");
                continue;
            }
            let bytes = match response.bytes().await {
                Ok(b) => b,
                Err(e) => {
                    if req.is_write() {
                        return Err(CodaError::WriteUncertain(describe_transport_error(&e)));
                    }
                    if failures >= self.retry.max_read_retries {
                        return Err(CodaError::Unreachable(describe_transport_error(&e)));
                    }
                    failures += 1;
                    retries += 1;
                    tokio::time::sleep(self.backoff(failures)).await;
                    continue;
                }
            };
            if (500..600).contains(&status)
                && !req.is_write()
                && !(status == 504 && req.halve_on_504)
                && failures < self.retry.max_read_retries
            {
                failures += 1;
                retries += 1;
                tokio::time::sleep(self.backoff(failures)).await;
                continue;
            }
            if req.is_write() && (500..600).contains(&status) {
                let reason = CodaError::from_response(status, &bytes);
                return Err(CodaError::WriteUncertain(format!(
                    "HTTP {status}: {reason}"
                )));
            }
            if !(200..300).contains(&status) {
                let error = CodaError::from_response(status, &bytes);
                return Err(match error {
                    // Asked for the latest version, Coda's 400 (without a complaint about an
                    // argument) says its copy of the doc is not there yet.
                    CodaError::Api {
                        status: 400,
                        message,
                        validation,
                        ..
                    } if req.require_latest && validation.is_empty() => {
                        CodaError::DocNotLatest(message)
                    }
                    CodaError::Api {
                        status: 403,
                        message,
                        ..
                    } => CodaError::Forbidden {
                        refused: req.refused(),
                        message,
                    },
                    other => other,
                });
            }
            let body = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes)
                    .map_err(|e| CodaError::BadResponse(format!("invalid JSON from Coda: {e}")))?
            };
            return Ok(CodaResponse {
                status,
                body,
                retries,
                rate_limited,
            });
        }
    }

    /// Downloads an export from a link Coda handed out. Only Coda's own hosts (and the host
    /// of the configured API, e.g. the demo's) are trusted — for the link and for every
    /// redirect after it — and no credentials are sent.
    pub async fn download(&self, link: &str) -> Result<String, CodaError> {
        let url = url::Url::parse(link)
            .map_err(|_| CodaError::UntrustedHost(link.chars().take(80).collect()))?;
        if !trusted_download(&url, api_origin(&self.root).as_ref()) {
            return Err(CodaError::UntrustedHost(
                url.host_str().unwrap_or("(no host)").to_ascii_lowercase(),
            ));
        }
        self.pacer.acquire(RateClass::Read).await;
        let resp = self
            .download_http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| CodaError::Unreachable(describe_transport_error(&e)))?;
        let status = resp.status().as_u16();
        if resp.status().is_redirection() {
            // The redirect policy stopped here: the next hop is not a trusted host.
            let next = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| resp.url().join(l).ok());
            let host = next
                .as_ref()
                .and_then(|u| u.host_str())
                .unwrap_or("(no host)")
                .to_ascii_lowercase();
            return Err(CodaError::UntrustedHost(host));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| CodaError::Unreachable(describe_transport_error(&e)))?;
        if !(200..300).contains(&status) {
            return Err(CodaError::from_response(status, &bytes));
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Exponential backoff with full jitter, capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .retry
            .base_backoff
            .saturating_mul(1u32 << attempt.min(10).saturating_sub(1));
        let cap = exp.min(self.retry.max_backoff);
        let jitter = rand::rng().random_range(0.5..=1.0);
        cap.mul_f64(jitter)
    }
}

/// The API root's scheme and host (lowercased).
fn api_origin(root: &url::Url) -> Option<(String, String)> {
    root.host_str()
        .map(|h| (root.scheme().to_owned(), h.to_ascii_lowercase()))
}

/// Whether a download may go to `url`: HTTPS to Coda's own hosts, or the configured API's
/// host over HTTPS or the API's own scheme (the demo serves plain HTTP on loopback; a link to
/// Coda's host over plain HTTP is refused).
fn trusted_download(url: &url::Url, api: Option<&(String, String)>) -> bool {
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    if host.is_empty() {
        return false;
    }
    if let Some((scheme, _)) = api.filter(|(_, h)| *h == host) {
        return url.scheme() == "https" || url.scheme() == scheme;
    }
    url.scheme() == "https"
        && DOWNLOAD_HOSTS
            .iter()
            .any(|h| host == *h || host.ends_with(&format!(".{h}")))
}

/// `Retry-After` as a wait from `now`: either delay-seconds or an HTTP-date (RFC 9110).
/// A date in the past means "now".
fn retry_after(
    headers: &reqwest::header::HeaderMap,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (when.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

fn describe_transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "the request timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        // reqwest errors carry the URL, never headers, so no token can leak here.
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::get;

    fn header(value: &str) -> reqwest::header::HeaderMap {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, value.parse().unwrap());
        h
    }

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(retry_after(&header("7"), now), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after(&header("0.5"), now),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            retry_after(&header("Sun, 01 Mar 2026 10:01:30 GMT"), now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            retry_after(&header("Sun, 01 Mar 2026 09:00:00 GMT"), now),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(retry_after(&header("-3"), now), None);
        assert_eq!(
            retry_after(&header("1e300"), now),
            None,
            "no overflow panic"
        );
        assert_eq!(retry_after(&header("soon"), now), None);
    }

    #[test]
    fn downloads_trust_only_codas_hosts_and_the_api_host() {
        let ok = |u: &str, api: Option<&str>| {
            let api = api.map(|a| api_origin(&url::Url::parse(a).unwrap()).unwrap());
            trusted_download(&url::Url::parse(u).unwrap(), api.as_ref())
        };
        let coda = Some(DEFAULT_BASE_URL);
        assert!(ok("https://coda.io/blobs/DOC_EXPORT_RENDERING/x", coda));
        assert!(ok("https://codahosted.io/docs/AbC/blobs/bl-1/x", coda));
        assert!(ok("https://eu.codahosted.io/x", None));
        assert!(ok(
            "http://127.0.0.1:9/blobs/x",
            Some("http://127.0.0.1:9/apis/v1")
        ));
        assert!(
            !ok("http://coda.io/x", None),
            "plain HTTP to Coda is refused"
        );
        assert!(
            !ok("http://coda.io/blobs/x", coda),
            "plain HTTP to the API's own host is refused when the API is HTTPS"
        );
        assert!(!ok("https://storage.googleapis.com/any-bucket/x", coda));
        assert!(!ok("https://coda.io.evil.example/x", coda));
        assert!(!ok("https://evilcoda.io/x", coda));
        assert!(!ok(
            "http://localhost:9/x",
            Some("http://127.0.0.1:9/apis/v1")
        ));
    }

    async fn serve(app: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    fn client(origin: &str, max_backoff: Duration) -> CodaClient {
        CodaClient::new(
            &format!("{origin}/apis/v1"),
            Some(Secret::new("test-token")),
            RateLimits::CODA.scaled(100),
            RetryPolicy {
                base_backoff: Duration::from_millis(5),
                max_backoff,
                ..RetryPolicy::default()
            },
        )
        .unwrap()
    }

    /// A server that answers its first request on `/apis/v1/x` with 429 and `retry`, then 200.
    async fn throttling_once(retry: String) -> (String, Arc<AtomicU32>) {
        let hits = Arc::new(AtomicU32::new(0));
        let counter = hits.clone();
        let app = axum::Router::new().route(
            "/apis/v1/x",
            get(move || {
                let counter = counter.clone();
                let retry = retry.clone();
                async move {
                    if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                        let mut h = HeaderMap::new();
                        h.insert("retry-after", retry.parse().unwrap());
                        (StatusCode::TOO_MANY_REQUESTS, h, "{}").into_response()
                    } else {
                        (StatusCode::OK, "{\"ok\":true}").into_response()
                    }
                }
            }),
        );
        (serve(app).await, hits)
    }

    #[tokio::test]
    async fn a_retry_after_above_max_backoff_is_honoured_in_full() {
        let (origin, hits) = throttling_once("1".into()).await;
        let c = client(&origin, Duration::from_millis(10));
        let started = std::time::Instant::now();
        let resp = c.send(&CodaRequest::get("/x")).await.unwrap();
        assert_eq!(resp.body["ok"], true);
        assert_eq!(resp.rate_limited, 1);
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "waited {:?}, less than Coda asked",
            started.elapsed()
        );
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_retry_after_http_date_is_honoured() {
        // 3 s ahead: the date's whole seconds cut up to 1 s, and a busy machine may take a
        // moment to send the first request, yet more than 1 s always remains.
        let when = chrono::Utc::now() + chrono::Duration::seconds(3);
        let (origin, hits) = throttling_once(when.to_rfc2822().replace("+0000", "GMT")).await;
        let c = client(&origin, Duration::from_millis(10));
        let started = std::time::Instant::now();
        c.send(&CodaRequest::get("/x")).await.unwrap();
        // HTTP-dates have whole seconds: at least 1 s of the 3 s remains.
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "waited {:?}",
            started.elapsed()
        );
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_retry_after_beyond_the_cap_ends_the_call_without_an_early_retry() {
        let (origin, hits) = throttling_once("600".into()).await;
        let c = client(&origin, Duration::from_millis(10));
        let started = std::time::Instant::now();
        let err = c.send(&CodaRequest::get("/x")).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            matches!(err, CodaError::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(600)),
            "{err:?}"
        );
        assert!(err.to_string().contains("wait 600 s"), "{err}");
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "not retried before Coda said"
        );
    }

    #[tokio::test]
    async fn downloads_refuse_foreign_links_and_foreign_redirects() {
        let app = axum::Router::new()
            .route("/blobs/ok", get(|| async { "exported text" }))
            .route(
                "/blobs/hop",
                get(|| async { axum::response::Redirect::temporary("/blobs/ok") }),
            )
            .route(
                "/blobs/away",
                get(|| async {
                    axum::response::Redirect::temporary("https://storage.googleapis.com/b/x")
                }),
            )
            .route(
                "/blobs/evil",
                get(|| async { axum::response::Redirect::temporary("https://evil.example/x") }),
            );
        let origin = serve(app).await;
        let c = client(&origin, Duration::from_millis(10));
        assert_eq!(
            c.download(&format!("{origin}/blobs/ok")).await.unwrap(),
            "exported text"
        );
        assert_eq!(
            c.download(&format!("{origin}/blobs/hop")).await.unwrap(),
            "exported text",
            "a redirect within trusted hosts is followed"
        );
        for (path, host) in [
            ("/blobs/away", "storage.googleapis.com"),
            ("/blobs/evil", "evil.example"),
        ] {
            let err = c.download(&format!("{origin}{path}")).await.unwrap_err();
            assert!(
                matches!(&err, CodaError::UntrustedHost(h) if h == host),
                "{path}: {err:?}"
            );
        }
        for link in [
            "https://evil.example/blobs/x",
            "https://storage.googleapis.com/coda-exports/x",
            "not a url",
        ] {
            let err = c.download(link).await.unwrap_err();
            assert!(
                matches!(err, CodaError::UntrustedHost(_)),
                "{link}: {err:?}"
            );
        }
    }
}
