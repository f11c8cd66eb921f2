//! Questions to a registry that fetch no image: what a reference resolves to and for which
//! platforms (`GET /distribution/{name}/json`), and Docker's v1 search API (`GET /images/search`).

use crate::auth::Credentials;
use crate::manifest::{Document, Platform};
use crate::pull::{fetch_manifest, fetch_small_blob, manifest_target};
use crate::session::Session;
use crate::{Client, DistributionError};
use berth_types::Reference;
use serde::{Deserialize, Serialize};

/// What a reference resolves to in its registry, as dockerd's distribution inspect answers it.
#[derive(Debug, Clone, Serialize)]
pub struct DistributionInspect {
    /// The manifest (or index) the reference names: media type, digest and size.
    #[serde(rename = "Descriptor")]
    pub descriptor: serde_json::Value,
    /// The platforms it offers: an index's entries, or a single manifest's config.
    #[serde(rename = "Platforms")]
    pub platforms: Vec<Platform>,
}

/// One result of Docker's v1 search API (the fields dockerd passes on).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchResult {
    /// Stars on Docker Hub.
    #[serde(default)]
    pub star_count: u64,
    /// An official image.
    #[serde(default)]
    pub is_official: bool,
    /// The repository name.
    pub name: String,
    /// Built automatically (deprecated by Docker Hub).
    #[serde(default)]
    pub is_automated: bool,
    /// Its description.
    #[serde(default)]
    pub description: String,
}

#[derive(Deserialize)]
struct SearchResults {
    #[serde(default)]
    results: Vec<SearchResult>,
}

impl Client {
    /// Resolves `reference` without pulling it: its descriptor and platforms.
    pub async fn inspect(&self, reference: &Reference, creds: Option<Credentials>) -> Result<DistributionInspect, DistributionError> {
        let reference = reference.clone().with_default_tag();
        let repo = reference.path().to_string();
        let target = manifest_target(&reference);
        let s = Session::open(&self.inner, reference.domain(), vec![format!("repository:{repo}:pull")], creds, true).await?;
        let (digest, content_type, body) = fetch_manifest(&s, &reference, &target).await?;
        let platforms = match Document::parse(&content_type, &body)? {
            Document::Index(idx) => idx.manifests.iter().filter_map(|m| m.platform.clone()).collect(),
            Document::Image(m) => {
                let config: serde_json::Value = serde_json::from_slice(&fetch_small_blob(&s, &repo, &m.config).await?).unwrap_or_default();
                let field = |k: &str| config.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
                let variant = Some(field("variant")).filter(|v| !v.is_empty());
                vec![Platform { architecture: field("architecture"), os: field("os"), variant }]
            }
        };
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        let descriptor = serde_json::json!({"mediaType": media_type, "digest": digest.to_string(), "size": body.len()});
        Ok(DistributionInspect { descriptor, platforms })
    }

    /// Docker's v1 search API of `registry` (`GET /v1/search?q=&n=`): Docker Hub's index for
    /// `docker.io`, or a registry that offers it (as `berth registry` does over its catalog).
    pub async fn search(&self, registry: &str, term: &str, limit: usize, creds: Option<Credentials>) -> Result<Vec<SearchResult>, DistributionError> {
        let s = Session::open(&self.inner, registry, vec!["registry:catalog:*".to_string()], creds, true).await?;
        let mut url = s.endpoint.base.clone();
        if registry == berth_types::reference::DEFAULT_DOMAIN {
            let _ = url.set_host(Some("index.docker.io"));
        }
        url.set_path("/v1/search");
        url.query_pairs_mut().append_pair("q", term).append_pair("n", &limit.to_string());
        let resp = s.send_ok(reqwest::Method::GET, &url, |r| r).await?;
        let body = resp.bytes().await.map_err(|e| DistributionError::Unreachable { url: url.to_string(), reason: crate::describe_transport(&e) })?;
        let parsed: SearchResults = serde_json::from_slice(&body).map_err(|e| DistributionError::BadDocument { what: "search results", reason: e.to_string() })?;
        Ok(parsed.results)
    }
}
