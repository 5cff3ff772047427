//! The process's allocator: mimalloc, keeping freed memory mapped.

// Training frees and reallocates activation-sized buffers every step; glibc's
// allocator fragments under that pattern (RSS grew to several times the live
// memory), mimalloc reuses them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its place in mimalloc.h's option enum; the
/// -sys crate names no constant for it).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Stops mimalloc returning freed memory to the OS. A training step frees and
/// reallocates about a gigabyte of activations; returned, every step page-faults
/// and zeroes it again (12-20% of a LoRA step here). Peak memory is unchanged; the
/// resident size stays at the peak. `MIMALLOC_PURGE_DELAY` still decides when set.
pub fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one integer option; mimalloc reads it on its next purge.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option number is the purge delay: it reads mimalloc's default of
    /// 1000 ms (or what the environment set), and setting it sticks.
    #[test]
    fn the_option_set_is_the_purge_delay() {
        // SAFETY: reads one integer option.
        let read = || unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        let expected = std::env::var("MIMALLOC_PURGE_DELAY").map_or(1000, |v| {
            v.parse().expect("MIMALLOC_PURGE_DELAY is a number")
        });
        assert_eq!(read(), expected);
        // SAFETY: sets one integer option.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) };
        assert_eq!(read(), -1);
    }
}
