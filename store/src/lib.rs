//! # shoal-store
//!
//! Where shoal's blobs live. This crate will own the `BlobStore` trait (put, get, list,
//! delete, and the announcement of the version consumers should be on), the blob names of
//! `../shared/DESIGN.md` (`snapshot/<v>`, `delta/<a>-<b>`, `reverse/<b>-<a>`, `announced`)
//! under a configurable prefix, a local-folder store watched with `notify`, and an S3 store.
//!
//! Nothing is implemented yet: the stores arrive with the issue that builds them, on top of
//! the blob format of `shoal-format`.
#![forbid(unsafe_code)]
