//! Accepting and serving connections, the same way for both faces (the loopback listener and
//! the tunnel's connections).
//!
//! - Every accepted socket has `TCP_NODELAY`: an answer streamed as SSE is written in a few
//!   pieces, and with Nagle's algorithm on, the last piece waits for the client's delayed ACK
//!   (~40 ms per call on a kept-alive connection).
//! - A request's head must arrive within [`HEADER_TIMEOUT`], which is also how long a
//!   kept-alive connection may sit idle: a client that stalls mid-headers, or opens
//!   connections and sends nothing, holds nothing for long.
//! - Connections are capped per face and per client network (an IPv4 address, an IPv6 /64,
//!   and four times that for an IPv6 /48), so one stranger cannot take every connection; a connection over the cap is closed at once.
//! - HTTP/2 is bounded like HTTP/1: few concurrent streams, small flow-control windows (what
//!   the peer may send before we read), small header lists.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// How long a client may take to send a request's head, and how long a kept-alive connection
/// may wait for its next request.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest request head (request line and headers) held for one connection.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// HTTP/2: streams one connection may have open at once.
const H2_MAX_STREAMS: u32 = 32;
/// HTTP/2: what the peer may send on one stream, and on the whole connection, before the
/// server reads it (h2 buffers that much at most).
const H2_STREAM_WINDOW: u32 = 256 * 1024;
const H2_CONNECTION_WINDOW: u32 = 1024 * 1024;

/// How many connections a face serves at once, in all and from one client network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnLimits {
    /// Connections open at once on this face.
    pub max: usize,
    /// Connections open at once from one client network (IPv4 address, IPv6 /64).
    pub per_client: usize,
}

impl ConnLimits {
    /// The loopback listener: the person's own clients (every one of them shares 127.0.0.1).
    pub const LOCAL: ConnLimits = ConnLimits {
        max: 1024,
        per_client: 1024,
    };
    /// The public face: anyone on the internet, each from their own address.
    pub const PUBLIC: ConnLimits = ConnLimits {
        max: 512,
        per_client: 32,
    };
}

pub(crate) use crate::netshare::client_network;

/// The local address a client connected to (on sockets the loopback listener accepted; the
/// stdio bridge's proof binds it).
#[derive(Clone, Copy, Debug)]
pub struct LocalAddr(pub SocketAddr);

/// The caller an in-process request was made as ([`crate::tunnel::Endpoint::handle`]): only
/// code in this process can attach it, so authentication takes it as given.
#[derive(Clone, Debug)]
pub struct Trusted(pub crate::caller::Caller);

/// The open connections of one face, counted in all and per client network.
#[derive(Clone)]
pub struct Connections {
    limits: ConnLimits,
    inner: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    open: Mutex<crate::netshare::Held>,
    closed: Notify,
}

/// One admitted connection; it stops counting when dropped.
pub struct Admitted {
    inner: Arc<Counts>,
    ip: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.inner
            .open
            .lock()
            .expect("connections")
            .give_back(self.ip, 1);
        self.inner.closed.notify_waiters();
    }
}

impl Connections {
    /// Counts for a face with `limits`.
    pub fn new(limits: ConnLimits) -> Self {
        Connections {
            limits,
            inner: Arc::default(),
        }
    }

    /// Admits a connection from `ip`, or `None` when the face, that client network or its
    /// IPv6 /48 (four clients' worth) is at its cap.
    pub fn admit(&self, ip: IpAddr) -> Option<Admitted> {
        let shares = crate::netshare::Shares {
            per_network: self.limits.per_client,
            per_wide: self.limits.per_client.saturating_mul(4),
            total: self.limits.max,
        };
        let mut open = self.inner.open.lock().expect("connections");
        if !open.take(&shares, ip, 1) {
            return None;
        }
        Some(Admitted {
            inner: self.inner.clone(),
            ip,
        })
    }

    /// Connections open right now.
    pub fn open(&self) -> usize {
        self.inner.open.lock().expect("connections").total()
    }

    /// Waits until every connection has closed.
    async fn all_closed(&self) {
        loop {
            let closed = self.inner.closed.notified();
            if self.open() == 0 {
                return;
            }
            closed.await;
        }
    }
}

/// A face of the server as it meets connections: its router and its connection counts.
#[derive(Clone)]
pub struct Face {
    router: Router,
    connections: Connections,
    http: auto::Builder<TokioExecutor>,
}

impl Face {
    /// `router` served within `limits`.
    pub fn new(router: Router, limits: ConnLimits) -> Self {
        let mut http = auto::Builder::new(TokioExecutor::new());
        http.http1()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .max_buf_size(MAX_HEAD_BYTES);
        http.http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(H2_MAX_STREAMS)
            .initial_stream_window_size(H2_STREAM_WINDOW)
            .initial_connection_window_size(H2_CONNECTION_WINDOW)
            .max_header_list_size(MAX_HEAD_BYTES as u32)
            .max_pending_accept_reset_streams(H2_MAX_STREAMS as usize)
            .keep_alive_interval(HEADER_TIMEOUT)
            .keep_alive_timeout(HEADER_TIMEOUT);
        Face {
            router,
            connections: Connections::new(limits),
            http,
        }
    }

    /// The router (for tests that call it without a socket).
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// The face's open connections.
    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// Accepts connections on `listener` until `stop`, then waits for the open ones to close
    /// (they are asked to finish their current request first).
    pub async fn serve(
        self,
        listener: TcpListener,
        stop: CancellationToken,
    ) -> std::io::Result<()> {
        loop {
            let accepted = tokio::select! {
                _ = stop.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((socket, remote)) => {
                    // Best effort: a socket that refuses it still works, only slower.
                    let _ = socket.set_nodelay(true);
                    let local = socket.local_addr().ok().map(LocalAddr);
                    self.serve_accepted(socket, remote, local, stop.clone());
                }
                // Out of file descriptors and the like: wait a moment rather than spin.
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        drop(listener);
        self.connections.all_closed().await;
        Ok(())
    }

    /// Serves one connection (accepted here, or handed over by the tunnel) in the
    /// background, telling the router the client's address; closes it at once when the face
    /// or that client is at its cap. `stop` finishes it gracefully.
    pub fn serve_connection<I>(&self, io: I, remote: SocketAddr, stop: CancellationToken)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.serve_accepted(io, remote, None, stop);
    }

    /// [`Face::serve_connection`], telling the router also which local address the client
    /// connected to (a socket this face accepted itself).
    fn serve_accepted<I>(
        &self,
        io: I,
        remote: SocketAddr,
        local: Option<LocalAddr>,
        stop: CancellationToken,
    ) where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Some(admitted) = self.connections.admit(remote.ip()) else {
            tracing::debug!(client = %remote.ip(), "connection refused: at the connection cap");
            return;
        };
        let router = self.router.clone();
        let http = self.http.clone();
        tokio::spawn(async move {
            let _admitted = admitted;
            let service = tower::service_fn(move |mut req: axum::extract::Request<_>| {
                req.extensions_mut().insert(ConnectInfo(remote));
                if let Some(local) = local {
                    req.extensions_mut().insert(local);
                }
                router.clone().oneshot(req.map(axum::body::Body::new))
            });
            let service = TowerToHyperService::new(service);
            let conn = http.serve_connection_with_upgrades(TokioIo::new(io), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.as_mut().await;
                }
            }
        });
    }
}

/// The tunnel hands the public face its connections.
impl crate::tunnel::Endpoint for Face {
    fn serve_connection(
        &self,
        io: Box<dyn crate::tunnel::Connection>,
        remote: SocketAddr,
        stop: CancellationToken,
    ) {
        Face::serve_connection(self, io, remote, stop);
    }

    fn handle(
        &self,
        mut request: axum::http::Request<axum::body::Body>,
        remote: SocketAddr,
        caller: crate::caller::Caller,
    ) -> futures::future::BoxFuture<'static, axum::response::Response> {
        let router = self.router.clone();
        Box::pin(async move {
            request.extensions_mut().insert(ConnectInfo(remote));
            request.extensions_mut().insert(Trusted(caller));
            match router.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_network(a), client_network(b));
        assert_ne!(client_network(a), client_network(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(
            client_network(mapped),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn connections_are_capped_in_all_and_per_client() {
        let c = Connections::new(ConnLimits {
            max: 3,
            per_client: 2,
        });
        let one: IpAddr = "192.0.2.1".parse().unwrap();
        let two: IpAddr = "192.0.2.2".parse().unwrap();
        let a = c.admit(one).expect("first");
        let _b = c.admit(one).expect("second");
        assert!(c.admit(one).is_none(), "a third from one client");
        let _c = c.admit(two).expect("another client");
        assert!(
            c.admit("192.0.2.3".parse().unwrap()).is_none(),
            "the face is full"
        );
        drop(a);
        assert_eq!(c.open(), 2);
        assert!(c.admit(one).is_some(), "room again once one closed");
    }
}
