#!/usr/bin/env python3
"""Many containers on one daemon: create N (8 clients at once), time `ps -a` (GET
/containers/json?all=1) over them, the daemon's RSS with them, then remove them all.

usage: many.py SOCKET N IMAGE PID
Prints one JSON object: create_s, ps_a_p50_ms, ps_a_p99_ms, rss_mb, remove_s.
"""
import json
import sys
import threading
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
from load import Client, percentile, proc_sample  # noqa: E402


def parallel(n, fn, clients=8):
    errors = []
    ids = list(range(n))
    lock = threading.Lock()
    out = [None] * n

    def worker():
        c = Client(SOCK)
        while True:
            with lock:
                if not ids:
                    return
                i = ids.pop()
            try:
                out[i] = fn(c, i)
            except Exception as e:  # noqa: BLE001
                errors.append(str(e)[:200])
                c = Client(SOCK)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out, errors


def main():
    global SOCK
    SOCK, n, image, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    t = time.perf_counter()
    ids, cerr = parallel(n, lambda c, i: json.loads(c.call("POST", f"/containers/create?name=many{i}", {
        "Image": image, "Cmd": ["/bin/busybox", "true"], "HostConfig": {"NetworkMode": "none"}}))["Id"])
    create_s = time.perf_counter() - t
    c = Client(SOCK)
    samples = []
    for _ in range(30):
        t = time.perf_counter()
        listed = json.loads(c.call("GET", "/containers/json?all=1"))
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    rss = proc_sample(pid)["rss_kb"] / 1024
    t = time.perf_counter()
    _, rerr = parallel(n, lambda c, i: ids[i] and c.call("DELETE", f"/containers/{ids[i]}?force=1"))
    remove_s = time.perf_counter() - t
    print(json.dumps({"n": n, "listed": len(listed), "create_s": create_s, "ps_a_p50_ms": percentile(samples, 0.5),
                      "ps_a_p99_ms": percentile(samples, 0.99), "rss_mb": rss, "remove_s": remove_s,
                      "errors": len(cerr) + len(rerr), "first_errors": (cerr + rerr)[:3]}))


if __name__ == "__main__":
    main()
