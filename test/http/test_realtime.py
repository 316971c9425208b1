"""Realtime over HTTP and LISTEN: the notify and broadcast endpoints (success, 401/403/404, bad
input that changes nothing), replay through GET /realtime/events, NOTIFY on the documented
channels, and positions that never skip an event committed late."""

import json
import select
import time
import uuid

import psycopg2

from flov7_client import API, expect, expect_401, expect_error

RT = API + "/realtime"


def publish(q1):
    return q1("SELECT flov7.events_publish()")


def events(client, token, after, **params):
    qs = "&".join("%s=%s" % kv for kv in dict(last_event_id=after, **params).items())
    return expect(client.get(RT + "/events?" + qs, token=token), 200)


def head(q1):
    return q1("SELECT flov7.events_head()")


def test_user_notification_to_self_is_stored_and_replayed(client, user, q1):
    start = publish(q1)
    r = expect(client.post(RT + "/notify/user-notification", token=user.access,
                           json_body={"title": "hello", "message": "hi there", "data": {"k": 1}}), 200)
    assert r["sent"] is True
    n = r["notification"]
    assert n["title"] == "hello" and n["message"] == "hi there" and n["data"] == {"k": 1}
    assert n["user_id"] == user.id and n["type"] == "info" and n["is_read"] is False
    listed = expect(client.get(API + "/users/notifications", token=user.access), 200)["items"]
    assert [x["id"] for x in listed] == [n["id"]]
    publish(q1)
    page = events(client, user.access, start)
    assert [e["type"] for e in page["items"]] == ["notification.created"]
    e = page["items"][0]
    assert e["topic"] == "notifications" and e["payload"]["notification_id"] == n["id"]
    assert e["payload"]["title"] == "hello" and e["user_id"] == user.id
    assert page["next_event_id"] == e["event_id"] > start
    # from the last one: nothing more
    assert events(client, user.access, e["event_id"])["items"] == []


def test_user_notification_refusals_change_nothing(client, user, make_user, q1):
    other = make_user()
    before = q1("SELECT count(*) FROM flov7.notifications WHERE user_id IN (%s, %s)", (user.id, other.id))
    expect_401(client.post(RT + "/notify/user-notification", json_body={"title": "x"}))
    expect_error(client.post(RT + "/notify/user-notification", token=user.access,
                             json_body={"user_id": other.id, "title": "x"}), 403)
    expect_error(client.post(RT + "/notify/user-notification", token=user.access, json_body={"message": "no title"}), 400)
    expect_error(client.post(RT + "/notify/user-notification", token=user.access,
                             json_body={"title": "x", "notification_type": "Bad Type"}), 400)
    expect_error(client.post(RT + "/notify/user-notification", token=user.access,
                             json_body={"title": "x", "data": [1, 2]}), 400)
    expect_error(client.post(RT + "/notify/user-notification", token=user.access,
                             json_body={"title": "x" * 201}), 400)
    after = q1("SELECT count(*) FROM flov7.notifications WHERE user_id IN (%s, %s)", (user.id, other.id))
    assert after == before
    assert q1("SELECT count(*) FROM flov7.events WHERE user_id IN (%s, %s)", (user.id, other.id)) == 0


def test_admin_notifies_anyone(client, admin, user, q1):
    r = expect(client.post(RT + "/notify/user-notification", token=admin.access,
                           json_body={"user_id": user.id, "title": "from admin", "notification_type": "warning"}), 200)
    assert r["notification"]["user_id"] == user.id and r["notification"]["type"] == "warning"
    expect_error(client.post(RT + "/notify/user-notification", token=admin.access,
                             json_body={"user_id": str(uuid.uuid4()), "title": "x"}), 404)


def make_execution(client, token):
    w = expect(client.post(API + "/workflows", token=token, json_body={"name": "rt", "workflow_json": {
        "nodes": [{"id": "t", "type": "trigger", "data": {"config": {"trigger_type": "manual"}}}], "edges": []}}), 201)
    ex = expect(client.post(API + "/workflows/%s/execute" % w["id"], token=token, json_body={}), 202)
    return w["id"], ex["execution_id"]


def test_workflow_status_by_owner_other_user_and_admin(client, user, make_user, admin, q1):
    wf, ex = make_execution(client, user.access)
    start = publish(q1)
    body = {"execution_id": ex, "workflow_id": wf, "status": "completed", "message": "all done", "data": {"rows": 3}}
    r = expect(client.post(RT + "/notify/workflow-status", token=user.access, json_body=body), 200)
    assert r["notification"]["type"] == "workflow_status" and r["notification"]["user_id"] == user.id
    assert r["notification"]["data"] == {"rows": 3, "workflow_id": wf, "execution_id": ex, "status": "completed"}
    other = make_user()
    expect_error(client.post(RT + "/notify/workflow-status", token=other.access, json_body=body), 404)
    expect_error(client.post(RT + "/notify/workflow-status", token=user.access,
                             json_body=dict(body, workflow_id=str(uuid.uuid4()))), 404)
    expect_error(client.post(RT + "/notify/workflow-status", token=user.access,
                             json_body=dict(body, execution_id="not-a-uuid")), 400)
    expect_error(client.post(RT + "/notify/workflow-status", token=user.access,
                             json_body={"execution_id": ex}), 400)
    expect(client.post(RT + "/notify/workflow-status", token=admin.access, json_body=dict(body, status="failed")), 200)
    publish(q1)
    got = [e for e in events(client, user.access, start, topics="workflows")["items"] if e["type"] == "workflow.status"]
    assert [e["payload"]["status"] for e in got] == ["completed", "failed"]
    assert got[0]["payload"] == {"workflow_id": wf, "execution_id": ex, "status": "completed",
                                 "message": "all done", "data": {"rows": 3}}
    # the other user sees none of it, and may not read the owner's stream
    assert not [e for e in events(client, other.access, start)["items"] if e["user_id"] == user.id]
    expect_error(client.get(RT + "/events?last_event_id=%d&user_id=%s" % (start, user.id), token=other.access), 404)
    mine = events(client, admin.access, start, user_id=user.id, topics="workflows")["items"]
    assert len([e for e in mine if e["type"] == "workflow.status"]) == 2


def test_broadcast_reaches_everyone_admin_only(client, admin, user, make_user, q1):
    other = make_user()
    start = publish(q1)
    expect_error(client.post(RT + "/broadcast/system-announcement", token=user.access, json_body={"title": "x"}), 403)
    expect_401(client.post(RT + "/broadcast/system-announcement", json_body={"title": "x"}))
    r = expect(client.post(RT + "/broadcast/system-announcement", token=admin.access,
                           json_body={"title": "maintenance", "message": "tonight", "announcement_type": "maintenance"}), 200)
    assert r["announcement"]["title"] == "maintenance" and r["announcement"]["announcement_type"] == "maintenance"
    publish(q1)
    for who in (user, other):
        got = [e for e in events(client, who.access, start, topics="system")["items"]]
        assert [(e["type"], e["payload"]["title"]) for e in got] == [("system.announcement", "maintenance")]
        assert got[0]["user_id"] is None


def test_events_bad_parameters(client, user):
    expect_401(client.get(RT + "/events"))
    expect_error(client.get(RT + "/events?last_event_id=abc", token=user.access), 400)
    expect_error(client.get(RT + "/events?last_event_id=-1", token=user.access), 400)
    expect_error(client.get(RT + "/events?topics=nope", token=user.access), 400)
    expect_error(client.get(RT + "/events?limit=0", token=user.access), 400)
    # no position: from the newest, so nothing yet
    assert expect(client.get(RT + "/events", token=user.access), 200)["items"] == []


def test_execution_events_in_order(client, user, q, q1):
    start = publish(q1)
    wf, ex = make_execution(client, user.access)
    deadline = time.time() + 10
    while q1("SELECT status FROM flov7.workflow_executions WHERE id = %s", (ex,)) != "completed":
        assert time.time() < deadline, "the execution did not complete"
        q("SELECT flov7.run_ready(60)")
        time.sleep(0.01)
    publish(q1)
    got = [e for e in events(client, user.access, start, topics="workflows")["items"]
           if e["payload"].get("execution_id") == ex]
    assert [e["type"] for e in got] == ["execution.created", "execution.started", "step.completed", "execution.completed"]
    assert [e["event_id"] for e in got] == sorted(e["event_id"] for e in got)


def test_listen_channels_carry_ids_not_data(client, user, cfg, q1):
    publish(q1)
    conn = psycopg2.connect(cfg["pguri"])
    conn.autocommit = True
    try:
        chan = q1("SELECT flov7.user_channel(%s)", (user.id,))
        with conn.cursor() as c:
            c.execute('LISTEN "%s"; LISTEN flov7_events' % chan)
        secret = "secret-" + uuid.uuid4().hex
        expect(client.post(RT + "/notify/user-notification", token=user.access,
                           json_body={"title": secret, "message": secret, "data": {"s": secret}}), 200)
        got = {}
        deadline = time.time() + 10
        while time.time() < deadline and not ({chan, "flov7_events"} <= set(got)):
            publish(q1)  # the workers publish too; whoever comes first
            if select.select([conn], [], [], 0.2)[0]:
                conn.poll()
                for n in conn.notifies:
                    got[n.channel] = n.payload
                conn.notifies.clear()
        assert chan in got and "flov7_events" in got, got
        p = json.loads(got[chan])
        assert p["type"] == "notification.created" and p["user_id"] == user.id and p["topic"] == "notifications"
        assert secret not in got[chan]
        assert int(got["flov7_events"]) >= p["event_id"]
    finally:
        conn.close()


def test_event_committed_late_is_not_skipped(cfg, user, q1):
    """Two transactions write events; the one that wrote first commits last.  A reader that has
    read past the first commit's events must still get the late one."""
    uid = user.id
    a = psycopg2.connect(cfg["pguri"])
    b = psycopg2.connect(cfg["pguri"])
    try:
        start = publish(q1)
        ca, cb = a.cursor(), b.cursor()
        ca.execute("SELECT flov7.event_add(%s, 'workflows', 'test.early', '{}')", (uid,))   # lower id, open
        cb.execute("SELECT flov7.event_add(%s, 'workflows', 'test.late', '{}')", (uid,))
        b.commit()
        first = publish(q1)
        seen = q1("SELECT array_agg(type ORDER BY pos) FROM flov7.events WHERE user_id = %s AND pos > %s",
                  (uid, start))
        assert seen == ["test.late"]
        a.commit()
        publish(q1)
        later = q1("SELECT array_agg(type ORDER BY pos) FROM flov7.events WHERE user_id = %s AND pos > %s",
                   (uid, first))
        assert later == ["test.early"], "an event committed after a reader's position was skipped"
    finally:
        a.close()
        b.close()


def test_rolled_back_work_emits_nothing(cfg, user, q1):
    c = psycopg2.connect(cfg["pguri"])
    try:
        cur = c.cursor()
        cur.execute("INSERT INTO flov7.notifications (user_id, title) VALUES (%s, 'never')", (uid := user.id,))
        c.rollback()
    finally:
        c.close()
    publish(q1)
    assert q1("SELECT count(*) FROM flov7.events WHERE user_id = %s", (uid,)) == 0


# --------------------------------------------------------------------------- execute ?wait=

def two_node_workflow(client, token, second=None):
    second = second or {"id": "m", "type": "data", "data": {"config": {"operation_type": "mapping",
                                                                      "mapping": {"ok": True}}}}
    w = expect(client.post(API + "/workflows", token=token, json_body={"name": "wait", "workflow_json": {
        "nodes": [{"id": "t", "type": "trigger", "data": {"config": {"trigger_type": "manual"}}}, second],
        "edges": [{"id": "e", "source": "t", "target": second["id"]}]}}), 201)
    return w["id"]


def test_execute_wait_answers_the_finished_execution(client, user, q1):
    wf = two_node_workflow(client, user.access)
    r = expect(client.post(API + "/workflows/%s/execute?wait=10000" % wf, token=user.access, json_body={}), 200)
    assert r["status"] == "completed" and r["output_data"] == {"m": {"ok": True}}, r
    assert [s["node_id"] for s in r["steps"]] == ["t", "m"], r["steps"]
    assert q1("SELECT status FROM flov7.workflow_executions WHERE id = %s", (r["execution_id"],)) == "completed"
    # the same answer as GET /workflows/executions/{id}
    got = expect(client.get(API + "/workflows/executions/" + r["execution_id"], token=user.access), 200)
    assert got["status"] == r["status"] and got["output_data"] == r["output_data"]


def test_execute_wait_runs_out_with_the_pending_execution(client, user, q1):
    wf = two_node_workflow(client, user.access, {"id": "z", "type": "action", "data": {"config": {
        "action_type": "wait", "duration_seconds": 600}}})
    t = time.monotonic()
    r = expect(client.post(API + "/workflows/%s/execute?wait=400" % wf, token=user.access, json_body={}), 202)
    took = time.monotonic() - t
    assert r["status"] in ("pending", "running", "waiting") and r["execution_id"], r
    assert 0.35 < took < 5, "answered after %.2f s, not at the end of the 0.4 s wait" % took
    # the execution goes on; the wait changed nothing
    assert q1("SELECT status FROM flov7.workflow_executions WHERE id = %s", (r["execution_id"],)) in ("running", "waiting")


def test_execute_wait_bad_values_change_nothing(client, user, make_user, q1):
    wf = two_node_workflow(client, user.access)
    for bad in ("abc", "-1", "60001", "1.5"):
        expect_error(client.post(API + "/workflows/%s/execute?wait=%s" % (wf, bad), token=user.access, json_body={}), 400)
    assert q1("SELECT count(*) FROM flov7.workflow_executions WHERE workflow_id = %s", (wf,)) == 0
    other = make_user()
    expect_error(client.post(API + "/workflows/%s/execute?wait=1000" % wf, token=other.access, json_body={}), 404)
    expect_401(client.post(API + "/workflows/%s/execute?wait=1000" % wf, json_body={}))
    # wait=0: no wait, the usual 202
    r = expect(client.post(API + "/workflows/%s/execute?wait=0" % wf, token=user.access, json_body={}), 202)
    assert r["execution_id"]
