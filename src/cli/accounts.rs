//! `coda-mcp key …` and `coda-mcp token …`: the connection key and the Coda token in the
//! OS keychain. Tokens are read from a prompt or stdin, never from the command line.

use std::io::{BufRead, IsTerminal};
use std::sync::Arc;

use anyhow::{bail, Context};
use coda_mcp::coda::{CodaClient, CodaRequest, RateLimits, RetryPolicy, Secret, DEFAULT_BASE_URL};
use coda_mcp::secrets::{self, SecretName, SecretStore, Source};

/// `coda-mcp key` actions.
#[derive(clap::Subcommand)]
pub enum KeyAction {
    /// Print the connection key (creating it on first use).
    Show,
    /// Replace the connection key; clients must then use the new one.
    Rotate,
}

/// `coda-mcp token` actions.
#[derive(clap::Subcommand)]
pub enum TokenAction {
    /// Read a Coda API token from a prompt (or stdin), check it with Coda, keep it in the keychain.
    Set {
        /// Coda API root to check the token against.
        #[arg(long, env = "CODA_API_BASE_URL", default_value = DEFAULT_BASE_URL, value_name = "URL", value_parser = coda_mcp::flags::http_url)]
        coda_base_url: String,
    },
    /// Whose token is configured, where it comes from, and whether Coda accepts it.
    Status {
        /// Coda API root to check the token against.
        #[arg(long, env = "CODA_API_BASE_URL", default_value = DEFAULT_BASE_URL, value_name = "URL", value_parser = coda_mcp::flags::http_url)]
        coda_base_url: String,
    },
    /// Remove the token from the keychain.
    Clear,
}

/// `coda-mcp ngrok` and `coda-mcp openai-tunnel` actions.
#[derive(clap::Subcommand)]
pub enum TunnelSecretAction {
    /// Read the credential from a prompt (or stdin) and keep it in the keychain.
    Set,
    /// Whether it is configured, and where it comes from.
    Status,
    /// Remove it from the keychain.
    Clear,
}

/// One tunnel's credential as the CLI speaks of it.
pub struct TunnelSecret {
    /// Where it is kept.
    pub name: SecretName,
    /// What it is called in messages.
    pub what: &'static str,
    /// The subcommand that manages it.
    pub command: &'static str,
    /// The prompt (says where to get one).
    pub prompt: &'static str,
    /// How to start the tunnel with it.
    pub start: &'static str,
}

/// The ngrok authtoken.
pub const NGROK: TunnelSecret = TunnelSecret {
    name: SecretName::NgrokAuthtoken,
    what: "ngrok authtoken",
    command: "ngrok",
    prompt: "ngrok authtoken (from https://dashboard.ngrok.com/get-started/your-authtoken): ",
    start: "coda-mcp serve --tunnel",
};

/// The runtime API key of OpenAI's Secure MCP Tunnel.
pub const OPENAI_TUNNEL: TunnelSecret = TunnelSecret {
    name: SecretName::OpenAiTunnelKey,
    what: "OpenAI tunnel API key",
    command: "openai-tunnel",
    prompt: "OpenAI tunnel runtime API key (from https://platform.openai.com/settings/organization/api-keys): ",
    start: "coda-mcp serve --tunnel openai --openai-tunnel-id tunnel_…",
};

/// Runs an action on a tunnel's credential.
pub async fn tunnel_secret(
    kind: &'static TunnelSecret,
    action: TunnelSecretAction,
    store: Arc<dyn SecretStore>,
) -> anyhow::Result<()> {
    match action {
        TunnelSecretAction::Set => {
            let token = blocking(|| read_secret(kind.prompt)).await??;
            let hint = token.hint();
            blocking(move || store.set(kind.name, &token)).await??;
            println!("Saved the {} to the keychain: {hint}", kind.what);
        }
        TunnelSecretAction::Status => {
            match blocking(move || kind.name.lookup(store.as_ref())).await? {
                Some((token, source)) => println!(
                    "{} {} from the {}; start the tunnel with `{}`",
                    kind.what,
                    token.hint(),
                    source.label(),
                    kind.start
                ),
                None => println!(
                    "No {}: run `coda-mcp {} set` or set {}.",
                    kind.what,
                    kind.command,
                    kind.name.env_vars()[0]
                ),
            }
        }
        TunnelSecretAction::Clear => {
            blocking(move || store.delete(kind.name)).await??;
            println!("Removed the {} from the keychain.", kind.what);
        }
    }
    Ok(())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
    Ok(tokio::task::spawn_blocking(f).await?)
}

/// Runs a `key` action.
pub async fn key(action: KeyAction, store: Arc<dyn SecretStore>) -> anyhow::Result<()> {
    let env = std::env::var("CODA_MCP_KEY")
        .ok()
        .filter(|v| !v.trim().is_empty());
    match action {
        KeyAction::Show => {
            if let Some(v) = env.as_deref() {
                if let Some(warning) = secrets::check_env_key(v)? {
                    eprintln!("warning: {warning}");
                }
            }
            // Without a keychain there is nothing to show (and no key to make for a run that
            // is not there); with one, the first key is made and kept here.
            let (key, source) = match env {
                Some(v) => (Secret::new(v.trim()), Source::Environment),
                None => match blocking({
                    let store = store.clone();
                    move || store.get(secrets::SecretName::ConnectionKey)
                })
                .await?
                {
                    Ok(_) => blocking(move || secrets::connection_key(store.as_ref(), None)).await?,
                    Err(_) => bail!("no OS keychain is available, so no connection key is kept: a server started like this makes one for its run and prints it under its ready line (\"connection key for this run\"), and its dashboard shows it under Setup; to keep the same key across runs, set CODA_MCP_KEY (e.g. cmk_$(openssl rand -hex 32)) for the server and its clients"),
                },
            };
            println!("{}", key.expose());
            eprintln!(
                "(from the {}; send it as 'Authorization: Bearer <key>')",
                source.label()
            );
        }
        KeyAction::Rotate => {
            if env.is_some() {
                bail!(
                    "CODA_MCP_KEY is set and overrides the keychain; change that variable instead"
                );
            }
            let old = {
                let store = store.clone();
                blocking(move || store.get(secrets::SecretName::ConnectionKey)).await?
            };
            let key = blocking(move || secrets::rotate_connection_key(store.as_ref())).await??;
            println!("{}", key.expose());
            eprintln!("(new key stored in the keychain)");
            tell_running_servers(old.ok().flatten()).await;
            eprintln!("Clients that send the key themselves (ChatGPT's Action, an MCP client's header) need the new one; `coda-mcp stdio` reads it from the keychain by itself.");
        }
    }
    Ok(())
}

/// Tells each running server of this data directory that held the old key to take the new one
/// from the keychain, and says what each did.
async fn tell_running_servers(old: Option<Secret>) {
    use coda_mcp::stdio::running::{self, KeyChange};
    let servers = coda_mcp::runtime::data_root()
        .map(|root| coda_mcp::runtime::discover_all(&root))
        .unwrap_or_default();
    let mut told = 0;
    for info in servers {
        let url = info.mcp_url;
        if !running::is_loopback_url(&url) || !running::answers(&url).await {
            continue;
        }
        told += 1;
        let pinned = match &old {
            Some(old) => running::proves_key(&url, old.expose()).await,
            None => None,
        };
        let change = match (&old, pinned) {
            (Some(old), Some(pinned)) => running::tell_key_changed(&pinned, old).await,
            _ => KeyChange::Refused(
                "it does not hold the key this rotation replaced (its key comes from CODA_MCP_KEY, or it has none kept)".into(),
            ),
        };
        match change {
            KeyChange::Taken | KeyChange::AlreadyCurrent => {
                eprintln!("The running server at {url} requires the new key from now on.")
            }
            KeyChange::Refused(why) => eprintln!(
                "The running server at {url} still takes its old key: {why}. Restart it to use the new one."
            ),
        }
    }
    if told == 0 {
        eprintln!("No server is running; the next one started uses the new key.");
    }
}

fn read_token() -> anyhow::Result<Secret> {
    read_secret("Coda API token (from https://coda.io/account → API settings): ")
}

/// Reads a secret from a hidden prompt, or from stdin when it is not a terminal.
fn read_secret(prompt: &str) -> anyhow::Result<Secret> {
    let stdin = std::io::stdin();
    let raw = if stdin.is_terminal() {
        rpassword::prompt_password(prompt).context("reading the token")?
    } else {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the token from stdin")?;
        line
    };
    let token = raw.trim();
    if token.is_empty() {
        bail!("no token given");
    }
    Ok(Secret::new(token))
}

async fn whoami(base_url: &str, token: &Secret) -> anyhow::Result<serde_json::Value> {
    let client = CodaClient::new(
        base_url,
        Some(token.clone()),
        RateLimits::CODA,
        RetryPolicy::default(),
    )?;
    Ok(client.send(&CodaRequest::get("/whoami")).await?.body)
}

/// Runs a `token` action.
pub async fn token(action: TokenAction, store: Arc<dyn SecretStore>) -> anyhow::Result<()> {
    match action {
        TokenAction::Set { coda_base_url } => {
            let token = blocking(read_token).await??;
            let me = whoami(&coda_base_url, &token).await.map_err(|e| {
                // Not reaching Coda says nothing about the token: say which it was.
                let unreachable = e
                    .downcast_ref::<coda_mcp::coda::CodaError>()
                    .is_some_and(|c| c.status().is_none());
                if unreachable {
                    e.context("could not reach Coda to check the token, so it was not saved; check the connection (or --coda-base-url) and try again")
                } else {
                    e.context("Coda did not accept the token, so it was not saved; copy it again from coda.io/account (Account settings → API settings)")
                }
            })?;
            let hint = token.hint();
            blocking(move || store.set(SecretName::CodaToken, &token)).await??;
            println!(
                "Saved the Coda token of {} ({}) to the keychain: {hint}",
                me["name"].as_str().unwrap_or("?"),
                me["loginId"].as_str().unwrap_or("?")
            );
            if secrets::env_secret("CODA_API_TOKEN").is_some() {
                eprintln!("note: CODA_API_TOKEN is set and takes precedence over the keychain");
            }
        }
        TokenAction::Status { coda_base_url } => {
            let env = secrets::env_secret("CODA_API_TOKEN");
            let found = blocking(move || secrets::coda_token(store.as_ref(), env)).await?;
            let Some((token, source)) = found else {
                anyhow::bail!("no Coda token: run `coda-mcp token set` or set CODA_API_TOKEN");
            };
            match whoami(&coda_base_url, &token).await {
                Ok(me) => println!(
                    "Coda token {} from the {}: {} ({}), accepted by Coda",
                    token.hint(),
                    source.label(),
                    me["name"].as_str().unwrap_or("?"),
                    me["loginId"].as_str().unwrap_or("?")
                ),
                Err(e) => anyhow::bail!(
                    "Coda token {} from the {}: not usable — {e:#}",
                    token.hint(),
                    source.label()
                ),
            }
        }
        TokenAction::Clear => {
            let stored = blocking({
                let store = store.clone();
                move || store.get(SecretName::CodaToken)
            })
            .await??;
            if stored.is_some() {
                blocking(move || store.delete(SecretName::CodaToken)).await??;
                println!("Removed the Coda token from the keychain.");
            } else {
                println!("No Coda token is stored in the keychain; nothing to remove.");
            }
            if secrets::env_secret("CODA_API_TOKEN").is_some() {
                eprintln!("note: CODA_API_TOKEN is set in this environment and is still used; unset it too");
            }
        }
    }
    Ok(())
}
