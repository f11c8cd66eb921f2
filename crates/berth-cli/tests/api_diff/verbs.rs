//! The container verbs' parameters: exec (Env, WorkingDir, User, Tty, DetachKeys, resize),
//! `docker update` fields beyond the common ones, archive GET/PUT (noOverwriteDirNonDir,
//! copyUIDGID), kill/stop/restart with a signal, resize, rename, start's detachKeys, logs' until and
//! follow, prune's filters, and commit's pause, changes and config.

use crate::cases::{create, enc, Case};
use crate::compare::Cmp;

fn exec_create(name: &'static str, cname: &str, var: &'static str, body: &str, params: &'static [&'static str]) -> Case {
    Case::new(name, "POST", &format!("/containers/{cname}/exec"), "POST /containers/{id}/exec", params, Cmp::Shape).json(body).save(var, "Id")
}

fn exec_start(name: &'static str, var: &str, body: &str, params: &'static [&'static str], cmp: Cmp) -> Case {
    Case::new(name, "POST", &format!("/exec/{{{var}}}/start"), "POST /exec/{id}/start", params, cmp).json(body).upgrade()
}

/// A tar of `(name, content, uid, gid)` files, or a directory when the content is `None`.
fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).expect("gzip");
    gz.finish().expect("gzip")
}

fn tar_of(entries: &[(&str, Option<&str>, u64, u64)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data, uid, gid) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_uid(*uid);
        h.set_gid(*gid);
        h.set_mtime(1_700_000_000);
        match data {
            Some(d) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(d.len() as u64);
                h.set_mode(0o644);
                b.append_data(&mut h, name, d.as_bytes()).expect("tar");
            }
            None => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                h.set_mode(0o755);
                b.append_data(&mut h, name, std::io::empty()).expect("tar");
            }
        }
    }
    b.into_inner().expect("tar")
}

pub fn all() -> Vec<Case> {
    let mut v = exec_cases();
    v.extend(update_cases());
    v.extend(archive_cases());
    v.extend(signal_cases());
    v.extend(misc_cases());
    v
}

fn exec_cases() -> Vec<Case> {
    let c = "ad-ex";
    vec![
        create("ex-create", c, r#"{"Image":"busybox","Cmd":["sleep","60"],"Env":["FROM_C=1"],"HostConfig":{"NetworkMode":"none"}}"#, &["b:Cmd"]),
        Case::new("ex-start", "POST", "/containers/ad-ex/start", "POST /containers/{id}/start", &["p:id"], Cmp::Headers),
        exec_create(
            "ex-env",
            c,
            "exenv",
            r#"{"Cmd":["sh","-c","echo $FOO $FROM_C; pwd; id -u"],"Env":["FOO=bar"],"WorkingDir":"/tmp","User":"65534","AttachStdout":true,"AttachStderr":true}"#,
            &["b:Env", "b:WorkingDir", "b:User", "b:AttachStdout"],
        ),
        exec_start("ex-env-start", "exenv", r#"{"Detach":false,"Tty":false}"#, &["p:id", "b:Env", "b:WorkingDir", "b:User"], Cmp::Frames),
        Case::new("ex-env-inspect", "GET", "/exec/{exenv}/json", "GET /exec/{id}/json", &["p:id"], Cmp::Json).ignore(&["ID", "ContainerID", "Pid"]),
        exec_create("ex-tty", c, "extty", r#"{"Cmd":["sh","-c","test -t 1 && echo tty; stty size"],"Tty":true,"AttachStdout":true}"#, &["b:Tty"]),
        exec_start("ex-tty-start", "extty", r#"{"Detach":false,"Tty":true,"ConsoleSize":[10,40]}"#, &["b:Tty", "b:ConsoleSize"], Cmp::Text),
        // dockerd cannot run a privileged process on this host (runc: "unable to apply caps"), as
        // for `privileged`: Berth alone, against what dockerd documents (more than the default set).
        exec_create("ex-console", c, "excon", r#"{"Cmd":["stty","size"],"Tty":true,"AttachStdout":true,"ConsoleSize":[11,41]}"#, &["b:ConsoleSize"]),
        exec_start("ex-console-start", "excon", r#"{"Detach":false,"Tty":true}"#, &["b:ConsoleSize"], Cmp::Text),
        exec_create("ex-stdin", c, "exstdin", r#"{"Cmd":["echo","no-read"],"AttachStdin":true,"AttachStdout":true}"#, &["b:AttachStdin"]),
        exec_start("ex-stdin-start", "exstdin", r#"{"Detach":false,"Tty":false}"#, &["b:AttachStdin"], Cmp::Frames),
        Case::new("ex-attach-logs", "POST", "/containers/ad-ex/attach?logs=1&stream=0&stdout=1&stdin=1&detachKeys=ctrl-x", "POST /containers/{id}/attach", &["q:stdin", "q:detachKeys"], Cmp::Frames).upgrade(),
        exec_create("ex-priv", c, "expriv", r#"{"Cmd":["sh","-c","grep CapEff /proc/self/status | grep -qv 00000000a80425fb && echo more-than-default"],"Privileged":true,"AttachStdout":true}"#, &["b:Privileged"])
            .berth_only(201, "Id"),
        exec_start("ex-priv-start", "expriv", r#"{"Detach":false,"Tty":false}"#, &["b:Privileged"], Cmp::Frames).berth_only(101, "more-than-default"),
        Case::new("ex-detach-keys-bad", "POST", "/containers/ad-ex/exec", "POST /containers/{id}/exec", &["b:DetachKeys"], Cmp::Status)
            .json(r#"{"Cmd":["true"],"DetachKeys":"bogus"}"#),
        exec_create("ex-detach-keys", c, "exdk", r#"{"Cmd":["true"],"DetachKeys":"ctrl-x,y","AttachStdout":true}"#, &["b:DetachKeys"]),
        exec_create("ex-user-bad", c, "exbad", r#"{"Cmd":["true"],"User":"nosuch","AttachStdout":true}"#, &["b:User"]),
        exec_start("ex-user-bad-start", "exbad", r#"{"Detach":false,"Tty":false}"#, &["b:User"], Cmp::Status),
        exec_create("ex-resizable", c, "exrs", r#"{"Cmd":["sleep","5"],"Tty":true}"#, &["b:Tty"]),
        Case::new("ex-resizable-start", "POST", "/exec/{exrs}/start", "POST /exec/{id}/start", &["b:Detach"], Cmp::Status).json(r#"{"Detach":true,"Tty":true}"#),
        Case::new("ex-resize", "POST", "/exec/{exrs}/resize?h=20&w=80", "POST /exec/{id}/resize", &["p:id", "q:h", "q:w"], Cmp::Status),
        Case::new("ex-resize-bad", "POST", "/exec/{exrs}/resize?h=x&w=80", "POST /exec/{id}/resize", &["q:h"], Cmp::Status),
        Case::new("ex-resize-missing", "POST", "/exec/nosuch/resize?h=20&w=80", "POST /exec/{id}/resize", &["p:id"], Cmp::Status),
        Case::new("ex-start-missing", "POST", "/exec/nosuch/start", "POST /exec/{id}/start", &["p:id"], Cmp::Status).json(r#"{"Detach":true}"#),
    ]
}

fn update_cases() -> Vec<Case> {
    let read = "cd /sys/fs/cgroup; cat blkio/blkio.weight_device blkio/blkio.throttle.read_bps_device blkio/blkio.throttle.write_iops_device \
        memory/memory.swappiness memory/memory.kmem.tcp.limit_in_bytes cpu/cpu.rt_runtime_us memory/memory.oom_control | head -12";
    let exec = format!(r#"{{"Cmd":["sh","-c",{}],"AttachStdout":true,"AttachStderr":true}}"#, serde_json::Value::String(read.into()));
    let up = |name, body: &str, params| Case::new(name, "POST", "/containers/ad-up2/update", "POST /containers/{id}/update", params, Cmp::Json).json(body);
    vec![
        create("up2-create", "ad-up2", r#"{"Image":"busybox","Cmd":["sleep","60"],"HostConfig":{"NetworkMode":"none","Memory":67108864}}"#, &["b:Cmd"]),
        Case::new("up2-start", "POST", "/containers/ad-up2/start", "POST /containers/{id}/start", &["p:id"], Cmp::Headers),
        up(
            "up2-blkio",
            r#"{"BlkioWeightDevice":[{"Path":"{blockdev}","Weight":200}],"BlkioDeviceReadBps":[{"Path":"{blockdev}","Rate":1048576}],"BlkioDeviceWriteBps":[{"Path":"{blockdev}","Rate":2097152}],
               "BlkioDeviceReadIOps":[{"Path":"{blockdev}","Rate":100}],"BlkioDeviceWriteIOps":[{"Path":"{blockdev}","Rate":200}]}"#,
            &["p:id", "b:BlkioWeightDevice", "b:BlkioDeviceReadBps", "b:BlkioDeviceWriteBps", "b:BlkioDeviceReadIOps", "b:BlkioDeviceWriteIOps"],
        ),
        up("up2-swappiness", r#"{"MemorySwappiness":20}"#, &["b:MemorySwappiness"]),
        up("up2-kmem-tcp", r#"{"KernelMemoryTCP":16777216}"#, &["b:KernelMemoryTCP"]),
        up("up2-rt-runtime", r#"{"CpuRealtimeRuntime":1000}"#, &["b:CpuRealtimeRuntime"]),
        up("up2-oom-kill-disable", r#"{"OomKillDisable":true}"#, &["b:OomKillDisable"]),
        Case::new("up2-exec", "POST", "/containers/ad-up2/exec", "POST /containers/{id}/exec", &["b:Cmd"], Cmp::Shape).json(&exec).save("up2exec", "Id"),
        exec_start("up2-exec-start", "up2exec", r#"{"Detach":false,"Tty":false}"#, &["b:BlkioWeightDevice", "b:MemorySwappiness", "b:KernelMemoryTCP"], Cmp::Frames),
        up("up2-init", r#"{"Init":true}"#, &["b:Init"]),
        up("up2-ulimits", r#"{"Ulimits":[{"Name":"nofile","Soft":100,"Hard":200}]}"#, &["b:Ulimits"]),
        up("up2-devices", r#"{"Devices":[{"PathOnHost":"/dev/fuse","PathInContainer":"/dev/fuse","CgroupPermissions":"rwm"}]}"#, &["b:Devices"]),
        up("up2-device-rules", r#"{"DeviceCgroupRules":["c 1:3 rwm"]}"#, &["b:DeviceCgroupRules"]),
        up("up2-device-requests", r#"{"DeviceRequests":[{"Driver":"","Count":-1,"Capabilities":[["gpu"]]}]}"#, &["b:DeviceRequests"]),
        up("up2-cgroup-parent", r#"{"CgroupParent":"/elsewhere"}"#, &["b:CgroupParent"]),
        Case::new("up2-inspect", "GET", "/containers/ad-up2/json", "GET /containers/{id}/json", &["b:MemorySwappiness", "b:Ulimits", "b:Init"], Cmp::Json)
            .pick("/HostConfig/MemorySwappiness"),
        Case::new("up2-missing", "POST", "/containers/nosuch/update", "POST /containers/{id}/update", &["p:id"], Cmp::Status).json("{}"),
        Case::new("up2-rm", "DELETE", "/containers/ad-up2?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
    ]
}

fn archive_cases() -> Vec<Case> {
    let put = "PUT /containers/{id}/archive";
    let show = r#"{"Cmd":["sh","-c","ls -n /tmp/plain | awk '{print $3, $4}'; cat /tmp/plain; ls -ld /etc | cut -c1"],"AttachStdout":true,"AttachStderr":true}"#;
    let show_owned = r#"{"Cmd":["sh","-c","ls -n /tmp/owned | awk '{print $3, $4}'"],"AttachStdout":true,"AttachStderr":true}"#;
    vec![
        create("arc-create", "ad-arc", r#"{"Image":"busybox","Cmd":["sleep","60"],"User":"1000:1000","HostConfig":{"NetworkMode":"none"}}"#, &["b:User"]),
        Case::new("arc-start", "POST", "/containers/ad-arc/start", "POST /containers/{id}/start", &["p:id"], Cmp::Headers),
        Case::new("arc-put", "PUT", "/containers/ad-arc/archive?path=/tmp", put, &["p:id", "q:path", "b:inputStream"], Cmp::Headers)
            .bytes("application/x-tar", tar_of(&[("plain", Some("plain\n"), 1234, 1234)])),
        // A compressed archive is extracted as dockerd does (bollard's upload_to_container sends gzip).
        Case::new("arc-put-gzip", "PUT", "/containers/ad-arc/archive?path=/tmp", put, &["b:inputStream"], Cmp::Headers)
            .bytes("application/x-tar", gzip(&tar_of(&[("zipped", Some("zipped\n"), 1234, 1234)]))),
        Case::new("arc-get-gzipped", "GET", "/containers/ad-arc/archive?path=/tmp/zipped", "GET /containers/{id}/archive", &["q:path"], Cmp::Headers),
        Case::new("arc-put-uidgid", "PUT", "/containers/ad-arc/archive?path=/tmp&copyUIDGID=1", put, &["q:copyUIDGID"], Cmp::Headers)
            .bytes("application/x-tar", tar_of(&[("owned", Some("owned\n"), 1234, 1234)])),
        Case::new("arc-put-nondir", "PUT", "/containers/ad-arc/archive?path=/&noOverwriteDirNonDir=1", put, &["q:noOverwriteDirNonDir"], Cmp::Status)
            .bytes("application/x-tar", tar_of(&[("etc", Some("not a dir\n"), 0, 0)])),
        Case::new("arc-put-dir-over-file", "PUT", "/containers/ad-arc/archive?path=/tmp&noOverwriteDirNonDir=1", put, &["q:noOverwriteDirNonDir"], Cmp::Status)
            .bytes("application/x-tar", tar_of(&[("plain", None, 0, 0)])),
        Case::new("arc-put-missing-path", "PUT", "/containers/ad-arc/archive?path=/nosuch", put, &["q:path"], Cmp::Status)
            .bytes("application/x-tar", tar_of(&[("x", Some("x\n"), 0, 0)])),
        Case::new("arc-put-not-dir", "PUT", "/containers/ad-arc/archive?path=/etc/passwd", put, &["q:path"], Cmp::Status)
            .bytes("application/x-tar", tar_of(&[("x", Some("x\n"), 0, 0)])),
        Case::new("arc-put-no-path", "PUT", "/containers/ad-arc/archive", put, &["q:path"], Cmp::Status).bytes("application/x-tar", tar_of(&[("x", Some("x\n"), 0, 0)])),
        Case::new("arc-put-missing-container", "PUT", "/containers/nosuch/archive?path=/tmp", put, &["p:id"], Cmp::Status)
            .bytes("application/x-tar", tar_of(&[("x", Some("x\n"), 0, 0)])),
        Case::new("arc-show", "POST", "/containers/ad-arc/exec", "POST /containers/{id}/exec", &["b:Cmd"], Cmp::Shape).json(show).save("arcshow", "Id"),
        exec_start("arc-show-start", "arcshow", r#"{"Detach":false,"Tty":false}"#, &["q:copyUIDGID", "b:inputStream"], Cmp::Frames),
        // dockerd 20.10 looks the container's user up on the host (arc-put-uidgid): Berth alone,
        // against what dockerd means to do (the container user's ids).
        Case::new("arc-show-owned", "POST", "/containers/ad-arc/exec", "POST /containers/{id}/exec", &["b:Cmd"], Cmp::Shape)
            .json(show_owned)
            .save("arcowned", "Id")
            .berth_only(201, "Id"),
        exec_start("arc-show-owned-start", "arcowned", r#"{"Detach":false,"Tty":false}"#, &["q:copyUIDGID"], Cmp::Frames).berth_only(101, "1000 1000\n"),
        Case::new("arc-get", "GET", "/containers/ad-arc/archive?path=/tmp/plain", "GET /containers/{id}/archive", &["p:id", "q:path"], Cmp::Headers),
        Case::new("arc-head", "HEAD", "/containers/ad-arc/archive?path=/tmp/plain", "HEAD /containers/{id}/archive", &["p:id", "q:path"], Cmp::Headers),
        Case::new("arc-head-missing", "HEAD", "/containers/nosuch/archive?path=/tmp", "HEAD /containers/{id}/archive", &["p:id"], Cmp::Status),
        Case::new("arc-get-no-path", "GET", "/containers/ad-arc/archive", "GET /containers/{id}/archive", &["q:path"], Cmp::Status),
        Case::new("arc-rm", "DELETE", "/containers/ad-arc?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
    ]
}

fn signal_cases() -> Vec<Case> {
    let trap = r#"{"Image":"busybox","Cmd":["sh","-c","trap 'echo got-usr1; exit 3' USR1; echo ready; while true; do sleep 0.1; done"],"HostConfig":{"NetworkMode":"none"}}"#;
    vec![
        create("sig-create", "ad-sig", trap, &["b:Cmd"]),
        Case::new("sig-start", "POST", "/containers/ad-sig/start", "POST /containers/{id}/start", &["p:id"], Cmp::Headers),
        Case::new("sig-kill-bad", "POST", "/containers/ad-sig/kill?signal=BOGUS", "POST /containers/{id}/kill", &["q:signal"], Cmp::Status),
        Case::new("sig-kill", "POST", "/containers/ad-sig/kill?signal=SIGUSR1", "POST /containers/{id}/kill", &["q:signal"], Cmp::Headers),
        Case::new("sig-wait", "POST", "/containers/ad-sig/wait", "POST /containers/{id}/wait", &["q:signal"], Cmp::Json),
        Case::new("sig-logs", "GET", "/containers/ad-sig/logs?stdout=1&follow=1", "GET /containers/{id}/logs", &["p:id", "q:follow"], Cmp::Frames),
        Case::new("sig-logs-until", "GET", "/containers/ad-sig/logs?stdout=1&until=1", "GET /containers/{id}/logs", &["q:until"], Cmp::Frames),
        Case::new("sig-restart", "POST", "/containers/ad-sig/restart?t=1", "POST /containers/{id}/restart", &["p:id", "q:t"], Cmp::Headers),
        Case::new("sig-restart-signal", "POST", "/containers/ad-sig/restart?t=5&signal=SIGUSR1", "POST /containers/{id}/restart", &["q:signal"], Cmp::Headers),
        Case::new("sig-restart-inspect", "GET", "/containers/ad-sig/json", "GET /containers/{id}/json", &["q:signal"], Cmp::Json).pick("/State/Running"),
        Case::new("sig-stop-signal", "POST", "/containers/ad-sig/stop?signal=SIGUSR1&t=5", "POST /containers/{id}/stop", &["q:signal"], Cmp::Headers),
        Case::new("sig-stop-code", "GET", "/containers/ad-sig/json", "GET /containers/{id}/json", &["q:signal"], Cmp::Json).pick("/State/ExitCode"),
        Case::new("sig-restart-missing", "POST", "/containers/nosuch/restart", "POST /containers/{id}/restart", &["p:id"], Cmp::Status),
        Case::new("sig-rm", "DELETE", "/containers/ad-sig?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
    ]
}

fn misc_cases() -> Vec<Case> {
    let f = |j: &str| enc(j);
    vec![
        create("tty-create", "ad-tty", r#"{"Image":"busybox","Cmd":["sleep","60"],"Tty":true,"OpenStdin":true,"HostConfig":{"NetworkMode":"none"}}"#, &["b:Tty"]),
        Case::new("tty-start", "POST", "/containers/ad-tty/start?detachKeys=ctrl-x", "POST /containers/{id}/start", &["q:detachKeys"], Cmp::Headers),
        Case::new("tty-resize", "POST", "/containers/ad-tty/resize?h=20&w=80", "POST /containers/{id}/resize", &["p:id", "q:h", "q:w"], Cmp::Status),
        Case::new("tty-resize-bad", "POST", "/containers/ad-tty/resize?h=x&w=80", "POST /containers/{id}/resize", &["q:h"], Cmp::Status),
        Case::new("tty-resize-missing", "POST", "/containers/nosuch/resize?h=1&w=1", "POST /containers/{id}/resize", &["p:id"], Cmp::Status),
        Case::new("tty-rename-taken", "POST", "/containers/ad-tty/rename?name=ad-ex", "POST /containers/{id}/rename", &["q:name"], Cmp::Status),
        Case::new("tty-rename-missing", "POST", "/containers/nosuch/rename?name=x", "POST /containers/{id}/rename", &["p:id"], Cmp::Status),
        Case::new("tty-rename-bad", "POST", "/containers/ad-tty/rename?name=-bad", "POST /containers/{id}/rename", &["q:name"], Cmp::Status),
        Case::new("tty-commit", "POST", &format!("/commit?container=ad-tty&repo=ad-commit2&tag=t&pause=1&changes={}", enc("ENV FROM_CHANGE=1")), "POST /commit", &["q:pause", "q:changes", "b:containerConfig"], Cmp::Shape)
            .json(r#"{"Labels":{"from":"body"},"Env":["FROM_BODY=1"],"Cmd":["echo","committed"]}"#),
        Case::new("tty-commit-config", "GET", "/images/ad-commit2:t/json", "GET /images/{name}/json", &["q:changes", "b:containerConfig"], Cmp::Json).pick("/Config"),
        Case::new("tty-commit-bad-change", "POST", &format!("/commit?container=ad-tty&repo=ad-commit3&changes={}", enc("BOGUS x")), "POST /commit", &["q:changes"], Cmp::Status).json("{}"),
        Case::new("tty-rm", "DELETE", "/containers/ad-tty?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
        Case::new("ex-rm", "DELETE", "/containers/ad-ex?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
        // Prune with filters: only the labelled exited container goes.
        create("prune-create", "ad-pr", r#"{"Image":"busybox","Cmd":["true"],"Labels":{"ad-prune":"1"},"HostConfig":{"NetworkMode":"none"}}"#, &["b:Labels"]),
        Case::new("prune-start", "POST", "/containers/ad-pr/start", "POST /containers/{id}/start", &["p:id"], Cmp::Headers),
        Case::new("prune-wait", "POST", "/containers/ad-pr/wait", "POST /containers/{id}/wait", &["p:id"], Cmp::Json),
        Case::new("prune-label", "POST", &format!("/containers/prune?filters={}", f(r#"{"label":["ad-prune=1"]}"#)), "POST /containers/prune", &["q:filters"], Cmp::Json)
            .ignore(&["SpaceReclaimed"]),
        Case::new("prune-bad-filter", "POST", &format!("/containers/prune?filters={}", f(r#"{"bogus":["x"]}"#)), "POST /containers/prune", &["q:filters"], Cmp::Status),
        Case::new("prune-gone", "GET", "/containers/ad-pr/json", "GET /containers/{id}/json", &["q:filters"], Cmp::Status),
    ]
}
