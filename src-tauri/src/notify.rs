//! Desktop notifications, only where a person would want one: the public URL changed (the
//! schema in ChatGPT, or the connector, must be updated), the tunnel failed for good, an app
//! waits for the owner's approval (OAuth). [`worth_telling`] decides from two statuses without
//! any GUI type, so it is tested without a display; [`send`] shows it.

use coda_mcp::tunnel::TunnelState;
use tauri::AppHandle;
use tauri_plugin_notification::NotificationExt;

use crate::core::{is_oauth_notice, Status};

/// One notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// Its title.
    pub title: &'static str,
    /// What happened and what to do.
    pub body: String,
}

/// What changed from `before` to `after` that deserves a notification, if anything.
pub fn worth_telling(before: &Status, after: &Status) -> Option<Notice> {
    if let TunnelState::Failed { error } = &after.tunnel {
        if !matches!(before.tunnel, TunnelState::Failed { .. }) {
            return Some(Notice {
                title: "Tunnel stopped",
                body: format!("ChatGPT cannot reach Coda MCP: {error}"),
            });
        }
    }
    match &after.notice {
        Some(notice) if before.notice.as_ref() != Some(notice) => Some(Notice {
            title: if is_oauth_notice(notice) {
                "An app asks to connect"
            } else {
                "Public URL changed"
            },
            body: notice.clone(),
        }),
        _ => None,
    }
}

/// Shows `notice` (silently nothing where the desktop has no notification service).
pub fn send(app: &AppHandle, notice: &Notice) {
    if let Err(e) = app
        .notification()
        .builder()
        .title(notice.title)
        .body(&notice.body)
        .show()
    {
        tracing::debug!(error = %e, "could not show a notification");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{oauth_request_notice, url_changed_notice};

    #[test]
    fn only_what_needs_the_person_is_told_and_only_once() {
        let idle = Status::default();
        assert_eq!(worth_telling(&idle, &idle), None);
        let moved = Status {
            notice: Some(url_changed_notice("https://b.ngrok.app")),
            ..Status::default()
        };
        let told = worth_telling(&idle, &moved).unwrap();
        assert_eq!(told.title, "Public URL changed");
        assert!(told.body.contains("https://b.ngrok.app"));
        assert_eq!(worth_telling(&moved, &moved), None, "not twice");
        let asking = Status {
            notice: Some(oauth_request_notice("ChatGPT", "chatgpt.com")),
            ..Status::default()
        };
        assert_eq!(
            worth_telling(&idle, &asking).unwrap().title,
            "An app asks to connect"
        );
        let failed = Status {
            tunnel: TunnelState::Failed {
                error: "the authtoken was refused".into(),
            },
            ..Status::default()
        };
        let told = worth_telling(&idle, &failed).unwrap();
        assert!(told.body.contains("authtoken was refused"), "{told:?}");
        assert_eq!(worth_telling(&failed, &failed), None);
        // Retrying is not failing for good.
        let retrying = Status {
            tunnel: TunnelState::Retrying {
                error: "offline".into(),
                attempt: 1,
                retry_in_ms: 2000,
            },
            ..Status::default()
        };
        assert_eq!(worth_telling(&idle, &retrying), None);
    }
}
