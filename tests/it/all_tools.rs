//! Every tool against the demo workspace, through the official Rust MCP client, and proof
//! from `operations.tsv` that every Coda operation is reachable.

use crate::common;

use std::collections::HashSet;

use coda_mcp::coda::RateClass;
use coda_mcp::tools::{Call, Catalogue, Confirm, CATALOGUE};
use common::{call, connect, err_text, eventually, ok, Harness};
use serde_json::{json, Value};

const PLAN: &str = "AbCDeFGH01";
const BOOK: &str = "HaNdBoOk02";
const GOALS: &str = "Q4GoAlS003";

#[test]
fn every_operation_in_operations_tsv_is_covered_by_a_tool() {
    let tsv = include_str!("../data/operations.tsv");
    let shared =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/coda-api/operations.tsv");
    if let Ok(original) = std::fs::read_to_string(&shared) {
        assert_eq!(
            original, tsv,
            "tests/data/operations.tsv is a copy of shared/coda-api/operations.tsv"
        );
    }
    let covered: HashSet<&str> = coda_mcp::tools::CATALOGUE
        .iter()
        .flat_map(|t| t.operations.iter().copied())
        .collect();
    let ops: Vec<&str> = tsv
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').nth(3).unwrap())
        .collect();
    assert_eq!(ops.len(), 64);
    let missing: Vec<&&str> = ops.iter().filter(|op| !covered.contains(**op)).collect();
    assert!(missing.is_empty(), "operations without a tool: {missing:?}");
    // Names: coda_ + snake case of the operation, except the seed's eight.
    let names: HashSet<&str> = coda_mcp::tools::CATALOGUE.iter().map(|t| t.name).collect();
    let seed = [
        ("listDocs", "coda_list_documents"),
        ("getDoc", "coda_get_document"),
        ("upsertRows", "coda_create_rows"),
    ];
    for op in ops {
        let expected = seed
            .iter()
            .find(|(o, _)| *o == op)
            .map(|(_, n)| n.to_string())
            .unwrap_or_else(|| format!("coda_{}", coda_mcp::tools::snake(op)));
        assert!(
            names.contains(expected.as_str()),
            "no tool named {expected} for {op}"
        );
    }
}

/// The operations of `operations.tsv` that declare a `limit` query parameter: those of
/// Coda's 1.4.17 spec (checked against the spec below when `shared/coda-api` is beside the
/// repository) and the newer ones whose entry in its README names `limit`.
const OPS_WITH_LIMIT: [&str; 14] = [
    "listDocs",
    "getPermissions",
    "listPages",
    "listTables",
    "listColumns",
    "listRows",
    "listFormulas",
    "listControls",
    "listDocAnalytics",
    "listPageAnalytics",
    "listPackAnalytics",
    "listPackFormulaAnalytics",
    // Newer than 1.4.17 (README: "query: ..., limit, pageToken").
    "listFolders",
    "listPageContent",
];
const NEWER_WITH_LIMIT: [&str; 2] = ["listFolders", "listPageContent"];

/// The operationIds in an OpenAPI YAML file whose parameters include `limit` (inline, or
/// the shared `#/components/parameters/limit`), read line by line in the spec's layout.
fn spec_operations_with_limit(spec: &str) -> HashSet<String> {
    let mut found = HashSet::new();
    let mut operation: Option<String> = None;
    for line in spec.lines() {
        if line.starts_with("  /") || (line.starts_with("    ") && !line.starts_with("     ")) {
            operation = None;
        }
        if let Some(id) = line.strip_prefix("      operationId: ") {
            operation = Some(id.trim().to_owned());
        }
        let limit = matches!(
            line.trim_end(),
            "        - name: limit" | "        - $ref: '#/components/parameters/limit'"
        );
        if let (true, Some(op)) = (limit, &operation) {
            found.insert(op.clone());
        }
    }
    found
}

/// Coda's `limit` only goes to operations that declare it; the others are paged by
/// `pageToken` alone (and cut to the caller's `limit` here).
#[test]
fn limit_is_sent_only_to_operations_that_declare_it() {
    let ops = tsv_operations();
    let spec_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/coda-api/openapi-v1.4.17.yml");
    if let Ok(spec) = std::fs::read_to_string(&spec_path) {
        let mut from_spec: Vec<String> = spec_operations_with_limit(&spec)
            .into_iter()
            .filter(|op| ops.contains_key(op.as_str()))
            .collect();
        from_spec.sort();
        let mut listed: Vec<String> = OPS_WITH_LIMIT
            .iter()
            .filter(|op| !NEWER_WITH_LIMIT.contains(op))
            .map(|op| op.to_string())
            .collect();
        listed.sort();
        assert_eq!(from_spec, listed, "OPS_WITH_LIMIT matches Coda's spec");
    }
    let mut lists = 0;
    for t in CATALOGUE {
        // A tool that calls no Coda operation (coda_rate_budget) sends nothing.
        let Some(&op) = t.operations.first() else {
            continue;
        };
        match t.call {
            Call::List { .. } => {
                lists += 1;
                assert_eq!(
                    t.sends_limit(),
                    OPS_WITH_LIMIT.contains(&op),
                    "{} ({op}) sends limit only if Coda's operation declares it",
                    t.name
                );
            }
            _ => assert!(!t.sends_limit(), "{}", t.name),
        }
    }
    assert_eq!(lists, 16, "every list tool was checked");
    let without: Vec<&str> = CATALOGUE
        .iter()
        .filter(|t| matches!(t.call, Call::List { .. }) && !t.sends_limit())
        .map(|t| t.name)
        .collect();
    assert_eq!(
        without,
        ["coda_list_categories", "coda_list_workspace_members"]
    );
}

/// `operationId → (method, path, rate class)` from `operations.tsv`.
fn tsv_operations(
) -> std::collections::HashMap<&'static str, (&'static str, &'static str, &'static str)> {
    include_str!("../data/operations.tsv")
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[3], (f[1], f[2], f[4]))
        })
        .collect()
}

#[test]
fn every_tool_calls_its_operation_with_codas_method_path_and_rate_class() {
    let ops = tsv_operations();
    let mut checked = 0;
    for t in CATALOGUE {
        let (method, path, class) = match t.call {
            Call::Get { path, class } | Call::List { path, class, .. } => ("GET", path, class),
            Call::Write {
                method,
                path,
                class,
                ..
            } => (method, path, class),
            _ => continue,
        };
        let (m, p, c) = ops[t.operations[0]];
        assert_eq!(
            (method, path),
            (m, p),
            "{} calls {}",
            t.name,
            t.operations[0]
        );
        assert_eq!(
            Some(class),
            RateClass::from_tsv(c),
            "{}: {} is in Coda's '{c}' rate class",
            t.name,
            t.operations[0]
        );
        assert_eq!(t.rate_class(), Some(class));
        checked += 1;
        // A write confirmed by reading the resource names the read it makes.
        let probe = match t.call {
            Call::Write {
                confirm: Confirm::Gone,
                path,
                ..
            } => Some(path),
            Call::Write {
                confirm: Confirm::Listed { path, .. },
                ..
            } => Some(path),
            _ => None,
        };
        if let Some(probe) = probe {
            let read = ops
                .iter()
                .find(|(_, (m, p, _))| *m == "GET" && *p == probe)
                .map(|(op, _)| *op)
                .unwrap_or_else(|| panic!("{}: no GET operation for {probe}", t.name));
            assert!(
                t.operations.contains(&read),
                "{} polls {read} but its _meta does not say so",
                t.name
            );
        }
    }
    assert!(checked >= 55, "only {checked} tools checked");
}

#[test]
fn every_write_tool_accepts_wait() {
    let writes: Vec<_> = CATALOGUE.iter().filter(|t| !t.is_read_only()).collect();
    assert!(writes.len() >= 26, "{} write tools", writes.len());
    for t in writes {
        let schema = t.input_schema();
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(
            schema["properties"]["wait"]["type"], "boolean",
            "{} does not accept wait",
            t.name
        );
        assert_eq!(schema["properties"]["wait"]["default"], true, "{}", t.name);
    }
}

#[test]
fn starting_an_export_stays_in_read_only_mode_but_is_paced_as_a_content_write() {
    // It POSTs and Coda refuses it to read-only tokens, but it changes no doc: read-only by
    // effect, so --read-only keeps it (coda_get_page_content's fallback does the same).
    let read_only = Catalogue::new(true);
    let (export, _) = read_only
        .get("coda_begin_page_content_export")
        .expect("offered in --read-only mode");
    assert_eq!(export.rate_class(), Some(RateClass::DocContentWrite));
    assert!(export.description.contains("read-only Coda API token"));
    assert!(read_only.get("coda_get_page_content").is_some());
    assert!(read_only.get("coda_delete_doc").is_none());
}

fn ids(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn docs_sharing_and_publishing() {
    let h = Harness::start().await;
    docs_sharing_and_publishing_on(&h).await;
    h.stop().await;
}

/// The calls of [`docs_sharing_and_publishing`], on any harness (the contract test runs them through its
/// recording proxy).
pub async fn docs_sharing_and_publishing_on(h: &Harness) {
    let c = connect(h).await;
    let docs = ok(&call(&c, "coda_list_documents", json!({"query": "plan"})).await);
    assert_eq!(ids(&docs), vec![PLAN]);
    let by_url = ok(&call(
        &c,
        "coda_get_document",
        json!({"docId": "https://coda.io/d/Project-Plan_dAbCDeFGH01"}),
    )
    .await);
    assert_eq!(
        by_url["name"], "Project Plan",
        "a Coda URL works where an ID is expected"
    );

    let created = ok(&call(
        &c,
        "coda_create_doc",
        json!({"title": "Copy of the handbook", "sourceDoc": BOOK}),
    )
    .await);
    let new_id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["completed"], true);
    let copy = ok(&call(&c, "coda_get_document", json!({"docId": new_id})).await);
    assert_eq!(
        copy["docSize"]["pageCount"], 4,
        "the copy has the source's pages"
    );
    ok(&call(
        &c,
        "coda_update_doc",
        json!({"docId": new_id, "title": "Renamed copy"}),
    )
    .await);
    assert_eq!(
        ok(&call(&c, "coda_get_document", json!({"docId": new_id})).await)["name"],
        "Renamed copy"
    );
    let deleted = ok(&call(&c, "coda_delete_doc", json!({"docId": new_id})).await);
    assert_eq!(deleted["completed"], true, "{deleted}");
    assert!(deleted["confirmedBy"].as_str().unwrap().contains("404"));
    // Completed means gone: no waiting needed.
    let gone = call(&c, "coda_get_document", json!({"docId": new_id})).await;
    assert!(err_text(&gone).contains("404"));

    let meta = ok(&call(&c, "coda_get_sharing_metadata", json!({"docId": PLAN})).await);
    assert_eq!(meta["canShare"], true);
    ok(&call(
        &c,
        "coda_add_permission",
        json!({"docId": PLAN, "access": "comment",
        "principal": {"type": "email", "email": "grace@example.com"}}),
    )
    .await);
    let perms = ok(&call(&c, "coda_get_permissions", json!({"docId": PLAN})).await);
    let grace = perms["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["principal"]["email"] == "grace@example.com")
        .expect("added");
    assert_eq!(grace["access"], "comment");
    ok(&call(
        &c,
        "coda_delete_permission",
        json!({"docId": PLAN, "permissionId": grace["id"]}),
    )
    .await);
    let perms = ok(&call(&c, "coda_get_permissions", json!({"docId": PLAN})).await);
    assert!(!perms.to_string().contains("grace@example.com"));
    let bad = err_text(
        &call(
            &c,
            "coda_add_permission",
            json!({"docId": PLAN, "access": "comment", "principal": {"type": "email"}}),
        )
        .await,
    );
    assert!(bad.contains("principal.email"), "{bad}");
    let found = ok(&call(
        &c,
        "coda_search_principals",
        json!({"docId": PLAN, "query": "ada"}),
    )
    .await);
    assert_eq!(found["users"][0]["loginId"], "ada@example.com");
    assert_eq!(found["users"][0]["type"], "user");
    let acl = ok(&call(&c, "coda_get_acl_settings", json!({"docId": PLAN})).await);
    assert_eq!(acl["allowCopying"], true);
    let acl = ok(&call(
        &c,
        "coda_update_acl_settings",
        json!({"docId": PLAN, "allowCopying": false}),
    )
    .await);
    assert_eq!(acl["allowCopying"], false);

    let cats = ok(&call(&c, "coda_list_categories", json!({})).await);
    assert!(cats["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == "Engineering"));
    let published = ok(&call(
        &c,
        "coda_publish_doc",
        json!({"docId": GOALS, "slug": "q4-goals", "mode": "view",
        "categoryNames": ["Engineering"]}),
    )
    .await);
    assert_eq!(published["completed"], true);
    let doc = ok(&call(&c, "coda_get_document", json!({"docId": GOALS})).await);
    assert_eq!(doc["published"]["mode"], "view");
    let unpublished = ok(&call(&c, "coda_unpublish_doc", json!({"docId": GOALS})).await);
    assert_eq!(unpublished["completed"], true);
    let doc = ok(&call(&c, "coda_get_document", json!({"docId": GOALS})).await);
    assert!(doc.get("published").is_none(), "unpublished: {doc}");
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn pages_content_and_exports() {
    let h = Harness::start().await;
    pages_content_and_exports_on(&h).await;
    h.stop().await;
}

/// The calls of [`pages_content_and_exports`], on any harness (the contract test runs them through its
/// recording proxy).
pub async fn pages_content_and_exports_on(h: &Harness) {
    let c = connect(h).await;
    let pages = ok(&call(&c, "coda_list_pages", json!({"docId": PLAN})).await);
    assert!(pages["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "Overview"));
    let created = ok(&call(&c, "coda_create_page", json!({"docId": PLAN, "name": "Launch notes", "pageContent": {"type": "canvas",
        "canvasContent": {"format": "markdown", "content": "# Launch\n\nHello world\n\n- one\n- two"}}})).await);
    let page = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["completed"], true);
    assert_eq!(
        ok(&call(
            &c,
            "coda_get_page",
            json!({"docId": PLAN, "pageIdOrName": page})
        )
        .await)["name"],
        "Launch notes"
    );
    ok(&call(&c, "coda_update_page", json!({"docId": PLAN, "pageIdOrName": page, "subtitle": "What we ship",
        "contentUpdate": {"insertionMode": "append", "canvasContent": {"format": "html", "content": "<p>Appended &amp; done</p>"}}})).await);
    let lines = ok(&call(
        &c,
        "coda_list_page_content",
        json!({"docId": PLAN, "pageIdOrName": page}),
    )
    .await);
    let items = lines["items"].as_array().unwrap();
    assert_eq!(
        items.last().unwrap()["itemContent"]["content"],
        "Appended & done"
    );
    let hello = items
        .iter()
        .find(|l| l["itemContent"]["content"] == "Hello world")
        .unwrap()["id"]
        .clone();
    ok(&call(
        &c,
        "coda_delete_page_content",
        json!({"docId": PLAN, "pageIdOrName": page, "elementIds": [hello]}),
    )
    .await);
    let text = ok(&call(
        &c,
        "coda_get_page_content",
        json!({"docId": PLAN, "pageIdOrName": page}),
    )
    .await);
    assert_eq!(text["text"], "# Launch\n- one\n- two\nAppended & done");
    assert_eq!(text["source"], "listPageContent");

    let export = ok(&call(
        &c,
        "coda_begin_page_content_export",
        json!({"docId": PLAN, "pageIdOrName": page, "outputFormat": "html"}),
    )
    .await);
    let export_id = export["id"].as_str().unwrap().to_owned();
    let status = eventually(
        &c,
        "coda_get_page_content_export_status",
        json!({"docId": PLAN, "pageIdOrName": page, "requestId": export_id}),
        |r| {
            r.is_error == Some(false)
                && r.structured_content
                    .as_ref()
                    .is_some_and(|v| v["status"] == "complete")
        },
    )
    .await;
    let status = ok(&status);
    assert!(status["downloadLink"].as_str().unwrap().contains("/blobs/"));

    ok(&call(
        &c,
        "coda_delete_page",
        json!({"docId": PLAN, "pageIdOrName": page}),
    )
    .await);
    assert!(err_text(
        &call(
            &c,
            "coda_get_page",
            json!({"docId": PLAN, "pageIdOrName": page})
        )
        .await
    )
    .contains("404"));
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn page_text_falls_back_to_an_export_when_list_page_content_is_missing() {
    let demo = coda_mcp::demo::DemoConfig {
        page_content_endpoint: false,
        ..common::quick_demo()
    };
    let h = Harness::start_with(demo, |_| {}).await;
    page_text_falls_back_to_an_export_when_list_page_content_is_missing_on(&h).await;
    h.stop().await;
}

/// The calls of [`page_text_falls_back_to_an_export_when_list_page_content_is_missing`], on any harness (the contract test runs them through its
/// recording proxy).
pub async fn page_text_falls_back_to_an_export_when_list_page_content_is_missing_on(h: &Harness) {
    let c = connect(h).await;
    let text = ok(&call(
        &c,
        "coda_get_page_content",
        json!({"docId": BOOK, "pageIdOrName": "Welcome"}),
    )
    .await);
    assert_eq!(text["source"], "export");
    let body = text["text"].as_str().unwrap();
    assert!(
        body.starts_with("# Welcome to the team") && body.contains("1. Set up your laptop"),
        "{body}"
    );
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn tables_columns_rows_and_buttons() {
    let h = Harness::start().await;
    tables_columns_rows_and_buttons_on(&h).await;
    h.stop().await;
}

/// The calls of [`tables_columns_rows_and_buttons`], on any harness (the contract test runs them through its
/// recording proxy).
pub async fn tables_columns_rows_and_buttons_on(h: &Harness) {
    let c = connect(h).await;
    let tables = ok(&call(
        &c,
        "coda_list_tables",
        json!({"docId": PLAN, "tableTypes": ["table"]}),
    )
    .await);
    assert_eq!(tables["count"], 2);
    let cols = ok(&call(
        &c,
        "coda_list_columns",
        json!({"docId": PLAN, "tableIdOrName": "Tasks"}),
    )
    .await);
    assert_eq!(cols["count"], 8);
    let status = ok(&call(
        &c,
        "coda_get_column",
        json!({"docId": PLAN, "tableIdOrName": "Tasks", "columnIdOrName": "Status"}),
    )
    .await);
    assert_eq!(status["format"]["type"], "select");

    let created = ok(&call(&c, "coda_create_rows", json!({"docId": GOALS, "tableIdOrName": "Key Results", "rows": [
        {"cells": [{"column": "Key result", "value": "Temp A"}]}, {"cells": [{"column": "Key result", "value": "Temp B"}]},
        {"cells": [{"column": "Key result", "value": "Temp C"}]}]})).await);
    let added: Vec<Value> = created["addedRowIds"].as_array().unwrap().clone();
    assert_eq!(added.len(), 3);
    assert_eq!(created["batches"].as_array().unwrap().len(), 1);
    ok(&call(
        &c,
        "coda_delete_rows",
        json!({"docId": GOALS, "tableIdOrName": "Key Results", "rowIds": [added[0], added[1]]}),
    )
    .await);
    ok(&call(
        &c,
        "coda_delete_row",
        json!({"docId": GOALS, "tableIdOrName": "Key Results", "rowIdOrName": added[2]}),
    )
    .await);
    let rows = ok(&call(
        &c,
        "coda_list_rows",
        json!({"docId": GOALS, "tableIdOrName": "Key Results"}),
    )
    .await);
    assert_eq!(rows["count"], 6, "the three temporary rows are gone");

    let pushed = ok(&call(
        &c,
        "coda_push_button",
        json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0007",
        "columnIdOrName": "Notify owner"}),
    )
    .await);
    assert_eq!(pushed["completed"], true);
    assert_eq!(h.demo.webhook_runs(PLAN), vec!["button:c-TskNotify"]);
    let not_button = err_text(
        &call(
            &c,
            "coda_push_button",
            json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0007",
        "columnIdOrName": "Status"}),
        )
        .await,
    );
    assert!(not_button.contains("not a button column"), "{not_button}");
    let write_button = err_text(
        &call(
            &c,
            "coda_update_row",
            json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0007",
        "row": {"cells": [{"column": "Notify owner", "value": "x"}]}}),
        )
        .await,
    );
    assert!(write_button.contains("button column"), "{write_button}");

    let row_link = "https://coda.io/d/Project-Plan_dAbCDeFGH01#Tasks_tTasks001/_rui-Tsk0003";
    let row = ok(&call(
        &c,
        "coda_get_row",
        json!({"docId": row_link, "tableIdOrName": row_link, "rowIdOrName": row_link}),
    )
    .await);
    assert_eq!(
        row["id"], "i-Tsk0003",
        "a row URL works for every ID argument"
    );
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn formulas_controls_domains_links_and_automations() {
    let h = Harness::start().await;
    formulas_controls_domains_links_and_automations_on(&h).await;
    h.stop().await;
}

/// The calls of [`formulas_controls_domains_links_and_automations`], on any harness (the contract test runs them through its
/// recording proxy).
pub async fn formulas_controls_domains_links_and_automations_on(h: &Harness) {
    let c = connect(h).await;
    assert_eq!(
        ok(&call(
            &c,
            "coda_list_formulas",
            json!({"docId": PLAN, "sortBy": "name"})
        )
        .await)["count"],
        2
    );
    let open = ok(&call(
        &c,
        "coda_get_formula",
        json!({"docId": PLAN, "formulaIdOrName": "OpenTasks"}),
    )
    .await);
    assert!(open["value"].as_u64().unwrap() > 0);
    assert_eq!(
        ok(&call(&c, "coda_list_controls", json!({"docId": PLAN})).await)["count"],
        3
    );
    assert_eq!(
        ok(&call(
            &c,
            "coda_get_control",
            json!({"docId": PLAN, "controlIdOrName": "ctrl-Horizon"})
        )
        .await)["value"],
        6
    );

    let domains = ok(&call(&c, "coda_list_custom_doc_domains", json!({"docId": BOOK})).await);
    assert_eq!(
        domains["customDocDomains"][0]["customDocDomain"],
        "handbook.example.com"
    );
    let added = ok(&call(
        &c,
        "coda_add_custom_doc_domain",
        json!({"docId": BOOK, "customDocDomain": "wiki.example.com"}),
    )
    .await);
    assert_eq!(added["completed"], true, "{added}");
    // Coda answers 202 {} here; completed means the domain is listed, with no waiting.
    let listed = call(&c, "coda_list_custom_doc_domains", json!({"docId": BOOK})).await;
    assert!(ok(&listed).to_string().contains("wiki.example.com"));
    let wiki_entry = |listing: &Value| {
        listing["customDocDomains"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["customDocDomain"] == "wiki.example.com")
            .cloned()
            .expect("wiki.example.com listed")
    };
    assert!(wiki_entry(&ok(&listed))
        .get("lastVerifiedTimestamp")
        .is_none());
    let refreshed = ok(&call(
        &c,
        "coda_update_custom_doc_domain",
        json!({"docId": BOOK, "customDocDomain": "wiki.example.com"}),
    )
    .await);
    assert_eq!(refreshed["completed"], true);
    let listed = ok(&call(&c, "coda_list_custom_doc_domains", json!({"docId": BOOK})).await);
    assert!(
        wiki_entry(&listed)["lastVerifiedTimestamp"].is_string(),
        "the update re-checked the domain"
    );
    ok(&call(
        &c,
        "coda_delete_custom_doc_domain",
        json!({"docId": BOOK, "customDocDomain": "wiki.example.com"}),
    )
    .await);
    let unpublished = err_text(
        &call(
            &c,
            "coda_add_custom_doc_domain",
            json!({"docId": PLAN, "customDocDomain": "x.example.com"}),
        )
        .await,
    );
    assert!(
        unpublished.contains("403") && unpublished.contains("lacks access"),
        "{unpublished}"
    );
    let provider = ok(&call(
        &c,
        "coda_get_custom_doc_domain_provider",
        json!({"customDocDomain": "handbook.example.com"}),
    )
    .await);
    assert!(provider["provider"].is_string());

    assert_eq!(
        ok(&call(&c, "coda_whoami", json!({})).await)["name"],
        "Demo User"
    );
    let url = "https://coda.io/d/Project-Plan_dAbCDeFGH01#Tasks_tTasks001/_rui-Tsk0003";
    let resolved = ok(&call(&c, "coda_resolve_browser_link", json!({"url": url})).await);
    assert_eq!(resolved["resource"]["type"], "row");
    let link = ok(&call(&c, "coda_resolve_link", json!({"url": url})).await);
    assert_eq!(
        (
            link["docId"].as_str(),
            link["tableId"].as_str(),
            link["rowId"].as_str()
        ),
        (Some(PLAN), Some("grid-Tasks001"), Some("i-Tsk0003"))
    );

    let queued = ok(&call(
        &c,
        "coda_update_row",
        json!({"docId": PLAN, "tableIdOrName": "Tasks", "rowIdOrName": "i-Tsk0009",
        "wait": false, "row": {"cells": [{"column": "Estimate (h)", "value": 3}]}}),
    )
    .await);
    let status = eventually(
        &c,
        "coda_get_mutation_status",
        json!({"requestId": queued["requestId"]}),
        |r| {
            r.structured_content
                .as_ref()
                .is_some_and(|v| v["completed"] == true)
        },
    )
    .await;
    assert_eq!(ok(&status)["completed"], true);

    let fired = ok(&call(
        &c,
        "coda_trigger_webhook_automation",
        json!({"docId": PLAN, "ruleId": "grid-auto-Notify01",
        "payload": {"reason": "test"}}),
    )
    .await);
    assert_eq!(fired["completed"], true);
    assert_eq!(h.demo.webhook_runs(PLAN), vec!["grid-auto-Notify01"]);
    let unknown = err_text(
        &call(
            &c,
            "coda_trigger_webhook_automation",
            json!({"docId": PLAN, "ruleId": "grid-auto-Nope"}),
        )
        .await,
    );
    assert!(unknown.contains("404"));
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn analytics_workspaces_go_links_and_folders() {
    let h = Harness::start().await;
    analytics_workspaces_go_links_and_folders_on(&h).await;
    h.stop().await;
}

/// The calls of [`analytics_workspaces_go_links_and_folders`], on any harness (the contract test runs them through its
/// recording proxy).
pub async fn analytics_workspaces_go_links_and_folders_on(h: &Harness) {
    let c = connect(h).await;
    let docs = ok(&call(
        &c,
        "coda_list_doc_analytics",
        json!({"orderBy": "views", "direction": "descending", "sinceDate": "2026-02-25"}),
    )
    .await);
    assert_eq!(docs["count"], 4);
    assert_eq!(
        docs["items"][0]["metrics"].as_array().unwrap().len(),
        3,
        "sinceDate filters the days"
    );
    assert!(
        ok(&call(&c, "coda_list_page_analytics", json!({"docId": PLAN})).await)["count"]
            .as_u64()
            .unwrap()
            >= 3
    );
    assert!(
        ok(&call(&c, "coda_list_doc_analytics_summary", json!({})).await)["totalSessions"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(
        ok(&call(&c, "coda_list_pack_analytics", json!({})).await)["count"],
        1
    );
    assert!(
        ok(&call(&c, "coda_list_pack_analytics_summary", json!({})).await)["totalDocInstalls"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(
        ok(&call(
            &c,
            "coda_list_pack_formula_analytics",
            json!({"packId": 1001})
        )
        .await)["count"],
        3
    );
    assert_eq!(
        ok(&call(&c, "coda_list_pack_formula_analytics", json!({"packId": 7})).await)["count"],
        0,
        "a pack with no analytics has none (the spec declares no 404 here)"
    );
    assert!(
        ok(&call(&c, "coda_get_analytics_last_updated", json!({})).await)
            ["docAnalyticsLastUpdated"]
            .is_string()
    );

    let editors = ok(&call(
        &c,
        "coda_list_workspace_members",
        json!({"workspaceId": "ws-Demo01", "includedRoles": ["Editor"]}),
    )
    .await);
    assert!(editors["count"].as_u64().unwrap() >= 1);
    assert!(editors["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["role"] == "Editor"));
    let role_of = |members: &Value, email: &str| {
        members["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["email"] == email)
            .map(|m| m["role"].clone())
    };
    let everyone = json!({"workspaceId": "ws-Demo01", "limit": 100});
    let before = ok(&call(&c, "coda_list_workspace_members", everyone.clone()).await);
    assert_eq!(role_of(&before, "ada@example.com"), Some(json!("DocMaker")));
    let editors_before = ok(&call(
        &c,
        "coda_list_workspace_role_activity",
        json!({"workspaceId": "ws-Demo01"}),
    )
    .await)["items"][0]["activeEditorCount"]
        .as_u64()
        .unwrap();
    let changed = ok(&call(
        &c,
        "coda_change_user_role",
        json!({"workspaceId": "ws-Demo01", "email": "ada@example.com", "newRole": "Editor"}),
    )
    .await);
    assert_eq!(changed["completed"], true);
    let after = ok(&call(&c, "coda_list_workspace_members", everyone).await);
    assert_eq!(role_of(&after, "ada@example.com"), Some(json!("Editor")));
    let roles = ok(&call(
        &c,
        "coda_list_workspace_role_activity",
        json!({"workspaceId": "ws-Demo01"}),
    )
    .await);
    assert_eq!(
        roles["items"][0]["activeEditorCount"].as_u64().unwrap(),
        editors_before + 1
    );
    ok(&call(&c, "coda_add_go_link", json!({"organizationId": "org-Demo01", "name": "handbook", "destinationUrl": "https://coda.io/d/_dHaNdBoOk02"})).await);
    let dup = err_text(&call(&c, "coda_add_go_link", json!({"organizationId": "org-Demo01", "name": "handbook", "destinationUrl": "https://coda.io/x"})).await);
    assert!(dup.contains("already exists"), "{dup}");

    assert_eq!(
        ok(&call(&c, "coda_list_folders", json!({})).await)["count"],
        2
    );
    let folder = ok(&call(
        &c,
        "coda_create_folder",
        json!({"name": "Archive", "workspaceId": "ws-Demo01"}),
    )
    .await);
    let fid = folder["id"].as_str().unwrap().to_owned();
    assert_eq!(
        ok(&call(&c, "coda_get_folder", json!({"folderId": fid})).await)["name"],
        "Archive"
    );
    assert_eq!(
        ok(&call(
            &c,
            "coda_update_folder",
            json!({"folderId": fid, "name": "Old stuff"})
        )
        .await)["name"],
        "Old stuff"
    );
    let deleted = ok(&call(&c, "coda_delete_folder", json!({"folderId": fid})).await);
    assert_eq!(deleted["completed"], true, "{deleted}");
    let gone = call(&c, "coda_get_folder", json!({"folderId": fid})).await;
    assert!(err_text(&gone).contains("404"));
    let busy = err_text(&call(&c, "coda_delete_folder", json!({"folderId": "fl-Work0001"})).await);
    assert!(busy.contains("still holds docs"), "{busy}");
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn chatgpt_search_and_fetch() {
    let h = Harness::start().await;
    chatgpt_search_and_fetch_on(&h).await;
    h.stop().await;
}

/// The calls of [`chatgpt_search_and_fetch`], on any harness (the contract test runs them through its
/// recording proxy).
pub async fn chatgpt_search_and_fetch_on(h: &Harness) {
    let c = connect(h).await;
    let found = call(&c, "search", json!({"query": "Grace Hopper"})).await;
    let results = ok(&found)["results"].as_array().unwrap().clone();
    assert!(!results.is_empty());
    for r in &results {
        assert!(
            r["id"].is_string()
                && r["title"].is_string()
                && r["url"].as_str().unwrap().starts_with("https://coda.io/"),
            "{r}"
        );
    }
    let text: Value = serde_json::from_str(&found.content[0].as_text().unwrap().text).unwrap();
    assert!(
        text["results"].is_array(),
        "one text content holding {{\"results\": [...]}}"
    );
    assert_eq!(found.content.len(), 1);

    let row_hit = results
        .iter()
        .find(|r| r["id"].as_str().unwrap().starts_with("row:"))
        .expect("a row matches");
    let row = ok(&call(&c, "fetch", json!({"id": row_hit["id"]})).await);
    assert!(row["text"].as_str().unwrap().contains("Grace Hopper"));
    for key in ["id", "title", "text", "url", "metadata"] {
        assert!(row.get(key).is_some(), "fetch result lacks {key}");
    }
    let handbook = ok(&call(&c, "search", json!({"query": "handbook"})).await);
    let doc_hit = handbook["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == format!("doc:{BOOK}"))
        .expect("doc by name");
    let doc = ok(&call(&c, "fetch", json!({"id": doc_hit["id"]})).await);
    assert!(doc["text"].as_str().unwrap().contains("Benefits"));
    let page = ok(&call(
        &c,
        "fetch",
        json!({"id": format!("page:{BOOK}:canvas-Benefits")}),
    )
    .await);
    assert!(page["text"]
        .as_str()
        .unwrap()
        .contains("28 days of paid time off"));
    let table = ok(&call(
        &c,
        "fetch",
        json!({"id": "https://coda.io/d/_dQ4GoAlS003#Key-Results_tOkrs0001"}),
    )
    .await);
    assert!(table["text"]
        .as_str()
        .unwrap()
        .starts_with("| Key result | Objective |"));
    assert_eq!(table["metadata"]["type"], "table");
    let bad = err_text(&call(&c, "fetch", json!({"id": "row:only-two"})).await);
    assert!(bad.contains("not an id from search"), "{bad}");
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn resources_and_prompts() {
    let h = Harness::start().await;
    resources_and_prompts_on(&h).await;
    h.stop().await;
}

/// The calls of [`resources_and_prompts`], on any harness (the contract test runs them through its
/// recording proxy).
pub async fn resources_and_prompts_on(h: &Harness) {
    use rmcp::model::{GetPromptRequestParams, ReadResourceRequestParams};
    let c = connect(h).await;
    let templates = c.list_all_resource_templates().await.unwrap();
    let uris: Vec<String> = templates.iter().map(|t| t.uri_template.clone()).collect();
    assert_eq!(
        uris,
        [
            "coda://docs/{docId}",
            "coda://docs/{docId}/pages/{pageId}",
            "coda://docs/{docId}/tables/{tableId}",
            "coda://docs/{docId}/schema"
        ]
    );
    let docs = c.list_all_resources().await.unwrap();
    assert!(
        docs.iter().any(|r| r.uri == format!("coda://docs/{PLAN}")),
        "docs are listed as resources"
    );
    let guides: Vec<&str> = docs
        .iter()
        .map(|r| r.uri.as_str())
        .filter(|u| u.starts_with("coda://guides/"))
        .collect();
    assert_eq!(
        guides,
        [
            "coda://guides/queries",
            "coda://guides/values",
            "coda://guides/rate-limits",
            "coda://guides/writes"
        ]
    );

    let read = |uri: String| {
        let c = &c;
        async move {
            serde_json::to_value(
                c.read_resource(ReadResourceRequestParams::new(uri))
                    .await
                    .unwrap(),
            )
            .unwrap()
        }
    };
    let doc = read(format!("coda://docs/{PLAN}")).await;
    assert_eq!(doc["contents"][0]["mimeType"], "application/json");
    let doc_json: Value =
        serde_json::from_str(doc["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(doc_json["name"], "Project Plan");
    assert!(doc_json["tables"].as_array().unwrap().len() >= 2);
    let guide = read("coda://guides/queries".into()).await;
    assert_eq!(guide["contents"][0]["mimeType"], "text/markdown");
    assert!(guide["contents"][0]["text"]
        .as_str()
        .unwrap()
        .contains(r#""Status":"Done""#));
    // The whole doc's schema in one read: every table with its columns and their types.
    let schema = read(format!("coda://docs/{PLAN}/schema")).await;
    assert_eq!(schema["contents"][0]["mimeType"], "application/json");
    assert_eq!(
        schema["contents"].as_array().unwrap().len(),
        1,
        "complete: no note"
    );
    let schema: Value =
        serde_json::from_str(schema["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(schema["doc"]["name"], "Project Plan");
    let tasks = schema["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Tasks")
        .unwrap_or_else(|| panic!("{schema}"));
    assert_eq!(tasks["rowCount"], coda_mcp::demo::TASK_ROWS);
    let column = |name: &str| {
        tasks["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {tasks}"))
            .clone()
    };
    assert_eq!(column("Task")["display"], true);
    assert_eq!(column("Estimate (h)")["type"], "number");
    assert_eq!(
        schema["tables"].as_array().unwrap().len(),
        doc_json["tables"].as_array().unwrap().len(),
        "every table of the doc"
    );
    let page = read(format!("coda://docs/{BOOK}/pages/canvas-Benefits")).await;
    assert_eq!(page["contents"][0]["mimeType"], "text/markdown");
    assert!(page["contents"][0]["text"]
        .as_str()
        .unwrap()
        .starts_with("# Benefits"));
    let table = read(format!("coda://docs/{GOALS}/tables/grid-Okrs0001")).await;
    assert_eq!(table["contents"][0]["mimeType"], "text/csv");
    let csv = table["contents"][0]["text"].as_str().unwrap();
    assert!(
        csv.starts_with("Key result,Objective,Progress (%),Owner,On track,Quarter\n"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 7, "header plus six rows");
    let missing = c
        .read_resource(ReadResourceRequestParams::new("coda://docs/NoSuchDoc1"))
        .await
        .expect_err("404");
    assert!(missing.to_string().contains("not found"), "{missing}");
    let foreign = c
        .read_resource(ReadResourceRequestParams::new("file:///etc/passwd"))
        .await
        .expect_err("not ours");
    assert!(
        foreign.to_string().contains("Unknown resource"),
        "{foreign}"
    );

    let prompts = c.list_all_prompts().await.unwrap();
    let names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "summarize_doc",
            "find_rows",
            "status_update",
            "weekly_status",
            "design_table",
            "import_csv",
            "audit_sharing"
        ]
    );
    // Each renders with its required arguments, naming the tools it needs.
    for (name, args, needs) in [
        (
            "design_table",
            json!({"docId": PLAN, "purpose": "tracking hiring candidates"}),
            "schema",
        ),
        (
            "import_csv",
            json!({"docId": PLAN, "tableIdOrName": "Tasks", "csv": "Task,Status\nShip it,Done"}),
            "coda_create_rows",
        ),
        (
            "audit_sharing",
            json!({"docId": PLAN}),
            "coda_get_permissions",
        ),
        (
            "weekly_status",
            json!({"docId": PLAN, "tableIdOrName": "Tasks"}),
            "sortBy updatedAt",
        ),
    ] {
        let prompt = c
            .get_prompt(
                GetPromptRequestParams::new(name).with_arguments(args.as_object().unwrap().clone()),
            )
            .await
            .unwrap();
        let text = serde_json::to_value(&prompt.messages[0]).unwrap();
        let text = text["content"]["text"].as_str().unwrap().to_owned();
        assert!(
            text.contains(PLAN) && text.contains(needs),
            "{name}: {text}"
        );
        assert!(
            !text.contains("{docId}") && !text.contains("{audience}"),
            "{name}: {text}"
        );
    }
    let e = c
        .get_prompt(
            GetPromptRequestParams::new("import_csv").with_arguments(
                json!({"docId": PLAN, "tableIdOrName": "Tasks"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await
        .expect_err("csv required");
    assert!(e.to_string().contains("csv"), "{e}");
    let args = json!({"docId": PLAN, "tableIdOrName": "Tasks", "description": "blocked tasks owned by Ada"});
    let prompt = c
        .get_prompt(
            GetPromptRequestParams::new("find_rows")
                .with_arguments(args.as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    let text = serde_json::to_value(&prompt.messages[0]).unwrap();
    let text = text["content"]["text"].as_str().unwrap();
    assert!(
        text.contains("blocked tasks owned by Ada")
            && text.contains("coda_get_table")
            && text.contains(PLAN)
    );
    let e = c
        .get_prompt(GetPromptRequestParams::new("summarize_doc"))
        .await
        .expect_err("docId required");
    assert!(e.to_string().contains("docId"), "{e}");
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn coda_urls_work_for_ids_in_paths_queries_and_bodies() {
    let h = Harness::start().await;
    coda_urls_work_for_ids_in_paths_queries_and_bodies_on(&h).await;
    h.stop().await;
}

/// The calls of [`coda_urls_work_for_ids_in_paths_queries_and_bodies`], on any harness (the contract test runs them through its
/// recording proxy).
pub async fn coda_urls_work_for_ids_in_paths_queries_and_bodies_on(h: &Harness) {
    let c = connect(h).await;
    // A page URL in the path: parsed locally (`_su…`), or resolved by Coda when its shape
    // does not say the ID (a page named by its slug only, a published doc's custom domain).
    for url in [
        "https://coda.io/d/Handbook_dHaNdBoOk02/Benefits_suBenefits",
        "https://coda.io/d/Handbook_dHaNdBoOk02/Benefits",
        "https://handbook.example.com/Benefits",
    ] {
        let page = ok(&call(
            &c,
            "coda_get_page",
            json!({"docId": BOOK, "pageIdOrName": url}),
        )
        .await);
        assert_eq!(page["id"], "canvas-Benefits", "{url}");
    }
    let requests = h.demo.requests_received();
    ok(&call(
        &c,
        "coda_get_page",
        json!({"docId": BOOK, "pageIdOrName": "https://coda.io/d/Handbook_dHaNdBoOk02/Benefits_suBenefits"}),
    )
    .await);
    assert_eq!(
        h.demo.requests_received() - requests,
        1,
        "a URL whose shape names the page costs no resolveBrowserLink call"
    );
    let not_a_page = err_text(
        &call(
            &c,
            "coda_get_page",
            json!({"docId": BOOK, "pageIdOrName": "https://coda.io/d/Handbook_dHaNdBoOk02"}),
        )
        .await,
    );
    assert!(
        not_a_page.contains("'pageIdOrName' is a URL that does not name a page"),
        "{not_a_page}"
    );

    // A doc URL in a body ID (sourceDoc), a page URL as parentPageId.
    let copy = ok(&call(
        &c,
        "coda_create_doc",
        json!({"title": "Copied by URL", "sourceDoc": "https://coda.io/d/Handbook_dHaNdBoOk02"}),
    )
    .await);
    let copy_id = copy["id"].as_str().unwrap().to_owned();
    assert_eq!(
        ok(&call(&c, "coda_get_document", json!({"docId": copy_id})).await)["docSize"]["pageCount"],
        4,
        "the copy is of the handbook"
    );
    let sub = ok(&call(
        &c,
        "coda_create_page",
        json!({"docId": PLAN, "name": "Sub of overview",
        "parentPageId": "https://coda.io/d/Project-Plan_dAbCDeFGH01/Overview_suOverview"}),
    )
    .await);
    let sub = ok(&call(
        &c,
        "coda_get_page",
        json!({"docId": PLAN, "pageIdOrName": sub["id"]}),
    )
    .await);
    assert_eq!(sub["parent"]["id"], "canvas-Overview", "{sub}");

    // A folder link as a query filter, row URLs in a body list.
    let in_folder = ok(&call(
        &c,
        "coda_list_documents",
        json!({"folderId": "https://coda.io/docs?folderId=fl-Work0001"}),
    )
    .await);
    assert!(in_folder["count"].as_u64().unwrap() >= 1);
    assert!(in_folder["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["folderId"] == "fl-Work0001"));
    let created = ok(&call(
        &c,
        "coda_create_rows",
        json!({"docId": GOALS, "tableIdOrName": "Key Results", "rows": [
        {"cells": [{"column": "Key result", "value": "Temp by URL"}]}]}),
    )
    .await);
    let row_id = created["addedRowIds"][0].as_str().unwrap().to_owned();
    let row_url = format!("https://coda.io/d/_d{GOALS}#Key-Results_tOkrs0001/_ru{row_id}");
    let deleted = ok(&call(
        &c,
        "coda_delete_rows",
        json!({"docId": GOALS, "tableIdOrName": "Key Results", "rowIds": [row_url]}),
    )
    .await);
    assert_eq!(deleted["completed"], true);
    let gone = call(
        &c,
        "coda_get_row",
        json!({"docId": GOALS, "tableIdOrName": "Key Results", "rowIdOrName": row_id}),
    )
    .await;
    assert!(err_text(&gone).contains("404"));
    c.cancel().await.unwrap();
}

/// A page of `parts` sections, each a heading and 49 numbered items: its markdown is exactly
/// what coda_get_page_content renders.
fn long_page(parts: usize) -> String {
    let mut lines = Vec::new();
    for p in 0..parts {
        lines.push(format!("## Part {p}"));
        for k in 1..50 {
            lines.push(format!(
                "{k}. item {p}-{k}: the quick brown fox jumps over the lazy dog"
            ));
        }
    }
    lines.join("\n")
}

#[tokio::test]
async fn a_long_page_is_read_whole_across_continuations_cut_at_line_boundaries() {
    let h = Harness::start().await;
    let c = connect(&h).await;
    let markdown = long_page(60); // 3,000 lines, about 200,000 characters
    let created = ok(&call(&c, "coda_create_page", json!({"docId": PLAN, "name": "Long read",
        "pageContent": {"type": "canvas", "canvasContent": {"format": "markdown", "content": markdown}}})).await);
    let page = created["id"].as_str().unwrap().to_owned();
    let mut args = json!({"docId": PLAN, "pageIdOrName": page});
    let mut chunks = Vec::new();
    for _ in 0..10 {
        let r = call(&c, "coda_get_page_content", args.clone()).await;
        let text_len = r.content[0].as_text().unwrap().text.len();
        assert!(text_len <= 100_000, "a result of {text_len} characters");
        let v = ok(&r);
        assert_eq!(v["source"], "listPageContent");
        chunks.push(v["text"].as_str().unwrap().to_owned());
        match v["nextPageToken"].as_str() {
            Some(t) => {
                assert!(v["truncated"].as_str().unwrap().contains("pageToken"));
                args = json!({"docId": PLAN, "pageIdOrName": page, "pageToken": t});
            }
            None => break,
        }
    }
    assert!(chunks.len() >= 3, "cut into {} results", chunks.len());
    assert_eq!(
        chunks.join("\n"),
        markdown,
        "every line once, in order, numbering carried across cuts"
    );
    let bad = err_text(
        &call(
            &c,
            "coda_get_page_content",
            json!({"docId": PLAN, "pageIdOrName": page, "pageToken": "cmcp1.00"}),
        )
        .await,
    );
    assert!(bad.contains("pageToken"), "{bad}");

    // The page resource says it is cut and where the rest is.
    let read = c
        .read_resource(rmcp::model::ReadResourceRequestParams::new(format!(
            "coda://docs/{PLAN}/pages/{page}"
        )))
        .await
        .unwrap();
    let read = serde_json::to_value(read).unwrap();
    let contents = read["contents"].as_array().unwrap();
    assert_eq!(contents.len(), 2, "text plus a note");
    assert_eq!(contents[0]["text"].as_str().unwrap(), chunks[0]);
    let note = contents[1]["text"].as_str().unwrap();
    assert!(
        note.starts_with("Incomplete")
            && note.contains("coda_get_page_content")
            && note.contains("pageToken"),
        "{note}"
    );
    c.cancel().await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn a_long_exported_page_is_cut_at_line_boundaries_too() {
    let demo = coda_mcp::demo::DemoConfig {
        page_content_endpoint: false,
        ..common::quick_demo()
    };
    let h = Harness::start_with(demo, |c| c.output_budget = 20_000).await;
    let c = connect(&h).await;
    let created = ok(&call(&c, "coda_create_page", json!({"docId": PLAN, "name": "Long export",
        "pageContent": {"type": "canvas", "canvasContent": {"format": "markdown", "content": long_page(6)}}})).await);
    let page = created["id"].as_str().unwrap().to_owned();
    let mut args = json!({"docId": PLAN, "pageIdOrName": page});
    let mut text = String::new();
    let mut calls = 0;
    loop {
        calls += 1;
        let v = ok(&call(&c, "coda_get_page_content", args.clone()).await);
        assert_eq!(v["source"], "export");
        let chunk = v["text"].as_str().unwrap();
        assert!(
            !chunk.ends_with('\n'),
            "cut after a whole line, trailing newlines dropped"
        );
        text.push_str(chunk);
        text.push('\n');
        match v["nextPageToken"].as_str() {
            Some(t) => args = json!({"docId": PLAN, "pageIdOrName": page, "pageToken": t}),
            None => break,
        }
        assert!(calls < 20);
    }
    assert!(calls >= 2, "cut into {calls} results");
    for p in 0..6 {
        for k in 1..50 {
            let item = format!("item {p}-{k}: the quick brown fox jumps over the lazy dog");
            assert_eq!(text.matches(&item).count(), 1, "{item} exactly once");
        }
    }
    c.cancel().await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn a_large_table_resource_says_it_is_cut_and_where_the_rest_is() {
    use rmcp::model::ReadResourceRequestParams;
    let h = Harness::start_with(common::quick_demo(), |c| c.output_budget = 8_000).await;
    let c = connect(&h).await;
    let read = c
        .read_resource(ReadResourceRequestParams::new(format!(
            "coda://docs/{PLAN}/tables/grid-Tasks001"
        )))
        .await
        .unwrap();
    let read = serde_json::to_value(read).unwrap();
    let contents = read["contents"].as_array().unwrap();
    assert_eq!(contents.len(), 2, "CSV plus a note: {read}");
    assert_eq!(contents[0]["mimeType"], "text/csv");
    let csv = contents[0]["text"].as_str().unwrap();
    assert!(csv.len() <= 8_000, "{} characters", csv.len());
    let shown = csv.lines().count() - 1;
    assert!(
        shown > 0 && shown < coda_mcp::demo::TASK_ROWS,
        "{shown} rows"
    );
    assert_eq!(contents[1]["mimeType"], "text/plain");
    let note = contents[1]["text"].as_str().unwrap();
    assert!(
        note.contains(&format!(
            "first {shown} of the table's {} rows",
            coda_mcp::demo::TASK_ROWS
        )) && note.contains("coda_list_rows"),
        "{note}"
    );
    // The token in the note continues exactly after the last CSV row.
    let token = note
        .split("pageToken ")
        .nth(1)
        .unwrap()
        .trim_end_matches(").")
        .to_owned();
    let mut rest = 0;
    let mut args =
        json!({"docId": PLAN, "tableIdOrName": "Tasks", "pageToken": token, "limit": 1000});
    let first = ok(&call(&c, "coda_list_rows", args.clone()).await);
    let first_task = first["items"][0]["values"]["Task"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !csv.contains(&first_task),
        "{first_task} was in the CSV already"
    );
    let mut page = first;
    loop {
        rest += page["count"].as_u64().unwrap() as usize;
        match page["nextPageToken"].as_str() {
            Some(t) => {
                args =
                    json!({"docId": PLAN, "tableIdOrName": "Tasks", "pageToken": t, "limit": 1000});
                page = ok(&call(&c, "coda_list_rows", args.clone()).await);
            }
            None => break,
        }
    }
    assert_eq!(
        shown + rest,
        coda_mcp::demo::TASK_ROWS,
        "no row lost, none twice"
    );
    c.cancel().await.unwrap();
    h.stop().await;
}
