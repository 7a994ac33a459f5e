//! The tray icon and its menu: every action is in the menu (Linux trays ignore clicks), and
//! the icon and labels follow the app's status (stopped, running, tunnel up, error).

use std::sync::Arc;

use coda_mcp::tunnel::TunnelState;
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Wry};
use tauri_plugin_autostart::ManagerExt as _;
use tauri_plugin_clipboard_manager::ClipboardExt;

use crate::core::{AppCore, Status};

const ICON_STOPPED: &[u8] = include_bytes!("../../icons/tray-stopped.png");
const ICON_RUNNING: &[u8] = include_bytes!("../../icons/tray-running.png");
const ICON_TUNNEL: &[u8] = include_bytes!("../../icons/tray-tunnel.png");
const ICON_ERROR: &[u8] = include_bytes!("../../icons/tray-error.png");

/// The menu items whose text or state changes.
struct Items {
    status: MenuItem<Wry>,
    server: MenuItem<Wry>,
    tunnel: MenuItem<Wry>,
    at_login: CheckMenuItem<Wry>,
}

/// The icon for a status.
pub fn icon_for(status: &Status) -> &'static [u8] {
    if status.error.is_some() || matches!(status.tunnel, TunnelState::Failed { .. }) {
        ICON_ERROR
    } else if matches!(status.tunnel, TunnelState::Up { .. }) {
        ICON_TUNNEL
    } else if status.running {
        ICON_RUNNING
    } else {
        ICON_STOPPED
    }
}

/// One line saying what the app is doing.
pub fn describe(status: &Status) -> String {
    if let Some(e) = &status.error {
        return format!("Error: {e}");
    }
    if !status.running {
        return "Server stopped".into();
    }
    let workspace = if status.demo { " (demo workspace)" } else { "" };
    let tunnel = match &status.tunnel {
        TunnelState::Up { url, .. } => format!(" · tunnel {url}"),
        TunnelState::Connecting { .. } => " · tunnel connecting…".into(),
        TunnelState::Retrying { .. } => " · tunnel down, retrying".into(),
        TunnelState::Failed { .. } => " · tunnel failed".into(),
        TunnelState::Off => String::new(),
    };
    format!(
        "Running at {}{workspace}{tunnel}",
        status.mcp_url.as_deref().unwrap_or("?")
    )
}

/// Builds the tray and keeps it in step with the status.
pub fn install(app: &AppHandle, core: Arc<AppCore>) -> tauri::Result<()> {
    let status = MenuItem::with_id(app, "status", "Starting…", false, None::<&str>)?;
    let server = MenuItem::with_id(app, "server", "Start server", true, None::<&str>)?;
    let tunnel = MenuItem::with_id(app, "tunnel", "Start tunnel", true, None::<&str>)?;
    let at_login = CheckMenuItem::with_id(
        app,
        "login",
        "Launch at login",
        true,
        core.settings().launch_at_login,
        None::<&str>,
    )?;
    let menu = Menu::with_items(
        app,
        &[
            &status,
            &PredefinedMenuItem::separator(app)?,
            &server,
            &tunnel,
            &MenuItem::with_id(app, "dashboard", "Open dashboard", true, None::<&str>)?,
            &PredefinedMenuItem::separator(app)?,
            &MenuItem::with_id(
                app,
                "schema",
                "Copy OpenAPI schema (for ChatGPT)",
                true,
                None::<&str>,
            )?,
            &MenuItem::with_id(app, "key", "Copy connection key", true, None::<&str>)?,
            &MenuItem::with_id(app, "claude", "Connect Claude Desktop", true, None::<&str>)?,
            &PredefinedMenuItem::separator(app)?,
            &MenuItem::with_id(app, "settings", "Settings…", true, None::<&str>)?,
            &at_login,
            &MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?,
        ],
    )?;
    let items = Arc::new(Items {
        status,
        server,
        tunnel,
        at_login,
    });
    let handler_core = core.clone();
    let handler_items = items.clone();
    let tray = TrayIconBuilder::with_id("main")
        .icon(Image::from_bytes(ICON_STOPPED)?)
        .tooltip("Coda MCP")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(move |app, event| {
            let core = handler_core.clone();
            let items = handler_items.clone();
            let app = app.clone();
            let id = event.id().as_ref().to_owned();
            tauri::async_runtime::spawn(async move { on_menu(&app, &core, &items, &id).await });
        })
        .build(app)?;
    let mut watch = core.watch();
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            let status = watch.borrow_and_update().clone();
            let _ = tray.set_icon(Image::from_bytes(icon_for(&status)).ok());
            let line = describe(&status);
            let _ = tray.set_tooltip(Some(format!("Coda MCP — {line}")));
            let _ = items.status.set_text(&line);
            let _ = items.server.set_text(if status.running {
                "Stop server"
            } else {
                "Start server"
            });
            let _ = items.tunnel.set_enabled(status.running);
            let _ = items
                .tunnel
                .set_text(if matches!(status.tunnel, TunnelState::Off) {
                    "Start tunnel"
                } else {
                    "Stop tunnel"
                });
            if watch.changed().await.is_err() {
                break;
            }
        }
        drop(app);
    });
    tracing::info!("tray ready");
    Ok(())
}

async fn on_menu(app: &AppHandle, core: &Arc<AppCore>, items: &Items, id: &str) {
    let result: Result<Option<String>, String> = match id {
        "server" => {
            if core.status().running {
                core.stop().await;
                Ok(None)
            } else {
                core.start().await.map(|_| None)
            }
        }
        "tunnel" => core.toggle_tunnel().await.map(|_| None),
        "dashboard" => open_dashboard(app, core, None).await.map(|_| None),
        "settings" => open_dashboard(app, core, Some("setup")).await.map(|_| None),
        "schema" => match core.actions_schema().await {
            Some(schema) => app
                .clipboard()
                .write_text(schema)
                .map(|_| {
                    Some("OpenAPI schema copied: paste it into ChatGPT's action editor".into())
                })
                .map_err(|e| e.to_string()),
            None => Err("start the server first".into()),
        },
        "key" => match core.connection_key().await {
            Some(key) => app
                .clipboard()
                .write_text(key.expose())
                .map(|_| Some("Connection key copied".into()))
                .map_err(|e| e.to_string()),
            None => Err("start the server first".into()),
        },
        "claude" => core.connect_claude().await.map(Some),
        "login" => {
            let want = items.at_login.is_checked().unwrap_or(false);
            let mut settings = core.settings();
            settings.launch_at_login = want;
            apply_launch_at_login(app, want);
            core.save_settings(&settings).map(|_| None)
        }
        "quit" => {
            core.stop().await;
            app.exit(0);
            Ok(None)
        }
        _ => Ok(None),
    };
    match result {
        Ok(Some(message)) => tell(app, &message),
        Ok(None) => {}
        Err(e) => tell(app, &format!("Could not do that: {e}")),
    }
}

/// Shows the dashboard window on the running server.
pub async fn open_dashboard(
    app: &AppHandle,
    core: &Arc<AppCore>,
    view: Option<&str>,
) -> Result<(), String> {
    let url = core.dashboard_url().await.ok_or("start the server first")?;
    crate::window::open(app, url.expose(), view).map_err(|e| e.to_string())
}

/// Turns launch-at-login on or off with the OS.
pub fn apply_launch_at_login(app: &AppHandle, on: bool) {
    let autostart = app.autolaunch();
    let result = if on {
        autostart.enable()
    } else {
        autostart.disable()
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not change launch at login");
    }
}

/// A short message: in the tray tooltip (menus cannot show toasts) and the log.
fn tell(app: &AppHandle, message: &str) {
    tracing::info!("{message}");
    if let Some(tray) = app.tray_by_id("main") {
        let _ = tray.set_tooltip(Some(format!("Coda MCP — {message}")));
    }
    let _ = app.get_webview_window(crate::window::LABEL).map(|w| {
        let text = serde_json::to_string(message).unwrap_or_default();
        w.eval(format!(
            "window.dispatchEvent(new CustomEvent('coda-mcp-desktop', {{detail: {text}}}))"
        ))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icon_and_line_follow_the_state() {
        let mut s = Status::default();
        assert_eq!(icon_for(&s), ICON_STOPPED);
        assert_eq!(describe(&s), "Server stopped");
        s.running = true;
        s.demo = true;
        s.mcp_url = Some("http://127.0.0.1:8080/mcp".into());
        assert_eq!(icon_for(&s), ICON_RUNNING);
        assert_eq!(
            describe(&s),
            "Running at http://127.0.0.1:8080/mcp (demo workspace)"
        );
        s.tunnel = TunnelState::Up {
            url: "https://x.ngrok.app".into(),
            latency_ms: None,
        };
        assert_eq!(icon_for(&s), ICON_TUNNEL);
        assert!(describe(&s).ends_with("· tunnel https://x.ngrok.app"));
        s.tunnel = TunnelState::Failed {
            error: "no ngrok authtoken".into(),
        };
        assert_eq!(icon_for(&s), ICON_ERROR);
        s = Status {
            error: Some("cannot listen on 127.0.0.1:8080: address in use".into()),
            ..Status::default()
        };
        assert_eq!(icon_for(&s), ICON_ERROR);
        assert!(describe(&s).starts_with("Error: cannot listen"));
    }
}
