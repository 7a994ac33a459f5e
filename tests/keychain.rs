//! The real OS keychain (Secret Service on Linux). These tests need a running, unlocked
//! keyring; `scripts/test.sh` provides one (dbus-run-session + gnome-keyring-daemon) and runs
//! them with `--include-ignored`.

use coda_mcp::coda::Secret;
use coda_mcp::secrets::{
    connection_key, rotate_connection_key, KeyringStore, SecretName, SecretStore, Source,
};

fn store() -> KeyringStore {
    KeyringStore::with_service(format!("coda-mcp-desktop-test-{}", std::process::id()))
}

#[test]
#[ignore = "needs a Secret Service session; scripts/test.sh runs it"]
fn secrets_round_trip_through_the_os_keychain() {
    let s = store();
    s.delete(SecretName::CodaToken).unwrap();
    assert_eq!(s.get(SecretName::CodaToken).unwrap(), None);
    s.set(
        SecretName::CodaToken,
        &Secret::new("pat_keychain_test_0001"),
    )
    .unwrap();
    assert_eq!(
        s.get(SecretName::CodaToken).unwrap().unwrap().expose(),
        "pat_keychain_test_0001"
    );
    s.set(
        SecretName::CodaToken,
        &Secret::new("pat_keychain_test_0002"),
    )
    .unwrap();
    assert_eq!(
        s.get(SecretName::CodaToken).unwrap().unwrap().expose(),
        "pat_keychain_test_0002",
        "set replaces"
    );
    s.delete(SecretName::CodaToken).unwrap();
    assert_eq!(s.get(SecretName::CodaToken).unwrap(), None);
}

#[test]
#[ignore = "needs a Secret Service session; scripts/test.sh runs it"]
fn the_connection_key_is_created_once_kept_and_rotated_in_the_keychain() {
    let s = store();
    s.delete(SecretName::ConnectionKey).unwrap();
    let (first, source) = connection_key(&s, None);
    assert_eq!(source, Source::Keychain);
    assert_eq!(s.get(SecretName::ConnectionKey).unwrap().unwrap(), first);
    let (again, _) = connection_key(&s, None);
    assert_eq!(again, first, "the key survives a restart");
    let rotated = rotate_connection_key(&s).unwrap();
    assert_ne!(rotated, first);
    assert_eq!(connection_key(&s, None).0, rotated);
    s.delete(SecretName::ConnectionKey).unwrap();
}
