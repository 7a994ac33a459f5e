//! Coda MCP Desktop: the tray app. It runs the engine in-process (see `core`), shows its state
//! in the tray (`tray`) and its dashboard in a window (`window`). Thin by design: everything a
//! person can change goes through the engine's own controls, the same ones the dashboard's
//! Setup view and the CLI use.

pub mod commands;
pub mod core;
pub mod logfile;
pub mod notify;
pub mod tray;
pub mod updates;
pub mod window;

use std::sync::Arc;

use clap::Parser;
use tauri::Manager;

/// Command-line switches of the desktop app.
#[derive(Parser, Debug, Clone, Default)]
#[command(
    name = "coda-mcp-desktop",
    version,
    about = "Coda MCP Desktop: your Coda workspace for ChatGPT and Claude, from the tray.\n\n`coda-mcp-desktop stdio` speaks MCP on stdin/stdout (Claude Desktop's entry)."
)]
pub struct DesktopArgs {
    /// Open the dashboard window at start (tests drive it with WebDriver; a tray-only start
    /// would leave them nothing to drive).
    #[arg(long)]
    pub open_dashboard: bool,
    /// Serve the built-in demo workspace, whatever the settings say.
    #[arg(long)]
    pub demo: bool,
    /// Listen on this port, whatever the settings say (0 picks a free one).
    #[arg(long)]
    pub port: Option<u16>,
    /// The Coda API root (default: Coda's; tests point it at a loopback stand-in).
    #[arg(long, value_name = "URL")]
    pub coda_base_url: Option<String>,
}

/// Runs the app until Quit.
pub fn run(args: DesktopArgs) {
    let (core, mut restarts) = core::AppCore::new(core::Overrides {
        demo: args.demo,
        port: args.port,
        coda_base_url: args.coda_base_url.clone(),
    });
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            // A second launch (it exits at once) focuses the first: show its dashboard,
            // starting the server if it was stopped — the person asked for the app.
            let app = app.clone();
            let core = app.state::<Arc<core::AppCore>>().inner().clone();
            tauri::async_runtime::spawn(async move {
                if !core.status().running {
                    let _ = core.start().await;
                }
                if let Err(e) = tray::open_dashboard(&app, &core, None).await {
                    tracing::warn!(error = %e, "could not show the dashboard for a second launch");
                }
            });
        }))
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            None,
        ))
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_updater::Builder::new().build())
        .manage(updates::Pending::default())
        .manage(core.clone())
        .invoke_handler(tauri::generate_handler![
            commands::desktop_status,
            commands::open_link,
            commands::check_update,
            commands::install_update
        ])
        .setup(move |app| {
            let handle = app.handle().clone();
            tracing::info!(version = %app.package_info().version, "Coda MCP Desktop started");
            tray::install(&handle, core.clone())?;
            updates::watch(handle.clone(), core.clone());
            let settings = core.settings();
            tray::apply_launch_at_login(&handle, settings.launch_at_login);
            let start_core = core.clone();
            let open = args.open_dashboard;
            tauri::async_runtime::spawn(async move {
                if core::starts_server(&settings, args.demo, open) {
                    let _ = start_core.start().await;
                }
                // First run (no token, no demo chosen) or the test switch: open the window;
                // otherwise the app starts in the tray only.
                let first_run = start_core.needs_first_run();
                if let Some(view) = core::window_at_start(open, first_run) {
                    if let Err(e) = tray::open_dashboard(&handle, &start_core, view).await {
                        tracing::warn!(error = %e, "could not open the dashboard");
                    }
                } else {
                    tracing::info!("started in the tray (no window)");
                }
                // Restarts the dashboard asks for (Setup → use the demo workspace, settings).
                while restarts.recv().await.is_some() {
                    if start_core.restart().await.is_ok() {
                        if let Some(url) = start_core.dashboard_url().await {
                            window::follow(&handle, url.expose());
                        }
                    }
                }
            });
            Ok(())
        })
        .build(tauri::generate_context!())
        .expect("the desktop app could not start");
    app.run(|_app, event| {
        // No window is not a reason to quit: the app lives in the tray.
        if let tauri::RunEvent::ExitRequested { api, code, .. } = event {
            if code.is_none() {
                api.prevent_exit();
            }
        }
    });
}
