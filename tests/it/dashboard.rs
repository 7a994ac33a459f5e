//! The dashboard's server side: the token guard, loopback-only routes, the live event stream
//! with `Last-Event-ID` replay, and the audit history API.

use crate::common;

use std::time::Duration;

use common::{serve_public_face, Harness};
use serde_json::{json, Value};

#[tokio::test]
async fn the_dashboard_needs_its_token_and_sets_a_cookie() {
    let h = Harness::start().await;
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    assert_eq!(
        plain
            .get(format!("{}/ui/", h.base()))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        plain
            .get(format!("{}/api/state", h.base()))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        plain
            .get(format!("{}/api/state", h.base()))
            .bearer_auth("dash_wrong")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let token = h.dashboard_token();
    let resp = plain
        .get(format!("{}/ui/?token={token}", h.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/ui/");
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    let page = plain
        .get(format!("{}/ui/", h.base()))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("<title>Coda MCP</title>"));
    let state: Value = plain
        .get(format!("{}/api/state", h.base()))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["setup"]["mcp_url"], h.url());
    assert!(
        !state.to_string().contains(common::TEST_KEY),
        "the key stays hidden until revealed"
    );
    let revealed: Value = plain
        .post(format!("{}/api/key/reveal", h.base()))
        .header("cookie", &pair)
        .header("content-type", "application/json")
        .header("x-coda-mcp-dashboard", "1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(revealed["key"], common::TEST_KEY);
    h.stop().await;
}

#[tokio::test]
async fn the_tunnel_never_reaches_the_dashboard() {
    let h = Harness::start().await;
    let (base, task) = serve_public_face(&h).await;
    let token = h.dashboard_token();
    for path in [
        format!("/ui/?token={token}"),
        "/api/state".into(),
        "/api/events".into(),
        "/api/calls.csv".into(),
    ] {
        let resp = reqwest::Client::new()
            .get(format!("{base}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            404,
            "{path} is not served through the tunnel"
        );
    }
    task.cancel();
    h.stop().await;
}

async fn tool(h: &Harness, sid: &str, id: u64, name: &str, args: Value) {
    let v = h.raw_call(sid, id, name, args).await;
    assert!(v.get("result").is_some(), "{v}");
}

#[tokio::test]
async fn events_resume_after_a_drop_without_loss_or_duplicates_and_calls_are_kept() {
    let h = Harness::start().await;
    let token = h.dashboard_token();
    let sid = h.raw_session("2025-06-18").await;
    tool(&h, &sid, 1, "coda_whoami", json!({})).await;
    let state: Value = h
        .http
        .get(format!("{}/api/state", h.base()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let last: u64 = state["lastEventId"].as_u64().unwrap();
    assert!(state["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["session"] == sid));
    // While the dashboard is away, three more calls happen.
    tool(
        &h,
        &sid,
        2,
        "coda_get_document",
        json!({"docId": "AbCDeFGH01"}),
    )
    .await;
    tool(&h, &sid, 3, "coda_get_row", json!({"docId": "AbCDeFGH01"})).await;
    tool(
        &h,
        &sid,
        4,
        "coda_list_tables",
        json!({"docId": "AbCDeFGH01", "apiToken": "pat_should_not_be_kept"}),
    )
    .await;
    let mut stream = h
        .http
        .get(format!("{}/api/events", h.base()))
        .bearer_auth(&token)
        .header("last-event-id", last.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while text.matches("\"type\":\"tool_call\"").count() < 3
        && tokio::time::Instant::now() < deadline
    {
        if let Ok(Ok(Some(c))) = tokio::time::timeout(Duration::from_secs(2), stream.chunk()).await
        {
            text.push_str(&String::from_utf8_lossy(&c));
        }
    }
    let tools: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .filter(|e| e["type"] == "tool_call")
        .map(|e| e["tool"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        tools,
        ["coda_get_document", "coda_get_row", "coda_list_tables"],
        "exactly the missed calls, once, in order"
    );
    // A new call arrives live within a second.
    tool(&h, &sid, 5, "coda_whoami", json!({})).await;
    let live = tokio::time::timeout(Duration::from_secs(1), async {
        let mut seen = String::new();
        while !seen.contains("coda_whoami") {
            if let Ok(Some(c)) = stream.chunk().await {
                seen.push_str(&String::from_utf8_lossy(&c))
            } else {
                break;
            }
        }
        seen
    })
    .await
    .expect("within 1 s");
    assert!(live.contains("\"ok\":true"));

    let calls: Value = h
        .http
        .get(format!("{}/api/calls?q=get_row", h.base()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = calls["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["ok"], false);
    assert!(items[0]["error"]
        .as_str()
        .unwrap()
        .contains("tableIdOrName"));
    let csv = h
        .http
        .get(format!("{}/api/calls.csv", h.base()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 6, "header and five calls");
    assert!(
        !csv.contains("pat_should_not_be_kept"),
        "secrets never reach the history"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_sessions_open_streams_are_counted_while_they_last() {
    let h = Harness::start().await;
    let token = h.dashboard_token();
    let sid = h.raw_session("2025-06-18").await;
    let open_streams = || async {
        let state: Value = h
            .http
            .get(format!("{}/api/state", h.base()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        state["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["session"] == sid)
            .map(|s| s["open_streams"].as_u64().unwrap())
    };
    tool(&h, &sid, 1, "coda_whoami", json!({})).await;
    assert_eq!(open_streams().await, Some(0));
    let stream = h
        .http
        .get(h.url())
        .header("mcp-session-id", &sid)
        .header("mcp-protocol-version", "2025-06-18")
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut seen = None;
    for _ in 0..50 {
        seen = open_streams().await;
        if seen == Some(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen, Some(1), "one open stream");
    drop(stream);
    for _ in 0..50 {
        seen = open_streams().await;
        if seen == Some(0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen, Some(0), "the stream closed when the client left");
    h.stop().await;
}

/// Reads an SSE response until `done` says so, the stream ends, or `within` passes; returns
/// the events (id, JSON) and whether the stream ended.
async fn read_events(
    stream: &mut reqwest::Response,
    within: Duration,
    done: impl Fn(&[(u64, Value)]) -> bool,
) -> (Vec<(u64, Value)>, bool) {
    let mut buf = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if done(&events) {
            return (events, false);
        }
        let chunk = match tokio::time::timeout_at(deadline, stream.chunk()).await {
            Err(_) => return (events, false),
            Ok(Ok(Some(c))) => c,
            Ok(_) => return (events, true),
        };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let id = frame
                .lines()
                .find_map(|l| l.strip_prefix("id: "))
                .and_then(|v| v.parse().ok());
            let data = frame.lines().find_map(|l| l.strip_prefix("data: "));
            if let (Some(id), Some(data)) = (id, data) {
                events.push((id, serde_json::from_str(data).unwrap()));
            }
        }
    }
}

fn log_event(message: String) -> coda_mcp::events::EventKind {
    coda_mcp::events::EventKind::Log {
        level: coda_mcp::events::LogLevel::Info,
        message,
        session: None,
        tool: None,
    }
}

/// A dashboard that cannot keep up loses its stream, never events: the server ends the
/// response, the browser reconnects with `Last-Event-ID`, and the replay fills the gap.
/// (The test runs on one thread, so a burst published without yielding overtakes the stream
/// for certain.)
#[tokio::test]
async fn a_lagging_listener_loses_its_stream_and_the_replay_fills_the_gap() {
    let h = Harness::start().await;
    let token = h.dashboard_token();
    let engine = h.server.state.engine.clone();
    let bus = engine.events();
    let open = |last: Option<u64>| {
        let mut req = h
            .http
            .get(format!("{}/api/events", h.base()))
            .bearer_auth(&token);
        if let Some(last) = last {
            req = req.header("last-event-id", last.to_string());
        }
        req.send()
    };
    let mut first = open(None).await.unwrap();
    assert_eq!(first.status(), 200);
    let marker = bus.publish(log_event("marker".into())).id;
    let (seen, _) = read_events(&mut first, Duration::from_secs(5), |e| {
        e.iter().any(|(id, _)| *id == marker)
    })
    .await;
    assert!(seen.iter().any(|(id, _)| *id == marker));
    // More than the live channel holds, published without yielding to the stream.
    const BURST: usize = 1_500;
    for i in 0..BURST {
        bus.publish(log_event(format!("burst-{i}")));
    }
    let (before_drop, ended) = read_events(&mut first, Duration::from_secs(5), |_| false).await;
    assert!(
        ended,
        "the lagging stream ends (it received {} events and waited)",
        before_drop.len()
    );
    let last_seen = before_drop
        .iter()
        .map(|(id, _)| *id)
        .chain([marker])
        .max()
        .unwrap();
    let mut second = open(Some(last_seen)).await.unwrap();
    let burst_count = |events: &[(u64, Value)]| {
        events
            .iter()
            .filter(|(_, e)| {
                e["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("burst-"))
            })
            .count()
    };
    let (after, _) = read_events(&mut second, Duration::from_secs(10), |e| {
        burst_count(&before_drop) + burst_count(e) >= BURST
    })
    .await;
    let all: Vec<&(u64, Value)> = before_drop.iter().chain(after.iter()).collect();
    let ids: Vec<u64> = all.iter().map(|(id, _)| *id).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids only grow, none repeated"
    );
    let messages: Vec<String> = all
        .iter()
        .filter_map(|(_, e)| e["message"].as_str())
        .filter(|m| m.starts_with("burst-"))
        .map(str::to_owned)
        .collect();
    let expected: Vec<String> = (0..BURST).map(|i| format!("burst-{i}")).collect();
    assert_eq!(messages.len(), BURST, "every event arrived once");
    assert_eq!(messages, expected, "in order");
    h.stop().await;
}

/// The Status view's numbers come from the bus: while a dashboard listens, `status` events
/// carry the call rate, error rate, sessions, headroom, uptime and Coda check, and they change
/// after calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_events_carry_live_numbers_while_a_dashboard_listens() {
    let h = Harness::start().await;
    let token = h.dashboard_token();
    let mut stream = h
        .http
        .get(format!("{}/api/events", h.base()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let status_of = |e: &[(u64, Value)]| {
        e.iter()
            .rev()
            .find(|(_, e)| e["type"] == "status")
            .map(|(_, e)| e["status"].clone())
    };
    let (events, _) = read_events(&mut stream, Duration::from_secs(6), |e| {
        status_of(e).is_some()
    })
    .await;
    let before = status_of(&events).expect("a status event within a few seconds");
    assert_eq!(before["calls_per_minute"], 0.0);
    for key in [
        "uptime_s",
        "started_at",
        "headroom",
        "coda",
        "sessions",
        "error_rate",
    ] {
        assert!(before.get(key).is_some(), "{key} in {before}");
    }
    let sid = h.raw_session("2025-06-18").await;
    tool(&h, &sid, 1, "coda_whoami", json!({})).await;
    tool(&h, &sid, 2, "coda_list_documents", json!({"limit": 1})).await;
    let v = h
        .raw_call(&sid, 3, "coda_get_row", json!({"docId": "AbCDeFGH01"}))
        .await;
    assert_eq!(v["result"]["isError"], true);
    let (events, _) = read_events(&mut stream, Duration::from_secs(6), |e| {
        status_of(e).is_some_and(|s| s["calls_per_minute"] == 3.0)
    })
    .await;
    let after = status_of(&events).expect("a later status event");
    assert_eq!(after["calls_per_minute"], 3.0, "{after}");
    assert!((after["error_rate"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    assert!(after["sessions"].as_u64().unwrap() >= 1);
    assert!(
        after["coda"]["checked_at"].is_string(),
        "the Coda check is done: {after}"
    );
    let read_free = |s: &Value| s["headroom"]["read"]["free"].as_u64().unwrap();
    assert!(
        read_free(&after) <= read_free(&before),
        "headroom follows the calls"
    );
    // Only dashboards count as listeners, and one that leaves stops counting.
    assert_eq!(h.server.state.engine.events().watchers(), 1);
    drop(stream);
    let mut left = false;
    for _ in 0..100 {
        if h.server.state.engine.events().watchers() == 0 {
            left = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(left, "the stream's watcher left with it");
    h.stop().await;
}

#[tokio::test]
async fn dashboard_pages_carry_a_content_security_policy() {
    let h = Harness::start().await;
    let token = h.dashboard_token();
    for file in ["", "app.js", "style.css"] {
        let r = h
            .http
            .get(format!("{}/ui/{file}", h.base()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");
    }
    h.stop().await;
}

/// The Tool calls view previews a call's view: the view page comes under its own CSP (inline
/// script, no request anywhere, framed only by the dashboard), and the preview runs reads only.
#[tokio::test]
async fn view_previews_read_and_never_write() {
    let h = Harness::start().await;
    let token = h.dashboard_token();
    let page = h
        .http
        .get(format!("{}/ui/views/rows", h.base()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("connect-src 'none'") && csp.contains("frame-ancestors 'self'"),
        "{csp}"
    );
    assert!(page.text().await.unwrap().contains("ui/initialize"));
    let missing = h
        .http
        .get(format!("{}/ui/views/nothing", h.base()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let preview = |body: Value| {
        let h = &h;
        let token = token.clone();
        async move {
            let resp = h
                .http
                .post(format!("{}/api/preview", h.base()))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .header("x-coda-mcp-dashboard", "1")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let (status, read) = preview(json!({"tool": "coda_list_rows",
        "arguments": {"docId": "AbCDeFGH01", "tableIdOrName": "Tasks", "limit": 3}}))
    .await;
    assert_eq!(status, 200);
    assert_eq!(read["isError"], false);
    assert_eq!(
        read["structuredContent"]["items"].as_array().unwrap().len(),
        3
    );
    let writes_before = h.demo.writes_received();
    let (status, refused) = preview(json!({"tool": "coda_update_row", "arguments": {"docId": "AbCDeFGH01",
        "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0001", "row": {"cells": [{"column": "Task", "value": "x"}]}}}))
    .await;
    assert_eq!(status, 403, "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("only reads"));
    assert_eq!(
        h.demo.writes_received(),
        writes_before,
        "nothing reached Coda"
    );
    // Without the dashboard's header (another local page), the preview is refused too.
    let foreign = h
        .http
        .post(format!("{}/api/preview", h.base()))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(json!({"tool": "coda_whoami"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    h.stop().await;
}
