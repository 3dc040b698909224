//! The planner: the cheapest way to a version, in bytes to fetch, over the blobs a store (or
//! the cache) holds. A way starts from the current version or from a snapshot and follows
//! deltas forward and reverse deltas back. The same planner decides, over the cache alone,
//! which cached files a restart would start from: what cache retention keeps.

use std::collections::{BTreeMap, BinaryHeap};

use shoal_format::Version;
use shoal_store::BlobName;

/// Where a path starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    Current,
    Snapshot(Version),
}

/// A way to a version: a start and the deltas to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    pub(crate) start: Start,
    pub(crate) steps: Vec<BlobName>,
}

/// The cheapest way from `from` to `target` (bytes to fetch, plus an eighth of the bytes
/// used for local work): Dijkstra over versions, starting from the current version (cost 0)
/// and from every snapshot (its cost), along deltas and reverse deltas.
pub(crate) fn plan(
    from: Option<Version>,
    target: Version,
    sizes: &BTreeMap<BlobName, u64>,
    cached: impl Fn(&BlobName) -> bool,
) -> Option<Route> {
    // Bytes to fetch, plus an eighth of every blob used for the local work (verifying,
    // mapping, applying): a long chain of cached deltas is not free.
    let cost = |name: &BlobName, size: u64| {
        let local = size / 8 + 1;
        if cached(name) {
            local
        } else {
            size + local
        }
    };
    // best[v] = (cost, how we got there)
    #[derive(Clone, Copy)]
    enum Via {
        Start(Start),
        Edge(BlobName, Version),
    }
    let mut best: BTreeMap<Version, (u64, Via)> = BTreeMap::new();
    let mut heap = BinaryHeap::new();
    let offer = |best: &mut BTreeMap<Version, (u64, Via)>,
                 heap: &mut BinaryHeap<std::cmp::Reverse<(u64, Version)>>,
                 v: Version,
                 c: u64,
                 via: Via| {
        if best.get(&v).is_none_or(|(old, _)| c < *old) {
            best.insert(v, (c, via));
            heap.push(std::cmp::Reverse((c, v)));
        }
    };
    if let Some(f) = from {
        offer(&mut best, &mut heap, f, 0, Via::Start(Start::Current));
    }
    for (name, size) in sizes {
        if let BlobName::Snapshot(v) = name {
            offer(
                &mut best,
                &mut heap,
                *v,
                cost(name, *size),
                Via::Start(Start::Snapshot(*v)),
            );
        }
    }
    while let Some(std::cmp::Reverse((c, v))) = heap.pop() {
        if best.get(&v).is_some_and(|(b, _)| *b < c) {
            continue;
        }
        if v == target {
            break;
        }
        for (name, size) in sizes {
            let next = match name {
                BlobName::Delta(a, b) | BlobName::Reverse(a, b) if *a == v => *b,
                _ => continue,
            };
            offer(
                &mut best,
                &mut heap,
                next,
                c + cost(name, *size),
                Via::Edge(*name, v),
            );
        }
    }
    let mut steps = Vec::new();
    let mut at = target;
    loop {
        match best.get(&at)?.1 {
            Via::Start(start) => {
                steps.reverse();
                return Some(Route { start, steps });
            }
            Via::Edge(name, prev) => {
                steps.push(name);
                at = prev;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(n: u64) -> Version {
        Version(n)
    }

    fn sizes(items: &[(BlobName, u64)]) -> BTreeMap<BlobName, u64> {
        items.iter().copied().collect()
    }

    #[test]
    fn plans_take_the_fewest_bytes() {
        let s = sizes(&[
            (BlobName::Snapshot(v(1)), 1000),
            (BlobName::Snapshot(v(3)), 1000),
            (BlobName::Delta(v(1), v(2)), 10),
            (BlobName::Delta(v(2), v(3)), 10),
            (BlobName::Delta(v(3), v(4)), 10),
            (BlobName::Reverse(v(3), v(2)), 10),
        ]);
        let none = |_: &BlobName| false;
        // From nothing: the nearest snapshot, then deltas.
        let p = plan(None, v(4), &s, none).unwrap();
        assert_eq!(p.start, Start::Snapshot(v(3)));
        assert_eq!(p.steps, [BlobName::Delta(v(3), v(4))]);
        // From version 1: deltas are cheaper than a snapshot.
        let p = plan(Some(v(1)), v(4), &s, none).unwrap();
        assert_eq!(p.start, Start::Current);
        assert_eq!(p.steps.len(), 3);
        // Back from 3 to 2 by the reverse delta.
        let p = plan(Some(v(3)), v(2), &s, none).unwrap();
        assert_eq!(
            (p.start, p.steps),
            (Start::Current, vec![BlobName::Reverse(v(3), v(2))])
        );
        // No reverse delta from 4: a snapshot and deltas.
        let p = plan(Some(v(4)), v(2), &s, none).unwrap();
        assert_eq!(p.start, Start::Snapshot(v(1)));
        // A cached snapshot is free.
        let cached = |n: &BlobName| *n == BlobName::Snapshot(v(1));
        let p = plan(None, v(3), &s, cached).unwrap();
        assert_eq!(p.start, Start::Snapshot(v(1)));
        // Nowhere to go.
        assert!(plan(None, v(9), &s, none).is_none());
        // When the chain costs more than a snapshot, the snapshot wins.
        let s = sizes(&[
            (BlobName::Snapshot(v(5)), 100),
            (BlobName::Delta(v(4), v(5)), 500),
        ]);
        assert_eq!(
            plan(Some(v(4)), v(5), &s, none).unwrap().start,
            Start::Snapshot(v(5))
        );
    }
}
