//! `GET /containers/{id}/stats` samples in dockerd's shape, read from the container's cgroup files
//! the way containerd's cgroups library reads them for dockerd (daemon `statsV1`/`statsV2`):
//!
//! - cgroup v1: `cpuacct.usage`, `cpuacct.usage_percpu`, `cpuacct.stat` (ticks → ns), `cpu.stat`
//!   (throttling); `memory.usage_in_bytes`, `memory.max_usage_in_bytes`, `memory.limit_in_bytes`,
//!   `memory.failcnt` and the fixed set of `memory.stat` keys dockerd reports; the eight blkio
//!   `*_recursive` lists from the CFQ files, falling back to `blkio.throttle.io_service_bytes` and
//!   `blkio.throttle.io_serviced` when those are absent or empty; `pids.current`/`pids.max`.
//! - cgroup v2: `cpu.stat` (no per-CPU usage), `memory.current`, `memory.max`, `memory.events`
//!   (`oom` is the failcnt) and dockerd's v2 `memory.stat` keys; `io.stat` read/write bytes as the
//!   only blkio list; `pids.current`/`pids.max`.
//!
//! Zero counters dockerd's Go types mark `omitempty` are left out as dockerd leaves them out, and a
//! container that is not running answers dockerd's all-zero sample.

use super::record::Status;
use super::{ContainerService, Handle};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// The `memory.stat` keys dockerd reports on cgroup v1 (containerd's v1 `MemoryStat` fields).
const V1_MEMORY_KEYS: &[&str] = &[
    "cache", "rss", "rss_huge", "mapped_file", "dirty", "writeback", "pgpgin", "pgpgout", "pgfault", "pgmajfault",
    "inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable", "hierarchical_memory_limit",
    "hierarchical_memsw_limit", "total_cache", "total_rss", "total_rss_huge", "total_mapped_file", "total_dirty",
    "total_writeback", "total_pgpgin", "total_pgpgout", "total_pgfault", "total_pgmajfault", "total_inactive_anon",
    "total_active_anon", "total_inactive_file", "total_active_file", "total_unevictable",
];

/// The `memory.stat` keys dockerd reports on cgroup v2.
const V2_MEMORY_KEYS: &[&str] = &[
    "anon", "file", "kernel_stack", "slab", "sock", "shmem", "file_mapped", "file_dirty", "file_writeback", "anon_thp",
    "inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable", "slab_reclaimable",
    "slab_unreclaimable", "pgfault", "pgmajfault", "workingset_refault", "workingset_activate", "workingset_nodereclaim",
    "pgrefill", "pgscan", "pgsteal", "pgactivate", "pgdeactivate", "pglazyfree", "pglazyfreed", "thp_fault_alloc",
    "thp_collapse_alloc",
];

/// The blkio lists of dockerd's `BlkioStats`, with the v1 CFQ file each is read from.
const BLKIO_LISTS: [(&str, &str); 8] = [
    ("io_service_bytes_recursive", "blkio.io_service_bytes_recursive"),
    ("io_serviced_recursive", "blkio.io_serviced_recursive"),
    ("io_queue_recursive", "blkio.io_queued_recursive"),
    ("io_service_time_recursive", "blkio.io_service_time_recursive"),
    ("io_wait_time_recursive", "blkio.io_wait_time_recursive"),
    ("io_merged_recursive", "blkio.io_merged_recursive"),
    ("io_time_recursive", "blkio.time_recursive"),
    ("sectors_recursive", "blkio.sectors_recursive"),
];

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// A v1 controller's directory for the container (`cpuacct`, `cpu`, `memory`, `blkio`, `pids`).
type ControllerDir = Box<dyn Fn(&str) -> Option<PathBuf>>;

/// Where a container's cgroup files are.
pub(super) enum Cgroup {
    /// One directory per v1 controller, each optional.
    V1(ControllerDir),
    /// The container's directory in the unified hierarchy.
    V2(PathBuf),
}

/// What the host tells about itself for a sample: its memory (the limit of an unlimited
/// container), its CPU time (`system_cpu_usage`, ns) and its online CPUs.
pub(super) struct Host {
    pub memory: u64,
    pub system_cpu: u64,
    pub online_cpus: u64,
    pub clock_ticks: u64,
}

impl Host {
    fn read() -> Host {
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|s| s.lines().find_map(|l| l.strip_prefix("MemTotal:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())))
            .map(|k| k * 1024)
            .unwrap_or(0);
        let clock_ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().filter(|t| *t > 0).map_or(100, |t| t as u64);
        let (system_cpu, online_cpus) = proc_stat(&std::fs::read_to_string("/proc/stat").unwrap_or_default(), clock_ticks);
        Host { memory, system_cpu, online_cpus, clock_ticks }
    }
}

/// dockerd's `getSystemCPUUsage`: the first seven fields of the `cpu` line (user … softirq, not
/// steal or guest) in ns, and the number of `cpuN` lines.
fn proc_stat(text: &str, clock_ticks: u64) -> (u64, u64) {
    let mut total = 0;
    let mut cpus = 0;
    for line in text.lines() {
        let mut f = line.split_whitespace();
        match f.next() {
            Some("cpu") => total = f.take(7).filter_map(|v| v.parse::<u64>().ok()).sum::<u64>() * 1_000_000_000 / clock_ticks,
            Some(c) if c.starts_with("cpu") => cpus += 1,
            _ => {}
        }
    }
    (total, cpus)
}

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

fn read_u64(p: &Path) -> Option<u64> {
    read(p)?.trim().parse().ok()
}

/// `key value` lines (`memory.stat`, `cpu.stat`, `cpuacct.stat`, `memory.events`).
fn flat_keyed(p: &Path) -> Map<String, Value> {
    read(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(' ').and_then(|(k, v)| Some((k.to_string(), json!(v.trim().parse::<u64>().ok()?)))))
        .collect()
}

fn keyed(all: &Map<String, Value>, key: &str) -> u64 {
    all.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// Inserts `value` unless it is zero (Go's `omitempty`).
fn put_nonzero(m: &mut Map<String, Value>, key: &str, value: u64) {
    if value != 0 {
        m.insert(key.into(), json!(value));
    }
}

/// A v1 blkio file: `MAJ:MIN Op Value` or `MAJ:MIN Value` lines, the `Total` line left out.
fn blkio_entries(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split([' ', ':']).filter(|s| !s.is_empty()).collect();
            let (op, value) = match f.len() {
                4 => (f[2], f[3]),
                3 => ("", f[2]),
                _ => return None,
            };
            Some(json!({"major": f[0].parse::<u64>().ok()?, "minor": f[1].parse::<u64>().ok()?, "op": op, "value": value.parse::<u64>().ok()?}))
        })
        .collect()
}

/// The CPU, memory, blkio and pids parts of a sample of a running container.
fn sample(cg: &Cgroup, host: &Host) -> Map<String, Value> {
    let mut out = Map::new();
    match cg {
        Cgroup::V1(dir) => {
            let acct = dir("cpuacct");
            let at = |f: &str| acct.as_ref().map(|d| d.join(f));
            let mut usage = Map::new();
            usage.insert("total_usage".into(), json!(at("cpuacct.usage").and_then(|p| read_u64(&p)).unwrap_or(0)));
            let percpu: Vec<u64> =
                at("cpuacct.usage_percpu").and_then(|p| read(&p)).unwrap_or_default().split_whitespace().filter_map(|v| v.parse().ok()).collect();
            if !percpu.is_empty() {
                usage.insert("percpu_usage".into(), json!(percpu));
            }
            let ticks = at("cpuacct.stat").map(|p| flat_keyed(&p)).unwrap_or_default();
            let ns = |k| keyed(&ticks, k) * 1_000_000_000 / host.clock_ticks;
            usage.insert("usage_in_kernelmode".into(), json!(ns("system")));
            usage.insert("usage_in_usermode".into(), json!(ns("user")));
            let thr = dir("cpu").map(|d| flat_keyed(&d.join("cpu.stat"))).unwrap_or_default();
            out.insert(
                "cpu_stats".into(),
                cpu_stats(usage, keyed(&thr, "nr_periods"), keyed(&thr, "nr_throttled"), keyed(&thr, "throttled_time"), host),
            );

            let mut mem = Map::new();
            if let Some(d) = dir("memory") {
                let stat = flat_keyed(&d.join("memory.stat"));
                let stats: Map<String, Value> = V1_MEMORY_KEYS.iter().map(|k| (k.to_string(), json!(keyed(&stat, k)))).collect();
                put_nonzero(&mut mem, "usage", read_u64(&d.join("memory.usage_in_bytes")).unwrap_or(0));
                put_nonzero(&mut mem, "max_usage", read_u64(&d.join("memory.max_usage_in_bytes")).unwrap_or(0));
                mem.insert("stats".into(), Value::Object(stats));
                put_nonzero(&mut mem, "failcnt", read_u64(&d.join("memory.failcnt")).unwrap_or(0));
                let limit = read_u64(&d.join("memory.limit_in_bytes")).unwrap_or(0);
                put_nonzero(&mut mem, "limit", if host.memory > 0 { limit.min(host.memory) } else { limit });
            }
            out.insert("memory_stats".into(), Value::Object(mem));

            let mut blkio = Map::new();
            if let Some(d) = dir("blkio") {
                let cfq = d.join("blkio.io_serviced_recursive").exists();
                for (key, file) in BLKIO_LISTS {
                    let entries = if cfq { blkio_entries(&read(&d.join(file)).unwrap_or_default()) } else { vec![] };
                    blkio.insert(key.into(), json!(entries));
                }
                if blkio.values().all(|v| v.as_array().is_some_and(Vec::is_empty)) {
                    // No CFQ scheduler on the devices this cgroup used: the throttle counters.
                    blkio.insert("io_service_bytes_recursive".into(), json!(blkio_entries(&read(&d.join("blkio.throttle.io_service_bytes")).unwrap_or_default())));
                    blkio.insert("io_serviced_recursive".into(), json!(blkio_entries(&read(&d.join("blkio.throttle.io_serviced")).unwrap_or_default())));
                }
            } else {
                for (key, _) in BLKIO_LISTS {
                    blkio.insert(key.into(), Value::Null);
                }
            }
            out.insert("blkio_stats".into(), Value::Object(blkio));

            out.insert("pids_stats".into(), pids(dir("pids").as_deref()));
        }
        Cgroup::V2(d) => {
            let cpu = flat_keyed(&d.join("cpu.stat"));
            let mut usage = Map::new();
            usage.insert("total_usage".into(), json!(keyed(&cpu, "usage_usec") * 1000));
            usage.insert("usage_in_kernelmode".into(), json!(keyed(&cpu, "system_usec") * 1000));
            usage.insert("usage_in_usermode".into(), json!(keyed(&cpu, "user_usec") * 1000));
            out.insert(
                "cpu_stats".into(),
                cpu_stats(usage, keyed(&cpu, "nr_periods"), keyed(&cpu, "nr_throttled"), keyed(&cpu, "throttled_usec") * 1000, host),
            );

            let stat = flat_keyed(&d.join("memory.stat"));
            let mut mem = Map::new();
            put_nonzero(&mut mem, "usage", read_u64(&d.join("memory.current")).unwrap_or(0));
            mem.insert("stats".into(), Value::Object(V2_MEMORY_KEYS.iter().map(|k| (k.to_string(), json!(keyed(&stat, k)))).collect()));
            put_nonzero(&mut mem, "failcnt", keyed(&flat_keyed(&d.join("memory.events")), "oom"));
            // `max` (no limit) reads as no number: the host's memory, as dockerd shows it.
            let limit = read_u64(&d.join("memory.max")).unwrap_or(u64::MAX);
            put_nonzero(&mut mem, "limit", if host.memory > 0 { limit.min(host.memory) } else { limit });
            out.insert("memory_stats".into(), Value::Object(mem));

            let mut blkio = Map::new();
            let mut entries = Vec::new();
            for line in read(&d.join("io.stat")).unwrap_or_default().lines() {
                let mut f = line.split_whitespace();
                let Some((major, minor)) = f.next().and_then(|dev| dev.split_once(':')) else { continue };
                let (Ok(major), Ok(minor)) = (major.parse::<u64>(), minor.parse::<u64>()) else { continue };
                let kv: Map<String, Value> = f.filter_map(|p| p.split_once('=')).map(|(k, v)| (k.to_string(), json!(v.parse::<u64>().unwrap_or(0)))).collect();
                for (op, key) in [("read", "rbytes"), ("write", "wbytes")] {
                    entries.push(json!({"major": major, "minor": minor, "op": op, "value": keyed(&kv, key)}));
                }
            }
            for (key, _) in BLKIO_LISTS {
                blkio.insert(key.into(), Value::Null);
            }
            if !entries.is_empty() {
                blkio.insert("io_service_bytes_recursive".into(), json!(entries));
            }
            out.insert("blkio_stats".into(), Value::Object(blkio));

            out.insert("pids_stats".into(), pids(Some(d)));
        }
    }
    out
}

fn cpu_stats(usage: Map<String, Value>, periods: u64, throttled: u64, time: u64, host: &Host) -> Value {
    let mut m = Map::new();
    m.insert("cpu_usage".into(), Value::Object(usage));
    put_nonzero(&mut m, "system_cpu_usage", host.system_cpu);
    put_nonzero(&mut m, "online_cpus", host.online_cpus);
    m.insert("throttling_data".into(), json!({"periods": periods, "throttled_periods": throttled, "throttled_time": time}));
    Value::Object(m)
}

fn pids(dir: Option<&Path>) -> Value {
    let mut m = Map::new();
    if let Some(d) = dir {
        put_nonzero(&mut m, "current", read_u64(&d.join("pids.current")).unwrap_or(0));
        // `max` means no limit, which dockerd leaves out.
        put_nonzero(&mut m, "limit", read_u64(&d.join("pids.max")).unwrap_or(0));
    }
    Value::Object(m)
}

/// dockerd's CPU stats of no sample (`precpu_stats` of a one-shot sample, a stopped container).
fn zero_cpu() -> Value {
    json!({"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
           "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}})
}

/// Per-interface counters of the container's network namespace (`/proc/PID/net/dev`), loopback
/// left out, in the shape of Docker's `networks` stats.
fn net_dev(pid: i32) -> Map<String, Value> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default();
    let mut out = Map::new();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else { continue };
        let name = name.trim();
        let f: Vec<u64> = rest.split_whitespace().filter_map(|v| v.parse().ok()).collect();
        if name == "lo" || f.len() < 16 {
            continue;
        }
        out.insert(
            name.to_string(),
            json!({"rx_bytes": f[0], "rx_packets": f[1], "rx_errors": f[2], "rx_dropped": f[3],
                   "tx_bytes": f[8], "tx_packets": f[9], "tx_errors": f[10], "tx_dropped": f[11]}),
        );
    }
    out
}

impl ContainerService {
    /// One `GET /containers/{id}/stats` sample, in dockerd's shape (from cgroups v1 or v2);
    /// `pre` is the previous sample (its CPU part becomes `precpu_stats`).
    pub fn stats_sample(&self, h: &Handle, pre: Option<&Value>) -> Value {
        let rec = h.snapshot();
        let running = matches!(rec.state.status, Status::Running | Status::Paused);
        let mut out = Map::new();
        let blank_blkio: Map<String, Value> = BLKIO_LISTS.iter().map(|(k, _)| (k.to_string(), Value::Null)).collect();
        out.insert("read".into(), json!(ZERO_TIME));
        out.insert("preread".into(), json!(ZERO_TIME));
        out.insert("pids_stats".into(), json!({}));
        out.insert("blkio_stats".into(), Value::Object(blank_blkio));
        out.insert("num_procs".into(), json!(0));
        out.insert("storage_stats".into(), json!({}));
        out.insert("cpu_stats".into(), zero_cpu());
        out.insert("precpu_stats".into(), zero_cpu());
        out.insert("memory_stats".into(), json!({}));
        out.insert("name".into(), json!(format!("/{}", rec.name)));
        out.insert("id".into(), json!(rec.id));
        if !running {
            return Value::Object(out);
        }
        let name = super::hostcfg::cgroup_name(&rec.id, &rec.host_config);
        let cg = match super::ops::cgroup_dir(&name, "").filter(|d| d.join("cgroup.controllers").exists()) {
            Some(d) => Cgroup::V2(d),
            None => Cgroup::V1(Box::new(move |c| super::ops::cgroup_dir(&name, c))),
        };
        out.extend(sample(&cg, &Host::read()));
        out.insert("read".into(), json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)));
        if let Some(p) = pre.filter(|p| p["read"].as_str().is_some_and(|r| r != ZERO_TIME)) {
            out.insert("preread".into(), p["read"].clone());
            out.insert("precpu_stats".into(), p["cpu_stats"].clone());
        }
        let nets = net_dev(rec.state.pid);
        if !nets.is_empty() {
            out.insert("networks".into(), Value::Object(nets));
        }
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Host {
        Host { memory: 1 << 30, system_cpu: 5_000_000_000, online_cpus: 2, clock_ticks: 100 }
    }

    fn write(dir: &Path, files: &[(&str, &str)]) {
        std::fs::create_dir_all(dir).unwrap();
        for (f, text) in files {
            std::fs::write(dir.join(f), text).unwrap();
        }
    }

    #[test]
    fn system_cpu_counts_seven_fields_and_cpu_lines() {
        let text = "cpu  100 0 50 1000 10 0 5 99 0 0\ncpu0 50 0 25 500 5 0 2 0 0 0\ncpu1 50 0 25 500 5 0 3 0 0 0\nintr 1\n";
        // 1165 ticks (steal's 99 left out) at 100 Hz.
        assert_eq!(proc_stat(text, 100), (11_650_000_000, 2));
    }

    #[test]
    fn blkio_lines_with_and_without_op() {
        let e = blkio_entries("8:0 Read 4096\n8:0 Write 0\n8:16 12\nTotal 4096\n");
        assert_eq!(e.len(), 3);
        assert_eq!(e[0], json!({"major": 8, "minor": 0, "op": "Read", "value": 4096}));
        assert_eq!(e[2], json!({"major": 8, "minor": 16, "op": "", "value": 12}));
    }

    #[test]
    fn v1_sample_has_dockerds_keys() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().to_path_buf();
        write(&root.join("cpuacct"), &[("cpuacct.usage", "300\n"), ("cpuacct.usage_percpu", "100 200 \n"), ("cpuacct.stat", "user 3\nsystem 1\n")]);
        write(&root.join("cpu"), &[("cpu.stat", "nr_periods 4\nnr_throttled 2\nthrottled_time 77\n")]);
        write(
            &root.join("memory"),
            &[("memory.stat", "cache 10\nrss 20\nshmem 5\ntotal_rss 20\n"), ("memory.usage_in_bytes", "4096\n"), ("memory.max_usage_in_bytes", "8192\n"),
              ("memory.limit_in_bytes", "9223372036854771712\n"), ("memory.failcnt", "0\n")],
        );
        write(&root.join("blkio"), &[("blkio.throttle.io_service_bytes", "254:0 Read 0\n254:0 Write 512\nTotal 512\n"), ("blkio.throttle.io_serviced", "254:0 Write 1\nTotal 1\n")]);
        write(&root.join("pids"), &[("pids.current", "3\n"), ("pids.max", "max\n")]);
        let r = root.clone();
        let s = sample(&Cgroup::V1(Box::new(move |c| Some(r.join(c)))), &host());
        assert_eq!(s["cpu_stats"]["cpu_usage"], json!({"total_usage": 300, "percpu_usage": [100, 200], "usage_in_kernelmode": 10_000_000, "usage_in_usermode": 30_000_000}));
        assert_eq!(s["cpu_stats"]["throttling_data"], json!({"periods": 4, "throttled_periods": 2, "throttled_time": 77}));
        assert_eq!(s["cpu_stats"]["online_cpus"], 2);
        let mem = s["memory_stats"].as_object().unwrap();
        assert_eq!(mem["stats"].as_object().unwrap().len(), V1_MEMORY_KEYS.len());
        assert_eq!(mem["stats"]["rss"], 20);
        assert_eq!(mem["stats"]["total_dirty"], 0, "a key the kernel does not list is 0");
        assert!(mem["stats"].get("shmem").is_none(), "dockerd reports only its fixed key set");
        assert_eq!((mem["usage"].as_u64(), mem["max_usage"].as_u64(), mem["limit"].as_u64()), (Some(4096), Some(8192), Some(1 << 30)));
        assert!(mem.get("failcnt").is_none());
        let blkio = s["blkio_stats"].as_object().unwrap();
        assert_eq!(blkio.len(), 8);
        assert_eq!(blkio["io_service_bytes_recursive"].as_array().unwrap().len(), 2);
        assert_eq!(blkio["io_serviced_recursive"][0]["value"], 1);
        assert_eq!(blkio["sectors_recursive"], json!([]));
        assert_eq!(s["pids_stats"], json!({"current": 3}));
    }

    #[test]
    fn v1_blkio_prefers_cfq_files() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().to_path_buf();
        write(
            &root.join("blkio"),
            &[("blkio.io_serviced_recursive", "8:0 Read 2\nTotal 2\n"), ("blkio.sectors_recursive", "8:0 16\n"), ("blkio.throttle.io_serviced", "8:0 Read 9\n")],
        );
        let r = root.clone();
        let s = sample(&Cgroup::V1(Box::new(move |c| Some(r.join(c)).filter(|p| p.exists()))), &host());
        assert_eq!(s["blkio_stats"]["io_serviced_recursive"][0]["value"], 2);
        assert_eq!(s["blkio_stats"]["sectors_recursive"][0]["op"], "");
        assert_eq!(s["blkio_stats"]["io_service_bytes_recursive"], json!([]));
        assert_eq!(s["memory_stats"], json!({}), "no memory controller, no memory stats");
        assert_eq!(s["pids_stats"], json!({}));
    }

    #[test]
    fn v2_sample_has_dockerds_keys() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            &[
                ("cpu.stat", "usage_usec 5\nuser_usec 3\nsystem_usec 2\nnr_periods 1\nnr_throttled 1\nthrottled_usec 4\n"),
                ("memory.stat", "anon 100\nfile 200\nworkingset_refault_anon 1\n"),
                ("memory.current", "4096\n"),
                ("memory.max", "max\n"),
                ("memory.events", "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n"),
                ("io.stat", "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n"),
                ("pids.current", "2\n"),
                ("pids.max", "42\n"),
            ],
        );
        let s = sample(&Cgroup::V2(d.path().to_path_buf()), &host());
        assert_eq!(s["cpu_stats"]["cpu_usage"], json!({"total_usage": 5000, "usage_in_kernelmode": 2000, "usage_in_usermode": 3000}));
        assert_eq!(s["cpu_stats"]["throttling_data"]["throttled_time"], 4000);
        assert_eq!(s["memory_stats"]["stats"].as_object().unwrap().len(), V2_MEMORY_KEYS.len());
        assert_eq!((s["memory_stats"]["limit"].as_u64(), s["memory_stats"]["failcnt"].as_u64()), (Some(1 << 30), Some(1)));
        assert_eq!(s["blkio_stats"]["io_service_bytes_recursive"], json!([{"major": 8, "minor": 0, "op": "read", "value": 10}, {"major": 8, "minor": 0, "op": "write", "value": 20}]));
        assert_eq!(s["blkio_stats"]["io_serviced_recursive"], Value::Null);
        assert_eq!(s["pids_stats"], json!({"current": 2, "limit": 42}));
    }
}
