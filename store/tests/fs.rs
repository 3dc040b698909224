//! The conformance suite and the folder store's own promises (checksums on disk, no partial
//! files, hidden files stay hidden).

mod conformance;

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use shoal_store::{BlobStore, Error, FsStore};

/// A fresh folder per case under the build's temporary folder.
fn base(case: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("fs-store-{case}"));
    let _ = std::fs::remove_dir_all(&dir);
    dir.display().to_string()
}

fn make() -> conformance::Make {
    Box::new(|root: &str| {
        Arc::new(
            FsStore::new(root)
                .unwrap()
                .with_poll_interval(std::time::Duration::from_millis(100)),
        ) as Arc<dyn BlobStore>
    })
}

conformance_tests!(make(), base);

fn store(case: &str) -> FsStore {
    FsStore::new(base(case)).unwrap()
}

#[tokio::test]
async fn a_flipped_bit_on_disk_is_caught() {
    let store = store("flip");
    let data = conformance::noise(50_000, 9);
    store.put("snapshot/1", Bytes::from(data)).await.unwrap();
    let path = store.path_of("snapshot/1").unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[31_337] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    let err = store.get("snapshot/1").await.unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(
        err.to_string().contains("snapshot/1") && err.to_string().contains("CRC-32C"),
        "{err}"
    );
    let dest = PathBuf::from(base("flip-dest")).join("copy");
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    assert!(matches!(
        store.get_to_file("snapshot/1", &dest).await,
        Err(Error::Corrupt { .. })
    ));
    assert!(
        !dest.exists(),
        "a corrupt download never appears under the real name"
    );
}

#[tokio::test]
async fn a_truncated_file_is_caught() {
    let store = store("truncated");
    store
        .put("delta/1-2", Bytes::from(vec![7u8; 4096]))
        .await
        .unwrap();
    let path = store.path_of("delta/1-2").unwrap();
    std::fs::write(&path, vec![7u8; 4000]).unwrap();
    let err = store.get("delta/1-2").await.unwrap_err();
    assert!(
        err.to_string().contains("4000 bytes, 4096 were stored"),
        "{err}"
    );
}

#[tokio::test]
async fn files_put_by_hand_are_read_without_a_checksum() {
    let store = store("by-hand");
    std::fs::create_dir_all(store.root().join("snapshot")).unwrap();
    std::fs::write(store.root().join("snapshot/3"), b"copied in").unwrap();
    assert_eq!(&store.get("snapshot/3").await.unwrap()[..], b"copied in");
    let listed = store.list("").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].crc32c, None);
}

#[tokio::test]
async fn writes_leave_no_temporary_files_and_hidden_files_stay_hidden() {
    let store = store("hidden");
    store
        .put("snapshot/1", Bytes::from_static(b"one"))
        .await
        .unwrap();
    // What a writer killed mid-put leaves behind.
    std::fs::write(store.root().join("snapshot/.2.tmp-1-1"), b"half").unwrap();
    let keys: Vec<_> = store
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.key)
        .collect();
    assert_eq!(keys, ["snapshot/1"]);
    let mut files: Vec<_> = std::fs::read_dir(store.root().join("snapshot"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, [".1.crc32c", ".2.tmp-1-1", "1"]);
    assert!(store.get("snapshot/2").await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn the_store_never_writes_outside_its_folder() {
    let store = store("escape");
    let err = store
        .put("../outside", Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidKey { .. }));
    assert!(!PathBuf::from(base("escape"))
        .parent()
        .unwrap()
        .join("outside")
        .exists());
}

/// A writer killed mid-write leaves its temporary file; the next open of the store removes
/// it once the writer is gone, and leaves a live writer's file and every blob alone.
#[tokio::test]
async fn temporary_files_of_killed_writers_are_swept_at_open() {
    let s = store("sweep");
    s.put("snapshot/1", Bytes::from_static(b"blob"))
        .await
        .unwrap();
    let dir = s.root().join("snapshot");
    let mut child = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let dead = dir.join(format!(".2.tmp-{}-0", child.id()));
    let live = shoal_store::temp_path(&dir.join("3"));
    for p in [&dead, &live] {
        let f = std::fs::File::create(p).unwrap();
        f.set_len(1000).unwrap();
        f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(120))
            .unwrap();
    }
    // While the writer runs, its file stays.
    FsStore::new(s.root()).unwrap();
    assert!(dead.exists());
    child.kill().unwrap();
    child.wait().unwrap();
    FsStore::new(s.root()).unwrap();
    assert!(!dead.exists(), "the killed writer's temporary file is gone");
    assert!(live.exists(), "this process's own temporary file stays");
    assert_eq!(
        s.get("snapshot/1").await.unwrap(),
        Bytes::from_static(b"blob")
    );
}

/// Reading the watched file (consumers do, and so do the watch's own polls) is not a
/// change: before this was fixed every read woke the watch, and a follower that read the
/// announcement on every wake-up spun.
#[tokio::test]
async fn reading_the_watched_file_does_not_wake_the_watch() {
    let s = store("watch-reads");
    s.put("announced", Bytes::from_static(b"1")).await.unwrap();
    let mut watch = s.watch("announced").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let before = watch.wakeups();
    for _ in 0..20 {
        s.get("announced").await.unwrap();
        s.get_tagged("announced").await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(watch.wakeups(), before, "reads woke the watch");
    s.put("announced", Bytes::from_static(b"2")).await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), watch.changed())
        .await
        .expect("a write wakes the watch");
}
