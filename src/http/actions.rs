//! ChatGPT's side door: `POST /actions/{tool}` takes a tool's arguments as the JSON body and
//! answers with its result as JSON (GPT Actions cannot speak MCP), `POST /actions/callTool`
//! reaches every tool by name, and the OpenAPI documents describe them.
//!
//! ChatGPT gives a call 45 s and reads at most 100,000 characters, so every call here (and in
//! the seed's direct-call flow, which shares these helpers) works to a deadline it is told
//! about — write waits end, bulk writes stop sending, and what was sent is reported with its
//! `requestId`s — and its answer is cut cleanly to fit, with a note saying how to get the rest.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::time::Instant;

use super::auth::Principal;
use super::guard::{depth, MAX_DEPTH};
use super::{AppState, Caller, MAX_BODY_BYTES};
use crate::coda::CodaError;
use crate::engine::{Engine, ToolCall};
use crate::openapi;
use crate::tools::{ExecOptions, ToolError, ToolOutput, CATALOGUE};

/// ChatGPT reads at most 100,000 characters of a response; answers stay under it with room.
pub(super) const MAX_RESPONSE_CHARS: usize = 99_000;
/// Long strings are never cut shorter than this when a result must shrink.
const MIN_STRING: usize = 100;

/// What became of a call run against the call deadline.
pub(super) enum Bounded {
    /// It finished (possibly early, with "still processing" writes) in time.
    Done(Result<ToolOutput, ToolError>),
    /// It is still running after the hard deadline (the given time). It is not cancelled —
    /// a write already sent must not be abandoned halfway — and finishes in the background.
    StillRunning(
        tokio::task::JoinHandle<Result<ToolOutput, ToolError>>,
        Duration,
    ),
}

/// Calls running through the ChatGPT faces (GPT Actions and direct calls), counted from their
/// start until their task really ends — past the hard deadline too, since such a call is
/// answered "still processing" but never cancelled. How many there may be is bounded:
/// [`MAX_CALLS_PER_GUEST`] for each pass-through caller, [`MAX_CALLS`] in all, and the owner
/// may use the whole of it. A caller at its bound gets a clear tool error for new calls until
/// one ends.
#[derive(Default)]
pub(super) struct RunningCalls {
    running: std::sync::Mutex<std::collections::HashMap<Principal, usize>>,
}

/// Most calls running at once, in all …
pub(super) const MAX_CALLS: usize = 64;
/// … and for one caller other than the owner.
pub(super) const MAX_CALLS_PER_GUEST: usize = 8;

/// One call counted as running until dropped.
struct RunningCall {
    calls: std::sync::Arc<RunningCalls>,
    principal: Principal,
}

impl Drop for RunningCall {
    fn drop(&mut self) {
        let mut running = self.calls.running.lock().expect("running calls");
        if let Some(n) = running.get_mut(&self.principal) {
            *n -= 1;
            if *n == 0 {
                running.remove(&self.principal);
            }
        }
    }
}

impl RunningCalls {
    /// Counts a new call for `principal`, or says why it may not start.
    fn start(self: &std::sync::Arc<Self>, principal: Principal) -> Result<RunningCall, String> {
        let mut running = self.running.lock().expect("running calls");
        let all: usize = running.values().sum();
        let mine = running.get(&principal).copied().unwrap_or(0);
        let over = if principal == Principal::Owner {
            all >= MAX_CALLS
        } else {
            all >= MAX_CALLS || mine >= MAX_CALLS_PER_GUEST
        };
        if over {
            return Err(format!("Too many calls are running at once ({mine} of yours, {all} in all; at most {MAX_CALLS_PER_GUEST} per caller), some of them still waiting for Coda past their deadline: wait for them to finish — their outcomes show in the dashboard, and writes can be checked with coda_get_mutation_status — before starting more"));
        }
        *running.entry(principal).or_default() += 1;
        Ok(RunningCall {
            calls: self.clone(),
            principal,
        })
    }

    /// Calls running right now.
    pub(super) fn count(&self) -> usize {
        self.running.lock().expect("running calls").values().sum()
    }
}

/// Runs a tool for a ChatGPT face within the engine's call deadline. The tool is told a soft
/// deadline (write waits end there, a bulk write sends no batch after it) well before the
/// hard one, so slow writes come back with their `requestId`s and "still processing"; the
/// hard deadline only answers for a call stuck in Coda itself, and never cancels it (within
/// the bound of [`RunningCalls`]).
/// Non-list results come back whole, for the caller to [`fit`] into its own envelope.
pub(super) async fn run_bounded(
    state: &AppState,
    name: &str,
    caller: Option<Caller>,
    session: &str,
    client: &'static str,
    args: Value,
    mut opts: ExecOptions,
) -> Bounded {
    let engine = &state.engine;
    let principal = caller
        .as_ref()
        .map(Caller::principal)
        .unwrap_or(Principal::Owner);
    let counted = match state.running.start(principal) {
        Ok(counted) => counted,
        Err(why) => return Bounded::Done(Err(ToolError::Unsupported(why))),
    };
    let limit = engine.config().call_deadline;
    let started = Instant::now();
    let hard = started + limit;
    let soft = hard - (limit / 4).min(Duration::from_secs(10));
    opts.deadline = Some(opts.deadline.map_or(soft, |d| d.min(soft)));
    opts.keep_oversized = true;
    let (engine, name, session) = (engine.clone(), name.to_owned(), session.to_owned());
    let mut task = tokio::spawn(async move {
        let Some((tool, schema)) = engine.catalogue().get(&name) else {
            return Err(ToolError::Unsupported(format!("unknown tool '{name}'")));
        };
        let call = ToolCall {
            tool: (tool, schema),
            caller: caller.as_ref(),
            session: &session,
            client,
        };
        let outcome = engine.run_tool(call, args, &opts).await;
        drop(counted);
        outcome
    });
    let inside = |e: tokio::task::JoinError| {
        ToolError::Unsupported(format!("the call failed inside the server: {e}"))
    };
    match tokio::time::timeout_at(hard, &mut task).await {
        Ok(outcome) => Bounded::Done(outcome.unwrap_or_else(|e| Err(inside(e)))),
        Err(_) => {
            // Still counted (its task holds the count) until it really ends.
            let task = tokio::spawn(async move { task.await.unwrap_or_else(|e| Err(inside(e))) });
            Bounded::StillRunning(task, started.elapsed())
        }
    }
}

/// What [`fit`] had to cut.
#[derive(Default)]
struct Cut {
    /// Strings shortened.
    strings: usize,
    /// Arrays shortened: where (JSON pointer), how many kept, how many there were.
    arrays: Vec<(String, usize, usize)>,
}

fn longest_string(v: &Value) -> usize {
    match v {
        Value::String(s) => s.chars().count(),
        Value::Array(a) => a.iter().map(longest_string).max().unwrap_or(0),
        Value::Object(o) => o.values().map(longest_string).max().unwrap_or(0),
        _ => 0,
    }
}

/// Shortens every string longer than `cap` characters, ending it with a marker.
fn cap_strings(v: &mut Value, cap: usize, cut: &mut Cut) {
    match v {
        Value::String(s) => {
            let count = s.chars().count();
            // Cutting a few characters would cost more in the marker than it saves.
            if count > cap + 40 {
                let head: String = s.chars().take(cap).collect();
                *s = format!("{head}… [cut {} characters]", count - cap);
                cut.strings += 1;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| cap_strings(x, cap, cut)),
        Value::Object(o) => o.values_mut().for_each(|x| cap_strings(x, cap, cut)),
        _ => {}
    }
}

/// The JSON pointer and serialized size of the largest non-empty array in `v`.
fn largest_array(v: &Value, path: &str, best: &mut Option<(String, usize)>) {
    match v {
        Value::Array(a) => {
            if !a.is_empty() {
                let size = serde_json::to_string(v).map(|s| s.len()).unwrap_or(0);
                if best.as_ref().is_none_or(|(_, b)| size > *b) {
                    *best = Some((path.to_owned(), size));
                }
            }
            for (i, x) in a.iter().enumerate() {
                largest_array(x, &format!("{path}/{i}"), best);
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                let key = k.replace('~', "~0").replace('/', "~1");
                largest_array(x, &format!("{path}/{key}"), best);
            }
        }
        _ => {}
    }
}

/// Adds the note saying what was cut and how to get the rest (a list whose items were left
/// out loses its `nextPageToken`, which would skip them).
fn annotate(mut v: Value, cut: &Cut) -> Value {
    if cut.strings == 0 && cut.arrays.is_empty() {
        return v;
    }
    let mut parts = Vec::new();
    if cut.strings > 0 {
        parts.push(format!(
            "{} long text value(s) were shortened (each ends with '… [cut N characters]')",
            cut.strings
        ));
    }
    for (path, kept, total) in &cut.arrays {
        let at = if path.is_empty() { "the result" } else { path };
        parts.push(format!(
            "only the first {kept} of {total} entries of {at} are included"
        ));
    }
    let note = format!(
        "This result was cut to stay under 100,000 characters: {}. Ask for less to see the rest: a smaller limit{}, fewer columns, or one item at a time.",
        parts.join("; "),
        match cut.arrays.iter().find(|(p, _, _)| p == "/items") {
            Some((_, kept, _)) => format!(" (at most {})", (*kept).max(1)),
            None => String::new(),
        }
    );
    if !v.is_object() {
        v = json!({ "result": v });
    }
    let o = v.as_object_mut().expect("an object");
    if cut.arrays.iter().any(|(p, _, _)| p == "/items") {
        o.remove("nextPageToken");
    }
    o.insert("truncated".into(), Value::String(note));
    v
}

/// Cuts `value` cleanly until `size(value) <= max` (`size` measures the whole answer it will
/// travel in): first the longest strings, as little as needed, then — only if that is not
/// enough — trailing entries of the largest arrays. The result stays valid JSON and says what
/// was cut and how to get the rest in a `truncated` note.
pub(super) fn fit(value: Value, max: usize, size: impl Fn(&Value) -> usize) -> Value {
    if size(&value) <= max {
        return value;
    }
    let candidate = |cap: usize| {
        let mut v = value.clone();
        let mut cut = Cut::default();
        cap_strings(&mut v, cap, &mut cut);
        annotate(v, &cut)
    };
    let longest = longest_string(&value);
    if longest > MIN_STRING && size(&candidate(MIN_STRING)) <= max {
        // The largest cap that fits: `lo` fits, `hi` does not.
        let (mut lo, mut hi) = (MIN_STRING, longest);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if size(&candidate(mid)) <= max {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        return candidate(lo);
    }
    let mut v = value.clone();
    let mut cut = Cut::default();
    cap_strings(&mut v, MIN_STRING, &mut cut);
    for _ in 0..32 {
        let annotated = annotate(v.clone(), &cut);
        if size(&annotated) <= max {
            return annotated;
        }
        let mut best = None;
        largest_array(&v, "", &mut best);
        let Some((path, _)) = best else { break };
        let total = v
            .pointer(&path)
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let with = |k: usize| {
            let mut w = v.clone();
            if let Some(a) = w.pointer_mut(&path).and_then(Value::as_array_mut) {
                a.truncate(k);
            }
            let mut c = Cut {
                strings: cut.strings,
                arrays: cut.arrays.clone(),
            };
            c.arrays.push((path.clone(), k, total));
            (w, c)
        };
        // The most entries that fit (0 when none does: then the next array is cut too).
        let (mut lo, mut hi) = (0usize, total);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            let (w, c) = with(mid);
            if size(&annotate(w, &c)) <= max {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let (w, c) = with(lo);
        v = w;
        cut = c;
    }
    // Nothing left to cut (thousands of small fields): say so rather than send it.
    let note = json!({"truncated": "This result is too large to return within 100,000 characters. Ask for less: a smaller limit, fewer columns, or one item at a time."});
    if size(&note) <= max {
        note
    } else {
        json!({})
    }
}

/// The most characters an answer to ChatGPT may have: the engine's output budget, never
/// more than ChatGPT reads.
pub(super) fn response_limit(engine: &Engine) -> usize {
    engine.config().output_budget.min(MAX_RESPONSE_CHARS)
}

fn json_len(v: &Value) -> usize {
    serde_json::to_string(v)
        .map(|s| s.len())
        .unwrap_or(usize::MAX)
}

/// `/openapi.json` and `/openapi/mcp.json`: public, no secrets.
pub fn public_routes() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(actions_schema))
        .route("/openapi/mcp.json", get(seed_schema))
}

/// The action routes (authenticated by the caller of this function).
pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/actions/{tool}", post(call))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn actions_schema(State(state): State<AppState>) -> Json<Value> {
    Json(openapi::actions(
        state.engine.catalogue(),
        &state.server_url(),
    ))
}

async fn seed_schema(State(state): State<AppState>) -> Json<Value> {
    Json(openapi::seed_mcp(&state.server_url()))
}

/// An error in the schema's `Error` shape.
pub fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"error": kind, "message": message.into()})),
    )
        .into_response()
}

fn tool_error_response(name: &str, e: ToolError) -> Response {
    let message = format!("{name}: {e}");
    match &e {
        ToolError::InvalidArguments(_) => {
            error(StatusCode::BAD_REQUEST, "invalid_arguments", message)
        }
        ToolError::Unsupported(_) => error(StatusCode::BAD_REQUEST, "unsupported", message),
        ToolError::Coda(c) => match c.status() {
            Some(404) => error(StatusCode::NOT_FOUND, "not_found", message),
            Some(400 | 422) => error(StatusCode::BAD_REQUEST, "coda_rejected", message),
            Some(429) => {
                let mut resp = error(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
                resp
            }
            _ if matches!(c, CodaError::Unreachable(m) if m.contains("timed out")) => {
                error(StatusCode::GATEWAY_TIMEOUT, "timeout", message)
            }
            _ => error(StatusCode::BAD_GATEWAY, "coda_error", message),
        },
    }
}

async fn call(State(state): State<AppState>, Path(route): Path<String>, req: Request) -> Response {
    let caller = req.extensions().get::<Caller>().cloned();
    let body = <Bytes as axum::extract::FromRequest<()>>::from_request(req, &()).await;
    let bytes = match body {
        Ok(b) => b,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("The body exceeds {} MiB", MAX_BODY_BYTES >> 20),
            );
        }
        Err(rejection) => return error(StatusCode::BAD_REQUEST, "bad_body", rejection.body_text()),
    };
    let body: Value = if bytes.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_json",
                    format!("The body is not valid JSON: {e}"),
                )
            }
        }
    };
    if depth(&body) > MAX_DEPTH {
        return error(
            StatusCode::BAD_REQUEST,
            "too_deep",
            format!("The body is nested deeper than {MAX_DEPTH} levels"),
        );
    }
    let (name, args) = if route == "callTool" {
        let Some(name) = body.get("name").and_then(Value::as_str) else {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_arguments",
                "callTool needs {\"name\": <tool>, \"arguments\": {...}}",
            );
        };
        let args = body.get("arguments").cloned().unwrap_or(json!({}));
        if let Some(extra) = body
            .as_object()
            .and_then(|o| o.keys().find(|k| *k != "name" && *k != "arguments"))
        {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_arguments",
                format!("callTool takes only name and arguments, not '{extra}'"),
            );
        }
        (name.to_owned(), args)
    } else {
        (route, body)
    };
    let engine = &state.engine;
    if engine.catalogue().get(&name).is_none() {
        let read_only = engine.config().read_only && CATALOGUE.iter().any(|t| t.name == name);
        let message = if read_only {
            format!("Tool '{name}' changes Coda and this server runs in read-only mode")
        } else {
            let hints = engine.catalogue().suggest(&name);
            format!(
                "Unknown tool '{}'{}",
                name.chars().take(80).collect::<String>(),
                if hints.is_empty() {
                    String::new()
                } else {
                    format!("; did you mean {}?", hints.join(", "))
                }
            )
        };
        return error(StatusCode::NOT_FOUND, "unknown_tool", message);
    }
    // An app approved for reading only: refused in HTTP's own terms (RFC 6750 §3.1).
    let writes = engine
        .catalogue()
        .get(&name)
        .is_some_and(|(tool, _)| !tool.is_read_only());
    if writes && caller.as_ref().is_some_and(|c| !c.may_write()) {
        let mut resp = error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("'{name}' changes Coda, and this app was approved for reading only (scope coda:read without coda:write)"),
        );
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(
                "Bearer error=\"insufficient_scope\", scope=\"coda:read coda:write\"",
            ),
        );
        return resp;
    }
    let mut opts = engine.exec_options();
    let limit = response_limit(engine);
    // Lists are cut between items (with a nextPageToken) with room to spare.
    opts.output_budget = limit.saturating_sub(1_000).max(1_000);
    engine.session_seen("action", "GPT Action", "", "action");
    match run_bounded(&state, &name, caller, "action", "GPT Action", args, opts).await {
        Bounded::Done(Ok(out)) => Json(fit(out.value, limit, json_len)).into_response(),
        Bounded::Done(Err(e)) => tool_error_response(&name, e),
        Bounded::StillRunning(_, after) => error(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            format!("still processing: {name} is still running after {} s (Coda is slow or busy). It was not cancelled: a write already sent stays applied and its outcome shows in the dashboard's tool calls; check (e.g. with coda_get_mutation_status or by reading the data) before retrying", after.as_secs()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_shortens_long_strings_as_little_as_needed() {
        let v = json!({"id": "r1", "text": "a".repeat(50_000), "small": "keep me"});
        let out = fit(v, 20_000, json_len);
        assert!(json_len(&out) <= 20_000);
        assert!(json_len(&out) > 19_000, "cut no more than needed");
        assert_eq!(out["id"], "r1");
        assert_eq!(out["small"], "keep me");
        let text = out["text"].as_str().unwrap();
        assert!(
            text.starts_with("aaaa") && text.contains("… [cut "),
            "{}",
            &text[text.len() - 40..]
        );
        assert!(out["truncated"]
            .as_str()
            .unwrap()
            .contains("1 long text value"));
    }

    #[test]
    fn fit_leaves_out_trailing_items_only_when_strings_are_short() {
        let items: Vec<Value> = (0..5_000).map(|i| json!({"n": i, "name": "x"})).collect();
        let v = json!({"items": items, "count": 5_000, "nextPageToken": "abc"});
        let out = fit(v, 30_000, json_len);
        assert!(json_len(&out) <= 30_000);
        let kept = out["items"].as_array().unwrap();
        assert!(!kept.is_empty() && kept.len() < 5_000);
        assert_eq!(kept[0]["n"], 0, "the first items are kept");
        assert!(
            out.get("nextPageToken").is_none(),
            "a token would skip the left-out items"
        );
        let note = out["truncated"].as_str().unwrap();
        assert!(
            note.contains(&format!("first {} of 5000", kept.len())),
            "{note}"
        );
    }

    #[test]
    fn fit_measures_what_the_caller_sends() {
        // Twice the value, as the direct flow sends it (text and structuredContent).
        let v = json!({"text": "\"quoted\" ".repeat(10_000)});
        let twice = |v: &Value| json_len(v) + json_len(&Value::String(v.to_string()));
        let out = fit(v.clone(), 50_000, twice);
        assert!(twice(&out) <= 50_000);
        assert_eq!(
            fit(v.clone(), usize::MAX, twice),
            v,
            "what fits is untouched"
        );
    }
}
