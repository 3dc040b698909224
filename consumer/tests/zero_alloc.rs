//! Reading fields and looking up keys allocate nothing (a counting allocator proves it).
//!
//! Only the reading thread's allocations are counted: the producer updates its next
//! version's indexes on a thread of its own after publishing, which may still be at work
//! while the reads are measured (a count of every thread's allocations failed so in CI).

#[path = "../../producer/tests/common/mod.rs"]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::*;
use shoal_consumer::Consumer;
use shoal_format::FieldValue;
use shoal_producer::Producer;

struct Counting;

thread_local! {
    /// This thread's allocations (a const `Cell`: reading it allocates nothing).
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

/// How many allocations the calling thread has made.
fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: forwards every call to the system allocator unchanged; only counts allocations.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

#[tokio::test(flavor = "current_thread")]
async fn reads_and_key_lookups_allocate_nothing() {
    let store_dir = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let store = fs_store(store_dir.path());
    let mut producer = Producer::builder(store.clone())
        .schema(schema())
        .build()
        .await
        .unwrap();
    let mut rng = Rng::new(2);
    let movies = catalog(&mut rng, 3_000);
    publish(&mut producer, &movies).await.unwrap();
    let consumer = Consumer::builder(store.clone())
        .cache_dir(cache_dir.path())
        .primary_key_index("Movie")
        .hash_index("by_country", "Movie", &["country.code"])
        .build()
        .unwrap();
    consumer.refresh().await.unwrap();
    let data = consumer.current().unwrap();
    let pk = data.index_id("Movie").unwrap();
    let by_country = data.index_id("by_country").unwrap();
    let (title, year, rating, country) = (
        data.field("Movie", "title").unwrap(),
        data.field("Movie", "year").unwrap(),
        data.field("Movie", "rating").unwrap(),
        data.field("Movie", "country").unwrap(),
    );
    let code = data.field("Country", "code").unwrap();
    let ids: Vec<i64> = movies.keys().copied().collect();
    // A snapshot column's page handles are made on its first read, once.
    data.check_columns().unwrap();

    let before = allocations();
    let mut sum = 0usize;
    for id in &ids {
        let o = data.find(pk, &[FieldValue::I64(*id)]).expect("found");
        sum += data.get_str(title, o).map_or(0, str::len);
        sum += data.get_i32(year, o).unwrap_or(0) as usize;
        sum += data.get_f64(rating, o).unwrap_or(0.0) as usize;
        if let Some(c) = data.get_ref(country, o) {
            sum += data.get_str(code, c).map_or(0, str::len);
        }
    }
    let key = [FieldValue::Str("FR")];
    sum += data.find_all(by_country, &key).count();
    let after = allocations();
    assert!(sum > 0);
    assert_eq!(after - before, 0, "reads and lookups allocated");
}
