//! The toolkit every tool kind runs on: a [`Run`] (the client, the options, the counts), Coda
//! requests built from a row's parameter locations, lists followed to a limit (resume tokens,
//! 504 halving, the output budget), and writes confirmed. [`super::dispatch`] picks what a row
//! needs; the composites (`upsert`, `page_text`, `resolve_link`, `search`) use the same parts.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Map, Value};

use super::links::{self, CodaLink};
use super::{Confirm, Loc, ToolDef};
use crate::coda::{CodaClient, CodaError, CodaPath, CodaRequest, CodaResponse, RateClass};

/// A Coda path of `segments`, for IDs the server found itself (in a link, in Coda's own
/// answers): one that cannot be a path segment is refused as the argument it came from.
pub(super) fn path_of<const N: usize>(
    argument: &str,
    segments: [&str; N],
) -> Result<CodaPath, ToolError> {
    CodaPath::new(segments).map_err(|e| ToolError::InvalidArguments(format!("'{argument}': {e}")))
}

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
    /// The client cancelled the call before anything was sent to Coda.
    #[error("cancelled by the client before anything was sent to Coda")]
    Cancelled,
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
    /// Return a non-list result over the budget whole instead of refusing it, because the
    /// caller cuts it to fit its own envelope (the HTTP faces for ChatGPT do).
    pub keep_oversized: bool,
    /// When the caller must answer: write waits end here, and a bulk write sends no batch
    /// after it (the rest are reported as not sent), so a slow call still returns its
    /// `requestId`s instead of being cut off.
    pub deadline: Option<tokio::time::Instant>,
    /// Where progress goes when the client asked for it (`progressToken`).
    pub progress: Option<super::ProgressSink>,
    /// Cancelled when the client cancels the call: it stops at the next safe point.
    pub cancel: Option<tokio_util::sync::CancellationToken>,
}

impl ExecOptions {
    /// Whether the deadline has passed.
    pub(super) fn past_deadline(&self) -> bool {
        self.deadline
            .is_some_and(|d| tokio::time::Instant::now() >= d)
    }

    /// Whether the client cancelled the call.
    pub(super) fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(|c| c.is_cancelled())
    }

    /// Reports progress, when the client asked for it.
    pub(super) fn report(&self, done: f64, total: Option<f64>, message: impl Into<String>) {
        if let Some(sink) = &self.progress {
            sink.report(done, total, message);
        }
    }
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            wait_timeout: Duration::from_secs(20),
            output_budget: 100_000,
            keep_oversized: false,
            deadline: None,
            progress: None,
            cancel: None,
        }
    }
}

/// How soon a write is first checked, and the longest gap between checks.
const CHECK_FIRST: Duration = Duration::from_millis(150);
const CHECK_MAX: Duration = Duration::from_secs(1);

/// The one way tools wait for Coda: checks spaced from `first`, half as long again each
/// time up to `max`, never sleeping past the deadline. Used for write confirmations (mutation
/// status, or the resource itself) and page exports.
pub(super) struct Poller {
    delay: Duration,
    max: Duration,
    deadline: tokio::time::Instant,
    checked: bool,
    cancel: Option<tokio_util::sync::CancellationToken>,
    checks: u32,
}

impl Poller {
    /// Checks until `deadline`, the first after `first`.
    pub fn new(first: Duration, max: Duration, deadline: tokio::time::Instant) -> Self {
        Poller {
            delay: first,
            max,
            deadline,
            checked: false,
            cancel: None,
            checks: 0,
        }
    }

    /// The same, ending early when the client cancels the call (waiting is always safe to stop:
    /// what was sent stays sent, and the result says it is not yet confirmed).
    pub fn cancelled_by(mut self, opts: &ExecOptions) -> Self {
        self.cancel = opts.cancel.clone();
        self
    }

    /// Waits for the next check; false once the deadline passed (there is always a first
    /// check, and one at or after the deadline) or the call was cancelled.
    pub async fn wait(&mut self) -> bool {
        let now = tokio::time::Instant::now();
        if self.checked && now >= self.deadline {
            return false;
        }
        let pause =
            tokio::time::sleep(self.delay.min(self.deadline.saturating_duration_since(now)));
        match &self.cancel {
            Some(cancel) => tokio::select! {
                _ = pause => {}
                _ = cancel.cancelled() => return false,
            },
            None => pause.await,
        }
        self.checked = true;
        self.checks += 1;
        self.delay = (self.delay * 3 / 2).min(self.max);
        true
    }

    /// How many checks it has let through.
    pub fn checks(&self) -> u32 {
        self.checks
    }
}

/// One tool call in progress: the client plus the cost counters.
pub(super) struct Run<'a> {
    pub client: &'a CodaClient,
    pub opts: &'a ExecOptions,
    requests: u32,
    retries: u32,
    rate_limited: u32,
    /// Whether waits for a write report their checks as progress (a bulk write reports its
    /// batches instead).
    pub report_waits: bool,
}

impl<'a> Run<'a> {
    /// The call's result with what it cost.
    pub fn output(self, value: Value) -> ToolOutput {
        ToolOutput {
            value,
            coda_requests: self.requests,
            retries: self.retries,
            rate_limited: self.rate_limited,
        }
    }

    /// A fresh run with zeroed counters.
    pub fn new(client: &'a CodaClient, opts: &'a ExecOptions) -> Self {
        Run {
            client,
            opts,
            requests: 0,
            retries: 0,
            rate_limited: 0,
            report_waits: true,
        }
    }

    /// Sends one request, counting it; the decoded body.
    pub async fn send(&mut self, req: &CodaRequest) -> Result<Value, CodaError> {
        self.send_full(req).await.map(|r| r.body)
    }

    /// Sends one request, counting it; status and body (a write's 200 and 202 differ).
    pub async fn send_full(&mut self, req: &CodaRequest) -> Result<CodaResponse, CodaError> {
        self.requests += 1;
        let resp = self.client.send(req).await?;
        self.retries += resp.retries;
        self.rate_limited += resp.rate_limited;
        Ok(resp)
    }

    /// Reports a check of a wait as progress (unless a bulk write reports its batches).
    pub fn report_wait(&self, poll: &Poller, what: &str) {
        if self.report_waits {
            let n = poll.checks();
            self.opts
                .report(f64::from(n), None, format!("{what} (check {n})"));
        }
    }

    /// When waiting for a write must end: the wait timeout, or the caller's deadline if sooner.
    pub fn wait_until(&self) -> tokio::time::Instant {
        let timeout = tokio::time::Instant::now() + self.opts.wait_timeout;
        self.opts.deadline.map_or(timeout, |d| d.min(timeout))
    }

    /// The output budget less room for the result's envelope.
    pub fn item_budget(&self) -> usize {
        self.opts.output_budget.saturating_sub(2_000)
    }
}

/// Asks Coda which object a browser URL points at; `None` when it names no doc.
pub(super) async fn resolve_browser_link(
    run: &mut Run<'_>,
    param: &str,
    url: &str,
) -> Result<Option<CodaLink>, ToolError> {
    let answer = run
        .send(&CodaRequest::get("/resolveBrowserLink").query("url", url))
        .await;
    match answer {
        Ok(resolved) => Ok(resolved["resource"]["href"]
            .as_str()
            .and_then(links::from_href)),
        Err(CodaError::Api {
            status: 400,
            message,
            ..
        }) => Err(ToolError::InvalidArguments(format!(
            "'{param}' is a URL Coda cannot resolve ({message}); pass the ID instead"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Builds the request from the catalogue's parameter locations. Coda URLs have already
/// been replaced by IDs (`dispatch::ids_from_links`).
///
/// Writes get a JSON body, `{}` at least, except [`BODYLESS_WRITES`].
pub(super) fn build(
    tool: &ToolDef,
    schema: &Value,
    args: &Map<String, Value>,
    method: &str,
    template: &str,
    class: RateClass,
) -> Result<CodaRequest, ToolError> {
    let mut path_args: HashMap<&str, String> = HashMap::new();
    let mut query = Vec::new();
    let mut body = Map::new();
    let mut whole_body = None;
    let mut require_latest = false;
    for p in tool.params {
        let value = args.get(p.name).cloned().or_else(|| {
            (p.loc == Loc::Query)
                .then(|| schema["properties"][p.name]["default"].clone())
                .filter(|v| !v.is_null())
        });
        let Some(value) = value else { continue };
        match p.loc {
            Loc::Path => {
                let text = value
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| value.to_string());
                path_args.insert(p.name, text);
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
            Loc::DocVersionHeader => require_latest = value.as_bool() == Some(true),
            Loc::Local => {}
        }
    }
    // Segment by segment: a template's placeholder is a whole segment, and each argument
    // becomes exactly that one segment (never `.`, `..` or empty).
    let mut path = CodaPath::default();
    for part in template.split('/').filter(|p| !p.is_empty()) {
        let segment = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) => path_args.get(name).cloned().ok_or_else(|| {
                ToolError::InvalidArguments(format!("missing a path argument for {template}"))
            })?,
            None => part.to_owned(),
        };
        let name = part.trim_matches(|c| c == '{' || c == '}');
        path = path
            .join(segment)
            .map_err(|e| ToolError::InvalidArguments(format!("'{name}': {e}")))?;
    }
    let method = Method::from_bytes(method.as_bytes()).expect("catalogue methods are valid");
    let body = match whole_body {
        Some(b) => Some(b),
        None if !body.is_empty() => Some(Value::Object(body)),
        // Coda's writes take a body (required), also when every field is left out; the one
        // that takes none, pushButton, gets none.
        None if (method == Method::POST || method == Method::PUT || method == Method::PATCH)
            && !BODYLESS_WRITES.contains(&template) =>
        {
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
        require_latest,
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
        format!("{RESUME_PREFIX}{}", hex_json(self))
    }

    fn decode(token: &str) -> Option<Resume> {
        unhex_json(token.strip_prefix(RESUME_PREFIX)?)
    }

    /// The token a caller passes back: Coda's own at a page start, ours otherwise.
    fn into_token(self) -> String {
        match (&self.token, self.skip) {
            (Some(t), 0) => t.clone(),
            _ => self.encode(),
        }
    }
}

/// `value` as JSON, hex-encoded: opaque, URL- and JSON-safe continuation tokens.
pub(super) fn hex_json(value: &impl serde::Serialize) -> String {
    let json = serde_json::to_string(value).expect("serializable");
    json.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The inverse of [`hex_json`]; `None` for anything malformed.
pub(super) fn unhex_json<T: serde::de::DeserializeOwned>(hex: &str) -> Option<T> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    serde_json::from_slice(&bytes?).ok()
}

/// What [`list_items`] collected.
pub(super) struct Listing {
    /// The items, in Coda's order.
    pub items: Vec<Value>,
    /// Where to continue, when more items exist (a `pageToken` the list tools accept).
    pub next: Option<String>,
    /// Whether the budget, rather than `limit` or the end, stopped the listing.
    pub cut_by_budget: bool,
    /// Coda's `nextSyncToken`, when the listing reached the end (list rows): passed back as
    /// `syncToken`, it lists only the rows changed since.
    pub sync: Option<String>,
}

/// The writes whose operation takes no body in Coda's spec (pushButton), by path template.
const BODYLESS_WRITES: &[&str] =
    &["/docs/{docId}/tables/{tableIdOrName}/rows/{rowIdOrName}/buttons/{columnIdOrName}"];

/// What a listing asks Coda for on each page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PageSize {
    /// `limit=` what is still wanted, at most this many (halved after a 504).
    Limit(usize),
    /// The operation declares no `limit`: never sent, Coda's own page size is followed.
    Codas,
}

/// Follows Coda's pages until `limit` items, the end, or `budget` (the sum of `measure`
/// over the items kept; at least one item is always kept). Coda clamps page sizes silently
/// and ignores `limit` once a `pageToken` is given, so a page may bring more than we need:
/// the listing then stops inside it and its continuation token says where to resume there.
/// Pages are as `pages` says. A 504 (large docs) is answered by halving the page size.
pub(super) async fn list_items(
    run: &mut Run<'_>,
    mut req: CodaRequest,
    limit: usize,
    pages: PageSize,
    budget: usize,
    measure: &(dyn Fn(&Value) -> usize + Sync),
) -> Result<Listing, ToolError> {
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
    let limit = limit.max(1);
    let mut items: Vec<Value> = Vec::new();
    let mut used = 0usize;
    let mut next: Option<Resume> = None;
    let mut sync: Option<String>;
    let mut cut_by_budget = false;
    let mut page_size: Option<usize> = None;
    'pages: loop {
        let remaining = limit - items.len();
        let this_token = req
            .query
            .iter()
            .find(|(k, _)| k == "pageToken")
            .map(|(_, v)| v.clone());
        let want = match pages {
            PageSize::Limit(cap) => Some(page_size.unwrap_or_else(|| {
                let cap = cap.min(req.path.page_maximum().unwrap_or(usize::MAX));
                remaining.saturating_add(skip).min(cap)
            })),
            PageSize::Codas => None,
        };
        req.query.retain(|(k, _)| k != "limit");
        if let Some(want) = want {
            req.query.push(("limit".into(), want.to_string()));
        }
        req.halve_on_504 = this_token.is_none() && want.is_some_and(|w| w > 1);
        let page = match (run.send(&req).await, want) {
            (Err(CodaError::Api { status: 504, .. }), Some(want)) if req.halve_on_504 => {
                page_size = Some((want / 2).max(1));
                tracing::debug!(path = %req.path, limit = want / 2, "coda timed out (504); halving the page size");
                continue;
            }
            (other, _) => other?,
        };
        let page_items = page["items"]
            .as_array()
            .cloned()
            .ok_or_else(|| CodaError::BadResponse("a list response had no items array".into()))?;
        let coda_next = page["nextPageToken"].as_str().map(str::to_owned);
        sync = page["nextSyncToken"].as_str().map(str::to_owned);
        let page_len = page_items.len();
        let resume_at = |index: usize| Resume {
            skip: index,
            token: this_token.clone(),
            query: if this_token.is_none() {
                first_query.clone()
            } else {
                vec![]
            },
        };
        for (i, item) in page_items.into_iter().enumerate().skip(skip) {
            if items.len() >= limit {
                next = Some(resume_at(i));
                break 'pages;
            }
            let size = measure(&item);
            if used + size > budget && !items.is_empty() {
                next = Some(resume_at(i));
                cut_by_budget = true;
                break 'pages;
            }
            used += size;
            items.push(item);
        }
        // A page shorter than the items still to skip (a smaller page after a 504) leaves
        // the rest of the skip for the next page.
        skip = skip.saturating_sub(page_len);
        match coda_next {
            // A cancelled listing stops between pages, handing back where to go on.
            Some(token) if items.len() < limit && run.opts.cancelled() => {
                next = Some(Resume {
                    skip,
                    token: Some(token),
                    query: vec![],
                });
                break;
            }
            Some(token) if items.len() < limit => {
                run.opts.report(
                    items.len() as f64,
                    None,
                    format!("read {} so far", items.len()),
                );
                req.query.retain(|(k, _)| k != "pageToken");
                req.query.push(("pageToken".into(), token));
            }
            Some(token) => {
                next = Some(Resume {
                    skip,
                    token: Some(token),
                    query: vec![],
                });
                break;
            }
            None => break,
        }
    }
    Ok(Listing {
        // Only a listing that reached the end may hand out the sync point.
        sync: sync.filter(|_| next.is_none()),
        items,
        next: next.map(Resume::into_token),
        cut_by_budget,
    })
}

/// [`list_pages`] of an operation that takes `limit` (every one the composites list).
pub(super) async fn list(
    run: &mut Run<'_>,
    req: CodaRequest,
    limit: usize,
) -> Result<Value, ToolError> {
    list_pages(run, req, limit, PageSize::Limit(usize::MAX)).await
}

/// A list tool's result: up to `limit` items within the output budget (whole items only),
/// `count`, and a `nextPageToken` when more exist; pages as `pages` says.
pub(super) async fn list_pages(
    run: &mut Run<'_>,
    req: CodaRequest,
    limit: usize,
    pages: PageSize,
) -> Result<Value, ToolError> {
    let budget = run.item_budget();
    let json_len = |item: &Value| {
        serde_json::to_string(item)
            .map(|s| s.len() + 1)
            .unwrap_or(0)
    };
    let listing = list_items(run, req, limit, pages, budget, &json_len).await?;
    let mut out = json!({"items": listing.items, "count": listing.items.len()});
    if let Some(token) = listing.next {
        out["nextPageToken"] = json!(token);
    }
    if let Some(token) = listing.sync {
        out["nextSyncToken"] = json!(token);
    }
    if listing.cut_by_budget {
        out["truncated"] = json!(format!(
            "The result was cut to stay under {} characters; call again with pageToken for the rest.",
            run.opts.output_budget));
    }
    Ok(out)
}

/// How a write tool confirms its effect ([`Confirm`]) and what that needs.
pub(super) struct Check {
    /// The catalogue's rule.
    pub how: Confirm,
    /// The written resource's path (for [`Confirm::Gone`]).
    pub write_path: CodaPath,
    /// The listing to look in (for [`Confirm::Listed`]).
    pub list_path: Option<CodaPath>,
    /// The value to look for there.
    pub key_value: Option<String>,
}

impl Check {
    /// The usual rule: Coda's `requestId` and its mutation status.
    pub fn mutation_status() -> Check {
        Check {
            how: Confirm::MutationStatus,
            write_path: CodaPath::default(),
            list_path: None,
            key_value: None,
        }
    }
}

/// After Coda accepted a write: says whether it is applied, waiting for it when `wait`.
/// With a `requestId`, polls `/mutationStatus/{requestId}` (an early 404 is replication
/// lag, not failure). A 200 answer is applied already. A 202 without `requestId` is only
/// called completed once the effect is visible (per the tool's [`Confirm`] rule).
pub(super) async fn finish_write(
    run: &mut Run<'_>,
    accepted: CodaResponse,
    wait: bool,
    check: &Check,
) -> Result<Value, ToolError> {
    let mut result = match accepted.body {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        other => {
            let mut m = Map::new();
            m.insert("response".into(), other);
            m
        }
    };
    if check.how == Confirm::Nothing {
        return Ok(Value::Object(result));
    }
    let request_id = result
        .get("requestId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let (completed, status) = match (request_id, accepted.status) {
        (Some(_), _) if !wait => (false, "queued: Coda accepted the write and applies it shortly; check with coda_get_mutation_status and this requestId".to_owned()),
        (Some(request_id), _) => {
            if wait_for_mutation(run, &request_id, &mut result).await? {
                (true, "completed: the change is applied in Coda".to_owned())
            } else {
                (false, "still processing: Coda accepted the write but has not applied it yet; check again later with coda_get_mutation_status and this requestId".to_owned())
            }
        }
        (None, status) if status != 202 => (
            true,
            "completed: Coda applied the change when it answered".to_owned(),
        ),
        (None, _) => confirm_without_request_id(run, check, wait, &mut result).await,
    };
    result.insert("completed".into(), json!(completed));
    result.insert("status".into(), json!(status));
    Ok(Value::Object(result))
}

/// A 202 without `requestId`: Coda gives nothing to poll, so the effect itself is looked for
/// (bounded by the wait timeout) — or the result says plainly that it is unconfirmed.
async fn confirm_without_request_id(
    run: &mut Run<'_>,
    check: &Check,
    wait: bool,
    result: &mut Map<String, Value>,
) -> (bool, String) {
    let (probe, what) = match (check.how, &check.list_path, &check.key_value) {
        (Confirm::Gone, _, _) => (CodaRequest::get(check.write_path.clone()), "gone (404)"),
        (Confirm::Listed { .. }, Some(path), Some(_)) => (CodaRequest::get(path.clone()), "listed"),
        _ => {
            return (false, "accepted: Coda gives no requestId to confirm this write; check its effect with a read".to_owned());
        }
    };
    if !wait {
        return (
            false,
            format!(
                "accepted: Coda gives no requestId for this write; it is applied shortly (check that GET {} shows it {what})",
                probe.path
            ),
        );
    }
    let mut poll = Poller::new(CHECK_FIRST, CHECK_MAX, run.wait_until()).cancelled_by(run.opts);
    let mut last_error = None;
    while poll.wait().await {
        run.report_wait(&poll, "waiting for Coda to show the change");
        let seen = match (check.how, run.send(&probe).await) {
            (Confirm::Gone, Err(CodaError::Api { status: 404, .. })) => true,
            (Confirm::Listed { array, key, .. }, Ok(listing)) => {
                let wanted = check.key_value.as_deref().unwrap_or_default();
                listing[array]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|entry| {
                        entry[key]
                            .as_str()
                            .is_some_and(|v| v.eq_ignore_ascii_case(wanted))
                    })
            }
            (_, Err(e)) if e.status() != Some(404) => {
                last_error = Some(e.to_string());
                false
            }
            _ => false,
        };
        if seen {
            result.insert(
                "confirmedBy".into(),
                json!(format!("GET {} shows it {what}", probe.path)),
            );
            return (
                true,
                "completed: Coda gives no requestId for this write, so the server checked the resource and saw the change".to_owned(),
            );
        }
    }
    let mut status = format!(
        "accepted, not yet visible: Coda gives no requestId for this write and GET {} did not show it {what} within {} s; check again later",
        probe.path,
        run.opts.wait_timeout.as_secs_f32()
    );
    if let Some(e) = last_error {
        status.push_str(&format!(" (last check failed: {e})"));
    }
    (false, status)
}

/// Polls the mutation status until completed or the wait timeout; true when completed.
pub(super) async fn wait_for_mutation(
    run: &mut Run<'_>,
    request_id: &str,
    result: &mut Map<String, Value>,
) -> Result<bool, ToolError> {
    let status_path = path_of("requestId", ["mutationStatus", request_id])?;
    let mut poll = Poller::new(CHECK_FIRST, CHECK_MAX, run.wait_until()).cancelled_by(run.opts);
    while poll.wait().await {
        run.report_wait(&poll, "waiting for Coda to apply the write");
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
    }
    Ok(false)
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

    fn ids(v: &Value) -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// A fake list operation on loopback with Coda's own page size of 3 (8 items), which
    /// honours `limit` when given; every request's query is logged.
    async fn paged_server() -> (
        CodaClient,
        std::sync::Arc<std::sync::Mutex<Vec<HashMap<String, String>>>>,
    ) {
        use axum::extract::Query;
        let seen: std::sync::Arc<std::sync::Mutex<Vec<HashMap<String, String>>>> =
            Default::default();
        let log = seen.clone();
        let app = axum::Router::new().route(
            "/apis/v1/items",
            axum::routing::get(move |Query(q): Query<HashMap<String, String>>| {
                let log = log.clone();
                async move {
                    log.lock().unwrap().push(q.clone());
                    let start: usize = q.get("pageToken").and_then(|t| t.parse().ok()).unwrap_or(0);
                    let size: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(3);
                    let end = (start + size).min(8);
                    let items: Vec<Value> = (start..end)
                        .map(|i| json!({"id": format!("r{i}")}))
                        .collect();
                    let mut body = json!({"items": items});
                    if end < 8 {
                        body["nextPageToken"] = json!(end.to_string());
                    }
                    axum::Json(body)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let client = CodaClient::new(
            &format!("http://{addr}/apis/v1"),
            Some(crate::coda::Secret::new("test-token")),
            crate::coda::RateLimits::CODA.scaled(100),
            crate::coda::RetryPolicy::default(),
        )
        .unwrap();
        (client, seen)
    }

    /// An operation that declares no `limit` (listWorkspaceMembers, listCategories) never
    /// gets one: Coda's own pages are followed by `pageToken` and cut to the caller's limit
    /// here, with a token that resumes inside the cut page.
    #[tokio::test]
    async fn a_list_without_a_page_size_never_sends_limit() {
        let (client, seen) = paged_server().await;
        let opts = ExecOptions::default();
        let mut run = Run::new(&client, &opts);
        let first = list_pages(&mut run, CodaRequest::get("/items"), 5, PageSize::Codas)
            .await
            .unwrap();
        assert_eq!(ids(&first), ["r0", "r1", "r2", "r3", "r4"]);
        let token = first["nextPageToken"].as_str().unwrap().to_owned();
        let rest = list_pages(
            &mut run,
            CodaRequest::get("/items").query("pageToken", token),
            5,
            PageSize::Codas,
        )
        .await
        .unwrap();
        assert_eq!(ids(&rest), ["r5", "r6", "r7"]);
        assert!(rest.get("nextPageToken").is_none());
        let queries = std::mem::take(&mut *seen.lock().unwrap());
        assert_eq!(queries.len(), 4, "two pages for each call: {queries:?}");
        assert!(
            queries.iter().all(|q| !q.contains_key("limit")),
            "no page asked for a limit: {queries:?}"
        );
        // An operation that declares it is asked for pages of what is still wanted.
        let sized = list(&mut run, CodaRequest::get("/items"), 5).await.unwrap();
        assert_eq!(sized["count"], 5);
        let queries = seen.lock().unwrap().clone();
        assert_eq!(queries.len(), 1);
        assert_eq!(queries[0]["limit"], "5");
    }

    /// Resuming inside the first page (skip 6) when a 504 halves the page to fewer items than
    /// the skip: the rest of the skip carries into the next page instead of being dropped,
    /// which used to return rows the previous call had already returned.
    #[tokio::test]
    async fn a_resume_token_survives_a_504_that_shrinks_the_page_below_its_skip() {
        let demo = crate::demo::start(
            crate::demo::DemoConfig {
                limits: None,
                rows_504_above: Some(8),
                ..Default::default()
            },
            0,
        )
        .await
        .unwrap();
        let client = CodaClient::new(
            &demo.base_url,
            Some(demo.token().clone()),
            crate::coda::RateLimits::CODA.scaled(100),
            crate::coda::RetryPolicy {
                base_backoff: Duration::from_millis(1),
                ..Default::default()
            },
        )
        .unwrap();
        let opts = ExecOptions::default();
        let mut run = Run::new(&client, &opts);
        let rows = "/docs/AbCDeFGH01/tables/Tasks/rows";
        let all = list(&mut run, CodaRequest::get(rows), 12).await.unwrap();
        let all = ids(&all);
        assert_eq!(all.len(), 12);
        let token = Resume {
            skip: 6,
            token: None,
            query: vec![],
        }
        .encode();
        let next = list(
            &mut run,
            CodaRequest::get(rows).query("pageToken", token),
            4,
        )
        .await
        .unwrap();
        assert_eq!(ids(&next), all[6..10], "rows 6 to 9, none repeated");
        // And the token it returns continues at row 10.
        let token = next["nextPageToken"].as_str().unwrap().to_owned();
        let after = list(
            &mut run,
            CodaRequest::get(rows).query("pageToken", token),
            2,
        )
        .await
        .unwrap();
        assert_eq!(ids(&after), all[10..12]);
        demo.shutdown();
    }
}
