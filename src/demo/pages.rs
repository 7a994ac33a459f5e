//! The demo's page routes: pages, their content (list, update, delete) and exports.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::common::{
    coda_error, enqueue, json_body, new_id, now_iso, page_of, paging, respond, validation_error,
    with_doc, ApiError, Params, Shared,
};
use super::model::{Doc, Line, Page, Workspace};
use super::state::ExportJob;

/// Routes under `/docs/{doc}/pages`.
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/docs/{doc}/pages", get(list_pages).post(create_page))
        .route(
            "/docs/{doc}/pages/{page}",
            get(get_page).put(update_page).delete(delete_page),
        )
        .route(
            "/docs/{doc}/pages/{page}/content",
            get(list_content).delete(delete_content),
        )
        .route("/docs/{doc}/pages/{page}/export", post(begin_export))
        .route("/docs/{doc}/pages/{page}/export/{id}", get(export_status))
}

fn find_page<'a>(doc: &'a Doc, page: &str) -> Result<&'a Page, ApiError> {
    doc.page(page).ok_or_else(|| {
        coda_error(
            StatusCode::NOT_FOUND,
            &format!("Page '{page}' could not be found."),
        )
    })
}

fn find_doc<'a>(ws: &'a Workspace, doc: &str) -> Result<&'a Doc, ApiError> {
    ws.doc(doc).ok_or_else(|| {
        coda_error(
            StatusCode::NOT_FOUND,
            &format!("Doc '{doc}' could not be found."),
        )
    })
}

/// Turns markdown or (simple) HTML into page lines, as Coda's importer would.
pub(super) fn content_lines(format: &str, content: &str) -> Vec<Line> {
    let text = if format == "html" {
        html_to_markdown(content)
    } else {
        content.to_owned()
    };
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let l = l.trim_start();
            let (style, text) = if let Some(t) = l.strip_prefix("### ") {
                ("h3", t)
            } else if let Some(t) = l.strip_prefix("## ") {
                ("h2", t)
            } else if let Some(t) = l.strip_prefix("# ") {
                ("h1", t)
            } else if let Some(t) = l
                .strip_prefix("- [ ] ")
                .or_else(|| l.strip_prefix("- [x] "))
            {
                ("checkboxList", t)
            } else if let Some(t) = l.strip_prefix("- ").or_else(|| l.strip_prefix("* ")) {
                ("bulletedList", t)
            } else if let Some(t) = l.strip_prefix("> ") {
                ("blockQuote", t)
            } else if let Some((n, t)) = l
                .split_once(". ")
                .filter(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
            {
                let _ = n;
                ("numberedList", t)
            } else {
                ("paragraph", l)
            };
            Line {
                id: new_id("cl-"),
                style: style.into(),
                text: text.into(),
            }
        })
        .collect()
}

fn html_to_markdown(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            break;
        };
        let tag = rest[start + 1..start + end].trim().to_ascii_lowercase();
        let name = tag
            .trim_start_matches('/')
            .split_whitespace()
            .next()
            .unwrap_or("");
        match (tag.starts_with('/'), name) {
            (false, "h1") => out.push_str("\n# "),
            (false, "h2") => out.push_str("\n## "),
            (false, "h3") => out.push_str("\n### "),
            (false, "li") => out.push_str("\n- "),
            (false, "blockquote") => out.push_str("\n> "),
            (_, "p") | (_, "br") | (_, "div") | (true, "h1" | "h2" | "h3" | "li") => out.push('\n'),
            _ => {}
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", " ")
}

/// A page rendered as markdown (for exports).
fn page_markdown(page: &Page) -> String {
    let mut n = 0;
    page.lines
        .iter()
        .map(|l| {
            if l.style != "numberedList" {
                n = 0;
            }
            match l.style.as_str() {
                "h1" => format!("# {}", l.text),
                "h2" => format!("## {}", l.text),
                "h3" => format!("### {}", l.text),
                "bulletedList" => format!("- {}", l.text),
                "checkboxList" => format!("- [ ] {}", l.text),
                "numberedList" => {
                    n += 1;
                    format!("{n}. {}", l.text)
                }
                "blockQuote" => format!("> {}", l.text),
                _ => l.text.clone(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn page_html(page: &Page) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    page.lines
        .iter()
        .map(|l| match l.style.as_str() {
            "h1" | "h2" | "h3" => format!("<{0}>{1}</{0}>", l.style, esc(&l.text)),
            "bulletedList" | "numberedList" | "checkboxList" => {
                format!("<li>{}</li>", esc(&l.text))
            }
            _ => format!("<p>{}</p>", esc(&l.text)),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn canvas_lines(content: &Value, path: &str) -> Result<Vec<Line>, ApiError> {
    let format = content["format"]
        .as_str()
        .filter(|f| *f == "markdown" || *f == "html")
        .ok_or_else(|| {
            validation_error(&format!("{path}.format"), "format must be markdown or html")
        })?;
    let text = content["content"]
        .as_str()
        .ok_or_else(|| validation_error(&format!("{path}.content"), "content must be a string"))?;
    Ok(content_lines(format, text))
}

async fn list_pages(
    State(s): State<Shared>,
    Path(doc): Path<String>,
    Query(raw): Query<Params>,
) -> Response {
    respond(paging(&s, raw).and_then(|paging| {
        with_doc(&s, &doc, |_, d| {
            let items = d.pages.iter().map(|p| p.to_json(&s.api_base, d)).collect();
            Ok(page_of(
                items,
                &paging,
                &format!("{}/docs/{doc}/pages", s.api_base),
            ))
        })
    }))
}

async fn get_page(State(s): State<Shared>, Path((doc, page)): Path<(String, String)>) -> Response {
    respond(with_doc(&s, &doc, |_, d| {
        Ok(find_page(d, &page)?.to_json(&s.api_base, d))
    }))
}

async fn list_content(
    State(s): State<Shared>,
    Path((doc, page)): Path<(String, String)>,
    Query(raw): Query<Params>,
) -> Response {
    if !s.config.page_content_endpoint {
        return coda_error(StatusCode::NOT_FOUND, "This endpoint does not exist.").into_response();
    }
    let clamp = s.config.page_clamp;
    respond(paging(&s, raw).and_then(|mut paging| {
        with_doc(&s, &doc, |_, d| {
            // Page content allows bigger pages than other lists (default 50, max 500).
            paging.limit = paging
                .params
                .get("limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(50usize)
                .clamp(1, clamp.max(500));
            let p = find_page(d, &page)?;
            let items = p
                .lines
                .iter()
                .map(|l| {
                    json!({"id": l.id, "type": "line",
            "itemContent": {"style": l.style, "format": "plainText", "content": l.text}})
                })
                .collect();
            Ok(page_of(
                items,
                &paging,
                &format!("{}/docs/{doc}/pages/{page}/content", s.api_base),
            ))
        })
    }))
}

async fn create_page(State(s): State<Shared>, Path(doc): Path<String>, body: Bytes) -> Response {
    let planned = (|| -> Result<_, ApiError> {
        let body = json_body(&body)?;
        let ws = s.workspace.lock().expect("workspace");
        let d = find_doc(&ws, &doc)?;
        let parent = match body["parentPageId"].as_str() {
            Some(p) => Some(find_page(d, p)?.id.clone()),
            None => None,
        };
        let lines = match body.get("pageContent") {
            None | Some(Value::Null) => Vec::new(),
            Some(pc) => match pc["type"].as_str() {
                Some("canvas") => canvas_lines(&pc["canvasContent"], "pageContent.canvasContent")?,
                Some("embed") => vec![Line {
                    id: new_id("cl-"),
                    style: "paragraph".into(),
                    text: format!(
                        "Embedded: {}",
                        pc["url"].as_str().ok_or_else(|| validation_error(
                            "pageContent.url",
                            "url is required for embeds"
                        ))?
                    ),
                }],
                Some("syncPage") => Vec::new(),
                _ => {
                    return Err(validation_error(
                        "pageContent.type",
                        "type must be canvas, embed or syncPage",
                    ))
                }
            },
        };
        let now = now_iso();
        Ok(Page {
            id: new_id("canvas-"),
            name: body["name"].as_str().unwrap_or("Untitled").to_owned(),
            subtitle: body["subtitle"].as_str().unwrap_or("").to_owned(),
            icon: body["iconName"].as_str().unwrap_or("page").to_owned(),
            hidden: false,
            parent,
            lines,
            created_at: now.clone(),
            updated_at: now,
        })
    })();
    let page = match planned {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let id = page.id.clone();
    let request_id = enqueue(&s, Some(doc.clone()), move |ws| {
        if let Some(d) = ws.doc_mut(&doc) {
            d.pages.push(page);
        }
    });
    (
        StatusCode::ACCEPTED,
        Json(json!({"requestId": request_id, "id": id})),
    )
        .into_response()
}

async fn update_page(
    State(s): State<Shared>,
    Path((doc, page)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let planned = (|| -> Result<_, ApiError> {
        let body = json_body(&body)?;
        let ws = s.workspace.lock().expect("workspace");
        let p = find_page(find_doc(&ws, &doc)?, &page)?;
        let update = match body.get("contentUpdate") {
            None | Some(Value::Null) => None,
            Some(cu) => {
                let mode = cu["insertionMode"]
                    .as_str()
                    .filter(|m| ["append", "prepend", "replace"].contains(m))
                    .ok_or_else(|| {
                        validation_error(
                            "contentUpdate.insertionMode",
                            "insertionMode must be append, prepend or replace",
                        )
                    })?
                    .to_owned();
                let lines = canvas_lines(&cu["canvasContent"], "contentUpdate.canvasContent")?;
                let anchor = match cu["elementId"].as_str() {
                    Some(e) => Some(p.lines.iter().position(|l| l.id == e).ok_or_else(|| {
                        validation_error(
                            "contentUpdate.elementId",
                            &format!("No element '{e}' on this page."),
                        )
                    })?),
                    None => None,
                };
                Some((mode, lines, anchor))
            }
        };
        Ok((p.id.clone(), body, update))
    })();
    let (page_id, body, update) = match planned {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let id = page_id.clone();
    let request_id = enqueue(&s, Some(doc.clone()), move |ws| {
        let Some(p) = ws
            .doc_mut(&doc)
            .and_then(|d| d.pages.iter_mut().find(|p| p.id == page_id))
        else {
            return;
        };
        if let Some(v) = body["name"].as_str() {
            p.name = v.into();
        }
        if let Some(v) = body["subtitle"].as_str() {
            p.subtitle = v.into();
        }
        if let Some(v) = body["iconName"].as_str() {
            p.icon = v.into();
        }
        if let Some(v) = body["isHidden"].as_bool() {
            p.hidden = v;
        }
        if let Some((mode, lines, anchor)) = update {
            match (mode.as_str(), anchor) {
                ("replace", None) => p.lines = lines,
                ("replace", Some(i)) => {
                    p.lines.splice(i..=i, lines);
                }
                ("append", None) => p.lines.extend(lines),
                ("append", Some(i)) => {
                    p.lines.splice(i + 1..i + 1, lines);
                }
                (_, None) => {
                    p.lines.splice(0..0, lines);
                }
                (_, Some(i)) => {
                    p.lines.splice(i..i, lines);
                }
            }
        }
        p.updated_at = now_iso();
    });
    (
        StatusCode::ACCEPTED,
        Json(json!({"requestId": request_id, "id": id})),
    )
        .into_response()
}

async fn delete_page(
    State(s): State<Shared>,
    Path((doc, page)): Path<(String, String)>,
) -> Response {
    let found = with_doc(&s, &doc, |_, d| Ok(find_page(d, &page)?.id.clone()));
    let page_id = match found {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let id = page_id.clone();
    let request_id = enqueue(&s, Some(doc.clone()), move |ws| {
        if let Some(d) = ws.doc_mut(&doc) {
            // Subpages go with their parent.
            let mut doomed = vec![page_id];
            while let Some(child) = d.pages.iter().find(|p| {
                p.parent.as_ref().is_some_and(|pp| doomed.contains(pp)) && !doomed.contains(&p.id)
            }) {
                doomed.push(child.id.clone());
            }
            d.pages.retain(|p| !doomed.contains(&p.id));
        }
    });
    (
        StatusCode::ACCEPTED,
        Json(json!({"requestId": request_id, "id": id})),
    )
        .into_response()
}

async fn delete_content(
    State(s): State<Shared>,
    Path((doc, page)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let planned = (|| -> Result<_, ApiError> {
        let body = if body.is_empty() {
            json!({})
        } else {
            json_body(&body)?
        };
        let ws = s.workspace.lock().expect("workspace");
        let p = find_page(find_doc(&ws, &doc)?, &page)?;
        let ids: Vec<String> = match body.get("elementIds") {
            None | Some(Value::Null) => vec![],
            Some(Value::Array(ids)) => ids
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let id = v.as_str().ok_or_else(|| {
                        validation_error(&format!("elementIds[{i}]"), "Expected a string.")
                    })?;
                    if p.lines.iter().any(|l| l.id == id) {
                        Ok(id.to_owned())
                    } else {
                        Err(validation_error(
                            &format!("elementIds[{i}]"),
                            &format!("No element '{id}' on this page."),
                        ))
                    }
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(validation_error(
                    "elementIds",
                    "Expected an array of element IDs.",
                ))
            }
        };
        Ok((p.id.clone(), ids))
    })();
    let (page_id, ids) = match planned {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let id = page_id.clone();
    let request_id = enqueue(&s, Some(doc.clone()), move |ws| {
        if let Some(p) = ws
            .doc_mut(&doc)
            .and_then(|d| d.pages.iter_mut().find(|p| p.id == page_id))
        {
            if ids.is_empty() {
                p.lines.clear();
            } else {
                p.lines.retain(|l| !ids.contains(&l.id));
            }
            p.updated_at = now_iso();
        }
    });
    (
        StatusCode::ACCEPTED,
        Json(json!({"requestId": request_id, "id": id})),
    )
        .into_response()
}

async fn begin_export(
    State(s): State<Shared>,
    Path((doc, page)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let planned = (|| -> Result<_, ApiError> {
        let body = json_body(&body)?;
        let format = body["outputFormat"]
            .as_str()
            .filter(|f| *f == "markdown" || *f == "html")
            .ok_or_else(|| {
                validation_error("outputFormat", "outputFormat must be html or markdown")
            })?
            .to_owned();
        let ws = s.workspace.lock().expect("workspace");
        let p = find_page(find_doc(&ws, &doc)?, &page)?;
        Ok((p.id.clone(), format))
    })();
    let (page_id, format) = match planned {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let id = uuid::Uuid::new_v4().to_string();
    s.exports.lock().expect("exports").insert(
        id.clone(),
        ExportJob {
            created: tokio::time::Instant::now(),
            doc_id: doc.clone(),
            page_id: page_id.clone(),
            format,
        },
    );
    let href = format!("{}/docs/{doc}/pages/{page_id}/export/{id}", s.api_base);
    (
        StatusCode::ACCEPTED,
        Json(json!({"id": id, "status": "inProgress", "href": href})),
    )
        .into_response()
}

async fn export_status(
    State(s): State<Shared>,
    Path((doc, page, id)): Path<(String, String, String)>,
) -> Response {
    let exports = s.exports.lock().expect("exports");
    let _ = page;
    let Some(job) = exports.get(&id).filter(|j| j.doc_id == doc) else {
        return coda_error(
            StatusCode::NOT_FOUND,
            &format!("Export '{id}' could not be found."),
        )
        .into_response();
    };
    let elapsed = job.created.elapsed();
    if elapsed < s.config.status_lag {
        return coda_error(
            StatusCode::NOT_FOUND,
            &format!("Export '{id}' could not be found."),
        )
        .into_response();
    }
    let href = format!(
        "{}/docs/{doc}/pages/{}/export/{id}",
        s.api_base, job.page_id
    );
    if elapsed < s.config.write_delay {
        return Json(json!({"id": id, "status": "inProgress", "href": href})).into_response();
    }
    Json(json!({"id": id, "status": "complete", "href": href, "downloadLink": format!("{}/blobs/{id}", s.origin)})).into_response()
}

/// `GET /blobs/{id}`: the exported file. Like Coda's download links it needs no auth header.
pub(super) async fn download(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    let job = s
        .exports
        .lock()
        .expect("exports")
        .get(&id)
        .map(|j| (j.doc_id.clone(), j.page_id.clone(), j.format.clone()));
    let Some((doc, page, format)) = job else {
        return (StatusCode::NOT_FOUND, "no such export").into_response();
    };
    let ws = s.workspace.lock().expect("workspace");
    let Some(p) = ws.doc(&doc).and_then(|d| d.page(&page)) else {
        return (StatusCode::GONE, "the page is gone").into_response();
    };
    if format == "html" {
        (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            page_html(p),
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
            page_markdown(p),
        )
            .into_response()
    }
}
