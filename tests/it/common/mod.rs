//! Test harness: a demo workspace plus an engine server, both on loopback port 0.

use std::time::Duration;

use coda_mcp::coda::{RateLimits, RetryPolicy, Secret};
use coda_mcp::demo::{self, DemoConfig, DemoHandle};
use coda_mcp::http::{self, RunningServer};
use coda_mcp::{Engine, EngineConfig};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Value};

/// An rmcp client session.
pub type Client = RunningService<RoleClient, ()>;

/// Connects the official Rust MCP client to the harness.
pub async fn connect(h: &Harness) -> Client {
    connect_with(h, Some(TEST_KEY))
        .await
        .expect("client connects")
}

/// Connects with a given bearer (or none).
pub async fn connect_with(h: &Harness, bearer: Option<&str>) -> Result<Client, String> {
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let mut config = StreamableHttpClientTransportConfig::with_uri(h.url());
    config.auth_header = bearer.map(str::to_owned);
    let transport = StreamableHttpClientTransport::from_config(config);
    ().serve(transport).await.map_err(|e| e.to_string())
}

/// Calls a tool; panics on a protocol-level error.
pub async fn call(client: &Client, name: &str, args: Value) -> CallToolResult {
    let params = CallToolRequestParams::new(name.to_owned())
        .with_arguments(args.as_object().cloned().unwrap_or_default());
    client
        .call_tool(params)
        .await
        .unwrap_or_else(|e| panic!("{name} failed at protocol level: {e}"))
}

/// The structured result of a successful call; checks text and structuredContent agree.
pub fn ok(result: &CallToolResult) -> Value {
    assert_eq!(
        result.is_error,
        Some(false),
        "tool error: {:?}",
        result.content
    );
    let structured = result
        .structured_content
        .clone()
        .expect("structuredContent");
    let text = result.content[0]
        .as_text()
        .expect("text content")
        .text
        .clone();
    let from_text: Value = serde_json::from_str(&text).expect("text content is JSON");
    assert_eq!(
        from_text, structured,
        "text and structuredContent carry the same JSON"
    );
    structured
}

/// The message of a failed call.
pub fn err_text(result: &CallToolResult) -> String {
    assert_eq!(
        result.is_error,
        Some(true),
        "expected a tool error, got {:?}",
        result.structured_content
    );
    result.content[0].as_text().expect("text").text.clone()
}

/// Calls until `check` accepts the result or 5 s pass (for Coda's eventual consistency).
pub async fn eventually(
    client: &Client,
    name: &str,
    args: Value,
    check: impl Fn(&CallToolResult) -> bool,
) -> CallToolResult {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let r = call(client, name, args.clone()).await;
        if check(&r) || tokio::time::Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
}

/// A running demo + server pair. Shut down explicitly with [`Harness::stop`].
pub struct Harness {
    pub demo: DemoHandle,
    pub server: RunningServer,
    pub http: reqwest::Client,
    /// The protocol version each raw session negotiated, sent back as
    /// `MCP-Protocol-Version` on its later requests.
    versions: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

/// The version sent for a session the harness did not open itself.
pub const DEFAULT_PROTOCOL_VERSION: &str = "2025-06-18";

/// The JSON-RPC message in a response body, whether plain JSON or an SSE `data:` event.
pub fn jsonrpc_body(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| {
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .find(|v| v.get("jsonrpc").is_some())
            .unwrap_or_else(|| panic!("no JSON-RPC message in {text}"))
    })
}

/// Demo settings that keep tests quick but keep Coda's behaviour (clamp, lag, 202s).
pub fn quick_demo() -> DemoConfig {
    DemoConfig {
        write_delay: Duration::from_millis(150),
        status_lag: Duration::from_millis(40),
        // Generous limits: these tests are about behaviour, not pacing.
        limits: Some(RateLimits::CODA.scaled(50)),
        ..DemoConfig::default()
    }
}

/// The connection key every harness server uses.
pub const TEST_KEY: &str = "cmk_test-harness-key-0000000000000000000000000";

pub fn quick_engine(demo: &DemoHandle) -> EngineConfig {
    EngineConfig {
        connection_key: Secret::new(TEST_KEY),
        client_rate: None,
        coda_base_url: demo.base_url.clone(),
        coda_token: Some(demo.token().clone()),
        rate_limits: RateLimits::CODA.scaled(50),
        retry: RetryPolicy {
            base_backoff: Duration::from_millis(20),
            ..RetryPolicy::default()
        },
        write_wait_timeout: Duration::from_secs(10),
        sse_keep_alive: Duration::from_millis(300),
        ..EngineConfig::default()
    }
}

impl Harness {
    pub async fn start() -> Harness {
        Self::start_with(quick_demo(), |_| {}).await
    }

    pub async fn start_with(
        demo_config: DemoConfig,
        tweak: impl FnOnce(&mut EngineConfig),
    ) -> Harness {
        let demo = demo::start(demo_config, 0).await.expect("demo starts");
        let mut config = quick_engine(&demo);
        tweak(&mut config);
        let engine = Engine::new(config).expect("engine");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let server = http::start(engine, listener).await.expect("server starts");
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {TEST_KEY}").parse().unwrap(),
        );
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .default_headers(headers)
            .build()
            .unwrap();
        Harness {
            demo,
            server,
            http,
            versions: Default::default(),
        }
    }

    pub fn url(&self) -> String {
        self.server.mcp_url()
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    pub async fn stop(self) {
        self.server.shutdown().await;
        self.demo.shutdown();
    }

    /// Opens a session's standalone SSE stream (`GET /mcp`), where the seed's direct calls
    /// and server messages arrive.
    pub async fn open_stream(&self, sid: &str) -> reqwest::Response {
        self.http
            .get(self.url())
            .header("accept", "text/event-stream")
            .header("mcp-session-id", sid)
            .send()
            .await
            .expect("GET /mcp")
    }

    /// The dashboard token this server was started with (what `/ui/?token=` carries).
    pub fn dashboard_token(&self) -> String {
        self.server
            .state
            .engine
            .config()
            .dashboard_token
            .expose()
            .to_owned()
    }

    /// The protocol version negotiated by a session this harness opened.
    pub fn version_of(&self, session: &str) -> String {
        self.versions
            .lock()
            .unwrap()
            .get(session)
            .cloned()
            .unwrap_or_else(|| DEFAULT_PROTOCOL_VERSION.to_owned())
    }

    /// Raw POST to /mcp with the given headers; a session's requests carry the protocol
    /// version it negotiated. Returns (status, headers, body text).
    pub async fn post(
        &self,
        body: &str,
        accept: Option<&str>,
        session: Option<&str>,
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let version = session.map(|s| self.version_of(s));
        self.post_with_version(body, accept, session, version.as_deref())
            .await
    }

    /// Raw POST to /mcp with an explicit `MCP-Protocol-Version` (or none).
    pub async fn post_with_version(
        &self,
        body: &str,
        accept: Option<&str>,
        session: Option<&str>,
        version: Option<&str>,
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let mut req = self
            .http
            .post(self.url())
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        if let Some(s) = session {
            req = req.header("mcp-session-id", s);
        }
        if let Some(v) = version {
            req = req.header("mcp-protocol-version", v);
        }
        let resp = req.send().await.expect("post");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, headers, resp.text().await.unwrap())
    }

    /// Initializes a raw session and returns its id.
    pub async fn raw_session(&self, version: &str) -> String {
        let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":version,
            "capabilities":{},"clientInfo":{"name":"raw-test","version":"1"}}});
        let (status, headers, body) = self
            .post(
                &init.to_string(),
                Some("application/json, text/event-stream"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let sid = headers["mcp-session-id"].to_str().unwrap().to_owned();
        let negotiated = jsonrpc_body(&body)["result"]["protocolVersion"]
            .as_str()
            .expect("initialize result names the protocol version")
            .to_owned();
        self.versions
            .lock()
            .unwrap()
            .insert(sid.clone(), negotiated);
        let (status, _, _) = self
            .post(
                r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
                Some("application/json, text/event-stream"),
                Some(&sid),
            )
            .await;
        assert_eq!(status, 202);
        sid
    }

    /// Calls a tool over a raw session with a JSON-only Accept and returns the JSON-RPC reply.
    pub async fn raw_call(&self, sid: &str, id: u64, name: &str, args: Value) -> Value {
        let body = json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":name,"arguments":args}});
        let (status, _, text) = self
            .post(&body.to_string(), Some("application/json"), Some(sid))
            .await;
        assert_eq!(status, 200, "{text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }
}

pub fn bad_token() -> Secret {
    Secret::new("pat_this-token-is-wrong-0000")
}

/// Serves the harness's public face (what the tunnel hands its connections to) on a loopback
/// port of its own, as the tunnel would; returns its base URL and what stops it.
pub async fn serve_public_face(h: &Harness) -> (String, tokio_util::sync::CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(h.server.public_face().serve(listener, stop.clone()));
    (base, stop)
}

/// A value `schema` (a tool's input schema, or a part of it) accepts, for an argument or field
/// named `name`: the first of an enum, a union's first branch (an object narrowed by it keeps
/// both sets of fields), the required fields of an object, `minItems` items, ids `NoSuch…`.
pub fn sample(schema: &Value, name: &str) -> Value {
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    if let Some(branch) = schema["anyOf"]
        .as_array()
        .or(schema["oneOf"].as_array())
        .and_then(|b| b.first())
    {
        if schema["type"] != "object" {
            return sample(branch, name);
        }
        let mut narrowed = schema.clone();
        let fields = narrowed.as_object_mut().unwrap();
        fields.remove("anyOf");
        fields.remove("oneOf");
        for (field, rule) in branch["properties"].as_object().into_iter().flatten() {
            narrowed["properties"][field] = rule.clone();
        }
        let mut required = narrowed["required"].as_array().cloned().unwrap_or_default();
        required.extend(branch["required"].as_array().cloned().unwrap_or_default());
        narrowed["required"] = json!(required);
        return sample(&narrowed, name);
    }
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds[0].as_str().unwrap_or("string").to_owned(),
        Value::String(kind) => kind.clone(),
        _ => "string".to_owned(),
    };
    match kind.as_str() {
        "object" => {
            let mut out = serde_json::Map::new();
            for field in schema["required"].as_array().into_iter().flatten() {
                let field = field.as_str().unwrap_or_default();
                out.insert(
                    field.to_owned(),
                    sample(&schema["properties"][field], field),
                );
            }
            Value::Object(out)
        }
        "array" => {
            let n = schema["minItems"].as_u64().unwrap_or(1).max(1) as usize;
            Value::Array(vec![sample(&schema["items"], name); n])
        }
        "integer" | "number" => json!(schema["minimum"].as_f64().unwrap_or(1.0).max(1.0) as i64),
        "boolean" => json!(false),
        _ if name.contains("email") => json!("nobody@example.com"),
        _ => json!(format!("NoSuch{}", name.replace("IdOrName", ""))),
    }
}
