//! The tunnel, without a network: a test double stands in for ngrok to drive the supervisor
//! (up, drop, reconnect with a new URL, permanent failure, stop), and the real ngrok provider
//! is exercised only on its offline failure paths, while the local server keeps serving.

use crate::common;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coda_mcp::coda::Secret;
use coda_mcp::control::supervise_tunnel;
use coda_mcp::tunnel::ngrok::NgrokProvider;
use coda_mcp::tunnel::{
    Backoff, Endpoint, OpenTunnel, Tunnel, TunnelError, TunnelProvider, TunnelState,
};
use common::{Harness, TEST_KEY};
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const FAST: Backoff = Backoff {
    first: Duration::from_millis(50),
    max: Duration::from_millis(200),
};

/// A tunnel double: each `open` takes the next scripted outcome; an opened tunnel serves the
/// router on a loopback port and drops when the test says so.
#[derive(Default)]
struct FakeProvider {
    script: Mutex<VecDeque<Result<&'static str, TunnelError>>>,
    opened: Mutex<Vec<(SocketAddr, tokio::sync::oneshot::Sender<()>)>>,
    opens: std::sync::atomic::AtomicUsize,
    /// The latency cell of the latest tunnel (the provider's heartbeat writes it).
    latency: Mutex<Option<Arc<std::sync::atomic::AtomicU64>>>,
}

impl FakeProvider {
    fn new(script: Vec<Result<&'static str, TunnelError>>) -> Arc<Self> {
        Arc::new(FakeProvider {
            script: Mutex::new(script.into()),
            ..Default::default()
        })
    }

    /// The loopback address the latest tunnel serves on.
    fn addr(&self) -> SocketAddr {
        self.opened.lock().unwrap().last().unwrap().0
    }

    /// Drops the latest tunnel, as a network failure would.
    fn drop_latest(&self) {
        let (_, tx) = self.opened.lock().unwrap().pop().unwrap();
        let _ = tx.send(());
    }
}

/// The double as the supervisor holds it (the test keeps another handle to script it).
struct Shared(Arc<FakeProvider>);

impl TunnelProvider for Shared {
    fn open(&self, app: Arc<dyn Endpoint>) -> BoxFuture<'static, Result<OpenTunnel, TunnelError>> {
        let this = self.0.clone();
        async move {
            this.opens.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let next = this.script.lock().unwrap().pop_front();
            let url = match next {
                Some(Ok(url)) => url,
                Some(Err(e)) => return Err(e),
                None => return Err(TunnelError::Unreachable("script ended".into())),
            };
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let close = CancellationToken::new();
            let stop = close.clone();
            let (drop_tx, drop_rx) = tokio::sync::oneshot::channel();
            this.opened.lock().unwrap().push((addr, drop_tx));
            // The tunnel's own accept loop: each connection goes to the endpoint.
            let server = tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        accepted = listener.accept() => {
                            let Ok((socket, remote)) = accepted else { break };
                            app.serve_connection(Box::new(socket), remote, stop.clone());
                        }
                    }
                }
            });
            let stop = close.clone();
            let closed = async move {
                let _ = drop_rx.await;
                stop.cancel();
                let _ = server.await;
                TunnelError::Dropped("connection reset by the test".into())
            }
            .boxed();
            let latency = Arc::new(std::sync::atomic::AtomicU64::new(0));
            *this.latency.lock().unwrap() = Some(latency.clone());
            Ok(OpenTunnel {
                url: url.to_owned(),
                closed,
                close,
                latency_ms: latency,
            })
        }
        .boxed()
    }
}

async fn wait_for(tunnel: &Tunnel, what: &str, pred: impl Fn(&TunnelState) -> bool) -> TunnelState {
    let mut rx = tunnel.watch();
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let state = rx.borrow_and_update().clone();
            if pred(&state) {
                return state;
            }
            rx.changed().await.unwrap();
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("tunnel never reached {what}; now {:?}", tunnel.state()))
}

/// A request through the fake tunnel, naming the tunnel's public host.
async fn through(addr: SocketAddr, host: &str, path: &str, key: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .header("host", host);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn tunnel_up_drop_reconnect_with_new_url_and_stop() {
    let h = Harness::start().await;
    let engine = h.server.state.engine.clone();
    let fake = FakeProvider::new(vec![
        Ok("https://first.ngrok.test"),
        Err(TunnelError::Unreachable("network is down".into())),
        Ok("https://second.ngrok.test"),
    ]);
    let tunnel = supervise_tunnel(
        Arc::new(Shared(fake.clone())),
        Arc::new(h.server.public_face()),
        &engine,
        FAST,
    );
    let up = wait_for(&tunnel, "up", |s| s.url().is_some()).await;
    assert_eq!(up.url(), Some("https://first.ngrok.test"));
    assert_eq!(
        engine.public().url().as_deref(),
        Some("https://first.ngrok.test")
    );

    // The OpenAPI servers follow the tunnel (read through the local listener).
    let schema: Value = h
        .http
        .get(format!("{}/openapi.json", h.base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(schema["servers"][0]["url"], "https://first.ngrok.test");

    // Through the tunnel: health is public, MCP needs the key, the dashboard does not exist.
    let addr = fake.addr();
    let host = "first.ngrok.test";
    assert_eq!(through(addr, host, "/health", None).await.status(), 200);
    let denied = through(addr, host, "/openapi.json", None).await;
    assert_eq!(denied.status(), 200, "the schema is public");
    let post = reqwest::Client::new()
        .post(format!("http://{addr}/mcp"))
        .header("host", host)
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 401);
    for path in ["/ui/", "/api/state", "/api/events"] {
        let resp = through(addr, host, path, Some(TEST_KEY)).await;
        assert_eq!(
            resp.status(),
            404,
            "{path} must not exist through the tunnel"
        );
    }
    // A made-up host is refused even through the tunnel.
    assert_eq!(
        through(addr, "evil.test", "/health", None).await.status(),
        403
    );

    // Drop: the supervisor retries (the script's next open fails), then comes back up on a
    // new URL and says the schema must be copied again.
    let mut events = engine.events().subscribe(None);
    fake.drop_latest();
    wait_for(&tunnel, "retrying", |s| {
        matches!(s, TunnelState::Retrying { .. })
    })
    .await;
    assert_eq!(
        engine.public().url(),
        None,
        "no stale public URL while down"
    );
    let up = wait_for(&tunnel, "up again", |s| {
        s.url() == Some("https://second.ngrok.test")
    })
    .await;
    assert!(matches!(up, TunnelState::Up { .. }));
    assert!(engine.public().allows_host("second.ngrok.test"));
    assert!(!engine.public().allows_host("first.ngrok.test"));
    let mut told = false;
    while let Ok(Ok(event)) =
        tokio::time::timeout(Duration::from_millis(500), events.1.recv()).await
    {
        let text = serde_json::to_string(&*event).unwrap();
        if text.contains("create them again with") && text.contains("copy the schema again") {
            told = true;
            break;
        }
    }
    assert!(told, "the person is told to re-copy the schema");
    assert_eq!(fake.opens.load(std::sync::atomic::Ordering::SeqCst), 3);

    tunnel.stop().await;
    assert_eq!(engine.public().url(), None);
    h.stop().await;
}

#[tokio::test]
async fn permanent_failures_stop_retrying_with_a_clear_error() {
    let h = Harness::start().await;
    let fake = FakeProvider::new(vec![Err(TunnelError::Refused("invalid authtoken".into()))]);
    let tunnel = supervise_tunnel(
        Arc::new(Shared(fake.clone())),
        Arc::new(h.server.public_face()),
        &h.server.state.engine,
        FAST,
    );
    let failed = wait_for(&tunnel, "failed", |s| {
        matches!(s, TunnelState::Failed { .. })
    })
    .await;
    let TunnelState::Failed { error } = failed else {
        unreachable!()
    };
    assert!(
        error.contains("ngrok refused the tunnel: invalid authtoken"),
        "{error}"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        fake.opens.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "no retry loop"
    );
    tunnel.stop().await;
    h.stop().await;
}

#[tokio::test]
async fn real_ngrok_without_an_authtoken_fails_clearly_and_the_server_keeps_serving() {
    let h = Harness::start().await;
    let provider = NgrokProvider::new(None, Some("coda.example.ngrok.app".into()));
    let tunnel = supervise_tunnel(
        Arc::new(provider),
        Arc::new(h.server.public_face()),
        &h.server.state.engine,
        FAST,
    );
    let failed = wait_for(&tunnel, "failed", |s| {
        matches!(s, TunnelState::Failed { .. })
    })
    .await;
    let text = serde_json::to_string(&failed).unwrap();
    assert!(text.contains("no ngrok authtoken"), "{text}");
    assert!(
        text.contains("dashboard.ngrok.com"),
        "says where to get one: {text}"
    );
    let health = h
        .http
        .get(format!("{}/health", h.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    tunnel.stop().await;
    h.stop().await;
}

#[tokio::test]
async fn real_ngrok_unreachable_retries_on_our_schedule_without_leaking_the_authtoken() {
    let h = Harness::start().await;
    // Port 9 on loopback: nothing listens, so the connection is refused at once (no network).
    let secret = "2abcSECRETngrokAuthtoken_0123456789";
    let provider =
        NgrokProvider::new(Some(Secret::new(secret)), None).with_server_addr("127.0.0.1:9");
    let tunnel = supervise_tunnel(
        Arc::new(provider),
        Arc::new(h.server.public_face()),
        &h.server.state.engine,
        FAST,
    );
    let retrying = wait_for(
        &tunnel,
        "retrying",
        |s| matches!(s, TunnelState::Retrying { attempt, .. } if *attempt >= 2),
    )
    .await;
    let text = serde_json::to_string(&retrying).unwrap();
    assert!(text.contains("cannot reach ngrok"), "{text}");
    assert!(!text.contains(secret));
    let TunnelState::Retrying { retry_in_ms, .. } = retrying else {
        unreachable!()
    };
    assert!(
        retry_in_ms <= 200,
        "our cap, not the crate's hours: {retry_in_ms}"
    );
    // The local server is unaffected.
    let health = h
        .http
        .get(format!("{}/health", h.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    // Nothing in the event history carries the authtoken.
    let (replay, _) = h.server.state.engine.events().subscribe(Some(0));
    let all = serde_json::to_string(&replay).unwrap();
    assert!(!all.contains(secret));
    tunnel.stop().await;
    assert_eq!(tunnel_state_after_stop(&h), None);
    h.stop().await;
}

fn tunnel_state_after_stop(h: &Harness) -> Option<String> {
    h.server.state.engine.public().url()
}

/// The bus's events of one kind, as JSON, from a receiver (waiting up to `within`).
async fn events_of(
    rx: &mut tokio::sync::broadcast::Receiver<Arc<coda_mcp::events::Event>>,
    kind: &str,
    within: Duration,
    until: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let mut found = Vec::new();
    let _ = tokio::time::timeout(within, async {
        while let Ok(e) = rx.recv().await {
            let v = serde_json::to_value(&*e).unwrap();
            if v["type"] == kind {
                let stop = until(&v);
                found.push(v);
                if stop {
                    break;
                }
            }
        }
    })
    .await;
    found
}

#[tokio::test]
async fn measured_latency_goes_on_the_bus_while_up() {
    let h = Harness::start().await;
    let engine = h.server.state.engine.clone();
    let fake = FakeProvider::new(vec![Ok("https://lat.ngrok.test")]);
    let (_, mut rx) = engine.events().subscribe(None);
    let tunnel = supervise_tunnel(
        Arc::new(Shared(fake.clone())),
        Arc::new(h.server.public_face()),
        &engine,
        FAST,
    );
    wait_for(&tunnel, "up", |s| s.url().is_some()).await;
    // The provider's heartbeat measures a round trip.
    fake.latency
        .lock()
        .unwrap()
        .as_ref()
        .unwrap()
        .store(42, std::sync::atomic::Ordering::Relaxed);
    let seen = events_of(&mut rx, "tunnel", Duration::from_secs(5), |v| {
        v["state"]["latency_ms"] == 42
    })
    .await;
    let last = seen.last().expect("tunnel events");
    assert_eq!(last["state"]["state"], "up");
    assert_eq!(last["state"]["latency_ms"], 42, "{seen:?}");
    assert_eq!(
        engine.public().tunnel_state(),
        TunnelState::Up {
            url: "https://lat.ngrok.test".into(),
            latency_ms: Some(42)
        },
        "the dashboard's snapshot has it too"
    );
    tunnel.stop().await;
    h.stop().await;
}

#[tokio::test]
async fn an_endpoint_still_online_elsewhere_is_retried_not_given_up() {
    let h = Harness::start().await;
    let fake = FakeProvider::new(vec![
        Err(TunnelError::Busy(
            "The endpoint 'https://x.ngrok.app' is already online. (ERR_NGROK_334)".into(),
        )),
        Ok("https://x.ngrok.app"),
    ]);
    let tunnel = supervise_tunnel(
        Arc::new(Shared(fake.clone())),
        Arc::new(h.server.public_face()),
        &h.server.state.engine,
        FAST,
    );
    let up = wait_for(&tunnel, "up after a retry", |s| s.url().is_some()).await;
    assert_eq!(up.url(), Some("https://x.ngrok.app"));
    assert_eq!(fake.opens.load(std::sync::atomic::Ordering::SeqCst), 2);
    tunnel.stop().await;
    h.stop().await;
}

/// ChatGPT keeps the schema it was given: when the tunnel comes up on another URL than last
/// time — after a stop and start, or after the app restarts — the bus says so (and the
/// dashboard's snapshot keeps saying so), from the URL remembered in the data directory.
#[tokio::test]
async fn a_new_public_url_is_announced_across_tunnel_and_app_restarts() {
    let dir = std::env::temp_dir().join(format!("coda-mcp-tunnel-{}", uuid::Uuid::new_v4()));
    let with_dir = |config: &mut coda_mcp::EngineConfig| config.data_dir = Some(dir.clone());

    // First run: the first URL is remembered; nothing to re-copy yet.
    let h = Harness::start_with(common::quick_demo(), with_dir).await;
    let engine = h.server.state.engine.clone();
    let (_, mut rx) = engine.events().subscribe(None);
    let run = |url: &'static str, engine: &coda_mcp::Engine, h: &Harness| {
        supervise_tunnel(
            Arc::new(Shared(FakeProvider::new(vec![Ok(url)]))),
            Arc::new(h.server.public_face()),
            engine,
            FAST,
        )
    };
    let tunnel = run("https://one.ngrok.test", &engine, &h);
    wait_for(&tunnel, "up", |s| s.url().is_some()).await;
    tunnel.stop().await;
    // Stopped and started again on the same URL: still nothing.
    let tunnel = run("https://one.ngrok.test", &engine, &h);
    wait_for(&tunnel, "up", |s| s.url().is_some()).await;
    tunnel.stop().await;
    let changed = events_of(
        &mut rx,
        "public_url_changed",
        Duration::from_millis(300),
        |_| true,
    )
    .await;
    assert!(changed.is_empty(), "{changed:?}");
    // Stopped and started on a new URL (a free ngrok domain changes): announced.
    let tunnel = run("https://two.ngrok.test", &engine, &h);
    wait_for(&tunnel, "up", |s| s.url().is_some()).await;
    let changed = events_of(
        &mut rx,
        "public_url_changed",
        Duration::from_secs(5),
        |_| true,
    )
    .await;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["previous"], "https://one.ngrok.test");
    assert_eq!(changed[0]["url"], "https://two.ngrok.test");
    tunnel.stop().await;
    h.stop().await;
    let kept = std::fs::read_to_string(dir.join(coda_mcp::tunnel::URL_MEMORY_FILE)).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&kept).unwrap(),
        serde_json::json!({"url": "https://two.ngrok.test"}),
        "only the URL is kept"
    );

    // The app restarts (a new engine over the same data directory) and gets a third URL.
    let h = Harness::start_with(common::quick_demo(), with_dir).await;
    let engine = h.server.state.engine.clone();
    let (_, mut rx) = engine.events().subscribe(None);
    let tunnel = run("https://three.ngrok.test", &engine, &h);
    wait_for(&tunnel, "up", |s| s.url().is_some()).await;
    let changed = events_of(
        &mut rx,
        "public_url_changed",
        Duration::from_secs(5),
        |_| true,
    )
    .await;
    assert_eq!(changed.len(), 1, "announced after the restart too");
    assert_eq!(changed[0]["previous"], "https://two.ngrok.test");
    // A dashboard opened afterwards still shows the notice.
    let state: Value = h
        .http
        .get(format!("{}/api/state", h.base()))
        .bearer_auth(h.dashboard_token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        state["setup"]["url_changed"]["url"],
        "https://three.ngrok.test"
    );
    assert_eq!(
        state["setup"]["url_changed"]["previous"],
        "https://two.ngrok.test"
    );
    tunnel.stop().await;
    h.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}
