"""rt_floor.py DSN SAMPLES: the floor of commit -> client latency, a raw libpq (psycopg2)
LISTEN client: one connection commits pg_notify with t0, another LISTENs and takes the
notification as soon as its socket is readable.  Prints {"samples","p50_ms","p99_ms"}."""
import json
import select
import sys
import time

import psycopg2

dsn, samples = sys.argv[1], int(sys.argv[2])
lis = psycopg2.connect(dsn)
lis.autocommit = True
lis.cursor().execute("LISTEN bench_floor")
pro = psycopg2.connect(dsn)
pro.autocommit = True
cur = pro.cursor()
lat = []
for i in range(samples + 10):
    t0 = time.time_ns() // 1000
    cur.execute("SELECT pg_notify('bench_floor', %s)", (str(t0),))
    while True:
        select.select([lis], [], [], 5)
        lis.poll()
        if lis.notifies:
            n = lis.notifies.pop(0)
            now = time.time_ns() // 1000
            if i >= 10:
                lat.append((now - int(n.payload)) / 1000.0)
            break
    time.sleep(0.005)
lat.sort()
print(json.dumps({"samples": len(lat), "p50_ms": round(lat[len(lat) // 2], 3),
                  "p99_ms": round(lat[int((len(lat) - 1) * 0.99)], 3)}))
