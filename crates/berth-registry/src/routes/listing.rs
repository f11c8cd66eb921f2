//! `GET /v2/<name>/tags/list`, `GET /v2/_catalog` (with `n`/`last` pagination and `Link`), and
//! `GET /v2/<name>/referrers/<digest>` (OCI 1.1, `artifactType` filter).

use super::blobs::parse_digest;
use super::{header, json_response, Query};
use crate::errors::ApiError;
use crate::manifest::OCI_INDEX;
use crate::service::Registry;
use axum::response::Response;
use http::StatusCode;

fn page_size(q: &Query) -> Option<usize> {
    q.get("n").and_then(|n| n.parse().ok())
}

fn link(resp: &mut Response, path: &str, n: Option<usize>, items: &[String], more: bool) {
    if let (true, Some(n), Some(last)) = (more, n, items.last()) {
        header(resp, "Link", format!("<{path}?n={n}&last={last}>; rel=\"next\""));
    }
}

pub(super) async fn tags(reg: &Registry, name: &str, q: &Query) -> Result<Response, ApiError> {
    let n = page_size(q);
    let (tags, more) = reg.tags(name, n, q.get("last")).await?;
    // Serialised from the list itself (a `json!` value would copy every tag first).
    #[derive(serde::Serialize)]
    struct TagList<'a> {
        name: &'a str,
        tags: &'a [String],
    }
    let mut resp = json_response(StatusCode::OK, &TagList { name, tags: &tags });
    link(&mut resp, &format!("/v2/{name}/tags/list"), n, &tags, more);
    Ok(resp)
}

pub(super) async fn catalog(reg: &Registry, q: &Query) -> Result<Response, ApiError> {
    let n = page_size(q);
    let (repos, more) = reg.catalog(n, q.get("last")).await?;
    #[derive(serde::Serialize)]
    struct Catalog<'a> {
        repositories: &'a [String],
    }
    let mut resp = json_response(StatusCode::OK, &Catalog { repositories: &repos });
    link(&mut resp, "/v2/_catalog", Some(n.unwrap_or(repos.len().max(1))), &repos, more);
    Ok(resp)
}

/// `GET /v1/search?q=TERM&n=LIMIT`: Docker Hub's search API over this registry's catalog, so
/// `docker search HOST/TERM` works against it: every repository whose name contains the term (no
/// stars, descriptions or official images here), at most `n` (default 25, as Hub's).
pub(super) async fn search(reg: &Registry, q: &Query) -> Result<Response, ApiError> {
    #[derive(serde::Serialize)]
    struct Hit<'a> {
        name: &'a str,
        description: &'a str,
        star_count: u64,
        is_official: bool,
        is_automated: bool,
    }
    #[derive(serde::Serialize)]
    struct Results<'a> {
        num_results: usize,
        query: &'a str,
        results: Vec<Hit<'a>>,
    }
    let term = q.get("q").unwrap_or("");
    let limit = page_size(q).unwrap_or(25);
    let (repos, _) = reg.catalog(Some(usize::MAX), None).await?;
    let lower = term.to_ascii_lowercase();
    let hits: Vec<&String> = repos.iter().filter(|r| r.contains(&lower)).collect();
    let results = hits.iter().take(limit).map(|name| Hit { name: name.as_str(), description: "", star_count: 0, is_official: false, is_automated: false }).collect();
    Ok(json_response(StatusCode::OK, &Results { num_results: hits.len(), query: term, results }))
}

pub(super) async fn referrers(reg: &Registry, name: &str, d: &str, q: &Query) -> Result<Response, ApiError> {
    let subject = parse_digest(d)?;
    let filter = q.get("artifactType").filter(|t| !t.is_empty());
    let manifests = reg.referrers(name, &subject, filter).await?;
    let index = serde_json::json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
    let mut resp = json_response(StatusCode::OK, &index);
    header(&mut resp, "Content-Type", OCI_INDEX);
    if filter.is_some() {
        header(&mut resp, "OCI-Filters-Applied", "artifactType");
    }
    Ok(resp)
}
