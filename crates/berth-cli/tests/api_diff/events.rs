//! `GET /events` over a window of the past: `since`/`until` taken from the moments two marker
//! requests answered (so the stream ends on its own), narrowed by filters, and the refusals of bad
//! values.

use crate::cases::{create, enc, Case};
use crate::compare::Cmp;

fn ev(name: &'static str, query: &str, params: &'static [&'static str], cmp: Cmp) -> Case {
    Case::new(name, "GET", &format!("/events?{query}"), "GET /events", params, cmp)
}

pub fn all() -> Vec<Case> {
    let f = |j: &str| enc(j);
    let window = "since={evsince}&until={evuntil}";
    // A second passes before and after the events, so whole-second bounds cut the same on both.
    let tick = |names: [&'static str; 4], cname: &'static str| {
        vec![
            create(names[0], cname, r#"{"Image":"busybox","Cmd":["sleep","1.1"],"HostConfig":{"NetworkMode":"none"}}"#, &["b:Cmd"]),
            Case::new(names[1], "POST", &format!("/containers/{cname}/start"), "POST /containers/{id}/start", &["p:id"], Cmp::Headers),
            Case::new(names[2], "POST", &format!("/containers/{cname}/wait"), "POST /containers/{id}/wait", &["p:id"], Cmp::Status),
            Case::new(names[3], "DELETE", &format!("/containers/{cname}"), "DELETE /containers/{id}", &["p:id"], Cmp::Status),
        ]
    };
    let mut v = tick(["ev-tick1", "ev-tick1-start", "ev-tick1-wait", "ev-tick1-rm"], "ad-evt1");
    v.extend([
        // The window's bounds: the moments two pings answered (the API takes Unix times).
        Case::new("ev-mark1", "GET", "/_ping", "GET /_ping", &[], Cmp::Status).save("evsince", "@now"),
        Case::new("ev-vol", "POST", "/volumes/create", "POST /volumes/create", &["b:Name", "b:Labels"], Cmp::Status).json(r#"{"Name":"ad-ev1","Labels":{"ev":"vol"}}"#),
        Case::new("ev-vol-rm", "DELETE", "/volumes/ad-ev1", "DELETE /volumes/{name}", &["p:name"], Cmp::Status),
        create("ev-run", "ad-evr", r#"{"Image":"busybox","Cmd":["true"],"Labels":{"ev":"run"},"HostConfig":{"NetworkMode":"none"}}"#, &["b:Labels"]),
        Case::new("ev-run-start", "POST", "/containers/ad-evr/start", "POST /containers/{id}/start", &["p:id"], Cmp::Headers),
        Case::new("ev-run-wait", "POST", "/containers/ad-evr/wait", "POST /containers/{id}/wait", &["p:id"], Cmp::Json),
        Case::new("ev-run-rm", "DELETE", "/containers/ad-evr", "DELETE /containers/{id}", &["p:id"], Cmp::Headers),
        Case::new("ev-tag", "POST", "/images/busybox/tag?repo=ad-evimg&tag=t", "POST /images/{name}/tag", &["q:repo"], Cmp::Headers),
        Case::new("ev-untag", "DELETE", "/images/ad-evimg:t", "DELETE /images/{name}", &["p:name"], Cmp::Status),
    ]);
    v.extend(tick(["ev-tick2", "ev-tick2-start", "ev-tick2-wait", "ev-tick2-rm"], "ad-evt2"));
    v.push(Case::new("ev-mark2", "GET", "/_ping", "GET /_ping", &[], Cmp::Status).save("evuntil", "@now"));
    v.extend([
        // The window, whole and by filter.
        ev("ev-window-volume", &format!("{window}&filters={}", f(r#"{"type":["volume"]}"#)), &["q:since", "q:until", "q:filters"], Cmp::Lines),
        ev("ev-window-container", &format!("{window}&filters={}", f(r#"{"container":["ad-evr"]}"#)), &["q:since", "q:until", "q:filters"], Cmp::Lines),
        ev("ev-window-event", &format!("{window}&filters={}", f(r#"{"type":["container"],"event":["start","die"],"label":["ev"]}"#)), &["q:filters"], Cmp::Lines),
        ev("ev-window-label", &format!("{window}&filters={}", f(r#"{"label":["ev=run"]}"#)), &["q:filters"], Cmp::Lines),
        ev("ev-window-image", &format!("{window}&filters={}", f(r#"{"type":["image"]}"#)), &["q:filters"], Cmp::Lines),
        ev("ev-window-image-name", &format!("{window}&filters={}", f(r#"{"image":["ad-evimg:t"]}"#)), &["q:filters"], Cmp::Lines),
        ev("ev-window-volume-name", &format!("{window}&filters={}", f(r#"{"volume":["ad-ev1"],"event":["destroy"]}"#)), &["q:filters"], Cmp::Lines),
        ev("ev-window-scope", &format!("{window}&filters={}", f(r#"{"scope":["local"],"type":["volume"]}"#)), &["q:filters"], Cmp::Lines),
        ev("ev-window-scope-swarm", &format!("{window}&filters={}", f(r#"{"scope":["swarm"]}"#)), &["q:filters"], Cmp::Lines),
        ev("ev-window-rfc3339", &format!("since=2000-01-01T00:00:00Z&until={{evuntil}}&filters={}", f(r#"{"volume":["ad-ev1"]}"#)), &["q:since"], Cmp::Status),
        ev("ev-window-unix", &format!("since=0&until={{evuntil}}&filters={}", f(r#"{"volume":["ad-ev1"]}"#)), &["q:since", "q:until"], Cmp::Lines),
        // Refusals.
        ev("ev-bad-filter", &format!("until=1&filters={}", f(r#"{"nosuch":["x"]}"#)), &["q:filters"], Cmp::Status),
        ev("ev-bad-type", &format!("until=1&filters={}", f(r#"{"type":["nosuch"]}"#)), &["q:filters"], Cmp::Status),
        ev("ev-bad-json", "until=1&filters=nojson", &["q:filters"], Cmp::Status),
        ev("ev-bad-since", "since=yesterday&until=1", &["q:since"], Cmp::Status),
        ev("ev-bad-until", "until=soon", &["q:until"], Cmp::Status),
        ev("ev-until-before-since", "since=100&until=50", &["q:since", "q:until"], Cmp::Status),
    ]);
    v
}
