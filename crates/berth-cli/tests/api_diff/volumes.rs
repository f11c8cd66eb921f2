//! Volumes beyond the basics: the local driver's options (a tmpfs volume, read back from inside a
//! container that mounts it), unknown drivers and options, removing with `force`, and prune filters.

use crate::cases::{enc, Case};
use crate::compare::Cmp;

fn c(name: &'static str, method: &'static str, path: &str, ep: &'static str, params: &'static [&'static str], cmp: Cmp) -> Case {
    Case::new(name, method, path, ep, params, cmp)
}

const CREATE: &str = "POST /volumes/create";

pub fn all() -> Vec<Case> {
    let f = |j: &str| enc(j);
    vec![
        c("vol-create-tmpfs", "POST", "/volumes/create", CREATE, &["b:Driver", "b:DriverOpts"], Cmp::Json)
            .json(r#"{"Name":"ad-vt","Driver":"local","DriverOpts":{"type":"tmpfs","device":"tmpfs","o":"size=1m,uid=1000"}}"#),
        c("vol-create-again", "POST", "/volumes/create", CREATE, &["b:DriverOpts"], Cmp::Status)
            .json(r#"{"Name":"ad-vt","Driver":"local","DriverOpts":{"type":"tmpfs","device":"tmpfs","o":"size=2m"}}"#),
        crate::cases::create(
            "vol-tmpfs-run",
            "ad-vtc",
            r#"{"Image":"busybox","Cmd":["sh","-c","grep ' /data ' /proc/mounts | awk '{print $1, $3}'; stat -c %u /data; df -k /data | tail -1 | awk '{print $2}'"],"HostConfig":{"NetworkMode":"none","Binds":["ad-vt:/data"]}}"#,
            &["b:DriverOpts"],
        ),
        c("vol-tmpfs-start", "POST", "/containers/ad-vtc/start", "POST /containers/{id}/start", &["b:DriverOpts"], Cmp::Headers),
        c("vol-tmpfs-wait", "POST", "/containers/ad-vtc/wait", "POST /containers/{id}/wait", &["p:id"], Cmp::Json),
        c("vol-tmpfs-logs", "GET", "/containers/ad-vtc/logs?stdout=1&stderr=1", "GET /containers/{id}/logs", &["b:DriverOpts"], Cmp::Frames),
        // In use: refused, also with force.
        c("vol-delete-used", "DELETE", "/volumes/ad-vt", "DELETE /volumes/{name}", &["p:name"], Cmp::Status),
        c("vol-delete-used-force", "DELETE", "/volumes/ad-vt?force=1", "DELETE /volumes/{name}", &["q:force"], Cmp::Status),
        c("vol-tmpfs-rm", "DELETE", "/containers/ad-vtc", "DELETE /containers/{id}", &["p:id"], Cmp::Headers),
        c("vol-delete-force", "DELETE", "/volumes/ad-vt?force=true", "DELETE /volumes/{name}", &["q:force"], Cmp::Status),
        c("vol-delete-missing-force", "DELETE", "/volumes/ad-vt?force=1", "DELETE /volumes/{name}", &["q:force"], Cmp::Status),
        c("vol-delete-bad-force", "DELETE", "/volumes/ad-vt?force=maybe", "DELETE /volumes/{name}", &["q:force"], Cmp::Status),
        // Bad create requests.
        c("vol-create-bad-driver", "POST", "/volumes/create", CREATE, &["b:Driver"], Cmp::Status).json(r#"{"Name":"ad-vbad","Driver":"nosuch"}"#),
        c("vol-create-bad-opt", "POST", "/volumes/create", CREATE, &["b:DriverOpts"], Cmp::Status).json(r#"{"Name":"ad-vbad","DriverOpts":{"nosuch":"x"}}"#),
        c("vol-create-bad-name", "POST", "/volumes/create", CREATE, &["b:Name"], Cmp::Status).json(r#"{"Name":"a/b"}"#),
        c("vol-create-bad-json", "POST", "/volumes/create", CREATE, &["b:Name"], Cmp::Status).json("{"),
        c("vol-create-anon", "POST", "/volumes/create", CREATE, &["b:Name"], Cmp::Json).json("{}").ignore(&["Name", "Mountpoint"]).save("anonvol", "Name"),
        c("vol-create-anon-rm", "DELETE", "/volumes/{anonvol}", "DELETE /volumes/{name}", &["p:name"], Cmp::Status),
        // Prune filters (at API 1.41 prune takes named volumes too).
        c("vol-prune-a", "POST", "/volumes/create", CREATE, &["b:Labels"], Cmp::Status).json(r#"{"Name":"ad-vp1","Labels":{"prune":"yes"}}"#),
        c("vol-prune-b", "POST", "/volumes/create", CREATE, &["b:Labels"], Cmp::Status).json(r#"{"Name":"ad-vp2","Labels":{"prune":"no"}}"#),
        c("vol-prune-c", "POST", "/volumes/create", CREATE, &["b:Labels"], Cmp::Status).json(r#"{"Name":"ad-vp3"}"#),
        c("vol-prune-label", "POST", &format!("/volumes/prune?filters={}", f(r#"{"label":["prune=yes"]}"#)), "POST /volumes/prune", &["q:filters"], Cmp::Json),
        c("vol-prune-label-not", "POST", &format!("/volumes/prune?filters={}", f(r#"{"label!":["prune=no"],"label":["prune"]}"#)), "POST /volumes/prune", &["q:filters"], Cmp::Json),
        c("vol-prune-bad-filter", "POST", &format!("/volumes/prune?filters={}", f(r#"{"nosuch":["x"]}"#)), "POST /volumes/prune", &["q:filters"], Cmp::Status),
        c("vol-prune-until", "POST", &format!("/volumes/prune?filters={}", f(r#"{"until":["1h"]}"#)), "POST /volumes/prune", &["q:filters"], Cmp::Status),
        // One query per volume: both daemons list volumes in map order (dockerd's differs from run
        // to run), so a list of the two is compared item by item only when each holds one.
        c("vol-prune-left-2", "GET", &format!("/volumes?filters={}", f(r#"{"name":["ad-vp2"]}"#)), "GET /volumes", &["q:filters"], Cmp::Json).ignore(&["Mountpoint"]),
        c("vol-prune-left-3", "GET", &format!("/volumes?filters={}", f(r#"{"name":["ad-vp3"]}"#)), "GET /volumes", &["q:filters"], Cmp::Json).ignore(&["Mountpoint"]),
        c("vol-prune-rm-2", "DELETE", "/volumes/ad-vp2", "DELETE /volumes/{name}", &["p:name"], Cmp::Status),
        c("vol-prune-rm-3", "DELETE", "/volumes/ad-vp3", "DELETE /volumes/{name}", &["p:name"], Cmp::Status),
    ]
}
