//! `-p`/`--expose` and `--mount` flags, parsed as the docker CLI parses them.

#[allow(unused_imports)]
use super::*;

/// `HostConfig.PortBindings`: `"80/tcp"` → `[{"HostIp", "HostPort"}]`.
pub type PortBindings = BTreeMap<String, Vec<Value>>;

/// `-p` and `--expose` flags → (exposed port keys, `PortBindings`), as the docker CLI expands them:
/// `[IP:][HOSTPORT:]CONTAINERPORT[/PROTO]` with ranges on both sides.
pub fn parse_ports(publish: &[String], expose: &[String]) -> anyhow::Result<(Vec<String>, PortBindings)> {
    fn range(s: &str, what: &str) -> anyhow::Result<(u16, u16)> {
        let bad = || anyhow::anyhow!("invalid {what}: {s}");
        match s.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.parse::<u16>().map_err(|_| bad())?, b.parse::<u16>().map_err(|_| bad())?);
                if a > b {
                    return Err(bad());
                }
                Ok((a, b))
            }
            None => {
                let p = s.parse::<u16>().map_err(|_| bad())?;
                Ok((p, p))
            }
        }
    }
    let mut exposed = vec![];
    let mut bindings: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for e in expose {
        let (ports, proto) = e.split_once('/').unwrap_or((e, "tcp"));
        let (lo, hi) = range(ports, "range format for --expose")?;
        for p in lo..=hi {
            exposed.push(format!("{p}/{proto}"));
        }
    }
    for spec in publish {
        let (rest, proto) = match spec.rsplit_once('/') {
            Some((r, p)) if ["tcp", "udp", "sctp"].contains(&p) => (r, p),
            Some(_) => anyhow::bail!("invalid proto: {spec}"),
            None => (spec.as_str(), "tcp"),
        };
        // IPv6 host addresses come in brackets: [::1]:8080:80.
        let (ip, rest) = if let Some(r) = rest.strip_prefix('[') {
            let (ip, r) = r.split_once(']').ok_or_else(|| anyhow::anyhow!("invalid IP address in {spec}"))?;
            (ip.to_string(), r.trim_start_matches(':').to_string())
        } else {
            (String::new(), rest.to_string())
        };
        let parts: Vec<&str> = rest.split(':').collect();
        let (ip, host, ctr) = match parts.as_slice() {
            [c] => (ip, "", *c),
            [h, c] if ip.is_empty() => (String::new(), *h, *c),
            [h, c] => (ip, *h, *c),
            [i, h, c] => (i.to_string(), *h, *c),
            _ => anyhow::bail!("invalid port format for --publish: {spec}"),
        };
        if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
            anyhow::bail!("invalid IP address: {ip}");
        }
        let (clo, chi) = range(ctr, "containerPort")?;
        let hrange = if host.is_empty() { None } else { Some(range(host, "hostPort")?) };
        if let Some((hlo, hhi)) = hrange {
            if hhi - hlo != chi - clo && (clo != chi) {
                anyhow::bail!("invalid ranges specified for container and host Ports: {ctr} and {host}");
            }
        }
        for (i, cp) in (clo..=chi).enumerate() {
            let key = format!("{cp}/{proto}");
            let host_port = match hrange {
                None => String::new(),
                // One container port with a host range: any free port of the range.
                Some((hlo, hhi)) if clo == chi && hlo != hhi => format!("{hlo}-{hhi}"),
                Some((hlo, _)) => (hlo + i as u16).to_string(),
            };
            if !exposed.contains(&key) {
                exposed.push(key.clone());
            }
            bindings.entry(key).or_default().push(json!({"HostIp": ip, "HostPort": host_port}));
        }
    }
    Ok((exposed, bindings))
}

/// One `--mount` flag (CSV `key=value` fields, as the docker CLI reads them) as an API `Mount`.
pub fn parse_mount(spec: &str) -> anyhow::Result<Value> {
    let mut m = serde_json::Map::new();
    let mut bind = serde_json::Map::new();
    let mut vol = serde_json::Map::new();
    let mut driver = serde_json::Map::new();
    let mut driver_opts = serde_json::Map::new();
    let mut vol_labels = serde_json::Map::new();
    let mut tmpfs = serde_json::Map::new();
    let truthy = |v: Option<&str>, key: &str| -> anyhow::Result<bool> {
        match v.map(str::to_ascii_lowercase).as_deref() {
            None | Some("true") | Some("1") => Ok(true),
            Some("false") | Some("0") => Ok(false),
            Some(x) => anyhow::bail!("invalid value for {key}: {x}"),
        }
    };
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let val = || v.map(str::to_string).ok_or_else(|| anyhow::anyhow!("invalid field '{field}' must be a key=value pair"));
        match k.as_str() {
            "type" => {
                m.insert("Type".into(), json!(val()?));
            }
            "source" | "src" => {
                m.insert("Source".into(), json!(val()?));
            }
            "target" | "destination" | "dst" => {
                m.insert("Target".into(), json!(val()?));
            }
            "readonly" | "ro" => {
                m.insert("ReadOnly".into(), json!(truthy(v, &k)?));
            }
            "consistency" => {
                m.insert("Consistency".into(), json!(val()?));
            }
            "bind-propagation" => {
                bind.insert("Propagation".into(), json!(val()?));
            }
            "bind-nonrecursive" => {
                bind.insert("NonRecursive".into(), json!(truthy(v, &k)?));
            }
            "bind-create-src" => {
                bind.insert("CreateMountpoint".into(), json!(truthy(v, &k)?));
            }
            "volume-nocopy" => {
                vol.insert("NoCopy".into(), json!(truthy(v, &k)?));
            }
            "volume-subpath" => {
                vol.insert("Subpath".into(), json!(val()?));
            }
            "volume-driver" => {
                driver.insert("Name".into(), json!(val()?));
            }
            "volume-opt" => {
                let (ok, ov) = val()?.split_once('=').map(|(a, b)| (a.to_string(), b.to_string())).ok_or_else(|| anyhow::anyhow!("invalid volume-opt: {field}"))?;
                driver_opts.insert(ok, json!(ov));
            }
            "volume-label" => {
                let (lk, lv) = val()?.split_once('=').map(|(a, b)| (a.to_string(), b.to_string())).unwrap_or((val()?, String::new()));
                vol_labels.insert(lk, json!(lv));
            }
            "tmpfs-size" => {
                tmpfs.insert("SizeBytes".into(), json!(parse_size(&val()?)?));
            }
            "tmpfs-mode" => {
                let mode = u32::from_str_radix(&val()?, 8).map_err(|_| anyhow::anyhow!("invalid value for tmpfs-mode: {}", v.unwrap_or("")))?;
                tmpfs.insert("Mode".into(), json!(mode));
            }
            _ => anyhow::bail!("unexpected key '{k}' in '{field}'"),
        }
    }
    if !m.contains_key("Type") {
        m.insert("Type".into(), json!("volume"));
    }
    if !m.contains_key("Target") {
        anyhow::bail!("target is required");
    }
    if !driver_opts.is_empty() {
        driver.insert("Options".into(), Value::Object(driver_opts));
    }
    if !driver.is_empty() {
        vol.insert("DriverConfig".into(), Value::Object(driver));
    }
    if !vol_labels.is_empty() {
        vol.insert("Labels".into(), Value::Object(vol_labels));
    }
    for (k, v) in [("BindOptions", bind), ("VolumeOptions", vol), ("TmpfsOptions", tmpfs)] {
        if !v.is_empty() {
            m.insert(k.into(), Value::Object(v));
        }
    }
    Ok(Value::Object(m))
}
