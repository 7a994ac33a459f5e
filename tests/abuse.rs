//! Strangers on the public URL: each attack from the adversarial review (issue 12's table),
//! reproduced against the server and checked for the outcome we promise — memory and
//! connections bounded, the owner still served, Coda never sent a path that means something
//! else, files private, local pages and impostor servers kept out. Bounded in time and
//! traffic, loopback only.

mod common;
mod upstream;

use std::time::Duration;

use coda_mcp::coda::{CodaClient, RateLimits, RetryPolicy};
use coda_mcp::tools::{ExecOptions, Loc, CATALOGUE};
use common::quick_demo;
use serde_json::{json, Map, Value};

/// A small value that `schema` accepts (what a tool's other arguments are set to while one
/// of them is under test).
fn sample(schema: &Value) -> Value {
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    if let Some(first) = schema["anyOf"]
        .as_array()
        .or(schema["oneOf"].as_array())
        .and_then(|a| a.first())
    {
        return sample(first);
    }
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds[0].as_str().unwrap_or("string").to_owned(),
        Value::String(kind) => kind.clone(),
        _ => "string".to_owned(),
    };
    match kind.as_str() {
        "object" => {
            let mut out = Map::new();
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap();
                out.insert(name.to_owned(), sample(&schema["properties"][name]));
            }
            Value::Object(out)
        }
        "array" => {
            let n = schema["minItems"].as_u64().unwrap_or(1).max(1) as usize;
            Value::Array(vec![sample(&schema["items"]); n])
        }
        "integer" | "number" => json!(schema["minimum"].as_f64().unwrap_or(1.0).max(1.0) as i64),
        "boolean" => json!(false),
        _ => json!("sample-id"),
    }
}

/// Row 4: `coda_delete_page {pageIdOrName: ".."}` reached `DELETE /docs/DOC1/` (the shape of
/// "delete doc"). Every path argument of every tool, given `.`, `..` or nothing, is now
/// refused with an error naming it — and Coda receives no request with a dot or empty
/// segment, from any tool.
#[tokio::test]
async fn dot_segments_never_reach_coda() {
    let demo = coda_mcp::demo::start(quick_demo(), 0).await.unwrap();
    let up = upstream::start().await;
    let mut config = coda_mcp::EngineConfig {
        coda_base_url: demo.base_url.clone(),
        coda_token: Some(demo.token().clone()),
        ..Default::default()
    };
    up.attach(&mut config);
    let client = CodaClient::new(
        &config.coda_base_url,
        config.coda_token.clone(),
        RateLimits::CODA.scaled(1_000),
        RetryPolicy {
            base_backoff: Duration::from_millis(5),
            ..RetryPolicy::default()
        },
    )
    .unwrap();
    let opts = ExecOptions {
        wait_timeout: Duration::from_millis(200),
        ..ExecOptions::default()
    };
    let mut tried = 0;
    for tool in CATALOGUE {
        let schema = tool.input_schema();
        let path_params: Vec<&str> = tool
            .params
            .iter()
            .filter(|p| p.loc == Loc::Path)
            .map(|p| p.name)
            .collect();
        for target in &path_params {
            for bad in [".", "..", ""] {
                let mut args = sample(&schema);
                for p in &path_params {
                    args[*p] = json!("sample-id");
                }
                args[*target] = json!(bad);
                let before = up.requests().len();
                let outcome =
                    coda_mcp::tools::run(tool, &schema, args.clone(), &client, &opts).await;
                let err = match outcome {
                    Err(e) => e.to_string(),
                    Ok(v) => panic!("{} accepted {target}={bad:?}: {v:?}", tool.name),
                };
                assert!(
                    err.contains(&format!("'{target}'")),
                    "{} {target}={bad:?}: the error names the argument: {err}",
                    tool.name
                );
                assert_eq!(
                    up.requests().len(),
                    before,
                    "{} {target}={bad:?} sent Coda a request",
                    tool.name
                );
                tried += 1;
            }
        }
    }
    assert!(tried > 150, "only {tried} cases");
    // And nothing any tool sent had a dot or empty segment.
    for (method, path) in up.requests() {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        assert!(
            !segments.iter().any(|s| matches!(*s, "" | "." | "..")),
            "{method} {path}"
        );
    }
    demo.shutdown();
}
