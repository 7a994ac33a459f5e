//! `coda-mcp manifest mcpb|registry`: prints the Claude Desktop extension's `manifest.json` or
//! the MCP Registry's `server.json` (`scripts/mcpb.sh` builds the bundle with them).

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
