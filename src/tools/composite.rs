//! The few tools that are more than one Coda request: batched upserts, page text, link
//! resolution, and ChatGPT's search and fetch. Small functions over the same client.

use std::time::Duration;

use percent_encoding::utf8_percent_encode;
use serde_json::{json, Map, Value};

use super::exec::{finish_write, list, Run, ToolError, SEGMENT};
use super::links;
use crate::coda::{CodaError, CodaRequest, RateClass};

/// Coda's per-request limit (2 MB), less room for the envelope.
const MAX_BATCH_BYTES: usize = 1_900_000;
/// Coda's per-row limit (85 KB).
const MAX_ROW_BYTES: usize = 85 * 1024;
/// Rows per batch, whatever their size.
const MAX_BATCH_ROWS: usize = 500;

fn enc(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

// ------------------------------------------------------------------ bulk rows

/// Sends `rows` in batches within Coda's size limits (the pacer keeps them within the write
/// rate), waits for each and reports per-batch outcomes. Oversized rows are not sent.
pub(super) async fn upsert_rows(
    run: &mut Run<'_>,
    req: CodaRequest,
    wait: bool,
) -> Result<Value, ToolError> {
    let body = req.body.clone().unwrap_or_default();
    let rows = body["rows"].as_array().cloned().unwrap_or_default();
    let key_columns = body.get("keyColumns").cloned();
    let mut rejected = Vec::new();
    let mut batches: Vec<Vec<(usize, Value)>> = vec![Vec::new()];
    let mut batch_bytes = 0usize;
    for (i, row) in rows.into_iter().enumerate() {
        let size = serde_json::to_vec(&row).map(|b| b.len()).unwrap_or(0);
        if size > MAX_ROW_BYTES {
            rejected.push(json!({"row": i, "error": format!(
                "row {i} is {} KB, over Coda's 85 KB row limit; shorten its values or split them", size / 1024)}));
            continue;
        }
        let current = batches.last_mut().expect("one batch");
        if !current.is_empty()
            && (batch_bytes + size > MAX_BATCH_BYTES || current.len() >= MAX_BATCH_ROWS)
        {
            batches.push(Vec::new());
            batch_bytes = 0;
        }
        batches.last_mut().expect("one batch").push((i, row));
        batch_bytes += size + 1;
    }
    batches.retain(|b| !b.is_empty());
    let mut outcomes = Vec::new();
    let mut added = Vec::new();
    let mut failures = 0usize;
    let mut first_error: Option<ToolError> = None;
    let total = batches.len();
    for (n, batch) in batches.into_iter().enumerate() {
        let first = batch.first().map(|(i, _)| *i).unwrap_or(0);
        let last = batch.last().map(|(i, _)| *i).unwrap_or(0);
        let mut body = json!({"rows": batch.into_iter().map(|(_, r)| r).collect::<Vec<_>>()});
        if let Some(keys) = &key_columns {
            body["keyColumns"] = keys.clone();
        }
        let mut batch_req = req.clone();
        batch_req.body = Some(body);
        let outcome = match run.send(&batch_req).await {
            Ok(accepted) => finish_write(run, accepted, wait).await,
            Err(e) => Err(e.into()),
        };
        match outcome {
            Ok(result) => {
                if let Some(ids) = result["addedRowIds"].as_array() {
                    added.extend(ids.iter().cloned());
                }
                outcomes.push(
                    json!({"batch": n + 1, "rows": [first, last], "requestId": result["requestId"],
                    "completed": result["completed"], "addedRowIds": result["addedRowIds"]}),
                );
            }
            Err(e) => {
                failures += 1;
                outcomes
                    .push(json!({"batch": n + 1, "rows": [first, last], "error": e.to_string()}));
                let fatal =
                    matches!(&e, ToolError::Coda(c) if matches!(c.status(), Some(401 | 403)));
                first_error.get_or_insert(e);
                if fatal {
                    break;
                }
            }
        }
    }
    if failures == total && rejected.is_empty() {
        return Err(first_error.unwrap_or_else(|| ToolError::Unsupported("no rows to send".into())));
    }
    let completed = failures == 0
        && rejected.is_empty()
        && outcomes.iter().all(|o| o["completed"] == json!(true));
    let mut out = json!({"completed": completed, "batches": outcomes, "addedRowIds": added});
    if total == 1 && failures == 0 {
        out["requestId"] = out["batches"][0]["requestId"].clone();
    }
    if !rejected.is_empty() {
        out["rejectedRows"] = json!(rejected);
    }
    if failures > 0 || !rejected.is_empty() {
        out["status"] = json!(format!(
            "partial: {failures} of {total} batch(es) failed, {} row(s) rejected; see batches",
            rejected.len()
        ));
    }
    Ok(out)
}

// ------------------------------------------------------------------ page text

fn render_line(style: &str, text: &str, plain: bool, numbered: &mut usize) -> String {
    if plain {
        return text.to_owned();
    }
    if style != "numberedList" {
        *numbered = 0;
    }
    match style {
        "h1" | "title" => format!("# {text}"),
        "h2" => format!("## {text}"),
        "h3" => format!("### {text}"),
        "bulletedList" => format!("- {text}"),
        "checkboxList" => format!("- [ ] {text}"),
        "numberedList" => {
            *numbered += 1;
            format!("{numbered}. {text}")
        }
        "blockQuote" | "pullQuote" => format!("> {text}"),
        "code" => format!("    {text}"),
        _ => text.to_owned(),
    }
}

/// A page's text: `listPageContent` page by page, or an export when that endpoint is not
/// available. The page itself is looked up first so a wrong ID gets a clear 404.
pub(super) async fn page_text(
    run: &mut Run<'_>,
    page_path: &str,
    plain: bool,
) -> Result<Value, ToolError> {
    let page = run.send(&CodaRequest::get(page_path)).await?;
    let content_req =
        CodaRequest::get(format!("{page_path}/content")).query("contentFormat", "plainText");
    let (text, source) = match list(run, content_req, 100_000).await {
        Ok(lines) => {
            let mut numbered = 0;
            let rendered: Vec<String> = lines["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|item| {
                    let content = &item["itemContent"];
                    render_line(
                        content["style"].as_str().unwrap_or("paragraph"),
                        content["content"].as_str().unwrap_or(""),
                        plain,
                        &mut numbered,
                    )
                })
                .collect();
            (rendered.join("\n"), "listPageContent")
        }
        Err(ToolError::Coda(CodaError::Api {
            status: 404 | 405 | 400,
            ..
        })) => (export_page(run, page_path).await?, "export"),
        Err(e) => return Err(e),
    };
    let budget = run.opts.output_budget.saturating_sub(2_000);
    let mut out = json!({"pageId": page["id"], "name": page["name"], "format": if plain { "plainText" } else { "markdown" },
        "source": source, "url": page["browserLink"]});
    if text.len() > budget {
        let mut cut = budget;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let cut = text[..cut].rfind('\n').unwrap_or(cut);
        out["text"] = json!(&text[..cut]);
        out["truncated"] = json!("The page is longer than the output limit; the rest is available through coda_list_page_content.");
    } else {
        out["text"] = json!(text);
    }
    Ok(out)
}

/// Exports a page as markdown: begin, poll until a download link (an early 404 is normal),
/// download from Coda's own hosts only.
async fn export_page(run: &mut Run<'_>, page_path: &str) -> Result<String, ToolError> {
    let begin = CodaRequest {
        method: reqwest::Method::POST,
        path: format!("{page_path}/export"),
        query: vec![],
        body: Some(json!({"outputFormat": "markdown"})),
        class: RateClass::DocContentWrite,
        halve_on_504: false,
    };
    let started = run.send(&begin).await?;
    let id = started["id"]
        .as_str()
        .ok_or_else(|| CodaError::BadResponse("export started without an id".into()))?;
    let status_path = format!("{page_path}/export/{}", enc(id));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut delay = Duration::from_millis(200);
    loop {
        tokio::time::sleep(delay).await;
        match run.send(&CodaRequest::get(status_path.clone())).await {
            Ok(status) => {
                if let Some(link) = status["downloadLink"].as_str() {
                    return Ok(run.client.download(link).await?);
                }
                if status["status"] == "failed" {
                    let why = status["error"]
                        .as_str()
                        .unwrap_or("unknown error")
                        .to_owned();
                    return Err(ToolError::Unsupported(format!(
                        "Coda could not export the page: {why}"
                    )));
                }
            }
            Err(CodaError::Api { status: 404, .. }) => {}
            Err(e) => return Err(e.into()),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ToolError::Unsupported(
                "the page export did not finish within 30 s; try again later".into(),
            ));
        }
        delay = (delay * 3 / 2).min(Duration::from_secs(2));
    }
}

// ------------------------------------------------------------------ links

/// The IDs in a Coda URL: parsed locally, else asked of `resolveBrowserLink`.
pub(super) async fn resolve_link(run: &mut Run<'_>, url: &str) -> Result<Value, ToolError> {
    if let Some(link) = links::parse(url) {
        let mut out = serde_json::to_value(&link).expect("serializable");
        out["source"] = json!("url");
        return Ok(out);
    }
    let resolved = run
        .send(&CodaRequest::get("/resolveBrowserLink").query("url", url))
        .await?;
    let resource = &resolved["resource"];
    let href = resource["href"].as_str().unwrap_or("");
    let mut out = json!({"source": "resolveBrowserLink", "resource": resource});
    // href: …/docs/{docId}[/pages/{id}|/tables/{id}[/rows/{id}]]
    let parts: Vec<&str> = href.split('/').collect();
    for (key, marker) in [
        ("docId", "docs"),
        ("pageId", "pages"),
        ("tableId", "tables"),
        ("rowId", "rows"),
    ] {
        if let Some(i) = parts.iter().position(|p| *p == marker) {
            if let Some(id) = parts.get(i + 1) {
                out[key] = json!(percent_encoding::percent_decode_str(id).decode_utf8_lossy());
            }
        }
    }
    if out.get("docId").is_none() {
        return Err(ToolError::Unsupported(format!(
            "'{url}' does not point into a Coda doc"
        )));
    }
    Ok(out)
}

// ------------------------------------------------------------------ search and fetch

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
            CodaRequest::get(format!("/docs/{}/pages", enc(&doc_id))),
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
            CodaRequest::get(format!("/docs/{}/tables", enc(&doc_id))),
            100,
        )
        .await?;
        for table in tables["items"].as_array().into_iter().flatten() {
            let table_id = table["id"].as_str().unwrap_or_default().to_owned();
            let table_name = table["name"].as_str().unwrap_or_default().to_owned();
            if matches(&table_name) {
                results.push(json!({"id": format!("table:{doc_id}:{table_id}"), "title": format!("{doc_name} › {table_name}"), "url": table["browserLink"]}));
            }
            let rows_req = CodaRequest::get(format!(
                "/docs/{}/tables/{}/rows",
                enc(&doc_id),
                enc(&table_id)
            ))
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

/// A table as `(title, text, url, metadata)`: columns plus up to `max_rows` rows.
pub(super) async fn table_text(
    run: &mut Run<'_>,
    doc_id: &str,
    table_id: &str,
    max_rows: usize,
) -> Result<(Value, Vec<String>, Vec<Value>), ToolError> {
    let base = format!("/docs/{}/tables/{}", enc(doc_id), enc(table_id));
    let table = run.send(&CodaRequest::get(base.clone())).await?;
    let columns = list(run, CodaRequest::get(format!("{base}/columns")), 1000).await?;
    let names: Vec<String> = columns["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_owned))
        .collect();
    let rows = list(
        run,
        CodaRequest::get(format!("{base}/rows")).query("useColumnNames", "true"),
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
                .send(&CodaRequest::get(format!("/docs/{}", enc(&d))))
                .await?;
            let pages = list(
                run,
                CodaRequest::get(format!("/docs/{}/pages", enc(&d))),
                200,
            )
            .await?;
            let tables = list(
                run,
                CodaRequest::get(format!("/docs/{}/tables", enc(&d))),
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
                page_text(run, &format!("/docs/{}/pages/{}", enc(&d), enc(&p)), false).await?;
            meta.insert("type".into(), json!("page"));
            meta.insert("docId".into(), json!(d));
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
                    &CodaRequest::get(format!(
                        "/docs/{}/tables/{}/rows/{}",
                        enc(&d),
                        enc(&t),
                        enc(&r)
                    ))
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
