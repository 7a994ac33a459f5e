//! Graceful shutdown's first half: finish what is in flight before anything is closed.
//!
//! Cancelling rmcp's sessions closes every stream at once — including the one a tool call's
//! answer is about to travel on — so a call that needed two more seconds would be lost. The
//! server therefore drains first: from the shutdown signal on, new requests get a clear 503,
//! the ones in flight (every request but the long-lived `GET` streams) get up to the grace
//! period to finish and be answered, and only then are sessions and streams closed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt;
use tokio::sync::Notify;

/// Counts requests in flight and refuses new ones once draining.
#[derive(Default)]
pub struct Drain {
    inflight: AtomicUsize,
    draining: AtomicBool,
    idle: Notify,
}

/// One request in flight; counted until dropped (its response body finished or abandoned).
struct InFlight(Arc<Drain>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.inflight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Drain {
    /// Requests in flight right now.
    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::Acquire)
    }

    /// Stops taking new requests and waits up to `grace` for those in flight; false if some
    /// were still running when it ran out.
    pub async fn drain(&self, grace: Duration) -> bool {
        self.draining.store(true, Ordering::Release);
        tokio::time::timeout(grace, async {
            loop {
                let idle = self.idle.notified();
                if self.inflight() == 0 {
                    return;
                }
                idle.await;
            }
        })
        .await
        .is_ok()
    }
}

/// The layer: counts every request but `GET`/`HEAD` (streams and pages, which shutdown
/// closes) until its response body ends; answers 503 while draining.
pub async fn track(State(drain): State<Arc<Drain>>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    if drain.draining.load(Ordering::Acquire) {
        let mut resp = super::answer::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "The server is shutting down; try again once it is back.",
        );
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return resp;
    }
    drain.inflight.fetch_add(1, Ordering::AcqRel);
    let held = InFlight(drain);
    let (parts, body) = next.run(req).await.into_parts();
    let body = body.into_data_stream().map(move |chunk| {
        let _held = &held;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drains_what_is_in_flight_then_reports() {
        let drain = Arc::new(Drain::default());
        assert!(
            drain.drain(Duration::from_millis(10)).await,
            "nothing in flight"
        );
        let drain = Arc::new(Drain::default());
        drain.inflight.fetch_add(1, Ordering::AcqRel);
        let call = InFlight(drain.clone());
        let finishing = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            drop(call);
        });
        assert!(drain.drain(Duration::from_secs(2)).await, "waited for it");
        finishing.await.unwrap();
        drain.inflight.fetch_add(1, Ordering::AcqRel);
        let _stuck = InFlight(drain.clone());
        assert!(
            !drain.drain(Duration::from_millis(50)).await,
            "the grace ran out"
        );
    }
}
