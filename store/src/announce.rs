//! The announcement: one small object, `announced`, holding the version consumers should be
//! on as decimal text and the CRC-32C of those digits (`42 c1a3d0f2\n`), so a damaged
//! announcement is an error rather than another version. The producer writes it last, after
//! every blob the version needs, and with a condition (the tag it last saw), so two writers
//! cannot both announce.

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
    let shown = || format!("{:?}", text.chars().take(40).collect::<String>());
    let mut parts = text.split_whitespace();
    let digits = parts.next().unwrap_or("");
    let version = digits.parse::<u64>().map_err(|_| bad(shown()))?;
    // `<version> <crc32c of the digits>`; an announcement of an older writer has no checksum.
    if let Some(sum) = parts.next() {
        let want = u32::from_str_radix(sum, 16).map_err(|_| bad(shown()))?;
        if crc32c::crc32c(digits.as_bytes()) != want || parts.next().is_some() {
            return Err(bad(format!("{} (checksum mismatch)", shown())));
        }
    }
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
        .put_if(ANNOUNCED, Bytes::from(announcement(version)), condition)
        .await?;
    tracing::info!(store = %store.location(), version = version.0, "announced");
    Ok(Announced { version, tag })
}

/// The bytes of the announcement of `version`.
fn announcement(version: Version) -> String {
    let digits = version.0.to_string();
    format!("{digits} {:08x}\n", crc32c::crc32c(digits.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_announcement_carries_a_checksum_of_its_digits() {
        let text = announcement(Version(42));
        assert_eq!(text, format!("42 {:08x}\n", crc32c::crc32c(b"42")));
    }
}
