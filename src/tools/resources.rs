//! MCP resources over Coda: `coda://docs/{docId}` (the doc as JSON),
//! `coda://docs/{docId}/pages/{pageId}` (the page's text as markdown) and
//! `coda://docs/{docId}/tables/{tableId}` (the table's rows as CSV).

use percent_encoding::percent_decode_str;
use serde_json::{json, Value};

use super::exec::{list, list_items, path_of, ExecOptions, PageSize, Run, ToolError};
use super::page_text::page_text;
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
        {"uriTemplate": "coda://docs/{docId}/schema", "name": "schema", "title": "Coda doc schema",
            "description": "Every table and view of a doc with its columns: types, formulas, display column, row counts — in one read.",
            "mimeType": "application/json"},
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

/// Rows a table resource holds at most.
const MAX_CSV_ROWS: usize = 10_000;

/// A resource's text and, when it had to be cut, a note saying so and how to get the rest.
#[derive(Debug, Clone)]
pub struct ResourceText {
    /// Its MIME type.
    pub mime: &'static str,
    /// Its text (whole lines or rows only).
    pub text: String,
    /// Why it is incomplete and where the rest is, when it is.
    pub note: Option<String>,
}

impl ResourceText {
    /// The MCP `contents` of a read: the text, plus the note as a second, plain-text part.
    pub fn contents(&self, uri: &str) -> Value {
        let mut contents = vec![json!({"uri": uri, "mimeType": self.mime, "text": self.text})];
        if let Some(note) = &self.note {
            contents.push(json!({"uri": uri, "mimeType": "text/plain", "text": note}));
        }
        json!(contents)
    }
}

/// One CSV line for `row` (without the newline).
fn csv_line(columns: &[String], row: &Value) -> String {
    columns
        .iter()
        .map(|c| csv_field(&cell_text(&row["values"][c])))
        .collect::<Vec<_>>()
        .join(",")
}

/// Columns listed per table at most (Coda's tables rarely have more; the note says when cut).
const MAX_SCHEMA_COLUMNS: usize = 500;

/// Tables described in one schema at most.
const MAX_SCHEMA_TABLES: usize = 200;

/// A doc's schema: every table and view with its columns (type, formula, display), so a model
/// learns the whole doc in one read instead of a `coda_get_table` per table.
async fn schema(run: &mut Run<'_>, doc: &str) -> Result<ResourceText, ToolError> {
    let d = run
        .send(&CodaRequest::get(path_of("uri", ["docs", doc])?))
        .await?;
    let tables = list(
        run,
        CodaRequest::get(path_of("uri", ["docs", doc, "tables"])?),
        MAX_SCHEMA_TABLES,
    )
    .await?;
    let mut missing = Vec::new();
    if let Some(token) = tables["nextPageToken"].as_str() {
        missing.push(format!("only the first {MAX_SCHEMA_TABLES} tables are described; list the rest with coda_list_tables (docId {doc}, pageToken {token})"));
    }
    let mut described = Vec::new();
    for t in tables["items"].as_array().into_iter().flatten() {
        let id = t["id"].as_str().unwrap_or_default();
        let table = run
            .send(&CodaRequest::get(path_of(
                "uri",
                ["docs", doc, "tables", id],
            )?))
            .await?;
        let columns = list(
            run,
            CodaRequest::get(path_of("uri", ["docs", doc, "tables", id, "columns"])?),
            MAX_SCHEMA_COLUMNS,
        )
        .await?;
        if columns["nextPageToken"].is_string() {
            missing.push(format!("table {id} has more than {MAX_SCHEMA_COLUMNS} columns; list them with coda_list_columns"));
        }
        let columns: Vec<Value> = columns["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let mut col = json!({"id": c["id"], "name": c["name"],
                    "type": c["format"]["type"].as_str().unwrap_or("text")});
                for key in ["display", "calculated", "formula", "defaultValue"] {
                    if let Some(v) = c.get(key).filter(|v| !v.is_null() && *v != &json!(false)) {
                        col[key] = v.clone();
                    }
                }
                if let Some(options) = c["format"].get("options").filter(|o| !o.is_null()) {
                    col["options"] = options.clone();
                }
                col
            })
            .collect();
        let mut entry = json!({"id": table["id"], "name": table["name"],
            "tableType": table["tableType"], "rowCount": table["rowCount"], "columns": columns});
        if let Some(parent) = table.get("parentTable").filter(|p| !p.is_null()) {
            entry["viewOf"] = parent["name"].clone();
        }
        described.push(entry);
    }
    let out = json!({"doc": {"id": d["id"], "name": d["name"], "browserLink": d["browserLink"]},
        "tables": described});
    Ok(ResourceText {
        mime: "application/json",
        text: serde_json::to_string_pretty(&out).unwrap_or_default(),
        note: (!missing.is_empty()).then(|| format!("Incomplete: {}.", missing.join("; "))),
    })
}

/// Reads one resource. `Ok(None)` when the URI is not one of ours.
pub async fn read(
    uri: &str,
    client: &CodaClient,
    opts: &ExecOptions,
) -> Result<Option<ResourceText>, ToolError> {
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
                .send(&CodaRequest::get(path_of("uri", ["docs", doc])?))
                .await?;
            let pages = list(
                &mut run,
                CodaRequest::get(path_of("uri", ["docs", doc, "pages"])?),
                500,
            )
            .await?;
            let tables = list(
                &mut run,
                CodaRequest::get(path_of("uri", ["docs", doc, "tables"])?),
                500,
            )
            .await?;
            let mut missing = Vec::new();
            for (what, tool, listing) in [
                ("pages", "coda_list_pages", &pages),
                ("tables", "coda_list_tables", &tables),
            ] {
                if let Some(token) = listing["nextPageToken"].as_str() {
                    missing.push(format!(
                        "only the first {} {what} are listed; list the rest with {tool} (docId {doc}, pageToken {token})",
                        listing["count"]
                    ));
                }
            }
            d["pages"] = pages["items"].clone();
            d["tables"] = tables["items"].clone();
            Ok(Some(ResourceText {
                mime: "application/json",
                text: serde_json::to_string_pretty(&d).unwrap_or_default(),
                note: (!missing.is_empty()).then(|| format!("Incomplete: {}.", missing.join("; "))),
            }))
        }
        [doc, kind] if kind == "schema" && !doc.is_empty() => {
            Ok(Some(schema(&mut run, doc).await?))
        }
        [doc, kind, page] if kind == "pages" => {
            let text = page_text(
                &mut run,
                &path_of("uri", ["docs", doc, "pages", page])?,
                false,
                None,
            )
            .await?;
            let note = text["nextPageToken"].as_str().map(|token| {
                format!(
                    "Incomplete: the page is longer than the {}-character limit, so this is its text up to a line boundary. Read the rest with coda_get_page_content (docId {doc}, pageIdOrName {page}, pageToken {token}).",
                    opts.output_budget
                )
            });
            Ok(Some(ResourceText {
                mime: "text/markdown",
                text: text["text"].as_str().unwrap_or_default().to_owned(),
                note,
            }))
        }
        [doc, kind, table] if kind == "tables" => {
            let (base, meta, names) = super::search::table_columns(&mut run, doc, table).await?;
            let mut csv = names
                .iter()
                .map(|c| csv_field(c))
                .collect::<Vec<_>>()
                .join(",");
            csv.push('\n');
            let budget = run.item_budget().saturating_sub(csv.len());
            let measure = |row: &Value| csv_line(&names, row).len() + 1;
            let rows = list_items(
                &mut run,
                CodaRequest::get(base.child("rows")).query("useColumnNames", "true"),
                MAX_CSV_ROWS,
                PageSize::Limit(usize::MAX),
                budget,
                &measure,
            )
            .await?;
            for row in &rows.items {
                csv.push_str(&csv_line(&names, row));
                csv.push('\n');
            }
            let note = rows.next.as_ref().map(|token| {
                let why = if rows.cut_by_budget {
                    format!("cut to stay under {} characters", opts.output_budget)
                } else {
                    format!("a table resource holds at most {MAX_CSV_ROWS} rows")
                };
                format!(
                    "Incomplete: this CSV holds the first {} of the table's {} rows ({why}). Read the rest with coda_list_rows (docId {doc}, tableIdOrName {table}, pageToken {token}).",
                    rows.items.len(),
                    meta["rowCount"]
                )
            });
            Ok(Some(ResourceText {
                mime: "text/csv",
                text: csv,
                note,
            }))
        }
        _ => Ok(None),
    }
}
