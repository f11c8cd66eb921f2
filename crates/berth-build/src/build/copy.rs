//! `COPY` and `ADD`: sources (context, another stage, an image, heredocs, local archives) become a
//! deterministic tar that is applied to a fresh active snapshot with the hostile-safe `apply_layer`.
//!
//! Docker's rules: a directory source copies its contents; several sources need a destination ending
//! in `/`; a file goes into a destination directory (trailing `/` or existing directory) or becomes
//! the destination; new files are owned by 0:0 unless `--chown`; symlinks are copied, not followed
//! (the named source itself is resolved inside its root); `.dockerignore`d files do not exist.
//! `ADD <http(s) URL>` sources are downloaded first (see [`super::remote`]).

use super::dispatch::State;
use super::fsview::{LayerDirs, SourceView};
use super::remote;
use super::{BuildEvent, Builder};
use crate::dockerignore::{clean, glob_match_str, IgnoreMatcher};
use crate::error::BuildError;
use crate::parser::{CopyArgs, Instruction};
use berth_types::Digest;
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

enum Body {
    Dir,
    File(PathBuf),
    Data(Vec<u8>),
    Symlink(PathBuf),
}

struct Entry {
    body: Body,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: i64,
}

impl Builder<'_> {
    pub(super) fn copy(&self, idx: usize, st: &mut State, ins: &Instruction, args: &CopyArgs, events: &mut dyn FnMut(BuildEvent)) -> Result<(), BuildError> {
        let line = ins.line;
        let is_add = ins.keyword == "ADD";
        let vars = st.vars();
        let e = |b: &Self, w: &str| b.expand(line, w, &vars);
        let dest_raw = e(self, &args.dest)?;
        let workdir = st.config.config.as_ref().and_then(|c| c.working_dir.clone()).unwrap_or_else(|| "/".into());
        let dest_abs = if dest_raw.starts_with('/') { dest_raw.clone() } else { format!("{workdir}/{dest_raw}") };
        let dest = clean(&dest_abs);
        let dest_dir_syntax = dest_raw.ends_with('/') || dest_raw.ends_with("/.") || dest_raw == "." || dest.is_empty();
        // Layers of this stage so far: for existing directories, parent metadata and --chown names.
        let layer_dirs = self.layer_dirs(&st.layers)?;
        let (uid, gid) = match ins.flag("chown") {
            Some(c) => resolve_chown(&e(self, c)?, &layer_dirs).map_err(|m| self.instruction_error(line, m))?,
            None => (0, 0),
        };
        let chmod = match ins.flag("chmod") {
            Some(m) => Some(u32::from_str_radix(&e(self, m)?, 8).map_err(|_| self.instruction_error(line, format!("{}: invalid --chmod {m:?}: only octal modes are supported", ins.keyword)))?),
            None => None,
        };
        let excludes: Vec<String> = ins.flag_all("exclude").iter().map(|x| e(self, x)).collect::<Result<_, _>>()?;
        let excludes = IgnoreMatcher::from_patterns(excludes.iter().map(String::as_str));
        // The source root: the context, or a read-only view of another stage or image.
        let mut _view: Option<SourceView<'_>> = None;
        let (root, ignore): (PathBuf, Option<&IgnoreMatcher>) = match ins.flag("from") {
            Some(f) if !is_add => {
                let view = self.source_view(idx, line, &e(self, f)?)?;
                let dir = view.dir().to_path_buf();
                _view = Some(view);
                (dir, None)
            }
            _ => (self.opts.context_dir.clone(), Some(&self.ignore)),
        };
        let epoch = self.epoch;
        let clamp = |t: i64| epoch.map_or(t, |e| t.min(e));
        let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
        let mut srcs: Vec<(String, PathBuf)> = Vec::new(); // (relative source path, host path)
        let mut heredoc_files = Vec::new();
        // Downloaded `ADD <url>` sources; their temporary files go when this step ends.
        let mut downloads: Vec<remote::Download> = Vec::new();
        for s in &args.sources {
            if let Some((name, _, _)) = crate::parser::heredoc_marker(s) {
                let h = ins.heredocs.iter().find(|h| h.name == name).ok_or_else(|| self.instruction_error(line, format!("heredoc {name} not found")))?;
                let content = if h.expand { e(self, &h.content.replace('"', "\\\""))? } else { h.content.clone() };
                heredoc_files.push((name, content));
                continue;
            }
            let s = e(self, s)?;
            if remote::is_url(&s) || remote::is_git(&s) {
                if !is_add {
                    return Err(self.instruction_error(line, format!("COPY: source can't be a URL: {s}")));
                }
                if remote::is_git(&s) {
                    return Err(self.instruction_error(line, format!("ADD: git repositories are not supported by this builder: {s}")));
                }
                let checksum = ins.flag("checksum").map(|c| e(self, c)).transpose()?;
                downloads.push(self.download(line, &s, checksum.as_deref())?);
                continue;
            }
            let rel = clean(&s);
            let matches = expand_glob(&root, &rel);
            let matches: Vec<String> = matches.into_iter().filter(|m| !ignore.is_some_and(|i| i.excluded(m)) && !excludes.excluded(m)).collect();
            if matches.is_empty() {
                return Err(self.instruction_error(line, format!("{} failed: file not found in build context or excluded by .dockerignore: stat {s}: file does not exist", ins.keyword)));
            }
            for m in matches {
                let host = resolve_in_root(&root, &m, false).ok_or_else(|| self.instruction_error(line, format!("{} failed: {m} resolves outside its root", ins.keyword)))?;
                srcs.push((m, host));
            }
        }
        let count = srcs.len() + heredoc_files.len() + downloads.len();
        let dest_exists_dir = layer_dirs.lookup(&dest).is_some_and(|(_, md)| md.is_dir());
        if count > 1 && !dest_dir_syntax {
            return Err(self.instruction_error(line, format!("When using {} with more than one source file, the destination must be a directory and end with a /", ins.keyword)));
        }
        let into_dir = dest_dir_syntax || dest_exists_dir;
        let place = |name: &str, into: bool| -> String {
            if into || dest.is_empty() {
                clean(&format!("{dest}/{name}"))
            } else {
                dest.clone()
            }
        };
        let file_mode = |m: u32| chmod.unwrap_or(m & 0o7777);
        for (name, content) in heredoc_files {
            let path = place(&name, into_dir);
            entries.insert(path, Entry { body: Body::Data(content.into_bytes()), mode: chmod.unwrap_or(0o644), uid, gid, mtime: epoch.unwrap_or(0) });
        }
        // Docker: a download is never extracted; 0600 unless --chmod; its mtime is Last-Modified.
        for dl in &downloads {
            let path = match (&dl.name, into_dir || dest.is_empty()) {
                (_, false) => dest.clone(),
                (Some(name), true) => place(name, true),
                (None, true) => return Err(self.instruction_error(line, format!("ADD: cannot determine a file name for {}: name the destination file", dl.url))),
            };
            entries.insert(path, Entry { body: Body::File(dl.path.clone()), mode: chmod.unwrap_or(0o600), uid, gid, mtime: clamp(dl.mtime) });
        }
        for (rel, host) in &srcs {
            let md = std::fs::symlink_metadata(host).map_err(BuildError::io("stat", host))?;
            let base = Path::new(rel).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let target_base = if ins.flag_bool("parents") { rel.clone() } else { base.clone() };
            if md.is_dir() {
                let top = if ins.flag_bool("parents") { place(rel, true) } else { dest.clone() };
                if !top.is_empty() {
                    entries.insert(top.clone(), Entry { body: Body::Dir, mode: file_mode(md.mode()), uid, gid, mtime: clamp(md.mtime()) });
                }
                walk(host, rel, &top, &Filters { ignore, excludes: &excludes, source: rel }, &mut entries, &|m| file_mode(m), uid, gid, &clamp)?;
            } else if is_add && md.is_file() && is_archive(host) {
                extract_archive(host, &dest, &mut entries, &clamp).map_err(|m| self.instruction_error(line, m))?;
            } else {
                if is_add {
                    if let Some(sum) = ins.flag("checksum") {
                        remote::verify_checksum(host, &e(self, sum)?).map_err(|m| self.instruction_error(line, format!("ADD {rel}: {m}")))?;
                    }
                }
                let path = place(&target_base, into_dir);
                entries.insert(path, entry_for(host, &md, &|m| file_mode(m), uid, gid, &clamp)?);
            }
        }
        // Missing parent directories: the merged tree's metadata when they exist, else 0755 root.
        let mut parents = Vec::new();
        for p in entries.keys() {
            let mut cur = p.as_str();
            while let Some(i) = cur.rfind('/') {
                cur = &cur[..i];
                if !entries.contains_key(cur) {
                    parents.push(cur.to_string());
                }
            }
        }
        for p in parents {
            let entry = match layer_dirs.lookup(&p) {
                Some((_, md)) if md.is_dir() => Entry { body: Body::Dir, mode: md.mode() & 0o7777, uid: md.uid() as u64, gid: md.gid() as u64, mtime: clamp(md.mtime()) },
                _ => Entry { body: Body::Dir, mode: 0o755, uid: 0, gid: 0, mtime: epoch.unwrap_or(0) },
            };
            entries.entry(p).or_insert(entry);
        }
        // The tar is the step's content: its digest, taken without writing it anywhere, is what the
        // cache keys on. On a miss the same tar streams through a pipe into the new snapshot.
        let mut hasher = berth_types::Sha256Writer::new(std::io::sink());
        write_tar(&mut hasher, &entries).map_err(BuildError::io("read sources of", &self.opts.context_dir))?;
        let (_, digest, _) = hasher.finish();
        let created_by = format!("{} {}", ins.keyword, ins.original.split_once(char::is_whitespace).map_or("", |(_, r)| r.trim()));
        let key = Digest::of(format!("{}\n{created_by}\n{digest}", st.key).as_bytes());
        let result = if self.try_cache(st, &key, &created_by, events) {
            Ok(())
        } else {
            (|| {
                let (active, _mounts) = self.prepare(st)?;
                let upper = self.snapshots.upper_dir(&active.key)?;
                let (reader, mut writer) = std::io::pipe().map_err(BuildError::io("pipe for", &upper))?;
                std::thread::scope(|scope| {
                    let produce = scope.spawn(move || write_tar(&mut writer, &entries));
                    let applied = berth_snapshot::apply_layer(&upper, std::io::BufReader::new(reader));
                    let produced = produce.join().unwrap_or_else(|_| Err(std::io::Error::other("tar writer panicked")));
                    applied?;
                    produced.map_err(BuildError::io("read sources of", &self.opts.context_dir))
                })?;
                self.finish_layer(st, active, &key, &created_by, None)
            })()
        };
        drop(_view);
        result
    }
}

fn entry_for(host: &Path, md: &std::fs::Metadata, mode: &dyn Fn(u32) -> u32, uid: u64, gid: u64, clamp: &dyn Fn(i64) -> i64) -> Result<Entry, BuildError> {
    let body = if md.file_type().is_symlink() {
        Body::Symlink(std::fs::read_link(host).map_err(BuildError::io("readlink", host))?)
    } else if md.is_dir() {
        Body::Dir
    } else {
        Body::File(host.to_path_buf())
    };
    let mode = if md.file_type().is_symlink() { 0o777 } else { mode(md.permissions().mode()) };
    Ok(Entry { body, mode, uid, gid, mtime: clamp(md.mtime()) })
}

/// What leaves files out of a `COPY`: `.dockerignore` (context sources only) and `--exclude`
/// patterns, which match a path relative to the context or to the named source directory.
struct Filters<'a> {
    ignore: Option<&'a IgnoreMatcher>,
    excludes: &'a IgnoreMatcher,
    /// The named source directory, context-relative.
    source: &'a str,
}

impl Filters<'_> {
    fn excluded(&self, rel: &str) -> bool {
        let in_source = rel.strip_prefix(self.source).and_then(|r| r.strip_prefix('/')).filter(|_| !self.source.is_empty());
        self.ignore.is_some_and(|i| i.excluded(rel)) || self.excludes.excluded(rel) || in_source.is_some_and(|r| self.excludes.excluded(r))
    }

    fn has_exceptions(&self) -> bool {
        self.ignore.is_some_and(|i| i.has_exceptions()) || self.excludes.has_exceptions()
    }
}

#[allow(clippy::too_many_arguments)]
fn walk(
    dir: &Path,
    rel: &str,
    dest: &str,
    filters: &Filters<'_>,
    out: &mut BTreeMap<String, Entry>,
    mode: &dyn Fn(u32) -> u32,
    uid: u64,
    gid: u64,
    clamp: &dyn Fn(i64) -> i64,
) -> Result<(), BuildError> {
    let mut names: Vec<_> = std::fs::read_dir(dir).map_err(BuildError::io("read", dir))?.filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    names.sort();
    for name in names {
        let name = name.to_string_lossy().into_owned();
        let host = dir.join(&name);
        let src_rel = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
        let md = std::fs::symlink_metadata(&host).map_err(BuildError::io("stat", &host))?;
        let excluded = filters.excluded(&src_rel);
        let may_reinclude = md.is_dir() && filters.has_exceptions();
        if excluded && !may_reinclude {
            continue;
        }
        let target = if dest.is_empty() { name.clone() } else { format!("{dest}/{name}") };
        if md.is_dir() {
            let before = out.len();
            walk(&host, &src_rel, &target, filters, out, mode, uid, gid, clamp)?;
            if !excluded || out.len() > before {
                out.insert(target, entry_for(&host, &md, mode, uid, gid, clamp)?);
            }
        } else if md.is_file() || md.file_type().is_symlink() {
            out.insert(target, entry_for(&host, &md, mode, uid, gid, clamp)?);
        }
    }
    Ok(())
}

/// Paths under `root` matching `pattern` (component-wise globbing; no glob characters: the path itself).
fn expand_glob(root: &Path, pattern: &str) -> Vec<String> {
    if pattern.is_empty() {
        return vec![String::new()];
    }
    let mut found = vec![String::new()];
    for comp in pattern.split('/') {
        let mut next = Vec::new();
        for base in &found {
            let join = |n: &str| if base.is_empty() { n.to_string() } else { format!("{base}/{n}") };
            if comp.contains(['*', '?', '[']) {
                let dir = root.join(base);
                let Ok(rd) = std::fs::read_dir(&dir) else { continue };
                let mut names: Vec<String> = rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| glob_match_str(comp, n)).collect();
                names.sort();
                next.extend(names.iter().map(|n| join(n)));
            } else if resolve_in_root(root, &join(comp), false).is_some_and(|p| p.symlink_metadata().is_ok()) {
                next.push(join(comp));
            }
        }
        found = next;
    }
    found
}

/// Resolves `rel` inside `root`, following symlinks as if `root` were `/` (Docker's
/// `FollowSymlinkInScope`), so no source can name a file outside its root. A final symlink is
/// followed only with `follow_last` (`COPY` copies it as a link; a bind mount needs its target).
pub(crate) fn resolve_in_root(root: &Path, rel: &str, follow_last: bool) -> Option<PathBuf> {
    let mut todo: Vec<String> = rel.split('/').filter(|c| !c.is_empty()).rev().map(String::from).collect();
    let mut done: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        match c.as_str() {
            "." => continue,
            ".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        let p = root.join(done.join("/")).join(&c);
        match std::fs::symlink_metadata(&p) {
            Ok(md) if md.file_type().is_symlink() && (follow_last || !todo.is_empty()) => {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                let target = std::fs::read_link(&p).ok()?;
                let t = target.to_string_lossy();
                if t.starts_with('/') {
                    done.clear();
                }
                todo.extend(t.split('/').filter(|c| !c.is_empty()).rev().map(String::from));
            }
            _ => done.push(c),
        }
    }
    Some(root.join(done.join("/")))
}

fn is_archive(path: &Path) -> bool {
    let mut head = [0u8; 512];
    let Ok(mut f) = std::fs::File::open(path) else { return false };
    let n = f.read(&mut head).unwrap_or(0);
    let c = berth_image::compression::Compression::detect(&head[..n]);
    c != berth_image::compression::Compression::None || (n >= 262 && &head[257..262] == b"ustar")
}

/// ADD's auto-extraction: the archive's entries land under `dest`, keeping their owners and modes.
fn extract_archive(path: &Path, dest: &str, out: &mut BTreeMap<String, Entry>, clamp: &dyn Fn(i64) -> i64) -> Result<(), String> {
    let f = std::fs::File::open(path).map_err(|e| format!("ADD: open {}: {e}", path.display()))?;
    let (_, reader) = berth_image::compression::decompress(f).map_err(|e| format!("ADD: read archive: {e}"))?;
    let mut ar = tar::Archive::new(reader);
    for entry in ar.entries().map_err(|e| format!("ADD: read archive: {e}"))? {
        let mut entry = entry.map_err(|e| format!("ADD: read archive: {e}"))?;
        let name = entry.path().map_err(|e| format!("ADD: bad entry path: {e}"))?.to_string_lossy().into_owned();
        if name.split('/').any(|c| c == "..") {
            return Err(format!("ADD: archive entry {name:?} leaves the destination"));
        }
        let target = clean(&format!("{dest}/{name}"));
        let h = entry.header();
        let (mode, uid, gid, mtime) = (h.mode().unwrap_or(0o644), h.uid().unwrap_or(0), h.gid().unwrap_or(0), h.mtime().unwrap_or(0) as i64);
        let body = match h.entry_type() {
            tar::EntryType::Directory => Body::Dir,
            tar::EntryType::Symlink => Body::Symlink(entry.link_name().ok().flatten().map(|l| l.into_owned()).unwrap_or_default()),
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut data = Vec::new();
                entry.read_to_end(&mut data).map_err(|e| format!("ADD: read archive: {e}"))?;
                Body::Data(data)
            }
            _ => continue,
        };
        if !target.is_empty() {
            out.insert(target, Entry { body, mode, uid, gid, mtime: clamp(mtime) });
        }
    }
    Ok(())
}

/// Canonical `--chown` values: `uid[:gid]` or names looked up in the image's /etc/passwd and /etc/group.
pub(crate) fn resolve_chown(spec: &str, layers: &LayerDirs) -> Result<(u64, u64), String> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let lookup = |file: &str, name: &str| -> Option<(u64, u64)> {
        layers.read(file)?.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 3 && f[0] == name).then(|| Some((f[2].parse().ok()?, f[3].parse().unwrap_or(0)))).flatten()
        })
    };
    let (uid, primary) = match user.parse::<u64>() {
        Ok(u) => (u, u),
        Err(_) => lookup("etc/passwd", user).ok_or_else(|| format!("unable to convert uid/gid chown string to host mapping: no such user {user:?}"))?,
    };
    let gid = match group {
        None => primary,
        Some(g) => match g.parse::<u64>() {
            Ok(g) => g,
            Err(_) => lookup("etc/group", g).map(|(gid, _)| gid).ok_or_else(|| format!("unable to convert uid/gid chown string to host mapping: no such group {g:?}"))?,
        },
    };
    Ok((uid, gid))
}

fn write_tar(w: &mut impl std::io::Write, entries: &BTreeMap<String, Entry>) -> std::io::Result<()> {
    let mut b = tar::Builder::new(std::io::BufWriter::new(w));
    b.mode(tar::HeaderMode::Deterministic);
    for (path, e) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(e.mtime.max(0) as u64);
        match &e.body {
            Body::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, format!("{path}/"), std::io::empty())?;
            }
            Body::Data(d) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(d.len() as u64);
                b.append_data(&mut h, path, &d[..])?;
            }
            Body::File(p) => {
                let f = std::fs::File::open(p)?;
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(f.metadata()?.len());
                b.append_data(&mut h, path, f)?;
            }
            Body::Symlink(t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, path, t)?;
            }
        }
    }
    b.into_inner()?;
    Ok(())
}
