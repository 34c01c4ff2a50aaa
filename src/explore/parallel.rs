//! The search's serial parts made parallel: work cut into runs of consecutive pieces, one run a
//! thread, so each thread writes a contiguous part of the output and the result is the same
//! for any number of threads.

use std::ops::Range;

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

/// Runs `job` on each item, the first on this thread and each other on a thread of its own,
/// and returns what each returned, in order.
pub fn fan_out<I: Send, R: Send>(mut items: Vec<I>, job: impl Fn(I) -> R + Sync) -> Vec<R> {
    if items.len() <= 1 {
        return items.into_iter().map(job).collect();
    }
    let first = items.remove(0);
    std::thread::scope(|scope| {
        let job = &job;
        let handles: Vec<_> = items.into_iter().map(|item| scope.spawn(move || job(item))).collect();
        let mut results = vec![job(first)];
        results.extend(handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))));
        results
    })
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
    fn fan_out_returns_in_order() {
        assert_eq!(fan_out((0..5).collect(), |i: u32| i * i), [0, 1, 4, 9, 16]);
        assert_eq!(fan_out(Vec::<u32>::new(), |i| i), Vec::<u32>::new());
    }
}
