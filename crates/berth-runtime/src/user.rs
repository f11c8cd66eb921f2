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

/// Resolves Docker's `-u` forms: empty (root), `uid`, `name`, `uid:gid`, `name:group`, `uid:group`.
pub fn resolve(root: &Path, spec: &str) -> Result<Identity, RuntimeError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let users = passwd(root);
    let (uid, mut gid, name, home) = if user.is_empty() {
        let root_entry = users.iter().find(|e| e.uid == 0);
        (0, 0, Some("root".to_string()), root_entry.map(|e| e.home.clone()))
    } else if let Some(e) = users.iter().find(|e| e.name == user) {
        (e.uid, e.gid, Some(e.name.clone()), Some(e.home.clone()))
    } else if let Ok(n) = user.parse::<u32>() {
        match users.iter().find(|e| e.uid == n) {
            Some(e) => (n, e.gid, Some(e.name.clone()), Some(e.home.clone())),
            None => (n, 0, None, None),
        }
    } else {
        return Err(RuntimeError::NoSuchUser(user.to_string()));
    };
    let all_groups = groups(root);
    if let Some(g) = group.filter(|g| !g.is_empty()) {
        gid = match all_groups.iter().find(|(n, _, _)| n == g) {
            Some((_, id, _)) => *id,
            None => g.parse().map_err(|_| RuntimeError::NoSuchGroup(g.to_string()))?,
        };
    }
    let additional_gids = match (&name, group) {
        // Docker adds supplementary groups only when no group was given explicitly.
        (Some(n), None) => all_groups.iter().filter(|(_, id, m)| m.contains(n) && *id != gid).map(|(_, id, _)| *id).collect(),
        _ => vec![],
    };
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
        assert_eq!((app.uid, app.gid, app.additional_gids.clone()), (1000, 1000, vec![10]));
        assert_eq!(app.home.as_deref(), Some("/home/app"));
        assert_eq!(resolve(d.path(), "1000").unwrap().gid, 1000);
        assert_eq!(resolve(d.path(), "4242").unwrap(), Identity { uid: 4242, gid: 0, additional_gids: vec![], home: None });
        let ug = resolve(d.path(), "app:wheel").unwrap();
        assert_eq!((ug.uid, ug.gid, ug.additional_gids.len()), (1000, 10, 0));
        assert_eq!(resolve(d.path(), "1:2").unwrap().gid, 2);
        assert!(matches!(resolve(d.path(), "nobody"), Err(RuntimeError::NoSuchUser(_))));
        assert!(matches!(resolve(d.path(), "app:nogroup"), Err(RuntimeError::NoSuchGroup(_))));
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
