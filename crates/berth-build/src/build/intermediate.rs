//! The image after each step, as dockerd's classic builder prints it (` ---> <id>`) and keeps it
//! (untagged, the parent of the next step's, shown by `images -a`, removed with the image built on
//! it). Berth's rule that a failed build registers nothing holds: a step's image id is known when
//! the step ends (the digest of its config), and the images are registered only once the whole
//! build succeeded, parents first. A step whose cache key already names a registered image reuses
//! it, so a cached rebuild prints the same ids as dockerd's cache does.

use super::dispatch::State;
use super::Builder;
use crate::BuildError;
use berth_image::LayerRecord;
use berth_types::Digest;
use std::path::PathBuf;

/// An intermediate image waiting for the build to succeed.
pub(crate) struct PendingImage {
    /// The step's cache key, recorded against the id once registered.
    key: Digest,
    config: Vec<u8>,
    layers: Vec<LayerRecord>,
    parent: Option<Digest>,
}

impl Builder<'_> {
    /// The id of the image after the step that left `st`, child of `parent`.
    /// The image an earlier build made for this state, if it is still in the store.
    pub(crate) fn cached_step_image(&self, st: &State) -> Option<Digest> {
        if self.opts.no_cache {
            return None;
        }
        let known = self.cache.lock().unwrap_or_else(|e| e.into_inner()).image(&st.key).cloned();
        known.filter(|id| self.store.by_id(id).is_some() && self.opts.cache_from.as_ref().is_none_or(|allowed| allowed.contains(id)))
    }

    pub(crate) fn step_image(&self, st: &State, parent: Option<&Digest>) -> Result<Digest, BuildError> {
        if let Some(id) = self.cached_step_image(st) {
            return Ok(id);
        }
        let mut config = st.config.clone();
        config.created = Some(self.created());
        let bytes = serde_json::to_vec(&config)
            .map_err(|e| BuildError::Io { op: "encode image config", path: PathBuf::new(), source: std::io::Error::other(e) })?;
        let id = Digest::of(&bytes);
        let pending = PendingImage { key: st.key.clone(), config: bytes, layers: st.layers.clone(), parent: parent.cloned() };
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).push(pending);
        Ok(id)
    }

    /// Registers the steps' images of a build that succeeded (in step order, so parents come first).
    pub(crate) fn register_steps(&self) -> Result<(), BuildError> {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        for p in pending {
            let (id, _) = self.store.register(&p.config, p.layers, p.parent)?;
            cache.put_image(&p.key, id)?;
        }
        Ok(())
    }
}
