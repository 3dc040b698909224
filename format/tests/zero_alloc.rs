//! Proves the serde read path allocates nothing: a struct that borrows its strings and bytes,
//! with ints, floats, options, a nested record behind a reference and a list, is read from a
//! `DataState` under a counting global allocator, and the count stays at zero.
//!
//! This file holds one test on purpose: the allocator is global to the test binary. Only
//! allocations of the thread that sets `COUNTING` are counted, so the test harness's own
//! threads cannot disturb the count.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use shoal_format::{add, from_source, FieldKind, Ordinal, Schema, StateBuilder, TypeDef};

/// Allocations (and reallocations) made by a thread while its `COUNTING` flag was set.
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note_allocation() {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

struct CountingAllocator;

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the counting beside it only touches an atomic and a const-initialised
// thread-local `Cell` without a destructor, neither of which allocates or unwinds.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded with the caller's guarantees about `layout`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded with the caller's guarantees about `layout`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout`, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded with the caller's guarantees about `ptr`, `layout` and `new_size`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[derive(Serialize)]
struct Movie {
    title: String,
    year: i32,
    rating: f64,
    runtime: Option<i32>,
    poster: Vec<u8>,
    country: Country,
    genres: Vec<String>,
}

#[derive(Serialize)]
struct Country {
    code: String,
    name: String,
}

#[derive(Deserialize)]
struct MovieView<'a> {
    title: &'a str,
    year: i64,
    rating: f64,
    runtime: Option<i32>,
    poster: &'a [u8],
    #[serde(borrow)]
    country: CountryView<'a>,
    genres: GenreLetters,
}

#[derive(Deserialize)]
struct CountryView<'a> {
    code: &'a str,
    name: &'a str,
}

/// The total length of the genre names of a list, read element by element as `&str`.
struct GenreLetters(usize);

impl<'de> Deserialize<'de> for GenreLetters {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Letters;
        impl<'de> Visitor<'de> for Letters {
            type Value = GenreLetters;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of genre names")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<GenreLetters, A::Error> {
                let mut total = 0;
                while let Some(name) = seq.next_element::<&str>()? {
                    total += name.len();
                }
                Ok(GenreLetters(total))
            }
        }
        d.deserialize_seq(Letters)
    }
}

fn schema() -> Arc<Schema> {
    let types = vec![
        TypeDef::object("Movie")
            .field("title", FieldKind::String)
            .field("year", FieldKind::I32)
            .field("rating", FieldKind::F64)
            .field("runtime", FieldKind::I32)
            .field("poster", FieldKind::Bytes)
            .reference("country", "Country")
            .reference("genres", "GenreList"),
        TypeDef::object("Country")
            .field("code", FieldKind::String)
            .field("name", FieldKind::String),
        TypeDef::list("GenreList", "Genre"),
        TypeDef::object("Genre").field("name", FieldKind::String),
    ];
    Arc::new(Schema::new(types).expect("valid schema"))
}

fn movie(i: i32) -> Movie {
    Movie {
        title: format!("Movie {i}"),
        year: 1900 + i,
        rating: f64::from(i) / 10.0,
        runtime: (i % 3 != 0).then_some(90 + i),
        poster: vec![i as u8; 4],
        country: Country {
            code: ["GB", "US", "FR"][i as usize % 3].into(),
            name: ["United Kingdom", "United States", "France"][i as usize % 3].into(),
        },
        genres: vec!["Drama".into(), ["Horror", "Noir"][i as usize % 2].into()],
    }
}

/// A number that depends on every field read, so nothing can be optimised away.
fn digest(view: &MovieView<'_>) -> u64 {
    let lengths = view.title.len() + view.poster.len() + view.country.code.len();
    let lengths = lengths + view.country.name.len() + view.genres.0;
    (lengths as u64)
        .wrapping_add(view.year as u64)
        .wrapping_add(view.rating.to_bits())
        .wrapping_add(view.runtime.map_or(7, |r| r as u64))
}

#[test]
fn reading_borrowed_structs_from_a_state_allocates_nothing() {
    let mut builder = StateBuilder::new(schema());
    let ordinals: Vec<Ordinal> = (0..100)
        .map(|i| add(&mut builder, "Movie", &movie(i)).expect("movie fits"))
        .collect();
    let state = builder.finish();
    let ty = state.schema().type_id("Movie").expect("Movie type");
    let read = |o: Ordinal| -> u64 {
        match from_source::<MovieView<'_>, _>(&state, ty, o) {
            Ok(view) => digest(black_box(&view)),
            Err(e) => panic!("read of {o} failed: {e}"),
        }
    };
    let expected = ordinals
        .iter()
        .fold(0u64, |sum, &o| sum.wrapping_add(read(o)));

    COUNTING.set(true);
    drop(black_box(Vec::<u8>::with_capacity(1)));
    COUNTING.set(false);
    assert_eq!(
        ALLOCATIONS.swap(0, Ordering::Relaxed),
        1,
        "the counter sees allocations"
    );

    COUNTING.set(true);
    let mut total = 0u64;
    for _ in 0..10 {
        for &o in &ordinals {
            total = total.wrapping_add(read(o));
        }
    }
    COUNTING.set(false);

    assert_eq!(
        ALLOCATIONS.load(Ordering::Relaxed),
        0,
        "allocations while reading"
    );
    assert_eq!(total, expected.wrapping_mul(10));
}
