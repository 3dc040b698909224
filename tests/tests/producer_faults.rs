//! A producer publishing through a store that fails ([`FaultyStore`] over a folder store)
//! never leaves the store announcing a version whose blobs are missing or wrong, stays on its
//! last good version after an error, and continues the chain once the store works again.
//!
//! After every cycle the store is checked through the *inner* store, twice: by a fresh
//! producer's restore (`.break_lease(true)`, since the failing producer still holds the
//! lease) and by the consumer-like reader of `shoal_tests::chain`; both must give exactly the
//! failing producer's `state()`. Each test prints how many faults it injected.

use std::sync::Arc;

use shoal_format::{DataState, Version};
use shoal_producer::{CycleReport, Error, Producer};
use shoal_store::{
    read_announced, BlobStore, Condition, Fault, FaultRule, FaultyStore, FsStore, StoreOp, Trigger,
    ANNOUNCED, LOCK,
};
use shoal_tests::catalog::{catalog, full_cycle, mutate, schema, Movies, Rng};
use shoal_tests::chain::{apply_delta, read_version};

/// A producer on a faulty folder store, with its catalog.
struct Rig {
    _dir: tempfile::TempDir,
    inner: Arc<dyn BlobStore>,
    faulty: Arc<FaultyStore>,
    producer: Producer,
    rng: Rng,
    movies: Movies,
    next_id: i64,
}

impl Rig {
    /// A rig whose producer has published `versions` versions, faults off.
    async fn new(seed: u64, versions: u64, keep_versions: usize) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let inner: Arc<dyn BlobStore> = Arc::new(FsStore::new(dir.path()).unwrap());
        let faulty = Arc::new(FaultyStore::new(inner.clone(), seed));
        let producer = Producer::builder(faulty.clone())
            .schema(schema())
            .snapshot_every(2)
            .keep_versions(keep_versions)
            .build()
            .await
            .unwrap();
        let mut rng = Rng::new(seed);
        let movies = catalog(&mut rng, 300);
        let mut rig = Rig {
            _dir: dir,
            inner,
            faulty,
            producer,
            rng,
            movies,
            next_id: 300,
        };
        for _ in 0..versions {
            rig.cycle().await.unwrap();
        }
        rig
    }

    /// Changes about 5% of the catalog and runs a full cycle.
    async fn cycle(&mut self) -> shoal_producer::Result<CycleReport> {
        mutate(&mut self.rng, &mut self.movies, &mut self.next_id, 5);
        full_cycle(&mut self.producer, &self.movies).await
    }

    async fn announced(&self) -> Option<Version> {
        read_announced(&*self.inner)
            .await
            .unwrap()
            .map(|a| a.version)
    }

    /// The store announces the producer's version, and it restores to the producer's state.
    async fn check_last_good_version_announced(&self, context: &str) {
        let announced = self.announced().await;
        assert_eq!(
            announced,
            self.producer.version(),
            "{context}: the store announces the producer's version"
        );
        let (version, state) = restore_beside(&self.inner).await;
        assert_eq!(version, announced, "{context}");
        assert!(
            state == self.producer.state().unwrap(),
            "{context}: a fresh producer restores the failing producer's state"
        );
        if let Some(v) = announced {
            let read = read_version(&*self.inner, v)
                .await
                .unwrap_or_else(|e| panic!("{context}: {e}"));
            assert!(read == state, "{context}: a reader gets the same state");
        }
    }

    /// With faults off, the next cycle publishes the next version as a delta from the last
    /// announced one.
    async fn check_chain_continues(&mut self, context: &str) {
        self.faulty.clear();
        let before = self.producer.version();
        let state_before = self.producer.state().unwrap();
        let report = self
            .cycle()
            .await
            .unwrap_or_else(|e| panic!("{context}: the cycle after the faults: {e}"));
        assert!(report.published, "{context}");
        let after = Version(before.map_or(1, |v| v.0 + 1));
        assert_eq!(report.version, after, "{context}");
        assert_eq!(self.announced().await, Some(after), "{context}");
        if let Some(before) = before {
            let next = apply_delta(&*self.inner, before, after, &state_before)
                .await
                .unwrap_or_else(|e| panic!("{context}: {e}"));
            assert!(
                next == self.producer.state().unwrap(),
                "{context}: the delta applies"
            );
        }
        self.check_last_good_version_announced(context).await;
    }
}

/// Restores the inner store's announced version with a fresh producer.
async fn restore_beside(inner: &Arc<dyn BlobStore>) -> (Option<Version>, DataState) {
    restore_through(inner.clone(), inner)
        .await
        .unwrap_or_else(|e| panic!("a fresh producer cannot restore the store: {e}"))
}

/// Restores with a fresh producer reading through `through` (the inner store, or a faulty
/// wrapper of it), which breaks the lease; then hands the lease back to the producer under
/// test (a folder store's tag is computed from the bytes, so writing the same bytes back
/// restores its tag).
async fn restore_through(
    through: Arc<dyn BlobStore>,
    inner: &Arc<dyn BlobStore>,
) -> shoal_producer::Result<(Option<Version>, DataState)> {
    let lease = inner.get_tagged(LOCK).await.unwrap();
    let restored = match Producer::builder(through)
        .schema(schema())
        .break_lease(true)
        .build()
        .await
    {
        Ok(fresh) => {
            let restored = (fresh.version(), fresh.state().unwrap());
            fresh.close().await.unwrap();
            Ok(restored)
        }
        Err(e) => Err(e),
    };
    if let Some((bytes, _)) = lease {
        inner.delete(LOCK).await.unwrap();
        inner
            .put_if(LOCK, bytes, Condition::IfAbsent)
            .await
            .unwrap();
    }
    restored
}

/// How many writes (put, put_if) a cycle with a delta makes, faults off.
async fn writes_per_cycle(versions: u64) -> u64 {
    let mut rig = Rig::new(99, versions, 10).await;
    let writes = |f: &FaultyStore| f.calls(StoreOp::Put) + f.calls(StoreOp::PutIf);
    let before = writes(&rig.faulty);
    rig.cycle().await.unwrap();
    writes(&rig.faulty) - before
}

#[tokio::test]
async fn a_cycle_failing_at_each_write_in_turn_keeps_the_last_good_version_announced() {
    let mut injected = 0;
    let mut cases = 0;
    // The first cycle (a snapshot only) and a later one (delta, reverse delta, snapshot).
    for versions in [0, 2] {
        let writes = writes_per_cycle(versions).await;
        assert_eq!(writes, if versions == 0 { 3 } else { 5 });
        for step in 1..=writes {
            // A write refused, and (for data blobs) a write done whose answer was lost.
            for fault in [Fault::Fail, Fault::FailAfter] {
                let ops: &[StoreOp] = match fault {
                    Fault::Fail => &[StoreOp::Put, StoreOp::PutIf],
                    _ => &[StoreOp::Put],
                };
                if fault == Fault::FailAfter && step > writes - 2 {
                    continue; // the lease and the announcement: see the tests below
                }
                let context = format!("after {versions} versions, {fault:?} at write {step}");
                let mut rig = Rig::new(step, versions, 10).await;
                rig.faulty
                    .inject(FaultRule::new(fault, Trigger::Nth(step)).on(ops));
                let err = rig.cycle().await.expect_err(&context);
                assert!(matches!(err, Error::Store(_)), "{context}: {err}");
                assert_eq!(
                    rig.producer.version().map(|v| v.0),
                    Some(versions).filter(|v| *v > 0)
                );
                rig.check_last_good_version_announced(&context).await;
                rig.check_chain_continues(&context).await;
                injected += rig.faulty.injected();
                cases += 1;
            }
        }
    }
    eprintln!("producer_faults: every write failing in turn: {injected} faults injected and survived in {cases} cycles");
}

#[tokio::test]
async fn random_fault_schedules_never_announce_a_version_that_cannot_be_restored() {
    const SEEDS: u64 = 16;
    const CYCLES: usize = 8;
    let (mut injected, mut failed, mut published) = (0, 0, 0);
    for seed in 0..SEEDS {
        let mut rig = Rig::new(seed, 1, 3).await;
        // Any call may fail or be slow; a data blob or a deletion may be done and its
        // answer lost.
        rig.faulty
            .inject(FaultRule::new(Fault::Fail, Trigger::Chance(0.06)));
        rig.faulty.inject(FaultRule::new(
            Fault::Delay(std::time::Duration::from_millis(3)),
            Trigger::Chance(0.1),
        ));
        rig.faulty.inject(
            FaultRule::new(Fault::FailAfter, Trigger::Chance(0.05))
                .on(&[StoreOp::Put, StoreOp::Delete]),
        );
        for cycle in 0..CYCLES {
            let context = format!("seed {seed}, cycle {cycle}");
            match rig.cycle().await {
                Ok(report) => {
                    assert!(report.published, "{context}");
                    published += 1;
                }
                Err(e) => {
                    assert!(matches!(e, Error::Store(_)), "{context}: {e}");
                    failed += 1;
                }
            }
            rig.check_last_good_version_announced(&context).await;
        }
        rig.check_chain_continues(&format!("seed {seed}, faults off"))
            .await;
        injected += rig.faulty.injected();
    }
    eprintln!(
        "producer_faults: random schedules: {injected} faults injected and survived over \
         {SEEDS} seeds; {failed} cycles failed, {published} published"
    );
    assert!(failed > 0 && published > 0);
}

#[tokio::test]
async fn a_lost_announcement_write_is_repaired_or_fails_the_next_cycle_clearly() {
    let mut rig = Rig::new(7, 3, 10).await;
    rig.faulty.inject(
        FaultRule::new(Fault::Lose, Trigger::Nth(1))
            .on(&[StoreOp::PutIf])
            .key_prefix(ANNOUNCED),
    );
    // The store reports success: the producer believes version 4 is out; it is not.
    let report = rig.cycle().await.unwrap();
    assert_eq!(report.version, Version(4));
    assert_eq!(rig.announced().await, Some(Version(3)));
    // What the store announces still restores (the blobs of 3 are kept).
    let (restored, _) = restore_beside(&rig.inner).await;
    assert_eq!(restored, Some(Version(3)));

    // The next cycle either repairs the announcement or refuses with a clear error. Today
    // it refuses (`Error::Raced`: the conditional announcement finds the store changed),
    // and so does every later cycle: only a restart repairs it.
    rig.faulty.clear();
    match rig.cycle().await {
        Ok(report) => {
            eprintln!(
                "producer_faults: after a lost announcement write the next cycle repaired it"
            );
            assert_eq!(rig.announced().await, Some(report.version));
            rig.check_last_good_version_announced("after the repair")
                .await;
            return;
        }
        Err(err) => {
            eprintln!(
                "producer_faults: after a lost announcement write the next cycle fails: {err}"
            );
            assert!(matches!(err, Error::Raced { .. }), "{err}");
            assert_eq!(rig.announced().await, Some(Version(3)));
        }
    }
    // A restarted producer restores version 3 and continues from there.
    let mut restarted = Producer::builder(rig.inner.clone())
        .schema(schema())
        .break_lease(true)
        .build()
        .await
        .unwrap();
    assert_eq!(restarted.version(), Some(Version(3)));
    let state = restarted.state().unwrap();
    let report = full_cycle(&mut restarted, &rig.movies).await.unwrap();
    assert_eq!(report.version, Version(4));
    let next = apply_delta(&*rig.inner, Version(3), Version(4), &state)
        .await
        .unwrap();
    assert!(next == restarted.state().unwrap());
    eprintln!(
        "producer_faults: lost announcement: {} fault injected and survived",
        rig.faulty.injected()
    );
}

#[tokio::test]
async fn a_restore_through_corrupt_transfers_refuses_or_restores_exactly() {
    // Six versions, snapshots at 1, 3 and 5: version 6 restores from snapshot 5 and a delta.
    let mut rig = Rig::new(21, 6, 10).await;
    let truth = rig.producer.state().unwrap();
    let blobs_read = {
        let fresh = Arc::new(FaultyStore::new(rig.inner.clone(), 0));
        let (version, _) = restore_through(fresh.clone(), &rig.inner).await.unwrap();
        assert_eq!(version, Some(Version(6)));
        fresh.calls(StoreOp::Get)
    };
    assert_eq!(blobs_read, 2);
    let (mut refused, mut exact, mut injected) = (0, 0, 0);
    for seed in 0..40u64 {
        let faulty = Arc::new(FaultyStore::new(rig.inner.clone(), seed));
        let fault = if seed % 2 == 0 {
            Fault::FlipBit
        } else {
            Fault::Truncate
        };
        let nth = 1 + seed / 2 % blobs_read;
        faulty.inject(FaultRule::new(fault, Trigger::Nth(nth)).on(&[StoreOp::Get]));
        match restore_through(faulty.clone(), &rig.inner).await {
            Err(e) => {
                assert!(matches!(e, Error::Restore { .. }), "seed {seed}: {e}");
                refused += 1;
            }
            // A flipped bit that no checksum covers (padding) changes nothing read.
            Ok((version, state)) => {
                assert_eq!(version, Some(Version(6)), "seed {seed}");
                assert!(state == truth, "seed {seed}: a corrupt blob was restored");
                exact += 1;
            }
        }
        injected += faulty.injected();
    }
    eprintln!(
        "producer_faults: restore through corrupt transfers: {injected} faults injected, \
         {refused} refused with Error::Restore, {exact} harmless (restored exactly)"
    );
    assert_eq!(injected, 40);
    rig.check_chain_continues("after the corrupt restores")
        .await;
}

// Producer bugs these faults found, fixed since: each test states the promise that broke.
// See docs/RELIABILITY.md.

#[tokio::test]
async fn an_announcement_whose_answer_was_lost_never_changes_an_announced_version() {
    let mut rig = Rig::new(31, 3, 10).await;
    // A client retry of a conditional put that had already landed: the retry finds the
    // producer's own write and fails.
    rig.faulty.inject(
        FaultRule::new(Fault::Duplicate, Trigger::Nth(1))
            .on(&[StoreOp::PutIf])
            .key_prefix(ANNOUNCED),
    );
    // The producer reads the announcement back and sees that it landed.
    let first = rig.cycle().await;
    eprintln!(
        "the cycle whose announcement landed: {:?}",
        first.as_ref().map(|r| r.version)
    );
    let announced = rig.announced().await.unwrap();
    let published = read_version(&*rig.inner, announced).await.unwrap();
    let delta = rig.inner.get("delta/3-4").await.unwrap();

    rig.faulty.clear();
    let next = rig.cycle().await;
    eprintln!("the next cycle: {:?}", next.as_ref().map(|r| r.version));
    assert!(
        rig.inner.get("delta/3-4").await.unwrap() == delta,
        "the blobs of announced version {} were overwritten",
        announced.0
    );
    assert!(
        read_version(&*rig.inner, announced).await.unwrap() == published,
        "announced version {} changed content",
        announced.0
    );
    next.unwrap();
    rig.check_last_good_version_announced("after the retry")
        .await;
}

#[tokio::test]
async fn a_lease_renewal_whose_answer_was_lost_does_not_stop_the_producer() {
    let mut rig = Rig::new(41, 3, 10).await;
    // A lease written in the same second as the last renewal has the same bytes, and so the
    // same tag (on S3 too: the ETag is the MD5 of the bytes), and the retry would succeed.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    rig.faulty.inject(
        FaultRule::new(Fault::Duplicate, Trigger::Nth(1))
            .on(&[StoreOp::PutIf])
            .key_prefix(LOCK),
    );
    // The producer reads the lease back, sees its own name and goes on.
    let first = rig.cycle().await;
    eprintln!(
        "the cycle whose lease renewal landed: {:?}",
        first.as_ref().map(|r| r.version)
    );
    rig.check_last_good_version_announced("after the renewal")
        .await;
    rig.check_chain_continues("after the renewal").await;
}

#[tokio::test]
async fn retention_after_a_lost_announcement_keeps_what_the_store_announces() {
    // Keep one version; snapshots at 1, 3, 5: version 4 needs snapshot 3 and delta 3-4.
    let mut rig = Rig::new(51, 4, 1).await;
    rig.faulty.inject(
        FaultRule::new(Fault::Lose, Trigger::Nth(1))
            .on(&[StoreOp::PutIf])
            .key_prefix(ANNOUNCED),
    );
    rig.cycle().await.unwrap();
    let announced = rig.announced().await.unwrap();
    assert_eq!(announced, Version(4));
    read_version(&*rig.inner, announced)
        .await
        .unwrap_or_else(|e| panic!("the store announces version 4 and cannot serve it: {e}"));
}

#[tokio::test]
async fn a_corrupt_announcement_read_never_moves_the_announcement_back() {
    let rig = Rig::new(61, 6, 10).await;
    let mut highest = rig.announced().await.unwrap();
    for seed in 0..64u64 {
        let faulty = Arc::new(FaultyStore::new(rig.inner.clone(), seed));
        faulty.inject(
            FaultRule::new(Fault::FlipBit, Trigger::Nth(1))
                .on(&[StoreOp::GetTagged])
                .key_prefix(ANNOUNCED),
        );
        // Most flips make the announcement unreadable and the producer refuses to start.
        let Ok(mut producer) = Producer::builder(faulty)
            .schema(schema())
            .break_lease(true)
            .build()
            .await
        else {
            continue;
        };
        let restored = producer.version();
        let mut movies = rig.movies.clone();
        mutate(&mut Rng::new(seed), &mut movies, &mut 10_000, 5);
        let _ = full_cycle(&mut producer, &movies).await;
        let now = rig.announced().await.unwrap();
        assert!(
            now >= highest,
            "seed {seed}: a producer restored {restored:?} from a corrupt read of announcement \
             {} and announced {}",
            highest.0,
            now.0
        );
        highest = now;
        producer.close().await.unwrap();
    }
}
