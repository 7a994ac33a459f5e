//! The apps people connect most (ChatGPT, Claude), by the hosts their answers go to: a client
//! that *calls itself* one of them is compared with where its redirect URI points, so the
//! owner is told when a name does not match its address — anyone can register any name.

/// An app people know by name, and the hosts its OAuth answers go to.
struct KnownApp {
    name: &'static str,
    /// Words in a client name that claim to be this app (lowercase).
    claims: &'static [&'static str],
    /// Its hosts (and their subdomains).
    hosts: &'static [&'static str],
}

const KNOWN: &[KnownApp] = &[
    KnownApp {
        name: "ChatGPT",
        claims: &["chatgpt", "openai"],
        hosts: &["chatgpt.com", "openai.com"],
    },
    KnownApp {
        name: "Claude",
        claims: &["claude", "anthropic"],
        hosts: &["claude.ai", "claude.com", "anthropic.com"],
    },
];

fn host_is(host: &str, of: &KnownApp) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    of.hosts
        .iter()
        .any(|h| host == *h || host.ends_with(&format!(".{h}")))
}

/// What a client's name and addresses say about who it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict", content = "app")]
pub enum Likeness {
    /// Its client ID is a metadata document on a known app's own host: that app said so.
    Verified(&'static str),
    /// A registration under a known app's name whose answers go to that app's host: it may
    /// be the app, or anyone who registered under its name with its address (the code on
    /// the consent page tells them apart).
    NamedAndAddressed(&'static str),
    /// Named like a known app, but its answers go somewhere else.
    Impersonates(&'static str),
    /// Nothing known about the name.
    Unknown,
}

/// Judges a client by its name, its kind (`metadata document` or `registered`), its
/// `client_id` and the host its answers go to.
pub fn judge(name: &str, kind: &str, client_id: &str, redirect_host: &str) -> Likeness {
    let lower = name.to_lowercase();
    let claimed = KNOWN
        .iter()
        .find(|app| app.claims.iter().any(|c| lower.contains(c)));
    if kind == "metadata document" {
        let document_host = url::Url::parse(client_id)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        if let Some(app) = KNOWN.iter().find(|app| host_is(&document_host, app)) {
            if host_is(redirect_host, app) {
                return Likeness::Verified(app.name);
            }
        }
    }
    match claimed {
        Some(app) if host_is(redirect_host, app) => Likeness::NamedAndAddressed(app.name),
        Some(app) => Likeness::Impersonates(app.name),
        None => Likeness::Unknown,
    }
}

impl Likeness {
    /// One sentence for the owner.
    pub fn say(&self, redirect_host: &str) -> String {
        match self {
            Likeness::Verified(app) => format!("{app}'s own metadata document identifies it."),
            Likeness::NamedAndAddressed(app) => format!(
                "Registered under {app}'s name with {app}'s address ({redirect_host}). Anyone can register that: allow it only with the code your own consent page shows."
            ),
            Likeness::Impersonates(app) => format!(
                "It calls itself {app}, but its answers go to {redirect_host}, which is not {app}'s. Deny it unless you know it."
            ),
            Likeness::Unknown => format!("Its answers go to {redirect_host}."),
        }
    }
}

/// Whether answers for `redirect_host` may be sent there before the owner decided anything
/// (an error redirect): a known app's host, or this machine. A stranger's registration
/// cannot turn this server into a redirector to a site of their choosing.
pub fn trusted_redirect_host(redirect_host: &str) -> bool {
    let host = redirect_host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
        || KNOWN.iter().any(|app| host_is(redirect_host, app))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_compared_with_where_answers_go() {
        assert_eq!(
            judge("ChatGPT", "registered", "mcpc_x", "chatgpt.com"),
            Likeness::NamedAndAddressed("ChatGPT")
        );
        assert_eq!(
            judge("ChatGPT Connector", "registered", "mcpc_x", "evil.example"),
            Likeness::Impersonates("ChatGPT")
        );
        assert_eq!(
            judge("claude", "registered", "mcpc_x", "chatgpt.com"),
            Likeness::Impersonates("Claude")
        );
        assert_eq!(
            judge(
                "ChatGPT",
                "metadata document",
                "https://chatgpt.com/oauth/client.json",
                "chatgpt.com"
            ),
            Likeness::Verified("ChatGPT")
        );
        assert_eq!(
            judge(
                "ChatGPT",
                "metadata document",
                "https://chatgpt.com.evil.example/c.json",
                "chatgpt.com"
            ),
            Likeness::NamedAndAddressed("ChatGPT"),
            "a look-alike document host verifies nothing"
        );
        assert_eq!(
            judge("My tool", "registered", "mcpc_x", "tool.example"),
            Likeness::Unknown
        );
        assert!(!host_is("notchatgpt.com", &KNOWN[0]));
    }

    #[test]
    fn error_redirects_go_only_to_known_hosts_and_this_machine() {
        for ok in [
            "chatgpt.com",
            "claude.ai",
            "www.claude.com",
            "localhost",
            "127.0.0.1",
            "[::1]",
        ] {
            assert!(trusted_redirect_host(ok), "{ok}");
        }
        for no in ["evil.example", "chatgpt.com.evil.example", "192.168.1.2"] {
            assert!(!trusted_redirect_host(no), "{no}");
        }
    }
}
