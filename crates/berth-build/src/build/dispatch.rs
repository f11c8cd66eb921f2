//! One stage, instruction by instruction: Docker's `dispatchers.go`.

use super::fsview::{LayerDirs, MountedView, ScratchOverlay, SourceView};
use super::{BuildEvent, Builder, RunMount, RunMountKind, RunStep, StageResult};
use crate::error::BuildError;
use crate::parser::{CmdLine, Command, Health, Instruction};
use berth_api::config::{ContainerConfig, HealthConfig};
use berth_image::{History, ImageConfig, LayerRecord, RootFs};
use berth_snapshot::{chain_id, LayerOpener, Snapshotter};
use berth_types::Digest;
use std::collections::BTreeMap;
use std::io::Read;

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The evolving state of a stage.
pub(crate) struct State {
    pub config: ImageConfig,
    pub layers: Vec<LayerRecord>,
    /// `ARG`s declared in this stage (None: declared without a value).
    pub args: BTreeMap<String, Option<String>>,
    /// Cache key of the last step.
    pub key: Digest,
    /// Whether `CMD` was set in this stage (Docker: `ENTRYPOINT` resets an inherited `CMD`).
    pub cmd_set: bool,
}

impl State {
    pub fn cc(&mut self) -> &mut ContainerConfig {
        self.config.config.get_or_insert_with(Default::default)
    }

    /// Variables for substitution: stage args, overridden by `ENV`.
    pub fn vars(&self) -> BTreeMap<String, String> {
        let mut v: BTreeMap<String, String> = self.args.iter().filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v))).collect();
        for e in self.config.config.as_ref().and_then(|c| c.env.as_ref()).into_iter().flatten() {
            if let Some((k, val)) = e.split_once('=') {
                v.insert(k.to_string(), val.to_string());
            }
        }
        v
    }

    fn set_env(&mut self, key: &str, value: &str) {
        let env = self.cc().env.get_or_insert_with(Vec::new);
        let entry = format!("{key}={value}");
        match env.iter_mut().find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key) {
            Some(e) => *e = entry,
            None => env.push(entry),
        }
    }
}

/// What a `RUN --mount=type=bind` holds mounted on the host while the step runs: the view of
/// another stage or image, and the scratch overlay of a `rw` bind. Fields drop in order, so the
/// overlay goes before the view under it.
pub(crate) struct BindGuard<'a> {
    _scratch: Option<ScratchOverlay>,
    _view: Option<SourceView<'a>>,
}

/// Removes a temporary snapshot unless it was committed.
pub(crate) struct ActiveSnapshot<'a> {
    pub snapshots: &'a dyn Snapshotter,
    pub key: String,
    pub done: bool,
}

impl Drop for ActiveSnapshot<'_> {
    fn drop(&mut self) {
        if !self.done {
            if let Err(e) = self.snapshots.remove(&self.key) {
                tracing::warn!(snapshot = %self.key, error = %e, "temporary build snapshot not removed");
            }
        }
    }
}

impl<'a> Builder<'a> {
    /// Builds stage `idx`, numbering its steps from `first_step`.
    pub(super) fn run_stage(&self, idx: usize, first_step: usize, events: &mut dyn FnMut(BuildEvent)) -> Result<StageResult, BuildError> {
        let stage = &self.df.stages[idx];
        let from = &stage.from;
        let mut step = first_step;
        events(BuildEvent::Step { n: step, total: self.total, text: from.original.clone() });
        let Command::From { image, .. } = &from.command else {
            return Err(self.instruction_error(from.line, "a build stage must start with FROM"));
        };
        let image = self.expand(from.line, image, &self.global_args)?;
        // `FROM --platform=…` (args expanded), else the build's `--platform`; only an explicit one is
        // checked against a local image, as Docker does.
        let explicit = match from.flag("platform") {
            Some(p) => Some(self.expand(from.line, p, &self.global_args)?),
            None => self.opts.platform.clone(),
        };
        let platform = match explicit.as_deref() {
            Some(p) => Some(super::Platform::parse(p).ok_or_else(|| self.instruction_error(from.line, format!("invalid platform {p:?}: expected os/arch[/variant]")))?),
            None => None,
        };
        let (config, layers, key, base) = if image.eq_ignore_ascii_case("scratch") {
            let p = platform.clone().unwrap_or_else(|| self.platform());
            let variant = (!p.variant.is_empty()).then(|| p.variant.clone());
            let config = ImageConfig { architecture: p.arch, os: p.os, variant, rootfs: RootFs { kind: "layers".into(), diff_ids: vec![] }, config: Some(ContainerConfig::default()), ..Default::default() };
            (config, Vec::new(), Digest::of(b"scratch"), None)
        } else if let Some(dep) = self.stage_ref(&image, idx).filter(|_| image.parse::<usize>().is_err()) {
            let r = self.results.lock().unwrap_or_else(|e| e.into_inner()).get(&dep).cloned().ok_or_else(|| self.instruction_error(from.line, format!("stage {image} was not built")))?;
            let key = Digest::of(serde_json::to_string(&(&r.config.rootfs, &r.config.config)).unwrap_or_default().as_bytes());
            (r.config, r.layers, key, r.image)
        } else {
            let img = match self.store.get(&image) {
                Ok(i) => i,
                Err(berth_image::ImageError::NotFound(_)) => return Err(BuildError::BaseImageMissing { reference: image, platform: explicit }),
                Err(e) => return Err(e.into()),
            };
            if let Some(p) = platform.filter(|p| !p.matches(&img.config)) {
                let c = &img.config;
                let actual = match c.variant.as_deref().filter(|v| !v.is_empty()) {
                    Some(v) => format!("{}/{}/{v}", c.os, c.architecture),
                    None => format!("{}/{}", c.os, c.architecture),
                };
                return Err(BuildError::PlatformMismatch { reference: image, wanted: p.to_string(), actual });
            }
            ((*img.config).clone(), img.layers.clone(), img.id.clone(), Some(img.id.clone()))
        };
        let mut st = State { config, layers, args: BTreeMap::new(), key, cmd_set: false };
        // BuildKit's default: a stage whose base sets no PATH gets the standard one in its config.
        if !st.config.config.as_ref().and_then(|c| c.env.as_ref()).is_some_and(|env| env.iter().any(|e| e.starts_with("PATH="))) {
            st.set_env("PATH", DEFAULT_PATH.trim_start_matches("PATH="));
        }
        // ONBUILD triggers of the base run first, then are cleared (Docker does not inherit them further).
        let triggers = st.config.config.as_mut().and_then(|c| c.on_build.take()).unwrap_or_default();
        let ran_triggers = !triggers.is_empty();
        for t in triggers {
            let parsed = crate::parser::parse(&format!("FROM scratch\n{t}"), &self.df.file_name)
                .map_err(|e| self.instruction_error(from.line, format!("invalid ONBUILD trigger {t:?}: {}", e.message)))?;
            let Some(ins) = parsed.stages[0].instructions.first() else { continue };
            self.dispatch(idx, &mut st, ins, events)?;
        }
        // ` ---> <id>` after each step, as the classic builder prints it (see `intermediate`); the
        // target stage's last one is the built image, reported by `build` once registered.
        let mut image = if ran_triggers { Some(self.step_image(&st, base.as_ref())?) } else { base };
        if let Some(id) = &image {
            events(BuildEvent::StepDone(id.clone()));
        }
        for (n, ins) in stage.instructions.iter().enumerate() {
            if self.aborted() {
                return Err(BuildError::Aborted);
            }
            step += 1;
            events(BuildEvent::Step { n: step, total: self.total, text: ins.original.clone() });
            self.dispatch(idx, &mut st, ins, events)?;
            if idx == self.target && n + 1 == stage.instructions.len() {
                break;
            }
            // A metadata step whose image an earlier build made is a cache hit, as with dockerd
            // (RUN, COPY and ADD report theirs when they look their layer up).
            if is_metadata(ins) && self.cached_step_image(&st).is_some() {
                events(BuildEvent::UsingCache);
            }
            let id = self.step_image(&st, image.as_ref())?;
            events(BuildEvent::StepDone(id.clone()));
            image = Some(id);
        }
        Ok(StageResult { config: st.config, layers: st.layers, image, key: st.key })
    }

    fn dispatch(&self, idx: usize, st: &mut State, ins: &Instruction, events: &mut dyn FnMut(BuildEvent)) -> Result<(), BuildError> {
        let line = ins.line;
        let vars = st.vars();
        let ex = |b: &Self, w: &str| b.expand(line, w, &vars);
        let rest = ins.original.split_once(char::is_whitespace).map_or("", |(_, r)| r.trim());
        match &ins.command {
            Command::From { .. } => return Err(self.instruction_error(line, "FROM is not allowed here")),
            Command::Run(cmd) => return self.run(idx, st, ins, cmd, events),
            Command::Copy(args) | Command::Add(args) => return self.copy(idx, st, ins, args, events),
            Command::Env(words) => {
                let mut pairs = Vec::new();
                for w in words {
                    let e = ex(self, w)?;
                    let (k, v) = e.split_once('=').unwrap_or((e.as_str(), ""));
                    pairs.push((k.to_string(), v.to_string()));
                }
                for (k, v) in pairs {
                    st.set_env(&k, &v);
                }
            }
            Command::Label(words) => {
                let mut pairs = Vec::new();
                for w in words {
                    let e = ex(self, w)?;
                    let (k, v) = e.split_once('=').unwrap_or((e.as_str(), ""));
                    pairs.push((k.to_string(), v.to_string()));
                }
                st.cc().labels.get_or_insert_with(Default::default).extend(pairs);
            }
            Command::Arg(words) => {
                for w in words {
                    let (name, default) = match w.split_once('=') {
                        Some((n, d)) => (n.to_string(), Some(ex(self, d)?)),
                        None => (w.clone(), None),
                    };
                    let value = self.opts.build_args.get(&name).cloned().or(default).or_else(|| self.global_args.get(&name).cloned());
                    self.consumed.lock().unwrap_or_else(|e| e.into_inner()).insert(name.clone());
                    st.args.insert(name, value);
                }
            }
            Command::Workdir(w) => {
                let w = ex(self, w)?;
                let base = st.config.config.as_ref().and_then(|c| c.working_dir.clone()).unwrap_or_else(|| "/".into());
                let joined = if w.starts_with('/') { w } else { format!("{base}/{w}") };
                st.cc().working_dir = Some(format!("/{}", crate::dockerignore::clean(&joined)));
            }
            Command::User(u) => st.cc().user = Some(ex(self, u)?),
            Command::StopSignal(s) => st.cc().stop_signal = Some(ex(self, s)?),
            Command::Expose(ports) => {
                let mut list = Vec::new();
                for p in ports {
                    list.extend(expose_ports(&ex(self, p)?).map_err(|m| self.instruction_error(line, m))?);
                }
                let map = st.cc().exposed_ports.get_or_insert_with(Default::default);
                for p in list {
                    map.insert(p, serde_json::json!({}));
                }
            }
            Command::Volume(vols) => {
                let mut list = Vec::new();
                for v in vols {
                    list.push(ex(self, v)?);
                }
                let map = st.cc().volumes.get_or_insert_with(Default::default);
                for v in list {
                    map.insert(v, serde_json::json!({}));
                }
            }
            Command::Shell(sh) => st.cc().shell = Some(sh.clone()),
            Command::Cmd(c) => {
                let v = self.command_vec(st, c);
                st.cc().cmd = Some(v);
                st.cmd_set = true;
            }
            Command::Entrypoint(c) => {
                let v = self.command_vec(st, c);
                let cmd_set = st.cmd_set;
                let cc = st.cc();
                cc.entrypoint = if v.is_empty() { None } else { Some(v) };
                if !cmd_set {
                    cc.cmd = None;
                }
            }
            Command::Healthcheck(h) => {
                st.cc().healthcheck = Some(match h {
                    Health::None => HealthConfig { test: Some(vec!["NONE".into()]), ..Default::default() },
                    Health::Cmd { cmd, interval, timeout, start_period, start_interval, retries } => HealthConfig {
                        test: Some(match cmd {
                            CmdLine::Exec(v) => std::iter::once("CMD".to_string()).chain(v.iter().cloned()).collect(),
                            CmdLine::Shell(s) => vec!["CMD-SHELL".into(), s.clone()],
                        }),
                        interval: *interval,
                        timeout: *timeout,
                        start_period: *start_period,
                        start_interval: *start_interval,
                        retries: *retries,
                    },
                });
            }
            Command::Onbuild(_) => st.cc().on_build.get_or_insert_with(Vec::new).push(rest.to_string()),
            Command::Maintainer(m) => st.config.author = Some(m.clone()),
        }
        let created_by = format!("/bin/sh -c #(nop)  {} {}", ins.keyword, rest);
        st.config.history.push(History { created: Some(self.created()), created_by: Some(created_by), empty_layer: true, ..Default::default() });
        st.key = Digest::of(format!("{}\n{}\n{}", st.key, ins.keyword, serde_json::to_string(&st.config.config).unwrap_or_default()).as_bytes());
        Ok(())
    }

    fn command_vec(&self, st: &State, c: &CmdLine) -> Vec<String> {
        match c {
            CmdLine::Exec(v) => v.clone(),
            CmdLine::Shell(s) => {
                let mut v = st.config.config.as_ref().and_then(|c| c.shell.clone()).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
                v.push(s.clone());
                v
            }
        }
    }

    /// Unpacks the stage's layers into committed snapshots (a no-op for those already there) and
    /// returns the top chain id, or None for an empty stage.
    pub(crate) fn ensure_chain(&self, layers: &[LayerRecord]) -> Result<Option<String>, BuildError> {
        if layers.is_empty() {
            return Ok(None);
        }
        let content = self.store.content();
        let openers: Vec<(Digest, LayerOpener<'_>)> = layers
            .iter()
            .map(|l| {
                let d = l.diff_id.clone();
                let open: LayerOpener<'_> = Box::new(move || content.open_blob(&d).map(|f| Box::new(f) as Box<dyn Read>).map_err(std::io::Error::other));
                (l.diff_id.clone(), open)
            })
            .collect();
        Ok(Some(berth_snapshot::unpack_layers(self.snapshots, &openers)?))
    }

    /// A cache hit for `key`: the layer is reused and recorded as the step's result.
    pub(crate) fn try_cache(&self, st: &mut State, key: &Digest, created_by: &str, events: &mut dyn FnMut(BuildEvent)) -> bool {
        if self.opts.no_cache {
            return false;
        }
        let Some(e) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned() else { return false };
        if !self.store.content().contains(&e.diff_id) {
            return false;
        }
        // With `cachefrom`, only a step whose image is among those named (or their ancestors).
        if let Some(allowed) = &self.opts.cache_from {
            let image = self.cache.lock().unwrap_or_else(|e| e.into_inner()).image(key).cloned();
            if !image.is_some_and(|i| allowed.contains(&i) && self.store.by_id(&i).is_some()) {
                return false;
            }
        }
        if let Err(error) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).used(key) {
            tracing::warn!(%error, "could not record a build cache hit");
        }
        events(BuildEvent::UsingCache);
        st.layers.push(LayerRecord { diff_id: e.diff_id.clone(), size: e.size });
        self.push_layer_history(st, created_by, key);
        true
    }

    fn push_layer_history(&self, st: &mut State, created_by: &str, key: &Digest) {
        st.config.rootfs.kind = "layers".into();
        st.config.rootfs.diff_ids = st.layers.iter().map(|l| l.diff_id.clone()).collect();
        st.config.history.push(History { created: Some(self.created()), created_by: Some(created_by.to_string()), ..Default::default() });
        st.key = key.clone();
    }

    /// Writes the active snapshot's changes as a layer, commits it under the new chain id and records it.
    /// `ids`: the user namespace maps of a remapped `RUN` step, whose files hold host ids.
    pub(crate) fn finish_layer(
        &self,
        st: &mut State,
        mut active: ActiveSnapshot<'a>,
        key: &Digest,
        created_by: &str,
        ids: Option<&berth_types::idmap::IdMappings>,
    ) -> Result<(), BuildError> {
        let upper = self.snapshots.upper_dir(&active.key)?;
        if let Some(epoch) = self.epoch {
            super::fsview::clamp_mtimes(&upper, epoch)?;
        }
        let tmp = self.tmp.join(format!("layer-{}", &berth_types::random_id()[..16]));
        let result = (|| {
            let f = std::fs::File::create(&tmp).map_err(BuildError::io("create", &tmp))?;
            let mut w = std::io::BufWriter::new(f);
            berth_snapshot::write_diff_except(&upper, &mut w, &|_| false, ids)?;
            drop(w);
            let f = std::fs::File::open(&tmp).map_err(BuildError::io("open", &tmp))?;
            Ok::<_, BuildError>(berth_image::layer::ingest_layer(self.store.content(), std::io::BufReader::new(f))?)
        })();
        let _ = std::fs::remove_file(&tmp);
        let stats = result?;
        if let Some(ids) = ids {
            // The snapshot becomes a lower layer of later steps and containers, which see it through
            // the same idmapping as a pulled one: it holds the container's ids, as its tar does.
            berth_snapshot::chown_to_container(&upper, ids).map_err(BuildError::io("shift the owners of", &upper))?;
        }
        st.layers.push(LayerRecord { diff_id: stats.diff_id.clone(), size: stats.size });
        let chain = chain_id(&st.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()).to_string();
        match self.snapshots.commit(&chain, &active.key) {
            Ok(()) => active.done = true,
            Err(berth_snapshot::SnapshotError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        drop(active);
        if !self.opts.no_cache {
            let parent = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(&st.key).map(|_| st.key.hex().to_string());
            let entry = crate::cache::CacheEntry {
                diff_id: stats.diff_id.clone(),
                size: stats.size,
                last_used: 0,
                created: 0,
                usage_count: 0,
                parent,
                chain: Some(chain.clone()),
                description: created_by.to_string(),
                labels: self.opts.labels.clone(),
            };
            self.cache.lock().unwrap_or_else(|e| e.into_inner()).put(key, entry)?;
        }
        self.push_layer_history(st, created_by, key);
        Ok(())
    }

    /// The layer directories of `layers` (unpacked first), for lookups without mounting.
    pub(crate) fn layer_dirs(&self, layers: &[LayerRecord]) -> Result<LayerDirs, BuildError> {
        Ok(match self.ensure_chain(layers)? {
            Some(chain) => LayerDirs::from_mounts(&self.snapshots.mounts(&chain)?),
            None => LayerDirs(Vec::new()),
        })
    }

    /// Prepares a fresh active snapshot on top of the stage's layers.
    pub(crate) fn prepare(&self, st: &State) -> Result<(ActiveSnapshot<'a>, Vec<berth_snapshot::Mount>), BuildError> {
        let parent = self.ensure_chain(&st.layers)?;
        let key = format!("build-{}", &berth_types::random_id()[..16]);
        let labels = BTreeMap::from([("berth.io/build".to_string(), "step".to_string())]);
        let mounts = self.snapshots.prepare(&key, parent.as_deref(), labels)?;
        Ok((ActiveSnapshot { snapshots: self.snapshots, key, done: false }, mounts))
    }

    fn run(&self, idx: usize, st: &mut State, ins: &Instruction, cmd: &CmdLine, events: &mut dyn FnMut(BuildEvent)) -> Result<(), BuildError> {
        let args = match cmd {
            CmdLine::Exec(v) => v.clone(),
            CmdLine::Shell(s) => {
                let script = if ins.heredocs.len() == 1 && crate::parser::heredoc_marker(s.trim()).is_some() {
                    ins.heredocs[0].content.clone()
                } else {
                    let mut script = s.clone();
                    for h in &ins.heredocs {
                        script.push('\n');
                        script.push_str(&h.content);
                        script.push_str(&h.name);
                    }
                    script
                };
                self.command_vec(st, &CmdLine::Shell(script))
            }
        };
        // Build args in scope reach the command as environment (not persisted in the image).
        let cc = st.config.config.clone().unwrap_or_default();
        let mut env = cc.env.clone().unwrap_or_default();
        let mut arg_env: Vec<String> = Vec::new();
        for (k, v) in &st.args {
            if let Some(v) = v {
                if !env.iter().any(|e| e.split_once('=').map(|(ek, _)| ek) == Some(k.as_str())) {
                    arg_env.push(format!("{k}={v}"));
                }
            }
        }
        for p in super::PROXY_ARGS {
            if let Some(v) = self.opts.build_args.get(p) {
                env.push(format!("{p}={v}"));
            }
        }
        env.extend(arg_env.iter().cloned());
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.push(DEFAULT_PATH.to_string());
        }
        let prefix = if arg_env.is_empty() { String::new() } else { format!("|{} {} ", arg_env.len(), arg_env.join(" ")) };
        let created_by = format!("RUN {prefix}{}", args.join(" "));
        let vars = st.vars();
        let mut mounts = Vec::new();
        let mut mount_ids = Vec::new();
        let mut mounted = Vec::new();
        for m in ins.flag_all("mount") {
            let m = self.expand(ins.line, m, &vars)?;
            if let Some((rm, id)) = self.run_mount(idx, ins.line, &m, &mut mounted)? {
                mount_ids.push(format!("{}:{}:{id}", rm.kind as u8, rm.target));
                mounts.push(rm);
            }
        }
        let network = ins.flag("network").unwrap_or("default").to_string();
        if !matches!(network.as_str(), "default" | "none" | "host") {
            return Err(self.instruction_error(ins.line, format!("RUN: unsupported network mode {network:?}")));
        }
        let key = Digest::of(format!("{}\nRUN\n{created_by}\n{mount_ids:?}\n{network}\n{}", st.key, cc.user.clone().unwrap_or_default()).as_bytes());
        if self.try_cache(st, &key, &created_by, events) {
            return Ok(());
        }
        let (active, rootfs) = self.prepare(st)?;
        let layers = self.layer_dirs(&st.layers)?;
        self.create_workdir(st, &layers, &rootfs)?;
        if let Some(ids) = &self.opts.userns {
            // What the builder wrote (WORKDIR, the parents copied up for it, the upper's root) gets
            // the host ids the step's user namespace sees as the container's.
            let upper = self.snapshots.upper_dir(&active.key)?;
            berth_snapshot::chown_to_host(&upper, ids).map_err(BuildError::io("shift the owners of", &upper))?;
        }
        let step = RunStep {
            id: active.key.clone(),
            rootfs,
            args: args.clone(),
            env,
            user: cc.user.clone().unwrap_or_default(),
            workdir: cc.working_dir.clone().filter(|w| !w.is_empty()).unwrap_or_else(|| "/".into()),
            network,
            mounts,
            shm_size: 0,
        };
        // Mount targets the runtime has to create are stubs, not content (BuildKit's stub cleaner).
        let targets = step.mounts.iter().map(|m| m.target.as_str()).chain(super::RUNNER_MOUNTS);
        let workdir = step.workdir.trim_matches('/');
        let stubs: Vec<String> = targets
            .flat_map(|t| missing_components(&layers, t))
            .filter(|s| workdir != s && !workdir.starts_with(&format!("{s}/"))) // WORKDIR made it
            .collect();
        let quiet = self.opts.quiet;
        self.runner.check()?;
        events(BuildEvent::Running(step.id.clone()));
        let code = self.runner.run(&step, &mut |b: &[u8]| {
            if !quiet {
                events(BuildEvent::Output(b.to_vec()))
            }
        })?;
        if code != 0 {
            if self.opts.force_remove {
                events(BuildEvent::Removing(step.id.clone()));
            }
            return Err(BuildError::RunFailed { command: args.join(" "), code });
        }
        if !self.opts.keep_intermediate || self.opts.force_remove {
            events(BuildEvent::Removing(step.id.clone()));
        }
        let upper = self.snapshots.upper_dir(&active.key)?;
        for rel in stubs.iter().rev() {
            let p = upper.join(rel);
            match std::fs::symlink_metadata(&p) {
                Ok(md) if md.is_file() && md.len() == 0 => {
                    let _ = std::fs::remove_file(&p);
                }
                Ok(md) if md.is_dir() => {
                    let _ = std::fs::remove_dir(&p); // only when empty
                }
                _ => {}
            }
        }
        self.finish_layer(st, active, &key, &created_by, self.opts.userns.as_ref())
    }

    /// BuildKit's `WORKDIR`: the missing directories of the working directory are made before a
    /// `RUN`, owned by the stage's `USER` (the classic builder made them root's, so `USER app` then
    /// `WORKDIR /home/app/src` could not write there). They are made through a mount of the step's
    /// snapshot, so overlayfs copies existing parents up intact; nothing under a symlink is touched.
    fn create_workdir(&self, st: &State, layers: &LayerDirs, rootfs: &[berth_snapshot::Mount]) -> Result<(), BuildError> {
        let cc = st.config.config.clone().unwrap_or_default();
        let missing = missing_components(layers, &cc.working_dir.unwrap_or_default());
        if missing.is_empty() {
            return Ok(());
        }
        let (uid, gid) = match cc.user.as_deref().filter(|u| !u.is_empty()) {
            Some(u) => super::copy::resolve_chown(u, layers).unwrap_or((0, 0)),
            None => (0, 0),
        };
        let view = MountedView::mount(rootfs, self.tmp.join(format!("workdir-{}", &berth_types::random_id()[..16])))?;
        for rel in missing {
            let dir = view.dir.join(rel);
            std::fs::create_dir(&dir).map_err(BuildError::io("create", &dir))?;
            std::os::unix::fs::chown(&dir, Some(uid as u32), Some(gid as u32)).map_err(BuildError::io("chown", &dir))?;
        }
        Ok(())
    }

    /// Resolves one `--mount=type=…,target=…` spec, with what identifies its content for the cache
    /// (a bind's source tree; nothing for caches, tmpfs and secrets, which do not key the step).
    /// What it mounts on the host (views of other stages, scratch overlays) is kept in `mounted`
    /// until the step is done.
    fn run_mount(&self, idx: usize, line: usize, spec: &str, mounted: &mut Vec<BindGuard<'a>>) -> Result<Option<(RunMount, String)>, BuildError> {
        let mut kv = BTreeMap::new();
        for part in spec.split(',') {
            let (k, v) = part.split_once('=').unwrap_or((part, "true"));
            kv.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
        let get = |k: &[&str]| k.iter().find_map(|k| kv.get(*k).cloned());
        let kind = get(&["type"]).unwrap_or_else(|| "bind".into());
        let target = get(&["target", "dst", "destination"]);
        let ro = |default: bool| get(&["readonly", "ro"]).map(|v| v != "false").or(get(&["rw", "readwrite"]).map(|v| v == "false")).unwrap_or(default);
        let need_target = || target.clone().ok_or_else(|| self.instruction_error(line, format!("RUN --mount: type={kind} requires a target")));
        if kind != "bind" && get(&["from"]).is_some() {
            return Err(self.instruction_error(line, format!("RUN --mount: from= is only supported with type=bind, not type={kind}")));
        }
        Ok(Some((match kind.as_str() {
            "cache" => {
                let target = need_target()?;
                let id = get(&["id"]).unwrap_or_else(|| target.clone());
                let name = Digest::of(id.as_bytes()).hex().to_string();
                let dir = self.opts.cache_dir.join("mounts").join(&name);
                let new = !dir.exists();
                std::fs::create_dir_all(&dir).map_err(BuildError::io("create", &dir))?;
                if let Some(ids) = self.opts.userns.as_ref().filter(|_| new) {
                    // A new cache starts as an empty directory of the step's root, as in BuildKit.
                    berth_snapshot::chown_to_host(&dir, ids).map_err(BuildError::io("shift the owner of", &dir))?;
                }
                if let Err(error) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).used_mount(&name, &id) {
                    tracing::warn!(%error, "could not record a cache mount's use");
                }
                RunMount { kind: RunMountKind::Cache, source: Some(dir), target, readonly: ro(false), size: 0 }
            }
            "tmpfs" => {
                let size = get(&["size"]).and_then(|s| s.parse().ok()).unwrap_or(0);
                RunMount { kind: RunMountKind::Tmpfs, source: None, target: need_target()?, readonly: false, size }
            }
            "bind" => {
                let src = crate::dockerignore::clean(&get(&["source", "src"]).unwrap_or_default());
                let view = get(&["from"]).map(|from| self.source_view(idx, line, &from)).transpose()?;
                let root = view.as_ref().map_or(self.opts.context_dir.clone(), |v| v.dir().to_path_buf());
                let mut source = super::copy::resolve_in_root(&root, &src, true)
                    .filter(|p| p.exists())
                    .ok_or_else(|| self.instruction_error(line, format!("RUN --mount: source {src:?} not found")))?;
                let identity = match &view {
                    Some(v) => format!("{}/{src}", v.chain),
                    None => super::fsview::tree_digest(&source)?.to_string(),
                };
                let readonly = ro(true);
                // Writes to a read-write bind are the step's alone (BuildKit): an overlay takes them.
                let scratch = if !readonly && source.is_dir() { Some(ScratchOverlay::mount(&source, &self.tmp)?) } else { None };
                if let Some(s) = &scratch {
                    source = s.dir().to_path_buf();
                }
                mounted.push(BindGuard { _scratch: scratch, _view: view });
                return Ok(Some((RunMount { kind: RunMountKind::Bind, source: Some(source), target: need_target()?, readonly, size: 0 }, identity)));
            }
            "secret" => {
                let id = get(&["id"]).or_else(|| target.as_ref().and_then(|t| t.rsplit('/').next().map(String::from))).unwrap_or_default();
                let target = target.clone().unwrap_or_else(|| format!("/run/secrets/{id}"));
                match self.opts.secrets.get(&id) {
                    Some(p) => RunMount { kind: RunMountKind::Secret, source: Some(p.clone()), target, readonly: true, size: 0 },
                    None if get(&["required"]).is_some_and(|v| v == "true") => {
                        return Err(self.instruction_error(line, format!("RUN --mount: secret {id} not provided")))
                    }
                    None => return Ok(None),
                }
            }
            other => return Err(self.instruction_error(line, format!("RUN --mount: unsupported mount type {other:?}"))),
        }, String::new())))
    }
}

/// The components of absolute `target` (relative, each with its parents) that the stage's layers
/// lack: what a runtime creates to mount on it.
fn missing_components(layers: &LayerDirs, target: &str) -> Vec<String> {
    let comps: Vec<&str> = target.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    let mut out = Vec::new();
    for i in 1..=comps.len() {
        let rel = comps[..i].join("/");
        match layers.lookup(&rel) {
            Some((_, md)) if md.is_dir() => continue,
            Some(_) => return Vec::new(),
            None => out.push(rel),
        }
    }
    out
}

/// `80`, `80/udp`, `8000-8002/tcp` → `["80/tcp"]`, … (Docker's `nat.ParsePortSpecs` for EXPOSE).
fn expose_ports(spec: &str) -> Result<Vec<String>, String> {
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("EXPOSE: invalid protocol {proto:?}"));
    }
    let bad = || format!("EXPOSE: invalid port {spec:?}");
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (a.parse::<u16>().map_err(|_| bad())?, b.parse::<u16>().map_err(|_| bad())?),
        None => {
            let p = ports.parse::<u16>().map_err(|_| bad())?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(bad());
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

/// Whether an instruction only changes the image's config (no layer, no container).
pub(crate) fn is_metadata(ins: &Instruction) -> bool {
    !matches!(ins.keyword.as_str(), "RUN" | "COPY" | "ADD" | "FROM")
}
