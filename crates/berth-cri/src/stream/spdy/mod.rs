//! A server-side SPDY/3.1 session, the transport of the Kubernetes streaming protocols that
//! client-go's SPDY executor and dialer use (`crictl exec|attach|port-forward`, critest, a
//! kubelet proxying `kubectl`). Written here because no maintained Rust crate speaks SPDY (see
//! docs/ARCHITECTURE.md); it implements what spdystream peers do and no more: streams opened by
//! the client, answered with `SYN_REPLY`, data both ways with half-close (`FIN`), resets, pings,
//! `GOAWAY`. Like spdystream, it neither sends nor honours flow-control windows.
//!
//! A reader task turns frames into [`NewStream`]s and inbound data; a writer task owns the
//! write half and the header compressor, fed by [`Out`] messages from every stream's
//! [`super::Tx`].

pub mod frame;

use super::{Out, Tx};
use bytes::{Bytes, BytesMut};
use frame::{Decoder, Encoder, Frame};
use std::collections::HashMap;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

/// A stream the client opened.
pub struct NewStream {
    /// Its SPDY stream id.
    pub id: u32,
    /// Its headers (names lower case).
    pub headers: Vec<(String, String)>,
    /// What the client sends on it, until it half-closes (or resets, or the connection ends).
    pub rx: mpsc::Receiver<Bytes>,
    /// Sending on it.
    pub tx: Tx,
}

impl NewStream {
    /// The first value of header `name` (case-insensitive, as Go's `http.Header.Get`).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.split('\0').next().unwrap_or(""))
    }
}

/// A running session: the streams the client opens, and the means to close it.
pub struct Session {
    /// Streams as the client opens them.
    pub incoming: mpsc::Receiver<NewStream>,
    out: mpsc::Sender<Out>,
    /// Turns true when the connection is gone (read side ended).
    pub closed: watch::Receiver<bool>,
    reader: tokio::task::JoinHandle<()>,
    writer: tokio::task::JoinHandle<()>,
}

impl Session {
    /// Starts serving SPDY on an upgraded connection.
    pub fn start<S: AsyncRead + AsyncWrite + Send + 'static>(io: S) -> Session {
        let (r, w) = tokio::io::split(io);
        let (out, out_rx) = mpsc::channel::<Out>(256);
        let (new_tx, incoming) = mpsc::channel(32);
        let (closed_tx, closed) = watch::channel(false);
        let writer = tokio::spawn(write_loop(w, out_rx));
        let reader = tokio::spawn(read_loop(r, out.clone(), new_tx, closed_tx));
        Session { incoming, out, closed, reader, writer }
    }

    /// Ends the session: `GOAWAY`, everything queued before it is written, then the write side
    /// is shut. The client closes its side when it has read its streams; one that does not is cut
    /// off after `grace`.
    pub async fn close(self, grace: std::time::Duration) {
        let _ = self.out.send(Out::Close).await;
        drop(self.out);
        drop(self.incoming);
        let _ = self.writer.await;
        let mut reader = self.reader;
        if tokio::time::timeout(grace, &mut reader).await.is_err() {
            reader.abort();
        }
    }
}

async fn read_loop<R: AsyncRead + Unpin>(mut r: R, out: mpsc::Sender<Out>, new: mpsc::Sender<NewStream>, closed: watch::Sender<bool>) {
    let mut dec = Decoder::default();
    let mut buf = BytesMut::with_capacity(64 << 10);
    let mut streams: HashMap<u32, mpsc::Sender<Bytes>> = HashMap::new();
    let mut last_id = 0u32;
    'conn: loop {
        loop {
            let frame = match dec.decode(&mut buf) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(error) => {
                    tracing::debug!(%error, "SPDY: closing a connection that broke the protocol");
                    let _ = out.send(Out::Close).await;
                    break 'conn;
                }
            };
            match frame {
                Frame::SynStream { id, fin, headers } => {
                    // Client streams are odd and increasing (SPDY/3 section 2.3.2).
                    if id % 2 == 0 || id <= last_id {
                        let _ = out.send(Out::Reset(id, frame::RST_PROTOCOL_ERROR)).await;
                        continue;
                    }
                    last_id = id;
                    let (tx, rx) = mpsc::channel(64);
                    if !fin {
                        streams.insert(id, tx);
                    }
                    // The reply is queued before anyone can write on the stream.
                    if out.send(Out::Reply(id)).await.is_err() {
                        break 'conn;
                    }
                    let s = NewStream { id, headers, rx, tx: Tx { id, out: out.clone() } };
                    if new.send(s).await.is_err() {
                        let _ = out.send(Out::Reset(id, frame::RST_REFUSED)).await;
                    }
                }
                Frame::Data { id, fin, data } => {
                    if !data.is_empty() {
                        if let Some(tx) = streams.get(&id) {
                            if tx.send(data).await.is_err() {
                                streams.remove(&id);
                            }
                        }
                    }
                    if fin {
                        streams.remove(&id);
                    }
                }
                Frame::Reset { id, .. } => {
                    streams.remove(&id);
                }
                // Pings the client started (odd ids) are echoed; spdystream pings every 5 s.
                Frame::Ping { id } if id % 2 == 1 => {
                    let _ = out.send(Out::Ping(id)).await;
                }
                Frame::GoAway { .. } => break 'conn,
                Frame::Headers { id, fin: true } => {
                    streams.remove(&id);
                }
                Frame::Ping { .. } | Frame::SynReply { .. } | Frame::Headers { .. } | Frame::Ignored { .. } => {}
            }
        }
        match r.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    drop(streams);
    let _ = closed.send(true);
}

async fn write_loop<W: AsyncWrite + Unpin>(mut w: W, mut rx: mpsc::Receiver<Out>) {
    let mut enc = Encoder::default();
    let mut buf = BytesMut::with_capacity(64 << 10);
    let mut last_reply = 0u32;
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        let mut close = false;
        while let Some(msg) = next.take() {
            let frame = match msg {
                Out::Data(id, data) => Frame::Data { id, fin: false, data },
                Out::Fin(id) => Frame::Data { id, fin: true, data: Bytes::new() },
                Out::Reply(id) => {
                    last_reply = id;
                    Frame::SynReply { id, fin: false, headers: vec![] }
                }
                Out::Ping(id) => Frame::Ping { id },
                Out::Reset(id, status) => Frame::Reset { id, status },
                Out::Close => {
                    close = true;
                    Frame::GoAway { last_good: last_reply, status: 0 }
                }
            };
            enc.encode(&frame, &mut buf);
            if close || buf.len() > 256 << 10 {
                break;
            }
            next = rx.try_recv().ok();
        }
        if w.write_all(&buf).await.is_err() || w.flush().await.is_err() {
            return;
        }
        buf.clear();
        if close {
            let _ = w.shutdown().await;
            return;
        }
    }
}
