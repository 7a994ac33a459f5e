//! The `coda-mcp` binary as a person runs it: the ready line, logs on stderr, and a graceful
//! exit on SIGTERM/SIGINT even with an SSE stream open.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The connection key the spawned servers use.
const CLI_KEY: &str = "cmk_cli-test-key-0000000000000000000000000000";

fn spawn(args: &[&str]) -> (Child, String) {
    spawn_in(&std::env::temp_dir().join("coda-mcp-tests"), args)
}

/// Starts `coda-mcp` with its data directory in `dir`; answers the child and its ready line.
fn spawn_in(dir: &std::path::Path, args: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_coda-mcp"))
        .args(args)
        .env("RUST_LOG", "info")
        .env("CODA_MCP_KEYCHAIN", "off")
        .env("CODA_MCP_DATA_DIR", dir)
        .env("CODA_MCP_KEY", CLI_KEY)
        .env_remove("CODA_API_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn coda-mcp");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("ready line");
    (child, line)
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

fn mcp_url(line: &str) -> String {
    line.split_whitespace()
        .find(|w| w.starts_with("http://") && w.ends_with("/mcp"))
        .unwrap_or_else(|| panic!("no MCP URL in {line:?}"))
        .to_owned()
}

#[tokio::test]
async fn serve_demo_prints_the_url_and_exits_cleanly_on_sigterm_with_a_stream_open() {
    let (mut child, line) = spawn(&["serve", "--demo", "--port", "0", "--log-format", "json"]);
    let url = mcp_url(&line);
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {CLI_KEY}").parse().unwrap(),
    );
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"cli-test","version":"1"}}}"#;
    let resp = http
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(init)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let sid = resp.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut stream = http
        .get(&url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &sid)
        .header("mcp-protocol-version", "2025-06-18")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);

    signal(&child, "-TERM");
    let status =
        wait_exit(&mut child, Duration::from_secs(7)).expect("exits within the grace period");
    assert!(status.success(), "exit status {status:?}");
    // The SSE stream was closed by the server, not left hanging.
    let ended = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the SSE stream was closed");

    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let first = stderr.lines().next().expect("logs on stderr");
    let parsed: serde_json::Value =
        serde_json::from_str(first).unwrap_or_else(|e| panic!("--log-format json ({e}): {first}"));
    assert!(parsed["level"].is_string());
    assert!(
        !stderr.contains(coda_mcp::demo::DEMO_TOKEN),
        "the token is not logged"
    );
}

#[test]
fn sigint_also_shuts_down_with_exit_code_zero() {
    let (mut child, line) = spawn(&["serve", "--demo", "--port", "0"]);
    assert!(line.contains("/mcp"), "{line}");
    signal(&child, "-INT");
    let status = wait_exit(&mut child, Duration::from_secs(7)).expect("exits");
    assert!(status.success(), "{status:?}");
}

#[test]
fn without_a_token_the_server_still_starts_and_says_what_to_do() {
    let (mut child, line) = spawn(&[
        "serve",
        "--port",
        "0",
        "--coda-base-url",
        "http://127.0.0.1:9/apis/v1",
    ]);
    assert!(line.contains("/mcp"), "{line}");
    signal(&child, "-TERM");
    assert!(wait_exit(&mut child, Duration::from_secs(7))
        .expect("exits")
        .success());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.contains("CODA_API_TOKEN"), "{stderr}");
}

#[test]
fn help_documents_every_serve_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_coda-mcp"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--host",
        "--port",
        "--demo",
        "--coda-base-url",
        "--read-only",
        "--log-format",
    ] {
        assert!(help.contains(flag), "serve --help lacks {flag}");
    }
}

#[test]
fn connect_claude_merges_backs_up_and_refuses_invalid_json() {
    let dir = std::env::temp_dir().join(format!("coda-mcp-claude-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("claude_desktop_config.json");
    std::fs::write(&config, r#"{"mcpServers":{"other":{"command":"x"}}}"#).unwrap();
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_coda-mcp"))
            .args(["connect", "claude", "--demo", "--config"])
            .arg(&config)
            .args(extra)
            .output()
            .unwrap()
    };
    let dry = run(&["--dry-run"]);
    assert!(dry.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(printed["mcpServers"]["coda"]["args"][0], "stdio");
    assert!(std::fs::read_to_string(&config).unwrap().contains("other"));
    assert!(!std::fs::read_to_string(&config).unwrap().contains("coda"));

    let out = run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("Restart Claude Desktop"), "{said}");
    assert!(said.contains(".bak-"), "{said}");
    assert!(said.contains("now has the \"coda\" server in"), "{said}");
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    assert_eq!(written["mcpServers"]["other"]["command"], "x");
    assert_eq!(
        written["mcpServers"]["coda"]["command"],
        env!("CARGO_BIN_EXE_coda-mcp")
    );

    // An entry that points elsewhere is updated, and said so in plain words.
    std::fs::write(
        &config,
        r#"{"mcpServers":{"other":{"command":"x"},"coda":{"command":"/old/coda-mcp","args":["stdio"]}}}"#,
    )
    .unwrap();
    let updated = run(&[]);
    let said = String::from_utf8_lossy(&updated.stdout);
    assert!(said.contains("\"coda\" server was updated in"), "{said}");

    // An OS error is said once (not once in the message and again as its cause).
    let blocked = dir.join("a-file");
    std::fs::write(&blocked, "").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_coda-mcp"))
        .args(["connect", "claude", "--demo", "--config"])
        .arg(blocked.join("claude_desktop_config.json"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("os error").count(), 1, "{err}");

    std::fs::write(&config, "{ not json").unwrap();
    let bad = run(&[]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("is not valid JSON"), "{err}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "{ not json");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tunnel_without_an_authtoken_says_so_and_the_local_server_keeps_serving() {
    // What the tunnel does goes to the process's own log too (a headless server has no
    // dashboard): stderr is kept in a file and read once the server has exited.
    let log = std::env::temp_dir().join(format!("coda-mcp-tunnel-{}.log", uuid::Uuid::new_v4()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_coda-mcp"))
        .args(["serve", "--demo", "--port", "0", "--tunnel"])
        .env("CODA_MCP_KEYCHAIN", "off")
        .env("CODA_MCP_KEY", CLI_KEY)
        .env(
            "CODA_MCP_DATA_DIR",
            std::env::temp_dir().join("coda-mcp-tests"),
        )
        .env_remove("NGROK_AUTHTOKEN")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines.next().unwrap().unwrap();
    let url = mcp_url(&ready);
    let failed = lines
        .by_ref()
        .take(5)
        .map(Result::unwrap)
        .find(|l| l.starts_with("tunnel failed"))
        .expect("a tunnel line");
    assert!(failed.contains("no ngrok authtoken"), "{failed}");
    assert!(
        failed.contains("`coda-mcp ngrok set`"),
        "names the command that fixes it: {failed}"
    );
    let health = url.replace("/mcp", "/health");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = rt.block_on(async { reqwest::get(&health).await.unwrap().status() });
    assert_eq!(status, 200);
    signal(&child, "-TERM");
    assert!(wait_exit(&mut child, Duration::from_secs(7))
        .expect("exits")
        .success());
    let logged = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    assert!(
        logged.contains("tunnel connecting (attempt 1)")
            && logged.contains("tunnel failed: no ngrok authtoken"),
        "the tunnel's states are not in the log: {logged}"
    );
}

#[test]
fn no_auth_is_refused_with_a_tunnel() {
    let out = Command::new(env!("CARGO_BIN_EXE_coda-mcp"))
        .args(["serve", "--demo", "--port", "0", "--tunnel", "--no-auth"])
        .env("CODA_MCP_KEYCHAIN", "off")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-auth cannot be combined"));
}

/// A bare MCP session over HTTP with the spawned server (JSON answers).
struct Session {
    http: reqwest::Client,
    url: String,
    sid: String,
}

impl Session {
    async fn open(url: &str) -> Session {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {CLI_KEY}").parse().unwrap(),
        );
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let init = serde_json::json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"cli-test","version":"1"}}});
        let resp = http
            .post(url)
            .header("accept", "application/json")
            .json(&init)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let sid = resp.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let s = Session {
            http,
            url: url.to_owned(),
            sid,
        };
        let done = s
            .post(serde_json::json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
            .await;
        assert_eq!(done.status(), 202);
        s
    }

    async fn post(&self, body: serde_json::Value) -> reqwest::Response {
        self.http
            .post(&self.url)
            .header("accept", "application/json")
            .header("mcp-session-id", &self.sid)
            .header("mcp-protocol-version", "2025-06-18")
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn request(&self, id: u64, method: &str, params: serde_json::Value) -> serde_json::Value {
        let resp = self
            .post(serde_json::json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}))
            .await;
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }
}

#[tokio::test]
async fn read_only_flag_hides_and_refuses_writes() {
    let (mut child, line) = spawn(&["serve", "--demo", "--port", "0", "--read-only"]);
    let s = Session::open(&mcp_url(&line)).await;
    let tools = s.request(1, "tools/list", serde_json::json!({})).await;
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"coda_list_rows"), "{names:?}");
    assert!(!names.contains(&"coda_update_row"), "{names:?}");
    assert!(!names.contains(&"coda_delete_doc"), "{names:?}");
    let refused = s
        .request(
            2,
            "tools/call",
            serde_json::json!({"name": "coda_delete_doc", "arguments": {"docId": "AbCDeFGH01"}}),
        )
        .await;
    let text = refused.to_string();
    assert!(text.contains("read-only"), "{text}");
    // The doc is still there.
    let doc = s
        .request(
            3,
            "tools/call",
            serde_json::json!({"name": "coda_get_document", "arguments": {"docId": "AbCDeFGH01"}}),
        )
        .await;
    assert_eq!(doc["result"]["structuredContent"]["name"], "Project Plan");
    signal(&child, "-TERM");
    assert!(wait_exit(&mut child, Duration::from_secs(7))
        .expect("exits")
        .success());
}

#[tokio::test]
async fn rate_limit_flag_paces_coda_calls() {
    let out = Command::new(env!("CARGO_BIN_EXE_coda-mcp"))
        .args(["serve", "--demo", "--rate-limit", "list-docs=0/6"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--rate-limit") && err.contains("count of at least 1"),
        "{err}"
    );

    // One list-docs call per 3 s: the second call waits for the window (Coda's own limit
    // would let four through at once).
    let (mut child, line) = spawn(&[
        "serve",
        "--demo",
        "--port",
        "0",
        "--rate-limit",
        "list-docs=1/3,write=5/6",
    ]);
    let s = Session::open(&mcp_url(&line)).await;
    let list = serde_json::json!({"name": "coda_list_documents", "arguments": {"limit": 1}});
    let first = s.request(1, "tools/call", list.clone()).await;
    assert_eq!(first["result"]["isError"], false, "{first}");
    let started = Instant::now();
    let second = s.request(2, "tools/call", list).await;
    assert_eq!(second["result"]["isError"], false, "{second}");
    assert!(
        started.elapsed() >= Duration::from_millis(2_900),
        "the second call went out after {:?}",
        started.elapsed()
    );
    signal(&child, "-TERM");
    assert!(wait_exit(&mut child, Duration::from_secs(7))
        .expect("exits")
        .success());
}

/// A tool call in flight when SIGTERM arrives finishes (within the 5 s grace) and its answer
/// reaches the client, new requests meanwhile get a clear 503; then the process exits 0.
#[tokio::test]
async fn a_call_in_flight_at_sigterm_finishes_and_is_answered() {
    let demo = coda_mcp::demo::start(
        coda_mcp::demo::DemoConfig {
            // The write takes ~2.5 s to apply, and the tool waits for it.
            write_delay: Duration::from_millis(2_500),
            limits: None,
            ..Default::default()
        },
        0,
    )
    .await
    .expect("demo starts");
    let mut child = Command::new(env!("CARGO_BIN_EXE_coda-mcp"))
        .args(["serve", "--port", "0", "--coda-base-url", &demo.base_url])
        .env("RUST_LOG", "warn")
        .env("CODA_MCP_KEYCHAIN", "off")
        .env(
            "CODA_MCP_DATA_DIR",
            std::env::temp_dir().join("coda-mcp-tests"),
        )
        .env("CODA_MCP_KEY", CLI_KEY)
        .env("CODA_API_TOKEN", demo.token().expose())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn coda-mcp");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("ready line");
    let url = mcp_url(&line);
    let http = reqwest::Client::new();
    let post = |body: String, sid: Option<String>| {
        let mut req = http
            .post(&url)
            .bearer_auth(CLI_KEY)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(body);
        if let Some(sid) = sid {
            req = req
                .header("mcp-session-id", sid)
                .header("mcp-protocol-version", "2025-06-18");
        }
        req.send()
    };
    let init = post(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"cli-test","version":"1"}}}"#.into(), None)
        .await
        .unwrap();
    let sid = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    post(
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.into(),
        Some(sid.clone()),
    )
    .await
    .unwrap();
    let write = serde_json::json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"coda_update_row",
        "arguments":{"docId":"AbCDeFGH01","tableIdOrName":"Tasks","rowIdOrName":"i-Tsk0001",
        "row":{"cells":[{"column":"Status","value":"Done"}]}}}});
    let sid_for_late = sid.clone();
    let call = tokio::spawn(post(write.to_string(), Some(sid)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    signal(&child, "-TERM");
    let started = Instant::now();
    // While it drains, a new request is refused clearly rather than started.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let late = post(
        r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#.into(),
        Some(sid_for_late),
    )
    .await
    .unwrap();
    assert_eq!(late.status(), 503);
    let late: serde_json::Value = late.json().await.unwrap();
    assert_eq!(late["error"], "shutting_down", "{late}");
    let answer = tokio::time::timeout(Duration::from_secs(8), call)
        .await
        .expect("the call is answered")
        .unwrap()
        .expect("the answer arrives");
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["result"]["isError"], false, "{body}");
    assert_eq!(
        body["result"]["structuredContent"]["completed"], true,
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "within the grace"
    );
    let status = wait_exit(&mut child, Duration::from_secs(7)).expect("exits after the call");
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(demo.writes_received(), 1);
    demo.shutdown();
}

/// rmcp's own client (the official Rust SDK) against the `coda-mcp serve --demo` binary:
/// it initializes, lists the tools and runs the seed's eight tools end to end.
#[tokio::test]
async fn the_rust_sdk_client_uses_serve_demo_end_to_end() {
    use rmcp::model::CallToolRequestParams;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::ServiceExt;
    use serde_json::{json, Value};

    let (mut child, line) = spawn(&["serve", "--demo", "--port", "0"]);
    let mut config = StreamableHttpClientTransportConfig::with_uri(mcp_url(&line));
    config.auth_header = Some(CLI_KEY.to_owned());
    let client =
        ().serve(StreamableHttpClientTransport::from_config(config))
            .await
            .expect("the Rust SDK connects");
    let info = client.peer_info().expect("initialized");
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("coda-mcp")
    );
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    let call = |name: &'static str, args: Value| {
        let params = CallToolRequestParams::new(name)
            .with_arguments(args.as_object().cloned().unwrap_or_default());
        let client = &client;
        async move {
            let result = client.call_tool(params).await.unwrap();
            assert_eq!(result.is_error, Some(false), "{name}: {:?}", result.content);
            result.structured_content.expect("structuredContent")
        }
    };
    let doc = "AbCDeFGH01";
    for seed in [
        "coda_list_documents",
        "coda_get_document",
        "coda_list_tables",
        "coda_get_table",
        "coda_list_rows",
        "coda_get_row",
        "coda_update_row",
        "coda_create_rows",
    ] {
        assert!(names.contains(&seed), "{seed} is listed");
    }
    assert!(
        call("coda_list_documents", json!({"limit": 3})).await["items"]
            .as_array()
            .is_some_and(|i| i.len() == 3)
    );
    assert_eq!(
        call("coda_get_document", json!({"docId": doc})).await["id"],
        doc
    );
    assert!(
        !call("coda_list_tables", json!({"docId": doc})).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(call(
        "coda_get_table",
        json!({"docId": doc, "tableIdOrName": "Tasks"})
    )
    .await["columns"]
        .as_array()
        .is_some_and(|c| !c.is_empty()));
    let rows = call(
        "coda_list_rows",
        json!({"docId": doc, "tableIdOrName": "Tasks", "limit": 2}),
    )
    .await;
    let row_id = rows["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        call(
            "coda_get_row",
            json!({"docId": doc, "tableIdOrName": "Tasks", "rowIdOrName": row_id}),
        )
        .await["id"],
        row_id.as_str()
    );
    let updated = call(
        "coda_update_row",
        json!({"docId": doc, "tableIdOrName": "Tasks", "rowIdOrName": row_id,
            "row": {"cells": [{"column": "Status", "value": "Done"}]}}),
    )
    .await;
    assert_eq!(updated["completed"], true, "{updated}");
    let created = call(
        "coda_create_rows",
        json!({"docId": doc, "tableIdOrName": "Tasks",
            "rows": [{"cells": [{"column": "Task", "value": "Written by the Rust SDK"}]}]}),
    )
    .await;
    assert_eq!(created["completed"], true, "{created}");
    client.cancel().await.unwrap();
    signal(&child, "-TERM");
    let status = wait_exit(&mut child, Duration::from_secs(7)).expect("exits");
    assert!(status.success());
}

#[test]
fn flag_values_outside_their_range_are_refused_with_the_range() {
    let cases: [(&[&str], &str); 8] = [
        (&["--session-idle-timeout", "0"], "must be at least 1"),
        (&["--max-sessions", "0"], "must be at least 1"),
        (&["--audit-days=-1"], "at least 1"),
        (&["--client-rate=-1"], "0 or more"),
        (&["--coda-base-url", "notaurl"], "is not an http(s) URL"),
        (&["--rate-limit", "write=5/6,write=6/6"], "given twice"),
        (&["--rate-limit", "reads=1/1"], "unknown rate class"),
        (&["--host", "example.com"], "is not an IP address"),
    ];
    for (args, says) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_coda-mcp"))
            .args(["serve", "--demo", "--port", "0"])
            .args(args)
            .env("CODA_MCP_KEYCHAIN", "off")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} was accepted: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn openapi_without_a_public_url_warns_that_chatgpt_cannot_reach_it() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_coda-mcp"))
            .arg("openapi")
            .args(args)
            .output()
            .unwrap()
    };
    let local = run(&[]);
    assert!(local.status.success());
    let err = String::from_utf8_lossy(&local.stderr);
    assert!(
        err.contains("ChatGPT cannot reach") && err.contains("--public-url"),
        "{err}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&local.stdout).unwrap();
    assert_eq!(doc["servers"][0]["url"], "http://127.0.0.1:8080");
    let public = run(&["--public-url", "https://coda-me.example.app"]);
    assert!(public.status.success());
    assert!(
        !String::from_utf8_lossy(&public.stderr).contains("warning"),
        "no warning with a public URL"
    );
}

#[test]
fn key_show_without_a_keychain_says_where_the_key_is_and_how_to_keep_one() {
    let out = Command::new(env!("CARGO_BIN_EXE_coda-mcp"))
        .args(["key", "show"])
        .env("CODA_MCP_KEYCHAIN", "off")
        .env_remove("CODA_MCP_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ready line") && err.contains("set CODA_MCP_KEY"),
        "{err}"
    );
}

#[test]
fn demo_on_a_busy_port_names_the_port() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_coda-mcp"))
        .args(["demo", "--port", &port])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("--port"),
        "{err}"
    );
}

#[test]
fn stdio_url_that_is_not_a_url_is_refused_instead_of_serving_something_else() {
    let out = Command::new(env!("CARGO_BIN_EXE_coda-mcp"))
        .args(["stdio", "--url", "notaurl"])
        .env("CODA_MCP_KEYCHAIN", "off")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("not an http(s) URL") && err.contains("http://127.0.0.1:8080/mcp"),
        "{err}"
    );
    assert!(!err.contains("serving"), "nothing is served: {err}");
}

/// Two servers started on one data directory (the app and a `serve`, or two `serve`s): each
/// keeps its own announcement, the second stopping does not hide the first, and `stdio` finds
/// the one still running.
#[test]
fn two_servers_on_one_data_directory_do_not_hide_each_other() {
    let dir = std::env::temp_dir().join(format!("coda-mcp-two-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (mut first, first_line) = spawn_in(&dir, &["serve", "--demo", "--port", "0"]);
    let (mut second, second_line) = spawn_in(&dir, &["serve", "--demo", "--port", "0"]);
    let (first_url, second_url) = (mcp_url(&first_line), mcp_url(&second_line));
    let announced = coda_mcp::runtime::discover_all(&dir);
    let urls: Vec<&str> = announced.iter().map(|i| i.mcp_url.as_str()).collect();
    assert_eq!(
        urls,
        [second_url.as_str(), first_url.as_str()],
        "newest first"
    );
    let newest = std::fs::read_to_string(dir.join("server.json")).unwrap();
    assert!(newest.contains(&second_url), "{newest}");

    signal(&second, "-TERM");
    assert!(wait_exit(&mut second, Duration::from_secs(20)).is_some_and(|s| s.success()));
    let announced = coda_mcp::runtime::discover_all(&dir);
    assert_eq!(announced.len(), 1, "{announced:?}");
    assert_eq!(announced[0].mcp_url, first_url);
    let main = std::fs::read_to_string(dir.join("server.json")).unwrap();
    assert!(
        main.contains(&first_url),
        "server.json names the one still running: {main}"
    );

    let stdio = Command::new(env!("CARGO_BIN_EXE_coda-mcp"))
        .arg("stdio")
        .env("CODA_MCP_KEYCHAIN", "off")
        .env("CODA_MCP_KEY", CLI_KEY)
        .env("CODA_MCP_DATA_DIR", &dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&stdio.stderr);
    assert!(
        err.contains(&format!("bridging to the running server at {first_url}")),
        "{err}"
    );

    signal(&first, "-TERM");
    assert!(wait_exit(&mut first, Duration::from_secs(20)).is_some());
    assert!(coda_mcp::runtime::discover_all(&dir).is_empty());
    assert!(!dir.join("server.json").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// In-process stdio answers what rmcp would drop or misexplain: a line that is not JSON, a
/// request before `initialize`; then serves the session normally and exits 0.
#[test]
fn in_process_stdio_explains_lines_it_cannot_serve() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_coda-mcp"))
        .args(["stdio", "--in-process", "--demo"])
        .env("CODA_MCP_KEYCHAIN", "off")
        .env("RUST_LOG", "off")
        .env(
            "CODA_MCP_DATA_DIR",
            std::env::temp_dir().join("coda-mcp-tests"),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut ask = |line: &str| -> serde_json::Value {
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
        if !line.contains("\"id\"") && line.contains("notifications/") {
            return serde_json::Value::Null;
        }
        serde_json::from_str(&lines.next().expect("an answer").unwrap()).unwrap()
    };
    let not_json = ask("hello");
    assert_eq!(not_json["error"]["code"], -32700, "{not_json}");
    let early = ask(r#"{"jsonrpc":"2.0","id":5,"method":"tools/list"}"#);
    assert_eq!(early["id"], 5);
    assert!(
        early["error"]["message"]
            .as_str()
            .unwrap()
            .contains("send `initialize` first"),
        "{early}"
    );
    let init = ask(
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
    );
    assert_eq!(init["result"]["serverInfo"]["name"], "coda-mcp", "{init}");
    ask(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    let tools = ask(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#);
    assert!(
        tools["result"]["tools"].as_array().unwrap().len() > 10,
        "{tools}"
    );
    let broken = ask("{\"jsonrpc\": ");
    assert_eq!(
        broken["error"]["code"], -32700,
        "still answered after the start"
    );
    drop(stdin);
    let status = wait_exit(&mut child, Duration::from_secs(20));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
}

/// The default toolset is `core`; `--toolsets` chooses more; a tool of another toolset is
/// refused with the toolset it is in and the flag that adds it; a wrong name stops the start.
#[tokio::test]
async fn toolsets_choose_what_tools_list_offers() {
    let names = |line: &str| {
        let url = mcp_url(line);
        async move {
            let s = Session::open(&url).await;
            let listed = s.request(1, "tools/list", serde_json::json!({})).await;
            let names: Vec<String> = listed["result"]["tools"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap().to_owned())
                .collect();
            let whoami = s
                .request(
                    2,
                    "tools/call",
                    serde_json::json!({"name": "coda_whoami", "arguments": {}}),
                )
                .await;
            (names, whoami)
        }
    };
    let (mut child, line) = spawn(&["serve", "--demo", "--port", "0"]);
    let (core, whoami) = names(&line).await;
    signal(&child, "-TERM");
    wait_exit(&mut child, Duration::from_secs(20));
    assert!(core.contains(&"coda_list_rows".to_owned()) && core.contains(&"search".to_owned()));
    assert!(!core.contains(&"coda_whoami".to_owned()), "{core:?}");
    let message = whoami["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("`admin` toolset") && message.contains("--toolsets core,admin"),
        "{whoami}"
    );

    let (mut child, line) = spawn(&["serve", "--demo", "--port", "0", "--toolsets", "core,admin"]);
    let (more, whoami) = names(&line).await;
    signal(&child, "-TERM");
    wait_exit(&mut child, Duration::from_secs(20));
    assert!(more.len() > core.len() && more.contains(&"coda_whoami".to_owned()));
    assert!(whoami["result"].is_object(), "{whoami}");

    let out = Command::new(env!("CARGO_BIN_EXE_coda-mcp"))
        .args(["serve", "--demo", "--port", "0", "--toolsets", "core,rows"])
        .env("CODA_MCP_KEYCHAIN", "off")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'rows' is not a toolset"));

    let stats = Command::new(env!("CARGO_BIN_EXE_coda-mcp"))
        .args(["tools", "--stats"])
        .output()
        .unwrap();
    let stats = String::from_utf8_lossy(&stats.stdout);
    for set in ["core", "docs", "sharing", "analytics", "all"] {
        assert!(stats.lines().any(|l| l.starts_with(set)), "{stats}");
    }
}

/// A port another program holds: the error says what to do, not only the OS's words.
#[test]
fn a_busy_port_says_what_to_do() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_coda-mcp"))
        .args(["serve", "--demo", "--port", &port])
        .env("CODA_MCP_KEYCHAIN", "off")
        .env("RUST_LOG", "off")
        .env(
            "CODA_MCP_DATA_DIR",
            std::env::temp_dir().join("coda-mcp-tests"),
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(&format!("cannot listen on 127.0.0.1:{port}"))
            && said.contains("another program holds that port")
            && said.contains("coda-mcp doctor")
            && said.contains("--port 0"),
        "{said}"
    );
}

/// In-process stdio at the default log level: rmcp's own records (each client's whole
/// initialize request) are not logged.
#[test]
fn in_process_stdio_logs_no_client_request_at_the_default_level() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_coda-mcp"))
        .args(["stdio", "--in-process", "--demo"])
        .env("CODA_MCP_KEYCHAIN", "off")
        .env_remove("RUST_LOG")
        .env(
            "CODA_MCP_DATA_DIR",
            std::env::temp_dir().join("coda-mcp-tests"),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"2025-06-18","capabilities":{{}},"clientInfo":{{"name":"quiet-test","version":"1"}}}}}}"#
    )
    .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let init: serde_json::Value =
        serde_json::from_str(&lines.next().expect("an answer").unwrap()).unwrap();
    assert_eq!(init["result"]["serverInfo"]["name"], "coda-mcp", "{init}");
    drop(stdin);
    let status = wait_exit(&mut child, Duration::from_secs(10)).expect("exits when stdin closes");
    assert!(status.success());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        !err.contains("peer_info") && !err.contains("quiet-test"),
        "{err}"
    );
    assert!(err.contains("serving the built-in demo workspace"), "{err}");
}

/// On a system without dpkg and apt-get (macOS, Fedora…), the scripts' set-up checks what the
/// Debian packages would bring and names what is missing, instead of stopping on "no apt-get"
/// when everything is there.
#[test]
fn scripts_without_apt_check_what_is_there_and_name_what_is_missing() {
    let bin = std::env::temp_dir().join(format!("coda-mcp-noapt-{}", std::process::id()));
    std::fs::create_dir_all(&bin).unwrap();
    // A PATH with a shell and a few tools, and no dpkg-query, apt-get or make.
    for tool in ["bash", "cat", "dirname", "grep", "id", "curl", "node"] {
        if let Some(found) = ["/usr/bin", "/bin", "/usr/local/bin"]
            .iter()
            .map(|d| std::path::Path::new(d).join(tool))
            .find(|p| p.exists())
        {
            let _ = std::os::unix::fs::symlink(found, bin.join(tool));
        }
    }
    let lib = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/lib.sh");
    let run = |packages: &str| {
        Command::new(bin.join("bash"))
            .arg("-c")
            .arg(format!(
                "source '{}'; ensure_debs {packages}",
                lib.display()
            ))
            .env_clear()
            .env("PATH", &bin)
            .output()
            .unwrap()
    };
    let have = run("curl nodejs ca-certificates");
    assert!(
        have.status.success(),
        "{}",
        String::from_utf8_lossy(&have.stderr)
    );
    let lacking = run("curl make");
    assert!(!lacking.status.success());
    let said = String::from_utf8_lossy(&lacking.stderr);
    assert!(
        said.contains("missing (named as Debian packages): make")
            && !said.contains("curl")
            && said.contains("no apt-get"),
        "{said}"
    );
    let _ = std::fs::remove_dir_all(&bin);
}
