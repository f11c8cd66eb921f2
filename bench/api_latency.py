#!/usr/bin/env python3
"""Round-trip latency of Engine API calls on one kept-open unix-socket connection.

usage: api_latency.py SOCKET N PATH... ; prints one JSON object per path:
{"path": ..., "n": N, "mean_us": ..., "p50_us": ..., "p99_us": ...}
"""
import http.client
import json
import socket
import statistics
import sys
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.unix_path)
        self.sock = s


def main():
    sock, n, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    conn = UnixConnection(sock)
    for path in paths:
        for _ in range(20):  # warm-up
            conn.request("GET", path)
            conn.getresponse().read()
        samples = []
        for _ in range(n):
            t = time.perf_counter_ns()
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            samples.append((time.perf_counter_ns() - t) / 1000)
            if r.status != 200:
                sys.exit(f"{path}: HTTP {r.status}")
        samples.sort()
        print(json.dumps({"path": path, "n": n, "mean_us": statistics.mean(samples),
                          "p50_us": samples[len(samples) // 2], "p99_us": samples[int(len(samples) * 0.99)]}))


if __name__ == "__main__":
    main()
