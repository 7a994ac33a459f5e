//! The app as its own OAuth 2.1 authorization server, so that ChatGPT's and Claude's
//! connectors — which speak OAuth, not our static key — can connect, with the owner's
//! approval. The protocol's state lives here; `http::oauth` serves it.
//!
//! - Clients register (RFC 7591; bounded and rate-limited) or are known by the URL of their
//!   client ID metadata document (fetched with SSRF defences, `cimd`).
//! - Authorization code with PKCE (S256 only), exact `redirect_uri` match, `state` passed
//!   back, `resource` (RFC 8707) required to be this server's `/mcp` and bound into the grant.
//! - The owner approves each request: on the consent page with the connection key, or from
//!   the dashboard while it is open ([`OAuth::pending`]).
//! - Opaque tokens, kept as hashes (`store`): access one hour, refresh 30 days, rotated, a
//!   reused refresh token revokes its grant.

pub mod cimd;
mod redirect;
pub mod store;

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use redirect::redirect_uri_allowed;
pub use store::{Access, Client, GrantRow, OAuthStore, RefreshError, StoreError, Tokens};

use crate::caller::{SCOPE_READ, SCOPE_WRITE};
use crate::coda::Secret;

/// The database's file name in the data directory.
pub const DATABASE: &str = "oauth.sqlite3";

/// How long an authorization code may be exchanged.
const CODE_TTL: Duration = Duration::from_secs(60);
/// How long a consent request waits for the owner.
pub const PENDING_TTL: Duration = Duration::from_secs(600);
/// Most consent requests waiting at once (older ones are dropped first).
const MAX_PENDING: usize = 100;
/// Most unexchanged codes at once.
const MAX_CODES: usize = 1_000;
/// How long a token's verdict is trusted without asking the database (a revocation from
/// another process — `coda-mcp oauth revoke` — takes effect within this).
const ACCESS_CACHE_TTL: Duration = Duration::from_secs(10);
/// Registrations allowed per client network per minute.
const REGISTRATIONS_PER_MINUTE: usize = 10;
/// Authorization requests (consent pages) allowed per client network per minute, so nobody
/// can push the owner's own request out of the waiting list.
const REQUESTS_PER_MINUTE: usize = 30;

/// What a client network is counted for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Limited {
    /// `POST /oauth/register`.
    Registration,
    /// `GET /oauth/authorize`.
    Request,
}

/// The scopes a client may ask for.
pub const SCOPES: [&str; 2] = [SCOPE_READ, SCOPE_WRITE];

/// A consent request waiting for the owner.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Its id (random; the consent page and the dashboard refer to it).
    pub id: String,
    /// The client asking.
    pub client: Client,
    /// Where the answer goes (validated against the client's).
    pub redirect_uri: String,
    /// The client's `state`, passed back.
    pub state: Option<String>,
    /// The PKCE challenge (S256).
    pub challenge: String,
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// The resource the tokens will be for.
    pub resource: String,
    /// The issuer the answer names (`iss`).
    pub issuer: String,
    created: Instant,
    /// The owner's answer, once given: where to send the browser.
    pub decided: Option<String>,
}

impl Pending {
    /// The host of the redirect URI, shown large on the consent page.
    pub fn redirect_host(&self) -> String {
        url::Url::parse(&self.redirect_uri)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

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
    pending: Mutex<VecDeque<Pending>>,
    access_cache: Mutex<lru::LruCache<[u8; 32], Verdict>>,
    recent: Mutex<lru::LruCache<(Limited, IpAddr), VecDeque<Instant>>>,
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
        OAuth {
            store,
            codes: Mutex::default(),
            pending: Mutex::default(),
            access_cache: Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(10_000).expect("non-zero"),
            )),
            recent: Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(10_000).expect("non-zero"),
            )),
            cimd,
        }
    }

    /// The database (grants, clients).
    pub fn store(&self) -> &OAuthStore {
        &self.store
    }

    /// Takes one of `network`'s registrations or authorization requests for this minute;
    /// false when they are spent.
    pub fn allow(&self, what: Limited, network: IpAddr) -> bool {
        let limit = match what {
            Limited::Registration => REGISTRATIONS_PER_MINUTE,
            Limited::Request => REQUESTS_PER_MINUTE,
        };
        let mut all = self.recent.lock().expect("recent requests");
        let recent = all.get_or_insert_mut((what, network), VecDeque::new);
        let now = Instant::now();
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(60))
        {
            recent.pop_front();
        }
        if recent.len() >= limit {
            return false;
        }
        recent.push_back(now);
        true
    }

    /// Keeps a consent request for the owner; returns its id.
    pub fn add_pending(&self, mut request: Pending) -> Pending {
        request.id = crate::secrets::random_token("req_").expose().to_owned();
        request.created = Instant::now();
        let mut pending = self.pending.lock().expect("pending");
        pending.retain(|p| p.created.elapsed() < PENDING_TTL);
        while pending.len() >= MAX_PENDING {
            pending.pop_front();
        }
        pending.push_back(request.clone());
        request
    }

    /// A new consent request (its id and time are set by [`OAuth::add_pending`]).
    #[allow(clippy::too_many_arguments)]
    pub fn request(
        client: Client,
        redirect_uri: String,
        state: Option<String>,
        challenge: String,
        scopes: Vec<String>,
        resource: String,
        issuer: String,
    ) -> Pending {
        Pending {
            id: String::new(),
            client,
            redirect_uri,
            state,
            challenge,
            scopes,
            resource,
            issuer,
            created: Instant::now(),
            decided: None,
        }
    }

    /// The consent request `id`, while it waits (or was just decided).
    pub fn pending(&self, id: &str) -> Option<Pending> {
        let pending = self.pending.lock().expect("pending");
        pending
            .iter()
            .find(|p| p.id == id && p.created.elapsed() < PENDING_TTL)
            .cloned()
    }

    /// Every consent request still waiting for the owner.
    pub fn waiting(&self) -> Vec<Pending> {
        let pending = self.pending.lock().expect("pending");
        pending
            .iter()
            .filter(|p| p.decided.is_none() && p.created.elapsed() < PENDING_TTL)
            .cloned()
            .collect()
    }

    /// The owner's answer to request `id`: with `allow`, a code for the scopes the owner
    /// kept (`write` may drop `coda:write`); otherwise `access_denied`. Returns where the
    /// browser goes, or `None` if there is no such waiting request.
    pub fn decide(&self, id: &str, allow: bool, write: bool) -> Option<String> {
        let mut pending = self.pending.lock().expect("pending");
        let request = pending
            .iter_mut()
            .find(|p| p.id == id && p.created.elapsed() < PENDING_TTL && p.decided.is_none())?;
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
        request.decided = Some(answer.to_string());
        request.decided.clone()
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

    /// The `refresh_token` grant (rotating; a reused token revokes its grant).
    pub fn exchange_refresh(&self, token: &str, client_id: &str) -> Result<Tokens, TokenError> {
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
        let key = token.digest();
        if let Some((known, at)) = self.access_cache.lock().expect("access cache").get(&key) {
            if at.elapsed() < ACCESS_CACHE_TTL {
                return known.clone();
            }
        }
        let found = self.store.access(token).ok().flatten();
        self.access_cache
            .lock()
            .expect("access cache")
            .put(key, (found.clone(), Instant::now()));
        found
    }

    /// Forgets cached verdicts (after a revocation here).
    pub fn forget_cached(&self) {
        self.access_cache.lock().expect("access cache").clear();
    }

    /// Revokes a token (RFC 7009).
    pub fn revoke_token(&self, token: &str) -> Result<(), StoreError> {
        self.store.revoke_token(&Secret::new(token))?;
        self.forget_cached();
        Ok(())
    }

    /// Revokes a grant (the dashboard's Revoke).
    pub fn revoke_grant(&self, grant_id: &str) -> Result<bool, StoreError> {
        let revoked = self.store.revoke_grant(grant_id)?;
        self.forget_cached();
        Ok(revoked)
    }
}

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
        }
    }

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

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
        let p = o.add_pending(OAuth::request(
            client(),
            "https://app.example/cb?x=1".into(),
            Some("st".into()),
            s256(VERIFIER),
            vec!["coda:read".into(), "coda:write".into()],
            "https://srv.example/mcp".into(),
            "https://srv.example".into(),
        ));
        let redirect = o.decide(&p.id, true, false).unwrap();
        assert!(o.decide(&p.id, true, true).is_none(), "decided once");
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
        let p = o.add_pending(OAuth::request(
            client(),
            "https://app.example/cb?x=1".into(),
            None,
            s256(VERIFIER),
            vec!["coda:read".into(), "coda:write".into()],
            "https://srv.example/mcp".into(),
            "https://srv.example".into(),
        ));
        let redirect = o.decide(&p.id, true, false).unwrap();
        let code = url::Url::parse(&redirect)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
        assert_eq!(
            o.exchange_code(&code, "other", None, Some(VERIFIER), None)
                .unwrap_err()
                .code,
            "invalid_grant"
        );
        let p2 = o.add_pending(OAuth::request(
            client(),
            "https://app.example/cb?x=1".into(),
            None,
            s256(VERIFIER),
            vec!["coda:read".into(), "coda:write".into()],
            "https://srv.example/mcp".into(),
            "https://srv.example".into(),
        ));
        let code = url::Url::parse(&o.decide(&p2.id, true, false).unwrap())
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
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
    }

    #[test]
    fn an_expired_code_is_refused() {
        let o = oauth();
        let p = o.add_pending(OAuth::request(
            client(),
            "https://app.example/cb?x=1".into(),
            None,
            s256(VERIFIER),
            vec!["coda:read".into()],
            "r".into(),
            "https://srv.example".into(),
        ));
        let redirect = o.decide(&p.id, true, true).unwrap();
        let code = url::Url::parse(&redirect)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
        // Its minute passes.
        for c in o.codes.lock().unwrap().values_mut() {
            c.expires = Instant::now() - Duration::from_secs(1);
        }
        let err = o
            .exchange_code(&code, "c1", None, Some(VERIFIER), None)
            .unwrap_err();
        assert_eq!(err.code, "invalid_grant");
        assert!(err.description.contains("expired"), "{err:?}");
    }

    #[test]
    fn a_denial_says_access_denied() {
        let o = oauth();
        let p = o.add_pending(OAuth::request(
            client(),
            "https://app.example/cb?x=1".into(),
            Some("s".into()),
            s256(VERIFIER),
            vec!["coda:read".into()],
            "r".into(),
            "https://srv.example".into(),
        ));
        let redirect = o.decide(&p.id, false, false).unwrap();
        assert!(redirect.contains("error=access_denied") && redirect.contains("state=s"));
        assert!(!redirect.contains("code="));
    }

    #[test]
    fn registrations_are_rate_limited_per_network() {
        let o = oauth();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..REGISTRATIONS_PER_MINUTE {
            assert!(o.allow(Limited::Registration, ip));
        }
        assert!(!o.allow(Limited::Registration, ip));
        assert!(o.allow(Limited::Request, ip), "counted apart");
        assert!(o.allow(Limited::Registration, "192.0.2.2".parse().unwrap()));
    }
}
