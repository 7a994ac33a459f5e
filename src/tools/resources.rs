//! MCP resources over Coda: `coda://docs/{docId}` (the doc as JSON),
//! `coda://docs/{docId}/pages/{pageId}` (the page's text as markdown) and
//! `coda://docs/{docId}/tables/{tableId}` (the table's rows as CSV).

use percent_encoding::{percent_decode_str, utf8_percent_encode};
use serde_json::{json, Value};

use super::composite::{page_text, table_text};
use super::exec::{list, ExecOptions, Run, ToolError, SEGMENT};
use crate::coda::{CodaClient, CodaRequest, RateClass};

/// The resource templates the server offers, as MCP `resourceTemplates` entries.
pub fn templates() -> Value {
    json!([
        {"uriTemplate": "coda://docs/{docId}", "name": "doc", "title": "Coda doc",
            "description": "A doc's metadata with its pages and tables.", "mimeType": "application/json"},
        {"uriTemplate": "coda://docs/{docId}/pages/{pageId}", "name": "page", "title": "Coda page text",
            "description": "A page's text as markdown.", "mimeType": "text/markdown"},
        {"uriTemplate": "coda://docs/{docId}/tables/{tableId}", "name": "table", "title": "Coda table as CSV",
            "description": "A table's rows as CSV (first row: column names).", "mimeType": "text/csv"},
    ])
}

/// The docs the token can see, as concrete resources.
pub async fn list_docs(client: &CodaClient, opts: &ExecOptions) -> Result<Value, ToolError> {
    let mut run = Run::new(client, opts);
    let docs = list(
        &mut run,
        CodaRequest {
            class: RateClass::ListDocs,
            ..CodaRequest::get("/docs")
        },
        100,
    )
    .await?;
    let resources: Vec<Value> = docs["items"].as_array().into_iter().flatten().map(|d| json!({
        "uri": format!("coda://docs/{}", d["id"].as_str().unwrap_or_default()),
        "name": d["name"], "title": d["name"], "mimeType": "application/json",
        "description": format!("Coda doc owned by {}", d["ownerName"].as_str().unwrap_or("someone")),
    })).collect();
    Ok(json!(resources))
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn cell_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Array(items) => items.iter().map(cell_text).collect::<Vec<_>>().join(", "),
        Value::Object(o) => o
            .get("name")
            .map(cell_text)
            .unwrap_or_else(|| v.to_string()),
        other => other.to_string(),
    }
}

/// Reads one resource: `(mimeType, text)`. `Ok(None)` when the URI is not one of ours.
pub async fn read(
    uri: &str,
    client: &CodaClient,
    opts: &ExecOptions,
) -> Result<Option<(&'static str, String)>, ToolError> {
    let Some(rest) = uri.strip_prefix("coda://docs/") else {
        return Ok(None);
    };
    let parts: Vec<String> = rest
        .split('/')
        .map(|p| percent_decode_str(p).decode_utf8_lossy().into_owned())
        .collect();
    let mut run = Run::new(client, opts);
    match parts.as_slice() {
        [doc] if !doc.is_empty() => {
            let mut d = run
                .send(&CodaRequest::get(format!("/docs/{}", enc(doc))))
                .await?;
            let pages = list(
                &mut run,
                CodaRequest::get(format!("/docs/{}/pages", enc(doc))),
                500,
            )
            .await?;
            let tables = list(
                &mut run,
                CodaRequest::get(format!("/docs/{}/tables", enc(doc))),
                500,
            )
            .await?;
            d["pages"] = pages["items"].clone();
            d["tables"] = tables["items"].clone();
            Ok(Some((
                "application/json",
                serde_json::to_string_pretty(&d).unwrap_or_default(),
            )))
        }
        [doc, kind, page] if kind == "pages" => {
            let text = page_text(
                &mut run,
                &format!("/docs/{}/pages/{}", enc(doc), enc(page)),
                false,
            )
            .await?;
            Ok(Some((
                "text/markdown",
                text["text"].as_str().unwrap_or_default().to_owned(),
            )))
        }
        [doc, kind, table] if kind == "tables" => {
            let (_, columns, rows) = table_text(&mut run, doc, table, 10_000).await?;
            let mut csv = columns
                .iter()
                .map(|c| csv_field(c))
                .collect::<Vec<_>>()
                .join(",");
            csv.push('\n');
            for row in rows {
                let line: Vec<String> = columns
                    .iter()
                    .map(|c| csv_field(&cell_text(&row["values"][c])))
                    .collect();
                csv.push_str(&line.join(","));
                csv.push('\n');
            }
            Ok(Some(("text/csv", csv)))
        }
        _ => Ok(None),
    }
}
