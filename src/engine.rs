//! The engine: configuration plus the shared parts every face uses (Coda client, catalogue,
//! health cache). The CLI and the desktop shell build one and hand it to [`crate::http`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::coda::{CodaClient, CodaError, RateLimits, RetryPolicy, Secret, DEFAULT_BASE_URL};
use crate::health::HealthCache;
use crate::public::PublicAddress;
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
    /// The toolsets offered (every tool unless a face chooses fewer).
    pub toolsets: crate::tools::Toolsets,
    /// Offer MCP Apps views to the clients that can show them (`--no-views` turns them off).
    pub views: bool,
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
    /// Where that key came from, so that messages say where a person finds it.
    pub key_source: crate::secrets::Source,
    /// Whether the upstream is the built-in demo workspace.
    pub demo: bool,
    /// Serve the loopback listener without authentication (never the public face).
    pub no_auth: bool,
    /// Accept a caller's own Coda token as the bearer (checked with `/whoami`).
    pub pass_through: bool,
    /// … through the public face too (the tunnel, `--public-url`), not only on loopback.
    pub pass_through_public: bool,
    /// Most concurrent MCP sessions.
    pub max_sessions: usize,
    /// Per-client request rate: `(per second, burst)`; `None` for no limit.
    pub client_rate: Option<(f64, f64)>,
    /// Where the audit history lives; `None` keeps it in memory.
    pub data_dir: Option<std::path::PathBuf>,
    /// Days of audit history kept.
    pub audit_retention_days: i64,
    /// The token that opens the dashboard (`/ui/?token=…`).
    pub dashboard_token: Secret,
    /// How long a GPT Action or direct call may take before it must answer (ChatGPT gives 45 s).
    pub call_deadline: Duration,
    /// What the OAuth server's metadata-document fetcher may trust beyond the public
    /// internet (tests serving a document on loopback); empty in normal use.
    pub oauth_cimd_trust: crate::oauth::cimd::Trust,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            coda_base_url: DEFAULT_BASE_URL.to_owned(),
            coda_token: None,
            read_only: false,
            toolsets: crate::tools::Toolsets::all(),
            views: true,
            rate_limits: RateLimits::CODA,
            retry: RetryPolicy::default(),
            write_wait_timeout: Duration::from_secs(20),
            health_ttl: Duration::from_secs(60),
            session_idle_timeout: crate::defaults::SESSION_IDLE_TIMEOUT,
            sse_keep_alive: Duration::from_secs(15),
            output_budget: 100_000,
            public_hosts: Vec::new(),
            public_url: None,
            connection_key: crate::secrets::generate_connection_key(),
            key_source: crate::secrets::Source::Keychain,
            demo: false,
            no_auth: false,
            pass_through: true,
            pass_through_public: true,
            max_sessions: crate::defaults::MAX_SESSIONS,
            client_rate: Some((
                crate::defaults::CLIENT_RATE,
                crate::defaults::client_burst(crate::defaults::CLIENT_RATE),
            )),
            data_dir: None,
            audit_retention_days: i64::from(crate::defaults::AUDIT_DAYS),
            dashboard_token: Secret::new(format!(
                "dash_{}",
                &crate::secrets::generate_connection_key().expose()[4..]
            )),
            call_deadline: Duration::from_secs(40),
            oauth_cimd_trust: Default::default(),
        }
    }
}

/// The rate classes the dashboard shows, by the names it uses.
pub const HEADROOM_CLASSES: [(&str, crate::coda::RateClass); 5] = [
    ("read", crate::coda::RateClass::Read),
    ("write", crate::coda::RateClass::Write),
    ("docContentWrite", crate::coda::RateClass::DocContentWrite),
    ("listDocs", crate::coda::RateClass::ListDocs),
    ("analytics", crate::coda::RateClass::Analytics),
];

/// How often the headroom is sampled for the history (each minute keeps its lowest sample).
pub const HEADROOM_SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// Pass-through callers whose clients (and pacers) are kept.
const GUEST_CLIENTS: usize = 256;

/// Who runs a tool, from where: what [`Engine::run_tool`] reports.
pub struct ToolCall<'a> {
    /// The catalogue entry and its schema.
    pub tool: (&'a crate::tools::ToolDef, &'a serde_json::Value),
    /// The authenticated caller.
    pub caller: Option<&'a crate::caller::Caller>,
    /// The session (MCP, direct-call or `action`).
    pub session: &'a str,
    /// The client's name and version.
    pub client: &'a str,
}

/// The running engine's shared state. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    config: EngineConfig,
    events: crate::events::EventBus,
    audit: Option<crate::audit::AuditStore>,
    /// The owner's client; replaced when the person changes their Coda token.
    coda: std::sync::RwLock<CodaClient>,
    /// The key clients present; replaced when the person rotates it.
    connection_key: std::sync::RwLock<Secret>,
    /// Clients for pass-through callers, one per token (Coda's limits are per user); the
    /// least recently used goes first, so a flood of new tokens never resets the pacing of
    /// callers in use.
    guests: std::sync::Mutex<lru::LruCache<[u8; 32], CodaClient>>,
    /// The tools on offer and the toolsets they come from; swapped whole when the person
    /// changes the toolsets at run time.
    offer: std::sync::RwLock<(Catalogue, crate::tools::Toolsets)>,
    /// Counts changes of the offer, so every session can tell its client (`tools/list_changed`).
    tools_changed: tokio::sync::watch::Sender<u64>,
    health: HealthCache,
    /// The owner's rate-limit headroom over the last hour (the Status view's chart).
    headroom: crate::metrics::HeadroomHistory,
    /// The OAuth authorization server (approved apps, their grants and tokens).
    oauth: crate::oauth::OAuth,
    started: Instant,
    public: PublicAddress,
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
        let toolsets = config.toolsets.clone();
        let catalogue = Catalogue::select(config.read_only, &toolsets);
        let retention = chrono::Duration::days(config.audit_retention_days.max(1));
        let audit = match &config.data_dir {
            Some(dir) => crate::audit::AuditStore::open(&dir.join("audit.sqlite3"), retention),
            None => crate::audit::AuditStore::in_memory(retention),
        };
        let audit = match audit {
            Ok(a) => Some(a),
            Err(e) => {
                tracing::warn!(error = %e, "the audit history is unavailable; tool calls are shown live but not kept");
                None
            }
        };
        // Approved apps survive restarts beside the history; without a data directory (or if
        // it cannot be opened) they last as long as the process.
        let store = config
            .data_dir
            .as_ref()
            .map(|dir| crate::oauth::OAuthStore::open(&dir.join(crate::oauth::DATABASE)))
            .transpose()
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "the OAuth database is unavailable; approved apps last until the server stops");
                None
            });
        let store = match store {
            Some(s) => s,
            None => crate::oauth::OAuthStore::in_memory()
                .map_err(|e| CodaError::Unreachable(e.to_string()))?,
        };
        let oauth = crate::oauth::OAuth::new(
            store,
            crate::oauth::cimd::Fetcher::new(config.oauth_cimd_trust.clone()),
        );
        let health = HealthCache::new(config.health_ttl);
        let public = PublicAddress::fixed(config.public_url.clone(), config.public_hosts.clone());
        Ok(Engine {
            inner: Arc::new(Inner {
                audit,
                events: Default::default(),
                connection_key: std::sync::RwLock::new(config.connection_key.clone()),
                config,
                coda: std::sync::RwLock::new(coda),
                guests: std::sync::Mutex::new(lru::LruCache::new(
                    std::num::NonZeroUsize::new(GUEST_CLIENTS).expect("non-zero"),
                )),
                offer: std::sync::RwLock::new((catalogue, toolsets)),
                tools_changed: tokio::sync::watch::Sender::new(0),
                health,
                headroom: Default::default(),
                oauth,
                started: Instant::now(),
                public,
            }),
        })
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The shared Coda client (the owner's token).
    pub fn coda(&self) -> CodaClient {
        self.inner.coda.read().expect("coda client").clone()
    }

    /// Switches the owner's Coda token at run time (Setup → change token). Calls already
    /// running finish with the old one; the health check is redone.
    pub fn set_coda_token(&self, token: Option<Secret>) {
        let mut coda = self.inner.coda.write().expect("coda client");
        let next = match token {
            Some(t) => coda.with_token(t),
            None => coda.without_token(),
        };
        *coda = next;
        drop(coda);
        self.inner.health.invalidate();
    }

    /// The key clients must present right now.
    pub fn connection_key(&self) -> Secret {
        self.inner.connection_key.read().expect("key").clone()
    }

    /// Replaces the connection key at run time (Setup → rotate); clients must use the new one.
    pub fn set_connection_key(&self, key: Secret) {
        *self.inner.connection_key.write().expect("key") = key;
    }

    /// A client that uses a pass-through caller's own Coda token, with its own pacer.
    pub fn coda_for_token(&self, token: &Secret) -> CodaClient {
        let mut guests = self.inner.guests.lock().expect("guests");
        guests
            .get_or_insert(token.digest(), || self.coda().with_token(token.clone()))
            .clone()
    }

    /// The client for a caller: the owner's, or the caller's own token's.
    pub fn coda_for(&self, caller: Option<&crate::caller::Caller>) -> CodaClient {
        match caller {
            Some(crate::caller::Caller::CodaToken(token)) => self.coda_for_token(token),
            _ => self.coda(),
        }
    }

    /// The event bus the dashboard listens to.
    pub fn events(&self) -> &crate::events::EventBus {
        &self.inner.events
    }

    /// The audit history, when it could be opened.
    pub fn audit(&self) -> Option<&crate::audit::AuditStore> {
        self.inner.audit.as_ref()
    }

    /// Announces a session the first time it is seen.
    pub fn session_seen(
        &self,
        session: &str,
        client: &str,
        client_version: &str,
        kind: crate::events::SessionKind,
    ) {
        if !session.is_empty() && !self.inner.events.knows_session(session) {
            self.inner
                .events
                .publish(crate::events::EventKind::Session {
                    session: session.to_owned(),
                    client: client.to_owned(),
                    client_version: client_version.to_owned(),
                    kind,
                });
        }
    }

    /// Runs a tool for a caller and reports the call to the bus and the audit history.
    /// Every face (MCP, ChatGPT's direct calls, GPT Actions) goes through here.
    pub async fn run_tool(
        &self,
        call: ToolCall<'_>,
        args: serde_json::Value,
        opts: &ExecOptions,
    ) -> Result<crate::tools::ToolOutput, crate::tools::ToolError> {
        let (tool, schema) = call.tool;
        let client = self.coda_for(call.caller);
        let redacted = crate::events::redact(&args);
        let at = chrono::Utc::now();
        let started = Instant::now();
        let outcome = match call.caller {
            // An app approved for reading only: its writes are refused before Coda is asked.
            Some(caller) if !caller.may_write() && !tool.is_read_only() => {
                Err(crate::tools::ToolError::Unsupported(format!(
                    "'{}' changes Coda, and this app was approved for reading only (scope {} without {}): ask the owner to connect it again and allow changes",
                    tool.name,
                    crate::caller::SCOPE_READ,
                    crate::caller::SCOPE_WRITE
                )))
            }
            _ => crate::tools::run(tool, schema, args, &client, opts).await,
        };
        if let Some(crate::caller::Caller::Grant(grant)) = call.caller {
            if let Err(e) = self.inner.oauth.store().used(&grant.id) {
                tracing::warn!(error = %e, "could not count an approved app's call");
            }
        }
        let (ok, error, requests, retries, rate_limited) = match &outcome {
            Ok(out) => (true, None, out.coda_requests, out.retries, out.rate_limited),
            Err(e) => (false, Some(e.to_string()), 0, 0, 0),
        };
        let record = crate::events::ToolCallRecord {
            id: uuid::Uuid::new_v4().to_string(),
            at,
            session: call.session.to_owned(),
            // Which approved app made the call, when one did.
            client: match call.caller.and_then(crate::caller::Caller::label) {
                Some(app) => format!("{} · {app}", call.client)
                    .trim_start_matches(" · ")
                    .to_owned(),
                None => call.client.to_owned(),
            },
            tool: tool.name.to_owned(),
            args: redacted,
            ok,
            error,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            coda_requests: requests,
            retries,
            rate_limited,
            changed: ok && !tool.is_read_only(),
        };
        tracing::info!(
            tool = tool.name,
            ok,
            elapsed_ms = record.duration_ms,
            coda_requests = requests,
            retries,
            session = call.session,
            "tool call"
        );
        if let Some(audit) = self.audit() {
            if !audit.record(&record) {
                tracing::warn!("the audit history is falling behind; a tool call was not kept");
            }
        }
        self.inner
            .events
            .publish(crate::events::EventKind::ToolCall(record));
        outcome
    }

    /// The OAuth authorization server.
    pub fn oauth(&self) -> &crate::oauth::OAuth {
        &self.inner.oauth
    }

    /// Why a tool of the catalogue is not offered here (read-only mode, or a toolset this
    /// server leaves out), in words that say how to get it; `None` when it is offered or is no
    /// tool at all.
    pub fn not_offered(&self, name: &str) -> Option<String> {
        let tool = crate::tools::CATALOGUE.iter().find(|t| t.name == name)?;
        if self.catalogue().get(name).is_some() {
            return None;
        }
        let config = self.config();
        // Read-only first: adding a toolset would not make a write possible.
        if config.read_only && !tool.is_read_only() {
            return Some(format!(
                "Tool '{name}' changes Coda and this server runs in read-only mode."
            ));
        }
        let toolsets = self.toolsets();
        if !toolsets.offers(name) {
            let set = crate::tools::Toolset::of(name);
            return Some(format!(
                "Tool '{name}' is in the `{set}` toolset, which this server does not offer (it offers {toolsets}); start it with --toolsets {toolsets},{set} (or all), or add it in the dashboard's Setup view",
            ));
        }
        None
    }

    /// The tools on offer now (a cheap handle: the list is shared).
    pub fn catalogue(&self) -> Catalogue {
        self.inner.offer.read().expect("offer").0.clone()
    }

    /// The toolsets on offer now.
    pub fn toolsets(&self) -> crate::tools::Toolsets {
        self.inner.offer.read().expect("offer").1.clone()
    }

    /// Offers other toolsets from now on: the next `tools/list` of every session lists them,
    /// and every session that can be told is sent `notifications/tools/list_changed`.
    /// Returns whether anything changed.
    pub fn set_toolsets(&self, toolsets: crate::tools::Toolsets) -> bool {
        let mut offer = self.inner.offer.write().expect("offer");
        if offer.1 == toolsets {
            return false;
        }
        let catalogue = Catalogue::select(self.inner.config.read_only, &toolsets);
        tracing::info!(toolsets = %toolsets, tools = catalogue.iter().count(), "the tools on offer changed");
        *offer = (catalogue, toolsets);
        drop(offer);
        self.inner.tools_changed.send_modify(|n| *n += 1);
        true
    }

    /// How many sessions are waiting to be told of a change of the tools on offer (each
    /// session's watcher ends with the session).
    pub fn tool_watchers(&self) -> usize {
        self.inner.tools_changed.receiver_count()
    }

    /// A receiver that wakes whenever the tools on offer change.
    pub fn watch_tools(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.tools_changed.subscribe()
    }

    /// The owner's headroom per rate class now, by the names the dashboard uses.
    pub async fn headroom_now(&self) -> Vec<(&'static str, crate::metrics::Headroom)> {
        let coda = self.coda();
        let mut out = Vec::new();
        for (name, class) in HEADROOM_CLASSES {
            let (limit, _) = self.inner.config.rate_limits.get(class);
            out.push((
                name,
                crate::metrics::Headroom {
                    free: coda.pacer().headroom(class).await,
                    limit,
                },
            ));
        }
        out
    }

    /// Records the headroom now in the last hour's history (the server's sampler calls this).
    pub async fn sample_headroom(&self) {
        let now = self.headroom_now().await;
        self.inner.headroom.record(chrono::Utc::now(), now);
    }

    /// The last hour's headroom, a minute at a time.
    pub fn headroom_history(&self) -> Vec<crate::metrics::HeadroomMinute> {
        self.inner.headroom.minutes()
    }

    /// The cached Coda health.
    pub fn health(&self) -> &HealthCache {
        &self.inner.health
    }

    /// The public address (fixed or the tunnel's), shared with the HTTP layer.
    pub fn public(&self) -> &PublicAddress {
        &self.inner.public
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
            ..ExecOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_through_clients_are_kept_least_recently_used_first() {
        let engine = Engine::new(EngineConfig::default()).unwrap();
        let pacer = |token: &str| {
            let client = engine.coda_for_token(&Secret::new(token));
            client.pacer() as *const crate::coda::Pacer as usize
        };
        let regular = pacer("pat_regular-caller-000000000000");
        for i in 0..GUEST_CLIENTS * 2 {
            pacer(&format!("pat_flood-{i}-0000000000000000"));
            // The regular caller keeps calling, so it stays among the most recent.
            if i % 100 == 0 {
                assert_eq!(pacer("pat_regular-caller-000000000000"), regular);
            }
        }
        assert_eq!(
            pacer("pat_regular-caller-000000000000"),
            regular,
            "a flood of new tokens never resets a caller in use (its pacer is kept)"
        );
        assert!(engine.inner.guests.lock().unwrap().len() <= GUEST_CLIENTS);
    }

    #[test]
    fn defaults_keep_the_promises_made_to_clients() {
        let c = EngineConfig::default();
        // SSE streams carry a `:keep-alive` comment at least every 15 s.
        assert!(c.sse_keep_alive <= Duration::from_secs(15));
        // ChatGPT's limit on a result, and Coda's limits per rate class.
        assert_eq!(c.output_budget, 100_000);
        assert_eq!(c.session_idle_timeout, Duration::from_secs(300));
        assert_eq!(c.max_sessions, 1_000);
        assert!(c.pass_through && !c.no_auth && !c.read_only);
        assert!(c.connection_key.expose().starts_with("cmk_"));
    }
}
