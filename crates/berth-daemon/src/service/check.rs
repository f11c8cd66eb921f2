//! `POST /system/check` (a Berth extension; Podman's `system check` is the model): verifies the
//! stores and looks for leftovers, and with `repair` removes what is damaged or orphaned. A running
//! container's data (its snapshot, its record) is only touched with `force`.
//!
//! Checked: every blob's digest (`quick`: that it can be read, and its size where the registry
//! client's blob index knows it), image → config and layer blobs, snapshot chains (parents present
//! and committed, directories present, stray directories), container → image and snapshot, volume
//! records, and leftovers: container directories without a record, snapshots nothing references,
//! mounts under the data root, network namespaces and cgroups of containers that are not running,
//! shims serving no container, and the network leftovers `networks::check` finds (veths, endpoint
//! records, firewall rules, addresses, missing bridges).

use super::containers::Status;
use super::gc::{mountinfo, orphans};
use super::{ServiceError, Services};
use berth_snapshot::{Kind, Snapshotter};
use berth_types::Digest;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

/// `quick`, `repair`, `force`.
#[derive(Debug, Default, Clone, Copy)]
pub struct CheckOptions {
    /// Blobs: sizes and readability, not digests.
    pub quick: bool,
    /// Remove what is damaged or orphaned.
    pub repair: bool,
    /// Also what a running container uses.
    pub force: bool,
}

/// One problem found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Finding {
    /// `blob`, `image`, `snapshot`, `container`, `volume`, `mount`, `netns`, `cgroup`, `shim`,
    /// `veth`, `endpoint`, `firewall`, `address`, `network`.
    pub kind: &'static str,
    /// What it is about (digest, id, name, path).
    pub id: String,
    /// What is wrong.
    pub problem: String,
    /// Whether `repair` fixed it.
    pub repaired: bool,
    /// Why it was not repaired, when repair was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The result of a check.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CheckReport {
    /// How many objects of each kind were looked at.
    pub checked: BTreeMap<&'static str, usize>,
    /// Problems, in the order found.
    pub findings: Vec<Finding>,
}

impl CheckReport {
    fn add(&mut self, kind: &'static str, id: impl Into<String>, problem: impl Into<String>) -> usize {
        self.findings.push(Finding { kind, id: id.into(), problem: problem.into(), repaired: false, note: None });
        self.findings.len() - 1
    }
    fn done(&mut self, i: usize, result: Result<(), String>) {
        match result {
            Ok(()) => self.findings[i].repaired = true,
            Err(n) => self.findings[i].note = Some(n),
        }
    }
}

fn blob_digest(path: &Path) -> std::io::Result<(Digest, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut w = berth_types::Sha256Writer::new(std::io::sink());
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        std::io::Write::write_all(&mut w, &buf[..n])?;
    }
    let (_, d, n) = w.finish();
    Ok((d, n))
}

/// Runs a check (and the repairs asked for). Blocking: call from `spawn_blocking`.
pub fn run(s: &Services, root: &Path, opts: CheckOptions, rt: &tokio::runtime::Handle) -> Result<CheckReport, ServiceError> {
    let mut r = CheckReport::default();
    let store = s.build.images();
    let content = store.content();
    let snapshots = s.gc.snapshots();
    let containers: Vec<_> = s.containers.all().into_iter().map(|h| (h.clone(), h.snapshot())).collect();
    let running = |st: Status| matches!(st, Status::Running | Status::Paused | Status::Restarting);
    let image_users: HashMap<String, Vec<(String, bool)>> =
        containers.iter().fold(HashMap::new(), |mut m, (_, c)| {
            m.entry(c.image.clone()).or_default().push((c.id.clone(), running(c.state.status)));
            m
        });

    // Blobs.
    let blobs = content.list().map_err(|e| ServiceError::Internal(format!("listing blobs: {e}")))?;
    r.checked.insert("blobs", blobs.len());
    let mut damaged: HashSet<Digest> = HashSet::new();
    for d in &blobs {
        let path = content.blob_path(d);
        let problem = if opts.quick {
            match std::fs::File::open(&path).and_then(|f| f.metadata()) {
                Err(e) => Some(format!("unreadable: {e}")),
                Ok(m) => {
                    let known: Vec<u64> = s.distribution.compressed_size(d).into_iter().collect();
                    known.first().filter(|n| **n != m.len()).map(|n| format!("size {} differs from the recorded {n}", m.len()))
                }
            }
        } else {
            match blob_digest(&path) {
                Err(e) => Some(format!("unreadable: {e}")),
                Ok((actual, _)) if actual != *d => Some(format!("content hashes to {actual}")),
                Ok(_) => None,
            }
        };
        if let Some(p) = problem {
            damaged.insert(d.clone());
            let i = r.add("blob", d.to_string(), p);
            if opts.repair {
                r.done(i, content.delete(d).map_err(|e| e.to_string()));
            }
        }
    }

    // Images → config and layers.
    let images = store.list();
    r.checked.insert("images", images.len());
    for img in &images {
        let mut problems = Vec::new();
        if damaged.contains(&img.id) || !content.exists(&img.id) {
            problems.push("config blob missing or damaged".to_string());
        }
        for l in &img.layers {
            if damaged.contains(&l.diff_id) || !content.exists(&l.diff_id) {
                problems.push(format!("layer {} missing or damaged", l.diff_id));
            }
        }
        if problems.is_empty() {
            continue;
        }
        let i = r.add("image", img.id.to_string(), problems.join("; "));
        if opts.repair {
            // As Podman's check: an image containers use goes only with --force, and they with it.
            let users = image_users.get(&img.id.to_string()).cloned().unwrap_or_default();
            let result = match users.first() {
                Some((c, run)) if !opts.force => Err(format!("used by {}container {c} (use --force)", if *run { "running " } else { "" })),
                _ => users
                    .iter()
                    .try_for_each(|(c, _)| match s.containers.get(c) {
                        Ok(h) => rt.block_on(s.containers.remove(&h, true, false)).map_err(|e| e.to_string()),
                        Err(_) => Ok(()),
                    })
                    .and_then(|()| store.remove(&img.id).map(|_| ()).map_err(|e| e.to_string())),
            };
            r.done(i, result);
        }
    }

    // Snapshots: chains and directories.
    let infos = snapshots.list().map_err(|e| ServiceError::Internal(format!("snapshots: {e}")))?;
    r.checked.insert("snapshots", infos.len());
    let by_name: HashMap<&str, &berth_snapshot::Info> = infos.iter().map(|i| (i.name.as_str(), i)).collect();
    let container_of: HashMap<&str, (&str, bool)> =
        containers.iter().map(|(_, c)| (c.snapshot.as_str(), (c.id.as_str(), running(c.state.status)))).collect();
    let mut broken_snapshots: Vec<String> = Vec::new();
    for info in &infos {
        let problem = match info.parent.as_deref().map(|p| by_name.get(p)) {
            Some(None) => Some(format!("parent {} is missing", info.parent.as_deref().unwrap_or(""))),
            Some(Some(p)) if p.kind != Kind::Committed => Some(format!("parent {} is not committed", p.name)),
            _ => match snapshots.fs_path(&info.name) {
                Ok(dir) if !dir.is_dir() => Some(format!("directory {} is missing", dir.display())),
                _ => None,
            },
        };
        if let Some(p) = problem {
            broken_snapshots.push(info.name.clone());
            let i = r.add("snapshot", info.name.clone(), p);
            if opts.repair {
                let result = match container_of.get(info.name.as_str()) {
                    Some((c, true)) if !opts.force => Err(format!("used by running container {c} (use --force)")),
                    _ => remove_snapshot_tree(&snapshots, &info.name, &infos),
                };
                r.done(i, result);
            }
        }
    }
    for dir in snapshots.stray_dirs().map_err(|e| ServiceError::Internal(format!("snapshots: {e}")))? {
        let i = r.add("snapshot", dir.display().to_string(), "directory no snapshot record names");
        if opts.repair {
            r.done(i, berth_types::teardown::remove_tree(&dir).map_err(|e| e.to_string()));
        }
    }
    // Snapshots nothing references (interrupted unpacks and builds, leftovers of removed images).
    let marked = s.gc.mark()?;
    let unreferenced: Vec<&berth_snapshot::Info> =
        infos.iter().filter(|i| !marked.snapshots.contains(&i.name) && !broken_snapshots.contains(&i.name)).collect();
    let unreferenced_blobs: Vec<&Digest> = blobs.iter().filter(|d| !marked.blobs.contains(*d) && !damaged.contains(*d)).collect();
    let mut orphan_rows: Vec<usize> = Vec::new();
    for i in &unreferenced {
        orphan_rows.push(r.add("snapshot", i.name.clone(), "nothing references it"));
    }
    for d in &unreferenced_blobs {
        orphan_rows.push(r.add("blob", d.to_string(), "nothing references it"));
    }
    if opts.repair && !orphan_rows.is_empty() {
        let gc = s.gc.collect();
        for i in orphan_rows {
            let gone = match &gc {
                Ok(rep) => rep.snapshots.contains(&r.findings[i].id) || rep.blobs.iter().any(|d| d.to_string() == r.findings[i].id),
                Err(_) => false,
            };
            r.done(i, if gone { Ok(()) } else { Err("in use by an operation in flight, or still mounted".into()) });
        }
    }

    // Containers → image and snapshot (those a repair above removed are gone).
    let containers: Vec<_> = s.containers.all().into_iter().map(|h| (h.clone(), h.snapshot())).collect();
    r.checked.insert("containers", containers.len());
    for (h, c) in &containers {
        let mut problems = Vec::new();
        if store.by_id(&c.image.parse().unwrap_or_else(|_| Digest::of(b""))).is_none() {
            problems.push(format!("image {} is missing", c.image));
        }
        let snap_ok = by_name.contains_key(c.snapshot.as_str()) && !broken_snapshots.contains(&c.snapshot);
        if !snap_ok {
            problems.push(format!("snapshot {} is missing or broken", c.snapshot));
        }
        if problems.is_empty() {
            continue;
        }
        let i = r.add("container", c.id.clone(), problems.join("; "));
        // A missing image alone does not stop a container (its snapshot holds its files).
        if opts.repair && !snap_ok {
            let result = if running(c.state.status) && !opts.force {
                Err("running (use --force)".to_string())
            } else {
                rt.block_on(s.containers.remove(h, true, false)).map_err(|e| e.to_string())
            };
            r.done(i, result);
        } else if opts.repair {
            r.findings[i].note = Some("kept: its snapshot holds its files".into());
        }
    }
    let known: HashSet<String> = containers.iter().map(|(_, c)| c.id.clone()).collect();
    let mounts = mountinfo::mounts();
    for dir in orphans::orphan_container_dirs(root, &known) {
        if dir.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
            continue;
        }
        let i = r.add("container", dir.display().to_string(), "directory without a container record");
        if opts.repair {
            r.done(i, orphans::reap(&dir, &mounts).map(|_| ()).ok_or_else(|| "still mounted".to_string()));
        }
    }

    // Volumes.
    let vdir = root.join("volumes");
    let vols: Vec<PathBuf> = std::fs::read_dir(&vdir).map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect()).unwrap_or_default();
    r.checked.insert("volumes", vols.len());
    for v in vols {
        let name = v.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let problem = match std::fs::read(v.join("volume.json")).map(|b| serde_json::from_slice::<serde_json::Value>(&b)) {
            Err(_) => Some("no volume.json"),
            Ok(Err(_)) => Some("volume.json unreadable"),
            Ok(Ok(_)) if !v.join("_data").is_dir() => Some("_data missing"),
            _ => None,
        };
        if let Some(p) = problem {
            r.add("volume", name, p);
        }
    }

    // Leftovers of containers that are not running.
    let live: HashSet<&str> = containers.iter().filter(|(_, c)| running(c.state.status)).map(|(_, c)| c.id.as_str()).collect();
    let live_dirs: Vec<PathBuf> = live.iter().map(|id| root.join("containers").join(id)).chain(live.iter().map(|id| root.join("netns").join(id))).collect();
    // Volumes a running container uses are mounted (driver options) under volumes/<name>; build
    // steps mount under builds/ while a build holds its lease.
    let vol_users = s.containers.volume_users();
    let building = s.gc.leases().list().iter().any(|l| l.kind == "build");
    let owned = |p: &Path| {
        live_dirs.iter().any(|d| p.starts_with(d))
            || (building && p.starts_with(root.join("builds")))
            || p.strip_prefix(root.join("volumes")).ok().and_then(|rel| rel.iter().next()).is_some_and(|name| {
                vol_users.get(name.to_string_lossy().as_ref()).is_some_and(|users| users.iter().any(|c| live.contains(c.as_str())))
            })
    };
    for m in &mounts {
        if !m.mount_point.starts_with(root) || owned(&m.mount_point) {
            continue;
        }
        let i = r.add("mount", m.mount_point.display().to_string(), format!("{} mount no running container owns", m.fstype));
        if opts.repair {
            r.done(i, nix::mount::umount2(&m.mount_point, nix::mount::MntFlags::MNT_DETACH).map_err(|e| e.to_string()));
        }
    }
    if let Ok(rd) = std::fs::read_dir(root.join("netns")) {
        for e in rd.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            if live.contains(id.as_str()) {
                continue;
            }
            let i = r.add("netns", id, "network namespace of a container that is not running");
            if opts.repair {
                let p = e.path();
                let _ = nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH);
                r.done(i, std::fs::remove_file(&p).map_err(|e| e.to_string()));
            }
        }
    }
    let bases = cgroup_hierarchies(Path::new("/sys/fs/cgroup"));
    for (_, c) in containers.iter().filter(|(_, c)| !running(c.state.status)) {
        // `berth-<id>` at the root, or `<CgroupParent>/<id>` as the record says.
        let name = super::containers::cgroup_name(&c.id, &c.host_config);
        for base in &bases {
            let p = base.join(&name);
            if p.is_dir() {
                let i = r.add("cgroup", p.display().to_string(), "cgroup of a container that is not running");
                if opts.repair {
                    r.done(i, std::fs::remove_dir(&p).map_err(|e| e.to_string()));
                }
            }
        }
    }
    for shim in super::recovery::shims(root) {
        let owned = shim.dir.file_name().map(|n| n.to_string_lossy().into_owned()).is_some_and(|id| live.contains(id.as_str()));
        let build_step = shim.dir.starts_with(root.join("builds"));
        if owned || (build_step && s.gc.leases().list().iter().any(|l| l.kind == "build")) {
            continue;
        }
        let i = r.add("shim", format!("{:?}", shim.pids), format!("shim for {} serves no running container", shim.dir.display()));
        if opts.repair {
            for pid in &shim.pids {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), nix::sys::signal::Signal::SIGKILL);
            }
            r.done(i, Ok(()));
        }
    }
    // Network leftovers: veths, endpoint records, firewall rules, addresses, bridges.
    let seen = s.networks.seen();
    let building = s.gc.leases().list().iter().any(|l| l.kind == "build");
    let view = s.containers.network_view(building);
    r.checked.insert("endpoints", view.running.values().map(|n| n.networks.len()).sum());
    for f in s.networks.leftovers(&seen, &view) {
        let i = r.add(f.kind, f.id.clone(), f.problem.clone());
        if opts.repair {
            r.done(i, s.networks.repair(&f, rt));
        }
    }
    Ok(r)
}

/// The roots a container's cgroup may sit under: the cgroup2 root, or on a v1 (or hybrid) host each
/// mounted hierarchy (`memory`, `pids`, `cpu,cpuacct`, …, `unified`; the `cpu` and `cpuacct`
/// symlinks left out so no directory is found twice).
fn cgroup_hierarchies(root: &Path) -> Vec<PathBuf> {
    if root.join("cgroup.controllers").exists() {
        return vec![root.to_path_buf()];
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(root)
        .map(|rd| rd.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// Removes `name` and every snapshot built on it (children first).
fn remove_snapshot_tree(snapshots: &berth_snapshot::OverlaySnapshotter, name: &str, infos: &[berth_snapshot::Info]) -> Result<(), String> {
    for child in infos.iter().filter(|i| i.parent.as_deref() == Some(name)) {
        remove_snapshot_tree(snapshots, &child.name, infos)?;
    }
    match snapshots.remove(name) {
        Ok(()) => Ok(()),
        Err(e) if berth_types::error::HasKind::kind(&e) == berth_types::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}
