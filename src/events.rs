//! One event bus for everything a person watches: sessions, tool calls and log lines go to
//! the dashboard's live stream (and tool calls to the audit history). Events are numbered so
//! a dashboard that reconnects with `Last-Event-ID` gets what it missed, once.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::broadcast;

/// Events kept for reconnecting dashboards.
const REPLAY: usize = 2_000;

/// What happened.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A session was seen for the first time.
    Session {
        session: String,
        client: String,
        client_version: String,
        kind: String,
    },
    /// A tool ran.
    ToolCall(ToolCallRecord),
    /// A session's open `GET /mcp` streams changed in number.
    Streams { session: String, open: u32 },
    /// The public tunnel changed state.
    Tunnel { state: crate::tunnel::TunnelState },
    /// A log line worth showing.
    Log {
        level: String,
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
    /// The session it ran in (the seed's direct calls and GPT Actions have their own).
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
    pub kind: String,
    pub started: DateTime<Utc>,
    pub last_activity: DateTime<Utc>,
    pub calls: u64,
    pub errors: u64,
    /// Open `GET /mcp` streams (server-to-client messages, the seed's result stream).
    pub open_streams: u32,
}

/// The bus.
pub struct EventBus {
    next: AtomicU64,
    tx: broadcast::Sender<Arc<Event>>,
    replay: Mutex<VecDeque<Arc<Event>>>,
    sessions: Mutex<HashMap<String, SessionInfo>>,
    /// Open `GET /mcp` streams per session.
    streams: Mutex<HashMap<String, u32>>,
}

impl Default for EventBus {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(1024);
        EventBus {
            next: AtomicU64::new(1),
            tx,
            replay: Mutex::new(VecDeque::new()),
            sessions: Mutex::new(HashMap::new()),
            streams: Mutex::new(HashMap::new()),
        }
    }
}

impl EventBus {
    /// Publishes an event to every listener.
    pub fn publish(&self, kind: EventKind) -> Arc<Event> {
        self.track(&kind);
        let event = Arc::new(Event {
            id: self.next.fetch_add(1, Ordering::SeqCst),
            at: Utc::now(),
            kind,
        });
        {
            let mut replay = self.replay.lock().expect("replay");
            replay.push_back(event.clone());
            while replay.len() > REPLAY {
                replay.pop_front();
            }
        }
        let _ = self.tx.send(event.clone());
        event
    }

    fn track(&self, kind: &EventKind) {
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
                        kind: kind.clone(),
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
                        kind: "mcp".into(),
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
            EventKind::Log { .. } | EventKind::Tunnel { .. } => {}
        }
        if sessions.len() > 5_000 {
            let cutoff = now - chrono::Duration::hours(1);
            sessions.retain(|_, s| s.last_activity > cutoff);
        }
    }

    /// The number of the newest event (0 before any).
    pub fn last_id(&self) -> u64 {
        self.next.load(Ordering::SeqCst) - 1
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
    /// Subscribing before reading the backlog means nothing falls between the two.
    pub fn subscribe(
        &self,
        last_id: Option<u64>,
    ) -> (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>) {
        let rx = self.tx.subscribe();
        let backlog = match last_id {
            Some(last) => self
                .replay
                .lock()
                .expect("replay")
                .iter()
                .filter(|e| e.id > last)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        (backlog, rx)
    }

    /// Tool calls per minute over the last five minutes, and the share that failed.
    pub fn rates(&self) -> (f64, f64) {
        let cutoff = Utc::now() - chrono::Duration::minutes(5);
        let replay = self.replay.lock().expect("replay");
        let calls: Vec<&ToolCallRecord> = replay
            .iter()
            .filter(|e| e.at > cutoff)
            .filter_map(|e| match &e.kind {
                EventKind::ToolCall(c) => Some(c),
                _ => None,
            })
            .collect();
        let failed = calls.iter().filter(|c| !c.ok).count();
        let per_minute = calls.len() as f64 / 5.0;
        let error_rate = if calls.is_empty() {
            0.0
        } else {
            failed as f64 / calls.len() as f64
        };
        (per_minute, error_rate)
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
/// strings and lists cut.
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
            let mut kept: Vec<Value> = items.iter().take(20).map(redact).collect();
            kept.push(Value::String(format!("… {} more", items.len() - 20)));
            Value::Array(kept)
        }
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        Value::String(s) if s.starts_with("pat_") || s.starts_with("cmk_") => {
            Value::String("[redacted]".into())
        }
        Value::String(s) if s.chars().count() > 200 => Value::String(format!(
            "{}… ({} chars)",
            s.chars().take(200).collect::<String>(),
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
        assert_eq!(r["rows"].as_array().unwrap().len(), 21);
    }

    #[test]
    fn reconnecting_listeners_get_what_they_missed_once() {
        let bus = EventBus::default();
        let first = bus.publish(EventKind::Log {
            level: "info".into(),
            message: "one".into(),
            session: None,
            tool: None,
        });
        bus.publish(EventKind::Log {
            level: "info".into(),
            message: "two".into(),
            session: None,
            tool: None,
        });
        let (backlog, mut rx) = bus.subscribe(Some(first.id));
        assert_eq!(backlog.len(), 1);
        bus.publish(EventKind::Log {
            level: "info".into(),
            message: "three".into(),
            session: None,
            tool: None,
        });
        assert_eq!(rx.try_recv().unwrap().id, first.id + 2);
    }
}
