//! Classic builds (`POST /build`) with each query parameter the docker CLI sends, compared by the
//! output stream (what `docker build` prints, with what RUN steps see of the parameter: build args,
//! the network, extra hosts, /dev/shm, cgroup limits) and by the image or containers left behind.

use crate::cases::{context, enc, Case};
use crate::compare::Cmp;

const EP: &str = "POST /build";

fn b(name: &'static str, query: &str, params: &'static [&'static str], cmp: Cmp, dockerfile: &str) -> Case {
    Case::new(name, "POST", &format!("/build?{query}"), EP, params, cmp).bytes("application/x-tar", context(&[("Dockerfile", dockerfile)]))
}

/// The stopped containers a build left (compared by count and command), then removed.
fn left(name: &'static str, params: &'static [&'static str]) -> Case {
    Case::new(name, "GET", &format!("/containers/json?all=1&filters={}", enc(r#"{"status":["exited","created"]}"#)), "GET /containers/json", params, Cmp::Json)
        .pick("/0/Command")
}

pub fn all() -> Vec<Case> {
    let f = |j: &str| enc(j);
    let args_df = "FROM busybox\nARG A\nARG B=dflt\nRUN echo A=$A B=$B\n";
    // One write (how output is cut into messages is a matter of timing, on dockerd too).
    let limits = "cd /sys/fs/cgroup; echo $(cat memory/memory.limit_in_bytes memory/memory.memsw.limit_in_bytes cpu/cpu.shares cpu/cpu.cfs_period_us cpu/cpu.cfs_quota_us cpuset/cpuset.cpus 2>&1)";
    vec![
        b(
            "bld-args",
            &format!("t=ad-b1&buildargs={}&labels={}", f(r#"{"A":"x","UNUSED":"y"}"#), f(r#"{"l1":"v1"}"#)),
            &["q:buildargs", "q:labels", "q:t", "h:Content-type"],
            Cmp::Lines,
            args_df,
        ),
        Case::new("bld-args-labels", "GET", "/images/ad-b1/json", "GET /images/{name}/json", &["q:labels"], Cmp::Json).pick("/Config/Labels"),
        // The same build again: every step from the cache; then with nocache, none.
        b("bld-cached", &format!("t=ad-b1&buildargs={}&labels={}", f(r#"{"A":"x","UNUSED":"y"}"#), f(r#"{"l1":"v1"}"#)), &["q:buildargs"], Cmp::Lines, args_df),
        b("bld-nocache", &format!("t=ad-b1&nocache=1&buildargs={}", f(r#"{"A":"x"}"#)), &["q:nocache"], Cmp::Lines, args_df),
        b("bld-cachefrom", &format!("cachefrom={}&buildargs={}", f(r#"["ad-b1"]"#), f(r#"{"A":"x"}"#)), &["q:cachefrom"], Cmp::Lines, args_df),
        // A step the cache holds, but not from an image `cachefrom` names: it runs again.
        b("bld-cachefrom-prime", "", &["q:cachefrom"], Cmp::Lines, "FROM busybox\nRUN echo primed\n"),
        b("bld-cachefrom-missing", &format!("cachefrom={}", f(r#"["nosuch:latest"]"#)), &["q:cachefrom"], Cmp::Lines, "FROM busybox\nRUN echo primed\n"),
        b("bld-bad-buildargs", "buildargs=nojson", &["q:buildargs"], Cmp::Status, args_df),
        b("bld-bad-labels", "labels=nojson", &["q:labels"], Cmp::Status, args_df),
        b("bld-bad-cachefrom", "cachefrom=nojson", &["q:cachefrom"], Cmp::Status, args_df),
        // Stages.
        b("bld-target", "target=one", &["q:target"], Cmp::Lines, "FROM busybox AS one\nRUN echo one\nFROM busybox AS two\nRUN echo two\n"),
        b("bld-target-missing", "target=nosuch", &["q:target"], Cmp::Status, "FROM busybox AS one\nRUN echo one\n"),
        // What RUN steps see.
        b("bld-network-none", "networkmode=none", &["q:networkmode"], Cmp::Lines, "FROM busybox\nRUN ls /sys/class/net\n"),
        b("bld-network-default", "networkmode=default", &["q:networkmode"], Cmp::Lines, "FROM busybox\nRUN ls /sys/class/net\n"),
        b("bld-network-missing", "networkmode=nosuch", &["q:networkmode"], Cmp::Lines, "FROM busybox\nRUN true\n"),
        b("bld-extrahosts", &format!("extrahosts={}&extrahosts={}", f("h1.test:192.0.2.9"), f("h2.test:192.0.2.10")), &["q:extrahosts"], Cmp::Lines, "FROM busybox\nRUN grep -E 'h[12].test' /etc/hosts\n"),
        b("bld-extrahosts-bad", &format!("extrahosts={}", f("h1.test")), &["q:extrahosts"], Cmp::Lines, "FROM busybox\nRUN true\n"),
        b("bld-shmsize", "shmsize=16777216", &["q:shmsize"], Cmp::Lines, "FROM busybox\nRUN df -k /dev/shm | tail -1 | awk '{print $2}'\n"),
        b("bld-shmsize-bad", "shmsize=lots", &["q:shmsize"], Cmp::Status, "FROM busybox\n"),
        b(
            "bld-limits",
            "memory=67108864&memswap=134217728&cpushares=512&cpusetcpus=0&cpuperiod=50000&cpuquota=25000",
            &["q:memory", "q:memswap", "q:cpushares", "q:cpusetcpus", "q:cpuperiod", "q:cpuquota"],
            Cmp::Lines,
            &format!("FROM busybox\nRUN {limits}\n"),
        ),
        b("bld-memory-bad", "memory=lots", &["q:memory"], Cmp::Status, "FROM busybox\n"),
        b("bld-cpuquota-bad", "cpuquota=500", &["q:cpuquota"], Cmp::Lines, "FROM busybox\nRUN true\n"),
        // Intermediate containers: kept with rm=0, removed after a failure with forcerm=1.
        Case::new("bld-prune-before", "POST", "/containers/prune", "POST /containers/prune", &[], Cmp::Status),
        b("bld-rm0", "rm=0", &["q:rm"], Cmp::Lines, "FROM busybox\nRUN echo kept\n"),
        left("bld-rm0-left", &["q:rm"]),
        b("bld-fail", "", &["q:rm"], Cmp::Lines, "FROM busybox\nRUN exit 3\n"),
        left("bld-fail-left", &["q:rm"]),
        b("bld-forcerm", "forcerm=1", &["q:forcerm"], Cmp::Lines, "FROM busybox\nRUN exit 4\n"),
        left("bld-forcerm-left", &["q:forcerm"]),
        // Platform, pull, a remote context.
        b("bld-platform", "platform=linux/amd64", &["q:platform"], Cmp::Lines, "FROM busybox\nRUN uname -m\n"),
        b("bld-platform-bad", "platform=nosuch", &["q:platform"], Cmp::Status, "FROM busybox\n"),
        b("bld-pull-unreachable", "pull=1", &["q:pull"], Cmp::Lines, "FROM 127.0.0.1:1/nosuch\n"),
        Case::new("bld-remote-unreachable", "POST", "/build?remote=http://127.0.0.1:1/ctx.tar", EP, &["q:remote"], Cmp::Status),
        // Quiet with a failing step: only the error.
        b("bld-quiet-fail", "q=1", &["q:q"], Cmp::Lines, "FROM busybox\nRUN echo out; exit 5\n"),
        Case::new("bld-rm-1", "DELETE", "/images/ad-b1", "DELETE /images/{name}", &["p:name"], Cmp::Status),
        // The build cache.
        Case::new("bld-cache-prune", "POST", &format!("/build/prune?all=1&keep-storage=1000000&filters={}", f(r#"{"until":["24h"]}"#)), "POST /build/prune", &["q:all", "q:keep-storage", "q:filters"], Cmp::Shape),
        Case::new("bld-cache-prune-bad-filter", "POST", &format!("/build/prune?filters={}", f(r#"{"nosuch":["x"]}"#)), "POST /build/prune", &["q:filters"], Cmp::Status),
        Case::new("bld-cache-prune-bad-keep", "POST", "/build/prune?keep-storage=lots", "POST /build/prune", &["q:keep-storage"], Cmp::Status),
        // What builds left on dockerd (rm=0, failed steps).
        Case::new("bld-left-prune", "POST", "/containers/prune", "POST /containers/prune", &[], Cmp::Status),
    ]
}
