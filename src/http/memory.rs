//! Gives the memory of ended sessions back to the operating system.
//!
//! rmcp gives every MCP session its own worker, channels and buffers (≈ 100 KB); when sessions
//! end they are freed, but glibc's allocator keeps the freed pages inside its heap, so a
//! laptop app that once served 1,000 sessions would go on holding ~100 MB for the rest of the
//! day. After the session count has fallen, this asks glibc to return free pages
//! (`malloc_trim`), which brings the process back near its idle size (BENCHMARKS.md).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::AppState;

/// How often the session count is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// How many sessions must have ended since the last trim before trimming again: small
/// changes are not worth the walk over the heap.
const ENDED_BEFORE_TRIM: usize = 32;

/// Watches the session count until `stop` and trims after sessions have ended.
pub(super) fn spawn(state: AppState, stop: CancellationToken) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(CHECK_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut peak = 0usize;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let now = state.session_count().await;
            if should_trim(peak, now) {
                // The walk over the heap takes a few milliseconds: keep it off the workers.
                let _ = tokio::task::spawn_blocking(release_free_memory).await;
                peak = now;
            } else {
                peak = peak.max(now);
            }
        }
    });
}

/// Whether enough sessions ended since the highest count seen after the last trim.
fn should_trim(peak: usize, now: usize) -> bool {
    peak >= now + ENDED_BEFORE_TRIM
}

/// Returns the allocator's free pages to the OS (glibc only; other allocators and platforms
/// already do this on their own).
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own heap under its own locks; it has no
    // preconditions and its result (whether memory was released) is informational.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_only_after_enough_sessions_ended() {
        assert!(!should_trim(0, 0));
        assert!(
            !should_trim(10, 0),
            "a few ended sessions are not worth a trim"
        );
        assert!(!should_trim(1_000, 990));
        assert!(should_trim(1_000, 0));
        assert!(should_trim(100, 100 - ENDED_BEFORE_TRIM));
        assert!(!should_trim(5, 40), "growth never trims");
    }
}
