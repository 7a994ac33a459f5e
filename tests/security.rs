//! Safe by default: each rule of the security design, with a test that fails without it.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{connect_with, quick_demo, Harness, TEST_KEY};
use serde_json::{json, Value};

const PING: &str = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"sec","version":"1"}}}"#;

async fn post_as(
    url: &str,
    bearer: Option<&str>,
    body: &str,
    session: Option<&str>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_owned());
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    if let Some(s) = session {
        req = req
            .header("mcp-session-id", s)
            .header("mcp-protocol-version", "2025-06-18");
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn mcp_requires_the_connection_key_but_health_stays_public() {
    let h = Harness::start().await;
    let resp = post_as(&h.url(), None, INIT, None).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.headers()["www-authenticate"].to_str().unwrap(),
        "Bearer realm=\"coda-mcp\""
    );
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer"),
        "{body}"
    );
    let resp = post_as(&h.url(), Some("cmk_not-the-key"), INIT, None).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(
        post_as(&h.url(), Some(TEST_KEY), INIT, None).await.status(),
        200
    );
    assert!(
        connect_with(&h, None).await.is_err(),
        "the official client without a key is refused"
    );

    let health = reqwest::get(format!("{}/health", h.base())).await.unwrap();
    assert_eq!(health.status(), 200);
    let text = health.text().await.unwrap();
    assert!(
        !text.contains(TEST_KEY)
            && !text.contains(h.demo.token().expose())
            && !text.contains("Demo User"),
        "{text}"
    );
    h.stop().await;
}

#[tokio::test]
async fn repeated_failures_lock_the_address_out() {
    let h = Harness::start().await;
    for _ in 0..10 {
        assert_eq!(
            post_as(&h.url(), Some("cmk_guess"), PING, None)
                .await
                .status(),
            401
        );
    }
    let locked = post_as(&h.url(), Some(TEST_KEY), INIT, None).await;
    assert_eq!(
        locked.status(),
        429,
        "even the right key is refused while locked out"
    );
    assert!(locked.headers().contains_key("retry-after"));
    h.stop().await;
}

#[tokio::test]
async fn a_callers_own_coda_token_is_passed_through_when_coda_accepts_it() {
    // The server has no Coda token of its own: a tool call can only work with the caller's.
    let h = Harness::start_with(quick_demo(), |c| c.coda_token = None).await;
    let demo_token = h.demo.token().expose().to_owned();
    let client = connect_with(&h, Some(&demo_token))
        .await
        .expect("a valid Coda token is accepted");
    let r = common::call(&client, "coda_list_documents", json!({})).await;
    assert!(common::ok(&r)["count"].as_u64().unwrap() >= 3);
    client.cancel().await.unwrap();
    let owner = connect_with(&h, Some(TEST_KEY)).await.unwrap();
    let r = common::call(&owner, "coda_list_documents", json!({})).await;
    assert!(
        common::err_text(&r).contains("no Coda API token"),
        "the owner's calls use the server's (missing) token"
    );
    owner.cancel().await.unwrap();
    let resp = post_as(&h.url(), Some("pat_not-a-real-coda-token"), INIT, None).await;
    assert_eq!(resp.status(), 401);
    h.stop().await;

    let h = Harness::start_with(quick_demo(), |c| c.pass_through = false).await;
    let resp = post_as(&h.url(), Some(h.demo.token().expose()), INIT, None).await;
    assert_eq!(
        resp.status(),
        401,
        "--no-pass-through accepts only the connection key"
    );
    h.stop().await;
}

#[tokio::test]
async fn no_auth_opens_loopback_only_never_the_public_face() {
    let h = Harness::start_with(quick_demo(), |c| c.no_auth = true).await;
    assert_eq!(
        post_as(&h.url(), None, INIT, None).await.status(),
        200,
        "--no-auth serves loopback without a key"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public_url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let public = h.server.public_router();
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            public.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    assert_eq!(
        post_as(&public_url, None, INIT, None).await.status(),
        401,
        "the tunnel's face always authenticates"
    );
    assert_eq!(
        post_as(&public_url, Some(TEST_KEY), INIT, None)
            .await
            .status(),
        200
    );
    task.abort();
    h.stop().await;
}

#[tokio::test]
async fn sessions_are_capped_and_expire_when_idle() {
    let h = Harness::start_with(quick_demo(), |c| {
        c.max_sessions = 2;
        c.session_idle_timeout = Duration::from_millis(700);
    })
    .await;
    let a = h.raw_session("2025-06-18").await;
    let _b = h.raw_session("2025-06-18").await;
    let third = post_as(&h.url(), Some(TEST_KEY), INIT, None).await;
    assert_eq!(third.status(), 503);
    let body: Value = third.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32000);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("maximum"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        post_as(&h.url(), Some(TEST_KEY), PING, Some(&a))
            .await
            .status(),
        404,
        "an idle session expired"
    );
    assert_eq!(
        post_as(&h.url(), Some(TEST_KEY), INIT, None).await.status(),
        200,
        "room for new sessions again"
    );
    h.stop().await;
}

#[tokio::test]
async fn one_runaway_client_is_slowed_down_without_affecting_others() {
    let h = Harness::start_with(quick_demo(), |c| c.client_rate = Some((5.0, 5.0))).await;
    let a = h.raw_session("2025-06-18").await;
    let b = h.raw_session("2025-06-18").await;
    let mut limited = 0;
    for _ in 0..20 {
        let resp = post_as(&h.url(), Some(TEST_KEY), PING, Some(&a)).await;
        if resp.status() == 429 {
            assert!(resp.headers().contains_key("retry-after"));
            limited += 1;
        }
    }
    assert!(
        limited >= 10,
        "only {limited} of 20 rapid requests were limited"
    );
    assert_eq!(
        post_as(&h.url(), Some(TEST_KEY), PING, Some(&b))
            .await
            .status(),
        200,
        "another client is unaffected"
    );
    h.stop().await;
}

// ------------------------------------------------------------------ the binary

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_coda-mcp"));
    c.env("CODA_MCP_KEYCHAIN", "off")
        .env(
            "CODA_MCP_DATA_DIR",
            std::env::temp_dir().join("coda-mcp-tests"),
        )
        .env_remove("CODA_API_TOKEN")
        .env_remove("CODA_MCP_KEY");
    c
}

#[test]
fn dangerous_flag_combinations_are_refused() {
    for (args, needle) in [
        (
            vec![
                "serve",
                "--demo",
                "--no-auth",
                "--public-url",
                "https://abc.example.app",
            ],
            "--no-auth cannot be combined",
        ),
        (
            vec!["serve", "--demo", "--no-auth", "--host", "0.0.0.0"],
            "only allowed on a loopback",
        ),
        (
            vec!["serve", "--demo", "--public-url", "http://abc.example.app"],
            "must be an https",
        ),
    ] {
        let out = bin().args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn without_a_keychain_the_key_is_shown_once_on_stdout_for_this_run() {
    let mut child = bin()
        .args(["serve", "--demo", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut ready, mut dashboard, mut key_line) = (String::new(), String::new(), String::new());
    out.read_line(&mut ready).unwrap();
    out.read_line(&mut dashboard).unwrap();
    out.read_line(&mut key_line).unwrap();
    assert!(
        dashboard.starts_with("dashboard: http://127.0.0.1:") && dashboard.contains("/ui/?token="),
        "{dashboard}"
    );
    let _ = child.kill();
    let _ = child.wait();
    assert!(ready.contains("/mcp"));
    let key = key_line.trim().rsplit(' ').next().unwrap();
    assert!(key.starts_with("cmk_") && key.len() == 47, "{key_line}");
}

/// Collects a pipe in the background so a chatty child never blocks on a full pipe.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = pipe.read_to_string(&mut s);
        s
    })
}

/// Runs the demo and the server at trace level through a full scenario with known secrets,
/// then searches every line they printed for those secrets.
#[tokio::test]
async fn no_secret_reaches_the_output_even_at_trace_level() {
    const CODA_TOKEN: &str = "pat_SECRET-coda-token-0123456789abcdef";
    const KEY: &str = "cmk_SECRET-connection-key-0123456789abcdef";
    const WRONG: &str = "pat_SECRET-wrong-token-0123456789abcdef";
    let mut demo = bin()
        .args(["demo", "--port", "0"])
        .env("CODA_API_TOKEN", CODA_TOKEN)
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let demo_err = drain(demo.stderr.take().unwrap());
    let mut demo_out = BufReader::new(demo.stdout.take().unwrap());
    let mut line = String::new();
    demo_out.read_line(&mut line).unwrap();
    let mut all = line.clone();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    let mut server = bin()
        .args([
            "serve",
            "--port",
            "0",
            "--coda-base-url",
            &base,
            "--log-format",
            "json",
        ])
        .env("CODA_API_TOKEN", CODA_TOKEN)
        .env("CODA_MCP_KEY", KEY)
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let server_err = drain(server.stderr.take().unwrap());
    let mut server_out = BufReader::new(server.stdout.take().unwrap());
    let mut ready = String::new();
    server_out.read_line(&mut ready).unwrap();
    all.push_str(&ready);
    let url = ready
        .split_whitespace()
        .find(|w| w.ends_with("/mcp"))
        .unwrap()
        .to_owned();

    let init = post_as(&url, Some(KEY), INIT, None).await;
    assert_eq!(init.status(), 200);
    let sid = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    post_as(
        &url,
        Some(KEY),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        Some(&sid),
    )
    .await;
    for body in [
        json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}),
        json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"coda_list_documents","arguments":{}}}),
        json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"coda_update_row","arguments":{"docId":"AbCDeFGH01",
            "tableIdOrName":"Tasks","rowIdOrName":"i-Tsk0001","row":{"cells":[{"column":"Status","value":"Done"}]}}}}),
    ] {
        let resp = post_as(&url, Some(KEY), &body.to_string(), Some(&sid)).await;
        assert_eq!(resp.status(), 200);
        all.push_str(&resp.text().await.unwrap());
    }
    assert_eq!(post_as(&url, Some(WRONG), INIT, None).await.status(), 401);
    assert_eq!(
        post_as(&url, Some(CODA_TOKEN), INIT, None).await.status(),
        200,
        "pass-through with a valid token"
    );

    for child in [&server, &demo] {
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
    }
    for (child, out, err) in [
        (&mut server, &mut server_out, server_err),
        (&mut demo, &mut demo_out, demo_err),
    ] {
        let mut rest = String::new();
        out.read_to_string(&mut rest).unwrap();
        rest.push_str(&err.join().unwrap());
        assert!(child.wait().unwrap().success());
        all.push_str(&rest);
    }
    assert!(
        all.lines().count() > 50,
        "trace logging produced output ({} lines)",
        all.lines().count()
    );
    for secret in [CODA_TOKEN, KEY, WRONG] {
        let leaked: Vec<&str> = all.lines().filter(|l| l.contains(secret)).take(3).collect();
        assert!(leaked.is_empty(), "{} leaked in: {leaked:?}", &secret[..12]);
        // Also the distinctive middle of each secret, in case it was cut or re-encoded.
        assert!(!all.contains(&secret[4..20]), "part of a secret leaked");
    }
}
