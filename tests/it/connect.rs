//! `coda-mcp connect <client>` for every client, as a person runs it (the binary, a home folder
//! of the test's own): each client's writer on a fixture of that client's real config format,
//! with other entries and, where the format allows, comments; the backup; `--remove`; the
//! refusal of an invalid file (left untouched); `--print` and `--list`; and then what the
//! written entry says is started exactly as the client would start it, and lists the tools.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// One client: where its config lives under the home folder, a fixture in its real format
/// (other servers, other settings, comments where allowed), and how to read it back.
struct Case {
    client: &'static str,
    file: &'static str,
    fixture: &'static str,
    /// Text that must survive our edit (a comment, another server).
    kept: &'static [&'static str],
    read: fn(&str) -> Value,
    /// Where our entry is in what `read` gives.
    entry: fn(&Value) -> Option<&Value>,
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn jsonc(text: &str) -> Value {
    jsonc_parser::cst::CstRootNode::parse(text, &Default::default())
        .unwrap_or_else(|e| panic!("{e}: {text}"))
        .to_serde_value()
        .unwrap_or(Value::Null)
}

fn toml(text: &str) -> Value {
    let doc: toml_edit::DocumentMut = text.parse().unwrap_or_else(|e| panic!("{e}: {text}"));
    let mut out = serde_json::Map::new();
    if let Some(servers) = doc.get("mcp_servers").and_then(|s| s.as_table()) {
        let mut map = serde_json::Map::new();
        for (name, server) in servers {
            let command = server
                .get("command")
                .and_then(|c| c.as_str())
                .map(Value::from);
            let args: Option<Vec<Value>> = server.get("args").and_then(|a| a.as_array()).map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(Value::from))
                    .collect()
            });
            map.insert(
                name.to_owned(),
                serde_json::json!({"command": command, "args": args}),
            );
        }
        out.insert("mcp_servers".into(), Value::Object(map));
    }
    out.insert(
        "model".into(),
        doc.get("model")
            .and_then(|m| m.as_str())
            .map(Value::from)
            .unwrap_or(Value::Null),
    );
    Value::Object(out)
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            client: "claude",
            file: ".config/Claude/claude_desktop_config.json",
            fixture: r#"{"globalShortcut": "Ctrl+Space", "mcpServers": {"filesystem": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/home/p"]}}}"#,
            kept: &["globalShortcut", "server-filesystem"],
            read: json,
            entry: |v| v["mcpServers"].get("coda"),
        },
        Case {
            client: "claude-code",
            file: ".claude.json",
            fixture: r#"{"numStartups": 12, "projects": {"/home/p/app": {"mcpServers": {}, "allowedTools": []}}, "mcpServers": {"sentry": {"type": "http", "url": "https://mcp.sentry.dev/mcp"}}}"#,
            kept: &["numStartups", "/home/p/app", "mcp.sentry.dev"],
            read: json,
            entry: |v| v["mcpServers"].get("coda"),
        },
        Case {
            client: "cursor",
            file: ".cursor/mcp.json",
            fixture: r#"{"mcpServers": {"linear": {"url": "https://mcp.linear.app/sse"}}}"#,
            kept: &["mcp.linear.app"],
            read: json,
            entry: |v| v["mcpServers"].get("coda"),
        },
        Case {
            client: "vscode",
            file: ".config/Code/User/mcp.json",
            fixture: "// Servers for Copilot's agent mode\n{\n\t\"inputs\": [\n\t\t{\"type\": \"promptString\", \"id\": \"gh-token\", \"description\": \"GitHub token\", \"password\": true},\n\t],\n\t\"servers\": {\n\t\t// GitHub's hosted server\n\t\t\"github\": {\"type\": \"http\", \"url\": \"https://api.githubcopilot.com/mcp/\", \"headers\": {\"Authorization\": \"Bearer ${input:gh-token}\"}},\n\t},\n}\n",
            kept: &["// Servers for Copilot's agent mode", "// GitHub's hosted server", "${input:gh-token}"],
            read: jsonc,
            entry: |v| v["servers"].get("coda"),
        },
        Case {
            client: "windsurf",
            file: ".codeium/windsurf/mcp_config.json",
            fixture: r#"{"mcpServers": {"figma": {"serverUrl": "http://127.0.0.1:3845/mcp", "disabled": false}}}"#,
            kept: &["serverUrl", "figma"],
            read: json,
            entry: |v| v["mcpServers"].get("coda"),
        },
        Case {
            client: "codex",
            file: ".codex/config.toml",
            fixture: "# Codex CLI settings\nmodel = \"gpt-5-codex\"\napproval_policy = \"on-request\"\n\n[mcp_servers.context7]\ncommand = \"npx\" # docs lookup\nargs = [\"-y\", \"@upstash/context7-mcp\"]\n\n[mcp_servers.context7.env]\nDEBUG = \"0\"\n",
            kept: &["# Codex CLI settings", "# docs lookup", "approval_policy", "[mcp_servers.context7.env]"],
            read: toml,
            entry: |v| v["mcp_servers"].get("coda"),
        },
        Case {
            client: "gemini",
            file: ".gemini/settings.json",
            fixture: "{\n  // Gemini CLI settings\n  \"theme\": \"GitHub\",\n  \"mcpServers\": {\n    \"git\": {\"command\": \"uvx\", \"args\": [\"mcp-server-git\"], \"trust\": false}\n  }\n}\n",
            kept: &["// Gemini CLI settings", "mcp-server-git", "\"theme\""],
            read: jsonc,
            entry: |v| v["mcpServers"].get("coda"),
        },
    ]
}

fn home() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "coda-mcp-connect-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `coda-mcp` with `home` as the person's home folder and nothing of the real machine's.
fn coda_mcp(home: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_coda-mcp"))
        .args(args)
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("CODEX_HOME")
        .env_remove("CLAUDE_CONFIG_DIR")
        .env_remove("GEMINI_CLI_HOME")
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Starts what an entry says, as the client would (its command and args, stdin/stdout), and
/// answers how many tools `tools/list` lists.
fn serve_entry(entry: &Value, home: &Path) -> usize {
    let command = entry["command"].as_str().expect("a command");
    let args: Vec<&str> = entry["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let mut child = Command::new(command);
    // What the entry gives the bridge in its environment (`--key-in-config`).
    for (name, value) in entry["env"].as_object().into_iter().flatten() {
        child.env(name, value.as_str().unwrap());
    }
    let mut child = child
        .args(&args)
        .env("HOME", home)
        .env("CODA_MCP_KEYCHAIN", "off")
        .env("CODA_MCP_DATA_DIR", home.join("data"))
        .env_remove("CODA_MCP_URL")
        .env("RUST_LOG", "off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {command} {args:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    for line in [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"connect-test","version":"1"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
    ] {
        writeln!(stdin, "{line}").unwrap();
    }
    stdin.flush().unwrap();
    let mut tools = 0;
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
        let answer: Value = serde_json::from_str(&line).unwrap();
        if answer["id"] == 2 {
            tools = answer["result"]["tools"].as_array().map_or(0, Vec::len);
            break;
        }
    }
    drop(stdin);
    let _ = child.wait();
    tools
}

#[test]
fn each_client_is_connected_in_its_own_format_and_the_entry_serves_mcp() {
    for case in cases() {
        let home = home();
        let path = home.join(case.file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, case.fixture).unwrap();
        let client = case.client;

        // --print shows the entry and writes nothing.
        let (ok, printed, _) = coda_mcp(&home, &["connect", client, "--print", "--demo"]);
        assert!(ok && printed.contains("coda"), "{client}: {printed}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), case.fixture);

        let (ok, said, err) = coda_mcp(&home, &["connect", client, "--demo"]);
        assert!(ok, "{client}: {err}");
        assert!(
            said.contains("now has the \"coda\" server in"),
            "{client}: {said}"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        for kept in case.kept {
            assert!(text.contains(kept), "{client} lost {kept:?}:\n{text}");
        }
        let written = (case.read)(&text);
        let entry = (case.entry)(&written)
            .unwrap_or_else(|| panic!("{client}: no entry in\n{text}"))
            .clone();
        assert_eq!(entry["command"], env!("CARGO_BIN_EXE_coda-mcp"), "{client}");
        assert_eq!(
            entry["args"],
            serde_json::json!(["stdio", "--demo"]),
            "{client}"
        );
        let backups: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".bak-"))
            .collect();
        assert_eq!(backups.len(), 1, "{client}: one backup");
        assert_eq!(
            std::fs::read_to_string(backups[0].path()).unwrap(),
            case.fixture
        );

        // The entry, started as the client starts it, serves the tools.
        let tools = serve_entry(&entry, &home);
        let core = coda_mcp::tools::Catalogue::select(
            false,
            &coda_mcp::tools::Toolsets::default_for_clients(),
        )
        .iter()
        .count();
        assert_eq!(tools, core, "{client}: the entry lists the default toolset");

        // --list says it is connected.
        let (_, listed, _) = coda_mcp(&home, &["connect", "--list"]);
        let line = listed
            .lines()
            .find(|l| l.split_whitespace().next() == Some(client))
            .unwrap_or_else(|| panic!("{listed}"));
        assert!(line.contains("yes        yes"), "{client}: {line}");

        // --remove takes out our entry only.
        let (ok, said, err) = coda_mcp(&home, &["connect", client, "--remove"]);
        assert!(
            ok && said.contains("Removed the \"coda\" server"),
            "{client}: {said}{err}"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            (case.entry)(&(case.read)(&text)).is_none(),
            "{client}: {text}"
        );
        for kept in case.kept {
            assert!(
                text.contains(kept),
                "{client} lost {kept:?} on removal:\n{text}"
            );
        }

        // An invalid file is refused and left exactly as it was.
        let broken = "{ \"mcpServers\": [ oops\n";
        std::fs::write(&path, broken).unwrap();
        let (ok, _, err) = coda_mcp(&home, &["connect", client, "--demo"]);
        assert!(
            !ok && err.contains("is not valid") && err.contains("left untouched"),
            "{client}: {err}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), broken, "{client}");
        let _ = std::fs::remove_dir_all(&home);
    }
}

#[test]
fn repeated_changes_keep_only_the_newest_backups() {
    let home = home();
    let path = home.join(".cursor/mcp.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "{}").unwrap();
    for i in 0..8 {
        let args: &[&str] = if i % 2 == 0 {
            &["connect", "cursor", "--demo"]
        } else {
            &["connect", "cursor", "--remove"]
        };
        assert!(coda_mcp(&home, args).0);
    }
    let backups = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".bak-"))
        .count();
    assert_eq!(backups, coda_mcp::clients::KEEP_BACKUPS);
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn connect_says_what_it_needs() {
    let home = home();
    let (ok, _, err) = coda_mcp(&home, &["connect"]);
    assert!(!ok && err.contains("<CLIENT|--list>"), "{err}");
    let (ok, _, err) = coda_mcp(&home, &["connect", "notepad"]);
    assert!(
        !ok && err.contains("claude-code") && err.contains("gemini"),
        "{err}"
    );
    let (ok, listed, _) = coda_mcp(&home, &["connect", "--list"]);
    assert!(ok, "{listed}");
    assert_eq!(
        listed.lines().filter(|l| l.contains(" no ")).count(),
        7,
        "nothing is installed in an empty home: {listed}"
    );
    let _ = std::fs::remove_dir_all(&home);
}

/// Claude Desktop's official Linux build (Anthropic's `claude-desktop` .deb, mid-2026) puts
/// `/usr/bin/claude-desktop` on the PATH and keeps its config where Electron keeps the app's
/// user data: `${XDG_CONFIG_HOME:-~/.config}/Claude/claude_desktop_config.json` (the package
/// has no config of its own; the app creates the folder on its first start). A machine with
/// that program and no folder yet is "installed", and `connect claude` writes there.
#[cfg(target_os = "linux")]
#[test]
fn claude_desktops_official_linux_build_is_found_and_connected_where_it_reads() {
    use std::os::unix::fs::PermissionsExt;
    let home = home();
    let bin = home.join("usr-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let program = bin.join("claude-desktop");
    std::fs::write(&program, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let xdg = home.join("xdg-config");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_coda-mcp"))
            .args(args)
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", &xdg)
            .env_remove("CLAUDE_CONFIG_DIR")
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, listed, err) = run(&["connect", "--list"]);
    assert!(ok, "{err}");
    let line = listed
        .lines()
        .find(|l| l.starts_with("claude "))
        .expect(&listed);
    assert_eq!(
        line.split_whitespace().nth(3),
        Some("yes"),
        "installed with the program alone: {line}"
    );
    let (ok, out, err) = run(&["connect", "claude", "--demo"]);
    assert!(ok, "{out}{err}");
    let written = xdg.join("Claude").join("claude_desktop_config.json");
    let config: Value = serde_json::from_str(&std::fs::read_to_string(&written).unwrap()).unwrap();
    assert_eq!(config["mcpServers"]["coda"]["args"][0], "stdio");
    let _ = std::fs::remove_dir_all(&home);
}

/// The README's install links are the ones the program makes (for `coda-mcp` on `PATH`).
#[test]
fn the_readme_install_links_are_the_programs() {
    use coda_mcp::clients::ClientId;
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for client in [ClientId::Cursor, ClientId::Vscode] {
        let entry = client.stdio_entry(Path::new("coda-mcp"), false);
        let link = client.install_link(&entry).unwrap();
        assert!(
            readme.contains(&format!("`{link}`")),
            "README lacks {client:?}'s link {link}"
        );
    }
}

/// A machine without a keychain (a server, a container): a plain `connect` refuses and says
/// the two ways that work; `--key-in-config` writes the server's key into the entry, and the
/// client's bridge then reaches the keychain-less server with it.
#[test]
fn without_a_keychain_connect_refuses_or_writes_the_key_when_asked() {
    let home = home();
    let key = "cmk_connect-test-key-000000000000000000000000000";
    let run = |args: &[&str], with_key: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_coda-mcp"));
        c.args(args)
            .env("HOME", &home)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("CLAUDE_CONFIG_DIR")
            .env("PATH", "/usr/bin:/bin")
            .env("CODA_MCP_KEYCHAIN", "off")
            .env("CODA_MCP_DATA_DIR", home.join("data"));
        if with_key {
            c.env("CODA_MCP_KEY", key);
        } else {
            c.env_remove("CODA_MCP_KEY");
        }
        let out = c.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let config = home.join(".claude.json");
    let (ok, said) = run(&["connect", "claude-code"], true);
    assert!(!ok, "{said}");
    assert!(
        said.contains("no keychain here")
            && said.contains("coda-mcp connect claude-code --demo")
            && said.contains("--key-in-config"),
        "{said}"
    );
    assert!(!config.exists(), "nothing was written");
    let (ok, said) = run(&["connect", "claude-code", "--key-in-config"], false);
    assert!(!ok && said.contains("CODA_MCP_KEY"), "{said}");
    let (ok, said) = run(&["connect", "claude-code", "--key-in-config"], true);
    assert!(ok, "{said}");
    assert!(said.contains("written in clear"), "{said}");
    let entry: Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let entry = &entry["mcpServers"]["coda"];
    assert_eq!(entry["env"]["CODA_MCP_KEY"], key);
    // A keychain-less server with that key: the client's entry reaches it.
    /// Stops the server on every way out of the test.
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut server = Command::new(env!("CARGO_BIN_EXE_coda-mcp"))
        .args(["serve", "--demo", "--port", "0"])
        .env("HOME", &home)
        .env("CODA_MCP_KEYCHAIN", "off")
        .env("CODA_MCP_KEY", key)
        .env("CODA_MCP_DATA_DIR", home.join("data"))
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = server.stdout.take().unwrap();
    let server = Stop(server);
    let mut ready = String::new();
    BufReader::new(stdout).read_line(&mut ready).unwrap();
    assert!(ready.contains("coda-mcp ready"), "{ready}");
    let tools = serve_entry(entry, &home);
    drop(server);
    assert!(tools > 5, "the bridge served {tools} tools");
    let _ = std::fs::remove_dir_all(&home);
}
