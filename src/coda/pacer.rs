//! Client-side pacing so that every session together stays inside Coda's per-user rate limits.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Coda's rate-limit classes (see `shared/coda-api/README.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateClass {
    /// GET requests: 100 per 6 s.
    Read,
    /// POST/PUT/PATCH/DELETE: 10 per 6 s.
    Write,
    /// Writes to page content: 3 per 10 s.
    DocContentWrite,
    /// `GET /docs`: 4 per 6 s.
    ListDocs,
    /// Analytics: 100 per 6 s.
    Analytics,
}

impl RateClass {
    /// All classes, in a fixed order used for indexing.
    pub const ALL: [RateClass; 5] = [
        RateClass::Read,
        RateClass::Write,
        RateClass::DocContentWrite,
        RateClass::ListDocs,
        RateClass::Analytics,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// The class's name in `operations.tsv` and in `--rate-limit`.
    pub fn name(self) -> &'static str {
        match self {
            RateClass::Read => "read",
            RateClass::Write => "write",
            RateClass::DocContentWrite => "doc-content-write",
            RateClass::ListDocs => "list-docs",
            RateClass::Analytics => "analytics",
        }
    }

    /// The class `--rate-limit` names: Coda's kebab-case (`doc-content-write`) or the
    /// camelCase the dashboard shows (`docContentWrite`), in any letter case.
    pub fn from_flag(name: &str) -> Option<Self> {
        RateClass::ALL.into_iter().find(|c| {
            c.name().eq_ignore_ascii_case(name)
                || c.name().replace('-', "").eq_ignore_ascii_case(name)
        })
    }

    /// Parses the `rate_class` column of `operations.tsv`.
    pub fn from_tsv(name: &str) -> Option<Self> {
        Some(match name {
            "read" => RateClass::Read,
            "write" => RateClass::Write,
            "doc-content-write" => RateClass::DocContentWrite,
            "list-docs" => RateClass::ListDocs,
            "analytics" => RateClass::Analytics,
            _ => return None,
        })
    }
}

/// A limit of `count` requests per `window`, per rate class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// `(count, window)` for each class in [`RateClass::ALL`] order.
    pub limits: [(u32, Duration); 5],
}

impl RateLimits {
    /// Coda's published limits.
    pub const CODA: RateLimits = RateLimits {
        limits: [
            (100, Duration::from_secs(6)),
            (10, Duration::from_secs(6)),
            (3, Duration::from_secs(10)),
            (4, Duration::from_secs(6)),
            (100, Duration::from_secs(6)),
        ],
    };

    /// The limit for one class.
    pub fn get(&self, class: RateClass) -> (u32, Duration) {
        self.limits[class.index()]
    }

    /// Multiplies every count by `factor` (used by tests and the relaxed demo).
    pub fn scaled(mut self, factor: u32) -> Self {
        for l in &mut self.limits {
            l.0 = l.0.saturating_mul(factor);
        }
        self
    }
}

/// Why a `--rate-limit` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateLimitSpecError {
    /// An entry is not `class=count/seconds`.
    #[error("'{0}' is not class=count/seconds (e.g. write=10/6)")]
    Malformed(String),
    /// The class is not one of Coda's.
    #[error(
        "unknown rate class '{0}': use read, write, doc-content-write, list-docs or analytics (or the dashboard's docContentWrite, listDocs)"
    )]
    UnknownClass(String),
    /// A class is given twice.
    #[error("rate class '{0}' is given twice in --rate-limit: give each class once")]
    Duplicate(String),
    /// The count or window is zero, negative or not a number.
    #[error("'{0}' needs a count of at least 1 and a window of more than 0 seconds")]
    OutOfRange(String),
}

impl RateLimits {
    /// Coda's limits with some classes changed, from `class=count/seconds` entries separated
    /// by commas (`read=100/6,write=10/6,doc-content-write=3/10,list-docs=4/6,analytics=100/6`).
    /// Coda's limits are per user; lower them when the token is shared with other tools.
    pub fn parse_overrides(spec: &str) -> Result<RateLimits, RateLimitSpecError> {
        let mut limits = RateLimits::CODA;
        let mut given = Vec::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let malformed = || RateLimitSpecError::Malformed(entry.to_owned());
            let (class, rate) = entry.split_once('=').ok_or_else(malformed)?;
            let class = RateClass::from_flag(class.trim())
                .ok_or_else(|| RateLimitSpecError::UnknownClass(class.trim().to_owned()))?;
            if given.contains(&class) {
                return Err(RateLimitSpecError::Duplicate(class.name().to_owned()));
            }
            given.push(class);
            let (count, window) = rate.split_once('/').ok_or_else(malformed)?;
            let count: u32 = count.trim().parse().map_err(|_| malformed())?;
            let window: f64 = window
                .trim()
                .trim_end_matches('s')
                .parse()
                .map_err(|_| malformed())?;
            let window = Duration::try_from_secs_f64(window)
                .ok()
                .filter(|w| !w.is_zero() && count > 0)
                .ok_or_else(|| RateLimitSpecError::OutOfRange(entry.to_owned()))?;
            limits.limits[class.index()] = (count, window);
        }
        Ok(limits)
    }
}

impl std::fmt::Display for RateLimits {
    /// The `--rate-limit` form of every class.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, class) in RateClass::ALL.iter().enumerate() {
            let (count, window) = self.get(*class);
            let sep = if i == 0 { "" } else { "," };
            write!(f, "{sep}{}={count}/{}", class.name(), window.as_secs_f64())?;
        }
        Ok(())
    }
}

/// A sliding-window limiter per rate class, shared by every session of the process.
#[derive(Debug)]
pub struct Pacer {
    limits: RateLimits,
    windows: [Mutex<VecDeque<Instant>>; 5],
    /// Per class, when Coda's last 429 allows requests again: a 429 means the whole class is
    /// over the limit for this user, so no session sends into it until then.
    paused_until: [std::sync::Mutex<Option<Instant>>; 5],
    /// Extra time a slot stays taken, so that requests delayed in transit still arrive
    /// inside the server's window (zero for a server-side limiter).
    margin_percent: u32,
}

impl Pacer {
    /// A limiter enforcing `limits` exactly, as a server does.
    pub fn new(limits: RateLimits) -> Self {
        Pacer {
            limits,
            windows: Default::default(),
            paused_until: Default::default(),
            margin_percent: 0,
        }
    }

    /// A client-side pacer: each window is stretched by 10% (at least 300 ms) because the
    /// server counts arrivals, which lag behind our departures by a varying amount.
    pub fn with_safety_margin(limits: RateLimits) -> Self {
        Pacer {
            limits,
            windows: Default::default(),
            paused_until: Default::default(),
            margin_percent: 10,
        }
    }

    /// The limits it enforces.
    pub fn limits(&self) -> RateLimits {
        self.limits
    }

    fn window(&self, class: RateClass) -> (u32, Duration) {
        let (count, window) = self.limits.get(class);
        if self.margin_percent == 0 {
            return (count, window);
        }
        let margin = (window * self.margin_percent / 100).max(Duration::from_millis(300));
        (count, window + margin)
    }

    /// Holds every request of `class` back for `wait` from now, because Coda answered 429:
    /// the class is over the limit for this user, whichever session asks next. A pause never
    /// shortens one already in force.
    pub fn pause(&self, class: RateClass, wait: Duration) {
        let until = Instant::now() + wait;
        let mut paused = self.paused_until[class.index()]
            .lock()
            .expect("paused_until");
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
    }

    /// How long `class` stays paused by a 429 (zero when it is not).
    pub fn paused_for(&self, class: RateClass) -> Duration {
        self.paused_until[class.index()]
            .lock()
            .expect("paused_until")
            .map_or(Duration::ZERO, |until| {
                until.saturating_duration_since(Instant::now())
            })
    }

    /// Waits out a 429's pause of `class` (see [`Pacer::pause`]) and until one more request
    /// of it fits in its window, then claims the slot. Returns how long it waited.
    pub async fn acquire(&self, class: RateClass) -> Duration {
        let started = Instant::now();
        loop {
            let paused = self.paused_for(class);
            if !paused.is_zero() {
                tokio::time::sleep(paused).await;
                continue;
            }
            match self.try_acquire(class).await {
                Ok(()) => return started.elapsed(),
                Err(wait) => tokio::time::sleep(wait.max(Duration::from_millis(1))).await,
            }
        }
    }

    /// Claims a slot of `class` if one is free now; otherwise says how long until one frees up.
    /// (The demo workspace uses this to answer 429 the way Coda does.)
    pub async fn try_acquire(&self, class: RateClass) -> Result<(), Duration> {
        let (count, window) = self.window(class);
        let mut slots = self.windows[class.index()].lock().await;
        let now = Instant::now();
        while slots
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            slots.pop_front();
        }
        if (slots.len() as u32) < count.max(1) {
            slots.push_back(now);
            return Ok(());
        }
        let oldest = *slots.front().expect("non-empty window");
        Err((oldest + window).saturating_duration_since(now))
    }

    /// Free slots right now per class (for health and the dashboard's rate-limit headroom).
    pub async fn headroom(&self, class: RateClass) -> u32 {
        let (count, window) = self.window(class);
        let slots = self.windows[class.index()].lock().await;
        let now = Instant::now();
        let used = slots
            .iter()
            .filter(|t| now.duration_since(**t) < window)
            .count() as u32;
        count.saturating_sub(used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_classes_are_named_as_the_flag_or_the_dashboard_names_them() {
        let l = RateLimits::parse_overrides("docContentWrite=3/10,LISTDOCS=2/10").unwrap();
        assert_eq!(
            l.get(RateClass::DocContentWrite),
            (3, Duration::from_secs(10))
        );
        assert_eq!(l.get(RateClass::ListDocs), (2, Duration::from_secs(10)));
        assert!(matches!(
            RateLimits::parse_overrides("write=5/6,write=6/6"),
            Err(RateLimitSpecError::Duplicate(c)) if c == "write"
        ));
        assert!(matches!(
            RateLimits::parse_overrides("write=5/6,Write=6/6"),
            Err(RateLimitSpecError::Duplicate(_))
        ));
    }

    #[test]
    fn parses_rate_limit_overrides() {
        let l = RateLimits::parse_overrides("write=5/6, list-docs=2/10s,analytics=50/1.5").unwrap();
        assert_eq!(l.get(RateClass::Write), (5, Duration::from_secs(6)));
        assert_eq!(l.get(RateClass::ListDocs), (2, Duration::from_secs(10)));
        assert_eq!(
            l.get(RateClass::Analytics),
            (50, Duration::from_millis(1500))
        );
        assert_eq!(
            l.get(RateClass::Read),
            RateLimits::CODA.get(RateClass::Read)
        );
        assert_eq!(RateLimits::parse_overrides("").unwrap(), RateLimits::CODA);
        assert_eq!(
            RateLimits::parse_overrides(&RateLimits::CODA.to_string()).unwrap(),
            RateLimits::CODA,
            "Display round-trips"
        );
        assert!(matches!(
            RateLimits::parse_overrides("reads=1/1"),
            Err(RateLimitSpecError::UnknownClass(c)) if c == "reads"
        ));
        assert!(matches!(
            RateLimits::parse_overrides("write=10"),
            Err(RateLimitSpecError::Malformed(_))
        ));
        assert!(matches!(
            RateLimits::parse_overrides("write=0/6"),
            Err(RateLimitSpecError::OutOfRange(_))
        ));
        assert!(matches!(
            RateLimits::parse_overrides("write=1/0"),
            Err(RateLimitSpecError::OutOfRange(_))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn waits_when_the_window_is_full() {
        let mut limits = RateLimits::CODA;
        limits.limits[RateClass::ListDocs as usize] = (2, Duration::from_secs(6));
        let pacer = Pacer::new(limits);
        assert_eq!(pacer.acquire(RateClass::ListDocs).await, Duration::ZERO);
        assert_eq!(pacer.acquire(RateClass::ListDocs).await, Duration::ZERO);
        assert_eq!(pacer.headroom(RateClass::ListDocs).await, 0);
        let waited = pacer.acquire(RateClass::ListDocs).await;
        assert!(waited >= Duration::from_secs(6), "waited {waited:?}");
        // Other classes are independent.
        assert_eq!(pacer.acquire(RateClass::Read).await, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_paused_class_waits_for_the_pause_and_others_do_not() {
        let pacer = Pacer::new(RateLimits::CODA);
        pacer.pause(RateClass::Read, Duration::from_secs(2));
        pacer.pause(RateClass::Read, Duration::from_millis(500));
        assert_eq!(
            pacer.paused_for(RateClass::Read),
            Duration::from_secs(2),
            "a shorter pause does not shorten the one in force"
        );
        assert_eq!(pacer.acquire(RateClass::Write).await, Duration::ZERO);
        assert_eq!(pacer.acquire(RateClass::ListDocs).await, Duration::ZERO);
        let waited = pacer.acquire(RateClass::Read).await;
        assert!(waited >= Duration::from_secs(2), "waited {waited:?}");
        assert_eq!(pacer.paused_for(RateClass::Read), Duration::ZERO);
        assert_eq!(pacer.acquire(RateClass::Read).await, Duration::ZERO);
    }
}
