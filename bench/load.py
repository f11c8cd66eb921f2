#!/usr/bin/env python3
"""Mixed Engine API load against one daemon: CLIENTS threads, each on its own unix-socket
connections, for SECONDS, picking operations by weight (ps, inspect, logs, stats, exec, run --rm,
pull from a local registry), while a probe times /_ping and /containers/json 10 times a second.

usage: load.py SOCKET SECONDS CLIENTS IMAGE PULL_REF [PID]
Prints one JSON object: per operation count, errors, p50/p99 ms; ops/s; the probes' p50/p99 ms;
with PID, the daemon's RSS / fds / threads sampled every 5 s.
"""
import http.client
import json
import os
import random
import socket
import sys
import threading
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=120):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Client:
    def __init__(self, sock):
        self.sock = sock
        self.conn = UnixConnection(sock)

    def call(self, method, path, body=None, expect=(200, 201, 204, 304)):
        headers = {"Content-Type": "application/json"} if body is not None else {}
        data = json.dumps(body).encode() if body is not None else None
        try:
            self.conn.request(method, "/v1.41" + path, body=data, headers=headers)
            r = self.conn.getresponse()
            out = r.read()
        except (OSError, http.client.HTTPException):
            # A dropped keep-alive connection: reconnect once.
            self.conn.close()
            self.conn = UnixConnection(self.sock)
            self.conn.request(method, "/v1.41" + path, body=data, headers=headers)
            r = self.conn.getresponse()
            out = r.read()
        if r.status not in expect:
            raise RuntimeError(f"{method} {path}: HTTP {r.status}: {out[:200]!r}")
        return out

    def exec_stream(self, cid):
        """exec create + start (attached): the output stream ends when the process does."""
        ex = json.loads(self.call("POST", f"/containers/{cid}/exec",
                                  {"Cmd": ["true"], "AttachStdout": True, "AttachStderr": True}))["Id"]
        # The attached start hijacks the connection: a connection of its own, read to its end.
        c = UnixConnection(self.sock)
        body = json.dumps({"Detach": False, "Tty": False}).encode()
        c.request("POST", f"/v1.41/exec/{ex}/start", body=body,
                  headers={"Content-Type": "application/json", "Connection": "Upgrade", "Upgrade": "tcp"})
        r = c.getresponse()
        if r.status not in (101, 200):
            raise RuntimeError(f"exec start: HTTP {r.status}")
        c.sock.settimeout(60)
        while c.sock.recv(65536):
            pass
        c.close()
        info = json.loads(self.call("GET", f"/exec/{ex}/json"))
        if info.get("Running"):
            # The stream ended before the exit was recorded: wait for it.
            for _ in range(100):
                time.sleep(0.01)
                if not json.loads(self.call("GET", f"/exec/{ex}/json")).get("Running"):
                    break
        return info


def percentile(sorted_values, p):
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))]


def main():
    sock, seconds, clients, image, pull_ref = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    pid = int(sys.argv[6]) if len(sys.argv) > 6 else None
    setup = Client(sock)
    # Long-running containers that inspect, logs, stats and exec work on.
    targets = []
    for i in range(4):
        cid = json.loads(setup.call("POST", "/containers/create", {
            "Image": image, "Cmd": ["/bin/busybox", "sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.05; done"],
            "HostConfig": {"NetworkMode": "none"}}))["Id"]
        setup.call("POST", f"/containers/{cid}/start")
        targets.append(cid)
    repo, tag = pull_ref.rsplit(":", 1)

    def op_ps(c):
        c.call("GET", "/containers/json?all=1")

    def op_inspect(c):
        c.call("GET", f"/containers/{random.choice(targets)}/json")

    def op_logs(c):
        c.call("GET", f"/containers/{random.choice(targets)}/logs?stdout=1&stderr=1&tail=100")

    def op_stats(c):
        c.call("GET", f"/containers/{random.choice(targets)}/stats?stream=0&one-shot=1")

    def op_exec(c):
        c.exec_stream(random.choice(targets))

    def op_run_rm(c):
        cid = json.loads(c.call("POST", "/containers/create", {
            "Image": image, "Cmd": ["/bin/busybox", "true"], "HostConfig": {"NetworkMode": "none"}}))["Id"]
        c.call("POST", f"/containers/{cid}/start")
        c.call("POST", f"/containers/{cid}/wait")
        c.call("DELETE", f"/containers/{cid}?force=1")

    def op_pull(c):
        out = c.call("POST", f"/images/create?fromImage={repo}&tag={tag}")
        if b'"error"' in out:
            raise RuntimeError(f"pull: {out[-300:]!r}")

    ops = [("ps", op_ps, 20), ("inspect", op_inspect, 20), ("logs", op_logs, 15), ("stats", op_stats, 10),
           ("exec", op_exec, 10), ("run_rm", op_run_rm, 10), ("pull", op_pull, 5)]
    names = [o[0] for o in ops]
    weights = [o[2] for o in ops]
    lat = {n: [] for n in names}
    errs = {n: 0 for n in names}
    first_err = {}
    lock = threading.Lock()
    stop = threading.Event()

    def worker(seed):
        rnd = random.Random(seed)
        c = Client(sock)
        while not stop.is_set():
            i = rnd.choices(range(len(ops)), weights)[0]
            name, fn, _ = ops[i]
            t = time.perf_counter()
            try:
                fn(c)
                ok = True
            except Exception as e:  # noqa: BLE001 - every failure is counted
                ok = False
                with lock:
                    first_err.setdefault(name, str(e)[:300])
                c = Client(sock)
            ms = (time.perf_counter() - t) * 1000
            with lock:
                if ok:
                    lat[name].append(ms)
                else:
                    errs[name] += 1

    probes = {"_ping": [], "containers_json": []}

    def prober():
        c = Client(sock)
        while not stop.is_set():
            for key, path in (("_ping", "/_ping"), ("containers_json", "/containers/json")):
                t = time.perf_counter()
                try:
                    c.call("GET", path)
                    probes[key].append((time.perf_counter() - t) * 1000)
                except Exception:  # noqa: BLE001
                    c = Client(sock)
            time.sleep(0.1)

    samples = []

    def sampler():
        while not stop.is_set() and pid:
            samples.append(proc_sample(pid))
            stop.wait(5)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    threads += [threading.Thread(target=prober), threading.Thread(target=sampler)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    for cid in targets:
        try:
            setup.call("DELETE", f"/containers/{cid}?force=1")
        except Exception:  # noqa: BLE001
            pass
    out = {"elapsed_s": elapsed, "clients": clients, "ops": {}, "probes": {}, "errors": sum(errs.values()),
           "first_errors": first_err}
    total = 0
    for n in names:
        v = sorted(lat[n])
        total += len(v)
        out["ops"][n] = {"n": len(v), "errors": errs[n], "p50_ms": percentile(v, 0.5), "p99_ms": percentile(v, 0.99)}
    out["ops_per_s"] = total / elapsed
    for k, v in probes.items():
        v.sort()
        out["probes"][k] = {"n": len(v), "p50_ms": percentile(v, 0.5), "p99_ms": percentile(v, 0.99)}
    if pid:
        out["samples"] = samples
    print(json.dumps(out))


def proc_sample(pid):
    """RSS (kB), open fds and threads of a process."""
    try:
        with open(f"/proc/{pid}/status") as f:
            st = dict(line.split(":", 1) for line in f if ":" in line)
        return {"t": time.time(), "rss_kb": int(st["VmRSS"].split()[0]), "threads": int(st["Threads"]),
                "fds": len(os.listdir(f"/proc/{pid}/fd"))}
    except OSError:
        return {"t": time.time(), "rss_kb": 0, "threads": 0, "fds": 0}


if __name__ == "__main__":
    main()
