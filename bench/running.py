#!/usr/bin/env python3
"""Many *running* containers on one daemon: create and start N (`busybox sleep`, no network, 8
clients at once), then with them all running: the time to start one more, the daemon's RSS (with
dockerd: dockerd + its containerd), the shims' total PSS and RSS, `ps` and `ps -a` latency,
`system df` time; then stop them all (t=0: busybox as PID 1 ignores SIGTERM, so both engines kill at
once) and remove them all.

usage: running.py SOCKET N IMAGE SHIM_PATTERN PID [PID...]
SHIM_PATTERN: a regular expression matched against command lines (pgrep -f) that picks this run's
shims; PIDs: the daemon processes whose RSS counts.
Prints one JSON object.
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from load import Client, percentile  # noqa: E402
from many import parallel  # noqa: E402
import many  # noqa: E402


def kb(pid, field, path="status"):
    try:
        with open(f"/proc/{pid}/{path}") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pgrep(pattern):
    # Not this script: its own command line carries the pattern.
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    return [int(p) for p in out.split() if int(p) != os.getpid()]


def timed(c, method, path, n=30):
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        c.call(method, path)
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return percentile(samples, 0.5), percentile(samples, 0.99)


def main():
    sock, n, image, shim_pattern = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    pids = [int(p) for p in sys.argv[5:]]
    many.SOCK = sock
    body = {"Image": image, "Cmd": ["/bin/busybox", "sleep", "100000"], "HostConfig": {"NetworkMode": "none"}}

    def run(c, i):
        cid = json.loads(c.call("POST", f"/containers/create?name=run{i}", body))["Id"]
        c.call("POST", f"/containers/{cid}/start")
        return cid

    t = time.perf_counter()
    ids, errors = parallel(n, run)
    start_s = time.perf_counter() - t
    c = Client(sock)
    # One more, alone, with n running.
    t = time.perf_counter()
    extra = run(c, n)
    one_more_ms = (time.perf_counter() - t) * 1000
    ids.append(extra)
    time.sleep(2)
    listed = json.loads(c.call("GET", "/containers/json"))
    running = sum(1 for x in listed if x["State"] == "running")
    shims = pgrep(shim_pattern)
    out = {
        "n": n, "running": running, "start_s": start_s, "one_more_ms": one_more_ms,
        "daemon_rss_mb": sum(kb(p, "VmRSS") for p in pids) / 1024,
        "daemon_threads": sum(_threads(p) for p in pids),
        "daemon_fds": sum(_fds(p) for p in pids),
        "shims": len(shims),
        "shim_pss_mb": sum(kb(p, "Pss", "smaps_rollup") for p in shims) / 1024,
        "shim_rss_mb": sum(kb(p, "VmRSS") for p in shims) / 1024,
        "shim_threads": sum(_threads(p) for p in shims),
    }
    out["ps_p50_ms"], out["ps_p99_ms"] = timed(c, "GET", "/containers/json")
    out["ps_a_p50_ms"], out["ps_a_p99_ms"] = timed(c, "GET", "/containers/json?all=1")
    t = time.perf_counter()
    c.call("GET", "/system/df")
    out["system_df_ms"] = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    _, serr = parallel(len(ids), lambda c, i: ids[i] and c.call("POST", f"/containers/{ids[i]}/stop?t=0"))
    out["stop_s"] = time.perf_counter() - t
    t = time.perf_counter()
    _, rerr = parallel(len(ids), lambda c, i: ids[i] and c.call("DELETE", f"/containers/{ids[i]}?force=1"))
    out["remove_s"] = time.perf_counter() - t
    time.sleep(1)
    out["shims_left"] = len(pgrep(shim_pattern))
    errs = errors + serr + rerr
    out["errors"] = len(errs)
    out["first_errors"] = errs[:3]
    print(json.dumps(out))


def _threads(pid):
    return kb(pid, "Threads")


def _fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


if __name__ == "__main__":
    main()
