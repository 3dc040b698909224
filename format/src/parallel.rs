//! Splitting one CPU-heavy step (rebuilding pages, building an index) over several cores:
//! scoped threads, the calling thread taking the first share. How many threads is the
//! caller's setting (the consumer's comes from `available_parallelism`); nothing here is
//! tuned to one machine. Public for the crates of this workspace.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Condvar, Mutex};

/// `f` over `items` cut into at most `threads` contiguous shares, run on scoped threads;
/// the results in the order of the shares.
pub fn map_shares<T, R, F>(items: &[T], threads: usize, f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&[T]) -> R + Sync,
{
    let size = items.len().div_ceil(threads.max(1)).max(1);
    let shares: Vec<&[T]> = items.chunks(size).collect();
    if shares.len() <= 1 {
        return vec![f(items)];
    }
    map_parts(&shares, |share| f(share))
}

/// `f(index of the share's first item, share)` over `items` cut into at most `threads`
/// contiguous shares that it may change, run on scoped threads; the results in the order of
/// the shares.
pub fn map_shares_mut<T, R, F>(items: &mut [T], threads: usize, f: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(usize, &mut [T]) -> R + Sync,
{
    let size = items.len().div_ceil(threads.max(1)).max(1);
    let mut shares = items.chunks_mut(size).enumerate();
    let Some((_, first)) = shares.next() else {
        return vec![f(0, items)];
    };
    let f = &f;
    std::thread::scope(|scope| {
        let others: Vec<_> = shares
            .map(|(i, share)| scope.spawn(move || f(i * size, share)))
            .collect();
        let mut out = vec![f(0, first)];
        out.extend(
            others
                .into_iter()
                .map(|h| h.join().expect("a worker thread does not panic")),
        );
        out
    })
}

/// `f` over each of `parts`, one scoped thread each (the calling thread takes the first);
/// the results in the order of the parts.
pub fn map_parts<P, R, F>(parts: &[P], f: F) -> Vec<R>
where
    P: Sync,
    R: Send,
    F: Fn(&P) -> R + Sync,
{
    let Some((first, rest)) = parts.split_first() else {
        return Vec::new();
    };
    std::thread::scope(|scope| {
        let others: Vec<_> = rest.iter().map(|part| scope.spawn(|| f(part))).collect();
        let mut out = vec![f(first)];
        out.extend(
            others
                .into_iter()
                .map(|h| h.join().expect("a worker thread does not panic")),
        );
        out
    })
}

/// `f` over each of `parts` on up to `threads` scoped threads that each take the next part
/// as soon as they finish one (a work queue: a slow part holds up no other), and each result
/// handed to `take` on the calling thread in the parts' order, as soon as every part before
/// it has been taken. A result waits in memory while a part before it is still being worked
/// on, and no part is started more than `ahead` parts past the first not yet taken, so at
/// most `ahead` results wait. An error from `take` is returned once the workers finish their
/// current part; they take no other.
pub fn for_each_in_order<P, R, E, F, T>(
    parts: &[P],
    (threads, ahead): (usize, usize),
    f: F,
    mut take: T,
) -> Result<(), E>
where
    P: Sync,
    R: Send,
    F: Fn(&P) -> R + Sync,
    T: FnMut(R) -> Result<(), E>,
{
    let queue = Queue {
        next: AtomicUsize::new(0),
        taken: Mutex::new(Some(0)),
        moved: Condvar::new(),
        ahead: ahead.max(1),
    };
    std::thread::scope(|scope| {
        let (done, results) = mpsc::channel();
        for _ in 0..threads.clamp(1, parts.len().max(1)) {
            let done = done.clone();
            let (f, queue) = (&f, &queue);
            scope.spawn(move || {
                let _stop = StopOnPanic(queue);
                while let Some(k) = queue.next_part(parts.len()) {
                    if done.send((k, f(&parts[k]))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done);
        let mut waiting = BTreeMap::new();
        let mut due = 0;
        for (k, result) in results {
            waiting.insert(k, result);
            while let Some(result) = waiting.remove(&due) {
                due += 1;
                if let Err(e) = take(result) {
                    queue.set_taken(None);
                    return Err(e);
                }
                queue.set_taken(Some(due));
            }
        }
        Ok(())
    })
}

/// Stops the other workers when a worker's part panics: the part never arrives, so those
/// waiting for their turn behind it would wait for ever. The scope then joins them and
/// passes the panic on to the caller.
struct StopOnPanic<'q>(&'q Queue);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.set_taken(None);
        }
    }
}

/// The shared state of [`for_each_in_order`]'s workers.
struct Queue {
    next: AtomicUsize,
    /// Parts taken so far; `None` once taking failed (the workers stop).
    taken: Mutex<Option<usize>>,
    moved: Condvar,
    ahead: usize,
}

impl Queue {
    /// The next part to work on, once it is within `ahead` of the parts taken; `None` when
    /// every part is handed out or taking failed.
    fn next_part(&self, parts: usize) -> Option<usize> {
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        if k >= parts {
            return None;
        }
        let taken = self.taken.lock().unwrap_or_else(|e| e.into_inner());
        let taken = self
            .moved
            .wait_while(taken, |t| t.is_some_and(|t| k >= t + self.ahead))
            .unwrap_or_else(|e| e.into_inner());
        taken.map(|_| k)
    }

    fn set_taken(&self, taken: Option<usize>) {
        *self.taken.lock().unwrap_or_else(|e| e.into_inner()) = taken;
        self.moved.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_taken_in_order_whatever_order_they_finish_in() {
        // Early parts take longest, so later ones finish first and must wait.
        let parts: Vec<u64> = (0..24).collect();
        for threads in [1, 2, 3, 8, 40] {
            let mut seen = Vec::new();
            let work = |&k: &u64| {
                std::thread::sleep(std::time::Duration::from_millis((24 - k) / 4));
                k * 10
            };
            for_each_in_order(&parts, (threads, threads * 2), work, |r| {
                seen.push(r);
                Ok::<(), ()>(())
            })
            .unwrap();
            assert_eq!(seen, parts.iter().map(|k| k * 10).collect::<Vec<_>>());
        }
        let none: Vec<u64> = Vec::new();
        for_each_in_order(&none, (2, 4), |_| (), |()| Err("never called")).unwrap();
    }

    #[test]
    fn no_part_starts_more_than_ahead_past_the_first_not_taken() {
        let parts: Vec<u32> = (0..60).collect();
        for ahead in [1, 3] {
            let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
            let work = |&k: &u32| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_micros(300));
                running.fetch_sub(1, Ordering::SeqCst);
                k
            };
            let mut seen = Vec::new();
            for_each_in_order(&parts, (8, ahead), work, |k| {
                seen.push(k);
                Ok::<(), ()>(())
            })
            .unwrap();
            assert_eq!(seen, parts);
            assert!(most.load(Ordering::SeqCst) <= ahead, "ahead {ahead}");
        }
    }

    #[test]
    fn a_part_that_panics_panics_the_caller_instead_of_leaving_the_others_waiting() {
        let run = std::panic::catch_unwind(|| {
            let parts: Vec<u32> = (0..50).collect();
            let work = |&k: &u32| {
                assert_ne!(k, 0, "part 0 fails");
                std::thread::sleep(std::time::Duration::from_millis(1));
                k
            };
            for_each_in_order(&parts, (2, 2), work, |_| Ok::<(), ()>(()))
        });
        assert!(run.is_err());
    }

    #[test]
    fn an_error_in_taking_stops_the_work() {
        let parts: Vec<u32> = (0..1000).collect();
        let worked = AtomicUsize::new(0);
        let mut taken = 0;
        let result = for_each_in_order(
            &parts,
            (2, 1000),
            |&k| {
                worked.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_micros(200));
                k
            },
            |k| {
                taken += 1;
                if k == 3 {
                    Err(format!("part {k}"))
                } else {
                    Ok(())
                }
            },
        );
        assert_eq!(result, Err("part 3".to_string()));
        assert_eq!(taken, 4);
        assert!(worked.load(Ordering::Relaxed) < 100, "the workers stopped");
    }

    #[test]
    fn shares_cover_every_item_once_in_order() {
        for threads in [1, 2, 3, 8] {
            for n in [0usize, 1, 2, 7, 100, 1001] {
                let items: Vec<usize> = (0..n).collect();
                let out: Vec<usize> = map_shares(&items, threads, |s| s.to_vec()).concat();
                assert_eq!(out, items);
                assert!(map_shares(&items, threads, |s| s.len()).len() <= threads);
            }
        }
    }
}
