//! Executor tests on real overlay snapshots (root required), with a runner that really runs each RUN
//! step by chroot-ing into the mounted rootfs of a busybox image.

use std::collections::BTreeSet;
use super::*;
use berth_content::ContentStore;
use berth_image::import::{import_rootfs, ImportOptions};
use berth_snapshot::testsuite::MountGuard;
use berth_snapshot::{LayerOpener, OverlaySnapshotter};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::process::Command as Proc;

fn busybox() -> std::path::PathBuf {
    berth_fixtures::busybox_rootfs()
}

struct ChrootRunner;

impl StepRunner for ChrootRunner {
    fn run(&self, step: &RunStep, output: &mut dyn FnMut(&[u8])) -> Result<i32, BuildError> {
        let dir = tempfile::tempdir().map_err(|e| BuildError::Runner(e.to_string()))?;
        let mut guards = vec![MountGuard::mount(&step.rootfs, dir.path()).map_err(|e| BuildError::Runner(e.to_string()))?];
        for m in &step.mounts {
            let target = dir.path().join(m.target.trim_start_matches('/'));
            if m.source.as_ref().is_some_and(|s| s.is_file()) {
                std::fs::create_dir_all(target.parent().unwrap()).map_err(|e| BuildError::Runner(e.to_string()))?;
                std::fs::write(&target, b"").map_err(|e| BuildError::Runner(e.to_string()))?;
            } else {
                std::fs::create_dir_all(&target).map_err(|e| BuildError::Runner(e.to_string()))?;
            }
            if let Some(src) = &m.source {
                guards.push(MountGuard::mount(&[Mount::bind(src, m.readonly)], &target).map_err(|e| BuildError::Runner(e.to_string()))?);
            }
        }
        let mut cmd = Proc::new("chroot");
        if !step.user.is_empty() {
            cmd.arg(format!("--userspec={}", step.user));
        }
        cmd.arg(dir.path()).args(["/bin/sh", "-c", "mkdir -p \"$0\" && cd \"$0\" && exec \"$@\"", &step.workdir]).args(&step.args);
        cmd.env_clear();
        for e in &step.env {
            if let Some((k, v)) = e.split_once('=') {
                cmd.env(k, v);
            }
        }
        let out = cmd.output().map_err(|e| BuildError::Runner(e.to_string()))?;
        output(&out.stdout);
        output(&out.stderr);
        while let Some(g) = guards.pop() {
            drop(g);
        }
        Ok(out.status.code().unwrap_or(128))
    }
}

struct Env {
    _dir: tempfile::TempDir,
    root: PathBuf,
    store: ImageStore,
    snaps: OverlaySnapshotter,
    ctx: PathBuf,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let store = ImageStore::open(root.join("image"), ContentStore::open(root.join("content")).unwrap()).unwrap();
    let snaps = OverlaySnapshotter::open(root.join("snap")).unwrap();
    let ctx = root.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    Env { _dir: dir, root, store, snaps, ctx }
}

impl Env {
    fn busybox(&self) -> Digest {
        let f = std::fs::File::open(busybox()).unwrap();
        let id = import_rootfs(&self.store, f, &ImportOptions { source: "-".into(), ..Default::default() }).unwrap();
        self.store.tag(&id, &berth_types::Reference::parse_tagged("busybox").unwrap()).unwrap();
        id
    }

    fn opts(&self, dockerfile: &str) -> BuildOptions {
        BuildOptions { context_dir: self.ctx.clone(), dockerfile_text: Some(dockerfile.to_string()), cache_dir: self.root.join("cache"), ..Default::default() }
    }

    fn build(&self, opts: &BuildOptions) -> (Result<Digest, BuildError>, Vec<BuildEvent>) {
        let mut events = Vec::new();
        let r = build(opts, &self.store, &self.snaps, &ChrootRunner, &mut |e| events.push(e));
        (r, events)
    }

    /// Mounts the image read-only and hands its root to `f`.
    fn with_rootfs<T>(&self, id: &Digest, f: impl FnOnce(&Path) -> T) -> T {
        let img = self.store.by_id(id).unwrap();
        let content = self.store.content();
        let layers: Vec<(Digest, LayerOpener<'_>)> = img
            .layers
            .iter()
            .map(|l| {
                let d = l.diff_id.clone();
                let o: LayerOpener<'_> = Box::new(move || content.open_blob(&d).map(|f| Box::new(f) as Box<dyn Read>).map_err(std::io::Error::other));
                (l.diff_id.clone(), o)
            })
            .collect();
        let top = berth_snapshot::unpack_layers(&self.snaps, &layers).unwrap();
        let key = format!("test-view-{}", &berth_types::random_id()[..8]);
        let mounts = self.snaps.view(&key, Some(&top)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = {
            let _g = MountGuard::mount(&mounts, dir.path()).unwrap();
            f(dir.path())
        };
        self.snaps.remove(&key).unwrap();
        out
    }

    fn temp_snapshots(&self) -> Vec<String> {
        self.snaps.list().unwrap().into_iter().map(|i| i.name).filter(|n| n.starts_with("build-")).collect()
    }
}

fn output(events: &[BuildEvent]) -> String {
    events.iter().filter_map(|e| if let BuildEvent::Output(b) = e { Some(String::from_utf8_lossy(b).into_owned()) } else { None }).collect()
}

#[test]
fn busybox_build_applies_every_instruction() {
    let e = env();
    e.busybox();
    std::fs::write(e.ctx.join("hello.txt"), "hello\n").unwrap();
    std::fs::create_dir_all(e.ctx.join("dir/sub")).unwrap();
    std::fs::write(e.ctx.join("dir/sub/a"), "a").unwrap();
    std::fs::write(e.ctx.join("dir/ignored.log"), "x").unwrap();
    std::fs::write(e.ctx.join(".dockerignore"), "**/*.log\n").unwrap();
    let df = r#"FROM busybox
ARG GREETING=hi
ENV APP=/app NAME="the app"
WORKDIR $APP
COPY hello.txt .
COPY --chown=1000:1001 --chmod=750 dir /app/dir/
COPY <<EOF /etc/motd
welcome to ${NAME}
EOF
RUN echo "$GREETING from $(pwd)" > ran.txt && echo built-output
RUN <<EOS
mkdir -p /heredoc
echo from-heredoc > /heredoc/out
EOS
LABEL version=1.0 "desc"="a b"
EXPOSE 80 53/udp
VOLUME /data
USER 1000
HEALTHCHECK --interval=5s --retries=2 CMD wget -q localhost
STOPSIGNAL SIGINT
ONBUILD RUN echo child
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo $NAME"]
"#;
    let mut o = e.opts(df);
    o.labels.insert("extra".into(), "yes".into());
    // Build labels are taken literally: no expansion, quotes and spaces kept.
    o.labels.insert("lit".into(), r#"$APP and "q" \x"#.into());
    let (r, events) = e.build(&o);
    let id = r.unwrap();
    assert!(output(&events).contains("built-output"));
    // Each build label is one more `LABEL` step at the end, as the classic builder adds them.
    assert!(events.iter().any(|ev| matches!(ev, BuildEvent::Step { n: 1, total: 20, text } if text == "FROM busybox")));
    assert!(events.iter().any(|ev| matches!(ev, BuildEvent::Step { n: 19, total: 20, text } if text == "LABEL extra=yes")), "{events:?}");
    assert!(events.iter().any(|ev| matches!(ev, BuildEvent::Running(_))), "a RUN step reports its container");
    let img = e.store.by_id(&id).unwrap();
    let cc = img.config.container_config();
    assert_eq!(cc.env.as_ref().unwrap().iter().filter(|v| v.starts_with("APP=") || v.starts_with("NAME=")).cloned().collect::<Vec<_>>(), vec!["APP=/app", "NAME=the app"]);
    assert!(!cc.env.as_ref().unwrap().iter().any(|v| v.starts_with("GREETING")), "ARG values are not persisted");
    assert_eq!(cc.working_dir.as_deref(), Some("/app"));
    assert_eq!(cc.user.as_deref(), Some("1000"));
    assert_eq!(cc.entrypoint.unwrap(), vec!["/bin/sh", "-c"]);
    assert_eq!(cc.cmd.unwrap(), vec!["echo $NAME"]);
    let labels = cc.labels.unwrap();
    assert_eq!(labels["version"], "1.0");
    assert_eq!(labels["desc"], "a b");
    assert_eq!(labels["extra"], "yes");
    assert_eq!(labels["lit"], r#"$APP and "q" \x"#);
    assert!(cc.exposed_ports.unwrap().keys().eq(["53/udp", "80/tcp"]));
    assert!(cc.volumes.unwrap().contains_key("/data"));
    let hc = cc.healthcheck.unwrap();
    assert_eq!(hc.test.unwrap(), vec!["CMD-SHELL", "wget -q localhost"]);
    assert_eq!((hc.interval, hc.retries), (Some(5_000_000_000), Some(2)));
    assert_eq!(cc.stop_signal.as_deref(), Some("SIGINT"));
    assert_eq!(cc.on_build.unwrap(), vec!["RUN echo child"]);
    // busybox layer + 3 COPY + 2 RUN.
    assert_eq!(img.layers.len(), 6);
    // One entry per step, the two build labels' LABEL steps among them (as dockerd's history shows them).
    assert_eq!(img.config.history.len(), 1 + 19);
    assert!(img.config.history.iter().any(|h| h.created_by.as_deref() == Some("/bin/sh -c #(nop)  ENV APP=/app NAME=\"the app\"") && h.empty_layer));
    assert!(img.config.history.iter().any(|h| h.created_by.as_deref().is_some_and(|c| c.starts_with("RUN |1 GREETING=hi /bin/sh -c echo")) && !h.empty_layer));
    e.with_rootfs(&id, |root| {
        assert_eq!(std::fs::read_to_string(root.join("app/hello.txt")).unwrap(), "hello\n");
        assert_eq!(std::fs::read_to_string(root.join("app/ran.txt")).unwrap(), "hi from /app\n");
        assert_eq!(std::fs::read_to_string(root.join("etc/motd")).unwrap(), "welcome to the app\n");
        assert_eq!(std::fs::read_to_string(root.join("heredoc/out")).unwrap(), "from-heredoc\n");
        let md = std::fs::metadata(root.join("app/dir/sub/a")).unwrap();
        assert_eq!((md.uid(), md.gid(), md.mode() & 0o7777), (1000, 1001, 0o750));
        assert!(!root.join("app/dir/ignored.log").exists(), ".dockerignore honoured");
        assert!(root.join("bin/busybox").exists());
    });
    assert!(e.temp_snapshots().is_empty());
}

#[test]
fn multi_stage_copy_from_into_scratch_and_target_skips_stages() {
    let e = env();
    e.busybox();
    let df = "FROM busybox AS gen\nRUN mkdir /out && echo generated > /out/file && ln -s file /out/link\nFROM busybox AS unused\nRUN exit 3\nFROM scratch\nCOPY --from=gen /out/ /res/\nCOPY --from=0 /bin/busybox /bin/\n";
    let (r, events) = e.build(&e.opts(df));
    let id = r.unwrap();
    assert!(!events.iter().any(|ev| matches!(ev, BuildEvent::Step { text, .. } if text.contains("exit 3"))), "unneeded stage skipped");
    let img = e.store.by_id(&id).unwrap();
    assert_eq!(img.layers.len(), 2);
    e.with_rootfs(&id, |root| {
        assert_eq!(std::fs::read_to_string(root.join("res/file")).unwrap(), "generated\n");
        assert_eq!(std::fs::read_link(root.join("res/link")).unwrap(), PathBuf::from("file"));
        assert!(root.join("bin/busybox").is_file());
    });
    let mut o = e.opts(df);
    o.target = Some("gen".into());
    let gen = e.build(&o).0.unwrap();
    assert_eq!(e.store.by_id(&gen).unwrap().layers.len(), 2);
    o.target = Some("nope".into());
    assert!(matches!(e.build(&o).0, Err(BuildError::TargetNotFound(_))));
}

#[test]
fn rebuild_uses_cache_until_a_source_changes_and_no_cache_bypasses() {
    let e = env();
    e.busybox();
    std::fs::write(e.ctx.join("src.txt"), "v1").unwrap();
    let df = "FROM busybox\nRUN echo one > /one\nCOPY src.txt /src.txt\nRUN cat /src.txt > /copy\n";
    let (first, ev1) = e.build(&e.opts(df));
    assert!(!ev1.contains(&BuildEvent::UsingCache));
    let (second, ev2) = e.build(&e.opts(df));
    let first = first.unwrap();
    let layers = |id: &Digest| e.store.by_id(id).unwrap().layers;
    assert_eq!(layers(&first), layers(second.as_ref().unwrap()));
    assert_eq!(&first, second.as_ref().unwrap(), "a rebuild wholly from the cache is the same image, as with Docker");
    assert_eq!(ev2.iter().filter(|e| **e == BuildEvent::UsingCache).count(), 3);
    assert!(output(&ev2).is_empty(), "no step ran");
    std::fs::write(e.ctx.join("src.txt"), "v2").unwrap();
    let (third, ev3) = e.build(&e.opts(df));
    assert_eq!(ev3.iter().filter(|e| **e == BuildEvent::UsingCache).count(), 1, "only the RUN before the COPY is cached");
    e.with_rootfs(&third.unwrap(), |root| assert_eq!(std::fs::read_to_string(root.join("copy")).unwrap(), "v2"));
    let mut o = e.opts(df);
    o.no_cache = true;
    let (_, ev4) = e.build(&o);
    assert!(!ev4.contains(&BuildEvent::UsingCache));
}

/// `cachefrom`: only steps whose images are among the named ones (or their ancestors) come from
/// the cache; an empty set of sources uses none.
#[test]
fn cache_from_limits_the_cache_to_the_images_named() {
    let e = env();
    e.busybox();
    let df = "FROM busybox\nRUN echo one > /one\nENV A=1\nRUN echo two > /two\n";
    let (first, _) = e.build(&e.opts(df));
    let first = first.unwrap();
    // The chain of the first build (its steps' images are its ancestors).
    let mut chain = BTreeSet::new();
    let mut next = Some(first.clone());
    while let Some(id) = next {
        next = e.store.by_id(&id).and_then(|i| i.parent.clone());
        chain.insert(id);
    }
    let mut o = e.opts(df);
    o.cache_from = Some(chain);
    let (again, ev) = e.build(&o);
    assert_eq!(again.unwrap(), first, "every step from the named image's chain");
    assert_eq!(ev.iter().filter(|e| **e == BuildEvent::UsingCache).count(), 3, "{ev:?}");
    o.cache_from = Some(BTreeSet::new());
    let (other, ev) = e.build(&o);
    assert!(!ev.contains(&BuildEvent::UsingCache), "no source named: nothing from the cache: {ev:?}");
    assert_ne!(other.unwrap(), first);
}

#[test]
fn failing_run_reports_code_and_output_and_leaves_nothing() {
    let e = env();
    e.busybox();
    let before = e.store.list().len();
    let (r, events) = e.build(&e.opts("FROM busybox\nRUN echo partial > /x\nRUN echo oops && false\nCMD x\n"));
    let err = r.unwrap_err();
    assert_eq!(err.to_string(), "The command '/bin/sh -c echo oops && false' returned a non-zero code: 1");
    assert!(output(&events).contains("oops"));
    assert_eq!(e.store.list().len(), before);
    assert!(e.temp_snapshots().is_empty());
}

#[test]
fn errors_come_before_any_step_and_missing_base_is_typed() {
    let e = env();
    let (r, events) = e.build(&e.opts("FROM busybox\nRUN true\nRUNN x\n"));
    assert_eq!(r.unwrap_err().to_string(), "Dockerfile:3: unknown instruction: RUNN");
    assert!(events.is_empty());
    let (r, _) = e.build(&e.opts("ARG TAG=1.36\nFROM nosuchimage:${TAG}\n"));
    assert!(matches!(r, Err(BuildError::BaseImageMissing { reference, platform: None }) if reference == "nosuchimage:1.36"));
    let (r, _) = e.build(&e.opts("FROM scratch\nCOPY missing /x\n"));
    assert!(r.unwrap_err().to_string().contains("file not found in build context"));
}

#[test]
fn add_extracts_local_archives_and_build_args_warn_when_unused() {
    let e = env();
    let mut tarb = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o600);
    h.set_cksum();
    tarb.append_data(&mut h, "inner/f.txt", &b"abc"[..]).unwrap();
    let raw = tarb.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    std::fs::write(e.ctx.join("a.tar.gz"), gz.finish().unwrap()).unwrap();
    let mut o = e.opts("FROM scratch\nARG USED\nADD a.tar.gz /opt/\n");
    o.build_args.insert("USED".into(), "1".into());
    o.build_args.insert("UNUSED".into(), "1".into());
    let (r, events) = e.build(&o);
    let id = r.unwrap();
    assert!(events.contains(&BuildEvent::Warning("[Warning] One or more build-args [UNUSED] were not consumed".into())));
    e.with_rootfs(&id, |root| {
        assert_eq!(std::fs::read_to_string(root.join("opt/inner/f.txt")).unwrap(), "abc");
        assert_eq!(std::fs::metadata(root.join("opt/inner/f.txt")).unwrap().mode() & 0o777, 0o600);
    });
    let (r, _) = e.build(&e.opts("FROM scratch\nADD https://example.com/x /x\n"));
    assert!(matches!(r, Err(BuildError::RemoteAdd { .. })), "without a fetcher a URL is refused");
}

/// What the fake server answers for one URL: body, `Last-Modified`, `Content-Disposition` filename.
type Served = BTreeMap<String, (Vec<u8>, Option<i64>, Option<String>)>;

/// A fetcher over an in-memory table (changeable between builds) that counts its downloads.
struct FakeWeb {
    served: std::sync::Arc<std::sync::Mutex<Served>>,
    fetches: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    dir: PathBuf,
}

impl FakeWeb {
    fn new(e: &Env) -> FakeWeb {
        let dir = e.root.join("downloads");
        std::fs::create_dir_all(&dir).unwrap();
        FakeWeb { served: Default::default(), fetches: Default::default(), dir }
    }

    fn serve(&self, url: &str, body: &[u8], last_modified: Option<i64>, filename: Option<&str>) {
        self.served.lock().unwrap().insert(url.to_string(), (body.to_vec(), last_modified, filename.map(String::from)));
    }

    fn fetcher(&self) -> Fetcher {
        let (served, fetches, dir) = (self.served.clone(), self.fetches.clone(), self.dir.clone());
        Fetcher::new(move |url| {
            fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let (body, last_modified, filename) = served.lock().unwrap().get(url).cloned().ok_or_else(|| "unexpected status 404 Not Found".to_string())?;
            let path = dir.join(berth_types::random_id());
            std::fs::write(&path, body).map_err(|e| e.to_string())?;
            Ok(Fetched { path, last_modified, filename })
        })
    }

    fn leftovers(&self) -> usize {
        std::fs::read_dir(&self.dir).unwrap().count()
    }
}

fn gzipped_tar() -> Vec<u8> {
    let mut tarb = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    h.set_cksum();
    tarb.append_data(&mut h, "inner.txt", &b"abc"[..]).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tarb.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

#[test]
fn add_url_names_the_file_keeps_archives_packed_and_sets_mode_owner_and_mtime() {
    let e = env();
    let web = FakeWeb::new(&e);
    let tgz = gzipped_tar();
    web.serve("http://web.test/dir/file.txt", b"hello\n", Some(1_600_000_000), None);
    web.serve("http://web.test/data.tar.gz", &tgz, None, None);
    web.serve("http://web.test/download/", b"cd", None, Some("../evil/cd.bin"));
    let sum = Digest::of(&tgz);
    let df = format!(
        "FROM scratch\nADD http://web.test/dir/file.txt /dst/\nADD --checksum={sum} http://web.test/data.tar.gz /data.tgz\n\
         ADD --chown=7:8 http://web.test/download/ /named/\nADD --chmod=644 http://web.test/dir/file.txt /renamed.txt\n"
    );
    let mut o = e.opts(&df);
    o.fetcher = Some(web.fetcher());
    let id = e.build(&o).0.unwrap();
    e.with_rootfs(&id, |root| {
        let md = std::fs::metadata(root.join("dst/file.txt")).unwrap();
        assert_eq!(std::fs::read(root.join("dst/file.txt")).unwrap(), b"hello\n");
        assert_eq!((md.mode() & 0o7777, md.uid(), md.gid(), md.mtime()), (0o600, 0, 0, 1_600_000_000));
        assert_eq!(std::fs::read(root.join("data.tgz")).unwrap(), tgz, "a downloaded archive is not extracted");
        assert!(!root.join("inner.txt").exists());
        assert_eq!(std::fs::metadata(root.join("data.tgz")).unwrap().mtime(), 0, "no Last-Modified: the epoch, as Docker");
        let md = std::fs::metadata(root.join("named/cd.bin")).unwrap();
        assert_eq!((md.uid(), md.gid()), (7, 8), "Content-Disposition names a file for a path without one; --chown applies");
        assert_eq!(std::fs::metadata(root.join("renamed.txt")).unwrap().mode() & 0o7777, 0o644);
    });
    assert_eq!(web.leftovers(), 0, "downloads are removed after the step");
}

#[test]
fn add_url_checksum_mismatch_and_fetch_failure_commit_nothing() {
    let e = env();
    let web = FakeWeb::new(&e);
    web.serve("http://web.test/f", b"actual", None, None);
    let wrong = Digest::of(b"expected");
    let mut o = e.opts(&format!("FROM scratch\nADD --checksum={wrong} http://web.test/f /f\n"));
    o.fetcher = Some(web.fetcher());
    let before = e.store.list().len();
    let msg = e.build(&o).0.unwrap_err().to_string();
    assert_eq!(msg, format!("Dockerfile:2: ADD http://web.test/f: checksum mismatch: expected {wrong}, got {}", Digest::of(b"actual")));
    o.dockerfile_text = Some("FROM scratch\nADD http://web.test/missing /f\n".into());
    let err = e.build(&o).0.unwrap_err();
    assert_eq!(err.to_string(), "ADD failed: GET http://web.test/missing: unexpected status 404 Not Found");
    assert_eq!(berth_types::error::HasKind::kind(&err), berth_types::ErrorKind::Unavailable);
    o.dockerfile_text = Some("FROM scratch\nADD http://web.test/f http://web.test/f /f\n".into());
    assert!(e.build(&o).0.unwrap_err().to_string().contains("the destination must be a directory"));
    o.dockerfile_text = Some("FROM scratch\nADD git@github.com:a/b.git /src\n".into());
    assert!(e.build(&o).0.unwrap_err().to_string().contains("git repositories are not supported"));
    assert_eq!(e.store.list().len(), before);
    assert!(e.temp_snapshots().is_empty());
    assert_eq!(web.leftovers(), 0);
}

#[test]
fn add_url_is_downloaded_every_build_and_cached_by_content() {
    let e = env();
    let web = FakeWeb::new(&e);
    web.serve("http://web.test/v", b"one", Some(1_000), None);
    let mut o = e.opts("FROM scratch\nADD http://web.test/v /v\nCOPY <<EOF /after\nx\nEOF\n");
    o.fetcher = Some(web.fetcher());
    let (first, ev1) = e.build(&o);
    assert!(!ev1.contains(&BuildEvent::UsingCache));
    let (second, ev2) = e.build(&o);
    assert_eq!(ev2.iter().filter(|e| **e == BuildEvent::UsingCache).count(), 2, "unchanged content: both steps cached");
    assert_eq!(first.unwrap(), second.unwrap());
    assert_eq!(web.fetches.load(std::sync::atomic::Ordering::SeqCst), 2, "the URL is fetched on every build");
    web.serve("http://web.test/v", b"two", Some(1_000), None);
    let (third, ev3) = e.build(&o);
    assert!(!ev3.contains(&BuildEvent::UsingCache), "changed content: the step and those after it rebuild");
    e.with_rootfs(&third.unwrap(), |root| assert_eq!(std::fs::read(root.join("v")).unwrap(), b"two"));
    web.serve("http://web.test/v", b"two", Some(2_000), None);
    let (_, ev4) = e.build(&o);
    assert!(!ev4.contains(&BuildEvent::UsingCache), "a new Last-Modified is a new mtime, so a new layer");
}

#[test]
fn run_cache_mount_persists_between_builds() {
    let e = env();
    e.busybox();
    let df = "FROM busybox\nRUN --mount=type=cache,target=/cache echo x >> /cache/log && wc -l < /cache/log > /count\n";
    e.build(&e.opts(df)).0.unwrap();
    let mut o = e.opts(df);
    o.no_cache = true;
    let id = e.build(&o).0.unwrap();
    e.with_rootfs(&id, |root| {
        assert_eq!(std::fs::read_to_string(root.join("count")).unwrap().trim(), "2");
        assert!(!root.join("cache/log").exists(), "cache mounts are not part of the layer");
    });
}

/// A base image registered with fixed bytes, so two fresh roots start from the same id.
fn fixed_busybox(e: &Env) {
    let (_, tar) = berth_image::compression::decompress(std::fs::File::open(busybox()).unwrap()).unwrap();
    let layer = berth_image::layer::ingest_layer(e.store.content(), tar).unwrap();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2020-01-01T00:00:00Z",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id.to_string()]},
    });
    let (id, _) = e.store.register(&serde_json::to_vec(&config).unwrap(), vec![LayerRecord { diff_id: layer.diff_id, size: layer.size }], None).unwrap();
    e.store.tag(&id, &berth_types::Reference::parse_tagged("busybox").unwrap()).unwrap();
}

#[test]
fn same_context_and_source_date_epoch_give_identical_image_ids() {
    let build_once = || {
        let e = env();
        fixed_busybox(&e);
        std::fs::write(e.ctx.join("f.txt"), "data").unwrap();
        let mut o = e.opts("FROM busybox\nCOPY f.txt /data/f.txt\nRUN echo run > /data/r && mkdir -p /data/new\nENV A=1\nCMD [\"cat\", \"/data/f.txt\"]\n");
        o.build_args.insert("SOURCE_DATE_EPOCH".into(), "0".into());
        let id = e.build(&o).0.unwrap();
        let img = e.store.by_id(&id).unwrap();
        (id, img.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>(), img.config.created.clone())
    };
    let a = build_once();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let b = build_once();
    assert_eq!(a.1, b.1, "layer digests");
    assert_eq!(a.0, b.0, "image ids");
    assert_eq!(a.2.as_deref(), Some("1970-01-01T00:00:00Z"));
}

#[test]
fn run_bind_mount_from_a_stage_and_from_the_context_key_the_cache_on_content() {
    let e = env();
    e.busybox();
    std::fs::create_dir_all(e.ctx.join("src")).unwrap();
    std::fs::write(e.ctx.join("src/in.txt"), "v1\n").unwrap();
    let df = |gen: &str| {
        format!(
            "FROM busybox AS gen\nRUN mkdir /out && echo {gen} > /out/data && ln -s data /out/link\n\
             FROM busybox\nRUN --mount=type=bind,from=gen,source=/out,target=/m cat /m/data /m/link > /from-stage\n\
             RUN --mount=type=bind,source=src,target=/ctx cp /ctx/in.txt /from-ctx && ! touch /ctx/new 2>/dev/null\n\
             RUN --mount=type=bind,from=gen,source=/out,target=/w,rw echo changed > /w/data && touch /w/new && cat /w/data > /rw-saw\n\
             RUN --mount=type=bind,from=gen,source=/out,target=/again cat /again/data > /after-rw\n"
        )
    };
    let (r, _) = e.build(&e.opts(&df("one")));
    let id = r.unwrap();
    e.with_rootfs(&id, |root| {
        assert_eq!(std::fs::read_to_string(root.join("from-stage")).unwrap(), "one\none\n");
        assert_eq!(std::fs::read_to_string(root.join("from-ctx")).unwrap(), "v1\n");
        assert!(!root.join("m").join("data").exists(), "the mount is not part of the layer");
        assert_eq!(std::fs::read_to_string(root.join("rw-saw")).unwrap(), "changed\n", "a rw bind takes writes");
        assert!(!root.join("w/new").exists());
        assert_eq!(std::fs::read_to_string(root.join("after-rw")).unwrap(), "one\n", "and leaves its source unchanged");
    });
    assert!(!e.ctx.join("src/new").exists(), "bind mounts are read-only by default");
    // The mounted content is part of the step's cache key: a changed stage or context file reruns it.
    let (r, events) = e.build(&e.opts(&df("two")));
    let id2 = r.unwrap();
    assert!(!events.contains(&BuildEvent::UsingCache), "{events:?}");
    std::fs::write(e.ctx.join("src/in.txt"), "v2\n").unwrap();
    let (r, events) = e.build(&e.opts(&df("two")));
    let id3 = r.unwrap();
    assert_eq!(events.iter().filter(|ev| **ev == BuildEvent::UsingCache).count(), 2, "only the context bind step and the one after rerun");
    e.with_rootfs(&id2, |root| assert_eq!(std::fs::read_to_string(root.join("from-stage")).unwrap(), "two\ntwo\n"));
    e.with_rootfs(&id3, |root| assert_eq!(std::fs::read_to_string(root.join("from-ctx")).unwrap(), "v2\n"));
    // A source outside the mounted root is refused; no view or temporary snapshot is left.
    let (r, _) = e.build(&e.opts("FROM busybox AS a\nFROM busybox\nRUN --mount=type=bind,from=a,source=/nope,target=/m true\n"));
    assert!(r.unwrap_err().to_string().contains("source \"nope\" not found"));
    assert!(e.temp_snapshots().is_empty());
    assert_eq!(std::fs::read_dir(e.root.join("cache/tmp")).unwrap().count(), 0);
}

#[test]
fn independent_stages_build_at_the_same_time_and_log_in_file_order() {
    let e = env();
    e.busybox();
    // Each of the two stages waits for the other through a shared cache mount: built one after the
    // other, the first would time out and the build fail.
    let wait = |me: &str, other: &str| {
        format!("RUN --mount=type=cache,id=rendezvous,target=/r touch /r/{me} && i=0 && while [ ! -f /r/{other} ]; do sleep 0.1; i=$((i+1)); [ $i -lt 150 ] || exit 7; done && echo {me}-done > /{me}\n")
    };
    let df = format!("FROM busybox AS a\n{}FROM busybox AS b\n{}FROM scratch\nCOPY --from=a /a /\nCOPY --from=b /b /\n", wait("a", "b"), wait("b", "a"));
    let (r, events) = e.build(&e.opts(&df));
    let id = r.unwrap();
    e.with_rootfs(&id, |root| {
        assert_eq!(std::fs::read_to_string(root.join("a")).unwrap(), "a-done\n");
        assert_eq!(std::fs::read_to_string(root.join("b")).unwrap(), "b-done\n");
    });
    let steps: Vec<usize> = events.iter().filter_map(|ev| if let BuildEvent::Step { n, total: 7, .. } = ev { Some(*n) } else { None }).collect();
    assert_eq!(steps, (1..=7).collect::<Vec<_>>(), "steps are reported in file order: {events:?}");
    // With one stage at a time the same Dockerfile cannot finish: the test above proves overlap.
    let mut o = e.opts(&df.replace("rendezvous", "rendezvous2"));
    (o.no_cache, o.parallel_stages) = (true, 1);
    let (r, _) = e.build(&o);
    assert!(r.unwrap_err().to_string().contains("returned a non-zero code: 7"));
    assert!(e.temp_snapshots().is_empty());
}

#[test]
fn a_failing_stage_stops_the_others_and_its_output_is_shown() {
    let e = env();
    e.busybox();
    let df = "FROM busybox AS slow\nRUN sleep 2\nRUN echo never > /never\nFROM busybox AS bad\nRUN echo bad-output && exit 4\nFROM scratch\nCOPY --from=slow /never /\nCOPY --from=bad /bin/busybox /\n";
    let (r, events) = e.build(&e.opts(df));
    assert!(r.unwrap_err().to_string().contains("returned a non-zero code: 4"));
    assert!(output(&events).contains("bad-output"));
    assert!(!events.iter().any(|ev| matches!(ev, BuildEvent::Step { text, .. } if text == "RUN echo never > /never")), "the slow stage stopped: {events:?}");
    assert!(e.temp_snapshots().is_empty());
}

#[test]
fn platform_selects_the_config_and_a_mismatched_base_is_reported() {
    let e = env();
    e.busybox();
    let host = berth_image::host_architecture();
    let df = format!("FROM --platform=linux/{host} busybox AS b\nARG TARGETPLATFORM\nRUN echo $TARGETPLATFORM > /tp\nFROM --platform=$TARGETPLATFORM scratch\nCOPY --from=b /tp /\n");
    let mut o = e.opts(&df);
    o.platform = Some("linux/arm/v7".into());
    let (r, _) = e.build(&o);
    let id = r.unwrap();
    let img = e.store.by_id(&id).unwrap();
    assert_eq!((img.config.os.as_str(), img.config.architecture.as_str(), img.config.variant.as_deref()), ("linux", "arm", Some("v7")));
    e.with_rootfs(&id, |root| assert_eq!(std::fs::read_to_string(root.join("tp")).unwrap(), "linux/arm/v7\n"));
    assert_eq!(Platform::parse("linux/aarch64/v8").unwrap().to_string(), "linux/arm64");
    assert_eq!(Platform::parse("Linux/x86_64").unwrap().to_string(), "linux/amd64");
    let (r, _) = e.build(&e.opts("FROM --platform=linux/s390x busybox\n"));
    match r.unwrap_err() {
        BuildError::PlatformMismatch { reference, wanted, actual } => {
            assert_eq!((reference.as_str(), wanted.as_str()), ("busybox", "linux/s390x"));
            assert_eq!(actual, format!("linux/{host}"));
        }
        other => panic!("{other}"),
    }
    let (r, _) = e.build(&e.opts("FROM --platform=linux/ busybox\n"));
    assert!(r.unwrap_err().to_string().contains("invalid platform"));
}

#[test]
fn secret_mounts_are_read_only_files_and_a_required_missing_secret_fails() {
    let e = env();
    e.busybox();
    let secret = e.root.join("token.txt");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let df = "FROM busybox\nRUN --mount=type=secret,id=token wc -c < /run/secrets/token > /len && ! echo x >> /run/secrets/token\n\
              RUN --mount=type=secret,id=other,target=/etc/other ls /etc/other 2>/dev/null | wc -l > /optional\n";
    let mut o = e.opts(df);
    o.secrets.insert("token".into(), secret.clone());
    let (r, _) = e.build(&o);
    let id = r.unwrap();
    e.with_rootfs(&id, |root| {
        assert_eq!(std::fs::read_to_string(root.join("len")).unwrap().trim(), "7");
        assert_eq!(std::fs::read_to_string(root.join("optional")).unwrap().trim(), "0", "a secret not given is not mounted");
        assert!(!root.join("run/secrets/token").is_file(), "the secret is not in the layer");
    });
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "s3cret\n");
    let (r, _) = e.build(&e.opts("FROM busybox\nRUN --mount=type=secret,id=missing,required=true true\n"));
    assert!(r.unwrap_err().to_string().contains("secret missing not provided"));
}

#[test]
fn mount_stubs_leave_the_layer_but_a_workdir_stays() {
    let e = env();
    e.busybox();
    let df = "FROM busybox\nWORKDIR /app\nRUN --mount=type=cache,target=/app/cache --mount=type=tmpfs,target=/scratch/deep echo ok > /ran\n";
    let (r, _) = e.build(&e.opts(df));
    let id = r.unwrap();
    e.with_rootfs(&id, |root| {
        assert!(root.join("ran").is_file());
        assert!(root.join("app").is_dir(), "WORKDIR made /app: it is content, not a stub");
        assert!(!root.join("app/cache").exists() && !root.join("scratch").exists(), "mount stubs are not in the layer");
    });
}
