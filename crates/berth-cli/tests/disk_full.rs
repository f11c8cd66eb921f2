//! A data root that fills up (a small loop-mounted ext4): every operation that writes fails with
//! "no space left on device", nothing half-written becomes visible, and once space is freed
//! everything works again.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A daemon whose data root is a fresh 400 MB ext4 on a loop device; unmounted when dropped.
struct FullDisk {
    dir: tempfile::TempDir,
    sock: PathBuf,
    net: NetSlot,
    child: Option<Child>,
    registry: Option<Registry>,
}

impl FullDisk {
    fn start() -> FullDisk {
        let dir = tempfile::Builder::new().prefix("berth-test-").tempdir().unwrap();
        let image = dir.path().join("disk.img");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir_all(&mnt).unwrap();
        let f = std::fs::File::create(&image).unwrap();
        f.set_len(400 << 20).unwrap();
        drop(f);
        run_ok("mkfs.ext4", &["-q", "-F", "-m", "0", image.to_str().unwrap()]);
        run_ok("mount", &["-o", "loop", image.to_str().unwrap(), mnt.to_str().unwrap()]);
        let sock = dir.path().join("berth.sock");
        let net = NetSlot::claim();
        let mut fd = FullDisk { dir, sock, net, child: None, registry: None };
        fd.child = Some(spawn_daemon(&fd.root(), &fd.sock, &fd.net, &[]));
        assert!(wait_unix(&fd.sock, Duration::from_secs(20)), "daemon did not come up");
        fd
    }

    fn mnt(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }

    fn root(&self) -> PathBuf {
        self.mnt().join("root")
    }

    fn berth(&self, args: &[&str]) -> Output {
        Command::new(BERTH).args(args).env("BERTH_HOST", format!("unix://{}", self.sock.display())).stdin(Stdio::null()).output().unwrap()
    }

    fn berth_ok(&self, args: &[&str]) -> String {
        let o = self.berth(args);
        assert!(o.status.success(), "berth {args:?} failed: {}", stderr(&o));
        stdout(&o)
    }

    /// Runs `berth ARGS`, which must fail for lack of space, with one clear line.
    fn berth_enospc(&self, args: &[&str]) {
        let o = self.berth(args);
        assert!(!o.status.success(), "berth {args:?} succeeded on a full disk");
        let err = stderr(&o);
        assert!(err.to_lowercase().contains("no space left on device"), "berth {args:?}: {err}");
    }

    /// Fills the filesystem to the last block.
    fn fill(&self) {
        let filler = self.mnt().join("filler");
        let df = Command::new("df").args(["--output=avail", "-B1"]).arg(self.mnt()).output().unwrap();
        let avail: u64 = stdout(&df).lines().nth(1).and_then(|l| l.trim().parse().ok()).expect("df avail");
        if avail > 1 << 20 {
            run_ok("fallocate", &["-l", &(avail - (1 << 20)).to_string(), filler.to_str().unwrap()]);
        }
        // The last partial megabyte, then whatever blocks remain.
        for i in 0..64 {
            let _ = Command::new("dd").args(["if=/dev/zero", &format!("of={}", self.mnt().join(format!("filler-{i}")).display()), "bs=4k"]).stderr(Stdio::null()).status();
        }
    }

    fn free(&self) {
        for e in std::fs::read_dir(self.mnt()).unwrap().flatten() {
            if e.file_name().to_string_lossy().starts_with("filler") {
                std::fs::remove_file(e.path()).unwrap();
            }
        }
    }
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        drop(self.registry.take());
        if let Some(mut c) = self.child.take() {
            let ids = self.berth(&["ps", "-aq", "--no-trunc"]);
            for id in stdout(&ids).split_whitespace() {
                let _ = self.berth(&["rm", "-f", id]);
            }
            if !terminate(&mut c, Duration::from_secs(10)).is_some_and(|st| st.success()) {
                remove_network_leftovers(&self.root(), &self.net.bridge());
            }
        }
        let _ = Command::new("umount").arg("-l").arg(self.mnt()).status();
    }
}

fn run_ok(cmd: &str, args: &[&str]) {
    let st = Command::new(cmd).args(args).status().unwrap();
    assert!(st.success(), "{cmd} {args:?}");
}

/// A tar of one file of `mb` MB of incompressible bytes.
fn big_tar(dir: &Path, name: &str, mb: usize) -> PathBuf {
    let path = dir.join(format!("{name}.tar"));
    let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
    let mut data = vec![0u8; mb << 20];
    let mut x: u64 = 0x9e3779b97f4a7c15 ^ name.len() as u64;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    b.append_data(&mut h, name, &data[..]).unwrap();
    b.into_inner().unwrap();
    path
}

fn blobs(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root.join("content/blobs/sha256")).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn images(fd: &FullDisk) -> String {
    fd.berth_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
}

#[test]
fn a_full_data_root_fails_writes_cleanly_and_recovers_once_space_is_freed() {
    let mut fd = FullDisk::start();
    let work = tempfile::tempdir().unwrap();
    fd.berth_ok(&["import", "-c", "CMD [\"/bin/sh\"]", busybox_tarball().to_str().unwrap(), "busybox:latest"]);
    // What the operations below need, made while there is room.
    let big = big_tar(work.path(), "big", 40);
    let payload = work.path().join("payload");
    std::fs::create_dir_all(&payload).unwrap();
    run_ok("tar", &["-xf", big.to_str().unwrap(), "-C", payload.to_str().unwrap()]);
    let ctx = work.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::copy(payload.join("big"), ctx.join("big")).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nCOPY big /big\n").unwrap();
    fd.berth_ok(&["import", big.to_str().unwrap(), "payload:1"]);
    let saved = work.path().join("saved.tar");
    fd.berth_ok(&["save", "-o", saved.to_str().unwrap(), "payload:1"]);
    // A local registry (outside the full disk) holding the payload image.
    let reg = fd.registry.insert(Registry::opts().root(work.path()).start());
    let remote = format!("{}/payload:1", reg.addr);
    fd.berth_ok(&["tag", "payload:1", &remote]);
    fd.berth_ok(&["push", &remote]);
    fd.berth_ok(&["rmi", &remote, "payload:1"]);
    fd.berth_ok(&["create", "--name", "box", "busybox", "true"]);
    fd.berth_ok(&["cp", payload.join("big").to_str().unwrap(), "box:/big"]);
    let before_blobs = blobs(&fd.root());
    let before_images = images(&fd);

    fd.fill();
    fd.berth_enospc(&["import", big.to_str().unwrap(), "payload:imported"]);
    fd.berth_enospc(&["load", "-i", saved.to_str().unwrap()]);
    fd.berth_enospc(&["pull", &remote]);
    fd.berth_enospc(&["commit", "box", "committed:1"]);
    fd.berth_enospc(&["cp", payload.join("big").to_str().unwrap(), "box:/big2"]);
    fd.berth_enospc(&["build", "-t", "built:1", ctx.to_str().unwrap()]);
    // Nothing half-written is visible: no new image, no new blob.
    assert_eq!(images(&fd), before_images);
    assert_eq!(blobs(&fd.root()), before_blobs);
    let o = fd.berth(&["cp", "box:/big2", "-"]);
    assert!(!o.status.success(), "a partial copy is visible in the container");

    // A restart on the full disk loses nothing either.
    let mut c = fd.child.take().unwrap();
    let _ = c.kill();
    let _ = c.wait();
    fd.child = Some(spawn_daemon(&fd.root(), &fd.sock, &fd.net, &[]));
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::os::unix::net::UnixStream::connect(&fd.sock).is_err() {
        assert!(Instant::now() < deadline, "daemon did not come up on the full disk");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(images(&fd), before_images);

    fd.free();
    fd.berth_ok(&["import", big.to_str().unwrap(), "payload:imported"]);
    fd.berth_ok(&["rmi", "payload:imported"]);
    fd.berth_ok(&["load", "-i", saved.to_str().unwrap()]);
    fd.berth_ok(&["rmi", "payload:1"]);
    fd.berth_ok(&["pull", &remote]);
    fd.berth_ok(&["rmi", &remote]);
    fd.berth_ok(&["commit", "box", "committed:1"]);
    fd.berth_ok(&["cp", payload.join("big").to_str().unwrap(), "box:/big2"]);
    fd.berth_ok(&["build", "-t", "built:1", ctx.to_str().unwrap()]);
    let all = images(&fd);
    for want in ["busybox:latest", "committed:1", "built:1"] {
        assert!(all.contains(want), "{want} missing: {all}");
    }
    let out = fd.berth_ok(&["run", "--rm", "committed:1", "ls", "-l", "/big"]);
    assert!(out.contains(&(40u64 << 20).to_string()), "{out}");
    // And the stores are whole (every blob's digest), with nothing left over.
    let check = fd.berth(&["system", "check"]);
    assert!(check.status.success(), "{}{}", stdout(&check), stderr(&check));
}
