//! The Engine API's JSON request bodies (container create with its config and host config, update,
//! exec, networks, volumes) and the units and versions they carry. Whatever the daemon accepts it
//! persists and reads back at its next start, so an accepted body must survive serialise → parse.
#![no_main]

use berth_api::container::CreateRequest;
use berth_api::network::{ConnectRequest, DisconnectRequest, NetworkCreateRequest};
use berth_api::units::{parse_duration_ns, parse_ram_bytes};
use berth_api::version::ApiVersion;
use berth_api::volume::VolumeCreateRequest;
use berth_daemon::service::containers::{ExecRequest, UpdateRequest};
use libfuzzer_sys::fuzz_target;
use serde::{de::DeserializeOwned, Serialize};

/// Parses `body` as `T`; if it parses, its serialisation must parse to the same serialisation.
fn round_trip<T: Serialize + DeserializeOwned>(body: &[u8]) {
    let Ok(v) = serde_json::from_slice::<T>(body) else { return };
    let once = serde_json::to_value(&v).expect("serialise");
    let back: T = serde_json::from_value(once.clone()).unwrap_or_else(|e| panic!("re-parse {once}: {e}"));
    assert_eq!(serde_json::to_value(&back).expect("serialise"), once, "round trip");
}

fuzz_target!(|data: &[u8]| {
    round_trip::<CreateRequest>(data);
    round_trip::<NetworkCreateRequest>(data);
    round_trip::<ConnectRequest>(data);
    round_trip::<DisconnectRequest>(data);
    round_trip::<VolumeCreateRequest>(data);
    let _ = serde_json::from_slice::<UpdateRequest>(data);
    let _ = serde_json::from_slice::<ExecRequest>(data);
    if let Ok(s) = std::str::from_utf8(data) {
        for word in s.split([' ', '\n', '"', ',']) {
            let _ = parse_duration_ns(word);
            let _ = parse_ram_bytes(word);
            if let Some(v) = ApiVersion::parse(word) {
                assert_eq!(ApiVersion::parse(&v.to_string()), Some(v));
            }
        }
    }
});
