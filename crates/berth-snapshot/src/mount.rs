//! Mounts as data: what a snapshotter hands to the runtime, which alone calls `mount(2)`.
//!
//! A [`Mount`] has the shape of containerd's `mount.Mount` (type, source, options). Options mix mount
//! flags (`ro`, `rbind`, …) with filesystem data (`lowerdir=…`); [`Mount::flags_and_data`] splits them
//! the way `mount(8)` does so the runtime can pass them to the syscall unchanged.

use rustix::mount::MountFlags;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The most bytes of filesystem data `mount(2)` accepts: one page including the terminating NUL.
///
/// Overlay's `lowerdir=` list grows with every layer, so a deep image can cross this limit
/// (Docker's overlay2 works around it with short `l/<id>` symlinks and a `chdir`). Berth keeps its
/// layer paths short instead (`<root>/snapshots/<n>/fs`) and checks the limit when it builds a mount,
/// so a mount that would fail in the kernel is refused at `prepare`/`view` time.
pub const MAX_MOUNT_DATA: usize = 4095;

/// One mount to perform, described as data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// The filesystem type: `overlay` or `bind`.
    pub kind: String,
    /// The mount source: `overlay` for overlay mounts, the directory for bind mounts.
    pub source: PathBuf,
    /// Mount options as `mount(8)` spells them: flags (`ro`, `rbind`) and `key=value` data.
    pub options: Vec<String>,
}

impl Mount {
    /// A bind mount of `dir`, read-only when `readonly` (containerd's `rbind` + `ro`/`rw`).
    pub fn bind(dir: &Path, readonly: bool) -> Mount {
        let rw = if readonly { "ro" } else { "rw" };
        Mount {
            kind: "bind".into(),
            source: dir.to_path_buf(),
            options: vec!["rbind".into(), rw.into()],
        }
    }

    /// An overlay mount with `lowers` (nearest parent first) and, for a writable mount, `upper_work`
    /// (upperdir, workdir). Without `upper_work` the mount is read-only; overlay then needs at least
    /// two lower directories (the kernel refuses one), which [`crate::OverlaySnapshotter`] ensures.
    pub fn overlay(lowers: &[PathBuf], upper_work: Option<(&Path, &Path)>) -> Mount {
        Mount {
            kind: "overlay".into(),
            source: PathBuf::from("overlay"),
            options: overlay_options(lowers, upper_work),
        }
    }

    /// Splits the options into `mount(2)` flags and the comma-joined data string, as `mount(8)` does.
    ///
    /// `bind` mounts get `MS_BIND` (plus `MS_REC` for `rbind`); a read-only bind must be remounted with
    /// `MS_REMOUNT|MS_BIND|MS_RDONLY` afterwards, because the kernel ignores `MS_RDONLY` on the first
    /// bind call. Unknown options are passed through as data.
    pub fn flags_and_data(&self) -> (MountFlags, String) {
        let mut flags = MountFlags::empty();
        let mut data = Vec::new();
        if self.kind == "bind" {
            flags |= MountFlags::BIND;
        }
        for opt in &self.options {
            match opt.as_str() {
                "ro" => flags |= MountFlags::RDONLY,
                "rw" => {}
                "bind" => flags |= MountFlags::BIND,
                "rbind" => flags |= MountFlags::BIND | MountFlags::REC,
                "nosuid" => flags |= MountFlags::NOSUID,
                "nodev" => flags |= MountFlags::NODEV,
                "noexec" => flags |= MountFlags::NOEXEC,
                other => data.push(other),
            }
        }
        (flags, data.join(","))
    }

    /// The length in bytes of the data string `mount(2)` would receive (see [`MAX_MOUNT_DATA`]).
    pub fn data_len(&self) -> usize {
        self.flags_and_data().1.len()
    }
}

/// Overlay options for `lowers` (nearest parent first) and an optional (upperdir, workdir) pair.
///
/// Paths are written as they are: callers must keep `:` and `,` out of them (the overlay option
/// separators), which [`crate::OverlaySnapshotter::open`] checks for its root.
pub fn overlay_options(lowers: &[PathBuf], upper_work: Option<(&Path, &Path)>) -> Vec<String> {
    let lower = lowers
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(":");
    let mut options = Vec::new();
    if let Some((upper, work)) = upper_work {
        options.push(format!("workdir={}", work.display()));
        options.push(format!("upperdir={}", upper.display()));
    } else {
        options.push("ro".to_string());
    }
    options.push(format!("lowerdir={lower}"));
    if berth_types::idmap::in_user_namespace() {
        // Overlay mounted in a user namespace keeps its own metadata in `user.overlay.*` (it
        // cannot write `trusted.*`); layers are applied with the same prefix (`apply::opaque_xattr`).
        options.push("userxattr".to_string());
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_options_list_nearest_parent_first_and_split_into_data() {
        let m = Mount::overlay(
            &[PathBuf::from("/r/2/fs"), PathBuf::from("/r/1/fs")],
            Some((Path::new("/r/3/fs"), Path::new("/r/3/work"))),
        );
        let (flags, data) = m.flags_and_data();
        assert!(flags.is_empty());
        assert_eq!(
            data,
            "workdir=/r/3/work,upperdir=/r/3/fs,lowerdir=/r/2/fs:/r/1/fs"
        );
        assert_eq!(m.data_len(), data.len());
    }

    #[test]
    fn readonly_bind_sets_bind_rec_and_rdonly_flags() {
        let (flags, data) = Mount::bind(Path::new("/x"), true).flags_and_data();
        assert_eq!(
            flags,
            MountFlags::BIND | MountFlags::REC | MountFlags::RDONLY
        );
        assert!(data.is_empty());
    }
}
