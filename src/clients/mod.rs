//! The MCP clients people use, and how each is connected to this app: one row per client
//! (where its config file is on each OS, its format, how its entry looks), so `coda-mcp
//! connect`, the dashboard's Setup view and the tray all do the same thing from one table.
//!
//! Every client gets a stdio entry that runs `coda-mcp stdio` (or the desktop app's own
//! binary): all of them start local commands, the entry holds no secret (the bridge reads the
//! connection key from the keychain, a key in a config file would sit there in clear), and the
//! session shows in the dashboard like any other.

mod file;
mod format;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

pub use file::{Change, ConnectError, ConnectOutcome, KEEP_BACKUPS};
pub use format::Format;

/// The name of our entry in every client's config.
pub const ENTRY_NAME: &str = "coda";

/// A client `coda-mcp connect` knows.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum ClientId {
    /// Claude Desktop (`claude_desktop_config.json`).
    Claude,
    /// Claude Code (`~/.claude.json`).
    ClaudeCode,
    /// Cursor (`~/.cursor/mcp.json`).
    Cursor,
    /// VS Code with GitHub Copilot (the user profile's `mcp.json`).
    Vscode,
    /// Windsurf (`~/.codeium/windsurf/mcp_config.json`).
    Windsurf,
    /// OpenAI's Codex CLI (`~/.codex/config.toml`).
    Codex,
    /// Gemini CLI (`~/.gemini/settings.json`).
    Gemini,
}

/// Every client, in the order lists show them.
pub const ALL: [ClientId; 7] = [
    ClientId::Claude,
    ClientId::ClaudeCode,
    ClientId::Cursor,
    ClientId::Vscode,
    ClientId::Windsurf,
    ClientId::Codex,
    ClientId::Gemini,
];

/// Where a client's files are looked for: the person's home and config folders, and the
/// environment variables some clients use to move their files. A value of its own so tests
/// (and the README walk) can point it anywhere.
#[derive(Debug, Clone, Default)]
pub struct Places {
    /// `~`.
    pub home: Option<PathBuf>,
    /// The OS's config folder (`~/.config`, `~/Library/Application Support`, `%APPDATA%`).
    pub config: Option<PathBuf>,
    /// The OS's local data folder (`%LOCALAPPDATA%` on Windows).
    pub local_data: Option<PathBuf>,
    /// `CLAUDE_CONFIG_DIR`, `CODEX_HOME`, `GEMINI_CLI_HOME` when set.
    pub claude_config_dir: Option<PathBuf>,
    pub codex_home: Option<PathBuf>,
    pub gemini_home: Option<PathBuf>,
    /// The folders of `PATH`, to tell whether a client's command is installed.
    pub path: Vec<PathBuf>,
}

impl Places {
    /// This machine's places.
    pub fn of_this_machine() -> Places {
        let var = |name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Places {
            home: dirs::home_dir(),
            config: dirs::config_dir(),
            local_data: dirs::data_local_dir(),
            claude_config_dir: var("CLAUDE_CONFIG_DIR"),
            codex_home: var("CODEX_HOME"),
            gemini_home: var("GEMINI_CLI_HOME"),
            path: std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).collect())
                .unwrap_or_default(),
        }
    }

    /// Everything under one folder, as if it were the home folder (tests; a portable setup):
    /// the config folder is `<home>/.config`, local data `<home>/.local/share`, no `PATH`.
    pub fn under(home: &Path) -> Places {
        Places {
            home: Some(home.to_owned()),
            config: Some(home.join(".config")),
            local_data: Some(home.join(".local").join("share")),
            ..Places::default()
        }
    }

    fn on_path(&self, command: &str) -> bool {
        self.path
            .iter()
            .any(|dir| dir.join(command).is_file() || dir.join(format!("{command}.exe")).is_file())
    }
}

impl ClientId {
    /// The client's name for people.
    pub fn name(self) -> &'static str {
        match self {
            ClientId::Claude => "Claude Desktop",
            ClientId::ClaudeCode => "Claude Code",
            ClientId::Cursor => "Cursor",
            ClientId::Vscode => "VS Code",
            ClientId::Windsurf => "Windsurf",
            ClientId::Codex => "Codex CLI",
            ClientId::Gemini => "Gemini CLI",
        }
    }

    /// The word `coda-mcp connect` takes.
    pub fn arg(self) -> &'static str {
        match self {
            ClientId::Claude => "claude",
            ClientId::ClaudeCode => "claude-code",
            ClientId::Cursor => "cursor",
            ClientId::Vscode => "vscode",
            ClientId::Windsurf => "windsurf",
            ClientId::Codex => "codex",
            ClientId::Gemini => "gemini",
        }
    }

    /// The config file's format and where its servers are.
    pub fn format(self) -> Format {
        match self {
            ClientId::Vscode => Format::Jsonc { key: "servers" },
            ClientId::Gemini => Format::Jsonc { key: "mcpServers" },
            ClientId::Codex => Format::Toml { key: "mcp_servers" },
            _ => Format::Json { key: "mcpServers" },
        }
    }

    /// What a person does after connecting for the client to load the entry.
    pub fn reload_hint(self) -> &'static str {
        match self {
            ClientId::Claude => "Restart Claude Desktop to load it.",
            ClientId::ClaudeCode => "New Claude Code sessions have it (`/mcp` lists it).",
            ClientId::Cursor => "Cursor loads it by itself (Settings → MCP shows it).",
            ClientId::Vscode => {
                "VS Code loads it by itself (MCP: List Servers shows it; start it there)."
            }
            ClientId::Windsurf => "Refresh Windsurf's MCP servers (Cascade → MCP) to load it.",
            ClientId::Codex => "New Codex sessions have it (`codex mcp list` shows it).",
            ClientId::Gemini => "New Gemini CLI sessions have it (`/mcp` lists it).",
        }
    }

    /// The user-level config file on this OS.
    pub fn config_path(self, places: &Places) -> Option<PathBuf> {
        let home = places.home.as_deref();
        match self {
            ClientId::Claude => {
                // Claude Desktop from the Microsoft Store (MSIX) reads a virtualized copy of
                // %APPDATA%; prefer it when that package is installed.
                let msix = places.local_data.as_deref().and_then(|local| {
                    std::fs::read_dir(local.join("Packages"))
                        .ok()?
                        .filter_map(Result::ok)
                        .find(|e| e.file_name().to_string_lossy().starts_with("Claude_"))
                        .map(|e| e.path().join("LocalCache").join("Roaming").join("Claude"))
                });
                msix.or_else(|| places.config.as_ref().map(|c| c.join("Claude")))
                    .map(|dir| dir.join("claude_desktop_config.json"))
            }
            ClientId::ClaudeCode => match &places.claude_config_dir {
                Some(dir) => Some(dir.join(".claude.json")),
                None => home.map(|h| h.join(".claude.json")),
            },
            ClientId::Cursor => home.map(|h| h.join(".cursor").join("mcp.json")),
            ClientId::Vscode => places
                .config
                .as_ref()
                .map(|c| c.join("Code").join("User").join("mcp.json")),
            ClientId::Windsurf => {
                home.map(|h| h.join(".codeium").join("windsurf").join("mcp_config.json"))
            }
            ClientId::Codex => match &places.codex_home {
                Some(dir) => Some(dir.join("config.toml")),
                None => home.map(|h| h.join(".codex").join("config.toml")),
            },
            ClientId::Gemini => places
                .gemini_home
                .as_deref()
                .or(home)
                .map(|h| h.join(".gemini").join("settings.json")),
        }
    }

    /// Whether the client looks installed: its folder exists, or its command is on `PATH`.
    pub fn installed(self, places: &Places) -> bool {
        let folder = self
            .config_path(places)
            .and_then(|p| p.parent().map(Path::to_owned))
            .is_some_and(|dir| dir.is_dir());
        let command = match self {
            ClientId::ClaudeCode => Some("claude"),
            ClientId::Cursor => Some("cursor"),
            ClientId::Vscode => Some("code"),
            ClientId::Windsurf => Some("windsurf"),
            ClientId::Codex => Some("codex"),
            ClientId::Gemini => Some("gemini"),
            // Anthropic's own Linux package installs /usr/bin/claude-desktop (a link into
            // /usr/lib/claude-desktop/); its config is Electron's user data folder,
            // $XDG_CONFIG_HOME/Claude — the same place as on other systems' config folder.
            ClientId::Claude => Some("claude-desktop"),
        };
        // Claude Code's file sits in the home folder, which always exists.
        let folder = folder && self != ClientId::ClaudeCode
            || self == ClientId::ClaudeCode
                && self.config_path(places).is_some_and(|p| p.is_file());
        folder || command.is_some_and(|c| places.on_path(c))
    }

    /// The entry that runs `program stdio` (with `--demo`: the demo workspace when nothing
    /// is running), in the fields this client reads.
    pub fn stdio_entry(self, program: &Path, demo: bool) -> Value {
        let mut args = vec!["stdio"];
        if demo {
            args.push("--demo");
        }
        let command = program.to_string_lossy();
        match self {
            // These two tell transports apart by `type`.
            ClientId::Vscode | ClientId::ClaudeCode => {
                json!({"type": "stdio", "command": command, "args": args})
            }
            _ => json!({"command": command, "args": args}),
        }
    }

    /// Why an entry cannot work on a machine without a keychain, and the two ways that do:
    /// the demo, or the key written into the client's config on the person's say-so.
    pub fn keyless_refusal(self, path: &Path) -> String {
        format!(
            "no keychain here, so {name} would start `coda-mcp stdio` with no connection key and every call would be refused; \
             either `coda-mcp connect {arg} --demo` (the built-in demo workspace, no key needed), \
             or CODA_MCP_KEY=<the server's key> coda-mcp connect {arg} --key-in-config (writes that key in clear into {file}, which programs running as you can read)",
            name = self.name(),
            arg = self.arg(),
            file = path.display()
        )
    }

    /// `entry` with the connection key for a client to hand to `coda-mcp stdio` in its
    /// environment (`--key-in-config`: there is no keychain to read it from).
    pub fn with_key(self, mut entry: Value, key: &str) -> Value {
        entry["env"] = json!({"CODA_MCP_KEY": key});
        entry
    }

    /// Whether the client's config has our entry, and where that config is.
    pub fn status(self, places: &Places) -> ClientStatus {
        let path = self.config_path(places);
        let connected = match &path {
            Some(p) => file::current(p, self.format(), ENTRY_NAME).map(|e| e.is_some()),
            None => Ok(false),
        };
        ClientStatus {
            client: self,
            installed: self.installed(places),
            connected: connected.as_ref().is_ok_and(|c| *c),
            problem: connected.err().map(|e| e.to_string()),
            path,
        }
    }

    /// Our entry in the config at `path`, if it has one.
    pub fn entry_in(self, path: &Path) -> Result<Option<Value>, ConnectError> {
        file::current(path, self.format(), ENTRY_NAME)
    }

    /// Adds (or replaces) our entry in the config at `path`; nothing written with `dry_run`.
    pub fn connect(
        self,
        path: &Path,
        entry: Value,
        dry_run: bool,
    ) -> Result<ConnectOutcome, ConnectError> {
        file::apply(
            path,
            self.format(),
            ENTRY_NAME,
            &Change::Set(entry),
            dry_run,
        )
    }

    /// Takes our entry out of the config at `path`; nothing written with `dry_run`.
    pub fn disconnect(self, path: &Path, dry_run: bool) -> Result<ConnectOutcome, ConnectError> {
        file::apply(path, self.format(), ENTRY_NAME, &Change::Remove, dry_run)
    }

    /// Our entry alone, as this client's config writes it (`connect --print`).
    pub fn snippet(self, entry: &Value) -> String {
        self.format().snippet(ENTRY_NAME, entry)
    }

    /// A link that installs the entry in one click, where the client has one (Cursor's and
    /// VS Code's install links).
    pub fn install_link(self, entry: &Value) -> Option<String> {
        use base64::Engine as _;
        let encode = |s: &str| percent_encoding::utf8_percent_encode(s, COMPONENT).to_string();
        match self {
            ClientId::Cursor => {
                let config = base64::engine::general_purpose::STANDARD.encode(entry.to_string());
                Some(format!(
                    "cursor://anysphere.cursor-deeplink/mcp/install?name={}&config={}",
                    encode(ENTRY_NAME),
                    encode(&config)
                ))
            }
            ClientId::Vscode => {
                let mut named = serde_json::Map::new();
                named.insert("name".into(), ENTRY_NAME.into());
                if let Value::Object(fields) = entry {
                    named.extend(fields.clone());
                }
                Some(format!(
                    "vscode:mcp/install?{}",
                    encode(&Value::Object(named).to_string())
                ))
            }
            _ => None,
        }
    }
}

/// What `encodeURIComponent` leaves alone: letters, digits and `-_.!~*'()`.
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// One client's state, for `connect --list` and the Setup view.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClientStatus {
    /// Which client.
    pub client: ClientId,
    /// Whether it looks installed.
    pub installed: bool,
    /// Whether its config has our entry.
    pub connected: bool,
    /// Its config file (none when this OS has no known place).
    pub path: Option<PathBuf>,
    /// Why its config could not be read (an invalid file), if so.
    pub problem: Option<String>,
}

/// The program a client should start for this app: the running one — except inside an
/// AppImage, whose binary lives in a temporary mount that vanishes when the app exits; there
/// the AppImage file itself (`$APPIMAGE`) is the program.
pub fn this_program() -> Option<PathBuf> {
    program_to_run(
        std::env::var_os("APPIMAGE").map(PathBuf::from),
        std::env::current_exe().ok(),
    )
}

/// [`this_program`]'s rule: the AppImage file when there is one, else the running binary.
fn program_to_run(appimage: Option<PathBuf>, exe: Option<PathBuf>) -> Option<PathBuf> {
    appimage.filter(|p| p.is_file()).or(exe)
}

/// A fresh folder for a test (the clients' tests write config files).
#[cfg(test)]
pub(crate) fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "coda-mcp-clients-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_an_appimage_clients_run_the_appimage_not_its_temporary_mount() {
        let dir = tempdir();
        let appimage = dir.join("Coda_MCP_Desktop.AppImage");
        std::fs::write(&appimage, b"").unwrap();
        let mounted = PathBuf::from("/tmp/.mount_CodaMCabc123/usr/bin/coda-mcp-desktop");
        assert_eq!(
            program_to_run(Some(appimage.clone()), Some(mounted.clone())),
            Some(appimage)
        );
        assert_eq!(
            program_to_run(None, Some(mounted.clone())),
            Some(mounted.clone()),
            "not an AppImage: the binary itself"
        );
        assert_eq!(
            program_to_run(Some(dir.join("gone.AppImage")), Some(mounted.clone())),
            Some(mounted),
            "an APPIMAGE that is no file is ignored"
        );
    }

    #[test]
    fn each_client_has_its_documented_place() {
        let places = Places {
            home: Some("/home/p".into()),
            config: Some("/home/p/.config".into()),
            ..Places::default()
        };
        let at = |c: ClientId| c.config_path(&places).unwrap();
        assert_eq!(
            at(ClientId::Claude),
            Path::new("/home/p/.config/Claude/claude_desktop_config.json")
        );
        assert_eq!(at(ClientId::ClaudeCode), Path::new("/home/p/.claude.json"));
        assert_eq!(at(ClientId::Cursor), Path::new("/home/p/.cursor/mcp.json"));
        assert_eq!(
            at(ClientId::Vscode),
            Path::new("/home/p/.config/Code/User/mcp.json")
        );
        assert_eq!(
            at(ClientId::Windsurf),
            Path::new("/home/p/.codeium/windsurf/mcp_config.json")
        );
        assert_eq!(at(ClientId::Codex), Path::new("/home/p/.codex/config.toml"));
        assert_eq!(
            at(ClientId::Gemini),
            Path::new("/home/p/.gemini/settings.json")
        );
        let moved = Places {
            codex_home: Some("/srv/codex".into()),
            claude_config_dir: Some("/srv/claude".into()),
            gemini_home: Some("/srv/g".into()),
            ..places
        };
        assert_eq!(
            ClientId::Codex.config_path(&moved).unwrap(),
            Path::new("/srv/codex/config.toml")
        );
        assert_eq!(
            ClientId::ClaudeCode.config_path(&moved).unwrap(),
            Path::new("/srv/claude/.claude.json")
        );
        assert_eq!(
            ClientId::Gemini.config_path(&moved).unwrap(),
            Path::new("/srv/g/.gemini/settings.json")
        );
    }

    #[test]
    fn install_links_carry_the_entry() {
        use base64::Engine as _;
        let entry = ClientId::Cursor.stdio_entry(Path::new("/opt/coda mcp"), false);
        let cursor = ClientId::Cursor.install_link(&entry).unwrap();
        let config = cursor.split("config=").nth(1).unwrap();
        let config = percent_encoding::percent_decode_str(config)
            .decode_utf8()
            .unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(config.as_bytes())
            .unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&decoded).unwrap(), entry);
        assert!(
            cursor.starts_with("cursor://anysphere.cursor-deeplink/mcp/install?name=coda&config=")
        );

        let entry = ClientId::Vscode.stdio_entry(Path::new("/opt/coda-mcp"), false);
        let vscode = ClientId::Vscode.install_link(&entry).unwrap();
        let query = vscode.strip_prefix("vscode:mcp/install?").unwrap();
        let decoded: Value = serde_json::from_str(
            &percent_encoding::percent_decode_str(query)
                .decode_utf8()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(decoded["name"], "coda");
        assert_eq!(decoded["type"], "stdio");
        assert_eq!(decoded["command"], "/opt/coda-mcp");
        assert!(ClientId::Codex.install_link(&entry).is_none());
    }
}
