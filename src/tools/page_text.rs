//! `coda_get_page_content`: a page's text as markdown or plain text, from `listPageContent`
//! page by page or, where that is missing, from an export; cut after a whole line within the
//! output budget, with its own continuation token.

use std::time::Duration;

use serde_json::{json, Value};

use super::exec::{hex_json, list_items, unhex_json, PageSize, Poller, Run, ToolError};
use crate::coda::{CodaError, CodaPath, CodaRequest, RateClass};

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
    let listing = list_items(run, req, usize::MAX, PageSize::Limit(500), budget, &measure).await?;
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
        require_latest: false,
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
    )
    .cancelled_by(run.opts);
    while poll.wait().await {
        run.report_wait(&poll, "waiting for Coda to export the page");
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
