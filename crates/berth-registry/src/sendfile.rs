//! Blob bodies over plain TCP without copying them through the process: `sendfile(2)` from the blob's
//! file to the socket, as distribution's Go server does (its `io.Copy` of a file to a TCP connection).
//!
//! hyper owns the connection and writes a response body as the byte buffers the body yields, so the
//! bytes cannot bypass it from above. Instead the two ends meet below it:
//! - the handler answers with a [`FileBody`]: frames that are slices of [`FILLER`], a static buffer
//!   nobody reads (never touched, so never paged in), `len` bytes in all, and at
//!   its first poll it queues a [`Job`] (the open file, offset and length) on the connection's [`Jobs`];
//! - the connection's socket is a [`SendfileStream`]: a write of bytes that lie inside `FILLER` (told
//!   by their address, not their content) is not written but stands for as many bytes of the front job,
//!   which `sendfile` sends from the page cache; every other write (response heads, other bodies) goes
//!   to the socket as it is.
//!
//! This holds because hyper passes body buffers to the socket uncopied in its queued write strategy,
//! which `server` selects explicitly (`writev(true)`); and it fails closed: filler bytes that find no
//! job are an error that drops the connection, never bytes on the wire. Responses are written in
//! order and a body is polled only while its response is written, so jobs are queued in the order
//! their filler bytes arrive.
//!
//! `sendfile` reads the file, which may wait for the disk, so it runs on the blocking pool on a
//! duplicate of the socket's descriptor, waiting there with `poll(2)` while the socket is full; it
//! returns as soon as it made progress and the socket filled up, so the connection's write timeout
//! (`write_timeout`) sees progress as it happens.

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use std::collections::VecDeque;
use std::fs::File;
use std::future::Future;
use std::io::{self, IoSlice};
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex};
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// The size of one body frame, and of the filler its bytes point into.
const FRAME: usize = 4 << 20;

/// Stands for file bytes in a body. Allocated zeroed (fresh anonymous pages) and never read or
/// written, so it is never paged in: it costs address space, not memory (an immutable static would
/// put 4 MiB of zeros in the executable).
static FILLER: LazyLock<&'static [u8]> = LazyLock::new(|| Vec::leak(vec![0u8; FRAME]));

fn is_filler(b: &[u8]) -> bool {
    let start = FILLER.as_ptr() as usize;
    let p = b.as_ptr() as usize;
    !b.is_empty() && p >= start && p < start + FRAME
}

/// `len` bytes of `file` from `offset`, to be sent by the connection for filler bytes.
#[derive(Debug)]
struct Job {
    file: Arc<File>,
    offset: u64,
    remaining: u64,
}

/// A connection's queue of file ranges whose filler bytes are on their way (see the module doc);
/// one per plain-TCP connection, handed to handlers as a request extension.
#[derive(Debug, Clone, Default)]
pub(crate) struct Jobs(Arc<Mutex<VecDeque<Job>>>);

impl Jobs {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Job>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A response body of `len` (> 0) bytes of `file` from `offset`, sent by this connection's socket.
    pub(crate) fn body(&self, file: File, offset: u64, len: u64) -> FileBody {
        let job = Job { file: Arc::new(file), offset, remaining: len };
        FileBody { jobs: self.clone(), job: Some(job), left: len }
    }
}

/// See [`Jobs::body`].
#[derive(Debug)]
pub(crate) struct FileBody {
    jobs: Jobs,
    /// Queued at the first poll: hyper polls a body only while it writes that response.
    job: Option<Job>,
    left: u64,
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if let Some(job) = this.job.take() {
            this.jobs.lock().push_back(job);
        }
        if this.left == 0 {
            return Poll::Ready(None);
        }
        let n = this.left.min(FRAME as u64) as usize;
        this.left -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&FILLER[..n])))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

/// A plain TCP connection that sends [`FileBody`] bytes with `sendfile`; see the module doc.
pub(crate) struct SendfileStream {
    tcp: TcpStream,
    jobs: Jobs,
    /// A duplicate of the socket's descriptor for the blocking pool, made at the first job.
    dup: Option<Arc<std::net::TcpStream>>,
    /// The `sendfile` running for the filler at the front of the last write, if any.
    sending: Option<JoinHandle<io::Result<usize>>>,
    limit: std::time::Duration,
}

impl SendfileStream {
    /// Wraps `tcp`; `limit` bounds a wait for the socket to take more bytes (the write timeout).
    pub(crate) fn new(tcp: TcpStream, limit: std::time::Duration) -> (SendfileStream, Jobs) {
        let jobs = Jobs::default();
        (SendfileStream { tcp, jobs: jobs.clone(), dup: None, sending: None, limit }, jobs)
    }

    /// Sends up to `n` bytes of the front job for `n` filler bytes.
    fn poll_send(&mut self, cx: &mut Context<'_>, n: usize) -> Poll<io::Result<usize>> {
        if self.sending.is_none() {
            let (file, offset, count) = {
                let jobs = self.jobs.lock();
                let Some(job) = jobs.front() else {
                    return Poll::Ready(Err(io::Error::other("blob body bytes without a file to send them from")));
                };
                (job.file.clone(), job.offset, (n as u64).min(job.remaining) as usize)
            };
            let sock = match &self.dup {
                Some(s) => s.clone(),
                None => {
                    let s = Arc::new(std::net::TcpStream::from(self.tcp.as_fd().try_clone_to_owned()?));
                    self.dup.insert(s).clone()
                }
            };
            let limit = self.limit;
            self.sending = Some(berth_types::sched::spawn_blocking(move || send(&sock, &file, offset, count, limit)));
        }
        let Some(h) = self.sending.as_mut() else { unreachable!("set above") };
        let done = ready!(Pin::new(h).poll(cx));
        self.sending = None;
        let sent = done.map_err(io::Error::other)??;
        let mut jobs = self.jobs.lock();
        if let Some(job) = jobs.front_mut() {
            job.offset += sent as u64;
            job.remaining -= sent as u64;
            if job.remaining == 0 {
                jobs.pop_front();
            }
        }
        Poll::Ready(Ok(sent))
    }
}

/// Sends up to `count` bytes of `file` from `offset` to non-blocking `sock`: until all are sent, or
/// the socket is full after some were; waits for room (up to `limit`) only before the first byte.
fn send(sock: &std::net::TcpStream, file: &File, offset: u64, count: usize, limit: std::time::Duration) -> io::Result<usize> {
    let mut off = i64::try_from(offset).map_err(io::Error::other)?;
    let mut sent = 0;
    while sent < count {
        match nix::sys::sendfile::sendfile64(sock, file, Some(&mut off), count - sent) {
            Ok(0) => break,
            Ok(n) => sent += n,
            Err(Errno::EAGAIN) if sent > 0 => break,
            Err(Errno::EAGAIN) => {
                let mut fds = [PollFd::new(sock.as_fd(), PollFlags::POLLOUT)];
                let ms = PollTimeout::try_from(limit).unwrap_or(PollTimeout::MAX);
                match nix::poll::poll(&mut fds, ms) {
                    Ok(0) => return Err(io::Error::new(io::ErrorKind::TimedOut, "peer stopped reading")),
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if sent == 0 {
        // The file is shorter than the blob's size: end the response (and connection) short.
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "blob file ended before its size"));
    }
    Ok(sent)
}

impl Drop for SendfileStream {
    fn drop(&mut self) {
        // A `sendfile` still waiting for room on the blocking pool: wake it (it then fails with EPIPE).
        if let (Some(_), Some(dup)) = (&self.sending, &self.dup) {
            let _ = dup.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl AsyncRead for SendfileStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for SendfileStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // A retried write starts with the same buffer as the one a running `sendfile` stands for.
        let Some(first) = bufs.iter().position(|b| !b.is_empty()) else { return Poll::Ready(Ok(0)) };
        if this.sending.is_some() || is_filler(&bufs[first]) {
            return this.poll_send(cx, bufs[first].len());
        }
        // Plain bytes up to the first filler go out as they are.
        let end = bufs[first..].iter().position(|b| is_filler(b)).map_or(bufs.len(), |k| first + k);
        Pin::new(&mut this.tcp).poll_write_vectored(cx, &bufs[first..end])
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::io::Write;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn temp_file(data: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(data).unwrap();
        f
    }

    async fn pair() -> (SendfileStream, Jobs, TcpStream) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (server, _) = l.accept().await.unwrap();
        let (s, jobs) = SendfileStream::new(server, std::time::Duration::from_secs(5));
        (s, jobs, client)
    }

    /// Writes `body`'s frames as hyper does: each frame after `head`, in vectored writes.
    async fn write_body(s: &mut SendfileStream, head: &[u8], mut body: FileBody) {
        let mut pending: Vec<Bytes> = vec![Bytes::copy_from_slice(head)];
        while let Some(f) = body.frame().await {
            pending.push(f.unwrap().into_data().unwrap());
        }
        while !pending.is_empty() {
            let slices: Vec<IoSlice<'_>> = pending.iter().map(|b| IoSlice::new(b)).collect();
            let mut n = s.write_vectored(&slices).await.unwrap();
            while n > 0 {
                let k = n.min(pending[0].len());
                bytes::Buf::advance(&mut pending[0], k);
                n -= k;
                if pending[0].is_empty() {
                    pending.remove(0);
                }
            }
        }
    }

    #[tokio::test]
    async fn filler_bytes_become_the_files_bytes_in_order() {
        let data: Vec<u8> = (0..(9 << 20) + 123).map(|i: u32| (i % 251) as u8).collect();
        let (mut s, jobs, mut client) = pair().await;
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            client.read_to_end(&mut got).await.unwrap();
            got
        });
        // A ranged body (several frames), a plain write, then a second body of another file.
        write_body(&mut s, b"HEAD1", jobs.body(temp_file(&data), 100, (9 << 20) - 50)).await;
        s.write_all(b"plain").await.unwrap();
        write_body(&mut s, b"HEAD2", jobs.body(temp_file(b"second file"), 7, 4)).await;
        s.shutdown().await.unwrap();
        drop(s);
        let got = reader.await.unwrap();
        let mut want = b"HEAD1".to_vec();
        want.extend_from_slice(&data[100..100 + (9 << 20) - 50]);
        want.extend_from_slice(b"plainHEAD2file");
        assert_eq!(got.len(), want.len());
        assert!(got == want, "bytes differ");
        assert!(jobs.lock().is_empty());
    }

    #[tokio::test]
    async fn filler_without_a_job_or_past_the_files_end_fails_rather_than_sending_it() {
        let (mut s, jobs, _client) = pair().await;
        let err = s.write_all(&FILLER[..10]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Other);
        // A file shorter than the length promised: the write fails instead of sending filler.
        let mut body = jobs.body(temp_file(b"abc"), 0, 10);
        let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
        let n = s.write(&frame).await.unwrap();
        assert_eq!(n, 3);
        let err = s.write(&frame[3..]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
