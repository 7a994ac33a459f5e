//! What package managers and directories are told about this server, generated from the tool
//! catalogue and the crate's version so it never drifts: the Claude Desktop extension's
//! `manifest.json` (an `.mcpb` bundle of the `coda-mcp` binary, run as `coda-mcp stdio`) and
//! the MCP Registry's `server.json`.

use serde_json::{json, Value};

use crate::tools::{Catalogue, Toolsets};

/// The version every package says: the crate's.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The one-line description (the MCP Registry allows 100 characters).
pub const SUMMARY: &str =
    "Your Coda docs, tables, rows and pages for Claude and ChatGPT, on your machine.";

/// The MCP Registry's name for this server.
pub const REGISTRY_NAME: &str = "io.github.coda-mcp-desktop/coda-mcp";

/// The MCP Registry schema `server.json` follows.
pub const REGISTRY_SCHEMA: &str =
    "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json";

/// An OS a bundle's binary runs on, by the names `.mcpb` manifests use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Platform {
    /// Linux.
    Linux,
    /// macOS.
    Darwin,
    /// Windows.
    Win32,
}

impl Platform {
    /// The OS this program was built for.
    pub fn current() -> Platform {
        if cfg!(target_os = "macos") {
            Platform::Darwin
        } else if cfg!(windows) {
            Platform::Win32
        } else {
            Platform::Linux
        }
    }

    /// The manifest's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Linux => "linux",
            Platform::Darwin => "darwin",
            Platform::Win32 => "win32",
        }
    }

    /// The binary's file name inside the bundle.
    pub fn binary(self) -> &'static str {
        match self {
            Platform::Win32 => "coda-mcp.exe",
            _ => "coda-mcp",
        }
    }
}

/// The Claude Desktop extension's `manifest.json` for a bundle whose `server/` folder holds the
/// `coda-mcp` binary built for `platform`. Claude Desktop starts `coda-mcp stdio` from it; the
/// Coda token is an optional setting it keeps in the OS keychain (empty: the token already in
/// the keychain, or the running app, is used), the demo workspace and read-only mode are
/// switches. Manifest version 0.2: the one every Claude Desktop accepts.
pub fn mcpb_manifest(platform: Platform) -> Value {
    // The tools the extension serves unless its Toolsets setting says more: the default.
    let tools: Vec<Value> = Catalogue::select(false, &Toolsets::default_for_clients())
        .iter()
        .map(|t| json!({"name": t.name, "description": first_sentence(t.description)}))
        .collect();
    let entry = format!("server/{}", platform.binary());
    json!({
        "manifest_version": "0.2",
        "name": "coda-mcp",
        "display_name": "Coda",
        "version": VERSION,
        "description": SUMMARY,
        "long_description": "Reads and writes your Coda docs, tables, rows, pages, formulas and controls through Coda's API — all of it, with Coda's rate limits kept and writes confirmed before they are reported done. When the Coda MCP Desktop app (or `coda-mcp serve`) is running, Claude's session goes through it and shows in its dashboard; otherwise the extension serves on its own. Try it without a Coda account on the built-in demo workspace.",
        "author": {"name": "Coda MCP Desktop contributors"},
        "icon": "icon.png",
        "license": env!("CARGO_PKG_LICENSE"),
        "keywords": ["coda", "docs", "tables", "spreadsheet", "productivity"],
        "server": {
            "type": "binary",
            "entry_point": entry,
            "mcp_config": {
                "command": format!("${{__dirname}}/{entry}"),
                "args": ["stdio"],
                "env": {
                    "CODA_API_TOKEN": "${user_config.coda_api_token}",
                    "CODA_MCP_DEMO": "${user_config.demo}",
                    "CODA_MCP_READ_ONLY": "${user_config.read_only}",
                    "CODA_MCP_TOOLSETS": "${user_config.toolsets}",
                },
            },
        },
        "user_config": {
            "coda_api_token": {
                "type": "string",
                "title": "Coda API token",
                "description": "Optional: from coda.io/account → API settings. Leave it empty to use the token Coda MCP Desktop keeps (or `coda-mcp token set`).",
                "sensitive": true,
                "required": false,
                "default": "",
            },
            "demo": {
                "type": "boolean",
                "title": "Demo workspace",
                "description": "Serve the built-in demo workspace instead of your Coda account (to try it first).",
                "required": false,
                "default": false,
            },
            "toolsets": {
                "type": "string",
                "title": "Toolsets",
                "description": "Which tools Claude gets: core (docs, pages, tables, rows, search), or add docs, pages, formulas, sharing, automations, admin, analytics (comma-separated), or all.",
                "required": false,
                "default": "core",
            },
            "read_only": {
                "type": "boolean",
                "title": "Read only",
                "description": "Offer only the tools that read; nothing in Coda can be changed.",
                "required": false,
                "default": false,
            },
        },
        "tools": tools,
        "tools_generated": false,
        "compatibility": {"platforms": [platform.as_str()]},
    })
}

/// The MCP Registry's `server.json`: the `.mcpb` bundles, one per platform, as release assets
/// whose SHA-256 each release fills in. (Checked in at the repository's root; a test keeps its
/// version and tools in step with this.)
pub fn registry_server(bundles: &[(Platform, &str, &str)]) -> Value {
    let packages: Vec<Value> = bundles
        .iter()
        .map(|(platform, url, sha256)| {
            json!({
                "registryType": "mcpb",
                "identifier": url,
                "version": VERSION,
                "fileSha256": sha256,
                "transport": {"type": "stdio"},
                "environmentVariables": [
                    {"name": "CODA_API_TOKEN", "description": format!("Optional Coda API token ({} build)", platform.as_str()), "isRequired": false, "isSecret": true},
                ],
            })
        })
        .collect();
    json!({
        "$schema": REGISTRY_SCHEMA,
        "name": REGISTRY_NAME,
        "title": "Coda MCP Desktop",
        "description": SUMMARY,
        "version": VERSION,
        "packages": packages,
    })
}

/// A description's first sentence (the manifest lists tools for people browsing extensions).
fn first_sentence(text: &str) -> &str {
    match text.find(". ") {
        Some(end) => &text[..=end],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_lists_every_tool_and_runs_stdio_from_the_bundle() {
        let m = mcpb_manifest(Platform::Win32);
        assert_eq!(m["version"], VERSION);
        assert_eq!(
            m["tools"].as_array().unwrap().len(),
            Catalogue::select(false, &Toolsets::default_for_clients())
                .iter()
                .count()
        );
        assert_eq!(m["server"]["entry_point"], "server/coda-mcp.exe");
        assert_eq!(
            m["server"]["mcp_config"]["command"],
            "${__dirname}/server/coda-mcp.exe"
        );
        assert_eq!(m["server"]["mcp_config"]["args"], json!(["stdio"]));
        // The optional token has a default, so Claude substitutes "" rather than the placeholder.
        assert_eq!(m["user_config"]["coda_api_token"]["default"], "");
        assert_eq!(m["user_config"]["coda_api_token"]["sensitive"], true);
        assert!(SUMMARY.len() <= 100);
        assert_eq!(first_sentence("Lists docs. Then more."), "Lists docs.");
    }
}
