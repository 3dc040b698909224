//! Splitting one CPU-heavy step (rebuilding pages, building an index) over several cores:
//! scoped threads, the calling thread taking the first share. How many threads is the
//! caller's setting (the consumer's comes from `available_parallelism`); nothing here is
//! tuned to one machine. Public for the crates of this workspace.

/// `f` over `items` cut into at most `threads` contiguous shares, run on scoped threads;
/// the results in the order of the shares.
pub fn map_shares<T, R, F>(items: &[T], threads: usize, f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&[T]) -> R + Sync,
{
    let size = items.len().div_ceil(threads.max(1)).max(1);
    let shares: Vec<&[T]> = items.chunks(size).collect();
    if shares.len() <= 1 {
        return vec![f(items)];
    }
    map_parts(&shares, |share| f(share))
}

/// `f` over each of `parts`, one scoped thread each (the calling thread takes the first);
/// the results in the order of the parts.
pub fn map_parts<P, R, F>(parts: &[P], f: F) -> Vec<R>
where
    P: Sync,
    R: Send,
    F: Fn(&P) -> R + Sync,
{
    let Some((first, rest)) = parts.split_first() else {
        return Vec::new();
    };
    std::thread::scope(|scope| {
        let others: Vec<_> = rest.iter().map(|part| scope.spawn(|| f(part))).collect();
        let mut out = vec![f(first)];
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
        for threads in [1, 2, 3, 8] {
            for n in [0usize, 1, 2, 7, 100, 1001] {
                let items: Vec<usize> = (0..n).collect();
                let out: Vec<usize> = map_shares(&items, threads, |s| s.to_vec()).concat();
                assert_eq!(out, items);
                assert!(map_shares(&items, threads, |s| s.len()).len() <= threads);
            }
        }
    }
}
