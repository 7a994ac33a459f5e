//! What package managers and directories are told about this server, generated from the tool
//! catalogue, the guides and the crate's version so it never drifts: the Claude Desktop
//! extension's `manifest.json` (an `.mcpb` bundle of the `coda-mcp` binary, run as
//! `coda-mcp stdio`), the MCP Registry's `server.json`, and an Agent Plugins 1.0 package
//! (ChatGPT/Codex, VS Code/Copilot, Cursor, Kiro): `plugin.json`, `mcp.json`, one skill, and
//! Codex's own wrapper.

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
/// switches. Manifest version 0.3 (the packager's current schema; 0.4 only adds the `uv`
/// server type, which Claude Code does not take).
pub fn mcpb_manifest(platform: Platform) -> Value {
    // The tools the extension serves unless its Toolsets setting says more: the default.
    let tools: Vec<Value> = Catalogue::select(false, &Toolsets::default_for_clients())
        .iter()
        .map(|t| json!({"name": t.name, "description": first_sentence(t.description)}))
        .collect();
    let entry = format!("server/{}", platform.binary());
    json!({
        "$schema": MCPB_SCHEMA,
        "manifest_version": "0.3",
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

/// The `.mcpb` manifest schema its `$schema` names.
pub const MCPB_SCHEMA: &str =
    "https://raw.githubusercontent.com/modelcontextprotocol/mcpb/main/schemas/mcpb-manifest-v0.3.schema.json";

/// The Agent Plugins 1.0 schemas a package's `plugin.json` and `mcp.json` declare.
pub const PLUGIN_SCHEMA: &str = "https://agent-plugins.org/schemas/1.0.0/plugin.schema.json";
/// See [`PLUGIN_SCHEMA`].
pub const PLUGIN_MCP_SCHEMA: &str = "https://agent-plugins.org/schemas/1.0.0/mcp.schema.json";

/// The plugin's (and its skill's) name.
pub const PLUGIN_NAME: &str = "coda-mcp";
/// The skill's name (its folder under `skills/`).
pub const SKILL_NAME: &str = "coda";

/// How a plugin's MCP entry starts this program: the bare `coda-mcp` found on the `PATH`
/// (installed with the desktop package or `cargo install`), or a copy bundled in the
/// plugin's `bin/` (the spec allows a bare name or a `./` path, nothing else).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginCommand {
    /// `coda-mcp`, resolved on the `PATH`.
    OnPath,
    /// `./bin/coda-mcp` inside the plugin.
    Bundled,
}

impl PluginCommand {
    /// The command the entries name.
    pub fn command(self) -> &'static str {
        match self {
            PluginCommand::OnPath => "coda-mcp",
            PluginCommand::Bundled => "./bin/coda-mcp",
        }
    }
}

/// One file of an Agent Plugins package: its path inside the plugin and its contents.
pub struct PluginFile {
    /// The path, relative to the plugin's root.
    pub path: &'static str,
    /// What the file holds.
    pub contents: String,
}

/// The Agent Plugins 1.0 package: `plugin.json` (with OpenAI's presentation under
/// `extensions.com.openai`), `mcp.json` (one stdio entry running `coda-mcp stdio`: it
/// bridges to the running app or `serve`, or serves with the keychain's token — no key or
/// token in any file), the skill `skills/coda/SKILL.md` (how to work with Coda through these
/// tools, from the same guides the server serves), and Codex's wrapper
/// (`.codex-plugin/plugin.json` with its `.mcp.json`) for Codex builds that predate the
/// portable format.
pub fn agent_plugin(command: PluginCommand) -> Vec<PluginFile> {
    let interface = json!({
        "displayName": "Coda",
        "shortDescription": "Your Coda docs, tables and pages",
        "longDescription": SUMMARY,
        "developerName": "Coda MCP Desktop contributors",
        "category": "Productivity",
        "capabilities": ["Read", "Write"],
        "defaultPrompt": ["What documents do I have in Coda?", "Add a row to my Tasks table in Coda."],
    });
    let manifest = json!({
        "$schema": PLUGIN_SCHEMA,
        "name": PLUGIN_NAME,
        "version": VERSION,
        "description": SUMMARY,
        "author": {"name": "Coda MCP Desktop contributors"},
        "license": env!("CARGO_PKG_LICENSE"),
        "keywords": ["coda", "docs", "tables", "mcp"],
        "extensions": {"com.openai": {"interface": interface}},
    });
    let mcp = json!({
        "$schema": PLUGIN_MCP_SCHEMA,
        "mcpServers": {"coda": {"type": "stdio", "command": command.command(), "args": ["stdio"]}},
    });
    let codex = json!({
        "name": PLUGIN_NAME,
        "version": VERSION,
        "description": SUMMARY,
        "author": {"name": "Coda MCP Desktop contributors"},
        "license": env!("CARGO_PKG_LICENSE"),
        "keywords": ["coda", "docs", "tables", "mcp"],
        "skills": "./skills/",
        "mcpServers": "./.mcp.json",
        "interface": interface,
    });
    let codex_mcp =
        json!({"mcpServers": {"coda": {"command": command.command(), "args": ["stdio"]}}});
    let pretty = |v: &Value| serde_json::to_string_pretty(v).expect("JSON") + "\n";
    vec![
        PluginFile {
            path: "plugin.json",
            contents: pretty(&manifest),
        },
        PluginFile {
            path: "mcp.json",
            contents: pretty(&mcp),
        },
        PluginFile {
            path: "skills/coda/SKILL.md",
            contents: skill(),
        },
        PluginFile {
            path: ".codex-plugin/plugin.json",
            contents: pretty(&codex),
        },
        PluginFile {
            path: ".mcp.json",
            contents: pretty(&codex_mcp),
        },
    ]
}

/// The skill's description (at most 1,024 characters; what it does and when to use it).
const SKILL_DESCRIPTION: &str = "Work with the user's Coda workspace (coda.io docs, pages, tables and rows) through the coda MCP tools: find docs and tables, read and filter rows, write rows and pages and wait until Coda applied them, within Coda's rate limits. Use it whenever the user mentions Coda, a coda.io link, or a doc, table or page kept in Coda.";

/// `skills/coda/SKILL.md`: how to find, read, write and wait, and the rate limits — the guides
/// the server also serves as `coda://guides/…`, so the skill and the server never disagree.
fn skill() -> String {
    // Values as YAML double-quoted scalars (JSON strings are exactly those): a ": " inside
    // a plain scalar would end it.
    let quoted = |s: &str| serde_json::to_string(s).expect("JSON");
    let mut text = format!(
        "---\nname: {SKILL_NAME}\ndescription: {}\nlicense: {}\ncompatibility: {}\n---\n\n",
        quoted(SKILL_DESCRIPTION),
        quoted(env!("CARGO_PKG_LICENSE")),
        quoted("Needs the coda-mcp program (Coda MCP Desktop, or cargo install); it uses the Coda token in the OS keychain, or the running app."),
    );
    text.push_str(
        "# Working with Coda\n\n\
1. **Find** before you read: `search` (or `coda_list_documents`) for the doc; a coda.io link works wherever a `docId` is asked for.\n\
2. **Look at the shape**: `coda_list_tables`, then `coda_get_table` or the `coda://docs/{docId}/schema` resource for columns and their types.\n\
3. **Read** rows with `coda_list_rows` (one column's equality in `query`, paging with `pageToken`); page text with `coda_get_page_content`.\n\
4. **Write** with `coda_create_rows`, `coda_update_row`, `coda_create_page`…: each write waits until Coda applied it and says `completed`; never send a write again because it looked slow.\n\
5. Ask before deleting anything; a deleted doc cannot be restored through the API.\n\
6. More tools (formulas, sharing, automations, analytics) come with other toolsets: the server's `tools/list` says what is offered.\n\n",
    );
    for guide in crate::guides::GUIDES {
        text.push_str(guide.text.replacen("# ", "## ", 1).trim_end());
        text.push_str("\n\n");
    }
    text.trim_end().to_owned() + "\n"
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
        assert_eq!(m["manifest_version"], "0.3");
    }

    #[test]
    fn the_plugin_runs_this_program_and_its_skill_follows_the_rules() {
        let files = agent_plugin(PluginCommand::OnPath);
        let get = |path: &str| &files.iter().find(|f| f.path == path).unwrap().contents;
        let mcp: Value = serde_json::from_str(get("mcp.json")).unwrap();
        assert_eq!(mcp["mcpServers"]["coda"]["command"], "coda-mcp");
        assert_eq!(mcp["mcpServers"]["coda"]["args"], json!(["stdio"]));
        for f in &files {
            assert!(
                !f.contents.contains("cmk_") && !f.contents.contains("CODA_API_TOKEN\":"),
                "{}: no secret",
                f.path
            );
        }
        let bundled = agent_plugin(PluginCommand::Bundled);
        assert!(bundled
            .iter()
            .any(|f| f.path == "mcp.json" && f.contents.contains("./bin/coda-mcp")));
        // Agent Skills: name = folder, lowercase and dashes; description 1–1,024 characters.
        let skill = get("skills/coda/SKILL.md");
        assert!(skill.starts_with("---\nname: coda\n"));
        assert!((1..=1024).contains(&SKILL_DESCRIPTION.len()));
        assert!(
            skill.contains("\ndescription: \"Work with"),
            "quoted: a colon in it is no YAML key"
        );
        assert!(
            skill.lines().count() < 500,
            "{} lines",
            skill.lines().count()
        );
        for guide in crate::guides::GUIDES {
            assert!(
                skill.contains(guide.text.lines().nth(2).unwrap_or_default().trim()),
                "{}",
                guide.name
            );
        }
        // Codex's defaultPrompt: at most three, each at most 128 characters.
        let codex: Value = serde_json::from_str(get(".codex-plugin/plugin.json")).unwrap();
        let prompts = codex["interface"]["defaultPrompt"].as_array().unwrap();
        assert!(prompts.len() <= 3 && prompts.iter().all(|p| p.as_str().unwrap().len() <= 128));
    }
}
