//! `coda_rate_budget`: how much of Coda's rate limits is free right now, per class — what the
//! dashboard shows — so a model can pace bulk work instead of discovering the limit.

use serde_json::{json, Value};

use crate::coda::{CodaClient, RateClass};

/// The headroom of every rate class of `client` (the caller's own limits: a pass-through
/// caller has its own).
pub(super) async fn rate_budget(client: &CodaClient) -> Value {
    let pacer = client.pacer();
    let limits = pacer.limits();
    let mut classes = Vec::new();
    for class in RateClass::ALL {
        let (limit, window) = limits.get(class);
        classes.push(
            json!({"class": class.name(), "limit": limit, "windowSeconds": window.as_secs_f64(),
            "available": pacer.headroom(class).await}),
        );
    }
    json!({"classes": classes,
        "note": "available = requests of that class that can go to Coda now without waiting. Past it, calls wait for the window (they are not refused). Send many rows in one coda_create_rows instead of one call per row."})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coda::{RateLimits, RetryPolicy};

    #[tokio::test]
    async fn what_was_used_is_not_available() {
        let client = CodaClient::new(
            "http://127.0.0.1:9/apis/v1",
            None,
            RateLimits::CODA,
            RetryPolicy::default(),
        )
        .unwrap();
        for _ in 0..3 {
            client.pacer().acquire(RateClass::Write).await;
        }
        let budget = rate_budget(&client).await;
        let write = &budget["classes"][1];
        assert_eq!(write["class"], "write");
        assert_eq!(write["limit"], 10);
        assert_eq!(write["available"], 7);
        assert_eq!(budget["classes"][0]["available"], 100);
    }
}
