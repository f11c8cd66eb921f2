//! SPDY/3.1 framing, as far as Kubernetes' streaming protocols use it (the framer of
//! `github.com/moby/spdystream`, which client-go, kubectl, crictl and critest speak): control
//! frames (`SYN_STREAM`, `SYN_REPLY`, `RST_STREAM`, `SETTINGS`, `PING`, `GOAWAY`, `HEADERS`,
//! `WINDOW_UPDATE`) and data frames, with the name/value header blocks compressed by one zlib
//! stream per direction primed with SPDY/3's dictionary
//! (<https://www.chromium.org/spdy/spdy-protocol/spdy-protocol-draft3-1/>, sections 2.2 and 2.6.10).
//!
//! ```text
//! control: |1| version=3 (15) | type (16) | flags (8) | length (24) | payload
//! data:    |0| stream id (31)             | flags (8) | length (24) | payload
//! ```

use bytes::{BufMut, Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::sync::OnceLock;

/// The SPDY version of every control frame.
pub const VERSION: u16 = 3;
/// `FLAG_FIN` of data and stream control frames: the sender's half of the stream ends.
pub const FLAG_FIN: u8 = 0x01;
/// The largest payload Berth accepts in one frame (data frames are at most 2^24-1 by format;
/// control frames carry a few header lines).
pub const MAX_FRAME: usize = 1 << 24;
/// The largest header block after decompression.
const MAX_HEADER_BLOCK: usize = 256 << 10;

/// `RST_STREAM` status: the stream was refused (`REFUSED_STREAM`).
pub const RST_REFUSED: u32 = 3;
/// `RST_STREAM` status: `PROTOCOL_ERROR`.
pub const RST_PROTOCOL_ERROR: u32 = 1;

/// A frame as read from or written to the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// `SYN_STREAM`: the peer opens a stream with these headers (names lower case).
    SynStream { id: u32, fin: bool, headers: Vec<(String, String)> },
    /// `SYN_REPLY`: the answer to a `SYN_STREAM`.
    SynReply { id: u32, fin: bool, headers: Vec<(String, String)> },
    /// `RST_STREAM`: the stream is abandoned.
    Reset { id: u32, status: u32 },
    /// `PING`: answered with the same id when the peer started it.
    Ping { id: u32 },
    /// `GOAWAY`: no new streams; the connection is closing.
    GoAway { last_good: u32, status: u32 },
    /// `HEADERS` (more headers for a stream; decoded to keep the zlib state, then unused).
    Headers { id: u32, fin: bool },
    /// `SETTINGS`, `WINDOW_UPDATE` and control frames of unknown types, which SPDY says to ignore.
    Ignored { kind: u16 },
    /// A data frame.
    Data { id: u32, fin: bool, data: Bytes },
}

/// Why a byte stream is not SPDY/3.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// A control frame of another SPDY version.
    #[error("SPDY version {0} is not supported (only 3)")]
    Version(u16),
    /// A frame longer than Berth accepts.
    #[error("frame of {0} bytes is too large")]
    TooLarge(usize),
    /// A control frame shorter than its fixed fields.
    #[error("control frame of type {kind} is truncated")]
    Truncated { kind: u16 },
    /// A header block that does not inflate or parse.
    #[error("bad header block: {0}")]
    HeaderBlock(&'static str),
    /// Stream id 0 where a stream is required.
    #[error("stream id 0 in a frame of type {0}")]
    ZeroStream(u16),
}

/// SPDY/3's zlib dictionary (section 2.6.10.1): length-prefixed common header names and values,
/// then a run of common strings. Built once; 1423 bytes.
pub fn dictionary() -> &'static [u8] {
    static DICT: OnceLock<Vec<u8>> = OnceLock::new();
    DICT.get_or_init(|| {
        const WORDS: &[&str] = &[
            "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding", "accept-language",
            "accept-ranges", "age", "allow", "authorization", "cache-control", "connection", "content-base", "content-encoding",
            "content-language", "content-length", "content-location", "content-md5", "content-range", "content-type", "date", "etag",
            "expect", "expires", "from", "host", "if-match", "if-modified-since", "if-none-match", "if-range", "if-unmodified-since",
            "last-modified", "location", "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer",
            "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via", "warning",
            "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie",
            "keep-alive", "origin",
        ];
        const TAIL: &str = "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505\
            203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized\
            403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable\
            Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT\
            chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,\
            text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";
        let mut d = Vec::with_capacity(1423);
        for w in WORDS {
            d.extend_from_slice(&(w.len() as u32).to_be_bytes());
            d.extend_from_slice(w.as_bytes());
        }
        d.extend_from_slice(TAIL.as_bytes());
        d
    })
}

/// Decodes frames from a byte buffer; holds the inbound header decompressor, whose state runs
/// across every header block of the connection.
pub struct Decoder {
    inflate: Decompress,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder { inflate: Decompress::new(true) }
    }
}

/// Big-endian u32 at `at` (the caller checked the length).
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Decoder {
    /// Takes one frame off the front of `buf` if it holds a whole one.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if buf.len() < 8 {
            return Ok(None);
        }
        let len = (be32(buf, 4) & 0x00ff_ffff) as usize;
        if len > MAX_FRAME {
            return Err(FrameError::TooLarge(len));
        }
        if buf.len() < 8 + len {
            buf.reserve(8 + len - buf.len());
            return Ok(None);
        }
        let head = buf.split_to(8);
        let payload = buf.split_to(len).freeze();
        let flags = head[4];
        let fin = flags & FLAG_FIN != 0;
        if head[0] & 0x80 == 0 {
            return Ok(Some(Frame::Data { id: be32(&head, 0) & 0x7fff_ffff, fin, data: payload }));
        }
        let version = u16::from_be_bytes([head[0], head[1]]) & 0x7fff;
        let kind = u16::from_be_bytes([head[2], head[3]]);
        if version != VERSION {
            return Err(FrameError::Version(version));
        }
        let need = |n: usize| if payload.len() < n { Err(FrameError::Truncated { kind }) } else { Ok(()) };
        let stream = |p: &[u8]| -> Result<u32, FrameError> {
            match be32(p, 0) & 0x7fff_ffff {
                0 => Err(FrameError::ZeroStream(kind)),
                id => Ok(id),
            }
        };
        Ok(Some(match kind {
            1 => {
                need(10)?;
                let id = stream(&payload)?;
                Frame::SynStream { id, fin, headers: self.header_block(&payload[10..])? }
            }
            2 => {
                need(4)?;
                let id = stream(&payload)?;
                Frame::SynReply { id, fin, headers: self.header_block(&payload[4..])? }
            }
            3 => {
                need(8)?;
                Frame::Reset { id: be32(&payload, 0) & 0x7fff_ffff, status: be32(&payload, 4) }
            }
            6 => {
                need(4)?;
                Frame::Ping { id: be32(&payload, 0) }
            }
            7 => {
                need(4)?;
                let status = if payload.len() >= 8 { be32(&payload, 4) } else { 0 };
                Frame::GoAway { last_good: be32(&payload, 0) & 0x7fff_ffff, status }
            }
            8 => {
                need(4)?;
                let id = stream(&payload)?;
                self.header_block(&payload[4..])?;
                Frame::Headers { id, fin }
            }
            kind => Frame::Ignored { kind },
        }))
    }

    /// Inflates and parses one name/value header block (section 2.6.10).
    fn header_block(&mut self, input: &[u8]) -> Result<Vec<(String, String)>, FrameError> {
        let mut out = Vec::with_capacity(256);
        let mut pos = 0;
        loop {
            if out.len() == out.capacity() {
                out.reserve(1024);
            }
            let (in0, out0) = (self.inflate.total_in(), self.inflate.total_out());
            let status = match self.inflate.decompress_vec(&input[pos..], &mut out, FlushDecompress::Sync) {
                Ok(s) => s,
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate.set_dictionary(dictionary()).map_err(|_| FrameError::HeaderBlock("dictionary rejected"))?;
                    Status::Ok
                }
                Err(_) => return Err(FrameError::HeaderBlock("corrupt zlib data")),
            };
            pos += (self.inflate.total_in() - in0) as usize;
            let produced = self.inflate.total_out() - out0;
            if out.len() > MAX_HEADER_BLOCK {
                return Err(FrameError::HeaderBlock("too large"));
            }
            if status == Status::StreamEnd {
                return Err(FrameError::HeaderBlock("zlib stream ended"));
            }
            if pos >= input.len() && out.len() < out.capacity() {
                break;
            }
            if produced == 0 && self.inflate.total_in() == in0 && pos < input.len() && out.len() < out.capacity() {
                return Err(FrameError::HeaderBlock("zlib made no progress"));
            }
        }
        parse_block(&out)
    }
}

/// Parses an inflated header block: a count, then length-prefixed names and values.
fn parse_block(b: &[u8]) -> Result<Vec<(String, String)>, FrameError> {
    let mut at = 0usize;
    let count = be32(take(b, &mut at, 4)?, 0) as usize;
    let mut headers = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let n = be32(take(b, &mut at, 4)?, 0) as usize;
        let name = std::str::from_utf8(take(b, &mut at, n)?).map_err(|_| FrameError::HeaderBlock("name is not UTF-8"))?.to_ascii_lowercase();
        let n = be32(take(b, &mut at, 4)?, 0) as usize;
        let value = String::from_utf8_lossy(take(b, &mut at, n)?).into_owned();
        headers.push((name, value));
    }
    Ok(headers)
}

/// The next `n` bytes of `b` from `*at`.
fn take<'a>(b: &'a [u8], at: &mut usize, n: usize) -> Result<&'a [u8], FrameError> {
    let end = at.checked_add(n).filter(|e| *e <= b.len()).ok_or(FrameError::HeaderBlock("truncated"))?;
    let s = &b[*at..end];
    *at = end;
    Ok(s)
}

/// Encodes frames; holds the outbound header compressor.
pub struct Encoder {
    deflate: Compress,
}

impl Default for Encoder {
    fn default() -> Self {
        let mut deflate = Compress::new(Compression::best(), true);
        // Infallible for a fresh stream; an error would surface as a peer failing to inflate.
        let _ = deflate.set_dictionary(dictionary());
        Encoder { deflate }
    }
}

fn control(out: &mut BytesMut, kind: u16, flags: u8, payload: &[u8]) {
    out.put_u16(0x8000 | VERSION);
    out.put_u16(kind);
    out.put_u32(((flags as u32) << 24) | payload.len() as u32);
    out.put_slice(payload);
}

impl Encoder {
    /// Appends `frame` to `out`.
    pub fn encode(&mut self, frame: &Frame, out: &mut BytesMut) {
        let fin = |f: bool| if f { FLAG_FIN } else { 0 };
        match frame {
            Frame::Data { id, fin: f, data } => {
                out.put_u32(id & 0x7fff_ffff);
                out.put_u32(((fin(*f) as u32) << 24) | data.len() as u32);
                out.put_slice(data);
            }
            Frame::SynStream { id, fin: f, headers } => {
                let mut p = BytesMut::new();
                p.put_u32(*id);
                p.put_u32(0);
                p.put_u16(0);
                p.put_slice(&self.header_block(headers));
                control(out, 1, fin(*f), &p);
            }
            Frame::SynReply { id, fin: f, headers } => {
                let mut p = BytesMut::new();
                p.put_u32(*id);
                p.put_slice(&self.header_block(headers));
                control(out, 2, fin(*f), &p);
            }
            Frame::Reset { id, status } => control(out, 3, 0, &[id.to_be_bytes(), status.to_be_bytes()].concat()),
            Frame::Ping { id } => control(out, 6, 0, &id.to_be_bytes()),
            Frame::GoAway { last_good, status } => control(out, 7, 0, &[last_good.to_be_bytes(), status.to_be_bytes()].concat()),
            Frame::Headers { .. } | Frame::Ignored { .. } => {}
        }
    }

    /// Deflates one header block with a sync flush, so the peer can inflate it on its own.
    fn header_block(&mut self, headers: &[(String, String)]) -> Vec<u8> {
        let mut raw = Vec::new();
        raw.extend_from_slice(&(headers.len() as u32).to_be_bytes());
        for (n, v) in headers {
            let n = n.to_ascii_lowercase();
            raw.extend_from_slice(&(n.len() as u32).to_be_bytes());
            raw.extend_from_slice(n.as_bytes());
            raw.extend_from_slice(&(v.len() as u32).to_be_bytes());
            raw.extend_from_slice(v.as_bytes());
        }
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut pos = 0;
        loop {
            if out.len() == out.capacity() {
                out.reserve(256);
            }
            let in0 = self.deflate.total_in();
            if self.deflate.compress_vec(&raw[pos..], &mut out, FlushCompress::Sync).is_err() {
                break;
            }
            pos += (self.deflate.total_in() - in0) as usize;
            if pos >= raw.len() && out.len() < out.capacity() {
                break;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    /// The dictionary must be byte-exact: a peer inflating with a different one fails on the
    /// first header block (its adler32 is the zlib header's DICTID).
    #[test]
    fn dictionary_is_spdy3s() {
        let d = dictionary();
        assert_eq!(d.len(), 1423);
        assert_eq!(hex::encode(sha2::Sha256::digest(d)), "51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02");
    }

    /// The frames crictl 1.36 (client-go's SPDY executor, Go's zlib) sent for
    /// `crictl exec -i CONTAINER sh -c 'cat; ...'` with "line one\nline two\n" on stdin, captured
    /// with strace from its socket writes: four SYN_STREAMs whose header blocks share one zlib
    /// stream (error, stdin, stdout, stderr), stdin's data, and its FIN.
    #[test]
    fn decodes_frames_captured_from_crictl() {
        let mut d = Decoder::default();
        let mut buf = BytesMut::from(CAPTURED);
        let mut opened = vec![];
        let mut stdin = Vec::new();
        let mut fin = false;
        while let Some(f) = d.decode(&mut buf).unwrap() {
            match f {
                Frame::SynStream { id, fin: false, headers } => opened.push((id, headers)),
                Frame::Data { id: 3, fin: f, data } => {
                    stdin.extend_from_slice(&data);
                    fin |= f;
                }
                other => panic!("unexpected frame {other:?}"),
            }
        }
        assert!(buf.is_empty());
        let kinds: Vec<(u32, &str)> = opened.iter().map(|(id, h)| (*id, h.iter().find(|(n, _)| n == "streamtype").map(|(_, v)| v.as_str()).unwrap_or(""))).collect();
        assert_eq!(kinds, [(1, "error"), (3, "stdin"), (5, "stdout"), (7, "stderr")]);
        assert_eq!(stdin, b"line one\nline two\n");
        assert!(fin, "stdin ends with FIN");
    }

    /// What the encoder writes, the decoder (a fresh peer) reads back, across several header
    /// blocks of one zlib stream; a partial frame waits for its rest.
    #[test]
    fn round_trips_and_waits_for_whole_frames() {
        let mut e = Encoder::default();
        let mut wire = BytesMut::new();
        let frames = vec![
            Frame::SynReply { id: 1, fin: false, headers: vec![] },
            Frame::SynStream { id: 2, fin: true, headers: vec![("port".into(), "8080".into()), ("requestid".into(), "0".into())] },
            Frame::Data { id: 1, fin: false, data: Bytes::from(vec![7u8; 70_000]) },
            Frame::Ping { id: 9 },
            Frame::Reset { id: 3, status: RST_REFUSED },
            Frame::GoAway { last_good: 3, status: 0 },
            Frame::SynReply { id: 5, fin: true, headers: vec![("x".into(), "y".into())] },
        ];
        for f in &frames {
            e.encode(f, &mut wire);
        }
        let mut d = Decoder::default();
        let mut buf = BytesMut::new();
        let mut got = vec![];
        for chunk in wire.chunks(1000) {
            buf.extend_from_slice(chunk);
            while let Some(f) = d.decode(&mut buf).unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, frames);
    }

    #[test]
    fn refuses_other_versions_and_huge_frames() {
        let mut d = Decoder::default();
        let mut b = BytesMut::from(&[0x80, 0x02, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 1][..]);
        assert_eq!(d.decode(&mut b), Err(FrameError::Version(2)));
        let mut b = BytesMut::from(&[0x00, 0, 0, 1, 0, 0xff, 0xff, 0xff][..]);
        assert!(d.decode(&mut b).unwrap().is_none(), "a data frame of 16 MiB - 1 waits for its bytes");
        let mut b = BytesMut::from(&[0x80, 0x03, 0x00, 0x01, 0, 0, 0, 2, 0, 0][..]);
        assert_eq!(d.decode(&mut b), Err(FrameError::Truncated { kind: 1 }));
    }

    /// See `decodes_frames_captured_from_crictl`.
    const CAPTURED: &[u8] = b"\x80\x03\x00\x01\x00\x00\x00\x29\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x78\xf9\xe3\xc6\xa7\xc2\x62\x60\x60\x60\x04\xa7\xb3\x92\xa2\xd4\xc4\x5c\x68\x51\xc2\x9a\x0a\x0a\x68\x00\x00\x00\x00\xff\xff\x80\x03\x00\x01\x00\x00\x00\x17\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\xc2\x2e\x55\x5c\x92\x92\x99\x07\x00\x00\x00\xff\xff\x80\x03\x00\x01\x00\x00\x00\x19\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\xc2\x2a\xc5\x56\x5c\x92\x92\x5f\x5a\x02\x00\x00\x00\xff\xff\x80\x03\x00\x01\x00\x00\x00\x15\x00\x00\x00\x07\x00\x00\x00\x00\x00\x00\xc2\x29\x97\x5a\x54\x04\x00\x00\x00\xff\xff\x00\x00\x00\x03\x00\x00\x00\x12\x6c\x69\x6e\x65\x20\x6f\x6e\x65\x0a\x6c\x69\x6e\x65\x20\x74\x77\x6f\x0a\x00\x00\x00\x03\x01\x00\x00\x00";
}
