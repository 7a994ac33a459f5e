//! How other processes of the same person find the running server: `serve` (and the desktop
//! app) write `server.json` — URL, process ID, mode; never a secret — into the data
//! directory while they run, and `coda-mcp stdio` reads it to bridge to that server.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file's name inside the data directory.
pub const FILE_NAME: &str = "server.json";

/// What a running server announces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuntimeInfo {
    /// The MCP endpoint on loopback, e.g. `http://127.0.0.1:8080/mcp`.
    pub mcp_url: String,
    /// The server's process.
    pub pid: u32,
    /// Whether it serves the demo workspace.
    pub demo: bool,
    /// Whether it runs without authentication (`--no-auth`).
    pub no_auth: bool,
}

/// The app's data directory: `CODA_MCP_DATA_DIR`, else the OS's
/// (`~/.local/share/coda-mcp-desktop` on Linux).
pub fn data_root() -> Option<PathBuf> {
    match std::env::var_os("CODA_MCP_DATA_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir)),
        None => dirs::data_dir().map(|d| d.join("coda-mcp-desktop")),
    }
}

/// Announces a server until the returned guard is dropped.
pub fn announce(root: &Path, info: &RuntimeInfo) -> std::io::Result<Announcement> {
    crate::private::create_dir(root)?;
    let path = root.join(FILE_NAME);
    crate::private::write_atomically(
        &path,
        &serde_json::to_vec_pretty(info).expect("JSON"),
        crate::private::FILE_MODE,
    )?;
    Ok(Announcement {
        path,
        pid: info.pid,
    })
}

/// The running server announced in `root`, if the file is there and readable. (Whether it
/// still answers is for the caller to check.)
pub fn discover(root: &Path) -> Option<RuntimeInfo> {
    let bytes = std::fs::read(root.join(FILE_NAME)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Removes the announcement when the server stops — unless another server has replaced it.
#[derive(Debug)]
pub struct Announcement {
    path: PathBuf,
    pid: u32,
}

impl Drop for Announcement {
    fn drop(&mut self) {
        let ours = std::fs::read(&self.path)
            .ok()
            .and_then(|b| serde_json::from_slice::<RuntimeInfo>(&b).ok())
            .is_some_and(|info| info.pid == self.pid);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announce_discover_and_clean_up() {
        let root = std::env::temp_dir().join(format!("coda-mcp-rt-{}", uuid::Uuid::new_v4()));
        let info = RuntimeInfo {
            mcp_url: "http://127.0.0.1:1/mcp".into(),
            pid: 42,
            demo: true,
            no_auth: false,
        };
        let guard = announce(&root, &info).unwrap();
        assert_eq!(discover(&root), Some(info.clone()));
        // Another server took over: dropping our guard leaves its file alone.
        let other = RuntimeInfo { pid: 43, ..info };
        let other_guard = announce(&root, &other).unwrap();
        drop(guard);
        assert_eq!(discover(&root), Some(other));
        drop(other_guard);
        assert_eq!(discover(&root), None);
    }
}
