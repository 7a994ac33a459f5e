//! Fault injection, on loopback only.
//!
//! Coda misbehaving — a fake Coda on raw TCP whose behaviour the doc id picks: answers that
//! never come (timeouts), bodies dribbled out slowly, connections reset after the request,
//! JSON cut short, bodies shorter than announced, and 429 storms → the documented retries,
//! clear errors, writes never sent twice (the fake counts them), sessions that stay usable.
//!
//! Clients misbehaving — a client that vanishes mid-call, and 10,000 invalid requests (bad
//! JSON, wrong shapes, unknown methods, oversized bodies) → the server keeps serving a
//! well-behaved session at its normal latency, and never answers the flood with a 5xx.

use crate::common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coda_mcp::coda::{RateLimits, RetryPolicy, Secret};
use coda_mcp::{http, Engine, EngineConfig};
use common::TEST_KEY;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Requests the fake received, by (method, behaviour).
type Counts = Arc<Mutex<HashMap<(String, String), usize>>>;

/// A fake Coda API: `/docs/{behaviour}/…` picks how it answers.
struct FakeCoda {
    base_url: String,
    counts: Counts,
}

impl FakeCoda {
    async fn start() -> FakeCoda {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/apis/v1", listener.local_addr().unwrap());
        let counts: Counts = Arc::default();
        let seen = counts.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, seen.clone()));
            }
        });
        FakeCoda { base_url, counts }
    }

    fn count(&self, method: &str, behaviour: &str) -> usize {
        let counts = self.counts.lock().unwrap();
        counts
            .get(&(method.to_owned(), behaviour.to_owned()))
            .copied()
            .unwrap_or(0)
    }
}

/// Reads one request (head and body); `None` when the client closed the connection.
async fn read_request(socket: &mut TcpStream) -> Option<(String, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let mut first = head.lines().next()?.split_whitespace();
    Some((first.next()?.to_owned(), first.next()?.to_owned()))
}

fn response(status: &str, body: &str, extra: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn serve(mut socket: TcpStream, counts: Counts) {
    while let Some((method, path)) = read_request(&mut socket).await {
        let behaviour = path
            .split("/docs/")
            .nth(1)
            .and_then(|rest| rest.split(['/', '?']).next())
            .unwrap_or(if path.contains("/mutationStatus/") {
                "status"
            } else {
                "other"
            })
            .to_owned();
        *counts
            .lock()
            .unwrap()
            .entry((method.clone(), behaviour.clone()))
            .or_default() += 1;
        let doc = json!({"id": behaviour, "type": "doc", "name": format!("The {behaviour} doc"),
            "href": "x", "browserLink": "https://coda.io/d/_dx", "owner": "a@b.c", "ownerName": "A"})
        .to_string();
        let write_ok = json!({"requestId": "mut-1", "id": "i-row1"}).to_string();
        let ok_body = if method == "GET" {
            doc.clone()
        } else {
            write_ok
        };
        let ok_status = if method == "GET" {
            "200 OK"
        } else {
            "202 Accepted"
        };
        let sent = match behaviour.as_str() {
            "hang" => {
                // Never answers; holds the connection until the client gives up.
                tokio::time::sleep(Duration::from_secs(60)).await;
                return;
            }
            "reset" => {
                // The request arrived; the connection dies before any answer.
                let _ = socket.set_zero_linger();
                return;
            }
            "truncated" => {
                let cut = &ok_body[..ok_body.len() / 2];
                socket.write_all(&response(ok_status, cut, "")).await
            }
            "cut" => {
                // Announces the whole body, sends half, and closes.
                let whole = response(ok_status, &ok_body, "");
                let _ = socket
                    .write_all(&whole[..whole.len() - ok_body.len() / 2])
                    .await;
                return;
            }
            "slow" => {
                let whole = response(ok_status, &ok_body, "");
                let (head, body) = whole.split_at(whole.len() - ok_body.len());
                let _ = socket.write_all(head).await;
                for piece in body.chunks(body.len().div_ceil(8)) {
                    tokio::time::sleep(Duration::from_millis(80)).await;
                    if socket.write_all(piece).await.is_err() {
                        return;
                    }
                }
                Ok(())
            }
            "storm" => {
                let body = json!({"statusCode": 429, "statusMessage": "Too Many Requests",
                    "message": "Rate limit exceeded"})
                .to_string();
                socket
                    .write_all(&response("429 Too Many Requests", &body, ""))
                    .await
            }
            "status" => {
                let body = json!({"completed": true}).to_string();
                socket.write_all(&response("200 OK", &body, "")).await
            }
            _ if path.ends_with("/whoami") => {
                let body = json!({"name": "Fault Tester", "loginId": "f@example.com",
                    "type": "user", "href": "x", "tokenName": "t", "scoped": false})
                .to_string();
                socket.write_all(&response("200 OK", &body, "")).await
            }
            _ => socket.write_all(&response(ok_status, &ok_body, "")).await,
        };
        if sent.is_err() {
            return;
        }
    }
}

/// The engine's server in front of the fake, with short timeouts and backoffs.
async fn server(fake: &FakeCoda, client_rate: Option<(f64, f64)>) -> http::RunningServer {
    let config = EngineConfig {
        connection_key: Secret::new(TEST_KEY),
        coda_base_url: fake.base_url.clone(),
        coda_token: Some(Secret::new("fault-test-token")),
        rate_limits: RateLimits::CODA.scaled(1_000),
        retry: RetryPolicy {
            max_429_retries: 3,
            max_read_retries: 2,
            base_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
            timeout: Duration::from_millis(1_500),
        },
        write_wait_timeout: Duration::from_secs(5),
        client_rate,
        ..EngineConfig::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    http::start(Engine::new(config).unwrap(), listener)
        .await
        .unwrap()
}

async fn open_session(http: &reqwest::Client, url: &str) -> String {
    let resp = http
        .post(url)
        .bearer_auth(TEST_KEY)
        .header("accept", "application/json")
        .header("content-type", "application/json")
        .body(json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18",
            "capabilities":{},"clientInfo":{"name":"faults","version":"1"}}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let sid = resp.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    http.post(url)
        .bearer_auth(TEST_KEY)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("mcp-session-id", &sid)
        .header("mcp-protocol-version", "2025-06-18")
        .body(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .send()
        .await
        .unwrap();
    sid
}

/// A tool call on `sid`; returns the JSON-RPC result.
async fn call(http: &reqwest::Client, url: &str, sid: &str, name: &str, args: Value) -> Value {
    let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":name,"arguments":args}});
    let resp = http
        .post(url)
        .bearer_auth(TEST_KEY)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("mcp-session-id", sid)
        .header("mcp-protocol-version", "2025-06-18")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    v["result"].clone()
}

fn text(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn write_args(doc: &str) -> Value {
    json!({"docId": doc, "tableIdOrName": "grid-1", "rowIdOrName": "i-row1",
        "row": {"cells": [{"column": "c-1", "value": "x"}]}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misbehaving_coda_gets_retries_clear_errors_and_no_duplicate_writes() {
    let fake = FakeCoda::start().await;
    let srv = server(&fake, None).await;
    let (http, url) = (reqwest::Client::new(), srv.mcp_url());
    let sid = open_session(&http, &url).await;
    let get = |doc: &str| {
        call(
            &http,
            &url,
            &sid,
            "coda_get_document",
            json!({"docId": doc}),
        )
    };

    // Reads that fail in transit are retried (2 retries), then named clearly.
    for (doc, says) in [("hang", "timed out"), ("reset", ""), ("cut", "")] {
        let started = Instant::now();
        let r = get(doc).await;
        assert_eq!(r["isError"], true, "{doc}: {r}");
        assert_eq!(fake.count("GET", doc), 3, "{doc}: one try and two retries");
        let t = text(&r).to_lowercase();
        assert!(t.contains("coda") && t.contains(says), "{doc}: {t}");
        assert!(started.elapsed() < Duration::from_secs(8), "{doc} bounded");
    }
    // A body that is not JSON is a clear error, not a crash (and not retried: Coda answered).
    let r = get("truncated").await;
    assert_eq!(r["isError"], true);
    assert!(text(&r).contains("invalid JSON"), "{}", text(&r));
    // A slow body is waited for.
    let r = get("slow").await;
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(r["structuredContent"]["name"], "The slow doc");
    // A 429 storm: retried with backoff, then said plainly.
    let r = get("storm").await;
    assert_eq!(r["isError"], true);
    assert!(
        text(&r).contains("429") || text(&r).to_lowercase().contains("rate"),
        "{}",
        text(&r)
    );
    assert_eq!(fake.count("GET", "storm"), 4, "one try and three retries");

    // Writes: a write that may have reached Coda is never sent again.
    for doc in ["hang", "reset", "cut"] {
        let r = call(&http, &url, &sid, "coda_update_row", write_args(doc)).await;
        assert_eq!(r["isError"], true, "{doc}: {r}");
        assert_eq!(fake.count("PUT", doc), 1, "{doc}: the write went once");
        assert!(text(&r).contains("was not retried"), "{doc}: {}", text(&r));
    }
    let r = call(
        &http,
        &url,
        &sid,
        "coda_update_row",
        write_args("truncated"),
    )
    .await;
    assert_eq!(r["isError"], true);
    assert_eq!(fake.count("PUT", "truncated"), 1);
    // 429 means Coda did not take it: retried, and never more than that.
    let r = call(&http, &url, &sid, "coda_update_row", write_args("storm")).await;
    assert_eq!(r["isError"], true);
    assert_eq!(fake.count("PUT", "storm"), 4);

    // The session is not stuck: the next calls work at once.
    let started = Instant::now();
    let r = get("ok").await;
    assert_eq!(r["isError"], false, "{r}");
    let r = call(&http, &url, &sid, "coda_update_row", write_args("ok")).await;
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(r["structuredContent"]["completed"], true, "{r}");
    assert_eq!(fake.count("PUT", "ok"), 1);
    assert!(started.elapsed() < Duration::from_secs(2));
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_vanishes_mid_call_leaves_the_server_whole() {
    let fake = FakeCoda::start().await;
    let srv = server(&fake, None).await;
    let url = srv.mcp_url();
    let http = reqwest::Client::new();
    let sid = open_session(&http, &url).await;
    // The client gives up while Coda is still answering (slowly), on a read and a write.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    for (name, args) in [
        ("coda_get_document", json!({"docId": "slow"})),
        ("coda_update_row", write_args("slow")),
    ] {
        let body = json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":name,"arguments":args}});
        let gone = impatient
            .post(&url)
            .bearer_auth(TEST_KEY)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .header("mcp-session-id", &sid)
            .header("mcp-protocol-version", "2025-06-18")
            .body(body.to_string())
            .send()
            .await;
        assert!(gone.is_err(), "the client went away");
    }
    // Give the abandoned calls time to finish server-side.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(fake.count("PUT", "slow"), 1, "the write went once");
    // The session and the server carry on.
    let r = call(
        &http,
        &url,
        &sid,
        "coda_get_document",
        json!({"docId": "ok"}),
    )
    .await;
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(srv.state.session_count().await, 1);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_invalid_requests_leave_other_sessions_at_their_normal_latency() {
    let fake = FakeCoda::start().await;
    // The default per-client rate, as a person runs it.
    let srv = server(&fake, EngineConfig::default().client_rate).await;
    let url = srv.mcp_url();
    let http = reqwest::Client::new();
    let sid = open_session(&http, &url).await;
    let latency = |n: usize| {
        let (http, url, sid) = (http.clone(), url.clone(), sid.clone());
        async move {
            let mut times = Vec::new();
            for _ in 0..n {
                let started = Instant::now();
                let r = call(
                    &http,
                    &url,
                    &sid,
                    "coda_get_document",
                    json!({"docId": "ok"}),
                )
                .await;
                assert_eq!(r["isError"], false, "{r}");
                times.push(started.elapsed());
                // Well within the session's own rate allowance.
                tokio::time::sleep(Duration::from_millis(70)).await;
            }
            times.sort();
            times[times.len() / 2]
        }
    };
    let normal = latency(15).await;

    let huge = "x".repeat(5 * 1024 * 1024);
    let kinds: [&str; 5] = [
        "{not json",
        r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
        r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"no/such/method","params":[]}"#,
    ];
    let flood = {
        let (url, huge) = (url.clone(), huge.clone());
        tokio::spawn(async move {
            let flooder = reqwest::Client::new();
            let statuses = futures::future::join_all((0..32).map(|worker| {
                let (flooder, url, huge) = (flooder.clone(), url.clone(), huge.clone());
                async move {
                    let mut seen = Vec::new();
                    for i in 0..(10_000 / 32 + 1) {
                        let oversized = i % 100 == 0;
                        let body = if oversized {
                            huge.clone()
                        } else {
                            kinds[(worker + i) % kinds.len()].to_owned()
                        };
                        let status = flooder
                            .post(&url)
                            .bearer_auth(TEST_KEY)
                            .header("content-type", "application/json")
                            .header("accept", "application/json")
                            .body(body)
                            .send()
                            .await
                            .map(|r| r.status().as_u16())
                            .unwrap_or(0);
                        seen.push((oversized, status));
                    }
                    seen
                }
            }))
            .await;
            statuses.into_iter().flatten().collect::<Vec<(bool, u16)>>()
        })
    };
    let during = latency(15).await;
    let statuses = flood.await.unwrap();
    assert!(statuses.len() >= 10_000);
    // Every invalid request gets a 4xx; an oversized body may instead see its connection
    // closed once the server has answered 413 before reading it all (as HTTP allows).
    let wrong: Vec<_> = statuses
        .iter()
        .filter(|(oversized, s)| !((400..500).contains(s) || (*oversized && *s == 0)))
        .take(5)
        .collect();
    assert!(wrong.is_empty(), "answers other than 4xx: {wrong:?}");
    assert!(
        statuses
            .iter()
            .any(|(oversized, s)| *oversized && *s == 413),
        "oversized bodies are answered 413"
    );
    eprintln!("a healthy session's p50: {normal:?} alone, {during:?} during the flood");
    assert!(
        during <= normal * 4 + Duration::from_millis(10),
        "normal p50 {normal:?}, during the flood {during:?}"
    );
    srv.shutdown().await;
}
