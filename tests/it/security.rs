//! Safe by default: each rule of the security design, with a test that fails without it.

use crate::common;
use crate::upstream;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{connect_with, quick_demo, serve_public_face, Harness, TEST_KEY};
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
        format!(
            "Bearer realm=\"coda-mcp\", resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\", scope=\"coda:read coda:write\"",
            h.base()
        )
    );
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer"),
        "{body}"
    );
    // Says where the key is found, as this server knows it (the harness's: as if kept in
    // the keychain).
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("`coda-mcp key show` prints it"),
        "{body}"
    );
    // The key sent without `Bearer `: told so, and never echoed.
    let resp = reqwest::Client::new()
        .post(h.url())
        .header("authorization", TEST_KEY)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(INIT)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let said = resp.text().await.unwrap();
    assert!(said.contains("it has no 'Bearer '"), "{said}");
    assert!(!said.contains(TEST_KEY), "{said}");
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

/// `/whoami` calls once the server's own start-up health check has gone through.
async fn settled_whoami_calls(up: &upstream::Upstream) -> usize {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while up.whoami_calls() == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    up.whoami_calls()
}

#[tokio::test]
async fn failed_guesses_lock_the_guesser_out_but_never_the_owners_key() {
    let up = upstream::start().await;
    let h = Harness::start_with(quick_demo(), |c| up.attach(c)).await;
    settled_whoami_calls(&up).await;
    for _ in 0..10 {
        assert_eq!(
            post_as(&h.url(), Some("cmk_guess"), PING, None)
                .await
                .status(),
            401
        );
    }
    let locked = post_as(&h.url(), Some("cmk_guess"), PING, None).await;
    assert_eq!(locked.status(), 429, "the guesser is locked out");
    assert!(locked.headers().contains_key("retry-after"));
    // The same address (a stranger on the owner's network, or everyone behind one proxy)
    // cannot lock the owner out: the 256-bit key is always accepted.
    assert_eq!(
        post_as(&h.url(), Some(TEST_KEY), INIT, None).await.status(),
        200,
        "the owner's key still works from a locked address"
    );
    let before = up.whoami_calls();
    let token = h.demo.token().expose().to_owned();
    let resp = post_as(&h.url(), Some(&token), INIT, None).await;
    assert_eq!(
        resp.status(),
        429,
        "a pass-through token from a locked address is refused…"
    );
    assert_eq!(
        up.whoami_calls(),
        before,
        "…without asking Coda (no /whoami oracle while locked out)"
    );
    h.stop().await;
}

#[tokio::test]
async fn pass_through_verdicts_are_cached() {
    let up = upstream::start().await;
    let h = Harness::start_with(quick_demo(), |c| up.attach(c)).await;
    let baseline = settled_whoami_calls(&up).await;
    let token = h.demo.token().expose().to_owned();
    let docs = format!("{}/actions/coda_list_documents", h.base());
    for _ in 0..5 {
        assert_eq!(post_as(&docs, Some(&token), "{}", None).await.status(), 200);
    }
    assert_eq!(
        up.whoami_calls() - baseline,
        1,
        "one /whoami for five requests with a valid token"
    );
    for _ in 0..3 {
        assert_eq!(
            post_as(&docs, Some("pat_not-a-real-coda-token"), "{}", None)
                .await
                .status(),
            401
        );
    }
    assert_eq!(
        up.whoami_calls() - baseline,
        2,
        "a refused token is asked about once too"
    );
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
    let (public_base, task) = serve_public_face(&h).await;
    let public_url = format!("{public_base}/mcp");
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
    task.cancel();
    h.stop().await;
}

/// The idle timeout of the expiry tests: long beside the few milliseconds their set-up takes,
/// so a slow machine cannot expire a session before the test means it to.
const IDLE: Duration = Duration::from_secs(2);

/// Waits (bounded, well past [`IDLE`]) until the server holds no session, without touching
/// any (it reads the count the server keeps, as `/health` does).
async fn all_expire(h: &Harness) -> bool {
    let until = tokio::time::Instant::now() + IDLE + Duration::from_secs(20);
    while tokio::time::Instant::now() < until {
        if h.server.state.session_count().await == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn sessions_are_capped_and_expire_when_idle() {
    let h = Harness::start_with(quick_demo(), |c| {
        c.max_sessions = 2;
        c.session_idle_timeout = IDLE;
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
    assert!(all_expire(&h).await, "idle sessions expire");
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

const DIRECT: &str = r#"{"jsonrpc":"2.0","id":7,"method":"coda_whoami"}"#;

/// A GET or DELETE on `/mcp` as `bearer` for `session`.
async fn session_request(
    method: reqwest::Method,
    url: &str,
    bearer: &str,
    session: &str,
) -> reqwest::Response {
    reqwest::Client::new()
        .request(method, url)
        .bearer_auth(bearer)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-06-18")
        .send()
        .await
        .unwrap()
}

/// Reads SSE text until `done` accepts it or 5 s pass.
async fn read_sse(resp: &mut reqwest::Response, done: impl Fn(&str) -> bool) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !done(&seen) && tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(2), resp.chunk()).await {
            Ok(Ok(Some(c))) => seen.push_str(&String::from_utf8_lossy(&c)),
            _ => break,
        }
    }
    seen
}

fn session_id(resp: &reqwest::Response) -> String {
    resp.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn direct_sessions_are_capped_expire_and_may_be_named_by_the_client() {
    let h = Harness::start_with(quick_demo(), |c| {
        c.max_sessions = 3;
        c.session_idle_timeout = IDLE;
    })
    .await;
    // The seed's step 4: ChatGPT names the session on its first POST and the server keeps
    // that name; the same id then streams the result (step 5).
    let named = post_as(&h.url(), Some(TEST_KEY), DIRECT, Some("client-chosen-id")).await;
    assert_eq!(named.status(), 200);
    assert_eq!(session_id(&named), "client-chosen-id");
    let mut stream =
        session_request(reqwest::Method::GET, &h.url(), TEST_KEY, "client-chosen-id").await;
    assert_eq!(stream.status(), 200);
    assert!(read_sse(&mut stream, |s| s.contains("data:"))
        .await
        .contains("Demo User"));
    drop(stream);
    // Without an id the server issues one; direct sessions count against --max-sessions
    // together with MCP's.
    let first = post_as(&h.url(), Some(TEST_KEY), DIRECT, None).await;
    assert_eq!(first.status(), 200);
    let a = session_id(&first);
    assert_ne!(a, "client-chosen-id");
    let _standard = h.raw_session("2025-06-18").await;
    for name in [None, Some("another-name")] {
        let over = post_as(&h.url(), Some(TEST_KEY), DIRECT, name).await;
        assert_eq!(
            over.status(),
            503,
            "the cap counts direct sessions ({name:?})"
        );
        let body: Value = over.json().await.unwrap();
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("maximum"));
    }
    // A GET for a session nobody holds is 404, as MCP answers (only a direct call starts one).
    assert_eq!(
        session_request(reqwest::Method::GET, &h.url(), TEST_KEY, "never-started")
            .await
            .status(),
        404
    );
    // An expired direct session is gone: its stream is 404 and it holds no place any more.
    assert!(all_expire(&h).await, "idle sessions expire");
    assert_eq!(
        session_request(reqwest::Method::GET, &h.url(), TEST_KEY, &a)
            .await
            .status(),
        404,
        "an idle direct session expired"
    );
    assert_eq!(
        post_as(&h.url(), Some(TEST_KEY), DIRECT, None)
            .await
            .status(),
        200,
        "room for new sessions again"
    );
    h.stop().await;
}

#[tokio::test]
async fn sessions_belong_to_the_caller_that_created_them() {
    const ALICE: &str = "pat_alice-coda-token-00000000000000000000";
    const BOB: &str = "pat_bob-coda-token-0000000000000000000000";
    let up = upstream::start().await;
    up.accept(ALICE);
    up.accept(BOB);
    let h = Harness::start_with(quick_demo(), |c| up.attach(c)).await;

    // Alice's direct-call session, with a result waiting for its stream.
    let resp = post_as(&h.url(), Some(ALICE), DIRECT, None).await;
    assert_eq!(resp.status(), 200);
    let direct = session_id(&resp);
    for (who, bearer) in [("Bob", BOB), ("the owner", TEST_KEY)] {
        let mut get = session_request(reqwest::Method::GET, &h.url(), bearer, &direct).await;
        assert_eq!(get.status(), 404, "{who} cannot stream Alice's results");
        assert!(!read_sse(&mut get, |_| false).await.contains("Demo User"));
        let del = session_request(reqwest::Method::DELETE, &h.url(), bearer, &direct).await;
        assert_eq!(del.status(), 404, "{who} cannot end Alice's session");
        // Naming Alice's id starts a session of the caller's own under that name: session
        // names are scoped to their caller, so Alice's session is not reached.
        let post = post_as(&h.url(), Some(bearer), DIRECT, Some(&direct)).await;
        assert_eq!(post.status(), 200, "{who} gets a session of their own");
        assert_eq!(session_id(&post), direct);
    }
    let mut mine = session_request(reqwest::Method::GET, &h.url(), ALICE, &direct).await;
    assert_eq!(mine.status(), 200);
    let text = read_sse(&mut mine, |s| s.contains("data:")).await;
    assert!(
        text.contains("Demo User"),
        "Alice still gets her result: {text}"
    );
    // Everything kept is sent before the next keep-alive tick.
    let more = read_sse(&mut mine, |s| s.contains(":keep-alive")).await;
    assert_eq!(
        text.matches("data:").count() + more.matches("data:").count(),
        1,
        "and only hers, not the others' calls under the same name: {text}{more}"
    );
    drop(mine);
    assert_eq!(
        session_request(reqwest::Method::DELETE, &h.url(), ALICE, &direct)
            .await
            .status(),
        200
    );

    // Standard MCP sessions are bound the same way.
    let init = post_as(&h.url(), Some(ALICE), INIT, None).await;
    assert_eq!(init.status(), 200);
    let standard = session_id(&init);
    let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    assert_eq!(
        post_as(&h.url(), Some(ALICE), initialized, Some(&standard))
            .await
            .status(),
        202
    );
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    for (who, bearer) in [("Bob", BOB), ("the owner", TEST_KEY)] {
        let post = post_as(&h.url(), Some(bearer), list, Some(&standard)).await;
        assert_eq!(post.status(), 404, "{who} cannot use Alice's MCP session");
        let body: Value = post.json().await.unwrap();
        assert_eq!(body["error"]["code"], -32001);
        let direct_call = post_as(&h.url(), Some(bearer), DIRECT, Some(&standard)).await;
        assert_eq!(
            direct_call.status(),
            404,
            "{who}: no direct call in it either"
        );
        for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
            let resp = session_request(method.clone(), &h.url(), bearer, &standard).await;
            assert_eq!(resp.status(), 404, "{who}: {method} on Alice's MCP session");
        }
    }
    assert_eq!(
        post_as(&h.url(), Some(ALICE), list, Some(&standard))
            .await
            .status(),
        200,
        "Alice's session is untouched"
    );
    assert_eq!(
        session_request(reqwest::Method::DELETE, &h.url(), ALICE, &standard)
            .await
            .status(),
        200
    );
    h.stop().await;
}

#[tokio::test]
async fn the_rate_limit_keys_by_caller_not_by_a_session_id_the_client_makes_up() {
    let h = Harness::start_with(quick_demo(), |c| c.client_rate = Some((5.0, 5.0))).await;
    let mut limited = 0;
    for i in 0..20 {
        // A fresh, made-up session id per request must not buy a fresh bucket.
        let resp = post_as(
            &h.url(),
            Some(TEST_KEY),
            DIRECT,
            Some(&format!("fresh-{i}")),
        )
        .await;
        match resp.status().as_u16() {
            429 => limited += 1,
            // A session under the client's own name (the seed's step 4), within the limit.
            200 => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!(limited >= 10, "only {limited} of 20 were limited");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // The GPT Action routes share the caller's bucket.
    let url = format!("{}/actions/coda_whoami", h.base());
    let burst =
        futures::future::join_all((0..20).map(|_| post_as(&url, Some(TEST_KEY), "{}", None))).await;
    let mut limited = 0;
    for resp in burst {
        if resp.status() == 429 {
            assert!(resp.headers().contains_key("retry-after"));
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["error"], "rate_limited", "{body}");
            limited += 1;
        } else {
            assert_eq!(resp.status(), 200);
        }
    }
    assert!(limited >= 10, "only {limited} of 20 actions were limited");
    h.stop().await;
}

#[tokio::test]
async fn action_routes_demand_the_key_and_keep_the_limits() {
    let h = Harness::start().await;
    let url = format!("{}/actions/coda_whoami", h.base());
    for bearer in [None, Some("cmk_not-the-key")] {
        let resp = post_as(&url, bearer, "{}", None).await;
        assert_eq!(resp.status(), 401);
        assert_eq!(
            resp.headers()["www-authenticate"].to_str().unwrap(),
            format!(
                "Bearer realm=\"coda-mcp\", resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\", scope=\"coda:read coda:write\"",
                h.base()
            )
        );
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized");
        assert!(body["message"].as_str().unwrap().contains("key"), "{body}");
    }
    let big = format!(r#"{{"x":"{}"}}"#, "a".repeat(5 << 20));
    let resp = post_as(&url, Some(TEST_KEY), &big, None).await;
    assert_eq!(resp.status(), 413);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "too_large");
    let deep = format!(r#"{{"x":{}{}}}"#, "[".repeat(100), "]".repeat(100));
    let resp = post_as(&url, Some(TEST_KEY), &deep, None).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "too_deep", "{body}");
    assert!(body["message"].as_str().unwrap().contains("64"));
    h.stop().await;
}

#[tokio::test]
async fn the_public_host_is_the_public_face_even_on_the_loopback_listener() {
    const PUBLIC_HOST: &str = "coda-demo.example.app";
    let h = Harness::start_with(quick_demo(), |c| {
        c.no_auth = true;
        c.public_url = Some(format!("https://{PUBLIC_HOST}"));
        c.public_hosts = vec![PUBLIC_HOST.into()];
    })
    .await;
    let dash = h.dashboard_token();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let send = |method: reqwest::Method, path: &str, host: &str, extra: Option<(&str, &str)>| {
        let mut req = client
            .request(method, format!("{}{path}", h.base()))
            .header("host", host)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some((k, v)) = extra {
            req = req.header(k, v);
        }
        req
    };
    let local = format!("127.0.0.1:{}", h.server.addr.port());
    // On loopback, --no-auth serves without a key and the dashboard is there.
    let resp = send(reqwest::Method::POST, "/mcp", &local, None)
        .body(INIT)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = send(
        reqwest::Method::GET,
        "/api/state",
        &local,
        Some(("authorization", &format!("Bearer {dash}"))),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    // The same listener reached through a reverse proxy (Host: the public host) is the
    // public face: the key is required and there is no dashboard, not even with its token.
    for (host, extra) in [
        (PUBLIC_HOST, None),
        (local.as_str(), Some(("x-forwarded-for", "203.0.113.7"))),
    ] {
        for (path, body) in [("/mcp", INIT), ("/actions/coda_whoami", "{}")] {
            let resp = send(reqwest::Method::POST, path, host, extra)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 401, "{path} via {host} {extra:?}");
            assert!(resp.headers().contains_key("www-authenticate"));
        }
        let resp = send(reqwest::Method::POST, "/mcp", host, extra)
            .bearer_auth(TEST_KEY)
            .body(INIT)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "with the key, via {host}");
        for path in [
            format!("/ui/?token={dash}"),
            "/ui/app.js".to_owned(),
            "/api/state".to_owned(),
            "/api/calls.csv".to_owned(),
        ] {
            let resp = send(reqwest::Method::GET, &path, host, extra)
                .bearer_auth(&dash)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 404, "{path} via {host} {extra:?}");
            assert!(!resp.headers().contains_key("set-cookie"));
        }
        let resp = send(reqwest::Method::POST, "/api/setup/tunnel", host, extra)
            .bearer_auth(&dash)
            .body(r#"{"on":true}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404);
    }
    h.stop().await;
}

/// A tunnel provider that must never be asked to open anything.
struct NoTunnel;

impl coda_mcp::tunnel::TunnelProvider for NoTunnel {
    fn open(
        &self,
        _app: std::sync::Arc<dyn coda_mcp::tunnel::Endpoint>,
    ) -> futures::future::BoxFuture<
        'static,
        Result<coda_mcp::tunnel::OpenTunnel, coda_mcp::tunnel::TunnelError>,
    > {
        Box::pin(async {
            Err(coda_mcp::tunnel::TunnelError::Unreachable(
                "a test double".into(),
            ))
        })
    }
}

#[tokio::test]
async fn no_auth_refuses_to_open_a_tunnel_at_run_time() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let demo = coda_mcp::demo::start(quick_demo(), 0).await.unwrap();
    let mut config = common::quick_engine(&demo);
    config.no_auth = true;
    let engine = coda_mcp::Engine::new(config).unwrap();
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let factory: coda_mcp::control::ProviderFactory = Arc::new(move |_, _| {
        counter.fetch_add(1, Ordering::SeqCst);
        Arc::new(NoTunnel) as Arc<dyn coda_mcp::tunnel::TunnelProvider>
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (server, controls) = coda_mcp::control::start(
        engine,
        listener,
        coda_mcp::control::ControlOptions {
            tunnel_provider: Some(factory),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let refused = controls
        .start_tunnel(&server.state.engine)
        .await
        .expect_err("no tunnel while authentication is off");
    assert!(refused.to_string().contains("--no-auth"), "{refused}");
    assert_eq!(
        asked.load(Ordering::SeqCst),
        0,
        "no provider was even built"
    );
    assert!(server.state.engine.public().url().is_none());
    server.shutdown().await;
    demo.shutdown();
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
/// Reads a child's pipe to its end on a thread, so the child never blocks on a full pipe.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = pipe.read_to_string(&mut s);
        s
    })
}

/// Starts `serve` with these arguments and environment, waits for its ready line, stops it,
/// and returns (ready line, everything it wrote to stderr).
fn serve_until_ready(args: &[&str], env: &[(&str, &str)]) -> (String, String) {
    let mut child = bin()
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = drain(child.stderr.take().unwrap());
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    (ready, err.join().unwrap())
}

#[test]
fn no_auth_is_announced_on_stderr_whatever_the_log_level() {
    let (ready, err) = serve_until_ready(
        &["serve", "--demo", "--no-auth", "--port", "0"],
        &[("RUST_LOG", "off")],
    );
    assert!(ready.contains("/mcp"), "{ready}");
    assert!(
        err.contains("AUTHENTICATION IS OFF (--no-auth)"),
        "with logging off, stderr still warns: {err:?}"
    );
}

#[test]
fn weak_connection_keys_from_the_environment_are_refused_or_warned_about() {
    let out = bin()
        .args(["serve", "--demo", "--port", "0"])
        .env("CODA_MCP_KEY", "cmk_short-key")
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(!out.status.success(), "a 13-character key was accepted");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at least 32"), "{err}");
    assert!(
        !err.contains("cmk_short-key"),
        "the refusal does not echo the key"
    );

    // Long enough but not one of ours (a Coda token in the wrong variable?): a clear warning.
    let (ready, err) = serve_until_ready(
        &["serve", "--demo", "--port", "0"],
        &[
            ("CODA_MCP_KEY", "pat_0123456789abcdef0123456789abcdef"),
            ("RUST_LOG", "off"),
        ],
    );
    assert!(ready.contains("/mcp"), "it still serves: {ready}");
    assert!(err.contains("does not start with `cmk_`"), "{err:?}");
    assert!(
        !err.contains("0123456789abcdef0123"),
        "the warning does not echo the key"
    );
}

#[test]
fn the_openapi_command_honours_read_only_and_refuses_plain_http() {
    let out = bin()
        .args(["openapi", "--public-url", "http://abc.example.app"])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a plain-http public URL was accepted"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("https://"));
    let schema = |args: &[&str]| -> Value {
        let out = bin().arg("openapi").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let full = schema(&["--public-url", "https://abc.example.app/"]);
    assert_eq!(full["servers"][0]["url"], "https://abc.example.app");
    assert!(full["paths"].get("/actions/coda_update_row").is_some());
    let read_only = schema(&["--read-only"]);
    assert!(read_only["paths"].get("/actions/coda_update_row").is_none());
    assert!(read_only["paths"].get("/actions/coda_list_rows").is_some());
    assert_eq!(
        read_only["paths"]["/actions/callTool"]["post"]["x-openai-isConsequential"],
        false
    );
}

/// Every file under `dir`, as text (lossy), for searching.
fn files_text(dir: &std::path::Path) -> Vec<(std::path::PathBuf, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_text(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    out
}

/// Runs the demo and the server at trace level through a full scenario with known secrets —
/// MCP, the GPT Action routes, the seed's direct-call flow, pass-through, the dashboard API —
/// then searches every line they printed, every answer, and every file in the data directory
/// (audit history, server.json) for those secrets.
#[tokio::test]
async fn no_secret_reaches_the_output_even_at_trace_level() {
    const CODA_TOKEN: &str = "pat_SECRET-coda-token-0123456789abcdef";
    const KEY: &str = "cmk_SECRET-connection-key-0123456789abcdef";
    const WRONG: &str = "pat_SECRET-wrong-token-0123456789abcdef";
    let data_dir = std::env::temp_dir().join(format!(
        "coda-mcp-secrets-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
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
            "--toolsets",
            "all",
        ])
        .env("CODA_API_TOKEN", CODA_TOKEN)
        .env("CODA_MCP_KEY", KEY)
        .env("CODA_MCP_DATA_DIR", &data_dir)
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
    // The dashboard link is the one place its token is meant to appear (for the person).
    let mut dashboard_line = String::new();
    server_out.read_line(&mut dashboard_line).unwrap();
    let dash = dashboard_line
        .trim()
        .rsplit_once("?token=")
        .map(|(_, t)| t.to_owned())
        .unwrap_or_else(|| panic!("no dashboard link: {dashboard_line}"));
    assert!(dash.len() > 20);
    let url = ready
        .split_whitespace()
        .find(|w| w.ends_with("/mcp"))
        .unwrap()
        .to_owned();
    let root = url.trim_end_matches("/mcp").to_owned();

    // Standard MCP.
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

    // The GPT Action routes, with the key and with a pass-through token.
    for (bearer, path, body) in [
        (KEY, "coda_list_documents", json!({})),
        (
            KEY,
            "coda_update_row",
            json!({"docId":"AbCDeFGH01","tableIdOrName":"Tasks",
            "rowIdOrName":"i-Tsk0002","row":{"cells":[{"column":"Status","value":"Done"}]}}),
        ),
        (
            KEY,
            "callTool",
            json!({"name":"coda_whoami","arguments":{}}),
        ),
        (CODA_TOKEN, "coda_whoami", json!({})),
    ] {
        let resp = post_as(
            &format!("{root}/actions/{path}"),
            Some(bearer),
            &body.to_string(),
            None,
        )
        .await;
        assert_eq!(resp.status(), 200, "{path}");
        all.push_str(&resp.text().await.unwrap());
    }
    let resp = post_as(
        &format!("{root}/actions/coda_whoami"),
        Some(WRONG),
        "{}",
        None,
    )
    .await;
    assert_eq!(resp.status(), 401);
    all.push_str(&resp.text().await.unwrap());

    // The seed's direct-call flow: POST, then the stream, then DELETE.
    let direct = post_as(
        &url,
        Some(KEY),
        r#"{"jsonrpc":"2.0","id":1,"method":"coda_list_documents","params":{"limit":10}}"#,
        None,
    )
    .await;
    assert_eq!(direct.status(), 200);
    let direct_sid = session_id(&direct);
    all.push_str(&direct.text().await.unwrap());
    let mut stream = session_request(reqwest::Method::GET, &url, KEY, &direct_sid).await;
    all.push_str(&read_sse(&mut stream, |s| s.contains("data:")).await);
    drop(stream);
    session_request(reqwest::Method::DELETE, &url, KEY, &direct_sid).await;

    // OAuth: an app registers, the owner approves with the key, the app calls a tool with its
    // token, refreshes and revokes. The token endpoint's answers carry the tokens (to the app)
    // and the redirect carries the code: those two are the only places they may appear.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let verifier = "SECRET-pkce-verifier-0123456789abcdefghijklmnopqrstuvwxyz";
    let redirect = "http://127.0.0.1:9/callback";
    let registered: Value = browser
        .post(format!("{root}/oauth/register"))
        .json(&json!({"client_name": "Leak test", "redirect_uris": [redirect]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = registered["client_id"].as_str().unwrap().to_owned();
    let page = browser
        .get(format!("{root}/oauth/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", redirect),
            ("code_challenge", &coda_mcp::oauth::s256(verifier)),
            ("code_challenge_method", "S256"),
            ("resource", &url),
            ("state", "s"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    all.push_str(&page);
    let start = page.find("data-request=\"").unwrap() + 14;
    let request = &page[start..start + page[start..].find('"').unwrap()];
    let approved = browser
        .post(format!("{root}/oauth/authorize"))
        .form(&[
            ("request", request),
            ("key", KEY),
            ("decision", "allow"),
            ("write", "1"),
        ])
        .send()
        .await
        .unwrap();
    let code = url::Url::parse(approved.headers()["location"].to_str().unwrap())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let tokens: Value = browser
        .post(format!("{root}/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &client_id),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let called = post_as(
        &format!("{root}/actions/coda_whoami"),
        Some(&access),
        "{}",
        None,
    )
    .await;
    assert_eq!(called.status(), 200);
    all.push_str(&called.text().await.unwrap());
    let renewed: Value = browser
        .post(format!("{root}/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &client_id),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access2 = renewed["access_token"].as_str().unwrap().to_owned();
    // Refused uses of them are answered without repeating them.
    let reused = browser
        .post(format!("{root}/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &client_id),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap();
    all.push_str(&reused.text().await.unwrap());
    let revoked = browser
        .post(format!("{root}/oauth/revoke"))
        .form(&[("token", renewed["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let refused = post_as(
        &format!("{root}/actions/coda_whoami"),
        Some(&access2),
        "{}",
        None,
    )
    .await;
    assert_eq!(refused.status(), 401);
    all.push_str(&refused.text().await.unwrap());
    let oauth_secrets = [access, refresh, access2, code, verifier.to_owned()];

    // The dashboard's API (which the dashboard token opens), and server.json while it runs.
    let dashboard = reqwest::Client::new();
    for path in ["/api/state", "/api/calls", "/api/calls.csv", "/api/oauth"] {
        let resp = dashboard
            .get(format!("{root}{path}"))
            .bearer_auth(&dash)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        all.push_str(&resp.text().await.unwrap());
    }
    let mut events = dashboard
        .get(format!("{root}/api/events"))
        .bearer_auth(&dash)
        .send()
        .await
        .unwrap();
    all.push_str(&read_sse(&mut events, |s| s.contains("tool")).await);
    drop(events);
    let running_files = files_text(&data_dir);
    assert!(
        running_files
            .iter()
            .any(|(p, _)| p.ends_with("server.json")),
        "server.json is written while it runs: {running_files:?}"
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
    // What is on disk afterwards: the audit history (SQLite, WAL) and anything else.
    let mut files = running_files;
    files.extend(files_text(&data_dir));
    assert!(
        files
            .iter()
            .any(|(p, _)| p.to_string_lossy().contains("audit")),
        "the audit history was kept: {:?}",
        files.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    let secrets: Vec<&str> = [CODA_TOKEN, KEY, WRONG, dash.as_str()]
        .into_iter()
        .chain(oauth_secrets.iter().map(String::as_str))
        .collect();
    for secret in secrets {
        let leaked: Vec<&str> = all.lines().filter(|l| l.contains(secret)).take(3).collect();
        assert!(leaked.is_empty(), "{} leaked in: {leaked:?}", &secret[..12]);
        // Also the distinctive middle of each secret, in case it was cut or re-encoded.
        assert!(!all.contains(&secret[4..20]), "part of a secret leaked");
        for (path, text) in &files {
            assert!(
                !text.contains(&secret[4..20]),
                "{} leaked into {}",
                &secret[..12],
                path.display()
            );
        }
    }
    let _ = std::fs::remove_dir_all(&data_dir);
}
