//! `shoal versions`: what the store holds, version by version.
//!
//! A version is *reachable* when a consumer can build it: it has a snapshot, or a chain of
//! deltas (forward) or reverse deltas (backward) leads to it from a version that has one.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::SystemTime;

use serde::Serialize;
use shoal_store::{read_announced, BlobName, BlobStore, ANNOUNCED, LOCK};

use crate::cli::Global;
use crate::cmd::open_store;
use crate::error::Result;
use crate::ui::{self, Out};

/// What the store holds.
#[derive(Debug, Serialize)]
pub struct Listing {
    /// Where the store is.
    pub store: String,
    /// The announced version.
    pub announced: Option<u64>,
    /// The version an operator pinned every consumer to (`shoal pin`), if any.
    pub pinned: Option<u64>,
    /// Every version a blob names, newest first.
    pub versions: Vec<VersionRow>,
    /// Keys that are not blobs of shoal's naming (left alone).
    pub other_keys: Vec<String>,
}

/// One version and the blobs that lead to it.
#[derive(Debug, Serialize)]
pub struct VersionRow {
    /// The version.
    pub version: u64,
    /// A consumer can build it from the blobs present.
    pub reachable: bool,
    /// The announced version.
    pub announced: bool,
    /// The pinned version.
    pub pinned: bool,
    /// Size of its snapshot, if it has one.
    pub snapshot_bytes: Option<u64>,
    /// Deltas into it: (from, bytes).
    pub deltas_in: Vec<(u64, u64)>,
    /// Reverse deltas out of it: (to, bytes).
    pub reverse_out: Vec<(u64, u64)>,
    /// When its newest blob was written.
    pub written: Option<String>,
}

/// Lists the store's blobs and works out which versions are reachable.
pub async fn listing(store: &dyn BlobStore) -> Result<Listing> {
    let read = read_announced(store).await?;
    let announced = read.as_ref().map(|a| a.version.0);
    let pinned = read.as_ref().and_then(|a| a.pinned).map(|v| v.0);
    let mut rows: BTreeMap<u64, VersionRow> = BTreeMap::new();
    let mut times: BTreeMap<u64, SystemTime> = BTreeMap::new();
    let mut other_keys = Vec::new();
    let row = |v: u64| VersionRow {
        version: v,
        reachable: false,
        announced: Some(v) == announced,
        pinned: Some(v) == pinned,
        snapshot_bytes: None,
        deltas_in: Vec::new(),
        reverse_out: Vec::new(),
        written: None,
    };
    for blob in store.list("").await? {
        let Ok(name) = blob.key.parse::<BlobName>() else {
            if blob.key != ANNOUNCED && blob.key != LOCK {
                other_keys.push(blob.key);
            }
            continue;
        };
        let v = match name {
            BlobName::Snapshot(v) | BlobName::Delta(_, v) => v.0,
            BlobName::Reverse(from, _) => from.0,
        };
        let r = rows.entry(v).or_insert_with(|| row(v));
        match name {
            BlobName::Snapshot(_) => r.snapshot_bytes = Some(blob.size),
            BlobName::Delta(a, _) => r.deltas_in.push((a.0, blob.size)),
            BlobName::Reverse(_, b) => {
                r.reverse_out.push((b.0, blob.size));
                rows.entry(b.0).or_insert_with(|| row(b.0));
            }
        }
        if let Some(t) = blob.modified {
            let e = times.entry(v).or_insert(t);
            *e = (*e).max(t);
        }
    }
    for v in announced.into_iter().chain(pinned) {
        rows.entry(v).or_insert_with(|| row(v));
    }
    // Reachability: from every snapshot, along deltas (a -> b) and reverse deltas (b -> a).
    let mut edges: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for r in rows.values() {
        for (a, _) in &r.deltas_in {
            edges.entry(*a).or_default().push(r.version);
        }
        for (b, _) in &r.reverse_out {
            edges.entry(r.version).or_default().push(*b);
        }
    }
    let mut seen: BTreeSet<u64> = rows
        .values()
        .filter(|r| r.snapshot_bytes.is_some())
        .map(|r| r.version)
        .collect();
    let mut queue: VecDeque<u64> = seen.iter().copied().collect();
    while let Some(v) = queue.pop_front() {
        for next in edges.get(&v).into_iter().flatten() {
            if seen.insert(*next) {
                queue.push_back(*next);
            }
        }
    }
    for r in rows.values_mut() {
        r.reachable = seen.contains(&r.version);
        r.written = times.get(&r.version).map(|t| ui::utc(*t));
    }
    other_keys.sort();
    Ok(Listing {
        store: store.location(),
        announced,
        pinned,
        versions: rows.into_values().rev().collect(),
        other_keys,
    })
}

/// Runs `shoal versions`.
pub async fn run(g: &Global, out: Out) -> Result<()> {
    let store = open_store(g, false).await?;
    let l = listing(&*store).await?;
    out.report(&l, text);
    Ok(())
}

fn text(l: &Listing) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    match (l.announced, l.pinned) {
        (Some(v), Some(p)) => {
            let _ = writeln!(
                s,
                "{}: announced version {v}; PINNED to version {p} (consumers stay there until `shoal unpin`)",
                l.store
            );
        }
        (Some(v), None) => {
            let _ = writeln!(s, "{}: announced version {v}", l.store);
        }
        (None, _) => {
            let _ = writeln!(s, "{}: nothing announced", l.store);
        }
    }
    if l.versions.is_empty() {
        let _ = writeln!(s, "no versions: publish one with `shoal produce`");
        return s;
    }
    let _ = writeln!(
        s,
        "{:>8}  {:<9}  {:>10}  {:<20}  {:<20}  written",
        "version", "reachable", "snapshot", "deltas in", "reverse out"
    );
    let pairs = |v: &[(u64, u64)], arrow: bool, me: u64| {
        v.iter()
            .map(|(o, b)| {
                let (a, z) = if arrow { (*o, me) } else { (me, *o) };
                format!("{a}->{z} {}", ui::bytes(*b))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    for r in &l.versions {
        let _ = writeln!(
            s,
            "{:>8}  {:<9}  {:>10}  {:<20}  {:<20}  {}{}{}",
            r.version,
            if r.reachable { "yes" } else { "NO" },
            r.snapshot_bytes
                .map(ui::bytes)
                .unwrap_or_else(|| "-".into()),
            pairs(&r.deltas_in, true, r.version),
            pairs(&r.reverse_out, false, r.version),
            r.written.as_deref().unwrap_or("-"),
            if r.announced { "  <- announced" } else { "" },
            if r.pinned { "  <- pinned" } else { "" }
        );
    }
    for k in &l.other_keys {
        let _ = writeln!(s, "(not a shoal blob: {k})");
    }
    s
}
