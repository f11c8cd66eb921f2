//! Images beyond the basics: import's `message` and `platform` (read back from the image), a URL
//! source that cannot be reached, `docker load` of an archive in `docker save`'s layout (quiet and
//! not), and the list's `shared-size` and `manifests` at API 1.41.

use crate::cases::{enc, Case};
use crate::compare::Cmp;
use sha2::{Digest, Sha256};

fn c(name: &'static str, method: &'static str, path: &str, ep: &'static str, params: &'static [&'static str], cmp: Cmp) -> Case {
    Case::new(name, method, path, ep, params, cmp)
}

fn hex(b: &[u8]) -> String {
    Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

/// A `docker save` archive of one image, `ad-loaded:q`, whose one layer is `layer`.
fn save_archive(layer: &[u8]) -> Vec<u8> {
    let lhex = hex(layer);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{lhex}")]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "api_diff"}],
    })
    .to_string();
    let chex = hex(config.as_bytes());
    let manifest = serde_json::json!([{"Config": format!("{chex}.json"), "RepoTags": ["ad-loaded:q"], "Layers": [format!("{lhex}/layer.tar")]}]).to_string();
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, name, data).expect("tar");
    };
    add(&format!("{lhex}/layer.tar"), layer);
    add(&format!("{chex}.json"), config.as_bytes());
    add("manifest.json", manifest.as_bytes());
    b.into_inner().expect("tar")
}

pub fn all() -> Vec<Case> {
    let busybox = std::fs::read(crate::common::busybox_tarball()).expect("busybox fixture");
    // The fixture is gzipped; a saved layer is the plain tar its diff id names.
    let mut layer = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&busybox[..]), &mut layer).expect("gunzip the fixture");
    let archive = save_archive(&layer);
    let f = |j: &str| enc(j);
    vec![
        // Import with a commit message and a platform.
        c("img-import-message", "POST", "/images/create?fromSrc=-&repo=ad-imp&tag=m&message=imported%20here", "POST /images/create", &["q:message", "q:fromSrc"], Cmp::Lines)
            .bytes("application/x-tar", busybox.clone()),
        c("img-import-message-history", "GET", "/images/ad-imp:m/history", "GET /images/{name}/history", &["q:message"], Cmp::Json).pick("/0/Comment"),
        c("img-import-platform", "POST", "/images/create?fromSrc=-&repo=ad-imp&tag=arm&platform=linux/arm64", "POST /images/create", &["q:platform"], Cmp::Lines)
            .bytes("application/x-tar", busybox.clone()),
        c("img-import-platform-arch", "GET", "/images/ad-imp:arm/json", "GET /images/{name}/json", &["q:platform"], Cmp::Json).pick("/Architecture"),
        c("img-import-platform-os", "GET", "/images/ad-imp:arm/json", "GET /images/{name}/json", &["q:platform"], Cmp::Json).pick("/Os"),
        c("img-import-bad-platform", "POST", "/images/create?fromSrc=-&repo=ad-imp&tag=bad&platform=nosuch", "POST /images/create", &["q:platform"], Cmp::Status)
            .bytes("application/x-tar", busybox.clone()),
        c("img-import-windows", "POST", "/images/create?fromSrc=-&repo=ad-imp&tag=win&platform=windows/amd64", "POST /images/create", &["q:platform"], Cmp::Status)
            .bytes("application/x-tar", busybox.clone()),
        c("img-import-bad-tag", "POST", "/images/create?fromSrc=-&repo=ad-imp&tag=a:b", "POST /images/create", &["q:tag"], Cmp::Status).bytes("application/x-tar", busybox.clone()),
        c("img-import-url-unreachable", "POST", "/images/create?fromSrc=http://127.0.0.1:1/x.tar&repo=ad-imp&tag=url", "POST /images/create", &["q:fromSrc"], Cmp::Status),
        c("img-import-rm-1", "DELETE", "/images/ad-imp:m", "DELETE /images/{name}", &["p:name"], Cmp::Status),
        c("img-import-rm-2", "DELETE", "/images/ad-imp:arm", "DELETE /images/{name}", &["p:name"], Cmp::Status),
        // docker load.
        c("img-load", "POST", "/images/load", "POST /images/load", &["b:imagesTarball"], Cmp::Lines).bytes("application/x-tar", archive.clone()),
        c("img-load-quiet", "POST", "/images/load?quiet=1", "POST /images/load", &["q:quiet"], Cmp::Lines).bytes("application/x-tar", archive.clone()),
        c("img-load-quiet-0", "POST", "/images/load?quiet=0", "POST /images/load", &["q:quiet"], Cmp::Lines).bytes("application/x-tar", archive),
        c("img-load-inspect", "GET", "/images/ad-loaded:q/json", "GET /images/{name}/json", &["b:imagesTarball"], Cmp::Json).pick("/Config/Env"),
        c("img-load-quiet-bad", "POST", "/images/load?quiet=1", "POST /images/load", &["q:quiet"], Cmp::StreamError).bytes("application/x-tar", b"not a tar".to_vec()),
        // The list at API 1.41: no shared sizes, no manifests.
        c("img-list-shared-size", "GET", &format!("/images/json?shared-size=1&filters={}", f(r#"{"reference":["ad-loaded"]}"#)), "GET /images/json", &["q:shared-size"], Cmp::Json)
            .pick("/0/SharedSize"),
        c("img-list-manifests", "GET", &format!("/images/json?manifests=1&filters={}", f(r#"{"reference":["ad-loaded"]}"#)), "GET /images/json", &["q:manifests"], Cmp::Json)
            .pick("/0/Manifests"),
        c("img-list-bad-filter", "GET", &format!("/images/json?filters={}", f(r#"{"nosuch":["x"]}"#)), "GET /images/json", &["q:filters"], Cmp::Status),
        c("img-list-dangling-bad", "GET", &format!("/images/json?filters={}", f(r#"{"dangling":["maybe"]}"#)), "GET /images/json", &["q:filters"], Cmp::Status),
        c("img-list-label", "GET", &format!("/images/json?filters={}", f(r#"{"label":["nosuch"]}"#)), "GET /images/json", &["q:filters"], Cmp::Json),
        c("img-list-before", "GET", &format!("/images/json?filters={}", f(r#"{"before":["nosuch"]}"#)), "GET /images/json", &["q:filters"], Cmp::Status),
        // `type` came with API 1.42: at 1.41 every section is there.
        c("df-type", "GET", "/system/df?type=volume", "GET /system/df", &["q:type"], Cmp::Shape),
        c("img-load-rm", "DELETE", "/images/ad-loaded:q", "DELETE /images/{name}", &["p:name"], Cmp::Status),
    ]
}
