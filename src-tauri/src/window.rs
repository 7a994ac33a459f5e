//! The dashboard window: the engine's own `/ui/` pages, opened with the dashboard token in
//! the URL (the page trades it for a cookie at once, so the person never sees it). Closing the
//! window closes it for real: its WebKit processes end with it and give back their memory
//! (~320 MB), while the app stays in the tray (see `run`'s exit handler) and the next
//! "Open dashboard" builds the window again.

use tauri::{AppHandle, Manager, Runtime, WebviewUrl, WebviewWindowBuilder};

/// The window's label.
pub const LABEL: &str = "dashboard";

/// Shows the dashboard (creating it, or pointing it at the current server), optionally on
/// one view (`setup`, `calls`…).
pub fn open<R: Runtime>(app: &AppHandle<R>, url: &str, view: Option<&str>) -> tauri::Result<()> {
    let mut target: url::Url = url
        .parse()
        .map_err(|e: url::ParseError| tauri::Error::Anyhow(anyhow::anyhow!(e)))?;
    target.set_fragment(view);
    if let Some(window) = app.get_webview_window(LABEL) {
        let current = window.url().ok();
        let same_server = current
            .as_ref()
            .is_some_and(|c| c.host() == target.host() && c.port() == target.port());
        if !same_server {
            window.navigate(target)?;
        } else if let Some(v) = view {
            let _ = window.eval(format!("location.hash = {:?}", format!("#{v}")));
        }
        window.show()?;
        window.unminimize()?;
        window.set_focus()?;
        return Ok(());
    }
    WebviewWindowBuilder::new(app, LABEL, WebviewUrl::External(target))
        .title("Coda MCP")
        .inner_size(1100.0, 760.0)
        .min_inner_size(360.0, 480.0)
        .build()?;
    Ok(())
}

/// Points an open window at a restarted server (its port may have changed).
pub fn follow<R: Runtime>(app: &AppHandle<R>, url: &str) {
    if let Some(window) = app.get_webview_window(LABEL) {
        if let Ok(target) = url.parse() {
            let _ = window.navigate(target);
        }
    }
}
