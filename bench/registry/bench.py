"""Workloads for run.sh: builds OCI layouts, drives skopeo and HTTP, prints a comparison table."""
import argparse, concurrent.futures as cf, gzip, hashlib, http.client, json, os, subprocess, time

def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

def wait_up(addr):
    for _ in range(100):
        try:
            c = http.client.HTTPConnection(addr, timeout=1); c.request("GET", "/v2/"); c.getresponse().read(); return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"registry at {addr} did not start")

def blob(layout, data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs/sha256", d), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + d, "size": len(data)}

def make_layout(path, size, seed, layers=1):
    """An OCI layout with `layers` gzip layers of `size` random bytes each, pre-compressed so skopeo
    does not recompress them on push and the registries, not the client's compressor, are measured."""
    os.makedirs(os.path.join(path, "blobs/sha256"), exist_ok=True)
    with open(os.path.join(path, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    descs, diff_ids = [], []
    for i in range(layers):
        payload = os.urandom(size) + f"{seed}-{i}".encode()
        descs.append(blob(path, gzip.compress(payload, 1)))
        diff_ids.append("sha256:" + hashlib.sha256(payload).hexdigest())
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    cfg = blob(path, config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(cfg, mediaType="application/vnd.oci.image.config.v1+json"),
        "layers": [dict(l, mediaType="application/vnd.oci.image.layer.v1.tar+gzip") for l in descs]}).encode()
    m = blob(path, manifest)
    idx = {"schemaVersion": 2, "manifests": [dict(m, mediaType="application/vnd.oci.image.manifest.v1+json",
           annotations={"org.opencontainers.image.ref.name": "v1"})]}
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump(idx, f)
    return manifest

PARALLEL_KEYS = ["parallel_push_s", "parallel_push_cpu_s", "http_parallel_push_s", "http_parallel_push_cpu_s"]

def cpu_s(pid):
    """User + system CPU seconds a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

def small_images(n, seed):
    """`n` small images as (config, layer, manifest) bytes, digests precomputed."""
    out = []
    for i in range(n):
        layer = os.urandom(64 << 10) + f"{seed}-{i}".encode()
        config = json.dumps({"architecture": "amd64", "os": "linux", "seed": f"{seed}-{i}"}).encode()
        desc = lambda mt, b: {"mediaType": mt, "digest": "sha256:" + hashlib.sha256(b).hexdigest(), "size": len(b)}
        manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": desc("application/vnd.oci.image.config.v1+json", config),
            "layers": [desc("application/vnd.oci.image.layer.v1.tar+gzip", layer)]}).encode()
        out.append((config, layer, manifest))
    return out

def http_push(addr, repo, image):
    """Pushes one image the way docker and skopeo do: HEAD, POST, PATCH, PUT per blob, then the manifest."""
    c = http.client.HTTPConnection(addr, timeout=60)
    def req(method, path, body=None, headers=None, want=None):
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse(); r.read()
        if want and r.status != want:
            raise SystemExit(f"{method} {path} on {addr}: {r.status}")
        return r
    config, layer, manifest = image
    for b in (layer, config):
        d = "sha256:" + hashlib.sha256(b).hexdigest()
        req("HEAD", f"/v2/{repo}/blobs/{d}")
        loc = req("POST", f"/v2/{repo}/blobs/uploads/", want=202).getheader("Location")
        loc = loc.split(addr, 1)[-1]
        loc = req("PATCH", loc, body=b, headers={"Content-Type": "application/octet-stream"}, want=202).getheader("Location")
        loc = loc.split(addr, 1)[-1]
        sep = "&" if "?" in loc else "?"
        req("PUT", f"{loc}{sep}digest={d}", want=201)
    req("PUT", f"/v2/{repo}/manifests/v1", body=manifest,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, want=201)
    c.close()

def http_blob_push(addr, repo, data):
    """One large blob, as a monolithic upload: POST, then PUT with the whole body and its digest."""
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    c = http.client.HTTPConnection(addr, timeout=300)
    c.request("POST", f"/v2/{repo}/blobs/uploads/")
    r = c.getresponse(); r.read()
    loc = r.getheader("Location").split(addr, 1)[-1]
    sep = "&" if "?" in loc else "?"
    c.request("PUT", f"{loc}{sep}digest={d}", body=data, headers={"Content-Type": "application/octet-stream"})
    r = c.getresponse(); r.read()
    if r.status != 201:
        raise SystemExit(f"blob PUT on {addr}: {r.status}")
    c.close()
    return d

def http_blob_pull(addr, repo, digest, size):
    """Reads the blob into one reused 1 MiB buffer (no hashing, no allocation per chunk: the client's
    own work stays small)."""
    c = http.client.HTTPConnection(addr, timeout=300)
    c.request("GET", f"/v2/{repo}/blobs/{digest}")
    r = c.getresponse()
    got, buf = 0, memoryview(bytearray(1 << 20))
    while True:
        n = r.readinto(buf)
        if not n:
            break
        got += n
    if r.status != 200 or got != size:
        raise SystemExit(f"blob GET on {addr}: {r.status}, {got} of {size} bytes")
    c.close()

def skopeo(*args):
    # A deadline: a registry (or its store) that stalls fails the bench instead of hanging it.
    try:
        subprocess.run(["skopeo", "--insecure-policy", *args], check=True, capture_output=True, timeout=300)
    except subprocess.TimeoutExpired:
        raise SystemExit(f"skopeo {' '.join(args)}: no answer in 300 s")

def timed(fn):
    t = time.perf_counter(); fn(); return time.perf_counter() - t

def put_tags(addr, repo, manifest, n):
    c = http.client.HTTPConnection(addr)
    for i in range(n):
        c.request("PUT", f"/v2/{repo}/manifests/t{i:05d}", body=manifest,
                  headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        r = c.getresponse(); r.read()
        if r.status != 201:
            raise SystemExit(f"tag put failed on {addr}: {r.status}")

def latency(addr, path, rounds=20):
    c = http.client.HTTPConnection(addr)
    best = []
    for _ in range(rounds):
        t = time.perf_counter(); c.request("GET", path); r = c.getresponse(); r.read(); best.append(time.perf_counter() - t)
    best.sort()
    return best[len(best) // 2]

class RssSampler:
    """Samples a process's VmRSS every 50 ms while running; `peak` is the largest seen."""
    def __init__(self, pid):
        import threading
        self.pid, self.peak, self.stop = pid, 0, threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_kb(self.pid)); time.sleep(0.05)
    def __enter__(self):
        self.t.start(); return self
    def __exit__(self, *a):
        self.stop.set(); self.t.join()

def main():
    p = argparse.ArgumentParser()
    for a in ["work", "berth", "dist"]:
        p.add_argument("--" + a, required=True)
    for a in ["berth-pid", "dist-pid", "size-mb", "tags", "parallel", "rounds", "many", "settle"]:
        p.add_argument("--" + a, type=int, required=True)
    o = p.parse_args()
    targets = {"berth": (o.berth, o.berth_pid), "distribution": (o.dist, o.dist_pid)}
    for addr, _ in targets.values():
        wait_up(addr)
    time.sleep(1)
    res = {k: {"idle_rss_kb": rss_kb(pid)} for k, (_, pid) in targets.items()}
    # One set of images per round: a push of content the registry already has would skip its blobs.
    layouts = []
    for rnd in range(o.rounds):
        ls = {img: os.path.join(o.work, f"{img}{rnd}") for img in ("big", "five", "many")}
        make_layout(ls["big"], o.size_mb << 20, f"big{rnd}")
        make_layout(ls["five"], 4 << 20, f"five{rnd}", layers=5)
        make_layout(ls["many"], 4 << 10, f"many{rnd}", layers=o.many)
        layouts.append(ls)
    smalls = []
    for i in range(o.parallel):
        s = os.path.join(o.work, f"small{i}"); make_layout(s, 64 << 10, f"s{i}"); smalls.append(s)
    make_layout(os.path.join(o.work, "tagged"), 1024, "tagged")
    http_images = {name: small_images(o.parallel * 5 * o.rounds, name) for name in targets}
    # The parallel pushes run in rounds that alternate between the registries, reporting medians: on a
    # two-core machine one round is noisy, and the skopeo processes take most of the CPU.
    samples = {name: {k: [] for k in PARALLEL_KEYS} for name in targets}
    samplers = {name: RssSampler(pid) for name, (_, pid) in targets.items()}
    for rnd in range(o.rounds):
        for name, (addr, pid) in targets.items():
            sm = samples[name]
            if rnd == 0:
                samplers[name].__enter__()  # peak RSS under the first round of parallel pushes
            def push_small(i):
                skopeo("copy", "--dest-tls-verify=false", f"oci:{smalls[i]}:v1", f"docker://{addr}/bench/r{rnd}/small{i}:v1")
            cpu0 = cpu_s(pid)
            sm["parallel_push_s"].append(timed(lambda: list(cf.ThreadPoolExecutor(o.parallel).map(push_small, range(o.parallel)))))
            sm["parallel_push_cpu_s"].append(cpu_s(pid) - cpu0)
            # The same shape of push over plain HTTP from threads of this process: no skopeo processes
            # competing for the two cores, so the registries' own work dominates.
            n = o.parallel * 5
            images = http_images[name][rnd * n:(rnd + 1) * n]
            cpu0 = cpu_s(pid)
            sm["http_parallel_push_s"].append(timed(lambda: list(cf.ThreadPoolExecutor(o.parallel).map(
                lambda i: http_push(addr, f"bench/r{rnd}/http{i}", images[i]), range(n)))))
            sm["http_parallel_push_cpu_s"].append(cpu_s(pid) - cpu0)
            if rnd == 0:
                samplers[name].__exit__()
                res[name]["load_rss_kb"] = samplers[name].peak
    for name in targets:
        for k, v in samples[name].items():
            res[name][k] = sorted(v)[len(v) // 2]
    raw_blob = os.urandom(o.size_mb << 20)
    # The transfers, in rounds alternating between the registries as above, each a median: wall time
    # (client included: skopeo's own work is most of a pull) and the registry's CPU.
    transfers = {name: {} for name in targets}
    def sample(name, key, pid, fn):
        cpu0 = cpu_s(pid)
        transfers[name].setdefault(key, []).append(timed(fn))
        transfers[name].setdefault(key[:-2] + "_cpu_s", []).append(cpu_s(pid) - cpu0)
    for rnd in range(o.rounds):
        for name, (addr, pid) in targets.items():
            for img, layout in layouts[rnd].items():
                ref = f"docker://{addr}/bench/{img}:r{rnd}"
                sample(name, "push_s" if img == "big" else f"push_{img}_s", pid,
                       lambda: skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:v1", ref))
                out = os.path.join(o.work, f"out-{name}-{img}{rnd}")
                sample(name, "pull_s" if img == "big" else f"pull_{img}_s", pid,
                       lambda: skopeo("copy", "--src-tls-verify=false", ref, f"oci:{out}:v1"))
                subprocess.run(["rm", "-rf", out], check=True)
            # The large blob over plain HTTP: the registry's own throughput, without skopeo's work (a
            # skopeo pull of 100 MB is mostly skopeo).
            raw = raw_blob + f"{name}{rnd}".encode()
            got = {}
            sample(name, "http_push_big_s", pid, lambda: got.setdefault("d", http_blob_push(addr, "bench/raw", raw)))
            sample(name, "http_pull_big_s", pid, lambda: http_blob_pull(addr, "bench/raw", got["d"], len(raw)))
        # skopeo alone, no registry (oci: to oci:): its own reading, hashing and writing. A pull writes
        # the same layout, so no registry gets pull_s below it; for pushes (whose writing the registry
        # does) it is a reference for how much of push_s and parallel_push_s is skopeo's.
        floor = transfers.setdefault("skopeo", {})
        out = os.path.join(o.work, f"floor{rnd}")
        floor.setdefault("big", []).append(timed(lambda: skopeo("copy", f"oci:{layouts[rnd]['big']}:v1", f"oci:{out}:v1")))
        floor.setdefault("parallel", []).append(timed(lambda: list(cf.ThreadPoolExecutor(o.parallel).map(
            lambda i: skopeo("copy", f"oci:{smalls[i]}:v1", f"oci:{out}-{i}:v1"), range(o.parallel)))))
        subprocess.run(["sh", "-c", f"rm -rf {out}*"], check=True)
    floor = {k: sorted(v)[len(v) // 2] for k, v in transfers.pop("skopeo").items()}
    for name in targets:
        for k, v in transfers[name].items():
            res[name][k] = sorted(v)[len(v) // 2]
    for name, (addr, pid) in targets.items():
        r = res[name]
        skopeo("copy", "--dest-tls-verify=false", f"oci:{os.path.join(o.work, 'tagged')}:v1", f"docker://{addr}/bench/tags:v1")
        # skopeo may recompress layers on the way in: re-tag the manifest as the registry stored it.
        c = http.client.HTTPConnection(addr)
        c.request("GET", "/v2/bench/tags/manifests/v1", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
        stored = c.getresponse().read()
        put_tags(addr, "bench/tags", stored, o.tags)
        r["tags_list_ms"] = latency(addr, "/v2/bench/tags/tags/list") * 1000
        r["catalog_ms"] = latency(addr, "/v2/_catalog?n=1000") * 1000
    # Idle again: after everything, once the registries had time to settle (idle threads exit).
    time.sleep(o.settle)
    for name, (_, pid) in targets.items():
        res[name]["idle_rss_after_kb"] = rss_kb(pid)
    b, d = res["berth"], res["distribution"]
    print(f"{'metric':<26}{'berth':>12}{'distribution':>14}{'ratio':>9}")
    for k in ["push_s", "push_cpu_s", "pull_s", "pull_cpu_s", "push_five_s", "push_five_cpu_s", "pull_five_s",
              "pull_five_cpu_s", "push_many_s", "push_many_cpu_s", "pull_many_s", "pull_many_cpu_s",
              "http_push_big_s", "http_push_big_cpu_s", "http_pull_big_s", "http_pull_big_cpu_s",
              "parallel_push_s", "parallel_push_cpu_s", "http_parallel_push_s",
              "http_parallel_push_cpu_s", "tags_list_ms", "catalog_ms", "idle_rss_kb", "load_rss_kb",
              "idle_rss_after_kb"]:
        ratio = d[k] / b[k] if b[k] else (1.0 if not d[k] else float("inf"))
        print(f"{k:<26}{b[k]:>12.3f}{d[k]:>14.3f}{ratio:>8.2f}x")
    mb = o.size_mb
    print(f"throughput push: berth {mb / b['push_s']:.1f} MB/s, distribution {mb / d['push_s']:.1f} MB/s")
    print(f"throughput pull: berth {mb / b['pull_s']:.1f} MB/s, distribution {mb / d['pull_s']:.1f} MB/s")
    print(f"throughput over plain HTTP: push berth {mb / b['http_push_big_s']:.1f} MB/s, distribution {mb / d['http_push_big_s']:.1f} MB/s; "
          f"pull berth {mb / b['http_pull_big_s']:.1f} MB/s, distribution {mb / d['http_pull_big_s']:.1f} MB/s")
    print(f"many small blobs ({o.many} layers of 4 KiB): push {b['push_many_s']:.2f} s vs {d['push_many_s']:.2f} s, "
          f"pull {b['pull_many_s']:.2f} s vs {d['pull_many_s']:.2f} s")
    print(f"idle RSS: berth {b['idle_rss_kb'] / 1024:.1f} MB at start, {b['idle_rss_after_kb'] / 1024:.1f} MB after the run "
          f"(peak under load {b['load_rss_kb'] / 1024:.1f} MB); distribution {d['idle_rss_kb'] / 1024:.1f} / "
          f"{d['idle_rss_after_kb'] / 1024:.1f} MB (peak {d['load_rss_kb'] / 1024:.1f} MB)")
    n = o.parallel * 5
    print(f"http parallel pushes: berth {n / b['http_parallel_push_s']:.1f}/s, distribution {n / d['http_parallel_push_s']:.1f}/s"
          f" ({o.parallel} threads, {n} images of 64 KiB)")
    print(f"skopeo alone (oci: to oci:, no registry): the {mb} MB image {floor['big']:.3f} s, {o.parallel} small images "
          f"in parallel {floor['parallel']:.3f} s (the floor of pull_s; a reference for push_s and parallel_push_s)")
    print(f"pushes, pulls and parallel pushes: medians of {o.rounds} rounds")

if __name__ == "__main__":
    main()
