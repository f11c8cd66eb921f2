//! Streaming objects in and out: a ranged reader that resumes after a dropped connection, and a writer
//! that turns a byte stream into one `PutObject` or a multipart upload.

use super::http::{self, ok_body, send, Req, ATTEMPTS};
use super::{S3Driver, SIGN_TTL};
use crate::errors::StorageError;
use crate::storage::{ByteReader, ByteWriter, StorageDriver};
use ::http::{Method, StatusCode};
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use rusty_s3::actions::CreateMultipartUpload;
use rusty_s3::S3Action;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::AsyncWrite;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::PollSender;

type BodyStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// Sends a `GET` for `path` from `offset` (to `offset + len` if given). `None` when the range starts
/// at or past the end of an existing object (S3 answers 416), so the reader is empty.
async fn get_range(d: &S3Driver, path: &str, offset: u64, len: Option<u64>) -> Result<Option<BodyStream>, StorageError> {
    let key = d.key(path);
    let url = d.inner.bucket.get_object(Some(&d.inner.creds), &key).sign(SIGN_TTL);
    let mut req = Req::new(Method::GET, url, "read", path);
    match len {
        Some(0) => return Ok(None),
        Some(n) => req = req.header("range", &format!("bytes={offset}-{}", offset + n - 1)),
        None if offset > 0 => req = req.header("range", &format!("bytes={offset}-")),
        None => {}
    }
    let resp = send(&d.inner.client, &req, &[StatusCode::RANGE_NOT_SATISFIABLE]).await?;
    if resp.status() == StatusCode::RANGE_NOT_SATISFIABLE {
        return Ok(None);
    }
    Ok(Some(Box::pin(resp.bytes_stream())))
}

/// A reader over `path` from `offset`: `NotFound` up front if the object is missing; a connection
/// that breaks mid-body is re-requested from the first byte not yet delivered.
pub(super) async fn open_reader(d: S3Driver, path: &str, offset: u64, len: Option<u64>) -> Result<ByteReader, StorageError> {
    let first = get_range(&d, path, offset, len).await?;
    struct St {
        d: S3Driver,
        path: String,
        pos: u64,
        end: Option<u64>,
        body: Option<BodyStream>,
        failures: u32,
    }
    let st = St { d, path: path.to_string(), pos: offset, end: len.map(|n| offset + n), body: first, failures: 0 };
    let stream = futures_util::stream::unfold(st, |mut st| async move {
        loop {
            let body = st.body.as_mut()?;
            match body.next().await {
                Some(Ok(b)) => {
                    st.pos += b.len() as u64;
                    st.failures = 0;
                    return Some((Ok(b), st));
                }
                None => return None,
                Some(Err(e)) => {
                    st.failures += 1;
                    if st.failures >= ATTEMPTS {
                        st.body = None;
                        return Some((Err(io::Error::other(format!("reading {}: {e}", st.path))), st));
                    }
                    tracing::debug!(error = %e, path = %st.path, pos = st.pos, "s3 read broke; resuming");
                    http::backoff(st.failures).await;
                    let rest = st.end.map(|e| e.saturating_sub(st.pos));
                    match get_range(&st.d, &st.path, st.pos, rest).await {
                        Ok(b) => st.body = b,
                        Err(e) => {
                            st.body = None;
                            return Some((Err(io::Error::other(chain(&e))), st));
                        }
                    }
                }
            }
        }
    });
    Ok(Box::pin(tokio_util::io::StreamReader::new(stream)))
}

/// An error with its causes, for an `io::Error` that carries it as text.
fn chain(e: &StorageError) -> String {
    match std::error::Error::source(e) {
        Some(s) => format!("{e}: {s}"),
        None => e.to_string(),
    }
}

enum Msg {
    Data(Bytes),
    Finish,
}

/// A writer whose bytes go to a background task that uploads them; `shutdown` waits for the object.
struct S3Writer {
    tx: PollSender<Msg>,
    finishing: bool,
    done: Option<oneshot::Receiver<Result<(), StorageError>>>,
}

pub(super) fn writer(d: S3Driver, path: String) -> ByteWriter {
    let (tx, rx) = mpsc::channel(8);
    let (done_tx, done_rx) = oneshot::channel();
    tokio::spawn(async move {
        let r = upload(&d, &path, rx).await;
        let _ = done_tx.send(r);
    });
    Box::pin(S3Writer { tx: PollSender::new(tx), finishing: false, done: Some(done_rx) })
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "object upload failed")
}

impl AsyncWrite for S3Writer {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if ready!(self.tx.poll_reserve(cx)).is_err() {
            return Poll::Ready(Err(self.failure(cx)));
        }
        if self.tx.send_item(Msg::Data(Bytes::copy_from_slice(buf))).is_err() {
            return Poll::Ready(Err(self.failure(cx)));
        }
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.finishing {
            if ready!(self.tx.poll_reserve(cx)).is_ok() {
                let _ = self.tx.send_item(Msg::Finish);
            }
            self.finishing = true;
        }
        let Some(done) = self.done.as_mut() else { return Poll::Ready(Err(closed())) };
        let r = ready!(Pin::new(done).poll(cx));
        self.done = None;
        Poll::Ready(match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(io::Error::other(chain(&e))),
            Err(_) => Err(closed()),
        })
    }
}

impl S3Writer {
    /// The upload task's error after it stopped taking data.
    fn failure(&mut self, cx: &mut Context<'_>) -> io::Error {
        match self.done.as_mut().map(|d| Pin::new(d).poll(cx)) {
            Some(Poll::Ready(Ok(Err(e)))) => io::Error::other(chain(&e)),
            _ => closed(),
        }
    }
}

use std::future::Future;

/// Receives the writer's bytes: one `PutObject` if they fit one chunk, else a multipart upload that is
/// completed on `Finish` and aborted if the writer goes away without it.
async fn upload(d: &S3Driver, path: &str, mut rx: mpsc::Receiver<Msg>) -> Result<(), StorageError> {
    let chunk = d.inner.chunk_size;
    let mut buf = BytesMut::new();
    let mut mp: Option<Multipart> = None;
    let result = async {
        loop {
            match rx.recv().await {
                Some(Msg::Data(b)) => {
                    buf.extend_from_slice(&b);
                    while buf.len() >= chunk {
                        let part = buf.split_to(chunk).freeze();
                        let m = match &mut mp {
                            Some(m) => m,
                            None => mp.insert(Multipart::create(d, path).await?),
                        };
                        m.part(d, part).await?;
                    }
                }
                Some(Msg::Finish) => {
                    return match &mut mp {
                        None => d.put(path, buf.split().freeze()).await,
                        Some(m) => {
                            if !buf.is_empty() || m.etags.is_empty() {
                                m.part(d, buf.split().freeze()).await?;
                            }
                            m.complete(d).await
                        }
                    };
                }
                None => return Err(http::io_err("write", path, "writer dropped before shutdown")),
            }
        }
    }
    .await;
    if result.is_err() {
        if let Some(m) = mp.take() {
            m.abort(d).await;
        }
    }
    result
}

struct Multipart {
    key: String,
    path: String,
    id: String,
    etags: Vec<String>,
}

impl Multipart {
    async fn create(d: &S3Driver, path: &str) -> Result<Multipart, StorageError> {
        let key = d.key(path);
        let url = d.inner.bucket.create_multipart_upload(Some(&d.inner.creds), &key).sign(SIGN_TTL);
        let req = Req::new(Method::POST, url, "write", path);
        let body = ok_body(&req, send(&d.inner.client, &req, &[]).await?).await?;
        let id = CreateMultipartUpload::parse_response(&body)
            .map_err(|e| http::io_err("write", path, format!("unparsable multipart reply: {e}")))?
            .upload_id()
            .to_string();
        Ok(Multipart { key, path: path.to_string(), id, etags: Vec::new() })
    }

    async fn part(&mut self, d: &S3Driver, data: Bytes) -> Result<(), StorageError> {
        let n = u16::try_from(self.etags.len() + 1)
            .ok()
            .filter(|n| *n <= 10_000)
            .ok_or_else(|| http::io_err("write", &self.path, "more than 10000 parts: raise chunksize"))?;
        let url = d.inner.bucket.upload_part(Some(&d.inner.creds), &self.key, n, &self.id).sign(SIGN_TTL);
        let req = Req::new(Method::PUT, url, "write", &self.path).body(data);
        let resp = send(&d.inner.client, &req, &[]).await?;
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| http::io_err("write", &self.path, "part reply without ETag"))?
            .to_string();
        self.etags.push(etag);
        Ok(())
    }

    async fn complete(&self, d: &S3Driver) -> Result<(), StorageError> {
        let a = d.inner.bucket.complete_multipart_upload(
            Some(&d.inner.creds),
            &self.key,
            &self.id,
            self.etags.iter().map(String::as_str),
        );
        let url = a.sign(SIGN_TTL);
        let req = Req::new(Method::POST, url, "write", &self.path).body(Bytes::from(a.body()));
        ok_body(&req, send(&d.inner.client, &req, &[]).await?).await.map(drop)
    }

    async fn abort(self, d: &S3Driver) {
        let url = d.inner.bucket.abort_multipart_upload(Some(&d.inner.creds), &self.key, &self.id).sign(SIGN_TTL);
        let req = Req::new(Method::DELETE, url, "write", &self.path);
        if let Err(e) = send(&d.inner.client, &req, &[StatusCode::NOT_FOUND]).await {
            tracing::warn!(error = %e, path = %self.path, "cannot abort multipart upload; the bucket's lifecycle rules must");
        }
    }
}

/// Copies `from` to `to` through this process (objects too large for `CopyObject`).
pub(super) async fn stream_copy(d: &S3Driver, from: &str, to: &str) -> Result<(), StorageError> {
    let mut r = d.reader(from, 0).await?;
    let mut w = d.writer(to).await?;
    tokio::io::copy(&mut r, &mut w).await.map_err(|e| http::io_err("copy", from, e))?;
    tokio::io::AsyncWriteExt::shutdown(&mut w).await.map_err(|e| http::io_err("copy", to, e))
}
