//! The search's serial parts made parallel: work cut into runs of consecutive pieces, one run a
//! thread, so each thread writes a contiguous part of the output and the result is the same
//! for any number of threads; and the pool of threads the search runs them on.

use std::ops::Range;

use rayon::prelude::*;

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
pub fn in_pool<R: Send>(threads: usize, work: impl FnOnce() -> R + Send) -> R {
    match rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build() {
        Ok(pool) => pool.install(work),
        Err(_) => work(),
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

    #[test]
    fn pieces_cut_in_order() {
        let mut v = [1, 2, 3, 4, 5, 6];
        let cut = pieces(&mut v, [2, 0, 3]);
        assert_eq!(cut.iter().map(|p| p.to_vec()).collect::<Vec<_>>(), [vec![1, 2], vec![], vec![3, 4, 5]]);
    }
}
