//! Rootless Berth: `berth daemon` started by an ordinary user, as rootless Docker (rootlesskit) and
//! Podman run theirs.
//!
//! ```text
//! berth daemon (the user, host namespaces)            ── parent.rs: owns the namespaces
//!   │ newuidmap/newgidmap: 0 → the user, 1… → /etc/subuid range (same for gids)
//!   │ pasta --netns … --userns …: the namespace's network, ports bound in it forwarded from the host
//!   └─ berth daemon (_BERTH_ROOTLESS_CHILD=1)          ── child.rs: unshares user, then mount+net+cgroup
//!        root of the user namespace: overlay, bridges, iptables, shims and containers all in it
//! ```
//!
//! The child re-executes the same command line; the parent forwards SIGTERM/SIGINT/SIGHUP to it,
//! and when it ends stops what is left in the namespace (shims, containers) and pasta. Containers
//! therefore stop with a rootless daemon, as with rootless Docker (no live restore).
//! `berth rootless setup` (setup.rs) checks the prerequisites once and creates the `rootless` context.

pub mod child;
pub mod parent;
pub mod setup;

use anyhow::Context;
use berth_daemon::rootless::CHILD_ENV;
use std::path::PathBuf;
use std::process::ExitCode;

/// What `berth daemon` does once the namespace question is settled.
pub enum Entry {
    /// Run the daemon in this process (as root, or as the rootless child inside its namespaces).
    Daemon,
    /// The rootless parent ran to its end with this status.
    Exit(ExitCode),
}

/// Decides, before any thread starts, whether this `berth daemon` is a rootful daemon, the
/// rootless child (which unshares here: a user namespace needs a single-threaded process), or
/// the rootless parent (an ordinary user's `berth daemon`).
pub fn enter() -> Entry {
    if std::env::var_os(CHILD_ENV).is_some_and(|v| v == "1") {
        return match child::prepare() {
            Ok(()) => Entry::Daemon,
            Err(e) => {
                eprintln!("berth daemon (rootless): {e:#}");
                Entry::Exit(ExitCode::FAILURE)
            }
        };
    }
    if nix::unistd::geteuid().is_root() {
        return Entry::Daemon;
    }
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth: cannot start the async runtime: {e}");
            return Entry::Exit(ExitCode::FAILURE);
        }
    };
    match rt.block_on(parent::run()) {
        Ok(code) => Entry::Exit(code),
        Err(e) => {
            eprintln!("berth daemon (rootless): {e:#}");
            Entry::Exit(ExitCode::FAILURE)
        }
    }
}

/// The ordinary user running Berth, and where a rootless Berth keeps its files.
#[derive(Debug, Clone)]
pub struct Account {
    /// Login name.
    pub name: String,
    /// Uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// Where the files go.
    pub dirs: Dirs,
}

impl Account {
    /// The current user, from the password database and the XDG environment.
    pub fn current() -> anyhow::Result<Account> {
        let uid = nix::unistd::getuid();
        let user = nix::unistd::User::from_uid(uid).ok().flatten().with_context(|| format!("uid {uid} has no entry in the password database"))?;
        Ok(Account { name: user.name, uid: uid.as_raw(), gid: user.gid.as_raw(), dirs: Dirs::from_env(&user.dir)? })
    }
}

/// A rootless Berth's directories, from the XDG environment (as rootless dockerd's).
#[derive(Debug, Clone)]
pub struct Dirs {
    /// `$XDG_RUNTIME_DIR` (required, as rootless Docker requires it).
    pub runtime_dir: PathBuf,
    /// `$XDG_DATA_HOME`, else `~/.local/share`.
    pub data_home: PathBuf,
    /// `$XDG_CONFIG_HOME`, else `~/.config`.
    pub config_home: PathBuf,
}

impl Dirs {
    /// From the environment; `home` when `$HOME` is unset.
    pub fn from_env(home: &std::path::Path) -> anyhow::Result<Dirs> {
        let home = std::env::var_os("HOME").map(PathBuf::from).filter(|h| h.is_absolute()).unwrap_or_else(|| home.to_path_buf());
        let xdg = |var: &str, default: &str| std::env::var_os(var).map(PathBuf::from).filter(|p| p.is_absolute()).unwrap_or_else(|| home.join(default));
        let runtime_dir = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .context("XDG_RUNTIME_DIR is not set: log in through a session that sets it (systemd --user, pam_systemd) or set it to a directory only you can write")?;
        Ok(Dirs { runtime_dir, data_home: xdg("XDG_DATA_HOME", ".local/share"), config_home: xdg("XDG_CONFIG_HOME", ".config") })
    }

    /// The run directory (dockerd's rootless exec root): shim sockets, bridge claims, pasta's pid.
    pub fn exec_root(&self) -> PathBuf {
        self.runtime_dir.join("berth")
    }

    /// The API socket.
    pub fn socket(&self) -> PathBuf {
        self.runtime_dir.join("berth.sock")
    }

    /// The data root.
    pub fn data_root(&self) -> PathBuf {
        self.data_home.join("berth")
    }

    /// The daemon's configuration file.
    pub fn config_file(&self) -> PathBuf {
        self.config_home.join("berth/daemon.json")
    }

    /// A rootless daemon's directories (inside the namespaces, where the password database
    /// would name root): None for a rootful daemon.
    pub fn of_rootless_daemon() -> Option<Dirs> {
        if !berth_daemon::rootless::active() {
            return None;
        }
        Dirs::from_env(std::path::Path::new("/")).ok()
    }
}

/// Subordinate id ranges as `(start, count)`.
pub type Ranges = Vec<(u32, u32)>;

/// The subordinate uid and gid ranges of `account`, or one line saying what is missing.
pub fn subordinate_ranges(account: &Account) -> anyhow::Result<(Ranges, Ranges)> {
    let read = |p: &str| std::fs::read_to_string(p).with_context(|| format!("reading {p}"));
    let uids = berth_types::idmap::subordinate_ranges(&read("/etc/subuid").unwrap_or_default(), &account.name, account.uid);
    let gids = berth_types::idmap::subordinate_ranges(&read("/etc/subgid").unwrap_or_default(), &account.name, account.gid_owner_id());
    let count = |r: &[(u32, u32)]| r.iter().map(|(_, n)| u64::from(*n)).sum::<u64>();
    let mut missing = Vec::new();
    if count(&uids) < 65536 {
        missing.push(format!("/etc/subuid needs a range of 65536 ids for {} (has {})", account.name, count(&uids)));
    }
    if count(&gids) < 65536 {
        missing.push(format!("/etc/subgid needs a range of 65536 ids for {} (has {})", account.name, count(&gids)));
    }
    if !missing.is_empty() {
        anyhow::bail!("{}; as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {}", missing.join(", "), account.name);
    }
    Ok((uids, gids))
}

impl Account {
    /// `/etc/subgid` lists ranges by user name or uid (shadow's `newgidmap` looks them up by the
    /// user), never by group.
    fn gid_owner_id(&self) -> u32 {
        self.uid
    }
}

/// The `newuidmap`/`newgidmap` arguments after the pid: `0 <own id> 1`, then each subordinate
/// range from container id 1 (rootless Docker's and Podman's layout: root in the namespace is the
/// user, every other id a subordinate one).
pub fn map_args(own: u32, ranges: &[(u32, u32)]) -> Vec<String> {
    let mut args = vec!["0".to_string(), own.to_string(), "1".to_string()];
    let mut next = 1u32;
    let mut sorted = ranges.to_vec();
    sorted.sort();
    for (start, count) in sorted {
        args.extend([next.to_string(), start.to_string(), count.to_string()]);
        next = next.saturating_add(count);
    }
    args
}

/// Why pasta could not give the namespace its network: it needs the TUN device, which distributions
/// leave open to every user (udev: mode 0666) and some hosts do not.
pub fn tun_problem() -> Option<String> {
    let tun = std::path::Path::new("/dev/net/tun");
    let rw = nix::unistd::AccessFlags::R_OK | nix::unistd::AccessFlags::W_OK;
    match nix::unistd::access(tun, rw) {
        Ok(()) => None,
        Err(_) if !tun.exists() => Some("/dev/net/tun is missing (as root: modprobe tun)".into()),
        Err(_) => Some("/dev/net/tun is not open to users, which pasta needs (as root: chmod 0666 /dev/net/tun, udev's default)".into()),
    }
}

pub use berth_daemon::userns::which;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_put_the_user_at_root_and_subordinate_ids_after() {
        assert_eq!(map_args(1000, &[(300000, 10), (100000, 65536)]), ["0", "1000", "1", "1", "100000", "65536", "65537", "300000", "10"]);
    }
}
