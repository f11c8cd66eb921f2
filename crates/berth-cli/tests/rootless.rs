//! Rootless Berth, as an ordinary user runs it: the test makes a real unprivileged user with its
//! own subordinate id ranges (a name unique to the run, removed at the end, also on failure), runs
//! `berth rootless setup` and `berth daemon` as that user (setpriv, a fresh XDG_RUNTIME_DIR), and
//! drives the daemon with the stock docker CLI, also as that user: push to and pull from a
//! `berth registry` on the host's loopback, build with a RUN step, run with a published port
//! fetched on the host's 127.0.0.1, a volume, exec, logs, stop, rm. From the host it checks that
//! the daemon is the user, that root in a container is the user and other container users are
//! its subordinate ids (never host root), what a rootless daemon refuses (ports below 1024,
//! limits without delegated cgroups), and that nothing of the user's is left running at the end.

mod common;
#[path = "common/rootless.rs"]
mod rootless_user;

use common::*;
use rootless_user::*;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn an_ordinary_user_runs_berth_rootless_with_the_docker_cli() {
    let _tun = TunOpen::new();
    let registry = Registry::start();
    let mut user = RootlessUser::create();

    // One-time set-up: prerequisites checked, the `rootless` context made.
    let setup = user.berth(&["rootless", "setup"]);
    assert!(setup.status.success(), "{}{}", stdout(&setup), stderr(&setup));
    let sock_url = format!("unix://{}", user.socket().display());
    assert!(stdout(&setup).contains(&format!("export DOCKER_HOST={sock_url}")), "{}", stdout(&setup));

    user.start_daemon();
    let info = user.docker_ok(&["info", "--format", "{{json .SecurityOptions}} {{.DockerRootDir}}"]);
    assert!(info.contains("name=rootless"), "{info}");
    let data_root = user.base.join("home/.local/share/berth");
    assert!(info.trim().ends_with(data_root.to_str().unwrap()), "data root under ~/.local/share: {info}");
    // The context setup made reaches the same daemon (the docker CLI's own context store).
    let via_ctx = user.command("docker").args(["--context", "rootless", "version", "--format", "{{.Server.Os}}"]).output().unwrap();
    assert!(via_ctx.status.success() && stdout(&via_ctx).trim() == "linux", "{}{}", stdout(&via_ctx), stderr(&via_ctx));
    // Without delegated cgroup v2 controllers (this host's are cgroup v1) the daemon says so.
    assert!(user.log().contains("running rootless without the cgroup v2 controllers"), "{}", user.log());

    // The daemon is the user on the host, never root.
    let daemons: Vec<_> = user.processes().into_iter().filter(|(_, _, c)| c.contains("berth daemon")).collect();
    assert_eq!(daemons.len(), 2, "the namespace owner and the daemon: {daemons:?}");
    assert!(daemons.iter().all(|(_, uid, _)| *uid == user.uid), "{daemons:?}");

    // Push to and pull from the registry on the host's loopback.
    let image = format!("{}/busybox:latest", registry.addr);
    let imported = user.docker_stdin(&["import", "-c", "CMD [\"/bin/sh\"]", "-", &image], &busybox_tarball());
    assert!(imported.status.success(), "{}{}", stdout(&imported), stderr(&imported));
    user.docker_ok(&["push", &image]);
    user.docker_ok(&["rmi", &image]);
    user.docker_ok(&["pull", &image]);

    // Build with a RUN step (files of a non-root user in the layer, too).
    let ctx = user.base.join("ctx");
    std::fs::write(ctx.join("Dockerfile"), format!("FROM {image}\nRUN mkdir -p /www && echo rootless-page > /www/index.html && mkdir -p /home/app && echo made > /home/app/f && chown 1000:1000 /home/app/f\n")).unwrap();
    user.docker_ok(&["build", "-t", "web", ctx.to_str().unwrap()]);
    assert_eq!(user.docker_ok(&["run", "--rm", "web", "stat", "-c", "%u", "/home/app/f"]).trim(), "1000");

    // A published port below the host's unprivileged start is refused, in rootless dockerd's words.
    let low = user.docker(&["run", "-d", "-p", "80:80", "web", "true"]);
    assert!(!low.status.success() && stderr(&low).contains("cannot expose privileged port 80"), "{}", stderr(&low));
    // So is a limit the user's cgroups cannot enforce (not accepted and ignored).
    let limited = user.docker(&["run", "--rm", "--memory", "64m", "web", "true"]);
    assert!(!limited.status.success() && stderr(&limited).contains("memory controller"), "{}", stderr(&limited));

    // A web server with a published port, a volume; fetched on the host's loopback.
    let port = free_port();
    let publish = format!("{port}:80");
    let cid = user.docker_ok(&["run", "-d", "--name", "web1", "-p", &publish, "-v", "vol:/data", "web", "sh", "-c", "echo started; echo from-volume > /data/v; exec httpd -f -p 80 -h /www"]);
    let page = fetch(port);
    assert!(page.contains("rootless-page"), "{page}");

    // Root in the container is the user on the host; the container's other users are the user's
    // subordinate ids: never host root.
    let pid = user.docker_ok(&["inspect", "-f", "{{.State.Pid}}", "web1"]).trim().to_string();
    assert_eq!(status_uid(&pid), user.uid, "the container's root is the user on the host");
    user.docker_ok(&["exec", "-d", "-u", "1000", "web1", "sleep", "300"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let sub = loop {
        let procs = user.processes();
        if let Some(p) = procs.iter().find(|(_, _, c)| c.trim() == "sleep 300") {
            break p.1;
        }
        assert!(Instant::now() < deadline, "no exec'd sleep among {procs:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(sub, user.subuid.0 + 999, "uid 1000 in the container is subordinate uid {} + 999", user.subuid.0);
    assert!(user.processes().iter().all(|(_, uid, _)| *uid != 0));

    // exec, logs, the volume's file (on the host: the user's, as root in the container wrote it).
    assert_eq!(user.docker_ok(&["exec", "web1", "id", "-u"]).trim(), "0");
    assert_eq!(user.docker_ok(&["exec", "web1", "cat", "/data/v"]).trim(), "from-volume");
    assert!(user.docker_ok(&["logs", "web1"]).contains("started"));
    let vol = PathBuf::from(user.docker_ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", "vol"]).trim());
    assert!(vol.starts_with(&data_root), "{}", vol.display());
    assert_eq!(std::fs::metadata(vol.join("v")).unwrap().uid(), user.uid);
    // The volume outlives its container.
    user.docker_ok(&["stop", "-t", "2", "web1"]);
    user.docker_ok(&["rm", "web1"]);
    assert_eq!(user.docker_ok(&["run", "--rm", "-v", "vol:/data", "web", "cat", "/data/v"]).trim(), "from-volume");
    assert!(!user.docker_ok(&["ps", "-aq"]).contains(&cid[..12]));

    // The daemon stops on SIGTERM, taking its namespace (shims, pasta) with it.
    let started = user.docker_ok(&["run", "-d", "web", "sleep", "600"]);
    assert!(!started.trim().is_empty());
    let st = user.stop_daemon().expect("the daemon stopped on SIGTERM");
    assert!(st.success(), "{st}\n{}", user.log());
    let deadline = Instant::now() + Duration::from_secs(15);
    while !user.processes().is_empty() {
        assert!(Instant::now() < deadline, "left running: {:?}", user.processes());
        std::thread::sleep(Duration::from_millis(100));
    }
    // Nothing of the daemon's is mounted on the host: overlays and volumes lived in its namespace.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(user.base.to_str().unwrap()), "{mounts}");
}

#[test]
fn setup_says_what_is_missing_in_one_line() {
    let user = RootlessUser::create();
    let (s, n) = user.subuid;
    let range = format!("{s}-{}", s + n - 1);
    assert!(user_admin(Command::new("usermod").args(["--del-subuids", &range, &user.name])).status.success());
    let out = user.berth(&["rootless", "setup"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("/etc/subuid needs a range of 65536 ids") && err.contains("usermod --add-subuids"), "{err}");
    // The daemon refuses to start for the same reason, in the same words.
    let out = user.command("berth").arg("daemon").output().unwrap();
    assert!(!out.status.success() && stderr(&out).contains("/etc/subuid needs a range"), "{}", stderr(&out));
    // Without XDG_RUNTIME_DIR it says so.
    assert!(user_admin(Command::new("usermod").args(["--add-subuids", &range, &user.name])).status.success());
    let out = user.command("berth").env_remove("XDG_RUNTIME_DIR").args(["rootless", "setup"]).output().unwrap();
    assert!(!out.status.success() && stderr(&out).contains("XDG_RUNTIME_DIR is not set"), "{}", stderr(&out));
}
