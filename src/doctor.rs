//! `coda-mcp doctor`: checks a whole setup — the keychain, the Coda token (with Coda's
//! `/whoami`), the port, the servers announced in the data directory, each client's entry, the
//! tunnel's credentials, the OAuth grants, the data directory's file modes — and says for each
//! finding what to do. Nothing here changes anything.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::clients::{self, ClientId, Places};
use crate::coda::{CodaClient, CodaError, CodaRequest, RateLimits, RetryPolicy};
use crate::secrets::{SecretName, SecretStore, StoreError};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// All is well.
    Ok,
    /// Works, but worth knowing (e.g. no keychain on a server that uses the environment).
    Note,
    /// Broken: something will not work until it is fixed.
    Problem,
}

/// One finding: what was checked, how it came out, and what to do.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// What was checked, in a few words ("keychain", "Coda token", "Claude Code's entry").
    pub check: String,
    /// How it came out.
    pub verdict: Verdict,
    /// What was found.
    pub detail: String,
    /// What to do about it (for a problem or a note).
    pub fix: Option<String>,
}

impl Finding {
    fn new(
        verdict: Verdict,
        check: impl Into<String>,
        detail: impl Into<String>,
        fix: Option<String>,
    ) -> Finding {
        Finding {
            check: check.into(),
            verdict,
            detail: detail.into(),
            fix,
        }
    }
    fn ok(check: impl Into<String>, detail: impl Into<String>) -> Finding {
        Finding::new(Verdict::Ok, check, detail, None)
    }
    fn note(
        check: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding::new(Verdict::Note, check, detail, Some(fix.into()))
    }
    fn problem(
        check: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding::new(Verdict::Problem, check, detail, Some(fix.into()))
    }
}

/// What the doctor looks at.
pub struct DoctorOptions {
    /// The secret store (the OS keychain, or none).
    pub store: Arc<dyn SecretStore>,
    /// The data directory (servers' announcements, history, OAuth grants).
    pub data_dir: Option<PathBuf>,
    /// Coda's API root (`/whoami` is asked there).
    pub coda_base_url: String,
    /// The port `serve` would listen on (`None`: not checked — a running server asks).
    pub port: Option<u16>,
    /// Where clients keep their configs.
    pub places: Places,
}

/// Runs every check, in the order a person would fix things.
pub async fn examine(options: &DoctorOptions) -> Vec<Finding> {
    let mut findings = Vec::new();
    let keychain = keychain(options.store.clone()).await;
    let has_keychain = keychain.verdict == Verdict::Ok;
    findings.push(keychain);
    findings.push(coda_token(options).await);
    let servers = servers(options).await;
    if let Some(p) = options.port {
        findings.push(port(p, &servers).await);
    }
    findings.extend(servers.into_iter().map(|(_, f)| f));
    findings.extend(client_entries(&options.places, has_keychain));
    findings.push(tunnel(options.store.clone()).await);
    if let Some(dir) = &options.data_dir {
        findings.extend(grants(dir));
        findings.push(modes(dir));
    }
    findings
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}

async fn keychain(store: Arc<dyn SecretStore>) -> Finding {
    match blocking(move || store.get(SecretName::ConnectionKey)).await {
        Some(Ok(_)) => Finding::ok("keychain", "the OS keychain answers"),
        Some(Err(StoreError::Unavailable(why))) => Finding::note(
            "keychain",
            format!("no OS keychain ({why}): nothing can be kept between runs"),
            "on a server, give the secrets in the environment: CODA_API_TOKEN, and CODA_MCP_KEY=cmk_$(openssl rand -hex 32) so clients can keep one key (README, \"Headless server\"); on a desktop, unlock the keychain (Linux: gnome-keyring or KeePassXC's Secret Service)",
        ),
        Some(Err(e)) => Finding::problem(
            "keychain",
            format!("the OS keychain refused: {e}"),
            "unlock the keychain, then run this again",
        ),
        None => Finding::problem("keychain", "the check did not finish", "run this again"),
    }
}

async fn coda_token(options: &DoctorOptions) -> Finding {
    let store = options.store.clone();
    let Some(Some((token, source))) =
        blocking(move || SecretName::CodaToken.lookup(store.as_ref())).await
    else {
        return Finding::note(
            "Coda token",
            "no Coda API token is configured",
            "to use your own workspace: `coda-mcp token set` (or CODA_API_TOKEN); until then `coda-mcp serve --demo` serves the built-in demo workspace",
        );
    };
    let from = source.label();
    let client = match CodaClient::new(
        &options.coda_base_url,
        Some(token),
        RateLimits::CODA,
        RetryPolicy {
            max_read_retries: 0,
            ..RetryPolicy::default()
        },
    ) {
        Ok(c) => c,
        Err(e) => {
            return Finding::problem(
                "Coda token",
                format!("cannot ask Coda: {e}"),
                "check --coda-base-url",
            )
        }
    };
    match client.send(&CodaRequest::get("/whoami")).await {
        Ok(me) => {
            let body = me.body;
            let who = body["name"].as_str().unwrap_or("?");
            let login = body["loginId"].as_str().unwrap_or("");
            let scope = if body["scoped"].as_bool() == Some(true) {
                " — limited to some docs or tables (scoped)"
            } else {
                ""
            };
            Finding::ok(
                "Coda token",
                format!("Coda accepts the token from the {from}: {who} <{login}>{scope}"),
            )
        }
        Err(CodaError::Api { status: 401, .. }) => Finding::problem(
            "Coda token",
            format!("Coda refused the token from the {from} (401): it was revoked, expired or mistyped"),
            "make a new one at https://coda.io/account (API settings) and save it with `coda-mcp token set`",
        ),
        Err(e) if e.status().is_none() => Finding::problem(
            "Coda token",
            format!("Coda could not be reached: {e}"),
            "check the network (and --coda-base-url), then run this again",
        ),
        Err(e) => Finding::problem(
            "Coda token",
            format!("Coda answered /whoami with an error: {e}"),
            "run this again in a minute; if it stays, check the token at https://coda.io/account",
        ),
    }
}

/// The servers announced in the data directory, each with its finding.
async fn servers(options: &DoctorOptions) -> Vec<(crate::runtime::RuntimeInfo, Finding)> {
    let Some(root) = &options.data_dir else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for info in crate::runtime::discover_all(root) {
        let check = format!("server {}", info.mcp_url);
        let what = if info.demo {
            "the demo workspace"
        } else {
            "your workspace"
        };
        let finding = if !crate::runtime::is_loopback_url(&info.mcp_url) {
            Finding::problem(
                check,
                "announced at an address off this machine",
                "remove its announcement from the data directory's servers/ folder",
            )
        } else if crate::runtime::answers(&info.mcp_url).await {
            Finding::ok(check, format!("answers (process {}, {what})", info.pid))
        } else {
            Finding::problem(
                check,
                format!("announced by process {}, which does not answer", info.pid),
                "it stopped without saying so: start it again, or delete its announcement in the data directory's servers/ folder",
            )
        };
        out.push((info, finding));
    }
    out
}

async fn port(port: u16, servers: &[(crate::runtime::RuntimeInfo, Finding)]) -> Finding {
    let check = format!("port {port}");
    match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(_) => Finding::ok(check, "free for `coda-mcp serve`"),
        Err(_) => {
            let ours = servers.iter().find(|(info, f)| {
                f.verdict == Verdict::Ok
                    && url::Url::parse(&info.mcp_url).is_ok_and(|u| u.port() == Some(port))
            });
            match ours {
                Some((info, _)) => Finding::ok(
                    check,
                    format!("in use by this app's server (process {})", info.pid),
                ),
                None => Finding::problem(
                    check,
                    "in use by another program",
                    format!("stop that program, or start the server on another port: `coda-mcp serve --port N` (--port 0 picks a free one); `ss -ltnp 'sport = :{port}'` shows who holds it"),
                ),
            }
        }
    }
}

/// Each client whose config has our entry: does its program exist, and can it get the key?
fn client_entries(places: &Places, has_keychain: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    for client in clients::ALL {
        let Some(path) = client.config_path(places) else {
            continue;
        };
        let check = format!("{}'s entry", client.name());
        let entry = match client.entry_in(&path) {
            Ok(Some(entry)) => entry,
            Ok(None) => continue,
            Err(e) => {
                out.push(Finding::problem(
                    check,
                    format!("{} cannot be read: {e}", path.display()),
                    format!(
                        "fix the file by hand, or move it away and run `coda-mcp connect {}`",
                        client.arg()
                    ),
                ));
                continue;
            }
        };
        out.push(judge_entry(client, &path, &entry, has_keychain));
    }
    out
}

fn judge_entry(
    client: ClientId,
    path: &Path,
    entry: &serde_json::Value,
    has_keychain: bool,
) -> Finding {
    let check = format!("{}'s entry", client.name());
    let reconnect = format!("run `coda-mcp connect {}` again", client.arg());
    let Some(command) = entry["command"].as_str() else {
        // A URL entry (a remote server): nothing local to check.
        return Finding::ok(check, format!("in {} (a URL entry)", path.display()));
    };
    let program = Path::new(command);
    if !program.is_file() {
        return Finding::problem(
            check,
            format!(
                "in {}, it starts {command}, which does not exist (moved or uninstalled)",
                path.display()
            ),
            reconnect,
        );
    }
    let demo = entry["args"]
        .as_array()
        .is_some_and(|a| a.iter().any(|v| v == "--demo"));
    let key_in_env = entry
        .pointer("/env/CODA_MCP_KEY")
        .is_some_and(|k| k.as_str().is_some_and(|k| !k.is_empty()));
    if !has_keychain && !demo && !key_in_env {
        return Finding::problem(
            check,
            format!("in {}: without a keychain, `{command} stdio` has no connection key to reach a running server, and no Coda token to serve one itself", path.display()),
            format!("`coda-mcp connect {} --demo` for the demo workspace; for your own, run the server with CODA_MCP_KEY and give the client that key (README, \"Headless server\")", client.arg()),
        );
    }
    Finding::ok(
        check,
        format!(
            "in {}, starts {command}{}",
            path.display(),
            if demo { " (demo)" } else { "" }
        ),
    )
}

async fn tunnel(store: Arc<dyn SecretStore>) -> Finding {
    let found = blocking(move || {
        (
            SecretName::NgrokAuthtoken.lookup(store.as_ref()).is_some(),
            SecretName::OpenAiTunnelKey.lookup(store.as_ref()).is_some(),
        )
    })
    .await
    .unwrap_or_default();
    match found {
        (false, false) => Finding::note(
            "tunnel",
            "no tunnel credentials (ngrok authtoken, OpenAI tunnel key)",
            "only for ChatGPT or Claude on the web: `coda-mcp ngrok set`, or `coda-mcp openai-tunnel set` (README, \"Connect ChatGPT\")",
        ),
        (ngrok, openai) => {
            let which: Vec<&str> = [(ngrok, "ngrok authtoken"), (openai, "OpenAI tunnel key")]
                .into_iter()
                .filter(|(has, _)| *has)
                .map(|(_, n)| n)
                .collect();
            Finding::ok("tunnel", format!("configured: {}", which.join(", ")))
        }
    }
}

/// The apps connected through OAuth, to your workspace and to the demo's.
fn grants(root: &Path) -> Vec<Finding> {
    let mut out = Vec::new();
    for (dir, whose) in [
        (root.to_owned(), "your workspace"),
        (root.join("demo"), "the demo"),
    ] {
        let path = dir.join(crate::oauth::DATABASE);
        if !path.is_file() {
            continue;
        }
        match crate::oauth::OAuthStore::open(&path).and_then(|s| s.grants()) {
            Ok(grants) => {
                for g in grants {
                    out.push(Finding::ok(
                        format!("OAuth: {}", g.client_name),
                        format!(
                            "may use {whose} ({}), answers to {}; last used {}",
                            g.scope,
                            g.redirect_host,
                            g.last_used.as_deref().unwrap_or("never")
                        ),
                    ));
                }
            }
            Err(e) => out.push(Finding::problem(
                "OAuth grants",
                format!("{} cannot be read: {e}", path.display()),
                "stop the servers, move the file away (every app then connects again)",
            )),
        }
    }
    out
}

/// Files readable by others in the data directory (it holds history and token hashes).
fn modes(root: &Path) -> Finding {
    use std::os::unix::fs::PermissionsExt;
    if !root.exists() {
        return Finding::ok(
            format!("data directory {}", root.display()),
            "not made yet (the first server makes it, private)",
        );
    }
    let mut open = Vec::new();
    let mut stack = vec![root.to_owned()];
    let mut seen = 0usize;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > 10_000 {
                break;
            }
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(path.clone());
            }
            if meta.permissions().mode() & 0o077 != 0 && !meta.file_type().is_symlink() {
                open.push(path);
            }
        }
    }
    if let Ok(meta) = std::fs::metadata(root) {
        if meta.permissions().mode() & 0o077 != 0 {
            open.insert(0, root.to_owned());
        }
    }
    let check = format!("data directory {}", root.display());
    if open.is_empty() {
        return Finding::ok(check, "private (only you can read it)");
    }
    let list: Vec<String> = open
        .iter()
        .take(5)
        .map(|p| p.display().to_string())
        .collect();
    Finding::problem(
        check,
        format!(
            "{} can be read by others: {}{}",
            if open.len() == 1 {
                "one entry"
            } else {
                "entries"
            },
            list.join(", "),
            if open.len() > 5 { ", …" } else { "" }
        ),
        format!("chmod -R go-rwx {}", root.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_whose_program_is_gone_is_a_problem_with_the_command_that_fixes_it() {
        let entry = serde_json::json!({"command": "/nowhere/coda-mcp", "args": ["stdio"]});
        let f = judge_entry(
            ClientId::ClaudeCode,
            Path::new("/x/.claude.json"),
            &entry,
            true,
        );
        assert_eq!(f.verdict, Verdict::Problem);
        assert!(f.detail.contains("/nowhere/coda-mcp"), "{}", f.detail);
        assert!(f.fix.unwrap().contains("coda-mcp connect claude-code"));
    }

    #[test]
    fn without_a_keychain_only_a_demo_entry_or_one_with_a_key_works() {
        let program = std::env::current_exe().unwrap();
        let p = program.to_string_lossy();
        let plain = serde_json::json!({"command": p, "args": ["stdio"]});
        let demo = serde_json::json!({"command": p, "args": ["stdio", "--demo"]});
        let path = Path::new("/x/.claude.json");
        assert_eq!(
            judge_entry(ClientId::ClaudeCode, path, &plain, false).verdict,
            Verdict::Problem
        );
        assert_eq!(
            judge_entry(ClientId::ClaudeCode, path, &demo, false).verdict,
            Verdict::Ok
        );
        assert_eq!(
            judge_entry(ClientId::ClaudeCode, path, &plain, true).verdict,
            Verdict::Ok
        );
    }
}
