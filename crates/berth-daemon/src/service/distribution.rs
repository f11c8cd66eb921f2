//! Pull, push and login: the daemon as a registry client (through `berth-distribution`), with
//! Docker's JSON progress messages and image events.

use super::ServiceError;
use crate::events::EventBus;
use berth_api::progress::{JsonMessage, ProgressDetail};
use berth_distribution::{Client, ClientOptions, Credentials, Progress};
use berth_image::ImageStore;
use berth_types::Reference;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Registry settings of the daemon.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// `--insecure-registry HOST:PORT` (plain HTTP allowed).
    pub insecure: Vec<String>,
    /// `--registry-mirror URL` for docker.io.
    pub mirrors: Vec<String>,
    /// Docker's `certs.d` layout (`HOST:PORT/ca.crt`, `client.cert`, `client.key`); None: `/etc/berth/certs.d`.
    pub certs_dir: Option<std::path::PathBuf>,
}

/// The daemon's registry client.
pub struct DistributionService {
    client: Client,
    store: Arc<ImageStore>,
    events: Arc<EventBus>,
    leases: Arc<super::gc::lease::Leases>,
    /// Pulls in flight, shared by the clients asking for the same image.
    pulls: Arc<super::pulls::Pulls>,
}

impl From<berth_distribution::DistributionError> for ServiceError {
    fn from(e: berth_distribution::DistributionError) -> Self {
        use berth_types::error::HasKind;
        match e.kind() {
            berth_types::ErrorKind::NotFound => ServiceError::NotFound(e.to_string()),
            berth_types::ErrorKind::InvalidArgument => ServiceError::Invalid(e.to_string()),
            berth_types::ErrorKind::Forbidden => ServiceError::Unauthorized(e.to_string()),
            _ => ServiceError::Upstream(e.to_string()),
        }
    }
}

/// Turns a progress event into the JSON messages Docker's clients render. A push's digest is two
/// messages, as dockerd sends it: the status line clients print, and the `aux` record they parse
/// (clients do not print messages that carry `aux`).
pub fn messages(p: &Progress) -> Vec<JsonMessage> {
    let mut m = JsonMessage::status(p.status());
    m.id = p.id().map(str::to_string);
    if let Some((current, total)) = p.detail() {
        m.progress_detail = Some(ProgressDetail { current: Some(current as i64), total: Some(total as i64) });
    }
    let mut out = vec![m];
    if let Progress::PushDigest { tag, digest, size } = p {
        out.push(JsonMessage {
            progress_detail: Some(ProgressDetail::default()),
            aux: Some(serde_json::json!({"Tag": tag, "Digest": digest.to_string(), "Size": size})),
            ..Default::default()
        });
    }
    out
}

impl DistributionService {
    /// A client keeping its state under `root`.
    pub fn new(root: &Path, store: Arc<ImageStore>, events: Arc<EventBus>, opts: &RegistryOptions, leases: Arc<super::gc::lease::Leases>) -> Result<Self, ServiceError> {
        let mut o = ClientOptions::new(root.join("distribution"));
        o.insecure_registries = opts.insecure.clone();
        o.mirrors = opts.mirrors.clone();
        if let Some(d) = &opts.certs_dir {
            o.certs_dir = d.clone();
        }
        let client = Client::new(o).map_err(|e| ServiceError::Internal(format!("registry client: {e}")))?;
        Ok(DistributionService { client, store, events, leases, pulls: Default::default() })
    }

    /// The size the blob index records for the compressed blob `digest`, if it knows it.
    pub fn compressed_size(&self, digest: &berth_types::Digest) -> Option<u64> {
        self.client.blob_index().compressed_size(digest)
    }

    /// The compressed blobs kept for the layer `diff_id` (gzip forms `push` made): while the layer
    /// is kept, so are they.
    pub fn compressed_forms(&self, diff_id: &berth_types::Digest) -> Vec<berth_types::Digest> {
        self.client.blob_index().blobs(diff_id).into_iter().map(|b| b.digest).collect()
    }

    /// Takes on reloaded insecure registries and mirrors.
    pub fn set_registries(&self, s: &crate::settings::LiveSettings) {
        self.client.set_registries(s.insecure_registries.clone(), s.registry_mirrors.clone());
    }

    /// Pulls `reference`, streaming progress into `tx`: joins the same pull in flight if there is
    /// one ([`super::pulls`]). Dropping the future leaves the pull, which stops if no other client
    /// waits for it.
    pub async fn pull(&self, reference: &Reference, platform: Option<&str>, creds: Option<Credentials>, tx: mpsc::UnboundedSender<JsonMessage>) -> Result<(), ServiceError> {
        use super::pulls::{Joined, PullKey};
        let key = PullKey { reference: reference.to_string(), platform: platform.map(str::to_string), creds: creds.clone() };
        let watch = match self.pulls.join(key, tx) {
            Joined::Joined(w) => w,
            Joined::Started(flight, cancel, w) => {
                let (client, store, leases, pulls) = (self.client.clone(), self.store.clone(), self.leases.clone(), self.pulls.clone());
                let (reference, platform) = (reference.clone(), platform.map(str::to_string));
                let handle = tokio::runtime::Handle::current();
                // The registry client's futures are not all `Send`: a blocking-pool thread drives
                // the pull, apart from any one client's request.
                berth_types::sched::spawn_blocking(move || {
                    let _lease = leases.acquire("pull");
                    let f = flight.clone();
                    let r = handle.block_on(async move {
                        let progress = move |p: Progress| messages(&p).into_iter().for_each(|m| f.broadcast(m));
                        tokio::select! {
                            r = client.pull(store, &reference, platform.as_deref(), creds, progress) => r.map(|res| {
                                tracing::info!(image.id = %res.id, reference = %reference, "image pulled");
                            }).map_err(ServiceError::from),
                            _ = cancel => Err(ServiceError::Invalid("the pull was cancelled: every client waiting for it went away".into())),
                        }
                    });
                    pulls.forget(&flight);
                    flight.finish(r);
                });
                w
            }
        };
        watch.outcome().await?;
        self.events.publish("image", "pull", &reference.familiar(), BTreeMap::from([("name".to_string(), reference.familiar())]));
        Ok(())
    }

    /// Pushes `reference`, streaming progress into `tx`.
    pub async fn push(&self, reference: &Reference, creds: Option<Credentials>, tx: mpsc::UnboundedSender<JsonMessage>) -> Result<(), ServiceError> {
        let _lease = self.leases.acquire("push");
        let res = self
            .client
            .push(self.store.clone(), reference, creds, move |p| {
                for m in messages(&p) {
                let _ = tx.send(m);
            }
            })
            .await?;
        self.events.publish("image", "push", &reference.familiar(), BTreeMap::from([("name".to_string(), reference.familiar())]));
        tracing::info!(digest = %res.digest, reference = %reference, "image pushed");
        Ok(())
    }

    /// `GET /distribution/{name}/json`: what `reference` resolves to in its registry, and for which
    /// platforms, without pulling it.
    pub async fn inspect(&self, reference: &Reference, creds: Option<Credentials>) -> Result<berth_distribution::DistributionInspect, ServiceError> {
        Ok(self.client.inspect(reference, creds).await?)
    }

    /// `GET /images/search`: Docker's v1 search API of the registry the term names (`HOST/TERM`,
    /// dockerd's `splitReposSearchTerm`), Docker Hub's index otherwise.
    pub async fn search(&self, term: &str, limit: usize, creds: Option<Credentials>) -> Result<Vec<berth_distribution::SearchResult>, ServiceError> {
        let (registry, query) = match term.split_once('/') {
            Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => (host, rest),
            _ => (berth_types::reference::DEFAULT_DOMAIN, term),
        };
        Ok(self.client.search(registry, query, limit, creds).await?)
    }

    /// Checks credentials against a registry.
    pub async fn login(&self, server: &str, creds: &Credentials) -> Result<(), ServiceError> {
        Ok(self.client.login(server, creds).await?)
    }
}

/// Decodes Docker's `X-Registry-Auth` header (base64url JSON `{"username","password",…}`).
pub fn decode_auth(header: &str) -> Option<Credentials> {
    use base64::Engine;
    let h = header.trim();
    if h.is_empty() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(h)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(h.trim_end_matches('=')))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(h))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let user = v["username"].as_str().unwrap_or("").to_string();
    let pass = v["password"].as_str().unwrap_or("").to_string();
    let token = v["identitytoken"].as_str().unwrap_or("").to_string();
    if !token.is_empty() {
        return Some(Credentials::new("<token>", token));
    }
    (!user.is_empty()).then(|| Credentials::new(user, pass))
}
