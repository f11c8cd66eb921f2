//! Berth's registry client: what the daemon uses to pull, push and log in.
//!
//! - [`Client::pull`] resolves a reference to a manifest (through an index when the tag names one),
//!   downloads layers in parallel and unpacks them into the image store *while they stream*, each
//!   verified against its compressed digest and its diff id before anything is committed.
//! - [`Client::push`] uploads an image's layers (reusing, mounting or compressing them once) and its
//!   config, then puts a Docker schema 2 manifest.
//! - [`Client::login`] checks credentials; [`config`] keeps them in Docker's `config.json`.
//!
//! Modules: `transport` (endpoints, TLS, insecure registries, mirrors), `auth` (challenges, tokens),
//! `session` (one repository conversation), `manifest`, `pull`, `push`, `stream` (the verifying
//! reader between the download and the layer ingester), [`blob_index`] (what compressed blobs
//! belong to which layer, persisted), [`config`].

pub mod auth;
pub mod blob_index;
pub mod config;
mod error;
mod inspect;
pub mod manifest;
mod progress;
mod pull;
mod push;
mod session;
pub mod stats;
mod stream;
mod transport;

pub use auth::Credentials;
pub use error::{describe_transport, DistributionError};
pub use inspect::{DistributionInspect, SearchResult};
pub use progress::Progress;
pub use pull::PullResult;
pub use push::PushResult;

use auth::TokenCache;
use blob_index::BlobIndex;
use reqwest::{Method, StatusCode};
use std::path::PathBuf;
use std::sync::Arc;
use transport::Transport;

/// How the client reaches registries and where it keeps its state.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Registries (`HOST:PORT`, or CIDRs of their addresses) reached over plain HTTP or unverified
    /// TLS (`--insecure-registry`). Loopback registries are always insecure.
    pub insecure_registries: Vec<String>,
    /// Mirrors for `docker.io` (`--registry-mirror`), as URLs or `HOST:PORT`.
    pub mirrors: Vec<String>,
    /// Docker's `certs.d` directory (`/etc/berth/certs.d`).
    pub certs_dir: PathBuf,
    /// Directory for the client's own state (the blob index), e.g. `<data-root>/distribution`.
    pub root: PathBuf,
    /// Layers downloaded (pull) or uploaded (push) at once; Docker's default is 3 and 5.
    pub max_concurrent: usize,
}

impl ClientOptions {
    /// Defaults: no insecure registries or mirrors, `/etc/berth/certs.d`, 3 parallel transfers.
    pub fn new(root: impl Into<PathBuf>) -> ClientOptions {
        ClientOptions {
            insecure_registries: Vec::new(),
            mirrors: Vec::new(),
            certs_dir: PathBuf::from("/etc/berth/certs.d"),
            root: root.into(),
            max_concurrent: 3,
        }
    }
}

pub(crate) struct ClientInner {
    transport: Transport,
    tokens: TokenCache,
    index: BlobIndex,
    max_concurrent: usize,
}

/// The registry client. Cheap to clone; share one per daemon so tokens and connections are reused.
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

impl Client {
    /// Builds a client; reads the blob index under `options.root` (creating the directory).
    pub fn new(options: ClientOptions) -> Result<Client, DistributionError> {
        std::fs::create_dir_all(&options.root).map_err(|source| DistributionError::Io {
            op: "create",
            path: options.root.clone(),
            source,
        })?;
        Ok(Client {
            inner: Arc::new(ClientInner {
                transport: Transport::new(
                    options.insecure_registries,
                    options.mirrors,
                    options.certs_dir,
                ),
                tokens: TokenCache::default(),
                index: BlobIndex::open(&options.root)?,
                max_concurrent: options.max_concurrent.max(1),
            }),
        })
    }

    /// Replaces the insecure registries and mirrors ([`ClientOptions`]), as a daemon's
    /// configuration reload does; connections already made are kept.
    pub fn set_registries(&self, insecure: Vec<String>, mirrors: Vec<String>) {
        self.inner.transport.set_registries(insecure, mirrors);
    }

    /// The persisted index of compressed layer blobs.
    pub fn blob_index(&self) -> &BlobIndex {
        &self.inner.index
    }

    /// Checks `creds` against `registry` (`HOST[:PORT]`, `docker.io`, or a URL as `docker login`
    /// accepts): `GET /v2/`, then basic auth or the token flow as the registry's challenge asks.
    /// A registry that asks for no credentials accepts any, as with Docker.
    pub async fn login(
        &self,
        registry: &str,
        creds: &Credentials,
    ) -> Result<(), DistributionError> {
        let host = normalize_registry(registry);
        let s = session::Session::open(&self.inner, &host, Vec::new(), Some(creds.clone()), false)
            .await?;
        let url = s.url("");
        // `open` authorized already (token fetched with these credentials, or basic header set);
        // a 401 here means the registry refused them.
        let resp = s.send(Method::GET, &url, |r| r).await?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED => Err(DistributionError::Unauthorized(
                "incorrect username or password".into(),
            )),
            _ => Err(session::error_from_response(resp).await),
        }
    }
}

/// `https://index.docker.io/v1/`, `registry-1.docker.io`, `http://h:5000/` → `docker.io`, `h:5000`.
pub fn normalize_registry(registry: &str) -> String {
    let r = registry.trim();
    let r = r.split_once("://").map(|(_, rest)| rest).unwrap_or(r);
    let host = r.split('/').next().unwrap_or(r);
    match host {
        ""
        | "index.docker.io"
        | "registry-1.docker.io"
        | "docker.io"
        | "registry.hub.docker.com" => "docker.io".into(),
        h => h.to_string(),
    }
}
