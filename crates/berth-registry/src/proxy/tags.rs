//! Tag listing through the cache: as distribution's proxy does, `GET /v2/<name>/tags/list` answers
//! with the upstream's tags (every page of them), and with the tags the cache holds only when the
//! upstream cannot answer.

use super::{Proxy, UpstreamError};
use reqwest::Method;

/// At most this many upstream pages are followed (at its default page size, far more tags than any
/// repository has); a longer chain of `Link`s is an upstream that loops.
const MAX_PAGES: usize = 1000;

#[derive(serde::Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

impl Proxy {
    /// Every tag of `name` upstream, sorted.
    pub(crate) async fn upstream_tags(&self, name: &str) -> Result<Vec<String>, UpstreamError> {
        let mut tags = Vec::new();
        let mut rest = "tags/list".to_string();
        for _ in 0..MAX_PAGES {
            let resp = self.upstream.get(Method::GET, name, &rest, Some("application/json")).await?;
            let next = resp.headers().get("Link").and_then(|v| v.to_str().ok()).and_then(next_page);
            let body = resp.bytes().await.map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
            let list: TagList = serde_json::from_slice(&body).map_err(|e| UpstreamError::Invalid(format!("tag list: {e}")))?;
            tags.extend(list.tags.unwrap_or_default());
            match next {
                Some(n) if n != rest => rest = n,
                _ => break,
            }
        }
        tags.sort();
        tags.dedup();
        Ok(tags)
    }
}

/// The `tags/list?…` part of a `Link: </v2/<name>/tags/list?n=…&last=…>; rel="next"` header.
fn next_page(link: &str) -> Option<String> {
    let (target, params) = link.split_once('>')?;
    if !params.contains("rel=\"next\"") && !params.contains("rel=next") {
        return None;
    }
    let target = target.trim().strip_prefix('<')?;
    let at = target.find("/tags/list")?;
    Some(target[at + 1..].to_string())
}

#[cfg(test)]
mod tests {
    use super::next_page;

    #[test]
    fn next_page_takes_the_query_of_a_next_link() {
        assert_eq!(next_page(r#"</v2/lib/a/tags/list?n=2&last=b>; rel="next""#).as_deref(), Some("tags/list?n=2&last=b"));
        assert_eq!(next_page(r#"<https://r.example/v2/a/tags/list?last=x>; rel="next""#).as_deref(), Some("tags/list?last=x"));
        assert_eq!(next_page(r#"</v2/a/tags/list?last=x>; rel="prev""#), None);
        assert_eq!(next_page("garbage"), None);
    }
}
