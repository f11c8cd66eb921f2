//! One module per group of verbs. Each verb talks to the daemon through [`berth_client`] and
//! renders what it gets back as the docker CLI would.

pub mod build;
pub mod containers;
pub mod context;
pub mod cp;
pub mod docs;
pub mod daemon;
pub mod daemon_config;
pub mod dial_stdio;
pub mod images;
pub mod networks;
pub mod registry;
pub mod registry_client;
pub mod rootless;
pub mod signals;
pub mod system;
pub mod tls;
pub mod volumes;

use berth_client::context::{Selection, Store};
use berth_client::{Client, ClientError};

/// The client for the daemon that `-H`, `--context`, `BERTH_HOST`/`DOCKER_HOST`,
/// `BERTH_CONTEXT`/`DOCKER_CONTEXT` and the current context select, with the docker CLI's precedence
/// (see [`Selection::context_name`]). The default context's `tcp://` host is reached over TLS as the
/// TLS flags and environment say; a stored context's as its endpoint says (`skip-tls-verify=true`:
/// TLS without verifying the daemon, as the docker CLI).
pub fn client(sel: &Selection, tls: &crate::cli::TlsFlags) -> anyhow::Result<Client> {
    let store = Store::from_env();
    let (name, host) = sel.resolve(&store)?;
    let tls = if name == berth_client::context::DEFAULT {
        tls::client_tls(tls)
    } else {
        let skip = store.get(&name)?.endpoints.docker.is_some_and(|e| e.skip_tls_verify);
        skip.then(berth_client::ClientTls::default)
    };
    Ok(Client::with_tls(&host, tls.as_ref())?)
}

/// The one line printed for a failed command, in docker's style: the daemon's errors as
/// `Error response from daemon: …` (and connection failures as docker words them), the client's
/// own as `berth: …`.
pub fn describe(e: &anyhow::Error) -> String {
    if let Some(c) = e.downcast_ref::<ClientError>() {
        return c.to_string();
    }
    format!("berth: {e:#}")
}

pub use berth_client::error_chain;

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

/// `inspect` of one kind of object: each name fetched from `path(name)`, printed as a JSON array or
/// through `--format`; a missing one is reported as `Error: No such {what}: NAME` (exit 1).
pub async fn inspect_each(
    c: &Client,
    names: &[String],
    what: &str,
    path: impl Fn(&str) -> String,
    format: Option<&str>,
) -> anyhow::Result<std::process::ExitCode> {
    let mut found = Vec::new();
    let mut failed = false;
    for n in names {
        match c.get_json::<serde_json::Value>(&path(n), &[]).await {
            Ok(v) => found.push(v),
            Err(ClientError::Api { status: http::StatusCode::NOT_FOUND, .. }) => {
                eprintln!("Error: No such {what}: {n}");
                failed = true;
            }
            Err(e) => return Err(e.into()),
        }
    }
    print_inspect(&found, format)?;
    Ok(if failed { std::process::ExitCode::FAILURE } else { std::process::ExitCode::SUCCESS })
}

/// Prints inspect results: a JSON array, or each through a Go template.
pub fn print_inspect(found: &[serde_json::Value], format: Option<&str>) -> anyhow::Result<()> {
    match format {
        Some(f) => {
            let t = crate::render::template::Format::parse(f)?;
            for v in found {
                println!("{}", t.render(v)?);
            }
        }
        None => println!("{}", pretty_json(&serde_json::Value::Array(found.to_vec()))),
    }
    Ok(())
}

/// `KEY=VALUE` flags (`--opt`, `--label`) as a JSON object; a bare label is `KEY=""`.
pub fn key_values(list: &[String], what: &str) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let mut m = serde_json::Map::new();
    for item in list {
        match item.split_once('=') {
            Some((k, v)) => m.insert(k.to_string(), serde_json::json!(v)),
            None if what == "label" => m.insert(item.clone(), serde_json::json!("")),
            None => anyhow::bail!("invalid {what} {item:?}: expected KEY=VALUE"),
        };
    }
    Ok(m)
}

/// The `filters` query parameter for `--filter` flags, or no parameter at all without any.
pub fn filters_query(flags: &[String]) -> anyhow::Result<Vec<(&'static str, String)>> {
    Ok(if flags.is_empty() { vec![] } else { vec![("filters", filters_param(flags)?)] })
}

/// `TITLE:`, one id a line and a blank line, for a prune report's non-empty list (as the docker CLI).
pub fn print_deleted(title: &str, items: &serde_json::Value) {
    if let Some(items) = items.as_array().filter(|i| !i.is_empty()) {
        println!("{title}:");
        for i in items {
            println!("{}", i.as_str().unwrap_or(""));
        }
        println!();
    }
}

/// Labels as `k=v,k=v` (the `Labels` column of `ls` tables).
pub fn labels_csv(labels: &serde_json::Value) -> String {
    labels.as_object().map(|l| l.iter().map(|(k, x)| format!("{k}={}", x.as_str().unwrap_or(""))).collect::<Vec<_>>().join(",")).unwrap_or_default()
}

/// `DELETE path(name)` for each name, printing the names removed and one line per failure
/// (a missing object is no failure with `ignore_missing`); exit 1 if any failed.
pub async fn remove_each(
    c: &Client,
    names: &[String],
    path: impl Fn(&str) -> String,
    query: &[(&str, String)],
    ignore_missing: bool,
) -> anyhow::Result<std::process::ExitCode> {
    let mut failed = false;
    for n in names {
        match c.request(http::Method::DELETE, &path(n), query, berth_client::empty(), &[]).await {
            Ok(_) => println!("{n}"),
            Err(ClientError::Api { status: http::StatusCode::NOT_FOUND, .. }) if ignore_missing => {}
            Err(e) => {
                eprintln!("{}", describe(&e.into()));
                failed = true;
            }
        }
    }
    Ok(if failed { std::process::ExitCode::FAILURE } else { std::process::ExitCode::SUCCESS })
}

/// The `Deleted Images:` part of a prune report (`untagged:`/`deleted:` lines).
pub fn print_deleted_images(report: &serde_json::Value) {
    if let Some(items) = report["ImagesDeleted"].as_array().filter(|i| !i.is_empty()) {
        println!("Deleted Images:");
        for i in items {
            if let Some(u) = i["Untagged"].as_str() {
                println!("untagged: {u}");
            }
            if let Some(d) = i["Deleted"].as_str() {
                println!("deleted: {d}");
            }
        }
        println!();
    }
}
