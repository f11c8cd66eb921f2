//! Idmapped mounts: how a remapped container sees image layers stored with their real owners.
//!
//! Each lower layer of the container's overlay is cloned (`open_tree(OPEN_TREE_CLONE)`) and
//! idmapped with a user namespace holding the container's maps (`mount_setattr(MOUNT_ATTR_IDMAP)`):
//! a file owned by uid 0 on disk is seen through the clone as the container root's host uid
//! (e.g. 100000), which is what root in the container's user namespace is. The clones are never
//! attached anywhere: the overlay names them as `/proc/self/fd/<n>` and keeps its own private
//! references, so once it is mounted the descriptors are closed and nothing is left to unmount.
//! Layers stay shared between containers and images, and are never chowned.
//!
//! The upper and work directories are not idmapped (overlayfs creates `work/work` with the
//! mounter's fsuid, which an idmapping of host root cannot represent: `EOVERFLOW`, and the overlay
//! falls back to read-only). The writable layer therefore holds shifted ids on disk, as every
//! layer does under dockerd's `--userns-remap`; copy-up keeps the idmapped owner, so the upper is
//! consistently shifted. See docs/SECURITY.md.

use crate::idmap::IdMappings;
use crate::mount::{mount_one, MountDesc};
use crate::RuntimeError;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> RuntimeError + 'a {
    move |source| RuntimeError::Io { op, path: path.to_path_buf(), source }
}

/// A user namespace holding `maps`, kept alive by the returned descriptor (for
/// `MOUNT_ATTR_IDMAP`; no process runs in it).
pub fn userns_fd(maps: &IdMappings) -> Result<OwnedFd, RuntimeError> {
    sys::userns_with_maps(&IdMappings::proc_map(&maps.uids), &IdMappings::proc_map(&maps.gids)).map_err(io_err("create a user namespace", Path::new("/proc/self/ns/user")))
}

/// An idmapped, detached clone of the directory `dir` (`userns`: from [`userns_fd`]).
pub fn idmapped_clone(dir: &Path, userns: &OwnedFd) -> Result<OwnedFd, RuntimeError> {
    use rustix::mount::{open_tree, OpenTreeFlags};
    let tree = open_tree(rustix::fs::CWD, dir, OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC)
        .map_err(|e| io_err("open_tree", dir)(e.into()))?;
    sys::set_idmap(&tree, userns).map_err(io_err("idmap (mount_setattr)", dir))?;
    Ok(tree)
}

/// Mounts the container root `m` on `target` as a container with `maps` sees it: an overlay's
/// lower layers through idmapped clones ([`idmapped_clone`]); anything else (the writable layer
/// of an image without layers, a bind) as it is. Without maps this is [`mount_one`].
pub fn mount_rootfs(m: &MountDesc, target: &Path, maps: Option<&IdMappings>) -> Result<(), RuntimeError> {
    let Some(maps) = maps.filter(|_| m.kind == "overlay") else { return mount_one(m, target) };
    let userns = userns_fd(maps)?;
    let mut clones = Vec::new();
    let mut options = Vec::with_capacity(m.options.len());
    for o in &m.options {
        let Some(lowers) = o.strip_prefix("lowerdir=") else {
            options.push(o.clone());
            continue;
        };
        let mut paths = Vec::new();
        for dir in lowers.split(':') {
            let clone = idmapped_clone(Path::new(dir), &userns)?;
            paths.push(format!("/proc/self/fd/{}", clone.as_raw_fd()));
            clones.push(clone);
        }
        options.push(format!("lowerdir={}", paths.join(":")));
    }
    // The overlay holds its own references to the layers: the clones go when this returns.
    mount_one(&MountDesc { kind: m.kind.clone(), source: m.source.clone(), options }, target)
}

/// The system calls without a safe wrapper in nix or rustix: `fork` (to make a user namespace)
/// and `mount_setattr`.
#[allow(unsafe_code)]
mod sys {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
    const AT_EMPTY_PATH: libc::c_uint = 0x1000;
    const AT_RECURSIVE: libc::c_uint = 0x8000;

    /// `struct mount_attr` (linux/mount.h).
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }

    /// Idmaps the detached mount `tree` with the user namespace `userns`.
    pub fn set_idmap(tree: &OwnedFd, userns: &OwnedFd) -> io::Result<()> {
        let attr = MountAttr { attr_set: MOUNT_ATTR_IDMAP, attr_clr: 0, propagation: 0, userns_fd: userns.as_raw_fd() as u64 };
        // SAFETY: mount_setattr reads `size_of::<MountAttr>()` bytes from `attr`, which lives for
        // the call; the path is a NUL-terminated empty string and the descriptors are open.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                tree.as_raw_fd(),
                c"".as_ptr(),
                AT_EMPTY_PATH | AT_RECURSIVE,
                &attr as *const MountAttr,
                std::mem::size_of::<MountAttr>(),
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two descriptors into `fds`, which we then own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both were just created and are owned by nothing else.
        Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
    }

    /// A user namespace with these `uid_map` and `gid_map` contents: a forked child unshares it
    /// and waits while the maps are written and its namespace is opened, then exits. The child
    /// only makes async-signal-safe system calls, so this is sound in a threaded process too.
    pub fn userns_with_maps(uid_map: &str, gid_map: &str) -> io::Result<OwnedFd> {
        let (ready_r, ready_w) = pipe()?;
        let (done_r, done_w) = pipe()?;
        // SAFETY: the child below makes only async-signal-safe calls (close, unshare, write,
        // read, _exit) and never returns.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            // SAFETY: raw system calls on descriptors this process holds; `_exit` never returns.
            unsafe {
                libc::close(ready_r.as_raw_fd());
                libc::close(done_w.as_raw_fd());
                let ok: u8 = (libc::unshare(libc::CLONE_NEWUSER) == 0).into();
                libc::write(ready_w.as_raw_fd(), &ok as *const u8 as *const libc::c_void, 1);
                let mut b = 0u8;
                libc::read(done_r.as_raw_fd(), &mut b as *mut u8 as *mut libc::c_void, 1);
                libc::_exit(0);
            }
        }
        drop(ready_w);
        drop(done_r);
        let result = (|| {
            let mut ok = [0u8];
            let mut f = std::fs::File::from(ready_r);
            io::Read::read_exact(&mut f, &mut ok)?;
            if ok[0] != 1 {
                return Err(io::Error::other("unshare(CLONE_NEWUSER) failed in the helper process"));
            }
            std::fs::write(format!("/proc/{pid}/uid_map"), uid_map)?;
            std::fs::write(format!("/proc/{pid}/gid_map"), gid_map)?;
            Ok(OwnedFd::from(std::fs::File::open(format!("/proc/{pid}/ns/user"))?))
        })();
        drop(done_w);
        let mut status = 0;
        // SAFETY: waits for the child forked above.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn lower_layers_are_seen_shifted_and_stay_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let (lower, upper, work, merged) = (dir.path().join("l"), dir.path().join("u"), dir.path().join("w"), dir.path().join("m"));
        for d in [&lower, &upper, &work, &merged] {
            std::fs::create_dir(d).unwrap();
        }
        std::fs::write(lower.join("f"), b"x").unwrap();
        std::os::unix::fs::chown(lower.join("f"), Some(0), Some(0)).unwrap();
        std::os::unix::fs::chown(&upper, Some(100000), Some(100000)).unwrap();
        let maps = IdMappings::from_ranges(&[(100000, 65536)], &[(100000, 65536)]);
        let m = MountDesc {
            kind: "overlay".into(),
            source: "overlay".into(),
            options: vec![format!("lowerdir={}", lower.display()), format!("upperdir={}", upper.display()), format!("workdir={}", work.display())],
        };
        mount_rootfs(&m, &merged, Some(&maps)).unwrap();
        let seen = std::fs::metadata(merged.join("f")).unwrap();
        let root = std::fs::metadata(&merged).unwrap();
        // A copy-up (chmod) keeps the shifted owner in the upper layer.
        std::fs::set_permissions(merged.join("f"), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        crate::mount::unmount(&merged).unwrap();
        assert_eq!((seen.uid(), seen.gid()), (100000, 100000));
        assert_eq!(root.uid(), 100000);
        assert_eq!(std::fs::metadata(lower.join("f")).unwrap().uid(), 0, "the layer is not chowned");
        assert_eq!(std::fs::metadata(upper.join("f")).unwrap().uid(), 100000);
    }
}
