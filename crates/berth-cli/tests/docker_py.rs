//! The Python Docker SDK (docker-py, Debian's python3-docker) against Berth, as a third-party client.

mod common;
use common::*;

#[test]
fn docker_py_drives_networks_volumes_ports_and_archives() {
    let d = with_busybox();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/sdk_networks_volumes.py");
    let o = std::process::Command::new("/usr/bin/python3")
        .arg(&script)
        .arg(d.host())
        .arg(d.net.subnet(10))
        .output()
        .expect("python3 with python3-docker (installed by scripts/setup.sh)");
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "ok");
}

/// Exec stream framing, `detachKeys`, anonymous volumes, free-text network names, IPAM auxiliary
/// addresses and the builder's stderr colouring, as docker-py's own integration suite checks them.
#[test]
fn docker_py_sees_dockerd_details_of_exec_volumes_networks_and_build() {
    let d = with_busybox();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/sdk_engine_details.py");
    let o = std::process::Command::new("/usr/bin/python3")
        .arg(&script)
        .arg(d.host())
        .arg(d.net.subnet(10))
        .output()
        .expect("python3 with python3-docker (installed by scripts/setup.sh)");
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "ok");
}
