//! The process's heap policy. A server holds a few large structures that
//! live long and are replaced whole (a zone version: one per zone, a new
//! one per reload), and many small short-lived ones. glibc's malloc keeps
//! freed memory in the arena it came from, one arena per thread that
//! allocates under contention, and returns it to the system only from the
//! top of the heap. Measured with bench/soak.sh (a 100,000-record zone
//! reloaded every second): the primary's RSS grew to 3.3 times its size
//! after the load, almost all of it freed memory the process kept.
//!
//! Three things together keep it at one version's size:
//! - a version's nodes live in shared blocks (`zone::node::NodeBlocks`),
//!   so a replaced version frees whole blocks, not holes between the new
//!   version's nodes;
//! - one arena ([`use_one_arena`]): the query path allocates nothing, so
//!   threads rarely contend for it, and freed memory is found by the next
//!   load whichever thread runs it;
//! - when a large zone version is dropped ([`note_freed`], from its
//!   `Drop`), [`trim_when_freed`] gives the free pages back soon after,
//!   whichever thread let the version go last (a query in flight, a
//!   transfer out, the load that replaced it).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Set when memory worth giving back was freed.
static FREED: AtomicBool = AtomicBool::new(false);

/// How often [`trim_when_freed`] looks: a trim walks the heap while
/// holding malloc's lock, so at most once per period however many
/// versions are replaced.
pub const TRIM_PERIOD: Duration = Duration::from_secs(1);

/// Makes malloc use a single arena, unless `MALLOC_ARENA_MAX` is set in
/// the environment (an operator's choice wins). Call before any thread
/// starts.
pub fn use_one_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt changes a malloc parameter; with no other thread
        // running yet nothing allocates concurrently.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

/// Says that much memory was just freed (a large zone version dropped).
/// Cheap, lock-free: the trim itself runs in [`trim_when_freed`].
pub fn note_freed() {
    FREED.store(true, Ordering::Relaxed);
}

/// Runs for the server's life: once per [`TRIM_PERIOD`], if memory was
/// noted freed meanwhile, gives free pages back on a blocking thread.
pub async fn trim_when_freed() {
    let mut tick = tokio::time::interval(TRIM_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if FREED.swap(false, Ordering::Relaxed) {
            // A failed join is a panic in malloc_trim: nothing to do.
            let _ = tokio::task::spawn_blocking(release_freed).await;
        }
    }
}

/// Gives the free pages of every arena back to the system. It walks the
/// heap (a few milliseconds for a large zone), so it runs at most once per
/// [`TRIM_PERIOD`], never per allocation.
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory malloc holds free; it
    // touches no memory in use and is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}
