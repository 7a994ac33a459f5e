//! Who is calling: what the authentication layer attaches to each request and what the
//! engine, the tools and the session bookkeeping act on. It sits below the engine (which
//! picks the Coda client and checks scopes by it) and above nothing, so every layer can name
//! a caller without importing the HTTP layer.

use crate::coda::Secret;

/// Who is calling, attached to each authenticated request.
#[derive(Clone, Debug)]
pub enum Caller {
    /// The owner (connection key, or `--no-auth` on loopback): the server's own Coda token.
    Owner,
    /// A caller who brought their own Coda token (pass-through).
    CodaToken(Secret),
    /// An app the owner approved through OAuth (ChatGPT, Claude's connectors): it acts with
    /// the owner's Coda token, within the scopes the owner granted.
    Grant(Grant),
}

/// An OAuth grant as a caller sees it: which grant, which app, what it may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The grant's id (not a secret: tokens are).
    pub id: String,
    /// The app's name as it registered (shown in the dashboard and the history).
    pub client_name: String,
    /// Whether the grant includes `coda:write` (else only tools that read).
    pub write: bool,
}

/// The id prefix of the grant an outbound tunnel's commands run as (OpenAI's Secure MCP
/// Tunnel: its API key is the credential; there is no OAuth grant in the store).
pub const TUNNEL_GRANT_PREFIX: &str = "tunnel:openai:";

/// The scope that lets a grant read.
pub const SCOPE_READ: &str = "coda:read";
/// The scope that lets a grant change Coda.
pub const SCOPE_WRITE: &str = "coda:write";

impl Caller {
    /// Who this caller is for session ownership and fair use: the owner, one pass-through
    /// caller (by the SHA-256 of their token; the token itself is not kept for this), or one
    /// OAuth grant.
    pub fn principal(&self) -> Principal {
        match self {
            Caller::Owner => Principal::Owner,
            Caller::CodaToken(token) => Principal::Token(token.digest()),
            Caller::Grant(grant) => Principal::Grant(Secret::new(grant.id.clone()).digest()),
        }
    }

    /// Whether this caller may run tools that change Coda (a grant without `coda:write` may
    /// not; the server's read-only mode applies to everyone on top of this).
    pub fn may_write(&self) -> bool {
        match self {
            Caller::Grant(grant) => grant.write,
            _ => true,
        }
    }

    /// How the caller shows in the history: an OAuth app by name, others not at all (their
    /// MCP client's own name is recorded).
    pub fn label(&self) -> Option<String> {
        match self {
            Caller::Grant(grant) if grant.id.starts_with(TUNNEL_GRANT_PREFIX) => {
                Some(grant.client_name.clone())
            }
            Caller::Grant(grant) => Some(format!("{} (OAuth)", grant.client_name)),
            _ => None,
        }
    }
}

/// The identity a session is bound to and a rate bucket is keyed by. Sessions created by one
/// principal are invisible to every other (404), so a pass-through caller or an approved app
/// can never read or end the owner's sessions, or another's. Everyone but the owner counts as
/// a guest for the shares the owner keeps a reserve of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Principal {
    /// The connection key (or `--no-auth` on loopback).
    Owner,
    /// A pass-through caller, by the SHA-256 of their Coda token.
    Token([u8; 32]),
    /// An OAuth grant, by the SHA-256 of its id.
    Grant([u8; 32]),
    /// Nobody known yet (the OAuth endpoints' callers): a guest like any stranger.
    Anonymous,
}

impl Principal {
    /// A short, non-secret label for bucket keys (a prefix of a hash, never a token).
    pub fn label(&self) -> String {
        let hex = |d: &[u8; 32]| -> String { d[..12].iter().map(|b| format!("{b:02x}")).collect() };
        match self {
            Principal::Owner => "owner".into(),
            Principal::Token(d) => hex(d),
            Principal::Grant(d) => format!("g{}", hex(d)),
            Principal::Anonymous => "anonymous".into(),
        }
    }

    /// Whether this is someone other than the owner (pass-through callers, approved apps).
    pub fn is_guest(&self) -> bool {
        *self != Principal::Owner
    }
}
