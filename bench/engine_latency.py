#!/usr/bin/python3
"""bench/engine.sh part (c): execute -> completed latency, seen by a committing client.

    engine_latency.py SOCKET_DIR PORT DB WORKFLOW_ID USER_ID SAMPLES POLL_US

Each sample, on an otherwise idle cluster: t0, then one transaction as the workflow's owner
(SET LOCAL ROLE flov7_user + JWT claims, SELECT flov7.execute(...)) committed; then a second
connection polls the execution's status every POLL_US microseconds until it is completed; t1 is
the first poll that sees it.  The resolution is one poll round trip plus POLL_US.
Prints "p50_ms p90_ms p99_ms max_ms srv_p50_ms srv_p99_ms poll_rtt_ms samples", where srv_* is
completed_at - created_at recorded by the server (from the execute's transaction start).
"""
import json
import sys
import time
import uuid

import psycopg2

host, port, db, wf, uid, samples, poll_us = sys.argv[1:8]
samples, poll_s = int(samples), int(poll_us) / 1e6

client = psycopg2.connect(host=host, port=port, dbname=db, user="postgres")
poller = psycopg2.connect(host=host, port=port, dbname=db, user="postgres")
poller.autocommit = True
cc, pc = client.cursor(), poller.cursor()


def claims():
    now = int(time.time())
    return json.dumps({"sub": uid, "role": "flov7_user", "jti": str(uuid.uuid4()), "iat": now, "exp": now + 3600})


pc.execute("PREPARE st(uuid) AS SELECT status FROM flov7.workflow_executions WHERE id = $1")
# the poll's own round trip, for the resolution
t = time.perf_counter()
for _ in range(200):
    pc.execute("EXECUTE st(%s)", (str(uuid.uuid4()),))
    pc.fetchone()
rtt = (time.perf_counter() - t) / 200

lat, ids = [], []
for i in range(samples + 10):
    time.sleep(0.02)  # idle between samples: the workers are asleep on their latches
    t0 = time.perf_counter()
    cc.execute("SELECT set_config('role', 'flov7_user', true), set_config('request.jwt.claims', %s, true)", (claims(),))
    cc.execute("SELECT flov7.execute(%s, %s::jsonb) ->> 'execution_id'", (wf, json.dumps({"amount": i % 200})))
    eid = cc.fetchone()[0]
    client.commit()
    while True:
        pc.execute("EXECUTE st(%s)", (eid,))
        st = pc.fetchone()[0]
        if st in ("completed", "failed", "cancelled"):
            break
        if poll_s > 0:
            time.sleep(poll_s)
    t1 = time.perf_counter()
    if st != "completed":
        sys.exit(f"execution {eid} ended {st}")
    if i >= 10:  # the first few warm the connections' caches
        lat.append((t1 - t0) * 1000)
        ids.append(eid)

pc.execute("SELECT extract(epoch FROM completed_at - created_at) * 1000 FROM flov7.workflow_executions"
           " WHERE id = ANY(%s::uuid[])", (ids,))
srv = sorted(float(r[0]) for r in pc.fetchall())
lat.sort()


def pct(v, p):
    return v[min(len(v) - 1, int(len(v) * p))]


print(f"{pct(lat, .5):.2f} {pct(lat, .9):.2f} {pct(lat, .99):.2f} {lat[-1]:.2f} "
      f"{pct(srv, .5):.2f} {pct(srv, .99):.2f} {rtt * 1000:.3f} {len(lat)}")
