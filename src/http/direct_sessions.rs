//! The direct-call flow's sessions and the results they hold for their streams: each session
//! belongs to the caller that created it (keyed by principal and id, so a name is only ever
//! the caller's own); results are kept as the bytes that were answered, within byte budgets
//! (per guest, for all guests, for the owner; oldest dropped first), expire after
//! [`RESULT_TTL`] when no stream collects them, and go back to the queue when a stream ends
//! before writing them.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use tokio::sync::mpsc;

use crate::caller::Principal;

/// Results kept for a session until its stream is opened.
const PENDING: usize = 64;
/// Results on their way to an open stream before the reader is considered gone.
const STREAM_BUFFER: usize = 16;
/// A result no stream collected within this long is dropped (it was answered to its POST).
const RESULT_TTL: Duration = Duration::from_secs(120);
/// Bytes of results held for one guest (pass-through caller), for all guests together, and
/// for the owner — kept or on their way to a stream.
const QUEUE_PER_GUEST: usize = 8 * 1024 * 1024;
const QUEUE_GUESTS: usize = 48 * 1024 * 1024;
const QUEUE_OWNER: usize = 32 * 1024 * 1024;
/// A result waiting for its session's stream: the JSON-RPC message, serialised once.
struct Queued {
    message: Bytes,
    at: Instant,
}

struct DirectSession {
    /// The client chose the id (the flow's step 4) rather than the server.
    client_named: bool,
    pending: VecDeque<Queued>,
    live: Option<mpsc::Sender<Bytes>>,
    last: Instant,
}

/// A session is its creator's: the same name from two callers is two sessions.
type Key = (Principal, String);

/// The sessions and the bytes their results hold.
#[derive(Default)]
struct Table {
    sessions: HashMap<Key, DirectSession>,
    /// Result bytes held (kept, or sent to a stream and not yet taken) per caller.
    held: HashMap<Principal, usize>,
    /// Of which guests hold together.
    guests_held: usize,
}

impl Table {
    fn cap(&self, principal: Principal) -> bool {
        let mine = self.held.get(&principal).copied().unwrap_or(0);
        match principal {
            Principal::Owner => mine <= QUEUE_OWNER,
            Principal::Token(_) | Principal::Grant(_) | Principal::Anonymous => {
                mine <= QUEUE_PER_GUEST && self.guests_held <= QUEUE_GUESTS
            }
        }
    }

    fn add(&mut self, principal: Principal, n: usize) {
        *self.held.entry(principal).or_default() += n;
        if principal != Principal::Owner {
            self.guests_held += n;
        }
    }

    fn release(&mut self, principal: Principal, n: usize) {
        if let Some(mine) = self.held.get_mut(&principal) {
            *mine = mine.saturating_sub(n);
            if *mine == 0 {
                self.held.remove(&principal);
            }
        }
        if principal != Principal::Owner {
            self.guests_held = self.guests_held.saturating_sub(n);
        }
    }

    /// Drops `key`'s oldest kept results while it keeps more than [`PENDING`] or its caller
    /// holds more than its share.
    fn trim(&mut self, key: &Key) {
        loop {
            let over = self
                .sessions
                .get(key)
                .is_some_and(|s| s.pending.len() > PENDING);
            if !over && self.cap(key.0) {
                return;
            }
            let Some(dropped) = self
                .sessions
                .get_mut(key)
                .and_then(|s| s.pending.pop_front())
            else {
                return;
            };
            self.release(key.0, dropped.message.len());
        }
    }

    /// Forgets idle sessions (unless a stream is open) and results nobody collected in time.
    fn sweep(&mut self, idle: Duration) {
        let mut freed: Vec<(Principal, usize)> = Vec::new();
        self.sessions.retain(|(principal, _), s| {
            while s
                .pending
                .front()
                .is_some_and(|q| q.at.elapsed() > RESULT_TTL)
            {
                let q = s.pending.pop_front().expect("front");
                freed.push((*principal, q.message.len()));
            }
            let keep = s.last.elapsed() < idle || s.live.as_ref().is_some_and(|l| !l.is_closed());
            if !keep {
                freed.extend(s.pending.iter().map(|q| (*principal, q.message.len())));
            }
            keep
        });
        for (principal, n) in freed {
            self.release(principal, n);
        }
    }
}

/// Sessions of the direct-call flow, each bound to the caller that created it.
pub struct DirectSessions {
    table: Mutex<Table>,
    idle: Duration,
}

impl DirectSessions {
    /// Sessions that expire after `idle` without activity.
    pub fn new(idle: Duration) -> Self {
        DirectSessions {
            table: Mutex::default(),
            idle,
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        let mut table = self.table.lock().expect("direct sessions");
        table.sweep(self.idle);
        table
    }

    /// Live direct sessions.
    pub fn count(&self) -> usize {
        self.table().sessions.len()
    }

    /// Live direct sessions of `principal`'s, and of every caller but the owner.
    pub(crate) fn counts(&self, principal: Principal) -> (usize, usize) {
        let table = self.table();
        let mine = table.sessions.keys().filter(|k| k.0 == principal).count();
        let guests = table
            .sessions
            .keys()
            .filter(|k| k.0 != Principal::Owner)
            .count();
        (mine, guests)
    }

    /// Bytes of results held for every caller (kept, or on their way to a stream).
    pub fn held_bytes(&self) -> usize {
        self.table().held.values().sum()
    }

    /// Whether `principal` has the live session `id`, and if so whether the server issued its
    /// id (only those get a rate allowance of their own).
    pub(crate) fn server_issued(&self, principal: Principal, id: &str) -> Option<bool> {
        self.table()
            .sessions
            .get(&(principal, id.to_owned()))
            .map(|s| !s.client_named)
    }

    /// Ends `principal`'s session `id`; false if it has no such session.
    pub(crate) fn remove(&self, principal: Principal, id: &str) -> bool {
        let mut table = self.table();
        let Some(s) = table.sessions.remove(&(principal, id.to_owned())) else {
            return false;
        };
        let bytes: usize = s.pending.iter().map(|q| q.message.len()).sum();
        table.release(principal, bytes);
        true
    }

    /// Starts a session for `principal`, under the client's `name` or with an id the server
    /// issues; `Err` if the caller has a session of that name already. Whether the caller may
    /// open one at all is [`super::sessions::Sessions::admit`]'s to say, first.
    pub(crate) fn create(&self, principal: Principal, name: Option<&str>) -> Result<String, ()> {
        let mut table = self.table();
        let id = name.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        let key = (principal, id.clone());
        if table.sessions.contains_key(&key) {
            return Err(());
        }
        table.sessions.insert(
            key,
            DirectSession {
                client_named: name.is_some(),
                pending: VecDeque::new(),
                live: None,
                last: Instant::now(),
            },
        );
        Ok(id)
    }

    /// Marks `principal`'s session `id` active; false if it has no such session.
    pub(super) fn touch(&self, principal: Principal, id: &str) -> bool {
        match self.table().sessions.get_mut(&(principal, id.to_owned())) {
            Some(s) => {
                s.last = Instant::now();
                true
            }
            None => false,
        }
    }

    /// Delivers a result to the session's stream, or keeps it for when the stream opens —
    /// within the caller's share of result bytes: the oldest kept results go first, and a
    /// stream whose reader has let its share fill up is ended (it may reconnect).
    pub(super) fn deliver(&self, principal: Principal, id: &str, message: Bytes) {
        let mut table = self.table();
        let key = (principal, id.to_owned());
        if !table.sessions.contains_key(&key) {
            return;
        }
        table.add(principal, message.len());
        table.trim(&key);
        let over = !table.cap(principal);
        let s = table.sessions.get_mut(&key).expect("checked above");
        let keep = match s.live.as_ref() {
            Some(live) if !over => match live.try_send(message) {
                Ok(()) => None,
                Err(mpsc::error::TrySendError::Full(m))
                | Err(mpsc::error::TrySendError::Closed(m)) => {
                    // The reader stopped reading (or left): drop its stream, keep the result.
                    s.live = None;
                    Some(m)
                }
            },
            Some(_) => {
                s.live = None;
                Some(message)
            }
            None => Some(message),
        };
        if let Some(message) = keep {
            s.pending.push_back(Queued {
                message,
                at: Instant::now(),
            });
        }
        table.trim(&key);
    }

    /// Puts results a closed stream never sent back in front of the session's queue (they are
    /// older than anything queued since), within the same bounds.
    fn requeue(&self, principal: Principal, id: &str, unsent: Vec<Bytes>) {
        let mut table = self.table();
        let key = (principal, id.to_owned());
        let Some(s) = table.sessions.get_mut(&key) else {
            let bytes = unsent.iter().map(Bytes::len).sum();
            table.release(principal, bytes);
            return;
        };
        for message in unsent.into_iter().rev() {
            s.pending.push_front(Queued {
                message,
                at: Instant::now(),
            });
        }
        table.trim(&key);
    }

    /// A stream took a result: its bytes are the server's no more.
    fn taken(&self, principal: Principal, bytes: usize) {
        self.table
            .lock()
            .expect("direct sessions")
            .release(principal, bytes);
    }

    /// Opens `principal`'s session stream (replacing an older one), starting with kept results.
    pub(super) fn open(&self, principal: Principal, id: &str) -> Option<mpsc::Receiver<Bytes>> {
        let mut table = self.table();
        let s = table.sessions.get_mut(&(principal, id.to_owned()))?;
        let (tx, rx) = mpsc::channel(STREAM_BUFFER.max(PENDING));
        for q in s.pending.drain(..) {
            let _ = tx.try_send(q.message);
        }
        s.live = Some(tx);
        s.last = Instant::now();
        Some(rx)
    }
}

/// A session's results on their way to its stream. When the stream goes (the client left, or
/// fell behind), results not yet written go back to the session's queue for the next stream.
pub(super) struct Results {
    pub(super) rx: mpsc::Receiver<Bytes>,
    pub(super) sessions: std::sync::Arc<DirectSessions>,
    pub(super) principal: Principal,
    pub(super) id: String,
}

impl futures::Stream for Results {
    type Item = Bytes;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Bytes>> {
        let next = self.rx.poll_recv(cx);
        if let std::task::Poll::Ready(Some(m)) = &next {
            self.sessions.taken(self.principal, m.len());
        }
        next
    }
}

impl Drop for Results {
    fn drop(&mut self) {
        self.rx.close();
        let mut unsent = Vec::new();
        while let Ok(m) = self.rx.try_recv() {
            unsent.push(m);
        }
        if !unsent.is_empty() {
            self.sessions.requeue(self.principal, &self.id, unsent);
        }
    }
}
