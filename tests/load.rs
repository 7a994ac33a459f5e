//! Load: 1,000 concurrent sessions and 20,000 mixed tool calls against the demo (loopback,
//! bounded in count and time) → no errors, and every session is gone afterwards.

mod common;

use std::sync::Arc;
use std::time::Duration;

use coda_mcp::coda::RateLimits;
use coda_mcp::demo::DemoConfig;
use common::{quick_demo, Harness};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_sessions_and_twenty_thousand_calls() {
    let demo = DemoConfig {
        limits: None,
        write_delay: Duration::from_millis(20),
        ..quick_demo()
    };
    let h = Arc::new(
        Harness::start_with(demo, |c| {
            c.rate_limits = RateLimits::CODA.scaled(100_000);
            c.max_sessions = 2_000;
            c.client_rate = None;
        })
        .await,
    );
    let sessions: Vec<String> = futures::future::join_all((0..1_000).map(|_| {
        let h = h.clone();
        async move { h.raw_session("2025-06-18").await }
    }))
    .await;
    let sessions = Arc::new(sessions);
    let started = std::time::Instant::now();
    // 1,000 sessions × 20 calls, 64 at a time.
    use futures::StreamExt;
    let calls = futures::stream::iter(0..20_000usize).map(|i| {
        let (h, sessions) = (h.clone(), sessions.clone());
        async move {
            let sid = &sessions[i % sessions.len()];
            let (name, args) = match i % 5 {
                0 => ("coda_get_document", json!({"docId": "AbCDeFGH01"})),
                1 => ("coda_list_rows", json!({"docId": "AbCDeFGH01", "tableIdOrName": "Tasks", "limit": 10})),
                2 => ("coda_get_row", json!({"docId": "AbCDeFGH01", "tableIdOrName": "Tasks", "rowIdOrName": format!("i-Tsk{:04}", i % 180)})),
                3 => ("coda_list_tables", json!({"docId": "HaNdBoOk02"})),
                _ => ("coda_update_row", json!({"docId": "Q4GoAlS003", "tableIdOrName": "Key Results", "rowIdOrName": "i-Okr0001",
                    "wait": false, "row": {"cells": [{"column": "Progress (%)", "value": i % 100}]}})),
            };
            let v: Value = h.raw_call(sid, i as u64 + 1, name, args).await;
            v["result"]["isError"] == json!(false)
        }
    }).buffer_unordered(64);
    let results: Vec<bool> = tokio::time::timeout(Duration::from_secs(300), calls.collect())
        .await
        .expect("bounded in time");
    let failures = results.iter().filter(|ok| !**ok).count();
    assert_eq!(failures, 0, "{failures} of 20,000 calls failed");
    eprintln!(
        "20,000 calls over 1,000 sessions in {:?}",
        started.elapsed()
    );
    assert_eq!(
        h.demo.writes_received(),
        4_000,
        "every write sent exactly once"
    );
    for sid in sessions.iter() {
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
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        h.server.state.session_count().await,
        0,
        "every session is gone"
    );
    match Arc::try_unwrap(h) {
        Ok(h) => h.stop().await,
        Err(_) => panic!("harness still shared"),
    }
}
