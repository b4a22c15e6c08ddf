//! Giving freed heap memory back to the operating system.
//!
//! Loading a model reads each tensor into a buffer, repacks it and frees the
//! buffer; an answer allocates activations and frees them. glibc keeps such
//! freed pages inside its arenas, so the process stays as large as it was at
//! its peak (46 MB more after loading Qwen2.5 0.5B, measured); and threads
//! that allocate get arenas of their own, which spreads that free memory out.
//! Here, and only here besides the kernels, Cairn calls into C.

/// Returns the heap's free pages to the operating system (glibc's
/// `malloc_trim`). A no-op with other C libraries, which either do this
/// themselves or offer no such call. It walks the allocator's free lists: too
/// quick to see next to a model load or an answer (timed through a debugger
/// on a 700 MB process, it disappeared in the debugger's own 0.1 s of
/// run-to-run noise), but call it after large, short-lived allocations, not
/// per token.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: `malloc_trim` takes a plain integer, has no preconditions and
        // only releases pages glibc's allocator itself holds free; every
        // thread may call it at any time (it takes the arenas' locks).
        unsafe {
            malloc_trim(0);
        }
    }
}

/// Caps glibc's malloc arenas at two for the whole process. Call it first
/// thing in `main`, before any thread exists.
///
/// glibc gives threads arenas of their own (up to eight per core). Decoding
/// allocates on the decoder's pool threads, so after an answer freed blocks are
/// spread over several arenas, pinned by a few live ones, where
/// [`release_free_memory`] cannot give them back: `cairn bench memory` idled at
/// 632-659 MiB after an answer with the default, 604-605 MiB with two arenas
/// or one (the same decode speed within noise at two threads). A no-op with
/// other C libraries.
pub fn limit_heap_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
        }
        /// glibc's `M_ARENA_MAX` (malloc.h).
        const M_ARENA_MAX: std::ffi::c_int = -8;
        // SAFETY: `mallopt` takes two plain integers and only changes the
        // allocator's tuning; M_ARENA_MAX is one of its documented parameters.
        // Called before other threads exist (this function's contract), so no
        // allocation races with it.
        unsafe {
            mallopt(M_ARENA_MAX, 2);
        }
    }
}
