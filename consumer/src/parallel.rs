//! Splitting one CPU-heavy step (building an index, rebuilding pages) over the machine's
//! cores: as many scoped threads as `available_parallelism` says (at most [`MAX_THREADS`]),
//! the calling thread taking the first share. No thread count is tuned to one machine.

/// The most threads one step uses: beyond this the shares get too small to pay for a thread.
const MAX_THREADS: usize = 8;

/// How many threads a step uses on this machine.
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_THREADS)
}

/// `f` over `items` cut into at most [`threads`] contiguous shares, run on scoped threads;
/// the results in the order of the shares.
pub(crate) fn map_shares<T, R, F>(items: &[T], f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&[T]) -> R + Sync,
{
    let size = items.len().div_ceil(threads()).max(1);
    let shares: Vec<&[T]> = items.chunks(size).collect();
    if shares.len() <= 1 {
        return vec![f(items)];
    }
    std::thread::scope(|scope| {
        let others: Vec<_> = shares[1..]
            .iter()
            .map(|share| scope.spawn(|| f(share)))
            .collect();
        let mut out = vec![f(shares[0])];
        out.extend(
            others
                .into_iter()
                .map(|h| h.join().expect("a worker thread does not panic")),
        );
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_item_once_in_order() {
        for n in [0usize, 1, 2, 7, 100, 1001] {
            let items: Vec<usize> = (0..n).collect();
            let out: Vec<usize> = map_shares(&items, |s| s.to_vec()).concat();
            assert_eq!(out, items);
            assert!(map_shares(&items, |s| s.len()).len() <= threads());
        }
    }
}
