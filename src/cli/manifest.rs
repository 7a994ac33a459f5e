//! `coda-mcp manifest mcpb|registry|plugin`: prints the Claude Desktop extension's
//! `manifest.json` or the MCP Registry's `server.json` (`scripts/mcpb.sh` builds the bundle
//! with them), or writes an Agent Plugins package (Codex, VS Code, Cursor) into a folder.

use std::path::PathBuf;

use anyhow::Context;
use coda_mcp::packaging::{self, Platform};
use sha2::Digest;

use super::print_out;

/// Flags of `coda-mcp manifest`.
#[derive(clap::Args)]
pub struct ManifestArgs {
    #[command(subcommand)]
    kind: Kind,
}

#[derive(clap::Subcommand)]
enum Kind {
    /// The `.mcpb` bundle's manifest.json (its `server/` folder holds the binary).
    Mcpb {
        /// The OS the bundled binary runs on (default: this one).
        #[arg(long, value_enum)]
        platform: Option<Platform>,
    },
    /// The MCP Registry's server.json for built bundles (their SHA-256 computed here).
    Registry {
        /// A built bundle: PLATFORM=PATH (linux, darwin or win32), once per bundle.
        #[arg(long = "bundle", value_name = "PLATFORM=PATH", required = true, value_parser = bundle)]
        bundles: Vec<(Platform, PathBuf)>,
        /// Where the release's files are downloaded from; each bundle's URL is this plus its
        /// file name.
        #[arg(long, value_name = "URL", value_parser = coda_mcp::flags::http_url)]
        release_url: String,
    },
    /// An Agent Plugins package (plugin.json, mcp.json, skills/coda/SKILL.md, and Codex's
    /// .codex-plugin/plugin.json) written into DIR, for Codex, VS Code (Copilot) and Cursor.
    /// Its MCP entry runs `coda-mcp stdio` (no key or token in any file).
    Plugin {
        /// The folder to write (created if missing; files of ours already there are replaced).
        dir: PathBuf,
        /// Copy this program into the package's bin/ and run it from there (by default the
        /// entry runs the `coda-mcp` on your PATH).
        #[arg(long)]
        bundle_binary: bool,
    },
}

fn bundle(value: &str) -> Result<(Platform, PathBuf), String> {
    let (platform, path) = value
        .split_once('=')
        .ok_or_else(|| format!("'{value}' is not PLATFORM=PATH, e.g. linux=dist/coda-mcp.mcpb"))?;
    let platform = <Platform as clap::ValueEnum>::from_str(platform, true)
        .map_err(|_| format!("'{platform}' is not linux, darwin or win32"))?;
    Ok((platform, PathBuf::from(path)))
}

/// Runs `coda-mcp manifest`.
pub fn run(args: ManifestArgs) -> anyhow::Result<()> {
    let value = match args.kind {
        Kind::Plugin { dir, bundle_binary } => return write_plugin(&dir, bundle_binary),
        Kind::Mcpb { platform } => {
            packaging::mcpb_manifest(platform.unwrap_or_else(Platform::current))
        }
        Kind::Registry {
            bundles,
            release_url,
        } => {
            let mut described = Vec::new();
            for (platform, path) in &bundles {
                let bytes = std::fs::read(path)
                    .with_context(|| format!("reading the bundle {}", path.display()))?;
                let sha: String = sha2::Sha256::digest(&bytes)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                let name = path
                    .file_name()
                    .context("a bundle path names a file")?
                    .to_string_lossy()
                    .into_owned();
                let mut url = url::Url::parse(&release_url)?;
                url.path_segments_mut()
                    .map_err(|_| anyhow::anyhow!("{release_url} cannot have a path"))?
                    .pop_if_empty()
                    .push(&name);
                described.push((*platform, url.to_string(), sha));
            }
            let refs: Vec<(Platform, &str, &str)> = described
                .iter()
                .map(|(p, u, s)| (*p, u.as_str(), s.as_str()))
                .collect();
            packaging::registry_server(&refs)
        }
    };
    print_out(&(serde_json::to_string_pretty(&value)? + "\n"));
    Ok(())
}

/// Writes the Agent Plugins package into `dir` and says how to install it.
fn write_plugin(dir: &std::path::Path, bundle_binary: bool) -> anyhow::Result<()> {
    use packaging::PluginCommand;
    let command = if bundle_binary {
        PluginCommand::Bundled
    } else {
        PluginCommand::OnPath
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for file in packaging::agent_plugin(command) {
        let path = dir.join(file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, file.contents)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if bundle_binary {
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin)?;
        let me = std::env::current_exe().context("finding this program")?;
        let target = bin.join(Platform::current().binary());
        std::fs::copy(&me, &target)
            .with_context(|| format!("copying {} to {}", me.display(), target.display()))?;
    } else if which("coda-mcp").is_none() {
        eprintln!(
            "Note: coda-mcp is not on your PATH, and the plugin runs the one found there: install it (the desktop package, or `cargo install --path .`), or write the package again with --bundle-binary."
        );
    }
    let shown = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    println!("Agent plugin written to {}", shown.display());
    println!("  Codex:   codex plugin marketplace add <a folder whose .agents/plugins/marketplace.json lists it>, then codex plugin add coda-mcp@<marketplace>");
    println!("  VS Code: settings \"chat.plugins.enabled\": true and \"chat.pluginLocations\": {{\"{}\": true}}", shown.display());
    println!(
        "  Cursor:  copy or link it to ~/.cursor/plugins/local/coda-mcp/ and reload the window"
    );
    Ok(())
}

/// The first `name` on the `PATH`, if any.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
