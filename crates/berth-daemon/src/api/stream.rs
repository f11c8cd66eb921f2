//! Bridges between HTTP bodies and the synchronous readers and writers of the stores: request
//! bodies become blocking `Read`ers for `spawn_blocking` work, and blocking writers feed response
//! bodies through a bounded channel (back-pressure: a slow client slows the writer, not memory).

use axum::body::Body;
use bytes::Bytes;
use futures_util::TryStreamExt;
use std::io;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::io::{StreamReader, SyncIoBridge};

type DataStream = Pin<Box<dyn futures_util::Stream<Item = io::Result<Bytes>> + Send>>;

/// What is left of a request body after its handler stopped reading (on an error, say) is read and
/// thrown away, up to this much and this long: otherwise the socket closes with unread data, the
/// kernel resets it, and a client still sending sees "error writing a body" (broken pipe) instead
/// of the error response. Go's net/http drains only 256 KiB and leaves the rest to Go clients,
/// which read a response that came before their write failed; hyper-based clients (berth's own)
/// do not, so this covers an upload the size of a typical `cp` or image (a 40 MB `cp` onto a full
/// disk failed that way, now and then), bounded by the time.
const DRAIN_MAX: usize = 256 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// A blocking reader over a request body. Must be created inside the runtime and read off it.
pub fn body_reader(body: Body) -> impl io::Read + Send + 'static {
    let stream: DataStream = Box::pin(body.into_data_stream().map_err(io::Error::other));
    DrainingReader { inner: Some(SyncIoBridge::new(StreamReader::new(stream))) }
}

struct DrainingReader {
    inner: Option<SyncIoBridge<StreamReader<DataStream, Bytes>>>,
}

impl io::Read for DrainingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.as_mut() {
            Some(r) => r.read(buf),
            None => Ok(0),
        }
    }
}

impl Drop for DrainingReader {
    fn drop(&mut self) {
        let Some(reader) = self.inner.take() else { return };
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
        let mut rest = reader.into_inner().into_inner();
        rt.spawn(async move {
            let _ = tokio::time::timeout(DRAIN_TIME, async {
                let mut n = 0;
                while let Some(Ok(chunk)) = futures_util::StreamExt::next(&mut rest).await {
                    n += chunk.len();
                    if n > DRAIN_MAX {
                        break;
                    }
                }
            })
            .await;
        });
    }
}

/// A blocking writer whose bytes become a streaming response body.
pub struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 256 * 1024;

/// A writer and the body its bytes flow into.
pub fn channel_body() -> (ChannelWriter, Body) {
    let (tx, rx) = mpsc::channel::<Result<Bytes, io::Error>>(8);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    (ChannelWriter { tx, buf: Vec::with_capacity(CHUNK) }, Body::from_stream(stream))
}

impl ChannelWriter {
    /// Ends the body with an error, so the client sees a broken stream rather than a short one.
    pub fn fail(mut self, e: io::Error) {
        self.buf.clear();
        let _ = self.tx.blocking_send(Err(e));
    }

    fn send_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send_buf()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.send_buf()
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        let _ = self.send_buf();
    }
}
