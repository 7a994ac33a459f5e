//! Updating the app: looks for a newer version at the update URL the person set (Settings;
//! none by default, until a release URL exists), and installs it only when its signature
//! matches the public key built into this app (`CODA_MCP_UPDATE_PUBKEY` at build time, a
//! minisign key made with `tauri signer generate`; a build without one never updates itself).
//! The check, the download and the signature are tauri-plugin-updater's; the Debian package is
//! installed with `dpkg -i` (directly as root, else through `pkexec`), the other bundles by the
//! plugin. Then the app restarts into the new version, keeping settings, keychain entries and
//! history (they live outside the package). A bad signature, an older or equal version, or an
//! unreachable server change nothing and say why.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tauri::{AppHandle, Manager};
use tauri_plugin_updater::UpdaterExt;
use tokio::sync::Mutex;

use crate::core::AppCore;

/// The public key updates must be signed with, built in (base64 of the minisign public key).
pub const PUBKEY: Option<&str> = option_env!("CODA_MCP_UPDATE_PUBKEY");

/// How often the app looks again while it runs.
pub const CHECK_EVERY: Duration = Duration::from_secs(6 * 3600);

/// Where updating stands, for the tray and the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum UpdateState {
    /// Not looking: no update URL is set (or this build has no key); `why` says which.
    #[default]
    Off,
    /// Asking the update server.
    Checking,
    /// The newest version is this one (or an older one was offered and ignored).
    UpToDate { version: String },
    /// A newer version can be installed.
    Available {
        version: String,
        notes: Option<String>,
    },
    /// Downloading it: bytes so far, and the total when the server says it.
    Downloading {
        version: String,
        received: u64,
        total: Option<u64>,
    },
    /// Installing it; the app restarts next.
    Installing { version: String },
    /// The last check or install failed; nothing was changed.
    Failed { error: String },
}

impl UpdateState {
    /// The tray's item for this state.
    pub fn menu_label(&self) -> String {
        match self {
            UpdateState::Available { version, .. } => format!("Update to {version}"),
            UpdateState::Downloading {
                received,
                total: Some(total),
                ..
            } if *total > 0 => format!("Downloading the update… {}%", received * 100 / total),
            UpdateState::Downloading { .. } => "Downloading the update…".into(),
            UpdateState::Installing { version } => format!("Installing {version}…"),
            UpdateState::Checking => "Checking for updates…".into(),
            _ => "Check for updates".into(),
        }
    }
}

/// The update found by the last check, kept for "Update to X.Y.Z".
#[derive(Default)]
pub struct Pending(Mutex<Option<tauri_plugin_updater::Update>>);

/// Why the app cannot look for updates, if it cannot.
pub fn cannot_check(update_url: Option<&str>, pubkey: Option<&str>) -> Option<&'static str> {
    match (update_url, pubkey) {
        (None, _) => Some("no update URL is set (Settings → Update manifest URL)"),
        (Some(_), None) => {
            Some("this build has no update key: updates come from your package manager")
        }
        _ => None,
    }
}

/// Says what went wrong, in words that say what to do.
fn explain(e: &tauri_plugin_updater::Error) -> String {
    use tauri_plugin_updater::Error as E;
    match e {
        E::Minisign(_) | E::Base64(_) | E::SignatureUtf8(_) => {
            format!("the update's signature does not match this app's key, so it was not installed ({e})")
        }
        E::SignedVersionMismatch { signed, announced } => format!(
            "the update server announced {announced}, but the package is signed as {signed}, so it was not installed (an older release offered as a newer one)"
        ),
        E::MissingSignedVersion => "the update's signature does not name its version, so it was not installed (sign it with --app-version)".into(),
        E::Reqwest(_) | E::Network(_) => format!("could not reach the update server: {e}"),
        E::ReleaseNotFound => "the update server answered, but not with an update manifest".into(),
        E::InsecureTransportProtocol => {
            "the update URL must be https:// (this is a release build)".into()
        }
        other => other.to_string(),
    }
}

/// Looks for a newer version; the status says what was found.
pub async fn check(app: &AppHandle, core: &Arc<AppCore>) {
    let url = core.settings().update_url;
    if let Some(why) = cannot_check(url.as_deref(), PUBKEY) {
        tracing::debug!("not looking for updates: {why}");
        core.set_update(UpdateState::Off);
        return;
    }
    let (Some(url), Some(key)) = (url, PUBKEY) else {
        return;
    };
    core.set_update(UpdateState::Checking);
    let found = async {
        let endpoint =
            url::Url::parse(&url).map_err(|e| format!("the update URL is not a URL: {e}"))?;
        let updater = app
            .updater_builder()
            .endpoints(vec![endpoint])
            .map_err(|e| explain(&e))?
            .pubkey(key)
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| explain(&e))?;
        updater.check().await.map_err(|e| explain(&e))
    }
    .await;
    let pending = app.state::<Pending>();
    let mut slot = pending.0.lock().await;
    let state = match found {
        Ok(Some(update)) => {
            tracing::info!(version = %update.version, "an update is available");
            let state = UpdateState::Available {
                version: update.version.clone(),
                notes: update.body.clone(),
            };
            *slot = Some(update);
            state
        }
        Ok(None) => {
            *slot = None;
            UpdateState::UpToDate {
                version: app.package_info().version.to_string(),
            }
        }
        Err(error) => {
            tracing::warn!(%error, "looking for updates failed");
            *slot = None;
            UpdateState::Failed { error }
        }
    };
    core.set_update(state);
}

/// Downloads the update found by the last check, checks its signature, installs it and
/// restarts the app into it. Returns only when something failed (the status says what).
pub async fn install(app: &AppHandle, core: &Arc<AppCore>) -> Result<(), String> {
    let Some(update) = app.state::<Pending>().0.lock().await.clone() else {
        return Err("no update is waiting: check for updates first".into());
    };
    let version = update.version.clone();
    let fail = |error: String| {
        tracing::warn!(%error, "the update was not installed");
        core.set_update(UpdateState::Failed {
            error: error.clone(),
        });
        error
    };
    let mut received = 0u64;
    let progress_core = core.clone();
    let progress_version = version.clone();
    // `download` checks the signature against the built-in key before it returns the bytes.
    let bytes = update
        .download(
            move |chunk, total| {
                let before = received;
                received += chunk as u64;
                // Thousands of chunks: the status (and the tray) follow whole steps only.
                if progress_step(before, received, total) {
                    progress_core.set_update(UpdateState::Downloading {
                        version: progress_version.clone(),
                        received,
                        total,
                    });
                }
            },
            || {},
        )
        .await
        .map_err(|e| fail(explain(&e)))?;
    core.set_update(UpdateState::Installing {
        version: version.clone(),
    });
    tracing::info!(%version, "installing the update");
    let installed = match tauri::utils::platform::bundle_type() {
        Some(tauri::utils::config::BundleType::Deb) => install_deb(&bytes, &version).await,
        _ => update.install(&bytes).map_err(|e| explain(&e)),
    };
    installed.map_err(fail)?;
    // Stop the server cleanly (sessions end, history is flushed) before the new version runs.
    core.stop().await;
    tracing::info!(%version, "update installed; restarting");
    app.restart();
}

/// Whether a download that went from `before` to `now` bytes (of `total`, if known) moved on
/// far enough to say so: a whole percent, or without a total a whole MiB. The first chunk
/// always counts (the download has started).
fn progress_step(before: u64, now: u64, total: Option<u64>) -> bool {
    match total.filter(|t| *t > 0) {
        _ if before == 0 => true,
        Some(total) => before * 100 / total != now * 100 / total,
        None => before >> 20 != now >> 20,
    }
}

/// Installs a verified Debian package: `dpkg -i` as root, else through `pkexec` (the desktop's
/// password prompt). The signature (checked by the plugin, with `requireSignedVersion`) binds
/// the announced version; the package must also say that version itself and be newer than
/// the installed one in dpkg's own terms, so no signed older package is ever installed. It is
/// kept in a directory created exclusively with a random name (0700), as a 0600 file.
async fn install_deb(bytes: &[u8], version: &str) -> Result<(), String> {
    let dir =
        private_download_dir().map_err(|e| format!("cannot keep the downloaded package: {e}"))?;
    let path = dir.join("coda-mcp-desktop-update.deb");
    let outcome = async {
        write_private(&path, bytes)
            .map_err(|e| format!("cannot keep the downloaded package: {e}"))?;
        check_deb_version(&path, version).await?;
        dpkg_install(&path).await
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

/// The package's own version is the one announced and signed, and newer than what is installed.
async fn check_deb_version(path: &std::path::Path, version: &str) -> Result<(), String> {
    let field = tokio::process::Command::new("dpkg-deb")
        .args(["-f"])
        .arg(path)
        .arg("Version")
        .output()
        .await
        .map_err(|e| format!("cannot read the package's version: {e}"))?;
    let inside = String::from_utf8_lossy(&field.stdout).trim().to_owned();
    if !field.status.success() || inside.is_empty() {
        return Err("the download is not a Debian package with a version".into());
    }
    if inside != version.trim_start_matches('v') {
        return Err(format!(
            "the package is version {inside}, not the {version} announced: not installed"
        ));
    }
    let installed = tokio::process::Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", "coda-mcp-desktop"])
        .output()
        .await
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|v| !v.is_empty());
    if let Some(installed) = installed {
        let newer = tokio::process::Command::new("dpkg")
            .args(["--compare-versions", &inside, "gt", &installed])
            .status()
            .await
            .map_err(|e| format!("cannot compare versions: {e}"))?;
        if !newer.success() {
            return Err(format!(
                "the package ({inside}) is not newer than the installed {installed}: not installed"
            ));
        }
    }
    Ok(())
}

/// The PATH dpkg runs with: the system folders in the usual order, whatever ours was.
const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

async fn dpkg_install(path: &std::path::Path) -> Result<(), String> {
    let mut command = if is_root() {
        tokio::process::Command::new("dpkg")
    } else {
        let mut c = tokio::process::Command::new("pkexec");
        c.arg("dpkg");
        c
    };
    let out = command
        .arg("-i")
        .arg(path)
        .env("DEBIAN_FRONTEND", "noninteractive")
        // dpkg needs ldconfig and start-stop-daemon from the sbin folders, which a desktop
        // session's PATH often lacks (Debian's default for users, and services started with
        // a bare environment): dpkg refuses to run at all without them.
        .env("PATH", SYSTEM_PATH)
        .output()
        .await
        .map_err(|e| format!("cannot run dpkg: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "dpkg could not install the update ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A new directory for the download: a random name nobody can have prepared, created
/// exclusively (it fails if anything is there), readable by this user only.
fn private_download_dir() -> std::io::Result<std::path::PathBuf> {
    let name = coda_mcp::secrets::random_token("coda-mcp-desktop-update-");
    let dir = std::env::temp_dir().join(name.expose());
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(&dir)?;
    Ok(dir)
}

/// Writes a new 0600 file (never an existing one).
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn is_root() -> bool {
    #[cfg(unix)]
    {
        std::fs::metadata("/proc/self")
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// Looks now, and again every [`CHECK_EVERY`] while the app runs.
pub fn watch(app: AppHandle, core: Arc<AppCore>) {
    tauri::async_runtime::spawn(async move {
        loop {
            check(&app, &core).await;
            tokio::time::sleep(CHECK_EVERY).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_download_reports_whole_steps_only() {
        let total = 58_731_932u64;
        let mut received = 0u64;
        let mut told = 0;
        while received < total {
            let before = received;
            received = (received + 16_384).min(total);
            told += usize::from(progress_step(before, received, Some(total)));
        }
        assert!(
            (100..=101).contains(&told),
            "{told} reports for 3,585 chunks"
        );
        let mut told = 0;
        for i in 0..3_585u64 {
            told += usize::from(progress_step(i * 16_384, (i + 1) * 16_384, None));
        }
        assert!((56..=57).contains(&told), "{told} reports without a total");
    }

    #[cfg(unix)]
    #[test]
    fn downloads_go_to_a_new_private_directory_as_a_private_file() {
        use std::os::unix::fs::PermissionsExt;
        let a = private_download_dir().unwrap();
        let b = private_download_dir().unwrap();
        assert_ne!(a, b, "a random name each time");
        assert_eq!(
            std::fs::metadata(&a).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let name = a.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with("coda-mcp-desktop-update-") && name.len() > 40,
            "{name}"
        );
        // Nothing already there is ever used: not a directory, not a file (a planted link).
        let package = a.join("coda-mcp-desktop-update.deb");
        write_private(&package, b"x").unwrap();
        assert_eq!(
            std::fs::metadata(&package).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(
            write_private(&package, b"y").is_err(),
            "an existing file is never written"
        );
        std::os::unix::fs::symlink("/etc/passwd", b.join("coda-mcp-desktop-update.deb")).unwrap();
        assert!(write_private(&b.join("coda-mcp-desktop-update.deb"), b"z").is_err());
        for dir in [a, b] {
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    #[test]
    fn the_menu_and_the_reasons_say_what_is_going_on() {
        assert_eq!(
            UpdateState::Available {
                version: "0.2.0".into(),
                notes: None
            }
            .menu_label(),
            "Update to 0.2.0"
        );
        assert_eq!(
            UpdateState::Downloading {
                version: "0.2.0".into(),
                received: 50,
                total: Some(200)
            }
            .menu_label(),
            "Downloading the update… 25%"
        );
        assert_eq!(UpdateState::Off.menu_label(), "Check for updates");
        assert!(cannot_check(None, Some("k"))
            .unwrap()
            .contains("no update URL"));
        assert!(cannot_check(Some("https://x/latest.json"), None)
            .unwrap()
            .contains("no update key"));
        assert_eq!(cannot_check(Some("https://x/latest.json"), Some("k")), None);
        let json = serde_json::to_value(UpdateState::Available {
            version: "0.2.0".into(),
            notes: Some("fixes".into()),
        })
        .unwrap();
        assert_eq!(json["state"], "available");
        assert_eq!(json["version"], "0.2.0");
    }
}
