//! `berth rootless setup`: what an ordinary user runs once before `berth daemon` (rootless
//! Docker's `dockerd-rootless-setuptool.sh install`). Checks the prerequisites and prints what is
//! missing in one line (exit 1); otherwise creates the data, configuration and run directories and
//! the `rootless` context (in the docker CLI's context store, so `docker context use rootless`
//! works too), and says how to start the daemon and reach it. With `--install-unit` it also writes
//! the systemd user unit (`contrib/systemd/user/berth.service`, with this berth's path) to
//! `$XDG_CONFIG_HOME/systemd/user/berth.service`, as rootless Docker's setup tool does.

use super::{subordinate_ranges, which, Account};
use berth_client::context::{Endpoint, Endpoints, Meta, Metadata, Store};
use std::process::ExitCode;

/// The context `setup` creates.
pub const CONTEXT: &str = "rootless";

/// The systemd user unit, `@BERTH@` standing for the berth executable.
const UNIT_TEMPLATE: &str = include_str!("../../../../../contrib/systemd/user/berth.service");

/// Runs the set-up for the current user; `install_unit`: write the systemd user unit too.
pub fn run(install_unit: bool) -> anyhow::Result<ExitCode> {
    if nix::unistd::geteuid().is_root() {
        anyhow::bail!("berth rootless setup is for an ordinary user: run it as the user who will run the daemon (root runs the system daemon)");
    }
    let mut missing = Vec::new();
    let account = match Account::current() {
        Ok(a) => Some(a),
        Err(e) => {
            missing.push(e.to_string());
            None
        }
    };
    if let Some(a) = &account {
        if let Err(e) = subordinate_ranges(a) {
            missing.push(e.to_string());
        }
    }
    for (tool, package) in [("newuidmap", "uidmap"), ("newgidmap", "uidmap"), ("pasta", "passt")] {
        if which(tool).is_none() {
            missing.push(format!("{tool} not found (apt-get install {package})"));
        }
    }
    missing.extend(super::tun_problem());
    if std::fs::read_to_string("/proc/sys/kernel/unprivileged_userns_clone").is_ok_and(|v| v.trim() == "0") {
        missing.push("unprivileged user namespaces are disabled (sysctl kernel.unprivileged_userns_clone=1)".into());
    }
    if std::fs::read_to_string("/proc/sys/user/max_user_namespaces").is_ok_and(|v| v.trim() == "0") {
        missing.push("user namespaces are disabled (sysctl user.max_user_namespaces=28633)".into());
    }
    let Some(account) = account.filter(|_| missing.is_empty()) else {
        eprintln!("berth rootless setup: missing: {}", missing.join("; "));
        return Ok(ExitCode::FAILURE);
    };
    for dir in [account.dirs.data_root(), account.dirs.config_home.join("berth")] {
        std::fs::create_dir_all(&dir).map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
    }
    let host = format!("unix://{}", account.dirs.socket().display());
    let store = Store::from_env();
    if !store.exists(CONTEXT) {
        store.save(&Meta {
            name: CONTEXT.into(),
            metadata: Metadata { description: "Rootless mode".into(), ..Default::default() },
            endpoints: Endpoints { docker: Some(Endpoint { host: host.clone(), ..Default::default() }), ..Default::default() },
        })?;
    }
    let unit = if install_unit { Some(write_unit(&account)?) } else { None };
    println!("rootless Berth is set up for {} (uid {})", account.name, account.uid);
    println!("  data root:  {}", account.dirs.data_root().display());
    println!("  socket:     {host}");
    match &unit {
        Some(path) => {
            println!("  unit:       {}", path.display());
            println!("start the daemon:  systemctl --user daemon-reload && systemctl --user enable --now berth");
            println!("keep it running after logout and start it at boot:  loginctl enable-linger {}", account.name);
        }
        None => println!("start the daemon as {}:  berth daemon   (or: berth rootless setup --install-unit, for systemd --user)", account.name),
    }
    println!("point clients at it:  export DOCKER_HOST={host}   (or: docker context use {CONTEXT} / berth context use {CONTEXT})");
    for w in warnings() {
        println!("note: {w}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the systemd user unit (atomically, replacing an older one) and returns its path.
fn write_unit(account: &Account) -> anyhow::Result<std::path::PathBuf> {
    use anyhow::Context;
    let exe = std::env::current_exe().context("finding the berth executable")?;
    let exe = exe.to_str().filter(|p| !p.contains(char::is_whitespace) && !p.contains(['%', '$', '\\', '"', '\''])).with_context(|| {
        format!("the berth executable's path {} cannot go into a unit's ExecStart as it is: install berth under a plain path", exe.display())
    })?;
    let dir = account.dirs.config_home.join("systemd/user");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("berth.service");
    berth_types::persist::replace_file(&path, UNIT_TEMPLATE.replace("@BERTH@", exe).as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// What works differently on this host, said before the first container hits it.
fn warnings() -> Vec<String> {
    let mut out = Vec::new();
    let start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").ok().and_then(|s| s.trim().parse::<u16>().ok()).unwrap_or(1024);
    if start > 0 {
        out.push(format!("host ports below {start} cannot be published (root can lower net.ipv4.ip_unprivileged_port_start)"));
    }
    match own_cgroup_delegation() {
        None => out.push("this host has no cgroup v2 hierarchy (its controllers are on cgroup v1): containers get no resource limits, and --memory, --cpus, --pids-limit are refused (boot with systemd.unified_cgroup_hierarchy=1 and delegate controllers to enable them)".into()),
        Some(None) => out.push("this user's cgroup v2 cgroup is not delegated to it: containers get no cgroup of their own and resource limits are refused (systemd: Delegate=yes, e.g. berth rootless setup --install-unit)".into()),
        Some(Some(have)) => {
            let missing: Vec<&str> = ["cpu", "memory", "pids", "io", "cpuset"].into_iter().filter(|c| !have.iter().any(|h| h == c)).collect();
            if !missing.is_empty() {
                let have = if have.is_empty() { "none".to_string() } else { have.join(", ") };
                out.push(format!("cgroup v2 is delegated to this user with the controllers {have}: limits needing {} are refused (systemd: Delegate=cpu cpuset io memory pids)", missing.join(", ")));
            }
        }
    }
    out
}

/// Where the host mounts cgroup v2 (`/sys/fs/cgroup` on a unified host; hybrid hosts such as this
/// one's mount it on `/sys/fs/cgroup/unified`).
fn cgroup2_mount() -> Option<std::path::PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().map(|l| l.split_whitespace().collect::<Vec<_>>()).find(|f| f.len() > 2 && f[2] == "cgroup2").map(|f| std::path::PathBuf::from(f[1]))
}

/// The delegation of this process's cgroup v2 cgroup, as the daemon will find it: None without
/// cgroup v2, `Some(None)` when the cgroup is not the user's to manage (`cgroup.procs` and
/// `cgroup.subtree_control` writable), else the controllers it was given.
fn own_cgroup_delegation() -> Option<Option<Vec<String>>> {
    let mount = cgroup2_mount()?;
    let path = std::fs::read_to_string("/proc/self/cgroup").ok().and_then(|c| c.lines().find_map(|l| l.strip_prefix("0::").map(str::to_string)))?;
    let dir = mount.join(path.trim_start_matches('/'));
    let writable = |f: &str| nix::unistd::access(&dir.join(f), nix::unistd::AccessFlags::W_OK).is_ok();
    if !writable("cgroup.subtree_control") || !writable("cgroup.procs") {
        return Some(None);
    }
    let controllers = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    Some(Some(controllers.split_whitespace().map(str::to_string).collect()))
}
