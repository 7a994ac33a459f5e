//! README.md, walked as a newcomer would: every `coda-mcp` command in its shell blocks and in
//! its inline code is run, as written, against the demo workspace, offline — so the README and
//! the program cannot drift apart again. `[optional parts]` are run both without and with;
//! placeholders (`N`, `URL`, `DIR`, `<a|b>`) get real values. Servers must print their ready
//! line and answer `/health`; `stdio` must serve `tools/list`; every other command must
//! succeed, or fail only in the way [`REFUSED`] says (the walk has no keychain), never with a
//! usage error.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Commands that cannot succeed in the walk's environment (no OS keychain, an environment
/// key), each with what it must say instead: the README names a real command that refuses
/// for the documented reason, not one that does not exist.
const REFUSED: &[(&str, &str)] = &[
    ("coda-mcp key rotate", "change that variable instead"),
    ("coda-mcp token clear", "keychain is not available"),
    // The walk has no keychain: a plain `connect` says so and what works instead.
    ("coda-mcp connect claude", "no keychain here"),
    ("coda-mcp connect cursor", "no keychain here"),
    ("coda-mcp ngrok clear", "keychain is not available"),
    ("coda-mcp ngrok set", "keychain is not available"),
    ("coda-mcp openai-tunnel set", "keychain is not available"),
    ("coda-mcp openai-tunnel clear", "keychain is not available"),
    ("coda-mcp token set", "keychain is not available"),
];

/// The README's connection key for the walk's servers and clients.
const KEY: &str = "cmk_readme-walk-key-00000000000000000000000000";

/// One command as the README gives it, and where.
#[derive(Debug, Clone)]
struct Found {
    line: usize,
    text: String,
}

/// The `coda-mcp` commands of README.md: lines of `sh` blocks (comments cut; `cargo run
/// --release --` is the same program) and inline code that starts with `coda-mcp`.
fn readme_commands(readme: &str) -> Vec<Found> {
    // (line, code): the lines of `sh` blocks, and the inline code of each paragraph (which
    // may run over a line break).
    let mut candidates: Vec<(usize, String)> = Vec::new();
    let mut fence: Option<String> = None;
    let mut paragraph: Option<(usize, String)> = None;
    let inline = |paragraph: &mut Option<(usize, String)>, out: &mut Vec<(usize, String)>| {
        if let Some((line, text)) = paragraph.take() {
            let mut rest = text.as_str();
            while let Some(start) = rest.find('`') {
                let after = &rest[start + 1..];
                let Some(end) = after.find('`') else { break };
                out.push((line, after[..end].to_owned()));
                rest = &after[end + 1..];
            }
        }
    };
    for (i, line) in readme.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(lang) = trimmed.strip_prefix("```") {
            inline(&mut paragraph, &mut candidates);
            fence = match fence {
                Some(_) => None,
                None => Some(lang.trim().to_owned()),
            };
            continue;
        }
        match fence.as_deref() {
            Some("sh") => {
                let code = match trimmed.find(" #") {
                    Some(at) => &trimmed[..at],
                    None => trimmed,
                };
                candidates.push((i + 1, code.trim().to_owned()));
            }
            Some(_) => {}
            None if trimmed.is_empty() => inline(&mut paragraph, &mut candidates),
            None => match &mut paragraph {
                Some((_, text)) => {
                    text.push(' ');
                    text.push_str(trimmed);
                }
                None => paragraph = Some((i + 1, trimmed.to_owned())),
            },
        }
    }
    inline(&mut paragraph, &mut candidates);
    let mut found: Vec<Found> = Vec::new();
    for (line, candidate) in candidates {
        {
            let normalized = candidate.replacen("cargo run --release --", "coda-mcp", 1);
            // Leading VAR=value assignments: the walk sets the environment itself.
            let words: Vec<&str> = normalized.split_whitespace().collect();
            let start = words
                .iter()
                .position(|w| {
                    !(w.contains('=') && w.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
                })
                .unwrap_or(words.len());
            let command = words[start..].join(" ");
            // `coda-mcp ARGS` stands for any command, not one.
            if command == "coda-mcp ARGS" {
                continue;
            }
            if command.starts_with("coda-mcp ") && !found.iter().any(|f| f.text == command) {
                found.push(Found {
                    line,
                    text: command,
                });
            }
        }
    }
    found
}

/// The command without its `[optional parts]`, and with all of them.
fn variants(text: &str) -> Vec<String> {
    if !text.contains('[') {
        return vec![text.to_owned()];
    }
    let mut without = String::new();
    let mut depth = 0;
    for c in text.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ if depth == 0 => without.push(c),
            _ => {}
        }
    }
    let with = text.replace(['[', ']'], "");
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    vec![squash(&without), squash(&with)]
}

/// Real values for the README's placeholders.
struct Values {
    mcp_url: String,
    dir: PathBuf,
}

fn arguments(text: &str, values: &Values) -> Vec<String> {
    let words: Vec<&str> = text.split_whitespace().skip(1).collect();
    let mut args = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let previous = i.checked_sub(1).map(|p| words[p]);
        let value = match *word {
            "N" if previous == Some("--port") => "0".to_owned(),
            "URL" if previous == Some("--public-url") => "https://your-name.example.app".into(),
            "URL" => values.mcp_url.clone(),
            // A path of the machine's (`/var/lib/coda-mcp`): the same, inside the walk's own.
            w if w.starts_with('/') => values
                .dir
                .join(w.trim_start_matches('/'))
                .display()
                .to_string(),
            // A path in the person's home (`~/coda-plugin`): the shell expands it; here, the
            // walk's own folder (never a folder named `~` in the checkout).
            w if w.starts_with("~/") => values.dir.join(&w[2..]).display().to_string(),
            "DIR" => values.dir.join("dir").display().to_string(),
            "PATH" => values.dir.join("file.json").display().to_string(),
            // `<a|b>` and `a|b`: one of them, the last.
            w if w.contains('|') => w
                .trim_matches(['<', '>'])
                .rsplit('|')
                .next()
                .unwrap_or_default()
                .to_owned(),
            w => w.to_owned(),
        };
        args.push(value);
    }
    args
}

/// `coda-mcp` in the walk's environment: no keychain, a home of its own (Claude's config,
/// data), the demo as "Coda", nothing reaching the network.
fn program(home: &Path, coda: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_coda-mcp"));
    c.env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("NGROK_AUTHTOKEN")
        .env_remove("OPENAI_TUNNEL_API_KEY")
        .env_remove("CONTROL_PLANE_API_KEY")
        // Never OpenAI's control plane: a closed loopback port, should a key be found.
        .env("CODA_MCP_OPENAI_TUNNEL_BASE", "http://127.0.0.1:9")
        .env_remove("CODA_MCP_URL")
        .env("CODA_MCP_KEYCHAIN", "off")
        .env("CODA_MCP_KEY", KEY)
        .env("CODA_API_TOKEN", coda_mcp::demo::DEMO_TOKEN)
        .env("CODA_API_BASE_URL", coda)
        .env("CODA_MCP_DATA_DIR", home.join("data"))
        .env("RUST_LOG", "warn");
    c
}

/// Lines of a child's stdout, read in the background so a wait can time out.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits up to 20 s for a child to end by itself (then stops it: a failure).
fn finish(child: &mut Child) -> Option<std::process::ExitStatus> {
    for _ in 0..400 {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop(child);
    None
}

fn stop(child: &mut Child) -> Option<std::process::ExitStatus> {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    for _ in 0..400 {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Starts a server command (with port 0), checks its ready line and `/health`, stops it.
fn walk_server(mut cmd: Command, args: &[String]) -> Result<String, String> {
    let mut args = args.to_vec();
    match args.iter().position(|a| a == "--port") {
        Some(at) if at + 1 < args.len() => args[at + 1] = "0".into(),
        _ => args.extend(["--port".into(), "0".into()]),
    }
    let mut child = cmd
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let ready = lines_of(&mut child).recv_timeout(Duration::from_secs(60));
    let result = match ready {
        Ok(line) => match line
            .split_whitespace()
            .find(|w| w.starts_with("http://127.0.0.1:"))
        {
            Some(url) => {
                let mut health = url::Url::parse(url).map_err(|e| e.to_string())?;
                health.set_path("/health");
                let body = tokio::runtime::Runtime::new()
                    .map_err(|e| e.to_string())?
                    .block_on(async {
                        let client = reqwest::Client::builder()
                            .timeout(Duration::from_secs(10))
                            .build()
                            .map_err(|e| e.to_string())?;
                        let answer = client.get(health).send().await.map_err(|e| e.to_string())?;
                        answer.text().await.map_err(|e| e.to_string())
                    })?;
                // The demo API has no /health: its ready line is the answer.
                if body.contains("\"status\":\"ok\"") || args[0] == "demo" {
                    Ok(line)
                } else {
                    Err(format!("ready line {line:?} but /health answered {body:?}"))
                }
            }
            None => Err(format!("no URL in the ready line {line:?}")),
        },
        Err(_) => Err("no ready line within 60 s".into()),
    };
    let status = stop(&mut child);
    match (result, status) {
        (Ok(line), Some(s)) if s.success() => Ok(line),
        (Ok(_), status) => Err(format!("did not exit cleanly on SIGTERM: {status:?}")),
        (Err(e), _) => Err(e),
    }
}

/// Runs a `stdio` command as a client would: initialize, then tools/list.
fn walk_stdio(mut cmd: Command, args: &[String]) -> Result<String, String> {
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let lines = lines_of(&mut child);
    let mut stdin = child.stdin.take().expect("stdin");
    let messages = [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"readme-walk","version":"1"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
    ];
    let mut tools = None;
    for (i, message) in messages.iter().enumerate() {
        writeln!(stdin, "{message}").map_err(|e| e.to_string())?;
        stdin.flush().map_err(|e| e.to_string())?;
        if i == 1 {
            continue;
        }
        let answer: serde_json::Value = lines
            .recv_timeout(Duration::from_secs(60))
            .map_err(|_| format!("no answer to {message}"))
            .and_then(|l| serde_json::from_str(&l).map_err(|e| format!("{e}: {l}")))?;
        if i == 2 {
            tools = answer["result"]["tools"].as_array().map(Vec::len);
        }
    }
    // The client is done: stdin closes and the command ends by itself.
    drop(stdin);
    let status = finish(&mut child);
    let mut stderr = String::new();
    let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr);
    match (tools, status) {
        (Some(n), Some(s)) if n > 0 && s.success() => Ok(format!("{n} tools; {}", stderr.trim())),
        _ => Err(format!(
            "tools: {tools:?}, exit: {status:?}, stderr: {stderr}"
        )),
    }
}

/// Runs a one-shot command: it must succeed, or refuse as [`REFUSED`] says.
fn walk_once(mut cmd: Command, text: &str, args: &[String]) -> Result<String, String> {
    // The secrets `set` prompts for (stdin when it is not a terminal).
    let stdin_text = if text.starts_with("coda-mcp token set") {
        format!("{}\n", coda_mcp::demo::DEMO_TOKEN)
    } else if text.starts_with("coda-mcp ngrok set") {
        "2walkNgrokAuthtoken_notreal\n".to_owned()
    } else if text.starts_with("coda-mcp openai-tunnel set") {
        "sk-walk-openai-tunnel-key-notreal\n".to_owned()
    } else {
        String::new()
    };
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin_text.as_bytes())
        .map_err(|e| e.to_string())?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = rx
        .recv_timeout(Duration::from_secs(60))
        .map_err(|_| "still running after 60 s".to_owned())?
        .map_err(|e| e.to_string())?;
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(2) {
        return Err(format!("usage error: {said}"));
    }
    let refusal = REFUSED.iter().find(|(command, _)| text == *command);
    match (out.status.success(), refusal) {
        (true, None) => Ok(said.lines().next().unwrap_or_default().to_owned()),
        (false, Some((_, says))) if said.contains(says) => {
            Ok(format!("refused as expected: {says}"))
        }
        (ok, _) => Err(format!("exit success {ok}: {said}")),
    }
}

#[test]
fn every_readme_command_runs_against_the_demo() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let commands = readme_commands(&readme);
    assert!(
        commands.len() >= 20,
        "the README's commands were not found: {commands:?}"
    );
    for (refused, _) in REFUSED {
        assert!(
            commands.iter().any(|c| c.text == *refused),
            "{refused} is no longer in the README: drop it from REFUSED"
        );
    }

    let rt = tokio::runtime::Runtime::new().unwrap();
    let coda = rt
        .block_on(coda_mcp::demo::start(
            coda_mcp::demo::DemoConfig::default(),
            0,
        ))
        .unwrap();
    let home = std::env::temp_dir().join(format!("coda-mcp-readme-walk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
    // A server of the walk's own, for `stdio` to bridge to and for `--url URL`.
    let mut server = program(&home, &coda.base_url)
        .args(["serve", "--demo", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ready = lines_of(&mut server)
        .recv_timeout(Duration::from_secs(60))
        .expect("the walk's server is ready");
    let values = Values {
        mcp_url: ready
            .split_whitespace()
            .find(|w| w.starts_with("http://") && w.ends_with("/mcp"))
            .expect("MCP URL")
            .to_owned(),
        dir: home.clone(),
    };

    let mut failures = Vec::new();
    let mut walked = 0;
    for found in &commands {
        for text in variants(&found.text) {
            let args = arguments(&text, &values);
            let cmd = program(&home, &coda.base_url);
            let result = match args.first().map(String::as_str) {
                Some("serve") | Some("demo") => walk_server(cmd, &args),
                Some("stdio") => walk_stdio(cmd, &args),
                _ => walk_once(cmd, &text, &args),
            };
            walked += 1;
            match result {
                Ok(what) => eprintln!("README:{} `{text}` → {}", found.line, what.trim()),
                Err(why) => failures.push(format!("README:{} `{text}`: {why}", found.line)),
            }
        }
    }
    stop(&mut server);
    coda.shutdown();
    let _ = std::fs::remove_dir_all(&home);
    assert!(
        failures.is_empty(),
        "{} of {walked} README commands do not work as written:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_walk_reads_blocks_inline_code_options_and_placeholders() {
    let readme = "Run `coda-mcp tools [--json]` or `coda-mcp openapi [--flavor\nactions|mcp]`\n```sh\ncargo run --release -- serve   # comment\nexport X=1\n```\n`X=1 coda-mcp stdio --url URL` and `coda-mcp oauth revoke <id|all>`\n```json\n{\"command\": \"coda-mcp serve\"}\n```\n";
    let found: Vec<String> = readme_commands(readme)
        .into_iter()
        .map(|f| f.text)
        .collect();
    assert_eq!(
        found,
        [
            "coda-mcp tools [--json]",
            "coda-mcp openapi [--flavor actions|mcp]",
            "coda-mcp serve",
            "coda-mcp stdio --url URL",
            "coda-mcp oauth revoke <id|all>"
        ]
    );
    assert_eq!(
        variants("coda-mcp tools [--json] [--read-only]"),
        ["coda-mcp tools", "coda-mcp tools --json --read-only"]
    );
    let values = Values {
        mcp_url: "http://127.0.0.1:1/mcp".into(),
        dir: PathBuf::from("/tmp"),
    };
    assert_eq!(
        arguments("coda-mcp demo --port N", &values),
        ["demo", "--port", "0"]
    );
    assert_eq!(
        arguments("coda-mcp oauth revoke <client_id|grant|all>", &values),
        ["oauth", "revoke", "all"]
    );
    assert_eq!(
        arguments(
            "coda-mcp serve --data-dir /var/lib/x --public-url URL",
            &values
        ),
        [
            "serve",
            "--data-dir",
            "/tmp/var/lib/x",
            "--public-url",
            "https://your-name.example.app"
        ]
    );
    assert_eq!(
        arguments("coda-mcp openapi --flavor actions|mcp", &values),
        ["openapi", "--flavor", "mcp"]
    );
    assert_eq!(
        arguments("coda-mcp stdio --url URL", &values),
        ["stdio", "--url", "http://127.0.0.1:1/mcp"]
    );
}
