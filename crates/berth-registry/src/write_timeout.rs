//! A connection wrapper that fails writes a peer has stopped accepting: when a write (or flush, or
//! shutdown) stays blocked for longer than the limit, it returns `TimedOut`, hyper drops the
//! connection and the response body (an open blob file) with it. hyper itself has no write timeout,
//! and a response body stream is not even polled while the socket is full, so the clock must sit
//! here, below hyper. Reads pass through untouched: request bodies have their own idle timeout
//! (`routes::body_stream`) and request heads hyper's header-read timeout.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// `io` whose writes fail with `TimedOut` after being blocked for `limit` without progress.
pub(crate) struct WriteTimeout<I> {
    io: I,
    limit: Duration,
    /// Armed while a write is blocked; reset on every write that makes progress.
    deadline: Pin<Box<Sleep>>,
    armed: bool,
}

impl<I> WriteTimeout<I> {
    pub(crate) fn new(io: I, limit: Duration) -> WriteTimeout<I> {
        WriteTimeout { io, limit, deadline: Box::pin(tokio::time::sleep(limit)), armed: false }
    }

    /// Maps a write-side poll: progress disarms the clock, a block arms it (once) and checks it.
    fn watch<T>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(r) => {
                self.armed = false;
                Poll::Ready(r)
            }
            Poll::Pending => {
                if !self.armed {
                    self.armed = true;
                    let at = Instant::now() + self.limit;
                    self.deadline.as_mut().reset(at);
                }
                match self.deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        self.armed = false;
                        Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "peer stopped reading")))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for WriteTimeout<I> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<I> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        this.watch(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_flush(cx);
        this.watch(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_shutdown(cx);
        this.watch(cx, polled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn blocked_write_fails_after_the_limit_and_progress_resets_the_clock() {
        let (a, mut b) = tokio::io::duplex(16);
        let mut w = WriteTimeout::new(a, Duration::from_millis(100));
        // A reader that keeps up: many writes, each blocked less than the limit, all succeed.
        let reader = tokio::spawn(async move {
            let mut got = 0;
            let mut buf = [0u8; 8];
            while got < 64 {
                tokio::time::sleep(Duration::from_millis(30)).await;
                got += b.read(&mut buf).await.unwrap();
            }
            b
        });
        w.write_all(&[7u8; 80]).await.unwrap();
        let _b = reader.await.unwrap();
        // Nobody reads now: the buffer fills and the next write times out.
        let started = Instant::now();
        let err = w.write_all(&[7u8; 64]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(100));
    }
}
