//! The store a soak runs against, a folder or an S3 prefix, and how its requests are
//! counted: on S3 every HTTP attempt by kind ([`S3Store::requests`]); on a folder, the calls
//! that went through the [`FaultyStore`] wrapper, by the kind S3 would bill them (the
//! folder's watch uses file-system events and costs nothing).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use shoal_store::{BlobStore, FaultyStore, FsStore, RequestCounts, S3Config, S3Store, StoreOp};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Requests by kind, as reports carry them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requests {
    /// Object reads.
    pub get: u64,
    /// HEADs (S3 watch polls).
    pub head: u64,
    /// Listings.
    pub list: u64,
    /// Writes.
    pub put: u64,
    /// Deletes.
    pub delete: u64,
}

impl Requests {
    /// `self + other`, kind by kind.
    pub fn add(&mut self, other: &Requests) {
        self.get += other.get;
        self.head += other.head;
        self.list += other.list;
        self.put += other.put;
        self.delete += other.delete;
    }
}

impl From<RequestCounts> for Requests {
    fn from(c: RequestCounts) -> Self {
        Requests {
            get: c.get,
            head: c.head,
            list: c.list,
            put: c.put,
            delete: c.delete,
        }
    }
}

/// A store as opened, keeping the concrete S3 store for its request counts.
#[derive(Debug, Clone)]
pub enum Opened {
    /// A local folder.
    Folder(Arc<FsStore>),
    /// An S3 prefix.
    S3(Arc<S3Store>),
}

impl Opened {
    /// The store to hand to a producer or a consumer.
    pub fn store(&self) -> Arc<dyn BlobStore> {
        match self {
            Opened::Folder(s) => s.clone(),
            Opened::S3(s) => s.clone(),
        }
    }

    /// The requests sent so far: S3's own count, else the calls `faulty` passed on.
    pub fn requests(&self, faulty: Option<&FaultyStore>) -> Requests {
        match (self, faulty) {
            (Opened::S3(s), _) => s.requests().into(),
            (Opened::Folder(_), Some(f)) => calls(f),
            (Opened::Folder(_), None) => Requests::default(),
        }
    }

    /// How requests are counted, for the report.
    pub fn counted_by(&self) -> &'static str {
        match self {
            Opened::S3(_) => "S3 HTTP requests (every attempt)",
            Opened::Folder(_) => "folder store: FaultyStore calls, by the kind S3 would bill",
        }
    }
}

fn calls(f: &FaultyStore) -> Requests {
    let sum = |ops: &[StoreOp]| ops.iter().map(|op| f.calls(*op)).sum();
    Requests {
        get: sum(&[
            StoreOp::Get,
            StoreOp::GetToFile,
            StoreOp::GetRange,
            StoreOp::GetTagged,
        ]),
        head: sum(&[StoreOp::Head]),
        list: sum(&[StoreOp::List]),
        put: sum(&[StoreOp::Put, StoreOp::PutFile, StoreOp::PutIf]),
        delete: sum(&[StoreOp::Delete]),
    }
}

/// Opens `location`: `s3://bucket/prefix` (at `endpoint`, creating the bucket if missing),
/// else a folder. `poll` is how often a watch polls.
pub async fn open(
    location: &str,
    endpoint: Option<&str>,
    poll: Duration,
) -> Result<Opened, BoxError> {
    if !location.starts_with("s3://") {
        let fs = FsStore::new(location)?.with_poll_interval(poll.max(Duration::from_millis(100)));
        return Ok(Opened::Folder(Arc::new(fs)));
    }
    let mut config = S3Config::from_env(location)?;
    if let Some(url) = endpoint {
        config.endpoint_url = Some(url.to_string());
        config.force_path_style = true;
    }
    if config.region.is_none() {
        config.region = Some("us-east-1".into());
    }
    if let (Ok(id), Ok(secret)) = (
        std::env::var("AWS_ACCESS_KEY_ID"),
        std::env::var("AWS_SECRET_ACCESS_KEY"),
    ) {
        config.credentials = Some((id, secret));
    }
    config.poll_interval = poll;
    let s3 = S3Store::connect(config).await?;
    s3.create_bucket_if_missing().await?;
    Ok(Opened::S3(Arc::new(s3)))
}
