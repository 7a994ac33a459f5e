//! `coda-mcp connect <client>`: writes (or with `--remove` takes out) the entry that runs
//! `coda-mcp stdio` in a client's own config file; `--print` shows it instead, `--list` says
//! which clients are installed and connected. The work is `coda_mcp::clients`'; this only
//! talks to the person.

use std::path::PathBuf;

use std::sync::Arc;

use anyhow::Context;
use coda_mcp::clients::{self, ClientId, ConnectError, Places};
use coda_mcp::secrets::{SecretName, SecretStore};

use super::print_out;

/// Flags of `coda-mcp connect`.
#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["client", "list"]))]
pub struct ConnectArgs {
    /// The client to connect.
    #[arg(value_enum)]
    client: Option<ClientId>,
    /// List the clients: installed or not, connected or not, and where their config is.
    #[arg(long, conflicts_with_all = ["remove", "print", "dry_run", "demo", "config"])]
    list: bool,
    /// Take the "coda" entry out of the client's config instead of adding it.
    #[arg(long)]
    remove: bool,
    /// Print the entry in the client's format (and its install link, where the client has
    /// one) instead of writing it.
    #[arg(long, conflicts_with_all = ["dry_run", "remove"])]
    print: bool,
    /// Print the whole resulting file instead of writing it.
    #[arg(long)]
    dry_run: bool,
    /// Make the entry serve the demo workspace when the app is not running.
    #[arg(long)]
    demo: bool,
    /// The config file (default: the client's own place on this OS).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Without a keychain: write CODA_MCP_KEY (from this command's environment) into the
    /// entry, in clear, so the client can hand it to the bridge.
    #[arg(long, conflicts_with_all = ["remove", "demo"])]
    key_in_config: bool,
}

/// Runs `coda-mcp connect`.
pub fn run(args: ConnectArgs, store: Arc<dyn SecretStore>) -> anyhow::Result<()> {
    let places = Places::of_this_machine();
    let Some(client) = args.client else {
        return list(&places);
    };
    let path = match args.config {
        Some(p) => p,
        None => client
            .config_path(&places)
            .ok_or(ConnectError::NoConfigDir {
                client: client.name(),
            })?,
    };
    let program = clients::this_program().context("cannot tell where coda-mcp is installed")?;
    let mut entry = client.stdio_entry(&program, args.demo);
    let keychain = store.get(SecretName::ConnectionKey).is_ok();
    if args.key_in_config {
        let key = std::env::var("CODA_MCP_KEY")
            .ok()
            .filter(|k| !k.trim().is_empty())
            .context("--key-in-config writes the CODA_MCP_KEY of this command's environment, and it is not set: CODA_MCP_KEY=<the server's key> coda-mcp connect … --key-in-config")?;
        if let Some(warning) = coda_mcp::secrets::check_env_key(&key)? {
            eprintln!("warning: {warning}");
        }
        entry = client.with_key(entry, key.trim());
        eprintln!(
            "The connection key is written in clear into {}: programs running as you can read it.",
            path.display()
        );
    } else if !args.demo && !args.remove && !args.print && !keychain {
        anyhow::bail!(client.keyless_refusal(&path));
    }
    if args.print {
        print_out(&client.snippet(&entry));
        if let Some(link) = client.install_link(&entry) {
            eprintln!("One-click install link for {}: {link}", client.name());
        }
        eprintln!("(add it to {})", path.display());
        return Ok(());
    }
    let out = if args.remove {
        client.disconnect(&path, args.dry_run)?
    } else {
        client.connect(&path, entry, args.dry_run)?
    };
    if args.dry_run {
        print_out(&out.content);
        eprintln!("(dry run: {} was not changed)", out.path.display());
        return Ok(());
    }
    let name = client.name();
    let shown = out.path.display();
    let mut text = match (args.remove, out.unchanged, out.replaced) {
        (false, true, _) => format!("{name} is already connected ({shown}).\n"),
        (false, false, true) => format!("{name}'s \"coda\" server was updated in {shown}.\n"),
        (false, false, false) => format!("{name} now has the \"coda\" server in {shown}.\n"),
        (true, true, _) => {
            format!("{name} has no \"coda\" server in {shown}; nothing to change.\n")
        }
        (true, false, _) => format!("Removed the \"coda\" server from {shown}.\n"),
    };
    if let Some(b) = &out.backup {
        text.push_str(&format!(
            "The previous file was saved as {}.\n",
            b.display()
        ));
    }
    if !out.unchanged && !args.remove {
        text.push_str(client.reload_hint());
        text.push('\n');
    }
    print_out(&text);
    Ok(())
}

/// `connect --list`: one line per client.
fn list(places: &Places) -> anyhow::Result<()> {
    let mut text = format!(
        "{:<12} {:<15} {:<10} {:<10} {}\n",
        "CLIENT", "NAME", "INSTALLED", "CONNECTED", "CONFIG"
    );
    for client in clients::ALL {
        let status = client.status(places);
        let yes = |b| if b { "yes" } else { "no" };
        let connected = match &status.problem {
            Some(_) => "unreadable",
            None => yes(status.connected),
        };
        text.push_str(&format!(
            "{:<12} {:<15} {:<10} {:<10} {}\n",
            client.arg(),
            client.name(),
            yes(status.installed),
            connected,
            status
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "(no known place on this OS)".into())
        ));
        if let Some(problem) = status.problem {
            text.push_str(&format!("    {problem}\n"));
        }
    }
    text.push_str(
        "Connect one with `coda-mcp connect <CLIENT>`; `--print` shows the entry instead.\n",
    );
    print_out(&text);
    Ok(())
}
