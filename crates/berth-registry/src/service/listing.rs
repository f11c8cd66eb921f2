//! Listings: tags of a repository, the catalog of repositories, referrers of a manifest.

use super::Registry;
use crate::errors::{ApiError, ErrorCode, StorageError};
use crate::manifest::Descriptor;
use crate::storage::{paths, Driver, StorageDriver};
use berth_types::Digest;
use futures_util::{StreamExt, TryStreamExt};

/// Default page size of `GET /v2/_catalog` without `n` (distribution's).
const CATALOG_DEFAULT_PAGE: usize = 100;

/// A page of a sorted list: the entries after `last`, at most `n`, and whether more follow.
fn page(all: Vec<String>, n: Option<usize>, last: Option<&str>) -> (Vec<String>, bool) {
    let mut rest: Vec<String> = match last {
        Some(l) => all.into_iter().filter(|x| x.as_str() > l).collect(),
        None => all,
    };
    match n {
        Some(n) if rest.len() > n => {
            rest.truncate(n);
            (rest, true)
        }
        _ => (rest, false),
    }
}

/// What makes a directory a repository in the catalog: content (a manifest or a blob link).
pub(crate) const WITH_CONTENT: &[&str] = &["_manifests", "_layers"];
/// What makes a directory a repository to the garbage collector: content, or only uploads (an upload
/// abandoned before anything else was pushed must still expire).
pub(crate) const WITH_CONTENT_OR_UPLOADS: &[&str] = &["_manifests", "_layers", "_uploads"];

/// Every repository name under the store, sorted: a directory holding one of `markers` (see
/// [`WITH_CONTENT`]); names nest, so `a` and `a/b` can both be repositories.
///
/// The filesystem is walked in one blocking call (`FsDriver::find_repositories`): a blocking-pool hop
/// per directory cost more than reading it (a catalog of 400 repositories took 6 ms, 2 ms in one walk).
pub(crate) async fn walk_repositories(d: &Driver, markers: &[&str]) -> Result<Vec<String>, StorageError> {
    if let Driver::Fs(fs) = d {
        return fs.find_repositories(paths::REPOSITORIES, markers).await;
    }
    let mut found = Vec::new();
    let mut level = vec![String::new()];
    // Breadth first, listing the directories of a level concurrently: each list is a blocking-pool
    // hop on the filesystem driver, and one after another they made the catalog slower than
    // distribution's.
    while !level.is_empty() {
        let listed: Vec<(String, Option<Vec<String>>)> = futures_util::stream::iter(level)
            .map(|prefix| async move {
                let dir = if prefix.is_empty() { paths::REPOSITORIES.to_string() } else { paths::repo(&prefix) };
                match d.list(&dir).await {
                    Ok(c) => Ok((prefix, Some(c))),
                    Err(e) if e.is_not_found() => Ok((prefix, None)),
                    Err(e) => Err(e),
                }
            })
            .buffer_unordered(WALK_CONCURRENCY)
            .try_collect()
            .await?;
        level = Vec::new();
        for (prefix, children) in listed {
            let Some(children) = children else { continue };
            if !prefix.is_empty() && children.iter().any(|c| markers.contains(&c.as_str())) {
                found.push(prefix.clone());
            }
            for c in children.into_iter().filter(|c| !c.starts_with('_')) {
                level.push(if prefix.is_empty() { c } else { format!("{prefix}/{c}") });
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Directories listed at once while walking repositories.
const WALK_CONCURRENCY: usize = 16;

impl Registry {
    pub(crate) async fn all_tags(&self, name: &str) -> Result<Vec<String>, ApiError> {
        match self.driver.list(&paths::tags(name)).await {
            Ok(t) => Ok(t),
            Err(e) if e.is_not_found() => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// A page of the tags of `name`, and whether more follow; `NAME_UNKNOWN` if the repository does
    /// not exist.
    ///
    /// A pull-through cache lists the upstream's tags, its own only when the upstream cannot answer.
    pub async fn tags(&self, name: &str, n: Option<usize>, last: Option<&str>) -> Result<(Vec<String>, bool), ApiError> {
        if let Some(p) = &self.proxy {
            match p.upstream_tags(name).await {
                Ok(tags) => return Ok(page(tags, n, last)),
                Err(e) => tracing::debug!(repository = name, error = %e, "upstream tag list failed; listing cached tags"),
            }
        }
        // The listing first: one storage call when the repository has tags (each is a blocking-pool
        // hop on the filesystem, and under CPU contention every hop waits for a thread to run).
        match self.driver.list(&paths::tags(name)).await {
            Ok(tags) => return Ok(page(tags, n, last)),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        if !self.repo_exists(name).await {
            return Err(ApiError::new(ErrorCode::NameUnknown, "repository name not known to registry")
                .with_detail(serde_json::json!({ "name": name })));
        }
        Ok(page(Vec::new(), n, last))
    }

    /// A page of repository names, and whether more follow.
    pub async fn catalog(&self, n: Option<usize>, last: Option<&str>) -> Result<(Vec<String>, bool), ApiError> {
        let all = walk_repositories(&self.driver, WITH_CONTENT).await?;
        Ok(page(all, Some(n.unwrap_or(CATALOG_DEFAULT_PAGE)), last))
    }

    /// Descriptors of the manifests in `name` whose subject is `subject`, optionally only those of
    /// `artifact_type` (OCI 1.1 § listing referrers). Unknown subjects have no referrers.
    pub async fn referrers(
        &self,
        name: &str,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, ApiError> {
        let dir = paths::referrers(name, subject);
        let entries = match self.driver.list(&dir).await {
            Ok(e) => e,
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for hex in entries {
            let Some(d) = paths::referrer_digest(&hex) else { continue };
            let bytes = match self.driver.get_content(&paths::referrer(name, subject, &d)).await {
                Ok(b) => b,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            };
            let Ok(desc) = serde_json::from_slice::<Descriptor>(&bytes) else { continue };
            if artifact_type.is_none_or(|t| desc.artifact_type.as_deref() == Some(t)) {
                out.push(desc);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn page_honours_n_and_last() {
        let all = v(&["a", "b", "c", "d"]);
        assert_eq!(page(all.clone(), Some(2), None), (v(&["a", "b"]), true));
        assert_eq!(page(all.clone(), Some(2), Some("b")), (v(&["c", "d"]), false));
        assert_eq!(page(all.clone(), None, Some("c")), (v(&["d"]), false));
        assert_eq!(page(all, Some(0), None), (v(&[]), true));
    }
}
