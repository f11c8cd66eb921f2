//! `POST /containers/create` fields most `docker run` lines and Compose files use, each applied as
//! dockerd applies it (read back from inside the container) or echoed as dockerd echoes it
//! (inspect), and the values dockerd refuses, refused with its answer: Binds and Mounts (bind,
//! volume, tmpfs), VolumesFrom, Init, PidsLimit, CpuShares, DeviceCgroupRules, KernelMemoryTCP,
//! NetworkDisabled, MacAddress, the namespace modes, RestartPolicy, AutoRemove, PortBindings,
//! PublishAllPorts, NetworkingConfig and the config fields only inspect shows (Healthcheck, Shell,
//! OnBuild, Volumes, Attach*, StdinOnce, ArgsEscaped).
//!
//! `{binddir}` is a host directory holding the file `f` ("bound").

use crate::cases::{create, Case};
use crate::compare::Cmp;

fn body(cmd: &str, net: &str, extra: &str, hc: &str) -> String {
    let cmd = serde_json::Value::String(cmd.into());
    let extra = if extra.is_empty() { String::new() } else { format!(",{extra}") };
    let hc = if hc.is_empty() { String::new() } else { format!(",{hc}") };
    format!(r#"{{"Image":"busybox","Cmd":["sh","-c",{cmd}]{extra},"HostConfig":{{"NetworkMode":"{net}"{hc}}}}}"#)
}

/// create, start, wait and logs of one container, its create answer compared as JSON.
fn run(names: [&'static str; 4], cname: &'static str, body: &str, params: &'static [&'static str]) -> Vec<Case> {
    let [c, s, w, l] = names;
    vec![
        create(c, cname, body, params),
        Case::new(s, "POST", &format!("/containers/{cname}/start"), "POST /containers/{id}/start", params, Cmp::Headers),
        Case::new(w, "POST", &format!("/containers/{cname}/wait"), "POST /containers/{id}/wait", &["p:id"], Cmp::Json),
        Case::new(l, "GET", &format!("/containers/{cname}/logs?stdout=1&stderr=1"), "GET /containers/{id}/logs", params, Cmp::Frames),
    ]
}

fn inspect(name: &'static str, cname: &str, params: &'static [&'static str], pick: &'static str) -> Case {
    Case::new(name, "GET", &format!("/containers/{cname}/json"), "GET /containers/{id}/json", params, Cmp::Json).pick(pick)
}

fn rm(name: &'static str, cname: &str) -> Case {
    Case::new(name, "DELETE", &format!("/containers/{cname}?force=1&v=1"), "DELETE /containers/{id}", &["q:force", "q:v"], Cmp::Headers)
}

fn refused(name: &'static str, body: &str, params: &'static [&'static str]) -> Case {
    Case::new(name, "POST", "/containers/create", "POST /containers/create", params, Cmp::Status).json(body)
}

pub fn all() -> Vec<Case> {
    let mut v = Vec::new();
    // Storage: binds (read-only, a named volume), mounts (bind, volume, tmpfs).
    let storage = "cat /b/f /b2/f; touch /b/x 2>&1 | head -1; touch /b2/x 2>&1 | head -1; echo v > /v/x && cat /v/x; \
        ls /v2; grep -E ' /(b|b2|v|v2|t) ' /proc/self/mounts | awk '{print $2, $3, substr($4,1,2)}' | sort; df -k /t | tail -1 | awk '{print $2}'";
    v.extend(run(
        ["cf-storage", "cf-storage-start", "cf-storage-wait", "cf-storage-logs"],
        "ad-cfs",
        &body(
            storage,
            "none",
            r#""Volumes":{"/anon":{}}"#,
            r#""Binds":["{binddir}:/b:ro","ad-cfvol:/v"],"Mounts":[{"Type":"bind","Source":"{binddir}","Target":"/b2","ReadOnly":true},
               {"Type":"volume","Source":"ad-cfvol2","Target":"/v2","VolumeOptions":{"NoCopy":true,"Labels":{"k":"v"}}},
               {"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":1048576,"Mode":448}}],"VolumeDriver":"local""#,
        ),
        &["b:HostConfig.Binds", "b:HostConfig.Mounts", "b:Volumes", "b:HostConfig.VolumeDriver"],
    ));
    v.extend([
        inspect("cf-storage-hostconfig-binds", "ad-cfs", &["b:HostConfig.Binds"], "/HostConfig/Binds"),
        inspect("cf-storage-hostconfig-mounts", "ad-cfs", &["b:HostConfig.Mounts"], "/HostConfig/Mounts"),
        inspect("cf-storage-volumes", "ad-cfs", &["b:Volumes"], "/Config/Volumes"),
    ]);
    // VolumesFrom: another container's volumes and binds, read-only. (dockerd 20.10 cannot take
    // them from a container with a tmpfs mount, as ad-cfs: `cf-volumes-from-tmpfs`.)
    v.push(create("cf-volumes-src", "ad-cfsrc", &body("true", "none", r#""Volumes":{"/anon":{}}"#, r#""Binds":["{binddir}:/b:ro","ad-cfvol:/v"]"#), &["b:HostConfig.Binds"]));
    v.extend(run(
        ["cf-volumes-from", "cf-volumes-from-start", "cf-volumes-from-wait", "cf-volumes-from-logs"],
        "ad-cfvf",
        &body("cat /v/x /b/f; touch /v/y 2>&1 | head -1; ls -d /anon", "none", "", r#""VolumesFrom":["ad-cfsrc:ro"]"#),
        &["b:HostConfig.VolumesFrom"],
    ));
    v.extend([
        refused("cf-volumes-from-tmpfs", &body("true", "none", "", r#""VolumesFrom":["ad-cfs"]"#), &["b:HostConfig.VolumesFrom"]),
        refused("cf-volumes-from-missing", &body("true", "none", "", r#""VolumesFrom":["nosuch"]"#), &["b:HostConfig.VolumesFrom"]),
        refused("cf-volumes-from-bad-mode", &body("true", "none", "", r#""VolumesFrom":["ad-cfs:xx"]"#), &["b:HostConfig.VolumesFrom"]),
        refused("cf-bind-relative", &body("true", "none", "", r#""Binds":["relative/path:/x"]"#), &["b:HostConfig.Binds"]),
        refused("cf-bind-bad-mode", &body("true", "none", "", r#""Binds":["{binddir}:/x:bogus"]"#), &["b:HostConfig.Binds"]),
        refused("cf-mount-missing-source", &body("true", "none", "", r#""Mounts":[{"Type":"bind","Source":"/nonexistent-apidiff","Target":"/x"}]"#), &["b:HostConfig.Mounts"]),
        refused("cf-mount-bad-type", &body("true", "none", "", r#""Mounts":[{"Type":"bogus","Target":"/x"}]"#), &["b:HostConfig.Mounts"]),
        refused("cf-mount-duplicate", &body("true", "none", "", r#""Binds":["{binddir}:/x"],"Mounts":[{"Type":"tmpfs","Target":"/x"}]"#), &["b:HostConfig.Mounts"]),
        refused("cf-mount-tmpfs-source", &body("true", "none", "", r#""Mounts":[{"Type":"tmpfs","Source":"/tmp","Target":"/x"}]"#), &["b:HostConfig.Mounts"]),
        refused("cf-volume-driver-missing", &body("true", "none", "", r#""Binds":["ad-cfvol3:/v"],"VolumeDriver":"nosuch""#), &["b:HostConfig.VolumeDriver"]),
        rm("cf-volumes-from-rm", "ad-cfvf"),
        rm("cf-volumes-src-rm", "ad-cfsrc"),
        rm("cf-storage-rm", "ad-cfs"),
    ]);
    // Process and cgroup fields.
    let procs = "cat /proc/1/comm; cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/memory/memory.kmem.tcp.limit_in_bytes; \
        grep -c . /sys/fs/cgroup/devices/devices.list; grep '^c 1:3 ' /sys/fs/cgroup/devices/devices.list; ls /sys/class/net | sort | tr '\\n' ' '; echo";
    v.extend(run(
        ["cf-process", "cf-process-start", "cf-process-wait", "cf-process-logs"],
        "ad-cfp",
        &body(procs, "bridge", r#""NetworkDisabled":true"#, r#""Init":true,"PidsLimit":77,"CpuShares":512,"KernelMemoryTCP":8388608,"DeviceCgroupRules":["c 1:3 rwm"]"#),
        &["b:HostConfig.Init", "b:HostConfig.PidsLimit", "b:HostConfig.CpuShares", "b:HostConfig.KernelMemoryTCP", "b:HostConfig.DeviceCgroupRules", "b:NetworkDisabled"],
    ));
    v.extend([
        inspect("cf-process-hostconfig", "ad-cfp", &["b:HostConfig.Init", "b:HostConfig.PidsLimit"], "/HostConfig/PidsLimit"),
        // A malformed rule is taken at create and fails the start (dockerd checks it making the spec).
        create("cf-device-rule-bad", "ad-cfbr", &body("true", "none", "", r#""DeviceCgroupRules":["x 1:3 rwm"]"#), &["b:HostConfig.DeviceCgroupRules"]),
        Case::new("cf-device-rule-bad-start", "POST", "/containers/ad-cfbr/start", "POST /containers/{id}/start", &["b:HostConfig.DeviceCgroupRules"], Cmp::Status),
        rm("cf-device-rule-bad-rm", "ad-cfbr"),
        rm("cf-process-rm", "ad-cfp"),
    ]);
    // Namespace modes: host UTS, PID and IPC; shareable IPC.
    let ns = "hostname | wc -c; cat /proc/1/comm | grep -c sh; grep -c ' /dev/shm ' /proc/self/mounts; readlink /proc/self/ns/user | cut -c1-5";
    v.extend(run(
        ["cf-namespaces", "cf-namespaces-start", "cf-namespaces-wait", "cf-namespaces-logs"],
        "ad-cfn",
        &body(ns, "none", "", r#""UTSMode":"host","PidMode":"host","IpcMode":"shareable","UsernsMode":"host","Cgroup":"""#),
        &["b:HostConfig.UTSMode", "b:HostConfig.PidMode", "b:HostConfig.IpcMode", "b:HostConfig.UsernsMode", "b:HostConfig.Cgroup"],
    ));
    v.extend([
        inspect("cf-namespaces-hostconfig", "ad-cfn", &["b:HostConfig.IpcMode"], "/HostConfig/IpcMode"),
        refused("cf-ipc-bad", &body("true", "none", "", r#""IpcMode":"bogus""#), &["b:HostConfig.IpcMode"]),
        refused("cf-pid-bad", &body("true", "none", "", r#""PidMode":"container:nosuch""#), &["b:HostConfig.PidMode"]),
        refused("cf-uts-bad", &body("true", "none", "", r#""UTSMode":"bogus""#), &["b:HostConfig.UTSMode"]),
        refused("cf-userns-bad", &body("true", "none", "", r#""UsernsMode":"bogus""#), &["b:HostConfig.UsernsMode"]),
        refused("cf-uts-host-hostname", r#"{"Image":"busybox","Hostname":"x","HostConfig":{"UTSMode":"host"}}"#, &["b:HostConfig.UTSMode"]),
        rm("cf-namespaces-rm", "ad-cfn"),
    ]);
    // Config fields inspect echoes.
    let cfg = r#"{"Image":"busybox","Cmd":["true"],"AttachStdin":true,"AttachStdout":true,"AttachStderr":false,"OpenStdin":true,"StdinOnce":true,
        "Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":1000000000,"Timeout":2000000000,"Retries":3,"StartPeriod":500000000},
        "Shell":["/bin/sh","-x","-c"],"OnBuild":["RUN echo hi"],"ArgsEscaped":false,"MacAddress":"02:42:ac:11:00:99",
        "HostConfig":{"NetworkMode":"bridge","ContainerIDFile":"/tmp/ignored.cid","RestartPolicy":{"Name":"on-failure","MaximumRetryCount":2},
        "PortBindings":{"8080/tcp":[{"HostIp":"127.0.0.1","HostPort":"18080"}],"53/udp":[{"HostIp":"","HostPort":""}]},"PublishAllPorts":false}}"#;
    v.extend([
        create("cf-config", "ad-cfc", cfg, &["b:AttachStdin", "b:AttachStdout", "b:AttachStderr", "b:StdinOnce", "b:Healthcheck", "b:Shell", "b:OnBuild", "b:ArgsEscaped", "b:MacAddress", "b:HostConfig.ContainerIDFile"]),
        Case::new("cf-config-inspect", "GET", "/containers/ad-cfc/json", "GET /containers/{id}/json", &["b:Healthcheck", "b:Shell", "b:OnBuild", "b:MacAddress"], Cmp::Json)
            .pick("/Config"),
        inspect("cf-config-restart", "ad-cfc", &["b:HostConfig.RestartPolicy"], "/HostConfig/RestartPolicy"),
        inspect("cf-config-ports", "ad-cfc", &["b:HostConfig.PortBindings", "b:HostConfig.PublishAllPorts"], "/HostConfig/PortBindings"),
        inspect("cf-config-cidfile", "ad-cfc", &["b:HostConfig.ContainerIDFile"], "/HostConfig/ContainerIDFile"),
        inspect("cf-config-exposed", "ad-cfc", &["b:HostConfig.PortBindings"], "/Config/ExposedPorts"),
        rm("cf-config-rm", "ad-cfc"),
        refused("cf-restart-bad", &body("true", "none", "", r#""RestartPolicy":{"Name":"bogus"}"#), &["b:HostConfig.RestartPolicy"]),
        refused("cf-restart-always-count", &body("true", "none", "", r#""RestartPolicy":{"Name":"always","MaximumRetryCount":3}"#), &["b:HostConfig.RestartPolicy"]),
        refused("cf-restart-negative", &body("true", "none", "", r#""RestartPolicy":{"Name":"on-failure","MaximumRetryCount":-1}"#), &["b:HostConfig.RestartPolicy"]),
        refused("cf-autoremove-restart", &body("true", "none", "", r#""AutoRemove":true,"RestartPolicy":{"Name":"always"}"#), &["b:HostConfig.AutoRemove"]),
        refused("cf-port-bad", &body("true", "bridge", "", r#""PortBindings":{"99999/tcp":[{"HostPort":"1"}]}"#), &["b:HostConfig.PortBindings"]),
        refused("cf-port-bad-host", &body("true", "bridge", "", r#""PortBindings":{"80/tcp":[{"HostPort":"notaport"}]}"#), &["b:HostConfig.PortBindings"]),
        refused("cf-mac-bad", r#"{"Image":"busybox","MacAddress":"nonsense"}"#, &["b:MacAddress"]),
        refused("cf-healthcheck-bad", r#"{"Image":"busybox","Healthcheck":{"Test":["CMD","true"],"Interval":1000}}"#, &["b:Healthcheck"]),
        refused("cf-healthcheck-negative-retries", r#"{"Image":"busybox","Healthcheck":{"Test":["CMD","true"],"Retries":-1}}"#, &["b:Healthcheck"]),
    ]);
    // The platform of the image asked for, and the initial console size of a TTY container.
    v.extend([
        Case::new("cf-platform", "POST", &format!("/containers/create?name=ad-cfplat&platform=linux/{}", std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64")), "POST /containers/create", &["q:platform"], Cmp::Json)
            .json(&body("true", "none", "", "")),
        rm("cf-platform-rm", "ad-cfplat"),
    ]);
    // A TTY container's log is the raw terminal stream: compared as text.
    let mut console = run(
        ["cf-console", "cf-console-start", "cf-console-wait", "cf-console-logs"],
        "ad-cfcon",
        &body("stty size", "none", r#""Tty":true,"OpenStdin":true"#, r#""ConsoleSize":[12,42]"#),
        &["b:HostConfig.ConsoleSize"],
    );
    console[3].cmp = Cmp::Text;
    v.extend(console);
    v.push(rm("cf-console-rm", "ad-cfcon"));
    // MacAddress applied (printed with dashes: the harness normalises colon-separated addresses).
    v.extend(run(
        ["cf-mac", "cf-mac-start", "cf-mac-wait", "cf-mac-logs"],
        "ad-cfm",
        &body("cat /sys/class/net/eth0/address | tr : -", "bridge", r#""MacAddress":"02:42:ac:11:00:99""#, ""),
        &["b:MacAddress"],
    ));
    v.push(rm("cf-mac-rm", "ad-cfm"));
    // PublishAllPorts: every exposed port gets a host port.
    v.extend([
        create("cf-publish-all", "ad-cfpa", &body("sleep 30", "bridge", r#""ExposedPorts":{"80/tcp":{},"53/udp":{}}"#, r#""PublishAllPorts":true"#), &["b:HostConfig.PublishAllPorts"]),
        Case::new("cf-publish-all-start", "POST", "/containers/ad-cfpa/start", "POST /containers/{id}/start", &["b:HostConfig.PublishAllPorts"], Cmp::Headers),
        Case::new("cf-publish-all-ports", "GET", "/containers/ad-cfpa/json", "GET /containers/{id}/json", &["b:HostConfig.PublishAllPorts"], Cmp::Shape)
            .pick("/NetworkSettings/Ports"),
        rm("cf-publish-all-rm", "ad-cfpa"),
    ]);
    // AutoRemove: gone once it exits (checked after the network cases: each daemon's request is
    // sent after the other's answer, so a wait for the removal would race).
    v.extend([
        create("cf-autoremove", "ad-cfar", &body("true", "none", "", r#""AutoRemove":true"#), &["b:HostConfig.AutoRemove"]),
        Case::new("cf-autoremove-start", "POST", "/containers/ad-cfar/start", "POST /containers/{id}/start", &["b:HostConfig.AutoRemove"], Cmp::Headers),
    ]);
    // NetworkingConfig: a user network with an alias and a fixed address.
    v.extend([
        Case::new("cf-net-create", "POST", "/networks/create", "POST /networks/create", &["b:Name", "b:IPAM"], Cmp::Shape)
            .json(r#"{"Name":"ad-cfnet","IPAM":{"Config":[{"Subnet":"{subnet}"}]}}"#),
        create(
            "cf-netcfg",
            "ad-cfnc",
            r#"{"Image":"busybox","Cmd":["sh","-c","ip -4 -o addr show eth0 | awk '{print $4}' | cut -d. -f4; nslookup ad-alias 127.0.0.11 >/dev/null 2>&1 && echo resolves"],
               "HostConfig":{"NetworkMode":"ad-cfnet"},"NetworkingConfig":{"EndpointsConfig":{"ad-cfnet":{"Aliases":["ad-alias"],"IPAMConfig":{"IPv4Address":"{ip77}"}}}}}"#,
            &["b:NetworkingConfig"],
        ),
        Case::new("cf-netcfg-start", "POST", "/containers/ad-cfnc/start", "POST /containers/{id}/start", &["b:NetworkingConfig"], Cmp::Headers),
        Case::new("cf-netcfg-wait", "POST", "/containers/ad-cfnc/wait", "POST /containers/{id}/wait", &["p:id"], Cmp::Json),
        Case::new("cf-netcfg-logs", "GET", "/containers/ad-cfnc/logs?stdout=1&stderr=1", "GET /containers/{id}/logs", &["b:NetworkingConfig"], Cmp::Frames),
        Case::new("cf-netcfg-inspect", "GET", "/containers/ad-cfnc/json", "GET /containers/{id}/json", &["b:NetworkingConfig"], Cmp::Json).pick("/NetworkSettings/Networks/ad-cfnet/Aliases"),
        // dockerd lists the networks in its map's (random) order: Berth alone, sorted.
        refused(
            "cf-netcfg-two-networks",
            r#"{"Image":"busybox","HostConfig":{"NetworkMode":"ad-cfnet"},"NetworkingConfig":{"EndpointsConfig":{"ad-cfnet":{},"bridge":{}}}}"#,
            &["b:NetworkingConfig"],
        )
        .berth_only(400, "Container cannot be connected to network endpoints: ad-cfnet, bridge"),
        refused(
            "cf-netcfg-ip-outside",
            r#"{"Image":"busybox","HostConfig":{"NetworkMode":"ad-cfnet"},"NetworkingConfig":{"EndpointsConfig":{"ad-cfnet":{"IPAMConfig":{"IPv4Address":"192.0.2.1"}}}}}"#,
            &["b:NetworkingConfig"],
        ),
        rm("cf-netcfg-rm", "ad-cfnc"),
        Case::new("cf-net-delete", "DELETE", "/networks/ad-cfnet", "DELETE /networks/{id}", &["p:id"], Cmp::Headers),
        Case::new("cf-autoremove-gone", "GET", "/containers/ad-cfar/json", "GET /containers/{id}/json", &["b:HostConfig.AutoRemove"], Cmp::Status),
    ]);
    v
}
