//! One blob on its way from the upstream into the cache, shared by every client that asks for it
//! meanwhile (distribution's `inflight` map): one upstream GET per digest however many clients pull
//! it at once.
//!
//! The fetching task writes each chunk to an unlinked spool file (so a crash leaves nothing to clean)
//! and to a storage writer, hashing as it goes; every client reads the spool at its own pace from its
//! own offset, waiting for the bytes it has not got yet, so it receives the blob while it arrives and
//! nothing is held in memory beyond one chunk per reader. Only when the whole blob arrived with the
//! right length and digest is the storage object committed and linked; otherwise the writer is dropped
//! (nothing stored) and every reader's response is cut short — the last chunk of each response is held
//! back until the blob is verified, so a client never receives a complete corrupt blob either.

use super::upstream::UpstreamError;
use crate::storage::{paths, ByteWriter, Driver, StorageDriver};
use berth_types::{Digest, Digester};
use bytes::Bytes;
use futures_util::StreamExt;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

/// How far a fetch got.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    /// The blob's length, once the upstream answered.
    pub(crate) size: Option<u64>,
    /// Bytes in the spool so far.
    pub(crate) written: u64,
    pub(crate) state: State,
}

/// Where a fetch stands.
#[derive(Debug, Clone)]
pub(crate) enum State {
    Running,
    /// Complete, verified, stored.
    Done,
    /// Failed; `not_found` when the upstream does not have the blob.
    Failed { not_found: bool, message: Arc<str> },
}

/// A blob being fetched.
#[derive(Debug)]
pub(crate) struct Fetch {
    pub(crate) digest: Digest,
    spool: OnceLock<Arc<std::fs::File>>,
    progress: watch::Receiver<Progress>,
}

/// Bytes a reader asks the spool for at once.
const CHUNK: u64 = 256 << 10;

impl Fetch {
    /// A fetch of `digest` and the sender its task reports progress on.
    pub(crate) fn new(digest: Digest) -> (Arc<Fetch>, watch::Sender<Progress>) {
        let (tx, rx) = watch::channel(Progress { size: None, written: 0, state: State::Running });
        (Arc::new(Fetch { digest, spool: OnceLock::new(), progress: rx }), tx)
    }

    /// Waits until the upstream answered: the blob's size, or why there is none.
    pub(crate) async fn size(&self) -> Result<u64, (bool, Arc<str>)> {
        let mut rx = self.progress.clone();
        let p = rx
            .wait_for(|p| p.size.is_some() || matches!(p.state, State::Failed { .. }))
            .await
            .map(|p| p.clone())
            .map_err(|_| (false, Arc::<str>::from("fetch ended unexpectedly")))?;
        match (p.size, p.state) {
            (Some(s), _) => Ok(s),
            (None, State::Failed { not_found, message }) => Err((not_found, message)),
            (None, _) => Err((false, "fetch ended unexpectedly".into())),
        }
    }

    /// The bytes `[offset, offset + len)` as they arrive; the stream fails if the fetch does, and
    /// its last chunk comes only once the whole blob is verified.
    pub(crate) fn stream(self: Arc<Fetch>, offset: u64, len: u64) -> crate::service::BodyStream {
        let end = offset + len;
        let s = futures_util::stream::unfold((self, offset), move |(f, pos)| async move {
            if pos >= end {
                return None;
            }
            match f.next_chunk(pos, end).await {
                Ok(b) => {
                    let next = pos + b.len() as u64;
                    Some((Ok(b), (f, next)))
                }
                // Ending the stream with an error makes hyper abort the response short of its
                // Content-Length: the client sees a failed download, never a wrong blob.
                Err(e) => Some((Err(e), (f, end))),
            }
        });
        Box::pin(s)
    }

    async fn next_chunk(&self, pos: u64, end: u64) -> std::io::Result<Bytes> {
        let mut rx = self.progress.clone();
        let failed = |m: &str| std::io::Error::other(format!("upstream fetch of {} failed: {m}", self.digest));
        let p = rx
            .wait_for(|p| {
                let avail = p.written.min(end);
                match p.state {
                    State::Failed { .. } | State::Done => true,
                    // The last chunk waits for verification.
                    State::Running => avail > pos && avail < end,
                }
            })
            .await
            .map_err(|_| failed("fetch ended unexpectedly"))?
            .clone();
        if let State::Failed { message, .. } = &p.state {
            return Err(failed(message));
        }
        let n = (p.written.min(end) - pos).min(CHUNK);
        let file = self.spool.get().cloned().ok_or_else(|| failed("no spool"))?;
        berth_types::sched::spawn_blocking(move || {
            let mut buf = vec![0u8; n as usize];
            file.read_exact_at(&mut buf, pos)?;
            Ok(Bytes::from(buf))
        })
        .await
        .map_err(|_| failed("spool read panicked"))?
    }
}

/// Fetches `resp`'s body (the upstream's answer for blob `f.digest` of repository `name`) into the
/// spool and into storage, reporting on `tx`; links the blob into `name` once verified.
pub(crate) async fn run(
    f: Arc<Fetch>,
    tx: watch::Sender<Progress>,
    resp: Result<reqwest::Response, UpstreamError>,
    driver: Driver,
    spool_dir: &Path,
    name: String,
) {
    let fail = |not_found: bool, message: String| {
        tracing::warn!(digest = %f.digest, repository = %name, error = %message, "pull-through fetch failed");
        tx.send_modify(|p| p.state = State::Failed { not_found, message: message.into() });
    };
    let resp = match resp {
        Ok(r) => r,
        Err(UpstreamError::NotFound) => return fail(true, "blob unknown upstream".into()),
        Err(e) => return fail(false, e.to_string()),
    };
    let Some(size) = resp.content_length() else { return fail(false, "upstream sent no Content-Length".into()) };
    let spool = match open_spool(spool_dir).await {
        Ok(s) => s,
        Err(e) => return fail(false, format!("cannot create spool file in {}: {e}", spool_dir.display())),
    };
    let _ = f.spool.set(spool.clone());
    let writer = match driver.writer(&paths::blob_data(&f.digest)).await {
        Ok(w) => w,
        Err(e) => return fail(false, format!("cannot store blob: {e}")),
    };
    tx.send_modify(|p| p.size = Some(size));
    match copy(resp, spool, writer, &f.digest, size, &tx).await {
        Ok(()) => {}
        Err(m) => return fail(false, m),
    }
    // The blob is stored; record that `name` has it (distribution's proxy links it too).
    let linked = async {
        driver.put_content(&paths::blob_used(&f.digest), Bytes::new()).await?;
        driver.put_content(&paths::layer_link(&name, &f.digest), Bytes::from(f.digest.to_string())).await
    };
    if let Err(e) = linked.await {
        tracing::warn!(digest = %f.digest, error = %e, "cannot link a cached blob");
    }
    tx.send_modify(|p| p.state = State::Done);
    tracing::debug!(digest = %f.digest, repository = %name, size, "blob cached from upstream");
}

/// Streams the body into the spool and the storage writer, verifying length and digest; commits the
/// writer only if both match.
async fn copy(
    resp: reqwest::Response,
    spool: Arc<std::fs::File>,
    mut writer: ByteWriter,
    digest: &Digest,
    size: u64,
    tx: &watch::Sender<Progress>,
) -> Result<(), String> {
    let spool_w = spool.try_clone().map_err(|e| format!("spool: {e}"))?;
    let mut spool_w = tokio::fs::File::from_std(spool_w);
    let mut hasher = Digester::new(digest.alg());
    let mut written = 0u64;
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| format!("upstream body: {e}"))?;
        written += chunk.len() as u64;
        if written > size {
            return Err(format!("upstream sent more than its Content-Length {size}"));
        }
        hasher.update(&chunk);
        spool_w.write_all(&chunk).await.map_err(|e| format!("spool: {e}"))?;
        spool_w.flush().await.map_err(|e| format!("spool: {e}"))?;
        writer.write_all(&chunk).await.map_err(|e| format!("storage: {e}"))?;
        tx.send_modify(|p| p.written = written);
    }
    if written != size {
        return Err(format!("upstream body ended after {written} of {size} bytes"));
    }
    let actual = hasher.finish();
    if &actual != digest {
        // Dropping the writer leaves nothing behind: the cache is not poisoned.
        return Err(format!("upstream sent content with digest {actual}"));
    }
    writer.shutdown().await.map_err(|e| format!("storage: {e}"))
}

/// An unnamed spool file: created, opened, and unlinked at once.
async fn open_spool(dir: &Path) -> std::io::Result<Arc<std::fs::File>> {
    let dir = dir.to_path_buf();
    berth_types::sched::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!(".spool-{}", &berth_types::random_id()[..16]));
        let f = std::fs::OpenOptions::new().create_new(true).read(true).write(true).open(&path)?;
        std::fs::remove_file(&path)?;
        Ok(Arc::new(f))
    })
    .await
    .map_err(std::io::Error::other)?
}
