//! Running one plugin (spec section 3, "Execution Protocol"): the `CNI_*` environment variables,
//! the configuration on stdin, the result or error object on stdout, within a time limit.
//! Blocking: called from `spawn_blocking`. A plugin runs in a process group of its own, so a
//! timeout kills what it started too (`iptables`, an IPAM plugin it delegated to).

use super::CniError;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The three operations of a runtime (VERSION and GC are not used).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Add the container to the network.
    Add,
    /// Check that the container's networking is as `ADD` left it.
    Check,
    /// Remove the container from the network.
    Del,
}

impl Op {
    /// The `CNI_COMMAND` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Add => "ADD",
            Op::Check => "CHECK",
            Op::Del => "DEL",
        }
    }
}

/// What every plugin of one operation is run with.
#[derive(Debug, Clone)]
pub struct Invocation<'a> {
    /// The operation.
    pub op: Op,
    /// `CNI_CONTAINERID`: the pod sandbox's id.
    pub container_id: &'a str,
    /// `CNI_NETNS`: the pod's network namespace.
    pub netns: &'a Path,
    /// `CNI_IFNAME`: the interface to create in it.
    pub ifname: &'a str,
    /// `CNI_ARGS` pairs.
    pub args: &'a [(String, String)],
    /// `CNI_PATH`: the plugin directories.
    pub path: &'a [PathBuf],
    /// The limit on the call.
    pub timeout: Duration,
}

/// The executable of plugin `kind` in the first directory that has it.
pub fn find(kind: &str, dirs: &[PathBuf]) -> Result<PathBuf, CniError> {
    use std::os::unix::fs::PermissionsExt;
    dirs.iter()
        .map(|d| d.join(kind))
        .find(|p| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
        .ok_or_else(|| CniError::PluginNotFound { plugin: kind.to_string(), dirs: dirs.to_vec() })
}

/// Runs plugin `kind` with `stdin` (its network configuration); returns its stdout on success.
pub fn invoke(inv: &Invocation<'_>, kind: &str, stdin: &[u8]) -> Result<Vec<u8>, CniError> {
    let command = inv.op.as_str();
    let exe = find(kind, inv.path)?;
    let cni_args = inv.args.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(";");
    let cni_path = std::env::join_paths(inv.path).map_err(|e| CniError::Spawn { plugin: kind.into(), command, source: std::io::Error::other(e) })?;
    // The daemon's environment stays (libcni does the same): plugins run iptables and ip by PATH.
    let mut cmd = Command::new(&exe);
    cmd.env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", inv.container_id)
        .env("CNI_NETNS", inv.netns)
        .env("CNI_IFNAME", inv.ifname)
        .env("CNI_ARGS", cni_args)
        .env("CNI_PATH", cni_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // ETXTBSY: the plugin's file is still open for writing somewhere — being installed, or (in a
    // process that writes executables) inherited by a child forked before its exec closed it. It
    // clears within moments; retried for up to a second.
    let mut tries = 0;
    let mut child = loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            r => break r.map_err(|source| CniError::Spawn { plugin: kind.into(), command, source })?,
        }
    };
    let pgid = child.id() as i32;
    let readers = [child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>), child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>)].map(|r| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = vec![];
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            let _ = tx.send(buf);
        });
        rx
    });
    if let Some(mut w) = child.stdin.take() {
        let data = stdin.to_vec();
        // A plugin that never reads its stdin must not block the caller past the timeout.
        std::thread::spawn(move || {
            let _ = w.write_all(&data);
        });
    }
    let deadline = Instant::now() + inv.timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() >= deadline => {
                let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), nix::sys::signal::Signal::SIGKILL);
                let _ = child.wait();
                // The readers end when the group's last holder of the pipes is gone.
                return Err(CniError::Timeout { plugin: kind.into(), command, timeout: inv.timeout });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(source) => return Err(CniError::Spawn { plugin: kind.into(), command, source }),
        }
    };
    // A child the plugin left holding its stdout is no reason to wait past the deadline.
    let mut outputs = vec![];
    for r in readers {
        match r.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(buf) => outputs.push(buf),
            Err(_) => {
                let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), nix::sys::signal::Signal::SIGKILL);
                return Err(CniError::Timeout { plugin: kind.into(), command, timeout: inv.timeout });
            }
        }
    }
    let err = outputs.pop().unwrap_or_default();
    let out = outputs.pop().unwrap_or_default();
    if status.success() {
        return Ok(out);
    }
    // The spec's error object (section 5); a plugin that printed none is described by its exit
    // status and stderr.
    #[derive(serde::Deserialize)]
    struct ErrorObject {
        code: i64,
        #[serde(default)]
        msg: String,
        #[serde(default)]
        details: String,
    }
    match serde_json::from_slice::<ErrorObject>(&out) {
        Ok(e) => Err(CniError::Plugin { plugin: kind.into(), command, code: e.code, msg: e.msg, details: e.details }),
        Err(_) => Err(CniError::Plugin {
            plugin: kind.into(),
            command,
            code: status.code().map(i64::from).unwrap_or(-1),
            msg: format!("exited with {status}"),
            details: String::from_utf8_lossy(&err).trim().chars().take(500).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(dir: &Path, name: &str, script: &str) {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn inv<'a>(op: Op, path: &'a [PathBuf], args: &'a [(String, String)], timeout: Duration) -> Invocation<'a> {
        Invocation { op, container_id: "c1", netns: Path::new("/run/netns/x"), ifname: "eth0", args, path, timeout }
    }

    #[test]
    fn environment_stdin_errors_and_timeouts() {
        let d = tempfile::tempdir().unwrap();
        let dirs = vec![d.path().join("missing"), d.path().to_path_buf()];
        let args = vec![("IgnoreUnknown".to_string(), "1".to_string()), ("K8S_POD_NAME".to_string(), "p".to_string())];
        plugin(d.path(), "echo", r#"printf '%s|%s|%s|%s|%s|%s|' "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_NETNS" "$CNI_IFNAME" "$CNI_ARGS" "$CNI_PATH"; cat"#);
        let out = invoke(&inv(Op::Add, &dirs, &args, Duration::from_secs(10)), "echo", b"{\"x\":1}").unwrap();
        let want = format!("ADD|c1|/run/netns/x|eth0|IgnoreUnknown=1;K8S_POD_NAME=p|{}:{}|{{\"x\":1}}", dirs[0].display(), dirs[1].display());
        assert_eq!(String::from_utf8(out).unwrap(), want);

        plugin(d.path(), "fails", r#"echo '{"cniVersion":"1.0.0","code":11,"msg":"try again later","details":"busy"}'; exit 1"#);
        let e = invoke(&inv(Op::Del, &dirs, &args, Duration::from_secs(10)), "fails", b"{}").unwrap_err();
        assert_eq!(e.to_string(), "CNI plugin fails DEL failed (code 11): try again later: busy");
        plugin(d.path(), "dies", "echo oops >&2; exit 3");
        let e = invoke(&inv(Op::Check, &dirs, &args, Duration::from_secs(10)), "dies", b"{}").unwrap_err();
        assert!(matches!(&e, CniError::Plugin { code: 3, details, .. } if details == "oops"), "{e}");

        let e = invoke(&inv(Op::Add, &dirs, &args, Duration::from_secs(10)), "nosuch", b"{}").unwrap_err();
        assert!(e.to_string().starts_with("CNI plugin \"nosuch\" not found in "), "{e}");

        // A hung plugin and the child it started are killed at the deadline.
        let pidfile = d.path().join("child.pid");
        plugin(d.path(), "hangs", &format!("sleep 600 & echo $! > {}; wait", pidfile.display()));
        let t = Instant::now();
        let e = invoke(&inv(Op::Add, &dirs, &args, Duration::from_millis(500)), "hangs", b"{}").unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        assert_eq!(e.to_string(), "CNI plugin hangs ADD timed out after 500ms (killed)");
        let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Path::new(&format!("/proc/{pid}")).exists() && std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z ")) {
            assert!(Instant::now() < deadline, "the plugin's child survived its timeout");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
