//! Reading fields in place from a snapshot blob allocates nothing: a counting global allocator watches a loop of
//! column reads and of borrowing deserialization from a snapshot.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde::Deserialize;
use shoal_format::{
    from_source, write_snapshot, FieldKind, Ordinal, Record, Schema, SnapshotView, StateBuilder,
    TypeDef, TypeId, Value, Version, WriteOptions,
};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout`, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract, passed on as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Deserialize)]
struct MovieView<'a> {
    id: i64,
    title: &'a str,
    year: Option<i32>,
    rating: f64,
}

#[test]
fn reading_fields_and_borrowing_structs_allocates_nothing() {
    let schema = Arc::new(
        Schema::new(vec![TypeDef::object("Movie")
            .field("id", FieldKind::I64)
            .field("title", FieldKind::String)
            .field("year", FieldKind::I32)
            .field("rating", FieldKind::F64)])
        .unwrap(),
    );
    let mut b = StateBuilder::new(schema);
    for i in 0..5000i64 {
        let year = if i % 10 == 0 {
            Value::Null
        } else {
            Value::I32(1900 + (i % 120) as i32)
        };
        let title = Value::String(format!("Title {i}").into());
        let record = Record::Object(vec![
            Value::I64(i * 7),
            title,
            year,
            Value::F64((i % 100) as f64 / 10.0),
        ]);
        b.add(TypeId(0), record).unwrap();
    }
    let mut bytes = Vec::new();
    write_snapshot(
        &b.finish(),
        Version(1),
        &WriteOptions::default(),
        &mut bytes,
    )
    .unwrap();
    let view = SnapshotView::open(bytes.as_slice()).unwrap();
    let titles = view.column_named("Movie", "title").unwrap();
    let ids = view.column_named("Movie", "id").unwrap();
    // A column's page table is parsed on its first read, once: read every column first.
    let _: MovieView<'_> = from_source(&view, TypeId(0), Ordinal(0)).unwrap();

    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut sum = 0i64;
    for i in 0..5000usize {
        sum += ids.i64(i).unwrap_or(0);
        sum += titles.str(i).unwrap().map_or(0, |t| t.len() as i64);
        let m: MovieView<'_> = from_source(&view, TypeId(0), Ordinal(i as u32)).unwrap();
        sum += m.id + m.title.len() as i64 + m.year.unwrap_or(0) as i64 + m.rating as i64;
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert!(sum > 0);
    assert_eq!(
        after - before,
        0,
        "reads allocated {} times",
        after - before
    );
}
