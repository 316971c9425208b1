"""The executor survives crashes: kill -9 of a background worker (the postmaster resets every
backend) and a restart of PostgreSQL while 200 executions run.  Every execution reaches a terminal
state, none is left running, and each in-database step's effect (a row written by a db_query step)
is applied exactly once."""

import json
import os
import signal
import subprocess
import time
import uuid

import psycopg2
import pytest

PGURI = os.environ.get("FLOV7_PGURI", "")
PG_RESTART = os.environ.get("FLOV7_PG_RESTART", "")
N = 200


def connect(deadline=60):
    """A superuser connection, retried while the server recovers."""
    end = time.time() + deadline
    while True:
        try:
            c = psycopg2.connect(PGURI)
            c.autocommit = True
            return c
        except psycopg2.OperationalError:
            if time.time() > end:
                raise
            time.sleep(0.2)


def query(sql, args=None, deadline=60):
    """Run one statement, reconnecting across a crash or restart; the rows."""
    end = time.time() + deadline
    while True:
        try:
            c = connect(deadline)
            try:
                with c.cursor() as cur:
                    cur.execute(sql, args)
                    return cur.fetchall() if cur.description else []
            finally:
                c.close()
        except psycopg2.OperationalError:
            if time.time() > end:
                raise
            time.sleep(0.2)


def wait_for_workers(deadline=30):
    end = time.time() + deadline
    while time.time() < end:
        if query("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'flov7 worker'"
                 " AND datname = current_database()")[0][0] > 0:
            return
        time.sleep(0.2)
    raise AssertionError("no flov7 worker came (back)")


@pytest.mark.skipif(not PGURI or not PG_RESTART, reason="run through test/run.sh")
def test_executions_survive_worker_kill_and_restart():
    wait_for_workers()
    tag = uuid.uuid4().hex[:8]
    table = "crash_%s" % tag
    query("CREATE TABLE public.%s (n int NOT NULL)" % table)
    query("GRANT INSERT, SELECT ON public.%s TO flov7_user" % table)
    uid = query("INSERT INTO flov7.users (email, subscription_plan) VALUES (%s, 'enterprise') RETURNING id::text",
                ("crash-%s@flov7.test" % tag,))[0][0]
    definition = {
        "nodes": [
            {"id": "t", "type": "trigger", "data": {"config": {"trigger_type": "manual"}}},
            {"id": "w", "type": "action", "data": {"config": {
                "action_type": "db_query", "read_only": False,
                "query": "INSERT INTO public.%s (n) SELECT $1::int FROM pg_sleep(0.005)" % table,
                "params": ["{{ $.input.n }}"]}}},
            {"id": "m", "type": "data", "data": {"config": {"operation_type": "mapping", "mapping": {"n": "{{ $.input.n }}"}}}},
        ],
        "edges": [{"id": "1", "source": "t", "target": "w"}, {"id": "2", "source": "w", "target": "m"}],
    }
    claims = json.dumps({"sub": uid, "jti": str(uuid.uuid4()), "exp": int(time.time()) + 3600, "role": "flov7_user"})
    c = connect()
    c.autocommit = False
    with c.cursor() as cur:
        cur.execute("SET LOCAL ROLE flov7_user")
        cur.execute("SELECT set_config('request.jwt.claims', %s, true)", (claims,))
        cur.execute("SELECT flov7_api.workflow_create(%s) ->> 'id'",
                    (json.dumps({"name": "crash", "workflow_json": definition}),))
        wf = cur.fetchone()[0]
        for i in range(N):
            cur.execute("SELECT flov7.execute(%s, %s)", (wf, json.dumps({"n": i})))
    c.commit()
    c.close()

    # Some work done, then kill -9 a worker: the postmaster resets every backend.
    end = time.time() + 30
    while query("SELECT count(*) FROM public.%s" % table)[0][0] < 20 and time.time() < end:
        time.sleep(0.01)
    pid = query("SELECT pid FROM pg_stat_activity WHERE backend_type = 'flov7 worker' LIMIT 1")[0][0]
    os.kill(pid, signal.SIGKILL)
    time.sleep(1)
    wait_for_workers()

    # Then a restart of PostgreSQL with executions in flight.
    done = query("SELECT count(*) FROM flov7.workflow_executions WHERE workflow_id = %s"
                 " AND status IN ('completed', 'failed', 'cancelled')", (wf,))[0][0]
    if done < N:
        subprocess.run(PG_RESTART, shell=True, check=True, stdout=subprocess.DEVNULL)
        wait_for_workers()

    end = time.time() + 90
    while time.time() < end:
        left = query("SELECT count(*) FROM flov7.workflow_executions WHERE workflow_id = %s"
                     " AND status NOT IN ('completed', 'failed', 'cancelled')", (wf,))[0][0]
        if left == 0:
            break
        time.sleep(0.2)
    statuses = dict(query("SELECT status, count(*) FROM flov7.workflow_executions WHERE workflow_id = %s"
                          " GROUP BY status", (wf,)))
    assert statuses == {"completed": N}, statuses
    rows, distinct = query("SELECT count(*), count(DISTINCT n) FROM public.%s" % table)[0]
    assert (rows, distinct) == (N, N), "each db_query step applied exactly once"
    assert query("SELECT count(*) FROM flov7.execution_steps s JOIN flov7.workflow_executions e"
                 " ON e.user_id = s.user_id AND e.id = s.execution_id"
                 " WHERE e.workflow_id = %s AND s.state <> 'completed'", (wf,))[0][0] == 0
    assert query("SELECT execution_count FROM flov7.workflows WHERE id = %s", (wf,))[0][0] == N
    query("DROP TABLE public.%s" % table)
