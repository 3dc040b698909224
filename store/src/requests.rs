//! [`RequestCounts`]: requests a store sent to its service, by the kind a bill or a rate limit
//! counts them (S3 prices a LIST like a PUT, 12.5 times a GET, and limits GET/HEAD and
//! PUT/LIST/DELETE per prefix separately). The S3 store counts every HTTP attempt, retries
//! included, so a fleet's cost can be measured rather than guessed.

use std::sync::atomic::{AtomicU64, Ordering};

/// Requests by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// Object reads (`GET` of an object, ranged or whole).
    pub get: u64,
    /// `HEAD` of an object or a bucket.
    pub head: u64,
    /// Listings (`GET` with `list-type`, or of multipart uploads).
    pub list: u64,
    /// Writes: `PUT` and `POST` (single puts, multipart parts and their completion).
    pub put: u64,
    /// `DELETE`s.
    pub delete: u64,
}

impl RequestCounts {
    /// Every request.
    pub fn total(&self) -> u64 {
        self.get + self.head + self.list + self.put + self.delete
    }

    /// `self - earlier`, kind by kind.
    pub fn since(&self, earlier: &RequestCounts) -> RequestCounts {
        RequestCounts {
            get: self.get - earlier.get,
            head: self.head - earlier.head,
            list: self.list - earlier.list,
            put: self.put - earlier.put,
            delete: self.delete - earlier.delete,
        }
    }
}

/// Counts requests as they are sent (shared by a store and its transport hook).
#[derive(Debug, Default)]
pub(crate) struct RequestCounter {
    get: AtomicU64,
    head: AtomicU64,
    list: AtomicU64,
    put: AtomicU64,
    delete: AtomicU64,
}

impl RequestCounter {
    /// Counts one HTTP request by its method and URI.
    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    pub(crate) fn record(&self, method: &str, uri: &str) {
        let query = uri.split_once('?').map_or("", |(_, q)| q);
        let counter = match method {
            "HEAD" => &self.head,
            "GET" if query.contains("list-type=") || query.split('&').any(|p| p == "uploads") => {
                &self.list
            }
            "GET" => &self.get,
            "DELETE" => &self.delete,
            _ => &self.put,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far.
    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    pub(crate) fn counts(&self) -> RequestCounts {
        RequestCounts {
            get: self.get.load(Ordering::Relaxed),
            head: self.head.load(Ordering::Relaxed),
            list: self.list.load(Ordering::Relaxed),
            put: self.put.load(Ordering::Relaxed),
            delete: self.delete.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_the_kind_s3_bills() {
        let c = RequestCounter::default();
        c.record("GET", "http://h/b/p/snapshot/1");
        c.record("GET", "http://h/b/p/delta/1-2?x-id=GetObject");
        c.record("GET", "http://h/b?list-type=2&prefix=p%2F");
        c.record("HEAD", "http://h/b/p/announced");
        c.record("PUT", "http://h/b/p/announced");
        c.record("POST", "http://h/b/p/snapshot/2?uploads");
        c.record("DELETE", "http://h/b/p/delta/1-2");
        let n = c.counts();
        assert_eq!(
            n,
            RequestCounts {
                get: 2,
                head: 1,
                list: 1,
                put: 2,
                delete: 1
            }
        );
        assert_eq!(n.total(), 7);
        assert_eq!(n.since(&n), RequestCounts::default());
    }
}
