//! The rootless daemon's first steps, in the process the parent started (single-threaded: a
//! process with threads cannot enter a new user or mount namespace). A line protocol on
//! stdin/stdout with the parent orders them:
//!
//! ```text
//! child                                   parent
//! unshare(user)          ── "userns" ──▶  newuidmap, newgidmap
//!                        ◀── "mapped" ──
//! unshare(mount, net, cgroup); / rslave;
//! cgroup2 on /sys/fs/cgroup, delegation
//!                        ── "netns"  ──▶  pasta joins the network namespace
//!                        ◀── "network" ─
//! resolv.conf: host loopback resolvers → pasta's DNS forwarder
//! the daemon starts (root of the namespace)
//! ```

use anyhow::Context;
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use std::io::{BufRead, Write};
use std::path::Path;

/// Enters the namespaces, with the parent's help; on return this process is root of its own user
/// namespace, in private mount, network and cgroup namespaces.
pub fn prepare() -> anyhow::Result<()> {
    let mut input = std::io::stdin().lock();
    unshare(CloneFlags::CLONE_NEWUSER).context("creating the user namespace (are unprivileged user namespaces disabled? see kernel.unprivileged_userns_clone)")?;
    tell("userns")?;
    expect(&mut input, "mapped")?;
    unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWCGROUP).context("creating the mount, network and cgroup namespaces")?;
    // The host's mounts still reach us; ours (overlays, netns, volumes) never reach the host.
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_SLAVE, None::<&str>).context("making / a slave mount")?;
    mount_cgroup2()?;
    tell("netns")?;
    expect(&mut input, "network")?;
    rewrite_resolv_conf()?;
    Ok(())
}

/// Mounts the namespace's own cgroup v2 view (rooted at the daemon's cgroup) on /sys/fs/cgroup,
/// so the runtime manages containers' cgroups under it (libcontainer's rootless v2 mode) whatever
/// the host mounts there (v1 controllers here, which an ordinary user can never write). Where
/// the host delegated its cgroup to the user (systemd's `Delegate=yes`: the directory,
/// `cgroup.procs`, `cgroup.subtree_control` and `cgroup.threads` are the user's), every process in
/// it (this one and the parent) moves to a leaf, `berth-daemon` (cgroup v2 allows no processes
/// beside enabled child controllers; rootlesskit's `--evacuate-cgroup2`), and the controllers it
/// has are enabled for the containers' cgroups, which the runtime makes beside that leaf.
fn mount_cgroup2() -> anyhow::Result<()> {
    let root = Path::new("/sys/fs/cgroup");
    mount(Some("cgroup2"), root, Some("cgroup2"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC, None::<&str>)
        .context("mounting the namespace's cgroup2 on /sys/fs/cgroup")?;
    if nix::unistd::access(&root.join("cgroup.subtree_control"), nix::unistd::AccessFlags::W_OK).is_err() || nix::unistd::access(&root.join("cgroup.procs"), nix::unistd::AccessFlags::W_OK).is_err() {
        return Ok(()); // Not delegated: the daemon warns once it runs (berth_daemon::rootless).
    }
    let leaf = root.join(berth_daemon::rootless::DAEMON_CGROUP);
    match std::fs::create_dir(&leaf) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e).with_context(|| format!("creating the daemon's cgroup {}", leaf.display())),
        _ => {}
    }
    // Moving a process can race with its exit (ESRCH): the others still move.
    let procs = std::fs::read_to_string(root.join("cgroup.procs")).context("reading the delegated cgroup's processes")?;
    for pid in procs.split_whitespace() {
        match std::fs::write(leaf.join("cgroup.procs"), pid) {
            Err(e) if e.raw_os_error() != Some(nix::libc::ESRCH) => return Err(e).with_context(|| format!("moving process {pid} into {}", leaf.display())),
            _ => {}
        }
    }
    let controllers = std::fs::read_to_string(root.join("cgroup.controllers")).context("reading the delegated cgroup's controllers")?;
    for c in controllers.split_whitespace() {
        std::fs::write(root.join("cgroup.subtree_control"), format!("+{c}")).with_context(|| format!("enabling the {c} controller for containers in the delegated cgroup"))?;
    }
    Ok(())
}

/// Gives the daemon a `/etc/resolv.conf` its containers can use: the host's, with nameservers on
/// the host's loopback (systemd-resolved's 127.0.0.53, a local dnsmasq), which no other network
/// namespace reaches, replaced by the address pasta forwards DNS from to the host's first
/// nameserver ([`DNS_FORWARD`]; Podman's choice; rootlesskit writes its own resolv.conf the same
/// way). The file lives in the run directory and is bound over `/etc/resolv.conf` in the daemon's
/// mount namespace only, so the embedded DNS servers forward to it and containers on the default
/// bridge copy it as on a rootful host.
fn rewrite_resolv_conf() -> anyhow::Result<()> {
    use berth_daemon::rootless::DNS_FORWARD;
    let target = Path::new("/etc/resolv.conf");
    let Ok(text) = std::fs::read_to_string(target) else { return Ok(()) };
    let Some(rewritten) = berth_daemon::rootless::resolv_conf_for_namespace(&text) else { return Ok(()) };
    let run_dir = std::env::var_os("BERTH_EXEC_ROOT").map(std::path::PathBuf::from).context("BERTH_EXEC_ROOT is not set")?;
    let file = run_dir.join("resolv.conf");
    std::fs::write(&file, rewritten).with_context(|| format!("writing {}", file.display()))?;
    mount(Some(&file), target, None::<&str>, MsFlags::MS_BIND, None::<&str>).with_context(|| format!("binding {} over /etc/resolv.conf (DNS through {DNS_FORWARD})", file.display()))?;
    Ok(())
}

fn tell(line: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|_| out.flush()).context("telling the rootless parent")
}

fn expect(input: &mut impl BufRead, want: &str) -> anyhow::Result<()> {
    let mut line = String::new();
    input.read_line(&mut line).context("waiting for the rootless parent")?;
    if line.trim_end() != want {
        anyhow::bail!("the rootless parent gave up before {want:?}");
    }
    Ok(())
}
