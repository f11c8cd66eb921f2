//! Manifests (OCI § pulling and pushing manifests): validated before storage, stored as blobs with a
//! revision link carrying the media type, tags pointing at digests, referrers indexed by subject.

use super::Registry;
use crate::errors::{ApiError, ErrorCode};
use crate::manifest::{self, Descriptor, Manifest};
use crate::names;
use crate::storage::{paths, StorageDriver, Write};
use berth_types::Digest;
use bytes::Bytes;

/// A manifest reference: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestRef {
    /// A tag, validated.
    Tag(String),
    /// A digest.
    Digest(Digest),
}

impl ManifestRef {
    /// Parses the `<reference>` path component: a digest if it contains `:`, else a tag.
    pub fn parse(s: &str) -> Result<ManifestRef, ApiError> {
        if s.contains(':') {
            s.parse()
                .map(ManifestRef::Digest)
                .map_err(|e| ApiError::new(ErrorCode::DigestInvalid, format!("invalid digest: {e}")))
        } else if names::valid_tag(s) {
            Ok(ManifestRef::Tag(s.to_string()))
        } else {
            Err(ApiError::new(ErrorCode::TagInvalid, "invalid tag").with_detail(serde_json::json!({ "tag": s })))
        }
    }
}

/// A manifest as stored.
#[derive(Debug, Clone)]
pub struct StoredManifest {
    /// Its digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its exact bytes.
    pub body: Bytes,
}

fn manifest_unknown(r: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::ManifestUnknown, "manifest unknown")
        .with_detail(serde_json::json!({ "reference": r.to_string() }))
}

impl Registry {
    /// The digest tag `tag` of `name` points at.
    pub(crate) async fn resolve_tag(&self, name: &str, tag: &str) -> Result<Digest, ApiError> {
        match self.driver.get_content(&paths::tag(name, tag)).await {
            Ok(b) => std::str::from_utf8(&b)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .ok_or_else(|| ApiError::new(ErrorCode::Unknown, "corrupt tag file")),
            Err(e) if e.is_not_found() => Err(manifest_unknown(tag)),
            Err(e) => Err(e.into()),
        }
    }

    /// The manifest `r` of repository `name`, or `MANIFEST_UNKNOWN`.
    /// A pull-through cache first fetches it, or refreshes the tag, from the upstream.
    pub async fn manifest_get(&self, name: &str, r: &ManifestRef) -> Result<StoredManifest, ApiError> {
        if let Some(p) = &self.proxy {
            p.refresh_manifest(self, name, r).await?;
        }
        let digest = match r {
            ManifestRef::Tag(t) => self.resolve_tag(name, t).await?,
            ManifestRef::Digest(d) => d.clone(),
        };
        let media_type = match self.driver.get_content(&paths::revision_link(name, &digest)).await {
            Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
            Err(e) if e.is_not_found() => return Err(manifest_unknown(&digest)),
            Err(e) => return Err(e.into()),
        };
        let body = match self.driver.get_content(&paths::blob_data(&digest)).await {
            Ok(b) => b,
            Err(e) if e.is_not_found() => return Err(manifest_unknown(&digest)),
            Err(e) => return Err(e.into()),
        };
        Ok(StoredManifest { digest, media_type, body })
    }

    /// Validates and stores a manifest under `r`, moving the tag if `r` is one. Returns its digest and
    /// subject (for the `OCI-Subject` header).
    pub async fn manifest_put(
        &self,
        name: &str,
        r: &ManifestRef,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<(Digest, Option<Digest>), ApiError> {
        let m = manifest::parse(&body, content_type)?;
        // Pushed by digest, the manifest is named by that digest's algorithm (sha512 stays sha512);
        // by tag, by its sha256 as distribution does.
        let alg = match r {
            ManifestRef::Digest(d) => d.alg(),
            ManifestRef::Tag(_) => berth_types::Algorithm::Sha256,
        };
        let digest = Digest::of_with(alg, &body);
        if let ManifestRef::Digest(d) = r {
            if d != &digest {
                return Err(ApiError::new(ErrorCode::DigestInvalid, "manifest digest does not match its content")
                    .with_detail(serde_json::json!({ "expected": d, "actual": digest })));
            }
        }
        // Held from validation to the last link, so an online sweep cannot remove what was just checked.
        let _gc = self.gc.lock.read().await;
        let referenced: Vec<Digest> = m.config.iter().chain(&m.layers).chain(&m.manifests).map(|d| d.digest.clone()).collect();
        self.mark_all_used(m.config.iter().chain(&m.layers).chain(&m.manifests).filter(|d| d.must_exist()).map(|d| &d.digest))
            .await?;
        self.check_references(name, &m).await?;
        // Two groups of writes (see `StorageDriver::apply`): the manifest's bytes, its revision link and
        // referrer entry, durable before the tag names it, so a crash never leaves a tag to nothing.
        let mut stored = vec![
            Write::Put(paths::blob_data(&digest), body.clone()),
            Write::Put(paths::revision_link(name, &digest), Bytes::from(m.media_type.clone())),
        ];
        let subject = m.subject.as_ref().map(|s| s.digest.clone());
        if let Some(s) = &subject {
            let desc = Descriptor {
                media_type: m.media_type.clone(),
                digest: digest.clone(),
                size: body.len() as u64,
                urls: Vec::new(),
                artifact_type: m.artifact_type.clone(),
                annotations: m.annotations.clone(),
                platform: None,
            };
            let json = serde_json::to_vec(&desc).map_err(|_| ApiError::new(ErrorCode::Unknown, "encode"))?;
            stored.push(Write::Put(paths::referrer(name, s, &digest), Bytes::from(json)));
        }
        let mut groups = vec![stored];
        if let ManifestRef::Tag(t) = r {
            groups.push(vec![Write::Put(paths::tag(name, t), Bytes::from(digest.to_string()))]);
        }
        self.driver.apply(groups).await?;
        self.gc.touch(referenced.into_iter().chain([digest.clone()]));
        Ok((digest, subject))
    }

    async fn check_references(&self, name: &str, m: &Manifest) -> Result<(), ApiError> {
        for d in m.config.iter().chain(&m.layers).filter(|d| d.must_exist()) {
            match self.linked_size(name, &d.digest).await? {
                None => return Err(blob_unknown_in_manifest(&d.digest)),
                Some(size) if size != d.size => {
                    return Err(ApiError::new(ErrorCode::ManifestInvalid, "descriptor size does not match blob")
                        .with_detail(serde_json::json!({ "digest": d.digest, "size": d.size, "actual": size })));
                }
                Some(_) => {}
            }
        }
        for d in &m.manifests {
            match self.driver.stat(&paths::revision_link(name, &d.digest)).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => return Err(blob_unknown_in_manifest(&d.digest)),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Deletes a tag, or a manifest by digest together with the tags pointing at it and its referrer
    /// entry (OCI § deleting tags / manifests).
    pub async fn manifest_delete(&self, name: &str, r: &ManifestRef) -> Result<(), ApiError> {
        let d = match r {
            ManifestRef::Tag(t) => {
                return match self.driver.delete(&paths::tag(name, t)).await {
                    Ok(()) => Ok(()),
                    Err(e) if e.is_not_found() => Err(manifest_unknown(t)),
                    Err(e) => Err(e.into()),
                };
            }
            ManifestRef::Digest(d) => d,
        };
        let stored = self.manifest_get(name, r).await?;
        match self.driver.delete(&paths::revision_link(name, d)).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => return Err(manifest_unknown(d)),
            Err(e) => return Err(e.into()),
        }
        for tag in self.all_tags(name).await? {
            if self.resolve_tag(name, &tag).await.ok().as_ref() == Some(d) {
                if let Err(e) = self.driver.delete(&paths::tag(name, &tag)).await {
                    if !e.is_not_found() {
                        return Err(e.into());
                    }
                }
            }
        }
        if let Some(s) = manifest::subject_of(&stored.body) {
            if let Err(e) = self.driver.delete(&paths::referrer(name, &s, d)).await {
                if !e.is_not_found() {
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }
}

fn blob_unknown_in_manifest(d: &Digest) -> ApiError {
    ApiError::new(ErrorCode::ManifestBlobUnknown, "manifest references a blob unknown to this repository")
        .with_detail(serde_json::json!({ "digest": d }))
}
