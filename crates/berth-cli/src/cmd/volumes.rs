//! Volume verbs: create, ls, inspect, rm, prune.

use super::images::confirm;
use super::{filters_query, labels_csv, print_deleted, remove_each};
use crate::cli::VolumeCmd;
use crate::render::template::Format;
use crate::render::units::human_size;
use berth_client::Client;
use http::Method;
use serde_json::{json, Value};
use std::process::ExitCode;


/// `berth volume …`.
pub async fn run(c: &Client, cmd: VolumeCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        VolumeCmd::Create { driver, opt, label, name_flag, name } => {
            if name.is_some() && name_flag.is_some() && name != name_flag {
                anyhow::bail!("conflicting options: either specify --name or provide positional arg, not both");
            }
            let body = json!({
                "Name": name.or(name_flag).unwrap_or_default(),
                "Driver": driver,
                "DriverOpts": super::key_values(&opt, "option")?,
                "Labels": super::key_values(&label, "label")?,
            });
            let v: Value = c.post_json("/volumes/create", &[], &body).await?;
            println!("{}", v["Name"].as_str().unwrap_or(""));
        }
        VolumeCmd::Ls { quiet, filter, format } => {
            let list: Value = c.get_json("/volumes", &filters_query(&filter)?).await?;
            let rows: Vec<Value> = list["Volumes"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|v| {
                    json!({"Driver": v["Driver"], "Name": v["Name"], "Mountpoint": v["Mountpoint"], "Scope": v["Scope"], "Labels": labels_csv(&v["Labels"]), "CreatedAt": v["CreatedAt"], "Size": "N/A", "Links": "N/A"})
                })
                .collect();
            let fmt = if quiet { "{{.Name}}".to_string() } else { format.unwrap_or_else(|| "table {{.Driver}}\t{{.Name}}".into()) };
            let header = json!({"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT", "Scope": "SCOPE", "Labels": "LABELS", "CreatedAt": "CREATED", "Size": "SIZE", "Links": "LINKS"});
            print!("{}", Format::parse(&fmt)?.render_rows(&header, &rows)?);
        }
        VolumeCmd::Inspect { format, names } => {
            return super::inspect_each(c, &names, "volume", |n| format!("/volumes/{n}"), format.as_deref()).await;
        }
        VolumeCmd::Rm { force, names } => {
            let q = if force { vec![("force", "1".to_string())] } else { vec![] };
            return remove_each(c, &names, |n| format!("/volumes/{n}"), &q, false).await;
        }
        VolumeCmd::Prune { all, force, filter } => {
            let warning = if all { "WARNING! This will remove all local volumes not used by at least one container." } else { "WARNING! This will remove anonymous local volumes not used by at least one container." };
            if !force && !confirm(&format!("{warning}\nAre you sure you want to continue?")) {
                return Ok(ExitCode::SUCCESS);
            }
            let mut filters = filter;
            if all {
                filters.push("all=true".into());
            }
            let report: Value = c.call_json(Method::POST, "/volumes/prune", &filters_query(&filters)?).await?;
            print_deleted("Deleted Volumes", &report["VolumesDeleted"]);
            println!("Total reclaimed space: {}", human_size(report["SpaceReclaimed"].as_f64().unwrap_or(0.0)));
        }
    }
    Ok(ExitCode::SUCCESS)
}
