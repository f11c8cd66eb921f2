//! What the CRI suites share: the CRI tools from `tools/cri-tools/` (unpacked once into
//! `target/cri-tools/`), a test daemon serving the CRI beside the Engine API, with a stand-in
//! pause image made from the BusyBox fixture, and crictl against it.
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

/// A test daemon with the CRI on `<tmp>/cri.sock`, BusyBox imported as `busybox:latest` and the
/// stand-in pause image (BusyBox sleeping until killed).
pub struct CriDaemon {
    pub d: Daemon,
    pub cri: PathBuf,
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
        let mut args: Vec<String> = vec!["--cri-socket".into(), cri.display().to_string(), "--cri-sandbox-image".into(), sandbox_image.into()];
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
        CriDaemon { d, cri }
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
        if let Some(dir) = self.cri.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
