//! The public HTTPS tunnel ChatGPT reaches the server through. A [`TunnelProvider`] opens
//! one tunnel (the real one is [`ngrok::NgrokProvider`]); the [`Tunnel`] supervisor keeps it
//! up on our own schedule — capped exponential backoff, never the hours-long waits of the
//! provider's own reconnect — publishes its state on the event bus and points the engine's
//! public address (Host check, OpenAPI `servers`) at the current URL. Only the public router
//! is served through it: always authenticated, no dashboard.

pub mod ngrok;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use futures::future::BoxFuture;
use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::events::EventKind;
use crate::Engine;

/// What the tunnel is doing, as the tray and the dashboard show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TunnelState {
    /// Not running.
    Off,
    /// Opening (attempt 1 is the first).
    Connecting { attempt: u32 },
    /// Serving at `url`.
    Up {
        url: String,
        /// Round trip to the provider, when it reports one.
        latency_ms: Option<u64>,
    },
    /// Down; the next attempt starts in `retry_in_ms`.
    Retrying {
        error: String,
        attempt: u32,
        retry_in_ms: u64,
    },
    /// Down for a reason retrying cannot fix (no authtoken, refused credentials).
    Failed { error: String },
}

impl TunnelState {
    /// The public URL while up.
    pub fn url(&self) -> Option<&str> {
        match self {
            TunnelState::Up { url, .. } => Some(url),
            _ => None,
        }
    }
}

/// Why a tunnel could not be opened or dropped.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TunnelError {
    /// No authtoken was configured.
    #[error("no ngrok authtoken: add one in Setup (or set NGROK_AUTHTOKEN); get it at https://dashboard.ngrok.com/get-started/your-authtoken")]
    NoAuthtoken,
    /// The provider refused the credentials or the requested domain.
    #[error("ngrok refused the tunnel: {0}")]
    Refused(String),
    /// The provider could not be reached (offline, firewall, DNS).
    #[error("cannot reach ngrok: {0}")]
    Unreachable(String),
    /// The tunnel dropped after it was up.
    #[error("the tunnel dropped: {0}")]
    Dropped(String),
}

impl TunnelError {
    /// Whether retrying could help.
    pub fn is_permanent(&self) -> bool {
        matches!(self, TunnelError::NoAuthtoken | TunnelError::Refused(_))
    }
}

/// A tunnel that is up.
pub struct OpenTunnel {
    /// Its public HTTPS URL.
    pub url: String,
    /// Resolves when the tunnel drops, with the reason.
    pub closed: BoxFuture<'static, TunnelError>,
    /// Cancel to close it.
    pub close: CancellationToken,
    /// The latest round trip to the provider, in milliseconds (0 until measured).
    pub latency_ms: Arc<std::sync::atomic::AtomicU64>,
}

/// A way to publish a router on a public HTTPS URL. Behind a trait so tests drive the
/// supervisor without a network.
pub trait TunnelProvider: Send + Sync + 'static {
    /// Opens a tunnel serving `app`; resolves once its public URL is known.
    fn open(&self, app: Router) -> BoxFuture<'static, Result<OpenTunnel, TunnelError>>;
}

/// How long to wait between attempts: doubling from `first`, never above `max`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// The first wait.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The wait before attempt `attempt + 1` (attempt counts failures so far, from 1), with
    /// up to 20 % jitter so many apps do not reconnect in step.
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self
            .first
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max);
        let jitter = rand::random::<f64>() * 0.2;
        base.mul_f64(1.0 - jitter)
    }
}

/// The running supervisor of one tunnel.
pub struct Tunnel {
    state: watch::Receiver<TunnelState>,
    latency: Arc<std::sync::Mutex<Option<Arc<std::sync::atomic::AtomicU64>>>>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Tunnel {
    /// Starts keeping a tunnel to `app` up through `provider`.
    pub fn start(
        provider: Arc<dyn TunnelProvider>,
        app: Router,
        engine: Engine,
        backoff: Backoff,
    ) -> Tunnel {
        let (tx, rx) = watch::channel(TunnelState::Connecting { attempt: 1 });
        let stop = CancellationToken::new();
        let latency = Arc::new(std::sync::Mutex::new(None));
        let task = tokio::spawn(supervise(
            provider,
            app,
            engine,
            backoff,
            tx,
            stop.clone(),
            latency.clone(),
        ));
        Tunnel {
            state: rx,
            latency,
            stop,
            task,
        }
    }

    /// The current state (with the latest latency while up).
    pub fn state(&self) -> TunnelState {
        let mut state = self.state.borrow().clone();
        if let TunnelState::Up { latency_ms, .. } = &mut state {
            let measured = self
                .latency
                .lock()
                .expect("latency")
                .as_ref()
                .map(|l| l.load(std::sync::atomic::Ordering::Relaxed))
                .filter(|&ms| ms > 0);
            *latency_ms = measured;
        }
        state
    }

    /// Changes of state, for the tray icon.
    pub fn watch(&self) -> watch::Receiver<TunnelState> {
        self.state.clone()
    }

    /// Closes the tunnel and clears the public URL.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

async fn supervise(
    provider: Arc<dyn TunnelProvider>,
    app: Router,
    engine: Engine,
    backoff: Backoff,
    state: watch::Sender<TunnelState>,
    stop: CancellationToken,
    latency: Arc<std::sync::Mutex<Option<Arc<std::sync::atomic::AtomicU64>>>>,
) {
    let announce = |next: TunnelState| {
        let (level, message) = match &next {
            TunnelState::Off => ("info", "tunnel off".to_owned()),
            TunnelState::Connecting { attempt } => {
                ("info", format!("tunnel connecting (attempt {attempt})"))
            }
            TunnelState::Up { url, .. } => ("info", format!("tunnel up at {url}")),
            TunnelState::Retrying {
                error, retry_in_ms, ..
            } => (
                "warn",
                format!("tunnel down: {error}; retrying in {} s", retry_in_ms / 1000),
            ),
            TunnelState::Failed { error } => ("error", format!("tunnel failed: {error}")),
        };
        engine.public().set_tunnel_state(next.clone());
        engine.events().publish(EventKind::Tunnel {
            state: next.clone(),
        });
        engine.events().publish(EventKind::Log {
            level: level.into(),
            message,
            session: None,
            tool: None,
        });
        state.send_replace(next);
    };
    let mut failures: u32 = 0;
    let mut last_url: Option<String> = None;
    loop {
        announce(TunnelState::Connecting {
            attempt: failures + 1,
        });
        let opened = tokio::select! {
            _ = stop.cancelled() => break,
            opened = provider.open(app.clone()) => opened,
        };
        let error = match opened {
            Ok(tunnel) => {
                failures = 0;
                engine.public().set_tunnel_url(Some(&tunnel.url));
                *latency.lock().expect("latency") = Some(tunnel.latency_ms.clone());
                if last_url.as_deref().is_some_and(|u| u != tunnel.url) {
                    engine.events().publish(EventKind::Log {
                        level: "warn".into(),
                        message: format!("the public URL changed to {}: copy the OpenAPI schema into ChatGPT again", tunnel.url),
                        session: None,
                        tool: None,
                    });
                }
                last_url = Some(tunnel.url.clone());
                announce(TunnelState::Up {
                    url: tunnel.url.clone(),
                    latency_ms: None,
                });
                let reason = tokio::select! {
                    _ = stop.cancelled() => {
                        tunnel.close.cancel();
                        break;
                    }
                    reason = tunnel.closed => reason,
                };
                engine.public().set_tunnel_url(None);
                *latency.lock().expect("latency") = None;
                reason
            }
            Err(e) => e,
        };
        if error.is_permanent() {
            announce(TunnelState::Failed {
                error: error.to_string(),
            });
            // Nothing to retry; stay failed until stopped (a new start retries).
            stop.cancelled().await;
            break;
        }
        failures = failures.saturating_add(1);
        let wait = backoff.delay(failures);
        announce(TunnelState::Retrying {
            error: error.to_string(),
            attempt: failures,
            retry_in_ms: wait.as_millis() as u64,
        });
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    engine.public().set_tunnel_url(None);
    announce(TunnelState::Off);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let b = Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        let d = |n| b.delay(n).as_secs_f64();
        assert!((0.8..=1.0).contains(&d(1)));
        assert!((1.6..=2.0).contains(&d(2)));
        assert!((6.4..=8.0).contains(&d(4)));
        assert!((48.0..=60.0).contains(&d(7)));
        assert!((48.0..=60.0).contains(&d(1000)), "capped, no overflow");
    }
}
