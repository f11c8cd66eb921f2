//! The image service: list, inspect, history, tag, delete, prune, import, save and load, with the
//! image events Docker emits for each.

use super::ServiceError;
use crate::events::EventBus;
use crate::filters::{glob_match, Filters};
use berth_api::image::{DeleteItem, HistoryItem, ImageSummary, PruneReport};
use berth_image::archive::{self, SaveItem};
use berth_image::import::{import_rootfs, ImportOptions};
use berth_image::{Image, ImageError, ImageStore};
use berth_types::{Digest, Reference};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};
use std::sync::Arc;

/// Options of `GET /images/json`.
#[derive(Debug, Default, Clone)]
pub struct ListOptions {
    /// Show intermediate (untagged parent) images too.
    pub all: bool,
    /// Filters: `reference`, `dangling`, `label`, `before`, `since`, `until`.
    pub filters: Filters,
}

/// Images, as the API sees them.
pub struct ImageService {
    store: Arc<ImageStore>,
    events: Arc<EventBus>,
    leases: Arc<super::gc::lease::Leases>,
    /// Held by each removal: a removal that finds a reference already gone to a concurrent one
    /// answers only once that one has removed the image (the CRI's simultaneous `RemoveImage`).
    removing: std::sync::Mutex<()>,
}

fn attrs(name: Option<String>) -> BTreeMap<String, String> {
    name.into_iter().map(|n| ("name".to_string(), n)).collect()
}

impl ImageService {
    /// A service over `store`, publishing to `events`.
    pub fn new(store: Arc<ImageStore>, events: Arc<EventBus>, leases: Arc<super::gc::lease::Leases>) -> Self {
        ImageService { store, events, leases, removing: std::sync::Mutex::new(()) }
    }

    fn event(&self, action: &str, id: &str, name: Option<String>) {
        self.events.publish("image", action, id, attrs(name));
    }

    /// Finds an image by name or id.
    pub fn get(&self, name: &str) -> Result<Image, ServiceError> {
        Ok(self.store.get(name)?)
    }

    /// `GET /images/json`.
    pub fn list(&self, opts: &ListOptions) -> Result<Vec<ImageSummary>, ServiceError> {
        let f = &opts.filters;
        f.validate(&["reference", "dangling", "label", "before", "since", "until"]).map_err(ServiceError::Invalid)?;
        let dangling = f.bool("dangling").map_err(ServiceError::Invalid)?;
        let created_of = |name: &str| -> Result<i64, ServiceError> { Ok(self.store.get(name)?.config.created_unix()) };
        let before = f.get("before").iter().map(|n| created_of(n)).collect::<Result<Vec<_>, _>>()?;
        let since = f.get("since").iter().map(|n| created_of(n)).collect::<Result<Vec<_>, _>>()?;
        let until = f.get("until").iter().map(|u| parse_time(u).map(|t| t as i64)).collect::<Result<Vec<_>, _>>()?;
        let images = self.store.list();
        let parents: HashSet<Digest> = images.iter().filter_map(|i| i.parent.clone()).collect();
        let mut out = Vec::new();
        for img in &images {
            let created = img.config.created_unix();
            let untagged = img.tags.is_empty() && img.digests.is_empty();
            if !opts.all && untagged && parents.contains(&img.id) && dangling.is_none() {
                continue;
            }
            if let Some(d) = dangling {
                if d != img.tags.is_empty() {
                    continue;
                }
            }
            let labels = img.config.config.as_ref().and_then(|c| c.labels.clone());
            if !f.labels_match("label", labels.as_ref()) {
                continue;
            }
            if before.iter().any(|b| created >= *b) || since.iter().any(|s| created <= *s) || until.iter().any(|u| created > *u) {
                continue;
            }
            let mut tags: Vec<String> = img.tags.iter().map(Reference::familiar).collect();
            let refs = f.get("reference");
            if !refs.is_empty() {
                tags.retain(|t| refs.iter().any(|p| reference_matches(p, t)));
                let digest_hit = img.digests.iter().any(|d| refs.iter().any(|p| reference_matches(p, &d.familiar())));
                if tags.is_empty() && !digest_hit {
                    continue;
                }
            }
            out.push(ImageSummary {
                id: img.id.to_string(),
                parent_id: img.parent.as_ref().map(|p| p.to_string()).unwrap_or_default(),
                repo_tags: tags,
                repo_digests: img.digests.iter().map(Reference::familiar).collect(),
                created,
                size: img.size() as i64,
                shared_size: -1,
                virtual_size: Some(img.size() as i64),
                labels,
                containers: -1,
            });
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// `GET /images/{name}/json`.
    pub fn inspect(&self, name: &str) -> Result<Value, ServiceError> {
        let img = self.store.get(name)?;
        let c = &img.config;
        let top = self.store.content().blob_path(&img.id);
        Ok(json!({
            "Id": img.id.to_string(),
            "RepoTags": img.tags.iter().map(Reference::familiar).collect::<Vec<_>>(),
            "RepoDigests": img.digests.iter().map(Reference::familiar).collect::<Vec<_>>(),
            "Parent": img.parent.as_ref().map(|p| p.to_string()).unwrap_or_default(),
            "Comment": c.comment.clone().unwrap_or_default(),
            "Created": c.created.clone().unwrap_or_default(),
            "DockerVersion": c.docker_version.clone().unwrap_or_default(),
            "Author": c.author.clone().unwrap_or_default(),
            "Config": c.container_config().to_inspect(),
            "Architecture": c.architecture,
            "Variant": c.variant,
            "Os": c.os,
            "Size": img.size(),
            "GraphDriver": {"Name": "overlay2", "Data": {"ConfigBlob": top.display().to_string()}},
            "RootFS": {"Type": "layers", "Layers": c.rootfs.diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>()},
            "Metadata": {"LastTagTime": img.last_tag_time.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into())},
        }))
    }

    /// `GET /images/{name}/history`, newest step first.
    pub fn history(&self, name: &str) -> Result<Vec<HistoryItem>, ServiceError> {
        let img = self.store.get(name)?;
        let c = &img.config;
        let created = |h: Option<&String>| {
            h.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| t.timestamp()).unwrap_or(0)
        };
        let mut layers = img.layers.iter();
        let mut items: Vec<HistoryItem> = if c.history.is_empty() {
            img.layers
                .iter()
                .map(|l| HistoryItem {
                    id: "<missing>".into(),
                    created: c.created_unix(),
                    created_by: String::new(),
                    tags: vec![],
                    size: l.size as i64,
                    comment: String::new(),
                })
                .collect()
        } else {
            c.history
                .iter()
                .map(|h| HistoryItem {
                    id: "<missing>".into(),
                    created: created(h.created.as_ref()),
                    created_by: h.created_by.clone().unwrap_or_default(),
                    tags: vec![],
                    size: if h.empty_layer { 0 } else { layers.next().map(|l| l.size as i64).unwrap_or(0) },
                    comment: h.comment.clone().unwrap_or_default(),
                })
                .collect()
        };
        items.reverse();
        if let Some(first) = items.first_mut() {
            first.id = img.id.to_string();
            first.tags = img.tags.iter().map(Reference::familiar).collect();
        }
        Ok(items)
    }

    /// `POST /images/{name}/tag`.
    pub fn tag(&self, name: &str, repo: &str, tag: &str) -> Result<(), ServiceError> {
        let img = self.store.get(name)?;
        let r = Reference::from_repo_tag(repo, tag)?;
        if r.digest().is_some() {
            return Err(ServiceError::Invalid("refusing to create a tag with a digest reference".into()));
        }
        self.store.tag(&img.id, &r)?;
        self.event("tag", &img.id.to_string(), Some(r.familiar()));
        Ok(())
    }

    /// `DELETE /images/{name}` with Docker's untag-versus-delete rules. `users` are the containers
    /// (id, running) created from each image id.
    pub fn delete(&self, name: &str, force: bool, noprune: bool, users: &HashMap<String, Vec<(String, bool)>>) -> Result<Vec<DeleteItem>, ServiceError> {
        let _removing = self.removing.lock().unwrap_or_else(|p| p.into_inner());
        let img = self.store.get(name)?;
        let by_ref = Reference::parse_tagged(name).ok().filter(|r| img.tags.contains(r) || img.digests.contains(r));
        let used_by = users.get(&img.id.to_string()).cloned().unwrap_or_default();
        let refs_count = img.tags.len() + img.digests.len();
        let last_ref = by_ref.is_none() || refs_count <= 1;
        if last_ref {
            if let Some((cid, _)) = used_by.iter().find(|(_, running)| *running) {
                return Err(ImageError::Conflict(format!(
                    "conflict: unable to delete {} (cannot be forced) - image is being used by running container {}",
                    img.id.short(),
                    &cid[..12]
                ))
                .into());
            }
            if let (Some((cid, _)), false) = (used_by.first(), force) {
                return Err(ImageError::Conflict(match &by_ref {
                    Some(_) => format!(
                        "conflict: unable to remove repository reference \"{}\" (must force) - container {} is using its referenced image {}",
                        name,
                        &cid[..12],
                        img.id.short()
                    ),
                    None => format!("conflict: unable to delete {} (must be forced) - image is being used by stopped container {}", img.id.short(), &cid[..12]),
                })
                .into());
            }
        }
        let mut out = Vec::new();
        match by_ref {
            Some(r) => {
                self.untag(&r, &mut out)?;
                let Some(now) = self.store.by_id(&img.id) else { return Ok(out) };
                if !now.tags.is_empty() {
                    return Ok(out);
                }
                // The last tag is gone: its digest references go with it, as with Docker.
                for d in &now.digests {
                    self.untag(d, &mut out)?;
                }
                // dockerd's quiet conflict: an image others were built on stays, untagged, for them.
                if !self.store.children(&img.id).is_empty() {
                    return Ok(out);
                }
            }
            None => {
                let repos: HashSet<String> = img.tags.iter().chain(&img.digests).map(Reference::name).collect();
                if repos.len() > 1 && !force {
                    return Err(ImageError::Conflict(format!(
                        "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                        img.id.short()
                    ))
                    .into());
                }
                if !self.store.children(&img.id).is_empty() {
                    return Err(child_conflict(&img.id).into());
                }
                for r in img.tags.iter().chain(&img.digests) {
                    self.untag(r, &mut out)?;
                }
            }
        }
        if !used_by.is_empty() {
            // Forced: the references are gone, the image stays for its (stopped) containers.
            return Ok(out);
        }
        self.remove_image(&img.id, noprune, &mut out)?;
        Ok(out)
    }

    fn untag(&self, r: &Reference, out: &mut Vec<DeleteItem>) -> Result<(), ServiceError> {
        let id = self.store.untag(r)?;
        // dockerd names the image by its id in an untag event, not by the removed reference.
        self.event("untag", &id.to_string(), Some(id.to_string()));
        out.push(DeleteItem { untagged: Some(r.familiar()), deleted: None });
        Ok(())
    }

    fn remove_image(&self, id: &Digest, noprune: bool, out: &mut Vec<DeleteItem>) -> Result<(), ServiceError> {
        if !self.store.children(id).is_empty() {
            return Err(child_conflict(id).into());
        }
        let parent = self.store.by_id(id).and_then(|i| i.parent);
        let layers = self.store.remove(id)?;
        self.event("delete", &id.to_string(), None);
        out.push(DeleteItem { untagged: None, deleted: Some(id.to_string()) });
        out.extend(layers.into_iter().map(|l| DeleteItem { untagged: None, deleted: Some(l.to_string()) }));
        if let (false, Some(p)) = (noprune, parent) {
            if let Some(pi) = self.store.by_id(&p) {
                if pi.tags.is_empty() && pi.digests.is_empty() && self.store.children(&p).is_empty() {
                    self.remove_image(&p, noprune, out)?;
                }
            }
        }
        Ok(())
    }

    /// `POST /images/prune`: dangling images (or, with `dangling=false`, every unused image), never
    /// one a container uses (`in_use` holds those image ids).
    pub fn prune(&self, filters: &Filters, in_use: &HashSet<String>) -> Result<PruneReport, ServiceError> {
        filters.validate(&["dangling", "until", "label", "label!"]).map_err(ServiceError::Invalid)?;
        let only_dangling = filters.bool("dangling").map_err(ServiceError::Invalid)?.unwrap_or(true);
        let until = filters.get("until").iter().map(|u| parse_until(u)).collect::<Result<Vec<_>, _>>()?;
        let mut report = PruneReport::default();
        let mut deleted = Vec::new();
        // Children first, so parents become prunable in the same pass; passes repeat until one
        // removes nothing (a build's step images share a creation second, so the order alone
        // cannot put every child before its parent).
        loop {
            let mut images = self.store.list();
            images.sort_by_key(|i| std::cmp::Reverse(i.config.created_unix()));
            let before = deleted.len();
            for img in images {
                let Some(img) = self.store.by_id(&img.id) else { continue };
                if (only_dangling && !(img.tags.is_empty() && img.digests.is_empty())) || in_use.contains(&img.id.to_string()) {
                    continue;
                }
                let labels = img.config.config.as_ref().and_then(|c| c.labels.clone());
                if !filters.labels_match("label", labels.as_ref()) {
                    continue;
                }
                if filters.get("label!").iter().any(|l| labels.as_ref().is_some_and(|ls| Filters::label_present(l, ls))) {
                    continue;
                }
                if until.iter().any(|u| img.config.created_unix() as f64 >= *u) {
                    continue;
                }
                if !self.store.children(&img.id).is_empty() {
                    continue;
                }
                let size = img.size() as i64;
                let mut items = Vec::new();
                for r in img.tags.iter().chain(&img.digests) {
                    self.untag(r, &mut items)?;
                }
                self.remove_image(&img.id, true, &mut items)?;
                report.space_reclaimed += size;
                deleted.extend(items);
            }
            if deleted.len() == before {
                break;
            }
        }
        if !deleted.is_empty() {
            report.images_deleted = Some(deleted);
        }
        Ok(report)
    }

    /// Publishes the `prune` event once the space a prune freed is known.
    pub fn pruned(&self, reclaimed: i64) {
        self.events.publish("image", "prune", "", BTreeMap::from([("reclaimed".to_string(), reclaimed.to_string())]));
    }

    /// Imports a root filesystem tarball; tags it as `reference` when given.
    pub fn import(&self, reader: impl Read, opts: &ImportOptions, reference: Option<&Reference>) -> Result<Digest, ServiceError> {
        let _lease = self.leases.acquire("import");
        let id = import_rootfs(&self.store, reader, opts)?;
        let name = reference.map(Reference::familiar);
        if let Some(r) = reference {
            self.store.tag(&id, r)?;
        }
        self.event("import", &id.to_string(), name);
        Ok(id)
    }

    /// Resolves the names `docker save` was given: a tag saves that tag, a bare repository name
    /// saves all its tags, an id saves the image unnamed.
    pub fn save_items(&self, names: &[String]) -> Result<Vec<SaveItem>, ServiceError> {
        let mut items: Vec<SaveItem> = Vec::new();
        for n in names {
            // `docker save busybox` (no tag): every tag of the repository.
            let repo_tags: Vec<Reference> = match Reference::parse(n) {
                Ok(r) if r.tag().is_none() && r.digest().is_none() => {
                    self.store.list().into_iter().flat_map(|i| i.tags).filter(|t| t.name() == r.name()).collect()
                }
                _ => vec![],
            };
            let refs = if repo_tags.is_empty() {
                let img = self.store.get(n)?;
                let named = Reference::parse_tagged(n).ok().filter(|r| img.tags.contains(r));
                match named {
                    Some(r) => vec![r],
                    None => {
                        if !items.iter().any(|i| i.image.id == img.id) {
                            items.push(SaveItem { image: img, refs: vec![] });
                        }
                        continue;
                    }
                }
            } else {
                repo_tags
            };
            for r in refs {
                let target = self.store.get(&r.to_string())?;
                match items.iter_mut().find(|i| i.image.id == target.id) {
                    Some(i) if !i.refs.contains(&r) => i.refs.push(r),
                    Some(_) => {}
                    None => items.push(SaveItem { image: target, refs: vec![r] }),
                }
            }
        }
        Ok(items)
    }

    /// Writes the archive of `items` to `out`.
    pub fn save(&self, items: &[SaveItem], out: impl Write) -> Result<(), ServiceError> {
        archive::save(&self.store, items, out)?;
        for i in items {
            self.event("save", &i.image.id.to_string(), i.refs.first().map(Reference::familiar));
        }
        Ok(())
    }

    /// Loads an archive; returns the lines `docker load` prints.
    pub fn load(&self, reader: impl Read) -> Result<Vec<String>, ServiceError> {
        let _lease = self.leases.acquire("load");
        let loaded = archive::load(&self.store, reader)?;
        let mut lines = Vec::new();
        for l in loaded {
            if l.refs.is_empty() {
                lines.push(format!("Loaded image ID: {}\n", l.id));
            }
            for r in &l.refs {
                if let Some(old) = self.store.tag(&l.id, r)? {
                    lines.push(format!(
                        "The image {} already exists, renaming the old one with ID {} to empty string\n",
                        r.familiar(),
                        old
                    ));
                }
                lines.push(format!("Loaded image: {}\n", r.familiar()));
            }
            self.event("load", &l.id.to_string(), l.refs.first().map(Reference::familiar));
        }
        Ok(lines)
    }

    /// Bytes used by distinct layers.
    pub fn layers_size(&self) -> u64 {
        self.store.layers_size()
    }
}

fn child_conflict(id: &Digest) -> ImageError {
    ImageError::Conflict(format!("conflict: unable to delete {} (cannot be forced) - image has dependent child images", id.short()))
}

/// Docker's reference filter: a pattern with a tag matches `name:tag`, one without matches the name.
fn reference_matches(pattern: &str, familiar: &str) -> bool {
    let name = familiar.split(['@']).next().unwrap_or(familiar);
    let repo = match name.rfind(':') {
        Some(i) if !name[i..].contains('/') => &name[..i],
        _ => name,
    };
    glob_match(pattern, familiar) || glob_match(pattern, repo) || glob_match(pattern, name)
}

/// Parses an API timestamp: Unix seconds (with optional fraction), RFC 3339, or a Go duration
/// (`10m`, `1h30m`) counted back from now, as dockerd reads `since`/`until`.
pub fn parse_time(s: &str) -> Result<f64, ServiceError> {
    if let Ok(f) = s.parse::<f64>() {
        // `NaN`, `inf` and overflowing exponents parse as floats but are no time.
        return if f.is_finite() { Ok(f) } else { Err(ServiceError::Invalid(format!("invalid timestamp {s:?}"))) };
    }
    if let Some(ns) = berth_api::units::parse_duration_ns(s) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        return Ok(now - ns as f64 / 1e9);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp() as f64 + t.timestamp_subsec_nanos() as f64 / 1e9)
        .map_err(|_| ServiceError::Invalid(format!("invalid timestamp {s:?}")))
}

/// A prune's `until` filter: a time or a duration, refused with dockerd's words.
pub fn parse_until(s: &str) -> Result<f64, ServiceError> {
    parse_time(s).map_err(|_| ServiceError::Invalid(format!("failed to parse value as time or duration: {s:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_filter_matches_like_docker() {
        assert!(reference_matches("busybox", "busybox:latest"));
        assert!(reference_matches("busybox:latest", "busybox:latest"));
        assert!(!reference_matches("busybox:1", "busybox:latest"));
        assert!(reference_matches("busy*", "busybox:latest"));
        assert!(reference_matches("127.0.0.1:5000/app", "127.0.0.1:5000/app:v1"));
        assert!(!reference_matches("app", "user/app:v1"));
    }

    #[test]
    fn timestamps_parse() {
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000.0);
        assert_eq!(parse_time("1700000000.5").unwrap(), 1_700_000_000.5);
        for bad in ["NaN", "inf", "-inf", "1e400"] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
        assert!(parse_time("2023-11-14T22:13:20Z").is_ok());
        assert!(parse_time("yesterday").is_err());
    }
}
