//! Network verbs: create, ls, inspect, rm, prune, connect, disconnect.

use super::images::confirm;
use super::system::short_id;
use super::{filters_query, labels_csv, print_deleted, remove_each};
use crate::cli::NetworkCmd;
use crate::render::template::Format;
use berth_client::Client;
use http::Method;
use serde_json::{json, Map, Value};
use std::process::ExitCode;

/// `berth network …`.
pub async fn run(c: &Client, cmd: NetworkCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        NetworkCmd::Create { driver, subnet, gateway, ip_range, internal, attachable, opt, label, ipv6, name } => {
            if gateway.len() > subnet.len() || ip_range.len() > subnet.len() {
                anyhow::bail!("every --gateway and --ip-range needs a --subnet");
            }
            // A gateway or range goes with the subnet of its family in the same position (the
            // k-th IPv6 gateway with the k-th IPv6 subnet), so `--subnet V4 --subnet V6
            // --gateway V6GW` pairs as the docker CLI pairs it.
            let family_index = |list: &[String], i: usize| list[..i].iter().filter(|x| x.contains(':') == list[i].contains(':')).count();
            let pick = |list: &[String], s: usize| -> Option<String> {
                let (v6, k) = (subnet[s].contains(':'), family_index(&subnet, s));
                list.iter().enumerate().find(|(j, x)| x.contains(':') == v6 && family_index(list, *j) == k).map(|(_, x)| x.clone())
            };
            let config: Vec<Value> = (0..subnet.len())
                .map(|i| {
                    let mut c = json!({"Subnet": subnet[i]});
                    if let Some(g) = pick(&gateway, i) {
                        c["Gateway"] = json!(g);
                    }
                    if let Some(r) = pick(&ip_range, i) {
                        c["IPRange"] = json!(r);
                    }
                    c
                })
                .collect();
            let body = json!({
                "Name": name, "Driver": driver, "Internal": internal, "Attachable": attachable, "EnableIPv6": ipv6,
                "IPAM": {"Driver": "default", "Config": config, "Options": {}},
                "Options": super::key_values(&opt, "option")?, "Labels": super::key_values(&label, "label")?,
            });
            let v: Value = c.post_json("/networks/create", &[], &body).await?;
            println!("{}", v["Id"].as_str().unwrap_or(""));
        }
        NetworkCmd::Ls { quiet, no_trunc, filter, format } => {
            let list: Vec<Value> = c.get_json("/networks", &filters_query(&filter)?).await?;
            let rows: Vec<Value> = list
                .iter()
                .map(|n| {
                    let id = n["Id"].as_str().unwrap_or("");
                    json!({"ID": if no_trunc { id.to_string() } else { short_id(id) }, "Name": n["Name"], "Driver": n["Driver"], "Scope": n["Scope"],
                        "IPv6": n["EnableIPv6"].as_bool().unwrap_or(false).to_string(), "Internal": n["Internal"].as_bool().unwrap_or(false).to_string(),
                        "Labels": labels_csv(&n["Labels"]), "CreatedAt": n["Created"]})
                })
                .collect();
            let fmt = if quiet { "{{.ID}}".to_string() } else { format.unwrap_or_else(|| "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}".into()) };
            let header = json!({"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED"});
            print!("{}", Format::parse(&fmt)?.render_rows(&header, &rows)?);
        }
        NetworkCmd::Inspect { format, names } => {
            return super::inspect_each(c, &names, "network", |n| format!("/networks/{n}"), format.as_deref()).await;
        }
        NetworkCmd::Rm { force, names } => return remove_each(c, &names, |n| format!("/networks/{n}"), &[], force).await,
        NetworkCmd::Prune { force, filter } => {
            if !force && !confirm("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?") {
                return Ok(ExitCode::SUCCESS);
            }
            let report: Value = c.call_json(Method::POST, "/networks/prune", &filters_query(&filter)?).await?;
            print_deleted("Deleted Networks", &report["NetworksDeleted"]);
        }
        NetworkCmd::Connect { alias, ip, ip6, link_local_ip, link, network, container } => {
            let mut ep = Map::new();
            if !alias.is_empty() {
                ep.insert("Aliases".into(), json!(alias));
            }
            if ip.is_some() || ip6.is_some() || !link_local_ip.is_empty() {
                let mut ipam = Map::new();
                if let Some(ip) = ip {
                    ipam.insert("IPv4Address".into(), json!(ip));
                }
                if let Some(ip6) = ip6 {
                    ipam.insert("IPv6Address".into(), json!(ip6));
                }
                if !link_local_ip.is_empty() {
                    ipam.insert("LinkLocalIPs".into(), json!(link_local_ip));
                }
                ep.insert("IPAMConfig".into(), Value::Object(ipam));
            }
            if !link.is_empty() {
                ep.insert("Links".into(), json!(link));
            }
            let body = json!({"Container": container, "EndpointConfig": ep});
            let _: Value = c.post_json(&format!("/networks/{network}/connect"), &[], &body).await?;
        }
        NetworkCmd::Disconnect { force, network, container } => {
            let body = json!({"Container": container, "Force": force});
            let _: Value = c.post_json(&format!("/networks/{network}/disconnect"), &[], &body).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
