//! How other processes of the same person find the running servers: `serve` (and the desktop
//! app) announce themselves — URL, process ID, mode; never a secret — in the data directory
//! while they run, and `coda-mcp stdio` and `coda-mcp key rotate` read the announcements.
//!
//! Each server has a file of its own, `servers/<pid>.json`, so two servers sharing a data
//! directory never overwrite or delete each other's; `server.json` names the newest one still
//! running (for people and scripts), and is handed back to the previous one when it stops.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The newest running server's announcement, inside the data directory.
pub const FILE_NAME: &str = "server.json";

/// The folder of per-server announcements, inside the data directory.
pub const SERVERS_DIR: &str = "servers";

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
    /// When it started (milliseconds since the Unix epoch): the newest is preferred.
    #[serde(default)]
    pub started_ms: u64,
}

/// The app's data directory: `CODA_MCP_DATA_DIR`, else the OS's
/// (`~/.local/share/coda-mcp-desktop` on Linux).
pub fn data_root() -> Option<PathBuf> {
    match std::env::var_os("CODA_MCP_DATA_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir)),
        None => dirs::data_dir().map(|d| d.join("coda-mcp-desktop")),
    }
}

/// Milliseconds since the Unix epoch, for [`RuntimeInfo::started_ms`].
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn own_file(root: &Path, pid: u32) -> PathBuf {
    root.join(SERVERS_DIR).join(format!("{pid}.json"))
}

fn write(path: &Path, info: &RuntimeInfo) -> std::io::Result<()> {
    crate::private::write_atomically(
        path,
        &serde_json::to_vec_pretty(info).expect("JSON"),
        crate::private::FILE_MODE,
    )
}

fn read(path: &Path) -> Option<RuntimeInfo> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Announces a server until the returned guard is dropped.
pub fn announce(root: &Path, info: &RuntimeInfo) -> std::io::Result<Announcement> {
    crate::private::create_dir(root)?;
    crate::private::create_dir(&root.join(SERVERS_DIR))?;
    let own = own_file(root, info.pid);
    write(&own, info)?;
    write(&root.join(FILE_NAME), info)?;
    Ok(Announcement {
        root: root.to_owned(),
        own,
        info: info.clone(),
    })
}

/// Every server announced in `root`, newest first (whether each still answers is for the
/// caller to check), leaving out (and removing) announcements of
/// processes that are gone. Also reads a lone `server.json` written by an older version.
pub fn discover_all(root: &Path) -> Vec<RuntimeInfo> {
    let mut found: Vec<RuntimeInfo> = std::fs::read_dir(root.join(SERVERS_DIR))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .filter_map(|e| {
                    let info = read(&e.path())?;
                    if process_is_gone(info.pid) {
                        let _ = std::fs::remove_file(e.path());
                        return None;
                    }
                    Some(info)
                })
                .collect()
        })
        .unwrap_or_default();
    if found.is_empty() {
        found.extend(read(&root.join(FILE_NAME)).filter(|i| !process_is_gone(i.pid)));
    }
    found.sort_by(|a, b| b.started_ms.cmp(&a.started_ms).then(b.pid.cmp(&a.pid)));
    found
}

/// Whether the process certainly no longer exists (only Linux can tell cheaply; elsewhere an
/// announcement is kept and the caller's health check decides).
fn process_is_gone(pid: u32) -> bool {
    cfg!(target_os = "linux")
        && pid != std::process::id()
        && Path::new("/proc/self").exists()
        && !Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes the server's announcement when it stops, and hands `server.json` back to the newest
/// server still running (or removes it) — never touching another server's file.
#[derive(Debug)]
pub struct Announcement {
    root: PathBuf,
    own: PathBuf,
    info: RuntimeInfo,
}

impl Drop for Announcement {
    fn drop(&mut self) {
        // The same process may have announced again (the desktop app restarting its server):
        // only this announcement's own content is removed.
        if read(&self.own).as_ref() == Some(&self.info) {
            let _ = std::fs::remove_file(&self.own);
        }
        let main = self.root.join(FILE_NAME);
        if read(&main).as_ref() == Some(&self.info) {
            match discover_all(&self.root)
                .into_iter()
                .find(|i| *i != self.info)
            {
                Some(previous) => {
                    let _ = write(&main, &previous);
                }
                None => {
                    let _ = std::fs::remove_file(&main);
                }
            }
        }
    }
}

// ---- Is an announced server alive, and on this machine?

/// A client for loopback calls: short timeouts, never through a proxy.
pub(crate) fn client() -> Option<reqwest::Client> {
    crate::coda::tls::ready();
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(2))
        .no_proxy()
        .build()
        .ok()
}

/// `path` on the server whose MCP endpoint is `mcp_url` (built from segments, never by
/// editing strings).
pub(crate) fn beside(mcp_url: &str, path: &str) -> Option<url::Url> {
    let mut url = url::Url::parse(mcp_url).ok()?;
    url.set_path(path);
    url.set_query(None);
    url.set_fragment(None);
    Some(url)
}

/// Whether a Coda MCP server answers `/health` next to `mcp_url`.
pub async fn answers(mcp_url: &str) -> bool {
    let (Some(client), Some(health)) = (client(), beside(mcp_url, "/health")) else {
        return false;
    };
    match client.get(health).send().await {
        Ok(r) if r.status().is_success() => r
            .json::<serde_json::Value>()
            .await
            .is_ok_and(|v| v["status"] == "ok" && v.get("tools").is_some()),
        _ => false,
    }
}

/// Whether `url` names this machine (the bridge never sends the key anywhere else).
pub fn is_loopback_url(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| {
        u.scheme() == "http"
            && match u.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                None => false,
            }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(pid: u32, started_ms: u64) -> RuntimeInfo {
        RuntimeInfo {
            mcp_url: format!("http://127.0.0.1:{pid}/mcp"),
            pid,
            demo: true,
            no_auth: false,
            started_ms,
        }
    }

    #[test]
    fn two_servers_in_one_directory_keep_their_own_announcements() {
        let root = std::env::temp_dir().join(format!("coda-mcp-rt-{}", uuid::Uuid::new_v4()));
        // Two live processes stand for the two servers: init (PID 1) and this test.
        let me = std::process::id();
        let first = info(1, 1_000);
        let second = info(me, 2_000);
        let first_guard = announce(&root, &first).unwrap();
        let second_guard = announce(&root, &second).unwrap();
        assert_eq!(discover_all(&root), vec![second.clone(), first.clone()]);
        assert_eq!(read(&root.join(FILE_NAME)), Some(second.clone()));
        // The newest stops: the first is still found, and server.json names it again.
        drop(second_guard);
        assert_eq!(discover_all(&root), vec![first.clone()]);
        assert_eq!(read(&root.join(FILE_NAME)), Some(first.clone()));
        drop(first_guard);
        assert!(discover_all(&root).is_empty());
        assert!(!root.join(FILE_NAME).exists());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn the_first_to_stop_leaves_the_newer_server_announced() {
        let root = std::env::temp_dir().join(format!("coda-mcp-rt-{}", uuid::Uuid::new_v4()));
        let older = info(1, 1_000);
        let newer = info(std::process::id(), 2_000);
        let older_guard = announce(&root, &older).unwrap();
        let newer_guard = announce(&root, &newer).unwrap();
        drop(older_guard);
        assert_eq!(discover_all(&root), vec![newer.clone()]);
        assert_eq!(read(&root.join(FILE_NAME)), Some(newer));
        drop(newer_guard);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn announcements_of_processes_that_are_gone_are_dropped() {
        let root = std::env::temp_dir().join(format!("coda-mcp-rt-{}", uuid::Uuid::new_v4()));
        // A process that ran and exited: its PID is free (for the moment).
        let gone = std::process::Command::new("true")
            .spawn()
            .and_then(|mut c| c.wait().map(|_| c.id()))
            .unwrap();
        let crashed = info(gone, 3_000);
        crate::private::create_dir(&root).unwrap();
        crate::private::create_dir(&root.join(SERVERS_DIR)).unwrap();
        write(&own_file(&root, gone), &crashed).unwrap();
        write(&root.join(FILE_NAME), &crashed).unwrap();
        assert_eq!(discover_all(&root), vec![]);
        assert!(!own_file(&root, gone).exists(), "the stale file is removed");
        let _ = std::fs::remove_dir_all(&root);
    }
}
