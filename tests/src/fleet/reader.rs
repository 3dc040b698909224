//! A consumer's reader thread: looks movies up by primary key, without pause, in whatever
//! version the consumer serves at that moment, and checks every value against what the
//! producer published as that version. A lookup asks for a present id most of the time, and
//! sometimes for any id a version could hold, so a record that should be gone is caught too.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use shoal_consumer::{Consumer, Dataset};
use shoal_format::FieldValue;

use super::files::WRONG_READ;
use super::truth::{Expected, Truth, FIRST_ADDED_ID};
use crate::catalog::{Movie, Rng};

/// Reads and wrong reads so far.
#[derive(Debug, Default)]
pub struct Counts {
    /// Values read and checked.
    pub reads: AtomicU64,
    /// Values that differed from the truth.
    pub wrong: AtomicU64,
}

/// A running reader thread.
#[derive(Debug)]
pub struct Reader {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// What it found.
    pub counts: Arc<Counts>,
}

impl Reader {
    /// Starts reading from `consumer`, checking against `truth`, `batch` lookups between two
    /// 1 ms pauses (so K readers leave the machine to the refreshes); `id` names the consumer
    /// in messages.
    pub fn spawn(consumer: Consumer, truth: Truth, id: usize, seed: u64, batch: usize) -> Reader {
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Counts::default());
        let mut state = ReadLoop {
            consumer,
            truth,
            id,
            batch,
            rng: Rng::new(seed),
            counts: counts.clone(),
            stop: stop.clone(),
        };
        let thread = std::thread::spawn(move || state.run());
        Reader {
            stop,
            thread: Some(thread),
            counts,
        }
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct ReadLoop {
    consumer: Consumer,
    truth: Truth,
    id: usize,
    batch: usize,
    rng: Rng,
    counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
}

impl ReadLoop {
    fn run(&mut self) {
        while !self.stop.load(Ordering::Relaxed) {
            match self.consumer.current() {
                Some(data) => self.read_batch(&data),
                None => std::thread::sleep(Duration::from_millis(5)),
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn read_batch(&mut self, data: &Dataset) {
        let version = data.version().0;
        let expected = self.truth.version(version);
        let mut wrong = 0;
        for _ in 0..self.batch {
            let id = self.pick(&expected);
            if let Err(detail) = check(data, &expected, id) {
                eprintln!(
                    "{WRONG_READ}: consumer {} version {version} movie {id}: {detail}",
                    self.id
                );
                wrong += 1;
            }
        }
        self.counts
            .reads
            .fetch_add(self.batch as u64, Ordering::Relaxed);
        self.counts.wrong.fetch_add(wrong, Ordering::Relaxed);
    }

    /// A present id four times in five, else any id a version could hold.
    fn pick(&mut self, expected: &Expected) -> i64 {
        if !self.rng.chance(20) && !expected.ids.is_empty() {
            return expected.ids[self.rng.below(expected.ids.len() as u64) as usize];
        }
        let (base, added) = self.truth.generator().id_space();
        let any = self.rng.below((base + added) as u64) as i64;
        if any < base {
            any
        } else {
            FIRST_ADDED_ID + any - base
        }
    }
}

/// Looks `id` up in `data` and compares with what the version holds.
fn check(data: &Dataset, expected: &Expected, id: i64) -> Result<(), String> {
    let ty = data.type_id("Movie").map_err(|e| e.to_string())?;
    let pk = data.index_id("Movie").map_err(|e| e.to_string())?;
    let found = data.find(pk, &[FieldValue::I64(id)]);
    match (found, expected.get(id)) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err("missing".into()),
        (Some(o), None) => Err(format!("present (ordinal {}) but not published", o.0)),
        (Some(o), Some(want)) => {
            let got: Movie = data.get(ty, o).map_err(|e| e.to_string())?;
            if &got == want {
                Ok(())
            } else {
                Err(format!("read {got:?}, published {want:?}"))
            }
        }
    }
}
