//! OpenAI's Secure MCP Tunnel: an outbound-only tunnel. We long-poll OpenAI's control plane
//! for the JSON-RPC commands ChatGPT sends to this server and post each answer back; nothing
//! listens on a public address, and no OAuth runs on our side. The wire protocol is the one
//! `openai/tunnel-client` documents for third-party clients (`docs/protocol.md`,
//! `docs/openapi.json`): `GET /v1/tunnels/{id}/poll`, `POST /v1/tunnels/{id}/response` with
//! the command's `X-Tunnel-Shard-Token`, the tunnel API key as the bearer.
//!
//! Each command goes to the public face's router as an in-process request (the same limits,
//! engine and history as any public call), made as the owner's grant for this tunnel: the
//! tunnel API key is the credential, so only the owner's own OpenAI organisation reaches it.
//! Commands run concurrently (at most [`CONCURRENCY`]), each within its `response_timeout`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue, Method, Request, StatusCode};
use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::{Endpoint, OpenTunnel, TunnelError, TunnelProvider};
use crate::caller::{Caller, Grant};
use crate::coda::Secret;

/// OpenAI's control plane.
pub const DEFAULT_BASE: &str = "https://api.openai.com";
/// Commands asked for per poll (the protocol's maximum).
const POLL_LIMIT: u32 = 25;
/// The long-poll wait asked for; the service bounds it, so the HTTP timeout allows more.
const POLL_WAIT: Duration = Duration::from_secs(15);
/// Commands served at once; more wait for a free slot (the poll goes on meanwhile).
pub const CONCURRENCY: usize = 32;
/// Largest answer body read from our own face for one command.
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;
/// Answer POSTs tried at most this many times (on the protocol's retryable statuses).
const POST_ATTEMPTS: u32 = 4;
/// Consecutive failed polls after which the tunnel counts as dropped (the supervisor then
/// reconnects on its own backoff).
const POLL_FAILURES: u32 = 3;
/// What this client calls itself in the protocol's diagnostic headers.
const CLIENT_NAME: &str = "coda-mcp";
/// The address the tunnel's commands show as coming from (they come through OpenAI, in
/// process; no socket).
const TUNNEL_REMOTE: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1)),
    0,
);
/// The MCP request headers a command may set (everything else is dropped).
const REQUEST_HEADERS: [&str; 3] = ["mcp-session-id", "mcp-protocol-version", "last-event-id"];
/// The response headers passed back (the protocol's allowlist, Content-Type set by us).
const RESPONSE_HEADERS: [&str; 4] = [
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
    "www-authenticate",
];

/// How the tunnel is found and who may use it.
#[derive(Clone)]
pub struct OpenAiTunnelProvider {
    api_key: Option<Secret>,
    tunnel_id: Option<String>,
    base: reqwest::Url,
    http: reqwest::Client,
    instance: String,
}

impl OpenAiTunnelProvider {
    /// A provider for tunnel `tunnel_id` with its runtime API key (either may be missing:
    /// opening then fails with what to do).
    pub fn new(api_key: Option<Secret>, tunnel_id: Option<String>) -> Self {
        Self::with_base(api_key, tunnel_id, DEFAULT_BASE).expect("the default base is a URL")
    }

    /// The same against another control plane (the tests' stand-in on loopback).
    pub fn with_base(
        api_key: Option<Secret>,
        tunnel_id: Option<String>,
        base: &str,
    ) -> Result<Self, TunnelError> {
        let base = reqwest::Url::parse(base)
            .map_err(|e| TunnelError::Misconfigured(format!("control plane URL: {e}")))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| TunnelError::Misconfigured(e.to_string()))?;
        Ok(OpenAiTunnelProvider {
            api_key,
            tunnel_id,
            base,
            http,
            instance: uuid::Uuid::new_v4().to_string(),
        })
    }

    /// `{base}/v1/tunnels/{id}/{tail…}`, built from segments.
    fn url(&self, id: &str, tail: &[&str]) -> reqwest::Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments
                .pop_if_empty()
                .extend(["v1", "tunnels", id])
                .extend(tail);
        }
        url
    }

    fn request(
        &self,
        method: reqwest::Method,
        url: reqwest::Url,
        key: &Secret,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .bearer_auth(key.expose())
            .header("X-Tunnel-Client-Name", CLIENT_NAME)
            .header("X-Tunnel-Client-Version", env!("CARGO_PKG_VERSION"))
            .header("X-Tunnel-Client-Instance-Id", &self.instance)
            // The sessions live in this process.
            .header(
                "X-Tunnel-MCP-Server-Info",
                r#"{"version":1,"channels":[{"name":"main","proc_affinity":true}]}"#,
            )
    }
}

/// Why the control plane refused: 401/403 need the person, everything else may pass.
fn refusal(status: reqwest::StatusCode, body: &str) -> TunnelError {
    let code = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/code")
                .or_else(|| v.get("code"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let code = if code.is_empty() {
        String::new()
    } else {
        format!(" ({code})")
    };
    match status.as_u16() {
        401 => TunnelError::OpenAiRefused(format!("the tunnel API key was not accepted{code}: it may have been revoked; create a runtime key at https://platform.openai.com/settings/organization/api-keys and save it with `coda-mcp openai-tunnel set`")),
        403 => TunnelError::OpenAiRefused(format!("this key may not use the tunnel{code}: it needs the Tunnels Read and Use permissions")),
        404 => TunnelError::OpenAiRefused(format!("no such tunnel{code}: check the tunnel id at https://platform.openai.com/settings/organization/tunnels")),
        s => TunnelError::Unreachable(format!("OpenAI's tunnel service answered {s}{code}")),
    }
}

impl TunnelProvider for OpenAiTunnelProvider {
    fn open(&self, app: Arc<dyn Endpoint>) -> BoxFuture<'static, Result<OpenTunnel, TunnelError>> {
        let this = self.clone();
        async move {
            let key = this.api_key.clone().ok_or_else(|| TunnelError::Misconfigured("no OpenAI tunnel API key: save it with `coda-mcp openai-tunnel set` (or set OPENAI_TUNNEL_API_KEY); create one at https://platform.openai.com/settings/organization/api-keys".into()))?;
            let id = this.tunnel_id.clone().filter(|t| !t.trim().is_empty()).ok_or_else(|| TunnelError::Misconfigured("no tunnel id: pass --openai-tunnel-id (or set OPENAI_TUNNEL_ID); create the tunnel at https://platform.openai.com/settings/organization/tunnels".into()))?;
            let started = Instant::now();
            let metadata = this
                .request(reqwest::Method::GET, this.url(&id, &[]), &key)
                .timeout(Duration::from_secs(20))
                .send()
                .await
                .map_err(|e| TunnelError::Unreachable(format!("OpenAI's tunnel service: {}", without_url(&e))))?;
            if !metadata.status().is_success() {
                let status = metadata.status();
                let body = metadata.text().await.unwrap_or_default();
                return Err(refusal(status, &body));
            }
            let latency = Arc::new(AtomicU64::new(started.elapsed().as_millis().max(1) as u64));
            let close = CancellationToken::new();
            let (dropped, closed) = tokio::sync::oneshot::channel();
            let caller = Caller::Grant(Grant {
                id: format!("{}{id}", crate::caller::TUNNEL_GRANT_PREFIX),
                client_name: "ChatGPT (Secure MCP Tunnel)".into(),
                write: true,
            });
            tokio::spawn(poll_loop(
                Poller { provider: this, key, id: id.clone(), app, caller, latency: latency.clone() },
                close.clone(),
                dropped,
            ));
            Ok(OpenTunnel {
                url: format!("openai-tunnel:{id}"),
                closed: closed
                    .map(|r| r.unwrap_or_else(|_| TunnelError::Dropped("the poll loop ended".into())))
                    .boxed(),
                close,
                latency_ms: latency,
            })
        }
        .boxed()
    }
}

/// What the poll loop and its workers share.
#[derive(Clone)]
struct Poller {
    provider: OpenAiTunnelProvider,
    key: Secret,
    id: String,
    app: Arc<dyn Endpoint>,
    caller: Caller,
    latency: Arc<AtomicU64>,
}

/// One polled command, as the protocol describes it (unknown fields ignored).
#[derive(Deserialize)]
struct Command {
    request_id: String,
    shard_token: String,
    command_type: String,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    response_timeout: Option<Value>,
    #[serde(default)]
    headers: Map<String, Value>,
    #[serde(default)]
    jsonrpc: Option<Value>,
}

#[derive(Deserialize)]
struct Polled {
    #[serde(default)]
    commands: Vec<Command>,
}

async fn poll_loop(
    poller: Poller,
    close: CancellationToken,
    dropped: tokio::sync::oneshot::Sender<TunnelError>,
) {
    let workers = Arc::new(Semaphore::new(CONCURRENCY));
    let mut failures = 0u32;
    let reason = loop {
        let url = {
            let mut url = poller.provider.url(&poller.id, &["poll"]);
            url.query_pairs_mut()
                .append_pair("limit", &POLL_LIMIT.to_string())
                .append_pair("timeout_ms", &POLL_WAIT.as_millis().to_string());
            url
        };
        let answer = tokio::select! {
            _ = close.cancelled() => break None,
            a = poller.provider.request(reqwest::Method::GET, url, &poller.key)
                .timeout(POLL_WAIT + Duration::from_secs(15)).send() => a,
        };
        // One receipt time for every command of this answer, taken before its body is read.
        let received = Instant::now();
        let failure = match answer {
            Ok(a) if a.status() == reqwest::StatusCode::NO_CONTENT => {
                failures = 0;
                continue;
            }
            Ok(a) if a.status() == reqwest::StatusCode::OK => {
                failures = 0;
                match a.json::<Polled>().await {
                    Ok(polled) => {
                        for command in polled.commands {
                            let deadline = deadline(received, command.response_timeout.as_ref());
                            let poller = poller.clone();
                            let workers = workers.clone();
                            let close = close.clone();
                            tokio::spawn(async move {
                                let Ok(_slot) = workers.acquire_owned().await else {
                                    return;
                                };
                                tokio::select! {
                                    _ = close.cancelled() => {}
                                    _ = serve_command(&poller, command, deadline) => {}
                                }
                            });
                        }
                        continue;
                    }
                    Err(e) => TunnelError::Unreachable(format!(
                        "a poll answer could not be read: {}",
                        without_url(&e)
                    )),
                }
            }
            Ok(a) => {
                let status = a.status();
                let retry_after = retry_after(a.headers());
                let body = a.text().await.unwrap_or_default();
                let error = refusal(status, &body);
                if error.is_permanent() {
                    break Some(error);
                }
                if let Some(wait) = retry_after {
                    tokio::select! {
                        _ = close.cancelled() => break None,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
                error
            }
            Err(e) => {
                TunnelError::Unreachable(format!("OpenAI's tunnel service: {}", without_url(&e)))
            }
        };
        failures += 1;
        if failures >= POLL_FAILURES {
            break Some(TunnelError::Dropped(failure.to_string()));
        }
        let wait = super::Backoff {
            first: Duration::from_millis(250),
            max: Duration::from_secs(4),
        }
        .delay(failures);
        tokio::select! {
            _ = close.cancelled() => break None,
            _ = tokio::time::sleep(wait) => {}
        }
    };
    if let Some(reason) = reason {
        tracing::warn!(target: "coda_mcp::tunnel", error = %reason, "OpenAI tunnel: polling stopped");
        let _ = dropped.send(reason);
    }
    // Commands under way finish (or meet their deadline) on their own; a closed tunnel
    // cancels them through `close`.
}

/// The local deadline of a command: receipt + its `response_timeout`, when that is valid
/// (`30s`, `4500ms`, `0s`; one integer and one unit). Missing or malformed: no deadline.
fn deadline(received: Instant, timeout: Option<&Value>) -> Option<Instant> {
    parse_timeout(timeout?.as_str()?).and_then(|d| received.checked_add(d))
}

/// The protocol's duration grammar: `1*DIGIT ("ns" / "us" / "ms" / "s" / "m" / "h")`.
pub fn parse_timeout(text: &str) -> Option<Duration> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let (number, unit) = text.split_at(digits);
    let n: u64 = number.parse().ok()?;
    match unit {
        "ns" => Some(Duration::from_nanos(n)),
        "us" => Some(Duration::from_micros(n)),
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(3600).map(Duration::from_secs),
        _ => None,
    }
}

/// `Retry-After` in seconds, capped at a minute.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs.min(60)))
}

/// A reqwest error without the URL (which carries the tunnel id, not a secret, but noise).
fn without_url(e: &reqwest::Error) -> String {
    let e = e.to_string();
    e.split(" for url").next().unwrap_or(&e).to_owned()
}

/// What a command produced, to post back.
struct Answer {
    code: u16,
    json: Option<Value>,
    headers: Map<String, Value>,
    kind: &'static str,
}

async fn serve_command(poller: &Poller, command: Command, deadline: Option<Instant>) {
    if deadline.is_some_and(|d| d <= Instant::now()) {
        tracing::debug!(request = %command.request_id, "OpenAI tunnel: a command expired before it was served");
        return;
    }
    let work = async {
        let answers = match command.command_type.as_str() {
            "jsonrpc" => match &command.jsonrpc {
                Some(message) => forward(poller, &command, message).await,
                None => vec![synthesized(None, "the command carried no JSON-RPC message")],
            },
            "session_termination" => vec![terminate(poller, &command).await],
            other => {
                tracing::warn!(request = %command.request_id, command_type = other, "OpenAI tunnel: a command type this server does not know was skipped");
                return;
            }
        };
        for answer in answers {
            post_answer(poller, &command, answer).await;
        }
    };
    match deadline {
        Some(d) => {
            if tokio::time::timeout_at(d.into(), work).await.is_err() {
                tracing::warn!(request = %command.request_id, "OpenAI tunnel: a command ran past its response timeout and was dropped");
            }
        }
        None => work.await,
    }
}

/// The command's headers that an MCP request may carry.
fn request_headers(command: &Command) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::new();
    for (name, values) in &command.headers {
        let lower = name.to_ascii_lowercase();
        if !REQUEST_HEADERS.contains(&lower.as_str()) {
            continue;
        }
        let values: Vec<&str> = match values {
            Value::Array(v) => v.iter().filter_map(Value::as_str).collect(),
            Value::String(s) => vec![s.as_str()],
            _ => Vec::new(),
        };
        for v in values {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(lower.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                out.push((n, v));
            }
        }
    }
    out
}

fn face_request(method: Method, command: &Command, body: Body) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method)
        .uri("/mcp")
        .header(header::HOST, "127.0.0.1")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header(header::CONTENT_TYPE, "application/json");
    for (name, value) in request_headers(command) {
        builder = builder.header(name, value);
    }
    builder
        .body(body)
        .expect("a request built from checked parts")
}

fn answer_headers(headers: &axum::http::HeaderMap) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("Content-Type".into(), json!(["application/json"]));
    for name in RESPONSE_HEADERS {
        let values: Vec<Value> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(|v| json!(v))
            .collect();
        if !values.is_empty() {
            out.insert(canonical(name), Value::Array(values));
        }
    }
    out
}

fn canonical(name: &str) -> String {
    match name {
        "mcp-session-id" => "Mcp-Session-Id".into(),
        "mcp-protocol-version" => "Mcp-Protocol-Version".into(),
        "last-event-id" => "Last-Event-ID".into(),
        "www-authenticate" => "WWW-Authenticate".into(),
        other => other.into(),
    }
}

/// Sends one JSON-RPC message to the face: the notifications it streamed, then its answer.
async fn forward(poller: &Poller, command: &Command, message: &Value) -> Vec<Answer> {
    let id = message.get("id").cloned();
    let body = match serde_json::to_vec(message) {
        Ok(b) => b,
        Err(e) => return vec![synthesized(id, &e.to_string())],
    };
    let request = face_request(Method::POST, command, Body::from(body));
    let response = poller
        .app
        .handle(request, TUNNEL_REMOTE, poller.caller.clone())
        .await;
    let status = response.status();
    let headers = answer_headers(response.headers());
    let event_stream = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let bytes = match axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES).await {
        Ok(b) => b,
        Err(e) => {
            return vec![synthesized(
                id,
                &format!("the answer could not be read: {e}"),
            )]
        }
    };
    if id.is_none() {
        // A notification: acknowledged, nothing to return.
        return vec![Answer {
            code: status.as_u16(),
            json: None,
            headers,
            kind: "notify_ack",
        }];
    }
    if !event_stream {
        let json = serde_json::from_slice::<Value>(&bytes).ok();
        return match json {
            Some(json) => vec![Answer {
                code: status.as_u16(),
                json: Some(json),
                headers,
                kind: "jsonrpc_response",
            }],
            None => vec![synthesized_status(id, status)],
        };
    }
    let mut answers = Vec::new();
    let mut terminal = None;
    for data in sse_data(&String::from_utf8_lossy(&bytes)) {
        let Ok(json) = serde_json::from_str::<Value>(&data) else {
            continue;
        };
        let is_answer = json.get("id") == id.as_ref()
            && (json.get("result").is_some() || json.get("error").is_some());
        if is_answer {
            terminal = Some(json);
        } else {
            answers.push(Answer {
                code: 200,
                json: Some(json),
                headers: Map::new(),
                kind: "jsonrpc_notify",
            });
        }
    }
    answers.push(match terminal {
        Some(json) => Answer {
            code: status.as_u16(),
            json: Some(json),
            headers,
            kind: "jsonrpc_response",
        },
        None => synthesized(id, "the stream ended without an answer"),
    });
    answers
}

/// The `data` of each event in an SSE body (empty ones, like a priming event's, left out).
fn sse_data(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    for event in body.replace("\r\n", "\n").split("\n\n") {
        let data: Vec<&str> = event
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        let data = data.join("\n");
        if !data.trim().is_empty() {
            out.push(data);
        }
    }
    out
}

async fn terminate(poller: &Poller, command: &Command) -> Answer {
    let request = face_request(Method::DELETE, command, Body::empty());
    let response = poller
        .app
        .handle(request, TUNNEL_REMOTE, poller.caller.clone())
        .await;
    let code = if response.status().is_success() {
        204
    } else {
        response.status().as_u16()
    };
    Answer {
        code,
        json: None,
        headers: Map::new(),
        kind: "session_termination_response",
    }
}

/// An answer made here because the face gave none (the protocol's `-32603` with provenance).
fn synthesized(id: Option<Value>, why: &str) -> Answer {
    tracing::warn!(target: "coda_mcp::tunnel", "OpenAI tunnel: {why}");
    Answer {
        code: 502,
        json: Some(json!({
            "jsonrpc": "2.0",
            "id": id.unwrap_or(Value::Null),
            "error": {"code": -32603, "message": "Bad Gateway", "data": {"tunnel_failure": {
                "version": 1, "source": "protocol", "upstream_response_received": false}}}
        })),
        headers: [("Content-Type".to_owned(), json!(["application/json"]))]
            .into_iter()
            .collect(),
        kind: "jsonrpc_response",
    }
}

fn synthesized_status(id: Option<Value>, status: StatusCode) -> Answer {
    let mut answer = synthesized(
        id,
        &format!("the server answered {status} without a JSON-RPC message"),
    );
    if status.is_client_error() || status.is_server_error() {
        answer.code = status.as_u16();
        if let Some(failure) = answer
            .json
            .as_mut()
            .and_then(|j| j.pointer_mut("/error/data/tunnel_failure"))
        {
            failure["source"] = json!("target_http");
            failure["upstream_response_received"] = json!(true);
            failure["upstream_status"] = json!(status.as_u16());
        }
    }
    answer
}

async fn post_answer(poller: &Poller, command: &Command, answer: Answer) {
    let mut body = Map::new();
    body.insert("request_id".into(), json!(command.request_id));
    body.insert(
        "channel".into(),
        json!(command.channel.as_deref().unwrap_or("main")),
    );
    if let Some(json) = answer.json {
        body.insert("resp_json".into(), json);
    }
    if !answer.headers.is_empty() {
        body.insert("resp_headers".into(), Value::Object(answer.headers));
    }
    body.insert("resp_code".into(), json!(answer.code));
    body.insert("resp_type".into(), json!(answer.kind));
    let body = Value::Object(body);
    let url = poller.provider.url(&poller.id, &["response"]);
    let notify = answer.kind == "jsonrpc_notify";
    for attempt in 1..=POST_ATTEMPTS {
        let started = Instant::now();
        let sent = poller
            .provider
            .request(reqwest::Method::POST, url.clone(), &poller.key)
            .header("X-Tunnel-Shard-Token", &command.shard_token)
            .timeout(Duration::from_secs(30))
            .json(&body)
            .send()
            .await;
        let retry = match sent {
            Ok(r) if r.status().is_success() => {
                poller.latency.store(
                    started.elapsed().as_millis().max(1) as u64,
                    Ordering::Relaxed,
                );
                return;
            }
            // Already fulfilled or no longer pending: done, never replayed.
            Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => return,
            Ok(r) => {
                let s = r.status().as_u16();
                let again = if notify {
                    s == 429
                } else {
                    matches!(s, 408 | 429 | 502 | 503 | 504)
                };
                if !again {
                    tracing::warn!(target: "coda_mcp::tunnel", status = s, request = %command.request_id, "OpenAI tunnel: an answer was refused");
                    return;
                }
                retry_after(r.headers())
            }
            Err(e) if notify && !e.is_connect() => return,
            Err(_) => None,
        };
        if attempt < POST_ATTEMPTS {
            let wait = super::Backoff {
                first: Duration::from_millis(200),
                max: Duration::from_secs(2),
            }
            .delay(attempt);
            tokio::time::sleep(retry.map_or(wait, |r| r.max(wait))).await;
        }
    }
    tracing::warn!(target: "coda_mcp::tunnel", request = %command.request_id, "OpenAI tunnel: an answer could not be delivered");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_timeouts_follow_the_protocols_grammar() {
        assert_eq!(parse_timeout("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_timeout("4500ms"), Some(Duration::from_millis(4500)));
        assert_eq!(parse_timeout("0s"), Some(Duration::ZERO));
        assert_eq!(parse_timeout("2m"), Some(Duration::from_secs(120)));
        for bad in [
            "4.5s",
            "-1s",
            "+1s",
            "1m30s",
            " 1s",
            "1s ",
            "1e3s",
            "30d",
            "30",
            "",
            "s",
            "999999999999999999999999h",
        ] {
            assert_eq!(parse_timeout(bad), None, "{bad:?}");
        }
        // A JSON number is not a duration.
        assert_eq!(deadline(Instant::now(), Some(&json!(30))), None);
    }

    #[test]
    fn event_streams_give_their_data_and_skip_priming_events() {
        let body = "id: 0\nretry: 3000\ndata:\n\nevent: message\ndata: {\"a\":1}\n\ndata: {\"b\":\ndata: 2}\n\n";
        assert_eq!(
            sse_data(body),
            vec!["{\"a\":1}".to_owned(), "{\"b\":\n2}".to_owned()]
        );
    }

    #[test]
    fn urls_are_built_from_segments() {
        let p = OpenAiTunnelProvider::with_base(None, None, "http://127.0.0.1:9/base/").unwrap();
        assert_eq!(
            p.url("t/../x?y", &["poll"]).as_str(),
            "http://127.0.0.1:9/base/v1/tunnels/t%2F..%2Fx%3Fy/poll"
        );
    }

    #[test]
    fn only_mcp_headers_pass_from_a_command() {
        let command: Command = serde_json::from_value(json!({
            "request_id": "r", "shard_token": "s", "command_type": "jsonrpc",
            "headers": {"Mcp-Session-Id": ["abc"], "Authorization": ["Bearer x"], "Host": ["evil"]}
        }))
        .unwrap();
        let names: Vec<String> = request_headers(&command)
            .into_iter()
            .map(|(n, _)| n.to_string())
            .collect();
        assert_eq!(names, vec!["mcp-session-id"]);
    }
}
