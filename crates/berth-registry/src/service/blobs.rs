//! Blobs in a repository: existence (link + data), ranged reads, deletion and cross-repository mounts.

use super::Registry;
use crate::errors::{ApiError, ErrorCode};
use crate::storage::{paths, ByteReader, StorageDriver, Write};
use berth_types::Digest;
use bytes::Bytes;

/// A `Range: bytes=…` request (RFC 9110 § 14.1.2), one range only as registries support.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=start-` or `bytes=start-end` (end inclusive).
    From(u64, Option<u64>),
    /// `bytes=-n`: the last n bytes.
    Suffix(u64),
}

impl ByteRange {
    /// Parses a Range header value; `None` if it is not a single byte range.
    pub fn parse(h: &str) -> Option<ByteRange> {
        let spec = h.trim().strip_prefix("bytes=")?;
        if spec.contains(',') {
            return None;
        }
        let (a, b) = spec.split_once('-')?;
        let (a, b) = (a.trim(), b.trim());
        if a.is_empty() {
            return b.parse().ok().map(ByteRange::Suffix);
        }
        let start = a.parse().ok()?;
        let end = if b.is_empty() { None } else { Some(b.parse().ok()?) };
        match end {
            Some(e) if e < start => None,
            _ => Some(ByteRange::From(start, end)),
        }
    }

    /// The inclusive `(first, last)` byte positions within a blob of `size`, or `None` if unsatisfiable.
    pub fn resolve(self, size: u64) -> Option<(u64, u64)> {
        match self {
            ByteRange::From(s, _) if s >= size => None,
            ByteRange::From(s, e) => Some((s, e.map_or(size - 1, |e| e.min(size - 1)))),
            ByteRange::Suffix(0) => None,
            ByteRange::Suffix(_) if size == 0 => None,
            ByteRange::Suffix(n) => Some((size.saturating_sub(n), size - 1)),
        }
    }
}

fn blob_unknown(d: &Digest) -> ApiError {
    ApiError::new(ErrorCode::BlobUnknown, "blob unknown to registry").with_detail(serde_json::json!({ "digest": d }))
}

impl Registry {
    /// The size of blob `d` if repository `name` has it (a blob link or a manifest revision) and its
    /// bytes exist; `BLOB_UNKNOWN` otherwise.
    ///
    /// Counts as a use of the blob, which keeps it from GC for the grace period (a Docker client that
    /// finds a layer by HEAD skips its upload). Checked and recorded under the GC lock, so a HEAD either
    /// completes before a sweep, which then spares the blob, or after it and reports the blob gone.
    ///
    /// A pull-through cache that does not have the blob asks the upstream.
    pub async fn blob_size(&self, name: &str, d: &Digest) -> Result<u64, ApiError> {
        let gc = self.gc.lock.read().await;
        match self.linked_size(name, d).await? {
            Some(size) => {
                self.gc.used(d, self.limits.gc_grace);
                Ok(size)
            }
            None => match &self.proxy {
                Some(p) => {
                    drop(gc);
                    p.blob_size(name, d).await
                }
                None => Err(blob_unknown(d)),
            },
        }
    }

    /// Where a GET of blob `d` reads from: the store (its size), or for a pull-through cache that
    /// lacks it, the upstream fetch it starts or joins.
    pub(crate) async fn blob_source(&self, name: &str, d: &Digest) -> Result<crate::proxy::BlobSource, ApiError> {
        {
            let _gc = self.gc.lock.read().await;
            if let Some(size) = self.linked_size(name, d).await? {
                self.gc.used(d, self.limits.gc_grace);
                return Ok(crate::proxy::BlobSource::Local(size));
            }
        }
        match &self.proxy {
            Some(p) => p.blob_source(self, name, d).await,
            None => Err(blob_unknown(d)),
        }
    }

    /// Where a client may fetch blob `d` directly (a pre-signed object URL), when the driver offers
    /// redirects; checked and counted as a use like [`Registry::blob_size`].
    pub async fn blob_redirect(&self, name: &str, d: &Digest) -> Result<Option<String>, ApiError> {
        if self.driver.redirect_url(&paths::blob_data(d)).is_none() {
            return Ok(None);
        }
        // A cache redirects only to what it has; the rest streams through it from the upstream.
        if self.proxy.is_some() && self.linked_size(name, d).await?.is_none() {
            return Ok(None);
        }
        self.blob_size(name, d).await?;
        Ok(self.driver.redirect_url(&paths::blob_data(d)))
    }

    pub(crate) async fn linked_size(&self, name: &str, d: &Digest) -> Result<Option<u64>, ApiError> {
        let linked = match self.driver.stat(&paths::layer_link(name, d)).await {
            Ok(_) => true,
            Err(e) if e.is_not_found() => match self.driver.stat(&paths::revision_link(name, d)).await {
                Ok(_) => true,
                Err(e) if e.is_not_found() => false,
                Err(e) => return Err(e.into()),
            },
            Err(e) => return Err(e.into()),
        };
        if !linked {
            return Ok(None);
        }
        match self.driver.stat(&paths::blob_data(d)).await {
            Ok(i) => Ok(Some(i.size)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A reader over `len` bytes of blob `d` from `offset`, after the same checks as
    /// [`Registry::blob_size`].
    pub async fn blob_open(&self, name: &str, d: &Digest, offset: u64, len: u64) -> Result<ByteReader, ApiError> {
        self.blob_size(name, d).await?;
        self.blob_read(d, offset, len).await
    }

    /// A reader over `len` bytes of stored blob `d` from `offset`, for a caller that checked the
    /// repository has it ([`Registry::blob_source`]).
    pub(crate) async fn blob_read(&self, d: &Digest, offset: u64, len: u64) -> Result<ByteReader, ApiError> {
        match self.driver.range_reader(&paths::blob_data(d), offset, len).await {
            Ok(r) => Ok(r),
            Err(e) if e.is_not_found() => Err(blob_unknown(d)),
            Err(e) => Err(e.into()),
        }
    }

    /// Stored blob `d`'s file, for a caller that checked the repository has it, when the store is a
    /// local filesystem; `None` on the other stores.
    pub(crate) async fn blob_file(&self, d: &Digest) -> Result<Option<std::fs::File>, ApiError> {
        match self.driver.open_file(&paths::blob_data(d)).await {
            None => Ok(None),
            Some(Ok(f)) => Ok(Some(f)),
            Some(Err(e)) if e.is_not_found() => Err(blob_unknown(d)),
            Some(Err(e)) => Err(e.into()),
        }
    }

    /// Unlinks blob `d` from repository `name`; the bytes go at the next GC if nothing else uses them.
    pub async fn blob_delete(&self, name: &str, d: &Digest) -> Result<(), ApiError> {
        match self.driver.delete(&paths::layer_link(name, d)).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Err(blob_unknown(d)),
            Err(e) => Err(e.into()),
        }
    }

    /// Links blob `d` from repository `from` into `name` without copying (OCI § mounting a blob).
    /// `Ok(false)` when `from` does not have it, so the caller falls back to an upload.
    pub async fn blob_mount(&self, name: &str, from: &str, d: &Digest) -> Result<bool, ApiError> {
        let _gc = self.gc.lock.read().await;
        self.mark_used(d).await?;
        if self.linked_size(from, d).await?.is_none() {
            return Ok(false);
        }
        self.link_blob(name, d).await?;
        Ok(true)
    }

    /// Rewrites blob `d`'s reference marker, which every writer does BEFORE it checks the blob exists
    /// and references it: a collection of any replica that removes the blob after that check sees the
    /// fresh marker and puts the blob back (see `gc`).
    pub(crate) async fn mark_used(&self, d: &Digest) -> Result<(), ApiError> {
        self.mark_all_used([d]).await
    }

    /// [`Registry::mark_used`] for several blobs at once (a manifest's): one batch for the driver.
    /// The markers need not survive a host crash, which ends any collection they guard against.
    pub(crate) async fn mark_all_used<'a>(&self, ds: impl IntoIterator<Item = &'a Digest>) -> Result<(), ApiError> {
        let marks: Vec<Write> = ds.into_iter().map(|d| Write::Mark(paths::blob_used(d))).collect();
        if !marks.is_empty() {
            self.driver.apply(vec![marks]).await?;
        }
        Ok(())
    }

    /// Records that `name` has blob `d` (caller holds the GC lock shared).
    pub(crate) async fn link_blob(&self, name: &str, d: &Digest) -> Result<(), ApiError> {
        self.driver.put_content(&paths::layer_link(name, d), Bytes::from(d.to_string())).await?;
        self.linked(d);
        Ok(())
    }

    /// What this process remembers of a blob just linked: GC's marking and grace.
    pub(crate) fn linked(&self, d: &Digest) {
        self.gc.touch([d.clone()]);
        self.gc.used(d, self.limits.gc_grace);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges_parse_and_resolve() {
        assert_eq!(ByteRange::parse("bytes=0-9"), Some(ByteRange::From(0, Some(9))));
        assert_eq!(ByteRange::parse("bytes=5-"), Some(ByteRange::From(5, None)));
        assert_eq!(ByteRange::parse("bytes=-3"), Some(ByteRange::Suffix(3)));
        assert_eq!(ByteRange::parse("bytes=9-1"), None);
        assert_eq!(ByteRange::parse("bytes=0-1,4-5"), None);
        assert_eq!(ByteRange::parse("items=0-1"), None);
        assert_eq!(ByteRange::From(2, Some(100)).resolve(10), Some((2, 9)));
        assert_eq!(ByteRange::From(10, None).resolve(10), None);
        assert_eq!(ByteRange::Suffix(3).resolve(10), Some((7, 9)));
        assert_eq!(ByteRange::Suffix(30).resolve(10), Some((0, 9)));
        assert_eq!(ByteRange::Suffix(0).resolve(10), None);
    }
}
