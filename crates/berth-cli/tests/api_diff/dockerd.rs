//! A private dockerd (Debian's docker.io, API 1.41) for the differential harness: its own data root,
//! exec root, pidfile, socket, cgroup parent and a bridge the harness creates on its own /16 (from a
//! [`NetSlot`], like Berth's test daemons), with `--iptables=false` so it never touches the host's
//! firewall. Everything it made (containers, containerd, mounts, the bridge, cgroups) is removed on
//! drop, pass or fail.

use crate::common::NetSlot;
use crate::wire;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Dockerd {
    pub dir: tempfile::TempDir,
    pub sock: PathBuf,
    /// The second octet of this dockerd's 10.x.0.0/16.
    pub octet: u8,
    child: Option<Child>,
    bridge: String,
    cgroup_parent: String,
    _net: NetSlot,
}

impl Dockerd {
    /// Starts dockerd and waits for `/_ping`; `None` when dockerd is not installed.
    pub fn start() -> Option<Dockerd> {
        if Command::new("dockerd").arg("--version").output().is_err() {
            return None;
        }
        let dir = tempfile::Builder::new().prefix("berth-apidiff-").tempdir().expect("tempdir");
        let net = NetSlot::claim();
        let bridge = format!("bdd{}", net.octet);
        let cgroup_parent = format!("berth-apidiff-{}", net.octet);
        let _ = Command::new("ip").args(["link", "del", &bridge]).output();
        run(&["ip", "link", "add", &bridge, "type", "bridge"]);
        run(&["ip", "addr", "add", &format!("10.{}.0.1/24", net.octet), "dev", &bridge]);
        run(&["ip", "link", "set", &bridge, "up"]);
        let sock = dir.path().join("docker.sock");
        let log = std::fs::File::create(dir.path().join("dockerd.log")).expect("dockerd log");
        // Never the host's /etc/docker/daemon.json.
        std::fs::write(dir.path().join("daemon.json"), "{}").expect("daemon.json");
        let child = Command::new("dockerd")
            .arg("--data-root")
            .arg(dir.path().join("root"))
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .arg("--pidfile")
            .arg(dir.path().join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .args(["--bridge", &bridge, "--iptables=false", "--ip-masq=false", "--cgroup-parent", &cgroup_parent])
            .args(["--containerd-namespace", &format!("apidiff{}", net.octet)])
            .args(["--containerd-plugins-namespace", &format!("apidiff{}p", net.octet)])
            .arg("--config-file")
            .arg(dir.path().join("daemon.json"))
            .args(["--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn dockerd");
        let mut d = Dockerd { dir, sock, octet: net.octet, child: Some(child), bridge, cgroup_parent, _net: net };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if d.sock.exists() && std::os::unix::net::UnixStream::connect(&d.sock).is_ok() && wire::request(&d.sock, "GET", "/_ping", None, b"").status == 200 {
                return Some(d);
            }
            let exited = d.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
            if exited || Instant::now() > deadline {
                let log = std::fs::read_to_string(d.dir.path().join("dockerd.log")).unwrap_or_default();
                panic!("dockerd did not come up (exited: {exited}):\n{log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }
}

fn run(argv: &[&str]) {
    let o = Command::new(argv[0]).args(&argv[1..]).output().expect(argv[0]);
    assert!(o.status.success(), "{argv:?}: {}", String::from_utf8_lossy(&o.stderr));
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // Containers first (dockerd would stop them at shutdown, but not remove their cgroups' parent).
        let list = wire::request(&self.sock, "GET", "/containers/json?all=1", None, b"");
        if let Ok(serde_json::Value::Array(cs)) = serde_json::from_slice(&list.body) {
            for c in cs {
                if let Some(id) = c["Id"].as_str() {
                    let _ = wire::request(&self.sock, "DELETE", &format!("/containers/{id}?force=1&v=1"), None, b"");
                }
            }
        }
        let containerd_pid = std::fs::read_to_string(self.root().join("exec/containerd/containerd.pid")).ok();
        if let Some(mut c) = self.child.take() {
            crate::common::terminate(&mut c, Duration::from_secs(30));
        }
        // The containerd dockerd supervised: gone with a clean stop; killed by pid if it is still there.
        if let Some(pid) = containerd_pid.and_then(|p| p.trim().parse::<i32>().ok()) {
            let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if cmdline.contains(&self.root().display().to_string()) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
        // Mounts left under the data root, deepest first.
        let prefix = self.root().display().to_string();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut points: Vec<&str> = mounts.lines().filter_map(|l| l.split(' ').nth(4)).filter(|p| p.starts_with(&prefix)).collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            let _ = nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = Command::new("ip").args(["link", "del", &self.bridge]).output();
        // The cgroup parent in every hierarchy (v1 controllers and the unified one).
        if let Ok(hs) = std::fs::read_dir("/sys/fs/cgroup") {
            for h in hs.flatten() {
                let dir = h.path().join(&self.cgroup_parent);
                if dir.is_dir() {
                    remove_cgroup_tree(&dir);
                }
            }
        }
        let top = Path::new("/sys/fs/cgroup").join(&self.cgroup_parent);
        if top.is_dir() {
            remove_cgroup_tree(&top);
        }
    }
}

fn remove_cgroup_tree(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}
