//! `GET /containers/{id}/archive`: a path in the container written out as a tar, Docker's way.

use super::resolve::{self, ContainerPath, Root};
use super::{CopyError, PathStat};
use crate::apply::beneath::{open_child_dir, proc_path};
use crate::apply::diff::{write_xattrs, DiffError};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;
use std::collections::HashMap;
use berth_types::idmap::{IdMappings, OVERFLOW_ID};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// How [`archive`] treats the path it is given.
#[derive(Debug, Clone, Default)]
pub struct ArchiveOptions {
    /// `docker cp -L`: when the path itself is a symlink, archive what it resolves to (inside the
    /// root), still named after the path. Symlinks below the path are always stored as symlinks.
    pub follow_link: bool,
    /// The maps of a remapped container, whose files hold host ids: owners are written as the
    /// container sees them (an id outside the maps as the overflow id 65534, as it sees it).
    pub ids: Option<IdMappings>,
}

/// Opens a regular file or directory found by name for reading. `O_NOFOLLOW` because a symlink
/// swapped in must not be followed; `O_NONBLOCK | O_NOCTTY` because a FIFO or terminal swapped in
/// must neither hang the copy nor become its controlling terminal.
const READ_NODE: OFlags = OFlags::RDONLY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::NONBLOCK)
    .union(OFlags::NOCTTY)
    .union(OFlags::CLOEXEC);
/// A node that keeps changing type under the walk is looked at this many times, then skipped.
const MAX_ATTEMPTS: usize = 3;

/// Writes `path` (inside the container root `root`) to `w` as an uncompressed tar, as Docker's
/// `GET /containers/{id}/archive` does, and returns the path's [`PathStat`].
///
/// Entries are named after the base name of `path` (`/etc` gives `etc`, `etc/passwd`, …); when `path`
/// ends with `/.` (or is `/`) the directory's contents are archived as Docker does it: the
/// directory itself as `./`, its children as `./passwd`, `./ssl/certs`, … (the docker CLI renames
/// the `.` component when it copies to a new destination). Intermediate symlinks are
/// resolved inside the root; the final one only with [`ArchiveOptions::follow_link`] or a trailing
/// `/` (the returned stat then describes the target, under the path's name). Below the path,
/// symlinks are stored as symlinks, never followed. Numeric owners, modes, mtimes, xattrs
/// (`SCHILY.xattr.*`, overlay's own excepted), hard links (a later path of an inode becomes a link
/// entry), devices and FIFOs are kept; sockets are skipped, as Docker does. Directories are walked in
/// byte order, so the same tree always gives the same archive.
pub fn archive(
    root: &Path,
    path: &str,
    opts: &ArchiveOptions,
    w: impl Write,
) -> Result<PathStat, CopyError> {
    let root = Root::new(root)?;
    let p = ContainerPath::parse(path);
    let target = if opts.follow_link || p.trailing {
        root.resolve(&p.comps)
    } else {
        p.comps.clone()
    };
    let mut walker = Walker {
        builder: tar::Builder::new(w),
        links: HashMap::new(),
        path,
        // `dir/.` as Docker names it; `/` itself keeps bare names.
        dot: p.contents && (path.ends_with("/.") || path == "."),
        ids: opts.ids.as_ref(),
    };
    let stat = match target.split_last() {
        // The root directory itself (`/`, or a symlink to it followed).
        None => {
            let dir = root
                .open(OsStr::new("/"), READ_NODE | OFlags::DIRECTORY)
                .map_err(|e| CopyError::lookup(path, e))?;
            let st = fstat(&dir, path)?;
            if p.contents && walker.dot {
                walker.dir(&dir, &st, None, Path::new(""))?;
            } else if p.contents {
                walker.children(&dir, Path::new(""))?;
            } else {
                walker.dir(&dir, &st, None, Path::new(&p.base_name()))?;
            }
            PathStat::from_stat(p.base_name(), &st, String::new())
        }
        Some((name, parent_comps)) => {
            let parent = root
                .dir(parent_comps)
                .map_err(|e| CopyError::lookup(path, e))?;
            let st = rustix::fs::statat(&parent, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| CopyError::lookup(path, e))?;
            let ft = FileType::from_raw_mode(st.st_mode);
            if p.trailing && ft != FileType::Directory {
                return Err(CopyError::NotADirectory(path.to_string()));
            }
            let link_target = if ft == FileType::Symlink {
                resolve::display(&root.resolve(&p.comps))
            } else {
                String::new()
            };
            if p.contents {
                let dir = open_child_dir(&parent, name)
                    .map_err(|e| CopyError::io("open", path)(e.into()))?;
                let dst = fstat(&dir, path)?;
                walker.dir(&dir, &dst, Some((&parent, name)), Path::new(""))?;
            } else {
                walker.node(&parent, name, &PathBuf::from(p.base_name()))?;
            }
            PathStat::from_stat(p.base_name(), &st, link_target)
        }
    };
    walker
        .builder
        .into_inner()
        .and_then(|mut w| w.flush())
        .map_err(CopyError::io("write archive of", path))?;
    Ok(stat)
}

fn fstat(fd: &OwnedFd, path: &str) -> Result<Stat, CopyError> {
    rustix::fs::fstat(fd).map_err(|e| CopyError::io("stat", path)(e.into()))
}

/// Walks a tree by descriptors, writing entries.
struct Walker<'a, W: Write> {
    builder: tar::Builder<W>,
    /// First archive path of each multiply-linked file, by (device, inode).
    links: HashMap<(u64, u64), PathBuf>,
    /// The requested path, for error messages.
    path: &'a str,
    /// Contents mode: names are `./`-prefixed, written raw (tar-rs would drop the `./`).
    dot: bool,
    /// Owners as the container sees them ([`ArchiveOptions::ids`]).
    ids: Option<&'a IdMappings>,
}

impl<W: Write> Walker<'_, W> {
    fn write_err(&self, rel: &Path) -> impl FnOnce(io::Error) -> CopyError {
        let path = format!("{} (entry {})", self.path, rel.display());
        move |source| CopyError::Io {
            op: "archive",
            path,
            source,
        }
    }

    /// Writes the node `name` of the directory `parent` as `rel`, and everything below it.
    fn node(&mut self, parent: &OwnedFd, name: &OsStr, rel: &Path) -> Result<(), CopyError> {
        for _ in 0..MAX_ATTEMPTS {
            let st = match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                // Removed since the directory was listed: nothing to copy.
                Err(Errno::NOENT) => return Ok(()),
                Err(e) => return Err(self.write_err(rel)(e.into())),
            };
            match FileType::from_raw_mode(st.st_mode) {
                FileType::Directory | FileType::RegularFile => {
                    let fd = match rustix::fs::openat(parent, name, READ_NODE, Mode::empty()) {
                        Ok(fd) => fd,
                        // Replaced (by a symlink, say) since the stat: look again.
                        Err(Errno::NOENT | Errno::LOOP) => continue,
                        Err(e) => return Err(self.write_err(rel)(e.into())),
                    };
                    // What was opened is what gets archived, whatever the stat said.
                    let st = fstat(&fd, self.path)?;
                    return match FileType::from_raw_mode(st.st_mode) {
                        FileType::Directory => self.dir(&fd, &st, Some((parent, name)), rel),
                        FileType::RegularFile => self.file(fd, &st, parent, name, rel),
                        _ => self.special(&st, parent, name, rel),
                    };
                }
                FileType::Symlink => match rustix::fs::readlinkat(parent, name, Vec::new()) {
                    Ok(target) => return self.symlink(&st, target.as_bytes(), parent, name, rel),
                    Err(Errno::NOENT | Errno::INVAL) => continue,
                    Err(e) => return Err(self.write_err(rel)(e.into())),
                },
                _ => return self.special(&st, parent, name, rel),
            }
        }
        tracing::debug!(entry = %rel.display(), "skipping a node that keeps changing during the copy");
        Ok(())
    }

    /// Writes the entry for the directory `dir` (unless `rel` is empty) and then its children.
    fn dir(
        &mut self,
        dir: &OwnedFd,
        st: &Stat,
        at: Option<(&OwnedFd, &OsStr)>,
        rel: &Path,
    ) -> Result<(), CopyError> {
        self.xattrs(at, rel)?;
        let mut h = header(st, self.ids, tar::EntryType::Directory);
        self.put(&mut h, rel, None, io::empty())
            .map_err(self.write_err(rel))?;
        self.children(dir, rel)
    }

    /// Writes every child of `dir` (in byte order) with names below `rel`.
    fn children(&mut self, dir: &OwnedFd, rel: &Path) -> Result<(), CopyError> {
        let mut names: Vec<OsString> = Vec::new();
        let entries = rustix::fs::Dir::read_from(dir).map_err(|e| self.write_err(rel)(e.into()))?;
        for entry in entries {
            let entry = entry.map_err(|e| self.write_err(rel)(e.into()))?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if name != "." && name != ".." {
                names.push(name.to_os_string());
            }
        }
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            self.node(dir, &name, &rel.join(&name))?;
        }
        Ok(())
    }

    fn file(
        &mut self,
        fd: OwnedFd,
        st: &Stat,
        parent: &OwnedFd,
        name: &OsStr,
        rel: &Path,
    ) -> Result<(), CopyError> {
        if st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.links.get(&key) {
                let mut h = header(st, self.ids, tar::EntryType::Link);
                let first = first.clone();
                if self.dot {
                    let target = dotted(&first, false);
                    return self.put(&mut h, rel, Some(&target), io::empty()).map_err(self.write_err(rel));
                }
                return self
                    .builder
                    .append_link(&mut h, rel, first)
                    .map_err(self.write_err(rel));
            }
            self.links.insert(key, rel.to_path_buf());
        }
        self.xattrs(Some((parent, name)), rel)?;
        let size = u64::try_from(st.st_size).unwrap_or(0);
        let mut h = header(st, self.ids, tar::EntryType::Regular);
        h.set_size(size);
        // Exactly `size` bytes whatever the file does meanwhile: a tar entry shorter or longer than
        // its header says would corrupt every entry after it.
        let data = File::from(fd).take(size).chain(io::repeat(0)).take(size);
        self.put(&mut h, rel, None, data)
            .map_err(self.write_err(rel))
    }

    fn symlink(
        &mut self,
        st: &Stat,
        target: &[u8],
        parent: &OwnedFd,
        name: &OsStr,
        rel: &Path,
    ) -> Result<(), CopyError> {
        self.xattrs(Some((parent, name)), rel)?;
        let mut h = header(st, self.ids, tar::EntryType::Symlink);
        // Stored byte for byte when it fits; `append_link` (GNU long link) normalises the path.
        let result = if self.dot {
            self.put(&mut h, rel, Some(target), io::empty())
        } else if h.set_link_name_literal(target).is_ok() {
            self.builder.append_data(&mut h, rel, io::empty())
        } else {
            self.builder
                .append_link(&mut h, rel, OsStr::from_bytes(target))
        };
        result.map_err(self.write_err(rel))
    }

    /// Devices and FIFOs as header-only entries; sockets are skipped (Docker's tar does the same).
    fn special(
        &mut self,
        st: &Stat,
        parent: &OwnedFd,
        name: &OsStr,
        rel: &Path,
    ) -> Result<(), CopyError> {
        let kind = match FileType::from_raw_mode(st.st_mode) {
            FileType::CharacterDevice => tar::EntryType::Char,
            FileType::BlockDevice => tar::EntryType::Block,
            FileType::Fifo => tar::EntryType::Fifo,
            _ => return Ok(()),
        };
        self.xattrs(Some((parent, name)), rel)?;
        let mut h = header(st, self.ids, kind);
        if kind != tar::EntryType::Fifo {
            let dev = st.st_rdev;
            h.set_device_major(rustix::fs::major(dev))
                .and_then(|()| h.set_device_minor(rustix::fs::minor(dev)))
                .map_err(self.write_err(rel))?;
        }
        self.put(&mut h, rel, None, io::empty())
            .map_err(self.write_err(rel))
    }

    /// Appends an entry named `rel` (and with link target `link`). In contents mode the name is
    /// `./rel` written raw, long names and targets through GNU `L`/`K` records.
    fn put(&mut self, h: &mut tar::Header, rel: &Path, link: Option<&[u8]>, data: impl Read) -> io::Result<()> {
        if !self.dot {
            return self.builder.append_data(h, rel, data);
        }
        let name = dotted(rel, h.entry_type() == tar::EntryType::Directory);
        if name.len() > 100 {
            self.long_record(tar::EntryType::GNULongName, &name)?;
        }
        if let Some(target) = link {
            if target.len() > 100 {
                self.long_record(tar::EntryType::GNULongLink, target)?;
            }
            let gnu = h.as_gnu_mut().ok_or_else(|| io::Error::other("not a GNU header"))?;
            gnu.linkname = [0; 100];
            gnu.linkname[..target.len().min(100)].copy_from_slice(&target[..target.len().min(100)]);
        }
        let gnu = h.as_gnu_mut().ok_or_else(|| io::Error::other("not a GNU header"))?;
        gnu.name = [0; 100];
        gnu.name[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
        h.set_cksum();
        self.builder.append(h, data)
    }

    /// A GNU long name (`L`) or long link (`K`) record for the next entry.
    fn long_record(&mut self, kind: tar::EntryType, value: &[u8]) -> io::Result<()> {
        let mut h = tar::Header::new_gnu();
        let gnu = h.as_gnu_mut().ok_or_else(|| io::Error::other("not a GNU header"))?;
        gnu.name[..13].copy_from_slice(b"././@LongLink");
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(kind);
        h.set_size(value.len() as u64 + 1);
        h.set_cksum();
        let mut data = value.to_vec();
        data.push(0);
        self.builder.append(&h, data.as_slice())
    }

    /// The node's xattrs as a PAX header, read by name without following it. The root directory
    /// archived under a name (a followed symlink to `/`) has no parent to name it by and goes
    /// without.
    fn xattrs(&mut self, at: Option<(&OwnedFd, &OsStr)>, rel: &Path) -> Result<(), CopyError> {
        let Some((parent, name)) = at else {
            return Ok(());
        };
        let rel = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
        write_xattrs(&mut self.builder, &proc_path(parent, name), rel).map_err(|e| match e {
            DiffError::Read { op, source, .. } => CopyError::Io {
                op,
                path: format!("{} (entry {})", self.path, rel.display()),
                source,
            },
            DiffError::Write { source } => self.write_err(rel)(source),
        })
    }
}

fn header(st: &Stat, ids: Option<&IdMappings>, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    let (uid, gid) = match ids {
        Some(m) => (m.uid_to_container(st.st_uid).unwrap_or(OVERFLOW_ID), m.gid_to_container(st.st_gid).unwrap_or(OVERFLOW_ID)),
        None => (st.st_uid, st.st_gid),
    };
    h.set_uid(uid.into());
    h.set_gid(gid.into());
    h.set_mode(st.st_mode & 0o7777);
    h.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
    h.set_size(0);
    h
}

/// `./rel` (`./` for the root), with a trailing `/` for directories, as Docker names contents.
fn dotted(rel: &Path, dir: bool) -> Vec<u8> {
    let mut name = b"./".to_vec();
    name.extend_from_slice(rel.as_os_str().as_bytes());
    if dir && !name.ends_with(b"/") {
        name.push(b'/');
    }
    name
}
