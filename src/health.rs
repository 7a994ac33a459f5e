//! A cached view of whether Coda is reachable and the token accepted, so `/health` never
//! costs an upstream call per request.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::coda::{CodaClient, CodaError, CodaRequest};

/// The last Coda check.
#[derive(Debug, Clone, Serialize)]
pub struct CodaHealth {
    /// Coda answered at all.
    pub reachable: bool,
    /// Coda accepted the token (`/whoami` answered 200).
    pub authenticated: bool,
    /// When the check ran (`null` before the first one).
    pub checked_at: Option<DateTime<Utc>>,
    /// The account's name, when authenticated. Kept out of the public `/health`.
    #[serde(skip)]
    pub account: Option<String>,
    /// What went wrong, when something did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The cache: one check per TTL at most, refreshed in the background.
#[derive(Debug)]
pub struct HealthCache {
    ttl: Duration,
    state: Mutex<(CodaHealth, Option<Instant>, bool)>,
}

impl HealthCache {
    /// An empty cache whose results stay fresh for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        let empty = CodaHealth {
            reachable: false,
            authenticated: false,
            checked_at: None,
            account: None,
            error: None,
        };
        HealthCache {
            ttl,
            state: Mutex::new((empty, None, false)),
        }
    }

    /// The last result, and whether a refresh is due (and now claimed by the caller).
    pub fn snapshot(&self) -> (CodaHealth, bool) {
        let mut state = self.state.lock().expect("health");
        let stale = state.1.is_none_or(|t| t.elapsed() >= self.ttl);
        let claim = stale && !state.2;
        if claim {
            state.2 = true;
        }
        (state.0.clone(), claim)
    }

    /// Marks the last result stale (the token changed), so the next look refreshes it.
    pub fn invalidate(&self) {
        self.state.lock().expect("health").1 = None;
    }

    /// Runs one check against `/whoami` and stores it.
    pub async fn refresh(&self, client: &CodaClient) -> CodaHealth {
        let result = client.send(&CodaRequest::get("/whoami")).await;
        let health = match result {
            Ok(resp) => CodaHealth {
                reachable: true,
                authenticated: true,
                checked_at: Some(Utc::now()),
                account: resp.body["name"].as_str().map(str::to_owned),
                error: None,
            },
            Err(e) => CodaHealth {
                reachable: e.status().is_some(),
                authenticated: false,
                checked_at: Some(Utc::now()),
                account: None,
                error: Some(match e {
                    CodaError::NoToken => "no Coda token configured".to_owned(),
                    other => other.to_string(),
                }),
            },
        };
        let mut state = self.state.lock().expect("health");
        *state = (health.clone(), Some(Instant::now()), false);
        health
    }
}
