//! Consent requests waiting for the owner, and how the owner's answer is tied to the page the
//! owner has in front of them.
//!
//! Each request gets, when its consent page is served, two things only that browser holds: a
//! page secret (an `HttpOnly` cookie; the answer — the redirect with the code — is handed
//! only to a browser that presents it) and a short code printed on the page. Approving from
//! the dashboard needs that code, so a stranger's request, however much it looks like the
//! owner's, cannot be approved by a click: the code is on the stranger's screen.
//!
//! The list is shared per client network (see `netshare`): a network holds at most a few
//! requests, a request of one network never pushes out another's, and a request whose page
//! is still open (it asked for its status a moment ago) is never dropped.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::store::Client;
use crate::coda::Secret;
use crate::netshare::{networks, NetKey};

/// How long a consent request waits for the owner.
pub const PENDING_TTL: Duration = Duration::from_secs(600);
/// Most consent requests one client network may have waiting.
pub const PER_NETWORK: usize = 5;
/// Most consent requests an IPv6 /48 may have waiting.
pub const PER_WIDE: usize = 20;
/// Most consent requests waiting at once, from everyone.
pub const MAX_PENDING: usize = 100;
/// A page that asked for its status within this long is open: its request is never dropped.
const PAGE_ALIVE: Duration = Duration::from_secs(5);
/// The code's alphabet: no 0/O, 1/I/L.
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// The code's length (shown as `ABC-DEF`).
const CODE_LEN: usize = 6;

/// A consent request waiting for the owner.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Its id (random; the consent page and the dashboard refer to it).
    pub id: String,
    /// The client asking.
    pub client: Client,
    /// Where the answer goes (validated against the client's).
    pub redirect_uri: String,
    /// The client's `state`, passed back.
    pub state: Option<String>,
    /// The PKCE challenge (S256).
    pub challenge: String,
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// The resource the tokens will be for.
    pub resource: String,
    /// The issuer the answer names (`iss`).
    pub issuer: String,
    /// Where the browser that asked came from.
    pub from: IpAddr,
    /// The browser's `User-Agent` (shortened).
    pub user_agent: String,
    /// When it came (for the owner).
    pub came: chrono::DateTime<chrono::Utc>,
    /// The code the consent page shows (`ABC-DEF`), which the dashboard asks for.
    pub code: String,
    /// The owner's answer, once given: where to send the browser.
    pub decided: Option<String>,
    page: [u8; 32],
    created: Instant,
    seen: Instant,
}

impl Pending {
    /// A new request from `from` (id, code and page secret are set when it is kept).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: Client,
        redirect_uri: String,
        state: Option<String>,
        challenge: String,
        scopes: Vec<String>,
        resource: String,
        issuer: String,
        from: IpAddr,
        user_agent: &str,
    ) -> Self {
        let now = Instant::now();
        Pending {
            id: String::new(),
            client,
            redirect_uri,
            state,
            challenge,
            scopes,
            resource,
            issuer,
            from,
            user_agent: user_agent
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect(),
            came: chrono::Utc::now(),
            code: String::new(),
            decided: None,
            page: [0; 32],
            created: now,
            seen: now,
        }
    }

    /// The host of the redirect URI, shown large on the consent page.
    pub fn redirect_host(&self) -> String {
        url::Url::parse(&self.redirect_uri)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// The network it came from, as the owner reads it (`192.0.2.7`, `2001:db8:1:2::/64`).
    pub fn network(&self) -> String {
        networks(self.from).0.to_string()
    }

    fn live(&self) -> bool {
        self.created.elapsed() < PENDING_TTL
    }

    fn page_open(&self) -> bool {
        self.seen.elapsed() < PAGE_ALIVE
    }

    fn own_network(&self) -> NetKey {
        networks(self.from).0
    }
}

/// Why a request was not kept.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Its network (or /48) already has its share waiting, each with its page open.
    NetworkFull,
    /// The list is full (no one else's request is ever pushed out).
    Full,
}

/// What the consent page's browser learns when it asks.
#[derive(Debug, PartialEq, Eq)]
pub enum Status {
    /// No such request (or it expired).
    Unknown,
    /// The request exists, but this browser did not get its page.
    NotThisBrowser,
    /// Waiting for the owner.
    Waiting,
    /// Answered: where the browser goes.
    Decided(String),
}

/// Whose answer a decision is.
#[derive(Debug, Clone, Copy)]
pub enum By<'a> {
    /// The consent page's form, from the browser holding its page secret (the connection key
    /// is checked by the HTTP layer before this).
    Page(&'a str),
    /// The owner in the dashboard: allowing needs the code the consent page shows.
    Dashboard(Option<&'a str>),
}

/// Why a decision was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Undecided {
    /// No such waiting request.
    Unknown,
    /// Already answered.
    Answered,
    /// The form did not come from the browser the page was served to.
    NotThisBrowser,
    /// Allowing from the dashboard needs the code.
    NoCode,
    /// The code is not this request's; `Some(name)` when it is another waiting request's.
    WrongCode(Option<String>),
}

/// The waiting list.
#[derive(Default)]
pub struct Waiting {
    list: Mutex<VecDeque<Pending>>,
}

fn normalise(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn new_code() -> String {
    let raw: String = (0..CODE_LEN)
        .map(|_| CODE_ALPHABET[rand::random_range(0..CODE_ALPHABET.len())] as char)
        .collect();
    format!("{}-{}", &raw[..CODE_LEN / 2], &raw[CODE_LEN / 2..])
}

impl Waiting {
    /// Keeps `request`; returns it (with its id and code) and the page secret for the cookie
    /// of the browser that asked. The same client asking again from the same network
    /// replaces its earlier request (one banner per app asking).
    pub fn add(&self, mut request: Pending) -> Result<(Pending, Secret), Refused> {
        let mut list = self.list.lock().expect("pending");
        list.retain(|p| p.live() && (p.decided.is_none() || p.page_open()));
        let own = request.own_network();
        let wide = networks(request.from).1;
        list.retain(|p| {
            !(p.decided.is_none()
                && p.client.id == request.client.id
                && p.redirect_uri == request.redirect_uri
                && p.own_network() == own)
        });
        let count = |list: &VecDeque<Pending>, key: NetKey| {
            list.iter()
                .filter(|p| {
                    let (o, w) = networks(p.from);
                    o == key || w == Some(key)
                })
                .count()
        };
        // Over its share, a network makes room among its own requests whose page is closed.
        for (key, share) in std::iter::once((own, PER_NETWORK)).chain(wide.map(|w| (w, PER_WIDE))) {
            while count(&list, key) >= share {
                let oldest = list.iter().position(|p| {
                    let (o, w) = networks(p.from);
                    (o == key || w == Some(key)) && !p.page_open()
                });
                match oldest {
                    Some(i) => {
                        list.remove(i);
                    }
                    None => return Err(Refused::NetworkFull),
                }
            }
        }
        if list.len() >= MAX_PENDING {
            return Err(Refused::Full);
        }
        let page = crate::secrets::random_token("cmp_");
        request.id = crate::secrets::random_token("req_").expose().to_owned();
        request.code = loop {
            let code = new_code();
            if !list.iter().any(|p| p.code == code) {
                break code;
            }
        };
        request.page = page.digest();
        request.created = Instant::now();
        request.seen = request.created;
        list.push_back(request.clone());
        Ok((request, page))
    }

    /// The request `id`, while it waits (or was just decided).
    pub fn get(&self, id: &str) -> Option<Pending> {
        let list = self.list.lock().expect("pending");
        list.iter().find(|p| p.id == id && p.live()).cloned()
    }

    /// Every request still waiting for the owner, oldest first.
    pub fn waiting(&self) -> Vec<Pending> {
        let list = self.list.lock().expect("pending");
        list.iter()
            .filter(|p| p.decided.is_none() && p.live())
            .cloned()
            .collect()
    }

    /// What the consent page's browser (holding `page_secret`, or not) learns of request
    /// `id`; a page that asks is open.
    pub fn status(&self, id: &str, page_secret: Option<&str>) -> Status {
        let mut list = self.list.lock().expect("pending");
        let Some(p) = list.iter_mut().find(|p| p.id == id && p.live()) else {
            return Status::Unknown;
        };
        if page_secret.is_none_or(|s| Secret::new(s).digest() != p.page) {
            return Status::NotThisBrowser;
        }
        p.seen = Instant::now();
        match &p.decided {
            Some(answer) => Status::Decided(answer.clone()),
            None => Status::Waiting,
        }
    }

    /// Decides request `id` by `by` with `answer`, which turns the request into where the
    /// browser goes (or `None` when it cannot, e.g. no room for another code). Returns the
    /// request as decided.
    pub fn decide(
        &self,
        id: &str,
        by: By<'_>,
        allow: bool,
        answer: impl FnOnce(&Pending, bool) -> Option<String>,
    ) -> Result<Pending, Undecided> {
        let mut list = self.list.lock().expect("pending");
        let codes: Vec<(String, String)> = list
            .iter()
            .filter(|p| p.decided.is_none() && p.live())
            .map(|p| (normalise(&p.code), p.client.name.clone()))
            .collect();
        let Some(p) = list.iter_mut().find(|p| p.id == id && p.live()) else {
            return Err(Undecided::Unknown);
        };
        if p.decided.is_some() {
            return Err(Undecided::Answered);
        }
        match by {
            By::Page(secret) => {
                if Secret::new(secret).digest() != p.page {
                    return Err(Undecided::NotThisBrowser);
                }
            }
            By::Dashboard(code) if allow => {
                let Some(code) = code.map(normalise).filter(|c| !c.is_empty()) else {
                    return Err(Undecided::NoCode);
                };
                if code != normalise(&p.code) {
                    let other = codes
                        .iter()
                        .find(|(c, _)| *c == code)
                        .map(|(_, n)| n.clone());
                    return Err(Undecided::WrongCode(other));
                }
            }
            By::Dashboard(_) => {}
        }
        let Some(to) = answer(p, allow) else {
            return Err(Undecided::Unknown);
        };
        p.decided = Some(to);
        Ok(p.clone())
    }

    /// Forgets expired requests (the timer's pruning).
    pub fn prune(&self) {
        self.list
            .lock()
            .expect("pending")
            .retain(|p| p.live() && (p.decided.is_none() || p.created.elapsed() < PENDING_TTL));
    }

    /// Requests held (for tests of the bound).
    pub fn len(&self) -> usize {
        self.list.lock().expect("pending").len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes every page look closed (tests: a page not seen for a while).
    #[doc(hidden)]
    pub fn age_pages(&self) {
        for p in self.list.lock().expect("pending").iter_mut() {
            p.seen = Instant::now() - PAGE_ALIVE;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(id: &str) -> Client {
        Client {
            id: id.into(),
            kind: "registered".into(),
            name: format!("App {id}"),
            redirect_uris: vec!["https://app.example/cb".into()],
            ..Client::default()
        }
    }

    fn request(id: &str, from: &str) -> Pending {
        Pending::new(
            client(id),
            "https://app.example/cb".into(),
            None,
            "c".repeat(43),
            vec!["coda:read".into()],
            "https://srv.example/mcp".into(),
            "https://srv.example".into(),
            from.parse().unwrap(),
            "Mozilla/5.0\n(test)",
        )
    }

    #[test]
    fn the_answer_goes_only_to_the_browser_that_holds_the_page() {
        let w = Waiting::default();
        let (p, secret) = w.add(request("a", "192.0.2.1")).unwrap();
        assert_eq!(p.user_agent, "Mozilla/5.0(test)");
        assert_eq!(w.status(&p.id, None), Status::NotThisBrowser);
        assert_eq!(w.status(&p.id, Some("cmp_guess")), Status::NotThisBrowser);
        assert_eq!(w.status(&p.id, Some(secret.expose())), Status::Waiting);
        // The dashboard cannot allow it without the page's code, nor with another's.
        let (other, _) = w.add(request("b", "192.0.2.2")).unwrap();
        let answer = |_: &Pending, _: bool| Some("https://app.example/cb?code=x".to_owned());
        assert_eq!(
            w.decide(&p.id, By::Dashboard(None), true, answer)
                .unwrap_err(),
            Undecided::NoCode
        );
        assert_eq!(
            w.decide(&p.id, By::Dashboard(Some(&other.code)), true, answer)
                .unwrap_err(),
            Undecided::WrongCode(Some("App b".into()))
        );
        assert_eq!(
            w.decide(&p.id, By::Page("cmp_guess"), true, answer)
                .unwrap_err(),
            Undecided::NotThisBrowser
        );
        let typed = p.code.to_lowercase().replace('-', " ");
        w.decide(&p.id, By::Dashboard(Some(&typed)), true, answer)
            .expect("the right code, however typed");
        assert_eq!(
            w.status(&p.id, Some(secret.expose())),
            Status::Decided("https://app.example/cb?code=x".into())
        );
        assert_eq!(w.status(&p.id, None), Status::NotThisBrowser);
        // Denying needs no code.
        w.decide(&other.id, By::Dashboard(None), false, answer)
            .expect("deny");
    }

    #[test]
    fn a_network_holds_only_its_share_and_never_pushes_out_anothers() {
        let w = Waiting::default();
        let (owners, _) = w.add(request("owner", "198.51.100.7")).unwrap();
        w.age_pages();
        for n in 3..7 {
            for i in 0..30 {
                let _ = w.add(request(&format!("s{n}-{i}"), &format!("192.0.2.{n}")));
            }
        }
        assert!(
            w.get(&owners.id).is_some(),
            "the owner's request is still there"
        );
        assert_eq!(w.len(), 1 + 4 * PER_NETWORK);
        // Pages kept open cannot be pushed out, even by their own network.
        let w = Waiting::default();
        for i in 0..PER_NETWORK {
            w.add(request(&format!("x{i}"), "192.0.2.9")).unwrap();
        }
        assert_eq!(
            w.add(request("one-more", "192.0.2.9")).unwrap_err(),
            Refused::NetworkFull
        );
        // An IPv6 /48 is one share too, over its /64s.
        let w = Waiting::default();
        let mut kept = 0;
        for i in 0..100 {
            if w.add(request(&format!("v{i}"), &format!("2001:db8:5:{i:x}::1")))
                .is_ok()
            {
                kept += 1;
            }
        }
        assert_eq!(kept, PER_WIDE);
    }

    #[test]
    fn the_same_app_asking_again_replaces_its_request() {
        let w = Waiting::default();
        let (first, _) = w.add(request("a", "192.0.2.1")).unwrap();
        let (second, _) = w.add(request("a", "192.0.2.1")).unwrap();
        assert!(w.get(&first.id).is_none());
        assert_eq!(w.waiting().len(), 1);
        assert_eq!(w.waiting()[0].id, second.id);
        assert_ne!(first.code, second.code);
    }

    #[test]
    fn the_list_is_bounded_and_refuses_rather_than_evicts() {
        let w = Waiting::default();
        for i in 0..MAX_PENDING {
            let a = i % 250;
            let b = i / 250;
            w.add(request(&format!("c{i}"), &format!("10.{b}.{a}.1")))
                .unwrap();
        }
        assert_eq!(
            w.add(request("late", "203.0.113.1")).unwrap_err(),
            Refused::Full
        );
    }
}
