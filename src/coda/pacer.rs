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

/// A sliding-window limiter per rate class, shared by every session of the process.
#[derive(Debug)]
pub struct Pacer {
    limits: RateLimits,
    windows: [Mutex<VecDeque<Instant>>; 5],
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
            margin_percent: 0,
        }
    }

    /// A client-side pacer: each window is stretched by 10% (at least 300 ms) because the
    /// server counts arrivals, which lag behind our departures by a varying amount.
    pub fn with_safety_margin(limits: RateLimits) -> Self {
        Pacer {
            limits,
            windows: Default::default(),
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

    /// Waits until one more request of `class` fits in its window, then claims the slot.
    /// Returns how long it waited.
    pub async fn acquire(&self, class: RateClass) -> Duration {
        let started = Instant::now();
        loop {
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
}
