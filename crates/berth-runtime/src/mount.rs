//! Mounting a container's root filesystem from the snapshotter's mount descriptions, and the
//! small `sys` module that holds this crate's only `unsafe`.

use crate::RuntimeError;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::path::Path;

/// A mount as the snapshotter describes it: `kind` (`overlay`, `bind`), `source`, `options`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MountDesc {
    /// Filesystem type.
    pub kind: String,
    /// Source.
    pub source: String,
    /// Options (`lowerdir=…`, `ro`, `rbind`, …).
    pub options: Vec<String>,
}

impl MountDesc {
    /// The directory writes go to: an overlay's `upperdir`, or the source of a writable bind.
    pub fn writable_dir(&self) -> Option<std::path::PathBuf> {
        match self.kind.as_str() {
            "overlay" => self.options.iter().find_map(|o| o.strip_prefix("upperdir=")).map(std::path::PathBuf::from),
            "bind" if !self.options.iter().any(|o| o == "ro") => Some(std::path::PathBuf::from(&self.source)),
            _ => None,
        }
    }
}

/// Mounts `m` on `target`.
pub fn mount_one(m: &MountDesc, target: &Path) -> Result<(), RuntimeError> {
    let err = |source| RuntimeError::Mount { target: target.to_path_buf(), source };
    let ro = m.options.iter().any(|o| o == "ro");
    if m.kind == "bind" {
        let rec = if m.options.iter().any(|o| o == "rbind") { MsFlags::MS_REC } else { MsFlags::empty() };
        mount(Some(m.source.as_str()), target, None::<&str>, MsFlags::MS_BIND | rec, None::<&str>).map_err(err)?;
        if ro {
            mount(None::<&str>, target, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | rec, None::<&str>)
                .map_err(err)?;
        }
        return Ok(());
    }
    let data: Vec<&str> = m.options.iter().map(String::as_str).filter(|o| *o != "ro" && *o != "rw").collect();
    let flags = if ro { MsFlags::MS_RDONLY } else { MsFlags::empty() };
    mount(Some(m.source.as_str()), target, Some(m.kind.as_str()), flags, Some(data.join(",").as_str())).map_err(err)
}

/// Unmounts `target` (lazily if busy); not mounted is not an error.
pub fn unmount(target: &Path) -> Result<(), RuntimeError> {
    match umount2(target, MntFlags::empty()) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(nix::errno::Errno::EBUSY) => umount2(target, MntFlags::MNT_DETACH).map_err(|source| RuntimeError::Mount { target: target.to_path_buf(), source }),
        Err(source) => Err(RuntimeError::Mount { target: target.to_path_buf(), source }),
    }
}

/// Whether `path` is a mount point (its entry in /proc/self/mountinfo).
pub fn is_mounted(path: &Path) -> bool {
    let p = path.to_string_lossy();
    std::fs::read_to_string("/proc/self/mountinfo").map(|s| s.lines().any(|l| l.split(' ').nth(4) == Some(&*p))).unwrap_or(false)
}

/// Raw system calls without a safe wrapper.
#[allow(unsafe_code)]
pub mod sys {
    use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
    use std::fs::File;
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::path::Path;

    /// Creates directory `path` (and its parents) inside `root`, resolving every component as if
    /// `root` were `/` — so a symlink in the image can never make this create a directory elsewhere.
    /// Directories it creates are given to `owner` (uid, gid) when set (a remapped container's root).
    pub fn mkdir_all_in_root(root: &Path, path: &str, owner: Option<(u32, u32)>) -> std::io::Result<()> {
        let dir = File::open(root)?;
        let mut cur = String::from(".");
        for comp in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
            let how = OpenHow::new()
                .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
                .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
            let fd = openat2(dir.as_raw_fd(), cur.as_str(), how).map_err(std::io::Error::from)?;
            // SAFETY: openat2 just returned this descriptor to us; nothing else owns it.
            let parent = unsafe { File::from_raw_fd(fd) };
            match nix::sys::stat::mkdirat(Some(parent.as_raw_fd()), comp, nix::sys::stat::Mode::from_bits_truncate(0o755)) {
                Ok(()) => {
                    if let Some((u, g)) = owner {
                        nix::unistd::fchownat(
                            Some(parent.as_raw_fd()),
                            comp,
                            Some(nix::unistd::Uid::from_raw(u)),
                            Some(nix::unistd::Gid::from_raw(g)),
                            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                        )?;
                    }
                }
                Err(nix::errno::Errno::EEXIST) => {}
                Err(e) => return Err(e.into()),
            }
            cur.push('/');
            cur.push_str(comp);
        }
        Ok(())
    }

    /// Opens `path` for reading as if `root` were `/`: `..` and symlinks (absolute or relative)
    /// cannot leave `root` (`RESOLVE_IN_ROOT`), and no magic links are followed.
    pub fn open_in_root(root: &Path, path: &str) -> std::io::Result<File> {
        let dir = File::open(root)?;
        let how = OpenHow::new()
            .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        let fd = openat2(dir.as_raw_fd(), path, how).map_err(std::io::Error::from)?;
        // SAFETY: openat2 just returned this descriptor to us; nothing else owns it.
        Ok(unsafe { File::from_raw_fd(fd) })
    }
}
