//! `--userns-remap`: the user whose subordinate ranges remapped containers run as, and the data
//! root of remapped state, as dockerd sets them up (`daemon/daemon_unix.go`: `parseRemappedRoot`,
//! `setupRemappedRoot`, `setupDaemonRoot`).
//!
//! ```text
//! <data-root>/              0710 root:<remapped gid>   (0711 while its parents are checked)
//!   <uid>.<gid>/            0710 root:<remapped gid>   the data root of everything remapped
//!     containers/, volumes/ 0710 root:<remapped gid>   traversable by the containers' root
//! ```
//! Root in a remapped container is `<uid>` on the host (the first subordinate uid of the remap
//! user); it must be able to reach its own root filesystem, `/etc/hosts` and volumes under the
//! data root, and nothing else there.

use berth_runtime::idmap::IdMappings;
use nix::unistd::{Gid, Group, Uid, User};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// dockerd's name for `--userns-remap default`'s user and group.
pub const DEFAULT_USER: &str = "dockremap";

/// The size of the subordinate range made for a new `dockremap` (dockerd's `defaultRangeLen`).
const RANGE_LEN: u64 = 65536;

/// The remapping the daemon runs with.
#[derive(Debug, Clone)]
pub struct Remap {
    /// The user whose subordinate ranges are used.
    pub user: String,
    /// The group that owns the data root.
    pub group: String,
    /// The maps every remapped container gets.
    pub maps: IdMappings,
}

impl Remap {
    /// Host uid and gid of root in a remapped container.
    pub fn root(&self) -> (u32, u32) {
        self.maps.root().unwrap_or((0, 0))
    }
}

/// Why remapping cannot be set up (dockerd's messages where it has one).
#[derive(Debug, thiserror::Error)]
pub enum RemapError {
    /// `USER:GROUP:x`.
    #[error("Invalid user/group specification in --userns-remap: {0:?}")]
    Spec(String),
    /// A name or id that does not exist.
    #[error("{0}")]
    Lookup(String),
    /// Making `dockremap` (user or ranges) failed.
    #[error("Error during \"dockremap\" user creation: {0}")]
    Create(String),
    /// No subordinate ranges.
    #[error("Can't create ID mappings: {0}")]
    Maps(#[from] berth_runtime::idmap::IdMapError),
    /// More than one subordinate range: libcontainer writes such maps with newuidmap, which
    /// refuses ranges /etc/subuid does not grant to root.
    #[error("user {0:?} has several subordinate uid or gid ranges: berth maps remapped containers to one range (merge them in /etc/subuid and /etc/subgid)")]
    Ranges(String),
    /// A directory of the data root cannot be set up.
    #[error("{op} {path}: {source}")]
    Io {
        /// What.
        op: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A parent of the data root keeps the remapped root out.
    #[error("a subdirectory in your graphroot path ({0}) restricts access to the remapped root uid/gid; please fix by allowing 'o+x' permissions on existing directories")]
    Access(PathBuf),
}

fn lookup_user(name: &str) -> Result<User, RemapError> {
    let found = match name.parse::<u32>() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid)),
        Err(_) => User::from_name(name),
    };
    match found {
        Ok(Some(u)) => Ok(u),
        Ok(None) if name.parse::<u32>().is_ok() => Err(RemapError::Lookup(format!("Uid {name} has no entry in /etc/passwd"))),
        Ok(None) => Err(RemapError::Lookup(format!("Error during uid lookup for {name:?}: user: unknown user {name}"))),
        Err(e) => Err(RemapError::Lookup(format!("Error during uid lookup for {name:?}: {e}"))),
    }
}

fn lookup_group(name: &str) -> Result<Group, RemapError> {
    let found = match name.parse::<u32>() {
        Ok(gid) => Group::from_gid(Gid::from_raw(gid)),
        Err(_) => Group::from_name(name),
    };
    match found {
        Ok(Some(g)) => Ok(g),
        Ok(None) if name.parse::<u32>().is_ok() => Err(RemapError::Lookup(format!("Gid {name} has no entry in /etc/group"))),
        Ok(None) | Err(_) => Err(RemapError::Lookup(format!("Error during gid lookup for {name:?}: group: unknown group {name}"))),
    }
}

fn run(cmd: &str, args: &[&str]) -> Result<(), RemapError> {
    let out = Command::new(cmd).args(args).output().map_err(|e| RemapError::Create(format!("running {cmd}: {e}")))?;
    if !out.status.success() {
        return Err(RemapError::Create(format!("{cmd} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())));
    }
    Ok(())
}

/// The first start of a free range of `RANGE_LEN` ids from 100000 among `ranges` (dockerd's
/// `findNextRangeStart`).
fn next_free(mut ranges: Vec<(u32, u32)>) -> u64 {
    ranges.sort();
    let mut start: u64 = 100000;
    for (s, n) in ranges {
        let (s, n) = (u64::from(s), u64::from(n));
        if start < s + n && s < start + RANGE_LEN {
            start = s + n;
        }
    }
    start
}

/// Creates the `dockremap` system user and group, and subordinate ranges for it when the system
/// made none (dockerd's `AddNamespaceRangesUser`).
fn create_default_user() -> Result<(), RemapError> {
    if which("adduser").is_some() {
        run("adduser", &["--system", "--shell", "/bin/false", "--no-create-home", "--disabled-login", "--disabled-password", "--group", DEFAULT_USER])?;
    } else if which("useradd").is_some() {
        run("useradd", &["-r", "-s", "/bin/false", "-U", DEFAULT_USER])?;
    } else {
        return Err(RemapError::Create("cannot add user; no useradd/adduser binary found".into()));
    }
    let uid = lookup_user(DEFAULT_USER)?.uid.as_raw();
    for (file, flag) in [("/etc/subuid", "-v"), ("/etc/subgid", "-w")] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if !berth_runtime::idmap::subordinate_ranges(&text, DEFAULT_USER, uid).is_empty() {
            continue;
        }
        let all: Vec<(u32, u32)> = text
            .lines()
            .filter_map(|l| {
                let mut f = l.split(':').skip(1);
                Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
            })
            .collect();
        let start = next_free(all);
        run("usermod", &[flag, &format!("{start}-{}", start + RANGE_LEN - 1), DEFAULT_USER])?;
    }
    Ok(())
}

/// Finds `program` on `PATH` (a default search path when unset).
pub fn which(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin".into());
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| p.is_file())
}

/// Resolves `--userns-remap` (`default`, `USER`, `USER:GROUP`, names or ids) to the user, group
/// and maps, creating `dockremap` for `default` if needed. `root` turns remapping off, as dockerd.
pub fn resolve(spec: &str) -> Result<Option<Remap>, RemapError> {
    let parts: Vec<&str> = spec.split(':').collect();
    if parts.len() > 2 || parts.iter().any(|p| p.is_empty()) {
        return Err(RemapError::Spec(spec.to_string()));
    }
    let user = if parts[0] == "default" {
        if User::from_name(DEFAULT_USER).ok().flatten().is_none() {
            create_default_user()?;
        }
        lookup_user(DEFAULT_USER)?
    } else {
        lookup_user(parts[0])?
    };
    if user.uid.is_root() {
        tracing::warn!("User namespaces: root cannot be remapped with itself; user namespaces are OFF");
        return Ok(None);
    }
    let group = match parts.get(1) {
        Some(g) => lookup_group(g)?,
        // A numeric uid alone: its number as the gid; a name alone: the group of that name.
        None if parts[0].parse::<u32>().is_ok() => lookup_group(parts[0])?,
        None => lookup_group(&user.name)?,
    };
    let maps = IdMappings::from_subid_files(Path::new("/etc/subuid"), Path::new("/etc/subgid"), (&user.name, user.uid.as_raw()))?;
    if maps.uids.len() > 1 || maps.gids.len() > 1 {
        return Err(RemapError::Ranges(user.name));
    }
    tracing::info!(user = %user.name, group = %group.name, "user namespaces: ID ranges will be mapped to subuid/subgid ranges of the user");
    Ok(Some(Remap { user: user.name, group: group.name, maps }))
}

fn set_mode(path: &Path, mode: u32, gid: u32) -> Result<(), RemapError> {
    let err = |op| move |source| RemapError::Io { op, path: path.to_path_buf(), source };
    std::fs::create_dir_all(path).map_err(err("create"))?;
    std::os::unix::fs::chown(path, Some(0), Some(gid)).map_err(err("chown"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(err("chmod"))
}

/// Whether the remapped root (`uid`, `gid`) may search `dir` (dockerd's `canAccess`).
fn can_search(dir: &Path, uid: u32, gid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::metadata(dir) else { return false };
    let mode = m.mode();
    if m.uid() == uid {
        return mode & 0o100 != 0;
    }
    if m.gid() == gid {
        return mode & 0o010 != 0;
    }
    mode & 0o001 != 0
}

/// Sets up the remapped data root under `root` (see the module doc) and returns it. Refuses a
/// `root` whose parents the remapped root cannot search, as dockerd does, before anything runs.
pub fn data_root(root: &Path, remap: &Remap) -> Result<PathBuf, RemapError> {
    let (uid, gid) = remap.root();
    set_mode(root, 0o710, gid)?;
    let sub = root.join(format!("{uid}.{gid}"));
    set_mode(&sub, 0o710, gid)?;
    for dir in ["containers", "volumes"] {
        set_mode(&sub.join(dir), 0o710, gid)?;
    }
    let mut dir = root.parent();
    while let Some(d) = dir.filter(|d| *d != Path::new("/")) {
        if !can_search(d, uid, gid) {
            return Err(RemapError::Access(sub));
        }
        dir = d.parent();
    }
    Ok(sub)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_start_after_what_is_taken() {
        assert_eq!(next_free(vec![]), 100000);
        assert_eq!(next_free(vec![(100000, 65536)]), 165536);
        assert_eq!(next_free(vec![(165536, 65536), (100000, 65536)]), 231072);
        assert_eq!(next_free(vec![(300000, 10)]), 100000);
    }

    #[test]
    fn specs_are_checked() {
        assert_eq!(resolve("a:b:c").unwrap_err().to_string(), "Invalid user/group specification in --userns-remap: \"a:b:c\"");
        assert!(resolve("root").unwrap().is_none());
        assert!(resolve("no-such-user-berth").unwrap_err().to_string().starts_with("Error during uid lookup for \"no-such-user-berth\""));
    }
}
