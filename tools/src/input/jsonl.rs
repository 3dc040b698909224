//! JSON lines: one JSON value per line, blank lines skipped, read as a stream and parsed on
//! several threads.
//!
//! The calling thread reads the input in chunks of whole lines (about [`CHUNK_BYTES`] each)
//! and hands each chunk to a pool of parser threads ([`threads`]: one per core by default);
//! the parsed values come back to it in input order, and `each` receives them there, one by
//! one. So the caller, which adds records to a sink it holds `&mut`, stays on one thread and
//! sees exactly the order, the line numbers and the first error a one-thread reader would
//! see: a chunk's error is reported only once every earlier chunk was handed over, and a
//! read error only after the chunks read before it. At most two chunks per thread are in
//! flight, so memory holds a window of the input, never all of it. With one thread nothing is
//! spawned: the caller parses each chunk itself.

use std::collections::VecDeque;
use std::io::BufRead;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Mutex, PoisonError};

use serde_json::Value as Json;

use super::InputError;

/// About how many bytes of whole lines a chunk holds.
pub const CHUNK_BYTES: usize = 256 << 10;

/// Chunks in flight per parser thread: one being parsed, one waiting.
const IN_FLIGHT_PER_THREAD: usize = 2;

/// How many threads parse by default: one per core (`available_parallelism`).
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Reads `input` on [`threads`] threads and hands each parsed line to `each` with its line
/// number (from 1), in input order. Returns how many rows were read. A line that is not JSON
/// is an error naming it.
pub fn read(
    input: impl BufRead,
    name: &str,
    each: impl FnMut(u64, &Json) -> Result<(), InputError>,
) -> Result<u64, InputError> {
    read_on(threads(), CHUNK_BYTES, input, name, each)
}

/// [`read`] with `threads` parser threads and chunks of about `chunk_bytes`.
pub fn read_on(
    threads: usize,
    chunk_bytes: usize,
    mut input: impl BufRead,
    name: &str,
    mut each: impl FnMut(u64, &Json) -> Result<(), InputError>,
) -> Result<u64, InputError> {
    let mut chunks = Chunks {
        input: &mut input,
        name,
        next_line: 1,
        chunk_bytes,
    };
    if threads <= 1 {
        let mut rows = 0;
        while let Some(chunk) = chunks.next()? {
            rows += hand_over(parse(&chunk, name)?, &mut each)?;
        }
        return Ok(rows);
    }
    let (jobs, queue) = mpsc::sync_channel::<Job>(threads);
    let queue = Mutex::new(queue);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| parse_jobs(&queue, name));
        }
        let mut pipeline = Pipeline {
            jobs,
            in_flight: VecDeque::new(),
            most: threads * IN_FLIGHT_PER_THREAD,
            name,
        };
        // The pipeline (and with it the sending side of the queue) is dropped on return,
        // even at an error, so the parser threads stop and the scope can join them.
        pipeline.run(&mut chunks, &mut each)
    })
}

/// Whole lines of the input, and the number of the first.
struct Chunk {
    first_line: u64,
    text: Vec<u8>,
}

/// A chunk's parsed rows, each with its line number.
type Parsed = Result<Vec<(u64, Json)>, InputError>;

/// A chunk to parse, and where its rows go.
type Job = (Chunk, SyncSender<Parsed>);

/// Cuts the input into chunks of whole lines.
struct Chunks<'a, R> {
    input: &'a mut R,
    name: &'a str,
    next_line: u64,
    chunk_bytes: usize,
}

impl<R: BufRead> Chunks<'_, R> {
    /// The next chunk, `None` at the end of the input.
    fn next(&mut self) -> Result<Option<Chunk>, InputError> {
        let mut chunk = Chunk {
            first_line: self.next_line,
            text: Vec::with_capacity(self.chunk_bytes + 4096),
        };
        while chunk.text.len() < self.chunk_bytes {
            let read = self.input.read_until(b'\n', &mut chunk.text);
            let read = read.map_err(|e| {
                InputError::at(
                    self.name,
                    "line",
                    self.next_line,
                    format!("cannot read: {e}"),
                )
            })?;
            if read == 0 {
                break;
            }
            self.next_line += 1;
        }
        Ok((!chunk.text.is_empty()).then_some(chunk))
    }
}

/// The calling thread's side of the parser pool: sends chunks, takes their rows back in
/// order.
struct Pipeline<'a> {
    jobs: SyncSender<Job>,
    in_flight: VecDeque<Receiver<Parsed>>,
    most: usize,
    name: &'a str,
}

impl Pipeline<'_> {
    /// Sends every chunk to the pool, handing the rows of the oldest to `each` whenever
    /// `most` are in flight; then hands over the rest. Returns the row count.
    fn run<R: BufRead>(
        &mut self,
        chunks: &mut Chunks<'_, R>,
        each: &mut dyn FnMut(u64, &Json) -> Result<(), InputError>,
    ) -> Result<u64, InputError> {
        let mut rows = 0;
        loop {
            let chunk = match chunks.next() {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(read) => {
                    self.drain(each)?; // an earlier line's error comes first
                    return Err(read);
                }
            };
            let (reply, parsed) = mpsc::sync_channel(1);
            if self.jobs.send((chunk, reply)).is_err() {
                return Err(self.stopped());
            }
            self.in_flight.push_back(parsed);
            if self.in_flight.len() >= self.most {
                rows += self.hand_over_oldest(each)?;
            }
        }
        Ok(rows + self.drain(each)?)
    }

    fn drain(
        &mut self,
        each: &mut dyn FnMut(u64, &Json) -> Result<(), InputError>,
    ) -> Result<u64, InputError> {
        let mut rows = 0;
        while !self.in_flight.is_empty() {
            rows += self.hand_over_oldest(each)?;
        }
        Ok(rows)
    }

    fn hand_over_oldest(
        &mut self,
        each: &mut dyn FnMut(u64, &Json) -> Result<(), InputError>,
    ) -> Result<u64, InputError> {
        let oldest = self
            .in_flight
            .pop_front()
            .expect("called with chunks in flight");
        let parsed = oldest.recv().map_err(|_| self.stopped())?;
        hand_over(parsed?, each)
    }

    fn stopped(&self) -> InputError {
        InputError::file(self.name, "a JSON parser thread stopped")
    }
}

/// Parses chunks from `queue` until it closes.
fn parse_jobs(queue: &Mutex<Receiver<Job>>, name: &str) {
    loop {
        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok((chunk, reply)) = job else {
            return;
        };
        // The reader may have stopped at an earlier error: nobody waits for this one then.
        let _ = reply.send(parse(&chunk, name));
    }
}

/// Parses every non-blank line of `chunk`.
fn parse(chunk: &Chunk, name: &str) -> Parsed {
    let mut rows = Vec::new();
    let text = chunk.text.strip_suffix(b"\n").unwrap_or(&chunk.text);
    for (number, line) in (chunk.first_line..).zip(text.split(|&b| b == b'\n')) {
        let line = std::str::from_utf8(line)
            .map_err(|e| InputError::at(name, "line", number, format!("not UTF-8 text ({e})")))?;
        if line.trim().is_empty() {
            continue;
        }
        let json: Json = serde_json::from_str(line).map_err(|e| {
            InputError::at(
                name,
                "line",
                number,
                format!("not JSON ({e}); each line must hold one JSON object"),
            )
        })?;
        rows.push((number, json));
    }
    Ok(rows)
}

/// Hands parsed rows to `each`, in order; returns how many.
fn hand_over(
    rows: Vec<(u64, Json)>,
    each: &mut dyn FnMut(u64, &Json) -> Result<(), InputError>,
) -> Result<u64, InputError> {
    let count = rows.len() as u64;
    for (number, json) in &rows {
        each(*number, json)?;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every parsed row, by line number, read on `threads` threads in chunks of `chunk`.
    fn rows(threads: usize, chunk: usize, text: &[u8]) -> Result<Vec<(u64, Json)>, InputError> {
        let mut seen = Vec::new();
        read_on(threads, chunk, text, "x", |n, j| {
            seen.push((n, j.clone()));
            Ok(())
        })
        .map(|count| {
            assert_eq!(count as usize, seen.len());
            seen
        })
    }

    fn many_lines() -> Vec<u8> {
        let mut text = Vec::new();
        for i in 0..5000 {
            match i % 7 {
                0 => text.extend_from_slice(b"\n"),
                1 => text.extend_from_slice(format!("{{\"a\":{i}}}\r\n").as_bytes()),
                _ => text.extend_from_slice(
                    format!("{{\"a\":{i},\"s\":\"{}\"}}\n", "x".repeat(i % 50)).as_bytes(),
                ),
            }
        }
        text
    }

    #[test]
    fn lines_are_numbered_and_bad_json_is_named() {
        let seen = rows(1, CHUNK_BYTES, b"{\"a\":1}\n\n{\"a\":2}\n").unwrap();
        let got: Vec<(u64, i64)> = seen
            .iter()
            .map(|(n, j)| (*n, j["a"].as_i64().unwrap()))
            .collect();
        assert_eq!(got, [(1, 1), (3, 2)]);
        for threads in [1, 4] {
            let e = rows(threads, CHUNK_BYTES, b"{\"a\":1}\n{\"a\":\n").unwrap_err();
            assert_eq!((e.unit, e.number), ("line", 2));
            assert!(e.message.starts_with("not JSON"), "{e}");
            let e = rows(threads, CHUNK_BYTES, b"{\"a\":1}\n\n\"\xff\"\n").unwrap_err();
            assert_eq!(e.number, 3);
            assert!(e.message.starts_with("not UTF-8"), "{e}");
        }
    }

    #[test]
    fn many_threads_hand_over_what_one_does_in_the_same_order() {
        let text = many_lines();
        let one = rows(1, CHUNK_BYTES, &text).unwrap();
        assert_eq!(one.len(), 5000 - 5000 / 7 - 1);
        for (threads, chunk) in [(2, 64), (4, 1), (3, 1000), (8, CHUNK_BYTES)] {
            assert_eq!(
                rows(threads, chunk, &text).unwrap(),
                one,
                "{threads} x {chunk}"
            );
        }
    }

    #[test]
    fn the_first_bad_line_is_reported_though_later_chunks_fail_too() {
        let mut text = many_lines();
        let lines = text.split(|&b| b == b'\n').count();
        text.extend_from_slice(b"not json\n{}\nnot json either\n");
        for (threads, chunk) in [(1, 64), (4, 1), (4, 64)] {
            let e = rows(threads, chunk, &text).unwrap_err();
            assert_eq!(e.number, lines as u64, "{threads} x {chunk}: {e}");
        }
    }

    #[test]
    fn an_error_of_the_caller_stops_the_reading() {
        let text = many_lines();
        for threads in [1, 4] {
            let mut calls = 0;
            let e = read_on(threads, 64, &text[..], "x", |n, _| {
                calls += 1;
                match n {
                    100.. => Err(InputError::at("x", "line", n, "enough")),
                    _ => Ok(()),
                }
            })
            .unwrap_err();
            assert_eq!((e.number, e.message.as_str()), (100, "enough"));
            assert_eq!(calls, 100 - 100 / 7 - 1, "{threads}");
        }
    }
}
