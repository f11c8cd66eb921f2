//! Legacy links (`--link`, HostConfig.Links) on the default bridge: the linking container's
//! `/etc/hosts` line for the linked one and the `ALIAS_…` environment variables dockerd sets (the
//! linked container's exposed ports, contiguous ranges, its name and environment), the refusals
//! (a missing container at create, a stopped one at start), and removing a link
//! (`DELETE /containers/{id}/{alias}?link=1`).

use crate::cases::{create, Case};
use crate::compare::Cmp;

pub fn all() -> Vec<Case> {
    let linked = r#"{"Image":"busybox","Cmd":["sleep","60"],"Env":["SECRET=s3","PATH=/bin","WITH_EQ=a=b"],
        "ExposedPorts":{"80/tcp":{},"53/udp":{},"8080/tcp":{},"8081/tcp":{},"8082/tcp":{}}}"#;
    let linker = r#"{"Image":"busybox","Cmd":["sh","-c","grep -v -e localhost -e ip6- /etc/hosts | sort; env | sort"],"Env":["OWN=1","DB_NAME=mine"],
        "HostConfig":{"Links":["ad-linked:db","ad-linked2"]}}"#;
    vec![
        create("link-target", "ad-linked", linked, &["b:ExposedPorts", "b:Env"]),
        Case::new("link-target-start", "POST", "/containers/ad-linked/start", "POST /containers/{id}/start", &["p:id"], Cmp::Headers),
        create("link-target2", "ad-linked2", r#"{"Image":"busybox","Cmd":["sleep","60"]}"#, &["b:Cmd"]),
        Case::new("link-target2-start", "POST", "/containers/ad-linked2/start", "POST /containers/{id}/start", &["p:id"], Cmp::Headers),
        create("link", "ad-linker", linker, &["b:HostConfig.Links"]),
        Case::new("link-start", "POST", "/containers/ad-linker/start", "POST /containers/{id}/start", &["b:HostConfig.Links"], Cmp::Headers),
        Case::new("link-wait", "POST", "/containers/ad-linker/wait", "POST /containers/{id}/wait", &["p:id"], Cmp::Json),
        Case::new("link-logs", "GET", "/containers/ad-linker/logs?stdout=1&stderr=1", "GET /containers/{id}/logs", &["b:HostConfig.Links"], Cmp::Frames),
        Case::new("link-remove", "DELETE", "/containers/ad-linker/db?link=1", "DELETE /containers/{id}", &["q:link"], Cmp::Status),
        Case::new("link-remove-inspect", "GET", "/containers/ad-linker/json", "GET /containers/{id}/json", &["q:link"], Cmp::Json).pick("/HostConfig/Links"),
        Case::new("link-remove-own-name", "DELETE", "/containers/ad-linker?link=1", "DELETE /containers/{id}", &["q:link"], Cmp::Status),
        Case::new("link-remove-missing", "DELETE", "/containers/ad-linker/nosuch?link=1", "DELETE /containers/{id}", &["q:link"], Cmp::Status),
        Case::new("link-missing", "POST", "/containers/create", "POST /containers/create", &["b:HostConfig.Links"], Cmp::Status)
            .json(r#"{"Image":"busybox","HostConfig":{"Links":["nosuch:db"]}}"#),
        Case::new("link-host-network", "POST", "/containers/create", "POST /containers/create", &["b:HostConfig.Links"], Cmp::Status)
            .json(r#"{"Image":"busybox","HostConfig":{"NetworkMode":"host","Links":["ad-linked:db"]}}"#),
        Case::new("link-target-stop", "POST", "/containers/ad-linked2/stop?t=0", "POST /containers/{id}/stop", &["p:id"], Cmp::Headers),
        create("link-stopped", "ad-linker2", r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"Links":["ad-linked2:x"]}}"#, &["b:HostConfig.Links"]),
        Case::new("link-stopped-start", "POST", "/containers/ad-linker2/start", "POST /containers/{id}/start", &["b:HostConfig.Links"], Cmp::Status),
        Case::new("link-rm-1", "DELETE", "/containers/ad-linker2?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
        Case::new("link-rm-2", "DELETE", "/containers/ad-linker?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
        Case::new("link-rm-3", "DELETE", "/containers/ad-linked?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
        Case::new("link-rm-4", "DELETE", "/containers/ad-linked2?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
    ]
}
