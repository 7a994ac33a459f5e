//! The real tunnel: an ngrok HTTPS endpoint opened in-process with the `ngrok` crate, whose
//! connections are served by the engine's public router. The crate's own reconnect loop is
//! cut short through its connector (a reconnect attempt gives up at once), so the
//! [`super::Tunnel`] supervisor rebuilds the session on its capped schedule instead.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use ngrok::config::TunnelBuilder;
use ngrok::conn::ConnInfo;
use ngrok::tunnel::EndpointInfo;
use tokio_util::sync::CancellationToken;

use super::{Endpoint, OpenTunnel, TunnelError, TunnelProvider};
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
    fn open(&self, app: Arc<dyn Endpoint>) -> BoxFuture<'static, Result<OpenTunnel, TunnelError>> {
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
    async fn open_inner(self, app: Arc<dyn Endpoint>) -> Result<OpenTunnel, TunnelError> {
        let Some(authtoken) = self.authtoken.clone() else {
            return Err(TunnelError::NoAuthtoken);
        };
        let latency = Arc::new(AtomicU64::new(0));
        let heartbeat = latency.clone();
        crate::coda::tls::ready();
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
                    first_connection_only(err.as_ref())?;
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
        let mut listener = endpoint.listen().await.map_err(|e| rpc_error(&e))?;
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
                        // Served like the loopback listener's: limits, timeouts, the
                        // client's real address for per-client counts.
                        let remote = conn.remote_addr();
                        app.serve_connection(Box::new(conn), remote, stop.clone());
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

/// The reconnect decision handed to the crate through its connector: the first connection
/// goes ahead; a reconnect after a drop (`err` is set) is cancelled at once. The crate's own
/// reconnect loop backs off exponentially without a cap (hours after a long outage), so the
/// session must end instead and the [`super::Tunnel`] supervisor rebuild it on its capped
/// schedule.
fn first_connection_only(
    err: Option<&ngrok::tunnel::AcceptError>,
) -> Result<(), ngrok::session::ConnectError> {
    match err {
        None => Ok(()),
        Some(_) => Err(ngrok::session::ConnectError::Canceled),
    }
}

/// ngrok error codes (https://ngrok.com/docs/errors) retrying cannot fix: the authtoken is
/// missing, malformed, revoked or not verified, or the agent is too old.
const AUTH_CODES: &[&str] = &[
    "ERR_NGROK_105",
    "ERR_NGROK_106",
    "ERR_NGROK_107",
    "ERR_NGROK_120",
    "ERR_NGROK_121",
    "ERR_NGROK_4018",
];

/// ngrok error codes that pass: the endpoint is still online from an earlier session
/// (ngrok keeps it until that session times out), or every agent session of the account is
/// in use (one may end).
const BUSY_CODES: &[&str] = &["ERR_NGROK_108", "ERR_NGROK_334", "ERR_NGROK_9017"];

/// Sorts an error ngrok answered (its code, when it sent one, and its message) into what
/// retrying can fix and what it cannot. Authentication problems are permanent; an endpoint
/// that is "already online" or busy, or any other hiccup, is retried with backoff; a domain
/// the account may not use is permanent.
fn classify(code: Option<&str>, message: &str) -> TunnelError {
    let text = match code {
        Some(code) => format!("{message} ({code})"),
        None => message.to_owned(),
    };
    let lower = message.to_ascii_lowercase();
    let is = |codes: &[&str]| code.is_some_and(|c| codes.iter().any(|k| c.eq_ignore_ascii_case(k)));
    if is(AUTH_CODES)
        || [
            "authtoken",
            "authentication failed",
            "credentials",
            "not authorized",
        ]
        .iter()
        .any(|w| lower.contains(w))
    {
        return TunnelError::Refused(text);
    }
    if is(BUSY_CODES)
        || [
            "already online",
            "already bound",
            "simultaneous",
            "try again",
            "temporar",
            "busy",
        ]
        .iter()
        .any(|w| lower.contains(w))
    {
        return TunnelError::Busy(text);
    }
    if lower.contains("domain") || lower.contains("hostname") || lower.contains("paid plan") {
        return TunnelError::Refused(text);
    }
    TunnelError::Busy(text)
}

/// An RPC error of the crate: what ngrok answered is classified; a transport failure means
/// ngrok could not be reached.
fn rpc_error(e: &ngrok::session::RpcError) -> TunnelError {
    use ngrok::Error as _;
    match e {
        ngrok::session::RpcError::Response(_) => classify(e.error_code(), &e.msg()),
        other => TunnelError::Unreachable(with_causes(other)),
    }
}

/// An error with its causes: "failed to establish tcp connection" alone says too little.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Sorts the crate's connection errors into what retrying can and cannot fix.
fn connect_error(e: ngrok::session::ConnectError) -> TunnelError {
    use ngrok::session::ConnectError as E;
    match &e {
        E::Auth(rpc) => match rpc_error(rpc) {
            // The authentication call itself failed in transit: not a verdict on the token.
            TunnelError::Unreachable(text) => TunnelError::Unreachable(text),
            verdict => verdict,
        },
        _ => TunnelError::Unreachable(with_causes(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reconnect_is_left_to_our_supervisor() {
        assert!(
            first_connection_only(None).is_ok(),
            "the first connection goes ahead"
        );
        let dropped = ngrok::tunnel::AcceptError::ListenerClosed {
            message: "session closed".into(),
            error_code: None,
        };
        assert!(
            matches!(
                first_connection_only(Some(&dropped)),
                Err(ngrok::session::ConnectError::Canceled)
            ),
            "a reconnect is cancelled, which ends the crate's own (uncapped) retry loop"
        );
    }

    #[test]
    fn ngrok_errors_are_sorted_into_permanent_and_retryable() {
        let permanent = |e: TunnelError| e.is_permanent();
        // Authentication: retrying cannot help.
        assert!(permanent(classify(
            Some("ERR_NGROK_105"),
            "The authtoken you specified does not look like a proper ngrok tunnel authtoken."
        )));
        assert!(permanent(classify(
            Some("ERR_NGROK_107"),
            "The authtoken you specified is properly formed, but it is invalid."
        )));
        assert!(permanent(classify(
            Some("ERR_NGROK_4018"),
            "Usage of ngrok requires a verified account and authtoken."
        )));
        assert!(permanent(classify(
            None,
            "authentication failed: bad credentials"
        )));
        // A domain the account may not use.
        assert!(permanent(classify(
            Some("ERR_NGROK_320"),
            "The domain 'x.ngrok.app' is reserved for another account."
        )));
        // Busy or passing: retried with backoff.
        let busy = classify(
            Some("ERR_NGROK_334"),
            "The endpoint 'https://x.ngrok.app' is already online.",
        );
        assert!(matches!(busy, TunnelError::Busy(_)), "{busy}");
        assert!(busy.to_string().contains("ERR_NGROK_334"));
        assert!(!permanent(classify(
            Some("ERR_NGROK_108"),
            "Your account is limited to 1 simultaneous ngrok agent sessions."
        )));
        assert!(!permanent(classify(None, "the endpoint is already online")));
        assert!(!permanent(classify(
            Some("ERR_NGROK_9999"),
            "something went wrong, please try later"
        )));
        // A transport failure of the call: unreachable, retried.
        let io = ngrok::session::RpcError::Receive(std::io::Error::other("connection reset"));
        let e = rpc_error(&io);
        assert!(
            matches!(e, TunnelError::Unreachable(_)) && !e.is_permanent(),
            "{e}"
        );
        assert!(e.to_string().contains("connection reset"));
    }
}
