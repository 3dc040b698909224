//! Crash safety: a producer process killed with SIGKILL at random moments (restoring, in the
//! middle of a cycle, writing blobs, announcing, deleting old blobs) never leaves the store
//! announcing a version it cannot serve, the announcement never moves back, and a restarted
//! producer continues the chain. The producer is `src/bin/shoal-kill-producer.rs`; version
//! `v` always holds `dataset_of(v)`, so every check compares against what it must hold.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shoal_format::Version;
use shoal_store::{BlobName, BlobStore, FsStore};
use shoal_tests::catalog::{dataset_of, movies_of, Rng};
use shoal_tests::chain::{announced, apply_delta, blob_names, read_version};

/// This many kills...
const KILLS: usize = 40;
/// ...unless this much time has passed (a slow machine), and then at least this many.
const BUDGET: Duration = Duration::from_secs(30);
const MIN_KILLS: usize = 20;
/// The producer keeps this many versions (`keep_versions` in the binary).
const KEPT: u64 = 6;

fn start(root: &Path, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_shoal-kill-producer"))
        .arg(root)
        .stdout(Stdio::null())
        .stderr(File::create(log).expect("create the child's log"))
        .spawn()
        .expect("start shoal-kill-producer")
}

/// Checks the store after a kill: the announced version (not older than `last`) and every
/// version kept before it read back exactly as published, and the newest one is reached by a
/// delta from the one before.
async fn check(store: &dyn BlobStore, last: Option<Version>, kill: usize) -> Option<Version> {
    let now = announced(store).await.unwrap();
    assert!(
        now >= last,
        "kill {kill}: the announcement moved back from {last:?} to {now:?}"
    );
    let now = now?;
    let oldest = now.0.saturating_sub(KEPT - 1).max(1);
    let mut previous = None;
    for v in oldest..=now.0 {
        let state = read_version(store, Version(v))
            .await
            .unwrap_or_else(|e| panic!("kill {kill}: version {v} (announced {}): {e}", now.0));
        assert_eq!(
            movies_of(&state).unwrap(),
            dataset_of(v),
            "kill {kill}: version {v} holds what was published"
        );
        if let Some(p) = previous {
            let by_delta = apply_delta(store, Version(v - 1), Version(v), &p)
                .await
                .unwrap_or_else(|e| panic!("kill {kill}: {e}"));
            assert_eq!(by_delta, state, "kill {kill}: delta {}-{v}", v - 1);
        }
        previous = Some(state);
    }
    Some(now)
}

#[tokio::test]
async fn sigkill_at_random_moments_never_breaks_the_store_and_the_chain_continues() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let store = FsStore::new(&root).unwrap();
    let mut rng = Rng::new(0x5107);
    let started = Instant::now();
    let (mut last, mut kills, mut advanced, mut mid_publish) = (None, 0, 0, 0);
    while kills < KILLS && (kills < MIN_KILLS || started.elapsed() < BUDGET) {
        let log = dir.path().join(format!("producer-{kills}.log"));
        let mut child = start(&root, &log);
        // Anywhere from start-up and restore to several cycles in.
        tokio::time::sleep(Duration::from_millis(20 + rng.below(480))).await;
        if let Some(status) = child.try_wait().unwrap() {
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("the producer stopped by itself after kill {kills} ({status}): {said}");
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        let now = check(&store, last, kills).await;
        if killed_mid_publish(&store, now).await {
            mid_publish += 1;
        }
        if now > last {
            advanced += 1;
        }
        last = now;
    }
    let last = last.expect("something was announced");

    // The crashes left their temporary files behind (hidden, never listed): count them.
    let names = blob_names(&store).await.unwrap();
    let leftovers: Vec<u64> = walk(&root)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".tmp-"))
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .collect();
    eprintln!(
        "producer_kill: {kills} SIGKILLs survived in {:.1} s ({mid_publish} between \
         a version's first blob and its announcement); announced version {} after \
         {advanced} restarts that published; {} blobs kept; {} temporary files ({} bytes) left \
         behind by killed writers",
        started.elapsed().as_secs_f64(),
        last.0,
        names.len(),
        leftovers.len(),
        leftovers.iter().sum::<u64>()
    );
    assert!(
        advanced * 2 >= kills,
        "restarted producers published after only {advanced} of {kills} kills"
    );
    assert!(last.0 > 1 && names.contains(&BlobName::Delta(Version(last.0 - 1), last)));
}

/// Whether the store holds blobs of a version after `announced`: the producer was killed
/// while publishing it.
async fn killed_mid_publish(store: &dyn BlobStore, announced: Option<Version>) -> bool {
    let after = |v: Version| Some(v) > announced;
    blob_names(store).await.unwrap().iter().any(|n| match *n {
        BlobName::Snapshot(v) | BlobName::Delta(_, v) => after(v),
        BlobName::Reverse(v, _) => after(v),
    })
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}
