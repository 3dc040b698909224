//! [`FsStore`]: blobs as files under one folder (the prefix), laid out as DESIGN.md says:
//! `<root>/snapshot/<v>`, `<root>/delta/<a>-<b>`, `<root>/reverse/<b>-<a>`,
//! `<root>/announced`.
//!
//! - **Atomic writes.** A blob is written to a hidden temporary file beside its final name,
//!   fsynced, renamed over the final name, and the folder is fsynced: a crash leaves the old
//!   blob or the new one, never half of one. Temporary files a crashed writer leaves behind
//!   are invisible (every name starting with `.` belongs to the store).
//! - **Checksums.** Beside each data blob a hidden side file `.<name>.crc32c` records its
//!   length and CRC-32C, written before the blob is renamed into place; every get checks
//!   both. Control objects written with [`BlobStore::put_if`] (the announcement, the lock)
//!   have no side file: their tag is computed from their bytes.
//! - **Conditional writes** take an exclusive lock on `<root>/.lock` (an OS file lock, released
//!   by the kernel if the process dies), compare, then rename: one winner among processes on
//!   this machine. (Two machines sharing a network folder need S3 instead.)
//! - **Watching** uses `notify` on the folder of the watched file, plus polling.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use notify::Watcher;

use crate::temp::{sweep_temps, temp_path};
use crate::watch::Watch;
use crate::{check_key, BlobInfo, BlobStore, Condition, Error, Result, Tag};

/// How long a dead writer's temporary file is left alone (see [`sweep_temps`]).
const TEMP_GRACE: Duration = Duration::from_secs(60);

/// Copy buffer for streamed reads and writes.
const CHUNK: usize = 1 << 20;

/// A blob store in a local folder.
#[derive(Debug, Clone)]
pub struct FsStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    poll_interval: Duration,
}

impl FsStore {
    /// A store in the folder `root`, created if missing. Temporary files that writers
    /// killed mid-write left in it are removed (see [`sweep_temps`]).
    pub fn new(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|e| Error::io("create store folder", &root, e))?;
        sweep_temps(&root, TEMP_GRACE)?;
        Ok(FsStore {
            inner: Arc::new(Inner {
                root,
                poll_interval: Duration::from_secs(1),
            }),
        })
    }

    /// Sets how often a watch polls as a fallback to file-system events (default 1 s).
    pub fn with_poll_interval(self, interval: Duration) -> Self {
        FsStore {
            inner: Arc::new(Inner {
                root: self.inner.root.clone(),
                poll_interval: interval,
            }),
        }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The file of `key`.
    pub fn path_of(&self, key: &str) -> Result<PathBuf> {
        check_key(key)?;
        Ok(self.inner.root.join(key))
    }

    fn location(&self) -> String {
        self.inner.root.display().to_string()
    }

    fn not_found(&self, key: &str) -> Error {
        Error::NotFound {
            location: self.location(),
            key: key.to_string(),
        }
    }

    fn corrupt(&self, key: &str, detail: String) -> Error {
        Error::Corrupt {
            location: self.location(),
            key: key.to_string(),
            detail,
        }
    }

    /// Runs blocking file-system work off the async threads.
    async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(FsStore) -> Result<T> + Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || f(this))
            .await
            .map_err(|e| {
                Error::io(
                    "store task",
                    PathBuf::new(),
                    io::Error::other(e.to_string()),
                )
            })?
    }

    /// Writes `fill`'s bytes to `key` atomically, recording the checksum in a side file when
    /// `side` is set. Returns (length, crc).
    fn write_atomic(
        &self,
        key: &str,
        side: bool,
        fill: impl FnOnce(&mut dyn Write) -> Result<()>,
    ) -> Result<(u64, u32)> {
        let path = self.path_of(key)?;
        let dir = path
            .parent()
            .expect("a key has a parent folder")
            .to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| Error::io("create folder", &dir, e))?;
        let temp = temp_path(&path);
        let result = (|| {
            let file = File::create(&temp).map_err(|e| Error::io("create", &temp, e))?;
            let mut w = CrcWriter::new(io::BufWriter::with_capacity(CHUNK, file));
            fill(&mut w)?;
            let (len, crc) = (w.len, w.crc);
            let file = w
                .inner
                .into_inner()
                .map_err(|e| Error::io("write", &temp, e.into_error()))?;
            file.sync_all().map_err(|e| Error::io("fsync", &temp, e))?;
            if side {
                let side_path = side_path(&path);
                let side_temp = temp_path(&side_path);
                let mut f =
                    File::create(&side_temp).map_err(|e| Error::io("create", &side_temp, e))?;
                f.write_all(format!("len={len} crc32c={crc:08x}\n").as_bytes())
                    .and_then(|_| f.sync_all())
                    .map_err(|e| Error::io("write", &side_temp, e))?;
                fs::rename(&side_temp, &side_path)
                    .map_err(|e| Error::io("rename", &side_path, e))?;
            }
            fs::rename(&temp, &path).map_err(|e| Error::io("rename", &path, e))?;
            sync_dir(&dir)?;
            Ok((len, crc))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    /// The recorded (length, crc) of `key`, if it has a side file.
    fn recorded(&self, path: &Path, key: &str) -> Result<Option<(u64, u32)>> {
        let side = side_path(path);
        let text = match fs::read_to_string(&side) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", &side, e)),
        };
        parse_side(&text).map(Some).ok_or_else(|| {
            self.corrupt(key, format!("unreadable checksum file {}", side.display()))
        })
    }

    fn info(&self, key: &str, path: &Path) -> Result<Option<BlobInfo>> {
        let meta = match fs::metadata(path) {
            Ok(m) if m.is_file() => m,
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("stat", path, e)),
        };
        let recorded = self.recorded(path, key)?;
        Ok(Some(BlobInfo {
            key: key.to_string(),
            size: meta.len(),
            crc32c: recorded.map(|(_, c)| c),
            modified: meta.modified().ok(),
        }))
    }

    /// Streams `key` into `out`, checking length and checksum against the side file.
    fn read_checked(&self, key: &str, out: &mut dyn Write) -> Result<BlobInfo> {
        let path = self.path_of(key)?;
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(self.not_found(key)),
            Err(e) => return Err(Error::io("open", &path, e)),
        };
        let recorded = self.recorded(&path, key)?;
        let mut buf = vec![0u8; CHUNK];
        let (mut len, mut crc) = (0u64, 0u32);
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("read", &path, e)),
            };
            crc = crc32c::crc32c_append(crc, &buf[..n]);
            len += n as u64;
            out.write_all(&buf[..n])
                .map_err(|e| Error::io("write copy of", &path, e))?;
        }
        if let Some((want_len, want_crc)) = recorded {
            if len != want_len {
                return Err(self.corrupt(key, format!("{len} bytes, {want_len} were stored")));
            }
            if crc != want_crc {
                return Err(
                    self.corrupt(key, format!("CRC-32C {crc:08x}, {want_crc:08x} was stored"))
                );
            }
        }
        Ok(BlobInfo {
            key: key.to_string(),
            size: len,
            crc32c: Some(crc),
            modified: file.metadata().ok().and_then(|m| m.modified().ok()),
        })
    }

    fn lock_file(&self) -> Result<File> {
        let path = self.inner.root.join(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        file.lock().map_err(|e| Error::io("lock", &path, e))?;
        Ok(file)
    }

    fn list_sync(&self, prefix: &str) -> Result<Vec<BlobInfo>> {
        let mut out = Vec::new();
        let mut stack = vec![(self.inner.root.clone(), String::new())];
        while let Some((dir, rel)) = stack.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("list", &dir, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| Error::io("list", &dir, e))?;
                let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                if name.starts_with('.') {
                    continue;
                }
                let key = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                let file_type = entry
                    .file_type()
                    .map_err(|e| Error::io("stat", entry.path(), e))?;
                if file_type.is_dir() {
                    // Descend only where keys below can still match the prefix.
                    let below = format!("{key}/");
                    if below.starts_with(prefix) || prefix.starts_with(&below) {
                        stack.push((entry.path(), key));
                    }
                } else if key.starts_with(prefix) && check_key(&key).is_ok() {
                    if let Some(info) = self.info(&key, &entry.path())? {
                        out.push(info);
                    }
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }
}

#[async_trait]
impl BlobStore for FsStore {
    fn location(&self) -> String {
        FsStore::location(self)
    }

    async fn put(&self, key: &str, data: Bytes) -> Result<BlobInfo> {
        let key = key.to_string();
        self.blocking(move |s| {
            let (size, crc) = s.write_atomic(&key, true, |w| {
                w.write_all(&data)
                    .map_err(|e| Error::io("write", s.inner.root.join(&key), e))
            })?;
            Ok(BlobInfo {
                key,
                size,
                crc32c: Some(crc),
                modified: Some(std::time::SystemTime::now()),
            })
        })
        .await
    }

    async fn put_file(&self, key: &str, path: &Path) -> Result<BlobInfo> {
        let key = key.to_string();
        let source = path.to_path_buf();
        self.blocking(move |s| {
            let mut file = File::open(&source).map_err(|e| Error::io("open", &source, e))?;
            let (size, crc) = s.write_atomic(&key, true, |w| {
                io::copy(&mut file, w).map_err(|e| Error::io("copy", &source, e))?;
                Ok(())
            })?;
            Ok(BlobInfo {
                key,
                size,
                crc32c: Some(crc),
                modified: Some(std::time::SystemTime::now()),
            })
        })
        .await
    }

    async fn put_if(&self, key: &str, data: Bytes, condition: Condition) -> Result<Tag> {
        let key = key.to_string();
        self.blocking(move |s| {
            let path = s.path_of(&key)?;
            let _lock = s.lock_file()?;
            let current = match fs::read(&path) {
                Ok(bytes) => Some(tag_of(&bytes)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(Error::io("read", &path, e)),
            };
            let holds = match (&condition, &current) {
                (Condition::IfAbsent, None) => true,
                (Condition::IfMatch(want), Some(have)) => want == have,
                _ => false,
            };
            if !holds {
                return Err(Error::PreconditionFailed {
                    location: s.location(),
                    key,
                });
            }
            s.write_atomic(&key, false, |w| {
                w.write_all(&data).map_err(|e| Error::io("write", &path, e))
            })?;
            Ok(tag_of(&data))
        })
        .await
    }

    async fn get(&self, key: &str) -> Result<Bytes> {
        let key = key.to_string();
        self.blocking(move |s| {
            let mut out = Vec::new();
            s.read_checked(&key, &mut out)?;
            Ok(Bytes::from(out))
        })
        .await
    }

    async fn get_tagged(&self, key: &str) -> Result<Option<(Bytes, Tag)>> {
        let key = key.to_string();
        self.blocking(move |s| {
            let path = s.path_of(&key)?;
            match fs::read(&path) {
                Ok(bytes) => {
                    let tag = tag_of(&bytes);
                    Ok(Some((Bytes::from(bytes), tag)))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::io("read", &path, e)),
            }
        })
        .await
    }

    async fn get_to_file(&self, key: &str, dest: &Path) -> Result<BlobInfo> {
        let key = key.to_string();
        let dest = dest.to_path_buf();
        self.blocking(move |s| {
            let temp = temp_path(&dest);
            let result = (|| {
                let file = File::create(&temp).map_err(|e| Error::io("create", &temp, e))?;
                let mut w = io::BufWriter::with_capacity(CHUNK, file);
                let info = s.read_checked(&key, &mut w)?;
                let file = w
                    .into_inner()
                    .map_err(|e| Error::io("write", &temp, e.into_error()))?;
                file.sync_all().map_err(|e| Error::io("fsync", &temp, e))?;
                fs::rename(&temp, &dest).map_err(|e| Error::io("rename", &dest, e))?;
                if let Some(dir) = dest.parent() {
                    sync_dir(dir)?;
                }
                Ok(info)
            })();
            if result.is_err() {
                let _ = fs::remove_file(&temp);
            }
            result
        })
        .await
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes> {
        let key = key.to_string();
        self.blocking(move |s| {
            use std::io::Seek;
            let path = s.path_of(&key)?;
            let mut file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(s.not_found(&key)),
                Err(e) => return Err(Error::io("open", &path, e)),
            };
            let size = file
                .metadata()
                .map_err(|e| Error::io("stat", &path, e))?
                .len();
            if range.start > range.end || range.end > size {
                return Err(Error::InvalidKey {
                    key,
                    reason: format!("range {range:?} outside a blob of {size} bytes"),
                });
            }
            file.seek(io::SeekFrom::Start(range.start))
                .map_err(|e| Error::io("seek", &path, e))?;
            let mut out = vec![0u8; (range.end - range.start) as usize];
            file.read_exact(&mut out)
                .map_err(|e| Error::io("read", &path, e))?;
            Ok(Bytes::from(out))
        })
        .await
    }

    async fn head(&self, key: &str) -> Result<Option<BlobInfo>> {
        let key = key.to_string();
        self.blocking(move |s| {
            let path = s.path_of(&key)?;
            s.info(&key, &path)
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<BlobInfo>> {
        let prefix = prefix.to_string();
        self.blocking(move |s| s.list_sync(&prefix)).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let key = key.to_string();
        self.blocking(move |s| {
            let path = s.path_of(&key)?;
            let mut removed = false;
            for p in [path.clone(), side_path(&path)] {
                match fs::remove_file(&p) {
                    Ok(()) => removed = true,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io("delete", &p, e)),
                }
            }
            if removed {
                sync_dir(path.parent().expect("a key has a parent folder"))?;
            }
            Ok(())
        })
        .await
    }

    async fn watch(&self, key: &str) -> Result<Watch> {
        let path = self.path_of(key)?;
        let probe_path = path.clone();
        let (watch, notifier) = Watch::polling(self.inner.poll_interval, move || {
            let path = probe_path.clone();
            async move {
                tokio::task::spawn_blocking(move || fingerprint(&path))
                    .await
                    .unwrap_or(Ok(None))
            }
        });
        // File-system events on the folder of the file: a rename into place shows up there.
        let dir = path
            .parent()
            .expect("a key has a parent folder")
            .to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| Error::io("create folder", &dir, e))?;
        let file_name = path.file_name().map(|n| n.to_os_string());
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            // Only changes: reading the file (the consumer, this watch's own polls) makes
            // access events, which would otherwise wake the watcher in a loop.
            let event = event
                .ok()
                .filter(|e| !e.kind.is_access() && !e.kind.is_other());
            if let Some(event) = event {
                if event
                    .paths
                    .iter()
                    .any(|p| p.file_name().map(|n| n.to_os_string()) == file_name)
                {
                    notifier.notify();
                }
            }
        });
        match watcher {
            Ok(mut w) => match w.watch(&dir, notify::RecursiveMode::NonRecursive) {
                Ok(()) => Ok(watch.keep(Box::new(w))),
                Err(e) => {
                    tracing::warn!(folder = %dir.display(), error = %e, "no file-system events; polling only");
                    Ok(watch)
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "no file-system watcher; polling only");
                Ok(watch)
            }
        }
    }
}

/// What a poll compares: length, modification time and contents' checksum of small files.
fn fingerprint(path: &Path) -> Result<Option<String>> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("stat", path, e)),
    };
    let mut print = format!("{}:{:?}", meta.len(), meta.modified().ok());
    if meta.len() <= 4096 {
        let bytes = fs::read(path).map_err(|e| Error::io("read", path, e))?;
        print.push_str(&format!(":{:08x}", store_crc(&bytes)));
    }
    Ok(Some(print))
}

fn store_crc(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

/// The tag of a control object: its length and checksum.
fn tag_of(bytes: &[u8]) -> Tag {
    Tag(format!("{}-{:08x}", bytes.len(), store_crc(bytes)))
}

fn side_path(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("blob");
    path.with_file_name(format!(".{name}.crc32c"))
}

fn parse_side(text: &str) -> Option<(u64, u32)> {
    let mut len = None;
    let mut crc = None;
    for part in text.split_whitespace() {
        if let Some(v) = part.strip_prefix("len=") {
            len = v.parse().ok();
        } else if let Some(v) = part.strip_prefix("crc32c=") {
            crc = u32::from_str_radix(v, 16).ok();
        }
    }
    Some((len?, crc?))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("fsync folder", dir, e))
}

/// A writer that counts and checksums what passes through.
struct CrcWriter<W> {
    inner: W,
    len: u64,
    crc: u32,
}

impl<W> CrcWriter<W> {
    fn new(inner: W) -> Self {
        CrcWriter {
            inner,
            len: 0,
            crc: 0,
        }
    }
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc = crc32c::crc32c_append(self.crc, &buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
