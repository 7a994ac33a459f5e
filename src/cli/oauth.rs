//! `coda-mcp oauth list|revoke`: the apps connected through OAuth (ChatGPT's and Claude's
//! connectors), read from the data directory's OAuth database. A revocation here reaches a
//! running server within ten seconds (it re-reads tokens it has not checked lately).

use anyhow::Context;
use coda_mcp::oauth::{OAuthStore, DATABASE};

/// What to do with the approved apps.
#[derive(clap::Subcommand)]
pub enum OauthAction {
    /// List the apps connected through OAuth: name, where its answers go, scopes, use.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// The demo workspace's apps (what `serve --demo` approved).
        #[arg(long)]
        demo: bool,
        /// The data directory (default: the app's, or CODA_MCP_DATA_DIR).
        #[arg(long, env = "CODA_MCP_DATA_DIR", value_name = "DIR")]
        data_dir: Option<std::path::PathBuf>,
    },
    /// Revoke an app's access: by its client_id or grant id (from `oauth list`), or `all`.
    Revoke {
        /// A client_id, a grant id, or `all`.
        target: String,
        /// The demo workspace's apps.
        #[arg(long)]
        demo: bool,
        /// The data directory (default: the app's, or CODA_MCP_DATA_DIR).
        #[arg(long, env = "CODA_MCP_DATA_DIR", value_name = "DIR")]
        data_dir: Option<std::path::PathBuf>,
    },
}

fn open(data_dir: Option<std::path::PathBuf>, demo: bool) -> anyhow::Result<OAuthStore> {
    let root = data_dir
        .or_else(coda_mcp::runtime::data_root)
        .context("cannot tell where the app keeps its data; pass --data-dir")?;
    let dir = if demo { root.join("demo") } else { root };
    let path = dir.join(DATABASE);
    OAuthStore::open(&path).with_context(|| format!("opening {}", path.display()))
}

/// Runs `coda-mcp oauth …`.
pub fn run(action: OauthAction) -> anyhow::Result<()> {
    match action {
        OauthAction::List {
            json,
            demo,
            data_dir,
        } => {
            let grants = open(data_dir.clone(), demo)?.grants()?;
            if json {
                super::print_out(&format!("{}\n", serde_json::to_string_pretty(&grants)?));
                return Ok(());
            }
            if grants.is_empty() {
                // The demo workspace keeps its own grants: say so when they are there.
                let other = open(data_dir, !demo)
                    .and_then(|s| Ok(s.grants()?.len()))
                    .unwrap_or(0);
                let (here, there, flag) = if demo {
                    (
                        "the demo workspace",
                        "your workspace",
                        "`coda-mcp oauth list`",
                    )
                } else {
                    (
                        "your workspace",
                        "the demo workspace",
                        "`coda-mcp oauth list --demo`",
                    )
                };
                let mut said = format!("No apps are connected to {here} through OAuth.\n");
                if other > 0 {
                    said.push_str(&format!(
                        "{other} {} connected to {there}: {flag} lists {}.\n",
                        if other == 1 { "is" } else { "are" },
                        if other == 1 { "it" } else { "them" }
                    ));
                }
                super::print_out(&said);
                return Ok(());
            }
            let mut out = String::from(
                "APP | ANSWERS TO | SCOPES | APPROVED | LAST USED | CALLS | CLIENT ID | GRANT\n",
            );
            for g in grants {
                out.push_str(&format!(
                    "{} | {} | {} | {} | {} | {} | {} | {}\n",
                    g.client_name,
                    g.redirect_host,
                    g.scope,
                    g.created,
                    g.last_used.as_deref().unwrap_or("never"),
                    g.calls,
                    g.client_id,
                    g.id
                ));
            }
            super::print_out(&out);
            Ok(())
        }
        OauthAction::Revoke {
            target,
            demo,
            data_dir,
        } => {
            let store = open(data_dir, demo)?;
            let revoked = if target == "all" {
                store.revoke_client(None)?
            } else if store.revoke_grant(&target)? {
                vec![target.clone()]
            } else {
                store.revoke_client(Some(&target))?
            };
            if revoked.is_empty() && target == "all" {
                super::print_out("No app is connected through OAuth; nothing to revoke.\n");
                return Ok(());
            }
            if revoked.is_empty() {
                anyhow::bail!("no connected app has the client_id or grant id {target:?} (see `coda-mcp oauth list`)");
            }
            super::print_out(&format!(
                "Revoked {} grant{}; the app must be connected again (a running server stops accepting its tokens within 10 s).\n",
                revoked.len(),
                if revoked.len() == 1 { "" } else { "s" }
            ));
            Ok(())
        }
    }
}
