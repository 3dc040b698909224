//! The announcement: one small object, `announced`, holding the version consumers should be
//! on as decimal text (`42\n`). The producer writes it last, after every blob the version
//! needs, and with a condition (the tag it last saw), so two writers cannot both announce.

use bytes::Bytes;
use shoal_format::Version;

use crate::name::ANNOUNCED;
use crate::{BlobStore, Condition, Error, Result, Tag};

/// The announced version and the tag of the object that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announced {
    /// The version consumers should be on.
    pub version: Version,
    /// The announcement object's tag, for the next conditional announcement.
    pub tag: Tag,
}

/// Reads the announcement: `None` if nothing was ever announced.
pub async fn read_announced(store: &dyn BlobStore) -> Result<Option<Announced>> {
    let Some((bytes, tag)) = store.get_tagged(ANNOUNCED).await? else {
        return Ok(None);
    };
    let bad = |detail: String| Error::BadAnnouncement {
        location: store.location(),
        detail,
    };
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| bad(format!("{} bytes, not UTF-8", bytes.len())))?;
    let version = text
        .trim()
        .parse::<u64>()
        .map_err(|_| bad(format!("{:?}", text.chars().take(40).collect::<String>())))?;
    Ok(Some(Announced {
        version: Version(version),
        tag,
    }))
}

/// Announces `version`. `previous` is the announcement this writer last saw (`None` when it
/// saw none): if the stored announcement changed since, nothing is written and the result is
/// [`Error::PreconditionFailed`]. Returns the new announcement.
pub async fn announce(
    store: &dyn BlobStore,
    version: Version,
    previous: Option<&Announced>,
) -> Result<Announced> {
    let condition = match previous {
        Some(a) => Condition::IfMatch(a.tag.clone()),
        None => Condition::IfAbsent,
    };
    let tag = store
        .put_if(
            ANNOUNCED,
            Bytes::from(format!("{}\n", version.0)),
            condition,
        )
        .await?;
    tracing::info!(store = %store.location(), version = version.0, "announced");
    Ok(Announced { version, tag })
}
