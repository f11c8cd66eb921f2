//! What is mounted, from `/proc/self/mountinfo`, so the collector never deletes a directory that a
//! mount still uses (a build step of a crashed daemon, a view someone left mounted).

use std::path::{Path, PathBuf};

/// One line of mountinfo, the fields the collector needs.
#[derive(Debug, Clone)]
pub struct MountEntry {
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// The filesystem type (`overlay`, `nsfs`, …).
    pub fstype: String,
    /// The superblock options (an overlay's `lowerdir=…,upperdir=…,workdir=…`).
    pub super_options: String,
}

/// The mounts of this process's mount namespace; empty if mountinfo cannot be read.
pub fn mounts() -> Vec<MountEntry> {
    std::fs::read_to_string("/proc/self/mountinfo").map(|s| parse(&s)).unwrap_or_default()
}

fn parse(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mount_point = left.split(' ').nth(4)?;
            let mut r = right.split(' ');
            let fstype = r.next()?.to_string();
            let _source = r.next()?;
            let super_options = berth_types::teardown::unescape(r.next().unwrap_or(""));
            Some(MountEntry { mount_point: PathBuf::from(berth_types::teardown::unescape(mount_point)), fstype, super_options })
        })
        .collect()
}

/// Whether something is mounted at or below `dir`, or an overlay uses a directory at or below it.
pub fn in_use(mounts: &[MountEntry], dir: &Path) -> bool {
    mounts.iter().any(|m| {
        m.mount_point.starts_with(dir)
            || (m.fstype == "overlay"
                && m.super_options.split(',').any(|o| {
                    let v = o.split_once('=').map(|(_, v)| v).unwrap_or("");
                    v.split(':').any(|p| !p.is_empty() && Path::new(p).starts_with(dir))
                }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mount_points_and_overlay_dirs() {
        let text = "36 35 98:0 / /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n\
                    40 36 0:50 / /r/containers/c1/rootfs rw - overlay overlay rw,lowerdir=/r/snapshots/snapshots/2/fs:/r/snapshots/snapshots/1/fs,upperdir=/r/snapshots/snapshots/3/fs,workdir=/r/snapshots/snapshots/3/work\n";
        let m = parse(text);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].mount_point, Path::new("/mnt/with space"));
        assert!(in_use(&m, Path::new("/r/snapshots/snapshots/3")));
        assert!(in_use(&m, Path::new("/r/snapshots/snapshots/1")));
        assert!(!in_use(&m, Path::new("/r/snapshots/snapshots/4")));
        assert!(in_use(&m, Path::new("/r/containers/c1")));
        assert!(!in_use(&m, Path::new("/r/containers/c2")));
    }
}
