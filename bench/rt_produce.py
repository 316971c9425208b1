"""rt_produce.py DSN MODE COUNT RATE: commit COUNT events, RATE per second (0: as fast as one
connection goes), each carrying t0 = the wall clock in microseconds as the commit is sent.
MODE flov7: a system announcement through the event log (flov7.event_add; published by the
workers, read by frontd's feed); MODE peer: pg_notify('bench', message) for the Node peer.
Both in autocommit: one round trip is the statement and its commit."""
import json
import sys
import time

import psycopg2

dsn, mode, count, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
conn = psycopg2.connect(dsn)
conn.autocommit = True
cur = conn.cursor()
SYSTEM = "00000000-0000-0000-0000-000000000000"
start = time.monotonic()
for i in range(count):
    if rate > 0:
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    t0 = time.time_ns() // 1000
    if mode == "flov7":
        cur.execute("SELECT flov7.event_add(%s, 'system', 'system.announcement', jsonb_build_object("
                    "'announcement_type', 'bench', 'title', 'bench', 'message', '', 'data', "
                    "jsonb_build_object('n', %s, 't0', %s::bigint)))", (SYSTEM, i, t0))
    else:
        cur.execute("SELECT pg_notify('bench', %s)", (json.dumps({
            "type": "system_announcement", "announcement_type": "bench", "title": "bench", "message": "",
            "data": {"n": i, "t0": t0}, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ"), "event_id": i}),))
