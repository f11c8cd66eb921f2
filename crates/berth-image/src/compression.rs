//! Detecting and undoing the compression of an archive stream by its magic bytes.

use std::io::{self, BufReader, Read};

/// The compressions Docker accepts for imported and loaded archives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// bzip2 (`BZh`).
    Bzip2,
    /// xz (`fd 37 7a 58 5a 00`).
    Xz,
    /// zstd (`28 b5 2f fd`).
    Zstd,
}

impl Compression {
    /// Identifies the compression from the first bytes of a stream.
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(b"BZh") {
            Compression::Bzip2
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Compression::Xz
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Wraps `reader` in the decoder its magic bytes call for. Multi-member gzip streams are read whole.
pub fn decompress<'a, R: Read + 'a>(mut reader: R) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    // Read the magic bytes explicitly: a socket may hand over fewer bytes than the longest magic.
    let mut head = Vec::with_capacity(MAGIC_LEN);
    let mut chunk = [0u8; MAGIC_LEN];
    while head.len() < MAGIC_LEN {
        let k = reader.read(&mut chunk[..MAGIC_LEN - head.len()])?;
        if k == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..k]);
    }
    let c = Compression::detect(&head);
    let buf = BufReader::with_capacity(256 * 1024, io::Cursor::new(head).chain(reader));
    let r: Box<dyn Read + 'a> = match c {
        Compression::None => Box::new(buf),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buf)),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(buf)),
        Compression::Xz => Box::new(xz2::bufread::XzDecoder::new_multi_decoder(buf)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buf)?),
    };
    Ok((c, r))
}

const MAGIC_LEN: usize = 6;

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn each_compression_round_trips() {
        let data = b"hello layer".repeat(100);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(&data).unwrap();
        let mut xz = xz2::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&data).unwrap();
        let zs = zstd::encode_all(&data[..], 1).unwrap();
        for (expect, bytes) in [
            (Compression::Gzip, gz.finish().unwrap()),
            (Compression::Bzip2, bz.finish().unwrap()),
            (Compression::Xz, xz.finish().unwrap()),
            (Compression::Zstd, zs),
            (Compression::None, data.clone()),
        ] {
            let (c, mut r) = decompress(&bytes[..]).unwrap();
            assert_eq!(c, expect);
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert_eq!(out, data);
        }
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&b"x".repeat(10000)).unwrap();
        let bytes = gz.finish().unwrap();
        let (_, mut r) = decompress(&bytes[..bytes.len() / 2]).unwrap();
        let mut out = Vec::new();
        assert!(r.read_to_end(&mut out).is_err());
    }
}
