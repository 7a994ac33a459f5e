//! `coda-mcp doctor`, the binary, against a setup with each part broken on purpose — no
//! keychain, a token Coda refuses, a busy port, a server that stopped without saying so, a
//! client entry whose program is gone, a file others can read — and against a healthy one.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::common;

fn private_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "coda-doctor-{name}-{}-{}",
        std::process::id(),
        coda_mcp::runtime::now_ms()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

/// Runs `coda-mcp doctor` with only the environment given (a fresh `HOME`, no keychain).
async fn doctor(home: &Path, data: &Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_coda-mcp"))
        .arg("doctor")
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .env("CODA_MCP_DATA_DIR", data)
        .env("CODA_MCP_KEYCHAIN", "off")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test]
async fn doctor_names_each_broken_part_of_a_setup() {
    let demo = coda_mcp::demo::start(common::quick_demo(), 0)
        .await
        .unwrap();
    let home = private_dir("home");
    let data = private_dir("data");
    // A client entry whose program was moved away.
    std::fs::write(
        home.join(".claude.json"),
        r#"{"mcpServers": {"coda": {"type": "stdio", "command": "/nowhere/coda-mcp", "args": ["stdio"]}}}"#,
    )
    .unwrap();
    // A server announced by a process that is alive (pid 1) but is not it: no answer.
    std::fs::create_dir_all(data.join("servers")).unwrap();
    std::fs::write(
        data.join("servers").join("1.json"),
        r#"{"mcp_url": "http://127.0.0.1:9/mcp", "pid": 1, "demo": false, "no_auth": false}"#,
    )
    .unwrap();
    // A file others can read.
    let open = data.join("audit.sqlite3");
    std::fs::write(&open, b"").unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    // A port another program holds.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let (code, out) = doctor(
        &home,
        &data,
        &[("CODA_API_TOKEN", common::bad_token().expose())],
        &["--port", &port, "--coda-base-url", &demo.base_url],
    )
    .await;
    assert_eq!(code, 1, "{out}");
    for expected in [
        "note keychain: no OS keychain",
        "FIX  Coda token: Coda refused the token from the environment (401)",
        "coda-mcp token set",
        &format!("FIX  port {port}: in use by another program"),
        "--port 0",
        "FIX  server http://127.0.0.1:9/mcp: announced by process 1, which does not answer",
        "FIX  Claude Code's entry: ",
        "/nowhere/coda-mcp, which does not exist",
        "coda-mcp connect claude-code",
        "can be read by others: ",
        "audit.sqlite3",
        "chmod -R go-rwx",
        "5 problems found",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert!(
        !out.contains(common::bad_token().expose()),
        "the token never reaches the output"
    );
    drop(busy);
    demo.shutdown();
    let _ = std::fs::remove_dir_all(home);
    let _ = std::fs::remove_dir_all(data);
}

#[tokio::test]
async fn doctor_is_content_with_a_healthy_setup() {
    let demo = coda_mcp::demo::start(common::quick_demo(), 0)
        .await
        .unwrap();
    let home = private_dir("home-ok");
    let data = private_dir("data-ok");
    std::fs::write(home.join("history.txt"), b"").unwrap();
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port().to_string();
    drop(free);
    let (code, out) = doctor(
        &home,
        &data,
        &[("CODA_API_TOKEN", demo.token().expose())],
        &["--port", &port, "--coda-base-url", &demo.base_url, "--json"],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let findings: serde_json::Value = serde_json::from_str(&out).unwrap();
    let verdict = |check: &str| {
        findings
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"].as_str().unwrap().starts_with(check))
            .unwrap_or_else(|| panic!("no {check} in {out}"))["verdict"]
            .clone()
    };
    assert_eq!(verdict("Coda token"), "ok");
    assert_eq!(verdict("port"), "ok");
    assert_eq!(verdict("data directory"), "ok");
    assert!(
        findings
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["verdict"] != "problem"),
        "{out}"
    );
    demo.shutdown();
    let _ = std::fs::remove_dir_all(home);
    let _ = std::fs::remove_dir_all(data);
}
