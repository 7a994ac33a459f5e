//! What the dashboard page may ask of the app when it runs in the app's window (the same page
//! in a browser simply does without): the app's status, and opening a link in the person's
//! browser instead of inside the window.

use std::sync::Arc;

use tauri::State;

use crate::core::{AppCore, Status};

/// The app's status (server, tunnel, demo), so the page can say "in the desktop app".
#[tauri::command]
pub fn desktop_status(core: State<'_, Arc<AppCore>>) -> Status {
    core.status()
}

/// Looks for a newer version now (the status says what was found).
#[tauri::command]
pub async fn check_update(
    app: tauri::AppHandle,
    core: State<'_, Arc<AppCore>>,
) -> Result<Status, String> {
    let core = core.inner().clone();
    crate::updates::check(&app, &core).await;
    Ok(core.status())
}

/// Installs the update the last check found and restarts into it.
#[tauri::command]
pub async fn install_update(
    app: tauri::AppHandle,
    core: State<'_, Arc<AppCore>>,
) -> Result<(), String> {
    let core = core.inner().clone();
    crate::updates::install(&app, &core).await
}

/// Opens an https:// link in the default browser; anything else is refused.
#[tauri::command]
pub fn open_link<R: tauri::Runtime>(app: tauri::AppHandle<R>, url: String) -> Result<(), String> {
    let parsed = url::Url::parse(&url).map_err(|e| format!("not a URL: {e}"))?;
    if parsed.scheme() != "https" {
        return Err(format!(
            "only https:// links are opened, not {}",
            parsed.scheme()
        ));
    }
    use tauri_plugin_opener::OpenerExt;
    app.opener()
        .open_url(parsed.as_str(), None::<&str>)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use coda_mcp::secrets::MemoryStore;
    use tauri::ipc::{CallbackFn, InvokeBody};
    use tauri::test::{get_ipc_response, mock_builder, INVOKE_KEY};
    use tauri::webview::InvokeRequest;

    use crate::core::{AppCore, Overrides};

    fn request(cmd: &str, body: serde_json::Value) -> InvokeRequest {
        request_from("http://127.0.0.1:8080/ui/", cmd, body)
    }

    fn request_from(origin: &str, cmd: &str, body: serde_json::Value) -> InvokeRequest {
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: origin.parse().unwrap(),
            body: InvokeBody::Json(body),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        }
    }

    #[test]
    fn the_dashboard_page_can_read_status_and_only_open_https_links() {
        let (core, _restarts) =
            AppCore::with_store(Arc::new(MemoryStore::default()), None, Overrides::default());
        let app = mock_builder()
            .manage(core)
            .invoke_handler(tauri::generate_handler![
                super::desktop_status,
                super::open_link
            ])
            // The real config and capabilities: the engine's loopback pages in the dashboard
            // window may call these two commands.
            .build(tauri::generate_context!())
            .expect("mock app");
        // The window's own pages run under a Content-Security-Policy (the engine's /ui/ sends
        // the same one as a header).
        let csp = app
            .config()
            .app
            .security
            .csp
            .as_ref()
            .expect("a CSP in tauri.conf.json")
            .to_string();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        let webview = tauri::WebviewWindowBuilder::new(&app, "dashboard", Default::default())
            .build()
            .expect("mock window");

        let status = get_ipc_response(&webview, request("desktop_status", serde_json::json!({})))
            .expect("status answers")
            .deserialize::<serde_json::Value>()
            .unwrap();
        assert_eq!(status["running"], false);
        assert_eq!(status["tunnel"]["state"], "off");

        for bad in [
            "file:///etc/passwd",
            "javascript:alert(1)",
            "http://example.com",
            "not a url",
        ] {
            let err = get_ipc_response(
                &webview,
                request("open_link", serde_json::json!({"url": bad})),
            )
            .expect_err("refused");
            let text = err.to_string();
            assert!(
                text.contains("only https://") || text.contains("not a URL"),
                "{bad}: {text}"
            );
        }

        // A page from anywhere but the engine's loopback pages gets nothing, not even status.
        for foreign in [
            "https://evil.example/",
            "http://192.168.1.20:8080/ui/",
            "http://127.0.0.1.evil.example:8080/ui/",
        ] {
            let err = get_ipc_response(
                &webview,
                request_from(foreign, "desktop_status", serde_json::json!({})),
            )
            .expect_err("a foreign origin is refused");
            let text = err.to_string();
            assert!(text.contains("not allowed"), "{foreign}: {text}");
            let err = get_ipc_response(
                &webview,
                request_from(
                    foreign,
                    "open_link",
                    serde_json::json!({"url": "https://coda.io"}),
                ),
            )
            .expect_err("a foreign origin is refused");
            assert!(err.to_string().contains("not allowed"), "{foreign}: {err}");
        }
    }
}
