//! `berth build` and `docker build` against Berth: real RUN steps in containers, COPY from the
//! context, .dockerignore, cache, errors; the built image then runs.

mod common;
use common::*;


fn hello_example() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello")
}

#[test]
fn build_then_run_the_example_with_berth_and_docker() {
    let d = with_busybox();
    let out = d.berth_ok(&["build", "-t", "hello:1", hello_example().to_str().unwrap()]);
    assert!(out.contains("Step 6/7 : RUN") && out.contains("Successfully tagged hello:1"), "{out}");
    let run = d.berth_ok(&["run", "--rm", "hello:1"]);
    assert!(run.starts_with("Hello from Berth: ") && run.contains("built on ") && run.trim().ends_with("running as root"), "{run}");
    let cfg = d.berth_ok(&["image", "inspect", "-f", "{{.Config.WorkingDir}} {{json .Config.Cmd}} {{index .Config.Labels \"org.opencontainers.image.title\"}}", "hello:1"]);
    assert_eq!(cfg.trim(), "/app [\"/app/greet.sh\"] berth-hello");
    // A rebuild comes from the cache.
    let again = d.berth_ok(&["build", "-t", "hello:1", hello_example().to_str().unwrap()]);
    assert!(again.matches("Using cache").count() >= 2, "{again}");
    let built = |out: &str| out.lines().find_map(|l| l.strip_prefix("Successfully built ")).map(str::to_string);
    assert_eq!(built(&out), built(&again), "a fully cached rebuild is the same image");
    // The stock docker CLI (classic builder protocol) builds the same context.
    let out = d.docker_ok(&["build", "-t", "hello:docker", hello_example().to_str().unwrap()]);
    assert!(out.contains("Successfully tagged hello:docker"), "{out}");
    assert!(d.docker_ok(&["run", "--rm", "hello:docker"]).starts_with("Hello from Berth: "));
}

/// The ` ---> <id>` lines of a build's output.
fn step_ids(out: &str) -> Vec<String> {
    out.lines().filter_map(|l| l.strip_prefix(" ---> ")).filter(|id| !id.contains(' ')).map(str::to_string).collect()
}

#[test]
fn every_step_prints_an_image_id_that_inspect_knows() {
    let d = with_busybox();
    let ctx = d.dir.path().join("ids");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nRUN echo one > /one\nENV A=1\nCMD [\"cat\", \"/one\"]\n").unwrap();
    let images_before = d.berth_ok(&["images", "-aq"]).lines().count();
    let out = d.berth_ok(&["build", "-t", "ids:1", ctx.to_str().unwrap()]);
    let ids = step_ids(&out);
    assert_eq!(ids.len(), 4, "one id per step:\n{out}");
    let base = d.berth_ok(&["image", "inspect", "-f", "{{.Id}}", "busybox"]);
    assert_eq!(ids[0], base.trim()["sha256:".len()..][..12], "Step 1/4 : FROM prints the base's id:\n{out}");
    let built = out.lines().find_map(|l| l.strip_prefix("Successfully built ")).unwrap();
    assert_eq!(ids[3], built, "the last step's id is the image built");
    let mut parent = base.trim().to_string();
    for id in &ids[1..] {
        let full = d.berth_ok(&["image", "inspect", "-f", "{{.Id}} {{.Parent}}", id]);
        let (me, p) = full.trim().split_once(' ').unwrap_or_else(|| panic!("{id}: {full}"));
        assert!(me["sha256:".len()..].starts_with(id.as_str()), "{id} → {full}");
        assert_eq!(p, parent, "each step's image is the child of the one before");
        parent = me.to_string();
    }
    assert_eq!(d.berth_ok(&["images", "-q"]).lines().count(), 2, "intermediate images are hidden from images");
    assert_eq!(d.berth_ok(&["images", "-aq"]).lines().count(), images_before + 3, "and shown by images -a");
    let again = d.berth_ok(&["build", "-t", "ids:1", ctx.to_str().unwrap()]);
    assert_eq!(step_ids(&again), ids, "a cached rebuild prints the same ids:\n{again}");
    // As with dockerd, the base others were built on is only untagged, then goes with them.
    let rmi = d.berth_ok(&["rmi", "busybox"]);
    assert_eq!(rmi, "Untagged: busybox:latest\n");
    d.berth_ok(&["rmi", "ids:1"]);
    assert_eq!(d.berth_ok(&["images", "-aq"]).lines().count(), images_before - 1, "rmi removes the untagged parents too");
}

#[test]
fn build_errors_are_clear_and_leave_no_image() {
    let d = with_busybox();
    let ctx = d.dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nRUN echo ok > /ok\nRUN echo before && exit 3\n").unwrap();
    let images = d.berth_ok(&["images", "-aq"]);
    let o = d.berth(&["build", "-t", "bad:1", ctx.to_str().unwrap()]);
    assert_eq!(d.berth_ok(&["images", "-aq"]), images, "the steps' images of a failed build are not registered");
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("before"), "step output is shown: {}", stdout(&o));
    assert!(stderr(&o).contains("returned a non-zero code: 3"), "{}", stderr(&o));
    assert!(d.berth_ok(&["images", "-q", "bad"]).is_empty());
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nRUNN nope\n").unwrap();
    let o = d.berth(&["build", ctx.to_str().unwrap()]);
    assert!(stderr(&o).contains("Dockerfile:2: unknown instruction: RUNN"), "{}", stderr(&o));
    // A base image that is nowhere: the pull it triggers (on loopback only) fails clearly.
    std::fs::write(ctx.join("Dockerfile"), "FROM 127.0.0.1:1/nosuchimage:9\n").unwrap();
    let o = d.berth(&["build", ctx.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("127.0.0.1:1") && stderr(&o).contains("connection refused"), "{}", stderr(&o));
}

#[test]
fn dockerignore_multistage_and_stdin_dockerfile() {
    let d = with_busybox();
    let ctx = d.dir.path().join("ctx2");
    std::fs::create_dir_all(ctx.join("secret")).unwrap();
    std::fs::write(ctx.join("keep.txt"), "kept").unwrap();
    std::fs::write(ctx.join("secret/key"), "do not send").unwrap();
    std::fs::write(ctx.join(".dockerignore"), "secret\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox AS gen\nCOPY . /src\nRUN ls /src > /list && sha256sum /src/keep.txt > /sum\n\
         FROM scratch\nCOPY --from=gen /list /sum /\n",
    )
    .unwrap();
    d.berth_ok(&["build", "-t", "multi:1", ctx.to_str().unwrap()]);
    // Read the result back through a container of a busybox image that mounts nothing: copy via a stage.
    std::fs::write(ctx.join("Dockerfile.check"), "FROM busybox\nCOPY --from=multi:1 /list /sum /out/\nCMD cat /out/list /out/sum\n").unwrap();
    d.berth_ok(&["build", "-f", ctx.join("Dockerfile.check").to_str().unwrap(), "-t", "check:1", ctx.to_str().unwrap()]);
    let out = d.berth_ok(&["run", "--rm", "check:1"]);
    assert!(out.contains("keep.txt") && !out.contains("secret"), ".dockerignore must keep secret out: {out}");
    assert!(out.contains("/src/keep.txt"), "{out}");
    // A Dockerfile on stdin, no context.
    let out = d.berth_stdin(&["build", "-q", "-t", "stdin:1", "-"], b"FROM busybox\nENV FROM_STDIN=yes\n");
    assert!(out.status.success());
    assert!(stdout(&out).trim().starts_with("sha256:"));
    assert_eq!(d.berth_ok(&["run", "--rm", "stdin:1", "sh", "-c", "echo $FROM_STDIN"]).trim(), "yes");
}

/// Reproducible by default: two fresh data roots build the same context to the same layers, and with
/// `SOURCE_DATE_EPOCH=0` to the same image id, bit for bit (RUN steps and multi-stage included).
#[test]
fn builds_are_reproducible_across_fresh_data_roots() {
    let a = Daemon::start();
    let b = Daemon::start();
    let ctx = a.dir.path().join("repro");
    std::fs::create_dir_all(ctx.join("src")).unwrap();
    std::fs::copy(busybox_tarball(), ctx.join("busybox.tar.gz")).unwrap();
    std::fs::write(ctx.join("src/app.sh"), "#!/bin/sh\necho reproducible\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch AS base\nADD busybox.tar.gz /\n\
         FROM base AS gen\nRUN mkdir -p /out && echo generated > /out/data && touch /out/later\n\
         FROM base\nCOPY --chmod=755 src/app.sh /usr/local/bin/app\nCOPY --from=gen /out/ /out/\n\
         RUN echo app:x:1000:1000::/state:/bin/sh >> /etc/passwd && mkdir /state && chown app /state\nENV MODE=prod\nUSER app\nCMD [\"app\"]\n",
    )
    .unwrap();
    let build = |d: &Daemon, extra: &[&str]| {
        let mut args = vec!["build", "-q", "-t", "repro:1"];
        args.extend_from_slice(extra);
        args.push(ctx.to_str().unwrap());
        d.berth_ok(&args).trim().to_string()
    };
    let layers = |d: &Daemon| d.berth_ok(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", "repro:1"]);
    let (ia, ib) = (build(&a, &["--build-arg", "SOURCE_DATE_EPOCH=0"]), build(&b, &["--build-arg", "SOURCE_DATE_EPOCH=0"]));
    assert!(ia.starts_with("sha256:"), "{ia}");
    assert_eq!(ia, ib, "same context + SOURCE_DATE_EPOCH on two fresh roots: the same image");
    assert_eq!(layers(&a), layers(&b));
    assert_eq!(a.berth_ok(&["image", "inspect", "-f", "{{.Created}}", "repro:1"]).trim(), "1970-01-01T00:00:00Z");
    assert_eq!(b.berth_ok(&["run", "--rm", "repro:1"]), "reproducible\n");
    // Without it the times differ, but a layer whose content carries no build time is still the same.
    let (ia2, ib2) = (build(&a, &["--no-cache"]), build(&b, &["--no-cache"]));
    assert_ne!(ia2, ia, "no epoch: the build time is recorded");
    let first = |d: &Daemon| layers(d).split(',').next().unwrap().to_string();
    assert_eq!(first(&a), first(&b), "the ADDed layer is deterministic on any host");
    assert_ne!(ia2, ib2);
}

/// RUN steps are on the default bridge as with Docker's classic builder: they reach a server on the
/// test's own bridge address, see `--add-host` entries, and `RUN --network=none` has only `lo`. The
/// `/etc/hosts` and `/etc/resolv.conf` mounted for a step do not end up in the image.
#[test]
fn run_steps_use_the_default_bridge_with_build_add_host() {
    use std::io::{Read, Write};
    let d = with_busybox();
    let gateway = d.net.bip().split('/').next().unwrap().to_string();
    let listener = std::net::TcpListener::bind((gateway.as_str(), 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 15\r\n\r\nfrom the host\r\n");
        }
    });
    let ctx = d.dir.path().join("netctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM busybox\nRUN wget -q -O /fetched http://{gateway}:{port}/x && grep buildhost /etc/hosts > /hosts-line && hostname > /step-hostname\n\
             RUN --network=none sh -c 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d \" \" > /none-ifaces; ! wget -q -O /dev/null http://{gateway}:{port}/x'\n"
        ),
    )
    .unwrap();
    for (client, tag) in [("berth", "net:berth"), ("docker", "net:docker")] {
        let args = ["build", "--add-host", "buildhost:192.0.2.7", "-t", tag, ctx.to_str().unwrap()];
        let _ = if client == "berth" { d.berth_ok(&args) } else { d.docker_ok(&args) };
        let out = d.berth_ok(&["run", "--rm", "--network", "none", tag, "sh", "-c", "cat /fetched /hosts-line /step-hostname /none-ifaces"]);
        assert_eq!(out, "from the host\r\n192.0.2.7\tbuildhost\nbuildkitsandbox\nlo\n", "{client}");
        let name = format!("netcheck-{client}");
        d.berth_ok(&["create", "--name", &name, tag]);
        let tar = d.berth(&["export", &name]).stdout;
        d.berth_ok(&["rm", &name]);
        let names: Vec<String> = tar::Archive::new(&tar[..]).entries().unwrap().map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned()).collect();
        assert!(names.iter().any(|n| n.ends_with("fetched")), "{names:?}");
        assert!(!names.iter().any(|n| n.ends_with("etc/hosts") || n.ends_with("etc/resolv.conf")), "step mountpoints leaked into the image: {names:?}");
    }
}
