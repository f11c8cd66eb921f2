//! A container's mounts: `-v`, `--mount`, `--volumes-from` and the image's `VOLUME`s resolved at
//! create into [`MountRecord`]s (persisted with the container), turned into OCI mounts for the
//! runtime, and new volumes populated from the image (Docker's copy-up).

use super::record::ContainerRecord;
use super::{ContainerService, ServiceError};
use crate::service::volumes::{VolumeService, ANONYMOUS_LABEL};
use berth_api::config::ContainerConfig;
use berth_api::container::HostConfig;
use berth_api::mount::{Mount, MountPoint};
use berth_api::volume::VolumeCreateRequest;
use berth_runtime::config::MountSpec;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// One resolved mount of a container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MountRecord {
    /// What inspect shows.
    #[serde(flatten)]
    pub point: MountPoint,
    /// A volume created for this container (`-v /path`, image `VOLUME`): `rm -v` removes it.
    #[serde(default)]
    pub anonymous: bool,
    /// Populate the volume from the image when it is empty (not `volume-nocopy`).
    #[serde(default)]
    pub copy_up: bool,
    /// `bind-nonrecursive`.
    #[serde(default)]
    pub non_recursive: bool,
    /// `ReadOnlyNonRecursive`: read-only at the top only.
    #[serde(default)]
    pub ro_non_recursive: bool,
    /// Options of a tmpfs mount (`size=…`, `mode=…`).
    #[serde(default)]
    pub tmpfs_options: Vec<String>,
}

const PROPAGATIONS: [&str; 6] = ["private", "rprivate", "shared", "rshared", "slave", "rslave"];

fn invalid(kind: &str, msg: impl std::fmt::Display) -> ServiceError {
    ServiceError::Invalid(format!("invalid mount config for type \"{kind}\": {msg}"))
}

/// `VolumesFrom` entries, as dockerd parses them: `container[:mode]` where the mode is an access
/// mode (`ro`/`rw`) with an optional SELinux label, and neither propagation nor `nocopy`.
fn parse_volumes_from(spec: &str) -> Result<(String, Option<bool>), ServiceError> {
    if spec.is_empty() {
        return Err(ServiceError::Invalid("volumes-from specification cannot be an empty string".into()));
    }
    let Some((name, mode)) = spec.split_once(':') else { return Ok((spec.to_string(), None)) };
    let opts: Vec<&str> = mode.split(',').collect();
    let access = opts.iter().filter(|o| matches!(**o, "ro" | "rw")).count();
    let label = opts.iter().filter(|o| matches!(**o, "z" | "Z")).count();
    if mode.is_empty() || access > 1 || label > 1 || opts.iter().any(|o| !matches!(*o, "ro" | "rw" | "z" | "Z")) {
        return Err(ServiceError::Invalid(format!("invalid mode: {mode}")));
    }
    Ok((name.to_string(), Some(!opts.contains(&"ro"))))
}

fn check_destination(kind: &str, dst: &str) -> Result<String, ServiceError> {
    if dst.is_empty() {
        return Err(invalid(kind, "field Target must not be empty"));
    }
    if !dst.starts_with('/') {
        return Err(invalid(kind, format!("invalid mount path: '{dst}' mount path must be absolute")));
    }
    let clean = clean_path(dst);
    if clean == "/" {
        return Err(ServiceError::Invalid("invalid specification: destination can't be '/'".into()));
    }
    Ok(clean)
}

/// Lexical clean of an absolute path (`/a//b/./c/` → `/a/b/c`), as Go's `filepath.Clean`.
fn clean_path(p: &str) -> String {
    format!("/{}", berth_build::dockerignore::clean(p))
}

/// Parses one `-v` bind string: `SRC:DST[:MODE]` (SRC a host path or a volume name).
fn parse_bind(spec: &str) -> Result<(String, String, String), ServiceError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let bad = || ServiceError::Invalid(format!("invalid volume specification: '{spec}'"));
    match parts.as_slice() {
        [src, dst] if !src.is_empty() => Ok((src.to_string(), dst.to_string(), String::new())),
        [src, dst, mode] if !src.is_empty() => Ok((src.to_string(), dst.to_string(), mode.to_string())),
        _ => Err(bad()),
    }
}

impl ContainerService {
    /// Resolves every mount of a new container, creating the volumes it names (`created` collects
    /// anonymous ones made here, so a failed create can remove them).
    pub(super) fn resolve_mounts(
        &self,
        config: &ContainerConfig,
        h: &HostConfig,
        created: &mut Vec<String>,
    ) -> Result<Vec<MountRecord>, ServiceError> {
        let mut by_dst: BTreeMap<String, MountRecord> = BTreeMap::new();
        for from in h.volumes_from.clone().unwrap_or_default() {
            let (name, mode) = parse_volumes_from(&from)?;
            let other = self.get(&name).map_err(super::create::not_found_is_invalid)?.snapshot();
            for m in other.mounts {
                if m.point.kind == "tmpfs" {
                    continue;
                }
                let mut m = m.clone();
                m.anonymous = false;
                m.copy_up = false;
                if let Some(rw) = mode {
                    m.point.rw = m.point.rw && rw;
                }
                by_dst.insert(m.point.destination.clone(), m);
            }
        }
        let mut explicit: Vec<String> = vec![];
        let mut claim = |dst: &str| -> Result<(), ServiceError> {
            if explicit.iter().any(|d| d == dst) {
                return Err(ServiceError::Invalid(format!("Duplicate mount point: {dst}")));
            }
            explicit.push(dst.to_string());
            Ok(())
        };
        for spec in h.binds.clone().unwrap_or_default() {
            let (src, dst, mode) = parse_bind(&spec)?;
            let opts: Vec<&str> = mode.split(',').filter(|o| !o.is_empty()).collect();
            for o in &opts {
                if !matches!(*o, "ro" | "rw" | "z" | "Z" | "nocopy" | "consistent" | "cached" | "delegated") && !PROPAGATIONS.contains(o) {
                    return Err(ServiceError::Invalid(format!("invalid mode: {mode}")));
                }
            }
            let rw = !opts.contains(&"ro");
            let kind = if src.starts_with('/') { "bind" } else { "volume" };
            let dst = check_destination(kind, &dst)?;
            claim(&dst)?;
            let rec = if kind == "bind" {
                let propagation = opts.iter().find(|o| PROPAGATIONS.contains(o)).copied().unwrap_or("rprivate");
                if !Path::new(&src).exists() {
                    // `-v` creates a missing host directory, as Docker does.
                    std::fs::create_dir_all(&src).map_err(|e| ServiceError::Invalid(format!("error while creating mount source path '{src}': {e}")))?;
                }
                MountRecord {
                    point: MountPoint {
                        kind: "bind".into(),
                        source: clean_path(&src),
                        destination: dst.clone(),
                        mode: mode.clone(),
                        rw,
                        propagation: propagation.into(),
                        ..Default::default()
                    },
                    anonymous: false,
                    copy_up: false,
                    non_recursive: false,
                    ro_non_recursive: false,
                    tmpfs_options: vec![],
                }
            } else {
                self.volume_mount(&src, &dst, &mode, rw, !opts.contains(&"nocopy"), None, &h.volume_driver, created)?
            };
            by_dst.insert(dst, rec);
        }
        for m in h.mounts.clone().unwrap_or_default() {
            let dst = check_destination(&m.kind, &m.target)?;
            claim(&dst)?;
            let rec = self.api_mount(&m, &dst, &h.volume_driver, created)?;
            by_dst.insert(dst, rec);
        }
        for dst in config.volumes.clone().unwrap_or_default().into_keys() {
            let dst = check_destination("volume", &dst)?;
            if by_dst.contains_key(&dst) {
                continue;
            }
            let rec = self.volume_mount("", &dst, "", true, true, None, &h.volume_driver, created)?;
            by_dst.insert(dst, rec);
        }
        // Parents before children (`/data` before `/data/logs`), as Docker orders them.
        let mut out: Vec<MountRecord> = by_dst.into_values().collect();
        out.sort_by_key(|m| m.point.destination.matches('/').count());
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn volume_mount(
        &self,
        name: &str,
        dst: &str,
        mode: &str,
        rw: bool,
        copy: bool,
        m: Option<&Mount>,
        volume_driver: &str,
        created: &mut Vec<String>,
    ) -> Result<MountRecord, ServiceError> {
        let anonymous = name.is_empty();
        let volume = if !anonymous && self.volumes.exists(name) {
            self.volumes.get(name)?
        } else {
            let vo = m.and_then(|m| m.volume_options.clone()).unwrap_or_default();
            let mut labels = vo.labels.unwrap_or_default();
            if anonymous {
                labels.insert(ANONYMOUS_LABEL.into(), String::new());
            }
            let mut driver = vo.driver_config.clone().unwrap_or_default();
            if driver.name.is_empty() {
                // HostConfig.VolumeDriver: the driver of the volumes this container creates.
                driver.name = volume_driver.to_string();
            }
            let v = self
                .volumes
                .create(VolumeCreateRequest { name: name.to_string(), driver: driver.name, driver_opts: driver.options, labels: Some(labels) })
                .map_err(|e| match e {
                    ServiceError::NotFound(msg) if msg.starts_with("error looking up volume plugin") => {
                        ServiceError::NotFound(format!("create {name}: {msg}"))
                    }
                    e => e,
                })?;
            if anonymous {
                created.push(v.name.clone());
            }
            v
        };
        Ok(MountRecord {
            point: MountPoint {
                kind: "volume".into(),
                name: volume.name.clone(),
                source: volume.mountpoint.clone(),
                destination: dst.to_string(),
                driver: "local".into(),
                mode: if mode.is_empty() { "z".into() } else { mode.to_string() },
                rw,
                propagation: String::new(),
            },
            anonymous,
            copy_up: copy && self.volumes.is_empty(&volume.name),
            non_recursive: false,
            ro_non_recursive: false,
            tmpfs_options: vec![],
        })
    }

    fn api_mount(&self, m: &Mount, dst: &str, volume_driver: &str, created: &mut Vec<String>) -> Result<MountRecord, ServiceError> {
        match m.kind.as_str() {
            "bind" => {
                if m.source.is_empty() {
                    return Err(invalid("bind", "field Source must not be empty"));
                }
                if !m.source.starts_with('/') {
                    return Err(invalid("bind", format!("invalid mount path: '{}' mount path must be absolute", m.source)));
                }
                let bo = m.bind_options.clone().unwrap_or_default();
                if !Path::new(&m.source).exists() {
                    if bo.create_mountpoint {
                        std::fs::create_dir_all(&m.source).map_err(|e| invalid("bind", e))?;
                    } else {
                        return Err(invalid("bind", format!("bind source path does not exist: {}", m.source)));
                    }
                }
                let propagation = if bo.propagation.is_empty() { "rprivate".to_string() } else { bo.propagation.clone() };
                if !PROPAGATIONS.contains(&propagation.as_str()) {
                    return Err(invalid("bind", format!("invalid propagation mode: {propagation}")));
                }
                Ok(MountRecord {
                    point: MountPoint {
                        kind: "bind".into(),
                        source: clean_path(&m.source),
                        destination: dst.into(),
                        mode: String::new(),
                        rw: !m.read_only,
                        propagation,
                        ..Default::default()
                    },
                    anonymous: false,
                    copy_up: false,
                    non_recursive: bo.non_recursive,
                    ro_non_recursive: bo.read_only_non_recursive,
                    tmpfs_options: vec![],
                })
            }
            "volume" => {
                if m.bind_options.is_some() {
                    return Err(invalid("volume", "field BindOptions must not be specified"));
                }
                if !m.source.is_empty() && !crate::service::volumes::valid_name(&m.source) {
                    return Err(invalid("volume", format!("invalid volume name: {:?}", m.source)));
                }
                let nocopy = m.volume_options.as_ref().is_some_and(|v| v.no_copy);
                let mut r = self.volume_mount(&m.source, dst, "", !m.read_only, !nocopy, Some(m), volume_driver, created)?;
                r.point.mode = String::new();
                Ok(r)
            }
            "tmpfs" => {
                if !m.source.is_empty() {
                    return Err(invalid("tmpfs", "field Source must not be specified"));
                }
                let t = m.tmpfs_options.clone().unwrap_or_default();
                let mut opts = vec![];
                if t.size_bytes > 0 {
                    opts.push(format!("size={}", t.size_bytes));
                }
                if t.mode > 0 {
                    opts.push(format!("mode={:o}", t.mode));
                }
                Ok(MountRecord {
                    point: MountPoint { kind: "tmpfs".into(), destination: dst.into(), rw: !m.read_only, ..Default::default() },
                    anonymous: false,
                    copy_up: false,
                    non_recursive: false,
                    ro_non_recursive: false,
                    tmpfs_options: opts,
                })
            }
            "" => Err(invalid("", "mount type must be specified")),
            other => Err(invalid(other, "mount type unknown")),
        }
    }

    /// The OCI mounts for a container's resolved mounts.
    pub(super) fn mount_specs(rec: &ContainerRecord) -> Vec<MountSpec> {
        rec.mounts
            .iter()
            .map(|m| {
                let p = &m.point;
                if p.kind == "tmpfs" {
                    let mut options = vec!["nosuid".to_string(), "nodev".to_string(), "noexec".to_string()];
                    if !p.rw {
                        options.push("ro".into());
                    }
                    options.extend(m.tmpfs_options.iter().cloned());
                    return MountSpec { destination: p.destination.clone(), kind: "tmpfs".into(), source: "tmpfs".into(), options };
                }
                let mut options = vec![if m.non_recursive { "bind".to_string() } else { "rbind".to_string() }];
                if !p.rw {
                    // Read-only all the way down: mounts below the source are read-only too.
                    options.push("ro".into());
                    if !m.non_recursive && !m.ro_non_recursive {
                        options.push("rro".into());
                    }
                }
                options.push(if p.propagation.is_empty() { "rprivate".into() } else { p.propagation.clone() });
                MountSpec { destination: p.destination.clone(), kind: "bind".into(), source: p.source.clone(), options }
            })
            .collect()
    }

    /// Volume name → the containers that reference it (running or not).
    pub fn volume_users(&self) -> HashMap<String, Vec<String>> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for h in self.all() {
            let rec = h.snapshot();
            for m in rec.mounts.iter().filter(|m| m.point.kind == "volume") {
                out.entry(m.point.name.clone()).or_default().push(rec.id.clone());
            }
        }
        out
    }

    /// Mounts the volumes a starting container uses (those with a filesystem of their own) and
    /// publishes Docker's volume `mount` events.
    /// (`announce`: false when a restarted daemon takes over running containers).
    pub(super) fn acquire_volumes(&self, rec: &ContainerRecord, announce: bool) -> Result<(), ServiceError> {
        let vols: Vec<&MountRecord> = rec.mounts.iter().filter(|m| m.point.kind == "volume").collect();
        for (i, m) in vols.iter().enumerate() {
            if let Err(e) = self.volumes.acquire(&m.point.name) {
                for done in &vols[..i] {
                    self.volumes.release(&done.point.name);
                }
                return Err(e);
            }
        }
        for m in vols.into_iter().filter(|_| announce) {
            let attrs = BTreeMap::from([
                ("container".to_string(), rec.id.clone()),
                ("destination".to_string(), m.point.destination.clone()),
                ("driver".to_string(), "local".to_string()),
                ("propagation".to_string(), m.point.propagation.clone()),
                ("read/write".to_string(), m.point.rw.to_string()),
            ]);
            self.events.publish("volume", "mount", &m.point.name, attrs);
        }
        Ok(())
    }

    /// The container stopped: releases its volumes (volume `unmount` events).
    pub(super) fn release_volumes(&self, rec: &ContainerRecord) {
        for m in rec.mounts.iter().filter(|m| m.point.kind == "volume") {
            self.volumes.release(&m.point.name);
            let attrs = BTreeMap::from([("container".to_string(), rec.id.clone()), ("driver".to_string(), "local".to_string())]);
            self.events.publish("volume", "unmount", &m.point.name, attrs);
        }
    }

    /// Docker's copy-up: each new, empty volume mounted over a directory of the image gets that
    /// directory's content, owners and modes (the archive's `.` entry carries the directory's own). `rootfs` is the container's root filesystem mounted.
    pub(super) fn populate_volumes(&self, rec: &ContainerRecord, rootfs: &Path) -> Result<(), ServiceError> {
        use berth_snapshot::copy;
        for m in rec.mounts.iter().filter(|m| m.copy_up && m.point.kind == "volume") {
            let data = Path::new(&m.point.source);
            let src = format!("{}/.", m.point.destination);
            // Nothing, or no directory, at that path in the image: nothing to copy.
            if !copy::stat(rootfs, &m.point.destination).is_ok_and(|s| s.mode & (1 << 31) != 0) {
                continue;
            }
            let (reader, writer) = std::io::pipe().map_err(|e| ServiceError::Internal(format!("copy-up: {e}")))?;
            let root = rootfs.to_path_buf();
            let producer = std::thread::spawn(move || copy::archive(&root, &src, &copy::ArchiveOptions { follow_link: false, ids: None }, writer));
            let opts = copy::ExtractOptions { no_overwrite_dir_non_dir: false, preserve_owner: true, owner: (0, 0), rebase: None, ids: None };
            let extracted = copy::extract(data, "/", reader, &opts);
            let produced = producer.join().map_err(|_| ServiceError::Internal("copy-up: archiving thread panicked".into()))?;
            produced.map_err(|e| ServiceError::Internal(format!("copying image content into volume {}: {e}", m.point.name)))?;
            extracted.map_err(|e| ServiceError::Internal(format!("copying image content into volume {}: {e}", m.point.name)))?;
            // The volume's root takes the image directory's owner and mode (resolved in the root).
            if let Ok(dir) = berth_runtime::mount::sys::open_in_root(rootfs, &m.point.destination) {
                if let Ok(meta) = dir.metadata() {
                    use std::os::unix::fs::{MetadataExt, PermissionsExt};
                    let _ = std::os::unix::fs::chown(data, Some(meta.uid()), Some(meta.gid()));
                    let _ = std::fs::set_permissions(data, std::fs::Permissions::from_mode(meta.mode() & 0o7777));
                }
            }
        }
        Ok(())
    }
}

/// `rm -v`: removes the anonymous volumes of `rec` that no other container uses (`users`, without
/// `rec` itself). Blocking (deletes the volumes' data).
pub(super) fn remove_anonymous_volumes(volumes: &VolumeService, rec: &ContainerRecord, users: &HashMap<String, Vec<String>>) {
    for m in rec.mounts.iter().filter(|m| m.anonymous && m.point.kind == "volume") {
        if let Err(e) = volumes.remove(&m.point.name, true, users) {
            tracing::warn!(volume = %m.point.name, error = %e, "keeping an anonymous volume");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_specs_parse_as_docker_does() {
        assert_eq!(parse_bind("/a:/b").unwrap(), ("/a".into(), "/b".into(), String::new()));
        assert_eq!(parse_bind("vol:/b:ro,z").unwrap(), ("vol".into(), "/b".into(), "ro,z".into()));
        assert!(parse_bind("/a").is_err());
        assert!(parse_bind(":/b").is_err());
        assert!(parse_bind("a:b:c:d").is_err());
        assert_eq!(clean_path("/a//b/./c/"), "/a/b/c");
        assert!(check_destination("bind", "rel").is_err());
        assert!(check_destination("bind", "/").is_err());
    }
}

