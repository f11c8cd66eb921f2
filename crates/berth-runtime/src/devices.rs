//! Host devices in a container: `--device` (`HostConfig.Devices`) and `--privileged`'s every host
//! device, resolved when the spec is generated (at start, as dockerd resolves them) into OCI
//! `linux.devices` nodes and cgroup device rules.

use crate::RuntimeError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// One `--device HOST[:CONTAINER[:PERMS]]` as the API gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceMapping {
    /// The device (or a directory of devices) on the host.
    pub path_on_host: String,
    /// Where it appears in the container (`PathOnHost` when empty).
    pub path_in_container: String,
    /// cgroup access: any of `r`, `w`, `m` (`rwm` when empty).
    pub permissions: String,
}

/// A device node to create in the container and the cgroup rule that allows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    path: PathBuf,
    kind: char,
    major: u64,
    minor: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    access: String,
}

impl Node {
    /// The OCI `linux.devices` entry.
    pub fn spec(&self) -> Value {
        json!({"path": self.path, "type": self.kind.to_string(), "major": self.major, "minor": self.minor,
               "fileMode": self.mode & 0o7777, "uid": self.uid, "gid": self.gid})
    }

    /// The cgroup rule allowing it.
    pub fn rule(&self) -> Value {
        json!({"allow": true, "type": self.kind.to_string(), "major": self.major, "minor": self.minor, "access": self.access})
    }
}

fn node(host: &Path, in_container: PathBuf, access: &str) -> Option<Node> {
    let m = std::fs::metadata(host).ok()?;
    let kind = if m.file_type().is_char_device() {
        'c'
    } else if m.file_type().is_block_device() {
        'b'
    } else {
        return None;
    };
    let rdev = m.rdev();
    Some(Node {
        path: in_container,
        kind,
        major: libc::major(rdev) as u64,
        minor: libc::minor(rdev) as u64,
        mode: m.mode(),
        uid: m.uid(),
        gid: m.gid(),
        access: access.to_string(),
    })
}

/// Resolves `--device` mappings as dockerd does: a device node (symlinks followed), or a directory
/// whose device nodes are all added under the container path. Anything else fails with dockerd's
/// message.
pub fn resolve(mappings: &[DeviceMapping]) -> Result<Vec<Node>, RuntimeError> {
    let mut out = Vec::new();
    for d in mappings {
        let host = Path::new(&d.path_on_host);
        let target = if d.path_in_container.is_empty() { host.to_path_buf() } else { PathBuf::from(&d.path_in_container) };
        let access = if d.permissions.is_empty() { "rwm" } else { d.permissions.as_str() };
        let gathering = |why: String| {
            RuntimeError::Invalid(format!("error gathering device information while adding custom device {:?}: {why}", d.path_on_host))
        };
        let meta = std::fs::metadata(host).map_err(|e| gathering(io_reason(&e)))?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(host, &mut found);
            for p in found {
                let rel = p.strip_prefix(host).unwrap_or(&p);
                if let Some(n) = node(&p, target.join(rel), access) {
                    out.push(n);
                }
            }
        } else {
            out.push(node(host, target, access).ok_or_else(|| gathering("not a device node".into()))?);
        }
    }
    Ok(out)
}

/// One `--device-cgroup-rule` as an allowing OCI cgroup device rule; `None` when it is not in
/// docker's form.
pub fn cgroup_rule(rule: &str) -> Option<Value> {
    let r = berth_types::device::CgroupRule::parse(rule)?;
    let mut v = json!({"allow": true, "type": r.kind.to_string(), "access": r.access});
    if let Some(m) = r.major {
        v["major"] = json!(m);
    }
    if let Some(m) = r.minor {
        v["minor"] = json!(m);
    }
    Some(v)
}

/// The major and minor numbers of the device at `path` (symlinks followed), for a block IO limit;
/// a path that cannot be read fails with dockerd's message (`stat PATH: no such file or directory`).
pub fn major_minor(path: &str) -> Result<(u64, u64), String> {
    let m = std::fs::metadata(path).map_err(|e| format!("stat {path}: {}", io_reason(&e)))?;
    let rdev = m.rdev();
    Ok((libc::major(rdev) as u64, libc::minor(rdev) as u64))
}

/// Every device node under the host's `/dev` a privileged container gets (runc's `HostDevices`:
/// not the pts, shm, fd, mqueue directories nor the console), without `/dev/ptmx`: the runtime
/// makes that a link to the container's own `pts/ptmx` (runc's `createDevices` skips it too; in a
/// user namespace, where devices are bound rather than made, a bound `/dev/ptmx` could not be
/// replaced and the container would not start).
pub fn host_devices() -> Vec<Node> {
    let mut found = Vec::new();
    walk(Path::new("/dev"), &mut found);
    found
        .into_iter()
        .filter(|p| p != Path::new("/dev/console") && p != Path::new("/dev/ptmx"))
        .filter_map(|p| node(&p, p.clone(), "rwm"))
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(t) = e.file_type() else { continue };
        if t.is_dir() {
            let name = e.file_name();
            if !matches!(name.to_str(), Some("pts" | "shm" | "fd" | "mqueue" | ".lxc" | ".lxd-mounts" | ".udev")) {
                walk(&p, out);
            }
        } else if t.is_char_device() || t.is_block_device() {
            out.push(p);
        }
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_cgroup_rules_parse_as_dockerd_takes_them() {
        assert_eq!(cgroup_rule("c 1:3 rwm"), Some(json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"})));
        assert_eq!(cgroup_rule("b *:* r"), Some(json!({"allow": true, "type": "b", "access": "r"})));
        assert_eq!(cgroup_rule("a 7:* mw"), Some(json!({"allow": true, "type": "a", "major": 7, "access": "mw"})));
        assert_eq!(cgroup_rule("x 1:3 rwm"), None);
    }

    fn map(host: &str, ctr: &str) -> DeviceMapping {
        DeviceMapping { path_on_host: host.into(), path_in_container: ctr.into(), permissions: String::new() }
    }

    #[test]
    fn a_device_node_becomes_a_node_and_a_rule() {
        let n = resolve(&[map("/dev/null", "/dev/mynull")]).unwrap();
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].spec()["path"], "/dev/mynull");
        assert_eq!(n[0].spec()["type"], "c");
        assert_eq!((n[0].major, n[0].minor), (1, 3));
        assert_eq!(n[0].rule()["access"], "rwm");
    }

    #[test]
    fn a_missing_device_fails_with_dockerds_message() {
        let e = resolve(&[map("/dev/nosuch-device", "")]).unwrap_err().to_string();
        assert!(e.contains("error gathering device information while adding custom device \"/dev/nosuch-device\": no such file or directory"), "{e}");
        let e = resolve(&[map("/etc/hostname", "")]).unwrap_err().to_string();
        assert!(e.contains("not a device node"), "{e}");
    }

    #[test]
    fn privileged_gets_the_hosts_devices() {
        let all = host_devices();
        assert!(all.iter().any(|n| n.path == Path::new("/dev/null")));
        assert!(!all.iter().any(|n| n.path.starts_with("/dev/pts") || n.path == Path::new("/dev/console")));
    }
}
