//! Docker Engine API wire types (layer 0).
//!
//! The JSON shapes the stock `docker` CLI, Compose and the Docker SDKs send and expect, following
//! moby's `api/swagger.yaml`. Field names are Docker's (PascalCase); nothing here performs I/O.

pub mod config;
pub mod container;
pub mod image;
pub mod mount;
pub mod network;
pub mod progress;
pub mod system;
pub mod units;
pub mod version;
pub mod volume;

use serde::{Deserialize, Serialize};

/// The body of every error response: `{"message": "…"}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Human-readable reason, printed by the docker CLI after `Error response from daemon: `.
    pub message: String,
}

/// For `skip_serializing_if`: an absent or empty map (Go's `omitempty` on a map).
pub fn none_or_empty_map<K, V>(m: &Option<std::collections::BTreeMap<K, V>>) -> bool {
    m.as_ref().is_none_or(|m| m.is_empty())
}

/// Deserialises `null` as the type's default: docker-py and other SDKs send `null` for fields the
/// Engine API documents as strings, booleans or numbers.
pub fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
