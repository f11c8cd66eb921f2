//! `docker cp` inside a container's root: stat, archive and extract (Engine API
//! `HEAD/GET/PUT /containers/{id}/archive?path=`, and the host side of `berth cp`).
//!
//! The root is a directory: `/proc/<pid>/root` of a running container (so lookups cross the
//! container's own volumes and binds) or the merged directory of a stopped one. Paths are resolved as
//! the container sees them: symlinks are followed, but always inside the root. Every lookup is an
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` from a descriptor of the root, and every file
//! read or written is then reached relative to a parent descriptor, never following its final name.
//! No in-container path is ever joined onto a host path and opened, so a symlink planted or swapped in
//! during the copy can at worst redirect the copy elsewhere inside the root: the breakouts of
//! CVE-2018-15664 (symlink swapped between check and use) and CVE-2019-14271 cannot happen.

mod archive;
mod extract;
mod resolve;

pub use archive::{archive, ArchiveOptions};
pub use extract::{extract, ExtractOptions};

use berth_types::error::{ErrorKind, HasKind};
use resolve::{ContainerPath, Root};
use rustix::fs::{FileType, Stat};
use std::io;
use std::path::Path;

/// Go `os.FileMode` bits as Docker's `X-Docker-Container-Path-Stat` header carries them.
mod go_mode {
    pub const DIR: u32 = 1 << 31;
    pub const SYMLINK: u32 = 1 << 27;
    pub const DEVICE: u32 = 1 << 26;
    pub const NAMED_PIPE: u32 = 1 << 25;
    pub const SOCKET: u32 = 1 << 24;
    pub const SETUID: u32 = 1 << 23;
    pub const SETGID: u32 = 1 << 22;
    pub const CHAR_DEVICE: u32 = 1 << 21;
    pub const STICKY: u32 = 1 << 20;
}

/// What Docker reports about a path in a container (`types.ContainerPathStat`), serialized with
/// Docker's JSON field names.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct PathStat {
    /// The base name of the requested path (`/` for the root).
    pub name: String,
    /// Size in bytes, as `lstat` reports it.
    pub size: i64,
    /// Go `os.FileMode`: permission bits | 1<<31 dir | 1<<27 symlink | 1<<26 device | 1<<25 named
    /// pipe | 1<<24 socket | 1<<23 setuid | 1<<22 setgid | 1<<21 char device | 1<<20 sticky.
    pub mode: u32,
    /// Modification time, RFC 3339 in UTC with nanoseconds (Go's `RFC3339Nano`).
    pub mtime: String,
    /// For a symlink, the absolute in-container path it resolves to (fully, inside the root);
    /// empty otherwise.
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

impl PathStat {
    /// Whether the path is a directory.
    pub fn is_dir(&self) -> bool {
        self.mode & go_mode::DIR != 0
    }

    /// Whether the path is a symlink.
    pub fn is_symlink(&self) -> bool {
        self.mode & go_mode::SYMLINK != 0
    }

    // `st_mtime_nsec` is `u32` on some targets, `u64` on others.
    #[allow(clippy::useless_conversion)]
    fn from_stat(name: String, st: &Stat, link_target: String) -> PathStat {
        PathStat {
            name,
            size: st.st_size,
            mode: go_file_mode(st.st_mode),
            mtime: rfc3339_nanos(st.st_mtime, st.st_mtime_nsec.into()),
            link_target,
        }
    }
}

/// Why a copy into or out of a container failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The path does not exist in the container (Docker's wording; HTTP 404).
    #[error("Could not find the file {0} in container")]
    NotFound(String),
    /// The path exists but a directory was required (a trailing `/`, or an extraction point).
    #[error("{0} is not a directory")]
    NotADirectory(String),
    /// The request or an archive entry was refused: absolute or `..` entry names, a directory
    /// replaced by a non-directory under `no_overwrite_dir_non_dir`, a malformed header.
    #[error("{0}")]
    Refused(String),
    /// A filesystem or stream operation failed.
    #[error("{op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The in-container (or archive) path it was done to.
        path: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl CopyError {
    fn io<'a>(op: &'static str, path: &'a str) -> impl FnOnce(io::Error) -> CopyError + 'a {
        move |source| CopyError::Io {
            op,
            path: path.to_string(),
            source,
        }
    }

    /// Maps a failed lookup of the user's path: missing or under a non-directory is "not found".
    fn lookup(path: &str, e: rustix::io::Errno) -> CopyError {
        match e {
            rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR => {
                CopyError::NotFound(path.to_string())
            }
            // A NUL byte in the path.
            rustix::io::Errno::INVAL => CopyError::Refused(format!("invalid path {path:?}")),
            e => CopyError::Io {
                op: "look up",
                path: path.to_string(),
                source: e.into(),
            },
        }
    }
}

impl From<crate::ApplyError> for CopyError {
    fn from(e: crate::ApplyError) -> CopyError {
        use crate::ApplyError as A;
        match e {
            A::Unsafe { path, reason } => {
                CopyError::Refused(format!("refusing archive entry {path:?}: {reason}"))
            }
            A::Unsupported { path, kind } => CopyError::Refused(format!(
                "archive entry {path:?} has unsupported type {kind:?}"
            )),
            A::Header { path, source } => CopyError::Refused(format!(
                "archive entry {path:?} has a malformed header: {source}"
            )),
            A::Read { source } if source.kind() == io::ErrorKind::InvalidData => {
                CopyError::Refused(format!("malformed archive: {source}"))
            }
            A::Read { source } => CopyError::Io {
                op: "read archive",
                path: String::new(),
                source,
            },
            A::Io { op, path, source } => CopyError::Io {
                op,
                path: path.display().to_string(),
                source,
            },
            A::OpenUpper { path, source } => CopyError::Io {
                op: "open",
                path: path.display().to_string(),
                source,
            },
        }
    }
}

impl HasKind for CopyError {
    fn kind(&self) -> ErrorKind {
        match self {
            CopyError::NotFound(_) => ErrorKind::NotFound,
            CopyError::NotADirectory(_) | CopyError::Refused(_) => ErrorKind::InvalidArgument,
            CopyError::Io { .. } => ErrorKind::Internal,
        }
    }
}

/// Stats `path` inside the container root `root` like Docker's `HEAD /containers/{id}/archive`:
/// intermediate symlinks are resolved inside the root, the final component is not followed (unless
/// the path ends in `/` or `/.`, which also requires a directory).
pub fn stat(root: &Path, path: &str) -> Result<PathStat, CopyError> {
    let root = Root::new(root)?;
    let p = ContainerPath::parse(path);
    let fd = root
        .open(&p.in_root(), resolve::LOOKUP | p.nofollow(false))
        .map_err(|e| CopyError::lookup(path, e))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| CopyError::io("stat", path)(e.into()))?;
    let ft = FileType::from_raw_mode(st.st_mode);
    if p.trailing && ft != FileType::Directory {
        return Err(CopyError::NotADirectory(path.to_string()));
    }
    let link_target = if ft == FileType::Symlink {
        resolve::display(&root.resolve(&p.comps))
    } else {
        String::new()
    };
    Ok(PathStat::from_stat(p.base_name(), &st, link_target))
}

/// Converts a Linux `st_mode` to Go's `os.FileMode` (as `os.Lstat` fills it on Linux).
fn go_file_mode(st_mode: u32) -> u32 {
    let mut mode = st_mode & 0o777;
    match FileType::from_raw_mode(st_mode) {
        FileType::Directory => mode |= go_mode::DIR,
        FileType::Symlink => mode |= go_mode::SYMLINK,
        FileType::BlockDevice => mode |= go_mode::DEVICE,
        FileType::CharacterDevice => mode |= go_mode::DEVICE | go_mode::CHAR_DEVICE,
        FileType::Fifo => mode |= go_mode::NAMED_PIPE,
        FileType::Socket => mode |= go_mode::SOCKET,
        FileType::RegularFile | FileType::Unknown => {}
    }
    if st_mode & 0o4000 != 0 {
        mode |= go_mode::SETUID;
    }
    if st_mode & 0o2000 != 0 {
        mode |= go_mode::SETGID;
    }
    if st_mode & 0o1000 != 0 {
        mode |= go_mode::STICKY;
    }
    mode
}

/// Formats a Unix time as Go's `time.RFC3339Nano` in UTC: fractional seconds without trailing
/// zeros, none at all when whole.
fn rfc3339_nanos(secs: i64, nanos: u64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    let nanos = nanos.min(999_999_999);
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests;
