//! What changes when the daemon runs rootless (`berth daemon` started by an ordinary user; see
//! `berth-cli`'s `cmd::rootless` and docs/SECURITY.md): the daemon and its shims are root of a user
//! namespace that the user's own `berth daemon` parent made with `newuidmap`/`newgidmap`, in a
//! network namespace that `pasta` connects to the host.
//!
//! The parent tells the daemon through its environment, which the shims inherit:
//! `_BERTH_ROOTLESS_CHILD=1`, `BERTH_EXEC_ROOT` (run directory, `$XDG_RUNTIME_DIR/berth`) and
//! `BERTH_ROOTLESS_PORT_START` (the host's `net.ipv4.ip_unprivileged_port_start`, which the
//! daemon's own network namespace does not share).

use crate::service::ServiceError;

/// The environment variable the rootless parent sets for the daemon it starts in the namespaces.
pub const CHILD_ENV: &str = "_BERTH_ROOTLESS_CHILD";
/// The host's first unprivileged port, as the parent read it.
pub const PORT_START_ENV: &str = "BERTH_ROOTLESS_PORT_START";
/// The leaf cgroup the daemon (and its parent) move to in a delegated cgroup v2 subtree, beside
/// the containers' cgroups.
pub const DAEMON_CGROUP: &str = "berth-daemon";
/// The address in the daemon's network namespace that pasta answers DNS on, forwarding to the
/// host's first nameserver (from the host's side, so a resolver on the host's loopback works).
/// Podman's choice for pasta.
pub const DNS_FORWARD: &str = "169.254.1.1";

/// The `/etc/resolv.conf` the rootless daemon's namespace sees: `host`'s, with nameservers on the
/// loopback (unreachable from any other network namespace) replaced by [`DNS_FORWARD`], once,
/// first. None when `host` names no loopback nameserver (it is used as it is).
pub fn resolv_conf_for_namespace(host: &str) -> Option<String> {
    let loopback = |l: &str| {
        let mut f = l.split_whitespace();
        f.next() == Some("nameserver") && f.next().and_then(|a| a.parse::<std::net::IpAddr>().ok()).is_some_and(|a| a.is_loopback())
    };
    if !host.lines().any(loopback) {
        return None;
    }
    let mut out = format!("# the host's resolv.conf, its loopback nameservers replaced by pasta's DNS forwarder (rootless Berth)\nnameserver {DNS_FORWARD}\n");
    for l in host.lines().filter(|l| !loopback(l)) {
        out.push_str(l);
        out.push('\n');
    }
    Some(out)
}

/// Whether this daemon runs rootless: started by the rootless parent, in a user namespace.
pub fn active() -> bool {
    std::env::var_os(CHILD_ENV).is_some_and(|v| v == "1") && berth_types::idmap::in_user_namespace()
}

/// The first host port an ordinary user may bind (`net.ipv4.ip_unprivileged_port_start` on the
/// host, 1024 unless lowered).
fn port_start() -> u16 {
    std::env::var(PORT_START_ENV).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(1024)
}

/// Refuses publishing host port `port` below the host's unprivileged port start when rootless:
/// `pasta` binds published ports on the host as the user, and the kernel would refuse it there
/// (the container would start with a port nobody can reach). The words are rootless dockerd's.
pub fn check_host_port(port: u16) -> Result<(), ServiceError> {
    if !active() || port == 0 {
        return Ok(());
    }
    let start = port_start();
    if port < start {
        return Err(ServiceError::Invalid(format!(
            "cannot expose privileged port {port}, you can add 'net.ipv4.ip_unprivileged_port_start={port}' to /etc/sysctl.conf (currently {start}), or choose a larger port number (>= {start})"
        )));
    }
    Ok(())
}

/// The cgroup v2 controllers delegated to a rootless daemon (those enabled for its cgroup's
/// children; the parent's set-up enables every controller the host gave the user's cgroup).
/// Empty when the host's controllers are on cgroup v1 or nothing is delegated.
pub fn delegated_controllers() -> Vec<String> {
    static C: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    C.get_or_init(|| {
        std::fs::read_to_string("/sys/fs/cgroup/cgroup.subtree_control").map(|s| s.split_whitespace().map(str::to_string).collect()).unwrap_or_default()
    })
    .clone()
}

/// Refuses a resource limit whose cgroup controller is not delegated to the rootless daemon:
/// the container would run without it (dockerd discards such limits with a warning; Berth does
/// not accept an option it cannot honour).
pub fn check_limit(setting: &str, controller: &str) -> Result<(), ServiceError> {
    if !active() || delegated_controllers().iter().any(|c| c == controller) {
        return Ok(());
    }
    Err(ServiceError::Invalid(format!(
        "{setting} needs the cgroup v2 {controller} controller delegated to this user, which a rootless daemon does not have here (see `berth rootless setup`)"
    )))
}

/// The warning a rootless daemon logs at start when limits are unavailable, if any: dockerd's
/// words for each missing controller ("Unable to find memory controller"), then what follows.
pub fn cgroup_warning() -> Option<String> {
    if !active() {
        return None;
    }
    let have = delegated_controllers();
    let missing: Vec<&str> = ["cpu", "memory", "pids", "io", "cpuset"].into_iter().filter(|c| !have.iter().any(|h| h == c)).collect();
    (!missing.is_empty()).then(|| {
        let unable: Vec<String> = missing.iter().map(|c| format!("Unable to find {c} controller")).collect();
        format!(
            "{}: running rootless without the cgroup v2 controllers {} (delegated: {}): containers run without those limits, and --memory, --cpus, --pids-limit and the like are refused (a cgroup v2 host must delegate them to the user, e.g. systemd's Delegate=yes)",
            unable.join("; "),
            missing.join(", "),
            if have.is_empty() { "none".to_string() } else { have.join(", ") }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_nameservers_become_the_forwarder() {
        let host = "# resolved\nnameserver 127.0.0.53\nnameserver 10.0.0.1\nnameserver ::1\nsearch example.com\noptions edns0 trust-ad\n";
        let got = resolv_conf_for_namespace(host).unwrap();
        let lines: Vec<&str> = got.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(lines, ["nameserver 169.254.1.1", "nameserver 10.0.0.1", "search example.com", "options edns0 trust-ad"]);
        assert_eq!(resolv_conf_for_namespace("nameserver 10.255.255.53\n"), None);
        assert_eq!(resolv_conf_for_namespace(""), None);
    }
}
