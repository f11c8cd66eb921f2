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

#[test]
fn docker_cli_runs_and_manages_containers() {
    let d = Daemon::start();
    d.docker_ok(&["import", "-c", "CMD [\"/bin/sh\"]", busybox_tarball().to_str().unwrap(), "busybox:latest"]);
    // Foreground run: output, exit code, --rm.
    let o = d.docker(&["run", "--rm", "busybox", "sh", "-c", "echo hello; echo oops >&2; exit 3"]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(stdout(&o), "hello\n");
    assert_eq!(stderr(&o), "oops\n");
    // Flags as the docker CLI sends them, checked from inside.
    let out = d.docker_ok(&["run", "--rm", "-u", "65534", "-e", "X=1", "-w", "/tmp", "--hostname", "box", "--cap-drop", "ALL", "busybox",
        "sh", "-c", "id -u; echo $X; pwd; hostname; grep CapEff /proc/self/status"]);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["65534", "1", "/tmp", "box", "CapEff:\t0000000000000000"]);
    // Detached lifecycle.
    let id = d.docker_ok(&["run", "-d", "--name", "web", "busybox", "sh", "-c", "echo up; exec sleep 300"]).trim().to_string();
    let ps = d.docker_ok(&["ps", "--format", "{{.ID}} {{.Names}} {{.Status}}"]);
    assert!(ps.starts_with(&format!("{} web Up", &id[..12])), "{ps}");
    for _ in 0..100 {
        if d.docker_ok(&["logs", "web"]).contains("up") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(d.docker_ok(&["logs", "web"]), "up\n");
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.State.Running}}", "web"]).trim(), "true");
    let o = d.docker(&["rmi", "busybox"]);
    assert!(!o.status.success() && stderr(&o).contains("being used by running container"), "{}", stderr(&o));
    d.docker_ok(&["stop", "-t", "1", "web"]);
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "web"]).trim(), "exited 137");
    d.docker_ok(&["start", "web"]);
    d.docker_ok(&["kill", "web"]);
    assert_eq!(d.docker_ok(&["wait", "web"]).trim(), "137");
    d.docker_ok(&["rm", "web"]);
    assert_eq!(d.docker_ok(&["ps", "-aq"]), "");
    // stdin through -i.
    let mut child = std::process::Command::new("docker")
        .args(["run", "-i", "--rm", "busybox", "tr", "a-z", "A-Z"])
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"shout\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(stdout(&out), "SHOUT\n");
    // A missing command is exit 127 with Docker's wording.
    let o = d.docker(&["run", "--rm", "busybox", "/nope"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
}

/// Legacy links on the default bridge, as `docker run --link` users rely on them: the alias and
/// the name in `/etc/hosts`, reachable; the `ALIAS_…` variables; a stopped target refused at start;
/// `docker rm --link`; links refused with `--network host`.
#[test]
fn docker_cli_legacy_links() {
    let d = Daemon::start();
    let bb = busybox_tarball();
    d.docker_ok(&["import", "-c", "CMD [\"/bin/sh\"]", bb.to_str().unwrap(), "busybox:latest"]);
    d.docker_ok(&["run", "-d", "--name", "lk-db", "-e", "SECRET=s3", "--expose", "5432", "busybox", "sleep", "60"]);
    let ip = d.docker_ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "lk-db"]).trim().to_string();
    let hostname = d.docker_ok(&["inspect", "-f", "{{.Config.Hostname}}", "lk-db"]).trim().to_string();
    assert!(!ip.is_empty(), "lk-db has no address");
    let out = d.docker_ok(&["run", "--name", "lk-app", "--link", "lk-db:db", "busybox", "sh", "-c", "cat /etc/hosts; env; ping -c1 -W2 db >/dev/null && echo reached"]);
    assert!(out.contains(&format!("{ip}\tdb {hostname} lk-db\n")), "{out}");
    for want in [
        format!("DB_PORT=tcp://{ip}:5432"),
        format!("DB_PORT_5432_TCP=tcp://{ip}:5432"),
        format!("DB_PORT_5432_TCP_ADDR={ip}"),
        "DB_PORT_5432_TCP_PORT=5432".into(),
        "DB_PORT_5432_TCP_PROTO=tcp".into(),
        "DB_NAME=/lk-app/db".into(),
        "DB_ENV_SECRET=s3".into(),
        "reached".into(),
    ] {
        assert!(out.lines().any(|l| l == want), "{want} not in:\n{out}");
    }
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{json .HostConfig.Links}}", "lk-app"]).trim(), r#"["/lk-db:/lk-app/db"]"#);
    d.docker_ok(&["rm", "--link", "lk-app/db"]);
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{json .HostConfig.Links}}", "lk-app"]).trim(), "null");
    let out = d.docker(&["run", "--rm", "--network", "host", "--link", "lk-db:db", "busybox", "true"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("conflicting options: host type networking can't be used with links"), "{err}");
    d.docker_ok(&["stop", "-t", "0", "lk-db"]);
    let out = d.docker(&["run", "--rm", "--link", "lk-db:db", "busybox", "true"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("Cannot link to a non running container: /lk-db AS /"), "{err}");
    d.docker_ok(&["rm", "-f", "lk-app", "lk-db"]);
}
