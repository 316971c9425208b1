"""Executions over HTTP: POST /workflows/{id}/execute (202, idempotency also under racing clients,
401/403/404/422, quota), list/get/cancel/retry (shapes, filters, keyset pages, 404 for another user's
ids, scopes, 409), runs by flov7.run_ready() and by the background worker."""

import json
import threading
import time
import uuid

from flov7_client import API, expect, expect_401, expect_error

TRIGGER = {"id": "t", "type": "trigger", "data": {"config": {"trigger_type": "manual"}}}
RUNNABLE = {
    "nodes": [
        TRIGGER,
        {"id": "c", "type": "condition",
         "data": {"config": {"condition_type": "if_else", "condition": "data.amount > 100"}}},
        {"id": "big", "type": "data",
         "data": {"config": {"operation_type": "mapping", "mapping": {"size": "big", "amount": "{{ data.amount }}"}}}},
        {"id": "small", "type": "data",
         "data": {"config": {"operation_type": "mapping", "mapping": {"size": "small"}}}},
    ],
    "edges": [
        {"id": "e1", "source": "t", "target": "c"},
        {"id": "e2", "source": "c", "target": "big", "branch": "true"},
        {"id": "e3", "source": "c", "target": "small", "branch": "false"},
    ],
}
BROKEN = {
    "nodes": [TRIGGER,
              {"id": "x", "type": "action", "data": {"config": {"action_type": "teleport"}}},
              {"id": "y", "type": "data", "data": {"config": {}}}],
    "edges": [{"id": "e", "source": "t", "target": "x"}],
}
EXECUTION_KEYS = {"id", "execution_id", "workflow_id", "user_id", "status", "input_data", "output_data",
                  "error_message", "execution_time_seconds", "cost_usd", "started_at", "completed_at",
                  "created_at", "workflow_version"}


def create(client, token, definition):
    r = client.post(API + "/workflows", token=token, json_body={"name": "run me", "workflow_json": definition})
    return expect(r, 201)


def execute(client, token, wf_id, **body):
    return client.post(API + "/workflows/%s/execute" % wf_id, token=token, json_body=body)


def settle(q, q1, ex):
    """Run due steps until none of the execution is due (a background worker may hold some)."""
    deadline = time.time() + 10
    while time.time() < deadline:
        q("SELECT flov7.run_ready(60)")
        if q1("SELECT count(*) FROM flov7.execution_steps WHERE execution_id = %s"
              " AND state = 'ready' AND ready_at <= now()", (ex,)) == 0:
            return
        time.sleep(0.01)
    raise AssertionError("execution %s did not settle" % ex)


def test_execute_is_202_pending_and_runs(client, user, q, q1):
    w = create(client, user.access, RUNNABLE)
    body = expect(execute(client, user.access, w["id"], input_data={"amount": 150}), 202)
    assert EXECUTION_KEYS <= set(body), sorted(EXECUTION_KEYS - set(body))
    assert body["status"] == "pending" and body["execution_id"] == body["id"]
    assert body["workflow_id"] == w["id"] and body["user_id"] == user.id and body["workflow_version"] == 1
    assert body["input_data"] == {"amount": 150}
    ex = body["execution_id"]
    settle(q, q1, ex)
    assert q1("SELECT status FROM flov7.workflow_executions WHERE id = %s", (ex,)) == "completed"
    assert q1("SELECT output_data FROM flov7.workflow_executions WHERE id = %s", (ex,)) == \
        {"big": {"size": "big", "amount": 150}}
    states = dict(q("SELECT node_id, state FROM flov7.execution_steps WHERE execution_id = %s", (ex,)))
    assert states == {"t": "completed", "c": "completed", "big": "completed", "small": "skipped"}
    got = expect(client.get(API + "/workflows/" + w["id"], token=user.access), 200)
    assert got["execution_count"] == 1 and got["last_executed_at"] is not None and got["version"] == 1


def test_execute_without_body_takes_empty_input(client, user):
    w = create(client, user.access, RUNNABLE)
    r = client.post(API + "/workflows/%s/execute" % w["id"], token=user.access)
    assert expect(r, 202)["input_data"] == {}


def test_same_idempotency_key_same_execution(client, user, q1):
    w = create(client, user.access, RUNNABLE)
    key = "order-" + uuid.uuid4().hex
    first = expect(execute(client, user.access, w["id"], input_data={"amount": 1}, idempotency_key=key), 202)
    again = expect(execute(client, user.access, w["id"], input_data={"amount": 2}, idempotency_key=key), 202)
    assert again["execution_id"] == first["execution_id"] and again["input_data"] == {"amount": 1}
    other = expect(execute(client, user.access, w["id"], idempotency_key=key + "-2"), 202)
    assert other["execution_id"] != first["execution_id"]
    assert q1("SELECT count(*) FROM flov7.workflow_executions WHERE workflow_id = %s", (w["id"],)) == 2


def test_racing_clients_with_one_key_get_one_execution(client, user, q1):
    w = create(client, user.access, RUNNABLE)
    key = "race-" + uuid.uuid4().hex
    results = []
    start = threading.Barrier(8)

    def one():
        start.wait()
        r = execute(client, user.access, w["id"], input_data={"amount": 5}, idempotency_key=key)
        results.append((r.status_code, r.json().get("execution_id")))

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {s for s, _ in results} == {202}, results
    assert len({e for _, e in results}) == 1, results
    assert q1("SELECT count(*) FROM flov7.workflow_executions WHERE workflow_id = %s", (w["id"],)) == 1
    assert q1("SELECT count(*) FROM flov7.execution_steps s JOIN flov7.workflow_executions e"
              " ON e.id = s.execution_id WHERE e.workflow_id = %s", (w["id"],)) == 4


def test_invalid_workflow_is_422_with_every_problem(client, user):
    w = create(client, user.access, BROKEN)
    assert w["status"] == "draft"
    body = expect_error(execute(client, user.access, w["id"]), 422, "PT422")
    problems = json.loads(body["details"])
    assert len(problems) >= 3, problems
    assert {p["node"] for p in problems} >= {"x", "y"}


def test_401_403_404(client, make_user):
    a, b = make_user(), make_user()
    w = create(client, a.access, RUNNABLE)
    expect_401(execute(client, None, w["id"]))
    expect_error(execute(client, b.access, w["id"]), 404, "P0002")
    expect_error(execute(client, a.access, str(uuid.uuid4())), 404, "P0002")
    expect_error(execute(client, a.access, "not-a-uuid"), 400)
    r = client.post(API + "/auth/api-keys", token=a.access, json_body={"name": "ro", "permissions": ["workflows:read"]})
    ro = expect(r, 201)["key"]
    body = expect_error(client.post(API + "/workflows/%s/execute" % w["id"], api_key=ro), 403, "42501")
    assert "workflows:execute" in body["message"]
    r = client.post(API + "/auth/api-keys", token=a.access, json_body={"name": "x", "permissions": ["workflows:execute"]})
    rx = expect(r, 201)["key"]
    expect(client.post(API + "/workflows/%s/execute" % w["id"], api_key=rx), 202)


def test_bad_body(client, user):
    w = create(client, user.access, RUNNABLE)
    expect_error(execute(client, user.access, w["id"], idempotency_key="x" * 201), 400)
    expect_error(execute(client, user.access, w["id"], idempotency_key=""), 400)


def test_quota_is_403_naming_the_limit(client, user, q, q1):
    w = create(client, user.access, RUNNABLE)
    limit = q1("SELECT max_executions_per_day FROM flov7.plan_quotas WHERE plan = 'free'")
    q("INSERT INTO flov7.workflow_executions (workflow_id, user_id) SELECT %s, %s FROM generate_series(1, %s)",
      (w["id"], user.id, limit))
    body = expect_error(execute(client, user.access, w["id"]), 403, "53400")
    assert "at most %d executions today" % limit in body["message"]
    assert "max_executions_per_day" in body["details"], body


def run_one(client, q, token, wf_id, **body):
    ex = expect(execute(client, token, wf_id, **body), 202)["execution_id"]
    settle(q, lambda sql, args=None: q(sql, args)[0][0], ex)
    return ex


def test_list_and_get(client, user, q):
    w = create(client, user.access, RUNNABLE)
    first = run_one(client, q, user.access, w["id"], input_data={"amount": 500})
    second = run_one(client, q, user.access, w["id"], input_data={"amount": 5})
    body = expect(client.get(API + "/workflows/%s/executions" % w["id"], token=user.access), 200)
    assert {"items", "total", "limit", "offset", "next_cursor"} <= set(body)
    assert body["total"] == 2 and [e["id"] for e in body["items"]] == [second, first]
    assert all(EXECUTION_KEYS <= set(e) for e in body["items"])
    page = expect(client.get(API + "/workflows/%s/executions" % w["id"], token=user.access,
                             params={"limit": 1}), 200)
    assert page["next_cursor"] and [e["id"] for e in page["items"]] == [second]
    rest = expect(client.get(API + "/workflows/%s/executions" % w["id"], token=user.access,
                             params={"limit": 1, "cursor": page["next_cursor"]}), 200)
    assert [e["id"] for e in rest["items"]] == [first] and rest["next_cursor"] is None
    # "before", the cursor's older name, takes the cursor or an execution id
    for before in (page["next_cursor"], second):
        rest = expect(client.get(API + "/workflows/%s/executions" % w["id"], token=user.access,
                                 params={"limit": 1, "before": before}), 200)
        assert [e["id"] for e in rest["items"]] == [first]
    none = expect(client.get(API + "/workflows/%s/executions" % w["id"], token=user.access,
                             params={"status": "failed"}), 200)
    assert none["total"] == 0 and none["items"] == []
    expect_error(client.get(API + "/workflows/%s/executions" % w["id"], token=user.access,
                            params={"status": "bogus"}), 400)
    expect_error(client.get(API + "/workflows/%s/executions" % w["id"], token=user.access,
                            params={"created_after": "soon"}), 400)
    got = expect(client.get(API + "/workflows/executions/" + first, token=user.access), 200)
    assert got["status"] == "completed" and got["output_data"] == {"big": {"size": "big", "amount": 500}}
    steps = {s["node_id"]: s for s in got["steps"]}
    assert set(steps) == {"t", "c", "big", "small"}
    assert steps["small"]["state"] == "skipped" and steps["c"]["branches"] == ["true"]
    assert steps["big"]["output"] == {"size": "big", "amount": 500} and steps["big"]["attempt"] == 1


def test_another_users_executions_are_404(client, make_user, q):
    a, b = make_user(), make_user()
    w = create(client, a.access, RUNNABLE)
    ex = run_one(client, q, a.access, w["id"])
    expect_error(client.get(API + "/workflows/executions/" + ex, token=b.access), 404, "P0002")
    expect_error(client.get(API + "/workflows/%s/executions" % w["id"], token=b.access), 404, "P0002")
    expect_error(client.post(API + "/workflows/executions/%s/cancel" % ex, token=b.access), 404, "P0002")
    expect_error(client.post(API + "/workflows/executions/%s/retry" % ex, token=b.access), 404, "P0002")
    expect_401(client.get(API + "/workflows/executions/" + ex))
    expect_error(client.get(API + "/workflows/executions/" + str(uuid.uuid4()), token=a.access), 404, "P0002")


WAITING = {
    "nodes": [TRIGGER,
              {"id": "w", "type": "action", "data": {"config": {"action_type": "wait", "duration_seconds": 3600}}},
              {"id": "n", "type": "action", "data": {"config": {"action_type": "notification", "title": "later"}}}],
    "edges": [{"id": "1", "source": "t", "target": "w"}, {"id": "2", "source": "w", "target": "n"}],
}


def test_cancel_and_retry(client, user, q, q1):
    w = create(client, user.access, WAITING)
    ex = run_one(client, q, user.access, w["id"])
    assert q1("SELECT state FROM flov7.execution_steps WHERE execution_id = %s AND node_id = 'w'", (ex,)) == "waiting"
    r = client.post(API + "/workflows/executions/%s/cancel" % ex, token=user.access)
    body = expect(r, 200)
    assert body["status"] == "cancelled" and body["completed_at"] is not None
    expect_error(client.post(API + "/workflows/executions/%s/cancel" % ex, token=user.access), 409, "PT409")
    q("UPDATE flov7.execution_steps SET ready_at = now() WHERE execution_id = %s", (ex,))
    q("SELECT flov7.run_ready(60)")
    assert dict(q("SELECT node_id, state FROM flov7.execution_steps WHERE execution_id = %s", (ex,))) == \
        {"t": "completed", "w": "cancelled", "n": "cancelled"}
    again = expect(client.post(API + "/workflows/executions/%s/retry" % ex, token=user.access), 200)
    assert again["status"] == "running" and again["retry_count"] == 1
    q("UPDATE flov7.execution_steps SET ready_at = now() WHERE execution_id = %s AND state = 'ready'", (ex,))
    settle(q, q1, ex)
    got = expect(client.get(API + "/workflows/executions/" + ex, token=user.access), 200)
    assert got["status"] == "waiting" or got["status"] == "running"
    expect_error(client.post(API + "/workflows/executions/%s/cancel" % "nope", token=user.access), 400)


def test_retry_needs_a_failed_execution_and_the_scope(client, user, q):
    w = create(client, user.access, RUNNABLE)
    ex = run_one(client, q, user.access, w["id"])
    expect_error(client.post(API + "/workflows/executions/%s/retry" % ex, token=user.access), 409, "PT409")
    r = client.post(API + "/auth/api-keys", token=user.access, json_body={"name": "ro", "permissions": ["workflows:read"]})
    ro = expect(r, 201)["key"]
    expect(client.get(API + "/workflows/executions/" + ex, api_key=ro), 200)
    expect_error(client.post(API + "/workflows/executions/%s/retry" % ex, api_key=ro), 403, "42501")
    expect_error(client.post(API + "/workflows/executions/%s/cancel" % ex, api_key=ro), 403, "42501")


def test_background_worker_runs_executions(client, user, q1):
    """The harness preloads flov7 with flov7.database_name set to its database: a worker, connected
    as flov7_worker, runs an execution as soon as execute commits, without run_ready."""
    assert q1("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'flov7 worker'"
              " AND datname = current_database() AND usename = 'flov7_worker'") >= 1
    w = create(client, user.access, RUNNABLE)
    ex = expect(execute(client, user.access, w["id"], input_data={"amount": 101}), 202)["execution_id"]
    # An idle worker sleeps up to 10 s: finishing well before shows that the commit woke it.
    start = time.time()
    deadline = start + 3
    got = None
    while time.time() < deadline:
        got = expect(client.get(API + "/workflows/executions/" + ex, token=user.access), 200)
        if got["status"] in ("completed", "failed"):
            break
        time.sleep(0.02)
    assert got["status"] == "completed", got
    assert got["output_data"] == {"big": {"size": "big", "amount": 101}}
    assert {s["worker"] for s in got["steps"] if s["state"] == "completed"} == {"worker"}


def test_cancel_does_not_wait_for_a_step_a_worker_holds(client, user, q, q1, cfg):
    """A worker holds its claimed step's row lock until it commits, and locks the execution row
    to settle the step.  Cancel locks the execution row first: if it then waited for the
    worker's step, the two would deadlock.  It skips that step instead, and the worker's step
    finishes into a cancelled execution."""
    import psycopg2
    w = create(client, user.access, WAITING)
    ex = run_one(client, q, user.access, w["id"])
    worker = psycopg2.connect(cfg["pguri"])
    try:
        with worker.cursor() as c:  # as a runner does: the claim is a row lock on the step
            c.execute("SELECT 1 FROM flov7.execution_steps WHERE execution_id = %s AND node_id = 'w' FOR UPDATE",
                      (ex,))
            c.execute("SET lock_timeout = '5s'")
        started = time.time()
        r = client.post(API + "/workflows/executions/%s/cancel" % ex, token=user.access)
        body = expect(r, 200)
        assert body["status"] == "cancelled"
        assert time.time() - started < 3, "cancel waited for the worker's step"
        with worker.cursor() as c:  # the worker settles its step: the execution row is free again
            c.execute("SELECT status FROM flov7.workflow_executions WHERE id = %s FOR UPDATE", (ex,))
            assert c.fetchone()[0] == "cancelled"
        worker.rollback()
    finally:
        worker.close()
    # what the worker held is cancelled when it is claimed next, and nothing after it starts
    q("UPDATE flov7.execution_steps SET ready_at = now() WHERE execution_id = %s AND state = 'waiting'", (ex,))
    q("SELECT flov7.run_ready(60)")
    assert dict(q("SELECT node_id, state FROM flov7.execution_steps WHERE execution_id = %s", (ex,))) == \
        {"t": "completed", "w": "cancelled", "n": "cancelled"}
