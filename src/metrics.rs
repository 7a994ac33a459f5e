//! The Status view's charts over the last hour: calls, errors and latency per minute (from the
//! audit history, so they survive a restart) and the rate-limit headroom per minute (sampled
//! while the server runs). Pure arithmetic over what the callers hand in.

use std::collections::VecDeque;
use std::sync::Mutex;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::Serialize;

/// Minutes the charts cover.
pub const MINUTES: usize = 60;

/// One minute of tool calls.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Minute {
    /// The minute's start.
    pub t: DateTime<Utc>,
    /// Calls that started in it.
    pub calls: u32,
    /// Of which failed.
    pub errors: u32,
    /// Median duration, in ms (none without calls).
    pub p50_ms: Option<f64>,
    /// 99th percentile duration, in ms.
    pub p99_ms: Option<f64>,
}

/// One call as the charts need it: which, when, whether it succeeded, how long it took.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallSample {
    /// The call's ID (the page counts a call once, whether from history or live).
    pub id: String,
    /// When it started.
    pub at: DateTime<Utc>,
    /// Whether it succeeded.
    pub ok: bool,
    /// How long it took, in ms.
    pub ms: f64,
}

/// The start of `at`'s minute.
pub fn minute_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::minutes(1)).unwrap_or(at)
}

/// The `MINUTES` minutes up to `now`'s, oldest first, with the calls that started in each.
pub fn per_minute(calls: &[CallSample], now: DateTime<Utc>) -> Vec<Minute> {
    let last = minute_of(now);
    let first = last - TimeDelta::minutes(MINUTES as i64 - 1);
    let mut durations: Vec<Vec<f64>> = vec![Vec::new(); MINUTES];
    let mut errors = vec![0u32; MINUTES];
    for call in calls {
        let m = minute_of(call.at);
        if m < first || m > last {
            continue;
        }
        let i = ((m - first).num_minutes()) as usize;
        durations[i].push(call.ms);
        if !call.ok {
            errors[i] += 1;
        }
    }
    durations
        .into_iter()
        .zip(errors)
        .enumerate()
        .map(|(i, (mut d, errors))| {
            d.sort_by(|a, b| a.total_cmp(b));
            Minute {
                t: first + TimeDelta::minutes(i as i64),
                calls: d.len() as u32,
                errors,
                p50_ms: percentile(&d, 50.0),
                p99_ms: percentile(&d, 99.0),
            }
        })
        .collect()
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// One rate class's headroom: free slots of `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Headroom {
    /// Free now (the lowest seen in the minute).
    pub free: u32,
    /// The class's limit per window.
    pub limit: u32,
}

/// A minute's lowest headroom per rate class, by the class's name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeadroomMinute {
    /// The minute's start.
    pub t: DateTime<Utc>,
    /// `(class, headroom)`, in the classes' fixed order.
    pub classes: Vec<(&'static str, Headroom)>,
}

/// The last hour of headroom samples, one per minute (the lowest of the samples in it).
#[derive(Default)]
pub struct HeadroomHistory {
    minutes: Mutex<VecDeque<HeadroomMinute>>,
}

impl HeadroomHistory {
    /// Records a sample taken at `now`.
    pub fn record(&self, now: DateTime<Utc>, classes: Vec<(&'static str, Headroom)>) {
        let t = minute_of(now);
        let mut minutes = self.minutes.lock().expect("headroom history");
        match minutes.back_mut() {
            Some(last) if last.t == t => {
                for ((_, kept), (_, new)) in last.classes.iter_mut().zip(&classes) {
                    kept.free = kept.free.min(new.free);
                    kept.limit = new.limit;
                }
            }
            _ => minutes.push_back(HeadroomMinute { t, classes }),
        }
        let oldest = t - TimeDelta::minutes(MINUTES as i64 - 1);
        while minutes.front().is_some_and(|m| m.t < oldest) {
            minutes.pop_front();
        }
    }

    /// The minutes kept, oldest first.
    pub fn minutes(&self) -> Vec<HeadroomMinute> {
        self.minutes
            .lock()
            .expect("headroom history")
            .iter()
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(min: i64, sec: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-30T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + TimeDelta::minutes(min)
            + TimeDelta::seconds(sec)
    }

    #[test]
    fn calls_fall_into_their_minute_with_percentiles() {
        let sample = |at, ok, ms| CallSample {
            id: String::new(),
            at,
            ok,
            ms,
        };
        let mut calls: Vec<CallSample> = (1..=100)
            .map(|i| sample(at(59, i % 50), true, i as f64))
            .collect();
        calls.push(sample(at(58, 3), false, 7.0));
        calls.push(sample(at(-5, 0), true, 1.0)); // over an hour ago: left out
        let minutes = per_minute(&calls, at(59, 30));
        assert_eq!(minutes.len(), MINUTES);
        assert_eq!(minutes[0].t, at(0, 0));
        let last = &minutes[59];
        assert_eq!((last.calls, last.errors), (100, 0));
        assert_eq!((last.p50_ms, last.p99_ms), (Some(50.0), Some(99.0)));
        assert_eq!((minutes[58].calls, minutes[58].errors), (1, 1));
        assert_eq!(minutes.iter().map(|m| m.calls).sum::<u32>(), 101);
        assert_eq!(minutes[10].p50_ms, None);
    }

    #[test]
    fn headroom_keeps_the_lowest_sample_of_each_minute_for_an_hour() {
        let h = HeadroomHistory::default();
        let read = |free| vec![("read", Headroom { free, limit: 100 })];
        h.record(at(0, 1), read(90));
        h.record(at(0, 40), read(40));
        h.record(at(0, 50), read(95));
        h.record(at(1, 0), read(100));
        assert_eq!(h.minutes().len(), 2);
        assert_eq!(h.minutes()[0].classes[0].1.free, 40);
        h.record(at(61, 0), read(100));
        let kept: Vec<_> = h.minutes().iter().map(|m| m.t).collect();
        assert_eq!(kept, [at(61, 0)], "minutes older than an hour are dropped");
    }
}
