"""Realtime over WebSocket (RFC 6455): the opening handshake and its refusals (every one a plain
HTTP error before the upgrade), the messages (connection, pong, errors, events in the shapes of
flov7.event_message), isolation between users, replay from last_event_id (query or a resume
message) with no gap and no duplicate, and framing per RFC 6455 (Autobahn-style cases sent with
the raw client of ws_raw.py: masking, RSV bits, opcodes, control frames, fragmentation, UTF-8,
close codes, message size)."""

import json
import struct
import threading
import time
import uuid

import pytest

from conftest import login, register
from flov7_client import TIMEOUT, API, Client, assert_error_body, expect, jwt_parts, jwt_sign
from ws_raw import (
    OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, Closed, WsConn, accept_for,
    close_payload, encode_frame,
)

RT = API + "/realtime"
WAIT = TIMEOUT      # longest wait for a message that must come (generous: valgrind runs)
MAX_MESSAGE = 65536  # frontd's default largest client message

CONNECTION_KEYS = {"type", "status", "channel", "timestamp", "event_id"}
NOTIFICATION_KEYS = {"type", "event", "notification_id", "notification_type", "title", "message",
                     "data", "timestamp", "event_id"}
WORKFLOW_KEYS = {"type", "event", "workflow_id", "execution_id", "status", "message", "data",
                 "timestamp", "event_id"}
ANNOUNCEMENT_KEYS = {"type", "event", "announcement_type", "title", "message", "data",
                     "timestamp", "event_id"}


# --------------------------------------------------------------------------- helpers

def ws_path(topic, user_id, **qs):
    path = RT + "/ws/%s/%s" % (topic, user_id)
    if qs:
        path += "?" + "&".join("%s=%s" % kv for kv in qs.items())
    return path


def publish(q1):
    return q1("SELECT flov7.events_publish()")


def poker(q, q1):
    """What a waiting test calls now and then: publish committed events, run ready steps."""
    def poke():
        publish(q1)
        q("SELECT flov7.run_ready(60)")
    return poke


def db_message(q1, pos):
    """The message the database says a socket must carry for the event at pos."""
    return q1("SELECT flov7.event_message(e) FROM flov7.events e WHERE e.pos = %s", (pos,))


def db_positions(q, after, upto, user_id, topic):
    """Positions a socket of topic watching user_id must carry in (after, upto], in order
    (notifications sockets also carry the system announcements)."""
    rows = q("SELECT pos FROM flov7.events WHERE pos > %s AND pos <= %s AND "
             "((user_id = %s AND topic = %s) OR (topic = 'system' AND %s = 'notifications')) "
             "ORDER BY pos", (after, upto, user_id, topic, topic))
    return [r[0] for r in rows]


def notify(client, token, title=None, **body):
    body.setdefault("title", title or "t-" + uuid.uuid4().hex[:10])
    r = expect(client.post(RT + "/notify/user-notification", token=token, json_body=body), 200)
    return r["notification"]


def make_execution(client, token):
    w = expect(client.post(API + "/workflows", token=token, json_body={"name": "ws", "workflow_json": {
        "nodes": [{"id": "t", "type": "trigger", "data": {"config": {"trigger_type": "manual"}}}],
        "edges": []}}), 201)
    ex = expect(client.post(API + "/workflows/%s/execute" % w["id"], token=token, json_body={}), 202)
    return w["id"], ex["execution_id"]


def assert_increasing(msgs):
    ids = [m["event_id"] for m in msgs if m.get("type") not in ("connection", "pong", "error")]
    assert ids == sorted(set(ids)), "event_id not strictly increasing: %r" % ids
    return ids


def events_of(msgs):
    return [m for m in msgs if m.get("type") not in ("connection", "pong", "error")]


def assert_connection_message(msg, topic, user_id):
    assert isinstance(msg, dict) and set(msg) == CONNECTION_KEYS, "connection message %r" % msg
    assert msg["type"] == "connection" and msg["status"] == "connected", msg
    assert msg["channel"] == "%s:%s" % (topic, user_id), msg
    assert isinstance(msg["timestamp"], str) and msg["timestamp"], msg
    assert isinstance(msg["event_id"], int) and not isinstance(msg["event_id"], bool) \
        and msg["event_id"] >= 0, msg


@pytest.fixture
def wsopen(cfg):
    """wsopen(path, token=None, headers=[...], **kw) -> (WsConn, response); closed at teardown."""
    conns = []

    def open_(path, token=None, headers=None, **kw):
        h = list(headers or [])
        if token is not None:
            h.append(("Authorization", "Bearer " + token))
        c, resp = WsConn.open(cfg["host"], cfg["port"], path, headers=h, **kw)
        conns.append(c)
        return c, resp
    yield open_
    for c in conns:
        c.close()


def connect(wsopen, topic, user_id, token, headers=None, **qs):
    """An upgraded socket past its connection message: (ws, connection message)."""
    ws, resp = wsopen(ws_path(topic, user_id, **qs), token=token, headers=headers)
    assert resp.status == 101, "handshake refused: %r" % resp
    assert ws.accept_ok(), "Sec-WebSocket-Accept %r for key %r: %r" % (
        resp.header("Sec-WebSocket-Accept"), ws.key, resp)
    hello = ws.recv_json(WAIT)
    assert_connection_message(hello, topic, user_id)
    return ws, hello


def refused(resp, status):
    """A refusal before the upgrade: exact status, flov7's error body, no upgrade."""
    assert resp.status == status, "expected %d, got %r" % (status, resp)
    assert resp.header("Sec-WebSocket-Accept") is None, resp
    assert resp.header("X-Request-Id"), "no X-Request-Id: %r" % resp
    ctype = resp.header("Content-Type") or ""
    assert ctype.startswith("application/json"), "Content-Type %r: %r" % (ctype, resp)
    body = resp.json()
    assert_error_body(body)
    if status == 401:
        assert (resp.header("WWW-Authenticate") or "").startswith("Bearer"), resp
    return body


def assert_closed_with(ws, code, what=""):
    got, tcp_closed = ws.wait_close(WAIT)
    if got is None:
        seen = "a close frame without a code" if ws.close_frame else \
            "the TCP connection %s with no close frame" % ("reset" if ws.reset else "closed") \
            if tcp_closed else "nothing in %d s" % WAIT
    else:
        seen = "close %d" % got
    assert got == code, "%s: expected close %d, got %s; last frames %r" % (
        what, code, seen, ws.frames[-3:])
    assert tcp_closed, "%s: TCP still open after close %d" % (what, code)


def pong_after(ws):
    """Send a JSON ping and return the pong (events in between are skipped)."""
    assert ws.send_json({"type": "ping"}), "send failed"
    got = ws.messages_until(lambda m: m.get("type") in ("pong", "error"), timeout=WAIT)
    assert got[-1]["type"] == "pong", got
    return got[-1]


def api_key(client, token, **body):
    body.setdefault("name", "ws-" + uuid.uuid4().hex[:8])
    return expect(client.post(API + "/auth/api-keys", token=token, json_body=body), 201)["key"]


@pytest.fixture(scope="module")
def pair(base_url):
    """Two registered users shared by the read-only tests of this module."""
    c = Client(base_url)
    return register(c), register(c)


@pytest.fixture(scope="module")
def boss(base_url, cfg):
    """The harness's admin, logged in once for this module's refusal cases."""
    tok = login(Client(base_url), cfg["admin_email"], cfg["admin_password"])
    return tok["access_token"]


# --------------------------------------------------------------------------- handshake

@pytest.mark.parametrize("topic", ["workflows", "notifications"])
def test_handshake_101_accept_and_connection_message(wsopen, user, topic, q1):
    """101 with Upgrade/Connection, the RFC's Sec-WebSocket-Accept, no subprotocol unasked, and
    first a text frame {"type":"connection",...} naming the channel, at the current head."""
    before = publish(q1)
    ws, resp = wsopen(ws_path(topic, user.id), token=user.access)
    assert resp.status == 101, resp
    assert (resp.header("Upgrade") or "").lower() == "websocket", resp
    assert "upgrade" in [t.strip().lower() for t in (resp.header("Connection") or "").split(",")], resp
    assert resp.header("Sec-WebSocket-Accept") == accept_for(ws.key), resp
    assert resp.header("Sec-WebSocket-Protocol") is None, resp
    f = ws.recv_frame(WAIT)
    assert f.opcode == OP_TEXT and f.fin and not f.masked and f.rsv == 0, f
    hello = json.loads(f.payload)
    assert_connection_message(hello, topic, user.id)
    after = q1("SELECT flov7.events_head()")
    assert before <= hello["event_id"] <= after, (before, hello, after)
    assert ws.is_open(0.05)


def credential_variants(client, user):
    key = api_key(client, user.access)
    return {
        "bearer-jwt": ({}, [("Authorization", "Bearer " + user.access)], False),
        "bearer-api-key": ({}, [("Authorization", "Bearer " + key)], False),
        "x-api-key": ({}, [("X-API-Key", key)], False),
        "query-jwt": ({"token": user.access}, [], False),
        "query-api-key": ({"token": key}, [], False),
        "subprotocol-jwt": ({}, [("Sec-WebSocket-Protocol", "bearer, " + user.access)], True),
        "subprotocol-api-key": ({}, [("Sec-WebSocket-Protocol", "bearer, " + key)], True),
    }


CREDENTIALS = ["bearer-jwt", "bearer-api-key", "x-api-key", "query-jwt", "query-api-key",
               "subprotocol-jwt", "subprotocol-api-key"]


@pytest.mark.parametrize("how", CREDENTIALS)
def test_every_credential_style_connects(wsopen, client, user, how):
    """Authorization (JWT or key), X-API-Key, ?token= (JWT or key), and the subprotocol form
    `bearer, <token>`, answered with Sec-WebSocket-Protocol: bearer."""
    qs, headers, subprotocol = credential_variants(client, user)[how]
    ws, resp = wsopen(ws_path("notifications", user.id, **qs), headers=headers)
    assert resp.status == 101, resp
    assert ws.accept_ok(), resp
    if subprotocol:
        assert resp.header("Sec-WebSocket-Protocol") == "bearer", resp
    else:
        assert resp.header("Sec-WebSocket-Protocol") is None, resp
    assert_connection_message(ws.recv_json(WAIT), "notifications", user.id)
    assert pong_after(ws)


def test_allowed_origin_connects(wsopen, user):
    ws, resp = wsopen(ws_path("workflows", user.id), token=user.access,
                      headers=[("Origin", "http://allowed.example")])
    assert resp.status == 101, resp
    assert_connection_message(ws.recv_json(WAIT), "workflows", user.id)


def forged(user, secret, **over):
    c = dict(jwt_parts(user.access)[1])
    c.update(over)
    return jwt_sign(c, secret)


# name -> (status, function (pair, admin, secret, client) -> (path uid, query, headers, kwargs))
def _refusals():
    def own(p):
        return p[0].id

    return {
        "no-credentials": (401, lambda p, a, s, c: (own(p), {}, [], {})),
        "garbage-bearer": (401, lambda p, a, s, c: (own(p), {}, [("Authorization", "Bearer garbage")], {})),
        "garbage-query-token": (401, lambda p, a, s, c: (own(p), {"token": "garbage.garbage.garbage"}, [], {})),
        "unknown-api-key": (401, lambda p, a, s, c: (own(p), {}, [("X-API-Key", "flv7_" + "x" * 40)], {})),
        "expired-jwt": (401, lambda p, a, s, c: (own(p), {}, [
            ("Authorization", "Bearer " + forged(p[0], s, exp=int(time.time()) - 3600))], {})),
        "wrong-key-jwt": (401, lambda p, a, s, c: (own(p), {}, [
            ("Authorization", "Bearer " + jwt_sign(jwt_parts(p[0].access)[1], "k" * 40))], {})),
        "garbage-subprotocol": (401, lambda p, a, s, c: (own(p), {}, [
            ("Sec-WebSocket-Protocol", "bearer, garbage")], {})),
        "another-users-id": (403, lambda p, a, s, c: (p[1].id, {}, [("Authorization", "Bearer " + p[0].access)], {})),
        "admin-unknown-user": (404, lambda p, a, s, c: (str(uuid.uuid4()), {}, [("Authorization", "Bearer " + a)], {})),
        "id-not-a-uuid": (400, lambda p, a, s, c: ("not-a-uuid", {}, [("Authorization", "Bearer " + p[0].access)], {})),
        "origin-not-allowed": (403, lambda p, a, s, c: (own(p), {}, [
            ("Authorization", "Bearer " + p[0].access), ("Origin", "http://evil.example")], {})),
        "bad-last-event-id": (400, lambda p, a, s, c: (own(p), {"last_event_id": "abc"}, [
            ("Authorization", "Bearer " + p[0].access)], {})),
        "negative-last-event-id": (400, lambda p, a, s, c: (own(p), {"last_event_id": "-1"}, [
            ("Authorization", "Bearer " + p[0].access)], {})),
        "no-upgrade-header": (426, lambda p, a, s, c: (own(p), {}, [
            ("Authorization", "Bearer " + p[0].access)], {"upgrade": False})),
        "version-8": (426, lambda p, a, s, c: (own(p), {}, [
            ("Authorization", "Bearer " + p[0].access), ("Sec-WebSocket-Version", "8")], {})),
        "no-key": (400, lambda p, a, s, c: (own(p), {}, [
            ("Authorization", "Bearer " + p[0].access), ("Sec-WebSocket-Key", None)], {})),
        "key-of-8-bytes": (400, lambda p, a, s, c: (own(p), {}, [
            ("Authorization", "Bearer " + p[0].access), ("Sec-WebSocket-Key", "AAAAAAAAAAA=")], {})),
        "key-not-base64": (400, lambda p, a, s, c: (own(p), {}, [
            ("Authorization", "Bearer " + p[0].access), ("Sec-WebSocket-Key", "!!!!not~base64!!!!!!!==")], {})),
    }


REFUSALS = _refusals()


@pytest.mark.parametrize("topic", ["workflows", "notifications"])
@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals_are_plain_http_before_upgrade(wsopen, pair, boss, secret, client, topic, case):
    """Each refusal is an HTTP error with flov7's error body and no upgrade: 401 (no, bad,
    expired credentials), 403 (someone else's id, an Origin not allowed), 404 (an admin naming
    nobody), 400 (id not a uuid, bad last_event_id, missing or bad key), 426 (no upgrade, a
    version other than 13)."""
    status, build = REFUSALS[case]
    uid, qs, headers, kw = build(pair, boss, secret, client)
    ws, resp = wsopen(ws_path(topic, uid, **qs), headers=headers, **kw)
    refused(resp, status)
    if case == "no-upgrade-header":
        assert (resp.header("Upgrade") or "").lower() == "websocket", resp
    if case == "version-8":
        assert resp.header("Sec-WebSocket-Version") == "13", resp


def test_api_key_scope_decides_the_topic(wsopen, client, user):
    """A key limited to workflows:read opens the workflows socket, not the notifications one."""
    key = api_key(client, user.access, permissions=["workflows:read"])
    ws, resp = wsopen(ws_path("workflows", user.id), headers=[("X-API-Key", key)])
    assert resp.status == 101, resp
    ws, resp = wsopen(ws_path("notifications", user.id), headers=[("X-API-Key", key)])
    refused(resp, 403)


def test_refused_handshake_leaves_http_usable(wsopen, pair):
    """After a 401 refusal the connection is still HTTP (or closed): never a WebSocket."""
    ws, resp = wsopen(ws_path("notifications", pair[0].id))
    refused(resp, 401)
    if ws.try_send(b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"):
        try:
            r = ws._read_http()
            assert r.status == 200, r
        except Closed:
            pass  # closed after the refusal: also fine


# --------------------------------------------------------------------------- messages

def test_ping_pong_and_invalid_json(wsopen, pair):
    """{"type":"ping"} -> {"type":"pong","timestamp"}; a text that is not JSON -> an error
    message, and the socket stays usable."""
    u = pair[0]
    ws, _ = connect(wsopen, "workflows", u.id, u.access)
    pong = pong_after(ws)
    assert set(pong) == {"type", "timestamp"} and isinstance(pong["timestamp"], str), pong
    for bad in ("not json", "{\"type\":", ""):
        assert ws.send_text(bad)
        err = ws.messages_until(lambda m: m.get("type") in ("error", "pong"), timeout=WAIT)[-1]
        assert err["type"] == "error" and err["message"] == "Invalid JSON format", (bad, err)
        assert isinstance(err["timestamp"], str), err
    assert pong_after(ws)["type"] == "pong"


def test_notification_event_exact_shape(wsopen, client, user, q, q1):
    """A notification sent to oneself arrives as the database's event_message for it."""
    ws, hello = connect(wsopen, "notifications", user.id, user.access)
    n = notify(client, user.access, "hello ws", message="body", data={"k": [1, 2]},
               notification_type="warning")
    got = ws.messages_until(lambda m: m.get("notification_id") == n["id"], poke=lambda: publish(q1))
    msg = got[-1]
    assert set(msg) == NOTIFICATION_KEYS, msg
    assert msg["type"] == "notification" and msg["event"] == "notification.created", msg
    assert (msg["title"], msg["message"], msg["data"], msg["notification_type"]) == \
        ("hello ws", "body", {"k": [1, 2]}, "warning"), msg
    assert msg["event_id"] > hello["event_id"], (hello, msg)
    assert msg == db_message(q1, msg["event_id"])
    assert q1("SELECT user_id::text FROM flov7.events WHERE pos = %s", (msg["event_id"],)) == user.id
    # read it: notification_read
    expect(client.put(API + "/users/notifications/%s/read" % n["id"], token=user.access), 200)
    got = ws.messages_until(lambda m: m.get("type") == "notification_read", poke=lambda: publish(q1))
    rd = got[-1]
    assert rd["notification_id"] == n["id"] and rd["event"] == "notification.read", rd
    assert rd == db_message(q1, rd["event_id"]) and rd["event_id"] > msg["event_id"], (msg, rd)


def test_execution_events_on_workflows_socket(wsopen, client, user, q, q1):
    """Executing a workflow: execution.created, execution.started, step.completed,
    execution.completed, as workflow_status messages, in order, each the database's message."""
    ws, _ = connect(wsopen, "workflows", user.id, user.access)
    wf, ex = make_execution(client, user.access)
    got = ws.messages_until(lambda m: m.get("execution_id") == ex and m.get("event") == "execution.completed",
                            poke=poker(q, q1))
    mine = [m for m in got if m.get("execution_id") == ex]
    assert [m["event"] for m in mine] == ["execution.created", "execution.started", "step.completed",
                                          "execution.completed"], got
    assert all(m["execution_id"] == ex and m["workflow_id"] == wf for m in got), got
    for m in mine:
        assert set(m) == WORKFLOW_KEYS and m["type"] == "workflow_status", m
        assert m == db_message(q1, m["event_id"])
    assert [m["status"] for m in mine] == ["pending", "running", "step_completed", "completed"], mine
    assert_increasing(got)


def test_workflow_status_notify_reaches_both_sockets(wsopen, client, user, q, q1):
    """POST notify/workflow-status: a workflow_status message on the workflows socket and the
    stored notification on the notifications socket."""
    wf, ex = make_execution(client, user.access)
    wsw, _ = connect(wsopen, "workflows", user.id, user.access)
    wsn, _ = connect(wsopen, "notifications", user.id, user.access)
    body = {"execution_id": ex, "status": "deploying", "message": "half way", "data": {"pct": 50}}
    r = expect(client.post(RT + "/notify/workflow-status", token=user.access, json_body=body), 200)
    got = wsw.messages_until(lambda m: m.get("event") == "workflow.status", poke=poker(q, q1))
    m = got[-1]
    assert set(m) == WORKFLOW_KEYS, m
    assert (m["type"], m["workflow_id"], m["execution_id"], m["status"], m["message"], m["data"]) == \
        ("workflow_status", wf, ex, "deploying", "half way", {"pct": 50}), m
    assert m == db_message(q1, m["event_id"])
    got = wsn.messages_until(lambda x: x.get("notification_id") == r["notification"]["id"], poke=poker(q, q1))
    assert got[-1]["notification_type"] == "workflow_status", got
    assert all(x.get("type") != "workflow_status" for x in got), "workflow message on notifications: %r" % got


def test_announcement_reaches_every_notifications_socket_only(wsopen, client, admin, make_user, q, q1):
    """A system announcement reaches two users' notifications sockets, not a workflows socket."""
    a, b = make_user(), make_user()
    wa, _ = connect(wsopen, "notifications", a.id, a.access)
    wb, _ = connect(wsopen, "notifications", b.id, b.access)
    ww, _ = connect(wsopen, "workflows", a.id, a.access)
    title = "ann-" + uuid.uuid4().hex[:8]
    expect(client.post(RT + "/broadcast/system-announcement", token=admin.access,
                       json_body={"title": title, "message": "m", "announcement_type": "maintenance"}), 200)
    seen = []
    for w in (wa, wb):
        m = w.messages_until(lambda x: x.get("title") == title, poke=lambda: publish(q1))[-1]
        assert set(m) == ANNOUNCEMENT_KEYS, m
        assert (m["type"], m["event"], m["announcement_type"], m["message"]) == \
            ("system_announcement", "system.announcement", "maintenance", "m"), m
        assert m == db_message(q1, m["event_id"])
        seen.append(m["event_id"])
    assert seen[0] == seen[1]
    # the workflows socket: its next message is a's own workflow event, no announcement before it
    wf, ex = make_execution(client, a.access)
    got = ww.messages_until(lambda x: x.get("execution_id") == ex, poke=poker(q, q1))
    assert all(x.get("type") == "workflow_status" for x in got), got


def test_users_never_see_each_other_admin_watches(wsopen, client, make_user, admin, q, q1):
    """b's notification never reaches a's socket; an admin watching a's id gets a's events."""
    a, b = make_user(), make_user()
    wa, _ = connect(wsopen, "notifications", a.id, a.access)
    wadm, _ = connect(wsopen, "notifications", a.id, admin.access)
    wadm_wf, _ = connect(wsopen, "workflows", a.id, admin.access)
    nb = notify(client, b.access, "for b only")
    na = notify(client, a.access, "for a")
    for w in (wa, wadm):
        got = w.messages_until(lambda m: m.get("notification_id") == na["id"], poke=lambda: publish(q1))
        ids = [m.get("notification_id") for m in got if m.get("type") == "notification"]
        assert ids == [na["id"]] and nb["id"] not in ids, got
        assert_increasing(got)
    wf, ex = make_execution(client, a.access)
    got = wadm_wf.messages_until(lambda m: m.get("execution_id") == ex, poke=poker(q, q1))
    assert got[-1]["event"] == "execution.created", got


def test_admin_own_and_users_sockets_differ(wsopen, client, admin, user, q1):
    """An admin's own notifications socket does not carry the user's notifications."""
    wadm, _ = connect(wsopen, "notifications", admin.id, admin.access)
    wu, _ = connect(wsopen, "notifications", user.id, user.access)
    nu = notify(client, user.access, "user's")
    wu.messages_until(lambda m: m.get("notification_id") == nu["id"], poke=lambda: publish(q1))
    na = notify(client, admin.access, "admin's")
    got = wadm.messages_until(lambda m: m.get("notification_id") == na["id"], poke=lambda: publish(q1))
    assert nu["id"] not in [m.get("notification_id") for m in got], got


# --------------------------------------------------------------------------- replay

def read_to_sentinel(ws, sentinel_pred, q1):
    got = ws.messages_until(sentinel_pred, timeout=WAIT, poke=lambda: publish(q1))
    return events_of(got)


def test_replay_after_disconnect(wsopen, client, admin, make_user, q, q1):
    """Events produced while disconnected are replayed after ?last_event_id=N, exactly the ones
    the socket may see (own topic; announcements on notifications), in order, then live ones."""
    u, other = make_user(), make_user()
    ws, hello = connect(wsopen, "notifications", u.id, u.access)
    ws.send_close(1000)
    n0 = hello["event_id"]
    ws.close()
    for i in range(3):
        notify(client, u.access, "offline %d" % i)
    notify(client, other.access, "not for u")
    wf, ex = make_execution(client, u.access)
    expect(client.post(RT + "/notify/workflow-status", token=u.access,
                       json_body={"execution_id": ex, "status": "offline"}), 200)
    expect(client.post(RT + "/broadcast/system-announcement", token=admin.access,
                       json_body={"title": "offline-ann"}), 200)
    publish(q1)
    for topic in ("notifications", "workflows"):
        ws, hello = connect(wsopen, topic, u.id, u.access, last_event_id=n0)
        if topic == "notifications":
            sentinel = notify(client, u.access, "live")["id"]
            msgs = read_to_sentinel(ws, lambda m: m.get("notification_id") == sentinel, q1)
        else:
            expect(client.post(RT + "/notify/workflow-status", token=u.access,
                               json_body={"execution_id": ex, "status": "live"}), 200)
            msgs = read_to_sentinel(ws, lambda m: m.get("status") == "live", q1)
        ids = assert_increasing(msgs)
        want = db_positions(q, n0, ids[-1], u.id, topic)
        assert ids == want, "%s replay: got %r, database says %r" % (topic, ids, want)
        for m in msgs:
            assert m == db_message(q1, m["event_id"]), m
        kinds = {m["type"] for m in msgs}
        if topic == "notifications":
            assert kinds == {"notification", "system_announcement"}, kinds
            assert len([m for m in msgs if m["type"] == "notification"]) == 5, msgs  # 3 + workflow-status + live
        else:
            assert kinds == {"workflow_status"}, kinds


def concurrent_notifications(client, token, n, started):
    """A thread sending n notifications; `started` is set after the fifth."""
    errors = []

    def run():
        try:
            for i in range(n):
                notify(client, token, "flood %d" % i)
                if i == 4:
                    started.set()
        except Exception as e:  # reported by the test
            errors.append(e)
            started.set()
    t = threading.Thread(target=run)
    t.start()
    return t, errors


def test_replay_while_events_are_produced(wsopen, client, user, q, q1):
    """A client connecting with last_event_id while notifications keep coming gets every event
    after N once, in order: no gap and no duplicate at the replay/live boundary."""
    n0 = publish(q1)
    notify(client, user.access, "before")
    started = threading.Event()
    t, errors = concurrent_notifications(client, user.access, 40, started)
    assert started.wait(WAIT)
    ws, _ = connect(wsopen, "notifications", user.id, user.access, last_event_id=n0)
    t.join(60)
    assert not errors, errors
    sentinel = notify(client, user.access, "sentinel")["id"]
    msgs = read_to_sentinel(ws, lambda m: m.get("notification_id") == sentinel, q1)
    ids = [m["event_id"] for m in msgs]
    want = db_positions(q, n0, ids[-1], user.id, "notifications")
    assert ids == want, "got %r\nwant %r" % (ids, want)
    assert len([m for m in msgs if m["type"] == "notification"]) == 42, msgs


def test_resume_message_replays(wsopen, client, user, q, q1):
    """First client message {"type":"resume","last_event_id":N}: the same replay as the query."""
    n0 = publish(q1)
    for i in range(3):
        notify(client, user.access, "missed %d" % i)
    publish(q1)
    ws, hello = connect(wsopen, "notifications", user.id, user.access)
    assert hello["event_id"] >= n0
    assert ws.send_json({"type": "resume", "last_event_id": n0})
    sentinel = notify(client, user.access, "after resume")["id"]
    msgs = read_to_sentinel(ws, lambda m: m.get("notification_id") == sentinel, q1)
    ids = [m["event_id"] for m in msgs]
    want = db_positions(q, n0, ids[-1], user.id, "notifications")
    assert ids == want, "got %r\nwant %r" % (ids, want)
    assert [m["title"] for m in msgs if m["type"] == "notification"] == \
        ["missed 0", "missed 1", "missed 2", "after resume"], msgs


def test_replay_from_the_future_is_from_now(wsopen, client, user, q1):
    """last_event_id beyond the newest position: no replay; the next event arrives."""
    head = publish(q1)
    ws, hello = connect(wsopen, "notifications", user.id, user.access, last_event_id=head + 10 ** 9)
    n = notify(client, user.access, "next")
    got = ws.messages_until(lambda m: m.get("notification_id") == n["id"], poke=lambda: publish(q1))
    assert [m["type"] for m in got] == ["notification"], got


# --------------------------------------------------------------------------- framing (RFC 6455)

@pytest.fixture
def sock(wsopen, pair):
    """An upgraded notifications socket of a shared user, past its connection message."""
    u = pair[0]
    ws, _ = connect(wsopen, "notifications", u.id, u.access)
    return ws


def test_unmasked_client_frame_is_1002(sock):
    sock.send_frame(OP_TEXT, b'{"type":"ping"}', mask=False)
    assert_closed_with(sock, 1002, "unmasked frame")


@pytest.mark.parametrize("rsv", [4, 2, 1, 7], ids=["rsv1", "rsv2", "rsv3", "all"])
def test_rsv_bits_are_1002(sock, rsv):
    sock.send_frame(OP_TEXT, b'{"type":"ping"}', rsv=rsv)
    assert_closed_with(sock, 1002, "rsv %d" % rsv)


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcodes_are_1002(sock, opcode):
    sock.send_frame(opcode, b"x")
    assert_closed_with(sock, 1002, "opcode %#x" % opcode)


def test_reserved_opcode_inside_fragmented_message_is_1002(sock):
    sock.send_frame(OP_TEXT, b'{"type":', fin=False)
    sock.send_frame(0x3, b"x")
    assert_closed_with(sock, 1002)


def test_fragmented_ping_is_1002(sock):
    sock.send_frame(OP_PING, b"ab", fin=False)
    sock.send_frame(OP_CONT, b"cd")
    assert_closed_with(sock, 1002, "fragmented ping")


@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG, OP_CLOSE])
def test_control_payload_over_125_is_1002(sock, opcode):
    payload = b"x" * 126 if opcode != OP_CLOSE else struct.pack("!H", 1000) + b"r" * 124
    sock.send_frame(opcode, payload)
    assert_closed_with(sock, 1002, "control frame %#x of 126 bytes" % opcode)


@pytest.mark.parametrize("fin", [True, False])
def test_continuation_with_nothing_to_continue_is_1002(sock, fin):
    sock.send_frame(OP_CONT, b'{"type":"ping"}', fin=fin)
    assert_closed_with(sock, 1002, "lone continuation")


def test_new_message_inside_fragmented_message_is_1002(sock):
    sock.send_frame(OP_TEXT, b'{"type":', fin=False)
    sock.send_frame(OP_TEXT, b'"ping"}')
    assert_closed_with(sock, 1002, "text frame where a continuation was due")


def test_fragmented_text_is_reassembled(sock):
    msg = b'{"type":"ping"}'
    for i in range(len(msg)):
        sock.send_frame(OP_TEXT if i == 0 else OP_CONT, msg[i:i + 1], fin=i == len(msg) - 1)
    got = sock.messages_until(lambda m: m.get("type") in ("pong", "error"), timeout=WAIT)
    assert got[-1]["type"] == "pong", got


def test_fragments_with_empty_ones_and_a_ping_between(sock):
    """Empty fragments count; a control frame may come between fragments and is answered."""
    sock.send_frame(OP_TEXT, b"", fin=False)
    sock.send_frame(OP_CONT, b'{"type":', fin=False)
    sock.send_frame(OP_PING, b"between")
    sock.send_frame(OP_CONT, b"", fin=False)
    sock.send_frame(OP_CONT, b'"ping"}')
    f = sock.recv_frame(WAIT)
    while f.opcode == OP_TEXT and b'"pong"' not in f.payload:
        f = sock.recv_frame(WAIT)
    assert f.opcode == OP_PONG and f.payload == b"between", "expected the pong first: %r" % sock.frames
    got = sock.messages_until(lambda m: m.get("type") in ("pong", "error"), timeout=WAIT)
    assert got[-1]["type"] == "pong", got


def test_code_point_split_across_fragments_is_fine(sock):
    msg = '{"type":"ping","note":"é€😀"}'.encode("utf-8")
    cut1 = msg.index("€".encode()) + 1        # inside the euro sign
    cut2 = msg.index("😀".encode()) + 2       # inside the emoji
    sock.send_frame(OP_TEXT, msg[:cut1], fin=False)
    sock.send_frame(OP_CONT, msg[cut1:cut2], fin=False)
    sock.send_frame(OP_CONT, msg[cut2:])
    got = sock.messages_until(lambda m: m.get("type") in ("pong", "error"), timeout=WAIT)
    assert got[-1]["type"] == "pong", got


@pytest.mark.parametrize("payload", [
    b'{"type":"ping","x":"\xff"}',
    b'{"type":"ping","x":"\xc0\xaf"}',            # overlong
    b'{"type":"ping","x":"\xed\xa0\x80"}',        # a surrogate
    b'{"type":"ping","x":"\xf4\x90\x80\x80"}',    # above U+10FFFF
    b'{"type":"ping","x":"\xe2\x82"}',            # truncated
], ids=["ff", "overlong", "surrogate", "too-high", "truncated"])
def test_invalid_utf8_text_is_1007(sock, payload):
    sock.send_frame(OP_TEXT, payload)
    assert_closed_with(sock, 1007, "invalid UTF-8 %r" % payload)


def test_invalid_utf8_split_across_fragments_is_1007(sock):
    sock.send_frame(OP_TEXT, b'{"type":"ping","x":"\xe2', fin=False)
    sock.send_frame(OP_CONT, b'\x28\xa1"}')
    assert_closed_with(sock, 1007, "invalid continuation byte in the next fragment")


def test_code_point_cut_at_message_end_is_1007(sock):
    sock.send_frame(OP_TEXT, b'"\xe2\x82', fin=False)
    sock.send_frame(OP_CONT, b"")
    assert_closed_with(sock, 1007, "message ends inside a code point")


@pytest.mark.parametrize("payload", [b"", b"\x00\xffhello", b"p" * 125], ids=["empty", "binary", "125"])
def test_client_ping_gets_pong_with_same_payload(sock, payload):
    sock.send_frame(OP_PING, payload)
    f = sock.recv_frame(WAIT)
    while f.opcode == OP_TEXT:   # an event may come first
        f = sock.recv_frame(WAIT)
    assert f.opcode == OP_PONG and f.payload == payload and not f.masked, f
    assert pong_after(sock)


def test_unsolicited_pong_is_ignored(sock):
    sock.send_frame(OP_PONG, b"unasked")
    assert pong_after(sock)


def test_binary_message_ignored_or_1003(sock, wsopen, pair):
    """A binary message (the contract speaks JSON text only): the socket goes on (a ping still
    gets its pong) or is closed with 1003 (unsupported data); either way the server lives on."""
    sock.send_frame(OP_BINARY, b"\x00\x01")
    sock.send_json({"type": "ping"})
    op, payload = sock.recv_message(WAIT)
    while op == OP_TEXT and json.loads(payload).get("type") != "pong":
        op, payload = sock.recv_message(WAIT)
    if op == OP_CLOSE:
        assert payload[:2] == struct.pack("!H", 1003), "closed with %r" % payload
        assert sock.wait_eof(WAIT)
    else:
        assert op == OP_TEXT, (op, payload)
    assert connect(wsopen, "notifications", pair[0].id, pair[0].access)


def test_client_close_1000_answered_and_tcp_closed(sock):
    sock.send_close(1000, "bye")
    f = sock.recv_frame(WAIT)
    while f.opcode != OP_CLOSE:
        f = sock.recv_frame(WAIT)
    assert f.close_code == 1000, f
    assert sock.wait_eof(WAIT), "TCP open after the close handshake"


def test_nothing_after_close_is_read(sock):
    """Data after the client's close frame is ignored: the answer is the close, no pong."""
    sock.try_send(encode_frame(OP_CLOSE, close_payload(1000)) + encode_frame(OP_TEXT, b'{"type":"ping"}'))
    f = sock.recv_frame(WAIT)
    while f.opcode == OP_TEXT and b'"pong"' not in f.payload:
        f = sock.recv_frame(WAIT)
    assert f.opcode == OP_CLOSE and f.close_code == 1000, sock.frames
    assert sock.wait_eof(WAIT)


def test_empty_close_is_answered_and_tcp_closed(sock):
    """A close frame with no payload (no status): the server answers with a close frame (empty
    or 1000) and closes TCP."""
    sock.send_frame(OP_CLOSE, b"")
    code, tcp_closed = sock.wait_close(WAIT, reply=False)
    assert sock.close_frame is not None and code in (None, 1000), (code, sock.frames[-3:])
    assert tcp_closed


@pytest.mark.parametrize("code", [1001, 1003, 1011, 3000, 4999])
def test_valid_close_code_is_answered_and_tcp_closed(sock, code):
    sock.send_close(code, "fine")
    got, tcp_closed = sock.wait_close(WAIT, reply=False)
    assert sock.close_frame is not None, "no close frame answered close %d: %r" % (code, sock.frames[-3:])
    assert got not in (1002, 1007), "close %d refused with %r" % (code, got)
    assert tcp_closed


def test_close_with_one_byte_payload_is_1002(sock):
    sock.send_frame(OP_CLOSE, b"\x03")
    assert_closed_with(sock, 1002, "close payload of 1 byte")


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
def test_invalid_close_code_is_1002(sock, code):
    sock.send_close(code)
    assert_closed_with(sock, 1002, "close code %d" % code)


@pytest.mark.parametrize("size", [0, 125, 126, 127, 128, 65535, 65536])
def test_length_encodings(sock, size):
    """7-bit, 16-bit and 64-bit payload lengths, up to exactly the limit: a text message of
    that size is read whole (a JSON ping padded to size gets its pong; size 0 is not JSON)."""
    if size == 0:
        assert sock.send_text(b"")
        got = sock.messages_until(lambda m: m.get("type") in ("pong", "error"), timeout=WAIT)
        assert got[-1]["type"] == "error", got
        return
    head = '{"type":"ping","p":"'
    msg = head + "x" * max(size - len(head) - 2, 0) + '"}'
    if size < len(head) + 2:
        msg = '{"type":"ping"}' + " " * (size - 15)
    assert len(msg) == size
    assert sock.send_text(msg)
    got = sock.messages_until(lambda m: m.get("type") in ("pong", "error"), timeout=WAIT)
    assert got[-1]["type"] == "pong", got


def test_ten_pings_ten_pongs_in_order(sock):
    for i in range(10):
        sock.send_frame(OP_PING, b"ping-%d" % i)
    pongs = []
    while len(pongs) < 10:
        f = sock.recv_frame(WAIT)
        if f.opcode == OP_PONG:
            pongs.append(f.payload)
    assert pongs == [b"ping-%d" % i for i in range(10)], pongs


def test_message_at_most_the_limit_is_read(sock):
    pad = MAX_MESSAGE - 1024
    msg = '{"type":"ping","pad":"%s"}' % ("x" * pad)
    assert sock.send_text(msg)
    got = sock.messages_until(lambda m: m.get("type") in ("pong", "error"), timeout=WAIT)
    assert got[-1]["type"] == "pong", got


def test_message_over_the_limit_is_1009(sock):
    msg = '{"type":"ping","pad":"%s"}' % ("x" * MAX_MESSAGE)
    sock.send_text(msg)
    assert_closed_with(sock, 1009, "single frame over %d bytes" % MAX_MESSAGE)


def test_fragmented_message_over_the_limit_is_1009(sock):
    piece = b"x" * 8192
    sock.send_frame(OP_TEXT, b'{"type":"ping","pad":"' + piece, fin=False)
    for _ in range(MAX_MESSAGE // len(piece) + 1):
        if not sock.send_frame(OP_CONT, piece, fin=False):
            break
    sock.send_frame(OP_CONT, b'"}')
    assert_closed_with(sock, 1009, "fragments adding up to more than %d bytes" % MAX_MESSAGE)


def test_huge_announced_length_is_1009(sock):
    """A header announcing 2^40 bytes: closed at once, nothing buffered."""
    sock.try_send(encode_frame(OP_TEXT, b"", length=1 << 40)[:10] + b"\x01\x02\x03\x04" + b"x" * 100)
    assert_closed_with(sock, 1009, "announced 2^40 bytes")
