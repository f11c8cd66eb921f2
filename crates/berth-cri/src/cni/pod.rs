//! A pod's network: its pinned namespace, the `ADD` that attaches it (persisted first), the
//! `CHECK` and the `DEL` that tears it down. Blocking (plugins are child processes, namespaces
//! are mounts): called from `spawn_blocking`.

use super::chain;
use super::conf::{self, NetworkList};
use super::exec::{self, Invocation, Op};
use super::state::{Attachment, Store, FORMAT};
use super::{CniError, CniSettings};
use berth_network::netns::{NetError, NetNs};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The interface a pod gets (what kubelets and containerd use).
pub const IFNAME: &str = "eth0";

/// What a pod asks of the network.
#[derive(Debug, Clone, Default)]
pub struct PodRequest {
    /// The sandbox id.
    pub sandbox_id: String,
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
    /// The pod's UID.
    pub uid: String,
    /// The capability arguments (`portMappings`, `dns`, `bandwidth`), given to the plugins that
    /// declare them.
    pub capability_args: Map<String, Value>,
}

/// The CNI network of a daemon.
#[derive(Debug, Clone)]
pub struct PodNetwork {
    /// Where the configuration and plugins are.
    pub settings: CniSettings,
    store: Store,
    netns_dir: PathBuf,
}

impl PodNetwork {
    /// The network of the daemon with data root `root`.
    pub fn new(root: &Path, settings: CniSettings) -> PodNetwork {
        PodNetwork { settings, store: Store::new(root), netns_dir: root.join("cri/netns") }
    }

    /// The attachment records.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A fresh path for a pod's namespace (containerd's `cni-<random>`: the sandbox id is not
    /// known when the sandbox container, which names the path, is created).
    pub fn new_netns_path(&self) -> PathBuf {
        self.netns_dir.join(format!("cni-{}", &berth_types::random_id()[..16]))
    }

    /// The configuration to attach pods with, if the network is ready: a valid configuration
    /// whose plugins are all installed.
    pub fn ready(&self) -> Result<NetworkList, CniError> {
        let list = conf::load(&self.settings.conf_dir)?;
        for kind in list.types() {
            exec::find(&kind, &self.settings.bin_dirs)?;
        }
        Ok(list)
    }

    fn invocation<'a>(&'a self, op: Op, a: &'a Attachment) -> Invocation<'a> {
        Invocation { op, container_id: &a.sandbox_id, netns: &a.netns, ifname: &a.ifname, args: &a.args, path: &self.settings.bin_dirs, timeout: self.settings.timeout }
    }

    /// Makes the pod's namespace at `netns` and attaches it: the attachment is persisted before
    /// anything is made, and on failure everything is torn down again (the record stays only if
    /// that teardown failed too, for a later one to finish).
    pub fn setup(&self, req: &PodRequest, netns: &Path) -> Result<Attachment, CniError> {
        let list = self.ready()?;
        let args = [("IgnoreUnknown", "1"), ("K8S_POD_NAMESPACE", &req.namespace), ("K8S_POD_NAME", &req.name), ("K8S_POD_INFRA_CONTAINER_ID", &req.sandbox_id), ("K8S_POD_UID", &req.uid)]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut a = Attachment {
            format: FORMAT,
            sandbox_id: req.sandbox_id.clone(),
            netns: netns.to_path_buf(),
            ifname: IFNAME.into(),
            args,
            capability_args: req.capability_args.clone(),
            source: list.source.clone(),
            network: list.raw.clone(),
            result: None,
        };
        self.store.save(&a)?;
        // Each plugin's result is saved as it comes (see chain::add), the last one is the pod's.
        let mut partial = a.clone();
        let added = NetNs::create(netns).map_err(CniError::from).and_then(|_| {
            chain::add(&list, &self.invocation(Op::Add, &a), &a.capability_args, &mut |r| {
                partial.result = Some(r.clone());
                self.store.save(&partial)
            })
        });
        a.result = partial.result;
        let saved = added.map(|_| ());
        if let Err(e) = saved {
            // The spec asks a runtime to DEL after a failed ADD: plugins before the failing one
            // may hold addresses and rules.
            if let Err(error) = self.teardown(&a) {
                tracing::warn!(sandbox.id = %a.sandbox_id, %error, "tearing down a failed pod network attach failed; retried at the next stop, remove or daemon start");
            }
            return Err(e);
        }
        tracing::info!(sandbox.id = %a.sandbox_id, network = %list.name(), ips = ?self::ips(&a), "pod network attached");
        Ok(a)
    }

    /// `CHECK` on an attached pod.
    pub fn check(&self, a: &Attachment) -> Result<(), CniError> {
        let Some(result) = &a.result else { return Ok(()) };
        chain::check(&a.list()?, &self.invocation(Op::Check, a), &a.capability_args, result)
    }

    /// `DEL` with what the `ADD` used, then the namespace and the record go. Repeatable.
    pub fn teardown(&self, a: &Attachment) -> Result<(), CniError> {
        // A namespace file left unmounted (a daemon killed inside NetNs::create) is no namespace
        // a plugin could enter; without it they release what they hold by the container id.
        if a.netns.exists() && matches!(NetNs::open(&a.netns), Err(NetError::NotNetns { .. })) {
            NetNs::remove(&a.netns)?;
        }
        chain::del(&a.list()?, &self.invocation(Op::Del, a), &a.capability_args, a.result.as_ref())?;
        NetNs::remove(&a.netns)?;
        self.store.remove(&a.sandbox_id)?;
        tracing::info!(sandbox.id = %a.sandbox_id, "pod network detached");
        Ok(())
    }

    /// Tears down `sandbox_id`'s attachment, if it has one; whether it had.
    pub fn teardown_id(&self, sandbox_id: &str) -> Result<bool, CniError> {
        match self.store.get(sandbox_id)? {
            Some(a) => self.teardown(&a).map(|()| true),
            None => Ok(false),
        }
    }
}

/// The pod's addresses in an attachment's result (the pod IP first).
pub fn ips(a: &Attachment) -> Vec<String> {
    a.result.as_ref().map(|r| super::result::pod_ips(r, &a.ifname)).unwrap_or_default()
}
