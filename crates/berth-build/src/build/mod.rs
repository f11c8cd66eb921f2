//! The build executor: stages of a parsed Dockerfile → an image in the store.
//!
//! Each stage starts from its base (an image, an earlier stage or `scratch`); metadata instructions only
//! change the config (history entry with `empty_layer`); `RUN`, `COPY` and `ADD` each prepare an active
//! snapshot on the stage's chain, change it (through the [`StepRunner`], or by applying a tar of the
//! sources), write its upper directory as a layer and commit it under the new chain id. Only the stages
//! the target needs are built. Temporary snapshots are removed on every failure path.

mod copy;
mod dispatch;
mod fsview;
mod intermediate;
mod remote;
#[cfg(test)]
mod tests;

use crate::cache::Cache;
use crate::dockerignore::IgnoreMatcher;
use crate::error::BuildError;
use crate::parser::{parse, Command, Dockerfile};
use berth_image::{ImageConfig, ImageStore, LayerRecord};
use berth_snapshot::{Mount, Snapshotter};
use berth_types::Digest;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};

pub use remote::{Fetched, Fetcher};

/// Files a runner may bind-mount into a step's container of its own accord (a step on a network gets
/// its own `/etc/hosts` and `/etc/resolv.conf`). Like `RUN --mount` targets, the empty stubs a
/// runtime creates to mount them on are taken out of the step's layer.
pub const RUNNER_MOUNTS: [&str; 2] = ["/etc/hosts", "/etc/resolv.conf"];

/// Runs one `RUN` step in a container. The daemon implements it with its shim; tests with chroot.
pub trait StepRunner: Send + Sync {
    /// Refuses what the step's container could not be created with (the build's resource limits,
    /// extra hosts), as dockerd refuses to create the container: before ` ---> Running in`.
    fn check(&self) -> Result<(), BuildError> {
        Ok(())
    }
    /// Runs `step` to completion, passing its combined output to `output`, and returns its exit code.
    fn run(&self, step: &RunStep, output: &mut dyn FnMut(&[u8])) -> Result<i32, BuildError>;
}

/// Everything a runner needs for one `RUN`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStep {
    /// A unique id for the step's container.
    pub id: String,
    /// The writable root filesystem (the active snapshot's mounts).
    pub rootfs: Vec<Mount>,
    /// The command (shell form already wrapped in the stage's `SHELL`).
    pub args: Vec<String>,
    /// `KEY=value` environment: the image's `ENV` plus the build args in scope.
    pub env: Vec<String>,
    /// `USER` (empty for root).
    pub user: String,
    /// `WORKDIR` (absolute; `/` by default). The runner creates it if missing.
    pub workdir: String,
    /// `none`, `host` or `default`.
    pub network: String,
    /// `RUN --mount`s, resolved to host paths.
    pub mounts: Vec<RunMount>,
    /// `/dev/shm` size in bytes (0: runtime default).
    pub shm_size: u64,
}

/// The kind of a `RUN --mount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMountKind {
    /// A directory of the build context (read-only unless `rw`).
    Bind,
    /// A persistent cache directory under the cache dir.
    Cache,
    /// An empty tmpfs.
    Tmpfs,
    /// A secret file.
    Secret,
}

/// One `RUN --mount`, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct RunMount {
    /// What it is.
    pub kind: RunMountKind,
    /// The host path to bind (None for tmpfs).
    pub source: Option<PathBuf>,
    /// Where it appears in the container (absolute).
    pub target: String,
    /// Read-only.
    pub readonly: bool,
    /// tmpfs size in bytes (0: default).
    pub size: u64,
}

/// What to build and how.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The extracted build context.
    pub context_dir: PathBuf,
    /// The Dockerfile's path inside the context (`Dockerfile` when empty).
    pub dockerfile: String,
    /// The Dockerfile's text when it came on stdin rather than from the context.
    pub dockerfile_text: Option<String>,
    /// `--build-arg`s.
    pub build_args: BTreeMap<String, String>,
    /// `--label`s, applied to the final image.
    pub labels: BTreeMap<String, String>,
    /// `--target` stage name.
    pub target: Option<String>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--platform` (`os/arch`); the host platform when None.
    pub platform: Option<String>,
    /// Where the step cache index and `RUN --mount=type=cache` directories live.
    pub cache_dir: PathBuf,
    /// `-q`: emit no step output.
    pub quiet: bool,
    /// `rm=0`: a `RUN` step's container is not reported removed after it succeeded (dockerd keeps
    /// it; Berth's step containers are not containers of the daemon, see docs).
    pub keep_intermediate: bool,
    /// `forcerm=1`: the container of a failed `RUN` step is reported removed too.
    pub force_remove: bool,
    /// `cachefrom`: when set, a step is taken from the cache only if the image it would give is
    /// one of these (the named images and their ancestors), as dockerd uses only those.
    pub cache_from: Option<BTreeSet<Digest>>,
    /// Secret id → host file, for `RUN --mount=type=secret`.
    pub secrets: BTreeMap<String, PathBuf>,
    /// How many independent stages may build at once (0: the number of CPUs, at least 2, at most 8).
    pub parallel_stages: usize,
    /// Downloads `ADD <http(s) URL>` sources; without one such an `ADD` fails with
    /// [`BuildError::RemoteAdd`].
    pub fetcher: Option<Fetcher>,
    /// `--userns-remap`: `RUN` steps run in a user namespace with these maps (the runner's part), so
    /// what they write holds host ids; their layers carry the container's ids again.
    pub userns: Option<berth_types::idmap::IdMappings>,
}

/// Progress of a build, in the order Docker's classic builder reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum BuildEvent {
    /// `Step 2/7 : RUN …`.
    Step {
        /// 1-based step number.
        n: usize,
        /// Number of steps in the stages being built.
        total: usize,
        /// The instruction as written.
        text: String,
    },
    /// A `RUN` step's container starts (` ---> Running in <id>`): its id, the step's [`RunStep::id`].
    Running(String),
    /// Output of a `RUN` step.
    Output(Vec<u8>),
    /// The step's result came from the cache.
    UsingCache,
    /// A step's result: the id of the image after it (` ---> <id>`); for `FROM`, the base's.
    StepDone(Digest),
    /// A `RUN` step's container was removed (`Removing intermediate container <id>`).
    Removing(String),
    /// A warning (unused build args, deprecated instructions).
    Warning(String),
    /// The build finished with this image id.
    Built(Digest),
}

/// Build args that need no `ARG` declaration (Docker's proxy args) and the predefined platform args.
const PROXY_ARGS: [&str; 8] = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy"];

/// The finished state of a stage.
#[derive(Debug, Clone)]
pub(crate) struct StageResult {
    pub config: ImageConfig,
    pub layers: Vec<LayerRecord>,
    /// The image of the stage's last step that has one (its base's for a FROM-only stage; for the
    /// target stage, the step before the last): the parent of what is built on it.
    pub image: Option<Digest>,
    /// The cache key of the stage's last state.
    pub key: Digest,
}

/// An `os/arch[/variant]` platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: String,
}

impl Platform {
    /// `linux/amd64`, `linux/arm/v7`, or just `arm64` (os linux); None when malformed.
    pub fn parse(s: &str) -> Option<Platform> {
        let parts: Vec<&str> = s.trim().split('/').collect();
        let (os, arch, variant) = match parts.as_slice() {
            [arch] => ("linux", *arch, ""),
            [os, arch] => (*os, *arch, ""),
            [os, arch, variant] => (*os, *arch, *variant),
            _ => return None,
        };
        if os.is_empty() || arch.is_empty() {
            return None;
        }
        // containerd's normalisation: Go's arch names, and arm64's default variant v8 left out.
        let arch = match arch.to_ascii_lowercase().as_str() {
            "x86_64" | "x86-64" => "amd64".to_string(),
            "aarch64" => "arm64".to_string(),
            a => a.to_string(),
        };
        let variant = match (arch.as_str(), variant.to_ascii_lowercase().as_str()) {
            ("arm64", "v8" | "8") => String::new(),
            (_, v) => v.to_string(),
        };
        Some(Platform { os: os.to_ascii_lowercase(), arch, variant })
    }

    /// The host's platform.
    pub fn host() -> Platform {
        Platform { os: "linux".into(), arch: berth_image::host_architecture().to_string(), variant: String::new() }
    }

    /// Whether an image config is for this platform (a missing variant matches any).
    pub fn matches(&self, config: &ImageConfig) -> bool {
        config.os == self.os && config.architecture == self.arch && (self.variant.is_empty() || config.variant.as_deref().unwrap_or("") == self.variant)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        Ok(())
    }
}

/// A stage the target needs: the stages it uses and its number of steps (`FROM` included).
pub(crate) struct StageNeed {
    pub deps: Vec<usize>,
    pub steps: usize,
}

/// Shared state of one build.
pub(crate) struct Builder<'a> {
    pub opts: &'a BuildOptions,
    pub store: &'a ImageStore,
    pub snapshots: &'a dyn Snapshotter,
    pub runner: &'a dyn StepRunner,
    pub df: &'a Dockerfile,
    pub ignore: IgnoreMatcher,
    pub cache: Mutex<Cache>,
    pub epoch: Option<i64>,
    pub global_args: BTreeMap<String, String>,
    /// Build args some `ARG` consumed (stages run on several threads).
    pub consumed: Mutex<BTreeSet<String>>,
    pub total: usize,
    /// Finished stages; a stage only starts once every stage it needs is here.
    pub results: Mutex<HashMap<usize, StageResult>>,
    pub tmp: PathBuf,
    /// Set when a stage failed: the others stop at their next instruction.
    pub abort: AtomicBool,
    /// The stage whose image the build makes: its last step's image is the build's result.
    pub target: usize,
    /// The steps' images, registered when the build succeeded (see `intermediate`).
    pub pending: Mutex<Vec<intermediate::PendingImage>>,
}

/// Builds the Dockerfile in `opts` and returns the new image's id. Stops at the first failing step;
/// nothing of a failed build is registered (a successful one also registers each step's image, as
/// dockerd's classic builder keeps them). Syntax errors are reported before any step runs.
pub fn build(
    opts: &BuildOptions,
    store: &ImageStore,
    snapshots: &dyn Snapshotter,
    runner: &dyn StepRunner,
    events: &mut dyn FnMut(BuildEvent),
) -> Result<Digest, BuildError> {
    let dockerfile_name = if opts.dockerfile.is_empty() { "Dockerfile" } else { opts.dockerfile.as_str() };
    let text = match &opts.dockerfile_text {
        Some(t) => t.clone(),
        None => {
            let rel = crate::dockerignore::clean(dockerfile_name);
            let path = opts.context_dir.join(&rel);
            std::fs::read_to_string(&path).map_err(BuildError::io("read Dockerfile", &path))?
        }
    };
    let display_name = Path::new(dockerfile_name).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "Dockerfile".into());
    let mut df = parse(&text, &display_name)?;
    add_label_steps(&mut df, &opts.labels)?;
    let ignore = load_ignore(&opts.context_dir, dockerfile_name)?;
    let epoch = opts
        .build_args
        .get("SOURCE_DATE_EPOCH")
        .cloned()
        .or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let tmp = opts.cache_dir.join("tmp");
    std::fs::create_dir_all(&tmp).map_err(BuildError::io("create", &tmp))?;
    let mut b = Builder {
        opts,
        store,
        snapshots,
        runner,
        df: &df,
        ignore,
        cache: Mutex::new(Cache::open(&opts.cache_dir)?),
        epoch,
        global_args: BTreeMap::new(),
        consumed: Mutex::new(BTreeSet::new()),
        total: 0,
        results: Mutex::new(HashMap::new()),
        tmp,
        abort: AtomicBool::new(false),
        target: 0,
        pending: Mutex::new(Vec::new()),
    };
    b.global_args = b.global_scope()?;
    let target = match &opts.target {
        Some(t) => df.stages.iter().position(|s| s.name.as_deref() == Some(t.to_ascii_lowercase().as_str())).ok_or_else(|| BuildError::TargetNotFound(t.clone()))?,
        None => df.stages.len() - 1,
    };
    b.target = target;
    let needed = b.needed_stages(target)?;
    b.total = needed.values().map(|n| n.steps).sum();
    b.run_stages(&needed, events)?;
    let mut result = b.results.get_mut().unwrap_or_else(|e| e.into_inner()).remove(&target).ok_or_else(|| BuildError::TargetNotFound(format!("#{target}")))?;
    result.config.created = Some(b.created());
    let consumed = b.consumed.get_mut().unwrap_or_else(|e| e.into_inner());
    let unused: Vec<&String> = opts
        .build_args
        .keys()
        .filter(|k| !consumed.contains(*k) && !PROXY_ARGS.contains(&k.as_str()) && !is_predefined(k))
        .collect();
    if !unused.is_empty() {
        let list = unused.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
        events(BuildEvent::Warning(format!("[Warning] One or more build-args [{list}] were not consumed")));
    }
    let encode = |c: &berth_image::ImageConfig| {
        serde_json::to_vec(c).map_err(|e| BuildError::Io { op: "encode image config", path: PathBuf::new(), source: std::io::Error::other(e) })
    };
    // The same content as an earlier build (only the times differ): that image is the answer.
    let mut timeless = result.config.clone();
    timeless.created = None;
    for h in &mut timeless.history {
        h.created = None;
    }
    let content_key = Digest::of(&encode(&timeless)?);
    b.register_steps()?;
    // The last step's ` ---> ` is the image built (unless the target stage is only its FROM).
    let last_step_done = !df.stages[target].instructions.is_empty();
    let cache = b.cache.get_mut().unwrap_or_else(|e| e.into_inner());
    if !opts.no_cache {
        if let Some(prev) = cache.image(&content_key).cloned().filter(|p| opts.cache_from.as_ref().is_none_or(|allowed| allowed.contains(p))) {
            if store.by_id(&prev).is_some() {
                cache.put_image(&result.key, prev.clone())?;
                if last_step_done {
                    // The last step's image is an earlier build's: a metadata step reports the
                    // hit here (a RUN, COPY or ADD did when it found its layer).
                    if df.stages[target].instructions.last().is_some_and(dispatch::is_metadata) {
                        events(BuildEvent::UsingCache);
                    }
                    events(BuildEvent::StepDone(prev.clone()));
                }
                events(BuildEvent::Built(prev.clone()));
                return Ok(prev);
            }
        }
    }
    let bytes = encode(&result.config)?;
    let (id, _) = store.register(&bytes, result.layers, result.image.clone())?;
    cache.put_image(&content_key, id.clone())?;
    // The last step's state gives this image too (what `cachefrom` checks a cached step against).
    cache.put_image(&result.key, id.clone())?;
    if last_step_done {
        events(BuildEvent::StepDone(id.clone()));
    }
    events(BuildEvent::Built(id.clone()));
    Ok(id)
}

/// `--label`s become `LABEL k=v` steps at the end of the Dockerfile's last stage, one per label in
/// key order, as dockerd's classic builder adds them (they show as steps, and a `--target` stage
/// other than the last does not get them, as with dockerd). Values are taken literally.
fn add_label_steps(df: &mut Dockerfile, labels: &BTreeMap<String, String>) -> Result<(), BuildError> {
    if labels.is_empty() {
        return Ok(());
    }
    let escape = |s: &str| s.chars().flat_map(|c| if matches!(c, '$' | '\\' | '"' | '\'' | ' ' | '\t') { vec!['\\', c] } else { vec![c] }).collect::<String>();
    let text: String = labels.iter().map(|(k, v)| format!("LABEL {}={}\n", escape(k), escape(v))).collect();
    let parsed = parse(&format!("FROM scratch\n{text}"), &df.file_name)?;
    let Some(last) = df.stages.last_mut() else { return Ok(()) };
    for (mut ins, (k, v)) in parsed.stages.into_iter().flat_map(|s| s.instructions).zip(labels) {
        ins.original = format!("LABEL {k}={v}");
        ins.line = 0;
        last.instructions.push(ins);
    }
    Ok(())
}

fn is_predefined(k: &str) -> bool {
    matches!(
        k,
        "TARGETPLATFORM" | "TARGETOS" | "TARGETARCH" | "TARGETVARIANT" | "BUILDPLATFORM" | "BUILDOS" | "BUILDARCH" | "BUILDVARIANT" | "SOURCE_DATE_EPOCH"
    )
}

/// `<Dockerfile>.dockerignore` beside a custom Dockerfile wins over the context's `.dockerignore`.
fn load_ignore(context: &Path, dockerfile: &str) -> Result<IgnoreMatcher, BuildError> {
    let specific = context.join(format!("{}.dockerignore", crate::dockerignore::clean(dockerfile)));
    for path in [specific, context.join(".dockerignore")] {
        match std::fs::read_to_string(&path) {
            Ok(text) => return Ok(IgnoreMatcher::parse(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(BuildError::io("read", &path)(e)),
        }
    }
    Ok(IgnoreMatcher::default())
}

impl Builder<'_> {
    pub(crate) fn created(&self) -> String {
        match self.epoch.and_then(|e| chrono::DateTime::from_timestamp(e, 0)) {
            Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            None => berth_image::store::now_rfc3339(),
        }
    }

    pub(crate) fn instruction_error(&self, line: usize, message: impl Into<String>) -> BuildError {
        BuildError::Instruction { file: self.df.file_name.clone(), line, message: message.into() }
    }

    /// The build's target platform: `--platform`, else the host's.
    fn platform(&self) -> Platform {
        self.opts.platform.as_deref().and_then(Platform::parse).unwrap_or_else(Platform::host)
    }

    /// Predefined platform args plus the `ARG`s before the first `FROM`, with `--build-arg` overrides.
    fn global_scope(&mut self) -> Result<BTreeMap<String, String>, BuildError> {
        let target = self.platform();
        let host = berth_image::host_architecture();
        let mut scope = BTreeMap::from([
            ("TARGETPLATFORM".to_string(), target.to_string()),
            ("TARGETOS".to_string(), target.os.clone()),
            ("TARGETARCH".to_string(), target.arch.clone()),
            ("TARGETVARIANT".to_string(), target.variant.clone()),
            ("BUILDPLATFORM".to_string(), format!("linux/{host}")),
            ("BUILDOS".to_string(), "linux".to_string()),
            ("BUILDARCH".to_string(), host.to_string()),
            ("BUILDVARIANT".to_string(), String::new()),
        ]);
        for ins in &self.df.meta_args {
            let Command::Arg(words) = &ins.command else { continue };
            for w in words {
                let (name, default) = match w.split_once('=') {
                    Some((n, d)) => (n.to_string(), Some(d)),
                    None => (w.clone(), None),
                };
                let value = match self.opts.build_args.get(&name) {
                    Some(v) => Some(v.clone()),
                    None => match default {
                        Some(d) => Some(self.expand(ins.line, d, &scope)?),
                        None => None,
                    },
                };
                self.consumed.get_mut().unwrap_or_else(|e| e.into_inner()).insert(name.clone());
                if let Some(v) = value {
                    scope.insert(name, v);
                }
            }
        }
        Ok(scope)
    }

    pub(crate) fn expand(&self, line: usize, word: &str, vars: &BTreeMap<String, String>) -> Result<String, BuildError> {
        let lookup = |n: &str| vars.get(n).cloned();
        crate::expand::process_word(word, &lookup, self.df.directives.escape).map_err(|e| self.instruction_error(line, e.0))
    }

    /// The index of the stage a name (`AS` name or number) refers to, if it is earlier than `before`.
    pub(crate) fn stage_ref(&self, name: &str, before: usize) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        if let Some(i) = self.df.stages[..before].iter().position(|s| s.name.as_deref() == Some(lower.as_str())) {
            return Some(i);
        }
        name.parse::<usize>().ok().filter(|i| *i < before)
    }

    /// The target and every stage it depends on (via `FROM`, `COPY --from` or `RUN --mount=from=`).
    fn needed_stages(&self, target: usize) -> Result<BTreeMap<usize, StageNeed>, BuildError> {
        let mut needed = BTreeMap::new();
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if needed.contains_key(&i) {
                continue;
            }
            let stage = &self.df.stages[i];
            let mut deps = BTreeSet::new();
            if let Command::From { image, .. } = &stage.from.command {
                let image = self.expand(stage.from.line, image, &self.global_args)?;
                if let Some(dep) = self.stage_ref(&image, i).filter(|_| image.parse::<usize>().is_err()) {
                    deps.insert(dep);
                }
            }
            for ins in &stage.instructions {
                let mut froms: Vec<&str> = Vec::new();
                if ins.keyword == "COPY" {
                    froms.extend(ins.flag("from"));
                }
                if ins.keyword == "RUN" {
                    for m in ins.flag_all("mount") {
                        froms.extend(m.split(',').filter_map(|kv| kv.trim().strip_prefix("from=")));
                    }
                }
                for f in froms {
                    let f = self.expand(ins.line, f, &self.global_args)?;
                    if let Some(dep) = self.stage_ref(&f, i) {
                        deps.insert(dep);
                    }
                }
            }
            todo.extend(deps.iter().copied());
            needed.insert(i, StageNeed { deps: deps.into_iter().collect(), steps: 1 + stage.instructions.len() });
        }
        Ok(needed)
    }

    /// Builds the needed stages, each as soon as the stages it uses are built, several at once.
    /// The output stays in file order: the earliest unfinished stage streams, the others are held
    /// back and replayed when their turn comes, so the log reads as a sequential build's.
    fn run_stages(&self, needed: &BTreeMap<usize, StageNeed>, events: &mut dyn FnMut(BuildEvent)) -> Result<(), BuildError> {
        let order: Vec<usize> = needed.keys().copied().collect();
        let mut first_step = HashMap::new();
        let mut n = 1;
        for (i, need) in needed {
            first_step.insert(*i, n);
            n += need.steps;
        }
        let limit = match self.opts.parallel_stages {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8),
            n => n,
        };
        enum Msg {
            Event(BuildEvent),
            Done(Box<Result<StageResult, BuildError>>),
        }
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::channel::<(usize, Msg)>();
            let mut started = BTreeSet::new();
            let mut finished = BTreeSet::new();
            let mut held: HashMap<usize, Vec<BuildEvent>> = HashMap::new();
            let mut head = 0; // index into `order` of the stage whose events stream live
            let mut running = 0;
            let mut failure: Option<BuildError> = None;
            loop {
                if failure.is_none() {
                    for i in &order {
                        if running >= limit {
                            break;
                        }
                        if started.contains(i) || !needed[i].deps.iter().all(|d| finished.contains(d)) {
                            continue;
                        }
                        started.insert(*i);
                        running += 1;
                        let (i, tx, step) = (*i, tx.clone(), first_step[i]);
                        scope.spawn(move || {
                            let mut send = |ev: BuildEvent| {
                                let _ = tx.send((i, Msg::Event(ev)));
                            };
                            let result = self.run_stage(i, step, &mut send);
                            let _ = tx.send((i, Msg::Done(Box::new(result))));
                        });
                    }
                }
                if running == 0 {
                    break;
                }
                let Ok((i, msg)) = rx.recv() else { break };
                match msg {
                    Msg::Event(ev) if order.get(head) == Some(&i) && failure.is_none() => events(ev),
                    Msg::Event(ev) => held.entry(i).or_default().push(ev),
                    Msg::Done(result) => {
                        running -= 1;
                        match *result {
                            Ok(result) => {
                                self.results.lock().unwrap_or_else(|e| e.into_inner()).insert(i, result);
                                finished.insert(i);
                                while failure.is_none() && head < order.len() && finished.contains(&order[head]) {
                                    head += 1;
                                    if let Some(next) = order.get(head) {
                                        for ev in held.remove(next).unwrap_or_default() {
                                            events(ev);
                                        }
                                    }
                                }
                            }
                            Err(BuildError::Aborted) => {}
                            Err(e) => {
                                if failure.is_none() {
                                    // The failing stage's output explains the error: show it, then stop the others.
                                    for ev in held.remove(&i).unwrap_or_default() {
                                        events(ev);
                                    }
                                    self.abort.store(true, Ordering::SeqCst);
                                    failure = Some(e);
                                }
                            }
                        }
                    }
                }
            }
            match failure {
                Some(e) => Err(e),
                None => Ok(()),
            }
        })
    }

    /// Whether another stage failed and this one should stop.
    pub(crate) fn aborted(&self) -> bool {
        self.abort.load(Ordering::SeqCst)
    }
}
