//! One event bus for everything a person watches: sessions, tool calls, log lines, the
//! tunnel and a periodic status (rates, headroom, sessions, Coda health) go to the
//! dashboard's live stream (and tool calls to the audit history). Events are numbered so a
//! dashboard that reconnects with `Last-Event-ID` gets what it missed, once.
//!
//! Numbering, keeping for replay and sending happen under one lock, so every listener sees
//! ids in increasing order, and a new listener's backlog and live feed meet without a gap or
//! an overlap.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::broadcast;

/// Events kept for reconnecting dashboards.
const REPLAY: usize = 2_000;

/// Live events a listener may fall behind by before it loses its place (it then reconnects
/// and the replay fills the gap).
const CHANNEL: usize = 1_024;

/// Seconds of tool-call outcomes kept for the rates (the error rate covers five minutes).
const RATE_WINDOW_S: i64 = 300;

/// Tool calls that ended in one second: which second, how many succeeded, how many failed.
/// Counting per second keeps the rates' memory and work fixed however busy the server is.
#[derive(Debug, Clone, Copy)]
struct Second {
    at: i64,
    ok: u32,
    failed: u32,
}

/// How a session reaches the server, as the dashboard's Sessions list names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SessionKind {
    /// Standard MCP over Streamable HTTP.
    #[serde(rename = "mcp")]
    Mcp,
    /// `coda-mcp stdio` serving in its own process.
    #[serde(rename = "stdio")]
    Stdio,
    /// `coda-mcp stdio` bridging to this server.
    #[serde(rename = "stdio bridge")]
    StdioBridge,
    /// The ChatGPT direct-call flow (a tool name as the JSON-RPC method).
    #[serde(rename = "direct")]
    Direct,
    /// GPT Action calls (no session of their own: one row for all of them).
    #[serde(rename = "action")]
    Action,
}

/// How much a log line matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Something worth knowing.
    Info,
    /// Something that may need the person (a tunnel retrying, a URL changed).
    Warn,
    /// Something that stopped working.
    Error,
}

/// What happened.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A session was seen for the first time.
    Session {
        session: String,
        client: String,
        client_version: String,
        kind: SessionKind,
    },
    /// A tool ran.
    ToolCall(ToolCallRecord),
    /// A session's open `GET /mcp` streams changed in number.
    Streams { session: String, open: u32 },
    /// The public tunnel changed state (or, while up, its measured latency changed).
    Tunnel { state: crate::public::TunnelState },
    /// The public URL is not the one ChatGPT was last given: its schema must be copied again.
    /// Kept (the latest one) so a dashboard opened later still shows the notice.
    PublicUrlChanged { previous: String, url: String },
    /// The desktop app's settings were saved (no secrets in them), so every face can follow
    /// (the tray's launch-at-login checkbox, the OS autostart entry).
    Settings { settings: crate::settings::Settings },
    /// An app asks to connect through OAuth and waits for the owner (the dashboard shows
    /// Allow/Deny; the consent page goes on once it is answered there).
    #[serde(rename = "oauth_request")]
    OAuthRequest {
        request: String,
        client: String,
        client_kind: String,
        redirect_host: String,
        scopes: Vec<String>,
    },
    /// The owner answered an OAuth request (on the consent page or in the dashboard).
    #[serde(rename = "oauth_decided")]
    OAuthDecided { request: String, allowed: bool },
    /// Approved apps changed (a grant made, refreshed away or revoked): the dashboard's
    /// Connected apps list reloads.
    #[serde(rename = "oauth_grants_changed")]
    OAuthGrantsChanged,
    /// What the Status view shows, published every few seconds while a dashboard listens:
    /// the same object as `/api/state`'s `status`. Only the latest is kept for replay.
    Status { status: Value },
    /// A log line worth showing.
    Log {
        level: LogLevel,
        message: String,
        session: Option<String>,
        tool: Option<String>,
    },
}

/// One tool call, as shown in the dashboard and kept in the audit history.
#[derive(Debug, Clone, Serialize)]
pub struct ToolCallRecord {
    /// Unique ID of the call.
    pub id: String,
    /// When it started.
    pub at: DateTime<Utc>,
    /// The session it ran in (ChatGPT's direct calls and GPT Actions have their own).
    pub session: String,
    /// The client's name and version, e.g. `claude-ai 0.1.0`.
    pub client: String,
    /// The tool.
    pub tool: String,
    /// The arguments with secrets removed and long values cut.
    pub args: Value,
    /// Whether it succeeded.
    pub ok: bool,
    /// The error, when it failed.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: f64,
    /// Coda requests made.
    pub coda_requests: u32,
    /// Retries among them.
    pub retries: u32,
    /// How many retries followed a 429 (Coda's rate limit).
    #[serde(default)]
    pub rate_limited: u32,
    /// Whether it changed Coda (a write tool that succeeded).
    pub changed: bool,
}

/// A numbered event.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Increasing number (the SSE `id:`).
    pub id: u64,
    /// When it was published.
    pub at: DateTime<Utc>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Live view of one session, for the dashboard's Sessions list.
#[derive(Debug, Clone, Serialize)]
pub struct SessionInfo {
    pub session: String,
    pub client: String,
    pub client_version: String,
    pub kind: SessionKind,
    pub started: DateTime<Utc>,
    pub last_activity: DateTime<Utc>,
    pub calls: u64,
    pub errors: u64,
    /// Open `GET /mcp` streams (server-to-client messages, the direct-call flow's result stream).
    pub open_streams: u32,
}

/// The numbered part of the bus: numbering, replay and sending happen under this one lock.
struct Numbered {
    next: u64,
    replay: VecDeque<Arc<Event>>,
    /// The highest id that fell out of the replay (a listener behind it missed events).
    evicted: u64,
    /// The latest `Status` (not kept in the replay: only the newest one matters).
    status: Option<Arc<Event>>,
    /// The latest `PublicUrlChanged`, for dashboards opened after it.
    url_changed: Option<Arc<Event>>,
}

/// What a new listener gets: what it missed, and a receiver for what comes next.
pub struct Subscription {
    /// Events after the listener's last one that are still kept, oldest first.
    pub backlog: Vec<Arc<Event>>,
    /// Everything published after the backlog.
    pub rx: broadcast::Receiver<Arc<Event>>,
    /// Some events after the listener's last one are no longer kept: it should reload its
    /// snapshot (`/api/state`) rather than trust the backlog to be complete.
    pub missed: bool,
}

/// The bus.
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
    numbered: Mutex<Numbered>,
    sessions: Mutex<HashMap<String, SessionInfo>>,
    /// Open `GET /mcp` streams per session.
    streams: Mutex<HashMap<String, u32>>,
    /// Recent tool calls' outcomes per second (for the rates).
    outcomes: Mutex<VecDeque<Second>>,
    /// Dashboards listening right now (the status ticker works only for them).
    watchers: Arc<AtomicUsize>,
    /// Whether the status ticker was started (once per bus).
    ticker: AtomicBool,
}

impl Default for EventBus {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(CHANNEL);
        EventBus {
            tx,
            numbered: Mutex::new(Numbered {
                next: 1,
                replay: VecDeque::new(),
                evicted: 0,
                status: None,
                url_changed: None,
            }),
            sessions: Mutex::new(HashMap::new()),
            streams: Mutex::new(HashMap::new()),
            outcomes: Mutex::new(VecDeque::new()),
            watchers: Arc::new(AtomicUsize::new(0)),
            ticker: AtomicBool::new(false),
        }
    }
}

/// Counts a listening dashboard while it lives.
pub struct WatchGuard(Arc<AtomicUsize>);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl EventBus {
    /// Publishes an event to every listener. The id is given, the event kept and sent under
    /// one lock: listeners see ids in order, and [`EventBus::subscribe_from`] (under the same
    /// lock) neither misses nor repeats one.
    pub fn publish(&self, kind: EventKind) -> Arc<Event> {
        self.track(&kind);
        let mut numbered = self.numbered.lock().expect("events");
        let event = Arc::new(Event {
            id: numbered.next,
            at: Utc::now(),
            kind,
        });
        numbered.next += 1;
        match &event.kind {
            EventKind::Status { .. } => numbered.status = Some(event.clone()),
            kind => {
                if matches!(kind, EventKind::PublicUrlChanged { .. }) {
                    numbered.url_changed = Some(event.clone());
                }
                numbered.replay.push_back(event.clone());
                while numbered.replay.len() > REPLAY {
                    if let Some(old) = numbered.replay.pop_front() {
                        numbered.evicted = old.id;
                    }
                }
            }
        }
        let _ = self.tx.send(event.clone());
        event
    }

    fn track(&self, kind: &EventKind) {
        if let EventKind::ToolCall(call) = kind {
            let now = Utc::now().timestamp();
            let mut outcomes = self.outcomes.lock().expect("outcomes");
            if outcomes.back().is_none_or(|s| s.at != now) {
                outcomes.push_back(Second {
                    at: now,
                    ok: 0,
                    failed: 0,
                });
            }
            let second = outcomes.back_mut().expect("this second");
            if call.ok {
                second.ok += 1;
            } else {
                second.failed += 1;
            }
            while outcomes
                .front()
                .is_some_and(|s| s.at <= now - RATE_WINDOW_S)
            {
                outcomes.pop_front();
            }
        }
        let mut sessions = self.sessions.lock().expect("sessions");
        let now = Utc::now();
        match kind {
            EventKind::Session {
                session,
                client,
                client_version,
                kind,
            } => {
                sessions
                    .entry(session.clone())
                    .or_insert_with(|| SessionInfo {
                        session: session.clone(),
                        client: client.clone(),
                        client_version: client_version.clone(),
                        kind: *kind,
                        started: now,
                        last_activity: now,
                        calls: 0,
                        errors: 0,
                        open_streams: 0,
                    });
            }
            EventKind::ToolCall(call) => {
                let s = sessions
                    .entry(call.session.clone())
                    .or_insert_with(|| SessionInfo {
                        session: call.session.clone(),
                        client: call.client.clone(),
                        client_version: String::new(),
                        kind: SessionKind::Mcp,
                        started: now,
                        last_activity: now,
                        calls: 0,
                        errors: 0,
                        open_streams: 0,
                    });
                s.calls += 1;
                s.errors += u64::from(!call.ok);
                s.last_activity = now;
            }
            EventKind::Streams { session, open } => {
                if let Some(s) = sessions.get_mut(session) {
                    s.open_streams = *open;
                    s.last_activity = now;
                }
            }
            EventKind::Log { .. }
            | EventKind::Tunnel { .. }
            | EventKind::PublicUrlChanged { .. }
            | EventKind::Settings { .. }
            | EventKind::OAuthRequest { .. }
            | EventKind::OAuthDecided { .. }
            | EventKind::OAuthGrantsChanged
            | EventKind::Status { .. } => {}
        }
        if sessions.len() > 5_000 {
            let cutoff = now - chrono::Duration::hours(1);
            sessions.retain(|_, s| s.last_activity > cutoff);
        }
    }

    /// The number of the newest event (0 before any).
    pub fn last_id(&self) -> u64 {
        self.numbered.lock().expect("events").next - 1
    }

    /// Whether a session is already known (to publish its `Session` event once).
    pub fn knows_session(&self, session: &str) -> bool {
        self.sessions
            .lock()
            .expect("sessions")
            .contains_key(session)
    }

    /// Sessions seen in the last `within`, newest activity first.
    pub fn sessions(&self, within: chrono::Duration) -> Vec<SessionInfo> {
        let cutoff = Utc::now() - within;
        let mut list: Vec<SessionInfo> = self
            .sessions
            .lock()
            .expect("sessions")
            .values()
            .filter(|s| s.last_activity > cutoff)
            .cloned()
            .collect();
        list.sort_by_key(|s| std::cmp::Reverse(s.last_activity));
        list
    }

    /// Counts a `GET /mcp` stream opening (+1) or closing (-1) for `session`, and tells the
    /// dashboard the new number.
    pub fn stream_change(&self, session: &str, delta: i32) {
        let open = {
            let mut counts = self.streams.lock().expect("streams");
            let n = counts.entry(session.to_owned()).or_insert(0);
            *n = n.saturating_add_signed(delta);
            let open = *n;
            if open == 0 {
                counts.remove(session);
            }
            open
        };
        self.publish(EventKind::Streams {
            session: session.to_owned(),
            open,
        });
    }

    /// Events after `last_id` that are still kept, and a receiver for what comes next.
    pub fn subscribe(
        &self,
        last_id: Option<u64>,
    ) -> (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>) {
        let s = self.subscribe_from(last_id);
        (s.backlog, s.rx)
    }

    /// Subscribes and reads the backlog under the lock [`EventBus::publish`] holds while it
    /// numbers and sends, so each event reaches the listener exactly once: in the backlog
    /// (id ≤ the newest at this moment) or on the receiver (every later one). `None`: no
    /// backlog, only what comes next.
    pub fn subscribe_from(&self, last_id: Option<u64>) -> Subscription {
        let numbered = self.numbered.lock().expect("events");
        let rx = self.tx.subscribe();
        let Some(last) = last_id else {
            return Subscription {
                backlog: Vec::new(),
                rx,
                missed: false,
            };
        };
        let mut backlog: Vec<Arc<Event>> = numbered
            .replay
            .iter()
            .filter(|e| e.id > last)
            .cloned()
            .collect();
        if let Some(status) = numbered.status.as_ref().filter(|e| e.id > last) {
            let at = backlog.partition_point(|e| e.id < status.id);
            backlog.insert(at, status.clone());
        }
        Subscription {
            backlog,
            rx,
            missed: last < numbered.evicted,
        }
    }

    /// The latest "public URL changed" notice, if there was one in this run.
    pub fn url_changed(&self) -> Option<Arc<Event>> {
        self.numbered.lock().expect("events").url_changed.clone()
    }

    /// Counts a listening dashboard until the guard is dropped.
    pub fn watch(&self) -> WatchGuard {
        self.watchers.fetch_add(1, Ordering::SeqCst);
        WatchGuard(self.watchers.clone())
    }

    /// Dashboards listening right now.
    pub fn watchers(&self) -> usize {
        self.watchers.load(Ordering::SeqCst)
    }

    /// True exactly once per bus: whoever gets it starts the status ticker.
    pub fn claim_ticker(&self) -> bool {
        !self.ticker.swap(true, Ordering::SeqCst)
    }

    /// Tool calls in the last minute, and the share of the last five minutes' calls that
    /// failed.
    pub fn rates(&self) -> (f64, f64) {
        let now = Utc::now().timestamp();
        let outcomes = self.outcomes.lock().expect("outcomes");
        let (mut per_minute, mut all, mut failed) = (0u64, 0u64, 0u64);
        for s in outcomes.iter().filter(|s| s.at > now - RATE_WINDOW_S) {
            let calls = u64::from(s.ok) + u64::from(s.failed);
            all += calls;
            failed += u64::from(s.failed);
            if s.at > now - 60 {
                per_minute += calls;
            }
        }
        let error_rate = if all == 0 {
            0.0
        } else {
            failed as f64 / all as f64
        };
        (per_minute as f64, error_rate)
    }
}

/// Argument names whose values are never shown or kept.
fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "token",
        "secret",
        "password",
        "authorization",
        "apikey",
        "api_key",
        "key",
    ]
    .iter()
    .any(|s| k == *s || k.ends_with(s) && k.len() > s.len() && !k.ends_with("columns"))
}

/// Arguments as the dashboard and the audit history may keep them: secrets removed, long
/// strings and lists cut. Redacting twice changes nothing (a cut value stays within the
/// limits), so the audit store can redact again whatever it is handed.
pub fn redact(args: &Value) -> Value {
    match args {
        Value::Object(o) => {
            let mut out = Map::new();
            for (k, v) in o {
                out.insert(
                    k.clone(),
                    if is_secret_key(k) {
                        Value::String("[redacted]".into())
                    } else {
                        redact(v)
                    },
                );
            }
            Value::Object(out)
        }
        Value::Array(items) if items.len() > 20 => {
            let mut kept: Vec<Value> = items.iter().take(19).map(redact).collect();
            kept.push(Value::String(format!("… {} more", items.len() - 19)));
            Value::Array(kept)
        }
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        Value::String(s) if s.starts_with("pat_") || s.starts_with("cmk_") => {
            Value::String("[redacted]".into())
        }
        Value::String(s) if s.chars().count() > 200 => Value::String(format!(
            "{}… ({} chars)",
            s.chars().take(180).collect::<String>(),
            s.chars().count()
        )),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redaction_removes_secrets_and_cuts_long_values() {
        let args = json!({"docId": "AbC", "apiToken": "pat_123", "nested": {"authorization": "Bearer x"},
            "note": "x".repeat(500), "value": "cmk_abcdef", "keyColumns": ["Task"], "rows": (0..30).collect::<Vec<_>>()});
        let r = redact(&args);
        assert_eq!(r["docId"], "AbC");
        assert_eq!(r["apiToken"], "[redacted]");
        assert_eq!(r["nested"]["authorization"], "[redacted]");
        assert_eq!(r["value"], "[redacted]");
        assert_eq!(
            r["keyColumns"],
            json!(["Task"]),
            "keyColumns is not a secret"
        );
        assert!(r["note"].as_str().unwrap().ends_with("(500 chars)"));
        assert_eq!(r["rows"].as_array().unwrap().len(), 20);
        assert_eq!(r["rows"][19], "… 11 more");
        assert_eq!(redact(&r), r, "redacting again changes nothing");
    }

    #[test]
    fn reconnecting_listeners_get_what_they_missed_once() {
        let bus = EventBus::default();
        let first = bus.publish(EventKind::Log {
            level: LogLevel::Info,
            message: "one".into(),
            session: None,
            tool: None,
        });
        bus.publish(EventKind::Log {
            level: LogLevel::Info,
            message: "two".into(),
            session: None,
            tool: None,
        });
        let (backlog, mut rx) = bus.subscribe(Some(first.id));
        assert_eq!(backlog.len(), 1);
        bus.publish(EventKind::Log {
            level: LogLevel::Info,
            message: "three".into(),
            session: None,
            tool: None,
        });
        assert_eq!(rx.try_recv().unwrap().id, first.id + 2);
    }

    fn log(message: &str) -> EventKind {
        EventKind::Log {
            level: LogLevel::Info,
            message: message.into(),
            session: None,
            tool: None,
        }
    }

    #[test]
    fn concurrent_publishers_reach_every_listener_in_order_and_the_replay_is_ordered() {
        const THREADS: u64 = 8;
        const EACH: u64 = 20_000;
        let bus = Arc::new(EventBus::default());
        let (_, mut rx) = bus.subscribe(None);
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let bus = bus.clone();
                std::thread::spawn(move || {
                    for i in 0..EACH {
                        bus.publish(log(&format!("{t}-{i}")));
                    }
                })
            })
            .collect();
        // A listener may fall behind (it then loses its place, never its order); what it
        // receives must come in increasing order.
        let (mut received, mut last) = (0u64, 0u64);
        while last < THREADS * EACH {
            match rx.blocking_recv() {
                Ok(e) => {
                    assert!(e.id > last, "id {} arrived after {last}", e.id);
                    last = e.id;
                    received += 1;
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(e) => panic!("{e}"),
            }
        }
        for t in threads {
            t.join().unwrap();
        }
        assert!(received > 0);
        let (replay, _) = bus.subscribe(Some(0));
        let ids: Vec<u64> = replay.iter().map(|e| e.id).collect();
        let expected: Vec<u64> = (THREADS * EACH - REPLAY as u64 + 1..=THREADS * EACH).collect();
        assert_eq!(
            ids, expected,
            "the replay holds the newest events, in order"
        );
    }

    #[test]
    fn subscribing_while_others_publish_neither_misses_nor_repeats() {
        let bus = Arc::new(EventBus::default());
        let stop = Arc::new(AtomicBool::new(false));
        let publishers: Vec<_> = (0..3)
            .map(|_| {
                let (bus, stop) = (bus.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        bus.publish(log("x"));
                    }
                })
            })
            .collect();
        // Listeners join at many moments, each from the id it last saw, while events keep
        // coming: backlog and live feed together must be exactly the ids after it.
        let mut checked = 0;
        for round in 0..3_000u64 {
            let last = bus.last_id().saturating_sub(round % 7);
            let sub = bus.subscribe_from(Some(last));
            if sub.missed {
                // Descheduled while thousands were published: out of the replay, not a race.
                continue;
            }
            let mut rx = sub.rx;
            let mut ids: Vec<u64> = sub.backlog.iter().map(|e| e.id).collect();
            let until = bus.last_id() + 3;
            let mut lagged = false;
            while ids.last().copied().unwrap_or(last) < until {
                match rx.blocking_recv() {
                    Ok(e) => ids.push(e.id),
                    // Descheduled for long enough to fall behind: this round proves nothing.
                    Err(_) => {
                        lagged = true;
                        break;
                    }
                }
            }
            if lagged {
                continue;
            }
            checked += 1;
            let expected: Vec<u64> = (last + 1..=ids.last().copied().unwrap_or(last)).collect();
            if ids != expected {
                let repeated = ids.windows(2).find(|w| w[1] <= w[0]);
                let gap = ids.windows(2).find(|w| w[1] > w[0] + 1);
                panic!(
                    "round {round} after {last}: repeated {repeated:?}, gap {gap:?}, first {:?}",
                    ids.first()
                );
            }
        }
        stop.store(true, Ordering::SeqCst);
        for p in publishers {
            p.join().unwrap();
        }
        assert!(checked > 1_000, "only {checked} rounds were checked");
    }

    #[test]
    fn a_listener_that_fell_out_of_the_replay_is_told_it_missed_events() {
        let bus = EventBus::default();
        for i in 0..REPLAY + 10 {
            bus.publish(log(&i.to_string()));
        }
        assert!(bus.subscribe_from(Some(5)).missed);
        let recent = bus.subscribe_from(Some(bus.last_id() - 3));
        assert!(!recent.missed);
        assert_eq!(recent.backlog.len(), 3);
    }

    #[test]
    fn only_the_latest_status_is_replayed_and_rates_count_the_last_minute() {
        let bus = EventBus::default();
        let first = bus.publish(log("one"));
        bus.publish(EventKind::Status {
            status: json!({"n": 1}),
        });
        bus.publish(log("two"));
        let newest = bus.publish(EventKind::Status {
            status: json!({"n": 2}),
        });
        let (backlog, _) = bus.subscribe(Some(first.id));
        let kinds: Vec<String> = backlog
            .iter()
            .map(|e| {
                serde_json::to_value(e).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(kinds, ["log", "status"]);
        assert_eq!(backlog[1].id, newest.id);
        for ok in [true, true, false, true] {
            bus.publish(EventKind::ToolCall(ToolCallRecord {
                id: uuid::Uuid::new_v4().to_string(),
                at: Utc::now(),
                session: "s".into(),
                client: "c".into(),
                tool: "coda_whoami".into(),
                args: json!({}),
                ok,
                error: None,
                duration_ms: 1.0,
                coda_requests: 1,
                retries: 0,
                rate_limited: 0,
                changed: false,
            }));
        }
        assert_eq!(bus.rates(), (4.0, 0.25));
    }
}
