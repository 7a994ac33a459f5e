//! The contract with Coda: every tool (all toolsets) against the demo workspace through a
//! recording proxy, and every request the client sent and every answer the demo gave checked
//! against Coda's published OpenAPI spec (`tests/data/coda-openapi-v1.4.17.yml`, a copy of
//! `shared/coda-api/`) and the newer operations' shapes (`coda-newer-operations.json`).
//!
//! The calls are the scenarios of `all_tools` (each on a fresh demo), then every tool once
//! with ids that do not exist (Coda's 404s and 400s) and once with a token Coda refuses (its
//! 401s), then the demo's deliberate faults (429 with `Retry-After`, 503, a lost write's 500,
//! the 504 of a too-large row page). The test prints a table — operation, requests checked,
//! answers checked, successes, errors, violations — and fails on any violation and on any
//! operation of `operations.tsv` not reached with both a success and an error.
//!
//! Run it alone with `cargo test --test it contract:: -- --nocapture`.

mod proxy;
mod spec;

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use coda_mcp::tools::CATALOGUE;
use serde_json::{json, Map, Value};

use crate::all_tools;
use crate::common::{self, call, connect, Harness};
use proxy::Recorder;
use spec::Spec;

static SPEC: LazyLock<Spec> = LazyLock::new(Spec::load);

/// A harness whose server reaches the demo only through a recording proxy.
async fn recorded(
    log: &Arc<Recorder>,
    demo: coda_mcp::demo::DemoConfig,
    bad_token: bool,
) -> Harness {
    let log = log.clone();
    Harness::start_with(demo, move |c| {
        if bad_token {
            c.coda_token = Some(common::bad_token());
        }
        proxy::attach(c, log);
    })
    .await
}

/// Arguments for `tool` that name things that do not exist: each required argument gets a
/// value its schema accepts (the first of an enum or of a union's branches), ids `NoSuch…`, so
/// that the call reaches Coda and Coda answers for things that are not there.
fn missing_things(tool: &coda_mcp::tools::ToolDef) -> Value {
    let mut args = Map::new();
    for p in tool.params.iter().filter(|p| p.required) {
        let schema: Value = serde_json::from_str(p.schema).unwrap_or(json!({}));
        args.insert(p.name.to_owned(), common::sample(&schema, p.name));
    }
    Value::Object(args)
}

/// Each tool once with `missing_things`: what Coda answers for things that are not there.
async fn every_tool_with_missing_things(h: &Harness) {
    let c = connect(h).await;
    for tool in CATALOGUE {
        // The answer is checked at the proxy; the tool's own result (an error) is expected.
        let _ = call(&c, tool.name, missing_things(tool)).await;
    }
    c.cancel().await.unwrap();
}

/// The demo's deliberate faults, each answered once and then recovered from.
async fn faults(log: &Arc<Recorder>) {
    let demo = coda_mcp::demo::DemoConfig {
        rows_504_above: Some(20),
        ..common::quick_demo()
    };
    let h = recorded(log, demo, false).await;
    let c = connect(&h).await;
    h.demo
        .throttle_next("/docs/AbCDeFGH01/tables", Duration::from_millis(10));
    common::ok(&call(&c, "coda_list_tables", json!({"docId": "AbCDeFGH01"})).await);
    h.demo.fail_next_reads("/docs/AbCDeFGH01/pages", 1);
    common::ok(&call(&c, "coda_list_pages", json!({"docId": "AbCDeFGH01"})).await);
    // A row page larger than the doc can serve: 504, then smaller pages.
    let _ = call(
        &c,
        "coda_list_rows",
        json!({"docId": "AbCDeFGH01", "tableIdOrName": "Tasks", "limit": 50}),
    )
    .await;
    h.demo.fail_next_writes(1);
    let _ = call(
        &c,
        "coda_update_doc",
        json!({"docId": "AbCDeFGH01", "title": "Project Plan"}),
    )
    .await;
    c.cancel().await.unwrap();
    h.stop().await;
}

/// What the checks found for one operation.
#[derive(Default)]
struct Row {
    requests: usize,
    answers: usize,
    successes: usize,
    errors: usize,
    violations: Vec<String>,
}

#[tokio::test]
async fn every_request_and_answer_follows_codas_published_spec() {
    let log = Arc::new(Recorder::default());
    let quick = common::quick_demo;
    macro_rules! scenario {
        ($name:ident) => {{
            let h = recorded(&log, quick(), false).await;
            all_tools::$name(&h).await;
            h.stop().await;
        }};
    }
    scenario!(docs_sharing_and_publishing_on);
    scenario!(pages_content_and_exports_on);
    scenario!(tables_columns_rows_and_buttons_on);
    scenario!(formulas_controls_domains_links_and_automations_on);
    scenario!(analytics_workspaces_go_links_and_folders_on);
    scenario!(chatgpt_search_and_fetch_on);
    scenario!(resources_and_prompts_on);
    scenario!(coda_urls_work_for_ids_in_paths_queries_and_bodies_on);
    {
        let demo = coda_mcp::demo::DemoConfig {
            page_content_endpoint: false,
            ..quick()
        };
        let h = recorded(&log, demo, false).await;
        all_tools::page_text_falls_back_to_an_export_when_list_page_content_is_missing_on(&h).await;
        h.stop().await;
    }
    for bad_token in [false, true] {
        let h = recorded(&log, quick(), bad_token).await;
        every_tool_with_missing_things(&h).await;
        h.stop().await;
    }
    faults(&log).await;

    let spec = &*SPEC;
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    let mut unknown = Vec::new();
    for ex in log.exchanges() {
        let Some(op) = spec.operation(&ex.method, &ex.path) else {
            unknown.push(format!("{} {} → {}", ex.method, ex.path, ex.status));
            continue;
        };
        let row = rows.entry(op.id.clone()).or_default();
        row.requests += 1;
        row.answers += 1;
        if ex.status < 400 {
            row.successes += 1;
        } else {
            row.errors += 1;
        }
        let query: Vec<String> = ex.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let at = format!(
            "{} {}?{} → {}",
            ex.method,
            ex.path,
            query.join("&"),
            ex.status
        );
        for v in spec.check_request(op, &ex) {
            row.violations.push(format!("request {at}: {v}"));
        }
        for v in spec.check_response(op, &ex) {
            row.violations.push(format!("answer {at}: {v}"));
        }
    }

    // Every operation of operations.tsv: reached, with a success and an error.
    let tsv = include_str!("../../data/operations.tsv");
    let expected: Vec<&str> = tsv
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').nth(3).expect("an operationId column"))
        .collect();
    let mut table = format!(
        "{:<32} {:>8} {:>7} {:>7} {:>6} {:>10}\n",
        "operation", "requests", "answers", "2xx/3xx", "errors", "violations"
    );
    let mut failures = Vec::new();
    for op in &expected {
        let row = rows.remove(*op).unwrap_or_default();
        table.push_str(&format!(
            "{:<32} {:>8} {:>7} {:>7} {:>6} {:>10}\n",
            op,
            row.requests,
            row.answers,
            row.successes,
            row.errors,
            row.violations.len()
        ));
        if row.successes == 0 {
            failures.push(format!("{op}: no call reached it with a success"));
        }
        if row.errors == 0 {
            failures.push(format!("{op}: no call reached it with an error answer"));
        }
        // The first few of each kind; the count is in the table.
        failures.extend(
            row.violations
                .into_iter()
                .take(8)
                .map(|v| format!("{op}: {v}")),
        );
    }
    for (op, row) in rows {
        failures.push(format!(
            "{op}: reached {} times but not in operations.tsv",
            row.requests
        ));
    }
    failures.extend(
        unknown
            .into_iter()
            .map(|u| format!("not an operation of the spec: {u}")),
    );
    let requests: usize = log.exchanges().len();
    println!(
        "Coda contract: {requests} exchanges over {} operations, checked against Coda's OpenAPI spec 1.4.17 and the newer operations' shapes\n{table}",
        expected.len()
    );
    assert!(
        failures.is_empty(),
        "{} contract failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_spec_copy_is_codas_published_one() {
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/coda-api/openapi-v1.4.17.yml");
    if let Ok(original) = std::fs::read_to_string(&shared) {
        assert!(
            original == include_str!("../../data/coda-openapi-v1.4.17.yml"),
            "tests/data/coda-openapi-v1.4.17.yml is a copy of shared/coda-api/openapi-v1.4.17.yml"
        );
    }
    // The loader finds every operation of operations.tsv, and the checks can fail.
    let spec = &*SPEC;
    for line in include_str!("../../data/operations.tsv").lines().skip(1) {
        let op = line.split('\t').nth(3).unwrap();
        assert!(
            spec.operation_ids().any(|id| id == op),
            "the spec has no {op}"
        );
    }
    let op = spec
        .operation("GET", "/docs/AbC/tables/t1/columns")
        .unwrap();
    assert_eq!(op.id, "listColumns");
    let ex = spec::Exchange {
        method: "GET".into(),
        path: "/docs/AbC/tables/t1/columns".into(),
        query: vec![
            ("limit".into(), "1000".into()),
            ("bogus".into(), "1".into()),
        ],
        request_type: None,
        request_body: Vec::new(),
        status: 200,
        response_type: Some("application/json".into()),
        response_body: br#"{"items": [{"id": "c-1"}]}"#.to_vec(),
    };
    let request = spec.check_request(op, &ex);
    assert!(
        request.iter().any(|v| v.contains("limit=1000")),
        "{request:?}"
    );
    assert!(request.iter().any(|v| v.contains("bogus")), "{request:?}");
    let answer = spec.check_response(op, &ex);
    assert!(
        answer.iter().any(|v| v.contains("type")),
        "a column lacks its type etc.: {answer:?}"
    );
    let teapot = spec::Exchange {
        status: 418,
        ..ex.clone()
    };
    assert!(spec.check_response(op, &teapot)[0].contains("not declared"));
    // Formats and discriminated unions are checked: a date-time where the spec says date, a
    // user typed as an email principal.
    let members = spec.operation("GET", "/workspaces/ws-1/users").unwrap();
    let member = |last: &str| spec::Exchange {
        path: "/workspaces/ws-1/users".into(),
        query: Vec::new(),
        response_body: serde_json::to_vec(
            &json!({"items": [{"email": "a@example.com", "name": "A",
            "role": "Admin", "registeredAt": "2025-06-01T08:00:00.000Z", "lastActiveAt": last}]}),
        )
        .unwrap(),
        ..ex.clone()
    };
    assert_eq!(
        spec.check_response(members, &member("2026-02-27")),
        Vec::<String>::new()
    );
    let wrong = spec.check_response(members, &member("2026-02-27T10:00:00.000Z"));
    assert!(
        wrong
            .iter()
            .any(|v| v.contains("lastActiveAt") && v.contains("date")),
        "{wrong:?}"
    );
    let search = spec
        .operation("GET", "/docs/AbC/acl/principals/search")
        .unwrap();
    let principals = |user: Value| spec::Exchange {
        response_body: serde_json::to_vec(&json!({"users": [user], "groups": []})).unwrap(),
        ..ex.clone()
    };
    assert!(spec
        .check_response(
            search,
            &principals(json!({"type": "user", "loginId": "a@example.com", "name": "A"}))
        )
        .is_empty());
    assert!(!spec
        .check_response(
            search,
            &principals(json!({"type": "email", "email": "a@example.com", "name": "A"}))
        )
        .is_empty());
    assert_eq!(
        spec.operation("GET", "/analytics/docs/summary").unwrap().id,
        "listDocAnalyticsSummary"
    );
    assert_eq!(
        spec.operation("DELETE", "/docs/AbC/pages/p1/content")
            .unwrap()
            .id,
        "deletePageContent"
    );
    assert_eq!(
        spec.operation("GET", "/docs/AbC/domains").unwrap().id,
        "listCustomDocDomains"
    );
}
