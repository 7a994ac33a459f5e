//! OpenAI's Secure MCP Tunnel against a stand-in of its control plane, written from
//! openai/tunnel-client's `docs/protocol.md`: the client long-polls for commands and posts
//! each answer with the command's shard token; the stand-in checks every header the protocol
//! asks for. Everything on loopback.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use coda_mcp::coda::Secret;
use coda_mcp::tunnel::openai::OpenAiTunnelProvider;
use coda_mcp::tunnel::{Backoff, Endpoint, Tunnel, TunnelState};
use serde_json::{json, Value};

use crate::common::Harness;

const KEY: &str = "sk-tunnel-runtime-key-for-the-stand-in";
const TUNNEL: &str = "tunnel_0123456789abcdef";

/// The stand-in's state: commands waiting for a poll, answers received, what it saw.
#[derive(Default)]
struct Plane {
    queue: VecDeque<Value>,
    /// Shard token issued per request id (an answer must bring the same one).
    shards: HashMap<String, String>,
    answers: HashMap<String, Vec<Value>>,
    revoked: bool,
    polls: u64,
    bad_headers: Vec<String>,
}

type Shared = Arc<Mutex<Plane>>;

/// The refusal for a request without the key (none: it may go on).
fn check(plane: &Shared, headers: &HeaderMap) -> Option<Response> {
    let mut p = plane.lock().unwrap();
    for name in [
        "x-tunnel-client-name",
        "x-tunnel-client-version",
        "x-tunnel-client-instance-id",
        "x-tunnel-mcp-server-info",
    ] {
        if headers.get(name).is_none() {
            p.bad_headers.push(format!("missing {name}"));
        }
    }
    if let Some(info) = headers.get("x-tunnel-mcp-server-info") {
        let info: Value = serde_json::from_slice(info.as_bytes()).unwrap_or(Value::Null);
        if info["version"] != 1 || !info["channels"].is_array() {
            p.bad_headers.push(format!("server info {info}"));
        }
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if p.revoked || auth != format!("Bearer {KEY}") {
        return Some(
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": {"code": "invalid_api_key", "message": "Incorrect API key"}})),
            )
                .into_response(),
        );
    }
    None
}

async fn metadata(
    State(plane): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = check(&plane, &headers) {
        return r;
    }
    if id != TUNNEL {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": {"code": "tunnel_not_found"}})),
        )
            .into_response();
    }
    Json(json!({"id": TUNNEL, "name": "Coda", "description": "stand-in"})).into_response()
}

async fn poll(
    State(plane): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = check(&plane, &headers) {
        return r;
    }
    assert_eq!(id, TUNNEL);
    let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(25);
    assert!((1..=25).contains(&limit), "limit {limit}");
    // The stand-in bounds the wait (as the service does), much shorter than asked.
    let wait: u64 = q
        .get("timeout_ms")
        .and_then(|l| l.parse().ok())
        .unwrap_or(15_000)
        .min(600);
    let until = tokio::time::Instant::now() + Duration::from_millis(wait);
    // One poll, however long it is held.
    plane.lock().unwrap().polls += 1;
    loop {
        {
            let mut p = plane.lock().unwrap();
            if !p.queue.is_empty() {
                let n = limit.min(p.queue.len());
                let commands: Vec<Value> = p.queue.drain(..n).collect();
                return Json(json!({"commands": commands})).into_response();
            }
        }
        if tokio::time::Instant::now() >= until {
            return StatusCode::NO_CONTENT.into_response();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn respond(
    State(plane): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = check(&plane, &headers) {
        return r;
    }
    assert_eq!(id, TUNNEL);
    let mut p = plane.lock().unwrap();
    let request = body["request_id"].as_str().unwrap_or_default().to_owned();
    let shard = headers
        .get("x-tunnel-shard-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        body.get("shard_token").is_none(),
        "the shard token goes in the header only"
    );
    match p.shards.get(&request) {
        None => return StatusCode::NOT_FOUND.into_response(),
        Some(expected) if expected != shard => {
            p.bad_headers
                .push(format!("shard token {shard:?} for {request}"));
            return StatusCode::BAD_REQUEST.into_response();
        }
        _ => {}
    }
    let terminal = body["resp_type"] != "jsonrpc_notify";
    p.answers.entry(request.clone()).or_default().push(body);
    if terminal {
        p.shards.remove(&request);
    }
    Json(json!({"status": "ok"})).into_response()
}

struct StandIn {
    base: String,
    plane: Shared,
    stop: tokio_util::sync::CancellationToken,
    port: u16,
}

async fn stand_in_on(port: u16, plane: Shared) -> StandIn {
    let app = Router::new()
        .route("/v1/tunnels/{id}", get(metadata))
        .route("/v1/tunnels/{id}/poll", get(poll))
        .route("/v1/tunnels/{id}/response", post(respond))
        .with_state(plane.clone());
    // The same port again after a restart: the old listener may take a moment to close.
    let mut tries = 0;
    let listener = loop {
        match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => break l,
            Err(e) if tries < 100 => {
                tries += 1;
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("bind {port}: {e}"),
        }
    };
    let port = listener.local_addr().unwrap().port();
    let stop = tokio_util::sync::CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(s.cancelled_owned())
            .await
            .unwrap();
    });
    StandIn {
        base: format!("http://127.0.0.1:{port}"),
        plane,
        stop,
        port,
    }
}

impl StandIn {
    /// Queues a JSON-RPC command (with a fresh shard token); returns its request id.
    fn send(&self, n: usize, message: Value, session: Option<&str>) -> String {
        let request = format!("req_{n}_{}", uuid::Uuid::new_v4().simple());
        let shard = format!("shard-{}", uuid::Uuid::new_v4().simple());
        let mut headers = json!({"Authorization": ["Bearer not-for-the-server"]});
        if let Some(s) = session {
            headers["Mcp-Session-Id"] = json!([s]);
            headers["Mcp-Protocol-Version"] = json!(["2025-06-18"]);
        }
        let mut p = self.plane.lock().unwrap();
        p.shards.insert(request.clone(), shard.clone());
        p.queue.push_back(json!({
            "request_id": request, "shard_token": shard, "command_type": "jsonrpc", "channel": "main",
            "created_at": "2026-12-07T12:00:00Z", "response_timeout": "30s",
            "headers": headers, "jsonrpc": message, "a_future_field": {"ignored": true}
        }));
        request
    }

    async fn answer(&self, request: &str) -> Value {
        for _ in 0..300 {
            if let Some(a) = self.plane.lock().unwrap().answers.get(request) {
                if let Some(last) = a.last().filter(|l| l["resp_type"] != "jsonrpc_notify") {
                    return last.clone();
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no answer to {request}");
    }
}

async fn wait_state(tunnel: &Tunnel, what: &str, ok: impl Fn(&TunnelState) -> bool) -> TunnelState {
    for _ in 0..200 {
        let s = tunnel.state();
        if ok(&s) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("tunnel never {what}: {:?}", tunnel.state());
}

fn open(h: &Harness, base: &str, key: &str) -> Tunnel {
    let provider =
        OpenAiTunnelProvider::with_base(Some(Secret::new(key)), Some(TUNNEL.into()), base).unwrap();
    let face: Arc<dyn Endpoint> = Arc::new(h.server.public_face());
    Tunnel::start(
        Arc::new(provider),
        face,
        Backoff {
            first: Duration::from_millis(100),
            max: Duration::from_millis(400),
        },
        Arc::new(|_: &TunnelState| {}),
    )
}

async fn initialize(s: &StandIn) -> String {
    let req = s.send(0, json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "openai-mcp", "version": "1"}}}), None);
    let a = s.answer(&req).await;
    assert_eq!(a["resp_code"], 200, "{a}");
    assert_eq!(a["resp_type"], "jsonrpc_response");
    assert_eq!(a["channel"], "main");
    assert!(a["resp_json"]["result"]["serverInfo"].is_object(), "{a}");
    let session = a["resp_headers"]["Mcp-Session-Id"][0]
        .as_str()
        .expect("a session id")
        .to_owned();
    let note = s.send(
        1,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        Some(&session),
    );
    let ack = s.answer(&note).await;
    assert_eq!(ack["resp_type"], "notify_ack", "{ack}");
    assert!(ack.get("resp_json").is_none());
    session
}

#[tokio::test]
async fn chatgpt_lists_tools_and_writes_through_the_tunnel_with_no_public_url() {
    let h = Harness::start().await;
    let s = stand_in_on(0, Arc::default()).await;
    let tunnel = open(&h, &s.base, KEY);
    let up = wait_state(&tunnel, "up", |s| matches!(s, TunnelState::Up { .. })).await;
    assert_eq!(up.url(), Some(format!("openai-tunnel:{TUNNEL}").as_str()));
    let session = initialize(&s).await;

    let list = s.send(
        2,
        json!({"jsonrpc": "2.0", "id": "rpc_list", "method": "tools/list"}),
        Some(&session),
    );
    let a = s.answer(&list).await;
    assert_eq!(
        a["resp_json"]["id"], "rpc_list",
        "the JSON-RPC id is preserved"
    );
    let tools = a["resp_json"]["result"]["tools"].as_array().expect("tools");
    assert!(tools.iter().any(|t| t["name"] == "search"), "{a}");

    // A write through the tunnel: it runs as the tunnel's grant and lands in the demo.
    let docs = s.send(
        3,
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "coda_list_documents", "arguments": {}}}),
        Some(&session),
    );
    let a = s.answer(&docs).await;
    let text = a["resp_json"]["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let doc_id = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["items"][0]["id"].as_str().map(str::to_owned))
        .or_else(|| {
            a["resp_json"]["result"]["structuredContent"]["items"][0]["id"]
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("a doc id in {a}"));
    let create = s.send(4, json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {
        "name": "coda_create_page", "arguments": {"docId": doc_id, "name": "Written through OpenAI's tunnel"}}}), Some(&session));
    let a = s.answer(&create).await;
    assert_eq!(a["resp_json"]["result"]["isError"], false, "{a}");
    let pages = h
        .http
        .get(format!("{}/docs/{doc_id}/pages", h.demo.base_url))
        .bearer_auth(h.demo.token().expose())
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert!(
        pages
            .to_string()
            .contains("Written through OpenAI's tunnel"),
        "{pages}"
    );
    // The history names the tunnel as the caller.
    let history: Value = reqwest::Client::new()
        .get(format!("{}/api/calls?q=Tunnel", h.base()))
        .bearer_auth(h.dashboard_token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client = history["items"][0]["client"].as_str().unwrap_or_default();
    assert!(
        client.contains("ChatGPT (Secure MCP Tunnel)") && !client.contains("OAuth"),
        "{history}"
    );

    // A command with no deadline left is dropped, never answered late.
    let late = {
        let mut p = s.plane.lock().unwrap();
        p.shards.insert("req_late".into(), "shard-late".into());
        p.queue.push_back(
            json!({"request_id": "req_late", "shard_token": "shard-late", "command_type": "jsonrpc",
            "response_timeout": "0s", "jsonrpc": {"jsonrpc": "2.0", "id": 9, "method": "ping"}}),
        );
        "req_late"
    };
    // An unknown command type is skipped; the tunnel goes on.
    s.plane.lock().unwrap().queue.push_back(
        json!({"request_id": "req_future", "shard_token": "x", "command_type": "teleport"}),
    );
    let ping = s.send(
        5,
        json!({"jsonrpc": "2.0", "id": 5, "method": "ping"}),
        Some(&session),
    );
    assert_eq!(s.answer(&ping).await["resp_json"]["result"], json!({}));
    assert!(
        !s.plane.lock().unwrap().answers.contains_key(late),
        "an expired command was answered"
    );

    // The session ends when ChatGPT says so.
    let end = {
        let mut p = s.plane.lock().unwrap();
        p.shards.insert("req_end".into(), "shard-end".into());
        p.queue.push_back(json!({"request_id": "req_end", "shard_token": "shard-end", "command_type": "session_termination",
            "headers": {"Mcp-Session-Id": [session.clone()]}}));
        "req_end"
    };
    let a = s.answer(end).await;
    assert_eq!(a["resp_type"], "session_termination_response");
    assert_eq!(a["resp_code"], 204, "{a}");
    let after = s.send(
        6,
        json!({"jsonrpc": "2.0", "id": 6, "method": "tools/list"}),
        Some(&session),
    );
    assert_eq!(
        s.answer(&after).await["resp_code"],
        404,
        "the session is gone"
    );

    assert!(
        s.plane.lock().unwrap().bad_headers.is_empty(),
        "{:?}",
        s.plane.lock().unwrap().bad_headers
    );
    tunnel.stop().await;
    s.stop.cancel();
    h.stop().await;
}

#[tokio::test]
async fn a_command_is_answered_after_the_poll_was_renewed_and_25_run_at_once() {
    let h = Harness::start().await;
    let s = stand_in_on(0, Arc::default()).await;
    let tunnel = open(&h, &s.base, KEY);
    wait_state(&tunnel, "up", |s| matches!(s, TunnelState::Up { .. })).await;
    let session = initialize(&s).await;
    // Several empty polls (204) pass before the next command comes.
    let polls = s.plane.lock().unwrap().polls;
    let mut renewed = false;
    for _ in 0..200 {
        if s.plane.lock().unwrap().polls >= polls + 3 {
            renewed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(renewed, "the client kept polling after empty (204) answers");
    let later = s.send(
        7,
        json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list"}),
        Some(&session),
    );
    assert!(s.answer(&later).await["resp_json"]["result"]["tools"].is_array());

    // 25 commands in one poll, served concurrently, each answered with its own id.
    let started = std::time::Instant::now();
    let ids: Vec<String> = (0..25)
        .map(|n| {
            s.send(
                100 + n,
                json!({"jsonrpc": "2.0", "id": 100 + n, "method": "tools/call", "params": {
            "name": "coda_list_documents", "arguments": {}}}),
                Some(&session),
            )
        })
        .collect();
    for (n, id) in ids.iter().enumerate() {
        let a = s.answer(id).await;
        assert_eq!(a["resp_json"]["id"], json!(100 + n), "{a}");
        assert_eq!(a["resp_json"]["result"]["isError"], false, "{a}");
    }
    println!("25 commands through the tunnel in {:?}", started.elapsed());
    tunnel.stop().await;
    s.stop.cancel();
    h.stop().await;
}

#[tokio::test]
async fn a_revoked_key_stops_the_tunnel_plainly_and_a_restarted_plane_is_reconnected() {
    let h = Harness::start().await;
    // A wrong key: a permanent failure, said plainly, no retry loop.
    let s = stand_in_on(0, Arc::default()).await;
    let wrong = open(&h, &s.base, "sk-wrong");
    let failed = wait_state(&wrong, "failed", |s| {
        matches!(s, TunnelState::Failed { .. })
    })
    .await;
    let TunnelState::Failed { error } = failed else {
        unreachable!()
    };
    assert!(
        error.contains("API key was not accepted") && error.contains("coda-mcp openai-tunnel set"),
        "{error}"
    );
    assert!(
        !error.contains("sk-wrong"),
        "the key is never shown: {error}"
    );
    wrong.stop().await;

    // The stand-in goes away and comes back on the same port: the tunnel reconnects.
    let tunnel = open(&h, &s.base, KEY);
    wait_state(&tunnel, "up", |s| matches!(s, TunnelState::Up { .. })).await;
    let port = s.port;
    let plane = s.plane.clone();
    s.stop.cancel();
    wait_state(&tunnel, "retrying", |s| {
        matches!(
            s,
            TunnelState::Retrying { .. } | TunnelState::Connecting { .. }
        )
    })
    .await;
    let s = stand_in_on(port, plane).await;
    wait_state(&tunnel, "up again", |s| matches!(s, TunnelState::Up { .. })).await;
    let session = initialize(&s).await;
    let list = s.send(
        8,
        json!({"jsonrpc": "2.0", "id": 8, "method": "tools/list"}),
        Some(&session),
    );
    assert!(s.answer(&list).await["resp_json"]["result"]["tools"].is_array());

    // The key is revoked while the tunnel is up: the poll's 401 ends it for good.
    s.plane.lock().unwrap().revoked = true;
    let failed = wait_state(&tunnel, "failed", |s| {
        matches!(s, TunnelState::Failed { .. })
    })
    .await;
    let TunnelState::Failed { error } = failed else {
        unreachable!()
    };
    assert!(error.contains("revoked"), "{error}");
    tunnel.stop().await;
    s.stop.cancel();
    h.stop().await;
}
