//! Where secrets live: the OS keychain (macOS Keychain, Windows Credential Manager, Secret
//! Service on Linux) behind a small trait, so tests can use memory and the rest of the
//! engine never touches a file. Nothing here ever prints a secret.

use std::collections::HashMap;
use std::sync::Mutex;

use rand::RngCore;

use crate::coda::Secret;

/// The keychain service name all entries live under.
pub const SERVICE: &str = "coda-mcp-desktop";

/// The secrets the app keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretName {
    /// The person's Coda API token.
    CodaToken,
    /// The key clients must present (`Authorization: Bearer cmk_…`).
    ConnectionKey,
    /// The ngrok authtoken for the tunnel.
    NgrokAuthtoken,
    /// The runtime API key of OpenAI's Secure MCP Tunnel.
    OpenAiTunnelKey,
}

impl SecretName {
    /// The keychain account name.
    pub fn account(self) -> &'static str {
        match self {
            SecretName::CodaToken => "coda-api-token",
            SecretName::ConnectionKey => "connection-key",
            SecretName::NgrokAuthtoken => "ngrok-authtoken",
            SecretName::OpenAiTunnelKey => "openai-tunnel-api-key",
        }
    }
}

impl SecretName {
    /// The environment variables that stand in for this secret, in the order they are read
    /// (the first set one wins over the keychain).
    pub fn env_vars(self) -> &'static [&'static str] {
        match self {
            SecretName::CodaToken => &["CODA_API_TOKEN"],
            SecretName::ConnectionKey => &["CODA_MCP_KEY"],
            SecretName::NgrokAuthtoken => &["NGROK_AUTHTOKEN"],
            // The official tunnel-client's name is accepted too.
            SecretName::OpenAiTunnelKey => &["OPENAI_TUNNEL_API_KEY", "CONTROL_PLANE_API_KEY"],
        }
    }

    /// The value from the environment, else the keychain's (the tunnels' credentials).
    pub fn lookup(self, store: &dyn SecretStore) -> Option<(crate::coda::Secret, Source)> {
        for var in self.env_vars() {
            if let Some(v) = std::env::var(var).ok().filter(|v| !v.trim().is_empty()) {
                return Some((crate::coda::Secret::new(v.trim()), Source::Environment));
            }
        }
        match store.get(self) {
            Ok(Some(t)) => Some((t, Source::Keychain)),
            _ => None,
        }
    }
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No keychain is reachable (no Secret Service on this Linux session, for example).
    #[error("the OS keychain is not available ({0}); set the value through its environment variable instead")]
    Unavailable(String),
    /// The keychain refused or failed.
    #[error("the OS keychain failed: {0}")]
    Failed(String),
}

/// A place to keep secrets.
pub trait SecretStore: Send + Sync {
    /// The secret, if stored.
    fn get(&self, name: SecretName) -> Result<Option<Secret>, StoreError>;
    /// Stores (or replaces) the secret.
    fn set(&self, name: SecretName, value: &Secret) -> Result<(), StoreError>;
    /// Removes the secret; removing a missing one is not an error.
    fn delete(&self, name: SecretName) -> Result<(), StoreError>;
}

/// The OS keychain, through the `keyring` crate.
#[derive(Debug)]
pub struct KeyringStore {
    service: String,
}

impl Default for KeyringStore {
    fn default() -> Self {
        KeyringStore {
            service: SERVICE.to_owned(),
        }
    }
}

fn keyring_error(e: keyring::Error) -> StoreError {
    match e {
        keyring::Error::NoStorageAccess(inner) => StoreError::Unavailable(inner.to_string()),
        keyring::Error::PlatformFailure(inner) => StoreError::Unavailable(inner.to_string()),
        keyring::Error::NoDefaultStore => {
            StoreError::Unavailable("no default credential store".into())
        }
        other => StoreError::Failed(other.to_string()),
    }
}

impl KeyringStore {
    /// A store under another service name (tests use their own so they never touch the
    /// person's real entries).
    pub fn with_service(service: impl Into<String>) -> Self {
        KeyringStore {
            service: service.into(),
        }
    }

    fn entry(&self, name: SecretName) -> Result<keyring::Entry, StoreError> {
        keyring::Entry::new(&self.service, name.account()).map_err(keyring_error)
    }
}

impl SecretStore for KeyringStore {
    fn get(&self, name: SecretName) -> Result<Option<Secret>, StoreError> {
        match self.entry(name)?.get_password() {
            Ok(v) => Ok(Some(Secret::new(v))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_error(e)),
        }
    }

    fn set(&self, name: SecretName, value: &Secret) -> Result<(), StoreError> {
        self.entry(name)?
            .set_password(value.expose())
            .map_err(keyring_error)
    }

    fn delete(&self, name: SecretName) -> Result<(), StoreError> {
        match self.entry(name)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(keyring_error(e)),
        }
    }
}

/// Secrets in memory, for tests and for runs without a keychain.
#[derive(Debug, Default)]
pub struct MemoryStore {
    values: Mutex<HashMap<SecretName, Secret>>,
}

impl SecretStore for MemoryStore {
    fn get(&self, name: SecretName) -> Result<Option<Secret>, StoreError> {
        Ok(self.values.lock().expect("store").get(&name).cloned())
    }

    fn set(&self, name: SecretName, value: &Secret) -> Result<(), StoreError> {
        self.values
            .lock()
            .expect("store")
            .insert(name, value.clone());
        Ok(())
    }

    fn delete(&self, name: SecretName) -> Result<(), StoreError> {
        self.values.lock().expect("store").remove(&name);
        Ok(())
    }
}

/// No keychain at all (`CODA_MCP_KEYCHAIN=off`): every read finds nothing and every write
/// fails, so keys are per run and must come from the environment to persist.
#[derive(Debug, Default)]
pub struct NoStore;

impl SecretStore for NoStore {
    fn get(&self, _name: SecretName) -> Result<Option<Secret>, StoreError> {
        Err(StoreError::Unavailable(
            "turned off with CODA_MCP_KEYCHAIN=off".into(),
        ))
    }

    fn set(&self, _name: SecretName, _value: &Secret) -> Result<(), StoreError> {
        Err(StoreError::Unavailable(
            "turned off with CODA_MCP_KEYCHAIN=off".into(),
        ))
    }

    fn delete(&self, _name: SecretName) -> Result<(), StoreError> {
        Err(StoreError::Unavailable(
            "turned off with CODA_MCP_KEYCHAIN=off".into(),
        ))
    }
}

/// A new connection key: `cmk_` and 256 random bits in URL-safe base64 (43 characters).
pub fn generate_connection_key() -> Secret {
    random_token("cmk_")
}

/// `prefix` and 256 random bits in URL-safe base64: keys, OAuth tokens and codes.
pub fn random_token(prefix: &str) -> Secret {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    Secret::new(format!("{prefix}{}", base64url(&bytes)))
}

/// The proof that a server holds `key`, for `coda-mcp stdio`'s challenge: HMAC-SHA256 under
/// the key of the bridge's fresh `nonce` and the socket address (IP and port) the challenge
/// arrived at. The key itself never travels; binding the whole address means a process on
/// another address or port — `[::1]:P` beside the server's `127.0.0.1:P`, say — cannot relay
/// the challenge to the real server and pass its answer off as its own.
pub fn bridge_proof(key: &Secret, nonce: &str, at: std::net::SocketAddr) -> String {
    use hmac::{KeyInit, Mac};
    let at = std::net::SocketAddr::new(at.ip().to_canonical(), at.port());
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.expose().as_bytes())
        .expect("HMAC takes any key length");
    mac.update(format!("coda-mcp bridge v2\n{nonce}\n{at}").as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `proof` is [`bridge_proof`] of `key`, `nonce` and `at` (compared in constant time).
pub fn bridge_proof_matches(
    key: &Secret,
    nonce: &str,
    at: std::net::SocketAddr,
    proof: &str,
) -> bool {
    let expected = bridge_proof(key, nonce, at);
    expected.len() == proof.len()
        && expected
            .bytes()
            .zip(proof.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// URL-safe base64 without padding.
pub(crate) fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 2);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Where a secret came from, for status displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// An environment variable the user set.
    Environment,
    /// The OS keychain.
    Keychain,
    /// Made for this run only (no keychain available).
    Ephemeral,
}

impl Source {
    /// Where a person finds a server's key when it came from here: every message that sends
    /// someone looking for the key says this, so it is true on a machine without a keychain.
    pub fn where_to_find(self) -> &'static str {
        match self {
            Source::Keychain => "`coda-mcp key show` prints it; the dashboard shows it under Setup",
            Source::Environment => "it is the CODA_MCP_KEY the server was started with; the dashboard shows it under Setup",
            Source::Ephemeral => "the server printed it under its ready line (\"connection key for this run\"); the dashboard shows it under Setup",
        }
    }

    /// A short label.
    pub fn label(self) -> &'static str {
        match self {
            Source::Environment => "environment",
            Source::Keychain => "keychain",
            Source::Ephemeral => "this run only",
        }
    }
}

/// Shortest connection key accepted from `CODA_MCP_KEY`: anything shorter could be guessed,
/// and the key opens the whole Coda workspace (generated keys have 47 characters).
pub const MIN_KEY_CHARS: usize = 32;

/// Why a `CODA_MCP_KEY` value is refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Shorter than [`MIN_KEY_CHARS`].
    #[error("CODA_MCP_KEY is {0} characters long; a connection key needs at least {MIN_KEY_CHARS}: set it to a new one, e.g. cmk_$(openssl rand -hex 32) (or, where a keychain is, unset it to use the keychain's key)")]
    TooShort(usize),
}

/// Checks a `CODA_MCP_KEY` value before a server accepts it as the connection key: refused
/// when it is short enough to guess; `Ok(Some(warning))` when it does not look like a key this
/// app makes (`cmk_` + 256 random bits) — it may be a Coda token put in the wrong variable.
pub fn check_env_key(value: &str) -> Result<Option<String>, KeyError> {
    let value = value.trim();
    let len = value.chars().count();
    if len < MIN_KEY_CHARS {
        return Err(KeyError::TooShort(len));
    }
    if !value.starts_with("cmk_") {
        return Ok(Some("CODA_MCP_KEY does not start with `cmk_` like the keys this app makes; if it is a Coda API token, put that in CODA_API_TOKEN instead, and use a key from `coda-mcp key rotate`".into()));
    }
    Ok(None)
}

/// The connection key: `CODA_MCP_KEY` if set, else the keychain's, else a new one stored in
/// the keychain; with no keychain, a key for this run only.
pub fn connection_key(store: &dyn SecretStore, env: Option<String>) -> (Secret, Source) {
    if let Some(v) = env.filter(|v| !v.trim().is_empty()) {
        return (Secret::new(v.trim()), Source::Environment);
    }
    match store.get(SecretName::ConnectionKey) {
        Ok(Some(key)) => (key, Source::Keychain),
        Ok(None) => {
            let key = generate_connection_key();
            match store.set(SecretName::ConnectionKey, &key) {
                Ok(()) => (key, Source::Keychain),
                Err(e) => {
                    tracing::warn!(error = %e, "could not store the new connection key; it is valid for this run only");
                    (key, Source::Ephemeral)
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "no keychain: using a connection key for this run only (set CODA_MCP_KEY to keep one)");
            (generate_connection_key(), Source::Ephemeral)
        }
    }
}

/// Replaces the stored connection key with a new one.
pub fn rotate_connection_key(store: &dyn SecretStore) -> Result<Secret, StoreError> {
    let key = generate_connection_key();
    store.set(SecretName::ConnectionKey, &key)?;
    Ok(key)
}

/// A secret from the environment: `None` when the variable is unset, empty, or a placeholder a
/// launcher left unsubstituted (`${user_config.coda_api_token}` — Claude Desktop passes an
/// optional extension setting the person left empty that way).
pub fn env_secret(name: &str) -> Option<String> {
    std::env::var(name).ok().and_then(|v| usable_env_value(&v))
}

/// [`env_secret`]'s rule for one value.
fn usable_env_value(value: &str) -> Option<String> {
    let v = value.trim();
    let placeholder = v.starts_with("${") && v.ends_with('}');
    (!v.is_empty() && !placeholder).then(|| v.to_owned())
}

/// The Coda token: `CODA_API_TOKEN` if set, else the keychain's.
pub fn coda_token(store: &dyn SecretStore, env: Option<String>) -> Option<(Secret, Source)> {
    if let Some(v) = env.filter(|v| !v.trim().is_empty()) {
        return Some((Secret::new(v.trim()), Source::Environment));
    }
    match store.get(SecretName::CodaToken) {
        Ok(Some(t)) => Some((t, Source::Keychain)),
        Ok(None) => None,
        Err(e) => {
            tracing::debug!(error = %e, "no keychain to read the Coda token from");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_unsubstituted_environment_values_are_unset() {
        assert_eq!(usable_env_value(""), None);
        assert_eq!(usable_env_value("  "), None);
        assert_eq!(usable_env_value("${user_config.coda_api_token}"), None);
        assert_eq!(usable_env_value(" pat_123 "), Some("pat_123".into()));
    }

    #[test]
    fn keys_are_long_random_and_prefixed() {
        let a = generate_connection_key();
        let b = generate_connection_key();
        assert!(a.expose().starts_with("cmk_"));
        assert_eq!(a.expose().len(), 4 + 43, "256 bits in base64url");
        assert!(a.expose()[4..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a, b);
        assert_eq!(base64url(b"any carnal pleas"), "YW55IGNhcm5hbCBwbGVhcw");
    }

    #[test]
    fn weak_environment_keys_are_refused_or_warned_about() {
        assert!(matches!(
            check_env_key("cmk_short"),
            Err(KeyError::TooShort(9))
        ));
        assert!(check_env_key(&"x".repeat(31)).is_err());
        let warning = check_env_key("pat_0123456789abcdef0123456789abcdef").unwrap();
        assert!(warning.unwrap().contains("does not start with `cmk_`"));
        assert_eq!(
            check_env_key(generate_connection_key().expose()).unwrap(),
            None
        );
    }

    #[test]
    fn env_overrides_and_the_first_key_is_kept() {
        let store = MemoryStore::default();
        let (first, src) = connection_key(&store, None);
        assert_eq!(src, Source::Keychain);
        assert_eq!(
            connection_key(&store, None).0,
            first,
            "the stored key is reused"
        );
        assert_eq!(
            connection_key(&store, Some("cmk_from_env".into()))
                .0
                .expose(),
            "cmk_from_env"
        );
        let rotated = rotate_connection_key(&store).unwrap();
        assert_ne!(rotated, first);
        assert_eq!(connection_key(&store, None).0, rotated);
        assert!(coda_token(&store, None).is_none());
        store
            .set(SecretName::CodaToken, &Secret::new("pat_stored_token_1234"))
            .unwrap();
        assert_eq!(coda_token(&store, None).unwrap().1, Source::Keychain);
        assert_eq!(
            coda_token(&store, Some("pat_env".into()))
                .unwrap()
                .0
                .expose(),
            "pat_env"
        );
    }
}
