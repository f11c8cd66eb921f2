//! The bridge between a layer download (async, chunks on a channel) and the layer ingester (sync,
//! `io::Read`), verifying as it goes.
//!
//! ```text
//! download ─chunks─▶ RawReader (sha256 + count of compressed bytes)
//!                        └─▶ decompress ─▶ Verified (sha256 of the tar) ─▶ ingest_layer ─▶ content store
//! ```
//! `ingest_layer` commits only after reading its input to EOF. [`Verified`] does not report EOF
//! until it has drained the compressed stream and checked both digests and the size, returning an
//! error instead when any differs; so a corrupt or truncated layer is never committed under any name.

use berth_types::{Algorithm, Digest, Digester};
use bytes::Bytes;
use std::cell::RefCell;
use std::io::{self, Read};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Why a stream failed verification; carried inside the `io::Error` the ingester sees.
#[derive(Debug, thiserror::Error)]
pub(crate) enum VerifyError {
    #[error("compressed digest mismatch")]
    Digest { expected: Digest, actual: Digest },
    #[error("size mismatch")]
    Size {
        digest: Digest,
        expected: u64,
        actual: u64,
    },
    #[error("diff id mismatch")]
    DiffId { expected: Digest, actual: Digest },
}

impl VerifyError {
    /// Finds a `VerifyError` inside an `io::Error` returned through the ingester.
    pub fn find(e: &io::Error) -> Option<&VerifyError> {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<VerifyError>())
    }
}

struct RawState {
    rx: mpsc::Receiver<Bytes>,
    chunk: Bytes,
    hasher: Digester,
    count: u64,
    done: bool,
    consumed: Arc<AtomicU64>,
}

/// The compressed bytes as they arrive. Cloned handles share one state (one thread only).
#[derive(Clone)]
pub(crate) struct RawReader(Rc<RefCell<RawState>>);

impl RawReader {
    /// A reader hashing what it passes with `alg` (the algorithm of the blob's digest).
    pub fn new(rx: mpsc::Receiver<Bytes>, consumed: Arc<AtomicU64>, alg: Algorithm) -> RawReader {
        RawReader(Rc::new(RefCell::new(RawState {
            rx,
            chunk: Bytes::new(),
            hasher: Digester::new(alg),
            count: 0,
            done: false,
            consumed,
        })))
    }

    /// Reads to the end, then returns the digest and size of everything read.
    fn finish(&self) -> io::Result<(Digest, u64)> {
        let mut scratch = [0u8; 64 * 1024];
        let mut me = self.clone();
        while me.read(&mut scratch)? != 0 {}
        let st = self.0.borrow();
        Ok((st.hasher.clone().finish(), st.count))
    }
}

impl Read for RawReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut st = self.0.borrow_mut();
        while st.chunk.is_empty() {
            if st.done {
                return Ok(0);
            }
            match st.rx.blocking_recv() {
                Some(c) => st.chunk = c,
                None => st.done = true,
            }
        }
        let n = buf.len().min(st.chunk.len());
        let data = st.chunk.split_to(n);
        buf[..n].copy_from_slice(&data);
        st.hasher.update(&data);
        st.count += n as u64;
        st.consumed.store(st.count, Ordering::Relaxed);
        Ok(n)
    }
}

/// The decompressed layer, verified at its end (see the module docs).
pub(crate) struct Verified<'a> {
    decoded: Box<dyn Read + 'a>,
    raw: RawReader,
    hasher: Digester,
    expected_digest: Digest,
    expected_size: u64,
    expected_diff_id: Digest,
    checked: bool,
}

impl<'a> Verified<'a> {
    pub fn new(
        decoded: Box<dyn Read + 'a>,
        raw: RawReader,
        expected_digest: Digest,
        expected_size: u64,
        expected_diff_id: Digest,
    ) -> Self {
        Verified {
            decoded,
            raw,
            hasher: Digester::new(expected_diff_id.alg()),
            expected_digest,
            expected_size,
            expected_diff_id,
            checked: false,
        }
    }

    fn check(&mut self) -> io::Result<()> {
        let (actual, size) = self.raw.finish()?;
        let fail = |e: VerifyError| Err(io::Error::new(io::ErrorKind::InvalidData, e));
        if size != self.expected_size {
            return fail(VerifyError::Size {
                digest: self.expected_digest.clone(),
                expected: self.expected_size,
                actual: size,
            });
        }
        if actual != self.expected_digest {
            return fail(VerifyError::Digest {
                expected: self.expected_digest.clone(),
                actual,
            });
        }
        let diff = self.hasher.clone().finish();
        if diff != self.expected_diff_id {
            return fail(VerifyError::DiffId {
                expected: self.expected_diff_id.clone(),
                actual: diff,
            });
        }
        Ok(())
    }
}

impl Read for Verified<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.decoded.read(buf)?;
        if n == 0 {
            if !self.checked {
                self.check()?;
                self.checked = true;
            }
            return Ok(0);
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(chunks: Vec<Vec<u8>>) -> (RawReader, Arc<AtomicU64>) {
        let (tx, rx) = mpsc::channel(chunks.len().max(1));
        for c in chunks {
            tx.try_send(Bytes::from(c)).unwrap();
        }
        drop(tx);
        let consumed = Arc::new(AtomicU64::new(0));
        (RawReader::new(rx, consumed.clone(), Algorithm::Sha256), consumed)
    }

    #[test]
    fn verified_passes_matching_stream_and_counts_bytes() {
        let data = b"hello world".to_vec();
        let (raw, consumed) = feed(vec![data[..5].to_vec(), data[5..].to_vec()]);
        let mut v = Verified::new(
            Box::new(raw.clone()),
            raw,
            Digest::of(&data),
            11,
            Digest::of(&data),
        );
        let mut out = Vec::new();
        v.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        assert_eq!(consumed.load(Ordering::Relaxed), 11);
    }

    #[test]
    fn verified_fails_at_eof_on_mismatch() {
        let (raw, _) = feed(vec![b"abc".to_vec()]);
        let mut v = Verified::new(
            Box::new(raw.clone()),
            raw,
            Digest::of(b"abd"),
            3,
            Digest::of(b"abc"),
        );
        let err = v.read_to_end(&mut Vec::new()).unwrap_err();
        assert!(matches!(
            VerifyError::find(&err),
            Some(VerifyError::Digest { .. })
        ));

        let (raw, _) = feed(vec![b"ab".to_vec()]);
        let mut v = Verified::new(
            Box::new(raw.clone()),
            raw,
            Digest::of(b"abc"),
            3,
            Digest::of(b"abc"),
        );
        let err = v.read_to_end(&mut Vec::new()).unwrap_err();
        assert!(matches!(
            VerifyError::find(&err),
            Some(VerifyError::Size { .. })
        ));
    }
}
