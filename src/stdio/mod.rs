//! `coda-mcp stdio`: MCP over stdin/stdout for clients that start a program (Claude
//! Desktop). When the app (or `coda-mcp serve`) is running, it bridges each message to that
//! server, so the session shows in its dashboard; otherwise it serves in this process with
//! the keychain's Coda token (or the demo workspace) and says so on stderr.
//!
//! `--demo` asks for the demo workspace: the bridge is used only when a running server serves
//! the demo too (its announcement says `demo: true`); otherwise the demo is served in this
//! process. Without `--demo`, a server of the person's workspace is preferred; a running demo
//! server is still bridged to (the person chose it in the app), and stderr says that it is
//! the demo, not their Coda account.

mod bridge;
mod gate;
pub mod running;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use crate::coda::DEFAULT_BASE_URL;
use crate::launch::Upstream;
use crate::mcp::CodaMcp;
use crate::runtime::RuntimeInfo;
use crate::secrets::{SecretName, SecretStore};
use crate::{demo, flags, runtime, Engine, EngineConfig};

/// Flags of `coda-mcp stdio` (the desktop app's binary takes the same).
#[derive(clap::Args, Clone, Debug)]
pub struct StdioArgs {
    /// The running server's MCP endpoint, e.g. http://127.0.0.1:8080/mcp (default: the newest
    /// server announced in the data directory).
    #[arg(long, env = "CODA_MCP_URL", value_name = "URL", value_parser = flags::mcp_url)]
    pub url: Option<String>,
    /// Do not look for a running server; always serve in this process.
    #[arg(long)]
    pub in_process: bool,
    /// When serving in this process: the built-in demo workspace instead of your Coda account.
    #[arg(long, env = "CODA_MCP_DEMO", value_parser = flags::switch)]
    pub demo: bool,
    /// When serving in this process: only tools that read.
    #[arg(long, env = "CODA_MCP_READ_ONLY", value_parser = flags::switch)]
    pub read_only: bool,
    /// When serving in this process: which tools to offer, by toolset (core, the default;
    /// docs, pages, formulas, sharing, automations, admin, analytics; or all).
    #[arg(long, env = "CODA_MCP_TOOLSETS", default_value = "core", value_name = "SETS", value_parser = crate::toolsets::parse_flag)]
    pub toolsets: crate::tools::Toolsets,
    /// When serving in this process: no MCP Apps views.
    #[arg(long, env = "CODA_MCP_NO_VIEWS", value_parser = flags::switch)]
    pub no_views: bool,
    /// When serving in this process: the Coda API root.
    #[arg(long, env = "CODA_API_BASE_URL", default_value = DEFAULT_BASE_URL, value_name = "URL", value_parser = flags::http_url)]
    pub coda_base_url: String,
    /// The app's data directory (where running servers are announced and the audit history is).
    #[arg(long, env = "CODA_MCP_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Where a stdio session goes.
#[derive(Debug, PartialEq)]
enum Plan {
    /// Bridge to the server at `url`; `note` is said on stderr first; `needs_key`: the server
    /// announced that it requires the connection key.
    Bridge {
        url: String,
        note: Option<String>,
        needs_key: bool,
    },
    /// Serve in this process; `why` says why on stderr (the app is not running, or it serves
    /// another workspace than the one asked for).
    InProcess { why: String },
}

const NOT_RUNNING: &str = "the app is not running";

/// Decides between the bridge and serving here, from `--demo`, `--url` and the running
/// servers that answer (newest first).
fn plan(demo: bool, url: Option<&str>, answering: &[RuntimeInfo]) -> Plan {
    if let Some(url) = url {
        return Plan::Bridge {
            url: url.to_owned(),
            note: None,
            needs_key: false,
        };
    }
    let bridge = |info: &RuntimeInfo, note: Option<String>| Plan::Bridge {
        url: info.mcp_url.clone(),
        note,
        needs_key: !info.no_auth,
    };
    let real = answering.iter().find(|i| !i.demo);
    let demo_server = answering.iter().find(|i| i.demo);
    match (demo, real, demo_server) {
        (_, None, None) => Plan::InProcess {
            why: NOT_RUNNING.into(),
        },
        (true, _, Some(info)) => bridge(info, None),
        (true, Some(info), None) => Plan::InProcess {
            why: format!(
                "the running server at {} serves your Coda workspace, not the demo",
                info.mcp_url
            ),
        },
        (false, Some(info), _) => bridge(info, None),
        (false, None, Some(info)) => bridge(
            info,
            Some(format!(
                "the running server at {} serves the built-in demo workspace, not your Coda account \
                 (switch the app to your workspace, or run `stdio --in-process` to serve it here)",
                info.mcp_url
            )),
        ),
    }
}

/// Runs until stdin closes. (anyhow: this is an edge, talking to a person on stderr.)
pub async fn run(args: StdioArgs, store: Arc<dyn SecretStore>) -> anyhow::Result<()> {
    let root = args.data_dir.clone().or_else(runtime::data_root);
    let mut why = NOT_RUNNING.to_owned();
    if !args.in_process {
        let mut answering = Vec::new();
        if args.url.is_none() {
            for info in root
                .as_deref()
                .map(runtime::discover_all)
                .unwrap_or_default()
            {
                // Never a request off this machine, not even a health check.
                if !running::is_loopback_url(&info.mcp_url) {
                    eprintln!("coda-mcp stdio: {} is not on this machine; the bridge only connects to a loopback address (127.0.0.1, ::1, localhost)", info.mcp_url);
                } else if running::answers(&info.mcp_url).await {
                    answering.push(info);
                } else {
                    eprintln!(
                        "coda-mcp stdio: no server answers at {} (announced by process {})",
                        info.mcp_url, info.pid
                    );
                }
            }
        }
        match plan(args.demo, args.url.as_deref(), &answering) {
            Plan::Bridge {
                url,
                note,
                needs_key,
            } => {
                if !running::is_loopback_url(&url) {
                    eprintln!("coda-mcp stdio: {url} is not on this machine; the bridge only connects to a loopback address (127.0.0.1, ::1, localhost)");
                    why = format!("{url} is not a loopback address");
                } else if answering.is_empty() && !running::answers(&url).await {
                    eprintln!("coda-mcp stdio: no server answers at {url}");
                } else {
                    let key = bridge_key(store.clone()).await;
                    let pinned = match &key {
                        Some(k) => running::proves_key(&url, k).await,
                        None => None,
                    };
                    match &key {
                        // The demo needs no account: without the demo server's key, this
                        // process serves a demo of its own. (A server that fails the proof
                        // may be an impostor on the port: that is refused, below, and said.)
                        None if needs_key && args.demo => {
                            why = format!("no connection key here for the demo server at {url}");
                        }
                        Some(_) if pinned.is_none() => {
                            let message = format!(
                                "the server at {url} did not prove it holds this app's connection key, so the key was not sent to it: \
                                 either the key here (CODA_MCP_KEY, else the keychain) is not the server's — set CODA_MCP_KEY to the key the server's dashboard shows under Setup \
                                 (where a keychain holds it, `coda-mcp key show` prints it; it changes with `key rotate`) — or another program took that port"
                            );
                            eprintln!("coda-mcp stdio: {message}");
                            return bridge::refuse_all(&message).await;
                        }
                        // No key here for a server that needs one: every message would get
                        // 401, so say once what to do instead.
                        None if needs_key => {
                            let message = format!(
                                "no connection key here for the server at {url}: this process has no keychain to read it from (or it is off) and CODA_MCP_KEY is not set, \
                                 so the server would refuse every message; set CODA_MCP_KEY to the server's key (a server without a keychain prints it under its ready line, \
                                 \"connection key for this run\"; elsewhere `coda-mcp key show` prints it)"
                            );
                            eprintln!("coda-mcp stdio: {message}");
                            return bridge::refuse_all(&message).await;
                        }
                        _ => {
                            if let Some(note) = note {
                                eprintln!("coda-mcp stdio: {note}");
                            }
                            eprintln!("coda-mcp stdio: bridging to the running server at {url}");
                            // With a key, to the very address that proved it holds it.
                            return bridge::bridge(pinned.as_deref().unwrap_or(&url), key).await;
                        }
                    }
                }
            }
            Plan::InProcess { why: reason } => why = reason,
        }
    }
    in_process(args, root, store, &why).await
}

/// The connection key to present: `CODA_MCP_KEY`, else the keychain's (never a new one).
async fn bridge_key(store: Arc<dyn SecretStore>) -> Option<String> {
    if let Some(key) = std::env::var("CODA_MCP_KEY")
        .ok()
        .filter(|k| !k.trim().is_empty())
    {
        return Some(key.trim().to_owned());
    }
    tokio::task::spawn_blocking(move || store.get(SecretName::ConnectionKey))
        .await
        .ok()
        .and_then(Result::ok)
        .flatten()
        .map(|k| k.expose().to_owned())
}

/// Serves one client on stdin/stdout with an engine of its own, behind the [`gate`].
async fn in_process(
    args: StdioArgs,
    root: Option<PathBuf>,
    store: Arc<dyn SecretStore>,
    why: &str,
) -> anyhow::Result<()> {
    use rmcp::ServiceExt;
    let mut config = EngineConfig {
        read_only: args.read_only,
        toolsets: args.toolsets.clone(),
        views: !args.no_views,
        data_dir: root.map(|d| if args.demo { d.join("demo") } else { d }),
        ..EngineConfig::default()
    };
    let demo = args.demo.then(demo::DemoConfig::default);
    let upstream = Upstream::resolve(demo, &args.coda_base_url, store)
        .await
        .context("resolving where Coda calls go")?;
    upstream.configure(&mut config);
    match (&upstream.demo, upstream.token_source) {
        (Some(_), _) => {
            eprintln!("coda-mcp stdio: {why}; serving the built-in demo workspace in this process")
        }
        (None, Some(source)) => eprintln!(
            "coda-mcp stdio: {why}; serving in this process with the Coda token from the {}",
            source.label()
        ),
        (None, None) => eprintln!("coda-mcp stdio: {why} and no Coda token is set (run `coda-mcp token set`, or use --demo); tools will say so"),
    }
    let demo_handle = upstream.demo;
    let engine = Engine::new(config).context("configuring the engine")?;
    let (to_rmcp, rmcp_in) = tokio::io::duplex(64 * 1024);
    let (rmcp_out, from_rmcp) = tokio::io::duplex(64 * 1024);
    let gate = tokio::spawn(gate::run(
        tokio::io::stdin(),
        tokio::io::stdout(),
        to_rmcp,
        from_rmcp,
    ));
    let served = CodaMcp::stdio(engine).serve((rmcp_in, rmcp_out)).await;
    let outcome = match served {
        Ok(service) => {
            let _ = service.waiting().await;
            Ok(())
        }
        // The client's input ended before a session started.
        Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => Ok(()),
        Err(e) => Err(e).context("starting MCP on stdio"),
    };
    let started = gate.await.unwrap_or(false);
    if outcome.is_ok() && !started {
        eprintln!("coda-mcp stdio: stdin closed before the client sent `initialize`; nothing was served (an MCP client starts this command and speaks to it)");
    }
    if let Some(d) = demo_handle {
        d.shutdown();
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::{plan, Plan};
    use crate::runtime::RuntimeInfo;

    fn server(port: u16, demo: bool) -> RuntimeInfo {
        RuntimeInfo {
            mcp_url: format!("http://127.0.0.1:{port}/mcp"),
            pid: u32::from(port),
            demo,
            no_auth: false,
            started_ms: 0,
        }
    }

    fn bridge(port: u16, note: Option<&str>) -> Plan {
        Plan::Bridge {
            url: format!("http://127.0.0.1:{port}/mcp"),
            note: note.map(str::to_owned),
            needs_key: true,
        }
    }

    #[test]
    fn demo_is_bridged_only_to_a_demo_server_and_the_real_one_says_when_it_is_the_demo() {
        // --demo: a demo server is bridged to; a real one is not (the demo runs here).
        assert_eq!(plan(true, None, &[server(1, true)]), bridge(1, None));
        let Plan::InProcess { why } = plan(true, None, &[server(2, false)]) else {
            panic!("--demo must not bridge to the person's real workspace")
        };
        assert!(
            why.contains("serves your Coda workspace, not the demo"),
            "{why}"
        );
        // No --demo: the real server is bridged to; a demo server too, but never silently.
        assert_eq!(plan(false, None, &[server(2, false)]), bridge(2, None));
        let Plan::Bridge {
            note: Some(note), ..
        } = plan(false, None, &[server(1, true)])
        else {
            panic!("bridging to a demo server must say so")
        };
        assert!(
            note.contains("demo workspace, not your Coda account"),
            "{note}"
        );
        // Nothing announced: in process; an explicit --url is taken as asked.
        assert_eq!(
            plan(true, None, &[]),
            Plan::InProcess {
                why: "the app is not running".into()
            }
        );
        assert_eq!(
            plan(true, Some("http://127.0.0.1:8080/mcp"), &[]),
            Plan::Bridge {
                url: "http://127.0.0.1:8080/mcp".into(),
                note: None,
                needs_key: false
            }
        );
    }

    #[test]
    fn with_two_servers_running_each_mode_finds_its_own() {
        // Newest first: a demo server started after the person's own.
        let both = [server(1, true), server(2, false)];
        assert_eq!(plan(true, None, &both), bridge(1, None));
        assert_eq!(plan(false, None, &both), bridge(2, None));
        let open = RuntimeInfo {
            no_auth: true,
            ..server(3, false)
        };
        let Plan::Bridge { needs_key, .. } = plan(false, None, &[open]) else {
            panic!("a running server is bridged to")
        };
        assert!(!needs_key, "a --no-auth server needs no key");
    }
}
