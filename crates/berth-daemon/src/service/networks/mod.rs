//! Networks: the predefined `bridge`, `host` and `none`, user-defined bridge networks with their
//! address pools, and (in [`endpoint`]) attaching containers to them: veth pairs, addresses,
//! published ports, the embedded DNS server and Berth's firewall rules.
//!
//! On-disk layout (under the data root):
//! ```text
//! networks/<id>.json   one network: name, driver, options, labels, and its IPAM pools (IPv4,
//!                      and IPv6 on a dual-stack network) with the addresses given out (atomic,
//!                      versioned)
//! netns/<container>    the network namespace of a running container on a bridge network
//! endpoints/<id>.json  one endpoint (container, network, veth, address) from before its veth
//!                      is made until after it is gone (see [`ledger`])
//! ```

pub mod check;
mod config_only;
pub mod endpoint;
pub mod ledger;
mod owner;

use crate::service::offload;
use super::ServiceError;
use crate::events::EventBus;
use crate::filters::Filters;
use berth_api::network::{Ipam, IpamConfig, NetworkCreateRequest};
use berth_network::firewall::{Firewall, NetworkRules};
use berth_network::ipam::{self, Pool, Pool6};
use berth_network::link::{self, BridgeConfig};
use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const FORMAT_VERSION: u32 = 1;

/// Docker's option keys for the bridge driver.
pub const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";
/// Inter-container communication on the bridge.
pub const OPT_ICC: &str = "com.docker.network.bridge.enable_icc";
/// MTU of the bridge and its endpoints.
pub const OPT_MTU: &str = "com.docker.network.driver.mtu";
/// Marks the default bridge.
pub const OPT_DEFAULT_BRIDGE: &str = "com.docker.network.bridge.default_bridge";

/// Daemon-wide network settings (`berth daemon --bridge --bip --default-address-pool`).
#[derive(Debug, Clone)]
pub struct NetworkOptions {
    /// Interface of the default `bridge` network.
    pub bridge: String,
    /// Gateway address and prefix of the default bridge.
    pub bip: Ipv4Net,
    /// Pools user-defined networks get their subnets from: (base, prefix length).
    pub pools: Vec<(Ipv4Net, u8)>,
    /// MTU of the default bridge (None: the kernel's 1500).
    pub mtu: Option<u32>,
    /// IPv6 subnet of the default bridge (`--ipv6 --fixed-cidr-v6`); its gateway is `::1`.
    pub fixed_cidr_v6: Option<Ipv6Net>,
}

impl Default for NetworkOptions {
    fn default() -> Self {
        // Away from Docker's 172.17.0.0/16 and its 172.18–31 and 192.168 pools, so both engines
        // can share a host.
        NetworkOptions {
            bridge: "berth0".into(),
            bip: "10.88.0.1/16".parse().expect("valid CIDR"),
            pools: vec![("10.89.0.0/16".parse().expect("valid CIDR"), 24)],
            mtu: None,
            fixed_cidr_v6: None,
        }
    }
}

/// One network as persisted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetworkRecord {
    version: u32,
    /// 64-hex id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    /// RFC 3339.
    pub created: String,
    /// No route out.
    pub internal: bool,
    /// Attachable (kept).
    pub attachable: bool,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Driver options as given.
    pub options: BTreeMap<String, String>,
    /// IPAM options as given.
    pub ipam_options: BTreeMap<String, String>,
    /// Addresses (bridge networks).
    pub pool: Option<Pool>,
    /// Bridge interface (bridge networks).
    pub bridge: String,
    /// A config-only network: configuration for others (`ConfigFrom`), no bridge, no containers.
    #[serde(default)]
    pub config_only: bool,
    /// The config-only network this one took its IPAM configuration and options from.
    #[serde(default)]
    pub config_from: String,
    /// The IPAM configuration as given (config-only networks, and those made from one), shown as is.
    #[serde(default)]
    pub ipam_config: Vec<IpamConfig>,
    /// `EnableIPv6`: a dual-stack network, whose containers get an address from `pool6`.
    #[serde(default)]
    pub enable_ipv6: bool,
    /// The IPv6 subnet's configuration as given (shown in `IPAM.Config` after the IPv4 one; kept
    /// without `EnableIPv6` too, as dockerd keeps it, then giving no addresses).
    #[serde(default)]
    pub ipam6: Option<IpamConfig>,
    /// Further IPv6 subnets' configurations, kept and shown after `ipam6` on a network without
    /// `EnableIPv6` (dockerd refuses several IPv6 subnets only where it gives IPv6 addresses).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ipam6_more: Vec<IpamConfig>,
    /// IPv6 addresses (dual-stack bridge networks).
    #[serde(default)]
    pub pool6: Option<Pool6>,
}

impl NetworkRecord {
    /// A record of the current format, created now, with nothing set beyond its id, name and
    /// driver (the others fill in the rest with struct update syntax).
    fn new(id: String, name: &str, driver: &str) -> NetworkRecord {
        NetworkRecord {
            version: FORMAT_VERSION,
            id,
            name: name.into(),
            driver: driver.into(),
            created: berth_image::store::now_rfc3339(),
            internal: false,
            attachable: false,
            labels: BTreeMap::new(),
            options: BTreeMap::new(),
            ipam_options: BTreeMap::new(),
            pool: None,
            bridge: String::new(),
            config_only: false,
            config_from: String::new(),
            ipam_config: Vec::new(),
            enable_ipv6: false,
            ipam6: None,
            ipam6_more: Vec::new(),
            pool6: None,
        }
    }

    /// Predefined networks cannot be removed.
    pub fn predefined(&self) -> bool {
        matches!(self.name.as_str(), "bridge" | "host" | "none")
    }

    /// Whether containers on it get the embedded DNS server (user-defined bridge networks).
    pub fn user_defined_bridge(&self) -> bool {
        self.driver == "bridge" && self.name != "bridge"
    }

    fn icc(&self) -> bool {
        self.options.get(OPT_ICC).is_none_or(|v| v != "false")
    }

    /// MTU of the bridge and endpoints.
    pub fn mtu(&self) -> Option<u32> {
        self.options.get(OPT_MTU).and_then(|v| v.parse().ok()).filter(|m| *m > 0)
    }

    fn rules(&self) -> Option<NetworkRules> {
        let pool = self.pool.as_ref()?;
        Some(NetworkRules {
            bridge: self.bridge.clone(),
            subnet: pool.subnet,
            subnet6: self.pool6.as_ref().map(|p| p.subnet),
            internal: self.internal,
            icc: self.icc(),
        })
    }
}

/// A running container's endpoint, as the network knows it (for `Containers` in inspect and DNS).
#[derive(Debug, Clone)]
pub struct Member {
    /// Container id.
    pub container: String,
    /// Container name.
    pub name: String,
    /// Endpoint id.
    pub endpoint: String,
    /// Address.
    pub ip: Ipv4Addr,
    /// IPv6 address on a dual-stack network.
    pub ip6: Option<Ipv6Addr>,
    /// MAC.
    pub mac: String,
    /// Network-scoped aliases (and the short id), answered by the embedded DNS.
    pub aliases: Vec<String>,
    /// The endpoint's own links (`EndpointSettings.Links`): (target container name, alias). The
    /// embedded DNS answers the alias, to this container only, with the address the target has on
    /// this network when it is queried (the target may start later), as libnetwork does.
    pub links: Vec<(String, String)>,
}

/// The (target, alias) pairs of an endpoint's `Links` (`NAME:ALIAS`, or `NAME` as its own alias).
pub(crate) fn endpoint_links(links: Option<&Vec<String>>) -> Vec<(String, String)> {
    links
        .into_iter()
        .flatten()
        .map(|l| {
            let (target, alias) = l.split_once(':').unwrap_or((l, l));
            (target.trim_start_matches('/').to_string(), alias.rsplit('/').next().unwrap_or(alias).to_string())
        })
        .collect()
}

/// The network store and the live state of attached containers.
pub struct NetworkService {
    dir: PathBuf,
    netns_dir: PathBuf,
    endpoints_dir: PathBuf,
    events: Arc<EventBus>,
    opts: NetworkOptions,
    firewall: Firewall,
    /// The bridges this daemon holds (see [`owner`]).
    owners: owner::BridgeOwners,
    nets: Mutex<BTreeMap<String, NetworkRecord>>,
    /// Network id → running members.
    members: Mutex<HashMap<String, Vec<Member>>>,
    /// Container id → live resources (port proxies, DNS server).
    live: Mutex<HashMap<String, endpoint::Live>>,
    /// Serialises network create/remove (name and subnet checks, bridge creation).
    admin: tokio::sync::Mutex<()>,
    /// Whether this daemon made its ip6tables chains (on the first dual-stack network).
    v6_firewall: AtomicBool,
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

/// The chain prefix of this daemon's firewall rules: `BERTH` for the default data root, a
/// suffix from the data root's path otherwise (so several daemons never touch each other's rules).
fn chain_prefix(root: &Path) -> String {
    if root == Path::new("/var/lib/berth") {
        return "BERTH".into();
    }
    use sha2::Digest;
    let h = sha2::Sha256::digest(root.as_os_str().as_encoded_bytes());
    format!("BERTH-{}", &hex::encode(h)[..6])
}

impl NetworkService {
    /// Loads the networks under `root/networks`, creating the predefined ones the first time.
    pub fn open(root: &Path, opts: NetworkOptions, events: Arc<EventBus>) -> Result<Arc<NetworkService>, ServiceError> {
        let dir = root.join("networks");
        std::fs::create_dir_all(&dir).map_err(|e| internal(format!("create {}: {e}", dir.display())))?;
        let netns_dir = root.join("netns");
        std::fs::create_dir_all(&netns_dir).map_err(|e| internal(format!("create {}: {e}", netns_dir.display())))?;
        let endpoints_dir = root.join("endpoints");
        std::fs::create_dir_all(&endpoints_dir).map_err(|e| internal(format!("create {}: {e}", endpoints_dir.display())))?;
        let mut nets = BTreeMap::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| internal(format!("list {}: {e}", dir.display())))?.flatten() {
            let p = entry.path();
            if p.extension().is_none_or(|x| x != "json") {
                continue;
            }
            match std::fs::read(&p).ok().and_then(|b| serde_json::from_slice::<NetworkRecord>(&b).ok()) {
                Some(r) if r.version <= FORMAT_VERSION => {
                    nets.insert(r.id.clone(), r);
                }
                _ => tracing::warn!(path = %p.display(), "skipping unreadable network record"),
            }
        }
        let svc = NetworkService {
            dir,
            netns_dir,
            endpoints_dir,
            events,
            firewall: Firewall::new(&chain_prefix(root)),
            owners: owner::BridgeOwners::new(root),
            opts,
            nets: Mutex::new(nets),
            members: Mutex::new(HashMap::new()),
            live: Mutex::new(HashMap::new()),
            admin: tokio::sync::Mutex::new(()),
            v6_firewall: AtomicBool::new(false),
        };
        svc.ensure_predefined()?;
        Ok(Arc::new(svc))
    }

    fn ensure_predefined(&self) -> Result<(), ServiceError> {
        let mut nets = self.nets.lock().unwrap_or_else(|p| p.into_inner());
        for (name, driver) in [("bridge", "bridge"), ("host", "host"), ("none", "null")] {
            let existing = nets.values_mut().find(|n| n.name == name);
            if name == "bridge" {
                // The default bridge follows the daemon's flags (--bridge, --bip) on every start.
                let subnet = self.opts.bip.trunc();
                let gateway = self.opts.bip.addr();
                if let Some(n) = existing {
                    let same = n.pool.as_ref().is_some_and(|p| p.subnet == subnet && p.gateway == gateway);
                    let same6 = n.pool6.as_ref().map(|p| p.subnet) == self.opts.fixed_cidr_v6;
                    if same && same6 && n.bridge == self.opts.bridge {
                        continue;
                    }
                    n.bridge = self.opts.bridge.clone();
                    if !same {
                        n.pool = Some(Pool::new(subnet, Some(gateway), None).map_err(|e| ServiceError::Invalid(format!("--bip {}: {e}", self.opts.bip)))?);
                    }
                    if !same6 {
                        self.default_bridge_v6(n)?;
                    }
                    n.options.insert(OPT_BRIDGE_NAME.into(), self.opts.bridge.clone());
                    self.store(n)?;
                    continue;
                }
            } else if existing.is_some() {
                continue;
            }
            let mut options = BTreeMap::new();
            let (pool, bridge) = if name == "bridge" {
                options.insert(OPT_DEFAULT_BRIDGE.to_string(), "true".to_string());
                options.insert(OPT_BRIDGE_NAME.to_string(), self.opts.bridge.clone());
                options.insert("com.docker.network.bridge.enable_icc".into(), "true".into());
                options.insert("com.docker.network.bridge.enable_ip_masquerade".into(), "true".into());
                if let Some(m) = self.opts.mtu {
                    options.insert(OPT_MTU.into(), m.to_string());
                }
                let pool = Pool::new(self.opts.bip.trunc(), Some(self.opts.bip.addr()), None)
                    .map_err(|e| ServiceError::Invalid(format!("--bip {}: {e}", self.opts.bip)))?;
                (Some(pool), self.opts.bridge.clone())
            } else {
                (None, String::new())
            };
            let mut rec = NetworkRecord { options, pool, bridge, ..NetworkRecord::new(berth_types::random_id(), name, driver) };
            if name == "bridge" {
                self.default_bridge_v6(&mut rec)?;
            }
            self.store(&rec)?;
            nets.insert(rec.id.clone(), rec);
        }
        Ok(())
    }

    /// The default bridge's IPv6 side from `--ipv6 --fixed-cidr-v6` (none without them).
    fn default_bridge_v6(&self, n: &mut NetworkRecord) -> Result<(), ServiceError> {
        match self.opts.fixed_cidr_v6 {
            Some(cidr) => {
                let pool6 = Pool6::new(cidr, None, None).map_err(|e| ServiceError::Invalid(format!("--fixed-cidr-v6 {cidr}: {e}")))?;
                n.ipam6 = Some(IpamConfig { subnet: cidr.to_string(), gateway: pool6.gateway.to_string(), ..Default::default() });
                n.pool6 = Some(pool6);
                n.enable_ipv6 = true;
            }
            None => {
                n.ipam6 = None;
                n.pool6 = None;
                n.enable_ipv6 = false;
            }
        }
        Ok(())
    }

    fn store(&self, rec: &NetworkRecord) -> Result<(), ServiceError> {
        berth_types::persist::atomic_write_json(&self.dir.join(format!("{}.json", rec.id)), rec).map_err(|e| internal(format!("saving network {}: {e}", rec.name)))
    }

    /// Installs the firewall chains and every bridge network's bridge and rules (daemon start;
    /// idempotent, and repairs what a crash or a reboot left).
    pub async fn start(&self) -> Result<(), ServiceError> {
        let nets: Vec<NetworkRecord> = self.nets.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        // Before touching anything: a bridge another daemon holds stops this start.
        for n in nets.iter().filter(|n| n.driver == "bridge" && !n.bridge.is_empty()) {
            self.owners.claim(&n.bridge)?;
        }
        offload::inline(|| self.firewall.init()).map_err(|e| internal(format!("setting up the firewall: {}", crate::api::error_chain(&e))))?;
        for n in nets.iter().filter(|n| n.driver == "bridge") {
            self.install(n).await?;
        }
        Ok(())
    }

    async fn install(&self, n: &NetworkRecord) -> Result<(), ServiceError> {
        let Some(pool) = &n.pool else { return Ok(()) };
        let gw = Ipv4Net::new(pool.gateway, pool.subnet.prefix_len()).map_err(internal)?;
        let gw6 = n.pool6.as_ref().map(|p| Ipv6Net::new(p.gateway, p.subnet.prefix_len())).transpose().map_err(internal)?;
        link::ensure_bridge(&BridgeConfig { name: n.bridge.clone(), gateway: Some(gw), gateway6: gw6, mtu: n.mtu() })
            .await
            .map_err(|e| internal(format!("creating the bridge of network {}: {e}", n.name)))?;
        if n.pool6.is_some() && !self.v6_firewall.load(Ordering::SeqCst) {
            // The ip6tables chains once per daemon, before the first dual-stack network's rules.
            offload::inline(|| self.firewall.init_v6()).map_err(|e| internal(format!("setting up the IPv6 firewall (ip6tables): {}", crate::api::error_chain(&e))))?;
            self.v6_firewall.store(true, Ordering::SeqCst);
        }
        if let Some(r) = n.rules() {
            offload::inline(|| self.firewall.add_network(&r)).map_err(|e| internal(format!("firewall rules of network {}: {e}", n.name)))?;
        }
        Ok(())
    }

    /// Clean daemon shutdown: with no container running, removes the bridges and rules Berth made.
    pub async fn shutdown(&self, containers_running: bool) {
        if containers_running {
            return;
        }
        let nets: Vec<NetworkRecord> = self.nets.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        for n in nets.iter().filter(|n| n.driver == "bridge" && self.owners.holds(&n.bridge)) {
            if let Err(e) = link::delete_link(&n.bridge).await {
                tracing::warn!(bridge = %n.bridge, error = %e, "removing the bridge failed");
            }
        }
        if let Err(e) = offload::inline(|| self.firewall.teardown()) {
            tracing::warn!(error = %e, "removing the firewall rules failed");
        }
    }

    /// A network by id, id prefix or name (Docker's lookup order: full id, name, id prefix).
    pub fn get(&self, key: &str) -> Result<NetworkRecord, ServiceError> {
        let nets = self.nets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = nets.get(key) {
            return Ok(n.clone());
        }
        if let Some(n) = nets.values().find(|n| n.name == key) {
            return Ok(n.clone());
        }
        let hits: Vec<&NetworkRecord> = nets.values().filter(|n| !key.is_empty() && n.id.starts_with(key)).collect();
        match hits.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(ServiceError::NotFound(format!("network {key} not found"))),
            _ => Err(ServiceError::Invalid(format!("network {key} is ambiguous ({} matches found based on ID prefix)", hits.len()))),
        }
    }

    /// Creates a user-defined bridge network.
    pub async fn create(&self, req: NetworkCreateRequest) -> Result<NetworkRecord, ServiceError> {
        let _admin = self.admin.lock().await;
        let driver = if req.driver.is_empty() { "bridge".to_string() } else { req.driver.clone() };
        // As libnetwork: any name that is not blank ("test 01" is one); the network is kept under
        // its id, and its bridge and chains are named after the id.
        if req.name.trim().is_empty() {
            return Err(ServiceError::Invalid(format!("invalid name: {}", req.name)));
        }
        match driver.as_str() {
            "bridge" => {}
            "host" | "null" => return Err(ServiceError::Forbidden(format!("only one instance of \"{driver}\" network is allowed"))),
            other => return Err(ServiceError::NotFound(format!("plugin \"{other}\" not found"))),
        }
        if req.ingress {
            return Err(ServiceError::Invalid("ingress networks need swarm mode, which berth does not implement".into()));
        }
        if self.nets.lock().unwrap_or_else(|p| p.into_inner()).values().any(|n| n.name == req.name) {
            return Err(ServiceError::Conflict(format!("network with name {} already exists", req.name)));
        }
        let ipam = req.ipam.clone().unwrap_or_default();
        if !ipam.driver.is_empty() && ipam.driver != "default" {
            return Err(ServiceError::NotFound(format!("IPAM driver \"{}\" not found", ipam.driver)));
        }
        if req.config_only {
            return self.create_config_only(&req).await;
        }
        // A network made from a config-only one takes its IPAM configuration and options.
        let (ipam, options, config_from) = match req.config_from.as_ref().map(|c| c.network.as_str()).filter(|n| !n.is_empty()) {
            Some(from) => self.config_of(from, &req)?,
            None => (ipam, req.options.clone().unwrap_or_default(), None),
        };
        let pool = self.pool_for(&ipam, &req.name).await?;
        let enable_ipv6 = req.enable_ipv6 == Some(true);
        let (ipam6, pool6) = self.pool6_for(&ipam, enable_ipv6)?;
        // dockerd's order: every pool is checked (above), then its bridge driver refuses more than
        // one subnet of a family it gives addresses from (several IPv6 subnets without EnableIPv6
        // are kept and shown).
        let configs = ipam.config.as_deref().unwrap_or_default();
        let v6_subnets = configs.iter().filter(|c| c.subnet.contains(':')).count();
        if configs.len() - v6_subnets > 1 || (enable_ipv6 && v6_subnets > 1) {
            return Err(ServiceError::Forbidden("bridge driver doesn't support multiple subnets".into()));
        }
        let id = berth_types::random_id();
        if let Some(m) = options.get(OPT_MTU) {
            m.parse::<u32>().map_err(|_| ServiceError::Invalid(format!("failed to parse {OPT_MTU} value: {m} (strconv.Atoi: parsing {m:?}: invalid syntax)")))?;
        }
        let bridge = options.get(OPT_BRIDGE_NAME).cloned().unwrap_or_else(|| format!("br-{}", &id[..12]));
        if bridge.is_empty() || bridge.len() > 15 || bridge.contains(['/', ' ']) {
            return Err(ServiceError::Invalid(format!("invalid bridge name {bridge:?}")));
        }
        if self.nets.lock().unwrap_or_else(|p| p.into_inner()).values().any(|n| n.bridge == bridge) {
            return Err(ServiceError::Conflict(format!("bridge name {bridge} is already used by another network")));
        }
        let rec = NetworkRecord {
            internal: req.internal,
            attachable: req.attachable,
            labels: req.labels.clone().unwrap_or_default(),
            options,
            ipam_options: ipam.options.clone().unwrap_or_default(),
            pool: Some(pool),
            bridge,
            ipam_config: if config_from.is_some() { ipam.config.clone().unwrap_or_default() } else { Vec::new() },
            config_from: config_from.unwrap_or_default(),
            enable_ipv6,
            ipam6,
            ipam6_more: if enable_ipv6 { Vec::new() } else { configs.iter().filter(|c| c.subnet.contains(':')).skip(1).cloned().collect() },
            pool6,
            ..NetworkRecord::new(id.clone(), &req.name, &driver)
        };
        self.owners.claim(&rec.bridge)?;
        // The record first: a crash after it leaves a network the next start installs in full; a
        // crash before it leaves nothing (no bridge nobody knows about).
        if let Err(e) = self.store(&rec) {
            self.owners.release(&rec.bridge);
            return Err(e);
        }
        if let Err(e) = self.install(&rec).await {
            let _ = link::delete_link(&rec.bridge).await;
            if let Some(r) = rec.rules() {
                let _ = offload::inline(|| self.firewall.remove_network(&r));
            }
            let _ = std::fs::remove_file(self.dir.join(format!("{}.json", rec.id)));
            self.owners.release(&rec.bridge);
            return Err(e);
        }
        self.nets.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), rec.clone());
        self.publish(&rec, "create", None);
        Ok(rec)
    }

    /// The pool of a new network: the subnet asked for (checked against the other networks and
    /// the host's routes), or the first free one of the daemon's address pools.
    /// With several IPv4 configurations each is checked as dockerd's IPAM checks it (its subnet,
    /// overlaps with other networks and with the ones before it) and the first one's pool returned:
    /// the caller refuses the network then, as dockerd's bridge driver does.
    async fn pool_for(&self, ipam: &Ipam, net_name: &str) -> Result<Pool, ServiceError> {
        let configs: Vec<IpamConfig> = ipam.config.clone().unwrap_or_default().into_iter().filter(|c| !c.subnet.contains(':')).collect();
        let mut taken: Vec<Ipv4Net> = self.nets.lock().unwrap_or_else(|p| p.into_inner()).values().filter_map(|n| n.pool.as_ref().map(|p| p.subnet)).collect();
        let parse_ip = |s: &str, what: &str| -> Result<Option<Ipv4Addr>, ServiceError> {
            if s.is_empty() {
                return Ok(None);
            }
            s.parse().map(Some).map_err(|_| ServiceError::Invalid(format!("invalid {what}: {s}")))
        };
        match configs.first() {
            Some(c) if !c.subnet.is_empty() || configs.len() > 1 => {
                let mut pools = Vec::with_capacity(configs.len());
                for c in &configs {
                    let subnet: Ipv4Net = c.subnet.parse().map_err(|_| ServiceError::Invalid(format!("invalid subnet: {}", c.subnet)))?;
                    if taken.iter().any(|t| t.contains(&subnet.network()) || subnet.contains(&t.network())) {
                        // dockerd 20.10's words.
                        return Err(ServiceError::Forbidden("Pool overlaps with other one on this address space".into()));
                    }
                    let range = if c.ip_range.is_empty() { None } else { Some(c.ip_range.parse::<Ipv4Net>().map_err(|_| ServiceError::Invalid(format!("invalid ip-range: {}", c.ip_range)))?) };
                    let mut pool = Pool::new(subnet, parse_ip(&c.gateway, "gateway")?, range).map_err(|e| ServiceError::Invalid(e.to_string()))?;
                    for (name, ip) in c.aux_address.iter().flatten() {
                        let addr: Ipv4Addr = ip.parse().map_err(|_| ServiceError::Invalid(format!("non parsable secondary ip address ({name}:{ip}) passed for network {}", net_name)))?;
                        pool.reserve_aux(name, addr).map_err(|e| ServiceError::Forbidden(e.to_string()))?;
                    }
                    pools.push(pool);
                    taken.push(subnet);
                }
                Ok(pools.swap_remove(0))
            }
            Some(c) if !c.gateway.is_empty() || !c.ip_range.is_empty() => Err(ServiceError::Invalid("a gateway or an ip-range needs a subnet".into())),
            _ => {
                let mut in_use = link::host_networks().await.map_err(internal)?;
                in_use.extend(taken);
                let subnet = ipam::pick_subnet(&self.opts.pools, &in_use)
                    .ok_or_else(|| ServiceError::Forbidden("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into()))?;
                Pool::new(subnet, None, None).map_err(|e| ServiceError::Invalid(e.to_string()))
            }
        }
    }

    /// The IPv6 side of a new network: its configuration as given and, with `EnableIPv6`, its
    /// pool. As dockerd 20.10 (which has no default IPv6 pools), `EnableIPv6` needs an IPv6 subnet,
    /// and one that overlaps another network's is refused.
    /// With several IPv6 configurations (and `EnableIPv6`) each is checked, the first one's
    /// returned; without `EnableIPv6` only the first is returned here (the record keeps the others,
    /// [`NetworkRecord::ipam6_more`]).
    fn pool6_for(&self, ipam: &Ipam, enable: bool) -> Result<(Option<IpamConfig>, Option<Pool6>), ServiceError> {
        let configs: Vec<IpamConfig> = ipam.config.clone().unwrap_or_default().into_iter().filter(|c| c.subnet.contains(':')).collect();
        let Some(first) = configs.first().cloned() else {
            if enable {
                return Err(ServiceError::NotFound("could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network".into()));
            }
            return Ok((None, None));
        };
        let mut taken: Vec<Ipv6Net> = self.nets.lock().unwrap_or_else(|p| p.into_inner()).values().filter_map(|n| n.pool6.as_ref().map(|p| p.subnet)).collect();
        let mut pools = Vec::with_capacity(configs.len());
        for c in &configs {
            let subnet: Ipv6Net = c.subnet.parse().map_err(|_| ServiceError::Invalid(format!("invalid subnet: {}", c.subnet)))?;
            if !enable {
                continue;
            }
            if taken.iter().any(|t| ipam::overlaps6(t, &subnet)) {
                return Err(ServiceError::Forbidden("Pool overlaps with other one on this address space".into()));
            }
            let gateway = match c.gateway.as_str() {
                "" => None,
                g => Some(g.parse::<Ipv6Addr>().map_err(|_| ServiceError::Invalid(format!("invalid gateway: {g}")))?),
            };
            let range = match c.ip_range.as_str() {
                "" => None,
                r => Some(r.parse::<Ipv6Net>().map_err(|_| ServiceError::Invalid(format!("invalid ip-range: {r}")))?),
            };
            pools.push(Pool6::new(subnet, gateway, range).map_err(|e| ServiceError::Invalid(e.to_string()))?);
            taken.push(subnet);
        }
        Ok((Some(first), (!pools.is_empty()).then(|| pools.swap_remove(0))))
    }

    /// Removes a user-defined network nobody is connected to.
    pub async fn remove(&self, key: &str, users: &[String]) -> Result<(), ServiceError> {
        let _admin = self.admin.lock().await;
        let rec = self.get(key)?;
        if rec.predefined() {
            return Err(ServiceError::Forbidden(format!("{} is a pre-defined network and cannot be removed", rec.name)));
        }
        if !users.is_empty() {
            return Err(ServiceError::Conflict(format!("error while removing network: network {} id {} has active endpoints", rec.name, rec.id)));
        }
        if rec.config_only {
            return self.remove_config_only(&rec);
        }
        if let Some(r) = rec.rules() {
            offload::inline(|| self.firewall.remove_network(&r)).map_err(|e| internal(format!("removing the firewall rules of network {}: {e}", rec.name)))?;
        }
        // The bridge before the record: a crash between leaves the record, and the next start
        // re-creates the bridge (the removal is rolled back, never half done).
        link::delete_link(&rec.bridge).await.map_err(|e| internal(format!("removing bridge {}: {e}", rec.bridge)))?;
        std::fs::remove_file(self.dir.join(format!("{}.json", rec.id))).map_err(|e| internal(format!("removing network {}: {e}", rec.name)))?;
        let _ = berth_types::persist::sync_dir(&self.dir);
        self.owners.release(&rec.bridge);
        self.nets.lock().unwrap_or_else(|p| p.into_inner()).remove(&rec.id);
        self.publish(&rec, "destroy", None);
        Ok(())
    }

    /// Networks matching `filters` (`name`, `id`, `driver`, `label`, `type`, `scope`, `dangling`).
    /// `users` maps a network id to the containers configured on it.
    pub fn list(&self, filters: &Filters, users: &HashMap<String, Vec<String>>) -> Result<Vec<NetworkRecord>, ServiceError> {
        filters.validate(&["name", "id", "driver", "label", "type", "scope", "dangling"]).map_err(ServiceError::Invalid)?;
        let dangling = filters.bool("dangling").map_err(ServiceError::Invalid)?;
        for t in filters.get("type") {
            if t != "custom" && t != "builtin" {
                return Err(ServiceError::Invalid(format!("invalid filter: 'type'='{t}'")));
            }
        }
        let nets = self.nets.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<NetworkRecord> = nets
            .values()
            .filter(|n| filters.get("name").is_empty() || filters.get("name").iter().any(|x| n.name.contains(x.as_str())))
            .filter(|n| filters.get("id").is_empty() || filters.get("id").iter().any(|x| n.id.starts_with(x.as_str())))
            .filter(|n| filters.get("driver").is_empty() || filters.get("driver").iter().any(|x| x == &n.driver))
            .filter(|_| filters.get("scope").is_empty() || filters.get("scope").iter().any(|x| x == "local"))
            .filter(|n| filters.get("type").is_empty() || filters.get("type").iter().any(|t| (t == "builtin") == n.predefined()))
            .filter(|n| filters.labels_match("label", Some(&n.labels)))
            .filter(|n| dangling.is_none_or(|d| d == (!n.predefined() && users.get(&n.id).is_none_or(|u| u.is_empty()))))
            .cloned()
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Removes user-defined networks no container uses (filters `until`, `label`, `label!`).
    pub async fn prune(&self, filters: &Filters, users: &HashMap<String, Vec<String>>) -> Result<Vec<String>, ServiceError> {
        filters.validate(&["until", "label", "label!"]).map_err(ServiceError::Invalid)?;
        let until: Vec<i64> = filters
            .get("until")
            .iter()
            .map(|u| crate::service::images::parse_until(u).map(|t| t as i64))
            .collect::<Result<_, _>>()?;
        let candidates: Vec<NetworkRecord> = self.nets.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        let mut removed = vec![];
        for n in candidates {
            if n.predefined() || users.get(&n.id).is_some_and(|u| !u.is_empty()) {
                continue;
            }
            if !filters.labels_allow(&n.labels) {
                continue;
            }
            let created = chrono::DateTime::parse_from_rfc3339(&n.created).map(|t| t.timestamp()).unwrap_or(0);
            if until.iter().any(|u| created >= *u) {
                continue;
            }
            if self.remove(&n.id, &[]).await.is_ok() {
                removed.push(n.name.clone());
            }
        }
        Ok(removed)
    }

    /// Docker's JSON for a network; `detail` adds the running containers.
    pub fn view(&self, n: &NetworkRecord, detail: bool) -> Value {
        let given = (n.config_only || !n.config_from.is_empty()).then(|| n.ipam_config.iter().map(|c| json!(c)).collect::<Vec<Value>>());
        let config: Vec<Value> = given.unwrap_or_else(|| n
            .pool
            .iter()
            .map(|p| {
                let mut c = json!({"Subnet": p.subnet.to_string(), "Gateway": p.gateway.to_string()});
                if let Some(r) = p.ip_range {
                    c["IPRange"] = json!(r.to_string());
                }
                if !p.aux.is_empty() {
                    c["AuxiliaryAddresses"] = json!(p.aux.iter().map(|(k, v)| (k.clone(), v.to_string())).collect::<BTreeMap<_, _>>());
                }
                c
            })
            .chain(n.ipam6.iter().chain(&n.ipam6_more).map(|c| json!(c)))
            .collect());
        let mut containers = serde_json::Map::new();
        if detail {
            let members = self.members.lock().unwrap_or_else(|p| p.into_inner());
            for m in members.get(&n.id).into_iter().flatten() {
                let prefix = n.pool.as_ref().map(|p| p.subnet.prefix_len()).unwrap_or(0);
                containers.insert(
                    m.container.clone(),
                    json!({"Name": m.name, "EndpointID": m.endpoint, "MacAddress": m.mac, "IPv4Address": format!("{}/{prefix}", m.ip), "IPv6Address": prefix6(n, m.ip6)}),
                );
            }
        }
        json!({
            "Name": n.name,
            "Id": n.id,
            "Created": n.created,
            "Scope": "local",
            "Driver": n.driver,
            "EnableIPv4": true,
            "EnableIPv6": n.enable_ipv6,
            "IPAM": {"Driver": "default", "Options": if n.ipam_options.is_empty() { serde_json::Value::Null } else { json!(n.ipam_options) }, "Config": config},
            "Internal": n.internal,
            "Attachable": n.attachable,
            "Ingress": false,
            "ConfigFrom": {"Network": n.config_from},
            "ConfigOnly": n.config_only,
            "Containers": containers,
            "Options": n.options,
            "Labels": n.labels,
        })
    }

    fn publish(&self, n: &NetworkRecord, action: &str, container: Option<&str>) {
        let mut attrs = BTreeMap::from([("name".to_string(), n.name.clone()), ("type".to_string(), n.driver.clone())]);
        if let Some(c) = container {
            attrs.insert("container".into(), c.to_string());
        }
        self.events.publish("network", action, &n.id, attrs);
    }

    /// Removes the network namespaces (and with them their veths) of containers that do not run:
    /// what a crash left between creating a namespace and recording it, or a build step's.
    pub fn sweep_namespaces(&self, running: &std::collections::HashSet<String>) {
        let Ok(entries) = std::fs::read_dir(&self.netns_dir) else { return };
        for e in entries.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            if running.contains(&id) {
                continue;
            }
            if let Err(err) = berth_network::netns::NetNs::remove(&e.path()) {
                tracing::warn!(path = %e.path().display(), error = %err, "removing a leftover network namespace failed");
            } else {
                tracing::info!(container.id = %id, "removed a network namespace left by the previous daemon");
            }
        }
    }

    /// Where a container's network namespace is kept while it runs.
    pub fn netns_path(&self, container: &str) -> PathBuf {
        self.netns_dir.join(container)
    }

    /// Gives back addresses no running container holds (daemon start, after containers were
    /// recovered): `held` maps a network id to the addresses (IPv4 and IPv6) of its running members.
    pub fn reconcile(&self, held: &HashMap<String, Vec<IpAddr>>) {
        let mut nets = self.nets.lock().unwrap_or_else(|p| p.into_inner());
        for n in nets.values_mut() {
            let keep = held.get(&n.id).cloned().unwrap_or_default();
            let mut changed = false;
            if let Some(pool) = n.pool.as_mut() {
                let stale: Vec<Ipv4Addr> = pool.allocated().filter(|ip| !keep.contains(&IpAddr::V4(*ip))).collect();
                changed |= !stale.is_empty();
                for ip in stale {
                    pool.release(ip);
                }
            }
            if let Some(pool6) = n.pool6.as_mut() {
                let stale: Vec<Ipv6Addr> = pool6.allocated().filter(|ip| !keep.contains(&IpAddr::V6(*ip))).collect();
                changed |= !stale.is_empty();
                for ip in stale {
                    pool6.release(ip);
                }
            }
            if !changed {
                continue;
            }
            let n = n.clone();
            if let Err(e) = self.store(&n) {
                tracing::warn!(network = %n.name, error = %e, "saving the network's addresses failed");
            }
        }
    }
}

/// A member's IPv6 address with the network's IPv6 prefix, as network inspect shows it (`""`
/// without one).
fn prefix6(n: &NetworkRecord, ip6: Option<Ipv6Addr>) -> String {
    match (ip6, n.pool6.as_ref()) {
        (Some(ip), Some(p)) => format!("{ip}/{}", p.subnet.prefix_len()),
        _ => String::new(),
    }
}
