//! The real OS keychain (Secret Service on Linux). These tests need a running, unlocked
//! keyring; `scripts/test.sh` provides one (dbus-run-session + gnome-keyring-daemon) and runs
//! them with `--include-ignored`.

use coda_mcp::coda::Secret;
use coda_mcp::secrets::{
    connection_key, rotate_connection_key, KeyringStore, SecretName, SecretStore, Source,
};

fn store() -> KeyringStore {
    KeyringStore::with_service(format!("coda-mcp-desktop-test-{}", std::process::id()))
}

#[test]
#[ignore = "needs a Secret Service session; scripts/test.sh runs it"]
fn secrets_round_trip_through_the_os_keychain() {
    let s = store();
    s.delete(SecretName::CodaToken).unwrap();
    assert_eq!(s.get(SecretName::CodaToken).unwrap(), None);
    s.set(
        SecretName::CodaToken,
        &Secret::new("pat_keychain_test_0001"),
    )
    .unwrap();
    assert_eq!(
        s.get(SecretName::CodaToken).unwrap().unwrap().expose(),
        "pat_keychain_test_0001"
    );
    s.set(
        SecretName::CodaToken,
        &Secret::new("pat_keychain_test_0002"),
    )
    .unwrap();
    assert_eq!(
        s.get(SecretName::CodaToken).unwrap().unwrap().expose(),
        "pat_keychain_test_0002",
        "set replaces"
    );
    s.delete(SecretName::CodaToken).unwrap();
    assert_eq!(s.get(SecretName::CodaToken).unwrap(), None);
}

#[test]
#[ignore = "needs a Secret Service session; scripts/test.sh runs it"]
fn the_connection_key_is_created_once_kept_and_rotated_in_the_keychain() {
    let s = store();
    s.delete(SecretName::ConnectionKey).unwrap();
    let (first, source) = connection_key(&s, None);
    assert_eq!(source, Source::Keychain);
    assert_eq!(s.get(SecretName::ConnectionKey).unwrap().unwrap(), first);
    let (again, _) = connection_key(&s, None);
    assert_eq!(again, first, "the key survives a restart");
    let rotated = rotate_connection_key(&s).unwrap();
    assert_ne!(rotated, first);
    assert_eq!(connection_key(&s, None).0, rotated);
    s.delete(SecretName::ConnectionKey).unwrap();
}

/// The CLI against the real keychain. Only inside the throwaway keyring session of
/// `scripts/with-keyring.sh`, never against a person's own keychain.
#[test]
#[ignore = "needs a Secret Service session; scripts/test.sh runs it"]
fn token_and_key_commands_use_the_keychain() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    assert_eq!(
        std::env::var("CODA_MCP_IN_KEYRING_SESSION").as_deref(),
        Ok("1"),
        "run through scripts/with-keyring.sh so the person's own keychain is never touched"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let demo = rt
        .block_on(coda_mcp::demo::start(
            coda_mcp::demo::DemoConfig::default(),
            0,
        ))
        .unwrap();
    let bin = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_coda-mcp"));
        c.env_remove("CODA_API_TOKEN")
            .env_remove("CODA_MCP_KEY")
            .env_remove("CODA_MCP_KEYCHAIN");
        c
    };
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut child = bin()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        } else {
            drop(child.stdin.take());
        }
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let base = demo.base_url.clone();
    let (ok, out) = run(
        &["token", "set", "--coda-base-url", &base],
        Some("not-a-valid-token\n"),
    );
    assert!(!ok && out.contains("did not accept"), "{out}");
    let (ok, out) = run(
        &["token", "set", "--coda-base-url", &base],
        Some(&format!("{}\n", coda_mcp::demo::DEMO_TOKEN)),
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("Demo User") && !out.contains(coda_mcp::demo::DEMO_TOKEN),
        "{out}"
    );
    let (ok, out) = run(&["token", "status", "--coda-base-url", &base], None);
    assert!(
        ok && out.contains("from the keychain") && out.contains("accepted by Coda"),
        "{out}"
    );
    assert_token_hint(&out, coda_mcp::demo::DEMO_TOKEN, "keychain");
    let (ok, out) = run(&["token", "clear"], None);
    assert!(ok && out.contains("Removed the Coda token"), "{out}");
    let (ok, out) = run(&["token", "clear"], None);
    assert!(
        ok && out.contains("nothing to remove"),
        "a second clear removes nothing: {out}"
    );
    let (ok, out) = run(&["token", "status", "--coda-base-url", &base], None);
    assert!(
        !ok && out.contains("no Coda token"),
        "no token is a failing status: {out}"
    );
    // A token set while Coda cannot be reached is not called a bad token.
    let (ok, out) = run(
        &[
            "token",
            "set",
            "--coda-base-url",
            "http://127.0.0.1:9/apis/v1",
        ],
        Some(&format!("{}\n", coda_mcp::demo::DEMO_TOKEN)),
    );
    assert!(!ok && out.contains("could not reach Coda"), "{out}");
    assert!(!out.contains("did not accept"), "{out}");

    let (ok, first) = run(&["key", "show"], None);
    assert!(ok && first.starts_with("cmk_"), "{first}");
    let (_, again) = run(&["key", "show"], None);
    assert_eq!(
        first.lines().next(),
        again.lines().next(),
        "the key is kept"
    );
    let (ok, rotated) = run(&["key", "rotate"], None);
    assert!(
        ok && rotated.starts_with("cmk_") && rotated.lines().next() != first.lines().next(),
        "{rotated}"
    );
    assert!(rotated.contains("No server is running"), "{rotated}");

    // With a server running (keychain key), `key rotate` reaches it: the old key stops
    // working at once and the new one is let in, without a restart.
    let dir = std::env::temp_dir().join(format!("coda-mcp-rotate-{}", std::process::id()));
    let mut server = bin()
        .args(["serve", "--demo", "--port", "0"])
        .env("CODA_MCP_DATA_DIR", &dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().unwrap()),
        &mut ready,
    )
    .unwrap();
    let mcp = ready
        .split_whitespace()
        .find(|w| w.starts_with("http://") && w.ends_with("/mcp"))
        .unwrap_or_else(|| panic!("{ready}"))
        .to_owned();
    let status_with = |key: &str| {
        rt.block_on(async {
            reqwest::Client::new()
                .post(&mcp)
                .bearer_auth(key)
                .header("accept", "application/json, text/event-stream")
                .json(
                    &serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": {"name": "t", "version": "1"}}}),
                )
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    let before = rotated.lines().next().unwrap().to_owned();
    assert_eq!(status_with(&before), 200);
    let mut rotate = bin();
    rotate
        .args(["key", "rotate"])
        .env("CODA_MCP_DATA_DIR", &dir);
    let out = rotate.output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    let after = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&format!("The running server at {mcp} requires the new key")),
        "{said}"
    );
    assert_eq!(
        status_with(&before),
        401,
        "the old key stops working at once"
    );
    assert_eq!(
        status_with(&after),
        200,
        "the new key is let in without a restart"
    );
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
    demo.shutdown();
}

/// `token status` names the token by a hint — `…` and its last four characters — and never
/// shows more of it.
fn assert_token_hint(out: &str, token: &str, source: &str) {
    let tail: String = token
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    // A usable token's line is the answer (stdout); an unusable one's is the error (stderr,
    // after the program's name).
    let line = out
        .lines()
        .find_map(|l| l.find("Coda token ").map(|at| &l[at..]))
        .unwrap_or_else(|| panic!("no status line: {out}"));
    assert!(
        line.starts_with(&format!("Coda token …{tail} from the {source}: ")),
        "{line}"
    );
    let head: String = token.chars().take(token.chars().count() - 4).collect();
    assert!(!out.contains(&head), "more than the hint was shown: {out}");
}

/// The same status line without a keychain: the token from the environment, checked with
/// the demo workspace.
#[test]
fn token_status_names_the_token_by_a_hint_only() {
    use std::process::Command;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let demo = rt
        .block_on(coda_mcp::demo::start(
            coda_mcp::demo::DemoConfig::default(),
            0,
        ))
        .unwrap();
    let status = |token: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_coda-mcp"))
            .args(["token", "status", "--coda-base-url", &demo.base_url])
            .env("CODA_MCP_KEYCHAIN", "off")
            .env("CODA_API_TOKEN", token)
            .env("RUST_LOG", "off")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = status(coda_mcp::demo::DEMO_TOKEN);
    assert!(
        ok && out.contains("Demo User") && out.contains("accepted by Coda"),
        "{out}"
    );
    assert_token_hint(&out, coda_mcp::demo::DEMO_TOKEN, "environment");
    let wrong = "pat_not-accepted-by-the-demo-7f3e";
    let (ok, out) = status(wrong);
    assert!(
        !ok && out.contains("not usable"),
        "an unusable token is a failing status: {out}"
    );
    assert_token_hint(&out, wrong, "environment");
    demo.shutdown();
}
