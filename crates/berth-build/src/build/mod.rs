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

pub use remote::{Fetched, Fetcher};

/// Runs one `RUN` step in a container. The daemon implements it with its shim; tests with chroot.
pub trait StepRunner: Send + Sync {
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
    /// Secret id → host file, for `RUN --mount=type=secret`.
    pub secrets: BTreeMap<String, PathBuf>,
    /// Downloads `ADD <http(s) URL>` sources; without one such an `ADD` fails with
    /// [`BuildError::RemoteAdd`].
    pub fetcher: Option<Fetcher>,
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
    /// Output of a `RUN` step.
    Output(Vec<u8>),
    /// The step's result came from the cache.
    UsingCache,
    /// A step's result: the layer (or config) digest after it.
    StepDone(Digest),
    /// A temporary container/snapshot was removed.
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
}

/// Shared state of one build.
pub(crate) struct Builder<'a> {
    pub opts: &'a BuildOptions,
    pub store: &'a ImageStore,
    pub snapshots: &'a dyn Snapshotter,
    pub runner: &'a dyn StepRunner,
    pub df: &'a Dockerfile,
    pub ignore: IgnoreMatcher,
    pub cache: Cache,
    pub epoch: Option<i64>,
    pub global_args: BTreeMap<String, String>,
    pub consumed: BTreeSet<String>,
    pub step: usize,
    pub total: usize,
    pub results: HashMap<usize, StageResult>,
    pub tmp: PathBuf,
}

/// Builds the Dockerfile in `opts` and returns the new image's id. Stops at the first failing step;
/// nothing of a failed build is registered. Syntax errors are reported before any step runs.
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
    let df = parse(&text, &display_name)?;
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
        cache: Cache::open(&opts.cache_dir)?,
        epoch,
        global_args: BTreeMap::new(),
        consumed: BTreeSet::new(),
        step: 0,
        total: 0,
        results: HashMap::new(),
        tmp,
    };
    b.global_args = b.global_scope()?;
    let target = match &opts.target {
        Some(t) => df.stages.iter().position(|s| s.name.as_deref() == Some(t.to_ascii_lowercase().as_str())).ok_or_else(|| BuildError::TargetNotFound(t.clone()))?,
        None => df.stages.len() - 1,
    };
    let needed = b.needed_stages(target)?;
    b.total = needed.iter().map(|i| 1 + df.stages[*i].instructions.len()).sum();
    for idx in &needed {
        let result = b.run_stage(*idx, events)?;
        b.results.insert(*idx, result);
    }
    let mut result = b.results.remove(&target).ok_or_else(|| BuildError::TargetNotFound(format!("#{target}")))?;
    if !opts.labels.is_empty() {
        let mut cc = result.config.container_config();
        let labels = cc.labels.get_or_insert_with(Default::default);
        labels.extend(opts.labels.clone());
        result.config.config = Some(cc);
    }
    result.config.created = Some(b.created());
    let unused: Vec<&String> = opts
        .build_args
        .keys()
        .filter(|k| !b.consumed.contains(*k) && !PROXY_ARGS.contains(&k.as_str()) && !is_predefined(k))
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
    if !opts.no_cache {
        if let Some(prev) = b.cache.image(&content_key).cloned() {
            if store.by_id(&prev).is_some() {
                events(BuildEvent::Built(prev.clone()));
                return Ok(prev);
            }
        }
    }
    let bytes = encode(&result.config)?;
    let (id, _) = store.register(&bytes, result.layers, None)?;
    b.cache.put_image(&content_key, id.clone())?;
    events(BuildEvent::Built(id.clone()));
    Ok(id)
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

    fn platform(&self) -> (String, String) {
        match self.opts.platform.as_deref().and_then(|p| p.split_once('/')) {
            Some((os, arch)) => (os.to_string(), arch.split('/').next().unwrap_or(arch).to_string()),
            None => ("linux".to_string(), berth_image::host_architecture().to_string()),
        }
    }

    /// Predefined platform args plus the `ARG`s before the first `FROM`, with `--build-arg` overrides.
    fn global_scope(&mut self) -> Result<BTreeMap<String, String>, BuildError> {
        let (os, arch) = self.platform();
        let host = berth_image::host_architecture();
        let mut scope = BTreeMap::from([
            ("TARGETPLATFORM".to_string(), format!("{os}/{arch}")),
            ("TARGETOS".to_string(), os.clone()),
            ("TARGETARCH".to_string(), arch.clone()),
            ("TARGETVARIANT".to_string(), String::new()),
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
                self.consumed.insert(name.clone());
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

    /// The target and every stage it depends on (via `FROM` or `COPY --from`), in file order.
    fn needed_stages(&self, target: usize) -> Result<Vec<usize>, BuildError> {
        let mut needed = BTreeSet::new();
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if !needed.insert(i) {
                continue;
            }
            let stage = &self.df.stages[i];
            if let Command::From { image, .. } = &stage.from.command {
                let image = self.expand(stage.from.line, image, &self.global_args)?;
                if let Some(dep) = self.stage_ref(&image, i).filter(|_| image.parse::<usize>().is_err()) {
                    todo.push(dep);
                }
            }
            for ins in &stage.instructions {
                let mut froms: Vec<&str> = Vec::new();
                if ins.keyword == "COPY" {
                    froms.extend(ins.flag("from"));
                }
                if ins.keyword == "RUN" {
                    for m in ins.flag_all("mount") {
                        froms.extend(m.split(',').filter_map(|kv| kv.strip_prefix("from=")));
                    }
                }
                for f in froms {
                    let f = self.expand(ins.line, f, &self.global_args)?;
                    if let Some(dep) = self.stage_ref(&f, i) {
                        todo.push(dep);
                    }
                }
            }
        }
        Ok(needed.into_iter().collect())
    }
}
