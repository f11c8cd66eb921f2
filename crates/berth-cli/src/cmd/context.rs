//! `berth context …` over the docker CLI's context store (see [`berth_client::context`]): what
//! either CLI creates, the other lists, inspects, uses and removes. Output and messages are the
//! docker CLI's.

use crate::cli::{ContextCmd, ContextCreateArgs, ContextLsArgs, ContextUpdateArgs};
use crate::render::{table::align, template::Format};
use anyhow::bail;
use berth_client::context::{check_name, ContextError, Endpoint, Endpoints, Meta, Metadata, Selection, Store, DEFAULT, DEFAULT_DESCRIPTION};
use berth_client::Host;
use serde_json::{json, Map, Value};
use std::process::ExitCode;

pub fn run(sel: &Selection, cmd: ContextCmd) -> anyhow::Result<ExitCode> {
    let store = Store::from_env();
    match cmd {
        ContextCmd::Create(a) => create(sel, &store, a),
        ContextCmd::Update(a) => update(&store, a),
        ContextCmd::Ls(a) => ls(sel, &store, a),
        ContextCmd::Use { name } => use_context(&store, &name),
        ContextCmd::Inspect { format, names } => inspect(sel, &store, names, format.as_deref()),
        ContextCmd::Rm { force, names } => rm(sel, &store, &names, force),
        ContextCmd::Show => {
            println!("{}", sel.context_name(&store)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A context by name, `default` included (made from `-H`/`BERTH_HOST`, never stored).
fn lookup(sel: &Selection, store: &Store, name: &str) -> Result<Meta, ContextError> {
    if name == DEFAULT {
        return Ok(Meta {
            name: DEFAULT.into(),
            metadata: Metadata { description: DEFAULT_DESCRIPTION.into(), ..Default::default() },
            endpoints: Endpoints { docker: Some(Endpoint { host: sel.default_host(), ..Default::default() }), ..Default::default() },
        });
    }
    store.get(name)
}

/// `--docker host=…,skip-tls-verify=…` applied to `ep`. TLS files wait for the TLS transport:
/// refused rather than stored and ignored.
fn apply_docker_flag(sel: &Selection, store: &Store, flag: &str, ep: &mut Endpoint) -> anyhow::Result<()> {
    for kv in flag.split(',').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').ok_or_else(|| anyhow::anyhow!("invalid --docker value {kv:?}: expected KEY=VALUE"))?;
        match k {
            "host" => {
                Host::parse(v).map_err(|e| anyhow::anyhow!("{e}"))?;
                ep.host = v.to_string();
            }
            "skip-tls-verify" => ep.skip_tls_verify = v.parse().map_err(|_| anyhow::anyhow!("invalid skip-tls-verify value {v:?}: expected true or false"))?,
            "from" => *ep = lookup(sel, store, v)?.endpoints.docker.unwrap_or_default(),
            "ca" | "cert" | "key" => bail!("--docker {k}=…: TLS endpoints are not supported by this client yet"),
            _ => bail!("unrecognized config key: {k}"),
        }
    }
    Ok(())
}

fn create(sel: &Selection, store: &Store, a: ContextCreateArgs) -> anyhow::Result<ExitCode> {
    check_name(&a.name)?;
    if store.exists(&a.name) {
        return Err(ContextError::Exists(a.name).into());
    }
    // As the docker CLI: from --from, else (without --docker) from the current context.
    let mut meta = match (&a.from, &a.docker) {
        (Some(from), _) => lookup(sel, store, from)?,
        (None, None) => lookup(sel, store, &sel.context_name(store)?)?,
        (None, Some(_)) => Meta { name: String::new(), metadata: Metadata::default(), endpoints: Endpoints { docker: Some(Endpoint::default()), ..Default::default() } },
    };
    meta.name = a.name.clone();
    if let Some(d) = &a.docker {
        let ep = meta.endpoints.docker.get_or_insert_with(Endpoint::default);
        apply_docker_flag(sel, store, d, ep)?;
    }
    if let Some(d) = a.description {
        meta.metadata.description = d;
    }
    store.save(&meta)?;
    println!("{}", a.name);
    eprintln!("Successfully created context {:?}", a.name);
    Ok(ExitCode::SUCCESS)
}

fn update(store: &Store, a: ContextUpdateArgs) -> anyhow::Result<ExitCode> {
    check_name(&a.name)?;
    let mut meta = store.get(&a.name)?;
    if let Some(d) = &a.docker {
        let ep = meta.endpoints.docker.get_or_insert_with(Endpoint::default);
        apply_docker_flag(&Selection::default(), store, d, ep)?;
    }
    if let Some(d) = a.description {
        meta.metadata.description = d;
    }
    store.save(&meta)?;
    println!("{}", a.name);
    eprintln!("Successfully updated context {:?}", a.name);
    Ok(ExitCode::SUCCESS)
}

fn ls(sel: &Selection, store: &Store, a: ContextLsArgs) -> anyhow::Result<ExitCode> {
    let current = sel.context_name(store)?;
    let mut all = store.list()?;
    all.push(lookup(sel, store, DEFAULT)?);
    all.sort_by(|x, y| x.name.cmp(&y.name));
    let rows: Vec<Value> = all
        .iter()
        .map(|m| json!({"Name": m.name, "Current": m.name == current, "Description": m.metadata.description, "DockerEndpoint": m.host(), "Error": ""}))
        .collect();
    if a.quiet {
        for m in &all {
            println!("{}", m.name);
        }
    } else if let Some(f) = a.format.as_deref().filter(|f| *f != "table") {
        let header = json!({"Name": "NAME", "Current": false, "Description": "DESCRIPTION", "DockerEndpoint": "DOCKER ENDPOINT", "Error": "ERROR"});
        print!("{}", Format::parse(f)?.render_rows(&header, &rows)?);
    } else {
        let mut text = "NAME\tDESCRIPTION\tDOCKER ENDPOINT\tERROR\n".to_string();
        for m in &all {
            let star = if m.name == current { " *" } else { "" };
            text.push_str(&format!("{}{star}\t{}\t{}\t\n", m.name, m.metadata.description, m.host()));
        }
        print!("{}", align(&text));
    }
    Ok(ExitCode::SUCCESS)
}

fn use_context(store: &Store, name: &str) -> anyhow::Result<ExitCode> {
    if name != DEFAULT {
        store.get(name)?;
    }
    store.set_current(name)?;
    println!("{name}");
    eprintln!("Current context is now {name:?}");
    if std::env::var_os("BERTH_HOST").is_some_and(|v| !v.is_empty()) {
        let what = if name == DEFAULT { "a context".to_string() } else { format!("{name:?}") };
        eprintln!("Warning: BERTH_HOST environment variable overrides the active context. To use {what}, either set the global --context flag, or unset BERTH_HOST environment variable.");
    }
    Ok(ExitCode::SUCCESS)
}

fn inspect(sel: &Selection, store: &Store, mut names: Vec<String>, format: Option<&str>) -> anyhow::Result<ExitCode> {
    if names.is_empty() {
        names.push(sel.context_name(store)?);
    }
    let mut found = Vec::new();
    let mut failed = false;
    for n in &names {
        match lookup(sel, store, n) {
            Ok(m) => {
                let (meta_path, tls_path) = if m.name == DEFAULT {
                    ("<IN MEMORY>".to_string(), "<IN MEMORY>".to_string())
                } else {
                    (store.meta_dir(n).display().to_string(), store.tls_dir(n).display().to_string())
                };
                found.push(Inspected { meta: m, tls_material: Map::new(), storage: Storage { metadata_path: meta_path, tls_path } });
            }
            Err(e @ ContextError::NotFound { .. }) => {
                eprintln!("berth: {e}");
                failed = true;
            }
            Err(e) => return Err(e.into()),
        }
    }
    match format {
        Some(_) => super::print_inspect(&found.iter().map(serde_json::to_value).collect::<Result<Vec<_>, _>>()?, format)?,
        // In the docker CLI's field order (a JSON value would sort the keys).
        None => {
            let mut out = Vec::new();
            let mut ser = serde_json::Serializer::with_formatter(&mut out, serde_json::ser::PrettyFormatter::with_indent(b"    "));
            serde::Serialize::serialize(&found, &mut ser)?;
            println!("{}", String::from_utf8_lossy(&out));
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// One `context inspect` entry: the metadata, then docker's TLS and storage fields.
#[derive(serde::Serialize)]
struct Inspected {
    #[serde(flatten)]
    meta: Meta,
    #[serde(rename = "TLSMaterial")]
    tls_material: Map<String, Value>,
    #[serde(rename = "Storage")]
    storage: Storage,
}

#[derive(serde::Serialize)]
struct Storage {
    #[serde(rename = "MetadataPath")]
    metadata_path: String,
    #[serde(rename = "TLSPath")]
    tls_path: String,
}

fn rm(sel: &Selection, store: &Store, names: &[String], force: bool) -> anyhow::Result<ExitCode> {
    let current = sel.context_name(store)?;
    let mut failed = false;
    for n in names {
        let result = if n == DEFAULT {
            Err(ContextError::Reserved)
        } else if *n == current && !force {
            Err(ContextError::InUse(n.clone()))
        } else {
            store.remove(n)
        };
        match result {
            Ok(()) => {
                // The removed context was the current one: back to the default, as the docker CLI.
                if store.current()?.as_deref() == Some(n.as_str()) {
                    store.set_current(DEFAULT)?;
                }
                println!("{n}");
            }
            Err(e) => {
                eprintln!("berth: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
