//! The client's rules against Coda's awkward parts, proven against the demo: replication lag,
//! 504s on big pages, 429s on writes, writes never duplicated after a 5xx, batched bulk rows,
//! the output budget, and 200 calls at once within the rate limits.

use crate::common;

use std::time::Duration;

use coda_mcp::coda::{RateClass, RateLimits, Secret};
use coda_mcp::demo::DemoConfig;
use common::{call, connect, err_text, eventually, ok, quick_demo, Harness};
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
    // Coda names no rows for an upsert: the result says so and counts instead.
    assert!(r.get("addedRowIds").is_none(), "{r}");
    assert_eq!(r["upsert"]["rowCountBefore"], r["upsert"]["rowCountAfter"]);
    assert!(r["upsert"]["note"]
        .as_str()
        .unwrap()
        .contains("0 of the 3 rows sent were added and 3 matched"));
    let mixed: Vec<Value> = ["Bulk task 4", "Bulk task 5", "A brand new task"]
        .iter()
        .map(|t| json!({"cells": [{"column": "Task", "value": t}, {"column": "Status", "value": "Done"}]}))
        .collect();
    let r = ok(&call(
        &c,
        "coda_create_rows",
        json!({"docId": PLAN, "tableIdOrName": "Tasks", "rows": mixed, "keyColumns": ["Task"]}),
    )
    .await);
    let before = r["upsert"]["rowCountBefore"].as_u64().unwrap();
    assert_eq!(
        r["upsert"]["rowCountAfter"].as_u64().unwrap(),
        before + 1,
        "{r}"
    );
    assert!(r["upsert"]["note"]
        .as_str()
        .unwrap()
        .contains("1 of the 3 rows sent were added and 2 matched"));
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

#[tokio::test]
async fn a_write_coda_answers_without_a_request_id_is_only_completed_once_visible() {
    let h = Harness::start().await;
    let c = connect(&h).await;
    // deleteDoc, deleteFolder and addCustomDocDomain answer 202 {}: nothing to poll but the
    // resource itself. "completed" must mean the effect is visible at once.
    let doc = ok(&call(&c, "coda_create_doc", json!({"title": "Doomed"})).await);
    let doc_id = doc["id"].as_str().unwrap().to_owned();
    let deleted = ok(&call(&c, "coda_delete_doc", json!({"docId": doc_id})).await);
    assert_eq!(deleted["completed"], true, "{deleted}");
    let gone = call(&c, "coda_get_document", json!({"docId": doc_id})).await;
    assert!(err_text(&gone).contains("404"));

    // wait: false says plainly that nothing confirms it.
    let doc = ok(&call(&c, "coda_create_doc", json!({"title": "Doomed too"})).await);
    let doc_id = doc["id"].as_str().unwrap().to_owned();
    let queued = ok(&call(
        &c,
        "coda_delete_doc",
        json!({"docId": doc_id, "wait": false}),
    )
    .await);
    assert_eq!(queued["completed"], false);
    assert!(
        queued["status"]
            .as_str()
            .unwrap()
            .contains("Coda gives no requestId"),
        "{queued}"
    );
    c.cancel().await.unwrap();
    h.stop().await;

    // A write slower than the wait: reported as accepted, not completed.
    let demo = DemoConfig {
        write_delay: Duration::from_secs(3),
        ..quick_demo()
    };
    let h = Harness::start_with(demo, |c| c.write_wait_timeout = Duration::from_millis(500)).await;
    let c = connect(&h).await;
    let slow = ok(&call(
        &c,
        "coda_add_custom_doc_domain",
        json!({"docId": "HaNdBoOk02", "customDocDomain": "slow.example.com"}),
    )
    .await);
    assert_eq!(slow["completed"], false, "{slow}");
    assert!(
        slow["status"]
            .as_str()
            .unwrap()
            .starts_with("accepted, not yet visible"),
        "{slow}"
    );
    let folder = ok(&call(
        &c,
        "coda_create_folder",
        json!({"name": "Short-lived", "workspaceId": "ws-Demo01"}),
    )
    .await);
    let gone = ok(&call(&c, "coda_delete_folder", json!({"folderId": folder["id"]})).await);
    assert_eq!(gone["completed"], false, "{gone}");
    assert!(gone["status"].as_str().unwrap().contains("GET /folders/"));
    c.cancel().await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn reads_are_retried_after_a_5xx_and_writes_never_are() {
    let h = Harness::start().await;
    let c = connect(&h).await;
    let row = json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0005"});
    // Two 503s (the client retries reads twice): the third try succeeds.
    h.demo.fail_next_reads("/rows/i-Tsk0005", 2);
    let before = h.demo.requests_received();
    let r = call(&c, "coda_get_row", row.clone()).await;
    assert_eq!(ok(&r)["id"], "i-Tsk0005");
    assert_eq!(
        h.demo.requests_received() - before,
        3,
        "two failures, then the answer"
    );
    // Three in a row outlast the retries: a clear error.
    h.demo.fail_next_reads("/rows/i-Tsk0005", 3);
    let text = err_text(&call(&c, "coda_get_row", row).await);
    assert!(text.contains("503") && text.contains("try again"), "{text}");

    // A write that fails with a 5xx after being applied is not resent.
    h.demo.fail_next_writes(1);
    let writes = h.demo.writes_received();
    let text = err_text(
        &call(
            &c,
            "coda_update_row",
            json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0005",
            "row": {"cells": [{"column": "Estimate (h)", "value": 9}]}}),
        )
        .await,
    );
    assert!(text.contains("not retried"), "{text}");
    assert_eq!(h.demo.writes_received() - writes, 1, "sent once");
    c.cancel().await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn bulk_rows_are_split_by_bytes_under_codas_2_mb_request_limit() {
    let h = Harness::start().await;
    let c = connect(&h).await;
    // 60 rows of about 40 KB: 2.4 MB in all, far fewer than 500 rows, so only the byte limit
    // can split them. One row of 90 KB is over the 85 KB row limit.
    let mut rows: Vec<Value> = (0..60)
        .map(|i| {
            json!({"cells": [{"column": "Task", "value": format!("Big {i} {}", "y".repeat(40_000))}]})
        })
        .collect();
    rows.insert(
        30,
        json!({"cells": [{"column": "Task", "value": format!("Too big {}", "z".repeat(90 * 1024))}]}),
    );
    let table = json!({"docId": PLAN, "tableIdOrName": "Tasks"});
    let count_before = ok(&call(&c, "coda_get_table", table.clone()).await)["rowCount"].clone();
    let writes = h.demo.writes_received();
    let r = ok(&call(
        &c,
        "coda_create_rows",
        json!({"docId": PLAN, "tableIdOrName": "Tasks", "rows": rows}),
    )
    .await);
    let batches = r["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 2, "{}", json!(batches));
    assert!(batches.iter().all(|b| b["completed"] == true));
    assert_eq!(
        h.demo.writes_received() - writes,
        2,
        "two requests, each under 2 MB (the demo refuses bigger ones with 413)"
    );
    assert_eq!(r["addedRowIds"].as_array().unwrap().len(), 60);
    assert_eq!(r["rejectedRows"].as_array().unwrap().len(), 1);
    assert_eq!(r["rejectedRows"][0]["row"], 30);
    let why = r["rejectedRows"][0]["error"].as_str().unwrap();
    assert!(why.contains("85 KB") && why.contains("not sent"), "{why}");
    assert!(r["status"].as_str().unwrap().starts_with("partial"));
    let count_after = ok(&call(&c, "coda_get_table", table).await)["rowCount"].clone();
    assert_eq!(
        count_after.as_u64().unwrap(),
        count_before.as_u64().unwrap() + 60,
        "the oversized row never reached Coda"
    );
    c.cancel().await.unwrap();
    h.stop().await;
}

/// Incremental sync as Coda does it: the listing that reaches the end carries
/// `nextSyncToken`; passed back as `syncToken`, only rows changed since are listed (an
/// update, an upsert, a new row), and the new token lists nothing until something changes.
/// A token of another table, or garbage, is Coda's 400.
#[tokio::test]
async fn sync_tokens_list_only_the_rows_changed_since() {
    let h = Harness::start().await;
    let c = connect(&h).await;
    let list = |sync: Option<&str>| {
        let mut args = json!({"docId": PLAN, "tableIdOrName": "Tasks", "limit": 500});
        if let Some(t) = sync {
            args["syncToken"] = json!(t);
        }
        call(&c, "coda_list_rows", args)
    };
    let all = ok(&list(None).await);
    assert!(all["count"].as_u64().unwrap() > 10, "{all}");
    let token = all["nextSyncToken"]
        .as_str()
        .expect("a sync token at the end")
        .to_owned();
    let unchanged = ok(&list(Some(&token)).await);
    assert_eq!(unchanged["count"], 0, "{unchanged}");

    ok(&call(
        &c,
        "coda_update_row",
        json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0003",
        "row": {"cells": [{"column": "Status", "value": "Done"}]}}),
    )
    .await);
    ok(&call(
        &c,
        "coda_create_rows",
        json!({"docId": PLAN, "tableIdOrName": "Tasks",
        "rows": [{"cells": [{"column": "Task", "value": "Synced task"}]}]}),
    )
    .await);
    let changed = ok(&list(Some(&token)).await);
    let ids: Vec<&str> = changed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{changed}");
    assert!(ids.contains(&"i-Tsk0003"), "{ids:?}");
    let next = changed["nextSyncToken"].as_str().unwrap().to_owned();
    assert_eq!(ok(&list(Some(&next)).await)["count"], 0);

    let other = ok(&call(
        &c,
        "coda_list_rows",
        json!({"docId": PLAN, "tableIdOrName": "grid-Projects1"}),
    )
    .await);
    let foreign = other["nextSyncToken"].as_str().unwrap();
    let refused = err_text(&list(Some(foreign)).await);
    assert!(
        refused.contains("400") || refused.to_lowercase().contains("sync token"),
        "{refused}"
    );
    c.cancel().await.unwrap();
    h.stop().await;
}

/// A 429 means the whole rate class is over Coda's limit for this user: once one session
/// hears it, no session sends another request of that class until `Retry-After` has passed,
/// while other classes go on.
#[tokio::test]
async fn a_429_pauses_its_rate_class_for_every_session() {
    let h = Harness::start().await;
    let clients = futures::future::join_all((0..4).map(|_| connect(&h))).await;
    let row = |id: &str| json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": id});
    h.demo
        .throttle_next("/rows/i-Tsk0001", Duration::from_secs(2));
    let first = call(&clients[0], "coda_get_row", row("i-Tsk0001"));
    let rest = async {
        while h.demo.throttled() == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let throttled_at = tokio::time::Instant::now();
        // Let the 429 reach the client (requests already under way are not counted).
        tokio::time::sleep(Duration::from_millis(100)).await;
        let reads_before = h.demo.received(RateClass::Read);
        let others = futures::future::join_all(
            clients[1..]
                .iter()
                .enumerate()
                .map(|(i, c)| call(c, "coda_get_row", row(&format!("i-Tsk000{}", i + 2)))),
        );
        let probe = async {
            let asked = tokio::time::Instant::now();
            let docs = call(&clients[1], "coda_list_documents", json!({"limit": 1})).await;
            let docs_took = asked.elapsed();
            tokio::time::sleep_until(throttled_at + Duration::from_millis(1_700)).await;
            let reads_during = h.demo.received(RateClass::Read) - reads_before;
            (docs, docs_took, reads_during)
        };
        let (others, (docs, docs_took, reads_during)) = futures::join!(others, probe);
        (throttled_at, others, docs, docs_took, reads_during)
    };
    let (first, (throttled_at, others, docs, docs_took, reads_during)) =
        futures::join!(first, rest);
    assert_eq!(
        reads_during, 0,
        "no read reached Coda while the read class was paused"
    );
    ok(&docs);
    assert!(
        docs_took < Duration::from_secs(1),
        "another class (list-docs) is not paused: took {docs_took:?}"
    );
    assert_eq!(ok(&first)["id"], "i-Tsk0001");
    for (i, r) in others.iter().enumerate() {
        assert_eq!(ok(r)["id"], format!("i-Tsk000{}", i + 2));
    }
    assert!(
        throttled_at.elapsed() >= Duration::from_millis(1_900),
        "the reads waited for Coda's Retry-After"
    );
    for c in clients {
        c.cancel().await.unwrap();
    }
    h.stop().await;
}

/// `requireLatest` sends Coda's `X-Coda-Doc-Version: latest`: while a write to the doc is
/// accepted but not applied, such a read is Coda's 400 and the tool says to retry shortly;
/// without it the copy as it is (stale) is read. Once the write is applied it reads the
/// new value.
#[tokio::test]
async fn require_latest_refuses_a_stale_copy_and_says_to_retry() {
    let demo = DemoConfig {
        write_delay: Duration::from_millis(1_500),
        ..quick_demo()
    };
    let h = Harness::start_with(demo, |_| {}).await;
    let c = connect(&h).await;
    let row = json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0030"});
    let latest = |mut args: Value| {
        args["requireLatest"] = json!(true);
        args
    };
    let before = ok(&call(&c, "coda_get_row", latest(row.clone())).await)["values"]["Task"].clone();
    ok(&call(
        &c,
        "coda_update_row",
        json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0030", "wait": false,
            "row": {"cells": [{"column": "Task", "value": "Fresh title"}]}}),
    )
    .await);
    let stale = ok(&call(&c, "coda_get_row", row.clone()).await);
    assert_eq!(
        stale["values"]["Task"], before,
        "without it, the stale copy"
    );
    let table = json!({"docId": PLAN, "tableIdOrName": "Tasks"});
    for (tool, args) in [
        ("coda_get_row", row.clone()),
        ("coda_list_rows", table.clone()),
        ("coda_get_table", table),
    ] {
        let text = err_text(&call(&c, tool, latest(args)).await);
        assert!(
            text.contains("does not have its latest edits yet")
                && text.contains("retry in a few seconds"),
            "{tool}: {text}"
        );
    }
    let fresh = eventually(&c, "coda_get_row", latest(row), |r| {
        r.is_error == Some(false)
    })
    .await;
    assert_eq!(ok(&fresh)["values"]["Task"], "Fresh title");
    c.cancel().await.unwrap();
    h.stop().await;
}

/// A read-only token (Coda lets a person make one) reads as usual; a write is Coda's 403,
/// which the tool turns into "this token is read-only", and nothing is written.
#[tokio::test]
async fn a_read_only_token_reads_and_a_refused_write_says_why() {
    let h = Harness::start_with(quick_demo(), |c| {
        c.coda_token = Some(Secret::new(coda_mcp::demo::DEMO_READ_ONLY_TOKEN))
    })
    .await;
    let c = connect(&h).await;
    let row = json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0031"});
    assert_eq!(ok(&call(&c, "coda_get_row", row).await)["id"], "i-Tsk0031");
    let writes = h.demo.writes_received();
    let text = err_text(
        &call(
            &c,
            "coda_update_row",
            json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0031",
            "row": {"cells": [{"column": "Status", "value": "Done"}]}}),
        )
        .await,
    );
    assert!(
        text.contains("403") && text.contains("read-only") && text.contains("write access"),
        "{text}"
    );
    let text = err_text(
        &call(
            &c,
            "coda_create_rows",
            json!({"docId": PLAN, "tableIdOrName": "Tasks",
            "rows": [{"cells": [{"column": "Task", "value": "Not with this token"}]}]}),
        )
        .await,
    );
    assert!(text.contains("read-only"), "{text}");
    assert_eq!(h.demo.writes_received(), writes, "Coda refused both writes");
    c.cancel().await.unwrap();
    h.stop().await;
}

/// A doc-scoped token: `listDocs` shows its one doc, any other doc is Coda's 403 (the tool
/// says the token is restricted to other docs), and its own doc reads and writes as usual.
#[tokio::test]
async fn a_doc_scoped_token_reaches_its_doc_only() {
    let h = Harness::start_with(quick_demo(), |c| {
        c.coda_token = Some(Secret::new(coda_mcp::demo::DEMO_DOC_TOKEN))
    })
    .await;
    let c = connect(&h).await;
    let docs = ok(&call(&c, "coda_list_documents", json!({})).await);
    let ids: Vec<&str> = docs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [PLAN], "only the doc the token is scoped to");
    let text = err_text(&call(&c, "coda_list_tables", json!({"docId": "HaNdBoOk02"})).await);
    assert!(
        text.contains("403")
            && text.contains("HaNdBoOk02")
            && text.contains("restricted to other docs"),
        "{text}"
    );
    ok(&call(&c, "coda_list_tables", json!({"docId": PLAN})).await);
    let r = ok(&call(
        &c,
        "coda_update_row",
        json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0032",
        "row": {"cells": [{"column": "Status", "value": "Done"}]}}),
    )
    .await);
    assert_eq!(r["completed"], true, "{r}");
    assert_eq!(
        ok(&call(&c, "coda_whoami", json!({})).await)["scoped"],
        true
    );
    c.cancel().await.unwrap();
    h.stop().await;
}

/// Coda's mutation status can carry a `warning` once a write is applied; the write's result
/// passes it on so the model sees it: a value a number column could not parse, and an upsert
/// whose key matched several rows (each batch's, and all of them at the top).
#[tokio::test]
async fn mutation_warnings_reach_the_model() {
    let h = Harness::start().await;
    let c = connect(&h).await;
    let r = ok(&call(
        &c,
        "coda_update_row",
        json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0033",
        "row": {"cells": [{"column": "Estimate (h)", "value": "about a day"}]}}),
    )
    .await);
    assert_eq!(r["completed"], true, "{r}");
    assert!(
        r["warning"]
            .as_str()
            .is_some_and(|w| w.contains("could not be parsed as a number")),
        "{r}"
    );
    let r = ok(&call(
        &c,
        "coda_create_rows",
        json!({"docId": PLAN, "tableIdOrName": "Tasks", "keyColumns": ["Status"],
        "rows": [{"cells": [{"column": "Status", "value": "Blocked"}, {"column": "Estimate (h)", "value": 3}]}]}),
    )
    .await);
    assert_eq!(r["completed"], true, "{r}");
    let warning = r["warnings"][0]["warning"].as_str().unwrap_or_default();
    assert!(
        warning.contains("matched") && warning.contains("all of them were updated"),
        "{r}"
    );
    assert_eq!(r["batches"][0]["warning"], r["warnings"][0]["warning"]);
    // A write without a warning has none.
    let plain = ok(&call(
        &c,
        "coda_update_row",
        json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0033",
        "row": {"cells": [{"column": "Estimate (h)", "value": 8}]}}),
    )
    .await);
    assert!(plain.get("warning").is_none(), "{plain}");
    c.cancel().await.unwrap();
    h.stop().await;
}
