//! Connecting Claude Desktop: writes an `mcpServers` entry that runs `coda-mcp stdio` into
//! `claude_desktop_config.json`. The person's other settings are kept, the previous file is
//! backed up with a timestamp, and the new one replaces it atomically, so a crash never leaves
//! Claude with half a config. A file that is not valid JSON is refused, never overwritten.
//!
//! The file may hold other servers' tokens, so it stays as private as it was: the new file
//! and the backup keep the original's mode (`0600` for a new file), and temporary files are
//! created exclusively. A config that is a symbolic link (dotfile managers do this) is
//! followed: its target is rewritten and the link stays a link.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

/// The name of our entry under `mcpServers`.
pub const ENTRY_NAME: &str = "coda";

/// Why Claude Desktop's config could not be updated.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The existing file is not JSON; we refuse to guess what the person meant.
    #[error("{path} is not valid JSON ({detail}); fix or move it, then connect again — it was left untouched")]
    InvalidJson { path: PathBuf, detail: String },
    /// The file is JSON but not the expected shape.
    #[error("{path}: {detail}; it was left untouched")]
    UnexpectedShape { path: PathBuf, detail: String },
    /// No config location is known on this OS.
    #[error(
        "cannot tell where Claude Desktop keeps its config on this system; pass --config PATH"
    )]
    NoConfigDir,
    /// Reading or writing failed. The OS error is part of the message (not a separate
    /// source), so a printed error chain says it once.
    #[error("{action} {path}: {error}")]
    Io {
        action: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
}

/// What `connect` did (or, in a dry run, would do).
#[derive(Debug)]
pub struct ConnectOutcome {
    /// The config file.
    pub path: PathBuf,
    /// Where the previous file was copied, when there was one (none in a dry run).
    pub backup: Option<PathBuf>,
    /// Whether an entry of ours was already there (and was replaced).
    pub replaced: bool,
    /// Whether the file already said exactly this (nothing was written).
    pub unchanged: bool,
    /// The complete new file.
    pub content: String,
}

/// Where Claude Desktop reads its config: `~/Library/Application Support/Claude/` on macOS,
/// `%APPDATA%\Claude\` on Windows, `~/.config/Claude/` on Linux.
pub fn default_config_path() -> Option<PathBuf> {
    // `dirs::config_dir` is exactly those three places.
    dirs::config_dir().map(|d| d.join("Claude").join("claude_desktop_config.json"))
}

/// The program Claude Desktop should start for this app: the running one — except inside an
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

/// The entry that starts `coda-mcp stdio` (the program at `command`).
pub fn stdio_entry(command: &Path, demo: bool) -> Value {
    let mut args = vec!["stdio"];
    if demo {
        args.push("--demo");
    }
    json!({"command": command.to_string_lossy(), "args": args})
}

/// Adds (or replaces) our entry in the config at `path`, keeping everything else. With
/// `dry_run` nothing is written.
pub fn connect(path: &Path, entry: Value, dry_run: bool) -> Result<ConnectOutcome, ConnectError> {
    let io = |action, error| ConnectError::Io {
        action,
        path: path.to_owned(),
        error,
    };
    // A link is followed: the file it points at is what Claude reads, so that is rewritten
    // (and the link kept). A dangling link is refused rather than replaced by a file.
    let link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let target = if link {
        std::fs::canonicalize(path).map_err(|e| io("cannot follow the link", e))?
    } else {
        path.to_owned()
    };
    let path = target.as_path();
    let io = |action, error| ConnectError::Io {
        action,
        path: path.to_owned(),
        error,
    };
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io("cannot read", e)),
    };
    let mut root = match existing.as_deref().map(str::trim) {
        None | Some("") => Map::new(),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                return Err(ConnectError::UnexpectedShape {
                    path: path.to_owned(),
                    detail: "the top level is not a JSON object".into(),
                })
            }
            Err(e) => {
                return Err(ConnectError::InvalidJson {
                    path: path.to_owned(),
                    detail: e.to_string(),
                })
            }
        },
    };
    let servers = root
        .entry("mcpServers")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(servers) = servers else {
        return Err(ConnectError::UnexpectedShape {
            path: path.to_owned(),
            detail: "\"mcpServers\" is not a JSON object".into(),
        });
    };
    let previous = servers.insert(ENTRY_NAME.to_owned(), entry.clone());
    let replaced = previous.is_some();
    let unchanged = previous.as_ref() == Some(&entry);
    let content = serde_json::to_string_pretty(&Value::Object(root)).expect("JSON") + "\n";
    let mut outcome = ConnectOutcome {
        path: path.to_owned(),
        backup: None,
        replaced,
        unchanged,
        content,
    };
    if dry_run || unchanged {
        return Ok(outcome);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io("cannot create the folder of", e))?;
    }
    let mode = crate::private::mode_of(path).unwrap_or(crate::private::FILE_MODE);
    if let Some(old) = &existing {
        let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
        let mut backup = path.as_os_str().to_owned();
        backup.push(format!(".bak-{stamp}"));
        let backup = PathBuf::from(backup);
        crate::private::write_atomically(&backup, old.as_bytes(), mode)
            .map_err(|e| io("cannot back up", e))?;
        outcome.backup = Some(backup);
    }
    crate::private::write_atomically(path, outcome.content.as_bytes(), mode)
        .map_err(|e| io("cannot write", e))?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Value {
        stdio_entry(Path::new("/opt/coda-mcp"), false)
    }

    #[test]
    fn creates_a_missing_file_with_our_entry() {
        let dir = tempdir();
        let path = dir.join("Claude/claude_desktop_config.json");
        let out = connect(&path, entry(), false).unwrap();
        assert!(out.backup.is_none() && !out.replaced);
        let written: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(written["mcpServers"]["coda"]["args"], json!(["stdio"]));
        assert_eq!(written["mcpServers"]["coda"]["command"], "/opt/coda-mcp");
    }

    #[test]
    fn merges_keeps_other_servers_and_backs_up() {
        let dir = tempdir();
        let path = dir.join("claude_desktop_config.json");
        let original = r#"{"theme":"dark","mcpServers":{"files":{"command":"npx","args":["fs"]}}}"#;
        std::fs::write(&path, original).unwrap();
        let out = connect(&path, entry(), false).unwrap();
        let backup = out.backup.expect("a backup");
        assert_eq!(std::fs::read_to_string(&backup).unwrap(), original);
        let written: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(written["theme"], "dark");
        assert_eq!(written["mcpServers"]["files"]["command"], "npx");
        assert_eq!(written["mcpServers"]["coda"]["args"][0], "stdio");
        // Connecting again changes nothing and makes no second backup.
        let again = connect(&path, entry(), false).unwrap();
        assert!(again.unchanged && again.replaced && again.backup.is_none());
        let tmp_left = std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains(".tmp-")
            })
            .count();
        assert_eq!(tmp_left, 0, "no temporary file is left behind");
    }

    #[test]
    fn refuses_invalid_json_and_leaves_it_alone() {
        let dir = tempdir();
        let path = dir.join("claude_desktop_config.json");
        std::fs::write(&path, "{\"mcpServers\": {").unwrap();
        let err = connect(&path, entry(), false).unwrap_err();
        assert!(matches!(err, ConnectError::InvalidJson { .. }), "{err}");
        assert!(err.to_string().contains("not valid JSON"));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"mcpServers\": {"
        );
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no backup, no temp file"
        );
    }

    #[test]
    fn refuses_a_non_object_servers_map() {
        let dir = tempdir();
        let path = dir.join("c.json");
        std::fs::write(&path, r#"{"mcpServers": []}"#).unwrap();
        let err = connect(&path, entry(), false).unwrap_err();
        assert!(err
            .to_string()
            .contains("\"mcpServers\" is not a JSON object"));
    }

    #[test]
    fn dry_run_writes_nothing() {
        let dir = tempdir();
        let path = dir.join("c.json");
        std::fs::write(&path, "{}").unwrap();
        let out = connect(&path, entry(), true).unwrap();
        assert!(out.content.contains("\"coda\""));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    }

    #[test]
    fn inside_an_appimage_claude_runs_the_appimage_not_its_temporary_mount() {
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

    #[cfg(unix)]
    #[test]
    fn the_config_and_its_backup_stay_private() {
        let mode = |p: &Path| crate::private::mode_of(p).unwrap();
        let dir = tempdir();
        // A new file is the person's only.
        let fresh = dir.join("new/claude_desktop_config.json");
        connect(&fresh, entry(), false).unwrap();
        assert_eq!(mode(&fresh), 0o600);
        // An existing private file holding another server's token stays private, and so
        // does its backup.
        let path = dir.join("claude_desktop_config.json");
        std::fs::write(
            &path,
            r#"{"mcpServers":{"other":{"env":{"TOKEN":"s3cret"}}}}"#,
        )
        .unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let out = connect(&path, entry(), false).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&out.backup.unwrap()), 0o600);
        // A mode the person chose is kept as it was.
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o640))
            .unwrap();
        connect(&path, stdio_entry(Path::new("/elsewhere"), true), false).unwrap();
        assert_eq!(mode(&path), 0o640);
    }

    #[cfg(unix)]
    #[test]
    fn a_linked_config_is_followed_and_stays_a_link() {
        let dir = tempdir();
        let real = dir.join("dotfiles/claude.json");
        std::fs::create_dir_all(real.parent().unwrap()).unwrap();
        std::fs::write(&real, r#"{"theme":"dark"}"#).unwrap();
        let link = dir.join("claude_desktop_config.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let out = connect(&link, entry(), false).unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        let written: Value =
            serde_json::from_str(&std::fs::read_to_string(&real).unwrap()).unwrap();
        assert_eq!(written["theme"], "dark");
        assert_eq!(written["mcpServers"]["coda"]["args"][0], "stdio");
        assert_eq!(out.path, std::fs::canonicalize(&real).unwrap());
        // A dangling link is refused, not replaced by a file.
        let dangling = dir.join("dangling.json");
        std::os::unix::fs::symlink(dir.join("missing.json"), &dangling).unwrap();
        assert!(connect(&dangling, entry(), false).is_err());
        assert!(std::fs::symlink_metadata(&dangling)
            .unwrap()
            .file_type()
            .is_symlink());
    }

    fn tempdir() -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("coda-mcp-claude-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
