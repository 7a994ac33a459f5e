//! Talking to a running server of the same person, found through its announcement
//! ([`crate::runtime`]): does it answer, does it hold the connection key (proved without
//! sending the key), and telling it that `coda-mcp key rotate` changed the key.

use serde_json::Value;

use crate::coda::Secret;
use crate::secrets;

pub use crate::runtime::{answers, is_loopback_url};
use crate::runtime::{beside, client};

/// Whether the server at `mcp_url` proves it holds `key`: it answers a fresh challenge with
/// [`secrets::bridge_proof`] for the very address that answered, which only the key's holder
/// can compute. The key is not sent. Returns `mcp_url` pinned to that address (its host
/// replaced by the IP that answered), so the key then goes to the same socket and never to
/// whatever a second lookup of `localhost` finds.
pub async fn proves_key(mcp_url: &str, key: &str) -> Option<String> {
    let (Some(client), Some(mut proof_url)) = (client(), beside(mcp_url, "/bridge/proof")) else {
        return None;
    };
    let nonce: String = (0..32)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    proof_url.query_pairs_mut().append_pair("nonce", &nonce);
    let response = client.get(proof_url).send().await.ok()?;
    let answered = response.remote_addr()?;
    if !response.status().is_success() || !answered.ip().to_canonical().is_loopback() {
        return None;
    }
    let proof = response.json::<Value>().await.ok()?;
    let proof = proof["proof"].as_str()?;
    if !secrets::bridge_proof_matches(&Secret::new(key), nonce.as_str(), answered, proof) {
        return None;
    }
    let mut pinned = url::Url::parse(mcp_url).ok()?;
    pinned.set_ip_host(answered.ip().to_canonical()).ok()?;
    pinned.set_port(Some(answered.port())).ok()?;
    Some(pinned.to_string())
}

/// What a running server did when told the key changed.
#[derive(Debug, PartialEq)]
pub enum KeyChange {
    /// It requires the keychain's new key from now on.
    Taken,
    /// It already required it.
    AlreadyCurrent,
    /// It did not take it, and says why (its key comes from `CODA_MCP_KEY`, no keychain, …).
    Refused(String),
}

/// Tells the server at `mcp_url` (which has proved it holds `old_key`) that the keychain holds
/// a new connection key; `old_key` is the bearer, so only the key's holder can ask this.
pub async fn tell_key_changed(mcp_url: &str, old_key: &Secret) -> KeyChange {
    let (Some(client), Some(url)) = (client(), beside(mcp_url, "/bridge/key-changed")) else {
        return KeyChange::Refused("its address is not a URL".into());
    };
    let response = match client.post(url).bearer_auth(old_key.expose()).send().await {
        Ok(r) => r,
        Err(e) => return KeyChange::Refused(format!("it did not answer: {e}")),
    };
    let status = response.status();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    match (status.is_success(), body["changed"].as_bool()) {
        (true, Some(true)) => KeyChange::Taken,
        (true, Some(false)) => KeyChange::AlreadyCurrent,
        _ => KeyChange::Refused(
            body["message"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| {
                    format!("it answered HTTP {status} (a version without this, restart it)")
                }),
        ),
    }
}
