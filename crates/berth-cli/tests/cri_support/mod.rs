//! What the CRI suites share: the CRI tools from `tools/cri-tools/` (unpacked once into
//! `target/cri-tools/`), a test daemon serving the CRI beside the Engine API, with a stand-in
//! pause image made from the BusyBox fixture, its pods networked by Debian's CNI plugins
//! (`containernetworking-plugins`, in /usr/lib/cni) through a test-local configuration (a bridge
//! and subnet of the test's own network slot), and crictl against it.
#![allow(dead_code)]

use super::common::{stderr, stdout, Daemon};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The sandbox image the test daemons are configured with (made locally from BusyBox).
pub const PAUSE: &str = "berth-test.local/pause:3.9";

/// `tools/cri-tools/<name>` unpacked (xz) into `target/cri-tools/<name>`, made once and renamed
/// into place, so parallel tests never run a half-written binary.
pub fn tool(name: &str) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out_dir = repo.join("target/cri-tools");
    let out = out_dir.join(name);
    if out.exists() {
        return out;
    }
    std::fs::create_dir_all(&out_dir).expect("create target/cri-tools");
    let src = repo.join("tools/cri-tools").join(format!("{name}.xz"));
    let f = std::fs::File::open(&src).unwrap_or_else(|e| panic!("open {}: {e}", src.display()));
    let tmp = out_dir.join(format!(".{name}.{}.{:?}", std::process::id(), std::thread::current().id()));
    let mut w = std::fs::File::create(&tmp).expect("create tool");
    std::io::copy(&mut xz2::read::XzDecoder::new(f), &mut w).expect("unpack tool");
    drop(w);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).expect("chmod tool");
    std::fs::rename(&tmp, &out).expect("rename tool");
    out
}

/// Where Debian's containernetworking-plugins are.
pub const CNI_PLUGINS: &str = "/usr/lib/cni";

/// A test daemon with the CRI on `<tmp>/cri.sock`, BusyBox imported as `busybox:latest` and the
/// stand-in pause image (BusyBox sleeping until killed). Its CNI configuration directory is
/// `<tmp>/cni/net.d` (holding [`CriDaemon::default_conflist`] unless the test writes another), its
/// plugin path `<tmp>/cni/bin` (for a test's own plugins) then /usr/lib/cni.
pub struct CriDaemon {
    pub d: Daemon,
    pub cri: PathBuf,
    /// `<tmp>/cni`: `net.d/`, `bin/`, `ipam/` (host-local's store).
    pub cni: PathBuf,
}

impl CriDaemon {
    pub fn start(extra: &[&str]) -> CriDaemon {
        CriDaemon::start_with(PAUSE, extra)
    }

    /// A CRI daemon whose sandbox image is `sandbox_image` (the stand-in is made when it is [`PAUSE`]).
    pub fn start_with(sandbox_image: &str, extra: &[&str]) -> CriDaemon {
        let dir = tempfile::Builder::new().prefix("berth-cri-").tempdir().expect("tempdir");
        // The socket path must stay short (108 bytes): beside the daemon's own socket is fine.
        let cri = dir.path().join("cri.sock");
        let cni = dir.path().join("cni");
        for sub in ["net.d", "bin", "ipam"] {
            std::fs::create_dir_all(cni.join(sub)).expect("create the test's CNI dirs");
        }
        assert!(Path::new(CNI_PLUGINS).join("bridge").exists(), "Debian's containernetworking-plugins are not installed (scripts/setup.sh)");
        let mut args: Vec<String> = vec!["--cri-socket".into(), cri.display().to_string(), "--cri-sandbox-image".into(), sandbox_image.into()];
        args.extend(["--cni-conf-dir".into(), cni.join("net.d").display().to_string()]);
        args.extend(["--cni-bin-dir".into(), format!("{}:{CNI_PLUGINS}", cni.join("bin").display())]);
        args.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let d = Daemon::start_with(&refs);
        let bb = berth_fixtures::busybox_rootfs();
        d.berth_ok(&["import", "-c", "CMD [\"/bin/sh\"]", bb.to_str().unwrap(), "busybox:latest"]);
        d.berth_ok(&["tag", "busybox:latest", "docker.io/library/busybox:1.36"]);
        if sandbox_image == PAUSE {
            d.berth_ok(&["import", "-c", "ENTRYPOINT [\"/bin/sleep\", \"2147483647\"]", bb.to_str().unwrap(), PAUSE]);
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !cri.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // Keep the socket's directory for the daemon's lifetime.
        std::mem::forget(dir);
        let c = CriDaemon { d, cri, cni };
        c.write_conflist(&c.default_conflist());
        c
    }

    /// This test's CNI bridge (its network slot's octet: unique among running tests).
    pub fn cni_bridge(&self) -> String {
        format!("btc{}", self.d.net.octet)
    }

    /// This test's pod subnet, a /24 of its network slot.
    pub fn cni_subnet(&self) -> String {
        self.d.net.subnet(200)
    }

    /// The bridge's (the pods' gateway's) address.
    pub fn cni_gateway(&self) -> String {
        format!("10.{}.200.1", self.d.net.octet)
    }

    /// host-local's store of this test's network.
    pub fn ipam_dir(&self) -> PathBuf {
        self.cni.join("ipam/berth-test-pods")
    }

    /// bridge (with host-local on the test's subnet), firewall (accepts the pods' traffic whatever
    /// the FORWARD policy) and portmap: what containerd's example configuration has.
    pub fn default_conflist(&self) -> serde_json::Value {
        serde_json::json!({
            "cniVersion": "1.0.0",
            "name": "berth-test-pods",
            "plugins": [
                {
                    "type": "bridge", "bridge": self.cni_bridge(), "isGateway": true, "ipMasq": false, "hairpinMode": true,
                    "ipam": {"type": "host-local", "dataDir": self.cni.join("ipam").display().to_string(),
                             "ranges": [[{"subnet": self.cni_subnet()}]], "routes": [{"dst": "0.0.0.0/0"}]}
                },
                {"type": "firewall", "backend": "iptables"},
                {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}
            ]
        })
    }

    /// Replaces the CNI configuration (read afresh by the daemon on each use).
    pub fn write_conflist(&self, list: &serde_json::Value) {
        let dir = self.cni.join("net.d");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("10-berth-test.conflist"), serde_json::to_vec_pretty(list).unwrap()).unwrap();
    }

    /// Puts an executable plugin `name` (a shell script) in the test's plugin directory.
    pub fn write_plugin(&self, name: &str, script: &str) {
        use std::os::unix::fs::PermissionsExt;
        let p = self.cni.join("bin").join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.cri.display())
    }

    /// `crictl ARGS` against this daemon.
    pub fn crictl(&self, args: &[&str]) -> Output {
        // A config file of its own: crictl warns on stderr when it finds none.
        let config = self.cri.with_file_name("crictl.yaml");
        if !config.exists() {
            let text = format!("runtime-endpoint: {0}\nimage-endpoint: {0}\ntimeout: 60\n", self.endpoint());
            std::fs::write(&config, text).expect("write crictl.yaml");
        }
        Command::new(tool("crictl"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run crictl")
    }

    /// `crictl ARGS`, which must succeed; its stdout.
    pub fn crictl_ok(&self, args: &[&str]) -> String {
        let o = self.crictl(args);
        assert!(o.status.success(), "crictl {args:?} failed: {}{}", stdout(&o), stderr(&o));
        stdout(&o)
    }
}

impl Drop for CriDaemon {
    fn drop(&mut self) {
        // The pods' networks go through the CRI (CNI DEL: addresses, veths, port mapping and
        // firewall rules), before the daemon's own clean-up removes the containers.
        if !self.d.is_running() {
            self.d.restart();
        }
        // DEL uses each pod's own saved configuration, whatever the test left in net.d.
        let _ = self.crictl(&["rmp", "--force", "--all"]);
        let _ = Command::new("ip").args(["link", "del", &self.cni_bridge()]).stderr(Stdio::null()).status();
        // A namespace a failed teardown left would keep the temp dir from going.
        for e in std::fs::read_dir(self.d.root().join("cri/netns")).into_iter().flatten().flatten() {
            let _ = nix::mount::umount2(&e.path(), nix::mount::MntFlags::MNT_DETACH);
        }
        if let Some(dir) = self.cri.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
