//! `coda-mcp stdio`: MCP over stdin/stdout for clients that start a program (Claude
//! Desktop). When the app (or `coda-mcp serve`) is running, it bridges each message to that
//! server, so the session shows in its dashboard; otherwise it serves in this process with
//! the keychain's Coda token (or the demo workspace) and says so on stderr.
//!
//! `--demo` asks for the demo workspace: the bridge is used only when the announced server
//! serves the demo too (its `server.json` says `demo: true`); otherwise the demo is served in
//! this process. Without `--demo`, a running demo server is still bridged to (the person chose
//! it in the app), and stderr says that it is the demo, not their Coda account.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::coda::DEFAULT_BASE_URL;
use crate::launch::Upstream;
use crate::mcp::{CodaMcp, BRIDGE_HEADER};
use crate::secrets::{self, SecretName, SecretStore};
use crate::{demo, runtime, Engine, EngineConfig};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, Mutex};

/// Flags of `coda-mcp stdio` (the desktop app's binary takes the same).
#[derive(clap::Args, Clone, Debug)]
pub struct StdioArgs {
    /// The running server's MCP endpoint (default: the one the app announced in its data
    /// directory's server.json).
    #[arg(long, env = "CODA_MCP_URL", value_name = "URL")]
    pub url: Option<String>,
    /// Do not look for a running server; always serve in this process.
    #[arg(long)]
    pub in_process: bool,
    /// When serving in this process: the built-in demo workspace instead of your Coda account.
    #[arg(long)]
    pub demo: bool,
    /// When serving in this process: only tools that read.
    #[arg(long)]
    pub read_only: bool,
    /// When serving in this process: the Coda API root.
    #[arg(long, default_value = DEFAULT_BASE_URL, value_name = "URL")]
    pub coda_base_url: String,
    /// The app's data directory (where server.json and the audit history are).
    #[arg(long, env = "CODA_MCP_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Where a stdio session goes.
#[derive(Debug, PartialEq)]
enum Plan {
    /// Bridge to the server at `url`; `note` is said on stderr first.
    Bridge { url: String, note: Option<String> },
    /// Serve in this process; `why` says why on stderr (the app is not running, or it serves
    /// another workspace than the one asked for).
    InProcess { why: String },
}

const NOT_RUNNING: &str = "the app is not running";

/// Decides between the bridge and serving here, from `--demo`, `--url` and what the running
/// server announced. (Whether it answers is checked afterwards.)
fn plan(demo: bool, url: Option<&str>, announced: Option<&runtime::RuntimeInfo>) -> Plan {
    if let Some(url) = url {
        return Plan::Bridge {
            url: url.to_owned(),
            note: None,
        };
    }
    match announced {
        None => Plan::InProcess {
            why: NOT_RUNNING.into(),
        },
        Some(info) if demo && !info.demo => Plan::InProcess {
            why: format!(
                "the running server at {} serves your Coda workspace, not the demo",
                info.mcp_url
            ),
        },
        Some(info) if !demo && info.demo => Plan::Bridge {
            url: info.mcp_url.clone(),
            note: Some(format!(
                "the running server at {} serves the built-in demo workspace, not your Coda account \
                 (switch the app to your workspace, or run `stdio --in-process` to serve it here)",
                info.mcp_url
            )),
        },
        Some(info) => Plan::Bridge {
            url: info.mcp_url.clone(),
            note: None,
        },
    }
}

/// Runs until stdin closes. (anyhow: this is an edge, talking to a person on stderr.)
pub async fn run(args: StdioArgs, store: Arc<dyn SecretStore>) -> anyhow::Result<()> {
    let root = args.data_dir.clone().or_else(runtime::data_root);
    let mut why = NOT_RUNNING.to_owned();
    if !args.in_process {
        let announced = match &args.url {
            Some(_) => None,
            None => root.as_deref().and_then(runtime::discover),
        };
        match plan(args.demo, args.url.as_deref(), announced.as_ref()) {
            Plan::Bridge { url, note } => {
                if !is_loopback_url(&url) {
                    eprintln!("coda-mcp stdio: {url} is not on this machine; the bridge only connects to a loopback address (127.0.0.1, ::1, localhost)");
                    why = format!("{url} is not a loopback address");
                } else if answers(&url).await {
                    let key = bridge_key(store.clone()).await;
                    match &key {
                        Some(k) if !proves_key(&url, k).await => {
                            let message = format!(
                                "the server at {url} did not prove it holds this app's connection key, so the key was not sent to it: \
                                 either the key here (CODA_MCP_KEY, else the keychain) is not the server's — use the one `coda-mcp key show` prints \
                                 (it changes with `key rotate`) — or another program took that port"
                            );
                            eprintln!("coda-mcp stdio: {message}");
                            return refuse_all(&message).await;
                        }
                        // No key here for a server that needs one: every message would get
                        // 401, so say once what to do instead.
                        None if announced.as_ref().is_some_and(|info| !info.no_auth) => {
                            let message = format!(
                                "no connection key here for the server at {url}: this process has no keychain to read it from (or it is off) and CODA_MCP_KEY is not set, \
                                 so the server would refuse every message; set CODA_MCP_KEY to the server's key (a server without a keychain prints it under its ready line, \
                                 \"connection key for this run\"; elsewhere `coda-mcp key show` prints it)"
                            );
                            eprintln!("coda-mcp stdio: {message}");
                            return refuse_all(&message).await;
                        }
                        _ => {
                            if let Some(note) = note {
                                eprintln!("coda-mcp stdio: {note}");
                            }
                            eprintln!("coda-mcp stdio: bridging to the running server at {url}");
                            return bridge(&url, key).await;
                        }
                    }
                } else {
                    eprintln!("coda-mcp stdio: no server answers at {url}");
                }
            }
            Plan::InProcess { why: reason } => why = reason,
        }
    }
    in_process(args, root, store, &why).await
}

/// Whether a Coda MCP server answers `/health` next to `mcp_url`.
async fn answers(mcp_url: &str) -> bool {
    let health = format!(
        "{}/health",
        mcp_url.trim_end_matches('/').trim_end_matches("/mcp")
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .no_proxy()
        .build();
    let Ok(client) = client else { return false };
    match client.get(health).send().await {
        Ok(r) if r.status().is_success() => r
            .json::<Value>()
            .await
            .is_ok_and(|v| v["status"] == "ok" && v.get("tools").is_some()),
        _ => false,
    }
}

/// Answers every request on stdin with `message` as a JSON-RPC error until stdin closes:
/// the client (Claude) shows why the session cannot start instead of hanging.
async fn refuse_all(message: &str) -> anyhow::Result<()> {
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

/// Whether `url` names this machine (the bridge never sends the key anywhere else).
fn is_loopback_url(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| {
        u.scheme() == "http"
            && match u.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                None => false,
            }
    })
}

/// Whether the server at `mcp_url` proves it holds `key`: it answers a fresh challenge with
/// [`secrets::bridge_proof`], which only the key's holder can compute. The key is not sent.
async fn proves_key(mcp_url: &str, key: &str) -> bool {
    let Ok(url) = url::Url::parse(mcp_url) else {
        return false;
    };
    let Some(port) = url.port_or_known_default() else {
        return false;
    };
    let nonce: String = (0..32)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    let mut proof_url = url.clone();
    proof_url.set_path("/bridge/proof");
    proof_url.set_query(None);
    proof_url.query_pairs_mut().append_pair("nonce", &nonce);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .no_proxy()
        .build();
    let Ok(client) = client else { return false };
    let proof = match client.get(proof_url).send().await {
        Ok(r) if r.status().is_success() => r.json::<Value>().await.ok(),
        _ => None,
    };
    proof
        .as_ref()
        .and_then(|p| p["proof"].as_str())
        .is_some_and(|p| {
            secrets::bridge_proof_matches(&crate::coda::Secret::new(key), &nonce, port, p)
        })
}

/// The connection key to present: `CODA_MCP_KEY`, else the keychain's (never a new one).
async fn bridge_key(store: Arc<dyn SecretStore>) -> Option<String> {
    if let Some(key) = std::env::var("CODA_MCP_KEY")
        .ok()
        .filter(|k| !k.trim().is_empty())
    {
        return Some(key.trim().to_owned());
    }
    tokio::task::spawn_blocking(move || store.get(SecretName::ConnectionKey))
        .await
        .ok()
        .and_then(Result::ok)
        .flatten()
        .map(|k| k.expose().to_owned())
}

/// Serves one client on stdin/stdout with an engine of its own.
async fn in_process(
    args: StdioArgs,
    root: Option<PathBuf>,
    store: Arc<dyn SecretStore>,
    why: &str,
) -> anyhow::Result<()> {
    use rmcp::ServiceExt;
    let mut config = EngineConfig {
        read_only: args.read_only,
        data_dir: root.map(|d| if args.demo { d.join("demo") } else { d }),
        ..EngineConfig::default()
    };
    let demo = args.demo.then(demo::DemoConfig::default);
    let upstream = Upstream::resolve(demo, &args.coda_base_url, store)
        .await
        .context("resolving where Coda calls go")?;
    upstream.configure(&mut config);
    match (&upstream.demo, upstream.token_source) {
        (Some(_), _) => {
            eprintln!("coda-mcp stdio: {why}; serving the built-in demo workspace in this process")
        }
        (None, Some(source)) => eprintln!(
            "coda-mcp stdio: {why}; serving in this process with the Coda token from the {}",
            source.label()
        ),
        (None, None) => eprintln!("coda-mcp stdio: {why} and no Coda token is set (run `coda-mcp token set`, or use --demo); tools will say so"),
    }
    let demo_handle = upstream.demo;
    let engine = Engine::new(config).context("configuring the engine")?;
    let service = CodaMcp::stdio(engine)
        .serve(rmcp::transport::stdio())
        .await
        .context("starting MCP on stdio")?;
    let _ = service.waiting().await;
    if let Some(d) = demo_handle {
        d.shutdown();
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
async fn bridge(url: &str, key: Option<String>) -> anyhow::Result<()> {
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
                    401 => " (the connection key is missing or wrong: set CODA_MCP_KEY or run `coda-mcp key show`)",
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
    use super::{plan, Plan, SseParser};
    use crate::runtime::RuntimeInfo;

    #[test]
    fn demo_is_bridged_only_to_a_demo_server_and_the_real_one_says_when_it_is_the_demo() {
        let server = |demo| RuntimeInfo {
            mcp_url: "http://127.0.0.1:8080/mcp".into(),
            pid: 1,
            demo,
            no_auth: false,
        };
        let bridge = |note: Option<&str>| Plan::Bridge {
            url: "http://127.0.0.1:8080/mcp".into(),
            note: note.map(str::to_owned),
        };
        // --demo: a demo server is bridged to; a real one is not (the demo runs here).
        assert_eq!(plan(true, None, Some(&server(true))), bridge(None));
        let Plan::InProcess { why } = plan(true, None, Some(&server(false))) else {
            panic!("--demo must not bridge to the person's real workspace")
        };
        assert!(
            why.contains("serves your Coda workspace, not the demo"),
            "{why}"
        );
        // No --demo: the real server is bridged to; a demo server too, but never silently.
        assert_eq!(plan(false, None, Some(&server(false))), bridge(None));
        let Plan::Bridge {
            note: Some(note), ..
        } = plan(false, None, Some(&server(true)))
        else {
            panic!("bridging to a demo server must say so")
        };
        assert!(
            note.contains("demo workspace, not your Coda account"),
            "{note}"
        );
        // Nothing announced: in process; an explicit --url is taken as asked.
        assert_eq!(
            plan(true, None, None),
            Plan::InProcess {
                why: "the app is not running".into()
            }
        );
        assert_eq!(
            plan(true, Some("http://127.0.0.1:8080/mcp"), None),
            bridge(None)
        );
    }

    #[test]
    fn sse_events_split_across_chunks() {
        let mut p = SseParser::default();
        assert!(p.feed(b": keep-alive\n\nid: 1\ndata: {\"a\"").is_empty());
        let events = p.feed(b":1}\r\n\r\ndata: x\ndata: y\n\n");
        assert_eq!(events, vec!["{\"a\":1}".to_owned(), "x\ny".to_owned()]);
    }
}
