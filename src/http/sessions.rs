//! Every session the server holds, and whose it is: rmcp's standard MCP sessions (with the
//! principal that created each) and the ChatGPT direct-call flow's sessions. One place
//! answers "is this session the caller's?" and "may this caller open another?".
//!
//! Sessions are shared fairly: `--max-sessions` is the total; callers other than the owner
//! (pass-through tokens) may together hold all but the owner's reserve, and each of them at
//! most a tenth of the total. So however many sessions a stranger with a valid Coda token
//! opens, the owner can always open theirs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;

use super::direct_sessions::DirectSessions;
use crate::caller::Principal;

/// What a session id in a request stands for, for the caller who sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// A standard MCP session of this caller's.
    Mcp,
    /// A direct-call session of this caller's; `server_issued` when the server chose its id.
    Direct { server_issued: bool },
    /// A standard MCP session of someone else's: answered exactly as an unknown one.
    NotYours,
    /// No such session (never existed, expired, or a name nobody has used).
    Unknown,
}

/// Why a caller may not open another session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Full {
    /// The server holds `--max-sessions`, or guests hold all but the owner's reserve.
    Server(usize),
    /// This caller holds its share already.
    Caller(usize),
}

impl std::fmt::Display for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Full::Server(max) => write!(f, "The server already has {max} sessions, its maximum; close idle sessions or try again later"),
            Full::Caller(share) => write!(f, "You already have {share} sessions open, the maximum for one caller; close idle sessions (DELETE /mcp) or wait for them to expire"),
        }
    }
}

/// The sessions and their owners.
pub(crate) struct Sessions {
    /// rmcp's standard MCP sessions.
    pub(super) mcp: Arc<LocalSessionManager>,
    /// The direct-call flow's sessions (each keeps its owner itself).
    pub(super) direct: Arc<DirectSessions>,
    /// Who created each standard MCP session.
    owners: Mutex<HashMap<Arc<str>, Principal>>,
    max: usize,
}

impl Sessions {
    /// Sessions within `max` in all.
    pub(super) fn new(
        mcp: Arc<LocalSessionManager>,
        direct: Arc<DirectSessions>,
        max: usize,
    ) -> Self {
        Sessions {
            mcp,
            direct,
            owners: Mutex::default(),
            max,
        }
    }

    /// Sessions the owner can always open, whatever guests hold.
    pub(crate) fn owner_reserve(max: usize) -> usize {
        (max / 4).max(1).min(max)
    }

    /// Sessions one guest may hold.
    pub(crate) fn per_guest(max: usize) -> usize {
        (max / 10).max(1)
    }

    /// Whether `id` names a live standard MCP session (whoever holds it).
    pub(super) async fn is_mcp(&self, id: &str) -> bool {
        self.mcp
            .sessions
            .read()
            .await
            .contains_key(&Arc::<str>::from(id))
    }

    /// What `id` is for `principal`.
    pub(crate) async fn lookup(&self, id: &str, principal: Principal) -> Lookup {
        if self.is_mcp(id).await {
            let owner = self.owners.lock().expect("owners").get(id).copied();
            // A session whose creator was not recorded yet (its `initialize` is still being
            // answered) is nobody else's either.
            return match owner {
                Some(owner) if owner != principal => Lookup::NotYours,
                _ => Lookup::Mcp,
            };
        }
        match self.direct.server_issued(principal, id) {
            Some(server_issued) => Lookup::Direct { server_issued },
            None => Lookup::Unknown,
        }
    }

    /// Live sessions in all.
    pub(crate) async fn count(&self) -> usize {
        self.mcp.sessions.read().await.len() + self.direct.count()
    }

    /// Live sessions of `principal`'s, and of every caller but the owner together.
    async fn counts(&self, principal: Principal) -> (usize, usize) {
        let live = self.mcp.sessions.read().await;
        let mut owners = self.owners.lock().expect("owners");
        owners.retain(|id, _| live.contains_key(id));
        let (mut mine, mut guests) = (0, 0);
        for owner in owners.values() {
            mine += usize::from(*owner == principal);
            guests += usize::from(*owner != Principal::Owner);
        }
        drop(owners);
        drop(live);
        let direct = self.direct.counts(principal);
        (mine + direct.0, guests + direct.1)
    }

    /// Whether `principal` may open one more session.
    pub(crate) async fn admit(&self, principal: Principal) -> Result<(), Full> {
        let total = self.count().await;
        if total >= self.max {
            return Err(Full::Server(self.max));
        }
        // Counting also forgets the owners of sessions that ended.
        let (mine, guests) = self.counts(principal).await;
        if principal == Principal::Owner {
            return Ok(());
        }
        if guests >= self.max - Self::owner_reserve(self.max) {
            return Err(Full::Server(self.max));
        }
        let share = Self::per_guest(self.max);
        if mine >= share {
            return Err(Full::Caller(share));
        }
        Ok(())
    }

    /// Records who created the standard MCP session `id`.
    pub(crate) fn bind(&self, id: &str, principal: Principal) {
        self.owners
            .lock()
            .expect("owners")
            .insert(Arc::from(id), principal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_keeps_a_reserve_and_guests_a_share() {
        assert_eq!(Sessions::owner_reserve(1_000), 250);
        assert_eq!(Sessions::per_guest(1_000), 100);
        assert_eq!(Sessions::owner_reserve(1), 1);
        assert_eq!(Sessions::per_guest(3), 1);
    }

    #[tokio::test]
    async fn guests_are_held_to_their_share_and_leave_the_owner_room() {
        let sessions = Sessions::new(
            Arc::default(),
            Arc::new(DirectSessions::new(std::time::Duration::from_secs(60))),
            20,
        );
        let guest = |n: u8| Principal::Token([n; 32]);
        // A guest's share is two sessions (a tenth of 20).
        for _ in 0..2 {
            sessions.admit(guest(1)).await.expect("within the share");
            sessions.direct.create(guest(1), None).ok().unwrap();
        }
        assert_eq!(sessions.admit(guest(1)).await, Err(Full::Caller(2)));
        // Guests together stop at 15 of 20, leaving the owner five.
        for n in 2..=8 {
            for _ in 0..2 {
                if sessions.admit(guest(n)).await.is_ok() {
                    sessions.direct.create(guest(n), None).ok().unwrap();
                }
            }
        }
        assert_eq!(sessions.count().await, 15);
        assert_eq!(sessions.admit(guest(9)).await, Err(Full::Server(20)));
        for _ in 0..5 {
            sessions
                .admit(Principal::Owner)
                .await
                .expect("the owner's reserve");
            sessions.direct.create(Principal::Owner, None).ok().unwrap();
        }
        assert_eq!(
            sessions.admit(Principal::Owner).await,
            Err(Full::Server(20))
        );
    }
}
