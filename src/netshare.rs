//! Strangers counted by the network they come from, never all together: what anyone on the
//! public URL can do without credentials (guess keys, register clients, ask for consent,
//! exchange or revoke tokens, send bodies) is held to a share per client network, so one
//! network cannot use up what another needs.
//!
//! A client's network is its IPv4 address, or its IPv6 /64 (what one subscriber gets).
//! Because one subscriber often holds a whole /48 (65,536 /64s), every IPv6 /64 also counts
//! toward its /48, which has a larger limit of its own: spreading requests over the /64s of
//! one /48 does not multiply what can be done, and evicting entries of a bounded table does
//! not forget the aggregate.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Which counter a network key is for (a /64 and a /48 can have the same address).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// The client's own network: an IPv4 address, an IPv6 /64.
    Own,
    /// The IPv6 /48 a /64 belongs to.
    Wide,
}

/// A network a limit is counted for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NetKey(pub Scope, pub IpAddr);

impl std::fmt::Display for NetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.0, self.1) {
            (_, IpAddr::V4(v4)) => write!(f, "{v4}"),
            (Scope::Own, IpAddr::V6(v6)) => write!(f, "{v6}/64"),
            (Scope::Wide, IpAddr::V6(v6)) => write!(f, "{v6}/48"),
        }
    }
}

/// The client network of `ip`: the IPv4 address (an IPv4-mapped IPv6 address is the IPv4
/// one), or the IPv6 /64.
pub fn client_network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::from(segments)
            }
        },
    }
}

/// The networks `ip` counts toward: its own, and for IPv6 its /48.
pub fn networks(ip: IpAddr) -> (NetKey, Option<NetKey>) {
    let own = client_network(ip);
    let wide = match own {
        IpAddr::V4(_) => None,
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            segments[3..].fill(0);
            Some(NetKey(Scope::Wide, IpAddr::from(segments)))
        }
    };
    (NetKey(Scope::Own, own), wide)
}

/// How many events a network may have within a window.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    /// For one network (an IPv4 address, an IPv6 /64).
    pub per_network: usize,
    /// For an IPv6 /48 together.
    pub per_wide: usize,
    /// The window the events are counted in.
    pub window: Duration,
}

impl Limit {
    /// `per_network` events per `window`, and five times that for a /48.
    pub const fn per(per_network: usize, window: Duration) -> Self {
        Limit {
            per_network,
            per_wide: per_network * 5,
            window,
        }
    }

    fn of(&self, scope: Scope) -> usize {
        match scope {
            Scope::Own => self.per_network,
            Scope::Wide => self.per_wide,
        }
    }
}

/// Sliding-window counts of events per network (a bounded table; the least recently counted
/// networks are forgotten first, which is harmless for the /48s because each /64 of a
/// flooding /48 keeps its /48's entry fresh).
pub struct WindowCounts {
    limit: Limit,
    table: Mutex<lru::LruCache<NetKey, VecDeque<Instant>>>,
}

impl WindowCounts {
    /// Counts for `limit`, remembering at most `networks` networks.
    pub fn new(limit: Limit, networks: usize) -> Self {
        WindowCounts {
            limit,
            table: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(networks.max(1)).expect("non-zero"),
            )),
        }
    }

    /// The limit counted.
    pub fn limit(&self) -> Limit {
        self.limit
    }

    /// `Err(wait)` when `ip`'s network (or its /48) has had its limit within the window;
    /// counts nothing.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let (own, wide) = networks(ip);
        let mut table = self.table.lock().expect("network counts");
        let now = Instant::now();
        let mut wait = None::<Duration>;
        for key in std::iter::once(own).chain(wide) {
            if let Some(list) = table.get_mut(&key) {
                expire(list, now, self.limit.window);
                if list.len() >= self.limit.of(key.0) {
                    let until = self.limit.window.saturating_sub(
                        now.duration_since(list[list.len() - self.limit.of(key.0)]),
                    );
                    wait = Some(wait.map_or(until, |w| w.max(until)));
                }
            }
        }
        wait.map_or(Ok(()), Err)
    }

    /// Counts one event for `ip`'s networks (whatever the limit says).
    pub fn record(&self, ip: IpAddr) {
        let (own, wide) = networks(ip);
        let mut table = self.table.lock().expect("network counts");
        let now = Instant::now();
        for key in std::iter::once(own).chain(wide) {
            let list = table.get_or_insert_mut(key, VecDeque::new);
            expire(list, now, self.limit.window);
            list.push_back(now);
            // More than the limit's worth is never needed to decide.
            while list.len() > self.limit.of(key.0) {
                list.pop_front();
            }
        }
    }

    /// Takes one event for `ip` if its networks are within their limits; `Err(wait)` if not
    /// (nothing is counted then).
    pub fn take(&self, ip: IpAddr) -> Result<(), Duration> {
        self.check(ip)?;
        self.record(ip);
        Ok(())
    }

    /// Networks remembered (for tests of the bound).
    pub fn remembered(&self) -> usize {
        self.table.lock().expect("network counts").len()
    }
}

fn expire(list: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while list
        .front()
        .is_some_and(|t| now.duration_since(*t) >= window)
    {
        list.pop_front();
    }
}

/// Shares of something held (bytes, requests) per network: a network may hold at most
/// `per_network`, an IPv6 /48 `per_wide`, everyone together `total`.
#[derive(Clone, Copy, Debug)]
pub struct Shares {
    /// One network's most.
    pub per_network: usize,
    /// One IPv6 /48's most.
    pub per_wide: usize,
    /// Everyone's most together.
    pub total: usize,
}

/// What is held per network under [`Shares`].
#[derive(Debug, Default)]
pub struct Held {
    by_network: std::collections::HashMap<NetKey, usize>,
    total: usize,
}

impl Held {
    /// Takes `n` for `ip` if every share has room (else nothing is taken).
    pub fn take(&mut self, shares: &Shares, ip: IpAddr, n: usize) -> bool {
        let (own, wide) = networks(ip);
        if self.total + n > shares.total
            || self.of(own) + n > shares.per_network
            || wide.is_some_and(|w| self.of(w) + n > shares.per_wide)
        {
            return false;
        }
        self.total += n;
        for key in std::iter::once(own).chain(wide) {
            *self.by_network.entry(key).or_default() += n;
        }
        true
    }

    /// Gives back `n` taken for `ip`.
    pub fn give_back(&mut self, ip: IpAddr, n: usize) {
        let (own, wide) = networks(ip);
        self.total = self.total.saturating_sub(n);
        for key in std::iter::once(own).chain(wide) {
            if let Some(held) = self.by_network.get_mut(&key) {
                *held = held.saturating_sub(n);
                if *held == 0 {
                    self.by_network.remove(&key);
                }
            }
        }
    }

    /// What `key` holds.
    pub fn of(&self, key: NetKey) -> usize {
        self.by_network.get(&key).copied().unwrap_or(0)
    }

    /// What everyone holds.
    pub fn total(&self) -> usize {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_are_an_ipv4_address_an_ipv6_64_and_its_48() {
        assert_eq!(
            networks(ip("192.0.2.7")),
            (NetKey(Scope::Own, ip("192.0.2.7")), None)
        );
        assert_eq!(
            networks(ip("::ffff:192.0.2.7")).0,
            NetKey(Scope::Own, ip("192.0.2.7"))
        );
        let (own, wide) = networks(ip("2001:db8:1:2:aaaa::1"));
        assert_eq!(own, NetKey(Scope::Own, ip("2001:db8:1:2::")));
        assert_eq!(wide, Some(NetKey(Scope::Wide, ip("2001:db8:1::"))));
        assert_eq!(own.to_string(), "2001:db8:1:2::/64");
        assert_eq!(wide.unwrap().to_string(), "2001:db8:1::/48");
    }

    #[test]
    fn a_48_cannot_multiply_its_limit_over_its_64s() {
        let counts = WindowCounts::new(Limit::per(10, Duration::from_secs(60)), 10_000);
        let mut taken = 0;
        for i in 0..65_536u32 {
            let addr = format!("2001:db8:7:{:x}::1", i);
            if counts.take(ip(&addr)).is_ok() {
                taken += 1;
            }
        }
        assert_eq!(taken, 50, "the /48's limit, however many /64s it uses");
        assert!(counts.remembered() <= 10_000);
        assert!(
            counts.take(ip("2001:db8:8::1")).is_ok(),
            "another /48 is not affected"
        );
        assert!(counts.take(ip("192.0.2.1")).is_ok());
    }

    #[test]
    fn the_table_forgetting_64s_does_not_forget_their_48() {
        // A table smaller than the /64s used: the /48's entry stays the most recently used.
        let counts = WindowCounts::new(Limit::per(3, Duration::from_secs(60)), 100);
        for i in 0..1_000u32 {
            counts.record(ip(&format!("2001:db8:9:{:x}::1", i)));
        }
        assert!(counts.check(ip("2001:db8:9:ffff::1")).is_err());
    }

    #[test]
    fn a_network_is_held_to_its_share_of_what_is_held() {
        let shares = Shares {
            per_network: 100,
            per_wide: 250,
            total: 1_000,
        };
        let mut held = Held::default();
        assert!(held.take(&shares, ip("192.0.2.1"), 100));
        assert!(!held.take(&shares, ip("192.0.2.1"), 1), "its share is full");
        assert!(
            held.take(&shares, ip("192.0.2.2"), 100),
            "another network's is not"
        );
        for i in 0..2 {
            assert!(held.take(&shares, ip(&format!("2001:db8:1:{i}::1")), 100));
        }
        assert!(
            !held.take(&shares, ip("2001:db8:1:9::1"), 100),
            "the /48's share is full"
        );
        held.give_back(ip("192.0.2.1"), 100);
        assert!(held.take(&shares, ip("192.0.2.1"), 100), "given back");
        assert_eq!(held.total(), 400);
    }
}
