//! HostConfig fields of container create, each applied (checked from inside the container: its
//! cgroup files, /proc/self/oom_score_adj, /proc/self/status, /proc/self/cgroup) or refused as dockerd
//! applies or refuses it, with dockerd's warnings for what this host cannot apply.
//!
//! A negative OomScoreAdj is not used: this test host does not let either daemon lower the score.
//!
//! `{cgparent}` is a cgroup parent both daemons share (each container is its own child of it) and
//! `{blockdev}` a block device of the host (for the throttle lists).

use crate::cases::{create, run_body, Case};
use crate::compare::Cmp;

/// create (compared as JSON: the warnings too), start, wait and logs of one container.
pub fn run(prefix: &'static [&'static str; 4], cname: &'static str, cmd: &str, hc: &str, params: &'static [&'static str]) -> Vec<Case> {
    let [c, s, w, l] = *prefix;
    vec![
        create(c, cname, &run_body(cmd, hc), params),
        Case::new(s, "POST", &format!("/containers/{cname}/start"), "POST /containers/{id}/start", params, Cmp::Headers),
        Case::new(w, "POST", &format!("/containers/{cname}/wait"), "POST /containers/{id}/wait", &["p:id"], Cmp::Json),
        Case::new(l, "GET", &format!("/containers/{cname}/logs?stdout=1&stderr=1"), "GET /containers/{id}/logs", &["q:stdout", "q:stderr"], Cmp::Frames),
    ]
}

/// A create that dockerd refuses (or accepts), compared by status and message.
pub fn refused(name: &'static str, hc: &str, params: &'static [&'static str]) -> Case {
    Case::new(name, "POST", "/containers/create", "POST /containers/create", params, Cmp::Status).json(&run_body("true", hc))
}

pub fn all() -> Vec<Case> {
    let limits = "cat /proc/self/oom_score_adj; grep -w memory /proc/self/cgroup; \
        cd /sys/fs/cgroup; cat blkio/blkio.throttle.read_bps_device blkio/blkio.throttle.write_bps_device \
        blkio/blkio.throttle.read_iops_device blkio/blkio.throttle.write_iops_device memory/memory.soft_limit_in_bytes \
        memory/memory.swappiness cpuset/cpuset.mems cpu/cpu.cfs_period_us cpu/cpu.cfs_quota_us cpu/cpu.rt_period_us; \
        grep -c ' /proc/kcore ' /proc/self/mountinfo; true";
    let limits_hc = r#""CgroupParent":"/{cgparent}","OomScoreAdj":500,"BlkioWeight":300,"BlkioWeightDevice":[{"Path":"{blockdev}","Weight":200}],
        "BlkioDeviceReadBps":[{"Path":"{blockdev}","Rate":1048576}],"BlkioDeviceWriteBps":[{"Path":"{blockdev}","Rate":2097152}],
        "BlkioDeviceReadIOps":[{"Path":"{blockdev}","Rate":100}],"BlkioDeviceWriteIOps":[{"Path":"{blockdev}","Rate":200}],
        "Memory":67108864,"MemoryReservation":33554432,"MemorySwappiness":30,"CpusetMems":"0","CpuPeriod":50000,"CpuQuota":25000,
        "CpuRealtimePeriod":900000,"MaskedPaths":[],"ReadonlyPaths":[],"Runtime":"runc","StorageOpt":{}"#;
    let mut v = run(
        &["limits", "limits-start", "limits-wait", "limits-logs"],
        "ad-limits",
        limits,
        limits_hc,
        &[
            "b:HostConfig.CgroupParent", "b:HostConfig.CgroupnsMode", "b:HostConfig.OomScoreAdj", "b:HostConfig.BlkioWeight",
            "b:HostConfig.BlkioWeightDevice", "b:HostConfig.BlkioDeviceReadBps", "b:HostConfig.BlkioDeviceWriteBps",
            "b:HostConfig.BlkioDeviceReadIOps", "b:HostConfig.BlkioDeviceWriteIOps", "b:HostConfig.Memory",
            "b:HostConfig.MemoryReservation", "b:HostConfig.MemorySwappiness", "b:HostConfig.CpusetMems", "b:HostConfig.CpuPeriod",
            "b:HostConfig.CpuQuota", "b:HostConfig.CpuRealtimePeriod", "b:HostConfig.MaskedPaths", "b:HostConfig.ReadonlyPaths",
            "b:HostConfig.Runtime", "b:HostConfig.StorageOpt",
        ],
    );
    v.extend(run(
        &["cgroupns-private", "cgroupns-private-start", "cgroupns-private-wait", "cgroupns-private-logs"],
        "ad-cgns",
        "grep -w memory /proc/self/cgroup",
        r#""CgroupnsMode":"private""#,
        &["b:HostConfig.CgroupnsMode"],
    ));
    v.extend(run(
        &["security-opts", "security-opts-start", "security-opts-wait", "security-opts-logs"],
        "ad-secopt",
        "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status",
        r#""SecurityOpt":["no-new-privileges","seccomp=unconfined","apparmor=unconfined","label=disable"]"#,
        &["b:HostConfig.SecurityOpt"],
    ));
    v.extend(run(
        &["oom-kill-disable", "oom-kill-disable-start", "oom-kill-disable-wait", "oom-kill-disable-logs"],
        "ad-oomk",
        "cat /sys/fs/cgroup/memory/memory.oom_control | head -1",
        r#""OomKillDisable":true"#,
        &["b:HostConfig.OomKillDisable"],
    ));
    v.extend([
        refused("cgroupns-bad", r#""CgroupnsMode":"bogus""#, &["b:HostConfig.CgroupnsMode"]),
        refused("oom-score-bad", r#""OomScoreAdj":1001"#, &["b:HostConfig.OomScoreAdj"]),
        refused("cpu-period-bad", r#""CpuPeriod":500"#, &["b:HostConfig.CpuPeriod"]),
        refused("cpu-quota-bad", r#""CpuQuota":500"#, &["b:HostConfig.CpuQuota"]),
        refused("nano-and-quota", r#""NanoCpus":1000000000,"CpuQuota":50000"#, &["b:HostConfig.NanoCpus", "b:HostConfig.CpuQuota"]),
        refused("nano-and-period", r#""NanoCpus":1000000000,"CpuPeriod":50000"#, &["b:HostConfig.NanoCpus", "b:HostConfig.CpuPeriod"]),
        refused("cpuset-cpus-bad", r#""CpusetCpus":"4096""#, &["b:HostConfig.CpusetCpus"]),
        refused("cpuset-mems-bad", r#""CpusetMems":"4096""#, &["b:HostConfig.CpusetMems"]),
        refused("runtime-unknown", r#""Runtime":"nosuch""#, &["b:HostConfig.Runtime"]),
        refused("reservation-over-limit", r#""Memory":8388608,"MemoryReservation":16777216"#, &["b:HostConfig.MemoryReservation"]),
        refused("reservation-too-small", r#""MemoryReservation":1000"#, &["b:HostConfig.MemoryReservation"]),
        refused("swappiness-bad", r#""MemorySwappiness":150"#, &["b:HostConfig.MemorySwappiness"]),
        refused("swap-without-memory", r#""MemorySwap":100000000"#, &["b:HostConfig.MemorySwap"]),
        refused("rt-runtime-over-period", r#""CpuRealtimePeriod":100000,"CpuRealtimeRuntime":950000"#, &["b:HostConfig.CpuRealtimeRuntime"]),
        refused("storage-opt-size", r#""StorageOpt":{"size":"1G"}"#, &["b:HostConfig.StorageOpt"]),
        refused("storage-opt-unknown", r#""StorageOpt":{"foo":"bar"}"#, &["b:HostConfig.StorageOpt"]),
        refused("security-opt-bad", r#""SecurityOpt":["bogus"]"#, &["b:HostConfig.SecurityOpt"]),
        refused("security-opt-systempaths", r#""SecurityOpt":["systempaths=unconfined"]"#, &["b:HostConfig.SecurityOpt"]),
        refused("security-opt-nnp-bad", r#""SecurityOpt":["no-new-privileges=maybe"]"#, &["b:HostConfig.SecurityOpt"]),
    ]);
    // Refused at start, before any task, with dockerd's bare messages (500).
    v.extend([
        create("throttle-missing-device", "ad-nodev", &run_body("true", r#""BlkioDeviceReadBps":[{"Path":"/dev/nosuch","Rate":1}]"#), &["b:HostConfig.BlkioDeviceReadBps"]),
        Case::new("throttle-missing-device-start", "POST", "/containers/ad-nodev/start", "POST /containers/{id}/start", &["b:HostConfig.BlkioDeviceReadBps"], Cmp::Status),
        create("gpus", "ad-gpus", &run_body("true", r#""DeviceRequests":[{"Driver":"","Count":-1,"DeviceIDs":null,"Capabilities":[["gpu"]],"Options":{}}]"#), &["b:HostConfig.DeviceRequests"]),
        Case::new("gpus-start", "POST", "/containers/ad-gpus/start", "POST /containers/{id}/start", &["b:HostConfig.DeviceRequests"], Cmp::Status),
    ]);
    v.extend(update());
    v.extend(common_fields());
    v
}

/// The config and HostConfig fields most `docker run` lines use, read back from inside the
/// container (its environment, identity, files and limits).
fn common_fields() -> Vec<Case> {
    let body = r#"{"Image":"busybox","Hostname":"h1","Domainname":"example.test","User":"1000:1000","Env":["A=1","B=two words"],
        "WorkingDir":"/tmp","Entrypoint":["sh","-c"],"Cmd":["echo $(id -u):$(id -g); hostname; pwd; echo $A $B; cat /etc/resolv.conf | grep -v '^#'; grep -v -e localhost -e ip6- /etc/hosts | sort; grep -c ' /run ' /proc/self/mounts; touch /x 2>&1 | head -1; cat /proc/sys/net/ipv4/ip_forward; grep CapEff /proc/self/status; df -k /dev/shm | tail -1 | awk '{print $2}'"],
        "Labels":{"l":"v"},"StopSignal":"SIGUSR1","StopTimeout":3,
        "HostConfig":{"NetworkMode":"bridge","Dns":["192.0.2.53"],"DnsSearch":["example.test"],"DnsOptions":["ndots:2"],"ExtraHosts":["extra.test:192.0.2.7"],
        "CapDrop":["NET_RAW"],"CapAdd":["SYS_TIME"],"ReadonlyRootfs":true,"Tmpfs":{"/run":"size=1m"},"ShmSize":8388608,
        "Sysctls":{"net.ipv4.ip_forward":"1"}}}"#;
    let params: &'static [&'static str] = &[
        "b:Hostname", "b:Domainname", "b:User", "b:Env", "b:WorkingDir", "b:Entrypoint", "b:Labels", "b:StopSignal", "b:StopTimeout",
        "b:HostConfig.Dns", "b:HostConfig.DnsSearch", "b:HostConfig.DnsOptions", "b:HostConfig.ExtraHosts",
        "b:HostConfig.CapDrop", "b:HostConfig.CapAdd", "b:HostConfig.ReadonlyRootfs", "b:HostConfig.Tmpfs", "b:HostConfig.ShmSize",
        "b:HostConfig.Sysctls",
    ];
    vec![
        create("common", "ad-common", body, params),
        Case::new("common-start", "POST", "/containers/ad-common/start", "POST /containers/{id}/start", params, Cmp::Headers),
        Case::new("common-wait", "POST", "/containers/ad-common/wait", "POST /containers/{id}/wait", &["p:id"], Cmp::Json),
        Case::new("common-logs", "GET", "/containers/ad-common/logs?stdout=1&stderr=1", "GET /containers/{id}/logs", params, Cmp::Frames),
        Case::new("common-labels", "GET", "/containers/ad-common/json", "GET /containers/{id}/json", &["b:Labels", "b:StopSignal", "b:StopTimeout"], Cmp::Json).pick("/Config/Labels"),
        Case::new("common-remove", "DELETE", "/containers/ad-common?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
    ]
}

/// `docker update` of a running container: the answer (with dockerd's warnings), and the values
/// in its cgroups, read by an exec.
fn update() -> Vec<Case> {
    let read = "cd /sys/fs/cgroup; cat memory/memory.limit_in_bytes memory/memory.soft_limit_in_bytes cpu/cpu.shares \
        cpu/cpu.cfs_period_us cpu/cpu.cfs_quota_us cpuset/cpuset.cpus cpuset/cpuset.mems pids/pids.max";
    let exec = format!(r#"{{"Cmd":["sh","-c",{}],"AttachStdout":true,"AttachStderr":true}}"#, serde_json::Value::String(read.into()));
    let params: &'static [&'static str] = &[
        "b:Memory", "b:MemorySwap", "b:MemoryReservation", "b:CpuShares", "b:CpuPeriod", "b:CpuQuota", "b:CpusetCpus", "b:CpusetMems",
        "b:PidsLimit", "b:BlkioWeight", "b:CpuRealtimePeriod",
    ];
    vec![
        create("upd", "ad-upd", &run_body("sleep 60", r#""Memory":67108864"#), &["b:HostConfig.Memory"]),
        Case::new("upd-start", "POST", "/containers/ad-upd/start", "POST /containers/{id}/start", &["p:id"], Cmp::Headers),
        Case::new("upd-update", "POST", "/containers/ad-upd/update", "POST /containers/{id}/update", params, Cmp::Json).json(
            r#"{"Memory":100000000,"MemorySwap":200000000,"MemoryReservation":33554432,"CpuShares":512,"CpuPeriod":50000,"CpuQuota":20000,
               "CpusetCpus":"0","CpusetMems":"0","PidsLimit":42,"BlkioWeight":300,"CpuRealtimePeriod":800000}"#,
        ),
        Case::new("upd-exec", "POST", "/containers/ad-upd/exec", "POST /containers/{id}/exec", &["b:Cmd"], Cmp::Shape).json(&exec).save("updexec", "Id"),
        Case::new("upd-exec-start", "POST", "/exec/{updexec}/start", "POST /exec/{id}/start", params, Cmp::Frames).json(r#"{"Detach":false,"Tty":false}"#).upgrade(),
        Case::new("upd-bad", "POST", "/containers/ad-upd/update", "POST /containers/{id}/update", &["b:NanoCpus"], Cmp::Status).json(r#"{"NanoCpus":1000000000}"#),
        Case::new("upd-remove", "DELETE", "/containers/ad-upd?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
    ]
}
