//! `berth network …`.

use clap::Subcommand;
#[allow(unused_imports)]
use super::*;

/// `berth network …`.
#[derive(Subcommand, Debug)]
pub enum NetworkCmd {
    /// Create a network.
    Create {
        /// Driver to manage the network.
        #[arg(short = 'd', long, default_value = "bridge")]
        driver: String,
        /// Subnet in CIDR format.
        #[arg(long)]
        subnet: Vec<String>,
        /// Gateway for the master subnet.
        #[arg(long)]
        gateway: Vec<String>,
        /// Allocate container IPs from a sub-range.
        #[arg(long = "ip-range")]
        ip_range: Vec<String>,
        /// Restrict external access to the network.
        #[arg(long)]
        internal: bool,
        /// Enable manual container attachment.
        #[arg(long)]
        attachable: bool,
        /// Driver options (com.docker.network.bridge.name=…).
        #[arg(short = 'o', long = "opt")]
        opt: Vec<String>,
        /// Network labels.
        #[arg(long)]
        label: Vec<String>,
        /// Enable IPv6 networking (needs an IPv6 --subnet).
        #[arg(long)]
        ipv6: bool,
        /// Network name.
        name: String,
    },
    /// List networks.
    #[command(alias = "list")]
    Ls {
        /// Only display network IDs.
        #[arg(short = 'q', long)]
        quiet: bool,
        /// Do not truncate the output.
        #[arg(long = "no-trunc")]
        no_trunc: bool,
        /// Filter output (driver=, name=, id=, label=, type=custom|builtin, dangling=).
        #[arg(short = 'f', long)]
        filter: Vec<String>,
        /// Format output with a Go template.
        #[arg(long)]
        format: Option<String>,
    },
    /// Display detailed information on networks.
    Inspect {
        /// Format output with a Go template.
        #[arg(short = 'f', long)]
        format: Option<String>,
        /// Networks.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove networks.
    #[command(alias = "remove")]
    Rm {
        /// Do not error if the network does not exist.
        #[arg(short = 'f', long)]
        force: bool,
        /// Networks.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove all unused networks.
    Prune {
        /// Do not prompt for confirmation.
        #[arg(short = 'f', long)]
        force: bool,
        /// Filter (until=, label=).
        #[arg(long)]
        filter: Vec<String>,
    },
    /// Connect a container to a network.
    Connect {
        /// Network-scoped alias for the container.
        #[arg(long)]
        alias: Vec<String>,
        /// IPv4 address.
        #[arg(long)]
        ip: Option<String>,
        /// IPv6 address.
        #[arg(long)]
        ip6: Option<String>,
        /// Add a link-local address for the container.
        #[arg(long = "link-local-ip")]
        link_local_ip: Vec<String>,
        /// Add link to another container.
        #[arg(long)]
        link: Vec<String>,
        /// Network.
        network: String,
        /// Container.
        container: String,
    },
    /// Disconnect a container from a network.
    Disconnect {
        /// Force the container to disconnect.
        #[arg(short = 'f', long)]
        force: bool,
        /// Network.
        network: String,
        /// Container.
        container: String,
    },
}
