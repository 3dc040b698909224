//! [`S3Store`]: blobs as objects under one prefix of an S3 bucket (AWS or any S3-compatible
//! server), through aws-sdk-s3. Owns the S3 side of the [`BlobStore`] promises, and
//! [`S3Config`], which says where the store is and how it talks to the service.
//!
//! Decisions:
//!
//! - **Keys** are `<prefix>/<key>` (just `<key>` under an empty prefix); every key is checked
//!   with [`check_key`], so a store never reads or writes outside its prefix, and
//!   [`BlobStore::list`] returns keys relative to the prefix, sorted, dropping objects whose
//!   relative key a store could not have written.
//! - **Checksums.** Every put records the blob's CRC-32C (8 hex digits) and length in the
//!   object's user metadata (`x-amz-meta-shoal-crc32c`, `x-amz-meta-shoal-length`). Every get
//!   streams the body, computes the CRC-32C and compares length (with `Content-Length` and the
//!   recorded length) and checksum: a mismatch is [`Error::Corrupt`]. An object without the
//!   metadata (put by another tool) is checked for length only. Listing cannot see metadata,
//!   so listed blobs have no `crc32c`; [`BlobStore::head`] has it.
//! - **Large blobs** (longer than one part, [`S3Config::part_size`], 8 MiB by default, at
//!   least 5 MiB, grown so no blob needs more than S3's 10,000 parts) go up as multipart
//!   uploads, [`S3Config::upload_concurrency`] parts at a time (4 by default: one
//!   connection rarely fills the link to S3), and the upload is aborted on any failure so no
//!   orphaned parts are billed. [`BlobStore::put_file`] holds only the parts in flight in
//!   memory, never the file: a first pass over the file computes the checksum (it must be in
//!   the metadata before the first byte is sent), the second uploads, and if the bytes sent
//!   do not have that checksum (the file changed meanwhile) the upload is aborted.
//! - **Downloads to a file** go to a hidden temporary file beside the destination, are
//!   checked, fsynced and renamed into place only when whole and right; the temporary file is
//!   removed on any error.
//! - **Conditional puts** use `If-None-Match: *` and `If-Match: <etag>`; HTTP 412 (and 409
//!   `ConditionalRequestConflict`, a concurrent conditional write) are
//!   [`Error::PreconditionFailed`], and so is a 404 on `If-Match` (nothing left to match).
//!   A [`Tag`] is the object's ETag, quotes included. Conditional puts are always single
//!   requests (they hold control objects, not data).
//! - **Watching** polls the ETag with `HEAD` every [`S3Config::poll_interval`] (5 s by
//!   default): S3 has no change notification a library can rely on.
//! - **Retries**: the SDK's standard retry strategy (exponential backoff with jitter on
//!   throttling, 5xx, timeouts and dropped connections) with [`S3Config::max_attempts`]
//!   attempts. The SDK's stalled-stream protection ends a download or upload that stops
//!   moving.
//! - **Errors**: a 404 of the object is [`Error::NotFound`]; everything else that the service
//!   or the network says is [`Error::Remote`] with the HTTP status, the service's error code
//!   and message and, for common mistakes (credentials, region, missing bucket, nothing
//!   listening), what to check.
//! - **Credentials**: static ones from [`S3Config::credentials`], else the standard AWS chain
//!   (environment, profile, SSO, web identity, instance metadata) through aws-config. With
//!   static credentials nothing is looked up, so connecting needs no network.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_sdk_s3::error::BoxError;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::upload_part::UploadPartError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CompletedMultipartUpload, CompletedPart, CreateBucketConfiguration,
};
use aws_sdk_s3::Client;
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWrite, AsyncWriteExt};

use crate::requests::{RequestCounter, RequestCounts};
use crate::temp::temp_path;
use crate::watch::Watch;
use crate::{check_key, checksum, BlobInfo, BlobStore, Condition, Error, Result, Tag};

/// The smallest part S3 accepts in a multipart upload (all but the last part).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;
/// The most parts one multipart upload may have.
const MAX_PARTS: u64 = 10_000;
/// User metadata holding the blob's CRC-32C, 8 lowercase hex digits.
const META_CRC32C: &str = "shoal-crc32c";
/// User metadata holding the blob's length in bytes.
const META_LENGTH: &str = "shoal-length";
/// Buffer of a download written to a local file.
const WRITE_BUFFER: usize = 1 << 20;
/// The region used when none is configured or found (S3-compatible servers accept it).
const FALLBACK_REGION: &str = "us-east-1";

/// Where an [`S3Store`] is and how it talks to the service.
///
/// Start from [`S3Config::new`], [`S3Config::from_url`] or [`S3Config::from_env`] and set
/// fields; the defaults suit AWS.
#[derive(Clone)]
#[non_exhaustive]
pub struct S3Config {
    /// The bucket.
    pub bucket: String,
    /// The key prefix every blob of this store lives under (no leading or trailing `/`;
    /// empty for the whole bucket).
    pub prefix: String,
    /// A custom endpoint (an S3-compatible server, `http://127.0.0.1:9000`); `None` for AWS.
    pub endpoint_url: Option<String>,
    /// The region; `None` to use the standard chain (`AWS_REGION`, the profile), falling
    /// back to `us-east-1`.
    pub region: Option<String>,
    /// Address buckets as `endpoint/bucket/key` rather than `bucket.endpoint/key`; most
    /// S3-compatible servers need it.
    pub force_path_style: bool,
    /// A static access key id and secret access key; `None` to use the standard AWS
    /// credential chain.
    pub credentials: Option<(String, String)>,
    /// How often a [`Watch`] polls the watched object's ETag (default 5 s).
    pub poll_interval: Duration,
    /// Multipart part size in bytes (default 8 MiB; raised to at least [`MIN_PART_SIZE`]).
    /// Blobs longer than one part are uploaded in parts.
    pub part_size: usize,
    /// Parts of one multipart upload sent at the same time (default 4; at least 1). An
    /// upload holds this many parts in memory.
    pub upload_concurrency: usize,
    /// Keys per `ListObjectsV2` page (`max-keys`); `None` for the service's default (1000).
    pub list_page_size: Option<i32>,
    /// Attempts per request, the first included, for errors worth retrying (throttling,
    /// 5xx, timeouts, dropped connections), with exponential backoff (default 3).
    pub max_attempts: u32,
    /// How long to wait for a TCP (and TLS) connection before the attempt fails (default
    /// 3 s).
    pub connect_timeout: Duration,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint_url", &self.endpoint_url)
            .field("region", &self.region)
            .field("force_path_style", &self.force_path_style)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|(id, _)| (id, "<secret>")),
            )
            .field("poll_interval", &self.poll_interval)
            .field("part_size", &self.part_size)
            .field("upload_concurrency", &self.upload_concurrency)
            .field("list_page_size", &self.list_page_size)
            .field("max_attempts", &self.max_attempts)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

impl S3Config {
    /// A store in `bucket` under `prefix` (leading and trailing `/` are dropped), with the
    /// defaults: AWS, region and credentials from the standard chain.
    pub fn new(bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        let prefix: String = prefix.into();
        S3Config {
            bucket: bucket.into(),
            prefix: prefix.trim_matches('/').to_string(),
            endpoint_url: None,
            region: None,
            force_path_style: false,
            credentials: None,
            poll_interval: Duration::from_secs(5),
            part_size: 8 * 1024 * 1024,
            upload_concurrency: 4,
            list_page_size: None,
            max_attempts: 3,
            connect_timeout: Duration::from_secs(3),
        }
    }

    /// Parses `s3://bucket/prefix` (the prefix may be empty or have several segments).
    pub fn from_url(url: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidAddress {
            address: url.to_string(),
            reason: reason.to_string(),
        };
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| bad("expected s3://bucket/prefix"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        check_bucket(bucket).map_err(|reason| bad(&reason))?;
        let config = S3Config::new(bucket, prefix);
        check_prefix(&config.prefix).map_err(|reason| bad(&reason))?;
        Ok(config)
    }

    /// [`S3Config::from_url`], then [`S3Config::with_env_defaults`]: what a command-line tool
    /// wants.
    pub fn from_env(url: &str) -> Result<Self> {
        Ok(S3Config::from_url(url)?.with_env_defaults())
    }

    /// Fills what is unset from the environment: the endpoint from `AWS_ENDPOINT_URL_S3` or
    /// `AWS_ENDPOINT_URL` (and then path-style addressing, which S3-compatible servers want),
    /// the region from `AWS_REGION` or `AWS_DEFAULT_REGION`.
    pub fn with_env_defaults(mut self) -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if self.endpoint_url.is_none() {
            self.endpoint_url = var("AWS_ENDPOINT_URL_S3").or_else(|| var("AWS_ENDPOINT_URL"));
            if self.endpoint_url.is_some() {
                self.force_path_style = true;
            }
        }
        if self.region.is_none() {
            self.region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION"));
        }
        self
    }

    /// `s3://bucket/prefix` (`s3://bucket` for an empty prefix).
    pub fn location(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// A bucket name S3 could hold: 1 to 63 of `a-z 0-9 . - _` (lenient: S3-compatible servers
/// differ in the finer rules; the service has the last word).
fn check_bucket(bucket: &str) -> std::result::Result<(), String> {
    if bucket.is_empty() {
        return Err("no bucket name".into());
    }
    if bucket.len() > 63 {
        return Err("a bucket name has at most 63 characters".into());
    }
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b);
    if !bucket.bytes().all(allowed) {
        return Err(format!(
            "bucket `{bucket}`: only lowercase letters, digits, `-`, `.` and `_` are allowed"
        ));
    }
    Ok(())
}

/// A prefix must itself be a valid key (or empty).
fn check_prefix(prefix: &str) -> std::result::Result<(), String> {
    if prefix.is_empty() {
        return Ok(());
    }
    check_key(prefix).map_err(|e| match e {
        Error::InvalidKey { reason, .. } => format!("prefix `{prefix}`: {reason}"),
        other => other.to_string(),
    })
}

/// A blob store in an S3 bucket, under a prefix. Cheap to clone (the client and the
/// configuration are shared).
#[derive(Clone)]
pub struct S3Store {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    config: S3Config,
    /// Every HTTP request sent, by kind.
    requests: Arc<RequestCounter>,
    /// `prefix/`, or empty: what every full key starts with.
    root: String,
    /// Where requests go, for messages.
    endpoint: String,
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store")
            .field("location", &self.inner.config.location())
            .field("endpoint", &self.inner.endpoint)
            .finish()
    }
}

impl S3Store {
    /// A store for `config`. With static credentials this makes no request; otherwise it
    /// resolves the standard AWS chain first. Nothing is checked remotely: the first request
    /// says whether the bucket is there and the credentials are good.
    pub async fn connect(config: S3Config) -> Result<Self> {
        let mut config = config;
        config.prefix = config.prefix.trim_matches('/').to_string();
        let address = config.location();
        let invalid = |reason: String| Error::InvalidAddress {
            address: address.clone(),
            reason,
        };
        check_bucket(&config.bucket).map_err(invalid)?;
        check_prefix(&config.prefix).map_err(invalid)?;
        config.part_size = config.part_size.max(MIN_PART_SIZE);

        let requests = Arc::new(RequestCounter::default());
        let client = Client::from_conf(sdk_config(&config, requests.clone()).await);
        let root = if config.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", config.prefix)
        };
        let endpoint = config
            .endpoint_url
            .clone()
            .unwrap_or_else(|| "AWS S3".to_string());
        Ok(S3Store {
            inner: Arc::new(Inner {
                client,
                config,
                requests,
                root,
                endpoint,
            }),
        })
    }

    /// The HTTP requests this store sent so far, by kind (every attempt, retries included).
    pub fn requests(&self) -> RequestCounts {
        self.inner.requests.counts()
    }

    /// The configuration the store was made with (the part size as used).
    pub fn config(&self) -> &S3Config {
        &self.inner.config
    }

    /// The SDK client, for what the store does not do (tests write raw objects with it).
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The object key of `key`: `<prefix>/<key>`. Checks the key.
    pub fn object_key(&self, key: &str) -> Result<String> {
        check_key(key)?;
        Ok(format!("{}{key}", self.inner.root))
    }

    /// Creates the bucket unless it exists (for tests and the CLI's setup; a production
    /// bucket is made by whoever owns the account).
    pub async fn create_bucket_if_missing(&self) -> Result<()> {
        let bucket = &self.inner.config.bucket;
        let head = self.inner.client.head_bucket().bucket(bucket).send().await;
        match head {
            Ok(_) => return Ok(()),
            Err(e) if status_of(&e) == Some(404) => {}
            Err(e) => return Err(self.sdk_error("check bucket", "", e)),
        }
        let mut create = self.inner.client.create_bucket().bucket(bucket);
        let region = self.inner.client.config().region().map(|r| r.to_string());
        if let Some(region) = region.filter(|r| r != FALLBACK_REGION) {
            let constraint = BucketLocationConstraint::from(region.as_str());
            create = create.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(constraint)
                    .build(),
            );
        }
        match create.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("BucketAlreadyOwnedByYou") => Ok(()),
            Err(e) => Err(self.sdk_error("create bucket", "", e)),
        }
    }

    fn location(&self) -> String {
        self.inner.config.location()
    }

    fn not_found(&self, key: &str) -> Error {
        Error::NotFound {
            location: self.location(),
            key: key.to_string(),
        }
    }

    fn precondition_failed(&self, key: &str) -> Error {
        Error::PreconditionFailed {
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

    fn remote(&self, op: &'static str, key: &str, message: String) -> Error {
        Error::Remote {
            location: self.location(),
            op,
            key: key.to_string(),
            message,
        }
    }

    /// Maps an SDK error: the object's 404 to [`Error::NotFound`], 412 and 409
    /// `ConditionalRequestConflict` to [`Error::PreconditionFailed`], the rest to
    /// [`Error::Remote`] with a message a person can act on.
    fn sdk_error<E>(&self, op: &'static str, key: &str, err: SdkError<E>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let status = status_of(&err);
        match (status, err.code()) {
            (Some(404), None | Some("NoSuchKey" | "NotFound")) => self.not_found(key),
            (Some(412), _) | (Some(409), Some("ConditionalRequestConflict")) => {
                self.precondition_failed(key)
            }
            _ => self.remote(op, key, self.describe(&err)),
        }
    }

    /// What went wrong, in words: the HTTP status, the service's code and message, and a
    /// hint for the usual mistakes; or the transport's error chain.
    fn describe<E>(&self, err: &SdkError<E>) -> String
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let endpoint = &self.inner.endpoint;
        let attempts = self.inner.config.max_attempts;
        match err {
            SdkError::ServiceError(_) | SdkError::ResponseError(_) => {
                let status =
                    status_of(err).map_or("no status".to_string(), |s| format!("HTTP {s}"));
                let code = err.code().unwrap_or("no error code");
                let mut text = format!("{status} {code}");
                if let Some(message) = err.message().filter(|m| !m.is_empty()) {
                    text.push_str(&format!(": {message}"));
                }
                if let Some(hint) = hint(status_of(err), err.code()) {
                    text.push_str(&format!(" ({hint})"));
                }
                text
            }
            SdkError::DispatchFailure(_) => format!(
                "cannot reach {endpoint} after {attempts} attempt(s): {} (is the server \
                 running and the endpoint right?)",
                error_chain(err)
            ),
            SdkError::TimeoutError(_) => format!(
                "timed out talking to {endpoint} after {attempts} attempt(s): {}",
                error_chain(err)
            ),
            _ => error_chain(err),
        }
    }

    /// `HEAD` of `key`: `None` if there is no such object.
    async fn head_object(
        &self,
        key: &str,
    ) -> Result<Option<aws_sdk_s3::operation::head_object::HeadObjectOutput>> {
        let object = self.object_key(key)?;
        let head = self
            .inner
            .client
            .head_object()
            .bucket(&self.inner.config.bucket)
            .key(object)
            .send()
            .await;
        match head {
            Ok(out) => Ok(Some(out)),
            Err(e) => match self.sdk_error("head", key, e) {
                Error::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    /// What the metadata of `key` records: (length, CRC-32C), each if present.
    fn recorded(
        &self,
        key: &str,
        metadata: Option<&std::collections::HashMap<String, String>>,
    ) -> Result<(Option<u64>, Option<u32>)> {
        let Some(metadata) = metadata else {
            return Ok((None, None));
        };
        let length = match metadata.get(META_LENGTH) {
            None => None,
            Some(v) => Some(
                v.parse::<u64>()
                    .map_err(|_| self.corrupt(key, format!("unreadable length metadata {v:?}")))?,
            ),
        };
        let crc =
            match metadata.get(META_CRC32C) {
                None => None,
                Some(v) => Some(parse_crc(v).ok_or_else(|| {
                    self.corrupt(key, format!("unreadable checksum metadata {v:?}"))
                })?),
            };
        Ok((length, crc))
    }

    /// `GET` of `key`, streamed into `out` (named `out_name` in errors), with length and
    /// checksum checked. Returns what was read and the object's ETag.
    async fn read_checked<W>(
        &self,
        op: &'static str,
        key: &str,
        out: &mut W,
        out_name: &Path,
    ) -> Result<(BlobInfo, Option<String>)>
    where
        W: AsyncWrite + Unpin + Send,
    {
        let object = self.object_key(key)?;
        let response = self
            .inner
            .client
            .get_object()
            .bucket(&self.inner.config.bucket)
            .key(object)
            .send()
            .await
            .map_err(|e| self.sdk_error(op, key, e))?;
        let (recorded_len, recorded_crc) = self.recorded(key, response.metadata())?;
        let content_length = response
            .content_length()
            .and_then(|l| u64::try_from(l).ok());
        let modified = response.last_modified().and_then(to_system_time);
        let etag = response.e_tag().map(str::to_string);
        let mut body = response.body;
        let (mut len, mut crc) = (0u64, 0u32);
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| self.remote(op, key, format!("reading the body: {}", error_chain(&e))))?
        {
            crc = crc32c::crc32c_append(crc, &chunk);
            len += chunk.len() as u64;
            out.write_all(&chunk)
                .await
                .map_err(|e| Error::io("write", out_name, e))?;
        }
        if let Some(want) = content_length.filter(|&want| want != len) {
            return Err(self.corrupt(key, format!("{len} bytes received, {want} were sent")));
        }
        if let Some(want) = recorded_len.filter(|&want| want != len) {
            return Err(self.corrupt(key, format!("{len} bytes, {want} were stored")));
        }
        if let Some(want) = recorded_crc.filter(|&want| want != crc) {
            return Err(self.corrupt(key, format!("CRC-32C {crc:08x}, {want:08x} was stored")));
        }
        let info = BlobInfo {
            key: key.to_string(),
            size: len,
            crc32c: Some(crc),
            modified,
        };
        Ok((info, etag))
    }

    /// `GET` of the whole of `key` into memory, checked.
    async fn read_to_memory(&self, op: &'static str, key: &str) -> Result<(Bytes, Option<String>)> {
        let mut out = Vec::new();
        let (_, etag) = self
            .read_checked(op, key, &mut out, Path::new("memory"))
            .await?;
        Ok((Bytes::from(out), etag))
    }

    /// Puts a blob of `size` bytes with checksum `crc` from `source`: one request if it fits
    /// in a part, a multipart upload otherwise.
    async fn upload(
        &self,
        op: &'static str,
        key: &str,
        size: u64,
        crc: u32,
        mut source: Source,
    ) -> Result<BlobInfo> {
        let object = self.object_key(key)?;
        let part_size = part_size_for(size, self.inner.config.part_size);
        if size <= part_size {
            let data = source.read(0..size).await?;
            self.put_object(op, key, &object, data, crc, None).await?;
        } else {
            self.multipart(op, key, &object, size, crc, part_size, &mut source)
                .await?;
        }
        Ok(BlobInfo {
            key: key.to_string(),
            size,
            crc32c: Some(crc),
            modified: Some(SystemTime::now()),
        })
    }

    /// One `PutObject` with the checksum metadata and an optional condition; returns the
    /// ETag.
    async fn put_object(
        &self,
        op: &'static str,
        key: &str,
        object: &str,
        data: Bytes,
        crc: u32,
        condition: Option<&Condition>,
    ) -> Result<Option<String>> {
        let len = data.len();
        let mut request = self
            .inner
            .client
            .put_object()
            .bucket(&self.inner.config.bucket)
            .key(object)
            .content_type("application/octet-stream")
            .metadata(META_CRC32C, format!("{crc:08x}"))
            .metadata(META_LENGTH, len.to_string())
            .body(ByteStream::from(data));
        request = match condition {
            None => request,
            Some(Condition::IfAbsent) => request.if_none_match("*"),
            Some(Condition::IfMatch(tag)) => request.if_match(&tag.0),
        };
        match request.send().await {
            Ok(out) => Ok(out.e_tag().map(str::to_string)),
            // If-Match on a missing object: nothing left to match.
            Err(e) => match self.sdk_error(op, key, e) {
                Error::NotFound { .. } if condition.is_some() => Err(self.precondition_failed(key)),
                other => Err(other),
            },
        }
    }

    /// A multipart upload of `size` bytes in parts of `part_size`, aborted on any failure.
    #[allow(clippy::too_many_arguments)]
    async fn multipart(
        &self,
        op: &'static str,
        key: &str,
        object: &str,
        size: u64,
        crc: u32,
        part_size: u64,
        source: &mut Source,
    ) -> Result<()> {
        let bucket = &self.inner.config.bucket;
        let created = self
            .inner
            .client
            .create_multipart_upload()
            .bucket(bucket)
            .key(object)
            .content_type("application/octet-stream")
            .metadata(META_CRC32C, format!("{crc:08x}"))
            .metadata(META_LENGTH, size.to_string())
            .send()
            .await
            .map_err(|e| self.sdk_error(op, key, e))?;
        let upload = Multipart {
            op,
            key,
            object,
            upload_id: created
                .upload_id()
                .ok_or_else(|| self.remote(op, key, "the service gave no upload id".into()))?,
            size,
            crc,
            part_size,
        };
        let result = self.upload_parts(&upload, source).await;
        if result.is_err() {
            self.abort(&upload).await;
        }
        result
    }

    /// Aborts a multipart upload, so its parts are not kept (and billed).
    async fn abort(&self, upload: &Multipart<'_>) {
        let aborted = self
            .inner
            .client
            .abort_multipart_upload()
            .bucket(&self.inner.config.bucket)
            .key(upload.object)
            .upload_id(upload.upload_id)
            .send()
            .await;
        if let Err(e) = aborted {
            tracing::warn!(
                store = %self.location(), key = upload.key, upload_id = upload.upload_id,
                error = %self.describe(&e),
                "could not abort a failed multipart upload (a lifecycle rule cleans it up)"
            );
        }
    }

    /// The parts, up to [`S3Config::upload_concurrency`] at a time, and the completion of a
    /// multipart upload. The bytes read are checksummed again: if the source changed since
    /// its checksum was taken, the upload is not completed.
    async fn upload_parts(&self, upload: &Multipart<'_>, source: &mut Source) -> Result<()> {
        let (op, key) = (upload.op, upload.key);
        let concurrency = self.inner.config.upload_concurrency.max(1);
        let mut in_flight = tokio::task::JoinSet::new();
        let mut parts = Vec::new();
        let mut sent_crc = 0u32;
        let mut start = 0u64;
        let mut number = 0i32;
        while start < upload.size || !in_flight.is_empty() {
            while start < upload.size && in_flight.len() < concurrency {
                let end = (start + upload.part_size).min(upload.size);
                let data = source.read(start..end).await?;
                sent_crc = crc32c::crc32c_append(sent_crc, &data);
                number += 1;
                in_flight.spawn(self.upload_part(upload, number, data));
                start = end;
            }
            let Some(done) = in_flight.join_next().await else {
                break;
            };
            let part = done
                .map_err(|e| self.remote(op, key, format!("part upload task failed: {e}")))?
                .map_err(|e| self.sdk_error(op, key, e))?;
            parts.push(part);
        }
        if sent_crc != upload.crc {
            return Err(self.corrupt(
                key,
                format!(
                    "the source changed while it was uploaded (CRC-32C {sent_crc:08x}, \
                     {:08x} when the upload began); upload aborted",
                    upload.crc
                ),
            ));
        }
        parts.sort_by_key(|p| p.part_number());
        self.inner
            .client
            .complete_multipart_upload()
            .bucket(&self.inner.config.bucket)
            .key(upload.object)
            .upload_id(upload.upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| self.sdk_error(op, key, e))?;
        Ok(())
    }

    /// Uploads one part; a future of its own, so parts go up side by side.
    fn upload_part(
        &self,
        upload: &Multipart<'_>,
        number: i32,
        data: Bytes,
    ) -> impl std::future::Future<Output = Result<CompletedPart, SdkError<UploadPartError>>>
           + Send
           + 'static {
        let request = self
            .inner
            .client
            .upload_part()
            .bucket(&self.inner.config.bucket)
            .key(upload.object)
            .upload_id(upload.upload_id)
            .part_number(number)
            .body(ByteStream::from(data));
        async move {
            let uploaded = request.send().await?;
            Ok(CompletedPart::builder()
                .part_number(number)
                .set_e_tag(uploaded.e_tag().map(str::to_string))
                .build())
        }
    }

    /// Streams `key` into a temporary file beside `dest`, checks it, fsyncs it and renames it
    /// to `dest`.
    async fn download(&self, key: &str, dest: &Path, temp: &Path) -> Result<BlobInfo> {
        let file = tokio::fs::File::create(temp)
            .await
            .map_err(|e| Error::io("create", temp, e))?;
        let mut writer = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
        let (info, _) = self
            .read_checked("download", key, &mut writer, temp)
            .await?;
        writer
            .flush()
            .await
            .map_err(|e| Error::io("write", temp, e))?;
        let file = writer.into_inner();
        file.sync_all()
            .await
            .map_err(|e| Error::io("fsync", temp, e))?;
        drop(file);
        tokio::fs::rename(temp, dest)
            .await
            .map_err(|e| Error::io("rename", dest, e))?;
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            let dir = dir.to_path_buf();
            tokio::task::spawn_blocking(move || {
                std::fs::File::open(&dir)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| Error::io("fsync folder", &dir, e))
            })
            .await
            .map_err(|e| Error::io("fsync folder", dest, std::io::Error::other(e)))??;
        }
        Ok(info)
    }
}

/// One multipart upload under way.
struct Multipart<'a> {
    op: &'static str,
    key: &'a str,
    object: &'a str,
    upload_id: &'a str,
    size: u64,
    crc: u32,
    part_size: u64,
}

/// Where the bytes of an upload come from: memory, or a local file read one part at a time.
enum Source {
    Memory(Bytes),
    File(tokio::fs::File, PathBuf),
}

impl Source {
    /// Bytes `range` of the source.
    async fn read(&mut self, range: Range<u64>) -> Result<Bytes> {
        match self {
            Source::Memory(data) => Ok(data.slice(range.start as usize..range.end as usize)),
            Source::File(file, path) => {
                let len = usize::try_from(range.end - range.start).expect("a part fits in memory");
                file.seek(std::io::SeekFrom::Start(range.start))
                    .await
                    .map_err(|e| Error::io("seek", &*path, e))?;
                let mut buf = BytesMut::zeroed(len);
                file.read_exact(&mut buf)
                    .await
                    .map_err(|e| Error::io("read", &*path, e))?;
                Ok(buf.freeze())
            }
        }
    }
}

#[async_trait]
impl BlobStore for S3Store {
    fn location(&self) -> String {
        S3Store::location(self)
    }

    async fn put(&self, key: &str, data: Bytes) -> Result<BlobInfo> {
        check_key(key)?;
        let crc = checksum(&data);
        let size = data.len() as u64;
        self.upload("put", key, size, crc, Source::Memory(data))
            .await
    }

    async fn put_file(&self, key: &str, path: &Path) -> Result<BlobInfo> {
        check_key(key)?;
        let owned = path.to_path_buf();
        let (size, crc) = tokio::task::spawn_blocking(move || file_checksum(&owned))
            .await
            .map_err(|e| Error::io("read", path, std::io::Error::other(e)))??;
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| Error::io("open", path, e))?;
        let source = Source::File(file, path.to_path_buf());
        self.upload("put", key, size, crc, source).await
    }

    async fn put_if(&self, key: &str, data: Bytes, condition: Condition) -> Result<Tag> {
        let object = self.object_key(key)?;
        let crc = checksum(&data);
        let etag = self
            .put_object("conditional put", key, &object, data, crc, Some(&condition))
            .await?;
        let etag = etag.ok_or_else(|| {
            self.remote(
                "conditional put",
                key,
                "the service returned no ETag".into(),
            )
        })?;
        Ok(Tag(etag))
    }

    async fn get(&self, key: &str) -> Result<Bytes> {
        Ok(self.read_to_memory("get", key).await?.0)
    }

    async fn get_tagged(&self, key: &str) -> Result<Option<(Bytes, Tag)>> {
        match self.read_to_memory("get", key).await {
            Ok((bytes, Some(etag))) => Ok(Some((bytes, Tag(etag)))),
            Ok((_, None)) => Err(self.remote("get", key, "the service returned no ETag".into())),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn get_to_file(&self, key: &str, dest: &Path) -> Result<BlobInfo> {
        check_key(key)?;
        let temp = temp_path(dest);
        let result = self.download(key, dest, &temp).await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&temp).await;
        }
        result
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes> {
        let object = self.object_key(key)?;
        let outside = |size: Option<u64>| Error::InvalidKey {
            key: key.to_string(),
            reason: match size {
                Some(size) => format!("range {range:?} outside a blob of {size} bytes"),
                None => format!("range {range:?} outside the blob"),
            },
        };
        if range.start > range.end {
            return Err(outside(None));
        }
        if range.start == range.end {
            // HTTP cannot ask for no bytes; the object must still exist and be long enough.
            let head = self.head(key).await?.ok_or_else(|| self.not_found(key))?;
            if head.size < range.end {
                return Err(outside(Some(head.size)));
            }
            return Ok(Bytes::new());
        }
        let response = self
            .inner
            .client
            .get_object()
            .bucket(&self.inner.config.bucket)
            .key(object)
            .range(format!("bytes={}-{}", range.start, range.end - 1))
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) if status_of(&e) == Some(416) => return Err(outside(None)),
            Err(e) => return Err(self.sdk_error("get range", key, e)),
        };
        let total = response.content_range().and_then(range_total);
        let bytes = response
            .body
            .collect()
            .await
            .map_err(|e| {
                self.remote(
                    "get range",
                    key,
                    format!("reading the body: {}", error_chain(&e)),
                )
            })?
            .into_bytes();
        // S3 answers a range running past the end with the bytes it has.
        if bytes.len() as u64 != range.end - range.start {
            return Err(outside(total));
        }
        Ok(bytes)
    }

    async fn head(&self, key: &str) -> Result<Option<BlobInfo>> {
        let Some(head) = self.head_object(key).await? else {
            return Ok(None);
        };
        let (_, crc) = self.recorded(key, head.metadata())?;
        Ok(Some(BlobInfo {
            key: key.to_string(),
            size: head
                .content_length()
                .and_then(|l| u64::try_from(l).ok())
                .unwrap_or(0),
            crc32c: crc,
            modified: head.last_modified().and_then(to_system_time),
        }))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<BlobInfo>> {
        let root = &self.inner.root;
        let mut pages = self
            .inner
            .client
            .list_objects_v2()
            .bucket(&self.inner.config.bucket)
            .prefix(format!("{root}{prefix}"))
            .set_max_keys(self.inner.config.list_page_size)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.sdk_error("list", prefix, e))?;
            for object in page.contents() {
                let Some(key) = object.key().and_then(|k| k.strip_prefix(root.as_str())) else {
                    continue;
                };
                if check_key(key).is_err() {
                    continue;
                }
                out.push(BlobInfo {
                    key: key.to_string(),
                    size: object
                        .size()
                        .and_then(|s| u64::try_from(s).ok())
                        .unwrap_or(0),
                    crc32c: None,
                    modified: object.last_modified().and_then(to_system_time),
                });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let object = self.object_key(key)?;
        let deleted = self
            .inner
            .client
            .delete_object()
            .bucket(&self.inner.config.bucket)
            .key(object)
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e) => match self.sdk_error("delete", key, e) {
                Error::NotFound { .. } => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn watch(&self, key: &str) -> Result<Watch> {
        check_key(key)?;
        let store = self.clone();
        let key = key.to_string();
        let (watch, _notifier) = Watch::polling(self.inner.config.poll_interval, move || {
            let store = store.clone();
            let key = key.clone();
            async move {
                let head = store.head_object(&key).await?;
                Ok(head.map(|h| h.e_tag().unwrap_or_default().to_string()))
            }
        });
        Ok(watch)
    }
}

/// The SDK configuration for `config`: region, credentials, endpoint, retries, timeouts.
async fn sdk_config(config: &S3Config, requests: Arc<RequestCounter>) -> aws_sdk_s3::Config {
    let mut builder = match &config.credentials {
        Some((id, secret)) => aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .credentials_provider(Credentials::new(id, secret, None, None, "shoal-static"))
            .region(Region::new(
                config
                    .region
                    .clone()
                    .unwrap_or_else(|| FALLBACK_REGION.to_string()),
            )),
        None => {
            let mut loader = aws_config::defaults(BehaviorVersion::latest());
            if let Some(region) = &config.region {
                loader = loader.region(Region::new(region.clone()));
            }
            let shared = loader.load().await;
            let mut builder = aws_sdk_s3::config::Builder::from(&shared);
            if shared.region().is_none() {
                builder = builder.region(Region::new(FALLBACK_REGION));
            }
            builder
        }
    };
    if let Some(url) = &config.endpoint_url {
        builder = builder.endpoint_url(url);
    }
    builder
        .interceptor(CountRequests(requests))
        .force_path_style(config.force_path_style)
        .retry_config(RetryConfig::standard().with_max_attempts(config.max_attempts.max(1)))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(config.connect_timeout)
                .build(),
        )
        .build()
}

/// Counts every request the SDK transmits (each retry too) into the store's counter.
#[derive(Debug)]
struct CountRequests(Arc<RequestCounter>);

impl Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "shoal-count-requests"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        let request = context.request();
        self.0.record(request.method(), request.uri());
        Ok(())
    }
}

/// The part size for a blob of `size` bytes: the configured one, grown so the blob needs at
/// most 10,000 parts.
fn part_size_for(size: u64, configured: usize) -> u64 {
    (configured as u64).max(size.div_ceil(MAX_PARTS))
}

/// Length and CRC-32C of a local file, read in chunks.
fn file_checksum(path: &Path) -> Result<(u64, u32)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut buf = vec![0u8; WRITE_BUFFER];
    let (mut len, mut crc) = (0u64, 0u32);
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => return Ok((len, crc)),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("read", path, e)),
        };
        crc = crc32c::crc32c_append(crc, &buf[..n]);
        len += n as u64;
    }
}

fn parse_crc(text: &str) -> Option<u32> {
    (text.len() == 8)
        .then(|| u32::from_str_radix(text, 16).ok())
        .flatten()
}

/// The total length in a `Content-Range: bytes a-b/total` header.
fn range_total(content_range: &str) -> Option<u64> {
    content_range.rsplit_once('/')?.1.parse().ok()
}

fn status_of<E>(err: &SdkError<E>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

fn to_system_time(time: &aws_sdk_s3::primitives::DateTime) -> Option<SystemTime> {
    SystemTime::try_from(*time).ok()
}

/// What to check for the usual mistakes, by HTTP status and error code.
fn hint(status: Option<u16>, code: Option<&str>) -> Option<&'static str> {
    match (status, code) {
        (_, Some("NoSuchBucket")) => Some("the bucket does not exist: create it or fix the name"),
        (_, Some("InvalidAccessKeyId" | "SignatureDoesNotMatch")) => {
            Some("check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the profile)")
        }
        (Some(403), _) => Some("access denied: check the credentials and the bucket's policy"),
        (Some(301), _) | (_, Some("PermanentRedirect" | "AuthorizationHeaderMalformed")) => {
            Some("the bucket is in another region: set AWS_REGION to it")
        }
        (Some(503), _) | (_, Some("SlowDown")) => {
            Some("the service is throttling or unavailable; retries were exhausted")
        }
        (Some(500..=599), _) => Some("the service failed; retries were exhausted"),
        _ => None,
    }
}

/// An error and its sources, joined with `: `, without repeats.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_into_bucket_and_prefix() {
        let c = S3Config::from_url("s3://data/shoal/catalog/").unwrap();
        assert_eq!(
            (c.bucket.as_str(), c.prefix.as_str()),
            ("data", "shoal/catalog")
        );
        assert_eq!(c.location(), "s3://data/shoal/catalog");
        let c = S3Config::from_url("s3://data").unwrap();
        assert_eq!((c.bucket.as_str(), c.prefix.as_str()), ("data", ""));
        assert_eq!(c.location(), "s3://data");
        assert_eq!(S3Config::from_url("s3://data/").unwrap().prefix, "");
    }

    #[test]
    fn bad_urls_are_refused_with_a_reason() {
        for (url, reason) in [
            ("http://data/x", "expected s3://bucket/prefix"),
            ("data/x", "expected s3://bucket/prefix"),
            ("s3://", "no bucket name"),
            ("s3:///prefix", "no bucket name"),
            ("s3://Data/x", "only lowercase letters"),
            ("s3://data/a//b", "empty path segment"),
            ("s3://data/../b", "may not start with `.`"),
            ("s3://data/a b", "printable ASCII"),
        ] {
            match S3Config::from_url(url) {
                Err(Error::InvalidAddress {
                    address,
                    reason: got,
                }) => {
                    assert_eq!(address, url);
                    assert!(got.contains(reason), "{url}: {got}");
                }
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let mut c = S3Config::new("b", "p");
        c.credentials = Some(("AKIDEXAMPLE".into(), "very-secret".into()));
        let text = format!("{c:?}");
        assert!(
            text.contains("AKIDEXAMPLE") && !text.contains("very-secret"),
            "{text}"
        );
    }

    #[test]
    fn parts_grow_so_a_blob_needs_at_most_ten_thousand() {
        assert_eq!(part_size_for(1 << 20, MIN_PART_SIZE), MIN_PART_SIZE as u64);
        let huge = 200 * 1024 * 1024 * 1024u64;
        let part = part_size_for(huge, MIN_PART_SIZE);
        assert!(huge.div_ceil(part) <= MAX_PARTS);
    }

    #[test]
    fn checksum_metadata_is_eight_hex_digits() {
        assert_eq!(parse_crc("0000abcd"), Some(0xabcd));
        assert_eq!(parse_crc("abcd"), None);
        assert_eq!(parse_crc("xyz00000"), None);
        assert_eq!(range_total("bytes 3-4/5"), Some(5));
        assert_eq!(range_total("bytes 3-4/*"), None);
    }

    #[tokio::test]
    async fn object_keys_join_the_prefix_with_one_slash() {
        let mut config = S3Config::new("b", "/a/b/");
        config.credentials = Some(("id".into(), "secret".into()));
        let store = S3Store::connect(config.clone()).await.unwrap();
        assert_eq!(store.object_key("snapshot/1").unwrap(), "a/b/snapshot/1");
        assert!(matches!(
            store.object_key("../x"),
            Err(Error::InvalidKey { .. })
        ));
        config.prefix = String::new();
        let store = S3Store::connect(config).await.unwrap();
        assert_eq!(store.object_key("snapshot/1").unwrap(), "snapshot/1");
        assert_eq!(store.location(), "s3://b");
    }
}
