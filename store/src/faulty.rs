//! [`FaultyStore`] (feature `faults`): a [`BlobStore`] that wraps any other and misbehaves on
//! purpose, so tests can prove what shoal promises when a store fails: a producer never
//! announces a version it did not write whole, a consumer never serves a blob it did not
//! check. It owns the fault model ([`FaultRule`]: which operations, which keys, which [`Fault`],
//! [`Trigger`]) and the count of faults injected; the stored data stays the inner store's.
//!
//! - **Faults**: fail before calling the inner store ([`Fault::Fail`]) or after it
//!   ([`Fault::FailAfter`]: the write happened, its answer was lost); delay; lose a write
//!   (report success without writing) or duplicate it (a retry of a request that had
//!   already arrived); truncate or flip one bit of what a read returns.
//! - **Corrupt reads corrupt the copy, not the store.** The inner store checks length and
//!   CRC-32C before it returns, and the wrapper cannot get past that check, so a truncated or
//!   flipped blob is made by changing what the wrapper hands back: the `Bytes` of
//!   [`BlobStore::get`], [`BlobStore::get_tagged`] and [`BlobStore::get_range`], the written
//!   file of [`BlobStore::get_to_file`] (whose returned [`BlobInfo`] still describes the
//!   stored blob). This models a transfer corrupted after the store's check (a bad buffer, a
//!   bad disk under the cache): the reader must catch it by itself, with the format's
//!   checksums.
//! - **Deterministic given a seed.** [`Trigger::Chance`] draws from a hash of the seed, the
//!   rule, the operation, the key and how many times this operation was called on this key,
//!   so a schedule does not depend on how concurrent calls interleave. [`Trigger::Nth`] counts
//!   the calls a rule matches in the order they arrive (concurrent puts may arrive in any
//!   order).
//! - **Switched off at run time**: [`FaultyStore::clear`] drops every rule, so a test can
//!   check recovery. [`FaultyStore::injected`] counts the faults injected so far.
//!
//! [`BlobStore::watch`] is passed through untouched.

use std::collections::HashMap;
use std::future::Future;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;

use crate::{checksum, BlobInfo, BlobStore, Condition, Error, Result, Tag, Watch};

/// One kind of [`BlobStore`] operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreOp {
    /// [`BlobStore::put`].
    Put,
    /// [`BlobStore::put_file`].
    PutFile,
    /// [`BlobStore::put_if`].
    PutIf,
    /// [`BlobStore::get`].
    Get,
    /// [`BlobStore::get_to_file`].
    GetToFile,
    /// [`BlobStore::get_range`].
    GetRange,
    /// [`BlobStore::get_tagged`].
    GetTagged,
    /// [`BlobStore::head`].
    Head,
    /// [`BlobStore::list`].
    List,
    /// [`BlobStore::delete`].
    Delete,
}

impl StoreOp {
    /// Every operation.
    pub const ALL: [StoreOp; 10] = [
        StoreOp::Put,
        StoreOp::PutFile,
        StoreOp::PutIf,
        StoreOp::Get,
        StoreOp::GetToFile,
        StoreOp::GetRange,
        StoreOp::GetTagged,
        StoreOp::Head,
        StoreOp::List,
        StoreOp::Delete,
    ];

    /// The operations that change the store.
    pub const WRITES: [StoreOp; 4] = [
        StoreOp::Put,
        StoreOp::PutFile,
        StoreOp::PutIf,
        StoreOp::Delete,
    ];

    /// The operations that return a blob's bytes.
    pub const READS: [StoreOp; 4] = [
        StoreOp::Get,
        StoreOp::GetToFile,
        StoreOp::GetRange,
        StoreOp::GetTagged,
    ];

    /// The method's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            StoreOp::Put => "put",
            StoreOp::PutFile => "put_file",
            StoreOp::PutIf => "put_if",
            StoreOp::Get => "get",
            StoreOp::GetToFile => "get_to_file",
            StoreOp::GetRange => "get_range",
            StoreOp::GetTagged => "get_tagged",
            StoreOp::Head => "head",
            StoreOp::List => "list",
            StoreOp::Delete => "delete",
        }
    }
}

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Fail with [`Error::Remote`] without calling the inner store.
    Fail,
    /// Call the inner store, then fail with [`Error::Remote`] whatever it did: the operation
    /// happened but its answer was lost.
    FailAfter,
    /// Wait this long, then call the inner store.
    Delay(Duration),
    /// Reads only: return (or write to the file) a strict prefix of the blob.
    Truncate,
    /// Reads only: return (or write to the file) the blob with one bit flipped.
    FlipBit,
    /// Writes only: report success without writing (a conditional put returns a tag that
    /// matches nothing stored).
    Lose,
    /// Writes only: perform the write twice and return the second answer, as a client that
    /// retries a request that had already arrived (a conditional put then finds its own write
    /// and fails with [`Error::PreconditionFailed`]).
    Duplicate,
}

impl Fault {
    /// Whether this fault can happen to `op`.
    pub fn applies_to(self, op: StoreOp) -> bool {
        match self {
            Fault::Fail | Fault::FailAfter | Fault::Delay(_) => true,
            Fault::Truncate | Fault::FlipBit => StoreOp::READS.contains(&op),
            Fault::Lose | Fault::Duplicate => StoreOp::WRITES.contains(&op),
        }
    }
}

/// Which of the calls a rule matches get the fault.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trigger {
    /// The n-th matching call (1-based), once.
    Nth(u64),
    /// Every matching call.
    Always,
    /// Each matching call with this probability (0 to 1), drawn from the store's seed.
    Chance(f64),
}

/// A fault, the calls it applies to, and when it strikes.
#[derive(Debug, Clone)]
pub struct FaultRule {
    fault: Fault,
    when: Trigger,
    ops: Vec<StoreOp>,
    key_prefix: String,
}

impl FaultRule {
    /// `fault` on every operation it applies to (see [`Fault::applies_to`]), on every key.
    pub fn new(fault: Fault, when: Trigger) -> Self {
        FaultRule {
            fault,
            when,
            ops: StoreOp::ALL.to_vec(),
            key_prefix: String::new(),
        }
    }

    /// Only on these operations.
    pub fn on(mut self, ops: &[StoreOp]) -> Self {
        self.ops = ops.to_vec();
        self
    }

    /// Only on keys starting with `prefix` (for [`BlobStore::list`], the listed prefix).
    pub fn key_prefix(mut self, prefix: &str) -> Self {
        self.key_prefix = prefix.to_string();
        self
    }

    fn matches(&self, op: StoreOp, key: &str) -> bool {
        self.fault.applies_to(op) && self.ops.contains(&op) && key.starts_with(&self.key_prefix)
    }
}

/// One fault injected, for a test's messages.
#[derive(Debug, Clone, PartialEq)]
pub struct InjectedFault {
    /// The operation.
    pub op: StoreOp,
    /// Its key (a list's prefix).
    pub key: String,
    /// What was done to it.
    pub fault: Fault,
}

/// A [`BlobStore`] that injects faults into the calls it passes to another (see the module
/// doc). Without rules it is transparent.
#[derive(Debug)]
pub struct FaultyStore {
    inner: Arc<dyn BlobStore>,
    seed: u64,
    state: Mutex<State>,
    injected: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    /// Each rule with how many calls it matched.
    rules: Vec<(FaultRule, u64)>,
    /// Calls per operation and key.
    calls: HashMap<(StoreOp, String), u64>,
    log: Vec<InjectedFault>,
}

/// A fault decided for one call, with a random number for where it strikes.
#[derive(Debug, Clone, Copy)]
struct Strike {
    fault: Fault,
    salt: u64,
}

impl FaultyStore {
    /// Wraps `inner`; `seed` fixes every random choice.
    pub fn new(inner: Arc<dyn BlobStore>, seed: u64) -> Self {
        FaultyStore {
            inner,
            seed,
            state: Mutex::new(State::default()),
            injected: AtomicU64::new(0),
        }
    }

    /// The wrapped store, to look at what is really stored.
    pub fn inner(&self) -> &Arc<dyn BlobStore> {
        &self.inner
    }

    /// Adds a rule. Every rule counts the calls it matches; when several strike the same
    /// call, the one added first decides its fault.
    pub fn inject(&self, rule: FaultRule) {
        self.lock().rules.push((rule, 0));
    }

    /// Drops every rule: from now on calls pass through untouched.
    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    /// How many faults were injected since the store was made.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    /// Every fault injected so far, in order.
    pub fn injected_log(&self) -> Vec<InjectedFault> {
        self.lock().log.clone()
    }

    /// How many calls of `op` were made so far (faulted or not).
    pub fn calls(&self, op: StoreOp) -> u64 {
        let state = self.lock();
        state
            .calls
            .iter()
            .filter(|((o, _), _)| *o == op)
            .map(|(_, n)| n)
            .sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panicking test thread must not hide the store from the others.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts the call and decides its fault, if any.
    fn decide(&self, op: StoreOp, key: &str) -> Option<Strike> {
        let mut state = self.lock();
        let state = &mut *state;
        let call = state.calls.entry((op, key.to_string())).or_insert(0);
        *call += 1;
        let call = *call;
        let mut strike = None;
        for (i, (rule, matched)) in state.rules.iter_mut().enumerate() {
            if !rule.matches(op, key) {
                continue;
            }
            *matched += 1;
            let draw = mix(&[self.seed, i as u64, op as u64, hash_str(key), call]);
            let fires = match rule.when {
                Trigger::Nth(n) => *matched == n,
                Trigger::Always => true,
                Trigger::Chance(p) => ((draw >> 11) as f64 / (1u64 << 53) as f64) < p,
            };
            if fires && strike.is_none() {
                strike = Some(Strike {
                    fault: rule.fault,
                    salt: mix(&[draw, 1]),
                });
            }
        }
        let strike = strike?;
        self.injected.fetch_add(1, Ordering::Relaxed);
        state.log.push(InjectedFault {
            op,
            key: key.to_string(),
            fault: strike.fault,
        });
        tracing::debug!(op = op.name(), key, fault = ?strike.fault, "fault injected");
        Some(strike)
    }

    fn fault_error(&self, op: StoreOp, key: &str) -> Error {
        Error::Remote {
            location: self.inner.location(),
            op: op.name(),
            key: key.to_string(),
            message: "injected fault (FaultyStore)".into(),
        }
    }

    /// Runs `call` under the faults every operation shares: fail before or after, delay,
    /// duplicate. The operation-specific ones (lose, truncate, flip) are the caller's.
    async fn run<T, F, Fut>(
        &self,
        op: StoreOp,
        key: &str,
        strike: Option<Strike>,
        call: F,
    ) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        match strike.map(|s| s.fault) {
            Some(Fault::Fail) => Err(self.fault_error(op, key)),
            Some(Fault::FailAfter) => {
                let _ = call().await;
                Err(self.fault_error(op, key))
            }
            Some(Fault::Delay(d)) => {
                tokio::time::sleep(d).await;
                call().await
            }
            Some(Fault::Duplicate) => {
                let _ = call().await;
                call().await
            }
            _ => call().await,
        }
    }
}

/// `bytes` as a corrupt transfer would deliver them, if the strike says so.
fn corrupt(bytes: Bytes, strike: Option<Strike>) -> Bytes {
    let Some(Strike { fault, salt }) = strike else {
        return bytes;
    };
    if bytes.is_empty() {
        return bytes;
    }
    match fault {
        Fault::Truncate => bytes.slice(..(salt % bytes.len() as u64) as usize),
        Fault::FlipBit => {
            let mut out = bytes.to_vec();
            let bit = salt % (out.len() as u64 * 8);
            out[(bit / 8) as usize] ^= 1 << (bit % 8);
            Bytes::from(out)
        }
        _ => bytes,
    }
}

/// Corrupts the downloaded file at `path` as [`corrupt`] would its bytes.
fn corrupt_file(path: &Path, strike: Option<Strike>) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let Some(Strike { fault, salt }) = strike else {
        return Ok(());
    };
    let io = |e| Error::io("corrupt", path, e);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len == 0 {
        return Ok(());
    }
    match fault {
        Fault::Truncate => file.set_len(salt % len).map_err(io),
        Fault::FlipBit => {
            let bit = salt % (len * 8);
            let mut byte = [0u8];
            file.seek(SeekFrom::Start(bit / 8)).map_err(io)?;
            file.read_exact(&mut byte).map_err(io)?;
            byte[0] ^= 1 << (bit % 8);
            file.seek(SeekFrom::Start(bit / 8)).map_err(io)?;
            file.write_all(&byte).map_err(io)
        }
        _ => Ok(()),
    }
}

/// What a lost put reports: the blob as if it had been stored.
fn lost_put(key: &str, size: u64, crc32c: Option<u32>) -> BlobInfo {
    BlobInfo {
        key: key.to_string(),
        size,
        crc32c,
        modified: Some(SystemTime::now()),
    }
}

/// splitmix64 over several words.
fn mix(words: &[u64]) -> u64 {
    let mut h = 0x243F_6A88_85A3_08D3u64;
    for &w in words {
        h = (h ^ w).wrapping_add(0x9E37_79B9_7F4A_7C15);
        h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        h ^= h >> 31;
    }
    h
}

/// FNV-1a of a key.
fn hash_str(s: &str) -> u64 {
    s.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

#[async_trait]
impl BlobStore for FaultyStore {
    fn location(&self) -> String {
        self.inner.location()
    }

    async fn put(&self, key: &str, data: Bytes) -> Result<BlobInfo> {
        let strike = self.decide(StoreOp::Put, key);
        if matches!(
            strike,
            Some(Strike {
                fault: Fault::Lose,
                ..
            })
        ) {
            return Ok(lost_put(key, data.len() as u64, Some(checksum(&data))));
        }
        self.run(StoreOp::Put, key, strike, || {
            self.inner.put(key, data.clone())
        })
        .await
    }

    async fn put_file(&self, key: &str, path: &Path) -> Result<BlobInfo> {
        let strike = self.decide(StoreOp::PutFile, key);
        if matches!(
            strike,
            Some(Strike {
                fault: Fault::Lose,
                ..
            })
        ) {
            let meta = std::fs::metadata(path).map_err(|e| Error::io("stat", path, e))?;
            return Ok(lost_put(key, meta.len(), None));
        }
        self.run(StoreOp::PutFile, key, strike, || {
            self.inner.put_file(key, path)
        })
        .await
    }

    async fn put_if(&self, key: &str, data: Bytes, condition: Condition) -> Result<Tag> {
        let strike = self.decide(StoreOp::PutIf, key);
        if let Some(Strike {
            fault: Fault::Lose,
            salt,
        }) = strike
        {
            return Ok(Tag(format!("lost-{salt:016x}")));
        }
        self.run(StoreOp::PutIf, key, strike, || {
            self.inner.put_if(key, data.clone(), condition.clone())
        })
        .await
    }

    async fn get(&self, key: &str) -> Result<Bytes> {
        let strike = self.decide(StoreOp::Get, key);
        let bytes = self
            .run(StoreOp::Get, key, strike, || self.inner.get(key))
            .await?;
        Ok(corrupt(bytes, strike))
    }

    async fn get_tagged(&self, key: &str) -> Result<Option<(Bytes, Tag)>> {
        let strike = self.decide(StoreOp::GetTagged, key);
        let found = self
            .run(StoreOp::GetTagged, key, strike, || {
                self.inner.get_tagged(key)
            })
            .await?;
        Ok(found.map(|(bytes, tag)| (corrupt(bytes, strike), tag)))
    }

    async fn get_to_file(&self, key: &str, dest: &Path) -> Result<BlobInfo> {
        let strike = self.decide(StoreOp::GetToFile, key);
        let info = self
            .run(StoreOp::GetToFile, key, strike, || {
                self.inner.get_to_file(key, dest)
            })
            .await?;
        let path = dest.to_path_buf();
        tokio::task::spawn_blocking(move || corrupt_file(&path, strike))
            .await
            .map_err(|e| Error::io("corrupt", dest, std::io::Error::other(e.to_string())))??;
        Ok(info)
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes> {
        let strike = self.decide(StoreOp::GetRange, key);
        let bytes = self
            .run(StoreOp::GetRange, key, strike, || {
                self.inner.get_range(key, range.clone())
            })
            .await?;
        Ok(corrupt(bytes, strike))
    }

    async fn head(&self, key: &str) -> Result<Option<BlobInfo>> {
        let strike = self.decide(StoreOp::Head, key);
        self.run(StoreOp::Head, key, strike, || self.inner.head(key))
            .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<BlobInfo>> {
        let strike = self.decide(StoreOp::List, prefix);
        self.run(StoreOp::List, prefix, strike, || self.inner.list(prefix))
            .await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let strike = self.decide(StoreOp::Delete, key);
        if matches!(
            strike,
            Some(Strike {
                fault: Fault::Lose,
                ..
            })
        ) {
            return Ok(());
        }
        self.run(StoreOp::Delete, key, strike, || self.inner.delete(key))
            .await
    }

    async fn watch(&self, key: &str) -> Result<Watch> {
        self.inner.watch(key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FsStore;

    fn faulty(seed: u64) -> (tempfile::TempDir, FaultyStore) {
        let dir = tempfile::tempdir().unwrap();
        let inner: Arc<dyn BlobStore> = Arc::new(FsStore::new(dir.path()).unwrap());
        (dir, FaultyStore::new(inner, seed))
    }

    fn blob() -> Bytes {
        Bytes::from(
            (0..10_000u32)
                .map(|i| (i * 7 % 251) as u8)
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn the_nth_call_fails_once_and_clear_switches_faults_off() {
        let (_dir, store) = faulty(1);
        store.inject(FaultRule::new(Fault::Fail, Trigger::Nth(2)).on(&[StoreOp::Put]));
        store.inject(FaultRule::new(Fault::Fail, Trigger::Always).on(&[StoreOp::Get]));
        store.put("snapshot/1", blob()).await.unwrap();
        let err = store.put("snapshot/2", blob()).await.unwrap_err();
        assert!(matches!(err, Error::Remote { op: "put", .. }), "{err}");
        store.put("snapshot/3", blob()).await.unwrap();
        assert!(store.get("snapshot/1").await.is_err());
        assert_eq!(store.injected(), 2);
        assert_eq!(store.calls(StoreOp::Put), 3);
        // Nothing of the failed put reached the inner store.
        assert!(store.inner().head("snapshot/2").await.unwrap().is_none());

        store.clear();
        assert_eq!(store.get("snapshot/1").await.unwrap(), blob());
        assert_eq!(store.injected(), 2);
        assert_eq!(
            store.injected_log()[0],
            InjectedFault {
                op: StoreOp::Put,
                key: "snapshot/2".into(),
                fault: Fault::Fail
            }
        );
    }

    /// Which of 200 heads fail under a 30% chance.
    async fn pattern(seed: u64) -> Vec<bool> {
        let (_dir, store) = faulty(seed);
        store.inject(FaultRule::new(Fault::Fail, Trigger::Chance(0.3)));
        let mut out = Vec::new();
        for i in 0..200 {
            out.push(store.head(&format!("snapshot/{}", i % 7)).await.is_err());
        }
        out
    }

    #[tokio::test]
    async fn chance_is_deterministic_given_the_seed() {
        let a = pattern(5).await;
        assert_eq!(a, pattern(5).await);
        assert_ne!(a, pattern(6).await);
        let failed = a.iter().filter(|f| **f).count();
        assert!((30..90).contains(&failed), "{failed} of 200");
    }

    #[tokio::test]
    async fn corrupt_reads_change_the_copy_never_the_store() {
        let (dir, store) = faulty(2);
        store.put("snapshot/1", blob()).await.unwrap();
        store.inject(FaultRule::new(Fault::FlipBit, Trigger::Nth(1)).on(&[StoreOp::Get]));
        store.inject(FaultRule::new(Fault::Truncate, Trigger::Nth(2)).on(&[StoreOp::Get]));
        let flipped = store.get("snapshot/1").await.unwrap();
        let differing: u32 = flipped
            .iter()
            .zip(blob().iter())
            .map(|(a, b)| (a ^ b).count_ones())
            .sum();
        assert_eq!((flipped.len(), differing), (blob().len(), 1));
        let cut = store.get("snapshot/1").await.unwrap();
        assert!(cut.len() < blob().len() && blob().starts_with(&cut));
        assert_eq!(store.get("snapshot/1").await.unwrap(), blob());

        store.inject(FaultRule::new(Fault::FlipBit, Trigger::Always).on(&[StoreOp::GetToFile]));
        let dest = dir.path().join("copy");
        let info = store.get_to_file("snapshot/1", &dest).await.unwrap();
        assert_eq!(info.size, blob().len() as u64);
        let copy = std::fs::read(&dest).unwrap();
        assert_eq!(copy.len(), blob().len());
        assert_ne!(copy, blob());
        assert_eq!(store.inner().get("snapshot/1").await.unwrap(), blob());
        // A fault that cannot happen to an operation never strikes it.
        store.inject(FaultRule::new(Fault::Truncate, Trigger::Always));
        store.put("snapshot/2", blob()).await.unwrap();
        assert_eq!(store.injected(), 3);
    }

    #[tokio::test]
    async fn lost_duplicated_and_unanswered_writes() {
        let (_dir, store) = faulty(3);
        let one = Bytes::from_static(b"1\n");
        store.inject(FaultRule::new(Fault::Lose, Trigger::Nth(1)).key_prefix("announced"));
        let tag = store
            .put_if("announced", one.clone(), Condition::IfAbsent)
            .await
            .unwrap();
        assert!(tag.0.starts_with("lost-"));
        assert!(store.get_tagged("announced").await.unwrap().is_none());

        // A duplicated conditional put finds its own first write.
        store.inject(FaultRule::new(Fault::Duplicate, Trigger::Nth(1)).on(&[StoreOp::PutIf]));
        let err = store
            .put_if("announced", one.clone(), Condition::IfAbsent)
            .await
            .unwrap_err();
        assert!(err.is_precondition_failed(), "{err}");
        assert_eq!(store.get_tagged("announced").await.unwrap().unwrap().0, one);

        // A write whose answer was lost happened all the same.
        store.inject(FaultRule::new(Fault::FailAfter, Trigger::Always).on(&[StoreOp::Put]));
        assert!(store.put("snapshot/1", blob()).await.is_err());
        assert_eq!(store.inner().get("snapshot/1").await.unwrap(), blob());
        assert_eq!(store.injected(), 3);
    }

    #[tokio::test]
    async fn a_delay_waits_then_passes_the_call_on() {
        let (_dir, store) = faulty(4);
        store.inject(FaultRule::new(
            Fault::Delay(Duration::from_millis(50)),
            Trigger::Always,
        ));
        let t = std::time::Instant::now();
        assert!(store.head("snapshot/1").await.unwrap().is_none());
        assert!(t.elapsed() >= Duration::from_millis(50));
    }
}
