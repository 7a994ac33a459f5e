//! Running a catalogue entry: arguments → validated → Coda request(s) → one JSON result.

use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use reqwest::Method;
use serde_json::{json, Map, Value};

use super::validate::validate;
use super::{Call, Loc, ToolDef};
use crate::coda::{CodaClient, CodaError, CodaRequest, RateClass};

/// Characters escaped in a path segment (names may hold spaces, slashes, `#`, `?`…).
const SEGMENT: &AsciiSet = &CONTROLS
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

/// Prefix of our own continuation tokens, used when a Coda page had to be cut short.
const CUT_TOKEN_PREFIX: &str = "cmcp1:";

/// Why a tool call failed; shown to the model as a tool error.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The arguments do not fit the tool's schema.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// Coda refused or failed.
    #[error(transparent)]
    Coda(#[from] CodaError),
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
}

/// Knobs for running tools.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// How long a write waits for its mutation to complete.
    pub wait_timeout: Duration,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            wait_timeout: Duration::from_secs(20),
        }
    }
}

struct Run<'a> {
    client: &'a CodaClient,
    requests: u32,
    retries: u32,
}

impl Run<'_> {
    async fn send(&mut self, req: &CodaRequest) -> Result<Value, CodaError> {
        self.requests += 1;
        let resp = self.client.send(req).await?;
        self.retries += resp.retries;
        Ok(resp.body)
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
    let mut run = Run {
        client,
        requests: 0,
        retries: 0,
    };
    let value = match tool.call {
        Call::Get { path } => {
            let req = build(tool, schema, &args, "GET", path, RateClass::Read)?;
            run.send(&req).await?
        }
        Call::List { path, class } => {
            let req = build(tool, schema, &args, "GET", path, class)?;
            let limit = args
                .get("limit")
                .and_then(Value::as_u64)
                .or_else(|| schema["properties"]["limit"]["default"].as_u64())
                .unwrap_or(25) as usize;
            list(&mut run, req, limit).await?
        }
        Call::Write {
            method,
            path,
            class,
        } => {
            let req = build(tool, schema, &args, method, path, class)?;
            let accepted = run.send(&req).await?;
            let wait = args.get("wait").and_then(Value::as_bool).unwrap_or(true);
            finish_write(&mut run, accepted, wait, opts.wait_timeout).await?
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
            let cols_req = build(
                tool,
                schema,
                &args,
                "GET",
                "/docs/{docId}/tables/{tableIdOrName}/columns",
                RateClass::Read,
            )?;
            let columns = list(&mut run, cols_req, 1000).await?;
            table["columns"] = columns["items"].clone();
            table
        }
    };
    Ok(ToolOutput {
        value,
        coda_requests: run.requests,
        retries: run.retries,
    })
}

/// Builds the request from the catalogue's parameter locations.
fn build(
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
                    let text = value
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| value.to_string());
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
                    other => other.to_string(),
                },
            )),
            Loc::Body => {
                body.insert(p.name.to_owned(), value);
            }
            Loc::Local => {}
        }
    }
    if path.contains('{') {
        return Err(ToolError::InvalidArguments(format!(
            "missing a path argument for {template}"
        )));
    }
    let method = Method::from_bytes(method.as_bytes()).expect("catalogue methods are valid");
    let has_body = method != Method::GET && method != Method::DELETE || !body.is_empty();
    Ok(CodaRequest {
        method,
        path,
        query,
        body: has_body.then_some(Value::Object(body)),
        class,
    })
}

/// Follows Coda's pages until `limit` items or the end. Coda clamps page sizes silently and
/// ignores `limit` once a `pageToken` is given, so a page may bring more than we need: then
/// the page is cut and the continuation token says where to resume inside it.
async fn list(run: &mut Run<'_>, mut req: CodaRequest, limit: usize) -> Result<Value, ToolError> {
    let mut skip = 0usize;
    if let Some(pos) = req.query.iter().position(|(k, _)| k == "pageToken") {
        let token = req.query[pos].1.clone();
        if let Some(rest) = token.strip_prefix(CUT_TOKEN_PREFIX) {
            let (n, coda_token) = rest.split_once(':').ok_or_else(|| {
                ToolError::InvalidArguments(
                    "pageToken is malformed; start the listing again without it".into(),
                )
            })?;
            skip = n.parse().map_err(|_| {
                ToolError::InvalidArguments(
                    "pageToken is malformed; start the listing again without it".into(),
                )
            })?;
            req.query[pos].1 = coda_token.to_owned();
        }
    }
    let mut items: Vec<Value> = Vec::new();
    let mut next: Option<String>;
    let mut href = Value::Null;
    loop {
        let remaining = limit - items.len();
        req.query.retain(|(k, _)| k != "limit");
        req.query
            .push(("limit".into(), (remaining + skip).to_string()));
        let page = run.send(&req).await?;
        if href.is_null() {
            href = page["href"].clone();
        }
        let page_items = page["items"]
            .as_array()
            .cloned()
            .ok_or_else(|| CodaError::BadResponse("a list response had no items array".into()))?;
        next = page["nextPageToken"].as_str().map(str::to_owned);
        let this_token = req
            .query
            .iter()
            .find(|(k, _)| k == "pageToken")
            .map(|(_, v)| v.clone());
        let available = page_items.len().saturating_sub(skip);
        if available > remaining {
            // Cut: resume later at this same Coda page, skipping what we return now.
            let consumed = skip + remaining;
            items.extend(page_items.into_iter().skip(skip).take(remaining));
            next = this_token.map(|t| format!("{CUT_TOKEN_PREFIX}{consumed}:{t}"));
            break;
        }
        items.extend(page_items.into_iter().skip(skip));
        skip = 0;
        match &next {
            Some(token) if items.len() < limit => {
                req.query.retain(|(k, _)| k != "pageToken");
                req.query.push(("pageToken".into(), token.clone()));
            }
            _ => break,
        }
    }
    let mut out = json!({"items": items, "count": items.len()});
    if let Some(token) = next {
        out["nextPageToken"] = json!(token);
    }
    Ok(out)
}

/// After a 202: optionally poll `/mutationStatus/{requestId}` until Coda reports it applied.
/// An early 404 is replication lag, not failure.
async fn finish_write(
    run: &mut Run<'_>,
    accepted: Value,
    wait: bool,
    timeout: Duration,
) -> Result<Value, ToolError> {
    let mut result = match accepted {
        Value::Object(m) => m,
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
        return Ok(Value::Object(result));
    };
    if !wait {
        result.insert("completed".into(), json!(false));
        result.insert("status".into(), json!("queued: Coda accepted the write and applies it shortly; poll the mutation status with this requestId"));
        return Ok(Value::Object(result));
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let mut delay = Duration::from_millis(150);
    let status_path = format!(
        "/mutationStatus/{}",
        utf8_percent_encode(&request_id, SEGMENT)
    );
    let completed = loop {
        tokio::time::sleep(
            delay.min(deadline.saturating_duration_since(tokio::time::Instant::now())),
        )
        .await;
        match run.send(&CodaRequest::get(status_path.clone())).await {
            Ok(status) if status["completed"].as_bool() == Some(true) => {
                if let Some(w) = status.get("warning") {
                    result.insert("warning".into(), w.clone());
                }
                break true;
            }
            Ok(_) => {}
            Err(CodaError::Api { status: 404, .. }) => {}
            Err(e) => return Err(e.into()),
        }
        if tokio::time::Instant::now() >= deadline {
            break false;
        }
        delay = (delay * 3 / 2).min(Duration::from_secs(1));
    };
    result.insert("completed".into(), json!(completed));
    result.insert("status".into(), json!(if completed {
        "completed: the change is applied in Coda"
    } else {
        "still processing: Coda accepted the write but has not applied it yet; check again later with this requestId"
    }));
    Ok(Value::Object(result))
}
