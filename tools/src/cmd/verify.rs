//! `shoal verify`: is what the store publishes whole and consistent?
//!
//! 1. Every blob: fetched with the store's length and CRC-32C check, then opened and
//!    verified by the format (every section checksum, every page), and its header must name
//!    the versions its key names.
//! 2. Every chain: versions in order, each built from its snapshot or from the previous
//!    version by its delta; where a version has both, the delta's result must equal the
//!    snapshot; every reverse delta must give back the version it points to.
//! 3. The announcement must name a version the store can build.
//!
//! Any fault is listed with the blob it is in, and the exit code is 1.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use serde::Serialize;
use shoal_format::{DataState, DeltaView, SnapshotView, Version};
use shoal_store::{packing, read_announced, BlobName};

use crate::cli::Global;
use crate::cmd::open_store;
use crate::error::{CliError, Result};
use crate::ui::{self, Out};

/// Arguments of `shoal verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Verify only what version V needs: its nearest snapshot at or before it and the
    /// deltas from there (default: every blob and every chain).
    #[arg(long)]
    pub version: Option<u64>,
}

#[derive(Serialize)]
struct Report {
    store: String,
    announced: Option<u64>,
    blobs_checked: u64,
    bytes_checked: u64,
    chains_checked: u64,
    faults: Vec<Fault>,
}

#[derive(Serialize)]
struct Fault {
    blob: String,
    problem: String,
}

/// Runs `shoal verify`.
pub async fn run(g: &Global, a: &VerifyArgs, out: Out) -> Result<()> {
    let store = open_store(g, false).await?;
    let mut report = Report {
        store: store.location(),
        announced: None,
        blobs_checked: 0,
        bytes_checked: 0,
        chains_checked: 0,
        faults: Vec::new(),
    };
    match read_announced(&*store).await {
        Ok(a) => report.announced = a.map(|a| a.version.0),
        Err(e) => report.faults.push(Fault {
            blob: shoal_store::ANNOUNCED.into(),
            problem: e.to_string(),
        }),
    }
    let mut names: Vec<BlobName> = store
        .list("")
        .await?
        .into_iter()
        .filter_map(|b| b.key.parse().ok())
        .collect();
    if let Some(v) = a.version {
        names = needed_for(&names, Version(v)).ok_or_else(|| {
            CliError::fail(format!(
                "version {v} cannot be built from the blobs in {}: no snapshot at or before it with deltas leading to it (see `shoal versions`)",
                report.store
            ))
        })?;
    }
    // Versions in order; within a version its snapshot first, then deltas into it, then
    // reverse deltas out of it.
    names.sort_by_key(|n| match n {
        BlobName::Snapshot(v) => (v.0, 0, 0),
        BlobName::Delta(from, to) => (to.0, 1, from.0),
        BlobName::Reverse(from, to) => (from.0, 2, to.0),
    });
    let bar = ui::progress(Some(names.len() as u64), "blobs");
    let mut states: BTreeMap<u64, DataState> = BTreeMap::new();
    let mut built: BTreeSet<u64> = BTreeSet::new();
    for (i, name) in names.iter().enumerate() {
        bar.set_position(i as u64);
        let key = name.key();
        let mut fault = |problem: String| {
            report.faults.push(Fault {
                blob: key.clone(),
                problem,
            })
        };
        let stored: Bytes = match store.get(&key).await {
            Ok(b) => b,
            Err(e) => {
                fault(e.to_string());
                continue;
            }
        };
        report.blobs_checked += 1;
        report.bytes_checked += stored.len() as u64;
        let bytes = match packing::unpack(stored, &store.location(), &key) {
            Ok(b) => b,
            Err(e) => {
                fault(e.to_string());
                continue;
            }
        };
        match *name {
            BlobName::Snapshot(v) => {
                let state = (|| {
                    let view = SnapshotView::open(bytes)?;
                    view.verify()?;
                    let to = view.layout().header.to;
                    if to != v {
                        return Err(format!("its header says version {}", to.0).into());
                    }
                    Ok::<_, Box<dyn std::error::Error>>(view.to_state()?)
                })();
                match state {
                    Ok(state) => {
                        if let Some(derived) = states.get(&v.0) {
                            report.chains_checked += 1;
                            if *derived != state {
                                fault(format!(
                                    "differs from version {} built by the deltas before it",
                                    v.0
                                ));
                            }
                        }
                        states.insert(v.0, state);
                        built.insert(v.0);
                    }
                    Err(e) => fault(e.to_string()),
                }
            }
            BlobName::Delta(from, to) | BlobName::Reverse(from, to) => {
                let result = (|| {
                    let view = DeltaView::open(bytes)?;
                    view.verify()?;
                    let h = &view.layout().header;
                    if (h.from, h.to) != (from, to) {
                        return Err(format!("its header says {} -> {}", h.from.0, h.to.0).into());
                    }
                    match states.get(&from.0) {
                        Some(base) => Ok::<_, Box<dyn std::error::Error>>(Some(view.apply(base)?)),
                        None => Ok(None),
                    }
                })();
                match result {
                    Ok(Some(next)) => {
                        report.chains_checked += 1;
                        match states.get(&to.0) {
                            Some(known) if *known != next => fault(format!(
                                "applied to version {}, it does not give version {}",
                                from.0, to.0
                            )),
                            Some(_) => {}
                            None => {
                                states.insert(to.0, next);
                                built.insert(to.0);
                            }
                        }
                    }
                    Ok(None) => {}
                    Err(e) => fault(e.to_string()),
                }
            }
        }
        // Keep only the states later blobs can still use.
        let later: BTreeSet<u64> = names[i + 1..]
            .iter()
            .flat_map(|n| match *n {
                BlobName::Snapshot(v) => [v.0, v.0],
                BlobName::Delta(f, t) | BlobName::Reverse(f, t) => [f.0, t.0],
            })
            .collect();
        states.retain(|v, _| later.contains(v));
    }
    bar.finish_and_clear();
    if let Some(v) = report.announced {
        if a.version.is_none() && !built.contains(&v) {
            report.faults.push(Fault {
                blob: shoal_store::ANNOUNCED.into(),
                problem: format!(
                    "announces version {v}, which the blobs in the store cannot build"
                ),
            });
        }
    }
    out.report(&report, text);
    match report.faults.first() {
        None => Ok(()),
        Some(f) => Err(CliError::fail(format!(
            "{} fault(s) in {}; first: {}: {}",
            report.faults.len(),
            report.store,
            f.blob,
            f.problem
        ))),
    }
}

/// The blobs version `v` is built from: the newest snapshot at or before it, and the deltas
/// from there (forward, one version at a time along what exists); `None` if there is no way.
fn needed_for(names: &[BlobName], v: Version) -> Option<Vec<BlobName>> {
    let snapshots: BTreeSet<u64> = names
        .iter()
        .filter_map(|n| match n {
            BlobName::Snapshot(s) if *s <= v => Some(s.0),
            _ => None,
        })
        .collect();
    for &start in snapshots.iter().rev() {
        let mut chain = vec![BlobName::Snapshot(Version(start))];
        let mut at = start;
        while at < v.0 {
            let next = names.iter().find_map(|n| match n {
                BlobName::Delta(f, t) if f.0 == at && *t <= v => Some(*t),
                _ => None,
            })?;
            chain.push(BlobName::Delta(Version(at), next));
            at = next.0;
        }
        if at == v.0 {
            if snapshots.contains(&v.0) && start != v.0 {
                chain.push(BlobName::Snapshot(v));
            }
            return Some(chain);
        }
    }
    None
}

fn text(r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}: {} blobs ({}) and {} chain links checked",
        r.store,
        r.blobs_checked,
        ui::bytes(r.bytes_checked),
        r.chains_checked
    );
    if r.faults.is_empty() {
        let _ = writeln!(s, "ok: no faults");
    }
    for f in &r.faults {
        let _ = writeln!(s, "FAULT {}: {}", f.blob, f.problem);
    }
    s
}
