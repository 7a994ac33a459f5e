//! The OAuth authorization server over raw HTTP, as ChatGPT's and Claude's connectors use it:
//! discovery, registration, the owner's consent, tokens on `/mcp`, refresh, revocation — and
//! every refusal on the way. (The official Python SDK's OAuth client runs the same flow in
//! `tests/python/test_oauth.py`.)

use crate::common;

use std::collections::HashMap;

use common::{quick_demo, serve_public_face, Harness, TEST_KEY};
use serde_json::{json, Value};

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const VERIFIER: &str = "a-pkce-code-verifier-that-is-long-enough-0123456789";

fn challenge(verifier: &str) -> String {
    coda_mcp::oauth::s256(verifier)
}

/// The owner's browser: it keeps cookies (the consent page's) for every request it makes
/// (one jar, whichever client makes the request; cookie names are per request, so tests do
/// not meet each other's).
fn jar() -> std::sync::Arc<reqwest::cookie::Jar> {
    static JAR: std::sync::OnceLock<std::sync::Arc<reqwest::cookie::Jar>> =
        std::sync::OnceLock::new();
    JAR.get_or_init(Default::default).clone()
}

/// A browser-like client that does not follow redirects (the test reads `Location`), with
/// the owner's cookies.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(jar())
        .build()
        .unwrap()
}

async fn register(base: &str, redirect: &str) -> String {
    let resp = http()
        .post(format!("{base}/oauth/register"))
        .json(&json!({"client_name": "Test connector", "redirect_uris": [redirect],
            "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    resp.json::<Value>().await.unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `GET /oauth/authorize` with these parameters (a `None` leaves one out).
async fn authorize(base: &str, params: &[(&str, Option<&str>)]) -> reqwest::Response {
    let query: Vec<(&str, &str)> = params
        .iter()
        .filter_map(|(k, v)| v.map(|v| (*k, v)))
        .collect();
    http()
        .get(format!("{base}/oauth/authorize"))
        .query(&query)
        .send()
        .await
        .unwrap()
}

fn standard<'a>(
    client_id: &'a str,
    resource: &'a str,
    challenge: &'a str,
    scope: Option<&'a str>,
) -> Vec<(&'static str, Option<&'a str>)> {
    vec![
        ("response_type", Some("code")),
        ("client_id", Some(client_id)),
        ("redirect_uri", Some(REDIRECT)),
        ("state", Some("st-123")),
        ("code_challenge", Some(challenge)),
        ("code_challenge_method", Some("S256")),
        ("resource", Some(resource)),
        ("scope", scope),
    ]
}

/// The code a consent page shows for the dashboard.
fn pairing_code(page: &str) -> String {
    let start = page
        .find("id=\"pairing-code\"")
        .expect("a code on the page");
    let start = start + page[start..].find('>').unwrap() + 1;
    page[start..start + page[start..].find('<').unwrap()].to_owned()
}

/// The consent request id on a consent page.
fn request_id(page: &str) -> String {
    let start = page.find("data-request=\"").expect("a consent form") + 14;
    page[start..start + page[start..].find('"').unwrap()].to_owned()
}

/// Posts the consent form; returns the response (a redirect when answered).
async fn consent(
    base: &str,
    request: &str,
    key: &str,
    decision: &str,
    write: bool,
) -> reqwest::Response {
    let mut form = vec![("request", request), ("key", key), ("decision", decision)];
    if write {
        form.push(("write", "1"));
    }
    http()
        .post(format!("{base}/oauth/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

fn query_of(location: &str) -> HashMap<String, String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

async fn token(base: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let resp = http()
        .post(format!("{base}/oauth/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Approves the request on `page` with the key; returns the code.
async fn code_for(base: &str, page: String) -> String {
    let request = request_id(&page);
    let r = consent(base, &request, TEST_KEY, "allow", true).await;
    query_of(r.headers()["location"].to_str().unwrap())["code"].clone()
}

/// The whole way to a grant: register, authorize, approve with the key, exchange the code.
async fn connect(base: &str, scope: Option<&str>, write: bool) -> (String, Value) {
    let client_id = register(base, REDIRECT).await;
    let ch = challenge(VERIFIER);
    let resource = format!("{base}/mcp");
    let page = authorize(base, &standard(&client_id, &resource, &ch, scope)).await;
    assert_eq!(page.status(), 200);
    let request = request_id(&page.text().await.unwrap());
    let answer = consent(base, &request, TEST_KEY, "allow", write).await;
    assert_eq!(answer.status(), 303, "{:?}", answer.text().await);
    let q = query_of(answer.headers()["location"].to_str().unwrap());
    assert_eq!(q["state"], "st-123");
    let (status, tokens) = token(
        base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", REDIRECT),
            ("client_id", &client_id),
            ("code_verifier", VERIFIER),
            ("resource", &resource),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    (client_id, tokens)
}

/// An MCP `initialize` with `bearer`; returns the status and the session id.
async fn mcp_init(url: &str, bearer: &str) -> (u16, Option<String>) {
    let resp = reqwest::Client::new()
        .post(url)
        .bearer_auth(bearer)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"oauth-test","version":"1"}}}).to_string())
        .send()
        .await
        .unwrap();
    let sid = resp
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    (resp.status().as_u16(), sid)
}

async fn mcp(url: &str, bearer: &str, sid: &str, body: Value) -> Value {
    let resp = reqwest::Client::new()
        .post(url)
        .bearer_auth(bearer)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("mcp-session-id", sid)
        .header("mcp-protocol-version", "2025-06-18")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    resp.json().await.unwrap_or(Value::Null)
}

#[tokio::test]
async fn discovery_names_this_server_and_what_it_supports() {
    let h = Harness::start().await;
    let base = h.base();
    // The 401 says where to start.
    let resp = reqwest::Client::new()
        .post(h.url())
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{base}/.well-known/oauth-protected-resource/mcp\""
        )),
        "{challenge}"
    );
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let prm: Value = reqwest::get(format!("{base}{path}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(prm["resource"], format!("{base}/mcp"));
        assert_eq!(prm["authorization_servers"], json!([base]));
    }
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let m: Value = reqwest::get(format!("{base}{path}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(m["issuer"], base, "the issuer is exactly the listed server");
        assert_eq!(m["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(m["client_id_metadata_document_supported"], true);
        assert_eq!(m["token_endpoint_auth_methods_supported"], json!(["none"]));
        assert_eq!(m["registration_endpoint"], format!("{base}/oauth/register"));
        assert!(m["response_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("code")));
    }
    // Asked as `localhost`, every URL says `localhost`.
    let port = h.server.addr.port();
    let local: Value = reqwest::get(format!(
        "http://localhost:{port}/.well-known/oauth-authorization-server"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(local["issuer"], format!("http://localhost:{port}"));
    h.stop().await;
}

#[tokio::test]
async fn an_approved_app_calls_tools_refreshes_and_is_revoked() {
    let h = Harness::start().await;
    let base = h.base();
    let (client_id, tokens) = connect(&base, Some("coda:read coda:write"), true).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert_eq!(tokens["scope"], "coda:read coda:write");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, sid) = mcp_init(&h.url(), &access).await;
    assert_eq!(status, 200);
    let sid = sid.unwrap();
    let listed = mcp(
        &h.url(),
        &access,
        &sid,
        json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
    )
    .await;
    let names: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"coda_update_row"),
        "a read-and-write grant sees writes"
    );
    let called = mcp(
        &h.url(),
        &access,
        &sid,
        json!({"jsonrpc":"2.0","id":2,"method":"tools/call",
        "params":{"name":"coda_get_document","arguments":{"docId":"AbCDeFGH01"}}}),
    )
    .await;
    assert_eq!(called["result"]["isError"], false, "{called}");
    // The session is the grant's: the owner's key cannot use it.
    let other = mcp(
        &h.url(),
        TEST_KEY,
        &sid,
        json!({"jsonrpc":"2.0","id":3,"method":"tools/list"}),
    )
    .await;
    assert_eq!(other["error"]["code"], -32001);
    // The call is in the history under the app's name, and the grant counts it.
    let grants = h.server.state.engine.oauth().store().grants().unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].client_name, "Test connector");
    assert!(grants[0].calls >= 1 && grants[0].last_used.is_some());
    assert_eq!(grants[0].redirect_host, "127.0.0.1");
    let history: Value = reqwest::Client::new()
        .get(format!("{base}/api/calls?q=OAuth"))
        .bearer_auth(h.dashboard_token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let recorded = history["items"][0]["client"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        recorded.contains("Test connector (OAuth)"),
        "the history names the app: {history}"
    );

    // Refresh: a new pair, the old refresh token spent.
    let (status, renewed) = token(
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(status, 200, "{renewed}");
    let access2 = renewed["access_token"].as_str().unwrap().to_owned();
    assert_ne!(access2, access);
    assert_eq!(mcp_init(&h.url(), &access2).await.0, 200);
    // Revoking the access token: it stops working at once.
    let revoked = http()
        .post(format!("{base}/oauth/revoke"))
        .form(&[("token", access2.as_str()), ("client_id", &client_id)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(mcp_init(&h.url(), &access2).await.0, 401);
    // Revoking the refresh token ends the grant.
    let refresh2 = renewed["refresh_token"].as_str().unwrap();
    http()
        .post(format!("{base}/oauth/revoke"))
        .form(&[("token", refresh2)])
        .send()
        .await
        .unwrap();
    assert_eq!(mcp_init(&h.url(), &access).await.0, 401);
    assert!(h
        .server
        .state
        .engine
        .oauth()
        .store()
        .grants()
        .unwrap()
        .is_empty());
    let (status, e) = token(
        &base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh2),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));
    // Unknown tokens revoke quietly (RFC 7009).
    let unknown = http()
        .post(format!("{base}/oauth/revoke"))
        .form(&[("token", "cmo_never-issued")])
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 200);
    h.stop().await;
}

#[tokio::test]
async fn a_read_grant_sees_and_runs_only_reads() {
    let h = Harness::start().await;
    let base = h.base();
    // The owner unticks "change Coda": the grant is for reading only.
    let (_, tokens) = connect(&base, None, false).await;
    assert_eq!(tokens["scope"], "coda:read");
    let access = tokens["access_token"].as_str().unwrap();
    let (_, sid) = mcp_init(&h.url(), access).await;
    let sid = sid.unwrap();
    let listed = mcp(
        &h.url(),
        access,
        &sid,
        json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
    )
    .await;
    let tools = listed["result"]["tools"].as_array().unwrap();
    assert!(
        tools
            .iter()
            .all(|t| t["annotations"]["readOnlyHint"] == true),
        "only reads are offered"
    );
    let writes = h.demo.writes_received();
    let refused = mcp(&h.url(), access, &sid, json!({"jsonrpc":"2.0","id":2,"method":"tools/call",
        "params":{"name":"coda_update_row","arguments":{"docId":"AbCDeFGH01","tableIdOrName":"Tasks","rowIdOrName":"i-Tsk0001",
        "row":{"cells":[{"column":"Status","value":"Done"}]}}}})).await;
    assert_eq!(refused["result"]["isError"], true);
    let text = refused["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("coda:write"), "{text}");
    // The GPT Action route says it in HTTP's terms.
    let action = reqwest::Client::new()
        .post(format!("{base}/actions/coda_delete_doc"))
        .bearer_auth(access)
        .json(&json!({"docId": "AbCDeFGH01"}))
        .send()
        .await
        .unwrap();
    assert_eq!(action.status(), 403);
    assert!(action.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("insufficient_scope"));
    assert_eq!(h.demo.writes_received(), writes, "nothing was written");
    // Reads work.
    let read = reqwest::Client::new()
        .post(format!("{base}/actions/coda_whoami"))
        .bearer_auth(access)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    h.stop().await;
}

#[tokio::test]
async fn every_refusal_is_specific_and_grants_nothing() {
    let h = Harness::start().await;
    let base = h.base();
    let resource = format!("{base}/mcp");
    let client_id = register(&base, REDIRECT).await;
    let ch = challenge(VERIFIER);
    let location = |r: &reqwest::Response| {
        r.headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
    };

    // Before the redirect URI is trusted: a page, never a redirect.
    let mut wrong_redirect = standard(&client_id, &resource, &ch, None);
    wrong_redirect[2].1 = Some("https://evil.example/cb");
    let r = authorize(&base, &wrong_redirect).await;
    assert_eq!((r.status().as_u16(), location(&r)), (400, None));
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("not one this app registered"));
    let mut unknown = standard("mcpc_unknown", &resource, &ch, None);
    unknown[1].1 = Some("mcpc_unknown");
    let r = authorize(&base, &unknown).await;
    assert_eq!((r.status().as_u16(), location(&r)), (400, None));

    // After it: the error goes back to the client, with its state and our issuer.
    for (change, want) in [
        (("code_challenge", None), "invalid_request"),
        (("code_challenge_method", Some("plain")), "invalid_request"),
        (
            ("resource", Some("https://elsewhere.example/mcp")),
            "invalid_target",
        ),
        (("resource", None), "invalid_target"),
        (("scope", Some("admin")), "invalid_scope"),
        (
            ("response_type", Some("token")),
            "unsupported_response_type",
        ),
    ] {
        let mut params = standard(&client_id, &resource, &ch, None);
        let slot = params.iter_mut().find(|(k, _)| *k == change.0).unwrap();
        slot.1 = change.1;
        let r = authorize(&base, &params).await;
        assert_eq!(r.status(), 303, "{change:?}");
        let q = query_of(&location(&r).unwrap());
        assert_eq!(q["error"], want, "{change:?}");
        assert_eq!(q["state"], "st-123");
        assert_eq!(q["iss"], base);
    }

    // A wrong key: the page again, no code; the owner's key still works after.
    let page = authorize(&base, &standard(&client_id, &resource, &ch, None))
        .await
        .text()
        .await
        .unwrap();
    let request = request_id(&page);
    let r = consent(&base, &request, "cmk_wrong-key", "allow", true).await;
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("not the connection key of this server"));
    // Deny: access_denied, no code.
    let r = consent(&base, &request, "", "deny", false).await;
    let q = query_of(&location(&r).unwrap());
    assert_eq!(q["error"], "access_denied");
    assert!(!q.contains_key("code"));

    // A code: the verifier must match, it works once, for its client and redirect URI only.
    let new_page = || async {
        authorize(&base, &standard(&client_id, &resource, &ch, None))
            .await
            .text()
            .await
            .unwrap()
    };
    let code = code_for(&base, new_page().await).await;
    let exchange =
        |code: String, verifier: &'static str, client: String, redirect: &'static str| {
            let base = base.clone();
            async move {
                token(
                    &base,
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("redirect_uri", redirect),
                        ("client_id", &client),
                        ("code_verifier", verifier),
                    ],
                )
                .await
            }
        };
    let (s, e) = exchange(
        code.clone(),
        "a-wrong-verifier-that-is-long-enough-0123456789abc",
        client_id.clone(),
        REDIRECT,
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
    let (s, e) = exchange(code, VERIFIER, client_id.clone(), REDIRECT).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "a code is used up by any attempt: {e}"
    );
    let code = code_for(&base, new_page().await).await;
    let (s, e) = exchange(
        code,
        VERIFIER,
        client_id.clone(),
        "http://127.0.0.1:9/other",
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
    let code = code_for(&base, new_page().await).await;
    let other_client = register(&base, REDIRECT).await;
    let (s, e) = exchange(code, VERIFIER, other_client, REDIRECT).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
    let (s, e) = token(
        &base,
        &[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("client_id", "mcpc_nobody"),
        ],
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (401, Some("invalid_client")));
    let (s, e) = token(
        &base,
        &[("grant_type", "password"), ("client_id", &client_id)],
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let code = code_for(&base, new_page().await).await;
    let (s, e) = token(
        &base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_request")),
        "no verifier: {e}"
    );

    // Registration: only https or loopback redirect URIs, only public clients, bounded.
    for bad in [
        json!({"redirect_uris": ["http://evil.example/cb"]}),
        json!({"redirect_uris": ["https://app.example/cb#frag"]}),
        json!({"redirect_uris": []}),
        json!({"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "client_secret_basic"}),
        json!({"redirect_uris": ["https://app.example/cb"], "grant_types": ["client_credentials"]}),
    ] {
        let r = http()
            .post(format!("{base}/oauth/register"))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let e: Value = r.json().await.unwrap();
        assert!(e["error"].as_str().unwrap().starts_with("invalid_"), "{e}");
    }
    // A stranger's large body is refused without being read (OAuth's are a few hundred bytes).
    let big = json!({"redirect_uris": [REDIRECT], "client_name": "x".repeat(100_000)});
    let r = http()
        .post(format!("{base}/oauth/register"))
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(
        h.server
            .state
            .engine
            .oauth()
            .store()
            .grants()
            .unwrap()
            .len(),
        0,
        "nothing was granted"
    );
    h.stop().await;
}

#[tokio::test]
async fn registration_floods_and_wrong_keys_are_held_back() {
    let h = Harness::start().await;
    let base = h.base();
    let mut statuses = Vec::new();
    for _ in 0..14 {
        let r = http()
            .post(format!("{base}/oauth/register"))
            .json(&json!({"redirect_uris": [REDIRECT]}))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        10,
        "{statuses:?}"
    );
    assert!(statuses.ends_with(&[429, 429, 429, 429]), "{statuses:?}");
    // Wrong keys on the consent page count toward the address's lockout.
    let h2 = Harness::start().await;
    let base2 = h2.base();
    let client_id = register(&base2, REDIRECT).await;
    let ch = challenge(VERIFIER);
    let resource = format!("{base2}/mcp");
    let page = authorize(&base2, &standard(&client_id, &resource, &ch, None))
        .await
        .text()
        .await
        .unwrap();
    let request = request_id(&page);
    for _ in 0..10 {
        consent(&base2, &request, "cmk_guess", "allow", true).await;
    }
    let locked = consent(&base2, &request, "cmk_guess", "allow", true)
        .await
        .text()
        .await
        .unwrap();
    assert!(locked.contains("Too many wrong keys"), "{locked}");
    // The owner's key is never locked out.
    let r = consent(&base2, &request, TEST_KEY, "allow", true).await;
    assert_eq!(r.status(), 303);
    h.stop().await;
    h2.stop().await;
}

#[tokio::test]
async fn the_consent_page_cannot_be_framed_and_escapes_what_the_client_says() {
    let h = Harness::start().await;
    let base = h.base();
    let resp = http()
        .post(format!("{base}/oauth/register"))
        .json(&json!({"client_name": "<img src=x onerror=alert(1)>", "redirect_uris": [REDIRECT]}))
        .send()
        .await
        .unwrap();
    let client_id = resp.json::<Value>().await.unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ch = challenge(VERIFIER);
    let resource = format!("{base}/mcp");
    let page = authorize(&base, &standard(&client_id, &resource, &ch, None)).await;
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    assert!(
        csp.contains("form-action 'self' http://127.0.0.1:9"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(!html.contains("<img src=x"), "the client's name is escaped");
    assert!(html.contains("&lt;img src=x"));
    assert!(html.contains("Connection key") && html.contains(">Allow<") && html.contains(">Deny<"));
    h.stop().await;
}

#[tokio::test]
async fn the_owner_can_answer_from_the_dashboard() {
    let h = Harness::start().await;
    let base = h.base();
    let client_id = register(&base, REDIRECT).await;
    let ch = challenge(VERIFIER);
    let resource = format!("{base}/mcp");
    let page = authorize(&base, &standard(&client_id, &resource, &ch, None))
        .await
        .text()
        .await
        .unwrap();
    let request = request_id(&page);
    let dashboard = |method: reqwest::Method, path: &str| {
        reqwest::Client::new()
            .request(method, format!("{base}{path}"))
            .bearer_auth(h.dashboard_token())
            .header("x-coda-mcp-dashboard", "1")
    };
    let listed: Value = dashboard(reqwest::Method::GET, "/api/oauth")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["pending"][0]["request"], request);
    assert_eq!(listed["pending"][0]["client"], "Test connector");
    // The consent page's own poll sees it waiting, then answered.
    let status = |base: String, request: String| async move {
        http()
            .get(format!("{base}/oauth/authorize/status?request={request}"))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    assert_eq!(
        status(base.clone(), request.clone()).await["state"],
        "pending"
    );
    let decided = dashboard(
        reqwest::Method::POST,
        &format!("/api/oauth/pending/{request}"),
    )
    .json(&json!({"allow": true, "write": true, "code": pairing_code(&page)}))
    .send()
    .await
    .unwrap();
    assert_eq!(decided.status(), 200);
    let s = status(base.clone(), request.clone()).await;
    assert_eq!(s["state"], "decided");
    let q = query_of(s["redirect"].as_str().unwrap());
    assert_eq!(q["state"], "st-123");
    let (st, tokens) = token(
        &base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("client_id", &client_id),
            ("code_verifier", VERIFIER),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(st, 200, "{tokens}");
    // Connected apps lists it; Revoke ends it.
    let listed: Value = dashboard(reqwest::Method::GET, "/api/oauth")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let grant = listed["grants"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(listed["grants"][0]["scope"], "coda:read coda:write");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(mcp_init(&h.url(), access).await.0, 200);
    let r = dashboard(
        reqwest::Method::POST,
        &format!("/api/oauth/grants/{grant}/revoke"),
    )
    .json(&json!({}))
    .send()
    .await
    .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["revoked"], true);
    assert_eq!(mcp_init(&h.url(), access).await.0, 401);
    h.stop().await;
}

#[tokio::test]
async fn a_token_is_for_its_own_resource_only() {
    let h = Harness::start_with(quick_demo(), |_| {}).await;
    let base = h.base();
    let (_, tokens) = connect(&base, None, true).await;
    let access = tokens["access_token"].as_str().unwrap();
    // The loopback names are one resource…
    let port = h.server.addr.port();
    assert_eq!(
        mcp_init(&format!("http://localhost:{port}/mcp"), access)
            .await
            .0,
        200
    );
    // …but the public face is another (its own address), and never takes this token.
    let (public, stop) = serve_public_face(&h).await;
    assert_eq!(mcp_init(&format!("{public}/mcp"), access).await.0, 401);
    // The OAuth endpoints exist on the public face; the dashboard does not.
    assert_eq!(
        reqwest::get(format!("{public}/.well-known/oauth-authorization-server"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        reqwest::get(format!("{public}/api/oauth"))
            .await
            .unwrap()
            .status(),
        404
    );
    stop.cancel();
    h.stop().await;
}

#[tokio::test]
async fn client_metadata_documents_on_private_addresses_are_not_fetched() {
    let h = Harness::start().await;
    let base = h.base();
    let ch = challenge(VERIFIER);
    let resource = format!("{base}/mcp");
    for id in [
        "https://127.0.0.1/client.json",
        "https://localhost:9/client.json",
        "https://[::1]/c.json",
        "https://10.0.0.1/c.json",
    ] {
        let r = authorize(
            &base,
            &[
                ("response_type", Some("code")),
                ("client_id", Some(id)),
                ("redirect_uri", Some(REDIRECT)),
                ("code_challenge", Some(&ch)),
                ("code_challenge_method", Some("S256")),
                ("resource", Some(&resource)),
            ],
        )
        .await;
        assert_eq!(r.status(), 400, "{id}");
        assert!(r.headers().get("location").is_none());
        let page = r.text().await.unwrap();
        assert!(page.contains("non-public address"), "{id}: {page}");
    }
    h.stop().await;
}

#[tokio::test]
async fn grants_survive_restarts_and_the_cli_lists_and_revokes_them() {
    let data =
        std::env::temp_dir().join(format!("coda-mcp-oauth-{}", uuid::Uuid::new_v4().simple()));
    let h = Harness::start_with(quick_demo(), |c| c.data_dir = Some(data.clone())).await;
    let (client_id, tokens) = connect(&h.base(), None, true).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    h.stop().await;
    // A new server over the same data directory still honours the grant.
    let h = Harness::start_with(quick_demo(), |c| c.data_dir = Some(data.clone())).await;
    // (The token names the first server's address; this one listens elsewhere, so it is
    // checked by what the database says rather than used on /mcp.)
    let kept = h
        .server
        .state
        .engine
        .oauth()
        .access(&coda_mcp::coda::Secret::new(access.clone()));
    assert!(kept.is_some(), "the grant survived the restart");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("oauth.sqlite3"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_coda-mcp"))
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .env("CODA_MCP_KEYCHAIN", "off")
            .output()
            .unwrap()
    };
    let listed = cli(&["oauth", "list", "--json"]);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let grants: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(grants[0]["client_id"], client_id);
    assert_eq!(grants[0]["client_name"], "Test connector");
    let text = String::from_utf8_lossy(&cli(&["oauth", "list"]).stdout).into_owned();
    assert!(
        text.contains("Test connector") && text.contains("coda:read coda:write"),
        "{text}"
    );
    assert!(!text.contains(&access), "no token is ever shown");
    // The other workspace's list is empty, and says where the grant is.
    let other = String::from_utf8_lossy(&cli(&["oauth", "list", "--demo"]).stdout).into_owned();
    assert_eq!(
        other,
        "No apps are connected to the demo workspace through OAuth.\n1 is connected to your workspace: `coda-mcp oauth list` lists it.\n"
    );
    let unknown = cli(&["oauth", "revoke", "mcpc_nobody"]);
    assert!(!unknown.status.success());
    let revoked = cli(&["oauth", "revoke", &client_id]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    // The running server stops accepting the token within its 10 s re-check.
    let mut gone = false;
    for _ in 0..60 {
        if h.server
            .state
            .engine
            .oauth()
            .access(&coda_mcp::coda::Secret::new(access.clone()))
            .is_none()
        {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(
        gone,
        "revoked from the command line, refused by the running server"
    );
    h.stop().await;
    let _ = std::fs::remove_dir_all(&data);
}

// ---- Issue 26: the attacks of the trust review, one test per row, each now refused. ----

const CHATGPT_REDIRECT: &str = "https://chatgpt.com/connector_platform_oauth_redirect";

/// A browser of someone else's, at another loopback address (another client network).
fn stranger_at(last: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .local_address(std::net::IpAddr::from([127, 0, 0, last]))
        .build()
        .unwrap()
}

async fn register_as(
    client: &reqwest::Client,
    base: &str,
    name: &str,
    redirect: &str,
) -> (u16, Value) {
    let r = client
        .post(format!("{base}/oauth/register"))
        .json(&json!({"client_name": name, "redirect_uris": [redirect]}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn authorize_as(
    client: &reqwest::Client,
    base: &str,
    client_id: &str,
    redirect: &str,
    response_type: &str,
) -> reqwest::Response {
    client
        .get(format!("{base}/oauth/authorize"))
        .query(&[
            ("response_type", response_type),
            ("client_id", client_id),
            ("redirect_uri", redirect),
            ("state", "st-123"),
            ("code_challenge", &challenge(VERIFIER)),
            ("code_challenge_method", "S256"),
            ("resource", &format!("{base}/mcp")),
        ])
        .send()
        .await
        .unwrap()
}

fn dashboard(h: &Harness, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, format!("{}{path}", h.base()))
        .bearer_auth(h.dashboard_token())
        .header("x-coda-mcp-dashboard", "1")
}

/// Row 1: a stranger registers as "ChatGPT" with ChatGPT's own redirect URI and waits beside
/// the owner's real request. The two are told apart (network, time, browser, how the app is
/// known), the owner's Allow on the stranger's banner does nothing (it needs the code only
/// the stranger's page shows), and knowing a request's id never hands over its answer.
#[tokio::test]
async fn a_stranger_named_like_chatgpt_gets_no_code_when_the_owner_clicks_allow() {
    let h = Harness::start().await;
    let base = h.base();
    // The owner's real connection request.
    let owner_client = register(&base, REDIRECT).await;
    let owner_page = authorize(
        &base,
        &standard(
            &owner_client,
            &format!("{base}/mcp"),
            &challenge(VERIFIER),
            None,
        ),
    )
    .await
    .text()
    .await
    .unwrap();
    let owner_request = request_id(&owner_page);
    let owner_code = pairing_code(&owner_page);
    // The stranger's, from another network, named and addressed like ChatGPT.
    let stranger = stranger_at(77);
    let (status, registered) = register_as(&stranger, &base, "ChatGPT", CHATGPT_REDIRECT).await;
    assert_eq!(status, 201);
    let stranger_id = registered["client_id"].as_str().unwrap().to_owned();
    let page = authorize_as(&stranger, &base, &stranger_id, CHATGPT_REDIRECT, "code").await;
    assert_eq!(page.status(), 200);
    let stranger_page = page.text().await.unwrap();
    let stranger_request = request_id(&stranger_page);

    // The dashboard tells them apart.
    let listed: Value = dashboard(&h, reqwest::Method::GET, "/api/oauth")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pending = listed["pending"].as_array().unwrap();
    assert_eq!(pending.len(), 2, "{listed}");
    let theirs = pending
        .iter()
        .find(|p| p["request"] == stranger_request.as_str())
        .unwrap();
    let ours = pending
        .iter()
        .find(|p| p["request"] == owner_request.as_str())
        .unwrap();
    assert_eq!(theirs["network"], "127.0.0.77");
    assert_eq!(ours["network"], "127.0.0.1");
    assert_eq!(theirs["likeness"]["verdict"], "named_and_addressed");
    assert!(
        theirs["likeness_text"]
            .as_str()
            .unwrap()
            .contains("Anyone can register that"),
        "{theirs}"
    );
    assert!(
        theirs["provenance"]
            .as_str()
            .unwrap()
            .contains("127.0.0.77"),
        "{theirs}"
    );
    assert!(theirs["came"].as_str().is_some() && theirs.get("user_agent").is_some());
    assert!(
        theirs.get("code").is_none() && !listed.to_string().contains(&owner_code),
        "codes never reach the dashboard"
    );

    // The owner answers the stranger's banner by mistake: with the code of the owner's own
    // page, and with none. Neither allows anything.
    let mistaken = dashboard(
        &h,
        reqwest::Method::POST,
        &format!("/api/oauth/pending/{stranger_request}"),
    )
    .json(&json!({"allow": true, "write": true, "code": owner_code}))
    .send()
    .await
    .unwrap();
    assert_eq!(mistaken.status(), 403);
    let why: Value = mistaken.json().await.unwrap();
    assert!(
        why["message"]
            .as_str()
            .unwrap()
            .contains("belongs to another request"),
        "{why}"
    );
    let no_code = dashboard(
        &h,
        reqwest::Method::POST,
        &format!("/api/oauth/pending/{stranger_request}"),
    )
    .json(&json!({"allow": true}))
    .send()
    .await
    .unwrap();
    assert_eq!(no_code.status(), 400);
    // The stranger, polling their own page, is still waiting.
    let poll = |client: reqwest::Client, request: String| {
        let base = base.clone();
        async move {
            let r = client
                .get(format!("{base}/oauth/authorize/status?request={request}"))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(
        poll(stranger.clone(), stranger_request.clone()).await.1["state"],
        "pending"
    );
    // The owner allows their own request with their own code.
    let allowed = dashboard(
        &h,
        reqwest::Method::POST,
        &format!("/api/oauth/pending/{owner_request}"),
    )
    .json(&json!({"allow": true, "write": false, "code": owner_code.to_lowercase()}))
    .send()
    .await
    .unwrap();
    assert_eq!(allowed.status(), 200);
    // The stranger learns the owner's request id somehow: still no answer, no form.
    let (status, body) = poll(stranger.clone(), owner_request.clone()).await;
    assert_eq!(
        (status, body["state"].as_str()),
        (403, Some("not_this_browser")),
        "{body}"
    );
    assert!(!body.to_string().contains("code="));
    let forged = stranger
        .post(format!("{base}/oauth/authorize"))
        .form(&[
            ("request", owner_request.as_str()),
            ("key", ""),
            ("decision", "deny"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        forged.status(),
        403,
        "a form from another browser is refused"
    );
    // The owner's page gets its answer, and the code works for the owner's client only.
    let (_, answered) = poll(http(), owner_request.clone()).await;
    assert_eq!(answered["state"], "decided");
    let q = query_of(answered["redirect"].as_str().unwrap());
    let (status, tokens) = token(
        &base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("client_id", &owner_client),
            ("code_verifier", VERIFIER),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(
        poll(stranger, stranger_request).await.1["state"],
        "pending",
        "the stranger's still waits"
    );
    h.stop().await;
}

/// Row 2: 130 token requests declaring 64 KiB bodies and then silence, from one address,
/// used to take the one allowance every stranger shared: now they fill only their network's
/// share, and another network's registration and token exchange go through at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bodies_from_one_network_never_keep_another_out() {
    use tokio::io::AsyncWriteExt;
    let h = Harness::start().await;
    let addr = h.server.addr;
    let mut held = Vec::new();
    for _ in 0..130 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let mut stream = socket.connect(addr).await.unwrap();
        stream
            .write_all(b"POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 65536\r\n\r\ngrant_type=")
            .await
            .unwrap();
        held.push(stream);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let other = stranger_at(3);
    let base = h.base();
    let (status, registered) = register_as(&other, &base, "Another app", REDIRECT).await;
    assert_eq!(status, 201, "{registered}");
    let r = other
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "cmc_x"),
            ("client_id", registered["client_id"].as_str().unwrap()),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        400,
        "answered on its merits (an unknown code), not 503"
    );
    // The flooding network itself is held to its share.
    let own = stranger_at(2)
        .post(format!("{base}/oauth/register"))
        .json(&json!({"redirect_uris": [REDIRECT]}))
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 503);
    drop(held);
    h.stop().await;
}

/// Row 3: four networks send thirty consent requests each after the owner's: the owner's
/// request is still there and the right key still answers it.
#[tokio::test]
async fn a_flood_of_consent_requests_never_pushes_out_the_owners() {
    let h = Harness::start().await;
    let base = h.base();
    let owner_client = register(&base, REDIRECT).await;
    let page = authorize(
        &base,
        &standard(
            &owner_client,
            &format!("{base}/mcp"),
            &challenge(VERIFIER),
            None,
        ),
    )
    .await
    .text()
    .await
    .unwrap();
    let owner_request = request_id(&page);
    let mut refused = 0;
    for last in 10..14u8 {
        let s = stranger_at(last);
        // Ten clients of its own (an app asking again replaces its own request).
        let mut ids = Vec::new();
        for _ in 0..10 {
            let (_, registered) = register_as(&s, &base, "Flood", REDIRECT).await;
            ids.push(registered["client_id"].as_str().unwrap().to_owned());
        }
        for i in 0..30 {
            let r = authorize_as(&s, &base, &ids[i % ids.len()], REDIRECT, "code").await;
            if r.status() != 200 {
                refused += 1;
            }
        }
    }
    let waiting = h.server.state.engine.oauth().waiting();
    assert!(
        waiting.len() <= 1 + 4 * coda_mcp::oauth::pending::PER_NETWORK,
        "{}",
        waiting.len()
    );
    assert!(
        waiting.iter().any(|p| p.id == owner_request),
        "the owner's request is kept"
    );
    eprintln!(
        "120 consent requests from 4 networks: {} waiting, {refused} refused",
        waiting.len()
    );
    let r = consent(&base, &owner_request, TEST_KEY, "allow", false).await;
    assert_eq!(r.status(), 303);
    assert!(query_of(r.headers()["location"].to_str().unwrap()).contains_key("code"));
    h.stop().await;
}

/// Row 4: 100 networks register ten clients each after ChatGPT registered: the flood makes
/// room among its own registrations, and ChatGPT's token exchange still finds its client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_flood_never_drops_another_networks_client() {
    let h = Harness::start().await;
    let base = h.base();
    let chatgpt = register(&base, REDIRECT).await;
    for n in 0..100u8 {
        let s = reqwest::Client::builder()
            .local_address(std::net::IpAddr::from([127, 0, 1, n + 1]))
            .build()
            .unwrap();
        for _ in 0..10 {
            let r = s
                .post(format!("{base}/oauth/register"))
                .json(&json!({"client_name": "Flood", "redirect_uris": [REDIRECT]}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
        }
    }
    let store = h.server.state.engine.oauth().store();
    assert!(store.client_count().unwrap() <= coda_mcp::oauth::store::MAX_CLIENTS);
    assert!(
        store.client(&chatgpt).unwrap().is_some(),
        "ChatGPT's registration is kept"
    );
    let page = authorize(
        &base,
        &standard(&chatgpt, &format!("{base}/mcp"), &challenge(VERIFIER), None),
    )
    .await
    .text()
    .await
    .unwrap();
    let code = code_for(&base, page).await;
    let (status, tokens) = token(
        &base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &chatgpt),
            ("code_verifier", VERIFIER),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    h.stop().await;
}

/// Rows 4 and 5: a thousand token requests naming distinct metadata-document client ids from
/// one address: none of them is fetched or kept (a document is fetched only for a consent
/// request), and the address meets the token endpoint's limit.
#[tokio::test]
async fn token_requests_never_fetch_or_keep_metadata_documents() {
    let h = Harness::start().await;
    let base = h.base();
    let before = h
        .server
        .state
        .engine
        .oauth()
        .store()
        .client_count()
        .unwrap();
    let s = stranger_at(5);
    let mut statuses = std::collections::BTreeMap::new();
    let started = std::time::Instant::now();
    for i in 0..1_000 {
        let r = s
            .post(format!("{base}/oauth/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", "cmc_x"),
                (
                    "client_id",
                    &format!("https://cimd-{i}.example/client.json"),
                ),
                ("code_verifier", VERIFIER),
            ])
            .send()
            .await
            .unwrap();
        *statuses.entry(r.status().as_u16()).or_insert(0) += 1;
    }
    eprintln!(
        "1,000 token requests with metadata-document ids: {statuses:?} in {:?}",
        started.elapsed()
    );
    assert_eq!(
        statuses.get(&401),
        Some(&60),
        "unknown clients, until the limit: {statuses:?}"
    );
    assert_eq!(statuses.get(&429), Some(&940), "{statuses:?}");
    assert_eq!(
        h.server
            .state
            .engine
            .oauth()
            .store()
            .client_count()
            .unwrap(),
        before,
        "nothing kept"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "nothing was fetched"
    );
    h.stop().await;
}

/// Row 6: 2,100 revocations of made-up tokens: the address is held to its limit, none of them
/// publishes an event or forgets a cached verdict, and the owner's tool-call events stay in
/// the dashboard's replay.
#[tokio::test]
async fn revoking_made_up_tokens_changes_nothing() {
    let h = Harness::start().await;
    let base = h.base();
    let (_, tokens) = connect(&base, None, false).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let (status, _) = mcp_init(&h.url(), &access).await;
    assert_eq!(status, 200);
    let events = h.server.state.engine.events();
    let before = events.last_id();
    let grants_changed = |since: u64| {
        let (backlog, _) = events.subscribe(Some(since));
        backlog
            .iter()
            .filter(|e| serde_json::to_value(e.as_ref()).unwrap()["type"] == "oauth_grants_changed")
            .count()
    };
    let s = stranger_at(6);
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..2_100 {
        let r = s
            .post(format!("{base}/oauth/revoke"))
            .form(&[("token", format!("cmo_junk-{i}"))])
            .send()
            .await
            .unwrap();
        *statuses.entry(r.status().as_u16()).or_insert(0) += 1;
    }
    eprintln!("2,100 junk revocations: {statuses:?}");
    assert_eq!(statuses.get(&200), Some(&30), "{statuses:?}");
    assert_eq!(
        grants_changed(before),
        0,
        "no event for a token that was never ours"
    );
    assert!(
        h.server
            .state
            .engine
            .oauth()
            .recently_valid(&coda_mcp::coda::Secret::new(access.clone()))
            .is_some(),
        "the cache was kept"
    );
    h.stop().await;
}

/// Row 7: 3,000 refreshes with one approved app's refresh token: the client is held to its
/// refresh limit and the grant's token rows stay bounded (and a timer prunes the rest).
#[tokio::test]
async fn refreshing_in_a_loop_is_limited_and_keeps_the_store_small() {
    let h = Harness::start().await;
    let base = h.base();
    let (client_id, tokens) = connect(&base, None, false).await;
    let mut refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let mut statuses = std::collections::BTreeMap::new();
    for last in 20..70u8 {
        let s = stranger_at(last);
        for _ in 0..60 {
            let r = s
                .post(format!("{base}/oauth/token"))
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh.as_str()),
                    ("client_id", client_id.as_str()),
                ])
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            *statuses.entry(status).or_insert(0) += 1;
            if status == 200 {
                refresh = r.json::<Value>().await.unwrap()["refresh_token"]
                    .as_str()
                    .unwrap()
                    .to_owned();
            }
        }
    }
    eprintln!("3,000 refreshes of one grant: {statuses:?}");
    assert_eq!(statuses.get(&200), Some(&20), "{statuses:?}");
    let rows = h.server.state.engine.oauth().store().token_count().unwrap();
    assert!(rows <= 8, "{rows} token rows");
    h.stop().await;
}

/// Row 9: a stranger's client whose redirect URI is their own site asks for an unsupported
/// response type: a page, never a redirect from the owner's domain to theirs.
#[tokio::test]
async fn errors_never_redirect_to_a_strangers_site() {
    let h = Harness::start().await;
    let base = h.base();
    let s = stranger_at(9);
    let evil = "https://evil.example/landing";
    let (_, registered) = register_as(&s, &base, "Totally legit", evil).await;
    let id = registered["client_id"].as_str().unwrap().to_owned();
    for response_type in ["token", "code id_token"] {
        let r = authorize_as(&s, &base, &id, evil, response_type).await;
        assert_eq!(r.status(), 400, "{response_type}");
        assert!(r.headers().get("location").is_none());
        assert!(r.text().await.unwrap().contains("only response_type=code"));
    }
    // A known app's address, or this machine, still gets the spec's error redirect.
    let (_, chatgpt) = register_as(&s, &base, "ChatGPT", CHATGPT_REDIRECT).await;
    let r = authorize_as(
        &s,
        &base,
        chatgpt["client_id"].as_str().unwrap(),
        CHATGPT_REDIRECT,
        "token",
    )
    .await;
    assert_eq!(r.status(), 303);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with(CHATGPT_REDIRECT));
    h.stop().await;
}

/// Row 10: a network locked out for wrong connection keys tries OAuth access tokens instead:
/// the same lockout, before any database lookup.
#[tokio::test]
async fn every_bearer_shape_meets_the_lockout() {
    let h = Harness::start().await;
    let s = stranger_at(10);
    let post = |bearer: String| {
        s.post(h.url())
            .bearer_auth(bearer)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}).to_string())
            .send()
    };
    for i in 0..10 {
        assert_eq!(post(format!("cmk_wrong-{i}")).await.unwrap().status(), 401);
    }
    for bearer in [
        "cmo_guess-0000000000000000000000",
        "cmr_guess",
        "anything-else",
    ] {
        assert_eq!(
            post(bearer.to_owned()).await.unwrap().status(),
            429,
            "{bearer}"
        );
    }
    // A valid access token from another network is not affected.
    let base = h.base();
    let (_, tokens) = connect(&base, None, false).await;
    assert_eq!(
        mcp_init(&h.url(), tokens["access_token"].as_str().unwrap())
            .await
            .0,
        200
    );
    h.stop().await;
}

/// Issue 27: the metadata's `service_documentation` is a page this server serves (its root),
/// naming the `/mcp` URL of the face it was asked through.
#[tokio::test]
async fn the_service_documentation_is_served_here() {
    let h = Harness::start().await;
    let base = h.base();
    let meta: Value = reqwest::get(format!("{base}/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let doc = meta["service_documentation"].as_str().unwrap().to_owned();
    assert_eq!(doc, format!("{base}/"));
    let page = reqwest::get(&doc).await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let text = page.text().await.unwrap();
    assert!(
        text.contains(&format!("{base}/mcp")) && text.contains("Add custom MCP server"),
        "{text}"
    );
    h.stop().await;
}
