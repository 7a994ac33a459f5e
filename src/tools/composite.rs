//! The few tools that are more than one Coda request: batched upserts, page text, link
//! resolution, and ChatGPT's search and fetch. Small functions over the same client.

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::exec::{
    finish_write, hex_json, list, list_items, path_of, unhex_json, Check, Poller, Run, ToolError,
};
use super::links;
use crate::coda::{CodaError, CodaPath, CodaRequest, RateClass};

/// Coda's per-request limit (2 MB), less room for the envelope.
const MAX_BATCH_BYTES: usize = 1_900_000;
/// Coda's per-row limit (85 KB).
const MAX_ROW_BYTES: usize = 85 * 1024;
/// Rows per batch, whatever their size.
const MAX_BATCH_ROWS: usize = 500;

// ------------------------------------------------------------------ bulk rows

/// Sends `rows` in batches within Coda's size limits (the pacer keeps them within the write
/// rate), waits for each and reports per-batch outcomes. Oversized rows are not sent.
/// Coda names the rows a plain insert adds (`addedRowIds`) but not those an upsert
/// (`keyColumns`) adds or updates: for an upsert the table's row count before and after is
/// reported instead, and the result says so.
pub(super) async fn upsert_rows(
    run: &mut Run<'_>,
    req: CodaRequest,
    wait: bool,
) -> Result<Value, ToolError> {
    let body = req.body.clone().unwrap_or_default();
    let rows = body["rows"].as_array().cloned().unwrap_or_default();
    let sent_rows = rows.len();
    let key_columns = body
        .get("keyColumns")
        .filter(|k| k.as_array().is_some_and(|k| !k.is_empty()))
        .cloned();
    let mut rejected = Vec::new();
    let mut batches: Vec<Vec<(usize, Value)>> = vec![Vec::new()];
    let mut batch_bytes = 0usize;
    for (i, row) in rows.into_iter().enumerate() {
        let size = serde_json::to_vec(&row).map(|b| b.len()).unwrap_or(0);
        if size > MAX_ROW_BYTES {
            rejected.push(json!({"row": i, "error": format!(
                "row {i} is {} KB, over Coda's 85 KB row limit; it was not sent — shorten its values or split them", size / 1024)}));
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
    let table_path = req.path.strip_last("rows").unwrap_or_default();
    let count_before = match (&key_columns, wait) {
        (Some(_), true) if !batches.is_empty() => row_count(run, &table_path).await,
        _ => None,
    };
    let mut outcomes = Vec::new();
    let mut not_sent = Vec::new();
    let mut added: Option<Vec<Value>> = None;
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
        if run.opts.past_deadline() {
            // The caller must answer now: what was sent is reported, the rest is not sent.
            not_sent.push(json!({"batch": n + 1, "rows": [first, last], "sent": false,
                "status": "not sent: the call ran out of time before this batch; send these rows again"}));
            continue;
        }
        let mut batch_req = req.clone();
        batch_req.body = Some(body);
        let outcome = match run.send_full(&batch_req).await {
            Ok(accepted) => finish_write(run, accepted, wait, &Check::mutation_status()).await,
            Err(e) => Err(e.into()),
        };
        match outcome {
            Ok(result) => {
                let mut entry = json!({"batch": n + 1, "rows": [first, last], "requestId": result["requestId"],
                    "completed": result["completed"]});
                if let Some(ids) = result["addedRowIds"].as_array() {
                    added
                        .get_or_insert_with(Vec::new)
                        .extend(ids.iter().cloned());
                    entry["addedRowIds"] = json!(ids);
                }
                outcomes.push(entry);
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
    if total > 0 && failures == total && rejected.is_empty() && not_sent.is_empty() {
        return Err(first_error.unwrap_or_else(|| ToolError::Unsupported("no rows to send".into())));
    }
    let completed = total > 0
        && failures == 0
        && rejected.is_empty()
        && not_sent.is_empty()
        && outcomes.iter().all(|o| o["completed"] == json!(true));
    let unsent = not_sent.len();
    outcomes.extend(not_sent);
    let mut out = json!({"completed": completed, "batches": outcomes});
    if let Some(ids) = added {
        out["addedRowIds"] = json!(ids);
    }
    if total == 1 && failures == 0 {
        out["requestId"] = out["batches"][0]["requestId"].clone();
    }
    if let Some(keys) = &key_columns {
        let mut upsert = json!({"rowsSent": sent_rows - rejected.len(), "keyColumns": keys,
            "note": "Coda does not say which rows an upsert (keyColumns) added or updated; list the rows (e.g. with query on a key column) to see them."});
        let count_after = match (count_before, completed) {
            (Some(_), true) => row_count(run, &table_path).await,
            _ => None,
        };
        if let (Some(before), Some(after)) = (count_before, count_after) {
            let sent = (sent_rows - rejected.len()) as u64;
            let grew = after.saturating_sub(before);
            upsert["rowCountBefore"] = json!(before);
            upsert["rowCountAfter"] = json!(after);
            upsert["note"] = json!(format!(
                "Coda does not say which rows an upsert (keyColumns) added or updated. The table went from {before} to {after} rows, so {grew} of the {sent} rows sent were added and {} matched existing rows (each match is updated) — unless someone else changed the table meanwhile.",
                sent.saturating_sub(grew)));
        }
        out["upsert"] = upsert;
    }
    if !rejected.is_empty() {
        out["rejectedRows"] = json!(rejected);
    }
    if failures > 0 || unsent > 0 || !rejected.is_empty() {
        out["status"] = json!(format!(
            "partial: {} row(s) rejected before sending, {failures} of {total} batch(es) failed, {unsent} not sent (out of time); see rejectedRows and batches",
            rejected.len()
        ));
    }
    Ok(out)
}

/// A table's `rowCount`, if Coda tells it.
async fn row_count(run: &mut Run<'_>, table_path: &CodaPath) -> Option<u64> {
    let table = run.send(&CodaRequest::get(table_path.clone())).await.ok()?;
    table["rowCount"].as_u64()
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

/// Prefix of a page-text continuation token.
const TEXT_PREFIX: &str = "cmcpt1.";

/// Where a long page's text continues: the content listing's token for its next line (or,
/// for text from an export, the byte offset), and the numbered-list counter there.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct TextResume {
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    lines: Option<String>,
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    offset: Option<usize>,
    #[serde(rename = "n", default)]
    numbered: usize,
}

impl TextResume {
    fn encode(&self) -> String {
        format!("{TEXT_PREFIX}{}", hex_json(self))
    }
}

/// Characters a piece of text takes inside a JSON string.
fn json_len(text: &str) -> usize {
    serde_json::to_string(text)
        .map(|s| s.len() - 2)
        .unwrap_or(text.len())
}

/// A page's text: `listPageContent` page by page, or an export when that endpoint is not
/// available. The page itself is looked up first so a wrong ID gets a clear 404. The text
/// is kept within the output budget, cut after a whole line, with a `nextPageToken` (which
/// `token` takes back) for the rest.
pub(super) async fn page_text(
    run: &mut Run<'_>,
    page_path: &CodaPath,
    plain: bool,
    token: Option<&str>,
) -> Result<Value, ToolError> {
    let resume = match token {
        None => TextResume::default(),
        Some(t) => t
            .strip_prefix(TEXT_PREFIX)
            .and_then(unhex_json)
            .ok_or_else(|| {
                ToolError::InvalidArguments(
                    "pageToken is not one coda_get_page_content returned; read the page again without it".into(),
                )
            })?,
    };
    let page = run.send(&CodaRequest::get(page_path.clone())).await?;
    let budget = run.item_budget();
    let mut out = json!({"pageId": page["id"], "name": page["name"], "format": if plain { "plainText" } else { "markdown" },
        "url": page["browserLink"]});
    let (text, next) = match resume.offset {
        None => match page_lines(run, page_path, plain, &resume, budget).await {
            Ok(found) => {
                out["source"] = json!("listPageContent");
                found
            }
            Err(ToolError::Coda(CodaError::Api {
                status: 404 | 405 | 400,
                ..
            })) if resume.lines.is_none() => {
                out["source"] = json!("export");
                export_text(run, page_path, 0, budget).await?
            }
            Err(e) => return Err(e),
        },
        Some(offset) => {
            out["source"] = json!("export");
            export_text(run, page_path, offset, budget).await?
        }
    };
    out["text"] = json!(text);
    if let Some(next) = next {
        out["nextPageToken"] = json!(next.encode());
        out["truncated"] = json!(format!(
            "The page is longer than the {}-character result limit: this is its text up to a line boundary. Call again with pageToken for the rest.",
            run.opts.output_budget));
    }
    Ok(out)
}

/// The page's lines through `listPageContent`, from `resume`, rendered until `budget`.
async fn page_lines(
    run: &mut Run<'_>,
    page_path: &CodaPath,
    plain: bool,
    resume: &TextResume,
    budget: usize,
) -> Result<(String, Option<TextResume>), ToolError> {
    let mut req = CodaRequest::get(page_path.child("content")).query("contentFormat", "plainText");
    if let Some(t) = &resume.lines {
        req = req.query("pageToken", t.clone());
    }
    // Each line costs its text, a list marker (at most "1234567. ") and the newline.
    let measure =
        |item: &Value| json_len(item["itemContent"]["content"].as_str().unwrap_or("")) + 12;
    let listing = list_items(run, req, usize::MAX, 500, budget, &measure).await?;
    let mut numbered = resume.numbered;
    let rendered: Vec<String> = listing
        .items
        .iter()
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
    let next = listing.next.map(|t| TextResume {
        lines: Some(t),
        offset: None,
        numbered,
    });
    Ok((rendered.join("\n"), next))
}

/// The page's text from an export, from byte `offset`, cut after the last whole line that
/// fits `budget`.
async fn export_text(
    run: &mut Run<'_>,
    page_path: &CodaPath,
    offset: usize,
    budget: usize,
) -> Result<(String, Option<TextResume>), ToolError> {
    let text = export_page(run, page_path).await?;
    let rest = text.get(offset..).ok_or_else(|| {
        ToolError::InvalidArguments(
            "pageToken no longer fits the page (it changed); read the page again without it".into(),
        )
    })?;
    let mut used = 0usize;
    let mut kept = 0usize;
    for line in rest.split_inclusive('\n') {
        let cost = json_len(line);
        if used + cost > budget {
            if kept == 0 {
                // One line longer than the budget: cut it at a character boundary.
                let mut cut = budget.min(line.len());
                while !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                kept = cut.max(line.chars().next().map_or(0, char::len_utf8));
            }
            break;
        }
        used += cost;
        kept += line.len();
    }
    let next = (kept < rest.len()).then(|| TextResume {
        lines: None,
        offset: Some(offset + kept),
        numbered: 0,
    });
    Ok((rest[..kept].trim_end_matches('\n').to_owned(), next))
}

/// Exports a page as markdown: begin, poll until a download link (an early 404 is normal),
/// download from Coda's own hosts only.
async fn export_page(run: &mut Run<'_>, page_path: &CodaPath) -> Result<String, ToolError> {
    let begin = CodaRequest {
        method: reqwest::Method::POST,
        path: page_path.child("export"),
        query: vec![],
        body: Some(json!({"outputFormat": "markdown"})),
        class: RateClass::DocContentWrite,
        halve_on_504: false,
    };
    let started = run.send(&begin).await?;
    let id = started["id"]
        .as_str()
        .ok_or_else(|| CodaError::BadResponse("export started without an id".into()))?;
    let status_path = page_path
        .child("export")
        .join(id)
        .map_err(|e| CodaError::BadResponse(format!("export id: {e}")))?;
    let mut poll = Poller::new(
        Duration::from_millis(200),
        Duration::from_secs(2),
        tokio::time::Instant::now() + EXPORT_WAIT,
    );
    while poll.wait().await {
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
    }
    Err(ToolError::Unsupported(format!(
        "the page export did not finish within {} s; try again later",
        EXPORT_WAIT.as_secs()
    )))
}

/// How long a page export may take.
const EXPORT_WAIT: Duration = Duration::from_secs(30);

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
    let link = resource["href"]
        .as_str()
        .and_then(links::from_href)
        .ok_or_else(|| ToolError::Unsupported(format!("'{url}' does not point into a Coda doc")))?;
    let mut out = serde_json::to_value(&link).expect("serializable");
    out["source"] = json!("resolveBrowserLink");
    out["resource"] = resource.clone();
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
