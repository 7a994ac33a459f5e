//! The eight seed tools, end to end through the official Rust MCP client (rmcp) against the
//! demo workspace.

use crate::common;

use std::collections::HashSet;

use common::{call, connect, err_text, ok, Harness};
use rmcp::model::CallToolRequestParams;
use serde_json::json;

const SEED_TOOLS: [&str; 8] = [
    "coda_list_documents",
    "coda_get_document",
    "coda_list_tables",
    "coda_get_table",
    "coda_list_rows",
    "coda_get_row",
    "coda_update_row",
    "coda_create_rows",
];
const DOC: &str = "AbCDeFGH01";

#[tokio::test]
async fn lists_the_seed_tools_with_schemas_annotations_and_operations() {
    let h = Harness::start().await;
    let client = connect(&h).await;
    let info = client.peer_info().expect("server info");
    assert_eq!(
        info.server_info.as_ref().map(|s| s.name.as_str()),
        Some("coda-mcp")
    );
    let tools = client.list_all_tools().await.unwrap();
    let names: HashSet<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for name in SEED_TOOLS {
        assert!(names.contains(name), "missing {name}");
    }
    for tool in &tools {
        let json = serde_json::to_value(tool).unwrap();
        assert_eq!(json["inputSchema"]["type"], "object", "{}", tool.name);
        let ann = &json["annotations"];
        for hint in [
            "readOnlyHint",
            "destructiveHint",
            "idempotentHint",
            "openWorldHint",
        ] {
            assert!(ann[hint].is_boolean(), "{} lacks {hint}", tool.name);
        }
        // Every tool names the Coda operations it calls; only the budget calls none.
        assert!(
            json["_meta"]["coda/operations"]
                .as_array()
                .is_some_and(|a| !a.is_empty() || tool.name == "coda_rate_budget"),
            "{}",
            tool.name
        );
    }
    let list_rows = tools.iter().find(|t| t.name == "coda_list_rows").unwrap();
    let props = &list_rows.input_schema["properties"];
    for arg in [
        "docId",
        "tableIdOrName",
        "query",
        "useColumnNames",
        "valueFormat",
        "limit",
        "pageToken",
    ] {
        assert!(props.get(arg).is_some(), "coda_list_rows lacks {arg}");
    }
    let update =
        serde_json::to_value(tools.iter().find(|t| t.name == "coda_update_row").unwrap()).unwrap();
    assert_eq!(update["annotations"]["readOnlyHint"], false);
    assert_eq!(update["_meta"]["coda/operations"][0], "updateRow");
    client.cancel().await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn every_seed_tool_works_against_the_demo() {
    let h = Harness::start().await;
    let client = connect(&h).await;

    let docs = ok(&call(&client, "coda_list_documents", json!({})).await);
    let doc_names: Vec<&str> = docs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert!(
        doc_names.len() >= 3 && doc_names.contains(&"Project Plan"),
        "{doc_names:?}"
    );

    let doc = ok(&call(&client, "coda_get_document", json!({"docId": DOC})).await);
    assert_eq!(doc["name"], "Project Plan");

    let tables = ok(&call(&client, "coda_list_tables", json!({"docId": DOC})).await);
    assert!(tables["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == "Tasks"));

    let table = ok(&call(
        &client,
        "coda_get_table",
        json!({"docId": DOC, "tableIdOrName": "Tasks"}),
    )
    .await);
    assert!(table["rowCount"].as_u64().unwrap() >= 150);
    let types: HashSet<&str> = table["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["format"]["type"].as_str().unwrap())
        .collect();
    for t in [
        "text", "number", "date", "checkbox", "select", "person", "lookup",
    ] {
        assert!(types.contains(t), "Tasks lacks a {t} column: {types:?}");
    }

    let done = ok(&call(
        &client,
        "coda_list_rows",
        json!({"docId": DOC, "tableIdOrName": "Tasks",
        "query": "\"Status\":\"Done\"", "limit": 500}),
    )
    .await);
    let rows = done["items"].as_array().unwrap();
    assert!(!rows.is_empty());
    assert!(
        rows.iter().all(|r| r["values"]["Status"] == "Done"),
        "query filter applies"
    );

    let rich = ok(&call(
        &client,
        "coda_get_row",
        json!({"docId": DOC, "tableIdOrName": "Tasks",
        "rowIdOrName": "i-Tsk0001", "valueFormat": "rich"}),
    )
    .await);
    assert_eq!(rich["values"]["Owner"]["@type"], "Person");
    assert_eq!(rich["values"]["Project"]["@type"], "StructuredValue");
    let by_id = ok(&call(
        &client,
        "coda_get_row",
        json!({"docId": DOC, "tableIdOrName": "grid-Tasks001",
        "rowIdOrName": "i-Tsk0001", "useColumnNames": false}),
    )
    .await);
    assert!(
        by_id["values"].get("c-TskStatus").is_some(),
        "column ids when useColumnNames=false"
    );

    let updated = ok(&call(
        &client,
        "coda_update_row",
        json!({"docId": DOC, "tableIdOrName": "Tasks",
        "rowIdOrName": "i-Tsk0002", "row": {"cells": [{"column": "Status", "value": "Blocked"},
        {"column": "Estimate (h)", "value": 42}]}}),
    )
    .await);
    assert_eq!(updated["completed"], true);
    assert_eq!(updated["id"], "i-Tsk0002");
    let row = ok(&call(
        &client,
        "coda_get_row",
        json!({"docId": DOC, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0002"}),
    )
    .await);
    assert_eq!(row["values"]["Status"], "Blocked");
    assert_eq!(row["values"]["Estimate (h)"], 42);

    let created = ok(&call(&client, "coda_create_rows", json!({"docId": DOC, "tableIdOrName": "Tasks", "rows": [
        {"cells": [{"column": "Task", "value": "Write release notes"}, {"column": "Owner", "value": "ada@example.com"}]},
        {"cells": [{"column": "Task", "value": "Tag the release"}, {"column": "Done", "value": false}]},
    ]})).await);
    assert_eq!(created["completed"], true);
    let added = created["addedRowIds"].as_array().unwrap();
    assert_eq!(added.len(), 2);
    let new_row = ok(&call(
        &client,
        "coda_get_row",
        json!({"docId": DOC, "tableIdOrName": "Tasks",
        "rowIdOrName": added[0], "valueFormat": "rich"}),
    )
    .await);
    assert_eq!(new_row["values"]["Owner"]["name"], "Ada Lovelace");

    // Upsert: the key column matches an existing row, which is updated, not duplicated.
    let upserted = ok(&call(&client, "coda_create_rows", json!({"docId": DOC, "tableIdOrName": "Tasks",
        "keyColumns": ["Task"], "rows": [{"cells": [{"column": "Task", "value": "Write release notes"},
        {"column": "Status", "value": "Done"}]}]})).await);
    // Coda names no rows for an upsert; the row count says what happened instead.
    assert!(upserted.get("addedRowIds").is_none(), "{upserted}");
    assert_eq!(upserted["upsert"]["rowsSent"], 1);
    assert_eq!(
        upserted["upsert"]["rowCountBefore"], upserted["upsert"]["rowCountAfter"],
        "the one row matched: nothing added"
    );
    let matching = ok(&call(
        &client,
        "coda_list_rows",
        json!({"docId": DOC, "tableIdOrName": "Tasks",
        "query": "\"Task\":\"Write release notes\""}),
    )
    .await);
    assert_eq!(matching["count"], 1);
    assert_eq!(matching["items"][0]["values"]["Status"], "Done");

    client.cancel().await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn limit_returns_that_many_items_past_the_page_clamp_and_continues_without_gaps() {
    let h = Harness::start().await;
    let client = connect(&h).await;
    let args = json!({"docId": DOC, "tableIdOrName": "Tasks", "limit": 130});
    let first = ok(&call(&client, "coda_list_rows", args).await);
    assert_eq!(
        first["items"].as_array().unwrap().len(),
        130,
        "limit 130 is honoured although the demo clamps pages to 50"
    );
    let token = first["nextPageToken"]
        .as_str()
        .expect("more rows remain")
        .to_owned();
    let rest = ok(&call(
        &client,
        "coda_list_rows",
        json!({"docId": DOC, "tableIdOrName": "Tasks",
        "pageToken": token, "limit": 1000}),
    )
    .await);
    assert!(
        rest.get("nextPageToken").is_none(),
        "the listing is complete"
    );
    let mut ids: Vec<String> = Vec::new();
    for page in [&first, &rest] {
        ids.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned()),
        );
    }
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), coda_mcp::demo::TASK_ROWS, "every row once");
    assert_eq!(unique.len(), ids.len(), "no row twice");
    client.cancel().await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn a_write_without_wait_returns_at_once_and_becomes_visible_a_moment_later() {
    let h = Harness::start().await;
    let client = connect(&h).await;
    let queued = ok(&call(&client, "coda_update_row", json!({"docId": DOC, "tableIdOrName": "Tasks",
        "rowIdOrName": "i-Tsk0005", "wait": false, "row": {"cells": [{"column": "Task", "value": "Renamed by test"}]}})).await);
    assert_eq!(queued["completed"], false);
    assert!(queued["requestId"].as_str().unwrap().starts_with("mutate:"));
    let get = json!({"docId": DOC, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0005"});
    let before = ok(&call(&client, "coda_get_row", get.clone()).await);
    assert_ne!(
        before["values"]["Task"], "Renamed by test",
        "Coda applies writes asynchronously"
    );
    let mut seen = false;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let row = ok(&call(&client, "coda_get_row", get.clone()).await);
        if row["values"]["Task"] == "Renamed by test" {
            seen = true;
            break;
        }
    }
    assert!(seen, "the write became visible");
    client.cancel().await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn coda_errors_surface_as_clear_tool_errors() {
    let h = Harness::start().await;
    let client = connect(&h).await;
    let missing =
        err_text(&call(&client, "coda_get_document", json!({"docId": "NoSuchDoc9"})).await);
    assert!(
        missing.contains("404") && missing.contains("list the parent first"),
        "{missing}"
    );

    let invalid = err_text(
        &call(
            &client,
            "coda_update_row",
            json!({"docId": DOC, "tableIdOrName": "Tasks",
        "rowIdOrName": "i-Tsk0001", "row": {"cells": [{"column": "No such column", "value": 1}]}}),
        )
        .await,
    );
    assert!(
        invalid.contains("400")
            && invalid.contains("row.cells[0].column")
            && invalid.contains("No such column"),
        "{invalid}"
    );

    let bad_args = err_text(
        &call(
            &client,
            "coda_list_rows",
            json!({"docId": DOC, "tableIdOrName": "Tasks", "limit": "ten"}),
        )
        .await,
    );
    assert!(
        bad_args.contains("'limit' must be an integer"),
        "{bad_args}"
    );
    let missing_arg = err_text(
        &call(
            &client,
            "coda_get_row",
            json!({"docId": DOC, "tableIdOrName": "Tasks"}),
        )
        .await,
    );
    assert!(
        missing_arg.contains("missing required argument 'rowIdOrName'"),
        "{missing_arg}"
    );
    let bad_enum = err_text(
        &call(
            &client,
            "coda_list_rows",
            json!({"docId": DOC, "tableIdOrName": "Tasks", "valueFormat": "html"}),
        )
        .await,
    );
    assert!(bad_enum.contains("valueFormat"), "{bad_enum}");

    // Unknown tool: a protocol error naming the tool and close matches.
    let params = CallToolRequestParams::new("coda_list_docs").with_arguments(Default::default());
    let e = client
        .call_tool(params)
        .await
        .expect_err("unknown tool is a protocol error");
    let text = e.to_string();
    assert!(
        text.contains("coda_list_docs") && text.contains("coda_list_documents"),
        "{text}"
    );

    // The session survives all of it.
    ok(&call(&client, "coda_get_document", json!({"docId": DOC})).await);
    client.cancel().await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn a_rejected_token_says_to_set_a_new_one() {
    let h = Harness::start_with(common::quick_demo(), |c| {
        c.coda_token = Some(common::bad_token())
    })
    .await;
    let client = connect(&h).await;
    let text = err_text(&call(&client, "coda_list_documents", json!({})).await);
    assert!(
        text.contains("401") && text.contains("set a new token"),
        "{text}"
    );
    assert!(
        !text.contains("this-token-is-wrong"),
        "the token never appears in errors"
    );
    client.cancel().await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn read_only_mode_hides_and_refuses_writes() {
    let h = Harness::start_with(common::quick_demo(), |c| c.read_only = true).await;
    let client = connect(&h).await;
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools
        .iter()
        .all(|t| t.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(true)));
    assert!(!tools.iter().any(|t| t.name == "coda_update_row"));
    // A well-formed write, through MCP and through the GPT Action route: refused, and
    // nothing reaches Coda.
    let write = json!({"docId": DOC, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0001",
        "row": {"cells": [{"column": "Status", "value": "Done"}]}});
    let requests = h.demo.requests_received();
    let params = CallToolRequestParams::new("coda_update_row")
        .with_arguments(write.as_object().cloned().unwrap());
    let e = client.call_tool(params).await.expect_err("write refused");
    assert!(e.to_string().contains("read-only"), "{e}");
    let action = h
        .http
        .post(format!("{}/actions/coda_update_row", h.base()))
        .json(&write)
        .send()
        .await
        .unwrap();
    assert!(
        action.status().is_client_error(),
        "the action route refuses it too: {}",
        action.status()
    );
    assert_eq!(h.demo.writes_received(), 0, "no write reached Coda");
    assert_eq!(
        h.demo.requests_received(),
        requests,
        "nothing at all was sent for the refused writes"
    );
    let row = ok(&call(
        &client,
        "coda_get_row",
        json!({"docId": DOC, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0001"}),
    )
    .await);
    assert_ne!(row["values"]["Status"], "Done");
    client.cancel().await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn coda_429s_are_retried_and_reported_when_they_persist() {
    use coda_mcp::coda::{RateClass, RateLimits};
    use std::time::Duration;
    // The demo allows 2 list-docs calls per 2 s; our pacer is told the limit is much higher,
    // so the demo answers 429 and the client must back off (honouring Retry-After) and retry.
    let mut limits = RateLimits::CODA.scaled(50);
    limits.limits[RateClass::ListDocs as usize] = (2, Duration::from_secs(2));
    let demo = coda_mcp::demo::DemoConfig {
        limits: Some(limits),
        ..common::quick_demo()
    };
    let h = Harness::start_with(demo, |_| {}).await;
    let client = connect(&h).await;
    for _ in 0..4 {
        ok(&call(&client, "coda_list_documents", json!({"limit": 1})).await);
    }
    assert!(
        h.demo.throttled() >= 1,
        "the demo answered 429 at least once"
    );
    assert_eq!(
        h.demo.requests_received(),
        4 + h.demo.throttled() + 1,
        "each 429 was retried once (plus one health check)"
    );
    client.cancel().await.unwrap();
    h.stop().await;

    // Without Retry-After (Coda does not promise it) the client backs off with jitter and
    // gets through.
    let demo = coda_mcp::demo::DemoConfig {
        limits: Some(limits),
        retry_after_header: false,
        ..common::quick_demo()
    };
    let h = Harness::start_with(demo.clone(), |c| {
        c.retry.base_backoff = Duration::from_millis(300)
    })
    .await;
    let client = connect(&h).await;
    for _ in 0..4 {
        ok(&call(&client, "coda_list_documents", json!({"limit": 1})).await);
    }
    assert!(
        h.demo.throttled() >= 1,
        "the demo answered 429 at least once"
    );
    assert_eq!(
        h.demo.requests_received(),
        4 + h.demo.throttled() + 1,
        "each 429 was retried after a backoff until it went through (plus one health check)"
    );
    client.cancel().await.unwrap();
    h.stop().await;

    let h = Harness::start_with(demo, |c| c.retry.max_429_retries = 1).await;
    let client = connect(&h).await;
    let mut last = None;
    for _ in 0..4 {
        let r = call(&client, "coda_list_documents", json!({"limit": 1})).await;
        if r.is_error == Some(true) {
            last = Some(err_text(&r));
            break;
        }
    }
    let text = last.expect("a persistent 429 surfaces");
    assert!(
        text.contains("429") && text.contains("after 1 retries"),
        "{text}"
    );
    client.cancel().await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn markdown_shorthand_writes_page_content_and_the_budget_tool_counts_what_was_used() {
    let h = Harness::start().await;
    let c = connect(&h).await;
    let plan = "AbCDeFGH01";
    let created = ok(&call(
        &c,
        "coda_create_page",
        json!({"docId": plan, "name": "Shorthand", "markdown": "# Plan\n\nFirst line"}),
    )
    .await);
    let page = created["id"].as_str().unwrap().to_owned();
    assert!(page_text(&c, plan, &page).await.contains("First line"));
    ok(&call(
        &c,
        "coda_update_page",
        json!({"docId": plan, "pageIdOrName": page, "markdown": "Second line"}),
    )
    .await);
    let after = page_text(&c, plan, &page).await;
    assert!(
        after.contains("First line") && after.contains("Second line"),
        "appended by default: {after}"
    );
    ok(&call(
        &c,
        "coda_update_page",
        json!({"docId": plan, "pageIdOrName": page, "markdown": "Only this", "insertionMode": "replace"}),
    )
    .await);
    let replaced = page_text(&c, plan, &page).await;
    assert!(
        replaced.contains("Only this") && !replaced.contains("First line"),
        "{replaced}"
    );
    let both = err_text(
        &call(
            &c,
            "coda_create_page",
            json!({"docId": plan, "markdown": "x", "pageContent": {"type": "canvas",
                "canvasContent": {"format": "markdown", "content": "y"}}}),
        )
        .await,
    );
    assert!(
        both.contains("either 'markdown' or 'pageContent'"),
        "{both}"
    );

    // The budget: the writes above used the write and page-content classes' windows.
    let budget = ok(&call(&c, "coda_rate_budget", json!({})).await);
    let class = |name: &str| {
        budget["classes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["class"] == name)
            .unwrap_or_else(|| panic!("{budget}"))
            .clone()
    };
    let content = class("doc-content-write");
    assert!(
        content["available"].as_u64().unwrap() < content["limit"].as_u64().unwrap(),
        "{budget}"
    );
    assert_eq!(class("analytics")["available"], class("analytics")["limit"]);
    c.cancel().await.unwrap();
    h.stop().await;
}

async fn page_text(c: &common::Client, doc: &str, page: &str) -> String {
    ok(&call(
        c,
        "coda_get_page_content",
        json!({"docId": doc, "pageIdOrName": page}),
    )
    .await)["text"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A client that declares MCP Apps (the `io.modelcontextprotocol/ui` extension).
async fn connect_showing_views(
    h: &Harness,
) -> rmcp::service::RunningService<rmcp::RoleClient, rmcp::model::ClientConfig> {
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    use rmcp::ServiceExt;
    let mut info = rmcp::model::ClientConfig::default();
    let mut extensions = rmcp::model::ExtensionCapabilities::new();
    extensions.insert(
        coda_mcp::apps::EXTENSION.into(),
        json!({"mimeTypes": [coda_mcp::apps::MIME]})
            .as_object()
            .unwrap()
            .clone(),
    );
    info.capabilities.extensions = Some(extensions);
    let mut config = StreamableHttpClientTransportConfig::with_uri(h.url());
    config.auth_header = Some(common::TEST_KEY.to_owned());
    info.serve(rmcp::transport::StreamableHttpClientTransport::from_config(
        config,
    ))
    .await
    .unwrap()
}

#[tokio::test]
async fn views_are_offered_only_when_both_sides_want_them() {
    for views in [true, false] {
        let h = Harness::start_with(common::quick_demo(), |c| c.views = views).await;
        let c = connect_showing_views(&h).await;
        let advertised = c
            .peer_info()
            .and_then(|i| i.capabilities.extensions.clone())
            .is_some_and(|e| e.contains_key(coda_mcp::apps::EXTENSION));
        assert_eq!(
            advertised, views,
            "the extension is advertised only when views are on"
        );
        let tools = c.list_all_tools().await.unwrap();
        let rows = tools.iter().find(|t| t.name == "coda_list_rows").unwrap();
        let meta = serde_json::to_value(&rows.meta).unwrap();
        assert_eq!(
            meta["ui"]["resourceUri"].as_str(),
            views.then_some("ui://coda/rows.html"),
            "{meta}"
        );
        let listed = c.list_all_resources().await.unwrap();
        assert_eq!(
            listed.iter().filter(|r| r.uri.starts_with("ui://")).count(),
            if views { 3 } else { 0 }
        );
        // A plain client never sees a view, whatever the server offers.
        let plain = connect(&h).await;
        let plain_tools = plain.list_all_tools().await.unwrap();
        assert!(plain_tools
            .iter()
            .all(|t| serde_json::to_value(&t.meta).unwrap().get("ui").is_none()));
        plain.cancel().await.unwrap();
        c.cancel().await.unwrap();
        h.stop().await;
    }
}
