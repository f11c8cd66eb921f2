//! The request sequence sent to both daemons, in order. Each case names the swagger endpoint and the
//! parameters it exercises (`q:` query, `p:` path, `h:` header, `b:` body field), which is what the
//! coverage table in docs/API-COVERAGE.md is computed from.

use crate::compare::Cmp;
use crate::wire::WsStep;

/// A request body.
pub enum Body {
    None,
    Json(String),
    Bytes(&'static str, Vec<u8>),
}

/// What a Berth-only case (a feature dockerd 20.10 lacks, checked against the v1.47 swagger) expects.
pub struct Expect {
    pub status: u16,
    pub contains: &'static str,
}

/// One request, sent to dockerd and to Berth.
pub struct Case {
    pub name: &'static str,
    pub method: &'static str,
    /// With `{var}` placeholders: values saved by earlier cases, or per-side (`{subnet}`).
    pub path: String,
    pub body: Body,
    /// The swagger endpoint, `METHOD /path/{template}`.
    pub ep: &'static str,
    pub params: &'static [&'static str],
    pub cmp: Cmp,
    pub ignore: &'static [&'static str],
    /// Saves a JSON field of the response under a variable name (`@now`: the moment it answered).
    pub save: Option<(&'static str, &'static str)>,
    /// Sent to Berth only and checked against the swagger.
    pub berth_only: Option<Expect>,
    /// Asks to upgrade the connection (hijacked streams).
    pub upgrade: bool,
    /// A WebSocket exchange instead of a plain request: the response body is its transcript.
    pub ws: Option<&'static [WsStep]>,
    /// Compares only this part of the JSON body (a JSON pointer).
    pub pick: Option<&'static str>,
}

impl Case {
    pub fn new(name: &'static str, method: &'static str, path: &str, ep: &'static str, params: &'static [&'static str], cmp: Cmp) -> Case {
        Case { name, method, path: path.to_string(), body: Body::None, ep, params, cmp, ignore: &[], save: None, berth_only: None, upgrade: false, ws: None, pick: None }
    }
    pub fn json(mut self, body: &str) -> Case {
        self.body = Body::Json(body.to_string());
        self
    }
    pub fn bytes(mut self, ctype: &'static str, body: Vec<u8>) -> Case {
        self.body = Body::Bytes(ctype, body);
        self
    }
    pub fn ignore(mut self, keys: &'static [&'static str]) -> Case {
        self.ignore = keys;
        self
    }
    pub fn save(mut self, var: &'static str, field: &'static str) -> Case {
        self.save = Some((var, field));
        self
    }
    pub fn upgrade(mut self) -> Case {
        self.upgrade = true;
        self
    }
    pub fn pick(mut self, pointer: &'static str) -> Case {
        self.pick = Some(pointer);
        self
    }
    pub fn ws(mut self, steps: &'static [WsStep]) -> Case {
        self.ws = Some(steps);
        self
    }
    pub fn berth_only(mut self, status: u16, contains: &'static str) -> Case {
        self.berth_only = Some(Expect { status, contains });
        self
    }
}

/// Percent-encodes a query value.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A build context: a tar of `(name, content)` files.
pub fn context(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, name, data.as_bytes()).expect("tar");
    }
    b.into_inner().expect("tar")
}

pub fn create(name: &'static str, cname: &str, body: &str, params: &'static [&'static str]) -> Case {
    Case::new(name, "POST", &format!("/containers/create?name={cname}"), "POST /containers/create", params, Cmp::Json).json(body)
}

/// A container that runs `cmd` with `host_config` (JSON object body) and no network.
pub fn run_body(cmd: &str, host_config: &str) -> String {
    let hc = if host_config.is_empty() { r#""NetworkMode":"none""#.to_string() } else { format!(r#""NetworkMode":"none",{host_config}"#) };
    format!(r#"{{"Image":"busybox","Cmd":["sh","-c",{}],"HostConfig":{{{hc}}}}}"#, serde_json::Value::String(cmd.into()))
}

/// Every case, in the order they run.
pub fn all(busybox: Vec<u8>) -> Vec<Case> {
    let f = |j: &str| enc(j);
    let mut v = vec![
        // System.
        Case::new("ping", "GET", "/_ping", "GET /_ping", &[], Cmp::Text),
        Case::new("ping-head", "HEAD", "/_ping", "HEAD /_ping", &[], Cmp::Text),
        Case::new("version", "GET", "/version", "GET /version", &[], Cmp::Shape),
        Case::new("info", "GET", "/info", "GET /info", &[], Cmp::Shape),
        Case::new("unknown-path", "GET", "/nosuch", "", &[], Cmp::Status),
        // Images.
        Case::new(
            "import",
            "POST",
            &format!("/images/create?fromSrc=-&repo=busybox&tag=latest&changes={}", enc("CMD [\"/bin/sh\"]")),
            "POST /images/create",
            &["q:fromSrc", "q:repo", "q:tag", "q:changes", "b:inputImage"],
            Cmp::Lines,
        )
        .bytes("application/x-tar", busybox),
        Case::new("image-list", "GET", "/images/json", "GET /images/json", &[], Cmp::Shape),
        Case::new(
            "image-list-filtered",
            "GET",
            &format!("/images/json?all=1&digests=1&filters={}", f(r#"{"reference":["busybox"]}"#)),
            "GET /images/json",
            &["q:all", "q:filters", "q:digests"],
            Cmp::Shape,
        ),
        Case::new("image-inspect", "GET", "/images/busybox/json", "GET /images/{name}/json", &["p:name"], Cmp::Shape),
        Case::new("image-inspect-missing", "GET", "/images/nosuch/json", "GET /images/{name}/json", &["p:name"], Cmp::Status),
        Case::new("image-history", "GET", "/images/busybox/history", "GET /images/{name}/history", &["p:name"], Cmp::Shape),
        Case::new("image-tag", "POST", "/images/busybox/tag?repo=ad-tagged&tag=x", "POST /images/{name}/tag", &["p:name", "q:repo", "q:tag"], Cmp::Headers),
        Case::new("image-tag-bad", "POST", "/images/busybox/tag?repo=UPPER&tag=x", "POST /images/{name}/tag", &["q:repo"], Cmp::Status),
        Case::new("image-delete", "DELETE", "/images/ad-tagged:x", "DELETE /images/{name}", &["p:name"], Cmp::Json),
        Case::new("image-delete-missing", "DELETE", "/images/ad-tagged:x?force=1&noprune=1", "DELETE /images/{name}", &["q:force", "q:noprune"], Cmp::Status),
        Case::new("pull-bad-reference", "POST", "/images/create?fromImage=UPPER&tag=latest", "POST /images/create", &["q:fromImage"], Cmp::Status),
        // Resolution fails before anything streams (nothing listens on port 1): an HTTP error.
        Case::new("pull-unreachable", "POST", "/images/create?fromImage=127.0.0.1:1/nosuch&tag=latest", "POST /images/create", &["q:fromImage", "q:tag"], Cmp::Headers),
        Case::new("load-not-an-archive", "POST", "/images/load", "POST /images/load", &["b:imagesTarball"], Cmp::StreamError)
            .bytes("application/x-tar", b"hello, not a tar".to_vec()),
        Case::new("save", "GET", "/images/busybox/get", "GET /images/{name}/get", &["p:name"], Cmp::Headers),
        Case::new("save-several", "GET", "/images/get?names=busybox", "GET /images/get", &["q:names"], Cmp::Headers),
        Case::new("image-prune", "POST", &format!("/images/prune?filters={}", f(r#"{"dangling":["true"]}"#)), "POST /images/prune", &["q:filters"], Cmp::Json),
        // Containers: create, inspect, list, start, wait, logs.
        create("create", "ad-c1", &run_body("echo out; echo err >&2", ""), &["q:name", "b:Image", "b:Cmd", "b:HostConfig.NetworkMode"]),
        create("create-conflict", "ad-c1", &run_body("true", ""), &["q:name"]).ignore(&[]),
        Case::new("create-bad-name", "POST", "/containers/create?name=-bad", "POST /containers/create", &["q:name"], Cmp::Status).json(&run_body("true", "")),
        Case::new("create-no-image", "POST", "/containers/create", "POST /containers/create", &["b:Image"], Cmp::Status)
            .json(r#"{"Image":"nosuch:latest"}"#),
        Case::new("inspect", "GET", "/containers/ad-c1/json", "GET /containers/{id}/json", &["p:id"], Cmp::Shape),
        Case::new("inspect-size", "GET", "/containers/ad-c1/json?size=1", "GET /containers/{id}/json", &["q:size"], Cmp::Shape),
        Case::new("inspect-missing", "GET", "/containers/nosuch/json", "GET /containers/{id}/json", &["p:id"], Cmp::Status),
        Case::new(
            "list",
            "GET",
            &format!("/containers/json?all=1&size=1&limit=5&filters={}", f(r#"{"name":["ad-c1"]}"#)),
            "GET /containers/json",
            &["q:all", "q:size", "q:limit", "q:filters"],
            Cmp::Shape,
        ),
        Case::new("start", "POST", "/containers/ad-c1/start", "POST /containers/{id}/start", &["p:id"], Cmp::Headers),
        Case::new("wait", "POST", "/containers/ad-c1/wait", "POST /containers/{id}/wait", &["p:id"], Cmp::Json),
        Case::new("wait-condition", "POST", "/containers/ad-c1/wait?condition=not-running", "POST /containers/{id}/wait", &["q:condition"], Cmp::Json),
        Case::new("logs", "GET", "/containers/ad-c1/logs?stdout=1&stderr=1", "GET /containers/{id}/logs", &["q:stdout", "q:stderr"], Cmp::Frames),
        Case::new("logs-stdout", "GET", "/containers/ad-c1/logs?stdout=1&tail=2", "GET /containers/{id}/logs", &["q:tail"], Cmp::Frames),
        Case::new("logs-timestamps", "GET", "/containers/ad-c1/logs?stderr=1&timestamps=1&since=0", "GET /containers/{id}/logs", &["q:timestamps", "q:since"], Cmp::Frames),
        Case::new("changes", "GET", "/containers/ad-c1/changes", "GET /containers/{id}/changes", &["p:id"], Cmp::Json),
        Case::new("export", "GET", "/containers/ad-c1/export", "GET /containers/{id}/export", &["p:id"], Cmp::Headers),
        Case::new("archive-head", "HEAD", "/containers/ad-c1/archive?path=/etc/passwd", "HEAD /containers/{id}/archive", &["q:path"], Cmp::Status),
        Case::new("archive-get-missing", "GET", "/containers/ad-c1/archive?path=/nosuch", "GET /containers/{id}/archive", &["q:path"], Cmp::Status),
        Case::new("rename", "POST", "/containers/ad-c1/rename?name=ad-c1b", "POST /containers/{id}/rename", &["q:name"], Cmp::Headers),
        Case::new("commit", "POST", "/commit?container=ad-c1b&repo=ad-commit&tag=t&comment=c&author=a", "POST /commit", &["q:container", "q:repo", "q:tag", "q:comment", "q:author"], Cmp::Json)
            .json("{}"),
        Case::new("kill-stopped", "POST", "/containers/ad-c1b/kill", "POST /containers/{id}/kill", &["p:id"], Cmp::Status),
        // A running container.
        create("create-sleeper", "ad-c2", &run_body("sleep 60", ""), &["b:Cmd"]),
        Case::new("start-sleeper", "POST", "/containers/ad-c2/start", "POST /containers/{id}/start", &["p:id"], Cmp::Headers),
        Case::new("start-again", "POST", "/containers/ad-c2/start", "POST /containers/{id}/start", &["p:id"], Cmp::Status),
        Case::new("top", "GET", "/containers/ad-c2/top", "GET /containers/{id}/top", &["p:id"], Cmp::Shape),
        Case::new("top-ps-args", "GET", &format!("/containers/ad-c2/top?ps_args={}", enc("-o pid,comm")), "GET /containers/{id}/top", &["q:ps_args"], Cmp::Shape),
        Case::new("top-titles", "GET", "/containers/ad-c2/top", "GET /containers/{id}/top", &["p:id"], Cmp::Json).pick("/Titles"),
        Case::new("top-ps-args-titles", "GET", &format!("/containers/ad-c2/top?ps_args={}", enc("-o pid,comm")), "GET /containers/{id}/top", &["q:ps_args"], Cmp::Json).pick("/Titles"),
        Case::new("stats-once", "GET", "/containers/ad-c2/stats?stream=0&one-shot=1", "GET /containers/{id}/stats", &["q:stream", "q:one-shot"], Cmp::Status),
        Case::new("exec-create", "POST", "/containers/ad-c2/exec", "POST /containers/{id}/exec", &["b:Cmd", "b:AttachStdout", "b:AttachStderr"], Cmp::Shape)
            .json(r#"{"Cmd":["sh","-c","echo exec-out; echo exec-err >&2"],"AttachStdout":true,"AttachStderr":true}"#)
            .save("exec", "Id"),
        Case::new("exec-start", "POST", "/exec/{exec}/start", "POST /exec/{id}/start", &["b:Detach", "b:Tty"], Cmp::Frames).json(r#"{"Detach":false,"Tty":false}"#).upgrade(),
        Case::new("exec-create-2", "POST", "/containers/ad-c2/exec", "POST /containers/{id}/exec", &["b:Cmd", "b:AttachStdout"], Cmp::Shape)
            .json(r#"{"Cmd":["echo","no-upgrade"],"AttachStdout":true}"#)
            .save("exec2", "Id"),
        Case::new("exec-start-no-upgrade", "POST", "/exec/{exec2}/start", "POST /exec/{id}/start", &["b:Detach"], Cmp::Frames).json(r#"{"Detach":false}"#),
        Case::new("exec-inspect", "GET", "/exec/{exec}/json", "GET /exec/{id}/json", &["p:id"], Cmp::Shape),
        Case::new("exec-missing", "GET", "/exec/nosuch/json", "GET /exec/{id}/json", &["p:id"], Cmp::Status),
        Case::new("pause", "POST", "/containers/ad-c2/pause", "POST /containers/{id}/pause", &["p:id"], Cmp::Headers),
        Case::new("exec-paused", "POST", "/containers/ad-c2/exec", "POST /containers/{id}/exec", &["p:id"], Cmp::Status).json(r#"{"Cmd":["true"]}"#),
        Case::new("unpause", "POST", "/containers/ad-c2/unpause", "POST /containers/{id}/unpause", &["p:id"], Cmp::Headers),
        Case::new("update", "POST", "/containers/ad-c2/update", "POST /containers/{id}/update", &["b:Memory", "b:MemorySwap", "b:RestartPolicy"], Cmp::Json)
            .json(r#"{"Memory":67108864,"MemorySwap":134217728,"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":2}}"#),
        Case::new("remove-running", "DELETE", "/containers/ad-c2", "DELETE /containers/{id}", &["p:id"], Cmp::Status),
        Case::new("stop", "POST", "/containers/ad-c2/stop?t=1", "POST /containers/{id}/stop", &["q:t"], Cmp::Headers),
        Case::new("stop-again", "POST", "/containers/ad-c2/stop", "POST /containers/{id}/stop", &["p:id"], Cmp::Status),
        Case::new("remove", "DELETE", "/containers/ad-c2?v=1", "DELETE /containers/{id}", &["q:v"], Cmp::Headers),
        Case::new("remove-missing", "DELETE", "/containers/ad-c2?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Status),
        // HostConfig fields: applied as dockerd applies them, or refused with its answer.
        create("log-none", "ad-lognone", &run_body("echo hi", r#""LogConfig":{"Type":"none","Config":{}}"#), &["b:HostConfig.LogConfig"]),
        Case::new("log-none-inspect", "GET", "/containers/ad-lognone/json", "GET /containers/{id}/json", &["p:id"], Cmp::Shape),
        Case::new("log-none-start", "POST", "/containers/ad-lognone/start", "POST /containers/{id}/start", &["p:id"], Cmp::Headers),
        Case::new("log-none-wait", "POST", "/containers/ad-lognone/wait", "POST /containers/{id}/wait", &["p:id"], Cmp::Json),
        Case::new("log-none-logs", "GET", "/containers/ad-lognone/logs?stdout=1", "GET /containers/{id}/logs", &["q:stdout"], Cmp::Status),
        Case::new("log-unknown", "POST", "/containers/create?name=ad-logbad", "POST /containers/create", &["b:HostConfig.LogConfig"], Cmp::Status)
            .json(&run_body("true", r#""LogConfig":{"Type":"nosuch","Config":{}}"#)),
        create("ulimit-unlimited", "ad-ulimit", &run_body("ulimit -c; ulimit -Hc; ulimit -n", r#""Ulimits":[{"Name":"core","Soft":-1,"Hard":-1},{"Name":"nofile","Soft":1024,"Hard":2048}]"#), &["b:HostConfig.Ulimits"]),
        Case::new("ulimit-start", "POST", "/containers/ad-ulimit/start", "POST /containers/{id}/start", &["p:id"], Cmp::Headers),
        Case::new("ulimit-wait", "POST", "/containers/ad-ulimit/wait", "POST /containers/{id}/wait", &["p:id"], Cmp::Json),
        Case::new("ulimit-logs", "GET", "/containers/ad-ulimit/logs?stdout=1&stderr=1", "GET /containers/{id}/logs", &["b:HostConfig.Ulimits"], Cmp::Frames),
        create("device", "ad-dev", &run_body("test -c /dev/fuse && echo has-fuse; head -c 0 /dev/fuse 2>&1 | head -1; true", r#""Devices":[{"PathOnHost":"/dev/fuse","PathInContainer":"/dev/fuse","CgroupPermissions":"rwm"}]"#), &["b:HostConfig.Devices"]),
        Case::new("device-start", "POST", "/containers/ad-dev/start", "POST /containers/{id}/start", &["p:id"], Cmp::Headers),
        Case::new("device-wait", "POST", "/containers/ad-dev/wait", "POST /containers/{id}/wait", &["p:id"], Cmp::Json),
        Case::new("device-logs", "GET", "/containers/ad-dev/logs?stdout=1&stderr=1", "GET /containers/{id}/logs", &["b:HostConfig.Devices"], Cmp::Frames),
        create("device-missing", "ad-devbad", &run_body("true", r#""Devices":[{"PathOnHost":"/dev/nosuch-device","PathInContainer":"/dev/x","CgroupPermissions":"rwm"}]"#), &["b:HostConfig.Devices"]),
        Case::new("device-missing-start", "POST", "/containers/ad-devbad/start", "POST /containers/{id}/start", &["b:HostConfig.Devices"], Cmp::Status),
        // dockerd cannot start a privileged container on this host (runc: "unable to apply caps"), so
        // --privileged is checked on Berth alone, against what dockerd documents: every capability,
        // no seccomp, the host's devices, /proc unmasked.
        create(
            "privileged",
            "ad-priv",
            &run_body("grep CapEff /proc/self/status; grep Seccomp: /proc/self/status; test -c /dev/fuse && echo has-fuse; grep -c ' /proc/kcore ' /proc/self/mountinfo", r#""Privileged":true"#),
            &["b:HostConfig.Privileged"],
        ),
        Case::new("privileged-start", "POST", "/containers/ad-priv/start", "POST /containers/{id}/start", &["b:HostConfig.Privileged"], Cmp::Headers).berth_only(204, ""),
        Case::new("privileged-wait", "POST", "/containers/ad-priv/wait", "POST /containers/{id}/wait", &["b:HostConfig.Privileged"], Cmp::Json).berth_only(200, "\"StatusCode\":1"),
        Case::new("privileged-logs", "GET", "/containers/ad-priv/logs?stdout=1", "GET /containers/{id}/logs", &["b:HostConfig.Privileged"], Cmp::Frames)
            .berth_only(200, "Seccomp:\t0\nhas-fuse\n0\n"),
        Case::new("container-prune", "POST", "/containers/prune", "POST /containers/prune", &[], Cmp::Shape),
        // Volumes.
        Case::new("volume-create", "POST", "/volumes/create", "POST /volumes/create", &["b:Name", "b:Labels"], Cmp::Json)
            .json(r#"{"Name":"ad-v1","Labels":{"a":"b"}}"#),
        Case::new("volume-list", "GET", &format!("/volumes?filters={}", f(r#"{"name":["ad-v1"]}"#)), "GET /volumes", &["q:filters"], Cmp::Json),
        Case::new("volume-inspect", "GET", "/volumes/ad-v1", "GET /volumes/{name}", &["p:name"], Cmp::Json),
        Case::new("volume-inspect-missing", "GET", "/volumes/nosuch", "GET /volumes/{name}", &["p:name"], Cmp::Status),
        Case::new("volume-delete", "DELETE", "/volumes/ad-v1", "DELETE /volumes/{name}", &["p:name"], Cmp::Headers),
        Case::new("volume-delete-missing", "DELETE", "/volumes/ad-v1", "DELETE /volumes/{name}", &["p:name"], Cmp::Status),
        Case::new("volume-prune", "POST", "/volumes/prune", "POST /volumes/prune", &[], Cmp::Json),
        // Networks.
        Case::new("network-create", "POST", "/networks/create", "POST /networks/create", &["b:Name", "b:IPAM", "b:Labels"], Cmp::Shape)
            .json(r#"{"Name":"ad-n1","IPAM":{"Config":[{"Subnet":"{subnet}"}]},"Labels":{"a":"b"}}"#),
        Case::new("network-create-dup", "POST", "/networks/create", "POST /networks/create", &["b:Name"], Cmp::Status).json(r#"{"Name":"ad-n1","CheckDuplicate":true}"#),
        Case::new("network-inspect", "GET", "/networks/ad-n1", "GET /networks/{id}", &["p:id"], Cmp::Shape),
        Case::new("network-list", "GET", &format!("/networks?filters={}", f(r#"{"name":["ad-n1"]}"#)), "GET /networks", &["q:filters"], Cmp::Shape),
        Case::new("network-delete", "DELETE", "/networks/ad-n1", "DELETE /networks/{id}", &["p:id"], Cmp::Headers),
        Case::new("network-delete-missing", "DELETE", "/networks/ad-n1", "DELETE /networks/{id}", &["p:id"], Cmp::Status),
        Case::new("network-prune", "POST", "/networks/prune", "POST /networks/prune", &[], Cmp::Json),
        // Builds (classic builder).
        Case::new("build-quiet", "POST", "/build?q=1&t=ad-built", "POST /build", &["q:q", "q:t", "b:inputStream"], Cmp::Lines)
            .bytes("application/x-tar", context(&[("Dockerfile", "FROM busybox\nENV A=1\nLABEL x=y\n")])),
        Case::new("build-empty-dockerfile", "POST", "/build", "POST /build", &["q:dockerfile"], Cmp::Status)
            .bytes("application/x-tar", context(&[("Dockerfile", "")])),
        Case::new("build-no-dockerfile", "POST", "/build?dockerfile=Nope", "POST /build", &["q:dockerfile"], Cmp::Status)
            .bytes("application/x-tar", context(&[("Dockerfile", "FROM busybox\n")])),
        // System, again.
        Case::new("df", "GET", "/system/df", "GET /system/df", &[], Cmp::Shape),
    ];
    v.extend(crate::attach::all());
    v.extend(crate::links::all());
    v.extend(crate::hostconfig::all());
    v.extend(crate::logging::all());
    v.extend(crate::stats::all());
    v.extend(crate::users::all());
    v.extend(crate::linkname::all());
    v.extend(crate::createfields::all());
    v.extend(crate::verbs::all());
    v.extend(swarm_family());
    v.extend(crate::swarm::all());
    v.extend(crate::images::all());
    v.extend(crate::volumes::all());
    v.extend(crate::networks::all());
    v.extend(crate::events::all());
    v.extend(crate::build::all());
    v
}

/// Swarm-family and plugin endpoints: Berth answers as a dockerd that is not in a swarm and has no plugins.
fn swarm_family() -> Vec<Case> {
    let s = |name, method, path: &str, ep| Case::new(name, method, path, ep, &[], Cmp::Json);
    vec![
        s("swarm-inspect", "GET", "/swarm", "GET /swarm"),
        s("swarm-leave", "POST", "/swarm/leave?force=1", "POST /swarm/leave"),
        s("swarm-unlockkey", "GET", "/swarm/unlockkey", "GET /swarm/unlockkey"),
        s("swarm-unlock", "POST", "/swarm/unlock", "POST /swarm/unlock").json(r#"{"UnlockKey":"x"}"#),
        s("swarm-update", "POST", "/swarm/update?version=1", "POST /swarm/update").json("{}"),
        // A valid init would make the reference dockerd a swarm manager: Berth alone, against the swagger.
        s("swarm-init", "POST", "/swarm/init", "POST /swarm/init").json(r#"{"ListenAddr":"127.0.0.1:2377"}"#).berth_only(503, "does not implement swarm mode"),
        s("swarm-join", "POST", "/swarm/join", "POST /swarm/join").json(r#"{"ListenAddr":"127.0.0.1:2377","RemoteAddrs":["127.0.0.1:1"],"JoinToken":"x"}"#).berth_only(503, "does not implement swarm mode"),
        s("nodes", "GET", "/nodes", "GET /nodes"),
        s("node-inspect", "GET", "/nodes/x", "GET /nodes/{id}"),
        s("node-delete", "DELETE", "/nodes/x", "DELETE /nodes/{id}"),
        s("node-update", "POST", "/nodes/x/update?version=1", "POST /nodes/{id}/update").json("{}"),
        s("services", "GET", "/services", "GET /services"),
        s("service-create", "POST", "/services/create", "POST /services/create").json(r#"{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}"#),
        s("service-inspect", "GET", "/services/x", "GET /services/{id}"),
        s("service-delete", "DELETE", "/services/x", "DELETE /services/{id}"),
        s("service-update", "POST", "/services/x/update?version=1", "POST /services/{id}/update").json("{}"),
        s("service-logs", "GET", "/services/x/logs?stdout=1", "GET /services/{id}/logs"),
        s("tasks", "GET", "/tasks", "GET /tasks"),
        s("task-inspect", "GET", "/tasks/x", "GET /tasks/{id}"),
        s("task-logs", "GET", "/tasks/x/logs?stdout=1", "GET /tasks/{id}/logs"),
        s("secrets", "GET", "/secrets", "GET /secrets"),
        s("secret-create", "POST", "/secrets/create", "POST /secrets/create").json(r#"{"Name":"x","Data":"eA=="}"#),
        s("secret-inspect", "GET", "/secrets/x", "GET /secrets/{id}"),
        s("secret-delete", "DELETE", "/secrets/x", "DELETE /secrets/{id}"),
        s("secret-update", "POST", "/secrets/x/update?version=1", "POST /secrets/{id}/update").json("{}"),
        s("configs", "GET", "/configs", "GET /configs"),
        s("config-create", "POST", "/configs/create", "POST /configs/create").json(r#"{"Name":"x","Data":"eA=="}"#),
        s("config-inspect", "GET", "/configs/x", "GET /configs/{id}"),
        s("config-delete", "DELETE", "/configs/x", "DELETE /configs/{id}"),
        s("config-update", "POST", "/configs/x/update?version=1", "POST /configs/{id}/update").json("{}"),
        s("plugins", "GET", "/plugins", "GET /plugins"),
        s("plugin-inspect", "GET", "/plugins/x/json", "GET /plugins/{name}/json"),
        s("plugin-delete", "DELETE", "/plugins/x", "DELETE /plugins/{name}"),
        s("plugin-enable", "POST", "/plugins/x/enable", "POST /plugins/{name}/enable"),
        s("plugin-disable", "POST", "/plugins/x/disable", "POST /plugins/{name}/disable"),
        s("plugin-set", "POST", "/plugins/x/set", "POST /plugins/{name}/set").json("[]"),
        s("plugin-push", "POST", "/plugins/x/push", "POST /plugins/{name}/push"),
        s("plugin-upgrade", "POST", "/plugins/x/upgrade?remote=127.0.0.1:1/x", "POST /plugins/{name}/upgrade").json("[]"),
        // Installing a plugin would reach a registry on dockerd: Berth alone, which does not implement plugins.
        s("plugin-pull", "POST", "/plugins/pull?remote=127.0.0.1:1/x", "POST /plugins/pull").json("[]").berth_only(501, "does not implement managed plugins"),
        s("plugin-privileges", "GET", "/plugins/privileges?remote=127.0.0.1:1/x", "GET /plugins/privileges").berth_only(501, "does not implement managed plugins"),
        s("plugin-create", "POST", "/plugins/create?name=x", "POST /plugins/create").berth_only(501, "does not implement managed plugins"),
    ]
}
