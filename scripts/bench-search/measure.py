"""Latency of GET requests to a ferrocast node, one at a time over one keep-alive connection:
p50, p99 and mean per case, after a warm-up. Prints JSON. Used by scripts/bench-search.sh."""
import http.client
import json
import sys
import time
import urllib.parse

def main():
    url = urllib.parse.urlsplit(sys.argv[1])
    requests = int(sys.argv[2])
    cases = json.loads(sys.argv[3])
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    out = {}
    for name, paths in cases.items():
        for p in paths[:10]:
            conn.request("GET", p)
            r = conn.getresponse()
            r.read()
        samples = []
        results = []
        for k in range(requests):
            p = paths[k % len(paths)]
            t = time.perf_counter()
            conn.request("GET", p)
            r = conn.getresponse()
            body = r.read()
            samples.append((time.perf_counter() - t) * 1000)
            if r.status != 200:
                raise SystemExit(f"{p}: {r.status} {body[:300]!r}")
            if k < len(paths):
                doc = json.loads(body)
                results.append(sum(len(doc.get(key) or []) for key in ("streams", "channels", "live", "videos")))
        samples.sort()
        pick = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
        out[name] = {
            "requests": len(samples),
            "p50_ms": round(pick(0.50), 2),
            "p99_ms": round(pick(0.99), 2),
            "mean_ms": round(sum(samples) / len(samples), 2),
            "results_per_answer": round(sum(results) / max(1, len(results)), 1),
        }
    print(json.dumps(out))

main()
