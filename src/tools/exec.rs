//! Running a catalogue entry: arguments → validated → Coda request(s) → one JSON result.

use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use reqwest::Method;
use serde_json::{json, Map, Value};

use super::validate::validate;
use super::{composite, links, Call, Loc, ToolDef};
use crate::coda::{CodaClient, CodaError, CodaRequest, RateClass};

/// Characters escaped in a path segment (names may hold spaces, slashes, `#`, `?`…).
pub(super) const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'^')
    .add(b'|')
    .add(b'\\');

/// Prefix of our own continuation tokens (used when a result had to be cut inside a Coda page).
const RESUME_PREFIX: &str = "cmcp1.";

/// Why a tool call failed; shown to the model as a tool error.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The arguments do not fit the tool's schema.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// Coda refused or failed.
    #[error(transparent)]
    Coda(#[from] CodaError),
    /// The request cannot be served as asked (e.g. an unusable link or a result too large).
    #[error("{0}")]
    Unsupported(String),
}

/// A tool's result plus what it cost.
#[derive(Debug, Clone)]
pub struct ToolOutput {
    /// The JSON result (always an object).
    pub value: Value,
    /// Coda requests made.
    pub coda_requests: u32,
    /// Retries among them.
    pub retries: u32,
    /// How many of the retries followed a 429.
    pub rate_limited: u32,
}

/// Knobs for running tools.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// How long a write waits for its mutation to complete.
    pub wait_timeout: Duration,
    /// Largest result, in characters of JSON text (ChatGPT's limit is 100,000).
    pub output_budget: usize,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            wait_timeout: Duration::from_secs(20),
            output_budget: 100_000,
        }
    }
}

/// One tool call in progress: the client plus the cost counters.
pub(super) struct Run<'a> {
    pub client: &'a CodaClient,
    pub opts: &'a ExecOptions,
    requests: u32,
    retries: u32,
    rate_limited: u32,
}

impl<'a> Run<'a> {
    /// A fresh run with zeroed counters.
    pub fn new(client: &'a CodaClient, opts: &'a ExecOptions) -> Self {
        Run {
            client,
            opts,
            requests: 0,
            retries: 0,
            rate_limited: 0,
        }
    }

    pub async fn send(&mut self, req: &CodaRequest) -> Result<Value, CodaError> {
        self.requests += 1;
        let resp = self.client.send(req).await;
        match resp {
            Ok(resp) => {
                self.retries += resp.retries;
                self.rate_limited += resp.rate_limited;
                Ok(resp.body)
            }
            Err(e) => Err(e),
        }
    }
}

/// Validates `args` against the tool's schema and runs it.
pub async fn run(
    tool: &ToolDef,
    schema: &Value,
    args: Value,
    client: &CodaClient,
    opts: &ExecOptions,
) -> Result<ToolOutput, ToolError> {
    let args = if args.is_null() { json!({}) } else { args };
    validate(&args, schema, "").map_err(ToolError::InvalidArguments)?;
    let args = args.as_object().cloned().unwrap_or_default();
    let mut run = Run::new(client, opts);
    let value = match tool.call {
        Call::Get { path, class } => {
            let req = build(tool, schema, &args, "GET", path, class)?;
            run.send(&req).await?
        }
        Call::List { path, class } => {
            let req = build(tool, schema, &args, "GET", path, class)?;
            list(&mut run, req, limit_arg(&args, schema)).await?
        }
        Call::Write {
            method,
            path,
            class,
        } => {
            let req = build(tool, schema, &args, method, path, class)?;
            let accepted = run.send(&req).await?;
            finish_write(&mut run, accepted, wait_arg(&args)).await?
        }
        Call::TableWithColumns => {
            let table_req = build(
                tool,
                schema,
                &args,
                "GET",
                "/docs/{docId}/tables/{tableIdOrName}",
                RateClass::Read,
            )?;
            let mut table = run.send(&table_req).await?;
            let mut cols_req = build(
                tool,
                schema,
                &args,
                "GET",
                "/docs/{docId}/tables/{tableIdOrName}/columns",
                RateClass::Read,
            )?;
            cols_req.query.clear();
            let columns = list(&mut run, cols_req, 1000).await?;
            table["columns"] = columns["items"].clone();
            table
        }
        Call::UpsertRows => {
            let req = build(
                tool,
                schema,
                &args,
                "POST",
                "/docs/{docId}/tables/{tableIdOrName}/rows",
                RateClass::Write,
            )?;
            composite::upsert_rows(&mut run, req, wait_arg(&args)).await?
        }
        Call::PageText => {
            let req = build(
                tool,
                schema,
                &args,
                "GET",
                "/docs/{docId}/pages/{pageIdOrName}",
                RateClass::Read,
            )?;
            let plain = args.get("format").and_then(Value::as_str) == Some("plainText");
            composite::page_text(&mut run, &req.path, plain).await?
        }
        Call::ResolveLink => {
            composite::resolve_link(&mut run, args["url"].as_str().unwrap_or_default()).await?
        }
        Call::Search => {
            composite::search(&mut run, args["query"].as_str().unwrap_or_default()).await?
        }
        Call::Fetch => composite::fetch(&mut run, args["id"].as_str().unwrap_or_default()).await?,
    };
    let value = fit_budget(value, opts.output_budget)?;
    Ok(ToolOutput {
        value,
        coda_requests: run.requests,
        retries: run.retries,
        rate_limited: run.rate_limited,
    })
}

fn limit_arg(args: &Map<String, Value>, schema: &Value) -> usize {
    args.get("limit")
        .and_then(Value::as_u64)
        .or_else(|| schema["properties"]["limit"]["default"].as_u64())
        .unwrap_or(25) as usize
}

fn wait_arg(args: &Map<String, Value>) -> bool {
    args.get("wait").and_then(Value::as_bool).unwrap_or(true)
}

/// Which part of a Coda URL a path parameter takes, so any Coda link works where an ID is expected.
fn id_from_link(param: &str, value: &str) -> Option<String> {
    let link = links::parse(value)?;
    match param {
        "docId" => Some(link.doc_id),
        "pageIdOrName" => link.page_id,
        "tableIdOrName" => link.table_id,
        "rowIdOrName" => link.row_id,
        _ => None,
    }
}

/// Builds the request from the catalogue's parameter locations.
pub(super) fn build(
    tool: &ToolDef,
    schema: &Value,
    args: &Map<String, Value>,
    method: &str,
    template: &str,
    class: RateClass,
) -> Result<CodaRequest, ToolError> {
    let mut path = template.to_owned();
    let mut query = Vec::new();
    let mut body = Map::new();
    let mut whole_body = None;
    for p in tool.params {
        let value = args.get(p.name).cloned().or_else(|| {
            (p.loc == Loc::Query)
                .then(|| schema["properties"][p.name]["default"].clone())
                .filter(|v| !v.is_null())
        });
        let Some(value) = value else { continue };
        match p.loc {
            Loc::Path => {
                let placeholder = format!("{{{}}}", p.name);
                if path.contains(&placeholder) {
                    let mut text = value
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| value.to_string());
                    if links::is_url(&text) {
                        text = id_from_link(p.name, &text).ok_or_else(|| {
                            ToolError::InvalidArguments(format!(
                                "'{}' is a URL that does not name a {}; pass the ID instead",
                                p.name,
                                p.name.trim_end_matches("IdOrName").trim_end_matches("Id")
                            ))
                        })?;
                    }
                    path = path.replace(
                        &placeholder,
                        &utf8_percent_encode(&text, SEGMENT).to_string(),
                    );
                }
            }
            Loc::Query => query.push((
                p.name.to_owned(),
                match value {
                    Value::String(s) => s,
                    Value::Array(items) => items
                        .iter()
                        .map(|v| {
                            v.as_str()
                                .map(str::to_owned)
                                .unwrap_or_else(|| v.to_string())
                        })
                        .collect::<Vec<_>>()
                        .join(","),
                    other => other.to_string(),
                },
            )),
            Loc::Body => {
                body.insert(p.name.to_owned(), value);
            }
            Loc::WholeBody => whole_body = Some(value),
            Loc::Local => {}
        }
    }
    if path.contains('{') {
        return Err(ToolError::InvalidArguments(format!(
            "missing a path argument for {template}"
        )));
    }
    let method = Method::from_bytes(method.as_bytes()).expect("catalogue methods are valid");
    let body = match whole_body {
        Some(b) => Some(b),
        None if !body.is_empty() => Some(Value::Object(body)),
        None if method == Method::POST || method == Method::PUT || method == Method::PATCH => {
            Some(json!({}))
        }
        None => None,
    };
    Ok(CodaRequest {
        method,
        path,
        query,
        body,
        class,
        halve_on_504: false,
    })
}

/// Where a listing resumes: inside a Coda page (`token`, or the first page of `query`), after `skip` items.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Resume {
    #[serde(rename = "s")]
    skip: usize,
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    #[serde(rename = "q", default, skip_serializing_if = "Vec::is_empty")]
    query: Vec<(String, String)>,
}

impl Resume {
    fn encode(&self) -> String {
        let json = serde_json::to_string(self).expect("serializable");
        let hex: String = json.bytes().map(|b| format!("{b:02x}")).collect();
        format!("{RESUME_PREFIX}{hex}")
    }

    fn decode(token: &str) -> Option<Resume> {
        let hex = token.strip_prefix(RESUME_PREFIX)?;
        if !hex.len().is_multiple_of(2) {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect();
        serde_json::from_slice(&bytes?).ok()
    }
}

/// Follows Coda's pages until `limit` items or the end. Coda clamps page sizes silently and
/// ignores `limit` once a `pageToken` is given, so a page may bring more than we need: the
/// result is then cut and its continuation token says where to resume inside that page.
/// A 504 (large docs) is answered by halving the page size. The result also respects the
/// output budget: it is cut at an item boundary with a token for the rest.
pub(super) async fn list(
    run: &mut Run<'_>,
    mut req: CodaRequest,
    limit: usize,
) -> Result<Value, ToolError> {
    let mut skip = 0usize;
    if let Some(pos) = req.query.iter().position(|(k, _)| k == "pageToken") {
        let token = req.query[pos].1.clone();
        if token.starts_with(RESUME_PREFIX) {
            let resume = Resume::decode(&token).ok_or_else(|| {
                ToolError::InvalidArguments(
                    "pageToken is malformed; start the listing again without it".into(),
                )
            })?;
            skip = resume.skip;
            req.query = match resume.token {
                Some(t) => vec![("pageToken".into(), t)],
                None => resume.query,
            };
        }
    }
    let first_query: Vec<(String, String)> = req
        .query
        .iter()
        .filter(|(k, _)| k != "limit")
        .cloned()
        .collect();
    let mut items: Vec<Value> = Vec::new();
    // For each item: the Coda token of its page (None = first page) and its index there.
    let mut origins: Vec<(Option<String>, usize)> = Vec::new();
    let mut next: Option<Resume> = None;
    let mut page_size: Option<usize> = None;
    loop {
        let remaining = limit - items.len();
        let this_token = req
            .query
            .iter()
            .find(|(k, _)| k == "pageToken")
            .map(|(_, v)| v.clone());
        let want = page_size.unwrap_or(remaining + skip);
        req.query.retain(|(k, _)| k != "limit");
        req.query.push(("limit".into(), want.to_string()));
        req.halve_on_504 = this_token.is_none() && want > 1;
        let page = match run.send(&req).await {
            Err(CodaError::Api { status: 504, .. }) if req.halve_on_504 => {
                page_size = Some((want / 2).max(1));
                tracing::debug!(path = %req.path, limit = want / 2, "coda timed out (504); halving the page size");
                continue;
            }
            other => other?,
        };
        let page_items = page["items"]
            .as_array()
            .cloned()
            .ok_or_else(|| CodaError::BadResponse("a list response had no items array".into()))?;
        let coda_next = page["nextPageToken"].as_str().map(str::to_owned);
        let available = page_items.len().saturating_sub(skip);
        let take = available.min(remaining);
        for (i, item) in page_items.into_iter().enumerate().skip(skip).take(take) {
            items.push(item);
            origins.push((this_token.clone(), i));
        }
        if available > remaining {
            next = Some(Resume {
                skip: skip + take,
                token: this_token.clone(),
                query: if this_token.is_none() {
                    first_query.clone()
                } else {
                    vec![]
                },
            });
            break;
        }
        skip = 0;
        match coda_next {
            Some(token) if items.len() < limit => {
                req.query.retain(|(k, _)| k != "pageToken");
                req.query.push(("pageToken".into(), token));
            }
            Some(token) => {
                next = Some(Resume {
                    skip: 0,
                    token: Some(token),
                    query: vec![],
                });
                break;
            }
            None => break,
        }
    }
    // Output budget: keep whole items while they fit.
    let budget = run.opts.output_budget.saturating_sub(2_000);
    let mut used = 0usize;
    let mut keep = items.len();
    for (i, item) in items.iter().enumerate() {
        used += serde_json::to_string(item)
            .map(|s| s.len() + 1)
            .unwrap_or(0);
        if used > budget {
            keep = i;
            break;
        }
    }
    let mut truncated = false;
    if keep < items.len() {
        let (token, index) = origins[keep].clone();
        next = Some(Resume {
            skip: index,
            query: if token.is_none() {
                first_query.clone()
            } else {
                vec![]
            },
            token,
        });
        items.truncate(keep);
        truncated = true;
    }
    let mut out = json!({"items": items, "count": items.len()});
    if let Some(resume) = next {
        // A plain Coda token when we resume at a page start; our own token otherwise.
        let token = match (&resume.token, resume.skip) {
            (Some(t), 0) => t.clone(),
            _ => resume.encode(),
        };
        out["nextPageToken"] = json!(token);
    }
    if truncated {
        out["truncated"] = json!(format!(
            "The result was cut to stay under {} characters; call again with pageToken for the rest.",
            run.opts.output_budget));
    }
    Ok(out)
}

/// After a 202: optionally poll `/mutationStatus/{requestId}` until Coda reports it applied.
/// An early 404 is replication lag, not failure.
pub(super) async fn finish_write(
    run: &mut Run<'_>,
    accepted: Value,
    wait: bool,
) -> Result<Value, ToolError> {
    let mut result = match accepted {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        other => {
            let mut m = Map::new();
            m.insert("response".into(), other);
            m
        }
    };
    let Some(request_id) = result
        .get("requestId")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        result.insert("completed".into(), json!(true));
        return Ok(Value::Object(result));
    };
    if !wait {
        result.insert("completed".into(), json!(false));
        result.insert("status".into(), json!("queued: Coda accepted the write and applies it shortly; check with coda_get_mutation_status and this requestId"));
        return Ok(Value::Object(result));
    }
    let completed = wait_for_mutation(run, &request_id, &mut result).await?;
    result.insert("completed".into(), json!(completed));
    result.insert("status".into(), json!(if completed {
        "completed: the change is applied in Coda"
    } else {
        "still processing: Coda accepted the write but has not applied it yet; check again later with coda_get_mutation_status and this requestId"
    }));
    Ok(Value::Object(result))
}

/// Polls the mutation status until completed or the wait timeout; true when completed.
pub(super) async fn wait_for_mutation(
    run: &mut Run<'_>,
    request_id: &str,
    result: &mut Map<String, Value>,
) -> Result<bool, ToolError> {
    let deadline = tokio::time::Instant::now() + run.opts.wait_timeout;
    let mut delay = Duration::from_millis(150);
    let status_path = format!(
        "/mutationStatus/{}",
        utf8_percent_encode(request_id, SEGMENT)
    );
    loop {
        tokio::time::sleep(
            delay.min(deadline.saturating_duration_since(tokio::time::Instant::now())),
        )
        .await;
        match run.send(&CodaRequest::get(status_path.clone())).await {
            Ok(status) if status["completed"].as_bool() == Some(true) => {
                if let Some(w) = status.get("warning") {
                    result.insert("warning".into(), w.clone());
                }
                return Ok(true);
            }
            Ok(_) => {}
            Err(CodaError::Api { status: 404, .. }) => {}
            Err(e) => return Err(e.into()),
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        delay = (delay * 3 / 2).min(Duration::from_secs(1));
    }
}

/// Keeps any result within the output budget. Lists are cut by [`list`]; other results that
/// are still too large are refused with advice rather than cut mid-JSON.
fn fit_budget(value: Value, budget: usize) -> Result<Value, ToolError> {
    let size = serde_json::to_string(&value).map(|s| s.len()).unwrap_or(0);
    if size <= budget {
        return Ok(value);
    }
    Err(ToolError::Unsupported(format!(
        "the result is {size} characters, over the {budget}-character limit; ask for less (a smaller limit, fewer columns, or one item at a time)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_tokens_round_trip() {
        let r = Resume {
            skip: 7,
            token: None,
            query: vec![("query".into(), "\"Status\":\"Done\"".into())],
        };
        assert_eq!(Resume::decode(&r.encode()), Some(r));
        assert_eq!(Resume::decode("cmcp1.zz"), None);
        assert_eq!(Resume::decode("abc"), None);
    }
}
