//! `POST /build`: the build context is unpacked (hostile-input safe) into a scratch directory, the
//! Dockerfile is built by `berth-build`, and each `RUN` step runs as a real container through a
//! shim ([`ShimRunner`]), exactly like `berth run` does. `ADD <http(s) URL>` sources are downloaded
//! by [`fetch_url`] into the data root's `tmp/`.

use super::containers::ContainerService;
use super::ServiceError;
use crate::events::EventBus;
use berth_build::{BuildError, BuildEvent, BuildOptions, Fetched, Fetcher, RunMountKind, RunStep, StepRunner};
use berth_image::ImageStore;
use berth_runtime::config::{MountSpec, NamespaceMode};
use berth_runtime::mount::MountDesc;
use berth_runtime::RuntimeConfig;
use berth_shim::{ExitRecord, ShimHello};
use berth_types::{Digest, Reference};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What the client asked for.
#[derive(Debug, Clone, Default)]
pub struct BuildParams {
    /// `-t` references.
    pub tags: Vec<Reference>,
    /// `-f` (path inside the context).
    pub dockerfile: String,
    /// `--build-arg`.
    pub build_args: BTreeMap<String, String>,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    /// `--target`.
    pub target: Option<String>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--platform`.
    pub platform: Option<String>,
    /// `-q`.
    pub quiet: bool,
    /// `--network` for RUN steps.
    pub network: Option<String>,
    /// `--add-host` for RUN steps (`name:ip`).
    pub extra_hosts: Vec<String>,
    /// `--shm-size` for RUN steps, in bytes (0: the default).
    pub shm_size: u64,
    /// `--memory`, `--memory-swap`, `--cpu-shares`, `--cpuset-cpus`, `--cpu-period`, `--cpu-quota`
    /// for RUN steps, checked as a container's.
    pub limits: StepLimits,
    /// `--rm=false`: see [`berth_build::BuildOptions::keep_intermediate`].
    pub keep_intermediate: bool,
    /// `--force-rm`.
    pub force_remove: bool,
    /// `--cache-from` images (None: the whole local cache).
    pub cache_from: Option<Vec<String>>,
    /// Set when the client went away: the running step is killed and no further step starts, so
    /// the build ends and cleans up (its step containers, networks, context and lease).
    pub cancel: Arc<AtomicBool>,
    /// A context fetched before the build started (a git repository's checkout, `remote=`),
    /// used instead of the context stream.
    pub prepared: Option<Arc<PreparedContext>>,
}

/// A build context made before the build starts (so that its failure is the request's error, as
/// dockerd's): a git checkout in its own scratch directory, removed when the last user drops it.
#[derive(Debug)]
pub struct PreparedContext {
    scratch: PathBuf,
    dir: PathBuf,
}

impl Drop for PreparedContext {
    fn drop(&mut self) {
        let _ = berth_types::teardown::remove_tree(&self.scratch);
    }
}

/// A RUN step's stderr as the classic builder streams it: each write wrapped in the terminal's
/// bright red and reset (dockerd's `streamformatter.NewStderrWriter`), so clients show it apart.
fn stderr_message(data: &[u8]) -> Vec<u8> {
    [b"\x1b[91m".as_slice(), data, b"\x1b[0m"].concat()
}

/// The length of the whole stream frame at the start of `b` (8-byte header and payload), if
/// all of it is there.
fn buffered_frame_len(b: &[u8]) -> Option<usize> {
    let len = u32::from_be_bytes(b.get(4..8)?.try_into().ok()?) as usize;
    (b.len() >= 8 + len).then_some(8 + len)
}

/// The resource limits of a build's RUN steps (0: none).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepLimits {
    pub memory: i64,
    pub memory_swap: i64,
    pub cpu_shares: i64,
    pub cpuset_cpus: String,
    pub cpu_period: i64,
    pub cpu_quota: i64,
}

impl StepLimits {
    /// The limits as a container's host config, for dockerd's checks of them.
    fn host_config(&self) -> berth_api::container::HostConfig {
        berth_api::container::HostConfig {
            memory: self.memory,
            memory_swap: self.memory_swap,
            cpu_shares: self.cpu_shares,
            cpuset_cpus: self.cpuset_cpus.clone(),
            cpu_period: self.cpu_period,
            cpu_quota: self.cpu_quota,
            ..Default::default()
        }
    }

    fn resources(&self) -> berth_runtime::config::Resources {
        let pos = |v: i64| (v > 0).then_some(v);
        berth_runtime::config::Resources {
            memory: pos(self.memory),
            memory_swap: (self.memory_swap != 0).then_some(self.memory_swap),
            cpu_shares: (self.cpu_shares > 0).then_some(self.cpu_shares as u64),
            cpu_quota: pos(self.cpu_quota),
            cpu_period: (self.cpu_period > 0).then_some(self.cpu_period as u64),
            cpuset_cpus: (!self.cpuset_cpus.is_empty()).then(|| self.cpuset_cpus.clone()),
            ..Default::default()
        }
    }
}

/// Fetches a base image the Dockerfile names but the store lacks (the daemon's pull).
pub type Puller = Arc<dyn Fn(&Reference, Option<&str>, &mut dyn FnMut(BuildEvent)) -> Result<(), ServiceError> + Send + Sync>;

/// Builds images.
pub struct BuildService {
    puller: std::sync::OnceLock<Puller>,
    root: PathBuf,
    images: Arc<ImageStore>,
    events: Arc<EventBus>,
    /// Its snapshotter and shim run RUN steps; it puts them on the default bridge network.
    containers: Arc<ContainerService>,
    leases: Arc<super::gc::lease::Leases>,
}

/// The hostname of a RUN step's container (BuildKit's).
const STEP_HOSTNAME: &str = "buildkitsandbox";

/// Runs RUN steps in containers through `berth shim`.
pub struct ShimRunner {
    root: PathBuf,
    shim_exe: PathBuf,
    network: Option<String>,
    extra_hosts: Vec<String>,
    shm_size: u64,
    limits: StepLimits,
    /// Attaches steps to the default bridge, on the daemon's runtime.
    bridge: Option<(Arc<ContainerService>, tokio::runtime::Handle)>,
    /// The build's cancellation ([`BuildParams::cancel`]).
    cancel: Arc<AtomicBool>,
    /// `--userns-remap`: steps run in a user namespace with these maps.
    userns: Option<berth_runtime::idmap::IdMappings>,
}

/// The error of a build whose client went away.
fn cancelled() -> BuildError {
    runner_err("the build was cancelled: its client went away")
}

fn runner_err(e: impl std::fmt::Display) -> BuildError {
    BuildError::Runner(e.to_string())
}

fn connect(dir: &Path, hello: &ShimHello) -> std::io::Result<UnixStream> {
    let mut s = UnixStream::connect(berth_shim::socket_path(dir))?;
    let mut line = serde_json::to_vec(hello).map_err(std::io::Error::other)?;
    line.push(b'\n');
    s.write_all(&line)?;
    Ok(s)
}

impl StepRunner for ShimRunner {
    fn check(&self) -> Result<(), BuildError> {
        let mut hc = self.limits.host_config();
        super::containers::validate_resources(&mut hc).map_err(runner_err)?;
        for h in &self.extra_hosts {
            super::containers::check_extra_host(h).map_err(runner_err)?;
        }
        Ok(())
    }

    fn run(&self, step: &RunStep, output: &mut dyn FnMut(&[u8])) -> Result<i32, BuildError> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(cancelled());
        }
        // The step's container is named by its snapshot (` ---> Running in <id>`).
        let id = step.id.clone();
        let dir = self.root.join("builds").join(&id);
        std::fs::create_dir_all(&dir).map_err(runner_err)?;
        let result = self.run_in(&id, &dir, step, output);
        let _ = berth_types::teardown::remove_tree(&dir);
        result
    }
}

impl ShimRunner {
    fn run_in(&self, id: &str, dir: &Path, step: &RunStep, output: &mut dyn FnMut(&[u8])) -> Result<i32, BuildError> {
        let mounts: Vec<MountDesc> =
            step.rootfs.iter().map(|m| MountDesc { kind: m.kind.clone(), source: m.source.display().to_string(), options: m.options.clone() }).collect();
        let mut extra = Vec::new();
        for m in &step.mounts {
            let (kind, source, mut options) = match m.kind {
                RunMountKind::Tmpfs => ("tmpfs".to_string(), "tmpfs".to_string(), vec!["nosuid".to_string(), "nodev".to_string()]),
                _ => {
                    let src = m.source.as_ref().ok_or_else(|| runner_err(format!("mount {} has no source", m.target)))?;
                    ("bind".to_string(), src.display().to_string(), vec!["rbind".to_string()])
                }
            };
            if m.readonly {
                options.push("ro".into());
            }
            if m.kind == RunMountKind::Tmpfs && m.size > 0 {
                options.push(format!("size={}", m.size));
            }
            extra.push(MountSpec { destination: m.target.clone(), kind, source, options });
        }
        // RUN --network wins over the build's networkmode; by default a step is on the default
        // bridge (with its own /etc/hosts and /etc/resolv.conf), as with Docker's classic builder.
        let mode = match step.network.as_str() {
            "default" => self.network.as_deref().unwrap_or("default"),
            m => m,
        };
        let step_net = match (mode, &self.bridge) {
            ("host" | "none", _) | (_, None) => None,
            // Without a default bridge (`--bridge none`, no iptables) the step still runs, offline.
            // A named network must exist (dockerd: `network nosuch not found` when the step starts).
            (named, Some((containers, rt))) if !matches!(named, "default" | "bridge") => {
                Some(rt.block_on(containers.step_network_up(id, STEP_HOSTNAME, named, &self.extra_hosts)).map_err(runner_err)?)
            }
            (_, Some((containers, rt))) => match rt.block_on(containers.step_network_up(id, STEP_HOSTNAME, "bridge", &self.extra_hosts)) {
                Ok(n) => Some(n),
                Err(e) => {
                    tracing::warn!(step = %id, error = %e, "no default bridge for the build step; it runs without a network");
                    None
                }
            },
        };
        let network = match (mode, &step_net) {
            ("host", _) => NamespaceMode::Host,
            (_, Some(n)) => NamespaceMode::Path(n.netns.clone()),
            _ => NamespaceMode::Private,
        };
        let result = (|| {
            // The builder takes the mountpoint stubs of these out of the layer (RUNNER_MOUNTS).
            if let Some(n) = &step_net {
                for (dest, content) in berth_build::RUNNER_MOUNTS.into_iter().zip([&n.hosts, &n.resolv]) {
                    let file = dest.rsplit('/').next().unwrap_or(dest);
                    berth_types::persist::replace_file(&dir.join(file), content.as_bytes()).map_err(runner_err)?;
                    extra.push(MountSpec { destination: dest.into(), kind: "bind".into(), source: dir.join(file).display().to_string(), options: vec!["rbind".into()] });
                }
            }
            self.run_step(id, dir, step, network, mounts, extra, output)
        })();
        if let (Some(net), Some((containers, rt))) = (step_net, &self.bridge) {
            rt.block_on(containers.step_network_down(id, net));
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn run_step(
        &self,
        id: &str,
        dir: &Path,
        step: &RunStep,
        network: NamespaceMode,
        mounts: Vec<MountDesc>,
        extra: Vec<MountSpec>,
        output: &mut dyn FnMut(&[u8]),
    ) -> Result<i32, BuildError> {
        let w = |name: &str, bytes: &[u8]| berth_types::persist::replace_file(&dir.join(name), bytes).map_err(runner_err);
        let cfg = RuntimeConfig {
            id: id.to_string(),
            args: step.args.clone(),
            env: step.env.clone(),
            cwd: if step.workdir.is_empty() { "/".into() } else { step.workdir.clone() },
            user: step.user.clone(),
            hostname: STEP_HOSTNAME.into(),
            mounts: extra,
            cgroups_path: format!("/berth-{id}"),
            network,
            shm_size: if step.shm_size > 0 { step.shm_size } else { self.shm_size },
            resources: self.limits.resources(),
            userns: self.userns.clone(),
            ..Default::default()
        };
        w("mounts.json", &serde_json::to_vec(&mounts).map_err(runner_err)?)?;
        w("runtime.json", &serde_json::to_vec(&cfg).map_err(runner_err)?)?;
        let log = std::fs::File::create(dir.join("shim.log")).map_err(runner_err)?;
        berth_runtime::cgroups::prime_attach();
        let mut child = berth_shim::command(&self.shim_exe)
            .arg("--id")
            .arg(id)
            .arg("--dir")
            .arg(dir)
            .arg("--state-root")
            .arg(self.root.join("runtime"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(runner_err)?;
        let mut first = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut first);
        }
        let reply: serde_json::Value = serde_json::from_str(first.trim()).unwrap_or_else(|_| serde_json::json!({"error": "the shim exited before starting the step"}));
        if let Some(e) = reply.get("error").and_then(|e| e.as_str()) {
            let _ = child.wait();
            return Err(runner_err(e));
        }
        let attach = connect(dir, &ShimHello::Attach { stdin: false, stdout: true, stderr: true }).map_err(runner_err)?;
        let wait = connect(dir, &ShimHello::Wait).map_err(runner_err)?;
        drop(connect(dir, &ShimHello::Release).map_err(runner_err)?);
        // A cancelled build kills its running step: the shim then reports the exit as usual.
        let pid = reply.get("pid").and_then(|p| p.as_i64()).unwrap_or(0) as i32;
        let step_done = Arc::new(AtomicBool::new(false));
        let killer = (pid > 0).then(|| {
            let (cancel, done) = (self.cancel.clone(), step_done.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    if cancel.load(Ordering::Relaxed) {
                        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                        return;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            })
        });
        let mut r = BufReader::new(attach);
        let mut hdr = [0u8; 8];
        while r.read_exact(&mut hdr).is_ok() {
            let len = u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]) as usize;
            let mut buf = vec![0u8; len];
            if r.read_exact(&mut buf).is_err() {
                break;
            }
            // Frames of the same stream already received go out as one message, as dockerd sends
            // what one read of the step's output pipe returned.
            while let Some(n) = buffered_frame_len(r.buffer()).filter(|_| r.buffer()[0] == hdr[0]) {
                let frame = r.buffer()[8..n].to_vec();
                r.consume(n);
                buf.extend_from_slice(&frame);
            }
            if hdr[0] == 2 {
                output(&stderr_message(&buf));
            } else {
                output(&buf);
            }
        }
        let mut line = String::new();
        let _ = BufReader::new(wait).read_line(&mut line);
        let _ = child.wait();
        step_done.store(true, Ordering::Relaxed);
        if let Some(k) = killer {
            let _ = k.join();
        }
        if self.cancel.load(Ordering::Relaxed) {
            return Err(cancelled());
        }
        let exit: ExitRecord = serde_json::from_str(line.trim())
            .or_else(|_| std::fs::read(dir.join("exit.json")).map_err(runner_err).and_then(|b| serde_json::from_slice(&b).map_err(runner_err)))
            .map_err(|_: BuildError| runner_err("the step's shim exited without an exit status"))?;
        if let Some(e) = exit.error {
            return Err(runner_err(e));
        }
        Ok(exit.exit_code)
    }
}

impl BuildService {
    /// The images `cachefrom` names (those in the store; dockerd's pull of the others is not
    /// attempted) and all their ancestors: the steps' images a build may take from the cache.
    fn cache_sources(&self, refs: &[String]) -> std::collections::BTreeSet<Digest> {
        let mut out = std::collections::BTreeSet::new();
        for r in refs {
            let mut next = self.images.get(r).ok().map(|i| i.id.clone());
            while let Some(id) = next.take() {
                if !out.insert(id.clone()) {
                    break;
                }
                next = self.images.by_id(&id).and_then(|i| i.parent.clone());
            }
        }
        out
    }

    /// A build service over the daemon's stores.
    pub fn new(root: &Path, images: Arc<ImageStore>, containers: Arc<ContainerService>, events: Arc<EventBus>, leases: Arc<super::gc::lease::Leases>) -> Self {
        BuildService { puller: std::sync::OnceLock::new(), root: root.to_path_buf(), images, events, containers, leases }
    }

    /// Lets builds pull missing base images (set once the registry client exists).
    pub fn set_puller(&self, p: Puller) {
        let _ = self.puller.set(p);
    }

    /// The image store builds write to.
    pub fn images(&self) -> &ImageStore {
        &self.images
    }

    /// Where the build cache lives.
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("build-cache")
    }

    /// Fetches a git repository's context (`remote=`, with its `#ref:subdir`) for a build.
    /// Blocking: call from `spawn_blocking`.
    pub fn fetch_git_context(&self, remote: &str) -> Result<PreparedContext, ServiceError> {
        let scratch = self.root.join("tmp").join(format!("git-{}", &berth_types::random_id()[..16]));
        std::fs::create_dir_all(&scratch).map_err(|e| ServiceError::Internal(format!("creating build context dir: {e}")))?;
        // Dropped on failure, which removes the scratch directory.
        let mut prepared = PreparedContext { dir: PathBuf::new(), scratch };
        prepared.dir = super::git_context::clone(remote, &prepared.scratch)?;
        Ok(prepared)
    }

    /// Builds from a context stream (a tar, plain or compressed, or a bare Dockerfile) and reports
    /// progress through `events`. Blocking: call from `spawn_blocking`.
    pub fn build(&self, context: impl Read, params: &BuildParams, events: &mut dyn FnMut(BuildEvent)) -> Result<Digest, ServiceError> {
        let _lease = self.leases.acquire("build");
        let scratch = self.root.join("tmp").join(format!("build-{}", &berth_types::random_id()[..16]));
        std::fs::create_dir_all(&scratch).map_err(|e| ServiceError::Internal(format!("creating build context dir: {e}")))?;
        let result = self.build_in(&scratch, context, params, events);
        let _ = berth_types::teardown::remove_tree(&scratch);
        result
    }

    fn build_in(&self, scratch: &Path, context: impl Read, params: &BuildParams, events: &mut dyn FnMut(BuildEvent)) -> Result<Digest, ServiceError> {
        let (ctx, dockerfile_text) = match &params.prepared {
            Some(p) => (p.dir.clone(), None),
            None => unpack_context(scratch, context)?,
        };
        let name = if params.dockerfile.is_empty() { "Dockerfile" } else { params.dockerfile.as_str() };
        check_dockerfile(&ctx, name, dockerfile_text.as_deref())?;
        let opts = BuildOptions {
            context_dir: ctx,
            dockerfile: if params.dockerfile.is_empty() { "Dockerfile".into() } else { params.dockerfile.clone() },
            dockerfile_text,
            build_args: params.build_args.clone(),
            labels: params.labels.clone(),
            target: params.target.clone(),
            no_cache: params.no_cache,
            platform: params.platform.clone(),
            cache_dir: self.cache_dir(),
            // A quiet build's output is kept by the API, which sends it when the build fails.
            quiet: false,
            keep_intermediate: params.keep_intermediate,
            force_remove: params.force_remove,
            cache_from: params.cache_from.as_ref().map(|refs| self.cache_sources(refs)),
            fetcher: Some(self.url_fetcher()),
            userns: self.containers.userns_remap().cloned(),
            ..Default::default()
        };
        let runner = ShimRunner {
            root: self.root.clone(),
            shim_exe: self.containers.shim_exe().to_path_buf(),
            network: params.network.clone(),
            extra_hosts: params.extra_hosts.clone(),
            shm_size: params.shm_size,
            limits: params.limits.clone(),
            // Build stages run on plain threads: the runtime handle for networking is taken here.
            bridge: tokio::runtime::Handle::try_current().ok().map(|rt| (self.containers.clone(), rt)),
            cancel: params.cancel.clone(),
            userns: opts.userns.clone(),
        };
        // A missing base image, or one for another platform than asked, is pulled (as the classic
        // builder does), then the build starts over; each base is pulled at most once.
        let mut pulled = std::collections::HashSet::new();
        let id = loop {
            let (reference, platform, err) = match berth_build::build(&opts, &self.images, self.containers.snapshots().as_ref(), &runner, events) {
                Ok(id) => break id,
                Err(BuildError::BaseImageMissing { reference, platform }) => {
                    let msg = format!("No such image: {reference}");
                    (reference, platform, ServiceError::NotFound(msg))
                }
                Err(BuildError::PlatformMismatch { reference, wanted, actual }) => {
                    let e = BuildError::PlatformMismatch { reference: reference.clone(), wanted: wanted.clone(), actual };
                    (reference, Some(wanted), ServiceError::Invalid(e.to_string()))
                }
                // What refused or failed the step's container, in the runtime's own words.
                Err(BuildError::Runner(m)) => return Err(ServiceError::Invalid(m)),
                Err(e @ BuildError::RunFailed { .. }) => {
                    let code = if let BuildError::RunFailed { code, .. } = &e { *code } else { 0 };
                    return Err(ServiceError::StepFailed { message: e.to_string(), code });
                }
                Err(e) if e.kind_is_not_found() => return Err(ServiceError::NotFound(e.to_string())),
                Err(e) => return Err(ServiceError::Invalid(e.to_string())),
            };
            let (Some(pull), Ok(r)) = (self.puller.get(), Reference::parse_tagged(&reference)) else { return Err(err) };
            if !pulled.insert((reference, platform.clone())) {
                return Err(err);
            }
            pull(&r, platform.as_deref(), events)?;
        };
        for t in &params.tags {
            self.images.tag(&id, t)?;
            self.events.publish("image", "tag", &id.to_string(), BTreeMap::from([("name".to_string(), t.familiar())]));
        }
        Ok(id)
    }
}

/// The largest body `ADD <url>` (and `import URL`) downloads: a hostile or broken server cannot fill the disk.
pub const MAX_DOWNLOAD: u64 = 2 << 30;
/// How long connecting, and then each read of the body, may take before the download fails.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The HTTP client of downloads from URLs users give (`ADD <url>`, `import URL`): connecting and
/// each read of the body time out.
pub fn download_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .build()
        .map_err(|e| berth_distribution::describe_transport(&e))
}

impl BuildService {
    /// Downloads `ADD` URLs into `<root>/tmp/` (emptied when the daemon starts, so a crash
    /// mid-download leaves nothing behind for long).
    /// Called on the build's blocking thread, inside the daemon's runtime; stages run on threads of
    /// their own, so the runtime handle is taken here.
    fn url_fetcher(&self) -> Fetcher {
        let tmp = self.root.join("tmp");
        let handle = tokio::runtime::Handle::try_current().ok();
        Fetcher::new(move |url| fetch_url(handle.as_ref(), url, &tmp))
    }
}

/// Downloads `url` into a new file under `tmp`; on failure the file is removed and the reason is one
/// line in Go's wording (`dial tcp 127.0.0.1:1: connect: connection refused`). Builds run on
/// plain threads: this drives the request on the daemon's runtime from there.
fn fetch_url(handle: Option<&tokio::runtime::Handle>, url: &str, tmp: &Path) -> Result<Fetched, String> {
    let handle = handle.ok_or_else(|| "no async runtime to download on".to_string())?;
    let path = tmp.join(format!("add-{}", &berth_types::random_id()[..16]));
    let result = handle.block_on(download(url, &path));
    if result.is_err() {
        let _ = std::fs::remove_file(&path);
    }
    result
}

async fn download(url: &str, path: &Path) -> Result<Fetched, String> {
    let client = download_client()?;
    let mut resp = client.get(url).send().await.map_err(|e| berth_distribution::describe_transport(&e))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("unexpected status {status}"));
    }
    if let Some(n) = resp.content_length().filter(|n| *n > MAX_DOWNLOAD) {
        return Err(format!("the body of {n} bytes exceeds the {MAX_DOWNLOAD}-byte limit"));
    }
    let header = |name: http::HeaderName| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    // HTTP dates are RFC 1123 (`Wed, 21 Oct 2015 07:28:00 GMT`), which RFC 2822 parsing accepts.
    let last_modified = header(http::header::LAST_MODIFIED).and_then(|v| chrono::DateTime::parse_from_rfc2822(&v).ok()).map(|t| t.timestamp());
    let filename = header(http::header::CONTENT_DISPOSITION).and_then(|v| disposition_filename(&v));
    let mut file = std::fs::File::create(path).map_err(|e| format!("create {}: {e}", path.display()))?;
    let mut total = 0u64;
    while let Some(chunk) = resp.chunk().await.map_err(|e| berth_distribution::describe_transport(&e))? {
        total += chunk.len() as u64;
        if total > MAX_DOWNLOAD {
            return Err(format!("the body exceeds the {MAX_DOWNLOAD}-byte limit"));
        }
        file.write_all(&chunk).map_err(|e| format!("write {}: {e}", path.display()))?;
    }
    Ok(Fetched { path: path.to_path_buf(), last_modified, filename })
}

/// The `filename` parameter of a `Content-Disposition` value (quoted or bare; RFC 6266).
fn disposition_filename(v: &str) -> Option<String> {
    v.split(';').skip(1).find_map(|p| {
        let (k, val) = p.trim().split_once('=')?;
        let val = val.trim();
        let val = val.strip_prefix('"').and_then(|x| x.strip_suffix('"')).unwrap_or(val);
        (k.trim().eq_ignore_ascii_case("filename") && !val.is_empty()).then(|| val.replace("\\\"", "\""))
    })
}

trait KindExt {
    fn kind_is_not_found(&self) -> bool;
}

impl KindExt for BuildError {
    fn kind_is_not_found(&self) -> bool {
        berth_types::error::HasKind::kind(self) == berth_types::ErrorKind::NotFound
    }
}

/// dockerd's checks before a build starts, with its messages: the Dockerfile must exist in the
/// context and must not be empty. A name that leaves the context is left to the builder's own
/// resolution (which refuses it).
fn check_dockerfile(ctx: &Path, name: &str, text: Option<&str>) -> Result<(), ServiceError> {
    let content = match text {
        Some(t) => t.to_string(),
        None => {
            let rel = Path::new(name.trim_start_matches('/'));
            if rel.components().any(|c| !matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir)) {
                return Ok(());
            }
            match std::fs::symlink_metadata(ctx.join(rel)) {
                Ok(m) if m.is_file() => std::fs::read_to_string(ctx.join(rel)).unwrap_or_else(|_| " ".into()),
                Ok(_) => return Ok(()),
                Err(_) => return Err(ServiceError::Internal(format!("Cannot locate specified Dockerfile: {name}"))),
            }
        }
    };
    if content.trim().is_empty() {
        return Err(ServiceError::Invalid(format!("the Dockerfile ({name}) cannot be empty")));
    }
    Ok(())
}

/// Unpacks a context stream into `scratch/context` (a tar, plain or compressed), or takes it as
/// the Dockerfile itself (`docker build - < Dockerfile`): the context directory and that text.
fn unpack_context(scratch: &Path, context: impl Read) -> Result<(PathBuf, Option<String>), ServiceError> {
    let (_, mut reader) = berth_image::compression::decompress(context).map_err(|e| ServiceError::Invalid(format!("reading build context: {e}")))?;
    let mut head = vec![0u8; 512];
    let mut n = 0;
    while n < head.len() {
        match reader.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(ServiceError::Invalid(format!("reading build context: {e}"))),
        }
    }
    head.truncate(n);
    let is_tar = n >= 262 && &head[257..262] == b"ustar";
    let ctx = scratch.join("context");
    std::fs::create_dir_all(&ctx).map_err(|e| ServiceError::Internal(e.to_string()))?;
    let mut dockerfile_text = None;
    if is_tar {
        let full = std::io::Cursor::new(head).chain(reader);
        berth_snapshot::apply_layer(&ctx, full).map_err(|e| ServiceError::Invalid(format!("unpacking build context: {e}")))?;
    } else {
        // `docker build - < Dockerfile`: the body is the Dockerfile itself.
        let mut text = String::from_utf8_lossy(&head).into_owned();
        reader.read_to_string(&mut text).map_err(|e| ServiceError::Invalid(format!("reading Dockerfile: {e}")))?;
        dockerfile_text = Some(text);
    }
    Ok((ctx, dockerfile_text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposition_filename_reads_quoted_and_bare_values() {
        assert_eq!(disposition_filename("attachment; filename=\"a b.tgz\"").as_deref(), Some("a b.tgz"));
        assert_eq!(disposition_filename("attachment; FileName=x.bin; size=3").as_deref(), Some("x.bin"));
        assert_eq!(disposition_filename("inline"), None);
        assert_eq!(disposition_filename("attachment; filename=\"\""), None);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn unreachable_url_fails_with_go_wording_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().to_path_buf();
        let handle = tokio::runtime::Handle::current();
        // A plain thread, as a build stage runs on.
        let r = std::thread::spawn(move || fetch_url(Some(&handle), "http://127.0.0.1:1/x", &tmp)).join().unwrap();
        assert_eq!(r.unwrap_err(), "dial tcp 127.0.0.1:1: connect: connection refused");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
