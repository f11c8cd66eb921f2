#!/usr/bin/env python3
"""Times /_ping and /containers/json from a process of its own (no GIL shared with load clients).

usage: probe.py SOCKET SECONDS [HZ]
Run it under `chrt -f 10` (or `nice -n -10`) beside a load to see the daemon's latency rather than
the time the probe itself waits for a CPU on a busy machine. Prints one JSON object: per path n,
p50/p99/max ms.
"""
import json
import sys
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from load import Client, percentile  # noqa: E402


def main():
    sock, seconds = sys.argv[1], float(sys.argv[2])
    hz = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
    c = Client(sock)
    out = {"_ping": [], "containers_json": []}
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for key, path in (("_ping", "/_ping"), ("containers_json", "/containers/json")):
            t = time.perf_counter()
            try:
                c.call("GET", path)
                out[key].append((time.perf_counter() - t) * 1000)
            except Exception:  # noqa: BLE001 - a failed probe is a reconnect, not a sample
                c = Client(sock)
        time.sleep(1 / hz)
    res = {}
    for k, v in out.items():
        v.sort()
        res[k] = {"n": len(v), "p50_ms": percentile(v, 0.5), "p99_ms": percentile(v, 0.99), "max_ms": v[-1] if v else 0.0}
    print(json.dumps(res))


if __name__ == "__main__":
    main()
