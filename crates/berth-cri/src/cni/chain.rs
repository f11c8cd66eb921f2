//! Running a network configuration list as libcni does (spec section 4, "Plugin Delegation" and
//! "Network configuration list runtime"): `ADD` runs the plugins in order, each given the previous
//! one's result as `prevResult`; `CHECK` runs them in order and `DEL` in reverse, each given the
//! result of the `ADD`. Every plugin's configuration gets the list's `name` and `cniVersion`, and
//! a `runtimeConfig` holding those of the runtime's capability arguments (`portMappings`, `dns`,
//! `bandwidth`) that the plugin declares in its `capabilities`, and no others.

use super::conf::{version_at_least, NetworkList};
use super::exec::{invoke, Invocation, Op};
use super::CniError;
use serde_json::{Map, Value};

/// The configuration plugin `plugin` of `list` is run with.
pub fn plugin_config(list: &NetworkList, plugin: &Map<String, Value>, prev: Option<&Value>, capability_args: &Map<String, Value>) -> Value {
    let mut conf = plugin.clone();
    conf.insert("name".into(), Value::String(list.name().to_string()));
    conf.insert("cniVersion".into(), Value::String(list.version().to_string()));
    if let Some(p) = prev {
        conf.insert("prevResult".into(), p.clone());
    }
    let declared = plugin.get("capabilities").and_then(Value::as_object);
    let mut rc = Map::new();
    for (cap, value) in capability_args {
        if declared.and_then(|d| d.get(cap)).and_then(Value::as_bool) == Some(true) {
            rc.insert(cap.clone(), value.clone());
        }
    }
    if !rc.is_empty() {
        // A runtimeConfig written in the file is the runtime's to fill (libcni replaces it).
        conf.insert("runtimeConfig".into(), Value::Object(rc));
    }
    Value::Object(conf)
}

/// `ADD` through the list; the last plugin's result. `progress` sees each plugin's result as it
/// comes: a `DEL` after a chain that failed (or a daemon that died) half-way needs the addresses
/// the plugins before the failing one gave (the firewall plugin finds its rules by them), and
/// fails the `ADD` if it cannot keep them.
pub fn add(list: &NetworkList, inv: &Invocation<'_>, capability_args: &Map<String, Value>, progress: &mut dyn FnMut(&Value) -> Result<(), CniError>) -> Result<Value, CniError> {
    debug_assert_eq!(inv.op, Op::Add);
    let mut prev: Option<Value> = None;
    for plugin in list.plugins() {
        let kind = plugin.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
        let conf = plugin_config(list, &plugin, prev.as_ref(), capability_args);
        let out = invoke(inv, &kind, conf.to_string().as_bytes())?;
        let result: Value = serde_json::from_slice(&out).map_err(|e| CniError::BadResult { plugin: kind.clone(), command: "ADD", reason: e.to_string() })?;
        if !result.is_object() {
            return Err(CniError::BadResult { plugin: kind, command: "ADD", reason: "not a JSON object".into() });
        }
        progress(&result)?;
        prev = Some(result);
    }
    Ok(prev.unwrap_or(Value::Null))
}

/// `CHECK` through the list (nothing when the list disables it or predates it).
pub fn check(list: &NetworkList, inv: &Invocation<'_>, capability_args: &Map<String, Value>, result: &Value) -> Result<(), CniError> {
    debug_assert_eq!(inv.op, Op::Check);
    if !list.check_enabled() {
        return Ok(());
    }
    for plugin in list.plugins() {
        let kind = plugin.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
        let conf = plugin_config(list, &plugin, Some(result), capability_args);
        invoke(inv, &kind, conf.to_string().as_bytes())?;
    }
    Ok(())
}

/// `DEL` through the list in reverse. `result` is the `ADD`'s (None when the `ADD` never
/// finished); it is passed as `prevResult` from 0.4.0 on, as the spec says. The first failure
/// stops it (as libcni does): the caller keeps the attachment and tries again later, and every
/// plugin must tolerate a repeated `DEL`.
pub fn del(list: &NetworkList, inv: &Invocation<'_>, capability_args: &Map<String, Value>, result: Option<&Value>) -> Result<(), CniError> {
    debug_assert_eq!(inv.op, Op::Del);
    let prev = result.filter(|r| r.is_object() && version_at_least(list.version(), (0, 4, 0)));
    for plugin in list.plugins().iter().rev() {
        let kind = plugin.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
        let conf = plugin_config(list, plugin, prev, capability_args);
        invoke(inv, &kind, conf.to_string().as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    /// A plugin that logs its command and stdin to `log` and answers with a result naming itself
    /// (chained after its prevResult's addresses).
    fn recorder(dir: &Path, name: &str, log: &Path) {
        use std::os::unix::fs::PermissionsExt;
        let script = format!(
            "#!/bin/sh\nin=$(cat)\nprintf '%s %s %s\\n' \"$CNI_COMMAND\" {name} \"$in\" >> {log}\n\
             [ \"$CNI_COMMAND\" = ADD ] && printf '{{\"cniVersion\":\"1.0.0\",\"interfaces\":[{{\"name\":\"eth0\",\"sandbox\":\"%s\"}}],\"ips\":[{{\"address\":\"10.0.0.%s/24\",\"interface\":0}}],\"dns\":{{}}}}' \"$CNI_NETNS\" {n}\nexit 0\n",
            log = log.display(),
            n = name.len()
        );
        let p = dir.join(name);
        std::fs::write(&p, script).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn add_chains_results_del_reverses_and_capabilities_go_where_declared() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("log");
        recorder(d.path(), "first", &log);
        recorder(d.path(), "second", &log);
        let list = NetworkList::from_value(
            Path::new("x.conflist"),
            json!({"cniVersion": "1.0.0", "name": "pods", "plugins": [
                {"type": "first", "bridge": "cni9"},
                {"type": "second", "capabilities": {"portMappings": true, "bandwidth": false}, "runtimeConfig": {"stale": 1}},
            ]}),
        )
        .unwrap();
        let dirs: Vec<PathBuf> = vec![d.path().to_path_buf()];
        let args = vec![("K8S_POD_NAME".to_string(), "p".to_string())];
        let caps: Map<String, Value> = json!({"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}], "bandwidth": {"ingressRate": 1}})
            .as_object()
            .unwrap()
            .clone();
        let inv = |op| Invocation { op, container_id: "sb", netns: Path::new("/run/netns/p"), ifname: "eth0", args: &args, path: &dirs, timeout: Duration::from_secs(10) };
        let mut seen = vec![];
        let result = add(&list, &inv(Op::Add), &caps, &mut |r| {
            seen.push(r["ips"][0]["address"].clone());
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, [json!("10.0.0.5/24"), json!("10.0.0.6/24")], "each plugin's result as it comes");
        assert_eq!(result["ips"][0]["address"], "10.0.0.6/24", "the last plugin's result");
        check(&list, &inv(Op::Check), &caps, &result).unwrap();
        del(&list, &inv(Op::Del), &caps, Some(&result)).unwrap();
        let lines: Vec<(String, String, Value)> = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .map(|l| {
                let mut f = l.splitn(3, ' ');
                (f.next().unwrap().into(), f.next().unwrap().into(), serde_json::from_str(f.next().unwrap()).unwrap())
            })
            .collect();
        let order: Vec<String> = lines.iter().map(|(c, p, _)| format!("{c} {p}")).collect();
        assert_eq!(order, ["ADD first", "ADD second", "CHECK first", "CHECK second", "DEL second", "DEL first"]);
        let (_, _, first_add) = &lines[0];
        assert_eq!((first_add["name"].as_str(), first_add["cniVersion"].as_str(), first_add["bridge"].as_str()), (Some("pods"), Some("1.0.0"), Some("cni9")));
        assert!(first_add.get("prevResult").is_none() && first_add.get("runtimeConfig").is_none(), "{first_add}");
        let (_, _, second_add) = &lines[1];
        assert_eq!(second_add["prevResult"]["ips"][0]["address"], "10.0.0.5/24", "chained from the first");
        assert_eq!(second_add["runtimeConfig"], json!({"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]}), "only declared capabilities");
        for (cmd, _, conf) in &lines[2..] {
            assert_eq!(conf["prevResult"], result, "{cmd} gets the ADD's result");
        }
    }
}
