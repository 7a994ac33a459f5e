//! Request bodies are read only once the request is known to be wanted.
//!
//! [`hold`] (outside every check) sets each request's body aside, so Host/Origin, the caller
//! and the limits are all decided from the headers alone. [`read`] (after the checks) reads
//! the body: within [`MAX_BODY_BYTES`], within [`BODY_TIMEOUT`], and within the caller's share
//! of a global budget of bytes held in request bodies ([`BodyBudget`]), so nobody can make
//! the server hold more than that however many connections they open.
//!
//! A request refused before its body was read (a foreign Host, no key, over its rate) must
//! not leave the connection in a state the client cannot see: hyper closes a connection
//! whose request body was not read, under a client that may be about to reuse it. So a
//! small rest (≤ [`DRAIN_BYTES`], the size of any real refused request) is read and
//! dropped before answering, keeping the connection usable; anything larger is not read at
//! all and the answer says `Connection: close`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;
use serde_json::Value;

use super::jsonrpc::jsonrpc_error;
use crate::caller::{Caller, Principal};

/// How long a client may take to send a whole request body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// A refused request's unread body up to this size is read (and dropped) so its connection
/// stays usable; a bigger one is not read and its connection is closed.
pub const DRAIN_BYTES: u64 = 64 * 1024;
/// How long draining a refused request's small body may take.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// An authenticated caller's over-limit body is read and dropped up to this size (so the
/// client sees the 413 rather than a reset connection); beyond it the connection is cut.
/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Largest body an OAuth endpoint reads (registrations and forms are a few hundred bytes).
pub const OAUTH_BODY_BYTES: usize = 64 * 1024;

const DISCARD_BYTES: u64 = 4 * MAX_BODY_BYTES as u64;

/// Bytes held in request bodies being read, by everyone together.
const BUDGET_TOTAL: usize = 64 * 1024 * 1024;
/// Of which callers other than the owner may hold at most this much together (the rest is
/// the owner's reserve) …
const BUDGET_GUESTS: usize = 48 * 1024 * 1024;
/// … and each one of them at most this much (two bodies of the largest size).
const BUDGET_PER_GUEST: usize = 2 * MAX_BODY_BYTES;
/// Unauthenticated bodies (the OAuth endpoints', at most 64 KiB each) are held per client
/// network: four of the largest from one network, sixteen from an IPv6 /48, 8 MiB in all —
/// so strangers waiting on half-sent bodies never keep another network's token exchange out.
const STRANGERS: crate::netshare::Shares = crate::netshare::Shares {
    per_network: 4 * OAUTH_BODY_BYTES,
    per_wide: 16 * OAUTH_BODY_BYTES,
    total: 8 * 1024 * 1024,
};

/// A request's body, set aside by [`hold`] until [`read`] takes it.
#[derive(Clone)]
struct Held(Arc<Mutex<Option<Body>>>);

impl Held {
    fn take(&self) -> Option<Body> {
        self.0.lock().expect("held body").take()
    }
}

/// The layer outside every check: sets the body aside, and settles it after the answer if
/// nothing read it.
pub async fn hold(req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    if body.is_end_stream() {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let held = Held(Arc::new(Mutex::new(Some(body))));
    parts.extensions.insert(held.clone());
    let response = next.run(Request::from_parts(parts, Body::empty())).await;
    match held.take() {
        None => response,
        Some(unread) => settle(unread, response).await,
    }
}

/// Answers a request whose body was never read: drains a small body (the connection stays
/// usable), or closes the connection under a large or endless one.
async fn settle(body: Body, mut response: Response) -> Response {
    let small = body.size_hint().upper().is_some_and(|n| n <= DRAIN_BYTES);
    if small {
        let drained = tokio::time::timeout(
            DRAIN_TIMEOUT,
            http_body_util::Limited::new(body, DRAIN_BYTES as usize).collect(),
        )
        .await;
        if matches!(drained, Ok(Ok(_))) {
            return response;
        }
    }
    close(&mut response);
    response
}

fn close(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
}

/// Request-body bytes held right now, in all, by guests together, and per guest.
#[derive(Default)]
struct Usage {
    total: usize,
    guests: usize,
    per_guest: HashMap<Principal, usize>,
    strangers: crate::netshare::Held,
}

/// How [`read`] reads: within the shared budget, and at most `limit` bytes for one body.
#[derive(Clone)]
pub struct Reader {
    budget: BodyBudget,
    limit: usize,
}

impl Reader {
    /// Reads bodies of at most `limit` bytes within `budget`.
    pub fn new(budget: BodyBudget, limit: usize) -> Self {
        Reader {
            budget,
            limit: limit.min(MAX_BODY_BYTES),
        }
    }
}

/// The global budget of bytes held in request bodies while they are read and handled:
/// [`BUDGET_TOTAL`] in all, of which guests (pass-through callers) may hold
/// [`BUDGET_GUESTS`] together and [`BUDGET_PER_GUEST`] each, so the owner always keeps a
/// reserve.
#[derive(Clone, Default)]
pub struct BodyBudget {
    usage: Arc<Mutex<Usage>>,
}

/// Bytes of the budget held for one request; given back when dropped.
struct Lease {
    budget: BodyBudget,
    principal: Principal,
    /// Where an unauthenticated caller came from (their bytes count toward its network).
    stranger: Option<std::net::IpAddr>,
    bytes: usize,
}

/// The budget has no room for more of this caller's bytes right now.
struct NoRoom;

impl BodyBudget {
    fn lease(&self, principal: Principal, from: std::net::IpAddr) -> Lease {
        Lease {
            budget: self.clone(),
            principal,
            stranger: (principal == Principal::Anonymous).then_some(from),
            bytes: 0,
        }
    }

    /// Bytes held right now (for tests).
    #[cfg(test)]
    fn held(&self) -> usize {
        self.usage.lock().expect("budget").total
    }
}

impl Lease {
    /// Takes `n` more bytes of the budget for this request.
    fn grow(&mut self, n: usize) -> Result<(), NoRoom> {
        let mut usage = self.budget.usage.lock().expect("budget");
        if usage.total + n > BUDGET_TOTAL {
            return Err(NoRoom);
        }
        if self.principal != Principal::Owner {
            let mine = usage.per_guest.get(&self.principal).copied().unwrap_or(0);
            if usage.guests + n > BUDGET_GUESTS
                || (self.stranger.is_none() && mine + n > BUDGET_PER_GUEST)
            {
                return Err(NoRoom);
            }
            if let Some(ip) = self.stranger {
                if !usage.strangers.take(&STRANGERS, ip, n) {
                    return Err(NoRoom);
                }
            }
            usage.guests += n;
            *usage.per_guest.entry(self.principal).or_default() += n;
        }
        usage.total += n;
        self.bytes += n;
        Ok(())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.bytes == 0 {
            return;
        }
        let mut usage = self.budget.usage.lock().expect("budget");
        usage.total -= self.bytes;
        if let Some(ip) = self.stranger {
            usage.strangers.give_back(ip, self.bytes);
        }
        if self.principal != Principal::Owner {
            usage.guests -= self.bytes;
            if let Some(mine) = usage.per_guest.get_mut(&self.principal) {
                *mine -= self.bytes;
                if *mine == 0 {
                    usage.per_guest.remove(&self.principal);
                }
            }
        }
    }
}

/// Why a body could not be read.
enum Unread {
    TooLarge,
    TimedOut,
    Busy,
    Broken(String),
}

/// Reads `body` into memory within the limit, the time and the lease.
async fn read_within(body: &mut Body, lease: &mut Lease, limit: usize) -> Result<Bytes, Unread> {
    if let Some(declared) = body.size_hint().exact() {
        if declared > limit as u64 {
            return Err(Unread::TooLarge);
        }
        // Known up front: take it all at once, so a request the budget cannot hold is
        // refused before a byte is read.
        lease
            .grow(declared as usize)
            .map_err(|NoRoom| Unread::Busy)?;
    }
    let reserved = lease.bytes;
    let reading = async {
        let mut buffer = Vec::with_capacity(reserved);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Unread::Broken(e.to_string()))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if buffer.len() + data.len() > limit {
                return Err(Unread::TooLarge);
            }
            let beyond = (buffer.len() + data.len()).saturating_sub(lease.bytes);
            if beyond > 0 {
                lease.grow(beyond).map_err(|NoRoom| Unread::Busy)?;
            }
            buffer.extend_from_slice(&data);
        }
        Ok(Bytes::from(buffer))
    };
    tokio::time::timeout(BODY_TIMEOUT, reading)
        .await
        .unwrap_or(Err(Unread::TimedOut))
}

/// Reads and drops the rest of an over-limit body (bounded in bytes and time), so the
/// client reads the 413 instead of meeting a connection closed mid-upload.
async fn discard(body: &mut Body) {
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
        let mut seen: u64 = 0;
        while let Some(Ok(frame)) = body.frame().await {
            seen += frame.data_ref().map_or(0, |d| d.len() as u64);
            if seen > DISCARD_BYTES {
                break;
            }
        }
    })
    .await;
}

/// The layer after the checks: reads the held body for the handler (a JSON-RPC error on
/// `/mcp`, the actions' error shape elsewhere, when it cannot).
pub async fn read(State(reader): State<Reader>, req: Request, next: Next) -> Response {
    let Reader { budget, limit } = reader;
    let Some(held) = req.extensions().get::<Held>().cloned() else {
        return next.run(req).await;
    };
    let Some(mut body) = held.take() else {
        return next.run(req).await;
    };
    let principal = req
        .extensions()
        .get::<Caller>()
        .map(Caller::principal)
        // Unauthenticated routes (OAuth) read within the strangers' share.
        .unwrap_or(Principal::Anonymous);
    let mcp = req.uri().path() == "/mcp";
    let from = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    let (parts, _) = req.into_parts();
    let mut lease = budget.lease(principal, from);
    let unread = match read_within(&mut body, &mut lease, limit).await {
        Ok(bytes) => {
            // The lease lasts until the answer is ready: the bytes are handled until then.
            let response = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            drop(lease);
            return response;
        }
        Err(unread) => unread,
    };
    drop(lease);
    if matches!(unread, Unread::TooLarge) {
        discard(&mut body).await;
    }
    let (status, code, message) = match unread {
        Unread::TooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            if limit >= 1 << 20 {
                format!("Request body exceeds the {} MiB limit", limit >> 20)
            } else {
                format!("Request body exceeds the {} KiB limit", limit >> 10)
            },
        ),
        Unread::TimedOut => (
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "The request body did not arrive within {} s",
                BODY_TIMEOUT.as_secs()
            ),
        ),
        Unread::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "The server is holding as many request bodies as it allows for this caller (or, unauthenticated, this network) right now; retry in a moment".to_owned(),
        ),
        Unread::Broken(e) => (
            StatusCode::BAD_REQUEST,
            "bad_body",
            format!("Could not read the request body: {e}"),
        ),
    };
    let mut response = if mcp {
        let rpc_code = match status {
            StatusCode::BAD_REQUEST => -32700,
            StatusCode::PAYLOAD_TOO_LARGE => -32600,
            _ => -32000,
        };
        jsonrpc_error(status, Value::Null, rpc_code, message)
    } else {
        super::answer::error(status, code, message)
    };
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    // What was not read of the body is not read now (the reader gave up, or it is too
    // big to want), so the connection cannot carry another request: say so.
    close(&mut response);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guests_share_the_budget_and_the_owner_keeps_a_reserve() {
        let budget = BodyBudget::default();
        let guest = |n: u8| Principal::Token([n; 32]);
        let here = std::net::IpAddr::from([127, 0, 0, 1]);
        let mut one = budget.lease(guest(1), here);
        one.grow(BUDGET_PER_GUEST)
            .ok()
            .expect("a guest's own share");
        assert!(one.grow(1).is_err(), "no more than its share");
        // Other guests fill what guests may hold together.
        let mut others = Vec::new();
        for n in 2.. {
            let mut lease = budget.lease(guest(n), here);
            if lease.grow(BUDGET_PER_GUEST).is_err() {
                break;
            }
            others.push(lease);
        }
        assert_eq!(budget.held(), BUDGET_GUESTS);
        // The owner still has its reserve.
        let mut owner = budget.lease(Principal::Owner, here);
        owner
            .grow(BUDGET_TOTAL - BUDGET_GUESTS)
            .ok()
            .expect("the owner's reserve");
        assert!(owner.grow(1).is_err(), "the total is the total");
        drop((one, others, owner));
        assert_eq!(budget.held(), 0, "every byte given back");
    }

    #[test]
    fn strangers_are_held_per_network() {
        let budget = BodyBudget::default();
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let oauth_body = super::OAUTH_BODY_BYTES;
        let mut flooder = Vec::new();
        for _ in 0..130 {
            let mut lease = budget.lease(Principal::Anonymous, ip("192.0.2.66"));
            if lease.grow(oauth_body).is_ok() {
                flooder.push(lease);
            }
        }
        assert_eq!(flooder.len(), 4, "one network holds four bodies");
        let mut other = budget.lease(Principal::Anonymous, ip("198.51.100.1"));
        other
            .grow(oauth_body)
            .ok()
            .expect("another network is not kept out");
        // The /64s of one /48 share its allowance.
        let mut v6 = Vec::new();
        for i in 0..100 {
            let mut lease = budget.lease(Principal::Anonymous, ip(&format!("2001:db8:4:{i:x}::1")));
            if lease.grow(oauth_body).is_ok() {
                v6.push(lease);
            }
        }
        assert_eq!(v6.len(), 16);
        drop((flooder, other, v6));
        assert_eq!(budget.held(), 0);
    }
}
