//! Long calls tell a client that asked (`progressToken`) how far they are, and stop at a safe
//! point when it cancels — never halfway through a write. Driven by the official Rust client.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Harness, TEST_KEY};
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, ClientRequest, ProgressNotificationParam, ServerResult,
};
use rmcp::service::{PeerRequestOptions, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Value};

const PLAN: &str = "AbCDeFGH01";

/// Records every progress notification (and when it came, relative to the result).
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<ProgressNotificationParam>>>);

impl rmcp::ClientHandler for Recorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: rmcp::service::NotificationContext<RoleClient>,
    ) {
        self.0.lock().unwrap().push(params);
    }
}

async fn connect(h: &Harness, recorder: &Recorder) -> RunningService<RoleClient, Recorder> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(h.url());
    config.auth_header = Some(TEST_KEY.to_owned());
    recorder
        .clone()
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
        .unwrap()
}

fn rows(n: usize, tag: &str) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"cells": [{"column": "Task", "value": format!("{tag} {i}")}]}))
        .collect()
}

fn call_request(name: &str, args: Value) -> ClientRequest {
    ClientRequest::CallToolRequest(CallToolRequest::new(
        CallToolRequestParams::new(name.to_owned())
            .with_arguments(args.as_object().cloned().unwrap()),
    ))
}

fn structured(result: ServerResult) -> Value {
    match result {
        ServerResult::CallToolResult(r) => r.structured_content.expect("structured"),
        other => panic!("not a tool result: {other:?}"),
    }
}

async fn task_count(h: &Harness, tag: &str) -> usize {
    // Read straight from the demo (the workspace itself), not through the server under test.
    let c = common::connect(h).await;
    let mut n = 0;
    let mut token: Option<String> = None;
    loop {
        let mut args = json!({"docId": PLAN, "tableIdOrName": "Tasks", "limit": 500});
        if let Some(t) = &token {
            args["pageToken"] = json!(t);
        }
        let page = common::ok(&common::call(&c, "coda_list_rows", args).await);
        n += page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["name"].as_str().is_some_and(|name| name.starts_with(tag)))
            .count();
        match page["nextPageToken"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    c.cancel().await.unwrap();
    n
}

#[tokio::test]
async fn a_bulk_write_reports_its_batches_before_its_result() {
    let h = Harness::start().await;
    let recorder = Recorder::default();
    let c = connect(&h, &recorder).await;
    let handle = c
        .send_cancellable_request(
            call_request(
                "coda_create_rows",
                json!({"docId": PLAN, "tableIdOrName": "Tasks", "rows": rows(1200, "Progress")}),
            ),
            PeerRequestOptions::no_options(),
        )
        .await
        .unwrap();
    let token = handle.progress_token.clone();
    let result = structured(handle.await_response().await.unwrap());
    assert_eq!(result["completed"], true, "{result}");
    let seen = recorder.0.lock().unwrap().clone();
    // All were delivered before the result (the server sends none after it).
    assert!(seen.iter().all(|p| p.progress_token == token));
    let done: Vec<f64> = seen.iter().map(|p| p.progress).collect();
    assert!(
        done.windows(2).all(|w| w[0] < w[1]),
        "progress only grows: {done:?}"
    );
    assert_eq!(done, vec![0.5, 1.0, 1.5, 2.0, 2.5, 3.0], "{seen:?}");
    assert!(seen.iter().all(|p| p.total == Some(3.0)));
    assert_eq!(
        seen[4].message.as_deref(),
        Some("sending batch 3 of 3 (rows 1000–1199)")
    );
    assert_eq!(seen[5].message.as_deref(), Some("batch 3 of 3 applied"));

    // A single write reports its wait for Coda; a read reports nothing.
    recorder.0.lock().unwrap().clear();
    let handle = c
        .send_cancellable_request(
            call_request(
                "coda_update_row",
                json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0010",
                    "row": {"cells": [{"column": "Status", "value": "Done"}]}}),
            ),
            PeerRequestOptions::no_options(),
        )
        .await
        .unwrap();
    structured(handle.await_response().await.unwrap());
    let seen = recorder.0.lock().unwrap().clone();
    assert!(!seen.is_empty());
    assert_eq!(
        seen[0].message.as_deref(),
        Some("waiting for Coda to apply the write (check 1)")
    );
    recorder.0.lock().unwrap().clear();
    c.call_tool(
        CallToolRequestParams::new("coda_get_table").with_arguments(
            json!({"docId": PLAN, "tableIdOrName": "Tasks"})
                .as_object()
                .cloned()
                .unwrap(),
        ),
    )
    .await
    .unwrap();
    assert!(recorder.0.lock().unwrap().is_empty());
    c.cancel().await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn cancelling_a_bulk_write_stops_between_batches() {
    // Slow writes: each batch takes a second to apply, so there is time to cancel.
    let demo = coda_mcp::demo::DemoConfig {
        write_delay: Duration::from_millis(1000),
        ..common::quick_demo()
    };
    let h = Harness::start_with(demo, |_| {}).await;
    let recorder = Recorder::default();
    let c = connect(&h, &recorder).await;
    let writes_before = h.demo.writes_received();
    let handle = c
        .send_cancellable_request(
            call_request(
                "coda_create_rows",
                json!({"docId": PLAN, "tableIdOrName": "Tasks", "rows": rows(1500, "Cancelled")}),
            ),
            PeerRequestOptions::no_options(),
        )
        .await
        .unwrap();
    // Cancel once the first batch is on its way.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !recorder.0.lock().unwrap().iter().any(|p| p.progress >= 0.5) {
        assert!(std::time::Instant::now() < deadline, "no progress arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    handle
        .cancel(Some("the person changed their mind".into()))
        .await
        .unwrap();
    // The batch in flight lands whole…
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let landed = task_count(&h, "Cancelled").await;
        assert!(
            landed == 0 || landed == 500,
            "a batch lands whole, not {landed} rows"
        );
        if landed == 500 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sent batch never landed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // …and none after it is sent (uncancelled, the next would follow within moments).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        h.demo.writes_received() - writes_before,
        1,
        "only the first batch was sent"
    );
    assert_eq!(task_count(&h, "Cancelled").await, 500);
    // The session goes on serving.
    let c2 = common::connect(&h).await;
    common::ok(
        &common::call(
            &c2,
            "coda_get_table",
            json!({"docId": PLAN, "tableIdOrName": "Tasks"}),
        )
        .await,
    );
    c2.cancel().await.unwrap();
    c.cancel().await.unwrap();
    h.stop().await;
}
