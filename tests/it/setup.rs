//! The dashboard's Setup actions over real HTTP: change the Coda token (checked with Coda
//! first), rotate the connection key (the old one stops working at once), save an ngrok
//! authtoken and switch the tunnel, connect Claude Desktop, and read/save the settings —
//! with clear refusals for bad input and nothing half-applied.

use crate::common;

use std::sync::{Arc, Mutex};

use coda_mcp::coda::Secret;
use coda_mcp::control::{ControlOptions, ProviderFactory};
use coda_mcp::secrets::{MemoryStore, SecretName, SecretStore};
use coda_mcp::tunnel::{OpenTunnel, TunnelError, TunnelProvider};
use coda_mcp::{demo, http, Engine};
use common::{quick_demo, quick_engine, TEST_KEY};
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{json, Value};

const DASH: &str = "dash_setup-test-token";

/// The (authtoken, domain) pairs the tunnel factory was called with.
type Seen = Arc<Mutex<Vec<(Option<String>, Option<String>)>>>;

struct Setup {
    demo: demo::DemoHandle,
    server: http::RunningServer,
    controls: Arc<coda_mcp::control::Controls>,
    store: Arc<MemoryStore>,
    dir: std::path::PathBuf,
    seen_tunnel_credentials: Seen,
}

/// A provider that records what it was built with and cannot connect (no network here).
struct Offline;

impl TunnelProvider for Offline {
    fn open(
        &self,
        _app: std::sync::Arc<dyn coda_mcp::tunnel::Endpoint>,
    ) -> BoxFuture<'static, Result<OpenTunnel, TunnelError>> {
        async { Err(TunnelError::Unreachable("offline test".into())) }.boxed()
    }
}

async fn start() -> Setup {
    let demo = demo::start(quick_demo(), 0).await.unwrap();
    let mut config = quick_engine(&demo);
    config.dashboard_token = Secret::new(DASH);
    let engine = Engine::new(config).unwrap();
    let store = Arc::new(MemoryStore::default());
    let dir = std::env::temp_dir().join(format!("coda-mcp-setup-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let factory: ProviderFactory = Arc::new(move |token: Option<Secret>, domain| {
        record
            .lock()
            .unwrap()
            .push((token.map(|t| t.expose().to_owned()), domain));
        Arc::new(Offline) as Arc<dyn TunnelProvider>
    });
    let controls = ControlOptions {
        store: store.clone(),
        tunnel_provider: Some(factory),
        settings_path: Some(dir.join("settings.json")),
        claude_config: Some(dir.join("Claude/claude_desktop_config.json")),
        client_places: Some(coda_mcp::clients::Places::under(&dir.join("home"))),
        stdio_program: Some("/opt/coda-mcp/coda-mcp".into()),
        ..ControlOptions::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (server, controls) = coda_mcp::control::start(engine, listener, controls)
        .await
        .unwrap();
    Setup {
        demo,
        server,
        controls,
        store,
        dir,
        seen_tunnel_credentials: seen,
    }
}

impl Setup {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .request(
                method.parse().unwrap(),
                format!("http://{}{path}", self.server.addr),
            )
            .bearer_auth(DASH)
            // What the dashboard's own page sends with every action (CSRF defence).
            .header("content-type", "application/json")
            .header("x-coda-mcp-dashboard", "1");
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn ping(&self, key: &str) -> u16 {
        reqwest::Client::new()
            .post(self.server.mcp_url())
            .bearer_auth(key)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn stop(self) {
        self.controls.shutdown().await;
        self.server.shutdown().await;
        self.demo.shutdown();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn the_coda_token_is_checked_with_coda_before_it_is_kept() {
    let s = start().await;
    let (status, body) = s
        .call(
            "POST",
            "/api/setup/coda-token",
            Some(json!({"token": "not-a-real-token"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "token_rejected");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("Coda did not accept the token"));
    assert!(
        s.store.get(SecretName::CodaToken).unwrap().is_none(),
        "nothing kept"
    );

    let (status, body) = s
        .call(
            "POST",
            "/api/setup/coda-token",
            Some(json!({"token": demo::DEMO_TOKEN})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["account"]["name"]
        .as_str()
        .is_some_and(|n| !n.is_empty()));
    assert!(
        !body.to_string().contains(demo::DEMO_TOKEN),
        "the token is never echoed"
    );
    assert_eq!(
        s.store
            .get(SecretName::CodaToken)
            .unwrap()
            .unwrap()
            .expose(),
        demo::DEMO_TOKEN
    );
    // Wrong shapes get a clear 400, not a crash.
    for bad in [json!({"tok": "x"}), json!({"token": 5}), json!([1])] {
        let (status, body) = s.call("POST", "/api/setup/coda-token", Some(bad)).await;
        assert_eq!(status, 400);
        assert_eq!(body["error"], "invalid_json");
    }
    s.stop().await;
}

/// `coda-mcp key rotate` tells the running server through `POST /bridge/key-changed`. The
/// attacks: a caller without the current key gets 401 and changes nothing; the route is not
/// on the public face at all; nothing but the keychain's own key is ever taken.
#[tokio::test]
async fn key_changed_takes_only_the_keychains_key_and_only_from_the_key_holder() {
    let s = start().await;
    let post = |bearer: &str, public: bool| {
        let mut req = reqwest::Client::new()
            .post(format!("http://{}/bridge/key-changed", s.server.addr))
            .bearer_auth(bearer);
        if public {
            req = req.header("x-forwarded-for", "203.0.113.9");
        }
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // The keychain holds another key (as after `key rotate` in another process).
    let rotated = Secret::new("cmk_rotated-elsewhere-0000000000000000000000000");
    s.store.set(SecretName::ConnectionKey, &rotated).unwrap();
    let (status, _) = post("cmk_not-the-key-000000000000000000000000000000", false).await;
    assert_eq!(status, 401, "a caller without the current key is refused");
    assert_eq!(s.ping(TEST_KEY).await, 200, "and nothing changed");
    let (status, _) = post(TEST_KEY, true).await;
    assert!(
        matches!(status, 401 | 403 | 404),
        "not on the public face: {status}"
    );
    assert_eq!(s.ping(TEST_KEY).await, 200);
    let (status, body) = post(TEST_KEY, false).await;
    assert_eq!(
        (status, body["changed"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    assert_eq!(
        s.ping(TEST_KEY).await,
        401,
        "the old key stops working at once"
    );
    assert_eq!(s.ping(rotated.expose()).await, 200);
    let (status, body) = post(rotated.expose(), false).await;
    assert_eq!((status, body["changed"].as_bool()), (200, Some(false)));
    s.stop().await;
}

#[tokio::test]
async fn rotating_the_key_retires_the_old_one_at_once() {
    let s = start().await;
    assert_eq!(s.ping(TEST_KEY).await, 200);
    let (status, body) = s.call("POST", "/api/setup/key/rotate", None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["key_hint"].as_str().unwrap().starts_with('…'));
    assert_eq!(s.ping(TEST_KEY).await, 401, "the old key no longer works");
    let (_, revealed) = s.call("POST", "/api/key/reveal", None).await;
    let new_key = revealed["key"].as_str().unwrap().to_owned();
    assert!(new_key.starts_with("cmk_") && new_key != TEST_KEY);
    assert_eq!(s.ping(&new_key).await, 200);
    assert_eq!(
        s.store
            .get(SecretName::ConnectionKey)
            .unwrap()
            .unwrap()
            .expose(),
        new_key,
        "kept in the keychain"
    );
    s.stop().await;
}

#[tokio::test]
async fn the_tunnel_uses_the_saved_authtoken_and_domain() {
    let s = start().await;
    let (status, body) = s
        .call(
            "POST",
            "/api/setup/ngrok",
            Some(json!({"domain": "https://bad domain/"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = s
        .call(
            "POST",
            "/api/setup/ngrok",
            Some(json!({"authtoken": "2xyzNgrokToken", "domain": "coda-me.ngrok.app"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = s
        .call("POST", "/api/setup/tunnel", Some(json!({"on": true})))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        s.seen_tunnel_credentials.lock().unwrap().last().unwrap(),
        &(
            Some("2xyzNgrokToken".to_owned()),
            Some("coda-me.ngrok.app".to_owned())
        )
    );
    // The offline provider cannot connect: the state says so, and the dashboard state has it.
    let mut state = Value::Null;
    for _ in 0..50 {
        let (_, st) = s.call("GET", "/api/state", None).await;
        state = st["setup"]["tunnel"].clone();
        if state["state"] == "retrying" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(state["state"], "retrying", "{state}");
    assert!(state["error"].as_str().unwrap().contains("offline test"));
    assert!(!state.to_string().contains("2xyzNgrokToken"));
    let (status, body) = s
        .call("POST", "/api/setup/tunnel", Some(json!({"on": false})))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["tunnel"]["state"], "off");
    // The domain was saved in the settings file; the authtoken was not.
    let text = std::fs::read_to_string(s.dir.join("settings.json")).unwrap();
    assert!(text.contains("coda-me.ngrok.app") && !text.contains("2xyzNgrokToken"));
    s.stop().await;
}

#[tokio::test]
async fn claude_desktop_is_connected_and_an_invalid_config_is_refused() {
    let s = start().await;
    let (status, body) = s.call("POST", "/api/setup/claude", None).await;
    assert_eq!(status, 200, "{body}");
    let path = s.dir.join("Claude/claude_desktop_config.json");
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        written["mcpServers"]["coda"]["command"],
        "/opt/coda-mcp/coda-mcp"
    );
    assert_eq!(written["mcpServers"]["coda"]["args"], json!(["stdio"]));
    std::fs::write(&path, "{oops").unwrap();
    let (status, body) = s.call("POST", "/api/setup/claude", Some(json!({}))).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "client_config_invalid");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{oops");
    s.stop().await;
}

/// The Setup view's client rows: each client's state, its snippet and install link; Connect
/// and Disconnect change only our entry; an unknown client is a 404 naming the known ones.
#[tokio::test]
async fn every_client_is_listed_connected_and_disconnected() {
    let s = start().await;
    let home = s.dir.join("home");
    std::fs::create_dir_all(home.join(".cursor")).unwrap();
    let cursor = home.join(".cursor/mcp.json");
    std::fs::write(&cursor, r#"{"mcpServers":{"other":{"command":"x"}}}"#).unwrap();
    let (status, body) = s.call("GET", "/api/setup/clients", None).await;
    assert_eq!(status, 200, "{body}");
    let rows = body["clients"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["client"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "claude",
            "claude-code",
            "cursor",
            "vscode",
            "windsurf",
            "codex",
            "gemini"
        ]
    );
    let row = |body: &Value, client: &str| {
        body["clients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["client"] == client)
            .cloned()
            .unwrap()
    };
    let cursor_row = row(&body, "cursor");
    assert_eq!(cursor_row["installed"], true);
    assert_eq!(cursor_row["connected"], false);
    assert!(cursor_row["install_link"]
        .as_str()
        .unwrap()
        .starts_with("cursor://anysphere.cursor-deeplink/mcp/install?name=coda&config="));
    assert!(row(&body, "codex")["snippet"]
        .as_str()
        .unwrap()
        .contains("[mcp_servers.coda]"));
    assert_eq!(row(&body, "windsurf")["installed"], false);

    let (status, body) = s
        .call("POST", "/api/setup/clients/cursor", Some(json!({})))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("Added to"),
        "{body}"
    );
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&cursor).unwrap()).unwrap();
    assert_eq!(written["mcpServers"]["other"]["command"], "x");
    assert_eq!(
        written["mcpServers"]["coda"]["command"],
        "/opt/coda-mcp/coda-mcp"
    );
    let (_, body) = s.call("GET", "/api/setup/clients", None).await;
    assert_eq!(row(&body, "cursor")["connected"], true);

    let (status, body) = s.call("DELETE", "/api/setup/clients/cursor", None).await;
    assert_eq!(status, 200, "{body}");
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&cursor).unwrap()).unwrap();
    assert!(written["mcpServers"].get("coda").is_none());
    assert_eq!(written["mcpServers"]["other"]["command"], "x");

    let (status, body) = s
        .call("POST", "/api/setup/clients/notepad", Some(json!({})))
        .await;
    assert_eq!(status, 404);
    assert!(
        body["message"].as_str().unwrap().contains("claude-code"),
        "{body}"
    );
    // An invalid config is refused and left as it was.
    std::fs::write(&cursor, "{oops").unwrap();
    let (status, body) = s
        .call("POST", "/api/setup/clients/cursor", Some(json!({})))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("client_config_invalid"))
    );
    assert_eq!(std::fs::read_to_string(&cursor).unwrap(), "{oops");
    let (_, body) = s.call("GET", "/api/setup/clients", None).await;
    assert!(row(&body, "cursor")["problem"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));
    s.stop().await;
}

#[tokio::test]
async fn settings_round_trip_and_unknown_fields_are_refused() {
    let s = start().await;
    let (status, settings) = s.call("GET", "/api/setup/settings", None).await;
    assert_eq!(status, 200);
    assert_eq!(settings["port"], 8080);
    let mut changed = settings.clone();
    changed["read_only"] = json!(true);
    changed["session_idle_timeout_s"] = json!(600);
    let (status, body) = s
        .call("PUT", "/api/setup/settings", Some(changed.clone()))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, again) = s.call("GET", "/api/setup/settings", None).await;
    assert_eq!(again, changed);
    let mut typo = changed.clone();
    typo["readonly"] = json!(true);
    let (status, body) = s.call("PUT", "/api/setup/settings", Some(typo)).await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("readonly"),
        "{body}"
    );
    let mut bad = changed.clone();
    bad["session_idle_timeout_s"] = json!(1);
    let (status, _) = s.call("PUT", "/api/setup/settings", Some(bad)).await;
    assert_eq!(status, 400);
    let (_, kept) = s.call("GET", "/api/setup/settings", None).await;
    assert_eq!(kept, changed, "a refused save changes nothing");
    // Without the dashboard token, Setup refuses.
    let resp = reqwest::Client::new()
        .post(format!("http://{}/api/setup/key/rotate", s.server.addr))
        .bearer_auth(TEST_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    s.stop().await;
}

/// A page on another port of 127.0.0.1 sends the dashboard cookie too (cookies ignore ports):
/// what it could send is refused, and nothing changes.
#[tokio::test]
async fn actions_from_another_origin_or_a_plain_form_are_refused() {
    let s = start().await;
    let url = |path: &str| format!("http://{}{path}", s.server.addr);
    let own = format!("http://{}", s.server.addr);
    let foreign = format!("http://127.0.0.1:{}", s.server.addr.port() + 1);
    let client = reqwest::Client::new();
    let before = s.server.state.engine.connection_key().expose().to_owned();
    // A script on another port, with everything else right: refused by Origin.
    let r = client
        .post(url("/api/setup/key/rotate"))
        .bearer_auth(DASH)
        .header("origin", &foreign)
        .header("content-type", "application/json")
        .header("x-coda-mcp-dashboard", "1")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "forbidden");
    // A plain HTML form or a no-cors fetch (form-encoded, no custom header), even from the
    // same origin: refused.
    for (origin, content_type) in [
        (Some(foreign.as_str()), "application/x-www-form-urlencoded"),
        (Some(own.as_str()), "application/x-www-form-urlencoded"),
        (None, "text/plain"),
        (Some(own.as_str()), "multipart/form-data; boundary=x"),
    ] {
        let mut req = client
            .post(url("/api/setup/tunnel"))
            .bearer_auth(DASH)
            .header("content-type", content_type)
            .body("on=true");
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 403, "{origin:?} {content_type}");
    }
    // JSON but without the dashboard's header (what a preflight-free request can carry): refused.
    let r = client
        .put(url("/api/setup/settings"))
        .bearer_auth(DASH)
        .header("content-type", "application/json")
        .body(json!({"port": 1}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = client
        .post(url("/api/key/reveal"))
        .bearer_auth(DASH)
        .header("origin", &foreign)
        .header("content-type", "application/json")
        .header("x-coda-mcp-dashboard", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "revealing the key is guarded too");
    assert!(
        s.seen_tunnel_credentials.lock().unwrap().is_empty(),
        "no tunnel was started"
    );
    assert_eq!(
        s.server.state.engine.connection_key().expose(),
        before,
        "the key was not rotated"
    );
    // The dashboard's own page (same origin, JSON, the header) is let through, and reads need
    // nothing more than the token.
    let r = client
        .post(url("/api/setup/key/rotate"))
        .bearer_auth(DASH)
        .header("origin", &own)
        .header("content-type", "application/json; charset=utf-8")
        .header("x-coda-mcp-dashboard", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .get(url("/api/setup/settings"))
        .bearer_auth(DASH)
        .header("origin", &foreign)
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 403, "reads are not state-changing");
    s.stop().await;
}

/// Without a keychain, saving an ngrok authtoken says where it can come from instead.
#[tokio::test]
async fn an_ngrok_authtoken_without_a_keychain_points_at_the_environment() {
    let controls = coda_mcp::control::Controls::new(ControlOptions::default());
    let refused = controls
        .set_ngrok(Some("2xyzNgrokToken"), None)
        .await
        .expect_err("nothing can keep it");
    let said = refused.to_string();
    assert!(
        said.contains("NGROK_AUTHTOKEN") && !said.contains("2xyzNgrokToken"),
        "{said}"
    );
}

/// Counts the `notifications/tools/list_changed` a client receives.
#[derive(Clone, Default)]
struct ListChangedCounter(Arc<std::sync::atomic::AtomicUsize>);

impl rmcp::ClientHandler for ListChangedCounter {
    async fn on_tool_list_changed(
        &self,
        _context: rmcp::service::NotificationContext<rmcp::RoleClient>,
    ) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn tool_names(
    client: &rmcp::service::RunningService<rmcp::RoleClient, ListChangedCounter>,
) -> Vec<String> {
    client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect()
}

#[tokio::test]
async fn toolsets_change_live_and_connected_clients_are_told() {
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    use rmcp::ServiceExt;
    let s = start().await;
    let (status, view) = s
        .call(
            "PUT",
            "/api/setup/toolsets",
            Some(json!({"toolsets": "core"})),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["toolsets"], "core");
    assert_eq!(view["changed"], true, "the harness started with every tool");
    assert!(view["listBytes"].as_u64().unwrap() <= view["budget"].as_u64().unwrap());
    let sharing = view["sets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "sharing")
        .unwrap();
    assert_eq!(sharing["offered"], false);
    assert!(
        sharing["tools"].as_u64().unwrap() >= 5 && sharing["listBytes"].as_u64().unwrap() > 1000
    );

    let counter = ListChangedCounter::default();
    let mut config = StreamableHttpClientTransportConfig::with_uri(s.server.mcp_url());
    config.auth_header = Some(TEST_KEY.to_owned());
    let client = counter
        .clone()
        .serve(rmcp::transport::StreamableHttpClientTransport::from_config(
            config,
        ))
        .await
        .unwrap();
    assert!(!tool_names(&client)
        .await
        .iter()
        .any(|n| n == "coda_add_permission"));
    let refused = client
        .call_tool(rmcp::model::CallToolRequestParams::new(
            "coda_get_permissions",
        ))
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("`sharing` toolset"), "{refused}");

    let (status, view) = s
        .call(
            "PUT",
            "/api/setup/toolsets",
            Some(json!({"toolsets": "core, sharing"})),
        )
        .await;
    assert_eq!(
        (status, view["changed"].clone()),
        (200, json!(true)),
        "{view}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while counter.0.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no tools/list_changed arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let names = tool_names(&client).await;
    assert!(
        names.iter().any(|n| n == "coda_add_permission"),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.contains("analytics")));

    // The same choice again changes nothing and tells nobody; a wrong name changes nothing.
    let (status, view) = s
        .call(
            "PUT",
            "/api/setup/toolsets",
            Some(json!({"toolsets": "sharing,core"})),
        )
        .await;
    assert_eq!((status, view["changed"].clone()), (200, json!(false)));
    for bad in [
        json!({"toolsets": "core,rows"}),
        json!({"toolsets": 5}),
        json!({"sets": "all"}),
    ] {
        let (status, body) = s
            .call("PUT", "/api/setup/toolsets", Some(bad.clone()))
            .await;
        assert_eq!(status, 400, "{bad} → {body}");
    }
    let (_, body) = s
        .call(
            "PUT",
            "/api/setup/toolsets",
            Some(json!({"toolsets": "core,rows"})),
        )
        .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("'rows' is not a toolset"),
        "{body}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    let (_, view) = s.call("GET", "/api/setup/toolsets", None).await;
    assert_eq!(view["toolsets"], "core,sharing");
    // Remembered for the next start.
    let (_, settings) = s.call("GET", "/api/setup/settings", None).await;
    assert_eq!(settings["toolsets"], "core,sharing");
    client.cancel().await.unwrap();
    s.stop().await;
}
