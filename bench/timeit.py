#!/usr/bin/env python3
"""Median wall time of a command: timeit.py N cmd args... -> prints one JSON object."""
import json, statistics, subprocess, sys, time

n = int(sys.argv[1])
cmd = sys.argv[2:]
samples = []
for _ in range(n):
    t = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    samples.append((time.perf_counter() - t) * 1000)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {r.stderr.decode()[:300]}")
print(json.dumps({"median_ms": statistics.median(samples), "min_ms": min(samples), "n": n}))
