//! The Python Docker SDK (docker-py, Debian's python3-docker) against Berth, as a third-party client.

mod common;
use common::*;

/// Runs `tests/py/SCRIPT` with the installed SDK against a daemon with BusyBox; it prints `ok`.
fn run_sdk_script(script: &str) {
    let d = with_busybox();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py").join(script);
    let o = std::process::Command::new("/usr/bin/python3")
        .arg(&script)
        .arg(d.host())
        .arg(d.net.subnet(10))
        .output()
        .expect("python3 with python3-docker (installed by scripts/setup.sh)");
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "ok");
}

#[test]
fn docker_py_drives_networks_volumes_ports_and_archives() {
    run_sdk_script("sdk_networks_volumes.py");
}

/// Exec stream framing, `detachKeys`, anonymous volumes, free-text network names, IPAM auxiliary
/// addresses, a commit racing an exit, a restart policy's back-off (`restarting`) and the builder's
/// stderr colouring, as docker-py's own integration suite checks them.
#[test]
fn docker_py_sees_dockerd_details_of_exec_volumes_networks_and_build() {
    run_sdk_script("sdk_engine_details.py");
}
