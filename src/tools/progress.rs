//! What a long tool call tells its client while it runs, and how it is stopped. A client that
//! sent a `progressToken` gets MCP progress notifications (bulk writes: batches sent of N;
//! waits for Coda to apply a write; page exports; long listings); a client that sends
//! `notifications/cancelled` stops the call at the next safe point — never halfway through a
//! write: a batch already sent is waited for or reported, the batches after it are not sent.

use std::sync::{Arc, Mutex};

/// One progress report: how far (`done` of `total` when known) and what is happening.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Work done so far (items, batches, checks); always grows.
    pub done: f64,
    /// The whole, when known.
    pub total: Option<f64>,
    /// What is happening, for the person watching.
    pub message: String,
}

/// Where a call's progress goes (the MCP face turns it into `notifications/progress`). Reports
/// that would not advance are dropped, so a client only ever sees `done` grow, as MCP requires.
#[derive(Clone)]
pub struct ProgressSink {
    send: Arc<dyn Fn(Progress) + Send + Sync>,
    last: Arc<Mutex<Option<f64>>>,
}

impl ProgressSink {
    /// A sink calling `send` with each report that advances.
    pub fn new(send: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        ProgressSink {
            send: Arc::new(send),
            last: Arc::new(Mutex::new(None)),
        }
    }

    /// Reports `done` (of `total`) with `message`, unless it would not advance.
    pub fn report(&self, done: f64, total: Option<f64>, message: impl Into<String>) {
        {
            let mut last = self.last.lock().expect("progress");
            if last.is_some_and(|l| done <= l) {
                return;
            }
            *last = Some(done);
        }
        (self.send)(Progress {
            done,
            total,
            message: message.into(),
        });
    }
}

impl std::fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressSink")
            .field("last", &self.last.lock().ok().and_then(|l| *l))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reports_that_advance_reach_the_client() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let into = seen.clone();
        let sink = ProgressSink::new(move |p| into.lock().unwrap().push(p.done));
        sink.report(1.0, Some(3.0), "batch 1 of 3");
        sink.report(1.0, Some(3.0), "again");
        sink.report(0.5, None, "back");
        sink.report(2.5, Some(3.0), "waiting");
        assert_eq!(*seen.lock().unwrap(), vec![1.0, 2.5]);
    }
}
