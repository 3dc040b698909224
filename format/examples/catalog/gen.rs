//! The benchmark catalog of `../shared/datasets/gen_catalog.py` (same lists and
//! distributions, not the same records), generated as a stream: record `i` is a pure function
//! of `(seed, i)`, so [`v1`] and [`v2`] hold O(1) memory whatever `n`.
//!
//! Record `i` fills slot `s = permute(i)` (a seeded bijection of `0..n`, so ids come in random
//! order as the script's do; ascending ids change the producer's figures). Slot `s` owns the
//! ids `20s+1 ..= 20s+19`: its v1 movie takes `20s + 1 + o` with `o = hash(s) % 19`; if v2
//! removes it, the movie v2 adds in its place takes `20s + 1 + (o + 10) % 19`, which differs
//! from `o`, so no id repeats within or across versions, and every id lies in `1..20n`.
//!
//! Version 2 changes `pct` % of the slots (the script: 1): half that many removed, `pct` %
//! edited (rating, title or tags drawn again), and one new movie per removed slot. The same
//! functions serve a stream ([`v1`], [`v2`]) and `shoal bench`, which holds both versions and
//! what changed (`tools/src/cmd/bench/catalog.rs` includes this file).
//!
//! The parent module provides `Movie`.

#![allow(dead_code)]

use super::Movie;

/// The seed of `gen_catalog.py`.
pub const SEED: u64 = 20261122;

/// The genres.
pub const GENRES: [&str; 22] = [
    "Drama",
    "Comedy",
    "Action",
    "Thriller",
    "Documentary",
    "Horror",
    "Romance",
    "Animation",
    "Crime",
    "Sci-Fi",
    "Fantasy",
    "Family",
    "Mystery",
    "Music",
    "Western",
    "War",
    "History",
    "Sport",
    "Biography",
    "Reality",
    "Anime",
    "Kids",
];
/// The country codes.
pub const COUNTRIES: [&str; 30] = [
    "US", "GB", "FR", "DE", "JP", "KR", "IN", "ES", "IT", "BR", "MX", "CA", "AU", "SE", "DK", "NO",
    "NL", "BE", "PL", "TR", "AR", "CO", "NG", "ZA", "EG", "TH", "PH", "ID", "CN", "TW",
];
const WORDS: &str = "the of and a to in is you that it he was for on are as with his they at be \
    this from have or by one had not but what all were when we there can an your which their said \
    if do will each about how up out them then she many some so these would other into has more \
    her two like him see time could no make than first been its who now people my made over did \
    down only way find use may water long little very after words called just where most know get \
    through back much before go good new write our used me man too any day same right look think \
    also around another came come work three word must because does part even place well such \
    here take why things help put years different away again off went old number great tell men \
    say small every found still between name should home big give air line set own under read \
    last never us left end along while might next sound below saw something thought both few \
    those always looked show large often together asked house don world going want school \
    important until form food keep children feet land side without boy once animals life enough \
    took sometimes four head above kind began almost live page got earth need far hand high year \
    mother light parts country father let night following picture being study second eyes soon \
    times story boys since white days ever paper hard near sentence better best across during \
    today others however sure means knew its try told young miles sun ways thing whole hear \
    example heard several change answer room sea against top turned learn point city play toward \
    five using himself usually";
const TAGS: usize = 400;

// Independent streams per slot.
const RECORD: u64 = 1;
const ID: u64 = 2;
const CHANGE: u64 = 3;
const ADDED: u64 = 4;

/// Version 1: `n` movies.
pub fn v1(n: u64) -> impl Iterator<Item = Movie> {
    slots(n).map(record)
}

/// Version 2 with `pct` % changed: v1's movies in v1's order, edits in place, removed ones
/// left out, then one new movie per removed slot.
pub fn v2(n: u64, pct: f64) -> impl Iterator<Item = Movie> {
    let kept = slots(n).filter_map(move |s| match change(s, pct) {
        Change::Remove => None,
        Change::Keep => Some(record(s)),
        Change::Edit => Some(edit(s, record(s))),
    });
    let added = slots(n)
        .filter(move |&s| change(s, pct) == Change::Remove)
        .map(added);
    kept.chain(added)
}

/// The slots of records `0..n` in turn: a 4-round Feistel network on the smallest power of
/// four above `n`, walking the cycle until it lands below `n`.
pub fn slots(n: u64) -> impl Iterator<Item = u64> {
    let half = (64 - n.leading_zeros()).div_ceil(2).max(1);
    let mask = (1u64 << half) - 1;
    (0..n).map(move |i| {
        let mut x = i;
        loop {
            let (mut l, mut r) = (x >> half, x & mask);
            for round in 0..4 {
                (l, r) = (r, l ^ (mix(SEED ^ mix(round ^ (r << 8))) & mask));
            }
            x = (l << half) | r;
            if x < n {
                return x;
            }
        }
    })
}

/// What version 2 does with a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The v1 movie stays as it is.
    Keep,
    /// The v1 movie is gone; a new one is added for it.
    Remove,
    /// The v1 movie stays with its rating, title or tags drawn again.
    Edit,
}

/// What version 2 with `pct` % changed does with slot `s`.
pub fn change(s: u64, pct: f64) -> Change {
    match Rng::new(CHANGE, s).unit() {
        x if x < pct / 200.0 => Change::Remove,
        x if x < pct / 200.0 + pct / 100.0 => Change::Edit,
        _ => Change::Keep,
    }
}

fn offset(s: u64) -> u64 {
    Rng::new(ID, s).next() % 19
}

/// The v1 movie of slot `s`.
pub fn record(s: u64) -> Movie {
    movie(&mut Rng::new(RECORD, s), 20 * s + 1 + offset(s))
}

/// The movie version 2 adds for removed slot `s`.
pub fn added(s: u64) -> Movie {
    let id = 20 * s + 1 + (offset(s) + 10) % 19;
    movie(&mut Rng::new(ADDED, s), id)
}

/// `m` (slot `s`'s movie) as version 2 edits it.
pub fn edit(s: u64, mut m: Movie) -> Movie {
    let mut rng = Rng::new(CHANGE, s);
    rng.next(); // the draw that chose to edit
    match rng.below(3) {
        0 => m.rating = rating(&mut rng),
        1 => m.title = title(&mut rng),
        _ => m.tags = tags(&mut rng),
    }
    m
}

fn movie(rng: &mut Rng, id: u64) -> Movie {
    Movie {
        id: id as i64,
        title: title(rng),
        year: rng.range(1920, 2026) as i32,
        rating: rating(rng),
        runtime_min: rng.range(3, 240) as i32,
        country: COUNTRIES[rng.below(30) as usize].into(),
        genres: {
            let k = rng.range(1, 3);
            let mut g: Vec<String> = sample(rng, GENRES.len(), k)
                .map(|x| GENRES[x].into())
                .collect();
            g.sort();
            g
        },
        tags: tags(rng),
    }
}

/// 1 to 5 words, title-cased.
fn title(rng: &mut Rng) -> String {
    let words = words();
    let mut t = String::new();
    for k in 0..rng.range(1, 5) {
        let w = words[rng.below(words.len() as u64) as usize];
        if k > 0 {
            t.push(' ');
        }
        t.push(w.as_bytes()[0].to_ascii_uppercase() as char);
        t.push_str(&w[1..]);
    }
    t
}

fn words() -> &'static [&'static str] {
    static WORDS_SPLIT: std::sync::OnceLock<Vec<&str>> = std::sync::OnceLock::new();
    WORDS_SPLIT.get_or_init(|| WORDS.split_whitespace().collect())
}

/// Uniform in 1.0..=10.0, rounded to one decimal.
fn rating(rng: &mut Rng) -> f64 {
    ((1.0 + 9.0 * rng.unit()) * 10.0).round() / 10.0
}

/// 0 to 6 distinct tags, sorted (`tagNNN` sorts as its number).
fn tags(rng: &mut Rng) -> Vec<String> {
    let k = rng.range(0, 6);
    let mut t: Vec<usize> = sample(rng, TAGS, k).collect();
    t.sort_unstable();
    t.into_iter().map(|x| format!("tag{x:03}")).collect()
}

/// `k` (at most 6) distinct indexes below `n`.
fn sample(rng: &mut Rng, n: usize, k: u64) -> impl Iterator<Item = usize> {
    let mut picked = [0usize; 6];
    let mut len = 0;
    while len < k as usize {
        let x = rng.below(n as u64) as usize;
        if !picked[..len].contains(&x) {
            picked[len] = x;
            len += 1;
        }
    }
    picked.into_iter().take(len)
}

/// splitmix64, seeded from `(SEED, stream, slot)`.
struct Rng(u64);

impl Rng {
    fn new(stream: u64, slot: u64) -> Self {
        Rng(mix(mix(SEED ^ mix(stream)) ^ slot))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform below `n` (multiply-shift; the bias is below 2^-56 for these `n`).
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
