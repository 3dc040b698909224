//! JSON lines: one JSON value per line, blank lines skipped, read as a stream and parsed on
//! several threads.
//!
//! The calling thread reads the input in chunks of whole lines (about [`CHUNK_BYTES`] each)
//! and hands each chunk to a pool of parser threads ([`threads`]: by default the cores the
//! producer's matching threads leave free);
//! the parsed values come back to it in input order, and `each` receives them there, one by
//! one. So the caller, which adds records to a sink it holds `&mut`, stays on one thread and
//! sees exactly the order, the line numbers and the first error a one-thread reader would
//! see: a chunk's error is reported only once every earlier chunk was handed over, and a
//! read error only after the chunks read before it. At most two chunks per thread are in
//! flight, so memory holds a window of the input, never all of it. With one thread nothing is
//! spawned: the caller reads, parses and hands over one line at a time.
//!
//! Chunks are small ([`CHUNK_BYTES`], about 100 lines) because every line's values are
//! allocated by the parser and freed by the caller after it is handed over: with chunks of
//! 256 KiB the allocator's work (glibc consolidating its free lists) and the cache misses
//! made a one-thread read of 1M catalog records 40% slower than line by line; at 8-16 KiB
//! the difference is within the noise. A chunk's buffers (its text, its vector of rows) go
//! back to the reading thread and are reused.

use std::collections::VecDeque;
use std::io::BufRead;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Mutex, PoisonError};

use serde_json::Value as Json;

use super::InputError;

/// About how many bytes of whole lines a chunk holds.
pub const CHUNK_BYTES: usize = 16 << 10;

/// Chunks in flight per parser thread: one being parsed, one waiting.
const IN_FLIGHT_PER_THREAD: usize = 2;

/// How many threads parse by default: the cores the producer's matching pipeline leaves
/// free (it runs two threads beside the one that adds records: `shoal_producer`'s
/// `offload`), at least one. On a 2-core machine that is one, line by line: two parser
/// threads there measured slower (1M catalog records, v1: 9.1 s against 6.4 s, the machine
/// shared with another build), more threads than cores only adding hand-offs.
pub fn threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    cores.saturating_sub(2).max(1)
}

/// What receives each row: its line number and its value.
type Each<'a> = dyn FnMut(u64, &Json) -> Result<(), InputError> + 'a;

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
    if threads <= 1 {
        return read_here(&mut input, name, &mut each);
    }
    let mut chunks = Chunks {
        input: &mut input,
        name,
        next_line: 1,
        chunk_bytes,
        spare: Vec::new(),
    };
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

/// Reads, parses and hands over every line on this thread, one at a time.
fn read_here(input: &mut impl BufRead, name: &str, each: &mut Each<'_>) -> Result<u64, InputError> {
    let (mut line, mut number, mut rows) = (Vec::new(), 0, 0);
    loop {
        line.clear();
        number += 1;
        let read = input.read_until(b'\n', &mut line);
        let read = read.map_err(|e| cannot_read(name, number, &e))?;
        if read == 0 {
            return Ok(rows);
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        if let Some(json) = parse_line(text, number, name)? {
            each(number, &json)?;
            rows += 1;
        }
    }
}

fn cannot_read(name: &str, number: u64, e: &std::io::Error) -> InputError {
    InputError::at(name, "line", number, format!("cannot read: {e}"))
}

/// Whole lines of the input, the number of the first, and once parsed their rows.
struct Chunk {
    first_line: u64,
    text: Vec<u8>,
    /// Each non-blank line's value, with its line number.
    rows: Vec<(u64, Json)>,
}

/// A parsed chunk, or the first error in it.
type Parsed = Result<Chunk, InputError>;

/// A chunk to parse, and where it goes once parsed.
type Job = (Chunk, SyncSender<Parsed>);

/// Cuts the input into chunks of whole lines.
struct Chunks<'a, R> {
    input: &'a mut R,
    name: &'a str,
    next_line: u64,
    chunk_bytes: usize,
    /// Chunks handed over: their buffers, to reuse.
    spare: Vec<Chunk>,
}

impl<R: BufRead> Chunks<'_, R> {
    /// The next chunk (in a spare one's buffers), `None` at the end of the input.
    fn next(&mut self) -> Result<Option<Chunk>, InputError> {
        let mut chunk = self.spare.pop().unwrap_or_else(|| Chunk {
            first_line: 0,
            text: Vec::with_capacity(self.chunk_bytes + 4096),
            rows: Vec::new(),
        });
        chunk.first_line = self.next_line;
        chunk.text.clear();
        while chunk.text.len() < self.chunk_bytes {
            let read = self.input.read_until(b'\n', &mut chunk.text);
            let read = read.map_err(|e| cannot_read(self.name, self.next_line, &e))?;
            if read == 0 {
                break;
            }
            self.next_line += 1;
        }
        Ok((!chunk.text.is_empty()).then_some(chunk))
    }
}

/// The calling thread's side of the parser pool: sends chunks, takes them back parsed, in
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
        each: &mut Each<'_>,
    ) -> Result<u64, InputError> {
        let mut rows = 0;
        loop {
            let chunk = match chunks.next() {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(read) => {
                    self.drain(chunks, each)?; // an earlier line's error comes first
                    return Err(read);
                }
            };
            let (reply, parsed) = mpsc::sync_channel(1);
            if self.jobs.send((chunk, reply)).is_err() {
                return Err(self.stopped());
            }
            self.in_flight.push_back(parsed);
            if self.in_flight.len() >= self.most {
                rows += self.hand_over_oldest(chunks, each)?;
            }
        }
        Ok(rows + self.drain(chunks, each)?)
    }

    fn drain<R: BufRead>(
        &mut self,
        chunks: &mut Chunks<'_, R>,
        each: &mut Each<'_>,
    ) -> Result<u64, InputError> {
        let mut rows = 0;
        while !self.in_flight.is_empty() {
            rows += self.hand_over_oldest(chunks, each)?;
        }
        Ok(rows)
    }

    /// Hands the oldest chunk's rows to `each`, and its buffers back to `chunks`.
    fn hand_over_oldest<R: BufRead>(
        &mut self,
        chunks: &mut Chunks<'_, R>,
        each: &mut Each<'_>,
    ) -> Result<u64, InputError> {
        let Some(oldest) = self.in_flight.pop_front() else {
            return Ok(0);
        };
        let mut chunk = oldest.recv().map_err(|_| self.stopped())??;
        let rows = hand_over(&mut chunk, each)?;
        chunks.spare.push(chunk);
        Ok(rows)
    }

    fn stopped(&self) -> InputError {
        InputError::file(self.name, "a JSON parser thread stopped")
    }
}

/// Parses chunks from `queue` until it closes.
fn parse_jobs(queue: &Mutex<Receiver<Job>>, name: &str) {
    loop {
        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok((mut chunk, reply)) = job else {
            return;
        };
        let parsed = parse(&mut chunk, name).map(|()| chunk);
        // The reader may have stopped at an earlier error: nobody waits for this one then.
        let _ = reply.send(parsed);
    }
}

/// Parses every non-blank line of `chunk` into its rows.
fn parse(chunk: &mut Chunk, name: &str) -> Result<(), InputError> {
    chunk.rows.clear();
    let text = chunk.text.strip_suffix(b"\n").unwrap_or(&chunk.text);
    for (number, line) in (chunk.first_line..).zip(text.split(|&b| b == b'\n')) {
        if let Some(json) = parse_line(line, number, name)? {
            chunk.rows.push((number, json));
        }
    }
    Ok(())
}

/// The value of line `number` (without its `\n`), `None` for a blank line.
fn parse_line(line: &[u8], number: u64, name: &str) -> Result<Option<Json>, InputError> {
    let line = std::str::from_utf8(line)
        .map_err(|e| InputError::at(name, "line", number, format!("not UTF-8 text ({e})")))?;
    if line.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(line).map(Some).map_err(|e| {
        InputError::at(
            name,
            "line",
            number,
            format!("not JSON ({e}); each line must hold one JSON object"),
        )
    })
}

/// Hands a parsed chunk's rows to `each`, in order, emptying it; returns how many.
fn hand_over(chunk: &mut Chunk, each: &mut Each<'_>) -> Result<u64, InputError> {
    let count = chunk.rows.len() as u64;
    for (number, json) in chunk.rows.drain(..) {
        each(number, &json)?;
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
