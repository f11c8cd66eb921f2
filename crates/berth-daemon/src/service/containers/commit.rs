//! `docker commit` and `docker diff`: a container's writable layer (the overlay upper directory of
//! its snapshot) becomes a new image layer, or a list of changes.

use super::record::ContainerRecord;
use super::{ContainerService, Handle, ServiceError};
use berth_image::config::{History, ImageConfig};
use berth_image::LayerRecord;
use berth_snapshot::Snapshotter;
use berth_types::{Digest, Reference};
use berth_api::config::ContainerConfig;
use serde_json::{json, Value};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// What `POST /commit` was asked for.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// Repository and tag for the new image.
    pub reference: Option<Reference>,
    /// Commit message.
    pub comment: String,
    /// Author.
    pub author: String,
    /// Dockerfile instructions applied to the config.
    pub changes: Vec<String>,
    /// The request body's config, the base the changes apply to and the container's config fills
    /// (dockerd's `merge`); without one, the container's config.
    pub config: Option<ContainerConfig>,
    /// Freezes a running container while its layer is written (`pause`, on by default).
    pub pause: bool,
}

/// dockerd's merge of the container's config under the commit's: what the commit's config leaves
/// unset comes from the container; its environment comes first, the container's variables it does
/// not set follow; labels, exposed ports and volumes are joined.
fn merge(mut user: ContainerConfig, c: &ContainerConfig) -> ContainerConfig {
    let empty = |s: &Option<String>| s.as_deref().unwrap_or("").is_empty();
    if empty(&user.user) {
        user.user = c.user.clone();
    }
    let mut ports = user.exposed_ports.take().unwrap_or_default();
    for (k, v) in c.exposed_ports.clone().unwrap_or_default() {
        ports.entry(k).or_insert(v);
    }
    user.exposed_ports = (!ports.is_empty()).then_some(ports);
    let mut env = user.env.take().unwrap_or_default();
    if env.is_empty() {
        env = c.env.clone().unwrap_or_default();
    } else {
        for e in c.env.clone().unwrap_or_default() {
            let key = e.split('=').next().unwrap_or("");
            if !env.iter().any(|u| u.split('=').next().unwrap_or("") == key) {
                env.push(e);
            }
        }
    }
    user.env = (!env.is_empty()).then_some(env);
    let mut labels = user.labels.take().unwrap_or_default();
    for (k, v) in c.labels.clone().unwrap_or_default() {
        labels.entry(k).or_insert(v);
    }
    user.labels = Some(labels);
    if user.entrypoint.as_ref().is_none_or(|e| e.is_empty()) {
        if user.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            user.cmd = c.cmd.clone();
            user.args_escaped = c.args_escaped;
        }
        if user.entrypoint.is_none() {
            user.entrypoint = c.entrypoint.clone();
        }
    }
    if user.healthcheck.is_none() {
        user.healthcheck = c.healthcheck.clone();
    }
    if empty(&user.working_dir) {
        user.working_dir = c.working_dir.clone();
    }
    let mut volumes = user.volumes.take().unwrap_or_default();
    volumes.extend(c.volumes.clone().unwrap_or_default());
    user.volumes = (!volumes.is_empty()).then_some(volumes);
    if empty(&user.stop_signal) {
        user.stop_signal = c.stop_signal.clone();
    }
    user
}

impl ContainerService {
    fn upper(&self, h: &Handle) -> Result<PathBuf, ServiceError> {
        let rec = h.snapshot();
        self.snapshots.upper_dir(&rec.snapshot).map_err(|e| ServiceError::Internal(format!("the container's writable layer: {e}")))
    }

    /// The read-only layers under the container's writable one, top first.
    fn lowers(&self, h: &Handle) -> Vec<PathBuf> {
        let mounts: Vec<berth_runtime::mount::MountDesc> = std::fs::read(self.dir(&h.snapshot().id).join("mounts.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        mounts
            .iter()
            .flat_map(|m| m.options.iter())
            .filter_map(|o| o.strip_prefix("lowerdir="))
            .flat_map(|l| l.split(':').map(PathBuf::from).collect::<Vec<_>>())
            .collect()
    }

    /// Commits the container's changes as a new image; returns its id. Blocking.
    pub fn commit(&self, h: &Handle, opts: &CommitOptions) -> Result<Digest, ServiceError> {
        let _lease = self.leases.acquire("commit");
        let _timer = crate::metrics::ActionTimer::start("commit");
        let rec = h.snapshot();
        let parent = self.images.get(&rec.image)?;
        let upper = self.upper(h)?;
        // Frozen while its layer is read, as dockerd pauses it (thawed on every path out).
        struct Thaw<'a>(&'a ContainerService, &'a Handle);
        impl Drop for Thaw<'_> {
            fn drop(&mut self) {
                let _ = self.0.freeze(self.1, false);
            }
        }
        let _thaw = if opts.pause && rec.state.status == super::record::Status::Running {
            match self.freeze(h, true) {
                Ok(()) => Some(Thaw(self, h)),
                // The container exited after the snapshot above, before its exit was recorded
                // (a short-lived command committed right away): its cgroup went with its last
                // process, nothing is left to pause, and its layer is read as it is.
                Err(_) if rec.state.pid > 0 && !std::path::Path::new(&format!("/proc/{}", rec.state.pid)).exists() => None,
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        let stubs = runtime_stubs(&upper, &self.lowers(h));
        // A remapped container's writable layer holds host ids: the image gets the container's.
        let ids = self.userns_of(&rec)?;
        let tmp = self.root.join("tmp").join(format!("commit-{}.tar", &berth_types::random_id()[..12]));
        let result = (|| -> Result<Digest, ServiceError> {
            let f = std::fs::File::create(&tmp).map_err(|e| ServiceError::Internal(format!("commit: {}", crate::api::error_chain(&e))))?;
            berth_snapshot::write_diff_except(&upper, std::io::BufWriter::new(f), &|p| stubs.iter().any(|s| s == p), ids.as_ref()).map_err(|e| ServiceError::Internal(format!("commit: {}", crate::api::error_chain(&e))))?;
            let reader = std::io::BufReader::new(std::fs::File::open(&tmp).map_err(|e| ServiceError::Internal(format!("commit: {}", crate::api::error_chain(&e))))?);
            let layer = berth_image::layer::ingest_layer(self.images.content(), reader)?;
            let container = match opts.config.clone() {
                Some(mut base) => {
                    berth_image::changes::apply_changes(&mut base, &opts.changes)?;
                    merge(base, &rec.config)
                }
                None => {
                    let mut container = rec.config.clone();
                    container.image = None;
                    container.hostname = None;
                    berth_image::changes::apply_changes(&mut container, &opts.changes)?;
                    container
                }
            };
            let mut config: ImageConfig = (*parent.config).clone();
            let created = berth_image::store::now_rfc3339();
            config.created = Some(created.clone());
            config.config = Some(container);
            config.rootfs.diff_ids.push(layer.diff_id.clone());
            config.history.push(History {
                created: Some(created),
                created_by: Some(std::iter::once(rec.path.clone()).chain(rec.args.iter().cloned()).collect::<Vec<_>>().join(" ")),
                author: (!opts.author.is_empty()).then(|| opts.author.clone()),
                comment: (!opts.comment.is_empty()).then(|| opts.comment.clone()),
                empty_layer: false,
            });
            config.comment = (!opts.comment.is_empty()).then(|| opts.comment.clone());
            config.author = (!opts.author.is_empty()).then(|| opts.author.clone());
            config.extra.insert("container".into(), json!(rec.id));
            let mut layers = parent.layers.clone();
            layers.push(LayerRecord { diff_id: layer.diff_id, size: layer.size });
            let bytes = serde_json::to_vec(&config).map_err(|e| ServiceError::Internal(e.to_string()))?;
            let (id, _) = self.images.register(&bytes, layers, Some(parent.id.clone()))?;
            if let Some(r) = &opts.reference {
                self.images.tag(&id, r)?;
            }
            Ok(id)
        })();
        let _ = std::fs::remove_file(&tmp);
        let id = result?;
        self.event(&rec, "commit", &[("imageID", id.to_string())]);
        Ok(id)
    }

    /// `GET /containers/{id}/changes`: what the container added (1), modified (0) or deleted (2).
    /// The runtime's mountpoint stubs are not changes (dockerd keeps them in an init layer).
    pub fn changes(&self, h: &Handle) -> Result<Value, ServiceError> {
        let upper = self.upper(h)?;
        let lowers = self.lowers(h);
        let stubs: Vec<PathBuf> = runtime_stubs(&upper, &lowers).iter().map(|s| Path::new("/").join(s)).collect();
        let mut out = Vec::new();
        walk(&upper, Path::new("/"), &lowers, &mut out);
        let path_of = |v: &Value| PathBuf::from(v["Path"].as_str().unwrap_or_default());
        out.retain(|v| !stubs.contains(&path_of(v)));
        // A directory that only holds stubs (`/etc` for the three files) is no change either.
        let kept: Vec<PathBuf> = out.iter().map(path_of).collect();
        out.retain(|v| {
            let p = path_of(v);
            let holds_stub = stubs.iter().any(|s| s.starts_with(&p));
            !holds_stub || kept.iter().any(|k| k != &p && k.starts_with(&p))
        });
        out.sort_by(|a: &Value, b: &Value| a["Path"].as_str().cmp(&b["Path"].as_str()));
        Ok(Value::Array(out))
    }
}

/// The files the runtime creates in every container (`/.dockerenv`, and the mountpoints of
/// `/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf`, `/dev`, `/proc` and `/sys`) where it had to
/// create them: empty regular files or directories in `upper` that no lower layer has (dockerd keeps
/// them in its init layer, so they are no change). Relative paths.
fn runtime_stubs(upper: &Path, lowers: &[PathBuf]) -> Vec<PathBuf> {
    let empty = |p: &Path| match p.symlink_metadata() {
        Ok(m) if m.is_file() => m.len() == 0,
        Ok(m) if m.is_dir() => std::fs::read_dir(p).is_ok_and(|mut d| d.next().is_none()),
        _ => false,
    };
    [".dockerenv", "etc/hostname", "etc/hosts", "etc/resolv.conf", "dev", "proc", "sys"]
        .iter()
        .map(PathBuf::from)
        .filter(|rel| empty(&upper.join(rel)))
        .filter(|rel| !lowers.iter().any(|l| l.join(rel).symlink_metadata().is_ok()))
        .collect()
}

fn walk(dir: &Path, at: &Path, lowers: &[PathBuf], out: &mut Vec<Value>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let path = at.join(e.file_name());
        let rel = path.strip_prefix("/").unwrap_or(&path).to_path_buf();
        let Ok(ft) = e.file_type() else { continue };
        let whiteout = ft.is_char_device() && e.metadata().map(|m| std::os::unix::fs::MetadataExt::rdev(&m) == 0).unwrap_or(false);
        let in_lower = lowers.iter().any(|l| l.join(&rel).symlink_metadata().is_ok());
        let kind = if whiteout { 2 } else if in_lower { 0 } else { 1 };
        out.push(json!({"Path": path.display().to_string(), "Kind": kind}));
        if ft.is_dir() && !whiteout {
            walk(&e.path(), &path, lowers, out);
        }
    }
}

impl ContainerService {
    /// Writes the container's whole filesystem as a tar (`docker export`): the running container's
    /// mounted root, or its snapshot mounted read-only for the occasion. Blocking.
    pub fn export(&self, h: &Handle, out: impl std::io::Write) -> Result<(), ServiceError> {
        let rec = h.snapshot();
        if let Some(ids) = self.userns_of(&rec)? {
            // A remapped container's files hold host ids: the tar carries the container's, as
            // dockerd's export does (the same walk as `docker cp` of `/`).
            let opts = berth_snapshot::copy::ArchiveOptions { follow_link: false, ids: Some(ids) };
            self.with_rootfs(&rec, false, |target| berth_snapshot::copy::archive(target, "/", &opts, out))?
                .map_err(|e| ServiceError::Internal(format!("export: {}", crate::api::error_chain(&e))))?;
            self.event(&rec, "export", &[]);
            return Ok(());
        }
        let result = self.with_rootfs(&rec, false, |target| {
            let mut b = tar::Builder::new(out);
            b.follow_symlinks(false);
            b.mode(tar::HeaderMode::Complete);
            b.append_dir_all(".", target)?;
            b.into_inner()?.flush()?;
            Ok::<_, std::io::Error>(())
        })?;
        result.map_err(|e| ServiceError::Internal(format!("export: {e}")))?;
        self.event(&rec, "export", &[]);
        Ok(())
    }

    /// Runs `f` on the container's root filesystem as the host sees it: the running container's
    /// mounted root, or its snapshot mounted for the occasion (read-only unless `writable`). Blocking.
    pub(super) fn with_rootfs<T>(&self, rec: &ContainerRecord, writable: bool, f: impl FnOnce(&std::path::Path) -> T) -> Result<T, ServiceError> {
        let rootfs = self.dir(&rec.id).join("rootfs");
        if berth_runtime::mount::is_mounted(&rootfs) {
            return Ok(f(&rootfs));
        }
        self.with_private_view(rec, writable, Vec::new(), f)
    }

    /// Runs `f` on the container's root filesystem with `binds` (source, destination in the
    /// container, writable) mounted over it, all in a private mount namespace
    /// ([`berth_runtime::private_mounts`]): nothing of it is visible to anyone else, and a crash
    /// leaves nothing mounted. The root is the running container's mounted root if it has one,
    /// else its snapshot (read-only unless `writable`). Blocking.
    pub(super) fn with_private_view<T>(
        &self,
        rec: &ContainerRecord,
        writable: bool,
        binds: Vec<(String, String, bool)>,
        f: impl FnOnce(&std::path::Path) -> T,
    ) -> Result<T, ServiceError> {
        let failed = |e: &dyn std::fmt::Display| ServiceError::Internal(format!("mounting the container's filesystem: {e}"));
        let dir = self.dir(&rec.id);
        // The container's own `rootfs` directory is the mount point: in the private namespace a
        // mount there is nobody else's business, and nothing has to be created on the data root
        // (which may be full).
        let target = dir.join("rootfs");
        let mounts = if berth_runtime::mount::is_mounted(&target) {
            Vec::new()
        } else {
            std::fs::create_dir_all(&target).map_err(|e| failed(&e))?;
            std::fs::read(dir.join("mounts.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .ok_or_else(|| ServiceError::Internal("the container's mounts are unknown".into()))?
        };
        // A remapped container's layers are seen through the same idmapped mounts it sees them
        // through, so its whole tree holds host ids consistently.
        let ids = self.userns_of(rec)?;
        let ns = berth_runtime::private_mounts::PrivateMounts::new().map_err(|e| failed(&e))?;
        let root = ns.run(move || mount_view(&target, &mounts, writable, &binds, ids.as_ref())).map_err(|e| failed(&e))?.map_err(|e| failed(&e))?;
        let out = f(&berth_runtime::private_mounts::PrivateMounts::path_of(&root));
        // The descriptor first, then the namespace (its thread's exit unmounts everything).
        drop(root);
        drop(ns);
        Ok(out)
    }
}

/// On a private namespace's thread: mounts `mounts` on `target` (binds read-only unless
/// `writable`), then each of `binds` over its destination (resolved inside the root, so a symlink in
/// the container cannot redirect it), and opens the root.
fn mount_view(
    target: &Path,
    mounts: &[berth_runtime::mount::MountDesc],
    writable: bool,
    binds: &[(String, String, bool)],
    ids: Option<&berth_runtime::idmap::IdMappings>,
) -> Result<std::fs::File, String> {
    use nix::mount::MsFlags;
    use std::os::fd::AsRawFd;
    for m in mounts {
        let mut m = m.clone();
        if m.kind == "bind" && !writable {
            m.options.push("ro".into());
        }
        berth_runtime::idmapped::mount_rootfs(&m, target, ids).map_err(|e| e.to_string())?;
    }
    // Overlay mounts read-only when it cannot make its work directory: on a full data root.
    if writable && mounts.iter().any(|m| m.kind == "overlay") {
        let fs = nix::sys::statvfs::statvfs(target).map_err(|e| e.to_string())?;
        if fs.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY) {
            let upper = target.parent().map(nix::sys::statvfs::statvfs);
            if upper.is_some_and(|u| u.is_ok_and(|u| u.blocks_available() == 0)) {
                return Err(std::io::Error::from_raw_os_error(libc::ENOSPC).to_string());
            }
        }
    }
    for (source, destination, rw) in binds {
        let made = berth_runtime::mount::sys::mkdir_all_in_root(target, destination, ids.and_then(|m| m.root().ok()))
            .and_then(|()| berth_runtime::mount::sys::open_in_root(target, destination));
        let Ok(dir) = made else { continue };
        let at = format!("/proc/self/fd/{}", dir.as_raw_fd());
        let mut flags = MsFlags::MS_BIND | MsFlags::MS_REC;
        if nix::mount::mount(Some(source.as_str()), at.as_str(), None::<&str>, flags, None::<&str>).is_err() {
            continue;
        }
        if !rw || !writable {
            // `dir` is the directory under the new mount; the remount needs the mount's root.
            let top = berth_runtime::mount::sys::open_in_root(target, destination).map_err(|e| format!("{destination}: {e}"))?;
            let at = format!("/proc/self/fd/{}", top.as_raw_fd());
            flags |= MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
            nix::mount::mount(None::<&str>, at.as_str(), None::<&str>, flags, None::<&str>).map_err(|e| format!("{destination}: {e}"))?;
        }
    }
    std::fs::File::open(target).map_err(|e| e.to_string())
}
