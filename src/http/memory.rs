//! Gives freed memory — above all that of ended sessions — back to the operating system.
//!
//! rmcp gives every MCP session its own worker, channels and buffers (≈ 100 KB); when sessions
//! end they are freed, but glibc's allocator keeps the freed pages inside its heap, so a
//! laptop app that once served 1,000 sessions would go on holding ~100 MB for the rest of the
//! day. Every few seconds this looks at how much freed memory the allocator holds
//! (`mallinfo2`) and, when it has grown by [`TRIM_ABOVE`] since the last trim, asks glibc to
//! return the free pages (`malloc_trim`), which brings the process back near its idle size
//! (BENCHMARKS.md). Watching the memory itself, not the session count, catches sessions that
//! come and go between two looks.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How often the allocator is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// How much newly freed memory is worth a trim (a trim walks the whole heap).
const TRIM_ABOVE: usize = 16 << 20;

/// Looks at the allocator until `stop` and trims when enough memory was freed.
pub(super) fn spawn(stop: CancellationToken) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(CHECK_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Free memory right after the last trim (trimming returns the pages but glibc still
        // counts the chunks as free), or the least seen since.
        let mut settled = usize::MAX;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            // Both walk the heap under glibc's locks: keep them off the async workers.
            let look = tokio::task::spawn_blocking(move || {
                let free = free_bytes()?;
                let trim = should_trim(settled, free);
                if trim {
                    release_free_memory();
                }
                Some((free, trim))
            })
            .await;
            let Ok(Some((free, trimmed))) = look else {
                return; // not glibc: nothing to do
            };
            // After a trim, or at the first look, this is the new mark; memory taken back
            // into use lowers it, so that what is freed later counts in full.
            settled = if trimmed || settled == usize::MAX {
                free
            } else {
                settled.min(free)
            };
        }
    });
}

/// Whether `free` bytes held by the allocator exceed what was left after the last trim by
/// enough to trim again.
fn should_trim(settled: usize, free: usize) -> bool {
    settled != usize::MAX && free >= settled.saturating_add(TRIM_ABOVE)
}

/// Bytes the allocator holds as free (glibc: `mallinfo2().fordblks`); `None` elsewhere.
fn free_bytes() -> Option<usize> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads glibc's own heap statistics under its locks.
        Some(unsafe { libc::mallinfo2() }.fordblks)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        None
    }
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
    fn trims_only_when_enough_memory_was_freed_since_the_last_trim() {
        assert!(
            !should_trim(usize::MAX, 500 << 20),
            "the first look only sets the mark"
        );
        assert!(
            !should_trim(4 << 20, 10 << 20),
            "a little freed memory is not worth a walk"
        );
        assert!(should_trim(4 << 20, 4 << 20 | TRIM_ABOVE));
        assert!(should_trim(4 << 20, 120 << 20), "1,000 ended sessions");
        assert!(
            !should_trim(120 << 20, 125 << 20),
            "the same memory is not trimmed twice"
        );
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn the_allocator_reports_freed_memory() {
        // glibc may hand freed memory at the top of a heap back by itself, and where
        // a block lands depends on what other tests have freed; with automatic trimming
        // off, 4 MiB of freed blocks stay free memory wherever they landed.
        // SAFETY: mallopt only changes glibc's tuning under its own lock.
        unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30) };
        let blocks: Vec<Vec<u8>> = (0..64).map(|_| vec![1u8; 64 << 10]).collect();
        let before = free_bytes().unwrap();
        drop(blocks);
        let after = free_bytes().unwrap();
        // SAFETY: as above; 128 KiB is glibc's default threshold.
        unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 10) };
        assert!(
            after >= before + (2 << 20),
            "4 MiB of freed blocks show as free memory: {before} -> {after}"
        );
    }
}
