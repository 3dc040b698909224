//! Page handles: one page of one column, as a parsed header and [`Bytes`] that point into a
//! snapshot's buffer (a memory map, usually) or into a buffer of their own, and the patched
//! pages a delta makes when it replaces a few values of a page.

use std::sync::Arc;

use bytes::Bytes;

use crate::page::{FixedHeader, FixedPage, ReadError, VarCell, VarHeader, VarPage};
use crate::section::PageTable;
use crate::{Elements, Ordinal, VarKind};

/// The length of a page header; a fixed page's codes follow it.
pub(super) const PAGE_HEADER_LEN: usize = 24;

/// One page of one column.
#[derive(Debug, Clone)]
pub(super) enum Page {
    /// A fixed page: its header and its packed codes.
    Fixed(FixedHeader, Bytes),
    /// A var page: its header and the whole page.
    Var(VarHeader, Bytes),
    /// A var page with a few values replaced by a delta: the page's bytes stay shared with
    /// the versions before, the replaced values are held beside them. A delta that edits a
    /// few strings of a page costs those strings, not a page rebuilt; past
    /// [`patch_limit`] values the page is rebuilt whole.
    Patched(Arc<Patched>),
    /// A fixed page with a few values replaced by values that do not fit its width or frame
    /// (a new reference beyond the page's range, say): its codes stay shared, the replaced
    /// raw values are held beside them. Past [`patch_limit`] values the page is rebuilt.
    FixedPatched(Arc<FixedPatched>),
}

/// See [`Page::FixedPatched`].
#[derive(Debug)]
pub(super) struct FixedPatched {
    pub(super) h: FixedHeader,
    pub(super) codes: Bytes,
    /// Replaced raw values (`None`: null) by index in the page, sorted, each index once.
    pub(super) patches: Vec<(u32, Option<u64>)>,
}

impl FixedPatched {
    pub(super) fn base(&self) -> FixedPage<'_> {
        FixedPage::from_parts(self.h, &self.codes)
    }
}

/// See [`Page::Patched`].
#[derive(Debug)]
pub(super) struct Patched {
    pub(super) h: VarHeader,
    pub(super) bytes: Bytes,
    /// Replaced values by index in the page, sorted, each index once.
    pub(super) patches: Vec<(u32, PatchValue)>,
}

/// A replaced value of a var page.
#[derive(Debug, Clone)]
pub(super) enum PatchValue {
    Null,
    Bytes(Box<[u8]>),
    Ordinals(Box<[Ordinal]>),
    Pairs(Box<[(Ordinal, Ordinal)]>),
}

impl PatchValue {
    pub(super) fn of(value: Owned<'_>) -> PatchValue {
        match value {
            Owned::Hole | Owned::Null => PatchValue::Null,
            Owned::Bytes(b) => PatchValue::Bytes(b.into()),
            Owned::Ordinals(o) => PatchValue::Ordinals(o.into()),
            Owned::Pairs(p) => PatchValue::Pairs(p.into()),
        }
    }

    fn owned(&self) -> Owned<'_> {
        match self {
            PatchValue::Null => Owned::Null,
            PatchValue::Bytes(b) => Owned::Bytes(b),
            PatchValue::Ordinals(o) => Owned::Ordinals(o.to_vec()),
            PatchValue::Pairs(p) => Owned::Pairs(p.to_vec()),
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            PatchValue::Null => 0,
            PatchValue::Bytes(b) => b.len(),
            PatchValue::Ordinals(o) => o.len() * 4,
            PatchValue::Pairs(p) => p.len() * 8,
        }
    }
}

impl Patched {
    #[inline]
    fn find(&self, i: usize) -> Option<&PatchValue> {
        let i = u32::try_from(i).ok()?;
        self.patches
            .binary_search_by_key(&i, |(at, _)| *at)
            .ok()
            .map(|k| &self.patches[k].1)
    }

    pub(super) fn base(&self) -> VarPage<'_> {
        VarPage::from_parts(self.h, &self.bytes)
    }
}

/// A var value read out of a page, ready to be re-encoded.
pub(super) enum Owned<'a> {
    Hole,
    Null,
    Bytes(&'a [u8]),
    Ordinals(Vec<Ordinal>),
    Pairs(Vec<(Ordinal, Ordinal)>),
}

impl Owned<'_> {
    pub(super) fn cell(&self) -> VarCell<'_> {
        match self {
            Owned::Hole => VarCell::Hole,
            Owned::Null => VarCell::Null,
            Owned::Bytes(b) => VarCell::Bytes(b),
            Owned::Ordinals(o) => VarCell::Ordinals(o),
            Owned::Pairs(p) => VarCell::Pairs(p),
        }
    }
}

/// Value `i` of a var page as owned parts.
pub(super) fn read_var<'a>(
    page: &VarPage<'a>,
    kind: VarKind,
    i: usize,
) -> Result<Owned<'a>, ReadError> {
    Ok(match kind {
        VarKind::String | VarKind::Bytes => match page.bytes(i)? {
            Some(b) => Owned::Bytes(b),
            None => Owned::Null,
        },
        VarKind::Ordinals(_) => Owned::Ordinals(page.elements(i)?.map(|(o, _)| o).collect()),
        VarKind::Pairs(..) => Owned::Pairs(
            page.elements(i)?
                .map(|(k, v)| (k, v.unwrap_or_default()))
                .collect(),
        ),
    })
}

/// Page handles for a column of a blob held in `bytes`.
pub(super) fn pages_of(table: &PageTable, bytes: &Bytes) -> Vec<Page> {
    match table {
        PageTable::Fixed(pages) => pages
            .iter()
            .map(|(h, at)| Page::Fixed(*h, bytes.slice(*at..)))
            .collect(),
        PageTable::Var(pages) => pages
            .iter()
            .map(|(h, at)| Page::Var(*h, bytes.slice(*at..*at + h.byte_len())))
            .collect(),
    }
}

/// The bytes of a fixed page's header and codes.
fn fixed_len(page: &FixedPage<'_>) -> u64 {
    (PAGE_HEADER_LEN + (page.len() * page.width() as usize).div_ceil(8)) as u64
}

impl Page {
    pub(super) fn len(&self) -> usize {
        match self {
            Page::Fixed(h, b) => FixedPage::from_parts(*h, b).len(),
            Page::Var(h, b) => VarPage::from_parts(*h, b).len(),
            Page::Patched(p) => p.base().len(),
            Page::FixedPatched(p) => p.base().len(),
        }
    }

    /// True when both handles share the same bytes (the page was not copied).
    pub(super) fn same(&self, other: &Page) -> bool {
        match (self, other) {
            (Page::Fixed(_, a), Page::Fixed(_, b)) | (Page::Var(_, a), Page::Var(_, b)) => {
                a.as_ptr() == b.as_ptr()
            }
            (Page::Patched(a), Page::Patched(b)) => Arc::ptr_eq(a, b),
            (Page::FixedPatched(a), Page::FixedPatched(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// The bytes this page holds (a patched page: its shared page and its patches).
    pub(super) fn byte_len(&self) -> u64 {
        match self {
            Page::Fixed(h, b) => fixed_len(&FixedPage::from_parts(*h, b)),
            Page::Var(_, b) => b.len() as u64,
            Page::Patched(p) => p.bytes.len() as u64 + p.patch_bytes(),
            Page::FixedPatched(p) => fixed_len(&p.base()) + 16 * p.patches.len() as u64,
        }
    }

    /// The new bytes a delta made for this page (a patched page: its patches only).
    pub(super) fn new_bytes(&self) -> u64 {
        match self {
            Page::Fixed(_, b) | Page::Var(_, b) => b.len() as u64,
            Page::Patched(p) => p.patch_bytes(),
            Page::FixedPatched(p) => 16 * p.patches.len() as u64,
        }
    }

    /// The bit width of a fixed page.
    pub(super) fn width(&self) -> Option<u8> {
        match self {
            Page::Fixed(h, b) => Some(FixedPage::from_parts(*h, b).width() as u8),
            Page::FixedPatched(p) => Some(p.base().width() as u8),
            _ => None,
        }
    }

    /// True for a string or bytes page stored as codes into its distinct values.
    pub(super) fn is_dictionary(&self) -> bool {
        match self {
            Page::Var(h, b) => VarPage::from_parts(*h, b).is_dictionary(),
            Page::Patched(p) => p.base().is_dictionary(),
            _ => false,
        }
    }

    /// The raw value `i` of a fixed page (`Some(None)`: null); `None` past the page or for
    /// a var page.
    #[inline]
    pub(super) fn fixed_raw(&self, i: usize) -> Option<Option<u64>> {
        match self {
            Page::Fixed(h, b) if i < h.count() => Some(FixedPage::from_parts(*h, b).raw(i)),
            Page::FixedPatched(p) if i < p.h.count() => {
                let at = u32::try_from(i).ok()?;
                Some(match p.patches.binary_search_by_key(&at, |(k, _)| *k) {
                    Ok(k) => p.patches[k].1,
                    Err(_) => p.base().raw(i),
                })
            }
            _ => None,
        }
    }

    /// Value `i` of a string or bytes page; `None` past the page or for a fixed page.
    #[inline]
    pub(super) fn var_bytes(&self, i: usize) -> Option<Result<Option<&[u8]>, ReadError>> {
        match self {
            Page::Var(h, b) if i < h.count() => Some(VarPage::from_parts(*h, b).bytes(i)),
            Page::Patched(p) if i < p.h.count() => Some(match p.find(i) {
                Some(PatchValue::Bytes(b)) => Ok(Some(b)),
                Some(_) => Ok(None),
                None => p.base().bytes(i),
            }),
            _ => None,
        }
    }

    /// The elements of value `i` of a list, set or map page.
    pub(super) fn var_elements(&self, i: usize) -> Option<Result<Elements<'_>, ReadError>> {
        match self {
            Page::Var(h, b) if i < h.count() => Some(VarPage::from_parts(*h, b).elements(i)),
            Page::Patched(p) if i < p.h.count() => Some(match p.find(i) {
                Some(PatchValue::Ordinals(o)) => Ok(Elements::Slice(o.iter())),
                Some(PatchValue::Pairs(pairs)) => Ok(Elements::Pairs(pairs.iter())),
                Some(_) => Ok(Elements::Slice([].iter())),
                None => p.base().elements(i),
            }),
            _ => None,
        }
    }

    /// Value `i` of a var page as owned parts (for rebuilding and patching).
    pub(super) fn var_owned(&self, kind: VarKind, i: usize) -> Result<Owned<'_>, ReadError> {
        match self {
            Page::Var(h, b) if i < h.count() => read_var(&VarPage::from_parts(*h, b), kind, i),
            Page::Patched(p) if i < p.h.count() => match p.find(i) {
                Some(v) => Ok(v.owned()),
                None => read_var(&p.base(), kind, i),
            },
            _ => Ok(Owned::Null),
        }
    }
}

impl Patched {
    fn patch_bytes(&self) -> u64 {
        self.patches.iter().map(|(_, v)| 8 + v.len() as u64).sum()
    }
}
