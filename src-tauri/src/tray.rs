//! The tray icon and its menu: every action is in the menu (Linux trays ignore clicks), and
//! the icon and labels follow the app's status (stopped, running, tunnel up, error, "copy the
//! schema again"). What a menu item does is decided by [`decide`] over the app's core, without
//! any GUI type, so it is tested without a display; [`on_menu`] only carries out its [`Effect`]
//! (clipboard, window, exit).

use std::sync::Arc;

use coda_mcp::clients::{ClientId, Places};
use coda_mcp::tunnel::{TunnelKind, TunnelState};
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem, Submenu};
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
    notice: MenuItem<Wry>,
    server: MenuItem<Wry>,
    tunnel: MenuItem<Wry>,
    via_ngrok: CheckMenuItem<Wry>,
    via_openai: CheckMenuItem<Wry>,
    schema: MenuItem<Wry>,
    update: MenuItem<Wry>,
    at_login: CheckMenuItem<Wry>,
}

/// What the menu shows for a status.
#[derive(Debug, Clone, PartialEq)]
pub struct Labels {
    /// The first line: what the app is doing.
    pub line: String,
    /// The line under it when the person should act (empty: hidden).
    pub notice: String,
    /// "Start server" or "Stop server".
    pub server: &'static str,
    /// "Start tunnel (ngrok)", "Stop tunnel", …: the provider it opens is named.
    pub tunnel: &'static str,
    /// The provider checked in the "Tunnel provider" submenu.
    pub tunnel_kind: TunnelKind,
    /// Whether the tunnel item can be used (only while the server runs).
    pub tunnel_enabled: bool,
    /// The schema item, which asks again after the public URL changed.
    pub schema: &'static str,
    /// Whether "Launch at login" is checked.
    pub at_login: bool,
}

/// Everything the tray shows for a status: applied field by field, and only what changed —
/// each change is work on the GUI thread (and, with an app indicator, a D-Bus export of the
/// whole menu), so a status that changes many times a second (a download's progress) must
/// not redraw what stays the same, or the window's page stops answering.
#[derive(Debug, Clone, PartialEq)]
pub struct Face {
    /// The menu's labels.
    pub labels: Labels,
    /// The icon's PNG.
    pub icon: &'static [u8],
    /// The tooltip.
    pub tooltip: String,
    /// The update item's label.
    pub update: String,
}

impl Face {
    /// What the tray shows for `status`.
    pub fn of(status: &Status) -> Face {
        let labels = labels(status);
        let tip = if labels.notice.is_empty() {
            &labels.line
        } else {
            &labels.notice
        };
        Face {
            tooltip: format!("Coda MCP — {tip}"),
            icon: icon_for(status),
            update: status.update.menu_label(),
            labels,
        }
    }
}

/// The menu's labels for a status.
pub fn labels(status: &Status) -> Labels {
    Labels {
        line: describe(status),
        notice: status.notice.clone().unwrap_or_default(),
        server: if status.running {
            "Stop server"
        } else {
            "Start server"
        },
        tunnel: match (&status.tunnel, status.tunnel_kind) {
            (TunnelState::Off, TunnelKind::Ngrok) => "Start tunnel (ngrok)",
            (TunnelState::Off, TunnelKind::Openai) => "Start tunnel (OpenAI Secure MCP Tunnel)",
            _ => "Stop tunnel",
        },
        tunnel_kind: status.tunnel_kind,
        tunnel_enabled: status.running,
        schema: if status.notice.is_some() {
            "Copy OpenAPI schema again (the URL changed)"
        } else {
            "Copy OpenAPI schema (for ChatGPT)"
        },
        at_login: status.launch_at_login,
    }
}

/// Whether the OS's launch-at-login entry must change: `Some(wanted)` when it differs from
/// what was last applied.
pub fn autostart_change(applied: Option<bool>, wanted: bool) -> Option<bool> {
    (applied != Some(wanted)).then_some(wanted)
}

/// What a menu action asks the app's GUI to do once [`decide`] has done its part.
pub enum Effect {
    /// Nothing more.
    Nothing,
    /// Tell the person something.
    Tell(String),
    /// Put `text` on the clipboard, then tell `message`.
    Copy { text: String, message: String },
    /// Look for an update now.
    CheckUpdate,
    /// Install the update found (the app restarts).
    InstallUpdate,
    /// Open a folder in the OS's file manager.
    OpenFolder(std::path::PathBuf),
    /// Show the dashboard window, on a view when given.
    OpenDashboard(Option<&'static str>),
    /// Leave the app.
    Quit,
}

/// The tray menu's items, by the id the menu reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuId {
    /// The status line (not clickable).
    Status,
    /// The notice line (not clickable).
    Notice,
    /// Start or stop the server.
    Server,
    /// Start or stop the tunnel.
    Tunnel,
    /// Choose the tunnel provider (the "Tunnel provider" submenu).
    TunnelVia(TunnelKind),
    /// Open the dashboard.
    Dashboard,
    /// Copy the OpenAPI schema for ChatGPT.
    Schema,
    /// Copy the connection key.
    Key,
    /// Connect a client (the "Connect" submenu lists the installed ones).
    Connect(ClientId),
    /// The submenu's last item: every client, in the Setup view.
    MoreClients,
    /// Open the dashboard's Setup view.
    Settings,
    /// Open the folder of the log files (for support).
    LogFolder,
    /// "Check for updates", or "Update to X.Y.Z" once one is found.
    Update,
    /// The "Launch at login" checkbox.
    Login,
    /// Leave the app.
    Quit,
}

impl MenuId {
    const FIXED: [MenuId; 13] = [
        MenuId::Status,
        MenuId::Notice,
        MenuId::Server,
        MenuId::Tunnel,
        MenuId::Dashboard,
        MenuId::Schema,
        MenuId::Key,
        MenuId::MoreClients,
        MenuId::Settings,
        MenuId::LogFolder,
        MenuId::Update,
        MenuId::Login,
        MenuId::Quit,
    ];

    /// Every item the menu can report.
    pub fn all() -> impl Iterator<Item = MenuId> {
        MenuId::FIXED
            .into_iter()
            .chain([TunnelKind::Ngrok, TunnelKind::Openai].map(MenuId::TunnelVia))
            .chain(coda_mcp::clients::ALL.into_iter().map(MenuId::Connect))
    }

    /// The id the menu is built with and reports back.
    pub fn as_str(self) -> &'static str {
        match self {
            MenuId::Connect(client) => match client {
                ClientId::Claude => "connect-claude",
                ClientId::ClaudeCode => "connect-claude-code",
                ClientId::Cursor => "connect-cursor",
                ClientId::Vscode => "connect-vscode",
                ClientId::Windsurf => "connect-windsurf",
                ClientId::Codex => "connect-codex",
                ClientId::Gemini => "connect-gemini",
            },
            MenuId::MoreClients => "more-clients",
            MenuId::Status => "status",
            MenuId::Notice => "notice",
            MenuId::Server => "server",
            MenuId::Tunnel => "tunnel",
            MenuId::TunnelVia(TunnelKind::Ngrok) => "tunnel-via-ngrok",
            MenuId::TunnelVia(TunnelKind::Openai) => "tunnel-via-openai",
            MenuId::Dashboard => "dashboard",
            MenuId::Schema => "schema",
            MenuId::Key => "key",
            MenuId::Settings => "settings",
            MenuId::LogFolder => "log-folder",
            MenuId::Update => "update",
            MenuId::Login => "login",
            MenuId::Quit => "quit",
        }
    }

    /// The item a menu event names, if it is one of ours.
    pub fn parse(id: &str) -> Option<MenuId> {
        MenuId::all().find(|m| m.as_str() == id)
    }
}

/// Does what the menu item `id` asks of the core, and says what is left for the GUI.
/// `checked` is the "Launch at login" box's new state.
pub async fn decide(core: &Arc<AppCore>, id: MenuId, checked: bool) -> Result<Effect, String> {
    const NOT_RUNNING: &str = "start the server first";
    Ok(match id {
        MenuId::Server => {
            if core.status().running {
                core.stop().await;
            } else {
                core.start().await?;
            }
            Effect::Nothing
        }
        MenuId::Tunnel => {
            core.toggle_tunnel().await?;
            Effect::Nothing
        }
        MenuId::TunnelVia(kind) => Effect::Tell(core.choose_tunnel(kind).await?),
        MenuId::Dashboard | MenuId::Settings | MenuId::MoreClients => {
            core.dashboard_url().await.ok_or(NOT_RUNNING)?;
            Effect::OpenDashboard((id != MenuId::Dashboard).then_some("setup"))
        }
        MenuId::Schema => {
            let (text, public) = core.actions_schema().await.ok_or(NOT_RUNNING)?;
            let message = if public {
                core.clear_notice();
                "OpenAPI schema copied: paste it into ChatGPT's action editor".to_owned()
            } else {
                "OpenAPI schema copied, but ChatGPT needs the public HTTPS URL: start the tunnel, then copy it again".to_owned()
            };
            Effect::Copy { text, message }
        }
        MenuId::Key => {
            let key = core.connection_key().await.ok_or(NOT_RUNNING)?;
            Effect::Copy {
                text: key.expose().to_owned(),
                message: "Connection key copied".into(),
            }
        }
        MenuId::Connect(client) => Effect::Tell(core.connect_client(client).await?),
        MenuId::Update => match core.status().update {
            crate::updates::UpdateState::Available { .. } => Effect::InstallUpdate,
            crate::updates::UpdateState::Downloading { .. }
            | crate::updates::UpdateState::Installing { .. }
            | crate::updates::UpdateState::Checking => Effect::Nothing,
            _ => Effect::CheckUpdate,
        },
        MenuId::LogFolder => Effect::OpenFolder(
            crate::logfile::log_dir().ok_or("this system has no folder for log files")?,
        ),
        MenuId::Login => {
            let mut settings = core.settings();
            settings.launch_at_login = checked;
            core.save_settings(&settings)?;
            Effect::Nothing
        }
        MenuId::Quit => {
            core.stop().await;
            Effect::Quit
        }
        MenuId::Status | MenuId::Notice => Effect::Nothing,
    })
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
        TunnelState::Up {
            url,
            latency_ms: Some(ms),
        } => format!(" · tunnel {url} ({ms} ms)"),
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

/// The clients the "Connect" submenu offers: Claude Desktop always, the others when they
/// look installed (the Setup view lists them all).
pub fn clients_to_offer(places: &Places) -> Vec<ClientId> {
    coda_mcp::clients::ALL
        .into_iter()
        .filter(|c| *c == ClientId::Claude || c.installed(places))
        .collect()
}

/// The "Connect" submenu.
fn connect_menu(app: &AppHandle) -> tauri::Result<Submenu<Wry>> {
    let mut items: Vec<MenuItem<Wry>> = Vec::new();
    for client in clients_to_offer(&Places::of_this_machine()) {
        items.push(MenuItem::with_id(
            app,
            MenuId::Connect(client).as_str(),
            client.name(),
            true,
            None::<&str>,
        )?);
    }
    items.push(MenuItem::with_id(
        app,
        MenuId::MoreClients.as_str(),
        "Other clients…",
        true,
        None::<&str>,
    )?);
    let refs: Vec<&dyn tauri::menu::IsMenuItem<Wry>> = items
        .iter()
        .map(|i| i as &dyn tauri::menu::IsMenuItem<Wry>)
        .collect();
    Submenu::with_items(app, "Connect", true, &refs)
}

/// Builds the tray and keeps it in step with the status.
pub fn install(app: &AppHandle, core: Arc<AppCore>) -> tauri::Result<()> {
    let status = MenuItem::with_id(
        app,
        MenuId::Status.as_str(),
        "Starting…",
        false,
        None::<&str>,
    )?;
    let notice = MenuItem::with_id(app, MenuId::Notice.as_str(), "", false, None::<&str>)?;
    let server = MenuItem::with_id(
        app,
        MenuId::Server.as_str(),
        "Start server",
        true,
        None::<&str>,
    )?;
    let tunnel = MenuItem::with_id(
        app,
        MenuId::Tunnel.as_str(),
        "Start tunnel",
        true,
        None::<&str>,
    )?;
    let chosen = core.settings().tunnel_provider;
    let via = |kind: TunnelKind, text: &str| {
        CheckMenuItem::with_id(
            app,
            MenuId::TunnelVia(kind).as_str(),
            text,
            true,
            chosen == kind,
            None::<&str>,
        )
    };
    let via_ngrok = via(
        TunnelKind::Ngrok,
        "ngrok (a public HTTPS URL: ChatGPT, Claude)",
    )?;
    let via_openai = via(
        TunnelKind::Openai,
        "OpenAI Secure MCP Tunnel (ChatGPT, no public URL)",
    )?;
    let providers = Submenu::with_items(app, "Tunnel provider", true, &[&via_ngrok, &via_openai])?;
    let at_login = CheckMenuItem::with_id(
        app,
        MenuId::Login.as_str(),
        "Launch at login",
        true,
        core.settings().launch_at_login,
        None::<&str>,
    )?;
    let schema = MenuItem::with_id(
        app,
        MenuId::Schema.as_str(),
        "Copy OpenAPI schema (for ChatGPT)",
        true,
        None::<&str>,
    )?;
    let update = MenuItem::with_id(
        app,
        MenuId::Update.as_str(),
        "Check for updates",
        true,
        None::<&str>,
    )?;
    let menu = Menu::with_items(
        app,
        &[
            &status,
            &notice,
            &PredefinedMenuItem::separator(app)?,
            &server,
            &tunnel,
            &providers,
            &MenuItem::with_id(
                app,
                MenuId::Dashboard.as_str(),
                "Open dashboard",
                true,
                None::<&str>,
            )?,
            &PredefinedMenuItem::separator(app)?,
            &schema,
            &MenuItem::with_id(
                app,
                MenuId::Key.as_str(),
                "Copy connection key",
                true,
                None::<&str>,
            )?,
            &connect_menu(app)?,
            &PredefinedMenuItem::separator(app)?,
            &MenuItem::with_id(
                app,
                MenuId::Settings.as_str(),
                "Settings…",
                true,
                None::<&str>,
            )?,
            &update,
            &MenuItem::with_id(
                app,
                MenuId::LogFolder.as_str(),
                "Open log folder",
                true,
                None::<&str>,
            )?,
            &at_login,
            &MenuItem::with_id(app, MenuId::Quit.as_str(), "Quit", true, None::<&str>)?,
        ],
    )?;
    let items = Arc::new(Items {
        status,
        notice,
        server,
        tunnel,
        via_ngrok,
        via_openai,
        schema,
        update,
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
    // The app applied the saved setting at start.
    let mut applied = Some(core.settings().launch_at_login);
    tauri::async_runtime::spawn(async move {
        let mut last_notice = None;
        let mut previous = crate::core::Status::default();
        let mut shown: Option<Face> = None;
        loop {
            let status = watch.borrow_and_update().clone();
            if let Some(notice) = crate::notify::worth_telling(&previous, &status) {
                crate::notify::send(&app, &notice);
            }
            previous = status.clone();
            let face = Face::of(&status);
            let was = shown.as_ref();
            // Only what changed is applied (see `Face`).
            let changed = |get: fn(&Face) -> String| was.is_none_or(|w| get(w) != get(&face));
            if was.is_none_or(|w| w.icon != face.icon) {
                let _ = tray.set_icon(Image::from_bytes(face.icon).ok());
            }
            if changed(|f| f.tooltip.clone()) {
                let _ = tray.set_tooltip(Some(face.tooltip.clone()));
            }
            let l = &face.labels;
            if changed(|f| f.labels.line.clone()) {
                let _ = items.status.set_text(&l.line);
            }
            if changed(|f| f.labels.notice.clone()) {
                let _ = items.notice.set_text(&l.notice);
            }
            if changed(|f| f.labels.server.to_owned()) {
                let _ = items.server.set_text(l.server);
            }
            if changed(|f| format!("{} {}", f.labels.tunnel, f.labels.tunnel_enabled)) {
                let _ = items.tunnel.set_enabled(l.tunnel_enabled);
                let _ = items.tunnel.set_text(l.tunnel);
            }
            if changed(|f| format!("{:?}", f.labels.tunnel_kind)) {
                items.check_provider(l.tunnel_kind);
            }
            if changed(|f| f.labels.schema.to_owned()) {
                let _ = items.schema.set_text(l.schema);
            }
            if changed(|f| f.update.clone()) {
                let _ = items.update.set_text(&face.update);
            }
            if changed(|f| f.labels.at_login.to_string()) {
                let _ = items.at_login.set_checked(l.at_login);
            }
            // Saved from the dashboard or the menu: the OS entry follows at once.
            if let Some(on) = autostart_change(applied, face.labels.at_login) {
                apply_launch_at_login(&app, on);
                applied = Some(on);
            }
            if status.notice.is_some() && status.notice != last_notice {
                tell(&app, status.notice.as_deref().unwrap_or_default());
            }
            last_notice = status.notice.clone();
            shown = Some(face);
            if watch.changed().await.is_err() {
                break;
            }
        }
    });
    tracing::info!("tray ready");
    Ok(())
}

impl Items {
    /// Checks the chosen provider's item only.
    fn check_provider(&self, kind: TunnelKind) {
        let _ = self.via_ngrok.set_checked(kind == TunnelKind::Ngrok);
        let _ = self.via_openai.set_checked(kind == TunnelKind::Openai);
    }
}

async fn on_menu(app: &AppHandle, core: &Arc<AppCore>, items: &Items, id: &str) {
    let Some(id) = MenuId::parse(id) else {
        return;
    };
    let checked = items.at_login.is_checked().unwrap_or(false);
    let result = match decide(core, id, checked).await {
        Ok(Effect::Nothing) => Ok(None),
        Ok(Effect::Tell(message)) => Ok(Some(message)),
        Ok(Effect::Copy { text, message }) => app
            .clipboard()
            .write_text(text)
            .map(|_| Some(message))
            .map_err(|e| e.to_string()),
        Ok(Effect::OpenDashboard(view)) => open_dashboard(app, core, view).await.map(|_| None),
        Ok(Effect::CheckUpdate) => {
            crate::updates::check(app, core).await;
            Ok(match core.status().update {
                crate::updates::UpdateState::Off => Some(
                    crate::updates::cannot_check(
                        core.settings().update_url.as_deref(),
                        crate::updates::PUBKEY,
                    )
                    .unwrap_or("updates are off")
                    .to_owned(),
                ),
                crate::updates::UpdateState::UpToDate { version } => {
                    Some(format!("Coda MCP Desktop {version} is the newest version"))
                }
                crate::updates::UpdateState::Available { version, .. } => Some(format!(
                    "Coda MCP Desktop {version} is available: choose \"Update to {version}\""
                )),
                crate::updates::UpdateState::Failed { error } => Some(error),
                _ => None,
            })
        }
        Ok(Effect::InstallUpdate) => crate::updates::install(app, core).await.map(|_| None),
        Ok(Effect::OpenFolder(dir)) => {
            use tauri_plugin_opener::OpenerExt;
            let _ = coda_mcp::private::create_dir(&dir);
            app.opener()
                .open_path(dir.to_string_lossy(), None::<&str>)
                .map(|_| None)
                .map_err(|e| e.to_string())
        }
        Ok(Effect::Quit) => {
            app.exit(0);
            Ok(None)
        }
        Err(e) => Err(e),
    };
    if matches!(id, MenuId::TunnelVia(_)) {
        // A check item flips itself when clicked, also the one already chosen: the choice,
        // not the click, decides which is checked.
        items.check_provider(core.status().tunnel_kind);
    }
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

    /// A download's progress changes the status thousands of times; all the tray redraws is
    /// the update item, once per percent — never the icon or the other items (each redraw is
    /// GUI-thread work, and a flood of them made the window's page hang: issue 26 item 0).
    #[test]
    fn a_downloads_progress_changes_only_the_update_item() {
        let mut status = Status {
            running: true,
            ..Status::default()
        };
        let first = Face::of(&status);
        let mut shown = first.clone();
        let mut redraws = std::collections::BTreeMap::<&str, usize>::new();
        for percent in 0..=100u64 {
            status.update = crate::updates::UpdateState::Downloading {
                version: "0.1.1".into(),
                received: percent * 1_000,
                total: Some(100_000),
            };
            let face = Face::of(&status);
            if face.icon != shown.icon {
                *redraws.entry("icon").or_default() += 1;
            }
            if face.labels != shown.labels || face.tooltip != shown.tooltip {
                *redraws.entry("labels").or_default() += 1;
            }
            if face.update != shown.update {
                *redraws.entry("update").or_default() += 1;
            }
            shown = face;
        }
        assert_eq!(redraws.get("icon"), None, "{redraws:?}");
        assert_eq!(redraws.get("labels"), None, "{redraws:?}");
        assert_eq!(redraws.get("update"), Some(&101), "{redraws:?}");
        assert_eq!(
            Face::of(&Status {
                running: true,
                ..Status::default()
            }),
            first,
            "the same status, the same face"
        );
    }

    #[test]
    fn menu_ids_round_trip_and_strangers_are_ignored() {
        for id in MenuId::all() {
            assert_eq!(MenuId::parse(id.as_str()), Some(id));
        }
        assert_eq!(MenuId::parse("main"), None);
        assert_eq!(MenuId::parse(""), None);
    }

    #[test]
    fn the_connect_submenu_offers_claude_and_the_installed_clients() {
        let home = std::env::temp_dir().join(format!("coda-mcp-tray-{}", std::process::id()));
        let places = Places::under(&home);
        assert_eq!(clients_to_offer(&places), [ClientId::Claude]);
        std::fs::create_dir_all(home.join(".cursor")).unwrap();
        std::fs::create_dir_all(home.join(".codex")).unwrap();
        assert_eq!(
            clients_to_offer(&places),
            [ClientId::Claude, ClientId::Cursor, ClientId::Codex]
        );
        let ids: std::collections::HashSet<&str> = MenuId::all().map(MenuId::as_str).collect();
        assert_eq!(ids.len(), MenuId::all().count(), "every id is different");
        let _ = std::fs::remove_dir_all(home);
    }

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
        s.tunnel = TunnelState::Up {
            url: "https://x.ngrok.app".into(),
            latency_ms: Some(42),
        };
        assert!(describe(&s).ends_with("· tunnel https://x.ngrok.app (42 ms)"));
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

    #[test]
    fn labels_follow_the_status_and_ask_again_after_the_url_changed() {
        let mut s = Status::default();
        let l = labels(&s);
        assert_eq!(
            (l.server, l.tunnel, l.tunnel_enabled),
            ("Start server", "Start tunnel (ngrok)", false)
        );
        s.tunnel_kind = TunnelKind::Openai;
        let l = labels(&s);
        assert_eq!(
            (l.tunnel, l.tunnel_kind),
            (
                "Start tunnel (OpenAI Secure MCP Tunnel)",
                TunnelKind::Openai
            )
        );
        assert!(l.notice.is_empty() && !l.at_login);
        s.running = true;
        s.tunnel = TunnelState::Connecting { attempt: 1 };
        s.launch_at_login = true;
        s.notice = Some(crate::core::url_changed_notice("https://b.ngrok.app"));
        let l = labels(&s);
        assert_eq!(
            (l.server, l.tunnel, l.tunnel_enabled),
            ("Stop server", "Stop tunnel", true)
        );
        assert!(l.at_login);
        assert!(
            l.notice.contains("https://b.ngrok.app")
                && l.notice.contains("copy the OpenAPI schema")
        );
        assert!(l.schema.contains("again"));
    }

    #[test]
    fn the_os_entry_changes_only_when_the_setting_does() {
        assert_eq!(autostart_change(Some(false), false), None);
        assert_eq!(autostart_change(Some(false), true), Some(true));
        assert_eq!(autostart_change(Some(true), false), Some(false));
        assert_eq!(autostart_change(None, false), Some(false));
    }

    /// The menu's actions over a real core (the demo workspace on loopback), without a
    /// display: what each does, and what it leaves for the GUI.
    #[tokio::test]
    async fn menu_actions_do_what_they_say() {
        std::env::remove_var("NGROK_AUTHTOKEN");
        std::env::set_var(
            "CODA_MCP_DATA_DIR",
            std::env::temp_dir().join(format!("coda-desktop-tests-{}", std::process::id())),
        );
        let dir = std::env::temp_dir().join(format!("coda-desktop-menu-{}", std::process::id()));
        let (core, _restarts) = AppCore::with_store(
            Arc::new(coda_mcp::secrets::MemoryStore::default()),
            Some(dir.join("settings.json")),
            crate::core::Overrides {
                demo: true,
                port: Some(0),
                coda_base_url: None,
            },
        );
        // Stopped: what needs the server says so.
        for id in [
            MenuId::Schema,
            MenuId::Key,
            MenuId::Dashboard,
            MenuId::Tunnel,
        ] {
            let err = decide(&core, id, false).await.err().unwrap_or_default();
            assert!(err.contains("start the server first"), "{id:?}: {err}");
        }
        // The provider can be chosen with the server stopped; it is named on the tunnel item.
        let Ok(Effect::Tell(told)) =
            decide(&core, MenuId::TunnelVia(TunnelKind::Openai), false).await
        else {
            panic!("choose openai")
        };
        assert!(told.contains("OpenAI's Secure MCP Tunnel chosen"), "{told}");
        assert_eq!(labels(&core.status()).tunnel_kind, TunnelKind::Openai);
        let Ok(Effect::Tell(told)) =
            decide(&core, MenuId::TunnelVia(TunnelKind::Ngrok), false).await
        else {
            panic!("choose ngrok")
        };
        assert!(told.contains("ngrok chosen"), "{told}");
        assert_eq!(core.settings().tunnel_provider, TunnelKind::Ngrok);
        assert!(matches!(
            decide(&core, MenuId::Server, false).await,
            Ok(Effect::Nothing)
        ));
        assert!(core.status().running);
        let Ok(Effect::Copy { text, message }) = decide(&core, MenuId::Schema, false).await else {
            panic!("schema")
        };
        assert!(text.contains("\"openapi\""));
        assert!(
            message.contains("ChatGPT needs the public HTTPS URL"),
            "no tunnel: the copy warns: {message}"
        );
        let Ok(Effect::Copy { text, .. }) = decide(&core, MenuId::Key, false).await else {
            panic!("key")
        };
        assert!(text.starts_with("cmk_"));
        assert!(matches!(
            decide(&core, MenuId::Dashboard, false).await,
            Ok(Effect::OpenDashboard(None))
        ));
        assert!(matches!(
            decide(&core, MenuId::Settings, false).await,
            Ok(Effect::OpenDashboard(Some("setup")))
        ));
        assert!(matches!(
            decide(&core, MenuId::Login, true).await,
            Ok(Effect::Nothing)
        ));
        assert!(core.status().launch_at_login && core.settings().launch_at_login);
        assert!(matches!(
            decide(&core, MenuId::Tunnel, false).await,
            Ok(Effect::Nothing)
        ));
        let mut watch = core.watch();
        tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while matches!(watch.borrow_and_update().tunnel, TunnelState::Off) {
                watch.changed().await.unwrap();
            }
        })
        .await
        .expect("the tunnel item started the tunnel");
        assert!(matches!(
            decide(&core, MenuId::Tunnel, false).await,
            Ok(Effect::Nothing)
        ));
        assert!(matches!(
            decide(&core, MenuId::Quit, false).await,
            Ok(Effect::Quit)
        ));
        assert!(!core.status().running, "quit stops the server first");
        let _ = std::fs::remove_dir_all(dir);
    }
}
