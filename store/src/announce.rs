//! The announcement: one small control object, `announced`, that tells every consumer where
//! to be. It holds
//!
//! - the **version** the producer announced (written last, after every blob it needs, with a
//!   condition on the tag the producer last saw, so two writers cannot both announce);
//! - an optional **pin**: a version an operator holds the whole fleet on (`shoal pin`),
//!   whatever is announced after; the producer carries it over when it announces;
//! - a **manifest**: the blobs written for the announced version, with their sizes, so a
//!   consumer one version behind finds its delta without listing the store (a LIST costs
//!   12.5 times a GET on S3, and is the request a fleet would otherwise stampede with).
//!
//! Version and pin live in one object so a consumer learns both from one read and a poll is
//! one HEAD. The text is line-based and ends with the CRC-32C of everything before it, so a
//! damaged announcement is an error rather than another version:
//!
//! ```text
//! shoal-announcement 2
//! version 42
//! pinned 40
//! blob delta/41-42 678
//! blob snapshot/42 12345
//! crc32c 1a2b3c4d
//! ```
//!
//! The first format, `42 c1a3d0f2` (the version and the CRC-32C of its digits), is still read.

use bytes::Bytes;
use shoal_format::Version;

use crate::name::{BlobName, ANNOUNCED};
use crate::{BlobStore, Condition, Error, Result, Tag};

/// The first line of the current format.
const MAGIC: &str = "shoal-announcement 2";

/// How many times a conditional write is tried again when the only change underneath was
/// the other writer's half (a pin under a producer, an announcement under a pin).
const ATTEMPTS: usize = 5;

/// The stored announcement and the tag of the object that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announced {
    /// The version the producer announced.
    pub version: Version,
    /// The version an operator pinned the fleet to, if any.
    pub pinned: Option<Version>,
    /// Blobs written for `version`, with their sizes (empty in the first format).
    pub blobs: Vec<(BlobName, u64)>,
    /// The announcement object's tag, for the next conditional write.
    pub tag: Tag,
}

impl Announced {
    /// The version consumers should serve: the pin if there is one, else the announced
    /// version.
    pub fn target(&self) -> Version {
        self.pinned.unwrap_or(self.version)
    }
}

/// Reads the announcement: `None` if nothing was ever announced.
pub async fn read_announced(store: &dyn BlobStore) -> Result<Option<Announced>> {
    let Some((bytes, tag)) = store.get_tagged(ANNOUNCED).await? else {
        return Ok(None);
    };
    let (version, pinned, blobs) = parse(&bytes).map_err(|detail| Error::BadAnnouncement {
        location: store.location(),
        detail,
    })?;
    Ok(Some(Announced {
        version,
        pinned,
        blobs,
        tag,
    }))
}

/// Announces `version` with no manifest; see [`announce_with`].
pub async fn announce(
    store: &dyn BlobStore,
    version: Version,
    previous: Option<&Announced>,
) -> Result<Announced> {
    announce_with(store, version, &[], previous).await
}

/// Announces `version`, naming `blobs` (written for it) in the manifest. `previous` is the
/// announcement this writer last saw (`None` when it saw none): if another writer announced
/// since, nothing is written and the result is [`Error::PreconditionFailed`]. A pin set or
/// cleared since is not a conflict: it is kept, and the announcement written over it.
pub async fn announce_with(
    store: &dyn BlobStore,
    version: Version,
    blobs: &[(BlobName, u64)],
    previous: Option<&Announced>,
) -> Result<Announced> {
    let mut seen = previous.cloned();
    for _ in 0..ATTEMPTS {
        let pinned = seen.as_ref().and_then(|a| a.pinned);
        match write(store, version, pinned, blobs, seen.as_ref()).await {
            Err(e) if e.is_precondition_failed() => {
                let now = read_announced(store).await?;
                let only_pin_moved = match (&now, previous) {
                    (Some(now), Some(previous)) => now.version == previous.version,
                    _ => false,
                };
                if !only_pin_moved {
                    return Err(e);
                }
                seen = now;
            }
            done => {
                let a = done?;
                tracing::info!(store = %store.location(), version = version.0, "announced");
                return Ok(a);
            }
        }
    }
    Err(Error::PreconditionFailed {
        location: store.location(),
        key: ANNOUNCED.to_string(),
    })
}

/// Pins every consumer to `pin` (or lets them follow announcements again, with `None`),
/// keeping the announced version and manifest. A conditional write: an announcement that
/// lands in between is kept, and the pin written over it. Fails with [`Error::NotFound`]
/// when nothing was ever announced.
pub async fn set_pin(store: &dyn BlobStore, pin: Option<Version>) -> Result<Announced> {
    for _ in 0..ATTEMPTS {
        let Some(now) = read_announced(store).await? else {
            return Err(Error::NotFound {
                location: store.location(),
                key: ANNOUNCED.to_string(),
            });
        };
        match write(store, now.version, pin, &now.blobs, Some(&now)).await {
            Err(e) if e.is_precondition_failed() => continue,
            done => {
                let a = done?;
                tracing::info!(store = %store.location(), pinned = ?pin.map(|v| v.0), "pin set");
                return Ok(a);
            }
        }
    }
    Err(Error::PreconditionFailed {
        location: store.location(),
        key: ANNOUNCED.to_string(),
    })
}

/// One conditional write of the announcement.
async fn write(
    store: &dyn BlobStore,
    version: Version,
    pinned: Option<Version>,
    blobs: &[(BlobName, u64)],
    previous: Option<&Announced>,
) -> Result<Announced> {
    let condition = match previous {
        Some(a) => Condition::IfMatch(a.tag.clone()),
        None => Condition::IfAbsent,
    };
    let text = render(version, pinned, blobs);
    let tag = store
        .put_if(ANNOUNCED, Bytes::from(text), condition)
        .await?;
    Ok(Announced {
        version,
        pinned,
        blobs: blobs.to_vec(),
        tag,
    })
}

/// The text of an announcement.
fn render(version: Version, pinned: Option<Version>, blobs: &[(BlobName, u64)]) -> String {
    let mut text = format!("{MAGIC}\nversion {}\n", version.0);
    if let Some(p) = pinned {
        text.push_str(&format!("pinned {}\n", p.0));
    }
    for (name, size) in blobs {
        text.push_str(&format!("blob {name} {size}\n"));
    }
    let sum = crc32c::crc32c(text.as_bytes());
    text.push_str(&format!("crc32c {sum:08x}\n"));
    text
}

type Parsed = (Version, Option<Version>, Vec<(BlobName, u64)>);

/// Reads either format; the error says what was found instead.
fn parse(bytes: &[u8]) -> std::result::Result<Parsed, String> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| format!("{} bytes, not UTF-8", bytes.len()))?;
    let shown = || format!("{:?}", text.chars().take(60).collect::<String>());
    if text.starts_with(MAGIC) {
        return parse_lines(text).map_err(|why| format!("{why} in {}", shown()));
    }
    parse_first_format(text).ok_or_else(shown)
}

/// `<version> [<crc32c of the digits>]`.
fn parse_first_format(text: &str) -> Option<Parsed> {
    let mut parts = text.split_whitespace();
    let digits = parts.next().unwrap_or("");
    let version = digits.parse::<u64>().ok()?;
    if let Some(sum) = parts.next() {
        let want = u32::from_str_radix(sum, 16).ok()?;
        if crc32c::crc32c(digits.as_bytes()) != want || parts.next().is_some() {
            return None;
        }
    }
    Some((Version(version), None, Vec::new()))
}

/// The line-based format, checksum first.
fn parse_lines(text: &str) -> std::result::Result<Parsed, String> {
    let body_end = text
        .trim_end_matches('\n')
        .rfind('\n')
        .map(|i| i + 1)
        .ok_or("no checksum line")?;
    let (body, last) = text.split_at(body_end);
    let sum = last
        .trim_end()
        .strip_prefix("crc32c ")
        .and_then(|s| u32::from_str_radix(s, 16).ok())
        .ok_or("no checksum line")?;
    if crc32c::crc32c(body.as_bytes()) != sum {
        return Err("checksum mismatch".into());
    }
    let mut version = None;
    let mut pinned = None;
    let mut blobs = Vec::new();
    for line in body.lines().skip(1) {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let number = |s: &str| s.parse::<u64>().map_err(|_| format!("bad line {line:?}"));
        match word {
            "version" => version = Some(Version(number(rest)?)),
            "pinned" => pinned = Some(Version(number(rest)?)),
            "blob" => {
                let (name, size) = rest
                    .split_once(' ')
                    .ok_or_else(|| format!("bad line {line:?}"))?;
                let name = name
                    .parse::<BlobName>()
                    .map_err(|_| format!("bad line {line:?}"))?;
                blobs.push((name, number(size)?));
            }
            // Lines a later writer adds are skipped, so an older reader keeps working.
            _ => {}
        }
    }
    Ok((version.ok_or("no version line")?, pinned, blobs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_announcement_round_trips_with_pin_and_manifest() {
        let blobs = vec![
            (BlobName::Delta(Version(41), Version(42)), 678),
            (BlobName::Snapshot(Version(42)), 12345),
        ];
        let text = render(Version(42), Some(Version(40)), &blobs);
        assert!(text.starts_with("shoal-announcement 2\nversion 42\npinned 40\n"));
        let parsed = parse(text.as_bytes()).unwrap();
        assert_eq!(parsed, (Version(42), Some(Version(40)), blobs));
    }

    #[test]
    fn the_first_format_is_still_read() {
        let digits = "42";
        let text = format!("42 {:08x}\n", crc32c::crc32c(digits.as_bytes()));
        assert_eq!(
            parse(text.as_bytes()).unwrap(),
            (Version(42), None, Vec::new())
        );
        assert_eq!(parse(b"7\n").unwrap().0, Version(7));
    }

    #[test]
    fn a_damaged_announcement_is_an_error_not_another_version() {
        let text = render(Version(42), None, &[]);
        let flipped = text.replace("version 42", "version 43");
        let err = parse(flipped.as_bytes()).unwrap_err();
        assert!(err.contains("checksum mismatch"), "{err}");
        assert!(parse(b"shoal-announcement 2\nversion 1\n").is_err());
        assert!(parse(b"not a number").is_err());
        let no_version = "shoal-announcement 2\n";
        let no_version = format!(
            "{no_version}crc32c {:08x}\n",
            crc32c::crc32c(no_version.as_bytes())
        );
        assert!(parse(no_version.as_bytes())
            .unwrap_err()
            .contains("no version"));
    }
}
