//! The blob container shared by snapshots, deltas and reverse deltas: a header (magic, format
//! version, kind, page size, versions, schema, header checksum), 8-byte-aligned sections, and a
//! section table with a checksum per section, located by a trailer at the very end.
//!
//! The table sits at the end so that a writer streams every section straight to its
//! `io::Write` and only then knows their offsets and checksums. [`BlobLayout::parse`] checks
//! the header and table (cheap, structural); [`BlobLayout::verify`] checks every section's
//! checksum.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::sync::Arc;

use crate::error::{Error, Location, Result};
use crate::ids::{TypeId, Version};
use crate::schema::Schema;

/// The eight bytes every shoal blob starts and ends with.
pub const MAGIC: [u8; 8] = *b"SHOAL\r\n\x1a";
/// The newest format version this crate reads. Version 2 adds deltas that change the schema,
/// version 3 dictionary pages; a writer without dictionary pages writes each blob in the
/// oldest version that holds it (1, or 2 for a delta that changes the schema), so an older
/// reader refuses only what it cannot read, by its version, instead of misreading it.
pub const FORMAT_VERSION: u32 = 3;
/// Header byte 14: the delta changes the schema.
const FLAG_CHANGES_SCHEMA: u8 = 1;
/// Bytes of the fixed part of the header.
pub const HEADER_LEN: usize = 40;
/// Bytes of the trailer.
pub const TRAILER_LEN: usize = 24;
/// Bytes of one section table entry.
pub const ENTRY_LEN: usize = 32;
/// The smallest page size, as a power of two.
pub const MIN_PAGE_SHIFT: u8 = 4;
/// The largest page size, as a power of two.
pub const MAX_PAGE_SHIFT: u8 = 16;

/// Section kind: a type's slot count and ordinal bitmaps.
pub const SECTION_TYPE: u16 = 1;
/// Section kind: one column's pages.
pub const SECTION_COLUMN: u16 = 2;
/// Section kind: the base ordinals of a delta's added records.
pub const SECTION_BASES: u16 = 3;

/// What a blob holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlobKind {
    /// A whole version.
    Snapshot,
    /// The changes from one version to a later one.
    Delta,
    /// The changes from a version back to an earlier one.
    Reverse,
}

impl BlobKind {
    fn code(self) -> u8 {
        match self {
            BlobKind::Snapshot => 1,
            BlobKind::Delta => 2,
            BlobKind::Reverse => 3,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(BlobKind::Snapshot),
            2 => Some(BlobKind::Delta),
            3 => Some(BlobKind::Reverse),
            _ => None,
        }
    }
}

impl fmt::Display for BlobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BlobKind::Snapshot => "snapshot",
            BlobKind::Delta => "delta",
            BlobKind::Reverse => "reverse delta",
        })
    }
}

/// The fixed facts of a blob's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The format version the blob is written in (see [`FORMAT_VERSION`]).
    pub format: u32,
    /// A delta whose schema differs from its from version's (format version 2 or later;
    /// header flag bit 0 of byte 14): readers apply it to that version read in its schema,
    /// and refuse a delta of another schema without it.
    pub changes_schema: bool,
    /// Snapshot, delta or reverse delta.
    pub kind: BlobKind,
    /// Ordinals per page, as a power of two.
    pub page_shift: u8,
    /// The version a delta applies to (0 for a snapshot).
    pub from: Version,
    /// The version the blob holds or leads to.
    pub to: Version,
}

/// One entry of the section table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectionEntry {
    /// [`SECTION_TYPE`], [`SECTION_COLUMN`], [`SECTION_BASES`], or a kind this reader does not
    /// know (kept, checksummed, ignored).
    pub kind: u16,
    /// The type the section belongs to.
    pub ty: TypeId,
    /// The column within the type (0 when not a column).
    pub column: u32,
    /// CRC-32C of the section's bytes.
    pub crc: u32,
    /// Offset from the start of the blob; a multiple of 8.
    pub offset: u64,
    /// Length in bytes; a multiple of 8.
    pub len: u64,
}

/// A blob's header and section table, parsed and checked.
#[derive(Debug, Clone)]
pub struct BlobLayout {
    /// The header's fixed facts.
    pub header: Header,
    /// The schema from the header.
    pub schema: Arc<Schema>,
    /// Every section, in offset order.
    pub entries: Vec<SectionEntry>,
    index: BTreeMap<(u16, u32, u32), usize>,
    len: u64,
}

impl BlobLayout {
    /// Parses the header, the trailer and the section table; checks magic, format version,
    /// the header and table checksums, and that every section lies inside the blob, aligned
    /// and without overlap. Does not read the sections.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let len = bytes.len() as u64;
        let at = |section: &str, offset: u64| Location {
            blob: None,
            section: section.to_owned(),
            offset,
        };
        if bytes.len() < HEADER_LEN + TRAILER_LEN {
            return Err(Error::OutOfRange {
                at: at("header", 0),
                needed: (HEADER_LEN + TRAILER_LEN) as u64,
                available: len,
            });
        }
        let magic = array8(&bytes[0..8]);
        if magic != MAGIC {
            return Err(Error::BadMagic {
                expected: MAGIC,
                found: magic,
            });
        }
        let version = le_u32(&bytes[8..12]);
        if !(1..=FORMAT_VERSION).contains(&version) {
            return Err(Error::UnsupportedVersion {
                expected: FORMAT_VERSION,
                found: version,
            });
        }
        let kind = BlobKind::from_code(bytes[12]).ok_or_else(|| {
            Error::malformed(at("header", 12), format!("unknown blob kind {}", bytes[12]))
        })?;
        let at = |section: &str, offset: u64| Location {
            blob: Some(kind),
            section: section.to_owned(),
            offset,
        };
        let page_shift = bytes[13];
        if !(MIN_PAGE_SHIFT..=MAX_PAGE_SHIFT).contains(&page_shift) {
            return Err(Error::malformed(
                at("header", 13),
                format!("page shift {page_shift} outside {MIN_PAGE_SHIFT}..={MAX_PAGE_SHIFT}"),
            ));
        }
        let changes_schema = bytes[14] == FLAG_CHANGES_SCHEMA;
        let flag_allowed = version >= 2 && kind != BlobKind::Snapshot;
        if bytes[15] != 0 || (bytes[14] != 0 && !(changes_schema && flag_allowed)) {
            return Err(Error::malformed(
                at("header", 14),
                "reserved bytes are not zero (byte 14 may only mark a delta of format version 2 or later that changes the schema)",
            ));
        }
        let from = Version(le_u64(&bytes[16..24]));
        let to = Version(le_u64(&bytes[24..32]));
        let schema_len = le_u32(&bytes[32..36]) as u64;
        let data_start = align8(HEADER_LEN as u64 + schema_len);
        if data_start > len - TRAILER_LEN as u64 {
            return Err(Error::OutOfRange {
                at: at("schema", HEADER_LEN as u64),
                needed: data_start + TRAILER_LEN as u64,
                available: len,
            });
        }
        let schema_bytes = &bytes[HEADER_LEN..HEADER_LEN + schema_len as usize];
        let stored = le_u32(&bytes[36..40]);
        let computed = header_crc(&bytes[..36], schema_bytes);
        if stored != computed {
            return Err(Error::ChecksumMismatch {
                at: at("header", 36),
                expected: stored,
                found: computed,
            });
        }
        let schema = Schema::decode(schema_bytes)
            .map_err(|reason| Error::malformed(at("schema", HEADER_LEN as u64), reason))?;
        let header = Header {
            format: version,
            changes_schema,
            kind,
            page_shift,
            from,
            to,
        };
        if kind == BlobKind::Snapshot && from != Version(0) {
            return Err(Error::malformed(
                at("header", 16),
                "a snapshot has a from version",
            ));
        }
        let entries = parse_table(bytes, data_start, &at)?;
        let mut index = BTreeMap::new();
        for (i, e) in entries.iter().enumerate() {
            if index.insert((e.kind, e.ty.0, e.column), i).is_some() {
                return Err(Error::malformed(
                    at("section table", e.offset),
                    format!(
                        "section (kind {}, {}, column {}) appears twice",
                        e.kind, e.ty, e.column
                    ),
                ));
            }
        }
        Ok(BlobLayout {
            header,
            schema: Arc::new(schema),
            entries,
            index,
            len,
        })
    }

    /// The total length of the blob.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for a blob of no bytes (never, once parsed).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entry of a section.
    pub fn find(&self, kind: u16, ty: TypeId, column: u32) -> Option<&SectionEntry> {
        self.index
            .get(&(kind, ty.0, column))
            .and_then(|&i| self.entries.get(i))
    }

    /// The entry of a section that must be there.
    pub fn require(&self, kind: u16, ty: TypeId, column: u32) -> Result<&SectionEntry> {
        self.find(kind, ty, column).ok_or_else(|| {
            Error::malformed(
                self.location_of(kind, ty, column, 0),
                "section is missing from the section table",
            )
        })
    }

    /// A location inside a section, named for people.
    pub fn location(&self, entry: &SectionEntry, offset_in_section: u64) -> Location {
        self.location_of(
            entry.kind,
            entry.ty,
            entry.column,
            entry.offset + offset_in_section,
        )
    }

    fn location_of(&self, kind: u16, ty: TypeId, column: u32, offset: u64) -> Location {
        Location {
            blob: Some(self.header.kind),
            section: section_name(&self.schema, kind, ty, column),
            offset,
        }
    }

    /// Checks the checksum of every section.
    pub fn verify(&self, bytes: &[u8]) -> Result<()> {
        for e in &self.entries {
            let section = &bytes[e.offset as usize..(e.offset + e.len) as usize];
            let found = crc32c::crc32c(section);
            if found != e.crc {
                return Err(Error::ChecksumMismatch {
                    at: self.location(e, 0),
                    expected: e.crc,
                    found,
                });
            }
        }
        Ok(())
    }
}

fn parse_table(
    bytes: &[u8],
    data_start: u64,
    at: &dyn Fn(&str, u64) -> Location,
) -> Result<Vec<SectionEntry>> {
    let len = bytes.len() as u64;
    let trailer_at = len - TRAILER_LEN as u64;
    let trailer = &bytes[trailer_at as usize..];
    if array8(&trailer[16..24]) != MAGIC {
        return Err(Error::malformed(
            at("trailer", trailer_at + 16),
            "the blob does not end with the shoal magic: truncated or not a blob",
        ));
    }
    let table_offset = le_u64(&trailer[0..8]);
    let count = le_u32(&trailer[8..12]) as u64;
    let table_len = count * ENTRY_LEN as u64;
    if table_offset < data_start
        || !table_offset.is_multiple_of(8)
        || table_offset.checked_add(table_len) != Some(trailer_at)
    {
        return Err(Error::malformed(
            at("trailer", trailer_at),
            format!("section table at {table_offset} with {count} entries does not end at the trailer ({trailer_at})"),
        ));
    }
    let table = &bytes[table_offset as usize..trailer_at as usize];
    let stored = le_u32(&trailer[12..16]);
    let computed = crc32c::crc32c(table);
    if stored != computed {
        return Err(Error::ChecksumMismatch {
            at: at("section table", table_offset),
            expected: stored,
            found: computed,
        });
    }
    let mut entries = Vec::with_capacity(count as usize);
    let mut end_of_previous = data_start;
    for (i, raw) in table.chunks_exact(ENTRY_LEN).enumerate() {
        let entry = SectionEntry {
            kind: u16::from_le_bytes([raw[0], raw[1]]),
            ty: TypeId(le_u32(&raw[4..8])),
            column: le_u32(&raw[8..12]),
            crc: le_u32(&raw[12..16]),
            offset: le_u64(&raw[16..24]),
            len: le_u64(&raw[24..32]),
        };
        let entry_at = table_offset + (i * ENTRY_LEN) as u64;
        let end = entry.offset.checked_add(entry.len);
        let fits = end.is_some_and(|e| e <= table_offset);
        if raw[2..4] != [0, 0]
            || !entry.offset.is_multiple_of(8)
            || !entry.len.is_multiple_of(8)
            || entry.offset < end_of_previous
            || !fits
        {
            return Err(Error::malformed(
                at("section table", entry_at),
                format!(
                    "entry {i} ({} bytes at {}) is unaligned, overlaps another or lies outside {end_of_previous}..{table_offset}",
                    entry.len, entry.offset
                ),
            ));
        }
        end_of_previous = entry.offset + entry.len;
        entries.push(entry);
    }
    Ok(entries)
}

fn section_name(schema: &Schema, kind: u16, ty: TypeId, column: u32) -> String {
    let Some(def) = schema.type_def(ty) else {
        return format!("section of kind {kind} for unknown {ty}");
    };
    match kind {
        SECTION_TYPE => format!("type section of `{}`", def.name),
        SECTION_BASES => format!("bases of `{}`", def.name),
        crate::keyindex::SECTION_KEY_INDEX => format!("key index of `{}`", def.name),
        SECTION_COLUMN => match def.fields().get(column as usize) {
            Some(f) => format!("column `{}.{}`", def.name, f.name),
            None => format!("elements of `{}`", def.name),
        },
        other => format!("section of kind {other} for `{}`", def.name),
    }
}

fn header_crc(fixed: &[u8], schema: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(fixed), schema)
}

/// Writes a blob: the header first, then sections as they come, then the table and trailer.
pub(crate) struct BlobWriter<W: Write> {
    w: W,
    pos: u64,
    entries: Vec<SectionEntry>,
    open: Option<SectionEntry>,
}

impl BlobWriter<Vec<u8>> {
    /// A writer of sections alone, for another writer to [`append`](BlobWriter::append):
    /// sections written apart, on other threads, land as if written in place, since each
    /// starts 8-aligned and is padded to 8 (no header; its table is never written).
    pub(crate) fn detached() -> Self {
        BlobWriter {
            w: Vec::new(),
            pos: 0,
            entries: Vec::new(),
            open: None,
        }
    }
}

impl<W: Write> BlobWriter<W> {
    pub(crate) fn new(mut w: W, header: &Header, schema: &Schema) -> Result<Self> {
        let mut schema_bytes = Vec::new();
        schema.encode(&mut schema_bytes);
        let mut head = Vec::with_capacity(HEADER_LEN + schema_bytes.len() + 8);
        head.extend_from_slice(&MAGIC);
        head.extend_from_slice(&header.format.to_le_bytes());
        head.push(header.kind.code());
        head.push(header.page_shift);
        head.extend_from_slice(&[u8::from(header.changes_schema) * FLAG_CHANGES_SCHEMA, 0]);
        head.extend_from_slice(&header.from.0.to_le_bytes());
        head.extend_from_slice(&header.to.0.to_le_bytes());
        head.extend_from_slice(&(schema_bytes.len() as u32).to_le_bytes());
        let crc = header_crc(&head, &schema_bytes);
        head.extend_from_slice(&crc.to_le_bytes());
        head.extend_from_slice(&schema_bytes);
        head.resize(align8(head.len() as u64) as usize, 0);
        w.write_all(&head)?;
        Ok(BlobWriter {
            w,
            pos: head.len() as u64,
            entries: Vec::new(),
            open: None,
        })
    }

    pub(crate) fn begin(&mut self, kind: u16, ty: TypeId, column: u32) {
        debug_assert!(self.open.is_none(), "a section is already open");
        self.open = Some(SectionEntry {
            kind,
            ty,
            column,
            crc: 0,
            offset: self.pos,
            len: 0,
        });
    }

    /// Bytes written into the open section so far.
    pub(crate) fn section_pos(&self) -> u64 {
        self.open.map_or(0, |e| self.pos - e.offset)
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.w.write_all(bytes)?;
        self.pos += bytes.len() as u64;
        if let Some(e) = &mut self.open {
            e.crc = crc32c::crc32c_append(e.crc, bytes);
        }
        Ok(())
    }

    pub(crate) fn end(&mut self) -> Result<()> {
        let pad = (align8(self.pos) - self.pos) as usize;
        self.write(&[0u8; 8][..pad])?;
        if let Some(mut e) = self.open.take() {
            e.len = self.pos - e.offset;
            self.entries.push(e);
        }
        Ok(())
    }

    /// Takes in the sections `other` wrote (a [`detached`](BlobWriter::detached) writer),
    /// after those written so far.
    pub(crate) fn append(&mut self, other: BlobWriter<Vec<u8>>) -> Result<()> {
        debug_assert!(self.open.is_none() && other.open.is_none());
        let at = self.pos;
        self.w.write_all(&other.w)?;
        self.pos += other.w.len() as u64;
        self.entries
            .extend(other.entries.into_iter().map(|e| SectionEntry {
                offset: e.offset + at,
                ..e
            }));
        Ok(())
    }

    /// Writes the table and trailer; returns the writer and the blob's length.
    pub(crate) fn finish(mut self) -> Result<(W, u64)> {
        let mut table = Vec::with_capacity(self.entries.len() * ENTRY_LEN);
        for e in &self.entries {
            table.extend_from_slice(&e.kind.to_le_bytes());
            table.extend_from_slice(&[0, 0]);
            table.extend_from_slice(&e.ty.0.to_le_bytes());
            table.extend_from_slice(&e.column.to_le_bytes());
            table.extend_from_slice(&e.crc.to_le_bytes());
            table.extend_from_slice(&e.offset.to_le_bytes());
            table.extend_from_slice(&e.len.to_le_bytes());
        }
        let table_offset = self.pos;
        let mut trailer = Vec::with_capacity(TRAILER_LEN);
        trailer.extend_from_slice(&table_offset.to_le_bytes());
        trailer.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        trailer.extend_from_slice(&crc32c::crc32c(&table).to_le_bytes());
        trailer.extend_from_slice(&MAGIC);
        self.w.write_all(&table)?;
        self.w.write_all(&trailer)?;
        self.w.flush()?;
        let len = table_offset + (table.len() + trailer.len()) as u64;
        Ok((self.w, len))
    }
}

pub(crate) fn align8(n: u64) -> u64 {
    n.div_ceil(8) * 8
}

pub(crate) fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

pub(crate) fn le_u64(b: &[u8]) -> u64 {
    u64::from_le_bytes(array8(b))
}

fn array8(b: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    a
}
