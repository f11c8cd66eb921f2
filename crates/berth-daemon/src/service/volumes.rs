//! Volumes with the `local` driver: a directory per volume, optionally a mount (tmpfs, a bind of a
//! host directory, any filesystem `mount(8)` knows) made while containers use it.
//!
//! On-disk layout (under the data root):
//! ```text
//! volumes/<name>/volume.json   name, driver options, labels, creation time (atomic, versioned)
//! volumes/<name>/_data/        the data (the mount point when driver options ask for a mount)
//! ```
//! Which containers use a volume is the container service's knowledge; it is passed in where a
//! decision needs it (`remove`, `prune`, `list` with `dangling`).

use super::ServiceError;
use crate::events::EventBus;
use crate::filters::Filters;
use berth_api::volume::{Volume, VolumeCreateRequest};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const FORMAT_VERSION: u32 = 1;
/// The label Docker puts on volumes created for `-v /path` and image `VOLUME`s.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct VolumeRecord {
    version: u32,
    name: String,
    created_at: String,
    labels: BTreeMap<String, String>,
    options: BTreeMap<String, String>,
}

/// Docker's rule for local volume names.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The volume store.
pub struct VolumeService {
    dir: PathBuf,
    events: Arc<EventBus>,
    volumes: Mutex<BTreeMap<String, VolumeRecord>>,
    /// Running containers using each volume that has a driver mount.
    active: Mutex<HashMap<String, usize>>,
    /// Host uid and gid of remapped containers' root (`--userns-remap`): new volumes' data
    /// directories are theirs, as dockerd makes them.
    owner: Option<(u32, u32)>,
}

impl VolumeService {
    /// Loads every volume under `root/volumes`.
    pub fn open(root: &Path, events: Arc<EventBus>, owner: Option<(u32, u32)>) -> Result<Arc<VolumeService>, ServiceError> {
        let dir = root.join("volumes");
        std::fs::create_dir_all(&dir).map_err(|e| ServiceError::Internal(format!("create {}: {e}", dir.display())))?;
        let mut volumes = BTreeMap::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| ServiceError::Internal(format!("list {}: {e}", dir.display())))?.flatten() {
            let meta = entry.path().join("volume.json");
            let rec = std::fs::read(&meta).ok().and_then(|b| serde_json::from_slice::<VolumeRecord>(&b).ok());
            match rec {
                Some(r) if r.version <= FORMAT_VERSION => {
                    volumes.insert(r.name.clone(), r);
                }
                // A create interrupted before its record landed: nothing refers to it.
                None if !meta.exists() => {
                    let _ = berth_types::teardown::remove_tree(entry.path());
                }
                _ => tracing::warn!(path = %meta.display(), "skipping unreadable volume record"),
            }
        }
        Ok(Arc::new(VolumeService { dir, events, volumes: Mutex::new(volumes), active: Mutex::new(HashMap::new()), owner }))
    }

    fn data_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("_data")
    }

    fn view(&self, r: &VolumeRecord) -> Volume {
        Volume {
            // RFC 3339 in whole seconds, as dockerd shows it.
            created_at: chrono::DateTime::parse_from_rfc3339(&r.created_at)
                .map(|t| t.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_else(|_| r.created_at.clone()),
            driver: "local".into(),
            labels: r.labels.clone(),
            mountpoint: self.data_dir(&r.name).display().to_string(),
            name: r.name.clone(),
            options: r.options.clone(),
            scope: "local".into(),
            usage_data: None,
        }
    }

    fn publish(&self, action: &str, name: &str, extra: &[(&str, String)]) {
        let mut attrs = BTreeMap::from([("driver".to_string(), "local".to_string())]);
        attrs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        self.events.publish("volume", action, name, attrs);
    }

    /// Creates a volume, or returns the existing one of that name (Docker's idempotent create).
    pub fn create(&self, req: VolumeCreateRequest) -> Result<Volume, ServiceError> {
        if !req.driver.is_empty() && req.driver != "local" {
            let name = &req.name;
            return Err(ServiceError::NotFound(format!("create {name}: error looking up volume plugin {}: plugin \"{}\" not found", req.driver, req.driver)));
        }
        let name = if req.name.is_empty() { berth_types::random_id() } else { req.name.clone() };
        if !valid_name(&name) {
            return Err(ServiceError::Invalid(format!(
                "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
            )));
        }
        let options = req.driver_opts.unwrap_or_default();
        validate_options(&options).map_err(|e| ServiceError::Invalid(format!("create {name}: {e}")))?;
        let mut vols = self.volumes.lock().unwrap_or_else(|p| p.into_inner());
        // As dockerd: the existing volume of that name is the answer, whatever options were asked.
        if let Some(r) = vols.get(&name) {
            return Ok(self.view(r));
        }
        let rec = VolumeRecord {
            version: FORMAT_VERSION,
            name: name.clone(),
            created_at: berth_image::store::now_rfc3339(),
            labels: req.labels.unwrap_or_default(),
            options,
        };
        let data = self.data_dir(&name);
        let owner = self.owner;
        let made = std::fs::create_dir_all(&data)
            .and_then(|()| owner.map_or(Ok(()), |(u, g)| std::os::unix::fs::chown(&data, Some(u), Some(g))))
            .and_then(|()| berth_types::persist::atomic_write_json(&self.dir.join(&name).join("volume.json"), &rec));
        if let Err(e) = made {
            let _ = berth_types::teardown::remove_tree(self.dir.join(&name));
            return Err(ServiceError::Internal(format!("create {name}: {e}")));
        }
        let v = self.view(&rec);
        vols.insert(name.clone(), rec);
        drop(vols);
        self.publish("create", &name, &[]);
        Ok(v)
    }

    /// One volume.
    pub fn get(&self, name: &str) -> Result<Volume, ServiceError> {
        let vols = self.volumes.lock().unwrap_or_else(|p| p.into_inner());
        vols.get(name).map(|r| self.view(r)).ok_or_else(|| ServiceError::NotFound(format!("get {name}: no such volume")))
    }

    /// Whether a volume exists.
    pub fn exists(&self, name: &str) -> bool {
        self.volumes.lock().unwrap_or_else(|p| p.into_inner()).contains_key(name)
    }

    /// Volumes matching `filters` (`name`, `label`, `dangling`, `driver`); `users` maps a volume to
    /// the containers referencing it.
    pub fn list(&self, filters: &Filters, users: &HashMap<String, Vec<String>>) -> Result<Vec<Volume>, ServiceError> {
        filters.validate(&["name", "label", "dangling", "driver"]).map_err(ServiceError::Invalid)?;
        let dangling = filters.bool("dangling").map_err(ServiceError::Invalid)?;
        let vols = self.volumes.lock().unwrap_or_else(|p| p.into_inner());
        Ok(vols
            .values()
            .filter(|r| filters.get("name").is_empty() || filters.get("name").iter().any(|n| r.name.contains(n.as_str())))
            .filter(|_| filters.get("driver").is_empty() || filters.get("driver").iter().any(|d| d == "local"))
            .filter(|r| filters.labels_match("label", Some(&r.labels)))
            .filter(|r| dangling.is_none_or(|d| d != users.get(&r.name).is_some_and(|u| !u.is_empty())))
            .map(|r| self.view(r))
            .collect())
    }

    /// Removes a volume nobody references. `force`: a missing volume is not an error.
    pub fn remove(&self, name: &str, force: bool, users: &HashMap<String, Vec<String>>) -> Result<(), ServiceError> {
        if let Some(u) = users.get(name).filter(|u| !u.is_empty()) {
            return Err(ServiceError::Conflict(format!("remove {name}: volume is in use - [{}]", u.join(", "))));
        }
        let mut vols = self.volumes.lock().unwrap_or_else(|p| p.into_inner());
        if !vols.contains_key(name) {
            return if force { Ok(()) } else { Err(ServiceError::NotFound(format!("get {name}: no such volume"))) };
        }
        let data = self.data_dir(name);
        if berth_runtime::mount::is_mounted(&data) {
            berth_runtime::mount::unmount(&data).map_err(|e| ServiceError::Internal(format!("remove {name}: {e}")))?;
        }
        // The record goes first: a crash halfway leaves a directory without a record, swept at open.
        std::fs::remove_file(self.dir.join(name).join("volume.json")).map_err(|e| ServiceError::Internal(format!("remove {name}: {e}")))?;
        vols.remove(name);
        drop(vols);
        if let Err(e) = berth_types::teardown::remove_tree(self.dir.join(name)) {
            tracing::warn!(volume = name, error = %e, "removing the volume's data failed");
        }
        self.active.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
        self.publish("destroy", name, &[]);
        Ok(())
    }

    /// Removes unused volumes: anonymous ones only, unless `all=true` is among the filters or
    /// `named_too` (API < 1.42, where prune took named volumes too and knew no `all` filter).
    /// Returns the names removed and the bytes reclaimed.
    pub fn prune(&self, filters: &Filters, users: &HashMap<String, Vec<String>>, named_too: bool) -> Result<(Vec<String>, u64), ServiceError> {
        let allowed: &[&str] = if named_too { &["label", "label!"] } else { &["label", "label!", "all"] };
        filters.validate(allowed).map_err(ServiceError::Invalid)?;
        let all = named_too || filters.bool("all").map_err(ServiceError::Invalid)?.unwrap_or(false);
        let candidates: Vec<(String, BTreeMap<String, String>)> = {
            let vols = self.volumes.lock().unwrap_or_else(|p| p.into_inner());
            vols.values().map(|r| (r.name.clone(), r.labels.clone())).collect()
        };
        let mut removed = vec![];
        let mut space = 0;
        for (name, labels) in candidates {
            if users.get(&name).is_some_and(|u| !u.is_empty()) || (!all && !labels.contains_key(ANONYMOUS_LABEL)) {
                continue;
            }
            if !filters.labels_allow(&labels) {
                continue;
            }
            let size = dir_size(&self.data_dir(&name));
            if self.remove(&name, true, users).is_ok() {
                space += size;
                removed.push(name);
            }
        }
        Ok((removed, space))
    }

    /// Sizes of every volume's data (for `system df`).
    pub fn usage(&self) -> Vec<(Volume, u64)> {
        let vols: Vec<Volume> = self.volumes.lock().unwrap_or_else(|p| p.into_inner()).values().map(|r| self.view(r)).collect();
        vols.into_iter().map(|v| {
            let s = dir_size(Path::new(&v.mountpoint));
            (v, s)
        }).collect()
    }

    /// The host directory to bind into a container for volume `name`, mounting the volume's
    /// filesystem first when its driver options ask for one. Pair with [`VolumeService::release`].
    pub fn acquire(&self, name: &str) -> Result<PathBuf, ServiceError> {
        let options = {
            let vols = self.volumes.lock().unwrap_or_else(|p| p.into_inner());
            vols.get(name).map(|r| r.options.clone()).ok_or_else(|| ServiceError::NotFound(format!("get {name}: no such volume")))?
        };
        let data = self.data_dir(name);
        if options.contains_key("type") || options.contains_key("device") {
            let mut active = self.active.lock().unwrap_or_else(|p| p.into_inner());
            let n = active.entry(name.to_string()).or_insert(0);
            if !berth_runtime::mount::is_mounted(&data) {
                mount_volume(&options, &data).map_err(|e| ServiceError::Internal(format!("error while mounting volume '{}': {e}", data.display())))?;
            }
            *n += 1;
        }
        Ok(data)
    }

    /// A container using `name` stopped: unmounts the volume's filesystem when nobody uses it.
    pub fn release(&self, name: &str) {
        let mut active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = active.get_mut(name) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                active.remove(name);
                let data = self.data_dir(name);
                if berth_runtime::mount::is_mounted(&data) {
                    if let Err(e) = berth_runtime::mount::unmount(&data) {
                        tracing::warn!(volume = name, error = %e, "unmounting the volume failed");
                    }
                }
            }
        }
    }

    /// Whether the volume's data directory is empty (a new volume, to populate from the image).
    pub fn is_empty(&self, name: &str) -> bool {
        std::fs::read_dir(self.data_dir(name)).map(|mut d| d.next().is_none()).unwrap_or(false)
    }
}

fn validate_options(o: &BTreeMap<String, String>) -> Result<(), ServiceError> {
    for k in o.keys() {
        if !matches!(k.as_str(), "type" | "o" | "device" | "size") {
            return Err(ServiceError::Invalid(format!("invalid option: {k:?}")));
        }
    }
    if o.get("type").is_some_and(|t| t != "tmpfs" && t != "none") && !o.contains_key("device") {
        return Err(ServiceError::Invalid("missing required option: \"device\"".into()));
    }
    if o.get("o").is_some_and(|x| x.split(',').any(|p| p == "bind")) && !o.contains_key("device") {
        return Err(ServiceError::Invalid("missing required option: \"device\"".into()));
    }
    if o.get("type").map(String::as_str) == Some("none") || o.get("o").is_some_and(|x| x.split(',').any(|p| p == "bind")) {
        let dev = o.get("device").map(String::as_str).unwrap_or("");
        if !Path::new(dev).is_absolute() {
            return Err(ServiceError::Invalid(format!("invalid bind device: {dev:?} is not an absolute path")));
        }
    }
    Ok(())
}

/// Mounts a volume's filesystem as `mount -t TYPE -o O DEVICE data` would.
fn mount_volume(o: &BTreeMap<String, String>, data: &Path) -> Result<(), String> {
    use nix::mount::{mount, MsFlags};
    let kind = o.get("type").map(String::as_str).unwrap_or("none");
    let device = o.get("device").map(String::as_str).unwrap_or(kind);
    let mut flags = MsFlags::empty();
    let mut data_opts = vec![];
    for opt in o.get("o").map(String::as_str).unwrap_or("").split(',').filter(|s| !s.is_empty()) {
        match opt {
            "bind" => flags |= MsFlags::MS_BIND,
            "rbind" => flags |= MsFlags::MS_BIND | MsFlags::MS_REC,
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rw" => {}
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            other => data_opts.push(other.to_string()),
        }
    }
    if let Some(s) = o.get("size") {
        data_opts.push(format!("size={s}"));
    }
    let fstype = if flags.contains(MsFlags::MS_BIND) { None } else { Some(kind) };
    let data_str = data_opts.join(",");
    mount(Some(device), data, fstype, flags, (!data_str.is_empty()).then_some(data_str.as_str())).map_err(|e| e.to_string())?;
    if flags.contains(MsFlags::MS_BIND | MsFlags::MS_RDONLY) {
        let _ = mount(None::<&str>, data, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY, None::<&str>);
    }
    Ok(())
}

/// Bytes used by the files under `p` (hard links counted once), without following symlinks.
pub fn dir_size(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let Ok(m) = e.path().symlink_metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else if m.nlink() <= 1 || seen.insert((m.dev(), m.ino())) {
                total += m.len();
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc() -> (tempfile::TempDir, Arc<VolumeService>) {
        let t = tempfile::tempdir().unwrap();
        let s = VolumeService::open(t.path(), Arc::new(EventBus::default()), None).unwrap();
        (t, s)
    }

    #[test]
    fn names_follow_docker_rules() {
        assert!(valid_name("data"));
        assert!(valid_name("my_vol-1.2"));
        assert!(!valid_name("a"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name("../x"));
    }

    #[test]
    fn create_is_idempotent_and_persisted() {
        let (t, s) = svc();
        let v = s.create(VolumeCreateRequest { name: "data".into(), labels: Some([("a".into(), "b".into())].into()), ..Default::default() }).unwrap();
        assert!(Path::new(&v.mountpoint).is_dir());
        let again = s.create(VolumeCreateRequest { name: "data".into(), ..Default::default() }).unwrap();
        assert_eq!(v, again);
        let reopened = VolumeService::open(t.path(), Arc::new(EventBus::default()), None).unwrap();
        assert_eq!(reopened.get("data").unwrap().labels.get("a").unwrap(), "b");
        let bad = s.create(VolumeCreateRequest { name: "../etc".into(), ..Default::default() }).unwrap_err();
        assert!(bad.to_string().contains("invalid characters"), "{bad}");
        let anon = s.create(VolumeCreateRequest::default()).unwrap();
        assert_eq!(anon.name.len(), 64);
    }

    #[test]
    fn remove_refuses_volumes_in_use_and_prune_spares_named_ones() {
        let (_t, s) = svc();
        s.create(VolumeCreateRequest { name: "named".into(), ..Default::default() }).unwrap();
        let anon = s.create(VolumeCreateRequest { labels: Some([(ANONYMOUS_LABEL.into(), String::new())].into()), ..Default::default() }).unwrap();
        let used = s.create(VolumeCreateRequest { labels: Some([(ANONYMOUS_LABEL.into(), String::new())].into()), ..Default::default() }).unwrap();
        let users = HashMap::from([(used.name.clone(), vec!["c1".to_string()])]);
        let e = s.remove(&used.name, false, &users).unwrap_err();
        assert!(e.to_string().contains("volume is in use - [c1]"), "{e}");
        let (gone, _) = s.prune(&Filters::default(), &users, false).unwrap();
        assert_eq!(gone, vec![anon.name.clone()]);
        assert!(s.exists("named") && s.exists(&used.name));
        let (gone, _) = s.prune(&Filters::parse(r#"{"all":["true"]}"#).unwrap(), &users, false).unwrap();
        assert_eq!(gone, vec!["named".to_string()]);
        assert!(s.remove("nope", true, &users).is_ok());
        assert!(matches!(s.remove("nope", false, &users), Err(ServiceError::NotFound(_))));
    }

    #[test]
    fn tmpfs_volume_is_mounted_while_used() {
        let (_t, s) = svc();
        let v = s
            .create(VolumeCreateRequest {
                name: "tv".into(),
                driver_opts: Some([("type".into(), "tmpfs".into()), ("device".into(), "tmpfs".into()), ("o".into(), "size=1m".into())].into()),
                ..Default::default()
            })
            .unwrap();
        let p = s.acquire("tv").unwrap();
        assert!(berth_runtime::mount::is_mounted(&p));
        s.acquire("tv").unwrap();
        s.release("tv");
        assert!(berth_runtime::mount::is_mounted(&p), "still used by one container");
        s.release("tv");
        assert!(!berth_runtime::mount::is_mounted(Path::new(&v.mountpoint)));
    }
}
