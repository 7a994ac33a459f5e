//! The engine: configuration plus the shared parts every face uses (Coda client, catalogue,
//! health cache). The CLI and the desktop shell build one and hand it to [`crate::http`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::coda::{CodaClient, CodaError, RateLimits, RetryPolicy, Secret, DEFAULT_BASE_URL};
use crate::health::HealthCache;
use crate::tools::{Catalogue, ExecOptions};

/// Everything the engine needs to know to serve.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Coda API root (`https://coda.io/apis/v1`, or the demo's loopback URL).
    pub coda_base_url: String,
    /// The Coda token, from the environment or the keychain.
    pub coda_token: Option<Secret>,
    /// Only list and run read-only tools.
    pub read_only: bool,
    /// Client-side pacing limits.
    pub rate_limits: RateLimits,
    /// Retry rules.
    pub retry: RetryPolicy,
    /// How long write tools wait for Coda to apply a write.
    pub write_wait_timeout: Duration,
    /// How long a Coda health result stays fresh.
    pub health_ttl: Duration,
    /// Idle time after which an MCP session is dropped.
    pub session_idle_timeout: Duration,
    /// Interval of `:keep-alive` comments on SSE streams.
    pub sse_keep_alive: Duration,
    /// Largest tool result, in characters of JSON (ChatGPT's limit is 100,000).
    pub output_budget: usize,
    /// Public host names (the tunnel's, `--public-url`'s) accepted in `Host`/`Origin`
    /// besides loopback.
    pub public_hosts: Vec<String>,
    /// The public HTTPS URL (tunnel or proxy), used as the OpenAPI `servers` entry.
    pub public_url: Option<String>,
    /// The key clients present as `Authorization: Bearer …`.
    pub connection_key: Secret,
    /// Serve the loopback listener without authentication (never the public face).
    pub no_auth: bool,
    /// Accept a caller's own Coda token as the bearer (checked with `/whoami`).
    pub pass_through: bool,
    /// Most concurrent MCP sessions.
    pub max_sessions: usize,
    /// Per-client request rate: `(per second, burst)`; `None` for no limit.
    pub client_rate: Option<(f64, f64)>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            coda_base_url: DEFAULT_BASE_URL.to_owned(),
            coda_token: None,
            read_only: false,
            rate_limits: RateLimits::CODA,
            retry: RetryPolicy::default(),
            write_wait_timeout: Duration::from_secs(20),
            health_ttl: Duration::from_secs(60),
            session_idle_timeout: Duration::from_secs(300),
            sse_keep_alive: Duration::from_secs(15),
            output_budget: 100_000,
            public_hosts: Vec::new(),
            public_url: None,
            connection_key: crate::secrets::generate_connection_key(),
            no_auth: false,
            pass_through: true,
            max_sessions: 1_000,
            client_rate: Some((20.0, 60.0)),
        }
    }
}

/// The running engine's shared state. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    config: EngineConfig,
    coda: CodaClient,
    /// Clients for pass-through callers, one per token (Coda's limits are per user).
    guests: std::sync::Mutex<std::collections::HashMap<[u8; 32], CodaClient>>,
    catalogue: Catalogue,
    health: HealthCache,
    started: Instant,
}

impl Engine {
    /// Builds the engine from its configuration.
    pub fn new(config: EngineConfig) -> Result<Self, CodaError> {
        let coda = CodaClient::new(
            &config.coda_base_url,
            config.coda_token.clone(),
            config.rate_limits,
            config.retry.clone(),
        )?;
        let catalogue = Catalogue::new(config.read_only);
        let health = HealthCache::new(config.health_ttl);
        Ok(Engine {
            inner: Arc::new(Inner {
                config,
                coda,
                guests: Default::default(),
                catalogue,
                health,
                started: Instant::now(),
            }),
        })
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The shared Coda client.
    pub fn coda(&self) -> &CodaClient {
        &self.inner.coda
    }

    /// A client that uses a pass-through caller's own Coda token, with its own pacer.
    pub fn coda_for_token(&self, token: &Secret) -> CodaClient {
        use sha2::Digest;
        let digest: [u8; 32] = sha2::Sha256::digest(token.expose().as_bytes()).into();
        let mut guests = self.inner.guests.lock().expect("guests");
        if guests.len() >= 256 {
            guests.clear();
        }
        guests
            .entry(digest)
            .or_insert_with(|| self.inner.coda.with_token(token.clone()))
            .clone()
    }

    /// The client for a caller: the owner's, or the caller's own token's.
    pub fn coda_for(&self, caller: Option<&crate::http::Caller>) -> CodaClient {
        match caller {
            Some(crate::http::Caller::CodaToken(token)) => self.coda_for_token(token),
            _ => self.inner.coda.clone(),
        }
    }

    /// The tools on offer.
    pub fn catalogue(&self) -> &Catalogue {
        &self.inner.catalogue
    }

    /// The cached Coda health.
    pub fn health(&self) -> &HealthCache {
        &self.inner.health
    }

    /// Seconds since the engine started.
    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// Options for running tools.
    pub fn exec_options(&self) -> ExecOptions {
        ExecOptions {
            wait_timeout: self.inner.config.write_wait_timeout,
            output_budget: self.inner.config.output_budget,
        }
    }
}
