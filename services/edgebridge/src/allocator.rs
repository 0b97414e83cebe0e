//! Tuning of the global allocator (mimalloc), applied first thing in `main` (and by the
//! benchmarks, so their figures are the binary's).
//!
//! mimalloc gives freed memory back to the operating system 10 ms after it is free. The sync
//! paths free and allocate megabytes per batch (JSON bodies of thousands of edge writes, BSON
//! batches), so the memory went back and came again at every batch, and the kernel zeroed each
//! page anew: about 14% of all CPU in the sync benchmark. Kept for 10 s instead, a busy process
//! reuses it (streaming and the initial copy went about 15-20% faster, side by side), and an
//! idle one still returns it.

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (after `eager_commit_delay`, 14); the
/// `libmimalloc-sys` crate names the options around it but not this one.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long freed memory stays with the process before it goes back to the system.
const PURGE_DELAY_MS: std::os::raw::c_long = 10_000;

/// Applies the tuning, unless the operator set `MIMALLOC_PURGE_DELAY` (mimalloc's own setting
/// then wins).
pub fn tune() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: `mi_option_set` only stores a number mimalloc reads when it purges; any value is
    // valid for this option, and it may be set at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
}
