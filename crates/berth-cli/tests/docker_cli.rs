//! The stock docker CLI against Berth, as a user runs it.

mod common;
use common::*;

#[test]
fn docker_cli_image_workflow() {
    let d = Daemon::start();
    let bb = busybox_tarball();
    let id = d.docker_ok(&["import", "-c", "CMD [\"/bin/sh\"]", bb.to_str().unwrap(), "busybox:latest"]).trim().to_string();
    assert!(id.starts_with("sha256:"), "{id}");

    let out = d.docker_ok(&["images"]);
    let row: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..3], ["busybox", "latest", &id[7..19]]);

    let v: serde_json::Value = serde_json::from_str(&d.docker_ok(&["inspect", "busybox"])).unwrap();
    assert_eq!(v[0]["Id"], id);
    assert_eq!(v[0]["Config"]["Cmd"][0], "/bin/sh");
    assert_eq!(d.docker_ok(&["image", "inspect", "-f", "{{.Os}}/{{.Architecture}}", "busybox"]).trim(), format!("linux/{}", arch()));

    d.docker_ok(&["tag", "busybox", "registry.local:5000/team/app:2"]);
    let tags = d.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(tags.contains("registry.local:5000/team/app:2") && tags.contains("busybox:latest"), "{tags}");

    let hist = d.docker_ok(&["history", "--no-trunc", "busybox"]);
    assert!(hist.contains(&id) && hist.contains("Imported from -"), "{hist}");

    // save → load on a second daemon: the same image id.
    let archive = d.dir.path().join("docker-save.tar");
    d.docker_ok(&["save", "-o", archive.to_str().unwrap(), "busybox:latest"]);
    let other = Daemon::start();
    let out = other.docker_ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(out.contains("Loaded image: busybox:latest"), "{out}");
    assert_eq!(other.docker_ok(&["inspect", "-f", "{{.Id}}", "busybox"]).trim(), id);

    let out = d.docker_ok(&["rmi", "registry.local:5000/team/app:2"]);
    assert!(out.contains("Untagged: registry.local:5000/team/app:2"), "{out}");
    let out = d.docker_ok(&["rmi", "busybox"]);
    assert!(out.contains(&format!("Deleted: {id}")), "{out}");
    let o = d.docker(&["rmi", "busybox"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("No such image: busybox:latest"), "{}", stderr(&o));
    let o = d.docker(&["inspect", "nothing-here"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("No such object: nothing-here"), "{}", stderr(&o));
}

#[test]
fn docker_cli_version_and_info() {
    let d = Daemon::start();
    let out = d.docker_ok(&["version"]);
    assert!(out.contains("Server: Berth") && out.contains("API version:      1.47"), "{out}");
    assert_eq!(d.docker_ok(&["version", "--format", "{{.Server.APIVersion}}"]).trim(), "1.47");
    let out = d.docker_ok(&["info"]);
    assert!(out.contains("Storage Driver: overlay2") && out.contains(&format!("Docker Root Dir: {}", d.root().display())), "{out}");
    assert_eq!(d.docker_ok(&["info", "--format", "{{.Images}}"]).trim(), "0");
    let out = d.docker_ok(&["system", "df"]);
    assert!(out.starts_with("TYPE"), "{out}");
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    }
}
