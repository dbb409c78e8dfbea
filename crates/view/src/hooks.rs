//! What a long pass reports and obeys: progress (bytes read) and a stop request.

fn no_progress(_: u64) {}
fn never() -> bool {
    false
}

/// Callbacks for long passes over the data; they may be called from several threads.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use arrfile_view::Hooks;
/// let read = AtomicU64::new(0);
/// let progress = |n: u64| { read.fetch_add(n, Ordering::Relaxed); };
/// let hooks = Hooks { progress: &progress, ..Hooks::default() };
/// (hooks.progress)(10);
/// assert_eq!(read.load(Ordering::Relaxed), 10);
/// assert!(!(hooks.cancelled)());
/// ```
#[derive(Clone, Copy)]
pub struct Hooks<'a> {
    /// Called with a number of payload bytes just read.
    pub progress: &'a (dyn Fn(u64) + Sync),
    /// Polled between chunks; `true` stops the pass with [`crate::ErrorKind::Interrupted`].
    pub cancelled: &'a (dyn Fn() -> bool + Sync),
}

impl Default for Hooks<'_> {
    fn default() -> Self {
        Hooks { progress: &no_progress, cancelled: &never }
    }
}

impl std::fmt::Debug for Hooks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hooks")
    }
}
