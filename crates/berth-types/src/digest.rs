//! Content digests (`sha256:<64 hex>`, `sha512:<128 hex>`), parsed at the edge and carried as a newtype.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256, Sha512};
use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

/// A digest algorithm of the OCI image spec's registered set (`sha256`, the default everywhere, and
/// `sha512`, which the distribution spec's conformance suite exercises end to end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Algorithm {
    /// SHA-256, 64 hex characters.
    #[default]
    Sha256,
    /// SHA-512, 128 hex characters.
    Sha512,
}

impl Algorithm {
    /// Every supported algorithm, the default first.
    pub const ALL: [Algorithm; 2] = [Algorithm::Sha256, Algorithm::Sha512];

    /// The name as it prefixes a digest (`sha256`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// The length of the hex-encoded hash.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    /// The algorithm named `name`, if supported.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// A validated content digest: a supported [`Algorithm`] and its lowercase hex hash.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    alg: Algorithm,
    hex: String,
}

/// Why a string is not a digest.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    /// The string has no `algorithm:` prefix.
    #[error("invalid digest format: {0:?}")]
    Format(String),
    /// The algorithm is neither sha256 nor sha512.
    #[error("unsupported digest algorithm: {0:?}")]
    Algorithm(String),
    /// The encoded part is not the algorithm's number of lowercase hex characters.
    #[error("invalid checksum digest length or characters: {0:?}")]
    Encoded(String),
}

impl Digest {
    /// The sha256 digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::of_with(Algorithm::Sha256, bytes)
    }

    /// The digest of `bytes` with algorithm `alg`.
    pub fn of_with(alg: Algorithm, bytes: &[u8]) -> Digest {
        let mut h = Digester::new(alg);
        h.update(bytes);
        h.finish()
    }

    /// Builds a sha256 digest from 64 lowercase hex characters.
    pub fn from_hex(hex: &str) -> Result<Digest, DigestError> {
        Digest::from_parts(Algorithm::Sha256, hex)
    }

    /// Builds a digest of algorithm `alg` from its lowercase hex hash.
    pub fn from_parts(alg: Algorithm, hex: &str) -> Result<Digest, DigestError> {
        if hex.len() == alg.hex_len() && hex.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)) {
            Ok(Digest { alg, hex: hex.to_string() })
        } else {
            Err(DigestError::Encoded(hex.to_string()))
        }
    }

    /// The algorithm name (`sha256` or `sha512`).
    pub fn algorithm(&self) -> &'static str {
        self.alg.name()
    }

    /// The algorithm.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The hex part.
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
        let alg = Algorithm::from_name(alg).ok_or_else(|| DigestError::Algorithm(alg.to_string()))?;
        Digest::from_parts(alg, enc)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.alg.name(), self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
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

/// An incremental hasher of either algorithm, for verifying content against a digest it claims.
#[derive(Clone)]
pub enum Digester {
    /// SHA-256 state.
    Sha256(Sha256),
    /// SHA-512 state.
    Sha512(Sha512),
}

impl fmt::Debug for Digester {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digester({})", self.alg().name())
    }
}

impl Digester {
    /// A fresh hasher for `alg`.
    pub fn new(alg: Algorithm) -> Digester {
        match alg {
            Algorithm::Sha256 => Digester::Sha256(Sha256::new()),
            Algorithm::Sha512 => Digester::Sha512(Sha512::new()),
        }
    }

    /// Its algorithm.
    pub fn alg(&self) -> Algorithm {
        match self {
            Digester::Sha256(_) => Algorithm::Sha256,
            Digester::Sha512(_) => Algorithm::Sha512,
        }
    }

    /// Hashes `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Digester::Sha256(h) => h.update(bytes),
            Digester::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest of everything hashed.
    pub fn finish(self) -> Digest {
        match self {
            Digester::Sha256(h) => Digest { alg: Algorithm::Sha256, hex: hex::encode(h.finalize()) },
            Digester::Sha512(h) => Digest { alg: Algorithm::Sha512, hex: hex::encode(h.finalize()) },
        }
    }
}

/// A writer that hashes (sha256 unless told otherwise) and counts everything written through it to an
/// inner writer.
pub struct DigestWriter<W> {
    inner: W,
    hasher: Digester,
    written: u64,
}

/// The historical name of [`DigestWriter`], which hashes sha256 by default.
pub type Sha256Writer<W> = DigestWriter<W>;

impl<W: Write> DigestWriter<W> {
    /// Wraps `inner`, hashing sha256.
    pub fn new(inner: W) -> Self {
        DigestWriter::with_algorithm(inner, Algorithm::Sha256)
    }

    /// Wraps `inner`, hashing with `alg`.
    pub fn with_algorithm(inner: W, alg: Algorithm) -> Self {
        DigestWriter { inner, hasher: Digester::new(alg), written: 0 }
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
        (self.inner, self.hasher.finish(), self.written)
    }
}

impl<W: Write> Write for DigestWriter<W> {
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
    fn sha512_digests_parse_and_compute() {
        let empty = "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";
        let d: Digest = empty.parse().unwrap();
        assert_eq!(d, Digest::of_with(Algorithm::Sha512, b""));
        assert_eq!(d.algorithm(), "sha512");
        assert_eq!(d.to_string(), empty);
        assert!("sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".parse::<Digest>().is_err());
        assert_eq!(
            "sha384:00".parse::<Digest>(),
            Err(DigestError::Algorithm("sha384".into()))
        );
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
