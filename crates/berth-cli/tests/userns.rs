//! `berth daemon --userns-remap`: root in a container is an unprivileged uid on the host, checked
//! from the host's side; what real root could do (read a root-only host directory, write
//! /proc/sysrq-trigger, mount) fails; `--userns host` opts out; `docker cp` and `commit` give and
//! take the container's ids; image layers are never chowned; restarts keep working; nothing is
//! left behind. Driven with the stock docker CLI where a user would use it.

mod common;

use common::*;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The host uid and gid of root in remapped containers: the first subordinate ids of `dockremap`
/// (the daemon made the user and its ranges if they were missing).
fn remapped_root() -> (u32, u32) {
    let first = |file: &str| -> u32 {
        let text = std::fs::read_to_string(file).unwrap();
        let line = text.lines().find(|l| l.starts_with("dockremap:")).unwrap_or_else(|| panic!("no dockremap range in {file}"));
        line.split(':').nth(1).unwrap().parse().unwrap()
    };
    (first("/etc/subuid"), first("/etc/subgid"))
}

fn remapped() -> Daemon {
    let d = Daemon::start_remapped(&[]);
    d.docker_ok(&["import", "-c", "CMD [\"/bin/sh\"]", busybox_tarball().to_str().unwrap(), "busybox:latest"]);
    d
}

/// The remapped data root (`<root>/<uid>.<gid>`).
fn data_root(d: &Daemon) -> PathBuf {
    let (u, g) = remapped_root();
    d.root().join(format!("{u}.{g}"))
}

/// The file `name` in some container's writable layer (an overlay upper directory).
fn in_upper(d: &Daemon, name: &str) -> PathBuf {
    let snaps = data_root(d).join("snapshots/snapshots");
    std::fs::read_dir(&snaps).unwrap().flatten().map(|e| e.path().join("fs").join(name)).find(|p| p.exists()).unwrap_or_else(|| panic!("{name} in no upper dir"))
}

fn owner(p: &Path) -> (u32, u32) {
    let m = std::fs::symlink_metadata(p).unwrap();
    (m.uid(), m.gid())
}

fn status_ids(pid: &str, key: &str) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(key)).unwrap();
    line.split_whitespace().skip(1).map(|v| v.parse().unwrap()).collect()
}

fn api_create(d: &Daemon, host_config: serde_json::Value) -> (u16, String) {
    let body = serde_json::json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": host_config});
    let (status, _, out) = http(&d.sock, "POST", "/v1.43/containers/create", body.to_string().as_bytes());
    (status, String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn root_in_a_remapped_container_is_an_unprivileged_host_uid() {
    let d = remapped();
    let (uid, gid) = remapped_root();
    assert!(uid >= 100000 && gid >= 100000, "dockremap's range starts at {uid}:{gid}");
    // A root-only host directory, bound into the container: real root would read it.
    let secret = d.dir.path().join("secret");
    std::fs::create_dir(&secret).unwrap();
    std::fs::write(secret.join("key"), "s3cr3t").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let bind = format!("{}:/secret", secret.display());
    d.docker_ok(&["run", "-d", "--name", "ctr", "-v", "vol:/data", "-v", &bind, "busybox", "sleep", "300"]);
    let pid = d.docker_ok(&["inspect", "-f", "{{.State.Pid}}", "ctr"]).trim().to_string();
    assert_eq!(status_ids(&pid, "Uid:"), vec![uid; 4], "the container's init runs as the subordinate uid");
    assert_eq!(status_ids(&pid, "Gid:"), vec![gid; 4]);
    // Inside it is root, with the daemon's maps.
    assert_eq!(d.docker_ok(&["exec", "ctr", "id", "-u"]).trim(), "0");
    let map = d.docker_ok(&["exec", "ctr", "cat", "/proc/self/uid_map"]);
    assert_eq!(map.split_whitespace().collect::<Vec<_>>(), ["0", &uid.to_string(), "65536"]);
    // What it writes is the subordinate uid's on the host: its writable layer and its volume, from
    // the container's process and from an exec.
    d.docker_ok(&["exec", "ctr", "sh", "-c", "echo a > /made-by-root && echo b > /data/in-volume && mkdir /d && chown 1000:1000 /d"]);
    assert_eq!(owner(&in_upper(&d, "made-by-root")), (uid, gid));
    assert_eq!(owner(&in_upper(&d, "d")), (uid + 1000, gid + 1000));
    let vol = data_root(&d).join("volumes/vol/_data");
    assert_eq!(owner(&vol), (uid, gid), "a named volume is created owned by the remapped root");
    assert_eq!(owner(&vol.join("in-volume")), (uid, gid));
    // /etc/hosts and friends are the container root's, /dev/shm too.
    let ls = d.docker_ok(&["exec", "ctr", "ls", "-ln", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/.dockerenv"]);
    assert!(ls.lines().all(|l| l.split_whitespace().nth(2) == Some("0")), "{ls}");
    let shm = d.docker_ok(&["exec", "ctr", "stat", "-c", "%u %g", "/dev/shm"]);
    assert_eq!(shm.trim(), "0 0");
    // Breakouts that real root gets away with fail.
    let read = d.docker(&["exec", "ctr", "cat", "/secret/key"]);
    assert!(!read.status.success() && stderr(&read).contains("Permission denied"), "{}{}", stdout(&read), stderr(&read));
    let sysrq = d.docker(&["exec", "ctr", "sh", "-c", "echo h > /proc/sysrq-trigger"]);
    assert!(!sysrq.status.success(), "writing /proc/sysrq-trigger must fail");
    let mount = d.docker(&["exec", "ctr", "mount", "-t", "tmpfs", "none", "/mnt"]);
    assert!(!mount.status.success(), "mounting must fail");
    // Even with every capability and no seccomp: root of a user namespace owns nothing of the
    // host (the bound directory stays unreadable, host devices cannot be opened).
    let caps = d.docker(&["run", "--rm", "--cap-add", "ALL", "--security-opt", "seccomp=unconfined", "-v", &bind, "busybox", "sh", "-c", "cat /secret/key; mknod /tmp/sda b 8 0 && head -c1 /tmp/sda"]);
    assert!(!caps.status.success() && !stdout(&caps).contains("s3cr3t"), "{}{}", stdout(&caps), stderr(&caps));
    // docker info says so, and where the remapped state lives.
    let info = d.docker_ok(&["info", "--format", "{{json .SecurityOptions}} {{.DockerRootDir}}"]);
    assert!(info.contains("name=userns"), "{info}");
    assert!(info.trim().ends_with(&format!("{uid}.{gid}")), "{info}");
}

#[test]
fn userns_host_opts_out_and_dockerds_refusals_hold() {
    let d = remapped();
    // --userns host: the host's user namespace, real root.
    let out = d.docker_ok(&["run", "--rm", "--userns", "host", "-v", "hostvol:/v", "busybox", "sh", "-c", "cat /proc/self/uid_map; touch /v/f"]);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["0", "0", "4294967295"]);
    assert_eq!(owner(&data_root(&d).join("volumes/hostvol/_data/f")).0, 0);
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.HostConfig.UsernsMode}}", d.docker_ok(&["create", "--userns", "host", "busybox"]).trim()]).trim(), "host");
    // What needs the host's user namespace is refused unless the container opts out (dockerd's
    // messages, 400).
    for (hc, msg) in [
        (serde_json::json!({"Privileged": true}), "privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode"),
        (serde_json::json!({"NetworkMode": "host"}), "cannot share the host's network namespace when user namespaces are enabled"),
        (serde_json::json!({"PidMode": "host"}), "cannot share the host PID namespace when user namespaces are enabled"),
        (serde_json::json!({"UsernsMode": "private"}), "invalid USER mode: private"),
        (
            serde_json::json!({"CgroupnsMode": "private"}),
            "--cgroupns private is not supported with user namespaces on a cgroup v1 host: the v1 hierarchies cannot be mounted in the container's user namespace; use --cgroupns host (the default on cgroup v1) or --userns host",
        ),
    ] {
        let (status, body) = api_create(&d, hc.clone());
        assert_eq!(status, 400, "{hc}: {body}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["message"], msg);
    }
    let (status, body) = api_create(&d, serde_json::json!({"Privileged": true, "UsernsMode": "host"}));
    assert_eq!(status, 201, "{body}");
    // This host's controllers are on cgroup v1, where the runtime cannot mount them in a user
    // namespace: --cgroupns private is refused above, and works with --userns host.
    assert!(!Path::new("/sys/fs/cgroup/cgroup.controllers").exists(), "the cgroupns refusal above is for cgroup v1 hosts");
    let cg = d.docker_ok(&["run", "--rm", "--cgroupns", "private", "--userns", "host", "busybox", "ls", "/sys/fs/cgroup/memory"]);
    assert!(cg.contains("memory.limit_in_bytes"), "{cg}");
    let privileged = d.docker_ok(&["run", "--rm", "--privileged", "--userns", "host", "busybox", "cat", "/proc/self/uid_map"]);
    assert_eq!(privileged.split_whitespace().next(), Some("0"));
    let o = d.berth(&["run", "--rm", "--userns", "bogus", "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("--userns: invalid USER mode"), "{}", stderr(&o));
}

#[test]
fn without_remapping_userns_host_is_a_no_op_and_bad_modes_are_refused() {
    let d = with_busybox();
    let out = d.berth_ok(&["run", "--rm", "--userns", "host", "busybox", "cat", "/proc/self/uid_map"]);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["0", "0", "4294967295"]);
    let (status, body) = api_create(&d, serde_json::json!({"UsernsMode": "bogus"}));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid USER mode: bogus"), "{body}");
    // dockerd refuses these only when it remaps.
    let (status, body) = api_create(&d, serde_json::json!({"Privileged": true}));
    assert_eq!(status, 201, "{body}");
    let info = d.docker_ok(&["info", "--format", "{{json .SecurityOptions}}"]);
    assert!(!info.contains("userns"), "{info}");
}

#[test]
fn cp_and_commit_carry_the_containers_ids_and_layers_are_not_chowned() {
    let d = remapped();
    let (uid, gid) = remapped_root();
    d.docker_ok(&["run", "-d", "--name", "ctr", "busybox", "sleep", "300"]);
    // docker cp -a in: the archive's owners are the container's, shifted on the host.
    let tar_path = d.dir.path().join("in.tar");
    {
        let mut b = tar::Builder::new(std::fs::File::create(&tar_path).unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_size(4);
        h.set_mode(0o640);
        h.set_uid(1234);
        h.set_gid(4321);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, "owned", &b"data"[..]).unwrap();
        b.finish().unwrap();
    }
    let put = std::fs::read(&tar_path).unwrap();
    let (status, _, body) = http(&d.sock, "PUT", "/v1.43/containers/ctr/archive?path=/&copyUIDGID=1", &put);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(owner(&in_upper(&d, "owned")), (uid + 1234, gid + 4321));
    assert_eq!(d.docker_ok(&["exec", "ctr", "stat", "-c", "%u:%g", "/owned"]).trim(), "1234:4321");
    // Without -a the files are the container root's.
    std::fs::write(d.dir.path().join("plain"), "p").unwrap();
    d.docker_ok(&["cp", d.dir.path().join("plain").to_str().unwrap(), "ctr:/plain"]);
    assert_eq!(owner(&in_upper(&d, "plain")), (uid, gid));
    // docker cp out: the container's ids, not the host's.
    d.docker_ok(&["exec", "ctr", "sh", "-c", "echo r > /by-root && mkdir -p /home/u && echo u > /home/u/f && chown -R 1000:1000 /home/u"]);
    let (status, _, tar_out) = http(&d.sock, "GET", "/v1.43/containers/ctr/archive?path=/home", b"");
    assert_eq!(status, 200);
    let mut owners = Vec::new();
    for e in tar::Archive::new(tar_out.as_slice()).entries().unwrap() {
        let e = e.unwrap();
        owners.push((e.path().unwrap().display().to_string(), e.header().uid().unwrap(), e.header().gid().unwrap()));
    }
    assert!(owners.contains(&("home/u/f".into(), 1000, 1000)) && owners.contains(&("home".into(), 0, 0)), "{owners:?}");
    // export: the container's ids too.
    d.docker_ok(&["stop", "-t", "0", "ctr"]);
    let exported = d.dir.path().join("exported.tar");
    d.docker_ok(&["export", "-o", exported.to_str().unwrap(), "ctr"]);
    let mut exported_ids = std::collections::HashMap::new();
    for e in tar::Archive::new(std::fs::File::open(&exported).unwrap()).entries().unwrap() {
        let e = e.unwrap();
        exported_ids.insert(e.path().unwrap().display().to_string(), (e.header().uid().unwrap(), e.header().gid().unwrap()));
    }
    assert_eq!(exported_ids.get("by-root"), Some(&(0, 0)), "{exported_ids:?}");
    assert_eq!(exported_ids.get("bin/busybox"), Some(&(0, 0)), "image files are root's in the export");
    assert_eq!(exported_ids.get("owned"), Some(&(1234, 4321)));
    // commit: the new layer holds the container's ids (root is 0, not the subordinate uid).
    d.docker_ok(&["commit", "ctr", "committed:1"]);
    let ids = layer_owners(&d, "committed:1").pop().unwrap();
    assert_eq!(ids.get("by-root"), Some(&(0, 0)), "{ids:?}");
    assert_eq!(ids.get("owned"), Some(&(1234, 4321)), "{ids:?}");
    assert_eq!(ids.get("home/u/f"), Some(&(1000, 1000)), "{ids:?}");
    // A container of the committed image sees them as the container's ids again.
    let seen = d.docker_ok(&["run", "--rm", "committed:1", "stat", "-c", "%u:%g", "/by-root", "/owned"]);
    assert_eq!(seen.split_whitespace().collect::<Vec<_>>(), ["0:0", "1234:4321"]);
    // The image store keeps real owners: every unpacked layer directory is root's, not chowned.
    let snaps = data_root(&d).join("snapshots/snapshots");
    let mut checked = 0;
    for e in std::fs::read_dir(&snaps).unwrap().flatten() {
        let fs = e.path().join("fs");
        if fs.join("bin").exists() {
            assert_eq!(owner(&fs.join("bin")), (0, 0), "{}", fs.display());
            checked += 1;
        }
    }
    assert!(checked >= 1, "no unpacked image layer found");
}

#[test]
fn remapped_daemon_restarts_and_leaves_nothing_behind() {
    let mut d = remapped();
    let (uid, _) = remapped_root();
    d.docker_ok(&["run", "-d", "--name", "ctr", "busybox", "sleep", "300"]);
    let id = d.docker_ok(&["inspect", "-f", "{{.Id}}", "ctr"]).trim().to_string();
    d.restart();
    // The container kept running and is still remapped; new ones are too.
    let pid = d.docker_ok(&["inspect", "-f", "{{.State.Pid}}", "ctr"]).trim().to_string();
    assert_eq!(status_ids(&pid, "Uid:")[0], uid);
    assert_eq!(d.docker_ok(&["exec", "ctr", "sh", "-c", "echo ok"]).trim(), "ok");
    assert_eq!(d.docker_ok(&["run", "--rm", "busybox", "sh", "-c", "cat /proc/self/uid_map"]).split_whitespace().nth(1), Some(uid.to_string().as_str()));
    d.docker_ok(&["rm", "-f", "ctr"]);
    // Nothing of it is left: mounts (the overlay; idmapped clones are never attached), cgroups,
    // the network namespace.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let root = d.root().display().to_string();
    assert!(!mounts.lines().any(|l| l.contains(&root)), "mounts left under {root}");
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        assert!(!hierarchy.path().join(format!("berth-{id}")).exists(), "cgroup left in {}", hierarchy.path().display());
    }
    assert!(!data_root(&d).join("netns").join(&id).exists(), "network namespace left");
}

/// The layers of `image` (a `docker save` of it), each as (path → (uid, gid)).
fn layer_owners(d: &Daemon, image: &str) -> Vec<std::collections::HashMap<String, (u64, u64)>> {
    let saved = d.dir.path().join(format!("{}.tar", image.replace([':', '/'], "_")));
    d.docker_ok(&["save", "-o", saved.to_str().unwrap(), image]);
    let mut manifest = serde_json::Value::Null;
    let mut blobs = std::collections::HashMap::new();
    for e in tar::Archive::new(std::fs::File::open(&saved).unwrap()).entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if name == "manifest.json" {
            manifest = serde_json::from_slice(&data).unwrap();
        } else {
            blobs.insert(name, data);
        }
    }
    manifest[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let data = &blobs[l.as_str().unwrap()];
            tar::Archive::new(data.as_slice())
                .entries()
                .unwrap()
                .map(|e| {
                    let e = e.unwrap();
                    (e.path().unwrap().display().to_string(), (e.header().uid().unwrap(), e.header().gid().unwrap()))
                })
                .collect()
        })
        .collect()
}

#[test]
fn builds_on_a_remapped_daemon_give_the_containers_ids() {
    let d = remapped();
    let ctx = d.dir.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(ctx.join("copied"), "c").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nCOPY --chown=7:8 copied /copied\nRUN echo r > /by-run && mkdir /owned && chown 1000:1000 /owned\n\
         WORKDIR /usr/src/app\nRUN cat /proc/self/uid_map > map && id -u > uid && touch /usr/by-run && chown 9:9 /usr/by-run\n\
         RUN --mount=type=cache,target=/cache touch /cache/writable\nUSER 1000\nRUN touch /owned/by-user\n",
    )
    .unwrap();
    d.berth_ok(&["build", "-t", "built:1", ctx.to_str().unwrap()]);
    let layers = layer_owners(&d, "built:1");
    let find = |p: &str| {
        let dir = format!("{p}/");
        layers.iter().rev().find_map(|l| l.get(p).or_else(|| l.get(&dir)).copied()).unwrap_or_else(|| panic!("{p} in no layer: {layers:?}"))
    };
    assert_eq!(find("copied"), (7, 8));
    assert_eq!(find("by-run"), (0, 0));
    assert_eq!(find("owned"), (1000, 1000));
    // `USER 1000` without a passwd entry runs with gid 0, as with docker.
    assert_eq!(find("owned/by-user"), (1000, 0));
    // RUN steps ran in the remapped user namespace: root there is the subordinate root on the host.
    let (uid, _) = remapped_root();
    let map = d.docker_ok(&["run", "--rm", "built:1", "cat", "/usr/src/app/map"]);
    assert_eq!(map.split_whitespace().collect::<Vec<_>>(), ["0", &uid.to_string(), "65536"], "{map}");
    assert_eq!(d.docker_ok(&["run", "--rm", "built:1", "cat", "/usr/src/app/uid"]).trim(), "0");
    // What the builder made for WORKDIR (and the /usr it copied up) and what the step wrote carry
    // the container's ids in the layer, not host ids.
    for p in ["usr", "usr/src", "usr/src/app", "usr/src/app/map"] {
        assert_eq!(find(p), (0, 0), "{p}");
    }
    assert_eq!(find("usr/by-run"), (9, 9));
    // A remapped container of it sees the image's ids, held as subordinate ids on the host.
    d.docker_ok(&["run", "--name", "ctr", "--user", "0", "built:1", "sh", "-c", "stat -c %u:%g /copied /by-run /owned/by-user && touch /owned/again"]);
    let seen = d.docker_ok(&["logs", "ctr"]);
    assert_eq!(seen.split_whitespace().collect::<Vec<_>>(), ["7:8", "0:0", "1000:0"]);
    assert_eq!(owner(&in_upper(&d, "owned/again")).0, uid);
}

#[test]
fn userns_remap_from_daemon_json_and_not_twice() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new().prefix("berth-test-").tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let config = dir.path().join("daemon.json");
    std::fs::write(&config, "{\"userns-remap\": \"default\"}\n").unwrap();
    // Given as a flag too: refused as dockerd refuses any setting given twice.
    let o = std::process::Command::new(BERTH)
        .args(["daemon", "--validate", "--userns-remap", "default", "--config-file"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("userns-remap: (from flag: default, from file: default)"), "{}", stderr(&o));
    let d = Daemon::start_in(dir, &[]);
    let info = d.docker_ok(&["info", "--format", "{{json .SecurityOptions}} {{.DockerRootDir}}"]);
    let (uid, gid) = remapped_root();
    assert!(info.contains("name=userns") && info.trim().ends_with(&format!("{uid}.{gid}")), "{info}");
}
