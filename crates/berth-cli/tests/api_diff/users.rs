//! `User` and `GroupAdd`: the identity and supplementary groups of a container's process and of
//! its execs, as `id` and `/proc/self/status` show them. dockerd 20.10 lists the primary group
//! first, then the user's memberships in the image's `/etc/group` (only when no group is given
//! explicitly), then `GroupAdd`; a numeric user is a uid. The image's `/etc/passwd` and
//! `/etc/group` are put into the created container with `PUT /containers/{id}/archive` first.

use crate::cases::{context, create, Case};
use crate::compare::Cmp;

const SHOW: &str = "id; grep Groups /proc/self/status";

fn etc() -> Vec<u8> {
    context(&[
        ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nalice:x:1001:1001::/home/alice:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"),
        ("etc/group", "root:x:0:\nalice:x:1001:\nstaff:x:50:alice\nextra:x:60:bob,alice\nnogroup:x:65534:\n"),
    ])
}

fn body(user: &str, group_add: &str, cmd: &str) -> String {
    format!(
        r#"{{"Image":"busybox","User":"{user}","Cmd":["sh","-c",{}],"HostConfig":{{"NetworkMode":"none","GroupAdd":{group_add}}}}}"#,
        serde_json::Value::String(cmd.into())
    )
}

/// An exec as `user` showing its identity: create (saving its id under `var`) and start.
fn exec(names: [&'static str; 2], cname: &str, var: &'static str, user: &str) -> Vec<Case> {
    let ex = format!(r#"{{"User":"{user}","Cmd":["sh","-c","{SHOW}"],"AttachStdout":true,"AttachStderr":true}}"#);
    vec![
        Case::new(names[0], "POST", &format!("/containers/{cname}/exec"), "POST /containers/{id}/exec", &["b:User"], Cmp::Shape).json(&ex).save(var, "Id"),
        Case::new(names[1], "POST", &format!("/exec/{{{var}}}/start"), "POST /exec/{id}/start", &["b:Detach"], Cmp::Frames)
            .json(r#"{"Detach":false,"Tty":false}"#)
            .upgrade(),
    ]
}

pub fn all() -> Vec<Case> {
    let put = "PUT /containers/{id}/archive";
    let mut v = vec![
        // A user from /etc/passwd with memberships in /etc/group, no group given.
        create("user-name", "ad-usr", &body("alice", "null", &format!("{SHOW}; sleep 60")), &["b:User"]),
        Case::new("user-name-etc", "PUT", "/containers/ad-usr/archive?path=/", put, &["p:id", "q:path", "b:inputStream"], Cmp::Headers)
            .bytes("application/x-tar", etc()),
        Case::new("user-name-start", "POST", "/containers/ad-usr/start", "POST /containers/{id}/start", &["b:User"], Cmp::Headers),
    ];
    v.extend(exec(["user-exec-inherit", "user-exec-inherit-start"], "ad-usr", "uex0", ""));
    v.extend(exec(["user-exec-group", "user-exec-group-start"], "ad-usr", "uex1", "alice:staff"));
    v.extend(exec(["user-exec-uid", "user-exec-uid-start"], "ad-usr", "uex2", "1001"));
    v.extend(exec(["user-exec-uid-gid", "user-exec-uid-gid-start"], "ad-usr", "uex3", "1001:1001"));
    v.extend(exec(["user-exec-unknown-uid", "user-exec-unknown-uid-start"], "ad-usr", "uex4", "1000:1000"));
    v.extend(exec(["user-exec-root", "user-exec-root-start"], "ad-usr", "uex5", "root"));
    v.extend([
        Case::new("user-name-logs", "GET", "/containers/ad-usr/logs?stdout=1&stderr=1", "GET /containers/{id}/logs", &["b:User"], Cmp::Frames),
        Case::new("user-name-rm", "DELETE", "/containers/ad-usr?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
        // uid:gid with no passwd entry, and GroupAdd (ids, a name, the primary group again).
        create("user-group-add", "ad-usr2", &body("1000:1000", r#"["5","1000","extra"]"#, SHOW), &["b:User", "b:HostConfig.GroupAdd"]),
        Case::new("user-group-add-etc", "PUT", "/containers/ad-usr2/archive?path=/", put, &["q:path"], Cmp::Headers).bytes("application/x-tar", etc()),
        Case::new("user-group-add-start", "POST", "/containers/ad-usr2/start", "POST /containers/{id}/start", &["b:HostConfig.GroupAdd"], Cmp::Headers),
        Case::new("user-group-add-wait", "POST", "/containers/ad-usr2/wait", "POST /containers/{id}/wait", &["p:id"], Cmp::Json),
        Case::new("user-group-add-logs", "GET", "/containers/ad-usr2/logs?stdout=1&stderr=1", "GET /containers/{id}/logs", &["b:HostConfig.GroupAdd"], Cmp::Frames),
        // A user name with GroupAdd: memberships and added groups together.
        create("user-name-group-add", "ad-usr3", &body("alice", r#"["extra","70"]"#, SHOW), &["b:User", "b:HostConfig.GroupAdd"]),
        Case::new("user-name-group-add-etc", "PUT", "/containers/ad-usr3/archive?path=/", put, &["q:path"], Cmp::Headers).bytes("application/x-tar", etc()),
        Case::new("user-name-group-add-start", "POST", "/containers/ad-usr3/start", "POST /containers/{id}/start", &["b:HostConfig.GroupAdd"], Cmp::Headers),
        Case::new("user-name-group-add-wait", "POST", "/containers/ad-usr3/wait", "POST /containers/{id}/wait", &["p:id"], Cmp::Json),
        Case::new("user-name-group-add-logs", "GET", "/containers/ad-usr3/logs?stdout=1&stderr=1", "GET /containers/{id}/logs", &["b:HostConfig.GroupAdd"], Cmp::Frames),
        // A group that is no group of the image, and a user that is no user of it.
        create("user-group-unknown", "ad-usr4", &body("alice:nosuch", "null", SHOW), &["b:User"]),
        Case::new("user-group-unknown-etc", "PUT", "/containers/ad-usr4/archive?path=/", put, &["q:path"], Cmp::Headers).bytes("application/x-tar", etc()),
        Case::new("user-group-unknown-start", "POST", "/containers/ad-usr4/start", "POST /containers/{id}/start", &["b:User"], Cmp::Status),
        create("user-unknown", "ad-usr5", &body("bob", "null", SHOW), &["b:User"]),
        Case::new("user-unknown-start", "POST", "/containers/ad-usr5/start", "POST /containers/{id}/start", &["b:User"], Cmp::Status),
        Case::new("user-unknown-inspect", "GET", "/containers/ad-usr5/json", "GET /containers/{id}/json", &["b:User"], Cmp::Json).pick("/State/Status"),
        Case::new("user-rm-2", "DELETE", "/containers/ad-usr2?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
        Case::new("user-rm-3", "DELETE", "/containers/ad-usr3?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
        Case::new("user-rm-4", "DELETE", "/containers/ad-usr4?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
        Case::new("user-rm-5", "DELETE", "/containers/ad-usr5?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
    ]);
    v
}
