//! Load: 1,000 concurrent sessions and 20,000 mixed tool calls against a real `coda-mcp serve`
//! process (its upstream the demo workspace, in this process so its writes can be counted),
//! on loopback, bounded in count and time → no errors, every write sent once, and after the
//! sessions end they are gone and the server's memory returns to its baseline.
//!
//! Expiry is a phase of its own, against a second server with a short idle timeout: the call
//! phase runs with a timeout no machine's speed can race (a session waits for its next call
//! while 999 others take theirs, which takes longer on a slower machine), and the expiry
//! phase only opens sessions and waits for them to go.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coda_mcp::demo::{self, DemoConfig};
use futures::StreamExt;
use serde_json::{json, Value};

const KEY: &str = "cmk_load-test-key-not-a-secret-000000000000";
const SESSIONS: usize = 1_000;
const CALLS: usize = 20_000;
/// The call phase's idle timeout: far beyond the time any machine needs for the phase.
const LONG_IDLE_SECS: u64 = 3_600;
/// The expiry phase's idle timeout: its sessions are opened and then left alone.
const IDLE_SECS: u64 = 2;

/// The server process; killed if the test fails half-way.
struct Server {
    child: Child,
    mcp: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(
        coda_base_url: &str,
        token: &str,
        data_dir: &std::path::Path,
        idle_secs: u64,
    ) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_coda-mcp"))
            .args(["serve", "--port", "0", "--coda-base-url", coda_base_url])
            .args([
                "--no-pacing",
                "--client-rate",
                "0",
                "--max-sessions",
                "2000",
            ])
            .args(["--session-idle-timeout", &idle_secs.to_string()])
            .env("CODA_API_TOKEN", token)
            .env("CODA_MCP_KEY", KEY)
            .env("CODA_MCP_KEYCHAIN", "off")
            .env("CODA_MCP_DATA_DIR", data_dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("coda-mcp starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let mcp = line
            .split_whitespace()
            .find(|w| w.starts_with("http://") && w.ends_with("/mcp"))
            .unwrap_or_else(|| panic!("no MCP URL in {line:?}"))
            .to_owned();
        Server { child, mcp }
    }

    /// Resident memory in MiB.
    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    }
}

async fn post(http: &reqwest::Client, url: &str, sid: Option<&str>, body: Value) -> Value {
    let mut req = http
        .post(url)
        .bearer_auth(KEY)
        .header("accept", "application/json")
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(sid) = sid {
        req = req
            .header("mcp-session-id", sid)
            .header("mcp-protocol-version", "2025-06-18");
    }
    let resp = req.send().await.expect("post");
    assert!(resp.status().is_success(), "HTTP {}", resp.status());
    let text = resp.text().await.unwrap();
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }
}

async fn open_session(http: &reqwest::Client, url: &str) -> String {
    let resp = http
        .post(url)
        .bearer_auth(KEY)
        .header("accept", "application/json")
        .header("content-type", "application/json")
        .body(json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18",
            "capabilities":{},"clientInfo":{"name":"load","version":"1"}}}).to_string())
        .send()
        .await
        .expect("initialize");
    assert_eq!(resp.status(), 200);
    let sid = resp.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    resp.bytes().await.unwrap();
    post(
        http,
        url,
        Some(&sid),
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
    )
    .await;
    sid
}

/// The i-th call of the mix: reads of docs, rows and tables, and one write in five.
fn call(i: usize) -> Value {
    let (name, args) = match i % 5 {
        0 => ("coda_get_document", json!({"docId": "AbCDeFGH01"})),
        1 => (
            "coda_list_rows",
            json!({"docId": "AbCDeFGH01", "tableIdOrName": "Tasks", "limit": 10}),
        ),
        2 => (
            "coda_get_row",
            json!({"docId": "AbCDeFGH01", "tableIdOrName": "Tasks",
            "rowIdOrName": format!("i-Tsk{:04}", i % 180)}),
        ),
        3 => ("coda_list_tables", json!({"docId": "HaNdBoOk02"})),
        _ => (
            "coda_update_row",
            json!({"docId": "Q4GoAlS003", "tableIdOrName": "Key Results",
            "rowIdOrName": "i-Okr0001", "wait": false,
            "row": {"cells": [{"column": "Progress (%)", "value": i % 100}]}}),
        ),
    };
    json!({"jsonrpc":"2.0","id":i + 1,"method":"tools/call","params":{"name":name,"arguments":args}})
}

async fn health_sessions(http: &reqwest::Client, mcp: &str) -> u64 {
    let health: Value = http
        .get(mcp.replace("/mcp", "/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    health["sessions"].as_u64().unwrap()
}

/// Waits (bounded) until `check` holds, returning whether it did.
async fn within(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    check().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_sessions_and_twenty_thousand_calls() {
    let demo = demo::start(
        DemoConfig {
            limits: None,
            write_delay: Duration::from_millis(20),
            ..common::quick_demo()
        },
        0,
    )
    .await
    .expect("demo starts");
    let data = std::env::temp_dir().join(format!("coda-mcp-load-{}", std::process::id()));
    let server = Server::start(&demo.base_url, demo.token().expose(), &data, LONG_IDLE_SECS);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(128)
        .build()
        .unwrap();
    let url = server.mcp.clone();

    // Baseline: the server once warmed up (connections, caches, a few sessions come and go).
    for _ in 0..2 {
        let warm: Vec<String> =
            futures::future::join_all((0..40).map(|_| open_session(&http, &url))).await;
        for (i, sid) in warm.iter().enumerate() {
            post(&http, &url, Some(sid), call(i)).await;
            http.delete(&url)
                .bearer_auth(KEY)
                .header("mcp-session-id", sid)
                .header("mcp-protocol-version", "2025-06-18")
                .send()
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_secs(6)).await;
    }
    let baseline = server.rss_mib();
    let writes_before = demo.writes_received();

    let sessions: Vec<String> = futures::stream::iter(0..SESSIONS)
        .map(|_| open_session(&http, &url))
        .buffer_unordered(64)
        .collect()
        .await;
    let sessions = Arc::new(sessions);
    let started = Instant::now();
    let calls = futures::stream::iter(0..CALLS)
        .map(|i| {
            let (http, url, sessions) = (http.clone(), url.clone(), sessions.clone());
            async move {
                let v = post(&http, &url, Some(&sessions[i % SESSIONS]), call(i)).await;
                v["result"]["isError"] == json!(false)
            }
        })
        .buffer_unordered(64);
    let results: Vec<bool> = tokio::time::timeout(Duration::from_secs(300), calls.collect())
        .await
        .expect("bounded in time");
    let peak = server.rss_mib();
    let failures = results.iter().filter(|ok| !**ok).count();
    assert_eq!(failures, 0, "{failures} of {CALLS} calls failed");
    assert_eq!(
        demo.writes_received() - writes_before,
        (CALLS / 5) as u64,
        "every write sent exactly once"
    );

    // The clients end their sessions (expiry has its own test below).
    for sid in sessions.iter() {
        let resp = http
            .delete(&url)
            .bearer_auth(KEY)
            .header("mcp-session-id", sid)
            .header("mcp-protocol-version", "2025-06-18")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    assert!(
        within(Duration::from_secs(10), async || health_sessions(
            &http, &url
        )
        .await
            == 0)
        .await,
        "every session is gone"
    );
    // Freed session memory goes back to the OS within seconds (src/http/memory.rs). Alone
    // this keeps ~17% of the sessions' growth (64 of 162 MiB over a 44 MiB baseline); with the
    // whole suite running beside it on two cores, up to ~26% (allocator fragmentation), so
    // the bound is 30%: a leak of the sessions' memory is still far above it.
    let returned = within(Duration::from_secs(20), async || {
        server.rss_mib() - baseline <= 0.3 * (peak - baseline)
    })
    .await;
    let after = server.rss_mib();
    eprintln!(
        "{CALLS} calls over {SESSIONS} sessions in {:?}; RSS baseline {baseline:.1} MiB, \
         with the sessions {peak:.1} MiB, after they ended {after:.1} MiB",
        started.elapsed()
    );
    assert!(
        returned,
        "memory did not return to its baseline: {baseline:.1} MiB before, {peak:.1} MiB with \
         {SESSIONS} sessions, still {after:.1} MiB after they ended"
    );
    drop(server);
    demo.shutdown();
    let _ = std::fs::remove_dir_all(&data);
}

/// Sessions nobody ends expire after the idle timeout, and their memory goes back too. Only
/// `initialize` is sent (the session's one request), so nothing here races the timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_expire_and_their_memory_returns() {
    const IDLE_SESSIONS: usize = 500;
    let demo = demo::start(
        DemoConfig {
            limits: None,
            ..common::quick_demo()
        },
        0,
    )
    .await
    .expect("demo starts");
    let data = std::env::temp_dir().join(format!("coda-mcp-expiry-{}", std::process::id()));
    let server = Server::start(&demo.base_url, demo.token().expose(), &data, IDLE_SECS);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let url = server.mcp.clone();
    let initialize = |http: reqwest::Client, url: String| async move {
        let resp = http
            .post(&url)
            .bearer_auth(KEY)
            .header("accept", "application/json")
            .header("content-type", "application/json")
            .body(json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18",
                "capabilities":{},"clientInfo":{"name":"expiry","version":"1"}}}).to_string())
            .send()
            .await
            .expect("initialize");
        assert_eq!(resp.status(), 200);
        assert!(resp.headers().contains_key("mcp-session-id"));
        resp.bytes().await.unwrap();
    };
    // Warm up, then the baseline once those sessions have expired.
    futures::future::join_all((0..40).map(|_| initialize(http.clone(), url.clone()))).await;
    assert!(
        within(Duration::from_secs(IDLE_SECS + 30), async || {
            health_sessions(&http, &url).await == 0
        })
        .await,
        "warm-up sessions expire"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let baseline = server.rss_mib();
    futures::stream::iter(0..IDLE_SESSIONS)
        .map(|_| initialize(http.clone(), url.clone()))
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
    let peak = server.rss_mib();
    assert!(
        within(Duration::from_secs(IDLE_SECS + 30), async || {
            health_sessions(&http, &url).await == 0
        })
        .await,
        "every idle session expired"
    );
    let returned = within(Duration::from_secs(20), async || {
        server.rss_mib() - baseline <= 0.25 * (peak - baseline).max(4.0)
    })
    .await;
    let after = server.rss_mib();
    eprintln!(
        "{IDLE_SESSIONS} idle sessions: RSS baseline {baseline:.1} MiB, with them {peak:.1} MiB, \
         after they expired {after:.1} MiB"
    );
    assert!(
        returned,
        "memory did not return after expiry: {baseline:.1} MiB before, {peak:.1} MiB with the \
         sessions, still {after:.1} MiB after"
    );
    drop(server);
    demo.shutdown();
    let _ = std::fs::remove_dir_all(&data);
}
