//! Writing an overlay upper directory as an OCI layer tar (for `docker commit` and the builder).
//!
//! The reverse of [`super::apply_layer`]: overlay whiteouts (0:0 character devices) become `.wh.NAME`
//! entries and `trusted.overlay.opaque=y` becomes a `.wh..wh..opq` entry right after its directory.
//! Entries are written in sorted order with the files' own metadata, so the same tree always yields
//! the same bytes (and so the same diff id).

use super::{is_overlay_xattr, opaque_xattr, OPAQUE_MARKER, PAX_XATTR_PREFIX, WHITEOUT_PREFIX};
use berth_types::error::{ErrorKind, HasKind};
use berth_types::idmap::{IdMappings, OVERFLOW_ID};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Why a diff could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// Reading the upper directory failed.
    #[error("{op} {path:?}")]
    Read {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Writing the archive failed.
    #[error("write layer archive")]
    Write {
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl HasKind for DiffError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Internal
    }
}

/// Writes the changes in the overlay upper directory `upper` to `out` as an uncompressed OCI layer tar.
///
/// Keeps owners, modes, mtimes, xattrs (as `SCHILY.xattr.*` PAX records, `trusted.overlay.*` excluded)
/// and hard links (a later path of an inode becomes a link entry). Sockets are skipped, as Docker does.
/// Overlay `redirect_dir`/`metacopy` upper directories are not supported (Berth mounts without them).
pub fn write_diff(upper: &Path, out: impl Write) -> Result<(), DiffError> {
    write_diff_except(upper, out, &|_| false, None)
}

/// [`write_diff`] without the entries (and the trees below them) whose path relative to `upper`
/// `skip` accepts. With `ids` (the writable layer of a remapped container, which holds host ids)
/// owners are written as the container sees them: unshifted, so root in the container is uid 0 in
/// the layer (an id outside the maps becomes the overflow id 65534, as the container sees it).
pub fn write_diff_except(upper: &Path, out: impl Write, skip: &dyn Fn(&Path) -> bool, ids: Option<&IdMappings>) -> Result<(), DiffError> {
    let mut builder = tar::Builder::new(out);
    let mut links = HashMap::new();
    let owner = |uid: u32, gid: u32| match ids {
        Some(m) => (m.uid_to_container(uid).unwrap_or(OVERFLOW_ID), m.gid_to_container(gid).unwrap_or(OVERFLOW_ID)),
        None => (uid, gid),
    };
    walk(upper, Path::new(""), &mut builder, &mut links, skip, &owner)?;
    builder
        .into_inner()
        .map_err(|source| DiffError::Write { source })?
        .flush()
        .map_err(|source| DiffError::Write { source })
}

fn read_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> DiffError + 'a {
    move |source| DiffError::Read {
        op,
        path: path.to_path_buf(),
        source,
    }
}

fn write_err(source: io::Error) -> DiffError {
    DiffError::Write { source }
}

fn walk<W: Write>(
    dir: &Path,
    rel: &Path,
    builder: &mut tar::Builder<W>,
    links: &mut HashMap<(u64, u64), PathBuf>,
    skip: &dyn Fn(&Path) -> bool,
    owner: &dyn Fn(u32, u32) -> (u32, u32),
) -> Result<(), DiffError> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .map_err(read_err("read directory", dir))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(read_err("read directory", dir))?;
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for name in names {
        let abs = dir.join(&name);
        let rel = rel.join(&name);
        if skip(&rel) {
            continue;
        }
        let meta = fs::symlink_metadata(&abs).map_err(read_err("stat", &abs))?;
        let ft = meta.file_type();
        let mut header = tar::Header::new_gnu();
        let (uid, gid) = owner(meta.uid(), meta.gid());
        header.set_uid(uid.into());
        header.set_gid(gid.into());
        header.set_mode(meta.mode() & 0o7777);
        header.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
        header.set_size(0);
        if ft.is_char_device() && meta.rdev() == 0 {
            // An overlay whiteout: the OCI form is an empty regular file named `.wh.NAME`.
            let mut wh_name = std::ffi::OsString::from(WHITEOUT_PREFIX);
            wh_name.push(&name);
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(0);
            builder
                .append_data(&mut header, rel.with_file_name(wh_name), io::empty())
                .map_err(write_err)?;
            continue;
        }
        write_xattrs(builder, &abs, &rel)?;
        if ft.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            builder
                .append_data(&mut header, &rel, io::empty())
                .map_err(write_err)?;
            if is_opaque(&abs) {
                let mut marker = tar::Header::new_gnu();
                marker.set_entry_type(tar::EntryType::Regular);
                marker.set_mode(0);
                marker.set_size(0);
                marker.set_uid(uid.into());
                marker.set_gid(gid.into());
                marker.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
                builder
                    .append_data(&mut marker, rel.join(OPAQUE_MARKER), io::empty())
                    .map_err(write_err)?;
            }
            walk(&abs, &rel, builder, links, skip, owner)?;
        } else if ft.is_file() {
            if meta.nlink() > 1 {
                if let Some(first) = links.get(&(meta.dev(), meta.ino())) {
                    header.set_entry_type(tar::EntryType::Link);
                    builder
                        .append_link(&mut header, &rel, first)
                        .map_err(write_err)?;
                    continue;
                }
                links.insert((meta.dev(), meta.ino()), rel.clone());
            }
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(meta.len());
            let file = File::open(&abs).map_err(read_err("open", &abs))?;
            builder
                .append_data(&mut header, &rel, file)
                .map_err(write_err)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&abs).map_err(read_err("read link", &abs))?;
            header.set_entry_type(tar::EntryType::Symlink);
            builder
                .append_link(&mut header, &rel, target)
                .map_err(write_err)?;
        } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
            let kind = if ft.is_char_device() {
                tar::EntryType::Char
            } else if ft.is_block_device() {
                tar::EntryType::Block
            } else {
                tar::EntryType::Fifo
            };
            header.set_entry_type(kind);
            let rdev = meta.rdev();
            header
                .set_device_major(rustix::fs::major(rdev))
                .map_err(write_err)?;
            header
                .set_device_minor(rustix::fs::minor(rdev))
                .map_err(write_err)?;
            builder
                .append_data(&mut header, &rel, io::empty())
                .map_err(write_err)?;
        }
        // Sockets are not part of an image (Docker skips them too).
    }
    Ok(())
}

fn is_opaque(dir: &Path) -> bool {
    let mut buf = [0u8; 8];
    matches!(rustix::fs::lgetxattr(dir, opaque_xattr(), &mut buf[..]), Ok(1) if buf[0] == b'y')
}

/// Emits a PAX extended header with the node's xattrs (except overlay's own) before its entry.
/// `abs` is only read with `l*` calls, so a `/proc/self/fd/N/name` path does not follow `name`.
pub(crate) fn write_xattrs<W: Write>(
    builder: &mut tar::Builder<W>,
    abs: &Path,
    rel: &Path,
) -> Result<(), DiffError> {
    let names = list_xattrs(abs)?;
    let mut records = Vec::new();
    for name in names {
        if is_overlay_xattr(&name) {
            continue;
        }
        let Ok(name) = std::str::from_utf8(&name) else {
            continue;
        };
        let value = get_xattr(abs, name)?;
        records.extend(pax_record(&format!("{PAX_XATTR_PREFIX}{name}"), &value));
    }
    if records.is_empty() {
        return Ok(());
    }
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::XHeader);
    header.set_size(records.len() as u64);
    header.set_mode(0o644);
    // The PAX header's own name is informational; keep it within ustar's 100 bytes.
    let mut pax_name = format!("PaxHeaders/{}", rel.display()).into_bytes();
    pax_name.truncate(99);
    let field = &mut header.as_old_mut().name;
    field[..pax_name.len()].copy_from_slice(&pax_name);
    header.set_cksum();
    builder
        .append(&header, records.as_slice())
        .map_err(write_err)
}

/// One PAX record: `"<len> <key>=<value>\n"`, where len counts the whole record including itself.
pub(crate) fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let rest = 1 + key.len() + 1 + value.len() + 1;
    let mut len = rest + 1;
    while len.to_string().len() + rest != len {
        len = len.to_string().len() + rest;
    }
    let mut out = format!("{len} {key}=").into_bytes();
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}

fn list_xattrs(path: &Path) -> Result<Vec<Vec<u8>>, DiffError> {
    let mut buf = vec![0u8; 4096];
    let n = loop {
        match rustix::fs::llistxattr(path, &mut buf[..]) {
            Ok(n) => break n,
            Err(rustix::io::Errno::RANGE) => buf.resize(buf.len() * 4, 0),
            // Filesystems without xattr support have none to copy.
            Err(rustix::io::Errno::NOTSUP) => return Ok(Vec::new()),
            Err(e) => return Err(read_err("list xattrs of", path)(e.into())),
        }
    };
    Ok(buf[..n]
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(<[u8]>::to_vec)
        .collect())
}

fn get_xattr(path: &Path, name: &str) -> Result<Vec<u8>, DiffError> {
    let mut buf = vec![0u8; 256];
    loop {
        match rustix::fs::lgetxattr(path, name, &mut buf[..]) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(rustix::io::Errno::RANGE) => buf.resize(buf.len() * 4, 0),
            Err(e) => return Err(read_err("read xattr of", path)(e.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_length_counts_itself() {
        let r = pax_record("SCHILY.xattr.user.k", b"v");
        let s = String::from_utf8(r.clone()).unwrap();
        let len: usize = s.split(' ').next().unwrap().parse().unwrap();
        assert_eq!(len, r.len());
        // A record whose length crosses a power of ten.
        let r = pax_record("k", &[b'x'; 95]);
        let len: usize = String::from_utf8_lossy(&r)
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(len, r.len());
    }
}
