//! One module per group of verbs. Each verb talks to the daemon through [`berth_client`] and
//! renders what it gets back as the docker CLI would.

pub mod build;
pub mod containers;
pub mod cp;
pub mod daemon;
pub mod images;
pub mod networks;
pub mod registry;
pub mod registry_client;
pub mod system;
pub mod volumes;

use berth_client::{Client, ClientError, DEFAULT_HOST};

/// The client for `-H`, else `BERTH_HOST` (clap reads it into `-H`), else the default socket.
pub fn client(host: Option<&str>) -> anyhow::Result<Client> {
    Ok(Client::new(host.unwrap_or(DEFAULT_HOST))?)
}

/// The one line printed for a failed command.
pub fn describe(e: &anyhow::Error) -> String {
    if let Some(c) = e.downcast_ref::<ClientError>() {
        return c.to_string();
    }
    format!("berth: {e:#}")
}

/// An error and its sources joined with `: `, skipping sources already in the message.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s = format!("{s}: {t}");
        }
        cur = c.source();
    }
    s
}

/// Pretty JSON with 4-space indentation, as `docker inspect` prints it.
pub fn pretty_json(v: &serde_json::Value) -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    let _ = serde::Serialize::serialize(v, &mut ser);
    String::from_utf8(out).unwrap_or_default()
}

/// Builds a `filters` JSON parameter from `key=value` flags.
pub fn filters_param(flags: &[String]) -> anyhow::Result<String> {
    let mut map: std::collections::BTreeMap<String, std::collections::BTreeMap<String, bool>> = Default::default();
    for f in flags {
        let (k, v) = f.split_once('=').ok_or_else(|| anyhow::anyhow!("bad format of filter (expected name=value)"))?;
        map.entry(k.trim().to_lowercase()).or_default().insert(v.to_string(), true);
    }
    Ok(serde_json::to_string(&map)?)
}
