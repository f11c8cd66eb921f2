//! Legacy links (`--link`, `HostConfig.Links`) on the default bridge, as dockerd makes them: the
//! linked container must exist at create and run at start; the linking container gets an
//! `/etc/hosts` line for it (alias, hostname, name) and the `ALIAS_…` variables (its address,
//! exposed ports, name and environment). On user-defined networks links are names the embedded DNS
//! resolves (`networks::endpoint`).

use super::{ContainerRecord, ContainerService, Status};
use crate::service::ServiceError;
use berth_api::container::HostConfig;

/// A link as dockerd parses it (`name`, `name:alias`, or the `/name:/parent/alias` inspect shows):
/// (container name, alias).
pub fn parse(val: &str) -> Result<(String, String), String> {
    if val.is_empty() {
        return Err("empty string specified for links".into());
    }
    let parts: Vec<&str> = val.split(':').collect();
    match parts.as_slice() {
        [one] => Ok((one.to_string(), one.to_string())),
        [name, alias] if name.starts_with('/') => Ok((name[1..].to_string(), alias.rsplit('/').next().unwrap_or(alias).to_string())),
        [name, alias] => Ok((name.to_string(), alias.to_string())),
        _ => Err(format!("bad format for links: {val}")),
    }
}

/// Whether links are dockerd's legacy links here (the default bridge).
pub fn legacy(h: &HostConfig) -> bool {
    matches!(h.network_mode.as_str(), "" | "default" | "bridge")
}

const HOST_AND_LINKS: &str = "conflicting options: host type networking can't be used with links. This would result in undefined behavior";

/// The environment dockerd gives a container for one link (`links.Link.ToEnv`): `ALIAS_PORT` (the
/// lowest exposed port, TCP first), per port `ALIAS_PORT_<n>_<PROTO>` with `_ADDR`, `_PORT`,
/// `_PROTO`, a contiguous range also as `…_START`/`…_END`, `ALIAS_NAME`, and `ALIAS_ENV_<var>` for
/// the linked container's variables but `HOME` and `PATH`.
pub fn env(parent: &str, alias: &str, ip: &str, child_env: &[String], exposed: &[String]) -> Vec<String> {
    let prefix = alias.to_ascii_uppercase().replace('-', "_");
    let mut ports: Vec<(u16, String)> = exposed
        .iter()
        .filter_map(|p| {
            let (n, proto) = p.split_once('/').unwrap_or((p, "tcp"));
            n.parse::<u16>().ok().map(|n| (n, proto.to_ascii_lowercase()))
        })
        .collect();
    ports.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| (b.1 == "tcp").cmp(&(a.1 == "tcp"))));
    let mut out = Vec::new();
    if let Some((n, proto)) = ports.first() {
        out.push(format!("{prefix}_PORT={proto}://{ip}:{n}"));
    }
    let mut i = 0;
    while i < ports.len() {
        let (n, proto) = &ports[i];
        // The last index of a run of consecutive port numbers of the same protocol.
        let mut j = i;
        while j + 1 < ports.len() && ports[j + 1].0 == ports[j].0 + 1 && ports[j + 1].1 == *proto {
            j += 1;
        }
        if j > i + 1 {
            let up = proto.to_ascii_uppercase();
            let (m, q) = &ports[j];
            out.push(format!("{prefix}_PORT_{n}_{up}_START={proto}://{ip}:{n}"));
            out.push(format!("{prefix}_PORT_{n}_{up}_ADDR={ip}"));
            out.push(format!("{prefix}_PORT_{n}_{up}_PROTO={proto}"));
            out.push(format!("{prefix}_PORT_{n}_{up}_PORT_START={n}"));
            out.push(format!("{prefix}_PORT_{n}_{}_END={q}://{ip}:{m}", q.to_ascii_uppercase()));
            out.push(format!("{prefix}_PORT_{n}_{}_PORT_END={m}", q.to_ascii_uppercase()));
            i = j + 1;
        } else {
            i += 1;
        }
    }
    for (n, proto) in &ports {
        let up = proto.to_ascii_uppercase();
        out.push(format!("{prefix}_PORT_{n}_{up}={proto}://{ip}:{n}"));
        out.push(format!("{prefix}_PORT_{n}_{up}_ADDR={ip}"));
        out.push(format!("{prefix}_PORT_{n}_{up}_PORT={n}"));
        out.push(format!("{prefix}_PORT_{n}_{up}_PROTO={proto}"));
    }
    out.push(format!("{prefix}_NAME=/{parent}/{alias}"));
    for e in child_env {
        let Some((k, v)) = e.split_once('=') else { continue };
        if k != "HOME" && k != "PATH" {
            out.push(format!("{prefix}_ENV_{k}={v}"));
        }
    }
    out
}

impl ContainerService {
    /// At create: the links of a container on the default bridge name existing containers that do
    /// not use the host's network; links with host or container networking are refused.
    pub(super) fn check_links(&self, h: &HostConfig) -> Result<(), ServiceError> {
        let links = h.links.clone().unwrap_or_default();
        if links.is_empty() {
            return Ok(());
        }
        if h.network_mode == "host" {
            return Err(ServiceError::Invalid(HOST_AND_LINKS.into()));
        }
        if h.network_mode.starts_with("container:") {
            return Err(ServiceError::Invalid(
                "conflicting options: container type network can't be used with links. This would result in undefined behavior".into(),
            ));
        }
        if !legacy(h) {
            return Ok(());
        }
        for l in &links {
            let (name, _) = parse(l).map_err(ServiceError::Invalid)?;
            let child = self.get(&name).map_err(|e| ServiceError::Invalid(format!("could not get container for {name}: {e}")))?;
            if child.snapshot().host_config.network_mode == "host" {
                return Err(ServiceError::Invalid(HOST_AND_LINKS.into()));
            }
        }
        Ok(())
    }

    /// The linked containers of `rec` (on the default bridge): (alias, record), in link order;
    /// with `running`, a linked container that does not run fails as dockerd's start does.
    pub(super) fn linked(&self, rec: &ContainerRecord, running: bool) -> Result<Vec<(String, ContainerRecord)>, ServiceError> {
        if !legacy(&rec.host_config) {
            return Ok(vec![]);
        }
        let mut out = Vec::new();
        for l in rec.host_config.links.clone().unwrap_or_default() {
            let Ok((name, alias)) = parse(&l) else { continue };
            let Ok(child) = self.get(&name) else { continue };
            let child = child.snapshot();
            if running && !matches!(child.state.status, Status::Running | Status::Paused) {
                return Err(ServiceError::Conflict(format!("Cannot link to a non running container: /{} AS /{}/{alias}", child.name, rec.name)));
            }
            out.push((alias, child));
        }
        Ok(out)
    }

    /// The `ALIAS_…` variables of every link of `rec` (linked containers that are not running, or
    /// have no address, give none).
    pub(super) fn link_env(&self, rec: &ContainerRecord) -> Vec<String> {
        let mut out = Vec::new();
        for (alias, child) in self.linked(rec, false).unwrap_or_default() {
            let Some(ip) = bridge_ip(&child) else { continue };
            let exposed: Vec<String> = child.config.exposed_ports.clone().unwrap_or_default().into_keys().collect();
            out.extend(env(&rec.name, &alias, &ip, &child.config.env.clone().unwrap_or_default(), &exposed));
        }
        out
    }

    /// The id of the container `{parent}/{alias}` names: dockerd registers a legacy link's path as
    /// a name of the linked container, so `DELETE /containers/{parent}/{alias}` without `link`
    /// removes the linked container itself.
    pub fn linked_child(&self, parent: &str, alias: &str) -> Result<String, ServiceError> {
        let missing = || ServiceError::NotFound(format!("No such container: {parent}/{alias}"));
        let rec = self.get(parent).map_err(|_| missing())?.snapshot();
        self.linked(&rec, false)?.into_iter().find(|(a, _)| a == alias).map(|(_, c)| c.id).ok_or_else(missing)
    }

    /// `DELETE /containers/{parent}/{alias}?link=1`: removes the link; the parent's `/etc/hosts`
    /// follows at once if it runs, its environment at its next start.
    pub fn remove_link(&self, parent: &str, alias: &str) -> Result<(), ServiceError> {
        let missing = || ServiceError::NotFound(format!("No such container: {parent}/{alias}"));
        let h = self.get(parent).map_err(|_| missing())?;
        let rec = h.snapshot();
        let mut links = rec.host_config.links.clone().unwrap_or_default();
        let before = links.len();
        links.retain(|l| parse(l).map(|(_, a)| a != alias).unwrap_or(true));
        if links.len() == before {
            return Err(missing());
        }
        let rec = self.save(&h, |r| r.host_config.links = Some(links.clone()))?;
        if matches!(rec.state.status, Status::Running | Status::Paused) {
            self.refresh_hosts(&rec)?;
        }
        Ok(())
    }

    /// `HostConfig.Links` as dockerd's inspect shows them: `/name:/parent/alias`, current names,
    /// links to containers that are gone left out (on the default bridge; elsewhere as given).
    pub(super) fn links_view(&self, rec: &ContainerRecord) -> Option<Vec<String>> {
        let links = rec.host_config.links.clone()?;
        if !legacy(&rec.host_config) {
            return Some(links);
        }
        let shown: Vec<String> = self.linked(rec, false).unwrap_or_default().into_iter().map(|(alias, c)| format!("/{}:/{}/{alias}", c.name, rec.name)).collect();
        Some(shown).filter(|s| !s.is_empty())
    }
}

/// A container's address on the default bridge.
pub(super) fn bridge_ip(rec: &ContainerRecord) -> Option<String> {
    let ep = rec.network.networks.get("bridge").or_else(|| rec.network.order.first().and_then(|n| rec.network.networks.get(n)))?;
    Some(ep.ip_address.clone()).filter(|ip| !ip.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_parse_as_dockerd() {
        assert_eq!(parse("db").unwrap(), ("db".into(), "db".into()));
        assert_eq!(parse("web:db").unwrap(), ("web".into(), "db".into()));
        assert_eq!(parse("/web:/app/db").unwrap(), ("web".into(), "db".into()));
        assert_eq!(parse("a:b:c").unwrap_err(), "bad format for links: a:b:c");
        assert!(parse("").is_err());
    }

    #[test]
    fn link_env_as_dockerd() {
        let ports = ["80/tcp", "53/udp", "8080/tcp", "8081/tcp", "8082/tcp"].map(String::from);
        let e = env("app", "my-db", "10.0.0.2", &["A=1".into(), "PATH=/bin".into(), "HOME=/".into()], &ports);
        for want in [
            "MY_DB_PORT=udp://10.0.0.2:53",
            "MY_DB_PORT_8080_TCP_START=tcp://10.0.0.2:8080",
            "MY_DB_PORT_8080_TCP_END=tcp://10.0.0.2:8082",
            "MY_DB_PORT_8080_TCP_PORT_END=8082",
            "MY_DB_PORT_80_TCP=tcp://10.0.0.2:80",
            "MY_DB_PORT_80_TCP_ADDR=10.0.0.2",
            "MY_DB_PORT_80_TCP_PORT=80",
            "MY_DB_PORT_80_TCP_PROTO=tcp",
            "MY_DB_NAME=/app/my-db",
            "MY_DB_ENV_A=1",
        ] {
            assert!(e.contains(&want.to_string()), "{want} in {e:?}");
        }
        assert!(!e.iter().any(|v| v.contains("_ENV_PATH") || v.contains("_ENV_HOME")));
        assert!(!e.iter().any(|v| v.starts_with("MY_DB_PORT_80_TCP_START")));
    }
}
