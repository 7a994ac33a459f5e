//! The public HTTPS tunnel ChatGPT reaches the server through. A [`TunnelProvider`] opens
//! one tunnel (the real one is [`ngrok::NgrokProvider`]) and hands each connection it accepts
//! to an [`Endpoint`] (the HTTP layer's public face: always authenticated, no dashboard); the
//! [`Tunnel`] supervisor keeps it up on our own schedule — capped exponential backoff, never
//! the hours-long waits of the provider's own reconnect.
//!
//! The supervisor only publishes its [`TunnelState`] (with the measured round trip while up):
//! to the one observer it was given, then on its watch. It knows nothing of the engine or the
//! bus; `control::follow_tunnel` is the one place that turns states into the engine's public
//! address and bus events. The last public URL is remembered in the data directory
//! ([`UrlMemory`], no secret in it), so a tunnel that comes up on another URL — after a drop, a
//! stop and start, or a restart of the app — can be told apart.

pub mod ngrok;
pub mod openai;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use crate::public::TunnelState;
pub use crate::settings::TunnelKind;

/// Whether a tunnel's URL is a public address clients are given (an outbound tunnel's is a
/// name only: `openai-tunnel:<id>`).
pub fn is_public_address(url: &str) -> bool {
    url.starts_with("https://")
}

/// Why a tunnel could not be opened or dropped.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TunnelError {
    /// No authtoken was configured.
    #[error("no ngrok authtoken: save one with `coda-mcp ngrok set` or in the dashboard's Setup (or set NGROK_AUTHTOKEN); get it at https://dashboard.ngrok.com/get-started/your-authtoken")]
    NoAuthtoken,
    /// The provider refused the credentials or the requested domain.
    #[error("ngrok refused the tunnel: {0}")]
    Refused(String),
    /// The provider could not be reached (offline, firewall, DNS).
    #[error("cannot reach ngrok: {0}")]
    Unreachable(String),
    /// The provider said not now: the endpoint is still online elsewhere (an old session that
    /// has not timed out yet), the account's sessions are all in use, or it is overloaded.
    #[error("ngrok cannot open the tunnel right now: {0}")]
    Busy(String),
    /// The tunnel dropped after it was up.
    #[error("the tunnel dropped: {0}")]
    Dropped(String),
    /// Something the person must configure is missing or malformed.
    #[error("{0}")]
    Misconfigured(String),
    /// OpenAI's tunnel service refused the key or the tunnel.
    #[error("OpenAI refused the tunnel: {0}")]
    OpenAiRefused(String),
}

impl TunnelError {
    /// Whether retrying could help.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            TunnelError::NoAuthtoken
                | TunnelError::Refused(_)
                | TunnelError::Misconfigured(_)
                | TunnelError::OpenAiRefused(_)
        )
    }
}

/// The last public URL a tunnel came up on, kept in the data directory's `public-url.json`
/// (a URL, never a secret) so a change is noticed across tunnel restarts and app restarts.
/// Without a data directory it lasts as long as the value (the controls keep one per server).
#[derive(Clone, Default)]
pub struct UrlMemory {
    last: Arc<std::sync::Mutex<Option<String>>>,
    file: Option<PathBuf>,
}

/// The file [`UrlMemory`] keeps in the data directory.
pub const URL_MEMORY_FILE: &str = "public-url.json";

impl UrlMemory {
    /// A memory kept in `dir` (read now), or only in memory without one.
    pub fn in_dir(dir: Option<&Path>) -> Self {
        let file = dir.map(|d| d.join(URL_MEMORY_FILE));
        let last = file
            .as_deref()
            .and_then(|f| std::fs::read(f).ok())
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["url"].as_str().map(str::to_owned));
        UrlMemory {
            last: Arc::new(std::sync::Mutex::new(last)),
            file,
        }
    }

    /// The URL the last tunnel came up on.
    pub fn last(&self) -> Option<String> {
        self.last.lock().expect("url memory").clone()
    }

    /// Remembers `url`; returns the previous URL when there was one and it differs.
    pub fn remember(&self, url: &str) -> Option<String> {
        let mut last = self.last.lock().expect("url memory");
        if last.as_deref() == Some(url) {
            return None;
        }
        let previous = last.replace(url.to_owned());
        if let Some(file) = &self.file {
            let write = || -> std::io::Result<()> {
                if let Some(dir) = file.parent() {
                    crate::private::create_dir(dir)?;
                }
                crate::private::write_atomically(
                    file,
                    serde_json::json!({ "url": url }).to_string().as_bytes(),
                    crate::private::FILE_MODE,
                )
            };
            if let Err(e) = write() {
                tracing::warn!(error = %e, "could not remember the public URL");
            }
        }
        previous
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

/// A byte stream a tunnel accepted (any transport).
pub trait Connection: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Connection for T {}

/// What serves the connections a tunnel accepts: the HTTP layer's public face implements it,
/// so the tunnel needs nothing from the layers above it.
pub trait Endpoint: Send + Sync + 'static {
    /// Serves one connection from `remote` in the background; `stop` ends it gracefully.
    fn serve_connection(
        &self,
        io: Box<dyn Connection>,
        remote: SocketAddr,
        stop: CancellationToken,
    );

    /// Answers one HTTP request made in this process as `caller` (an outbound tunnel's
    /// commands: no socket, and the tunnel's own credential stands for the caller).
    fn handle(
        &self,
        request: axum::http::Request<axum::body::Body>,
        remote: SocketAddr,
        caller: crate::caller::Caller,
    ) -> BoxFuture<'static, axum::response::Response> {
        let _ = (request, remote, caller);
        Box::pin(async {
            axum::response::IntoResponse::into_response(axum::http::StatusCode::NOT_IMPLEMENTED)
        })
    }
}

/// A way to publish an [`Endpoint`] on a public HTTPS URL. Behind a trait so tests drive the
/// supervisor without a network.
pub trait TunnelProvider: Send + Sync + 'static {
    /// Opens a tunnel serving `app`; resolves once its public URL is known.
    fn open(&self, app: Arc<dyn Endpoint>) -> BoxFuture<'static, Result<OpenTunnel, TunnelError>>;
}

/// Told each new state before it is published on the supervisor's watch (so whoever sees a
/// state there finds its effects already made).
pub type Observer = Arc<dyn Fn(&TunnelState) + Send + Sync>;

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

/// How often the latency measured by the provider is looked at while the tunnel is up.
const LATENCY_EVERY: Duration = Duration::from_secs(1);

impl Tunnel {
    /// Starts keeping a tunnel to `app` up through `provider`, telling `observer` each state.
    pub fn start(
        provider: Arc<dyn TunnelProvider>,
        app: Arc<dyn Endpoint>,
        backoff: Backoff,
        observer: Observer,
    ) -> Tunnel {
        let (tx, rx) = watch::channel(TunnelState::Connecting { attempt: 1 });
        let stop = CancellationToken::new();
        let latency = Arc::new(std::sync::Mutex::new(None));
        let task = tokio::spawn(supervise(
            Job {
                provider,
                app,
                backoff,
                observer,
            },
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

    /// Changes of state (the tray icon, the CLI's log).
    pub fn watch(&self) -> watch::Receiver<TunnelState> {
        self.state.clone()
    }

    /// Closes the tunnel and clears the public URL.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// What the supervisor keeps up, and how.
struct Job {
    provider: Arc<dyn TunnelProvider>,
    app: Arc<dyn Endpoint>,
    backoff: Backoff,
    observer: Observer,
}

async fn supervise(
    job: Job,
    state: watch::Sender<TunnelState>,
    stop: CancellationToken,
    latency: Arc<std::sync::Mutex<Option<Arc<std::sync::atomic::AtomicU64>>>>,
) {
    let Job {
        provider,
        app,
        backoff,
        observer,
    } = job;
    let publish = |next: TunnelState| {
        observer(&next);
        state.send_replace(next);
    };
    let mut failures: u32 = 0;
    loop {
        publish(TunnelState::Connecting {
            attempt: failures + 1,
        });
        let opened = tokio::select! {
            _ = stop.cancelled() => break,
            opened = provider.open(app.clone()) => opened,
        };
        let error = match opened {
            Ok(mut tunnel) => {
                failures = 0;
                *latency.lock().expect("latency") = Some(tunnel.latency_ms.clone());
                let current = |tunnel: &OpenTunnel| {
                    Some(tunnel.latency_ms.load(std::sync::atomic::Ordering::Relaxed))
                        .filter(|&ms| ms > 0)
                };
                let mut shown = current(&tunnel);
                publish(TunnelState::Up {
                    url: tunnel.url.clone(),
                    latency_ms: shown,
                });
                let mut every = tokio::time::interval(LATENCY_EVERY);
                let reason = loop {
                    tokio::select! {
                        _ = stop.cancelled() => {
                            tunnel.close.cancel();
                            break None;
                        }
                        reason = &mut tunnel.closed => break Some(reason),
                        _ = every.tick() => {
                            let now = current(&tunnel);
                            if now != shown {
                                shown = now;
                                publish(TunnelState::Up {
                                    url: tunnel.url.clone(),
                                    latency_ms: now,
                                });
                            }
                        }
                    }
                };
                let Some(reason) = reason else { break };
                *latency.lock().expect("latency") = None;
                reason
            }
            Err(e) => e,
        };
        if error.is_permanent() {
            publish(TunnelState::Failed {
                error: error.to_string(),
            });
            // Nothing to retry; stay failed until stopped (a new start retries).
            stop.cancelled().await;
            break;
        }
        failures = failures.saturating_add(1);
        let wait = backoff.delay(failures);
        publish(TunnelState::Retrying {
            error: error.to_string(),
            attempt: failures,
            retry_in_ms: wait.as_millis() as u64,
        });
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    publish(TunnelState::Off);
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
