fn main() {
    // The app's own commands, so the dashboard capability can allow them for the engine's
    // loopback pages (remote URLs get nothing that is not listed).
    let manifest = tauri_build::AppManifest::new().commands(&[
        "desktop_status",
        "open_link",
        "check_update",
        "install_update",
    ]);
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest))
        .expect("tauri build step");
}
