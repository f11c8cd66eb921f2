//! A legacy link's path is a name of the linked container in dockerd: `DELETE
//! /containers/{parent}/{alias}` without `link=1` removes the linked container itself (with
//! `force` while it runs), and a path that is no link answers 404 with the path as the name.

use crate::cases::{create, Case};
use crate::compare::Cmp;

pub fn all() -> Vec<Case> {
    let del = "DELETE /containers/{id}";
    vec![
        create("linkname-target", "ad-lt", r#"{"Image":"busybox","Cmd":["sleep","60"]}"#, &["b:Cmd"]),
        Case::new("linkname-target-start", "POST", "/containers/ad-lt/start", "POST /containers/{id}/start", &["p:id"], Cmp::Headers),
        create("linkname-linker", "ad-lk", r#"{"Image":"busybox","Cmd":["sleep","60"],"HostConfig":{"Links":["ad-lt:db"]}}"#, &["b:HostConfig.Links"]),
        Case::new("linkname-linker-start", "POST", "/containers/ad-lk/start", "POST /containers/{id}/start", &["p:id"], Cmp::Headers),
        Case::new("linkname-rm-missing", "DELETE", "/containers/ad-lk/nosuch", del, &["p:id"], Cmp::Status),
        Case::new("linkname-rm", "DELETE", "/containers/ad-lk/db?force=1", del, &["p:id", "q:force"], Cmp::Headers),
        Case::new("linkname-rm-gone", "GET", "/containers/ad-lt/json", "GET /containers/{id}/json", &["p:id"], Cmp::Status),
        Case::new("linkname-linker-links", "GET", "/containers/ad-lk/json", "GET /containers/{id}/json", &["b:HostConfig.Links"], Cmp::Json).pick("/HostConfig/Links"),
        Case::new("linkname-rm-linker", "DELETE", "/containers/ad-lk?force=1", del, &["q:force"], Cmp::Headers),
    ]
}
