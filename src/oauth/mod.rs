//! The app as its own OAuth 2.1 authorization server, so that ChatGPT's and Claude's
//! connectors — which speak OAuth, not our static key — can connect, with the owner's
//! approval. The protocol's state lives here; `http::oauth` serves it.
//!
//! - Clients register (RFC 7591; bounded and rate-limited) or are known by the URL of their
//!   client ID metadata document (fetched with SSRF defences, `cimd`).
//! - Authorization code with PKCE (S256 only), exact `redirect_uri` match, `state` passed
//!   back, `resource` (RFC 8707) required to be this server's `/mcp` and bound into the grant.
//! - The owner approves each request: on the consent page with the connection key, or from
//!   the dashboard with the code that page shows (`pending`); the answer goes only to the
//!   browser the page was served to.
//! - What strangers can make it do is shared per client network (`crate::netshare`):
//!   registrations, consent requests, token and revocation requests, kept clients.
//! - Opaque tokens, kept as hashes (`store`): access one hour, refresh 30 days, rotated, a
//!   reused refresh token revokes its grant.

pub mod cimd;
pub mod known;
pub mod pending;
mod redirect;
pub mod store;

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use pending::{By, Pending, Refused, Status, Undecided, PENDING_TTL};
pub use redirect::redirect_uri_allowed;
pub use store::{Access, Client, GrantRow, OAuthStore, RefreshError, StoreError, Tokens};

use crate::caller::{SCOPE_READ, SCOPE_WRITE};
use crate::coda::Secret;
use crate::netshare::{Limit, WindowCounts};

/// The database's file name in the data directory.
pub const DATABASE: &str = "oauth.sqlite3";

/// How long an authorization code may be exchanged.
const CODE_TTL: Duration = Duration::from_secs(60);
/// Most unexchanged codes at once.
const MAX_CODES: usize = 1_000;
/// How long a token's verdict is trusted without asking the database (a revocation from
/// another process — `coda-mcp oauth revoke` — takes effect within this).
const ACCESS_CACHE_TTL: Duration = Duration::from_secs(10);
/// How often stored state is pruned while the server runs.
pub const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// Client networks (and /48s) remembered per rate limit.
const LIMIT_TABLE: usize = 10_000;
/// Refreshes one client may make per minute (ChatGPT and Claude refresh about hourly).
const REFRESHES_PER_MINUTE: usize = 20;

/// What a client network is counted for, each with its own limit per minute (an IPv6 /48
/// has five times a network's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Limited {
    /// `POST /oauth/register`: 10.
    Registration,
    /// `GET /oauth/authorize` (consent pages, and the metadata documents they fetch): 30.
    Request,
    /// `POST /oauth/token`: 60.
    Token,
    /// `POST /oauth/revoke`: 30.
    Revoke,
}

impl Limited {
    const ALL: [Limited; 4] = [
        Limited::Registration,
        Limited::Request,
        Limited::Token,
        Limited::Revoke,
    ];

    /// The limit.
    pub const fn limit(self) -> Limit {
        let per_minute = match self {
            Limited::Registration => 10,
            Limited::Request => 30,
            Limited::Token => 60,
            Limited::Revoke => 30,
        };
        Limit::per(per_minute, Duration::from_secs(60))
    }
}

/// The scopes a client may ask for.
pub const SCOPES: [&str; 2] = [SCOPE_READ, SCOPE_WRITE];

/// An issued authorization code, until exchanged.
struct Code {
    client: Client,
    redirect_uri: String,
    redirect_host: String,
    challenge: String,
    scope: String,
    resource: String,
    expires: Instant,
}

/// Why a token request was refused (RFC 6749 §5.2).
#[derive(Debug, PartialEq, Eq)]
pub struct TokenError {
    /// The error code (`invalid_grant`, `invalid_client`, …).
    pub code: &'static str,
    /// What was wrong, for the developer.
    pub description: String,
}

fn token_error(code: &'static str, description: impl Into<String>) -> TokenError {
    TokenError {
        code,
        description: description.into(),
    }
}

/// What a token was found to stand for (nothing, if invalid), and when that was looked up.
type Verdict = (Option<Access>, Instant);

/// The authorization server's state.
pub struct OAuth {
    store: OAuthStore,
    codes: Mutex<HashMap<[u8; 32], Code>>,
    pending: pending::Waiting,
    access_cache: Mutex<lru::LruCache<[u8; 32], Verdict>>,
    limits: HashMap<Limited, WindowCounts>,
    refreshes: Mutex<lru::LruCache<String, VecDeque<Instant>>>,
    /// Client metadata documents fetched (and cached).
    pub cimd: cimd::Fetcher,
}

/// `base64url(SHA-256(verifier))`, the S256 PKCE transform.
pub fn s256(verifier: &str) -> String {
    crate::secrets::base64url(&Secret::new(verifier).digest())
}

/// Whether `verifier` is a valid PKCE code verifier (RFC 7636 §4.1).
fn valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The scopes in `scope` (space-separated), or an error naming an unknown one. No scope
/// asks for everything (ChatGPT reconnects without one).
pub fn parse_scope(scope: Option<&str>) -> Result<Vec<String>, String> {
    let asked: Vec<&str> = scope
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if asked.is_empty() {
        return Ok(SCOPES.iter().map(|s| (*s).to_owned()).collect());
    }
    let mut scopes = Vec::new();
    for s in asked {
        if !SCOPES.contains(&s) {
            return Err(format!(
                "unknown scope '{s}' (this server offers {})",
                SCOPES.join(", ")
            ));
        }
        if !scopes.iter().any(|k| k == s) {
            scopes.push(s.to_owned());
        }
    }
    // Writing includes reading.
    if scopes.iter().any(|s| s == SCOPE_WRITE) && !scopes.iter().any(|s| s == SCOPE_READ) {
        scopes.insert(0, SCOPE_READ.to_owned());
    }
    Ok(scopes)
}

impl OAuth {
    /// The authorization server over `store`.
    pub fn new(store: OAuthStore, cimd: cimd::Fetcher) -> Self {
        let lru = |n: usize| std::num::NonZeroUsize::new(n).expect("non-zero");
        OAuth {
            store,
            codes: Mutex::default(),
            pending: pending::Waiting::default(),
            access_cache: Mutex::new(lru::LruCache::new(lru(10_000))),
            limits: Limited::ALL
                .iter()
                .map(|l| (*l, WindowCounts::new(l.limit(), LIMIT_TABLE)))
                .collect(),
            refreshes: Mutex::new(lru::LruCache::new(lru(10_000))),
            cimd,
        }
    }

    /// The database (grants, clients).
    pub fn store(&self) -> &OAuthStore {
        &self.store
    }

    /// Takes one of `from`'s network's requests of this kind for this minute; `Err(wait)`
    /// when they are spent.
    pub fn allow(&self, what: Limited, from: IpAddr) -> Result<(), Duration> {
        self.limits[&what].take(from)
    }

    /// Keeps a consent request for the owner: the request (with its id and code) and the
    /// secret the consent page's browser gets as a cookie.
    pub fn add_pending(&self, request: Pending) -> Result<(Pending, Secret), Refused> {
        self.pending.add(request)
    }

    /// The consent request `id`, while it waits (or was just decided).
    pub fn pending(&self, id: &str) -> Option<Pending> {
        self.pending.get(id)
    }

    /// Every consent request still waiting for the owner.
    pub fn waiting(&self) -> Vec<Pending> {
        self.pending.waiting()
    }

    /// What the consent page's browser (holding `page_secret`, or not) learns of `id`.
    pub fn status(&self, id: &str, page_secret: Option<&str>) -> Status {
        self.pending.status(id, page_secret)
    }

    /// The owner's answer to request `id`, given `by` the consent page or the dashboard: with
    /// `allow`, a code for the scopes the owner kept (`write` may drop `coda:write`);
    /// otherwise `access_denied`. Returns the request as decided (`decided` is where its
    /// browser goes).
    pub fn decide(
        &self,
        id: &str,
        by: By<'_>,
        allow: bool,
        write: bool,
    ) -> Result<Pending, Undecided> {
        self.pending.decide(id, by, allow, |request, allow| {
            let mut answer = url::Url::parse(&request.redirect_uri).ok()?;
            {
                let mut query = answer.query_pairs_mut();
                if allow {
                    let scopes: Vec<&str> = request
                        .scopes
                        .iter()
                        .map(String::as_str)
                        .filter(|s| write || *s != SCOPE_WRITE)
                        .collect();
                    let code = crate::secrets::random_token("cmc_");
                    let mut codes = self.codes.lock().expect("codes");
                    codes.retain(|_, c| c.expires > Instant::now());
                    if codes.len() >= MAX_CODES {
                        return None;
                    }
                    codes.insert(
                        code.digest(),
                        Code {
                            client: request.client.clone(),
                            redirect_uri: request.redirect_uri.clone(),
                            redirect_host: request.redirect_host(),
                            challenge: request.challenge.clone(),
                            scope: scopes.join(" "),
                            resource: request.resource.clone(),
                            expires: Instant::now() + CODE_TTL,
                        },
                    );
                    query.append_pair("code", code.expose());
                } else {
                    query.append_pair("error", "access_denied");
                    query.append_pair(
                        "error_description",
                        "The owner of this Coda MCP server did not allow the connection",
                    );
                }
                if let Some(state) = &request.state {
                    query.append_pair("state", state);
                }
                query.append_pair("iss", &request.issuer);
            }
            Some(answer.to_string())
        })
    }

    /// Forgets what has expired: codes, consent requests, and in the database expired
    /// tokens and unused registrations. Run on a timer ([`PRUNE_EVERY`]).
    pub fn prune(&self) -> Result<(), StoreError> {
        self.codes
            .lock()
            .expect("codes")
            .retain(|_, c| c.expires > Instant::now());
        self.pending.prune();
        self.store.prune()
    }

    /// The `authorization_code` grant: the code (once), the same client and redirect URI,
    /// the PKCE verifier, and — when given — the same resource.
    pub fn exchange_code(
        &self,
        code: &str,
        client_id: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
        resource: Option<&str>,
    ) -> Result<Tokens, TokenError> {
        let entry = self
            .codes
            .lock()
            .expect("codes")
            .remove(&Secret::new(code).digest());
        let Some(entry) = entry else {
            return Err(token_error(
                "invalid_grant",
                "the authorization code is unknown, expired or already used",
            ));
        };
        if entry.expires < Instant::now() {
            return Err(token_error(
                "invalid_grant",
                "the authorization code expired",
            ));
        }
        if entry.client.id != client_id {
            return Err(token_error(
                "invalid_grant",
                "the authorization code was issued to another client",
            ));
        }
        if redirect_uri.is_some_and(|r| r != entry.redirect_uri) {
            return Err(token_error(
                "invalid_grant",
                "redirect_uri differs from the one in the authorization request",
            ));
        }
        let Some(verifier) = verifier.filter(|v| valid_verifier(v)) else {
            return Err(token_error(
                "invalid_request",
                "code_verifier is required (PKCE, 43–128 characters)",
            ));
        };
        if s256(verifier) != entry.challenge {
            return Err(token_error(
                "invalid_grant",
                "code_verifier does not match the code_challenge",
            ));
        }
        if resource.is_some_and(|r| r.trim_end_matches('/') != entry.resource.trim_end_matches('/'))
        {
            return Err(token_error(
                "invalid_target",
                "resource differs from the one in the authorization request",
            ));
        }
        self.store
            .grant(
                &entry.client,
                &entry.redirect_host,
                &entry.scope,
                &entry.resource,
            )
            .map_err(|e| token_error("server_error", e.to_string()))
    }

    /// The `refresh_token` grant (rotating; a reused token revokes its grant), at most
    /// [`REFRESHES_PER_MINUTE`] per client.
    pub fn exchange_refresh(&self, token: &str, client_id: &str) -> Result<Tokens, TokenError> {
        {
            let mut all = self.refreshes.lock().expect("refreshes");
            let recent = all.get_or_insert_mut(client_id.to_owned(), VecDeque::new);
            let now = Instant::now();
            while recent
                .front()
                .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
            {
                recent.pop_front();
            }
            if recent.len() >= REFRESHES_PER_MINUTE {
                return Err(token_error(
                    TOO_MANY_REFRESHES,
                    "too many refreshes for this client in the last minute; try again shortly",
                ));
            }
            recent.push_back(now);
        }
        match self.store.refresh(&Secret::new(token), client_id) {
            Ok(Ok(tokens)) => Ok(tokens),
            Ok(Err(RefreshError::Invalid)) => Err(token_error(
                "invalid_grant",
                "the refresh token is unknown, expired, revoked or another client's",
            )),
            Ok(Err(RefreshError::Reused)) => {
                self.forget_cached();
                Err(token_error(
                    "invalid_grant",
                    "the refresh token was already used: the grant is revoked; connect again",
                ))
            }
            Err(e) => Err(token_error("server_error", e.to_string())),
        }
    }

    /// What a bearer stands for, if it is a valid access token (cached briefly).
    pub fn access(&self, token: &Secret) -> Option<Access> {
        if let Some(known) = self.cached(token) {
            return known;
        }
        let found = self.store.access(token).ok().flatten();
        self.access_cache
            .lock()
            .expect("access cache")
            .put(token.digest(), (found.clone(), Instant::now()));
        found
    }

    /// What `token` stood for a moment ago, if it was valid then: no database lookup.
    pub fn recently_valid(&self, token: &Secret) -> Option<Access> {
        self.cached(token).flatten()
    }

    fn cached(&self, token: &Secret) -> Option<Option<Access>> {
        let mut cache = self.access_cache.lock().expect("access cache");
        match cache.get(&token.digest()) {
            Some((known, at)) if at.elapsed() < ACCESS_CACHE_TTL => Some(known.clone()),
            _ => None,
        }
    }

    /// Forgets cached verdicts (after a revocation here).
    pub fn forget_cached(&self) {
        self.access_cache.lock().expect("access cache").clear();
    }

    /// Forgets the cached verdicts on `grant_id`'s tokens.
    fn forget_grant(&self, grant_id: &str) {
        let mut cache = self.access_cache.lock().expect("access cache");
        let stale: Vec<[u8; 32]> = cache
            .iter()
            .filter(|(_, (a, _))| a.as_ref().is_some_and(|a| a.grant.id == grant_id))
            .map(|(k, _)| *k)
            .collect();
        for key in stale {
            cache.pop(&key);
        }
    }

    /// Revokes a token (RFC 7009); true when it was one of ours (an unknown token changes
    /// nothing and forgets nothing).
    pub fn revoke_token(&self, token: &str) -> Result<bool, StoreError> {
        let secret = Secret::new(token);
        match self.store.revoke_token(&secret)? {
            Some(grant) => {
                self.access_cache
                    .lock()
                    .expect("access cache")
                    .pop(&secret.digest());
                self.forget_grant(&grant);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Revokes a grant (the dashboard's Revoke).
    pub fn revoke_grant(&self, grant_id: &str) -> Result<bool, StoreError> {
        let revoked = self.store.revoke_grant(grant_id)?;
        self.forget_grant(grant_id);
        Ok(revoked)
    }
}

/// The token error of a client refreshing too often (answered with 429).
pub const TOO_MANY_REFRESHES: &str = "too_many_requests";

#[cfg(test)]
mod tests {
    use super::*;

    fn oauth() -> OAuth {
        OAuth::new(OAuthStore::in_memory().unwrap(), cimd::Fetcher::default())
    }

    fn client() -> Client {
        Client {
            id: "c1".into(),
            kind: "registered".into(),
            name: "App".into(),
            redirect_uris: vec!["https://app.example/cb?x=1".into()],
            ..Client::default()
        }
    }

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    /// A consent request from 192.0.2.1, as the consent page's browser holds it.
    fn ask(o: &OAuth, state: Option<&str>, scopes: &[&str], resource: &str) -> (Pending, Secret) {
        o.add_pending(Pending::new(
            client(),
            "https://app.example/cb?x=1".into(),
            state.map(str::to_owned),
            s256(VERIFIER),
            scopes.iter().map(|s| (*s).to_owned()).collect(),
            resource.into(),
            "https://srv.example".into(),
            "192.0.2.1".parse().unwrap(),
            "test",
        ))
        .unwrap()
    }

    /// The page's browser answers (the HTTP layer has checked the key): where it goes.
    fn answer(o: &OAuth, p: &Pending, page: &Secret, allow: bool, write: bool) -> String {
        o.decide(&p.id, By::Page(page.expose()), allow, write)
            .unwrap()
            .decided
            .unwrap()
    }

    fn code_of(redirect: &str) -> String {
        url::Url::parse(redirect)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned()
    }

    #[test]
    fn s256_matches_rfc_7636s_example() {
        assert_eq!(
            s256(VERIFIER),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn scopes_are_known_and_writing_includes_reading() {
        assert_eq!(parse_scope(None).unwrap(), vec!["coda:read", "coda:write"]);
        assert_eq!(
            parse_scope(Some("coda:write")).unwrap(),
            vec!["coda:read", "coda:write"]
        );
        assert_eq!(
            parse_scope(Some("coda:read coda:read")).unwrap(),
            vec!["coda:read"]
        );
        assert!(parse_scope(Some("admin"))
            .unwrap_err()
            .contains("unknown scope 'admin'"));
    }

    #[test]
    fn a_code_is_exchanged_once_by_its_client_with_its_verifier() {
        let o = oauth();
        let both = ["coda:read", "coda:write"];
        let (p, page) = ask(&o, Some("st"), &both, "https://srv.example/mcp");
        let redirect = answer(&o, &p, &page, true, false);
        assert_eq!(
            o.decide(&p.id, By::Page(page.expose()), true, true)
                .unwrap_err(),
            Undecided::Answered,
            "decided once"
        );
        let url = url::Url::parse(&redirect).unwrap();
        let q: HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["x"], "1", "the redirect URI's own query is kept");
        assert_eq!(q["state"], "st");
        assert_eq!(q["iss"], "https://srv.example");
        let code = &q["code"];
        let wrong = "x".repeat(43);
        assert_eq!(
            o.exchange_code(code, "c1", None, Some(&wrong), None)
                .unwrap_err()
                .code,
            "invalid_grant"
        );
        // A failed attempt used the code up.
        assert!(o
            .exchange_code(code, "c1", None, Some(VERIFIER), None)
            .is_err());
        let (p, page) = ask(&o, None, &both, "https://srv.example/mcp");
        let code = code_of(&answer(&o, &p, &page, true, false));
        assert_eq!(
            o.exchange_code(&code, "other", None, Some(VERIFIER), None)
                .unwrap_err()
                .code,
            "invalid_grant"
        );
        let (p2, page2) = ask(&o, None, &both, "https://srv.example/mcp");
        let code = code_of(&answer(&o, &p2, &page2, true, false));
        let tokens = o
            .exchange_code(
                &code,
                "c1",
                Some("https://app.example/cb?x=1"),
                Some(VERIFIER),
                Some("https://srv.example/mcp"),
            )
            .unwrap();
        assert_eq!(tokens.scope, "coda:read", "the owner kept only reading");
        let access = o.access(&tokens.access).unwrap();
        assert!(!access.grant.write);
        assert!(o.recently_valid(&tokens.access).is_some(), "cached");
        // Revoking an unknown token changes nothing; revoking this one forgets it at once.
        assert!(!o.revoke_token("cmo_unknown").unwrap());
        assert!(o.recently_valid(&tokens.access).is_some());
        assert!(o.revoke_token(tokens.access.expose()).unwrap());
        assert!(o.recently_valid(&tokens.access).is_none());
        assert!(o.access(&tokens.access).is_none());
    }

    #[test]
    fn an_expired_code_is_refused() {
        let o = oauth();
        let (p, page) = ask(&o, None, &["coda:read"], "r");
        let code = code_of(&answer(&o, &p, &page, true, true));
        // Its minute passes.
        for c in o.codes.lock().unwrap().values_mut() {
            c.expires = Instant::now() - Duration::from_secs(1);
        }
        let err = o
            .exchange_code(&code, "c1", None, Some(VERIFIER), None)
            .unwrap_err();
        assert_eq!(err.code, "invalid_grant");
        assert!(err.description.contains("expired"), "{err:?}");
        o.prune().unwrap();
        assert!(o.codes.lock().unwrap().is_empty(), "pruned");
    }

    #[test]
    fn a_denial_says_access_denied() {
        let o = oauth();
        let (p, page) = ask(&o, Some("s"), &["coda:read"], "r");
        let redirect = answer(&o, &p, &page, false, false);
        assert!(redirect.contains("error=access_denied") && redirect.contains("state=s"));
        assert!(!redirect.contains("code="));
    }

    #[test]
    fn requests_are_rate_limited_per_network_and_kind() {
        let o = oauth();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..Limited::Registration.limit().per_network {
            assert!(o.allow(Limited::Registration, ip).is_ok());
        }
        assert!(o.allow(Limited::Registration, ip).is_err());
        assert!(o.allow(Limited::Request, ip).is_ok(), "counted apart");
        assert!(o
            .allow(Limited::Registration, "192.0.2.2".parse().unwrap())
            .is_ok());
    }

    #[test]
    fn refreshes_are_limited_per_client() {
        let o = oauth();
        let mut tokens = o
            .store()
            .grant(&client(), "app.example", "coda:read", "r")
            .unwrap();
        for _ in 0..REFRESHES_PER_MINUTE {
            tokens = o.exchange_refresh(tokens.refresh.expose(), "c1").unwrap();
        }
        let err = o
            .exchange_refresh(tokens.refresh.expose(), "c1")
            .unwrap_err();
        assert_eq!(err.code, TOO_MANY_REFRESHES);
        // The refused refresh spent nothing: the token works once the minute passes.
        o.refreshes.lock().unwrap().clear();
        assert!(o.exchange_refresh(tokens.refresh.expose(), "c1").is_ok());
    }
}
