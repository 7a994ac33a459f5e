//! The bridge: relays newline-delimited JSON-RPC between stdin/stdout and a running server's
//! Streamable HTTP endpoint (SSE answers and the session's GET stream included), so a stdio
//! client's session shows in that server's dashboard.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, Mutex};

use crate::mcp::BRIDGE_HEADER;

/// Answers every request on stdin with `message` as a JSON-RPC error until stdin closes:
/// the client (Claude) shows why the session cannot start instead of hanging.
pub(super) async fn refuse_all(message: &str) -> anyhow::Result<()> {
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut stdout = tokio::io::stdout();
    while let Some(line) = lines.next_line().await? {
        let Ok(request) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let Some(id) = request
            .get("id")
            .filter(|_| request.get("method").is_some())
        else {
            continue;
        };
        let error =
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32000, "message": message}});
        stdout.write_all(format!("{error}\n").as_bytes()).await?;
        stdout.flush().await?;
    }
    Ok(())
}

/// What the bridge knows about its session with the server.
#[derive(Default)]
struct BridgeSession {
    id: Option<String>,
    protocol: Option<String>,
}

/// Relays newline-delimited JSON-RPC between stdio and the server's Streamable HTTP endpoint.
pub(super) async fn bridge(url: &str, key: Option<String>) -> anyhow::Result<()> {
    crate::coda::tls::ready();
    let client = reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(5))
        .build()?;
    let (out_tx, mut out_rx) = mpsc::channel::<String>(256);
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(line) = out_rx.recv().await {
            if stdout.write_all(line.as_bytes()).await.is_err()
                || stdout.write_all(b"\n").await.is_err()
                || stdout.flush().await.is_err()
            {
                break;
            }
        }
    });
    let relay = Arc::new(Relay {
        client,
        url: url.to_owned(),
        key,
        session: Mutex::new(BridgeSession::default()),
        out: out_tx,
    });
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut in_flight = tokio::task::JoinSet::new();
    let mut stream_started = false;
    while let Some(line) = lines.next_line().await? {
        if line.trim().is_empty() {
            continue;
        }
        let message: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                relay
                    .emit(
                        json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700,
                        "message": format!("Parse error: {e}")}}),
                    )
                    .await;
                continue;
            }
        };
        if message["method"] == "initialize" {
            // Everything after initialize needs its session ID: finish it first.
            relay.send(message).await;
            continue;
        }
        if !stream_started && relay.session.lock().await.id.is_some() {
            stream_started = true;
            let relay = relay.clone();
            tokio::spawn(async move { relay.listen().await });
        }
        let relay = relay.clone();
        in_flight.spawn(async move { relay.send(message).await });
    }
    // stdin closed: let calls in flight finish (bounded), end the session, flush stdout.
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        while in_flight.join_next().await.is_some() {}
    })
    .await;
    relay.end_session().await;
    drop(relay);
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    Ok(())
}

struct Relay {
    client: reqwest::Client,
    url: String,
    key: Option<String>,
    session: Mutex<BridgeSession>,
    out: mpsc::Sender<String>,
}

impl Relay {
    async fn emit(&self, message: Value) {
        let _ = self.out.send(message.to_string()).await;
    }

    async fn request(&self, method: reqwest::Method) -> reqwest::RequestBuilder {
        let mut req = self
            .client
            .request(method, &self.url)
            .header(BRIDGE_HEADER, "stdio")
            .header("accept", "application/json, text/event-stream");
        if let Some(key) = &self.key {
            req = req.bearer_auth(key);
        }
        let session = self.session.lock().await;
        if let Some(id) = &session.id {
            req = req.header("mcp-session-id", id);
        }
        if let Some(v) = &session.protocol {
            req = req.header("mcp-protocol-version", v);
        }
        req
    }

    /// Posts one message and relays whatever comes back.
    async fn send(&self, message: Value) {
        let id = message.get("id").cloned();
        let is_initialize = message["method"] == "initialize";
        let response = self
            .request(reqwest::Method::POST)
            .await
            .json(&message)
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                self.fail(
                    id,
                    -32603,
                    format!("the Coda MCP server at {} did not answer: {e}", self.url),
                )
                .await;
                return;
            }
        };
        if let Some(session) = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
        {
            self.session.lock().await.id = Some(session.to_owned());
        }
        let status = response.status();
        if status == reqwest::StatusCode::ACCEPTED {
            return;
        }
        let is_sse = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("text/event-stream"));
        if is_sse {
            self.relay_sse(response, is_initialize).await;
            return;
        }
        let body = response.bytes().await.unwrap_or_default();
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) if v.get("jsonrpc").is_some() => {
                if is_initialize {
                    self.note_protocol(&v).await;
                }
                self.emit(v).await;
            }
            _ => {
                let text = String::from_utf8_lossy(&body);
                let hint = match status.as_u16() {
                    401 => " (the connection key is missing or wrong: set CODA_MCP_KEY to the key the server's dashboard shows under Setup)",
                    404 => " (the server no longer knows this session; restart the client)",
                    _ => "",
                };
                self.fail(
                    id,
                    -32603,
                    format!(
                        "the Coda MCP server answered HTTP {status}{hint}: {}",
                        text.trim()
                    ),
                )
                .await;
            }
        }
    }

    async fn note_protocol(&self, response: &Value) {
        if let Some(v) = response["result"]["protocolVersion"].as_str() {
            self.session.lock().await.protocol = Some(v.to_owned());
        }
    }

    async fn fail(&self, id: Option<Value>, code: i64, message: String) {
        // Notifications get no answer, not even an error.
        if let Some(id) = id {
            self.emit(
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}),
            )
            .await;
        }
    }

    /// Relays each `data:` event of an SSE response as one line.
    async fn relay_sse(&self, mut response: reqwest::Response, is_initialize: bool) {
        let mut parser = SseParser::default();
        while let Ok(Some(chunk)) = response.chunk().await {
            for data in parser.feed(&chunk) {
                if let Ok(v) = serde_json::from_str::<Value>(&data) {
                    if is_initialize {
                        self.note_protocol(&v).await;
                    }
                    self.emit(v).await;
                }
            }
        }
    }

    /// The session's standalone GET stream: server-initiated messages.
    async fn listen(&self) {
        let Ok(response) = self.request(reqwest::Method::GET).await.send().await else {
            return;
        };
        if response.status().is_success() {
            self.relay_sse(response, false).await;
        }
    }

    async fn end_session(&self) {
        if self.session.lock().await.id.is_some() {
            let req = self.request(reqwest::Method::DELETE).await;
            let _ = tokio::time::timeout(Duration::from_secs(2), req.send()).await;
        }
    }
}

/// Splits a Server-Sent Events byte stream into the data of its events.
#[derive(Default)]
struct SseParser {
    line: Vec<u8>,
    data: Vec<String>,
}

impl SseParser {
    fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut events = Vec::new();
        for &b in bytes {
            if b != b'\n' {
                self.line.push(b);
                continue;
            }
            let mut line = String::from_utf8_lossy(&self.line).into_owned();
            self.line.clear();
            if line.ends_with('\r') {
                line.pop();
            }
            if line.is_empty() {
                if !self.data.is_empty() {
                    events.push(self.data.join("\n"));
                    self.data.clear();
                }
            } else if let Some(rest) = line.strip_prefix("data:") {
                self.data
                    .push(rest.strip_prefix(' ').unwrap_or(rest).to_owned());
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::SseParser;

    #[test]
    fn sse_events_split_across_chunks() {
        let mut p = SseParser::default();
        assert!(p.feed(b": keep-alive\n\nid: 1\ndata: {\"a\"").is_empty());
        let events = p.feed(b":1}\r\n\r\ndata: x\ndata: y\n\n");
        assert_eq!(events, vec!["{\"a\":1}".to_owned(), "x\ny".to_owned()]);
    }
}
