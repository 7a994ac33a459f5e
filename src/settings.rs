//! The desktop app's settings: a small JSON file in the OS config directory
//! (`~/.config/coda-mcp-desktop/settings.json` on Linux). Never a secret: tokens and keys
//! live in the keychain.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Which tunnel the server opens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelKind {
    /// An ngrok HTTPS tunnel: a public URL (ChatGPT, Claude, any client; OAuth or the key).
    #[default]
    Ngrok,
    /// OpenAI's Secure MCP Tunnel: no public URL; only ChatGPT, through the person's own
    /// OpenAI organisation.
    Openai,
}

impl std::str::FromStr for TunnelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ngrok" => Ok(TunnelKind::Ngrok),
            "openai" => Ok(TunnelKind::Openai),
            other => Err(format!("unknown tunnel {other:?}: ngrok or openai")),
        }
    }
}

/// What the person can set in the app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Loopback port of the MCP server (0 picks a free one each launch).
    pub port: u16,
    /// Start the server when the app starts.
    pub start_server_on_launch: bool,
    /// Open the ngrok tunnel when the server starts.
    pub tunnel_on_launch: bool,
    /// Offer only tools that read.
    pub read_only: bool,
    /// Seconds of inactivity after which an MCP session ends.
    pub session_idle_timeout_s: u64,
    /// Serve the built-in demo workspace instead of the person's Coda account.
    pub demo: bool,
    /// The person's reserved ngrok domain (keeps ChatGPT's schema valid across restarts).
    pub ngrok_domain: Option<String>,
    /// Which tunnel opens: ngrok (a public URL) or OpenAI's Secure MCP Tunnel.
    pub tunnel_provider: TunnelKind,
    /// The OpenAI tunnel's id (`tunnel_…`, not a secret; its API key is in the keychain).
    pub openai_tunnel_id: Option<String>,
    /// Start the app when the person logs in.
    pub launch_at_login: bool,
    /// Whether first-run setup was completed or skipped.
    pub first_run_done: bool,
    /// Days of tool-call history kept in the audit database (older calls are pruned).
    pub audit_retention_days: u32,
    /// Accept a caller's own Coda token (pass-through) through the tunnel too, not only on
    /// this machine. Off by default: with the tunnel up, anyone with a Coda account could
    /// otherwise use the server.
    pub pass_through_on_tunnel: bool,
    /// Where the desktop app looks for a newer version (an update manifest); none: it never
    /// looks (the default until a release URL exists; a package manager updates it instead).
    pub update_url: Option<String>,
    /// Which tools the server offers, by toolset (`core` unless the person chooses more).
    pub toolsets: crate::toolsets::Toolsets,
    /// Offer MCP Apps views (tables, docs and pages shown inside the conversation) to the
    /// clients that can show them.
    pub views: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            port: crate::defaults::PORT,
            start_server_on_launch: true,
            tunnel_on_launch: false,
            read_only: false,
            session_idle_timeout_s: crate::defaults::SESSION_IDLE_TIMEOUT_S,
            demo: false,
            ngrok_domain: None,
            tunnel_provider: Default::default(),
            openai_tunnel_id: None,
            launch_at_login: false,
            first_run_done: false,
            audit_retention_days: crate::defaults::AUDIT_DAYS,
            pass_through_on_tunnel: false,
            update_url: None,
            toolsets: crate::toolsets::Toolsets::default_for_clients(),
            views: true,
        }
    }
}

/// Why settings could not be read, checked or written.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file or the submitted value is not valid settings JSON.
    #[error("invalid settings: {0}")]
    Invalid(String),
    /// Reading or writing failed.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
}

impl Settings {
    /// Where the app keeps them: `CODA_MCP_CONFIG_DIR`, else the OS config directory.
    pub fn default_path() -> Option<PathBuf> {
        let dir = match std::env::var_os("CODA_MCP_CONFIG_DIR").filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => dirs::config_dir()?.join("coda-mcp-desktop"),
        };
        Some(dir.join("settings.json"))
    }

    /// Reads them; a missing file means the defaults.
    pub fn load(path: &Path) -> Result<Settings, SettingsError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let settings: Settings = serde_json::from_slice(&bytes)
                    .map_err(|e| SettingsError::Invalid(format!("{}: {e}", path.display())))?;
                settings.check()?;
                Ok(settings)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(e) => Err(SettingsError::Io(path.to_owned(), e)),
        }
    }

    /// Checks values a person could get wrong.
    pub fn check(&self) -> Result<(), SettingsError> {
        if !(10..=86_400).contains(&self.session_idle_timeout_s) {
            return Err(SettingsError::Invalid(
                "session_idle_timeout_s must be between 10 and 86400 seconds".into(),
            ));
        }
        if !(1..=3_650).contains(&self.audit_retention_days) {
            return Err(SettingsError::Invalid(
                "audit_retention_days must be between 1 and 3650 days".into(),
            ));
        }
        if let Some(d) = &self.ngrok_domain {
            let ok = !d.is_empty()
                && d.len() <= 253
                && d.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
            if !ok {
                return Err(SettingsError::Invalid(format!(
                    "ngrok_domain {d:?} is not a domain name (e.g. coda-me.ngrok.app)"
                )));
            }
        }
        if let Some(url) = &self.update_url {
            let ok = url::Url::parse(url)
                .is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.host_str().is_some());
            if !ok {
                return Err(SettingsError::Invalid(format!(
                    "update_url {url:?} is not an http(s) URL of an update manifest"
                )));
            }
        }
        Ok(())
    }

    /// Writes them atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), SettingsError> {
        self.check()?;
        let io = |e| SettingsError::Io(path.to_owned(), e);
        if let Some(dir) = path.parent() {
            crate::private::create_dir(dir).map_err(io)?;
        }
        crate::private::write_atomically(
            path,
            &serde_json::to_vec_pretty(self).expect("JSON"),
            crate::private::FILE_MODE,
        )
        .map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_defaults_and_refusals() {
        let dir = std::env::temp_dir().join(format!("coda-mcp-settings-{}", uuid::Uuid::new_v4()));
        let path = dir.join("settings.json");
        assert_eq!(Settings::load(&path).unwrap(), Settings::default());
        let s = Settings {
            port: 0,
            demo: true,
            ngrok_domain: Some("coda-me.ngrok.app".into()),
            ..Settings::default()
        };
        s.save(&path).unwrap();
        assert_eq!(Settings::load(&path).unwrap(), s);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("token") && !text.contains("cmk_"));
        std::fs::write(&path, r#"{"port": 8080, "colour": "blue"}"#).unwrap();
        assert!(Settings::load(&path)
            .unwrap_err()
            .to_string()
            .contains("colour"));
        let bad = Settings {
            ngrok_domain: Some("https://x/".into()),
            ..Settings::default()
        };
        assert!(bad.save(&path).is_err());
        // The update URL: off by default, an http(s) URL when set.
        assert_eq!(Settings::default().update_url, None);
        for (url, ok) in [
            ("https://example.com/latest.json", true),
            ("ftp://x/latest.json", false),
            ("latest.json", false),
        ] {
            let s = Settings {
                update_url: Some(url.into()),
                ..Settings::default()
            };
            assert_eq!(s.check().is_ok(), ok, "{url}");
        }
        // An older file without the retention gets the default; a silly one is refused.
        std::fs::write(&path, r#"{"port": 9000}"#).unwrap();
        assert_eq!(Settings::load(&path).unwrap().audit_retention_days, 30);
        let kept = Settings {
            audit_retention_days: 7,
            ..Settings::default()
        };
        kept.save(&path).unwrap();
        assert_eq!(Settings::load(&path).unwrap().audit_retention_days, 7);
        for days in [0, 10_000] {
            let bad = Settings {
                audit_retention_days: days,
                ..Settings::default()
            };
            assert!(bad
                .save(&path)
                .unwrap_err()
                .to_string()
                .contains("audit_retention_days"));
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
