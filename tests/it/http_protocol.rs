//! MCP Streamable HTTP over raw HTTP: bad input, Accept variants, sessions, protocol versions,
//! SSE keep-alives and /health — the details a generic client library would hide.

use crate::common;

use std::time::Duration;

use common::Harness;
use serde_json::{json, Value};

const BOTH: &str = "application/json, text/event-stream";

fn error_code(body: &str) -> i64 {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    v["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("no error code: {body}"))
}

#[tokio::test]
async fn bad_input_gets_specific_jsonrpc_errors_and_disturbs_no_other_session() {
    let h = Harness::start().await;
    let other = h.raw_session("2025-06-18").await;
    let sid = h.raw_session("2025-06-18").await;

    let (status, _, body) = h
        .post(
            "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ",
            Some(BOTH),
            Some(&sid),
        )
        .await;
    assert_eq!((status, error_code(&body)), (400, -32700), "{body}");
    assert!(body.contains("not valid JSON"));

    for bad in [
        r#"{"id":1,"method":"ping"}"#,
        r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
        r#""hello""#,
        r#"{"jsonrpc":"2.0","id":1}"#,
    ] {
        let (status, _, body) = h.post(bad, Some(BOTH), Some(&sid)).await;
        assert_eq!((status, error_code(&body)), (400, -32600), "{bad} → {body}");
    }

    let (_, _, body) = h
        .post(
            r#"{"jsonrpc":"2.0","id":7,"method":"coda/explode"}"#,
            Some(BOTH),
            Some(&sid),
        )
        .await;
    assert_eq!(error_code(&body), -32601, "{body}");
    assert!(body.contains("coda/explode"));

    let (status, _, body) = h
        .post(
            r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":42}}"#,
            Some(BOTH),
            Some(&sid),
        )
        .await;
    assert_eq!((status, error_code(&body)), (400, -32602), "{body}");

    let unknown = h
        .raw_call(&sid, 9, "coda_delete_everything", json!({}))
        .await;
    assert_eq!(unknown["error"]["code"], -32602);
    assert!(unknown["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Unknown tool 'coda_delete_everything'"));

    let invalid = h
        .raw_call(&sid, 10, "coda_get_document", json!({"docId": 12}))
        .await;
    assert_eq!(invalid["result"]["isError"], true);
    assert!(invalid["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("'docId' must be a string"));

    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":11,"method":"ping","params":{{"pad":"{}"}}}}"#,
        "x".repeat(5 * 1024 * 1024)
    );
    let (status, _, body) = h.post(&huge, Some(BOTH), Some(&sid)).await;
    assert_eq!(status, 413, "{}", &body[..body.len().min(200)]);
    assert_eq!(error_code(&body), -32600);

    // Both sessions still work.
    for s in [&sid, &other] {
        let ok = h
            .raw_call(s, 12, "coda_get_document", json!({"docId": "AbCDeFGH01"}))
            .await;
        assert_eq!(ok["result"]["isError"], false, "{ok}");
    }
    h.stop().await;
}

#[tokio::test]
async fn clients_with_any_accept_header_are_served() {
    let h = Harness::start().await;
    let sid = h.raw_session("2025-06-18").await;
    let call = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"coda_get_document","arguments":{"docId":"AbCDeFGH01"}}}).to_string();
    for accept in [Some("*/*"), Some("application/json"), None] {
        let (status, headers, body) = h.post(&call, accept, Some(&sid)).await;
        assert_eq!(status, 200, "{accept:?}: {body}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{accept:?}"
        );
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["result"]["structuredContent"]["name"], "Project Plan");
    }
    let (status, headers, body) = h.post(&call, Some("text/event-stream"), Some(&sid)).await;
    assert_eq!(status, 200, "{body}");
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    assert!(body.contains("Project Plan"));
    // Initialize itself with a JSON-only client.
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"json-only","version":"1"}}});
    let (status, headers, body) = h
        .post(&init.to_string(), Some("application/json"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(headers.contains_key("mcp-session-id"));
    h.stop().await;
}

#[tokio::test]
async fn negotiates_each_supported_protocol_version_and_serves_tool_calls_at_it() {
    let h = Harness::start().await;
    for version in ["2025-03-26", "2025-06-18", "2025-11-25"] {
        let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":version,"capabilities":{},"clientInfo":{"name":"v","version":"1"}}});
        let (status, headers, body) = h
            .post(&init.to_string(), Some("application/json"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["result"]["protocolVersion"], version);
        assert!(
            headers.contains_key("mcp-session-id"),
            "{version} issues a session id"
        );
        // A whole session at this version: its requests carry the version it negotiated.
        let sid = h.raw_session(version).await;
        assert_eq!(h.version_of(&sid), version);
        let reply = h
            .raw_call(&sid, 1, "coda_get_document", json!({"docId": "AbCDeFGH01"}))
            .await;
        assert_eq!(
            reply["result"]["structuredContent"]["name"], "Project Plan",
            "{version}: {reply}"
        );
    }
    h.stop().await;
}

#[tokio::test]
async fn serves_2026_07_28_requests_without_a_session() {
    // 2026-07-28 has no initialize and no session: each request carries its protocol version
    // and client capabilities in _meta, and the standard Mcp-Method/Mcp-Name headers.
    let h = Harness::start().await;
    let call = json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{
        "name":"coda_get_document","arguments":{"docId":"AbCDeFGH01"},
        "_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",
            "io.modelcontextprotocol/clientCapabilities":{},
            "io.modelcontextprotocol/clientInfo":{"name":"stateless","version":"1"}}}});
    let resp = h
        .http
        .post(h.url())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "coda_get_document")
        .body(call.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let reply = common::jsonrpc_body(&resp.text().await.unwrap());
    assert_eq!(reply["id"], 7);
    assert_eq!(
        reply["result"]["structuredContent"]["name"], "Project Plan",
        "{reply}"
    );
    h.stop().await;
}

#[tokio::test]
async fn an_unsupported_protocol_version_header_gets_400() {
    let h = Harness::start().await;
    let sid = h.raw_session("2025-11-25").await;
    let call = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"coda_get_document","arguments":{"docId":"AbCDeFGH01"}}}).to_string();
    let (status, _, body) = h
        .post_with_version(
            &call,
            Some("application/json"),
            Some(&sid),
            Some("1999-01-01"),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("1999-01-01"), "{body}");
    let (status, _, body) = h
        .post_with_version(&call, Some("application/json"), None, Some("not-a-version"))
        .await;
    assert_eq!(status, 400, "{body}");
    // The session is unharmed, at its own version.
    let (status, _, body) = h.post(&call, Some("application/json"), Some(&sid)).await;
    assert_eq!(status, 200, "{body}");
    h.stop().await;
}

#[tokio::test]
async fn delete_ends_a_session_and_later_requests_get_404() {
    let h = Harness::start().await;
    let sid = h.raw_session("2025-06-18").await;
    let resp = h
        .http
        .delete(h.url())
        .header("mcp-session-id", &sid)
        .header("mcp-protocol-version", "2025-06-18")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (status, _, _) = h
        .post(
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
            Some(BOTH),
            Some(&sid),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _, _) = h
        .post(
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
            Some(BOTH),
            Some("no-such-session"),
        )
        .await;
    assert_eq!(status, 404);
    // Both refusals are JSON-RPC errors (with the request's id), not rmcp's plain text.
    let (status, headers, body) = h
        .post_with_version(
            r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#,
            Some(BOTH),
            Some("no-such-session"),
            Some("2025-06-18"),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(headers["content-type"], "application/json", "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (error["id"].clone(), error["error"]["code"].clone()),
        (json!(7), json!(-32001))
    );
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .contains("start a new session"));
    let (status, headers, body) = h
        .post_with_version(
            r#"{"jsonrpc":"2.0","id":8,"method":"tools/list"}"#,
            Some(BOTH),
            None,
            Some("2025-06-18"),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(headers["content-type"], "application/json", "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (error["id"].clone(), error["error"]["code"].clone()),
        (json!(8), json!(-32600))
    );
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("send initialize first"),
        "{body}"
    );
    h.stop().await;
}

#[tokio::test]
async fn the_standalone_sse_stream_sends_keep_alive_comments() {
    let h = Harness::start().await;
    let sid = h.raw_session("2025-06-18").await;
    for accept in ["text/event-stream", "*/*"] {
        let mut resp = h
            .http
            .get(h.url())
            .header("accept", accept)
            .header("mcp-session-id", &sid)
            .header("mcp-protocol-version", "2025-06-18")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        let mut seen = String::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !seen.lines().any(|l| l.starts_with(':')) && tokio::time::Instant::now() < deadline {
            match tokio::time::timeout(Duration::from_secs(2), resp.chunk()).await {
                Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
                _ => break,
            }
        }
        assert!(
            seen.lines().any(|l| l.starts_with(':')),
            "no keep-alive comment in {seen:?}"
        );
        drop(resp);
        // The standalone stream can be re-opened once the previous one is gone.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    h.stop().await;
}

#[tokio::test]
async fn health_reports_status_and_caches_the_coda_check() {
    let h = Harness::start().await;
    let _sid = h.raw_session("2025-06-18").await;
    let mut last = Value::Null;
    for _ in 0..25 {
        last = h
            .http
            .get(format!("{}/health", h.base()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    }
    assert_eq!(last["status"], "ok");
    assert_eq!(last["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(last["coda"]["reachable"], true);
    assert_eq!(last["coda"]["authenticated"], true);
    assert!(last["coda"]["checked_at"].is_string());
    assert!(last["sessions"].as_u64().unwrap() >= 1);
    assert!(last["uptime_s"].is_u64());
    assert!(
        h.demo.requests_received() <= 2,
        "25 health requests made {} upstream calls",
        h.demo.requests_received()
    );
    h.stop().await;
}

#[tokio::test]
async fn foreign_host_or_origin_is_refused() {
    let h = Harness::start().await;
    let resp = h
        .http
        .get(format!("{}/health", h.base()))
        .header("host", "evil.example:80")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let body: Value = resp.json().await.unwrap();
    let said = body["message"].as_str().unwrap();
    assert!(
        said.contains("evil.example") && said.contains("--public-url"),
        "{said}"
    );
    let resp = h
        .http
        .post(h.url())
        .header("origin", "https://evil.example")
        .header("content-type", "application/json")
        .header("accept", BOTH)
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let resp = h
        .http
        .get(format!("{}/health", h.base()))
        .header("origin", "http://localhost:5173")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    h.stop().await;
}

/// Calls made one after another on one kept-alive connection, with the `Accept` header every
/// real client sends (answers come as SSE, written in a few pieces), never wait on the
/// client's delayed ACK: the server's sockets have Nagle's algorithm off. With it on, each
/// such call took ~40 ms instead of about one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_on_one_kept_alive_connection_do_not_stall() {
    use http_body_util::BodyExt;
    let h = Harness::start().await;
    let sid = h.raw_session("2025-06-18").await;
    let stream = tokio::net::TcpStream::connect(h.server.addr).await.unwrap();
    // As client libraries do (hyper's and reqwest's connectors set it).
    stream.set_nodelay(true).unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut medians = Vec::new();
    for accept in [BOTH, "application/json"] {
        let mut times = Vec::new();
        for i in 0..21 {
            let body = json!({"jsonrpc":"2.0","id":i,"method":"tools/call",
                "params":{"name":"coda_get_document","arguments":{"docId":"AbCDeFGH01"}}});
            let req = http::Request::post("/mcp")
                .header("host", h.server.addr.to_string())
                .header("authorization", format!("Bearer {}", common::TEST_KEY))
                .header("accept", accept)
                .header("content-type", "application/json")
                .header("mcp-session-id", &sid)
                .header("mcp-protocol-version", "2025-06-18")
                .body(http_body_util::Full::new(bytes::Bytes::from(
                    body.to_string(),
                )))
                .unwrap();
            sender.ready().await.unwrap();
            let started = std::time::Instant::now();
            let resp = sender.send_request(req).await.expect("same connection");
            assert_eq!(resp.status(), 200);
            let text = resp.into_body().collect().await.unwrap().to_bytes();
            // The first call warms the session up; the other twenty are measured.
            if i > 0 {
                times.push(started.elapsed());
            }
            assert!(String::from_utf8_lossy(&text).contains("AbCDeFGH01"));
        }
        times.sort();
        medians.push((accept, times[times.len() / 2]));
    }
    eprintln!("median per call on one connection: {medians:?}");
    for (accept, median) in medians {
        assert!(
            median < Duration::from_millis(10),
            "Accept: {accept}: median {median:?} per call on one kept-alive connection"
        );
    }
    h.stop().await;
}

/// The 2026-07-28 revision has no `initialize`, `ping` or `logging/setLevel`, and no
/// direct calls: a request of it naming one of those, or no method at all, is 404 / -32601,
/// whatever its params look like. Older clients are served as before.
#[tokio::test]
async fn stateless_requests_for_removed_or_unknown_methods_are_not_found() {
    let h = Harness::start().await;
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}});
    for (id, method) in [
        (1, "initialize"),
        (2, "logging/setLevel"),
        (3, "resources/subscribe"),
        (4, "unknown/method"),
    ] {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": {"_meta": meta}});
        // By the header alone, and by `_meta` alone.
        for version in [Some("2026-07-28"), None] {
            let (status, _, text) = h
                .post_with_version(
                    &body.to_string(),
                    Some("application/json, text/event-stream"),
                    None,
                    version,
                )
                .await;
            assert_eq!(status, 404, "{method} {version:?}: {text}");
            let answer: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(answer["error"]["code"], -32601, "{text}");
            assert_eq!(answer["id"], id, "the id is echoed");
        }
    }
    // Without the revision's marks, an unknown method is still ChatGPT's direct call, and an
    // older client's `initialize` opens a session.
    let body = json!({"jsonrpc": "2.0", "id": 5, "method": "unknown/method", "params": {}});
    let (status, _, text) = h
        .post(&body.to_string(), Some("application/json"), None)
        .await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("Unknown tool"), "{text}");
    let sid = h.raw_session("2025-06-18").await;
    assert!(!sid.is_empty());
    h.stop().await;
}

/// Each session's watcher (it tells the client of changed toolsets) ends with the session,
/// not some time later: closed sessions leave no watcher behind.
#[tokio::test]
async fn a_sessions_change_watcher_ends_with_the_session() {
    let h = Harness::start().await;
    let engine = h.server.state.engine.clone();
    let before = engine.tool_watchers();
    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(h.raw_session("2025-06-18").await);
    }
    let settle = |want: usize| {
        let engine = engine.clone();
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while engine.tool_watchers() != want {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{} watchers, not {want}",
                    engine.tool_watchers()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    settle(before + 3).await;
    for sid in &sessions {
        let resp = h
            .http
            .delete(h.url())
            .header("mcp-session-id", sid)
            .header("mcp-protocol-version", "2025-06-18")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    settle(before).await;
    h.stop().await;
}
