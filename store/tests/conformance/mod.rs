//! The conformance suite every `BlobStore` must pass: one function per promise of the trait,
//! run by `conformance_tests!` against a backend. `make(prefix)` gives a fresh store rooted at
//! `prefix` (a subfolder, or a key prefix in a bucket), so cases do not see each other.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use shoal_format::Version;
use shoal_store::{
    announce, announce_with, read_announced, set_pin, BlobName, BlobStore, Condition, Error, Tag,
    ANNOUNCED,
};

/// A backend under test: makes a fresh store for a prefix.
pub type Make = Box<dyn Fn(&str) -> Arc<dyn BlobStore> + Send + Sync>;

/// Deterministic pseudo-random bytes.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub async fn put_get_round_trip(store: Arc<dyn BlobStore>) {
    let data = Bytes::from(noise(100_000, 1));
    let info = store.put("snapshot/1", data.clone()).await.unwrap();
    assert_eq!(info.size, 100_000);
    assert_eq!(info.crc32c, Some(crc32c::crc32c(&data)));
    assert_eq!(store.get("snapshot/1").await.unwrap(), data);
    let head = store.head("snapshot/1").await.unwrap().expect("stored");
    assert_eq!((head.key.as_str(), head.size), ("snapshot/1", 100_000));
    assert_eq!(head.crc32c, Some(crc32c::crc32c(&data)));
    // Empty blobs are blobs too.
    store.put("empty", Bytes::new()).await.unwrap();
    assert_eq!(store.get("empty").await.unwrap(), Bytes::new());
}

pub async fn overwrite_replaces(store: Arc<dyn BlobStore>) {
    store.put("k", Bytes::from_static(b"first")).await.unwrap();
    store
        .put("k", Bytes::from_static(b"second, longer"))
        .await
        .unwrap();
    assert_eq!(&store.get("k").await.unwrap()[..], b"second, longer");
    let head = store.head("k").await.unwrap().unwrap();
    assert_eq!(head.size, 14);
}

/// Big enough for several multipart parts on S3 (5 MiB each).
pub async fn large_file_streams_both_ways(store: Arc<dyn BlobStore>) {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let data = noise(12 * 1024 * 1024 + 12_345, 2);
    std::fs::write(&source, &data).unwrap();
    let put = store.put_file("snapshot/9", &source).await.unwrap();
    assert_eq!(put.size, data.len() as u64);
    assert_eq!(put.crc32c, Some(crc32c::crc32c(&data)));

    let dest = dir.path().join("copy");
    let got = store.get_to_file("snapshot/9", &dest).await.unwrap();
    assert_eq!(got.size, data.len() as u64);
    assert!(std::fs::read(&dest).unwrap() == data, "copy differs");
    // The temporary download file is gone.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

pub async fn ranged_get(store: Arc<dyn BlobStore>) {
    let data = noise(10_000, 3);
    store
        .put("delta/1-2", Bytes::from(data.clone()))
        .await
        .unwrap();
    assert_eq!(
        &store.get_range("delta/1-2", 0..10).await.unwrap()[..],
        &data[..10]
    );
    assert_eq!(
        &store.get_range("delta/1-2", 9_000..10_000).await.unwrap()[..],
        &data[9_000..]
    );
    assert_eq!(
        &store.get_range("delta/1-2", 77..4_321).await.unwrap()[..],
        &data[77..4_321]
    );
    assert!(store.get_range("delta/1-2", 9_000..10_001).await.is_err());
    assert!(store
        .get_range("missing", 0..1)
        .await
        .unwrap_err()
        .is_not_found());
}

pub async fn missing_blobs(store: Arc<dyn BlobStore>) {
    let err = store.get("snapshot/404").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("snapshot/404"), "{err}");
    assert_eq!(store.head("snapshot/404").await.unwrap(), None);
    assert_eq!(store.get_tagged("snapshot/404").await.unwrap(), None);
    store.delete("snapshot/404").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    assert!(store
        .get_to_file("snapshot/404", &dest)
        .await
        .unwrap_err()
        .is_not_found());
    assert!(!dest.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no partial file left"
    );
    assert_eq!(read_announced(&*store).await.unwrap(), None);
}

pub async fn delete_removes(store: Arc<dyn BlobStore>) {
    store
        .put("snapshot/5", Bytes::from_static(b"x"))
        .await
        .unwrap();
    store.delete("snapshot/5").await.unwrap();
    assert_eq!(store.head("snapshot/5").await.unwrap(), None);
    assert!(store.list("").await.unwrap().is_empty());
}

pub async fn list_by_prefix_with_paging(store: Arc<dyn BlobStore>) {
    let mut expected = Vec::new();
    for v in 1..=12u64 {
        let names = [
            BlobName::Snapshot(Version(v)),
            BlobName::Delta(Version(v), Version(v + 1)),
            BlobName::Reverse(Version(v + 1), Version(v)),
        ];
        for name in names {
            store
                .put(&name.key(), Bytes::from(vec![v as u8; v as usize]))
                .await
                .unwrap();
            expected.push(name.key());
        }
    }
    store
        .put(ANNOUNCED, Bytes::from_static(b"12\n"))
        .await
        .unwrap();
    expected.push(ANNOUNCED.to_string());
    expected.sort();

    let all = store.list("").await.unwrap();
    let keys: Vec<_> = all.iter().map(|i| i.key.clone()).collect();
    assert_eq!(keys, expected);
    let snapshots = store.list("snapshot/").await.unwrap();
    assert_eq!(snapshots.len(), 12);
    assert!(snapshots.iter().all(|i| i.key.starts_with("snapshot/")));
    let s7 = snapshots.iter().find(|i| i.key == "snapshot/7").unwrap();
    assert_eq!(s7.size, 7);
    let ones = store.list("delta/1").await.unwrap();
    let keys: Vec<_> = ones.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        ["delta/1-2", "delta/10-11", "delta/11-12", "delta/12-13"]
    );
    assert!(store.list("nothing/").await.unwrap().is_empty());
}

pub async fn prefixes_are_isolated(make: &Make, base: &str) {
    let a = make(&format!("{base}/a"));
    let b = make(&format!("{base}/ab"));
    a.put("snapshot/1", Bytes::from_static(b"a")).await.unwrap();
    b.put("snapshot/1", Bytes::from_static(b"b")).await.unwrap();
    assert_eq!(&a.get("snapshot/1").await.unwrap()[..], b"a");
    assert_eq!(&b.get("snapshot/1").await.unwrap()[..], b"b");
    assert_eq!(a.list("").await.unwrap().len(), 1);
    assert_eq!(b.list("").await.unwrap().len(), 1);
    a.delete("snapshot/1").await.unwrap();
    assert_eq!(&b.get("snapshot/1").await.unwrap()[..], b"b");
}

pub async fn conditional_puts(store: Arc<dyn BlobStore>) {
    let t1 = store
        .put_if(
            "producer.lock",
            Bytes::from_static(b"one"),
            Condition::IfAbsent,
        )
        .await
        .unwrap();
    let err = store
        .put_if(
            "producer.lock",
            Bytes::from_static(b"two"),
            Condition::IfAbsent,
        )
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err}");
    let (bytes, tag) = store.get_tagged("producer.lock").await.unwrap().unwrap();
    assert_eq!((&bytes[..], &tag), (&b"one"[..], &t1));

    let t2 = store
        .put_if(
            "producer.lock",
            Bytes::from_static(b"three"),
            Condition::IfMatch(t1.clone()),
        )
        .await
        .unwrap();
    assert_ne!(t1, t2);
    let err = store
        .put_if(
            "producer.lock",
            Bytes::from_static(b"four"),
            Condition::IfMatch(t1),
        )
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err}");
    let err = store
        .put_if(
            "absent",
            Bytes::from_static(b"x"),
            Condition::IfMatch(Tag("\"nothing\"".into())),
        )
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err}");
    assert_eq!(
        &store.get_tagged("producer.lock").await.unwrap().unwrap().0[..],
        b"three"
    );
}

pub async fn racing_writers_one_wins(store: Arc<dyn BlobStore>) {
    let mut tasks = Vec::new();
    for i in 0..8u8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .put_if("race", Bytes::from(vec![i]), Condition::IfAbsent)
                .await
                .is_ok()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += t.await.unwrap() as u32;
    }
    assert_eq!(wins, 1);
}

pub async fn announcements(store: Arc<dyn BlobStore>) {
    assert_eq!(read_announced(&*store).await.unwrap(), None);
    let first = announce(&*store, Version(10), None).await.unwrap();
    assert_eq!(read_announced(&*store).await.unwrap().unwrap(), first);
    // A writer that did not see `first` cannot announce.
    let err = announce(&*store, Version(11), None).await.unwrap_err();
    assert!(err.is_precondition_failed(), "{err}");
    let second = announce(&*store, Version(11), Some(&first)).await.unwrap();
    assert_eq!(
        read_announced(&*store).await.unwrap().unwrap().version,
        Version(11)
    );
    let err = announce(&*store, Version(12), Some(&first))
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err}");
    assert_eq!(read_announced(&*store).await.unwrap().unwrap(), second);

    store
        .put(ANNOUNCED, Bytes::from_static(b"not a number"))
        .await
        .unwrap();
    let err = read_announced(&*store).await.unwrap_err();
    assert!(matches!(err, Error::BadAnnouncement { .. }), "{err}");
}

/// A pin holds the fleet on a version while the producer keeps announcing: the producer's
/// conditional announcement (made with the tag it saw before the pin) carries the pin over,
/// and unpinning keeps the producer's latest announcement.
pub async fn pins_survive_announcements(store: Arc<dyn BlobStore>) {
    let err = set_pin(&*store, Some(Version(1))).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let blobs = [(BlobName::Snapshot(Version(1)), 100)];
    let first = announce_with(&*store, Version(1), &blobs, None)
        .await
        .unwrap();
    assert_eq!(first.blobs, blobs);
    let second = announce(&*store, Version(2), Some(&first)).await.unwrap();
    let pinned = set_pin(&*store, Some(Version(1))).await.unwrap();
    assert_eq!(
        (pinned.version, pinned.pinned),
        (Version(2), Some(Version(1)))
    );
    assert_eq!(pinned.target(), Version(1));
    // The producer saw `second`, not the pin: its next announcement still lands, pinned.
    let delta = [(BlobName::Delta(Version(2), Version(3)), 7)];
    let third = announce_with(&*store, Version(3), &delta, Some(&second))
        .await
        .unwrap();
    assert_eq!(third.pinned, Some(Version(1)));
    let read = read_announced(&*store).await.unwrap().unwrap();
    assert_eq!(read, third);
    assert_eq!(read.target(), Version(1));
    // But a writer that missed an announcement is still refused.
    let err = announce(&*store, Version(3), Some(&second))
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err}");
    let unpinned = set_pin(&*store, None).await.unwrap();
    assert_eq!(
        (unpinned.version, unpinned.pinned, unpinned.blobs),
        (Version(3), None, delta.to_vec())
    );
    assert_eq!(
        read_announced(&*store).await.unwrap().unwrap().target(),
        Version(3)
    );
}

pub async fn watch_sees_announcements(store: Arc<dyn BlobStore>) {
    let mut watch = store.watch(ANNOUNCED).await.unwrap();
    // Give the watcher its first look before changing anything.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let a = announce(&*store, Version(1), None).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), watch.changed())
        .await
        .expect("the watch wakes after an announcement");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = watch.wakeups();
    announce(&*store, Version(2), Some(&a)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while watch.wakeups() == seen {
            watch.changed().await;
        }
    })
    .await
    .expect("the watch wakes after the second announcement");
    assert_eq!(
        read_announced(&*store).await.unwrap().unwrap().version,
        Version(2)
    );
}

pub async fn invalid_keys_are_refused(store: Arc<dyn BlobStore>) {
    for key in ["", "../escape", "/abs", "a//b", ".hidden", "a b"] {
        let err = store.put(key, Bytes::from_static(b"x")).await.unwrap_err();
        assert!(matches!(err, Error::InvalidKey { .. }), "{key:?}: {err}");
        assert!(matches!(
            store.get(key).await.unwrap_err(),
            Error::InvalidKey { .. }
        ));
    }
}

/// One `#[tokio::test]` per conformance case, for the backend that `$make` (an expression of
/// type `Make`) builds; `$base` names a fresh prefix per case.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr, $base:expr) => {
        $crate::conformance_tests!(@cases $make, $base;
            put_get_round_trip, overwrite_replaces, large_file_streams_both_ways, ranged_get,
            missing_blobs, delete_removes, list_by_prefix_with_paging, conditional_puts,
            racing_writers_one_wins, announcements, pins_survive_announcements,
            watch_sees_announcements,
            invalid_keys_are_refused);

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn prefixes_are_isolated() {
            let make: conformance::Make = $make;
            conformance::prefixes_are_isolated(&make, &$base("isolated")).await;
        }
    };
    (@cases $make:expr, $base:expr; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let make: conformance::Make = $make;
                conformance::$case(make(&$base(stringify!($case)))).await;
            }
        )*
    };
}
