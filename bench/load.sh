#!/usr/bin/env bash
# Load and soak: Berth vs dockerd in one run on this machine (issue 15, item 4).
#
#  1. mixed: CLIENTS (32) concurrent API clients for DURATION seconds (60), each picking ps,
#     inspect, logs --tail 100, stats (one-shot), exec (attached), run --rm (create, start, wait,
#     remove) and pull from a local `berth registry`, while a probe times /_ping and
#     /containers/json ten times a second. Prints ops/s, errors, per-operation p50/p99 and the probes'
#     p50/p99 (goal p99 <= 5 ms), with ratios berth / dockerd (below 1.0: Berth is faster). Two
#     probes: one thread of the load's Python process (it waits for the GIL behind 32 clients) and
#     bench/probe.py in a process of its own under SCHED_FIFO (chrt), whose times are the daemon's.
#  2. many: MANY (1000) containers created (8 clients), `ps -a` timed over them, the daemon's RSS
#     with them, then all removed.
#  3. running: RUNNING (1000) containers running `busybox sleep` at once: time to create and start
#     them (8 clients), to start one more, daemon RSS (dockerd: with its containerd; goal <= 60 MB),
#     shims' total PSS (goal <= 2 MB each), `ps` / `ps -a` latency (goal <= 50 ms), `system df`,
#     then stop-all (t=0) and remove-all times.
#  4. soak: with SOAK=SECONDS (e.g. 1800; 0 skips it), the mixed load again for that long, then the
#     daemon's RSS, fds and threads sampled before the load, at its end and after 30 s idle: they must
#     come back down (no leak).
#
# ENGINES=berth runs the phases on Berth only (no ratios; for the soak).
# PHASES picks phases (default "mixed many running"; the soak runs when SOAK > 0), e.g.
# PHASES=running RUNNING=200. Needs root. Installs Debian's docker.io if dockerd is missing. Each
# daemon runs on its own data root and socket (bench/lib.sh); both and the registry are stopped, and
# every container removed, at the end. BERTH=path uses a given berth binary (default: a release
# build of this tree).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-60}
CLIENTS=${CLIENTS:-32}
MANY=${MANY:-1000}
RUNNING=${RUNNING:-1000}
SOAK=${SOAK:-0}
# ENGINES=berth runs Berth alone (a soak for leaks needs no comparison; the tables need both).
ENGINES=${ENGINES:-berth docker}
PHASES=${PHASES:-mixed many running}
. bench/lib.sh
FIFO=$(command -v chrt >/dev/null && echo "chrt -f 10" || true)
has() { case " $PHASES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

bench_init berth-load
bench_rootfs
start_berth bload0 192.168.250.1/24 192.168.251.0/24
start_dockerd berth-load
start_registry
wait_daemons
$BH "$BERTH" import "$W/rootfs.tar.gz" bench/img:1 >/dev/null
$DH docker import "$W/rootfs.tar.gz" bench/img:1 >/dev/null
# The image every pull fetches: pushed once to the local registry.
$BH "$BERTH" tag bench/img:1 127.0.0.1:$RPORT/bench/pull:1
$BH "$BERTH" push 127.0.0.1:$RPORT/bench/pull:1 >/dev/null
$BH "$BERTH" rmi 127.0.0.1:$RPORT/bench/pull:1 >/dev/null

sample() { python3 -c "import sys, json; sys.path.insert(0, 'bench'); from load import proc_sample; print(json.dumps(proc_sample($1)))"; }
echo "machine load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

for e in $ENGINES; do
  if [ $e = berth ]; then pid=$BPID; else pid=$DPID; fi
  if has mixed; then
    echo "mixed load on $e: $CLIENTS clients, ${DURATION}s..." >&2
    python3 bench/load.py "$W/$e.sock" "$DURATION" "$CLIENTS" bench/img:1 "127.0.0.1:$RPORT/bench/pull:1" "$pid" >"$W/load-$e.json" &
    loadpid=$!
    # The load's containers start first; the probe stops before the load does.
    sleep 3
    $FIFO python3 bench/probe.py "$W/$e.sock" $((DURATION > 8 ? DURATION - 5 : 3)) >"$W/probe-$e.json"
    wait $loadpid
  fi
  if has many; then
    echo "$MANY containers on $e..." >&2
    python3 bench/many.py "$W/$e.sock" "$MANY" bench/img:1 "$pid" >"$W/many-$e.json"
  fi
  if has running; then
    echo "$RUNNING running containers on $e..." >&2
    if [ $e = berth ]; then
      python3 bench/running.py "$W/$e.sock" "$RUNNING" bench/img:1 "shim --id .*$W/" "$pid" >"$W/running-$e.json"
    else
      # dockerd's part of the work is done by its containerd too.
      python3 bench/running.py "$W/$e.sock" "$RUNNING" bench/img:1 "containerd-shim.*$W/" "$pid" $(pgrep -f "containerd --config $W/docker-exec" || true) >"$W/running-$e.json"
    fi
  fi
  if [ "$SOAK" -gt 0 ]; then
    echo "soak on $e: ${SOAK}s..." >&2
    sample "$pid" >"$W/soak-$e-before.json"
    python3 bench/load.py "$W/$e.sock" "$SOAK" "$CLIENTS" bench/img:1 "127.0.0.1:$RPORT/bench/pull:1" "$pid" >"$W/soak-$e.json"
    sample "$pid" >"$W/soak-$e-end.json"
    sleep 30
    sample "$pid" >"$W/soak-$e-idle.json"
  fi
done
echo "machine load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$W" "$SOAK" <<'PY'
import json, os, sys
w, soak = sys.argv[1], int(sys.argv[2])
j = lambda n: json.load(open(f"{w}/{n}.json"))
have = lambda n: os.path.exists(f"{w}/{n}-berth.json")
# With ENGINES=berth there is no dockerd column: dockerd's side is Berth's with every value "-".
blank = lambda x: {k: blank(v) for k, v in x.items() if k != "first_errors"} | {"first_errors": []} if isinstance(x, dict) else "-"
pair = lambda n: (j(f"{n}-berth"), j(f"{n}-docker") if os.path.exists(f"{w}/{n}-docker.json") else blank(j(f"{n}-berth")))
num = lambda v: isinstance(v, (int, float))
row = lambda name, b, d, f="{:>10.1f}": print(f"{name:<34}" + f.format(b) + (f.format(d) + f"{b / d if d else float('nan'):>8.2f}" if num(d) else f"{'-':>10}{'-':>8}"))
goals = []
if have("load"):
    lb, ld = pair("load")
    print(f"\nMixed load: {lb['clients']} clients, {lb['elapsed_s']:.0f} s per engine (ratio = berth / dockerd)\n")
    print(f"{'metric':<34}{'berth':>10}{'dockerd':>10}{'ratio':>8}")
    row("operations per second", lb["ops_per_s"], ld["ops_per_s"])
    print(f"{'errors':<34}{lb['errors']:>10}{ld['errors']:>10}")
    for k in ("_ping", "containers_json"):
        for p in ("p50_ms", "p99_ms"):
            row(f"/{k.replace('_json', '/json')} during load {p}", lb["probes"][k][p], ld["probes"][k][p], "{:>10.2f}")
    pb, pd = pair("probe")
    for k in ("_ping", "containers_json"):
        for p in ("p50_ms", "p99_ms", "max_ms"):
            row(f"/{k.replace('_json', '/json')} own-process {p}", pb[k][p], pd[k][p], "{:>10.2f}")
    for op in lb["ops"]:
        for p in ("p50_ms", "p99_ms"):
            row(f"{op} {p}", lb["ops"][op][p], ld["ops"][op][p], "{:>10.1f}")
        print(f"{op + ' count / errors':<34}{str(lb['ops'][op]['n']) + '/' + str(lb['ops'][op]['errors']):>10}{str(ld['ops'][op]['n']) + '/' + str(ld['ops'][op]['errors']):>10}")
    for e, l in (("berth", lb), ("dockerd", ld)):
        for op, msg in dict(l["first_errors"]).items():
            print(f"  {e} {op} error: {msg}")
    goals.append(("0 errors under load", lb["errors"] == 0))
    goals.append(("/_ping and /containers/json p99 <= 5 ms under load (own-process probe)", pb["_ping"]["p99_ms"] <= 5 and pb["containers_json"]["p99_ms"] <= 5))
if have("many"):
    mb, md = pair("many")
    print(f"\n{mb['n']} containers (created, not started)\n")
    print(f"{'metric':<34}{'berth':>10}{'dockerd':>10}{'ratio':>8}")
    row("create all (s)", mb["create_s"], md["create_s"], "{:>10.2f}")
    row("ps -a p50 (ms)", mb["ps_a_p50_ms"], md["ps_a_p50_ms"])
    row("ps -a p99 (ms)", mb["ps_a_p99_ms"], md["ps_a_p99_ms"])
    row("daemon RSS with them (MB)", mb["rss_mb"], md["rss_mb"])
    row("remove all (s)", mb["remove_s"], md["remove_s"], "{:>10.2f}")
    print(f"{'errors':<34}{mb['errors']:>10}{md['errors']:>10}")
    goals.append(("ps -a <= 50 ms over 1,000 created", mb["ps_a_p50_ms"] <= 50))
if have("running"):
    rb, rd = pair("running")
    print(f"\n{rb['n']} running containers (busybox sleep; dockerd's daemon figures include its containerd)\n")
    print(f"{'metric':<34}{'berth':>10}{'dockerd':>10}{'ratio':>8}")
    row("create + start all (s)", rb["start_s"], rd["start_s"], "{:>10.2f}")
    row(f"start the {rb['n'] + 1}th (ms)", rb["one_more_ms"], rd["one_more_ms"])
    print(f"{'running / shims':<34}{str(rb['running']) + '/' + str(rb['shims']):>10}{str(rd['running']) + '/' + str(rd['shims']):>10}")
    row("daemon RSS (MB)", rb["daemon_rss_mb"], rd["daemon_rss_mb"])
    row("daemon threads", rb["daemon_threads"], rd["daemon_threads"], "{:>10.0f}")
    row("daemon fds", rb["daemon_fds"], rd["daemon_fds"], "{:>10.0f}")
    row("shims PSS total (MB)", rb["shim_pss_mb"], rd["shim_pss_mb"])
    row("shim PSS each (MB)", rb["shim_pss_mb"] / max(rb["shims"], 1), rd["shim_pss_mb"] / max(rd["shims"], 1) if num(rd["shims"]) else "-", "{:>10.2f}")
    row("shims RSS total (MB)", rb["shim_rss_mb"], rd["shim_rss_mb"])
    row("shim threads total", rb["shim_threads"], rd["shim_threads"], "{:>10.0f}")
    row("ps p50 (ms)", rb["ps_p50_ms"], rd["ps_p50_ms"])
    row("ps p99 (ms)", rb["ps_p99_ms"], rd["ps_p99_ms"])
    row("ps -a p50 (ms)", rb["ps_a_p50_ms"], rd["ps_a_p50_ms"])
    row("ps -a p99 (ms)", rb["ps_a_p99_ms"], rd["ps_a_p99_ms"])
    row("system df (ms)", rb["system_df_ms"], rd["system_df_ms"])
    row("stop all, t=0 (s)", rb["stop_s"], rd["stop_s"], "{:>10.2f}")
    row("remove all (s)", rb["remove_s"], rd["remove_s"], "{:>10.2f}")
    print(f"{'shims left after remove':<34}{rb['shims_left']:>10}{rd['shims_left']:>10}")
    print(f"{'errors':<34}{rb['errors']:>10}{rd['errors']:>10}")
    for e, r in (("berth", rb), ("dockerd", rd)):
        for msg in r["first_errors"]:
            print(f"  {e} error: {msg}")
    goals.append(("all running, 0 errors", rb["running"] == rb["n"] + 1 and rb["errors"] == 0 and rb["shims_left"] == 0))
    goals.append(("daemon RSS <= 60 MB with 1,000 running", rb["daemon_rss_mb"] <= 60))
    goals.append(("shim PSS <= 2 MB each", rb["shim_pss_mb"] / max(rb["shims"], 1) <= 2))
    goals.append(("ps -a <= 50 ms over 1,000 running", rb["ps_a_p50_ms"] <= 50))
if goals:
    print("\ngoals: " + "; ".join(f"{g}: {'met' if ok else 'MISSED'}" for g, ok in goals))
if soak:
    print(f"\nSoak: {soak} s of the mixed load; daemon before / at the end / after 30 s idle\n")
    for e in ("berth", "docker"):
        if not os.path.exists(f"{w}/soak-{e}-idle.json"):
            continue
        s = [j(f"soak-{e}-{k}") for k in ("before", "end", "idle")]
        rss = " / ".join("%.1f" % (x["rss_kb"] / 1024) for x in s)
        fds = " / ".join(str(x["fds"]) for x in s)
        thr = " / ".join(str(x["threads"]) for x in s)
        print(f"{e:<8} RSS MB {rss}   fds {fds}   threads {thr}   errors {j('soak-' + e)['errors']}")
        # The RSS samples taken every 5 s during the load, at each quarter of it: a leak keeps
        # climbing to the end; an allocator's high-water mark levels off early.
        series = [x["rss_kb"] / 1024 for x in j("soak-" + e).get("samples", [])]
        if len(series) >= 8:
            q = [series[min(len(series) - 1, len(series) * k // 4)] for k in range(1, 4)] + [series[-1]]
            half = max(series[len(series) // 2:]) - max(series[:len(series) // 2])
            print(f"{'':<8} RSS MB during the load at 25/50/75/100%: " + " / ".join("%.1f" % v for v in q)
                  + f"; peak of the second half minus peak of the first: {half:+.1f} MB")
            # Growth per quarter: a leak grows at the load's steady rate to the end; windows that
            # fill and then turn over (finished execs kept until dockerd's 5-minute collector has
            # seen them twice, allocator fragmentation) grow less each quarter.
            steps = [q[0] - series[0]] + [q[i] - q[i - 1] for i in range(1, 4)]
            print(f"{'':<8} RSS growth per quarter MB: " + " / ".join("%+.1f" % v for v in steps))
            if e == "berth":
                print(f"goal: RSS levels off (second half's peak within 2 MB of the first's): {'met' if half <= 2 else 'MISSED'}")
                print(f"      last quarter's growth under 2 MB and under a quarter of the first's: {'met' if steps[3] < 2 and steps[3] < steps[0] / 4 else 'MISSED'}")
        if e == "berth":
            flat = s[2]["fds"] <= s[0]["fds"] + 2 and s[2]["threads"] <= s[0]["threads"] + 1 and j("soak-berth")["errors"] == 0
            print(f"goal: fds and threads back to their count before the soak, 0 errors: {'met' if flat else 'MISSED'}")
PY
