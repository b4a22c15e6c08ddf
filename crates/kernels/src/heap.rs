//! Giving freed heap memory back to the operating system.
//!
//! Loading a model reads each tensor into a buffer, repacks it and frees the
//! buffer; an answer allocates activations and frees them. glibc keeps such
//! freed pages inside its arenas, so the process stays as large as it was at
//! its peak (46 MB more after loading Qwen2.5 0.5B, measured). Here, and only
//! here besides the kernels, Cairn calls into C.

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
