//! Shifting a tree's owners into a user namespace's host ids (`--userns-remap`).
//!
//! What the builder writes into a step's upper directory itself (`WORKDIR`'s directories and the
//! parents overlayfs copied up for them) holds the container's ids; a remapped `RUN` step then sees
//! them through no idmapping, so they are moved to the host ids its user namespace maps them to, as
//! everything the step writes will be. Its layer tar ([`super::write_diff_except`] with the same maps)
//! and its committed snapshot ([`chown_to_container`]) hold the container's ids again: a later step
//! sees the snapshot through an idmapped mount, as it sees a pulled layer.

use berth_types::idmap::IdMappings;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Changes the owner of `root` and everything below it (symlinks themselves, never followed) from
/// container ids to the host ids `ids` maps them to. An id outside the maps is an error.
pub fn chown_to_host(root: &Path, ids: &IdMappings) -> io::Result<()> {
    let unmapped = |what: &str, id: u32| io::Error::new(io::ErrorKind::InvalidData, format!("{what} {id} of {} is outside the user namespace's maps", root.display()));
    shift(root, &|uid, gid| Ok((ids.uid_to_host(uid).ok_or_else(|| unmapped("uid", uid))?, ids.gid_to_host(gid).ok_or_else(|| unmapped("gid", gid))?)))
}

/// The reverse of [`chown_to_host`]: host ids inside the maps become the container's. Ids outside
/// them stay (the whiteouts overlayfs makes as the mounter, which no container id can own), as the
/// same tree's layer tar from [`super::write_diff_except`] unpacks them.
pub fn chown_to_container(root: &Path, ids: &IdMappings) -> io::Result<()> {
    shift(root, &|uid, gid| Ok((ids.uid_to_container(uid).unwrap_or(uid), ids.gid_to_container(gid).unwrap_or(gid))))
}

fn shift(path: &Path, to: &dyn Fn(u32, u32) -> io::Result<(u32, u32)>) -> io::Result<()> {
    let md = std::fs::symlink_metadata(path)?;
    let (uid, gid) = to(md.uid(), md.gid())?;
    if (uid, gid) != (md.uid(), md.gid()) {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
        // chown clears set-id bits: put the mode back.
        if !md.file_type().is_symlink() && md.mode() & 0o6000 != 0 {
            std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(md.mode() & 0o7777))?;
        }
    }
    if md.is_dir() {
        for entry in std::fs::read_dir(path)? {
            shift(&entry?.path(), to)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_types::idmap::IdRange;
    use std::os::unix::fs::PermissionsExt;

    fn maps() -> IdMappings {
        IdMappings { uids: vec![IdRange { container_id: 0, host_id: 100_000, size: 65_536 }], gids: vec![IdRange { container_id: 0, host_id: 200_000, size: 65_536 }] }
    }

    #[test]
    fn shifts_every_owner_keeps_set_id_bits_and_does_not_follow_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("upper");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/f"), "x").unwrap();
        std::os::unix::fs::chown(root.join("a/b/f"), Some(1000), Some(50)).unwrap();
        std::fs::set_permissions(root.join("a/b/f"), std::fs::Permissions::from_mode(0o4755)).unwrap();
        let outside = dir.path().join("outside");
        std::fs::write(&outside, "o").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("a/link")).unwrap();
        chown_to_host(&root, &maps()).unwrap();
        let owner = |p: &Path| {
            let m = std::fs::symlink_metadata(p).unwrap();
            (m.uid(), m.gid(), m.mode() & 0o7777)
        };
        assert_eq!(owner(&root).0, 100_000);
        assert_eq!(owner(&root.join("a/b")).1, 200_000);
        assert_eq!(owner(&root.join("a/b/f")), (101_000, 200_050, 0o4755));
        assert_eq!((owner(&root.join("a/link")).0, owner(&root.join("a/link")).1), (100_000, 200_000));
        assert_eq!(owner(&outside).0, 0, "the symlink's target is not touched");
        // And back, with an id no container can own left as it is.
        std::os::unix::fs::lchown(root.join("a/link"), Some(0), Some(0)).unwrap();
        chown_to_container(&root, &maps()).unwrap();
        assert_eq!(owner(&root.join("a/b/f")), (1000, 50, 0o4755));
        assert_eq!(owner(&root).0, 0);
        assert_eq!((owner(&root.join("a/link")).0, owner(&root.join("a/link")).1), (0, 0));
    }

    #[test]
    fn an_id_outside_the_maps_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::chown(dir.path(), Some(70_000), Some(0)).unwrap();
        let err = chown_to_host(dir.path(), &maps()).unwrap_err();
        assert!(err.to_string().contains("uid 70000"), "{err}");
    }
}
