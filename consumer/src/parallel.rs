//! Splitting one CPU-heavy step (building an index, rebuilding pages) over several cores:
//! scoped threads, the calling thread taking the first share. How many is a setting of each
//! dataset ([`Dataset::with_threads`](crate::Dataset::with_threads)); the default comes from
//! `available_parallelism`, leaving one core to the service that embeds the consumer, so a
//! refresh does not take the cores its request handlers run on. No count is tuned to one
//! machine.

/// The most threads one step uses: beyond this the shares get too small to pay for a thread.
pub(crate) const MAX_THREADS: usize = 8;

/// The default: every core but one (at least one, at most [`MAX_THREADS`]).
pub(crate) fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_sub(1)
        .clamp(1, MAX_THREADS)
}

pub(crate) use shoal_format::parallel::{map_parts, map_shares};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_leaves_a_core_within_the_bounds() {
        assert!((1..=MAX_THREADS).contains(&default_threads()));
    }
}
