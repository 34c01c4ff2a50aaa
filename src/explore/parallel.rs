//! The search's serial parts made parallel: work cut into runs of consecutive pieces, one run a
//! thread, so each thread writes a contiguous part of the output and the result is the same
//! for any number of threads; and the pool of threads the search runs them on.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use rayon::Yield;

/// Cuts pieces of the given sizes into at most `threads` runs of consecutive pieces with about
/// as much in each: each run's pieces and their total size.
pub fn runs(sizes: impl ExactSizeIterator<Item = usize> + Clone, threads: usize) -> Vec<(Range<usize>, usize)> {
    let total: usize = sizes.clone().sum();
    let pieces = sizes.len();
    let threads = threads.clamp(1, total.max(1));
    let mut runs = Vec::with_capacity(threads);
    let (mut start, mut len, mut before) = (0, 0, 0);
    for (i, size) in sizes.enumerate() {
        len += size;
        // Cut when this run reaches its share.
        if (before + len) * threads >= total * (runs.len() + 1) && runs.len() + 1 < threads {
            runs.push((start..i + 1, len));
            (start, before, len) = (i + 1, before + len, 0);
        }
    }
    runs.push((start..pieces, len));
    runs
}

/// `v` cut into consecutive pieces of these lengths (which sum to at most its length).
pub fn pieces<T>(mut v: &mut [T], lens: impl IntoIterator<Item = usize>) -> Vec<&mut [T]> {
    lens.into_iter()
        .map(|len| {
            let (piece, rest) = std::mem::take(&mut v).split_at_mut(len);
            v = rest;
            piece
        })
        .collect()
}

/// Lengthens `v` by `n` items made by `make`, on the threads of the pool the caller runs in (see
/// [`fan_out`]), each writing a part of the new room. The room's pages are mapped as they are
/// first written, a fault each (2 µs a 4 KiB page here, more when the host is busy): lengthening
/// the visited set's and the liveness graph's lists by a merge's states on one thread took
/// 0.2 to 0.8 s of a `--dup 1` search, with the other threads waiting.
pub fn extend_with<T: Send>(v: &mut Vec<T>, n: usize, make: impl Fn() -> T + Sync + Send) {
    v.par_extend((0..n).into_par_iter().with_min_len(1 << 16).map(|_| make()));
}

/// Runs `job` on each item, on the threads of the pool the caller runs in (the search's, see
/// [`in_pool`]), and returns what each returned, in order. The jobs may run one after another:
/// a job must not wait for another.
pub fn fan_out<I: Send, R: Send>(items: Vec<I>, job: impl Fn(I) -> R + Sync + Send) -> Vec<R> {
    items.into_par_iter().with_max_len(1).map(job).collect()
}

/// Runs `work` in a pool of `threads` threads, made for it: the threads live as long as the work,
/// and [`fan_out`] inside it uses them. If the system will not make them, the work runs on this
/// thread and its parts on rayon's global pool (the results are the same on any number of
/// threads).
///
/// While `work` runs its serial parts, the pool's other threads wait for its parallel ones
/// awake ([`wait_awake`]): a rayon thread with nothing to do soon sleeps, and waking it took 20
/// to 100 µs and more on this machine's virtual processors, at each [`fan_out`], of which a
/// search makes several a batch. At the default bounds on two threads, the second job of a
/// fan-out started 15 to 22 ms later in all without the helpers, 8 ms with them, in a 0.2 s
/// run. They cost processor time, spinning while the work is serial, not wall time.
pub fn in_pool<R: Send>(threads: usize, work: impl FnOnce() -> R + Send) -> R {
    let threads = threads.max(1);
    match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) => pool.install(|| {
            let (done, main) = (AtomicBool::new(false), rayon::current_thread_index());
            rayon::scope(|s| {
                for _ in 1..threads {
                    s.spawn(|_| wait_awake(&done, main));
                }
                // Set however `work` ends, a panic too: the scope waits for its helpers.
                let _done = SetOnDrop(&done);
                work()
            })
        }),
        Err(_) => work(),
    }
}

/// Takes the pool's jobs as they come until `done`, yielding the processor to the system when
/// there are none (other programs may need it). Not on the thread running the work (`main`),
/// which may take a helper from its own queue while it waits for a job: it returns there at once.
fn wait_awake(done: &AtomicBool, main: Option<usize>) {
    if rayon::current_thread_index() == main {
        return;
    }
    let mut idle = 0u32;
    while !done.load(Ordering::Relaxed) {
        if rayon::yield_now() == Some(Yield::Executed) {
            idle = 0;
        } else {
            idle = idle.wrapping_add(1);
            if idle.is_multiple_of(64) {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

/// Sets its flag when dropped.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_cover_every_piece_in_order_with_about_equal_shares() {
        let sizes = [5, 0, 7, 1, 9, 3, 3, 0, 12];
        for threads in 1..12 {
            let runs = runs(sizes.iter().copied(), threads);
            assert!(runs.len() <= threads);
            let mut next = 0;
            for (range, len) in &runs {
                assert_eq!(range.start, next);
                assert_eq!(*len, sizes[range.clone()].iter().sum::<usize>());
                next = range.end;
            }
            assert_eq!(next, sizes.len());
        }
        let even = runs([10; 8].into_iter(), 4);
        assert_eq!(even.iter().map(|r| r.1).collect::<Vec<_>>(), [20, 20, 20, 20]);
    }

    #[test]
    fn fan_out_returns_in_order_in_a_pool_or_out() {
        for threads in [None, Some(1), Some(3)] {
            let squares = || fan_out((0..5).collect(), |i: u32| i * i);
            let got = match threads {
                Some(n) => in_pool(n, squares),
                None => squares(),
            };
            assert_eq!(got, [0, 1, 4, 9, 16]);
        }
        assert_eq!(fan_out(Vec::<u32>::new(), |i| i), Vec::<u32>::new());
    }

    /// The helpers waiting awake stop however the work ends: after it, and after a panic in
    /// it, which reaches the caller.
    #[test]
    fn the_pool_ends_with_its_work_or_its_panic() {
        for threads in [1, 2, 4] {
            assert_eq!(in_pool(threads, || fan_out((0..9).collect(), |i: u32| i + 1).iter().sum::<u32>()), 45);
            let panicked = std::panic::catch_unwind(|| in_pool(threads, || panic!("in the work")));
            assert!(panicked.is_err(), "{threads} threads");
        }
    }

    #[test]
    fn pieces_cut_in_order() {
        let mut v = [1, 2, 3, 4, 5, 6];
        let cut = pieces(&mut v, [2, 0, 3]);
        assert_eq!(cut.iter().map(|p| p.to_vec()).collect::<Vec<_>>(), [vec![1, 2], vec![], vec![3, 4, 5]]);
    }
}
