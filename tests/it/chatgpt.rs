//! ChatGPT's ways in: the seed's direct-call flow on `/mcp` over raw HTTP, the GPT Action
//! routes (same data as the MCP tools), and the two OpenAPI documents.

use crate::common;
use crate::upstream;

use std::time::{Duration, Instant};

use coda_mcp::demo::DemoConfig;
use common::{call, connect, err_text, ok, quick_demo, Harness, TEST_KEY};
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
    let mut stream = h.open_stream(&sid).await;
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
            // Right after a write that 404 means "not yet", and the model is told to retry.
            let said = err_text(&mcp);
            assert!(
                said.contains("not visible yet") && said.contains("try again in a few seconds"),
                "{said}"
            );
            assert!(
                action["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("not visible yet"),
                "{action}"
            );
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
    assert_eq!(
        anon.headers()["www-authenticate"].to_str().unwrap(),
        format!(
            "Bearer realm=\"coda-mcp\", resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\", scope=\"coda:read coda:write\"",
            h.base()
        )
    );
    assert_eq!(anon.json::<Value>().await.unwrap()["error"], "unauthorized");
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
    let stalled = h.open_stream(&sid).await;
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
    // Results that arrive while no stream is open wait (bounded) for the next one. (What the
    // stalled stream had already written into the socket is gone with it.)
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 121..=130 {
        let resp = post(
            &h,
            json!({"jsonrpc":"2.0","id":i,"method":"coda_get_document","params":{"docId": PLAN}}),
            Some(&sid),
        )
        .await;
        assert_eq!(resp.status(), 200);
    }
    // The client may reconnect: the newest results (bounded) are waiting for it.
    let mut fresh = h.open_stream(&sid).await;
    let text = read_sse(&mut fresh, |s| s.contains("\"id\":130")).await;
    assert!(
        text.contains("\"id\":130"),
        "the newest result is delivered after reconnecting"
    );
    let events = text.matches("data: ").count();
    assert!(
        events <= 64 + 1,
        "at most the bounded queue is replayed ({events})"
    );
    h.stop().await;
}

/// Calls a GPT Action route with the connection key: (status, JSON body, body length).
async fn action(h: &Harness, route: &str, args: Value) -> (u16, Value, usize) {
    let resp = h
        .http
        .post(format!("{}/actions/{route}", h.base()))
        .json(&args)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{route}: not JSON ({e})"));
    (status, value, text.chars().count())
}

/// The sorted top-level keys of a result, to compare what two runs of a write report.
fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test]
async fn every_write_action_does_what_the_mcp_tool_does() {
    let h = Harness::start().await;
    let client = connect(&h).await;
    let row = |id: &str| json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": id});
    let done = json!({"cells": [{"column": "Status", "value": "Done"}]});
    // The same write through each door, on twin targets; results must report the same.
    let pairs = [
        (
            "coda_update_row",
            json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0031", "row": done}),
            json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0032", "row": done}),
        ),
        (
            "coda_create_rows",
            json!({"docId": PLAN, "tableIdOrName": "Projects", "rows": [{"cells": [{"column": "Name", "value": "Via action"}]}]}),
            json!({"docId": PLAN, "tableIdOrName": "Projects", "rows": [{"cells": [{"column": "Name", "value": "Via MCP"}]}]}),
        ),
        (
            "coda_create_page",
            json!({"docId": PLAN, "name": "Action page"}),
            json!({"docId": PLAN, "name": "MCP page"}),
        ),
        (
            "coda_update_page",
            json!({"docId": PLAN, "pageIdOrName": "Action page", "name": "Action page renamed"}),
            json!({"docId": PLAN, "pageIdOrName": "MCP page", "name": "MCP page renamed"}),
        ),
        (
            "coda_delete_row",
            json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0033"}),
            json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0034"}),
        ),
        (
            "coda_create_doc",
            json!({"title": "Action doc"}),
            json!({"title": "MCP doc"}),
        ),
    ];
    let mut results = std::collections::HashMap::new();
    for (tool, via_action, via_mcp) in pairs {
        let (status, a, _) = action(&h, tool, via_action).await;
        assert_eq!(status, 200, "{tool}: {a}");
        let m = ok(&call(&client, tool, via_mcp).await);
        assert_eq!(
            keys(&a),
            keys(&m),
            "{tool}: the action reports what the tool reports"
        );
        assert_eq!(a["completed"], m["completed"], "{tool}");
        assert_eq!(a["completed"], true, "{tool}: {a}");
        results.insert(tool, (a, m));
    }
    // …and the effects are the same.
    for id in ["i-Tsk0031", "i-Tsk0032"] {
        let mut args = row(id);
        args["useColumnNames"] = json!(true);
        let r = ok(&call(&client, "coda_get_row", args).await);
        assert_eq!(r["values"]["Status"], "Done", "{id}: {r}");
    }
    for name in ["Via action", "Via MCP"] {
        let r = ok(&call(
            &client,
            "coda_list_rows",
            json!({"docId": PLAN, "tableIdOrName": "Projects",
            "query": format!("\"Name\":\"{name}\"")}),
        )
        .await);
        assert_eq!(r["count"], 1, "{name}: {r}");
    }
    for name in ["Action page renamed", "MCP page renamed"] {
        let r = ok(&call(
            &client,
            "coda_get_page",
            json!({"docId": PLAN, "pageIdOrName": name}),
        )
        .await);
        assert_eq!(r["name"], name);
    }
    for id in ["i-Tsk0033", "i-Tsk0034"] {
        let r = call(&client, "coda_get_row", row(id)).await;
        assert!(err_text(&r).contains("404"), "{id} is gone");
    }
    let (a, m) = &results["coda_create_doc"];
    for (doc, title) in [(a, "Action doc"), (m, "MCP doc")] {
        let id = doc["id"].as_str().unwrap_or_else(|| panic!("{doc}"));
        let d = ok(&call(&client, "coda_get_document", json!({"docId": id})).await);
        assert_eq!(d["name"], title);
    }
    client.cancel().await.unwrap();
    h.stop().await;
}

/// The direct flow's answer for `body`: (JSON-RPC reply, its length, session id, elapsed).
async fn direct(
    h: &Harness,
    body: Value,
    session: Option<&str>,
) -> (Value, usize, String, Duration) {
    let started = Instant::now();
    let resp = post(h, body, session).await;
    assert_eq!(resp.status(), 200);
    let sid = resp.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let text = resp.text().await.unwrap();
    let elapsed = started.elapsed();
    (
        serde_json::from_str(&text).unwrap(),
        text.chars().count(),
        sid,
        elapsed,
    )
}

fn bulk_rows(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"cells": [{"column": "Name", "value": format!("Bulk {i}")}]}))
        .collect()
}

/// Checks a bulk write cut short by the deadline: the first batch sent (its requestId, still
/// processing), the other two reported as not sent, with their rows.
fn assert_cut_short(r: &Value) {
    assert_eq!(r["completed"], false, "{r}");
    let batches = r["batches"].as_array().unwrap_or_else(|| panic!("{r}"));
    assert_eq!(batches.len(), 3, "{r}");
    assert!(batches[0]["requestId"]
        .as_str()
        .unwrap()
        .starts_with("mutate:"));
    assert_eq!(batches[0]["completed"], false);
    assert_eq!(batches[0]["rows"], json!([0, 499]));
    for (b, rows) in batches[1..].iter().zip([[500, 999], [1000, 1199]]) {
        assert_eq!(b["sent"], false, "{b}");
        assert_eq!(b["rows"], json!(rows));
        assert!(b["status"].as_str().unwrap().contains("not sent"), "{b}");
    }
    assert!(r["status"].as_str().unwrap().contains("2 not sent"), "{r}");
}

#[tokio::test]
async fn a_slow_write_answers_before_the_deadline_with_its_request_ids() {
    let demo = DemoConfig {
        write_delay: Duration::from_secs(60),
        ..quick_demo()
    };
    let deadline = Duration::from_secs(4);
    let h = Harness::start_with(demo, |c| c.call_deadline = deadline).await;

    let started = Instant::now();
    let (status, r, _) = action(
        &h,
        "coda_update_row",
        json!({"docId": PLAN, "tableIdOrName": "Tasks",
        "rowIdOrName": "i-Tsk0011", "row": {"cells": [{"column": "Status", "value": "Done"}]}}),
    )
    .await;
    assert!(started.elapsed() < deadline, "{:?}", started.elapsed());
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["completed"], false);
    assert!(r["requestId"].as_str().unwrap().starts_with("mutate:"));
    assert!(
        r["status"]
            .as_str()
            .unwrap()
            .starts_with("still processing"),
        "{r}"
    );

    // A bulk write: 1,200 rows are 3 batches; only what fits before the deadline is sent,
    // and the answer says which rows were not.
    let before = h.demo.writes_received();
    let started = Instant::now();
    let (status, r, _) = action(
        &h,
        "coda_create_rows",
        json!({"docId": PLAN, "tableIdOrName": "Projects",
        "rows": bulk_rows(1200)}),
    )
    .await;
    assert!(started.elapsed() < deadline, "{:?}", started.elapsed());
    assert_eq!(status, 200, "{r}");
    assert_cut_short(&r);
    assert_eq!(
        h.demo.writes_received() - before,
        1,
        "exactly the reported batch was sent"
    );

    // The seed's direct-call flow works to the same deadline.
    let before = h.demo.writes_received();
    let (reply, _, _, elapsed) = direct(
        &h,
        json!({"jsonrpc": "2.0", "id": 3, "method": "coda_create_rows",
        "params": {"docId": PLAN, "tableIdOrName": "Projects", "rows": bulk_rows(1200)}}),
        None,
    )
    .await;
    assert!(elapsed < deadline, "{elapsed:?}");
    assert_cut_short(&reply["result"]["structuredContent"]);
    assert_eq!(h.demo.writes_received() - before, 1);
    h.stop().await;
}

#[tokio::test]
async fn a_call_stuck_in_coda_answers_at_the_deadline_and_is_not_abandoned() {
    let up = upstream::start().await;
    let deadline = Duration::from_secs(2);
    let h = Harness::start_with(quick_demo(), |c| {
        up.attach(c);
        c.call_deadline = deadline;
    })
    .await;
    up.slow_down("/whoami", Duration::from_secs(4));
    let started = Instant::now();
    let (status, r, _) = action(&h, "coda_whoami", json!({})).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= deadline && elapsed < deadline + Duration::from_secs(1),
        "{elapsed:?}"
    );
    assert_eq!(status, 504, "{r}");
    assert_eq!(r["error"], "timeout");
    let message = r["message"].as_str().unwrap();
    assert!(
        message.contains("still processing") && message.contains("not cancelled"),
        "{message}"
    );

    // The direct flow answers "still processing" at the deadline; the result follows on the
    // session's stream when Coda answers.
    let (reply, _, sid, elapsed) = direct(
        &h,
        json!({"jsonrpc": "2.0", "id": 9, "method": "coda_whoami"}),
        None,
    )
    .await;
    assert!(elapsed < deadline + Duration::from_secs(1), "{elapsed:?}");
    assert_eq!(reply["id"], 9);
    let pending = &reply["result"]["structuredContent"];
    assert_eq!(pending["completed"], false, "{reply}");
    assert!(
        pending["status"].as_str().unwrap().contains("GET /mcp"),
        "{reply}"
    );
    let mut stream = h.open_stream(&sid).await;
    let text = read_sse(&mut stream, |s| s.contains("Demo User")).await;
    let last = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .find(|m| m["result"]["structuredContent"]["name"] == "Demo User")
        .unwrap_or_else(|| panic!("the result never arrived: {text}"));
    assert_eq!(last["id"], 9);
    h.stop().await;
}

/// Whether a cut result says how to get the rest.
fn has_continuation(v: &Value) -> bool {
    v["truncated"].is_string() || v["nextPageToken"].is_string()
}

/// Adds a row whose Name is `len` copies of `c` to Projects; returns its row id.
async fn big_row(client: &common::Client, c: char, len: usize) -> String {
    let r = ok(&call(
        client,
        "coda_create_rows",
        json!({"docId": PLAN, "tableIdOrName": "Projects",
        "rows": [{"cells": [{"column": "Name", "value": c.to_string().repeat(len)}]}]}),
    )
    .await);
    r["addedRowIds"][0].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn large_results_stay_under_chatgpts_limit_on_actions_and_the_direct_flow() {
    const LIMIT: usize = 100_000;
    let h = Harness::start().await;
    let client = connect(&h).await;
    // Two rows of 60,000 characters each.
    let row_a = big_row(&client, 'a', 60_000).await;
    big_row(&client, 'b', 60_000).await;
    let tables = ok(&call(&client, "coda_list_tables", json!({"docId": PLAN})).await);
    let table = tables["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Projects")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let get_row = json!({"docId": PLAN, "tableIdOrName": "Projects", "rowIdOrName": row_a});
    let fetch = json!({"id": format!("table:{PLAN}:{table}")});
    for (route, args) in [("coda_get_row", get_row.clone()), ("fetch", fetch.clone())] {
        let (status, v, len) = action(&h, route, args).await;
        assert_eq!(status, 200, "{route}: {v}");
        assert!(len < LIMIT, "{route}: {len} characters");
    }

    // The direct flow carries a result twice (text and structuredContent): the whole answer
    // stays under the limit, cut cleanly and saying so.
    let (reply, len, sid, _) = direct(
        &h,
        json!({"jsonrpc": "2.0", "id": 1, "method": "coda_get_row", "params": get_row}),
        None,
    )
    .await;
    assert!(len < LIMIT, "{len} characters");
    let structured = &reply["result"]["structuredContent"];
    assert!(
        has_continuation(structured),
        "{}",
        &reply.to_string()[..300]
    );
    assert!(
        structured.to_string().contains("aaaaaaaaaa"),
        "the start is kept"
    );
    let text: Value =
        serde_json::from_str(reply["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(&text, structured, "text and structuredContent still agree");
    let (_, len, _, _) = direct(
        &h,
        json!({"jsonrpc": "2.0", "id": 2, "method": "fetch", "params": fetch}),
        Some(&sid),
    )
    .await;
    assert!(len < LIMIT, "fetch: {len} characters");
    let (reply, len, _, _) = direct(
        &h,
        json!({"jsonrpc": "2.0", "id": 3, "method": "coda_list_rows",
        "params": {"docId": PLAN, "tableIdOrName": "Tasks", "limit": 150, "valueFormat": "rich"}}),
        Some(&sid),
    )
    .await;
    assert!(len < LIMIT, "{len} characters");
    let list = &reply["result"]["structuredContent"];
    assert!(
        list["nextPageToken"].is_string() && list["count"].as_u64().unwrap() > 0,
        "{list}"
    );
    // The stream carries the same answers, each under the limit too.
    let mut stream = h.open_stream(&sid).await;
    let events = read_sse(&mut stream, |s| s.contains("\"id\":3")).await;
    let sizes: Vec<usize> = events
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| d.chars().count())
        .collect();
    assert_eq!(sizes.len(), 3, "{sizes:?}");
    assert!(sizes.iter().all(|n| *n < LIMIT), "{sizes:?}");
    client.cancel().await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn an_action_result_over_the_budget_is_cut_not_refused() {
    const BUDGET: usize = 30_000;
    let h = Harness::start_with(quick_demo(), |c| c.output_budget = BUDGET).await;
    let client = connect(&h).await;
    let row = big_row(&client, 'a', 60_000).await;
    let get_row = json!({"docId": PLAN, "tableIdOrName": "Projects", "rowIdOrName": row});
    for (route, args) in [
        ("coda_get_row", get_row.clone()),
        (
            "callTool",
            json!({"name": "coda_get_row", "arguments": get_row}),
        ),
    ] {
        let (status, v, len) = action(&h, route, args).await;
        assert_eq!(status, 200, "{route}: {v}");
        assert!(len <= BUDGET, "{route}: {len} characters");
        let note = v["truncated"]
            .as_str()
            .unwrap_or_else(|| panic!("{route}: no note"));
        assert!(note.contains("Ask for less"), "{note}");
        assert_eq!(v["id"], row, "the row's identity survives the cut");
        assert!(v.to_string().contains("aaaaaaaaaa"), "the start is kept");
    }
    client.cancel().await.unwrap();
    h.stop().await;
}

/// The components of the JSON schema block in the seed document's markdown.
fn seed_document_components(markdown: &str) -> Option<Value> {
    markdown
        .split("```json\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .filter_map(|json| serde_json::from_str::<Value>(json).ok())
        .find_map(|doc| doc.get("components").cloned())
}

#[tokio::test]
async fn the_direct_call_schema_keeps_the_seed_documents_components() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |p: &std::path::Path| -> Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let kept = read(&root.join("tests/data/seed_mcp_components.json"));
    let embedded = read(&root.join("src/openapi/direct_call.json"));
    assert_eq!(embedded["components"], kept, "src/openapi/direct_call.json");
    let h = Harness::start().await;
    let served: Value = reqwest::get(format!("{}/openapi/mcp.json", h.base()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served["components"], kept, "/openapi/mcp.json");
    h.stop().await;
    // Beside the repository in development (not in CI): the seed document itself.
    let seed = root.join("../shared/seed-chatgpt-connector-flow.md");
    if let Ok(markdown) = std::fs::read_to_string(seed) {
        assert_eq!(
            seed_document_components(&markdown),
            Some(kept),
            "tests/data/seed_mcp_components.json no longer matches the seed document"
        );
    }
}
