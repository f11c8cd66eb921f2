//! User namespace ID maps: what `--userns-remap` gives a container, built from the subordinate
//! ranges in `/etc/subuid` and `/etc/subgid` as dockerd builds them (`idtools.NewIdentityMapping`).
//!
//! A remapped container's uid `n` is the host's uid `base + n` (for the first range; later ranges
//! continue where the previous one ended). These maps are written into the OCI spec
//! (`linux.uidMappings`/`gidMappings`), used to make the idmapped mounts through which the
//! container sees its image layers (`berth_runtime::idmapped`), and to shift and unshift the owners of
//! files the daemon copies in and out of the container (`docker cp`, `commit`).

use serde::{Deserialize, Serialize};
use std::path::Path;

/// The id a user namespace shows for an id outside its maps (`/proc/sys/kernel/overflowuid`).
pub const OVERFLOW_ID: u32 = 65534;

/// One range of a map: `size` ids from `container_id` in the container are `host_id…` on the host
/// (a line of `/proc/<pid>/uid_map`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRange {
    /// First id inside the container.
    pub container_id: u32,
    /// First id on the host.
    pub host_id: u32,
    /// Number of ids.
    pub size: u32,
}

/// The uid and gid maps of remapped containers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMappings {
    /// Uid ranges, in container order from 0.
    pub uids: Vec<IdRange>,
    /// Gid ranges, in container order from 0.
    pub gids: Vec<IdRange>,
}

/// Why maps cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum IdMapError {
    /// A subordinate id file cannot be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The user has no subordinate range (dockerd's message).
    #[error("no subuid ranges found for user {0:?}")]
    NoSubuid(String),
    /// The user has no subordinate gid range (dockerd's message).
    #[error("no subgid ranges found for user {0:?}")]
    NoSubgid(String),
    /// A map whose container root is not mapped.
    #[error("the subordinate ranges do not map root in the container")]
    NoRoot,
}

fn map(id: u32, ranges: &[IdRange], to_host: bool) -> Option<u32> {
    ranges.iter().find_map(|r| {
        let (from, to) = if to_host { (r.container_id, r.host_id) } else { (r.host_id, r.container_id) };
        (id >= from && id - from < r.size).then(|| to + (id - from))
    })
}

impl IdMappings {
    /// Maps made of subordinate ranges (`(start, count)`, in the order the files list them):
    /// sorted by start and laid out from container id 0, as dockerd's `createIDMap` does.
    pub fn from_ranges(uid_ranges: &[(u32, u32)], gid_ranges: &[(u32, u32)]) -> IdMappings {
        let lay_out = |ranges: &[(u32, u32)]| {
            let mut sorted = ranges.to_vec();
            sorted.sort();
            let mut next = 0u32;
            sorted
                .into_iter()
                .map(|(host_id, size)| {
                    let r = IdRange { container_id: next, host_id, size };
                    next = next.saturating_add(size);
                    r
                })
                .collect()
        };
        IdMappings { uids: lay_out(uid_ranges), gids: lay_out(gid_ranges) }
    }

    /// The maps of user `user` (its name, and its uid for numeric entries) from the `subuid` and
    /// `subgid` files (`/etc/subuid`, `/etc/subgid`): both are looked up by the user, as dockerd's
    /// `LoadIdentityMapping` does (the remap group only names the data root's owner group).
    pub fn from_subid_files(subuid: &Path, subgid: &Path, user: (&str, u32)) -> Result<IdMappings, IdMapError> {
        let read = |p: &Path| std::fs::read_to_string(p).map_err(|source| IdMapError::Read { path: p.to_path_buf(), source });
        let uids = subordinate_ranges(&read(subuid)?, user.0, user.1);
        if uids.is_empty() {
            return Err(IdMapError::NoSubuid(user.0.to_string()));
        }
        let gids = subordinate_ranges(&read(subgid)?, user.0, user.1);
        if gids.is_empty() {
            return Err(IdMapError::NoSubgid(user.0.to_string()));
        }
        let maps = IdMappings::from_ranges(&uids, &gids);
        maps.root()?;
        Ok(maps)
    }

    /// The host uid and gid of root in the container.
    pub fn root(&self) -> Result<(u32, u32), IdMapError> {
        match (self.uid_to_host(0), self.gid_to_host(0)) {
            (Some(u), Some(g)) => Ok((u, g)),
            _ => Err(IdMapError::NoRoot),
        }
    }

    /// The host uid of container uid `id` (None: not mapped).
    pub fn uid_to_host(&self, id: u32) -> Option<u32> {
        map(id, &self.uids, true)
    }

    /// The host gid of container gid `id`.
    pub fn gid_to_host(&self, id: u32) -> Option<u32> {
        map(id, &self.gids, true)
    }

    /// The container uid of host uid `id` (None: not mapped, the container sees the overflow id).
    pub fn uid_to_container(&self, id: u32) -> Option<u32> {
        map(id, &self.uids, false)
    }

    /// The container gid of host gid `id`.
    pub fn gid_to_container(&self, id: u32) -> Option<u32> {
        map(id, &self.gids, false)
    }

    /// `/proc/<pid>/uid_map` text of `ranges`.
    pub fn proc_map(ranges: &[IdRange]) -> String {
        ranges.iter().map(|r| format!("{} {} {}\n", r.container_id, r.host_id, r.size)).collect()
    }
}

/// Whether this process runs in a user namespace other than the host's (rootless Berth: the daemon
/// and its shims run as root of the namespace `berth daemon` made for them). Read once from
/// `/proc/self/uid_map`: the initial namespace maps all ids (`0 0 4294967295`).
pub fn in_user_namespace() -> bool {
    static IN: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *IN.get_or_init(|| std::fs::read_to_string("/proc/self/uid_map").map(|m| !is_initial_map(&m)).unwrap_or(false))
}

fn is_initial_map(map: &str) -> bool {
    map.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"]
}

/// The `(start, count)` ranges `subuid`/`subgid` text gives `name` (or its numeric id `id`), in
/// file order; malformed lines are skipped as shadow's tools skip them.
pub fn subordinate_ranges(text: &str, name: &str, id: u32) -> Vec<(u32, u32)> {
    let id = id.to_string();
    text.lines()
        .filter_map(|l| {
            let mut f = l.trim().split(':');
            let (who, start, count) = (f.next()?, f.next()?.parse().ok()?, f.next()?.parse().ok()?);
            ((who == name || who == id) && count > 0).then_some((start, count))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_initial_map_is_told_from_a_namespace_map() {
        assert!(is_initial_map("         0          0 4294967295\n"));
        assert!(!is_initial_map("         0       1000          1\n         1     100000      65536\n"));
    }

    #[test]
    fn ranges_are_read_for_the_name_or_the_id() {
        let text = "alice:100000:65536\ndockremap:165536:65536\n# x\nbad line\n1001:300000:10\ndockremap:500000:1000\n";
        assert_eq!(subordinate_ranges(text, "dockremap", 999), vec![(165536, 65536), (500000, 1000)]);
        assert_eq!(subordinate_ranges(text, "bob", 1001), vec![(300000, 10)]);
        assert!(subordinate_ranges(text, "carol", 5).is_empty());
    }

    #[test]
    fn maps_are_laid_out_from_zero_in_host_order() {
        let m = IdMappings::from_ranges(&[(500000, 1000), (165536, 65536)], &[(165536, 65536)]);
        assert_eq!(m.uids, vec![IdRange { container_id: 0, host_id: 165536, size: 65536 }, IdRange { container_id: 65536, host_id: 500000, size: 1000 }]);
        assert_eq!(m.root().unwrap(), (165536, 165536));
        assert_eq!(m.uid_to_host(65536), Some(500000));
        assert_eq!(m.uid_to_host(66536), None);
        assert_eq!(m.uid_to_container(165537), Some(1));
        assert_eq!(m.uid_to_container(0), None);
        assert_eq!(IdMappings::proc_map(&m.gids), "0 165536 65536\n");
    }

    #[test]
    fn missing_ranges_are_reported_as_dockerd_does() {
        let dir = tempfile::tempdir().unwrap();
        let (u, g) = (dir.path().join("subuid"), dir.path().join("subgid"));
        std::fs::write(&u, "dockremap:100000:65536\n").unwrap();
        std::fs::write(&g, "other:100000:65536\n").unwrap();
        let e = IdMappings::from_subid_files(&u, &g, ("dockremap", 999)).unwrap_err();
        assert_eq!(e.to_string(), "no subgid ranges found for user \"dockremap\"");
        std::fs::write(&g, "dockremap:200000:65536\n").unwrap();
        let m = IdMappings::from_subid_files(&u, &g, ("dockremap", 999)).unwrap();
        assert_eq!(m.root().unwrap(), (100000, 200000));
    }
}
