//! Layer ingestion: a layer tar is checked entry by entry while its bytes stream into the content
//! store, so a hostile archive is refused before anything of it becomes visible.
//!
//! Refused (each a known container-escape vector, cf. CVE-2019-14271 / CVE-2018-15664 class bugs):
//! absolute entry paths, `..` components, hard links whose target is absolute or climbs out of the
//! tree, relative symlinks that climb above the root, entries that pass *through* a symlink the same
//! archive created, sparse and other exotic entry types, and streams cut before the end-of-archive
//! marker. Absolute symlink targets are allowed: they resolve inside the container's root.

use crate::ImageError;
use berth_content::{BlobWriter, ContentStore};
use berth_types::Digest;
use std::collections::HashSet;
use std::io::{self, Read, Write};

/// A stored layer: its diff id and the bytes its files take unpacked (what Docker reports as size).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerStats {
    /// sha256 of the uncompressed tar.
    pub diff_id: Digest,
    /// Sum of regular file sizes.
    pub size: u64,
}

/// Reads an uncompressed layer tar from `reader`, checks every entry, stores the tar in `content`
/// and returns its diff id. Nothing is stored when a check fails.
pub fn ingest_layer<R: Read>(content: &ContentStore, reader: R) -> Result<LayerStats, ImageError> {
    ingest_layer_as(content, reader, berth_types::Algorithm::Sha256)
}

/// [`ingest_layer`] for a layer whose diff id uses algorithm `alg` (an image whose config lists
/// sha512 diff ids stores its layers under those).
pub fn ingest_layer_as<R: Read>(
    content: &ContentStore,
    reader: R,
    alg: berth_types::Algorithm,
) -> Result<LayerStats, ImageError> {
    let mut writer = content.writer_with(alg)?;
    let size = scan(reader, Some(&mut writer), alg)?.size;
    let (diff_id, _) = writer.commit(None, None)?;
    Ok(LayerStats { diff_id, size })
}

/// Checks every entry of an uncompressed layer tar without storing it; returns its digest and size.
pub fn verify_layer<R: Read>(reader: R) -> Result<LayerStats, ImageError> {
    scan(reader, None, berth_types::Algorithm::Sha256)
}

fn scan<R: Read>(reader: R, sink: Option<&mut BlobWriter>, alg: berth_types::Algorithm) -> Result<LayerStats, ImageError> {
    let mut hasher = berth_types::DigestWriter::with_algorithm(io::sink(), alg);
    let mut tee = Tee { inner: reader, sink, hasher: &mut hasher, tail: Vec::with_capacity(1024), total: 0 };
    let mut size = 0u64;
    {
        let mut archive = tar::Archive::new(&mut tee);
        let mut checker = EntryChecker::default();
        for entry in archive.entries().map_err(ImageError::Read)? {
            let entry = entry.map_err(map_tar_err)?;
            let header = entry.header();
            let path = entry.path_bytes().into_owned();
            let link = entry.link_name_bytes().map(|l| l.into_owned());
            let kind = EntryKind::from(header.entry_type());
            checker.check(&path, kind, link.as_deref())?;
            if kind == EntryKind::File {
                size += entry.size();
            }
            // The tar reader skips the entry's data by reading it, which streams it through the tee.
        }
    }
    if tee.total == 0 || tee.tail.len() < 512 || tee.tail[tee.tail.len() - 512..].iter().any(|&b| b != 0) {
        return Err(ImageError::Truncated);
    }
    io::copy(&mut tee, &mut io::sink()).map_err(ImageError::Read)?;
    drop(tee);
    let (_, diff_id, _) = hasher.finish();
    Ok(LayerStats { diff_id, size })
}

/// The tar reader reports a cut stream either as `UnexpectedEof` or as an error mentioning EOF.
pub(crate) fn map_tar_err(e: io::Error) -> ImageError {
    if e.kind() == io::ErrorKind::UnexpectedEof || e.to_string().contains("EOF") {
        ImageError::Truncated
    } else {
        ImageError::Read(e)
    }
}

/// Passes bytes through to the tar reader while storing and hashing them, remembering the last block.
struct Tee<'a, R> {
    inner: R,
    sink: Option<&'a mut BlobWriter>,
    hasher: &'a mut berth_types::Sha256Writer<io::Sink>,
    tail: Vec<u8>,
    total: u64,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let data = &buf[..n];
        if let Some(s) = self.sink.as_mut() {
            s.write_all(data)?;
        }
        self.hasher.write_all(data)?;
        self.total += n as u64;
        if n >= 512 {
            self.tail.clear();
            self.tail.extend_from_slice(&data[n - 512..]);
        } else {
            self.tail.extend_from_slice(data);
            if self.tail.len() > 512 {
                let cut = self.tail.len() - 512;
                self.tail.drain(..cut);
            }
        }
        Ok(n)
    }
}

/// The entry types a layer may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
    /// Hard link.
    Hardlink,
    /// Character/block device or FIFO.
    Special,
    /// Anything else (sparse files, volume headers, …).
    Unsupported,
}

impl From<tar::EntryType> for EntryKind {
    fn from(t: tar::EntryType) -> Self {
        use tar::EntryType as T;
        match t {
            T::Regular | T::Continuous => EntryKind::File,
            T::Directory => EntryKind::Dir,
            T::Symlink => EntryKind::Symlink,
            T::Link => EntryKind::Hardlink,
            T::Char | T::Block | T::Fifo => EntryKind::Special,
            _ => EntryKind::Unsupported,
        }
    }
}

/// Normalises an archive path into components, refusing absolute paths and `..`.
pub fn normalize(path: &[u8]) -> Result<Vec<String>, &'static str> {
    let s = std::str::from_utf8(path).map_err(|_| "path is not valid UTF-8")?;
    if s.starts_with('/') {
        return Err("absolute path");
    }
    let mut out = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err("path contains '..'"),
            c => out.push(c.to_string()),
        }
    }
    Ok(out)
}

/// Tracks the symlinks an archive creates and checks each entry against them.
#[derive(Default)]
pub struct EntryChecker {
    symlinks: HashSet<String>,
}

impl EntryChecker {
    /// Checks one entry; `link` is the link target for symlinks and hard links.
    pub fn check(&mut self, path: &[u8], kind: EntryKind, link: Option<&[u8]>) -> Result<(), ImageError> {
        let shown = String::from_utf8_lossy(path).into_owned();
        let hostile = |reason| ImageError::HostileEntry { path: shown.clone(), reason };
        let comps = normalize(path).map_err(hostile)?;
        if self.through_symlink(&comps) {
            return Err(hostile("path passes through a symlink in the same archive"));
        }
        let joined = comps.join("/");
        match kind {
            EntryKind::Unsupported => return Err(hostile("unsupported entry type")),
            EntryKind::Hardlink => {
                let target = normalize(link.unwrap_or_default()).map_err(|_| hostile("hard link points outside the archive"))?;
                if target.is_empty() || self.through_symlink(&target) {
                    return Err(hostile("hard link points outside the archive"));
                }
            }
            EntryKind::Symlink => {
                let target = std::str::from_utf8(link.unwrap_or_default()).map_err(|_| hostile("link target is not valid UTF-8"))?;
                if !target.starts_with('/') {
                    let mut depth: Vec<&str> = comps.iter().map(String::as_str).collect();
                    depth.pop();
                    for c in target.split('/') {
                        match c {
                            "" | "." => {}
                            ".." => {
                                if depth.pop().is_none() {
                                    return Err(hostile("symlink points outside the archive root"));
                                }
                            }
                            c => depth.push(c),
                        }
                    }
                }
                self.symlinks.insert(joined);
                return Ok(());
            }
            _ => {}
        }
        self.symlinks.remove(&joined);
        Ok(())
    }

    fn through_symlink(&self, comps: &[String]) -> bool {
        if self.symlinks.is_empty() {
            return false;
        }
        let mut prefix = String::new();
        for c in &comps[..comps.len().saturating_sub(1)] {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(c);
            if self.symlinks.contains(&prefix) {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a tar by hand so hostile names the `tar` crate's safe API refuses can be written.
    pub fn raw_tar(entries: &[(&str, tar::EntryType, &str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (path, kind, link, data) in entries {
            let mut h = tar::Header::new_old();
            {
                let b = h.as_old_mut();
                b.name[..path.len()].copy_from_slice(path.as_bytes());
                b.linkname[..link.len()].copy_from_slice(link.as_bytes());
            }
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(data);
            let pad = (512 - data.len() % 512) % 512;
            out.extend(std::iter::repeat_n(0u8, pad));
        }
        out.extend(std::iter::repeat_n(0u8, 1024));
        out
    }

    fn store() -> (tempfile::TempDir, ContentStore) {
        let d = tempfile::tempdir().unwrap();
        let s = ContentStore::open(d.path()).unwrap();
        (d, s)
    }

    use tar::EntryType as T;

    #[test]
    fn good_layer_is_stored_under_its_diff_id() {
        let (_d, s) = store();
        let tar = raw_tar(&[
            ("bin/", T::Directory, "", b""),
            ("bin/busybox", T::Regular, "", b"binary"),
            ("bin/sh", T::Symlink, "busybox", b""),
            ("bin/ls", T::Link, "bin/busybox", b""),
            ("etc/localtime", T::Symlink, "/usr/share/zoneinfo/UTC", b""),
            ("./etc/.wh.old", T::Regular, "", b""),
        ]);
        let st = ingest_layer(&s, &tar[..]).unwrap();
        assert_eq!(st.diff_id, Digest::of(&tar));
        assert_eq!(st.size, 6);
        assert_eq!(s.read(&st.diff_id).unwrap(), tar);
    }

    #[test]
    fn hostile_entries_are_refused_and_nothing_is_stored() {
        let cases: Vec<Vec<u8>> = vec![
            raw_tar(&[("../evil", T::Regular, "", b"x")]),
            raw_tar(&[("/etc/passwd", T::Regular, "", b"x")]),
            raw_tar(&[("a/../../evil", T::Regular, "", b"x")]),
            raw_tar(&[("link", T::Link, "../../etc/shadow", b"")]),
            raw_tar(&[("link", T::Link, "/etc/shadow", b"")]),
            raw_tar(&[("dir/esc", T::Symlink, "../../outside", b"")]),
            raw_tar(&[("esc", T::Symlink, "/", b""), ("esc/etc/passwd", T::Regular, "", b"x")]),
            raw_tar(&[("esc", T::Symlink, "/etc", b""), ("hl", T::Link, "esc/shadow", b"")]),
            raw_tar(&[("sparse", T::GNUSparse, "", b"")]),
        ];
        for (i, tar) in cases.iter().enumerate() {
            let (_d, s) = store();
            let err = ingest_layer(&s, &tar[..]).unwrap_err();
            assert!(matches!(err, ImageError::HostileEntry { .. } | ImageError::Read(_)), "case {i}: {err}");
            assert!(s.list().unwrap().is_empty(), "case {i} left a blob");
        }
    }

    #[test]
    fn truncated_tar_is_refused() {
        let (_d, s) = store();
        let tar = raw_tar(&[("a", T::Regular, "", &[7u8; 2000])]);
        for cut in [600, 1024, tar.len() - 1024, 0] {
            let err = ingest_layer(&s, &tar[..cut]).unwrap_err();
            assert!(matches!(err, ImageError::Truncated), "cut {cut}: {err}");
        }
        assert!(s.list().unwrap().is_empty());
    }

    #[test]
    fn symlink_replaced_by_directory_is_fine() {
        let (_d, s) = store();
        let tar = raw_tar(&[("a", T::Symlink, "/x", b""), ("a", T::Directory, "", b""), ("a/f", T::Regular, "", b"1")]);
        ingest_layer(&s, &tar[..]).unwrap();
    }

    #[test]
    fn verify_matches_ingest_digest() {
        let tar = raw_tar(&[("f", T::Regular, "", b"abc")]);
        assert_eq!(verify_layer(&tar[..]).unwrap().diff_id, Digest::of(&tar));
    }
}
