//! Files that are the person's alone. The data directory holds the audit history (tool
//! arguments, so row contents) and Claude's config may hold other servers' tokens: the
//! directory is `0700`, the files `0600` (or the mode the person gave an existing file), and
//! every rewrite goes through a temporary file created exclusively (never one an attacker
//! placed or linked beforehand) that is then renamed over the original.
//!
//! On systems without Unix modes these are plain writes (the OS keeps a user's profile to
//! the user).

use std::io::Write;
use std::path::{Path, PathBuf};

/// The mode of files only their owner reads and writes.
pub const FILE_MODE: u32 = 0o600;
/// The mode of directories only their owner enters.
pub const DIR_MODE: u32 = 0o700;

/// Creates `dir` (and its parents) and makes `dir` itself private.
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    set_mode(dir, DIR_MODE)
}

/// Gives `path` the private file mode, if it exists.
pub fn restrict(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => set_mode(path, FILE_MODE),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Makes ready a database file (and its directory) that only the person may read, before
/// SQLite opens it: created `0600` when new, an existing one (and its WAL and shared-memory
/// files, which SQLite gives the database's own mode) restricted.
pub fn prepare_database(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_dir(dir)?;
    }
    if std::fs::symlink_metadata(path).is_err() {
        drop(create_new(path, FILE_MODE)?);
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        restrict(Path::new(&p))?;
    }
    Ok(())
}

/// The permission bits of an existing file (`None` when it does not exist, or off Unix).
pub fn mode_of(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Writes `bytes` to `path` atomically with `mode`: a sibling temporary file created
/// exclusively with that mode, flushed to disk, then renamed over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut file = create_new(&tmp, mode)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Creates a new file with `mode`, refusing one that exists (or a link where it would be).
pub fn create_new(path: &Path, mode: u32) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    let file = options.open(path)?;
    // The umask may have taken bits away, never added them; make the mode exact.
    set_mode(path, mode)?;
    Ok(file)
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "coda-mcp-private-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn directories_and_files_are_private() {
        let dir = tempdir().join("data");
        create_dir(&dir).unwrap();
        assert_eq!(mode_of(&dir), Some(0o700));
        let file = dir.join("f.json");
        write_atomically(&file, b"{}", FILE_MODE).unwrap();
        assert_eq!(mode_of(&file), Some(0o600));
        assert_eq!(std::fs::read(&file).unwrap(), b"{}");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn a_planted_temporary_file_is_never_written_through() {
        let dir = tempdir();
        let planted = dir.join("planted");
        std::fs::write(&planted, b"attacker").unwrap();
        std::os::unix::fs::symlink(&planted, dir.join("link")).unwrap();
        assert!(create_new(&dir.join("link"), FILE_MODE).is_err());
        assert_eq!(std::fs::read(&planted).unwrap(), b"attacker");
    }
}
