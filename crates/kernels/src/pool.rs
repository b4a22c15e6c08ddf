//! A small thread pool for splitting one matrix product between threads.
//!
//! Decoding a token runs a few hundred small products, each worth tens of
//! microseconds, so starting threads per product (or handing work to a general
//! pool with queues) costs as much as the work. Here the caller's thread takes
//! the first share and the pool's threads the others, with one hand-off per
//! product: the job is published with an epoch counter, helpers spin briefly
//! for it (then sleep until woken), and the caller waits for them to finish
//! before returning, which is what lets the job borrow from the caller's stack.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

/// How long an idle helper spins for the next job before it sleeps.
const SPIN: Duration = Duration::from_micros(200);

type Job<'a> = dyn Fn(Range<usize>) + Sync + 'a;

/// The job in flight: a pointer to the caller's closure and the item count.
#[derive(Clone, Copy)]
struct Current {
    job: *const Job<'static>,
    items: usize,
}

// SAFETY: the pointer is only dereferenced while `Pool::split` is waiting for the
// helpers, which keeps the closure (a `Sync` value) alive and borrowed; sending
// the pointer to another thread is then like sending `&Job`, which is `Send`.
unsafe impl Send for Current {}

struct Shared {
    current: Mutex<Option<Current>>,
    epoch: AtomicU64,
    done: AtomicUsize,
    panicked: AtomicBool,
    stop: AtomicBool,
}

/// Threads that share the work of one product at a time.
pub struct Pool {
    threads: usize,
    shared: Arc<Shared>,
    helpers: Vec<(JoinHandle<()>, Thread)>,
    /// One product at a time.
    busy: Mutex<()>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("threads", &self.threads)
            .finish()
    }
}

/// The share of `items` that participant `i` of `n` takes: contiguous, sizes
/// differing by at most one.
fn share(items: usize, n: usize, i: usize) -> Range<usize> {
    (items * i / n)..(items * (i + 1) / n)
}

impl Pool {
    /// A pool running products on `threads` threads, the caller's included
    /// (at least 1).
    pub fn new(threads: usize) -> Pool {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            current: Mutex::new(None),
            epoch: AtomicU64::new(0),
            done: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let helpers = (1..threads)
            .map(|index| {
                let s = shared.clone();
                let handle = std::thread::Builder::new()
                    .name(format!("cairn-kernels-{index}"))
                    .spawn(move || helper(&s, index, threads))
                    .expect("start a kernel thread");
                let thread = handle.thread().clone();
                (handle, thread)
            })
            .collect();
        Pool {
            threads,
            shared,
            helpers,
            busy: Mutex::new(()),
        }
    }

    /// Threads used per product, the caller's included.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Calls `job` on contiguous ranges covering `0..items`, one per thread, and
    /// returns when all are done. A panic in any share is raised here.
    pub fn split(&self, items: usize, job: &Job<'_>) {
        if self.threads == 1 || items < 2 {
            job(0..items);
            return;
        }
        let _one = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        let s = &self.shared;
        s.done.store(0, Ordering::Relaxed);
        s.panicked.store(false, Ordering::Relaxed);
        // SAFETY: the transmute only erases the closure's lifetime; it is
        // dereferenced by helpers strictly before this function returns (it
        // waits for every helper below), so the borrow outlives every use.
        let job_static: *const Job<'static> =
            unsafe { std::mem::transmute::<&Job<'_>, &Job<'static>>(job) };
        *s.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(Current {
            job: job_static,
            items,
        });
        s.epoch.fetch_add(1, Ordering::Release);
        for (_, t) in &self.helpers {
            t.unpark();
        }
        let mine = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            job(share(items, self.threads, 0))
        }));
        // Wait for the helpers: spin, then yield.
        let started = Instant::now();
        while s.done.load(Ordering::Acquire) < self.threads - 1 {
            if started.elapsed() < SPIN {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        *s.current.lock().unwrap_or_else(|p| p.into_inner()) = None;
        if let Err(p) = mine {
            std::panic::resume_unwind(p);
        }
        assert!(
            !s.panicked.load(Ordering::Relaxed),
            "a kernel thread panicked"
        );
    }
}

fn helper(s: &Shared, index: usize, threads: usize) {
    let mut seen = 0u64;
    loop {
        // Wait for a new epoch: spin a little, then sleep until unparked.
        let started = Instant::now();
        loop {
            if s.stop.load(Ordering::Acquire) {
                return;
            }
            let e = s.epoch.load(Ordering::Acquire);
            if e != seen {
                seen = e;
                break;
            }
            if started.elapsed() < SPIN {
                std::hint::spin_loop();
            } else {
                std::thread::park_timeout(Duration::from_millis(50));
            }
        }
        let current = *s.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = current {
            // SAFETY: see `Current`: the caller of `split` keeps the job alive
            // until this helper has counted itself done below.
            let job = unsafe { &*c.job };
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                job(share(c.items, threads, index))
            }));
            if r.is_err() {
                s.panicked.store(true, Ordering::Relaxed);
            }
        }
        s.done.fetch_add(1, Ordering::Release);
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        for (h, t) in self.helpers.drain(..) {
            t.unpark();
            let _ = h.join();
        }
    }
}

/// An output buffer that threads write disjoint parts of.
pub(crate) struct SharedOut {
    ptr: *mut f32,
    len: usize,
}

// SAFETY: writers only ever touch disjoint ranges (each panel owns its columns
// of every row), and the buffer outlives the product (`matmul` holds the
// `&mut [f32]` it came from until `Pool::split` returns).
unsafe impl Sync for SharedOut {}

impl SharedOut {
    pub fn new(y: &mut [f32]) -> SharedOut {
        SharedOut {
            ptr: y.as_mut_ptr(),
            len: y.len(),
        }
    }

    /// Copies `values` to `at..at + values.len()`.
    pub fn write(&self, at: usize, values: &[f32]) {
        assert!(at + values.len() <= self.len, "write past the output");
        // SAFETY: in bounds (checked above); no two threads write the same range
        // (see the `Sync` impl), and nothing reads the buffer until the product
        // is done.
        unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), self.ptr.add(at), values.len()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_item_once() {
        for items in 0..40 {
            for n in 1..5 {
                let mut seen = vec![0; items];
                for i in 0..n {
                    for x in share(items, n, i) {
                        seen[x] += 1;
                    }
                }
                assert!(seen.iter().all(|&c| c == 1), "{items} over {n}");
            }
        }
    }

    #[test]
    fn every_thread_does_its_share_many_times_over() {
        let pool = Pool::new(3);
        for round in 0..500 {
            let hits: Vec<AtomicUsize> = (0..round % 37 + 1).map(|_| AtomicUsize::new(0)).collect();
            pool.split(hits.len(), &|r: Range<usize>| {
                for i in r {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                }
            });
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
        }
    }

    #[test]
    fn a_panic_in_a_share_reaches_the_caller() {
        let pool = Pool::new(2);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.split(10, &|r: Range<usize>| assert!(!r.contains(&9), "boom"));
        }));
        assert!(r.is_err());
        // The pool still works afterwards.
        pool.split(4, &|_| {});
    }
}
