//! `docker cp`: stat, read and write paths in a container's filesystem, volumes and binds
//! included, running or not. Every path is resolved inside the container's root
//! (`berth_snapshot::copy`, `RESOLVE_IN_ROOT`), never by joining strings on the host.

use super::record::{ContainerRecord, Status};
use super::{ContainerService, Handle, ServiceError};
use berth_snapshot::copy::{self, CopyError, PathStat};
use std::path::Path;

fn map(rec: &ContainerRecord, e: CopyError) -> ServiceError {
    match e {
        CopyError::NotFound(_) => ServiceError::NotFound(format!("Could not find the file {} in container {}", e_path(&e), rec.name)),
        CopyError::Io { ref source, .. } if source.raw_os_error() == Some(libc::EROFS) => {
            ServiceError::Invalid(format!("container rootfs is marked read-only: {}", crate::api::error_chain(&e)))
        }
        CopyError::NotADirectory(_) | CopyError::Refused(_) => ServiceError::Invalid(e.to_string()),
        other => ServiceError::Internal(crate::api::error_chain(&other)),
    }
}

fn e_path(e: &CopyError) -> String {
    match e {
        CopyError::NotFound(p) => p.clone(),
        _ => String::new(),
    }
}

impl ContainerService {
    /// Runs `f` on the container's filesystem as its processes see it: `/proc/PID/root` while it
    /// runs; otherwise its snapshot mounted with its volumes and binds mounted over it, for the
    /// occasion, in a private mount namespace (nothing of it outlives the call, even a crash). Blocking.
    fn with_container_view<T>(&self, rec: &ContainerRecord, writable: bool, f: impl FnOnce(&Path) -> T) -> Result<T, ServiceError> {
        if matches!(rec.state.status, Status::Running | Status::Paused) && rec.state.pid > 0 {
            let root = format!("/proc/{}/root", rec.state.pid);
            if Path::new(&root).exists() {
                return Ok(f(Path::new(&root)));
            }
        }
        let binds = rec.mounts.iter().filter(|m| m.point.kind != "tmpfs").map(|m| (m.point.source.clone(), m.point.destination.clone(), m.point.rw)).collect();
        self.with_private_view(rec, writable, binds, f)
    }

    /// `HEAD /containers/{id}/archive`: the stat of `path`.
    pub fn archive_stat(&self, h: &Handle, path: &str) -> Result<PathStat, ServiceError> {
        let rec = h.snapshot();
        self.with_container_view(&rec, false, |root| copy::stat(root, path))?.map_err(|e| map(&rec, e))
    }

    /// `GET /containers/{id}/archive`: a tar of `path` written to `out`; returns its stat.
    pub fn archive_get(&self, h: &Handle, path: &str, out: impl std::io::Write) -> Result<PathStat, ServiceError> {
        let rec = h.snapshot();
        // A remapped container's files hold host ids: the tar carries the container's.
        let opts = copy::ArchiveOptions { follow_link: false, ids: self.userns_of(&rec)? };
        self.with_container_view(&rec, false, |root| copy::archive(root, path, &opts, out))?.map_err(|e| map(&rec, e))
    }

    /// `PUT /containers/{id}/archive`: extracts the tar `input` into directory `path`.
    pub fn archive_put(&self, h: &Handle, path: &str, input: impl std::io::Read, no_overwrite_dir_non_dir: bool, copy_uid_gid: bool) -> Result<(), ServiceError> {
        let rec = h.snapshot();
        if rec.host_config.readonly_rootfs && !rec.mounts.iter().any(|m| m.point.rw && path.starts_with(&m.point.destination)) {
            return Err(ServiceError::Invalid("container rootfs is marked read-only".into()));
        }
        // As dockerd: the archive's owners are kept (shifted into a remapped container's host ids);
        // with `copyUIDGID` and a container `User`, every node belongs to that user, resolved in
        // the container's own /etc/passwd and /etc/group.
        let ids = self.userns_of(&rec)?;
        let root_owner = ids.as_ref().and_then(|m| m.root().ok()).unwrap_or((0, 0));
        let user = rec.config.user.clone().unwrap_or_default();
        let chown = copy_uid_gid && !user.is_empty();
        // As dockerd: the tar may come compressed (gzip, bzip2, xz, zstd).
        let (_, input) = berth_image::compression::decompress(input).map_err(|e| ServiceError::Invalid(format!("read archive: {e}")))?;
        let put = |root: &Path| -> Result<(), ServiceError> {
            let mut owner = root_owner;
            if chown {
                let ident = berth_runtime::user::resolve(root, &user).map_err(|e| ServiceError::Invalid(e.to_string()))?;
                owner = match &ids {
                    Some(m) => m
                        .uid_to_host(ident.uid)
                        .zip(m.gid_to_host(ident.gid))
                        .ok_or_else(|| ServiceError::Invalid(format!("user {user} is not mapped in the container's user namespace")))?,
                    None => (ident.uid, ident.gid),
                };
            }
            let opts = copy::ExtractOptions { no_overwrite_dir_non_dir, preserve_owner: !chown, owner, rebase: None, ids: ids.clone() };
            copy::extract(root, path, input, &opts).map_err(|e| match e {
                CopyError::NotADirectory(_) => ServiceError::Invalid("extraction point is not a directory".into()),
                e => map(&rec, e),
            })
        };
        self.with_container_view(&rec, true, put)??;
        self.event(&rec, "extract-to-dir", &[]);
        Ok(())
    }
}
