//! Network models: `POST /networks/create`, network inspect, a container's endpoint settings and
//! published ports.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One `IPAM.Config` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamConfig {
    /// CIDR.
    #[serde(default, deserialize_with = "crate::nullable", skip_serializing_if = "String::is_empty")]
    pub subnet: String,
    /// Sub-range addresses are given from.
    #[serde(rename = "IPRange", default, deserialize_with = "crate::nullable", skip_serializing_if = "String::is_empty")]
    pub ip_range: String,
    /// Gateway address.
    #[serde(default, deserialize_with = "crate::nullable", skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    /// Reserved addresses, by name (Go's `AuxAddress`, `AuxiliaryAddresses` on the wire).
    #[serde(rename = "AuxiliaryAddresses", default, skip_serializing_if = "Option::is_none")]
    pub aux_address: Option<BTreeMap<String, String>>,
}

/// `IPAM`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ipam {
    /// `default`.
    #[serde(default, deserialize_with = "crate::nullable")]
    pub driver: String,
    /// Subnets.
    #[serde(default)]
    pub config: Option<Vec<IpamConfig>>,
    /// Driver options.
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
}

/// `POST /networks/create` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkCreateRequest {
    /// Name.
    #[serde(default, deserialize_with = "crate::nullable")]
    pub name: String,
    /// A network that only holds configuration for others (refused: not supported).
    #[serde(default, deserialize_with = "crate::nullable")]
    pub config_only: bool,
    /// The config-only network this one takes its configuration from (refused: not supported).
    #[serde(default)]
    pub config_from: Option<ConfigReference>,
    /// `bridge` (default).
    #[serde(default, deserialize_with = "crate::nullable")]
    pub driver: String,
    /// Refuse a duplicate name (always so since API 1.44).
    #[serde(default)]
    pub check_duplicate: Option<bool>,
    /// No outbound connectivity.
    #[serde(default, deserialize_with = "crate::nullable")]
    pub internal: bool,
    /// Containers may attach manually (swarm only; kept).
    #[serde(default, deserialize_with = "crate::nullable")]
    pub attachable: bool,
    /// Swarm ingress (refused).
    #[serde(default, deserialize_with = "crate::nullable")]
    pub ingress: bool,
    /// IPv4 (API 1.47+; refused when false at those versions: Berth networks are IPv4).
    #[serde(rename = "EnableIPv4", default)]
    pub enable_ipv4: Option<bool>,
    /// IPv6 (refused when true: Berth networks are IPv4).
    #[serde(rename = "EnableIPv6", default)]
    pub enable_ipv6: Option<bool>,
    /// Address management.
    #[serde(rename = "IPAM", default)]
    pub ipam: Option<Ipam>,
    /// Driver options (`com.docker.network.bridge.name`, …).
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
    /// Labels.
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
}

/// `ConfigFrom` of a network create.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigReference {
    /// The config-only network's name.
    #[serde(default, deserialize_with = "crate::nullable")]
    pub network: String,
}

/// `IPAMConfig` of an endpoint (`--ip`, `--ip6`, `--link-local-ip`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EndpointIpamConfig {
    /// Requested IPv4 address.
    #[serde(rename = "IPv4Address", default, deserialize_with = "crate::nullable", skip_serializing_if = "String::is_empty")]
    pub ipv4_address: String,
    /// Requested IPv6 address.
    #[serde(rename = "IPv6Address", default, deserialize_with = "crate::nullable", skip_serializing_if = "String::is_empty")]
    pub ipv6_address: String,
    /// Link-local addresses added to the interface (`--link-local-ip`): IPv4 in 169.254.0.0/16,
    /// IPv6 in fe80::/10.
    #[serde(rename = "LinkLocalIPs", default, deserialize_with = "crate::nullable", skip_serializing_if = "Vec::is_empty")]
    pub link_local_ips: Vec<String>,
}

/// A container's settings on one network (`NetworkSettings.Networks.<name>`, and the
/// `EndpointsConfig` entries of create and connect).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointSettings {
    /// Requested address.
    #[serde(rename = "IPAMConfig", default)]
    pub ipam_config: Option<EndpointIpamConfig>,
    /// `--link name:alias` on this network.
    #[serde(default)]
    pub links: Option<Vec<String>>,
    /// Network-scoped aliases.
    #[serde(default)]
    pub aliases: Option<Vec<String>>,
    /// Requested / assigned MAC address.
    #[serde(default, deserialize_with = "crate::nullable")]
    pub mac_address: String,
    /// Driver options (kept).
    #[serde(default)]
    pub driver_opts: Option<BTreeMap<String, String>>,
    /// Network id.
    #[serde(rename = "NetworkID", default, deserialize_with = "crate::nullable")]
    pub network_id: String,
    /// Endpoint id (while connected).
    #[serde(rename = "EndpointID", default, deserialize_with = "crate::nullable")]
    pub endpoint_id: String,
    /// Gateway.
    #[serde(default, deserialize_with = "crate::nullable")]
    pub gateway: String,
    /// IPv4 address.
    #[serde(rename = "IPAddress", default, deserialize_with = "crate::nullable")]
    pub ip_address: String,
    /// Prefix length.
    #[serde(rename = "IPPrefixLen", default, deserialize_with = "crate::nullable")]
    pub ip_prefix_len: u8,
    /// IPv6 gateway.
    #[serde(rename = "IPv6Gateway", default, deserialize_with = "crate::nullable")]
    pub ipv6_gateway: String,
    /// IPv6 address.
    #[serde(rename = "GlobalIPv6Address", default, deserialize_with = "crate::nullable")]
    pub global_ipv6_address: String,
    /// IPv6 prefix length.
    #[serde(rename = "GlobalIPv6PrefixLen", default, deserialize_with = "crate::nullable")]
    pub global_ipv6_prefix_len: u8,
    /// Names this endpoint answers to in the embedded DNS.
    #[serde(rename = "DNSNames", default)]
    pub dns_names: Option<Vec<String>>,
}

/// `POST /networks/{id}/connect` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConnectRequest {
    /// Container name or id.
    pub container: String,
    /// Endpoint settings.
    #[serde(default)]
    pub endpoint_config: Option<EndpointSettings>,
}

/// `POST /networks/{id}/disconnect` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DisconnectRequest {
    /// Container name or id.
    pub container: String,
    /// Disconnect even when the container is gone.
    #[serde(default, deserialize_with = "crate::nullable")]
    pub force: bool,
}

/// One host binding of a published port (`HostConfig.PortBindings`, `NetworkSettings.Ports`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    /// Host address (empty: all).
    #[serde(rename = "HostIp", default, deserialize_with = "crate::nullable")]
    pub host_ip: String,
    /// Host port (empty: ephemeral); a range `8000-8010` in requests.
    #[serde(rename = "HostPort", default, deserialize_with = "crate::nullable")]
    pub host_port: String,
}
