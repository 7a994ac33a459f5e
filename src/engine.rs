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
