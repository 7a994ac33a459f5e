//! The real tunnel: an ngrok HTTPS endpoint opened in-process with the `ngrok` crate, whose
//! connections are served by the engine's public router. The crate's own reconnect loop is
//! cut short through its connector (a reconnect attempt gives up at once), so the
//! [`super::Tunnel`] supervisor rebuilds the session on its capped schedule instead.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use ngrok::config::TunnelBuilder;
use ngrok::conn::ConnInfo;
use ngrok::tunnel::EndpointInfo;
use tokio_util::sync::CancellationToken;

use super::{OpenTunnel, TunnelError, TunnelProvider};
use crate::coda::Secret;

/// How long opening a tunnel may take before it counts as unreachable.
const OPEN_TIMEOUT: Duration = Duration::from_secs(20);

/// Opens ngrok HTTPS endpoints.
#[derive(Clone)]
pub struct NgrokProvider {
    authtoken: Option<Secret>,
    domain: Option<String>,
    server_addr: Option<String>,
}

impl NgrokProvider {
    /// A provider with the person's authtoken and, optionally, their reserved domain (a fixed
    /// domain keeps ChatGPT's schema valid across restarts).
    pub fn new(authtoken: Option<Secret>, domain: Option<String>) -> Self {
        NgrokProvider {
            authtoken,
            domain: domain
                .map(|d| {
                    d.trim()
                        .trim_start_matches("https://")
                        .trim_end_matches('/')
                        .to_owned()
                })
                .filter(|d| !d.is_empty()),
            server_addr: None,
        }
    }

    /// Connects to another ngrok service address (`host:port`), for tests of the failure paths.
    pub fn with_server_addr(mut self, addr: impl Into<String>) -> Self {
        self.server_addr = Some(addr.into());
        self
    }
}

impl TunnelProvider for NgrokProvider {
    fn open(&self, app: Router) -> BoxFuture<'static, Result<OpenTunnel, TunnelError>> {
        let this = self.clone();
        async move {
            match tokio::time::timeout(OPEN_TIMEOUT, this.open_inner(app)).await {
                Ok(result) => result,
                Err(_) => Err(TunnelError::Unreachable(format!(
                    "no answer within {} s",
                    OPEN_TIMEOUT.as_secs()
                ))),
            }
        }
        .boxed()
    }
}

impl NgrokProvider {
    async fn open_inner(self, app: Router) -> Result<OpenTunnel, TunnelError> {
        let Some(authtoken) = self.authtoken.clone() else {
            return Err(TunnelError::NoAuthtoken);
        };
        let latency = Arc::new(AtomicU64::new(0));
        let heartbeat = latency.clone();
        let mut builder = ngrok::Session::builder();
        builder
            .authtoken(authtoken.expose())
            .client_info(
                "coda-mcp-desktop",
                env!("CARGO_PKG_VERSION"),
                None::<String>,
            )
            .handle_heartbeat(move |measured: Option<Duration>| {
                let heartbeat = heartbeat.clone();
                async move {
                    let ms = measured.map_or(0, |d| d.as_millis().max(1) as u64);
                    heartbeat.store(ms, Ordering::Relaxed);
                    Ok(())
                }
            })
            // First connection: the crate's own. A reconnect after a drop: give up, so the
            // tunnel ends and our supervisor reconnects on its own schedule.
            .connector(
                |host: String, port, tls, err: Option<ngrok::tunnel::AcceptError>| async move {
                    if err.is_some() {
                        return Err(ngrok::session::ConnectError::Canceled);
                    }
                    ngrok::session::default_connect(host, port, tls, None).await
                },
            );
        if let Some(addr) = &self.server_addr {
            builder
                .server_addr(addr.clone())
                .map_err(|e| TunnelError::Unreachable(e.to_string()))?;
        }
        let session = builder.connect().await.map_err(connect_error)?;
        let mut endpoint = session.http_endpoint();
        if let Some(domain) = &self.domain {
            endpoint.domain(domain.clone());
        }
        let mut listener = endpoint
            .listen()
            .await
            .map_err(|e| TunnelError::Refused(e.to_string()))?;
        let url = listener.url().to_owned();
        let close = CancellationToken::new();
        let stop = close.clone();
        let closed = async move {
            let reason = loop {
                let next = tokio::select! {
                    _ = stop.cancelled() => break "closed".to_owned(),
                    next = listener.next() => next,
                };
                match next {
                    Some(Ok(conn)) => {
                        let remote = conn.remote_addr();
                        tokio::spawn(serve_connection(conn, remote, app.clone()));
                    }
                    Some(Err(e)) => break e.to_string(),
                    None => break "the ngrok session ended".to_owned(),
                }
            };
            drop(session);
            TunnelError::Dropped(reason)
        }
        .boxed();
        Ok(OpenTunnel {
            url,
            closed,
            close,
            latency_ms: latency,
        })
    }
}

/// Serves one tunnelled connection with the public router, telling it the real client's
/// address (for per-client limits).
async fn serve_connection(
    conn: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    remote: SocketAddr,
    app: Router,
) {
    let app = app.layer(axum::Extension(ConnectInfo(remote)));
    let service = hyper_util::service::TowerToHyperService::new(app);
    let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
        .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(conn), service)
        .await;
}

/// Sorts the crate's connection errors into what retrying can and cannot fix.
fn connect_error(e: ngrok::session::ConnectError) -> TunnelError {
    use ngrok::session::ConnectError as E;
    match &e {
        E::Auth(rpc) => TunnelError::Refused(rpc.to_string()),
        _ => {
            // Include the cause: "failed to establish tcp connection" alone says too little.
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            TunnelError::Unreachable(text)
        }
    }
}
