//! ChatGPT's `search` and `fetch`: doc, page and table names and row values that contain
//! the query, and any of them read back whole by its id.

use serde_json::{json, Map, Value};

use super::exec::{list, path_of, Run, ToolError};
use super::links;
use super::page_text::page_text;
use crate::coda::{CodaPath, CodaRequest, RateClass};

/// Docs searched per call, tables per doc and rows per table: bounds that keep one search
/// within a few seconds of Coda's read rate.
const SEARCH_DOCS: usize = 20;
const SEARCH_ROWS: usize = 200;
const SEARCH_RESULTS: usize = 20;

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Array(items) => items.iter().map(value_text).collect::<Vec<_>>().join(", "),
        Value::Object(o) => o
            .get("name")
            .or_else(|| o.get("amount"))
            .map(value_text)
            .unwrap_or_default(),
        other => other.to_string(),
    }
}

/// ChatGPT's `search`: doc, page and table names and row values containing the query.
pub(super) async fn search(run: &mut Run<'_>, query: &str) -> Result<Value, ToolError> {
    let needle = query.trim().to_lowercase();
    let words: Vec<&str> = needle.split_whitespace().collect();
    let matches = |text: &str| {
        let hay = text.to_lowercase();
        !words.is_empty() && words.iter().all(|w| hay.contains(w))
    };
    let mut results: Vec<Value> = Vec::new();
    let docs = list(
        run,
        CodaRequest {
            class: RateClass::ListDocs,
            ..CodaRequest::get("/docs")
        },
        SEARCH_DOCS,
    )
    .await?;
    for doc in docs["items"].as_array().into_iter().flatten() {
        let doc_id = doc["id"].as_str().unwrap_or_default().to_owned();
        let doc_name = doc["name"].as_str().unwrap_or_default().to_owned();
        if matches(&doc_name) {
            results.push(json!({"id": format!("doc:{doc_id}"), "title": doc_name, "url": doc["browserLink"]}));
        }
        let pages = list(
            run,
            CodaRequest::get(path_of("docId", ["docs", &doc_id, "pages"])?),
            200,
        )
        .await?;
        for page in pages["items"].as_array().into_iter().flatten() {
            if matches(page["name"].as_str().unwrap_or_default()) {
                results.push(json!({"id": format!("page:{doc_id}:{}", page["id"].as_str().unwrap_or_default()),
                    "title": format!("{} › {}", doc_name, page["name"].as_str().unwrap_or_default()), "url": page["browserLink"]}));
            }
        }
        let tables = list(
            run,
            CodaRequest::get(path_of("docId", ["docs", &doc_id, "tables"])?),
            100,
        )
        .await?;
        for table in tables["items"].as_array().into_iter().flatten() {
            let table_id = table["id"].as_str().unwrap_or_default().to_owned();
            let table_name = table["name"].as_str().unwrap_or_default().to_owned();
            if matches(&table_name) {
                results.push(json!({"id": format!("table:{doc_id}:{table_id}"), "title": format!("{doc_name} › {table_name}"), "url": table["browserLink"]}));
            }
            let rows_req = CodaRequest::get(path_of(
                "tableId",
                ["docs", &doc_id, "tables", &table_id, "rows"],
            )?)
            .query("useColumnNames", "true");
            let rows = list(run, rows_req, SEARCH_ROWS).await?;
            for row in rows["items"].as_array().into_iter().flatten() {
                let text: Vec<String> = row["values"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(_, v)| value_text(v))
                    .collect();
                if matches(&text.join(" ")) || matches(row["name"].as_str().unwrap_or_default()) {
                    results.push(json!({"id": format!("row:{doc_id}:{table_id}:{}", row["id"].as_str().unwrap_or_default()),
                        "title": format!("{table_name}: {}", row["name"].as_str().unwrap_or_default()), "url": row["browserLink"]}));
                }
                if results.len() >= SEARCH_RESULTS {
                    break;
                }
            }
            if results.len() >= SEARCH_RESULTS {
                break;
            }
        }
        if results.len() >= SEARCH_RESULTS {
            break;
        }
    }
    results.truncate(SEARCH_RESULTS);
    Ok(json!({"results": results}))
}

/// What a fetch id names.
enum Target {
    Doc(String),
    Page(String, String),
    Table(String, String),
    Row(String, String, String),
}

fn parse_target(id: &str) -> Option<Target> {
    if links::is_url(id) {
        let l = links::parse(id)?;
        return Some(match (l.page_id, l.table_id, l.row_id) {
            (_, Some(t), Some(r)) => Target::Row(l.doc_id, t, r),
            (_, Some(t), None) => Target::Table(l.doc_id, t),
            (Some(p), None, _) => Target::Page(l.doc_id, p),
            _ => Target::Doc(l.doc_id),
        });
    }
    let parts: Vec<&str> = id.split(':').collect();
    Some(match parts.as_slice() {
        ["doc", d] => Target::Doc(d.to_string()),
        ["page", d, p] => Target::Page(d.to_string(), p.to_string()),
        ["table", d, t] => Target::Table(d.to_string(), t.to_string()),
        ["row", d, t, r] => Target::Row(d.to_string(), t.to_string(), r.to_string()),
        [d] if !d.is_empty() => Target::Doc(d.to_string()),
        _ => return None,
    })
}

/// Renders rows as a markdown table.
fn rows_markdown(columns: &[String], rows: &[Value]) -> String {
    let esc = |s: String| s.replace('|', "\\|").replace('\n', " ");
    let mut out = format!(
        "| {} |\n|{}\n",
        columns.join(" | "),
        " --- |".repeat(columns.len())
    );
    for row in rows {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| esc(value_text(&row["values"][c])))
            .collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

/// A table's API path, its metadata and its column names in order: what every rendering
/// of a table (fetch's text, the CSV resource) starts from.
pub(super) async fn table_columns(
    run: &mut Run<'_>,
    doc_id: &str,
    table_id: &str,
) -> Result<(CodaPath, Value, Vec<String>), ToolError> {
    let base = path_of("tableId", ["docs", doc_id, "tables", table_id])?;
    let table = run.send(&CodaRequest::get(base.clone())).await?;
    let columns = list(run, CodaRequest::get(base.child("columns")), 1000).await?;
    let names: Vec<String> = columns["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_owned))
        .collect();
    Ok((base, table, names))
}

/// A table as `(metadata, column names, rows)`: up to `max_rows` rows, by column name.
pub(super) async fn table_text(
    run: &mut Run<'_>,
    doc_id: &str,
    table_id: &str,
    max_rows: usize,
) -> Result<(Value, Vec<String>, Vec<Value>), ToolError> {
    let (base, table, names) = table_columns(run, doc_id, table_id).await?;
    let rows = list(
        run,
        CodaRequest::get(base.child("rows")).query("useColumnNames", "true"),
        max_rows,
    )
    .await?;
    Ok((
        table,
        names,
        rows["items"].as_array().cloned().unwrap_or_default(),
    ))
}

/// ChatGPT's `fetch`: a doc, page, table or row as readable text.
pub(super) async fn fetch(run: &mut Run<'_>, id: &str) -> Result<Value, ToolError> {
    let target = parse_target(id.trim()).ok_or_else(|| {
        ToolError::InvalidArguments(format!(
            "'{id}' is not an id from search (doc:…, page:…, table:…, row:…) nor a Coda URL"
        ))
    })?;
    let mut meta = Map::new();
    let (title, text, url) = match target {
        Target::Doc(d) => {
            let doc = run
                .send(&CodaRequest::get(path_of("id", ["docs", &d])?))
                .await?;
            let pages = list(
                run,
                CodaRequest::get(path_of("id", ["docs", &d, "pages"])?),
                200,
            )
            .await?;
            let tables = list(
                run,
                CodaRequest::get(path_of("id", ["docs", &d, "tables"])?),
                200,
            )
            .await?;
            let mut text = format!(
                "# {}\n\nOwner: {}\n\n## Pages\n",
                doc["name"].as_str().unwrap_or(""),
                doc["ownerName"].as_str().unwrap_or("")
            );
            for p in pages["items"].as_array().into_iter().flatten() {
                text.push_str(&format!(
                    "- {} (page:{d}:{})\n",
                    p["name"].as_str().unwrap_or(""),
                    p["id"].as_str().unwrap_or("")
                ));
            }
            text.push_str("\n## Tables\n");
            for t in tables["items"].as_array().into_iter().flatten() {
                text.push_str(&format!(
                    "- {} (table:{d}:{})\n",
                    t["name"].as_str().unwrap_or(""),
                    t["id"].as_str().unwrap_or("")
                ));
            }
            meta.insert("type".into(), json!("doc"));
            meta.insert("updatedAt".into(), doc["updatedAt"].clone());
            (doc["name"].clone(), text, doc["browserLink"].clone())
        }
        Target::Page(d, p) => {
            let page =
                page_text(run, &path_of("id", ["docs", &d, "pages", &p])?, false, None).await?;
            meta.insert("type".into(), json!("page"));
            meta.insert("docId".into(), json!(d));
            if let Some(next) = page.get("nextPageToken") {
                meta.insert("truncated".into(), json!(format!(
                    "The page is longer than fits here; read the rest with coda_get_page_content (docId {d}, pageIdOrName {p}, format markdown) and pageToken {}", next.as_str().unwrap_or_default())));
            }
            (
                page["name"].clone(),
                page["text"].as_str().unwrap_or("").to_owned(),
                page["url"].clone(),
            )
        }
        Target::Table(d, t) => {
            let (table, columns, rows) = table_text(run, &d, &t, 200).await?;
            meta.insert("type".into(), json!("table"));
            meta.insert("rowCount".into(), table["rowCount"].clone());
            meta.insert("rowsShown".into(), json!(rows.len()));
            meta.insert("columns".into(), json!(columns));
            (
                table["name"].clone(),
                rows_markdown(&columns, &rows),
                table["browserLink"].clone(),
            )
        }
        Target::Row(d, t, r) => {
            let row = run
                .send(
                    &CodaRequest::get(path_of("id", ["docs", &d, "tables", &t, "rows", &r])?)
                        .query("useColumnNames", "true"),
                )
                .await?;
            let text: Vec<String> = row["values"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}: {}", value_text(v)))
                .collect();
            meta.insert("type".into(), json!("row"));
            meta.insert("table".into(), row["parent"]["name"].clone());
            (
                row["name"].clone(),
                text.join("\n"),
                row["browserLink"].clone(),
            )
        }
    };
    Ok(json!({"id": id, "title": title, "text": text, "url": url, "metadata": meta}))
}
