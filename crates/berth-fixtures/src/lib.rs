//! Root filesystems for tests, made by the project itself and cached under the workspace's
//! `target/fixtures/` (or `$BERTH_FIXTURES`): nothing outside the repository is read. The work is done by
//! `scripts/fixtures.sh`, which the demo and the benchmarks use too, and which serialises concurrent
//! callers with a lock, so parallel test binaries make each fixture once.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root: above the package `cargo test` runs (its `CARGO_MANIFEST_DIR` at run time),
/// else where this crate was built (`<root>/crates/berth-fixtures`). The run-time path comes
/// first because a build directory copied to another checkout keeps the compile-time one.
pub fn workspace_root() -> PathBuf {
    let is_root = |p: &Path| p.join("scripts/fixtures.sh").is_file();
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        if let Some(root) = Path::new(&dir).ancestors().find(|p| is_root(p)) {
            return root.to_path_buf();
        }
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.ancestors().nth(2).expect("crates/berth-fixtures sits two levels below the workspace root").to_path_buf()
}

fn fixture(name: &str) -> PathBuf {
    let root = workspace_root();
    let out = Command::new("bash")
        .arg(root.join("scripts/fixtures.sh"))
        .arg(name)
        .output()
        .unwrap_or_else(|e| panic!("run scripts/fixtures.sh {name}: {e}"));
    assert!(out.status.success(), "scripts/fixtures.sh {name} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(path.is_file(), "scripts/fixtures.sh {name} printed {}, which is not a file", path.display());
    path
}

/// `busybox-rootfs.tar.gz`: the host's static BusyBox at `/bin/busybox` with every applet linked,
/// minimal `/etc/passwd` and `/etc/group`, `/tmp` (1777); numeric owners, uid 0. Made on first use.
pub fn busybox_rootfs() -> PathBuf {
    fixture("busybox")
}

/// `busybox-dynamic.tar.gz`: Debian's dynamically linked BusyBox at `bin/busybox` with the libraries
/// it links; unlike the static one, its shell runs commands by looking them up in `PATH`, as the
/// BusyBox image's does. Made on first use (a package download), then cached.
pub fn busybox_dynamic() -> PathBuf {
    fixture("busybox-dynamic")
}

/// `debian-bookworm-minbase.tar.xz`: Debian 12 minbase made with mmdebstrap from the mirror apt uses.
/// Made on first use (a minute or two), then cached.
pub fn debian_rootfs() -> PathBuf {
    fixture("debian")
}
