//! Reads versions out of a store the way a consumer would, and checks everything on the way:
//! the newest snapshot at or before the version, then forward deltas, every blob opened and
//! verified (all section checksums) before it is used. Independent of the producer's own
//! restore, so a test can check one against the other.

use std::collections::BTreeSet;

use shoal_format::{DataState, DeltaView, SnapshotView, Version};
use shoal_store::{packing, read_announced, BlobName, BlobStore};

/// Why a version cannot be read: which blob, and what is wrong with it.
pub type ChainError = String;

/// The announced version, if any.
pub async fn announced(store: &dyn BlobStore) -> Result<Option<Version>, ChainError> {
    read_announced(store)
        .await
        .map(|a| a.map(|a| a.version))
        .map_err(|e| format!("reading the announcement: {e}"))
}

/// Every data blob name in the store.
pub async fn blob_names(store: &dyn BlobStore) -> Result<BTreeSet<BlobName>, ChainError> {
    let listed = store.list("").await.map_err(|e| format!("listing: {e}"))?;
    Ok(listed
        .into_iter()
        .filter_map(|i| i.key.parse::<BlobName>().ok())
        .collect())
}

/// Version `version`, rebuilt from the newest snapshot at or before it that has a chain of
/// deltas up to it.
pub async fn read_version(
    store: &dyn BlobStore,
    version: Version,
) -> Result<DataState, ChainError> {
    let names = blob_names(store).await?;
    let path = path_to(&names, version).ok_or_else(|| {
        format!(
            "no snapshot with a chain of deltas leads to version {}",
            version.0
        )
    })?;
    let mut state = read_snapshot(store, path[0]).await?;
    for pair in path.windows(2) {
        state = apply_delta(store, pair[0], pair[1], &state).await?;
    }
    Ok(state)
}

/// Snapshot `version`, verified.
pub async fn read_snapshot(
    store: &dyn BlobStore,
    version: Version,
) -> Result<DataState, ChainError> {
    let name = BlobName::Snapshot(version);
    let bytes = store
        .get(&name.key())
        .await
        .and_then(|b| packing::unpack(b, &store.location(), &name.key()))
        .map_err(|e| format!("{name}: {e}"))?;
    let view = SnapshotView::open(bytes).map_err(|e| format!("{name}: {e}"))?;
    view.verify().map_err(|e| format!("{name}: {e}"))?;
    if view.layout().header.to != version {
        return Err(format!("{name} holds version {}", view.layout().header.to));
    }
    view.to_state().map_err(|e| format!("{name}: {e}"))
}

/// The delta `from` -> `to`, verified and applied to `state` (version `from`).
pub async fn apply_delta(
    store: &dyn BlobStore,
    from: Version,
    to: Version,
    state: &DataState,
) -> Result<DataState, ChainError> {
    let name = BlobName::Delta(from, to);
    let bytes = store
        .get(&name.key())
        .await
        .and_then(|b| packing::unpack(b, &store.location(), &name.key()))
        .map_err(|e| format!("{name}: {e}"))?;
    let view = DeltaView::open(bytes).map_err(|e| format!("{name}: {e}"))?;
    view.verify().map_err(|e| format!("{name}: {e}"))?;
    let header = &view.layout().header;
    if (header.from, header.to) != (from, to) {
        return Err(format!("{name} goes from {} to {}", header.from, header.to));
    }
    view.apply(state).map_err(|e| format!("{name}: {e}"))
}

/// The versions to read, snapshot first: the newest snapshot at or before `target` from
/// which deltas lead to it (each step the longest delta that does not overshoot).
fn path_to(names: &BTreeSet<BlobName>, target: Version) -> Option<Vec<Version>> {
    let mut snapshots: Vec<Version> = names
        .iter()
        .filter_map(|n| match n {
            BlobName::Snapshot(v) if *v <= target => Some(*v),
            _ => None,
        })
        .collect();
    snapshots.sort_unstable_by(|a, b| b.cmp(a));
    'snapshots: for s in snapshots {
        let mut path = vec![s];
        while *path.last()? != target {
            let at = *path.last()?;
            let next = names
                .iter()
                .filter_map(|n| match n {
                    BlobName::Delta(a, b) if *a == at && *b <= target => Some(*b),
                    _ => None,
                })
                .max();
            match next {
                Some(b) => path.push(b),
                None => continue 'snapshots,
            }
        }
        return Some(path);
    }
    None
}
