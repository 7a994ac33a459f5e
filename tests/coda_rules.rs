//! The client's rules against Coda's awkward parts, proven against the demo: replication lag,
//! 504s on big pages, 429s on writes, writes never duplicated after a 5xx, batched bulk rows,
//! the output budget, and 200 calls at once within the rate limits.

mod common;

use std::time::Duration;

use coda_mcp::coda::{RateClass, RateLimits};
use coda_mcp::demo::DemoConfig;
use common::{call, connect, err_text, ok, quick_demo, Harness};
use serde_json::{json, Value};

const PLAN: &str = "AbCDeFGH01";

#[tokio::test]
async fn a_404_right_after_a_write_is_waited_out() {
    // Mutation status 404s for 400 ms, the write lands after 600 ms.
    let demo = DemoConfig {
        status_lag: Duration::from_millis(400),
        write_delay: Duration::from_millis(600),
        ..quick_demo()
    };
    let h = Harness::start_with(demo, |_| {}).await;
    let c = connect(&h).await;
    let r = ok(&call(
        &c,
        "coda_update_row",
        json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0010",
        "row": {"cells": [{"column": "Status", "value": "Done"}]}}),
    )
    .await);
    assert_eq!(r["completed"], true, "{r}");
    let row = ok(&call(
        &c,
        "coda_get_row",
        json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0010"}),
    )
    .await);
    assert_eq!(
        row["values"]["Status"], "Done",
        "when the tool says completed, the write is visible"
    );
    c.cancel().await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn a_write_that_outlasts_the_wait_reports_still_processing() {
    let demo = DemoConfig {
        write_delay: Duration::from_secs(3),
        ..quick_demo()
    };
    let h = Harness::start_with(demo, |c| c.write_wait_timeout = Duration::from_millis(500)).await;
    let c = connect(&h).await;
    let r = ok(&call(
        &c,
        "coda_update_row",
        json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0011",
        "row": {"cells": [{"column": "Status", "value": "Done"}]}}),
    )
    .await);
    assert_eq!(r["completed"], false);
    assert!(r["status"]
        .as_str()
        .unwrap()
        .starts_with("still processing"));
    assert!(r["requestId"].as_str().unwrap().starts_with("mutate:"));
    c.cancel().await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn a_504_on_a_large_page_is_answered_with_smaller_pages() {
    let demo = DemoConfig {
        rows_504_above: Some(12),
        ..quick_demo()
    };
    let h = Harness::start_with(demo, |_| {}).await;
    let c = connect(&h).await;
    let rows = ok(&call(
        &c,
        "coda_list_rows",
        json!({"docId": PLAN, "tableIdOrName": "Tasks", "limit": 40}),
    )
    .await);
    assert_eq!(rows["count"], 40);
    let ids: std::collections::HashSet<&str> = rows["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 40, "no duplicates across the smaller pages");
    c.cancel().await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn writes_are_retried_after_429_but_never_resent_after_a_5xx() {
    // Coda allows 2 writes per 2 s here; our pacer thinks the limit is much higher.
    let mut limits = RateLimits::CODA.scaled(50);
    limits.limits[RateClass::Write as usize] = (2, Duration::from_secs(2));
    let demo = DemoConfig {
        limits: Some(limits),
        ..quick_demo()
    };
    let h = Harness::start_with(demo, |_| {}).await;
    let c = connect(&h).await;
    for i in 0..4 {
        ok(&call(
            &c,
            "coda_update_row",
            json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0020",
            "wait": false, "row": {"cells": [{"column": "Estimate (h)", "value": i}]}}),
        )
        .await);
    }
    assert!(h.demo.throttled() >= 1, "the demo said 429 at least once");
    assert_eq!(
        h.demo.writes_received(),
        4,
        "each write was executed exactly once although some were retried"
    );
    // The 429s are counted per call, for the dashboard and the audit history.
    let counted: u32 = h
        .server
        .state
        .engine
        .audit()
        .unwrap()
        .search("coda_update_row", 10)
        .unwrap()
        .iter()
        .map(|c| c.rate_limited)
        .sum();
    assert_eq!(
        counted as u64,
        h.demo.throttled(),
        "every 429 is counted once"
    );

    h.demo.fail_next_writes(1);
    let before = h.demo.writes_received();
    let failed = err_text(
        &call(
            &c,
            "coda_update_row",
            json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0021",
        "row": {"cells": [{"column": "Task", "value": "Applied despite the 500"}]}}),
        )
        .await,
    );
    assert!(
        failed.contains("may or may not have been applied") && failed.contains("not retried"),
        "{failed}"
    );
    assert_eq!(
        h.demo.writes_received(),
        before + 1,
        "a write that got a 5xx is never sent twice"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let row = ok(&call(
        &c,
        "coda_get_row",
        json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0021"}),
    )
    .await);
    assert_eq!(
        row["values"]["Task"], "Applied despite the 500",
        "the demo did apply it: resending would have duplicated"
    );
    c.cancel().await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn bulk_rows_go_in_batches_and_oversized_rows_are_reported() {
    let h = Harness::start().await;
    let c = connect(&h).await;
    // 1,100 rows → 3 batches of at most 500; one 90 KB row is refused before sending.
    let mut rows: Vec<Value> = (0..1100)
        .map(|i| {
            json!({"cells": [{"column": "Task", "value": format!("Bulk task {i}")},
        {"column": "Estimate (h)", "value": i % 8}]})
        })
        .collect();
    rows.insert(
        5,
        json!({"cells": [{"column": "Task", "value": "x".repeat(90 * 1024)}]}),
    );
    let writes_before = h.demo.writes_received();
    let r = ok(&call(
        &c,
        "coda_create_rows",
        json!({"docId": PLAN, "tableIdOrName": "Tasks", "rows": rows}),
    )
    .await);
    let batches = r["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 3, "{r}");
    assert!(batches.iter().all(|b| b["completed"] == true));
    assert_eq!(r["addedRowIds"].as_array().unwrap().len(), 1100);
    assert_eq!(r["rejectedRows"][0]["row"], 5);
    assert!(r["rejectedRows"][0]["error"]
        .as_str()
        .unwrap()
        .contains("85 KB"));
    assert_eq!(h.demo.writes_received() - writes_before, 3);
    let table = ok(&call(
        &c,
        "coda_get_table",
        json!({"docId": PLAN, "tableIdOrName": "Tasks"}),
    )
    .await);
    assert_eq!(table["rowCount"], coda_mcp::demo::TASK_ROWS + 1100);

    // Upsert by key: existing rows are updated, not added.
    let upsert: Vec<Value> = (0..3)
        .map(|i| {
            json!({"cells": [{"column": "Task", "value": format!("Bulk task {i}")},
        {"column": "Status", "value": "Done"}]})
        })
        .collect();
    let r = ok(&call(
        &c,
        "coda_create_rows",
        json!({"docId": PLAN, "tableIdOrName": "Tasks", "rows": upsert, "keyColumns": ["Task"]}),
    )
    .await);
    assert_eq!(r["addedRowIds"].as_array().unwrap().len(), 0);
    let done = ok(&call(
        &c,
        "coda_list_rows",
        json!({"docId": PLAN, "tableIdOrName": "Tasks", "query": "\"Task\":\"Bulk task 1\""}),
    )
    .await);
    assert_eq!(done["items"][0]["values"]["Status"], "Done");
    c.cancel().await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn large_results_are_cut_at_an_item_boundary_with_a_token_for_the_rest() {
    let h = Harness::start_with(quick_demo(), |c| c.output_budget = 20_000).await;
    let c = connect(&h).await;
    let mut seen = Vec::new();
    let mut args =
        json!({"docId": PLAN, "tableIdOrName": "Tasks", "limit": 1000, "valueFormat": "rich"});
    for _ in 0..50 {
        let r = call(&c, "coda_list_rows", args.clone()).await;
        let text = &r.content[0].as_text().unwrap().text;
        assert!(text.len() <= 20_000, "result of {} chars", text.len());
        let page = ok(&r);
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned()),
        );
        match page["nextPageToken"].as_str() {
            Some(t) => {
                assert!(page["truncated"].is_string());
                args =
                    json!({"docId": PLAN, "tableIdOrName": "Tasks", "limit": 1000, "pageToken": t});
            }
            None => break,
        }
    }
    let unique: std::collections::HashSet<&String> = seen.iter().collect();
    assert_eq!(
        seen.len(),
        coda_mcp::demo::TASK_ROWS,
        "every row exactly once across the cut results"
    );
    assert_eq!(unique.len(), seen.len());
    c.cancel().await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn two_hundred_calls_at_once_stay_within_codas_limits() {
    // Real Coda limits on both sides: the pacer must keep every session inside them, so the
    // demo never has to say 429, and every write happens exactly once.
    let demo = DemoConfig {
        limits: Some(RateLimits::CODA),
        write_delay: Duration::from_millis(50),
        status_lag: Duration::from_millis(10),
        ..DemoConfig::default()
    };
    let h = Harness::start_with(demo, |c| {
        c.rate_limits = RateLimits::CODA;
        c.write_wait_timeout = Duration::from_secs(60);
    })
    .await;
    let clients = futures::future::join_all((0..4).map(|_| connect(&h))).await;
    let started = std::time::Instant::now();
    let calls = (0..200).map(|i| {
        let c = &clients[i % clients.len()];
        async move {
            let (name, args) = match i % 20 {
                0 | 10 => ("coda_update_row", json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": format!("i-Tsk{:04}", i / 10),
                    "wait": false, "row": {"cells": [{"column": "Estimate (h)", "value": i}]}})),
                1 => ("coda_list_documents", json!({"limit": 2})),
                2..=9 => ("coda_get_row", json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": format!("i-Tsk{:04}", i % 180)})),
                _ => ("coda_list_rows", json!({"docId": PLAN, "tableIdOrName": "Projects", "limit": 5})),
            };
            (name, call(c, name, args).await)
        }
    });
    let results = tokio::time::timeout(Duration::from_secs(120), futures::future::join_all(calls))
        .await
        .expect("bounded");
    for (name, r) in &results {
        assert_eq!(r.is_error, Some(false), "{name}: {:?}", r.content);
    }
    assert_eq!(
        h.demo.throttled(),
        0,
        "the pacer kept every call inside Coda's limits"
    );
    assert_eq!(h.demo.writes_received(), 20, "20 writes, each sent once");
    // 10 list-docs calls at 4 per 6 s need at least 12 s: proof the pacer waited.
    assert!(
        started.elapsed() >= Duration::from_secs(11),
        "took {:?}",
        started.elapsed()
    );
    for c in clients {
        c.cancel().await.unwrap();
    }
    h.stop().await;
}
