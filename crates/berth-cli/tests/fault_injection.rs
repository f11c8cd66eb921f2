//! Fault injection: the daemon is killed with SIGKILL at seeded random moments during operations
//! that write (create, cp into and out of stopped and running containers whose binds hold canary
//! files, start, stop, exec, rm, rmi, commit, load, volume create and rm, build, pull and push
//! through a local `berth registry`, network create, rm, connect and disconnect), started again,
//! and checked: canary files intact, nothing mounted under the data root, no shim, cgroup or veth
//! that no running container owns, the container that was running still runs and answers exec and
//! logs, its interfaces and addresses are the networks it is recorded on, every image complete or
//! absent, `system check` clean (veths, endpoint records, firewall rules and addresses included).
//! Shims are killed too, mid-start and mid-exec, with the daemon alive. At the end, removing
//! everything the operations made brings the data root back to its size before them.
//!
//! `BERTH_FAULT_SEED=N` replays a run (the seed is printed, and named in every failure);
//! `BERTH_FAULT_ITERATIONS=N` sets the kills per operation (default 2 for a quick `cargo test`;
//! `scripts/test.sh`, and so CI, runs 20; the soak in `scripts/fault-soak.sh` runs 100).

mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// xorshift64*: small, seedable, good enough to pick kill moments.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Mount points at or below `dir`.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let prefix = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(&prefix))
        .collect()
}

struct Unmounter(PathBuf);

impl Drop for Unmounter {
    fn drop(&mut self) {
        let mut points = mounts_under(&self.0);
        points.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
        for p in points {
            let _ = Command::new("umount").arg("-l").arg(&p).status();
        }
    }
}

/// Pids of the shims of this daemon (`--state-root <root>/runtime`) whose `--dir` (a container) or
/// `--exec-dir` (an exec) names `owner`'s directory.
fn shims_of(root: &Path, owner: &str, exec: bool) -> Vec<i32> {
    let state_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf()).join("runtime");
    let mut pids = Vec::new();
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(cmdline) = std::fs::read(p.path().join("cmdline")) else { continue };
        let args: Vec<String> = cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
        if value("--state-root").map(PathBuf::from) != Some(state_root.clone()) {
            continue;
        }
        let dir = if exec { value("--exec-dir") } else { value("--exec-dir").is_none().then(|| value("--dir")).flatten() };
        if dir.is_some_and(|d| d.contains(owner)) {
            pids.push(pid);
        }
    }
    pids
}

/// Every file under `dir` with its content.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&p).unwrap_or_default());
            }
        }
    }
    out
}

fn random_file(path: &Path, bytes: usize, rng: &mut Rng) {
    let mut data = vec![0u8; bytes];
    for chunk in data.chunks_mut(8) {
        let v = rng.next().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    std::fs::write(path, data).unwrap();
}

/// A tar of one random file, for `import` of an image with unique content.
fn random_tar(path: &Path, bytes: usize, rng: &mut Rng) {
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let dir = path.with_extension("src");
    std::fs::create_dir_all(&dir).unwrap();
    random_file(&dir.join("blob"), bytes, rng);
    b.append_path_with_name(dir.join("blob"), "blob").unwrap();
    b.into_inner().unwrap();
}

struct Fixture {
    /// Every container id the test has seen, to look for their cgroups once they no longer run.
    seen: std::cell::RefCell<std::collections::BTreeSet<String>>,
    work: tempfile::TempDir,
    canary: PathBuf,
    canary_tree: BTreeMap<PathBuf, Vec<u8>>,
    big: PathBuf,
    ctx: PathBuf,
    registry: String,
}

impl Fixture {
    fn bind(&self) -> String {
        format!("{}:/data", self.canary.display())
    }
}

fn spawn(d: &Daemon, args: &[String]) -> Child {
    Command::new(BERTH).args(args).env("BERTH_HOST", d.host()).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// Prepares one iteration of `op` (objects it works on) and returns the command to kill the
/// daemon under, and the longest useful delay before the kill.
fn prepare(d: &Daemon, f: &Fixture, op: &str, i: usize, rng: &mut Rng) -> (Vec<String>, u64) {
    let big = f.big.display().to_string();
    match op {
        "cp-into-stopped" => {
            let _ = d.berth(&["create", "--name", "cpstop", "-v", &f.bind(), "busybox", "true"]);
            (s(&["cp", &big, "cpstop:/big"]), 400)
        }
        "cp-out-of-stopped" => {
            let _ = d.berth(&["create", "--name", "cpstop", "-v", &f.bind(), "busybox", "true"]);
            let out = f.work.path().join(format!("out-{i}"));
            (s(&["cp", "cpstop:/", &out.display().to_string()]), 300)
        }
        "cp-into-running" => (s(&["cp", &big, "keeper:/big"]), 300),
        "cp-out-of-running" => {
            let out = f.work.path().join(format!("rout-{i}"));
            (s(&["cp", "keeper:/data", &out.display().to_string()]), 100)
        }
        "start" => {
            let name = format!("st{i}");
            d.berth_ok(&["create", "--name", &name, "-v", &f.bind(), "busybox", "sleep", "100000"]);
            (s(&["start", &name]), 150)
        }
        "exec" => (s(&["exec", "keeper", "sh", "-c", "echo x > /tmp/x; cat /data/one > /dev/null"]), 100),
        "rm" => {
            let name = format!("rm{i}");
            d.berth_ok(&["run", "-d", "--name", &name, "-v", &f.bind(), "busybox", "sleep", "100000"]);
            (s(&["rm", "-f", &name]), 150)
        }
        "rmi" => {
            let tar = f.work.path().join(format!("rmi-{i}.tar"));
            random_tar(&tar, 2 << 20, rng);
            let tag = format!("rmi:{i}");
            d.berth_ok(&["import", &tar.display().to_string(), &tag]);
            (s(&["rmi", &tag]), 100)
        }
        "commit" => (s(&["commit", "keeper", &format!("commit:{i}")]), 300),
        "load" => {
            let tar = f.work.path().join(format!("load-{i}.tar"));
            random_tar(&tar, 6 << 20, rng);
            let tag = format!("load:{i}");
            d.berth_ok(&["import", &tar.display().to_string(), &tag]);
            let saved = f.work.path().join(format!("load-{i}.saved.tar"));
            d.berth_ok(&["save", "-o", &saved.display().to_string(), &tag]);
            d.berth_ok(&["rmi", &tag]);
            (s(&["load", "-i", &saved.display().to_string()]), 300)
        }
        "volume-rm" => {
            let name = format!("vol{i}");
            d.berth_ok(&["run", "--rm", "-v", &format!("{name}:/v"), "busybox", "sh", "-c", "seq 1 20000 > /v/f"]);
            (s(&["volume", "rm", &name]), 50)
        }
        "build" => (s(&["build", "--no-cache", "-t", &format!("built:{i}"), &f.ctx.display().to_string()]), 1500),
        "push" => {
            let tar = f.work.path().join(format!("push-{i}.tar"));
            random_tar(&tar, 4 << 20, rng);
            let tag = format!("{}/push:{i}", f.registry);
            d.berth_ok(&["import", &tar.display().to_string(), &tag]);
            (s(&["push", &tag]), 400)
        }
        "pull" => {
            let tar = f.work.path().join(format!("pull-{i}.tar"));
            random_tar(&tar, 4 << 20, rng);
            let tag = format!("{}/pull:{i}", f.registry);
            d.berth_ok(&["import", &tar.display().to_string(), &tag]);
            d.berth_ok(&["push", &tag]);
            d.berth_ok(&["rmi", &tag]);
            (s(&["pull", &tag]), 400)
        }
        "shim-start" => {
            let name = format!("ss{i}");
            d.berth_ok(&["create", "--name", &name, "-v", &f.bind(), "busybox", "sleep", "100000"]);
            (s(&["start", &name]), 60)
        }
        "shim-exec" => (s(&["exec", "keeper", "sh", "-c", "sleep 0.2; echo x > /tmp/y"]), 200),
        "create" => (s(&["create", "--name", &format!("cr{i}"), "-v", &f.bind(), "-v", "/anon", "busybox", "true"]), 150),
        "stop" => {
            let name = format!("sp{i}");
            d.berth_ok(&["run", "-d", "--name", &name, "-v", &f.bind(), "-p", "127.0.0.1::80", "busybox", "sleep", "100000"]);
            (s(&["stop", "-t", "1", &name]), 300)
        }
        "volume-create" => (s(&["volume", "create", &format!("vc{i}")]), 40),
        "net-create" => (s(&["network", "create", "--subnet", &d.net.subnet(8), &format!("nc{i}")]), 100),
        "net-rm" => {
            d.berth_ok(&["network", "create", "--subnet", &d.net.subnet(8), &format!("nr{i}")]);
            (s(&["network", "rm", &format!("nr{i}")]), 100)
        }
        "net-connect" => {
            let _ = d.berth(&["network", "disconnect", "-f", "fnet", "keeper"]);
            (s(&["network", "connect", "fnet", "keeper"]), 120)
        }
        "net-disconnect" => {
            let _ = d.berth(&["network", "connect", "fnet", "keeper"]);
            (s(&["network", "disconnect", "fnet", "keeper"]), 120)
        }
        other => panic!("unknown operation {other}"),
    }
}

/// What must hold after every restart; `Err` says what did not.
fn check(d: &Daemon, f: &Fixture) -> Result<(), String> {
    if tree(&f.canary) != f.canary_tree {
        return Err("the canary files in the bind source changed".into());
    }
    let running: Vec<String> = stdout(&d.berth(&["ps", "-q", "--no-trunc"])).split_whitespace().map(str::to_string).collect();
    let root = std::fs::canonicalize(d.root()).unwrap();
    let allowed = |p: &Path| running.iter().any(|id| p == root.join("containers").join(id).join("rootfs") || p == root.join("netns").join(id));
    let stray: Vec<PathBuf> = mounts_under(&root).into_iter().filter(|p| !allowed(p)).collect();
    if !stray.is_empty() {
        return Err(format!("mounts no running container owns: {stray:?}"));
    }
    // No shim serves a container that is not running, nor a build step nobody waits for.
    let state_root = root.join("runtime");
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(p.path().join("cmdline")) else { continue };
        let args: Vec<String> = cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
        if value("--state-root").map(PathBuf::from) != Some(state_root.clone()) || value("--exec-dir").is_some() {
            continue;
        }
        let dir = PathBuf::from(value("--dir").unwrap_or_default());
        let owner = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let zombie = std::fs::read_to_string(p.path().join("stat")).is_ok_and(|s| s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z')));
        if !zombie && !running.contains(&owner) {
            return Err(format!("a shim serves {} which does not run", dir.display()));
        }
    }
    // No cgroup of a container that does not run (v1 hierarchies, as on this machine, and cgroup2).
    let all: Vec<String> = stdout(&d.berth(&["ps", "-aq", "--no-trunc"])).split_whitespace().map(str::to_string).collect();
    f.seen.borrow_mut().extend(all);
    for id in f.seen.borrow().iter().filter(|id| !running.contains(id)) {
        for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
            let dir = hierarchy.path().join(format!("berth-{id}"));
            if dir.exists() {
                return Err(format!("cgroup {} of a container that does not run", dir.display()));
            }
        }
    }
    // One veth on the test's bridge per running container (all of them use the default bridge).
    let links = Command::new("ip").args(["-o", "link", "show", "master", &d.net.bridge()]).output().unwrap();
    let veths = stdout(&links).lines().count();
    if veths != running.len() {
        return Err(format!("{veths} veths on {} for {} running containers:\n{}", d.net.bridge(), running.len(), stdout(&links)));
    }
    // The running container's interfaces are the networks it is recorded on, with their addresses,
    // and the test network's bridge has its veth exactly when it is connected.
    let recorded = stdout(&d.berth(&["inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}", "keeper"]));
    let addrs = stdout(&d.berth(&["exec", "keeper", "ip", "-o", "-4", "addr", "show"]));
    let inside: Vec<&str> = addrs.lines().filter(|l| l.contains(" eth")).collect();
    let nets: Vec<(&str, &str)> = recorded.split_whitespace().filter_map(|x| x.split_once('=')).collect();
    if inside.len() != nets.len() || nets.iter().any(|(_, ip)| ip.is_empty() || !inside.iter().any(|l| l.contains(&format!(" {ip}/")))) {
        return Err(format!("keeper is recorded on {recorded:?} but has the interfaces {inside:?}"));
    }
    let on_fnet = Command::new("ip").args(["-o", "link", "show", "master", &format!("btf{}", d.net.octet)]).output().unwrap();
    let connected = nets.iter().any(|(n, _)| *n == "fnet");
    if stdout(&on_fnet).lines().count() != usize::from(connected) {
        return Err(format!("fnet's bridge has {} veths, keeper {} connected", stdout(&on_fnet).lines().count(), if connected { "is" } else { "is not" }));
    }
    // The daemon's own consistency check (blobs, references, snapshots, records, leftovers) is clean.
    let o = d.berth(&["system", "check", "--quick"]);
    if !o.status.success() {
        return Err(format!("system check found problems:\n{}{}", stdout(&o), stderr(&o)));
    }
    let o = d.berth(&["exec", "keeper", "cat", "/data/one"]);
    if !o.status.success() || stdout(&o) != String::from_utf8_lossy(&f.canary_tree[Path::new("one")]) {
        return Err(format!("the running container does not answer exec: {}", stderr(&o)));
    }
    let o = d.berth(&["logs", "keeper"]);
    if !o.status.success() || !stdout(&o).contains("keeper up") {
        return Err(format!("the running container's logs are lost: {}{}", stdout(&o), stderr(&o)));
    }
    for id in stdout(&d.berth(&["images", "-q", "--no-trunc"])).split_whitespace() {
        let o = d.berth(&["save", "-o", "/dev/null", id]);
        if !o.status.success() {
            return Err(format!("image {id} is incomplete: {}", stderr(&o)));
        }
    }
    Ok(())
}

fn wait_check(d: &Daemon, f: &Fixture) -> Result<(), String> {
    // Recovery finishes some things in the background (a removal, a rolled-back start's network).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match check(d, f) {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Puts back what an iteration may leave, so the next one starts alike (failures are fine here:
/// the object may be gone already).
fn tidy(d: &Daemon, op: &str, i: usize, registry: &str) {
    let rm = |n: &str| {
        let _ = d.berth(&["rm", "-f", n]);
    };
    let rmi = |n: &str| {
        let _ = d.berth(&["rmi", "-f", n]);
    };
    match op {
        "start" => rm(&format!("st{i}")),
        "create" => {
            let _ = d.berth(&["rm", "-f", "-v", &format!("cr{i}")]);
        }
        "stop" => rm(&format!("sp{i}")),
        "volume-create" => {
            let _ = d.berth(&["volume", "rm", "-f", &format!("vc{i}")]);
        }
        "net-create" => {
            let _ = d.berth(&["network", "rm", &format!("nc{i}")]);
        }
        "net-rm" => {
            let _ = d.berth(&["network", "rm", &format!("nr{i}")]);
        }
        "shim-start" => rm(&format!("ss{i}")),
        "rm" => rm(&format!("rm{i}")),
        "rmi" => rmi(&format!("rmi:{i}")),
        "commit" => rmi(&format!("commit:{i}")),
        "load" => rmi(&format!("load:{i}")),
        "volume-rm" => {
            let _ = d.berth(&["volume", "rm", "-f", &format!("vol{i}")]);
        }
        "build" => rmi(&format!("built:{i}")),
        "push" => rmi(&format!("{registry}/push:{i}")),
        "pull" => rmi(&format!("{registry}/pull:{i}")),
        _ => {}
    }
}

/// Operations under which a shim, not the daemon, is killed.
const SHIM_OPERATIONS: [&str; 2] = ["shim-start", "shim-exec"];

const OPERATIONS: [&str; 23] = [
    "create",
    "cp-into-stopped",
    "cp-out-of-stopped",
    "cp-into-running",
    "cp-out-of-running",
    "start",
    "stop",
    "exec",
    "rm",
    "rmi",
    "commit",
    "load",
    "volume-create",
    "volume-rm",
    "build",
    "push",
    "pull",
    "shim-start",
    "shim-exec",
    "net-create",
    "net-rm",
    "net-connect",
    "net-disconnect",
];

#[test]
fn sigkill_at_random_points_loses_nothing_and_leaks_nothing() {
    let seed = env_u64("BERTH_FAULT_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    let iterations = env_u64("BERTH_FAULT_ITERATIONS").unwrap_or(2) as usize;
    let only = std::env::var("BERTH_FAULT_OPS").ok();
    eprintln!("fault injection: seed {seed}, {iterations} kills per operation (replay with BERTH_FAULT_SEED={seed})");
    let mut rng = Rng(seed);
    let mut d = with_busybox();
    let _u = Unmounter(d.root());
    let work = tempfile::tempdir().unwrap();
    let canary = work.path().join("canary");
    std::fs::create_dir_all(canary.join("sub")).unwrap();
    std::fs::write(canary.join("one"), "the user's data\n").unwrap();
    random_file(&canary.join("sub/two"), 64 << 10, &mut rng);
    let big = work.path().join("big");
    random_file(&big, 24 << 20, &mut rng);
    let ctx = work.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::copy(&big, ctx.join("big")).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nCOPY big /big\nRUN md5sum /big > /sum && cp /big /copy\n").unwrap();
    let registry = Registry::opts().root(work.path()).log_level("error").start();
    let f = Fixture { seen: Default::default(), canary_tree: tree(&canary), canary, big, ctx, registry: registry.addr.clone(), work };
    d.berth_ok(&["network", "create", "--subnet", &d.net.subnet(7), "-o", &format!("com.docker.network.bridge.name=btf{}", d.net.octet), "fnet"]);
    d.berth_ok(&["run", "-d", "--name", "keeper", "-v", &f.bind(), "busybox", "sh", "-c", "echo keeper up; exec sleep 1000000"]);
    // The data root's size with the base image and the long-running container: where it must come
    // back to once everything the operations made is removed.
    let size_before = du(&d.root());
    let mut kills = BTreeMap::new();
    for op in OPERATIONS.iter().filter(|o| only.as_ref().is_none_or(|l| l.split(',').any(|x| x == **o))) {
        for i in 0..iterations {
            let (args, max_delay) = prepare(&d, &f, op, i, &mut rng);
            let delay = rng.below(max_delay);
            let mut client = spawn(&d, &args);
            std::thread::sleep(Duration::from_millis(delay));
            let victim = if SHIM_OPERATIONS.contains(op) {
                // The shim of the container being started, or of the exec, dies; the daemon lives on.
                let pids = if *op == "shim-exec" { shims_of(&d.root(), "exec", true) } else { shims_of(&d.root(), &container_id(&d, &format!("ss{i}")), false) };
                for pid in &pids {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), nix::sys::signal::Signal::SIGKILL);
                }
                let _ = client.wait();
                format!("{} shim(s)", pids.len())
            } else {
                d.kill9();
                let _ = client.kill();
                let _ = client.wait();
                d.restart();
                "the daemon".to_string()
            };
            if let Err(e) = wait_check(&d, &f) {
                panic!("seed {seed}: after SIGKILL of {victim} {delay} ms into `berth {}` (iteration {i}): {e}", args.join(" "));
            }
            tidy(&d, op, i, &f.registry);
            *kills.entry(*op).or_insert(0) += 1;
        }
    }
    eprintln!("fault injection: seed {seed}, kills per operation: {kills:?}");
    // After all that, everything still works end to end.
    d.berth_ok(&["stop", "-t", "1", "keeper"]);
    d.berth_ok(&["rm", "keeper"]);
    let o = d.berth_ok(&["run", "--rm", "-v", &f.bind(), "busybox", "cat", "/data/one"]);
    assert_eq!(o, "the user's data\n");
    // Removing everything the operations made gives the space back (a few KB of records aside).
    for id in stdout(&d.berth(&["ps", "-aq", "--no-trunc"])).split_whitespace() {
        d.berth_ok(&["rm", "-f", id]);
    }
    d.berth_ok(&["run", "-d", "--name", "keeper", "-v", &f.bind(), "busybox", "sh", "-c", "echo keeper up; exec sleep 1000000"]);
    for img in stdout(&d.berth(&["images", "--format", "{{.Repository}}:{{.Tag}}"])).split_whitespace() {
        if img != "busybox:latest" && !img.contains("<none>") {
            d.berth_ok(&["rmi", "-f", img]);
        }
    }
    d.berth_ok(&["volume", "prune", "-af"]);
    d.berth_ok(&["image", "prune", "-af"]);
    d.berth_ok(&["builder", "prune", "-af"]);
    let size_after = du(&d.root());
    assert!(
        size_after <= size_before + (512 << 10),
        "seed {seed}: the data root grew from {size_before} to {size_after} bytes after removing everything the operations made"
    );
}

/// The full id of container `name` (empty if it does not exist).
fn container_id(d: &Daemon, name: &str) -> String {
    stdout(&d.berth(&["inspect", "--format", "{{.Id}}", name])).trim().to_string()
}

/// Bytes used under `dir` (`du -sb`, every file once).
fn du(dir: &Path) -> u64 {
    let o = Command::new("du").args(["-sb", "-x"]).arg(dir).output().unwrap();
    stdout(&o).split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(0)
}
