//! Content digests (`sha256:<64 hex>`), parsed at the edge and carried as a newtype.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};
use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

/// A validated content digest. Only `sha256` is accepted (the algorithm every OCI client uses).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

/// Why a string is not a digest.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    /// The string has no `algorithm:` prefix.
    #[error("invalid digest format: {0:?}")]
    Format(String),
    /// The algorithm is not sha256.
    #[error("unsupported digest algorithm: {0:?}")]
    Algorithm(String),
    /// The encoded part is not 64 lowercase hex characters.
    #[error("invalid checksum digest length or characters: {0:?}")]
    Encoded(String),
}

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest { hex: hex::encode(Sha256::digest(bytes)) }
    }

    /// Builds a digest from 64 lowercase hex characters.
    pub fn from_hex(hex: &str) -> Result<Digest, DigestError> {
        if hex.len() == 64 && hex.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)) {
            Ok(Digest { hex: hex.to_string() })
        } else {
            Err(DigestError::Encoded(hex.to_string()))
        }
    }

    /// The algorithm name, always `sha256`.
    pub fn algorithm(&self) -> &'static str {
        "sha256"
    }

    /// The 64-character hex part.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The first 12 hex characters, as Docker shows image and container ids.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (alg, enc) = s.split_once(':').ok_or_else(|| DigestError::Format(s.to_string()))?;
        if alg != "sha256" {
            return Err(DigestError::Algorithm(alg.to_string()));
        }
        Digest::from_hex(enc)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A writer that hashes and counts everything written through it to an inner writer.
pub struct Sha256Writer<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Sha256Writer<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Sha256Writer { inner, hasher: Sha256::new(), written: 0 }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The inner writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Returns the inner writer, the digest and the byte count of everything written.
    pub fn finish(self) -> (W, Digest, u64) {
        let hex = hex::encode(self.hasher.finalize());
        (self.inner, Digest { hex }, self.written)
    }
}

impl<W: Write> Write for Sha256Writer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_empty_is_known_value() {
        assert_eq!(
            Digest::of(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn parse_rejects_bad_digests() {
        assert!("sha256:abc".parse::<Digest>().is_err());
        assert!("md5:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".parse::<Digest>().is_err());
        assert!("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".parse::<Digest>().is_err());
        assert!("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855".parse::<Digest>().is_err());
        let d: Digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".parse().unwrap();
        assert_eq!(d.short(), "e3b0c44298fc");
    }

    #[test]
    fn writer_hashes_what_it_writes() {
        let mut w = Sha256Writer::new(Vec::new());
        w.write_all(b"hello ").unwrap();
        w.write_all(b"world").unwrap();
        let (buf, d, n) = w.finish();
        assert_eq!(buf, b"hello world");
        assert_eq!(n, 11);
        assert_eq!(d, Digest::of(b"hello world"));
    }
}
