//! The TLS crypto provider, chosen once for the process. rustls picks one by itself only when
//! exactly one is compiled in; a build that links both (the desktop app's updater brings
//! `ring`, reqwest and ngrok bring `aws-lc-rs`) would otherwise panic at its first HTTPS
//! request. Every TLS client here calls [`ready`] first.

/// Installs aws-lc-rs as the process's provider, unless one is installed already.
pub fn ready() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_provider_is_installed_and_calling_again_is_harmless() {
        super::ready();
        super::ready();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
