//! Changing a client's config file safely: the person's other settings are kept (the edit is
//! made by [`Format`]), the previous file is backed up with a timestamp (the newest
//! [`KEEP_BACKUPS`] are kept), and the new one replaces it atomically, so a crash never leaves
//! a client with half a config. A file the client could not read either is refused, never
//! overwritten.
//!
//! Config files may hold other servers' tokens, so each stays as private as it was: the new
//! file and the backup keep the original's mode (`0600` for a new file), and temporary files
//! are created exclusively. A config that is a symbolic link (dotfile managers do this) is
//! followed: its target is rewritten and the link stays a link.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::format::{Format, FormatError};

/// How many backups of one config file are kept (older ones are removed).
pub const KEEP_BACKUPS: usize = 5;

/// Why a client's config could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The existing file is not valid in its format; we refuse to guess what the person meant.
    #[error("{path} is not valid {format} ({detail}); fix or move it, then connect again — it was left untouched")]
    Invalid {
        path: PathBuf,
        format: &'static str,
        detail: String,
    },
    /// The file is valid but not the shape the client reads.
    #[error("{path}: {detail}; it was left untouched")]
    UnexpectedShape { path: PathBuf, detail: String },
    /// No config location is known on this OS.
    #[error("cannot tell where {client} keeps its config on this system; pass --config PATH")]
    NoConfigDir { client: &'static str },
    /// This client cannot run the entry asked for.
    #[error("{0}")]
    Unsupported(String),
    /// Reading or writing failed. The OS error is part of the message (not a separate
    /// source), so a printed error chain says it once.
    #[error("{action} {path}: {error}")]
    Io {
        action: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
}

/// What a change did (or, in a dry run, would do).
#[derive(Debug)]
pub struct ConnectOutcome {
    /// The config file.
    pub path: PathBuf,
    /// Where the previous file was copied, when there was one (none in a dry run).
    pub backup: Option<PathBuf>,
    /// Whether an entry of ours was there before.
    pub replaced: bool,
    /// Whether the file already said exactly this (nothing was written).
    pub unchanged: bool,
    /// The complete new file.
    pub content: String,
}

/// What to do with our entry.
#[derive(Debug, Clone)]
pub enum Change {
    /// Add it, or replace the one there.
    Set(Value),
    /// Take it out.
    Remove,
}

/// Follows a link to the file it points at (a dangling link is an error, not a new file).
fn resolve(path: &Path) -> Result<PathBuf, ConnectError> {
    let link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if !link {
        return Ok(path.to_owned());
    }
    std::fs::canonicalize(path).map_err(|error| ConnectError::Io {
        action: "cannot follow the link",
        path: path.to_owned(),
        error,
    })
}

/// The file's text; `None` when there is no file.
fn read(path: &Path) -> Result<Option<String>, ConnectError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(ConnectError::Io {
            action: "cannot read",
            path: path.to_owned(),
            error,
        }),
    }
}

fn refused(path: &Path, format: Format, e: FormatError) -> ConnectError {
    match e {
        FormatError::Invalid(detail) => ConnectError::Invalid {
            path: path.to_owned(),
            format: format.label(),
            detail,
        },
        FormatError::Shape(detail) => ConnectError::UnexpectedShape {
            path: path.to_owned(),
            detail,
        },
    }
}

/// Our entry `name` in the config at `path`, if the file has one.
pub fn current(path: &Path, format: Format, name: &str) -> Result<Option<Value>, ConnectError> {
    let path = resolve(path)?;
    match read(&path)? {
        None => Ok(None),
        Some(text) => format
            .entry(&text, name)
            .map_err(|e| refused(&path, format, e)),
    }
}

/// Applies `change` to our entry `name` in the config at `path`, keeping everything else.
/// With `dry_run` nothing is written.
pub fn apply(
    path: &Path,
    format: Format,
    name: &str,
    change: &Change,
    dry_run: bool,
) -> Result<ConnectOutcome, ConnectError> {
    let path = resolve(path)?;
    let path = path.as_path();
    let io = |action, error| ConnectError::Io {
        action,
        path: path.to_owned(),
        error,
    };
    let existing = read(path)?;
    let text = existing.as_deref().unwrap_or("");
    let previous = format
        .entry(text, name)
        .map_err(|e| refused(path, format, e))?;
    let (content, unchanged) = match change {
        Change::Set(entry) => (
            format
                .set(text, name, entry)
                .map_err(|e| refused(path, format, e))?,
            previous.as_ref() == Some(entry),
        ),
        Change::Remove => (
            format
                .remove(text, name)
                .map_err(|e| refused(path, format, e))?,
            previous.is_none(),
        ),
    };
    let mut outcome = ConnectOutcome {
        path: path.to_owned(),
        backup: None,
        replaced: previous.is_some(),
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
        let backup = backup_path(path);
        crate::private::write_atomically(&backup, old.as_bytes(), mode)
            .map_err(|e| io("cannot back up", e))?;
        prune_backups(path);
        outcome.backup = Some(backup);
    }
    crate::private::write_atomically(path, outcome.content.as_bytes(), mode)
        .map_err(|e| io("cannot write", e))?;
    Ok(outcome)
}

/// `<file>.bak-YYYYMMDD-HHMMSS`, with `-02`, `-03`… after the highest of that second already
/// there (never a number pruning freed: names must keep sorting by time).
fn backup_path(path: &Path) -> PathBuf {
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S").to_string();
    let mut base = path.as_os_str().to_owned();
    base.push(format!(".bak-{stamp}"));
    let base = PathBuf::from(base);
    let taken = sibling_backups(path)
        .iter()
        .filter_map(|p| {
            let rest = p.as_os_str().to_str()?.strip_prefix(base.to_str()?)?;
            match rest {
                "" => Some(1),
                _ => rest.strip_prefix('-')?.parse::<u32>().ok(),
            }
        })
        .max();
    match taken {
        None => base,
        Some(n) => {
            let mut name = base.into_os_string();
            name.push(format!("-{:02}", n + 1));
            PathBuf::from(name)
        }
    }
}

/// The backups of `path` next to it, oldest first (their names sort by time).
fn sibling_backups(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    let prefix = format!("{}.bak-", name.to_string_lossy());
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut backups: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| path.with_file_name(e.file_name()))
        .collect();
    backups.sort();
    backups
}

/// Removes all but the newest [`KEEP_BACKUPS`] backups of `path`.
fn prune_backups(path: &Path) {
    let backups = sibling_backups(path);
    let excess = backups.len().saturating_sub(KEEP_BACKUPS);
    for old in backups.into_iter().take(excess) {
        let _ = std::fs::remove_file(old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const JSON: Format = Format::Json { key: "mcpServers" };

    fn entry() -> Value {
        json!({"command": "/opt/coda-mcp", "args": ["stdio"]})
    }

    fn set() -> Change {
        Change::Set(entry())
    }

    use crate::clients::tempdir;

    #[test]
    fn creates_a_missing_file_with_our_entry() {
        let dir = tempdir();
        let path = dir.join("Claude/claude_desktop_config.json");
        let out = apply(&path, JSON, "coda", &set(), false).unwrap();
        assert!(out.backup.is_none() && !out.replaced);
        let written: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(written["mcpServers"]["coda"], entry());
    }

    #[test]
    fn merges_keeps_other_servers_backs_up_and_removes_again() {
        let dir = tempdir();
        let path = dir.join("claude_desktop_config.json");
        let original = r#"{"theme":"dark","mcpServers":{"files":{"command":"npx","args":["fs"]}}}"#;
        std::fs::write(&path, original).unwrap();
        let out = apply(&path, JSON, "coda", &set(), false).unwrap();
        let backup = out.backup.expect("a backup");
        assert_eq!(std::fs::read_to_string(&backup).unwrap(), original);
        let written: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(written["theme"], "dark");
        assert_eq!(written["mcpServers"]["files"]["command"], "npx");
        assert_eq!(written["mcpServers"]["coda"]["args"][0], "stdio");
        // Connecting again changes nothing and makes no second backup.
        let again = apply(&path, JSON, "coda", &set(), false).unwrap();
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
        // Removing takes our entry out and nothing else.
        let removed = apply(&path, JSON, "coda", &Change::Remove, false).unwrap();
        assert!(removed.replaced && removed.backup.is_some());
        let written: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(written["mcpServers"]["files"]["command"], "npx");
        assert!(written["mcpServers"].get("coda").is_none());
        let nothing = apply(&path, JSON, "coda", &Change::Remove, false).unwrap();
        assert!(nothing.unchanged && !nothing.replaced && nothing.backup.is_none());
    }

    #[test]
    fn only_the_newest_backups_are_kept() {
        let dir = tempdir();
        let path = dir.join("mcp.json");
        std::fs::write(&path, "{}").unwrap();
        for i in 0..(KEEP_BACKUPS + 3) {
            let entry = json!({"command": format!("/opt/{i}"), "args": ["stdio"]});
            apply(&path, JSON, "coda", &Change::Set(entry), false).unwrap();
        }
        let mut backups: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("mcp.json.bak-"))
            .collect();
        backups.sort();
        assert_eq!(backups.len(), KEEP_BACKUPS, "{backups:?}");
        // The newest backup holds the file as it was before the last change.
        let newest = std::fs::read_to_string(dir.join(backups.last().unwrap())).unwrap();
        assert!(
            newest.contains(&format!("/opt/{}", KEEP_BACKUPS + 1)),
            "{newest}"
        );
    }

    #[test]
    fn refuses_invalid_files_and_leaves_them_alone() {
        let dir = tempdir();
        let path = dir.join("claude_desktop_config.json");
        std::fs::write(&path, "{\"mcpServers\": {").unwrap();
        let err = apply(&path, JSON, "coda", &set(), false).unwrap_err();
        assert!(matches!(err, ConnectError::Invalid { .. }), "{err}");
        assert!(err.to_string().contains("is not valid JSON"));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"mcpServers\": {"
        );
        std::fs::write(&path, r#"{"mcpServers": []}"#).unwrap();
        let err = apply(&path, JSON, "coda", &Change::Remove, false).unwrap_err();
        assert!(err
            .to_string()
            .contains("\"mcpServers\" is not a JSON object"));
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no backup, no temp file"
        );
    }

    #[test]
    fn dry_run_writes_nothing() {
        let dir = tempdir();
        let path = dir.join("c.json");
        std::fs::write(&path, "{}").unwrap();
        let out = apply(&path, JSON, "coda", &set(), true).unwrap();
        assert!(out.content.contains("\"coda\""));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn the_config_and_its_backup_stay_private() {
        let mode = |p: &Path| crate::private::mode_of(p).unwrap();
        let dir = tempdir();
        // A new file is the person's only.
        let fresh = dir.join("new/claude_desktop_config.json");
        apply(&fresh, JSON, "coda", &set(), false).unwrap();
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
        let out = apply(&path, JSON, "coda", &set(), false).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&out.backup.unwrap()), 0o600);
        // A mode the person chose is kept as it was.
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o640))
            .unwrap();
        let elsewhere = json!({"command": "/elsewhere", "args": ["stdio", "--demo"]});
        apply(&path, JSON, "coda", &Change::Set(elsewhere), false).unwrap();
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
        let out = apply(&link, JSON, "coda", &set(), false).unwrap();
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
        assert!(apply(&dangling, JSON, "coda", &set(), false).is_err());
        assert!(std::fs::symlink_metadata(&dangling)
            .unwrap()
            .file_type()
            .is_symlink());
    }
}
