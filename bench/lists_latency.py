#!/usr/bin/python3
"""bench/lists_latency.py URL CASES.json: the latency of list requests through frontd, one
request at a time on one kept-alive connection (so the figure is one request's cost, not a
queue's). CASES.json is a list of {"name", "path", "token", "headers"?, "reps"?, "target_ms"?}.
Prints one Markdown row per case: median, min and max of the reps (after 2 warm-up requests),
the answer's total, total_is_estimate and Content-Range, and the target with met / not met."""

import http.client
import json
import statistics
import sys
import time
import urllib.parse


def main():
    url = urllib.parse.urlsplit(sys.argv[1])
    cases = json.load(open(sys.argv[2]))
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)

    def get(path, token, headers):
        h = {"Authorization": "Bearer " + token}
        h.update(headers or {})
        t = time.perf_counter()
        conn.request("GET", path, headers=h)
        r = conn.getresponse()
        body = r.read()
        ms = (time.perf_counter() - t) * 1000
        if r.status != 200:
            raise SystemExit("%s -> %s %s" % (path, r.status, body[:300]))
        return ms, json.loads(body), r.getheader("Content-Range")

    print("| request | median ms | min | max | reps | total (estimate?) | Content-Range | target |")
    print("| --- | ---: | ---: | ---: | ---: | --- | --- | --- |")
    for c in cases:
        reps = c.get("reps", 21)
        for _ in range(2):
            get(c["path"], c["token"], c.get("headers"))
        runs = []
        for _ in range(reps):
            ms, body, crange = get(c["path"], c["token"], c.get("headers"))
            runs.append(ms)
        med = statistics.median(runs)
        target = c.get("target_ms")
        verdict = "" if target is None else "≤ %g ms: %s" % (target, "met" if med <= target else "**not met**")
        print("| %s | %.2f | %.2f | %.2f | %d | %s (%s) | %s | %s |" % (
            c["name"], med, min(runs), max(runs), reps, body.get("total"),
            "estimate" if body.get("total_is_estimate") else "exact", crange or "-", verdict))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
