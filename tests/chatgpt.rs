//! ChatGPT's ways in: the seed's direct-call flow on `/mcp` over raw HTTP, the GPT Action
//! routes (same data as the MCP tools), and the two OpenAPI documents.

mod common;

use std::time::Duration;

use common::{call, connect, ok, Harness, TEST_KEY};
use serde_json::{json, Value};

const PLAN: &str = "AbCDeFGH01";

async fn post(h: &Harness, body: Value, session: Option<&str>) -> reqwest::Response {
    let mut req = h
        .http
        .post(h.url())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_string());
    if let Some(s) = session {
        req = req.header("mcp-session-id", s);
    }
    req.send().await.unwrap()
}

/// Reads SSE text from `resp` until `done` accepts it or 5 s pass.
async fn read_sse(resp: &mut reqwest::Response, done: impl Fn(&str) -> bool) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !done(&seen) && tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(2), resp.chunk()).await {
            Ok(Ok(Some(c))) => seen.push_str(&String::from_utf8_lossy(&c)),
            _ => break,
        }
    }
    seen
}

#[tokio::test]
async fn the_seed_flow_post_then_get_delivers_the_result_on_the_stream() {
    let h = Harness::start().await;
    // Step 4 of the seed: a tool name as the JSON-RPC method, no initialize, no session.
    let resp = post(
        &h,
        json!({"jsonrpc":"2.0","id":1,"method":"coda_list_documents","params":{"limit":10}}),
        None,
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let sid = resp.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["jsonrpc"], "2.0");
    assert_eq!(answer["id"], 1);
    let docs = &answer["result"]["structuredContent"]["items"];
    assert!(docs.as_array().unwrap().len() >= 3);

    // Step 5: GET /mcp with the session streams the same result, with keep-alives.
    let mut stream = h
        .http
        .get(h.url())
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let text = read_sse(&mut stream, |s| s.contains("data:")).await;
    assert!(text.starts_with(":keep-alive"), "{text:?}");
    let data = text
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("a data event");
    let event: Value = serde_json::from_str(data).unwrap();
    assert_eq!(event, answer, "the stream carries the same JSON-RPC result");

    // A second call in the same session arrives live on the open stream.
    let second = post(
        &h,
        json!({"jsonrpc":"2.0","id":2,"method":"coda_get_document","params":{"docId": PLAN}}),
        Some(&sid),
    )
    .await;
    assert_eq!(second.headers()["mcp-session-id"].to_str().unwrap(), sid);
    let live = read_sse(&mut stream, |s| s.contains("\"id\":2")).await;
    assert!(live.contains("Project Plan"), "{live}");
    // Idle streams carry keep-alive comments (the harness sends them every 300 ms).
    let idle = read_sse(&mut stream, |s| s.matches(":keep-alive").count() >= 1).await;
    assert!(idle.contains(":keep-alive"), "{idle:?}");
    drop(stream);

    // DELETE ends it.
    let del = h
        .http
        .delete(h.url())
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 200);
    h.stop().await;
}

#[tokio::test]
async fn direct_calls_name_unknown_tools_and_work_inside_standard_sessions() {
    let h = Harness::start().await;
    let resp = post(
        &h,
        json!({"jsonrpc":"2.0","id":5,"method":"coda_list_docs","params":{}}),
        None,
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32601);
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("coda_list_docs") && msg.contains("coda_list_documents"),
        "{msg}"
    );

    let bad = post(
        &h,
        json!({"jsonrpc":"2.0","id":6,"method":"coda_get_row","params":{"docId": PLAN}}),
        None,
    )
    .await;
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["result"]["isError"], true);
    assert!(body["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("tableIdOrName"));

    // After a standard initialize, the same session accepts direct calls.
    let sid = h.raw_session("2025-06-18").await;
    let resp = post(
        &h,
        json!({"jsonrpc":"2.0","id":7,"method":"coda_whoami"}),
        Some(&sid),
    )
    .await;
    assert_eq!(resp.headers()["mcp-session-id"].to_str().unwrap(), sid);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["result"]["structuredContent"]["name"], "Demo User");
    // …and standard MCP clients are unaffected.
    let client = connect(&h).await;
    ok(&call(&client, "coda_whoami", json!({})).await);
    client.cancel().await.unwrap();

    // Without the key, nothing.
    let anon = reqwest::Client::new()
        .post(h.url())
        .header("content-type", "application/json")
        .body(json!({"jsonrpc":"2.0","id":1,"method":"coda_list_documents"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 401);
    h.stop().await;
}

/// Sample arguments for each action tool.
fn sample_args(tool: &str) -> Value {
    match tool {
        "search" => json!({"query": "Benefits"}),
        "fetch" => json!({"id": "page:HaNdBoOk02:canvas-Benefits"}),
        "coda_list_documents" | "coda_whoami" | "coda_list_folders" => json!({}),
        "coda_get_document" | "coda_list_pages" | "coda_list_tables" | "coda_list_formulas"
        | "coda_list_controls" => json!({"docId": PLAN}),
        "coda_get_page_content" => json!({"docId": PLAN, "pageIdOrName": "Overview"}),
        "coda_get_table" | "coda_list_columns" => {
            json!({"docId": PLAN, "tableIdOrName": "Projects"})
        }
        "coda_list_rows" => json!({"docId": PLAN, "tableIdOrName": "Tasks", "limit": 60}),
        "coda_get_row" => {
            json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0004"})
        }
        "coda_resolve_link" => {
            json!({"url": "https://coda.io/d/_dAbCDeFGH01#Tasks_tTasks001/_rui-Tsk0004"})
        }
        "coda_get_formula" => json!({"docId": PLAN, "formulaIdOrName": "PlanOwner"}),
        "coda_get_control" => json!({"docId": PLAN, "controlIdOrName": "Team"}),
        "coda_get_mutation_status" => json!({"requestId": "mutate:unknown"}),
        _ => Value::Null,
    }
}

#[tokio::test]
async fn every_read_action_returns_what_the_mcp_tool_returns() {
    let h = Harness::start().await;
    let client = connect(&h).await;
    let mut compared = 0;
    for tool in coda_mcp::openapi::ACTION_TOOLS {
        let args = sample_args(tool);
        if args.is_null() {
            continue; // a write: checked below
        }
        let resp = h
            .http
            .post(format!("{}/actions/{tool}", h.base()))
            .json(&args)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let action: Value = resp.json().await.unwrap();
        let mcp = call(&client, tool, args.clone()).await;
        if *tool == "coda_get_mutation_status" {
            assert_eq!(status, 404, "an unknown request id is Coda's 404");
            assert_eq!(mcp.is_error, Some(true));
            continue;
        }
        assert_eq!(status, 200, "{tool}: {action}");
        assert_eq!(
            action,
            ok(&mcp),
            "{tool}: the action and the MCP tool agree"
        );
        compared += 1;
    }
    assert_eq!(compared, 18, "every read action was compared");

    let via_call_tool: Value = h
        .http
        .post(format!("{}/actions/callTool", h.base()))
        .json(&json!({"name": "coda_get_sharing_metadata", "arguments": {"docId": PLAN}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        via_call_tool,
        ok(&call(&client, "coda_get_sharing_metadata", json!({"docId": PLAN})).await)
    );

    for (tool, args) in [
        (
            "coda_update_row",
            json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0030", "row": {"cells": [{"column": "Status", "value": "Done"}]}}),
        ),
        (
            "coda_create_rows",
            json!({"docId": PLAN, "tableIdOrName": "Projects", "rows": [{"cells": [{"column": "Name", "value": "Via action"}]}]}),
        ),
        (
            "coda_create_page",
            json!({"docId": PLAN, "name": "Action page"}),
        ),
    ] {
        let resp = h
            .http
            .post(format!("{}/actions/{tool}", h.base()))
            .json(&args)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{tool}");
        assert_eq!(
            resp.json::<Value>().await.unwrap()["completed"],
            true,
            "{tool}"
        );
    }
    client.cancel().await.unwrap();

    for (path, body, status, kind) in [
        ("/actions/coda_nope", json!({}), 404, "unknown_tool"),
        (
            "/actions/coda_get_row",
            json!({"docId": PLAN}),
            400,
            "invalid_arguments",
        ),
        (
            "/actions/coda_get_document",
            json!({"docId": "NoSuchDoc9"}),
            404,
            "not_found",
        ),
        (
            "/actions/callTool",
            json!({"arguments": {}}),
            400,
            "invalid_arguments",
        ),
    ] {
        let resp = h
            .http
            .post(format!("{}{path}", h.base()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status, "{path}");
        assert_eq!(resp.json::<Value>().await.unwrap()["error"], kind, "{path}");
    }
    let anon = reqwest::Client::new()
        .post(format!("{}/actions/coda_whoami", h.base()))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 401);
    h.stop().await;
}

#[tokio::test]
async fn the_schemas_name_this_server_and_are_public() {
    let h = Harness::start_with(common::quick_demo(), |c| {
        c.public_url = Some("https://coda-demo.example.app".into())
    })
    .await;
    let anon = reqwest::Client::new();
    let actions: Value = anon
        .get(format!("{}/openapi.json", h.base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        actions["servers"][0]["url"],
        "https://coda-demo.example.app"
    );
    assert!(!actions.to_string().contains(TEST_KEY));
    let seed: Value = anon
        .get(format!("{}/openapi/mcp.json", h.base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seed["servers"][0]["url"], "https://coda-demo.example.app");
    assert_eq!(
        seed["paths"]["/mcp"]["post"]["operationId"],
        "executeToolCall"
    );
    h.stop().await;
    let h = Harness::start().await;
    let actions: Value = reqwest::get(format!("{}/openapi.json", h.base()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        actions["servers"][0]["url"],
        h.base(),
        "without a public URL, the local one"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_reader_that_stops_reading_loses_its_stream_not_the_servers_memory() {
    let h = Harness::start().await;
    let first = post(
        &h,
        json!({"jsonrpc":"2.0","id":0,"method":"coda_whoami"}),
        None,
    )
    .await;
    let sid = first.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    // Open the stream and never read it.
    let stalled = h
        .http
        .get(h.url())
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(stalled.status(), 200);
    // Big results fill the socket buffers, then the bounded queue; calls must stay quick.
    let started = std::time::Instant::now();
    for i in 0..120 {
        let resp = post(&h, json!({"jsonrpc":"2.0","id":i + 1,"method":"coda_list_rows",
            "params":{"docId": PLAN, "tableIdOrName": "Tasks", "limit": 100, "valueFormat": "rich"}}), Some(&sid)).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.json::<Value>().await.unwrap()["result"]["isError"],
            false
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "calls were held up by the stalled reader: {:?}",
        started.elapsed()
    );
    drop(stalled);
    // The client may reconnect: the newest results (bounded) are waiting for it.
    let mut fresh = h
        .http
        .get(h.url())
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    let text = read_sse(&mut fresh, |s| s.contains("\"id\":120")).await;
    assert!(
        text.contains("\"id\":120"),
        "the newest result is delivered after reconnecting"
    );
    let events = text.matches("data: ").count();
    assert!(
        events <= 64 + 1,
        "at most the bounded queue is replayed ({events})"
    );
    h.stop().await;
}
