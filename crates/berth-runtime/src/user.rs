//! `-u name[:group]` resolution against the image's `/etc/passwd` and `/etc/group`, read inside the
//! container's root with `openat2(RESOLVE_IN_ROOT)` so a symlinked `/etc/passwd` in an image can
//! never make Berth read a host file.

use crate::RuntimeError;
use std::io::Read;
use std::path::Path;

/// The resolved identity of a container's process.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups from `/etc/group`.
    pub additional_gids: Vec<u32>,
    /// Home directory (for `HOME`), when known.
    pub home: Option<String>,
}

/// Reads a file inside `root` without following symlinks out of it; missing files read as empty.
fn read_in_root(root: &Path, path: &str) -> String {
    let mut s = String::new();
    if let Ok(mut f) = crate::mount::sys::open_in_root(root, path) {
        let _ = f.read_to_string(&mut s);
    }
    s
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

fn passwd(root: &Path) -> Vec<PasswdEntry> {
    read_in_root(root, "etc/passwd")
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 6).then(|| PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().unwrap_or(u32::MAX),
                gid: f[3].parse().unwrap_or(u32::MAX),
                home: f[5].to_string(),
            })
        })
        .filter(|e| e.uid != u32::MAX)
        .collect()
}

fn groups(root: &Path) -> Vec<(String, u32, Vec<String>)> {
    read_in_root(root, "etc/group")
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 3 {
                return None;
            }
            let gid = f[2].parse().ok()?;
            let members = f.get(3).map(|m| m.split(',').filter(|s| !s.is_empty()).map(String::from).collect()).unwrap_or_default();
            Some((f[0].to_string(), gid, members))
        })
        .collect()
}

/// Adds `--group-add` groups (names looked up in the image's `/etc/group`, or numeric ids) to
/// `ident`'s supplementary groups, as Docker does for the container and its execs.
pub fn add_groups(root: &Path, ident: &mut Identity, extra: &[String]) -> Result<(), RuntimeError> {
    if extra.is_empty() {
        return Ok(());
    }
    let all_groups = groups(root);
    for g in extra {
        let gid = match all_groups.iter().find(|(n, _, _)| n == g) {
            Some((_, id, _)) => *id,
            None => g.parse().map_err(|_| RuntimeError::NoSuchGroup(g.to_string()))?,
        };
        if !ident.additional_gids.contains(&gid) {
            ident.additional_gids.push(gid);
        }
    }
    Ok(())
}

/// How a process's supplementary groups are made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupsPolicy {
    /// Docker's: the primary group, then the user's groups in the image's `/etc/group` (only
    /// when no group is given), then `--group-add` (dockerd's `getUser` lists the primary group
    /// first; runc sets them as a set).
    #[default]
    Docker,
    /// CRI `SupplementalGroupsPolicy` Merge (containerd's): the primary group, the user's groups
    /// in the image's `/etc/group` (also with an explicit group), then the requested groups.
    Merge,
    /// CRI `SupplementalGroupsPolicy` Strict: the primary group and the requested groups only.
    Strict,
}

/// Resolves Docker's `-u` forms: empty (root), `uid`, `name`, `uid:gid`, `name:group`, `uid:group`.
pub fn resolve(root: &Path, spec: &str) -> Result<Identity, RuntimeError> {
    resolve_with(root, spec, GroupsPolicy::Docker)
}

/// [`resolve`] with the supplementary groups made as `policy` says (before the requested groups,
/// which [`add_groups`] adds).
///
/// As runc's `GetExecUser`: a numeric user or group is an id even when a name of those digits
/// exists; a uid with an `/etc/passwd` entry takes that entry's name, group and home; an empty
/// user is uid 0 with the entry of uid 0.
pub fn resolve_with(root: &Path, spec: &str, policy: GroupsPolicy) -> Result<Identity, RuntimeError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let users = passwd(root);
    let numeric = if user.is_empty() { Some(0) } else { user.parse::<u32>().ok() };
    let entry = match numeric {
        Some(n) => users.iter().find(|e| e.uid == n),
        None => Some(users.iter().find(|e| e.name == user).ok_or_else(|| RuntimeError::NoSuchUser(user.to_string()))?),
    };
    let (uid, mut gid, name, home) = match (entry, numeric) {
        (Some(e), _) => (e.uid, e.gid, Some(e.name.clone()), Some(e.home.clone())),
        (None, Some(n)) => (n, 0, None, None),
        (None, None) => return Err(RuntimeError::NoSuchUser(user.to_string())),
    };
    let all_groups = groups(root);
    let group = group.filter(|g| !g.is_empty());
    if let Some(g) = group {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => all_groups.iter().find(|(n, _, _)| n == g).map(|(_, id, _)| *id).ok_or_else(|| RuntimeError::NoSuchGroup(g.to_string()))?,
        };
    }
    let of_image = |n: &String| all_groups.iter().filter(|(_, _, m)| m.contains(n)).map(|(_, id, _)| *id).collect::<Vec<_>>();
    let listed = match (policy, &name, group) {
        // Docker adds the image's groups only when no group was given explicitly.
        (GroupsPolicy::Docker, Some(n), None) | (GroupsPolicy::Merge, Some(n), _) => of_image(n),
        _ => vec![],
    };
    let mut additional_gids = vec![gid];
    for g in listed {
        if !additional_gids.contains(&g) {
            additional_gids.push(g);
        }
    }
    Ok(Identity { uid, gid, additional_gids, home })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n").unwrap();
        std::fs::write(d.path().join("etc/group"), "root:x:0:\napp:x:1000:\nwheel:x:10:app\n").unwrap();
        d
    }

    #[test]
    fn resolves_docker_user_forms() {
        let d = rootfs();
        assert_eq!(resolve(d.path(), "").unwrap().uid, 0);
        let app = resolve(d.path(), "app").unwrap();
        assert_eq!((app.uid, app.gid, app.additional_gids.clone()), (1000, 1000, vec![1000, 10]));
        assert_eq!(app.home.as_deref(), Some("/home/app"));
        assert_eq!(resolve(d.path(), "1000").unwrap().gid, 1000);
        assert_eq!(resolve(d.path(), "4242").unwrap(), Identity { uid: 4242, gid: 0, additional_gids: vec![0], home: None });
        let ug = resolve(d.path(), "app:wheel").unwrap();
        assert_eq!((ug.uid, ug.gid, ug.additional_gids), (1000, 10, vec![10]));
        assert_eq!(resolve(d.path(), "1:2").unwrap().gid, 2);
        assert!(matches!(resolve(d.path(), "nobody"), Err(RuntimeError::NoSuchUser(_))));
        assert!(matches!(resolve(d.path(), "app:nogroup"), Err(RuntimeError::NoSuchGroup(_))));
    }

    #[test]
    fn docker_groups_are_the_primary_group_the_images_and_the_added_ones() {
        // What dockerd 20.10 gives (`id` in the container): the primary group always, the image's
        // memberships only without an explicit group, `--group-add` on top, each once.
        let d = rootfs();
        std::fs::write(d.path().join("etc/group"), "root:x:0:\napp:x:1000:\nwheel:x:10:app\nextra:x:60:bob,app\n").unwrap();
        assert_eq!(resolve(d.path(), "1000:1000").unwrap().additional_gids, vec![1000]);
        assert_eq!(resolve(d.path(), "1000").unwrap().additional_gids, vec![1000, 10, 60]);
        assert_eq!(resolve(d.path(), "app:wheel").unwrap().additional_gids, vec![10]);
        assert_eq!(resolve(d.path(), "").unwrap().additional_gids, vec![0]);
        let mut added = resolve(d.path(), "1000:1000").unwrap();
        add_groups(d.path(), &mut added, &["5".into(), "1000".into(), "extra".into()]).unwrap();
        assert_eq!(added.additional_gids, vec![1000, 5, 60]);
        // A numeric user is a uid even when a user of that name exists (runc's rule).
        std::fs::write(d.path().join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n1000:x:7:7::/:/bin/sh\n").unwrap();
        assert_eq!((resolve(d.path(), "1000").unwrap().uid, resolve(d.path(), "1000").unwrap().gid), (1000, 1000));
    }

    #[test]
    fn cri_group_policies_merge_or_leave_out_the_image_groups() {
        let d = rootfs();
        let mut merge = resolve_with(d.path(), "1000", GroupsPolicy::Merge).unwrap();
        add_groups(d.path(), &mut merge, &["1234".into()]).unwrap();
        assert_eq!((merge.uid, merge.gid, merge.additional_gids), (1000, 1000, vec![1000, 10, 1234]));
        // Merge takes the image's groups also when the group is explicit (containerd does).
        assert_eq!(resolve_with(d.path(), "app:1000", GroupsPolicy::Merge).unwrap().additional_gids, vec![1000, 10]);
        let mut strict = resolve_with(d.path(), "1000", GroupsPolicy::Strict).unwrap();
        add_groups(d.path(), &mut strict, &["1234".into()]).unwrap();
        assert_eq!(strict.additional_gids, vec![1000, 1234]);
    }

    #[test]
    fn symlinked_passwd_does_not_escape_root() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("etc/passwd")).unwrap();
        // The host's /etc/passwd has root; resolved inside the root the link points nowhere.
        assert!(matches!(resolve(d.path(), "root"), Err(RuntimeError::NoSuchUser(_))));
    }
}
