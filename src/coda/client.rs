//! The HTTP side of the Coda client: authentication, pacing, retries and response decoding.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use reqwest::Method;
use serde_json::Value;

use super::{CodaError, Pacer, RateClass, RateLimits, Secret};

/// Coda's public API root.
pub const DEFAULT_BASE_URL: &str = "https://coda.io/apis/v1";

/// How hard the client tries before giving up.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after a 429 (the request was not executed, so writes may retry too).
    pub max_429_retries: u32,
    /// Retries of reads after a 5xx or a transport failure.
    pub max_read_retries: u32,
    /// First backoff delay; doubles each attempt, with jitter.
    pub base_backoff: Duration,
    /// Upper bound on any single wait, including a `Retry-After`.
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
    /// Path below the API root, starting with `/`; path segments already percent-encoded.
    pub path: String,
    /// Query parameters.
    pub query: Vec<(String, String)>,
    /// JSON body, for writes.
    pub body: Option<Value>,
    /// Which rate limit the request counts against.
    pub class: RateClass,
    /// The caller answers a 504 by asking for a smaller page, so the client must not retry it.
    pub halve_on_504: bool,
}

impl CodaRequest {
    /// A GET in the `read` class.
    pub fn get(path: impl Into<String>) -> Self {
        CodaRequest {
            method: Method::GET,
            path: path.into(),
            query: Vec::new(),
            body: None,
            class: RateClass::Read,
            halve_on_504: false,
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
    base_url: Arc<str>,
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
        let http = reqwest::Client::builder()
            .user_agent(concat!("coda-mcp/", env!("CARGO_PKG_VERSION")))
            .timeout(retry.timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| CodaError::Unreachable(e.to_string()))?;
        Ok(CodaClient {
            http,
            base_url: base_url.trim_end_matches('/').into(),
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
            base_url: self.base_url.clone(),
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
    /// `Retry-After`), 5xx and transport errors only for reads — a write is never sent twice
    /// unless Coda said it was not taken.
    pub async fn send(&self, req: &CodaRequest) -> Result<CodaResponse, CodaError> {
        let token = self.token.as_ref().ok_or(CodaError::NoToken)?;
        let url = format!("{}{}", self.base_url, req.path);
        let mut retries = 0u32;
        let mut rate_limited = 0u32;
        let mut failures = 0u32;
        loop {
            self.pacer.acquire(req.class).await;
            let mut builder = self
                .http
                .request(req.method.clone(), &url)
                .bearer_auth(token.expose())
                .query(&req.query);
            if let Some(body) = &req.body {
                builder = builder.json(body);
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
                if rate_limited >= self.retry.max_429_retries {
                    return Err(CodaError::RateLimited {
                        retries: rate_limited,
                    });
                }
                rate_limited += 1;
                retries += 1;
                let wait = retry_after(response.headers())
                    .map(|d| d.min(self.retry.max_backoff))
                    .unwrap_or_else(|| self.backoff(rate_limited));
                tracing::debug!(path = %req.path, ?wait, "coda rate-limited; backing off");
                tokio::time::sleep(wait).await;
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
                return Err(CodaError::from_response(status, &bytes));
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
    /// of the configured API, e.g. the demo's) are trusted, and no credentials are sent.
    pub async fn download(&self, link: &str) -> Result<String, CodaError> {
        let url = url::Url::parse(link)
            .map_err(|_| CodaError::UntrustedHost(link.chars().take(80).collect()))?;
        let host = url.host_str().unwrap_or("").to_ascii_lowercase();
        let api_host = url::Url::parse(&self.base_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
        let trusted = ["coda.io", "codahosted.io", "storage.googleapis.com"]
            .iter()
            .any(|h| host == *h || host.ends_with(&format!(".{h}")))
            || api_host.as_deref() == Some(host.as_str());
        let secure_enough = url.scheme() == "https" || api_host.as_deref() == Some(host.as_str());
        if !trusted || !secure_enough {
            return Err(CodaError::UntrustedHost(host));
        }
        self.pacer.acquire(RateClass::Read).await;
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| CodaError::Unreachable(describe_transport_error(&e)))?;
        let status = resp.status().as_u16();
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

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| *s >= 0.0)
        .map(Duration::from_secs_f64)
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
