//! Config-only networks (`docker network create --config-only`) and networks made from one
//! (`--config-from`), as dockerd has them: a config-only network holds an IPAM configuration and
//! driver options and nothing else (driver `null`, no bridge, no address pool, no containers); a
//! network made from it takes both, may give neither itself, and keeps it from being removed.

use super::{NetworkRecord, NetworkService};
use crate::service::ServiceError;
use berth_api::network::{Ipam, NetworkCreateRequest};
use std::collections::BTreeMap;

/// What a network made from a config-only one takes: its IPAM configuration, its driver options,
/// and the config-only network's name.
pub(super) type Inherited = (Ipam, BTreeMap<String, String>, Option<String>);

impl NetworkService {
    /// Records a config-only network (the caller checked its name and driver).
    pub(super) async fn create_config_only(&self, req: &NetworkCreateRequest) -> Result<NetworkRecord, ServiceError> {
        let ipam = req.ipam.clone().unwrap_or_default();
        let options = req.options.clone().unwrap_or_default();
        if let Some(m) = options.get(super::OPT_MTU) {
            m.parse::<u32>().map_err(|_| ServiceError::Invalid(format!("failed to parse {} value: {m} (strconv.Atoi: parsing {m:?}: invalid syntax)", super::OPT_MTU)))?;
        }
        let rec = NetworkRecord {
            internal: req.internal,
            attachable: req.attachable,
            labels: req.labels.clone().unwrap_or_default(),
            options,
            ipam_options: ipam.options.clone().unwrap_or_default(),
            config_only: true,
            ipam_config: ipam.config.unwrap_or_default(),
            ..NetworkRecord::new(berth_types::random_id(), &req.name, "null")
        };
        self.store(&rec)?;
        self.nets.lock().unwrap_or_else(|p| p.into_inner()).insert(rec.id.clone(), rec.clone());
        self.publish(&rec, "create", None);
        Ok(rec)
    }

    /// The IPAM configuration and options a network made from config-only network `from` gets,
    /// and that network's name.
    pub(super) fn config_of(&self, from: &str, req: &NetworkCreateRequest) -> Result<Inherited, ServiceError> {
        let own_ipam = req.ipam.as_ref().is_some_and(|i| i.config.as_ref().is_some_and(|c| !c.is_empty()) || i.options.as_ref().is_some_and(|o| !o.is_empty()));
        if own_ipam || req.options.as_ref().is_some_and(|o| !o.is_empty()) {
            return Err(ServiceError::Forbidden("user specified configurations are not supported if the network depends on a configuration network".into()));
        }
        let cfg = self
            .nets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .find(|n| n.config_only && (n.name == from || n.id == from))
            .cloned()
            .ok_or_else(|| ServiceError::NotFound(format!("configuration network {from:?} does not exist")))?;
        let ipam = Ipam { config: Some(cfg.ipam_config.clone()), options: Some(cfg.ipam_options.clone()), ..Default::default() };
        Ok((ipam, cfg.options.clone(), Some(cfg.name)))
    }

    /// Removes a config-only network no network was made from.
    pub(super) fn remove_config_only(&self, rec: &NetworkRecord) -> Result<(), ServiceError> {
        let used = self.nets.lock().unwrap_or_else(|p| p.into_inner()).values().any(|n| n.config_from == rec.name);
        if used {
            return Err(ServiceError::Forbidden(format!("error while removing network: configuration network {:?} is in use", rec.name)));
        }
        std::fs::remove_file(self.dir.join(format!("{}.json", rec.id))).map_err(|e| super::internal(format!("removing network {}: {e}", rec.name)))?;
        let _ = berth_types::persist::sync_dir(&self.dir);
        self.nets.lock().unwrap_or_else(|p| p.into_inner()).remove(&rec.id);
        self.publish(rec, "destroy", None);
        Ok(())
    }
}
